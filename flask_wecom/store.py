"""Durable store for what must survive a restart: suite tickets, AuthCodes, authorized corps.

Framework-free (SQLAlchemy Core). Tokens are *not* kept here — they live in the
token cache; this holds secrets that WeCom hands out once (permanent codes) and
the bookkeeping that makes callback handling idempotent. Every secret column is
sealed with :class:`~flask_wecom.secretbox.SecretBox`.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import threading
import time
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Optional, Tuple, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from . import dbguard
from .errors import CorpNotFoundError, SchemaError
from .hub import tables as _hub_tables  # noqa: F401 - the hub's tables are on this metadata (wecom_0003), used or not
from .metadata import CaseSensitiveId, EpochSeconds, metadata
from .secretbox import SecretBox
from .storage import LEASE_SECONDS, AuthCodeClaim, AuthCodeRecord, CorpRecord, DurableStore

log = logging.getLogger("flask_wecom.store")

#: Seconds between two prunings of expired replay marks by one Store (not on every delivery).
PRUNE_INTERVAL = 300.0

#: Latest suite_ticket per suite ("latest wins"; WeCom says always use the newest one).
suite_tickets = sa.Table(
    "wecom_suite_ticket",
    metadata,
    sa.Column("suite_id", CaseSensitiveId, primary_key=True),
    sa.Column("ticket", sa.Text, nullable=False),  # sealed
    sa.Column("received_at", EpochSeconds, nullable=False),
)

#: AuthCodes from create_auth / reset_permanent_code, recorded before we answer `success`.
auth_codes = sa.Table(
    "wecom_auth_code",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("auth_code", sa.Text, nullable=True),  # sealed; cleared once consumed
    sa.Column("suite_id", CaseSensitiveId, nullable=False),
    sa.Column("info_type", sa.String(64), nullable=False),
    sa.Column("state", sa.String(256), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, default="pending"),
    sa.Column("corp_id", CaseSensitiveId, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("received_at", EpochSeconds, nullable=False),
    sa.Column("finished_at", EpochSeconds, nullable=True),
    # while ``exchanging``: the claim's lease (epoch seconds); past it, another process takes the code over
    sa.Column("lease_until", EpochSeconds, nullable=True),
)

#: The ticket updates, built once (a statement built per call costs more in SQLAlchemy than the UPDATE itself).
_TICKET_UPDATE = (suite_tickets.update().where(suite_tickets.c.suite_id == sa.bindparam("b_suite_id"))
                  .values(ticket=sa.bindparam("b_ticket"), received_at=sa.bindparam("b_received_at")))
#: … and the one that never replaces a newer ticket (a late replay from the spool)
_TICKET_UPDATE_KEEP_NEWER = _TICKET_UPDATE.where(suite_tickets.c.received_at <= sa.bindparam("b_received_at"))

#: One row per authorized corp. corp_id keeps its case: post-2022 代开发 corp ids are
#: encrypted and case-sensitive (doc 97104).
corps = sa.Table(
    "wecom_corp",
    metadata,
    sa.Column("corp_id", CaseSensitiveId, primary_key=True),
    sa.Column("suite_id", CaseSensitiveId, nullable=True),
    sa.Column("corp_name", sa.String(256), nullable=True),
    sa.Column("agent_id", sa.String(32), nullable=True),
    sa.Column("permanent_code", sa.Text, nullable=True),  # sealed; NULL once revoked
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("auth_time", EpochSeconds, nullable=True),
    sa.Column("updated_at", EpochSeconds, nullable=False),
    sa.Column("auth_info", sa.Text, nullable=True),  # JSON of non-secret fields from get_auth_info
)

#: Callback deliveries already processed (msg_signature + nonce), for replay / retry detection.
deliveries = sa.Table(
    "wecom_delivery",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("received_at", EpochSeconds, nullable=False, index=True),
)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


#: INSERT-or-ignore statements per (dialect, table), built once: a statement built per call costs more
#: in SQLAlchemy (construction, cache key) than SQLite's INSERT itself
_INSERT_IGNORE: Dict[Tuple[str, sa.Table], Any] = {}


def _insert_ignore_statement(dialect: str, table: sa.Table) -> Optional[sa.Executable]:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
        return insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        return sqlite_insert(table).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        return table.insert().prefix_with("IGNORE")
    return None


class _DriverSQL:
    """A fixed Core statement as its driver's SQL, compiled by SQLAlchemy once per dialect and set of keys."""

    __slots__ = ("sql", "names", "positional", "processors", "direct")

    def __init__(self, sql: str, names: Tuple[str, ...], positional: bool,
                 processors: Dict[str, Callable[[Any], Any]], direct: bool) -> None:
        self.sql, self.names, self.positional, self.processors = sql, names, positional, processors
        #: may go to the DB-API cursor itself when nothing listens (see _execute)
        self.direct = direct

    def parameters(self, values: Dict[str, Any]) -> Any:
        procs = self.processors
        if self.positional:
            return tuple(procs[name](values[name]) if name in procs else values[name] for name in self.names)
        return {name: procs[name](values[name]) if name in procs else values[name] for name in self.names}


