"""FakeWeCom's OAuth (``/connect/oauth2/authorize``) and web login (``/wwlogin/sso/login``) over real HTTP.

Each test cites the official document (developer.work.weixin.qq.com/document/path/N) whose rule it checks;
docs/wecom-reference.rst explains them.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from simulator_support import TRUSTED_DOMAIN, get, post, self_built_token

from flask_wecom.testing import AuthorizeError, FakeWeCom

#: the served ``fake`` and its ``url``: fixtures of tests/conftest.py
pytestmark = pytest.mark.fake_wecom(trusted_domain=TRUSTED_DOMAIN)

REDIRECT = "https://app.example.com/wecom/callback"
#: an OAuth code in a URL (not the data-errcode attribute)
NO_CODE = re.compile(r"[?&]code=")


def customized_token(fake: FakeWeCom, url: str) -> str:
    auth = fake.install_app()
    return get(url, "/cgi-bin/gettoken", corpid=auth.auth_corp_id, corpsecret=auth.permanent_code)["access_token"]


def code_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["code"][0]


class Forms(HTMLParser):
    """Collect the sign-in forms (action, data-userid, hidden inputs) of the confirmation page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: List[Dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: List[Any]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"),
                               "userid": a.get("data-userid"), "fields": {}})
        elif tag == "input" and self.forms:
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def forms_of(html: str) -> List[Dict[str, Any]]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


# -- the pages --------------------------------------------------------------------------------


def test_authorize_page_confirms_then_redirects_with_code_and_state(fake: FakeWeCom, url: str) -> None:
    """Doc 96441: authorize → (confirmation) → 302 redirect_uri?code=CODE&state=STATE; a form per member."""
    link = fake.authorize_url(REDIRECT + "?next=%2Fhome", state="s1", scope="snsapi_privateinfo")
    assert link.startswith(url + "/connect/oauth2/authorize?") and link.endswith("#wechat_redirect")
    page = requests.get(link, allow_redirects=False, timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    html = page.text
    assert "以 张三 身份登录" in html and "Sign in as 张三" in html and "李四" in html
    assert not NO_CODE.search(html)
    forms = forms_of(html)
    by_user = {f["userid"]: f for f in forms}
    assert {"zhangsan", "lisi"} <= set(by_user)
    form = by_user["lisi"]
    assert form["method"] == "post" and form["action"] == "/connect/oauth2/authorize"
    resp = requests.post(url + form["action"], data=form["fields"], allow_redirects=False, timeout=10)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT
    query = parse_qs(parts.query)
    assert query["next"] == ["/home"] and query["state"] == ["s1"] and len(query["code"][0]) <= 512
    data = get(url, "/cgi-bin/auth/getuserinfo", access_token=self_built_token(fake, url), code=query["code"][0])
    assert data["userid"] == "lisi" and "user_ticket" in data


def test_helper_returns_the_same_location_as_the_page(fake: FakeWeCom) -> None:
    """Doc 96441: the programmatic helper applies the page's rules and returns redirect_uri?code=…&state=…."""
    location = fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT, state="abc"), userid="lisi")
    assert location.startswith(REDIRECT + "?code=") and location.endswith("&state=abc")
    with pytest.raises(ValueError):
        fake.authorize_url_to_redirect("http://127.0.0.1/cgi-bin/gettoken")


