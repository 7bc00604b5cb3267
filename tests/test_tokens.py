"""TokenManager: TTL margin, refresh-ahead, stale-safe invalidation, single flight across
threads and processes (SimpleCache, FileSystemCache, real Redis)."""
from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
import uuid

import pytest
from cachelib import FileSystemCache, RedisCache, SimpleCache
from client_stub import Reply, StubWeCom
from conftest import FrozenClock

from flask_wecom.client import WeComClient
from flask_wecom.errors import (
    ConfigError,
    CorpNotFoundError,
    NoSuiteTicketError,
    TransportError,
    WeComAPIError,
)
from flask_wecom.tokens import (
    CorpTokenSource,
    SuiteTokenSource,
    ThirdPartyCorpTokenSource,
    TokenManager,
    TokenSource,
)

CORP_ID = "wwcorp0123456789ab"
AGENT_ID = 1000002
SECRET = "SeCrEt-corp-0123456789abcdefghijklmnop"
SUITE_ID = "dk0123456789abcdef"
SUITE_SECRET = "SuItE-secret-9876543210zyxwvutsrqp"
TICKET = "TiCkEt-0123456789-abcdefghijklmnopqrstuv"
GETTOKEN = "/cgi-bin/gettoken"


class Fetcher:
    """fetch() -> (token, expires_in) with a counter; tokens tok1, tok2, …"""

    def __init__(self, expires_in=7200, delay=0.0, gate=None, error=None):
        self.count = 0
        self.expires_in = expires_in
        self.delay = delay
        self.gate = gate  # threading.Event the fetch waits on
        self.error = error
        self.lock = threading.Lock()
        self.started = threading.Event()

    def __call__(self):
        with self.lock:
            self.count += 1
            n = self.count
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10), "test gate never opened"
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return f"tok{n}", self.expires_in


@pytest.fixture
def clock():
    """Frozen time for the token manager alone (the conftest ``clock`` runs with real time)."""
    return FrozenClock()


def run_threads(n, target, timeout=10):
    results, errors = [], []
    barrier = threading.Barrier(n)

    def run():
        try:
            barrier.wait(timeout)
            results.append(target())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread hung"
    return results, errors


# -- backends ----------------------------------------------------------------------------------


def redis_backend(url, prefix):
    import redis

    return RedisCache(host=redis.Redis.from_url(url), key_prefix=prefix)


@pytest.fixture
def redis_prefix(redis_url):
    import redis

    prefix = f"wecom-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    r = redis.Redis.from_url(redis_url)
    keys = list(r.scan_iter(prefix + "*"))
    if keys:
        r.delete(*keys)


@pytest.fixture(params=["simple", "filesystem", "redis", "flask_caching_redis", "flask_caching_filesystem"])
def backend(request, tmp_path):
    kind = request.param
    if kind == "simple":
        return SimpleCache()
    if kind == "filesystem":
        return FileSystemCache(str(tmp_path / "cache"))
    if kind == "flask_caching_filesystem":
        from flask_caching.backends import FileSystemCache as FCFileSystemCache

        return FCFileSystemCache(str(tmp_path / "fc-cache"))
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    if kind == "redis":
        return redis_backend(url, prefix)
    import redis
    from flask_caching.backends import RedisCache as FCRedisCache

    return FCRedisCache(host=redis.Redis.from_url(url), key_prefix=prefix)


EXPECTED_LOCK = {
    "SimpleCache": "thread",
    "FileSystemCache": "flock",
    "RedisCache": "cache-add",
}


def test_lock_kind_per_backend(backend):
    manager = TokenManager(backend)
    assert manager.lock_kind == EXPECTED_LOCK[type(backend).__name__]
    assert type(backend).__name__ in repr(manager)


def test_unknown_and_null_backends_use_an_in_process_lock():
    from cachelib import NullCache

    class Custom:
        def __init__(self):
            self.data = {}

        def get(self, key):
            return self.data.get(key)

        def set(self, key, value, timeout=None):
            self.data[key] = value

        def add(self, key, value, timeout=None):
            return self.data.setdefault(key, value) is value

        def delete(self, key):
            self.data.pop(key, None)

    assert TokenManager(NullCache()).lock_kind == "thread"
    manager = TokenManager(Custom())
    assert manager.lock_kind == "thread"
    assert manager.get("corp", "x|1", Fetcher()) == "tok1"


