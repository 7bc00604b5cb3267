"""Single-use marks in the token cache: one atomic operation on every backend (framework-free).

The login marks each OAuth state used (``flask_wecom.views``), so that an old copy of the session
cookie cannot spend it twice, on any worker or host that shares the cache. Every login pays for the
mark, and two requests carrying one state must not both win, so it is one atomic operation:

==========================  ================================================================
backend                     the mark
==========================  ================================================================
Redis*                      ``SET key 1 NX EX ttl`` through the backend's own client, prefix and
                            serializer: one round trip (cachelib's ``add`` is ``SETNX`` then
                            ``EXPIRE``: two, and a mark without a TTL if the worker dies between)
Memcached*                  ``add``: atomic, one round trip
FileSystemCache             ``open(O_CREAT | O_EXCL)`` of an empty file in
                            ``<cache dir>/wecom-marks.__wz_cache/``: one system call, atomic across
                            processes (cachelib's ``add`` checks, then writes a temporary file and
                            renames it, and renames its file-count file too: ~1 ms and not atomic).
                            Marks older than their TTL are deleted by a background sweep, at most
                            once per quarter TTL per process; the suffix keeps cachelib's prune
                            and ``clear`` away from the folder
SimpleCache, anything else  the backend's ``add`` (in-process backends)
==========================  ================================================================

Every mark goes through the :class:`~flask_wecom.cacheguard.GuardedCache`: a backend that fails
opens its circuit breaker and the mark is kept in this process's memory meanwhile (single use then
holds within the process; the session check remains), as for every other cache operation.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from typing import Any, Optional, Set

from .cacheguard import CacheUnavailable, GuardedCache

__all__ = ["UsedMarks", "atomic_add", "marks_for"]

log = logging.getLogger(__name__)

#: the folder of FileSystemCache marks, inside the cache directory
FOLDER = "wecom-marks"


def _class_names(backend: Any) -> Set[str]:
    return {cls.__name__ for cls in type(backend).__mro__}


def atomic_add(backend: Any, key: str, value: Any, ttl: int) -> bool:
    """Set ``key`` only if it is absent, with a TTL, in one atomic step where the backend allows it.

    Redis: one ``SET … NX EX`` through the backend's client (with its key prefix and serializer, so the
    backend's ``get`` reads it back). Anything else: the backend's ``add`` (memcached's is atomic)."""
    client = getattr(backend, "_write_client", None)
    serializer = getattr(backend, "serializer", None)
    if client is None or serializer is None or not callable(getattr(client, "set", None)):
        return bool(backend.add(key, value, timeout=ttl))
    get_prefix = getattr(backend, "_get_prefix", None)
    prefix = get_prefix() if callable(get_prefix) else (getattr(backend, "key_prefix", "") or "")
    return bool(client.set(f"{prefix}{key}", serializer.dumps(value), nx=True, ex=max(1, int(ttl))))


class UsedMarks:
    """``mark(key, ttl)`` — True the first time, False once marked (see the module docstring)."""

    def __init__(self, cache: GuardedCache) -> None:
        self.cache = cache
        backend = cache.inner
        self.folder: Optional[str] = None
        if cache.directory is not None:  # a FileSystemCache
            suffix = getattr(backend, "_fs_transaction_suffix", ".__wz_cache")
            self.folder = os.path.join(cache.directory, FOLDER + suffix)
        #: "file", "redis-set-nx" or "add" (diagnostics, tests)
        self.kind = "file" if self.folder else (
            "redis-set-nx" if any("redis" in n.lower() for n in _class_names(backend)) else "add")
        self._sweep_guard = threading.Lock()
        self._next_sweep = 0.0

    def __repr__(self) -> str:
        return f"<UsedMarks {self.kind} on {type(self.cache.inner).__name__}>"

    def _path(self, key: str) -> str:
        assert self.folder is not None
        return os.path.join(self.folder, hashlib.sha256(key.encode("utf-8")).hexdigest()[:40])

    def mark(self, key: str, ttl: int) -> bool:
        """Mark ``key`` for at least ``ttl`` seconds; True when it was not marked before."""
        try:
            added = self.cache.run("mark", lambda backend: self._add(backend, key, ttl))
        except CacheUnavailable:
            return self.cache.local.add(key, 1, ttl)
        if added:
            self.cache.remember(key, 1, ttl)  # this process still knows it during a later outage
        if self.folder is not None:
            self._maybe_sweep(ttl)
        return bool(added)

    def seen(self, key: str) -> bool:
        """Whether ``key`` is marked (a replay check; not on a login's hot path)."""
        if self.folder is None:
            return self.cache.get(key) is not None
        try:
            return bool(self.cache.run("seen", lambda _backend: os.path.exists(self._path(key))))
        except CacheUnavailable:
            return self.cache.local.get(key) is not None

    def _add(self, backend: Any, key: str, ttl: int) -> bool:
        if self.folder is None:
            return atomic_add(backend, key, 1, ttl)
        path = self._path(key)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            return False
        except FileNotFoundError:  # the first mark (or the folder was removed): make the folder, once
            try:
                os.mkdir(self.folder, 0o700)  # not its parents: a cache directory that is gone opens the breaker
            except FileExistsError:
                pass
            try:
                fd = os.open(path, flags, 0o600)
            except FileExistsError:
                return False
        os.close(fd)
        return True

    # -- FileSystemCache: delete marks past their TTL, off the request's path --------------------

    def _maybe_sweep(self, ttl: int) -> None:
        now = time.monotonic()
        if now < self._next_sweep or not self._sweep_guard.acquire(blocking=False):
            return
        try:
            if now < self._next_sweep:
                return
            self._next_sweep = now + max(30.0, ttl / 4)
        finally:
            self._sweep_guard.release()
        threading.Thread(target=self._sweep, args=(ttl,), name="wecom-marks-sweep", daemon=True).start()

    def _sweep(self, ttl: int) -> None:
        """Delete the marks older than ``ttl`` (each lives at least that long)."""
        assert self.folder is not None
        oldest = time.time() - ttl
        removed = 0
        try:
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < oldest:
                            os.unlink(entry.path)
                            removed += 1
                    except FileNotFoundError:  # another process swept it
                        continue
        except OSError as exc:  # the folder is gone or unreadable: the next mark tells the breaker
            log.info("sweeping used marks in %s failed: %s", self.folder, type(exc).__name__)
            return
        if removed:
            log.debug("swept %d used marks older than %d s", removed, ttl)


_marks_lock = threading.Lock()
_marks: weakref.WeakKeyDictionary[GuardedCache, UsedMarks] = weakref.WeakKeyDictionary()


def marks_for(cache: GuardedCache) -> UsedMarks:
    """The :class:`UsedMarks` of ``cache`` (one per guarded cache, made on first use)."""
    marks = _marks.get(cache)
    if marks is None:
        with _marks_lock:
            marks = _marks.get(cache)
            if marks is None:
                marks = _marks[cache] = UsedMarks(cache)
    return marks
