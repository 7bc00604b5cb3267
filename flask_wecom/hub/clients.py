"""``WECOM_HUB_CLIENTS``: the relying parties (tools) allowed to sign in through the hub.

Each is a mapping ``{"client_id", "client_secret" (absent for a public client), "redirect_uris": [...],
"name", "corps" (optional: the corp ids allowed to use it), "post_logout_redirect_uris" (optional)}``.
The setting may also be a JSON string (from an environment variable). Redirect URIs are compared as
exact strings (OAuth 2.0 Security BCP, RFC 9700 section 4.1.3): no prefix, no wildcard, no normalisation.
"""
from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin

from ..errors import ConfigError
from ..redact import mask

__all__ = ["HubClient", "parse_clients", "SCOPES"]

#: the scopes the hub serves
SCOPES = ("openid", "profile", "email")


@dataclass(frozen=True)
class HubClient(ClientMixin):
    """One relying party. ``client_secret`` is None for a public client (PKCE, auth method ``none``)."""

    client_id: str
    redirect_uris: Tuple[str, ...]
    name: str = ""
    client_secret: Optional[str] = field(default=None, repr=False)
    corps: Tuple[str, ...] = ()
    post_logout_redirect_uris: Tuple[str, ...] = ()

    def __repr__(self) -> str:
        kind = "public" if self.public else "confidential"
        return f"<HubClient {self.client_id!r} {kind} secret={mask(self.client_secret)}>"

    @property
    def public(self) -> bool:
        return not self.client_secret

    @property
    def display_name(self) -> str:
        return self.name or self.client_id

    # -- Authlib's ClientMixin -------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> Optional[str]:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: Optional[str]) -> str:
        if not scope:
            return ""
        return " ".join(s for s in str(scope).split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: Optional[str]) -> bool:
        return isinstance(redirect_uri, str) and redirect_uri in self.redirect_uris

    def check_post_logout_redirect_uri(self, uri: Optional[str]) -> bool:
        return isinstance(uri, str) and uri in self.post_logout_redirect_uris

    def check_client_secret(self, client_secret: Optional[str]) -> bool:
        if self.public or not isinstance(client_secret, str):
            return False
        return hmac.compare_digest(client_secret.encode("utf-8"), str(self.client_secret).encode("utf-8"))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    # Authlib before 1.0 asked this instead
    def check_token_endpoint_auth_method(self, method: str) -> bool:  # pragma: no cover
        return self.check_endpoint_auth_method(method, "token")

    def check_response_type(self, response_type: Optional[str]) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"

    def allows_corp(self, corp_id: Optional[str]) -> bool:
        return not self.corps or corp_id in self.corps


def _strings(value: Any, what: str, client_id: str) -> Tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"WECOM_HUB_CLIENTS: {what} of client {client_id!r} must be a list of strings")
    return tuple(value)


def _check_uri(uri: str, what: str, client_id: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ConfigError(f"WECOM_HUB_CLIENTS: {what} {uri!r} of client {client_id!r} must be an absolute "
                          "http(s) URL without a fragment (请填写完整的回调地址)")


def parse_clients(value: Any) -> Dict[str, HubClient]:
    """The clients by id. Raises ConfigError naming the client (never its secret) on a malformed entry."""
    if value in (None, "", [], ()):
        return {}
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigError("WECOM_HUB_CLIENTS must be a list of mappings (or that list as JSON)") from None
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ConfigError("WECOM_HUB_CLIENTS must be a list of mappings (or that list as JSON)")
    clients: Dict[str, HubClient] = {}
    for index, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"WECOM_HUB_CLIENTS[{index}] must be a mapping with client_id and redirect_uris")
        client_id = entry.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise ConfigError(f"WECOM_HUB_CLIENTS[{index}] has no client_id")
        if client_id in clients:
            raise ConfigError(f"WECOM_HUB_CLIENTS: client_id {client_id!r} appears twice")
        redirect_uris = _strings(entry.get("redirect_uris"), "redirect_uris", client_id)
        if not redirect_uris:
            raise ConfigError(f"WECOM_HUB_CLIENTS: client {client_id!r} needs at least one redirect_uri")
        logout_uris = _strings(entry.get("post_logout_redirect_uris"), "post_logout_redirect_uris", client_id)
        for uri in redirect_uris:
            _check_uri(uri, "redirect_uri", client_id)
        for uri in logout_uris:
            _check_uri(uri, "post_logout_redirect_uri", client_id)
        secret = entry.get("client_secret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ConfigError(f"WECOM_HUB_CLIENTS: client_secret of client {client_id!r} must be a non-empty "
                              "string, or absent for a public client (PKCE)")
        unknown = sorted(set(entry) - {"client_id", "client_secret", "redirect_uris", "name", "corps",
                                       "post_logout_redirect_uris"})
        if unknown:
            raise ConfigError(f"WECOM_HUB_CLIENTS: client {client_id!r} has unknown key(s) {', '.join(unknown)}")
        clients[client_id] = HubClient(
            client_id=client_id, redirect_uris=redirect_uris, name=str(entry.get("name") or ""),
            client_secret=secret, corps=_strings(entry.get("corps"), "corps", client_id),
            post_logout_redirect_uris=logout_uris)
    return clients


def describe_clients(clients: Mapping[str, HubClient]) -> List[str]:
    """Lines for ``flask wecom hub clients``: every client with its secret masked."""
    lines = []
    for client in clients.values():
        kind = "public (PKCE)" if client.public else "confidential"
        lines.append(f"{client.client_id}  {client.display_name!r}  {kind}  secret: {mask(client.client_secret)}")
        lines.append(f"    corps: {', '.join(client.corps) if client.corps else 'any authorized corp'}")
        for uri in client.redirect_uris:
            lines.append(f"    redirect_uri: {uri}")
        for uri in client.post_logout_redirect_uris:
            lines.append(f"    post_logout_redirect_uri: {uri}")
    return lines
