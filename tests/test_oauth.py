"""flask_wecom.oauth without Flask: login URLs (docs 96441, 91120, 98171), answer parsing (docs 96442, 91121),
state rules (doc 91022); docs/wecom-reference.rst, "Login" and "Code to user"."""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import exc as sa_exc

from flask_wecom.errors import (
    ConfigError,
    CorpNotChosenError,
    CorpNotFoundError,
    LoginError,
    NoAuthorizedCorpError,
    NoSuiteTicketError,
    TransportError,
    WeComAPIError,
    WeComError,
)
from flask_wecom.oauth import (
    CORP_APP,
    SERVICE_APP,
    LoginFailure,
    _call,
    authorize_url,
    choose_via,
    failure_from_error,
    generate_state,
    is_valid_state,
    is_wecom_client,
    login_type_for,
    login_url,
    parse_user_info,
    web_login_url,
)
from flask_wecom.user import AnonymousUser, WeComUser

AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
SSO = "https://login.work.weixin.qq.com/wwlogin/sso/login"
REDIRECT = "https://app.example.com/wecom/authorized?x=1&y=2"


def _query(url: str) -> list:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


# -- state (doc 91022: [a-zA-Z0-9], ≤ 128 bytes; else 84025) -------------------------------


def test_generated_state_is_alphanumeric_and_unique():
    states = {generate_state() for _ in range(200)}
    assert len(states) == 200
    for state in states:
        assert re.fullmatch(r"[A-Za-z0-9]{32}", state)
        assert is_valid_state(state)


@pytest.mark.parametrize("length", [0, 129])
def test_state_length_is_bounded(length):
    with pytest.raises(ValueError):
        generate_state(length)


def test_state_of_128_characters_is_allowed():
    assert is_valid_state(generate_state(128))


@pytest.mark.parametrize("value", ["", "a-b", "a b", "中文", "x" * 129, None, 123, "abc/", "abc="])
def test_invalid_states(value):
    assert not is_valid_state(value)


# -- in-client OAuth URL (docs 96441, 91120) --------------------------------------------------


def test_authorize_url_has_the_documented_parameters_in_order():
    url = authorize_url(AUTHORIZE, appid="wwCorp", redirect_uri=REDIRECT, state="abc123",
                        scope="snsapi_privateinfo", agentid=1000002)
    assert url.startswith(AUTHORIZE + "?")
    assert url.endswith("#wechat_redirect")
    assert _query(url) == [
        ("appid", "wwCorp"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "snsapi_privateinfo"),
        ("state", "abc123"),
        ("agentid", "1000002"),
    ]
    # redirect_uri is URL-encoded in the raw query (its own ?, & and = must not leak out)
    raw = urlsplit(url).query
    assert "redirect_uri=https%3A%2F%2Fapp.example.com%2Fwecom%2Fauthorized%3Fx%3D1%26y%3D2" in raw


def test_authorize_url_third_party_has_no_agentid():
    url = authorize_url(AUTHORIZE, appid="wwSuite", redirect_uri=REDIRECT, state="s1", scope="snsapi_base")
    assert dict(_query(url)) == {"appid": "wwSuite", "redirect_uri": REDIRECT, "response_type": "code",
                                 "scope": "snsapi_base", "state": "s1"}


def test_authorize_url_keeps_a_base_query_and_drops_a_base_fragment():
    url = authorize_url("http://127.0.0.1:9/connect/oauth2/authorize?foo=1#x", appid="a", redirect_uri=REDIRECT,
                        state="s", agentid="1")
    assert url.count("#") == 1 and url.endswith("#wechat_redirect")
    assert _query(url)[0] == ("foo", "1")


def test_authorize_url_refuses_bad_state_and_empty_appid():
    with pytest.raises(ValueError):
        authorize_url(AUTHORIZE, appid="a", redirect_uri=REDIRECT, state="bad state")
    with pytest.raises(ConfigError):
        authorize_url(AUTHORIZE, appid="", redirect_uri=REDIRECT, state="s")


# -- web / QR login URL (docs 98171, 98173) ---------------------------------------------------


def test_web_login_url_corp_app():
    url = web_login_url(SSO, login_type=CORP_APP, appid="wwCorp", agentid="1000002", redirect_uri=REDIRECT,
                        state="abc")
    assert "#" not in url
    assert _query(url) == [("login_type", "CorpApp"), ("appid", "wwCorp"), ("agentid", "1000002"),
                           ("redirect_uri", REDIRECT), ("state", "abc")]


def test_web_login_url_service_app_has_no_agentid():
    url = web_login_url(SSO, login_type=SERVICE_APP, appid="wwSuite", agentid="1000002", redirect_uri=REDIRECT,
                        state="abc", lang="en")
    assert dict(_query(url)) == {"login_type": "ServiceApp", "appid": "wwSuite", "redirect_uri": REDIRECT,
                                 "state": "abc", "lang": "en"}


