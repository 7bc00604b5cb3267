"""A token cache that an outage cannot slow down or multiply (framework-free).

:class:`GuardedCache` wraps the shared cachelib backend (Redis, memcached, FileSystemCache…)
that :class:`~flask_wecom.tokens.TokenManager` and the login views use:

- **Bounded cost per call.** The backend's own timeouts bound one call (the extension gives
  Redis ``socket_connect_timeout`` / ``socket_timeout`` of 0.5 s and no client-side retries,
  see :data:`REDIS_OPTIONS`).
- **Circuit breaker, per process.** A call that raises (or, on a FileSystemCache, a write that
  fails or a cache directory that is gone) opens the breaker: for the next
  :data:`FIRST_COOLDOWN` seconds (doubling to :data:`MAX_COOLDOWN` while the backend keeps
  failing) no call goes to the backend at all. After the cool-down one thread runs a single
  probe (a ``set`` of a small key); success closes the breaker, failure re-opens it.
- **In-process fallback.** Every write also lands in a small in-process dict (and the token
  manager copies the tokens it reads there), so while the breaker is open this process keeps
  its tokens, its failure notes and its login marks: an outage costs at most one ``gettoken``
  per process per token lifetime, never one per call.
- **Recovery.** When the probe succeeds the backend is the only truth again (a miss there is a
  miss, even if the fallback still holds a value: another worker may have dropped it on
  purpose). Tokens fetched during the outage are *not* written back; the first request that
  misses them after recovery refetches once, with the usual cross-process single flight
  (WeCom hands out the same token while it is valid, document 97164).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable, Dict, Optional, Set, Tuple

from cachelib import BaseCache

__all__ = ["GuardedCache", "CircuitBreaker", "CacheUnavailable", "REDIS_OPTIONS", "redis_timeout_problem"]

log = logging.getLogger(__name__)

#: seconds the breaker stays open after the first failure; doubles while failures go on
FIRST_COOLDOWN = 5.0
#: longest cool-down between two probes
MAX_COOLDOWN = 30.0
#: entries the in-process fallback keeps (oldest dropped first)
FALLBACK_SIZE = 2048
#: the key the half-open probe writes
PROBE_KEY = "wecom-cache-probe"
#: seconds: the longest a Redis connect or read may take
REDIS_TIMEOUT = 0.5


def _no_retry() -> Any:
    """redis-py ≥ 6 retries timeouts and refused connections 3 times with backoff by default
    (measured: 9.5 s for one GET on a frozen Redis instead of 0.5 s); the breaker replaces that."""
    try:
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:  # pragma: no cover - redis not installed: nothing to configure
        return None
    return Retry(NoBackoff(), 0)


def redis_options() -> Dict[str, Any]:
    """Connection options for a Redis token cache: 0.5 s connect and read timeouts, no retries."""
    options: Dict[str, Any] = {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT}
    retry = _no_retry()
    if retry is not None:
        options["retry"] = retry
    return options


#: what the extension adds to ``CACHE_OPTIONS`` for a Redis backend (user settings win)
REDIS_OPTIONS = ("socket_connect_timeout", "socket_timeout", "retry")


class CacheUnavailable(Exception):
    """The backend is skipped (breaker open) or just failed; the caller uses its fallback."""


class CircuitBreaker:
    """Closed → (failure) → open for a cool-down → one probe → closed or open again."""

    def __init__(self, first_cooldown: float = FIRST_COOLDOWN, max_cooldown: float = MAX_COOLDOWN,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.first_cooldown = float(first_cooldown)
        self.max_cooldown = float(max_cooldown)
        self.clock = clock
        self._guard = threading.Lock()
        self._open_until: Optional[float] = None
        self._cooldown = self.first_cooldown
        self._probing = False
        self.failures = 0  #: failures seen since the process started (diagnostics, tests)

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def state(self) -> str:
        if self._open_until is None:
            return "closed"
        return "probing" if self._probing else "open"

    def allow(self) -> Optional[str]:
        """``"call"`` (closed), ``"probe"`` (this caller must probe first) or None (skip the backend)."""
        if self._open_until is None:  # the hot path: no lock
            return "call"
        with self._guard:
            if self._open_until is None:
                return "call"
            if self._probing or self.clock() < self._open_until:
                return None
            self._probing = True
            return "probe"

    def succeeded(self) -> None:
        if self._open_until is None and not self._probing:
            return
        with self._guard:
            was_open = self._open_until is not None
            self._open_until = None
            self._cooldown = self.first_cooldown
            self._probing = False
        if was_open:
            log.warning("token cache is back; using it again")

    def failed(self, what: str) -> None:
        with self._guard:
            self.failures += 1
            first = self._open_until is None
            cooldown = self._cooldown
            self._open_until = self.clock() + cooldown
            self._cooldown = min(cooldown * 2, self.max_cooldown)
            self._probing = False
        if first:
            log.warning("token cache unavailable (%s); skipping it for %.0f s and using this process's "
                        "memory meanwhile", what, cooldown)
        else:
            log.info("token cache still unavailable (%s); next probe in %.0f s", what, cooldown)


class _Local:
    """A small in-process key → (deadline, value) map with TTLs (monotonic clock)."""

    def __init__(self, size: int = FALLBACK_SIZE) -> None:
        self.size = size
        self._data: Dict[str, Tuple[float, Any]] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> Any:
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] <= time.monotonic():
            self._data.pop(key, None)
            return None
        return item[1]

    def set(self, key: str, value: Any, ttl: Optional[float]) -> None:
        deadline = time.monotonic() + (ttl if ttl and ttl > 0 else 300.0)
        with self._guard:
            self._data.pop(key, None)
            self._data[key] = (deadline, value)
            if len(self._data) > self.size:
                now = time.monotonic()
                for stale in [k for k, (d, _) in self._data.items() if d <= now]:
                    del self._data[stale]
                while len(self._data) > self.size:
                    del self._data[next(iter(self._data))]

    def add(self, key: str, value: Any, ttl: Optional[float]) -> bool:
        with self._guard:
            if self.get(key) is not None:
                return False
        self.set(key, value, ttl)
        return True

    def delete(self, key: str) -> None:
        with self._guard:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._guard:
            self._data.clear()


def _class_names(backend: Any) -> Set[str]:
    return {cls.__name__ for cls in type(backend).__mro__}


class GuardedCache(BaseCache):
    """A cachelib cache in front of ``inner`` with a circuit breaker and an in-process fallback.

    Reads and writes never raise: a failing backend is skipped and the fallback answers.
    ``inner`` is the real backend (``type(cache.inner).__name__`` names it).
    """

    def __init__(self, inner: Any, *, breaker: Optional[CircuitBreaker] = None,
                 fallback_size: int = FALLBACK_SIZE) -> None:
        super().__init__(default_timeout=getattr(inner, "default_timeout", 300))
        self.inner = inner
        self.breaker = breaker or CircuitBreaker()
        self.local = _Local(fallback_size)
        names = _class_names(inner)
        #: SimpleCache / NullCache live in this process anyway: nothing to guard or mirror
        self.in_process = bool(names & {"SimpleCache", "NullCache"})
        directory = getattr(inner, "_path", None)
        #: the cache directory of a FileSystemCache (cachelib swallows its OSErrors: we check it)
        self.directory: Optional[str] = (
            directory if "FileSystemCache" in names and isinstance(directory, str) else None)

    def __repr__(self) -> str:
        return f"<GuardedCache {type(self.inner).__name__} breaker={self.breaker.state()}>"

    # -- health ------------------------------------------------------------------------

    def directory_ok(self) -> bool:
        """A FileSystemCache directory that exists and can be written (cheap: two syscalls)."""
        if self.directory is None:
            return True
        return os.path.isdir(self.directory) and os.access(self.directory, os.W_OK)

    def _probe(self) -> bool:
        try:
            ok = self.inner.set(PROBE_KEY, 1, timeout=60)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the breaker open
            self.breaker.failed(f"probe: {type(exc).__name__}")
            return False
        if ok is False or not self.directory_ok():
            self.breaker.failed("probe: the write failed")
            return False
        self.breaker.succeeded()
        return True

    def usable(self) -> bool:
        """True when a call may go to the backend now (runs the probe when one is due)."""
        decision = self.breaker.allow()
        if decision == "call":
            return True
        if decision == "probe":
            return self._probe()
        return False

    def failed(self, what: str) -> None:
        """Report a failure met outside this wrapper (e.g. a lock on the backend's client or directory)."""
        self.breaker.failed(what)

    def run(self, what: str, func: Callable[[Any], Any]) -> Any:
        """``func(inner)`` under the breaker; raises :class:`CacheUnavailable` when skipped or failing."""
        if not self.usable():
            raise CacheUnavailable(what)
        try:
            result = func(self.inner)
        except Exception as exc:  # noqa: BLE001
            self.breaker.failed(f"{what}: {type(exc).__name__}")
            raise CacheUnavailable(what) from None
        self.breaker.succeeded()
        return result

    # -- cachelib API ------------------------------------------------------------------

    def get(self, key: str) -> Any:
        if not self.usable():
            return self.local.get(key)
        try:
            value = self.inner.get(key)
        except Exception as exc:  # noqa: BLE001
            self.breaker.failed(f"get: {type(exc).__name__}")
            return self.local.get(key)
        if value is None and self.directory is not None and not self.directory_ok():
            self.breaker.failed("get: the cache directory is gone or read-only")
            return self.local.get(key)
        self.breaker.succeeded()
        return value

    def remember(self, key: str, value: Any, ttl: float) -> None:
        """Keep ``value`` in this process only (a copy of what the backend holds, for an outage)."""
        if not self.in_process:
            self.local.set(key, value, ttl)

    # seconds only; newer cachelib also takes a timedelta (an override error there, none before: unused-ignore)
    def set(self, key: str, value: Any, timeout: Optional[int] = None) -> bool:  # type: ignore[override,unused-ignore]
        self.remember(key, value, timeout or 0)
        if not self.usable():
            return True
        try:
            ok = self.inner.set(key, value, timeout=timeout)
        except Exception as exc:  # noqa: BLE001
            self.breaker.failed(f"set: {type(exc).__name__}")
            return True
        if ok is False and (self.directory is None or not self.directory_ok()):
            self.breaker.failed("set: the write failed")
            return True
        self.breaker.succeeded()
        return True

    def add(self, key: str, value: Any, timeout: Optional[int] = None) -> bool:  # type: ignore[override,unused-ignore]
        if not self.usable():
            return self.local.add(key, value, timeout or 0)
        try:
            added = self.inner.add(key, value, timeout=timeout)
        except Exception as exc:  # noqa: BLE001
            self.breaker.failed(f"add: {type(exc).__name__}")
            return self.local.add(key, value, timeout or 0)
        if not added and self.directory is not None and not self.directory_ok():
            self.breaker.failed("add: the cache directory is gone or read-only")
            return self.local.add(key, value, timeout or 0)
        self.breaker.succeeded()
        if added:
            self.remember(key, value, timeout or 0)
        return bool(added)

    def delete(self, key: str) -> bool:
        self.local.delete(key)
        if not self.usable():
            return True
        try:
            self.inner.delete(key)
        except Exception as exc:  # noqa: BLE001
            self.breaker.failed(f"delete: {type(exc).__name__}")
            return True
        self.breaker.succeeded()
        return True

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def clear(self) -> bool:
        self.local.clear()
        try:
            return bool(self.run("clear", lambda inner: inner.clear()))
        except CacheUnavailable:
            return False


def redis_timeout_problem(backend: Any) -> Optional[str]:
    """Why a Redis backend's client may block a request for long, or None when it is bounded."""
    if not any("redis" in name.lower() for name in _class_names(backend)):
        return None
    client = getattr(backend, "_write_client", None)
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if not isinstance(kwargs, dict):
        return None
    problems = []
    for key in ("socket_connect_timeout", "socket_timeout"):
        value = kwargs.get(key)
        if value is None or float(value) > REDIS_TIMEOUT:
            problems.append(f"{key}={value!r}")
    retry = kwargs.get("retry")
    retries = getattr(retry, "_retries", 0) if retry is not None else 0
    if retries:
        problems.append(f"{retries} client-side retries")
    if not problems:
        return None
    return ("the Redis token cache client has " + ", ".join(problems) + ": a frozen Redis then holds each "
            f"request for that long. Give it socket_connect_timeout={REDIS_TIMEOUT}, socket_timeout="
            f"{REDIS_TIMEOUT} and retry=Retry(NoBackoff(), 0) (CACHE_OPTIONS of your Flask-Caching Cache)")