#: (dialect class, paramstyle, statement, keys) -> its driver SQL, or None when it must go through
#: ``Connection.execute``. The class and paramstyle, not the name: two PostgreSQL drivers render differently.
_DRIVER_SQL: Dict[Tuple[type, str, int, Tuple[str, ...]], Optional[_DriverSQL]] = {}


def _driver_sql(dialect: sa.Dialect, statement: sa.Executable, keys: Tuple[str, ...]) -> Optional[_DriverSQL]:
    compiled: Any = cast(sa.ClauseElement, statement).compile(dialect=dialect, column_keys=list(keys))
    if compiled.escaped_bind_names or compiled.literal_execute_params or compiled.post_compile_params:
        return None  # rendered per call: leave it to SQLAlchemy
    binds: Dict[str, Any] = compiled.binds
    if set(binds) - set(keys):
        return None  # a bind with a default value, not given by the caller
    processors = {}
    for name, bind in binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
    positional = bool(compiled.positional)
    names = tuple(compiled.positiontup) if positional else tuple(binds)
    # SQLite only: PostgreSQL and MySQL engines always have listeners (dbguard's statement timeouts)
    return _DriverSQL(compiled.string, names, positional, processors, direct=dialect.name == "sqlite")


def _listened(conn: sa.Connection) -> bool:
    """Whether SQLAlchemy would do anything around a cursor's execute on ``conn`` but call it: engine or
    connection events (the app's monitoring, dbguard), or statement logging (``echo``, or the
    ``sqlalchemy.engine`` logger at INFO). SQLAlchemy asks the same attributes before its own dispatch."""
    return bool(conn._has_events or conn.engine._has_events or conn._echo)


def _execute(conn: sa.Connection, statement: sa.Executable, values: Dict[str, Any]) -> int:
    """Run one of the store's fixed statements; its rowcount.

    The callback's statements run on every delivery, where SQLAlchemy's per-call work (the statement's
    cache key, the compiled parameters, the execution context and result objects) cost more than SQLite's
    own INSERT. So each is compiled by SQLAlchemy once per dialect, and run

    * on SQLite, when nothing listens (:func:`_listened`), with the DB-API cursor of the same connection
      and transaction, a driver error wrapped as SQLAlchemy would (``OperationalError``…);
    * otherwise with :meth:`~sqlalchemy.engine.Connection.exec_driver_sql`: the same engine events,
      ``echo`` logging and error handling as :meth:`~sqlalchemy.engine.Connection.execute`."""
    dialect = conn.dialect
    key = (type(dialect), dialect.paramstyle, id(statement), tuple(values))
    try:
        prepared = _DRIVER_SQL[key]
    except KeyError:
        prepared = _DRIVER_SQL[key] = _driver_sql(dialect, statement, key[3])
    if prepared is None:
        rowcount: int = conn.execute(statement, values).rowcount
        return rowcount
    parameters = prepared.parameters(values)
    if not prepared.direct or _listened(conn):
        rowcount = conn.exec_driver_sql(prepared.sql, parameters).rowcount
        return rowcount
    return _execute_on_cursor(conn, prepared.sql, parameters)


