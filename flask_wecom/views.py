"""Login views of the ``wecom`` blueprint: ``/login``, ``/authorized``, ``/logout``.

* ``GET /wecom/login?next=/page[&via=oauth|qr][&corp_id=…]`` — remember a fresh state in the
  session (expiry ``WECOM_STATE_MAX_AGE``, single use) and 302 to WeCom: the in-client OAuth2
  link inside the WeCom client, the web / QR login page elsewhere (developer.work.weixin.qq.com/
  document/path/91022 and 98152).
* ``GET /wecom/authorized?code=…&state=…`` — check the state, exchange the code
  (:func:`flask_wecom.oauth.exchange_code`), renew the session, log the member in, go to ``next``.
* ``POST /wecom/logout`` logs out; ``GET /wecom/logout`` shows the form that posts it.

Every failure ends on ``wecom/login_error.html`` (or JSON for requests that want it) naming the
errcode, its meaning and the fix in Chinese and English — never a stack trace.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import weakref
from typing import Any, Dict, Optional, Set
from urllib.parse import urlsplit

from flask import current_app, jsonify, redirect, render_template, request, session, url_for

from . import domains, errcodes, signals
from .login import (
    STATES_KEY,
    login_user,
    logout_token,
    logout_user,
    safe_next,
    wants_json,
    wecom_user,
)
from .marks import marks_for
from .oauth import (
    OAUTH,
    QR,
    LoginFailure,
    choose_via,
    exchange_code,
    failure_from_error,
    generate_state,
    is_valid_state,
    login_url,
)
from .redact import redact_query
from .state import current_app_object, get_state

log = logging.getLogger("flask_wecom.login")

__all__ = ["register_login_views", "redirect_uri", "describe_failure", "failure_response", "render_failure"]

#: logins in progress kept per session (several tabs may start one)
MAX_PENDING_STATES = 5
_USED_STATE_PREFIX = "login-state-used|"


def _now() -> float:
    """The app's clock (``WeCom(app, clock=...)``; time.time unless a test gives another)."""
    return current_app.extensions["wecom"].clock()


def register_login_views(bp, wecom) -> None:
    """Called by :func:`flask_wecom.blueprint.create_blueprint`."""
    bp.add_url_rule("/login", "login", login_view, methods=["GET"])
    bp.add_url_rule("/authorized", "authorized", authorized_view, methods=["GET"])
    bp.add_url_rule("/logout", "logout", logout_view, methods=["GET", "POST"])


def _public_url(endpoint: str) -> str:
    public = current_app.config.get("WECOM_PUBLIC_URL")
    if public:
        return str(public).rstrip("/") + url_for(endpoint)
    return url_for(endpoint, _external=True)


def redirect_uri() -> str:
    """The ``redirect_uri`` sent to WeCom; its host (port included) must be the app's trusted domain
    (developer.work.weixin.qq.com/document/path/91022, errcode 50001 of document 90313)."""
    return _public_url("wecom.authorized")


_warned_lock = threading.Lock()
#: per app (its WeComState): the redirect hosts the login view has already warned about
_warned_hosts: weakref.WeakKeyDictionary[Any, Set[str]] = weakref.WeakKeyDictionary()


def _trusted_domain_fix(uri: str) -> tuple:
    """(zh, en) fix of the 50001 page: the host to enter — never an IP or a port, which WeCom refuses (80001)."""
    checked = domains.redirect_host(uri)
    if checked is not None and checked.problem is None:
        host = checked.host
        return (f"把可信域名设为 {host}（自建应用：应用详情；代开发：服务商后台的应用开发信息），"
                "或设置 WECOM_PUBLIC_URL 让回调地址使用已登记的域名。",
                f"Set the trusted domain to {host} (self-built: the app's page; 代开发: the app's development "
                "settings in the provider console), or set WECOM_PUBLIC_URL so the redirect URI uses the "
                "registered domain.")
    advice_zh, advice_en = domains.serve_advice(checked.advisable if checked is not None else None)
    return (f"企业微信不接受 IP 地址或端口作为可信域名：{advice_zh}。",
            f"WeCom accepts neither an IP address nor a port as a trusted domain: {advice_en[0].upper()}"
            f"{advice_en[1:]}.")


