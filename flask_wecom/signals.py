"""Blinker signals. They notify; they never steer control flow by return value.

Every signal is sent with the Flask app as sender, and only through :func:`send`: a receiver that
raises is logged with its name and never changes the answer (a page, a redirect, WeCom's `success`).
"""
from __future__ import annotations

import logging
from inspect import iscoroutinefunction
from typing import Any, Callable

from blinker import NamedSignal, Namespace
from flask import current_app, has_app_context

log = logging.getLogger("flask_wecom.signals")

_signals = Namespace()


def receiver_name(receiver: Callable[..., Any]) -> str:
    """``module.QualifiedName`` of a receiver, for the log line that names the one that raised."""
    target = getattr(receiver, "__func__", receiver)  # bound method -> its function
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    module = getattr(target, "__module__", None)
    return f"{module}.{qualname}" if module else qualname


def send(signal: NamedSignal, sender: Any, **kwargs: Any) -> None:
    """Call every receiver of ``signal`` for ``sender``; one that raises is logged, and the others
    still run. Async receivers run through ``current_app.ensure_sync`` (as Flask sends its own
    signals). Returns nothing on purpose: signals notify, they do not decide."""
    if getattr(signal, "is_muted", False):  # blinker >= 1.7
        return
    for receiver in list(signal.receivers_for(sender)):
        try:
            if iscoroutinefunction(receiver):
                if not has_app_context():
                    raise RuntimeError("an async receiver needs an app context")
                current_app.ensure_sync(receiver)(sender, **kwargs)
            else:
                receiver(sender, **kwargs)
        except Exception:  # noqa: BLE001 - the app's receiver, not our control flow
            log.exception("receiver %s of the %s signal raised; the answer is unchanged",
                          receiver_name(receiver), signal.name)

#: A suite_ticket for our suite was stored. kwargs: ``suite_id``, ``event``.
suite_ticket_received = _signals.signal("wecom-suite-ticket-received")

#: A corp authorized the app and its permanent code is stored. kwargs: ``corp_id``, ``corp`` (CorpRecord).
corp_authorized = _signals.signal("wecom-corp-authorized")

#: change_auth: the corp changed the app's authorization (visible range, disabled/enabled…).
#: kwargs: ``corp_id``, ``corp`` (refreshed CorpRecord or None when the refresh failed), ``event``.
corp_auth_changed = _signals.signal("wecom-corp-auth-changed")

#: cancel_auth: the corp removed the app; its secret and tokens are gone. kwargs: ``corp_id``, ``event``.
corp_auth_cancelled = _signals.signal("wecom-corp-auth-cancelled")

#: reset_permanent_code: a new permanent code replaced the old one. kwargs: ``corp_id``, ``corp``.
permanent_code_reset = _signals.signal("wecom-permanent-code-reset")

#: Every decrypted callback message (template or app callback). kwargs: ``event`` (CallbackEvent),
#: ``endpoint`` ("template" or "data").
callback_received = _signals.signal("wecom-callback-received")

#: An AuthCode could not be exchanged. kwargs: ``auth_code_id``, ``error`` (str, no secrets).
auth_code_failed = _signals.signal("wecom-auth-code-failed")

#: A user finished the WeCom login. kwargs: ``user`` (WeComUser).
user_logged_in = _signals.signal("wecom-user-logged-in")

#: A user logged out. kwargs: ``user``.
user_logged_out = _signals.signal("wecom-user-logged-out")

#: The login round trip failed. kwargs: ``error`` (WeComError).
login_failed = _signals.signal("wecom-login-failed")