def _execute_on_cursor(conn: sa.Connection, sql: str, parameters: Any) -> int:
    dbapi_connection: Any = conn.connection.dbapi_connection
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql, parameters)
        rowcount: int = cursor.rowcount
        return rowcount
    except conn.dialect.loaded_dbapi.Error as exc:
        invalidated = conn.dialect.is_disconnect(exc, dbapi_connection, cursor)
        if invalidated:
            conn.invalidate(exc)
        raise sa.exc.DBAPIError.instance(sql, parameters, exc, conn.dialect.loaded_dbapi.Error,
                                         hide_parameters=conn.engine.hide_parameters, dialect=conn.dialect,
                                         connection_invalidated=invalidated) from exc
    finally:
        cursor.close()


def _insert_ignore(conn: sa.Connection, table: sa.Table, values: Dict[str, Any]) -> bool:
    """INSERT that does nothing on a unique-key conflict; True when the row was inserted.

    Usable inside a larger transaction: PostgreSQL aborts a transaction on an IntegrityError, so the
    conflict is avoided in SQL (ON CONFLICT DO NOTHING, INSERT IGNORE) or confined to a savepoint."""
    dialect = conn.dialect.name
    key = (dialect, table)
    if key not in _INSERT_IGNORE:
        _INSERT_IGNORE[key] = _insert_ignore_statement(dialect, table)
    statement = _INSERT_IGNORE[key]
    if statement is not None:
        return _execute(conn, statement, values) == 1
    try:
        with conn.begin_nested():
            conn.execute(table.insert(), values)
        return True
    except IntegrityError:
        return False


@functools.cache
def _pending_query(expired: bool, stuck: bool) -> sa.Select[Any]:
    """The query of :meth:`Store.pending_auth_codes`, built once per variant (it runs on every suite_ticket);
    the times are parameters: ``b_now``, ``b_since``, ``b_lease_cut`` (now - lease), ``b_stuck_cut``."""
    def lease_expired(cut: str) -> sa.ColumnElement[bool]:
        # 0.1.0 rows (and upgrades) have no lease: they count from when the code was recorded
        return sa.or_(auth_codes.c.lease_until < sa.bindparam("b_now"),
                      sa.and_(auth_codes.c.lease_until.is_(None), auth_codes.c.received_at <= sa.bindparam(cut)))

    wanted = auth_codes.c.status == "pending"
    if expired:
        wanted = sa.or_(wanted, sa.and_(auth_codes.c.status == "exchanging", lease_expired("b_lease_cut")))
    if stuck:
        wanted = sa.or_(wanted, sa.and_(auth_codes.c.status == "exchanging", lease_expired("b_stuck_cut")))
    return (sa.select(auth_codes).where(wanted, auth_codes.c.auth_code.is_not(None),
                                        auth_codes.c.received_at >= sa.bindparam("b_since"))
            .order_by(auth_codes.c.id))


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL (readers never wait for the writer) and synchronous=NORMAL (no fsync per commit in WAL mode;
    a power cut may lose the last commits, never corrupt the file): the cheap, safe setting for one host."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    except Exception as exc:  # noqa: BLE001 - e.g. a read-only folder: keep SQLite's defaults
        log.warning("SQLite store: cannot switch to WAL mode (%s); keeping the default journal", exc)
    finally:
        cursor.close()


