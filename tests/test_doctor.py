"""The doctor's checks 1–7 against the simulator over real HTTP, each fault switched on and off."""
from __future__ import annotations

import time

import pytest
from doctor_support import (
    CALLBACK,
    HOST,
    PUBLIC_URL,
    assert_no_secret,
    authorize,
    console_of,
    describe,
    make_app,
    push_ticket,
    row,
    rows,
    set_agent_answer,
)

from flask_wecom import WeCom
from flask_wecom.doctor import (
    CheckResult,
    DoctorContext,
    _authorization_row,
    run_checks,
    summarize,
    trusted_host,
)
from flask_wecom.doctor_flask import build_context, run_doctor
from flask_wecom.testing import DomainSettingError, FakeWeCom

DAY = 86400


#: the simulator of the ``fake`` fixture (tests/conftest.py)
pytestmark = pytest.mark.fake_wecom(trusted_domain=HOST, callback_ips=["101.226.103.0/25", "140.207.54.76"])


def check_all_ok(results):
    bad = [r for r in results if r.status not in ("ok",)]
    assert not bad, describe(bad)


def text_of(results) -> str:
    return "\n".join(f"{r.title} {r.finding} {r.fix} {' '.join(r.details)}" for r in results)


# -- a healthy setup in each mode ------------------------------------------------------------------


def test_customized_all_ok(fake, tmp_path):
    app = make_app(fake, tmp_path)
    results = run_doctor(app)
    check_all_ok(results)
    corp_id = fake.corp.auth_corp_id
    ids = [r.id for r in results]
    assert ids == ["config", "callback", "callback", "suite_ticket", "suite_token", "corp_token",
                   "trusted_domain", "web_login_domain", "app_status", "visible_range", "authorization",
                   "callback_ip", "permissions", "store"]
    assert [r.step for r in results] == [1, 2, 2, 3, 3, 4, 5, 5, 5, 5, 6, 7, 8, 9]
    assert row(results, "corp_token").corp_id == corp_id
    # check 2 names the exact URLs to paste into the console
    callbacks = rows(results, "callback")
    assert callbacks[0].details == [CALLBACK] and callbacks[1].details == [PUBLIC_URL + "/wecom/callback/data"]
    assert "代开发应用模板" in callbacks[0].finding
    # the trial is known (WECOM_PROVIDER_SECRET) and far away
    assert "免费试用期到" in row(results, "authorization").finding
    assert_no_secret(text_of(results), fake)


def test_internal_all_ok(fake, tmp_path):
    app = make_app(fake, tmp_path, "internal")
    results = run_doctor(app)
    by_id = {r.id: r.status for r in results}
    assert by_id["config"] == "ok"
    assert by_id["callback"] == "skip"  # no Token / EncodingAESKey: optional for self-built apps
    assert by_id["suite_ticket"] == by_id["suite_token"] == by_id["authorization"] == "skip"
    for key in ("corp_token", "trusted_domain", "app_status", "visible_range", "callback_ip"):
        assert by_id[key] == "ok", describe(results)
    assert summarize(results)["passed"]


def test_internal_callback_self_test_uses_the_corp_id(fake, tmp_path):
    app = make_app(fake, tmp_path, "internal", WECOM_TOKEN="InternalToken1",
                   WECOM_ENCODING_AES_KEY="a" * 43)
    result = row(run_doctor(app), "callback")
    assert result.status == "ok", result
    assert "接收消息" in result.finding


def test_third_party_all_ok(tmp_path):
    fake = FakeWeCom(app_type="third_party", trusted_domain=HOST)
    with fake.serve():
        app = make_app(fake, tmp_path, "third_party")
        results = run_doctor(app)
        check_all_ok(results)
        assert "get_corp_token" in row(results, "corp_token").finding


# -- check 1: configuration -------------------------------------------------------------------------


