"""Throughput of flask_wecom.crypto, against raw AES-CBC measured in the same run.

    python bench/bench_crypto.py [--seconds 0.5]

Prints ops/s for ``encrypt``, ``encrypt_message``, ``decrypt_message`` and the
bare pycryptodome AES-256-CBC decryption of the same ciphertext, and the ratio
``decrypt_message / raw AES`` (how much the protocol — XML parsing, SHA1,
base64, checks — costs on top of the cipher).  Numbers only; nothing asserts
on them, since they depend on the machine.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from typing import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from _timing import timed_calls  # noqa: E402
from Crypto.Cipher import AES  # noqa: E402

from flask_wecom.crypto import MessageCrypto, signature  # noqa: E402

TOKEN = "QDG6eK"  # the official sample's values (see tests/test_crypto.py)
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP = "wx5823bf96d3bd56c7"
SIZES = (64, 1024, 16 * 1024, 256 * 1024)


def rate(func: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``func``, timed over about ``seconds`` after a warm-up."""
    n, elapsed = timed_calls(func, seconds, max_batch=1024)
    return n / elapsed


def measure(crypto: MessageCrypto, key: bytes, size: int, seconds: float) -> str:
    """One table row for a message of about ``size`` bytes."""
    msg = "<xml><Content><![CDATA[" + "x" * max(0, size - 38) + "]]></Content></xml>"
    ts, nonce = "1409659813", "1372623149"
    encrypted = crypto.encrypt(msg)
    raw = base64.b64decode(encrypted)
    sig = signature(TOKEN, ts, nonce, encrypted)
    body = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    assert crypto.decrypt_message(body, sig, ts, nonce) == msg

    enc = rate(lambda: crypto.encrypt(msg), seconds)
    enc_msg = rate(lambda: crypto.encrypt_message(msg, nonce, ts), seconds)
    dec_msg = rate(lambda: crypto.decrypt_message(body, sig, ts, nonce), seconds)
    aes = rate(lambda: AES.new(key, AES.MODE_CBC, iv=key[:16]).decrypt(raw), seconds)
    return (
        f"{len(msg.encode()):>10} {enc:>12,.0f} {enc_msg:>18,.0f} "
        f"{dec_msg:>18,.0f} {aes:>14,.0f} {aes / dec_msg:>11.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    args = parser.parse_args()

    crypto = MessageCrypto(TOKEN, KEY, CORP)
    key = base64.b64decode(KEY + "=")
    header = (
        f"{'msg bytes':>10} {'encrypt/s':>12} {'encrypt_message/s':>18} "
        f"{'decrypt_message/s':>18} {'raw AES dec/s':>14} {'dec_msg/raw':>12}"
    )
    print(header)
    print("-" * len(header))
    for size in SIZES:
        print(measure(crypto, key, size, args.seconds))
    print("\ndec_msg/raw = how many raw AES decryptions fit in one decrypt_message (1.0x = no overhead).")


if __name__ == "__main__":
    main()
