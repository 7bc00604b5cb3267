"""``flask wecom doctor``: the doctor's checks as a table (✓ / ✗ / !) or JSON; exit 1 on any failure.

Registered on the ``wecom`` command group by the last line of :mod:`flask_wecom.cli`.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import click
from flask import current_app
from flask.cli import with_appcontext

from .doctor import CheckResult, DoctorContext, run_checks, summarize
from .doctor_flask import build_context, report

__all__ = ["doctor_command", "format_table"]


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


@click.command("doctor")
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
    app = current_app._get_current_object()
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
