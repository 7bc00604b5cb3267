"""The hub's signing keys: RS256 id_tokens (RFC 7518 section 3.3) and the JWKS that verifies them.

The key comes from ``WECOM_HUB_SIGNING_KEY`` (a PEM RSA private key) or is generated once and kept in
the durable store, sealed with the store's SecretBox, so every worker and host signs with the same key.
Creation is race-free: the active key's row holds the unique ``slot = 'active'``; of several workers
booting at once on an empty table one insert wins and the others read the winner's key.

:meth:`KeyRing.rotate` retires the active key and creates a new one; a retired key stays in JWKS for
:data:`RETIRED_KEY_KEEP` seconds, so tokens it signed keep verifying until they have expired.

Signing uses ``cryptography`` directly (RSASSA-PKCS1-v1_5 with SHA-256) rather than joserfc, which needs
Python ≥ 3.11 while flask-wecom supports 3.9; relying parties verify with any JOSE library (the tests
use Authlib's client).
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..errors import ConfigError
from ..store import _insert_ignore
from .tables import hub_keys

log = logging.getLogger("flask_wecom.hub")

__all__ = ["KeyRing", "SigningKey", "sign_jwt", "verify_jwt", "public_jwk", "ID_TOKEN_LIFETIME"]

#: seconds an id_token is valid
ID_TOKEN_LIFETIME = 3600
#: seconds a retired key stays in JWKS: every token it signed has expired by then (with a margin)
RETIRED_KEY_KEEP = ID_TOKEN_LIFETIME + 600
#: seconds a process keeps the keys it read before reading them again (a rotation elsewhere shows within it)
KEY_CACHE_SECONDS = 30.0
ACTIVE = "active"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def public_jwk(private_key: rsa.RSAPrivateKey) -> Dict[str, str]:
    """The public JWK with ``kid`` = its RFC 7638 thumbprint."""
    numbers = private_key.public_key().public_numbers()
    jwk = {"e": b64url(_int_bytes(numbers.e)), "kty": "RSA", "n": b64url(_int_bytes(numbers.n))}
    kid = b64url(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest())
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


class SigningKey:
    """A private RSA key and its kid; the repr names the kid only."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._key = private_key
        self.jwk = public_jwk(private_key)
        self.kid = self.jwk["kid"]

    def __repr__(self) -> str:
        return f"<SigningKey kid={self.kid!r}>"

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem.encode("utf-8") if isinstance(pem, str) else pem,
                                                     password=None)
        except (ValueError, TypeError):
            # never quote the value: it is a private key
            raise ConfigError("WECOM_HUB_SIGNING_KEY is not a PEM RSA private key without a passphrase "
                              "(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048)") from None
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
            raise ConfigError("WECOM_HUB_SIGNING_KEY must be an RSA private key of at least 2048 bits (RS256)")
        return cls(key)

    def pem(self) -> str:
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()).decode("ascii")

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def sign_jwt(claims: Mapping[str, Any], key: SigningKey) -> str:
    """A compact JWS (RS256) of ``claims`` with the key's ``kid`` in the header."""
    header = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + b64url(json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False).encode("utf-8")))
    return signing_input + "." + b64url(key.sign(signing_input.encode("ascii")))


def verify_jwt(token: str, jwks: Sequence[Mapping[str, str]]) -> Optional[Dict[str, Any]]:
    """The claims of an RS256 JWS signed by one of ``jwks``, else None. Expiry is the caller's business."""
    try:
        header_b64, claims_b64, sig_b64 = str(token).split(".")
        header = json.loads(_b64url_decode(header_b64))
        if header.get("alg") != "RS256":
            return None
        jwk = next((k for k in jwks if k.get("kid") == header.get("kid")), None)
        if jwk is None:
            return None
        public = rsa.RSAPublicNumbers(int.from_bytes(_b64url_decode(jwk["e"]), "big"),
                                      int.from_bytes(_b64url_decode(jwk["n"]), "big")).public_key()
        public.verify(_b64url_decode(sig_b64), f"{header_b64}.{claims_b64}".encode("ascii"),
                      padding.PKCS1v15(), hashes.SHA256())
        claims = json.loads(_b64url_decode(claims_b64))
    except (ValueError, KeyError, TypeError, InvalidSignature):
        return None
    return claims if isinstance(claims, dict) else None


