"""Access-token cache with single-flight refresh across threads and processes (framework-free).

:class:`TokenManager` keeps tokens in a cachelib ``BaseCache`` backend — Flask-Caching's
backends are subclasses of cachelib's, so ``cache.cache`` of a Flask-Caching ``Cache``
works as is. Entries live under ``token|<kind>|<owner>`` (the backend adds its own key
prefix); *owner* is a corp id + agent id or a suite id, **never a secret**. The value is
``{"token", "expires_at", "fetched_at"}`` where ``expires_at`` is WeCom's expiry
(``fetched_at + expires_in``; ``fetched_at`` is taken *before* the request).

Life of a token (``wecom-api.md`` §6: cache it, 7200 s, never call gettoken often)::

    fetched_at ........ refresh_from ........ use_until ........ expires_at
                        |-- refresh_ahead --|--- margin ---|

- ``use_until = expires_at - margin``: the token is dropped (the backend TTL is
  ``expires_in - margin`` too) and the next caller fetches a new one.
- in ``[refresh_from, use_until)`` the token is still handed out, and the first caller
  to notice wins a **non-blocking** lock and refreshes it; everyone else (and with
  ``background=True``, the default, the winner too) gets the current token at once — after
  warm-up no caller waits on ``gettoken``. The refresh runs in a daemon thread
  (``background=True``) or inline in the winning caller (``background=False``).
- Short lives are scaled down: the margin is at most half of ``expires_in``, the
  refresh window at most half of what is left.

Single flight when the token is missing: one caller takes the lock, re-reads the cache,
fetches and stores; the others poll the cache (5 ms doubling to 50 ms) until the value
appears, for at most ``wait_timeout`` seconds. If the winner's fetch fails, it leaves a
short-lived failure note so callers already waiting raise the same error instead of
each calling WeCom in turn.

The lock depends on the backend (chosen by class name, so Flask-Caching's subclasses and
cachelib's classes are both recognised):

==========================================  ===================================================
backend                                     lock
==========================================  ===================================================
Redis* / Memcached* (atomic add + TTL)      ``SET lock_key uuid NX EX lock_timeout`` (Redis) /
                                            ``backend.add(lock_key, uuid, timeout=…)`` (memcached)
                                            — holds across processes and hosts; released by
                                            the holder (get + compare + delete) or by its TTL
FileSystemCache (``add`` is not atomic)     ``fcntl.flock`` on ``wecom-lock-<hash>.__wz_cache``
                                            inside the cache directory (the suffix makes
                                            cachelib's prune/clear skip it); released by the
                                            kernel if the process dies. Without ``fcntl``:
                                            an ``O_EXCL`` lock file, stale after
                                            ``lock_timeout``
SimpleCache, NullCache, anything else       in-process ``threading.Lock`` (these backends are
                                            not shared between processes anyway)
==========================================  ===================================================

If the backend raises (Redis down), the manager logs a warning and falls back to an
in-process lock and to fetching without the cache rather than failing the request.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
import uuid
from typing import Any, Callable, Optional, Protocol, Union, runtime_checkable

from . import errors as _errors
from .errors import (
    ConfigError,
    CorpNotFoundError,
    NoSuiteTicketError,
    TransportError,
    WeComAPIError,
    WeComError,
)

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


__all__ = [
    "TokenManager",
    "TokenSource",
    "CorpTokenSource",
    "SuiteTokenSource",
    "ThirdPartyCorpTokenSource",
]

log = logging.getLogger(__name__)

#: seconds a failure note stays in the cache (only callers already waiting read it)
FAILURE_NOTE_TTL = 10
_POLL_START = 0.005
_POLL_MAX = 0.05

Fetch = Callable[[], "tuple[str, int]"]


# -- locks ------------------------------------------------------------------------------------


class _Held:
    """A lock that was acquired; ``release()`` is idempotent and may run in another thread."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release = release
        self._done = False
        self._guard = threading.Lock()

    def release(self) -> None:
        with self._guard:
            if self._done:
                return
            self._done = True
        try:
            self._release()
        except Exception:  # noqa: BLE001 - a lock we cannot release expires / dies with us
            log.warning("could not release a token lock", exc_info=True)


