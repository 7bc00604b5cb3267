"""flask_wecom.crypto against the official vectors, an independent reference, and every failure mode."""

from __future__ import annotations

import ast
import base64
import hashlib
import pathlib
import string
import time
from typing import Tuple

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

import flask_wecom.crypto as crypto_module
from flask_wecom.crypto import BLOCK_SIZE, MessageCrypto, signature
from flask_wecom.errors import (
    ComputeSignatureError,
    ConfigError,
    CryptoError,
    DecodeBase64Error,
    DecryptError,
    EncryptError,
    InvalidAESKeyError,
    InvalidBufferError,
    ParseXMLError,
    ReceiveIdError,
    SignatureError,
    WeComError,
)
from flask_wecom.xmlutil import parse_xml

# ---------------------------------------------------------------------------------
# Published vectors.
#
# Set A: Tencent's official callback sample, PHP edition:
#   github.com/sbzhu/weworkapi_php  callback/Sample.php  @ f2c836f57187c5390546a70e99be54251c56a95c
# (the repository linked from WeCom's "加解密库下载与返回码" page; the same values appear in the
# C#/Java WXBizMsgCrypt samples and in the worked example of the old 加解密方案说明 page).
# ---------------------------------------------------------------------------------
A_TOKEN = "QDG6eK"
A_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
A_CORP = "wx5823bf96d3bd56c7"

A_GET = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
}
# The sample only var_dump()s the result; this is what both implementations in this file decrypt.
A_GET_PLAIN = "1616140317555161061"

A_POST_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg"
    "3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+k"
    "DZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6ti"
    "WSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p"
    "8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
A_POST = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "timestamp": "1409659813",
    "nonce": "1372623149",
    "xml_body": "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA["
    + A_POST_ENCRYPT
    + "]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>",
}
# Quoted in the sample's comment after DecryptMsg ("解密成功，sMsg即为xml格式的明文").
A_POST_PLAIN = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
    "<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
    "<CreateTime>1409659813</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[hello]]></Content>\n"
    "<MsgId>4561255354251345929</MsgId>\n"
    "<AgentID>218</AgentID>\n"
    "</xml>"
)
# The old 加解密方案说明 worked example spells out the sorted concatenation for the POST vector.
A_POST_SORT_STR = "13726231491409659813QDG6eK" + A_POST_ENCRYPT

# ---------------------------------------------------------------------------------
# Set B: the official callback sample, Python edition:
#   github.com/sbzhu/weworkapi_python  callback/Sample.py  @ 27220fbe9d5251d46101e33751568eae9f413666
# ---------------------------------------------------------------------------------
B_TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
B_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
B_CORP = "ww1436e0e65a779aee"

B_GET = {
    "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "timestamp": "1476416373",
    "nonce": "47744683",
    "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
}
B_GET_PLAIN = "1288432023552776189"  # not printed by the sample; decrypted by both implementations here

B_POST_ENCRYPT = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBhzTtRLN"
    "shw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD4Z5jaU0y9GSh"
    "010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNf"
    "SsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
)
B_POST = {
    "msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
    "timestamp": "1476422779",
    "nonce": "1597212914",
    "xml_body": "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA["
    + B_POST_ENCRYPT
    + "]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>",
}
# Equal to the sample's sRespData (its reply example), which is what this ciphertext carries.
B_POST_PLAIN = (
    "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>"
    "<CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
    "<MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
)

VECTORS = {
    "A": (A_TOKEN, A_KEY, A_CORP, A_GET, A_GET_PLAIN, A_POST, A_POST_ENCRYPT, A_POST_PLAIN),
    "B": (B_TOKEN, B_KEY, B_CORP, B_GET, B_GET_PLAIN, B_POST, B_POST_ENCRYPT, B_POST_PLAIN),
}


# ---------------------------------------------------------------------------------
# An independent reference implementation: `cryptography` instead of pycryptodome,
# hand-written padding and int.from_bytes instead of struct. Written from the spec
# (documents 90968 / 91144), sharing no code with flask_wecom.crypto.
# ---------------------------------------------------------------------------------


def ref_key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


def ref_aes(encoding_aes_key: str, data: bytes, *, encrypt: bool) -> bytes:
    key = ref_key(encoding_aes_key)
    cipher = Cipher(algorithms.AES(key), modes.CBC(key[:16]))
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


def ref_encrypt(encoding_aes_key: str, msg: str, receive_id: str, random16: bytes) -> str:
    m = msg.encode("utf-8")
    data = random16 + len(m).to_bytes(4, "big") + m + receive_id.encode("utf-8")
    n = 32 - len(data) % 32
    data += bytes([n]) * n
    return base64.b64encode(ref_aes(encoding_aes_key, data, encrypt=True)).decode()