@pytest.mark.parametrize("redirect", [
    "https://app.example.com:8443/cb",  # a port the trusted domain does not have
    "http://app.example.com:443/cb",    # 443 is not http's default port
    "https://example.com/cb",           # other host
    "https://app.example.com.evil.example/cb",
    "http://127.0.0.1:5000/cb",
])
def test_untrusted_redirect_domain_shows_error_and_issues_no_code(fake: FakeWeCom, url: str,
                                                                  redirect: str) -> None:
    """Docs 96441 / 96442: the redirect host (port included) must equal the trusted domain, else the page shows
    "redirect_uri需使用应用可信域名" and no code is issued (50001 in the API world, doc 90313)."""
    link = fake.authorize_url(redirect, state="x")
    page = requests.get(link, allow_redirects=False, timeout=10)
    assert page.status_code == 200 and "Location" not in page.headers
    assert "redirect_uri需使用应用可信域名" in page.text and 'data-errcode="50001"' in page.text
    assert not NO_CODE.search(page.text) and not forms_of(page.text)
    # a forged POST is validated again: still no redirect
    params = dict(parse_qs(urlsplit(link).query, keep_blank_values=True))
    fields = {k: v[0] for k, v in params.items()}
    forged = requests.post(url + "/connect/oauth2/authorize", data=dict(fields, userid="zhangsan"),
                           allow_redirects=False, timeout=10)
    assert forged.status_code == 200 and "redirect_uri需使用应用可信域名" in forged.text
    with pytest.raises(AuthorizeError) as exc:
        fake.authorize_url_to_redirect(link)
    assert exc.value.errcode == 50001


def test_web_login_callback_domain_rule(fake: FakeWeCom, url: str) -> None:
    """98173: "要求配置的授权回调域，必须与访问链接的域名完全一致" (mail.qq.com ≠ mail.qq.com:8080); the
    授权回调域 is its own setting and may carry a port."""
    fake.corp.web_login_domain = "mail.qq.com:8080"
    assert fake.authorize_url_to_redirect(fake.web_login_url("http://mail.qq.com:8080/cgi-bin/login"))
    for bad in ("http://mail.qq.com/cgi-bin/login", "http://email.qq.com:8080/x", "http://support.mail.qq.com:8080/"):
        with pytest.raises(AuthorizeError, match="授权完成回调域名不一致"):
            fake.authorize_url_to_redirect(fake.web_login_url(bad))


@pytest.mark.parametrize("state", ["a-b", "has space", "x" * 129, "中文"])
def test_state_charset_84025(fake: FakeWeCom, url: str, state: str) -> None:
    """Docs 96441 / 90313, 84025: state must be [a-zA-Z0-9], ≤128 bytes."""
    page = requests.get(fake.authorize_url(REDIRECT, state=state), timeout=10)
    assert 'data-errcode="84025"' in page.text and not NO_CODE.search(page.text)
    with pytest.raises(AuthorizeError) as exc:
        fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT, state=state))
    assert exc.value.errcode == 84025
    assert fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT, state="x" * 128))


@pytest.mark.parametrize("change, errcode", [
    ({"appid": "ww0000000000000000"}, 40013),
    ({"appid": ""}, 40013),
    ({"response_type": "token"}, None),
    ({"scope": "snsapi_userinfo"}, None),
    ({"scope": "snsapi_privateinfo", "agentid": None}, 40056),
    ({"agentid": "1000099"}, 40056),
    ({"redirect_uri": "/relative"}, None),
])
def test_authorize_parameter_validation(fake: FakeWeCom, change: Dict[str, Optional[str]],
                                        errcode: Optional[int]) -> None:
    """Doc 96441 table: appid = CorpID, response_type=code, scope snsapi_base|snsapi_privateinfo, agentid
    "snsapi_privateinfo时必填否则报错", redirect_uri absolute and URL-encoded."""
    params: Dict[str, Optional[str]] = {
        "appid": fake.corp.corp_id, "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "snsapi_base", "state": "s", "agentid": str(fake.corp.agent_id)}
    params.update(change)
    query = urlencode({k: v for k, v in params.items() if v is not None})
    with pytest.raises(AuthorizeError) as exc:
        fake.authorize_url_to_redirect(f"http://fake/connect/oauth2/authorize?{query}")
    assert exc.value.errcode == errcode


def test_appid_accepts_plaintext_and_exact_encrypted_corpid(fake: FakeWeCom) -> None:
    """Doc 97104: corpid plaintext is case-insensitive, the encrypted one case-sensitive (UNCONFIRMED which one
    OAuth wants for 代开发: both are accepted)."""
    auth = fake.install_app()
    for appid in (fake.corp.corp_id, fake.corp.corp_id.upper(), auth.auth_corp_id):
        assert fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT, appid=appid))
    with pytest.raises(AuthorizeError):
        fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT, appid=auth.auth_corp_id.swapcase()))


