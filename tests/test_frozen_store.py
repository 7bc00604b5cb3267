"""A frozen database never hangs a login or a callback (issue 10: "each answers within bounded time").

The database is a PostgreSQL cluster of the test's own (tests/private_postgres.py) that the test freezes with
SIGSTOP — postmaster and every backend — so the kernel still accepts connections and acknowledges what is sent,
and nothing ever answers: neither a connection timeout nor ``statement_timeout`` fires, only flask-wecom's own
limits (flask_wecom/dbguard.py) do. Each case measures the answer's time, checks it (503 for pages, ``success``
and the spool for template events) and that everything works again once the cluster is thawed.
"""
from __future__ import annotations

import os
import time

import pytest
import sqlalchemy as sa
from flask import Flask, jsonify
from freezable_proxy import FreezableProxy
from login_support import login, provision, start_login
from provider_app import app_config

from flask_wecom import WeCom, dbguard, login_required, wecom_user
from flask_wecom.secretbox import SecretBox
from flask_wecom.store import Store
from flask_wecom.testing import FakeWeCom
from flask_wecom.testing.server import serve_app

#: the issue's bound for any answer with the database frozen
BOUND = 15.0


def _no_timeouts_in(url: str) -> str:
    return url.replace("?connect_timeout=2", "")  # the store's own defaults, not the helper's


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_engine_options_add_timeouts_only_where_the_app_set_none() -> None:
    pg = sa.engine.make_url("postgresql+psycopg2://u@h/db")
    options = dbguard.default_engine_options(pg, {})
    assert options["connect_args"] == {"connect_timeout": 2,
                                       "options": "-c statement_timeout=5000 -c lock_timeout=3000"}
    mine = dbguard.default_engine_options(pg, {"pool_size": 3, "connect_args": {"options": "-c search_path=x",
                                                                                 "sslmode": "require"}})
    assert mine == {"pool_size": 3, "connect_args": {"options": "-c search_path=x", "sslmode": "require",
                                                     "connect_timeout": 2}}
    in_url = dbguard.default_engine_options(sa.engine.make_url("postgresql+psycopg2://u@h/db?connect_timeout=9"), {})
    assert "connect_timeout" not in in_url["connect_args"]
    my = dbguard.default_engine_options(sa.engine.make_url("mysql+pymysql://u@h/db"), {"connect_args": {"read_timeout": 60}})
    assert my["connect_args"] == {"read_timeout": 60, "connect_timeout": 2, "write_timeout": 8.0}
    assert dbguard.default_engine_options(sa.engine.make_url("sqlite:///x.db"), {}) == {}


def test_wecom_database_options_reach_the_engine(fake_wecom, tmp_path, pg) -> None:
    """WECOM_DATABASE_OPTIONS (a dict, or JSON from the environment) goes to create_engine; a malformed one is
    refused with the key's name."""
    from flask_wecom.errors import ConfigError

    base = app_config(fake_wecom, tmp_path, "internal")
    app = Flask("options_app", instance_path=str(tmp_path / "a"))
    app.config.update(base, WECOM_DATABASE_URI=_no_timeouts_in(pg.url),
                      WECOM_DATABASE_OPTIONS='{"pool_size": 2, "connect_args": {"connect_timeout": 4}}')
    WeCom(app)
    store = WeCom.state(app).store
    try:
        assert store.engine.pool.size() == 2
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "5s"  # added: not given
            assert conn.execute(sa.text("SHOW lock_timeout")).scalar() == "3s"
            dsn = conn.connection.dbapi_connection.dsn
        assert "connect_timeout=4" in dsn  # the app's value wins
    finally:
        store.dispose()
    bad = Flask("bad_options_app", instance_path=str(tmp_path / "b"))
    bad.config.update(base, WECOM_DATABASE_OPTIONS="pool_size=2")
    with pytest.raises(ConfigError, match="WECOM_DATABASE_OPTIONS"):
        WeCom(bad)