def test_get_caches_and_peek_never_shows_the_token(backend, clock):
    manager = TokenManager(backend, clock=clock, background=False)
    fetch = Fetcher()
    assert manager.get("corp", f"{CORP_ID}|{AGENT_ID}", fetch) == "tok1"
    assert manager.get("corp", f"{CORP_ID}|{AGENT_ID}", fetch) == "tok1"
    assert fetch.count == 1
    assert manager.peek("corp", f"{CORP_ID}|{AGENT_ID}") == {"expires_at": clock.now + 7200, "fetched_at": clock.now}
    assert manager.peek("corp", "other|1") is None
    # namespaced per kind and owner
    assert manager.get("suite", SUITE_ID, fetch) == "tok2"
    assert manager.get("corp", f"{CORP_ID}|9", fetch) == "tok3"
    assert backend.get(f"token|corp|{CORP_ID}|{AGENT_ID}")["token"] == "tok1"


def test_invalidate_is_stale_safe(backend, clock):
    manager = TokenManager(backend, clock=clock, background=False)
    fetch = Fetcher()
    owner = f"{CORP_ID}|{AGENT_ID}"
    assert manager.get("corp", owner, fetch) == "tok1"
    manager.invalidate("corp", owner, stale="some-older-token")
    assert manager.get("corp", owner, fetch) == "tok1" and fetch.count == 1  # kept
    manager.invalidate("corp", owner, stale="tok1")
    assert manager.peek("corp", owner) is None
    assert manager.get("corp", owner, fetch) == "tok2"
    # a second caller that also saw tok1 rejected must not drop tok2
    manager.invalidate("corp", owner, stale="tok1")
    assert manager.get("corp", owner, fetch) == "tok2" and fetch.count == 2
    manager.invalidate("corp", owner)  # unconditional
    assert manager.peek("corp", owner) is None
    manager.invalidate("corp", "never-cached")  # no error


# -- TTL margin and refresh-ahead -----------------------------------------------------------------


def test_ttl_margin(clock):
    manager = TokenManager(SimpleCache(), margin=300, refresh_ahead=0, clock=clock, background=False)
    fetch = Fetcher()
    assert manager.get("corp", "c|1", fetch) == "tok1"
    clock.advance(6899)
    assert manager.get("corp", "c|1", fetch) == "tok1" and fetch.count == 1
    clock.advance(1)  # 7200 - 300: dropped
    assert manager.get("corp", "c|1", fetch) == "tok2" and fetch.count == 2


def test_backend_ttl_is_expires_in_minus_margin():
    backend = SimpleCache()
    manager = TokenManager(backend, margin=300)
    before = time.time()
    manager.get("corp", "c|1", Fetcher())
    expires, _ = backend._cache["token|corp|c|1"]
    assert before + 6900 - 1 <= expires <= time.time() + 6900 + 1


def test_short_lives_scale_margin_and_window(clock):
    manager = TokenManager(SimpleCache(), margin=300, refresh_ahead=600, clock=clock, background=False)
    fetch = Fetcher(expires_in=100)
    assert manager.get("corp", "c|1", fetch) == "tok1"
    clock.advance(24)  # margin -> 50 s, usable for 50 s, window -> 25 s: still fresh
    assert manager.get("corp", "c|1", fetch) == "tok1" and fetch.count == 1
    clock.advance(2)  # inside the window: refreshed (inline)
    assert manager.get("corp", "c|1", fetch) == "tok2" and fetch.count == 2


