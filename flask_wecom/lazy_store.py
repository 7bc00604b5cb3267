"""The default store, built when first used: SQLAlchemy is not imported by ``WeCom(app)``.

Importing SQLAlchemy and building an engine cost a process about 110 ms and 14 MB; a worker that only
serves pages which never reach the store (a self-built app's routes, its static files) need not pay
for them. :class:`LazyStore` stands in for the :class:`~flask_wecom.store.Store` of the default
configuration (the SQLite file in the instance folder, no ``WECOM_DATABASE_URI`` nor
``WECOM_DATABASE_OPTIONS``: a URL of flask-wecom's own making, so there is nothing to check at
start-up), and builds it on the first attribute that needs it. With a configured URL the extension
builds the store at once, so a URL or driver mistake still stops ``init_app`` with a ConfigError.

No Flask import here: this is a core module.
"""
from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional

from .storage import DurableStore

if TYPE_CHECKING:
    from .secretbox import SecretBox
    from .store import Store

__all__ = ["LazyStore", "store_unavailable_reason"]


def store_unavailable_reason(exc: BaseException) -> Optional[str]:
    """:func:`flask_wecom.store.unavailable_reason`, without importing the store for an error that cannot be
    one of its: no SQLAlchemy error (nor SchemaError, raised by a module built on it) exists before
    SQLAlchemy is imported."""
    if "sqlalchemy" not in sys.modules:
        return None
    from .store import unavailable_reason

    return unavailable_reason(exc)

# Names answered by the stand-in itself until the store is built (anything else builds it).
_OWN = frozenset({"_build", "_built", "_box", "_lock", "_description", "_on_build", "_closed"})


@DurableStore.register  # every method of the interface is the built store's (see __getattr__)
class LazyStore:
    """A :class:`~flask_wecom.store.Store` built by ``build()`` on first use; then every attribute is the
    store's. ``secret_box``, ``closed`` and ``dispose()`` are answered without building it (the spool and
    the sweeper ask for them in every process)."""

    _build: Callable[[], Store]
    _built: Optional[Store]
    _box: SecretBox
    _lock: threading.Lock
    _description: str
    _on_build: Optional[Callable[[], None]]
    _closed: bool

    def __init__(self, build: Callable[[], Store], box: SecretBox, description: str,
                 on_build: Optional[Callable[[], None]] = None) -> None:
        object.__setattr__(self, "_build", build)
        object.__setattr__(self, "_built", None)
        object.__setattr__(self, "_box", box)
        object.__setattr__(self, "_lock", threading.Lock())
        object.__setattr__(self, "_description", description)
        object.__setattr__(self, "_on_build", on_build)
        object.__setattr__(self, "_closed", False)

    @property
    def store(self) -> Store:
        """The real store, built now if it was not yet."""
        built = self._built
        if built is None:
            with self._lock:
                built = self._built
                if built is None:
                    built = self._build()
                    if self._closed:
                        built.closed = True
                    object.__setattr__(self, "_built", built)
                    if self._on_build is not None:
                        self._on_build()
        return built

    @property
    def secret_box(self) -> SecretBox:
        return self._box

    @property
    def closed(self) -> bool:
        built = self._built
        return self._closed if built is None else built.closed

    @closed.setter
    def closed(self, value: bool) -> None:
        built = self._built
        if built is None:
            object.__setattr__(self, "_closed", bool(value))
        else:
            built.closed = value

    def dispose(self) -> None:
        built = self._built
        if built is None:
            object.__setattr__(self, "_closed", True)
        else:
            built.dispose()

    def __getattr__(self, name: str) -> Any:  # only for names not found on the stand-in
        if name in _OWN or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.store, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "closed":
            object.__setattr__(self, name, value)  # the property above
        else:
            setattr(self.store, name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self.store, name)

    def __repr__(self) -> str:
        built = self._built
        return repr(built) if built is not None else f"Store({self._description!r}, not opened yet)"
