"""Every login failure of issue 5 ends on a helpful page (or JSON), never a stack trace.

State mismatch / expired / replayed, code reused or expired (40029), member outside the visible
range, non-member, 60020 with the IP to add, app disabled / trial over, trusted-domain mismatch
(WeCom's own page — ours is the setup page naming the redirect URI), WeCom unreachable.
"""
from __future__ import annotations

import html
import re
from typing import Optional
from urllib.parse import urlsplit

import pytest
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

from flask_wecom import views
from flask_wecom.login import SESSION_KEY, STATES_KEY


def _page(response) -> str:
    return response.get_data(as_text=True)


def assert_failure_page(response, reason: str, status: int, *, errcode=None, retry: Optional[bool] = None) -> str:
    page = _page(response)
    assert response.status_code == status, page[:3000]
    assert f'data-reason="{reason}"' in page, page[:3000]
    assert "Traceback" not in page and 'File "' not in page
    # Chinese first, English beside: a title, what happened and what to do in both
    assert re.search(r"<h1>[^<]*[\u4e00-\u9fff][^<]*<span class=\"en\">[A-Za-z]", page)
    assert "怎么办" in page and "What to do" in page
    if errcode is not None:
        assert f'<span class="errcode">{errcode}</span>' in page
    if retry is not None:
        assert ('id="wecom-retry"' in page) is retry
    return page


def _exchange_calls(fake):
    return [c for c in fake.calls if c.path.startswith("/cgi-bin/")]


# -- state -------------------------------------------------------------------------------------


def test_forged_state_is_refused_without_touching_wecom(client, fake_wecom):
    start_login(client)  # a real login is pending in this session…
    response = client.get("/wecom/authorized?code=stolen-code&state=forgedState")  # …but not with this state
    assert_failure_page(response, "state_mismatch", 400, retry=True)
    assert _exchange_calls(fake_wecom) == []


def test_state_from_another_session_is_refused(app, client, fake_wecom):
    victim = app.test_client()
    location = start_login(victim).location
    answer = confirm(location)  # the victim's code and state …
    path = urlsplit(answer.headers["Location"])
    response = client.get(f"{path.path}?{path.query}")  # … replayed in the attacker's browser
    assert_failure_page(response, "state_mismatch", 400)
    assert _exchange_calls(fake_wecom) == []
    assert SESSION_KEY not in session_data(app, client)


@pytest.mark.parametrize("query", ["", "?code=abc", "?state=&code=abc"])
def test_missing_state(client, query):
    assert_failure_page(client.get("/wecom/authorized" + query), "state_missing", 400)


def test_malformed_state(client):
    assert_failure_page(client.get("/wecom/authorized?code=a&state=has%20space"), "state_mismatch", 400)


def test_expired_state(fake_wecom, tmp_path, clock):
    client = make_app(fake_wecom, tmp_path, clock=clock).test_client()
    location = start_login(client, "?next=/profile").location
    answer = confirm(location)
    clock.advance(601)  # WECOM_STATE_MAX_AGE = 600
    page = assert_failure_page(back_to_app(client, answer), "state_expired", 400, retry=True)
    assert "600" in page
    assert 'href="/wecom/login?next=/profile&amp;via=qr"' in page  # start again: same page, same way
    assert _exchange_calls(fake_wecom) == []


def test_the_apps_clock_can_be_the_simulators(fake_wecom, tmp_path):
    """WeCom(app, clock=fake_wecom.clock): fake_wecom.advance() moves the app's time too (the README's
    "Testing your app"), and a login at the new time works end to end."""
    client = make_app(fake_wecom, tmp_path, clock=fake_wecom.clock).test_client()
    answer = confirm(start_login(client, "?next=/profile").location)
    fake_wecom.advance(601)  # WECOM_STATE_MAX_AGE = 600
    assert_failure_page(back_to_app(client, answer), "state_expired", 400, retry=True)
    assert login(client).location == "/profile"


def test_replayed_state_same_browser(app, client):
    answer = confirm(start_login(client).location)
    location = urlsplit(answer.headers["Location"])
    assert client.get(f"{location.path}?{location.query}").status_code == 302  # logged in
    response = client.get(f"{location.path}?{location.query}")  # back button / reload
    assert_failure_page(response, "state_replayed", 400)


def test_replayed_state_with_an_old_copy_of_the_cookie(app, client):
    answer = confirm(start_login(client).location)
    old_cookie = raw_cookie(app, client)  # still holds the pending state
    location = urlsplit(answer.headers["Location"])
    assert client.get(f"{location.path}?{location.query}").status_code == 302
    replayer = app.test_client()
    replayer.set_cookie("session", old_cookie, domain="localhost")
    response = replayer.get(f"{location.path}?{location.query}")
    assert_failure_page(response, "state_replayed", 400)


