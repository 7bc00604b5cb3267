"""What a user's mypy sees: the public names with their real types, not ``Any`` (issue 11, item 5).

``flask_wecom/__init__.py`` loads the Flask layer lazily (PEP 562 ``__getattr__``), which alone hides
every type; the names are re-exported under ``if TYPE_CHECKING:``. These tests run mypy, as a user's
project would, on a small app module against the package installed the way pip installs it (a copy
of ``flask_wecom/`` with its ``py.typed`` on the interpreter's path: the editable install's import
hook is invisible to mypy), and read what it reveals.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import flask_wecom

pytest.importorskip("mypy", reason="mypy is in the [test] extra")

PACKAGE = Path(flask_wecom.__file__).resolve().parent

USER_APP = '''
from typing import Any, Dict, Optional

from flask import Flask

from flask_wecom import ConfigError, WeCom, WeComUser, login_required, signals, wecom_user
from flask_wecom.config import AppType, infer_app_type
from flask_wecom.events import CallbackEvent
from flask_wecom.testing import FakeWeCom, PushResult

app = Flask(__name__)
wecom = WeCom(app)


@app.get("/")
@login_required
def index() -> str:
    return f"{wecom_user.name}|{wecom_user.email}"


@wecom.user_loader
def load_user(user: WeComUser) -> Optional[str]:
    return user.userid or None


@wecom.on("change_contact")
def contact_changed(event: CallbackEvent) -> None:
    pass


@app.get("/admin")
@wecom.login_required
def admin() -> str:
    return wecom_user.corp_id


def test_first_login(fake_wecom: FakeWeCom, tmp_path: Any) -> None:
    config: Dict[str, Any] = fake_wecom.flask_config(tmp_path)
    reveal_type(config)  # R:config
    page = fake_wecom.login(app.test_client(), "zhangsan")
    reveal_type(page)  # R:login(client)
    reveal_type(page.get_data(as_text=True))  # R:page text
    reveal_type(fake_wecom.login("http://127.0.0.1:5000", "zhangsan"))  # R:login(url)
    pushed: PushResult = fake_wecom.push_suite_ticket(app.test_client())
    reveal_type(pushed.status_code)  # R:push status


app_type: AppType = infer_app_type({"WECOM_SUITE_ID": "dk123"})
reveal_type(wecom)  # R:wecom
reveal_type(WeCom())  # R:WeCom()
reveal_type(wecom_user)  # R:wecom_user
reveal_type(wecom_user.email)  # R:email
reveal_type(wecom_user.name)  # R:name
reveal_type(wecom_user.department)  # R:department
reveal_type(wecom_user.is_authenticated)  # R:is_authenticated
reveal_type(index)  # R:index
reveal_type(admin)  # R:admin
reveal_type(load_user)  # R:load_user
reveal_type(contact_changed)  # R:contact_changed
reveal_type(signals.user_logged_in)  # R:signal
reveal_type(ConfigError("x"))  # R:ConfigError
reveal_type(app_type)  # R:app_type

# mistakes mypy must now catch (each line is expected to fail, see EXPECTED_ERRORS)
count: int = wecom_user.email  # E:assignment
wecom.no_such_method()  # E:attr-defined
index(1)  # E:call-arg
bad_type: AppType = "selfbuilt"  # E:assignment
user: WeComUser = wecom_user
'''

EXPECTED_REVEALS = {
    "config": "dict[str, Any]",
    "login(client)": "werkzeug.test.TestResponse",
    "page text": "str",
    "login(url)": "requests.models.Response",
    "push status": "int",
    "wecom": "flask_wecom.extension.WeCom",
    "WeCom()": "flask_wecom.extension.WeCom",
    "wecom_user": "flask_wecom.user.WeComUser",
    "email": "str",
    "name": "str",
    "department": "list[int]",
    "is_authenticated": "bool",
    "index": "def () -> str",
    "admin": "def () -> str",
    "load_user": "def (user: flask_wecom.user.WeComUser) -> str | None",
    "contact_changed": "def (event: flask_wecom.events.CallbackEvent)",
    "signal": "blinker.base.NamedSignal",
    "ConfigError": "flask_wecom.errors.ConfigError",
    "app_type": "Literal['internal'] | Literal['customized'] | Literal['third_party']",
}


def _mypy_on_user_app(tmp_path: Path, *flags: str) -> Tuple[Dict[str, str], Dict[int, List[str]], str]:
    """Run mypy on USER_APP with the package "installed" beside it; (reveals by tag, error codes by line, output)."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "flask_wecom", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    assert (site / "flask_wecom" / "py.typed").is_file()
    project = tmp_path / "project"
    project.mkdir()
    (project / "user_app.py").write_text(textwrap.dedent(USER_APP), encoding="utf-8")
    # the interpreter's sys.path (PYTHONPATH included) is where mypy looks for installed packages
    env = dict(os.environ, PYTHONPATH=str(site), MYPYPATH="")
    (project / "mypy.ini").write_text("[mypy]\n", encoding="utf-8")  # the user's, not our pyproject.toml
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-executable", sys.executable, "--no-incremental",
         "--cache-dir", str(tmp_path / "cache"), "--show-error-codes", "--no-error-summary",
         "--config-file", "mypy.ini", *flags, "user_app.py"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    lines = (project / "user_app.py").read_text(encoding="utf-8").splitlines()
    reveals: Dict[str, str] = {}
    errors: Dict[int, List[str]] = {}
    for match in re.finditer(r"^user_app\.py:(\d+): (note|error): (.*)$", output, re.M):
        number, kind, text = int(match.group(1)), match.group(2), match.group(3)
        source = lines[number - 1]
        if kind == "note" and text.startswith("Revealed type is "):
            tag = source.split("# R:")[1].strip()
            # mypy 1.x (the one Python 3.9 installs) writes builtins.str where mypy 2 writes str
            revealed = text[len("Revealed type is "):].strip('"').replace("builtins.", "")
            # a union of Literal values, however this mypy version spells it (Literal['a', 'b'],
            # Literal['a'] | Literal['b'], Union[Literal['a'], Literal['b']])
            revealed = re.sub(r"Union\[([\w.]+), None\]", r"\1 | None", revealed)  # mypy 1.x: Union[str, None]
            if revealed.startswith(("Literal[", "Union[Literal[")):
                revealed = " | ".join(f"Literal[{value}]" for value in re.findall(r"'[^']*'", revealed))
            reveals[tag] = revealed
        elif kind == "error":
            code = re.search(r"\[([a-z-]+)\]$", text)
            errors.setdefault(number, []).append(code.group(1) if code else text)
    return reveals, errors, output


