"""Protect the customer's corp from WeCom's bans: credential failures and 45009 are remembered
across workers (in the token cache) with backoff, and single-use codes are never sent twice.

WeCom blocks an IP that keeps sending a wrong secret (developer.work.weixin.qq.com/document/path/90313,
40001 help) and rate limits block a whole window (document 90454).
"""
from __future__ import annotations

import multiprocessing
import os
import time
import uuid

import pytest
from cachelib import SimpleCache
from conftest import FrozenClock
from login_support import BROWSER_UA, back_to_app, confirm, make_app, start_login
from provider_app import app_config

from flask_wecom.errors import WeComAPIError
from flask_wecom.tokens import BLOCK_MAX_CREDENTIAL, TokenManager

GETTOKEN = "/cgi-bin/gettoken"


class Fetch:
    """fetch() that answers ``errcode`` (or a token when None) and counts its calls."""

    def __init__(self, errcode=40001):
        self.errcode = errcode
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errcode is None:
            return f"tok{self.calls}", 7200
        raise WeComAPIError(self.errcode, "invalid credential, hint: [x]", "fix it", path=GETTOKEN)


# -- the manager: backoff, credential change, unblock --------------------------------------------


def test_credential_failure_backs_off_from_60_s_doubling_to_30_min():
    clock, fetch = FrozenClock(), Fetch(40001)
    manager = TokenManager(SimpleCache(), clock=clock)
    secret = "the-wrong-secret-0123456789"
    windows = []
    for _ in range(8):
        with pytest.raises(WeComAPIError) as info:
            manager.get("corp", "ww1|1000002", fetch, lambda: secret)
        assert info.value.errcode == 40001
        calls = fetch.calls
        with pytest.raises(WeComAPIError) as again:  # remembered: raised at once, WeCom not asked
            manager.get("corp", "ww1|1000002", fetch, lambda: secret)
        assert fetch.calls == calls and again.value.errcode == 40001
        assert "flask wecom unblock" in again.value.hint and "fix it" in again.value.hint
        record = manager.blocked("corp", "ww1|1000002")
        windows.append(record["until"] - clock.now)
        clock.now += windows[-1] - 1
        with pytest.raises(WeComAPIError):
            manager.get("corp", "ww1|1000002", fetch, lambda: secret)
        assert fetch.calls == calls  # one second before the end: still not asked
        clock.now += 1
    assert windows == [60, 120, 240, 480, 960, BLOCK_MAX_CREDENTIAL, BLOCK_MAX_CREDENTIAL, BLOCK_MAX_CREDENTIAL]
    assert secret not in repr(manager.cache.get("tokenblock|corp|ww1|1000002"))  # a salted hash only

    fetch.errcode = None  # the secret works again: the token comes, and the backoff starts afresh
    assert manager.get("corp", "ww1|1000002", fetch, lambda: secret) == f"tok{fetch.calls}"
    assert manager.blocked("corp", "ww1|1000002") is None


def test_a_new_credential_is_tried_at_once_and_unblock_forgets():
    clock, fetch = FrozenClock(), Fetch(40001)
    manager = TokenManager(SimpleCache(), clock=clock)
    with pytest.raises(WeComAPIError):
        manager.get("corp", "ww1|-", fetch, lambda: "old-secret")
    with pytest.raises(WeComAPIError):
        manager.get("corp", "ww1|-", fetch, lambda: "old-secret")
    assert fetch.calls == 1
    fetch.errcode = None
    assert manager.get("corp", "ww1|-", fetch, lambda: "new-secret") == "tok2"  # a new secret: asked at once

    fetch.errcode = 40013
    manager.invalidate("corp", "ww1|-")
    with pytest.raises(WeComAPIError):
        manager.get("corp", "ww1|-", fetch, lambda: "new-secret")
    assert manager.unblock("corp", "ww1|-") is True and manager.unblock("corp", "ww1|-") is False
    fetch.errcode = None
    assert manager.get("corp", "ww1|-", fetch, lambda: "new-secret") == "tok4"


@pytest.mark.parametrize("errcode", [-1, 40014, 42001, 60020, 50001])
def test_other_failures_are_not_remembered(errcode):
    fetch = Fetch(errcode)
    manager = TokenManager(SimpleCache(), clock=FrozenClock())
    for _ in range(2):
        with pytest.raises(WeComAPIError):
            manager.get("corp", "ww1|-", fetch, lambda: "s")
    assert fetch.calls == 2 and manager.blocked("corp", "ww1|-") is None


