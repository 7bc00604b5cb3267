"""Callback views: the template (指令) URL and the app (数据) URL.

Order of checks, each with its own answer and a log line (never a 500):
params present (400) → timestamp well-formed (400) and within the window (403) → body size (413) →
envelope XML (400) → signature (403) → decrypt (400) → receiveid in the endpoint's accepted set
(403; a template POST with another one is processed and logged loudly: provider.receive_id_rule) →
event XML (400) → replay (answered `success`, not processed again) → handle.
The replay mark commits in one transaction with the event's effect, so a failure anywhere leaves the
delivery processable. A template event the store cannot take (it is down) is kept in the local spool
and answered `success` (WeCom documents no retry for those); an app message then answers 503 and
WeCom's retry is processed. Signal receivers and handlers that raise are logged; they never change
the answer.
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any, Optional, Set

from blinker import NamedSignal
from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from . import signals
from .crypto import MessageCrypto
from .errors import ParseXMLError, SignatureError, WeComError
from .events import CallbackEvent, parse_event
from .provider import receive_id_rule
from .state import WeComState, current_app_object, get_state
from .xmlutil import parse_xml

log = logging.getLogger("flask_wecom.callback")

TEMPLATE = "template"
DATA = "data"

# WeCom sends a plain Unix time; anything else (other digits, 10**400) is refused before arithmetic.
_TIMESTAMP = re.compile(r"[0-9]{1,12}\Z")


def _answer(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def _refuse(status: int, reason: str, *args) -> Response:
    log.warning("callback refused (%d): " + reason, status, *args)
    return _answer(status, (reason % args) if args else reason)


def _clip(value: str, limit: int = 64) -> str:
    """repr() of a received (attacker-chosen) id, short enough for a log line."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _refuse_receive_id(endpoint: str, received: str, accepted: Set[str]) -> Response:
    # The log names both ids; the answer does not list the corp ids we serve.
    log.warning("callback refused (403): receiveid %s is not accepted on the %s callback (expected one of %s; "
                "check WECOM_PROVIDER_CORP_ID / WECOM_SUITE_ID / WECOM_CORP_ID)",
                _clip(received), endpoint, sorted(accepted))
    return _answer(403, f"receiveid is not accepted on the {endpoint} callback (see the server log)")


def notify(signal: NamedSignal, app: Flask, **kwargs: Any) -> None:
    """Send a signal through :func:`flask_wecom.signals.send`: a receiver that raises is logged with its
    name and never changes WeCom's answer."""
    signals.send(signal, app, **kwargs)


def accepted_receive_ids(state: WeComState, endpoint: str, method: str) -> Set[str]:
    """The receiveids this endpoint expects for ``method`` (the rule itself is core: provider.receive_id_rule)."""
    return set(receive_id_rule(state.provider, endpoint, method).expected)


def _check_receive_id(state: WeComState, endpoint: str, method: str, receive_id: str) -> Optional[Response]:
    """None when the (signature-verified) message may be processed, else the 403 answer."""
    rule = receive_id_rule(state.provider, endpoint, method)
    if receive_id in rule.expected:
        return None
    if rule.strict:
        return _refuse_receive_id(endpoint, receive_id, set(rule.expected))
    # Template POSTs (developer.work.weixin.qq.com/document/path/97172): refusing would lose the event
    # (an AuthCode lives 10 minutes); the signature has been verified, so process it and say so loudly.
    log.error("callback: receiveid %s on the %s callback is not the expected %s; processed anyway (the "
              "signature is valid) so that no event is lost — check WECOM_SUITE_ID / WECOM_LOGIN_SUITE_ID",
              _clip(receive_id), endpoint, sorted(rule.expected) or "suite id (WECOM_SUITE_ID is not set)")
    return None


