"""FakeWeCom: a WeCom (企业微信) simulator for tests, demos and users' own test suites.

::

    from flask_wecom.testing import FakeWeCom

    fake = FakeWeCom()
    with fake.serve():                        # real HTTP on 127.0.0.1:<free port>
        app.config.update(SECRET_KEY="…", **fake.flask_config(tmp_path))
        client = app.test_client()            # or the base URL of an app served over HTTP
        fake.push_suite_ticket(client)        # to the app's /wecom/callback
        fake.authorize(client)                # create_auth with a fresh AuthCode; returns once exchanged
        page = fake.login(client, "zhangsan") # the whole login round trip, redirects followed

With pytest, the ``fake_wecom`` fixture is a served fake (:mod:`flask_wecom.testing.pytest_plugin`).

It behaves as WeCom's official pages document (each rule cites its page as "doc N" in the code);
where they leave a behaviour open the choice is marked "unconfirmed" in a comment.  No pytest import
here — the fixture lives in :mod:`flask_wecom.testing.pytest_plugin`.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union, cast, overload
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..app_types import APP_TYPES, INTERNAL, THIRD_PARTY, AppType
from .model import (
    ACCESS_TOKEN_TTL,
    APP_CUSTOMIZED,
    AUTH_CODE_TTL,
    DEFAULT_PERMISSIONS,
    NAME_AND_EMAIL,
    OAUTH_CODE_TTL,
    SUITE_TICKET_TTL,
    USER_TICKET_TTL,
    APIError,
    Authorization,
    AuthorizeError,
    Clock,
    Corp,
    DomainSettingError,
    Member,
    Provider,
    Suite,
    WeComModel,
)
from .server import Call, DroppedConnection, FakeWeComApp, Faults, ServerHandle, serve_app
from .walk import AppTarget, FakeWeComError, NotFoundError, walk_login

if TYPE_CHECKING:  # for the annotations only: none of these is imported at run time
    import requests
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

    from .pushes import PushResult, VerifyResult

__all__ = [
    "FakeWeCom",
    "Call",
    "Corp",
    "Member",
    "Provider",
    "Suite",
    "Authorization",
    "AuthorizeError",
    "APIError",
    "DomainSettingError",
    "DroppedConnection",
    "FakeWeComError",
    "NotFoundError",
    "PushResult",
    "VerifyResult",
    "ACCESS_TOKEN_TTL",
    "AUTH_CODE_TTL",
    "DEFAULT_PERMISSIONS",
    "NAME_AND_EMAIL",
    "OAUTH_CODE_TTL",
    "SUITE_TICKET_TTL",
    "USER_TICKET_TTL",
]


def __getattr__(name: str) -> Any:
    # the push result types live with the crypto-using code; import lazily
    if name in ("PushResult", "VerifyResult"):
        from . import pushes

        return getattr(pushes, name)
    raise AttributeError(f"module 'flask_wecom.testing' has no attribute {name!r}")


_LOGIN_PATHS = {"/connect/oauth2/authorize": "oauth2", "/wwlogin/sso/login": "wwlogin"}


def _target(url: Any, client: Any, endpoint: str, path: str) -> Tuple[str, Any]:
    """(the full callback URL, the test client or None) for a push.

    ``url`` is the app's test client, the app's base URL (``http://127.0.0.1:5000``: the route is
    then ``/wecom`` + ``path``) or the full callback URL (with ``client=`` too: the older call style).
    """
    if not isinstance(url, str):
        if client is not None:
            raise TypeError("pass the test client once: push_…(client), or push_…(url, client=client)")
        return AppTarget(url).url_for(endpoint, path), url
    if urlsplit(url).path in ("", "/"):
        return AppTarget(url).url_for(endpoint, path), client
    return url, client


def _wait_for_exchange(target: Any, timeout: float = 30.0) -> None:
    """Given a test client: wait until the app's background AuthCode exchange is done."""
    state = getattr(getattr(target, "application", None), "extensions", {}).get("wecom")
    wait = getattr(state, "wait_background", None)
    if callable(wait) and not wait(timeout):
        raise FakeWeComError(f"the app's AuthCode exchange did not finish within {timeout:.0f} s")


