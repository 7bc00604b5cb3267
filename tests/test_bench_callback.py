"""bench/bench_callback.py runs (issue 12, target 2): briefly, in both modes. Timings are never asserted here;
the script measures them (its --quick rounds are too few to mean anything)."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120  # pyproject.toml's pytest-timeout; the script takes seconds
pytestmark = pytest.mark.timeout(TIMEOUT)  # the script's own limit (TIMEOUT - 20) ends it first


def run_bench(*args: str) -> str:
    """Run the script in a process group of its own: however it ends (a timeout, pytest-timeout's alarm), the
    group is killed, so the gunicorn it starts with --http never outlives the test."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bench_callback.py"), "--quick", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT),
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=TIMEOUT - 20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    assert process.returncode == 0, out + err
    return out


def _check(out: str, target: str) -> None:
    assert "delivery / bare route: " in out and f"target <= {target}x" in out
    # each delivery was new and processed: the script checks one replay mark per delivery and the last ticket
    assert "distinct deliveries processed, each with its own replay mark" in out
    if "wechatpy not installed" in out:
        assert "pip install -e '.[bench]'" in out
    else:
        assert "wechatpy view (decrypt + parse, no storage) / bare route:" in out


def test_bench_callback_runs_in_process():
    out = run_bench()
    _check(out, "2.50")
    # the floor for context: the same checks and the same two writes without the framework around them
    assert "floor (the same checks, then the same two writes on a plain sqlite3 connection" in out


def test_bench_callback_runs_over_http_with_gunicorn():
    import importlib.util

    from conftest import require_service

    if importlib.util.find_spec("gunicorn") is None:  # in the test extra: under CI=true its absence fails
        require_service("gunicorn", "not installed (pip install -e '.[test]')")
    out = run_bench("--http")
    assert "gunicorn (1 sync worker)" in out
    _check(out, "1.50")