def test_refresh_ahead_in_background_nobody_waits(clock):
    manager = TokenManager(SimpleCache(), margin=300, refresh_ahead=600, clock=clock)
    gate = threading.Event()
    fetch = Fetcher()
    assert manager.get("corp", "c|1", fetch) == "tok1"
    clock.advance(6299)
    assert manager.get("corp", "c|1", fetch) == "tok1" and fetch.count == 1  # not yet in the window
    fetch.gate = gate  # from now on WeCom "hangs" until we open the gate
    clock.advance(2)  # 6301: in the last 600 s before the margin
    started = time.monotonic()
    results, errors = run_threads(16, lambda: manager.get("corp", "c|1", fetch))
    assert not errors
    assert results == ["tok1"] * 16  # everyone got the still-valid token …
    assert time.monotonic() - started < 2  # … at once, although the refresh is blocked
    assert fetch.started.wait(5)
    assert fetch.count == 2  # exactly one refresh
    gate.set()
    manager.join(5)
    assert manager.get("corp", "c|1", fetch) == "tok2" and fetch.count == 2
    assert manager.peek("corp", "c|1")["fetched_at"] == clock.now


def test_refresh_ahead_inline_winner_refreshes_others_do_not_wait(clock):
    manager = TokenManager(SimpleCache(), margin=300, refresh_ahead=600, clock=clock, background=False)
    fetch = Fetcher()
    manager.get("corp", "c|1", fetch)
    clock.advance(6400)
    fetch.gate = threading.Event()
    winner = []
    t = threading.Thread(target=lambda: winner.append(manager.get("corp", "c|1", fetch)))
    t.start()
    assert fetch.started.wait(5)
    # while the winner is inside fetch(), other callers get the current token immediately
    started = time.monotonic()
    assert [manager.get("corp", "c|1", fetch) for _ in range(5)] == ["tok1"] * 5
    assert time.monotonic() - started < 1
    fetch.gate.set()
    t.join(5)
    assert winner == ["tok2"] and fetch.count == 2


def test_failed_refresh_ahead_keeps_the_current_token(clock, caplog):
    manager = TokenManager(SimpleCache(), margin=300, refresh_ahead=600, clock=clock, background=False)
    fetch = Fetcher()
    manager.get("corp", "c|1", fetch)
    clock.advance(6500)
    fetch.error = WeComAPIError(45009, "api freq out of limit", "rate limited", path=GETTOKEN)
    with caplog.at_level(logging.WARNING, logger="flask_wecom.tokens"):
        assert manager.get("corp", "c|1", fetch) == "tok1"
    assert "45009" in caplog.text
    clock.advance(400)  # past use_until: now the failure is the caller's
    with pytest.raises(WeComAPIError):
        manager.get("corp", "c|1", fetch)


def test_refresh_ahead_skips_when_already_refreshed(clock):
    backend = SimpleCache()
    manager = TokenManager(backend, clock=clock, background=False)
    fetch = Fetcher()
    manager.get("corp", "c|1", fetch)
    clock.advance(6500)
    entry = backend.get("token|corp|c|1")
    # another worker refreshes between our read and our lock
    backend.set("token|corp|c|1", {"token": "other", "expires_at": clock.now + 7200, "fetched_at": clock.now})
    assert manager._refresh_ahead("corp", "c|1", "token|corp|c|1", entry, fetch) == "other"
    assert fetch.count == 1


# -- single flight within one process ---------------------------------------------------------------


def test_cold_start_threads_fetch_once(backend):
    manager = TokenManager(backend)
    fetch = Fetcher(delay=0.05)
    results, errors = run_threads(16, lambda: manager.get("corp", "c|1", fetch))
    assert not errors and results == ["tok1"] * 16
    assert fetch.count == 1


def test_fetch_failure_reaches_every_waiter_with_one_call(clock):
    manager = TokenManager(SimpleCache(), clock=clock)
    fetch = Fetcher(delay=0.1, error=WeComAPIError(60020, "from ip: 1.2.3.4", "add 1.2.3.4", path=GETTOKEN))
    results, errors = run_threads(8, lambda: manager.get("corp", "c|1", fetch))
    assert results == [] and len(errors) == 8
    assert all(isinstance(e, WeComAPIError) and e.errcode == 60020 and e.path == GETTOKEN for e in errors)
    assert fetch.count == 1
    # the next caller (after the failure) tries again itself
    fetch.error = None
    assert manager.get("corp", "c|1", fetch) == "tok2"


