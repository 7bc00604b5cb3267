"""Callback views: the template (指令) URL and the app (数据) URL.

A delivery goes through two steps. **Authenticate the delivery** (:func:`flask_wecom.delivery.authenticate`,
core): params, timestamp window, body size, envelope, signature, decryption, receiveid
(provider.receive_id_rule; a template POST with another one is processed and logged loudly), event XML —
each refusal with its own status and a log line, which the view only turns into the answer (never a 500).
**Process the event** (:func:`process_event`): replay (answered `success`, not processed again) → effect →
handlers → passive reply. The replay mark commits in one transaction with the event's effect, so a failure
anywhere leaves the delivery processable. A template event the store cannot take (it is down) is kept in the local spool
and answered `success` (WeCom documents no retry for those); an app message then answers 503 and
WeCom's retry is processed. Signal receivers and handlers that raise are logged; they never change
the answer.
"""
from __future__ import annotations

import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any, Literal, Optional, Tuple, Union

from blinker import NamedSignal
from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from . import signals
from .delivery import Delivery, Refusal, authenticate
from .errors import WeComError
from .events import CallbackEvent
from .state import WeComState, current_app_object, get_state

if TYPE_CHECKING:
    from .provider import EventOutcome
    from .storage import CorpRecord

log = logging.getLogger("flask_wecom.callback")

TEMPLATE = "template"
DATA = "data"


