"""WeCom error codes: what they mean and what to do about them (中文 + English).

The table covers the codes a WeCom login, a 代开发 provider and its callbacks meet, with the
titles of the official global error-code page (全局错误码,
developer.work.weixin.qq.com/document/path/90313; its "排查方法/查看帮助" text as copied in
xen0n/go-workwx ``errcodes/mod.go``, crawl of 2023-08-20, commit 02abf8b1) plus the ``-400xx``
codes of the official WXBizMsgCrypt sample code for callback crypto (documents 90968 / 91144).
Fixes follow that help text and the API pages named in them; where the official text is only
"—" the fix says what the rest of the documentation implies.

Everything here may be shown to users (login pages, doctor rows, exception messages): it cites
official document ids, never the team's internal notes.

A code added here also gets a row in docs/wecom-reference.rst, "Documented error codes" (same
title, and what flask-wecom does with it): tests/test_errcodes.py checks the two against each other.

Example: ``hint(60020, "not allow to access from your ip, …, from ip: 1.2.3.4, more info at …")``
says what 60020 means and to add ``1.2.3.4`` to the right whitelist.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Optional

from . import console
from .app_types import CUSTOMIZED, INTERNAL

__all__ = ["ErrorInfo", "ERRORS", "lookup", "hint", "parse_from_ip", "query_url"]

QUERY_URL = "https://open.work.weixin.qq.com/devtool/query?e={code}"
#: 频率拦截自助解封工具 (self-service unblock for rate-limit blocks), from the 45009 help text
UNBLOCK_URL = "https://open.work.weixin.qq.com/wwopen/devtool/checkCorpSpamBlock"


@dataclass(frozen=True)
class ErrorInfo:
    """One error code: meaning and fix, in Chinese and English."""

    code: int
    zh: str
    en: str
    fix_zh: str
    fix_en: str


def _fix_40001() -> tuple[str, str]:
    """40001's fix without knowing the app type: both causes, and the secret's fix of each kind of app."""
    internal, customized = console.secret_fix(INTERNAL, True), console.secret_fix(CUSTOMIZED, False)
    apart = console.tell_40001_apart((f"自建应用：{internal[0]}；代开发应用：{customized[0]}",
                                      f"for a self-built app, {internal[1]}; for a 代开发 app, {customized[1]}"))
    return (f"{console.TWO_CAUSES_40001[0]}，{apart[0]}。{console.NO_RETRY_40001[0]}",
            f"{console.TWO_CAUSES_40001[1]} — {apart[1]}. {console.NO_RETRY_40001[1][0].upper()}"
            f"{console.NO_RETRY_40001[1][1:]}")


def query_url(code: int) -> str:
    """WeCom's own error-code lookup page for *code*."""
    return QUERY_URL.format(code=int(code))


