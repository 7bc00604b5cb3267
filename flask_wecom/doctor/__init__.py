"""The doctor: check a WeCom setup actively, before a user runs into the error (framework-free).

Most problems with 代开发 apps only show up *inside the WeCom client* (redirect_uri / 可信域名
mismatch, app disabled, trial over, IP not whitelisted, wrong receiveid on the callback). The
doctor runs nine checks and says how to fix each finding, in Chinese and English:

1. :func:`check_config` — every key the app type needs is present and well-formed
   (:func:`flask_wecom.config.validate_config`), plus ``WECOM_PUBLIC_URL``.
2. :func:`check_callback` — a signed, encrypted URL-verification GET to our own callback
   route, in process, must come back with the plaintext (Token / EncodingAESKey / receiveid
   agree, doc 96466, doc 90968); shows the exact URLs to paste into the console.
3. :func:`check_suite` — a suite_ticket younger than 30 minutes (doc 97162) and a working
   ``get_suite_token`` (doc 97162).
4. :func:`check_corp_tokens` — per corp, ``gettoken`` (doc 97164) or ``get_corp_token`` (doc 90605).
5. :func:`check_agents` — per corp, ``agent/get``: trusted domain = the host of our redirect URI,
   which must be a domain WeCom accepts (no IP, no port: docs 96441, 90313 80001), the web-login
   callback domain to enter (授权回调域, 98173; no API reads it), app enabled / online, visible
   range not empty.
6. :func:`check_authorization` — per corp, ``get_auth_info`` (doc 100795): still authorized; expiry
   of a paid edition (a warning before it happens), the licence trial's end and when licence
   checks start (doc 97194: after that only members without a licence are refused — a warning).
7. :func:`check_callback_ips` — ``getcallbackip`` (doc 98988 for 代开发, 90238 for self-built):
   WeCom's callback source IPs.
8. :func:`check_permissions` — per corp, ``agent/get_permissions`` (doc 99052): may the 代开发
   app read members' name and email (``contact:sensitive:user_name`` / ``:email``, doc 98980)?
9. :func:`check_store` — the store's database answers, its schema is current, nothing in the local
   spool was set aside in ``failed/``, no AuthCode claim lapsed unfinished.

Every check returns a list of :class:`CheckResult`; :func:`run_checks` runs them in order and
skips what depends on a failed step (no suite ticket → no suite token → …) with the reason.

The doctor makes *fresh* API calls (it does not use the token cache, which could hide a wrong
secret behind a token fetched earlier). WeCom answers a repeated ``gettoken`` within the
token's lifetime with the same token (doc 97164), so running the doctor does not disturb the
tokens other workers hold. Nothing secret ever reaches a result: findings name keys, never
values, and every text is passed through :func:`flask_wecom.redact.redact_text` with every
secret the run handled as a last line of defence.
"""
from __future__ import annotations

import logging
import os
import secrets as _secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple
from urllib.parse import urlsplit

from .. import domains, errcodes, permissions
from ..config import validate_config
from ..crypto import MessageCrypto, signature
from ..errors import CorpNotFoundError, NoSuiteTicketError, TransportError, WeComAPIError, WeComError
from ..redact import redact_text

log = logging.getLogger("flask_wecom.doctor")

__all__ = [
    "CheckResult",
    "DoctorContext",
    "Probe",
    "STATUSES",
    "SYMBOLS",
    "CHECKS",
    "run_checks",
    "summarize",
    "check_config",
    "check_callback",
    "check_suite",
    "check_corp_tokens",
    "check_agents",
    "check_authorization",
    "check_callback_ips",
    "check_permissions",
    "check_store",
    "trusted_host",
]

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
STATUSES = (OK, WARN, FAIL, SKIP)
#: what the CLI table and the HTML partial show for each status
SYMBOLS = {OK: "✓", FAIL: "✗", WARN: "!", SKIP: "–"}

#: WeCom pushes suite_ticket every 10 minutes; it is valid 30 minutes (doc 97162)
TICKET_LIFETIME = 30 * 60
#: "可以容错连续两次获取suite_ticket失败": after two missed pushes we warn (doc 97162)
TICKET_WARN_AGE = 20 * 60

#: ``probe(path, query) -> (HTTP status, body text)``: one GET to our own app, in process
Probe = Callable[[str, Mapping[str, str]], Tuple[int, str]]

INTERNAL, CUSTOMIZED, THIRD_PARTY = "internal", "customized", "third_party"

# Where things live in the WeCom consoles (doc 96238, doc 97162, doc 91022, doc 90313), zh / en.
_PROVIDER_WHITELIST = ("服务商管理后台「服务商信息 → 基本信息 → IP白名单」",
                       "the provider console: 服务商信息 → 基本信息 → IP白名单 (service provider info → "
                       "basic info → IP whitelist)")
_CORP_TRUSTED_IP = ("管理后台「应用管理 → 本应用 → 企业可信IP」",
                    "the admin console: 应用管理 → this app → 企业可信IP (trusted corp IPs)")
_REFRESH_TICKET = ("在服务商管理后台的模板（应用）详情「回调配置」中点击「刷新Ticket」手动推送",
                   "click 刷新Ticket (refresh ticket) under 回调配置 on the template (app) page of the "
                   "provider console to push one now")


@dataclass
class CheckResult:
    """One finding of the doctor. ``finding`` and ``fix`` are bilingual ("中文 / English").

    ``id`` names what was checked (``config``, ``callback``, ``suite_ticket``, ``suite_token``,
    ``corp_token``, ``login_suite``, ``trusted_domain``, ``app_status``, ``visible_range``, ``authorization``,
    ``callback_ip``, ``web_login_domain``, ``permissions``, ``store``); ``step`` is the check's number (1–9);
    ``corp_id`` is set for per-corp results; ``details`` holds non-secret lines to show as a list (URLs to paste, IPs).
    """

    id: str
    title: str
    status: str
    finding: str
    fix: str = ""
    step: int = 0
    corp_id: Optional[str] = None
    details: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["symbol"] = self.symbol
        return data


@dataclass
class DoctorContext:
    """What the checks look at, and what earlier checks found for later ones.

    ``provider`` is a :class:`flask_wecom.provider.Provider` (its store, ticket and corp
    bookkeeping), ``client`` a :class:`flask_wecom.client.WeComClient`. ``public_url`` is the
    public base URL (``https://host[:port][/prefix]``) our routes are reached at, or None when
    unknown. ``probe`` sends a GET to our own app in process (the Flask layer passes one built on
    ``app.test_client()``); without it check 2 is skipped. ``console`` may hold the values entered
    in the WeCom console when they are known (sandbox: the simulator's) — ``WECOM_TOKEN``,
    ``WECOM_ENCODING_AES_KEY``, ``WECOM_DATA_TOKEN``, ``WECOM_DATA_ENCODING_AES_KEY``,
    ``WECOM_PROVIDER_CORP_ID``, ``WECOM_CORP_ID``; check 2 then signs with them, the way WeCom
    would. ``provider_secret`` (optional) lets check 6 read the licence trial (doc 97194).
    ``allow_local_redirects`` says the WeCom behind ``client`` is the simulator with its named
    leniency on (the sandbox demo): a redirect host real WeCom refuses is then a warning that says
    so, not a failure.
    """

    config: Mapping[str, Any]
    app_type: str
    provider: Any
    client: Any
    secret_key: Any = None
    public_url: Optional[str] = None
    public_url_source: str = ""
    redirect_path: str = "/wecom/authorized"
    callback_paths: Mapping[str, str] = field(
        default_factory=lambda: {"template": "/wecom/callback", "data": "/wecom/callback/data"})
    probe: Optional[Probe] = None
    console: Mapping[str, Any] = field(default_factory=dict)
    provider_secret: Optional[str] = field(default=None, repr=False)
    clock: Callable[[], float] = time.time
    expiry_warning_days: int = 14
    allow_local_redirects: bool = False

    # -- filled in while the checks run ---------------------------------------------------
    config_problem_keys: Set[str] = field(default_factory=set)
    suite_token: Optional[str] = field(default=None, repr=False)
    corp_tokens: Dict[str, str] = field(default_factory=dict, repr=False)
    provider_token: Optional[str] = field(default=None, repr=False)
    provider_token_error: Optional[Tuple[str, str]] = None
    handled_secrets: Set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        for key in ("WECOM_SUITE_SECRET", "WECOM_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY",
                    "WECOM_DATA_TOKEN", "WECOM_DATA_ENCODING_AES_KEY", "WECOM_STORE_KEY"):
            self.remember_secret(self.config.get(key))
            self.remember_secret(self.console.get(key))
        self.remember_secret(self.secret_key)
        self.remember_secret(self.provider_secret)

    def remember_secret(self, value: Any) -> None:
        if value and isinstance(value, str):
            self.handled_secrets.add(value)

    @property
    def is_provider_app(self) -> bool:
        return self.app_type in (CUSTOMIZED, THIRD_PARTY)

    @property
    def has_suite(self) -> bool:
        return bool(self.config.get("WECOM_SUITE_ID") and self.config.get("WECOM_SUITE_SECRET"))

    @property
    def base_url(self) -> Optional[str]:
        return self.public_url.rstrip("/") if self.public_url else None

    @property
    def redirect_uri(self) -> Optional[str]:
        base = self.base_url
        return base + self.redirect_path if base else None

    def now(self) -> float:
        return self.clock()


# -- helpers ------------------------------------------------------------------------------------


def _result(id: str, title: str, status: str, finding: str, fix: str = "", *, step: int,
            corp_id: Optional[str] = None, details: Optional[List[str]] = None, label: str = "") -> CheckResult:
    if label:
        title = f"{title} · {label}"
    return CheckResult(id, title, status, finding, fix, step, corp_id, list(details or ()))


def _both(zh: str, en: str) -> str:
    return f"{zh} / {en}" if zh and en else zh or en


