"""The per-app state ``WeCom(app)`` keeps in ``app.extensions["wecom"]``, and how to find it.

A leaf of the Flask layer: the views, the callbacks, the CLI, the login helpers and the hub reach the
state through :func:`get_state` (``current_app`` by default), the way Flask-Login's ``utils.py`` reaches
its manager through ``current_app`` — none of them imports :mod:`flask_wecom.extension`, so the extension
module can import its blueprint and CLI at the top with no import cycle.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from flask import Flask, current_app

if TYPE_CHECKING:  # names for the annotations only: this module imports nothing of flask_wecom at run time
    from flask_caching import Cache

    from .client import WeComClient
    from .config import AppType
    from .extension import WeCom
    from .hub.views import Hub
    from .provider import Provider
    from .spool import Spool
    from .store import Store
    from .tokens import TokenManager

__all__ = ["EXTENSION_KEY", "WeComState", "get_state", "current_app_object"]

log = logging.getLogger("flask_wecom")

#: the key of ``app.extensions`` under which the state lives
EXTENSION_KEY = "wecom"


class WeComState:
    """Everything flask-wecom keeps for one app, in ``app.extensions["wecom"]``."""

    #: the spool for what the store cannot take (flask_wecom.spool), set by ``WeCom.init_app``
    spool: Spool
    #: flask_wecom.recovery's bookkeeping (monotonic times, the pid of the process running the sweeper),
    #: set on first use
    _spool_looked: float
    _spool_kicked: float
    _sweeper_pid: int

    def __init__(self, ext: WeCom, app: Flask, config: Dict[str, Any], app_type: AppType, client: WeComClient,
                 cache: Cache, tokens: TokenManager, store: Store, provider: Provider,
                 problems: List[Any]) -> None:
        self.ext = ext
        self.app = app
        self.config = config
        self.app_type = app_type
        self.client = client
        self.cache = cache
        self.tokens = tokens
        self.store = store
        self.provider = provider
        self.config_problems = problems
        #: the app's clock (epoch seconds; ``WeCom(clock=…)``, default :func:`time.time`)
        self.clock: Callable[[], float] = time.time
        #: the OIDC hub (flask_wecom.hub.views.Hub) when WECOM_HUB_ISSUER is set, else None
        self.hub: Optional[Hub] = None
        self._executor: Optional[ThreadPoolExecutor] = None
        self._futures: List[Future[Any]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<WeComState app_type={self.app_type!r} store={self.store!r}>"

    @property
    def cache_backend(self) -> Any:
        """The Flask-Caching backend the token manager talks to."""
        return self.app.extensions["cache"][self.cache]

    @property
    def shared_cache(self) -> Any:
        """That backend behind the circuit breaker and in-process fallback (never raises, never blocks
        for more than the backend's timeouts once per cool-down): use it for request-path cache work."""
        return self.tokens.cache

    def run_in_background(self, func: Callable[[], Any]) -> Future[Any]:
        """Run ``func`` in an app context after the response (WeCom wants `success` within 1000 ms)."""
        app = self.app

        def job() -> Any:
            with app.app_context():
                try:
                    return func()
                except Exception:  # the thread pool would keep it silently in the future
                    log.exception("flask-wecom background job %r failed", func)
                    raise

        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wecom")
            future = self._executor.submit(job)
            self._futures = [f for f in self._futures if not f.done()] + [future]
        return future

    def wait_background(self, timeout: float = 30) -> bool:
        """Block until background work (AuthCode exchanges) is finished. True when all finished."""
        with self._lock:
            futures = list(self._futures)
        _done, not_done = wait(futures, timeout=timeout)
        return not not_done


def get_state(app: Optional[Flask] = None) -> WeComState:
    """The per-app state of ``app`` (``current_app`` when no app is given); ``WeCom.state(app)`` is the same."""
    app = app or current_app
    try:
        state: WeComState = app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError("flask-wecom is not initialised on this app: call WeCom(app) or "
                           "wecom.init_app(app)") from None
    return state


def current_app_object() -> Flask:
    """The app behind ``current_app`` (a signal's sender, what a thread keeps): Flask types the proxy as
    ``Flask``, which hides the proxy's ``_get_current_object()`` from type checkers."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy at run time
    return app
