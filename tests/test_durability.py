"""No callback event is lost to any single fault (issue 10, items 1 and 7).

Real services only: the database is a PostgreSQL cluster of the test's own on a private port
(tests/private_postgres.py) that the test crashes (``pg_ctl -m immediate``) in the middle of a
delivery and starts again; the killed worker is a real process (tests/durability_worker.py) that gets
SIGKILL while WeCom (the served simulator) is still answering get_permanent_code. Each case checks the
answer WeCom got (``success`` within 1000 ms, doc 90642), that nothing is lost (the permanent code is
stored with no customer action) and that nothing is applied twice.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from provider_app import SECRET_KEY, app_config

from flask_wecom import WeCom
from flask_wecom.crypto import MessageCrypto, signature
from flask_wecom.secretbox import SecretBox
from flask_wecom.spool import Spool
from flask_wecom.store import Store
from flask_wecom.testing.server import serve_app
from flask_wecom.xmlutil import to_xml

HERE = os.path.dirname(os.path.abspath(__file__))
EXCHANGE = "/cgi-bin/service/get_permanent_code"


@pytest.fixture
def serve(fake, tmp_path):
    opened = []

    def start(**config):
        app = Flask("durability_app", instance_path=str(tmp_path / "instance"))
        app.config.update(app_config(fake, tmp_path), **dict({"WECOM_CACHE_TYPE": "SimpleCache",
                                                               "WECOM_SWEEP_INTERVAL": 1}, **config))
        WeCom(app)
        handle = serve_app(app)
        opened.append((handle, app))
        return app, handle.url + "/wecom/callback"

    yield start
    for handle, app in opened:
        handle.close()
        app.extensions["wecom"].wait_background(10)
        app.extensions["wecom"].store.dispose()


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - the store may still be coming back
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def _signed(fake, fields, *, nonce, receive_id=None):
    """(query, body) of one POST signed and encrypted as WeCom does it: a template event (for the suite id), or
    with ``receive_id`` an app message (for the corp id)."""
    suite = fake.suite
    receive_id = receive_id or suite.suite_id
    encrypt = MessageCrypto(suite.token, suite.encoding_aes_key, None).encrypt(to_xml(fields),
                                                                              receive_id=receive_id)
    ts = str(int(time.time()))
    body = to_xml({"ToUserName": receive_id, "Encrypt": encrypt, "AgentID": str(fields.get("AgentID", ""))})
    return {"msg_signature": signature(suite.token, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}, body


def _corp_stored(store, fake):
    corp = store.get_corp(fake.corp.auth_corp_id)
    return corp is not None and corp.active and store.get_permanent_code(corp.corp_id) == fake.corp.permanent_code


@contextlib.contextmanager
def _crash_after(engine, database, statement_start: str):
    """Crash the cluster right after the first statement that starts with ``statement_start`` (upper case) ran:
    its row is written, its transaction not committed. Fails the test if no such statement ran."""
    crashed = []

    def crash(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(statement_start) and not crashed:
            crashed.append(time.monotonic())
            database.crash()

    sa.event.listen(engine, "after_cursor_execute", crash)
    try:
        yield
    finally:
        sa.event.remove(engine, "after_cursor_execute", crash)
    assert crashed, f"the fault was not placed: no {statement_start} ran"


def _spool_text(spool) -> str:
    text = ""
    for root, _, files in os.walk(spool.directory):
        for name in files:
            with open(os.path.join(root, name), encoding="utf-8", errors="replace") as handle:
                text += handle.read()
    return text


# -- the store dies mid-delivery -----------------------------------------------------------------------


def test_database_crashing_inside_the_create_auth_delivery_loses_nothing(serve, fake, database):
    """PostgreSQL dies after the AuthCode row is written but before the delivery commits: WeCom still
    gets `success` in time (no retry is documented for template callbacks, doc 97172), the event waits
    sealed in the spool, and once the database is back the AuthCode is exchanged with no customer action."""
    app, callback = serve(WECOM_DATABASE_URI=database.db_url)
    state = app.extensions["wecom"]
    assert fake.push_suite_ticket(callback).success
    with _crash_after(state.store.engine, database, "INSERT INTO WECOM_AUTH_CODE"):
        result = fake.authorize(callback)
    assert result.success and result.in_time, (result.status_code, result.text, result.elapsed)
    assert len(state.spool) == 1
    assert result.fields["AuthCode"] not in _spool_text(state.spool)  # sealed, not in clear
    assert not fake.calls_to(EXCHANGE)

    database.start()
    assert _wait_for(lambda: _corp_stored(state.store, fake), 15, "the spooled AuthCode exchanged")
    state.wait_background(10)
    assert len(fake.calls_to(EXCHANGE)) == 1
    assert len(state.spool) == 0
    records = state.store.recent_auth_codes()
    assert [r.status for r in records] == ["done"]


def test_database_crashing_inside_an_app_message_delivery_answers_503_and_the_retry_counts_once(serve, fake,
                                                                                                  database):
    """App (数据) callbacks are retried by WeCom (3 times, 5 s apart: doc 96466) and a passive reply can only be
    given now, so they are not spooled: PostgreSQL dies after the replay mark is written but before the delivery
    commits, WeCom gets 503 and no handler has run; once the database is back, the retry is processed once."""
    app, callback = serve(WECOM_DATABASE_URI=database.db_url)
    state = app.extensions["wecom"]
    assert fake.push_suite_ticket(callback).success
    assert fake.authorize(callback).success
    assert _wait_for(lambda: _corp_stored(state.store, fake), 15, "the corp authorized")
    seen = []
    state.ext.on("change_contact")(lambda event: seen.append(event.get("UserID")))
    fields = {"ToUserName": fake.corp.auth_corp_id, "FromUserName": "sys", "CreateTime": int(time.time()),
              "MsgType": "event", "Event": "change_contact", "ChangeType": "update_user", "UserID": "zhangsan",
              "AgentID": fake.corp.agent_id}
    params, body = _signed(fake, fields, nonce="app-message-1", receive_id=fake.corp.auth_corp_id)
    with _crash_after(state.store.engine, database, "INSERT INTO WECOM_DELIVERY"):
        first = requests.post(callback + "/data", params=params, data=body.encode(), timeout=30)
    assert first.status_code == 503 and seen == [], (first.status_code, first.text)
    assert len(state.spool) == 0

    database.start()
    retry = _wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
        requests.post(callback + "/data", params=params, data=body.encode(), timeout=30)), 20, "the retry processed")
    assert retry.status_code == 200 and seen == ["zhangsan"]
    again = requests.post(callback + "/data", params=params, data=body.encode(), timeout=30)
    assert again.status_code == 200 and seen == ["zhangsan"], "WeCom's next retry is not processed again"


def test_database_crashing_while_wecom_answers_the_exchange_keeps_the_permanent_code(serve, fake, database):
    """The AuthCode is spent at WeCom while the database is down: the answer (the permanent code) is kept
    sealed in the spool and stored once the database is back; the code ends `done`, never `failed`."""
    app, callback = serve(WECOM_DATABASE_URI=database.db_url)
    state = app.extensions["wecom"]
    assert fake.push_suite_ticket(callback).success
    fake.slow(EXCHANGE, 1.5)
    result = fake.authorize(callback)
    assert result.success and result.in_time
    _wait_for(lambda: fake.calls_to(EXCHANGE), 5, "the exchange started")
    database.crash()  # while WeCom is still answering
    assert state.wait_background(10)
    assert len(state.spool) == 1
    assert fake.corp.permanent_code not in _spool_text(state.spool)

    database.start()
    assert _wait_for(lambda: _corp_stored(state.store, fake), 15, "the spooled permanent code stored")
    assert len(fake.calls_to(EXCHANGE)) == 1  # the AuthCode was spent once
    _wait_for(lambda: len(state.spool) == 0, 5, "the spool emptied")
    assert [r.status for r in state.store.recent_auth_codes()] == ["done"]


def test_database_down_before_deliveries_replays_each_event_once(serve, fake, database):
    """Down before the deliveries: a ticket, a create_auth and an exact replay of it are all answered
    `success` and spooled; back up, each is applied once (one AuthCode, one exchange)."""
    app, callback = serve(WECOM_DATABASE_URI=database.db_url)
    state = app.extensions["wecom"]
    database.stop()
    started = time.monotonic()
    ticket = fake.push_suite_ticket(callback)
    auth = fake.authorize(callback)
    assert ticket.success and ticket.in_time and auth.success and auth.in_time
    assert time.monotonic() - started < 3
    # WeCom sending the very same create_auth again (same nonce and signature): spooled again
    with fake.model.lock:
        _, code = fake.model.create_authorization(None, "")
    fields = {"SuiteId": fake.suite.suite_id, "AuthCode": code, "InfoType": "create_auth",
              "TimeStamp": int(time.time()), "State": ""}
    params, body = _signed(fake, fields, nonce="77")
    twice = [requests.post(callback, params=params, data=body.encode(), timeout=10) for _ in range(2)]
    assert [r.text for r in twice] == ["success", "success"]
    assert len(state.spool) == 4

    database.start()
    assert _wait_for(lambda: _corp_stored(state.store, fake), 15, "the spooled events applied")
    _wait_for(lambda: len(state.spool) == 0, 10, "the spool emptied")
    state.wait_background(10)
    records = state.store.recent_auth_codes()
    assert len(records) == 2  # the first authorization's code and the repeated one, once each
    # the second create_auth replaced the first authorization at WeCom: its code exchanges, the first fails
    assert sorted(r.status for r in records) == ["done", "failed"]
    assert len(fake.calls_to(EXCHANGE)) == 2
    assert state.store.get_suite_ticket(fake.suite.suite_id)[0] == fake.suite.ticket


# -- a worker killed mid-exchange ----------------------------------------------------------------------


def _start_worker(config: dict) -> tuple:
    process = subprocess.Popen([sys.executable, os.path.join(HERE, "durability_worker.py"), json.dumps(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("http://"), f"the worker did not start: {line!r}"
    except BaseException:  # a worker that did not start (or a timeout while waiting) is not left running
        process.kill()
        process.wait(5)
        raise
    return process, line


def test_a_worker_killed_mid_exchange_is_taken_over_within_a_minute(fake, tmp_path):
    """The worker holding the AuthCode's claim gets SIGKILL while get_permanent_code is in flight; a new
    worker takes the code over when the claim's lease runs out and stores the permanent code — no human,
    no `flask wecom exchange`, well within 60 s (the AuthCode lives 10 minutes)."""
    config = app_config(fake, tmp_path)
    config.update(WECOM_CACHE_TYPE="SimpleCache", WECOM_EXCHANGE_LEASE=2, WECOM_SWEEP_INTERVAL=1,
                  INSTANCE_PATH=str(tmp_path / "instance"))
    first, url = _start_worker(config)
    second = None
    try:
        assert fake.push_suite_ticket(url + "/wecom/callback").success
        fake.slow(EXCHANGE, 8)  # WeCom still holds the request when the worker dies
        assert fake.authorize(url + "/wecom/callback").success
        _wait_for(lambda: fake.calls_to(EXCHANGE), 5, "the exchange started")
        first.send_signal(signal.SIGKILL)
        first.wait(5)
        killed = time.monotonic()
        store = Store(config["WECOM_DATABASE_URI"], SecretBox(SECRET_KEY))
        assert [r.status for r in store.recent_auth_codes()] == ["exchanging"]

        # the new worker starts its sweeper at boot (WeCom.start_recovery, as deploy/wsgi.py does): no
        # request reaches it, and the code is taken over all the same
        second, _ = _start_worker(dict(config, START_RECOVERY=True))
        assert _wait_for(lambda: _corp_stored(store, fake), 60, "the AuthCode taken over")
        took = time.monotonic() - killed
        assert took < 60
        assert [r.status for r in store.recent_auth_codes()] == ["done"]
        assert len(fake.calls_to(EXCHANGE)) == 2  # the dead worker's request and the takeover
        store.dispose()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(5)


def test_the_default_settings_take_a_crashed_workers_code_over_within_a_minute():
    """The test above runs with a 2 s lease and a 1 s sweep; with the defaults the same path takes at most
    the lease (its last renewal was before the crash) plus one sweep interval plus the exchange itself."""
    from flask_wecom.config import DEFAULTS
    from flask_wecom.store import LEASE_SECONDS

    lease, interval = DEFAULTS["WECOM_EXCHANGE_LEASE"], DEFAULTS["WECOM_SWEEP_INTERVAL"]
    assert 0 < lease <= 30 and LEASE_SECONDS <= 30  # "≤ 30 s without progress"
    assert interval > 0  # the sweep is on by default
    assert lease + interval + 10 <= 60  # 10 s left for get_permanent_code (usually well under a second)


def test_a_live_exchange_keeps_its_lease(serve, fake):
    """get_permanent_code slower than the lease: the exchanging worker renews its claim, so the sweep
    never takes the code over and WeCom is asked once."""
    app, callback = serve(WECOM_EXCHANGE_LEASE=2)
    state = app.extensions["wecom"]
    assert fake.push_suite_ticket(callback).success
    fake.slow(EXCHANGE, 5)  # 2.5 leases, swept every second
    assert fake.authorize(callback).success
    assert state.wait_background(15)
    time.sleep(1.5)  # a few more sweeps
    assert _corp_stored(state.store, fake)
    assert len(fake.calls_to(EXCHANGE)) == 1
    assert [r.status for r in state.store.recent_auth_codes()] == ["done"]


def test_a_takeover_answered_40078_after_the_code_was_stored_stays_done(serve, fake):
    """A code taken over after it was in fact exchanged: the first worker lost its lease (e.g. it could not
    reach the database to renew it) but had spent the code; the takeover's get_permanent_code answers 40078
    while the first worker stores the permanent code. The code ends `done`, never `failed`, and no
    `auth_code_failed` signal is sent."""
    from flask_wecom import signals
    from flask_wecom.callback import exchange_and_notify
    from flask_wecom.store import auth_codes

    app, callback = serve(WECOM_SWEEP_INTERVAL=0)
    state = app.extensions["wecom"]
    assert fake.push_suite_ticket(callback).success
    with fake.model.lock:
        _, code = fake.model.create_authorization(None, "")
    code_id, _ = state.store.record_auth_code(fake.suite.suite_id, "create_auth", code)
    failed, outcome = [], []
    with app.app_context(), signals.auth_code_failed.connected_to(lambda sender, **kw: failed.append(kw),
                                                                  sender=app):
        first = state.store.lease_auth_code(code_id, lease=1)  # the first worker claims it…
        answer = state.client.get_permanent_code(state.provider.suite_token(), first.auth_code)  # …spends it…
        with state.store.engine.begin() as conn:  # …and its lease runs out before it stores the answer
            conn.execute(auth_codes.update().values(lease_until=time.time() - 1))
        fake.slow(EXCHANGE, 1)  # the takeover's request is in flight while the first worker stores
        takeover = threading.Thread(target=lambda: outcome.append(
            exchange_and_notify(state, app, code_id, "create_auth", take_over=True)))
        takeover.start()
        _wait_for(lambda: len(fake.calls_to(EXCHANGE)) == 2, 5, "the takeover asked WeCom")
        assert state.provider.store_exchange_result(code_id, answer, info_type="create_auth", recorded_at=None)
        takeover.join(10)
    assert outcome == [None] and not failed
    assert fake.calls_to(EXCHANGE)[-1].errcode == 40078  # WeCom refused the spent code
    assert state.store.get_auth_code(code_id).status == "done"
    assert _corp_stored(state.store, fake)


# -- the spool itself ------------------------------------------------------------------------------------


def test_spool_entries_are_atomic_sealed_and_claimed_by_one_worker(tmp_path):
    box = SecretBox("k" * 32)
    spool = Spool(str(tmp_path / "spool"), box)
    name = spool.put("event", {"plaintext": "<xml>AUTHCODE-SECRET</xml>"})
    files = os.listdir(spool.directory)
    assert files == [name + ".spool"]  # no temporary file left behind
    assert "AUTHCODE-SECRET" not in (tmp_path / "spool" / files[0]).read_text()
    assert oct(os.stat(spool.directory).st_mode & 0o777) == "0o700"
    with spool.claim(name) as entry:
        assert entry.payload == {"plaintext": "<xml>AUTHCODE-SECRET</xml>"}
        with spool.claim(name) as other:  # a second worker at the same time
            assert other is None
        assert not spool.has_entries()
    assert spool.names() == [] and os.listdir(spool.directory) == []
    # a failure releases it for the next attempt
    name = spool.put("event", {"plaintext": "x"})
    with pytest.raises(RuntimeError):
        with spool.claim(name):
            raise RuntimeError("the store is still down")
    assert spool.names() == [name]
    # a claim whose process died is released by the next sweep
    os.rename(os.path.join(spool.directory, name + ".spool"),
              os.path.join(spool.directory, name + ".spool.claimed-999999999-abcd"))
    assert spool.names() == [] and spool.release_stale_claims() == 1 and spool.names() == [name]
    # another key cannot open it: set aside for a human, never deleted
    with Spool(spool.directory, SecretBox("other-key-0123456789")).claim(name) as entry:
        assert entry is None
    assert os.listdir(os.path.join(spool.directory, "failed")) == [name + ".spool"]


# -- item 7: cheap, safe defaults for one host -------------------------------------------------------------


def test_sqlite_store_runs_in_wal_mode_with_synchronous_normal(tmp_path):
    store = Store("sqlite:///" + str(tmp_path / "w.sqlite3"), SecretBox("k" * 32))
    store.save_suite_ticket("dkS", "T")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    store.dispose()
    memory = Store("sqlite://", SecretBox("k" * 32))
    with memory.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "memory"
    memory.dispose()


def test_replay_marks_are_pruned_now_and_then_not_per_delivery(tmp_path):
    from flask_wecom.store import PRUNE_INTERVAL, deliveries

    now = [1_000_000.0]
    store = Store("sqlite:///" + str(tmp_path / "p.sqlite3"), SecretBox("k" * 32), clock=lambda: now[0])
    deletes = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *a: deletes.append(statement)
                    if statement.startswith("DELETE FROM wecom_delivery") else None)
    for i in range(50):
        assert store.first_seen("sig", f"n{i}")
        now[0] += 1
    assert len(deletes) == 1  # the first delivery of the process, then not for PRUNE_INTERVAL
    now[0] += 3600 + PRUNE_INTERVAL
    assert store.first_seen("sig", "late")
    assert len(deletes) == 2
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar() == 1
    store.dispose()


def test_replay_mark_and_effect_commit_together(tmp_path):
    """A failure after the mark inside the delivery's transaction leaves nothing marked."""
    store = Store("sqlite:///" + str(tmp_path / "t.sqlite3"), SecretBox("k" * 32))
    with pytest.raises(RuntimeError):
        with store.transaction():
            assert store.first_seen("sig", "n1")
            store.record_auth_code("dkS", "create_auth", "A" * 64)
            raise RuntimeError("the database died here")
    assert store.recent_auth_codes() == []
    with store.transaction():
        assert store.first_seen("sig", "n1")  # still processable
        store.record_auth_code("dkS", "create_auth", "A" * 64)
    assert not store.first_seen("sig", "n1")
    assert len(store.recent_auth_codes()) == 1
    store.dispose()