def test_non_wecom_failure_note_is_generic():
    manager = TokenManager(SimpleCache())
    fetch = Fetcher(delay=0.1, error=KeyError("secret-ish detail"))
    results, errors = run_threads(4, lambda: manager.get("corp", "c|1", fetch))
    assert fetch.count == 1
    kinds = sorted(type(e).__name__ for e in errors)
    assert kinds == ["KeyError", "WeComError", "WeComError", "WeComError"]
    assert all("secret-ish" not in str(e) for e in errors if not isinstance(e, KeyError))


def test_waiting_is_bounded():
    manager = TokenManager(SimpleCache(), wait_timeout=0.2)
    held = manager._locker.try_lock("corp|c|1")  # another worker holds the lock and never finishes
    try:
        started = time.monotonic()
        with pytest.raises(TransportError, match="waiting for another worker"):
            manager.get("corp", "c|1", Fetcher())
        assert time.monotonic() - started < 2
    finally:
        held.release()


def test_cache_add_lock_expires_and_is_owner_checked(redis_url, redis_prefix):
    backend = redis_backend(redis_url, redis_prefix)
    manager = TokenManager(backend, lock_timeout=1)
    held = manager._locker.try_lock("corp|c|1")
    assert held is not None and manager._locker.try_lock("corp|c|1") is None
    time.sleep(1.2)  # the holder died: its lock expires
    second = manager._locker.try_lock("corp|c|1")
    assert second is not None
    held.release()  # the first holder's late release must not free the second holder's lock
    assert manager._locker.try_lock("corp|c|1") is None
    second.release()
    assert manager._locker.try_lock("corp|c|1") is not None


@pytest.mark.parametrize("kind", ["cachelib", "flask_caching"])
def test_redis_lock_is_one_atomic_set_with_a_ttl(redis_url, redis_prefix, kind):
    """RedisCache.add is SETNX then EXPIRE: a worker killed in between would leave a lock without a
    TTL and every worker would wait for a token forever. The lock is one SET NX EX instead."""
    import redis
    from flask_caching.backends import RedisCache as FCRedisCache

    cls = RedisCache if kind == "cachelib" else FCRedisCache
    backend = cls(host=redis.Redis.from_url(redis_url), key_prefix=redis_prefix)
    client, commands = backend._write_client, []

    class Spy:
        def __getattr__(self, name):
            commands.append(name)
            return getattr(client, name)

    backend._write_client = Spy()
    manager = TokenManager(backend, lock_timeout=5)
    held = manager._locker.try_lock("corp|c|1")
    assert held is not None and manager._locker.try_lock("corp|c|1") is None
    assert "set" in commands and "setnx" not in commands and "expire" not in commands
    key = f"{redis_prefix}lock|corp|c|1"
    assert 0 < client.ttl(key) <= 5
    held.release()  # the owner check reads the lock back through the backend
    assert not client.exists(key)


def test_filesystem_lock_file_survives_clear_and_is_not_a_cache_entry(tmp_path):
    backend = FileSystemCache(str(tmp_path / "c"), threshold=2)
    manager = TokenManager(backend)
    held = manager._locker.try_lock("corp|c|1")
    path = manager._locker.path("corp|c|1")
    assert os.path.dirname(path) == str(tmp_path / "c") and path.endswith(".__wz_cache")
    backend.clear()
    for i in range(5):  # prune runs over the threshold
        backend.set(f"k{i}", i)
    assert os.path.exists(path)
    assert manager._locker.try_lock("corp|c|1") is None  # still held (same inode)
    held.release()
    assert manager.get("corp", "c|1", Fetcher()) == "tok1"


def test_cache_errors_degrade_to_uncached_fetches(caplog):
    class Broken(RedisCache):
        def __init__(self):
            pass

        def get(self, key):
            raise ConnectionError("redis down")

        def set(self, key, value, timeout=None):
            raise ConnectionError("redis down")

        def add(self, key, value, timeout=None):
            raise ConnectionError("redis down")

        def delete(self, key):
            raise ConnectionError("redis down")

    manager = TokenManager(Broken())
    fetch = Fetcher()
    with caplog.at_level(logging.WARNING, logger="flask_wecom.tokens"):
        assert manager.get("corp", "c|1", fetch) == "tok1"
        manager.invalidate("corp", "c|1")
    assert "ConnectionError" in caplog.text


