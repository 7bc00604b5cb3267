"""Blinker signals. They notify; they never steer control flow by return value.

Every signal is sent with the Flask app as sender. The callback signals are sent through
:func:`flask_wecom.callback.notify`: a receiver that raises is logged and never changes WeCom's answer.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

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
