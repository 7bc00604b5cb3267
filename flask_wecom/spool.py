"""A durable spool on the local disk for what the store could not take (the database is down).

Framework-free. WeCom documents no retry for template (指令) callbacks
(developer.work.weixin.qq.com/document/path/97172): answering anything but ``success`` may lose the
event. So a verified event the store cannot take is written here and answered ``success``, and the
answer of an AuthCode exchange that cannot be stored (the AuthCode is spent) is kept here too; both
are replayed when the store is back.

One file per entry, written atomically (temporary file, fsync, rename, fsync of the folder), its
content sealed with the store's :class:`~flask_wecom.secretbox.SecretBox`, so no AuthCode or
permanent code lies in clear on disk. A worker claims an entry by renaming it (atomic: of several
workers one wins); an entry whose claimer died is released again. Exactly-once comes from the store:
an entry is applied in one transaction with its delivery mark, and only then deleted.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional

from .secretbox import SecretBox

log = logging.getLogger("flask_wecom.spool")

SUFFIX = ".spool"
_CLAIMED = ".claimed-"
#: a claim older than this (s) is released even when its process seems alive (another host's pid)
STALE_CLAIM = 600.0


@dataclass
class SpoolEntry:
    """One spooled item: ``kind`` ("event" or "exchange") and its opened ``payload``."""

    name: str
    kind: str
    received_at: float
    payload: Dict[str, Any] = field(repr=False)
    #: the claimed file
    path: str = field(default="", repr=False)


def _fsync_dir(path: str) -> None:
    if os.name != "posix":  # pragma: no cover - no directory fsync elsewhere
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate it on Windows: rely on STALE_CLAIM there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists
        return True
    return True


class Spool:
    """A folder of sealed entries (``<instance>/wecom-spool`` by default), replayed oldest first."""

    def __init__(self, directory: str, box: SecretBox, *, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._box = box
        self._clock = clock
        #: set by :meth:`put`: the request path (recovery.kick) looks at the folder at once, not within a second
        self.unseen_puts = False

    def __repr__(self) -> str:
        return f"Spool({self.directory!r})"

    def put(self, kind: str, payload: Dict[str, Any]) -> str:
        """Write one entry durably; returns its name. Raises OSError when the disk cannot take it."""
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            _fsync_dir(os.path.dirname(os.path.abspath(self.directory)))  # the new folder's entry too
        now = self._clock()
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        record = {"v": 1, "kind": kind, "received_at": now,
                  "sealed": self._box.seal(json.dumps(payload, ensure_ascii=False))}
        data = json.dumps(record).encode("ascii")
        tmp = os.path.join(self.directory, f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(self.directory, name + SUFFIX))
        _fsync_dir(self.directory)
        self.unseen_puts = True
        return name

    def names(self) -> List[str]:
        """Unclaimed entries, oldest first."""
        try:
            found = [e.name[:-len(SUFFIX)] for e in os.scandir(self.directory)
                     if e.name.endswith(SUFFIX) and not e.name.startswith(".")]
        except FileNotFoundError:
            return []
        return sorted(found)

    def __len__(self) -> int:
        return len(self.names())

    @property
    def failed_directory(self) -> str:
        """Where entries that cannot be applied are set aside for a human (``failed/``)."""
        return os.path.join(self.directory, "failed")

    def failed_names(self) -> List[str]:
        """Entries set aside in ``failed/``, oldest first (read-only: `flask wecom status`, the doctor)."""
        try:
            found = [e.name[:-len(SUFFIX)] for e in os.scandir(self.failed_directory) if e.name.endswith(SUFFIX)]
        except FileNotFoundError:
            return []
        return sorted(found)

    def has_entries(self) -> bool:
        """Cheap check (one directory read) for the request path."""
        try:
            with os.scandir(self.directory) as entries:
                return any(e.name.endswith(SUFFIX) and not e.name.startswith(".") for e in entries)
        except FileNotFoundError:
            return False

    def release_stale_claims(self) -> int:
        """Give back entries claimed by a process that died (or claimed longer than :data:`STALE_CLAIM`)."""
        released = 0
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return 0
        now = time.time()
        for entry in entries:
            if _CLAIMED not in entry.name:
                continue
            base, _, owner = entry.name.partition(_CLAIMED)
            try:
                pid = int(owner.split("-")[0])
                stale = not _pid_alive(pid) or now - entry.stat().st_mtime > STALE_CLAIM
            except (ValueError, OSError):
                stale = True
            if stale:
                with contextlib.suppress(OSError):
                    os.rename(entry.path, os.path.join(self.directory, base))
                    released += 1
        return released

    @contextlib.contextmanager
    def claim(self, name: str) -> Iterator[Optional[SpoolEntry]]:
        """Claim one entry; yields None when another worker has it. The entry is deleted when the block
        ends normally, released for a later attempt when it raises, and set aside (``failed/``) when it
        cannot be read at all."""
        path = os.path.join(self.directory, name + SUFFIX)
        claimed = f"{path}{_CLAIMED}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            yield None
            return
        try:
            with open(claimed, "rb") as handle:
                record = json.loads(handle.read())
            entry = SpoolEntry(name, record["kind"], float(record["received_at"]),
                               json.loads(self._box.open(record["sealed"])), claimed)
        except Exception as exc:  # noqa: BLE001 - unreadable (other key, damaged): keep it for a human
            self._set_aside(claimed, name, exc)
            yield None
            return
        try:
            yield entry
        except BaseException:
            with contextlib.suppress(OSError):
                os.rename(claimed, path)
            raise
        with contextlib.suppress(FileNotFoundError):  # set aside meanwhile
            os.unlink(claimed)
        _fsync_dir(self.directory)

    def set_aside(self, entry: SpoolEntry, reason: BaseException) -> None:
        """Move a claimed entry that cannot be applied (not a database outage) to ``failed/`` for a human."""
        self._set_aside(entry.path, entry.name, reason)

    def _set_aside(self, path: str, name: str, reason: BaseException) -> None:
        failed = os.path.join(self.directory, "failed")
        os.makedirs(failed, mode=0o700, exist_ok=True)
        with contextlib.suppress(OSError):
            os.rename(path, os.path.join(failed, name + SUFFIX))
        log.error("spooled entry %s cannot be applied (%s: %s); kept in %s", name, type(reason).__name__,
                  reason, failed)
