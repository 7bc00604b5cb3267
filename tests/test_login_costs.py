"""Issue 12, login: what a login costs, counted — never timed.

- ``user/get`` and ``auth/getuserdetail`` are made at the same time (their requests overlap at the fake,
  seen from the start and end of each call in ``fake.calls``), in a bounded per-process pool, with the
  same failure pages as when they were made one after the other;
- one login reads the token once, and lists no corps when the corp is known (SQLAlchemy listener);
- the OAuth state's used marker is one atomic operation on every cache backend;
- a 代开发 login's ``agent/get_permissions`` is kept per corp in the token cache.

Logins run over real HTTP against a served FakeWeCom; Redis is the machine's (a key prefix of its own).
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from cachelib import FileSystemCache, RedisCache, SimpleCache
from login_support import (
    BROWSER_UA,
    WXWORK_UA,
    back_to_app,
    confirm,
    login,
    make_app,
    raw_cookie,
    session_data,
    start_login,
)
from test_login_failures import assert_failure_page

from flask_wecom import oauth
from flask_wecom.cacheguard import GuardedCache
from flask_wecom.login import SESSION_KEY
from flask_wecom.marks import FOLDER, UsedMarks

USER_GET = "/cgi-bin/user/get"
DETAIL = "/cgi-bin/auth/getuserdetail"
DETAIL_3RD = "/cgi-bin/service/auth/getuserdetail3rd"
PERMISSIONS = "/cgi-bin/agent/get_permissions"


class Meeting:
    """Holds each request to ``paths`` at the fake until every one of them has arrived (at most ``wait``
    seconds): made at the same time they pass at once; made one after the other, the first waits in vain
    and they do not overlap."""

    def __init__(self, fake, monkeypatch, paths, wait: float = 5.0, on_meeting=None) -> None:
        self.arrived = {path: threading.Event() for path in paths}
        original = fake.app._respond
        met = threading.Lock()
        done: list = []

        def respond(request, ip, path, call):
            if path in self.arrived:
                self.arrived[path].set()
                for event in self.arrived.values():
                    event.wait(wait)
                if on_meeting is not None:
                    with met:  # once, when all have arrived and before any is answered
                        if not done:
                            done.append(on_meeting())
            return original(request, ip, path, call)

        monkeypatch.setattr(fake.app, "_respond", respond)


def _only(fake, path):
    calls = fake.calls_to(path)
    assert len(calls) == 1, [c.path for c in fake.calls]
    return calls[0]


def _overlap(a, b) -> bool:
    """Both requests arrived before either answer was ready."""
    return a.time < b.ended and b.time < a.ended


# -- user/get and getuserdetail at the same time ------------------------------------------------------


@pytest.mark.parametrize("mode", ["internal", "customized"])
def test_user_get_and_getuserdetail_are_made_at_the_same_time(fake_wecom, tmp_path, monkeypatch, mode):
    app = make_app(fake_wecom, tmp_path, mode)
    Meeting(fake_wecom, monkeypatch, (USER_GET, DETAIL))
    client = app.test_client()
    assert login(client, ua=WXWORK_UA).location == "/profile"
    member, detail = _only(fake_wecom, USER_GET), _only(fake_wecom, DETAIL)
    info = _only(fake_wecom, "/cgi-bin/auth/getuserinfo")
    assert info.ended <= member.time and info.ended <= detail.time  # both need getuserinfo's answer
    assert _overlap(member, detail), (member.time, member.ended, detail.time, detail.ended)
    record = session_data(app, client)[SESSION_KEY]
    person = fake_wecom.corp.members[0]
    assert record["name"] == person.name and record["email"] == person.email  # one from each call


@pytest.mark.fake_wecom(app_type="third_party")
def test_third_party_user_get_and_getuserdetail3rd_are_made_at_the_same_time(fake_wecom, tmp_path, monkeypatch):
    app = make_app(fake_wecom, tmp_path, "third_party")
    Meeting(fake_wecom, monkeypatch, (USER_GET, DETAIL_3RD))
    client = app.test_client()
    assert login(client, ua=WXWORK_UA).location == "/profile"
    assert _overlap(_only(fake_wecom, USER_GET), _only(fake_wecom, DETAIL_3RD))
    record = session_data(app, client)[SESSION_KEY]
    assert record["open_userid"] == fake_wecom.corp.members[0].open_userid and "email" not in record


def test_a_busy_pool_makes_the_calls_one_after_the_other(fake_wecom, tmp_path, monkeypatch):
    """Bounded: with no free thread the login does not queue, it makes both calls itself, as before."""
    monkeypatch.setattr(oauth, "_pool", oauth._LoginPool(0))
    app = make_app(fake_wecom, tmp_path, "internal")
    client = app.test_client()
    assert login(client, ua=WXWORK_UA).location == "/profile"
    member, detail = _only(fake_wecom, USER_GET), _only(fake_wecom, DETAIL)
    assert member.ended <= detail.time  # user/get first, then getuserdetail
    assert session_data(app, client)[SESSION_KEY]["email"] == fake_wecom.corp.members[0].email


def test_many_logins_use_at_most_the_pool_s_threads(fake_wecom, tmp_path, monkeypatch):
    monkeypatch.setattr(oauth, "_pool", oauth._LoginPool(2))
    app = make_app(fake_wecom, tmp_path, "internal")
    login(app.test_client(), ua=WXWORK_UA)  # warm: the token
    fake_wecom.slow(DETAIL, 0.05, times=None)
    results = []

    def one():
        results.append(login(app.test_client(), ua=WXWORK_UA).location)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == ["/profile"] * 6
    assert 1 <= len(oauth._pool._executor._threads) <= 2
    assert len(fake_wecom.calls_to(DETAIL)) == 7 and len(fake_wecom.calls_to(USER_GET)) == 7  # each sent once


def test_the_pool_is_made_again_in_a_forked_child(monkeypatch):
    pool = oauth._LoginPool(2)
    assert pool.submit(lambda: 1).result(5) == 1
    parent = pool._executor
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as in a child after fork: the parent's threads are gone
    assert pool.submit(lambda: 2).result(5) == 2
    assert pool._executor is not parent


def test_both_calls_failing_show_user_get_s_failure_as_before(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, "internal")
    login(app.test_client(), ua=WXWORK_UA)
    fake_wecom.fail(USER_GET, 60020)  # IP whitelist: 502
    fake_wecom.fail(DETAIL, 60011)  # not visible: 403
    response = login(app.test_client(), ua=WXWORK_UA)
    assert_failure_page(response, "ip_not_whitelisted", 502, errcode=60020)
    assert len(fake_wecom.calls_to(DETAIL)) == 2  # sent once for this login, never again


def test_getuserdetail_failing_alone_shows_its_failure(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, "internal")
    fake_wecom.fail(DETAIL, 60011)
    assert_failure_page(login(app.test_client(), ua=WXWORK_UA), "not_visible", 403, errcode=60011)
    assert len(fake_wecom.calls_to(USER_GET)) == 1 and len(fake_wecom.calls_to(DETAIL)) == 1


def test_an_expired_token_seen_by_both_calls_is_fetched_once(fake_wecom, tmp_path, monkeypatch):
    """The token expires at WeCom while both calls are on their way: both get 42001, each retries once with
    the new token; one gettoken between them. (A real expiry: gettoken then issues a new token, doc 97164.)"""
    app = make_app(fake_wecom, tmp_path, "internal")
    login(app.test_client(), ua=WXWORK_UA)
    Meeting(fake_wecom, monkeypatch, (USER_GET, DETAIL), on_meeting=fake_wecom.expire_access_tokens)
    client = app.test_client()
    assert login(client, ua=WXWORK_UA).location == "/profile"
    assert len(fake_wecom.calls_to("/cgi-bin/gettoken")) == 2
    assert [c.errcode for c in fake_wecom.calls_to(DETAIL)] == [0, 42001, 0]
    assert session_data(app, client)[SESSION_KEY]["email"] == fake_wecom.corp.members[0].email


# -- one token read, no list of corps ------------------------------------------------------------


class Reads:
    """Counts the token cache's reads by key kind (``token``, ``tokenblock``, ``agentperms`` …)."""

    def __init__(self, app, monkeypatch) -> None:
        cache = app.extensions["wecom"].shared_cache
        self.keys: list = []
        original = cache.get

        def get(key):
            self.keys.append(key)
            return original(key)

        monkeypatch.setattr(cache, "get", get)

    def of(self, kind: str) -> int:
        return sum(1 for key in self.keys if key.split("|", 1)[0] == kind)


