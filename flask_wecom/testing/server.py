"""The simulator's WSGI app (WeCom's real paths -> :class:`~.model.WeComModel`), faults, and serving.

Response shapes follow the official pages: JSON with ``errcode`` / ``errmsg`` (the
errmsg in WeCom's form ``"<text>, hint: [...], from ip: <ip>, more info at
https://open.work.weixin.qq.com/devtool/query?e=<code>"``), except the
documented quirks (get_suite_token / get_corp_token omit errcode on success).
"""
from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from ..redact import redact as _redact
from ..redact import redact_query as _redact_query
from . import pages
from .model import APIError, AuthorizeError, WeComModel

__all__ = ["Call", "DroppedConnection", "Faults", "FakeWeComApp", "serve_app"]

logger = logging.getLogger("flask_wecom.testing")

DEVTOOL = "https://open.work.weixin.qq.com/devtool/query?e="
#: the install page of third-party installs started from the provider's website (90597)
INSTALL_PAGE = "/3rdapp/install"

class DroppedConnection(ConnectionError):
    """Raised by :class:`FakeWeComApp` for a ``drop()`` fault when it is called in-process (no socket)."""


@dataclass
class Call:
    """One request the fake received.  Secret values (tokens, secrets, codes) are masked."""

    method: str
    path: str
    params: Dict[str, Any]
    json: Optional[Any]
    form: Dict[str, Any]
    remote_addr: str
    time: float
    status: Optional[int] = None
    errcode: Optional[int] = None
    #: "fail" | "slow" | "http_error" | "drop" when a fault was applied
    fault: Optional[str] = None
    #: when the answer was ready (the fake's clock, like ``time``); with ``time``, tells calls that
    #: overlapped (made at the same time) from calls made one after the other
    ended: Optional[float] = None

    @property
    def ip(self) -> str:
        return self.remote_addr


@dataclass
class _Rule:
    kind: str
    path: str
    times: Optional[int]
    errcode: int = 0
    errmsg: Optional[str] = None
    status: int = 502
    seconds: float = 0.0


def _norm_path(path: str) -> str:
    if "://" in path:
        path = urlsplit(path).path
    path = path.split("?", 1)[0]
    return path if path.startswith("/") else "/" + path


class Faults:
    """Fault injection rules; each applies to the next ``times`` requests to its path (None = always)."""

    def __init__(self) -> None:
        self._rules: List[_Rule] = []
        self._lock = threading.Lock()

    def add(self, kind: str, path: str, times: Optional[int] = 1, **kw: Any) -> None:
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for every request)")
        with self._lock:
            self._rules.append(_Rule(kind, _norm_path(path), times, **kw))

    def take(self, kind: str, path: str) -> Optional[_Rule]:
        with self._lock:
            for rule in self._rules:
                if rule.kind == kind and rule.path == path:
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> List[Tuple[str, str, Optional[int]]]:
        with self._lock:
            return [(r.kind, r.path, r.times) for r in self._rules]


Handler = Callable[[Request, str], Dict[str, Any]]


