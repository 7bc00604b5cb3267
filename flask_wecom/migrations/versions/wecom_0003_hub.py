"""The OpenID Connect hub's tables: signing keys, authorization codes, access tokens.

Revision ID: wecom_0003
Revises: wecom_0002
Create Date: 2026-11-28

``wecom_hub_key`` keeps the hub's signing keys (private halves sealed with the store key; the active one has
the unique ``slot = 'active'``); ``wecom_hub_code`` and ``wecom_hub_token`` keep SHA-256 hashes of codes and
access tokens, never the values. A development database created from a newer store.py may have them already.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "wecom_0003"
down_revision = "wecom_0002"
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:
    if context.is_offline_mode():
        return True
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("wecom_hub_key"):
        op.create_table(
            "wecom_hub_key",
            sa.Column("kid", sa.String(64), primary_key=True),
            sa.Column("slot", sa.String(16), nullable=True, unique=True),
            sa.Column("private_key", sa.Text, nullable=True),
            sa.Column("public_jwk", sa.Text, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("retired_at", sa.Float, nullable=True),
        )
    if _missing("wecom_hub_code"):
        op.create_table(
            "wecom_hub_code",
            sa.Column("code_hash", sa.String(64), primary_key=True),
            sa.Column("client_id", sa.String(255), nullable=False),
            sa.Column("redirect_uri", sa.Text, nullable=False),
            sa.Column("scope", sa.Text, nullable=False),
            sa.Column("nonce", sa.Text, nullable=True),
            sa.Column("code_challenge", sa.String(128), nullable=True),
            sa.Column("code_challenge_method", sa.String(16), nullable=True),
            sa.Column("member", sa.Text, nullable=False),
            sa.Column("auth_time", sa.Float, nullable=False),
            sa.Column("expires_at", sa.Float, nullable=False),
            sa.Column("used_at", sa.Float, nullable=True),
            sa.Column("reused_at", sa.Float, nullable=True),
        )
        op.create_index("ix_wecom_hub_code_expires_at", "wecom_hub_code", ["expires_at"])
    if _missing("wecom_hub_token"):
        op.create_table(
            "wecom_hub_token",
            sa.Column("token_hash", sa.String(64), primary_key=True),
            sa.Column("client_id", sa.String(255), nullable=False),
            sa.Column("code_hash", sa.String(64), nullable=True),
            sa.Column("scope", sa.Text, nullable=False),
            sa.Column("member", sa.Text, nullable=False),
            sa.Column("auth_time", sa.Float, nullable=False),
            sa.Column("issued_at", sa.Float, nullable=False),
            sa.Column("expires_at", sa.Float, nullable=False),
            sa.Column("revoked_at", sa.Float, nullable=True),
        )
        op.create_index("ix_wecom_hub_token_code_hash", "wecom_hub_token", ["code_hash"])
        op.create_index("ix_wecom_hub_token_expires_at", "wecom_hub_token", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_wecom_hub_token_expires_at", table_name="wecom_hub_token")
    op.drop_index("ix_wecom_hub_token_code_hash", table_name="wecom_hub_token")
    op.drop_table("wecom_hub_token")
    op.drop_index("ix_wecom_hub_code_expires_at", table_name="wecom_hub_code")
    op.drop_table("wecom_hub_code")
    op.drop_table("wecom_hub_key")
