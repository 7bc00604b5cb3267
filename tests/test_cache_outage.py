"""Token cache outages cost at most about a second and never multiply gettoken.

Redis is our own redis-server on a private port, frozen with SIGSTOP, killed and restarted by the
test; the FileSystemCache's directory is replaced by a file (root ignores permissions). Logins run
over real HTTP against a served FakeWeCom.
"""
from __future__ import annotations

import shutil
import time

import pytest
import redis
from login_support import BROWSER_UA, back_to_app, confirm, make_app, start_login
from redis_server import PrivateRedis

from flask_wecom.cacheguard import CircuitBreaker, GuardedCache, redis_timeout_problem

GETTOKEN = "/cgi-bin/gettoken"
PREFIX = "outage:"


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(str(tmp_path))
    server.start()
    try:
        yield server
    finally:
        server.close()


def _redis_app(fake, tmp_path, url, name="a"):
    (tmp_path / name).mkdir(exist_ok=True)
    return make_app(fake, tmp_path / name, "internal", WECOM_CACHE_TYPE="RedisCache", WECOM_CACHE_REDIS_URL=url,
                    WECOM_CACHE_KEY_PREFIX=PREFIX)


def _quick_breaker(app, cooldown=1.0):
    """A shorter cool-down than the default 5 s, so that recovery is seen within the test."""
    app.extensions["wecom"].shared_cache.breaker = CircuitBreaker(first_cooldown=cooldown, max_cooldown=cooldown)


def _timed_login(app):
    """A whole login; returns (answer of /wecom/authorized, seconds spent inside our app)."""
    client = app.test_client()
    started = time.monotonic()
    start = start_login(client, "?next=/profile", ua=BROWSER_UA)
    ours = time.monotonic() - started
    assert start.status_code == 302, start.get_data(as_text=True)[:1000]
    answer = confirm(start.location)
    started = time.monotonic()
    done = back_to_app(client, answer)
    ours += time.monotonic() - started
    return done, ours


def _logged_in(done) -> bool:
    return done.status_code == 302 and done.location.endswith("/profile")


def test_extension_gives_redis_short_timeouts_and_no_retries(fake_wecom, tmp_path, private_redis):
    app = _redis_app(fake_wecom, tmp_path, private_redis.url)
    state = app.extensions["wecom"]
    kwargs = state.cache_backend._write_client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 0.5 and kwargs["socket_connect_timeout"] == 0.5
    assert redis_timeout_problem(state.cache_backend) is None
    assert isinstance(state.shared_cache, GuardedCache) and state.shared_cache.inner is state.cache_backend
    # a Redis client made without them is named at startup (for a user-supplied `cache=`)
    from cachelib import RedisCache
    problem = redis_timeout_problem(RedisCache(host=redis.Redis(port=private_redis.port)))
    assert problem and "socket_timeout=" in problem and "retry=Retry(NoBackoff(), 0)" in problem


@pytest.mark.timeout(60)
def test_frozen_redis_costs_a_login_about_half_a_second_then_nothing(fake_wecom, tmp_path, private_redis):
    app = _redis_app(fake_wecom, tmp_path, private_redis.url)
    state = app.extensions["wecom"]
    _quick_breaker(app, cooldown=1.5)
    done, baseline = _timed_login(app)  # warm: the corp token is in Redis and in this process
    assert _logged_in(done) and len(fake_wecom.calls_to(GETTOKEN)) == 1

    private_redis.freeze()
    try:
        done, frozen = _timed_login(app)
        assert _logged_in(done), done.get_data(as_text=True)[:1000]
        # one 0.5 s read timeout, then the breaker skips Redis: not 5 s per cache operation
        assert frozen - baseline < 1.0, (frozen, baseline)
        assert state.shared_cache.breaker.state() == "open" and state.shared_cache.breaker.failures == 1
        done, skipped = _timed_login(app)
        assert _logged_in(done) and skipped - baseline < 0.3, (skipped, baseline)
        assert state.shared_cache.breaker.failures == 1  # nothing waited on Redis again
        assert len(fake_wecom.calls_to(GETTOKEN)) == 1  # the process kept its copy of the token
        time.sleep(1.6)  # cool-down over: one probe, which times out once more
        done, probed = _timed_login(app)
        assert _logged_in(done) and probed - baseline < 1.0
        assert state.shared_cache.breaker.failures == 2
        print(f"login time in our app: warm {baseline:.3f} s, Redis frozen {frozen:.3f} s, breaker open "
              f"{skipped:.3f} s, probe {probed:.3f} s")
    finally:
        private_redis.thaw()

    time.sleep(1.6)  # the cool-down (capped at 1.5 s here) is over: the next call probes, and the probe succeeds
    keys_before = set(redis.Redis(port=private_redis.port).keys(PREFIX + "*"))
    done, _ = _timed_login(app)
    assert _logged_in(done)
    assert state.shared_cache.breaker.state() == "closed"
    keys_after = set(redis.Redis(port=private_redis.port).keys(PREFIX + "*"))
    assert keys_after - keys_before  # the login's replay mark went to Redis again
    assert len(fake_wecom.calls_to(GETTOKEN)) == 1  # the token written before the freeze is still there