def _crypto_settings(state: WeComState, endpoint: str):
    config = state.config
    if endpoint == DATA:
        return (config["WECOM_DATA_TOKEN"] or config["WECOM_TOKEN"],
                config["WECOM_DATA_ENCODING_AES_KEY"] or config["WECOM_ENCODING_AES_KEY"])
    return config["WECOM_TOKEN"], config["WECOM_ENCODING_AES_KEY"]


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
    token, aes_key = _crypto_settings(state, endpoint)
    if not token or not aes_key:
        return _refuse(404, "callback is not configured: set WECOM_TOKEN and WECOM_ENCODING_AES_KEY")
    args = request.args
    needed = ("msg_signature", "timestamp", "nonce") + (("echostr",) if request.method == "GET" else ())
    missing = [name for name in needed if not args.get(name)]
    if missing:
        return _refuse(400, "missing query parameter(s): %s", ", ".join(missing))
    msg_signature, timestamp, nonce = args["msg_signature"], args["timestamp"], args["nonce"]
    if not _TIMESTAMP.match(timestamp):
        return _refuse(400, "timestamp is not a number")
    skew = abs(time.time() - int(timestamp))
    max_age = int(state.config["WECOM_CALLBACK_MAX_AGE"])
    if max_age and skew > max_age:
        return _refuse(403, "stale timestamp: %d s from our clock (limit %d s; check the server clock)",
                       skew, max_age)

    try:
        # No receive ids here: the decrypted one is checked below, once the signature has passed (doc 90968).
        crypto = MessageCrypto(token, aes_key, None)
    except WeComError as exc:
        return _refuse(503, "callback is misconfigured: %s", exc.message)
    if request.method == "GET":
        return _verify_url(state, crypto, endpoint, msg_signature, timestamp, nonce, args["echostr"])

    limit = int(state.config["WECOM_CALLBACK_MAX_BODY"])
    if request.content_length is not None and request.content_length > limit:
        return _refuse(413, "body of %d bytes is over the %d-byte limit", request.content_length, limit)
    body = request.stream.read(limit + 1)  # also bounds a chunked body, which has no Content-Length
    if len(body) > limit:
        return _refuse(413, "body is over the %d-byte limit", limit)
    try:
        envelope = parse_xml(body)
    except ParseXMLError as exc:
        return _refuse(400, "body is not acceptable XML: %s", exc.message)
    encrypt = envelope.get("Encrypt")
    if not encrypt or not isinstance(encrypt, str):
        return _refuse(400, "XML body has no <Encrypt> element")
    try:
        crypto.check_signature(msg_signature, timestamp, nonce, encrypt)
        plaintext, receive_id = crypto.decrypt(encrypt)
    except SignatureError:
        return _refuse(403, "msg_signature does not match: check WECOM_TOKEN (回调 Token 不一致)")
    except WeComError as exc:
        return _refuse(400, "cannot decrypt: %s (check WECOM_ENCODING_AES_KEY)", exc.message)
    refused = _check_receive_id(state, endpoint, request.method, receive_id)
    if refused is not None:
        return refused
    try:
        event = parse_event(plaintext)
    except ParseXMLError as exc:
        return _refuse(400, "decrypted message is not acceptable XML: %s", exc.message)
    if endpoint == TEMPLATE:
        return _take_template_event(state, event, plaintext, msg_signature, nonce)
    # App (数据) callbacks: the replay marks commit with the handlers' run, in one transaction; if anything
    # fails, nothing is marked, the answer is 503 and WeCom's documented retries (3, 5 s apart:
    # developer.work.weixin.qq.com/document/path/96466) deliver it again. No spool: a passive reply can
    # only be given now, and WeCom retries these.
    with state.store.transaction():
        if not state.store.first_seen(msg_signature, nonce):
            log.info("callback: duplicate delivery (msg_signature+nonce seen before) answered without processing")
            return _answer(200, "")
        if not state.store.first_seen(CONTENT, _content_key(event, plaintext)):
            log.info("callback: app message %s delivered again (WeCom retry) answered without processing",
                     event.type)
            return _answer(200, "")
        reply = _dispatch(state, endpoint, event)
    if reply:
        # Encrypt the passive reply for the id the message came with (a reply for another id is dropped).
        try:
            return Response(crypto.encrypt_message(reply, nonce, receive_id=receive_id),
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


def store_template_event(state: WeComState, event: CallbackEvent, mark: Optional[tuple] = None,
                         received_at: Optional[float] = None):
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


def after_template_event(state: WeComState, app, event: CallbackEvent, outcome) -> None:
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


def _verify_url(state: WeComState, crypto: MessageCrypto, endpoint: str, msg_signature: str, timestamp: str,
                nonce: str, echostr: str) -> Response:
    try:
        crypto.check_signature(msg_signature, timestamp, nonce, echostr)
    except SignatureError:
        return _refuse(403, "URL verification: msg_signature does not match (check WECOM_TOKEN)")
    except WeComError as exc:
        return _refuse(400, "URL verification: cannot check the signature: %s", exc.message)
    try:
        plaintext, receive_id = crypto.decrypt(echostr)
    except WeComError as exc:
        return _refuse(400, "URL verification: cannot decrypt echostr: %s", exc.message)
    refused = _check_receive_id(state, endpoint, "GET", receive_id)
    if refused is not None:
        return refused
    # WeCom wants the bare plaintext: no quotes, no BOM, no newline (doc 96466).
    return Response(plaintext, status=200, content_type="text/html; charset=utf-8")


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


def _handle_template_event(state: WeComState, app, event: CallbackEvent, outcome) -> None:
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
    elif outcome.action == "auth_code_recorded" and not outcome.duplicate:
        _exchange(state, app, outcome.auth_code_id, event.info_type)
    elif outcome.action == "revoked":
        notify(signals.corp_auth_cancelled, app, corp_id=outcome.corp_id, event=event)
    elif outcome.action == "auth_changed" and outcome.corp_id:
        corp_id = outcome.corp_id
        state.run_in_background(lambda: refresh_and_notify(state, app, corp_id, event))


def exchange_and_notify(state: WeComState, app: Flask, code_id: int, info_type: Optional[str], *,
                        reclaim_after: Optional[float] = None, take_over: bool = False):
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


def refresh_and_notify(state: WeComState, app, corp_id: str, event: CallbackEvent):
    corp = None
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
