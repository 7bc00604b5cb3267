"""flask-wecom 0.1.0's secretbox.py, verbatim but for this docstring and its relative import
(``git show f384762:flask_wecom/secretbox.py``): seals values exactly as a 0.1.0 deploy did. Never edit it.
"""
from __future__ import annotations

import base64
import hashlib
import secrets

from Crypto.Cipher import AES

from flask_wecom.errors import ConfigError, WeComError

_PREFIX = "v1:"
_SALT = b"flask-wecom store v1"


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
        # PBKDF2 turns any passphrase-like SECRET_KEY into a uniform 256-bit key.
        self._key = hashlib.pbkdf2_hmac("sha256", key_material, _SALT, 100_000, dklen=32)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, plaintext: str) -> str:
        nonce = secrets.token_bytes(12)
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce)
        ciphertext, tag = cipher.encrypt_and_digest(plaintext.encode("utf-8"))
        return _PREFIX + base64.b64encode(nonce + ciphertext + tag).decode("ascii")

    def open(self, sealed: str) -> str:
        if not sealed.startswith(_PREFIX):
            raise SecretBoxError()
        try:
            raw = base64.b64decode(sealed[len(_PREFIX):], validate=True)
            nonce, ciphertext, tag = raw[:12], raw[12:-16], raw[-16:]
            cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce)
            return cipher.decrypt_and_verify(ciphertext, tag).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise SecretBoxError() from exc
