"""Where each setting lives in the WeCom consoles, per app type, and the fixes that name those places.

Framework-free; one place for the words, so the login pages (:mod:`flask_wecom.reasons`, read by
``views.py``), the doctor, the error-code hints (:mod:`flask_wecom.errcodes`) and the exceptions
send an operator to the same place with the same sentence.

Every value is a ``(中文, English)`` pair written as a clause — lower-case English, no final stop —
so it can end a doctor row or sit inside a page's sentence (:func:`sentence` finishes it for a page).

The places: the admin console (管理后台) of the corp, and the provider console (服务商管理后台) of a
service provider (developer.work.weixin.qq.com/document/path/96238, 97162, 91022, 90313, 98173).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from .app_types import CUSTOMIZED, INTERNAL, THIRD_PARTY, AppType

__all__ = [
    "Text",
    "PROVIDER_WHITELIST",
    "CORP_TRUSTED_IP",
    "REFRESH_TICKET",
    "REENABLE",
    "LOGIN_SUITE",
    "LOGIN_SUITE_KEYS",
    "login_suite_callback_fix",
    "PROVIDER_CORP_ID",
    "CUSTOMIZED_APP",
    "LICENCES",
    "callback_places",
    "VISIBLE_RANGE_PLACE",
    "VISIBLE_RANGE",
    "whitelist_place",
    "whitelist_fix",
    "trusted_domain_place",
    "web_login_place",
    "secret_fix",
    "TWO_CAUSES_40001",
    "NO_RETRY_40001",
    "tell_40001_apart",
    "sentence",
]

#: a text in Chinese and English
Text = Tuple[str, str]


#: the provider's IP whitelist: get_suite_token, get_corp_token and 代开发 gettoken check it (doc 90313)
PROVIDER_WHITELIST: Text = (
    "服务商管理后台「服务商信息 → 基本信息 → IP白名单」",
    "the provider console: 服务商信息 → 基本信息 → IP白名单 (service provider info → basic info → IP whitelist)")
#: a self-built app's own list of trusted IPs (doc 90313)
CORP_TRUSTED_IP: Text = ("管理后台「应用管理 → 本应用 → 企业可信IP」",
                         "the admin console: 应用管理 → this app → 企业可信IP (trusted corp IPs)")
#: how to have WeCom push a suite_ticket now (doc 97162)
REFRESH_TICKET: Text = (
    "在服务商管理后台的模板（应用）详情「回调配置」中点击「刷新Ticket」手动推送",
    "click 刷新Ticket (refresh ticket) under 回调配置 on the template (app) page of the provider console to push "
    "one now")
#: a disabled app (50003, or agent/get close=1): who re-enables it, and where
REENABLE: Text = (
    "请企业管理员在「管理后台 → 应用管理 → 本应用」重新启用（代开发应用的停用/启用会推送 change_auth）",
    "the corp admin must re-enable it under admin console → 应用管理 → this app (for 代开发, disabling and "
    "enabling push change_auth)")
#: the provider's 登录授权 app: third-party web login (login_type=ServiceApp) takes its SuiteID (docs 98171, 98179)
LOGIN_SUITE: Text = ("服务商管理后台「应用管理 → 登录授权」",
                     "应用管理 → 登录授权 (login authorization) in the provider console")
#: which SuiteID and Secret the WECOM_LOGIN_SUITE_* keys take
LOGIN_SUITE_KEYS: Text = (
    f"WECOM_LOGIN_SUITE_ID / WECOM_LOGIN_SUITE_SECRET 须为{LOGIN_SUITE[0]}的 SuiteID 与 Secret"
    "（不是应用自己的 suite_id）",
    f"WECOM_LOGIN_SUITE_ID / WECOM_LOGIN_SUITE_SECRET must be the SuiteID and Secret under {LOGIN_SUITE[1]} (not "
    "the app's own suite id)")
#: where a provider finds its own corp id (WECOM_PROVIDER_CORP_ID: URL verification is signed with it)
PROVIDER_CORP_ID: Text = ("服务商管理后台「应用开发-通用开发参数」", "应用开发-通用开发参数 in the provider console")
#: a 代开发 app's settings for one customer (callback URL, 可信域名, review and 上线)
CUSTOMIZED_APP: Text = ("服务商管理后台为该企业「开始代开发应用 → 配置开发信息」",
                        "the provider console: 开始代开发应用 → 配置开发信息 (development settings) of this corp's app")
#: where a provider buys and activates interface licences (doc 95652)
LICENCES: Text = ("服务商管理后台「接口许可」", "接口许可 (interface licences) in the provider console")
#: the app's visible range (可见范围): who may log in
VISIBLE_RANGE_PLACE: Text = ("管理后台「应用管理 → 本应用 → 可见范围」",
                             "the admin console: 应用管理 → this app → 可见范围 (visible range)")
#: who adds members to the app's visible range, and where (a change pushes change_auth, doc 90642)
VISIBLE_RANGE: Text = (f"请企业管理员在{VISIBLE_RANGE_PLACE[0]}中添加成员或部门（变更会推送 change_auth）",
                       f"the corp admin must add members or departments under {VISIBLE_RANGE_PLACE[1]}; the change "
                       "pushes change_auth")


def login_suite_callback_fix(template_url: str) -> Text:
    """How the 登录授权 suite's ticket reaches us: its callback settings are the template's (doc 98179)."""
    return (f"在{LOGIN_SUITE[0]}的回调配置中填 {template_url}，Token 与 EncodingAESKey 与模板回调相同，"
            "保存后点击「刷新Ticket」",
            f"in {LOGIN_SUITE[1]}, set the callback URL to {template_url} with the template's Token and "
            "EncodingAESKey, save, then click 刷新Ticket (refresh ticket)")


def callback_places(app_type: Optional[AppType]) -> Dict[str, Text]:
    """Where to paste each callback URL (``template`` / ``data``) and its Token / EncodingAESKey (doc 96238)."""
    if app_type == INTERNAL:
        return {"data": ("管理后台「应用管理 → 本应用 → 接收消息 → 设置API接收」",
                         "admin console → this app → 接收消息 (receive messages) → 设置API接收")}
    if app_type == CUSTOMIZED:
        return {"template": ("服务商管理后台「应用管理 → 应用代开发 → 代开发应用模板」的回调配置",
                             "the callback settings of the template (provider console → 应用管理 → 应用代开发)"),
                "data": ("为每个企业「开始代开发应用 → 配置开发信息」中的代开发应用回调URL",
                         "开始代开发应用 → 配置开发信息 (development settings) of each customer's app")}
    settings = "the app's 回调配置 in the provider console"
    return {"template": ("服务商管理后台应用详情「回调配置」的指令回调URL", settings),
            "data": ("服务商管理后台应用详情「回调配置」的数据回调URL", settings)}


def whitelist_place(app_type: Optional[AppType]) -> Text:
    """Where the IP whitelist lives for this app type (doc 90313); both lists when the type is unknown."""
    if app_type == INTERNAL:
        return CORP_TRUSTED_IP
    if app_type == CUSTOMIZED:
        # doc 90313: the provider-level list; a per-app IP白名单 also shows in the 代开发 开发信息 form
        # (unconfirmed whether it is separate), so both are named.
        return (PROVIDER_WHITELIST[0] + "（若代开发应用「开发信息」中也有 IP白名单，一并添加）",
                PROVIDER_WHITELIST[1] + " (and the IP白名单 of the 代开发 app's 开发信息, if it shows one)")
    if app_type == THIRD_PARTY:
        return PROVIDER_WHITELIST
    return ("白名单：自建应用 → " + CORP_TRUSTED_IP[0] + "；代开发/第三方应用 → " + PROVIDER_WHITELIST[0],
            "the whitelist: self-built app → " + CORP_TRUSTED_IP[1] + "; 代开发 / third-party app → "
            + PROVIDER_WHITELIST[1])


def whitelist_fix(app_type: Optional[AppType], ip: Optional[str]) -> Text:
    """The fix for 60020 (不安全的访问IP): add ``ip`` (WeCom names it in errmsg) to the right whitelist."""
    where_zh, where_en = whitelist_place(app_type)
    who_zh = f"IP {ip}" if ip else "本服务器的出口 IP"
    who_en = ip or "this server's egress IP"
    return (f"把 {who_zh} 加入{where_zh}，约1分钟后生效",
            f"add {who_en} to {where_en}; it takes about 1 minute to apply")


def trusted_domain_place(app_type: Optional[AppType]) -> Text:
    """Where the 可信域名 (trusted domain of in-client login) is set (doc 91022)."""
    if app_type == CUSTOMIZED:
        return (CUSTOMIZED_APP[0] + "中的「可信域名」", CUSTOMIZED_APP[1] + " → 可信域名 (trusted domain)")
    if app_type == THIRD_PARTY:
        return ("服务商管理后台应用详情中的「可信域名」",
                "the provider console: the app's page → 可信域名 (trusted domain)")
    return ("管理后台「应用管理 → 本应用 → 网页授权及JS-SDK → 可信域名」",
            "the admin console: 应用管理 → this app → 网页授权及JS-SDK → 可信域名 (trusted domain)")


def web_login_place(app_type: Optional[AppType]) -> Text:
    """Where the 授权回调域 of web / QR login is set (98173: 应用 → 企业微信授权登录 → 设置授权回调域).

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


