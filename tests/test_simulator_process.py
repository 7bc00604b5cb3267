"""FakeWeCom as a process (``python -m flask_wecom.testing``) and as a pytest plugin (``fake_wecom``)."""
from __future__ import annotations

import importlib.metadata
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List

import pytest
import requests

import flask_wecom

pytest_plugins = ["pytester"]

ROOT = Path(flask_wecom.__file__).resolve().parent.parent


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Lines:
    """Read a process's stdout in a thread so waiting for a line can time out."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.q: queue.Queue[str] = queue.Queue()
        self.seen: List[str] = []
        assert proc.stdout is not None
        stream = proc.stdout
        threading.Thread(target=lambda: [self.q.put(line) for line in stream], daemon=True).start()

    def until(self, predicate, timeout: float = 30.0) -> str:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError("process output did not arrive in time:\n" + "".join(self.seen))


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_python_m_prints_credentials_and_serves_until_ctrl_c() -> None:
    """``python -m flask_wecom.testing --port … --trusted-domain …`` prints URLs and credentials, serves
    real HTTP (gettoken, doc 97164, works with the printed corp_id + secret), and stops on Ctrl-C (SIGINT)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask_wecom.testing", "--port", str(port), "--host", "127.0.0.1",
         "--trusted-domain", "app.example.com", "--web-login-domain", "app.example.com:8443", "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(), cwd=str(ROOT),
    )
    try:
        out = _Lines(proc)
        out.until(lambda line: "Serving until Ctrl-C" in line)
        text = "".join(out.seen)
        base = f"http://127.0.0.1:{port}"
        assert base in text and f"{base}/connect/oauth2/authorize" in text and f"{base}/wwlogin/sso/login" in text
        assert "trusted_domain=app.example.com" in text and "web_login_domain=app.example.com:8443" in text
        assert "张三" in text and "allow_local_redirects" not in text
        corp_id = re.search(r"corp_id=(ww[0-9a-f]{16})  auth corp id", text).group(1)  # type: ignore[union-attr]
        secret = re.search(r"secret \(self-built\)=(\S+)", text).group(1)  # type: ignore[union-attr]
        suite_id = re.search(r"suite_id=(dk[0-9a-f]{16})", text).group(1)  # type: ignore[union-attr]
        data = requests.get(f"{base}/cgi-bin/gettoken", params={"corpid": corp_id, "corpsecret": secret},
                            timeout=10).json()
        assert data["errcode"] == 0 and data["expires_in"] == 7200
        assert suite_id in requests.get(base + "/", timeout=10).text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        out.until(lambda line: "stopping FakeWeCom" in line, timeout=5)
    finally:
        _stop(proc)


def test_python_m_json_mode() -> None:
    """``--json --port 0`` prints one JSON line whose api_base answers (the fake's getcallbackip, doc 98988)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask_wecom.testing", "--json", "--port", "0", "--app-type", "third_party"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(), cwd=str(ROOT),
    )
    try:
        line = _Lines(proc).until(lambda line: line.startswith("{"))
        creds = json.loads(line)
        assert creds["suite"]["app_type"] == "third_party" and creds["suite"]["suite_id"].startswith("ww")
        assert len(creds["suite"]["encoding_aes_key"]) == 43
        answer = requests.get(creds["api_base"] + "/cgi-bin/getcallbackip", timeout=10).json()
        assert answer["errcode"] == 41001
    finally:
        _stop(proc)


def test_import_does_not_pull_in_pytest_or_flask() -> None:
    """The plugin is separate: importing flask_wecom.testing imports neither pytest nor Flask (core layer)."""
    code = ("import sys, flask_wecom.testing as t; t.FakeWeCom(); "
            "assert 'pytest' not in sys.modules, 'pytest'; assert 'flask' not in sys.modules, 'flask'")
    subprocess.run([sys.executable, "-c", code], env=_env(), check=True, timeout=60, cwd="/")


def _plugin_args() -> List[str]:
    """``-p`` only when the pytest11 entry point is not installed (double registration is an error)."""
    eps = importlib.metadata.entry_points()
    # Python 3.9's entry_points() is a dict of groups; select(group=) is 3.10+
    group = eps.select(group="pytest11") if hasattr(eps, "select") else eps.get("pytest11", ())
    names = {ep.name for ep in group}
    return [] if "flask_wecom" in names else ["-p", "flask_wecom.testing.pytest_plugin"]


def test_pytest_plugin_fixture(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``fake_wecom`` fixture serves a fresh fake per test (``.url``), configurable by marker."""
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    pytester.makepyfile(
        test_user_project="""
        import pytest
        import requests

        def test_served(fake_wecom):
            assert fake_wecom.url.startswith("http://127.0.0.1:")
            corp = fake_wecom.corp
            r = requests.get(fake_wecom.url + "/cgi-bin/gettoken",
                             params={"corpid": corp.corp_id, "corpsecret": corp.secret}, timeout=10)
            assert r.json()["errcode"] == 0
            assert corp.members[0].name == "张三"

        @pytest.mark.fake_wecom(app_type="third_party", trusted_domain="app.example.com")
        def test_marker(fake_wecom):
            assert fake_wecom.suite.is_third_party
            assert fake_wecom.corp.trusted_domain == "app.example.com"

        def test_fresh_per_test(fake_wecom):
            assert fake_wecom.calls == []
        """
    )
    result = pytester.runpytest_subprocess(*_plugin_args(), "--strict-markers", "-q", timeout=120)
    result.assert_outcomes(passed=3)
