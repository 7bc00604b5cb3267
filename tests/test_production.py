"""The production recipe, tested (issue 10, item 8): deploy/ served by gunicorn with 4 workers.

gunicorn runs ``deploy/gunicorn.conf.py`` and ``deploy/wsgi.py`` exactly as shipped, configured through the
environment like ``deploy/flask-wecom.env.example``: a 代开发 app against a FakeWeCom served over real HTTP,
the machine's PostgreSQL (a throwaway database, created empty and dropped by the test) and the machine's
Redis (a key prefix of its own, deleted afterwards). The browser side plays nginx on 443: requests for
``https://app.example.com/…`` (the trusted domain) reach gunicorn over HTTP with nginx's proxy headers.

Checked: workers booting together on an empty database serve concurrent first requests without an
error; 8 concurrent copies of one create_auth → one get_permanent_code at WeCom; 40 concurrent logins
(full OAuth round trips, one ``requests.Session`` per user) → one gettoken; a login in a worker makes
user/get and getuserdetail at the same time (issue 12).
"""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
from conftest import throwaway_database
from login_support import BROWSER_UA, confirm
from private_postgres import free_port
from requests.adapters import HTTPAdapter

from flask_wecom.testing import FakeWeCom
from flask_wecom.testing.pushes import ENCRYPT, encrypt_envelope

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOMAIN = "app.example.com"  # the trusted domain (可信域名): no port, served on 443 by "nginx"
PUBLIC = f"https://{DOMAIN}"
WORKERS = 4

pytestmark = pytest.mark.timeout(120)


class Nginx(HTTPAdapter):
    """What nginx does for ``https://app.example.com``: forward to gunicorn over HTTP with the proxy headers.

    The session's cookie jar and redirects see the public https URL, as a browser would."""

    def __init__(self, upstream: str) -> None:
        super().__init__(pool_maxsize=8)
        self.upstream = upstream

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        proxied = request.copy()
        proxied.url = self.upstream + parts.path + (f"?{parts.query}" if parts.query else "")
        proxied.headers.update({"Host": parts.netloc, "X-Forwarded-Host": parts.netloc,
                                "X-Forwarded-Proto": parts.scheme, "X-Forwarded-For": "203.0.113.7"})
        response = super().send(proxied, **kwargs)
        response.url, response.request = request.url, request
        return response


