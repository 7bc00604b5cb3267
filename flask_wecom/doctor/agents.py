"""Check 5: ``agent/get`` per corp — trusted domain, web-login domain, app status, visible range."""
from __future__ import annotations

from typing import Any, List, Mapping

from .. import console, domains
from ..config import CUSTOMIZED
from ..errors import TransportError, WeComError
from .base import (
    FAIL,
    OK,
    SKIP,
    WARN,
    CheckResult,
    DoctorContext,
    _api_error_text,
    _both,
    _call,
    _corp_label,
    _corp_token_fix,
    _result,
)

#: what users see inside the WeCom client off the trusted domain (50001): the words live with the rule
USER_SEES = domains.USER_SEES

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
    where_zh, where_en = console.trusted_domain_place(ctx.app_type)
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
    where_zh, where_en = console.web_login_place(ctx.app_type)
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
                           _both(f"在{console.CUSTOMIZED_APP[0]}完成开发信息，提交审核，审核通过后点击「上线」",
                                 f"finish {console.CUSTOMIZED_APP[1]}, submit it for review, then click 上线 (go "
                                 "online) once approved"),
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
                       _both(*console.VISIBLE_RANGE),
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