def test_bad_fetch_results_are_errors():
    manager = TokenManager(SimpleCache())
    with pytest.raises(TransportError):
        manager.get("corp", "c|1", lambda: ("", 7200))
    with pytest.raises(TransportError):
        manager.get("corp", "c|2", lambda: ("tok", "soon"))


# -- token sources over real HTTP --------------------------------------------------------------------


def test_corp_token_source_keys_never_contain_the_secret(stub):
    backend = SimpleCache()
    manager = TokenManager(backend)
    client = WeComClient(stub.url)
    stub.answer(GETTOKEN, {"errcode": 0, "errmsg": "ok", "access_token": "T1", "expires_in": 7200})
    source = CorpTokenSource(client, manager, CORP_ID, lambda: SECRET, agent_id=AGENT_ID)
    assert isinstance(source, TokenSource)
    assert source.param == "access_token" and source.expired_codes == {40014, 42001}
    assert source.get() == "T1" and source.get() == "T1"
    assert stub.count(GETTOKEN) == 1
    assert stub.calls[0].args == {"corpid": CORP_ID, "corpsecret": SECRET}
    assert list(backend._cache) == [f"token|corp|{CORP_ID}|{AGENT_ID}"]
    assert SECRET not in repr(source) and SECRET[:8] not in repr(backend._cache)
    assert source.peek()["expires_at"] > time.time()
    source.invalidate("T1")
    assert source.peek() is None
    assert CorpTokenSource(client, manager, CORP_ID, SECRET).owner == f"{CORP_ID}|-"
    client.close()


def test_corp_token_source_without_secret(stub):
    source = CorpTokenSource(WeComClient(stub.url), TokenManager(SimpleCache()), CORP_ID, lambda: None)
    with pytest.raises(CorpNotFoundError):
        source.get()
    with pytest.raises(ConfigError):
        CorpTokenSource(None, TokenManager(SimpleCache()), "", SECRET)


def test_suite_token_source(stub):
    client = WeComClient(stub.url)
    manager = TokenManager(SimpleCache())
    stub.answer("/cgi-bin/service/get_suite_token", {"suite_access_token": "ST1", "expires_in": 7200})
    tickets = [None]
    suite = SuiteTokenSource(client, manager, SUITE_ID, SUITE_SECRET, lambda: tickets[0])
    assert suite.param == "suite_access_token" and suite.expired_codes == {40082, 42009}
    with pytest.raises(NoSuiteTicketError):
        suite.get()
    assert stub.count("/cgi-bin/service/get_suite_token") == 0
    tickets[0] = TICKET
    assert suite.get() == "ST1"
    assert stub.calls[0].json == {"suite_id": SUITE_ID, "suite_secret": SUITE_SECRET, "suite_ticket": TICKET}
    assert SUITE_SECRET not in repr(suite) and suite.owner == SUITE_ID
    client.close()


def test_third_party_corp_token_source(stub):
    client = WeComClient(stub.url)
    manager = TokenManager(SimpleCache())
    stub.answer("/cgi-bin/service/get_suite_token", {"suite_access_token": "ST1", "expires_in": 7200})
    stub.answer("/cgi-bin/service/get_corp_token", {"access_token": "CT1", "expires_in": 7200})
    suite = SuiteTokenSource(client, manager, SUITE_ID, SUITE_SECRET, lambda: TICKET)
    corp = ThirdPartyCorpTokenSource(client, manager, suite, CORP_ID, lambda: SECRET, agent_id=7)
    assert corp.get() == "CT1"
    (call,) = stub.calls_to("/cgi-bin/service/get_corp_token")
    assert call.args == {"suite_access_token": "ST1"}
    assert call.json == {"auth_corpid": CORP_ID, "permanent_code": SECRET}
    assert corp.owner == f"{CORP_ID}|7" and corp.kind == "corp_3rd"
    # a source without a suite can still drop the cached token, but not fetch
    dropper = ThirdPartyCorpTokenSource(client, manager, None, CORP_ID, lambda: "", agent_id=7)
    assert dropper.peek() is not None
    dropper.invalidate(None)
    assert corp.peek() is None
    with pytest.raises(ConfigError):
        dropper.get()
    client.close()


