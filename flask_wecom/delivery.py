"""Authenticate a callback delivery: what a request to a callback URL must pass before its event is processed.

Framework-free (no Flask import: a core module). :func:`authenticate` takes what the request carries and
returns either a :class:`Delivery` (signature checked, decrypted, receive id accepted, event parsed) or a
:class:`Refusal` (the HTTP status and the text WeCom gets, and what the log says); the Flask view
(:mod:`flask_wecom.callback`) only maps the outcome to an answer. The checks, in order, each with its own
status: callback configured (404) → query parameters present (400) → timestamp well-formed (400) and within
``WECOM_CALLBACK_MAX_AGE`` (403) → the crypto settings usable (503) → for a URL verification (GET): the
echostr's signature (403), decryption (400) and receive id (403) → for a message (POST): body size
(``WECOM_CALLBACK_MAX_BODY``, 413), envelope XML (400), signature (403), decryption (400), receive id (403,
per :func:`flask_wecom.provider.receive_id_rule`) and event XML (400).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Tuple, Union

from .crypto import MessageCrypto
from .errors import ParseXMLError, SignatureError, WeComError
from .events import CallbackEvent, parse_event
from .provider import DATA_URL, Provider, receive_id_rule
from .xmlutil import parse_xml

__all__ = ["Delivery", "Refusal", "authenticate", "callback_secrets", "check_receive_id"]

log = logging.getLogger("flask_wecom.callback")

# WeCom sends a plain Unix time; anything else (other digits, 10**400) is refused before arithmetic.
_TIMESTAMP = re.compile(r"[0-9]{1,12}\Z")


@dataclass(frozen=True)
class Refusal:
    """A delivery refused: ``status`` and ``message`` (the log line; also the answer unless ``answer`` is set,
    which says less — a refused receive id is named in the log, the ids we serve never in the answer)."""

    status: int
    message: str
    answer: Optional[str] = None

    @property
    def text(self) -> str:
        """The body of the HTTP answer."""
        return self.message if self.answer is None else self.answer


@dataclass
class Delivery:
    """An authenticated delivery: the query's values, the crypto that checked it and what it decrypted to."""

    msg_signature: str
    timestamp: str
    nonce: str
    crypto: MessageCrypto
    #: the decrypted message (POST) or echostr (GET: the URL verification answers it as is)
    plaintext: str
    receive_id: str
    #: the parsed event of a message; None for a URL verification
    event: Optional[CallbackEvent] = None


def callback_secrets(config: Mapping[str, str], endpoint: str) -> Tuple[str, str]:
    """(Token, EncodingAESKey) of a callback URL: the app (数据) URL may have its own pair."""
    if endpoint == DATA_URL:
        return (config["WECOM_DATA_TOKEN"] or config["WECOM_TOKEN"],
                config["WECOM_DATA_ENCODING_AES_KEY"] or config["WECOM_ENCODING_AES_KEY"])
    return config["WECOM_TOKEN"], config["WECOM_ENCODING_AES_KEY"]