# -- codes and tickets -------------------------------------------------------------------------


def test_code_is_single_use_40029(fake: FakeWeCom, url: str) -> None:
    """Doc 96442: "code只能使用一次" → 40029 不合法的oauth_code (doc 90313)."""
    token = self_built_token(fake, url)
    code = code_of(fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT)))
    assert get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=code)["userid"] == "zhangsan"
    again = get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=code)
    assert again["errcode"] == 40029 and again["errmsg"].startswith("invalid code, hint: [")
    assert get(url, "/cgi-bin/auth/getuserinfo", access_token=token)["errcode"] == 41008


def test_code_expires_after_5_minutes_40029(fake: FakeWeCom, url: str) -> None:
    """Doc 96442: "5分钟未被使用自动过期" → 40029."""
    token = self_built_token(fake, url)
    fresh = code_of(fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT)))
    stale = code_of(fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT)))
    fake.advance(299)
    assert get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=fresh)["errcode"] == 0
    fake.advance(2)
    assert get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=stale)["errcode"] == 40029


def test_privateinfo_user_ticket_and_getuserdetail_fields(fake: FakeWeCom, url: str) -> None:
    """Doc 96442: user_ticket with snsapi_privateinfo for a visible member; doc 96443: getuserdetail fields (no name)."""
    token = self_built_token(fake, url)
    code = code_of(fake.authorize_url_to_redirect(
        fake.authorize_url(REDIRECT, scope="snsapi_privateinfo"), userid="lisi"))
    info = get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=code)
    assert set(info) == {"errcode", "errmsg", "userid", "user_ticket"}
    detail = post(url, "/cgi-bin/auth/getuserdetail", {"user_ticket": info["user_ticket"]}, access_token=token)
    lisi = fake.corp.member("lisi")
    assert detail["errcode"] == 0 and "name" not in detail
    assert detail["userid"] == "lisi" and detail["gender"] == lisi.gender == "2"
    assert detail["email"] == lisi.email and detail["biz_mail"] == lisi.biz_mail
    assert detail["mobile"] == lisi.mobile and detail["avatar"] == lisi.avatar
    assert detail["avatar"].startswith(url + "/avatar/")
    avatar = requests.get(detail["avatar"], timeout=10)
    assert avatar.status_code == 200 and avatar.headers["Content-Type"].startswith("image/svg+xml")
    assert "qr_code" in detail and "address" in detail


def test_user_ticket_expires_after_1800s_84014(fake: FakeWeCom, url: str) -> None:
    """Doc 96442: user_ticket "有效期为1800s"; doc 90313: 84014 成员票据过期, 84015 invalid, 84090 missing."""
    token = self_built_token(fake, url)
    code = code_of(fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT, scope="snsapi_privateinfo")))
    ticket = get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=code)["user_ticket"]
    fake.advance(1799)
    path = "/cgi-bin/auth/getuserdetail"
    assert post(url, path, {"user_ticket": ticket}, access_token=token)["errcode"] == 0  # reusable in its life
    fake.advance(2)
    token = self_built_token(fake, url)
    assert post(url, path, {"user_ticket": ticket}, access_token=token)["errcode"] == 84014
    assert post(url, path, {"user_ticket": "forged" * 10}, access_token=token)["errcode"] == 84015
    assert post(url, path, {}, access_token=token)["errcode"] == 84090


def test_snsapi_base_gives_no_user_ticket(fake: FakeWeCom, url: str) -> None:
    """Doc 96442: user_ticket only "scope为snsapi_privateinfo" — snsapi_base gets userid only."""
    token = self_built_token(fake, url)
    code = code_of(fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT, scope="snsapi_base")))
    assert get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=code) == {
        "errcode": 0, "errmsg": "ok", "userid": "zhangsan"}