def ref_decrypt(encoding_aes_key: str, encrypt_b64: str) -> Tuple[bytes, str, str]:
    data = ref_aes(encoding_aes_key, base64.b64decode(encrypt_b64), encrypt=False)
    n = data[-1]
    assert 1 <= n <= 32 and data[-n:] == bytes([n]) * n
    data = data[:-n]
    length = int.from_bytes(data[16:20], "big")
    return data[:16], data[20 : 20 + length].decode("utf-8"), data[20 + length :].decode("utf-8")


def ref_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def forge(encoding_aes_key: str, plaintext: bytes) -> str:
    """Encrypt exactly these bytes (no padding added): for crafting malformed buffers."""
    return base64.b64encode(ref_aes(encoding_aes_key, plaintext, encrypt=True)).decode()


def raises(exc_type, code, func, *args, **kwargs):
    """Assert ``func`` raises exactly ``exc_type`` (a WeComError) carrying ``code``."""
    with pytest.raises(exc_type) as info:
        func(*args, **kwargs)
    assert type(info.value) is exc_type
    assert isinstance(info.value, WeComError)
    assert info.value.code == code
    return info.value


@pytest.fixture
def a():
    return MessageCrypto(A_TOKEN, A_KEY, A_CORP)


# -- official vectors ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_verify_url(name):
    token, key, corp, get, get_plain, *_ = VECTORS[name]
    assert MessageCrypto(token, key, corp).verify_url(**get) == get_plain


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_decrypt_message(name):
    token, key, corp, _, _, post, _, post_plain = VECTORS[name]
    crypto = MessageCrypto(token, key, corp)
    assert crypto.decrypt_message(**post) == post_plain
    assert crypto.decrypt_message(**{**post, "xml_body": post["xml_body"].encode("utf-8")}) == post_plain


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_signatures(name):
    token, _, _, get, _, post, post_encrypt, _ = VECTORS[name]
    assert signature(token, get["timestamp"], get["nonce"], get["echostr"]) == get["msg_signature"]
    assert signature(token, post["timestamp"], post["nonce"], post_encrypt) == post["msg_signature"]
    assert signature(token, int(post["timestamp"]), int(post["nonce"]), post_encrypt) == post["msg_signature"]


def test_vector_sorted_concatenation():
    assert hashlib.sha1(A_POST_SORT_STR.encode()).hexdigest() == A_POST["msg_signature"]


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_decrypt_raw_and_reference_agree(name):
    _, key, corp, get, get_plain, _, post_encrypt, post_plain = VECTORS[name]
    crypto = MessageCrypto("t", key, None)
    assert crypto.decrypt(get["echostr"]) == (get_plain, corp)
    assert crypto.decrypt(post_encrypt) == (post_plain, corp)
    assert ref_decrypt(key, get["echostr"])[1:] == (get_plain, corp)
    assert ref_decrypt(key, post_encrypt)[1:] == (post_plain, corp)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_encrypt_is_byte_exact(name, monkeypatch):
    """With WeCom's random prefix replayed, our ciphertext and reply envelope equal the official bytes."""
    token, key, corp, get, get_plain, post, post_encrypt, post_plain = VECTORS[name]
    crypto = MessageCrypto(token, key, corp)
    for encrypted, plain, params in ((get["echostr"], get_plain, get), (post_encrypt, post_plain, post)):
        random16 = ref_decrypt(key, encrypted)[0]
        monkeypatch.setattr(crypto_module.secrets, "token_bytes", lambda n, r=random16: r[:n])
        assert crypto.encrypt(plain) == encrypted
        envelope = crypto.encrypt_message(plain, params["nonce"], params["timestamp"])
        assert parse_xml(envelope) == {
            "Encrypt": encrypted,
            "MsgSignature": params["msg_signature"],
            "TimeStamp": params["timestamp"],
            "Nonce": params["nonce"],
        }


def test_reply_envelope_layout(a):
    envelope = a.encrypt_message("<xml>hi</xml>", "1372623149", 1409659813)
    fields = parse_xml(envelope)
    assert envelope == (
        f"<xml><Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt>"
        f"<MsgSignature><![CDATA[{fields['MsgSignature']}]]></MsgSignature>"
        "<TimeStamp>1409659813</TimeStamp><Nonce><![CDATA[1372623149]]></Nonce></xml>"
    )
    assert fields["MsgSignature"] == ref_signature(A_TOKEN, "1409659813", "1372623149", fields["Encrypt"])
    assert ref_decrypt(A_KEY, fields["Encrypt"])[1:] == ("<xml>hi</xml>", A_CORP)
    assert a.decrypt_message(envelope, fields["MsgSignature"], "1409659813", "1372623149") == "<xml>hi</xml>"