def secret_fix(app_type: Optional[AppType], from_config: bool) -> Text:
    """What to do about a wrong or reset secret, the first cause of 40001 (doc 90313).

    ``from_config``: the secret is ``WECOM_SECRET`` (a self-built app's Secret, or a 代开发 app's
    permanent_code set by hand) rather than a permanent_code the store received.
    """
    if app_type == CUSTOMIZED and from_config:
        # a 代开发 app run with its permanent code: the secret is reset in the provider console
        return ("WECOM_SECRET（代开发应用的 secret，即 permanent_code）已被替换或有误："
                "服务商在代开发应用详情点击「重新获取secret」后旧值失效——把新的 permanent_code 填入 "
                "WECOM_SECRET（或配置模板 WECOM_SUITE_ID / WECOM_SUITE_SECRET 以自动接收 "
                "reset_permanent_code）",
                "WECOM_SECRET (the 代开发 app's secret, i.e. its permanent_code) was replaced or is wrong: "
                "after 重新获取secret on the app page in the provider console the old value stops working — "
                "put the new permanent_code in WECOM_SECRET (or configure the template's WECOM_SUITE_ID / "
                "WECOM_SUITE_SECRET to receive reset_permanent_code)")
    if app_type == INTERNAL or from_config:
        return ("WECOM_SECRET 与应用的 Secret 不一致（secret 若被重置，旧的立即失效）：在管理后台「应用管理 → 本应用」"
                "查看 Secret 后更新 WECOM_SECRET（代开发应用的 secret 即 permanent_code）",
                "WECOM_SECRET does not match the app's Secret (a reset secret replaces the old one at once): copy "
                "it from the admin console (应用管理 → this app) into WECOM_SECRET (a 代开发 app's secret is its "
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


#: gettoken's 40001 has two causes (document 90313's help): a wrong or reset secret, or a disabled app
TWO_CAUSES_40001: Text = ("40001 有两种原因：secret 错误或已被重置，或者应用已经停用",
                          "40001 has two causes: a wrong or reset secret, or a disabled app")
#: … and repeating a wrong secret gets the server's IP blocked (document 90313, 45009 item 5)
NO_RETRY_40001: Text = ("不要反复用错误的 secret 调用 gettoken：多次失败会使本服务器 IP 被封禁一小时",
                        "do not keep calling gettoken with a wrong secret: repeated failures block this server's IP "
                        "for an hour")


def tell_40001_apart(secret: Text) -> Text:
    """How to tell 40001's two causes apart, and each one's fix; ``secret`` is the secret's fix to name."""
    return ("先分辨：在企业管理后台「应用管理」打开本应用——显示已停用，" + REENABLE[0]
            + "；应用正常，则是 secret 的问题：" + secret[0],
            "tell them apart first: open this app under 应用管理 (apps) in the corp's admin console — if it shows as "
            "disabled (已停用), " + REENABLE[1] + "; if it is enabled, the secret is the problem: " + secret[1])


def sentence(text: Text) -> Text:
    """A clause pair as two sentences for a page: the English capitalised, both with a final stop."""
    zh, en = text
    if zh and not zh.endswith("。"):
        zh += "。"
    if en:
        en = en[:1].upper() + en[1:] + ("" if en.endswith(".") else ".")
    return zh, en