class _ThreadLocker:
    kind = "thread"

    def __init__(self) -> None:
        self._locks: dict = {}
        self._guard = threading.Lock()

    def try_lock(self, name: str) -> Optional[_Held]:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        if not lock.acquire(blocking=False):
            return None
        return _Held(lock.release)


class _CacheAddLocker:
    """An atomic add-with-TTL: ``SET key owner NX EX ttl`` on Redis, ``add`` on memcached.

    cachelib's (and so Flask-Caching's) ``RedisCache.add`` is ``SETNX`` followed by a separate
    ``EXPIRE``: a worker killed between the two would leave a lock without a TTL and every
    worker would then wait for a token forever. So on Redis the lock is taken with one ``SET``
    through the backend's own client, key prefix and serializer (``backend.get`` reads it back).
    """

    kind = "cache-add"

    def __init__(self, backend: Any, lock_timeout: float, fallback: _ThreadLocker) -> None:
        self.backend = backend
        self.lock_timeout = max(1, int(math.ceil(lock_timeout)))
        self.fallback = fallback

    def _add(self, key: str, owner: str) -> bool:
        client = getattr(self.backend, "_write_client", None)
        serializer = getattr(self.backend, "serializer", None)
        if client is None or serializer is None or not callable(getattr(client, "set", None)):
            return bool(self.backend.add(key, owner, timeout=self.lock_timeout))  # memcached: atomic
        get_prefix = getattr(self.backend, "_get_prefix", None)
        prefix = get_prefix() if callable(get_prefix) else (getattr(self.backend, "key_prefix", "") or "")
        value = serializer.dumps(owner)
        return bool(client.set(f"{prefix}{key}", value, nx=True, ex=self.lock_timeout))

    def try_lock(self, name: str) -> Optional[_Held]:
        key = f"lock|{name}"
        owner = uuid.uuid4().hex
        try:
            won = self._add(key, owner)
        except Exception as exc:  # noqa: BLE001 - cache down: degrade to this process only
            log.warning("token cache lock failed (%s); using an in-process lock", type(exc).__name__)
            return self.fallback.try_lock(name)
        if not won:
            return None

        def release() -> None:
            # Not atomic: if our lock expired and someone else took it in between we would
            # delete theirs; lock_timeout is far longer than a token fetch.
            if self.backend.get(key) == owner:
                self.backend.delete(key)

        return _Held(release)


