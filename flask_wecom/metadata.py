"""The SQLAlchemy ``MetaData`` every flask-wecom table belongs to, and the column types they share.

A leaf: the store's tables (:mod:`flask_wecom.store`) and the hub's (:mod:`flask_wecom.hub.tables`) are
both defined on :data:`metadata`, and the store imports the hub's tables so that the one metadata Alembic
compares (``flask_wecom/migrations/env.py``) holds them all — neither imports the other's module to get
here. No Flask import: this is a core module.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

__all__ = ["CaseSensitiveId", "EpochSeconds", "metadata"]

metadata = sa.MetaData()

#: Corp and suite ids are case-sensitive (post-2022 encrypted ids, doc 97104). SQLite and
#: PostgreSQL compare case-sensitively already; MySQL/MariaDB's default collations do not, so those
#: columns use a binary collation there ("wwAbC" and "wwabc" are different corps).
CaseSensitiveId = sa.String(128).with_variant(mysql.VARCHAR(128, collation="utf8mb4_bin"), "mysql", "mariadb")

#: Epoch seconds (``time.time()``). ``sa.Float`` is double precision on PostgreSQL and SQLite but a 4-byte FLOAT
#: on MySQL/MariaDB (24-bit mantissa: today's epoch to about ±64 s), which breaks 30 s leases and 10-minute
#: AuthCode windows; there it is DOUBLE (revision wecom_0004 converts older tables).
EpochSeconds = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")
