"""WeCom callback message crypto: the official WXBizMsgCrypt scheme, byte for byte.

Spec (official docs 90968 / 91144):

- ``AESKey = base64_decode(EncodingAESKey + "=")`` (32 bytes), AES-256-CBC with
  ``IV = AESKey[:16]``, PKCS#7 padding to a multiple of **32** bytes (not 16).
- Plaintext = 16 random bytes + ``len(msg)`` as 4-byte big-endian + msg + receiveid,
  all UTF-8; ``Encrypt = base64(AES(plaintext))``.
- ``msg_signature = sha1("".join(sorted([token, timestamp, nonce, Encrypt]))).hexdigest()``.

Stricter than the official samples on purpose: padding, the length field, UTF-8
and base64 are all validated, and every failure is a
:class:`~flask_wecom.errors.CryptoError` subclass carrying the sample code's
``-400xx`` number, so a hostile or garbled request can never surface as a bare
``ValueError``/``struct.error``/``UnicodeDecodeError`` (i.e. an HTTP 500).

The signature is always checked *before* anything is decrypted, so an attacker
without the Token gets no padding oracle.

URL-decoding gotcha (doc 96466): ``echostr`` and ``Encrypt`` are base64 and may
contain ``+``.  A framework that URL-decodes the query string twice (or not at
all) turns ``+`` into a space or leaves ``%2B``; the signature then no longer
matches and :class:`SignatureError` is raised.  This module deliberately does
**not** repair such input (``echostr.replace(" ", "+")`` as some samples do):
decode the query string exactly once, as Werkzeug's ``request.args`` does.

No Flask import here: this is a core module.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
import sys
import time
from functools import lru_cache
from typing import Any, Iterable, Optional, Tuple, Union

from Crypto.Cipher import AES
from Crypto.Util.strxor import strxor

from .errors import (
    ComputeSignatureError,
    ConfigError,
    DecodeBase64Error,
    DecryptError,
    EncodeBase64Error,
    EncryptError,
    InvalidAESKeyError,
    InvalidBufferError,
    ParseXMLError,
    ReceiveIdError,
    SignatureError,
)
from .xmlutil import parse_xml, to_xml

__all__ = ["BLOCK_SIZE", "MessageCrypto", "signature"]

#: PKCS#7 block size of the WeCom scheme: 32 bytes, although AES blocks are 16.
BLOCK_SIZE = 32

_RANDOM_LEN = 16
_LENGTH = struct.Struct(">I")  # msg_len: 4 bytes, network byte order
_HEADER_LEN = _RANDOM_LEN + _LENGTH.size
_AES_KEY = re.compile(r"[A-Za-z0-9]{43}\Z")
_CANONICAL_INT = re.compile(r"(?:0|[1-9][0-9]*)\Z")

ReceiveIds = Union[str, Iterable[str], None]

# A large envelope's base64 is not scanned by expat (see MessageCrypto._decrypt_large_envelope).
_ENCRYPT_OPEN = b"<Encrypt><![CDATA["
_ENCRYPT_CLOSE = b"]]>"
#: stands in for the set-aside base64 while the rest is parsed: a private-use character, no base64 digit
_STAND_IN = "\ue000"
_STAND_IN_UTF8 = _STAND_IN.encode("utf-8")
#: bodies shorter than this are parsed whole (the set-aside only pays for itself on large messages)
_SET_ASIDE_FROM = 4096


if sys.version_info >= (3, 11):

    def _b64decode_strict(value: Union[str, bytes]) -> bytes:
        """``base64.b64decode(value, validate=True)`` without its Python-level copy (3.11+ does the same call)."""
        return binascii.a2b_base64(value, strict_mode=True)

else:  # pragma: no cover - exercised by the 3.9 CI job
    def _b64decode_strict(value: Union[str, bytes]) -> bytes:
        return base64.b64decode(value, validate=True)


@lru_cache(maxsize=64)
def _block_cipher(key: bytes) -> Any:
    """The expanded AES key as a stateless ECB object, shared by every :class:`MessageCrypto` of one key.

    Expanding a key costs about as much as decrypting a whole 1 KiB message (``AES.new`` each time), and
    the callback view builds a MessageCrypto per request.  ECB keeps no state between calls (unlike a CBC
    object, whose IV moves on), so one object serves every message and thread; pycryptodome decrypts a
    buffer of blocks in one C call, several blocks in parallel where AES-NI is available.
    """
    return AES.new(key, AES.MODE_ECB)


def signature(
    token: str,
    timestamp: Union[str, int],
    nonce: Union[str, int],
    encrypt: str,
) -> str:
    """Return the ``msg_signature`` of one message: SHA1 hex of the sorted, joined parts.

    ``timestamp`` and ``nonce`` may be ints (they are digits on the wire); they
    are signed as their decimal text.  Sorting is by code point, which equals the
    official samples' byte order for the ASCII values WeCom sends.
    Raises :class:`ComputeSignatureError` (-40003) for any other input type or
    text that cannot be UTF-8 encoded (lone surrogates).
    """
    parts = []
    for name, value, ints_ok in (
        ("token", token, False),
        ("timestamp", timestamp, True),
        ("nonce", nonce, True),
        ("encrypt", encrypt, False),
    ):
        if isinstance(value, str):
            parts.append(value)
        elif ints_ok and isinstance(value, int) and not isinstance(value, bool):
            parts.append(str(value))
        else:
            raise ComputeSignatureError(f"{name} must be str, not {type(value).__name__}")
    parts.sort()
    try:
        data = "".join(parts).encode("utf-8")
    except UnicodeEncodeError:
        raise ComputeSignatureError("signature input is not encodable as UTF-8") from None
    return hashlib.sha1(data).hexdigest()


def _clip(value: str, limit: int = 64) -> str:
    """repr() of a possibly attacker-chosen string, short enough for an error message."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


