"""The hub: an OpenID Connect provider in front of WeCom, built on Authlib's authorization server.

One flask-wecom app on the WeCom trusted domain signs members in (in-client OAuth or QR) and hands
every other internal tool (Grafana, GitLab, a wiki, small Flask apps) a standard OIDC login. It is
switched on by ``WECOM_HUB_ISSUER`` (e.g. ``https://login.example.com/wecom/oidc``): the routes are
served under that URL's path, discovery at ``<issuer>/.well-known/openid-configuration``.

Framework-free parts: :mod:`.clients` (``WECOM_HUB_CLIENTS``), :mod:`.claims` (``sub`` and the
claims), :mod:`.keys` (the signing key, JWKS, RS256), :mod:`.tables` and :mod:`.storage` (codes,
tokens and keys in the durable store). :mod:`.server` wires Authlib's grants; :mod:`.views` is the
Flask blueprint.
"""
from __future__ import annotations

from typing import Any

__all__ = ["init_hub"]


def init_hub(app: Any, state: Any) -> None:
    """Called by ``WeCom.init_app``: mount the hub when ``WECOM_HUB_ISSUER`` is set."""
    if not state.config.get("WECOM_HUB_ISSUER"):
        return
    from .views import register_hub

    register_hub(app, state)