def test_a_statement_on_a_frozen_database_is_cut_after_the_deadline(database) -> None:
    """Inside a transaction (the connection checked out and pinged already) the cluster freezes: the next statement
    gets no answer; the watchdog cuts it after STATEMENT_DEADLINE, the store raises DatabaseTimeout (an
    SQLAlchemyError: a 503 for a page) and the connection is discarded."""
    store = Store(_no_timeouts_in(database.db_url), SecretBox("frozen-store-key-0123456789abcdef"))
    elapsed = None
    try:
        store.save_corp("wwFrozen", permanent_code="permanent")
        with pytest.raises(dbguard.DatabaseTimeout, match="did not answer within"):
            with store.transaction():
                assert store.get_corp("wwFrozen") is not None
                database.freeze()
                started = time.monotonic()
                try:
                    store.get_corp("wwFrozen")
                finally:
                    elapsed = time.monotonic() - started
        print(f"a statement on a frozen database: cut after {elapsed:.2f} s")
        assert dbguard.STATEMENT_DEADLINE - 0.1 <= elapsed < dbguard.STATEMENT_DEADLINE + 2, elapsed
        database.thaw()
        assert store.get_permanent_code("wwFrozen") == "permanent"  # a new connection: works again
    finally:
        database.thaw()
        store.dispose()


@pytest.fixture
def login_app(fake_wecom, tmp_path, database):
    """A 代开发 app on the private PostgreSQL (the store's default timeouts only), authorized, with a page that
    reads the store."""
    app = Flask("frozen_login_app", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config(fake_wecom, tmp_path, "customized"), WECOM_DATABASE_URI=_no_timeouts_in(database.db_url),
                      WECOM_CACHE_TYPE="SimpleCache", WECOM_SWEEP_INTERVAL=0)
    WeCom(app)

    @app.route("/corp")
    @login_required
    def corp():
        return jsonify(corp_name=WeCom.state().store.get_corp(wecom_user.corp_id).corp_name)

    provision(app, fake_wecom)
    yield app
    database.thaw()
    WeCom.state(app).store.dispose()


def test_a_login_with_the_database_frozen_is_a_503_in_bounded_time(login_app, database) -> None:
    """The first answers wait for the bounds (the pool's pre-ping, then a connect timeout); after those two
    failures in a row the store stops asking for WECOM_DATABASE_COOLDOWN s, so the next answers are at once.
    Thawed, the database is asked again after the cool-down and everything works."""
    client = login_app.test_client()
    assert login(client, "?next=/corp").status_code == 302  # the pool holds live connections
    other = login_app.test_client()
    database.freeze()
    times = []
    for _ in range(4):  # a pooled connection (pre-ping cut), a new connection (connect timeout), then none
        answer, elapsed = _timed(lambda: start_login(other, "?next=/corp"))
        body = answer.get_data(as_text=True)
        assert answer.status_code == 503 and 'data-reason="store_unavailable"' in body, body[:500]
        assert "Traceback" not in body and "psycopg2" not in body and "COOLDOWN" not in body
        times.append(elapsed)
    page, elapsed = _timed(lambda: client.get("/corp"))
    assert page.status_code == 503
    times.append(elapsed)
    print("login / page answers with the database frozen (s):", ", ".join(f"{t:.2f}" for t in times))
    assert max(times) < BOUND
    assert times[0] < 1.5  # the first: the pool's pre-ping cut after PING_DEADLINE
    assert times[1] >= dbguard.CONNECT_TIMEOUT - 0.5  # the second waited for a new connection
    assert max(times[2:]) < 0.3, times  # then the breaker answers without asking the database
    assert WeCom.state(login_app).store.breaker.is_open
    database.thaw()
    thawed = time.monotonic()
    deadline = thawed + dbguard.COOLDOWN + 5
    while client.get("/corp").status_code != 200:
        assert time.monotonic() < deadline, "the database is not asked again after the cool-down"
        time.sleep(0.2)
    print(f"answered again {time.monotonic() - thawed:.1f} s after the thaw")
    assert client.get("/corp").get_json() == {"corp_name": "示例科技有限公司"}
    assert login(other, "?next=/corp").status_code == 302
    assert not WeCom.state(login_app).store.breaker.is_open