def _minutes(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return "<1 min"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _date(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(timestamp))


def trusted_host(url: str) -> Optional[str]:
    """``host[:port]`` of *url* as WeCom compares it with the trusted domain (96441: exact, port included).

    The scheme's default port (80 / 443) is left out, as browsers and WeCom write the host.
    None when *url* is not an absolute http(s) URL. (:func:`flask_wecom.domains.redirect_host`
    also says whether WeCom accepts it.)
    """
    checked = domains.redirect_host(url)
    return checked.host if checked is not None else None


def _whitelist_place(app_type: str) -> Tuple[str, str]:
    """Where the IP whitelist lives for this app type (doc 90313)."""
    if app_type == INTERNAL:
        return _CORP_TRUSTED_IP
    if app_type == CUSTOMIZED:
        # doc 90313: the provider-level list; a per-app IP白名单 also shows in the 代开发 开发信息 form
        # (UNCONFIRMED whether it is separate), so both are named.
        return (_PROVIDER_WHITELIST[0] + "（若代开发应用「开发信息」中也有 IP白名单，一并添加）",
                _PROVIDER_WHITELIST[1] + " (and the IP白名单 of the 代开发 app's 开发信息, if it shows one)")
    return _PROVIDER_WHITELIST


def _whitelist_fix(app_type: str, errmsg: str) -> str:
    ip = errcodes.parse_from_ip(errmsg)
    where_zh, where_en = _whitelist_place(app_type)
    who_zh = f"IP {ip}" if ip else "本服务器的出口 IP"
    who_en = ip or "this server's egress IP"
    return _both(f"把 {who_zh} 加入{where_zh}，约1分钟后生效",
                 f"add {who_en} to {where_en}; it takes about 1 minute to apply")


def _api_error_text(exc: BaseException) -> Tuple[str, int, str]:
    """(bilingual finding, errcode or 0, errmsg) for an API / transport failure."""
    if isinstance(exc, WeComAPIError):
        info = errcodes.lookup(exc.errcode)
        meaning = _both(info.zh, info.en) if info else "unknown errcode"
        finding = f"WeCom errcode {exc.errcode} ({meaning})"
        until = getattr(exc, "remembered_until", None)
        if until:  # flask_wecom.tokens: not sent again, WeCom bans IPs that repeat a wrong secret (90313)
            at = time.strftime("%H:%M:%S", time.localtime(until))
            finding += " " + _both(f"（已记住，{at} 前不再请求；`flask wecom unblock` 立即重试）",
                                   f"(remembered: not asked again before {at}; `flask wecom unblock` asks at once)")
        return (finding, exc.errcode, exc.errmsg)
    if isinstance(exc, TransportError):
        return (_both("无法连接企业微信接口", "could not reach the WeCom API") + f": {exc.message}", 0, "")
    return (f"{type(exc).__name__}: {exc}", 0, "")


def _generic_fix(errcode: int, errmsg: str) -> str:
    if errcode:
        info = errcodes.lookup(errcode)
        if info is None:
            return errcodes.hint(errcode, errmsg)
        return _both(info.fix_zh, info.fix_en)
    return _both("检查本服务器的网络、代理设置与 WECOM_API_BASE",
                 "check this server's network and proxy settings and WECOM_API_BASE")


def _call(func: Callable[..., dict], *args: Any) -> dict:
    data = func(*args)
    return data if isinstance(data, dict) else {}


# -- 1. configuration ---------------------------------------------------------------------------


def check_config(ctx: DoctorContext) -> List[CheckResult]:
    """Check 1: every key the app type needs, their formats, ``SECRET_KEY``, ``WECOM_PUBLIC_URL``."""
    title = "配置 / Configuration"
    problems = validate_config(ctx.config, ctx.app_type, secret_key=ctx.secret_key)
    results: List[CheckResult] = []
    for problem in problems:
        status = FAIL if problem.severity == "error" else WARN
        if status == FAIL:
            ctx.config_problem_keys.add(problem.key)
        results.append(_result("config", f"{title}: {problem.key}", status,
                               f"{problem.key} {problem.problem}", problem.fix, step=1))
    public = ctx.config.get("WECOM_PUBLIC_URL")
    if public:
        parts = urlsplit(str(public))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            ctx.config_problem_keys.add("WECOM_PUBLIC_URL")
            results.append(_result(
                "config", f"{title}: WECOM_PUBLIC_URL", FAIL,
                _both("WECOM_PUBLIC_URL 不是形如 https://域名[:端口][/前缀] 的地址",
                      "WECOM_PUBLIC_URL is not a base URL like https://host[:port][/prefix]"),
                _both("设为用户访问本站的公网地址，例如 https://app.example.com",
                      "set it to the public address users reach this site at, e.g. https://app.example.com"),
                step=1))
    if not results:
        results.append(_result("config", title, OK,
                               _both(f"{ctx.app_type} 模式所需的设置齐全且格式正确",
                                     f"every setting {ctx.app_type} mode needs is present and well-formed"),
                               step=1))
    return results


# -- 2. callback self-test ----------------------------------------------------------------------


def _callback_endpoints(ctx: DoctorContext) -> List[Tuple[str, str, str, str, Tuple[str, str]]]:
    """(endpoint, path, label zh, label en, (where to paste zh, en)) for this app type (doc 96238)."""
    paths = ctx.callback_paths
    if ctx.app_type == INTERNAL:
        return [("data", paths["data"], "应用接收消息URL", "the app's message URL",
                 ("管理后台「应用管理 → 本应用 → 接收消息 → 设置API接收」",
                  "admin console → this app → 接收消息 (receive messages) → 设置API接收"))]
    if ctx.app_type == CUSTOMIZED:
        return [
            ("template", paths["template"], "代开发模板回调URL", "template (指令) callback URL",
             ("服务商管理后台「应用管理 → 应用代开发 → 代开发应用模板」的回调配置",
              "the callback settings of the template (provider console → 应用管理 → 应用代开发)")),
            ("data", paths["data"], "代开发应用回调URL", "the 代开发 app's (数据) callback URL",
             ("为每个企业「开始代开发应用 → 配置开发信息」中的代开发应用回调URL",
              "开始代开发应用 → 配置开发信息 (development settings) of each customer's app")),
        ]
    return [
        ("template", paths["template"], "指令回调URL", "instruction (指令) callback URL",
         ("服务商管理后台应用详情「回调配置」的指令回调URL", "the app's 回调配置 in the provider console")),
        ("data", paths["data"], "数据回调URL", "data callback URL",
         ("服务商管理后台应用详情「回调配置」的数据回调URL", "the app's 回调配置 in the provider console")),
    ]


def _signing_settings(ctx: DoctorContext, endpoint: str) -> Tuple[Optional[str], Optional[str]]:
    def get(key: str) -> Optional[str]:
        value = ctx.console.get(key) if ctx.console.get(key) else ctx.config.get(key)
        return str(value) if value else None

    if endpoint == "data":
        return (get("WECOM_DATA_TOKEN") or get("WECOM_TOKEN"),
                get("WECOM_DATA_ENCODING_AES_KEY") or get("WECOM_ENCODING_AES_KEY"))
    return get("WECOM_TOKEN"), get("WECOM_ENCODING_AES_KEY")


def _verification_receive_id(ctx: DoctorContext, endpoint: str) -> Tuple[Optional[str], str]:
    """The receiveid WeCom uses for URL verification (doc 90968), and a note when guessed.

    Self-built apps: their corp id. Provider apps: the provider's own corp id on both URLs (staff
    answers, partly UNCONFIRMED). Without ``WECOM_PROVIDER_CORP_ID`` we can only test with what the
    route accepts otherwise — the suite id (template URL) or an authorized corp id (data URL) — and
    say so.
    """
    def get(key: str) -> Optional[str]:
        value = ctx.console.get(key) or ctx.config.get(key)
        return str(value) if value else None

    if ctx.app_type == INTERNAL:
        return get("WECOM_CORP_ID"), ""
    provider_corp_id = get("WECOM_PROVIDER_CORP_ID")
    if provider_corp_id:
        return provider_corp_id, ""
    if endpoint == "template":
        fallback: Optional[str] = get("WECOM_SUITE_ID")
    else:
        corp_ids = list(ctx.provider.corp_ids()) if ctx.provider is not None else []
        fallback = corp_ids[0] if corp_ids else get("WECOM_CORP_ID")
    return fallback, _both(
        "未设置 WECOM_PROVIDER_CORP_ID：服务商侧回调 URL 的验证以服务商自身 corpid 加密（企业微信官方答复），"
        "所以真实的验证会失败；在服务商管理后台「应用开发-通用开发参数」复制 CorpID",
        "WECOM_PROVIDER_CORP_ID is not set: WeCom verifies provider-side callback URLs with the provider's own "
        "corp id (WeCom staff answers), so the real verification will fail; copy the CorpID from "
        "应用开发-通用开发参数 in the provider console")


def _diagnose_callback(status: int, body: str, expected: str) -> Tuple[str, str]:
    """(finding, fix) for a wrong answer of our callback route."""
    text = (body or "").strip()[:200]
    low = text.lower()
    if status == 200:
        if body.startswith("\ufeff"):
            why = _both("应答以 BOM 开头（不能带bom头）", "the answer starts with a BOM")
        elif body.strip() == expected:
            why = _both("应答带有空白或换行（不能带换行符）",
                        "the answer has surrounding whitespace / newline")
        elif body.strip("\"'") == expected:
            why = _both("应答带引号（不能加引号）", "the answer is quoted")
        else:
            why = _both("应答不是解密后的 echostr 明文", "the answer is not the decrypted echostr")
        return (why, _both("回调 URL 必须原样返回明文（developer.work.weixin.qq.com/document/path/96466）；"
                           "检查是否有中间件改写了应答",
                           "the callback must answer the bare plaintext (developer.work.weixin.qq.com/document/"
                           "path/96466); check for middleware that "
                           "rewrites the response"))
    if status == 403 and "signature" in low:
        return (_both("签名校验失败：Token 不一致", "msg_signature does not match: the Token differs"),
                _both("让 WECOM_TOKEN（或 WECOM_DATA_TOKEN）与后台回调配置中的 Token 完全一致",
                      "make WECOM_TOKEN (or WECOM_DATA_TOKEN) equal the Token in the console's callback "
                      "settings"))
    if status == 403 and "receiveid" in low:
        return (_both("receiveid 不被接受：服务商 corpid / suite_id 不一致",
                      "the receiveid is not accepted: provider corp id / suite id differ"),
                _both("WECOM_PROVIDER_CORP_ID 设为服务商管理后台「应用开发-通用开发参数」中的 CorpID，"
                      "WECOM_SUITE_ID 设为模板ID（developer.work.weixin.qq.com/document/path/97172）",
                      "set WECOM_PROVIDER_CORP_ID to the CorpID under 应用开发-通用开发参数 in the provider "
                      "console and WECOM_SUITE_ID to the template id "
                      "(developer.work.weixin.qq.com/document/path/97172)"))
    if status == 400 and ("decrypt" in low or "aes" in low):
        return (_both("无法解密：EncodingAESKey 不一致", "cannot decrypt: the EncodingAESKey differs"),
                _both("让 WECOM_ENCODING_AES_KEY（或 WECOM_DATA_ENCODING_AES_KEY）与后台回调配置中的 "
                      "EncodingAESKey 完全一致",
                      "make WECOM_ENCODING_AES_KEY (or WECOM_DATA_ENCODING_AES_KEY) equal the EncodingAESKey "
                      "in the console's callback settings"))
    if status == 403 and "timestamp" in low:
        return (_both("时间戳被拒绝：服务器时钟不准", "the timestamp was refused: the server clock is off"),
                _both("校准服务器时间（NTP）", "synchronise the server clock (NTP)"))
    if status == 404:
        return (_both("回调路由不存在或未配置", "the callback route does not exist or is not configured"),
                _both("设置 WECOM_TOKEN 与 WECOM_ENCODING_AES_KEY，并确认 WECOM_URL_PREFIX 与回调 URL 一致",
                      "set WECOM_TOKEN and WECOM_ENCODING_AES_KEY, and check WECOM_URL_PREFIX matches the "
                      "callback URL"))
    if status in (301, 302, 303, 307, 308, 401):
        return (_both(f"回调请求被拦截（HTTP {status}），可能是登录或 HTTPS 跳转",
                      f"the callback request was intercepted (HTTP {status}), e.g. by a login or HTTPS "
                      "redirect"),
                _both("让回调路由免登录、不跳转：企业微信不会跟随跳转",
                      "exempt the callback route from login and redirects: WeCom does not follow them"))
    answered = _both(f"回调路由应答 HTTP {status}", f"the callback route answered HTTP {status}")
    return (f"{answered}: {text!r}",
            _both("查看服务器日志中 flask_wecom.callback 的记录",
                  "see the flask_wecom.callback lines in the server log"))


def check_callback(ctx: DoctorContext) -> List[CheckResult]:
    """Check 2: URL verification against our own callback route, in process (doc 96466, doc 90968)."""
    title = "回调自测 / Callback self-test"
    results: List[CheckResult] = []
    base = ctx.base_url
    for endpoint, path, label_zh, label_en, where in _callback_endpoints(ctx):
        receive_id, receive_note = _verification_receive_id(ctx, endpoint)
        url = base + path if base else None
        row_title = f"{title}: {label_zh} / {label_en}"
        details = [url or f"<{_both('公网地址', 'public URL')}>{path}"]
        token, aes_key = _signing_settings(ctx, endpoint)
        if endpoint == "template" and not ctx.config.get("WECOM_SUITE_ID"):
            # a 代开发 app run with its permanent code: the template (and its events) live elsewhere
            results.append(_result("callback", row_title, SKIP,
                                   _both("未设置 WECOM_SUITE_ID：模板回调（suite_ticket、create_auth…）不由本应用接收",
                                         "WECOM_SUITE_ID is not set: template events (suite_ticket, "
                                         "create_auth…) are not received by this app"),
                                   _both("用永久授权码运行时无需模板回调；要自动接收授权，设置模板的 WECOM_SUITE_ID 与 "
                                         "WECOM_SUITE_SECRET",
                                         "none is needed when running with the permanent code; to receive "
                                         "authorizations automatically set the template's WECOM_SUITE_ID and "
                                         "WECOM_SUITE_SECRET"),
                                   step=2, details=details))
            continue
        if not token or not aes_key:
            if ctx.app_type == INTERNAL:
                results.append(_result("callback", row_title, SKIP,
                                       _both("未配置回调（自建应用可选）",
                                             "no callback configured (optional for self-built apps)"),
                                       _both("需要接收消息时设置 WECOM_TOKEN 与 WECOM_ENCODING_AES_KEY",
                                             "set WECOM_TOKEN and WECOM_ENCODING_AES_KEY to receive "
                                             "messages"),
                                       step=2, details=details))
                continue
            results.append(_result("callback", row_title, SKIP,
                                   _both("缺少 Token / EncodingAESKey，见检查1",
                                         "Token / EncodingAESKey missing, see check 1"),
                                   step=2, details=details))
            continue
        bad_keys = ctx.config_problem_keys & {"WECOM_TOKEN", "WECOM_ENCODING_AES_KEY", "WECOM_DATA_TOKEN",
                                              "WECOM_DATA_ENCODING_AES_KEY"}
        if bad_keys:
            results.append(_result("callback", row_title, SKIP,
                                   _both(f"先修正 {', '.join(sorted(bad_keys))}（见检查1）",
                                         f"fix {', '.join(sorted(bad_keys))} first (see check 1)"),
                                   step=2, details=details))
            continue
        if ctx.probe is None:
            results.append(_result("callback", row_title, SKIP,
                                   _both("没有可用的进程内请求方式（需 Flask 应用）",
                                         "no in-process request available (needs the Flask app)"),
                                   step=2, details=details))
            continue
        if not receive_id:
            results.append(_result("callback", row_title, SKIP,
                                   _both("不知道 receiveid：设置 WECOM_CORP_ID / WECOM_PROVIDER_CORP_ID",
                                         "the receiveid is unknown: set WECOM_CORP_ID / "
                                         "WECOM_PROVIDER_CORP_ID"),
                                   step=2, details=details))
            continue
        # WeCom's echostr plaintext is a long random number (doc 96466)
        expected = str(_secrets.randbelow(10 ** 19)).zfill(19)
        try:
            crypto = MessageCrypto(token, aes_key, receive_id)
            echostr = crypto.encrypt(expected, receive_id=receive_id)
        except WeComError as exc:
            results.append(_result("callback", row_title, FAIL, exc.message,
                                   _both("检查 Token / EncodingAESKey 格式（见检查1）",
                                         "check the Token / EncodingAESKey format (see check 1)"),
                                   step=2, details=details))
            continue
        # our own server's clock, not ctx.clock: the route compares with time.time()
        timestamp = str(int(time.time()))
        nonce = str(_secrets.randbelow(10 ** 10)).zfill(10)
        query = {"msg_signature": signature(token, timestamp, nonce, echostr), "timestamp": timestamp,
                 "nonce": nonce, "echostr": echostr}
        try:
            status, body = ctx.probe(path, query)
        except Exception as exc:  # noqa: BLE001 - the route crashing is exactly what we report
            results.append(_result("callback", row_title, FAIL,
                                   _both("回调路由抛出异常", "the callback route raised")
                                   + f" {type(exc).__name__}",
                                   _both("查看服务器日志", "see the server log"), step=2, details=details))
            continue
        if status != 200 or body != expected:
            finding, fix = _diagnose_callback(status, body, expected)
            results.append(_result("callback", row_title, FAIL, finding, fix, step=2, details=details))
            continue
        status_out = OK
        where_zh, where_en = where
        finding = _both("URL 验证通过：Token、EncodingAESKey、receiveid 一致；把此 URL 及 Token、"
                        f"EncodingAESKey 填到{where_zh}",
                        "URL verification passed: Token, EncodingAESKey and receiveid agree; paste this "
                        f"URL, the Token and the EncodingAESKey into {where_en}")
        fixes = []
        if receive_note:
            status_out = WARN
            fixes.append(receive_note)
        if not url:
            status_out = WARN
            fixes.append(_both("设置 WECOM_PUBLIC_URL（或 --public-url）才能给出完整的回调地址",
                               "set WECOM_PUBLIC_URL (or pass --public-url) to get the full callback URL"))
        elif not url.lower().startswith("https://"):
            status_out = WARN
            fixes.append(_both("正式环境请使用 HTTPS 的已备案域名（有开发者反馈代开发模板回调URL 必须用 https）",
                               "use HTTPS on an ICP-filed domain in production (developers report the 代开发 "
                               "template URL must be https)"))
        results.append(_result("callback", row_title, status_out, finding, " ".join(fixes),
                               step=2, details=details))
    return results


# -- 3. suite ticket and suite token ------------------------------------------------------------


def check_suite(ctx: DoctorContext) -> List[CheckResult]:
    """Check 3: a fresh suite_ticket and a working ``get_suite_token`` (doc 97162); for third-party apps
    with web login configured, the same for the 登录授权 suite (doc 98179)."""
    return _check_app_suite(ctx) + _check_login_suite(ctx)


def _check_login_suite(ctx: DoctorContext) -> List[CheckResult]:
    """Row ``login_suite``: the 登录授权 suite's ticket has arrived and its ``get_suite_token`` works."""
    suite_id, secret = ctx.config.get("WECOM_LOGIN_SUITE_ID"), ctx.config.get("WECOM_LOGIN_SUITE_SECRET")
    if ctx.app_type != THIRD_PARTY or not suite_id or not secret:
        return []  # not configured: check 1 says what that means for web login
    title = "登录授权 / login suite (web login)"
    template_url = (ctx.base_url or "") + ctx.callback_paths["template"]
    found = ctx.provider.store.get_suite_ticket(str(suite_id))
    age = ctx.now() - found[1] if found is not None else None
    if found is None or age is None or age > TICKET_LIFETIME:
        when_zh = "还没有收到" if found is None else f"{_minutes(age or 0)} 前收到了最后一个（已过期）"
        when_en = "has not arrived" if found is None else f"last arrived {_minutes(age or 0)} ago (expired)"
        return [_result(
            "login_suite", title, FAIL,
            _both(f"登录授权应用的 suite_ticket {when_zh}：网页登录（ServiceApp）无法换取用户身份",
                  f"the 登录授权 app's suite_ticket {when_en}: web logins (ServiceApp) cannot be completed"),
            _both(f"在服务商管理后台「应用管理 → 登录授权」的回调配置中填 {template_url}，Token 与 EncodingAESKey "
                  "与模板回调相同，保存后点击「刷新Ticket」",
                  f"in 应用管理 → 登录授权 of the provider console set the callback URL to {template_url} with the "
                  "template's Token and EncodingAESKey, save, then click 刷新Ticket (refresh ticket)"),
            step=3)]
    ticket = found[0]
    ctx.remember_secret(ticket)
    try:
        data = _call(ctx.client.get_suite_token, str(suite_id), str(secret), ticket)
        token = data.get("suite_access_token")
        if not token:
            raise WeComError("get_suite_token answered without suite_access_token")
        ctx.remember_secret(str(token))
    except (WeComError, TransportError) as exc:
        finding, errcode, errmsg = _api_error_text(exc)
        if errcode in (40080, 40083):
            fix = _both("WECOM_LOGIN_SUITE_ID / WECOM_LOGIN_SUITE_SECRET 须为「应用管理 → 登录授权」的 SuiteID 与 "
                        "Secret（不是应用自己的 suite_id）",
                        "WECOM_LOGIN_SUITE_ID / WECOM_LOGIN_SUITE_SECRET must be the SuiteID and Secret under "
                        "应用管理 → 登录授权 (not the app's own suite id)")
        elif errcode == 60020:
            fix = _whitelist_fix(THIRD_PARTY, errmsg)
        else:
            fix = _generic_fix(errcode, errmsg)
        return [_result("login_suite", title, FAIL, f"get_suite_token: {finding}", fix, step=3)]
    return [_result("login_suite", title, OK,
                    _both(f"登录授权应用的 suite_ticket {_minutes(age)} 前收到，get_suite_token 成功",
                          f"the 登录授权 app's suite_ticket arrived {_minutes(age)} ago; get_suite_token works"),
                    step=3)]


def _check_app_suite(ctx: DoctorContext) -> List[CheckResult]:
    ticket_title = "suite_ticket"
    token_title = "模板凭证 / suite_access_token"
    if not ctx.is_provider_app:
        reason = _both("自建应用没有 suite_ticket", "self-built apps have no suite ticket")
        return [_result("suite_ticket", ticket_title, SKIP, reason, step=3),
                _result("suite_token", token_title, SKIP, reason, step=3)]
    if not ctx.config.get("WECOM_SUITE_ID"):
        reason = _both("未设置 WECOM_SUITE_ID", "WECOM_SUITE_ID is not set")
        if ctx.config.get("WECOM_CORP_ID") and ctx.config.get("WECOM_SECRET"):
            reason = _both("已直接配置 WECOM_CORP_ID + WECOM_SECRET，不使用模板凭证",
                           "WECOM_CORP_ID + WECOM_SECRET are set directly; the suite is not used")
        return [_result("suite_ticket", ticket_title, SKIP, reason, step=3),
                _result("suite_token", token_title, SKIP, reason, step=3)]

    provider = ctx.provider
    template_url = (ctx.base_url or "") + ctx.callback_paths["template"]
    results: List[CheckResult] = []
    age = provider.suite_ticket_age()
    ticket: Optional[str] = None
    if age is None:
        results.append(_result(
            "suite_ticket", ticket_title, FAIL,
            _both(f"还没有收到 suite_ticket：企业微信每10分钟推送到 {template_url}，"
                  "一次也没有到达——企业微信访问不到该地址（非公网、防火墙、后台的 Token/EncodingAESKey "
                  "与本站不一致，或模板回调配置未保存）",
                  f"no suite_ticket has arrived: WeCom pushes one every 10 minutes to {template_url} and "
                  "none came — WeCom is not reaching that URL (not public, a firewall, the console's Token "
                  "/ EncodingAESKey differ from ours, or the template's callback settings were not saved)"),
            _both("确认回调地址可从公网访问（放行检查7的IP）且检查2通过，然后" + _REFRESH_TICKET[0],
                  "make the URL reachable from the internet (allow the IPs of check 7) with check 2 passing, "
                  "then " + _REFRESH_TICKET[1]),
            step=3))
    else:
        try:
            ticket = provider.suite_ticket()
        except NoSuiteTicketError:  # pragma: no cover - raced with a delete
            ticket = None
        ctx.remember_secret(ticket)
        if age > TICKET_LIFETIME:
            results.append(_result(
                "suite_ticket", ticket_title, FAIL,
                _both(f"最近一次 suite_ticket 是 {_minutes(age)} 前收到的，已超过30分钟有效期："
                      f"企业微信不再能访问 {template_url}",
                      f"the last suite_ticket arrived {_minutes(age)} ago, past its 30-minute lifetime: "
                      f"WeCom is no longer reaching {template_url}"),
                _both("检查回调地址是否仍可从公网访问（证书、防火墙、反向代理），然后" + _REFRESH_TICKET[0],
                      "check the URL is still reachable from the internet (certificate, firewall, reverse "
                      "proxy), then " + _REFRESH_TICKET[1]),
                step=3))
        elif age > TICKET_WARN_AGE:
            results.append(_result(
                "suite_ticket", ticket_title, WARN,
                _both(f"suite_ticket 是 {_minutes(age)} 前收到的：已错过两次推送（每10分钟一次，"
                      "30分钟后失效）",
                      f"the suite_ticket arrived {_minutes(age)} ago: two pushes (every 10 minutes) were "
                      "missed; it expires at 30 minutes"),
                _both("检查回调地址的可达性；" + _REFRESH_TICKET[0],
                      "check the callback URL is reachable; " + _REFRESH_TICKET[1]),
                step=3))
        else:
            results.append(_result(
                "suite_ticket", ticket_title, OK,
                _both(f"suite_ticket {_minutes(age)} 前收到（每10分钟推送，30分钟有效）",
                      f"suite_ticket received {_minutes(age)} ago (pushed every 10 minutes, valid 30)"),
                step=3))

    if not ctx.config.get("WECOM_SUITE_SECRET"):
        results.append(_result("suite_token", token_title, SKIP,
                               _both("未设置 WECOM_SUITE_SECRET（见检查1）",
                                     "WECOM_SUITE_SECRET is not set (see check 1)"),
                               step=3))
        return results
    if ticket is None:
        results.append(_result("suite_token", token_title, SKIP,
                               _both("没有 suite_ticket，无法获取模板凭证（见上一行）",
                                     "no suite_ticket, so no suite token can be had (see the row above)"),
                               step=3))
        return results
    suite_id = str(ctx.config["WECOM_SUITE_ID"])
    source = provider.suite_token() if provider.has_suite else None
    try:
        if source is not None:
            source.raise_if_blocked()
        data = _call(ctx.client.get_suite_token, suite_id, str(ctx.config["WECOM_SUITE_SECRET"]), ticket)
        token = data.get("suite_access_token")
        if not token:
            raise WeComError("get_suite_token answered without suite_access_token")
    except (WeComError, TransportError) as exc:
        finding, errcode, errmsg = _api_error_text(exc)
        if errcode == 40085:
            fix = _both("suite_ticket 无效或已过期：请使用最近一次推送的 ticket；" + _REFRESH_TICKET[0],
                        "the suite_ticket is unknown or expired: the latest pushed one must be used; "
                        + _REFRESH_TICKET[1])
        elif errcode == 40080:
            fix = _both("WECOM_SUITE_SECRET 不对：代开发填模板 Secret（不是代开发应用的 secret / "
                        "permanent_code），第三方应用填应用 Secret，均在服务商管理后台的模板（应用）详情中",
                        "WECOM_SUITE_SECRET is wrong: for 代开发 it is the template Secret (not the app "
                        "secret / permanent_code), for third-party apps the app Secret — both on the "
                        "template (app) page of the provider console")
        elif errcode == 40083:
            fix = _both("WECOM_SUITE_ID 不存在：代开发模板ID以 dk 开头，第三方应用ID以 ww/wx 开头，"
                        "从服务商管理后台的模板（应用）详情复制",
                        "WECOM_SUITE_ID does not exist: 代开发 template ids start with dk, third-party app "
                        "ids with ww/wx — copy it from the template (app) page of the provider console")
        elif errcode == 60020:
            fix = _whitelist_fix(THIRD_PARTY, errmsg)  # get_suite_token checks the provider list (doc 97162)
        else:
            fix = _generic_fix(errcode, errmsg)
        results.append(_result("suite_token", token_title, FAIL, f"get_suite_token: {finding}", fix, step=3))
        return results
    ctx.suite_token = str(token)
    ctx.remember_secret(ctx.suite_token)
    results.append(_result("suite_token", token_title, OK,
                           _both("get_suite_token 成功", "get_suite_token works"), step=3))
    return results


# -- 4. corp access tokens ----------------------------------------------------------------------


def _corp_label(ctx: DoctorContext, corp_id: str) -> str:
    record = ctx.provider.store.get_corp(corp_id) if ctx.is_provider_app else None
    name = record.corp_name if record is not None and record.corp_name else ""
    return f"{corp_id} ({name})" if name else corp_id


def _secret_fix(ctx: DoctorContext, from_config: bool) -> Tuple[str, str]:
    """(zh, en): what to do about a wrong or reset secret (the first cause of 40001, document 90313)."""
    if ctx.app_type == CUSTOMIZED and from_config:
        # a 代开发 app run with its permanent code: the secret is reset in the provider console
        return ("WECOM_SECRET（代开发应用的 secret，即 permanent_code）已被替换或有误："
                "服务商在代开发应用详情点击「重新获取secret」后旧值失效——把新的 permanent_code 填入 "
                "WECOM_SECRET（或配置模板 WECOM_SUITE_ID / WECOM_SUITE_SECRET 以自动接收 "
                "reset_permanent_code）",
                "WECOM_SECRET (the 代开发 app's secret, i.e. its permanent_code) was replaced or is wrong: "
                "after 重新获取secret on the app page in the provider console the old value stops working — "
                "put the new permanent_code in WECOM_SECRET (or configure the template's WECOM_SUITE_ID / "
                "WECOM_SUITE_SECRET to receive reset_permanent_code)")
    if ctx.app_type == INTERNAL or from_config:
        return ("WECOM_SECRET 与应用的 Secret 不一致：在管理后台「应用管理 → 本应用」查看 Secret "
                "后更新 WECOM_SECRET（代开发应用的 secret 即 permanent_code）",
                "WECOM_SECRET does not match the app's Secret: copy it from the admin console "
                "(应用管理 → this app) into WECOM_SECRET (a 代开发 app's secret is its "
                "permanent_code)")
    return ("permanent_code（即代开发应用的 secret）已被替换或有误："
            "服务商在代开发应用详情点击「重新获取secret」后，企业微信推送 reset_permanent_code，"
            "须用其中的 AuthCode（10分钟内有效）换取新的 permanent_code——运行 `flask wecom "
            "exchange`；若已错过，再点一次「重新获取secret」或请企业管理员重新授权",
            "the permanent_code (= the 代开发 app's secret) was replaced or is wrong: after "
            "重新获取secret on the app page WeCom pushes reset_permanent_code, whose AuthCode "
            "(valid 10 minutes) must be exchanged for the new permanent_code — run `flask wecom "
            "exchange`; if it was missed, click 重新获取secret again or have the corp admin "
            "authorize again")


#: 50003 / a disabled app: where to re-enable it
_REENABLE = ("请企业管理员在「管理后台 → 应用管理 → 本应用」重新启用（代开发应用的停用/启用会推送 change_auth）",
             "the corp admin must re-enable it under admin console → 应用管理 → this app (for 代开发, "
             "disabling and enabling push change_auth)")


def _disabled_or_secret_fix(ctx: DoctorContext, from_config: bool, closed: Optional[bool]) -> str:
    """The fix for gettoken's 40001, whose help (document 90313) names two causes: a wrong or reset secret,
    and 应用已经停用 (a disabled app). ``closed`` is what agent/get said with a token cached before the
    failure (see :func:`_cached_agent_close`): True disabled, False enabled, None unknown."""
    secret_zh, secret_en = _secret_fix(ctx, from_config)
    if closed is True:
        return _both("应用已被停用：" + _REENABLE[0], "the app is disabled: " + _REENABLE[1])
    if closed is False:
        return _both("应用是启用状态，所以是 secret 的问题：" + secret_zh,
                     "the app is enabled, so the secret is the problem: " + secret_en)
    return _both(
        "40001 有两种原因：secret 错误或已被重置，或者应用已经停用。先在企业的管理后台「应用管理」打开本应用"
        "分辨（之前取得的 access_token 仍有效时，agent/get 的 close=1 也表示已停用）：显示已停用，"
        + _REENABLE[0] + "；应用正常，则是 secret 的问题：" + secret_zh
        + "。不要反复重试：多次用错误的 secret 调用 gettoken 会使本服务器 IP 被封禁一小时",
        "40001 has two causes: a wrong or reset secret, or a disabled app. Tell them apart in the corp's admin "
        "console under 应用管理 (apps), on this app's page (while an earlier access_token still works, "
        "agent/get's close=1 says disabled too). If it shows as disabled (已停用), " + _REENABLE[1]
        + ". If it is enabled, the secret is the problem: " + secret_en
        + ". Do not keep retrying: repeated gettoken calls with a wrong secret block this server's IP for an hour")


def _cached_agent_close(ctx: DoctorContext, corp_id: str) -> Optional[bool]:
    """After gettoken's 40001: ask agent/get with the access token the app cached before, if it still holds
    one, whether the app is disabled (``close=1`` or 50003: True; ``close=0``: False). None when there is
    no cached token to ask with or the answer is unclear. One call, no new gettoken when the cached token
    is fresh: repeated wrong secrets get the IP blocked (document 90313, 45009)."""
    provider = ctx.provider
    if provider is None or ctx.app_type == THIRD_PARTY:
        return None
    try:
        source = provider.corp_token(corp_id)
        seen = source.peek()
        if not seen or float(seen["expires_at"]) - ctx.now() < 300:
            return None
        token = source.get()
        agent_id = provider.agent_id_for(corp_id)
    except Exception:  # noqa: BLE001 - a cache or store problem: just no hint
        return None
    if not token or not agent_id:
        return None
    ctx.remember_secret(str(token))
    try:
        data = _call(ctx.client.get_agent, str(token), agent_id)
    except WeComAPIError as exc:
        return True if exc.errcode == 50003 else None
    except (WeComError, TransportError):
        return None
    return str(data.get("close", 0)) not in ("0", "", "None")


def _corp_token_fix(ctx: DoctorContext, corp_id: str, errcode: int, errmsg: str, from_config: bool) -> str:
    if errcode == 40001:
        return _disabled_or_secret_fix(ctx, from_config, None)
    if errcode == 40013:
        return _both("corpid 不对：代开发/第三方请原样使用 get_permanent_code 返回的 "
                     "auth_corp_info.corpid（密文 corpid 区分大小写）；自建应用核对 "
                     "WECOM_CORP_ID（管理后台「我的企业」）",
                     "the corp id is wrong: 代开发 / third-party apps must use auth_corp_info.corpid from "
                     "get_permanent_code exactly (encrypted corp ids are case-sensitive); self-built apps "
                     "check WECOM_CORP_ID (admin console → 我的企业)")
    if errcode == 40084:
        return _both("permanent_code 无效：企业可能已取消授权，或该码不属于本服务商；"
                     "请企业管理员重新扫码授权",
                     "the permanent_code is invalid: the corp may have cancelled the authorization, or it "
                     "belongs to another provider; have the corp admin authorize again")
    if errcode == 60020:
        return _whitelist_fix(ctx.app_type, errmsg)
    if errcode == 50003:
        return _both("应用已被停用：" + _REENABLE[0], "the app is disabled: " + _REENABLE[1])
    if errcode == 48004:
        return _both("授权关系无效：可能未授权或授权已被取消；请企业管理员重新扫码授权",
                     "the authorization is invalid: never authorized or cancelled; have the corp admin "
                     "authorize again")
    return _generic_fix(errcode, errmsg)


def check_corp_tokens(ctx: DoctorContext) -> List[CheckResult]:
    """Check 4: a corp access token for each corp we serve (``gettoken`` doc 97164 / ``get_corp_token`` doc 90605)."""
    title = "企业凭证 / corp access_token"
    provider = ctx.provider
    corp_ids = list(provider.corp_ids())
    if not corp_ids:
        if ctx.app_type == INTERNAL:
            return [_result("corp_token", title, SKIP, _both("未设置 WECOM_CORP_ID",
                                                             "WECOM_CORP_ID is not set"),
                            step=4)]
        return [_result("corp_token", title, WARN,
                        _both("还没有企业授权本应用", "no corp has authorized this app yet"),
                        _both("请客户企业的管理员扫描代开发模板授权二维码（授权后 create_auth "
                              "推送到模板回调URL，自动换取 permanent_code），或设置 WECOM_CORP_ID + "
                              "WECOM_SECRET",
                              "have the customer's admin scan the template's authorization QR code "
                              "(create_auth then arrives on the template callback URL and is exchanged "
                              "automatically), or set WECOM_CORP_ID + WECOM_SECRET"),
                        step=4)]
    results: List[CheckResult] = []
    configured = ctx.config.get("WECOM_CORP_ID")
    for corp_id in corp_ids:
        label = _corp_label(ctx, corp_id)
        from_config = bool(ctx.config.get("WECOM_SECRET")) and (not configured or corp_id == configured)
        # A failure the app remembers (doc 90313: repeating a wrong secret gets the IP banned) is shown, not
        # sent again; the doctor's own failures are not remembered, so a re-run right after a fix asks WeCom.
        source = provider.corp_token(corp_id)
        try:
            secret = provider.corp_secret(corp_id) if ctx.app_type != THIRD_PARTY else \
                provider.store.get_permanent_code(corp_id)
        except CorpNotFoundError:
            results.append(_result("corp_token", title, FAIL,
                                   _both("没有保存的 permanent_code",
                                         "no stored permanent_code"),
                                   _both("请企业管理员重新授权", "have the corp admin authorize again"),
                                   step=4, corp_id=corp_id, label=label))
            continue
        ctx.remember_secret(secret)
        try:
            if ctx.app_type == THIRD_PARTY:
                if not ctx.suite_token:
                    results.append(_result("corp_token", title, SKIP,
                                           _both("第三方应用的企业凭证需要模板凭证（见检查3）",
                                                 "a third-party corp token needs the suite token "
                                                 "(see check 3)"), step=4, corp_id=corp_id, label=label))
                    continue
                source.raise_if_blocked()
                data = _call(ctx.client.get_corp_token, ctx.suite_token, corp_id, secret)
                api = "get_corp_token"
            else:
                source.raise_if_blocked()
                data = _call(ctx.client.get_token, corp_id, secret)
                api = "gettoken"
            token = data.get("access_token")
            if not token:
                raise WeComError(f"{api} answered without access_token")
        except (WeComError, TransportError) as exc:
            finding, errcode, errmsg = _api_error_text(exc)
            api = "get_corp_token" if ctx.app_type == THIRD_PARTY else "gettoken"
            fix = _corp_token_fix(ctx, corp_id, errcode, errmsg, from_config)
            details: List[str] = []
            if errcode == 40001 and api == "gettoken":  # a bad secret or a disabled app (document 90313)
                closed = _cached_agent_close(ctx, corp_id)
                fix = _disabled_or_secret_fix(ctx, from_config, closed)
                if closed is not None:
                    details.append(f"agent/get (access_token cached before): close={1 if closed else 0}")
            results.append(_result("corp_token", title, FAIL, f"{api}: {finding}", fix,
                                   step=4, corp_id=corp_id, label=label, details=details))
            continue
        ctx.corp_tokens[corp_id] = str(token)
        ctx.remember_secret(str(token))
        results.append(_result("corp_token", title, OK,
                               _both(f"{api} 成功", f"{api} works"),
                               step=4, corp_id=corp_id, label=label))
    return results


# -- 5. agent/get: trusted domain, enabled, visible range ---------------------------------------


def _trusted_domain_place(app_type: str) -> Tuple[str, str]:
    """Where the trusted domain is set (doc 91022)."""
    if app_type == CUSTOMIZED:
        return ("服务商管理后台为该企业「开始代开发应用 → 配置开发信息」中的「可信域名」",
                "the provider console: 开始代开发应用 → 配置开发信息 (development settings) of this corp's "
                "app → 可信域名 (trusted domain)")
    if app_type == THIRD_PARTY:
        return ("服务商管理后台应用详情中的「可信域名」", "the provider console: the app's page → 可信域名 "
                                       "(trusted domain)")
    return ("管理后台「应用管理 → 本应用 → 网页授权及JS-SDK → 可信域名」",
            "the admin console: 应用管理 → this app → 网页授权及JS-SDK → 可信域名 (trusted domain)")


#: what users see inside the WeCom client when the redirect URI is not on the trusted domain (errcode 50001
#: of doc 90313; the page text as users report it)
USER_SEES = "回调URI参数错误 / redirect_uri需使用应用可信域名"

_ENTITY_ZH = "域名须已 ICP 备案，备案主体须与企业主体相同或有关联关系（代开发通常填服务商自己的已备案域名）"
_ENTITY_EN = ("the domain needs an ICP filing whose entity is the corp's own or a related one (for 代开发 "
              "usually the provider's own filed domain)")
_SANDBOX_ZH = "沙盒模拟器放行了它（allow_local_redirects），真实企业微信会拒绝这个 redirect_uri"
_SANDBOX_EN = ("the sandbox's simulator lets it through (allow_local_redirects); real WeCom would refuse this "
               "redirect URI")


def _unknown_url_row(id: str, title: str, what_zh: str, what_en: str, *, corp_id: str, label: str,
                     details: List[str]) -> CheckResult:
    return _result(
        id, title, WARN,
        _both(f"{what_zh}，但不知道本站的公网地址，无法比对", f"{what_en}, but this site's public URL is unknown, "
                                               "so it cannot be compared"),
        _both("设置 WECOM_PUBLIC_URL（或用 --public-url）为用户访问本站的地址后再运行",
              "set WECOM_PUBLIC_URL (or pass --public-url) to the address users reach this site at and "
              "run again"),
        step=5, corp_id=corp_id, details=details, label=label)


def _domain_row(ctx: DoctorContext, corp_id: str, label: str, data: Mapping[str, Any]) -> CheckResult:
    """agent/get ``redirect_domain`` against the host of our redirect URI.

    developer.work.weixin.qq.com/document/path/96441, 96442, 90313 (50001, 80001): in-client OAuth
    needs the redirect URI's host to equal the 可信域名 exactly, port included, and a 可信域名 can
    be neither an IP address nor carry a port. The host is the one the login view sends: from
    WECOM_PUBLIC_URL, else SERVER_NAME, else the current request (``ctx.public_url``). The fix
    never names a value WeCom would refuse.
    """
    title = "可信域名 / Trusted domain"
    domain = str(data.get("redirect_domain") or "").strip()
    where_zh, where_en = _trusted_domain_place(ctx.app_type)
    uri = ctx.redirect_uri
    checked = domains.redirect_host(uri) if uri else None
    if not uri or checked is None:
        return _unknown_url_row("trusted_domain", title, f"企业微信登记的可信域名是 {domain or '（未设置）'}",
                                f"WeCom's trusted domain is {domain or '(not set)'}", corp_id=corp_id,
                                label=label, details=[f"redirect_domain: {domain or '-'}"])
    host = checked.host
    source = f" ({ctx.public_url_source})" if ctx.public_url_source else ""
    details = [f"redirect_uri: {uri}{source}", f"redirect_uri host[:port]: {host}",
               f"redirect_domain (WeCom): {domain or '-'}"]
    sees_zh = f"用户在企业微信里会看到「{USER_SEES}」"
    sees_en = (f"users will see \"{USER_SEES}\" (redirect_uri must use the app's trusted domain) inside the "
               "WeCom client (errcode 50001)")
    domain_ok = bool(domain) and domains.domain_problem(domain) is None
    # the exact 可信域名 to advise: ours when WeCom accepts it, else WeCom's own when that is a real domain
    advise = checked.advisable or (domain if domain_ok else None)
    if checked.problem is not None:
        why_zh, why_en = domains.why_refused(checked.problem)
        serve_zh, serve_en = domains.serve_advice(advise)
        finding_zh = f"登录回调地址 {uri} 的域名 {host} {why_zh}"
        finding_en = f"the host {host} of the redirect URI {uri} {why_en}"
        same = domain.lower() == host.lower()
        if same and (ctx.allow_local_redirects or checked.problem == domains.LOCAL):
            # what answered agent/get accepted it: the sandbox's simulator (its named leniency), or a
            # local name, which only a simulator can hold (WeCom's ICP / ownership checks are not ours
            # to run) — a warning that says real WeCom refuses it, not a failure of this setup
            note_zh, note_en = ((_SANDBOX_ZH, _SANDBOX_EN) if ctx.allow_local_redirects else
                                ("只有模拟器会接受它，真实企业微信会拒绝这个 redirect_uri",
                                 "only a simulator accepts it; real WeCom would refuse this redirect URI"))
            return _result(
                "trusted_domain", title, WARN,
                _both(f"{finding_zh}；{note_zh}", f"{finding_en}; {note_en}"),
                _both(f"生产环境：{serve_zh}；位置：{where_zh}。{_ENTITY_ZH}",
                      f"in production: {serve_en}; it is set in {where_en}. {_ENTITY_EN}"),
                step=5, corp_id=corp_id, details=details, label=label)
        return _result(
            "trusted_domain", title, FAIL,
            _both(f"{finding_zh}，应用内登录无法完成：{sees_zh}", f"{finding_en}, so in-client login cannot work: "
                                                          f"{sees_en}"),
            _both(f"{serve_zh}；可信域名在{where_zh}。{_ENTITY_ZH}",
                  f"{serve_en}; the trusted domain is set in {where_en}. {_ENTITY_EN}"),
            step=5, corp_id=corp_id, details=details, label=label)
    if not domain:
        return _result(
            "trusted_domain", title, FAIL,
            _both(f"应用没有设置可信域名，{sees_zh}",
                  f"the app has no trusted domain; {sees_en}"),
            _both(f"在{where_zh}填写 {host}。{_ENTITY_ZH}", f"set {host} in {where_en}. {_ENTITY_EN}"),
            step=5, corp_id=corp_id, details=details, label=label)
    if domain.lower() != host.lower():
        other_zh = other_en = ""
        if domain_ok:
            other_zh = f"，或让本站以 https://{domain} 对外服务（443 端口，反向代理）并设置 WECOM_PUBLIC_URL=https://{domain}"
            other_en = (f", or serve this site at https://{domain} (443, behind a reverse proxy) and set "
                        f"WECOM_PUBLIC_URL=https://{domain}")
        return _result(
            "trusted_domain", title, FAIL,
            _both(f"可信域名是 {domain}，而登录回调地址 {uri} 的域名（含端口）是 {host}；{sees_zh}",
                  f"the trusted domain is {domain} but the host (port included) of the redirect URI "
                  f"{uri} is {host}; {sees_en}"),
            _both(f"在{where_zh}把可信域名改为 {host}（须完全一致）{other_zh}。{_ENTITY_ZH}",
                  f"set the trusted domain to {host} in {where_en} (exact match){other_en}. {_ENTITY_EN}"),
            step=5, corp_id=corp_id, details=details, label=label)
    return _result("trusted_domain", title, OK,
                   _both(f"可信域名 {domain} 与登录回调地址一致",
                         f"the trusted domain {domain} matches the redirect URI"),
                   step=5, corp_id=corp_id, details=details, label=label)


def _web_login_place(app_type: str) -> Tuple[str, str]:
    """Where the 授权回调域 is set (98173: 应用 → 企业微信授权登录 → 设置授权回调域).

    Unconfirmed for 代开发 whether the provider or the customer's admin sets it: both are named.
    """
    if app_type == THIRD_PARTY:
        return ("服务商管理后台「登录授权」设置中的「授权回调域」",
                "the provider console's 登录授权 (login authorization) settings → 授权回调域")
    app_zh = "（代开发：服务商为该企业配置的代开发应用，或企业管理后台中的该应用）" if app_type == CUSTOMIZED else ""
    app_en = (" (代开发: the app the provider configured for this corp, or the app in the corp's admin console)"
              if app_type == CUSTOMIZED else "")
    return (f"应用详情「企业微信授权登录 → 设置授权回调域」{app_zh}",
            f"the app's page → 企业微信授权登录 (WeCom login) → 设置授权回调域 (web-login callback domain){app_en}")


def _web_login_row(ctx: DoctorContext, corp_id: str, label: str) -> CheckResult:
    """The 授权回调域 to enter for web / QR login (developer.work.weixin.qq.com/document/path/98152, 98173).

    It must equal the redirect URI's host exactly and may carry a port; no API reads it, so the row
    says what to enter rather than comparing.
    """
    title = "授权回调域 / Web-login callback domain"
    if str(ctx.config.get("WECOM_LOGIN_VIA") or "auto") == "oauth":
        return _result("web_login_domain", title, SKIP,
                       _both("WECOM_LOGIN_VIA = oauth：本站不使用网页扫码登录",
                             "WECOM_LOGIN_VIA = oauth: this site does not use web (QR) login"),
                       step=5, corp_id=corp_id, label=label)
    uri = ctx.redirect_uri
    checked = domains.redirect_host(uri) if uri else None
    if not uri or checked is None:
        return _unknown_url_row("web_login_domain", title, "网页扫码登录需要设置授权回调域",
                                "web (QR) login needs the app's web-login callback domain", corp_id=corp_id,
                                label=label, details=[])
    host = checked.host
    where_zh, where_en = _web_login_place(ctx.app_type)
    details = [f"授权回调域 / web-login callback domain: {host}"]
    if checked.problem == domains.IP and not ctx.allow_local_redirects:
        serve_zh, serve_en = domains.serve_advice(checked.advisable)
        return _result(
            "web_login_domain", title, WARN,
            _both(f"登录回调地址的域名 {host} 是 IP 地址：授权回调域能否填写 IP 未经企业微信文档确认",
                  f"the redirect URI's host {host} is an IP address: WeCom's documents do not confirm that a "
                  "web-login callback domain may be one"),
            _both(f"{serve_zh}；然后在{where_zh}填写同一域名", f"{serve_en}; then enter the same domain in {where_en}"),
            step=5, corp_id=corp_id, details=details, label=label)
    return _result(
        "web_login_domain", title, OK,
        _both(f"网页扫码登录回到 {uri}；企业微信没有接口可读取授权回调域，请人工核对",
              f"web (QR) login comes back to {uri}; no WeCom API reads the web-login callback domain, so check it "
              "by hand"),
        _both(f"在{where_zh}填写 {host}（与回调地址的域名完全一致，含端口，不含 https://）",
              f"enter {host} in {where_en} (exactly the redirect URI's host, port included, no https://)"),
        step=5, corp_id=corp_id, details=details, label=label)


#: ``customized_publish_status`` of agent/get (代开发 only), as the official 90227 text defines it
PUBLISH_STATUS = {
    0: ("待开发（企业已授权，服务商未创建应用）",
        "waiting for development (authorized, the provider has not created the app)"),
    1: ("开发中（服务商已创建应用，未上线）", "in development (created, not online)"),
    2: ("已上线", "online"),
    3: ("已上线，但存在未上线版本", "online, with an unpublished version"),
}


def _app_status_row(ctx: DoctorContext, corp_id: str, label: str, data: Mapping[str, Any]) -> CheckResult:
    title = "应用状态 / App status"
    if str(data.get("close", 0)) not in ("0", "", "None"):
        return _result("app_status", title, FAIL,
                       _both("应用已被停用（agent/get close=1）",
                             "the app is disabled (agent/get close=1)"),
                       _corp_token_fix(ctx, corp_id, 50003, "", False), step=5, corp_id=corp_id, label=label)
    status = data.get("customized_publish_status")
    if ctx.app_type == CUSTOMIZED and status is not None:
        try:
            code = int(status)
        except (TypeError, ValueError):
            code = -1
        zh, en = PUBLISH_STATUS.get(code, ("未知", "unknown"))
        if code in (0, 1):
            return _result("app_status", title, FAIL,
                           _both(f"代开发应用未上线：{zh}",
                                 f"the 代开发 app is not online: {en}"),
                           _both("在服务商管理后台为该企业完成「开始代开发应用 → 配置开发信息」，提交审核，"
                                 "审核通过后点击「上线」",
                                 "in the provider console finish 开始代开发应用 → 配置开发信息 for this "
                                 "corp, submit it for review, then click 上线 (go online) once approved"),
                           step=5, corp_id=corp_id, label=label)
        if code == 3:
            return _result("app_status", title, OK,
                           _both(f"应用已启用；{zh}", f"the app is enabled; {en}"),
                           _both("新版本上线后才生效", "the new version takes effect once it is put online"),
                           step=5, corp_id=corp_id, label=label)
    return _result("app_status", title, OK, _both("应用已启用", "the app is enabled"),
                   step=5, corp_id=corp_id, label=label)


def _visible_row(ctx: DoctorContext, corp_id: str, label: str, data: Mapping[str, Any]) -> CheckResult:
    title = "可见范围 / Visible range"

    def count(key: str, inner: str) -> int:
        value = data.get(key) or {}
        items = value.get(inner) if isinstance(value, Mapping) else value
        return len(items) if isinstance(items, list) else 0

    users = count("allow_userinfos", "user")
    parties = count("allow_partys", "partyid")
    tags = count("allow_tags", "tagid")
    summary = _both(f"成员 {users}、部门 {parties}、标签 {tags}",
                    f"{users} members, {parties} departments, {tags} tags")
    if users + parties + tags == 0:
        return _result("visible_range", title, FAIL,
                       _both("应用的可见范围是空的，"
                             "没有人能登录（企业微信提示“成员不在应用可见范围”）",
                             "the app's visible range is empty: nobody can log in (WeCom says the "
                             "member is outside the app's visible range)"),
                       _both("请企业管理员在「管理后台 → 应用管理 → 本应用 → "
                             "可见范围」中添加成员或部门（变更会推送 change_auth）",
                             "the corp admin must add members or departments under admin console → 应用管理 "
                             "→ this app → 可见范围 (visible range); the change pushes change_auth"),
                       step=5, corp_id=corp_id, label=label)
    return _result("visible_range", title, OK, f"{summary}", step=5, corp_id=corp_id, label=label)


def check_agents(ctx: DoctorContext) -> List[CheckResult]:
    """Check 5: ``agent/get`` per corp — trusted domain, enabled / online, visible range (doc 91022)."""
    results: List[CheckResult] = []
    corp_ids = list(ctx.provider.corp_ids())
    if not corp_ids:
        return [_result("trusted_domain", "应用 / App (agent/get)", SKIP,
                        _both("没有可检查的企业（见检查4）", "no corp to check (see check 4)"), step=5)]
    for corp_id in corp_ids:
        label = _corp_label(ctx, corp_id)
        token = ctx.corp_tokens.get(corp_id)
        if not token:
            results.append(_result("trusted_domain", "应用 / App (agent/get)", SKIP,
                                   _both("没有企业凭证（见检查4）",
                                         "no corp token (see check 4)"),
                                   step=5, corp_id=corp_id, label=label))
            continue
        agent_id = ctx.provider.agent_id_for(corp_id)
        if not agent_id:
            results.append(_result("trusted_domain", "应用 / App (agent/get)", FAIL,
                                   _both("不知道应用的 AgentId",
                                         "the app's AgentId is unknown"),
                                   _both("设置 WECOM_AGENT_ID（应用详情页的数字）；代开发/第三方取自授权信息 "
                                         "auth_info.agent[0].agentid",
                                         "set WECOM_AGENT_ID (the number on the app's page); for 代开发 / "
                                         "third-party apps it comes from auth_info.agent[0].agentid of the "
                                         "authorization"),
                                   step=5, corp_id=corp_id, label=label))
            continue
        try:
            data = _call(ctx.client.get_agent, token, agent_id)
        except (WeComError, TransportError) as exc:
            finding, errcode, errmsg = _api_error_text(exc)
            if errcode == 40056:
                fix = _both(f"AgentId {agent_id} 不属于该应用：核对 WECOM_AGENT_ID 或重新读取授权信息",
                            f"AgentId {agent_id} is not this app's: check WECOM_AGENT_ID or re-read the "
                            "authorization info")
            else:
                fix = _corp_token_fix(ctx, corp_id, errcode, errmsg, False)
            results.append(_result("trusted_domain", "应用 / App (agent/get)", FAIL,
                                   f"agent/get: {finding}", fix, step=5, corp_id=corp_id, label=label))
            continue
        results.append(_domain_row(ctx, corp_id, label, data))
        results.append(_web_login_row(ctx, corp_id, label))
        results.append(_app_status_row(ctx, corp_id, label, data))
        results.append(_visible_row(ctx, corp_id, label, data))
    return results


# -- 6. authorization: still authorized, edition / trial expiry ---------------------------------


def _expiry(ctx: DoctorContext, what_zh: str, what_en: str, end: float) -> Tuple[str, str, str]:
    """(status, zh, en) for something that ends at ``end``: fail after, warn within the warning days."""
    left = end - ctx.now()
    days = int(left // 86400)
    if left <= 0:
        return FAIL, f"{what_zh}已于 {_date(end)} 结束", f"{what_en} ended on {_date(end)}"
    if left <= ctx.expiry_warning_days * 86400:
        return (WARN, f"{what_zh}将于 {_date(end)} 结束（还剩 {days} 天）",
                f"{what_en} ends on {_date(end)} ({days} days left)")
    return OK, f"{what_zh}到 {_date(end)}", f"{what_en} until {_date(end)}"


def _provider_token(ctx: DoctorContext) -> Optional[str]:
    """provider_access_token for the licence API (doc 97194); None (and a reason) without a provider secret."""
    if ctx.provider_token or ctx.provider_token_error is not None:
        return ctx.provider_token
    corp_id = ctx.config.get("WECOM_PROVIDER_CORP_ID")
    if not ctx.provider_secret or not corp_id:
        ctx.provider_token_error = ("未检查试用期（需要服务商 secret 与 WECOM_PROVIDER_CORP_ID）",
                                    "trial not checked (needs the provider secret and "
                                    "WECOM_PROVIDER_CORP_ID)")
        return None
    tokens, secret = getattr(ctx.provider, "tokens", None), str(ctx.provider_secret)
    try:
        if tokens is not None:  # nothing else fetches this token: the doctor remembers its failures itself
            tokens.raise_if_blocked("provider", str(corp_id), lambda: secret)
        data = ctx.client.get_provider_token(corp_id, ctx.provider_secret)
        token = data.get("provider_access_token")
        if not token:
            raise WeComError("get_provider_token answered without provider_access_token")
    except (WeComError, TransportError) as exc:
        if tokens is not None:
            tokens.remember_failure("provider", str(corp_id), exc, lambda: secret)
        finding, _errcode, _errmsg = _api_error_text(exc)
        ctx.provider_token_error = (f"试用期未知（get_provider_token: {finding}）",
                                    f"trial unknown (get_provider_token: {finding})")
        return None
    ctx.provider_token = str(token)
    ctx.remember_secret(ctx.provider_token)
    ctx.provider_token_error = ("", "")
    return ctx.provider_token


_LICENCE_FIX = _both("在服务商管理后台「接口许可」为每位要使用本应用的成员购买并激活接口许可（至少基础账号），"
                     "否则成员无法通过身份验证登录（developer.work.weixin.qq.com/document/path/95652）",
                     "buy and activate a licence (at least a basic account) for every member who uses the app, "
                     "under 接口许可 (interface licences) in the provider console; without "
                     "one members cannot pass identity verification, i.e. log in "
                     "(developer.work.weixin.qq.com/document/path/95652)")
_EDITION_FIX = _both("请企业续费或服务商在服务商管理后台为其延长版本",
                     "have the corp renew, or extend its edition in the provider console")


def _licence_state(ctx: DoctorContext, end: float, check_time: Any) -> Tuple[str, str, str]:
    """(status, zh, en) of the free trial and the licence checks (doc 97194).

    The trial is 90 days from the install; once it is over and checks have started
    (``license_check_time``), only members *without* an active licence are refused (701016) —
    licensed members keep working. So an ended trial is a warning about those members, never a
    failed setup.
    """
    try:
        check = float(check_time) if check_time else None
    except (TypeError, ValueError):
        check = None
    start = max(end, check) if check else end
    now = ctx.now()
    if now < end:
        status, zh, en = _expiry(ctx, "免费试用期", "the free trial", end)
        return (status, f"{zh}，之后只有已激活接口许可的成员能登录（许可检查自 {_date(start)} 起）",
                f"{en}; after it only members with an active licence can log in (licence checks from "
                f"{_date(start)})")
    zh, en = f"免费试用期已于 {_date(end)} 结束", f"the free trial ended on {_date(end)}"
    if now >= start:
        return (WARN, f"{zh}；自 {_date(start)} 起开始许可检查：没有有效接口许可的成员无法登录（企业微信返回 "
                      "701016 账号未激活或者已经过期），已激活许可的成员不受影响",
                f"{en}; licence checks began on {_date(start)}: members without an active licence cannot log in "
                "(WeCom answers 701016), members with one are not affected")
    return (WARN, f"{zh}；许可检查将于 {_date(start)} 开始，届时没有有效接口许可的成员将无法登录",
            f"{en}; licence checks begin on {_date(start)}: from then on members without an active licence "
            "cannot log in")


def _authorization_row(ctx: DoctorContext, corp_id: str, label: str, data: Mapping[str, Any]) -> CheckResult:
    title = "授权 / Authorization"
    auth_info = data.get("auth_info")
    agents = (auth_info.get("agent") or []) if isinstance(auth_info, Mapping) else []
    if not agents:
        return _result("authorization", title, FAIL,
                       _both("授权信息中没有应用（auth_info.agent 为空）",
                             "the authorization holds no app (auth_info.agent is empty)"),
                       _both("请企业管理员重新扫码授权", "have the corp admin authorize again"),
                       step=6, corp_id=corp_id, label=label)
    status, parts_zh, parts_en, fixes = OK, ["仍在授权中"], ["still authorized"], []
    order = {OK: 0, WARN: 1, FAIL: 2}

    def merge(row: Tuple[str, str, str], fix: str) -> None:
        nonlocal status
        row_status, zh, en = row
        parts_zh.append(zh)
        parts_en.append(en)
        if row_status != OK:
            fixes.append(fix)
        if order[row_status] > order[status]:
            status = row_status

    edition = data.get("edition_info")
    if isinstance(edition, Mapping):
        for agent in edition.get("agent") or []:
            expired = agent.get("expired_time") if isinstance(agent, Mapping) else None
            if expired:
                name = agent.get("edition_name") or ""
                merge(_expiry(ctx, f"版本{name}", f"the edition {name}".rstrip(), float(expired)),
                      _EDITION_FIX)
    token = _provider_token(ctx)
    if token:
        try:
            licence = ctx.client.get_app_license_info(token, corp_id, ctx.config.get("WECOM_SUITE_ID"))
        except (WeComError, TransportError) as exc:
            finding, _errcode, _errmsg = _api_error_text(exc)
            parts_zh.append(f"试用期未知（get_app_license_info: {finding}）")
            parts_en.append(f"trial unknown (get_app_license_info: {finding})")
        else:
            trial = licence.get("trail_info") or {}  # sic: WeCom's field name (doc 97194)
            end = trial.get("end_time") if isinstance(trial, Mapping) else None
            if str(licence.get("license_status")) == "0":
                parts_zh.append("未开启接口许可检查")
                parts_en.append("licence check not enabled")
            elif end:
                merge(_licence_state(ctx, float(end), licence.get("license_check_time")), _LICENCE_FIX)
    elif ctx.provider_token_error:
        parts_zh.append(ctx.provider_token_error[0])
        parts_en.append(ctx.provider_token_error[1])
    finding = _both("；".join(parts_zh), "; ".join(parts_en))
    return _result("authorization", title, status, finding, " ".join(dict.fromkeys(fixes)),
                   step=6, corp_id=corp_id, label=label)


def check_authorization(ctx: DoctorContext) -> List[CheckResult]:
    """Check 6: ``get_auth_info`` per corp (doc 100795) — still authorized; edition / trial expiry (doc 97194)."""
    title = "授权 / Authorization"
    if not ctx.is_provider_app or not ctx.has_suite:
        return [_result("authorization", title, SKIP,
                        _both("自建应用（或直接配置的 secret）没有授权关系",
                              "self-built apps (or a directly configured secret) have no authorization to "
                              "check"), step=6)]
    store = ctx.provider.store
    active = list(ctx.provider.corp_ids())
    results: List[CheckResult] = []
    for record in store.list_corps(include_revoked=True):
        if record.active or record.corp_id in active:
            continue
        when = f" {_date(record.updated_at)}" if record.updated_at else ""
        status = WARN if active else FAIL
        results.append(_result(
            "authorization", title, status,
            _both(f"企业已取消授权{when}（收到 cancel_auth）",
                  f"the corp cancelled the authorization{when} (cancel_auth received)"),
            _both("企业成员已无法使用本应用；如需恢复，请企业管理员重新扫码授权（不再服务该企业可运行 "
                  f"`flask wecom forget {record.corp_id}`）",
                  "the corp's members can no longer use the app; to restore it the corp admin must scan "
                  "the authorization QR code again (to drop the corp run `flask wecom forget "
                  f"{record.corp_id}`)"),
            step=6, corp_id=record.corp_id,
            label=f"{record.corp_id} ({record.corp_name})" if record.corp_name else record.corp_id))
    if not active:
        if not results:
            results.append(_result("authorization", title, SKIP,
                                   _both("还没有企业授权（见检查4）",
                                         "no corp has authorized yet (see check 4)"), step=6))
        return results
    for corp_id in active:
        label = _corp_label(ctx, corp_id)
        if not ctx.suite_token:
            results.append(_result("authorization", title, SKIP,
                                   _both("没有模板凭证，无法读取授权信息（见检查3）",
                                         "no suite token to read the authorization with (see check "
                                         "3)"),
                                   step=6, corp_id=corp_id, label=label))
            continue
        try:
            permanent_code = store.get_permanent_code(corp_id)
        except CorpNotFoundError:
            results.append(_result("authorization", title, SKIP,
                                   _both("使用直接配置的 WECOM_SECRET，没有保存的 permanent_code",
                                         "WECOM_SECRET is configured directly; no stored "
                                         "permanent_code"),
                                   step=6, corp_id=corp_id, label=label))
            continue
        ctx.remember_secret(permanent_code)
        try:
            data = _call(ctx.client.get_auth_info, ctx.suite_token, corp_id, permanent_code)
        except (WeComError, TransportError) as exc:
            finding, errcode, errmsg = _api_error_text(exc)
            if errcode == 40084:
                fix = _both("保存的 permanent_code 已失效：若检查4也是 40001，多半是服务商点了「重新获取secret」而本站"
                            "没收到 reset_permanent_code 推送——再点一次（10分钟内本站会自动换取）；否则企业已取消授权"
                            "而本站没收到 cancel_auth（见检查2与检查7），请企业管理员重新扫码授权",
                            "the stored permanent_code no longer works: if check 4 also says 40001, the secret "
                            "was most likely reset (重新获取secret) without the reset_permanent_code push reaching "
                            "us — click it again and we exchange the new one within 10 minutes; otherwise the "
                            "corp cancelled the authorization and the cancel_auth push did not reach us (see "
                            "checks 2 and 7): have the corp admin authorize again")
            else:
                fix = _corp_token_fix(ctx, corp_id, errcode, errmsg, False)
            results.append(_result("authorization", title, FAIL, f"get_auth_info: {finding}", fix,
                                   step=6, corp_id=corp_id, label=label))
            continue
        results.append(_authorization_row(ctx, corp_id, label, data))
    return results


# -- 7. callback source IPs ---------------------------------------------------------------------


def check_callback_ips(ctx: DoctorContext) -> List[CheckResult]:
    """Check 7: WeCom's callback source IPs, for firewall rules.

    ``getcallbackip``: doc 98988 for 代开发, 90238 for self-built apps.
    """
    title = "回调来源IP / Callback source IPs"
    if not ctx.corp_tokens:
        return [_result("callback_ip", title, SKIP,
                        _both("需要一个企业凭证（见检查4）", "needs a corp token (see check 4)"), step=7)]
    corp_id, token = next(iter(ctx.corp_tokens.items()))
    try:
        data = _call(ctx.client.get_callback_ip, token)
    except (WeComError, TransportError) as exc:
        finding, errcode, errmsg = _api_error_text(exc)
        return [_result("callback_ip", title, WARN, f"getcallbackip: {finding}",
                        _corp_token_fix(ctx, corp_id, errcode, errmsg, False), step=7)]
    ips = [str(ip) for ip in data.get("ip_list") or []]
    if not ips:
        return [_result("callback_ip", title, WARN, _both("企业微信没有返回 IP", "WeCom returned no IPs"),
                        step=7)]
    return [_result("callback_ip", title, OK,
                    _both(f"企业微信从 {len(ips)} 个 IP（段）发起回调",
                          f"WeCom calls back from {len(ips)} IP(s) / range(s)"),
                    _both("若回调地址前有防火墙，放行这些 IP",
                          "if a firewall guards the callback URL, allow these"),
                    step=7, details=ips)]


# -- 8. what the app may read about a member -----------------------------------------------------

_PERMISSIONS_TITLE = "成员字段权限 / Member field permissions"


def check_permissions(ctx: DoctorContext) -> List[CheckResult]:
    """Check 8: ``agent/get_permissions`` per corp (doc 99052) — may the app read members' name and email?

    A 代开发 app's basic permission reads only a member's userid and departments (doc 98980); without
    ``contact:sensitive:user_name`` / ``contact:sensitive:email`` logins still work but show the
    userid and no email. The API serves 代开发 and third-party apps only, so self-built apps skip.
    """
    if ctx.app_type == INTERNAL:
        return [_result("permissions", _PERMISSIONS_TITLE, SKIP,
                        _both("自建应用不适用（agent/get_permissions 仅供代开发与第三方应用，"
                              "developer.work.weixin.qq.com/document/path/99052）；敏感字段由管理员在应用详情中选择",
                              "not for self-built apps (agent/get_permissions serves 代开发 and third-party apps, "
                              "developer.work.weixin.qq.com/document/path/99052); the admin picks the sensitive "
                              "fields on the app's page"), step=8)]
    corp_ids = list(ctx.provider.corp_ids())
    if not corp_ids:
        return [_result("permissions", _PERMISSIONS_TITLE, SKIP,
                        _both("没有可检查的企业（见检查4）", "no corp to check (see check 4)"), step=8)]
    wanted = (permissions.USER_NAME, permissions.EMAIL)
    results: List[CheckResult] = []
    for corp_id in corp_ids:
        label = _corp_label(ctx, corp_id)
        token = ctx.corp_tokens.get(corp_id)
        if not token:
            results.append(_result("permissions", _PERMISSIONS_TITLE, SKIP,
                                   _both("需要企业凭证（见检查4）", "needs the corp token (see check 4)"),
                                   step=8, corp_id=corp_id, label=label))
            continue
        try:
            data = _call(ctx.client.get_agent_permissions, token)
        except (WeComError, TransportError) as exc:
            finding, errcode, errmsg = _api_error_text(exc)
            results.append(_result("permissions", _PERMISSIONS_TITLE, WARN, f"agent/get_permissions: {finding}",
                                   _corp_token_fix(ctx, corp_id, errcode, errmsg, False),
                                   step=8, corp_id=corp_id, label=label))
            continue
        granted = [str(p) for p in data.get("app_permissions") or [] if p]
        details = [f"app_permissions: {', '.join(granted) or '-'}"]
        missing = [p for p in wanted if p not in granted]
        if ctx.app_type == THIRD_PARTY:
            # third-party apps never read a real name or email through these APIs (docs 91122, 96443)
            results.append(_result("permissions", _PERMISSIONS_TITLE, OK,
                                   _both(f"已授予 {len(granted)} 项权限", f"{len(granted)} permissions granted"),
                                   step=8, corp_id=corp_id, details=details, label=label))
            continue
        if missing:
            words = permissions.explain(f for f, p in permissions.FIELD_PERMISSIONS.items() if p in missing)
            results.append(_result(
                "permissions", _PERMISSIONS_TITLE, WARN,
                _both(f"应用缺少 {'、'.join(missing)} 权限：成员仍可登录，但企业微信不提供其{words.labels_zh}"
                      f"（wecom_user.withheld 会列出；姓名显示为账号 UserID）。{permissions.WHY_ZH}",
                      f"the app lacks {', '.join(missing)}: members still log in, but WeCom withholds their "
                      f"{words.labels_en} (listed in wecom_user.withheld; the name shows as the UserID). "
                      f"{permissions.WHY_EN}"),
                _both(f"申请 {permissions.USER_NAME} 与 {permissions.EMAIL}：{permissions.FIX_ZH}",
                      f"request {permissions.USER_NAME} and {permissions.EMAIL}: {permissions.FIX_EN}"),
                step=8, corp_id=corp_id, details=details, label=label))
            continue
        results.append(_result("permissions", _PERMISSIONS_TITLE, OK,
                               _both(f"可读取成员姓名与邮箱；已授予 {len(granted)} 项权限",
                                     f"members' name and email are readable; {len(granted)} permissions granted"),
                               step=8, corp_id=corp_id, details=details, label=label))
    return results


# -- 9. the store, its schema and the local spool ------------------------------------------------

_STORE_TITLE = "数据库与本地队列 / Store, schema and spool"


def check_store(ctx: DoctorContext) -> List[CheckResult]:
    """Check 9: the store's database answers, its schema is current (else ``flask wecom db upgrade``), no spooled
    callback event or exchange answer was set aside in ``failed/``, no AuthCode claim lapsed unfinished."""
    from ..health import auth_codes_line, schema_line, spool_line, store_health
    from ..schema import APP_VERSION_TABLE, HEAD, UPGRADE_COMMAND

    store = getattr(ctx.provider, "store", None)
    if store is None:
        return [_result("store", _STORE_TITLE, SKIP, _both("没有数据库", "no store"), step=9)]
    health = store_health(store, getattr(ctx.provider, "spool", None))
    details = [f"schema: {schema_line(health)}", f"spool: {spool_line(health)}",
               f"AuthCodes: {auth_codes_line(health)}"]
    if health.schema is None:
        return [_result(
            "store", _STORE_TITLE, FAIL,
            _both("无法连接数据库", "the store's database cannot be reached") + f": {health.schema_error}",
            _both("检查 WECOM_DATABASE_URI 指向的数据库是否在运行、可以访问；此期间登录答 503，"
                  "模板回调事件存入本地队列，数据库恢复后自动补处理",
                  "check that the database WECOM_DATABASE_URI points at is running and reachable; meanwhile logins "
                  "answer 503 and template callback events wait in the local spool, applied once it is back"),
            step=9, details=details)]
    if health.schema.newer:
        return [_result(
            "store", _STORE_TITLE, FAIL,
            _both(f"数据表版本 {health.schema.current} 比本程序（{HEAD}）新，本程序拒绝使用",
                  f"the schema is at {health.schema.current}, newer than this flask-wecom ({HEAD}): the store "
                  "refuses to run"),
            _both("所有主机运行同一版本的 flask-wecom", "run the same flask-wecom version on every host"),
            step=9, details=details)]
    problems: List[Tuple[str, str]] = []
    fixes: List[Tuple[str, str]] = []
    if health.schema_behind:
        app_managed = health.schema.version_table == APP_VERSION_TABLE
        command = "flask db upgrade` / `alembic upgrade heads" if app_managed else UPGRADE_COMMAND
        problems.append((f"数据表版本 {health.schema.describe()} 落后于 {HEAD}",
                         f"the schema is at {health.schema.describe()}, behind {HEAD}"))
        fixes.append((f"运行 `{command}`（部署时、启动 worker 之前）",
                      f"run `{command}` (as a deploy step, before the workers start)"))
    if health.spool_failed:
        failed = len(health.spool_failed)
        folder = os.path.join(health.spool_directory or "", "failed")
        problems.append((f"本地队列有 {failed} 项无法处理，已移到 {folder}",
                         f"{failed} spooled item(s) could not be applied and were set aside in {folder}"))
        fixes.append((
            "每个文件是一个回调事件或一次换取永久授权码的结果；"
            "服务器日志「spooled entry <名称> cannot be applied」写明原因。"
            "若更换过 SECRET_KEY / WECOM_STORE_KEY，先用旧密钥启动，把文件移回上一级目录"
            "（下次巡检会且只会处理一次），再换新密钥；处理完毕后删除该文件",
            "each file is a callback event or the answer of an AuthCode exchange; the server log line 'spooled "
            "entry <name> cannot be applied' says why. If SECRET_KEY / WECOM_STORE_KEY changed, start with the old "
            "key and move the file back into the folder above (the next sweep applies it, once), then switch keys; "
            "delete the file once it is handled"))
    lapsed = (health.auth_codes or {}).get("lapsed", 0)
    if lapsed:
        problems.append((f"{lapsed} 个临时授权码领取后超过 10 分钟仍未换到永久授权码，已失效",
                         f"{lapsed} AuthCode(s) were claimed over 10 minutes ago and never exchanged: WeCom no "
                         "longer accepts them"))
        fixes.append(("用 `flask wecom corps` 查看该企业是否已授权；未授权请企业管理员重新扫码授权",
                      "check `flask wecom corps`; a corp missing there must have its admin authorize again"))
    if problems:
        return [_result("store", _STORE_TITLE, WARN,
                        _both("；".join(p[0] for p in problems), "; ".join(p[1] for p in problems)),
                        _both("；".join(f[0] for f in fixes), "; ".join(f[1] for f in fixes)),
                        step=9, details=details)]
    return [_result("store", _STORE_TITLE, OK,
                    _both(f"数据库可用，数据表版本 {health.schema.describe()} 为最新，本地队列无失败项",
                          f"the database answers, the schema is at {health.schema.describe()} (current), no "
                          "spooled item failed"),
                    step=9, details=details)]


# -- running them -------------------------------------------------------------------------------

#: the checks in the order they run (each may use what the earlier ones found)
CHECKS: Tuple[Callable[[DoctorContext], List[CheckResult]], ...] = (
    check_config,
    check_callback,
    check_suite,
    check_corp_tokens,
    check_agents,
    check_authorization,
    check_callback_ips,
    check_permissions,
    check_store,
)


def _scrub(results: Iterable[CheckResult], secrets: Iterable[str]) -> List[CheckResult]:
    # Short values (a 6-letter Token…) would mangle ordinary words; none of ours is printed anyway.
    values = [s for s in secrets if s and len(s) >= 8]
    out = []
    for r in results:
        out.append(CheckResult(r.id, redact_text(r.title, values), r.status, redact_text(r.finding, values),
                               redact_text(r.fix, values), r.step, r.corp_id,
                               [redact_text(d, values) for d in r.details]))
    return out


def run_checks(config: Optional[Mapping[str, Any]] = None, app_type: Optional[str] = None,
               provider: Any = None, client: Any = None, *, context: Optional[DoctorContext] = None,
               **options: Any) -> List[CheckResult]:
    """Run checks 1–9 in order and return every :class:`CheckResult`.

    Either pass a ready :class:`DoctorContext` as ``context=``, or ``config`` (the ``WECOM_*``
    mapping), ``app_type``, ``provider`` and ``client`` plus any other :class:`DoctorContext`
    field as a keyword (``secret_key``, ``public_url``, ``probe``, ``console``, ``clock``…).
    A check that crashes becomes a ``fail`` row instead of an exception.
    """
    ctx = context
    if ctx is None:
        ctx = DoctorContext(config or {}, app_type or INTERNAL, provider, client, **options)
    results: List[CheckResult] = []
    for check in CHECKS:
        try:
            results.extend(check(ctx))
        except Exception as exc:  # noqa: BLE001 - a doctor reports, it does not crash
            log.exception("doctor: %s crashed", check.__name__)
            results.append(_result(check.__name__.replace("check_", ""), check.__name__, FAIL,
                                   _both("检查本身出错", "the check itself failed")
                                   + f": {type(exc).__name__}",
                                   _both("查看服务器日志（flask_wecom.doctor）",
                                         "see the server log (flask_wecom.doctor)"),
                                   step=CHECKS.index(check) + 1))
    return _scrub(results, ctx.handled_secrets)


def summarize(results: Iterable[CheckResult]) -> Dict[str, Any]:
    """Counts per status and ``passed`` (no ``fail``)."""
    counts = {status: 0 for status in STATUSES}
    for r in results:
        counts[r.status] += 1
    return {**counts, "passed": counts[FAIL] == 0}
