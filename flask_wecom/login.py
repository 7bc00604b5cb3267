"""The Flask side of login: ``wecom_user``, ``login_required`` and the session record.

Modelled on Flask-Login's ``utils.py``: the current user is a :class:`~werkzeug.local.LocalProxy`
cached on :data:`flask.g`; :func:`login_required` exempts ``OPTIONS``, hands off to an overridable
:func:`unauthorized` and calls the view through ``current_app.ensure_sync``.

The session holds only the small record of :meth:`WeComUser.to_session` under ``_wecom_user``
(plus pending login states under ``_wecom_login``). Access tokens and user tickets stay on the
server: a signed cookie is readable by its owner.

Your own users (``@wecom.user_loader``)
    ``@wecom.user_loader`` gets the :class:`WeComUser` at login and on every request that reads
    ``wecom_user``; return your app's user object (available as ``wecom_user.app_user``) or
    ``None`` to refuse the login / end the session.

Flask-Login (optional)
    When the app also uses Flask-Login (``LoginManager().init_app(app)``) and has a
    ``@wecom.user_loader``, the object the loader returns is logged in with
    ``flask_login.login_user`` at the end of the WeCom login and logged out with
    ``flask_login.logout_user`` at ``/wecom/logout`` — so ``current_user`` and Flask-Login's own
    ``login_required`` work as usual. Flask-Login's ``user_loader`` must load that object back from
    its ``get_id()``; point ``login_manager.login_view = "wecom.login"`` to send anonymous users to
    WeCom. ``WECOM_FLASK_LOGIN = False`` turns the bridge off.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from functools import wraps
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, TypeVar, Union, cast
from urllib.parse import urlsplit

from flask import Flask, current_app, g, has_request_context, jsonify, redirect, request, session, url_for
from markupsafe import Markup, escape
from werkzeug.local import LocalProxy

from . import signals
from .state import WeComState, current_app_object, get_state
from .user import AnonymousUser, WeComUser

if TYPE_CHECKING:
    from .extension import WeCom

log = logging.getLogger("flask_wecom.login")

__all__ = [
    "wecom_user",
    "login_required",
    "login_user",
    "logout_user",
    "unauthorized",
    "wants_json",
    "safe_next",
    "logout_token",
    "init_login",
    "SESSION_KEY",
    "STATES_KEY",
]

#: session key of the logged-in user's record
SESSION_KEY = "_wecom_user"
#: session key of the logins in progress (state → expiry, next, corp)
STATES_KEY = "_wecom_login"
#: requests that never need a login (CORS preflight), as in Flask-Login
EXEMPT_METHODS = frozenset({"OPTIONS"})
_G_KEY = "_wecom_user"

#: a view function (sync or async) that ``login_required`` wraps and returns with its own type
ViewT = TypeVar("ViewT", bound=Callable[..., Any])


def _wecom() -> WeComState:
    return get_state()


# -- the current user ----------------------------------------------------------------------


def _load_user() -> Union[WeComUser, AnonymousUser]:
    record = session.get(SESSION_KEY)
    if not record:
        return AnonymousUser()
    user = WeComUser.from_session(record)
    if user is None:
        session.pop(SESSION_KEY, None)
        return AnonymousUser()
    loader = _wecom().ext._user_loader
    if loader is not None:
        app_user = current_app.ensure_sync(loader)(user)
        if app_user is None:  # the app no longer knows this member: log them out, like Flask-Login
            session.pop(SESSION_KEY, None)
            return AnonymousUser()
        user.app_user = app_user
    return user


def _get_user() -> Union[WeComUser, AnonymousUser]:
    if _G_KEY not in g:
        g._wecom_user = _load_user()
    user: Union[WeComUser, AnonymousUser] = g._wecom_user
    return user


#: The member who logged in with WeCom (:class:`~flask_wecom.user.WeComUser`), or an
#: :class:`~flask_wecom.user.AnonymousUser` whose ``is_authenticated`` is False.
#:
#: Typed as :class:`WeComUser`, what it is where it is meant to be read (a ``login_required`` view),
#: the way Flask types ``request`` as a Request: outside such views check ``is_authenticated`` first
#: (an anonymous user's fields are ``None``). Our own code reads the union through ``_get_user()``.
wecom_user: WeComUser = LocalProxy(_get_user)  # type: ignore[assignment]  # a proxy standing for the user


def login_user(user: WeComUser, app_user: Any = None) -> None:
    """Put ``user`` in the session (and, when the app uses Flask-Login, its ``app_user`` there too).

    The login view renews the session (``session.clear()``) before calling this, so a session id
    or state planted before the login does not survive it.
    """
    app = current_app_object()
    user.app_user = app_user
    record = user.to_session()
    record["_at"] = int(app.extensions["wecom"].clock())  # the app's clock (WeCom(app, clock=...))
    session[SESSION_KEY] = record
    g._wecom_user = user
    if app_user is not None and _flask_login_in_use(app):
        import flask_login

        flask_login.login_user(app_user)
    signals.send(signals.user_logged_in, app, user=user)


def logout_user() -> Optional[WeComUser]:
    """Forget the logged-in member; returns who it was (None when nobody was logged in)."""
    app = current_app_object()
    user = _get_user()
    session.pop(SESSION_KEY, None)
    g._wecom_user = AnonymousUser()
    if _flask_login_in_use(app):
        import flask_login

        flask_login.logout_user()
    if user.is_authenticated:
        signals.send(signals.user_logged_out, app, user=user)
        return user  # type: ignore[return-value]
    return None


def _flask_login_in_use(app: Flask) -> bool:
    """Flask-Login is installed, the app set up a LoginManager, and WECOM_FLASK_LOGIN allows it."""
    if not app.config.get("WECOM_FLASK_LOGIN", True) or getattr(app, "login_manager", None) is None:
        return False
    try:
        import flask_login  # noqa: F401
    except ImportError:
        return False
    return True


def logout_token() -> str:
    """A token tying the logout form to this login (HMAC of the session record; not a secret of WeCom)."""
    record = session.get(SESSION_KEY)
    if not record:
        return ""
    key = str(current_app.config.get("SECRET_KEY") or "").encode("utf-8")
    message = f"logout|{record.get('corp_id')}/{record.get('userid')}|{record.get('_at')}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


# -- login_required ------------------------------------------------------------------------


def wants_json() -> bool:
    """True for requests that want a JSON answer (JSON body, XHR, or Accept preferring JSON)."""
    if request.is_json or request.headers.get("X-Requested-With", "").lower() == "xmlhttprequest":
        return True
    accept = request.accept_mimetypes
    return accept.best_match(["text/html", "application/json"]) == "application/json" and \
        accept["application/json"] > accept["text/html"]


def _current_path() -> str:
    path = request.script_root + request.path
    if request.query_string:
        path += "?" + request.query_string.decode("latin-1")
    return path


def unauthorized() -> Any:
    """What an anonymous request to a ``login_required`` view gets.

    ``@wecom.unauthorized_handler`` replaces it. Default: JSON 401 for requests that want JSON,
    otherwise a redirect to ``/wecom/login?next=<this page>``.
    """
    handler = _wecom().ext._unauthorized_handler
    if handler is not None:
        return current_app.ensure_sync(handler)()
    login_url = url_for("wecom.login", next=_current_path())
    if wants_json():
        response = jsonify(error="login_required", message="请先登录企业微信 / log in with WeCom first",
                           login_url=url_for("wecom.login"))
        response.status_code = 401
        return response
    return redirect(login_url)


def login_required(func: ViewT) -> ViewT:
    """Let only members who logged in with WeCom through; everyone else gets :func:`unauthorized`.

    ``from flask_wecom import login_required`` and ``@wecom.login_required`` are the same. The view
    keeps its type (its signature) for the type checker.
    """

    @wraps(func)
    def decorated_view(*args: Any, **kwargs: Any) -> Any:
        if request.method not in EXEMPT_METHODS and not _get_user().is_authenticated:
            return unauthorized()
        return current_app.ensure_sync(func)(*args, **kwargs)

    return cast(ViewT, decorated_view)


# -- `next` --------------------------------------------------------------------------------


def safe_next(value: Optional[str]) -> Optional[str]:
    """``value`` if it is a relative path on this site, else None (no open redirect).

    Refused: absolute and scheme-relative URLs (``https://evil.com``, ``//evil.com``), backslash
    tricks browsers read as ``//`` (``/\\evil.com``), ``javascript:`` and other schemes, and any
    control character or whitespace (browsers drop tabs and newlines: ``/\\t/evil.com``).
    """
    if not value or not isinstance(value, str) or len(value) > 2048:
        return None
    if not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


# -- wiring --------------------------------------------------------------------------------


def code_spans(text: Any) -> Markup:
    """Template filter ``wecom_code``: the backquoted spans of a message (`` `flask wecom exchange` ``) as
    ``<code>``, everything else escaped, so a page never shows a literal backtick."""
    parts = str(text if text is not None else "").split("`")
    if len(parts) % 2 == 0:  # unbalanced: drop the stray backtick rather than show it
        return escape("".join(parts))
    return Markup("").join(Markup("<code>%s</code>") % part if i % 2 else escape(part)
                           for i, part in enumerate(parts))


def init_login(wecom: WeCom, app: Flask) -> None:
    """Called by ``WeCom.init_app``: make ``wecom_user`` and the logout token available in templates."""
    app.add_template_filter(code_spans, "wecom_code")

    def context() -> Dict[str, Any]:
        # the proxy, not the user: a page that never shows the user (the 503 page while the database
        # behind a user_loader is down) must not call the loader just by being rendered
        user = wecom_user if has_request_context() else AnonymousUser()
        return {"wecom_user": user, "wecom_logout_token": logout_token}

    app.context_processor(context)
