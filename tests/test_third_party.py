"""Third-party apps over real HTTP: web login through the 登录授权 suite, installs from the provider's website.

The app is served on http://localhost:<port> and talks to a served FakeWeCom; a requests.Session plays
the browser (cookies, Referer). Docs: 98171 / 98179 (web login, login_type=ServiceApp), 90597 (installs
from the provider's website), 90601 (get_pre_auth_code), 90602 (set_session_info), 90642 (no
create_auth for those installs).
"""
from __future__ import annotations

import html
import os
import re
from typing import Iterator, Tuple
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from flask import Flask
from provider_app import SECRET_KEY

from flask_wecom import WeCom, login_required, wecom_user
from flask_wecom.errors import ConfigError
from flask_wecom.testing import FakeWeCom
from flask_wecom.testing.server import serve_app

_FORM = re.compile(r'<form method="post" action="(?P<action>[^"]*)" class="(?P<cls>wecom-[a-z]+)"[^>]*>'
                   r"(?P<body>.*?)</form>", re.S)
_INPUT = re.compile(r'<input type="hidden" name="(?P<name>[^"]*)" value="(?P<value>[^"]*)">')
_LINK = re.compile(r'id="wecom-install-link" href="(?P<href>[^"]*)"')


def _submit_first(page: requests.Response, cls: str) -> requests.Response:
    """Click the first form of class ``cls`` on one of the fake's pages."""
    match = next(m for m in _FORM.finditer(page.text) if m.group("cls") == cls)
    data = {html.unescape(m.group("name")): html.unescape(m.group("value"))
            for m in _INPUT.finditer(match.group("body"))}
    return requests.post(urljoin(page.url, html.unescape(match.group("action"))), data=data,
                         allow_redirects=False, timeout=10)


def _make_app(fake: FakeWeCom, tmp_path, **config) -> Flask:
    app = Flask("third_party_app", instance_path=str(tmp_path / "instance"))
    app.config.update(fake.flask_config(), SECRET_KEY=SECRET_KEY, WECOM_HTTP_RETRIES=0, WECOM_BUSY_RETRIES=0,
                      WECOM_EXCHANGE_IN_BACKGROUND=False, WECOM_CACHE_DIR=str(tmp_path / "cache"),
                      WECOM_DATABASE_URI="sqlite:///" + os.path.join(str(tmp_path), "wecom.sqlite3"))
    app.config.update(config)
    WeCom(app)

    @app.route("/profile")
    @login_required
    def profile():
        return f"{wecom_user.userid}@{wecom_user.corp_id}"

    return app


@pytest.fixture
def third(tmp_path) -> Iterator[Tuple[FakeWeCom, Flask, str]]:
    """A third-party fake and app; the app at http://localhost:<port> (its domain in the fake's settings)."""
    fake = FakeWeCom(app_type="third_party", trusted_domain="localhost")
    with fake.serve():
        app = _make_app(fake, tmp_path)
        handle = serve_app(app)
        base = "http://localhost:" + handle.url.rsplit(":", 1)[1]
        host = urlsplit(base).netloc
        fake.login_suite.web_login_domain = host   # 98173: the 授权回调域 may carry a port
        fake.suite.install_domain = host           # 90597: the 授权完成回调域名
        try:
            assert fake.push_suite_ticket(base + "/wecom/callback").success
            yield fake, app, base
        finally:
            handle.close()
            WeCom.state(app).store.dispose()


# -- web login (login_type=ServiceApp) ------------------------------------------------------------


def test_web_login_goes_through_the_login_suite(third):
    fake, app, base = third
    assert fake.authorize(base + "/wecom/callback").success  # the corp installed the app (create_auth)
    # the 登录授权 suite's ticket arrives on the template URL (its callback settings point there)
    assert fake.push_login_suite_ticket(base + "/wecom/callback").success
    assert WeCom.state(app).store.get_suite_ticket(fake.login_suite.suite_id) is not None
    browser = requests.Session()
    start = browser.get(base + "/wecom/login?next=/profile&via=qr", allow_redirects=False, timeout=10)
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["login_type"] == ["ServiceApp"] and query["appid"] == [fake.login_suite.suite_id]
    page = requests.get(start.headers["Location"], timeout=10)
    assert 'data-fake-wecom="confirm"' in page.text, page.text[:500]
    back = _submit_first(page, "wecom-member")
    assert back.status_code == 302 and back.headers["Location"].startswith(base + "/wecom/authorized?")
    done = browser.get(back.headers["Location"], allow_redirects=False, timeout=10)
    assert done.status_code == 302 and done.headers["Location"] == "/profile", done.text[:800]
    member = fake.corp.visible_members[0]
    assert browser.get(base + "/profile", timeout=10).text == f"{member.open_userid}@{fake.corp.auth_corp_id}"
    # the code went to getuserinfo3rd with the login suite's token, which was got with its own id
    suite_ids = [c.json["suite_id"] for c in fake.calls_to("/cgi-bin/service/get_suite_token")]
    assert fake.login_suite.suite_id in suite_ids
    assert [c.errcode for c in fake.calls_to("/cgi-bin/service/auth/getuserinfo3rd")] == [0]


