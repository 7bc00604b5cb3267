"""What a suite_ticket delivery costs against a bare Flask route of the same app, timed interleaved in one run.

    python bench/bench_callback.py [--rounds 21] [--turn 0.02] [--dir FOLDER] [--quick]
    python bench/bench_callback.py --http [--rounds 21] [--turn 0.1] [--quick]

In-process mode (the default), through the app's test client:

- ``bare``: ``GET /bare``, a view that returns ``"ok"``, in the same app (so it pays for the same
  ``before_request`` hooks and session handling);
- ``delivery``: ``POST /wecom/callback`` with a NEW valid suite_ticket delivery each time (fresh nonce,
  timestamp and ticket, made up front with the simulator's encryption), fully processed on the default
  store: SQLite in the app's instance folder (``--dir``; the output names the file system: a tmpfs hides
  the cost of the disk). The replay mark and the ticket commit in one transaction before ``success``;
- ``floor``: for context, the delivery's own checks (``authenticate``) and then the same two writes (the replay
  mark, the sealed ticket on a row of its own) in one transaction on a plain sqlite3 connection: no pool, no
  SQLAlchemy, no provider logic, no signals — what the framework around the store has left of the target;
- ``wechatpy``: for context, a minimal view built on wechatpy (``WeChatCrypto.decrypt_message``, then the
  XML parsed to a dict with xmltodict as wechatpy's ``parse_message`` does — that one only knows MsgType
  messages, not InfoType events — answer ``success``, nothing stored).

Target (issue 12): delivery / bare at most 2.5x. Timed on the wall clock: the delivery waits for the disk
(its commit), which a CPU-time clock would leave out. With ``--http`` the same app is served by gunicorn
(one sync worker) and a ``requests.Session`` posts the deliveries and GETs the bare route over real HTTP;
target 1.5x. Each ratio is the median of the per-round ratios, with its spread. Exit status 1 when a
target is missed (0 with ``--quick``, whose few short rounds only check that the script runs).

wechatpy is not a dependency of flask-wecom: ``pip install -e '.[bench]'`` (without it the wechatpy case is
left out and said so).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlencode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir))
sys.path.insert(0, HERE)

from _timing import exit_status, interleaved, ratio, verdict  # noqa: E402

#: delivery / bare at most this through the test client, and over HTTP with gunicorn
TARGET = 2.5
HTTP_TARGET = 1.5
#: the served app's settings (JSON), for gunicorn's worker
CONFIG_ENV = "BENCH_CALLBACK_CONFIG"

Delivery = Tuple[str, bytes, str]  # query string, body, the ticket it carries


# -- the app ------------------------------------------------------------------------------------------


def create_app(config: Optional[Dict[str, Any]] = None):
    """The app under test: flask-wecom with its defaults (SQLite store in the instance folder), a bare
    route, and the wechatpy view when wechatpy is installed. gunicorn calls it with no argument."""
    from flask import Flask, Response, request

    from flask_wecom import WeCom

    if config is None:
        config = json.loads(os.environ[CONFIG_ENV])
    config = dict(config)
    app = Flask("bench_callback", instance_path=config.pop("INSTANCE_PATH"))
    app.config.update(config)
    WeCom(app)

    @app.route("/bare")
    def bare() -> str:
        return "ok"

    app.add_url_rule("/floor", "floor", _floor_view(app), methods=["POST"])

    crypto = _wechatpy_crypto(config)
    if crypto is not None:
        import xmltodict  # wechatpy's own XML parser: its parse_message knows MsgType messages, not InfoType events

        @app.route("/wechatpy", methods=["POST"])
        def wechatpy_view() -> Response:
            args = request.args
            xml = crypto.decrypt_message(request.get_data(), args["msg_signature"], args["timestamp"], args["nonce"])
            event = xmltodict.parse(xml)["xml"]
            if not event.get("InfoType"):
                return Response("not a template event", status=400)
            return Response("success", mimetype="text/plain")

    return app


_FLOOR: Dict[str, Any] = {}
_FLOOR_INSERT = "INSERT INTO wecom_delivery (key, received_at) VALUES (?, ?) ON CONFLICT DO NOTHING"
_FLOOR_UPDATE = "UPDATE wecom_suite_ticket SET ticket=?, received_at=? WHERE suite_id=? AND received_at <= ?"


def _floor_view(app) -> Callable[[], Any]:
    """What the delivery cannot go below, for context: the same checks (``authenticate``: signature, decryption,
    receive id, event XML), then the same two writes in one transaction (the replay mark, the sealed ticket on a
    row of its own) on a plain sqlite3 connection kept open for this view: no pool, no SQLAlchemy, no
    provider logic, no signals or handlers. Everything it needs is imported once, here, not per request."""
    import hashlib
    import sqlite3

    from flask import Response, request

    from flask_wecom import WeCom
    from flask_wecom.delivery import Delivery, authenticate

    def floor() -> Response:
        state = WeCom.state(app)
        delivery = authenticate(state.provider, state.config, "template", "POST", request.args,
                                content_length=request.content_length, read=request.stream.read, now=time.time())
        if not isinstance(delivery, Delivery) or delivery.event is None:
            return Response("refused", status=403)
        conn = _FLOOR.get("conn")
        if conn is None:
            conn = _FLOOR["conn"] = sqlite3.connect(state.store.engine.url.database, isolation_level=None)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("INSERT OR IGNORE INTO wecom_suite_ticket (suite_id, ticket, received_at) "
                         "VALUES (?, '', 0)", ("floor",))
        now = time.time()
        mark = hashlib.sha256(f"{delivery.msg_signature}|{delivery.nonce}".encode()).hexdigest()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute(_FLOOR_INSERT, (mark, now)).rowcount == 1:
                conn.execute(_FLOOR_UPDATE, (state.store.secret_box.seal(delivery.event.suite_ticket or ""), now,
                                             "floor", now))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return Response("success", mimetype="text/plain")

    return floor


def _wechatpy_crypto(config: Dict[str, Any]):
    try:
        from wechatpy.enterprise.crypto import WeChatCrypto
    except ImportError:
        return None
    # template events are encrypted for the suite id (developer.work.weixin.qq.com/document/path/97172)
    return WeChatCrypto(config["WECOM_TOKEN"], config["WECOM_ENCODING_AES_KEY"], config["WECOM_SUITE_ID"])


def wechatpy_version() -> Optional[str]:
    try:
        import wechatpy
    except ImportError:
        return None
    return wechatpy.__version__


# -- deliveries ---------------------------------------------------------------------------------------


def make_deliveries(fake, count: int) -> List[Delivery]:
    """``count`` distinct valid suite_ticket deliveries: each a new ticket, nonce and timestamp, encrypted for
    the suite id as WeCom does."""
    from flask_wecom.testing.pushes import ENCRYPT, encrypt_envelope
    from flask_wecom.xmlutil import to_xml

    suite = fake.suite
    out = []
    for _ in range(count):
        now, ticket = int(time.time()), fake.issue_suite_ticket()
        fields = {"SuiteId": suite.suite_id, "InfoType": "suite_ticket", "TimeStamp": now, "SuiteTicket": ticket}
        body, params = encrypt_envelope(suite.token, suite.encoding_aes_key, to_xml(fields), suite.suite_id,
                                        {"ToUserName": suite.suite_id, "Encrypt": ENCRYPT, "AgentID": ""}, now)
        # the query string made up front too, as the bare route's URL is: only the server's work differs
        out.append((urlencode(params), body.encode("utf-8"), ticket))
    return out


class Supply:
    """Hands out each delivery once; runs dry with a clear error rather than replaying one."""

    def __init__(self, deliveries: List[Delivery]) -> None:
        self._it: Iterator[Delivery] = iter(deliveries)
        self.used = 0
        self.last_ticket = ""

    def __call__(self) -> Delivery:
        try:
            item = next(self._it)
        except StopIteration:
            raise SystemExit("bench_callback: ran out of pre-made deliveries; raise the estimate") from None
        self.used += 1
        self.last_ticket = item[2]
        return item


def _estimate(rounds: int, turn: float, fastest: float) -> int:
    """Deliveries needed: every turn at ``fastest`` seconds per call, plus the calibration."""
    return int(rounds * turn / fastest * 1.3) + int(turn / fastest) * 4 + 250


def filesystem_of(path: str) -> str:
    """The mount's file-system type (``ext4``, ``tmpfs``…), from /proc/mounts; "?" elsewhere."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) >= 3 and (path == fields[1] or path.startswith(fields[1].rstrip("/") + "/")) \
                        and len(fields[1]) >= len(best):
                    best, kind = fields[1], fields[2]
    except OSError:
        pass
    return kind


