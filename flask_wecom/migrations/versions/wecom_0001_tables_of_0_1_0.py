"""The tables of flask-wecom 0.1.0.

Revision ID: wecom_0001
Revises:
Create Date: 2026-11-28

0.1.0 created these with ``metadata.create_all`` and no version table. On such a database each table that
already exists is adopted as it is (it has exactly this shape), so upgrading a 0.1.0 database only records
the revision; a table that is missing (a 0.1.0 boot that died half way through ``create_all``) is created.
The definitions are copied here, not imported from ``flask_wecom.store``: a revision must stay what it was.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import mysql

revision = "wecom_0001"
down_revision = None
#: lets an application's own Alembic tell our branch apart: ``alembic upgrade wecom@head``
branch_labels = ("wecom",)
depends_on = None

#: case-sensitive ids: a binary collation on MySQL/MariaDB, whose default collations ignore case
CaseSensitiveId = sa.String(128).with_variant(mysql.VARCHAR(128, collation="utf8mb4_bin"), "mysql", "mariadb")


def _missing(name: str) -> bool:
    if context.is_offline_mode():  # `flask wecom db upgrade --sql` writes the script for an empty database
        return True
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("wecom_suite_ticket"):
        op.create_table(
            "wecom_suite_ticket",
            sa.Column("suite_id", CaseSensitiveId, primary_key=True),
            sa.Column("ticket", sa.Text, nullable=False),
            sa.Column("received_at", sa.Float, nullable=False),
        )
    if _missing("wecom_auth_code"):
        op.create_table(
            "wecom_auth_code",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
            sa.Column("auth_code", sa.Text, nullable=True),
            sa.Column("suite_id", CaseSensitiveId, nullable=False),
            sa.Column("info_type", sa.String(64), nullable=False),
            sa.Column("state", sa.String(256), nullable=True),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("corp_id", CaseSensitiveId, nullable=True),
            sa.Column("error", sa.Text, nullable=True),
            sa.Column("received_at", sa.Float, nullable=False),
            sa.Column("finished_at", sa.Float, nullable=True),
        )
    if _missing("wecom_corp"):
        op.create_table(
            "wecom_corp",
            sa.Column("corp_id", CaseSensitiveId, primary_key=True),
            sa.Column("suite_id", CaseSensitiveId, nullable=True),
            sa.Column("corp_name", sa.String(256), nullable=True),
            sa.Column("agent_id", sa.String(32), nullable=True),
            sa.Column("permanent_code", sa.Text, nullable=True),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("auth_time", sa.Float, nullable=True),
            sa.Column("updated_at", sa.Float, nullable=False),
            sa.Column("auth_info", sa.Text, nullable=True),
        )
    if _missing("wecom_delivery"):
        op.create_table(
            "wecom_delivery",
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("received_at", sa.Float, nullable=False),
        )
        op.create_index("ix_wecom_delivery_received_at", "wecom_delivery", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_wecom_delivery_received_at", table_name="wecom_delivery")
    for name in ("wecom_delivery", "wecom_corp", "wecom_auth_code", "wecom_suite_ticket"):
        op.drop_table(name)
