"""The store's schema: Alembic revisions that match store.py, concurrent boots on an empty database (SQLite,
PostgreSQL, MariaDB; real processes), the upgrade of a 0.1.0 database with its data, WECOM_AUTO_UPGRADE=False,
``flask wecom db …`` and an application's own Alembic running our branch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Iterator, List

import legacy_store_0_1_0 as legacy
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from flask_wecom import WeCom, schema
from flask_wecom.errors import SchemaError
from flask_wecom.secretbox import SecretBox
from flask_wecom.store import Store, metadata

KEY = "schema-test-store-key-0123456789abcdef"
BACKENDS = ["sqlite", "postgresql", "mysql"]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=BACKENDS)
def empty_db(request, tmp_path) -> Iterator[str]:
    """The URL of an empty database of this test's own, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wecom.sqlite3'}"
    elif request.param == "postgresql":
        yield request.getfixturevalue("fresh_postgres_url")
    else:
        yield request.getfixturevalue("fresh_mysql_url")


def _engine(url: str) -> sa.engine.Engine:
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def _diff_against_store(url: str) -> list:
    """Alembic's autogenerate diff between the database and store.metadata (only flask-wecom's tables)."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": schema.include_object,
                                                             "compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set:
    engine = _engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


# -- the revisions ------------------------------------------------------------------------------


def test_revisions_are_one_linear_branch_ending_at_head() -> None:
    scripts = ScriptDirectory.from_config(schema.alembic_config())
    assert scripts.get_heads() == [schema.HEAD]
    assert [s.revision for s in reversed(list(scripts.walk_revisions()))] == list(schema.REVISIONS)
    assert scripts.get_revision("wecom_0001").branch_labels == {schema.BRANCH}


def test_head_matches_store_metadata(empty_db: str) -> None:
    """A fresh database upgraded to head has exactly store.py's tables: autogenerate finds nothing to do."""
    engine = _engine(empty_db)
    assert schema.upgrade(engine) == "empty"
    engine.dispose()
    assert _diff_against_store(empty_db) == []
    hub_tables = {"wecom_hub_key", "wecom_hub_code", "wecom_hub_token"}  # wecom_0003, the OIDC hub
    assert _tables(empty_db) == set(schema.TABLES_0_1_0) | hub_tables | {schema.VERSION_TABLE}
    assert "alembic_version" not in _tables(empty_db)  # the application's own version table is never touched
    store = Store(empty_db, SecretBox(KEY))
    try:  # ids keep their case on every backend (a binary collation on MariaDB)
        store.save_corp("wwAbC", permanent_code="one")
        store.save_corp("wwabc", permanent_code="two")
        assert (store.get_permanent_code("wwAbC"), store.get_permanent_code("wwabc")) == ("one", "two")
    finally:
        store.dispose()


def test_revision_0001_is_exactly_the_0_1_0_tables(empty_db: str) -> None:
    engine = _engine(empty_db)
    try:
        assert schema.upgrade(engine, "wecom_0001") == "empty"
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": schema.include_object,
                                                             "compare_type": True})
            assert compare_metadata(context, legacy.metadata) == []
            assert compare_metadata(context, metadata) != []  # what wecom_0002 adds
    finally:
        engine.dispose()


def test_at_head_the_check_is_one_query(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    schema.upgrade(_engine(url))
    store = Store(url, SecretBox(KEY))
    statements: List[str] = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *args: statements.append(statement))
    assert store.ensure_schema() is None
    assert len(statements) == 1 and "wecom_alembic_version" in statements[0]


# -- concurrent boot -----------------------------------------------------------------------------

