"""The demo site (demo/app.py): sandbox mode on the embedded FakeWeCom, real mode from WECOM_* settings."""
from __future__ import annotations

import json
import os
import re
import sys

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from login_support import confirm, fake_secrets, raw_cookie, session_data  # noqa: E402

from demo.app import create_app, settings_from_env  # noqa: E402
from flask_wecom import WeCom  # noqa: E402


@pytest.fixture
def demo(monkeypatch):
    for key in list(os.environ):
        if key.startswith("WECOM_"):
            monkeypatch.delenv(key)
    app = create_app({"TESTING": True}, sandbox=True)
    yield app
    app.extensions["wecom_demo"].close()


@pytest.fixture
def client(demo):
    return demo.test_client()


def _text(response) -> str:
    return response.get_data(as_text=True)


def _walk_to_profile(client, *, via="oauth", userid=None):
    assert client.post("/sandbox/ticket").status_code == 302
    assert client.post("/sandbox/authorize").status_code == 302
    start = client.get(f"/wecom/login?via={via}&next=/profile")
    assert start.status_code == 302
    answer = confirm(start.location, userid)
    assert answer.status_code == 302, answer.text[:2000]
    location = answer.headers["Location"]
    assert location.startswith("http://localhost/wecom/authorized?")
    return client.get(location[len("http://localhost"):])


def test_home_page_in_sandbox_mode(client):
    page = _text(client.get("/"))
    assert "沙盒" in page and "sandbox" in page
    for marker in ('id="push-ticket"', 'id="authorize"', 'id="login"', 'id="status"', 'id="switches"'):
        assert marker in page
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert "尚未收到" in page and "尚未授权" in page
    # login waits for steps ① and ②, as step ② waits for ①
    assert '<button type="button" id="login" disabled>' in page and "请先完成第 ① ② 步" in page


def test_the_whole_story(demo, client):
    box = demo.extensions["wecom_demo"]
    response = client.post("/sandbox/ticket", follow_redirects=True)
    assert "已收到" in _text(response)
    response = client.post("/sandbox/authorize", follow_redirects=True)
    page = _text(response)
    assert "示例科技有限公司" in page and box.fake.corp.auth_corp_id in page
    assert '<a class="button" id="login" href="/wecom/login?' in page
    state = WeCom.state(demo)
    assert [c.corp_id for c in state.store.list_corps()] == [box.fake.corp.auth_corp_id]

    start = client.get("/wecom/login?via=oauth&next=/profile")
    answer = confirm(start.location)
    done = client.get(answer.headers["Location"][len("http://localhost"):])
    assert done.status_code == 302 and done.location == "/profile"
    profile = _text(client.get("/profile"))
    member = box.fake.corp.members[0]
    assert member.name in profile and member.email in profile
    assert f'src="{member.avatar}"' in profile
    assert 'id="profile-department">1' in profile and member.position in profile

    home = _text(client.get("/"))
    assert "已缓存 cached" in home  # the corp token is cached now
    assert member.email in home

    # (4) log out
    token = re.search(r'name="token" value="([0-9a-f]+)"', home).group(1)
    response = client.post("/wecom/logout", data={"token": token, "next": "/"})
    assert response.status_code == 302 and response.location == "/"
    assert "企业微信登录演示" in _text(client.get("/"))
    assert client.get("/profile").status_code == 302


def test_authorize_before_ticket_explains_step_one(client):
    page = _text(client.post("/sandbox/authorize", follow_redirects=True))
    assert "请先完成第 ① 步" in page


def test_qr_login_shows_no_email_and_says_why(client):
    assert _walk_to_profile(client, via="qr").location == "/profile"
    profile = _text(client.get("/profile"))
    assert "张三" in profile and "没有邮箱 / no email" in profile


def test_status_panel_and_pages_never_show_secrets(demo, client):
    _walk_to_profile(client)
    box = demo.extensions["wecom_demo"]
    pages = [_text(client.get(path)) for path in ("/", "/profile", "/setup", "/status.json")]
    cookie = raw_cookie(demo, client)
    for secret in fake_secrets(box.fake):
        assert secret not in cookie
        for page in pages:
            assert secret not in page, secret
    assert set(session_data(demo, client)) <= {"_wecom_user", "_flashes"}


def test_setup_page_lists_urls_and_masks_secrets(demo, client):
    page = _text(client.get("/setup"))
    assert '<code id="redirect-uri">http://localhost/wecom/authorized</code>' in page
    # "localhost" can never be a 可信域名 (no ICP filing, no IP, no port: 96441, 90313 80001): the page
    # names the host, says real WeCom would refuse it and how to serve on 443, and never advises it
    assert '<code id="redirect-host">localhost</code>' in page
    assert '<code id="trusted-domain">localhost</code>' not in page
    assert 'id="domain-refused"' in page and "真实企业微信会拒绝这个回调地址" in page
    assert "Real WeCom would refuse this redirect URI" in page and "allow_local_redirects" in page
    assert "WECOM_PUBLIC_URL=https://" in page and "443" in page
    assert '<code id="web-login-domain">localhost</code>' in page
    assert '<code id="callback-url">http://localhost/wecom/callback</code>' in page
    assert '<code id="data-callback-url">http://localhost/wecom/callback/data</code>' in page
    box = demo.extensions["wecom_demo"]
    assert box.fake.suite.suite_id in page  # ids are not secrets
    assert box.fake.suite.suite_secret not in page and box.fake.suite.encoding_aes_key not in page
    assert "WECOM_SUITE_SECRET" in page and "…(" in page  # masked
    assert "<code>snsapi_base</code>" in page  # the settings' `code` spans, not raw backquotes