class Statements:
    """The SQL statements the store runs (an SQLAlchemy ``before_cursor_execute`` listener)."""

    def __init__(self, app) -> None:
        self.engine = app.extensions["wecom"].store.engine
        self.seen: list = []
        sa.event.listen(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(" ".join(statement.split()))

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)

    def corp_lists(self) -> list:
        return [s for s in self.seen if "FROM wecom_corp" in s and "wecom_corp.corp_id =" not in s]


def test_a_self_built_login_reads_the_token_once_and_lists_no_corps(fake_wecom, tmp_path, monkeypatch):
    app = make_app(fake_wecom, tmp_path, "internal")  # WECOM_CORP_ID is set
    login(app.test_client(), ua=WXWORK_UA)  # warm: the token is in the cache
    reads, statements = Reads(app, monkeypatch), Statements(app)
    try:
        assert login(app.test_client(), ua=WXWORK_UA).location == "/profile"
    finally:
        statements.close()
    assert reads.of("token") == 1
    assert statements.seen and statements.corp_lists() == []
    assert len(fake_wecom.calls_to("/cgi-bin/gettoken")) == 1


def test_a_customized_login_for_a_named_corp_lists_no_corps(fake_wecom, tmp_path, monkeypatch):
    app = make_app(fake_wecom, tmp_path, "customized")
    corp_id = fake_wecom.corp.auth_corp_id
    fake_wecom.revoke_permissions("contact:sensitive:email")  # a field missing: the permissions are needed
    login(app.test_client(), f"?next=/profile&corp_id={corp_id}", ua=WXWORK_UA)  # warm
    statements = Statements(app)
    try:
        client = app.test_client()
        start = start_login(client, f"?next=/profile&corp_id={corp_id}", ua=WXWORK_UA)
        at_login = list(statements.seen)
        reads = Reads(app, monkeypatch)
        assert back_to_app(client, confirm(start.location)).location == "/profile"
    finally:
        statements.close()
    assert at_login and statements.corp_lists() == []
    assert reads.of("token") == 1 and reads.of("agentperms") == 1
    assert len(fake_wecom.calls_to(PERMISSIONS)) == 1  # the warm-up's; this login read them from the cache
    assert _withheld(app, client) == ["email"]


