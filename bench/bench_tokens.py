"""What the token cache saves: a cached ``get()`` against a cold ``gettoken`` fetch.

    python bench/bench_tokens.py [--seconds 0.5] [--delay 0.05] [--redis redis://127.0.0.1:6379/15]

Starts a local HTTP server that answers ``/cgi-bin/gettoken`` like WeCom after ``--delay``
seconds (50 ms by default), then for each backend — SimpleCache, FileSystemCache and Redis
(skipped when unreachable) — measures in this one run:

- ``cached``: ``CorpTokenSource.get()`` with the token in the cache;
- ``refresh-ahead``: the ``get()`` that notices the token is in its last minutes and starts
  the background refresh (it still returns the current token at once);
- ``cold``: ``get()`` with an empty cache (lock + HTTP round trip + store);

and prints the figures and the ratio cold / cached. Numbers only; nothing asserts on them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from _timing import timed_calls  # noqa: E402
from cachelib import FileSystemCache, SimpleCache  # noqa: E402
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

from flask_wecom.client import WeComClient  # noqa: E402
from flask_wecom.tokens import CorpTokenSource, TokenManager  # noqa: E402

CORP_ID, AGENT_ID, SECRET = "wwbench0000000000", 1000002, "bench-secret-0123456789abcdefghij"


class _Quiet(WSGIRequestHandler):
    def log(self, *args: Any) -> None:
        pass


def start_server(delay: float) -> tuple[Any, str, list]:
    calls: list = []

    def app(environ: dict, start_response: Callable) -> list:
        calls.append(environ.get("PATH_INFO"))
        time.sleep(delay)
        body = json.dumps({"errcode": 0, "errmsg": "ok", "access_token": f"tok{len(calls)}",
                           "expires_in": 7200}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}", calls


def per_call(func: Callable[[], object], seconds: float) -> float:
    """Mean seconds per call of ``func`` over about ``seconds`` (after a warm-up)."""
    n, elapsed = timed_calls(func, seconds)
    return elapsed / n


def redis_backend(url: str) -> Optional[Any]:
    try:
        import redis
        from cachelib import RedisCache

        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure: skip Redis
        print(f"(Redis at {url} not reachable: {type(exc).__name__}; skipped)")
        return None
    return RedisCache(host=client, key_prefix=f"wecom-bench-{os.getpid()}:")


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def measure(name: str, backend: Any, url: str, seconds: float, cold_rounds: int) -> dict:
    client = WeComClient(url)
    clock = Clock()
    manager = TokenManager(backend, clock=clock)
    source = CorpTokenSource(client, manager, CORP_ID, SECRET, agent_id=AGENT_ID)

    cold = []
    for _ in range(cold_rounds):
        source.invalidate()
        start = time.perf_counter()
        source.get()
        cold.append(time.perf_counter() - start)

    source.get()
    cached = per_call(source.get, seconds)

    ahead = []
    for _ in range(cold_rounds):
        source.invalidate()
        clock.offset = 0.0
        source.get()
        clock.offset = 7200 - 300 - 60  # one minute before the margin: inside the refresh window
        start = time.perf_counter()
        source.get()
        ahead.append(time.perf_counter() - start)
        manager.join(5)
    clock.offset = 0.0
    source.invalidate()
    client.close()
    return {"name": name, "cached": cached, "ahead": statistics.median(ahead),
            "cold": statistics.median(cold)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per cached measurement")
    parser.add_argument("--delay", type=float, default=0.05, help="server answer delay (s)")
    parser.add_argument("--rounds", type=int, default=10, help="cold fetches per backend")
    parser.add_argument("--redis", default=os.environ.get("WECOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    args = parser.parse_args()

    server, url, calls = start_server(args.delay)
    tmp = tempfile.mkdtemp(prefix="wecom-bench-")
    backends = [("SimpleCache", SimpleCache()), ("FileSystemCache", FileSystemCache(tmp))]
    redis = redis_backend(args.redis)
    if redis is not None:
        backends.append(("RedisCache", redis))
    try:
        rows = [measure(name, backend, url, args.seconds, args.rounds) for name, backend in backends]
    finally:
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"gettoken server delay {args.delay * 1000:.0f} ms; {len(calls)} gettoken calls in this run")
    print(f"{'backend':16} {'cached get':>12} {'refresh-ahead get':>18} {'cold fetch':>12} "
          f"{'cold / cached':>14}")
    for row in rows:
        print(f"{row['name']:16} {row['cached'] * 1e6:9.1f} µs {row['ahead'] * 1e6:15.1f} µs "
              f"{row['cold'] * 1e3:9.1f} ms {row['cold'] / row['cached']:13.0f}x")


if __name__ == "__main__":
    main()
