"""The hub's tables, on the durable store's metadata (revision ``wecom_0003``).

Codes and access tokens are kept only as SHA-256 hashes: a database dump gives nobody a usable
code or token. Private signing keys are sealed with the store's SecretBox (AES-GCM).
"""
from __future__ import annotations

import sqlalchemy as sa

from ..metadata import EpochSeconds, metadata

#: Signing keys. ``slot`` is ``"active"`` for the one key that signs (unique: two workers creating the
#: first key at once end with one), NULL once retired; a retired key stays in JWKS until ``retired_at`` +
#: the id_token lifetime. ``private_key`` is sealed; NULL for the public half of a configured PEM.
hub_keys = sa.Table(
    "wecom_hub_key",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("slot", sa.String(16), nullable=True, unique=True),
    sa.Column("private_key", sa.Text, nullable=True),
    sa.Column("public_jwk", sa.Text, nullable=False),
    sa.Column("created_at", EpochSeconds, nullable=False),
    sa.Column("retired_at", EpochSeconds, nullable=True),
)

#: Authorization codes: single use, bound to client and redirect_uri, valid ≤ 60 s. A used code stays
#: (``used_at``) until it is old, so a second use is recognised and revokes what the first one issued.
hub_codes = sa.Table(
    "wecom_hub_code",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(255), nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("nonce", sa.Text, nullable=True),
    sa.Column("code_challenge", sa.String(128), nullable=True),
    sa.Column("code_challenge_method", sa.String(16), nullable=True),
    sa.Column("member", sa.Text, nullable=False),  # JSON of the member's session record (no secret)
    sa.Column("auth_time", EpochSeconds, nullable=False),
    sa.Column("expires_at", EpochSeconds, nullable=False, index=True),
    sa.Column("used_at", EpochSeconds, nullable=True),
    sa.Column("reused_at", EpochSeconds, nullable=True),  # a second redemption was tried: its tokens are revoked
)

#: Access tokens (for userinfo), by hash; ``code_hash`` ties them to the code that issued them.
hub_tokens = sa.Table(
    "wecom_hub_token",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(255), nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=True, index=True),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("member", sa.Text, nullable=False),
    sa.Column("auth_time", EpochSeconds, nullable=False),
    sa.Column("issued_at", EpochSeconds, nullable=False),
    sa.Column("expires_at", EpochSeconds, nullable=False, index=True),
    sa.Column("revoked_at", EpochSeconds, nullable=True),
)
