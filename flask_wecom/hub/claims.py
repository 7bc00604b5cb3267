"""Who the member is to a relying party: ``sub`` and the claims of the id_token and userinfo.

``sub`` (public subject type: the same for every client) is stable per corp and member::

    sub = hex(SHA-256("flask-wecom hub sub v1" NUL issuer NUL corp_id NUL userid))[:40]

keyed by the issuer, so two hubs give a member different subjects, and a hub keeps the member's
subject for as long as its issuer URL stays the same. ``corp_id`` and ``userid`` keep their case
(post-2022 代开发 ids are encrypted and case-sensitive, developer.work.weixin.qq.com/document/path/97104).

Claims by scope: ``openid`` → ``sub``, ``wecom_corp_id``, ``wecom_userid``; ``profile`` → ``name``,
``preferred_username`` (the userid), ``picture``; ``email`` → ``email``. A field WeCom withheld
(``wecom_user.withheld``, doc 98980) or did not give is absent, never empty, and ``name`` is absent
rather than the userid fallback when WeCom withheld it.
"""
from __future__ import annotations

import hashlib
from typing import Any, Dict, Mapping

from ..user import WeComUser

__all__ = ["subject", "member_claims"]


def subject(issuer: str, corp_id: str, userid: str) -> str:
    """The ``sub`` of a member (see the module docstring for the construction)."""
    material = "\x00".join(("flask-wecom hub sub v1", issuer, corp_id, userid)).encode("utf-8")
    return hashlib.sha256(material).hexdigest()[:40]


def member_claims(issuer: str, record: Mapping[str, Any], scope: str) -> Dict[str, Any]:
    """The claims for a member's session record (:meth:`WeComUser.to_session`) and a granted scope."""
    user = WeComUser.from_session(record)
    if user is None:
        raise ValueError("not a member record")
    scopes = set(str(scope or "").split())
    withheld = set(user.withheld)
    claims: Dict[str, Any] = {
        "sub": subject(issuer, user.corp_id, user.userid),
        "wecom_corp_id": user.corp_id,
        "wecom_userid": user.userid,
    }
    if "profile" in scopes:
        if user.name and "name" not in withheld and record.get("name"):
            claims["name"] = user.name
        claims["preferred_username"] = user.userid
        if user.avatar and "avatar" not in withheld:
            claims["picture"] = user.avatar
    if "email" in scopes and user.email and "email" not in withheld:
        claims["email"] = user.email
    return claims