def test_45009_is_not_retried_inside_its_window_whatever_the_credential():
    clock, fetch = FrozenClock(), Fetch(45009)
    manager = TokenManager(SimpleCache(), clock=clock)
    with pytest.raises(WeComAPIError):
        manager.get("suite", "dk1", fetch, lambda: "s1")
    with pytest.raises(WeComAPIError) as info:
        manager.get("suite", "dk1", fetch, lambda: "another ticket")  # a rate limit is not about the secret
    assert fetch.calls == 1 and "rate-limit" in info.value.hint
    clock.now += 59
    with pytest.raises(WeComAPIError):
        manager.get("suite", "dk1", fetch, lambda: "s1")
    assert fetch.calls == 1
    clock.now += 1
    fetch.errcode = None
    assert manager.get("suite", "dk1", fetch, lambda: "s1") == "tok2"  # the window is over: asked again


def test_a_valid_cached_token_is_still_used_while_a_refresh_is_blocked():
    clock, fetch = FrozenClock(), Fetch(None)
    manager = TokenManager(SimpleCache(), clock=clock, background=False)
    assert manager.get("corp", "ww1|-", fetch) == "tok1"
    clock.now += 7200 - 300 - 100  # inside the refresh-ahead window
    fetch.errcode = 40001
    assert manager.get("corp", "ww1|-", fetch) == "tok1"  # the refresh failed; the token still works
    assert manager.get("corp", "ww1|-", fetch) == "tok1"
    assert fetch.calls == 2  # the second refresh attempt was not sent: remembered


# -- over real HTTP: 30 logins from several worker processes ----------------------------------------


def _login_worker(config, instance, logins, barrier, queue):  # runs in a child process
    try:
        from flask import Flask

        from flask_wecom import WeCom

        app = Flask("blocks_worker", instance_path=instance)
        app.config.update(config)
        WeCom(app)
        barrier.wait(60)
        results = []
        started = time.monotonic()
        for _ in range(logins):
            client = app.test_client()
            answer = start_login(client, "?next=/", ua=BROWSER_UA)
            if answer.status_code == 302:
                answer = back_to_app(client, confirm(answer.location))
            body = answer.get_data(as_text=True)
            results.append((answer.status_code, "40001" in body, "Traceback" in body))
        queue.put(("ok", os.getpid(), results, time.monotonic() - started))
    except BaseException as exc:  # noqa: BLE001
        queue.put(("crash", os.getpid(), repr(exc), 0.0))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("cache", ["redis", "filesystem"])
def test_wrong_secret_under_30_logins_from_3_workers_costs_at_most_2_gettoken(fake_wecom, tmp_path, request, cache):
    fake_wecom.fail(GETTOKEN, 40001, times=None)  # the secret is wrong (or was reset)
    config = app_config(fake_wecom, tmp_path, "internal")
    if cache == "redis":
        config.update(WECOM_CACHE_TYPE="RedisCache", WECOM_CACHE_REDIS_URL=request.getfixturevalue("redis_url"),
                      WECOM_CACHE_KEY_PREFIX=f"blocks-{uuid.uuid4().hex[:8]}:")
    ctx = multiprocessing.get_context("spawn")
    processes, logins = 3, 10
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    procs = []
    for n in range(processes):
        worker_config = dict(config, WECOM_DATABASE_URI=f"sqlite:///{tmp_path}/worker{n}.sqlite3")
        procs.append(ctx.Process(target=_login_worker,
                                 args=(worker_config, str(tmp_path / f"instance{n}"), logins, barrier, queue)))
    try:
        for proc in procs:
            proc.start()
        reports = [queue.get(timeout=90) for _ in procs]
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    assert all(status == "ok" for status, *_ in reports), reports
    assert len({pid for _, pid, _, _ in reports}) == processes
    assert max(seconds for *_, seconds in reports) < 10
    outcomes = [result for _, _, results, _ in reports for result in results]
    assert len(outcomes) == processes * logins
    # every login ends on the explained page naming 40001 (never a traceback)
    assert all(names and not trace for _, names, trace in outcomes), outcomes
    print(f"{cache}: {len(outcomes)} logins, {len(fake_wecom.calls_to(GETTOKEN))} gettoken, slowest worker "
          f"{max(seconds for *_, seconds in reports):.2f} s")
    assert 1 <= len(fake_wecom.calls_to(GETTOKEN)) <= 2


# -- the product: login page, CLI, a new permanent code ----------------------------------------------


