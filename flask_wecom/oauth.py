"""WeCom login, free of Flask: the login URLs and the code → member exchange.

Two ways to send a user to WeCom (doc 91022):

* inside the WeCom client (User-Agent contains ``wxwork``): the OAuth2 link
  ``open.weixin.qq.com/connect/oauth2/authorize?appid=…&redirect_uri=…&response_type=code&scope=…
  &state=…&agentid=…#wechat_redirect`` (doc 91022; third-party apps use the suite id and no agentid, doc 91120);
* in an ordinary browser: the web / QR login page
  ``login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp|ServiceApp&appid=…&agentid=…
  &redirect_uri=…&state=…`` (doc 98152).

Both come back to ``redirect_uri?code=…&state=…``. :func:`exchange_code` turns the code into a
:class:`~flask_wecom.user.WeComUser`: app access token → ``auth/getuserinfo`` (third-party:
``service/auth/getuserinfo3rd`` with the suite token) → ``user/get`` → ``auth/getuserdetail``
(third-party: ``getuserdetail3rd``) when a ``user_ticket`` came back (doc 96442). Every failure is a
:class:`LoginFailure` (a :class:`~flask_wecom.errors.LoginError`) whose ``reason`` says which of the
documented cases it is, so the Flask layer can show the right page.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Tuple, cast

from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri

from . import errcodes, permissions, reasons
from .app_types import CUSTOMIZED, THIRD_PARTY, AppType
from .errors import (
    ConfigError,
    CorpNotChosenError,
    CorpNotFoundError,
    LoginError,
    NoAuthorizedCorpError,
    NoSuiteTicketError,
    TransportError,
    WeComAPIError,
    WeComError,
)
from .lazy_store import store_unavailable_reason as unavailable_reason
from .tokens import PinnedToken

if TYPE_CHECKING:
    from .client import TokenLike
    from .provider import Provider
from .user import WeComUser

log = logging.getLogger("flask_wecom.login")

__all__ = [
    "OAUTH",
    "QR",
    "CORP_APP",
    "SERVICE_APP",
    "generate_state",
    "is_valid_state",
    "is_wecom_client",
    "choose_via",
    "login_type_for",
    "authorize_url",
    "web_login_url",
    "login_url",
    "UserIdentity",
    "parse_user_info",
    "LoginFailure",
    "failure_from_error",
    "exchange_code",
]

OAUTH = "oauth"
QR = "qr"
#: ``login_type`` of the web login page (doc 98152): self-built and 代开发 apps …
CORP_APP = "CorpApp"
#: … and third-party (service) apps.
SERVICE_APP = "ServiceApp"

#: What the WeCom client puts in its User-Agent (``… wxwork/4.1.0 …``).
WECOM_CLIENT_MARKER = "wxwork"
#: doc 91022: state is ``[a-zA-Z0-9]``, at most 128 bytes (else 84025).
STATE_PATTERN = re.compile(r"^[A-Za-z0-9]{1,128}$")
STATE_LENGTH = 32

#: The failure reasons the login layer distinguishes: one record each in flask_wecom.reasons (status,
#: retry, the page's words, the errcodes that mean it).
REASONS = reasons.REASONS

#: errcodes of auth/getuserdetail after which the login goes on without the sensitive fields
_DETAIL_OPTIONAL = frozenset({48002, 84014, 84015, 84090, 92001})
#: errcodes of user/get after which the login goes on with what getuserinfo gave
_USER_GET_OPTIONAL = frozenset({48002})


# -- state and the login URLs ----------------------------------------------------------------


def generate_state(length: int = STATE_LENGTH) -> str:
    """A fresh random state: ``[a-zA-Z0-9]`` only (Authlib's token helper), at most 128 characters."""
    if not 1 <= length <= 128:
        raise ValueError("WeCom's state is 1 to 128 characters (developer.work.weixin.qq.com/document/path/91022)")
    return cast(str, generate_token(length))  # Authlib is untyped


def is_valid_state(value: Any) -> bool:
    return isinstance(value, str) and bool(STATE_PATTERN.match(value))


def is_wecom_client(user_agent: Optional[str]) -> bool:
    """True inside the WeCom client (its User-Agent contains ``wxwork``)."""
    return WECOM_CLIENT_MARKER in (user_agent or "").lower()


def choose_via(setting: str, user_agent: Optional[str], requested: Optional[str] = None) -> str:
    """``oauth`` or ``qr``: ``?via=`` wins, then ``WECOM_LOGIN_VIA``, then the User-Agent (``auto``)."""
    for choice in (requested, setting):
        if choice in (OAUTH, QR):
            return choice
    return OAUTH if is_wecom_client(user_agent) else QR


def login_type_for(app_type: AppType) -> str:
    """``CorpApp`` for self-built and 代开发 apps, ``ServiceApp`` for third-party apps (doc 98152)."""
    return SERVICE_APP if app_type == THIRD_PARTY else CORP_APP


def _params(pairs: List[Tuple[str, Any]]) -> List[Tuple[str, str]]:
    return [(key, str(value)) for key, value in pairs if value not in (None, "")]


def authorize_url(base: str, *, appid: str, redirect_uri: str, state: str, scope: str = "snsapi_privateinfo",
                  agentid: Optional[Any] = None) -> str:
    """The in-client OAuth2 link (docs 91022 / 91120), ending in ``#wechat_redirect``.

    ``redirect_uri`` is URL-encoded here; pass it plain. ``agentid`` is required with
    ``snsapi_privateinfo`` for ``appid = corp id`` (otherwise WeCom silently falls back to
    ``snsapi_base``); third-party apps (``appid = suite id``) leave it out.
    """
    if not appid:
        raise ConfigError("the OAuth appid is empty: set WECOM_CORP_ID (or WECOM_SUITE_ID for third-party "
                          "apps)")
    if not is_valid_state(state):
        raise ValueError("state must be 1-128 characters of [a-zA-Z0-9] (errcode 84025, developer.work.weixin.qq.com/"
                         "document/path/91022)")
    params = _params([
        ("appid", appid),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", scope),
        ("state", state),
        ("agentid", agentid),
    ])
    return cast(str, add_params_to_uri(base.split("#", 1)[0], params)) + "#wechat_redirect"


def web_login_url(base: str, *, login_type: str, appid: str, redirect_uri: str, state: str,
                  agentid: Optional[Any] = None, lang: Optional[str] = None) -> str:
    """The web / QR login link (doc 98152). ``agentid`` is sent for ``CorpApp`` only."""
    if login_type not in (CORP_APP, SERVICE_APP):
        raise ValueError(f"login_type must be {CORP_APP} or {SERVICE_APP}, not {login_type!r}")
    if not appid:
        raise ConfigError("the web-login appid is empty: set WECOM_CORP_ID (or WECOM_SUITE_ID for "
                          "third-party apps)")
    if not is_valid_state(state):
        raise ValueError("state must be 1-128 characters of [a-zA-Z0-9] (errcode 84025, developer.work.weixin.qq.com/"
                         "document/path/91022)")
    params = _params([
        ("login_type", login_type),
        ("appid", appid),
        ("agentid", agentid if login_type == CORP_APP else None),
        ("redirect_uri", redirect_uri),
        ("state", state),
        ("lang", lang),
    ])
    return cast(str, add_params_to_uri(base, params))


def login_suite_missing() -> LoginFailure:
    """Third-party web login cannot be done right without the 登录授权 suite: refuse it, naming the keys."""
    return LoginFailure("login_suite_missing",
                        "third-party web login (login_type=ServiceApp) needs WECOM_LOGIN_SUITE_ID and "
                        "WECOM_LOGIN_SUITE_SECRET (the provider's 登录授权 app, not the app's own suite; "
                        "developer.work.weixin.qq.com/document/path/98171)", step="login")


def login_url(*, via: str, app_type: AppType, appid: str, redirect_uri: str, state: str,
              authorize_base: str, sso_base: str, scope: str = "snsapi_privateinfo",
              agentid: Optional[Any] = None, lang: Optional[str] = None,
              login_suite_id: Optional[str] = None) -> str:
    """The URL to send the browser to, for ``via`` ``oauth`` or ``qr`` and the app type.

    Third-party web login (``qr``) takes the provider's 登录授权 SuiteID as appid, not the app's suite id
    (developer.work.weixin.qq.com/document/path/98171): without ``login_suite_id`` it is refused with
    :func:`login_suite_missing` rather than sent to a page WeCom refuses."""
    third_party = app_type == THIRD_PARTY
    if not third_party and not agentid:
        raise ConfigError("the app's agent id is unknown: set WECOM_AGENT_ID (for 代开发 it comes with the "
                          "authorization: auth_info.agent[0].agentid)")
    if via == OAUTH:
        return authorize_url(authorize_base, appid=appid, redirect_uri=redirect_uri, state=state, scope=scope,
                             agentid=None if third_party else agentid)
    if third_party:
        if not login_suite_id:
            raise login_suite_missing()
        appid = login_suite_id
    return web_login_url(sso_base, login_type=login_type_for(app_type), appid=appid,
                         redirect_uri=redirect_uri, state=state, agentid=agentid, lang=lang)


# -- parsing WeCom's answers ----------------------------------------------------------------


def _first(data: Mapping[str, Any], *names: str) -> Optional[str]:
    """The first non-empty value among ``names`` (current lower-case and legacy capitalised spellings)."""
    for name in names:
        value = data.get(name)
        if value not in (None, ""):
            return str(value)
    return None


@dataclass
class UserIdentity:
    """What ``auth/getuserinfo`` / ``getuserinfo3rd`` said about the code's owner (doc 96442, doc 91121)."""

    userid: Optional[str] = None
    corp_id: Optional[str] = None
    open_userid: Optional[str] = None
    openid: Optional[str] = None
    external_userid: Optional[str] = None
    device_id: Optional[str] = None
    user_ticket: Optional[str] = field(default=None, repr=False)  # a credential: keep out of reprs

    @property
    def is_member(self) -> bool:
        return bool(self.userid)


def parse_user_info(data: Mapping[str, Any]) -> UserIdentity:
    """Parse both the current (``userid``, ``openid``, ``corpid``) and the legacy capitalised
    (``UserId``, ``OpenId``, ``DeviceId``, ``CorpId``) field names."""
    return UserIdentity(
        userid=_first(data, "userid", "UserId", "UserID"),
        corp_id=_first(data, "corpid", "CorpId", "CorpID"),
        open_userid=_first(data, "open_userid", "OpenUserId"),
        openid=_first(data, "openid", "OpenId", "OpenID"),
        external_userid=_first(data, "external_userid", "ExternalUserId"),
        device_id=_first(data, "deviceid", "DeviceId", "DeviceID"),
        user_ticket=_first(data, "user_ticket", "UserTicket"),
    )


_PROFILE_FIELDS = ("name", "email", "biz_mail", "avatar", "mobile", "position", "alias", "open_userid")


def _merge_profile(values: Dict[str, Any], data: Mapping[str, Any], *, sensitive_only: bool = False) -> None:
    """Copy non-empty profile fields of a user/get or getuserdetail answer into ``values``."""
    for name in _PROFILE_FIELDS:
        if sensitive_only and name in ("name", "position", "alias", "open_userid"):
            continue
        value = data.get(name)
        if value not in (None, ""):
            values[name] = str(value)
    gender = data.get("gender")
    if gender not in (None, "") and (str(gender) != "0" or "gender" not in values):
        values["gender"] = str(gender)
    if not sensitive_only:
        department = data.get("department")
        if isinstance(department, list):
            values["department"] = [int(d) for d in department if str(d).lstrip("-").isdigit()]
        main: Any = data.get("main_department")
        if main not in (None, "") and str(main).lstrip("-").isdigit():
            values["main_department"] = int(main)


# -- failures --------------------------------------------------------------------------------


class LoginFailure(LoginError):
    """The login failed for a documented reason (``reason`` is one of :data:`REASONS`).

    ``errcode`` / ``errmsg`` are WeCom's when an API call failed; ``ip`` is the caller IP WeCom
    named in a 60020 answer; ``step`` is which call failed (``gettoken``, ``getuserinfo`` …).
    The message never contains a secret.
    """

    def __init__(self, reason: str, message: str = "", *, errcode: Optional[int] = None, errmsg: str = "",
                 ip: Optional[str] = None, step: str = "") -> None:
        self.reason = reason if reason in REASONS else "api_error"
        self.errcode = errcode
        self.errmsg = errmsg or ""
        self.ip = ip
        self.step = step
        #: where "start again" should lead back to, and how (``oauth`` / ``qr``; set by the Flask layer)
        self.next_url: Optional[str] = None
        self.via: Optional[str] = None
        super().__init__(message or f"WeCom login failed: {self.reason}", code=errcode)

    @property
    def info(self) -> Optional[errcodes.ErrorInfo]:
        return errcodes.lookup(self.errcode) if self.errcode is not None else None

    @property
    def record(self) -> reasons.Reason:
        """The registry's record of :attr:`reason`: HTTP status, retry, the words of its page."""
        return reasons.get(self.reason)


def reason_for_errcode(errcode: int) -> str:
    """The reason a WeCom errcode means (the mapping lives with the reasons, :mod:`flask_wecom.reasons`)."""
    return reasons.reason_for_errcode(errcode)


def failure_from_error(exc: BaseException, step: str = "") -> LoginFailure:
    """Map any error met during the exchange to a :class:`LoginFailure`."""
    if isinstance(exc, LoginFailure):
        return exc
    if isinstance(exc, WeComAPIError):
        ip = errcodes.parse_from_ip(exc.errmsg) if exc.errcode == 60020 else None
        return LoginFailure(reason_for_errcode(exc.errcode), str(exc), errcode=exc.errcode, errmsg=exc.errmsg,
                            ip=ip, step=step)
    if isinstance(exc, TransportError):
        return LoginFailure("unreachable", str(exc), step=step)
    if isinstance(exc, NoSuiteTicketError):
        return LoginFailure("no_suite_ticket", str(exc), step=step)
    if isinstance(exc, NoAuthorizedCorpError):
        return LoginFailure("no_corp", str(exc), step=step)
    if isinstance(exc, CorpNotChosenError):
        return LoginFailure("corp_required", str(exc), step=step)
    if isinstance(exc, CorpNotFoundError):
        return LoginFailure("corp_unknown", str(exc), step=step)
    if isinstance(exc, ConfigError):
        return LoginFailure("config", str(exc), step=step)
    unavailable = unavailable_reason(exc)  # the store's database is down, or its schema not ready
    if unavailable is not None:
        return LoginFailure("store_unavailable", f"the store is unavailable ({unavailable})", step=step)
    if isinstance(exc, WeComError):
        return LoginFailure("api_error", str(exc), errcode=exc.code, step=step)
    return LoginFailure("internal", f"unexpected {type(exc).__name__} during {step or 'login'}", step=step)


# -- the exchange --------------------------------------------------------------------------


def _call(step: str, func: Callable[..., Any], *args: Any, optional: FrozenSet[int] = frozenset()) -> Any:
    """Run one step of the exchange; errors become a :class:`LoginFailure` (``optional`` errcodes → None)."""
    try:
        return func(*args)
    except WeComAPIError as exc:
        if exc.errcode in optional:
            log.info("login: %s answered errcode %s; going on without it", step, exc.errcode)
            return None
        failure = failure_from_error(exc, step)
        log.warning("login: %s failed: %s", step, failure)
        raise failure from exc
    except Exception as exc:  # mapped to a documented reason; unknown ones become "internal"
        failure = failure_from_error(exc, step)
        if failure.reason == "internal":
            log.exception("login: %s failed unexpectedly", step)
        else:
            log.warning("login: %s failed: %s", step, failure)
        raise failure from exc


#: threads per process that make a login's getuserdetail while the request's own thread makes user/get
LOGIN_THREADS = 8

#: one step of the exchange: (step name, function, its arguments, errcodes after which the login goes on)
_Step = Tuple[str, Callable[..., Any], Tuple[Any, ...], FrozenSet[int]]


class _LoginPool:
    """The small per-process thread pool of the logins' second WeCom call.

    Bounded: at most ``size`` calls run in it at once; when every thread is busy, the login makes its
    calls one after the other in its own thread as it did before, so a burst of logins never queues
    behind the pool and no login waits for another's. Made again after a fork (gunicorn ``--preload``).
    The calls it runs are framework-free (the client and a :class:`~flask_wecom.tokens.PinnedToken`
    already read): its threads need no Flask context.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._guard = threading.Lock()
        self._pid: Optional[int] = None
        self._executor: Optional[ThreadPoolExecutor] = None
        self._slots = threading.BoundedSemaphore(size)

    def _current(self) -> Tuple[ThreadPoolExecutor, threading.BoundedSemaphore]:
        pid = os.getpid()
        if self._pid != pid:
            with self._guard:
                if self._pid != pid:  # first use, or a child process: the parent's threads are not here
                    self._executor = ThreadPoolExecutor(max_workers=max(1, self.size),  # size 0: never used
                                                        thread_name_prefix="wecom-login")
                    self._slots = threading.BoundedSemaphore(self.size)
                    self._pid = pid
        assert self._executor is not None
        return self._executor, self._slots

    def submit(self, func: Callable[..., Any], *args: Any) -> Optional[Future[Any]]:
        """``func(*args)`` in a pool thread, or None when all are busy (the caller then runs it itself)."""
        executor, slots = self._current()
        if not slots.acquire(blocking=False):
            return None
        try:
            future = executor.submit(func, *args)
        except RuntimeError:  # the interpreter is shutting down
            slots.release()
            return None
        future.add_done_callback(lambda _: slots.release())
        return future


_pool = _LoginPool(LOGIN_THREADS)


def _outcome(step: Optional[_Step]) -> Tuple[Any, Optional[LoginFailure]]:
    """(result, None) or (None, the LoginFailure) of one step; (None, None) for no step."""
    if step is None:
        return None, None
    name, func, args, optional = step
    try:
        return _call(name, func, *args, optional=optional), None
    except LoginFailure as failure:
        return None, failure


def _together(first: Optional[_Step], second: Optional[_Step]) -> Tuple[Any, Any]:
    """The results of two independent steps, made at the same time: ``second`` in the login pool,
    ``first`` in this thread. The failure is the one the steps made one after the other would give:
    ``first``'s when both fail. Each request is sent once, under the client's usual retry rules."""
    future = _pool.submit(_outcome, second) if first is not None and second is not None else None
    first_result, first_failure = _outcome(first)
    if future is None:  # one step only, or the pool is busy: one after the other, as before
        if first_failure is not None:
            raise first_failure
        second_result, second_failure = _outcome(second)
    else:
        second_result, second_failure = future.result()  # waited for even when first failed: no stray call
    for failure in (first_failure, second_failure):
        if failure is not None:
            raise failure
    return first_result, second_result


def exchange_code(provider: Provider, code: str, *, corp_id: Optional[str] = None,
                  via: Optional[str] = None) -> WeComUser:
    """Turn a login ``code`` into a :class:`WeComUser` (doc 91022, doc 98152, doc 96442).

    ``provider`` is a :class:`~flask_wecom.provider.Provider`; ``corp_id`` is the corp the login
    was started for (self-built / 代开发). Third-party apps learn the corp from the answer; their
    web-login codes (``via`` ``qr``) go to getuserinfo3rd with the 登录授权 suite's token, in-client
    OAuth codes with the app suite's (developer.work.weixin.qq.com/document/path/98179, 91121).
    Raises :class:`LoginFailure`. The code is used exactly once (WeCom refuses a second use: 40029).

    The token is read once and passed to every call (:class:`~flask_wecom.tokens.PinnedToken`);
    ``user/get`` and ``getuserdetail`` both need only getuserinfo's answer, so they are made at the
    same time (:func:`_together`).
    """
    if not code:
        raise LoginFailure("cancelled", "WeCom came back without a code")
    client = provider.client
    third_party = provider.app_type == THIRD_PARTY
    if third_party:
        if via == QR:
            if not provider.has_login_suite:
                raise login_suite_missing()
            suite = _call("login_suite_token", provider.login_suite_token)
        else:
            suite = _call("suite_token", provider.suite_token)
        suite = PinnedToken(suite)
        identity = parse_user_info(_call("getuserinfo3rd", client.get_user_info_3rd, suite, code))
        corp_id = identity.corp_id or corp_id
    else:
        if not corp_id:
            corp_id = _call("resolve_corp", provider.resolve_corp)
        token = PinnedToken(_call("gettoken", provider.corp_token, corp_id))
        identity = parse_user_info(_call("getuserinfo", client.get_user_info, token, code))
    if not identity.is_member:
        raise LoginFailure("not_member", "the WeCom user is not a member of the corp (WeCom returned only an "
                                         "openid)")
    if not corp_id:
        raise LoginFailure("api_error", "WeCom did not say which corp the user belongs to")

    values: Dict[str, Any] = {"userid": identity.userid, "corp_id": corp_id}
    if identity.open_userid:
        values["open_userid"] = identity.open_userid

    # user/get: name, department, position (which fields come back depends on the app's grants, doc 96255)
    # Building a token source calls nothing (the token is fetched by user/get itself), so a third-party
    # member of a corp we hold no authorization for fails there, with that failure's page.
    corp_token = PinnedToken(provider.corp_token(corp_id)) if third_party else token
    get_member: _Step = ("user/get", client.get_user, (corp_token, identity.userid), _USER_GET_OPTIONAL)
    # getuserdetail: the sensitive fields the member agreed to share (scope snsapi_privateinfo only, doc 96443).
    # Made beside user/get, each request sent once under the client's usual rules (nothing is resent
    # because the other call failed); the user_ticket is valid 1800 s (doc 96442).
    get_detail: Optional[_Step] = None
    if identity.user_ticket:
        if third_party:
            get_detail = ("getuserdetail3rd", client.get_user_detail_3rd, (suite, identity.user_ticket),
                          _DETAIL_OPTIONAL)
        else:
            get_detail = ("getuserdetail", client.get_user_detail, (corp_token, identity.user_ticket),
                          _DETAIL_OPTIONAL)
    member, detail = _together(get_member, get_detail)
    if member:
        _merge_profile(values, member)
    if detail:
        # third-party detail carries name (= userid since 2020, doc 91122); corp apps' never does
        if third_party and values.get("name"):
            detail = {key: value for key, value in detail.items() if key != "name"}
        _merge_profile(values, detail, sensitive_only=not third_party)
    if provider.app_type == CUSTOMIZED and corp_token is not None:
        values["withheld"] = _withheld(provider, corp_id, corp_token, values)
    return WeComUser(**values)


def _withheld(provider: Provider, corp_id: str, corp_token: TokenLike, values: Mapping[str, Any]) -> Tuple[str, ...]:
    """代开发 only: the missing member fields whose permission the app lacks (docs 98980, 99052).

    Asked only when a field is missing: a field can also be missing because the member did not
    consent (snsapi_base, web/QR login: no user_ticket) or has none set, which no admin can fix.
    When ``agent/get_permissions`` cannot be read the login goes on; only a missing name (every
    member has one) is then reported as withheld.
    """
    missing = [f for f in permissions.FIELD_PERMISSIONS if values.get(f) in (None, "")]
    if not missing:
        return ()
    fallback: Tuple[str, ...] = ("name",) if "name" in missing else ()
    granted = _app_permissions(provider, corp_id, corp_token, name_missing="name" in missing)
    if granted is None:
        return fallback
    return permissions.withheld_fields(missing, granted)


def _app_permissions(provider: Provider, corp_id: str, corp_token: TokenLike, *,
                     name_missing: bool) -> Optional[List[str]]:
    """The app's permissions in ``corp_id`` (``agent/get_permissions``, doc 99052), or None when WeCom
    cannot say (the login goes on; nothing is kept then).

    Kept in the token cache for :data:`~flask_wecom.permissions.CACHE_SECONDS` (change_auth drops
    them): a warm 代开发 login makes no call for them. Every member has a name, so a missing name
    while the kept list grants it means the list is out of date: it is asked for again.
    """
    cache = provider.tokens.cache  # a GuardedCache: never raises, this process's memory in an outage
    key = permissions.cache_key(corp_id)
    kept = cache.get(key)
    if isinstance(kept, list) and not (name_missing and permissions.USER_NAME in kept):
        return kept
    try:
        data = provider.client.get_agent_permissions(corp_token)
    except WeComError as exc:  # TransportError included: the login does not depend on this call
        log.info("login: agent/get_permissions failed (%s); going on without it", exc)
        return None
    granted = data.get("app_permissions") if isinstance(data, Mapping) else None
    if not isinstance(granted, list):
        return None
    granted = [str(p) for p in granted]
    cache.set(key, granted, timeout=permissions.CACHE_SECONDS)
    return granted
