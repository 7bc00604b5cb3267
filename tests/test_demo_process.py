"""The demo as a process: a busy port is said before anything starts, and SIGTERM cleans up like Ctrl+C."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).with_name("flask"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECOM_", "FLASK_")) and k != "SECRET_KEY"}
    env.update(extra)
    return env


def test_a_busy_port_is_said_before_anything_starts(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        venv = tmp_path / "no-venv"  # demo/run would create it if it went on
        started = time.monotonic()
        result = subprocess.run([bash, str(ROOT / "demo" / "run")], cwd=tmp_path, capture_output=True, text=True,
                                timeout=60, env=_clean_env(PORT=str(port), WECOM_VENV=str(venv)))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr and "PORT=8000 bash demo/run" in result.stderr
    assert not venv.exists() and "pip install" not in result.stdout and "sandbox" not in result.stderr
    assert time.monotonic() - started < 10


def test_flask_run_on_a_busy_port_says_so_before_the_sandbox_starts(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = subprocess.run([FLASK, "--app", "demo.app", "run", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, capture_output=True, text=True, timeout=60, env=_clean_env(TMPDIR=str(temp)))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.strip() == (f"[demo] ERROR: port {port} on 127.0.0.1 is already in use (another demo or "
                                     "program?): stop it, or pick another port: PORT=8000 bash demo/run")
    assert not list(temp.iterdir())  # no sandbox folder was made


def test_a_port_that_is_not_a_number(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    result = subprocess.run([bash, str(ROOT / "demo" / "run")], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, env=_clean_env(PORT="80a", WECOM_VENV=str(tmp_path / "v")))
    assert result.returncode == 1 and "PORT must be a port number" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_the_demo_removes_its_temporary_folder(tmp_path: Path, sig: int) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = _free_port()
    # PYTHONFAULTHANDLER: should the demo not stop, SIGABRT makes it print where each of its threads is
    proc = subprocess.Popen([FLASK, "--app", "demo.app", "run", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=_clean_env(TMPDIR=str(temp), PYTHONFAULTHANDLER="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        folders = [p.name for p in temp.iterdir() if p.name.startswith("wecom-demo-")]
        assert len(folders) == 1, folders  # the sandbox keeps its store there
        proc.send_signal(sig)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            output, _ = proc.communicate(timeout=30)
            pytest.fail(f"the demo did not stop within 30 s of {signal.Signals(sig).name}; its threads:\n{output}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not [p.name for p in temp.iterdir() if p.name.startswith("wecom-demo-")], output
    assert "Traceback" not in output, output


def test_readme_says_how_to_pick_the_port() -> None:
    quick_start = (ROOT / "README.rst").read_text(encoding="utf-8").split("Quick start", 1)[1].split("Installation", 1)[0]
    assert "PORT=8000 bash demo/run" in quick_start and "SIGTERM" in quick_start
