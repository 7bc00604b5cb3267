"""The durable store's schema: versioned by Alembic, created or upgraded by one process at a time.

Framework-free. The revisions live in ``flask_wecom/migrations/versions`` (``wecom_0001`` = the tables of
0.1.0, ``wecom_0002`` = AuthCode leases, ``wecom_0003`` = the OIDC hub's tables, ``wecom_0004`` = times in
double precision on MySQL …) and their version is recorded in their own table, ``wecom_alembic_version``, so
an application's own Alembic / Flask-Migrate (``alembic_version``) is never touched. :func:`ensure_schema` runs
once per process on the store's first use:

- the common case, a database already at :data:`HEAD`, costs one ``SELECT`` and no lock;
- otherwise the upgrade runs under a database-wide lock (PostgreSQL ``pg_advisory_lock``, MySQL/MariaDB
  ``GET_LOCK``, SQLite a file lock beside the database), and every process that waited re-reads the version
  and finds the work done. So any number of workers and hosts may boot at once on an empty database;
- a 0.1.0 database (tables, no version) is adopted: revision ``wecom_0001`` keeps tables that exist;
- with ``auto_upgrade=False`` (``WECOM_AUTO_UPGRADE = False``) nothing is changed: an out-of-date schema raises
  :class:`~flask_wecom.errors.SchemaError` naming the command to run.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, List, Optional, Tuple

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

from .dbguard import unlimited
from .errors import SchemaError

log = logging.getLogger("flask_wecom.schema")

#: flask-wecom's own Alembic version table
VERSION_TABLE = "wecom_alembic_version"
#: Alembic's default version table: where an application that runs our revisions itself records them
APP_VERSION_TABLE = "alembic_version"
#: every revision, oldest first; the last is the schema this code needs (a test checks it against versions/)
REVISIONS: Tuple[str, ...] = ("wecom_0001", "wecom_0002", "wecom_0003", "wecom_0004")
HEAD = REVISIONS[-1]
#: the branch label of our revisions inside an application's own Alembic history
BRANCH = "wecom"
#: the tables flask-wecom 0.1.0 created with ``metadata.create_all`` (revision wecom_0001)
TABLES_0_1_0 = ("wecom_suite_ticket", "wecom_auth_code", "wecom_corp", "wecom_delivery")
MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
#: seconds a process waits for another one's upgrade before giving up
LOCK_TIMEOUT = 120.0
UPGRADE_COMMAND = "flask wecom db upgrade"

#: pg_advisory_lock key: a fixed 64-bit number of our own (advisory locks are per database)
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"flask_wecom.schema").digest()[:8], "big", signed=True)


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database stands. ``current`` is our revision recorded there (None: none recorded)."""

    current: Optional[str]
    #: the version table that holds ``current``: VERSION_TABLE, APP_VERSION_TABLE or None
    version_table: Optional[str] = None
    #: flask-wecom tables that exist although no revision is recorded (a 0.1.0 database)
    unversioned_tables: Tuple[str, ...] = ()

    @property
    def up_to_date(self) -> bool:
        return self.current == HEAD

    @property
    def newer(self) -> bool:
        """A revision this flask-wecom does not know: a newer flask-wecom upgraded the database."""
        return self.current is not None and self.current not in REVISIONS

    def describe(self) -> str:
        if self.current is not None:
            where = "" if self.version_table == VERSION_TABLE else f" (recorded in {self.version_table})"
            return f"{self.current}{where}"
        if self.unversioned_tables:
            return "0.1.0 tables without a version (未记录版本的 0.1.0 数据表)"
        return "empty (空数据库)"


# -- autogenerate filters ----------------------------------------------------------------------


def is_wecom_table(name: Optional[str]) -> bool:
    """A table of flask-wecom's schema (its version table excluded)."""
    return bool(name) and str(name).startswith("wecom_") and name != VERSION_TABLE


def _table_name(obj: Any, name: Optional[str], type_: str) -> Optional[str]:
    if type_ == "table":
        return name
    table = getattr(obj, "table", None)
    return getattr(table, "name", None)


