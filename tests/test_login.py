"""Login round trips through Flask's test client against FakeWeCom over real HTTP (issue 5).

In-client OAuth (User-Agent with ``wxwork``) and web/QR login; self-built, 代开发 (ticket and
authorization pushed through the real callback view) and third-party modes; the session cookie
holds only the small user record.
"""
from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import render_template_string, session
from login_support import (
    BROWSER_UA,
    WXWORK_UA,
    back_to_app,
    confirm,
    fake_secrets,
    login,
    make_app,
    raw_cookie,
    session_data,
    start_login,
)

from flask_wecom import WeCom, WeComUser, login_required, signals, wecom_user
from flask_wecom.login import SESSION_KEY, STATES_KEY


def _query(url):
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


# -- login_required --------------------------------------------------------------------------


def test_anonymous_browser_is_sent_to_login_with_next(client):
    response = client.get("/profile?tab=2")
    assert response.status_code == 302
    assert response.location == "/wecom/login?next=/profile?tab%3D2"


def test_anonymous_json_request_gets_401(client):
    for headers in ({"Accept": "application/json"}, {"X-Requested-With": "XMLHttpRequest"}):
        response = client.get("/api/me", headers=headers)
        assert response.status_code == 401
        assert response.json["error"] == "login_required"
        assert response.json["login_url"] == "/wecom/login"
    assert client.get("/api/me", json={}).status_code == 401


def test_options_is_exempt_and_the_method_decorator_works(client):
    assert client.options("/method-profile").status_code == 200
    assert client.get("/method-profile").status_code == 302


def test_unauthorized_handler_replaces_the_default(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path)
    wecom = app.extensions["test_wecom"]

    @wecom.unauthorized_handler
    def custom():
        return "please log in", 418

    response = app.test_client().get("/profile")
    assert response.status_code == 418 and response.get_data(as_text=True) == "please log in"


def test_wecom_user_is_anonymous_before_login(app):
    with app.test_request_context("/"):
        assert not wecom_user.is_authenticated
        assert wecom_user.email is None
        assert render_template_string("{{ 'in' if wecom_user.is_authenticated else 'out' }}") == "out"


# -- the login URLs ---------------------------------------------------------------------------


def test_browser_goes_to_web_login_with_documented_params(client, fake_wecom):
    response = start_login(client, "?next=/profile", ua=BROWSER_UA)
    assert response.status_code == 302
    location = response.location
    assert location.startswith(fake_wecom.web_login_endpoint + "?")
    params = _query(location)
    assert params == {"login_type": "CorpApp", "appid": fake_wecom.corp.corp_id,
                      "agentid": str(fake_wecom.corp.agent_id), "redirect_uri": "http://localhost/wecom/authorized",
                      "state": params["state"]}
    assert params["state"].isalnum() and len(params["state"]) == 32
    pending = session_data(client.application, client)[STATES_KEY]
    assert list(pending) == [params["state"]] and pending[params["state"]]["next"] == "/profile"


def test_wecom_client_goes_to_oauth_with_documented_params(client, fake_wecom):
    response = start_login(client, ua=WXWORK_UA)
    location = response.location
    assert location.startswith(fake_wecom.oauth_authorize_endpoint + "?")
    assert location.endswith("#wechat_redirect")
    params = _query(location.split("#")[0])
    assert params["appid"] == fake_wecom.corp.corp_id
    assert params["redirect_uri"] == "http://localhost/wecom/authorized"
    assert params["response_type"] == "code"
    assert params["scope"] == "snsapi_privateinfo"
    assert params["agentid"] == str(fake_wecom.corp.agent_id)
    assert "redirect_uri=http%3A%2F%2Flocalhost%2Fwecom%2Fauthorized" in location


def test_via_overrides_the_user_agent(client, fake_wecom):
    assert start_login(client, "?via=oauth", ua=BROWSER_UA).location.startswith(fake_wecom.oauth_authorize_endpoint)
    assert start_login(client, "?via=qr", ua=WXWORK_UA).location.startswith(fake_wecom.web_login_endpoint)


