"""``flask wecom …`` commands: what people otherwise do by hand in the WeCom console or with curl.

``flask wecom doctor`` (the doctor's checks as a table or JSON) is here too; ``flask wecom db …`` lives in
:mod:`flask_wecom.db_cli` and ``flask wecom hub …`` in :mod:`flask_wecom.hub.cli`, added to the group below.
``WeCom(app)`` registers the group without importing this module (:mod:`flask_wecom.lazy_cli`).
"""
from __future__ import annotations

import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional

import click
from flask.cli import with_appcontext

from .callback import exchange_and_notify
from .db_cli import db_cli
from .doctor import CheckResult, DoctorContext, run_checks, summarize
from .doctor_flask import build_context, report
from .errors import CorpNotFoundError
from .health import auth_codes_line, schema_line, spool_line, store_health
from .hub.cli import hub_cli
from .redact import mask
from .state import WeComState, current_app_object, get_state
from .store import unavailable_reason

if TYPE_CHECKING:
    from .storage import CorpRecord


def _when(timestamp: Optional[float]) -> str:
    if not timestamp:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def describe_age(seconds: Optional[float], *, bilingual: bool = False) -> str:
    """"42 s ago" / "5 min ago" / "3 h ago" (with the Chinese first when ``bilingual``); "never" for None."""
    if seconds is None:
        return "从未 / never" if bilingual else "never"
    seconds = int(seconds)
    if seconds < 120:
        amount, zh, en = seconds, "秒前", "s ago"
    elif seconds < 7200:
        amount, zh, en = seconds // 60, "分钟前", "min ago"
    else:
        amount, zh, en = seconds // 3600, "小时前", "h ago"
    return f"{amount} {zh} / {amount} {en}" if bilingual else f"{amount} {en}"


@click.group("wecom", help="WeCom (企业微信) integration: status, authorized corps, secrets, doctor.")
def wecom_cli() -> None:
    pass


def status_lines(state: WeComState) -> List[str]:
    """The status report as lines (shared by the CLI and the demo's status panel)."""
    provider = state.provider
    config = state.config
    lines = [
        f"mode:            {state.app_type}",
        f"API base:        {config['WECOM_API_BASE']}",
        f"suite id:        {provider.suite_id or '-'}",
        f"suite secret:    {mask(config['WECOM_SUITE_SECRET'] or None)}",
        f"corp id:         {provider.corp_id or '-'}  secret: {mask(config['WECOM_SECRET'] or None)}",
    ]
    try:
        if provider.suite_id:
            lines.append(f"suite ticket:    {describe_age(provider.suite_ticket_age())}")
        if provider.login_suite_id:  # third-party web login's 登录授权 suite (doc 98179)
            found = state.store.get_suite_ticket(provider.login_suite_id)
            age = time.time() - found[1] if found is not None else None
            lines.append(f"login suite:     {provider.login_suite_id}  ticket {describe_age(age)}")
    except Exception as exc:  # noqa: BLE001 - the store is down or not upgraded: the lines below say which
        lines.append(f"suite ticket:    unavailable ({unavailable_reason(exc) or type(exc).__name__})")
    backend = state.cache_backend
    breaker = state.shared_cache.breaker.state()
    skipped = "" if breaker == "closed" else f" (failing: skipped by this process, {breaker})"
    lines.append(f"token cache:     {type(backend).__name__}{skipped}")
    lines.append(f"store:           {state.store!r}")
    health = store_health(state.store, getattr(state, "spool", None))
    lines.append(f"schema:          {schema_line(health)}")
    lines.append(f"spool:           {spool_line(health)}")
    lines.append(f"AuthCodes:       {auth_codes_line(health)}")
    try:
        blocks = provider.blocks()
    except Exception:  # noqa: BLE001 - the store may be down; the status still prints
        blocks = []
    for what, record in blocks:
        lines.append(f"not fetching:    {what} token: errcode {record.get('errcode')} remembered until "
                     f"{_when(record.get('until'))} (`flask wecom unblock` retries at once)")
    return lines


@wecom_cli.command("status")
@with_appcontext
def status_command() -> None:
    """Mode, suite ticket age, authorized corps, token cache backend (secrets masked)."""
    state = get_state()
    for line in status_lines(state):
        click.echo(line)
    try:
        corps = state.store.list_corps()
    except Exception as exc:  # noqa: BLE001 - the store is down: the lines above say what can be said
        click.echo(f"authorized corps: unavailable ({unavailable_reason(exc) or type(exc).__name__})")
        raise SystemExit(1) from None
    click.echo(f"authorized corps: {len([c for c in corps if c.active])} active, {len(corps)} known")
    _print_corps(state, corps)


def _print_corps(state: WeComState, corps: List[CorpRecord]) -> None:
    if not corps:
        click.echo("  (none yet — the customer's admin must scan the template QR code / 等待企业管理员扫码授权)")
        return
    click.echo(f"  {'corp id':34} {'name':20} {'agent':8} {'status':8} {'authorized':19} token")
    for corp in corps:
        cached = state.provider.corp_token(corp.corp_id).peek()
        token = f"cached, expires {_when(cached['expires_at'])}" if cached else "-"
        click.echo(f"  {corp.corp_id:34} {(corp.corp_name or '-'):20} {(corp.agent_id or '-'):8} "
                   f"{corp.status:8} {_when(corp.auth_time):19} {token}")


@wecom_cli.command("corps")
@with_appcontext
def corps_command() -> None:
    """List the corps that authorized the app."""
    state = get_state()
    _print_corps(state, state.store.list_corps())


