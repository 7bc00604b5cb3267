"""The exception hierarchy: one base class, codes kept, pickling intact."""
from __future__ import annotations

import pickle

import flask_wecom
from flask_wecom import errors


def test_every_error_is_a_wecom_error():
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, flask_wecom.WeComError), name


def test_crypto_codes_are_the_official_ones():
    assert errors.SignatureError().code == -40001
    assert errors.ReceiveIdError().code == -40005
    assert errors.DecodeBase64Error().code == -40010
    assert str(errors.SignatureError()).startswith("[-40001]")


def test_api_error_pickles_with_path_and_hint():
    exc = errors.WeComAPIError(60020, "not allow to access from your ip", "add 1.2.3.4", path="/cgi-bin/gettoken")
    clone = pickle.loads(pickle.dumps(exc))
    assert (clone.errcode, clone.errmsg, clone.hint, clone.path) == (60020, exc.errmsg, exc.hint, exc.path)
    assert str(clone) == str(exc) and "/cgi-bin/gettoken" in str(clone)