class _FlockLocker:
    """``fcntl.flock`` on a file in the FileSystemCache directory (exclusive, non-blocking)."""

    kind = "flock"

    def __init__(self, directory: str, suffix: str) -> None:
        self.directory = directory
        self.suffix = suffix

    def path(self, name: str) -> str:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:20]
        return os.path.join(self.directory, f"wecom-lock-{digest}{self.suffix}")

    def try_lock(self, name: str) -> Optional[_Held]:
        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(self.path(name), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EWOULDBLOCK / EAGAIN: held by another fd (thread or process)
            os.close(fd)
            return None

        def release() -> None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

        return _Held(release)


class _ExclFileLocker(_FlockLocker):  # pragma: no cover - used where fcntl is missing
    """``O_CREAT | O_EXCL`` lock file; a file older than ``lock_timeout`` is taken over."""

    kind = "excl-file"

    def __init__(self, directory: str, suffix: str, lock_timeout: float) -> None:
        super().__init__(directory, suffix)
        self.lock_timeout = lock_timeout

    def try_lock(self, name: str) -> Optional[_Held]:
        os.makedirs(self.directory, exist_ok=True)
        path = self.path(name)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                try:
                    if time.time() - os.path.getmtime(path) > self.lock_timeout:
                        os.unlink(path)
                        continue
                except OSError:
                    continue
                return None
            os.close(fd)

            def release(path: str = path) -> None:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

            return _Held(release)
        return None


def _class_names(backend: Any) -> set:
    return {cls.__name__ for cls in type(backend).__mro__}


def _make_locker(backend: Any, lock_timeout: float, threads: _ThreadLocker) -> Any:
    names = _class_names(backend)
    if "FileSystemCache" in names and isinstance(getattr(backend, "_path", None), str):
        suffix = getattr(backend, "_fs_transaction_suffix", ".__wz_cache")
        if fcntl is not None:
            return _FlockLocker(backend._path, suffix)
        return _ExclFileLocker(backend._path, suffix, lock_timeout)  # pragma: no cover
    if names & {"SimpleCache", "NullCache"}:
        return threads
    if any("redis" in n.lower() or "memcache" in n.lower() for n in names):
        return _CacheAddLocker(backend, lock_timeout, threads)
    return threads


# -- the manager -------------------------------------------------------------------------------


class TokenManager:
    """Cache of WeCom access tokens; see the module docstring.

    ``backend``: a cachelib ``BaseCache`` (e.g. ``Cache.cache`` of Flask-Caching).
    ``margin``: seconds before WeCom's expiry at which a token is dropped.
    ``refresh_ahead``: length of the window before that point in which one caller refreshes.
    ``lock_timeout``: TTL of a cache (``add``) lock. ``wait_timeout``: how long a caller
    waits for another worker's fetch. ``clock``: wall clock (inject one in tests).
    ``background``: refresh ahead in a daemon thread (True) or in the winning caller.
    """

    def __init__(
        self,
        backend: Any,
        *,
        margin: float = 300,
        refresh_ahead: float = 600,
        lock_timeout: float = 30,
        wait_timeout: float = 30,
        clock: Callable[[], float] = time.time,
        background: bool = True,
    ) -> None:
        self.backend = backend
        self.margin = float(margin)
        self.refresh_ahead = float(refresh_ahead)
        self.lock_timeout = float(lock_timeout)
        self.wait_timeout = float(wait_timeout)
        self.clock = clock
        self.background = background
        self._threads = _ThreadLocker()
        self._locker = _make_locker(backend, lock_timeout, self._threads)
        self._bg: list = []
        self._bg_guard = threading.Lock()

    def __repr__(self) -> str:
        return f"<TokenManager {type(self.backend).__name__} lock={self._locker.kind}>"

    @property
    def lock_kind(self) -> str:
        """``"cache-add"``, ``"flock"``, ``"excl-file"`` or ``"thread"``."""
        return self._locker.kind

    # keys
    @staticmethod
    def _key(kind: str, owner: str) -> str:
        return f"token|{kind}|{owner}"

    @staticmethod
    def _failure_key(kind: str, owner: str) -> str:
        return f"tokenfail|{kind}|{owner}"

    # backend access that never raises
    def _read(self, key: str) -> Any:
        try:
            return self.backend.get(key)
        except Exception as exc:  # noqa: BLE001
            log.warning("token cache read failed (%s); treating it as a miss", type(exc).__name__)
            return None

    def _write(self, key: str, value: Any, ttl: int) -> None:
        try:
            self.backend.set(key, value, timeout=ttl)
        except Exception as exc:  # noqa: BLE001
            log.warning("token cache write failed (%s); the token is used uncached", type(exc).__name__)

    def _entry(self, key: str) -> Optional[dict]:
        entry = self._read(key)
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("token"), str)
            and entry["token"]
            and isinstance(entry.get("expires_at"), (int, float))
            and isinstance(entry.get("fetched_at"), (int, float))
        ):
            return entry
        return None

    def _bounds(self, entry: dict) -> tuple[float, float]:
        """(refresh_from, use_until) of an entry."""
        fetched_at, expires_at = float(entry["fetched_at"]), float(entry["expires_at"])
        life = max(0.0, expires_at - fetched_at)
        use_until = expires_at - min(self.margin, life / 2)
        window = min(self.refresh_ahead, max(0.0, use_until - fetched_at) / 2)
        return use_until - window, use_until

    # public API
    def get(self, kind: str, owner: str, fetch: Fetch) -> str:
        """The cached token of (*kind*, *owner*), fetched with ``fetch() -> (token, expires_in)``."""
        key = self._key(kind, owner)
        entry = self._entry(key)
        if entry is not None:
            refresh_from, use_until = self._bounds(entry)
            now = self.clock()
            if now < refresh_from:
                return entry["token"]
            if now < use_until:
                fresh = self._refresh_ahead(kind, owner, key, entry, fetch)
                return fresh or entry["token"]
        return self._get_cold(kind, owner, key, fetch)

    def peek(self, kind: str, owner: str) -> Optional[dict]:
        """``{"expires_at", "fetched_at"}`` of the cached token (never the token), or None."""
        entry = self._entry(self._key(kind, owner))
        if entry is None:
            return None
        return {"expires_at": entry["expires_at"], "fetched_at": entry["fetched_at"]}

    def invalidate(self, kind: str, owner: str, stale: Optional[str] = None) -> None:
        """Drop the cached token; with *stale*, only if the cached one is still *stale*.

        The stale check lets N callers that saw the same rejected token drop it once,
        without throwing away the fresh token the first of them already fetched. (It is a
        read-compare-delete, not atomic: in the worst case one extra fetch happens.)
        """
        key = self._key(kind, owner)
        if stale is not None:
            entry = self._entry(key)
            if entry is None or entry["token"] != stale:
                return
        try:
            self.backend.delete(key)
        except Exception as exc:  # noqa: BLE001
            log.warning("token cache delete failed (%s)", type(exc).__name__)

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait for background refreshes started so far (tests, orderly shutdown)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._bg_guard:
            threads = list(self._bg)
        for thread in threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        with self._bg_guard:
            self._bg = [t for t in self._bg if t.is_alive()]

    # internals
    def _store(self, key: str, token: Any, expires_in: Any, fetched_at: float) -> str:
        if not isinstance(token, str) or not token:
            raise TransportError("WeCom answered without a token")
        try:
            life = max(1, int(expires_in))
        except (TypeError, ValueError, OverflowError):
            raise TransportError("WeCom answered without a usable expires_in") from None
        entry = {"token": token, "expires_at": fetched_at + life, "fetched_at": fetched_at}
        _, use_until = self._bounds(entry)
        self._write(key, entry, max(1, int(math.ceil(use_until - fetched_at))))
        return token

    def _fetch_and_store(self, kind: str, owner: str, key: str, fetch: Fetch) -> str:
        started = self.clock()
        try:
            token, expires_in = fetch()
            return self._store(key, token, expires_in, started)
        except BaseException as exc:
            self._note_failure(kind, owner, exc)
            raise

    def _note_failure(self, kind: str, owner: str, exc: BaseException) -> None:
        if isinstance(exc, WeComAPIError):
            note = {"type": "WeComAPIError", "errcode": exc.errcode, "errmsg": exc.errmsg,
                    "hint": exc.hint, "path": exc.path}
        elif isinstance(exc, WeComError):
            note = {"type": type(exc).__name__, "message": exc.message, "code": exc.code}
        elif isinstance(exc, Exception):
            message = f"token fetch failed in another worker ({type(exc).__name__})"
            note = {"type": "WeComError", "message": message, "code": None}
        else:  # KeyboardInterrupt / SystemExit: nothing to tell the others
            return
        note["at"] = time.time()
        self._write(self._failure_key(kind, owner), note, FAILURE_NOTE_TTL)

    def _raise_if_failed_since(self, kind: str, owner: str, since: float) -> None:
        note = self._read(self._failure_key(kind, owner))
        if isinstance(note, dict) and float(note.get("at", 0)) >= since:
            self._raise_note(note)

    @staticmethod
    def _raise_note(note: dict) -> None:
        if note.get("type") == "WeComAPIError":
            raise WeComAPIError(note.get("errcode", 0), note.get("errmsg", ""), note.get("hint", ""),
                                path=note.get("path", ""))
        cls = getattr(_errors, str(note.get("type")), None)
        if not (isinstance(cls, type) and issubclass(cls, WeComError)) or cls is WeComAPIError:
            cls = WeComError
        raise cls(note.get("message"), code=note.get("code"))

    def _get_cold(self, kind: str, owner: str, key: str, fetch: Fetch) -> str:
        name = f"{kind}|{owner}"
        waiting_since = time.time()
        deadline = time.monotonic() + self.wait_timeout
        delay = _POLL_START
        while True:
            held = self._locker.try_lock(name)
            if held is not None:
                try:
                    entry = self._entry(key)  # filled while we were getting the lock?
                    if entry is not None and self.clock() < self._bounds(entry)[1]:
                        return entry["token"]
                    self._raise_if_failed_since(kind, owner, waiting_since)  # failed while we waited?
                    return self._fetch_and_store(kind, owner, key, fetch)
                finally:
                    held.release()
            entry = self._entry(key)
            if entry is not None and self.clock() < self._bounds(entry)[1]:
                return entry["token"]
            self._raise_if_failed_since(kind, owner, waiting_since)
            if time.monotonic() >= deadline:
                raise TransportError(
                    f"gave up after {self.wait_timeout:.0f}s waiting for another worker to fetch the "
                    f"{kind} token of {owner}"
                )
            time.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)

    def _refresh_ahead(self, kind: str, owner: str, key: str, entry: dict, fetch: Fetch) -> Optional[str]:
        """Refresh a still-valid token; returns the new token when refreshed inline."""
        held = self._locker.try_lock(f"{kind}|{owner}")
        if held is None:  # somebody else is refreshing; the current token is still valid
            return None
        seen = entry["fetched_at"]

        def refresh() -> Optional[str]:
            try:
                current = self._entry(key)
                if current is not None and current["fetched_at"] != seen:
                    return current["token"]  # refreshed by someone else meanwhile
                return self._fetch_and_store(kind, owner, key, fetch)
            except Exception as exc:  # noqa: BLE001 - the current token stays usable
                log.warning("refreshing the %s token of %s ahead of expiry failed: %s", kind, owner,
                            exc if isinstance(exc, WeComError) else type(exc).__name__)
                return None
            finally:
                held.release()

        if not self.background:
            return refresh()
        thread = threading.Thread(target=refresh, name=f"wecom-token-refresh-{kind}", daemon=True)
        with self._bg_guard:
            self._bg = [t for t in self._bg if t.is_alive()]
            self._bg.append(thread)
        thread.start()
        return None