def _warn_once_about_redirect_host(state, uri: str) -> None:
    """Log once per app and host when WeCom would refuse ``uri``'s host as a 可信域名 (IP, port, local name).

    The login still redirects (WeCom decides; local and test setups keep working): the doctor, the
    setup page and this one line are where the rule (docs 96441, 90313 80001) is enforced.
    """
    checked = domains.redirect_host(uri)
    if checked is None or checked.problem is None:
        return
    with _warned_lock:
        warned = _warned_hosts.setdefault(state, set())
        if checked.host in warned:
            return
        warned.add(checked.host)
    log.warning("%s", domains.login_warning(uri, checked))


# -- /login ----------------------------------------------------------------------------------


def login_view():
    state = get_state()
    config = state.config
    provider = state.provider
    next_url = safe_next(request.args.get("next")) or config["WECOM_LOGIN_VIEW_NEXT"]
    via = choose_via(config["WECOM_LOGIN_VIA"], request.user_agent.string, request.args.get("via"))
    third_party = provider.app_type == "third_party"
    try:
        corp_id: Optional[str] = None
        agent_id: Optional[str] = None
        if not third_party:  # a known corp (named, or WECOM_CORP_ID) costs one row of the store at most
            corp_id, agent_id = provider.login_corp(request.args.get("corp_id") or None)
        provider.raise_if_blocked(corp_id, agent_id=agent_id)  # a remembered failure: its page now, not after WeCom
        value = generate_state()
        target = login_url(
            via=via,
            app_type=provider.app_type,
            appid=provider.suite_id if third_party else corp_id,
            agentid=agent_id,
            redirect_uri=redirect_uri(),
            state=value,
            scope=config["WECOM_SCOPE"],
            authorize_base=config["WECOM_OAUTH_AUTHORIZE_URL"],
            sso_base=config["WECOM_SSO_LOGIN_URL"],
            login_suite_id=provider.login_suite_id if provider.has_login_suite else None,
        )
    except Exception as exc:  # noqa: BLE001 - every failure gets the explained page
        failure = failure_from_error(exc, "login")
        if failure.reason == "internal":
            log.exception("login: unexpected error while starting the login")
        else:
            log.warning("login: cannot start: %s", failure)
        return failure_response(failure, next_url=next_url, via=via)
    _remember_state(value, next_url=next_url, corp_id=corp_id, via=via,
                    max_age=int(config["WECOM_STATE_MAX_AGE"]))
    _warn_once_about_redirect_host(state, redirect_uri())
    return redirect(target)


def _remember_state(value: str, *, next_url: str, corp_id: Optional[str], via: str, max_age: int) -> None:
    now = _now()
    pending = {key: entry for key, entry in dict(session.get(STATES_KEY) or {}).items()
               if isinstance(entry, dict) and entry.get("exp", 0) > now}
    pending[value] = {"exp": now + max_age, "next": next_url, "corp": corp_id, "via": via}
    if len(pending) > MAX_PENDING_STATES:
        newest = sorted(pending.items(), key=lambda item: item[1]["exp"])[-MAX_PENDING_STATES:]
        pending = dict(newest)
    session[STATES_KEY] = pending


# -- /authorized -----------------------------------------------------------------------------


def _state_key(value: str) -> str:
    return _USED_STATE_PREFIX + hashlib.sha256(value.encode("utf-8")).hexdigest()


def _seen(value: str) -> bool:
    try:
        return marks_for(get_state().shared_cache).seen(_state_key(value))
    except Exception:  # noqa: BLE001 - a cache outage must not block logins; the session check remains
        log.warning("login: token cache unavailable; cannot check whether a state was used before")
        return False


