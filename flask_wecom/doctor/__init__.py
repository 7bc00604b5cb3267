"""The doctor: check a WeCom setup actively, before a user runs into the error (framework-free).

Most problems with 代开发 apps only show up *inside the WeCom client* (redirect_uri / 可信域名
mismatch, app disabled, trial over, IP not whitelisted, wrong receiveid on the callback). The
doctor runs nine checks and says how to fix each finding, in Chinese and English:

1. :func:`check_config` — every key the app type needs is present and well-formed
   (:func:`flask_wecom.config.validate_config`), plus ``WECOM_PUBLIC_URL``.
2. :func:`check_callback` — a signed, encrypted URL-verification GET to our own callback
   route, in process, must come back with the plaintext (Token / EncodingAESKey / receiveid
   agree, doc 96466, doc 90968); shows the exact URLs to paste into the console.
3. :func:`check_suite` — a suite_ticket younger than 30 minutes (doc 97162) and a working
   ``get_suite_token`` (doc 97162).
4. :func:`check_corp_tokens` — per corp, ``gettoken`` (doc 97164) or ``get_corp_token`` (doc 90605).
5. :func:`check_agents` — per corp, ``agent/get``: trusted domain = the host of our redirect URI,
   which must be a domain WeCom accepts (no IP, no port: docs 96441, 90313 80001), the web-login
   callback domain to enter (授权回调域, 98173; no API reads it), app enabled / online, visible
   range not empty.
6. :func:`check_authorization` — per corp, ``get_auth_info`` (doc 100795): still authorized; expiry
   of a paid edition (a warning before it happens), the licence trial's end and when licence
   checks start (doc 97194: after that only members without a licence are refused — a warning).
7. :func:`check_callback_ips` — ``getcallbackip`` (doc 98988 for 代开发, 90238 for self-built):
   WeCom's callback source IPs.
8. :func:`check_permissions` — per corp, ``agent/get_permissions`` (doc 99052): may the 代开发
   app read members' name and email (``contact:sensitive:user_name`` / ``:email``, doc 98980)?
9. :func:`check_store` — the store's database answers, its schema is current, nothing in the local
   spool was set aside in ``failed/``, no AuthCode claim lapsed unfinished.

One module per group of checks: ``config`` (1), ``callback`` (2), ``suite`` (3), ``corps`` (4),
``agents`` (5), ``authorization`` (6), ``callback_ips`` (7), ``permissions`` (8), ``store`` (9);
``base`` holds :class:`CheckResult`, :class:`DoctorContext` and the helpers they share. Words used
elsewhere too (console locations, whitelist and secret fixes) come from :mod:`flask_wecom.console`.

Every check returns a list of :class:`CheckResult`; :func:`run_checks` runs them in order and
skips what depends on a failed step (no suite ticket → no suite token → …) with the reason.

The doctor makes *fresh* API calls (it does not use the token cache, which could hide a wrong
secret behind a token fetched earlier). WeCom answers a repeated ``gettoken`` within the
token's lifetime with the same token (doc 97164), so running the doctor does not disturb the
tokens other workers hold. Nothing secret ever reaches a result: findings name keys, never
values, and every text is passed through :func:`flask_wecom.redact.redact_text` with every
secret the run handled as a last line of defence.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from ..config import CUSTOMIZED as CUSTOMIZED
from ..config import INTERNAL, AppType
from ..config import THIRD_PARTY as THIRD_PARTY
from ..redact import redact_text

# re-exported: the names other modules and the tests import from flask_wecom.doctor
from .agents import PUBLISH_STATUS as PUBLISH_STATUS
from .agents import USER_SEES as USER_SEES
from .agents import _app_status_row as _app_status_row
from .agents import _domain_row as _domain_row
from .agents import _visible_row as _visible_row
from .agents import _web_login_row as _web_login_row
from .agents import check_agents
from .authorization import _authorization_row as _authorization_row
from .authorization import check_authorization
from .base import FAIL, STATUSES, SYMBOLS, CheckResult, DoctorContext, Probe, _both, _result, trusted_host
from .base import OK as OK
from .base import SKIP as SKIP
from .base import TICKET_LIFETIME as TICKET_LIFETIME
from .base import TICKET_WARN_AGE as TICKET_WARN_AGE
from .base import WARN as WARN
from .callback import check_callback
from .callback_ips import check_callback_ips
from .config import check_config
from .corps import check_corp_tokens
from .permissions import check_permissions
from .store import check_store
from .suite import check_suite

log = logging.getLogger("flask_wecom.doctor")

__all__ = [
    "CheckResult",
    "DoctorContext",
    "Probe",
    "STATUSES",
    "SYMBOLS",
    "CHECKS",
    "run_checks",
    "summarize",
    "check_config",
    "check_callback",
    "check_suite",
    "check_corp_tokens",
    "check_agents",
    "check_authorization",
    "check_callback_ips",
    "check_permissions",
    "check_store",
    "trusted_host",
]


# -- running them -------------------------------------------------------------------------------

#: the checks in the order they run (each may use what the earlier ones found)
CHECKS: Tuple[Callable[[DoctorContext], List[CheckResult]], ...] = (
    check_config,
    check_callback,
    check_suite,
    check_corp_tokens,
    check_agents,
    check_authorization,
    check_callback_ips,
    check_permissions,
    check_store,
)


def _scrub(results: Iterable[CheckResult], secrets: Iterable[str]) -> List[CheckResult]:
    # Short values (a 6-letter Token…) would mangle ordinary words; none of ours is printed anyway.
    values = [s for s in secrets if s and len(s) >= 8]
    out = []
    for r in results:
        out.append(CheckResult(r.id, redact_text(r.title, values), r.status, redact_text(r.finding, values),
                               redact_text(r.fix, values), r.step, r.corp_id,
                               [redact_text(d, values) for d in r.details]))
    return out


def run_checks(config: Optional[Mapping[str, Any]] = None, app_type: Optional[AppType] = None,
               provider: Any = None, client: Any = None, *, context: Optional[DoctorContext] = None,
               **options: Any) -> List[CheckResult]:
    """Run checks 1–9 in order and return every :class:`CheckResult`.

    Either pass a ready :class:`DoctorContext` as ``context=``, or ``config`` (the ``WECOM_*``
    mapping), ``app_type``, ``provider`` and ``client`` plus any other :class:`DoctorContext`
    field as a keyword (``secret_key``, ``public_url``, ``probe``, ``console``, ``clock``…).
    A check that crashes becomes a ``fail`` row instead of an exception.
    """
    ctx = context
    if ctx is None:
        ctx = DoctorContext(config or {}, app_type or INTERNAL, provider, client, **options)
    results: List[CheckResult] = []
    for check in CHECKS:
        try:
            results.extend(check(ctx))
        except Exception as exc:  # noqa: BLE001 - a doctor reports, it does not crash
            log.exception("doctor: %s crashed", check.__name__)
            results.append(_result(check.__name__.replace("check_", ""), check.__name__, FAIL,
                                   _both("检查本身出错", "the check itself failed")
                                   + f": {type(exc).__name__}",
                                   _both("查看服务器日志（flask_wecom.doctor）",
                                         "see the server log (flask_wecom.doctor)"),
                                   step=CHECKS.index(check) + 1))
    return _scrub(results, ctx.handled_secrets)


def summarize(results: Iterable[CheckResult]) -> Dict[str, Any]:
    """Counts per status and ``passed`` (no ``fail``)."""
    counts = dict.fromkeys(STATUSES, 0)
    for r in results:
        counts[r.status] += 1
    return {**counts, "passed": counts[FAIL] == 0}