def _answer(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def _refuse(refusal: Refusal) -> Response:
    log.warning("callback refused (%d): %s", refusal.status, refusal.message)
    return _answer(refusal.status, refusal.text)


def notify(signal: NamedSignal, app: Flask, **kwargs: Any) -> None:
    """Send a signal through :func:`flask_wecom.signals.send`: a receiver that raises is logged with its
    name and never changes WeCom's answer."""
    signals.send(signal, app, **kwargs)


def handle_callback(endpoint: str) -> Response:
    try:
        return _handle_callback(endpoint)
    except HTTPException:  # e.g. MAX_CONTENT_LENGTH of the app: werkzeug's own 413
        raise
    except Exception:  # noqa: BLE001 - WeCom must get an answer it retries, never a 500 page
        log.exception("callback on the %s URL failed; answered 503 so that WeCom retries", endpoint)
        return _answer(503, "temporarily unable to process the callback; WeCom will retry")


def _handle_callback(endpoint: str) -> Response:
    state = get_state()
    delivery = authenticate(state.provider, state.config, endpoint, request.method, request.args,
                            content_length=request.content_length, read=request.stream.read, now=time.time())
    if isinstance(delivery, Refusal):
        return _refuse(delivery)
    if delivery.event is None:  # URL verification: WeCom wants the bare plaintext, no quotes/BOM/newline (96466)
        return Response(delivery.plaintext, status=200, content_type="text/html; charset=utf-8")
    return process_event(state, endpoint, delivery)


def process_event(state: WeComState, endpoint: str, delivery: Delivery) -> Response:
    """An authenticated event: the template URL's (stored or spooled, always `success`) or an app message."""
    event = delivery.event
    assert event is not None  # a message, not a URL verification
    if endpoint == TEMPLATE:
        return _take_template_event(state, event, delivery.plaintext, delivery.msg_signature, delivery.nonce)
    return _take_app_message(state, endpoint, event, delivery)


def _take_app_message(state: WeComState, endpoint: str, event: CallbackEvent, delivery: Delivery) -> Response:
    """App (数据) callbacks: the replay marks commit with the handlers' run, in one transaction; if anything
    fails, nothing is marked, the answer is 503 and WeCom's documented retries (3, 5 s apart:
    developer.work.weixin.qq.com/document/path/96466) deliver it again. No spool: a passive reply can
    only be given now, and WeCom retries these."""
    with state.store.transaction():
        if not state.store.first_seen(delivery.msg_signature, delivery.nonce):
            log.info("callback: duplicate delivery (msg_signature+nonce seen before) answered without processing")
            return _answer(200, "")
        if not state.store.first_seen(CONTENT, _content_key(event, delivery.plaintext)):
            log.info("callback: app message %s delivered again (WeCom retry) answered without processing",
                     event.type)
            return _answer(200, "")
        reply = _dispatch(state, endpoint, event)
    if reply:
        # Encrypt the passive reply for the id the message came with (a reply for another id is dropped).
        try:
            return Response(delivery.crypto.encrypt_message(reply, delivery.nonce, receive_id=delivery.receive_id),
                            mimetype="application/xml")
        except WeComError as exc:  # processed already: a 503 would only make WeCom deliver it again
            log.error("callback: the handler's reply for %r cannot be sent: %s", event.type, exc.message)
    return _answer(200, "")


#: namespace of the content keys of app messages in the delivery table
CONTENT = "content"


def _take_template_event(state: WeComState, event: CallbackEvent, plaintext: str, msg_signature: str,
                         nonce: str) -> Response:
    """Template (指令) events: WeCom wants `success` and documents no retry
    (developer.work.weixin.qq.com/document/path/97172), so an event the store cannot take is kept in the
    local spool and answered `success`; it is applied, once, when the store is back."""
    app = current_app_object()
    try:
        outcome = store_template_event(state, event, (msg_signature, nonce))
    except Exception as exc:  # noqa: BLE001 - the store is down (or a bug): keep the event, answer success
        try:
            state.spool.put("event", {"plaintext": plaintext, "msg_signature": msg_signature, "nonce": nonce})
        except Exception:  # the disk failed too: 503 is all that is left
            log.exception("callback: the %s event could be neither stored nor spooled", event.type)
            raise
        log.warning("callback: the store cannot take the %s event (%s: %s); kept in %s and applied once the "
                    "store is back", event.type, type(exc).__name__, (str(exc).splitlines() or [""])[0][:200],
                    state.spool.directory)
        return _answer(200, "success")
    if outcome is None:
        log.info("callback: duplicate delivery (msg_signature+nonce seen before) answered without processing")
        return _answer(200, "success")
    try:
        after_template_event(state, app, event, outcome)
    except Exception:  # noqa: BLE001 - committed already: the sweep retries what did not start
        log.exception("callback: the %s event is stored, but what follows it failed; the sweep retries "
                      "pending AuthCodes", event.type)
    return _answer(200, "success")


def store_template_event(state: WeComState, event: CallbackEvent, mark: Optional[Tuple[str, str]] = None,
                         received_at: Optional[float] = None) -> Union[EventOutcome, Literal[False], None]:
    """Apply a template event's store effect and its replay mark in ONE transaction. Returns the outcome
    (None for a duplicate, or no outcome for a non-InfoType message); raises when the store fails, with
    nothing committed."""
    with state.store.transaction():
        if mark is not None and not state.store.first_seen(*mark):
            return None
        if not event.is_template_event:
            return False
        outcome = state.provider.handle_template_event(event, received_at=received_at)
        if outcome.action == "ticket_stored":
            # AuthCodes waiting for a ticket (or whose claim expired), read in this transaction rather than in
            # one of their own after it, and only when this process knows some may wait (Store.
            # auth_codes_waiting_for_ticket; the sweep takes the others). A code recorded meanwhile by another
            # process is exchanged by that process (its exchange reads the ticket) or, had it seen none, by the sweep.
            outcome.pending = state.store.auth_codes_waiting_for_ticket(state.provider.lease)
        return outcome


def after_template_event(state: WeComState, app: Flask, event: CallbackEvent,
                         outcome: Union[EventOutcome, Literal[False], None]) -> None:
    """What follows a committed template event: signals, AuthCode exchanges, the app's handlers."""
    if outcome:
        _handle_template_event(state, app, event, outcome)
    _dispatch(state, TEMPLATE, event)


def _content_key(event: CallbackEvent, plaintext: str) -> str:
    """What identifies an app message across WeCom's retries (doc 96466: up to three when we are slower than
    5 s). WeCom recommends MsgId for messages; for events it suggests FromUserName + CreateTime, which
    two contact changes in one second would share, so the whole decrypted message stands in for it:
    a retry carries the same message, two different events differ somewhere."""
    msg_id = event.get("MsgId")
    if msg_id not in (None, "") and not isinstance(msg_id, (dict, list)):
        return f"msgid:{event.to_user}:{msg_id}"
    return "sha256:" + hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _dispatch(state: WeComState, endpoint: str, event: CallbackEvent) -> Optional[str]:
    app = current_app_object()
    notify(signals.callback_received, app, event=event, endpoint=endpoint)
    reply = None
    for handler in state.ext.handlers_for(event.type):
        try:
            result = current_app.ensure_sync(handler)(event)
        except Exception:  # a user's handler must not turn into a 500 that WeCom retries forever
            log.exception("callback handler %r for %r failed", handler, event.type)
            continue
        if isinstance(result, str) and reply is None:
            reply = result
    return reply


def _exchange(state: WeComState, app: Flask, code_id: int, info_type: Optional[str], *,
              take_over: bool = False) -> None:
    if state.config["WECOM_EXCHANGE_IN_BACKGROUND"]:
        state.run_in_background(lambda: exchange_and_notify(state, app, code_id, info_type, take_over=take_over))
    else:
        exchange_and_notify(state, app, code_id, info_type, take_over=take_over)


def _handle_template_event(state: WeComState, app: Flask, event: CallbackEvent, outcome: EventOutcome) -> None:
    if outcome.action == "ignored":
        log.info("template event %s ignored: %s", event.type, outcome.reason)
    elif outcome.action == "ticket_stored":
        notify(signals.suite_ticket_received, app, suite_id=event.suite_id, event=event)
        # AuthCodes that arrived before any usable ticket were kept, and claims whose lease expired (their
        # process died) are taken over: exchange them now.
        pending = outcome.pending
        if pending is None:
            pending = state.store.pending_auth_codes(expired=True, lease=state.provider.lease)
        for record in pending:
            _exchange(state, app, record.id, record.info_type, take_over=True)
    elif outcome.action == "auth_code_recorded" and not outcome.duplicate and outcome.auth_code_id is not None:
        _exchange(state, app, outcome.auth_code_id, event.info_type)
    elif outcome.action == "revoked":
        notify(signals.corp_auth_cancelled, app, corp_id=outcome.corp_id, event=event)
    elif outcome.action == "auth_changed" and outcome.corp_id:
        corp_id = outcome.corp_id
        state.run_in_background(lambda: refresh_and_notify(state, app, corp_id, event))


def exchange_and_notify(state: WeComState, app: Flask, code_id: int, info_type: Optional[str], *,
                        reclaim_after: Optional[float] = None, take_over: bool = False) -> Optional[CorpRecord]:
    """Exchange one AuthCode and send the matching signal (used by the view and `flask wecom exchange`).

    Never raises: the AuthCode is recorded already, so the callback's answer does not depend on this.
    """
    try:
        corp = state.provider.exchange_auth_code(code_id, reclaim_after=reclaim_after, take_over=take_over)
    except Exception:  # noqa: BLE001 - runs after the answer or in a thread: log, never lose it silently
        log.exception("exchanging AuthCode #%s (%s) failed unexpectedly; see `flask wecom exchange`",
                      code_id, info_type)
        return None
    if corp is None:
        try:
            record = state.store.get_auth_code(code_id)
        except Exception as exc:  # noqa: BLE001 - the store is down: the sweep comes back to this code
            log.warning("AuthCode #%s: cannot read its state (%s)", code_id, type(exc).__name__)
            return None
        if record is not None and record.status == "failed":
            notify(signals.auth_code_failed, app, auth_code_id=code_id, error=record.error)
        return None
    if info_type == "reset_permanent_code":
        notify(signals.permanent_code_reset, app, corp_id=corp.corp_id, corp=corp)
    else:
        notify(signals.corp_authorized, app, corp_id=corp.corp_id, corp=corp)
    log.info("corp %s (%s) %s; agent %s", corp.corp_id, corp.corp_name,
             "secret reset" if info_type == "reset_permanent_code" else "authorized", corp.agent_id)
    return corp


def refresh_and_notify(state: WeComState, app: Flask, corp_id: str, event: CallbackEvent) -> Optional[CorpRecord]:
    corp: Optional[CorpRecord] = None
    try:
        corp = state.provider.refresh_auth_info(corp_id)
    except WeComError as exc:
        log.error("change_auth for %s: could not refresh auth info: %s", corp_id, exc)
    except Exception:  # noqa: BLE001 - runs in a thread: log it rather than lose it in a Future
        log.exception("change_auth for %s: could not refresh auth info", corp_id)
    notify(signals.corp_auth_changed, app, corp_id=corp_id, corp=corp, event=event)
    return corp


def template_callback() -> Response:
    return handle_callback(TEMPLATE)


def data_callback() -> Response:
    return handle_callback(DATA)