def _clip(value: str, limit: int = 64) -> str:
    """repr() of a received (attacker-chosen) id, short enough for a log line."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def check_receive_id(provider: Provider, endpoint: str, method: str, receive_id: str) -> Optional[Refusal]:
    """None when the (signature-verified) message may be processed, else the 403 refusal."""
    rule = receive_id_rule(provider, endpoint, method)
    if receive_id in rule.expected:
        return None
    if rule.strict:
        return Refusal(403, f"receiveid {_clip(receive_id)} is not accepted on the {endpoint} callback (expected "
                            f"one of {sorted(rule.expected)}; check WECOM_PROVIDER_CORP_ID / WECOM_SUITE_ID / "
                            "WECOM_CORP_ID)",
                       answer=f"receiveid is not accepted on the {endpoint} callback (see the server log)")
    # Template POSTs (developer.work.weixin.qq.com/document/path/97172): refusing would lose the event
    # (an AuthCode lives 10 minutes); the signature has been verified, so process it and say so loudly.
    log.error("callback: receiveid %s on the %s callback is not the expected %s; processed anyway (the "
              "signature is valid) so that no event is lost — check WECOM_SUITE_ID / WECOM_LOGIN_SUITE_ID",
              _clip(receive_id), endpoint, sorted(rule.expected) or "suite id (WECOM_SUITE_ID is not set)")
    return None


def authenticate(provider: Provider, config: Mapping[str, str], endpoint: str, method: str,
                 args: Mapping[str, str], *, content_length: Optional[int], read: Callable[[int], bytes],
                 now: float) -> Union[Delivery, Refusal]:
    """Check one request to a callback URL (``endpoint``: ``"template"`` or ``"data"``) by WeCom's rules.

    ``args`` is the query string, ``read(n)`` reads at most ``n`` bytes of the body (only for POST, at most
    ``WECOM_CALLBACK_MAX_BODY`` + 1), ``now`` is the server's clock for the timestamp window."""
    token, aes_key = callback_secrets(config, endpoint)
    if not token or not aes_key:
        return Refusal(404, "callback is not configured: set WECOM_TOKEN and WECOM_ENCODING_AES_KEY")
    needed = ("msg_signature", "timestamp", "nonce") + (("echostr",) if method == "GET" else ())
    missing = [name for name in needed if not args.get(name)]
    if missing:
        return Refusal(400, f"missing query parameter(s): {', '.join(missing)}")
    msg_signature, timestamp, nonce = args["msg_signature"], args["timestamp"], args["nonce"]
    if not _TIMESTAMP.match(timestamp):
        return Refusal(400, "timestamp is not a number")
    skew = abs(now - int(timestamp))
    max_age = int(config["WECOM_CALLBACK_MAX_AGE"])
    if max_age and skew > max_age:
        return Refusal(403, f"stale timestamp: {int(skew)} s from our clock (limit {max_age} s; check the server "
                            "clock)")
    try:
        # No receive ids here: the decrypted one is checked below, once the signature has passed (doc 90968).
        crypto = MessageCrypto(token, aes_key, None)
    except WeComError as exc:
        return Refusal(503, f"callback is misconfigured: {exc.message}")
    if method == "GET":
        return _verify_url(provider, crypto, endpoint, msg_signature, timestamp, nonce, args["echostr"])

    limit = int(config["WECOM_CALLBACK_MAX_BODY"])
    if content_length is not None and content_length > limit:
        return Refusal(413, f"body of {content_length} bytes is over the {limit}-byte limit")
    body = read(limit + 1)  # also bounds a chunked body, which has no Content-Length
    if len(body) > limit:
        return Refusal(413, f"body is over the {limit}-byte limit")
    try:
        envelope = parse_xml(body)
    except ParseXMLError as exc:
        return Refusal(400, f"body is not acceptable XML: {exc.message}")
    encrypt = envelope.get("Encrypt")
    if not encrypt or not isinstance(encrypt, str):
        return Refusal(400, "XML body has no <Encrypt> element")
    try:
        crypto.check_signature(msg_signature, timestamp, nonce, encrypt)
        plaintext, receive_id = crypto.decrypt(encrypt)
    except SignatureError:
        return Refusal(403, "msg_signature does not match: check WECOM_TOKEN (回调 Token 不一致)")
    except WeComError as exc:
        return Refusal(400, f"cannot decrypt: {exc.message} (check WECOM_ENCODING_AES_KEY)")
    refused = check_receive_id(provider, endpoint, method, receive_id)
    if refused is not None:
        return refused
    try:
        event = parse_event(plaintext)
    except ParseXMLError as exc:
        return Refusal(400, f"decrypted message is not acceptable XML: {exc.message}")
    return Delivery(msg_signature, timestamp, nonce, crypto, plaintext, receive_id, event)


def _verify_url(provider: Provider, crypto: MessageCrypto, endpoint: str, msg_signature: str, timestamp: str,
                nonce: str, echostr: str) -> Union[Delivery, Refusal]:
    try:
        crypto.check_signature(msg_signature, timestamp, nonce, echostr)
    except SignatureError:
        return Refusal(403, "URL verification: msg_signature does not match (check WECOM_TOKEN)")
    except WeComError as exc:
        return Refusal(400, f"URL verification: cannot check the signature: {exc.message}")
    try:
        plaintext, receive_id = crypto.decrypt(echostr)
    except WeComError as exc:
        return Refusal(400, f"URL verification: cannot decrypt echostr: {exc.message}")
    refused = check_receive_id(provider, endpoint, "GET", receive_id)
    if refused is not None:
        return refused
    return Delivery(msg_signature, timestamp, nonce, crypto, plaintext, receive_id)