def test_web_login_without_the_login_suite_is_refused_naming_the_keys(tmp_path):
    fake = FakeWeCom(app_type="third_party", trusted_domain="localhost")
    with fake.serve():
        app = _make_app(fake, tmp_path, WECOM_LOGIN_SUITE_ID=None, WECOM_LOGIN_SUITE_SECRET=None)
        handle = serve_app(app)
        try:
            answer = requests.get(handle.url + "/wecom/login?via=qr", allow_redirects=False, timeout=10)
            text = answer.text
            assert answer.status_code == 503 and "WECOM_LOGIN_SUITE_ID" in text and "WECOM_LOGIN_SUITE_SECRET" in text
            assert "登录授权" in text and "98171" in text
            assert not fake.calls_to("/wwlogin/sso/login")  # no request WeCom would refuse was sent
            # inside the WeCom client the in-client OAuth (app suite id) still works
            oauth = requests.get(handle.url + "/wecom/login?via=oauth", allow_redirects=False, timeout=10)
            assert oauth.status_code == 302
            assert parse_qs(urlsplit(oauth.headers["Location"]).query)["appid"] == [fake.suite.suite_id]
        finally:
            handle.close()
            WeCom.state(app).store.dispose()
        # forcing web login without it cannot work: refused at start
        with pytest.raises(ConfigError, match="WECOM_LOGIN_SUITE_ID"):
            _make_app(fake, tmp_path / "qr", WECOM_LOGIN_SUITE_ID=None, WECOM_LOGIN_VIA="qr")
        with pytest.raises(ConfigError, match=r"WECOM_LOGIN_SUITE_ID.*own suite id"):
            _make_app(fake, tmp_path / "own", WECOM_LOGIN_SUITE_ID=fake.suite.suite_id)


# -- installs started from the provider's website --------------------------------------------------


def _open_install(browser: requests.Session, base: str, referer: str = "") -> requests.Response:
    start = browser.get(base + "/wecom/install", timeout=10)
    assert start.status_code == 200 and start.headers["Referrer-Policy"] == "origin", start.text[:500]
    link = html.unescape(_LINK.search(start.text).group("href"))
    # the browser sends our origin as the Referer (Referrer-Policy: origin)
    return requests.get(link, headers={"Referer": referer or base + "/"}, timeout=10)


def test_install_from_the_website_end_to_end(third):
    fake, app, base = third
    state = WeCom.state(app)
    browser = requests.Session()
    page = _open_install(browser, base)
    assert 'data-fake-wecom="install"' in page.text, page.text[:800]
    link_query = parse_qs(urlsplit(page.url).query)
    assert link_query["suite_id"] == [fake.suite.suite_id]
    assert link_query["redirect_uri"] == [base + "/wecom/installed"]
    assert [c.errcode for c in fake.calls_to("/cgi-bin/service/set_session_info")] == [0]
    assert fake.calls_to("/cgi-bin/service/set_session_info")[0].json["session_info"] == {"auth_type": 0}
    redirect = _submit_first(page, "wecom-install")
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    back = parse_qs(urlsplit(location).query)
    assert location.startswith(base + "/wecom/installed?") and back["expires_in"] == ["600"]
    assert back["state"] == link_query["state"]
    done = browser.get(location, timeout=10)
    assert done.status_code == 200 and 'data-kind="done"' in done.text, done.text[:800]
    corp = state.store.get_corp(fake.corp.auth_corp_id)
    assert corp is not None and corp.active and corp.agent_id == str(fake.corp.agent_id)
    assert f'data-corp-id="{fake.corp.auth_corp_id}"' in done.text
    # exactly once: a reload shows the same result and does not spend the code again
    again = browser.get(location, timeout=10)
    assert again.status_code == 200 and 'data-kind="done"' in again.text
    assert len(fake.calls_to("/cgi-bin/service/get_permanent_code")) == 1
    # the corp can now be served: its corp token comes from get_corp_token with the stored permanent code
    with app.app_context():
        assert state.provider.corp_token(fake.corp.auth_corp_id).get()
    assert back["auth_code"][0] not in done.text


