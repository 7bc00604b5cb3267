"""Recovery without a human: replay the spool, take over AuthCode claims whose process died.

A sweep (:func:`sweep`) replays what the spool holds (template events the store could not take,
exchange answers it could not store), then exchanges the AuthCodes that are pending or whose lease
expired. It runs in each worker process every ``WECOM_SWEEP_INTERVAL`` seconds (a daemon thread
started by the process's first request), and the spool is also replayed right after the next
callback or request. So an AuthCode whose worker was killed mid-exchange is taken over within
``WECOM_EXCHANGE_LEASE`` + ``WECOM_SWEEP_INTERVAL`` seconds (30 + 10 by default), well inside the
10 minutes an AuthCode lives (developer.work.weixin.qq.com/document/path/90642).
"""
from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Dict

from . import signals
from .callback import after_template_event, exchange_and_notify, notify, store_template_event
from .errors import SchemaError
from .events import parse_event
from .spool import SpoolEntry
from .state import WeComState

log = logging.getLogger("flask_wecom.recovery")

#: at most one spool replay scheduled per state in this many seconds from the request path, and at most one
#: look at the spool folder (unless this process has just spooled something)
_KICK_EVERY = 1.0


def kick(state: WeComState) -> None:
    """Cheap, from the request path: start this process's sweeper, replay a non-empty spool soon.

    The spool folder is read at most once a second per process (an entry of another worker is seen
    within a second, or by the sweep), and at once after this process has spooled something."""
    try:
        _ensure_sweeper(state)
        now = time.monotonic()
        spool = state.spool
        if not spool.unseen_puts and now - getattr(state, "_spool_looked", -_KICK_EVERY) < _KICK_EVERY:
            return
        state._spool_looked = now
        spool.unseen_puts = False
        if now - getattr(state, "_spool_kicked", -_KICK_EVERY) >= _KICK_EVERY and spool.has_entries():
            state._spool_kicked = now
            state.run_in_background(lambda: replay_spool(state))
    except Exception:  # noqa: BLE001 - never break a request for this
        log.warning("could not schedule the spool replay", exc_info=True)


def sweep(state: WeComState) -> Dict[str, int]:
    """One pass (needs an app context): the spool first, then pending AuthCodes and expired claims."""
    done = {"replayed": replay_spool(state), "exchanged": 0}
    provider = state.provider
    if not provider.suite_id or provider.suite_ticket_age() is None:
        return done  # nothing can be exchanged before the first suite_ticket; its push exchanges them
    # Codes recorded a moment ago are being exchanged by their own callback: leave them one lease. The app's
    # clock, as the store stamps received_at with it.
    settled = state.clock() - provider.lease
    for record in state.store.pending_auth_codes(expired=True, lease=provider.lease):
        if record.received_at <= settled and exchange_and_notify(state, state.app, record.id, record.info_type,
                                                                 take_over=True) is not None:
            done["exchanged"] += 1
    return done


def replay_spool(state: WeComState) -> int:
    """Apply spooled entries, oldest first; each exactly once (its delivery mark commits with its effect).
    Stops at the first database failure (the store is still down); returns how many were applied."""
    spool = state.spool
    spool.release_stale_claims()
    names = spool.names()
    if not names:
        return 0
    from sqlalchemy.exc import SQLAlchemyError  # here, not at import: a process with no store work never needs it

    applied = 0
    for name in names:
        try:
            with spool.claim(name) as entry:
                if entry is None:  # another worker has it
                    continue
                try:
                    _apply(state, entry)
                except (SQLAlchemyError, SchemaError):  # an outage, or tables not upgraded yet
                    raise  # claim() releases the entry
                except Exception as exc:  # noqa: BLE001 - not an outage: set it aside for a human
                    spool.set_aside(entry, exc)
                    continue
                applied += 1
        except (SQLAlchemyError, SchemaError) as exc:  # the store is still down: try again at the next sweep
            log.warning("spool: the store is still unavailable (%s); entries kept in %s", type(exc).__name__,
                        spool.directory)
            break
    return applied


def _apply(state: WeComState, entry: SpoolEntry) -> None:
    payload = entry.payload
    if entry.kind == "event":
        event = parse_event(payload["plaintext"])
        outcome = store_template_event(state, event, (payload["msg_signature"], payload["nonce"]),
                                       received_at=entry.received_at)
        if outcome is None:
            log.info("spool: %s event %s was applied before (duplicate)", event.type, entry.name)
            return
        log.info("spool: %s event received at %s applied", event.type,
                 time.strftime("%H:%M:%S", time.localtime(entry.received_at)))
        after_template_event(state, state.app, event, outcome)
    elif entry.kind == "exchange":
        record = state.store.get_auth_code(payload["code_id"])
        if record is not None and record.status == "done":  # applied before; its process died before the delete
            log.info("spool: the answer for AuthCode #%s (%s) was stored before (duplicate)", payload["code_id"],
                     entry.name)
            return
        corp = state.provider.store_exchange_result(
            payload["code_id"], payload["data"], info_type=payload["info_type"],
            recorded_at=payload.get("recorded_at"), spool=False)
        if corp is not None:
            signal = (signals.permanent_code_reset if payload["info_type"] == "reset_permanent_code"
                      else signals.corp_authorized)
            notify(signal, state.app, corp_id=corp.corp_id, corp=corp)
            log.info("spool: the permanent code of corp %s (AuthCode #%s) stored", corp.corp_id, payload["code_id"])
    else:
        raise ValueError(f"unknown spool entry kind {entry.kind!r}")


# -- the per-process sweeper ------------------------------------------------------------------------

_sweepers_lock = threading.Lock()


def start(state: WeComState) -> None:
    """Start this process's sweeper now, without waiting for a first request.

    The request path starts it anyway (:func:`kick`); a worker that may get no request for a while (a
    restart at night) calls this once after the fork — ``deploy/wsgi.py`` does — so a code a crashed worker
    held is taken over within a lease plus a sweep interval even with no traffic."""
    _ensure_sweeper(state)


def _ensure_sweeper(state: WeComState) -> None:
    interval = float(state.config.get("WECOM_SWEEP_INTERVAL") or 0)
    if interval <= 0 or state.store.closed:
        return
    pid = os.getpid()
    if getattr(state, "_sweeper_pid", None) == pid:
        return
    with _sweepers_lock:
        if getattr(state, "_sweeper_pid", None) == pid:
            return
        state._sweeper_pid = pid  # also after a fork: the parent's thread did not come along
        thread = threading.Thread(target=_sweeper_loop, args=(weakref.ref(state), interval),
                                  name="wecom-sweeper", daemon=True)
        thread.start()


def _sweeper_loop(ref: weakref.ref[WeComState], interval: float) -> None:
    first = True
    while True:
        if not first:
            time.sleep(interval)
        first = False
        state = ref()
        if state is None or state.store.closed:
            return
        try:
            with state.app.app_context():
                sweep(state)
        except Exception as exc:  # noqa: BLE001 - the store is down: next time
            log.warning("sweep failed (%s: %s); retrying in %.0f s", type(exc).__name__, str(exc)[:200], interval)
        del state