class FakeWeComApp:
    """The WSGI application.  ``calls`` / ``faults`` are shared with the :class:`FakeWeCom` facade."""

    def __init__(self, model: WeComModel, calls: List[Call], faults: Faults) -> None:
        self.model = model
        self.calls = calls
        self.faults = faults
        self._calls_lock = threading.Lock()
        m = model
        st = "suite_access_token"
        at = "access_token"
        # (method, handler(request, ip)); each handler runs with the model lock held
        self.api: Dict[str, Tuple[str, Handler]] = {
            "/cgi-bin/service/get_suite_token": ("POST", lambda r, ip: m.get_suite_token(_body(r), ip)),
            "/cgi-bin/service/get_provider_token": ("POST", lambda r, ip: m.get_provider_token(_body(r), ip)),
            "/cgi-bin/service/get_permanent_code": (
                "POST", lambda r, ip: m.get_permanent_code(_q(r, st), _body(r), ip, v2=False)),
            "/cgi-bin/service/v2/get_permanent_code": (
                "POST", lambda r, ip: m.get_permanent_code(_q(r, st), _body(r), ip, v2=True)),
            "/cgi-bin/service/get_auth_info": (
                "POST", lambda r, ip: m.get_auth_info(_q(r, st), _body(r), ip, v2=False)),
            "/cgi-bin/service/v2/get_auth_info": (
                "POST", lambda r, ip: m.get_auth_info(_q(r, st), _body(r), ip, v2=True)),
            "/cgi-bin/service/get_corp_token": (
                "POST", lambda r, ip: m.get_corp_token(_q(r, st), _body(r), ip)),
            "/cgi-bin/gettoken": ("GET", lambda r, ip: m.gettoken(_q(r, "corpid"), _q(r, "corpsecret"), ip)),
            "/cgi-bin/auth/getuserinfo": (
                "GET", lambda r, ip: m.getuserinfo(_q(r, at), _q(r, "code"), ip)),
            "/cgi-bin/service/auth/getuserinfo3rd": (
                "GET", lambda r, ip: m.getuserinfo3rd(_q(r, st), _q(r, "code"), ip)),
            "/cgi-bin/user/get": ("GET", lambda r, ip: m.user_get(_q(r, at), _q(r, "userid"), ip)),
            "/cgi-bin/auth/getuserdetail": (
                "POST", lambda r, ip: m.getuserdetail(_q(r, at), _body(r), ip)),
            "/cgi-bin/service/auth/getuserdetail3rd": (
                "POST", lambda r, ip: m.getuserdetail3rd(_q(r, st), _body(r), ip)),
            "/cgi-bin/agent/get": ("GET", lambda r, ip: m.agent_get(_q(r, at), _q(r, "agentid"), ip)),
            "/cgi-bin/getcallbackip": ("GET", lambda r, ip: m.getcallbackip(_q(r, at), ip)),
            "/cgi-bin/agent/get_permissions": ("POST", lambda r, ip: m.get_permissions(_q(r, at), ip)),
            "/cgi-bin/service/get_pre_auth_code": ("GET", lambda r, ip: m.get_pre_auth_code(_q(r, st), ip)),
            "/cgi-bin/service/set_session_info": (
                "POST", lambda r, ip: m.set_session_info(_q(r, st), _body(r), ip)),
            "/cgi-bin/license/get_app_license_info": (
                "POST", lambda r, ip: m.get_app_license_info(_q(r, "provider_access_token"), _body(r), ip)),
        }
        self.login_pages = {"/connect/oauth2/authorize": "oauth2", "/wwlogin/sso/login": "wwlogin"}

    # -- faults usable by the socket handler ------------------------------------------

    def take_drop(self, method: str, path: str, remote_addr: str) -> bool:
        """Consume a drop() rule for ``path`` (called by the server before the app runs)."""
        rule = self.faults.take("drop", _norm_path(path))
        if rule is None:
            return False
        self._record(Call(method, path, {}, None, {}, remote_addr, self.model.now(), fault="drop"))
        return True

    # -- WSGI ----------------------------------------------------------------------------

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        ip = request.remote_addr or ""
        path = request.path
        if self.take_drop(request.method, path, ip):
            raise DroppedConnection(f"FakeWeCom dropped the connection for {path} (fault injection)")
        call = self._start_call(request, ip)
        response = self._respond(request, ip, path, call)
        call.status = response.status_code
        call.ended = self.model.now()
        return response(environ, start_response)

    def _start_call(self, request: Request, ip: str) -> Call:
        body: Optional[Any] = None
        raw = request.get_data(cache=True)
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        form = dict(request.form) if request.mimetype == "application/x-www-form-urlencoded" else {}
        call = Call(
            method=request.method,
            path=request.path,
            params=_redact(dict(request.args)),
            json=_redact(body) if isinstance(body, dict) else body,
            form=_redact(form),
            remote_addr=ip,
            time=self.model.now(),
        )
        self._record(call)
        return call

    def _record(self, call: Call) -> None:
        with self._calls_lock:
            self.calls.append(call)

    def _respond(self, request: Request, ip: str, path: str, call: Call) -> Response:
        norm = _norm_path(path)
        slow = self.faults.take("slow", norm)
        if slow is not None:
            call.fault = "slow"
            time.sleep(slow.seconds)  # real time, outside the model lock
        http_error = self.faults.take("http_error", norm)
        if http_error is not None:
            call.fault = "http_error"
            return Response(
                f"<html><body><h1>{http_error.status} Bad Gateway</h1></body></html>",
                status=http_error.status, mimetype="text/html",
            )
        fail = self.faults.take("fail", norm)
        if fail is not None:
            call.fault = "fail"
            call.errcode = fail.errcode
            err = APIError(fail.errcode, fail.errmsg)
            return _json({"errcode": err.errcode, "errmsg": self._errmsg(err, ip)})
        if norm in self.api:
            return self._api(request, ip, norm, call)
        if norm in self.login_pages:
            return self._login(request, self.login_pages[norm], norm)
        if norm == INSTALL_PAGE:
            return self._install(request, norm)
        if norm.startswith("/avatar/"):
            return self._avatar(norm)
        if norm == "/":
            with self.model.lock:
                suite = self.model.suite
                html = pages.index_page(self.model.corps, suite.suite_id, suite.app_type)
            return Response(html, mimetype="text/html")
        return Response("404 Not Found", status=404, mimetype="text/plain")

    def _errmsg(self, err: APIError, ip: str) -> str:
        hint = f"{int(self.model.now())}_{secrets.randbelow(10**6)}_{secrets.token_hex(16)}"
        return f"{err.message}, hint: [{hint}], from ip: {ip}, more info at {DEVTOOL}{err.errcode}"

    def _api(self, request: Request, ip: str, path: str, call: Call) -> Response:
        method, handler = self.api[path]
        try:
            if request.method != method:
                raise APIError(43001 if method == "GET" else 43002)
            with self.model.lock:
                payload = handler(request, ip)
        except APIError as err:
            call.errcode = err.errcode
            return _json({"errcode": err.errcode, "errmsg": self._errmsg(err, ip)})
        call.errcode = payload.get("errcode", 0)
        return _json(payload)

    def _login(self, request: Request, kind: str, path: str) -> Response:
        if request.method not in ("GET", "POST"):
            return Response("405 Method Not Allowed", status=405, mimetype="text/plain")
        source = request.form if request.method == "POST" else request.args
        params = dict(source.items())
        try:
            with self.model.lock:
                req = self.model.validate_login(kind, {k: v for k, v in params.items()
                                                       if k not in ("userid", "corpid", "non_member")})
                if request.method == "GET":
                    html = pages.confirm_page(req, path)
                    return Response(html, mimetype="text/html")
                location = self.model.confirm_login(
                    req,
                    params.get("userid") or None,
                    corp_id=params.get("corpid") or None,
                    non_member=params.get("non_member") == "1",
                )
        except AuthorizeError as err:
            # WeCom shows its error pages with HTTP 200; no code, no redirect
            return Response(pages.error_page(err), mimetype="text/html")
        response = Response("", status=302)
        response.headers["Location"] = location
        response.autocorrect_location_header = False
        return response

    def _install(self, request: Request, path: str) -> Response:
        """The install page of an install started from the provider's website (90597)."""
        if request.method not in ("GET", "POST"):
            return Response("405 Method Not Allowed", status=405, mimetype="text/plain")
        source = request.form if request.method == "POST" else request.args
        params = {k: v for k, v in source.items() if k != "corpid"}
        # The GET comes from the provider's page (Referer checked); the admin's confirmation is a form
        # post on WeCom's own page, so the POST is checked against the Referer of that first GET.
        referer = request.headers.get("Referer") if request.method == "GET" else params.pop("_referer", None)
        try:
            with self.model.lock:
                req = self.model.validate_install(params, referer)
                if request.method == "GET":
                    req.params["_referer"] = referer or ""
                    html = pages.install_page(req, path, self.model.suite.name)
                    return Response(html, mimetype="text/html")
                location = self.model.confirm_install(req, source.get("corpid") or None)
        except AuthorizeError as err:
            return Response(pages.error_page(err), mimetype="text/html")
        except APIError as err:  # the pre_auth_code was used meanwhile
            return Response(pages.error_page(AuthorizeError(err.errcode, "预授权码无效或已过期",
                                                            "the pre_auth_code is invalid or expired")),
                            mimetype="text/html")
        response = Response("", status=302)
        response.headers["Location"] = location
        response.autocorrect_location_header = False
        return response

    def _avatar(self, path: str) -> Response:
        parts = path.split("/")
        key = parts[2] if len(parts) > 2 else ""
        with self.model.lock:
            label = pages.find_avatar_label(self.model.corps, key)
        if label is None:
            return Response("404 Not Found", status=404, mimetype="text/plain")
        return Response(pages.avatar_svg(label, key), mimetype="image/svg+xml")


