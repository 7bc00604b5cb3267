"""The doctor's building blocks: :class:`CheckResult`, :class:`DoctorContext`, the statuses, and the
helpers every group of checks uses (a row, an API failure's words, the fix for a corp token's errcode)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

from .. import console, domains, errcodes
from ..config import CUSTOMIZED, THIRD_PARTY, AppType
from ..errors import TransportError, WeComAPIError

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
    app_type: AppType
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


def _whitelist_fix(app_type: AppType, errmsg: str) -> str:
    """60020: add the IP WeCom names in ``errmsg`` to this app type's whitelist (doc 90313)."""
    return _both(*console.whitelist_fix(app_type, errcodes.parse_from_ip(errmsg)))


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


def _call(func: Callable[..., Dict[str, Any]], *args: Any) -> Dict[str, Any]:
    data = func(*args)
    return data if isinstance(data, dict) else {}


def _corp_label(ctx: DoctorContext, corp_id: str) -> str:
    record = ctx.provider.store.get_corp(corp_id) if ctx.is_provider_app else None
    name = record.corp_name if record is not None and record.corp_name else ""
    return f"{corp_id} ({name})" if name else corp_id


def _secret_fix(ctx: DoctorContext, from_config: bool) -> Tuple[str, str]:
    """(zh, en): what to do about a wrong or reset secret (the first cause of 40001, document 90313)."""
    return console.secret_fix(ctx.app_type, from_config)


def _disabled_or_secret_fix(ctx: DoctorContext, from_config: bool, closed: Optional[bool]) -> str:
    """The fix for gettoken's 40001, whose help (document 90313) names two causes: a wrong or reset secret,
    and 应用已经停用 (a disabled app). ``closed`` is what agent/get said with a token cached before the
    failure (see :func:`_cached_agent_close`): True disabled, False enabled, None unknown."""
    secret_zh, secret_en = _secret_fix(ctx, from_config)
    if closed is True:
        return _both("应用已被停用：" + console.REENABLE[0], "the app is disabled: " + console.REENABLE[1])
    if closed is False:
        return _both("应用是启用状态，所以是 secret 的问题：" + secret_zh,
                     "the app is enabled, so the secret is the problem: " + secret_en)
    apart_zh, apart_en = console.tell_40001_apart((secret_zh, secret_en))
    causes_zh, causes_en = console.TWO_CAUSES_40001
    again_zh, again_en = console.NO_RETRY_40001
    return _both(
        f"{causes_zh}（之前取得的 access_token 仍有效时，agent/get 的 close=1 也表示已停用）。{apart_zh}。{again_zh}",
        f"{causes_en} (while an earlier access_token still works, agent/get's close=1 says disabled too). "
        f"{apart_en[0].upper()}{apart_en[1:]}. {again_en[0].upper()}{again_en[1:]}")


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
        return _both("应用已被停用：" + console.REENABLE[0], "the app is disabled: " + console.REENABLE[1])
    if errcode == 48004:
        return _both("授权关系无效：可能未授权或授权已被取消；请企业管理员重新扫码授权",
                     "the authorization is invalid: never authorized or cancelled; have the corp admin "
                     "authorize again")
    return _generic_fix(errcode, errmsg)
