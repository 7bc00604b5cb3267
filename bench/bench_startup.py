"""What flask-wecom costs a worker at start-up, against a bare Flask app and Flask-Login, interleaved.

    python bench/bench_startup.py [--rounds 11] [--wall] [--quick]

Each sample is a fresh interpreter (``python -c``), the kinds taking turns round after round
(``bench/_timing.py``), so a load change on the machine hits them alike:

- ``flask``: ``import flask``, an app with one route, one request to it (test client);
- ``flask_login``: ``import flask, flask_login``, an app and ``LoginManager(app)`` — the peer for the
  import and set-up time;
- ``wecom``: ``import flask, flask_wecom``, an app (a self-built app's settings, the default SQLite store)
  and ``WeCom(app)``, one request to a route of the app that does not use the store; then ``WeCom(app2)``
  on a second app of the same process.

Times are the child's CPU time (``time.process_time``), from before its first import: on a shared machine
the wall clock also counts the time other processes held the CPU; ``--wall`` uses the wall clock.
Prints, each as the median over the rounds with its spread:

- the RSS of the ``wecom`` worker / the bare ``flask`` one, after its request — target (issue 12) at most
  1.5x;
- the time of ``WeCom(app)`` once flask-wecom is imported and set up in the process (``WeCom(app2)``) —
  target at most 5 ms; the first ``WeCom(app)`` of a process is shown too: it also imports the Flask
  layer (views, login, callback; the ``flask wecom`` commands wait until one runs);
- import + first set-up, flask-wecom / Flask-Login — no target, for information;
- whether SQLAlchemy was imported (it should not be before the store is first used).

Exit status 1 when a target is missed (0 with ``--quick``, whose two rounds only check that the script runs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Callable, Dict, List

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from _timing import alternate, exit_status, median, verdict  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
#: worker RSS with flask-wecom / a bare Flask app's, at most
RSS_TARGET = 1.5
#: milliseconds of WeCom(app), at most
INIT_TARGET_MS = 5.0

# The child programs. Each prints one JSON line; times are taken inside the child, from before its first
# import, so the interpreter's own start-up (the same for all) is left out. CLOCK is the process's CPU time
# (on a loaded machine the wall clock also counts the time other processes held the CPU), or with --wall
# the wall clock.
_PRELUDE = """
import json, sys, time
CLOCK = time.perf_counter if "--wall" in sys.argv else time.process_time
t0 = CLOCK()
"""
_RSS = """
def rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
"""
CHILDREN = {
    "flask": _PRELUDE + """
from flask import Flask
app = Flask("bench", instance_path=sys.argv[1])
@app.route("/")
def index():
    return "ok"
t1 = CLOCK()
assert app.test_client().get("/").status_code == 200
time.sleep(0.2)
""" + _RSS + """
print(json.dumps({"setup": t1 - t0, "rss": rss_kb(), "sqlalchemy": "sqlalchemy" in sys.modules}))
""",
    "flask_login": _PRELUDE + """
from flask import Flask
import flask_login
app = Flask("bench", instance_path=sys.argv[1])
app.config["SECRET_KEY"] = "bench-secret-key-0123456789abcdef"
flask_login.LoginManager(app)
t1 = CLOCK()
print(json.dumps({"setup": t1 - t0}))
""",
    "wecom": _PRELUDE + """
from flask import Flask
from flask_wecom import WeCom
t1 = CLOCK()
CONFIG = {"SECRET_KEY": "bench-secret-key-0123456789abcdef", "WECOM_CORP_ID": "ww0123456789abcdef",
          "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": "bench-secret-0123456789abcdefghijklmnopqrstu"}
app = Flask("bench", instance_path=sys.argv[1])
app.config.update(CONFIG)
t2 = CLOCK()
WeCom(app)
t3 = CLOCK()
@app.route("/")
def index():
    return "ok"
