"""Configuration mistakes read like sentences: every ``flask`` command (``--help`` too) prints one bilingual
line naming the key and exits 2; ``WECOM_CHECK_CONFIG=False`` lets the doctor report everything; a weak
``SECRET_KEY`` and ``from_prefixed_env()`` behave as the README says."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List

import pytest
from flask import Flask

from flask_wecom import WeCom, login_required, wecom_user
from flask_wecom.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text(encoding="utf-8")
FLASK = str(Path(sys.executable).with_name("flask"))
GOOD_KEY = "a" * 43

APP = '''
import json, os
from flask import Flask
from flask_wecom import WeCom

def create_app():
    app = Flask(__name__, instance_path=os.environ["TEST_INSTANCE"])
    app.config.update(json.loads(os.environ["TEST_CONFIG"]))
    WeCom(app)
    return app
'''


def _base(tmp_path: Path) -> Dict[str, object]:
    return {"SECRET_KEY": "k" * 40, "WECOM_SUITE_ID": "dk1234567890", "WECOM_SUITE_SECRET": "suite-secret",
            "WECOM_TOKEN": "Token123", "WECOM_ENCODING_AES_KEY": GOOD_KEY, "WECOM_PROVIDER_CORP_ID": "ww0123",
            "WECOM_API_BASE": "http://127.0.0.1:9",  # nothing answers there: no command here reaches WeCom
            "WECOM_DATABASE_URI": f"sqlite:///{tmp_path / 'wecom.sqlite3'}", "WECOM_CACHE_DIR": str(tmp_path / "c")}


def _flask(tmp_path: Path, config: Dict[str, object], *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "cfgapp.py").write_text(APP, encoding="utf-8")
    env = dict(os.environ, TEST_CONFIG=json.dumps(config), TEST_INSTANCE=str(tmp_path / "instance"),
               FLASK_APP="cfgapp", PYTHONPATH=str(tmp_path))
    env.pop("FLASK_DEBUG", None)
    return subprocess.run([FLASK, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


MISTAKES = {
    "malformed AES key": ({"WECOM_ENCODING_AES_KEY": "short"}, "WECOM_ENCODING_AES_KEY", "43"),
    "missing key": ({"WECOM_SUITE_SECRET": None}, "WECOM_SUITE_SECRET", "required"),
    "impossible app type": ({"WECOM_APP_TYPE": "selfbuilt"}, "WECOM_APP_TYPE", "selfbuilt"),
    "missing SECRET_KEY": ({"SECRET_KEY": None}, "SECRET_KEY", "not set"),
    "a number for a text": ({"WECOM_TOKEN": 1.5}, "WECOM_TOKEN", "from_prefixed_env"),
    "unusable database URL": ({"WECOM_DATABASE_URI": "postgresql+nodriver://u:s3cretpw@db/x"},
                              "WECOM_DATABASE_URI", "driver"),
    "unknown cache type": ({"WECOM_CACHE_TYPE": "NoSuchCache"}, "WECOM_CACHE_TYPE", "NoSuchCache"),
    "malformed timeout": ({"WECOM_HTTP_TIMEOUT": "abc"}, "WECOM_HTTP_TIMEOUT", "abc"),
    "prefix without a slash": ({"WECOM_URL_PREFIX": "wecom"}, "WECOM_URL_PREFIX", "/"),
    "API base not a URL": ({"WECOM_API_BASE": "qyapi.weixin.qq.com"}, "WECOM_API_BASE", "http"),
}
COMMANDS = [["--help"], ["wecom", "--help"], ["wecom", "status"], ["routes"], ["wecom", "doctor"]]


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_every_flask_command_prints_one_line_and_exits_2(tmp_path: Path, mistake: str) -> None:
    change, key, hint = MISTAKES[mistake]
    config = dict(_base(tmp_path), **change)
    commands = COMMANDS if mistake == "malformed AES key" else COMMANDS[:2]  # each command once, each mistake
    for args in commands:
        result = _flask(tmp_path, config, *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout, result.stderr
        assert len(lines) == 1 and not result.stdout.strip(), (args, result.stdout, result.stderr)
        assert lines[0].startswith("flask-wecom 配置错误 / configuration error: ") and key in lines[0], lines
        assert hint in lines[0] and "s3cretpw" not in result.stderr


def test_several_mistakes_are_one_line_naming_each_key(tmp_path: Path) -> None:
    config = dict(_base(tmp_path), WECOM_ENCODING_AES_KEY="short", WECOM_TOKEN="no spaces allowed", SECRET_KEY=None)
    result = _flask(tmp_path, config, "--help")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert all(key in lines[0] for key in ("WECOM_ENCODING_AES_KEY", "WECOM_TOKEN", "SECRET_KEY")), lines[0]
    assert "WECOM_CHECK_CONFIG=False" in lines[0]


def test_a_good_config_keeps_the_commands(tmp_path: Path) -> None:
    result = _flask(tmp_path, _base(tmp_path), "wecom", "--help")
    assert result.returncode == 0 and "doctor" in result.stdout, result.stderr


def test_outside_the_flask_command_it_is_a_config_error(tmp_path: Path) -> None:
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(_base(tmp_path), WECOM_APP_TYPE="selfbuilt")
    with pytest.raises(ConfigError, match=r"WECOM_APP_TYPE.*selfbuilt"):
        WeCom(app)


def test_check_config_false_lets_the_doctor_report_everything(tmp_path: Path) -> None:
    config = dict(_base(tmp_path), WECOM_CHECK_CONFIG=False, WECOM_APP_TYPE="selfbuilt", SECRET_KEY=None,
                  WECOM_ENCODING_AES_KEY="short", WECOM_HTTP_TIMEOUT="abc", WECOM_URL_PREFIX="wecom",
                  WECOM_HTTP_RETRIES="x")
    result = _flask(tmp_path, config, "wecom", "doctor", "--json")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr  # failures found, reported
    report = json.loads(result.stdout)
    rows = report["results"] if isinstance(report, dict) else report
    failed: List[str] = [r["title"] for r in rows if r["status"] == "fail"]
    # the app started with the defaults in place of what it cannot run with, and reports what was written
    for key in ("WECOM_APP_TYPE", "SECRET_KEY", "WECOM_ENCODING_AES_KEY", "WECOM_HTTP_TIMEOUT", "WECOM_URL_PREFIX",
                "WECOM_HTTP_RETRIES"):
        assert any(key in title for title in failed), (key, failed)


def test_without_a_secret_key_no_secret_is_stored(tmp_path: Path) -> None:
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(_base(tmp_path), WECOM_CHECK_CONFIG=False, SECRET_KEY=None)
    WeCom(app)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        WeCom.state(app).store.secret_box.seal("a permanent code")


def test_a_weak_secret_key_starts_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """As the README says: it does not stop the app; a warning names SECRET_KEY, and the doctor shows it."""
    for weak in ("dev", "short-key"):
        app = Flask(__name__, instance_path=str(tmp_path / "instance"))
        app.config.update(_base(tmp_path), SECRET_KEY=weak)
        with caplog.at_level(logging.WARNING, logger="flask_wecom"):
            WeCom(app)
        assert any("SECRET_KEY" in r.getMessage() and "weak" in r.getMessage() for r in caplog.records)
        caplog.clear()
    result = _flask(tmp_path, dict(_base(tmp_path), SECRET_KEY="dev"), "wecom", "doctor", "--json")
    rows = json.loads(result.stdout)
    rows = rows["results"] if isinstance(rows, dict) else rows
    assert [r["status"] for r in rows if "SECRET_KEY" in r["title"]] == ["warn"], rows
    assert "A weak one" in README and "does not stop the app" in README


def _readme_prefixed_env_block() -> str:
    marker = "From the environment, with Flask's ``from_prefixed_env()``:"
    assert marker in README
    after = README.split(marker, 1)[1]
    block = after.split(".. code-block:: python", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line.strip() and not line.startswith("   "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


def test_readme_from_prefixed_env_example_works(fake_wecom, tmp_path, monkeypatch) -> None:
    """The README's example as written, with the fake's settings in FLASK_* variables — a Token of digits
    (JSON: a number) and CHECK_CONFIG / the exchange as JSON booleans — and a whole login through it."""
    fake_wecom.suite.token = "20240101"
    for key, value in fake_wecom.flask_config(tmp_path).items():
        monkeypatch.setenv(f"FLASK_{key}", json.dumps(value) if isinstance(value, bool) else str(value))
    monkeypatch.setenv("FLASK_SECRET_KEY", "0123456789" * 4)  # digits too: JSON makes it a number
    monkeypatch.setenv("FLASK_WECOM_CHECK_CONFIG", "true")
    namespace = {"Flask": Flask, "WeCom": WeCom, "__name__": "readme_env_app"}
    exec(_readme_prefixed_env_block(), namespace)  # noqa: S102 - the README's own code
    app = namespace["app"]
    assert app.config["WECOM_TOKEN"] == "20240101" and app.config["WECOM_EXCHANGE_IN_BACKGROUND"] is False
    app.add_url_rule("/", "index", login_required(lambda: f"{wecom_user.name}|{wecom_user.email}"))
    client = app.test_client()
    assert fake_wecom.push_suite_ticket(client).success  # the numeric Token signs and checks as text
    fake_wecom.authorize(client)
    assert fake_wecom.login(client, "lisi").get_data(as_text=True) == "李四|lisi@corp1.example.com"


def test_a_self_built_agent_id_from_the_environment(fake_wecom, tmp_path, monkeypatch) -> None:
    for key, value in fake_wecom.flask_config(tmp_path, app_type="internal").items():
        monkeypatch.setenv(f"FLASK_{key}", json.dumps(value) if isinstance(value, bool) else str(value))
    monkeypatch.setenv("FLASK_SECRET_KEY", "s" * 32)
    app = Flask("env_internal")
    app.config.from_prefixed_env()
    assert isinstance(app.config["WECOM_AGENT_ID"], int)  # what JSON makes of it …
    WeCom(app)
    assert app.config["WECOM_AGENT_ID"] == str(fake_wecom.corp.agent_id)  # … and what flask-wecom reads
    app.add_url_rule("/", "index", login_required(lambda: wecom_user.name))
    assert fake_wecom.login(app.test_client(), "zhangsan").get_data(as_text=True) == "张三"


def test_a_number_that_is_not_whole_is_refused_naming_the_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FLASK_WECOM_TOKEN", "1e5")
    app = Flask("env_float", instance_path=str(tmp_path / "instance"))
    app.config.update(_base(tmp_path))
    app.config.from_prefixed_env()
    with pytest.raises(ConfigError, match=r"WECOM_TOKEN.*from_prefixed_env"):
        WeCom(app)