def test_auth_code_leases_expire_renew_and_done_wins(tmp_path):
    """The lease rules at the store: one claimer; an expired claim (or a 0.1.0 claim without a lease) is
    taken over; renewing keeps it; `done` is final and overrides `failed`."""
    from flask_wecom.store import auth_codes

    now = [1_000_000.0]
    store = Store("sqlite:///" + str(tmp_path / "l.sqlite3"), SecretBox("k" * 32), clock=lambda: now[0])
    code_id, _ = store.record_auth_code("dkS", "create_auth", "C" * 64)
    first = store.lease_auth_code(code_id, lease=30)
    assert first.auth_code == "C" * 64 and not first.taken_over and not first.maybe_spent
    assert store.lease_auth_code(code_id, lease=30) is None  # held
    now[0] += 25
    assert store.renew_auth_code(code_id, lease=30)
    now[0] += 25  # 50 s after the claim, 25 s after the renewal: still held
    assert store.lease_auth_code(code_id, lease=30) is None
    assert store.pending_auth_codes(expired=True, lease=30) == []
    now[0] += 10  # the holder died: no renewal for 35 s
    assert [r.id for r in store.pending_auth_codes(expired=True, lease=30)] == [code_id]
    assert store.lease_auth_code(code_id, lease=30, take_over=False) is None  # the ordinary claim does not take over
    second = store.lease_auth_code(code_id, lease=30)
    assert second.taken_over and second.maybe_spent
    assert store.lease_auth_code(code_id, lease=30) is None  # one taker only
    store.finish_auth_code(code_id, corp_id="wwC")
    store.finish_auth_code(code_id, error="[40078] invalid auth_code")  # a late failure of the other attempt
    assert store.get_auth_code(code_id).status == "done"
    # a claim made by 0.1.0 (no lease column value) counts from when the code was recorded
    old_id, _ = store.record_auth_code("dkS", "create_auth", "D" * 64)
    with store.engine.begin() as conn:
        conn.execute(auth_codes.update().where(auth_codes.c.id == old_id).values(status="exchanging"))
    assert store.lease_auth_code(old_id, lease=30) is None
    now[0] += 31
    assert store.lease_auth_code(old_id, lease=30).taken_over
    store.finish_auth_code(old_id, error="[40078] invalid auth_code")
    store.finish_auth_code(old_id, corp_id="wwD")  # the answer stored later (from the spool) wins
    assert store.get_auth_code(old_id).status == "done"
    store.dispose()


