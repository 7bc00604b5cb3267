"""Check 8: what the app may read about a member (``agent/get_permissions``, doc 99052)."""
from __future__ import annotations

from typing import List

from .. import permissions
from ..config import INTERNAL, THIRD_PARTY
from ..errors import TransportError, WeComError
from .base import (
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