def test_each_state_is_single_use_even_when_the_exchange_fails(app, client, fake_wecom):
    answer = confirm(start_login(client).location)
    fake_wecom.fail("/cgi-bin/auth/getuserinfo", -1, times=None)  # WeCom busy
    location = urlsplit(answer.headers["Location"])
    assert client.get(f"{location.path}?{location.query}").status_code == 502
    assert STATES_KEY not in session_data(app, client) or not session_data(app, client)[STATES_KEY]


def test_several_pending_logins_are_kept_and_bounded(app, client):
    states = []
    for _ in range(7):
        location = start_login(client).location
        states.append(dict(p.split("=", 1) for p in urlsplit(location).query.split("&"))["state"])
    pending = session_data(app, client)[STATES_KEY]
    assert set(pending) == set(states[-5:])


def test_cancelled_login(client):
    location = start_login(client).location
    state = dict(p.split("=", 1) for p in urlsplit(location).query.split("&"))["state"]
    assert_failure_page(client.get(f"/wecom/authorized?state={state}"), "cancelled", 400, retry=True)


# -- code ---------------------------------------------------------------------------------------


def test_code_used_twice_40029(app, client, fake_wecom):
    answer = confirm(start_login(client).location)
    code = dict(p.split("=", 1) for p in urlsplit(answer.headers["Location"]).query.split("&"))["code"]
    back_to_app(client, answer)
    # a second login in the same browser presents the old code with its own fresh state
    location = start_login(client, "?next=/profile").location
    state = dict(p.split("=", 1) for p in urlsplit(location).query.split("&"))["state"]
    response = client.get(f"/wecom/authorized?code={code}&state={state}")
    page = assert_failure_page(response, "code_invalid", 400, errcode=40029, retry=True)
    assert "不合法的oauth_code" in page and "invalid oauth code" in page
    assert 'href="/wecom/login?next=/profile&amp;via=qr"' in page  # "start again"


def test_code_expired_after_five_minutes(client, fake_wecom):
    answer = confirm(start_login(client).location)
    fake_wecom.advance(301)
    assert_failure_page(back_to_app(client, answer), "code_invalid", 400, errcode=40029, retry=True)


# -- who the user is ------------------------------------------------------------------------------


def test_member_outside_visible_range_with_snsapi_base(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, WECOM_SCOPE="snsapi_base")
    client = app.test_client()
    # snsapi_base still issues a code for 王五 (doc 96442); user/get refuses with 60011 (doc 96255)
    response = login(client, ua=WXWORK_UA, userid="wangwu")
    page = assert_failure_page(response, "not_visible", 403, errcode=60011)
    assert "可见范围" in page and "visible range" in page
    assert SESSION_KEY not in session_data(app, client)


def test_member_outside_visible_range_is_stopped_on_wecoms_page_with_privateinfo(client):
    answer = confirm(start_login(client, ua=WXWORK_UA).location, "wangwu")
    assert answer.status_code == 200 and 'data-errcode="50002"' in answer.text and "?code=" not in answer.text


def test_snsapi_base_login_has_no_email_and_is_not_an_error(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, WECOM_SCOPE="snsapi_base")
    client = app.test_client()
    assert login(client, ua=WXWORK_UA).location == "/profile"
    assert "张三" in _page(client.get("/profile")) and "no email" in _page(client.get("/profile"))


def test_non_member_is_refused_clearly(app, client):
    response = login(client, ua=WXWORK_UA, non_member=True)
    page = assert_failure_page(response, "not_member", 403)
    assert "openid" in page
    assert SESSION_KEY not in session_data(app, client)


# -- the app's side -----------------------------------------------------------------------------


def test_ip_not_whitelisted_60020_names_the_ip_self_built(client, fake_wecom):
    fake_wecom.corp.ip_whitelist = ["203.0.113.10"]
    response = login(client, ua=WXWORK_UA)
    page = assert_failure_page(response, "ip_not_whitelisted", 502, errcode=60020, retry=True)
    assert '<code id="wecom-ip">127.0.0.1</code>' in page
    assert "企业可信IP" in page
    # once the IP is added, "start again" goes the same way (in-client OAuth) to the same page
    assert 'href="/wecom/login?next=/profile&amp;via=oauth"' in page


def test_ip_not_whitelisted_60020_customized_points_at_the_provider_whitelist(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, mode="customized")
    fake_wecom.provider.ip_whitelist = ["203.0.113.10"]
    page = assert_failure_page(login(app.test_client(), ua=WXWORK_UA), "ip_not_whitelisted", 502, errcode=60020)
    assert '<code id="wecom-ip">127.0.0.1</code>' in page
    assert "服务商信息 → 基本信息 → IP白名单" in page and "IP whitelist" in page