def test_member_outside_visible_range(fake: FakeWeCom, url: str) -> None:
    """Doc 96441: privateinfo "要求成员必须在应用可见范围内，否则页面会报错"; snsapi_base still answers
    "无论是否在应用可见范围之内" (doc 96442) without user_ticket; web login "提示无权限" (doc 91019);
    a ticket of a member removed from the range → 92000 (doc 90313; UNCONFIRMED 92000 vs 60021)."""
    outsider = fake.corp.outside_members[0]
    token = self_built_token(fake, url)
    with pytest.raises(AuthorizeError) as exc:
        fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT, scope="snsapi_privateinfo"),
                                       userid=outsider.userid)
    assert exc.value.errcode == 50002
    with pytest.raises(AuthorizeError):
        fake.authorize_url_to_redirect(fake.web_login_url(REDIRECT), userid=outsider.userid)
    code = code_of(fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT), userid=outsider.userid))
    assert get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=code) == {
        "errcode": 0, "errmsg": "ok", "userid": outsider.userid}
    # the page lists the outsider separately, and clicking them on a privateinfo page shows an error
    link = fake.authorize_url(REDIRECT, scope="snsapi_privateinfo")
    html = requests.get(link, timeout=10).text
    assert 'class="outside-range"' in html and f'data-userid="{outsider.userid}"' in html
    form = next(f for f in forms_of(html) if f["userid"] == outsider.userid)
    resp = requests.post(url + form["action"], data=form["fields"], allow_redirects=False, timeout=10)
    assert resp.status_code == 200 and 'data-errcode="50002"' in resp.text
    # a member dropped from the range after getting a ticket
    lisi = fake.corp.member("lisi")
    code = code_of(fake.authorize_url_to_redirect(link, userid="lisi"))
    ticket = get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=code)["user_ticket"]
    lisi.visible = False
    assert post(url, "/cgi-bin/auth/getuserdetail", {"user_ticket": ticket},
                access_token=token)["errcode"] == 92000


def test_non_member_gets_openid(fake: FakeWeCom, url: str) -> None:
    """Doc 96442 b): a non-member gets {"openid": …} instead of userid."""
    token = self_built_token(fake, url)
    code = code_of(fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT), non_member=True))
    data = get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=code)
    assert set(data) == {"errcode", "errmsg", "openid"} and len(data["openid"]) <= 64


def test_web_login_corp_app(fake: FakeWeCom, url: str) -> None:
    """Docs 98171 / 98177: wwlogin/sso/login?login_type=CorpApp&appid=CorpID&agentid=…; the code goes to
    auth/getuserinfo, no user_ticket in the web-login variant; agentid is required."""
    link = fake.web_login_url(REDIRECT, state="w1")
    assert link.startswith(url + "/wwlogin/sso/login?")
    html = requests.get(link, timeout=10).text
    assert "Sign in with WeCom" in html and 'data-userid="zhangsan"' in html
    form = next(f for f in forms_of(html) if f["userid"] == "lisi")
    resp = requests.post(url + form["action"], data=form["fields"], allow_redirects=False, timeout=10)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("&state=w1")
    token = self_built_token(fake, url)
    data = get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=code_of(resp.headers["Location"]))
    assert data == {"errcode": 0, "errmsg": "ok", "userid": "lisi"}
    no_agent = link.replace(f"&agentid={fake.corp.agent_id}", "")
    with pytest.raises(AuthorizeError) as exc:
        fake.authorize_url_to_redirect(no_agent)
    assert exc.value.errcode == 40056
    with pytest.raises(AuthorizeError, match="login_type"):
        fake.authorize_url_to_redirect(link.replace("CorpApp", "Nope"))


