"""The store's fixed statements (the replay mark, the suite_ticket update): compiled once per dialect, run on the
DB-API cursor on SQLite when nothing listens, and otherwise through ``exec_driver_sql`` so that engine events,
``echo`` and error handling stay SQLAlchemy's (see ``flask_wecom.store._execute``)."""
from __future__ import annotations

import logging
import sqlite3

import pytest
import sqlalchemy as sa
from conftest import FrozenClock

from flask_wecom import store as store_module
from flask_wecom.secretbox import SecretBox
from flask_wecom.store import Store, deliveries, unavailable_reason

KEY = "test-secret-key-0123456789"


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def any_store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/wecom.sqlite3"
    elif request.param == "postgres":
        url = request.getfixturevalue("fresh_postgres_url")
    else:
        url = request.getfixturevalue("fresh_mysql_url")
    store = Store(url, SecretBox(KEY), clock=FrozenClock())
    yield store
    store.dispose()


def _delivery(store: Store, signature: str, ticket: str, at: float) -> bool:
    """What a suite_ticket delivery does to the store: the mark and the ticket in one transaction."""
    with store.transaction():
        if not store.first_seen(signature, "nonce"):
            return False
        store.save_suite_ticket("suite", ticket, at, keep_newer=True)
        return True


def test_the_fixed_statements_on_every_dialect(any_store):
    assert _delivery(any_store, "sig-1", "ticket-1", 1000.0)
    assert not _delivery(any_store, "sig-1", "ticket-1", 1000.0), "a replay is marked"
    assert _delivery(any_store, "sig-2", "ticket-2", 2000.0)
    assert any_store.get_suite_ticket("suite") == ("ticket-2", 2000.0)
    # keep_newer: a late replay of an older delivery (from the spool) never replaces the newer ticket
    assert _delivery(any_store, "sig-3", "ticket-older", 1500.0)
    assert any_store.get_suite_ticket("suite") == ("ticket-2", 2000.0)
    with any_store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar() == 3


def test_a_mark_rolls_back_with_its_transaction(any_store):
    with pytest.raises(RuntimeError):
        with any_store.transaction():
            assert any_store.first_seen("sig", "nonce")
            raise RuntimeError("the effect failed")
    assert any_store.first_seen("sig", "nonce"), "the failed delivery stays processable"