def test_reply_default_timestamp_is_now(a):
    before = int(time.time())
    fields = parse_xml(a.encrypt_message("x", "n"))
    assert before <= int(fields["TimeStamp"]) <= int(time.time())


@pytest.mark.parametrize("timestamp", ["0123", "not-a-number", "-5", -5, 0, "0"])
def test_reply_timestamp_signed_as_given(a, timestamp):
    envelope = a.encrypt_message("x", "n", timestamp)
    fields = parse_xml(envelope)
    assert fields["TimeStamp"] == str(timestamp)
    assert a.decrypt_message(envelope, fields["MsgSignature"], fields["TimeStamp"], "n") == "x"


def test_padding_is_to_32_bytes(a):
    # 16 + 4 + len(msg) + 18 (corp id): a 26-byte message fills 64 exactly -> a full 32-byte pad block.
    for size in range(80):
        raw = base64.b64decode(a.encrypt("x" * size))
        assert len(raw) % BLOCK_SIZE == 0
        padded_len = 16 + 4 + size + len(A_CORP)
        assert len(raw) == (padded_len // 32 + 1) * 32


def test_random_prefix_differs(a):
    assert a.encrypt("same") != a.encrypt("same")


# -- independent reference, both ways, and hypothesis round trips ---------------------

TEXT = st.text()
SETTINGS = settings(deadline=None)


@SETTINGS
@given(msg=TEXT, rid=TEXT)
def test_round_trip_ours(msg, rid):
    crypto = MessageCrypto(A_TOKEN, A_KEY, rid)
    assert crypto.decrypt(crypto.encrypt(msg)) == (msg, rid)


@SETTINGS
@given(msg=TEXT, rid=TEXT)
def test_ours_encrypt_reference_decrypt(msg, rid):
    encrypted = MessageCrypto(B_TOKEN, B_KEY, None).encrypt(msg, receive_id=rid)
    assert ref_decrypt(B_KEY, encrypted)[1:] == (msg, rid)


@SETTINGS
@given(msg=TEXT, rid=TEXT, random16=st.binary(min_size=16, max_size=16))
def test_reference_encrypt_ours_decrypt(msg, rid, random16):
    encrypted = ref_encrypt(B_KEY, msg, rid, random16)
    assert MessageCrypto(B_TOKEN, B_KEY, None).decrypt(encrypted) == (msg, rid)


@SETTINGS
@given(msg=TEXT, rid=TEXT, random16=st.binary(min_size=16, max_size=16))
def test_encrypt_identical_to_reference_for_same_random(msg, rid, random16):
    original = crypto_module.secrets.token_bytes
    crypto_module.secrets.token_bytes = lambda n: random16[:n]
    try:
        ours = MessageCrypto(A_TOKEN, A_KEY, rid).encrypt(msg)
    finally:
        crypto_module.secrets.token_bytes = original
    assert ours == ref_encrypt(A_KEY, msg, rid, random16)


@SETTINGS
@given(
    msg=TEXT,
    rid=TEXT,
    others=st.lists(TEXT, max_size=3),
    nonce=st.text(string.ascii_letters + string.digits, min_size=1, max_size=16),
    timestamp=st.integers(min_value=0, max_value=2**40),
)
def test_protocol_round_trip_with_reference(msg, rid, others, nonce, timestamp):
    token = "tok" + nonce
    crypto = MessageCrypto(token, A_KEY, [*others, rid])
    # WeCom -> us (reference plays WeCom): GET verification and POST
    echostr = ref_encrypt(A_KEY, msg, rid, b"\x00" * 16)
    assert (
        crypto.verify_url(ref_signature(token, str(timestamp), nonce, echostr), timestamp, nonce, echostr)
        == msg
    )
    body = (
        f"<xml><ToUserName><![CDATA[{rid[:0]}x]]></ToUserName><Encrypt><![CDATA[{echostr}]]></Encrypt></xml>"
    )
    sig = ref_signature(token, str(timestamp), nonce, echostr)
    assert crypto.decrypt_message(body, sig, str(timestamp), nonce) == msg
    # us -> WeCom (reference reads our reply)
    fields = parse_xml(crypto.encrypt_message(msg, nonce, timestamp, receive_id=rid))
    assert fields["MsgSignature"] == ref_signature(token, str(timestamp), nonce, fields["Encrypt"])
    assert ref_decrypt(A_KEY, fields["Encrypt"])[1:] == (msg, rid)


@SETTINGS
@given(st.text(), st.text(), st.text(), st.text())
def test_signature_matches_reference(token, timestamp, nonce, encrypt):
    assert signature(token, timestamp, nonce, encrypt) == ref_signature(token, timestamp, nonce, encrypt)


@SETTINGS
@given(st.one_of(st.text(), st.binary().map(lambda b: base64.b64encode(b).decode())))
def test_decrypt_garbage_only_raises_crypto_errors(data):
    try:
        MessageCrypto(A_TOKEN, A_KEY, None).decrypt(data)
    except WeComError as exc:
        assert isinstance(exc, CryptoError) and exc.code is not None


@SETTINGS
@given(st.binary(min_size=1, max_size=200).map(lambda b: b + b"\x00" * (-len(b) % 16)))
def test_signed_garbage_only_raises_crypto_errors(plaintext):
    encrypted = forge(A_KEY, plaintext)
    crypto = MessageCrypto(A_TOKEN, A_KEY, A_CORP)
    try:
        crypto.verify_url(signature(A_TOKEN, "1", "2", encrypted), "1", "2", encrypted)
    except WeComError as exc:
        assert type(exc) in (InvalidBufferError, ReceiveIdError)


# -- failure modes ------------------------------------------------------------------


def _flip(sig: str) -> str:
    return sig[:-1] + ("0" if sig[-1] != "0" else "1")


@pytest.mark.parametrize(
    "change",
    [
        {"msg_signature": _flip(A_GET["msg_signature"])},
        {"msg_signature": A_GET["msg_signature"].upper()},
        {"msg_signature": ""},
        {"msg_signature": None},
        {"msg_signature": "签名"},
        {"msg_signature": "\ud800"},
        {"timestamp": "1409659590"},
        {"nonce": "263014781"},
    ],
)
def test_bad_signature_verify_url(a, change):
    raises(SignatureError, -40001, a.verify_url, **{**A_GET, **change})


def test_bad_signature_decrypt_message(a):
    raises(
        SignatureError,
        -40001,
        a.decrypt_message,
        **{**A_POST, "msg_signature": _flip(A_POST["msg_signature"])},
    )
    other_token = MessageCrypto("wrongtoken", A_KEY, A_CORP)
    raises(SignatureError, -40001, other_token.decrypt_message, **A_POST)
    raises(SignatureError, -40001, a.check_signature, "0" * 40, "1", "2", "3")
    assert (
        a.check_signature(A_GET["msg_signature"], A_GET["timestamp"], A_GET["nonce"], A_GET["echostr"])
        is None
    )


@pytest.mark.parametrize(
    "args",
    [
        (None, "1", "2", "x"),
        ("t", None, "2", "x"),
        ("t", 1.5, "2", "x"),
        ("t", True, "2", "x"),
        ("t", "1", b"2", "x"),
        ("t", "1", "2", None),
        ("t", "1", "2", 5),
        ("\ud800", "1", "2", "x"),
    ],
)
def test_compute_signature_error(args):
    raises(ComputeSignatureError, -40003, signature, *args)


def test_missing_timestamp_is_a_crypto_error(a):
    raises(
        ComputeSignatureError,
        -40003,
        a.verify_url,
        A_GET["msg_signature"],
        None,
        A_GET["nonce"],
        A_GET["echostr"],
    )


def test_wrong_receive_id_str(a):
    crypto = MessageCrypto(A_TOKEN, A_KEY, "ww_not_this_one")
    err = raises(ReceiveIdError, -40005, crypto.verify_url, **A_GET)
    assert err.received == A_CORP
    assert err.expected == ("ww_not_this_one",)
    err = raises(ReceiveIdError, -40005, crypto.decrypt_message, **A_POST)
    assert err.received == A_CORP


def test_receive_id_is_case_sensitive():
    crypto = MessageCrypto(A_TOKEN, A_KEY, A_CORP.upper())
    raises(ReceiveIdError, -40005, crypto.verify_url, **A_GET)


def test_wrong_receive_id_iterable():
    crypto = MessageCrypto(A_TOKEN, A_KEY, ["dk_template", "ww_provider"])
    err = raises(ReceiveIdError, -40005, crypto.decrypt_message, **A_POST)
    assert err.received == A_CORP
    assert err.expected == ("dk_template", "ww_provider")


@pytest.mark.parametrize(
    "accepted",
    [
        A_CORP,
        [A_CORP],
        ("dk_template", A_CORP),
        {"ww_provider", A_CORP},
        frozenset({A_CORP}),
        iter(["x", A_CORP]),
        (rid for rid in ["y", A_CORP]),
        None,
    ],
)
def test_accepted_receive_ids(accepted):
    crypto = MessageCrypto(A_TOKEN, A_KEY, accepted)
    assert crypto.verify_url(**A_GET) == A_GET_PLAIN
    assert crypto.decrypt_message(**A_POST) == A_POST_PLAIN


def test_empty_receive_id_is_a_valid_id():
    # 个人主体的第三方应用: "ReceiveId 是一个空字符串" (documents 90968 / 91144, appendix "ReceiveId 含义")
    crypto = MessageCrypto(A_TOKEN, A_KEY, "")
    assert crypto.decrypt(crypto.encrypt("hi")) == ("hi", "")
    raises(ReceiveIdError, -40005, crypto.verify_url, **A_GET)


@pytest.mark.parametrize(
    "receive_id", [[], (), set(), b"wx5823bf96d3bd56c7", 5, [A_CORP, 5], [b"x"], object()]
)
def test_bad_receive_id_config(receive_id):
    raises(ConfigError, None, MessageCrypto, A_TOKEN, A_KEY, receive_id)


@pytest.mark.parametrize("token", [None, b"QDG6eK", 1])
def test_bad_token_config(token):
    raises(ConfigError, None, MessageCrypto, token, A_KEY, A_CORP)


@pytest.mark.parametrize(
    "value",
    [
        "!!!!",
        "abc",  # length not a multiple of 4
        A_GET["echostr"].rstrip("="),  # padding missing
        A_GET["echostr"] + "\n",
        A_GET["echostr"].replace("+", " "),  # the "+ arrives as space" gotcha: not repaired
        A_GET["echostr"].replace("+", "%2B"),  # not URL-decoded: not repaired either
        "P9nA-zCz_yDt",  # urlsafe alphabet
        "密文密文",
        None,
        123,
    ],
)
def test_bad_base64(a, value):
    raises(DecodeBase64Error, -40010, a.decrypt, value)


def test_plus_as_space_surfaces_as_signature_error(a):
    """A double URL-decode turns '+' into ' ': the signature no longer matches (documented, not repaired)."""
    mangled = A_GET["echostr"].replace("+", " ")
    raises(SignatureError, -40001, a.verify_url, **{**A_GET, "echostr": mangled})
    # Even correctly signed, the mangled value is refused rather than rewritten.
    sig = signature(A_TOKEN, A_GET["timestamp"], A_GET["nonce"], mangled)
    raises(DecodeBase64Error, -40010, a.verify_url, sig, A_GET["timestamp"], A_GET["nonce"], mangled)


@pytest.mark.parametrize("raw", [b"", b"x" * 15, b"x" * 17, b"x" * 33])
def test_ciphertext_not_whole_blocks(a, raw):
    raises(DecryptError, -40007, a.decrypt, base64.b64encode(raw).decode())


def _body(msg: bytes = b"hello", rid: bytes = A_CORP.encode(), length=None) -> bytes:
    n = len(msg) if length is None else length
    return b"R" * 16 + n.to_bytes(4, "big") + msg + rid


def _pad_to(data: bytes, pad_byte: int, total: int) -> bytes:
    return data + bytes([pad_byte]) * (total - len(data))


@pytest.mark.parametrize(
    "plaintext, reason",
    [
        pytest.param(_pad_to(_body(), 0, 64), "padding", id="pad-byte-0"),
        pytest.param(_pad_to(_body(), 33, 96), "padding", id="pad-byte-33"),
        pytest.param(_pad_to(_body(), 255, 64), "padding", id="pad-byte-255"),
        pytest.param(_pad_to(_body(), 21, 64)[:-3] + b"\x07\x15\x15", "padding", id="pad-inconsistent"),
        pytest.param(_pad_to(_body(), 4, 64)[:-4] + b"\x03\x04\x04\x04", "padding", id="pad-one-byte-off"),
        pytest.param(bytes([32]) * 32, "shorter", id="only-padding"),
        pytest.param(_pad_to(b"R" * 16 + b"\x00\x00", 14, 32), "shorter", id="shorter-than-header"),
        pytest.param(_pad_to(_body(length=1000), 21, 64), "length field", id="length-too-large"),
        pytest.param(_pad_to(_body(length=24), 21, 64), "length field", id="length-one-past-end"),
        pytest.param(_pad_to(_body(length=2**32 - 1), 21, 64), "length field", id="length-max"),
        pytest.param(_pad_to(_body(msg=b"\xff\xfe"), 24, 64), "UTF-8", id="msg-not-utf8"),
        pytest.param(_pad_to(_body(rid=b"wx\xc3"), 4, 32), "UTF-8", id="receiveid-not-utf8"),
    ],
)
def test_malformed_buffer(a, plaintext, reason):
    assert len(plaintext) % 16 == 0
    encrypted = forge(A_KEY, plaintext)
    err = raises(InvalidBufferError, -40008, a.decrypt, encrypted)
    assert reason in str(err)
    # and through the signed path, where it can actually arrive
    sig = signature(A_TOKEN, "1", "2", encrypted)
    raises(InvalidBufferError, -40008, a.verify_url, sig, "1", "2", encrypted)


def test_length_exactly_at_end_is_fine(a):
    # msg_len consuming the whole body leaves an empty receive id: a well-formed buffer.
    body = _body(msg=b"hello", rid=b"")
    encrypted = forge(A_KEY, _pad_to(body, 32 - len(body), 32))
    assert a.decrypt(encrypted) == ("hello", "")
    raises(ReceiveIdError, -40005, a.verify_url, signature(A_TOKEN, "1", "2", encrypted), "1", "2", encrypted)


def test_wrong_aes_key_is_reported_as_bad_buffer():
    other = MessageCrypto(A_TOKEN, B_KEY, A_CORP)
    err = raises(InvalidBufferError, -40008, other.verify_url, **A_GET)
    assert "EncodingAESKey" in str(err)


@pytest.mark.parametrize(
    "key",
    [
        "",
        A_KEY[:-1],  # 42
        A_KEY + "A",  # 44
        A_KEY + "=",
        A_KEY[:-1] + "+",
        A_KEY[:-1] + "/",
        A_KEY[:-1] + "=",
        A_KEY[:-1] + "-",
        A_KEY[:-1] + "é",
        A_KEY[:-1] + " ",
        " " + A_KEY[1:],
        A_KEY[:-1] + "\n",
        A_KEY[:-1] + "８",  # fullwidth digit: isalnum() but not a-zA-Z0-9
        None,
        A_KEY.encode(),
        43,
    ],
)
def test_invalid_aes_key(key):
    err = raises(InvalidAESKeyError, -40004, MessageCrypto, A_TOKEN, key, A_CORP)
    if isinstance(key, str) and key:
        assert key not in str(err) and key not in repr(err)


def test_key_with_spare_bits_set_is_accepted():
    # The 43rd char carries 2 bits beyond the 32 key bytes; the official key has them set ('C').
    assert MessageCrypto(A_TOKEN, A_KEY[:-1] + "D", A_CORP) is not None
    assert MessageCrypto(A_TOKEN, "z" * 43, A_CORP) is not None


MALFORMED_BODIES = {
    "empty": "",
    "not-xml": "hello",
    "truncated": "<xml><Encrypt><![CDATA[abc]]></Encrypt>",
    "mismatched": "<xml><Encrypt>abc</Encrypt></xm>",
    "billion-laughs": '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    "<xml><Encrypt>&d;</Encrypt></xml>",
    "external-entity": '<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Encrypt>&xxe;</Encrypt></xml>',
    "external-dtd": '<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd"><xml><Encrypt>abc</Encrypt></xml>',
    "doctype": "<!DOCTYPE xml><xml><Encrypt>abc</Encrypt></xml>",
    "no-encrypt": "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName></xml>",
    "nested-encrypt": "<xml><Data><Encrypt>abc</Encrypt></Data></xml>",
    "encrypt-with-children": "<xml><Encrypt><X>abc</X></Encrypt></xml>",
    "repeated-encrypt": "<xml><Encrypt>abc</Encrypt><Encrypt>def</Encrypt></xml>",
}


@pytest.mark.parametrize("name", sorted(MALFORMED_BODIES))
def test_malformed_or_hostile_envelope(a, name):
    body = MALFORMED_BODIES[name]
    # ParseXMLError comes first, whatever the signature says
    raises(ParseXMLError, -40002, a.decrypt_message, body, A_POST["msg_signature"], "1", "2")
    raises(ParseXMLError, -40002, a.decrypt_message, body.encode(), A_POST["msg_signature"], "1", "2")


@pytest.mark.parametrize("body", [None, 5, ["<xml/>"]])
def test_envelope_wrong_type(a, body):
    raises(ParseXMLError, -40002, a.decrypt_message, body, "s", "1", "2")


def test_empty_encrypt_element(a):
    body = "<xml><Encrypt><![CDATA[]]></Encrypt></xml>"
    raises(SignatureError, -40001, a.decrypt_message, body, "0" * 40, "1", "2")
    raises(DecryptError, -40007, a.decrypt_message, body, signature(A_TOKEN, "1", "2", ""), "1", "2")


def test_encrypt_errors():
    single = MessageCrypto(A_TOKEN, A_KEY, A_CORP)
    raises(EncryptError, -40006, single.encrypt, b"bytes")
    raises(EncryptError, -40006, single.encrypt, None)
    raises(EncryptError, -40006, single.encrypt, "\ud800")
    raises(EncryptError, -40006, single.encrypt, "x", receive_id=5)
    raises(EncryptError, -40006, single.encrypt, "x", receive_id="\udcff")
    several = MessageCrypto(A_TOKEN, A_KEY, [A_CORP, "dk_template"])
    raises(EncryptError, -40006, several.encrypt, "x")
    raises(EncryptError, -40006, several.encrypt_message, "x", "n", 1)
    assert several.decrypt(several.encrypt("x", receive_id="dk_template")) == ("x", "dk_template")
    any_id = MessageCrypto(A_TOKEN, A_KEY, None)
    raises(EncryptError, -40006, any_id.encrypt, "x")


def test_encrypt_message_bad_nonce(a):
    raises(ComputeSignatureError, -40003, a.encrypt_message, "x", None)
    raises(ComputeSignatureError, -40003, a.encrypt_message, "x", "n", 1.5)


def test_secrets_not_in_repr_or_messages(a):
    text = repr(a)
    assert A_TOKEN not in text and A_KEY not in text
    assert A_CORP in text
    failures = []
    for func, args in [
        (a.verify_url, {**A_GET, "msg_signature": "0" * 40}),
        (MessageCrypto(A_TOKEN, B_KEY, A_CORP).verify_url, A_GET),
        (MessageCrypto(A_TOKEN, A_KEY, "other").verify_url, A_GET),
        (a.decrypt_message, {**A_POST, "xml_body": "<xml/>"}),
    ]:
        with pytest.raises(CryptoError) as info:
            func(**args)
        failures.append(info.value)
    for err in failures:
        for secret in (A_TOKEN, A_KEY, B_KEY):
            assert secret not in str(err) and secret not in repr(err)


def test_errors_pickle_with_receive_id_details(a):
    import pickle

    crypto = MessageCrypto(A_TOKEN, A_KEY, "other")
    with pytest.raises(ReceiveIdError) as info:
        crypto.verify_url(**A_GET)
    clone = pickle.loads(pickle.dumps(info.value))
    assert (clone.code, clone.received, clone.expected) == (-40005, A_CORP, ("other",))


@pytest.mark.parametrize("module", ["crypto.py", "xmlutil.py"])
def test_core_modules_do_not_import_flask(module):
    source = pathlib.Path(crypto_module.__file__).with_name(module).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & {"flask", "werkzeug"}


# -- large envelopes: the base64 set aside while the rest is parsed (issue 12) -----------


def large_envelope(crypto: MessageCrypto, size: int = 16 * 1024, *, around: str = "") -> Tuple[bytes, dict, str]:
    """A signed envelope whose plaintext is ``size`` bytes, with ``around`` inserted before <Encrypt>."""
    msg = "<xml><Content><![CDATA[" + "长" * (size // 3) + "]]></Content></xml>"
    encrypt = crypto.encrypt(msg)
    body = (f"<xml><ToUserName><![CDATA[{A_CORP}]]></ToUserName>{around}<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            "<AgentID><![CDATA[218]]></AgentID></xml>").encode()
    params = {"msg_signature": signature(A_TOKEN, "1409659813", "1372623149", encrypt),
              "timestamp": "1409659813", "nonce": "1372623149"}
    return body, params, msg


def outcome(func, *args, **kwargs):
    """The result of ``func``, or the type and code of the WeComError it raised."""
    try:
        return "ok", func(*args, **kwargs)
    except WeComError as exc:
        return type(exc).__name__, exc.code


def general_path(crypto: MessageCrypto, body, **params):
    """decrypt_message with the set-aside disabled: the whole body through parse_xml."""
    saved = crypto_module._SET_ASIDE_FROM
    crypto_module._SET_ASIDE_FROM = 1 << 62
    try:
        return outcome(crypto.decrypt_message, body, **params)
    finally:
        crypto_module._SET_ASIDE_FROM = saved


def test_large_envelope_takes_the_set_aside_and_decrypts(a, monkeypatch):
    body, params, msg = large_envelope(a)
    parsed = []
    real = crypto_module.parse_xml
    monkeypatch.setattr(crypto_module, "parse_xml", lambda data: parsed.append(len(data)) or real(data))
    assert a.decrypt_message(body, **params) == msg
    assert parsed and max(parsed) < 200  # the 22 KB of base64 never went through the XML parser
    assert general_path(a, body, **params) == ("ok", msg)


LARGE_TRICKS = {
    # a decoy <Encrypt> in a comment before the real one: the real one is decrypted
    "decoy_in_comment": "<!--<Encrypt><![CDATA[" + "QUFB" * 1200 + "]]></Encrypt>-->",
    "decoy_in_pi": "<?pi <Encrypt><![CDATA[QUFB]]></Encrypt> ?>",
    "char_reference": "<X>&#65;</X>",
    "stand_in_character": "<X>\ue000</X>",
    "entity": "<X>&amp;</X>",
    "doctype_later": "<!DOCTYPE xml>",
    "second_encrypt": "<Encrypt><![CDATA[QUFB]]></Encrypt>",
    "nested_encrypt": "<Outer><Encrypt><![CDATA[QUFB]]></Encrypt></Outer>",
    "mixed_text": "text",
    "unclosed": "<X>",
}


@pytest.mark.parametrize("name", sorted(LARGE_TRICKS))
def test_large_envelope_tricks_answer_as_the_general_path(a, name):
    body, params, msg = large_envelope(a, around=LARGE_TRICKS[name])
    assert outcome(a.decrypt_message, body, **params) == general_path(a, body, **params)


@pytest.mark.parametrize("mangle", [
    lambda b: b.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[ ", 1),  # not strict base64
    lambda b: b.replace(b"]]></Encrypt>", b"=]]></Encrypt>", 1),  # bad padding
    lambda b: b.replace(b"]]></Encrypt>", b"]]>x</Encrypt>", 1),  # more text after the CDATA
    lambda b: b.replace(b"]]></Encrypt>", b"]]", 1),  # unterminated
    lambda b: b.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[<", 1),
    lambda b: b[:-6],  # truncated
    lambda b: b"<?xml version='1.0' encoding='UTF-8'?>" + b,  # not starting with <xml>
    lambda b: b.replace(b"<xml>", b"<xml><!-- -->", 1).replace(b"</xml>", b"</xml><!DOCTYPE x>", 1),
])
def test_large_envelope_mangled_answer_as_the_general_path(a, mangle):
    body, params, _ = large_envelope(a)
    body = mangle(body)
    assert outcome(a.decrypt_message, body, **params) == general_path(a, body, **params)


def test_large_envelope_signature_checked_before_base64(a):
    body, params, _ = large_envelope(a)
    bad = body.replace(b"]]></Encrypt>", b"*]]></Encrypt>", 1)
    raises(SignatureError, -40001, a.decrypt_message, bad, **params)


def test_large_envelope_wrong_signature_and_receive_id(a):
    body, params, _ = large_envelope(a)
    raises(SignatureError, -40001, a.decrypt_message, body, **{**params, "msg_signature": "0" * 40})
    raises(ReceiveIdError, -40005, MessageCrypto(A_TOKEN, A_KEY, "other").decrypt_message, body, **params)


FRAGMENTS = ["<!--", "-->", "<![CDATA[", "]]>", "&#65;", "&#x41;", "\ue000", "<Encrypt>", "</Encrypt>",
             "<Encrypt><![CDATA[", "QUFB", "<A>", "</A>", "=", " ", "&amp;", "<?pi ", "?>", "<!DOCTYPE xml>",
             "]", "<", "&"]


@settings(deadline=None, max_examples=150)
@given(st.lists(st.tuples(st.floats(0, 1), st.sampled_from(FRAGMENTS)), min_size=1, max_size=4))
def test_large_envelope_any_insertion_answers_as_the_general_path(insertions):
    crypto = MessageCrypto(A_TOKEN, A_KEY, A_CORP)
    body, params, _ = large_envelope(crypto, 6000)
    text = body.decode("utf-8")
    for where, fragment in insertions:
        at = int(where * len(text))
        text = text[:at] + fragment + text[at:]
    body = text.encode("utf-8")
    assert outcome(crypto.decrypt_message, body, **params) == general_path(crypto, body, **params)


def test_key_objects_are_shared_between_instances():
    # The callback view builds a MessageCrypto per request: the expanded key is made once per key.
    first, second = MessageCrypto(A_TOKEN, A_KEY, A_CORP), MessageCrypto("other", A_KEY, None)
    assert first._ecb is second._ecb
    assert MessageCrypto(B_TOKEN, B_KEY, B_CORP)._ecb is not first._ecb
