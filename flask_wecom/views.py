"""Login views of the ``wecom`` blueprint: ``/login``, ``/authorized``, ``/logout``.

* ``GET /wecom/login?next=/page[&via=oauth|qr][&corp_id=…]`` — remember a fresh state in the
  session (expiry ``WECOM_STATE_MAX_AGE``, single use) and 302 to WeCom: the in-client OAuth2
  link inside the WeCom client, the web / QR login page elsewhere (developer.work.weixin.qq.com/
  document/path/91022 and 98152).
* ``GET /wecom/authorized?code=…&state=…`` — check the state, exchange the code
  (:func:`flask_wecom.oauth.exchange_code`), renew the session, log the member in, go to ``next``.
* ``POST /wecom/logout`` logs out; ``GET /wecom/logout`` shows the form that posts it.

Every failure ends on ``wecom/login_error.html`` (or JSON for requests that want it) naming the
errcode, its meaning and the fix in Chinese and English — never a stack trace.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import weakref
from typing import Any, Dict, Optional, Set, Tuple
from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from . import console, domains, errcodes, reasons, signals
from .app_types import THIRD_PARTY, AppType
from .login import (
    STATES_KEY,
    login_user,
    logout_token,
    logout_user,
    safe_next,
    wants_json,
    wecom_user,
)
from .marks import marks_for
from .oauth import (
    OAUTH,
    QR,
    LoginFailure,
    choose_via,
    exchange_code,
    failure_from_error,
    generate_state,
    is_valid_state,
    login_url,
)
from .redact import redact_query
from .state import WeComState, current_app_object, get_state

log = logging.getLogger("flask_wecom.login")

__all__ = ["register_login_views", "redirect_uri", "describe_failure", "failure_response", "render_failure"]

#: logins in progress kept per session (several tabs may start one)
MAX_PENDING_STATES = 5
_USED_STATE_PREFIX = "login-state-used|"


def _now() -> float:
    """The app's clock (``WeCom(app, clock=...)``; time.time unless a test gives another)."""
    return get_state().clock()


def register_login_views(bp: Blueprint, wecom: Any) -> None:
    """Called by :func:`flask_wecom.blueprint.create_blueprint`."""
    bp.add_url_rule("/login", "login", login_view, methods=["GET"])
    bp.add_url_rule("/authorized", "authorized", authorized_view, methods=["GET"])
    bp.add_url_rule("/logout", "logout", logout_view, methods=["GET", "POST"])


def _public_url(endpoint: str) -> str:
    public = current_app.config.get("WECOM_PUBLIC_URL")
    if public:
        return str(public).rstrip("/") + url_for(endpoint)
    return url_for(endpoint, _external=True)


def redirect_uri() -> str:
    """The ``redirect_uri`` sent to WeCom; its host (port included) must be the app's trusted domain
    (developer.work.weixin.qq.com/document/path/91022, errcode 50001 of document 90313)."""
    return _public_url("wecom.authorized")


_warned_lock = threading.Lock()
#: per app (its WeComState): the redirect hosts the login view has already warned about
_warned_hosts: weakref.WeakKeyDictionary[Any, Set[str]] = weakref.WeakKeyDictionary()


def _trusted_domain_fix(uri: str, app_type: AppType) -> Tuple[str, str]:
    """(zh, en) fix of the 50001 page: the host to enter — never an IP or a port, which WeCom refuses (80001)."""
    checked = domains.redirect_host(uri)
    if checked is not None and checked.problem is None:
        host = checked.host
        where_zh, where_en = console.trusted_domain_place(app_type)
        return (f"在{where_zh}把可信域名设为 {host}，或设置 WECOM_PUBLIC_URL 让回调地址使用已登记的域名。",
                f"Set the trusted domain to {host} in {where_en}, or set WECOM_PUBLIC_URL so the redirect URI "
                "uses the registered domain.")
    advice_zh, advice_en = domains.serve_advice(checked.advisable if checked is not None else None)
    return (f"企业微信不接受 IP 地址或端口作为可信域名：{advice_zh}。",
            f"WeCom accepts neither an IP address nor a port as a trusted domain: {advice_en[0].upper()}"
            f"{advice_en[1:]}.")