def _expected_errors() -> Dict[int, str]:
    lines = textwrap.dedent(USER_APP).splitlines()
    return {i + 1: line.split("# E:")[1].strip() for i, line in enumerate(lines) if "# E:" in line}


@pytest.mark.parametrize("flags", [(), ("--strict",)], ids=["default", "strict"])
def test_users_mypy_sees_the_real_types(tmp_path: Path, flags: Tuple[str, ...]) -> None:
    reveals, errors, output = _mypy_on_user_app(tmp_path, *flags)
    assert "Cannot find implementation or library stub" not in output, output
    assert "import-untyped" not in output, output  # py.typed is honoured
    for tag, expected in EXPECTED_REVEALS.items():
        assert tag in reveals, f"no reveal for {tag}:\n{output}"
        assert "Any" not in reveals[tag] or tag == "config", f"{tag} reads as {reveals[tag]}"
        assert reveals[tag] == expected, f"{tag}: {reveals[tag]!r} != {expected!r}\n{output}"
    # the mistakes are caught, and nothing else in the user's module is an error (even under --strict)
    assert {line: [code] for line, code in _expected_errors().items()} == errors, output


def test_the_typed_names_still_load_lazily() -> None:
    """The TYPE_CHECKING re-exports cost nothing at run time: ``import flask_wecom`` loads no Flask."""
    code = ("import sys, flask_wecom\n"
            "assert 'flask' not in sys.modules and 'flask_wecom.extension' not in sys.modules, sorted(sys.modules)\n"
            "from flask_wecom import WeCom, login_required, wecom_user\n"
            "from flask_wecom.extension import WeCom as Real\n"
            "assert WeCom is Real and callable(login_required) and 'flask_wecom.login' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_ci_runs_ruff_and_mypy_before_the_tests() -> None:
    root = PACKAGE.parent
    script = (root / ".ci" / "run").read_text(encoding="utf-8")
    ruff, mypy, tests = (script.index('"$PY" -m ruff check .'), script.index('"$PY" -m mypy'),
                         script.index('run_tests "$PY"'))
    assert ruff < mypy < tests
    assert 'die "ruff or mypy found problems' in script
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert "[tool.mypy]" in pyproject and 'files = ["flask_wecom"]' in pyproject