def test_ip_not_whitelisted_json(client, fake_wecom):
    fake_wecom.corp.ip_whitelist = ["203.0.113.10"]
    answer = confirm(start_login(client, ua=WXWORK_UA).location)
    location = urlsplit(answer.headers["Location"])
    response = client.get(f"{location.path}?{location.query}", headers={"Accept": "application/json"})
    assert response.status_code == 502
    body = response.json
    assert body["error"] == "ip_not_whitelisted" and body["errcode"] == 60020 and body["ip"] == "127.0.0.1"
    assert body["title_zh"] and body["title_en"] and body["fix_zh"] and body["fix_en"]
    assert "127.0.0.1" in body["fix_en"]


def test_app_disabled_between_page_and_exchange(app, client, fake_wecom):
    """With a token fetched before the app was disabled, WeCom answers 50003 应用已禁用 (doc 90313)."""
    assert login(app.test_client(), ua=WXWORK_UA).status_code == 302  # someone logged in: the token is cached
    answer = confirm(start_login(client, ua=WXWORK_UA).location)
    fake_wecom.corp.app_closed = True
    page = assert_failure_page(back_to_app(client, answer), "app_unavailable", 503, errcode=50003)
    assert "应用已禁用" in page and "app disabled" in page
    assert len(fake_wecom.calls_to("/cgi-bin/gettoken")) == 1


def test_app_disabled_before_any_token_is_40001_naming_both_causes(client, fake_wecom):
    """The simulator answers gettoken for a disabled app with 40001, as the 40001 help of doc 90313 says
    (应用已经停用); the page names the disabled app and the wrong or reset secret, and how to tell them apart."""
    answer = confirm(start_login(client, ua=WXWORK_UA).location)
    fake_wecom.corp.app_closed = True
    page = assert_failure_page(back_to_app(client, answer), "secret_rejected", 502, errcode=40001, retry=True)
    gettoken = fake_wecom.calls_to("/cgi-bin/gettoken")
    assert gettoken and gettoken[-1].errcode == 40001
    assert "已经停用" in page and "is disabled" in page  # cause: the app is disabled …
    assert "应用管理" in page and "已停用" in page  # … and where to see it
    assert "secret" in page and "WECOM_SECRET" in page  # cause: the secret
    assert "app_unavailable" not in page


def test_app_disabled_is_shown_on_wecoms_page_at_login(client, fake_wecom):
    fake_wecom.corp.app_closed = True
    answer = confirm(start_login(client, ua=WXWORK_UA).location)
    assert answer.status_code == 200 and 'data-errcode="50003"' in answer.text


def test_trusted_domain_mismatch_is_wecoms_page(client, fake_wecom):
    fake_wecom.corp.trusted_domain = "app.example.com"
    answer = confirm(start_login(client, ua=WXWORK_UA).location)  # in-client OAuth: the 可信域名
    assert answer.status_code == 200
    assert 'data-errcode="50001"' in answer.text and "redirect_uri需使用应用可信域名" in answer.text
    assert "localhost" in answer.text  # WeCom names the host it refused
    # web / QR login is checked against the 授权回调域 instead (98173), with WeCom's other wording
    answer = confirm(start_login(client).location)
    assert answer.status_code == 200 and "授权完成回调域名不一致" in answer.text
    fake_wecom.corp.web_login_domain = "localhost"
    assert confirm(start_login(client).location).status_code == 302


def test_50001_from_the_api_names_the_redirect_uri(client, fake_wecom):
    answer = confirm(start_login(client).location)
    fake_wecom.fail("/cgi-bin/auth/getuserinfo", 50001)
    page = assert_failure_page(back_to_app(client, answer), "trusted_domain", 502, errcode=50001)
    assert '<code id="wecom-redirect-uri">http://localhost/wecom/authorized</code>' in page


def test_wrong_secret_names_both_causes_of_40001(fake_wecom, tmp_path):
    """Doc 90313: 40001 is a wrong or reset secret *or* a disabled app; the page says both and how to tell."""
    app = make_app(fake_wecom, tmp_path, WECOM_SECRET="not-the-right-secret")
    page = assert_failure_page(login(app.test_client(), ua=WXWORK_UA), "secret_rejected", 502, errcode=40001)
    assert "not-the-right-secret" not in page
    assert "已停用" in page and "disabled" in page  # cause 2: the app is disabled …
    assert "应用管理" in page  # … told apart in the admin console
    assert "WECOM_SECRET" in page  # cause 1, for a self-built app: the secret


def test_reset_permanent_code_missed_names_the_new_permanent_code(fake_wecom, tmp_path):
    """代开发: the secret was reset and the push never arrived; WeCom refuses the old permanent code (40001)."""
    app = make_app(fake_wecom, tmp_path, mode="customized")
    with fake_wecom.model.lock:
        fake_wecom.model.reset_permanent_code()  # 重新获取secret, no reset_permanent_code reaches us
    page = assert_failure_page(login(app.test_client(), ua=WXWORK_UA), "secret_rejected", 502, errcode=40001)
    assert "permanent_code" in page and "flask wecom exchange" in page and "重新授权" in page
    assert "已停用" in page  # the other cause is still named
    assert fake_wecom.corp.permanent_code not in page