def test_trusted_domain_follows_the_host_in_sandbox(demo):
    """The sandbox on 127.0.0.1:5000 keeps in-client OAuth working only through the simulator's named
    leniency (real WeCom refuses an IP or a port in a 可信域名: 90313 80001), and its pages say so."""
    box = demo.extensions["wecom_demo"]
    assert box.fake.allow_local_redirects is True and box.lenient
    client = demo.test_client()
    client.get("/", base_url="http://127.0.0.1:5000")
    assert box.fake.corp.trusted_domain == box.fake.corp.web_login_domain == "127.0.0.1:5000"
    client.post("/sandbox/ticket", base_url="http://127.0.0.1:5000")
    client.post("/sandbox/authorize", base_url="http://127.0.0.1:5000")
    home = _text(client.get("/", base_url="http://127.0.0.1:5000"))
    assert 'id="sandbox-lenient"' in home
    assert "real WeCom would refuse this redirect URI" in home and "真实企业微信会拒绝这个 redirect URI" in home
    assert "in production serve it on 443 on your trusted domain (WECOM_PUBLIC_URL)" in home
    setup = _text(client.get("/setup", base_url="http://127.0.0.1:5000"))
    assert '<code id="redirect-host">127.0.0.1:5000</code>' in setup and "127.0.0.1:5000</code>" in setup
    assert '<code id="trusted-domain">你的已备案域名 / your ICP-filed domain</code>' in setup
    assert '<code id="web-login-domain">127.0.0.1:5000</code>' in setup
    rows = _doctor_rows(setup)
    (status, row), = rows["trusted_domain"]
    assert status == "warn" and "allow_local_redirects" in row and "127.0.0.1:5000" in row
    fix = row.split('class="wecom-doctor-fix">', 1)[1]
    assert "127.0.0.1" not in fix and "WECOM_PUBLIC_URL=https://" in fix  # never advise what WeCom refuses
    # in-client OAuth works here, and WeCom's (simulated) page carries the same warning
    start = client.get("/wecom/login?via=oauth&next=/profile", base_url="http://127.0.0.1:5000")
    page = requests.get(start.location.split("#")[0], timeout=10).text
    assert 'data-lenient="allow_local_redirects"' in page and "real WeCom would refuse this redirect URI" in page
    answer = confirm(start.location)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("http://127.0.0.1:5000/wecom/authorized")
    # the CLI checks as real WeCom would: it knows nothing of the simulator's leniency
    result = demo.test_cli_runner().invoke(args=["wecom", "doctor", "--json", "--public-url", "http://127.0.0.1:5000"])
    cli = [r for r in json.loads(result.output)["results"] if r["id"] == "trusted_domain"]
    assert [r["status"] for r in cli] == ["fail"] and result.exit_code != 0


# -- switches --------------------------------------------------------------------------------


def test_switch_ip_not_whitelisted(client):
    client.post("/sandbox/ticket")
    client.post("/sandbox/authorize")
    client.post("/sandbox/switch", data={"key": "ip", "on": "1"})
    home = _text(client.get("/"))
    # the button says what it does; the state is shown apart from it
    assert re.search(r'<li data-switch="ip" data-on="1">.*?data-state="on">现在：开启 · now on</span>\s*'
                     r'<button type="submit" class="small plain">关闭它 · Turn off</button>', home, re.S)
    start = client.get("/wecom/login?via=oauth&next=/profile")
    answer = confirm(start.location)
    response = client.get(answer.headers["Location"][len("http://localhost"):])
    page = _text(response)
    assert response.status_code == 502 and 'data-reason="ip_not_whitelisted"' in page
    assert '<code id="wecom-ip">127.0.0.1</code>' in page
    client.post("/sandbox/reset")
    home = _text(client.get("/"))
    assert 'data-state="on"' not in home and "开启它 · Turn on" in home and "关闭它 · Turn off" not in home


def test_switch_trusted_domain_mismatch_shows_wecoms_page(client):
    client.post("/sandbox/ticket")
    client.post("/sandbox/authorize")
    client.post("/sandbox/switch", data={"key": "domain", "on": "1"})
    start = client.get("/wecom/login?via=oauth&next=/profile")
    answer = confirm(start.location)
    assert 'data-errcode="50001"' in answer.text and "redirect_uri需使用应用可信域名" in answer.text
    # QR login is checked against the separate 授权回调域 (98173), which still follows the host
    answer = confirm(client.get("/wecom/login?via=qr&next=/profile").location)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("http://localhost/wecom/authorized")


