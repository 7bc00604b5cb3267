"""Check 6: ``get_auth_info`` per corp — still authorized; edition / trial expiry (doc 97194)."""
from __future__ import annotations

from typing import Any, List, Mapping, Optional, Tuple

from .. import console
from ..errors import CorpNotFoundError, TransportError, WeComError
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
    _date,
    _result,
)


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


_LICENCE_FIX = _both(f"在{console.LICENCES[0]}为每位要使用本应用的成员购买并激活接口许可（至少基础账号），"
                     "否则成员无法通过身份验证登录（developer.work.weixin.qq.com/document/path/95652）",
                     "buy and activate a licence (at least a basic account) for every member who uses the app, "
                     f"under {console.LICENCES[1]}; without "
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