def _warn_once_about_redirect_host(state: WeComState, uri: str) -> None:
    """Log once per app and host when WeCom would refuse ``uri``'s host as a 可信域名 (IP, port, local name).

    The login still redirects (WeCom decides; local and test setups keep working): the doctor, the
    setup page and this one line are where the rule (docs 96441, 90313 80001) is enforced.
    """
    checked = domains.redirect_host(uri)
    if checked is None or checked.problem is None:
        return
    with _warned_lock:
        warned = _warned_hosts.setdefault(state, set())
        if checked.host in warned:
            return
        warned.add(checked.host)
    log.warning("%s", domains.login_warning(uri, checked))


# -- /login ----------------------------------------------------------------------------------


def login_view() -> ResponseReturnValue:
    state = get_state()
    config = state.config
    provider = state.provider
    next_url = safe_next(request.args.get("next")) or config["WECOM_LOGIN_VIEW_NEXT"]
    via = choose_via(config["WECOM_LOGIN_VIA"], request.user_agent.string, request.args.get("via"))
    third_party = provider.app_type == THIRD_PARTY
    try:
        corp_id: Optional[str] = None
        agent_id: Optional[str] = None
        if not third_party:  # a known corp (named, or WECOM_CORP_ID) costs one row of the store at most
            corp_id, agent_id = provider.login_corp(request.args.get("corp_id") or None)
        provider.raise_if_blocked(corp_id, agent_id=agent_id)  # a remembered failure: its page now, not after WeCom
        value = generate_state()
        target = login_url(
            via=via,
            app_type=provider.app_type,
            appid=(provider.suite_id or "") if third_party else (corp_id or ""),  # both set here (config, login_corp)
            agentid=agent_id,
            redirect_uri=redirect_uri(),
            state=value,
            scope=config["WECOM_SCOPE"],
            authorize_base=config["WECOM_OAUTH_AUTHORIZE_URL"],
            sso_base=config["WECOM_SSO_LOGIN_URL"],
            login_suite_id=provider.login_suite_id if provider.has_login_suite else None,
        )
    except Exception as exc:  # noqa: BLE001 - every failure gets the explained page
        failure = failure_from_error(exc, "login")
        if failure.reason == "internal":
            log.exception("login: unexpected error while starting the login")
        else:
            log.warning("login: cannot start: %s", failure)
        return failure_response(failure, next_url=next_url, via=via)
    _remember_state(value, next_url=next_url, corp_id=corp_id, via=via,
                    max_age=int(config["WECOM_STATE_MAX_AGE"]))
    _warn_once_about_redirect_host(state, redirect_uri())
    return redirect(target)


def _remember_state(value: str, *, next_url: str, corp_id: Optional[str], via: str, max_age: int) -> None:
    now = _now()
    pending = {key: entry for key, entry in dict(session.get(STATES_KEY) or {}).items()
               if isinstance(entry, dict) and entry.get("exp", 0) > now}
    pending[value] = {"exp": now + max_age, "next": next_url, "corp": corp_id, "via": via}
    if len(pending) > MAX_PENDING_STATES:
        newest = sorted(pending.items(), key=lambda item: item[1]["exp"])[-MAX_PENDING_STATES:]
        pending = dict(newest)
    session[STATES_KEY] = pending


# -- /authorized -----------------------------------------------------------------------------


def _state_key(value: str) -> str:
    return _USED_STATE_PREFIX + hashlib.sha256(value.encode("utf-8")).hexdigest()


def _seen(value: str) -> bool:
    try:
        return marks_for(get_state().shared_cache).seen(_state_key(value))
    except Exception:  # noqa: BLE001 - a cache outage must not block logins; the session check remains
        log.warning("login: token cache unavailable; cannot check whether a state was used before")
        return False


def _mark_used(value: str) -> bool:
    """Record ``value`` as used (in the token cache, shared by the workers); False if it already was.

    One atomic operation on every backend (flask_wecom.marks): two requests with one state, one wins."""
    state = get_state()
    timeout = max(int(state.config["WECOM_STATE_MAX_AGE"]), 60) * 2
    try:
        return marks_for(state.shared_cache).mark(_state_key(value), timeout)
    except Exception:  # noqa: BLE001
        log.warning("login: token cache unavailable; state replay is checked by the session only")
        return True


