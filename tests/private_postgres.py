"""A PostgreSQL cluster of the test's own on a private port, to stop and start at will.

Tests whose fault is "the database goes down" must never touch the machine's PostgreSQL: this starts a
throwaway cluster (initdb in a temp dir, fsync off) with the server binaries of
/usr/lib/postgresql/*/bin, as the ``postgres`` user when the tests run as root (initdb refuses root).
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from typing import List, Optional

from conftest import require_service


def _bin_dir() -> Optional[str]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    pg_ctl = shutil.which("pg_ctl")
    return os.path.dirname(pg_ctl) if pg_ctl else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivatePostgres:
    """``start()`` / ``stop()`` / ``url``; ``close()`` stops it and removes its files."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            require_service("PostgreSQL server binaries", "no pg_ctl under /usr/lib/postgresql/*/bin")
        self.bin_dir = bin_dir
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="wecom-pg-")
        self.data = os.path.join(self.dir, "data")
        self._as: List[str] = []
        if os.geteuid() == 0:
            import pwd

            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                require_service("PostgreSQL", "running as root and there is no 'postgres' user for initdb")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres?connect_timeout=2"

    def new_database(self) -> str:
        """A new empty database in this cluster; returns its URL."""
        import uuid

        import sqlalchemy as sa

        name = f"wecom_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        admin.dispose()
        return self.url.replace("/postgres?", f"/{name}?")

    def _run(self, tool: str, *args: str) -> None:
        command = self._as + [os.path.join(self.bin_dir, tool), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr[-2000:]}")

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} "
                   "-c fsync=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.dir, "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def crash(self) -> None:
        """Die as in a crash: immediate shutdown, open transactions cut off without a commit."""
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def _pids(self) -> List[int]:
        """The postmaster and every process it started (backends, checkpointer, walwriter …)."""
        with open(os.path.join(self.data, "postmaster.pid")) as handle:
            postmaster = int(handle.readline())
        pids = [postmaster]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as handle:
                        if int(handle.read().rsplit(")", 1)[1].split()[1]) == postmaster:
                            pids.append(int(entry))
                except (OSError, ValueError, IndexError):
                    continue
        return pids

    def freeze(self) -> None:
        """Freeze the whole cluster (SIGSTOP): connections are accepted by the kernel, nothing ever answers."""
        import signal

        self._frozen = self._pids()
        for pid in self._frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        import signal

        for pid in getattr(self, "_frozen", []):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self._frozen = []

    def running(self) -> bool:
        command = self._as + [os.path.join(self.bin_dir, "pg_ctl"), "-D", self.data, "status"]
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0

    def recover(self) -> None:
        """Running and answering again, whatever a test did to it (stopped, crashed, frozen)."""
        self.thaw()
        if not self.running():
            self.start()

    def close(self) -> None:
        self.thaw()
        try:
            if os.path.exists(os.path.join(self.data, "postmaster.pid")):
                self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
