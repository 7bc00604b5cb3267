"""Why a login failed: one record per reason, read by the pages, the JSON answer, the 503 page and the exceptions.

Framework-free. Each :class:`Reason` holds the HTTP status of its page, whether the page offers
"start again", the title, what happened and the fix in Chinese and English, and the WeCom errcodes
that mean it (:func:`reason_for_errcode`: the errcode → reason mapping lives here too, so a new code
gets its page by one edit). :class:`flask_wecom.oauth.LoginFailure` carries a reason's name;
``views.py`` fills the templates (``{max_age}``, ``{redirect_uri}``, ``{login_url}``, the fixes from
:mod:`flask_wecom.console` …) and renders ``wecom/login_error.html``.

Texts cite official pages (developer.work.weixin.qq.com/document/path/N), never internal notes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Mapping, Optional, Tuple

from . import console

__all__ = ["PAGES", "Reason", "REASONS", "RECORDS", "RETRY_AFTER", "get", "page", "reason_for_errcode"]

Text = Tuple[str, str]


@dataclass(frozen=True)
class Reason:
    """One documented way a login fails, and the words its page shows."""

    name: str
    #: HTTP status of the failure page / JSON answer
    status: int
    #: the page offers "start again": a second try passes, or will once an admin fixed what it names
    retry: bool
    title: Text
    what: Text
    fix: Text
    #: WeCom errcodes that mean this reason (developer.work.weixin.qq.com/document/path/90313)
    errcodes: FrozenSet[int] = frozenset()
    #: the reason's own fix already explains the errcode: the page does not repeat the errcode's fix
    own_fix: bool = False
    #: the failure passes by itself: its 503 carries ``Retry-After`` (seconds)
    retry_after: Optional[int] = None

    def render(self, values: Mapping[str, object]) -> Dict[str, str]:
        """title / what / fix in both languages, with the templates filled from ``values``."""
        return {
            "title_zh": self.title[0], "title_en": self.title[1],
            "what_zh": self.what[0].format(**values), "what_en": self.what[1].format(**values),
            "fix_zh": self.fix[0].format(**values), "fix_en": self.fix[1].format(**values),
        }


_RECORDS = (
    # no state in the callback / no login in progress
    Reason(
        "state_missing", 400, retry=True,
        title=("登录请求缺少 state 参数", "The login answer has no state"),
        what=("返回本站的链接不完整，或者直接打开了回调地址。",
              "The link back to this site is incomplete, or the callback address was opened directly."),
        fix=("请重新登录。",
             "Start the login again."),
    ),
    # forged, from another browser, or already consumed
    Reason(
        "state_mismatch", 400, retry=True,
        title=("登录状态不匹配", "The login state does not match"),
        what=("这个登录结果不是从本浏览器发起的：可能被伪造、来自其他浏览器，或会话已被清除。为保护您的账号，本次登录已被拒绝。",
              "This login answer was not started from this browser: it may be forged, come from another browser, "
              "or the session was reset. It was refused to protect your account."),
        fix=("请在本浏览器中重新登录，并确认浏览器允许本站的 Cookie。",
             "Start the login again in this browser and make sure it accepts this site's cookies."),
    ),
    # older than WECOM_STATE_MAX_AGE
    Reason(
        "state_expired", 400, retry=True,
        title=("登录已超时", "The login took too long"),
        what=("从发起登录到返回本站超过了 {max_age} 秒。",
              "More than {max_age} seconds passed between starting the login and coming back."),
        fix=("请重新登录。",
             "Start the login again."),
    ),
    # a state that was already used once
    Reason(
        "state_replayed", 400, retry=True,
        title=("这个登录结果已经使用过", "This login answer was already used"),
        what=("每个登录结果只能使用一次（例如刷新了页面或点了“后退”）。",
              "Each login answer works once (the page was reloaded, or you went back)."),
        fix=("请重新登录。",
             "Start the login again."),
    ),
    # WeCom came back without a code (the user refused / closed)
    Reason(
        "cancelled", 400, retry=True,
        title=("登录未完成", "The login was not completed"),
        what=("企业微信没有返回授权码：登录被取消或授权被拒绝。",
              "WeCom came back without a code: the login was cancelled or the authorization refused."),
        fix=("如需登录，请重新开始并在企业微信中确认。",
             "To log in, start again and confirm in WeCom."),
    ),
    # 40029 / 42022: code reused or older than 5 minutes
    Reason(
        "code_invalid", 400, retry=True,
        errcodes=frozenset({40029, 42022}),
        title=("登录授权码无效或已过期", "The login code is invalid or expired"),
        what=("企业微信的 code 只能使用一次，且 5 分钟内有效。",
              "A WeCom login code works once, and only for 5 minutes."),
        fix=("点击“重新开始”再登录一次。若反复出现，检查是否有多台服务器或重复请求在消费同一个 code。",
             "Click “start again”. If it keeps happening, check that no second server or repeated request "
             "consumes the same code."),
    ),
    # openid only: the user is not a member of the corp
    Reason(
        "not_member", 403, retry=True,
        title=("您不是该企业的成员", "You are not a member of this organisation"),
        what=("企业微信识别了您的身份，但您不属于该企业（只返回了 openid）。",
              "WeCom recognised you, but you are not a member of this corp (only an openid came back)."),
        fix=("请用该企业的企业微信账号登录，或请企业管理员把您加入通讯录。",
             "Log in with an account of this corp, or ask its admin to add you to the contacts."),
    ),
    # member outside the app's visible range
    Reason(
        "not_visible", 403, retry=True,
        errcodes=frozenset({50002, 60011, 60021, 92000}),
        title=("您不在此应用的可见范围内", "You are outside this app's visible range"),
        what=("企业管理员没有把您（或您的部门）加入此应用的可见范围。",
              "The corp admin has not added you (or your department) to this app's visible range."),
        fix=(f"请企业管理员在{console.VISIBLE_RANGE_PLACE[0]}中添加您或您的部门。",
             f"Ask the corp admin to add you or your department under {console.VISIBLE_RANGE_PLACE[1]}."),
    ),
    # 60020
    Reason(
        "ip_not_whitelisted", 502, retry=True,
        errcodes=frozenset({60020}),
        own_fix=True,
        title=("本站服务器的 IP 不在企业微信白名单中", "This server's IP is not on WeCom's whitelist"),
        what=("企业微信拒绝了本站服务器的请求（60020）。请求来自 IP {ip_zh}。",
              "WeCom refused this server's request (60020). The request came from IP {ip_en}."),
        fix=("{whitelist_zh}",
             "{whitelist_en}"),
    ),
    # app disabled / expired / offline / authorization cancelled
    Reason(
        "app_unavailable", 503, retry=True,
        errcodes=frozenset({48004, 48006, 50003, 84085, 90302}),
        title=("应用已停用或不可用", "The app is disabled or unavailable"),
        what=("企业微信表示此应用已被停用、已过期、已下线，或企业的授权已取消。",
              "WeCom says the app is disabled, expired or offline, or the corp's authorization was cancelled."),
        fix=("请企业管理员在「管理后台 → 应用管理」中重新启用应用；"
             "代开发应用请服务商确认应用已上线、授权有效、试用或许可未过期。",
             "Ask the corp admin to re-enable the app (Admin console → Apps); for a 代开发 app the provider "
             "should check it is online (上线), still authorized, and its trial or licence has not run out."),
    ),
    # 701016: the trial is over and the member holds no active licence (doc 97194)
    Reason(
        "no_licence", 403, retry=True,
        errcodes=frozenset({701016}),
        title=("您的账号没有此应用的使用许可", "Your account has no licence for this app"),
        what=("企业微信表示您的账号未激活或者已经过期（701016）：应用的免费试用期（安装后90天）已结束，"
              "只有已激活接口许可的成员才能登录（developer.work.weixin.qq.com/document/path/97194）。",
              "WeCom says your account is not activated or has expired (701016): the app's free trial (90 days "
              "from the install) is over, and only members with an active licence can log in "
              "(developer.work.weixin.qq.com/document/path/97194)."),
        fix=("请企业管理员联系应用服务商，为您的账号购买并激活接口许可（基础账号）；激活后重新登录即可。",
             "Ask the corp admin to have the app's provider buy and activate a licence (basic account) for your "
             "account; then log in again."),
    ),
    # 50001: redirect_uri not on the app's trusted domain
    Reason(
        "trusted_domain", 502, retry=True,
        errcodes=frozenset({50001}),
        title=("回调地址不在应用的可信域名下", "The redirect URI is not on the app's trusted domain"),
        what=("企业微信要求登录回调地址 {redirect_uri} 的域名（含端口）与应用的可信域名完全一致。",
              "WeCom requires the host of the redirect URI {redirect_uri} (port included) to equal the app's "
              "trusted domain exactly."),
        fix=("{domain_fix_zh}",
             "{domain_fix_en}"),
    ),
    # no corp has authorized the app yet
    Reason(
        "no_corp", 503, retry=True,
        title=("还没有企业授权此应用", "No organisation has authorized this app yet"),
        what=("本站还不知道要用哪个企业登录。",
              "This site does not know which corp to log in with yet."),
        fix=("请企业管理员扫码授权代开发应用（授权后自动生效），或设置 WECOM_CORP_ID 与 WECOM_SECRET。",
             "Have the customer's admin scan the 代开发 template QR code (it takes effect automatically), or set "
             "WECOM_CORP_ID and WECOM_SECRET."),
    ),
    # several corps authorized the app and the request names none
    Reason(
        "corp_required", 400, retry=False,
        title=("请从您所在企业的入口登录", "Please use your own organisation's login"),
        what=("本应用服务多个企业，而这个登录链接没有指明您所在的企业。",
              "This app serves several organisations, and this login link does not say which one is yours."),
        fix=("请在企业微信「工作台」中打开本应用（它的主页会带您到自己企业的登录），或使用管理员提供的、"
             "带有您企业 ID 的登录链接：{login_url}?corp_id=<您的企业ID>。"
             "管理员：把每个客户企业的应用主页设为 {login_url}?corp_id=<该企业的 corpid>"
             "（代开发应用在服务商管理后台该企业应用的开发信息中设置），只服务一个企业时也可设置 WECOM_CORP_ID。",
             "Open this app from the WeCom workbench (工作台): its home page takes you to your own organisation's "
             "login. Or use the login link your admin gives you, which carries your organisation's id: "
             "{login_url}?corp_id=<your corp id>. Admins: set each customer's app home page (应用主页) to "
             "{login_url}?corp_id=<that corp's corpid> (for a 代开发 app: in the provider console, that customer's "
             "app development settings); a site that serves one organisation can set WECOM_CORP_ID instead."),
    ),
    # the corp the request names has not authorized the app (or cancelled)
    Reason(
        "corp_unknown", 404, retry=False,
        title=("该企业没有授权本应用", "This organisation has not authorized this app"),
        what=("登录链接所指的企业没有授权本应用，或者已经取消了授权。",
              "The organisation named in the login link has not authorized this app, or has cancelled the "
              "authorization."),
        fix=("请在企业微信「工作台」中打开本应用，或向管理员索取正确的登录链接。管理员：`flask wecom corps` "
             "列出已授权的企业；企业取消过授权的，请其管理员重新扫码授权。",
             "Open this app from the WeCom workbench (工作台), or ask your admin for the right login link. Admins: "
             "`flask wecom corps` lists the authorized organisations; one that cancelled must have its admin "
             "authorize the app again."),
    ),
    # 代开发/third-party: no suite_ticket yet, so no suite token
    Reason(
        "no_suite_ticket", 503, retry=True,
        title=("还没有收到 suite_ticket", "No suite_ticket has arrived yet"),
        what=("企业微信尚未把 suite_ticket 推送到本站的指令回调地址，因此无法获取模板凭证。",
              "WeCom has not pushed a suite_ticket to this site's template callback URL yet, so no suite token can "
              "be had."),
        fix=("确认回调地址可从公网访问、Token/EncodingAESKey 与后台一致，然后" + console.REFRESH_TICKET[0] + "。",
             "Check the callback URL is reachable from the internet and Token/EncodingAESKey match the console, "
             "then " + console.REFRESH_TICKET[1] + "."),
    ),
    # third-party web login without WECOM_LOGIN_SUITE_ID / _SECRET (doc 98171)
    Reason(
        "login_suite_missing", 503, retry=False,
        title=("网页登录尚未配置", "Web login is not set up yet"),
        what=("第三方应用在企业微信客户端外登录（扫码 / 网页登录）需要服务商的「登录授权」应用，本站尚未配置。",
              "Logging in to a third-party app outside the WeCom client (QR / web login) needs the provider's "
              "登录授权 (login authorization) app, which this site has not configured."),
        fix=(f"在企业微信客户端内打开本应用即可登录。管理员：在{console.LOGIN_SUITE[0]}复制 SuiteID 与 "
             "Secret，设置 WECOM_LOGIN_SUITE_ID 与 WECOM_LOGIN_SUITE_SECRET（不是应用自己的 suite_id，见 "
             "developer.work.weixin.qq.com/document/path/98171）。",
             f"Open the app inside the WeCom client to log in. Admins: copy the SuiteID and Secret under "
             f"{console.LOGIN_SUITE[1]} into WECOM_LOGIN_SUITE_ID and WECOM_LOGIN_SUITE_SECRET (not the app's "
             "own suite id; see developer.work.weixin.qq.com/document/path/98171)."),
    ),
    # 40001: wrong or reset secret — or the app is disabled (same errcode, doc 90313)
    Reason(
        "secret_rejected", 502, retry=True,
        errcodes=frozenset({40001}),
        own_fix=True,
        title=("企业微信不接受本站的应用凭证", "WeCom refused this site's app credential"),
        what=("企业微信对获取 access_token（gettoken）返回 40001。官方文档给出两种原因：应用的 secret 错误或已被"
              "重置，或者应用已经停用。",
              "WeCom answered 40001 when this site asked for an access token (gettoken). WeCom's documentation "
              "gives two causes: the app's secret is wrong or was reset, or the app is disabled."),
        fix=("管理员" + console.tell_40001_apart(("{secret_fix_zh}", ""))[0] + "`flask wecom doctor` 会逐项检查。",
             "Admins, " + console.tell_40001_apart(("", "{secret_fix_en}"))[1] + " `flask wecom doctor` checks "
             "each step."),
    ),
    # 301002: the access_token's app is not the agentid's app
    Reason(
        "agent_mismatch", 502, retry=True,
        errcodes=frozenset({301002}),
        title=("应用 ID 与应用凭证不属于同一个应用", "The agent id and the app credential belong to different apps"),
        what=("企业微信拒绝了请求（301002）：access_token 是为另一个应用获取的，与登录使用的 agentid 不一致。"
              "这不是应用停用。",
              "WeCom refused a call (301002): the access token was fetched for another app than the agent id the "
              "login uses. The app is not disabled."),
        fix=("管理员：按下方错误码的说明核对 agentid，然后运行 `flask wecom doctor`。",
             "Admins: check the agent id as the error code below explains, then run `flask wecom doctor`."),
    ),
    # our credentials are wrong (40013, 40084 …) or settings missing
    Reason(
        "config", 503, retry=True,
        errcodes=frozenset({40013, 40056, 40080, 40083, 40084, 40085, 40091, 48003, 670001, 710000}),
        title=("应用配置有误", "The app is misconfigured"),
        what=("本站与企业微信之间的凭证或设置不正确。",
              "The credentials or settings between this site and WeCom are wrong."),
        fix=("管理员：运行 `flask wecom doctor`，它逐项检查配置并说明如何修正；也可对照下方错误码。",
             "Admins: run `flask wecom doctor`: it checks each setting and says how to fix it; see also the error "
             "code below."),
    ),
    # the app's user_loader refused the user
    Reason(
        "refused", 403, retry=False,
        title=("本站不接受此账号", "This site does not accept this account"),
        what=("企业微信登录成功，但本站没有与您对应的账号。",
              "The WeCom login worked, but this site has no account for you."),
        fix=("请联系本站管理员。",
             "Please contact this site's administrator."),
    ),
    # WeCom could not be reached
    Reason(
        "unreachable", 503, retry=True,
        retry_after=30,
        title=("暂时无法连接企业微信", "WeCom could not be reached"),
        what=("本站服务器连接企业微信接口失败。",
              "This server could not reach the WeCom API."),
        fix=("请稍后重试；若持续出现，请管理员检查服务器的网络与代理设置。",
             "Try again later; if it persists, admins should check the server's network and proxy settings."),
    ),
    # our database is down or unreachable: 503, try again shortly
    Reason(
        "store_unavailable", 503, retry=True,
        retry_after=30,
        title=("服务暂时不可用", "Temporarily unavailable"),
        what=("本站暂时无法访问它的数据存储，这通常在几十秒内恢复。",
              "This site cannot reach its data store at the moment; this usually passes within a minute."),
        fix=("请稍后（约半分钟后）重试。管理员：服务器日志记录了原因，"
             "请检查 WECOM_DATABASE_URI 指向的数据库是否在运行、能否连接。",
             "Please try again shortly (in about half a minute). Admins: the server log names the cause; check that "
             "the database WECOM_DATABASE_URI points at is running and reachable."),
    ),
    # any other errcode
    Reason(
        "api_error", 502, retry=True,
        title=("企业微信返回了错误", "WeCom answered with an error"),
        what=("登录过程中企业微信接口返回了错误。",
              "A WeCom API call failed during the login."),
        fix=("参考下方错误码的说明处理后重试。",
             "See the error code below, fix what it names, and try again."),
    ),
    # a bug on our side (logged with its traceback, never shown)
    Reason(
        "internal", 503, retry=True,
        title=("登录时发生内部错误", "An internal error interrupted the login"),
        what=("本站处理登录时出错。",
              "This site failed while handling the login."),
        fix=("请稍后重试；管理员可在服务器日志中查看详情。",
             "Try again later; admins find the details in the server log."),
    ),
)

#: reason name -> :class:`Reason`, in the order above
RECORDS: Dict[str, Reason] = {record.name: record for record in _RECORDS}
#: the reason names the login layer distinguishes
REASONS: Tuple[str, ...] = tuple(RECORDS)
#: reasons that pass by themselves -> seconds for their ``Retry-After``
RETRY_AFTER: Dict[str, int] = {r.name: r.retry_after for r in _RECORDS if r.retry_after}

_BY_ERRCODE: Dict[int, str] = {}
for _record in _RECORDS:
    for _code in _record.errcodes:
        if _code in _BY_ERRCODE:  # pragma: no cover - a table error, caught on import
            raise RuntimeError(f"errcode {_code} is claimed by {_BY_ERRCODE[_code]} and {_record.name}")
        _BY_ERRCODE[_code] = _record.name


# -- the words of the other pages -------------------------------------------------------------------
# Not login failures (no errcodes, never in REASONS): the OIDC hub's refusals (flask_wecom/hub/views.py) and the
# third-party install pages (flask_wecom/install.py). Same record, so each text is written here, once.
_PAGE_RECORDS = (
    Reason(
        "hub_unknown_client", 400, retry=False,
        title=("未知的应用", "Unknown application"),
        what=("发起登录的应用（client_id）没有在本登录中心登记。",
              "The application that sent you here (its client_id) is not registered with this sign-in hub."),
        fix=("请从该应用重新登录；仍然失败请联系管理员：在 WECOM_HUB_CLIENTS 中登记它"
             "（`flask wecom hub clients` 列出已登记的应用）。",
             "Start again from the application; if it keeps failing, ask your admin to register it in "
             "WECOM_HUB_CLIENTS (`flask wecom hub clients` lists the registered ones)."),
    ),
    Reason(
        "hub_redirect_uri_mismatch", 400, retry=False,
        title=("回调地址未登记", "Redirect URI not registered"),
        what=("该应用请求的回调地址（redirect_uri）与登记的任何一个都不完全一致，本登录中心不会跳转过去。",
              "The redirect URI this application asked for is not exactly one of its registered ones, so this hub "
              "will not send you there."),
        fix=("管理员：把应用实际使用的回调地址（逐字一致，含协议、端口、路径和末尾斜杠）"
             "加入 WECOM_HUB_CLIENTS 中该应用的 redirect_uris。",
             "Admins: add the exact redirect URI the application uses (scheme, port, path and trailing slash, "
             "character for character) to that client's redirect_uris in WECOM_HUB_CLIENTS."),
    ),
    Reason(
        "hub_logout_uri_mismatch", 400, retry=False,
        title=("退出后的跳转地址未登记", "Post-logout redirect URI not registered"),
        what=("退出登录请求中的 post_logout_redirect_uri 没有为该应用登记，本登录中心不会跳转过去。",
              "The post_logout_redirect_uri of this sign-out request is not registered for the application, so "
              "this hub will not send you there."),
        fix=("管理员：把该地址（逐字一致）加入 WECOM_HUB_CLIENTS 中该应用的 post_logout_redirect_uris，"
             "并确保请求带有 client_id 或 id_token_hint。",
             "Admins: add that exact URI to the client's post_logout_redirect_uris in WECOM_HUB_CLIENTS, and make "
             "sure the request carries client_id or id_token_hint."),
    ),
    Reason(
        "hub_request_too_long", 400, retry=False,
        title=("登录请求过长", "Sign-in request too long"),
        what=("该应用的登录请求超过 2048 个字符，无法在企业微信登录后继续。",
              "This application's sign-in request is longer than 2048 characters and cannot be resumed after "
              "the WeCom sign-in."),
        fix=("请联系该应用的管理员缩短 state / nonce 等参数。",
             "Ask the application's admin to shorten its state / nonce parameters."),
    ),
    # a 代开发 or self-built app has no website install (its admin scans the template QR code)
    Reason(
        "install_not_third_party", 404, retry=False,
        title=("本应用不通过网站安装", "This app is not installed from a website"),
        what=("从服务商网站发起的安装只适用于第三方应用（WECOM_APP_TYPE=third_party）。代开发应用由客户企业的管理员"
              "扫描代开发模板的授权二维码授权，授权通知（create_auth）推送到模板回调 URL。",
              "Installs started from the provider's website are for third-party apps (WECOM_APP_TYPE="
              "third_party). A 代开发 app is authorized by the customer's admin scanning the template's QR code; "
              "the create_auth notice arrives on the template callback URL."),
        fix=("", ""),
    ),
    # the install cannot start (get_pre_auth_code failed); what/fix of a known cause come from its login reason
    Reason(
        "install_unavailable", 503, retry=False,
        title=("暂时无法安装", "The install cannot start right now"),
        what=("安装时出错。", "The install failed."),
        fix=("管理员：运行 `flask wecom doctor` 并查看服务器日志。",
             "Admins: run `flask wecom doctor` and see the server log."),
    ),
    Reason(
        "install_api_error", 503, retry=False,
        title=("暂时无法安装", "The install cannot start right now"),
        what=("企业微信接口 {step} 返回错误码 {errcode}。",
              "WeCom's {step} refused the request with errcode {errcode}."),
        fix=("{hint}", "{hint}"),
    ),
    Reason(
        "install_cancelled", 400, retry=True,
        title=("安装未完成", "The install was not completed"),
        what=("企业微信没有返回授权码（auth_code）：安装被取消或未完成。",
              "WeCom came back without an auth_code: the install was cancelled or not finished."),
        fix=("请重新安装。", "Start the install again."),
    ),
    Reason(
        "install_unrecorded", 503, retry=False,
        title=("暂时无法完成安装", "The install cannot be completed right now"),
        what=("本站无法保存授权码。", "This site could not record the auth_code."),
        fix=("请在 10 分钟内刷新本页重试。", "Reload this page within 10 minutes."),
    ),
    Reason(
        "install_pending", 503, retry=False,
        title=("安装处理中", "The install is being completed"),
        what=("授权码已保存，正在向企业微信换取永久授权码。",
              "The auth_code is recorded and is being exchanged with WeCom."),
        fix=("请稍后刷新本页（授权码 10 分钟内有效，也可由管理员运行 `flask wecom exchange`）。",
             "Reload this page shortly (the code is valid 10 minutes; admins can also run `flask wecom exchange`)."),
    ),
    Reason(
        "install_refused", 502, retry=True,
        title=("安装失败", "The install failed"),
        what=("企业微信拒绝了授权码（可能已过期或已使用）。",
              "WeCom refused the auth_code (it may have expired or been used)."),
        fix=("请重新安装。", "Start the install again."),
    ),
)

#: page name -> :class:`Reason`: the hub's refusals (``hub_*``) and the install pages (``install_*``)
PAGES: Dict[str, Reason] = {record.name: record for record in _PAGE_RECORDS}


def page(name: str) -> Reason:
    """The words of one of the other pages (KeyError for an unknown name: these are never user input)."""
    return PAGES[name]


def get(name: str) -> Reason:
    """The record of ``name``; an unknown name reads as ``api_error``."""
    return RECORDS.get(name) or RECORDS["api_error"]


def reason_for_errcode(errcode: int) -> str:
    """The reason a WeCom errcode met during a login means (``api_error`` for any other code)."""
    return _BY_ERRCODE.get(errcode, "api_error")
