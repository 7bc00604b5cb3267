"""``flask wecom db …``: the store's tables, versioned by Alembic (:mod:`flask_wecom.schema`).

Registered on the ``wecom`` command group by the last lines of :mod:`flask_wecom.cli`.
"""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from .errors import SchemaError
from .state import get_state

__all__ = ["db_cli"]


@click.group("db", help="flask-wecom's database tables: show the schema version, upgrade it.")
def db_cli() -> None:
    pass


@db_cli.command("current")
@click.option("--check", is_flag=True, help="exit with status 1 when the tables need an upgrade (for scripts)")
@with_appcontext
def current_command(check: bool) -> None:
    """Show the schema revision of the database and the one this flask-wecom needs."""
    from . import schema  # it imports SQLAlchemy: in the command, not when the CLI is registered by WeCom(app)

    store = get_state().store
    status = schema.current_status(store.engine)
    click.echo(f"database:      {store!r}")
    click.echo(f"current:       {status.describe()}")
    click.echo(f"needed (head): {schema.HEAD}")
    auto = "on (WECOM_AUTO_UPGRADE)" if store.auto_upgrade else "off (WECOM_AUTO_UPGRADE=False)"
    click.echo(f"auto upgrade:  {auto}")
    if status.up_to_date:
        click.echo("up to date / 已是最新")
        return
    if status.newer:
        click.echo("the database is newer than this flask-wecom / 数据库版本比本程序新")
    elif status.version_table == schema.APP_VERSION_TABLE:
        click.echo("needs an upgrade: run your own `flask db upgrade` / `alembic upgrade heads` / 需要升级")
    else:
        click.echo(f"needs an upgrade: run `{schema.UPGRADE_COMMAND}` / 需要升级")
    if check:
        raise SystemExit(1)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
@click.option("--sql", is_flag=True,
              help="print the SQL instead of running it (for a DBA); from an empty database, or give a range "
                   "such as wecom_0001:head")
@with_appcontext
def upgrade_command(revision: str, sql: bool) -> None:
    """Create or upgrade flask-wecom's tables to REVISION (default: head), under the schema lock.

    Safe to run while workers are up, and on every deploy: a database already at REVISION is left alone.
    """
    from . import schema

    store = get_state().store
    if sql:
        url = store.engine.url.set(password=None).render_as_string(hide_password=False)  # offline: no connection
        click.echo(schema.upgrade_sql(url, revision), nl=False)
        return
    try:
        before = schema.upgrade(store.engine, revision)
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    now = schema.current_status(store.engine).describe()
    if before is None:
        click.echo(f"already at {now}; nothing to do / 已是该版本，无需升级")
    else:
        click.echo(f"upgraded {before} -> {now} / 已升级")


@db_cli.command("history")
def history_command() -> None:
    """List flask-wecom's schema revisions, oldest first."""
    from alembic.script import ScriptDirectory

    from . import schema

    scripts = ScriptDirectory.from_config(schema.alembic_config())
    for script in reversed(list(scripts.walk_revisions())):
        click.echo(f"{script.revision}  {script.doc}")