def _take_state(value: str) -> Dict[str, Any]:
    """Consume the pending login ``value`` (single use) or raise the matching LoginFailure."""
    pending = dict(session.get(STATES_KEY) or {})
    entry = pending.pop(value, None) if value else None
    if entry is not None:
        session[STATES_KEY] = pending
    if not value:
        raise LoginFailure("state_missing", "the WeCom answer has no state")
    if not is_valid_state(value):
        raise LoginFailure("state_mismatch", "the state is not one WeCom accepts")
    if not isinstance(entry, dict):
        if _seen(value):
            raise LoginFailure("state_replayed", "this login answer was already used")
        raise LoginFailure("state_mismatch", "no login with this state was started in this session")
    # Mark it used on the server too: an old copy of the cookie must not make it work twice.
    if not _mark_used(value):
        raise LoginFailure("state_replayed", "this login answer was already used")
    if float(entry.get("exp", 0)) < _now():
        failure = LoginFailure("state_expired", "the login took longer than WECOM_STATE_MAX_AGE")
        failure.next_url = entry.get("next")  # "start again" goes back to the same page, the same way
        failure.via = entry.get("via")
        raise failure
    return entry


def authorized_view() -> ResponseReturnValue:
    state = get_state()
    default_next = state.config["WECOM_LOGIN_VIEW_NEXT"]
    entry: Dict[str, Any] = {}
    try:
        entry = _take_state(request.args.get("state", ""))
        code = request.args.get("code", "")
        if not code:
            raise LoginFailure("cancelled", "WeCom came back without a code (the user cancelled or refused)")
        user = exchange_code(state.provider, code, corp_id=entry.get("corp"), via=entry.get("via"))
        app_user = None
        loader = state.ext._user_loader
        if loader is not None:
            app_user = current_app.ensure_sync(loader)(user)
            if app_user is None:
                raise LoginFailure("refused", "the app's user_loader refused this member")
    except LoginFailure as failure:
        next_url = failure.next_url or entry.get("next") or default_next
        return failure_response(failure, next_url=next_url, via=failure.via or entry.get("via"))
    except Exception as exc:  # noqa: BLE001 - a bug must still end on the explained page
        log.exception("login: unexpected error in the authorized view")
        unexpected = failure_from_error(exc, "authorized")
        return failure_response(unexpected, next_url=entry.get("next") or default_next, via=entry.get("via"))
    next_url = safe_next(entry.get("next")) or default_next
    session.clear()  # renew the session: nothing planted before the login survives it (no fixation)
    login_user(user, app_user)
    regenerate = getattr(current_app.session_interface, "regenerate", None)
    if callable(regenerate):  # server-side sessions (Flask-Session >= 0.7): a new session id as well
        regenerate(session)
    log.info("login: %s of corp %s logged in", user.userid, user.corp_id)
    return redirect(next_url)


# -- /logout ---------------------------------------------------------------------------------


def _same_origin() -> bool:
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return False
    return urlsplit(origin).netloc == request.host


def logout_view() -> ResponseReturnValue:
    next_url = safe_next(request.values.get("next")) or current_app.config["WECOM_LOGIN_VIEW_NEXT"]
    if request.method == "GET":
        return render_template("wecom/logout.html", next_url=next_url)
    if not wecom_user.is_authenticated:
        session.pop(STATES_KEY, None)
        if wants_json():
            return jsonify(ok=True, logged_in=False)
        return redirect(next_url)
    token = request.form.get("token", "")
    expected = logout_token()
    if not (token and hmac.compare_digest(token, expected)) and not _same_origin():
        # A cross-site form post: show the confirmation form instead of logging out.
        return render_template("wecom/logout.html", next_url=next_url), 400
    logout_user()
    session.clear()
    if wants_json():
        return jsonify(ok=True, logged_in=False)
    return redirect(next_url)


# -- failure pages ----------------------------------------------------------------------------