def test_config_problems_are_reported_and_dependent_checks_skip(fake, tmp_path):
    app = make_app(fake, tmp_path, provision=False, WECOM_CHECK_CONFIG=False, SECRET_KEY="dev",
                   WECOM_ENCODING_AES_KEY="tooShort", WECOM_TOKEN="bad token!", WECOM_SUITE_ID="ww1234",
                   WECOM_APP_TYPE="customized", WECOM_AGENT_ID="abc", WECOM_PUBLIC_URL="app.example.com")
    results = run_doctor(app)
    config = {r.title.split(": ", 1)[-1]: r for r in rows(results, "config")}
    assert config["WECOM_ENCODING_AES_KEY"].status == "fail"
    assert "43" in config["WECOM_ENCODING_AES_KEY"].finding
    assert config["WECOM_TOKEN"].status == "fail"
    assert config["WECOM_SUITE_ID"].status == "fail" and "dk" in config["WECOM_SUITE_ID"].finding
    assert config["WECOM_AGENT_ID"].status == "fail"
    assert config["SECRET_KEY"].status == "warn"
    assert config["WECOM_PUBLIC_URL"].status == "fail"
    # the callback self-test cannot run with a malformed Token / AES key
    assert {r.status for r in rows(results, "callback")} == {"skip"}
    assert "WECOM_ENCODING_AES_KEY" in rows(results, "callback")[0].finding
    assert not summarize(results)["passed"]
    # switched off: a clean configuration
    good = make_app(fake, tmp_path / "good", provision=False)
    assert row(run_doctor(good), "config").status == "ok"


# -- check 2: callback self-test --------------------------------------------------------------------


@pytest.mark.parametrize("key, value, words", [
    ("WECOM_TOKEN", "SomeOtherToken123", "Token"),
    ("WECOM_ENCODING_AES_KEY", "b" * 43, "EncodingAESKey"),
    ("WECOM_PROVIDER_CORP_ID", "wwNotTheProvider000", "receiveid"),
])
def test_callback_mismatch_fails_check_2(fake, tmp_path, key, value, words):
    app = make_app(fake, tmp_path)
    console = dict(console_of(fake), **{key: value})
    results = run_doctor(app, console=console)
    callbacks = rows(results, "callback")
    assert {r.status for r in callbacks} == {"fail"}, describe(callbacks)
    assert words in callbacks[0].finding and callbacks[0].fix
    assert_no_secret(text_of(results), fake, [value])
    # switched off: the console agrees with the app
    assert {r.status for r in rows(run_doctor(app, console=console_of(fake)), "callback")} == {"ok"}


def test_app_with_the_wrong_token_fails_check_2_and_gets_no_ticket(fake, tmp_path):
    app = make_app(fake, tmp_path, provision=False, WECOM_TOKEN="NotTheConsoleToken1")
    pushed = fake.push_suite_ticket(CALLBACK, client=app.test_client())
    assert pushed.status_code == 403  # what WeCom meets: its pushes are refused
    results = run_doctor(app, console=console_of(fake))
    assert row(results, "suite_ticket").status == "fail"
    callback = rows(results, "callback")[0]
    assert callback.status == "fail" and "WECOM_TOKEN" in callback.fix


def test_callback_route_intercepted_by_a_login_redirect(fake, tmp_path):
    app = make_app(fake, tmp_path, provision=False)

    @app.before_request
    def require_login():  # a site-wide login wall that forgot the callback's GET
        from flask import redirect, request

        if request.method == "GET" and request.path.startswith("/wecom/callback"):
            return redirect("/login")
        return None

    push_ticket(app, fake)
    authorize(app, fake)

    callbacks = rows(run_doctor(app), "callback")
    assert {r.status for r in callbacks} == {"fail"}
    assert "302" in callbacks[0].finding and "login" in callbacks[0].fix


