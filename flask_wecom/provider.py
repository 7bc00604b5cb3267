"""The provider (服务商) side of the 代开发 flow, free of Flask.

:class:`Provider` knows which credentials an app type uses (doc 97159):

* ``internal`` (自建): ``gettoken`` with the configured corp id + secret;
* ``customized`` (代开发): suite ticket → suite token → AuthCode → permanent code,
  then ``gettoken`` with the corp id + permanent code (the permanent code *is* the
  app secret);
* ``third_party``: the same AuthCode exchange, then ``get_corp_token``.

It handles template (指令) events, exchanges AuthCodes exactly once, and hands out
token sources for whichever corp a request is about. The Flask layer sends the
signals; this module only returns what happened.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, List, Optional, Tuple, Union
from urllib.parse import urlencode

from . import console, permissions
from .client import WeComClient
from .config import APP_TYPES, CUSTOMIZED, INTERNAL, THIRD_PARTY, AppType, infer_app_type  # noqa: F401 - re-exported
from .errors import (
    ConfigError,
    CorpNotChosenError,
    CorpNotFoundError,
    NoAuthorizedCorpError,
    NoSuiteTicketError,
    TransportError,
    WeComError,
)
from .events import CallbackEvent
from .spool import Spool
from .tokens import CorpTokenSource, SuiteTokenSource, ThirdPartyCorpTokenSource, TokenManager

if TYPE_CHECKING:  # the store module imports SQLAlchemy: not with this module (flask_wecom.lazy_store)
    from .storage import AuthCodeRecord, CorpRecord
    from .store import Store

log = logging.getLogger("flask_wecom")

#: WeCom keeps suite_ticket valid for 30 minutes (doc 97162).
SUITE_TICKET_LIFETIME = 30 * 60
#: AuthCodes are valid for 10 minutes (doc 97174).
AUTH_CODE_LIFETIME = 10 * 60
#: "look the agent id up in the store" (None is a valid agent id: none known)
_LOOKUP: Any = object()


@dataclass
class EventOutcome:
    """What handling a template event did; the Flask layer turns it into signals."""

    action: str  # "ticket_stored", "auth_code_recorded", "revoked", "auth_changed", "ignored"
    corp_id: Optional[str] = None
    auth_code_id: Optional[int] = None
    duplicate: bool = False
    reason: str = ""
    #: ticket_stored: the AuthCodes worth exchanging now, read in the ticket's own transaction by the callback
    #: (None: not read)
    pending: Optional[List[AuthCodeRecord]] = None


class Provider:
    """Credentials and AuthCode bookkeeping for one configured app (any of the three types)."""

    #: seconds an AuthCode claim lasts without progress (WECOM_EXCHANGE_LEASE); renewed while exchanging
    lease: float = 30.0  # store.LEASE_SECONDS, without importing the store (tests/test_startup.py pins it)
    #: where an exchange answer that the store cannot take is kept (set by the extension)
    spool: Optional[Spool] = None

    def __init__(self, *, app_type: AppType, client: WeComClient, tokens: TokenManager, store: Store,
                 suite_id: Optional[str] = None, suite_secret: Optional[str] = None,
                 provider_corp_id: Optional[str] = None, corp_id: Optional[str] = None,
                 agent_id: Optional[str] = None, secret: Optional[str] = None, clock: Callable[[], float] = time.time,
                 login_suite_id: Optional[str] = None, login_suite_secret: Optional[str] = None) -> None:
        self.app_type = app_type
        #: third-party web login (login_type=ServiceApp): the provider's separate 登录授权 suite
        #: (developer.work.weixin.qq.com/document/path/98171, 98179)
        self.login_suite_id = login_suite_id or None
        self._login_suite_secret = login_suite_secret
        self.client = client
        self.tokens = tokens
        self.store = store
        self.suite_id = suite_id
        self._suite_secret = suite_secret
        self.provider_corp_id = provider_corp_id
        self.corp_id = corp_id
        self.agent_id = str(agent_id) if agent_id not in (None, "") else None
        self._secret = secret
        self._clock = clock

    def __repr__(self) -> str:
        return f"Provider(app_type={self.app_type!r}, suite_id={self.suite_id!r}, corp_id={self.corp_id!r})"

    @property
    def has_suite(self) -> bool:
        return bool(self.suite_id and self._suite_secret)

    # -- suite ticket / token -----------------------------------------------------------

    def suite_ticket(self) -> str:
        """The latest pushed suite_ticket, or :class:`NoSuiteTicketError` explaining how to get one."""
        found = self.store.get_suite_ticket(self.suite_id) if self.suite_id else None
        if found is None:
            raise NoSuiteTicketError()
        ticket, received_at = found
        age = self._clock() - received_at
        if age > SUITE_TICKET_LIFETIME:
            # Still try it (WeCom may accept it); the doctor and the error say it is stale.
            log.warning("suite_ticket for %s is %d s old (WeCom pushes every 10 min; valid 30 min): "
                        "is WeCom still reaching the callback URL?", self.suite_id, age)
        return ticket

    def suite_ticket_age(self) -> Optional[float]:
        received_at = self.store.suite_ticket_received_at(self.suite_id) if self.suite_id else None
        return None if received_at is None else self._clock() - received_at

    def suite_token(self) -> SuiteTokenSource:
        if not self.has_suite:
            raise ConfigError("WECOM_SUITE_ID and WECOM_SUITE_SECRET are required for this call "
                              "(代开发模板 / 第三方应用的 suite_id 与 secret)")
        assert self.suite_id and self._suite_secret  # has_suite  (for the type checker)
        return SuiteTokenSource(self.client, self.tokens, self.suite_id, self._suite_secret, self.suite_ticket)

    @property
    def has_login_suite(self) -> bool:
        return bool(self.login_suite_id and self._login_suite_secret)

    def login_suite_token(self) -> SuiteTokenSource:
        """suite_access_token of the 登录授权 suite: it consumes third-party web-login codes (98179).

        Got like any suite token (get_suite_token with that suite's id, Secret and its own suite_ticket,
        which WeCom pushes to the 登录授权 callback URL — the template URL here)."""
        if not self.has_login_suite:
            raise ConfigError("third-party web login (login_type=ServiceApp) needs the provider's 登录授权 suite: "
                              "set WECOM_LOGIN_SUITE_ID and WECOM_LOGIN_SUITE_SECRET to the SuiteID and Secret under "
                              f"{console.LOGIN_SUITE[1]} (第三方网页登录需要{console.LOGIN_SUITE[0]}的 "
                              "SuiteID 与 Secret)")
        login_suite_id = str(self.login_suite_id)

        def ticket() -> Optional[str]:
            found = self.store.get_suite_ticket(login_suite_id)
            if found is None:
                fix_zh = console.login_suite_callback_fix("模板回调URL")[0]
                fix_en = console.login_suite_callback_fix("the template callback URL")[1]
                raise NoSuiteTicketError(f"no suite_ticket of the 登录授权 suite has arrived yet: {fix_en} "
                                         f"(登录授权应用尚未收到 suite_ticket：{fix_zh})")
            return found[0]

        assert self._login_suite_secret  # has_login_suite  (for the type checker)
        return SuiteTokenSource(self.client, self.tokens, login_suite_id, self._login_suite_secret, ticket)

    # -- corps ----------------------------------------------------------------------------

    def corp_secret(self, corp_id: str) -> str:
        """The secret ``gettoken`` needs: configured ``WECOM_SECRET`` for the configured corp, else the stored
        permanent code."""
        if self._secret and (self.corp_id is None or corp_id == self.corp_id):
            return self._secret
        return self.store.get_permanent_code(corp_id)

    def agent_id_for(self, corp_id: str) -> Optional[str]:
        corp = self.store.get_corp(corp_id)
        if corp is not None and corp.agent_id:
            return corp.agent_id
        return self.agent_id

    def corp_token(self, corp_id: str, *, agent_id: Any = _LOOKUP) -> Union[CorpTokenSource, ThirdPartyCorpTokenSource]:
        """A token source for the corp's app access token (the right API for the app type).

        Building it reads no secret and calls nothing, so it also serves ``peek()`` / ``invalidate()``;
        without a configured suite a third-party source can still do those, and refuses only to fetch.
        ``agent_id``: the corp's agent id when the caller has it already (else read from the store)."""
        if agent_id is _LOOKUP:
            agent_id = self.agent_id_for(corp_id)
        if self.app_type == THIRD_PARTY:
            suite = self.suite_token() if self.has_suite else None
            return ThirdPartyCorpTokenSource(self.client, self.tokens, suite, corp_id,
                                             lambda: self.store.get_permanent_code(corp_id), agent_id=agent_id)
        return CorpTokenSource(self.client, self.tokens, corp_id, lambda: self.corp_secret(corp_id),
                               agent_id=agent_id)

    def drop_corp_tokens(self, corp_id: str) -> None:
        self.corp_token(corp_id).invalidate(None)

    # -- remembered credential failures (flask_wecom.tokens: WeCom bans IPs that repeat a wrong secret) --

    def raise_if_blocked(self, corp_id: Optional[str], *, agent_id: Any = _LOOKUP) -> None:
        """Raise the remembered WeComAPIError when the token a login needs must not be fetched now."""
        if self.app_type == THIRD_PARTY:
            if self.has_suite:
                self.suite_token().raise_if_blocked()
            return
        if corp_id:
            self.corp_token(corp_id, agent_id=agent_id).raise_if_blocked()

    def blocks(self, corp_id: Optional[str] = None) -> List[Tuple[str, Dict[str, Any]]]:
        """``[(what, record)]`` of the failures remembered now (the suite's, and each corp's or ``corp_id``'s)."""
        found = []
        if corp_id is None and self.has_suite:
            record = self.suite_token().blocked()
            if record is not None:
                found.append((f"suite {self.suite_id}", record))
        if corp_id is None and self.provider_corp_id:  # get_provider_token, fetched by the doctor
            record = self.tokens.blocked("provider", self.provider_corp_id)
            if record is not None:
                found.append((f"provider {self.provider_corp_id}", record))
        for corp in ([corp_id] if corp_id else self.corp_ids()):
            record = self.corp_token(corp).blocked()
            if record is not None:
                found.append((f"corp {corp}", record))
        return found

    def unblock(self, corp_id: Optional[str] = None) -> int:
        """Forget remembered failures: of ``corp_id``'s token, or (None) of the suite and every corp.
        Returns how many there were."""
        cleared = 0
        if corp_id is None:
            if self.suite_id:
                cleared += self.tokens.unblock("suite", self.suite_id)
            if self.provider_corp_id:
                cleared += self.tokens.unblock("provider", self.provider_corp_id)
            corp_ids = list(self.corp_ids())
        else:
            corp_ids = [corp_id]
        for corp in corp_ids:
            cleared += self._unblock_corp(corp)
        return cleared

    def _unblock_corp(self, corp_id: str) -> int:
        agents = {None, self.agent_id}
        corp = self.store.get_corp(corp_id)
        if corp is not None and corp.agent_id:
            agents.add(str(corp.agent_id))
        cleared = 0
        for agent in agents:
            owner = f"{corp_id}|{'-' if agent in (None, '') else agent}"
            for kind in ("corp", "corp_3rd"):
                cleared += self.tokens.unblock(kind, owner)
        return cleared

    def corp_ids(self) -> List[str]:
        """Every corp we may serve: the configured one plus the authorized ones in the store."""
        ids = [c.corp_id for c in self.store.list_corps(include_revoked=False)]
        if self.corp_id and self.corp_id not in ids and (self._secret or self.app_type == INTERNAL):
            ids.insert(0, self.corp_id)
        return ids

    def resolve_corp(self, requested: Optional[str] = None) -> str:
        """Which corp a login is for: ``requested`` (must be one we hold), ``WECOM_CORP_ID``, or the only one.

        Raises :class:`CorpNotFoundError` for a ``requested`` corp we do not serve,
        :class:`NoAuthorizedCorpError` when no corp authorized the app yet, and
        :class:`CorpNotChosenError` when several did and the request names none. The messages
        never name the corps we serve: a visitor of one customer must not learn the others.
        The corps are listed only when the request names none and ``WECOM_CORP_ID`` is not set.
        """
        return self._resolve(requested)[0]

    def login_corp(self, requested: Optional[str] = None) -> Tuple[str, Optional[str]]:
        """``(corp id, agent id)`` of a login: :meth:`resolve_corp` and :meth:`agent_id_for` with one
        single-row read of the store at most when the corp is known (named, or ``WECOM_CORP_ID``)."""
        corp_id, record, looked_up = self._resolve(requested)
        if not looked_up:
            return corp_id, self.agent_id_for(corp_id)
        return corp_id, (record.agent_id if record is not None and record.agent_id else self.agent_id)

    def _resolve(self, requested: Optional[str]) -> Tuple[str, Optional[CorpRecord], bool]:
        """(corp id, its stored record, whether the store was read for it) — see :meth:`resolve_corp`."""
        if requested:
            if requested == self.corp_id and (self._secret or self.app_type == INTERNAL):
                return requested, None, False  # the configured corp: held without asking the store
            record = self.store.get_corp(requested)
            if record is None or record.status != "active":  # as corp_ids(): the active rows
                shown = requested if len(requested) <= 64 else requested[:64] + "…"  # a visitor's value: bounded
                raise CorpNotFoundError(f"corp {shown!r} is not one this app serves "
                                        "(该企业未授权本应用)")
            return requested, record, True
        if self.corp_id:
            return self.corp_id, None, False
        held = self.corp_ids()
        if len(held) == 1:
            return held[0], None, False
        if not held:
            raise NoAuthorizedCorpError(
                "no corp has authorized this app yet: ask the customer's admin to scan the 代开发 template "
                "QR code, or set WECOM_CORP_ID + WECOM_SECRET (还没有企业授权本应用)"
            )
        raise CorpNotChosenError(f"several corps ({len(held)}) authorized this app and the request names "
                                 "none: pass ?corp_id=… (each customer's app home URL carries its own), or "
                                 "set WECOM_CORP_ID (多个企业已授权本应用，请求未指定 corp_id)")

    # -- template events ------------------------------------------------------------------

    def handle_template_event(self, event: CallbackEvent, *, received_at: Optional[float] = None) -> EventOutcome:
        """Apply one InfoType event. Fast: AuthCodes are only *recorded* here (WeCom wants `success` in 1 s).

        ``received_at``: when the delivery came in, for one replayed late from the spool (an older ticket
        never replaces a newer one; a cancel older than the corp's latest authorization is stale)."""
        if not self.suite_id:
            return EventOutcome("ignored", reason="no WECOM_SUITE_ID is configured, so no template event is ours")
        if (event.info_type == "suite_ticket" and self.login_suite_id and event.suite_id == self.login_suite_id
                and event.suite_ticket):
            # the 登录授权 suite's ticket, when its callback settings point at this URL (98179: its
            # suite_access_token is got like a third-party app's, with its own ticket)
            self.store.save_suite_ticket(event.suite_id, event.suite_ticket, received_at, keep_newer=True)
            return EventOutcome("ticket_stored", reason="login suite")
        if event.suite_id and self.suite_id and event.suite_id != self.suite_id:
            # Two suites may share one callback URL: never let the other one overwrite ours.
            return EventOutcome("ignored", reason=f"SuiteId {event.suite_id!r} is not ours ({self.suite_id!r})")
        if event.info_type == "suite_ticket":
            if not event.suite_ticket or not event.suite_id:
                return EventOutcome("ignored", reason="suite_ticket event without SuiteId/SuiteTicket")
            self.store.save_suite_ticket(event.suite_id, event.suite_ticket, received_at, keep_newer=True)
            return EventOutcome("ticket_stored")
        if event.info_type in ("create_auth", "reset_permanent_code"):
            if not event.auth_code:
                return EventOutcome("ignored", reason=f"{event.info_type} without AuthCode")
            code_id, created = self.store.record_auth_code(event.suite_id or self.suite_id or "",
                                                           event.info_type, event.auth_code, event.state,
                                                           received_at=received_at)
            return EventOutcome("auth_code_recorded", auth_code_id=code_id, duplicate=not created)
        if event.info_type == "cancel_auth":
            corp_id = event.auth_corp_id
            if corp_id:
                self.revoke(corp_id, at=received_at)
            return EventOutcome("revoked", corp_id=corp_id)
        if event.info_type == "change_auth":
            if event.auth_corp_id:  # the app's permissions may have changed (doc 90642): ask again next login
                self.forget_app_permissions(event.auth_corp_id)
            return EventOutcome("auth_changed", corp_id=event.auth_corp_id)
        return EventOutcome("ignored", reason=f"InfoType {event.info_type!r} is not handled by flask-wecom")

    def exchange_auth_code(self, code_id: int, *, reclaim_after: Optional[float] = None,
                           take_over: bool = False) -> Optional[CorpRecord]:
        """Trade a recorded AuthCode for the permanent code, once. Returns the stored corp, or None when the
        code was already claimed (a retried delivery) or the exchange did not happen.

        The claim is a lease of :attr:`lease` seconds, renewed while WeCom is being asked; ``take_over`` (the
        sweep, ``flask wecom exchange --stuck``) also claims a code whose lease expired because its process
        died. When the AuthCode was never spent (no suite ticket yet, no suite token, WeCom unreachable) it
        stays ``pending`` for the next sweep, suite_ticket push or ``flask wecom exchange`` (it is valid 10
        minutes); when WeCom refused it, it is ``failed`` with the error. ``reclaim_after`` is the 0.1.0
        spelling of ``take_over``.
        """
        claim = self.store.lease_auth_code(code_id, lease=self.lease,
                                           take_over=take_over or reclaim_after is not None)
        if claim is None:
            return None
        if claim.taken_over:
            log.warning("AuthCode #%s: taking over a claim whose lease expired (its process died or lost the "
                        "database)", code_id)
        record = self.store.get_auth_code(code_id)
        info_type = record.info_type if record else "?"
        with _LeaseKeeper(self.store, code_id, self.lease):
            try:
                source = self.suite_token()
                source.get()  # the suite token first: a failure here leaves the AuthCode unspent
            except (WeComError, TransportError) as exc:
                log.warning("AuthCode #%s (%s) kept for a retry: no suite token (%s); it is exchanged when the "
                            "next suite_ticket arrives, by the next sweep or by `flask wecom exchange` within 10 "
                            "minutes", code_id, info_type, exc)
                self.store.finish_auth_code(code_id, error=str(exc), retry=True)
                return None
            try:
                # v1 on purpose: it returns auth_info.agent[].agentid, which v2 leaves out (docs 97163 / 100776).
                data = self.client.get_permanent_code(source, claim.auth_code)
            except TransportError as exc:  # the request may not have reached WeCom: the code may still be good
                log.error("exchanging AuthCode #%s (%s) failed, kept for a retry: %s", code_id, info_type, exc)
                self.store.finish_auth_code(code_id, error=str(exc), retry=True)
                return None
            except WeComError as exc:
                if claim.maybe_spent and exc.code == 40078:
                    self._spent_before(code_id, info_type, exc)
                    return None
                log.error("exchanging AuthCode #%s (%s) failed: %s", code_id, info_type, exc)
                self.store.finish_auth_code(code_id, error=str(exc))
                return None
            except Exception:  # a bug or an interrupted call: leave the code to a retry
                self.store.finish_auth_code(code_id, error="interrupted", retry=True)
                raise
        return self.store_exchange_result(code_id, data, info_type=info_type,
                                          recorded_at=record.received_at if record else None)

    def store_exchange_result(self, code_id: int, data: Dict[str, Any], *, info_type: str,
                              recorded_at: Optional[float], spool: bool = True) -> Optional[CorpRecord]:
        """Store what get_permanent_code answered and mark the AuthCode done, in one transaction.

        The AuthCode is spent by now: when the store cannot take the answer, it is kept in the spool (sealed)
        and stored when the store is back, rather than lost (``spool=False``: raise instead, for the replay).
        """
        try:
            with self.store.transaction():
                corp = self._store_permanent_code(data, recorded_at=recorded_at)
                self.store.finish_auth_code(code_id, corp_id=corp.corp_id)
        except WeComError as exc:  # an answer without corp id / permanent code, or cancelled meanwhile
            log.error("exchanging AuthCode #%s (%s) failed: %s", code_id, info_type, exc)
            self.store.finish_auth_code(code_id, error=str(exc))
            return None
        except Exception as exc:
            if not spool or self.spool is None:
                raise
            self.spool.put("exchange", {"code_id": code_id, "info_type": info_type, "recorded_at": recorded_at,
                                        "data": data})
            log.error("AuthCode #%s (%s) was exchanged but the store cannot take the permanent code (%s); kept "
                      "sealed in %s and stored when the store is back", code_id, info_type, type(exc).__name__,
                      self.spool.directory)
            return None
        if info_type == "reset_permanent_code":
            self.drop_corp_tokens(corp.corp_id)
        return corp

    def _spent_before(self, code_id: int, info_type: str, exc: WeComError) -> None:
        """40078 for a code an earlier attempt may have sent to WeCom: never overwrite that attempt's success."""
        record = self.store.get_auth_code(code_id)
        if record is not None and record.status == "done":
            log.info("AuthCode #%s (%s) was exchanged by an earlier attempt (corp %s)", code_id, info_type,
                     record.corp_id)
            return None
        log.error("AuthCode #%s (%s): WeCom says it was used already (%s): an earlier attempt reached WeCom but "
                  "its answer was not stored", code_id, info_type, exc)
        self.store.finish_auth_code(code_id, error=(
            f"{exc}: an earlier attempt spent this AuthCode and its answer was not stored (its process died). "
            "An answer kept in the spool of another host is still stored when it is replayed; otherwise get a "
            "new AuthCode: click 重新获取secret on the app's page in the provider console "
            "(developer.work.weixin.qq.com/document/path/97175), or ask the customer to authorize again "
            "(临时授权码已被之前的尝试使用)"))
        return None

    def _store_permanent_code(self, data: Dict[str, Any], recorded_at: Optional[float] = None) -> CorpRecord:
        corp_info = data.get("auth_corp_info") or {}
        corp_id = corp_info.get("corpid")
        permanent_code = data.get("permanent_code")
        if not corp_id or not permanent_code:
            raise WeComError("get_permanent_code answered without auth_corp_info.corpid or permanent_code")
        existing = self.store.get_corp(corp_id)
        if (existing is not None and existing.status == "revoked" and recorded_at is not None
                and existing.updated_at >= recorded_at):
            # cancel_auth arrived after this AuthCode: the authorization it stood for is gone.
            raise WeComError(f"corp {corp_id} cancelled the authorization while its AuthCode was being "
                             "exchanged; the permanent code was not stored (企业已在换取期间取消授权)")
        agents = (data.get("auth_info") or {}).get("agent") or []
        agent_id = agents[0].get("agentid") if agents else None
        self.store.save_corp(
            corp_id,  # exactly as WeCom sent it: encrypted corp ids are case-sensitive (doc 97104)
            permanent_code=permanent_code,
            suite_id=self.suite_id,
            corp_name=corp_info.get("corp_name"),
            agent_id=agent_id,
            auth_info=_public_auth_info(data),
        )
        self._unblock_corp(corp_id)  # a new permanent code: a failure remembered for the old one is void
        corp = self.store.get_corp(corp_id)
        assert corp is not None  # saved just above, in this transaction
        return corp

    def refresh_auth_info(self, corp_id: str) -> Optional[CorpRecord]:
        """change_auth: re-read the corp's authorization (visible range, agent, enabled) from WeCom."""
        permanent_code = self.store.get_permanent_code(corp_id)
        data = self.client.get_auth_info(self.suite_token(), corp_id, permanent_code)
        corp_info = data.get("auth_corp_info") or {}
        agents = (data.get("auth_info") or {}).get("agent") or []
        self.store.save_corp(corp_id, corp_name=corp_info.get("corp_name"),
                             agent_id=agents[0].get("agentid") if agents else None,
                             auth_info=_public_auth_info(data))
        return self.store.get_corp(corp_id)

    def revoke(self, corp_id: str, *, at: Optional[float] = None) -> None:
        """cancel_auth: forget the secret and every cached token of the corp (WeCom asks us to delete data)."""
        self.drop_corp_tokens(corp_id)
        self.forget_app_permissions(corp_id)
        self.store.revoke_corp(corp_id, at=at)

    def forget_app_permissions(self, corp_id: str) -> None:
        """Drop the corp's app permissions that logins keep in the token cache (flask_wecom.permissions)."""
        self.tokens.cache.delete(permissions.cache_key(corp_id))


