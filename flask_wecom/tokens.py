"""Access-token cache with single-flight refresh across threads and processes (framework-free).

:class:`TokenManager` keeps tokens in a cachelib ``BaseCache`` backend — Flask-Caching's
backends are subclasses of cachelib's, so ``cache.cache`` of a Flask-Caching ``Cache``
works as is. Entries live under ``token|<kind>|<owner>`` (the backend adds its own key
prefix); *owner* is a corp id + agent id or a suite id, **never a secret**. The value is
``{"token", "expires_at", "fetched_at"}`` where ``expires_at`` is WeCom's expiry
(``fetched_at + expires_in``; ``fetched_at`` is taken *before* the request).

Life of a token (doc 91039: cache it, 7200 s, never call gettoken often)::

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

The backend is wrapped in a :class:`~flask_wecom.cacheguard.GuardedCache`: a backend that
raises (Redis down or frozen past its 0.5 s timeouts, a cache directory that is gone) opens a
per-process circuit breaker, and until a probe succeeds the manager uses an in-process lock and
an in-process copy of its entries — an outage costs at most one fetch per process per token
lifetime, and no request waits on the backend more than once per cool-down.

**Remembered failures** (WeCom bans an IP that keeps sending a wrong secret, document 90313,
40001 help; rate limits block a whole window, document 90454). When a fetch fails with one of
:data:`CREDENTIAL_ERRCODES` the answer is remembered in the cache under
``tokenblock|<kind>|<owner>`` for 60 s, doubling on each repeat up to 30 min; with
:data:`RATE_LIMIT_ERRCODES` (45009) for 60 s, doubling up to the 60 min of an hourly block. While
it is remembered, every worker on every host raises the same :class:`WeComAPIError` at once
instead of asking WeCom. A credential failure carries a salted hash of the credential it was
seen with, so a new secret / permanent code / suite ticket is tried at once; a successful fetch,
:meth:`TokenManager.unblock` (``flask wecom unblock``) and storing a new permanent code clear it.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
import uuid
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Protocol, Set, Union, cast, runtime_checkable

from . import errors as _errors
from .cacheguard import CacheUnavailable, GuardedCache
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
    "PinnedToken",
]

log = logging.getLogger(__name__)

#: seconds a failure note stays in the cache (only callers already waiting read it)
FAILURE_NOTE_TTL = 10

#: errcodes of a token fetch (gettoken, get_suite_token, get_corp_token, get_provider_token) that
#: mean "these credentials are wrong": asking again with the same ones cannot succeed, and a wrong
#: secret sent again and again gets the server's IP blocked (document 90313, 40001 help). Titles
#: from document 90313: 40001 不合法的secret参数 (wrong or reset secret, or the app is disabled),
#: 40013 不合法的CorpID, 40091 secret不合法 (another corp's secret), 40080 不合法的suite_secret,
#: 40083 不合法的suite_id, 40084 不合法的permanent_code, 40085 不合法的suite_ticket, 40082
#: 不合法的suite_token (a provider/suite credential refused by get_suite_token /
#: get_provider_token), 48002 API接口无权限调用, 48004 授权关系无效 (authorization cancelled),
#: 41002 / 41004 / 41025 缺少corpid / secret / permanent_code. Left out on purpose: -1 (busy,
#: retried), 40014 / 42001 / 42009 (an expired token, not a credential), 60020 (IP whitelist: an
#: admin fixes it in the console and it applies within a minute).
CREDENTIAL_ERRCODES = frozenset({40001, 40013, 40091, 40080, 40083, 40084, 40085, 40082, 48002, 48004,
                                 41002, 41004, 41025})
#: 45009 接口调用超过限制: a per-minute limit blocks 60 s, an hourly one 60 min (document 90454)
RATE_LIMIT_ERRCODES = frozenset({45009})
#: first block after a remembered failure, and the longest ones
BLOCK_FIRST = 60.0
BLOCK_MAX_CREDENTIAL = 30 * 60.0
BLOCK_MAX_RATE_LIMIT = 60 * 60.0
_POLL_START = 0.005
_POLL_MAX = 0.05

Fetch = Callable[[], "tuple[str, int]"]
Credential = Callable[[], Optional[str]]


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
        self._locks: Dict[str, Any] = {}
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

    def __init__(self, guard: GuardedCache, lock_timeout: float, fallback: _ThreadLocker) -> None:
        self.guard = guard
        self.backend = guard.inner
        self.lock_timeout = max(1, math.ceil(lock_timeout))
        self.fallback = fallback

    def _add(self, backend: Any, key: str, owner: str) -> bool:
        client = getattr(backend, "_write_client", None)
        serializer = getattr(backend, "serializer", None)
        if client is None or serializer is None or not callable(getattr(client, "set", None)):
            return bool(backend.add(key, owner, timeout=self.lock_timeout))  # memcached: atomic
        get_prefix = getattr(backend, "_get_prefix", None)
        prefix = get_prefix() if callable(get_prefix) else (getattr(backend, "key_prefix", "") or "")
        value = serializer.dumps(owner)
        return bool(client.set(f"{prefix}{key}", value, nx=True, ex=self.lock_timeout))

    def try_lock(self, name: str) -> Optional[_Held]:
        key = f"lock|{name}"
        owner = uuid.uuid4().hex
        try:
            won = self.guard.run("lock", lambda backend: self._add(backend, key, owner))
        except CacheUnavailable:  # cache down or skipped: degrade to this process only
            return self.fallback.try_lock(name)
        if not won:
            return None

        def release() -> None:
            # Not atomic: if our lock expired and someone else took it in between we would
            # delete theirs; lock_timeout is far longer than a token fetch. A cache that went
            # away meanwhile lets the lock expire by its TTL.
            def drop(backend: Any) -> None:
                if backend.get(key) == owner:
                    backend.delete(key)

            try:
                self.guard.run("unlock", drop)
            except CacheUnavailable:
                pass

        return _Held(release)


class _FlockLocker:
    """``fcntl.flock`` on a file in the FileSystemCache directory (exclusive, non-blocking)."""

    kind = "flock"

    def __init__(self, directory: str, suffix: str, guard: Optional[GuardedCache] = None,
                 fallback: Optional[_ThreadLocker] = None) -> None:
        self.directory = directory
        self.suffix = suffix
        self.guard = guard
        self.fallback = fallback or _ThreadLocker()

    def path(self, name: str) -> str:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:20]
        return os.path.join(self.directory, f"wecom-lock-{digest}{self.suffix}")

    def try_lock(self, name: str) -> Optional[_Held]:
        """The file lock; a cache directory that is gone or broken degrades to an in-process lock."""
        if self.guard is not None and not self.guard.usable():
            return self.fallback.try_lock(name)
        try:
            return self._try_file_lock(name)
        except OSError as exc:  # not a directory, read-only, disk full…: the disk is failing
            if self.guard is not None:
                self.guard.failed(f"lock file: {type(exc).__name__}")
            else:
                log.warning("token lock file failed (%s); using an in-process lock", type(exc).__name__)
            return self.fallback.try_lock(name)

    def _try_file_lock(self, name: str) -> Optional[_Held]:
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

    def __init__(self, directory: str, suffix: str, lock_timeout: float, guard: Optional[GuardedCache] = None,
                 fallback: Optional[_ThreadLocker] = None) -> None:
        super().__init__(directory, suffix, guard, fallback)
        self.lock_timeout = lock_timeout

    def _try_file_lock(self, name: str) -> Optional[_Held]:
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


def _class_names(backend: Any) -> Set[str]:
    return {cls.__name__ for cls in type(backend).__mro__}


def _make_locker(guard: GuardedCache, lock_timeout: float, threads: _ThreadLocker) -> Any:
    backend = guard.inner
    names = _class_names(backend)
    if "FileSystemCache" in names and isinstance(getattr(backend, "_path", None), str):
        suffix = getattr(backend, "_fs_transaction_suffix", ".__wz_cache")
        if fcntl is not None:
            return _FlockLocker(backend._path, suffix, guard, threads)
        return _ExclFileLocker(backend._path, suffix, lock_timeout, guard, threads)  # pragma: no cover
    if names & {"SimpleCache", "NullCache"}:
        return threads
    if any("redis" in n.lower() or "memcache" in n.lower() for n in names):
        return _CacheAddLocker(guard, lock_timeout, threads)
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
    ``backend`` may already be a :class:`~flask_wecom.cacheguard.GuardedCache` (shared with
    the login views); any other backend is wrapped in one. ``cache`` is the guarded cache,
    ``backend`` the real one.
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
        self.cache = backend if isinstance(backend, GuardedCache) else GuardedCache(backend)
        self.backend = self.cache.inner
        self.margin = float(margin)
        self.refresh_ahead = float(refresh_ahead)
        self.lock_timeout = float(lock_timeout)
        self.wait_timeout = float(wait_timeout)
        self.clock = clock
        self.background = background
        self._threads = _ThreadLocker()
        self._locker = _make_locker(self.cache, lock_timeout, self._threads)
        self._bg: List[threading.Thread] = []
        self._bg_guard = threading.Lock()

    def __repr__(self) -> str:
        return f"<TokenManager {type(self.backend).__name__} lock={self._locker.kind}>"

    @property
    def lock_kind(self) -> str:
        """``"cache-add"``, ``"flock"``, ``"excl-file"`` or ``"thread"``."""
        kind: str = self._locker.kind
        return kind

    # keys
    @staticmethod
    def _key(kind: str, owner: str) -> str:
        return f"token|{kind}|{owner}"

    @staticmethod
    def _failure_key(kind: str, owner: str) -> str:
        return f"tokenfail|{kind}|{owner}"

    @staticmethod
    def _block_key(kind: str, owner: str) -> str:
        return f"tokenblock|{kind}|{owner}"

    # cache access that never raises (the guard skips a failing backend and answers from memory)
    def _read(self, key: str) -> Any:
        return self.cache.get(key)

    def _write(self, key: str, value: Any, ttl: int) -> None:
        self.cache.set(key, value, timeout=ttl)

    def _entry(self, key: str) -> Optional[Dict[str, Any]]:
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

    def _bounds(self, entry: Dict[str, Any]) -> tuple[float, float]:
        """(refresh_from, use_until) of an entry."""
        fetched_at, expires_at = float(entry["fetched_at"]), float(entry["expires_at"])
        life = max(0.0, expires_at - fetched_at)
        use_until = expires_at - min(self.margin, life / 2)
        window = min(self.refresh_ahead, max(0.0, use_until - fetched_at) / 2)
        return use_until - window, use_until

    # public API
    def get(self, kind: str, owner: str, fetch: Fetch, credential: Optional[Credential] = None) -> str:
        """The cached token of (*kind*, *owner*), fetched with ``fetch() -> (token, expires_in)``.

        ``credential()`` returns what the fetch authenticates with (secret, permanent code…); it
        is only called when a remembered failure exists, to tell whether it was the same one.
        """
        key = self._key(kind, owner)
        entry = self._entry(key)
        if entry is not None:
            refresh_from, use_until = self._bounds(entry)
            now = self.clock()
            if now < use_until:
                self.cache.remember(key, entry, use_until - now)  # this process's copy for an outage
            if now < refresh_from:
                return cast(str, entry["token"])  # _entry() checked it is a non-empty str
            if now < use_until:
                fresh = self._refresh_ahead(kind, owner, key, entry, fetch, credential)
                return fresh or cast(str, entry["token"])
        self.raise_if_blocked(kind, owner, credential)
        return self._get_cold(kind, owner, key, fetch, credential)

    def peek(self, kind: str, owner: str) -> Optional[Dict[str, Any]]:
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
                mine = self.cache.local.get(key)  # this process's copy may still be the stale one
                if isinstance(mine, dict) and mine.get("token") == stale:
                    self.cache.local.delete(key)
                return
        self.cache.delete(key)

    # remembered failures (module docstring)
    def blocked(self, kind: str, owner: str, credential: Optional[Credential] = None) -> Optional[Dict[str, Any]]:
        """The remembered failure that stops a fetch of (*kind*, *owner*) now, or None.

        ``{"errcode", "errmsg", "path", "until", "strikes", …}`` — never a secret. A credential
        failure seen with another credential than ``credential()`` returns now does not count.
        """
        record = self._read(self._block_key(kind, owner))
        if not isinstance(record, dict) or self.clock() >= float(record.get("until", 0)):
            return None
        fingerprint = record.get("fp")
        if fingerprint and credential is not None:
            try:
                current = credential()
            except Exception:  # noqa: BLE001 - no credential now: the fetch will say why
                current = None
            if current and _fingerprint(str(record.get("salt", "")), current) != fingerprint:
                return None
        return record

    def raise_if_blocked(self, kind: str, owner: str, credential: Optional[Credential] = None) -> None:
        """Raise the remembered :class:`WeComAPIError` while (*kind*, *owner*) must not be fetched."""
        record = self.blocked(kind, owner, credential)
        if record is not None:
            raise _blocked_error(record, self.clock())

    def unblock(self, kind: str, owner: str) -> bool:
        """Forget a remembered failure of (*kind*, *owner*); True if there was one."""
        key = self._block_key(kind, owner)
        found = isinstance(self._read(key), dict)
        self.cache.delete(key)
        self.cache.delete(self._failure_key(kind, owner))
        return found

    def remember_failure(self, kind: str, owner: str, exc: BaseException,
                         credential: Optional[Credential] = None) -> bool:
        """Remember a failed fetch made outside :meth:`get` (the doctor's fresh fetches) like one made
        inside; True when ``exc`` is one of the remembered errcodes (and not itself a remembered one)."""
        if (not isinstance(exc, WeComAPIError) or getattr(exc, "remembered_until", None)
                or not _remembered(kind, exc.errcode)):
            return False
        self._remember_block(kind, owner, exc, credential)
        return True

    def _remember_block(self, kind: str, owner: str, exc: WeComAPIError,
                        credential: Optional[Credential]) -> None:
        rate_limited = exc.errcode in RATE_LIMIT_ERRCODES
        key = self._block_key(kind, owner)
        prior = self._read(key)
        strikes = (int(prior.get("strikes", 0)) if isinstance(prior, dict) else 0) + 1
        longest = BLOCK_MAX_RATE_LIMIT if rate_limited else BLOCK_MAX_CREDENTIAL
        duration = min(BLOCK_FIRST * (2 ** min(strikes - 1, 16)), longest)
        now = self.clock()
        record = {"errcode": exc.errcode, "errmsg": exc.errmsg, "hint": exc.hint, "path": exc.path,
                  "at": now, "until": now + duration, "strikes": strikes, "kind": kind, "owner": owner}
        if not rate_limited and credential is not None:
            try:
                current = credential()
            except Exception:  # noqa: BLE001
                current = None
            if current:
                record["salt"] = uuid.uuid4().hex[:16]
                record["fp"] = _fingerprint(record["salt"], current)
        # Kept past `until` (for `longest`) so that a failure right after the block doubles it.
        self._write(key, record, math.ceil(duration + longest))
        log.warning("%s token of %s: WeCom answered errcode %s; not asking again for %.0f s (strike %d)%s",
                    kind, owner, exc.errcode, duration, strikes,
                    "" if rate_limited else " — fix the credential, then `flask wecom unblock`")

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
        self._write(key, entry, max(1, math.ceil(use_until - fetched_at)))
        return token

    def _fetch_and_store(self, kind: str, owner: str, key: str, fetch: Fetch,
                         credential: Optional[Credential] = None) -> str:
        started = self.clock()
        try:
            token, expires_in = fetch()
            stored = self._store(key, token, expires_in, started)
        except BaseException as exc:
            if isinstance(exc, WeComAPIError) and _remembered(kind, exc.errcode):
                self._remember_block(kind, owner, exc, credential)
            self._note_failure(kind, owner, exc)
            raise
        self.cache.delete(self._block_key(kind, owner))  # it works again: start the backoff afresh
        return stored

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
    def _raise_note(note: Dict[str, Any]) -> None:
        if note.get("type") == "WeComAPIError":
            raise WeComAPIError(note.get("errcode", 0), note.get("errmsg", ""), note.get("hint", ""),
                                path=note.get("path", ""))
        cls = getattr(_errors, str(note.get("type")), None)
        if not (isinstance(cls, type) and issubclass(cls, WeComError)) or cls is WeComAPIError:
            cls = WeComError
        raise cls(note.get("message"), code=note.get("code"))

    def _get_cold(self, kind: str, owner: str, key: str, fetch: Fetch,
                  credential: Optional[Credential] = None) -> str:
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
                        return cast(str, entry["token"])
                    self._raise_if_failed_since(kind, owner, waiting_since)  # failed while we waited?
                    return self._fetch_and_store(kind, owner, key, fetch, credential)
                finally:
                    held.release()
            entry = self._entry(key)
            if entry is not None and self.clock() < self._bounds(entry)[1]:
                return cast(str, entry["token"])
            self._raise_if_failed_since(kind, owner, waiting_since)
            if time.monotonic() >= deadline:
                raise TransportError(
                    f"gave up after {self.wait_timeout:.0f}s waiting for another worker to fetch the "
                    f"{kind} token of {owner}"
                )
            time.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)

    def _refresh_ahead(self, kind: str, owner: str, key: str, entry: Dict[str, Any], fetch: Fetch,
                       credential: Optional[Credential] = None) -> Optional[str]:
        """Refresh a still-valid token; returns the new token when refreshed inline."""
        if self.blocked(kind, owner, credential) is not None:  # keep using the current token
            return None
        held = self._locker.try_lock(f"{kind}|{owner}")
        if held is None:  # somebody else is refreshing; the current token is still valid
            return None
        seen = entry["fetched_at"]

        def refresh() -> Optional[str]:
            try:
                current = self._entry(key)
                if current is not None and current["fetched_at"] != seen:
                    return cast(str, current["token"])  # refreshed by someone else meanwhile
                return self._fetch_and_store(kind, owner, key, fetch, credential)
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


def _fingerprint(salt: str, credential: str) -> str:
    """A salted hash that tells whether a credential changed, and never reveals it."""
    return hashlib.sha256(f"{salt}\0{credential}".encode()).hexdigest()[:32]


def _remembered(kind: str, errcode: int) -> bool:
    if errcode in RATE_LIMIT_ERRCODES:
        return True
    if kind == "corp_3rd" and errcode == 40082:  # the suite token of get_corp_token: retried by the client
        return False
    return errcode in CREDENTIAL_ERRCODES


def _blocked_error(record: Dict[str, Any], now: float) -> WeComAPIError:
    """The remembered answer as the same :class:`WeComAPIError`, saying until when it stands."""
    left = max(1, math.ceil(float(record.get("until", now)) - now))
    until = time.strftime("%H:%M:%S", time.localtime(float(record.get("until", now))))
    if int(record.get("errcode", 0)) in RATE_LIMIT_ERRCODES:
        note = (f"（频率拦截期间不再请求，{left} 秒后（{until}）再试 / WeCom's rate-limit block lasts its whole "
                f"window: not asked again for {left} s, until {until})")
    else:
        note = (f"（已记住此错误：{until} 前（{left} 秒）不再用同一凭证请求企业微信，以免服务器 IP 被封禁；"
                f"修正凭证后自动重试，或运行 `flask wecom unblock` / remembered: the same credential is not "
                f"sent to WeCom again for {left} s (until {until}) so that WeCom does not block this server's "
                f"IP; a new secret is tried at once, or run `flask wecom unblock`)")
    hint = str(record.get("hint") or "")
    error = WeComAPIError(int(record.get("errcode", 0)), str(record.get("errmsg") or ""),
                          f"{hint} {note}" if hint else note, path=str(record.get("path") or ""))
    error.remembered_until = float(record.get("until", now))  # type: ignore[attr-defined]
    return error


# -- token sources -------------------------------------------------------------------------------


@runtime_checkable
class TokenSource(Protocol):
    """What :meth:`WeComClient.call` needs to authenticate a request."""

    #: query parameter that carries the token
    param: str
    #: errcodes meaning "this token is no longer valid": drop it and retry once
    expired_codes: FrozenSet[int]

    def get(self) -> str: ...

    def invalidate(self, stale: Optional[str] = None) -> None: ...


Secret = Union[str, Callable[[], Optional[str]]]


def _resolve(value: Secret) -> Optional[str]:
    return value() if callable(value) else value


class _ManagedSource:
    kind = ""
    param = "access_token"
    expired_codes: FrozenSet[int] = frozenset()

    def __init__(self, client: Any, manager: TokenManager) -> None:
        self.client = client
        self.manager = manager

    @property
    def owner(self) -> str:
        raise NotImplementedError

    def get(self) -> str:
        return self.manager.get(self.kind, self.owner, self._fetch, self._credential)

    def invalidate(self, stale: Optional[str] = None) -> None:
        self.manager.invalidate(self.kind, self.owner, stale)

    def blocked(self) -> Optional[Dict[str, Any]]:
        """The remembered failure that stops fetching this token now (see :class:`TokenManager`), or None."""
        return self.manager.blocked(self.kind, self.owner, self._credential)

    def raise_if_blocked(self) -> None:
        self.manager.raise_if_blocked(self.kind, self.owner, self._credential)

    def unblock(self) -> bool:
        return self.manager.unblock(self.kind, self.owner)

    def remember_failure(self, exc: BaseException) -> bool:
        """Remember a failed fetch of this token made without :meth:`get` (see TokenManager.remember_failure)."""
        return self.manager.remember_failure(self.kind, self.owner, exc, self._credential)

    def _credential(self) -> Optional[str]:
        """What the fetch authenticates with (hashed with a salt in a remembered failure, never stored)."""
        return None

    def peek(self) -> Optional[Dict[str, Any]]:
        return self.manager.peek(self.kind, self.owner)

    def _fetch(self) -> tuple[str, int]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}|{self.owner}>"


def _pick(data: Dict[str, Any], field: str, path: str) -> tuple[str, int]:
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

    Cached per (corp id, agent id) — one app, one token (doc 91039). Without ``agent_id`` the
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

    def _credential(self) -> Optional[str]:
        return _resolve(self._secret)

    def _fetch(self) -> tuple[str, int]:
        secret = _resolve(self._secret)
        if not secret:
            raise CorpNotFoundError(f"no secret / permanent code for corp {self.corp_id} (WECOM_SECRET)")
        return _pick(self.client.get_token(self.corp_id, secret), "access_token", "/cgi-bin/gettoken")


class SuiteTokenSource(_ManagedSource):
    """suite_access_token of a 代开发 template (``dk…``) or third-party suite (doc 97162)."""

    kind = "suite"
    param = "suite_access_token"
    # docs 91039 / 90313: 40082 不合法的suite_token, 42009 suite_access_token已过期. 40014 is documented for
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

    def _credential(self) -> Optional[str]:
        # a new suite ticket (pushed every 10 minutes) or a new secret are tried at once
        return f"{_resolve(self._suite_secret) or ''}\0{self._ticket() or ''}"

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
    """Corp access_token of a third-party app via ``get_corp_token`` (doc 90605; not for 代开发).

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

    def _credential(self) -> Optional[str]:
        return _resolve(self._permanent_code)

    def _fetch(self) -> tuple[str, int]:
        if self.suite is None:
            raise ConfigError("a suite token source is needed to fetch a third-party corp token "
                              "(WECOM_SUITE_ID / WECOM_SUITE_SECRET)")
        code = _resolve(self._permanent_code)
        if not code:
            raise CorpNotFoundError(f"no permanent code stored for corp {self.corp_id}")
        data = self.client.get_corp_token(self.suite, self.corp_id, code)
        return _pick(data, "access_token", "/cgi-bin/service/get_corp_token")


class PinnedToken:
    """A token source that reads its token once and hands that value to every call made with it.

    One login makes up to four calls with one token (getuserinfo, user/get, getuserdetail,
    get_permissions): each would otherwise read the cache again. An expired-token answer works as with
    the source itself: :meth:`invalidate` drops the pinned value (and, stale-safe, the cached one) and
    the next :meth:`get` reads once more. Thread-safe: a login's concurrent calls share it.
    """

    def __init__(self, source: Any) -> None:
        self.source = source
        self.param: str = source.param
        self.expired_codes: FrozenSet[int] = source.expired_codes
        self._token: Optional[str] = None
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self.source.get()
            return self._token

    def invalidate(self, stale: Optional[str] = None) -> None:
        with self._lock:
            if stale is None or self._token == stale:
                self._token = None
        self.source.invalidate(stale)

    def __repr__(self) -> str:
        return f"<PinnedToken {self.source!r}>"