class Production:
    def __init__(self, fake: FakeWeCom, url: str, database_url: str, log_path: pathlib.Path,
                 process: subprocess.Popen) -> None:
        self.fake = fake
        self.url = url  # gunicorn itself (what WeCom's callbacks reach through nginx)
        self.database_url = database_url
        self.log_path = log_path
        self.process = process

    @property
    def callback(self) -> str:
        return self.url + "/wecom/callback"

    def browser(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxy from the environment between the test and 127.0.0.1
        session.headers["User-Agent"] = BROWSER_UA
        session.mount(PUBLIC + "/", Nginx(self.url))
        return session

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def workers(self) -> List[int]:
        """Pids of the gunicorn master's children (its workers), from /proc."""
        found = []
        for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            if int(fields[1]) == self.process.pid:  # field 4 of stat, after "pid (comm) state"
                found.append(int(stat.parent.name))
        return found

    def scalar(self, sql: str):
        engine = sa.create_engine(self.database_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(sql)).scalar()
        finally:
            engine.dispose()


def _wait(predicate: Callable[[], bool], timeout: float, what: str, production: Optional[Production] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    log = production.log()[-4000:] if production is not None else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


def _healthy(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=2).text == "ok"
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def production(postgres_url, redis_url, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("production")
    prefix = f"wecom-test-{uuid.uuid4().hex[:10]}:"
    fake = FakeWeCom(trusted_domain=DOMAIN)
    fake.start()
    try:
        with throwaway_database(postgres_url, prefix="wecom_prod") as database_url:
            port = free_port()
            env = {key: value for key, value in os.environ.items() if not key.startswith("WECOM_")}
            env.update({key: str(value) for key, value in fake.flask_config().items()})
            env.update(
                SECRET_KEY=uuid.uuid4().hex + uuid.uuid4().hex,
                WECOM_PUBLIC_URL=PUBLIC,
                WECOM_DATABASE_URI=database_url,
                WECOM_CACHE_TYPE="RedisCache",
                WECOM_CACHE_REDIS_URL=redis_url,
                WECOM_CACHE_KEY_PREFIX=prefix,
                INSTANCE_PATH=str(tmp / "instance"),
                PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            )
            log_path = tmp / "gunicorn.log"
            with open(log_path, "wb") as log_file:
                process = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"), "--chdir",
                     str(DEPLOY), "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), "wsgi:app"],
                    env=env, cwd=str(tmp), stdout=log_file, stderr=subprocess.STDOUT)
            try:
                url = f"http://127.0.0.1:{port}"
                running = Production(fake, url, database_url, log_path, process)
                _wait(lambda: process.poll() is not None or _healthy(url), 30, "gunicorn to serve", running)
                assert process.poll() is None, running.log()[-4000:]
                yield running
            finally:  # gunicorn stops before its database is dropped
                _stop(process)
    finally:
        fake.stop()
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # graceful: the workers finish their requests
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _together(jobs: List[Callable[[], object]]) -> list:
    """Run ``jobs`` at the same moment (a barrier), each in its own thread; their results in order."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        barrier.wait(timeout=30)
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def test_workers_booting_on_an_empty_database_serve_concurrent_first_requests(production):
    """The first requests of 4 workers that just booted together on an empty database: every one answered."""
    fake = production.fake
    tables_at_boot = production.scalar("select count(*) from information_schema.tables "
                                       "where table_schema = 'public'")
    answers = _together([lambda: fake.push_suite_ticket(production.callback, timeout=30) for _ in range(16)]
                        + [lambda: requests.get(production.url + "/wecom/login", timeout=30) for _ in range(8)])
    pushes, logins = answers[:16], answers[16:]
    assert [p.status_code for p in pushes] == [200] * 16, [(p.status_code, p.text[:200]) for p in pushes]
    assert all(p.success for p in pushes)
    # no corp has authorized the app yet: the explained page (503 "no corp yet"), never a 500
    assert all(r.status_code != 500 and "Traceback" not in r.text for r in logins), [r.status_code for r in logins]
    assert production.scalar("select count(*) from wecom_suite_ticket") == 1
    log = production.log()
    assert "Traceback" not in log and "Worker failed to boot" not in log, log[-4000:]
    assert len(production.workers()) == WORKERS
    # the workers built the app without creating tables: the first requests above raced on an empty database
    assert tables_at_boot == 0, tables_at_boot


def test_eight_concurrent_copies_of_one_create_auth_make_one_exchange(production):
    fake = production.fake
    assert fake.push_suite_ticket(production.callback).success  # a fresh ticket, whatever the test before did
    with fake.model.lock:
        _, code = fake.model.create_authorization(None, "")
    suite = fake.suite
    plaintext = (f"<xml><SuiteId><![CDATA[{suite.suite_id}]]></SuiteId><AuthCode><![CDATA[{code}]]></AuthCode>"
                 f"<InfoType><![CDATA[create_auth]]></InfoType><TimeStamp>{int(fake.now())}</TimeStamp>"
                 "<State><![CDATA[]]></State></xml>")
    envelope = {"ToUserName": suite.suite_id, "Encrypt": ENCRYPT, "AgentID": ""}

    def delivery():
        return encrypt_envelope(suite.token, suite.encoding_aes_key, plaintext, suite.suite_id, envelope,
                                int(time.time()))

    once = delivery()
    # 4 byte-identical copies (WeCom's retries) and 4 separately encrypted ones (other nonces)
    copies = [once] * 4 + [delivery() for _ in range(4)]
    answers = _together([
        (lambda body=body, params=params: requests.post(production.callback, params=params, data=body.encode(),
                                                        headers={"Content-Type": "text/xml"}, timeout=30))
        for body, params in copies])
    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 8
    _wait(lambda: production.scalar("select count(*) from wecom_corp where permanent_code is not null") == 1,
          20, "the permanent code to be stored", production)
    time.sleep(0.5)  # a second exchange, if any, would reach WeCom now
    assert len(fake.calls_to("/cgi-bin/service/get_permanent_code")) == 1
    assert production.scalar("select count(*) from wecom_auth_code") == 1


def test_forty_concurrent_logins_make_one_gettoken(production):
    fake = production.fake
    _wait(lambda: production.scalar("select count(*) from wecom_corp where permanent_code is not null") == 1,
          20, "an authorized corp (the test before)", production)
    before = len(fake.calls_to("/cgi-bin/gettoken"))
    cookies: List[str] = []

    def login():
        browser = production.browser()
        start = browser.get(PUBLIC + "/wecom/login?next=/me", allow_redirects=False, timeout=30)
        assert start.status_code == 302, start.text[:1000]
        cookies.append(start.headers.get("Set-Cookie", ""))
        picked = confirm(start.headers["Location"])  # WeCom's page: the member confirms
        assert picked.status_code == 302 and picked.headers["Location"].startswith(PUBLIC + "/wecom/authorized?")
        me = browser.get(picked.headers["Location"], timeout=30)  # → /wecom/authorized → /me
        assert me.status_code == 200 and me.url == PUBLIC + "/me", (me.status_code, me.url, me.text[:1000])
        return me.json()

    started = time.monotonic()
    users = _together([login] * 40)
    elapsed = time.monotonic() - started
    member = fake.corp.members[0]
    assert len(users) == 40 and all(u["corp_id"] == fake.corp.auth_corp_id and u["userid"] for u in users)
    assert len({u["userid"] for u in users}) == 1 and users[0]["name"] == member.name
    assert len(fake.calls_to("/cgi-bin/gettoken")) - before == 1
    # served over "HTTPS" through nginx: the session cookie is Secure and SameSite=Lax
    assert all("Secure" in c and "SameSite=Lax" in c for c in cookies), cookies[:2]
    log = production.log()
    assert "Traceback" not in log, log[-4000:]
    print(f"40 concurrent logins in {elapsed:.1f} s")


def test_a_login_in_a_worker_makes_user_get_and_getuserdetail_at_the_same_time(production, monkeypatch):
    """Issue 12: in a gunicorn worker (gthread, built after the fork) the login's pool makes user/get and
    getuserdetail together: the fake holds each until the other has arrived, and their calls overlap."""
    fake = production.fake
    paths = ("/cgi-bin/user/get", "/cgi-bin/auth/getuserdetail")
    arrived = {path: threading.Event() for path in paths}
    original = fake.app._respond

    def respond(request, ip, path, call):
        if path in arrived:
            arrived[path].set()
            for event in arrived.values():
                event.wait(5)  # one after the other, the first waits in vain and they do not overlap
        return original(request, ip, path, call)

    monkeypatch.setattr(fake.app, "_respond", respond)
    before = {path: len(fake.calls_to(path)) for path in paths}
    browser = production.browser()
    start = browser.get(PUBLIC + "/wecom/login?next=/me&via=oauth", allow_redirects=False, timeout=30)
    assert start.status_code == 302, start.text[:1000]
    picked = confirm(start.headers["Location"])
    me = browser.get(picked.headers["Location"], timeout=30)
    assert me.status_code == 200 and me.url == PUBLIC + "/me", (me.status_code, me.text[:1000])
    assert me.json()["name"] == fake.corp.members[0].name
    member, detail = (fake.calls_to(path)[before[path]:] for path in paths)
    assert len(member) == 1 and len(detail) == 1
    assert member[0].time < detail[0].ended and detail[0].time < member[0].ended