@pytest.mark.parametrize("errcode, reason, words", [
    (301002, "agent_mismatch", ("WECOM_AGENT_ID", "agentid")),  # token of another app than the agentid
    (670001, "config", ("共享", "sharing")),  # the sharing scope of a 上下游 shared app
])
def test_mismatch_and_sharing_scope_are_not_app_unavailable(client, fake_wecom, errcode, reason, words):
    """Doc 90313: 301002 and 670001 are settings; the page says so and never 'app disabled/unavailable'."""
    answer = confirm(start_login(client, ua=WXWORK_UA).location)
    fake_wecom.fail("/cgi-bin/auth/getuserinfo", errcode)
    status = 502 if reason == "agent_mismatch" else 503
    page = assert_failure_page(back_to_app(client, answer), reason, status, errcode=errcode)
    assert "应用已停用或不可用" not in page and "The app is disabled or unavailable" not in page
    assert "not disabled" in page and "不是应用停用" in page
    for word in words:
        assert word in page


def test_wecom_unreachable(client, fake_wecom):
    answer = confirm(start_login(client).location)
    fake_wecom.drop("/cgi-bin/gettoken")
    page = assert_failure_page(back_to_app(client, answer), "unreachable", 503, retry=True)
    assert fake_wecom.corp.secret not in page


def test_customized_without_authorization_says_so(fake_wecom, tmp_path):
    # the fake's suite app, before any push ("internal" only skips make_app's provisioning pushes)
    app = make_app(fake_wecom, tmp_path, mode="internal", WECOM_CORP_ID=None, WECOM_SECRET=None,
                   WECOM_AGENT_ID=None, **fake_wecom.flask_config())
    page = assert_failure_page(start_login(app.test_client()), "no_corp", 503)
    assert "扫码授权" in page


def test_unknown_corp_id_is_refused(client, fake_wecom):
    """A visitor's corp_id that is not an authorized corp: a 4xx that names no other customer."""
    page = assert_failure_page(start_login(client, "?corp_id=wwUnknown"), "corp_unknown", 404, retry=False)
    assert "No organisation has authorized" not in page
    assert fake_wecom.corp.name not in page and fake_wecom.corp.corp_id not in page
    assert not [c for c in fake_wecom.calls if c.path.startswith("/cgi-bin/")]


@pytest.mark.fake_wecom(app_type="third_party")
def test_third_party_without_suite_ticket(fake_wecom, tmp_path):
    # the fake's suite app, before any push ("internal" only skips make_app's provisioning pushes)
    app = make_app(fake_wecom, tmp_path, mode="internal", WECOM_CORP_ID=None, WECOM_SECRET=None,
                   WECOM_AGENT_ID=None, **fake_wecom.flask_config())
    client = app.test_client()
    response = login(client, ua=WXWORK_UA)
    assert_failure_page(response, "no_suite_ticket", 503)


def test_a_bug_in_the_app_hook_is_an_internal_error_page(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path)

    @app.extensions["test_wecom"].user_loader
    def broken(user):
        raise KeyError("database row missing")

    response = login(app.test_client(), ua=WXWORK_UA)
    page = assert_failure_page(response, "internal", 503, retry=True)
    assert "database row missing" not in page and "KeyError" not in page


def test_failure_json_for_api_clients(client):
    response = client.get("/wecom/authorized?code=x&state=forged", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.json["error"] == "state_mismatch" and response.json["retry_url"] == "/wecom/login?next=/"


def test_login_failed_signal_carries_the_reason(app, client, fake_wecom):
    from flask_wecom import signals

    errors = []
    fake_wecom.corp.ip_whitelist = ["203.0.113.10"]
    with signals.login_failed.connected_to(lambda sender, error: errors.append(error), app):
        login(client, ua=BROWSER_UA)
    assert [(e.reason, e.errcode, e.ip) for e in errors] == [("ip_not_whitelisted", 60020, "127.0.0.1")]


def test_60020_without_an_ip_in_the_answer_still_explains(app):
    from flask_wecom.oauth import LoginFailure

    failure = LoginFailure("ip_not_whitelisted", errcode=60020, errmsg="not allow to access from your ip")
    with app.test_request_context("/wecom/authorized"):
        body, status = views.failure_response(failure, next_url="/profile")
    body = html.unescape(body)
    assert status == 502 and 'id="wecom-ip"' not in body and "IP ?" not in body
    assert "本服务器的出口 IP" in body and "this server's egress IP" in body
