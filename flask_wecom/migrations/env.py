"""Alembic environment of flask-wecom's own migrations.

:mod:`flask_wecom.schema` runs it with an open connection in ``config.attributes["connection"]`` (taken under
the schema lock); otherwise it connects to ``sqlalchemy.url``. Offline mode (``flask wecom db upgrade --sql``)
prints the SQL instead of running it. The version table is ``wecom_alembic_version``, never the application's
own ``alembic_version``.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

import flask_wecom.store  # noqa: F401 - defines the store's tables (and the hub's) on the metadata
from flask_wecom.metadata import metadata
from flask_wecom.schema import VERSION_TABLE, include_object

config = context.config


def _configure(**options: Any) -> None:
    context.configure(target_metadata=metadata, version_table=VERSION_TABLE, include_object=include_object,
                      compare_type=True, **options)


def run_migrations_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: sa.Connection) -> None:
    # SQLite cannot alter most of a table in place: autogenerate future revisions as batch operations there
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("alembic: sqlalchemy.url is not set (flask-wecom's store sets it)")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
