"""The hub's Flask layer: a blueprint served under the issuer's path (``WECOM_HUB_ISSUER``).

``<issuer>/.well-known/openid-configuration``, ``/authorize``, ``/token``, ``/userinfo``, ``/jwks`` and
``/logout`` (the ``end_session_endpoint``). Members sign in with the extension's own WeCom login
(``/wecom/login?next=…``); the hub then keeps its own signed cookie (path: the issuer's path) for
``WECOM_HUB_SESSION_DAYS`` from that WeCom sign-in, so the next tool signs in with no WeCom round trip.

Nothing here logs, renders or raises a code, a token, a client secret or a key.
"""
from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .. import reasons
from ..errors import ConfigError
from ..login import SESSION_KEY, logout_user, safe_next, wecom_user
from ..state import current_app_object, get_state
from .claims import member_claims
from .clients import SCOPES, HubClient, parse_clients
from .keys import KeyRing
from .server import HubMember, create_server
from .storage import HubStorage

log = logging.getLogger("flask_wecom.hub")

__all__ = ["Hub", "register_hub", "HUB_ERRORS"]

COOKIE_NAME = "wecom_hub"
_LOGOUT_CSRF_KEY = "_wecom_hub_logout"
#: seconds within which a WeCom sign-in counts as "just now" (prompt=login, and no loop on a refused corp)
FRESH_LOGIN = 120


def _now() -> float:
    """The app's clock (``WeCom(app, clock=...)``; time.time unless a test gives another)."""
    return get_state().clock()

#: reason -> (HTTP status, title zh, title en, what zh, what en, fix zh, fix en) of the hub's own error pages; the
#: words are written in flask_wecom/reasons.py (``hub_<reason>``)
HUB_ERRORS: Dict[str, Tuple[int, str, str, str, str, str, str]] = {
    name[len("hub_"):]: (record.status, *record.title, *record.what, *record.fix)
    for name, record in reasons.PAGES.items() if name.startswith("hub_")
}