def _mark_used(value: str) -> bool:
    """Record ``value`` as used (in the token cache, shared by the workers); False if it already was.

    One atomic operation on every backend (flask_wecom.marks): two requests with one state, one wins."""
    state = get_state()
    timeout = max(int(state.config["WECOM_STATE_MAX_AGE"]), 60) * 2
    try:
        return marks_for(state.shared_cache).mark(_state_key(value), timeout)
    except Exception:  # noqa: BLE001
        log.warning("login: token cache unavailable; state replay is checked by the session only")
        return True


def _take_state(value: str) -> Dict[str, Any]:
    """Consume the pending login ``value`` (single use) or raise the matching LoginFailure."""
    pending = dict(session.get(STATES_KEY) or {})
    entry = pending.pop(value, None) if value else None
    if entry is not None:
        session[STATES_KEY] = pending
    if not value:
        raise LoginFailure("state_missing", "the WeCom answer has no state")
    if not is_valid_state(value):
        raise LoginFailure("state_mismatch", "the state is not one WeCom accepts")
    if not isinstance(entry, dict):
        if _seen(value):
            raise LoginFailure("state_replayed", "this login answer was already used")
        raise LoginFailure("state_mismatch", "no login with this state was started in this session")
    # Mark it used on the server too: an old copy of the cookie must not make it work twice.
    if not _mark_used(value):
        raise LoginFailure("state_replayed", "this login answer was already used")
    if float(entry.get("exp", 0)) < _now():
        failure = LoginFailure("state_expired", "the login took longer than WECOM_STATE_MAX_AGE")
        failure.next_url = entry.get("next")  # "start again" goes back to the same page, the same way
        failure.via = entry.get("via")
        raise failure
    return entry


def authorized_view():
    state = get_state()
    default_next = state.config["WECOM_LOGIN_VIEW_NEXT"]
    entry: Dict[str, Any] = {}
    try:
        entry = _take_state(request.args.get("state", ""))
        code = request.args.get("code", "")
        if not code:
            raise LoginFailure("cancelled", "WeCom came back without a code (the user cancelled or refused)")
        user = exchange_code(state.provider, code, corp_id=entry.get("corp"), via=entry.get("via"))
        app_user = None
        loader = state.ext._user_loader
        if loader is not None:
            app_user = current_app.ensure_sync(loader)(user)
            if app_user is None:
                raise LoginFailure("refused", "the app's user_loader refused this member")
    except LoginFailure as failure:
        next_url = failure.next_url or entry.get("next") or default_next
        return failure_response(failure, next_url=next_url, via=failure.via or entry.get("via"))
    except Exception as exc:  # noqa: BLE001 - a bug must still end on the explained page
        log.exception("login: unexpected error in the authorized view")
        failure = failure_from_error(exc, "authorized")
        return failure_response(failure, next_url=entry.get("next") or default_next, via=entry.get("via"))
    next_url = safe_next(entry.get("next")) or default_next
    session.clear()  # renew the session: nothing planted before the login survives it (no fixation)
    login_user(user, app_user)
    regenerate = getattr(current_app.session_interface, "regenerate", None)
    if callable(regenerate):  # server-side sessions (Flask-Session >= 0.7): a new session id as well
        regenerate(session)
    log.info("login: %s of corp %s logged in", user.userid, user.corp_id)
    return redirect(next_url)


# -- /logout ---------------------------------------------------------------------------------


def _same_origin() -> bool:
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return False
    return urlsplit(origin).netloc == request.host


def logout_view():
    next_url = safe_next(request.values.get("next")) or current_app.config["WECOM_LOGIN_VIEW_NEXT"]
    if request.method == "GET":
        return render_template("wecom/logout.html", next_url=next_url)
    if not wecom_user.is_authenticated:
        session.pop(STATES_KEY, None)
        if wants_json():
            return jsonify(ok=True, logged_in=False)
        return redirect(next_url)
    token = request.form.get("token", "")
    expected = logout_token()
    if not (token and hmac.compare_digest(token, expected)) and not _same_origin():
        # A cross-site form post: show the confirmation form instead of logging out.
        return render_template("wecom/logout.html", next_url=next_url), 400
    logout_user()
    session.clear()
    if wants_json():
        return jsonify(ok=True, logged_in=False)
    return redirect(next_url)