class _LeaseKeeper:
    """Renews an AuthCode's lease while the exchange is alive (a slow get_permanent_code keeps its claim)."""

    def __init__(self, store: Store, code_id: int, lease: float) -> None:
        self._store, self._code_id, self._lease = store, code_id, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wecom-lease-{code_id}", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._lease / 3):
            try:
                self._store.renew_auth_code(self._code_id, lease=self._lease)
            except Exception as exc:  # noqa: BLE001 - the store is down: the lease runs out, a sweep takes over
                log.warning("AuthCode #%s: cannot renew its lease (%s)", self._code_id, type(exc).__name__)


def _public_auth_info(data: Dict[str, Any]) -> Dict[str, Any]:
    """The non-secret part of get_permanent_code / get_auth_info, kept for status pages and the doctor."""
    keep = ("auth_corp_info", "auth_info", "auth_user_info", "dealer_corp_info", "edition_info", "state")
    return {key: data[key] for key in keep if key in data}


# -- callback receive ids ---------------------------------------------------------------------------

#: the two callback URLs: the template (指令) URL and the app (数据) URL
TEMPLATE_URL = "template"
DATA_URL = "data"


@dataclass(frozen=True)
class ReceiveIdRule:
    """The receiveids one callback URL accepts for one method.

    ``strict`` False: another receiveid is accepted anyway (after the signature check) and logged loudly,
    because refusing would lose what WeCom sent and nothing is gained by it."""

    expected: FrozenSet[str]
    strict: bool = True

    def accepts(self, receive_id: str) -> bool:
        return receive_id in self.expected or not self.strict