def test_web_login_url_refuses_unknown_login_type():
    with pytest.raises(ValueError):
        web_login_url(SSO, login_type="corpapp", appid="a", redirect_uri=REDIRECT, state="s")


def test_web_login_url_refuses_an_empty_appid_and_a_bad_state():
    with pytest.raises(ConfigError, match="WECOM_CORP_ID"):
        web_login_url(SSO, login_type=CORP_APP, appid="", redirect_uri=REDIRECT, state="s")
    with pytest.raises(ValueError, match="84025"):
        web_login_url(SSO, login_type=CORP_APP, appid="a", redirect_uri=REDIRECT, state="not/ok")


@pytest.mark.parametrize("app_type,expected", [("internal", "CorpApp"), ("customized", "CorpApp"),
                                               ("third_party", "ServiceApp")])
def test_login_type_for(app_type, expected):
    assert login_type_for(app_type) == expected


def test_login_url_chooses_the_right_link():
    common = dict(redirect_uri=REDIRECT, state="s", authorize_base=AUTHORIZE, sso_base=SSO)
    oauth = login_url(via="oauth", app_type="customized", appid="wwC", agentid="7", **common)
    assert oauth.startswith(AUTHORIZE) and dict(_query(oauth))["agentid"] == "7"
    qr = login_url(via="qr", app_type="internal", appid="wwC", agentid="7", **common)
    assert qr.startswith(SSO) and dict(_query(qr))["login_type"] == "CorpApp"
    third = login_url(via="oauth", app_type="third_party", appid="wwSuite", **common)
    assert "agentid" not in dict(_query(third))
    # ServiceApp web login takes the 登录授权 SuiteID (98171), never the app's suite id; without one it is
    # refused with the keys to set instead of sending a request WeCom refuses
    third_qr = login_url(via="qr", app_type="third_party", appid="wwSuite", login_suite_id="wwLogin", **common)
    assert dict(_query(third_qr))["login_type"] == "ServiceApp" and dict(_query(third_qr))["appid"] == "wwLogin"
    with pytest.raises(LoginFailure) as info:
        login_url(via="qr", app_type="third_party", appid="wwSuite", **common)
    assert info.value.reason == "login_suite_missing" and "WECOM_LOGIN_SUITE_ID" in str(info.value)


def test_login_url_needs_the_agent_id_for_corp_apps():
    with pytest.raises(ConfigError, match="WECOM_AGENT_ID"):
        login_url(via="oauth", app_type="internal", appid="wwC", agentid=None, redirect_uri=REDIRECT, state="s",
                  authorize_base=AUTHORIZE, sso_base=SSO)


# -- choosing OAuth or QR ---------------------------------------------------------------------

WXWORK_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Mobile/15E148 wxwork/4.1.0 MicroMessenger/7.0.1 Language/zh")
CHROME_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def test_wecom_client_detection():
    assert is_wecom_client(WXWORK_UA)
    assert is_wecom_client("... WXWork/3.0 ...")
    assert not is_wecom_client(CHROME_UA)
    assert not is_wecom_client("Mozilla/5.0 MicroMessenger/8.0")  # personal WeChat is not WeCom
    assert not is_wecom_client(None)


@pytest.mark.parametrize("setting,ua,requested,expected", [
    ("auto", WXWORK_UA, None, "oauth"),
    ("auto", CHROME_UA, None, "qr"),
    ("auto", CHROME_UA, "oauth", "oauth"),
    ("auto", WXWORK_UA, "qr", "qr"),
    ("oauth", CHROME_UA, None, "oauth"),
    ("qr", WXWORK_UA, None, "qr"),
    ("auto", CHROME_UA, "bogus", "qr"),
])
def test_choose_via(setting, ua, requested, expected):
    assert choose_via(setting, ua, requested) == expected


# -- parsing getuserinfo answers (docs 96442, 91121: current and legacy spellings) ------------


def test_parse_current_member_answer():
    identity = parse_user_info({"errcode": 0, "errmsg": "ok", "userid": "zhangsan", "user_ticket": "T" * 40})
    assert identity.is_member and identity.userid == "zhangsan" and identity.user_ticket == "T" * 40
    assert "T" * 40 not in repr(identity)


def test_parse_legacy_capitalised_answer():
    identity = parse_user_info({"errcode": 0, "UserId": "lisi", "DeviceId": "dev1", "CorpId": "wwC",
                                "user_ticket": "t", "expires_in": 1800})
    assert (identity.userid, identity.device_id, identity.corp_id) == ("lisi", "dev1", "wwC")