def test_callback_warns_on_http_and_on_unknown_public_url(fake, tmp_path):
    app = make_app(fake, tmp_path, WECOM_PUBLIC_URL="http://app.example.com")
    callback = rows(run_doctor(app), "callback")[0]
    assert callback.status == "warn" and "HTTPS" in callback.fix
    assert callback.details == ["http://app.example.com/wecom/callback"]
    app.config["WECOM_PUBLIC_URL"] = None
    results = run_doctor(app)
    assert rows(results, "callback")[0].status == "warn"
    assert "WECOM_PUBLIC_URL" in rows(results, "callback")[0].fix
    domain = row(results, "trusted_domain")
    assert domain.status == "warn" and "WECOM_PUBLIC_URL" in domain.fix
    # an explicit public URL (the CLI's --public-url) fixes both
    results = run_doctor(app, public_url=PUBLIC_URL)
    assert rows(results, "callback")[0].status == "ok"
    assert row(results, "trusted_domain").status == "ok"


def test_callback_without_provider_corp_id_warns(fake, tmp_path):
    app = make_app(fake, tmp_path, WECOM_PROVIDER_CORP_ID=None)
    results = run_doctor(app)
    assert {r.status for r in rows(results, "callback")} == {"warn"}
    assert "WECOM_PROVIDER_CORP_ID" in rows(results, "callback")[0].fix
    assert any(r.status == "warn" and "WECOM_PROVIDER_CORP_ID" in r.title for r in rows(results, "config"))


def test_in_a_request_the_public_url_is_the_request_host(fake, tmp_path):
    app = make_app(fake, tmp_path, WECOM_PUBLIC_URL=None)
    with app.test_request_context("/setup", base_url="https://app.example.com"):
        results = run_doctor(app)
    domain = row(results, "trusted_domain")
    assert domain.status == "ok"
    assert any("current request" in d for d in domain.details)


# -- check 3: suite ticket and suite token -----------------------------------------------------------


def test_no_suite_ticket_fails_and_skips_the_suite_token(fake, tmp_path):
    app = make_app(fake, tmp_path, provision=False)
    results = run_doctor(app)
    ticket, token = row(results, "suite_ticket"), row(results, "suite_token")
    assert ticket.status == "fail"
    assert CALLBACK in ticket.finding and "刷新Ticket" in ticket.fix
    assert token.status == "skip" and "no suite_ticket" in token.finding
    assert row(results, "corp_token").status == "warn"  # nobody authorized yet
    # switched off: the ticket arrives
    push_ticket(app, fake)
    results = run_doctor(app)
    assert row(results, "suite_ticket").status == "ok"
    assert row(results, "suite_token").status == "ok"


def test_stale_ticket_on_our_side(fake, tmp_path):
    app = make_app(fake, tmp_path)
    state = WeCom.state(app)
    ticket = state.store.get_suite_ticket(fake.suite.suite_id)[0]
    state.store.save_suite_ticket(fake.suite.suite_id, ticket, received_at=time.time() - 3600)
    results = run_doctor(app)
    stale = row(results, "suite_ticket")
    assert stale.status == "fail" and "60 min" in stale.finding and "刷新Ticket" in stale.fix
    state.store.save_suite_ticket(fake.suite.suite_id, ticket, received_at=time.time() - 25 * 60)
    assert row(run_doctor(app), "suite_ticket").status == "warn"
    push_ticket(app, fake)
    assert row(run_doctor(app), "suite_ticket").status == "ok"


