"""What a 代开发 app may read about a member, and what to ask for when WeCom withholds a field.

Framework-free; one place for the rule and its words (the login, the doctor and pages read it).

A 代开发 (customized) app's basic permission gives a member's userid and department ids only
(developer.work.weixin.qq.com/document/path/98980). The name, email, mobile, avatar, gender,
position… are custom permissions (``contact:sensitive:*``) that the provider requests and the
customer confirms, or that the customer's admin grants; ``POST /cgi-bin/agent/get_permissions``
lists what the app holds (developer.work.weixin.qq.com/document/path/99052). ``auth/getuserdetail``
returns a sensitive field only when the admin granted it *and* the member consented
(``snsapi_privateinfo``, developer.work.weixin.qq.com/document/path/96443).

Self-built apps are not limited this way here, and third-party apps follow their own rules (the
name is the userid, no email or mobile).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Tuple

__all__ = [
    "USER_NAME",
    "EMAIL",
    "FIELD_PERMISSIONS",
    "LABELS",
    "WHY_ZH",
    "WHY_EN",
    "FIX_ZH",
    "FIX_EN",
    "Withheld",
    "withheld_fields",
    "explain",
    "CACHE_SECONDS",
    "cache_key",
]

USER_NAME = "contact:sensitive:user_name"
EMAIL = "contact:sensitive:email"

#: member field (as :class:`~flask_wecom.user.WeComUser` names it) → the permission that grants it
FIELD_PERMISSIONS: Dict[str, str] = {
    "name": USER_NAME,
    "email": EMAIL,
    "mobile": "contact:sensitive:mobile",
    "avatar": "contact:sensitive:avatar",
    "gender": "contact:sensitive:gender",
    "position": "contact:sensitive:position",
    "biz_mail": "contact:sensitive:biz_mail",
}

#: field → (中文, English) label
LABELS: Dict[str, Tuple[str, str]] = {
    "name": ("姓名", "name"),
    "email": ("邮箱", "email"),
    "mobile": ("手机", "mobile"),
    "avatar": ("头像", "avatar"),
    "gender": ("性别", "gender"),
    "position": ("职务", "position"),
    "biz_mail": ("企业邮箱", "business mail"),
}

WHY_ZH = ("代开发应用的基础权限只能读取成员的账号（UserID）和所在部门；姓名、邮箱等属于自定义权限，"
          "需要单独授予（developer.work.weixin.qq.com/document/path/98980）")
WHY_EN = ("a 代开发 (customized) app's basic permission reads only a member's UserID and departments; the "
          "name, email and the like are custom permissions that must be granted "
          "(developer.work.weixin.qq.com/document/path/98980)")
FIX_ZH = ("服务商在服务商管理后台「代开发应用 → 申请自定义权限」申请相应权限（客户企业确认后生效），"
          "或由客户企业的管理员在管理后台「应用管理 → 本应用 → 权限管理」授予；授予后成员重新登录即可")
FIX_EN = ("the provider requests the permission in the provider console (代开发应用 → 申请自定义权限, "
          "request custom permissions; it takes effect once the customer confirms), or the customer's admin "
          "grants it in the admin console (应用管理 → this app → 权限管理, permissions); members then log in "
          "again")


@dataclass(frozen=True)
class Withheld:
    """Words for a set of withheld fields: labels, the permissions to ask for, why, and the fix."""

    fields: Tuple[str, ...]
    labels_zh: str
    labels_en: str
    permissions: Tuple[str, ...]
    why_zh: str = WHY_ZH
    why_en: str = WHY_EN
    fix_zh: str = FIX_ZH
    fix_en: str = FIX_EN

    def __bool__(self) -> bool:
        return bool(self.fields)


#: seconds a corp's app permissions (``agent/get_permissions``) stay in the token cache. A 代开发 login
#: asks for them whenever a member field is missing — every web / QR login, which carries no email — so
#: a warm login reads them from the cache. A change of permissions pushes change_auth
#: (developer.work.weixin.qq.com/document/path/90642), which drops them at once.
CACHE_SECONDS = 600


def cache_key(corp_id: str) -> str:
    """The token-cache key of ``corp_id``'s app permissions (no secret in it)."""
    return f"agentperms|{corp_id}"


def withheld_fields(missing: Iterable[str], app_permissions: Iterable[str]) -> Tuple[str, ...]:
    """The ``missing`` fields whose permission is not among ``app_permissions`` (in a fixed order)."""
    absent = set(missing)
    granted = {str(p) for p in app_permissions}
    return tuple(f for f, permission in FIELD_PERMISSIONS.items() if f in absent and permission not in granted)


def explain(fields: Iterable[str]) -> Withheld:
    """Labels and the permissions to request for ``fields`` (unknown names are ignored)."""
    known = tuple(f for f in FIELD_PERMISSIONS if f in set(fields))
    return Withheld(
        fields=known,
        labels_zh="、".join(LABELS[f][0] for f in known),
        labels_en=", ".join(LABELS[f][1] for f in known),
        permissions=tuple(dict.fromkeys(FIELD_PERMISSIONS[f] for f in known)),
    )