def _check_corp_stored(target: Any, corp_id: str, result: Any) -> None:
    """Given a test client: the app stored the corp, or the test learns why not now (not at the login)."""
    state = getattr(getattr(target, "application", None), "extensions", {}).get("wecom")
    store = getattr(state, "store", None)
    if store is None or not result.success:
        return
    record = store.get_corp(corp_id)
    if record is None or not getattr(record, "active", True):
        raise FakeWeComError(
            f"the app answered create_auth with success but holds no permanent code for corp {corp_id}: its "
            "AuthCode exchange failed (the log of 'flask_wecom' says why; after fake.advance() the suite ticket "
            "may have expired — push_suite_ticket(client) first, as WeCom does every 10 minutes)", result.url)


def _raise_if_not_found(result: PushResult) -> PushResult:
    if result.status_code == 404:
        raise NotFoundError(f"the push to {result.url} answered 404 Not Found: is that the app's callback URL, "
                            f"and is WeCom(app) initialised? ({result.text[:200]})", result.url)
    return result


def _wire_time() -> int:
    """The ``timestamp`` query parameter of a push: real time, not the fake's clock.

    The provider checks it against its own (real) clock, as flask-wecom's callback does with
    ``WECOM_CALLBACK_MAX_AGE``; :meth:`FakeWeCom.advance` is for expiring tokens, tickets and
    codes, and must not make every later push look like a replayed or future-dated request.
    The ``TimeStamp`` / ``CreateTime`` fields inside the message keep the fake's time.
    """
    return int(time.time())


