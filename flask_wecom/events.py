"""Decrypted callback messages as plain dataclasses.

Two families arrive on the callback URLs (docs 96466 / 97172):

* template (指令) events carry ``InfoType`` — suite_ticket, create_auth, change_auth,
  cancel_auth, reset_permanent_code …;
* app (数据) messages carry ``MsgType`` — ``event`` (with ``Event``: change_contact,
  enter_agent …) or a message type such as ``text``.

:attr:`CallbackEvent.type` names either family with one string, which is what
handlers are registered by.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

from .xmlutil import parse_xml

#: InfoTypes the extension handles by itself (doc 97172).
TEMPLATE_EVENTS = frozenset(
    {"suite_ticket", "create_auth", "change_auth", "cancel_auth", "reset_permanent_code"}
)


@dataclass
class CallbackEvent:
    """One decrypted callback message. ``raw`` keeps every top-level field as WeCom sent it."""

    type: str
    info_type: Optional[str] = None
    msg_type: Optional[str] = None
    event: Optional[str] = None
    change_type: Optional[str] = None
    suite_id: Optional[str] = None
    auth_corp_id: Optional[str] = None
    auth_code: Optional[str] = field(default=None, repr=False)  # single-use credential: keep out of reprs
    suite_ticket: Optional[str] = field(default=None, repr=False)
    state: Optional[str] = None
    to_user: Optional[str] = None
    from_user: Optional[str] = None
    agent_id: Optional[str] = None
    timestamp: Optional[int] = None
    raw: Dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def is_template_event(self) -> bool:
        return self.info_type is not None

    def get(self, name: str, default: object = None) -> object:
        """A field by its XML tag name, e.g. ``event.get("UserID")``."""
        return self.raw.get(name, default)


def _text(fields: Dict[str, object], name: str) -> Optional[str]:
    value = fields.get(name)
    if value is None or isinstance(value, (dict, list)):
        return None
    value = str(value).strip()
    return value or None


def _int(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def parse_event(plaintext_xml: str | bytes) -> CallbackEvent:
    """Parse a decrypted callback body. Malformed XML raises :class:`~flask_wecom.errors.ParseXMLError`."""
    fields = parse_xml(plaintext_xml)
    info_type = _text(fields, "InfoType")
    msg_type = _text(fields, "MsgType")
    event = _text(fields, "Event")
    if info_type:
        kind = info_type
    elif msg_type == "event" and event:
        kind = event
    else:
        kind = msg_type or "unknown"
    return CallbackEvent(
        type=kind,
        info_type=info_type,
        msg_type=msg_type,
        event=event,
        change_type=_text(fields, "ChangeType"),
        suite_id=_text(fields, "SuiteId"),
        auth_corp_id=_text(fields, "AuthCorpId"),
        auth_code=_text(fields, "AuthCode"),
        suite_ticket=_text(fields, "SuiteTicket"),
        state=_text(fields, "State"),
        to_user=_text(fields, "ToUserName"),
        from_user=_text(fields, "FromUserName"),
        agent_id=_text(fields, "AgentID"),
        timestamp=_int(_text(fields, "TimeStamp") or _text(fields, "CreateTime")),
        raw=dict(fields),
    )
