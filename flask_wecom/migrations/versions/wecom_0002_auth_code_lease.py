"""AuthCode leases: ``wecom_auth_code.lease_until``.

Revision ID: wecom_0002
Revises: wecom_0001
Create Date: 2026-11-28

A claimed AuthCode (``exchanging``) holds a lease until this time (epoch seconds); once it has passed, another
process may take the code over (a worker that died mid-exchange). NULL for codes that are not claimed.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "wecom_0002"
down_revision = "wecom_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if context.is_offline_mode():
        columns = set()
    else:
        columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("wecom_auth_code")}
    if "lease_until" not in columns:  # a development database created from a newer store.py may have it
        op.add_column("wecom_auth_code", sa.Column("lease_until", sa.Float, nullable=True))


def downgrade() -> None:
    op.drop_column("wecom_auth_code", "lease_until")