def test_without_a_named_corp_the_corps_are_listed(fake_wecom, tmp_path):
    """The control of the two tests above: the listener does see a list when one is needed."""
    app = make_app(fake_wecom, tmp_path, "customized")
    statements = Statements(app)
    try:
        start_login(app.test_client(), "?next=/profile", ua=WXWORK_UA)
    finally:
        statements.close()
    assert len(statements.corp_lists()) == 1


def test_a_corp_the_app_does_not_serve_is_still_refused(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, "customized")
    response = start_login(app.test_client(), "?next=/profile&corp_id=wwnotours", ua=WXWORK_UA)
    assert_failure_page(response, "corp_unknown", 404)


# -- the 代开发 app's permissions, kept per corp ------------------------------------------------------


def _withheld(app, client) -> list:
    return list(session_data(app, client)[SESSION_KEY].get("withheld") or [])


def test_web_logins_ask_for_the_permissions_once_and_change_auth_drops_them(fake_wecom, tmp_path):
    """Web / QR logins carry no email, so each needs the permissions: a warm one reads them from the cache;
    change_auth (a permission changed, doc 90642) makes the next login ask again."""
    app = make_app(fake_wecom, tmp_path, "customized")
    for _ in range(3):
        client = app.test_client()
        assert login(client, ua=BROWSER_UA).location == "/profile"
        assert _withheld(app, client) == []
    assert len(fake_wecom.calls_to(PERMISSIONS)) == 1
    fake_wecom.revoke_permissions()
    assert fake_wecom.change_auth("http://localhost/wecom/callback", client=app.test_client()).success
    app.extensions["wecom"].wait_background(10)
    client = app.test_client()
    login(client, ua=BROWSER_UA)
    assert _withheld(app, client) == ["name", "email"]
    assert len(fake_wecom.calls_to(PERMISSIONS)) == 2


def test_unreadable_permissions_are_not_kept(fake_wecom, tmp_path):
    fake_wecom.revoke_permissions()
    app = make_app(fake_wecom, tmp_path, "customized")
    fake_wecom.fail(PERMISSIONS, 48002)
    client = app.test_client()
    login(client, ua=WXWORK_UA)
    assert _withheld(app, client) == ["name"]  # the fallback, as before
    client = app.test_client()
    login(client, ua=WXWORK_UA)
    assert _withheld(app, client) == ["name", "email"]
    assert len(fake_wecom.calls_to(PERMISSIONS)) == 2


# -- the used marker ------------------------------------------------------------------------------


def _fs(tmp_path):
    return GuardedCache(FileSystemCache(str(tmp_path / "cache"), threshold=100))