def _ids(*values: Optional[str]) -> FrozenSet[str]:
    return frozenset(v for v in values if v)


def receive_id_rule(provider: Provider, endpoint: str, method: str) -> ReceiveIdRule:
    """Which receiveids a callback URL accepts, per app type (the decrypted message ends with one).

    The official appendix "ReceiveId 含义" (developer.work.weixin.qq.com/document/path/90968, 91144):
    a corp app's callbacks carry the corp id, third-party events the suite id. Applied per URL:

    * self-built: its own corp id on both URLs, GET and POST;
    * template (指令) URL, POST: the suite id (97172: "receiveid的内容为suiteid"), and the 登录授权 suite's
      id for its suite_ticket. Not strict: peers (EasyWeChat, WxJava) do not check it and one capture shows
      the provider's corp id; refusing would lose a 10-minute AuthCode, so another id is accepted (the
      signature was verified first) and logged loudly;
    * template URL, GET (URL verification): the provider's own corp id (WeCom staff answers; no official
      page says it), and the suite ids — a verification only echoes, accepting a candidate loses nothing;
    * app (数据) URL, POST: the customer corp ids we serve (= ToUserName; encrypted for 代开发 installs since
      2022), plus the suite id for third-party apps (the appendix: third-party callbacks carry the suite id);
    * app URL, GET: unconfirmed anywhere which id WeCom verifies a 代开发 / third-party app URL with (staff
      answers say the provider's corp id, developers report the customer's): every candidate is accepted.

    A 代开发 app configured with its permanent code (``WECOM_APP_TYPE=customized`` without a suite) is a
    provider app all the same: its URLs are verified for the provider's corp id.
    """
    method = method.upper()
    if provider.app_type == INTERNAL:
        return ReceiveIdRule(_ids(provider.corp_id))
    suites = (provider.suite_id, provider.login_suite_id)
    if endpoint == TEMPLATE_URL:
        if method == "GET":
            return ReceiveIdRule(_ids(provider.provider_corp_id, *suites))
        return ReceiveIdRule(_ids(*suites), strict=False)
    # read only here: a template event must pass while the store is down (it is spooled then)
    corps = tuple(provider.corp_ids()) + (provider.corp_id,)
    if method == "GET":
        return ReceiveIdRule(_ids(provider.provider_corp_id, *corps, *suites))
    third_party_suite = provider.suite_id if provider.app_type == THIRD_PARTY else None
    return ReceiveIdRule(_ids(*corps, third_party_suite))