class FakeWeCom:
    """One service provider (服务商) with one suite, and customer corps with members.

    ``app_type="customized"`` (default): the suite is a 代开发 template (``suite_id`` ``dk…``);
    ``app_type="third_party"``: a third-party suite (``ww…``; OAuth ``appid`` = suite_id,
    get_corp_token / getuserinfo3rd / getuserdetail3rd work).

    ``trusted_domain`` is the app's 可信域名 (in-client OAuth) for the default corp and the
    third-party suite: a domain name, no scheme, no IP address, no port — as WeCom's console, the
    fake refuses anything else with :class:`DomainSettingError` naming errcode 80001
    (developer.work.weixin.qq.com/document/path/90313, 96441).  ``web_login_domain`` is the
    separate 授权回调域 of web / QR login (98173): port allowed; empty = the trusted domain.

    ``allow_local_redirects=True`` is the simulator's one named leniency: it accepts an IP address
    or a port in those settings, so a demo on ``127.0.0.1:5000`` or a test app on
    ``127.0.0.1:<port>`` can do in-client OAuth.  Real WeCom would refuse such a redirect URI; the
    sign-in page says so while it is used.  Off by default.

    ``encrypted_ids`` (default True) gives a 代开发 authorization the post-2022 encrypted corpid /
    userids (doc 97159).  ``seed`` makes the static credentials reproducible.
    """

    def __init__(
        self,
        *,
        app_type: str = APP_CUSTOMIZED,
        trusted_domain: str = "localhost",
        encrypted_ids: bool = True,
        seed: Optional[int] = None,
        corp_name: str = "示例科技有限公司",
        callback_ips: Optional[List[str]] = None,
        web_login_domain: str = "",
        allow_local_redirects: bool = False,
    ) -> None:
        self.model = WeComModel(
            app_type=app_type,
            trusted_domain=trusted_domain,
            encrypted_ids=encrypted_ids,
            seed=seed,
            corp_name=corp_name,
            callback_ips=callback_ips,
            web_login_domain=web_login_domain,
            allow_local_redirects=allow_local_redirects,
        )
        #: every request received (secrets masked), oldest first
        self.calls: List[Call] = []
        self.faults = Faults()
        #: the WSGI app (mount it in-process, or use :meth:`serve`)
        self.app = FakeWeComApp(self.model, self.calls, self.faults)
        #: base URL while serving, else None
        self.url: Optional[str] = None
        self._server: Optional[ServerHandle] = None
        self._serve_lock = threading.Lock()
        #: the sub-folder of flask_config(folder): each fake its own store, never a previous run's corps
        self._folder_name = "fake-wecom-" + secrets.token_hex(4)

    def __repr__(self) -> str:
        return f"<FakeWeCom {self.model.suite.app_type} suite={self.suite.suite_id} url={self.url}>"

    # -- the people and things -----------------------------------------------------------

    @property
    def provider(self) -> Provider:
        return self.model.provider

    @property
    def suite(self) -> Suite:
        return self.model.suite

    @property
    def login_suite(self) -> Suite:
        """The provider's 登录授权 app: third-party web login (ServiceApp) uses its SuiteID (98171)."""
        return self.model.login_suite

    @property
    def corp(self) -> Corp:
        """The default customer corp."""
        return self.model.corps[0]

    @property
    def corps(self) -> List[Corp]:
        return self.model.corps

    @property
    def clock(self) -> Clock:
        return self.model.clock

    @property
    def callback_ips(self) -> List[str]:
        return self.model.callback_ips

    def add_corp(self, **kwargs: Any) -> Corp:
        """Another customer corp (``name=``, ``trusted_domain=``, ``web_login_domain=``, ``encrypted_ids=``,
        ``members=``)."""
        return self.model.add_corp(**kwargs)

    @property
    def allow_local_redirects(self) -> bool:
        """The simulator's named leniency (see the class docstring); settable."""
        return self.model.allow_local_redirects

    @allow_local_redirects.setter
    def allow_local_redirects(self, value: bool) -> None:
        self.model.allow_local_redirects = value

    def now(self) -> float:
        return self.model.now()

    def advance(self, seconds: float) -> float:
        """Move the fake clock forward: tokens, tickets and codes expire.  Returns the new time."""
        return self.model.clock.advance(seconds)

    # -- faults --------------------------------------------------------------------------

    def fail(self, path: str, errcode: int, times: Optional[int] = 1, errmsg: Optional[str] = None) -> None:
        """The next ``times`` requests to ``path`` answer ``{"errcode": errcode}`` (None = all)."""
        self.faults.add("fail", path, times, errcode=int(errcode), errmsg=errmsg)

    def slow(self, path: str, seconds: float, times: Optional[int] = 1) -> None:
        """The next ``times`` requests to ``path`` wait ``seconds`` (real time) before answering."""
        self.faults.add("slow", path, times, seconds=float(seconds))

    def http_error(self, path: str, status: int = 502, times: Optional[int] = 1) -> None:
        """The next ``times`` requests to ``path`` get an HTTP ``status`` with an HTML body."""
        self.faults.add("http_error", path, times, status=int(status))

    def drop(self, path: str, times: Optional[int] = 1) -> None:
        """The next ``times`` requests to ``path`` get their connection closed, no response at all."""
        self.faults.add("drop", path, times)

    def expire_access_tokens(self) -> int:
        """Every access token WeCom issued so far expires now, as after its 7200 s: the next call made with one
        answers 42001 and ``gettoken`` issues a new token (``fail(path, 42001)`` instead answers 42001 while the
        token stays valid, so gettoken hands the same token back). Returns how many were live."""
        with self.model.lock:
            return self.model.expire_access_tokens()

    def clear_faults(self) -> None:
        self.faults.clear()

    def calls_to(self, path: str) -> List[Call]:
        return [c for c in list(self.calls) if c.path == path]

    # -- serving -------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread until :meth:`stop`; returns the base URL."""
        with self._serve_lock:
            if self._server is not None:
                raise RuntimeError(f"FakeWeCom is already serving at {self.url}")
            handle = serve_app(self.app, host, port)
            self._server = handle
            self.url = handle.url
            self.model.site.public_url = handle.url
            return handle.url

    def stop(self) -> None:
        with self._serve_lock:
            handle, self._server = self._server, None
            self.url = None
        if handle is not None:
            handle.close()

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Context manager: real HTTP on ``host:port`` (0 = a free port); yields the base URL."""
        url = self.start(host, port)
        try:
            yield url
        finally:
            self.stop()

    @property
    def oauth_authorize_endpoint(self) -> str:
        return self._base() + "/connect/oauth2/authorize"

    @property
    def web_login_endpoint(self) -> str:
        return self._base() + "/wwlogin/sso/login"

    def _base(self) -> str:
        return self.url or "http://127.0.0.1"

    # -- what a 代开发 app may read (98980, 99052) and interface licences (97194) ------------

    def revoke_permissions(self, *permissions: str, corp: Optional[Corp] = None) -> None:
        """Take custom permissions away from ``corp``'s 代开发 app (default: name and email).

        user/get and getuserdetail then leave those member fields out, and agent/get_permissions
        no longer lists them. Self-built and third-party access are not affected.
        """
        corp = corp or self.corp
        with self.model.lock:
            corp.permissions.difference_update(permissions or NAME_AND_EMAIL)

    def grant_permissions(self, *permissions: str, corp: Optional[Corp] = None) -> None:
        """Grant custom permissions (``contact:sensitive:…``) to ``corp``'s 代开发 app (default: name and
        email), as the customer's admin does in 应用管理 → 权限管理."""
        corp = corp or self.corp
        with self.model.lock:
            corp.permissions.update(permissions or NAME_AND_EMAIL)

    def end_trial(self, corp: Optional[Corp] = None, ended: bool = True) -> None:
        """The free trial (90 days from the install, 97194) is over now (``ended=False``: back to the
        clock). Members without a licence are then refused (701016); licensed ones keep working."""
        corp = corp or self.corp
        with self.model.lock:
            corp.trial_expired = ended

    def license_member(self, userid: str, active: bool = True, *, corp: Optional[Corp] = None) -> Member:
        """Give (or take away) a member's interface licence (接口许可 account, 97194)."""
        corp = corp or self.corp
        with self.model.lock:
            member = corp.member(userid)
            if member is None:
                raise ValueError(f"no member {userid!r} in {corp.name}")
            member.licensed = active
            return member

    # -- authorization state without pushes ----------------------------------------------

    def issue_suite_ticket(self, suite: Optional[Suite] = None) -> str:
        """A new valid suite_ticket without pushing it (push_suite_ticket() issues *and* pushes).

        ``suite`` defaults to the app's; :attr:`login_suite` has its own tickets."""
        with self.model.lock:
            return self.model.issue_suite_ticket(suite)

    def install_app(self, corp: Optional[Corp] = None, state: str = "") -> Authorization:
        """Authorize the suite for ``corp`` without a push or code exchange (shortcut for tests).

        The returned :class:`Authorization` has ``permanent_code`` and ``auth_corp_id``.
        """
        with self.model.lock:
            auth, _ = self.model.create_authorization(corp, state)
            return auth

    # -- pushes to the provider (docs 96466 / 97172) ---------------------------------------------------

    def _template_push(self, url: str, fields: Mapping[str, Any], client: Any,
                       timeout: float, suite: Optional[Suite] = None) -> PushResult:
        from .pushes import post_event

        suite = suite or self.suite
        url, client = _target(url, client, "wecom.callback", "/callback")
        # doc 90968 / 97172: template (指令) events are encrypted with receiveid = suite_id;
        # ToUserName = suite_id, AgentID empty (doc 96466)
        return _raise_if_not_found(post_event(
            url, fields, token=suite.token, encoding_aes_key=suite.encoding_aes_key,
            receive_id=suite.suite_id, to_user_name=suite.suite_id, agent_id="",
            timestamp=_wire_time(), client=client, timeout=timeout,
        ))

    def push_suite_ticket(self, url: Any, *, client: Any = None, timeout: float = 5.0) -> PushResult:
        """Issue a new suite_ticket and push it (doc 97162).  Returns a :class:`PushResult`.

        ``url``: the app's test client (``app.test_client()``), its base URL (``http://127.0.0.1:5000``,
        pushed to ``/wecom/callback``) or the full callback URL (optionally with ``client=``). An
        answer 404 raises :class:`NotFoundError` naming the URL.
        """
        ticket = self.issue_suite_ticket()
        fields = {"SuiteId": self.suite.suite_id, "InfoType": "suite_ticket",
                  "TimeStamp": int(self.now()), "SuiteTicket": ticket}
        return self._template_push(url, fields, client, timeout)

    def push_login_suite_ticket(self, url: str, *, client: Any = None, timeout: float = 5.0) -> PushResult:
        """Issue and push a suite_ticket of the 登录授权 suite (its token is got like any suite's, 98179).

        ``url`` is the callback URL of the 登录授权 settings (with flask-wecom: the template URL)."""
        with self.model.lock:
            ticket = self.model.issue_suite_ticket(self.login_suite)
        fields = {"SuiteId": self.login_suite.suite_id, "InfoType": "suite_ticket",
                  "TimeStamp": int(self.now()), "SuiteTicket": ticket}
        return self._template_push(url, fields, client, timeout, suite=self.login_suite)

    def authorize(self, url: Any, *, corp: Optional[Corp] = None, state: str = "", client: Any = None,
                  timeout: float = 5.0) -> PushResult:
        """The customer admin scans the template QR code: push ``create_auth`` with a new AuthCode (doc 97174).

        ``url`` as for :meth:`push_suite_ticket`. Given the app's test client, it returns once the app
        has exchanged the AuthCode for the permanent code (a background exchange is waited for; with a
        base URL, configure the app with :meth:`flask_config` ``(folder)``, which exchanges at once).
        """
        with self.model.lock:
            _, code = self.model.create_authorization(corp, state)
        fields = {"SuiteId": self.suite.suite_id, "AuthCode": code, "InfoType": "create_auth",
                  "TimeStamp": int(self.now()), "State": state, "ExtraInfo": ""}
        result = self._template_push(url, fields, client, timeout)
        _wait_for_exchange(url)
        _check_corp_stored(url, (corp or self.corp).auth_corp_id, result)
        return result

    def reset_secret(self, url: str, *, corp: Optional[Corp] = None, client: Any = None,
                     timeout: float = 5.0) -> PushResult:
        """Click "重新获取secret": a new permanent code now (the old one -> 40001).

        Pushes ``reset_permanent_code`` with an AuthCode (doc 97175).
        """
        with self.model.lock:
            _, code = self.model.reset_permanent_code(corp)
        fields = {"SuiteId": self.suite.suite_id, "AuthCode": code, "InfoType": "reset_permanent_code",
                  "TimeStamp": int(self.now())}
        result = self._template_push(url, fields, client, timeout)
        _wait_for_exchange(url)
        return result

    def cancel_auth(self, url: str, *, corp: Optional[Corp] = None, client: Any = None,
                    timeout: float = 5.0) -> PushResult:
        """The customer removes the app: the permanent code stops working; push ``cancel_auth`` (doc 90642)."""
        with self.model.lock:
            auth = self.model.cancel_authorization(corp)
        fields = {"SuiteId": self.suite.suite_id, "InfoType": "cancel_auth",
                  "TimeStamp": int(self.now()), "AuthCorpId": auth.auth_corp_id}
        return self._template_push(url, fields, client, timeout)

    def change_auth(self, url: str, *, corp: Optional[Corp] = None, client: Any = None,
                    timeout: float = 5.0) -> PushResult:
        """Push ``change_auth`` (doc 90642) — flip ``corp.app_closed`` / ``member.visible`` first."""
        corp = corp or self.corp
        fields = {"SuiteId": self.suite.suite_id, "InfoType": "change_auth",
                  "TimeStamp": int(self.now()), "AuthCorpId": corp.auth_corp_id}
        return self._template_push(url, fields, client, timeout)

    def verify_callback_url(self, url: str, *, receive_id: Optional[str] = None, client: Any = None,
                            token: Optional[str] = None, encoding_aes_key: Optional[str] = None,
                            timeout: float = 5.0) -> VerifyResult:
        """Send the GET URL verification and check the plaintext answer (doc 96466).

        ``receive_id`` defaults to the provider's corp id: "配置的url对应的get请求都需以服务商本身的corpid
        来解密" (doc 90968; partly unconfirmed).  Returns a :class:`VerifyResult`, truthy when the
        answer was exactly the decrypted echostr (``.reason`` says what was wrong otherwise).
        """
        from .pushes import verify_url

        return verify_url(
            url, token=token or self.suite.token,
            encoding_aes_key=encoding_aes_key or self.suite.encoding_aes_key,
            receive_id=self.provider.corp_id if receive_id is None else receive_id,
            timestamp=_wire_time(), client=client, timeout=timeout,
        )

    def push_event(self, url: str, fields: Mapping[str, Union[str, int]], *, receive_id: Optional[str] = None,
                   corp: Optional[Corp] = None, client: Any = None, token: Optional[str] = None,
                   encoding_aes_key: Optional[str] = None, timeout: float = 5.0) -> PushResult:
        """Push an app (data) callback event — ``change_contact``, ``enter_agent``… — to the app's URL
        (the test client or base URL: ``/wecom/callback/data``).

        Missing ``ToUserName`` / ``FromUserName`` / ``CreateTime`` / ``MsgType`` / ``AgentID`` are
        filled in.  ``receive_id`` defaults to the corp id the app sees (``corp.auth_corp_id``):
        "企业应用的回调，表示corpid" (doc 90968; unconfirmed for 代开发 specifically).  Token and
        EncodingAESKey default to the suite's (the provider usually reuses them; override if not).
        """
        from .pushes import post_event

        corp = corp or self.corp
        corp_id = corp.auth_corp_id
        full: Dict[str, Union[str, int]] = {
            "ToUserName": corp_id, "FromUserName": "sys", "CreateTime": int(self.now()), "MsgType": "event",
        }
        full.update(fields)
        full.setdefault("AgentID", corp.agent_id)
        url, client = _target(url, client, "wecom.callback_data", "/callback/data")
        return _raise_if_not_found(post_event(
            url, full, token=token or self.suite.token,
            encoding_aes_key=encoding_aes_key or self.suite.encoding_aes_key,
            receive_id=corp_id if receive_id is None else receive_id,
            to_user_name=str(full["ToUserName"]), agent_id=str(full["AgentID"]), app_envelope=True,
            timestamp=_wire_time(), client=client, timeout=timeout,
        ))

    def push_change_contact(self, url: str, change_type: str = "update_user", *,
                            member: Optional[Member] = None, corp: Optional[Corp] = None,
                            client: Any = None, **extra: Union[str, int]) -> PushResult:
        """``Event=change_contact`` for a member (doc 96301, 96302); ``UserID`` as the app sees it."""
        corp = corp or self.corp
        member = member or corp.members[0]
        encrypted = corp.authorization.encrypted if corp.authorization is not None else corp.encrypted_ids
        fields: Dict[str, Union[str, int]] = {"Event": "change_contact", "ChangeType": change_type,
                                              "UserID": member.id_as(encrypted)}
        fields.update(extra)
        return self.push_event(url, fields, corp=corp, client=client)

    def push_enter_agent(self, url: str, *, member: Optional[Member] = None, corp: Optional[Corp] = None,
                         client: Any = None) -> PushResult:
        """``Event=enter_agent`` (doc 96466 sample): a member opened the app."""
        corp = corp or self.corp
        member = member or corp.members[0]
        encrypted = corp.authorization.encrypted if corp.authorization is not None else corp.encrypted_ids
        fields = {"FromUserName": member.id_as(encrypted), "Event": "enter_agent", "EventKey": ""}
        return self.push_event(url, fields, corp=corp, client=client)

    # -- OAuth / web login helpers (doc 91022) --------------------------------------------------

    def authorize_url(self, redirect_uri: str, *, state: str = "", scope: str = "snsapi_base",
                      corp: Optional[Corp] = None, appid: Optional[str] = None) -> str:
        """The in-client OAuth link (docs 91022 / 91120) pointing at this fake."""
        corp = corp or self.corp
        if appid is None:
            appid = self.suite.suite_id if self.suite.is_third_party else corp.auth_corp_id
        params = {"appid": appid, "redirect_uri": redirect_uri, "response_type": "code",
                  "scope": scope, "state": state}
        if not self.suite.is_third_party:
            params["agentid"] = str(corp.agent_id)
        return f"{self.oauth_authorize_endpoint}?{urlencode(params)}#wechat_redirect"

    def web_login_url(self, redirect_uri: str, *, state: str = "", corp: Optional[Corp] = None) -> str:
        """The web / QR login link (doc 98152): CorpApp for 代开发 / self-built, ServiceApp with the 登录授权
        SuiteID for third-party apps (98171)."""
        corp = corp or self.corp
        if self.suite.is_third_party:
            params = {"login_type": "ServiceApp", "appid": self.login_suite.suite_id}
        else:
            params = {"login_type": "CorpApp", "appid": corp.auth_corp_id, "agentid": str(corp.agent_id)}
        params.update(redirect_uri=redirect_uri, state=state)
        return f"{self.web_login_endpoint}?{urlencode(params)}"

    @property
    def install_endpoint(self) -> str:
        """The install page of installs started from the provider's website (``/3rdapp/install``, 90597)."""
        return self._base() + "/3rdapp/install"

    def install_to_redirect(self, url: str, *, referer: Optional[str] = None, corp: Optional[Corp] = None) -> str:
        """What the admin's "install" click on the page for ``url`` redirects to (no HTML, no HTTP):
        ``redirect_uri?auth_code=…&expires_in=600&state=…``; raises :class:`AuthorizeError` where WeCom
        shows an error page. ``referer`` is the page the install page was opened from."""
        params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        with self.model.lock:
            req = self.model.validate_install(params, referer)
            return self.model.confirm_install(req, corp.corp_id if corp is not None else None)

    def authorize_url_to_redirect(self, url: str, userid: Optional[str] = None, *,
                                  non_member: bool = False, corp_id: Optional[str] = None) -> str:
        """What clicking "以 … 身份登录" on the page for ``url`` redirects to (no HTML, no HTTP).

        ``url`` is an OAuth (``/connect/oauth2/authorize``) or web-login (``/wwlogin/sso/login``)
        URL on any host.  ``userid`` (plaintext or open id) defaults to the first visible
        member; ``non_member=True`` picks "continue as a non-member".  Returns the Location
        (``redirect_uri?code=…&state=…``); raises :class:`AuthorizeError` where WeCom would show
        an error page (untrusted domain, bad state, outside the visible range…).
        """
        parts = urlsplit(url)
        kind = _LOGIN_PATHS.get(parts.path)
        if kind is None:
            raise ValueError(f"not an OAuth / web-login URL: {parts.path!r}")
        params: Dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            params.setdefault(key, value)
        with self.model.lock:
            req = self.model.validate_login(kind, params)
            return self.model.confirm_login(req, userid, corp_id=corp_id, non_member=non_member)

    @overload
    def login(self, app: FlaskClient, userid: Optional[str] = None, *, via: str = "oauth",
              next: Optional[str] = "/", corp: Optional[Corp] = None, session: Any = None,
              base_url: Optional[str] = None, timeout: float = 10.0) -> TestResponse: ...

    @overload
    def login(self, app: str, userid: Optional[str] = None, *, via: str = "oauth", next: Optional[str] = "/",
              corp: Optional[Corp] = None, session: Any = None, base_url: Optional[str] = None,
              timeout: float = 10.0) -> requests.Response: ...

    def login(self, app: Union[FlaskClient, str], userid: Optional[str] = None, *, via: str = "oauth",
              next: Optional[str] = "/", corp: Optional[Corp] = None, session: Any = None,
              base_url: Optional[str] = None, timeout: float = 10.0) -> Any:
        """A member logs in to the app, the whole round trip; returns the app's final response.

        ``app`` is the app's test client (``app.test_client()``; its cookies then hold the login) or
        its base URL (``http://127.0.0.1:5000``, over HTTP with ``session`` or a new
        ``requests.Session``). ``base_url`` is where the test client's requests go (default
        ``http://localhost``, the fake's default trusted domain; ``https://app.example.com`` with
        ``FakeWeCom(trusted_domain="app.example.com")``).

        The walk: the app's ``/wecom/login?next=…&via=…`` → this fake's sign-in page → the click on
        ``userid`` (default: the first visible member) → the app's ``/wecom/authorized`` → ``next``,
        following every redirect. ``via="oauth"``: in-client OAuth, as from inside the WeCom client;
        ``via="qr"``: web / QR login from a desktop browser (WeCom then gives no email). ``corp``: a
        corp other than the default one; the app's login URL then names it, as it must once several
        corps use the app.

        The response is the page at ``next`` (or the app's failure page when the login failed there).
        WeCom's error page raises :class:`AuthorizeError`; a 404 anywhere raises
        :class:`NotFoundError` with the URL it tried.
        """
        if self.url is None:
            raise RuntimeError("serve the fake first (fake.serve() or the fake_wecom fixture)")
        target = AppTarget(app, session=session, base_url=base_url)
        third_party = self.suite.is_third_party
        response, _ = walk_login(target, self.url, userid, via=via, next_url=next,
                                 corp_id=corp.corp_id if corp is not None else None,
                                 app_corp_id=corp.auth_corp_id if corp is not None and not third_party else None,
                                 timeout=timeout)
        return response

    # -- for humans -----------------------------------------------------------------------

    def credentials(self) -> Dict[str, Any]:
        """Every fake id and secret, for printing (``python -m flask_wecom.testing``) or config."""
        corp = self.corp
        return {
            "api_base": self.url,
            "allow_local_redirects": self.allow_local_redirects,
            "oauth_authorize": self.oauth_authorize_endpoint,
            "web_login": self.web_login_endpoint,
            "provider": {"corp_id": self.provider.corp_id, "provider_secret": self.provider.secret},
            "suite": {
                "app_type": self.suite.app_type,
                "suite_id": self.suite.suite_id,
                "suite_secret": self.suite.suite_secret,
                "token": self.suite.token,
                "encoding_aes_key": self.suite.encoding_aes_key,
            },
            "login_suite": {"suite_id": self.login_suite.suite_id, "suite_secret": self.login_suite.suite_secret},
            "corps": [
                {
                    "name": c.name,
                    "corp_id": c.corp_id,
                    "auth_corp_id": c.auth_corp_id,
                    "agent_id": c.agent_id,
                    "secret": c.secret,
                    "trusted_domain": c.trusted_domain,
                    "web_login_domain": c.web_login_callback_domain,
                    "encrypted_ids": c.encrypted_ids,
                    "members": [
                        {"userid": m.userid, "open_userid": m.open_userid, "name": m.name,
                         "email": m.email, "visible": m.visible}
                        for m in c.members
                    ],
                }
                for c in ([corp] + [c for c in self.corps if c is not corp])
            ],
        }

    def flask_config(self, folder: Union[str, os.PathLike[str], None] = None,
                     app_type: Optional[AppType] = None) -> Dict[str, Any]:
        """The ``WECOM_*`` settings that point a flask-wecom app at this (served) fake.

        ``folder`` (``tmp_path`` in a test): the store (SQLite) and the token cache go in a sub-folder
        of their own for this fake (``fake-wecom-…``), so a second run in the same folder never sees
        the corps of the first; and AuthCodes are exchanged before the callback answers
        (``WECOM_EXCHANGE_IN_BACKGROUND=False``), so the corp is ready when :meth:`authorize` returns.
        Without it the store and cache are the app's defaults (its instance folder).

        ``app_type`` is ``"customized"`` or ``"third_party"`` (the fake's own suite: ticket and
        authorization then arrive through your callback URL, e.g. :meth:`push_suite_ticket` and
        :meth:`authorize`), or ``"internal"`` (the default corp as a self-built app: corp id,
        agent id and secret, no suite). Default: the fake's own app type.

        >>> app.config.update(fake.flask_config())   # doctest: +SKIP
        """
        if self.url is None:
            raise RuntimeError("serve the fake first (fake.serve() or fake.start()): its URL goes in the config")
        if app_type is None and isinstance(folder, str) and folder in APP_TYPES:
            folder, app_type = None, cast(AppType, folder)  # the older call style: flask_config("internal")
        kind = app_type or self.suite.app_type
        config: Dict[str, Any] = {
            "WECOM_API_BASE": self.url,
            "WECOM_OAUTH_AUTHORIZE_URL": self.oauth_authorize_endpoint,
            "WECOM_SSO_LOGIN_URL": self.web_login_endpoint,
        }
        if kind == INTERNAL:
            # no callback settings: a self-built app's callback is optional; add WECOM_TOKEN /
            # WECOM_ENCODING_AES_KEY (e.g. the suite's) to test one
            corp = self.corp
            config.update(WECOM_APP_TYPE=INTERNAL, WECOM_CORP_ID=corp.corp_id,
                          WECOM_AGENT_ID=str(corp.agent_id), WECOM_SECRET=corp.secret)
        elif kind == self.suite.app_type:
            config.update(WECOM_APP_TYPE=kind, WECOM_SUITE_ID=self.suite.suite_id,
                          WECOM_SUITE_SECRET=self.suite.suite_secret, WECOM_TOKEN=self.suite.token,
                          WECOM_ENCODING_AES_KEY=self.suite.encoding_aes_key,
                          WECOM_PROVIDER_CORP_ID=self.suite.provider_corp_id,
                          WECOM_PROVIDER_SECRET=self.provider.secret)
            if kind == THIRD_PARTY:
                # web login's 登录授权 suite (98171) and the install page (90597)
                config.update(WECOM_LOGIN_SUITE_ID=self.login_suite.suite_id,
                              WECOM_LOGIN_SUITE_SECRET=self.login_suite.suite_secret,
                              WECOM_INSTALL_URL=self.install_endpoint)
        else:
            raise ValueError(f"this fake plays a {self.suite.app_type!r} suite; app_type must be that or "
                             f"'internal', not {kind!r}")
        if folder is not None:
            where = os.path.join(os.fspath(folder), self._folder_name)
            os.makedirs(where, exist_ok=True)
            config.update(WECOM_DATABASE_URI="sqlite:///" + os.path.join(where, "wecom.sqlite3"),
                          WECOM_CACHE_TYPE="FileSystemCache", WECOM_CACHE_DIR=os.path.join(where, "wecom-cache"),
                          WECOM_EXCHANGE_IN_BACKGROUND=False)
        return config
