"""A warm login's ``/wecom/authorized`` against the sequential sum of its three WeCom calls, interleaved.

    python bench/bench_login.py [--delay 0.03] [--rounds 21] [--quick]

Serves a FakeWeCom over real HTTP that waits ``--delay`` seconds (30 ms by default) before each API
answer, like WeCom over a real network, and points a flask-wecom app at it. For a self-built app and
a 代开发 app, two cases take turns, round after round (``bench/_timing.py``):

- ``authorized``: the time of ``GET /wecom/authorized?code=…&state=…`` (Flask test client) of an
  in-client OAuth login with a warm token: code → ``auth/getuserinfo``, then ``user/get`` and
  ``auth/getuserdetail``. The 代开发 app is not granted the email permission, so every login meets a
  missing field and needs the app's permissions (``agent/get_permissions``, cached per corp);
- ``sequential``: the same three WeCom calls made one after the other with the same client and token.

The login's code is fetched before the clock starts in both cases. Target (issue 12): ``authorized``
at most 0.8x the sequential sum, for both app types. ``/wecom/login`` against a bare route of the same
app is printed for information. Exit status 1 when a target is missed (0 with ``--quick``, whose few
rounds only check that the script runs).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Tuple
from urllib.parse import urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from _timing import alternate, exit_status, median, ratio, verdict  # noqa: E402
from flask import Flask  # noqa: E402

from flask_wecom import WeCom  # noqa: E402
from flask_wecom.testing import FakeWeCom  # noqa: E402

#: /wecom/authorized at most this times the sequential sum of its three WeCom calls
TARGET = 0.8
WXWORK_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")
#: every WeCom API path a login (or its set-up) may call: each answer waits --delay
SLOW_PATHS = ("/cgi-bin/gettoken", "/cgi-bin/auth/getuserinfo", "/cgi-bin/user/get", "/cgi-bin/auth/getuserdetail",
              "/cgi-bin/agent/get_permissions", "/cgi-bin/service/get_suite_token",
              "/cgi-bin/service/get_permanent_code")


def make_app(fake: FakeWeCom, folder: str, app_type: str) -> Flask:
    app = Flask(f"bench_login_{app_type}", instance_path=os.path.join(folder, "instance"))
    app.config.update(fake.flask_config(folder, app_type), SECRET_KEY="bench-secret-key-0123456789abcdef",
                      TESTING=True)
    WeCom(app)

    @app.route("/done")
    def done() -> str:
        return "done"

    @app.route("/bare")
    def bare() -> str:
        return "bare"

    if app_type != "internal":  # 代开发: suite ticket, then the admin's authorization, through the callback view
        fake.revoke_permissions("contact:sensitive:email")  # the customer did not grant it: a field is missing
        client = app.test_client()
        assert fake.push_suite_ticket("http://localhost/wecom/callback", client=client).success
        assert fake.authorize("http://localhost/wecom/callback", client=client).success
        assert WeCom.state(app).wait_background(timeout=30)
    return app


class Login:
    """Starts in-client OAuth logins on ``app`` and has the fake's member confirm them (untimed)."""

    def __init__(self, fake: FakeWeCom, app: Flask) -> None:
        self.fake, self.app = fake, app
        self.state = WeCom.state(app)

    def answer(self) -> Tuple[Any, str]:
        """(a test client holding the pending login, the path + query WeCom sends the browser back to)."""
        client = self.app.test_client()
        start = client.get("/wecom/login?next=/done&via=oauth", headers={"User-Agent": WXWORK_UA})
        assert start.status_code == 302, start.get_data(as_text=True)[:500]
        parts = urlsplit(self.fake.authorize_url_to_redirect(start.location))
        return client, f"{parts.path}?{parts.query}"

    def authorized(self) -> float:
        client, back = self.answer()
        started = time.perf_counter()
        response = client.get(back)
        elapsed = time.perf_counter() - started
        assert response.status_code == 302 and response.location.endswith("/done"), \
            response.get_data(as_text=True)[:500]
        return elapsed

    def sequential(self) -> float:
        _, back = self.answer()
        code = dict(part.split("=", 1) for part in back.split("?", 1)[1].split("&"))["code"]
        corp_id = self.state.provider.corp_ids()[0]
        token = self.state.provider.corp_token(corp_id).get()  # warm: read from the cache, untimed
        wecom = self.state.client
        started = time.perf_counter()
        info = wecom.get_user_info(token, code)
        wecom.get_user(token, info["userid"])
        wecom.get_user_detail(token, info["user_ticket"])
        return time.perf_counter() - started


def timed_get(client: Any, path: str, headers: Dict[str, str], status: int) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == status, response.status_code
        return elapsed
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.03, help="seconds each WeCom API answer waits")
    parser.add_argument("--rounds", type=int, default=21, help="logins per case (the ratio is their median)")
    parser.add_argument("--quick", action="store_true", help="3 rounds: checks the script runs")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 3

    logging.getLogger("flask_wecom").setLevel(logging.ERROR)  # the warning about localhost as trusted domain
    fake = FakeWeCom()
    folder = tempfile.mkdtemp(prefix="wecom-bench-login-")
    lines, ok = [], True
    try:
        with fake.serve():
            print(f"FakeWeCom at {fake.url} (real HTTP), {args.delay * 1000:.0f} ms per WeCom API call; "
                  f"{args.rounds} interleaved rounds\n")
            for app_type, label in (("internal", "self-built"), ("customized", "代开发")):
                fake.clear_faults()
                app = make_app(fake, os.path.join(folder, app_type), app_type)
                for path in SLOW_PATHS:
                    fake.slow(path, args.delay, times=None)
                login = Login(fake, app)
                login.authorized()  # warm: the token is fetched once, the app's permissions read once
                before = len(fake.calls)
                figures = alternate({"authorized": login.authorized, "sequential": login.sequential},
                                    args.rounds)
                per_login = (len(fake.calls) - before) / args.rounds
                client = app.test_client()
                pages = alternate({
                    "login": timed_get(client, "/wecom/login?next=/done&via=oauth", {"User-Agent": WXWORK_UA}, 302),
                    "bare": timed_get(client, "/bare", {}, 200),
                }, args.rounds)
                print(f"{label:>10}: /wecom/authorized {median(figures['authorized']) * 1e3:6.1f} ms, the three "
                      f"calls in sequence {median(figures['sequential']) * 1e3:6.1f} ms; WeCom API requests per round "
                      f"(one login, then the three calls) {per_login:.1f}")
                line, passed = verdict(f"{label:>10} /wecom/authorized / sequential sum of its 3 WeCom calls",
                                       ratio(figures, "authorized", "sequential"), TARGET)
                lines.append(line)
                ok = ok and passed
                login_ratio = ratio(pages, "login", "bare")
                lines.append(f"{label:>10} /wecom/login / a bare route of the same app: {login_ratio[0]:.2f}x "
                             f"({login_ratio[1]:.2f}-{login_ratio[2]:.2f}), "
                             f"{median(pages['login']) * 1e6:.0f} µs vs {median(pages['bare']) * 1e6:.0f} µs, "
                             "no target")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print()
    print("\n".join(lines))
    return exit_status(ok, args.quick)


if __name__ == "__main__":
    sys.exit(main())