@pytest.mark.timeout(60)
def test_redis_down_one_gettoken_per_process_then_recovers(fake_wecom, tmp_path, private_redis):
    corp, userid = fake_wecom.corp, fake_wecom.corp.members[0].userid
    workers = [_redis_app(fake_wecom, tmp_path, private_redis.url, name) for name in ("w1", "w2")]
    for app in workers:
        _quick_breaker(app)
    private_redis.kill()

    def api_calls(app, n):
        state = app.extensions["wecom"]
        with app.app_context():
            source = state.provider.corp_token(corp.corp_id)
            started = time.monotonic()
            for _ in range(n):
                assert state.client.get_user(source, userid)["userid"] == userid
            return time.monotonic() - started

    assert api_calls(workers[0], 20) < 3
    assert len(fake_wecom.calls_to(GETTOKEN)) == 1  # 20 API calls, one gettoken
    assert api_calls(workers[1], 20) < 3
    assert len(fake_wecom.calls_to(GETTOKEN)) == 2  # another process: its own single fetch
    assert api_calls(workers[0], 5) < 1 and len(fake_wecom.calls_to(GETTOKEN)) == 2

    private_redis.start()  # back, empty (no persistence), on the same port
    time.sleep(1.1)
    api_calls(workers[0], 3)
    assert workers[0].extensions["wecom"].shared_cache.breaker.state() == "closed"
    assert len(fake_wecom.calls_to(GETTOKEN)) == 3  # refetched once: tokens are not written back
    api_calls(workers[1], 3)
    assert workers[1].extensions["wecom"].shared_cache.breaker.state() == "closed"
    assert len(fake_wecom.calls_to(GETTOKEN)) == 3  # the other process reads it from Redis again


def test_cache_directory_replaced_by_a_file_keeps_logins_working(fake_wecom, tmp_path):
    cache_dir = tmp_path / "fs-cache"
    app = make_app(fake_wecom, tmp_path, "internal", WECOM_CACHE_DIR=str(cache_dir))
    state = app.extensions["wecom"]
    assert type(state.cache_backend).__name__ == "FileSystemCache"
    _quick_breaker(app)
    done, _ = _timed_login(app)
    assert _logged_in(done) and len(fake_wecom.calls_to(GETTOKEN)) == 1

    shutil.rmtree(cache_dir)
    cache_dir.write_text("not a directory any more")  # every open() below it: NotADirectoryError
    for _ in range(3):
        done, _ = _timed_login(app)
        assert _logged_in(done), done.get_data(as_text=True)[:1000]
    assert state.shared_cache.breaker.state() in ("open", "probing")
    assert len(fake_wecom.calls_to(GETTOKEN)) == 1  # the process kept its copy

    cache_dir.unlink()
    cache_dir.mkdir()
    time.sleep(1.1)
    done, _ = _timed_login(app)
    assert _logged_in(done) and state.shared_cache.breaker.state() == "closed"
    assert any(cache_dir.iterdir())  # written to disk again