def test_an_install_that_cannot_start_says_why(third):
    """get_pre_auth_code refused (an errcode) or unreachable: 503 with the registry's words, no traceback."""
    fake, app, base = third
    fake.fail("/cgi-bin/service/get_pre_auth_code", 48002)
    refused = requests.get(base + "/wecom/install", timeout=10)
    assert refused.status_code == 503 and 'id="wecom-install-error"' in refused.text
    text = html.unescape(refused.text)
    assert "暂时无法安装" in text and "The install cannot start right now" in text
    assert "企业微信接口 get_pre_auth_code 返回错误码 48002" in text
    assert "WeCom's get_pre_auth_code refused the request with errcode 48002" in text
    fake.drop("/cgi-bin/service/get_pre_auth_code")
    unreachable = requests.get(base + "/wecom/install", timeout=20)
    assert unreachable.status_code == 503 and "暂时无法安装" in html.unescape(unreachable.text)
    from flask_wecom import reasons

    assert reasons.RECORDS["unreachable"].what[1] in html.unescape(unreachable.text)
    assert "Traceback" not in refused.text + unreachable.text
    assert requests.get(base + "/wecom/install", timeout=10).status_code == 200  # faults gone: it starts


def test_the_install_page_refuses_what_wecom_refuses(third):
    fake, app, base = third
    browser = requests.Session()
    # opened from another site: "redirect_uri 与配置的授权完成回调域名不一致", no auth_code
    refused = _open_install(browser, base, referer="https://elsewhere.example.com/")
    assert 'data-fake-wecom="error"' in refused.text and "授权完成回调域名" in refused.text
    # an unreleased app installs only as a test authorization (90602)
    fake.suite.released = False
    unreleased = _open_install(browser, base)
    assert 'data-fake-wecom="error"' in unreleased.text and "测试授权" in unreleased.text
    app.extensions["wecom"].config["WECOM_INSTALL_AUTH_TYPE"] = 1
    test_install = _open_install(browser, base)
    assert 'data-fake-wecom="install"' in test_install.text
    assert fake.calls_to("/cgi-bin/service/set_session_info")[-1].json["session_info"] == {"auth_type": 1}
    # a pre_auth_code lives 20 minutes (90601)
    fake.advance(1201)
    redirect = _submit_first(test_install, "wecom-install")
    assert redirect.status_code == 200 and 'data-fake-wecom="error"' in redirect.text
    assert WeCom.state(app).store.list_corps() == []


def test_installed_without_a_code_or_with_a_spent_one(third):
    fake, app, base = third
    browser = requests.Session()
    missing = browser.get(base + "/wecom/installed?state=abc", timeout=10)
    assert missing.status_code == 400 and "auth_code" in missing.text
    page = _open_install(browser, base)
    location = _submit_first(page, "wecom-install").headers["Location"]
    # another browser (no install state in its session) still completes it: no create_auth follows (90642)
    other = requests.get(location, timeout=10)
    assert other.status_code == 200 and 'data-kind="done"' in other.text
    # a code WeCom refuses (already used elsewhere) ends on a clear page, nothing stored twice
    auth_code = parse_qs(urlsplit(location).query)["auth_code"][0]
    with fake.model.lock:
        fake.model._auth_codes[auth_code].used = True
    fresh = _open_install(browser, base)
    spent = _submit_first(fresh, "wecom-install").headers["Location"]
    with fake.model.lock:
        fake.model._auth_codes[parse_qs(urlsplit(spent).query)["auth_code"][0]].used = True
    failed = browser.get(spent, timeout=10)
    assert failed.status_code == 502 and "auth_code" in failed.text
    assert [c.errcode for c in fake.calls_to("/cgi-bin/service/get_permanent_code")] == [0, 40078]


def test_a_customized_app_is_not_installed_from_a_website(tmp_path):
    fake = FakeWeCom()
    with fake.serve():
        app = _make_app(fake, tmp_path)
        handle = serve_app(app)
        try:
            for path in ("/wecom/install", "/wecom/installed?auth_code=x"):
                answer = requests.get(handle.url + path, timeout=10)
                assert answer.status_code == 404 and "third_party" in answer.text and "create_auth" in answer.text
            assert not fake.calls_to("/cgi-bin/service/get_pre_auth_code")
        finally:
            handle.close()
            WeCom.state(app).store.dispose()
        # the simulator refuses it too: a template has no website install
        with fake.model.lock:
            fake.model.issue_suite_ticket()
        token = requests.post(fake.url + "/cgi-bin/service/get_suite_token", json={
            "suite_id": fake.suite.suite_id, "suite_secret": fake.suite.suite_secret,
            "suite_ticket": fake.suite.ticket}, timeout=10).json()["suite_access_token"]
        answer = requests.get(fake.url + "/cgi-bin/service/get_pre_auth_code",
                              params={"suite_access_token": token}, timeout=10).json()
        assert answer["errcode"] == 48002