class Hub:
    """Everything the hub keeps for one app (``WeComState.hub``)."""

    def __init__(self, app: Flask, state: Any) -> None:
        config = state.config
        self.issuer = str(config["WECOM_HUB_ISSUER"]).rstrip("/")
        parts = urlsplit(self.issuer)
        loopback = (parts.hostname or "") in ("127.0.0.1", "localhost", "::1")
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment or \
                (parts.scheme == "http" and not loopback):
            raise ConfigError(f"WECOM_HUB_ISSUER must be an https:// URL without query or fragment (plain http only "
                              f"for 127.0.0.1 / localhost), got {self.issuer!r}")
        self.path = parts.path.rstrip("/")
        self.secure = parts.scheme == "https"
        #: whether discovery has looked for app routes hiding the hub's (routes added after WeCom(app))
        self.checked_routes = False
        self.clients: Dict[str, HubClient] = parse_clients(config.get("WECOM_HUB_CLIENTS"))
        days = config.get("WECOM_HUB_SESSION_DAYS")
        try:
            self.session_days = float(7 if days is None else days)
        except (TypeError, ValueError):
            raise ConfigError(f"WECOM_HUB_SESSION_DAYS must be a number of days ≥ 0 (got {days!r})") from None
        if self.session_days < 0:
            raise ConfigError(f"WECOM_HUB_SESSION_DAYS must be a number of days ≥ 0 (got {days!r})")
        secret_key = app.config.get("SECRET_KEY")
        if not secret_key:
            raise ConfigError("SECRET_KEY must be set: the hub signs its session cookie with it")
        self._cookies = URLSafeTimedSerializer(secret_key, salt="flask-wecom hub session v1")
        self.storage = HubStorage(state.store, clock=state.clock)
        self.keys = KeyRing(state.store, configured_pem=config.get("WECOM_HUB_SIGNING_KEY") or None,
                            clock=state.clock)
        self.server = create_server(self)

    def __repr__(self) -> str:
        return f"<Hub {self.issuer!r} clients={sorted(self.clients)!r}>"

    def endpoint(self, name: str) -> str:
        return f"{self.issuer}/{name}"

    def metadata(self) -> Dict[str, Any]:
        """The discovery document (OpenID Connect Discovery 1.0 section 3)."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.endpoint("authorize"),
            "token_endpoint": self.endpoint("token"),
            "userinfo_endpoint": self.endpoint("userinfo"),
            "jwks_uri": self.endpoint("jwks"),
            "end_session_endpoint": self.endpoint("logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": list(SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name",
                                 "preferred_username", "email", "picture", "wecom_corp_id", "wecom_userid"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
        }

    # -- the hub session --------------------------------------------------------------------

    @property
    def session_seconds(self) -> float:
        return self.session_days * 86400

    def read_session(self) -> Optional[HubMember]:
        value = request.cookies.get(COOKIE_NAME)
        if not value or self.session_seconds <= 0:
            return None
        try:
            data = self._cookies.loads(value, max_age=int(self.session_seconds))
            member = HubMember(data["m"], float(data["at"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if member.auth_time + self.session_seconds < _now() or not member.record.get("userid"):
            return None
        return member

    def write_session(self, response: Any, member: HubMember) -> None:
        if self.session_seconds <= 0:
            return
        value = self._cookies.dumps({"m": member.record, "at": member.auth_time})
        remaining = max(1, int(member.auth_time + self.session_seconds - _now()))
        response.set_cookie(COOKIE_NAME, value, max_age=remaining, path=self.path or "/", secure=self.secure,
                            httponly=True, samesite="Lax")

    def clear_session(self, response: Any) -> None:
        response.delete_cookie(COOKIE_NAME, path=self.path or "/", secure=self.secure, httponly=True,
                               samesite="Lax")


def _hub() -> Hub:
    hub = get_state().hub
    assert hub is not None  # the hub's views are registered only when it is on
    return hub


def error_page(reason: str, **context: Any) -> Tuple[str, int]:
    record = reasons.page("hub_" + reason)
    failure = {"reason": reason, "status": record.status, **record.render({})}
    return render_template("wecom/hub_error.html", failure=failure, **context), record.status


def _oauth_error(hub: Hub, error: OAuth2Error) -> ResponseReturnValue:
    """An OAuth error after the client and redirect_uri were checked: back to the client (RFC 6749 section 4.1.2.1)."""
    response: Response = hub.server.handle_error_response(None, error)  # Authlib is untyped
    return response


def _app_session_member(hub: Hub) -> Optional[HubMember]:
    """The member signed in to this app with WeCom (the extension's own session), if that sign-in is recent
    enough: within WECOM_HUB_SESSION_DAYS (and always just after the WeCom round trip the hub asked for)."""
    if not wecom_user.is_authenticated:
        return None
    record = session.get(SESSION_KEY) or {}
    auth_time = float(record.get("_at") or 0)
    if auth_time + max(hub.session_seconds, FRESH_LOGIN) < _now():
        return None
    return HubMember(wecom_user.to_session(), auth_time)


def _resume_url() -> str:
    """This authorization request as a relative GET URL, for the login's ``next``."""
    params = [(key, value) for key in request.values for value in request.values.getlist(key)]
    return request.script_root + request.path + "?" + urlencode(params)


# -- views ------------------------------------------------------------------------------------


def discovery_view() -> ResponseReturnValue:
    hub = _hub()
    if not hub.checked_routes:  # a route the app added after WeCom(app) may hide one of the hub's
        hub.checked_routes = True
        taken = shadowed_routes(current_app_object(), hub.path)
        if taken:
            log.error("hub: the app's own routes hide the hub's at the same paths (%s): tools following this "
                      "discovery document reach those views instead; give WECOM_HUB_ISSUER a path of its own",
                      ", ".join(taken))
    response = jsonify(hub.metadata())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def jwks_view() -> ResponseReturnValue:
    response = jsonify(_hub().keys.jwks())
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def authorize_view() -> ResponseReturnValue:
    hub = _hub()
    values = request.values
    # 1. the client and its redirect_uri, before anything else: a bad one is never redirected to
    client = hub.clients.get(values.get("client_id") or "")
    if client is None:
        log.warning("hub: authorization request for an unknown client_id")
        return error_page("unknown_client")
    redirect_uris = values.getlist("redirect_uri")
    if len(redirect_uris) != 1 or not client.check_redirect_uri(redirect_uris[0]):
        log.warning("hub: client %s asked for a redirect_uri that is not registered for it", client.client_id)
        return error_page("redirect_uri_mismatch", client=client)
    # 2. which member: the latest WeCom sign-in, of the hub's session and this app's own login (the one the
    #    hub just sent the member to, e.g. with another corp, is newer than the hub cookie)
    member = hub.read_session()
    from_app = False
    app_member = _app_session_member(hub)
    if app_member is not None and (member is None or app_member.auth_time >= member.auth_time):
        member, from_app = app_member, True
    corp_id = values.get("corp_id") or None  # documented extension: the corp to sign in with
    if corp_id is not None and not client.allows_corp(corp_id):
        return _oauth_error(hub, OAuth2Error(error="invalid_request", description="corp_id is not allowed for "
                                             "this client", redirect_uri=redirect_uris[0],
                                             state=values.get("state")))
    if corp_id is None and len(client.corps) == 1:
        corp_id = client.corps[0]
    prompt = set((values.get("prompt") or "").split())
    fresh = member is not None and member.auth_time >= _now() - FRESH_LOGIN
    if member is not None and corp_id is not None and member.corp_id != corp_id:
        member = None  # signed in with another corp: sign in again with this one
    elif member is not None and not client.allows_corp(member.corp_id):
        if fresh:  # just signed in, and with a corp this client does not serve: no loop, a clear refusal
            return _oauth_error(hub, OAuth2Error(error="access_denied", description="this member's corp may not "
                                                 "use this client", redirect_uri=redirect_uris[0],
                                                 state=values.get("state")))
        member = None
    if member is not None and "login" in prompt and not fresh:
        member = None
    max_age = values.get("max_age")
    if member is not None and max_age is not None and not fresh:
        try:  # OIDC Core section 3.1.2.1: a sign-in older than max_age seconds must be done again
            if member.auth_time + max(0, int(max_age)) < _now():
                member = None
        except ValueError:
            return _oauth_error(hub, OAuth2Error(error="invalid_request", description="max_age must be a whole "
                                                 "number of seconds", redirect_uri=redirect_uris[0],
                                                 state=values.get("state")))
    # 3. the rest of the request, checked by Authlib (errors go back to the client)
    try:
        grant = hub.server.get_consent_grant(end_user=member)
        challenge, method = values.get("code_challenge"), values.get("code_challenge_method")
        if client.public and not challenge:
            raise OAuth2Error(error="invalid_request", description="public clients must use PKCE "
                              "(code_challenge with code_challenge_method=S256)")
        if challenge and method != "S256":
            raise OAuth2Error(error="invalid_request", description="code_challenge_method must be S256")
    except OAuth2Error as error:
        error.redirect_uri = redirect_uris[0]
        error.state = values.get("state")
        return _oauth_error(hub, error)
    if member is None:  # 4. to WeCom, and back here afterwards
        resume = _resume_url()
        if safe_next(resume) is None:
            return error_page("request_too_long", client=client)
        args: Dict[str, Any] = {"next": resume}
        if corp_id:
            args["corp_id"] = corp_id
        return redirect(url_for("wecom.login", **args))
    # 5. the code, back to the client
    try:
        status, body, headers = grant.create_authorization_response(grant.redirect_uri, member)
    except OAuth2Error as error:
        return _oauth_error(hub, error)
    response: Response = hub.server.handle_response(status, body, headers)
    if from_app:
        hub.write_session(response, member)
    log.info("hub: signed %s/%s in to client %s", member.corp_id, member.userid, client.client_id)
    return response


def _cors(response: Response) -> Response:
    """Browser apps (public clients) call the token and userinfo endpoints from their own origin. No cookie
    is involved there (client credentials, PKCE, Bearer tokens), so any origin may."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def token_view() -> ResponseReturnValue:
    if request.method == "OPTIONS":
        return _cors(current_app.make_response(("", 204)))
    return _cors(_hub().server.create_token_response())


def userinfo_view() -> ResponseReturnValue:
    if request.method == "OPTIONS":
        return _cors(current_app.make_response(("", 204)))
    hub = _hub()
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else request.form.get("access_token", "")
    record = hub.storage.token(token) if token else None
    if record is None:
        response = jsonify(error="invalid_token", error_description="the access token is unknown, expired or revoked")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return _cors(response)
    response = jsonify(member_claims(hub.issuer, record.member, record.scope))
    response.headers["Cache-Control"] = "no-store"
    return _cors(response)


def logout_view() -> ResponseReturnValue:
    """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): sign out, then back to a registered URI."""
    hub = _hub()
    values = request.values
    hint = values.get("id_token_hint")
    claims = hub.keys.verify(hint) if hint else None
    if claims is not None and claims.get("iss") != hub.issuer:
        claims = None
    client_id = values.get("client_id") or (claims or {}).get("aud")
    if isinstance(client_id, list):
        client_id = client_id[0] if len(client_id) == 1 else None
    client = hub.clients.get(client_id or "")
    target = values.get("post_logout_redirect_uri")
    if target is not None and (client is None or not client.check_post_logout_redirect_uri(target)):
        log.warning("hub: sign-out asked for a post_logout_redirect_uri not registered for client %s",
                    client.client_id if client else "(unknown)")
        return error_page("logout_uri_mismatch", client=client)
    confirmed = request.method == "POST" and hmac.compare_digest(
        str(values.get("confirm") or ""), str(session.get(_LOGOUT_CSRF_KEY) or "-"))
    if claims is None and not confirmed:
        # no proof the request comes from a client the member used: ask (a GET must not sign anyone out)
        token = secrets.token_urlsafe(24)
        session[_LOGOUT_CSRF_KEY] = token
        fields = [(k, v) for k in ("client_id", "post_logout_redirect_uri", "state") for v in values.getlist(k)]
        return render_template("wecom/hub_logout.html", fields=fields, confirm=token, client=client,
                               action=request.script_root + request.path, done=False)
    session.pop(_LOGOUT_CSRF_KEY, None)
    member = hub.read_session()
    logout_user()
    if target is not None:
        if values.get("state"):
            target += ("&" if "?" in target else "?") + urlencode({"state": values["state"]})
        response = redirect(target)
    else:
        response = current_app.make_response(
            render_template("wecom/hub_logout.html", fields=[], confirm="", client=client, action="", done=True))
    hub.clear_session(response)
    if member is not None:
        log.info("hub: signed %s/%s out", member.corp_id, member.userid)
    return response


#: the hub's routes under the issuer's path: (path, endpoint, view, methods)
_ROUTES: Tuple[Tuple[str, str, Any, Tuple[str, ...]], ...] = (
    ("/.well-known/openid-configuration", "discovery", discovery_view, ("GET",)),
    ("/jwks", "jwks", jwks_view, ("GET",)),
    ("/authorize", "authorize", authorize_view, ("GET", "POST")),
    ("/token", "token", token_view, ("POST", "OPTIONS")),
    ("/userinfo", "userinfo", userinfo_view, ("GET", "POST", "OPTIONS")),
    ("/logout", "logout", logout_view, ("GET", "POST")),
)


def shadowed_routes(app: Flask, prefix: str) -> List[str]:
    """The app's routes (other than the hub's) at the very paths the hub serves under ``prefix``, as
    ``"<path> (<endpoint>)"``: werkzeug answers such a path with whichever rule came first, so the hub's
    endpoint (an advertised end_session_endpoint, say) would silently be another view."""
    paths = {prefix + path: set(methods) for path, _name, _view, methods in _ROUTES}
    taken = []
    for rule in app.url_map.iter_rules():
        methods = paths.get(rule.rule)
        if methods is not None and not rule.endpoint.startswith("wecom_hub.") and methods & set(rule.methods or ()):
            taken.append(f"{rule.rule} ({rule.endpoint})")
    return sorted(taken)


def register_hub(app: Flask, state: Any) -> None:
    """Create the hub (``state.hub``) and mount its blueprint at the issuer's path."""
    hub = Hub(app, state)
    taken = shadowed_routes(app, hub.path)
    if taken:  # e.g. an issuer path equal to WECOM_URL_PREFIX: its /logout would be the extension's
        raise ConfigError(f"WECOM_HUB_ISSUER: the hub's routes under {hub.path or '/'!r} are already the app's "
                          f"({', '.join(taken)}); give the issuer a path of its own, e.g. "
                          f"{hub.issuer.rstrip('/')}/oidc (签发者路径与应用已有路由冲突)")
    state.hub = hub
    bp = Blueprint("wecom_hub", __name__)
    for path, name, view, methods in _ROUTES:
        bp.add_url_rule(path, name, view, methods=list(methods))
    app.register_blueprint(bp, url_prefix=hub.path or None)
    if not hub.clients:
        log.warning("hub: WECOM_HUB_ISSUER is set but WECOM_HUB_CLIENTS is empty: no tool can sign in yet")