def test_cold_start_on_a_broken_cache_directory_fetches_once(fake_wecom, tmp_path):
    cache_dir = tmp_path / "fs-cache"
    app = make_app(fake_wecom, tmp_path, "internal", WECOM_CACHE_DIR=str(cache_dir))
    shutil.rmtree(cache_dir)
    cache_dir.write_text("x")  # broken before the first token: the file lock cannot be taken either
    for _ in range(5):
        done, _ = _timed_login(app)
        assert _logged_in(done), done.get_data(as_text=True)[:1000]
    assert len(fake_wecom.calls_to(GETTOKEN)) == 1


def test_an_unusable_cache_directory_at_start_keeps_the_app_up(fake_wecom, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    app = make_app(fake_wecom, tmp_path, "internal", WECOM_CACHE_DIR=str(blocker / "cache"))
    assert type(app.extensions["wecom"].cache_backend).__name__ == "SimpleCache"
    assert "cannot use the directory" in caplog.text
    for _ in range(3):
        done, _ = _timed_login(app)
        assert _logged_in(done)
    assert len(fake_wecom.calls_to(GETTOKEN)) == 1


# -- the breaker itself ---------------------------------------------------------------------------


class _Flaky:
    """A cachelib-like backend that raises while ``down``; counts the calls that reached it."""

    def __init__(self):
        self.down = False
        self.calls = 0
        self.data = {}

    def _hit(self):
        self.calls += 1
        if self.down:
            raise ConnectionError("down")

    def get(self, key):
        self._hit()
        return self.data.get(key)

    def set(self, key, value, timeout=None):
        self._hit()
        self.data[key] = value
        return True

    def add(self, key, value, timeout=None):
        self._hit()
        return self.data.setdefault(key, value) is value

    def delete(self, key):
        self._hit()
        return self.data.pop(key, None) is not None


def test_breaker_skips_then_probes_once_and_doubles_its_cooldown():
    now = [0.0]
    inner = _Flaky()
    cache = GuardedCache(inner, breaker=CircuitBreaker(first_cooldown=5, max_cooldown=30, clock=lambda: now[0]))
    cache.set("k", "v", timeout=60)
    inner.down = True
    assert cache.get("k") == "v"  # failed: answered from this process's memory
    calls = inner.calls
    for _ in range(10):
        assert cache.get("k") == "v" and cache.add("other", 1, timeout=60) in (True, False)
    assert inner.calls == calls  # open: the backend is not touched
    cooldowns = []
    for _ in range(5):
        opened = now[0]
        while cache.breaker.allow() is None:
            now[0] += 1
        cache.breaker.failed("still down")  # the probe this caller was granted failed
        cooldowns.append(now[0] - opened)
    assert cooldowns == [5, 10, 20, 30, 30]
    inner.down = False
    now[0] += 30
    assert cache.get("k") == "v" and cache.breaker.state() == "closed"  # probe succeeded: back to the backend
    inner.data.clear()
    assert cache.get("k") is None  # a miss in a healthy backend is a miss (another worker may have dropped it)


def test_only_one_caller_probes():
    now = [0.0]
    inner = _Flaky()
    cache = GuardedCache(inner, breaker=CircuitBreaker(first_cooldown=1, clock=lambda: now[0]))
    inner.down = True
    cache.get("k")
    now[0] += 1
    assert cache.breaker.allow() == "probe"
    assert cache.breaker.allow() is None and cache.breaker.state() == "probing"
    cache.breaker.succeeded()
    assert cache.breaker.allow() == "call"


def test_redis_down_20_threads_cold_one_fetch(tmp_path):
    """Single flight still holds inside a process when the Redis lock cannot be taken."""
    import threading

    from cachelib import RedisCache

    from flask_wecom.cacheguard import redis_options
    from flask_wecom.tokens import TokenManager

    server = PrivateRedis(str(tmp_path))  # a free port nobody listens on: connection refused
    manager = TokenManager(RedisCache(host=redis.Redis(port=server.port, **redis_options())))
    assert manager.lock_kind == "cache-add"
    calls, results = [], []

    def fetch():
        calls.append(1)
        time.sleep(0.2)
        return "tok", 7200

    def worker():
        results.append(manager.get("corp", "ww1|-", fetch))

    threads = [threading.Thread(target=worker) for _ in range(20)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == ["tok"] * 20 and len(calls) == 1
    assert time.monotonic() - started < 2
