"""The store is down → HTTP 503 with the bilingual "temporarily unavailable" page, never a 500.

The login views catch every error themselves (``/wecom/login`` and ``/wecom/authorized`` answer a store
outage with the ``store_unavailable`` failure page). Other pages reach the store through flask-wecom too:
a ``login_required`` view whose ``user_loader`` reads the database, an API call that needs a corp's
permanent code, the demo's status panel. :func:`init_outage` (called by ``WeCom.init_app``) registers one
app error handler for :class:`sqlalchemy.exc.SQLAlchemyError` and :class:`~flask_wecom.errors.SchemaError`
that answers those with 503 and ``Retry-After`` — **only** when the error was raised while flask-wecom code
was running (its traceback passes through a ``flask_wecom`` module). Any other database error of the app
is re-raised untouched, so the app's own handling (its 500 page, the debugger, ``PROPAGATE_EXCEPTIONS``)
stays what it was. An app that registered its own handler for ``SQLAlchemyError`` before ``WeCom(app)``
keeps it, and one registered later replaces ours.

SQLAlchemy is imported by the store when it is first used (flask_wecom.lazy_store), not by ``WeCom(app)``:
the ``SQLAlchemyError`` handler is registered as soon as SQLAlchemy is there — at once when the app
imported it already, else when the store is built or, for an app that imports it later for its own
database, from its next request on.
"""
from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import Optional

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue

from .errors import SchemaError
from .lazy_store import store_unavailable_reason
from .login import safe_next
from .oauth import LoginFailure
from .views import RETRY_AFTER, describe_failure, render_failure

log = logging.getLogger("flask_wecom")

__all__ = ["init_outage", "raised_in_flask_wecom", "unavailable_response"]

#: the label of the page's button outside the login: it reloads the page
TRY_AGAIN = "重试 / Try again"


def raised_in_flask_wecom(exc: BaseException) -> bool:
    """True when ``exc`` passed through a frame of a ``flask_wecom`` module on its way up."""
    tb: Optional[TracebackType] = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__") or ""
        if name == "flask_wecom" or name.startswith("flask_wecom."):
            return True
        tb = tb.tb_next
    return False


def unavailable_response(reason: str) -> ResponseReturnValue:
    """The 503 page (or JSON) of a store outage, with ``Retry-After``; ``reason`` goes to the log only."""
    log.error("flask-wecom: the store is unavailable (%s); %s %s answered 503", reason, request.method,
              request.path)
    details = describe_failure(LoginFailure("store_unavailable", "the store is unavailable"))
    here = safe_next(request.script_root + request.full_path.rstrip("?")) if request.method == "GET" else None
    try:
        return render_failure(details, here, retry_label=TRY_AGAIN)
    except Exception as exc:  # noqa: BLE001 - e.g. an app template or context processor that needs the database
        log.warning("flask-wecom: the 503 page could not be rendered (%s); answered it as plain text",
                    store_unavailable_reason(exc) or type(exc).__name__)
        text = (f"{details['title_zh']} / {details['title_en']}\n\n{details['what_zh']}\n{details['what_en']}\n\n"
                f"{details['fix_zh']}\n{details['fix_en']}\n")
        return Response(text, status=503, mimetype="text/plain",
                        headers={"Retry-After": str(RETRY_AFTER["store_unavailable"])})


def _handle_store_error(exc: Exception) -> ResponseReturnValue:
    from .store import unavailable_reason

    reason = unavailable_reason(exc)
    if reason is None or not raised_in_flask_wecom(exc):
        raise exc  # not ours: the app's own handling, exactly as without flask-wecom
    return unavailable_response(reason)


def init_outage(app: Flask) -> None:
    """Register the 503 handler, unless the app already handles ``SQLAlchemyError`` itself."""
    handlers = app.error_handler_spec.get(None, {}).get(None, {})
    if SchemaError not in handlers:
        app.register_error_handler(SchemaError, _handle_store_error)
    if "sqlalchemy" in sys.modules:
        register_store_errors(app)
        return

    def handle_store_errors_once_imported() -> None:
        if "sqlalchemy" in sys.modules:
            register_store_errors(app)

    app.before_request(handle_store_errors_once_imported)


def register_store_errors(app: Flask) -> None:
    """Register the 503 handler for ``SQLAlchemyError`` (imported by now), unless the app has its own.

    Written into ``app.error_handler_spec`` as ``register_error_handler`` writes it: the store may be built
    after the app's first request, when Flask no longer accepts setup methods."""
    from sqlalchemy.exc import SQLAlchemyError

    app.error_handler_spec.setdefault(None, {}).setdefault(None, {}).setdefault(SQLAlchemyError, _handle_store_error)