_TABLE = [
    # -- callback crypto: official WXBizMsgCrypt sample codes (documents 90968 / 91144) ---------
    ErrorInfo(
        -40001, "签名验证错误", "msg_signature verification failed",
        "确认 WECOM_TOKEN 与后台回调配置的 Token 一致，且用 URL"
        " 解码后的 msg_signature/timestamp/nonce 计算签名",
        "check that WECOM_TOKEN equals the callback Token in the console and that the URL-decoded "
        "msg_signature/timestamp/nonce are used",
    ),
    ErrorInfo(
        -40002, "xml解析失败", "XML parse failed",
        "请求体不是合法的回调 XML（含 DTD/实体声明的 XML 会被拒绝）；确认请求来自企业微信",
        "the body is not valid callback XML (XML with a DTD or entity declarations is refused); "
        "check that the request comes from WeCom",
    ),
    ErrorInfo(
        -40003, "sha加密生成签名失败", "computing the SHA1 signature failed",
        "检查 Token、timestamp、nonce 与 Encrypt 是否为字符串且不为空",
        "check that Token, timestamp, nonce and Encrypt are non-empty strings",
    ),
    ErrorInfo(
        -40004, "EncodingAESKey 非法", "invalid EncodingAESKey",
        "EncodingAESKey 须为 43 位英文或数字，且与后台回调配置一致（WECOM_ENCODING_AES_KEY）",
        "EncodingAESKey must be 43 letters/digits and equal the console's callback setting "
        "(WECOM_ENCODING_AES_KEY)",
    ),
    ErrorInfo(
        -40005, "ReceiveId 校验错误", "receiveid mismatch",
        "代开发模板回调 POST 的 receiveid 为 suite_id（dk…），URL 验证 GET 为服务商自身 corpid；"
        "自建应用为本企业 corpid；检查 WECOM_SUITE_ID / WECOM_PROVIDER_CORP_ID / WECOM_CORP_ID",
        "for 代开发 template callbacks the POST receiveid is the suite_id (dk…) and the GET URL "
        "verification uses the provider's own corpid; self-built apps use their corpid. Check "
        "WECOM_SUITE_ID / WECOM_PROVIDER_CORP_ID / WECOM_CORP_ID",
    ),
    ErrorInfo(
        -40006, "AES 加密失败", "AES encryption failed",
        "检查 EncodingAESKey 是否正确（43 位，解码后 32 字节）",
        "check the EncodingAESKey (43 characters, 32 bytes once decoded)",
    ),
    ErrorInfo(
        -40007, "AES 解密失败", "AES decryption failed",
        "EncodingAESKey 是否填错：须与该回调 URL 在后台配置的 EncodingAESKey 一致",
        "wrong EncodingAESKey? It must be the one configured for this callback URL in the console",
    ),
    ErrorInfo(
        -40008, "解密后得到的buffer非法", "decrypted buffer is invalid",
        "填充或长度字段不合法，通常是 EncodingAESKey 不匹配或密文被截断/改动",
        "bad padding or length field: usually a mismatched EncodingAESKey or a truncated/altered payload",
    ),
    ErrorInfo(
        -40009, "base64加密失败", "base64 encoding failed",
        "内部错误：检查待加密的明文是否为字符串",
        "internal error: check that the plaintext to encrypt is a string",
    ),
    ErrorInfo(
        -40010, "base64解密失败", "base64 decoding failed",
        "Encrypt/echostr 不是合法 base64；若框架未正确做 URL 解码，'+' 可能变成空格，只做一次正确的 URL 解码",
        "Encrypt/echostr is not valid base64; if the URL was not decoded properly '+' may have "
        "become a space — URL-decode exactly once",
    ),
    ErrorInfo(
        -40011, "生成xml失败", "generating the reply XML failed",
        "内部错误：检查回复消息的字段是否为字符串或整数",
        "internal error: check that the reply fields are strings or integers",
    ),
    # -- global error codes (document 90313) --------------------------------------------------
    ErrorInfo(
        -1, "系统繁忙", "system busy",
        "服务器暂不可用，建议稍候重试，重试次数不超过3次（WeComClient 已按 WECOM_BUSY_RETRIES 退避重试；"
        "消耗一次性凭据的调用，如 OAuth code、AuthCode，不会重发）",
        "WeCom is temporarily unavailable; retry later, at most 3 times (WeComClient already "
        "retried with backoff, see WECOM_BUSY_RETRIES — except calls that spend a single-use code, "
        "such as the OAuth code or an AuthCode, which are never resent)",
    ),
    ErrorInfo(0, "请求成功", "success", "接口调用成功，无需处理", "the call succeeded; nothing to do"),
    ErrorInfo(
        # 90313's 40001 help: 1) secret/corpid not passed 2) corpid and secret do not match, e.g. the
        # app's secret was reset but the old one is still used 3) 应用已经停用 (the app is disabled).
        # The same help (45009, item 5) warns that repeating a wrong secret blocks the IP for an hour.
        40001, "不合法的secret参数",
        "invalid secret (wrong or reset secret, or the app is disabled)",
        *_fix_40001(),
    ),
    ErrorInfo(
        40003, "无效的UserID", "invalid UserID",
        "UserID 长度1~64字符，由英文字母、数字、中划线、下"
        "划线及点号构成；除创建成员外，UserID 必须在通讯录中存在",
        "a UserID is 1-64 characters of letters, digits, '-', '_' and '.'; except when creating a "
        "member it must exist in the contacts",
    ),
    ErrorInfo(
        40013, "不合法的CorpID", "invalid CorpID",
        "确认 CorpID 填写正确（web管理端-设置可查看）；代开发请原样使用 get_permanent_code 返回的 "
        "auth_corp_info.corpid（密文 corpid 区分大小写，不可转大小写）",
        "check the CorpID (admin console → settings); for 代开发 use auth_corp_info.corpid from "
        "get_permanent_code exactly as returned (encrypted corpids are case-sensitive)",
    ),
    ErrorInfo(
        40014, "不合法的access_token", "invalid access_token",
        "确认 access_token 的获取方式及是否已过期，重"
        "新获取一次即可（经 TokenSource 调用时客户端已自动重取并重试一次）；仍失败则说明 "
        "token 属于别的应用/企业——每个应用的 access_token 须分开获取",
        "check how the access_token was obtained and whether it expired; fetching it again fixes it (called "
        "through a TokenSource, the client already refetched and retried once). If it persists "
        "the token belongs to another app/corp — each app needs its own access_token",
    ),
    ErrorInfo(
        40029, "不合法的oauth_code", "invalid oauth code",
        "code 只能消费一次（是否有多台服务器同时消费同一 code"
        "？），且须在5分钟有效期内消费；让用户重新登录获取新 code",
        "a code can be consumed once only (are several servers consuming the same code?) and within "
        "5 minutes; have the user log in again for a new code",
    ),
    ErrorInfo(
        40056, "不合法的agentid", "invalid agentid",
        "agentid 为整型数字，且 web 管理端存在该应用；代开发使用授权信息 auth_info.agent[0].agentid",
        "agentid must be an integer of an app that exists in the admin console; for 代开发 use "
        "auth_info.agent[0].agentid from the authorization info",
    ),
    ErrorInfo(
        40057, "不合法的callbackurl或者callbackurl验证失败",
        "invalid callback URL or its verification failed",
        "可自助到开发调试工具重现：回调 URL 须公网可达并在1秒内返回解密后的 echostr 明文",
        "reproduce it with WeCom's developer debugging tool; the callback URL must be public and answer "
        "the decrypted echostr within 1 second",
    ),
    ErrorInfo(
        40058, "不合法的参数", "invalid parameter",
        "参数不符合要求，参照具体 API 说明；若 errmsg 为 \"auth_"
        "code exceed min length 64\"，传入的不是临时授权码"
        "（AuthCode 来自 create_auth / reset_permanent_code 推送）",
        "a parameter does not meet the API's requirements; \"auth_code exceed min length 64\" means what "
        "was passed is not an AuthCode (those come from the create_auth / reset_permanent_code push)",
    ),
    ErrorInfo(
        40078, "不合法的auth_code参数", "invalid auth_code",
        "确认 auth_code 来源（create_auth / reset_perm"
        "anent_code 推送的 AuthCode，10分钟内有效），且只能消费一次",
        "check the auth_code's origin (the AuthCode of a create_auth / reset_permanent_code push, valid "
        "10 minutes); it can be exchanged once only",
    ),
    ErrorInfo(
        40080, "不合法的suite_secret", "invalid suite_secret",
        "第三方应用 secret 在服务商管理端应用详情查看；代开发填模板 Se"
        "cret（不是代开发应用的 secret/permanent_code）",
        "the third-party suite secret is on the app page of the provider console; for 代开发 use the "
        "template Secret (not the app secret / permanent_code)",
    ),
    ErrorInfo(
        40082, "不合法的suite_token", "invalid suite_access_token",
        "确认 suite_access_token 的获取方式及是否已过期，重新获取一次即可"
        "（经 TokenSource 调用时客户端已自动重取并重试一次）",
        "check how the suite_access_token was obtained and whether it expired; fetching it again fixes it "
        "(called through a TokenSource, the client already refetched and retried once)",
    ),
    ErrorInfo(
        40083, "不合法的suite_id", "invalid suite_id",
        "suite_id 不存在：代开发模板 ID 以 dk 开头，第三方应用 ID 以 ww/wx 开头，核对 WECOM_SUITE_ID",
        "the suite_id does not exist: 代开发 template ids start with dk, third-party app ids with ww/wx — "
        "check WECOM_SUITE_ID",
    ),
    ErrorInfo(
        40084, "不合法的permanent_code参数", "invalid permanent_code",
        "确认：1）是否填写有误 2）企业是否已取消授权 3）永久授权码不能跨服务商使用",
        "check 1) that it is not mistyped 2) whether the corp cancelled the authorization 3) that it is "
        "not another service provider's permanent code",
    ),
    ErrorInfo(
        40085, "不合法的suite_ticket参数", "invalid suite_ticket",
        "suite_ticket 不存在或已失效：使用最近一次推送的 suite_ticket（每10分钟推送，有效期约30分钟）；"
        "可在服务商后台模板详情手动刷新 Ticket",
        "the suite_ticket is unknown or expired: use the latest pushed one (pushed every 10 minutes, valid "
        "about 30 minutes); it can be re-pushed from the template page of the provider console",
    ),
    ErrorInfo(
        40091, "secret不合法", "invalid secret",
        "可能用了别的企业的 secret：核对 corpid 与 secret 属于同一企业/应用",
        "probably another corp's secret: check that corpid and secret belong to the same corp and app",
    ),
    ErrorInfo(
        40102, "域名或IP不可与应用市场上架应用重复", "domain or IP already used by an app on the app market",
        "换用未被应用市场上架应用占用的域名/IP（一级域名一旦用于服务商应用，自建应用不能再使用）",
        "use a domain/IP not taken by a market app (once a registrable domain is used by a provider app, "
        "self-built apps can no longer use it)",
    ),
    ErrorInfo(
        40125, "无效的openuserid参数", "invalid open_userid",
        "open_userid 为服务商级别 ID：确认来自本服务商的应用，不要与明文 userid 混用",
        "open_userid is a provider-level id: check that it comes from one of this provider's apps and "
        "is not mixed up with a plain userid",
    ),
    ErrorInfo(
        41001, "缺少access_token参数", "access_token missing",
        "请求 URL 须带 access_token 参数（通过 gettoken 获取）",
        "the request URL needs an access_token parameter (from gettoken)",
    ),
    ErrorInfo(
        41008, "缺少auth code参数", "auth code missing",
        "请求须带 code/auth_code 参数（OAuth 回跳的 code，或 create_auth 推送的 AuthCode）",
        "the request needs the code/auth_code parameter (the OAuth redirect's code, or the AuthCode of "
        "the create_auth push)",
    ),
    ErrorInfo(
        41021, "缺少suite_id参数", "suite_id missing",
        "请求体须带 suite_id（WECOM_SUITE_ID）", "the request body needs suite_id (WECOM_SUITE_ID)",
    ),
    ErrorInfo(
        41022, "缺少suite_access_token参数", "suite_access_token missing",
        "请求 URL 须带 suite_access_token（通过 get_suite_token 获取）",
        "the request URL needs suite_access_token (from get_suite_token)",
    ),
    ErrorInfo(
        41023, "缺少suite_ticket参数", "suite_ticket missing",
        "尚未收到 suite_ticket？确认指令回调 URL 公网可达、能解密，并在后台手动刷新 Ticket",
        "no suite_ticket received yet? Check that the template callback URL is public and decrypts, then "
        "re-push the ticket from the console",
    ),
    ErrorInfo(
        41025, "缺少permanent_code参数", "permanent_code missing",
        "请求体须带 permanent_code（get_permanent_code 换取后保存在数据库中）",
        "the request body needs permanent_code (stored after the get_permanent_code exchange)",
    ),
    ErrorInfo(
        42001, "access_token已过期", "access_token expired",
        "access_token 有时效性，需要重新获取一次（经 TokenSource 调用时客户端已自动重取并重试一次）",
        "access tokens expire; fetch a new one (called through a TokenSource, the client already "
        "refetched and retried once)",
    ),
    ErrorInfo(
        42007, "pre_auth_code已过期", "pre_auth_code expired",
        "pre_auth_code 有时效性，需要重新获取一次", "pre_auth_code expires; fetch a new one",
    ),
    ErrorInfo(
        42009, "suite_access_token已过期", "suite_access_token expired",
        "suite_access_token 有时效性，需要用最新的 suite_ticket 重新获取"
        "（经 TokenSource 调用时客户端已自动重取并重试一次）",
        "suite access tokens expire; fetch a new one with the latest suite_ticket (called through a "
        "TokenSource, the client already refetched and retried once)",
    ),
    ErrorInfo(
        42012, "jsapi_ticket不可用，一般是没有正确调用接口来创建jsapi_ticket", "jsapi_ticket unusable",
        "wx.agentConfig 须使用\"获取应用身份的ticket\"（JS-SDK 问题，与 OAuth 登录无关）",
        "wx.agentConfig needs the app-identity ticket (a JS-SDK matter, unrelated to OAuth login)",
    ),
    ErrorInfo(
        42022, "code已经被使用过。只能使用一次", "code already used",
        "code 只能使用一次：让用户重新登录获取新 code，勿重复消费（多台服务器、刷新回调页）",
        "a code is single use: have the user log in again; do not consume it twice (several servers, "
        "reloading the callback page)",
    ),
    ErrorInfo(
        43004, "指定的userid未绑定微信或未关注微信插件（原企业号）",
        "the userid is not bound to WeChat or does not follow the WeChat plug-in (微信插件)",
        "需要成员使用微信登录企业微信或者关注微信插件才能获取 openid",
        "the member must log in to WeCom with WeChat or follow the WeChat plug-in (微信插件) before an "
        "openid can be had",
    ),
    ErrorInfo(
        45009, "接口调用超过限制", "API call frequency limit exceeded",
        "频率拦截时长一般与限制时长相同（分钟级1分钟后解除，小"
        "时级1小时）；仅系统失败需要重试，其余错误应排查原因；"
        "缓存 access_token，不要频繁调用 gettoken；部分拦截可自助解封：" + UNBLOCK_URL,
        "a block lasts as long as the limit's period (a minute for per-minute limits, an hour for "
        "hourly); only system failures deserve retries, investigate other errors; cache access tokens and "
        "do not call gettoken often; some blocks can be lifted at " + UNBLOCK_URL,
    ),
    ErrorInfo(
        45033, "接口并发调用超过限制", "API concurrency limit exceeded",
        "一般是程序有 bug，导致对同一份资源有过高且持续不断的并发请求；降低并发",
        "usually a bug that keeps hitting one resource with many concurrent requests; reduce concurrency",
    ),
    ErrorInfo(
        48001, "API功能未授权", "API feature not authorized",
        "调用明文 corpid 转换为密文 corpid 的接口（service/corpid_to_opencorpid）时，企业与服务商之间"
        "须有授权关系；发票相关接口要求企业已认证且激活人数达到 200",
        "corpid_to_opencorpid (plaintext → encrypted corp id) needs an authorization between the corp and "
        "the provider; invoice APIs need a verified corp with at least 200 activated members",
    ),
    ErrorInfo(
        48002, "API接口无权限调用", "no permission for this API",
        "确认应用有该接口权限：写通讯录接口只能用通讯录同步助手的 a"
        "ccess_token；客户联系接口需\"客户联系\"或配置到"
        "\"可调用应用\"的应用的 access_token",
        "check that the app may call this API: contact write APIs need the contact-sync assistant's "
        "token; customer-contact APIs need the 客户联系 app or an app listed as 可调用应用",
    ),
    ErrorInfo(
        48003, "不合法的suite_id", "suite_id does not match",
        "确认 suite_access_token 由指定的 suite_id 生成",
        "check that the suite_access_token was made for this suite_id",
    ),
    ErrorInfo(
        48004, "授权关系无效", "authorization invalid",
        "可能是无授权或授权已被取消（代开发扫码时 \"suite auth "
        "not exist\"：模板下没有已授权的应用）；请企业管理员重新授权",
        "no authorization or it was cancelled (\"suite auth not exist\" on a 代开发 scan: no app of the "
        "template is authorized); have the corp admin authorize again",
    ),
    ErrorInfo(
        48005, "API接口已废弃", "API deprecated",
        "接口已不再支持，改用新接口（如用 /cgi-bin/auth/getuserinfo 代替旧的 user/getuserinfo）",
        "the API is no longer supported; use the new one (e.g. /cgi-bin/auth/getuserinfo instead of the "
        "old user/getuserinfo)",
    ),
    ErrorInfo(
        48006, "接口权限被收回", "API permission revoked",
        "由于企业长时间未使用应用，接口权限被收回，需企业管理员重新启用",
        "the corp did not use the app for a long time and its API permission was revoked; a corp admin "
        "must re-enable it",
    ),
    ErrorInfo(
        50001, "redirect_url未登记可信域名", "redirect_uri not on a trusted domain",
        "1）颁发 code 的应用与消费 code 的 access_token 须"
        "是同一应用 2）secret 来源于应用：URL 域名须设为该应用的可信域名；"
        "来源于第三方授权：至少一个应用设置了该域名 3）URL 域名须与可信"
        "域名完全匹配（包括端口号）：qq.com ≠ www.qq.com，"
        "www.qq.com ≠ www.qq.com:8008",
        "1) the app that issued the code and the app of the access_token consuming it must be the same "
        "2) the redirect URL's domain must be a trusted domain of that app (for third-party suites: of "
        "at least one app) 3) it must match exactly, port included: qq.com ≠ www.qq.com, www.qq.com ≠ "
        "www.qq.com:8008",
    ),
    ErrorInfo(
        50002, "成员不在权限范围", "member outside the permission scope",
        "请检查应用或管理组的权限范围（可见范围）", "check the app's (or admin group's) visibility scope",
    ),
    ErrorInfo(
        50003, "应用已禁用", "app disabled",
        "应用禁用后无法调用 API：" + console.REENABLE[0], "a disabled app cannot call APIs: " + console.REENABLE[1],
    ),
    ErrorInfo(
        60011, "指定的成员/部门/标签参数无权限", "no permission for the given member/department/tag",
        "应用 access_token 仅能指定可见范围内的成员、部门"
        "（及其子部门）和应用自己创建的标签；变更通讯录需通讯录编辑权限",
        "an app token may only name members and departments in its visibility scope and tags it created; "
        "changing contacts needs contact-edit permission",
    ),
    ErrorInfo(
        60020, "不安全的访问IP", "unsafe caller IP (not on the app's trusted IPs / the provider's IP whitelist)",
        *console.whitelist_fix(None, None),  # both whitelists: the app type is not known here
    ),
    ErrorInfo(
        60021, "userid不在应用可见范围内", "userid outside the app's visibility scope",
        *console.VISIBLE_RANGE,
    ),
    ErrorInfo(
        60111, "UserID不存在", "UserID does not exist",
        "UserID 参数为空，或者不存在于通讯录中", "the UserID is empty or not in the contacts",
    ),
    ErrorInfo(
        80001, "可信域名不正确，或者无ICP备案", "trusted domain wrong or without ICP filing",
        "可信域名只支持全域名匹配，不支持 IP、端口号及短链域"
        "名，须有 ICP 备案；确认已备案仍报错可尝试重新设置",
        "trusted domains match the full domain only, no IPs, ports or short-link domains, and need an ICP "
        "filing; if it is filed and still fails, set it again",
    ),
    ErrorInfo(
        84014, "成员票据过期", "user_ticket expired",
        "user_ticket 有效期1800秒；需要用户重新点击登录链接，用新的 code 获取新的 user_ticket",
        "user_ticket lives 1800 s; the user must follow the login link again to get a new code and ticket",
    ),
    ErrorInfo(
        701016, "账号未激活或者已经过期", "account not activated or expired (interface licence)",
        "代开发/第三方应用开启接口许可后，试用期（首次安装后90天）结束，没有激活接口许可账号的成员会被拦截；"
        "服务商为该成员购买并激活基础账号，试用与检查时间见 license/get_app_license_info 的 trail_info"
        "（developer.work.weixin.qq.com/document/path/97194）",
        "once an app with interface licences (接口许可) is past its trial (90 days from the first install), "
        "members without an active licence account are blocked; the provider buys and activates a basic "
        "account for the member — trial and check times are in trail_info of license/get_app_license_info "
        "(developer.work.weixin.qq.com/document/path/97194)",
    ),
    ErrorInfo(
        84015, "成员票据无效", "user_ticket invalid",
        "确认 user_ticket 来源：auth/getuserinfo 在 scope=snsapi_privateinfo 时返回",
        "check where the user_ticket came from: auth/getuserinfo returns it with scope=snsapi_privateinfo",
    ),
    ErrorInfo(
        84025, "不符合的state参数", "invalid state",
        "state 必须是 [a-zA-Z0-9]，长度不可超过128个字节", "state must be [a-zA-Z0-9] and at most 128 bytes",
    ),
    ErrorInfo(
        84085, "应用已下架", "app taken off the market",
        "在服务商后台确认应用状态（代开发模板/应用需审核通过并点击\"上线\"）",
        "check the app's state in the provider console (a 代开发 template/app must pass review and be "
        "put online with 上线)",
    ),
    ErrorInfo(
        84090, "缺失user_ticket", "user_ticket missing",
        "请求须带 user_ticket：仅当 scope=snsapi_privat"
        "einfo 且成员在应用可见范围内时 auth/getuserinfo 才返回",
        "the request needs user_ticket; auth/getuserinfo returns one only with scope=snsapi_privateinfo "
        "for members in the app's visibility scope",
    ),
    ErrorInfo(
        85004, "每企业每个月设置的可信域名不可超过20个", "more than 20 trusted domains set this month",
        "每企业每月最多设置20个可信域名：复用已设置的域名或等到下个月",
        "a corp may set at most 20 trusted domains a month: reuse one already set or wait for next month",
    ),
    ErrorInfo(
        85005, "可信域名未通过所有权校验", "trusted domain ownership not verified",
        "仅 OAuth2 生效，JS-SDK 受限：企业应用在管理端应用详情、第三方/代开发在服务商后台应用详情按指引上传 "
        "WW_verify_*.txt 到域名根目录完成校验",
        "only OAuth2 works, JS-SDK is limited: verify the domain (upload WW_verify_*.txt to its root) "
        "from the app detail page in the admin console (corp apps) or the provider console "
        "(third-party / 代开发)",
    ),
    ErrorInfo(
        90302, "付费应用已过期", "paid app expired",
        "企业需续费；代开发若开启了接口许可（license）检查且已过试用期，需要为成员购买接口许可账号",
        "the corp must renew; for 代开发 with license checks on and the trial over, buy license "
        "accounts for the members",
    ),
    ErrorInfo(
        92000, "成员不在应用可见范围之内", "member outside the app's visibility scope",
        console.VISIBLE_RANGE[0] + "（snsapi_privateinfo 要求成员在可见范围内）",
        console.VISIBLE_RANGE[1] + " (snsapi_privateinfo requires it)",
    ),
    ErrorInfo(
        92001, "应用没有敏感信息权限", "app lacks sensitive-info permission",
        "自建/代开发应用的敏感字段需管理员在应用详情里勾选，且成员 OA"
        "uth 授权确认后才返回；第三方应用需\"成员敏感信息授权\"权限",
        "for self-built / 代开发 apps an admin must select the sensitive fields on the app page and the "
        "member must confirm in OAuth; third-party apps need the 成员敏感信息授权 permission",
    ),
    ErrorInfo(
        301002, "无权限操作指定的应用",
        "the access_token may not operate the given app (token and agentid belong to different apps)",
        "请求中的 agentid 与生成 access_token 的应用不一致（例如用应用 A 的 secret 取 token，却指定了应用 B "
        "的 agentid）：自建应用核对 WECOM_AGENT_ID 与 WECOM_SECRET 属于同一个应用（管理后台「应用管理 → "
        "本应用」同时显示 AgentId 与 Secret）；代开发应用使用授权信息里的 agentid"
        "（auth_info.agent[0].agentid），不要另设 WECOM_AGENT_ID。这不是应用停用",
        "the agentid of the request is not the app the access_token was fetched for (e.g. app A's secret "
        "with app B's agentid): for a self-built app check that WECOM_AGENT_ID and WECOM_SECRET belong to "
        "the same app (the admin console shows both on 应用管理 → this app); a 代开发 app uses the agentid "
        "of its authorization (auth_info.agent[0].agentid) — do not set another WECOM_AGENT_ID. The app is "
        "not disabled",
    ),
    ErrorInfo(
        301058, "拉取会话数据请求超过大小限制，可减少limit参数",
        "chat-archive (会话存档) fetch exceeds the size limit; lower the limit parameter",
        "会话存档拉取数据时减小 limit 参数后重试；与登录无关",
        "fetch chat-archive data with a smaller limit and retry; unrelated to login",
    ),
    ErrorInfo(
        670001, "应用不在共享范围", "app not in the sharing scope (上下游 shared app)",
        "上游企业获取下游企业的 access_token 时：确认使用的是上游应用的 access_token，且 corpid 与 agentid "
        "来自「获取应用共享信息」接口（上下游共享应用）；这不是应用停用，而是共享范围的设置",
        "when an upstream corp fetches a downstream corp's access_token (上下游 shared apps): use the "
        "upstream app's access_token and the corpid and agentid returned by the app-sharing-info API. The "
        "app is not disabled: this is a sharing-scope setting",
    ),
    ErrorInfo(
        710000, "非法的open_corpid", "invalid open_corpid",
        "get_corp_token 的 auth_corpid 不被接受：原样使用 get_pe"
        "rmanent_code 返回的 auth_corp_info.corpid（区分大小写）",
        "get_corp_token refused auth_corpid: use auth_corp_info.corpid from get_permanent_code exactly "
        "as returned (case-sensitive)",
    ),
]