def test_login_via_setting(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, WECOM_LOGIN_VIA="oauth", WECOM_SCOPE="snsapi_base")
    location = start_login(app.test_client(), ua=BROWSER_UA).location
    assert location.startswith(fake_wecom.oauth_authorize_endpoint) and _query(location)["scope"] == "snsapi_base"


def test_public_url_sets_the_redirect_uri(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, WECOM_PUBLIC_URL="https://app.example.com/")
    location = start_login(app.test_client()).location
    assert _query(location)["redirect_uri"] == "https://app.example.com/wecom/authorized"


# -- round trips ----------------------------------------------------------------------------


def test_in_client_oauth_round_trip_self_built(app, client, fake_wecom):
    response = login(client, ua=WXWORK_UA)
    assert response.status_code == 302 and response.location == "/profile"
    page = client.get("/profile").get_data(as_text=True)
    assert "张三" in page and "zhangsan@corp1.example.com" in page
    paths = [c.path for c in fake_wecom.calls if c.path.startswith("/cgi-bin/")]
    # user/get and getuserdetail need only getuserinfo's answer: they are made at the same time (issue 12)
    assert paths[:2] == ["/cgi-bin/gettoken", "/cgi-bin/auth/getuserinfo"]
    assert sorted(paths[2:]) == ["/cgi-bin/auth/getuserdetail", "/cgi-bin/user/get"]
    record = session_data(app, client)[SESSION_KEY]
    assert record["userid"] == "zhangsan" and record["corp_id"] == fake_wecom.corp.corp_id
    assert record["name"] == "张三" and record["email"] == "zhangsan@corp1.example.com"
    assert record["department"] == [1] and record["position"] == "产品经理" and record["gender"] == "1"
    assert record["avatar"].startswith(fake_wecom.url + "/avatar/")


def test_qr_login_round_trip_has_no_email_and_that_is_fine(app, client, fake_wecom):
    response = login(client, ua=BROWSER_UA, userid="lisi")
    assert response.location == "/profile"
    page = client.get("/profile").get_data(as_text=True)
    # doc 98177: the web-login code gives no user_ticket; user/get gives no email to new apps (doc 96255)
    assert "李四" in page and "no email" in page
    assert "/cgi-bin/auth/getuserdetail" not in [c.path for c in fake_wecom.calls]
    assert client.get("/api/me").json == {"userid": "lisi", "email": ""}  # withheld reads as ""


def test_customized_mode_round_trip(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, mode="customized")
    state = WeCom.state(app)
    assert state.app_type == "customized"
    client = app.test_client()
    location = start_login(client, "?next=/profile", ua=WXWORK_UA).location
    # 代开发: appid is the corp id WeCom gave us (encrypted, case-sensitive), agentid from auth_info
    assert _query(location.split("#")[0])["appid"] == fake_wecom.corp.auth_corp_id
    assert _query(location.split("#")[0])["agentid"] == str(fake_wecom.corp.agent_id)
    response = back_to_app(client, confirm(location))
    assert response.location == "/profile"
    page = client.get("/profile").get_data(as_text=True)
    assert "张三" in page and "zhangsan@corp1.example.com" in page
    record = session_data(app, client)[SESSION_KEY]
    member = fake_wecom.corp.members[0]
    assert record["userid"] == member.open_userid  # the encrypted userid of a post-2022 install (doc 97104)
    assert record["corp_id"] == fake_wecom.corp.auth_corp_id


def test_customized_mode_qr_login(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, mode="customized")
    client = app.test_client()
    location = start_login(client, "?next=/profile", ua=BROWSER_UA).location
    assert _query(location)["login_type"] == "CorpApp"
    assert back_to_app(client, confirm(location)).location == "/profile"
    assert "张三" in client.get("/profile").get_data(as_text=True)