# -- failure pages ----------------------------------------------------------------------------

#: reasons whose page offers "start again": everything but a refusal by the app itself (the others
#: either pass on a second try or once an admin has fixed what the page names)
_RETRY = {"state_missing", "state_mismatch", "state_expired", "state_replayed", "cancelled", "code_invalid",
          "not_member", "not_visible", "ip_not_whitelisted", "app_unavailable", "no_licence", "trusted_domain",
          "no_corp", "no_suite_ticket", "secret_rejected", "agent_mismatch", "config", "unreachable",
          "store_unavailable", "internal", "api_error"}
#: reasons whose own text already explains the errcode: the page does not repeat the errcode's fix
_OWN_FIX = {"ip_not_whitelisted", "secret_rejected"}

#: reason -> (HTTP status, title zh, title en, what happened zh, en, fix zh, en)
_TEXT: Dict[str, tuple] = {
    "state_missing": (
        400, "登录请求缺少 state 参数", "The login answer has no state",
        "返回本站的链接不完整，或者直接打开了回调地址。",
        "The link back to this site is incomplete, or the callback address was opened directly.",
        "请重新登录。", "Start the login again.",
    ),
    "state_mismatch": (
        400, "登录状态不匹配", "The login state does not match",
        "这个登录结果不是从本浏览器发起的：可能被伪造、来自其他浏览器，或会话已被清除。为保护您的账号，本次登录已被拒绝。",
        "This login answer was not started from this browser: it may be forged, come from another browser, "
        "or the session was reset. It was refused to protect your account.",
        "请在本浏览器中重新登录，并确认浏览器允许本站的 Cookie。",
        "Start the login again in this browser and make sure it accepts this site's cookies.",
    ),
    "state_expired": (
        400, "登录已超时", "The login took too long",
        "从发起登录到返回本站超过了 {max_age} 秒。",
        "More than {max_age} seconds passed between starting the login and coming back.",
        "请重新登录。", "Start the login again.",
    ),
    "state_replayed": (
        400, "这个登录结果已经使用过", "This login answer was already used",
        "每个登录结果只能使用一次（例如刷新了页面或点了“后退”）。",
        "Each login answer works once (the page was reloaded, or you went back).",
        "请重新登录。", "Start the login again.",
    ),
    "cancelled": (
        400, "登录未完成", "The login was not completed",
        "企业微信没有返回授权码：登录被取消或授权被拒绝。",
        "WeCom came back without a code: the login was cancelled or the authorization refused.",
        "如需登录，请重新开始并在企业微信中确认。", "To log in, start again and confirm in WeCom.",
    ),
    "code_invalid": (
        400, "登录授权码无效或已过期", "The login code is invalid or expired",
        "企业微信的 code 只能使用一次，且 5 分钟内有效。",
        "A WeCom login code works once, and only for 5 minutes.",
        "点击“重新开始”再登录一次。若反复出现，检查是否有多台服务器或重复请求在消费同一个 code。",
        "Click “start again”. If it keeps happening, check that no second server or repeated request "
        "consumes the same code.",
    ),
    "not_member": (
        403, "您不是该企业的成员", "You are not a member of this organisation",
        "企业微信识别了您的身份，但您不属于该企业（只返回了 openid）。",
        "WeCom recognised you, but you are not a member of this corp (only an openid came back).",
        "请用该企业的企业微信账号登录，或请企业管理员把您加入通讯录。",
        "Log in with an account of this corp, or ask its admin to add you to the contacts.",
    ),
    "not_visible": (
        403, "您不在此应用的可见范围内", "You are outside this app's visible range",
        "企业管理员没有把您（或您的部门）加入此应用的可见范围。",
        "The corp admin has not added you (or your department) to this app's visible range.",
        "请企业管理员在「管理后台 → 应用管理 → 本应用 → 可见范围」中添加您或您的部门。",
        "Ask the corp admin to add you or your department under Admin console → Apps → this app → "
        "Visible range (可见范围).",
    ),
    "ip_not_whitelisted": (
        502, "本站服务器的 IP 不在企业微信白名单中", "This server's IP is not on WeCom's whitelist",
        "企业微信拒绝了本站服务器的请求（60020）。请求来自 IP {ip_zh}。",
        "WeCom refused this server's request (60020). The request came from IP {ip_en}.",
        "{whitelist_zh}", "{whitelist_en}",
    ),
    "app_unavailable": (
        503, "应用已停用或不可用", "The app is disabled or unavailable",
        "企业微信表示此应用已被停用、已过期、已下线，或企业的授权已取消。",
        "WeCom says the app is disabled, expired or offline, or the corp's authorization was cancelled.",
        "请企业管理员在「管理后台 → 应用管理」中重新启用应用；"
        "代开发应用请服务商确认应用已上线、授权有效、试用或许可未过期。",
        "Ask the corp admin to re-enable the app (Admin console → Apps); for a 代开发 app the provider "
        "should check it is online (上线), still authorized, and its trial or licence has not run out.",
    ),
    "no_licence": (
        403, "您的账号没有此应用的使用许可", "Your account has no licence for this app",
        "企业微信表示您的账号未激活或者已经过期（701016）：应用的免费试用期（安装后90天）已结束，"
        "只有已激活接口许可的成员才能登录（developer.work.weixin.qq.com/document/path/97194）。",
        "WeCom says your account is not activated or has expired (701016): the app's free trial (90 days "
        "from the install) is over, and only members with an active licence can log in "
        "(developer.work.weixin.qq.com/document/path/97194).",
        "请企业管理员联系应用服务商，为您的账号购买并激活接口许可（基础账号）；激活后重新登录即可。",
        "Ask the corp admin to have the app's provider buy and activate a licence (basic account) for your "
        "account; then log in again.",
    ),
    "trusted_domain": (
        502, "回调地址不在应用的可信域名下", "The redirect URI is not on the app's trusted domain",
        "企业微信要求登录回调地址 {redirect_uri} 的域名（含端口）与应用的可信域名完全一致。",
        "WeCom requires the host of the redirect URI {redirect_uri} (port included) to equal the app's "
        "trusted domain exactly.",
        "{domain_fix_zh}", "{domain_fix_en}",
    ),
    "no_corp": (
        503, "还没有企业授权此应用", "No organisation has authorized this app yet",
        "本站还不知道要用哪个企业登录。", "This site does not know which corp to log in with yet.",
        "请企业管理员扫码授权代开发应用（授权后自动生效），或设置 WECOM_CORP_ID 与 WECOM_SECRET。",
        "Have the customer's admin scan the 代开发 template QR code (it takes effect automatically), or set "
        "WECOM_CORP_ID and WECOM_SECRET.",
    ),
    "corp_required": (
        400, "请从您所在企业的入口登录", "Please use your own organisation's login",
        "本应用服务多个企业，而这个登录链接没有指明您所在的企业。",
        "This app serves several organisations, and this login link does not say which one is yours.",
        "请在企业微信「工作台」中打开本应用（它的主页会带您到自己企业的登录），或使用管理员提供的、"
        "带有您企业 ID 的登录链接：{login_url}?corp_id=<您的企业ID>。"
        "管理员：把每个客户企业的应用主页设为 {login_url}?corp_id=<该企业的 corpid>"
        "（代开发应用在服务商管理后台该企业应用的开发信息中设置），只服务一个企业时也可设置 WECOM_CORP_ID。",
        "Open this app from the WeCom workbench (工作台): its home page takes you to your own organisation's "
        "login. Or use the login link your admin gives you, which carries your organisation's id: "
        "{login_url}?corp_id=<your corp id>. Admins: set each customer's app home page (应用主页) to "
        "{login_url}?corp_id=<that corp's corpid> (for a 代开发 app: in the provider console, that customer's "
        "app development settings); a site that serves one organisation can set WECOM_CORP_ID instead.",
    ),
    "corp_unknown": (
        404, "该企业没有授权本应用", "This organisation has not authorized this app",
        "登录链接所指的企业没有授权本应用，或者已经取消了授权。",
        "The organisation named in the login link has not authorized this app, or has cancelled the "
        "authorization.",
        "请在企业微信「工作台」中打开本应用，或向管理员索取正确的登录链接。管理员：`flask wecom corps` "
        "列出已授权的企业；企业取消过授权的，请其管理员重新扫码授权。",
        "Open this app from the WeCom workbench (工作台), or ask your admin for the right login link. Admins: "
        "`flask wecom corps` lists the authorized organisations; one that cancelled must have its admin "
        "authorize the app again.",
    ),
    "secret_rejected": (
        502, "企业微信不接受本站的应用凭证", "WeCom refused this site's app credential",
        "企业微信对获取 access_token（gettoken）返回 40001。官方文档给出两种原因：应用的 secret 错误或已被"
        "重置，或者应用已经停用。",
        "WeCom answered 40001 when this site asked for an access token (gettoken). WeCom's documentation "
        "gives two causes: the app's secret is wrong or was reset, or the app is disabled.",
        "管理员先分辨是哪一种：在企业管理后台「应用管理」中打开本应用——显示已停用，点击启用即可；"
        "应用正常，则是 secret 的问题：{secret_fix_zh}`flask wecom doctor` 会逐项检查。",
        "Admins, tell the two apart first: open this app under 应用管理 (apps) in the corp's admin console. "
        "If it shows as disabled (已停用), enabling it is the fix. If it is enabled, the secret is the "
        "problem: {secret_fix_en} `flask wecom doctor` checks each step.",
    ),
    "agent_mismatch": (
        502, "应用 ID 与应用凭证不属于同一个应用", "The agent id and the app credential belong to different apps",
        "企业微信拒绝了请求（301002）：access_token 是为另一个应用获取的，与登录使用的 agentid 不一致。"
        "这不是应用停用。",
        "WeCom refused a call (301002): the access token was fetched for another app than the agent id the "
        "login uses. The app is not disabled.",
        "管理员：按下方错误码的说明核对 agentid，然后运行 `flask wecom doctor`。",
        "Admins: check the agent id as the error code below explains, then run `flask wecom doctor`.",
    ),
    "no_suite_ticket": (
        503, "还没有收到 suite_ticket", "No suite_ticket has arrived yet",
        "企业微信尚未把 suite_ticket 推送到本站的指令回调地址，因此无法获取模板凭证。",
        "WeCom has not pushed a suite_ticket to this site's template callback URL yet, so no suite token can "
        "be had.",
        "确认回调地址可从公网访问、Token/EncodingAESKey 与后台一致，然后在服务商后台点击「刷新Ticket」。",
        "Check the callback URL is reachable from the internet and Token/EncodingAESKey match the console, "
        "then click 刷新Ticket (refresh ticket) in the provider console.",
    ),
    "login_suite_missing": (
        503, "网页登录尚未配置", "Web login is not set up yet",
        "第三方应用在企业微信客户端外登录（扫码 / 网页登录）需要服务商的「登录授权」应用，本站尚未配置。",
        "Logging in to a third-party app outside the WeCom client (QR / web login) needs the provider's "
        "登录授权 (login authorization) app, which this site has not configured.",
        "在企业微信客户端内打开本应用即可登录。管理员：在服务商管理后台「应用管理 → 登录授权」复制 SuiteID 与 "
        "Secret，设置 WECOM_LOGIN_SUITE_ID 与 WECOM_LOGIN_SUITE_SECRET（不是应用自己的 suite_id，见 "
        "developer.work.weixin.qq.com/document/path/98171）。",
        "Open the app inside the WeCom client to log in. Admins: copy the SuiteID and Secret under 应用管理 → "
        "登录授权 in the provider console into WECOM_LOGIN_SUITE_ID and WECOM_LOGIN_SUITE_SECRET (not the app's "
        "own suite id; see developer.work.weixin.qq.com/document/path/98171).",
    ),
    "config": (
        503, "应用配置有误", "The app is misconfigured",
        "本站与企业微信之间的凭证或设置不正确。",
        "The credentials or settings between this site and WeCom are wrong.",
        "管理员：运行 `flask wecom doctor`，它逐项检查配置并说明如何修正；也可对照下方错误码。",
        "Admins: run `flask wecom doctor`: it checks each setting and says how to fix it; see also the error "
        "code below.",
    ),
    "refused": (
        403, "本站不接受此账号", "This site does not accept this account",
        "企业微信登录成功，但本站没有与您对应的账号。",
        "The WeCom login worked, but this site has no account for you.",
        "请联系本站管理员。", "Please contact this site's administrator.",
    ),
    "store_unavailable": (
        503, "服务暂时不可用", "Temporarily unavailable",
        "本站暂时无法访问它的数据存储，这通常在几十秒内恢复。",
        "This site cannot reach its data store at the moment; this usually passes within a minute.",
        "请稍后（约半分钟后）重试。管理员：服务器日志记录了原因，请检查 WECOM_DATABASE_URI 指向的数据库是否在运行、"
        "能否连接。",
        "Please try again shortly (in about half a minute). Admins: the server log names the cause; check that "
        "the database WECOM_DATABASE_URI points at is running and reachable.",
    ),
    "unreachable": (
        503, "暂时无法连接企业微信", "WeCom could not be reached",
        "本站服务器连接企业微信接口失败。", "This server could not reach the WeCom API.",
        "请稍后重试；若持续出现，请管理员检查服务器的网络与代理设置。",
        "Try again later; if it persists, admins should check the server's network and proxy settings.",
    ),
    "api_error": (
        502, "企业微信返回了错误", "WeCom answered with an error",
        "登录过程中企业微信接口返回了错误。", "A WeCom API call failed during the login.",
        "参考下方错误码的说明处理后重试。", "See the error code below, fix what it names, and try again.",
    ),
    "internal": (
        503, "登录时发生内部错误", "An internal error interrupted the login",
        "本站处理登录时出错。", "This site failed while handling the login.",
        "请稍后重试；管理员可在服务器日志中查看详情。",
        "Try again later; admins find the details in the server log.",
    ),
}