def _q(request: Request, name: str) -> str:
    return request.args.get(name, "")


def _body(request: Request) -> Dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise APIError(47001) from None
    if not isinstance(data, dict):
        raise APIError(47001)
    return data


def _json(payload: Dict[str, Any]) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), content_type="application/json; charset=UTF-8")


# -- serving -------------------------------------------------------------------------------


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler plus real dropped connections and quiet logging."""

    def run_wsgi(self) -> None:
        app = self.server.app
        take = getattr(app, "take_drop", None)
        if take is not None and take(self.command, urlsplit(self.path).path, self.client_address[0]):
            # close the socket without writing a single byte of response
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        super().run_wsgi()

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        # the request line carries corpsecret / access_token / code: mask them like fake.calls does
        line = _redact_query(message % args if args else message)
        logger.info("%s %s", self.address_string(), line)


@dataclass
class ServerHandle:
    server: BaseWSGIServer
    thread: threading.Thread
    url: str
    closed: bool = field(default=False)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)


#: How often a serving thread checks whether :meth:`ServerHandle.close` asked it to stop. ``close()`` waits up to
#: this long, once per server per test: 0.1 s cost the suite about a quarter of its time.
SHUTDOWN_POLL = 0.01


def serve_app(app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
    """Start a threaded werkzeug server for ``app`` in a daemon thread; ``.url`` is its base URL."""
    server = make_server(host, port, app, threaded=True, request_handler=_RequestHandler)
    server.daemon_threads = True  # type: ignore[attr-defined]
    real_port = server.server_port
    shown = f"[{host}]" if ":" in host else host
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL},
                              name=f"FakeWeCom:{real_port}", daemon=True)
    thread.start()
    return ServerHandle(server, thread, f"http://{shown}:{real_port}")