@pytest.mark.fake_wecom(app_type="third_party")
def test_third_party_mode_round_trip(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, mode="third_party")
    assert WeCom.state(app).app_type == "third_party"
    client = app.test_client()
    location = start_login(client, "?next=/profile", ua=WXWORK_UA).location
    params = _query(location.split("#")[0])
    assert params["appid"] == fake_wecom.suite.suite_id and "agentid" not in params  # doc 91120
    response = back_to_app(client, confirm(location))
    assert response.location == "/profile"
    record = session_data(app, client)[SESSION_KEY]
    member = fake_wecom.corp.members[0]
    assert record["corp_id"] == fake_wecom.corp.auth_corp_id
    assert record["open_userid"] == member.open_userid
    assert "email" not in record  # doc 91122: third-party apps never get email
    paths = [c.path for c in fake_wecom.calls]
    assert "/cgi-bin/service/auth/getuserinfo3rd" in paths and "/cgi-bin/service/auth/getuserdetail3rd" in paths
    assert "/cgi-bin/auth/getuserinfo" not in paths


@pytest.mark.fake_wecom(app_type="third_party")
def test_third_party_qr_login_uses_service_app(fake_wecom, tmp_path):
    """ServiceApp web login takes the provider's 登录授权 SuiteID, not the app's suite id (98171), and its
    code is consumed with that suite's token (98179), whose ticket arrives on the template URL."""
    app = make_app(fake_wecom, tmp_path, mode="third_party")
    client = app.test_client()
    assert fake_wecom.push_login_suite_ticket("http://localhost/wecom/callback", client=client).success
    location = start_login(client, "?next=/profile", ua=BROWSER_UA).location
    params = _query(location)
    assert params["login_type"] == "ServiceApp" and params["appid"] == fake_wecom.login_suite.suite_id
    assert params["appid"] != fake_wecom.suite.suite_id and "agentid" not in params
    assert back_to_app(client, confirm(location)).location == "/profile"
    tokens = [c.json["suite_id"] for c in fake_wecom.calls_to("/cgi-bin/service/get_suite_token")]
    assert fake_wecom.login_suite.suite_id in tokens


def test_second_login_reuses_the_cached_corp_token(app, fake_wecom):
    first, second = app.test_client(), app.test_client()
    assert login(first, ua=WXWORK_UA).location == "/profile"
    assert login(second, ua=BROWSER_UA, userid="lisi").location == "/profile"
    assert len(fake_wecom.calls_to("/cgi-bin/gettoken")) == 1
    assert len(fake_wecom.calls_to("/cgi-bin/auth/getuserinfo")) == 2


def test_customized_second_login_reuses_tokens(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, mode="customized")
    for _ in range(2):
        assert login(app.test_client(), ua=WXWORK_UA).location == "/profile"
    assert len(fake_wecom.calls_to("/cgi-bin/gettoken")) == 1
    assert len(fake_wecom.calls_to("/cgi-bin/service/get_suite_token")) == 1


# -- session ---------------------------------------------------------------------------------


def test_session_is_renewed_at_login(app, client):
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    before = raw_cookie(app, client)
    start = start_login(client, "?next=/profile")
    assert session_data(app, client)["planted"] == "by an attacker"
    back_to_app(client, confirm(start.location))
    data = session_data(app, client)
    assert "planted" not in data and STATES_KEY not in data
    assert set(data) == {SESSION_KEY}
    assert raw_cookie(app, client) != before


def test_server_side_session_gets_a_new_id_at_login(app, client):
    """Flask-Session (>= 0.7) keeps the data server-side under an id: that id is renewed too."""
    from flask.sessions import SecureCookieSessionInterface

    renewed = []

    class ServerSideLike(SecureCookieSessionInterface):
        def regenerate(self, session):
            renewed.append(dict(session))

    app.session_interface = ServerSideLike()
    start = start_login(client, "?next=/profile")
    assert renewed == []
    back_to_app(client, confirm(start.location))
    assert len(renewed) == 1 and set(renewed[0]) == {SESSION_KEY}


def test_no_secret_or_token_in_the_cookie_or_pages(app, client, fake_wecom):
    pages = [login(client, ua=WXWORK_UA).get_data(as_text=True)]
    pages += [client.get(path).get_data(as_text=True) for path in ("/profile", "/", "/wecom/logout")]
    cookie = raw_cookie(app, client)
    decoded = json.dumps(session_data(app, client), ensure_ascii=False)
    secrets = fake_secrets(fake_wecom)
    assert fake_wecom.model._access_tokens and fake_wecom.model._user_tickets  # they exist…
    for secret in secrets:  # …and appear nowhere the user can read
        assert secret not in cookie and secret not in decoded
        for page in pages:
            assert secret not in page
    for word in ("access_token", "user_ticket", "secret", "permanent_code"):
        assert word not in decoded


