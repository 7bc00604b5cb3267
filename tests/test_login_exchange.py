"""The code exchange when WeCom answers less than usual (flask_wecom.oauth.exchange_code), against the simulator
over real HTTP: an optional call refused, the sensitive-fields call refused, a third-party member of a corp
whose authorization never reached us, and the exchange's own guards."""
from __future__ import annotations

import pytest
from login_support import WXWORK_UA, back_to_app, confirm, login, make_app, session_data, start_login

from flask_wecom import WeCom
from flask_wecom.login import SESSION_KEY
from flask_wecom.oauth import LoginFailure, _LoginPool, exchange_code


def test_user_get_forbidden_logs_in_with_what_getuserinfo_and_getuserdetail_gave(app, client, fake_wecom):
    """user/get answering 48002 (no contacts permission) is optional: the login goes on with the userid and
    the fields the member agreed to share (getuserdetail)."""
    fake_wecom.fail("/cgi-bin/user/get", 48002)
    assert login(client, ua=WXWORK_UA).location == "/profile"
    me = client.get("/api/me").get_json()
    member = fake_wecom.corp.members[0]
    assert me["userid"] == member.userid and me["email"] == member.email  # email from getuserdetail
    assert len(fake_wecom.calls_to("/cgi-bin/user/get")) == 1


def test_getuserdetail_refused_fails_the_login_with_its_errcode(app, client, fake_wecom):
    """An errcode the login cannot go on after (here 60011, no privilege) ends on the failure page naming it,
    even though user/get (made at the same time) answered; nobody is logged in."""
    fake_wecom.fail("/cgi-bin/auth/getuserdetail", 60011)
    answer = login(client, ua=WXWORK_UA)
    page = answer.get_data(as_text=True)
    assert answer.status_code >= 400 and "60011" in page
    assert len(fake_wecom.calls_to("/cgi-bin/user/get")) == 1
    assert SESSION_KEY not in session_data(app, client)
    assert client.get("/api/me").status_code == 302  # still sent to the login


@pytest.mark.fake_wecom(app_type="third_party")
def test_a_third_party_member_of_a_corp_we_hold_no_authorization_for_gets_the_not_authorized_page(fake_wecom,
                                                                                                  tmp_path):
    """The corp's authorization is gone on our side (revoked, or the create_auth push never reached us):
    getuserinfo3rd names the member and corp, and the login ends on the bilingual "this organisation has not
    authorized this app" page, not in a session without a corp we can act for."""
    app = make_app(fake_wecom, tmp_path, mode="third_party")
    state = WeCom.state(app)
    for corp in state.store.list_corps():
        state.store.revoke_corp(corp.corp_id)
    state.provider.drop_corp_tokens(fake_wecom.corp.auth_corp_id)
    client = app.test_client()
    response = back_to_app(client, confirm(start_login(client, "?next=/profile", ua=WXWORK_UA).location))
    page = response.get_data(as_text=True)
    assert response.status_code == 404 and "This organisation has not authorized this app" in page
    assert SESSION_KEY not in session_data(app, client)
    assert len(fake_wecom.calls_to("/cgi-bin/service/auth/getuserinfo3rd")) == 1
    assert not fake_wecom.calls_to("/cgi-bin/user/get")  # no corp token: nothing asked with one


def test_an_empty_code_is_a_cancelled_login(app):
    with pytest.raises(LoginFailure) as caught:
        exchange_code(WeCom.state(app).provider, "", corp_id="wwAny")
    assert caught.value.reason == "cancelled"


@pytest.mark.fake_wecom(app_type="third_party")
def test_third_party_qr_code_without_the_login_suite_is_refused_naming_the_keys(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, mode="third_party", WECOM_LOGIN_SUITE_ID=None,
                   WECOM_LOGIN_SUITE_SECRET=None)
    with pytest.raises(LoginFailure) as caught:
        exchange_code(WeCom.state(app).provider, "somecode", via="qr")
    assert caught.value.reason == "login_suite_missing" and "WECOM_LOGIN_SUITE_ID" in str(caught.value)
    assert not fake_wecom.calls_to("/cgi-bin/service/auth/getuserinfo3rd")  # nothing asked of WeCom


def test_a_customized_exchange_without_a_corp_id_uses_the_one_authorized_corp(fake_wecom, tmp_path):
    """exchange_code(corp_id=None): with one authorized corp, that corp (Provider.resolve_corp)."""
    app = make_app(fake_wecom, tmp_path, mode="customized")
    client = app.test_client()
    location = start_login(client, "?next=/profile", ua=WXWORK_UA).location
    code = fake_wecom.authorize_url_to_redirect(location).split("code=", 1)[1].split("&", 1)[0]
    with app.app_context():
        user = exchange_code(WeCom.state(app).provider, code)
    assert user.corp_id == fake_wecom.corp.auth_corp_id and user.userid
    assert user.name == fake_wecom.corp.members[0].name


def test_the_login_pool_after_shutdown_gives_none_and_keeps_its_slot():
    """At interpreter shutdown the pool refuses work: the login then makes its calls itself, and the slot
    is given back (a leaked slot would make every later login one after the other)."""
    pool = _LoginPool(1)
    executor, slots = pool._current()
    executor.shutdown()
    assert pool.submit(lambda: 1) is None
    assert slots.acquire(blocking=False)  # the one slot is free again
    slots.release()
