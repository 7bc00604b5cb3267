"""WeCom's pushes to a provider's callback URLs, encrypted like WeCom (docs 96466 / 97172).

Encryption and signatures come from :mod:`flask_wecom.crypto` (the same code the
extension uses to *decrypt*, which is fine: the scheme is symmetric and that
module is tested against the official vectors).

Transport: real HTTP with :mod:`requests`, or — with ``client=`` — a WSGI test
client (Flask's ``app.test_client()`` or :class:`werkzeug.test.Client`).

Retries: WeCom retries app callbacks up to three times when it gets no 200 within
five seconds (doc 96466); the retry policy of 指令回调 is UNCONFIRMED (doc 96466).  The fake
sends each push exactly once and reports what came back; a test that wants a retry
calls the push again.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from ..crypto import MessageCrypto, signature
from ..xmlutil import to_xml
from .model import add_query

__all__ = ["PushResult", "VerifyResult", "encrypt_envelope", "post_event", "verify_url"]

Fields = Mapping[str, Union[str, int]]

#: placeholder for the Encrypt value in an envelope mapping
ENCRYPT: Any = object()


@dataclass
class PushResult:
    """What the provider answered to one push.

    ``fields`` is the plaintext message that was sent (e.g. ``fields["AuthCode"]``),
    ``receive_id`` the receiveid it was encrypted for.
    """

    url: str
    status_code: int
    text: str
    elapsed: float
    fields: Dict[str, Any] = field(default_factory=dict)
    receive_id: str = ""

    @property
    def ok(self) -> bool:
        """HTTP 200: an app (data) callback was accepted (doc 96466)."""
        return self.status_code == 200

    @property
    def success(self) -> bool:
        """HTTP 200 and exactly ``success``: what 指令回调 events require (doc 96466, 97172)."""
        return self.status_code == 200 and self.text == "success"

    @property
    def in_time(self) -> bool:
        """Answered within 1000 ms, as create_auth / reset_permanent_code require (doc 96466)."""
        return self.elapsed <= 1.0

    @property
    def auth_code(self) -> Optional[str]:
        value = self.fields.get("AuthCode")
        return str(value) if value is not None else None


@dataclass
class VerifyResult:
    """Outcome of a GET URL verification (doc 96466).  Truthy when the answer was exactly right."""

    url: str
    ok: bool
    status_code: int
    text: str
    expected: str
    receive_id: str
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


def _nonce() -> str:
    return str(secrets.randbelow(10**10)).zfill(10)


def _send(
    method: str,
    url: str,
    params: Dict[str, str],
    body: Optional[str],
    client: Any,
    timeout: float,
) -> Tuple[int, str, float]:
    full = add_query(url, params)
    headers = {"Content-Type": "text/xml"} if body is not None else {}
    data = body.encode("utf-8") if body is not None else None
    start = time.monotonic()
    if client is None:
        import requests

        resp = requests.request(method, full, data=data, headers=headers, timeout=timeout,
                                allow_redirects=False)
        raw = resp.content
        status = resp.status_code
    else:
        resp = client.open(full, method=method, data=data, headers=headers)
        raw = resp.get_data()
        status = resp.status_code
    elapsed = time.monotonic() - start
    # decode strictly as bytes -> text: a BOM or newline must stay visible (doc 96466)
    return status, raw.decode("utf-8", "replace"), elapsed


def encrypt_envelope(
    token: str,
    encoding_aes_key: str,
    plaintext: str,
    receive_id: str,
    envelope: Mapping[str, Any],
    timestamp: int,
) -> Tuple[str, Dict[str, str]]:
    """Encrypt ``plaintext`` for ``receive_id``; return (envelope XML, query params)."""
    crypto = MessageCrypto(token, encoding_aes_key, None)
    encrypt = crypto.encrypt(plaintext, receive_id=receive_id)
    nonce = _nonce()
    fields: Dict[str, Union[str, int]] = {}
    for key, value in envelope.items():
        fields[key] = encrypt if value is ENCRYPT else value
    xml = to_xml(fields)
    params = {
        "msg_signature": signature(token, str(timestamp), nonce, encrypt),
        "timestamp": str(timestamp),
        "nonce": nonce,
    }
    return xml, params


def post_event(
    url: str,
    plaintext_fields: Fields,
    *,
    token: str,
    encoding_aes_key: str,
    receive_id: str,
    to_user_name: str,
    agent_id: str = "",
    app_envelope: bool = False,
    timestamp: int,
    client: Any = None,
    timeout: float = 5.0,
) -> PushResult:
    """POST one encrypted event.

    Template (指令) events use ``<ToUserName>suite_id</ToUserName><Encrypt/><AgentID></AgentID>``
    (doc 96466, captured envelope); app events ``<ToUserName/><AgentID/><Encrypt/>`` (doc 96466).
    """
    plaintext = to_xml(dict(plaintext_fields))
    if app_envelope:
        envelope = {"ToUserName": to_user_name, "AgentID": str(agent_id), "Encrypt": ENCRYPT}
    else:
        envelope = {"ToUserName": to_user_name, "Encrypt": ENCRYPT, "AgentID": str(agent_id)}
    xml, params = encrypt_envelope(token, encoding_aes_key, plaintext, receive_id, envelope, timestamp)
    status, text, elapsed = _send("POST", url, params, xml, client, timeout)
    return PushResult(url, status, text, elapsed, dict(plaintext_fields), receive_id)


def verify_url(
    url: str,
    *,
    token: str,
    encoding_aes_key: str,
    receive_id: str,
    timestamp: int,
    client: Any = None,
    timeout: float = 5.0,
) -> VerifyResult:
    """The GET with an encrypted ``echostr``; the answer must be its plaintext, byte for byte (doc 96466)."""
    expected = str(secrets.randbelow(10**19)).zfill(19)  # WeCom's echostr plaintext is a long number
    crypto = MessageCrypto(token, encoding_aes_key, None)
    echostr = crypto.encrypt(expected, receive_id=receive_id)
    nonce = _nonce()
    params = {
        "msg_signature": signature(token, str(timestamp), nonce, echostr),
        "timestamp": str(timestamp),
        "nonce": nonce,
        "echostr": echostr,
    }
    status, text, _ = _send("GET", url, params, None, client, timeout)
    reason = ""
    if status != 200:
        reason = f"HTTP {status}"
    elif text != expected:
        if text.startswith("\ufeff"):
            reason = "answer starts with a BOM (不能带bom头)"
        elif text.strip() == expected:
            reason = "answer has surrounding whitespace / newline (不能带换行符)"
        elif text.strip("\"'") == expected:
            reason = "answer is quoted (不能加引号)"
        else:
            reason = "answer is not the decrypted echostr"
    return VerifyResult(url, not reason, status, text, expected, receive_id, reason)