def test_filesystem_mark_is_one_exclusive_create_without_a_rename(tmp_path, monkeypatch):
    cache = _fs(tmp_path)
    marks = UsedMarks(cache)
    assert marks.kind == "file"

    def no_rename(*args, **kwargs):
        raise AssertionError("a mark must not write a temporary file and rename it")

    monkeypatch.setattr(os, "replace", no_rename)
    monkeypatch.setattr(os, "rename", no_rename)
    assert marks.mark("login-state-used|a", 1200) is True
    assert marks.mark("login-state-used|a", 1200) is False
    assert marks.seen("login-state-used|a") and not marks.seen("login-state-used|b")
    monkeypatch.undo()
    folder = tmp_path / "cache" / (FOLDER + ".__wz_cache")
    assert len(list(folder.iterdir())) == 1
    cache.inner.clear()  # cachelib's clear and prune leave the marks' folder alone
    assert marks.mark("login-state-used|a", 1200) is False


def _mark_in_a_process(directory, key, barrier, results):
    marks = UsedMarks(GuardedCache(FileSystemCache(directory)))
    barrier.wait(10)
    results.put(marks.mark(key, 1200))


def test_filesystem_mark_is_atomic_across_processes(tmp_path):
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(6), context.Queue()
    processes = [context.Process(target=_mark_in_a_process, args=(str(tmp_path / "cache"), "k", barrier, results))
                 for _ in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(30)
    outcomes = sorted(results.get(timeout=5) for _ in processes)
    assert outcomes == [False] * 5 + [True]


def test_filesystem_marks_past_their_ttl_are_swept(tmp_path):
    marks = UsedMarks(_fs(tmp_path))
    marks.mark("old", 1200)
    marks.mark("new", 1200)
    old = marks._path("old")
    os.utime(old, (time.time() - 1300, time.time() - 1300))
    marks._sweep(1200)
    assert not os.path.exists(old) and os.path.exists(marks._path("new"))
    assert marks.mark("old", 1200) is True  # gone for good: the state it stood for expired long ago


def test_filesystem_mark_survives_a_broken_cache_directory_in_memory(tmp_path):
    cache = _fs(tmp_path)
    marks = UsedMarks(cache)
    shutil.rmtree(tmp_path / "cache")
    (tmp_path / "cache").write_text("not a directory")
    assert marks.mark("k", 1200) is True and marks.mark("k", 1200) is False  # this process remembers
    assert cache.breaker.state() == "open"


class _CountingClient:
    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, []

    def __getattr__(self, name):
        attribute = getattr(self.inner, name)
        if callable(attribute):
            def call(*args, **kwargs):
                self.calls.append((name, kwargs))
                return attribute(*args, **kwargs)
            return call
        return attribute


def test_redis_mark_is_one_set_nx_ex(redis_url):
    import redis

    prefix = f"wecom-test-marks-{uuid.uuid4().hex[:8]}:"
    raw = redis.Redis.from_url(redis_url)
    backend = RedisCache(host=raw, key_prefix=prefix)
    counting = _CountingClient(backend._write_client)
    backend._write_client = counting
    marks = UsedMarks(GuardedCache(backend))
    try:
        assert marks.kind == "redis-set-nx"
        assert marks.mark("login-state-used|x", 1200) is True
        assert [name for name, _ in counting.calls] == ["set"]
        assert counting.calls[0][1] == {"nx": True, "ex": 1200}
        assert 0 < raw.ttl(prefix + "login-state-used|x") <= 1200
        assert marks.mark("login-state-used|x", 1200) is False
        assert marks.seen("login-state-used|x")
        results = []
        threads = [threading.Thread(target=lambda: results.append(marks.mark("race", 60))) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(results) == [False] * 15 + [True]
    finally:
        for key in raw.scan_iter(prefix + "*"):
            raw.delete(key)


def test_in_process_backends_use_add():
    marks = UsedMarks(GuardedCache(SimpleCache()))
    assert marks.kind == "add"
    assert marks.mark("k", 60) is True and marks.mark("k", 60) is False and marks.seen("k")


def test_a_state_used_on_one_worker_is_refused_on_another(fake_wecom, tmp_path):
    """Two workers share the FileSystemCache: an old copy of the cookie replayed on the other one fails."""
    first = make_app(fake_wecom, tmp_path, "internal")
    second = make_app(fake_wecom, tmp_path, "internal")
    client = first.test_client()
    answer = confirm(start_login(client, "?next=/profile", ua=WXWORK_UA).location)
    old_cookie = raw_cookie(first, client)
    assert back_to_app(client, answer).location == "/profile"
    replayer = second.test_client()
    replayer.set_cookie("session", old_cookie, domain="localhost")
    location = urlsplit(answer.headers["Location"])
    assert_failure_page(replayer.get(f"{location.path}?{location.query}"), "state_replayed", 400)