def describe_failure(failure: LoginFailure) -> Dict[str, Any]:
    """Everything the failure page (and the JSON answer) shows, with no secret and no traceback."""
    state = get_state()
    record = reasons.get(failure.reason)
    reason = record.name
    uri = redirect_uri()
    whitelist_zh, whitelist_en = console.sentence(console.whitelist_fix(state.app_type, failure.ip))
    from_config = bool(state.config.get("WECOM_SECRET"))
    secret_zh, secret_en = console.secret_fix(state.app_type, from_config)  # ends "…the secret is the problem: "
    secret_zh, secret_en = secret_zh + "。", secret_en + "."
    domain_fix_zh, domain_fix_en = _trusted_domain_fix(uri, state.app_type)
    values = {
        "login_url": _public_url("wecom.login"),
        "secret_fix_zh": secret_zh,
        "secret_fix_en": secret_en,
        "max_age": state.config["WECOM_STATE_MAX_AGE"],
        "ip_zh": failure.ip or "（企业微信未注明，即本服务器的出口 IP）",
        "ip_en": failure.ip or "(not named by WeCom: this server's egress IP)",
        "redirect_uri": uri,
        "host": urlsplit(uri).netloc,
        "domain_fix_zh": domain_fix_zh,
        "domain_fix_en": domain_fix_en,
        "whitelist_zh": whitelist_zh,
        "whitelist_en": whitelist_en,
    }
    info = failure.info
    details: Dict[str, Any] = {
        "reason": reason,
        "status": record.status,
        **record.render(values),
        "errcode": failure.errcode,
        "errmsg": redact_query(failure.errmsg)[:300] if failure.errmsg else "",
        "meaning_zh": info.zh if info else None,
        "meaning_en": info.en if info else None,
        "errcode_fix_zh": info.fix_zh if info and not record.own_fix else None,
        "errcode_fix_en": info.fix_en if info and not record.own_fix else None,
        "lookup_url": errcodes.query_url(failure.errcode) if failure.errcode is not None else None,
        "ip": failure.ip,
        "redirect_uri": uri if reason == "trusted_domain" else None,
        "retry": record.retry,
    }
    return details


def failure_response(failure: LoginFailure, *, next_url: Optional[str] = None,
                     via: Optional[str] = None) -> ResponseReturnValue:
    """Send ``login_failed`` and answer with the explained page (or JSON).

    "Start again" leads to ``/login`` with the same ``next`` and, when known, the same ``via``.
    """
    app = current_app_object()
    signals.send(signals.login_failed, app, error=failure)
    details = describe_failure(failure)
    via = via if via in (OAUTH, QR) else None
    retry_url = url_for("wecom.login", next=safe_next(next_url) or None, via=via) if details["retry"] else None
    corp_form = None
    if details["reason"] == "corp_required":
        # the member types their corp id and the login goes on where it was going (a hub client, a page)
        corp_form = {"action": url_for("wecom.login"), "next": safe_next(next_url), "via": via}
    return render_failure(details, retry_url, corp_form=corp_form)


#: reasons that pass by themselves: their 503 carries ``Retry-After`` (seconds; from the registry)
RETRY_AFTER: Dict[str, int] = reasons.RETRY_AFTER


def render_failure(details: Dict[str, Any], retry_url: Optional[str], *, retry_label: Optional[str] = None,
                   corp_form: Optional[Dict[str, Any]] = None) -> ResponseReturnValue:
    """The failure page (or JSON) for :func:`describe_failure`'s ``details``, with its status and, for a
    failure that passes by itself, a ``Retry-After`` header. ``corp_form``: the page asks for the corp id and
    sends it to ``action`` with the login's ``next`` and ``via`` (JSON: ``corp_login_url``, to which the
    client adds ``corp_id``)."""
    status = details["status"]
    retry_after = RETRY_AFTER.get(details["reason"])
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    if wants_json():
        body = {key: value for key, value in details.items() if value is not None}
        body["error"] = details["reason"]
        if retry_url:
            body["retry_url"] = retry_url
        if corp_form:
            body["corp_login_url"] = url_for("wecom.login", next=corp_form["next"] or None, via=corp_form["via"])
        response = jsonify(body)
        response.status_code = status
        response.headers.update(headers)
        return response
    page = render_template("wecom/login_error.html", failure=details, retry_url=retry_url, retry_label=retry_label,
                           corp_form=corp_form)
    return (page, status, headers) if headers else (page, status)
