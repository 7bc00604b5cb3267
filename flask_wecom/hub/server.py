"""Authlib's authorization server, wired to the hub's clients, store and keys.

* :class:`AuthorizationCodeGrant` with PKCE (:class:`CodeChallenge`, ``S256`` only): required for public
  clients (token endpoint auth method ``none``: no ``code_challenge`` at the authorization endpoint and no
  ``code_verifier`` at the token endpoint get no token) and honoured for every client.
* :class:`OpenIDCode` adds the RS256 id_token; the hub builds it itself (:meth:`HubOpenIDCode.process_token`)
  so the claims are the same as at userinfo and the key is the store's.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import time
from typing import Any, Dict, Mapping, Optional

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode

from ..redact import mask
from .claims import member_claims
from .keys import ID_TOKEN_LIFETIME
from .storage import ACCESS_TOKEN_LIFETIME, CodeRecord

log = logging.getLogger("flask_wecom.hub")

__all__ = ["HubMember", "create_server"]


class HubMember:
    """The signed-in member as Authlib sees it: the session record (no secret) and when WeCom signed them in."""

    def __init__(self, record: Mapping[str, Any], auth_time: float) -> None:
        self.record = {k: v for k, v in dict(record).items() if not str(k).startswith("_")}
        self.auth_time = float(auth_time)

    @property
    def corp_id(self) -> str:
        return str(self.record.get("corp_id"))

    @property
    def userid(self) -> str:
        return str(self.record.get("userid"))

    def get_user_id(self) -> str:
        return f"{self.corp_id}/{self.userid}"

    def __repr__(self) -> str:
        return f"<HubMember {self.corp_id}/{self.userid}>"


class HubCodeChallenge(CodeChallenge):
    """PKCE with ``S256`` only (``plain`` protects nothing against a leaked authorization request)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib reads this class attribute


class HubAuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]  # noqa: RUF012 - Authlib API

    def save_authorization_code(self, code: str, request: Any) -> None:
        hub = self.server.hub
        data = request.payload.data if hasattr(request, "payload") else request.data
        scope = request.client.get_allowed_scope(data.get("scope"))
        member: HubMember = request.user
        hub.storage.save_code(
            code, client_id=request.client.client_id, redirect_uri=data.get("redirect_uri"), scope=scope,
            nonce=data.get("nonce"), code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method") or ("S256" if data.get("code_challenge")
                                                                         else None),
            member=member.record, auth_time=member.auth_time)

    def query_authorization_code(self, code: str, client: Any) -> Optional[CodeRecord]:
        record: Optional[CodeRecord] = self.server.hub.storage.take_code(code, client.client_id)
        if record is None and self.server.hub.storage.code_reused(code):
            log.warning("hub: client %s presented an authorization code a second time; the tokens it issued "
                        "are revoked (invalid_grant)", client.client_id)
        return record

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        pass  # taken in query_authorization_code; the used row stays to recognise a replay

    def authenticate_user(self, authorization_code: CodeRecord) -> HubMember:
        return HubMember(authorization_code.member, authorization_code.auth_time)


class HubOpenIDCode(OpenIDCode):
    """The id_token: iss, aud, exp, iat, auth_time, nonce, at_hash and the member's claims."""

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # a nonce is the client's to check; codes are single use already

    def generate_user_info(self, user: HubMember, scope: str) -> Dict[str, Any]:
        return member_claims(self.hub.issuer, user.record, scope)

    def process_token(self, grant: Any, response: Any) -> Any:
        token = response[1] if isinstance(response, tuple) else response
        scope = token.get("scope") or ""
        if "openid" not in str(scope).split():
            return token
        request = grant.request
        code: CodeRecord = request.authorization_code
        member: HubMember = request.user
        now = int(time.time())
        claims: Dict[str, Any] = {
            "iss": self.hub.issuer, "aud": request.client.client_id, "iat": now, "exp": now + ID_TOKEN_LIFETIME,
            "auth_time": int(member.auth_time),
        }
        if code is not None and code.nonce:
            claims["nonce"] = code.nonce
        access_token = token.get("access_token")
        if access_token:  # OIDC Core section 3.1.3.6: left half of SHA-256 of the access token
            half = hashlib.sha256(access_token.encode("ascii")).digest()[:16]
            claims["at_hash"] = base64.urlsafe_b64encode(half).rstrip(b"=").decode("ascii")
        claims.update(member_claims(self.hub.issuer, member.record, scope))
        token["id_token"] = self.hub.keys.sign(claims)
        return token


class HubAuthorizationServer(AuthorizationServer):
    """Authlib's Flask authorization server with the hub's clients and token storage."""

    def __init__(self, hub: Any) -> None:
        super().__init__()
        self.hub = hub
        # the app's own OAUTH2_* settings are not read: the hub's lifetimes are fixed and documented
        self.load_config({"OAUTH2_TOKEN_EXPIRES_IN": {"authorization_code": ACCESS_TOKEN_LIFETIME}})

    def query_client(self, client_id: str) -> Any:
        return self.hub.clients.get(client_id)

    def save_token(self, token: Mapping[str, Any], request: Any) -> None:
        member: HubMember = request.user
        code: Optional[CodeRecord] = getattr(request, "authorization_code", None)
        self.hub.storage.save_token(
            token["access_token"], client_id=request.client.client_id, scope=token.get("scope") or "",
            member=member.record, auth_time=member.auth_time,
            expires_in=int(token.get("expires_in") or ACCESS_TOKEN_LIFETIME),
            code_hash=code.code_hash if code is not None else None)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass  # Authlib's Flask signals are not part of the hub's API


def create_server(hub: Any) -> HubAuthorizationServer:
    server = HubAuthorizationServer(hub)
    openid = HubOpenIDCode(require_nonce=False)
    openid.hub = hub
    server.register_grant(HubAuthorizationCodeGrant, [HubCodeChallenge(required=True), openid])
    return server




class _TokenRedactingFilter(logging.Filter):
    """Authlib logs the issued token at DEBUG ("Issue token {...}"): mask its secrets before any handler sees it."""

    _SECRETS = ("access_token", "refresh_token", "id_token")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                {k: (mask(str(v)) if k in self._SECRETS else v) for k, v in arg.items()}
                if isinstance(arg, Mapping) else arg for arg in record.args)
        return True


logging.getLogger(grants.AuthorizationCodeGrant.__module__).addFilter(_TokenRedactingFilter())