BOOT_SCRIPT = textwrap.dedent('''
    import json, logging, os, sys, time
    from flask_wecom.secretbox import SecretBox
    from flask_wecom.store import Store

    url, folder, i = sys.argv[1], sys.argv[2], int(sys.argv[3])
    upgrades = []

    class Spy(logging.Handler):
        def emit(self, record):
            upgrades.append(record.getMessage())

    logging.getLogger("flask_wecom.schema").addHandler(Spy())
    logging.getLogger("flask_wecom.schema").setLevel(logging.INFO)
    store = Store(url, SecretBox(sys.argv[4]))
    open(os.path.join(folder, f"ready-{i}"), "w").close()
    go = os.path.join(folder, "go")
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.001)
    # every process's first operation is a different one of the store's writes, all at once
    kind = i % 4
    if kind == 0:
        store.save_suite_ticket(f"dk{i}", f"ticket-{i}")
        assert store.get_suite_ticket(f"dk{i}")[0] == f"ticket-{i}"
    elif kind == 1:
        code_id, created = store.record_auth_code("dk1", "create_auth", f"auth-code-{i}")
        assert created and store.get_auth_code(code_id).status == "pending"
    elif kind == 2:
        store.save_corp(f"wwCorp{i}", permanent_code=f"permanent-{i}", corp_name=f"corp {i}")
        assert store.get_permanent_code(f"wwCorp{i}") == f"permanent-{i}"
    else:
        assert store.first_seen(f"sig{i}", f"nonce{i}")
    print(json.dumps({"upgrades": upgrades}))
''')


def _boot_concurrently(url: str, folder: Path, n: int = 8) -> List[dict]:
    folder.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", BOOT_SCRIPT, url, str(folder), str(i), KEY],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i in range(n)]
    try:
        deadline = time.monotonic() + 90
        while len(list(folder.glob("ready-*"))) < n:  # all imported and holding a Store: start together
            assert time.monotonic() < deadline, "boot processes did not get ready"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
            time.sleep(0.01)
        (folder / "go").touch()
        results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for _, err, code in results:
        assert code == 0 and "Traceback" not in err, f"a booting process failed:\n{err}"
    return [json.loads(out.strip().splitlines()[-1]) for out, _, _ in results]


def test_concurrent_boot_on_an_empty_database(empty_db: str, tmp_path: Path) -> None:
    """8 processes, each with its own Store, do their first operation at the same moment: no error, one upgrade."""
    reports = _boot_concurrently(empty_db, tmp_path / "boot")
    upgraded = [r for r in reports if r["upgrades"]]
    assert len(upgraded) == 1, reports  # one process created the tables; the others found them under the lock
    assert f"from empty to {schema.HEAD}" in upgraded[0]["upgrades"][0]

    store = Store(empty_db, SecretBox(KEY))
    try:
        assert schema.current_status(store.engine).up_to_date
        assert {c.corp_id for c in store.list_corps()} == {"wwCorp2", "wwCorp6"}
        assert store.get_suite_ticket("dk4")[0] == "ticket-4"
        assert len(store.recent_auth_codes()) == 2
        assert not store.first_seen("sig3", "nonce3") and not store.first_seen("sig7", "nonce7")
    finally:
        store.dispose()
    assert _diff_against_store(empty_db) == []


# -- the schema lock -----------------------------------------------------------------------------


def test_the_schema_lock_holds_other_processes_back(empty_db: str) -> None:
    """While one connection holds the lock, another upgrade waits (and times out here); released, it runs."""
    holder = _engine(empty_db)
    other = _engine(empty_db)
    try:
        with holder.connect() as conn:
            with schema.schema_lock(conn):
                started = time.monotonic()
                with pytest.raises(SchemaError, match="flask wecom db upgrade"):
                    schema.upgrade(other, timeout=1)
                assert time.monotonic() - started >= 0.9
                assert schema.current_status(other).current is None
        assert schema.upgrade(other, timeout=5) == "empty"
    finally:
        holder.dispose()
        other.dispose()