def test_the_breaker_counts_connection_failures_only(tmp_path) -> None:
    """Two connection failures in a row open it for the cool-down (a message that says why, secret-free); a
    statement the database refused, or any call that reached it, closes it; calls go through after the
    cool-down and one more failure opens it again."""
    now = [100.0]
    breaker = dbguard.Breaker(cooldown=5, clock=lambda: now[0])
    breaker.check()
    breaker.failure("OperationalError: timeout expired")
    breaker.check()  # one failure: still asking
    breaker.failure("OperationalError: timeout expired")
    with pytest.raises(dbguard.DatabaseUnavailable, match=r"failed 2 times in a row \(last: OperationalError: "
                                                         r"timeout expired\); not asked again for 5.0 s"):
        breaker.check()
    assert isinstance(dbguard.DatabaseUnavailable("x"), sa.exc.SQLAlchemyError)  # a 503 / spool like any outage
    now[0] += 5.1
    breaker.check()  # cooled down: the next call asks
    breaker.failure("OperationalError: timeout expired")
    assert breaker.is_open  # and a failure opens it again at once
    breaker.success()
    breaker.check()
    assert not breaker.is_open
    # what counts inside a transaction: a lost connection or a statement without an answer, not a refusal
    refused = sa.exc.IntegrityError("INSERT …", {}, Exception("duplicate key"))
    lost = sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"),
                                   connection_invalidated=True)
    assert not dbguard.lost_connection(refused) and dbguard.lost_connection(lost)
    assert dbguard.lost_connection(dbguard.DatabaseTimeout("no answer"))


def test_an_unreachable_database_is_asked_twice_then_cools_down(tmp_path) -> None:
    """Down (connection refused) rather than frozen: the same breaker, with a real engine. SQLite has none."""
    store = Store("postgresql+psycopg2://nobody@127.0.0.1:9/none", SecretBox("breaker-key-0123456789abcdef"),
                  cooldown=30)
    try:
        for _ in range(2):
            with pytest.raises(sa.exc.OperationalError):
                store.get_corp("wwAny")
        started = time.monotonic()
        with pytest.raises(dbguard.DatabaseUnavailable):
            store.get_corp("wwAny")
        assert time.monotonic() - started < 0.05 and store.breaker.is_open
        with pytest.raises(dbguard.DatabaseUnavailable):
            with store.transaction():
                pass
    finally:
        store.dispose()
    assert Store("postgresql+psycopg2://nobody@127.0.0.1:9/none", SecretBox("k" * 32), cooldown=0).breaker is None
    local = Store(f"sqlite:///{tmp_path}/wecom.sqlite3", SecretBox("k" * 32))
    assert local.breaker is None
    local.dispose()


def test_a_template_event_with_the_database_frozen_is_spooled_and_answered_success(tmp_path, database) -> None:
    """create_auth while the database is frozen: answered `success` (the first within WeCom's 1000 ms), kept in
    the spool, and applied once the database answers again — the permanent code is stored with no human."""
    fake = FakeWeCom()
    with fake.serve():
        app = Flask("frozen_callback_app", instance_path=str(tmp_path / "instance"))
        app.config.update(app_config(fake, tmp_path), WECOM_DATABASE_URI=_no_timeouts_in(database.db_url),
                          WECOM_CACHE_TYPE="SimpleCache", WECOM_SWEEP_INTERVAL=1)
        WeCom(app)
        state = WeCom.state(app)
        handle = serve_app(app)
        try:
            callback = handle.url + "/wecom/callback"
            assert fake.push_suite_ticket(callback).success  # the pool holds a live connection
            database.freeze()
            first = fake.authorize(callback)
            second = fake.push_suite_ticket(callback)  # the pool is empty now: a new connection times out
            print(f"template callbacks with the database frozen: {first.elapsed:.2f} s, {second.elapsed:.2f} s")
            assert first.success and first.in_time, (first.text, first.elapsed)
            assert second.success and second.elapsed < BOUND, (second.text, second.elapsed)
            # both kept (the sweeper may hold one claimed while it waits for the database)
            assert len([n for n in os.listdir(state.spool.directory) if ".spool" in n]) == 2
            database.thaw()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    corp = state.store.get_corp(fake.corp.auth_corp_id)
                except sa.exc.SQLAlchemyError:
                    corp = None
                if corp is not None and corp.active and len(state.spool) == 0:
                    break
                time.sleep(0.2)
            assert state.store.get_permanent_code(fake.corp.auth_corp_id) == fake.corp.permanent_code
            assert len(state.spool) == 0
        finally:
            database.thaw()
            handle.close()
            state.wait_background(10)
            state.store.dispose()