def test_switch_app_disabled_shows_wecoms_page(client):
    client.post("/sandbox/ticket")
    client.post("/sandbox/authorize")
    client.post("/sandbox/switch", data={"key": "closed", "on": "1"})
    answer = confirm(client.get("/wecom/login?via=oauth").location)
    assert 'data-errcode="50003"' in answer.text


def test_switch_snsapi_base_and_member_outside_range(client):
    client.post("/sandbox/ticket")
    client.post("/sandbox/authorize")
    client.post("/sandbox/switch", data={"key": "base", "on": "1"})
    response = _walk_to_profile(client, userid="wangwu")
    assert response.status_code == 403 and 'data-reason="not_visible"' in _text(response)
    assert _walk_to_profile(client).location == "/profile"
    assert "没有邮箱 / no email" in _text(client.get("/profile"))


def test_expired_code_button(client):
    client.post("/sandbox/ticket")
    client.post("/sandbox/authorize")
    armed = _text(client.post("/sandbox/expire-code", follow_redirects=True))
    assert 'data-state="armed">现在：已设置 · now armed' in armed
    start = client.get("/wecom/login?via=oauth&next=/profile")
    response = client.get(confirm(start.location).headers["Location"][len("http://localhost"):])
    page = _text(response)
    assert response.status_code == 400 and 'data-reason="code_invalid"' in page and "40029" in page
    assert 'data-state="off">现在：未设置 · now off' in _text(client.get("/"))


def test_forged_answer_link(client):
    page = _text(client.get("/"))
    link = re.search(r'href="(/wecom/authorized\?[^"]+)"', page).group(1).replace("&amp;", "&")
    response = client.get(link)
    assert response.status_code == 400 and 'data-reason="state_mismatch"' in _text(response)


def test_json_api_of_the_demo(client):
    assert client.get("/api/me", headers={"Accept": "application/json"}).status_code == 401
    _walk_to_profile(client)
    assert client.get("/api/me").json["email"] == "zhangsan@corp1.example.com"


# -- real mode ------------------------------------------------------------------------------------


def test_settings_from_env_only_takes_known_keys():
    env = {"WECOM_CORP_ID": "ww1", "WECOM_AGENT_ID": "1000002", "WECOM_TEST_REDIS_URL": "redis://x",
           "WECOM_STATE_MAX_AGE": "120", "WECOM_EXCHANGE_IN_BACKGROUND": "false", "WECOM_HTTP_TIMEOUT": "3, 7",
           "WECOM_SECRET": ""}
    assert settings_from_env(env) == {"WECOM_CORP_ID": "ww1", "WECOM_AGENT_ID": "1000002",
                                      "WECOM_STATE_MAX_AGE": 120, "WECOM_EXCHANGE_IN_BACKGROUND": False,
                                      "WECOM_HTTP_TIMEOUT": (3.0, 7.0)}


def _real_env(monkeypatch, tmp_path, values):
    for key in list(os.environ):
        if key.startswith("WECOM_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SECRET_KEY", "real-mode-secret-key-0123456789")
    monkeypatch.setenv("WECOM_DATABASE_URI", "sqlite:///" + str(tmp_path / "real.sqlite3"))
    monkeypatch.setenv("WECOM_CACHE_DIR", str(tmp_path / "cache"))
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def test_real_mode_against_a_wecom_it_does_not_know_is_fake(monkeypatch, tmp_path, fake_wecom):
    """With WECOM_* env vars the demo is a real-WeCom client; here 'real WeCom' is a served FakeWeCom."""
    _real_env(monkeypatch, tmp_path, {
        "WECOM_CORP_ID": fake_wecom.corp.corp_id, "WECOM_SECRET": fake_wecom.corp.secret,
        "WECOM_AGENT_ID": str(fake_wecom.corp.agent_id), "WECOM_API_BASE": fake_wecom.url,
        "WECOM_OAUTH_AUTHORIZE_URL": fake_wecom.oauth_authorize_endpoint,
        "WECOM_SSO_LOGIN_URL": fake_wecom.web_login_endpoint,
    })
    app = create_app({"TESTING": True})
    assert app.config["DEMO_SANDBOX"] is False and app.extensions["wecom_demo"] is None
    client = app.test_client()
    home = _text(client.get("/"))
    assert "真实企业微信" in home and 'id="push-ticket"' not in home
    assert client.post("/sandbox/ticket").status_code == 404
    setup = _text(client.get("/setup"))
    assert 'data-passed="true"' in setup and fake_wecom.corp.secret not in setup
    assert 'data-check="corp_token" data-status="ok"' in setup
    assert 'id="callback-url"' not in setup  # self-built: no template callback
    start = client.get("/wecom/login?next=/profile", headers={"User-Agent": "wxwork/4.1"})
    response = client.get(confirm(start.location).headers["Location"][len("http://localhost"):])
    assert response.location == "/profile"
    assert "zhangsan@corp1.example.com" in _text(client.get("/profile"))


