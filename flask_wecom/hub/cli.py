"""``flask wecom hub …``: the hub's clients (secrets masked) and its signing key."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext

from ..errors import ConfigError
from ..state import get_state
from .clients import describe_clients, parse_clients

if TYPE_CHECKING:
    from .views import Hub

__all__ = ["hub_cli"]


@click.group("hub", help="The OpenID Connect hub (WECOM_HUB_ISSUER): clients and signing key.")
def hub_cli() -> None:
    pass


def _hub() -> Hub:
    hub = get_state().hub
    if hub is None:
        raise click.ClickException("the hub is off: set WECOM_HUB_ISSUER (and WECOM_HUB_CLIENTS) to turn it on")
    return hub


@hub_cli.command("clients")
@with_appcontext
def clients_command() -> None:
    """List the hub's clients (WECOM_HUB_CLIENTS) with their secrets masked."""
    from flask import current_app

    try:
        clients = parse_clients(current_app.config.get("WECOM_HUB_CLIENTS"))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    issuer = current_app.config.get("WECOM_HUB_ISSUER")
    click.echo(f"issuer: {issuer or '- (hub off: WECOM_HUB_ISSUER is not set)'}")
    if issuer:
        click.echo(f"discovery: {str(issuer).rstrip('/')}/.well-known/openid-configuration")
    if not clients:
        click.echo("no clients (WECOM_HUB_CLIENTS is empty)")
        return
    for line in describe_clients(clients):
        click.echo(line)


@hub_cli.command("rotate-key")
@with_appcontext
def rotate_key_command() -> None:
    """Retire the hub's signing key and make a new one (the old one stays in JWKS until its tokens expire)."""
    hub = _hub()
    try:
        key = hub.keys.rotate()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"new signing key {key.kid}; the previous key stays in JWKS until the tokens it signed have expired")