def _whitelist_fix(app_type: str, ip: Optional[str]) -> tuple:
    who = ip or "本服务器的出口 IP"
    who_en = ip or "this server's egress IP"
    if app_type == "internal":
        return (f"在管理后台「应用管理 → 本应用 → 企业可信IP」中添加 {who}，约 1 分钟后生效。",
                f"Add {who_en} under Admin console → Apps → this app → 企业可信IP (trusted IPs); it takes "
                "about a minute to apply.")
    return (f"在服务商管理后台「服务商信息 → 基本信息 → IP白名单」中添加 {who}，约 1 分钟后生效。",
            f"Add {who_en} in the provider console under 服务商信息 → 基本信息 → IP白名单 (service provider "
            "info → basic info → IP whitelist); it takes about a minute to apply.")


def _secret_fix(app_type: str) -> tuple:
    """What to do about a wrong or reset secret, for the app type (40001, document 90313)."""
    if app_type == "internal":
        return ("在应用详情中查看 Secret，更新 WECOM_SECRET（secret 若被重置，旧的立即失效）。",
                "copy the Secret from the app's detail page into WECOM_SECRET (a reset secret replaces the old "
                "one at once).")
    return ("代开发应用的 secret 就是 permanent_code：服务商「重新获取secret」后，须用 reset_permanent_code "
            "推送的 AuthCode（10 分钟内有效）换取新的 permanent_code（运行 `flask wecom exchange`；"
            "permanent_code 直接配置在 WECOM_SECRET 中的，换成新值）；错过了就请服务商再获取一次，"
            "或请企业管理员重新授权。",
            "a 代开发 app's secret is its permanent_code: after the provider's 重新获取secret, the AuthCode "
            "of the reset_permanent_code push (valid 10 minutes) must be exchanged for the new permanent_code "
            "(run `flask wecom exchange`; a permanent_code set in WECOM_SECRET is replaced by the new one); if "
            "it was missed, the provider resets it again or the corp admin authorizes the app again.")