def test_the_doctor_checks_the_login_suite(third):
    from flask_wecom.doctor_flask import run_doctor

    fake, app, base = third
    missing = [r for r in run_doctor(app, base) if r.id == "login_suite"]
    assert [r.status for r in missing] == ["fail"]
    assert base + "/wecom/callback" in missing[0].fix and "刷新Ticket" in missing[0].fix
    assert fake.push_login_suite_ticket(base + "/wecom/callback").success
    ok = [r for r in run_doctor(app, base) if r.id == "login_suite"]
    assert [r.status for r in ok] == ["ok"], ok
    # the app's own suite secret in WECOM_LOGIN_SUITE_SECRET: WeCom answers 40080, the fix names both keys
    app.extensions["wecom"].config["WECOM_LOGIN_SUITE_SECRET"] = fake.suite.suite_secret
    wrong = [r for r in run_doctor(app, base) if r.id == "login_suite"]
    assert [r.status for r in wrong] == ["fail"] and "40080" in wrong[0].finding
    assert "WECOM_LOGIN_SUITE_SECRET" in wrong[0].fix and fake.suite.suite_secret not in wrong[0].fix


def test_status_shows_the_login_suite_ticket(third):
    from flask_wecom.cli import status_lines

    fake, app, base = third
    with app.app_context():
        before = [line for line in status_lines(WeCom.state(app)) if line.startswith("login suite:")]
    assert before == [f"login suite:     {fake.login_suite.suite_id}  ticket never"]
    assert fake.push_login_suite_ticket(base + "/wecom/callback").success
    with app.app_context():
        after = [line for line in status_lines(WeCom.state(app)) if line.startswith("login suite:")]
    assert after[0].endswith("s ago") and fake.login_suite.suite_secret not in after[0]


def test_no_secret_of_an_install_or_a_login_suite_login_in_logs_pages_or_reprs(third, caplog):
    """Suite and 登录授权 suite secrets, tickets and tokens, the pre_auth_code, the auth_code and the permanent
    code never reach a log line (any logger, DEBUG included), a page the member sees, or a repr."""
    import logging

    caplog.set_level(logging.DEBUG)
    fake, app, base = third
    state = WeCom.state(app)
    browser = requests.Session()
    install_page = browser.get(base + "/wecom/install", timeout=10)
    page = _open_install(browser, base)
    pre_auth_code = parse_qs(urlsplit(page.url).query)["pre_auth_code"][0]
    location = _submit_first(page, "wecom-install").headers["Location"]
    auth_code = parse_qs(urlsplit(location).query)["auth_code"][0]
    done = browser.get(location, timeout=10)
    assert 'data-kind="done"' in done.text
    # web login through the 登录授权 suite
    assert fake.push_login_suite_ticket(base + "/wecom/callback").success
    start = browser.get(base + "/wecom/login?next=/profile&via=qr", allow_redirects=False, timeout=10)
    back = _submit_first(requests.get(start.headers["Location"], timeout=10), "wecom-member")
    login_done = browser.get(back.headers["Location"], allow_redirects=False, timeout=10)
    assert login_done.status_code == 302 and login_done.headers["Location"] == "/profile"
    # a second install whose auth_code WeCom refuses (spent) is logged as a failure: without the code
    fresh = _submit_first(_open_install(browser, base), "wecom-install").headers["Location"]
    spent = parse_qs(urlsplit(fresh).query)["auth_code"][0]
    with fake.model.lock:
        fake.model._auth_codes[spent].used = True
    failed = browser.get(fresh, timeout=10)
    assert failed.status_code == 502

    with fake.model.lock:
        tokens = list(fake.model._suite_tokens) + list(fake.model._access_tokens)
        tickets = [t for suite in (fake.suite, fake.login_suite) for t, *_ in suite.tickets]
    assert tokens and tickets
    secrets_ = [fake.suite.suite_secret, fake.login_suite.suite_secret, fake.suite.encoding_aes_key,
                fake.corp.permanent_code, pre_auth_code, auth_code, spent, *tokens, *tickets]
    assert all(secrets_)
    texts = [r.getMessage() for r in caplog.records]
    texts += [r.exc_text or "" for r in caplog.records]
    texts += [install_page.text, done.text, failed.text, login_done.text]
    texts += [repr(state.provider), repr(state.store.get_corp(fake.corp.auth_corp_id)), repr(state)]
    assert any("install" in t for t in texts)
    for text in texts:
        for secret in secrets_:
            assert secret not in text, (secret[:4], text[:300])