# -- token sources -------------------------------------------------------------------------------


@runtime_checkable
class TokenSource(Protocol):
    """What :meth:`WeComClient.call` needs to authenticate a request."""

    #: query parameter that carries the token
    param: str
    #: errcodes meaning "this token is no longer valid": drop it and retry once
    expired_codes: frozenset

    def get(self) -> str: ...

    def invalidate(self, stale: Optional[str] = None) -> None: ...


Secret = Union[str, Callable[[], Optional[str]]]


def _resolve(value: Secret) -> Optional[str]:
    return value() if callable(value) else value


class _ManagedSource:
    kind = ""
    param = "access_token"
    expired_codes: frozenset = frozenset()

    def __init__(self, client: Any, manager: TokenManager) -> None:
        self.client = client
        self.manager = manager

    @property
    def owner(self) -> str:
        raise NotImplementedError

    def get(self) -> str:
        return self.manager.get(self.kind, self.owner, self._fetch)

    def invalidate(self, stale: Optional[str] = None) -> None:
        self.manager.invalidate(self.kind, self.owner, stale)

    def peek(self) -> Optional[dict]:
        return self.manager.peek(self.kind, self.owner)

    def _fetch(self) -> tuple[str, int]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}|{self.owner}>"


def _pick(data: dict, field: str, path: str) -> tuple[str, int]:
    token = data.get(field)
    if not isinstance(token, str) or not token:
        raise TransportError(f"WeCom answered {path} without {field}")
    try:
        expires_in = int(data.get("expires_in", 7200))
    except (TypeError, ValueError, OverflowError):
        raise TransportError(f"WeCom answered {path} with an unusable expires_in") from None
    return token, expires_in


