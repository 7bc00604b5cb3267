"""The simulator's WeCom: pure state and rules, no HTTP.

Every rule cites the official page it follows as "doc N" (developer.work.weixin.qq.com/document/
path/N; errcodes are those of doc 90313).  Where the official pages leave a behaviour open, the
choice made is marked ``UNCONFIRMED`` in a comment that says why it loses nothing.  The rules and
the open points are collected in docs/wecom-reference.rst (see "Unconfirmed points, in one list").

The model is driven by :mod:`flask_wecom.testing.server` (HTTP routes) and the
:class:`~flask_wecom.testing.FakeWeCom` facade.  Every public method of
:class:`WeComModel` must be called with :attr:`WeComModel.lock` held (the
server does); the facade's helpers take the lock themselves.
"""
from __future__ import annotations

import ipaddress
import random
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Final, Iterable, List, Literal, Optional, Set, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..app_types import CUSTOMIZED, THIRD_PARTY

__all__ = [
    "APIError",
    "AuthorizeError",
    "Authorization",
    "Clock",
    "Corp",
    "DomainSettingError",
    "Member",
    "Provider",
    "Suite",
    "WeComModel",
    "ACCESS_TOKEN_TTL",
    "AUTH_CODE_TTL",
    "DEFAULT_PERMISSIONS",
    "FIELD_PERMISSIONS",
    "NAME_AND_EMAIL",
    "OAUTH_CODE_TTL",
    "SUITE_TICKET_TTL",
    "USER_TICKET_TTL",
]

#: access_token / suite_access_token / provider_access_token lifetime (doc 97162, doc 97164, doc 91039)
ACCESS_TOKEN_TTL = 7200
#: "suite_ticket实际有效期为30分钟" (doc 97162)
SUITE_TICKET_TTL = 1800
#: create_auth / reset_permanent_code AuthCode: "10分钟内有效" (doc 97174, doc 97175)
AUTH_CODE_TTL = 600
#: pre_auth_code of an install started from the provider's website: "expires_in":1200 (90601)
PRE_AUTH_CODE_TTL = 1200
#: OAuth code: "5分钟未被使用自动过期" (doc 91022)
OAUTH_CODE_TTL = 300
#: user_ticket: "有效期为1800s" (doc 96442)
USER_TICKET_TTL = 1800
#: licence trial: "免费试用期为企业首次安装应用后的90天" (doc 97194)
TRIAL_SECONDS = 90 * 86400

#: 代开发 custom permissions on member fields (contact:sensitive:*), as agent/get_permissions names them
#: (developer.work.weixin.qq.com/document/path/98980 and /99052).  Basic permission gives the userid
#: and department ids only; every field below needs its permission.
FIELD_PERMISSIONS: Dict[str, str] = {
    "name": "contact:sensitive:user_name",
    # alias / english_name have no permission of their own in the list; we tie them to the name
    # (the stricter reading: they are not "userid or department ids")
    "alias": "contact:sensitive:user_name",
    "english_name": "contact:sensitive:user_name",
    "email": "contact:sensitive:email",
    "biz_mail": "contact:sensitive:biz_mail",
    "mobile": "contact:sensitive:mobile",
    "avatar": "contact:sensitive:avatar",
    "thumb_avatar": "contact:sensitive:avatar",
    "gender": "contact:sensitive:gender",
    "position": "contact:sensitive:position",
    "telephone": "contact:sensitive:telephone",
    "address": "contact:sensitive:address",
    "qr_code": "contact:sensitive:qrcode",
}
#: what the simulator's corps grant unless told otherwise: every field permission above, so the demo
#: and the tests see name, email, avatar… (take some away with FakeWeCom.revoke_permissions)
DEFAULT_PERMISSIONS = frozenset(FIELD_PERMISSIONS.values())
#: the two permissions a login usually wants: the member's name and email
NAME_AND_EMAIL = ("contact:sensitive:user_name", "contact:sensitive:email")

SCOPE_BASE = "snsapi_base"
SCOPE_PRIVATE = "snsapi_privateinfo"
SCOPE_USERINFO = "snsapi_userinfo"  # legacy; third-party only (doc 91121)

APP_CUSTOMIZED: Final = CUSTOMIZED  # 代开发
APP_THIRD_PARTY: Final = THIRD_PARTY  # 第三方
APP_TYPES = (APP_CUSTOMIZED, APP_THIRD_PARTY)
#: how an access token was got: gettoken with the corp's own secret (self-built), gettoken with a
#: 代开发 permanent code, or get_corp_token (third-party)
TokenMode = Literal["selfbuilt", "customized", "third_party"]
MODE_SELFBUILT: Final = "selfbuilt"

_ALNUM = string.ascii_letters + string.digits
_URLSAFE = _ALNUM + "-_"
_STATE_RE = re.compile(r"[A-Za-z0-9]{0,128}\Z")  # doc 91022 / errcode 84025

#: errmsg texts, in WeCom's terse English (the server appends hint / from ip / more info).
ERRMSG: Dict[int, str] = {
    -1: "system busy",
    40001: "invalid credential",
    40003: "invalid userid",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40029: "invalid code",
    40056: "invalid agentid",
    40058: "invalid parameter",
    40078: "invalid auth_code",
    40080: "invalid suite_secret",
    # the official errmsg, typo included (doc 90313)
    40082: "invalid suite_acccess_token or provider_access_token",
    40083: "invalid suite_id",
    40084: "invalid permanent_code",
    40085: "invalid suite_ticket",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    41008: "missing auth code",
    41009: "missing userid",
    41011: "missing agentid",
    41021: "suite_id missing",
    41022: "suite_access_token missing",
    41023: "suite_ticket missing",
    41025: "permanent_code missing",
    42001: "access_token expired",
    42009: "suite_access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    45009: "reach max api daily quota limit",
    47001: "data format error",
    48002: "api forbidden",
    48004: "api forbidden for invalid auth",
    50001: "redirect_uri unauthorized",
    50003: "agent is disabled",
    80001: "trusted domain invalid: no ip, port or short-link domain",
    60011: "no privilege to access/modify contact/party/agent",
    60020: "not allow to access from your ip",
    60111: "invalid string value `userid`. userid not found",
    84014: "invalid user ticket, expired",
    84015: "invalid user ticket",
    84025: "invalid state",
    84090: "user_ticket missing",
    92000: "user not in app visible range",
    301002: "not allow operate another agent with this accesstoken",
    701016: "account not active or expired",
}


class APIError(Exception):
    """An API call answers ``{"errcode": errcode, "errmsg": …}`` (the server adds hint and ip)."""

    def __init__(self, errcode: int, message: Optional[str] = None) -> None:
        self.errcode = int(errcode)
        self.message = message or ERRMSG.get(self.errcode, "error")
        super().__init__(f"{self.errcode}: {self.message}")


class AuthorizeError(Exception):
    """An OAuth / web-login page shows an error instead of issuing a code.

    ``errcode`` is the nearest WeCom errcode (``None`` when WeCom shows a page
    without one), ``zh`` / ``en`` the page's headline, ``detail`` extra text.
    Raised by :meth:`FakeWeCom.authorize_url_to_redirect`.
    """

    def __init__(self, errcode: Optional[int], zh: str, en: str, detail: str = "") -> None:
        self.errcode = errcode
        self.zh = zh
        self.en = en
        self.detail = detail
        code = f"[{errcode}] " if errcode is not None else ""
        super().__init__(f"{code}{zh} / {en}" + (f" ({detail})" if detail else ""))


class DomainSettingError(ValueError):
    """A corp app (or suite) was configured with a domain WeCom's console refuses.

    The admin console answers 80001 (可信域名不正确，或者无ICP备案) for a 可信域名 holding an IP
    address or a port (developer.work.weixin.qq.com/document/path/90313, 80001 help:
    不支持IP地址、端口号及短链域名; 96441).  ``errcode`` is 80001 for the trusted domain and None
    for the web-login callback domain (授权回调域, 98173), whose refusals have no documented code.
    """

    def __init__(self, errcode: Optional[int], setting: str, value: str, zh: str, en: str) -> None:
        self.errcode = errcode
        self.setting = setting
        self.value = value
        code = f"[{errcode}] " if errcode is not None else ""
        super().__init__(f"{code}{setting} {value!r}: {zh} / {en}")


# -- clock ---------------------------------------------------------------------------------