# -- installs started from the provider's website (third-party apps) ------------------------------


def install_page_url(provider: Provider, *, install_base: str, redirect_uri: str, state: str,
                     auth_type: int = 0) -> str:
    """The WeCom install page for a third-party install started from our site (developer.work.weixin.qq.com/
    document/path/90597): get_pre_auth_code (90601), set_session_info (90602), then
    ``install_base?suite_id=…&pre_auth_code=…&redirect_uri=…&state=…``. WeCom sends the admin back to
    ``redirect_uri?auth_code=…&expires_in=600&state=…``; no create_auth is pushed for it (90642).

    Only third-party apps install this way: a 代开发 template is authorized by scanning its QR code,
    which pushes create_auth to the template URL (97163)."""
    if provider.app_type != THIRD_PARTY:
        raise ConfigError("installs started from your website are for third-party apps (WECOM_APP_TYPE="
                          "third_party); a 代开发 app is authorized by scanning the template QR code and its "
                          "create_auth arrives on the template callback URL (从服务商网站发起的安装仅适用于第三方应用)")
    suite = provider.suite_token()
    data = provider.client.get_pre_auth_code(suite)
    pre_auth_code = data.get("pre_auth_code")
    if not pre_auth_code:
        raise WeComError("get_pre_auth_code answered without pre_auth_code")
    provider.client.set_session_info(suite, str(pre_auth_code), auth_type)
    query = urlencode([("suite_id", provider.suite_id), ("pre_auth_code", pre_auth_code),
                       ("redirect_uri", redirect_uri), ("state", state)])
    return f"{install_base}{'&' if '?' in install_base else '?'}{query}"


def record_install_code(provider: Provider, auth_code: str, state: Optional[str]) -> Tuple[int, bool]:
    """Record the auth_code of a finished website install like a create_auth AuthCode: ``(id, created)``.

    The same auth_code (a reload of the redirect) is recorded once, so it is exchanged once."""
    return provider.store.record_auth_code(str(provider.suite_id or ""), "create_auth", auth_code, state)