def describe_failure(failure: LoginFailure) -> Dict[str, Any]:
    """Everything the failure page (and the JSON answer) shows, with no secret and no traceback."""
    state = get_state()
    reason = failure.reason if failure.reason in _TEXT else "api_error"
    status, title_zh, title_en, what_zh, what_en, fix_zh, fix_en = _TEXT[reason]
    uri = redirect_uri()
    whitelist_zh, whitelist_en = _whitelist_fix(state.app_type, failure.ip)
    secret_zh, secret_en = _secret_fix(state.app_type)
    domain_fix_zh, domain_fix_en = _trusted_domain_fix(uri)
    values = {
        "login_url": _public_url("wecom.login"),
        "secret_fix_zh": secret_zh,
        "secret_fix_en": secret_en,
        "max_age": state.config["WECOM_STATE_MAX_AGE"],
        "ip_zh": failure.ip or "（企业微信未注明，即本服务器的出口 IP）",
        "ip_en": failure.ip or "(not named by WeCom: this server's egress IP)",
        "redirect_uri": uri,
        "host": urlsplit(uri).netloc,
        "domain_fix_zh": domain_fix_zh,
        "domain_fix_en": domain_fix_en,
        "whitelist_zh": whitelist_zh,
        "whitelist_en": whitelist_en,
    }
    info = failure.info
    details: Dict[str, Any] = {
        "reason": reason,
        "status": status,
        "title_zh": title_zh,
        "title_en": title_en,
        "what_zh": what_zh.format(**values),
        "what_en": what_en.format(**values),
        "fix_zh": fix_zh.format(**values),
        "fix_en": fix_en.format(**values),
        "errcode": failure.errcode,
        "errmsg": redact_query(failure.errmsg)[:300] if failure.errmsg else "",
        "meaning_zh": info.zh if info else None,
        "meaning_en": info.en if info else None,
        "errcode_fix_zh": info.fix_zh if info and reason not in _OWN_FIX else None,
        "errcode_fix_en": info.fix_en if info and reason not in _OWN_FIX else None,
        "lookup_url": errcodes.query_url(failure.errcode) if failure.errcode is not None else None,
        "ip": failure.ip,
        "redirect_uri": uri if reason == "trusted_domain" else None,
        "retry": reason in _RETRY,
    }
    return details


