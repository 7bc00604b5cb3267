"""Helpers of tests/test_hub.py: the hub (a flask-wecom app with WECOM_HUB_ISSUER) and relying parties (Flask
apps using Authlib's OIDC client), each served by werkzeug in a thread on its own port, and a browser walk
(``requests.Session``) through the relying party, the hub, WeCom's (the simulator's) sign-in page and back."""
from __future__ import annotations

import html
import threading
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from flask import Flask, jsonify, session, url_for
from login_support import WXWORK_UA, confirm
from werkzeug.serving import make_server

from flask_wecom import WeCom
from flask_wecom.testing.server import SHUTDOWN_POLL

SECRET_KEY = "hub-tests-secret-key-0123456789abcdef"
HUB_PATH = "/wecom/oidc"


class Served:
    """A werkzeug server bound first (so its URL is known), with the WSGI app set afterwards."""

    def __init__(self) -> None:
        self.app: Any = None
        self.server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.server.daemon_threads = True  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.host = f"127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL},
                                       daemon=True)
        self.thread.start()

    def _dispatch(self, environ, start_response):
        return self.app(environ, start_response)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def hub_config(fake, folder, hub: Served, clients: List[Dict[str, Any]], mode: str = "internal",
               **extra: Any) -> Dict[str, Any]:
    config = fake.flask_config(folder, mode)
    config.update(
        TESTING=True, SECRET_KEY=SECRET_KEY, WECOM_HTTP_RETRIES=0, WECOM_BUSY_RETRIES=0,
        WECOM_PUBLIC_URL=hub.url, WECOM_LOGIN_VIA="oauth",
        WECOM_HUB_ISSUER=hub.url + HUB_PATH, WECOM_HUB_CLIENTS=clients,
    )
    config.update(extra)
    return config


def make_hub(fake, tmp_path, hub: Served, clients: List[Dict[str, Any]], mode: str = "internal",
             folder=None, clock=None, **extra: Any) -> Flask:
    """The hub app (the extension itself), on ``hub``'s port; the fake's corps trust that host."""
    fake.allow_local_redirects = True
    for corp in fake.corps:
        corp.trusted_domain = hub.host
        corp.web_login_domain = hub.host
    app = Flask("hub_app", instance_path=str(tmp_path / "hub-instance"))
    app.config.update(hub_config(fake, folder or tmp_path, hub, clients, mode, **extra))
    WeCom(app, clock=clock)
    hub.app = app
    return app


def make_rp(rp: Served, issuer: str, client_id: str, client_secret: Optional[str] = None, *,
            pkce: bool = False, name: str = "tool") -> Flask:
    """A relying party: Authlib's Flask OIDC client configured from the hub's discovery document only."""
    from authlib.integrations.flask_client import OAuth

    app = Flask(f"rp_{name}")
    app.secret_key = f"rp-{name}-secret-key-0123456789"
    app.config["SESSION_COOKIE_NAME"] = f"rp_{name}"  # two RPs on one host (127.0.0.1) keep their own cookie
    oauth = OAuth(app)
    kwargs: Dict[str, Any] = {"scope": "openid profile email"}
    if pkce:
        kwargs["code_challenge_method"] = "S256"
    if client_secret is None:
        kwargs["token_endpoint_auth_method"] = "none"
    oauth.register("hub", client_id=client_id, client_secret=client_secret,
                   server_metadata_url=issuer + "/.well-known/openid-configuration", client_kwargs=kwargs)
    app.extensions["rp_tokens"] = []

    @app.route("/")
    def home():
        user = session.get("user")
        if not user:
            return f'<a id="login" href="{url_for("login")}">Sign in with WeCom</a>'
        return (f'<h1 id="name">{html.escape(user.get("name", ""))}</h1>'
                f'<p id="email">{html.escape(user.get("email", ""))}</p><p id="sub">{user["sub"]}</p>')

    @app.route("/login")
    def login():
        return oauth.hub.authorize_redirect(rp.url + "/callback")

    @app.route("/callback")
    def callback():
        token = oauth.hub.authorize_access_token()  # verifies the id_token: JWKS signature, iss, aud, exp, nonce
        info = oauth.hub.userinfo(token=token)
        app.extensions["rp_tokens"].append({"token": dict(token), "userinfo": dict(info)})
        session["user"] = dict(token["userinfo"])
        return f'<p id="signed-in">{html.escape(info.get("name", ""))} {html.escape(info.get("email", ""))}</p>' \
               f'<a href="/">home</a>'

    @app.route("/me")
    def me():
        return jsonify(session.get("user") or {})

    rp.app = app
    return app


class Browser:
    """A browser: one cookie jar, the WeCom client's user agent (in-client OAuth), redirects followed by hand."""

    def __init__(self, ua: str = WXWORK_UA) -> None:
        self.session = requests.Session()
        self.session.headers["User-Agent"] = ua
        self.visited: List[str] = []

    def walk(self, url: str, userid: Optional[str] = None, steps: int = 20,
             stop_at: Optional[str] = None) -> Tuple[Optional[requests.Response], str]:
        """Follow redirects from ``url``; on WeCom's sign-in page pick ``userid`` (default: the first member).
        ``stop_at``: a URL prefix not to open (a relying party's callback): returns ``(None, that URL)``."""
        for _ in range(steps):
            if stop_at is not None and url.startswith(stop_at):
                return None, url
            self.visited.append(url)
            answer = self.session.get(url, allow_redirects=False, timeout=15)
            if answer.status_code in (301, 302, 303, 307, 308):
                url = urljoin(url, answer.headers["Location"])
                continue
            if 'data-fake-wecom="confirm"' in answer.text:
                picked = confirm(url, userid)
                assert picked.status_code == 302, picked.text[:1000]
                url = picked.headers["Location"]
                continue
            return answer, url
        raise AssertionError(f"too many redirects: {self.visited[-5:]}")

    def authorize_params(self) -> Dict[str, str]:
        """The query of the last authorization request sent to the hub."""
        for url in reversed(self.visited):
            parts = urlsplit(url)
            if parts.path.endswith(HUB_PATH + "/authorize"):
                return {k: v[0] for k, v in parse_qs(parts.query).items()}
        raise AssertionError("no authorization request was made")


def verify_id_token(id_token: str, jwks: Dict[str, Any], *, issuer: str, audience: str,
                    nonce: Optional[str]) -> Dict[str, Any]:
    """Verify with a JOSE library (joserfc; Authlib's own jose where joserfc is unavailable): signature by a
    JWKS key, iss, aud, exp and nonce. Returns the claims."""
    try:
        from joserfc import jwt
        from joserfc.jwk import KeySet
    except ImportError:  # Python < 3.11 with Authlib 1.6
        from authlib.jose import JsonWebKey
        from authlib.jose import jwt as authlib_jwt

        options = {"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": audience},
                   "exp": {"essential": True}}
        if nonce is not None:
            options["nonce"] = {"essential": True, "value": nonce}
        claims = authlib_jwt.decode(id_token, JsonWebKey.import_key_set(jwks), claims_options=options)
        claims.validate()
        return dict(claims)
    token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    rules: Dict[str, Any] = {"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": audience},
                             "exp": {"essential": True}}
    if nonce is not None:
        rules["nonce"] = {"essential": True, "value": nonce}
    jwt.JWTClaimsRegistry(**rules).validate(token.claims)
    return dict(token.claims)


def pkce_pair() -> Tuple[str, str]:
    import base64
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(url: str) -> Dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