def test_customized_app_sees_encrypted_userids(fake: FakeWeCom, url: str) -> None:
    """Doc 97104: 代开发 apps get "第三方服务商级别的加密userid" (opaque, case-sensitive); self-built sees plaintext."""
    ctoken = customized_token(fake, url)
    stoken = self_built_token(fake, url)
    zhang = fake.corp.member("zhangsan")
    code = code_of(fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT, scope="snsapi_privateinfo")))
    info = get(url, "/cgi-bin/auth/getuserinfo", access_token=ctoken, code=code)
    assert info["userid"] == zhang.open_userid != zhang.userid
    assert re.search("[A-Z]", info["userid"]) and re.search("[a-z]", info["userid"])
    detail = post(url, "/cgi-bin/auth/getuserdetail", {"user_ticket": info["user_ticket"]}, access_token=ctoken)
    assert detail["userid"] == zhang.open_userid
    user = get(url, "/cgi-bin/user/get", access_token=ctoken, userid=zhang.open_userid)
    assert user["userid"] == zhang.open_userid and user["name"] == zhang.name
    assert get(url, "/cgi-bin/user/get", access_token=ctoken, userid=zhang.open_userid.swapcase())["errcode"] == 60111
    assert get(url, "/cgi-bin/user/get", access_token=ctoken, userid="zhangsan")["errcode"] == 60111
    code = code_of(fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT)))
    assert get(url, "/cgi-bin/auth/getuserinfo", access_token=stoken, code=code)["userid"] == "zhangsan"
    agent = get(url, "/cgi-bin/agent/get", access_token=ctoken, agentid=fake.corp.agent_id)
    assert agent["allow_userinfos"]["user"][0]["userid"] == zhang.open_userid
    assert agent["customized_publish_status"] == 2  # 已上线


def test_code_is_bound_to_its_corp(fake: FakeWeCom, url: str) -> None:
    """Doc 90313, 40029 help: the code must be consumed with a token of the app that issued it."""
    other = fake.add_corp(name="另一家公司", trusted_domain="app.example.com")
    other_token = get(url, "/cgi-bin/gettoken", corpid=other.corp_id, corpsecret=other.secret)["access_token"]
    code = code_of(fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT)))
    assert get(url, "/cgi-bin/auth/getuserinfo", access_token=other_token, code=code)["errcode"] == 40029


def test_disabled_app_blocks_login(fake: FakeWeCom, url: str) -> None:
    """Doc 90313: 50003 应用已禁用 on the page.  (The licence trial refuses members one by one at the API:
    tests/test_simulator_permissions.py.)"""
    fake.corp.app_closed = True
    page = requests.get(fake.authorize_url(REDIRECT), timeout=10).text
    assert 'data-errcode="50003"' in page and not NO_CODE.search(page)
    with pytest.raises(AuthorizeError) as exc:
        fake.authorize_url_to_redirect(fake.web_login_url(REDIRECT))
    assert exc.value.errcode == 50003


# -- third-party suite -------------------------------------------------------------------------


@pytest.fixture
def third() -> Iterator[FakeWeCom]:
    fake = FakeWeCom(app_type="third_party", trusted_domain="app.example.com")
    with fake.serve():
        yield fake


def third_suite_token(fake: FakeWeCom) -> str:
    return post(fake.url, "/cgi-bin/service/get_suite_token", {
        "suite_id": fake.suite.suite_id, "suite_secret": fake.suite.suite_secret,
        "suite_ticket": fake.issue_suite_ticket()})["suite_access_token"]


def test_third_party_oauth_getuserinfo3rd_and_detail(third: FakeWeCom) -> None:
    """Doc 91120: appid = suite_id; doc 91121: getuserinfo3rd → corpid, userid, user_ticket, expires_in, open_userid;
    doc 91122: getuserdetail3rd: name = userid, no mobile/email."""
    auth = third.install_app()
    link = third.authorize_url(REDIRECT, scope="snsapi_privateinfo", state="t")
    assert f"appid={third.suite.suite_id}" in link and "agentid" not in link
    code = code_of(third.authorize_url_to_redirect(link, userid="lisi"))
    st = third_suite_token(third)
    info = get(third.url, "/cgi-bin/service/auth/getuserinfo3rd", suite_access_token=st, code=code)
    lisi = third.corp.member("lisi")
    assert info["corpid"] == auth.auth_corp_id and info["userid"] == lisi.open_userid
    assert info["open_userid"] == lisi.open_userid and info["expires_in"] == 1800 and info["user_ticket"]
    detail = post(third.url, "/cgi-bin/service/auth/getuserdetail3rd", {"user_ticket": info["user_ticket"]},
                  suite_access_token=st)
    assert detail["errcode"] == 0 and detail["corpid"] == auth.auth_corp_id
    assert detail["name"] == detail["userid"] == lisi.open_userid
    assert "mobile" not in detail and "email" not in detail and detail["gender"] == "2"
    again = get(third.url, "/cgi-bin/service/auth/getuserinfo3rd", suite_access_token=st, code=code)
    assert again["errcode"] == 40029