def test_real_mode_with_incomplete_settings_still_starts_and_explains(monkeypatch, tmp_path):
    _real_env(monkeypatch, tmp_path, {"WECOM_SUITE_ID": "dk0123456789abcdef",
                                      "WECOM_ENCODING_AES_KEY": "too-short"})
    app = create_app({"TESTING": True})
    page = _text(app.test_client().get("/setup"))
    # the doctor's check 1 has one failing row per problem, each naming its key
    config_rows = [row for row in page.split("<tr ")[1:] if 'data-check="config"' in row]
    for key in ("WECOM_SUITE_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY"):
        assert any(key in row and 'data-status="fail"' in row for row in config_rows), key
    assert '<code id="callback-url">http://localhost/wecom/callback</code>' in page


def test_dotenv_file_switches_to_real_mode(monkeypatch, tmp_path):
    pytest.importorskip("dotenv")
    _real_env(monkeypatch, tmp_path, {})
    monkeypatch.delenv("WECOM_DATABASE_URI")
    monkeypatch.delenv("WECOM_CACHE_DIR")
    (tmp_path / ".env").write_text(
        "WECOM_CORP_ID=wwdotenv0123456789\nWECOM_SECRET=dotenv-secret-value-123\nWECOM_AGENT_ID=1000002\n"
        f"WECOM_DATABASE_URI=sqlite:///{tmp_path / 'env.sqlite3'}\nWECOM_CACHE_DIR={tmp_path / 'cache'}\n")
    monkeypatch.chdir(tmp_path)
    added = ["WECOM_CORP_ID", "WECOM_SECRET", "WECOM_AGENT_ID", "WECOM_DATABASE_URI", "WECOM_CACHE_DIR"]
    try:
        app = create_app({"TESTING": True})
    finally:
        for key in added:
            os.environ.pop(key, None)
    assert app.config["DEMO_SANDBOX"] is False
    assert app.config["WECOM_CORP_ID"] == "wwdotenv0123456789"
    page = _text(app.test_client().get("/setup"))
    assert str(tmp_path / ".env") in page and "dotenv-secret-value-123" not in page