class MessageCrypto:
    """Verify, decrypt and encrypt the messages of one WeCom callback URL.

    ``token`` and ``encoding_aes_key`` are the URL's Token and EncodingAESKey
    from the WeCom console.  ``receive_id`` is what the decrypted receiveid must
    be (doc 90968): a corpid for app callbacks, the suite id for 指令回调 POSTs, the
    service provider's corpid for URL verification of provider-side URLs — so
    it may be one string or an iterable of accepted ids.  Ids are compared
    exactly: encrypted (post-2022) corpids are case sensitive.  ``None``
    accepts any id and is meant for tools such as the simulator, not for apps.

    Raises :class:`InvalidAESKeyError` (-40004) for a key that is not 43 chars
    of ``a-zA-Z0-9``, :class:`ConfigError` for a malformed token or receive id.
    Neither the token nor the key ever appears in a message or ``repr``.
    """

    __slots__ = ("_token", "_key", "_ecb", "receive_ids")

    def __init__(self, token: str, encoding_aes_key: str, receive_id: ReceiveIds) -> None:
        if not isinstance(token, str):
            raise ConfigError(f"WECOM_TOKEN must be a str, not {type(token).__name__}")
        if not isinstance(encoding_aes_key, str) or not _AES_KEY.match(encoding_aes_key):
            # Never echo the key: it is a secret even when malformed.
            raise InvalidAESKeyError(
                "WECOM_ENCODING_AES_KEY must be exactly 43 characters of a-zA-Z0-9 "
                "(EncodingAESKey 应为 43 位字母或数字)"
            )
        self._token = token
        # 43 base64 chars + "=" always decode to 32 bytes; the last char's two spare
        # bits are not required to be zero (the official sample key has them set).
        self._key = base64.b64decode(encoding_aes_key + "=", validate=True)
        self._ecb = _block_cipher(self._key)
        #: accepted receive ids in the order given, or ``None`` for "any"
        self.receive_ids: Optional[Tuple[str, ...]] = self._receive_ids(receive_id)

    @staticmethod
    def _receive_ids(receive_id: ReceiveIds) -> Optional[Tuple[str, ...]]:
        if receive_id is None:
            return None
        if isinstance(receive_id, str):
            return (receive_id,)
        if isinstance(receive_id, (bytes, bytearray)):
            raise ConfigError("receive_id must be str or an iterable of str, not bytes")
        try:
            ids = tuple(receive_id)
        except TypeError:
            raise ConfigError(
                f"receive_id must be str or an iterable of str, not {type(receive_id).__name__}"
            ) from None
        if not ids:
            raise ConfigError("receive_id is an empty collection: no message could ever be accepted")
        for item in ids:
            if not isinstance(item, str):
                raise ConfigError(f"every receive_id must be a str, got {type(item).__name__}")
        return ids

    def __repr__(self) -> str:
        return f"<MessageCrypto receive_ids={self.receive_ids!r}>"

    # -- signature -----------------------------------------------------------------

    def check_signature(
        self, msg_signature: str, timestamp: Union[str, int], nonce: Union[str, int], encrypt: str
    ) -> None:
        """Raise :class:`SignatureError` (-40001) unless ``msg_signature`` signs ``encrypt``.

        Constant-time comparison; a missing (``None``) or non-hex signature is
        simply a mismatch.  Inputs that cannot be signed at all raise
        :class:`ComputeSignatureError` (-40003).
        """
        expected = signature(self._token, timestamp, nonce, encrypt).encode("ascii")
        if not isinstance(msg_signature, str):
            raise SignatureError()
        # compare_digest refuses non-ASCII str, so compare bytes.
        given = msg_signature.encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(expected, given):
            raise SignatureError()

    # -- raw Encrypt values ----------------------------------------------------------

    def encrypt(self, plaintext: str, receive_id: Optional[str] = None) -> str:
        """Encrypt ``plaintext`` into a base64 ``Encrypt`` value.

        ``receive_id`` defaults to the configured id when exactly one is
        configured; with several (or ``None``) the caller must choose, since
        WeCom rejects a reply carrying the wrong one — raises
        :class:`EncryptError` (-40006) otherwise, as for non-str input.
        """
        rid = self._encrypt_receive_id(receive_id)
        if not isinstance(plaintext, str):
            raise EncryptError(f"plaintext must be str, not {type(plaintext).__name__}")
        try:
            msg = plaintext.encode("utf-8")
            rid_bytes = rid.encode("utf-8")
        except UnicodeEncodeError:
            raise EncryptError("plaintext or receive_id is not encodable as UTF-8") from None
        if len(msg) > 0xFFFFFFFF:
            raise EncryptError("plaintext longer than the 4-byte length field allows")
        data = secrets.token_bytes(_RANDOM_LEN) + _LENGTH.pack(len(msg)) + msg + rid_bytes
        pad = BLOCK_SIZE - len(data) % BLOCK_SIZE  # 1..32: a full block when already aligned
        data += bytes((pad,)) * pad
        try:
            ciphertext = AES.new(self._key, AES.MODE_CBC, iv=self._key[:16]).encrypt(data)
        except (ValueError, TypeError):
            raise EncryptError() from None
        try:
            return base64.b64encode(ciphertext).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):  # pragma: no cover - cannot happen
            raise EncodeBase64Error() from None

    def _encrypt_receive_id(self, receive_id: Optional[str]) -> str:
        if receive_id is None:
            if self.receive_ids is None or len(self.receive_ids) != 1:
                raise EncryptError(
                    "several (or any) receive ids are accepted; "
                    "pass receive_id= to choose the one to encrypt for"
                )
            return self.receive_ids[0]
        if not isinstance(receive_id, str):
            raise EncryptError(f"receive_id must be str, not {type(receive_id).__name__}")
        return receive_id

    def decrypt(self, encrypt_b64: str) -> Tuple[str, str]:
        """Decrypt a base64 ``Encrypt`` value into ``(msg, receive_id)``.

        Checks neither the signature nor the receive id: use :meth:`verify_url` /
        :meth:`decrypt_message` on untrusted input.  Raises
        :class:`DecodeBase64Error` (-40010) for anything but strict, padded
        base64 (spaces included — see the module docstring), :class:`DecryptError`
        (-40007) for a ciphertext AES-CBC cannot take (empty, not whole blocks),
        and :class:`InvalidBufferError` (-40008) when the decrypted bytes are not
        a well-formed message (padding, length field, UTF-8) — in practice
        almost always an EncodingAESKey that does not match the console's.
        """
        if not isinstance(encrypt_b64, (str, bytes)):
            raise DecodeBase64Error(f"Encrypt must be str, not {type(encrypt_b64).__name__}")
        try:
            ciphertext = _b64decode_strict(encrypt_b64)
        except (binascii.Error, ValueError):  # ValueError: non-ASCII str
            raise DecodeBase64Error() from None
        return self._decrypt_ciphertext(ciphertext)

    def _decrypt_ciphertext(self, ciphertext: bytes) -> Tuple[str, str]:
        if not ciphertext or len(ciphertext) % AES.block_size:
            raise DecryptError(f"ciphertext of {len(ciphertext)} bytes is not a whole number of AES blocks")
        try:
            # CBC decryption is P[i] = D(C[i]) xor C[i-1] with C[-1] = IV = key[:16]: every block is
            # deciphered independently, so the cached key object does it in one call, then one XOR.
            data = strxor(self._ecb.decrypt(ciphertext), self._key[:16] + ciphertext[:-16])
        except (ValueError, TypeError):  # pragma: no cover - length already checked
            raise DecryptError() from None
        return self._unpack(data)

    @staticmethod
    def _unpack(data: bytes) -> Tuple[str, str]:
        wrong_key = " (EncodingAESKey 与后台不一致？ does the EncodingAESKey match the console?)"
        pad = data[-1]
        if not 1 <= pad <= BLOCK_SIZE or data[-pad:] != bytes((pad,)) * pad:
            raise InvalidBufferError("bad PKCS#7 padding" + wrong_key)
        body = memoryview(data)[:-pad]  # slices of it are not copies
        if len(body) < _HEADER_LEN:
            raise InvalidBufferError("decrypted message shorter than its 20-byte header" + wrong_key)
        (msg_len,) = _LENGTH.unpack_from(body, _RANDOM_LEN)
        if msg_len > len(body) - _HEADER_LEN:
            raise InvalidBufferError("length field points past the end of the message" + wrong_key)
        end = _HEADER_LEN + msg_len
        try:
            msg = str(body[_HEADER_LEN:end], "utf-8")
            received = str(body[end:], "utf-8")
        except UnicodeDecodeError:
            raise InvalidBufferError("decrypted message is not UTF-8" + wrong_key) from None
        return msg, received

    def _check_receive_id(self, received: str) -> None:
        if self.receive_ids is None or received in self.receive_ids:
            return
        err = ReceiveIdError(
            f"decrypted receiveid {_clip(received)} is not one of {self.receive_ids!r} "
            "(wrong corpid / suite_id configured? 检查 receiveid: corpid 或 suite_id)"
        )
        err.received = received
        err.expected = self.receive_ids
        raise err

    # -- the callback protocol -------------------------------------------------------

    def verify_url(
        self, msg_signature: str, timestamp: Union[str, int], nonce: Union[str, int], echostr: str
    ) -> str:
        """Handle the GET URL verification: check, decrypt and return ``echostr``'s message.

        The caller answers the GET with exactly this text (no quotes, BOM or
        newline) within one second (doc 96466).
        """
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        msg, received = self.decrypt(echostr)
        self._check_receive_id(received)
        return msg

    def decrypt_message(
        self,
        xml_body: Union[str, bytes],
        msg_signature: str,
        timestamp: Union[str, int],
        nonce: Union[str, int],
    ) -> str:
        """Handle a POST: take ``<Encrypt>`` from the envelope, check, decrypt, return the plaintext XML.

        The envelope is parsed with DTDs and entities refused; a malformed or
        hostile body, or one without a top-level ``<Encrypt>`` text element,
        raises :class:`ParseXMLError` (-40002).
        """
        if isinstance(xml_body, bytes) and len(xml_body) >= _SET_ASIDE_FROM:
            opened = self._decrypt_large_envelope(xml_body, msg_signature, timestamp, nonce)
            if opened is not None:
                msg, received = opened
                self._check_receive_id(received)
                return msg
        envelope = parse_xml(xml_body)
        encrypt = envelope.get("Encrypt")
        if not isinstance(encrypt, str):
            raise ParseXMLError("callback XML has no <Encrypt> element")
        self.check_signature(msg_signature, timestamp, nonce, encrypt)
        msg, received = self.decrypt(encrypt)
        self._check_receive_id(received)
        return msg

    def _decrypt_large_envelope(
        self, body: bytes, msg_signature: str, timestamp: Union[str, int], nonce: Union[str, int]
    ) -> Optional[Tuple[str, str]]:
        """:meth:`decrypt_message`'s result for a large envelope, with less work; None: take the general path.

        Most of a large envelope is the base64 in ``<Encrypt><![CDATA[…]]>``. It is set aside and decoded
        (strict base64, needed anyway), and the rest of the envelope is parsed with a one-character stand-in
        in its place, so expat does not scan the bulk a second time. Exactly the general path's outcome:
        base64 digits and the stand-in are plain characters in every XML context (text, CDATA, comment,
        processing instruction), so both documents have the same structure, and with no character
        reference nor stand-in elsewhere in the body, a top-level ``Encrypt`` whose whole text is the
        stand-in had the set-aside base64 as its whole text. Anything else — another encoding than UTF-8
        (a body not starting with ``<xml>``), bad base64, a parse error, another shape — returns None and
        the general path answers, with its errors in its order (the signature is checked first).
        """
        if not body.startswith(b"<xml>"):
            return None
        start = body.find(_ENCRYPT_OPEN)
        if start < 0:
            return None
        start += len(_ENCRYPT_OPEN)
        end = body.find(b"]", start)  # one byte: a memchr, where "]]>" would be a slower substring search
        if end < 0 or not body.startswith(_ENCRYPT_CLOSE, end):
            return None
        head, encrypt, tail = body[:start], body[start:end], body[end:]
        if b"&#" in head or b"&#" in tail or _STAND_IN_UTF8 in head or _STAND_IN_UTF8 in tail:
            return None
        try:
            ciphertext = _b64decode_strict(encrypt)  # only base64 digits and final padding get through
        except (binascii.Error, ValueError):
            return None
        try:
            envelope = parse_xml(head + _STAND_IN_UTF8 + tail)
        except ParseXMLError:
            return None
        if envelope.get("Encrypt") != _STAND_IN:
            return None
        self.check_signature(msg_signature, timestamp, nonce, encrypt.decode("ascii"))
        return self._decrypt_ciphertext(ciphertext)

    def encrypt_message(
        self,
        plaintext: str,
        nonce: Union[str, int],
        timestamp: Union[str, int, None] = None,
        *,
        receive_id: Optional[str] = None,
    ) -> str:
        """Build the encrypted passive-reply envelope for ``plaintext`` (doc 96466).

        ``<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>``, signed like
        an incoming message.  ``timestamp`` defaults to now; ``receive_id`` as in
        :meth:`encrypt`.  The TimeStamp is signed exactly as given and written
        bare when it is a plain decimal, in CDATA otherwise, so WeCom reads back
        the same text that was signed.
        """
        if timestamp is None:
            timestamp = int(time.time())
        encrypt = self.encrypt(plaintext, receive_id)
        msg_signature = signature(self._token, timestamp, nonce, encrypt)
        ts_text = str(timestamp)
        return to_xml(
            {
                "Encrypt": encrypt,
                "MsgSignature": msg_signature,
                "TimeStamp": int(ts_text) if _CANONICAL_INT.match(ts_text) else ts_text,
                "Nonce": str(nonce),
            }
        )
