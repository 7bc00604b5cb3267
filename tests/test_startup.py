"""Start-up cost (issue 12): no key derivation in WeCom(app), 0.1.0 secrets still open, bench scripts run.

Timings are never asserted here (bench/bench_startup.py measures them); these tests pin the behaviour
the speed relies on.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import legacy_secretbox_0_1_0 as legacy_box
import legacy_store_0_1_0 as legacy_store
import pytest
from flask import Flask

import flask_wecom.secretbox as secretbox
from flask_wecom import WeCom
from flask_wecom.secretbox import SecretBox, SecretBoxError

ROOT = Path(__file__).resolve().parent.parent
CORP = "wwstartup0000000001"
PERMANENT_CODE = "permanent-code-written-by-0.1.0"


def make_app(tmp_path: Path, secret_key: str, **config) -> Flask:
    app = Flask("startup", instance_path=str(tmp_path / "instance"))
    app.config.update(SECRET_KEY=secret_key, WECOM_CORP_ID="ww1234567890abcdef", WECOM_AGENT_ID="1000002",
                      WECOM_SECRET="s" * 43, **config)
    return app


def test_a_0_1_0_database_opens_with_this_version(tmp_path):
    # Written by 0.1.0's own store and box (tests/legacy_*_0_1_0.py), as a 0.1.0 deploy left it.
    key = "the-deploys-secret-key-" + secrets.token_hex(8)
    url = "sqlite:///" + str(tmp_path / "wecom-0.1.0.sqlite3")
    old = legacy_store.Store(url, legacy_box.SecretBox(key))
    old.save_corp(CORP, permanent_code=PERMANENT_CODE, suite_id="wwsuite")
    old.save_suite_ticket("wwsuite", "ticket-from-0.1.0")
    old.dispose()

    app = make_app(tmp_path, key, WECOM_DATABASE_URI=url)
    WeCom(app)
    store = app.extensions["wecom"].store
    assert store.get_permanent_code(CORP) == PERMANENT_CODE
    assert store.get_suite_ticket("wwsuite")[0] == "ticket-from-0.1.0"

    # and what this version seals, 0.1.0 opens (same format and key): a rollback loses nothing
    sealed = store.secret_box.seal("sealed-now")
    assert sealed.startswith("v1:")
    assert legacy_box.SecretBox(key).open(sealed) == "sealed-now"


def test_a_changed_key_still_refuses_0_1_0_secrets(tmp_path):
    sealed = legacy_box.SecretBox("the-original-key-0123456789").seal(PERMANENT_CODE)
    assert SecretBox("the-original-key-0123456789").open(sealed) == PERMANENT_CODE
    with pytest.raises(SecretBoxError):
        SecretBox("another-key-entirely-0123456").open(sealed)


def test_wecom_init_derives_no_key_until_a_secret_is_used(tmp_path):
    key = "fresh-key-" + secrets.token_hex(16)
    app = make_app(tmp_path, key)
    WeCom(app)
    assert key.encode() not in secretbox._derived  # WeCom(app) did not run PBKDF2
    box = app.extensions["wecom"].store.secret_box
    sealed = box.seal("x")
    assert key.encode() in secretbox._derived
    assert SecretBox(key).open(sealed) == "x"  # a second box of the same key reuses the derived key
    assert legacy_box.SecretBox(key).open(sealed) == "x"


def run_bench(name: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / name), "--quick"], capture_output=True,
                          text=True, timeout=300, env=env, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bench_crypto_runs():
    out = run_bench("bench_crypto.py")
    if "wechatpy is not installed" in out:
        assert "pip install" in out
    else:
        for size in ("200 B", "1 KiB", "16 KiB"):
            assert f"decrypt_message {size:>6} flask-wecom/wechatpy:" in out
        assert out.count("target <= 1.00x") == 3
