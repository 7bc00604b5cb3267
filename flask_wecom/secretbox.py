"""Encryption at rest for the durable store (AES-256-GCM, pycryptodome).

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
from typing import Callable, Dict, Optional, Tuple

from Crypto.Cipher import AES

from .errors import ConfigError, WeComError

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


#: GCM sealing per key (None: the library's own GCM object per message), see :func:`_gcm_sealer`
_sealers: Dict[bytes, Optional[Callable[[bytes, bytes], Tuple[bytes, bytes]]]] = {}


def _gcm_sealer(key: bytes) -> Optional[Callable[[bytes, bytes], Tuple[bytes, bytes]]]:
    """``(nonce, plaintext) -> (ciphertext, tag)``: AES-256-GCM with the key schedule and the hash subkey made
    once per key. ``AES.new(key, MODE_GCM)`` builds three ciphers and a GHASH table per message (~35 µs, and
    every suite_ticket is sealed before its callback answers); this is the same GCM (NIST SP 800-38D, 96-bit
    nonce: the counter blocks are encrypted with one cached ECB cipher) at about a quarter of the cost.

    GHASH comes from pycryptodome's GCM module (``_GHASH``, not public API): the sealer is used only when it
    imports and matches ``AES.new(key, MODE_GCM)`` on a sample, else None (the library's GCM per message)."""
    if key in _sealers:
        return _sealers[key]
    sealer = None
    try:
        from Crypto.Cipher._mode_gcm import _GHASH, _ghash_clmul, _ghash_portable

        ecb = AES.new(key, AES.MODE_ECB)  # stateless: safe for concurrent threads
        subkey = ecb.encrypt(bytes(16))
        ghash_c = _ghash_clmul or _ghash_portable

        def seal(nonce: bytes, data: bytes) -> Tuple[bytes, bytes]:
            size = len(data)
            # J0 = nonce || 1 masks the tag; the data is encrypted with nonce || 2, nonce || 3 …
            stream = ecb.encrypt(b"".join(nonce + i.to_bytes(4, "big") for i in range(1, (size + 15) // 16 + 2)))
            ciphertext = (int.from_bytes(data, "big") ^ int.from_bytes(stream[16:16 + size], "big")).to_bytes(
                size, "big")
            ghash = _GHASH(subkey, ghash_c)
            ghash.update(ciphertext + bytes(-size % 16) + bytes(8) + (8 * size).to_bytes(8, "big"))
            tag = (int.from_bytes(ghash.digest(), "big") ^ int.from_bytes(stream[:16], "big")).to_bytes(16, "big")
            return ciphertext, tag

        for sample in (b"", b"flask-wecom: the sealing path checked against the library's GCM \xe4\xbc\x81"):
            nonce = secrets.token_bytes(12)
            if seal(nonce, sample) != AES.new(key, AES.MODE_GCM, nonce=nonce).encrypt_and_digest(sample):
                raise ValueError("differs from AES.new(MODE_GCM)")
        sealer = seal
    except Exception:  # noqa: BLE001 - another pycryptodome: its own GCM object per message, as before
        sealer = None
    _sealers[key] = sealer
    return sealer


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
        key = self._key
        sealer = _gcm_sealer(key)
        if sealer is not None:
            ciphertext, tag = sealer(nonce, plaintext.encode("utf-8"))
        else:
            ciphertext, tag = AES.new(key, AES.MODE_GCM, nonce=nonce).encrypt_and_digest(plaintext.encode("utf-8"))
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
