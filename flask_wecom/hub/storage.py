"""Authorization codes and access tokens in the durable store (framework-free, SQLAlchemy Core).

Codes and tokens are stored as SHA-256 hashes only. A code is taken once, atomically (an ``UPDATE``
that sets ``used_at`` where it is NULL): of two concurrent redemptions on any workers, one wins; the
other, and every later one, finds the code used and revokes the tokens it issued (RFC 6749 section 4.1.2).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

import sqlalchemy as sa

from .tables import hub_codes, hub_tokens

__all__ = ["HubStorage", "CodeRecord", "TokenRecord", "CODE_LIFETIME", "ACCESS_TOKEN_LIFETIME"]

#: seconds a code is valid (the spec asks for ≤ 60 s here; RFC 6749 section 4.1.2 allows up to 10 minutes)
CODE_LIFETIME = 60
#: seconds an access token is valid at userinfo
ACCESS_TOKEN_LIFETIME = 3600
#: how long a used or expired code is kept so that its reuse is still recognised
USED_CODE_KEEP = ACCESS_TOKEN_LIFETIME
PRUNE_INTERVAL = 300.0


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass
class CodeRecord:
    """A taken code (Authlib's AuthorizationCodeMixin). The code itself is not kept; ``code_hash`` is."""

    code_hash: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: Optional[str]
    code_challenge: Optional[str]
    code_challenge_method: Optional[str]
    member: Dict[str, Any] = field(repr=False)
    auth_time: float = 0.0

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> Optional[str]:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time)

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class TokenRecord:
    client_id: str
    scope: str
    member: Dict[str, Any] = field(repr=False)
    auth_time: float
    expires_at: float


class HubStorage:
    """Codes and tokens of the hub, in ``store``'s database."""

    def __init__(self, store: Any, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self._next_prune = 0.0

    def __repr__(self) -> str:
        return f"<HubStorage {self.store!r}>"

    # -- codes ------------------------------------------------------------------------------

    def save_code(self, code: str, *, client_id: str, redirect_uri: str, scope: str, nonce: Optional[str],
                  code_challenge: Optional[str], code_challenge_method: Optional[str],
                  member: Dict[str, Any], auth_time: float) -> None:
        now = self._clock()
        with self.store.transaction() as conn:
            self._prune(conn, now)
            conn.execute(hub_codes.insert().values(
                code_hash=digest(code), client_id=client_id, redirect_uri=redirect_uri, scope=scope, nonce=nonce,
                code_challenge=code_challenge, code_challenge_method=code_challenge_method,
                member=json.dumps(member, ensure_ascii=False), auth_time=auth_time,
                expires_at=now + CODE_LIFETIME, used_at=None))

    def take_code(self, code: str, client_id: str) -> Optional[CodeRecord]:
        """The code's record if it is this client's, unexpired and never taken; it is taken now, once.

        A code taken before (a replay, or a copy an attacker holds) returns None and revokes every token
        issued from it. Another client's code returns None and is left alone."""
        now = self._clock()
        code_hash = digest(code)
        with self.store.transaction() as conn:
            row = conn.execute(sa.select(hub_codes).where(hub_codes.c.code_hash == code_hash,
                                                          hub_codes.c.client_id == client_id)).first()
            if row is None:
                return None
            taken = conn.execute(hub_codes.update().where(hub_codes.c.code_hash == code_hash,
                                                          hub_codes.c.used_at.is_(None))
                                 .values(used_at=now)).rowcount
            if not taken:
                conn.execute(hub_codes.update().where(hub_codes.c.code_hash == code_hash).values(reused_at=now))
                conn.execute(hub_tokens.update().where(hub_tokens.c.code_hash == code_hash,
                                                       hub_tokens.c.revoked_at.is_(None)).values(revoked_at=now))
                return None
        if row.expires_at < now:
            return None
        return CodeRecord(code_hash=code_hash, client_id=row.client_id, redirect_uri=row.redirect_uri,
                          scope=row.scope, nonce=row.nonce, code_challenge=row.code_challenge,
                          code_challenge_method=row.code_challenge_method, member=json.loads(row.member),
                          auth_time=row.auth_time)

    def code_reused(self, code: str) -> bool:
        """True when ``code`` was taken before (for the log line; never logs the code)."""
        with self.store.transaction() as conn:
            return conn.execute(sa.select(hub_codes.c.used_at).where(hub_codes.c.code_hash == digest(code))
                                ).scalar() is not None

    # -- tokens -----------------------------------------------------------------------------

    def save_token(self, access_token: str, *, client_id: str, scope: str, member: Dict[str, Any],
                   auth_time: float, expires_in: int, code_hash: Optional[str]) -> None:
        now = self._clock()
        with self.store.transaction() as conn:
            conn.execute(hub_tokens.insert().values(
                token_hash=digest(access_token), client_id=client_id, code_hash=code_hash, scope=scope,
                member=json.dumps(member, ensure_ascii=False), auth_time=auth_time, issued_at=now,
                expires_at=now + expires_in, revoked_at=None))
            if code_hash is not None and conn.execute(
                    sa.select(hub_codes.c.reused_at).where(hub_codes.c.code_hash == code_hash)).scalar() is not None:
                # the code was replayed while this token was being made: it is revoked at once
                conn.execute(hub_tokens.update().where(hub_tokens.c.token_hash == digest(access_token))
                             .values(revoked_at=now))

    def token(self, access_token: str) -> Optional[TokenRecord]:
        """The live (unexpired, unrevoked) token's record, else None."""
        now = self._clock()
        with self.store.transaction() as conn:
            row = conn.execute(sa.select(hub_tokens).where(hub_tokens.c.token_hash == digest(access_token))).first()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        return TokenRecord(client_id=row.client_id, scope=row.scope, member=json.loads(row.member),
                           auth_time=row.auth_time, expires_at=row.expires_at)

    def revoke_code_tokens(self, code_hash: str) -> int:
        with self.store.transaction() as conn:
            return int(conn.execute(hub_tokens.update().where(hub_tokens.c.code_hash == code_hash,
                                                              hub_tokens.c.revoked_at.is_(None))
                                    .values(revoked_at=self._clock())).rowcount)

    def _prune(self, conn: sa.Connection, now: float) -> None:
        """Now and then (not on every request): drop codes past reuse detection and expired tokens."""
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_INTERVAL
        conn.execute(hub_codes.delete().where(hub_codes.c.expires_at < now - USED_CODE_KEEP))
        conn.execute(hub_tokens.delete().where(hub_tokens.c.expires_at < now))
