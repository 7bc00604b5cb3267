"""The logged-in WeCom member, and the anonymous user.

Framework-free: :class:`WeComUser` is a plain dataclass. The Flask layer
(:mod:`flask_wecom.login`) keeps :meth:`WeComUser.to_session` in the session cookie —
a small record of who the user is, **never a token or ticket** — and rebuilds the user
with :meth:`WeComUser.from_session` on each request.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .permissions import FIELD_PERMISSIONS

__all__ = ["WeComUser", "AnonymousUser"]

#: Most departments kept in the session record (the cookie must stay well under 4 KB).
MAX_DEPARTMENTS = 20
#: Longest string kept per field in the session record.
MAX_FIELD_LENGTH = 512
#: profile fields that read as "" when WeCom did not give them, so f"{wecom_user.email}" is never "None"
_TEXT_FIELDS = ("email", "biz_mail", "avatar", "gender", "mobile", "position", "alias", "open_userid")


@dataclass
class WeComUser:
    """A WeCom member who completed the login round trip.

    ``userid`` is the member's UserID as the app sees it (for 代开发 installs after June 2022 an
    encrypted, case-sensitive id — developer.work.weixin.qq.com/document/path/97104) and ``corp_id``
    the corp it belongs to. Text fields WeCom did not return are ``""`` (``main_department``:
    ``None``): a missing ``email`` means the member has no email visible to this app (scope
    ``snsapi_base``, web/QR login, the admin did not grant it, or a third-party app), never an error.

    ``name`` falls back to ``userid`` when WeCom does not give the name (a 代开发 app without the
    ``contact:sensitive:user_name`` permission, doc 98980), so it is never empty. ``withheld`` names
    the fields WeCom kept back because the 代开发 app lacks their permission (``("name", "email")``
    …); those fields read as ``""`` (``name``: the userid). See :mod:`flask_wecom.permissions` for
    what to ask the admin for.
    """

    userid: str
    corp_id: str
    # Text fields are ``str``: ``None`` (or nothing) given here reads as ``""`` after __post_init__ and
    # ``name`` as the userid, so the types a user's mypy sees are the values the code reads.
    name: str = ""
    email: str = ""
    biz_mail: str = ""
    avatar: str = ""
    #: "0" unknown, "1" male, "2" female — as WeCom sends it
    gender: str = ""
    mobile: str = ""
    department: List[int] = field(default_factory=list)
    main_department: Optional[int] = None
    position: str = ""
    alias: str = ""
    open_userid: str = ""
    #: "member" for everyone who gets this far (non-members are refused at login)
    kind: str = "member"
    #: fields WeCom withheld for lack of permission (代开发 apps, doc 98980), e.g. ``("name", "email")``
    withheld: Tuple[str, ...] = ()
    #: the object your ``@wecom.user_loader`` returned (per request; never stored in the session)
    app_user: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.withheld = tuple(str(f) for f in (self.withheld or ()) if f in FIELD_PERMISSIONS)
        if not self.name:
            self.name = self.userid  # documented fallback: the name may be withheld (doc 98980)
        for name in _TEXT_FIELDS:  # a field WeCom did not give (withheld, not consented, QR login) is ""
            if getattr(self, name) is None:
                setattr(self, name, "")

    # -- Flask-Login style attributes ------------------------------------------------------

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """``corp_id/userid``: unique across the corps that authorized the app."""
        return f"{self.corp_id}/{self.userid}"

    @property
    def display_name(self) -> str:
        if self.name and self.name != self.userid:
            return self.name
        return self.alias or self.userid

    @property
    def gender_label(self) -> str:
        return {"1": "男 / male", "2": "女 / female"}.get(str(self.gender or ""), "-")

    # -- session record --------------------------------------------------------------------

    def to_session(self) -> Dict[str, Any]:
        """The small, JSON-serialisable record kept in the session (no tokens, no ``app_user``)."""
        record: Dict[str, Any] = {}
        for f in fields(self):
            if f.name == "app_user":
                continue
            value = getattr(self, f.name)
            if value is None or value == [] or value == "" or value == ():
                continue
            if f.name == "name" and value == self.userid:
                continue  # the fallback: rebuilt by from_session
            if f.name == "withheld":
                value = list(value)
            elif f.name == "department":
                value = [int(d) for d in list(value)[:MAX_DEPARTMENTS]]
            elif isinstance(value, str):
                value = value[:MAX_FIELD_LENGTH]
            record[f.name] = value
        return record

    @classmethod
    def from_session(cls, record: Mapping[str, Any]) -> Optional[WeComUser]:
        """Rebuild a user from :meth:`to_session`; ``None`` when the record is unusable."""
        if not isinstance(record, Mapping):
            return None
        userid, corp_id = record.get("userid"), record.get("corp_id")
        if not isinstance(userid, str) or not isinstance(corp_id, str) or not userid or not corp_id:
            return None
        known = {f.name for f in fields(cls)} - {"app_user"}
        values = {key: value for key, value in record.items() if key in known}
        department = values.get("department") or []
        try:
            values["department"] = [int(d) for d in department]
        except (TypeError, ValueError):
            values["department"] = []
        withheld = values.get("withheld")
        values["withheld"] = tuple(withheld) if isinstance(withheld, (list, tuple)) else ()
        return cls(**values)


class AnonymousUser:
    """Who ``wecom_user`` is before login: falsy-authenticated, with every field ``None``."""

    userid: Optional[str] = None
    corp_id: Optional[str] = None
    name: Optional[str] = None
    email: Optional[str] = None
    biz_mail: Optional[str] = None
    avatar: Optional[str] = None
    gender: Optional[str] = None
    mobile: Optional[str] = None
    department: List[int] = []  # noqa: RUF012 -- read-only, the same empty list for every anonymous user
    main_department: Optional[int] = None
    position: Optional[str] = None
    alias: Optional[str] = None
    open_userid: Optional[str] = None
    kind: str = "anonymous"
    withheld: Tuple[str, ...] = ()
    app_user: Any = None
    display_name: str = ""
    gender_label: str = "-"

    @property
    def is_authenticated(self) -> bool:
        return False

    @property
    def is_active(self) -> bool:
        return False

    @property
    def is_anonymous(self) -> bool:
        return True

    def get_id(self) -> None:
        return None

    def __bool__(self) -> bool:  # `{% if wecom_user %}` reads naturally in templates
        return False

    def __repr__(self) -> str:
        return "<AnonymousUser>"