#: code -> :class:`ErrorInfo`
ERRORS: dict[int, ErrorInfo] = {info.code: info for info in _TABLE}

_FROM_IP_RE = re.compile(r"from\s+ip\s*[:：]\s*\[?([0-9A-Fa-f:.]+)", re.IGNORECASE)


def lookup(code: int) -> Optional[ErrorInfo]:
    """The :class:`ErrorInfo` of *code*, or ``None`` when it is not in the table."""
    try:
        return ERRORS.get(int(code))
    except (TypeError, ValueError, OverflowError):
        return None


def parse_from_ip(errmsg: str) -> Optional[str]:
    """The caller IP WeCom reports in a 60020 ``errmsg`` (``"…, from ip: 1.2.3.4, more info…"``)."""
    if not errmsg:
        return None
    match = _FROM_IP_RE.search(errmsg)
    if not match:
        return None
    candidate = match.group(1).rstrip(".:")
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def hint(code: int, errmsg: str = "") -> str:
    """A bilingual ``"meaning — fix"`` sentence for *code*.

    For 60020 the fix names the IP parsed from *errmsg*. Unknown codes point at WeCom's
    lookup page ``https://open.work.weixin.qq.com/devtool/query?e=<code>``.
    """
    info = lookup(code)
    if info is None:
        try:
            number = int(code)
        except (TypeError, ValueError, OverflowError):
            return f"未知错误码 / unknown error code {code!r}"
        url = query_url(number)
        return (
            f"未收录的错误码 {number}，请用官方错误码查询工具查看原因与处理方法：{url} / "
            f"error code {number} is not in flask-wecom's table; look it up at {url}"
        )
    fix_zh, fix_en = info.fix_zh, info.fix_en
    if info.code == 60020:
        fix_zh, fix_en = console.whitelist_fix(None, parse_from_ip(errmsg))
    return f"{info.zh} / {info.en} — {fix_zh} / {fix_en}"