def test_no_secret_token_ticket_or_code_in_the_logs_at_debug(app, client, fake_wecom, caplog):
    caplog.set_level(logging.DEBUG)
    start = start_login(client, "?next=/profile", ua=WXWORK_UA)
    answer = confirm(start.location)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    assert back_to_app(client, answer).location == "/profile"
    client.get("/wecom/authorized?code=forged-code-value-1234&state=forged")  # a failure logs too
    # the simulator's own access log plays WeCom's server: it is not ours to judge
    ours = [r for r in caplog.records if not r.name.startswith("flask_wecom.testing")]
    assert any(r.name == "flask_wecom.login" for r in ours)
    text = "\n".join(r.getMessage() for r in ours) + "\n".join(repr(r.args) for r in ours)
    for secret in fake_secrets(fake_wecom) + [code]:
        assert secret not in text, secret


def test_wecom_user_in_templates_and_cached_on_g(app, client):
    login(client, ua=WXWORK_UA)
    with client.application.test_request_context("/"):
        pass
    with client:
        client.get("/")
        assert wecom_user.is_authenticated and wecom_user.name == "张三"
        assert wecom_user._get_current_object() is wecom_user._get_current_object()
        out = render_template_string("{{ wecom_user.name }} {{ wecom_user.email }}")
        assert out == "张三 zhangsan@corp1.example.com"
        assert isinstance(wecom_user._get_current_object(), WeComUser)
        assert session[SESSION_KEY]["userid"] == "zhangsan"


def test_import_paths():
    import flask_wecom

    assert flask_wecom.login_required is login_required
    assert flask_wecom.wecom_user is wecom_user


# -- hooks and signals -------------------------------------------------------------------------


def test_user_loader_maps_the_member_to_an_app_user(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path)
    wecom = app.extensions["test_wecom"]
    accounts = {"zhangsan": {"id": 7, "role": "admin"}}
    seen = []

    @wecom.user_loader
    def load(user):
        seen.append(user.userid)
        return accounts.get(user.userid)

    @app.route("/role")
    @login_required
    def role():
        return wecom_user.app_user["role"]

    client = app.test_client()
    assert login(client, ua=WXWORK_UA).location == "/profile"
    assert client.get("/role").get_data(as_text=True) == "admin"
    # the app forgets the account: the next request is anonymous again
    accounts.clear()
    assert client.get("/role").status_code == 302
    assert SESSION_KEY not in session_data(app, client)
    assert seen.count("zhangsan") >= 2


def test_user_loader_refusing_ends_on_the_refused_page(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path)
    app.extensions["test_wecom"].user_loader(lambda user: None)
    client = app.test_client()
    response = login(client, ua=WXWORK_UA)
    assert response.status_code == 403
    assert 'data-reason="refused"' in response.get_data(as_text=True)
    assert 'id="wecom-retry"' not in response.get_data(as_text=True)  # trying again would not help
    assert SESSION_KEY not in session_data(app, client)


def test_signals(app, client):
    logged_in, logged_out, failed = [], [], []
    with signals.user_logged_in.connected_to(lambda sender, user: logged_in.append(user), app), \
            signals.user_logged_out.connected_to(lambda sender, user: logged_out.append(user), app), \
            signals.login_failed.connected_to(lambda sender, error: failed.append(error), app):
        login(client, ua=WXWORK_UA)
        client.get("/wecom/authorized?code=x&state=forged")
        token = _logout_token(client)
        client.post("/wecom/logout", data={"token": token})
    assert [u.userid for u in logged_in] == ["zhangsan"] and logged_in[0].email == "zhangsan@corp1.example.com"
    assert [u.userid for u in logged_out] == ["zhangsan"]
    assert [e.reason for e in failed] == ["state_mismatch"]


# -- logout ----------------------------------------------------------------------------------