def test_ticket_expired_at_wecom_gives_40085(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.advance(31 * 60)
    results = run_doctor(app, clock=fake.now)
    token = row(results, "suite_token")
    assert token.status == "fail" and "40085" in token.finding and "刷新Ticket" in token.fix
    assert row(results, "authorization").status == "skip"  # needs the suite token
    push_ticket(app, fake)
    assert row(run_doctor(app, clock=fake.now), "suite_token").status == "ok"


def test_wrong_suite_secret_gives_40080(fake, tmp_path):
    app = make_app(fake, tmp_path, provision=False, WECOM_SUITE_SECRET="not-the-template-secret-000")
    push_ticket(app, fake)
    token = row(run_doctor(app), "suite_token")
    assert token.status == "fail" and "40080" in token.finding
    assert "模板 Secret" in token.fix and "permanent_code" in token.fix
    good = make_app(fake, tmp_path / "good")
    assert row(run_doctor(good), "suite_token").status == "ok"


def test_unknown_suite_gives_40083(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.fail("/cgi-bin/service/get_suite_token", 40083)
    token = row(run_doctor(app), "suite_token")
    assert token.status == "fail" and "40083" in token.finding and "dk" in token.fix
    assert row(run_doctor(app), "suite_token").status == "ok"  # the fault was for one call


def test_other_suite_id_never_receives_a_ticket(fake, tmp_path):
    app = make_app(fake, tmp_path, provision=False, WECOM_SUITE_ID="dk00000000000000ff")
    fake.push_suite_ticket(CALLBACK, client=app.test_client())  # SuiteId is not ours: ignored
    assert row(run_doctor(app), "suite_ticket").status == "fail"


def test_ip_not_whitelisted_at_the_provider_gives_60020_with_the_ip(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.provider.ip_whitelist = ["203.0.113.10"]
    results = run_doctor(app)
    for key in ("suite_token", "corp_token"):
        result = row(results, key)
        assert result.status == "fail" and "60020" in result.finding, describe(results)
        assert "127.0.0.1" in result.fix
        assert "服务商信息 → 基本信息 → IP白名单" in result.fix
    fake.provider.ip_whitelist = ["203.0.113.10", "127.0.0.1"]
    check_all_ok(run_doctor(app))


# -- check 4: corp tokens ---------------------------------------------------------------------------


def test_wrong_permanent_code_gives_40001(fake, tmp_path):
    app = make_app(fake, tmp_path)
    with fake.model.lock:  # 重新获取secret clicked, the reset_permanent_code push never reached us
        fake.model.reset_permanent_code()
    results = run_doctor(app)
    token = row(results, "corp_token")
    assert token.status == "fail" and "40001" in token.finding
    assert "重新获取secret" in token.fix and "flask wecom exchange" in token.fix
    assert row(results, "trusted_domain").status == "skip"
    assert row(results, "callback_ip").status == "skip"
    assert row(results, "authorization").status == "fail"
    # switched off: the push arrives and the new AuthCode is exchanged
    pushed = fake.reset_secret(CALLBACK, client=app.test_client())
    assert pushed.success
    check_all_ok(run_doctor(app))


def test_wrong_secret_of_a_self_built_app(fake, tmp_path):
    app = make_app(fake, tmp_path, "internal", WECOM_SECRET="not-the-app-secret-0000000")
    token = row(run_doctor(app), "corp_token")
    assert token.status == "fail" and "WECOM_SECRET" in token.fix and "40001" in token.finding


@pytest.mark.parametrize("errcode, words", [(40013, "auth_corp_info.corpid"), (48004, "重新扫码授权"),
                                            (50003, "重新启用")])
def test_gettoken_errors_are_mapped(fake, tmp_path, errcode, words):
    app = make_app(fake, tmp_path)
    fake.fail("/cgi-bin/gettoken", errcode)
    token = row(run_doctor(app), "corp_token")
    assert token.status == "fail" and str(errcode) in token.finding and words in token.fix
    assert row(run_doctor(app), "corp_token").status == "ok"


def test_third_party_permanent_code_40084(tmp_path):
    fake = FakeWeCom(app_type="third_party", trusted_domain=HOST)
    with fake.serve():
        app = make_app(fake, tmp_path, "third_party")
        fake.fail("/cgi-bin/service/get_corp_token", 40084)
        token = row(run_doctor(app), "corp_token")
        assert token.status == "fail" and "40084" in token.finding and "取消授权" in token.fix


def test_ip_not_whitelisted_for_a_self_built_app(fake, tmp_path):
    app = make_app(fake, tmp_path, "internal")
    fake.corp.ip_whitelist = ["198.51.100.7"]
    token = row(run_doctor(app), "corp_token")
    assert token.status == "fail" and "127.0.0.1" in token.fix and "企业可信IP" in token.fix
    fake.corp.ip_whitelist = None
    assert row(run_doctor(app), "corp_token").status == "ok"


def test_app_closed(fake, tmp_path):
    """gettoken of a disabled app answers 40001 (doc 90313's 40001 help: 应用已经停用); with no earlier
    token to ask agent/get with, the doctor names both causes and how to tell them apart."""
    app = make_app(fake, tmp_path)
    fake.corp.app_closed = True
    results = run_doctor(app)
    token = row(results, "corp_token")
    assert token.status == "fail" and "40001" in token.finding
    assert "应用已经停用" in token.fix and "disabled" in token.fix  # cause 2 …
    assert "重新启用" in token.fix and "应用管理" in token.fix  # … where to see it and the fix
    assert "重新获取secret" in token.fix and "reset" in token.fix  # cause 1: a reset secret (permanent_code)
    assert "close=1" in token.fix  # the other way to tell, while an earlier token works
    assert not token.details
    fake.corp.app_closed = False
    check_all_ok(run_doctor(app))


def test_app_closed_doctor_asks_agent_get_with_the_cached_token(fake, tmp_path):
    """The app logged members in before (its token is cached): the doctor tells a disabled app apart."""
    app = make_app(fake, tmp_path)
    state = WeCom.state(app)
    corp_id = fake.corp.auth_corp_id
    with app.app_context():
        assert state.provider.corp_token(corp_id).get()
    fake.corp.app_closed = True
    token = row(run_doctor(app), "corp_token")
    assert token.status == "fail" and "40001" in token.finding
    assert token.details == ["agent/get (access_token cached before): close=1"]
    assert token.fix.startswith("应用已被停用") and "重新启用" in token.fix and "re-enable" in token.fix
    assert "重新获取secret" not in token.fix
    assert fake.calls_to("/cgi-bin/agent/get")[-1].errcode in (None, 0)


def test_reset_secret_doctor_asks_agent_get_with_the_cached_token(fake, tmp_path):
    """A self-built app whose secret was reset while a token is cached: agent/get says close=0, so the
    doctor names the secret, not a disabled app."""
    app = make_app(fake, tmp_path, "internal")
    state = WeCom.state(app)
    with app.app_context():
        assert state.provider.corp_token(fake.corp.corp_id).get()
    fake.corp.secret = "reset-in-the-admin-console-000"  # WeCom's 重置 Secret; WECOM_SECRET is the old one
    token = row(run_doctor(app), "corp_token")
    assert token.status == "fail" and "40001" in token.finding
    assert token.details == ["agent/get (access_token cached before): close=0"]
    assert "secret 的问题" in token.fix and "WECOM_SECRET" in token.fix and "应用已被停用" not in token.fix
    assert "reset-in-the-admin-console-000" not in text_of([token])


# -- check 5: agent/get -----------------------------------------------------------------------------


def test_trusted_domain_mismatch_shows_the_exact_host(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.corp.trusted_domain = "wrong-domain.example.com"
    domain = row(run_doctor(app), "trusted_domain")
    assert domain.status == "fail"
    assert "回调URI参数错误 / redirect_uri需使用应用可信域名" in domain.finding
    assert "wrong-domain.example.com" in domain.finding
    assert f"改为 {HOST}（" in domain.fix and f"set the trusted domain to {HOST} in" in domain.fix
    assert "备案主体" in domain.fix and "配置开发信息" in domain.fix
    fake.corp.trusted_domain = HOST
    assert row(run_doctor(app), "trusted_domain").status == "ok"


def test_trusted_domain_with_a_port(fake, tmp_path):
    """96441 / 90313 80001: a 可信域名 cannot carry a port, so a redirect URI on :8443 can never work in the
    client; the fix names the domain without the port and how to serve it on 443."""
    app = make_app(fake, tmp_path, WECOM_PUBLIC_URL="https://app.example.com:8443")
    domain = row(run_doctor(app), "trusted_domain")
    assert domain.status == "fail" and "带有端口号" in domain.finding and "carries a port" in domain.finding
    assert "app.example.com:8443" not in domain.fix  # never advise a value WeCom refuses
    assert "WECOM_PUBLIC_URL=https://app.example.com" in domain.fix and "443" in domain.fix
    assert "enter app.example.com (no port) as the trusted domain" in domain.fix
    # WeCom's console refuses that value, and so does the simulator (80001)
    with pytest.raises(DomainSettingError) as refused:
        fake.corp.trusted_domain = "app.example.com:8443"
    assert refused.value.errcode == 80001 and fake.corp.trusted_domain == HOST
    # the scheme's default port is not part of the host WeCom compares
    fake.corp.trusted_domain = HOST
    assert row(run_doctor(app, public_url="https://app.example.com:443/"), "trusted_domain").status == "ok"


def test_trusted_domain_not_set(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.corp.trusted_domain = ""
    domain = row(run_doctor(app), "trusted_domain")
    assert domain.status == "fail" and f"填写 {HOST}" in domain.fix


def test_empty_visible_range(fake, tmp_path):
    app = make_app(fake, tmp_path)
    for member in fake.corp.members:
        member.visible = False
    visible = row(run_doctor(app), "visible_range")
    assert visible.status == "fail" and "可见范围" in visible.fix
    fake.corp.members[0].visible = True
    assert row(run_doctor(app), "visible_range").status == "ok"


@pytest.mark.parametrize("publish, status", [(0, "fail"), (1, "fail"), (2, "ok"), (3, "ok")])
def test_publish_status(fake, tmp_path, publish, status):
    app = make_app(fake, tmp_path)
    fake.corp.publish_status = publish
    result = row(run_doctor(app), "app_status")
    assert result.status == status
    if status == "fail":
        assert "上线" in result.fix


def test_close_flag_of_agent_get(fake, tmp_path):
    app = make_app(fake, tmp_path)
    set_agent_answer(fake, close=1)
    result = row(run_doctor(app), "app_status")
    assert result.status == "fail" and "close=1" in result.finding and "重新启用" in result.fix


def test_unknown_agent_id(fake, tmp_path):
    app = make_app(fake, tmp_path, "internal", WECOM_AGENT_ID="1000099")
    result = row(run_doctor(app), "trusted_domain")
    assert result.status == "fail" and "40056" in result.finding and "1000099" in result.fix


# -- check 6: authorization -------------------------------------------------------------------------


def test_authorization_cancelled_and_push_received(fake, tmp_path):
    app = make_app(fake, tmp_path)
    pushed = fake.cancel_auth(CALLBACK, client=app.test_client())
    assert pushed.success
    results = run_doctor(app)
    cancelled = row(results, "authorization")
    assert cancelled.status == "fail" and "cancel_auth" in cancelled.finding
    assert cancelled.corp_id == fake.corp.auth_corp_id
    assert row(results, "corp_token").status == "warn"  # no corp left
    authorize(app, fake)
    check_all_ok(run_doctor(app))


def test_authorization_cancelled_but_push_missed(fake, tmp_path):
    app = make_app(fake, tmp_path)
    with fake.model.lock:
        fake.model.cancel_authorization()
    results = run_doctor(app)
    assert row(results, "corp_token").status == "fail"
    auth = row(results, "authorization")
    assert auth.status == "fail" and "40084" in auth.finding and "cancel_auth" in auth.fix


def test_trial_expiring_then_expired(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.advance(80 * DAY)
    push_ticket(app, fake)  # the old ticket expired on the fake's clock
    auth = row(run_doctor(app, clock=fake.now), "authorization")
    assert auth.status == "warn", auth
    assert "还剩 9 天" in auth.finding or "还剩 10 天" in auth.finding
    assert "接口许可" in auth.fix
    # a shorter warning window: not yet worth a warning
    assert row(run_doctor(app, clock=fake.now, expiry_warning_days=5), "authorization").status == "ok"
    fake.corp.trial_expired = True
    expired = row(run_doctor(app, clock=fake.now), "authorization")
    # doc 97194: after the trial only members without a licence are refused — a warning, never a failure
    assert expired.status == "warn" and "免费试用期已于" in expired.finding and "基础账号" in expired.fix
    assert "没有有效接口许可的成员无法登录" in expired.finding and "members with one are not affected" in expired.finding
    assert "701016" in expired.finding
    fake.corp.trial_expired = False
    assert row(run_doctor(app, clock=fake.now, expiry_warning_days=5), "authorization").status == "ok"


def test_trial_over_by_the_clock_warns_and_names_the_check_start(fake, tmp_path):
    """97194: 91 days after the install the trial is over; the doctor reports its end and the start of the
    licence checks and warns (does not fail): a licensed member keeps logging in."""
    app = make_app(fake, tmp_path)
    installed = fake.corp.authorization.created_at
    fake.advance(91 * DAY)
    push_ticket(app, fake)
    results = run_doctor(app, clock=fake.now)
    auth = row(results, "authorization")
    assert auth.status == "warn", auth
    ended = time.strftime("%Y-%m-%d", time.localtime(installed + 90 * DAY))
    assert f"免费试用期已于 {ended} 结束" in auth.finding and f"licence checks began on {ended}" in auth.finding
    # a licence check that starts after the trial: named as a future date
    fake.corp.license_check_time = fake.now() + 10 * DAY
    later = row(run_doctor(app, clock=fake.now), "authorization")
    start = time.strftime("%Y-%m-%d", time.localtime(fake.corp.license_check_time))
    assert later.status == "warn" and f"许可检查将于 {start} 开始" in later.finding


# -- check 8: what the app may read about a member -------------------------------------------------


def test_permissions_ok_lists_the_grants(fake, tmp_path):
    app = make_app(fake, tmp_path)
    perm = row(run_doctor(app), "permissions")
    assert perm.status == "ok" and perm.step == 8 and perm.corp_id == fake.corp.auth_corp_id
    assert "contact:sensitive:user_name" in perm.details[0] and "contact:sensitive:email" in perm.details[0]


def test_permissions_warn_names_both_and_the_fix(fake, tmp_path):
    """98980 / 99052: without contact:sensitive:user_name and :email the doctor warns (logins still work)."""
    app = make_app(fake, tmp_path)
    fake.revoke_permissions()
    results = run_doctor(app)
    perm = row(results, "permissions")
    assert perm.status == "warn"
    assert "contact:sensitive:user_name" in perm.finding and "contact:sensitive:email" in perm.finding
    assert "申请自定义权限" in perm.fix and "权限管理" in perm.fix and "request custom permissions" in perm.fix
    assert "98980" in perm.finding and "wecom_user.withheld" in perm.finding
    assert summarize(results)["passed"]  # a warning, not a failure
    # only the email missing: still names both permissions in the fix
    fake.grant_permissions("contact:sensitive:user_name")
    one = row(run_doctor(app), "permissions")
    assert one.status == "warn" and "contact:sensitive:email" in one.finding
    assert "contact:sensitive:user_name" not in one.finding.split("：")[0]
    assert "contact:sensitive:user_name" in one.fix and "contact:sensitive:email" in one.fix


def test_permissions_skip_for_self_built_apps(fake, tmp_path):
    app = make_app(fake, tmp_path, "internal")
    perm = row(run_doctor(app), "permissions")
    assert perm.status == "skip" and "99052" in perm.finding
    assert fake.calls_to("/cgi-bin/agent/get_permissions") == []


def test_permissions_unreadable_is_a_warning(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.fail("/cgi-bin/agent/get_permissions", 48002)
    perm = row(run_doctor(app), "permissions")
    assert perm.status == "warn" and "48002" in perm.finding


def test_trial_not_checked_without_provider_secret(fake, tmp_path):
    app = make_app(fake, tmp_path, WECOM_PROVIDER_SECRET=None)
    auth = row(run_doctor(app), "authorization")
    assert auth.status == "ok" and "trial not checked" in auth.finding


def test_edition_expiry_from_auth_info():
    ctx = DoctorContext({}, "customized", None, None, clock=lambda: 1_000_000.0, expiry_warning_days=14)
    ctx.provider_token_error = ("", "")
    data = {"auth_info": {"agent": [{"agentid": 1}]},
            "edition_info": {"agent": [{"agentid": 1, "edition_name": "基础版",
                                        "expired_time": 1_000_000 + 3 * DAY}]}}
    result = _authorization_row(ctx, "wpX", "wpX", data)
    assert result.status == "warn" and "基础版" in result.finding and "续费" in result.fix
    data["edition_info"]["agent"][0]["expired_time"] = 1_000_000 - 1
    assert _authorization_row(ctx, "wpX", "wpX", data).status == "fail"
    assert _authorization_row(ctx, "wpX", "wpX", {"auth_info": {"agent": []}}).status == "fail"


# -- check 7: callback IPs --------------------------------------------------------------------------


def test_callback_ips_listed(fake, tmp_path):
    app = make_app(fake, tmp_path)
    result = row(run_doctor(app), "callback_ip")
    assert result.status == "ok" and result.details == ["101.226.103.0/25", "140.207.54.76"]
    fake.fail("/cgi-bin/getcallbackip", 60020, errmsg="not allow to access from your ip, from ip: 192.0.2.1")
    result = row(run_doctor(app), "callback_ip")
    assert result.status == "warn" and "192.0.2.1" in result.fix


# -- the core without Flask -------------------------------------------------------------------------


def test_core_runs_without_a_probe_and_survives_a_crashing_check(fake, tmp_path):
    app = make_app(fake, tmp_path)
    ctx = build_context(app)
    ctx.probe = None
    results = run_checks(context=ctx)
    assert {r.status for r in rows(results, "callback")} == {"skip"}

    class Broken:
        store = WeCom.state(app).store

        def corp_ids(self):
            raise RuntimeError("store is down")

        def suite_ticket_age(self):
            return None

    results = run_checks(ctx.config, "customized", Broken(), WeCom.state(app).client, secret_key="x" * 32)
    crashed = [r for r in results if "itself failed" in r.finding]
    assert crashed and all(r.status == "fail" for r in crashed)
    assert "store is down" not in text_of(results)


def test_probe_that_raises_fails_check_2(fake, tmp_path):
    app = make_app(fake, tmp_path)
    ctx = build_context(app)

    def probe(path, query):
        raise ValueError("boom")

    ctx.probe = probe
    callbacks = rows(run_checks(context=ctx), "callback")
    assert {r.status for r in callbacks} == {"fail"} and "ValueError" in callbacks[0].finding


def test_trusted_host():
    assert trusted_host("https://app.example.com/wecom/authorized") == "app.example.com"
    assert trusted_host("https://App.Example.com:443/x") == "app.example.com"
    assert trusted_host("http://app.example.com:80") == "app.example.com"
    assert trusted_host("http://app.example.com:8080/x") == "app.example.com:8080"
    assert trusted_host("https://app.example.com:80/x") == "app.example.com:80"
    assert trusted_host("ftp://x") is None and trusted_host("no-scheme") is None


def test_check_result():
    result = CheckResult("x", "t", "ok", "fine")
    assert result.symbol == "✓" and result.to_dict()["symbol"] == "✓" and not result.failed
    assert CheckResult("x", "t", "fail", "bad").symbol == "✗"
    assert CheckResult("x", "t", "warn", "hm").symbol == "!"
    with pytest.raises(ValueError):
        CheckResult("x", "t", "broken", "?")
    assert summarize([result, CheckResult("y", "t", "fail", "bad")]) == {
        "ok": 1, "warn": 0, "fail": 1, "skip": 0, "passed": False}


def test_permissions_third_party_lists_the_grants_without_a_warning(tmp_path):
    """Third-party apps keep their own rules (no real name or email from these APIs): the row only lists."""
    third = FakeWeCom(app_type="third_party", trusted_domain=HOST)
    with third.serve():
        app = make_app(third, tmp_path, "third_party")
        third.revoke_permissions()
        perm = row(run_doctor(app), "permissions")
        assert perm.status == "ok" and "contact:sensitive:avatar" in perm.details[0]