def failure_response(failure: LoginFailure, *, next_url: Optional[str] = None, via: Optional[str] = None):
    """Send ``login_failed`` and answer with the explained page (or JSON).

    "Start again" leads to ``/login`` with the same ``next`` and, when known, the same ``via``.
    """
    app = current_app_object()
    signals.send(signals.login_failed, app, error=failure)
    details = describe_failure(failure)
    via = via if via in (OAUTH, QR) else None
    retry_url = url_for("wecom.login", next=safe_next(next_url) or None, via=via) if details["retry"] else None
    return render_failure(details, retry_url)


#: reasons that pass by themselves: their 503 carries ``Retry-After`` (seconds)
RETRY_AFTER: Dict[str, int] = {"store_unavailable": 30, "unreachable": 30}


def render_failure(details: Dict[str, Any], retry_url: Optional[str], *, retry_label: Optional[str] = None):
    """The failure page (or JSON) for :func:`describe_failure`'s ``details``, with its status and, for a
    failure that passes by itself, a ``Retry-After`` header."""
    status = details["status"]
    retry_after = RETRY_AFTER.get(details["reason"])
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if wants_json():
        body = {key: value for key, value in details.items() if value is not None}
        body["error"] = details["reason"]
        if retry_url:
            body["retry_url"] = retry_url
        response = jsonify(body)
        response.status_code = status
        response.headers.update(headers)
        return response
    page = render_template("wecom/login_error.html", failure=details, retry_url=retry_url, retry_label=retry_label)
    return (page, status, headers) if headers else (page, status)
