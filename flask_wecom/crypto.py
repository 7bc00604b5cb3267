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
import time
from typing import Iterable, Optional, Tuple, Union

from Crypto.Cipher import AES

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

    __slots__ = ("_token", "_key", "receive_ids")

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
            ciphertext = base64.b64decode(encrypt_b64, validate=True)
        except (binascii.Error, ValueError):  # ValueError: non-ASCII str
            raise DecodeBase64Error() from None
        if not ciphertext or len(ciphertext) % AES.block_size:
            raise DecryptError(f"ciphertext of {len(ciphertext)} bytes is not a whole number of AES blocks")
        try:
            data = AES.new(self._key, AES.MODE_CBC, iv=self._key[:16]).decrypt(ciphertext)
        except (ValueError, TypeError):  # pragma: no cover - length already checked
            raise DecryptError() from None
        return self._unpack(data)

    @staticmethod
    def _unpack(data: bytes) -> Tuple[str, str]:
        wrong_key = " (EncodingAESKey 与后台不一致？ does the EncodingAESKey match the console?)"
        pad = data[-1]
        if not 1 <= pad <= BLOCK_SIZE or data[-pad:] != bytes((pad,)) * pad:
            raise InvalidBufferError("bad PKCS#7 padding" + wrong_key)
        body = data[:-pad]
        if len(body) < _HEADER_LEN:
            raise InvalidBufferError("decrypted message shorter than its 20-byte header" + wrong_key)
        (msg_len,) = _LENGTH.unpack_from(body, _RANDOM_LEN)
        if msg_len > len(body) - _HEADER_LEN:
            raise InvalidBufferError("length field points past the end of the message" + wrong_key)
        end = _HEADER_LEN + msg_len
        try:
            msg = body[_HEADER_LEN:end].decode("utf-8")
            received = body[end:].decode("utf-8")
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
        err.received = received  # type: ignore[attr-defined]
        err.expected = self.receive_ids  # type: ignore[attr-defined]
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
        envelope = parse_xml(xml_body)
        encrypt = envelope.get("Encrypt")
        if not isinstance(encrypt, str):
            raise ParseXMLError("callback XML has no <Encrypt> element")
        self.check_signature(msg_signature, timestamp, nonce, encrypt)
        msg, received = self.decrypt(encrypt)
        self._check_receive_id(received)
        return msg

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
