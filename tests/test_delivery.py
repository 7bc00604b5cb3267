"""Authenticating a callback delivery is core (flask_wecom/delivery.py): no Flask, no app, no HTTP (issue 11).

The HTTP answers themselves are checked end to end, against the simulator, in test_callback_hardening.py;
these tests pin the core function the view maps to them.
"""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from flask_wecom.config import DEFAULTS, INTERNAL
from flask_wecom.crypto import MessageCrypto, signature
from flask_wecom.delivery import Delivery, Refusal, authenticate

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "callbacktoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
CORP = "wwdeliverycorp00001"
NOW = 1_700_000_000
PROVIDER = SimpleNamespace(app_type=INTERNAL, corp_id=CORP)  # what receive_id_rule reads of a self-built app
CONFIG = dict(DEFAULTS, WECOM_TOKEN=TOKEN, WECOM_ENCODING_AES_KEY=AES_KEY)
MESSAGE = (f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>"
           "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           "<Content><![CDATA[hi]]></Content><MsgId>42</MsgId><AgentID>1000002</AgentID></xml>")


def post(plaintext: str = MESSAGE, *, receive_id: str = CORP, timestamp: int = NOW, config=CONFIG,
         body: bytes = b"", content_length=None, **args):
    crypto = MessageCrypto(TOKEN, AES_KEY, None)
    encrypt = crypto.encrypt(plaintext, receive_id)
    query = {"msg_signature": signature(TOKEN, str(timestamp), "n1", encrypt), "timestamp": str(timestamp),
             "nonce": "n1", **args}
    data = body or f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
    return authenticate(PROVIDER, config, "data", "POST", query, content_length=content_length,
                        read=io.BytesIO(data).read, now=NOW)


def test_an_authentic_message_gives_its_event():
    delivery = post()
    assert isinstance(delivery, Delivery)
    assert delivery.receive_id == CORP and delivery.nonce == "n1" and delivery.plaintext == MESSAGE
    assert delivery.event is not None and delivery.event.type == "text"


def test_a_url_verification_gives_the_echostr_and_no_event():
    crypto = MessageCrypto(TOKEN, AES_KEY, None)
    echostr = crypto.encrypt("echo-1234", CORP)
    query = {"msg_signature": signature(TOKEN, str(NOW), "n2", echostr), "timestamp": str(NOW), "nonce": "n2",
             "echostr": echostr}
    delivery = authenticate(PROVIDER, CONFIG, "data", "GET", query, content_length=None,
                            read=lambda n: b"", now=NOW)
    assert isinstance(delivery, Delivery) and delivery.plaintext == "echo-1234" and delivery.event is None


def test_each_refusal_has_its_status_in_the_order_of_the_checks():
    unset = dict(CONFIG, WECOM_TOKEN=None)
    assert post(config=unset).status == 404  # not configured: before anything else is looked at
    stale = post(timestamp=NOW - 301, body=b"not xml")
    assert (stale.status, stale.message) == (403, "stale timestamp: 301 s from our clock (limit 300 s; check "
                                                  "the server clock)")
    big = post(content_length=DEFAULTS["WECOM_CALLBACK_MAX_BODY"] + 1, body=b"not xml")
    assert big.status == 413  # the size before the XML
    assert post(body=b"not xml").status == 400
    assert post(body=b"<xml><Encrypt>AAAA</Encrypt></xml>").status == 403  # the signature before decrypting
    assert post(plaintext="not xml").status == 400  # the event's XML last


def test_a_foreign_receive_id_is_refused_naming_it_in_the_log_only():
    refusal = post(receive_id="wwSomeoneElse")
    assert isinstance(refusal, Refusal) and refusal.status == 403
    assert "'wwSomeoneElse'" in refusal.message and CORP in refusal.message  # the log: both ids
    assert CORP not in refusal.text and "wwSomeoneElse" not in refusal.text  # the answer: neither


def test_the_core_imports_no_flask():
    code = "import sys, flask_wecom.delivery; print(sorted(m for m in sys.modules if m.split('.')[0] == 'flask'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
