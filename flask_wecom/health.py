"""The durable store as operators see it: schema revision, local spool, AuthCode claims (framework-free).

Read-only, and safe with the database down (each part says why it could not be read). Shown by
``flask wecom status`` and the doctor's ``store`` row.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from . import schema
from .store import unavailable_reason


@dataclass
class StoreHealth:
    #: the database's revision; None when it could not be read (``schema_error`` says why)
    schema: Optional[schema.SchemaStatus] = None
    schema_error: Optional[str] = None
    #: AuthCode counts (:meth:`flask_wecom.store.Store.auth_code_counts`); None when unreadable
    auth_codes: Optional[Dict[str, int]] = None
    auth_codes_error: Optional[str] = None
    #: this host's spool: its folder, entries waiting for the store, entries set aside in ``failed/``
    spool_directory: Optional[str] = None
    spool_waiting: int = 0
    spool_failed: List[str] = field(default_factory=list)

    @property
    def schema_behind(self) -> bool:
        status = self.schema
        return status is not None and not status.up_to_date and not status.newer


def _reason(exc: BaseException) -> str:
    return unavailable_reason(exc) or type(exc).__name__


def store_health(store: Any, spool: Any = None) -> StoreHealth:
    """Read everything :class:`StoreHealth` holds; never raises for a database that is down."""
    health = StoreHealth()
    try:
        health.schema = schema.current_status(store.engine)
    except Exception as exc:  # noqa: BLE001 - down, frozen, refused: reported, not raised
        health.schema_error = _reason(exc)
    if health.schema is not None and health.schema.up_to_date:
        try:
            health.auth_codes = store.auth_code_counts()
        except Exception as exc:  # noqa: BLE001
            health.auth_codes_error = _reason(exc)
    else:  # the tables may not have the shape this code queries: read nothing more
        health.auth_codes_error = health.schema_error or "schema not current"
    if spool is not None:
        health.spool_directory = spool.directory
        health.spool_waiting = len(spool)
        health.spool_failed = spool.failed_names()
    return health


def schema_line(health: StoreHealth) -> str:
    if health.schema is None:
        return f"unavailable ({health.schema_error})"
    status = health.schema
    if status.up_to_date:
        return f"{status.describe()} (up to date)"
    if status.newer:
        return f"{status.describe()}: newer than this flask-wecom ({schema.HEAD}); run one version everywhere"
    command = ("`flask db upgrade` / `alembic upgrade heads`" if status.version_table == schema.APP_VERSION_TABLE
               else f"`{schema.UPGRADE_COMMAND}`")
    return f"{status.describe()}, behind {schema.HEAD}: run {command}"


def spool_line(health: StoreHealth) -> str:
    if health.spool_directory is None:
        return "-"
    text = f"{health.spool_waiting} waiting, {len(health.spool_failed)} failed  ({health.spool_directory})"
    if health.spool_failed:
        text += " — see `flask wecom doctor`"
    return text


def auth_codes_line(health: StoreHealth) -> str:
    counts = health.auth_codes
    if counts is None:
        return f"unavailable ({health.auth_codes_error})"
    text = (f"{counts['pending']} pending, {counts['exchanging']} exchanging, {counts['expired_leases']} with an "
            "expired lease")
    if counts["expired_leases"]:
        text += " (taken over by the next sweep, push or login; `flask wecom exchange --stuck` now)"
    if counts["lapsed"]:
        text += f"; {counts['lapsed']} lapsed (claimed over 10 min ago, never finished)"
    return text
