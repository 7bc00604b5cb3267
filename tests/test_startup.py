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


# -- SQLAlchemy only when the store is first used ---------------------------------------------------

CHILD = r"""
import sys, tempfile
from flask import Flask
from flask_wecom import WeCom
app = Flask("child", instance_path=tempfile.mkdtemp())
app.config.update(SECRET_KEY="child-secret-key-0123456789abcdef", WECOM_CORP_ID="ww0123456789abcdef",
                  WECOM_AGENT_ID="1000002", WECOM_SECRET="c" * 43)
WeCom(app)
@app.route("/")
def index():
    return "ok"
assert app.test_client().get("/").status_code == 200
print("after a request:", "sqlalchemy" in sys.modules, "flask_wecom.store" in sys.modules,
      "flask_wecom.cli" in sys.modules, "cryptography" in sys.modules)
store = app.extensions["wecom"].store
print("repr:", repr(store), "sqlalchemy" in sys.modules)
assert store.list_corps() == []
print("after a store call:", "sqlalchemy" in sys.modules)
assert store.secret_box.open(store.secret_box.seal("s")) == "s"
print("after a secret:", "cryptography" in sys.modules)
"""


def test_import_init_and_a_request_do_not_import_sqlalchemy():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120,
                          cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "after a request: False False False False"  # nor cryptography: no secret used yet
    assert lines[1].startswith("repr: Store('sqlite:///") and lines[1].endswith("not opened yet) False")
    assert lines[2] == "after a store call: True"
    assert lines[3] == "after a secret: True"


def test_the_lazy_store_builds_once_on_first_use(tmp_path):
    app = make_app(tmp_path, "lazy-store-key-0123456789abcdef")
    WeCom(app)
    store = app.extensions["wecom"].store
    assert type(store).__name__ == "LazyStore"
    assert store.secret_box.seal("x").startswith("v1:") and store._built is None  # the box needs no store
    assert store.closed is False and store._built is None
    store.save_corp(CORP, permanent_code=PERMANENT_CODE)
    built = store._built
    assert built is not None and type(built).__name__ == "Store"
    assert store.get_permanent_code(CORP) == PERMANENT_CODE and store._built is built
    assert repr(store) == repr(built)
    store.dispose()
    assert store.closed and built.closed


def test_a_lazy_store_disposed_before_use_stays_closed(tmp_path):
    app = make_app(tmp_path, "lazy-store-key-0123456789abcdef")
    WeCom(app)
    store = app.extensions["wecom"].store
    store.dispose()
    assert store.closed and store._built is None


def test_a_configured_database_url_is_still_checked_by_init_app(tmp_path):
    from flask_wecom.errors import ConfigError

    app = make_app(tmp_path, "lazy-store-key-0123456789abcdef", WECOM_DATABASE_URI="nosuchdialect://x/y")
    with pytest.raises(ConfigError) as info:
        WeCom(app)
    assert "WECOM_DATABASE_URI" in str(info.value) and "://x/y" not in str(info.value)


def test_the_lazy_store_down_answers_503_after_the_first_request(tmp_path):
    # The 503 handler for SQLAlchemy errors is registered when the store is built, after the app's first
    # request here: a database that cannot be opened still gives the "try again shortly" page.
    app = make_app(tmp_path, "lazy-store-key-0123456789abcdef")
    WeCom(app)

    @app.route("/bare")
    def bare():
        return "ok"

    @app.route("/corps")
    def corps():
        return str(len(app.extensions["wecom"].store.list_corps()))

    client = app.test_client()
    assert client.get("/bare").status_code == 200
    os.makedirs(os.path.join(app.instance_path, "wecom.sqlite3"))  # a folder where the database file goes
    answer = client.get("/corps")
    assert answer.status_code == 503
    assert answer.headers.get("Retry-After")
    from sqlalchemy.exc import SQLAlchemyError

    assert SQLAlchemyError in app.error_handler_spec[None][None]


def test_the_flask_wecom_commands_still_run(tmp_path):
    app = make_app(tmp_path, "lazy-cli-key-0123456789abcdef")
    WeCom(app)
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["--help"])
    assert "wecom" in listed.output
    helped = runner.invoke(args=["wecom", "--help"])
    assert helped.exit_code == 0 and "doctor" in helped.output and "status" in helped.output
    status = runner.invoke(args=["wecom", "db", "current"])
    assert status.exit_code == 0, status.output
    assert "head" in status.output


def test_provider_lease_default_is_the_stores():
    from flask_wecom.provider import Provider
    from flask_wecom.store import LEASE_SECONDS

    assert Provider.lease == LEASE_SECONDS


def test_bench_startup_runs():
    out = run_bench("bench_startup.py")
    if "Flask-Login is not installed" in out:
        assert "pip install" in out
    else:
        assert "worker RSS, flask-wecom / bare Flask:" in out and "target <= 1.50x" in out
        assert "WeCom(app):" in out and "target <= 5 ms" in out
        assert "SQLAlchemy imported by import + WeCom(app) + a request that does not use the store: no" in out