class Clock:
    """Wall-clock time plus an offset that :meth:`advance` moves forward (never back).

    Callable like :func:`time.time`, so the app under test can share it: ``WeCom(app, clock=fake.clock)``.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self._offset

    def __call__(self) -> float:
        return self.now()

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the fake clock only moves forward")
        with self._lock:
            self._offset += float(seconds)
        return self.now()

    @property
    def offset(self) -> float:
        return self._offset


# -- ids -----------------------------------------------------------------------------------


class _Ids:
    """Static credentials (ids, secrets) from an optionally seeded RNG; dynamic ones from ``secrets``."""

    def __init__(self, seed: Optional[int]) -> None:
        self.rng: random.Random = random.Random(seed) if seed is not None else random.SystemRandom()

    def chars(self, n: int, alphabet: str = _ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def hex(self, n: int) -> str:
        return self.chars(n, "0123456789abcdef")

    def mixed(self, prefix: str, n: int) -> str:
        """Opaque, case-sensitive id: at least one upper- and one lower-case letter (doc 97104)."""
        while True:
            body = self.chars(n)
            if any(c.isupper() for c in body) and any(c.islower() for c in body):
                return prefix + body

    def corp_id(self) -> str:
        return "ww" + self.hex(16)

    def secret(self) -> str:
        return self.chars(43, _URLSAFE)


def _dynamic(nbytes: int) -> str:
    return secrets.token_urlsafe(nbytes)


# -- entities ------------------------------------------------------------------------------


class _Site:
    """Where the fake is reachable; used to build avatar / logo URLs."""

    def __init__(self) -> None:
        self.public_url: Optional[str] = None

    def url(self, path: str) -> str:
        return (self.public_url or "http://127.0.0.1").rstrip("/") + path


# -- domain settings: 可信域名 and 授权回调域 --------------------------------------------------


class _DomainRules:
    """The simulator's one named leniency, shared by the model, its corps and its suite.

    ``allow_local_redirects`` (off by default): accept an IP address or a port in a trusted
    domain (and an IP in a web-login callback domain), so the sandbox demo on 127.0.0.1:5000, or a
    test app served on 127.0.0.1:<port>, can do in-client OAuth.  Real WeCom never accepts them
    (developer.work.weixin.qq.com/document/path/90313, 80001; 96441).
    """

    def __init__(self, allow_local_redirects: bool = False) -> None:
        self.allow_local_redirects = bool(allow_local_redirects)


_DOMAIN_RE = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]]+)(?::(?P<port>[0-9]*))?\Z")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _split_domain(setting: str, value: str, errcode: Optional[int]) -> Tuple[str, Optional[str]]:
    """(host, port or None) of a domain setting; DomainSettingError for what no console accepts."""
    if "://" in value:
        # 98173: "http://mail.qq.com:8080 — 不包括协议头"
        raise DomainSettingError(errcode, setting, value, "只填域名，不包括协议头（http:// 或 https://）",
                                 "enter the domain only, without the scheme")
    if "*" in value:
        # 98173: "*.qq.com — 不支持泛域名设置"; 90313 (80001): 只支持全域名匹配
        raise DomainSettingError(errcode, setting, value, "不支持泛域名", "wildcard domains are not supported")
    if value.count(":") > 1 and not value.startswith("["):
        return value, None  # a bare IPv6 literal
    match = _DOMAIN_RE.match(value)
    if match is None or any(c in value for c in "/?#@ \t"):
        raise DomainSettingError(errcode, setting, value, "不是域名（不含路径、参数）",
                                 "not a domain name (no path, no query)")
    return match.group("host"), match.group("port")


def check_trusted_domain(value: Optional[str], allow_local_redirects: bool = False) -> str:
    """A 可信域名 as the console stores it, or DomainSettingError (80001).

    developer.work.weixin.qq.com/document/path/90313 (80001 help): "可信域名只支持全域名匹配，
    不支持IP地址、端口号及短链域名"; 96441 / 96442: in-client OAuth compares redirect_uri's host with
    it exactly.  ``""`` means not set.  The ICP filing and domain-ownership checks (WW_verify file)
    are not modelled: "localhost" or "app.example.com" are accepted.
    """
    value = (value or "").strip()
    if not value:
        return ""
    host, port = _split_domain("trusted_domain (可信域名)", value, 80001)
    if allow_local_redirects:
        return value
    if _is_ip(host):
        raise DomainSettingError(
            80001, "trusted_domain (可信域名)", value, "可信域名不支持IP地址，请使用已备案的域名",
            "a trusted domain cannot be an IP address: use an ICP-filed domain name (pass "
            "allow_local_redirects=True to let the simulator accept it anyway)")
    if port is not None:
        raise DomainSettingError(
            80001, "trusted_domain (可信域名)", value, "可信域名不支持端口号，请在 443（HTTPS）端口提供服务",
            f"a trusted domain cannot carry a port: serve on the default port (HTTPS 443) and enter {host} "
            "(pass allow_local_redirects=True to let the simulator accept it anyway)")
    return value


def check_web_login_domain(value: Optional[str], allow_local_redirects: bool = False) -> str:
    """A 授权回调域 (web-login callback domain) as the console stores it; ``""`` = the trusted domain.

    developer.work.weixin.qq.com/document/path/98173 (and 98152): it must equal the host of the
    redirect URI exactly, port included (mail.qq.com:8080 is right for http://mail.qq.com:8080/…),
    without the scheme, no wildcard.  A port is allowed.  Unconfirmed: whether an IP address is
    accepted (one community report of 127.0.0.1:4396 being refused); the simulator refuses it
    unless ``allow_local_redirects`` is on.
    """
    value = (value or "").strip()
    if not value:
        return ""
    host, _port = _split_domain("web_login_domain (授权回调域)", value, None)
    if _is_ip(host) and not allow_local_redirects:
        raise DomainSettingError(
            None, "web_login_domain (授权回调域)", value, "授权回调域请使用域名（IP 地址未确认可用）",
            "use a domain name as the web-login callback domain (whether WeCom accepts an IP is "
            "unconfirmed; pass allow_local_redirects=True to let the simulator accept it)")
    return value


_DOMAIN_CHECKS = {"trusted_domain": check_trusted_domain, "web_login_domain": check_web_login_domain}


class _DomainSettings:
    """Validates ``trusted_domain`` / ``web_login_domain`` whenever they are set, as the console does."""

    rules: _DomainRules
    #: set by the subclasses' dataclass fields (Suite, Corp), checked here
    trusted_domain: str
    web_login_domain: str

    def __setattr__(self, name: str, value: Any) -> None:
        rules = self.__dict__.get("rules")
        check = _DOMAIN_CHECKS.get(name)
        if check is not None and rules is not None:
            value = check(value, rules.allow_local_redirects)
        object.__setattr__(self, name, value)

    def __post_init__(self) -> None:
        for name in _DOMAIN_CHECKS:  # the rules arrive last in __init__: check what came before
            setattr(self, name, getattr(self, name))

    @property
    def web_login_callback_domain(self) -> str:
        """The 授权回调域 web login is checked against: :attr:`web_login_domain`, else the trusted domain."""
        return getattr(self, "web_login_domain", "") or getattr(self, "trusted_domain", "")


@dataclass(eq=False)
class Member:
    """A member (成员) of a customer corp.

    ``userid`` is the plaintext id; ``open_userid`` the service-provider-level
    encrypted id that 代开发 apps see after the 2022 upgrade (doc 97104) and that
    third-party apps get as ``open_userid`` (doc 91121).  ``visible`` says whether the
    member is in the app's visible range (可见范围).
    """

    userid: str
    name: str
    open_userid: str
    email: str
    biz_mail: str
    mobile: str
    gender: str  # "0" undefined, "1" male, "2" female (doc 96443)
    department: List[int]
    position: str
    english_name: str = ""
    alias: str = ""
    address: str = ""
    telephone: str = ""
    visible: bool = True
    status: int = 1  # 1 已激活 (doc 96255)
    #: holds an active interface licence (接口许可, 97194): keeps working after the free trial
    licensed: bool = False
    avatar_key: str = field(default="", repr=False)
    _site: Optional[_Site] = field(default=None, repr=False)

    @property
    def avatar(self) -> str:
        """Avatar URL, served by the fake itself (so pages work offline)."""
        site = self._site or _Site()
        return site.url(f"/avatar/{self.avatar_key}/0")

    @property
    def thumb_avatar(self) -> str:
        return self.avatar[:-2] + "/100"

    @property
    def qr_code(self) -> str:
        return f"https://open.work.weixin.qq.com/wwopen/userQRCode?vcode=vc{self.avatar_key}"

    @property
    def encrypted_userid(self) -> str:
        return self.open_userid

    def id_as(self, encrypted: bool) -> str:
        """The userid an app sees: encrypted (open) id for upgraded 代开发/third-party apps."""
        return self.open_userid if encrypted else self.userid


@dataclass(eq=False)
class Provider:
    """The 服务商 (service provider).  ``ip_whitelist`` None = no check (doc 90313)."""

    corp_id: str
    secret: str = field(repr=False)
    name: str = "示例服务商 Example Provider"
    ip_whitelist: Optional[List[str]] = None


@dataclass(eq=False)
class Suite(_DomainSettings):
    """The 代开发 template (``app_type="customized"``, suite_id ``dk…``) or a third-party suite (``ww…``)."""

    suite_id: str
    suite_secret: str = field(repr=False)
    token: str = field(repr=False)
    encoding_aes_key: str = field(repr=False)
    provider_corp_id: str = ""
    app_type: str = APP_CUSTOMIZED
    name: str = "示例应用"
    #: third-party apps' trusted domain (doc 91120); corp apps use :attr:`Corp.trusted_domain`
    trusted_domain: str = "localhost"
    tickets: List[Tuple[str, float]] = field(default_factory=list, repr=False)
    #: third-party web login's 授权回调域; "" = the trusted domain (see :attr:`Corp.web_login_domain`)
    web_login_domain: str = ""
    rules: _DomainRules = field(default_factory=_DomainRules, repr=False)
    #: third-party installs from the provider's website: the 授权完成回调域名 ("" = the trusted domain)
    #: and whether the app is released (上线); unreleased apps install only as 测试授权 (90602)
    install_domain: str = ""
    released: bool = True

    @property
    def ticket(self) -> Optional[str]:
        """The latest suite_ticket issued (pushed or not), or None."""
        return self.tickets[-1][0] if self.tickets else None

    @property
    def is_customized(self) -> bool:
        return self.app_type == APP_CUSTOMIZED

    @property
    def is_third_party(self) -> bool:
        return self.app_type == APP_THIRD_PARTY


@dataclass(eq=False)
class Authorization:
    """One corp's authorization (授权) of the suite: the permanent code and the ids the app sees."""

    corp: Corp = field(repr=False)
    suite_id: str
    auth_corp_id: str
    encrypted: bool
    permanent_code: str = field(repr=False)
    state: str = ""
    created_at: float = 0.0
    active: bool = True
    retired_codes: List[str] = field(default_factory=list, repr=False)


@dataclass(eq=False)
class Corp(_DomainSettings):
    """A customer corp with one app (agent).

    The agent is the 代开发 app (or the third-party app) once authorized, and is
    also reachable as a self-built app through :attr:`secret` — one agent, three
    ways in, so every test mode has a working corp.
    """

    corp_id: str
    open_corp_id: str
    name: str
    full_name: str
    agent_id: int
    agent_name: str
    secret: str = field(repr=False)
    #: 可信域名 (in-client OAuth, 96441): a domain without IP or port, else DomainSettingError (80001)
    trusted_domain: str = "localhost"
    members: List[Member] = field(default_factory=list)
    encrypted_ids: bool = True
    #: app disabled in the admin console (应用已禁用): gettoken refuses (see closed_gettoken_errcode),
    #: calls with a token fetched before get 50003, agent/get says close=1, the login page shows an error
    app_closed: bool = False
    #: what gettoken answers for a disabled app.  The 40001 help of document 90313 lists 应用已经停用
    #: among the causes of 40001 (不合法的secret参数), so 40001 is the default.  50003 (应用已禁用:
    #: "应用禁用之后，将无法再调用api", same document) is what calls with an earlier token get; set it
    #: here to model a gettoken that answers 50003 too (unconfirmed: document 91039 only says the app
    #: must be enabled) — a client must handle both.
    closed_gettoken_errcode: int = 40001
    #: the free trial (90 days from install, 97194) ended now, whatever the clock says.  After the
    #: trial only members without an active licence (Member.licensed) are refused (701016).
    trial_expired: bool = False
    #: license_check_time (97194): when licence checks start for this corp; None = at the install
    license_check_time: Optional[float] = None
    #: the 代开发 app's permissions (agent/get_permissions, 99052); user/get and getuserdetail return
    #: only the member fields these grant (98980).  Self-built and third-party access keep their rules.
    permissions: Set[str] = field(default_factory=lambda: set(DEFAULT_PERMISSIONS))
    #: 代开发 publish state as agent/get reports it (customized_publish_status): 0 待开发 (authorized,
    #: app not created), 1 开发中 (created, not online), 2 已上线, 3 已上线但存在未上线版本.
    #: Only agent/get reflects it; what the client shows for an app that is not online is UNCONFIRMED.
    publish_status: int = 2
    #: 企业可信IP / per-app IP whitelist; None = no check (doc 90313)
    ip_whitelist: Optional[List[str]] = None
    installed_at: float = 0.0
    authorization: Optional[Authorization] = None
    #: 授权回调域 (web login, 98173), port allowed; "" = the same as :attr:`trusted_domain`
    web_login_domain: str = ""
    rules: _DomainRules = field(default_factory=_DomainRules, repr=False)

    @property
    def permanent_code(self) -> Optional[str]:
        """The current permanent code (= the 代开发 app's secret); None if not (or no longer) authorized."""
        auth = self.authorization
        return auth.permanent_code if auth is not None and auth.active else None

    @property
    def auth_corp_id(self) -> str:
        """The corp id the provider's app sees (``auth_corp_info.corpid``).

        Encrypted (``wp…``, case-sensitive) when :attr:`encrypted_ids` was on at
        authorization time, else the plaintext :attr:`corp_id`.  Before any
        authorization: what it would be now.
        """
        if self.authorization is not None:
            return self.authorization.auth_corp_id
        return self.open_corp_id if self.encrypted_ids else self.corp_id

    @property
    def authorized(self) -> bool:
        return self.authorization is not None and self.authorization.active

    @property
    def visible_members(self) -> List[Member]:
        return [m for m in self.members if m.visible]

    @property
    def outside_members(self) -> List[Member]:
        """Members outside the app's visible range."""
        return [m for m in self.members if not m.visible]

    @property
    def admin(self) -> Member:
        """The admin who authorizes the app (the first member)."""
        return self.members[0]

    def member(self, userid: str) -> Optional[Member]:
        """Find a member by plaintext userid (case-insensitive) or open_userid (exact)."""
        for m in self.members:
            if m.open_userid == userid or m.userid.lower() == (userid or "").lower():
                return m
        return None


# -- records -------------------------------------------------------------------------------


@dataclass(eq=False)
class _AccessToken:
    token: str
    corp: Corp
    mode: TokenMode
    auth: Optional[Authorization]
    expires_at: float
    revoked: bool = False

    @property
    def encrypted(self) -> bool:
        return bool(self.auth is not None and self.auth.encrypted)


@dataclass(eq=False)
class _SuiteToken:
    token: str
    suite: Suite
    expires_at: float


@dataclass(eq=False)
class _ProviderToken:
    token: str
    expires_at: float


@dataclass(eq=False)
class _AuthCode:
    code: str
    auth: Authorization
    kind: str  # create_auth | reset_permanent_code
    issued_at: float
    used: bool = False


@dataclass(eq=False)
class _PreAuthCode:
    code: str
    suite_id: str
    issued_at: float
    auth_type: int = 0  # set_session_info: 0 正式授权, 1 测试授权 (90602)
    used: bool = False


@dataclass(eq=False)
class InstallRequest:
    """A validated install page request (``/3rdapp/install``, 90597)."""

    pre_auth_code: str
    redirect_uri: str
    state: str
    corps: List[Corp]
    params: Dict[str, str]


@dataclass(eq=False)
class _OAuthCode:
    code: str
    corp: Corp
    member: Optional[Member]
    openid: str
    scope: str
    via: str  # oauth2 | wwlogin
    app: str  # corp | suite | login (the 登录授权 suite's web login)
    issued_at: float
    used: bool = False


@dataclass(eq=False)
class _UserTicket:
    ticket: str
    corp: Corp
    member: Member
    app: str
    issued_at: float


@dataclass(eq=False)
class LoginRequest:
    """A validated OAuth (``oauth2``) or web-login (``wwlogin``) request."""

    kind: str
    app: str  # "corp" (appid = corpid), "suite" (appid = third-party suite_id) or "login" (登录授权 SuiteID)
    corps: List[Corp]
    redirect_uri: str
    state: str
    scope: str
    agent_id: Optional[int]
    params: Dict[str, str]
    #: accepted only because of the simulator's ``allow_local_redirects``: real WeCom would refuse it
    lenient: bool = False

    @property
    def corp(self) -> Corp:
        return self.corps[0]


# -- default people ------------------------------------------------------------------------

_DEFAULT_MEMBERS: Tuple[Dict[str, Any], ...] = (
    dict(userid="zhangsan", name="张三", english_name="San Zhang", gender="1", department=[1],
         position="产品经理", mobile="13800000001", alias="Sam"),
    dict(userid="lisi", name="李四", english_name="Si Li", gender="2", department=[1, 2],
         position="研发工程师", mobile="13800000002", alias="Lily", licensed=True),
    dict(userid="wangwu", name="王五", english_name="Wu Wang", gender="1", department=[3],
         position="销售顾问", mobile="13800000003", visible=False),
)


def _in_whitelist(ip: str, whitelist: Iterable[str]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in whitelist:
        try:
            if addr in ipaddress.ip_network(str(entry).strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def _netloc(url: str) -> Optional[str]:
    """host[:port] of an absolute http(s) URL as WeCom compares it with a domain setting; None if not one.

    Lower-cased, without userinfo; the scheme's default port (http 80, https 443) counts as no
    port, so ``https://app.example.com:443/x`` is on ``app.example.com`` (96441: exact match,
    "包括端口号" — a port is part of the host only when the URL needs one).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = 443 if scheme == "https" else 80
    return f"{host}:{port}" if port is not None and port != default else host


def _needs_allowance(host: str, *, port_counts: bool) -> bool:
    """Would real WeCom refuse a domain setting equal to ``host``?  (IP, or a port where it counts.)"""
    match = _DOMAIN_RE.match(host)
    if match is None:
        return _is_ip(host)
    return _is_ip(match.group("host")) or (port_counts and match.group("port") is not None)


def add_query(url: str, params: Dict[str, str]) -> str:
    """Append ``params`` to ``url``'s query string, before any fragment."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


# -- the model -----------------------------------------------------------------------------


class WeComModel:
    """All of the fake's state: one provider, one suite, customer corps, tokens and codes."""

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
        if app_type not in APP_TYPES:
            raise ValueError(f"app_type must be one of {APP_TYPES}, not {app_type!r}")
        #: shared with every corp and the suite: see :attr:`allow_local_redirects`
        self.rules = _DomainRules(allow_local_redirects)
        self.lock = threading.RLock()
        self.clock = Clock()
        self.site = _Site()
        self._ids = _Ids(seed)
        ids = self._ids
        self.provider = Provider(corp_id=ids.corp_id(), secret=ids.secret())
        suite_prefix = "dk" if app_type == APP_CUSTOMIZED else "ww"  # doc 97162: 代开发 ids start with dk
        self.suite = Suite(
            suite_id=suite_prefix + ids.hex(16),
            suite_secret=ids.secret(),
            token=ids.chars(24),
            encoding_aes_key=ids.chars(43),
            provider_corp_id=self.provider.corp_id,
            app_type=app_type,
            name="示例代开发应用" if app_type == APP_CUSTOMIZED else "示例第三方应用",
            trusted_domain=trusted_domain,
            web_login_domain=web_login_domain,
            rules=self.rules,
        )
        #: WeCom's callback source IPs (getcallbackip); the fake pushes from loopback
        self.callback_ips: List[str] = list(callback_ips) if callback_ips is not None else ["127.0.0.1"]
        self.corps: List[Corp] = []
        self.add_corp(name=corp_name, trusted_domain=trusted_domain, encrypted_ids=encrypted_ids,
                      web_login_domain=web_login_domain)
        #: the provider's 登录授权 app (服务商管理后台 → 应用管理 → 登录授权): third-party web login
        #: (login_type=ServiceApp) takes its SuiteID and its suite token consumes the codes — never the
        #: app's own suite (developer.work.weixin.qq.com/document/path/98171, 98179, 100328).  Its
        #: callback Token / EncodingAESKey are the template's here (the provider chooses them).
        self.login_suite = Suite(
            suite_id="ww" + ids.hex(16),
            suite_secret=ids.secret(),
            token=self.suite.token,
            encoding_aes_key=self.suite.encoding_aes_key,
            provider_corp_id=self.provider.corp_id,
            app_type=APP_THIRD_PARTY,
            name="登录授权",
            trusted_domain=trusted_domain,
            web_login_domain=web_login_domain,
            rules=self.rules,
        )
        #: third-party installs started from the provider's website (90597): pre_auth_code -> record
        self._pre_auth_codes: Dict[str, _PreAuthCode] = {}

        self._access_tokens: Dict[str, _AccessToken] = {}
        self._access_by_key: Dict[Tuple[str, str, str], _AccessToken] = {}
        self._suite_tokens: Dict[str, _SuiteToken] = {}
        self._suite_current: Optional[_SuiteToken] = None
        self._login_suite_current: Optional[_SuiteToken] = None
        self._provider_tokens: Dict[str, _ProviderToken] = {}
        self._provider_current: Optional[_ProviderToken] = None
        self._auth_codes: Dict[str, _AuthCode] = {}
        self._oauth_codes: Dict[str, _OAuthCode] = {}
        self._user_tickets: Dict[str, _UserTicket] = {}

    # -- setup -------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    @property
    def allow_local_redirects(self) -> bool:
        """The simulator's named leniency (off by default): IP / port trusted domains are accepted.

        Real WeCom refuses them (80001, developer.work.weixin.qq.com/document/path/90313) and so
        does the simulator unless this is on.  Turning it off checks every configured domain again
        and raises :class:`DomainSettingError` (leaving it on) if one would be refused.
        """
        return self.rules.allow_local_redirects

    @allow_local_redirects.setter
    def allow_local_redirects(self, value: bool) -> None:
        with self.lock:
            if not value:
                for owner in [self.suite, self.login_suite, *self.corps]:
                    check_trusted_domain(owner.trusted_domain)
                    check_web_login_domain(owner.web_login_domain)
            self.rules.allow_local_redirects = bool(value)

    def add_corp(
        self,
        *,
        name: str = "示例科技有限公司",
        trusted_domain: str = "localhost",
        encrypted_ids: bool = True,
        members: Optional[List[Dict[str, Any]]] = None,
        agent_id: int = 1000002,
        web_login_domain: str = "",
    ) -> Corp:
        """Add a customer corp with its members (default: 张三, 李四 visible; 王五 outside the range)."""
        ids = self._ids
        with self.lock:
            corp = Corp(
                corp_id=ids.corp_id(),
                open_corp_id=ids.mixed("wp", 30),
                name=name,
                full_name=name,
                agent_id=agent_id,
                agent_name=self.suite.name,
                secret=ids.secret(),
                trusted_domain=trusted_domain,
                encrypted_ids=encrypted_ids,
                installed_at=self.now(),
                web_login_domain=web_login_domain,
                rules=self.rules,
            )
            domain = f"corp{len(self.corps) + 1}.example.com"
            for spec in members if members is not None else _DEFAULT_MEMBERS:
                spec = dict(spec)
                userid = spec.pop("userid")
                corp.members.append(
                    Member(
                        userid=userid,
                        name=spec.pop("name"),
                        open_userid=spec.pop("open_userid", None) or ids.mixed("wo", 30),
                        email=spec.pop("email", f"{userid}@{domain}"),
                        biz_mail=spec.pop("biz_mail", f"{userid}@{domain.split('.')[0]}.wecom.work"),
                        mobile=spec.pop("mobile", "138" + ids.chars(8, "0123456789")),
                        gender=spec.pop("gender", "0"),
                        department=spec.pop("department", [1]),
                        position=spec.pop("position", ""),
                        address=spec.pop("address", "广州市海珠区新港中路"),
                        avatar_key=ids.hex(24),
                        _site=self.site,
                        **spec,
                    )
                )
            self.corps.append(corp)
            return corp

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def check_ip(ip: str, *whitelists: Optional[List[str]]) -> None:
        """60020 unless ``ip`` is on every configured whitelist (None = not configured)."""
        for whitelist in whitelists:
            if whitelist is not None and not _in_whitelist(ip, whitelist):
                raise APIError(60020)

    def _find_corp(self, corpid: str) -> Tuple[Optional[Corp], bool]:
        """(corp, matched_encrypted): plaintext ids match case-insensitively, encrypted ones exactly (doc 97104)."""
        for corp in self.corps:
            if corp.corp_id.lower() == corpid.lower():
                return corp, False
        for corp in self.corps:
            auth = corp.authorization
            if corp.open_corp_id == corpid or (
                auth is not None and auth.encrypted and auth.auth_corp_id == corpid
            ):
                return corp, True
        return None, False

    def _find_auth(self, auth_corpid: str) -> Optional[Authorization]:
        for corp in self.corps:
            auth = corp.authorization
            if auth is None:
                continue
            if auth.auth_corp_id == auth_corpid or (
                not auth.encrypted and auth.auth_corp_id.lower() == auth_corpid.lower()
            ):
                return auth
        return None

    def expire_access_tokens(self) -> int:
        """Every access token issued so far expires now (a call with one answers 42001, and gettoken issues a
        new one: doc 97164). Returns how many were live."""
        now = self.now()
        live = [rec for rec in self._access_tokens.values() if not rec.revoked and rec.expires_at > now]
        for rec in live:
            rec.expires_at = now
        return len(live)

    def _revoke_tokens(self, auth: Authorization) -> None:
        # UNCONFIRMED (doc 97175): whether access tokens from the old secret keep working after
        # reset_permanent_code / cancel_auth.  We revoke them at once (40014): WeCom "may invalidate
        # access_token early" (doc 91039) and a client must handle that anyway.
        for rec in self._access_tokens.values():
            if rec.auth is auth:
                rec.revoked = True
        for key in [k for k, v in self._access_by_key.items() if v.auth is auth]:
            del self._access_by_key[key]

    # -- suite_ticket, suite / provider tokens (doc 97162) ----------------------------

    def issue_suite_ticket(self, suite: Optional[Suite] = None) -> str:
        """A fresh suite_ticket of ``suite`` (default: the app's), valid for 30 minutes (doc 97162)."""
        suite = suite or self.suite
        now = self.now()
        ticket = _dynamic(48)
        suite.tickets = [(t, at) for t, at in suite.tickets if now - at <= SUITE_TICKET_TTL]
        suite.tickets.append((ticket, now))
        return ticket

    def _suite_by_id(self, suite_id: str) -> Optional[Suite]:
        for suite in (self.suite, self.login_suite):
            if suite.suite_id == suite_id:
                return suite
        return None

    def _ticket_valid(self, ticket: str, suite: Optional[Suite] = None) -> bool:
        suite = suite or self.suite
        # doc 97162: "suite_ticket实际有效期为30分钟，可以容错连续两次获取suite_ticket失败的情况".
        # Validity is by age only: with pushes every 10 minutes that keeps the latest two (in fact
        # three) tickets valid, which is exactly "tolerates two consecutive missed pushes".  A newer
        # push never invalidates an older ticket before its 30 minutes are up.
        now = self.now()
        return any(t == ticket and now - at <= SUITE_TICKET_TTL for t, at in suite.tickets)

    def get_suite_token(self, body: Dict[str, Any], ip: str) -> Dict[str, Any]:
        suite_id = str(body.get("suite_id") or "")
        secret = str(body.get("suite_secret") or "")
        ticket = str(body.get("suite_ticket") or "")
        if not suite_id:
            raise APIError(41021)
        # the app's suite, or the 登录授权 suite (98179: its token is got "参见获取第三方应用凭证")
        suite = self._suite_by_id(suite_id)
        if suite is None:
            raise APIError(40083)
        # doc 97162: "除了合法来源IP校验之外" — the provider IP whitelist applies here too (doc 90313)
        self.check_ip(ip, self.provider.ip_whitelist)
        if not secret or secret != suite.suite_secret:
            raise APIError(40080)
        if not ticket:
            raise APIError(41023)
        if not self._ticket_valid(ticket, suite):
            raise APIError(40085)
        now = self.now()
        login = suite is self.login_suite
        current = self._login_suite_current if login else self._suite_current
        if current is None or current.expires_at <= now:
            current = _SuiteToken(_dynamic(64), suite, now + ACCESS_TOKEN_TTL)
            self._suite_tokens[current.token] = current
            if login:
                self._login_suite_current = current
            else:
                self._suite_current = current
        # doc 97162 quirk: no errcode on success.  A repeated call inside the lifetime returns the same
        # token (community, doc 97162) with the remaining lifetime (UNCONFIRMED: remaining vs 7200).
        return {"suite_access_token": current.token, "expires_in": round(current.expires_at - now)}

    def check_suite_token(self, token: str, ip: str, *, login_ok: bool = False) -> _SuiteToken:
        if not token:
            raise APIError(41022)
        rec = self._suite_tokens.get(token)
        if rec is None:
            raise APIError(40082)
        if self.now() >= rec.expires_at:
            raise APIError(42009)
        self.check_ip(ip, self.provider.ip_whitelist)
        if rec.suite is self.login_suite and not login_ok:
            # the 登录授权 suite only identifies web-login users (98179); it has no authorizations.
            # Unconfirmed errcode: 48002 API接口无权限调用.
            raise APIError(48002, "api forbidden: the login authorization suite token only serves getuserinfo3rd")
        return rec

    def get_provider_token(self, body: Dict[str, Any], ip: str) -> Dict[str, Any]:
        corpid = str(body.get("corpid") or "")
        secret = str(body.get("provider_secret") or "")
        if not corpid or corpid.lower() != self.provider.corp_id.lower():
            raise APIError(40013)
        self.check_ip(ip, self.provider.ip_whitelist)
        if secret != self.provider.secret:
            raise APIError(40001)  # UNCONFIRMED (doc 91200): exact errcode for a wrong provider_secret
        now = self.now()
        current = self._provider_current
        if current is None or current.expires_at <= now:
            current = _ProviderToken(_dynamic(64), now + ACCESS_TOKEN_TTL)
            self._provider_tokens[current.token] = current
            self._provider_current = current
        # UNCONFIRMED (doc 97194): like get_suite_token, no errcode on success
        return {"provider_access_token": current.token, "expires_in": round(current.expires_at - now)}

    def check_provider_token(self, token: str, ip: str) -> _ProviderToken:
        if not token:
            raise APIError(41001)
        rec = self._provider_tokens.get(token)
        if rec is None:
            raise APIError(40082)  # errmsg names provider_access_token too (doc 90313)
        if self.now() >= rec.expires_at:
            raise APIError(42009)  # UNCONFIRMED: provider tokens' own expiry code
        self.check_ip(ip, self.provider.ip_whitelist)
        return rec

    # -- authorization: create_auth / reset_permanent_code / cancel_auth (docs 97174 / 97175) -----

    def _corp(self, corp: Optional[Corp]) -> Corp:
        return corp if corp is not None else self.corps[0]

    def create_authorization(self, corp: Optional[Corp] = None, state: str = "") -> Tuple[Authorization, str]:
        """The admin scans the template QR code: a new authorization and its create_auth AuthCode."""
        corp = self._corp(corp)
        old = corp.authorization
        if old is not None and old.active:
            old.active = False
            self._revoke_tokens(old)
        # doc 97104: installs after 2022-06 get the encrypted corpid / userids; historic ones keep plaintext.
        encrypted = bool(corp.encrypted_ids)
        auth = Authorization(
            corp=corp,
            suite_id=self.suite.suite_id,
            auth_corp_id=corp.open_corp_id if encrypted else corp.corp_id,
            encrypted=encrypted,
            permanent_code=_dynamic(32),
            state=state,
            created_at=self.now(),
        )
        corp.authorization = auth
        return auth, self._new_auth_code(auth, "create_auth")

    def reset_permanent_code(self, corp: Optional[Corp] = None) -> Tuple[Authorization, str]:
        """Click "重新获取secret" (doc 97175): a new permanent code at once; the old one stops working (40001)."""
        corp = self._corp(corp)
        auth = corp.authorization
        if auth is None or not auth.active:
            raise ValueError("the corp has not authorized the app: call authorize() / install_app() first")
        # UNCONFIRMED (doc 97175): whether the old secret keeps working for a while.  We retire it at once.
        auth.retired_codes.append(auth.permanent_code)
        auth.permanent_code = _dynamic(32)
        self._revoke_tokens(auth)
        return auth, self._new_auth_code(auth, "reset_permanent_code")

    def cancel_authorization(self, corp: Optional[Corp] = None) -> Authorization:
        corp = self._corp(corp)
        auth = corp.authorization
        if auth is None:
            raise ValueError("the corp has not authorized the app")
        auth.active = False
        self._revoke_tokens(auth)
        return auth

    def _new_auth_code(self, auth: Authorization, kind: str) -> str:
        code = _dynamic(72)  # 96 chars: real AuthCodes are long ("最长为512字节"; ≥64 per 40058)
        self._auth_codes[code] = _AuthCode(code, auth, kind, self.now())
        return code

    # -- permanent code / auth info / corp token (docs 97163 / 90605) ----------------------------

    def _auth_corp_info(
        self, auth: Authorization, *, brief: bool = False, v2: bool = False
    ) -> Dict[str, Any]:
        corp = auth.corp
        info: Dict[str, Any] = {"corpid": auth.auth_corp_id, "corp_name": corp.name}
        if brief:
            return info
        info.update(
            corp_type="verified",
            corp_square_logo_url=self.site.url(f"/avatar/corp{corp.corp_id[-6:]}/0"),
            corp_user_max=200,
            corp_full_name=corp.full_name,
            verified_end_time=int(corp.installed_at + 365 * 86400),
            subject_type=1,
        )
        if not v2:
            info["corp_wxqrcode"] = f"https://open.work.weixin.qq.com/wwopen/corpQRCode?vcode={corp.corp_id[-8:]}"
        info.update(corp_scale="1-50人", corp_industry="IT服务", corp_sub_industry="计算机软件/硬件/信息服务")
        if v2:
            info["corp_ex_name"] = {"name_list": []}
        return info

    def _agent_info(self, auth: Authorization) -> Dict[str, Any]:
        corp = auth.corp
        logo = self.site.url(f"/avatar/app{corp.agent_id}/0")
        return {
            "agent": [
                {
                    "agentid": corp.agent_id,
                    "name": corp.agent_name,
                    "round_logo_url": logo,
                    "square_logo_url": logo,
                    "auth_mode": 0,
                    # doc 97163: "会多返回is_customized_app字段，且值为true，表示是代开发模版授权"
                    "is_customized_app": self.suite.is_customized,
                    "auth_from_thirdapp": False,
                    "privilege": {
                        "level": 1,
                        "allow_party": [],
                        "allow_user": [m.id_as(auth.encrypted) for m in corp.visible_members],
                        "allow_tag": [],
                        "extra_party": [],
                        "extra_user": [],
                        "extra_tag": [],
                    },
                }
            ]
        }

    def _auth_user_info(self, auth: Authorization) -> Dict[str, Any]:
        admin = auth.corp.admin
        return {
            "userid": admin.id_as(auth.encrypted),
            "open_userid": admin.open_userid,
            "name": admin.name,
            "avatar": admin.avatar,
        }

    def get_permanent_code(self, token: str, body: Dict[str, Any], ip: str, *, v2: bool) -> Dict[str, Any]:
        self.check_suite_token(token, ip)
        code = str(body.get("auth_code") or "")
        if not code:
            raise APIError(41008)
        if len(code) < 64:
            # doc 97163 (community): a non-auth code gets 40058 "auth_code exceed min length 64"
            raise APIError(40058, "auth_code exceed min length 64")
        rec = self._auth_codes.get(code)
        now = self.now()
        # docs 97163 / 90313: "临时授权码一次有效", 10 minutes (doc 97174) -> 40078
        if (
            rec is None
            or rec.used
            or now - rec.issued_at > AUTH_CODE_TTL
            or rec.auth.suite_id != self.suite.suite_id
            or not rec.auth.active
            or rec.auth.corp.authorization is not rec.auth
        ):
            raise APIError(40078)
        rec.used = True
        auth = rec.auth
        out: Dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if v2:
            # doc 100776: v2 returns no auth_info (no agentid) and no access_token
            out.update(
                permanent_code=auth.permanent_code,
                auth_corp_info=self._auth_corp_info(auth, brief=True),
                auth_user_info=self._auth_user_info(auth),
            )
        else:
            if self.suite.is_third_party:
                # doc 97163: the third-party version also returns the corp access_token
                rec_token = self._issue_access_token(auth.corp, APP_THIRD_PARTY, auth)
                out.update(access_token=rec_token.token, expires_in=round(rec_token.expires_at - now))
            # 代开发 (doc 97163): "接口不返回access_token字段"
            out.update(
                permanent_code=auth.permanent_code,
                auth_corp_info=self._auth_corp_info(auth),
                auth_info=self._agent_info(auth),
                auth_user_info=self._auth_user_info(auth),
            )
        if auth.state:
            out["state"] = auth.state
        return out

    def _auth_by_code(self, body: Dict[str, Any]) -> Authorization:
        auth_corpid = str(body.get("auth_corpid") or "")
        code = str(body.get("permanent_code") or "")
        if not auth_corpid:
            raise APIError(40013)
        if not code:
            raise APIError(41025)
        auth = self._find_auth(auth_corpid)
        if auth is None or auth.suite_id != self.suite.suite_id:
            raise APIError(40013)
        # doc 90313 40084: wrong code, or "企业是否已取消授权该套件"
        if not auth.active or code != auth.permanent_code:
            raise APIError(40084)
        return auth

    def get_auth_info(self, token: str, body: Dict[str, Any], ip: str, *, v2: bool) -> Dict[str, Any]:
        self.check_suite_token(token, ip)
        auth = self._auth_by_code(body)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "auth_corp_info": self._auth_corp_info(auth, v2=v2),
            "auth_info": self._agent_info(auth),
        }

    def get_corp_token(self, token: str, body: Dict[str, Any], ip: str) -> Dict[str, Any]:
        self.check_suite_token(token, ip)
        if not self.suite.is_third_party:
            # doc 90605 "third-party only; NOT for 代开发" — UNCONFIRMED which errcode a 代开发 template
            # gets; we answer 48002 (API接口无权限调用).
            raise APIError(48002, "api forbidden: customized app must use gettoken with the permanent_code")
        auth = self._auth_by_code(body)
        rec = self._issue_access_token(auth.corp, APP_THIRD_PARTY, auth)
        # doc 90605 quirk: no errcode on success
        return {"access_token": rec.token, "expires_in": round(rec.expires_at - self.now())}

    # -- installs started from the provider's website (90597, 90601, 90602) --------------

    def get_pre_auth_code(self, token: str, ip: str) -> Dict[str, Any]:
        """``GET /cgi-bin/service/get_pre_auth_code`` (90601): "expires_in":1200."""
        rec = self.check_suite_token(token, ip)
        if not rec.suite.is_third_party:
            # a 代开发 template is authorized by scanning its QR code, which pushes create_auth (97163);
            # unconfirmed what WeCom answers a template here: 48002 API接口无权限调用
            raise APIError(48002, "api forbidden: customized app templates are authorized by QR code")
        code = _dynamic(48)
        self._pre_auth_codes[code] = _PreAuthCode(code, rec.suite.suite_id, self.now())
        return {"errcode": 0, "errmsg": "ok", "pre_auth_code": code, "expires_in": PRE_AUTH_CODE_TTL}

    def _pre_auth(self, code: str, suite_id: str) -> _PreAuthCode:
        rec = self._pre_auth_codes.get(code)
        # unconfirmed errcodes: an unknown code is 40058 不合法的参数; an expired one 42007 pre_auth_code已过期
        if rec is None or rec.suite_id != suite_id:
            raise APIError(40058, "invalid pre_auth_code")
        if rec.used or self.now() - rec.issued_at > PRE_AUTH_CODE_TTL:
            raise APIError(42007, "pre_auth_code expired")
        return rec

    def set_session_info(self, token: str, body: Dict[str, Any], ip: str) -> Dict[str, Any]:
        """``POST /cgi-bin/service/set_session_info`` (90602): auth_type 0 正式授权, 1 测试授权."""
        rec = self.check_suite_token(token, ip)
        code = str(body.get("pre_auth_code") or "")
        if not code:
            raise APIError(40058, "pre_auth_code missing")
        pre = self._pre_auth(code, rec.suite.suite_id)
        session = body.get("session_info") or {}
        if not isinstance(session, dict):
            raise APIError(47001)
        auth_type = session.get("auth_type", 0)
        if auth_type not in (0, 1):
            raise APIError(40058, "invalid auth_type")
        pre.auth_type = int(auth_type)
        return {"errcode": 0, "errmsg": "ok"}

    def validate_install(self, params: Dict[str, str], referer: Optional[str]) -> InstallRequest:
        """The install page ``open.work.weixin.qq.com/3rdapp/install`` (90597); AuthorizeError if refused."""
        suite = self.suite
        if params.get("suite_id", "") != suite.suite_id or not suite.is_third_party:
            raise AuthorizeError(40083, "suite_id 参数错误", "invalid suite_id",
                                 "the install page takes a third-party app's suite_id")
        code = params.get("pre_auth_code", "")
        try:
            pre = self._pre_auth(code, suite.suite_id)
        except APIError as exc:
            raise AuthorizeError(exc.errcode, "预授权码无效或已过期", "the pre_auth_code is invalid or expired",
                                 "get a new one with get_pre_auth_code (valid 20 minutes)") from None
        redirect_uri = params.get("redirect_uri", "")
        netloc = _netloc(redirect_uri)
        domain = (suite.install_domain or suite.trusted_domain or "").lower()
        # The redirect_uri must be on the app's 授权完成回调域名, and (WeCom staff answers, community) the
        # page must be opened from a page on that domain (Referer).  Same wording for both, as reported.
        referer_host = _netloc(referer or "")
        if netloc != domain or referer_host != domain:
            raise AuthorizeError(
                None, "redirect_uri 与配置的授权完成回调域名不一致",
                "redirect_uri (or the page that opened this one) is not on the app's install callback domain",
                f"redirect_uri host: {netloc}; Referer host: {referer_host or '-'}; 授权完成回调域名: {domain or '-'}")
        if not suite.released and pre.auth_type != 1:
            # 90602: "可支持测试模式(应用未发布时)" — an unreleased app installs only as 测试授权
            raise AuthorizeError(None, "应用尚未上线，请使用测试授权（set_session_info auth_type=1）",
                                 "the app is not released: install it as a test authorization (auth_type=1)")
        state = params.get("state", "")
        return InstallRequest(code, redirect_uri, state, list(self.corps), dict(params))

    def confirm_install(self, req: InstallRequest, corp_id: Optional[str] = None) -> str:
        """The admin of ``corp_id`` (default: the first corp) installs the app: the Location to redirect to.

        90597: redirect_uri?auth_code=…&expires_in=600&state=…; 90642: no create_auth is pushed for an
        install started from the provider's website."""
        corp = req.corps[0]
        if corp_id:
            found = [c for c in req.corps if c.corp_id.lower() == corp_id.lower()]
            if not found:
                raise AuthorizeError(40013, "企业不存在", "unknown corp")
            corp = found[0]
        pre = self._pre_auth(req.pre_auth_code, self.suite.suite_id)
        pre.used = True
        _auth, code = self.create_authorization(corp, req.state)
        return add_query(req.redirect_uri, {"auth_code": code, "expires_in": str(AUTH_CODE_TTL),
                                            "state": req.state})

    # -- gettoken (doc 97164, doc 91039) -----------------------------------------------------------

    def _issue_access_token(self, corp: Corp, mode: TokenMode, auth: Optional[Authorization]) -> _AccessToken:
        now = self.now()
        key = (mode, corp.corp_id, auth.permanent_code if auth is not None else "self")
        rec = self._access_by_key.get(key)
        # doc 97164: "有效期内重复获取返回相同结果，过期后获取会返回新的access_token"
        if rec is None or rec.revoked or rec.expires_at <= now:
            rec = _AccessToken(_dynamic(64), corp, mode, auth, now + ACCESS_TOKEN_TTL)
            self._access_tokens[rec.token] = rec
            self._access_by_key[key] = rec
        return rec

    def _whitelists(self, corp: Corp, mode: TokenMode) -> Tuple[Optional[List[str]], ...]:
        # doc 90313: self-built -> 企业可信IP (corp.ip_whitelist); 代开发 / third-party -> the provider's
        # IP白名单.  UNCONFIRMED: a per-app IP白名单 also shows in the 代开发 开发信息 form, so for
        # 代开发 corp.ip_whitelist is enforced as well.
        if mode == MODE_SELFBUILT:
            return (corp.ip_whitelist,)
        if mode == APP_CUSTOMIZED:
            return (self.provider.ip_whitelist, corp.ip_whitelist)
        return (self.provider.ip_whitelist,)

    def gettoken(self, corpid: str, corpsecret: str, ip: str) -> Dict[str, Any]:
        if not corpid:
            raise APIError(41002)
        if not corpsecret:
            raise APIError(41004)
        corp, matched_encrypted = self._find_corp(corpid)
        if corp is None:
            raise APIError(40013)  # includes a case-changed encrypted corpid (doc 97104: case-sensitive)
        auth = corp.authorization
        usable_auth = auth is not None and auth.active and self.suite.is_customized
        mode: TokenMode
        if not matched_encrypted and corpsecret == corp.secret:
            mode, with_auth = MODE_SELFBUILT, None
        elif (
            usable_auth
            and auth is not None
            and corpsecret == auth.permanent_code
            and (matched_encrypted == auth.encrypted)
            and (not matched_encrypted or corpid == auth.auth_corp_id)
        ):
            # doc 97164: 代开发 gettoken = corpid + permanent_code.  UNCONFIRMED (doc 97159) whether the plaintext
            # corpid is accepted too for an encrypted install; we require exactly the
            # auth_corp_info.corpid returned by get_permanent_code (the doc's "safest" reading).
            mode, with_auth = APP_CUSTOMIZED, auth
        else:
            # wrong secret, an old permanent code after reset_permanent_code, a cancelled
            # authorization's code, or a third-party permanent code (those use get_corp_token)
            raise APIError(40001)
        self.check_ip(ip, *self._whitelists(corp, mode))
        if corp.app_closed:
            # 91039: "注意应用需要是启用状态"; 90313: 40001 "应用已经停用" (default) or 50003 应用已禁用
            raise APIError(corp.closed_gettoken_errcode)
        rec = self._issue_access_token(corp, mode, with_auth)
        return {"errcode": 0, "errmsg": "ok", "access_token": rec.token,
                "expires_in": round(rec.expires_at - self.now())}

    def check_access_token(self, token: str, ip: str) -> _AccessToken:
        if not token:
            raise APIError(41001)
        rec = self._access_tokens.get(token)
        if rec is None or rec.revoked:
            raise APIError(40014)
        if self.now() >= rec.expires_at:
            raise APIError(42001)
        self.check_ip(ip, *self._whitelists(rec.corp, rec.mode))
        return rec

    # -- user-facing APIs (doc 96442) ---------------------------------------------------------

    @staticmethod
    def _check_app_usable(corp: Corp) -> None:
        if corp.app_closed:
            raise APIError(50003)  # doc 90313: "应用禁用之后，将无法再调用api"

    # -- interface licences (接口许可, 97194) -------------------------------------------------

    def trial_end(self, corp: Corp) -> Optional[float]:
        """End of the free trial: 90 days from the install (97194); None before any install."""
        auth = corp.authorization
        if auth is None:
            return None
        end = auth.created_at + TRIAL_SECONDS
        if corp.trial_expired:
            end = min(end, self.now() - 1)  # the switch ends the trial "now"
        return end

    def license_check_start(self, corp: Corp) -> Optional[float]:
        """license_check_time (97194): when licence checks start; the install unless set."""
        auth = corp.authorization
        if auth is None:
            return None
        return corp.license_check_time if corp.license_check_time is not None else auth.created_at

    def licence_refuses(self, corp: Corp, member: Optional[Member], mode: str) -> bool:
        """True when ``member`` may not use the identity APIs: a 代开发 / third-party app whose trial is
        over and whose checks have started, and a member without an active licence (97194, 95652:
        "至少需要为企业成员开通基础账号，才能为该成员调用身份验证…接口").  Licensed members keep working;
        self-built apps have no licences."""
        if member is None or member.licensed or mode == MODE_SELFBUILT:
            return False
        end, start = self.trial_end(corp), self.license_check_start(corp)
        if end is None or start is None:
            return False
        now = self.now()
        return now >= end and now >= start

    def _check_licence(self, corp: Corp, member: Optional[Member], mode: str) -> None:
        if self.licence_refuses(corp, member, mode):
            # 90313 701016 账号未激活或者已经过期: the member has no active licence.  UNCONFIRMED
            # whether the client also shows a page of its own first; we refuse at the API (the
            # documented errcode), so the provider's app is the one that explains it.
            raise APIError(701016)

    def _consume_code(self, code: str, app: str, corp: Optional[Corp]) -> _OAuthCode:
        if not code:
            raise APIError(41008)
        rec = self._oauth_codes.get(code)
        # docs 91022 / 90313 40029: single use, 5 minutes, and only for the app it was issued to
        if (
            rec is None
            or rec.used
            or self.now() - rec.issued_at > OAUTH_CODE_TTL
            or rec.app != app
            or (corp is not None and rec.corp is not corp)
        ):
            raise APIError(40029)
        rec.used = True
        return rec

    def _new_user_ticket(self, code: _OAuthCode) -> Optional[str]:
        member = code.member
        # doc 96442: "scope为snsapi_privateinfo，且用户在应用可见范围之内时返回"; the web-login variant
        # returns no user_ticket (doc 98152)
        if member is None or code.via != "oauth2" or not member.visible:
            return None
        if code.scope not in (SCOPE_PRIVATE, SCOPE_USERINFO):
            return None
        ticket = _dynamic(64)
        self._user_tickets[ticket] = _UserTicket(ticket, code.corp, member, code.app, self.now())
        return ticket

    def getuserinfo(self, token: str, code: str, ip: str) -> Dict[str, Any]:
        rec = self.check_access_token(token, ip)
        if not code:
            raise APIError(41008)
        self._check_app_usable(rec.corp)
        pending = self._oauth_codes.get(code)
        if pending is not None and not pending.used and pending.corp is rec.corp:
            self._check_licence(rec.corp, pending.member, rec.mode)
        c = self._consume_code(code, "corp", rec.corp)
        if c.member is None:
            return {"errcode": 0, "errmsg": "ok", "openid": c.openid}
        out: Dict[str, Any] = {"errcode": 0, "errmsg": "ok", "userid": c.member.id_as(rec.encrypted)}
        ticket = self._new_user_ticket(c)
        if ticket:
            out["user_ticket"] = ticket  # doc 96442: no expires_in in this response
        return out

    def _ticket(self, ticket: str, app: str, corp: Optional[Corp]) -> _UserTicket:
        if not ticket:
            raise APIError(84090)
        rec = self._user_tickets.get(ticket)
        if rec is None or rec.app != app or (corp is not None and rec.corp is not corp):
            raise APIError(84015)
        if self.now() - rec.issued_at > USER_TICKET_TTL:
            raise APIError(84014)  # doc 96443: 成员票据过期
        if not rec.member.visible:
            # doc 96443 "成员必须在应用的可见范围内"; the doc lists both 60021 and 92000 — for a
            # ticket-based call (no userid parameter) we pick 92000 成员不在应用可见范围之内.
            raise APIError(92000)
        return rec

    def getuserdetail(self, token: str, body: Dict[str, Any], ip: str) -> Dict[str, Any]:
        rec = self.check_access_token(token, ip)
        self._check_app_usable(rec.corp)
        t = self._ticket(str(body.get("user_ticket") or ""), "corp", rec.corp)
        m = t.member
        self._check_licence(rec.corp, m, rec.mode)
        # doc 96443: no name here
        out: Dict[str, Any] = {
            "errcode": 0,
            "errmsg": "ok",
            "userid": m.id_as(rec.encrypted),
            "gender": m.gender,
            "avatar": m.avatar,
            "qr_code": m.qr_code,
            "mobile": m.mobile,
            "email": m.email,
            "biz_mail": m.biz_mail,
            "address": m.address,
        }
        if rec.mode == APP_CUSTOMIZED:
            # 96443: "敏感字段需要管理员在应用详情里选择，且成员oauth2授权时确认后才返回" — the member's
            # consent is the user_ticket (snsapi_privateinfo); the admin's choice is the app's
            # permission set (98980).  The page leaves open how a field that was not granted looks;
            # we leave it out (absent, not ""), the stricter reading.
            self._withhold(out, rec.corp)
        return out

    @staticmethod
    def _withhold(out: Dict[str, Any], corp: Corp) -> None:
        """Drop the member fields ``corp``'s 代开发 app has no permission for (98980, 99052)."""
        for name, permission in FIELD_PERMISSIONS.items():
            if name in out and permission not in corp.permissions:
                del out[name]

    def user_get(self, token: str, userid: str, ip: str) -> Dict[str, Any]:
        rec = self.check_access_token(token, ip)
        if not userid:
            raise APIError(41009)
        if rec.corp.app_closed:
            raise APIError(50003)
        member = None
        for m in rec.corp.members:
            # the app names members by the ids it was given: encrypted ids exactly, plaintext
            # ones case-insensitively (doc 96255 "不区分大小写")
            if (rec.encrypted and m.open_userid == userid) or (
                not rec.encrypted and m.userid.lower() == userid.lower()
            ):
                member = m
        if member is None:
            raise APIError(60111)
        if not member.visible:
            raise APIError(60011)  # doc 96255 "应用只能获取可见范围内的成员信息"; doc 90313 60011
        out: Dict[str, Any] = {
            "errcode": 0,
            "errmsg": "ok",
            "userid": member.id_as(rec.encrypted),
            # doc 91121: third-party apps never get the real name
            "name": member.id_as(rec.encrypted) if rec.mode == APP_THIRD_PARTY else member.name,
            "department": list(member.department),
            "order": [0 for _ in member.department],
            "position": member.position,
            "is_leader_in_dept": [0 for _ in member.department],
            "direct_leader": [],
            "main_department": member.department[0] if member.department else 1,
            "status": member.status,
            "alias": member.alias,
            "telephone": member.telephone,
            "english_name": member.english_name,
        }
        # doc 96255: since 2022-06-20 new self-built / 代开发 apps no longer get avatar, gender, mobile,
        # email, biz_mail, qr_code, address from user/get — they need OAuth (getuserdetail).
        if rec.mode != MODE_SELFBUILT:
            out["open_userid"] = member.open_userid
        if rec.mode == APP_CUSTOMIZED:
            # 98980: basic permission = userid + department ids; name, position… need the admin's
            # grant.  96255 says "不再返回以下字段" for what an app may not read: we leave a field
            # that is not granted out of the answer (absent, not "" — the docs do not show which).
            # department / order / main_department / is_leader_in_dept / status stay (basic).
            out.pop("direct_leader", None)  # corp_arch:member:direct_leader, not modelled
            self._withhold(out, rec.corp)
        return out

    def get_permissions(self, token: str, ip: str) -> Dict[str, Any]:
        """``POST /cgi-bin/agent/get_permissions`` (99052): the app's permissions, as strings."""
        rec = self.check_access_token(token, ip)
        if rec.mode == MODE_SELFBUILT:
            # 99052: "支持所有的代开发应用和第三方应用调用" — not self-built apps.  UNCONFIRMED which
            # errcode a self-built token gets; we answer 48002 (API接口无权限调用).
            raise APIError(48002, "api forbidden: agent/get_permissions is for 代开发 and third-party apps")
        self._check_app_usable(rec.corp)
        return {"errcode": 0, "errmsg": "ok", "app_permissions": sorted(rec.corp.permissions)}

    def agent_get(self, token: str, agentid: str, ip: str) -> Dict[str, Any]:
        rec = self.check_access_token(token, ip)
        if not agentid:
            raise APIError(41011)
        try:
            agent = int(agentid)
        except ValueError:
            raise APIError(40056) from None
        corp = rec.corp
        if agent != corp.agent_id:
            raise APIError(40056)
        # UNCONFIRMED: agent/get still answers for a disabled app, with close=1 (so a provider can
        # see why everything else fails with 50003).
        out: Dict[str, Any] = {
            "errcode": 0,
            "errmsg": "ok",
            "agentid": corp.agent_id,
            "name": corp.agent_name,
            "square_logo_url": self.site.url(f"/avatar/app{corp.agent_id}/0"),
            "description": "FakeWeCom 模拟应用 / simulated app",
            "allow_userinfos": {"user": [{"userid": m.id_as(rec.encrypted)} for m in corp.visible_members]},
            "allow_partys": {"partyid": []},
            "allow_tags": {"tagid": []},
            "close": 1 if corp.app_closed else 0,
            "redirect_domain": corp.trusted_domain,
            "report_location_flag": 0,
            "isreportenter": 0,
            "home_url": f"http://{corp.trusted_domain}/",
        }
        if rec.mode == APP_CUSTOMIZED:
            out["customized_publish_status"] = corp.publish_status
        return out

    def getcallbackip(self, token: str, ip: str) -> Dict[str, Any]:
        self.check_access_token(token, ip)
        return {"ip_list": list(self.callback_ips), "errcode": 0, "errmsg": "ok"}

    # -- third-party identity (doc 91121, doc 91122) ---------------------------------------------

    def _third_party_only(self) -> None:
        if not self.suite.is_third_party:
            # doc 91121: "不允许代开发自建应用调用" — UNCONFIRMED errcode; 48002 API接口无权限调用
            raise APIError(48002, "api forbidden: customized app must use /cgi-bin/auth/getuserinfo")

    def _corp_view(self, corp: Corp) -> Tuple[str, bool]:
        """(corpid, encrypted) a third-party app sees for ``corp`` (doc 91121)."""
        auth = corp.authorization
        if auth is not None and auth.suite_id == self.suite.suite_id:
            return auth.auth_corp_id, auth.encrypted
        # "如果该企业与第三方应用没有授权关系时，返回密文UserId"
        return corp.open_corp_id, True

    def getuserinfo3rd(self, token: str, code: str, ip: str) -> Dict[str, Any]:
        suite_token = self.check_suite_token(token, ip, login_ok=True)
        # 98179: a web-login (ServiceApp) code is consumed with the 登录授权 suite's token, an in-client
        # OAuth code (91121) with the app suite's: a code exchanged with the other token is 40029.
        login = suite_token.suite is self.login_suite
        if not login:
            self._third_party_only()
        if not code:
            raise APIError(41008)
        rec = self._oauth_codes.get(code)
        if rec is not None and not rec.used and rec.app == ("login" if login else "suite"):
            self._check_app_usable(rec.corp)
            self._check_licence(rec.corp, rec.member, APP_THIRD_PARTY)
        c = self._consume_code(code, "login" if login else "suite", None)
        if c.member is None:
            return {"errcode": 0, "errmsg": "ok", "openid": c.openid}
        corpid, encrypted = self._corp_view(c.corp)
        out: Dict[str, Any] = {"errcode": 0, "errmsg": "ok", "corpid": corpid,
                               "userid": c.member.id_as(encrypted)}
        ticket = self._new_user_ticket(c)
        if ticket:
            # UNCONFIRMED: the 91121 sample shows expires_in 7200; doc 96442 gives user_ticket 1800 s.
            # We report (and enforce) 1800.
            out.update(user_ticket=ticket, expires_in=USER_TICKET_TTL)
        out["open_userid"] = c.member.open_userid
        return out

    def getuserdetail3rd(self, token: str, body: Dict[str, Any], ip: str) -> Dict[str, Any]:
        self.check_suite_token(token, ip)
        self._third_party_only()
        t = self._ticket(str(body.get("user_ticket") or ""), "suite", None)
        self._check_app_usable(t.corp)
        self._check_licence(t.corp, t.member, APP_THIRD_PARTY)
        corpid, encrypted = self._corp_view(t.corp)
        m = t.member
        uid = m.id_as(encrypted)
        # doc 91122: name = userid for third-party apps; no mobile / email
        return {"errcode": 0, "errmsg": "ok", "corpid": corpid, "userid": uid, "name": uid,
                "gender": m.gender, "avatar": m.avatar, "qr_code": m.qr_code}

    # -- licence (doc 97194) ------------------------------------------------------------------

    def get_app_license_info(self, token: str, body: Dict[str, Any], ip: str) -> Dict[str, Any]:
        self.check_provider_token(token, ip)
        corpid = str(body.get("corpid") or "")
        suite_id = str(body.get("suite_id") or "")
        if suite_id != self.suite.suite_id:
            raise APIError(40083)
        auth = self._find_auth(corpid) if corpid else None
        if auth is None:
            raise APIError(40013)
        corp = auth.corp
        start = auth.created_at
        end = self.trial_end(corp) or start + TRIAL_SECONDS
        check = self.license_check_start(corp) or start
        return {
            "errcode": 0,
            "errmsg": "ok",
            "license_status": 1,  # 已开启 licence 检查
            "trail_info": {"start_time": int(start), "end_time": int(end)},  # sic "trail" (97194)
            "license_check_time": int(check),
        }

    # -- OAuth / web login pages (doc 91022) --------------------------------------------------

    def validate_login(self, kind: str, params: Dict[str, str]) -> LoginRequest:
        """Check an OAuth (``oauth2``) or web-login (``wwlogin``) request; AuthorizeError if refused."""
        appid = params.get("appid", "")
        redirect_uri = params.get("redirect_uri", "")
        state = params.get("state", "")
        agentid = params.get("agentid", "")
        scope = ""
        corps: List[Corp] = []
        app = "corp"
        if kind == "wwlogin":
            login_type = params.get("login_type", "")
            if login_type not in ("CorpApp", "ServiceApp"):
                raise AuthorizeError(None, "login_type 参数错误", "invalid login_type",
                                     "login_type must be CorpApp or ServiceApp "
                                     "(developer.work.weixin.qq.com/document/path/98152)")
            if login_type == "ServiceApp":
                app = "login"
        if not appid:
            raise AuthorizeError(40013, "appid 参数错误", "appid is missing")
        corp, _ = self._find_corp(appid)
        if app == "login":
            # 98171: "第三方登录时填登录授权 SuiteID" — the provider's 登录授权 app, never an app's own suite
            # (unconfirmed which page WeCom shows for another id: we show an appid error, errcode 40013)
            if appid != self.login_suite.suite_id:
                raise AuthorizeError(
                    40013, "appid 参数错误：第三方登录（ServiceApp）须填登录授权 SuiteID",
                    "invalid appid: ServiceApp web login takes the provider's login-authorization SuiteID",
                    "appid is not the 登录授权 SuiteID (服务商管理后台 → 应用管理 → 登录授权)")
            corps = list(self.corps)
        elif app == "corp" and corp is not None:
            corps = [corp]
        elif appid == self.suite.suite_id and self.suite.is_third_party:
            # doc 91120: third-party OAuth uses appid = suite_id; doc 98152 ServiceApp likewise
            app = "suite"
            corps = list(self.corps)
        else:
            raise AuthorizeError(40013, "appid 参数错误", "invalid appid",
                                 "appid must be the corp id (self-built / 代开发) or a third-party suite_id")
        if kind == "oauth2":
            if params.get("response_type", "") != "code":
                raise AuthorizeError(None, "response_type 参数错误", "response_type must be code")
            scope = params.get("scope", "")
            allowed = (SCOPE_BASE, SCOPE_PRIVATE) + ((SCOPE_USERINFO,) if app == "suite" else ())
            if scope not in allowed:
                raise AuthorizeError(None, "scope 参数错误", "invalid scope",
                                     f"scope must be one of {allowed}")
        if not _STATE_RE.match(state):
            # docs 91022 / 90313 84025.  UNCONFIRMED for wwlogin (doc 98152 does not say); assumed the same rule.
            raise AuthorizeError(84025, "不符合的state参数；必须是[a-zA-Z0-9]的参数值，长度不可超过128个字节",
                                 "state must be [a-zA-Z0-9], at most 128 bytes")
        agent_id: Optional[int] = None
        if app == "corp":
            need_agent = kind == "wwlogin" or scope == SCOPE_PRIVATE
            if agentid:
                try:
                    agent_id = int(agentid)
                except ValueError:
                    agent_id = -1
                if agent_id != corps[0].agent_id:
                    raise AuthorizeError(40056, "agentid 参数错误", "invalid agentid")
            elif need_agent:
                # doc 91022: "snsapi_privateinfo时必填否则报错" (the same page also says it would fall back
                # to snsapi_base — we follow the table: an error page).  doc 98152: CorpApp needs agentid.
                raise AuthorizeError(40056, "缺少 agentid 参数", "agentid is required",
                                     "snsapi_privateinfo and web login (CorpApp) need the app's agentid")
        netloc = _netloc(redirect_uri)
        if netloc is None:
            raise AuthorizeError(None, "redirect_uri 参数错误", "invalid redirect_uri",
                                 "redirect_uri must be an absolute, URL-encoded http(s) URL")
        owner: _DomainSettings = corps[0] if app == "corp" else self.login_suite if app == "login" else self.suite
        if kind == "oauth2":
            # developer.work.weixin.qq.com/document/path/96441, 96442, 90313 (50001): in-client OAuth
            # needs redirect_uri's host to equal the app's 可信域名 exactly, port included
            # (www.qq.com ≠ www.qq.com:8008); WeCom shows its page and issues no code.
            trusted = owner.trusted_domain
            if netloc != trusted.lower():
                raise AuthorizeError(
                    50001, "redirect_uri需使用应用可信域名", "redirect_uri must use the app's trusted domain",
                    f"redirect_uri host: {netloc}; 可信域名 / trusted domain: {trusted or '-'}",
                )
        else:
            # 98152 / 98173: web login is checked against the app's 授权回调域 — a separate setting
            # that must equal the host exactly, port included (mail.qq.com ≠ mail.qq.com:8080).
            # The page's wording is from community captures of WeCom's web-login page
            # ("redirect_uri 与配置的授权完成回调域名不一致", no errcode shown); unconfirmed for
            # wwlogin/sso/login, which no official page quotes.
            domain = owner.web_login_callback_domain
            if netloc != domain.lower():
                raise AuthorizeError(
                    None, "redirect_uri 与配置的授权完成回调域名不一致",
                    "redirect_uri does not match the app's web-login callback domain (授权回调域)",
                    f"redirect_uri host: {netloc}; 授权回调域 / callback domain: {domain or '-'}",
                )
        lenient = self.allow_local_redirects and _needs_allowance(netloc, port_counts=kind == "oauth2")
        if app == "corp":
            self._check_page_usable(corps[0])
        return LoginRequest(kind, app, corps, redirect_uri, state, scope, agent_id, dict(params), lenient)

    @staticmethod
    def _check_page_usable(corp: Corp) -> None:
        if corp.app_closed:
            raise AuthorizeError(50003, "该应用已停用，请联系管理员",
                                 "This app has been disabled by the admin")

    def confirm_login(
        self,
        req: LoginRequest,
        userid: Optional[str] = None,
        *,
        corp_id: Optional[str] = None,
        non_member: bool = False,
    ) -> str:
        """The user picked who they are: issue a code and return the redirect Location."""
        corp = req.corp
        if corp_id:
            found = [c for c in req.corps if c.corp_id.lower() == corp_id.lower()]
            if not found:
                raise AuthorizeError(40013, "企业不存在", "unknown corp")
            corp = found[0]
        if req.app in ("suite", "login"):
            self._check_page_usable(corp)
        member: Optional[Member] = None
        openid = ""
        if non_member:
            if req.kind != "oauth2":
                raise AuthorizeError(None, "非企业成员无法扫码登录", "non-members cannot use web login")
            # doc 96442 b): "openid 非企业成员的标识，对当前企业唯一"
            openid = "o" + corp.corp_id[-8:] + "Guest" + corp.open_corp_id[-12:]
        else:
            if userid is None:
                visible = corp.visible_members
                if not visible:
                    raise AuthorizeError(50002, "应用可见范围内没有成员", "no member in the visible range")
                member = visible[0]
            else:
                member = corp.member(userid)
                if member is None:
                    raise AuthorizeError(60111, "成员不存在", "no such member", str(userid))
            if not member.visible and (req.kind == "wwlogin" or req.scope != SCOPE_BASE):
                # doc 91022: privateinfo "要求成员必须在应用可见范围内，否则页面会报错"; doc 91019: web login
                # "若用户不在…应用的可见范围，扫码时会提示无权限".  snsapi_base still issues a code:
                # getuserinfo answers "无论是否在应用可见范围之内" (doc 96442).
                raise AuthorizeError(50002, "成员不在应用可见范围内，无权限访问",
                                     "You are not in this app's visible range")
        code = secrets.token_urlsafe(32)
        self._oauth_codes[code] = _OAuthCode(
            code=code, corp=corp, member=member, openid=openid, scope=req.scope or SCOPE_BASE,
            via=req.kind, app=req.app, issued_at=self.now(),
        )
        # doc 91022: redirect to redirect_uri?code=CODE&state=STATE — and nowhere else
        return add_query(req.redirect_uri, {"code": code, "state": req.state})