@pytest.fixture
def sqlite_store(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/wecom.sqlite3", SecretBox(KEY), clock=FrozenClock())
    store.save_suite_ticket("suite", "ticket-0", 1.0)  # tables created, first ticket stored
    store.first_seen("earlier", "delivery")  # and the first pruning of old marks done (every PRUNE_INTERVAL)
    yield store
    store.dispose()


@pytest.fixture
def sqlalchemy_calls(monkeypatch):
    """Statements that went through SQLAlchemy's Connection.execute / exec_driver_sql."""
    seen: list = []
    execute, driver = sa.engine.Connection.execute, sa.engine.Connection.exec_driver_sql

    def counting_execute(self, statement, *args, **kwargs):
        seen.append(str(statement))
        return execute(self, statement, *args, **kwargs)

    def counting_driver(self, statement, *args, **kwargs):
        seen.append(statement)
        return driver(self, statement, *args, **kwargs)

    monkeypatch.setattr(sa.engine.Connection, "execute", counting_execute)
    monkeypatch.setattr(sa.engine.Connection, "exec_driver_sql", counting_driver)
    return seen


def test_sqlite_runs_them_on_the_cursor_when_nothing_listens(sqlite_store, sqlalchemy_calls):
    assert _delivery(sqlite_store, "sig", "ticket-1", 10.0)
    assert sqlalchemy_calls == [], "the delivery's statements skip SQLAlchemy's per-call work"
    assert sqlite_store.get_suite_ticket("suite") == ("ticket-1", 10.0)
    assert not _delivery(sqlite_store, "sig", "ticket-1", 10.0)


def test_engine_events_see_every_statement(sqlite_store, sqlalchemy_calls):
    """An app's monitoring (before_cursor_execute…) sees the delivery's statements, as with execute()."""
    statements: list = []
    sa.event.listen(sqlite_store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: statements.append(statement))
    assert _delivery(sqlite_store, "sig", "ticket-1", 10.0)
    assert [s.split()[0:3] for s in statements] == [["INSERT", "INTO", "wecom_delivery"],
                                                    ["UPDATE", "wecom_suite_ticket", "SET"]]
    assert len(sqlalchemy_calls) == 2


def test_a_listener_on_the_engine_class_counts_too(sqlite_store):
    statements: list = []

    def listener(conn, cursor, statement, *rest):
        statements.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", listener)
    try:
        assert _delivery(sqlite_store, "sig", "ticket-1", 10.0)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", listener)
    assert any(s.startswith("INSERT INTO wecom_delivery") for s in statements)


@pytest.mark.parametrize("how", ["echo", "logger"])
def test_statement_logging_shows_them(tmp_path, caplog, how):
    options = {"echo": True} if how == "echo" else {}
    store = Store(f"sqlite:///{tmp_path}/wecom.sqlite3", SecretBox(KEY), clock=FrozenClock(), engine_options=options)
    try:
        store.save_suite_ticket("suite", "ticket-0", 1.0)
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
            assert _delivery(store, "sig", "ticket-1", 10.0)
        logged = [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy.engine")]
        assert any(m.startswith("INSERT INTO wecom_delivery") for m in logged), logged
        assert any(m.startswith("UPDATE wecom_suite_ticket") for m in logged), logged
    finally:
        store.dispose()


def test_a_driver_error_on_the_cursor_is_sqlalchemys(sqlite_store):
    """The callback's spool and the 503 pages recognise store failures as SQLAlchemy errors."""
    with sqlite_store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE wecom_delivery")
    with pytest.raises(sa.exc.OperationalError) as caught:
        _delivery(sqlite_store, "sig", "ticket-1", 10.0)
    assert isinstance(caught.value.orig, sqlite3.OperationalError)
    assert unavailable_reason(caught.value) == "OperationalError: no such table: wecom_delivery"
    assert sqlite_store.get_suite_ticket("suite") == ("ticket-0", 1.0), "nothing committed"


def test_a_locked_database_is_an_operational_error(tmp_path):
    path = tmp_path / "wecom.sqlite3"
    store = Store(f"sqlite:///{path}", SecretBox(KEY), clock=FrozenClock(),
                  engine_options={"connect_args": {"check_same_thread": False, "timeout": 0.2}})
    store.save_suite_ticket("suite", "ticket-0", 1.0)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(sa.exc.OperationalError, match="database is locked"):
            _delivery(store, "sig", "ticket-1", 10.0)
        other.execute("ROLLBACK")
        assert _delivery(store, "sig", "ticket-1", 10.0), "the refused delivery is processed on WeCom's retry"
    finally:
        other.close()
        store.dispose()


def test_two_engines_of_one_dialect_with_other_paramstyles_each_get_their_own_sql(tmp_path):
    """The compiled SQL is kept per dialect class and paramstyle: a second engine rendering ``:name`` instead of
    ``?`` (two PostgreSQL drivers differ the same way) never gets the first one's SQL."""
    qmark = Store(f"sqlite:///{tmp_path}/qmark.sqlite3", SecretBox(KEY), clock=FrozenClock())
    named = Store(f"sqlite:///{tmp_path}/named.sqlite3", SecretBox(KEY), clock=FrozenClock(),
                  engine_options={"paramstyle": "named"})
    try:
        assert named.engine.dialect.paramstyle == "named" != qmark.engine.dialect.paramstyle
        for turn, store in enumerate((qmark, named, qmark, named)):
            assert _delivery(store, f"sig-{turn}", f"ticket-{turn}", 10.0 + turn)
            assert store.get_suite_ticket("suite") == (f"ticket-{turn}", 10.0 + turn)
            assert not _delivery(store, f"sig-{turn}", f"ticket-{turn}", 10.0 + turn)
        # sqlite3 takes either style, so look at what each was given: its own rendering
        marks = {prepared.sql for prepared in store_module._DRIVER_SQL.values()
                 if prepared is not None and prepared.sql.startswith("INSERT INTO wecom_delivery")}
        assert {"?" in sql for sql in marks} == {True, False} and any(":key" in sql for sql in marks), marks
    finally:
        qmark.dispose()
        named.dispose()