class CorpTokenSource(_ManagedSource):
    """Corp access_token from ``gettoken`` (自建: app secret; 代开发: secret = permanent_code).

    Cached per (corp id, agent id) — one app, one token (§6). Without ``agent_id`` the
    owner is ``"<corp_id>|-"``: give the agent id when one corp has several apps.
    """

    kind = "corp"
    param = "access_token"
    expired_codes = frozenset({40014, 42001})

    def __init__(self, client: Any, manager: TokenManager, corp_id: str, secret: Secret,
                 agent_id: Union[int, str, None] = None) -> None:
        super().__init__(client, manager)
        if not corp_id:
            raise ConfigError("CorpTokenSource needs a corp id (WECOM_CORP_ID)")
        self.corp_id = corp_id
        self.agent_id = agent_id
        self._secret = secret

    @property
    def owner(self) -> str:
        return f"{self.corp_id}|{'-' if self.agent_id in (None, '') else self.agent_id}"

    def _fetch(self) -> tuple[str, int]:
        secret = _resolve(self._secret)
        if not secret:
            raise CorpNotFoundError(f"no secret / permanent code for corp {self.corp_id} (WECOM_SECRET)")
        return _pick(self.client.get_token(self.corp_id, secret), "access_token", "/cgi-bin/gettoken")