def include_object(obj: Any, name: Optional[str], type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object`` for flask-wecom's own migrations: only our tables take part."""
    return is_wecom_table(_table_name(obj, name, type_))


def skip_wecom_tables(obj: Any, name: Optional[str], type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object`` for an *application's* env.py: its autogenerate leaves our tables alone."""
    return not is_wecom_table(_table_name(obj, name, type_)) and name != VERSION_TABLE


# -- reading the version ------------------------------------------------------------------------


def _select_versions(conn: sa.Connection, table: str) -> Optional[List[str]]:
    """The rows of a version table, or None when the table does not exist. A database that is down raises."""
    version_table = sa.table(table, sa.column("version_num"))

    def rows() -> List[str]:
        try:
            return list(conn.execute(sa.select(version_table.c.version_num)).scalars())
        finally:
            if conn.in_transaction():
                # PostgreSQL refuses further statements in a failed transaction, and a long open snapshot
                # would hide another process's upgrade: end the read either way
                conn.rollback()

    try:
        return rows()
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        exists = sa.inspect(conn).has_table(table)
        if conn.in_transaction():
            conn.rollback()
        if not exists:
            return None
    # Missing a moment ago and there now: a process booting beside us committed its upgrade in between.
    # Read it again; an error this time is a real one.
    return rows()


def _latest(revisions: List[str]) -> str:
    unknown = [rev for rev in revisions if rev not in REVISIONS]
    return unknown[0] if unknown else max(revisions, key=REVISIONS.index)


def read_status(conn: sa.Connection) -> SchemaStatus:
    """Our revision in ``conn``'s database: one query when our version table says it is current.

    Otherwise the application's ``alembic_version`` is read too (it holds our revisions when the app's own
    Alembic runs them, see README) and the more advanced of the two counts.
    """
    found = []
    for table in (VERSION_TABLE, APP_VERSION_TABLE):
        rows = _select_versions(conn, table)
        if rows is None:
            continue
        # alembic_version may hold the app's own heads beside ours
        ours = [str(row) for row in rows if table == VERSION_TABLE or str(row).startswith("wecom_")]
        if ours:
            status = SchemaStatus(_latest(ours), table)
            if status.up_to_date or status.newer:
                return status
            found.append(status)
    if found:
        return max(found, key=lambda status: REVISIONS.index(status.current))
    inspector = sa.inspect(conn)
    existing = tuple(name for name in TABLES_0_1_0 if inspector.has_table(name))
    if conn.in_transaction():
        conn.rollback()
    return SchemaStatus(None, None, existing)


def current_status(engine: sa.engine.Engine) -> SchemaStatus:
    with engine.connect() as conn:
        return read_status(conn)


# -- errors -------------------------------------------------------------------------------------


def _newer_error(status: SchemaStatus) -> SchemaError:
    return SchemaError(
        f"数据库里 flask-wecom 的数据表版本 {status.current} 比本程序（需要 {HEAD}）新：它由更新版本的 flask-wecom "
        f"升级过。请把所有进程升级到同一版本的 flask-wecom。 / The database's flask-wecom schema is at "
        f"{status.current}, which this flask-wecom (schema {HEAD}) does not know: a newer flask-wecom upgraded it. "
        "Run the same flask-wecom version on every host."
    )


def _out_of_date_error(status: SchemaStatus) -> SchemaError:
    return SchemaError(
        f"flask-wecom 的数据表需要升级（当前：{status.describe()}；需要：{HEAD}），而 WECOM_AUTO_UPGRADE=False："
        f"请运行 `{UPGRADE_COMMAND}`，或用你自己的迁移（`flask db upgrade` / `alembic upgrade heads`，已包含 "
        f"flask-wecom 的 migrations）。 / flask-wecom's tables need an upgrade (now: {status.describe()}; needed: "
        f"{HEAD}) and WECOM_AUTO_UPGRADE is False: run `{UPGRADE_COMMAND}`, or your own migrations "
        "(`flask db upgrade` / `alembic upgrade heads` with flask-wecom's versions included)."
    )


def _app_managed_error(status: SchemaStatus) -> SchemaError:
    return SchemaError(
        f"flask-wecom 的数据表由应用自己的 Alembic 管理（{APP_VERSION_TABLE} 里记录的是 {status.current}）："
        f"请用 `flask db upgrade` / `alembic upgrade heads` 升级，而不是 `{UPGRADE_COMMAND}`。 / flask-wecom's "
        f"tables are managed by the application's own Alembic ({APP_VERSION_TABLE} holds {status.current}): upgrade "
        f"them with `flask db upgrade` / `alembic upgrade heads`, not `{UPGRADE_COMMAND}`."
    )


# -- the lock ----------------------------------------------------------------------------------


@contextlib.contextmanager
def schema_lock(conn: sa.Connection, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the database-wide schema lock on ``conn`` (its session) while the block runs.

    PostgreSQL: a session advisory lock; MySQL/MariaDB: ``GET_LOCK`` named after the database; SQLite: an
    exclusive ``flock`` on ``<database>.wecom-schema.lock`` (an in-memory database is private anyway).
    Raises :class:`SchemaError` after ``timeout`` seconds of waiting.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        with _pg_lock(conn, timeout):
            yield
    elif dialect in ("mysql", "mariadb"):
        with _mysql_lock(conn, timeout):
            yield
    elif dialect == "sqlite":
        with _sqlite_lock(conn, timeout):
            yield
    else:  # pragma: no cover - no such database in our tests
        log.warning("flask-wecom: no schema lock for %s; upgrade with `%s` before starting several workers",
                    dialect, UPGRADE_COMMAND)
        yield


def _timed_out(timeout: float) -> SchemaError:
    return SchemaError(
        f"另一个进程升级 flask-wecom 数据表已超过 {timeout:.0f} 秒，仍未完成；请查看它的日志，或手动运行 "
        f"`{UPGRADE_COMMAND}`。 / Another process has been upgrading flask-wecom's tables for over {timeout:.0f} s; "
        f"check its log, or run `{UPGRADE_COMMAND}` by hand."
    )


@contextlib.contextmanager
def _pg_lock(conn: sa.Connection, timeout: float) -> Iterator[None]:
    deadline = time.monotonic() + timeout
    while not conn.execute(sa.select(sa.func.pg_try_advisory_lock(_PG_LOCK_KEY))).scalar():
        conn.rollback()
        if time.monotonic() > deadline:
            raise _timed_out(timeout)
        time.sleep(0.05)
    conn.commit()  # a session lock: it outlives the transaction that took it
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        conn.execute(sa.select(sa.func.pg_advisory_unlock(_PG_LOCK_KEY)))
        conn.commit()


@contextlib.contextmanager
def _mysql_lock(conn: sa.Connection, timeout: float) -> Iterator[None]:
    database = conn.execute(sa.text("SELECT DATABASE()")).scalar() or ""
    name = f"flask_wecom.schema.{database}"[:64]  # GET_LOCK names are server-wide and at most 64 characters
    got = conn.execute(sa.select(sa.func.get_lock(name, int(max(timeout, 1))))).scalar()
    conn.commit()
    if got != 1:
        raise _timed_out(timeout)
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        conn.execute(sa.select(sa.func.release_lock(name)))
        conn.commit()


def sqlite_lock_path(database: Optional[str]) -> Optional[str]:
    """The lock file beside a SQLite database file; None for an in-memory database."""
    if not database or database == ":memory:" or (database.startswith("file:") and "mode=memory" in database):
        return None
    path = database[len("file:"):].split("?", 1)[0] if database.startswith("file:") else database
    return os.path.abspath(path) + ".wecom-schema.lock"


@contextlib.contextmanager
def _sqlite_lock(conn: sa.Connection, timeout: float) -> Iterator[None]:
    path = sqlite_lock_path(conn.engine.url.database)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: threads of one process are serialized by the Store
        fcntl = None  # type: ignore[assignment]  # no fcntl on Windows: the module is None there
    if path is None or fcntl is None:
        yield
        return
    deadline = time.monotonic() + timeout
    with open(path, "a+b") as handle:  # never deleted: removing a lock file races with its next user
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise _timed_out(timeout) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# -- upgrading ----------------------------------------------------------------------------------


def alembic_config(url: Optional[str] = None, connection: Optional[sa.Connection] = None) -> Config:
    """An Alembic ``Config`` for our migrations (no alembic.ini needed), bound to a connection or a URL."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser interpolation
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.engine.Engine, revision: str = "head", *, timeout: float = LOCK_TIMEOUT) -> Optional[str]:
    """Upgrade to ``revision`` under the schema lock. Returns what the database was before ("empty",
    "0.1.0" or a revision), or None when it was already there (another process may just have done it)."""
    from alembic import command

    with engine.connect() as conn, unlimited(conn):  # long DDL must not hit the store's statement limits
        with schema_lock(conn, timeout):
            status = read_status(conn)
            if status.newer:
                raise _newer_error(status)
            if status.version_table == APP_VERSION_TABLE:
                raise _app_managed_error(status)
            target = HEAD if revision in ("head", "heads", f"{BRANCH}@head") else revision
            if target not in REVISIONS:
                raise SchemaError(f"unknown flask-wecom schema revision {revision!r} (known: {', '.join(REVISIONS)})")
            if status.current is not None and REVISIONS.index(status.current) >= REVISIONS.index(target):
                return None
            before = status.current or ("0.1.0" if status.unversioned_tables else "empty")
            log.info("flask-wecom: upgrading the store's schema from %s to %s", before, target)
            command.upgrade(alembic_config(connection=conn), target)
            if conn.in_transaction():
                conn.commit()
            return before


def ensure_schema(engine: sa.engine.Engine, *, auto_upgrade: bool = True,
                  timeout: float = LOCK_TIMEOUT) -> Optional[str]:
    """Make sure the store can run on this database; called once per process before its first query.

    Returns what :func:`upgrade` returns (None: nothing to do). Raises :class:`SchemaError` when the schema is
    newer than this code, or out of date with ``auto_upgrade=False``.
    """
    status = current_status(engine)
    if status.up_to_date:
        return None
    if status.newer:
        raise _newer_error(status)
    if status.version_table == APP_VERSION_TABLE:
        # the application's own Alembic holds our branch: it runs the migrations, we never change its schema
        raise _app_managed_error(status)
    if not auto_upgrade:
        raise _out_of_date_error(status)
    return upgrade(engine, timeout=timeout)


def upgrade_sql(url: str, revision: str = "head") -> str:
    """The SQL that upgrades an empty database to ``revision`` (Alembic offline mode), for a DBA to run."""
    import io

    from alembic import command

    buffer = io.StringIO()
    config = alembic_config(url)
    config.output_buffer = buffer
    command.upgrade(config, revision, sql=True)
    return buffer.getvalue()
