"""flask-wecom 0.1.0's store.py, verbatim but for this docstring and its two relative imports
(``git show f384762:flask_wecom/store.py``).

Used by tests/test_schema.py to build a database exactly as a 0.1.0 deploy left it (tables by
``metadata.create_all``, no version table; rows written and sealed by 0.1.0's own code), then upgrade it.
Never edit it to follow the current store: it is the past.
Its comments' "wecom-api.md §N" refer to team notes that now live in docs/wecom-reference.rst.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import IntegrityError

from flask_wecom.errors import CorpNotFoundError
from flask_wecom.secretbox import SecretBox

metadata = sa.MetaData()

#: Corp and suite ids are case-sensitive (post-2022 encrypted ids, wecom-api.md §0). SQLite and
#: PostgreSQL compare case-sensitively already; MySQL/MariaDB's default collations do not, so those
#: columns use a binary collation there ("wwAbC" and "wwabc" are different corps).
CaseSensitiveId = sa.String(128).with_variant(mysql.VARCHAR(128, collation="utf8mb4_bin"), "mysql", "mariadb")

#: Latest suite_ticket per suite ("latest wins"; WeCom says always use the newest one).
suite_tickets = sa.Table(
    "wecom_suite_ticket",
    metadata,
    sa.Column("suite_id", CaseSensitiveId, primary_key=True),
    sa.Column("ticket", sa.Text, nullable=False),  # sealed
    sa.Column("received_at", sa.Float, nullable=False),
)

#: AuthCodes from create_auth / reset_permanent_code, recorded before we answer `success`.
auth_codes = sa.Table(
    "wecom_auth_code",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("auth_code", sa.Text, nullable=True),  # sealed; cleared once consumed
    sa.Column("suite_id", CaseSensitiveId, nullable=False),
    sa.Column("info_type", sa.String(64), nullable=False),
    sa.Column("state", sa.String(256), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, default="pending"),
    sa.Column("corp_id", CaseSensitiveId, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
)

#: One row per authorized corp. corp_id keeps its case: post-2022 代开发 corp ids are
#: encrypted and case-sensitive (wecom-api.md §0).
corps = sa.Table(
    "wecom_corp",
    metadata,
    sa.Column("corp_id", CaseSensitiveId, primary_key=True),
    sa.Column("suite_id", CaseSensitiveId, nullable=True),
    sa.Column("corp_name", sa.String(256), nullable=True),
    sa.Column("agent_id", sa.String(32), nullable=True),
    sa.Column("permanent_code", sa.Text, nullable=True),  # sealed; NULL once revoked
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("auth_time", sa.Float, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("auth_info", sa.Text, nullable=True),  # JSON of non-secret fields from get_auth_info
)

#: Callback deliveries already processed (msg_signature + nonce), for replay / retry detection.
deliveries = sa.Table(
    "wecom_delivery",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("received_at", sa.Float, nullable=False, index=True),
)


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
    id: int
    suite_id: str
    info_type: str
    state: Optional[str]
    status: str
    corp_id: Optional[str]
    error: Optional[str]
    received_at: float


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class Store:
    """SQLAlchemy-backed store. Tables are created on first use; no manual step."""

    def __init__(self, url: str, box: SecretBox, *, engine_options: Optional[dict] = None,
                 clock=time.time) -> None:
        options = dict(engine_options or {})
        if url.startswith("sqlite"):
            # One file shared by threads of the dev server and the background exchanger.
            options.setdefault("connect_args", {"check_same_thread": False, "timeout": 15})
        else:
            options.setdefault("pool_pre_ping", True)
        self.url = url
        self.engine = sa.create_engine(url, **options)
        self._box = box
        self._clock = clock
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- plumbing -----------------------------------------------------------------

    def _conn(self):
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    metadata.create_all(self.engine)
                    self._ready = True
        return self.engine.begin()

    def dispose(self) -> None:
        self.engine.dispose()

    # -- suite tickets ------------------------------------------------------------

    def save_suite_ticket(self, suite_id: str, ticket: str, received_at: Optional[float] = None) -> None:
        now = received_at if received_at is not None else self._clock()
        sealed = self._box.seal(ticket)
        for _ in range(2):  # update-or-insert; a concurrent first insert makes the second pass update
            try:
                with self._conn() as conn:
                    updated = conn.execute(
                        suite_tickets.update().where(suite_tickets.c.suite_id == suite_id)
                        .values(ticket=sealed, received_at=now)
                    ).rowcount
                    if not updated:
                        conn.execute(suite_tickets.insert().values(suite_id=suite_id, ticket=sealed,
                                                                   received_at=now))
                return
            except IntegrityError:
                continue

    def get_suite_ticket(self, suite_id: str) -> Optional[tuple]:
        """``(ticket, received_at)`` or None when WeCom never pushed one."""
        with self._conn() as conn:
            row = conn.execute(
                sa.select(suite_tickets.c.ticket, suite_tickets.c.received_at)
                .where(suite_tickets.c.suite_id == suite_id)
            ).first()
        if row is None:
            return None
        return self._box.open(row.ticket), row.received_at

    def suite_ticket_received_at(self, suite_id: str) -> Optional[float]:
        with self._conn() as conn:
            return conn.execute(
                sa.select(suite_tickets.c.received_at).where(suite_tickets.c.suite_id == suite_id)
            ).scalar()

    # -- auth codes ---------------------------------------------------------------

    def record_auth_code(self, suite_id: str, info_type: str, auth_code: str,
                         state: Optional[str] = None) -> tuple:
        """Record an AuthCode durably. Returns ``(id, created)``; a retried delivery is not re-created."""
        code_hash = _hash(auth_code)
        try:
            with self._conn() as conn:
                result = conn.execute(auth_codes.insert().values(
                    code_hash=code_hash, auth_code=self._box.seal(auth_code), suite_id=suite_id,
                    info_type=info_type, state=state, status="pending", received_at=self._clock(),
                ))
            return result.inserted_primary_key[0], True
        except IntegrityError:  # the same AuthCode delivered again (WeCom retry or replay)
            with self._conn() as conn:
                existing = conn.execute(
                    sa.select(auth_codes.c.id).where(auth_codes.c.code_hash == code_hash)
                ).scalar_one()
            return existing, False

    def claim_auth_code(self, code_id: int, *, reclaim_after: Optional[float] = None) -> Optional[str]:
        """Atomically move a pending AuthCode to ``exchanging``; returns it, or None if already taken.

        ``reclaim_after`` (seconds since the code was recorded) also takes a code left ``exchanging`` by a
        process that died mid-exchange; only for an operator's explicit recovery (``flask wecom exchange
        --stuck``), since a live exchanger could still be holding it.
        """
        claimable = auth_codes.c.status == "pending"
        if reclaim_after is not None:
            claimable = sa.or_(claimable, sa.and_(auth_codes.c.status == "exchanging",
                                                  auth_codes.c.received_at <= self._clock() - reclaim_after))
        with self._conn() as conn:
            claimed = conn.execute(
                auth_codes.update()
                .where(auth_codes.c.id == code_id, auth_codes.c.auth_code.is_not(None), claimable)
                .values(status="exchanging")
            ).rowcount
            if not claimed:
                return None
            sealed = conn.execute(
                sa.select(auth_codes.c.auth_code).where(auth_codes.c.id == code_id)
            ).scalar_one()
        return self._box.open(sealed)

    def finish_auth_code(self, code_id: int, *, corp_id: Optional[str] = None,
                         error: Optional[str] = None, retry: bool = False) -> None:
        """Mark an exchange done or failed. The AuthCode itself is wiped: it is single use."""
        status = "pending" if retry else ("failed" if error else "done")
        values: Dict[str, Any] = {"status": status, "corp_id": corp_id, "error": error,
                                  "finished_at": self._clock()}
        if not retry:
            values["auth_code"] = None
        with self._conn() as conn:
            conn.execute(auth_codes.update().where(auth_codes.c.id == code_id).values(**values))

    def get_auth_code(self, code_id: int) -> Optional[AuthCodeRecord]:
        with self._conn() as conn:
            row = conn.execute(sa.select(auth_codes).where(auth_codes.c.id == code_id)).first()
        return self._auth_code_record(row) if row else None

    def pending_auth_codes(self, max_age: float = 600, *, stuck_after: Optional[float] = None) -> List[AuthCodeRecord]:
        """AuthCodes still worth exchanging (WeCom: valid for 10 minutes, §2.2); with ``stuck_after``, also
        those left ``exchanging`` for that many seconds since they were recorded (a crashed exchanger)."""
        now = self._clock()
        wanted = auth_codes.c.status == "pending"
        if stuck_after is not None:
            wanted = sa.or_(wanted, sa.and_(auth_codes.c.status == "exchanging",
                                            auth_codes.c.received_at <= now - stuck_after))
        with self._conn() as conn:
            rows = conn.execute(
                sa.select(auth_codes).where(wanted, auth_codes.c.auth_code.is_not(None),
                                            auth_codes.c.received_at >= now - max_age)
                .order_by(auth_codes.c.id)
            ).all()
        return [self._auth_code_record(row) for row in rows]

    def recent_auth_codes(self, limit: int = 20) -> List[AuthCodeRecord]:
        with self._conn() as conn:
            rows = conn.execute(sa.select(auth_codes).order_by(auth_codes.c.id.desc()).limit(limit)).all()
        return [self._auth_code_record(row) for row in rows]

    @staticmethod
    def _auth_code_record(row) -> AuthCodeRecord:
        return AuthCodeRecord(id=row.id, suite_id=row.suite_id, info_type=row.info_type, state=row.state,
                              status=row.status, corp_id=row.corp_id, error=row.error,
                              received_at=row.received_at)

    # -- corps ------------------------------------------------------------------------

    def save_corp(self, corp_id: str, *, permanent_code: Optional[str] = None, suite_id: Optional[str] = None,
                  corp_name: Optional[str] = None, agent_id: Optional[Any] = None,
                  auth_info: Optional[dict] = None, status: str = "active") -> None:
        """Insert or update a corp. Fields left as None keep their stored value."""
        now = self._clock()
        values: Dict[str, Any] = {"status": status, "updated_at": now}
        if permanent_code is not None:
            values["permanent_code"] = self._box.seal(permanent_code)
            values["auth_time"] = now
        if suite_id is not None:
            values["suite_id"] = suite_id
        if corp_name is not None:
            values["corp_name"] = corp_name
        if agent_id is not None:
            values["agent_id"] = str(agent_id)
        if auth_info is not None:
            values["auth_info"] = json.dumps(auth_info, ensure_ascii=False)
        for _ in range(2):  # update-or-insert; a concurrent first insert makes the second pass update
            try:
                with self._conn() as conn:
                    updated = conn.execute(corps.update().where(corps.c.corp_id == corp_id)
                                           .values(**values)).rowcount
                    if not updated:
                        conn.execute(corps.insert().values(corp_id=corp_id, **values))
                return
            except IntegrityError:
                continue

    def get_corp(self, corp_id: str) -> Optional[CorpRecord]:
        with self._conn() as conn:
            row = conn.execute(sa.select(corps).where(corps.c.corp_id == corp_id)).first()
        return self._corp_record(row) if row else None

    def require_corp(self, corp_id: str) -> CorpRecord:
        corp = self.get_corp(corp_id)
        if corp is None or not corp.active:
            raise CorpNotFoundError(
                f"corp {corp_id!r} has not authorized this app, or its authorization was cancelled "
                "(企业未授权或已取消授权；请企业管理员扫码授权)"
            )
        return corp

    def get_permanent_code(self, corp_id: str) -> str:
        """The corp's permanent code (for 代开发: the app secret). Raises CorpNotFoundError."""
        with self._conn() as conn:
            row = conn.execute(
                sa.select(corps.c.permanent_code, corps.c.status).where(corps.c.corp_id == corp_id)
            ).first()
        if row is None or row.permanent_code is None or row.status != "active":
            raise CorpNotFoundError(
                f"no permanent code for corp {corp_id!r}: it never authorized the app, or revoked it "
                "(没有该企业的永久授权码：未授权或已取消授权)"
            )
        return self._box.open(row.permanent_code)

    def list_corps(self, *, include_revoked: bool = True) -> List[CorpRecord]:
        query = sa.select(corps).order_by(corps.c.auth_time)
        if not include_revoked:
            query = query.where(corps.c.status == "active")
        with self._conn() as conn:
            rows = conn.execute(query).all()
        return [self._corp_record(row) for row in rows]

    def revoke_corp(self, corp_id: str) -> bool:
        """cancel_auth: WeCom asks us to delete the corp's data; we keep only the id, status and time.

        A cancel for a corp we do not hold yet (its AuthCode exchange is still under way) is kept as a
        revoked row too, so the exchange finishing later cannot bring the corp back. Returns whether the
        corp was held before."""
        values = {"status": "revoked", "permanent_code": None, "auth_info": None, "updated_at": self._clock()}
        with self._conn() as conn:
            if conn.execute(corps.update().where(corps.c.corp_id == corp_id).values(**values)).rowcount:
                return True
        try:
            with self._conn() as conn:
                conn.execute(corps.insert().values(corp_id=corp_id, **values))
        except IntegrityError:  # saved concurrently: revoke that row
            with self._conn() as conn:
                conn.execute(corps.update().where(corps.c.corp_id == corp_id).values(**values))
        return False

    def delete_corp(self, corp_id: str) -> bool:
        with self._conn() as conn:
            return bool(conn.execute(corps.delete().where(corps.c.corp_id == corp_id)).rowcount)

    @staticmethod
    def _corp_record(row) -> CorpRecord:
        return CorpRecord(corp_id=row.corp_id, suite_id=row.suite_id, corp_name=row.corp_name,
                          agent_id=row.agent_id, status=row.status, auth_time=row.auth_time,
                          updated_at=row.updated_at, has_secret=row.permanent_code is not None,
                          auth_info=json.loads(row.auth_info) if row.auth_info else {})

    # -- deliveries -------------------------------------------------------------------

    def first_delivery(self, msg_signature: str, nonce: str, *, keep_for: float = 3600) -> bool:
        """True the first time this (msg_signature, nonce) is seen; False for a retry or replay."""
        key = _hash(f"{msg_signature}|{nonce}")
        now = self._clock()
        with self._conn() as conn:
            conn.execute(deliveries.delete().where(deliveries.c.received_at < now - keep_for))
        try:
            with self._conn() as conn:
                conn.execute(deliveries.insert().values(key=key, received_at=now))
        except IntegrityError:
            return False
        return True

    def forget_delivery(self, msg_signature: str, nonce: str) -> None:
        """Undo :meth:`first_delivery` for a delivery that could not be processed, so its retry is."""
        with self._conn() as conn:
            conn.execute(deliveries.delete().where(deliveries.c.key == _hash(f"{msg_signature}|{nonce}")))