def login_suite_token(fake: FakeWeCom) -> str:
    return post(fake.url, "/cgi-bin/service/get_suite_token", {
        "suite_id": fake.login_suite.suite_id, "suite_secret": fake.login_suite.suite_secret,
        "suite_ticket": fake.issue_suite_ticket(fake.login_suite)})["suite_access_token"]


def test_third_party_web_login_and_code_separation(third: FakeWeCom) -> None:
    """98171 / 98179: ServiceApp web login takes the 登录授权 SuiteID and its code is consumed with that
    suite's token; the app's own suite id is refused on the page, and a code exchanged with the wrong
    suite's token (or a CorpApp code) is 40029."""
    third.install_app()
    st, login_st = third_suite_token(third), login_suite_token(third)
    assert login_st != st
    link = third.web_login_url(REDIRECT)
    assert f"appid={third.login_suite.suite_id}" in link and "ServiceApp" in link
    code = code_of(third.authorize_url_to_redirect(link))
    info = get(third.url, "/cgi-bin/service/auth/getuserinfo3rd", suite_access_token=login_st, code=code)
    assert info["errcode"] == 0 and "user_ticket" not in info
    assert info["corpid"] == third.corp.auth_corp_id and info["open_userid"]
    # the same kind of code, exchanged with the app suite's token: refused like an unknown code
    other = code_of(third.authorize_url_to_redirect(third.web_login_url(REDIRECT)))
    assert get(third.url, "/cgi-bin/service/auth/getuserinfo3rd", suite_access_token=st,
               code=other)["errcode"] == 40029
    # ServiceApp with the app's own suite id: WeCom's refusal page, no code
    own = (f"{third.url}/wwlogin/sso/login?" + urlencode({
        "login_type": "ServiceApp", "appid": third.suite.suite_id, "redirect_uri": REDIRECT}))
    with pytest.raises(AuthorizeError) as refused:
        third.authorize_url_to_redirect(own)
    assert refused.value.errcode == 40013 and "登录授权" in refused.value.zh
    page = requests.get(own, timeout=10).text
    assert 'data-fake-wecom="error"' in page and "登录授权" in page
    corp_link = (f"{third.url}/wwlogin/sso/login?" + urlencode({
        "login_type": "CorpApp", "appid": third.corp.corp_id, "agentid": third.corp.agent_id,
        "redirect_uri": REDIRECT}))
    corp_code = code_of(third.authorize_url_to_redirect(corp_link))
    bad = get(third.url, "/cgi-bin/service/auth/getuserinfo3rd", suite_access_token=login_st, code=corp_code)
    assert bad["errcode"] == 40029
    # the login suite has no authorizations: its token serves nothing else
    assert post(third.url, "/cgi-bin/service/get_permanent_code", {"auth_code": "x" * 80},
                suite_access_token=login_st)["errcode"] == 48002


def test_getuserinfo3rd_refuses_customized_templates(fake: FakeWeCom, url: str) -> None:
    """Doc 91121: getuserinfo3rd "不允许代开发自建应用调用" (errcode UNCONFIRMED → 48002); doc 91120: appid=suite_id is
    third-party only."""
    st = post(url, "/cgi-bin/service/get_suite_token", {
        "suite_id": fake.suite.suite_id, "suite_secret": fake.suite.suite_secret,
        "suite_ticket": fake.issue_suite_ticket()})["suite_access_token"]
    assert get(url, "/cgi-bin/service/auth/getuserinfo3rd", suite_access_token=st,
               code="x" * 43)["errcode"] == 48002
    with pytest.raises(AuthorizeError):
        fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT, appid=fake.suite.suite_id))
