"""A tiny real HTTP server that answers like WeCom, for the client and token tests (the ``stub`` fixture
of tests/conftest.py starts one).

Runs ``werkzeug.serving.make_server`` on 127.0.0.1, port 0, in a thread. Each path gets a
list of answers (the last one repeats): a dict (JSON, HTTP 200), a :class:`Reply`
(status, raw body, delay, connection drop) or a callable ``(Call) -> answer``. Every
request is recorded in ``calls``. Request logging is silenced so that the tests' log
assertions only see flask-wecom's and urllib3's records.
"""
from __future__ import annotations

import json as jsonlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from flask_wecom.testing.server import SHUTDOWN_POLL


@dataclass
class Call:
    method: str
    path: str
    args: dict
    json: Any


@dataclass
class Reply:
    body: Any = field(default_factory=dict)  # dict/list -> JSON, str/bytes -> raw
    status: int = 200
    delay: float = 0.0
    content_type: Optional[str] = None
    drop: bool = False  # close the connection without answering


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        pass


class StubWeCom:
    def __init__(self) -> None:
        self.calls: list = []
        self._answers: dict = {}
        self._lock = threading.Lock()
        self._server = None
        self._thread: Optional[threading.Thread] = None
        self.url = ""

    # configuration
    def answer(self, path: str, *answers: Any) -> None:
        with self._lock:
            self._answers[path] = list(answers)

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for c in self.calls if c.path == path)

    def calls_to(self, path: str) -> list:
        with self._lock:
            return [c for c in self.calls if c.path == path]

    # WSGI
    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        body = request.get_data()
        try:
            payload = jsonlib.loads(body) if body else None
        except ValueError:
            payload = body.decode("utf-8", "replace")
        call = Call(request.method, request.path, dict(request.args), payload)
        with self._lock:
            self.calls.append(call)
            queue = self._answers.get(request.path)
            if queue is None:
                answer: Any = Reply({"errcode": 404, "errmsg": f"stub has no answer for {request.path}"}, 404)
            elif len(queue) > 1:
                answer = queue.pop(0)
            else:
                answer = queue[0]
        if callable(answer) and not isinstance(answer, Reply):
            answer = answer(call)
        if not isinstance(answer, Reply):
            answer = Reply(answer)
        if answer.delay:
            time.sleep(answer.delay)
        if answer.drop:
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            raise ConnectionResetError("stub dropped the connection")  # werkzeug treats it as a drop
        if isinstance(answer.body, (dict, list)):
            data = jsonlib.dumps(answer.body, ensure_ascii=False).encode("utf-8")
            ctype = answer.content_type or "application/json; charset=utf-8"
        else:
            data = answer.body.encode("utf-8") if isinstance(answer.body, str) else bytes(answer.body)
            ctype = answer.content_type or "text/html; charset=utf-8"
        return Response(data, status=answer.status, content_type=ctype)(environ, start_response)

    # lifecycle
    def start(self) -> str:
        self._server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=_QuietHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL},
                                        daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def closed_port_url() -> str:
    """A URL on which nothing listens (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"
