"""bench/bench_callback.py runs (issue 12, target 2): briefly, in both modes. Timings are never asserted here;
the script measures them (its --quick rounds are too few to mean anything)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_bench(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_callback.py"), "--quick", *args],
                          capture_output=True, text=True, timeout=300, env=env, cwd=str(ROOT))
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _check(out: str, target: str) -> None:
    assert "delivery / bare route: " in out and f"target <= {target}x" in out
    # each delivery was new and processed: the script checks one replay mark per delivery and the last ticket
    assert "distinct deliveries processed, each with its own replay mark" in out
    if "wechatpy not installed" in out:
        assert "pip install -e '.[bench]'" in out
    else:
        assert "wechatpy view (decrypt + parse, no storage) / bare route:" in out


def test_bench_callback_runs_in_process():
    _check(run_bench(), "2.50")


def test_bench_callback_runs_over_http_with_gunicorn():
    import importlib.util

    from conftest import require_service

    if importlib.util.find_spec("gunicorn") is None:  # in the test extra: under CI=true its absence fails
        require_service("gunicorn", "not installed (pip install -e '.[test]')")
    out = run_bench("--http")
    assert "gunicorn (1 sync worker)" in out
    _check(out, "1.50")