def _logout_token(client) -> str:
    page = client.get("/wecom/logout").get_data(as_text=True)
    marker = 'name="token" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


def test_logout_form_and_post(app, client):
    login(client, ua=WXWORK_UA)
    form = client.get("/wecom/logout")
    assert form.status_code == 200 and 'method="post"' in form.get_data(as_text=True)
    assert SESSION_KEY in session_data(app, client)  # GET only shows the form
    response = client.post("/wecom/logout", data={"token": _logout_token(client), "next": "/profile"})
    assert response.status_code == 302 and response.location == "/profile"
    assert session_data(app, client) == {}
    assert client.get("/profile").status_code == 302


def test_cross_site_logout_post_is_not_honoured(app, client):
    login(client, ua=WXWORK_UA)
    response = client.post("/wecom/logout", data={"token": "forged"}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 400 and 'method="post"' in response.get_data(as_text=True)
    assert SESSION_KEY in session_data(app, client)
    for headers in ({}, {"Referer": "http://localhost.evil.example/"}, {"Origin": "null"},
                    {"Origin": "https://evil.example", "Referer": "http://localhost/"}):
        assert client.post("/wecom/logout", headers=headers).status_code == 400, headers
    assert SESSION_KEY in session_data(app, client)
    # a same-origin request (fetch from our own pages) is fine
    response = client.post("/wecom/logout", headers={"Origin": "http://localhost", "Accept": "application/json"})
    assert response.status_code == 200 and response.json == {"ok": True, "logged_in": False}
    assert SESSION_KEY not in session_data(app, client)


def test_logout_when_anonymous(client):
    response = client.post("/wecom/logout")
    assert response.status_code == 302 and response.location == "/"
    assert "尚未登录" in client.get("/wecom/logout").get_data(as_text=True)


def test_templates_can_be_overridden(fake_wecom, tmp_path):
    templates = tmp_path / "templates" / "wecom"
    templates.mkdir(parents=True)
    (templates / "login_error.html").write_text("custom {{ failure.reason }} {{ failure.errcode }}")
    app = make_app(fake_wecom, tmp_path)
    app.template_folder = str(tmp_path / "templates")
    response = app.test_client().get("/wecom/authorized?code=x&state=forged")
    assert response.status_code == 400 and response.get_data(as_text=True) == "custom state_mismatch None"


# -- Flask-Login bridge (optional) -------------------------------------------------------------


def test_flask_login_bridge(fake_wecom, tmp_path):
    flask_login = pytest.importorskip("flask_login")
    app = make_app(fake_wecom, tmp_path)
    wecom = app.extensions["test_wecom"]
    manager = flask_login.LoginManager(app)
    manager.login_view = "wecom.login"

    class Account(flask_login.UserMixin):
        def __init__(self, id):
            self.id = id

    accounts = {"zhangsan": Account("zhangsan")}
    manager.user_loader(accounts.get)
    wecom.user_loader(lambda user: accounts.get(user.userid))

    @app.route("/fl")
    @flask_login.login_required
    def fl():
        return f"flask-login user {flask_login.current_user.id}"

    client = app.test_client()
    assert client.get("/fl").location.startswith("/wecom/login?next=")
    assert login(client, ua=WXWORK_UA).location == "/profile"
    assert client.get("/fl").get_data(as_text=True) == "flask-login user zhangsan"
    data = session_data(app, client)
    assert data["_user_id"] == "zhangsan" and SESSION_KEY in data
    client.post("/wecom/logout", headers={"Origin": "http://localhost"})
    assert client.get("/fl").status_code == 302


def test_flask_login_bridge_can_be_turned_off(fake_wecom, tmp_path):
    flask_login = pytest.importorskip("flask_login")
    app = make_app(fake_wecom, tmp_path, WECOM_FLASK_LOGIN=False)
    manager = flask_login.LoginManager(app)
    manager.user_loader(lambda user_id: None)
    app.extensions["test_wecom"].user_loader(lambda user: {"id": user.userid})
    client = app.test_client()
    assert login(client, ua=WXWORK_UA).location == "/profile"
    assert "_user_id" not in session_data(app, client)