def test_parse_non_member_answers():
    for data in ({"openid": "o1", "external_userid": "wm1"}, {"OpenId": "o1"}):
        identity = parse_user_info(data)
        assert not identity.is_member and identity.openid == "o1"


def test_parse_third_party_answer():
    identity = parse_user_info({"corpid": "wwCorp", "userid": "u1", "open_userid": "wo1", "user_ticket": "t",
                                "expires_in": 7200})
    assert (identity.corp_id, identity.userid, identity.open_userid) == ("wwCorp", "u1", "wo1")


# -- mapping errors to failure reasons --------------------------------------------------------


@pytest.mark.parametrize("errcode,reason", [
    (40029, "code_invalid"), (42022, "code_invalid"), (60020, "ip_not_whitelisted"), (60011, "not_visible"),
    (92000, "not_visible"), (50003, "app_unavailable"), (48004, "app_unavailable"), (90302, "app_unavailable"),
    (50001, "trusted_domain"), (40001, "secret_rejected"), (40013, "config"), (45009, "api_error"),
    # doc 90313: a token/agentid mismatch and the sharing scope are settings, not a disabled app
    (301002, "agent_mismatch"), (670001, "config"), (701016, "no_licence"),
])
def test_failure_reason_for_errcodes(errcode, reason):
    errmsg = "not allow to access from your ip, hint: [x], from ip: 203.0.113.7, more info at …"
    failure = failure_from_error(WeComAPIError(errcode, errmsg if errcode == 60020 else "bad"), "getuserinfo")
    assert isinstance(failure, LoginError)
    assert failure.reason == reason and failure.errcode == errcode and failure.code == errcode
    if errcode == 60020:
        assert failure.ip == "203.0.113.7"


@pytest.mark.parametrize("exc,reason", [
    (TransportError("down"), "unreachable"),
    (NoSuiteTicketError(), "no_suite_ticket"),
    (NoAuthorizedCorpError("none"), "no_corp"),
    (CorpNotChosenError("several"), "corp_required"),
    (CorpNotFoundError("wwUnknown"), "corp_unknown"),
    (ConfigError("missing"), "config"),
    (sa_exc.OperationalError("SELECT 1", {}, Exception("could not connect")), "store_unavailable"),
    (WeComError("an answer without access_token"), "api_error"),
    (KeyError("boom"), "internal"),
])
def test_failure_reason_for_other_errors(exc, reason):
    failure = failure_from_error(exc)
    assert failure.reason == reason
    assert "boom" not in str(failure) or reason != "internal"


def test_an_unexpected_error_in_a_step_is_internal_and_logged_with_its_traceback(caplog):
    def broken():
        raise KeyError("boom")

    with pytest.raises(LoginFailure) as caught:
        _call("getuserinfo", broken)
    assert caught.value.reason == "internal" and caught.value.step == "getuserinfo"
    assert "boom" not in str(caught.value)  # the page never shows it; the log has the traceback
    assert "getuserinfo failed unexpectedly" in caplog.text and "KeyError" in caplog.text


def test_unknown_reason_falls_back_to_api_error():
    assert LoginFailure("nonsense").reason == "api_error"


# -- the user record --------------------------------------------------------------------------


def test_user_session_round_trip_keeps_only_the_record():
    user = WeComUser(userid="zhangsan", corp_id="wwC", name="张三", email="zhangsan@example.com",
                     department=[1, 2], gender="1", app_user=object())
    record = user.to_session()
    assert record == {"userid": "zhangsan", "corp_id": "wwC", "name": "张三", "email": "zhangsan@example.com",
                      "gender": "1", "department": [1, 2], "kind": "member"}
    again = WeComUser.from_session(dict(record, unknown="ignored", _at=1))
    assert again == user and again.app_user is None
    assert again.is_authenticated and not again.is_anonymous and again.get_id() == "wwC/zhangsan"


def test_user_without_email_is_fine():
    user = WeComUser(userid="u", corp_id="c")
    assert user.email == "" and "email" not in user.to_session() and user.display_name == "u"
    assert f"{user.email}" == "" and WeComUser.from_session(user.to_session()).email == ""


@pytest.mark.parametrize("record", [None, {}, {"userid": "u"}, {"userid": "", "corp_id": "c"}, "text",
                                   {"userid": 1, "corp_id": "c"}])
def test_unusable_session_records(record):
    assert WeComUser.from_session(record) is None


def test_session_record_is_bounded():
    user = WeComUser(userid="u", corp_id="c", department=list(range(500)), avatar="h" * 5000)
    record = user.to_session()
    assert len(record["department"]) == 20 and len(record["avatar"]) == 512


def test_anonymous_user():
    anon = AnonymousUser()
    assert not anon.is_authenticated and anon.is_anonymous and not anon and anon.get_id() is None
    assert anon.email is None and anon.name is None