class Store(DurableStore):
    """The :class:`~flask_wecom.storage.DurableStore` on SQLAlchemy (SQLite, PostgreSQL, MySQL/MariaDB). Tables
    are created or upgraded on first use (see schema.py); no manual step."""

    def __init__(self, url: str, box: SecretBox, *, engine_options: Optional[Dict[str, Any]] = None,
                 clock: Callable[[], float] = time.time, auto_upgrade: bool = True,
                 cooldown: float = dbguard.COOLDOWN) -> None:
        options = dict(engine_options or {})
        if url.startswith("sqlite"):
            # One file shared by threads of the dev server and the background exchanger.
            options.setdefault("connect_args", {"check_same_thread": False, "timeout": 15})
        else:
            options.setdefault("pool_pre_ping", True)
        if url.startswith(("mysql", "mariadb")):
            # InnoDB's default REPEATABLE READ takes gap locks: two workers upserting different new rows (an
            # UPDATE that matches nothing, then an INSERT) deadlock each other. READ COMMITTED, PostgreSQL's
            # default and what the store's statements are written for, takes none.
            options.setdefault("isolation_level", "READ COMMITTED")
        self.url = url
        # bounded waits on a frozen database (connect, statement and lock timeouts; see dbguard.py)
        options = dbguard.default_engine_options(sa.engine.make_url(url), options)
        self.engine = sa.create_engine(url, **options)
        dbguard.install(self.engine)
        #: stops asking a database that is down or frozen for ``cooldown`` s (PostgreSQL, MySQL; see dbguard.py).
        #: SQLite is a local file: nothing to wait for, no breaker.
        self.breaker: Optional[dbguard.Breaker] = (
            dbguard.Breaker(cooldown) if cooldown > 0 and self.engine.dialect.name != "sqlite" else None)
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:") \
                and "mode=memory" not in str(self.engine.url):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._box = box
        self._clock = clock
        self._local = threading.local()  # the transaction open in this thread, if any
        self._next_prune = 0.0
        # AuthCodes that may wait for a ticket, as far as this process knows (see auth_codes_waiting_for_ticket):
        # bumped when one may have been left waiting; the value a ticket's read last found none at
        self._waits_noted, self._waits_checked = 1, 0
        #: set by :meth:`dispose`: background sweepers of this store stop
        self.closed = False
        #: create/upgrade the tables on first use (False: the application runs the migrations; see schema.py)
        self.auto_upgrade = auto_upgrade
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- plumbing -----------------------------------------------------------------

    def _conn(self) -> ContextManager[sa.Connection]:
        active = getattr(self._local, "conn", None)
        if active is not None:  # inside transaction(): join it
            return contextlib.nullcontext(active)
        if self.breaker is not None:
            return self._guarded_begin(self.breaker)
        self._ensure_ready()
        return self.engine.begin()

    def _ensure_ready(self) -> None:
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    self.ensure_schema()
                    self._ready = True

    @contextlib.contextmanager
    def _guarded_begin(self, breaker: dbguard.Breaker) -> Iterator[sa.Connection]:
        """``engine.begin()`` behind the breaker: a failure to connect (or to check the schema) or a connection
        lost inside the transaction counts; anything that reached the database closes it."""
        breaker.check()
        try:
            self._ensure_ready()
            conn = self.engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            breaker.failure(unavailable_reason(exc) or type(exc).__name__)
            raise
        lost = False
        try:
            with conn.begin():
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            lost = dbguard.lost_connection(exc)
            if lost:
                breaker.failure(unavailable_reason(exc) or type(exc).__name__)
            raise
        finally:
            if not lost:  # the database answered (whatever the block then did)
                breaker.success()
            conn.close()

    def ensure_schema(self) -> Optional[str]:
        """Check the schema version (one query) and, with ``auto_upgrade``, create or upgrade the tables under a
        database lock, so workers booting together on an empty database do not race. Raises SchemaError when
        the tables are out of date and ``auto_upgrade`` is off. Returns what was upgraded from, or None."""
        from .schema import ensure_schema

        return ensure_schema(self.engine, auto_upgrade=self.auto_upgrade)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """One database transaction for every store call made in this thread inside the block.

        A callback marks its delivery as seen and applies its effect in here, so a failure anywhere
        (the database dying between the two) commits neither and the delivery stays processable.
        Nested blocks join the outer transaction."""
        if getattr(self._local, "conn", None) is not None:
            yield self._local.conn
            return
        with self._conn() as conn:
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    @property
    def secret_box(self) -> SecretBox:
        """The box sealing secrets at rest (the callback spool seals with it too)."""
        return self._box

    def dispose(self) -> None:
        self.closed = True
        self.engine.dispose()

    # -- suite tickets ------------------------------------------------------------

    def save_suite_ticket(self, suite_id: str, ticket: str, received_at: Optional[float] = None, *,
                          keep_newer: bool = False) -> None:
        """Store the suite's ticket. With ``keep_newer`` (pushed tickets) a late replay of an older delivery
        (from the spool) never replaces a newer ticket."""
        now = received_at if received_at is not None else self._clock()
        sealed = self._box.seal(ticket)
        update = _TICKET_UPDATE_KEEP_NEWER if keep_newer else _TICKET_UPDATE
        params = {"b_suite_id": suite_id, "b_ticket": sealed, "b_received_at": now}
        with self._conn() as conn:
            if _execute(conn, update, params):
                return
            # the suite's first ticket: AuthCodes any process recorded before it may be waiting for it
            self._waits_noted += 1
            if not _insert_ignore(conn, suite_tickets, {"suite_id": suite_id, "ticket": sealed, "received_at": now}):
                # inserted meanwhile by another process: latest wins
                _execute(conn, update, params)

    def get_suite_ticket(self, suite_id: str) -> Optional[Tuple[str, float]]:
        """``(ticket, received_at)`` or None when WeCom never pushed one."""
        with self._conn() as conn:
            row = conn.execute(
                sa.select(suite_tickets.c.ticket, suite_tickets.c.received_at)
                .where(suite_tickets.c.suite_id == suite_id)
            ).first()
        if row is None:
            return None
        return self._box.open(row.ticket), row.received_at

    def suite_ticket_received_at(self, suite_id: str) -> Optional[float]:
        with self._conn() as conn:
            received_at: Optional[float] = conn.execute(
                sa.select(suite_tickets.c.received_at).where(suite_tickets.c.suite_id == suite_id)
            ).scalar()
        return received_at

    # -- auth codes ---------------------------------------------------------------

    def record_auth_code(self, suite_id: str, info_type: str, auth_code: str,
                         state: Optional[str] = None, received_at: Optional[float] = None) -> Tuple[int, bool]:
        """Record an AuthCode durably. Returns ``(id, created)``; a retried delivery is not re-created."""
        code_hash = _hash(auth_code)
        with self._conn() as conn:
            created = _insert_ignore(conn, auth_codes, {
                "code_hash": code_hash, "auth_code": self._box.seal(auth_code), "suite_id": suite_id,
                "info_type": info_type, "state": state, "status": "pending",
                "received_at": received_at if received_at is not None else self._clock(),
            })
            code_id = conn.execute(
                sa.select(auth_codes.c.id).where(auth_codes.c.code_hash == code_hash)
            ).scalar_one()
        self._waits_noted += 1
        return code_id, created

    def _lease_expired(self, now: float, lease: float) -> sa.ColumnElement[bool]:
        # 0.1.0 rows (and upgrades) have no lease: they count from when the code was recorded
        return sa.or_(auth_codes.c.lease_until < now,
                      sa.and_(auth_codes.c.lease_until.is_(None), auth_codes.c.received_at <= now - lease))

    def lease_auth_code(self, code_id: int, *, lease: float = LEASE_SECONDS,
                        take_over: bool = True) -> Optional[AuthCodeClaim]:
        """Claim an AuthCode for ``lease`` seconds: a ``pending`` one, or (``take_over``) one left
        ``exchanging`` by a claim whose lease expired. Atomic: of several processes, one gets it.
        None when it is taken (and its lease alive), done, failed or wiped."""
        now = self._clock()
        with self._conn() as conn:
            row = conn.execute(
                sa.select(auth_codes.c.status, auth_codes.c.error, auth_codes.c.auth_code)
                .where(auth_codes.c.id == code_id)
            ).first()
            if row is None or row.auth_code is None:
                return None
            if row.status == "pending":
                claimable = auth_codes.c.status == "pending"
            elif row.status == "exchanging" and take_over:
                claimable = sa.and_(auth_codes.c.status == "exchanging", self._lease_expired(now, lease))
            else:
                return None
            claimed = conn.execute(
                auth_codes.update()
                .where(auth_codes.c.id == code_id, auth_codes.c.auth_code.is_not(None), claimable)
                .values(status="exchanging", lease_until=now + lease)
            ).rowcount
        if not claimed:
            return None
        taken_over = row.status == "exchanging"
        return AuthCodeClaim(code_id, self._box.open(row.auth_code), now + lease, taken_over=taken_over,
                             maybe_spent=taken_over or bool(row.error))

    def renew_auth_code(self, code_id: int, *, lease: float = LEASE_SECONDS) -> bool:
        """Extend the lease of a code being exchanged (a live exchange keeps its claim)."""
        with self._conn() as conn:
            return bool(conn.execute(
                auth_codes.update().where(auth_codes.c.id == code_id, auth_codes.c.status == "exchanging")
                .values(lease_until=self._clock() + lease)
            ).rowcount)

    def claim_auth_code(self, code_id: int, *, reclaim_after: Optional[float] = None) -> Optional[str]:
        """Claim a pending AuthCode and return it (None if taken): :meth:`lease_auth_code` with the default
        lease. ``reclaim_after`` also takes over a code whose lease has expired (or, for a code claimed by
        0.1.0 without a lease, that was recorded ``reclaim_after`` seconds ago)."""
        claim = self.lease_auth_code(code_id, lease=LEASE_SECONDS if reclaim_after is None else reclaim_after,
                                     take_over=reclaim_after is not None)
        return claim.auth_code if claim else None

    def finish_auth_code(self, code_id: int, *, corp_id: Optional[str] = None,
                         error: Optional[str] = None, retry: bool = False) -> None:
        """Mark an exchange done or failed (the AuthCode itself is wiped: it is single use), or put it back
        to ``pending`` with ``retry``. ``done`` is final: a later failure of a taken-over attempt (WeCom
        answering 40078 for the spent code) never overwrites it, while ``done`` overwrites ``failed``."""
        status = "pending" if retry else ("failed" if error else "done")
        values: Dict[str, Any] = {"status": status, "corp_id": corp_id, "error": error,
                                  "finished_at": self._clock(), "lease_until": None}
        if not retry:
            values["auth_code"] = None
        query = auth_codes.update().where(auth_codes.c.id == code_id)
        if status != "done":
            query = query.where(auth_codes.c.status != "done")
        with self._conn() as conn:
            conn.execute(query.values(**values))
        if retry:
            self._waits_noted += 1

    def get_auth_code(self, code_id: int) -> Optional[AuthCodeRecord]:
        with self._conn() as conn:
            row = conn.execute(sa.select(auth_codes).where(auth_codes.c.id == code_id)).first()
        return self._auth_code_record(row) if row else None

    def pending_auth_codes(self, max_age: float = 600, *, stuck_after: Optional[float] = None,
                           expired: bool = False, lease: float = LEASE_SECONDS) -> List[AuthCodeRecord]:
        """AuthCodes still worth exchanging (WeCom: valid for 10 minutes, developer.work.weixin.qq.com/document/
        path/90642); with ``expired``, also those left ``exchanging`` whose lease has run out (a crashed
        exchanger); with ``stuck_after``, also those claimed without a lease that many seconds ago."""
        now = self._clock()
        params = {"b_now": now, "b_since": now - max_age, "b_lease_cut": now - lease,
                  "b_stuck_cut": now - (stuck_after or 0.0)}
        with self._conn() as conn:
            rows = conn.execute(_pending_query(expired, stuck_after is not None), params).all()
        return [self._auth_code_record(row) for row in rows]

    def auth_codes_waiting_for_ticket(self, lease: float = LEASE_SECONDS) -> List[AuthCodeRecord]:
        """What a newly stored suite_ticket should exchange: :meth:`pending_auth_codes` with ``expired``, read
        only when some may wait as far as this process knows — since its start, or since it recorded an AuthCode,
        put one back to ``pending``, or stored the suite's first ticket (codes of any process may wait for that
        one). Otherwise ``[]`` without a query: a code another process left waiting (its exchange failed, e.g. on
        a stale ticket) or whose claim expired is exchanged by the sweep, within WECOM_EXCHANGE_LEASE +
        WECOM_SWEEP_INTERVAL, well inside the 10 minutes it lives."""
        noted = self._waits_noted
        if noted == self._waits_checked:
            return []
        found = self.pending_auth_codes(expired=True, lease=lease)
        if not found:
            self._waits_checked = noted  # one noted meanwhile bumped _waits_noted: read again next time
        return found

    def recent_auth_codes(self, limit: int = 20) -> List[AuthCodeRecord]:
        with self._conn() as conn:
            rows = conn.execute(sa.select(auth_codes).order_by(auth_codes.c.id.desc()).limit(limit)).all()
        return [self._auth_code_record(row) for row in rows]

    def auth_code_counts(self, *, max_age: float = 600, lease: float = LEASE_SECONDS) -> Dict[str, int]:
        """Read-only counts for `flask wecom status` and the doctor: AuthCodes still worth exchanging
        (``pending``, ``exchanging``; younger than ``max_age``, WeCom's 10 minutes), ``expired_leases``
        among those (a claimer that died: the next sweep, push or login takes them over) and ``lapsed``:
        left ``exchanging`` past ``max_age``, whose AuthCode WeCom no longer accepts."""
        now = self._clock()
        expired = sa.or_(auth_codes.c.lease_until < now,
                         sa.and_(auth_codes.c.lease_until.is_(None), auth_codes.c.received_at <= now - lease))
        young = auth_codes.c.received_at >= now - max_age
        exchanging = auth_codes.c.status == "exchanging"

        def count(*conditions: Any) -> Any:  # SUM(CASE …): MySQL/MariaDB have no COUNT(*) FILTER
            return sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0))

        query = sa.select(count(auth_codes.c.status == "pending", young), count(exchanging, young),
                          count(exchanging, young, expired), count(exchanging, sa.not_(young))
                          ).where(auth_codes.c.auth_code.is_not(None))
        with self._conn() as conn:
            row = conn.execute(query).one()
        return dict(zip(("pending", "exchanging", "expired_leases", "lapsed"), (int(v or 0) for v in row)))

    @staticmethod
    def _auth_code_record(row: Any) -> AuthCodeRecord:
        return AuthCodeRecord(id=row.id, suite_id=row.suite_id, info_type=row.info_type, state=row.state,
                              status=row.status, corp_id=row.corp_id, error=row.error,
                              received_at=row.received_at)

    # -- corps ------------------------------------------------------------------------

    def save_corp(self, corp_id: str, *, permanent_code: Optional[str] = None, suite_id: Optional[str] = None,
                  corp_name: Optional[str] = None, agent_id: Optional[Any] = None,
                  auth_info: Optional[Dict[str, Any]] = None, status: str = "active") -> None:
        """Insert or update a corp. Fields left as None keep their stored value."""
        now = self._clock()
        values: Dict[str, Any] = {"status": status, "updated_at": now}
        if permanent_code is not None:
            values["permanent_code"] = self._box.seal(permanent_code)
            values["auth_time"] = now
        if suite_id is not None:
            values["suite_id"] = suite_id
        if corp_name is not None:
            values["corp_name"] = corp_name
        if agent_id is not None:
            values["agent_id"] = str(agent_id)
        if auth_info is not None:
            values["auth_info"] = json.dumps(auth_info, ensure_ascii=False)
        with self._conn() as conn:  # update-or-insert; a concurrent first insert makes the second update count
            if conn.execute(corps.update().where(corps.c.corp_id == corp_id).values(**values)).rowcount:
                return
            if not _insert_ignore(conn, corps, dict(values, corp_id=corp_id)):
                conn.execute(corps.update().where(corps.c.corp_id == corp_id).values(**values))

    def get_corp(self, corp_id: str) -> Optional[CorpRecord]:
        with self._conn() as conn:
            row = conn.execute(sa.select(corps).where(corps.c.corp_id == corp_id)).first()
        return self._corp_record(row) if row else None

    def require_corp(self, corp_id: str) -> CorpRecord:
        corp = self.get_corp(corp_id)
        if corp is None or not corp.active:
            raise CorpNotFoundError(
                f"corp {corp_id!r} has not authorized this app, or its authorization was cancelled "
                "(企业未授权或已取消授权；请企业管理员扫码授权)"
            )
        return corp

    def get_permanent_code(self, corp_id: str) -> str:
        """The corp's permanent code (for 代开发: the app secret). Raises CorpNotFoundError."""
        with self._conn() as conn:
            row = conn.execute(
                sa.select(corps.c.permanent_code, corps.c.status).where(corps.c.corp_id == corp_id)
            ).first()
        if row is None or row.permanent_code is None or row.status != "active":
            raise CorpNotFoundError(
                f"no permanent code for corp {corp_id!r}: it never authorized the app, or revoked it "
                "(没有该企业的永久授权码：未授权或已取消授权)"
            )
        return self._box.open(row.permanent_code)

    def list_corps(self, *, include_revoked: bool = True) -> List[CorpRecord]:
        query = sa.select(corps).order_by(corps.c.auth_time)
        if not include_revoked:
            query = query.where(corps.c.status == "active")
        with self._conn() as conn:
            rows = conn.execute(query).all()
        return [self._corp_record(row) for row in rows]

    def revoke_corp(self, corp_id: str, *, at: Optional[float] = None) -> bool:
        """cancel_auth: WeCom asks us to delete the corp's data; we keep only the id, status and time.

        A cancel for a corp we do not hold yet (its AuthCode exchange is still under way) is kept as a
        revoked row too, so the exchange finishing later cannot bring the corp back. ``at`` is when the
        cancel was received (a replay from the spool comes later): a cancel older than the AuthCode the
        corp's current authorization came from is stale and ignored. Returns whether the corp was held
        before."""
        now = at if at is not None else self._clock()
        values = {"status": "revoked", "permanent_code": None, "auth_info": None, "updated_at": now}
        with self._conn() as conn:
            if at is not None:
                newer = conn.execute(
                    sa.select(sa.func.max(auth_codes.c.received_at))
                    .where(auth_codes.c.corp_id == corp_id, auth_codes.c.status == "done")
                ).scalar()
                if newer is not None and newer > at:
                    log.info("cancel_auth for %s received before its latest authorization: ignored", corp_id)
                    return True
            if conn.execute(corps.update().where(corps.c.corp_id == corp_id).values(**values)).rowcount:
                return True
            if not _insert_ignore(conn, corps, dict(values, corp_id=corp_id)):  # saved concurrently
                conn.execute(corps.update().where(corps.c.corp_id == corp_id).values(**values))
        return False

    def delete_corp(self, corp_id: str) -> bool:
        with self._conn() as conn:
            return bool(conn.execute(corps.delete().where(corps.c.corp_id == corp_id)).rowcount)

    @staticmethod
    def _corp_record(row: Any) -> CorpRecord:
        return CorpRecord(corp_id=row.corp_id, suite_id=row.suite_id, corp_name=row.corp_name,
                          agent_id=row.agent_id, status=row.status, auth_time=row.auth_time,
                          updated_at=row.updated_at, has_secret=row.permanent_code is not None,
                          auth_info=json.loads(row.auth_info) if row.auth_info else {})

    # -- deliveries -------------------------------------------------------------------

    def first_seen(self, namespace: str, key: str, *, keep_for: float = 3600) -> bool:
        """Mark ``(namespace, key)`` as seen; True the first time, False for a retry or replay.

        Inside :meth:`transaction` the mark commits (or not) with the effect it guards; a concurrent
        duplicate waits for that commit on PostgreSQL/MySQL. Marks older than ``keep_for`` seconds are
        pruned now and then (every :data:`PRUNE_INTERVAL` per store), not on every delivery."""
        now = self._clock()
        with self._conn() as conn:
            if now >= self._next_prune:
                self._next_prune = now + PRUNE_INTERVAL
                conn.execute(deliveries.delete().where(deliveries.c.received_at < now - keep_for))
            return _insert_ignore(conn, deliveries, {"key": _hash(f"{namespace}|{key}"), "received_at": now})


def unavailable_reason(exc: BaseException) -> Optional[str]:
    """A short, secret-free reason when ``exc`` means the store cannot serve right now, else None.

    Covers every SQLAlchemy error (database down or unreachable, connection lost, tables being created
    by another worker) and :class:`~flask_wecom.errors.SchemaError`. Login views and pages answer these
    with HTTP 503 and a "try again shortly" page; the reason goes to the log, never to the page. It is
    the driver's first line, without SQL or parameters (they may carry sealed secrets or ids)."""
    if isinstance(exc, SchemaError):
        return str(exc)
    if not isinstance(exc, sa.exc.SQLAlchemyError):
        return None
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    if cause is exc and "[SQL:" in text:
        text = text.split("[SQL:", 1)[0].strip()
    return f"{type(cause).__name__}: {text[:200]}" if text else type(cause).__name__
