"""Epoch-second columns in double precision on MySQL/MariaDB.

Revision ID: wecom_0004
Revises: wecom_0003
Create Date: 2026-11-28

``sa.Float`` is a 4-byte FLOAT on MySQL/MariaDB: a 24-bit mantissa keeps today's epoch seconds (~1.8e9) only to
about ±64 s, so 30 s AuthCode leases, 10-minute AuthCode windows and the hub's 60 s codes were wrong there. This
turns every time column into DOUBLE (one ``ALTER TABLE`` per table, nullability kept). Values already stored keep
the precision they had; new ones are exact to the microsecond. PostgreSQL and SQLite already store ``Float`` in
double precision: nothing is done there. A column that is DOUBLE already (a development database created from a
newer store.py) is left alone.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import mysql

revision = "wecom_0004"
down_revision = "wecom_0003"
branch_labels = None
depends_on = None

#: table -> [(column, nullable)]: every epoch-second column as of wecom_0003
COLUMNS: Dict[str, List[Tuple[str, bool]]] = {
    "wecom_suite_ticket": [("received_at", False)],
    "wecom_auth_code": [("received_at", False), ("finished_at", True), ("lease_until", True)],
    "wecom_corp": [("auth_time", True), ("updated_at", False)],
    "wecom_delivery": [("received_at", False)],
    "wecom_hub_key": [("created_at", False), ("retired_at", True)],
    "wecom_hub_code": [("auth_time", False), ("expires_at", False), ("used_at", True), ("reused_at", True)],
    "wecom_hub_token": [("auth_time", False), ("issued_at", False), ("expires_at", False), ("revoked_at", True)],
}


def _is_mysql() -> bool:
    return op.get_context().dialect.name in ("mysql", "mariadb")


def _to_convert(table: str, to: str) -> List[Tuple[str, bool]]:
    """The listed columns of ``table`` that are not ``to`` yet (offline: all of them)."""
    if context.is_offline_mode():
        return COLUMNS[table]
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(table):
        return []
    found = {c["name"]: c for c in inspector.get_columns(table)}
    wanted = mysql.DOUBLE if to == "DOUBLE" else mysql.FLOAT
    result = []
    for name, _ in COLUMNS[table]:
        column = found.get(name)
        if column is not None and type(column["type"]) is not wanted:
            result.append((name, bool(column["nullable"])))
    return result


def _alter(to: str) -> None:
    quote = op.get_context().dialect.identifier_preparer.quote
    for table in COLUMNS:
        columns = _to_convert(table, to)
        if columns:
            clauses = ", ".join(f"MODIFY {quote(name)} {to} {'NULL' if nullable else 'NOT NULL'}"
                                for name, nullable in columns)
            op.execute(f"ALTER TABLE {quote(table)} {clauses}")


def upgrade() -> None:
    if _is_mysql():
        _alter("DOUBLE")


def downgrade() -> None:
    if _is_mysql():  # back to single precision: times lose their exactness again
        _alter("FLOAT")