class KeyRing:
    """The active signing key and the public keys of JWKS, read from the store (cached briefly per process)."""

    def __init__(self, store: Any, *, configured_pem: Optional[str] = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._box = store.secret_box
        self._clock = clock
        self._configured = SigningKey.from_pem(configured_pem) if configured_pem else None
        self._lock = threading.Lock()
        self._cached: Optional[Tuple[float, SigningKey, List[Dict[str, str]]]] = None

    def __repr__(self) -> str:
        source = "WECOM_HUB_SIGNING_KEY" if self._configured else "store"
        return f"<KeyRing from {source}>"

    # -- reading ----------------------------------------------------------------------------

    def _load(self) -> Tuple[SigningKey, List[Dict[str, str]]]:
        now = self._clock()
        with self.store.transaction() as conn:
            rows = conn.execute(sa.select(hub_keys)).all()
        active: Optional[SigningKey] = self._configured
        public: List[Dict[str, str]] = [self._configured.jwk] if self._configured else []
        for row in sorted(rows, key=lambda r: -r.created_at):
            if row.slot == ACTIVE and row.private_key and self._configured is None:
                active = SigningKey.from_pem(self._box.open(row.private_key))
                public.insert(0, active.jwk)
            elif row.retired_at is not None and row.retired_at + RETIRED_KEY_KEEP > now:
                jwk = json.loads(row.public_jwk)
                if all(k["kid"] != jwk["kid"] for k in public):
                    public.append(jwk)
        if active is None:
            active = self._create()
            public.insert(0, active.jwk)
        return active, public

    def _create(self) -> SigningKey:
        """Generate the first key; of several processes racing, the first insert wins and all use it."""
        key = SigningKey.generate()
        with self.store.transaction() as conn:
            won = _insert_ignore(conn, hub_keys, {
                "kid": key.kid, "slot": ACTIVE, "private_key": self._box.seal(key.pem()),
                "public_jwk": json.dumps(key.jwk), "created_at": self._clock(), "retired_at": None})
        if won:
            log.info("hub: generated signing key %s (kept sealed in the store)", key.kid)
            return key
        with self.store.transaction() as conn:
            sealed = conn.execute(sa.select(hub_keys.c.private_key).where(hub_keys.c.slot == ACTIVE)).scalar_one()
        return SigningKey.from_pem(self._box.open(sealed))

    def _current(self, *, fresh: bool = False) -> Tuple[SigningKey, List[Dict[str, str]]]:
        with self._lock:
            cached = self._cached
            if fresh or cached is None or cached[0] <= time.monotonic():
                active, public = self._load()
                self._cached = cached = (time.monotonic() + KEY_CACHE_SECONDS, active, public)
            return cached[1], cached[2]

    @property
    def active(self) -> SigningKey:
        return self._current()[0]

    def jwks(self) -> Dict[str, List[Dict[str, str]]]:
        """``{"keys": [...]}``: the active key first, then retired keys whose tokens may still be live.

        Read from the store on every call (one query): a key that another worker rotated in signs at once
        there, so every worker's JWKS must list it at once too."""
        return {"keys": [dict(k) for k in self._current(fresh=True)[1]]}

    def sign(self, claims: Mapping[str, Any]) -> str:
        return sign_jwt(claims, self.active)

    def verify(self, token: str) -> Optional[Dict[str, Any]]:
        keys = self._current()[1]
        claims = verify_jwt(token, keys)
        if claims is None:  # signed by a key this process has not read yet (rotated elsewhere)
            claims = verify_jwt(token, self._current(fresh=True)[1])
        return claims

    # -- rotation ---------------------------------------------------------------------------

    def rotate(self) -> SigningKey:
        """Retire the active stored key and make a new one active (kept in JWKS while its tokens live)."""
        if self._configured is not None:
            raise ConfigError("the hub signs with WECOM_HUB_SIGNING_KEY: rotate by replacing that key (the old "
                              "public key is not kept), or remove the setting to use a stored, rotatable key")
        key = SigningKey.generate()
        now = self._clock()
        with self.store.transaction() as conn:
            conn.execute(hub_keys.update().where(hub_keys.c.slot == ACTIVE).values(slot=None, retired_at=now))
            conn.execute(hub_keys.insert().values(
                kid=key.kid, slot=ACTIVE, private_key=self._box.seal(key.pem()), public_jwk=json.dumps(key.jwk),
                created_at=now, retired_at=None))
            # keys whose tokens have all expired go
            conn.execute(hub_keys.delete().where(hub_keys.c.retired_at.is_not(None),
                                                 hub_keys.c.retired_at < now - RETIRED_KEY_KEEP))
        log.info("hub: rotated the signing key; new kid %s", key.kid)
        self._current(fresh=True)
        return key