def test_a_late_replay_never_replaces_newer_state(tmp_path):
    """Spooled events are applied late: an older ticket keeps the newer one; a cancel_auth older than the
    corp's latest authorization is stale."""
    store = Store("sqlite:///" + str(tmp_path / "r.sqlite3"), SecretBox("k" * 32))
    store.save_suite_ticket("dkS", "NEW", received_at=2000, keep_newer=True)
    store.save_suite_ticket("dkS", "OLD", received_at=1000, keep_newer=True)  # replayed from the spool
    assert store.get_suite_ticket("dkS") == ("NEW", 2000)
    code_id, _ = store.record_auth_code("dkS", "create_auth", "E" * 64, received_at=3000)
    store.lease_auth_code(code_id)
    store.save_corp("wwC", permanent_code="P", suite_id="dkS")
    store.finish_auth_code(code_id, corp_id="wwC")
    store.revoke_corp("wwC", at=2500)  # a cancel spooled before this authorization
    assert store.get_corp("wwC").active
    store.revoke_corp("wwC", at=3500)  # a cancel after it
    assert store.get_corp("wwC").status == "revoked"
    store.dispose()


def test_the_sweep_takes_over_by_the_apps_clock(fake, tmp_path, clock):
    """WeCom(app, clock=...): the sweep judges a claim's age by the app's clock, as the store records it."""
    from flask_wecom.recovery import sweep

    app = Flask("sweep_clock_app", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config(fake, tmp_path), WECOM_CACHE_TYPE="SimpleCache", WECOM_SWEEP_INTERVAL=0)
    WeCom(app, clock=clock)
    state = app.extensions["wecom"]
    assert fake.push_suite_ticket("http://localhost/wecom/callback", client=app.test_client()).success
    with fake.model.lock:
        _, code = fake.model.create_authorization(None, "")
    code_id, _ = state.store.record_auth_code(fake.suite.suite_id, "create_auth", code)
    assert state.store.lease_auth_code(code_id, lease=state.provider.lease)  # ...and the worker died
    with app.app_context():
        assert sweep(state)["exchanged"] == 0  # its lease is alive
        clock.advance(state.provider.lease + 1)
        assert sweep(state)["exchanged"] == 1
    assert state.store.get_auth_code(code_id).status == "done" and _corp_stored(state.store, fake)
    state.store.dispose()


