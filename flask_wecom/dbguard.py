"""Bounded waits on a database that stops answering: a frozen server never hangs a callback or a login.

Framework-free. A database that is *down* refuses connections at once; one that is *frozen* (a stopped or
stuck server process, a stuck disk, a paused VM) accepts the TCP connection, or keeps an open one, and never
answers. Drivers then wait forever: libpq has no read timeout. So the store's engine gets, unless the
application passed its own (``WECOM_DATABASE_OPTIONS``):

- PostgreSQL (psycopg2 / psycopg): ``connect_timeout`` of :data:`CONNECT_TIMEOUT` s (libpq's minimum) and,
  through the startup ``options``, ``statement_timeout`` / ``lock_timeout`` so a live server gives up on a
  statement stuck behind a lock (https://www.postgresql.org/docs/current/runtime-config-client.html);
- MySQL/MariaDB (PyMySQL): ``connect_timeout`` and ``read_timeout`` / ``write_timeout`` (socket timeouts; the
  server's greeting is awaited :data:`CONNECT_TIMEOUT` s, not ``read_timeout``);
- and a client-side :class:`Watchdog` (PostgreSQL, MySQL/MariaDB): a statement (or commit) that gets no answer
  within :data:`STATEMENT_DEADLINE` s, or the pool's pre-ping within :data:`PING_DEADLINE` s, has its socket
  shut down, so the driver returns with an error, the connection is discarded and the caller answers 503 (a
  template callback: spooled and answered ``success``).

Schema upgrades (long ``ALTER TABLE``) run without these limits (:func:`unlimited`).

Those bounds still cost each request up to :data:`CONNECT_TIMEOUT` s while the database stays down or frozen,
and a busy site then has every worker waiting. So the store also keeps a :class:`Breaker` (PostgreSQL,
MySQL/MariaDB): after :data:`BREAKER_FAILURES` connection failures in a row it does not ask the database for
``WECOM_DATABASE_COOLDOWN`` seconds (:data:`COOLDOWN`) and raises :class:`DatabaseUnavailable` at once — a 503
page, a template event spooled — then lets calls through again; the first that reaches the database closes it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import sqlalchemy as sa

log = logging.getLogger("flask_wecom.store")

#: seconds to establish a connection (libpq rounds anything smaller up to 2)
CONNECT_TIMEOUT = 2
#: PostgreSQL ``statement_timeout`` / ``lock_timeout`` (seconds) set at connection start-up
STATEMENT_TIMEOUT = 5.0
LOCK_TIMEOUT = 3.0
#: seconds without an answer after which the watchdog cuts a statement's connection (a frozen server)
STATEMENT_DEADLINE = STATEMENT_TIMEOUT + 2.0
#: seconds the pool's pre-ping (``SELECT 1`` on a pooled connection) may take: a live server answers in
#: milliseconds; a frozen one is found out quickly enough to spool a template callback within WeCom's 1000 ms
PING_DEADLINE = 0.5
#: PyMySQL's socket read/write timeout (seconds): a last resort behind the watchdog
MYSQL_IO_TIMEOUT = STATEMENT_DEADLINE + 1.0

#: execution option that switches the limits off for one connection (schema upgrades)
UNLIMITED = "flask_wecom_unlimited"

_LIBPQ_DRIVERS = ("psycopg2", "psycopg")


#: connection failures in a row after which the store stops asking the database for a while (:class:`Breaker`)
BREAKER_FAILURES = 2
#: default ``WECOM_DATABASE_COOLDOWN``: seconds the store then answers without asking (0: never stop asking)
COOLDOWN = 5.0


class DatabaseTimeout(sa.exc.SQLAlchemyError):
    """The database did not answer within the bound: treated like a database that is down (HTTP 503)."""


class DatabaseUnavailable(sa.exc.SQLAlchemyError):
    """The store did not ask the database: it failed just before and is cooling down (:class:`Breaker`). Treated
    like a database that is down (HTTP 503, a template event spooled)."""


def lost_connection(exc: BaseException) -> bool:
    """An error raised inside a transaction that says the database is gone (the connection was lost or cut, or a
    statement got no answer), not that it refused a statement (a constraint, a lock timeout, bad SQL)."""
    return isinstance(exc, (DatabaseTimeout, DatabaseUnavailable)) or bool(getattr(exc, "connection_invalidated",
                                                                                   False))


class Breaker:
    """Per store and process: after ``failures`` connection failures in a row, :meth:`check` raises
    :class:`DatabaseUnavailable` for ``cooldown`` seconds instead of letting a request wait for the database.
    Then calls go through again; one that fails opens it for another ``cooldown``, one that reaches the
    database closes it. Thread-safe; a forked worker starts with its parent's state (a fresh cooldown at most)."""

    def __init__(self, cooldown: float = COOLDOWN, failures: int = BREAKER_FAILURES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cooldown = float(cooldown)
        self.failures = max(1, int(failures))
        self._clock = clock
        self._lock = threading.Lock()
        self._count = 0
        self._open_until = 0.0
        self._last = ""

    def __repr__(self) -> str:
        return f"<Breaker {'open' if self.is_open else 'closed'} failures={self._count}/{self.failures}>"

    @property
    def is_open(self) -> bool:
        """Whether calls are refused right now."""
        return self._count >= self.failures and self._clock() < self._open_until

    def check(self) -> None:
        """Raise :class:`DatabaseUnavailable` while open (the message says why, and for how long still)."""
        if self._count >= self.failures:
            left = self._open_until - self._clock()
            if left > 0:
                raise DatabaseUnavailable(
                    f"the database failed {self._count} times in a row (last: {self._last}); not asked again for "
                    f"{left:.1f} s (WECOM_DATABASE_COOLDOWN)")

    def failure(self, reason: str) -> None:
        """A connection failure (``reason``: a short, secret-free description for the log and the error)."""
        with self._lock:
            self._count += 1
            self._last = reason
            if self._count >= self.failures:
                now = self._clock()
                if now >= self._open_until:
                    log.warning("store: the database failed %d times in a row (last: %s); not asking it for %g s",
                                self._count, reason, self.cooldown)
                self._open_until = now + self.cooldown

    def success(self) -> None:
        """The database answered: close."""
        if self._count:
            with self._lock:
                if self._count >= self.failures:
                    log.warning("store: the database answers again after %d failures", self._count)
                self._count = 0


def default_engine_options(url: sa.engine.URL, options: Dict[str, Any]) -> Dict[str, Any]:
    """``options`` with flask-wecom's timeouts added where the application set none (key by key inside
    ``connect_args``). Returns a new dict."""
    options = dict(options)
    backend, driver = url.get_backend_name(), url.get_driver_name()
    given = set(options.get("connect_args") or {}) | set(url.query)  # ?connect_timeout=… in the URL counts
    extra: Dict[str, Any] = {}
    if backend == "postgresql" and driver in _LIBPQ_DRIVERS:
        extra["connect_timeout"] = CONNECT_TIMEOUT
        extra["options"] = (f"-c statement_timeout={int(STATEMENT_TIMEOUT * 1000)} "
                            f"-c lock_timeout={int(LOCK_TIMEOUT * 1000)}")
    elif backend in ("mysql", "mariadb") and driver == "pymysql":
        extra.update(connect_timeout=CONNECT_TIMEOUT, read_timeout=MYSQL_IO_TIMEOUT, write_timeout=MYSQL_IO_TIMEOUT)
    missing = {key: value for key, value in extra.items() if key not in given}
    if missing:
        options["connect_args"] = dict(options.get("connect_args") or {}, **missing)
    return options


# -- the watchdog ------------------------------------------------------------------------------------


def _fileno(dbapi_connection: Any) -> Optional[int]:
    """The socket of a DBAPI connection: ``fileno()`` (psycopg2, psycopg) or PyMySQL's socket; None if closed."""
    if getattr(dbapi_connection, "closed", False):
        return None
    fileno = getattr(dbapi_connection, "fileno", None)
    if callable(fileno):
        return int(fileno())
    sock = getattr(dbapi_connection, "_sock", None)  # PyMySQL: None once closed
    return sock.fileno() if sock is not None else None


def _cut(dbapi_connection: Any) -> bool:
    """Shut the connection's socket down (both ways): the blocked driver call returns with an error."""
    try:
        fd = _fileno(dbapi_connection)
    except Exception:  # noqa: BLE001 - closed meanwhile
        return False
    if fd is None or fd < 0:
        return False
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
        return True
    except OSError:
        return False


class Watchdog:
    """One thread per process that cuts connections whose armed deadline passed. Arming is a dict write under
    a lock (no thread wake-up unless the watchdog is idle), so the hot path pays microseconds."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        #: id(dbapi connection) -> (deadline, connection, seconds)
        self._armed: Dict[int, Tuple[float, Any, float]] = {}
        #: id(connection) -> (seconds, connection, when) of connections cut, until the driver's error is seen
        self.cut: Dict[int, Tuple[float, Any, float]] = {}  # id -> (deadline, connection, cut at)
        self._pid = 0
        #: when the watchdog thread wakes up next (monotonic; inf: it waits for an arm)
        self._wake_at = float("inf")

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():  # first use, or a forked worker (threads do not survive fork)
            self._pid = os.getpid()
            self._cond = threading.Condition(threading.Lock())
            self._armed.clear()
            self._wake_at = float("inf")
            threading.Thread(target=self._run, name="flask-wecom-db-watchdog", daemon=True).start()

    def arm(self, dbapi_connection: Any, seconds: float) -> None:
        if self._pid != os.getpid():
            self._ensure_thread()
        deadline = time.monotonic() + seconds
        with self._cond:
            self._armed[id(dbapi_connection)] = (deadline, dbapi_connection, seconds)
            if deadline < self._wake_at:  # earlier than the watchdog's next look (usually: it is idle)
                self._wake_at = deadline
                self._cond.notify()

    def disarm(self, dbapi_connection: Any) -> None:
        with self._cond:
            self._armed.pop(id(dbapi_connection), None)

    def was_cut(self, dbapi_connection: Any) -> Optional[float]:
        """The deadline (seconds) after which this connection was cut, once; None when it was not."""
        with self._cond:
            entry = self.cut.get(id(dbapi_connection))
            if entry is None or entry[1] is not dbapi_connection:
                return None
            del self.cut[id(dbapi_connection)]
            return entry[0]

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._armed:
                    self._wake_at = float("inf")
                    self._cond.wait()
                    continue
                now = time.monotonic()
                deadline = min(entry[0] for entry in self._armed.values())
                if deadline > now:
                    self._wake_at = deadline
                    self._cond.wait(deadline - now)
                    continue
                expired = [(key, entry) for key, entry in self._armed.items() if entry[0] <= now]
                for key, _ in expired:
                    del self._armed[key]
            for key, (_, connection, seconds) in expired:
                with self._cond:  # recorded first: the driver wakes up the moment the socket is shut
                    now = time.monotonic()
                    for old in [k for k, v in self.cut.items() if v[2] < now - 60]:  # never seen: forget
                        del self.cut[old]
                    self.cut[key] = (seconds, connection, now)
                if not _cut(connection):
                    with self._cond:
                        self.cut.pop(key, None)
                else:
                    log.error("flask-wecom store: no answer from the database within %.1f s; connection cut "
                              "(the request answers 503 / a template callback is spooled)", seconds)


WATCHDOG = Watchdog()


@contextlib.contextmanager
def unlimited(conn: sa.engine.Connection) -> Iterator[sa.engine.Connection]:
    """No flask-wecom time limit on ``conn`` while the block runs (a schema upgrade may run long DDL)."""
    conn.execution_options(**{UNLIMITED: True})
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(sa.text("SET statement_timeout = 0"))
        conn.execute(sa.text("SET lock_timeout = 0"))
        conn.commit()
    raw: Any = conn.connection.dbapi_connection  # the driver's own connection (PyMySQL's timeouts)
    io = (getattr(raw, "_read_timeout", None), getattr(raw, "_write_timeout", None))
    if dialect in ("mysql", "mariadb") and hasattr(raw, "_read_timeout"):
        raw._read_timeout = raw._write_timeout = None  # PyMySQL re-reads these before each socket operation
    try:
        yield conn
    finally:
        conn.execution_options(**{UNLIMITED: False})
        if dialect in ("mysql", "mariadb") and hasattr(raw, "_read_timeout"):
            raw._read_timeout, raw._write_timeout = io
        if dialect == "postgresql" and not conn.invalidated:
            try:
                if conn.in_transaction():
                    conn.rollback()
                conn.execute(sa.text("RESET statement_timeout"))  # back to the start-up options
                conn.execute(sa.text("RESET lock_timeout"))
                conn.commit()
            except sa.exc.SQLAlchemyError:  # the connection broke: it is discarded, not reused
                conn.invalidate()


def install(engine: sa.engine.Engine, watchdog: Watchdog = WATCHDOG) -> None:
    """Bound every statement, commit and pre-ping of ``engine`` (PostgreSQL, MySQL/MariaDB; SQLite has no socket
    and its own busy timeout)."""
    if engine.dialect.name not in ("postgresql", "mysql", "mariadb"):
        return
    dialect = engine.dialect
    ping = dialect.do_ping

    if dialect.driver == "pymysql":
        @sa.event.listens_for(engine, "do_connect")
        def connect_quickly(dialect: Any, conn_rec: Any, cargs: Any, cparams: Dict[str, Any]) -> Any:
            # PyMySQL waits for the server's greeting with read_timeout, not connect_timeout: with our
            # read_timeout, wait CONNECT_TIMEOUT for it (a frozen server) and keep read_timeout for statements
            if cparams.get("read_timeout") != MYSQL_IO_TIMEOUT:  # the application's own: left alone
                return None
            connection = dialect.loaded_dbapi.connect(*cargs, **dict(cparams, read_timeout=CONNECT_TIMEOUT))
            connection._read_timeout = MYSQL_IO_TIMEOUT  # PyMySQL re-reads it before each socket read
            return connection

    def guarded_ping(dbapi_connection: Any) -> bool:
        watchdog.arm(dbapi_connection, PING_DEADLINE)
        try:
            return ping(dbapi_connection)
        except Exception as exc:
            seconds = watchdog.was_cut(dbapi_connection)
            if seconds is not None:  # frozen: fail now rather than wait CONNECT_TIMEOUT for a new connection
                raise DatabaseTimeout(f"the database did not answer a ping within {seconds:.1f} s") from exc
            raise
        finally:
            watchdog.disarm(dbapi_connection)

    dialect.do_ping = guarded_ping  # type: ignore[method-assign]  # this engine's own dialect instance

    def _raw(conn: sa.Connection) -> Any:
        try:
            return None if conn.invalidated else conn.connection.dbapi_connection
        except sa.exc.SQLAlchemyError:  # closed
            return None

    def arm(conn: sa.Connection, *args: Any) -> None:
        raw = _raw(conn)
        if raw is not None and not conn.get_execution_options().get(UNLIMITED):
            watchdog.arm(raw, STATEMENT_DEADLINE)

    def disarm(conn: sa.Connection, *args: Any) -> None:
        raw = _raw(conn)
        if raw is not None:
            watchdog.disarm(raw)

    sa.event.listen(engine, "before_cursor_execute", arm)
    sa.event.listen(engine, "after_cursor_execute", disarm)
    # commit / rollback: armed until the next statement, or the return to the pool
    sa.event.listen(engine, "commit", arm)
    sa.event.listen(engine, "rollback", arm)

    def reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:  # the pool's rollback on return
        if dbapi_connection is not None:
            watchdog.arm(dbapi_connection, STATEMENT_DEADLINE)

    sa.event.listen(engine.pool, "reset", reset)

    def checkin(raw: Any, record: Any) -> None:
        if raw is not None:
            watchdog.disarm(raw)

    sa.event.listen(engine.pool, "checkin", checkin)

    def handle_error(context: Any) -> Optional[BaseException]:
        raw = getattr(context.connection, "connection", None) if context.connection is not None else None
        raw = getattr(raw, "dbapi_connection", None) if raw is not None else None
        if raw is None:
            return None
        watchdog.disarm(raw)
        seconds = watchdog.was_cut(raw)
        if seconds is None:
            return None
        context.is_disconnect = True  # the connection is dead: never reused
        return DatabaseTimeout(f"the database did not answer within {seconds:.1f} s")

    sa.event.listen(engine, "handle_error", handle_error)