assert app.test_client().get("/").status_code == 200
time.sleep(0.2)
""" + _RSS + """
rss = rss_kb()
sqlalchemy = "sqlalchemy" in sys.modules
app2 = Flask("bench2", instance_path=sys.argv[1] + "-2")
app2.config.update(CONFIG)
t4 = CLOCK()
WeCom(app2)
t5 = CLOCK()
print(json.dumps({"setup": (t1 - t0) + (t3 - t2), "first_init": t3 - t2, "init": t5 - t4, "rss": rss,
                  "sqlalchemy": sqlalchemy}))
""",
}


def child(kind: str, folder: str, wall: bool) -> Callable[[], Dict[str, Any]]:
    def run() -> Dict[str, Any]:
        instance = tempfile.mkdtemp(dir=folder)
        done = subprocess.run([sys.executable, "-c", CHILDREN[kind], instance] + (["--wall"] if wall else []),
                              capture_output=True, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
        if done.returncode != 0:
            raise SystemExit(f"bench_startup: the {kind} child failed:\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    return run


def spread(values: List[float]) -> str:
    return f"{median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11, help="fresh interpreters per kind")
    parser.add_argument("--wall", action="store_true", help="time with the wall clock, not the CPU time")
    parser.add_argument("--quick", action="store_true", help="2 rounds: checks the script runs")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 2
    try:
        import flask_login  # noqa: F401
    except ImportError:
        print("bench_startup: Flask-Login is not installed, so there is no peer to compare the start-up with.\n"
              "Install it with:  pip install -e '.[bench]'   (or: pip install flask-login)")
        return 0

    folder = tempfile.mkdtemp(prefix="wecom-bench-startup-")
    try:
        figures = alternate({kind: child(kind, folder, args.wall) for kind in CHILDREN}, args.rounds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    bare, login, wecom = figures["flask"], figures["flask_login"], figures["wecom"]

    rss = [w["rss"] / b["rss"] for w, b in zip(wecom, bare)]
    setup = [w["setup"] / p["setup"] for w, p in zip(wecom, login)]
    init_ms = [w["init"] * 1e3 for w in wecom]
    first_ms = [w["first_init"] * 1e3 for w in wecom]
    print(f"{args.rounds} interleaved rounds of fresh interpreters, {'wall-clock' if args.wall else 'CPU'} time; "
          "medians (lowest-highest)\n")
    print(f"RSS after one request: bare Flask {median([b['rss'] for b in bare]) / 1024:.1f} MiB, "
          f"with WeCom(app) {median([w['rss'] for w in wecom]) / 1024:.1f} MiB")
    peer_ms, ours_ms = median([p["setup"] for p in login]) * 1e3, median([w["setup"] for w in wecom]) * 1e3
    print(f"import + set-up: flask + flask_login + LoginManager(app) {peer_ms:.0f} ms, "
          f"flask + flask_wecom + WeCom(app) {ours_ms:.0f} ms")
    print(f"first WeCom(app) of a process (it imports the Flask layer: views, login, callback): "
          f"{spread(first_ms)} ms\n")

    lines, ok = [], True
    line, passed = verdict("worker RSS, flask-wecom / bare Flask", (median(rss), min(rss), max(rss)), RSS_TARGET)
    lines.append(line)
    ok = ok and passed
    passed = median(init_ms) <= INIT_TARGET_MS
    lines.append(f"WeCom(app): {spread(init_ms)} ms, target <= {INIT_TARGET_MS:.0f} ms: {'PASS' if passed else 'FAIL'}")
    ok = ok and passed
    lines.append(f"import + set-up, flask-wecom / Flask-Login: {spread(setup)}x, no target")
    imported = any(w["sqlalchemy"] for w in wecom)
    lines.append(f"SQLAlchemy imported by import + WeCom(app) + a request that does not use the store: "
                 f"{'yes: FAIL' if imported else 'no: PASS'}")
    ok = ok and not imported
    print("\n".join(lines))
    return exit_status(ok, args.quick)


if __name__ == "__main__":
    sys.exit(main())