def test_a_waiting_process_finds_the_work_done(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    holder = _engine(url)
    result: dict = {}
    with holder.connect() as conn:
        with schema.schema_lock(conn):
            waiter = threading.Thread(target=lambda: result.update(before=schema.upgrade(_engine(url))))
            waiter.start()
            time.sleep(0.3)
            assert waiter.is_alive()  # blocked on the lock
            command.upgrade(schema.alembic_config(connection=conn), "head")  # "another process" upgrades
            conn.commit()
        waiter.join(10)
    assert result == {"before": None}


# -- from 0.1.0 ----------------------------------------------------------------------------------


def _fill_0_1_0(url: str) -> dict:
    """A database as 0.1.0 left it: its tables (create_all, no version table) and rows written by its code."""
    old = legacy.Store(url, SecretBox(KEY), clock=lambda: time.time() - 30)
    try:
        old.save_suite_ticket("dkSuite", "the-suite-ticket")
        done_id, _ = old.record_auth_code("dkSuite", "create_auth", "auth-code-done", state="s1")
        assert old.claim_auth_code(done_id) == "auth-code-done"
        old.finish_auth_code(done_id, corp_id="wwAbC")
        pending_id, _ = old.record_auth_code("dkSuite", "reset_permanent_code", "auth-code-pending")
        old.save_corp("wwAbC", permanent_code="permanent-AbC", suite_id="dkSuite", corp_name="甲公司",
                      agent_id=1000002, auth_info={"agent": [{"agentid": 1000002}]})
        old.save_corp("wwabc", permanent_code="permanent-abc", suite_id="dkSuite", corp_name="乙公司")
        old.save_corp("wwGone", permanent_code="permanent-gone", suite_id="dkSuite")
        old.revoke_corp("wwGone")
        assert old.first_delivery("signature-1", "nonce-1")
    finally:
        old.dispose()
    assert _tables(url) == set(schema.TABLES_0_1_0)
    return {"done": done_id, "pending": pending_id}


def _assert_0_1_0_data_intact(store: Store, ids: dict) -> None:
    assert store.get_suite_ticket("dkSuite")[0] == "the-suite-ticket"
    assert store.get_permanent_code("wwAbC") == "permanent-AbC"
    assert store.get_permanent_code("wwabc") == "permanent-abc"  # case-sensitive ids stay two corps
    corp = store.get_corp("wwAbC")
    assert (corp.corp_name, corp.agent_id, corp.auth_info) == ("甲公司", "1000002", {"agent": [{"agentid": 1000002}]})
    assert store.get_corp("wwGone").status == "revoked" and not store.get_corp("wwGone").has_secret
    assert store.get_auth_code(ids["done"]).status == "done"
    assert store.get_auth_code(ids["done"]).corp_id == "wwAbC"
    pending = [r.id for r in store.pending_auth_codes()]
    assert ids["pending"] in pending and ids["done"] not in pending
    assert store.claim_auth_code(ids["pending"]) == "auth-code-pending"  # still sealed with the same key
    assert not store.first_seen("signature-1", "nonce-1")  # 0.1.0's first_delivery mark survived
    # and the new code writes to the upgraded tables
    store.save_corp("wwNew", permanent_code="permanent-new")
    assert store.get_permanent_code("wwNew") == "permanent-new"


def test_upgrade_from_0_1_0_keeps_the_data(empty_db: str) -> None:
    ids = _fill_0_1_0(empty_db)
    status = schema.current_status(_engine(empty_db))
    assert status.current is None and set(status.unversioned_tables) == set(schema.TABLES_0_1_0)
    # the comparison with store.py sees what 0.1.0 lacks (so its "no difference" after an upgrade means something)
    diff = _diff_against_store(empty_db)
    # wecom_0004: on MySQL/MariaDB the 0.1.0 FLOAT time columns become DOUBLE (Alembic lists a type change as a
    # list of one modify_type); nowhere else does a type change
    retyped = sorted((d[0][2], d[0][3]) for d in diff if isinstance(d, list))
    diff = [d for d in diff if not isinstance(d, list)]
    if empty_db.startswith("mysql"):
        assert retyped == [("wecom_auth_code", "finished_at"), ("wecom_auth_code", "received_at"),
                           ("wecom_corp", "auth_time"), ("wecom_corp", "updated_at"),
                           ("wecom_delivery", "received_at"), ("wecom_suite_ticket", "received_at")]
    else:
        assert retyped == []
    columns = [(d[0], d[2], d[3].name) for d in diff if d[0] == "add_column"]
    assert columns == [("add_column", "wecom_auth_code", "lease_until")]
    # wecom_0003: the OIDC hub's tables
    assert sorted(d[1].name for d in diff if d[0] == "add_table") == ["wecom_hub_code", "wecom_hub_key",
                                                                      "wecom_hub_token"]
    assert all(d[0] in ("add_column", "add_table", "add_index") for d in diff), diff

    store = Store(empty_db, SecretBox(KEY))  # WECOM_AUTO_UPGRADE's default: the first use upgrades
    try:
        assert store.ensure_schema() == "0.1.0"
        assert schema.current_status(store.engine).current == schema.HEAD
        columns = {c["name"] for c in sa.inspect(store.engine).get_columns("wecom_auth_code")}
        assert "lease_until" in columns
        _assert_0_1_0_data_intact(store, ids)
    finally:
        store.dispose()
    assert _diff_against_store(empty_db) == []


def test_an_upgrade_that_died_half_way_is_completed(empty_db: str) -> None:
    """MySQL/MariaDB cannot roll DDL back: a process killed inside wecom_0001 (or 0.1.0's create_all) leaves some
    tables and no version. The next boot keeps those and creates the rest."""
    engine = _engine(empty_db)
    legacy.metadata.create_all(engine, tables=[legacy.corps, legacy.deliveries])
    with engine.begin() as conn:
        conn.execute(legacy.corps.insert().values(corp_id="wwKept", status="active", updated_at=1.0))
    assert schema.current_status(engine).unversioned_tables == ("wecom_corp", "wecom_delivery")
    engine.dispose()
    store = Store(empty_db, SecretBox(KEY))
    try:
        assert store.get_corp("wwKept").status == "active"
        assert schema.current_status(store.engine).up_to_date
    finally:
        store.dispose()
    assert _diff_against_store(empty_db) == []


def test_concurrent_boot_on_a_0_1_0_database(empty_db: str, tmp_path: Path) -> None:
    url = empty_db
    ids = _fill_0_1_0(url)
    reports = _boot_concurrently(url, tmp_path / "boot")
    upgraded = [r for r in reports if r["upgrades"]]
    assert len(upgraded) == 1 and f"from 0.1.0 to {schema.HEAD}" in upgraded[0]["upgrades"][0]
    store = Store(url, SecretBox(KEY))
    try:
        _assert_0_1_0_data_intact(store, ids)
    finally:
        store.dispose()


# -- times in double precision (wecom_0004) -------------------------------------------------------


def _raw_times(url: str) -> dict:
    """Every epoch-second value of the core tables, read with plain SQL."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return {
                "ticket": conn.execute(sa.text("SELECT received_at FROM wecom_suite_ticket")).scalar_one(),
                "codes": [tuple(r) for r in conn.execute(sa.text(
                    "SELECT received_at, finished_at, lease_until FROM wecom_auth_code ORDER BY id"))],
                "corps": [tuple(r) for r in conn.execute(sa.text(
                    "SELECT auth_time, updated_at FROM wecom_corp ORDER BY corp_id"))],
                "deliveries": list(conn.execute(sa.text("SELECT received_at FROM wecom_delivery")).scalars()),
            }
    finally:
        engine.dispose()


def _assert_times_exact(store: Store, url: str, now: float) -> None:
    """Times written at ``now`` read back within a millisecond, and a 30 s lease holds 29 s, not 31 s."""
    store.save_suite_ticket("dkExact", "ticket", received_at=now)
    assert abs(store.get_suite_ticket("dkExact")[1] - now) < 0.001
    code_id, _ = store.record_auth_code("dkExact", "create_auth", f"auth-code-{now}", received_at=now)
    claim = store.lease_auth_code(code_id, lease=30)
    assert claim is not None and abs(claim.lease_until - (now + 30)) < 0.001
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            received, lease_until = conn.execute(sa.text(
                "SELECT received_at, lease_until FROM wecom_auth_code WHERE id = :id"), {"id": code_id}).one()
    finally:
        engine.dispose()
    assert abs(received - now) < 0.001 and abs(lease_until - (now + 30)) < 0.001
    store._clock = lambda: now + 29  # another worker 29 s later: the lease is alive
    assert store.lease_auth_code(code_id, lease=30) is None
    store._clock = lambda: now + 31  # 31 s later: expired, taken over
    taken = store.lease_auth_code(code_id, lease=30)
    assert taken is not None and taken.taken_over


def test_a_version_table_created_between_the_read_and_the_check_is_read(empty_db: str) -> None:
    """The race behind a failed boot on PostgreSQL: this process's SELECT finds no version table, another
    process's upgrade commits it, and only then does this one look for the table. It reads the rows then,
    instead of raising the first error."""
    engine = sa.create_engine(empty_db)
    other = sa.create_engine(empty_db)
    raced = []

    def commit_the_table_meanwhile(context) -> None:
        if not raced and schema.VERSION_TABLE in str(context.statement):
            raced.append(True)
            with other.begin() as conn:  # the process beside us commits its upgrade now
                conn.execute(sa.text(f"CREATE TABLE {schema.VERSION_TABLE} (version_num VARCHAR(32) NOT NULL)"))
                conn.execute(sa.text(f"INSERT INTO {schema.VERSION_TABLE} VALUES ('{schema.HEAD}')"))

    sa.event.listen(engine, "handle_error", commit_the_table_meanwhile)
    try:
        with engine.connect() as conn:
            status = schema.read_status(conn)
    finally:
        engine.dispose()
        other.dispose()
    assert raced, "the first read did not fail"
    assert status.current == schema.HEAD and status.up_to_date


def test_times_round_trip_within_a_millisecond(empty_db: str) -> None:
    """sa.Float is a 4-byte FLOAT on MySQL/MariaDB (today's epoch to ±64 s): epoch-second columns are DOUBLE there."""
    now = time.time()
    store = Store(empty_db, SecretBox(KEY), clock=lambda: now)
    try:
        _assert_times_exact(store, empty_db, now)
        store._clock = lambda: now
        store.save_corp("wwExact", permanent_code="permanent")
        assert abs(store.get_corp("wwExact").auth_time - now) < 0.001
        assert abs(store.get_corp("wwExact").updated_at - now) < 0.001
        if empty_db.startswith("mysql"):
            types = {c["name"]: str(c["type"]) for c in sa.inspect(store.engine).get_columns("wecom_auth_code")}
            assert {types[n] for n in ("received_at", "finished_at", "lease_until")} == {"DOUBLE"}
    finally:
        store.dispose()


def test_upgrade_from_wecom_0002_keeps_the_data_and_makes_times_exact(empty_db: str) -> None:
    """A 0.1.0 database with its data, upgraded to wecom_0002 (leases) by an earlier release, then to head: every
    row and every stored time is kept (at the precision it had), and from then on times are exact."""
    written = time.time() - 30  # _fill_0_1_0's clock
    ids = _fill_0_1_0(empty_db)
    engine = _engine(empty_db)
    assert schema.upgrade(engine, "wecom_0002") == "0.1.0"
    lease = time.time() + 30
    with engine.begin() as conn:  # a claim written by the wecom_0002 release
        conn.execute(sa.text("UPDATE wecom_auth_code SET lease_until = :lease WHERE id = :id"),
                     {"lease": lease, "id": ids["pending"]})
    engine.dispose()
    before = _raw_times(empty_db)
    assert schema.upgrade(_engine(empty_db)) == "wecom_0002"
    after = _raw_times(empty_db)
    if not empty_db.startswith("mysql"):
        assert after == before  # already double precision: nothing changed
    else:
        # The damage being repaired: MariaDB stores a FLOAT to the nearest 128 s at today's epoch and even sends it
        # rounded to 6 digits (up to ±5000 s off). DOUBLE keeps the stored value: now read within 64 s of the truth.
        assert abs(before["codes"][1][2] - lease) > 64
        assert abs(after["codes"][1][2] - lease) <= 64
        flat = [after["ticket"], *after["deliveries"], *(t for row in after["codes"] + after["corps"] for t in row)]
        assert [t is None for t in flat] == [
            t is None for t in [before["ticket"], *before["deliveries"],
                                *(t for row in before["codes"] + before["corps"] for t in row)]]
        assert all(abs(t - written) <= 64 + 30 for t in flat if t is not None and t != after["codes"][1][2])
    assert _diff_against_store(empty_db) == []
    now = time.time()
    store = Store(empty_db, SecretBox(KEY), clock=lambda: now)
    try:
        assert schema.current_status(store.engine).current == schema.HEAD
        with store.engine.begin() as conn:  # release the old claim so the 0.1.0 checks can claim the code
            conn.execute(sa.text("UPDATE wecom_auth_code SET status = 'pending', lease_until = NULL WHERE id = :id"),
                         {"id": ids["pending"]})
        store._clock = time.time
        _assert_0_1_0_data_intact(store, ids)
        store._clock = lambda: now
        _assert_times_exact(store, empty_db, now)
    finally:
        store.dispose()


# -- WECOM_AUTO_UPGRADE = False ------------------------------------------------------------------


def test_auto_upgrade_off_refuses_an_empty_database_and_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    store = Store(url, SecretBox(KEY), auto_upgrade=False)
    with pytest.raises(SchemaError) as caught:
        store.list_corps()
    message = str(caught.value)
    assert "flask wecom db upgrade" in message and "WECOM_AUTO_UPGRADE" in message
    assert "请运行" in message and "empty" in message
    assert _tables(url) == set()
    schema.upgrade(store.engine)
    assert store.list_corps() == []  # the same Store works once the tables are there


def test_auto_upgrade_off_refuses_a_0_1_0_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    ids = _fill_0_1_0(url)
    store = Store(url, SecretBox(KEY), auto_upgrade=False)
    with pytest.raises(SchemaError, match=r"0\.1\.0 tables"):
        store.get_suite_ticket("dkSuite")
    assert schema.upgrade(store.engine) == "0.1.0"
    _assert_0_1_0_data_intact(store, ids)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    engine = _engine(url)
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE wecom_alembic_version SET version_num = 'wecom_9999'"))
    with pytest.raises(SchemaError, match="newer flask-wecom"):
        Store(url, SecretBox(KEY)).list_corps()
    with pytest.raises(SchemaError, match="wecom_9999"):
        schema.upgrade(engine)


# -- flask wecom db ------------------------------------------------------------------------------


def _app(tmp_path: Path, url: str, **config) -> Flask:
    app = Flask("schema_app", instance_path=str(tmp_path / "instance"))
    app.config.update(SECRET_KEY=KEY, WECOM_CORP_ID="wwCorp", WECOM_SECRET="corp-secret", WECOM_AGENT_ID="1000002",
                      WECOM_DATABASE_URI=url, **config)
    WeCom(app)
    return app


def test_cli_current_and_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    ids = _fill_0_1_0(url)
    app = _app(tmp_path, url, WECOM_AUTO_UPGRADE=False)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["wecom", "db", "current", "--check"])
    assert result.exit_code == 1
    assert "0.1.0 tables" in result.output and "flask wecom db upgrade" in result.output
    assert "off (WECOM_AUTO_UPGRADE=False)" in result.output

    result = runner.invoke(args=["wecom", "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"upgraded 0.1.0 -> {schema.HEAD}" in result.output
    result = runner.invoke(args=["wecom", "db", "upgrade"])
    assert result.exit_code == 0 and "nothing to do" in result.output
    result = runner.invoke(args=["wecom", "db", "current", "--check"])
    assert result.exit_code == 0 and "up to date" in result.output

    _assert_0_1_0_data_intact(WeCom.state(app).store, ids)

    result = runner.invoke(args=["wecom", "db", "history"])
    assert result.exit_code == 0 and "wecom_0001" in result.output and "wecom_0002" in result.output


def test_cli_upgrade_sql_prints_the_ddl_without_touching_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    runner = _app(tmp_path, url, WECOM_AUTO_UPGRADE=False).test_cli_runner()
    result = runner.invoke(args=["wecom", "db", "upgrade", "--sql"])
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE wecom_corp" in result.output
    assert "ALTER TABLE wecom_auth_code ADD COLUMN lease_until" in result.output
    assert "INSERT INTO wecom_alembic_version" in result.output
    assert _tables(url) == set()


def test_auto_upgrade_setting_reaches_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    assert WeCom.state(_app(tmp_path / "a", url)).store.auto_upgrade is True
    assert WeCom.state(_app(tmp_path / "b", url, WECOM_AUTO_UPGRADE="false")).store.auto_upgrade is False


# -- the application's own Alembic runs our branch ------------------------------------------------

APP_ENV = textwrap.dedent('''
    from alembic import context
    import sqlalchemy as sa
    from flask_wecom.schema import skip_wecom_tables

    app_metadata = sa.MetaData()
    sa.Table("app_user", app_metadata, sa.Column("id", sa.Integer, primary_key=True))

    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=app_metadata, include_object=skip_wecom_tables)
    with context.begin_transaction():
        context.run_migrations()
''')

APP_REVISION = textwrap.dedent('''
    import sqlalchemy as sa
    from alembic import op

    revision = "app_0001"
    down_revision = None
    branch_labels = ("app",)
    depends_on = None

    def upgrade():
        op.create_table("app_user", sa.Column("id", sa.Integer, primary_key=True))

    def downgrade():
        op.drop_table("app_user")
''')


def _app_alembic(tmp_path: Path, conn) -> Config:
    """An application's own Alembic setup whose version_locations include flask-wecom's revisions."""
    folder = tmp_path / "app_migrations"
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(APP_ENV)
    (folder / "versions" / "app_0001_users.py").write_text(APP_REVISION)
    config = Config()
    config.set_main_option("script_location", str(folder))
    # what an app writes in alembic.ini: version_locations = %(here)s/versions flask_wecom:migrations/versions
    config.set_main_option("version_locations", f"{folder / 'versions'} flask_wecom:migrations/versions")
    config.set_main_option("path_separator", "space")
    config.attributes["connection"] = conn
    return config


def test_the_apps_own_alembic_can_run_our_branch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    engine = _engine(url)
    with engine.connect() as conn:
        config = _app_alembic(tmp_path, conn)
        command.upgrade(config, "heads")
        conn.commit()
        versions = set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
        assert versions == {"app_0001", schema.HEAD}
        # the app's autogenerate (include_object=skip_wecom_tables) proposes nothing about our tables
        context = MigrationContext.configure(conn, opts={"include_object": schema.skip_wecom_tables})
        assert compare_metadata(context, _app_metadata()) == []
    assert schema.VERSION_TABLE not in _tables(url)
    assert _diff_against_store(url) == []

    # the store finds its revision in alembic_version, with or without auto upgrade, and never adds its own table
    for auto_upgrade in (False, True):
        store = Store(url, SecretBox(KEY), auto_upgrade=auto_upgrade)
        store.save_corp("wwCorp", permanent_code="permanent")
        assert store.get_permanent_code("wwCorp") == "permanent"
        store.dispose()
    assert schema.VERSION_TABLE not in _tables(url)

    # `flask wecom db upgrade` leaves an app-managed schema to the app
    result = _app(tmp_path, url).test_cli_runner().invoke(args=["wecom", "db", "current"])
    assert "recorded in alembic_version" in result.output and "up to date" in result.output


def test_an_app_managed_schema_behind_head_is_refused_not_upgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    engine = _engine(url)
    with engine.connect() as conn:
        command.upgrade(_app_alembic(tmp_path, conn), "wecom_0001")
        conn.commit()
    with pytest.raises(SchemaError, match="application's own Alembic") as caught:
        Store(url, SecretBox(KEY)).list_corps()
    assert "alembic upgrade heads" in str(caught.value) and "alembic_version" in str(caught.value)
    with pytest.raises(SchemaError, match="application's own Alembic"):
        schema.upgrade(engine)
    assert schema.VERSION_TABLE not in _tables(url)


def _app_metadata() -> sa.MetaData:
    app_metadata = sa.MetaData()
    sa.Table("app_user", app_metadata, sa.Column("id", sa.Integer, primary_key=True))
    return app_metadata


@pytest.mark.parametrize("stamp_first", [True, False])
def test_moving_to_the_apps_own_alembic_keeps_tables_flask_wecom_created(tmp_path: Path, stamp_first: bool) -> None:
    """Tables created by flask-wecom itself (wecom_alembic_version), then the app's own Alembic takes over: README's
    `stamp` then `upgrade heads`; an `upgrade heads` without the stamp adopts the existing tables as well."""
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    store = Store(url, SecretBox(KEY))
    store.save_corp("wwCorp", permanent_code="permanent")
    store.dispose()
    engine = _engine(url)
    with engine.connect() as conn:
        config = _app_alembic(tmp_path, conn)
        if stamp_first:
            command.stamp(config, schema.HEAD)
            conn.commit()
        command.upgrade(config, "heads")
        conn.commit()
        versions = set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
        assert versions == {"app_0001", schema.HEAD}
        # the app's history is now the one that moves on: ours stays behind (here: pretend it lags a revision)
        conn.execute(sa.text("UPDATE wecom_alembic_version SET version_num = 'wecom_0001'"))
        conn.commit()
    status = schema.current_status(engine)
    assert (status.current, status.version_table) == (schema.HEAD, "alembic_version")
    store = Store(url, SecretBox(KEY), auto_upgrade=False)
    assert store.get_permanent_code("wwCorp") == "permanent"
    store.dispose()
    assert _diff_against_store(url) == []
