"""The durable store's interface: what flask-wecom keeps across restarts, and the contract a backend keeps.

:class:`DurableStore` names every method the extension calls on its store (the callbacks, the provider, the
views, the CLI, the doctor, the health lines); :class:`flask_wecom.store.Store` (SQLAlchemy: SQLite,
PostgreSQL, MySQL/MariaDB) implements it and is what ``WeCom(app)`` builds. ``WeCom(app, store=...)`` takes
another object with these methods. The model is Flask-Dance's storage base class: a short list of methods,
each with its contract. Framework-free, no SQLAlchemy import: a core module.

The contract every implementation keeps:

* **Durable and shared.** What is written survives a restart and is seen by every worker process of the app
  (the token cache may be lost; this may not: WeCom hands out a permanent code once).
* **Case-sensitive ids.** ``corp_id`` and ``suite_id`` are compared exactly: post-2022 代开发 corp ids are
  encrypted and case-sensitive ("wwAbC" and "wwabc" are two corps; developer.work.weixin.qq.com/document/
  path/97104). A backend whose default collation folds case must use a binary one.
* **Sealed secrets.** Suite tickets, AuthCodes and permanent codes are stored only as
  ``secret_box.seal(value)`` and opened on read: a database dump holds no usable secret.
* **Atomic steps.** Every method is one atomic step, safe when several processes call it at once: of two
  :meth:`~DurableStore.lease_auth_code` calls one wins, two :meth:`~DurableStore.first_seen` calls of one key
  give one True, two first :meth:`~DurableStore.save_corp` of one corp both succeed with one row.
* **Transactions.** Calls made in one thread inside ``with store.transaction():`` commit together or not at
  all (a callback marks its delivery seen and applies its effect in one), and nested blocks join the outer one.

Not in the interface: the OIDC hub (its codes, tokens and signing keys), ``flask wecom db`` and the store rows of
``flask wecom status`` and the doctor speak SQL through :attr:`Store.engine <flask_wecom.store.Store.engine>`
and the connection ``transaction()`` yields, so they need the SQLAlchemy store.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ContextManager, Dict, List, Optional, Tuple

if TYPE_CHECKING:
    from .secretbox import SecretBox

__all__ = ["LEASE_SECONDS", "AuthCodeClaim", "AuthCodeRecord", "CorpRecord", "DurableStore"]

#: Seconds an AuthCode claim lasts without progress; a live exchange renews it (WECOM_EXCHANGE_LEASE).
LEASE_SECONDS = 30.0


@dataclass
class CorpRecord:
    """An authorized corp as stored. ``permanent_code`` is decrypted only on request."""

    corp_id: str
    suite_id: Optional[str]
    corp_name: Optional[str]
    agent_id: Optional[str]
    status: str
    auth_time: Optional[float]
    updated_at: float
    has_secret: bool
    auth_info: Dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status == "active" and self.has_secret


@dataclass
class AuthCodeRecord:
    """An AuthCode's bookkeeping (never the code itself): ``status`` is ``pending``, ``exchanging``, ``done``
    or ``failed``."""

    id: int
    suite_id: str
    info_type: str
    state: Optional[str]
    status: str
    corp_id: Optional[str]
    error: Optional[str]
    received_at: float


@dataclass
class AuthCodeClaim:
    """A leased AuthCode: the code itself and whether an earlier attempt may have spent it already."""

    id: int
    auth_code: str = field(repr=False)
    lease_until: float
    #: taken over from a claim whose lease expired (its process died or lost the database)
    taken_over: bool = False
    #: an earlier attempt may have reached WeCom (a takeover, or a retry after a network error)
    maybe_spent: bool = False


class DurableStore(abc.ABC):
    """Suite tickets, AuthCodes, authorized corps and replay marks, kept by the contract in this module's
    docstring. Times are epoch seconds from the store's clock unless a method takes one."""

    #: set by :meth:`dispose`: the background sweepers of this store stop
    closed: bool = False

    # -- plumbing -------------------------------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def secret_box(self) -> SecretBox:
        """The box that seals secrets at rest (the callback spool seals with it too)."""

    @abc.abstractmethod
    def transaction(self) -> ContextManager[Any]:
        """A block whose store calls (in this thread) commit together or not at all; nested blocks join."""

    @abc.abstractmethod
    def dispose(self) -> None:
        """Release connections and set :attr:`closed`."""

    # -- suite tickets --------------------------------------------------------------------------------------

    @abc.abstractmethod
    def save_suite_ticket(self, suite_id: str, ticket: str, received_at: Optional[float] = None, *,
                          keep_newer: bool = False) -> None:
        """Keep the suite's latest ticket (sealed). With ``keep_newer`` an older delivery replayed late never
        replaces a ticket received after it."""

    @abc.abstractmethod
    def get_suite_ticket(self, suite_id: str) -> Optional[Tuple[str, float]]:
        """``(ticket, received_at)``, or None when WeCom never pushed one."""

    @abc.abstractmethod
    def suite_ticket_received_at(self, suite_id: str) -> Optional[float]:
        """When the suite's ticket was received, without opening it (None: never)."""

    # -- AuthCodes (developer.work.weixin.qq.com/document/path/90642: valid 10 minutes, single use) ----------

    @abc.abstractmethod
    def record_auth_code(self, suite_id: str, info_type: str, auth_code: str,
                         state: Optional[str] = None, received_at: Optional[float] = None) -> Tuple[int, bool]:
        """Record an AuthCode (sealed) as ``pending``: ``(id, created)``; the same code again is not re-created."""

    @abc.abstractmethod
    def lease_auth_code(self, code_id: int, *, lease: float = LEASE_SECONDS,
                        take_over: bool = True) -> Optional[AuthCodeClaim]:
        """Claim the code for ``lease`` seconds (status ``exchanging``): a ``pending`` one or, with ``take_over``,
        one whose claim expired. Of concurrent callers one wins; None when taken, finished or wiped."""

    @abc.abstractmethod
    def renew_auth_code(self, code_id: int, *, lease: float = LEASE_SECONDS) -> bool:
        """Extend the lease of a code being exchanged; False when it is no longer ``exchanging``."""

    @abc.abstractmethod
    def finish_auth_code(self, code_id: int, *, corp_id: Optional[str] = None,
                         error: Optional[str] = None, retry: bool = False) -> None:
        """``done`` (with ``corp_id``) or ``failed`` (with ``error``), wiping the code; or back to ``pending``
        with ``retry``. ``done`` is final: nothing later overwrites it."""

    @abc.abstractmethod
    def get_auth_code(self, code_id: int) -> Optional[AuthCodeRecord]:
        """The code's bookkeeping, or None."""

    @abc.abstractmethod
    def pending_auth_codes(self, max_age: float = 600, *, stuck_after: Optional[float] = None,
                           expired: bool = False, lease: float = LEASE_SECONDS) -> List[AuthCodeRecord]:
        """Codes younger than ``max_age`` still to exchange: ``pending`` ones; with ``expired`` also those whose
        claim outlived its lease; with ``stuck_after`` also those claimed without a lease that long ago."""

    @abc.abstractmethod
    def auth_codes_waiting_for_ticket(self, lease: float = LEASE_SECONDS) -> List[AuthCodeRecord]:
        """What a newly stored suite_ticket should exchange (``pending_auth_codes(expired=True)``); may answer
        ``[]`` without reading when this process knows none can wait (the sweep takes the others)."""

    @abc.abstractmethod
    def recent_auth_codes(self, limit: int = 20) -> List[AuthCodeRecord]:
        """The latest codes, newest first (the demo and support tools show them)."""

    @abc.abstractmethod
    def auth_code_counts(self, *, max_age: float = 600, lease: float = LEASE_SECONDS) -> Dict[str, int]:
        """``pending``, ``exchanging``, ``expired_leases`` and ``lapsed`` counts for status and the doctor."""

    # -- corps ----------------------------------------------------------------------------------------------

    @abc.abstractmethod
    def save_corp(self, corp_id: str, *, permanent_code: Optional[str] = None, suite_id: Optional[str] = None,
                  corp_name: Optional[str] = None, agent_id: Optional[Any] = None,
                  auth_info: Optional[Dict[str, Any]] = None, status: str = "active") -> None:
        """Insert or update a corp; a field left None keeps its stored value. The permanent code is sealed."""

    @abc.abstractmethod
    def get_corp(self, corp_id: str) -> Optional[CorpRecord]:
        """The corp (active or revoked), or None."""

    @abc.abstractmethod
    def get_permanent_code(self, corp_id: str) -> str:
        """The corp's permanent code (代开发: the app secret); :class:`~flask_wecom.errors.CorpNotFoundError`
        when it never authorized the app or revoked it."""

    @abc.abstractmethod
    def list_corps(self, *, include_revoked: bool = True) -> List[CorpRecord]:
        """Every corp, oldest authorization first."""

    @abc.abstractmethod
    def revoke_corp(self, corp_id: str, *, at: Optional[float] = None) -> bool:
        """cancel_auth: keep only id, status and time (a revoked row even for a corp not held yet, so a late
        exchange cannot bring it back); a cancel received (``at``) before the corp's latest authorization is
        ignored. True when the corp was held."""

    @abc.abstractmethod
    def delete_corp(self, corp_id: str) -> bool:
        """Remove the corp's row entirely (``flask wecom forget``); True when there was one."""

    # -- replay marks ---------------------------------------------------------------------------------------

    @abc.abstractmethod
    def first_seen(self, namespace: str, key: str, *, keep_for: float = 3600) -> bool:
        """Mark ``(namespace, key)`` seen: True the first time, False for a retry or replay (kept at least
        ``keep_for`` seconds). Inside :meth:`transaction` the mark commits with the effect it guards."""
