"""The doctor's less common findings, each against the simulator over real HTTP (or the app's own callback
route in process, as check 2 always runs): what a middleware does to the URL verification, settings left
out with WECOM_CHECK_CONFIG=False, WeCom answering an error the common tests do not meet."""
from __future__ import annotations

import pytest
from doctor_support import HOST, authorize, describe, make_app, push_ticket, row, rows, set_agent_answer
from flask import request

from flask_wecom import WeCom
from flask_wecom.doctor_flask import run_doctor
from flask_wecom.testing import FakeWeCom
from flask_wecom.testing.model import APIError

#: the simulator of the ``fake`` fixture (tests/conftest.py)
pytestmark = pytest.mark.fake_wecom(trusted_domain=HOST)


def _answer_without(fake, method: str, key: str) -> None:
    """The simulator's ``method`` (gettoken, get_suite_token…) answers as usual but without ``key``."""
    original = getattr(type(fake.model), method)

    def without(*args):
        answer = original(fake.model, *args)
        answer.pop(key, None)
        return answer

    setattr(fake.model, method, without)


def _is_callback_get() -> bool:
    return request.method == "GET" and request.path.startswith("/wecom/callback")


# -- check 2: what stands between WeCom and the callback route ------------------------------------------------


@pytest.mark.parametrize("rewrite, words", [
    (lambda text: "\ufeff" + text, "BOM"),
    (lambda text: text + "\r\n", "whitespace"),
    (lambda text: f'"{text}"', "quoted"),
    (lambda text: "OK", "not the decrypted echostr"),
])
def test_a_middleware_that_rewrites_the_verification_answer_fails_check_2(fake, tmp_path, rewrite, words):
    """WeCom wants the bare plaintext (developer.work.weixin.qq.com/document/path/96466): the doctor names
    what a middleware changed, and where to look."""
    app = make_app(fake, tmp_path, provision=False)

    @app.after_request
    def rewrite_answer(response):
        if _is_callback_get() and response.status_code == 200:
            response.set_data(rewrite(response.get_data(as_text=True)).encode("utf-8"))
        return response

    push_ticket(app, fake)
    authorize(app, fake)
    callbacks = rows(run_doctor(app), "callback")
    assert [r.status for r in callbacks] == ["fail", "fail"], describe(callbacks)
    assert words in callbacks[0].finding
    assert "96466" in callbacks[0].fix and "middleware" in callbacks[0].fix


@pytest.mark.parametrize("status, finding, fix", [
    (401, "intercepted (HTTP 401)", "exempt the callback route from login"),
    (404, "does not exist or is not configured", "WECOM_URL_PREFIX"),
    (503, "answered HTTP 503: 'down for maintenance'", "flask_wecom.callback"),
])
def test_a_callback_route_answered_by_something_else_fails_check_2(fake, tmp_path, status, finding, fix):
    app = make_app(fake, tmp_path, provision=False)

    @app.before_request
    def in_the_way():
        if _is_callback_get():
            return "down for maintenance", status
        return None

    push_ticket(app, fake)  # WeCom's pushes (POST) still arrive
    authorize(app, fake)
    callbacks = rows(run_doctor(app), "callback")
    assert {r.status for r in callbacks} == {"fail"}, describe(callbacks)
    assert finding in callbacks[0].finding and fix in callbacks[0].fix


def test_a_provider_app_without_token_and_aes_key_skips_check_2_and_says_see_check_1(fake, tmp_path):
    app = make_app(fake, tmp_path, provision=False, WECOM_CHECK_CONFIG=False, WECOM_TOKEN=None,
                   WECOM_ENCODING_AES_KEY=None)
    results = run_doctor(app)
    callbacks = rows(results, "callback")
    assert {r.status for r in callbacks} == {"skip"} and "see check 1" in callbacks[0].finding
    assert any(r.status == "fail" and "WECOM_TOKEN" in r.title for r in rows(results, "config"))


def test_a_self_built_app_without_a_corp_id_cannot_verify_its_callback(fake, tmp_path):
    """Self-built: the receiveid is the corp id; without one check 2 says so instead of guessing, and check 4
    has no corp to ask a token for."""
    app = make_app(fake, tmp_path, "internal", WECOM_CHECK_CONFIG=False, WECOM_CORP_ID=None,
                   WECOM_TOKEN="InternalToken1", WECOM_ENCODING_AES_KEY="a" * 43)
    results = run_doctor(app)
    callback = row(results, "callback")
    assert callback.status == "skip" and "WECOM_CORP_ID" in callback.finding
    token = row(results, "corp_token")
    assert token.status == "skip" and "WECOM_CORP_ID is not set" in token.finding


# -- check 3: the suite ----------------------------------------------------------------------------------------


def test_a_provider_app_without_suite_settings_skips_check_3(fake, tmp_path):
    app = make_app(fake, tmp_path, provision=False, WECOM_CHECK_CONFIG=False, WECOM_SUITE_ID=None,
                   WECOM_SUITE_SECRET=None)
    results = run_doctor(app)
    for key in ("suite_ticket", "suite_token"):
        assert row(results, key).status == "skip" and "WECOM_SUITE_ID is not set" in row(results, key).finding


