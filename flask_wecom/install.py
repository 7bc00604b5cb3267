"""Third-party installs started from the provider's website: ``/install`` and ``/installed``.

WeCom documents two ways to install a third-party app (developer.work.weixin.qq.com/document/path/90597):
from the app marketplace, which pushes ``create_auth`` to the 指令回调 URL, and from the provider's
website, which does not (90642): the admin comes back to our ``redirect_uri`` with
``?auth_code=…&expires_in=600&state=…`` and nothing else tells us about the install.

* ``GET /wecom/install`` — gets a pre_auth_code (90601), sets the session info (90602,
  ``WECOM_INSTALL_AUTH_TYPE``) and shows a page whose button opens WeCom's install page. A page, not a
  redirect: WeCom wants the install page opened from a page on the app's 授权完成回调域名 (WeCom staff
  answers), and the button sends our origin as the Referer.
* ``GET /wecom/installed`` — the redirect target: records the auth_code like a create_auth AuthCode and
  exchanges it with get_permanent_code exactly once (a reload does not exchange it again), then stores
  the corp and sends ``corp_authorized``.

A 代开发 app is not installed this way (its template QR code pushes create_auth): both routes say so.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, Optional, Tuple

from flask import Blueprint, current_app, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from . import reasons
from .app_types import THIRD_PARTY
from .callback import exchange_and_notify
from .errors import NoSuiteTicketError, TransportError, WeComAPIError, WeComError
from .oauth import generate_state, is_valid_state
from .provider import install_page_url, record_install_code
from .state import current_app_object, get_state

log = logging.getLogger("flask_wecom.install")

__all__ = ["register_install_views", "install_redirect_uri"]

#: installs in progress kept per session
_STATES_KEY = "_wecom_install_states"
_MAX_STATES = 5


def register_install_views(bp: Blueprint) -> None:
    bp.add_url_rule("/install", "install", install_view, methods=["GET"])
    bp.add_url_rule("/installed", "installed", installed_view, methods=["GET"])


def install_redirect_uri() -> str:
    """Where WeCom sends the admin after the install; its host must be the 授权完成回调域名."""
    public = current_app.config.get("WECOM_PUBLIC_URL")
    if public:
        return str(public).rstrip("/") + url_for("wecom.installed")
    return url_for("wecom.installed", _external=True)


def _page(kind: str, status: int, **values: Any) -> Tuple[str, int]:
    return render_template("wecom/install.html", kind=kind, **values), status


def _text_page(name: str, values: Optional[Dict[str, object]] = None, **extra: Any) -> Tuple[str, int]:
    """An error page with the words of ``reasons.page(name)`` (the registry holds every page text)."""
    record = reasons.page(name)
    return _page("error", record.status, **record.render(values or {}), **extra)


def _not_third_party() -> Tuple[str, int]:
    return _text_page("install_not_third_party")


def _failure_page(exc: BaseException, step: str) -> Tuple[str, int]:
    record = reasons.page("install_unavailable")
    values: Dict[str, object] = {}
    if isinstance(exc, NoSuiteTicketError):  # the login page's words for the same failure
        words = reasons.RECORDS["no_suite_ticket"]
    elif isinstance(exc, WeComAPIError):
        words = reasons.page("install_api_error")
        values = {"step": step, "errcode": exc.errcode, "hint": exc.hint or ""}
    elif isinstance(exc, TransportError):
        words = reasons.RECORDS["unreachable"]
    else:
        words = record
    text = words.render(values)
    return _page("error", record.status, **dict(text, title_zh=record.title[0], title_en=record.title[1]))


def install_view() -> ResponseReturnValue:
    state = get_state()
    if state.app_type != THIRD_PARTY:
        return _not_third_party()
    value = generate_state()
    try:
        url = install_page_url(state.provider, install_base=state.config["WECOM_INSTALL_URL"],
                               redirect_uri=install_redirect_uri(), state=value,
                               auth_type=int(str(state.config["WECOM_INSTALL_AUTH_TYPE"]).strip() or 0))
    except (WeComError, ValueError) as exc:
        log.warning("install: cannot start: %s", exc)
        return _failure_page(exc, "get_pre_auth_code")
    now = time.time()
    pending: Dict[str, float] = {k: v for k, v in dict(session.get(_STATES_KEY) or {}).items()
                                 if isinstance(v, (int, float)) and v > now}
    pending[value] = now + 1200  # a pre_auth_code lives 20 minutes (90601)
    session[_STATES_KEY] = dict(sorted(pending.items(), key=lambda item: item[1])[-_MAX_STATES:])
    body, status = _page("start", 200, install_url=url)
    response = current_app.make_response((body, status))
    # WeCom checks that the install page is opened from our domain: send our origin as the Referer
    response.headers["Referrer-Policy"] = "origin"
    response.headers["Cache-Control"] = "no-store"  # the link carries a single-use pre_auth_code
    return response


def _take_state(value: str) -> bool:
    pending = dict(session.get(_STATES_KEY) or {})
    found = pending.pop(value, None) if is_valid_state(value) else None
    if found is not None:
        session[_STATES_KEY] = pending
    return found is not None and float(found) > time.time()


def installed_view() -> ResponseReturnValue:
    state = get_state()
    if state.app_type != THIRD_PARTY:
        return _not_third_party()
    auth_code = request.args.get("auth_code", "")
    value = request.args.get("state", "")
    if not auth_code:
        return _text_page("install_cancelled", retry_url=url_for("wecom.install"))
    if not _take_state(value):
        # The auth_code stands for a real install of our app, and no create_auth will follow (90642):
        # exchanging it loses nothing, refusing it would lose the install. So it is exchanged anyway.
        log.warning("install: the state of this install answer was not started in this browser session; "
                    "exchanging its auth_code anyway (WeCom sends no other notice of the install)")
    try:
        code_id, created = record_install_code(state.provider, auth_code, value or None)
    except Exception:  # noqa: BLE001 - the store is down: nothing was recorded, say so
        log.exception("install: could not record the auth_code")
        return _text_page("install_unrecorded")
    corp = None
    if created:
        corp = exchange_and_notify(state, current_app_object(), code_id, "create_auth")
    record = state.store.get_auth_code(code_id)
    if corp is None and record is not None and record.corp_id:
        corp = state.store.get_corp(record.corp_id)
    if corp is not None:
        return _page("done", 200, corp=corp,
                     login_url=url_for("wecom.login", corp_id=corp.corp_id))
    status = record.status if record is not None else "failed"
    if status in ("pending", "exchanging"):
        return _text_page("install_pending")
    error: Optional[str] = record.error if record is not None else None
    log.error("install: exchanging the auth_code failed: %s", error)
    return _text_page("install_refused", retry_url=url_for("wecom.install"))