@wecom_cli.command("secret")
@click.argument("corp_id")
@with_appcontext
def secret_command(corp_id: str) -> None:
    """Print CORP_ID's permanent code (for 代开发: the app secret)."""
    state = get_state()
    try:
        code = state.store.get_permanent_code(corp_id)
    except CorpNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("WARNING: this is the app secret (代开发应用 Secret = permanent_code). Keep it secret: "
               "do not paste it into chats, tickets or logs. / 请妥善保管，切勿外传。", err=True)
    click.echo(code)


@wecom_cli.command("forget")
@click.argument("corp_id")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@with_appcontext
def forget_command(corp_id: str, yes: bool) -> None:
    """Remove CORP_ID and its secret and cached tokens from this app."""
    state = get_state()
    if state.store.get_corp(corp_id) is None:
        raise click.ClickException(f"no corp {corp_id!r} in the store")
    if not yes:
        click.confirm(f"Forget corp {corp_id} and its permanent code? It cannot be fetched again without a "
                      "new authorization or 重新获取secret.", abort=True)
    state.provider.drop_corp_tokens(corp_id)
    state.store.delete_corp(corp_id)
    click.echo(f"forgot {corp_id}")


@wecom_cli.command("exchange")
@click.option("--stuck", is_flag=True,
              help="also take over AuthCodes left 'exchanging' by a process that died (their lease expired)")
@with_appcontext
def exchange_command(stuck: bool) -> None:
    """Exchange AuthCodes that were recorded but not exchanged yet (e.g. after a crash).

    Each worker's sweep does the same within WECOM_EXCHANGE_LEASE + WECOM_SWEEP_INTERVAL seconds; this is
    the manual tool."""
    state = get_state()
    lease = state.provider.lease
    pending = state.store.pending_auth_codes(expired=stuck, lease=lease)
    if not pending:
        left = state.store.pending_auth_codes(expired=True, lease=lease)
        hint = (f"; {len(left)} left 'exchanging' by a process that died (lease expired): rerun with --stuck"
                if left and not stuck else "")
        click.echo(f"no pending AuthCodes (AuthCodes are valid for 10 minutes){hint}")
        return
    for record in pending:
        corp = exchange_and_notify(state, current_app_object(), record.id, record.info_type,
                                   take_over=stuck)
        if corp is not None:
            result = f"corp {corp.corp_id} ({corp.corp_name})"
        else:
            after = state.store.get_auth_code(record.id)
            result = (f"{after.status}: {after.error or 'taken by another process'}" if after is not None
                      else "gone (deleted meanwhile)")
        click.echo(f"AuthCode #{record.id} ({record.info_type}, received {_when(record.received_at)}): {result}")


@wecom_cli.command("unblock")
@click.argument("corp_id", required=False)
@with_appcontext
def unblock_command(corp_id: Optional[str]) -> None:
    """Ask WeCom again at once after fixing a secret: forget the remembered token failure (wrong secret,
    45009 rate limit…) of CORP_ID, or of the suite and every corp when no CORP_ID is given."""
    state = get_state()
    for what, record in state.provider.blocks(corp_id):
        click.echo(f"{what} token: errcode {record.get('errcode')} (strike {record.get('strikes')}, "
                   f"until {_when(record.get('until'))})")
    cleared = state.provider.unblock(corp_id)
    scope = f"corp {corp_id}" if corp_id else "the suite and every corp"
    if cleared:
        click.echo(f"forgot {cleared} remembered failure(s) of {scope}: the next request asks WeCom again")
    else:
        click.echo(f"nothing remembered for {scope}")


# -- flask wecom doctor ----------------------------------------------------------------------------


def format_table(results: List[CheckResult], context: Optional[DoctorContext] = None) -> List[str]:
    """The results as readable lines: ``✓ [n] title`` then the finding, details and fix indented."""
    lines: List[str] = []
    if context is not None:
        public = context.public_url or "(unknown: set WECOM_PUBLIC_URL or pass --public-url)"
        source = f" [{context.public_url_source}]" if context.public_url_source else ""
        lines.append(f"flask-wecom doctor — mode {context.app_type}, public URL {public}{source}")
        lines.append("")
    for r in results:
        lines.append(f"{r.symbol} [{r.step or '-'}] {r.title}")
        lines.append(f"      {r.finding}")
        for detail in r.details:
            lines.append(f"        · {detail}")
        if r.fix:
            lines.append(f"      → {r.fix}")
    s = summarize(results)
    lines.append("")
    lines.append(f"{s['ok']} ✓ ok, {s['warn']} ! warnings, {s['fail']} ✗ failed, {s['skip']} – skipped"
                 + ("" if s["passed"] else " — fix the ✗ rows first / 请先处理 ✗ 行"))
    return lines


@wecom_cli.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON (for scripts)")
@click.option("--public-url", default=None, metavar="URL",
              help="public base URL users reach this app at (default: WECOM_PUBLIC_URL)")
@click.option("--warn-days", default=14, show_default=True, type=int,
              help="warn this many days before a trial or edition expires")
@with_appcontext
def doctor_command(as_json: bool, public_url: Optional[str], warn_days: int) -> None:
    """Check the WeCom setup (config, callback, suite ticket, tokens, trusted domain, authorization…).

    Exit status 1 when any check fails. No secret is printed.
    """
    app = current_app_object()
    context = build_context(app, public_url, expiry_warning_days=warn_days)
    results = run_checks(context=context)
    if as_json:
        data: Dict[str, Any] = report(results, context)
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for line in format_table(results, context):
            click.echo(line)
    if not summarize(results)["passed"]:
        raise click.exceptions.Exit(1)


wecom_cli.add_command(db_cli)
wecom_cli.add_command(hub_cli)

__all__ = ["wecom_cli", "status_lines", "doctor_command", "format_table"]