# -- the two modes ------------------------------------------------------------------------------------


def _report(figures: Dict[str, List[float]], target: float, has_peer: bool) -> Tuple[List[str], bool]:
    med = {name: sorted(values)[len(values) // 2] * 1e6 for name, values in figures.items()}
    print("  ".join(f"{name}: {value:.0f} µs" for name, value in med.items()) + "  (median per call)\n")
    line, ok = verdict("delivery / bare route", ratio(figures, "delivery", "bare"), target)
    lines = [line]
    if has_peer:
        value, low, high = ratio(figures, "wechatpy", "bare")
        lines.append(f"wechatpy view (decrypt + parse, no storage) / bare route: {value:.2f}x "
                     f"({low:.2f}-{high:.2f}), for context")
    return lines, ok


def run_in_process(fake, folder: str, rounds: int, turn: float) -> Tuple[List[str], bool, int]:
    from flask_wecom import WeCom

    config = dict(fake.flask_config(), SECRET_KEY="bench-secret-key-0123456789abcdef",
                  INSTANCE_PATH=os.path.join(folder, "instance"))
    app = create_app(config)
    client = app.test_client()
    state = WeCom.state(app)
    has_peer = "wechatpy_view" in app.view_functions
    supply = Supply(make_deliveries(fake, _estimate(rounds, turn, 120e-6)))
    headers = {"Content-Type": "text/xml"}

    def delivery() -> None:
        query, body, _ = supply()
        answer = client.post("/wecom/callback?" + query, data=body, headers=headers)
        if answer.status_code != 200 or answer.data != b"success":
            raise SystemExit(f"bench_callback: the delivery was answered {answer.status_code} {answer.data!r}")

    peer_pool = make_deliveries(fake, 50)
    turns = iter(range(1 << 62))

    def wechatpy_case() -> None:
        query, body, _ = peer_pool[next(turns) % len(peer_pool)]
        assert client.post("/wechatpy?" + query, data=body, headers=headers).data == b"success"

    floor_supply = Supply(make_deliveries(fake, _estimate(rounds, turn, 120e-6)))

    def floor_case() -> None:
        query, body, _ = floor_supply()
        answer = client.post("/floor?" + query, data=body, headers=headers)
        if answer.data != b"success":
            raise SystemExit(f"bench_callback: the floor view answered {answer.status_code} {answer.data!r}")

    cases: Dict[str, Callable[[], object]] = {"bare": lambda: client.get("/bare"), "delivery": delivery,
                                              "floor": floor_case}
    if has_peer:
        cases["wechatpy"] = wechatpy_case
    warm_up(cases)
    figures = interleaved(cases, rounds=rounds, turn_seconds=turn)
    lines, ok = _report(figures, TARGET, has_peer)
    value, low, high = ratio(figures, "floor", "bare")
    lines.append(f"floor (the same checks, then the same two writes on a plain sqlite3 connection: no pool, no "
                 f"SQLAlchemy, no signals) / bare route: {value:.2f}x ({low:.2f}-{high:.2f}), for context")
    _check_processed(state, fake, supply)
    _FLOOR.pop("conn").close()
    state.store.dispose()
    return lines, ok, supply.used


def warm_up(cases: Dict[str, Callable[[], object]]) -> None:
    """A few calls of each case before the clock runs: the store's first use (schema check, key derivation)
    and the per-process sweeper's first pass are not timed."""
    for _ in range(20):
        for func in cases.values():
            func()
    time.sleep(0.3)


def _check_processed(state, fake, supply: Supply) -> None:
    """Every delivery did the real work: one replay mark each, and the last ticket is the stored one."""
    import sqlalchemy as sa

    from flask_wecom.store import deliveries

    with state.store.engine.connect() as conn:
        marks = conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar()
    stored = state.store.get_suite_ticket(fake.suite.suite_id)
    if marks < supply.used or stored is None or stored[0] != supply.last_ticket:
        raise SystemExit(f"bench_callback: {supply.used} deliveries but {marks} replay marks / ticket {stored!r}: "
                         "not every delivery was processed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_http(fake, folder: str, rounds: int, turn: float) -> Tuple[List[str], bool, int]:
    import requests

    config = dict(fake.flask_config(), SECRET_KEY="bench-secret-key-0123456789abcdef",
                  INSTANCE_PATH=os.path.join(folder, "instance"))
    port = _free_port()
    env = dict(os.environ, **{CONFIG_ENV: json.dumps(config)})
    env["PYTHONPATH"] = os.pathsep.join([HERE, os.path.join(HERE, os.pardir), env.get("PYTHONPATH", "")])
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "sync", "--bind",
         f"127.0.0.1:{port}", "--log-level", "warning", "bench_callback:create_app()"],
        env=env, cwd=HERE)
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if session.get(base + "/bare", timeout=2).text == "ok":
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench_callback: gunicorn did not start")
            time.sleep(0.1)
        has_peer = session.post(base + "/wechatpy", timeout=5).status_code != 404
        supply = Supply(make_deliveries(fake, _estimate(rounds, turn, 500e-6)))
        headers = {"Content-Type": "text/xml"}

        def delivery() -> None:
            query, body, _ = supply()
            answer = session.post(base + "/wecom/callback?" + query, data=body, headers=headers, timeout=10)
            if answer.status_code != 200 or answer.text != "success":
                raise SystemExit(f"bench_callback: the delivery was answered {answer.status_code} {answer.text!r}")

        peer_pool = make_deliveries(fake, 50)
        turns = iter(range(1 << 62))

        def wechatpy_case() -> None:
            query, body, _ = peer_pool[next(turns) % len(peer_pool)]
            session.post(base + "/wechatpy?" + query, data=body, headers=headers, timeout=10)

        cases: Dict[str, Callable[[], object]] = {"bare": lambda: session.get(base + "/bare", timeout=10),
                                                   "delivery": delivery}
        if has_peer:
            cases["wechatpy"] = wechatpy_case
        warm_up(cases)
        figures = interleaved(cases, rounds=rounds, turn_seconds=turn)
        lines, ok = _report(figures, HTTP_TARGET, has_peer)
    finally:
        session.close()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
    from flask_wecom.secretbox import SecretBox
    from flask_wecom.store import Store

    store = Store("sqlite:///" + os.path.join(folder, "instance", "wecom.sqlite3"), SecretBox(config["SECRET_KEY"]))
    state = type("State", (), {"store": store})
    _check_processed(state, fake, supply)
    store.dispose()
    return lines, ok, supply.used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", action="store_true", help="over real HTTP: gunicorn, one sync worker")
    parser.add_argument("--rounds", type=int, default=21, help="turns per case (the ratio is their median)")
    parser.add_argument("--turn", type=float, default=None,
                        help="seconds per turn of one case (default 0.02, or 0.1 with --http)")
    parser.add_argument("--dir", default=None, help="where the app's instance folder (and SQLite file) goes "
                        "(default: a new temporary folder)")
    parser.add_argument("--quick", action="store_true", help="3 short rounds: checks the script runs")
    args = parser.parse_args()
    turn = args.turn if args.turn is not None else (0.1 if args.http else 0.02)
    rounds = args.rounds
    if args.quick:
        rounds, turn = 3, 0.005

    from flask_wecom.testing import FakeWeCom

    folder = tempfile.mkdtemp(prefix="bench-callback-", dir=args.dir)
    fake = FakeWeCom()
    fake.start()
    try:
        peer = wechatpy_version()
        mode = ("real HTTP, gunicorn (1 sync worker), requests.Session" if args.http else
                "test client, one process")
        print(f"suite_ticket deliveries vs a bare route: {mode}")
        print(f"store: SQLite in {folder} ({filesystem_of(folder)}); "
              + (f"peer: wechatpy {peer}" if peer else "wechatpy not installed: no peer view "
                 "(pip install -e '.[bench]')"))
        print(f"{rounds} interleaved rounds of ~{turn * 1000:.0f} ms per case; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
        if args.http:
            lines, ok, used = run_http(fake, folder, rounds, turn)
        else:
            lines, ok, used = run_in_process(fake, folder, rounds, turn)
        print(f"({used} distinct deliveries processed, each with its own replay mark)\n")
        print("\n".join(lines))
    finally:
        fake.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return exit_status(ok, args.quick)


if __name__ == "__main__":
    sys.exit(main())