def test_wecom_errors_from_the_source_propagate(stub):
    client = WeComClient(stub.url)
    stub.answer(GETTOKEN, {"errcode": 40001, "errmsg": "invalid credential"})
    source = CorpTokenSource(client, TokenManager(SimpleCache()), CORP_ID, SECRET, agent_id=AGENT_ID)
    with pytest.raises(WeComAPIError) as info:
        source.get()
    assert info.value.errcode == 40001 and SECRET not in str(info.value)
    client.close()


def test_missing_token_field_is_a_transport_error(stub):
    client = WeComClient(stub.url)
    stub.answer(GETTOKEN, {"errcode": 0, "errmsg": "ok"})
    source = CorpTokenSource(client, TokenManager(SimpleCache()), CORP_ID, SECRET)
    with pytest.raises(TransportError, match="access_token"):
        source.get()
    client.close()



@pytest.mark.parametrize("expires_in", ["soon", None, float("inf"), float("nan")])
def test_unusable_expires_in_is_a_transport_error(stub, expires_in):
    client = WeComClient(stub.url)
    stub.answer(GETTOKEN, {"errcode": 0, "errmsg": "ok", "access_token": "tok", "expires_in": expires_in})
    source = CorpTokenSource(client, TokenManager(SimpleCache()), CORP_ID, SECRET)
    with pytest.raises(TransportError, match="expires_in"):
        source.get()
    client.close()


# -- single flight across processes -------------------------------------------------------------------


PROCESSES = 4
THREADS = 8


def _make_backend(spec):
    """The backend a worker of a real app gets: a Flask-Caching ``Cache`` configured like WECOM_CACHE_*."""
    from flask import Flask
    from flask_caching import Cache

    kind, where, prefix = spec
    if kind == "redis":
        config = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": where, "CACHE_KEY_PREFIX": prefix}
    else:
        config = {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": where}
    app = Flask(__name__)
    cache = Cache(app, config=config)
    return app.extensions["cache"][cache]


def _mp_worker(spec, api_base, barrier, queue):  # runs in a child process
    try:
        client = WeComClient(api_base, timeout=(2.0, 5.0))
        manager = TokenManager(_make_backend(spec), wait_timeout=20)
        assert manager.lock_kind == ("cache-add" if spec[0] == "redis" else "flock"), manager.lock_kind
        source = CorpTokenSource(client, manager, CORP_ID, SECRET, agent_id=AGENT_ID)
        barrier.wait(30)  # every process is ready: start cold, all at once
        results, errors = run_threads(THREADS, source.get, timeout=30)
        queue.put(("ok", os.getpid(), results, [repr(e) for e in errors]))
    except BaseException as exc:  # noqa: BLE001
        queue.put(("crash", os.getpid(), [], [repr(exc)]))


def _run_processes(spec):
    server = StubWeCom()
    server.start()
    server.answer(GETTOKEN, Reply({"errcode": 0, "errmsg": "ok", "access_token": "MP-TOKEN", "expires_in": 7200},
                                  delay=0.05))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_mp_worker, args=(spec, server.url, barrier, queue)) for _ in range(PROCESSES)]
    try:
        for p in procs:
            p.start()
        reports = [queue.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(10)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        server.stop()
    return reports, server.count(GETTOKEN)


def _check(reports, gettoken_calls):
    assert all(status == "ok" and not errors for status, _, _, errors in reports), reports
    tokens = [t for _, _, results, _ in reports for t in results]
    assert tokens == ["MP-TOKEN"] * (PROCESSES * THREADS)
    assert len({pid for _, pid, _, _ in reports}) == PROCESSES
    assert gettoken_calls == 1


@pytest.mark.timeout(90)
def test_multiprocess_cold_start_calls_gettoken_once_redis(redis_url, redis_prefix):
    reports, calls = _run_processes(("redis", redis_url, redis_prefix))
    _check(reports, calls)


@pytest.mark.timeout(90)
def test_multiprocess_cold_start_calls_gettoken_once_filesystem(tmp_path):
    reports, calls = _run_processes(("filesystem", str(tmp_path / "fs-cache"), ""))
    _check(reports, calls)