# -- MySQL/MariaDB: the machine's MariaDB behind a proxy that freezes ------------------------------------


@pytest.fixture
def frozen_mysql(fresh_mysql_url):
    """(proxy, URL through it) for a throwaway MariaDB database; ``proxy.freeze()`` makes it a frozen server."""
    url = sa.engine.make_url(fresh_mysql_url)
    proxy = FreezableProxy(url.host or "127.0.0.1", url.port or 3306)
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.close()


def test_a_frozen_mysql_answers_errors_in_bounded_time(frozen_mysql) -> None:
    """PyMySQL with flask-wecom's defaults: the pre-ping of a pooled connection is cut after PING_DEADLINE, a new
    connection gives up after CONNECT_TIMEOUT, a statement inside a transaction after STATEMENT_DEADLINE."""
    proxy, url = frozen_mysql
    store = Store(url, SecretBox("frozen-store-key-0123456789abcdef"), cooldown=0)  # the bounds themselves
    try:
        store.save_corp("wwFrozen", permanent_code="permanent")  # creates the tables; a connection stays pooled
        proxy.freeze()
        with pytest.raises(dbguard.DatabaseTimeout):  # the pooled connection's pre-ping, cut
            store.get_corp("wwFrozen")
        started = time.monotonic()
        with pytest.raises(sa.exc.SQLAlchemyError):  # a new connection: no greeting from the server
            store.get_corp("wwFrozen")
        connect = time.monotonic() - started
        proxy.thaw()
        with pytest.raises(dbguard.DatabaseTimeout, match="did not answer within"):
            with store.transaction():
                assert store.get_permanent_code("wwFrozen") == "permanent"
                proxy.freeze()
                started = time.monotonic()
                try:
                    store.get_corp("wwFrozen")
                finally:
                    statement = time.monotonic() - started
        proxy.thaw()
        assert store.get_permanent_code("wwFrozen") == "permanent"  # back: a new connection works
    finally:
        proxy.thaw()
        store.dispose()
    print(f"frozen MariaDB: statement cut after {statement:.2f} s, new connection refused after {connect:.2f} s")
    assert connect < dbguard.CONNECT_TIMEOUT + 1.5
    assert dbguard.STATEMENT_DEADLINE - 0.1 <= statement < dbguard.STATEMENT_DEADLINE + 2


def test_a_frozen_mysql_pre_ping_is_cut_quickly(frozen_mysql) -> None:
    proxy, url = frozen_mysql
    store = Store(url, SecretBox("frozen-store-key-0123456789abcdef"), cooldown=0)  # the bounds themselves
    try:
        store.save_corp("wwFrozen", permanent_code="permanent")
        proxy.freeze()
        started = time.monotonic()
        with pytest.raises(dbguard.DatabaseTimeout, match="ping"):
            store.get_corp("wwFrozen")
        elapsed = time.monotonic() - started
    finally:
        proxy.thaw()
        store.dispose()
    print(f"frozen MariaDB: pooled connection's pre-ping cut after {elapsed:.2f} s")
    assert elapsed < dbguard.PING_DEADLINE + 1