def test_no_settings_means_sandbox(monkeypatch):
    for key in list(os.environ):
        if key.startswith("WECOM_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("WECOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")  # not a flask-wecom setting
    app = create_app({"TESTING": True})
    try:
        assert app.config["DEMO_SANDBOX"] is True
        assert app.config["WECOM_API_BASE"] == app.extensions["wecom_demo"].url
    finally:
        app.extensions["wecom_demo"].close()


def _doctor_rows(page: str) -> dict:
    rows = {}
    for row in page.split("<tr ")[1:]:
        if 'data-check="' in row:
            check = row.split('data-check="', 1)[1].split('"', 1)[0]
            status = row.split('data-status="', 1)[1].split('"', 1)[0]
            rows.setdefault(check, []).append((status, row))
    return rows


def test_setup_page_runs_the_doctor_in_sandbox(demo, client):
    """Issue 6: the setup page shows the same checks as `flask wecom doctor`, and every failure can be
    produced on purpose — here a broken trusted domain, seen before anyone logs in."""
    before = _doctor_rows(_text(client.get("/setup")))
    assert before["suite_ticket"][0][0] == "fail"  # nothing pushed yet
    assert before["callback"][0][0] in ("ok", "warn")  # Token / AESKey / receiveid agree with the "console"
    client.post("/sandbox/ticket")
    client.post("/sandbox/authorize")
    healthy = _doctor_rows(_text(client.get("/setup")))
    for check in ("suite_ticket", "suite_token", "corp_token", "app_status", "visible_range"):
        assert all(status == "ok" for status, _ in healthy[check]), (check, healthy[check])
    # the sandbox's simulator accepts "localhost" as 可信域名; real WeCom would not, and the row says so
    (status, row), = healthy["trusted_domain"]
    assert status == "warn" and "real WeCom would refuse this redirect URI" in row, row
    assert "allow_local_redirects" in row and "443" in row
    (status, row), = healthy["web_login_domain"]
    assert status == "ok" and "localhost" in row and "授权回调域" in row

    client.post("/sandbox/switch", data={"key": "domain", "on": "1"})
    page = _text(client.get("/setup"))
    broken = _doctor_rows(page)
    status, row = broken["trusted_domain"][0]
    assert status == "fail" and "localhost" in row and "redirect_uri需使用应用可信域名" in row
    box = demo.extensions["wecom_demo"]
    for secret in (box.fake.suite.suite_secret, box.fake.suite.encoding_aes_key, box.fake.corp.permanent_code):
        assert secret not in page

    # the CLI says the same
    result = demo.test_cli_runner().invoke(args=["wecom", "doctor", "--json", "--public-url", "http://localhost"])
    data = json.loads(result.output)
    cli = {r["id"]: r["status"] for r in data["results"] if r["id"] == "trusted_domain"}
    assert cli == {"trusted_domain": "fail"} and result.exit_code != 0



# -- every doctor failure on purpose (issue 6) ----------------------------------------------------

def _authorized(client) -> None:
    assert client.post("/sandbox/ticket").status_code == 302
    assert client.post("/sandbox/authorize").status_code == 302


def _statuses(rows: dict, check: str) -> list:
    return [status for status, _ in rows.get(check, [])]


def _cli_statuses(demo) -> dict:
    result = demo.test_cli_runner().invoke(args=["wecom", "doctor", "--json", "--public-url", "http://localhost"])
    data = json.loads(result.output)
    statuses: dict = {}
    for r in data["results"]:
        statuses.setdefault(r["id"], []).append(r["status"])
    return {"exit_code": result.exit_code, **statuses}


def _login_lands_on_profile(client) -> str:
    """Log in (no new ticket, no new authorization) and return the profile page."""
    start = client.get("/wecom/login?via=oauth&next=/profile")
    answer = confirm(start.location)
    assert answer.status_code == 302, answer.text[:1000]
    done = client.get(answer.headers["Location"][len("http://localhost"):])
    assert done.status_code == 302 and done.location == "/profile", _text(done)[:2000]
    return _text(client.get("/profile"))


def test_sandbox_settings_come_from_the_fake(demo):
    box = demo.extensions["wecom_demo"]
    expected = box.fake.flask_config()
    for key, value in expected.items():
        assert demo.config[key] == value, key
    assert demo.config["WECOM_PROVIDER_SECRET"] == box.fake.provider.secret
    assert demo.config["WECOM_DATABASE_URI"].startswith("sqlite:///" + box.workdir)
    assert demo.config["WECOM_EXCHANGE_IN_BACKGROUND"] is True


def test_healthy_sandbox_checks_the_trial_and_passes_with_warnings(client):
    _authorized(client)
    page = _text(client.get("/setup"))
    rows = _doctor_rows(page)
    (status, row), = rows["authorization"]
    # WECOM_PROVIDER_SECRET is set in sandbox mode, so check 6 reads the licence trial
    assert status == "ok" and "免费试用期到" in row and "trial until" in row
    # plain http on localhost: the two callback rows warn, and the trusted-domain row says real WeCom
    # would refuse the host (the sandbox is more lenient); nothing fails
    assert _statuses(rows, "callback") == ["warn", "warn"]
    assert _statuses(rows, "trusted_domain") == ["warn"]
    assert 'data-passed="true" data-verdict="warn"' in page
    assert "✓ 通过，有 3 项提醒 / passed with 3 warnings" in page and "全部通过" not in page


#: switch → the doctor rows it makes fail (and the ones that must stay healthy meanwhile)
SWITCH_FAILS = {
    "secret": ("corp_token", "authorization"),
    "visible": ("visible_range",),
    "offline": ("app_status",),
    "token": ("callback",),
    "ip": ("suite_token", "corp_token"),
    "closed": ("corp_token",),
    "domain": ("trusted_domain",),
}


@pytest.mark.parametrize("key", sorted(SWITCH_FAILS))
def test_each_switch_fails_its_doctor_row_and_reset_restores(demo, client, key):
    _authorized(client)
    assert 'data-passed="true"' in _text(client.get("/setup"))

    home = _text(client.post("/sandbox/switch", data={"key": key, "on": "1"}, follow_redirects=True))
    assert f'<li data-switch="{key}" data-on="1">' in home
    assert "已开启" in home and "/setup" in home  # the flash says where to look
    page = _text(client.get("/setup"))
    rows = _doctor_rows(page)
    for check in SWITCH_FAILS[key]:
        assert "fail" in _statuses(rows, check), (key, check, rows.get(check))
    assert 'data-passed="false" data-verdict="fail"' in page and "✗ 有检查未通过 / some checks failed" in page
    assert _statuses(rows, "config") == ["ok"]  # our settings themselves are fine

    home = _text(client.post("/sandbox/reset", follow_redirects=True))
    assert "沙盒开关已全部关闭" in home and 'data-on="1"' not in home
    after = _doctor_rows(_text(client.get("/setup")))
    assert all(status in ("ok", "warn") for rows_ in after.values() for status, _ in rows_), after
    assert _login_lands_on_profile(client).count("zhangsan@corp1.example.com")


def test_secret_reset_behind_our_back(demo, client):
    """WeCom has a new permanent code but the reset_permanent_code push never reached us: 40001.
    Turning the switch off replays the push through our callback; the extension exchanges the new code."""
    box = demo.extensions["wecom_demo"]
    page = _text(client.post("/sandbox/switch", data={"key": "secret", "on": "1"}, follow_redirects=True))
    assert "请先完成第 ② 步" in page and 'data-switch="secret" data-on="0"' in page  # nothing to reset yet

    _authorized(client)
    client.post("/sandbox/switch", data={"key": "secret", "on": "1"})
    stored = WeCom.state(demo).store.get_permanent_code(box.fake.corp.auth_corp_id)
    assert stored != box.fake.corp.permanent_code
    (status, row), = _doctor_rows(_text(client.get("/setup")))["corp_token"]
    assert status == "fail" and "40001" in row and "reset_permanent_code" in row
    cli = _cli_statuses(demo)
    assert cli["corp_token"] == ["fail"] and cli["authorization"] == ["fail"] and cli["exit_code"] != 0

    # a login fails too, on our error page
    start = client.get("/wecom/login?via=oauth&next=/profile")
    response = client.get(confirm(start.location).headers["Location"][len("http://localhost"):])
    assert response.status_code >= 400 and "40001" in _text(response)

    reset_pushes = len(WeCom.state(demo).store.recent_auth_codes(limit=20))
    client.post("/sandbox/switch", data={"key": "secret", "on": "0"})
    codes = WeCom.state(demo).store.recent_auth_codes(limit=20)
    assert len(codes) == reset_pushes + 1 and codes[0].info_type == "reset_permanent_code"
    assert WeCom.state(demo).store.get_permanent_code(box.fake.corp.auth_corp_id) == box.fake.corp.permanent_code
    assert _statuses(_doctor_rows(_text(client.get("/setup"))), "corp_token") == ["ok"]
    assert "张三" in _login_lands_on_profile(client)


def test_authorizing_again_clears_the_secret_switch(demo, client):
    _authorized(client)
    client.post("/sandbox/switch", data={"key": "secret", "on": "1"})
    assert 'data-switch="secret" data-on="1"' in _text(client.get("/"))
    client.post("/sandbox/authorize")  # a new authorization brings a new permanent code
    assert 'data-switch="secret" data-on="0"' in _text(client.get("/"))
    assert _statuses(_doctor_rows(_text(client.get("/setup"))), "corp_token") == ["ok"]


def test_empty_visible_range_and_app_not_online_agree_with_the_cli(demo, client):
    box = demo.extensions["wecom_demo"]
    _authorized(client)
    client.post("/sandbox/switch", data={"key": "visible", "on": "1"})
    client.post("/sandbox/switch", data={"key": "offline", "on": "1"})
    assert not any(m.visible for m in box.fake.corp.members) and box.fake.corp.publish_status == 1
    rows = _doctor_rows(_text(client.get("/setup")))
    cli = _cli_statuses(demo)
    for check in ("visible_range", "app_status"):
        assert _statuses(rows, check) == ["fail"] == cli[check], check
    assert cli["exit_code"] != 0
    # at login WeCom's page says the member is outside the visible range
    answer = confirm(client.get("/wecom/login?via=oauth").location, "zhangsan")
    assert 'data-errcode="50002"' in answer.text

    client.post("/sandbox/reset")
    # the visibility is put back as it was: 王五 stays outside the range
    assert [m.visible for m in box.fake.corp.members] == [True, True, False]
    assert box.fake.corp.publish_status == 2
    cli = _cli_statuses(demo)
    assert cli["visible_range"] == cli["app_status"] == ["ok"] and cli["exit_code"] == 0


def test_token_mismatch_with_the_console(demo, client):
    box = demo.extensions["wecom_demo"]
    ours = demo.config["WECOM_TOKEN"]
    client.post("/sandbox/switch", data={"key": "token", "on": "1"})
    assert box.console_settings()["WECOM_TOKEN"] != ours and demo.config["WECOM_TOKEN"] == ours
    rows = _doctor_rows(_text(client.get("/setup")))
    assert _statuses(rows, "callback") == ["fail", "fail"]
    assert "Token 不一致" in rows["callback"][0][1] and "the Token differs" in rows["callback"][0][1]
    # WeCom signs its pushes with the console's Token: ours refuses them
    page = _text(client.post("/sandbox/ticket", follow_redirects=True))
    assert "推送失败" in page and "HTTP 403" in page
    client.post("/sandbox/reset")
    assert box.console_settings()["WECOM_TOKEN"] == ours
    assert "已保存" in _text(client.post("/sandbox/ticket", follow_redirects=True))
    assert _statuses(_doctor_rows(_text(client.get("/setup"))), "callback") == ["warn", "warn"]


def test_stale_ticket_is_a_one_way_button(demo, client):
    box = demo.extensions["wecom_demo"]
    assert 'id="let-time-pass" disabled' in _text(client.get("/"))  # no ticket to go stale yet
    assert "先做第 ① 步" in _text(client.post("/sandbox/time", follow_redirects=True))
    _authorized(client)
    assert 'id="let-time-pass" disabled' not in _text(client.get("/"))
    before = box.fake.now()
    page = _text(client.post("/sandbox/time", follow_redirects=True))
    assert box.fake.now() - before >= 31 * 60  # the simulator's clock moved on
    assert 'data-switch="time" data-on="1"' in page and 'data-state="stale">现在：ticket 已过期 · now stale' in page
    # the home page agrees with /setup: step ① and the status pill say stale too, not "received"
    assert 'id="ticket-state" data-stale="1"' in page and "已过期 stale" in page
    assert '<li class="">\n      <span class="num">1</span>' in page
    rows = _doctor_rows(_text(client.get("/setup")))
    (ticket_status, ticket_row), = rows["suite_ticket"]
    (token_status, token_row), = rows["suite_token"]
    assert ticket_status == "fail" and "31 min" in ticket_row
    assert token_status == "fail" and "40085" in token_row
    cli = _cli_statuses(demo)
    assert cli["suite_ticket"] == cli["suite_token"] == ["fail"] and cli["exit_code"] != 0
    # no way back but a fresh push, as with real WeCom
    client.post("/sandbox/ticket")
    rows = _doctor_rows(_text(client.get("/setup")))
    assert _statuses(rows, "suite_ticket") == _statuses(rows, "suite_token") == ["ok"]
    home = _text(client.get("/"))
    assert 'data-switch="time" data-on="0"' in home and 'id="ticket-state" data-stale="0"' in home


def test_reset_undoes_everything_at_once_and_login_works(demo, client):
    box = demo.extensions["wecom_demo"]
    _authorized(client)
    for key in box.switches:
        client.post("/sandbox/switch", data={"key": key, "on": "1"})
    client.post("/sandbox/time")
    client.post("/sandbox/expire-code")
    with demo.app_context():
        assert all(s.on for s in box.switches.values()) and box.ticket_stale and box.code_fault_armed
    assert 'data-passed="false"' in _text(client.get("/setup"))

    home = _text(client.post("/sandbox/reset", follow_redirects=True))
    assert "沙盒开关已全部关闭" in home, home
    with demo.app_context():
        assert not any(s.on for s in box.switches.values()) and not box.ticket_stale
        assert not box.code_fault_armed
    page = _text(client.get("/setup"))
    assert 'data-passed="true"' in page and 'data-status="fail"' not in page
    profile = _login_lands_on_profile(client)  # the stored (re-exchanged) permanent code works
    assert "张三" in profile and "zhangsan@corp1.example.com" in profile  # snsapi_privateinfo again


def test_summary_wording(demo):
    from flask import render_template_string

    from flask_wecom.doctor import CheckResult, summarize

    def render(*statuses):
        results = [CheckResult(f"c{i}", "title", status, "finding", step=1) for i, status in enumerate(statuses)]
        with demo.test_request_context("/"):
            return render_template_string('{% include "wecom/_doctor_table.html" %}', doctor_results=results,
                                          doctor_summary=summarize(results))

    assert "✓ 全部通过 / all checks passed" in render("ok", "ok", "skip")
    one = render("ok", "warn")
    assert "✓ 通过，有 1 项提醒 / passed with 1 warning<" in one and "全部通过" not in one
    assert "✓ 通过，有 3 项提醒 / passed with 3 warnings" in render("warn", "warn", "warn", "ok")
    failed = render("ok", "warn", "fail")
    assert "✗ 有检查未通过 / some checks failed" in failed and "通过，有" not in failed
    # the narrow-screen layout travels with the partial, not only in the demo's CSS
    assert "@media (max-width: 40rem)" in one and "处理 / Fix: " in one


# -- escaping ------------------------------------------------------------------------------------

XSS = '<script>alert(1)</script>"\'><img src=x onerror=alert(2)>'


def test_html_in_member_and_corp_data_is_escaped_on_every_page(demo, client):
    """A member (or corp) name is data WeCom hands us: every page must escape it, never run it."""
    box = demo.extensions["wecom_demo"]
    member = box.fake.corp.members[0]
    member.name, member.email, member.position, member.alias = "张" + XSS, "a" + XSS + "@x.com", XSS, XSS
    box.fake.corp.name = "示例" + XSS
    flashed = _text(client.post("/sandbox/ticket", follow_redirects=True))
    flashed += _text(client.post("/sandbox/authorize", follow_redirects=True))
    start = client.get("/wecom/login?via=oauth&next=/profile")
    assert client.get(confirm(start.location).headers["Location"][len("http://localhost"):]).location == "/profile"
    pages = {path: _text(client.get(path)) for path in ("/", "/profile", "/setup", "/wecom/logout", "/nope")}
    assert "示例&lt;script&gt;" in flashed  # the corp name in the flash message
    pages["flash"] = flashed
    for path, page in pages.items():
        assert "<script>alert(1)" not in page and "<img src=x" not in page, path
    for path in ("/", "/profile", "/wecom/logout"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[path], path  # shown, escaped
    api = client.get("/api/me")
    assert api.mimetype == "application/json" and api.json["name"] == "张" + XSS  # data, not markup


def test_real_mode_setup_reuses_one_doctor_run_for_30_seconds(monkeypatch, tmp_path, fake_wecom):
    """The doctor calls gettoken fresh; in real mode reloading /setup must not turn into a gettoken loop."""
    _real_env(monkeypatch, tmp_path, {
        "WECOM_CORP_ID": fake_wecom.corp.corp_id, "WECOM_SECRET": fake_wecom.corp.secret,
        "WECOM_AGENT_ID": str(fake_wecom.corp.agent_id), "WECOM_API_BASE": fake_wecom.url,
    })
    app = create_app({"TESTING": True})
    client = app.test_client()
    first = _text(client.get("/setup"))
    second = _text(client.get("/setup"))
    assert 'id="doctor-checked"' in first and 'id="doctor-checked"' in second
    assert len(fake_wecom.calls_to("/cgi-bin/gettoken")) == 1
    cached = app.extensions["wecom_demo_doctor"]
    app.extensions["wecom_demo_doctor"] = (cached[0], cached[1] - 31)  # 31 s later
    client.get("/setup")
    assert len(fake_wecom.calls_to("/cgi-bin/gettoken")) == 2


# -- issue 9: what a 代开发 app may read, and interface licences -------------------------------------


def test_permissions_switch_profile_explains_the_withheld_fields(demo, client):
    """Name and email not granted (doc 98980): the login still works, the profile shows the UserID and says
    which permissions to ask for and whom; the doctor's check 8 warns; switching back restores both."""
    box = demo.extensions["wecom_demo"]
    _authorized(client)
    home = _text(client.post("/sandbox/switch", data={"key": "permissions", "on": "1"}, follow_redirects=True))
    assert '<li data-switch="permissions" data-on="1">' in home
    rows = _doctor_rows(_text(client.get("/setup")))
    (status, row), = rows["permissions"]
    assert status == "warn" and "contact:sensitive:user_name" in row and "contact:sensitive:email" in row
    assert "申请自定义权限" in row and "权限管理" in row
    profile = _login_lands_on_profile(client)
    member = box.fake.corp.members[0]
    assert member.name not in profile and member.email not in profile
    assert 'id="profile-withheld" data-withheld="name,email"' in profile
    assert f'<div class="name" id="profile-name">{member.open_userid}</div>' in profile  # the UserID fallback
    for words in ("企业微信没有提供此成员的姓名、邮箱", "WeCom withheld this member's name, email",
                  "<code>contact:sensitive:user_name</code>", "<code>contact:sensitive:email</code>",
                  "申请自定义权限", "权限管理", "98980"):
        assert words in profile, words
    assert client.get("/api/me").json["withheld"] == ["name", "email"]

    client.post("/sandbox/switch", data={"key": "permissions", "on": "0"})
    profile = _login_lands_on_profile(client)
    assert member.name in profile and member.email in profile and 'id="profile-withheld"' not in profile
    assert _statuses(_doctor_rows(_text(client.get("/setup"))), "permissions") == ["ok"]


def test_trial_switch_warns_and_refuses_only_unlicensed_members(demo, client):
    """Doc 97194: after the trial only members without a licence are refused (701016): 张三 gets our
    page saying so, 李四 (licensed) logs in; the doctor warns, it does not fail."""
    box = demo.extensions["wecom_demo"]
    _authorized(client)
    home = _text(client.post("/sandbox/switch", data={"key": "trial", "on": "1"}, follow_redirects=True))
    assert 'data-licensed="1"' in home and 'data-licensed="0"' in home  # who holds a licence is shown
    page = _text(client.get("/setup"))
    (status, row), = _doctor_rows(page)["authorization"]
    assert status == "warn" and "免费试用期已于" in row and "701016" in row
    assert 'data-passed="true"' in page
    cli = _cli_statuses(demo)
    assert cli["authorization"] == ["warn"] and cli["exit_code"] == 0

    start = client.get("/wecom/login?via=oauth&next=/profile")
    refused = client.get(confirm(start.location, "zhangsan").headers["Location"][len("http://localhost"):])
    text = _text(refused)
    assert refused.status_code == 403 and 'data-reason="no_licence"' in text and "701016" in text

    start = client.get("/wecom/login?via=oauth&next=/profile")
    done = client.get(confirm(start.location, "lisi").headers["Location"][len("http://localhost"):])
    assert done.status_code == 302 and done.location == "/profile"
    assert box.fake.corp.member("lisi").name in _text(client.get("/profile"))

    client.post("/sandbox/switch", data={"key": "trial", "on": "0"})
    assert "张三" in _login_lands_on_profile(client)


def _visible_text(response) -> str:
    return re.sub(r"<(script|style)[^>]*>.*?</\1>", "", _text(response), flags=re.S)


def test_no_page_shows_a_literal_backtick(demo, client):
    """Commands in messages (`flask wecom exchange`…) are shown as <code> on every page: the home page, /setup
    with each switch on, and the login failure pages those switches lead to."""
    box = demo.extensions["wecom_demo"]
    pages = {"home": client.get("/"), "setup": client.get("/setup")}
    _authorized(client)
    for key in box.switches:
        pages[f"switch {key}"] = client.post("/sandbox/switch", data={"key": key, "on": "1"}, follow_redirects=True)
        pages[f"setup {key}"] = client.get("/setup")
        start = client.get("/wecom/login?via=oauth&next=/profile")
        pages[f"login {key}"] = start
        if start.status_code == 302 and start.location.startswith(box.url):
            answer = confirm(start.location)
            if answer.status_code == 302:
                location = answer.headers["Location"][len("http://localhost"):]
                pages[f"authorized {key}"] = client.get(location, follow_redirects=True)
        client.post("/sandbox/reset")
    pages["stale"] = client.post("/sandbox/time", follow_redirects=True)
    pages["setup stale"] = client.get("/setup")
    with_ticks = {name: _visible_text(r) for name, r in pages.items() if "`" in _visible_text(r)}
    assert not with_ticks, {name: text[text.index("`") - 80:text.index("`") + 40] for name, text in with_ticks.items()}
    # and the commands are still there, as code
    assert "<code>flask wecom exchange</code>" in _text(pages["setup secret"])


def test_code_spans_filter():
    from flask_wecom.login import code_spans

    assert code_spans("run `flask wecom doctor` <now>") == "run <code>flask wecom doctor</code> &lt;now&gt;"
    assert code_spans("a stray ` tick") == "a stray  tick" and code_spans(None) == ""