def test_remembered_failure_gives_the_login_page_at_once_and_unblock_retries(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, "internal")
    fake_wecom.fail(GETTOKEN, 40001, times=None)
    client = app.test_client()
    first = back_to_app(client, confirm(start_login(client, "?next=/profile").location))
    assert "40001" in first.get_data(as_text=True) and len(fake_wecom.calls_to(GETTOKEN)) == 1

    started = time.monotonic()
    again = start_login(app.test_client(), "?next=/profile")  # at /login already: no trip to WeCom
    assert time.monotonic() - started < 0.5
    page = again.get_data(as_text=True)
    assert again.status_code != 302 and "40001" in page and "Traceback" not in page
    assert len(fake_wecom.calls_to(GETTOKEN)) == 1

    status = app.test_cli_runner().invoke(args=["wecom", "status"])
    assert "not fetching" in status.output and "40001" in status.output
    assert fake_wecom.corp.secret not in status.output
    doctor = app.test_cli_runner().invoke(args=["wecom", "doctor"])  # shows it, does not send the secret again
    assert "40001" in doctor.output and "remembered" in doctor.output and "flask wecom unblock" in doctor.output
    assert len(fake_wecom.calls_to(GETTOKEN)) == 1

    fake_wecom.clear_faults()  # the admin fixed the secret / re-enabled the app
    result = app.test_cli_runner().invoke(args=["wecom", "unblock", fake_wecom.corp.corp_id])
    assert result.exit_code == 0 and "forgot" in result.output and "40001" in result.output
    done = back_to_app(client, confirm(start_login(client, "?next=/profile").location))
    assert done.status_code == 302 and done.location.endswith("/profile")
    assert len(fake_wecom.calls_to(GETTOKEN)) == 2
    result = app.test_cli_runner().invoke(args=["wecom", "unblock"])
    assert "nothing remembered" in result.output


def test_a_new_permanent_code_clears_the_remembered_failure(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, "customized")
    state = app.extensions["wecom"]
    corp_id = fake_wecom.corp.auth_corp_id
    fake_wecom.fail(GETTOKEN, 40001, times=None)
    client = app.test_client()
    failed = back_to_app(client, confirm(start_login(client, "?next=/profile").location))
    assert "40001" in failed.get_data(as_text=True)
    with app.app_context():
        assert [what for what, _ in state.provider.blocks()] == [f"corp {corp_id}"]
    fake_wecom.clear_faults()
    # the provider clicks 重新获取secret: reset_permanent_code arrives and a new permanent code is stored
    pushed = fake_wecom.reset_secret("http://localhost/wecom/callback", client=client)
    assert pushed.success and state.wait_background(timeout=30)
    with app.app_context():
        owner = state.provider.corp_token(corp_id).owner
    assert state.shared_cache.get(f"tokenblock|corp|{owner}") is None  # cleared, not only outdated
    done = back_to_app(client, confirm(start_login(client, "?next=/profile").location))
    assert done.status_code == 302 and done.location.endswith("/profile")


def test_busy_answer_to_the_oauth_code_is_not_resent_during_a_login(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, "internal", WECOM_BUSY_RETRIES=3)
    fake_wecom.fail("/cgi-bin/auth/getuserinfo", -1)
    client = app.test_client()
    failed = back_to_app(client, confirm(start_login(client, "?next=/profile").location))
    assert "-1" in failed.get_data(as_text=True)
    assert len(fake_wecom.calls_to("/cgi-bin/auth/getuserinfo")) == 1  # the code went out once



def test_doctor_remembers_a_refused_provider_secret(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, "customized")
    path = "/cgi-bin/service/get_provider_token"
    fake_wecom.fail(path, 40001, times=None)
    first = app.test_cli_runner().invoke(args=["wecom", "doctor"])
    assert "get_provider_token" in first.output and "40001" in first.output
    assert len(fake_wecom.calls_to(path)) == 1
    again = app.test_cli_runner().invoke(args=["wecom", "doctor"])
    assert "remembered" in again.output and len(fake_wecom.calls_to(path)) == 1
    fake_wecom.clear_faults()
    unblocked = app.test_cli_runner().invoke(args=["wecom", "unblock"])
    assert "provider" in unblocked.output and "forgot 1" in unblocked.output
    app.test_cli_runner().invoke(args=["wecom", "doctor"])
    assert len(fake_wecom.calls_to(path)) == 2


def test_45009_at_gettoken_is_not_asked_again_inside_its_window(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, "internal", WECOM_BUSY_RETRIES=3)
    fake_wecom.fail(GETTOKEN, 45009, times=1)  # the next gettoken would work, but the window is 60 s
    client = app.test_client()
    started = time.time()
    failed = back_to_app(client, confirm(start_login(client, "?next=/profile").location))
    assert "45009" in failed.get_data(as_text=True) and len(fake_wecom.calls_to(GETTOKEN)) == 1  # not retried
    again = start_login(app.test_client(), "?next=/profile")
    assert again.status_code != 302 and "45009" in again.get_data(as_text=True)
    assert len(fake_wecom.calls_to(GETTOKEN)) == 1
    with app.app_context():
        record = app.extensions["wecom"].provider.corp_token(fake_wecom.corp.corp_id).blocked()
    assert record["errcode"] == 45009 and 59 <= record["until"] - started <= 61
