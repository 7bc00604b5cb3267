"""The session cookie, hardened by default (``WECOM_HARDEN_SESSION_COOKIE``, on unless set False).

The login's state and the member's record live in Flask's session cookie, so flask-wecom makes it
``Secure`` when the app is served over HTTPS and ``SameSite=Lax`` (the login still works: WeCom comes back
with a top-level GET, which Lax cookies follow). It never overrides what the app chose:

* ``SESSION_COOKIE_SAMESITE``: set to ``"Lax"`` at ``init_app`` only when the app left it at Flask's
  default (``None``);
* ``SESSION_COOKIE_SECURE``: set to ``True`` at ``init_app`` when ``WECOM_PUBLIC_URL`` is ``https://…``
  and the app left it at Flask's default (``False``);
* a request that arrives over HTTPS (``request.is_secure``: TLS at gunicorn, or ``X-Forwarded-Proto:
  https`` from a proxy that ``ProxyFix`` or gunicorn's ``forwarded_allow_ips`` trusts) gets a ``Secure``
  cookie too. That is decided per request by a subclass of Flask's own session interface, installed
  only when the app still uses Flask's default one; an app with its own session interface
  (Flask-Session…) keeps it untouched and sets ``SESSION_COOKIE_SECURE`` itself.

``False`` and ``None`` cannot be told apart from Flask's defaults, so an app that wants neither sets
``WECOM_HARDEN_SESSION_COOKIE = False``.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

__all__ = ["HardenedSessionInterface", "harden_session_cookie"]


class HardenedSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with a ``Secure`` cookie on every request that came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        if super().get_cookie_secure(app):
            return True
        return has_request_context() and request.is_secure


def harden_session_cookie(app: Flask, config: Mapping[str, Any]) -> None:
    """Called by ``WeCom.init_app``; changes only settings the app left at Flask's defaults."""
    if not config.get("WECOM_HARDEN_SESSION_COOKIE", True):
        return
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    public = str(config.get("WECOM_PUBLIC_URL") or "").strip().lower()
    if public.startswith("https://") and app.config.get("SESSION_COOKIE_SECURE") is False:
        app.config["SESSION_COOKIE_SECURE"] = True
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = HardenedSessionInterface()
