"""Encryption at rest for the durable store (AES-256-GCM).

A database dump alone must not reveal permanent codes (for a 代开发 app the
permanent code *is* the app secret), so the store keeps them sealed with a key
derived from ``WECOM_STORE_KEY`` or the app's ``SECRET_KEY``.

The derivation (PBKDF2-SHA256, 100 000 rounds, about 40 ms) runs when the first secret is sealed or
opened, once per process and key, not when the box is made: ``WeCom(app)`` stays fast and a process
that never touches a secret never pays for it. The format and the key are those of 0.1.0, so what a
0.1.0 store sealed opens unchanged.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from typing import TYPE_CHECKING, Dict

from .errors import ConfigError, WeComError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1:"
_SALT = b"flask-wecom store v1"

#: derived keys by key material, for every box of this process (apps, tests and the CLI share them)
_derived: Dict[bytes, bytes] = {}
_derive_lock = threading.Lock()


def _derive(key_material: bytes) -> bytes:
    """The AES key for ``key_material``: PBKDF2 once per process, then from memory."""
    key = _derived.get(key_material)
    if key is None:
        with _derive_lock:  # threads that need the key meanwhile wait for the one derivation
            key = _derived.get(key_material)
            if key is None:
                # PBKDF2 turns any passphrase-like SECRET_KEY into a uniform 256-bit key.
                key = hashlib.pbkdf2_hmac("sha256", key_material, _SALT, 100_000, dklen=32)
                _derived[key_material] = key
    return key


#: one AES-GCM object per derived key; stateless (the nonce is given per call), so threads may share it
_aeads: Dict[bytes, AESGCM] = {}


def _aead(key: bytes) -> AESGCM:
    """The key's AES-256-GCM, made once per process.

    ``cryptography``'s AESGCM (OpenSSL) takes the nonce per call, so one object serves every message:
    sealing a suite_ticket, which happens before its callback answers, costs about 1 µs instead of
    the ~40 µs of building pycryptodome's GCM object per message. Same algorithm and layout
    (nonce | ciphertext | tag), so what 0.1.0 sealed with pycryptodome opens unchanged, and the
    other way round. ``cryptography`` is already installed with Authlib; it is imported here, with the
    first secret, so a worker that never touches one does not carry it (start-up memory, issue 12).
    """
    aead = _aeads.get(key)
    if aead is None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        aead = _aeads[key] = AESGCM(key)
    return aead


class SecretBoxError(WeComError):
    """A sealed value could not be opened: the store key changed or the row was tampered with."""

    description = (
        "cannot decrypt a stored secret: WECOM_STORE_KEY / SECRET_KEY changed since it was stored, "
        "or the row was modified (存储密钥已变更或数据被篡改；恢复原密钥或重新授权)"
    )


class SecretBox:
    """Seal and open short strings with AES-GCM; the output is ``v1:`` + base64(nonce|ciphertext|tag)."""

    def __init__(self, key_material: str | bytes) -> None:
        if not key_material:
            raise ConfigError("WECOM_STORE_KEY or SECRET_KEY must be set to encrypt secrets at rest")
        if isinstance(key_material, str):
            key_material = key_material.encode("utf-8")
        self._material = key_material

    @property
    def _key(self) -> bytes:
        return _derive(self._material)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, plaintext: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = _aead(self._key).encrypt(nonce, plaintext.encode("utf-8"), None)  # ciphertext | tag
        return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str) -> str:
        if not sealed.startswith(_PREFIX):
            raise SecretBoxError()
        try:
            raw = base64.b64decode(sealed[len(_PREFIX):], validate=True)
            if len(raw) < 12 + 16:
                raise ValueError("too short")
            aead = _aead(self._key)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SecretBoxError() from exc
        from cryptography.exceptions import InvalidTag  # loaded by _aead already

        try:
            return aead.decrypt(raw[:12], raw[12:], None).decode("utf-8")
        except (InvalidTag, UnicodeDecodeError) as exc:
            raise SecretBoxError() from exc


class LockedSecretBox(SecretBox):
    """The box of an app started without a key (``WECOM_CHECK_CONFIG=False`` and no ``SECRET_KEY``): it runs,
    so ``flask wecom doctor`` can report the missing key, but seals and opens nothing."""

    def __init__(self) -> None:  # no key to derive
        pass

    def __repr__(self) -> str:
        return "LockedSecretBox(<no key>)"

    def seal(self, plaintext: str) -> str:
        raise ConfigError("SECRET_KEY (or WECOM_STORE_KEY) must be set: flask-wecom encrypts secrets at rest "
                          "with a key derived from it (设置 SECRET_KEY / set SECRET_KEY)")

    def open(self, sealed: str) -> str:
        return self.seal("")