def test_no_suite_secret_skips_the_suite_token_and_points_at_check_1(fake, tmp_path):
    app = make_app(fake, tmp_path, provision=False, WECOM_CHECK_CONFIG=False, WECOM_SUITE_SECRET=None)
    push_ticket(app, fake)
    results = run_doctor(app)
    assert row(results, "suite_ticket").status == "ok"
    token = row(results, "suite_token")
    assert token.status == "skip" and "WECOM_SUITE_SECRET is not set" in token.finding


def test_get_suite_token_errors_without_a_special_fix_get_the_errcode_tables_fix(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.fail("/cgi-bin/service/get_suite_token", 45009)  # API frequency limit
    token = row(run_doctor(app), "suite_token")
    assert token.status == "fail" and "45009" in token.finding and token.fix
    assert row(run_doctor(app), "suite_token").status == "ok"


def test_a_get_suite_token_answer_without_the_token_fails_check_3(fake, tmp_path):
    app = make_app(fake, tmp_path)
    _answer_without(fake, "get_suite_token", "suite_access_token")
    token = row(run_doctor(app), "suite_token")
    assert token.status == "fail" and "without suite_access_token" in token.finding


def _fail_login_suite_token(fake, errcode):
    """get_suite_token refuses the 登录授权 suite only (the app suite's keeps working)."""
    original = type(fake.model).get_suite_token
    login_suite_id = fake.model.login_suite.suite_id

    def get_suite_token(body, ip):
        if str(body.get("suite_id")) == login_suite_id:
            raise APIError(errcode)
        return original(fake.model, body, ip)

    fake.model.get_suite_token = get_suite_token


@pytest.mark.parametrize("errcode, fix", [(60020, "IP白名单"), (45009, "")])
def test_the_login_suites_token_refused_fails_its_row(tmp_path, errcode, fix):
    fake = FakeWeCom(app_type="third_party", trusted_domain=HOST)
    with fake.serve():
        app = make_app(fake, tmp_path, "third_party")
        _fail_login_suite_token(fake, errcode)
        results = run_doctor(app)
        login = row(results, "login_suite")
        assert login.status == "fail" and str(errcode) in login.finding and fix in login.fix and login.fix
        assert row(results, "suite_token").status == "ok"


def test_a_third_party_corp_token_needs_the_suite_token(tmp_path):
    fake = FakeWeCom(app_type="third_party", trusted_domain=HOST)
    with fake.serve():
        app = make_app(fake, tmp_path, "third_party")
        fake.fail("/cgi-bin/service/get_suite_token", 40085)
        results = run_doctor(app)
        assert row(results, "suite_token").status == "fail"
        token = row(results, "corp_token")
        assert token.status == "skip" and "needs the suite token" in token.finding


# -- checks 4 and 5: corp token, the app ---------------------------------------------------------------------


def test_a_customized_app_run_with_its_permanent_code_gets_the_reset_secret_fix(fake, tmp_path):
    """代开发 without the template: WECOM_CORP_ID + WECOM_SECRET (the permanent code) — 40001 means the
    secret was reset in the provider console; the fix says where the new one goes."""
    auth = fake.install_app()
    app = make_app(fake, tmp_path, provision=False, WECOM_CHECK_CONFIG=False, WECOM_SUITE_ID=None,
                   WECOM_SUITE_SECRET=None, WECOM_CORP_ID=auth.auth_corp_id, WECOM_SECRET="not-the-permanent-code",
                   WECOM_AGENT_ID="1000002")
    token = row(run_doctor(app), "corp_token")
    assert token.status == "fail" and "40001" in token.finding
    assert "重新获取secret" in token.fix and "WECOM_SECRET" in token.fix


def test_a_self_built_app_without_an_agent_id_fails_the_app_row(fake, tmp_path):
    app = make_app(fake, tmp_path, "internal", WECOM_CHECK_CONFIG=False, WECOM_AGENT_ID=None)
    results = run_doctor(app)
    assert row(results, "corp_token").status == "ok"
    agent = row(results, "trusted_domain")
    assert agent.status == "fail" and "AgentId is unknown" in agent.finding and "WECOM_AGENT_ID" in agent.fix


def test_agent_get_refused_fails_check_5_with_the_errcodes_fix(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.fail("/cgi-bin/agent/get", 48002)  # API forbidden
    agent = row(run_doctor(app), "trusted_domain")
    assert agent.status == "fail" and "agent/get" in agent.finding and "48002" in agent.finding and agent.fix
    assert row(run_doctor(app), "trusted_domain").status == "ok"


def test_an_unreadable_publish_status_is_not_taken_for_not_online(fake, tmp_path):
    app = make_app(fake, tmp_path)
    set_agent_answer(fake, customized_publish_status="soon")
    result = row(run_doctor(app), "app_status")
    assert result.status == "ok" and result.finding == "应用已启用 / the app is enabled" and not result.fix


# -- check 6: the authorization --------------------------------------------------------------------------------


def test_trial_unknown_when_the_provider_token_is_refused(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.fail("/cgi-bin/service/get_provider_token", 40089)
    auth = row(run_doctor(app), "authorization")
    assert auth.status == "ok" and "trial unknown (get_provider_token" in auth.finding and "40089" in auth.finding


def test_trial_unknown_when_the_licence_info_is_refused(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.fail("/cgi-bin/license/get_app_license_info", 48002)
    auth = row(run_doctor(app), "authorization")
    assert auth.status == "ok" and "trial unknown (get_app_license_info" in auth.finding


def test_licence_check_not_enabled_is_said(fake, tmp_path):
    app = make_app(fake, tmp_path)
    original = type(fake.model).get_app_license_info

    def not_enabled(token, body, ip):
        answer = original(fake.model, token, body, ip)
        answer["license_status"] = 0
        return answer

    fake.model.get_app_license_info = not_enabled
    auth = row(run_doctor(app), "authorization")
    assert auth.status == "ok" and "licence check not enabled" in auth.finding


def test_get_auth_info_refused_fails_check_6(fake, tmp_path):
    app = make_app(fake, tmp_path)
    for path in ("/cgi-bin/service/get_auth_info", "/cgi-bin/service/v2/get_auth_info"):
        fake.fail(path, 48002)
    auth = row(run_doctor(app), "authorization")
    assert auth.status == "fail" and "get_auth_info" in auth.finding and "48002" in auth.finding and auth.fix


# -- check 7: WeCom's callback IPs ----------------------------------------------------------------------------


@pytest.mark.fake_wecom(trusted_domain=HOST, callback_ips=[])
def test_no_callback_ips_from_wecom_is_a_warning(fake, tmp_path):
    app = make_app(fake, tmp_path)
    ips = row(run_doctor(app), "callback_ip")
    assert ips.status == "warn" and "WeCom returned no IPs" in ips.finding


def test_getcallbackip_refused_is_a_warning_with_a_fix(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.fail("/cgi-bin/getcallbackip", 48002)
    ips = row(run_doctor(app), "callback_ip")
    assert ips.status == "warn" and "48002" in ips.finding and ips.fix


# -- check 4: what the doctor can and cannot say after a 40001 -------------------------------------------------


@pytest.mark.parametrize("fault", ["fail", "drop"])
def test_after_40001_an_unanswered_agent_get_leaves_both_causes_in_the_fix(fake, tmp_path, fault):
    """gettoken says 40001 and the app's cached token cannot get an answer from agent/get (an errcode other
    than 50003, or no answer at all): no detail line, and the fix does not pick a cause it does not know."""
    app = make_app(fake, tmp_path, "internal")
    with app.app_context():
        assert WeCom.state(app).provider.corp_token(fake.corp.corp_id).get()
    fake.corp.secret = "reset-in-the-admin-console-000"
    if fault == "fail":
        fake.fail("/cgi-bin/agent/get", 48002)
    else:
        fake.drop("/cgi-bin/agent/get")
    token = row(run_doctor(app), "corp_token")
    assert token.status == "fail" and "40001" in token.finding and token.details == []
    assert "WECOM_SECRET" in token.fix
    assert len(fake.calls_to("/cgi-bin/agent/get")) == 1


def test_a_gettoken_answer_without_the_token_fails_check_4(fake, tmp_path):
    app = make_app(fake, tmp_path, "internal")
    _answer_without(fake, "gettoken", "access_token")
    token = row(run_doctor(app), "corp_token")
    assert token.status == "fail" and "gettoken answered without access_token" in token.finding


def test_a_customized_corp_run_with_wecom_secret_has_no_stored_authorization_to_read(fake, tmp_path):
    """Template configured (suite token works) but the corp runs on WECOM_SECRET = its permanent code: check 6
    says there is no stored permanent_code to read the authorization with, instead of failing."""
    auth = fake.install_app()
    app = make_app(fake, tmp_path, provision=False, WECOM_CORP_ID=auth.auth_corp_id,
                   WECOM_SECRET=auth.permanent_code, WECOM_AGENT_ID=str(fake.corp.agent_id))
    push_ticket(app, fake)
    results = run_doctor(app)
    assert row(results, "corp_token").status == "ok", describe(results)
    auth_row = row(results, "authorization")
    assert auth_row.status == "skip" and "WECOM_SECRET is configured directly" in auth_row.finding


def test_a_get_provider_token_answer_without_the_token_leaves_the_trial_unknown(fake, tmp_path):
    app = make_app(fake, tmp_path)
    _answer_without(fake, "get_provider_token", "provider_access_token")
    auth = row(run_doctor(app), "authorization")
    assert auth.status == "ok" and "without provider_access_token" in auth.finding


def test_an_unreadable_licence_check_time_counts_from_the_trials_end(fake, tmp_path):
    app = make_app(fake, tmp_path)
    original = type(fake.model).get_app_license_info

    def odd_check_time(token, body, ip):
        answer = original(fake.model, token, body, ip)
        answer["license_check_time"] = "soon"
        return answer

    fake.model.get_app_license_info = odd_check_time
    auth = row(run_doctor(app), "authorization")
    assert auth.status == "ok" and "免费试用期到" in auth.finding, auth