class SuiteTokenSource(_ManagedSource):
    """suite_access_token of a 代开发 template (``dk…``) or third-party suite (§3.1)."""

    kind = "suite"
    param = "suite_access_token"
    # §6 / §7: 40082 不合法的suite_token, 42009 suite_access_token已过期. 40014 is documented for
    # access_token only, so it is not treated as a suite-token expiry.
    expired_codes = frozenset({40082, 42009})

    def __init__(self, client: Any, manager: TokenManager, suite_id: str, suite_secret: Secret,
                 ticket: Callable[[], Optional[str]]) -> None:
        super().__init__(client, manager)
        if not suite_id:
            raise ConfigError("SuiteTokenSource needs a suite id (WECOM_SUITE_ID)")
        self.suite_id = suite_id
        self._suite_secret = suite_secret
        self._ticket = ticket

    @property
    def owner(self) -> str:
        return self.suite_id

    def _fetch(self) -> tuple[str, int]:
        ticket = self._ticket()
        if not ticket:
            raise NoSuiteTicketError()
        secret = _resolve(self._suite_secret)
        if not secret:
            raise ConfigError("WECOM_SUITE_SECRET is not set")
        data = self.client.get_suite_token(self.suite_id, secret, ticket)
        return _pick(data, "suite_access_token", "/cgi-bin/service/get_suite_token")


class ThirdPartyCorpTokenSource(_ManagedSource):
    """Corp access_token of a third-party app via ``get_corp_token`` (§3.5; not for 代开发).

    Cached per (corp id, agent id) under kind ``corp_3rd``. ``suite`` may be ``None`` for a
    source used only to :meth:`peek` / :meth:`invalidate` (fetching then raises ConfigError).
    """

    kind = "corp_3rd"
    param = "access_token"
    expired_codes = frozenset({40014, 42001})

    def __init__(self, client: Any, manager: TokenManager, suite: Optional[SuiteTokenSource], corp_id: str,
                 permanent_code: Secret, agent_id: Union[int, str, None] = None) -> None:
        super().__init__(client, manager)
        if not corp_id:
            raise ConfigError("ThirdPartyCorpTokenSource needs the authorizing corp id")
        self.suite = suite
        self.corp_id = corp_id
        self.agent_id = agent_id
        self._permanent_code = permanent_code

    @property
    def owner(self) -> str:
        return f"{self.corp_id}|{'-' if self.agent_id in (None, '') else self.agent_id}"

    def _fetch(self) -> tuple[str, int]:
        if self.suite is None:
            raise ConfigError("a suite token source is needed to fetch a third-party corp token "
                              "(WECOM_SUITE_ID / WECOM_SUITE_SECRET)")
        code = _resolve(self._permanent_code)
        if not code:
            raise CorpNotFoundError(f"no permanent code stored for corp {self.corp_id}")
        data = self.client.get_corp_token(self.suite, self.corp_id, code)
        return _pick(data, "access_token", "/cgi-bin/service/get_corp_token")