def test_an_exchange_entry_applied_before_is_not_applied_or_signalled_again(serve, fake):
    """A worker that stored a spooled exchange answer and died before deleting the entry: the next replay finds
    the AuthCode done and only deletes the entry (no second corp_authorized)."""
    from flask_wecom import signals
    from flask_wecom.recovery import replay_spool

    app, callback = serve(WECOM_SWEEP_INTERVAL=0)
    state = app.extensions["wecom"]
    assert fake.push_suite_ticket(callback).success
    with fake.model.lock:
        _, code = fake.model.create_authorization(None, "")
    code_id, _ = state.store.record_auth_code(fake.suite.suite_id, "create_auth", code)
    answer = state.client.get_permanent_code(state.provider.suite_token(), code)
    payload = {"code_id": code_id, "info_type": "create_auth", "recorded_at": None, "data": answer}
    assert state.provider.store_exchange_result(code_id, answer, info_type="create_auth", recorded_at=None)
    state.spool.put("exchange", payload)  # applied, but the entry is still there
    authorized = []
    with app.app_context(), signals.corp_authorized.connected_to(lambda sender, **kw: authorized.append(kw),
                                                                 sender=app):
        replay_spool(state)
    assert authorized == [] and len(state.spool) == 0 and not state.spool.failed_names()
    assert state.store.get_auth_code(code_id).status == "done" and _corp_stored(state.store, fake)
