"""A TCP proxy in front of a real database server that can be frozen, as a SIGSTOPped server is.

Frozen, it stops reading from either side and stops accepting: the kernel still completes TCP handshakes
(the listen backlog) and acknowledges what clients send, and nothing ever answers — exactly what a stopped
or stuck server looks like to a driver. Used where the server is the machine's own (MariaDB), which a test
must never stop: the proxy freezes, the server does not notice.
"""
from __future__ import annotations

import socket
import threading
from typing import List


class FreezableProxy:
    """``port`` forwards to ``upstream``; ``freeze()`` / ``thaw()``; ``close()`` ends every connection."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._running = threading.Event()
        self._running.set()  # set = answering; cleared = frozen
        self._closed = False
        self._sockets: List[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self._running.clear()

    def thaw(self) -> None:
        self._running.set()

    def close(self) -> None:
        self._closed = True
        self._running.set()
        for sock in [self._listener, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed:
            self._running.wait()  # frozen: connections wait in the kernel's backlog, unanswered
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._running.wait()
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                self._running.wait()  # frozen: nothing is read, so nothing is forwarded nor answered
                data = source.recv(65536)
                if not data:
                    break
                self._running.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
