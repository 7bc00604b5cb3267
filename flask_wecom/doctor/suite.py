"""Check 3: the suite_ticket and suite token (doc 97162), and the 登录授权 suite of third-party web login."""
from __future__ import annotations

from typing import List, Optional

from .. import console
from ..config import THIRD_PARTY
from ..errors import NoSuiteTicketError, TransportError, WeComError
from .base import (
    FAIL,
    OK,
    SKIP,
    TICKET_LIFETIME,
    TICKET_WARN_AGE,
    WARN,
    CheckResult,
    DoctorContext,
    _api_error_text,
    _both,
    _call,
    _generic_fix,
    _minutes,
    _result,
    _whitelist_fix,
)


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
            _both(*console.login_suite_callback_fix(template_url)),
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
            fix = _both(*console.LOGIN_SUITE_KEYS)
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
            _both("确认回调地址可从公网访问（放行检查7的IP）且检查2通过，然后" + console.REFRESH_TICKET[0],
                  "make the URL reachable from the internet (allow the IPs of check 7) with check 2 passing, "
                  "then " + console.REFRESH_TICKET[1]),
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
                _both("检查回调地址是否仍可从公网访问（证书、防火墙、反向代理），然后" + console.REFRESH_TICKET[0],
                      "check the URL is still reachable from the internet (certificate, firewall, reverse "
                      "proxy), then " + console.REFRESH_TICKET[1]),
                step=3))
        elif age > TICKET_WARN_AGE:
            results.append(_result(
                "suite_ticket", ticket_title, WARN,
                _both(f"suite_ticket 是 {_minutes(age)} 前收到的：已错过两次推送（每10分钟一次，"
                      "30分钟后失效）",
                      f"the suite_ticket arrived {_minutes(age)} ago: two pushes (every 10 minutes) were "
                      "missed; it expires at 30 minutes"),
                _both("检查回调地址的可达性；" + console.REFRESH_TICKET[0],
                      "check the callback URL is reachable; " + console.REFRESH_TICKET[1]),
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
            fix = _both("suite_ticket 无效或已过期：请使用最近一次推送的 ticket；" + console.REFRESH_TICKET[0],
                        "the suite_ticket is unknown or expired: the latest pushed one must be used; "
                        + console.REFRESH_TICKET[1])
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
