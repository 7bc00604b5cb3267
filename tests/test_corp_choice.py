"""Issue 9, item 7 — several customers and no corp chosen, over real HTTP against FakeWeCom.

A 代开发 provider app serves every corp that authorized it. With two or more of them, ``/wecom/login``
without ``?corp_id=`` cannot know whose login it is: it answers 400 with a page that tells each customer
how to reach their own login, never says "no organisation has authorized this app" and never names
another customer. ``?corp_id=`` of an authorized corp goes to WeCom with that corp's appid and agentid.
"""
from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests
from login_support import BROWSER_UA, WXWORK_UA, confirm
from provider_app import Provider, make_app

from flask_wecom import wecom_user
from flask_wecom.testing.server import serve_app

SECOND_NAME = "第二客户贸易有限公司"


@pytest.fixture
def served(fake, tmp_path):
    # the redirect URI's host is the corps' trusted domain; the test then carries WeCom's answer back
    # to the served app itself (as a reverse proxy on that domain would)
    app = make_app(fake, tmp_path, WECOM_PUBLIC_URL=f"http://{fake.corp.trusted_domain}")

    @app.route("/who")
    def who():
        return f"{wecom_user.corp_id}|{wecom_user.userid}" if wecom_user.is_authenticated else "nobody"

    handle = serve_app(app)
    provider = Provider(fake, app, handle.url)
    yield provider
    handle.close()
    provider.state.store.dispose()


def _authorize_two(p: Provider):
    p.authorize()
    second = p.fake.add_corp(name=SECOND_NAME, agent_id=1000017, trusted_domain=p.fake.corp.trusted_domain)
    result = p.fake.authorize(p.callback, corp=second)
    assert result.success, result.text
    p.wait()
    first = p.fake.corp
    assert {c.corp_id for c in p.state.store.list_corps()} == {first.auth_corp_id, second.auth_corp_id}
    assert first.agent_id != second.agent_id
    return first, second


def _login(p: Provider, query: str = "", *, ua: str = BROWSER_UA, session=None, json: bool = False):
    headers = {"User-Agent": ua}
    if json:
        headers["Accept"] = "application/json"
    return (session or requests).get(p.url + "/wecom/login" + query, headers=headers, allow_redirects=False,
                                     timeout=10)


def _names_nobody(text: str, *corps) -> None:
    for corp in corps:
        assert corp.name not in text
        assert corp.auth_corp_id not in text and corp.corp_id not in text


def test_two_corps_and_no_corp_in_the_request_is_a_400_that_names_nobody(served):
    first, second = _authorize_two(served)
    calls_before = len(served.fake.calls)
    response = _login(served)
    page = response.text
    assert response.status_code == 400, page[:2000]
    assert 'data-reason="corp_required"' in page
    assert "Traceback" not in page
    # how each customer reaches their own login: the workbench / app home URL, or ?corp_id=
    assert "工作台" in page and "workbench" in page
    assert "应用主页" in page and "home page" in page
    assert f"http://{first.trusted_domain}/wecom/login?corp_id=" in page
    # never "nobody authorized", never another customer's name or id, no "start again" loop
    assert "No organisation has authorized" not in page and "还没有企业授权" not in page
    _names_nobody(page, first, second)
    assert 'id="wecom-retry"' not in page
    assert len(served.fake.calls) == calls_before  # nothing was asked of WeCom

    answer = _login(served, json=True)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "corp_required" and "corp_id=" in body["fix_en"] and "retry_url" not in body
    _names_nobody(answer.text, first, second)


@pytest.mark.parametrize("ua, path", [(BROWSER_UA, "/wwlogin/sso/login"), (WXWORK_UA, "/connect/oauth2/authorize")])
def test_corp_id_of_an_authorized_corp_goes_to_wecom_with_its_appid_and_agentid(served, ua, path):
    first, second = _authorize_two(served)
    for corp in (second, first):
        browser = requests.Session()
        start = _login(served, "?corp_id=" + quote(corp.auth_corp_id), ua=ua, session=browser)
        assert start.status_code == 302, start.text[:2000]
        location = start.headers["Location"]
        assert location.startswith(served.fake.url) and urlsplit(location).path == path
        params = dict(parse_qsl(urlsplit(location.split("#", 1)[0]).query))
        assert params["appid"] == corp.auth_corp_id
        assert params["agentid"] == str(corp.agent_id)
        # WeCom (the simulator) accepts that appid / agentid pair and signs in one of this corp's members
        answer = confirm(location)
        assert answer.status_code == 302, answer.text[:2000]
        back = urlsplit(answer.headers["Location"])
        assert back.path == "/wecom/authorized"
        done = browser.get(f"{served.url}{back.path}?{back.query}", allow_redirects=False, timeout=10)
        assert done.status_code == 302, done.text[:2000]
        member = corp.visible_members[0]
        assert browser.get(served.url + "/who", timeout=10).text == f"{corp.auth_corp_id}|{member.id_as(True)}"


def test_unknown_or_cancelled_corp_id_is_a_404_naming_nobody(served):
    first, second = _authorize_two(served)
    for asked in ("wwUnknownCorp0001", second.corp_id.swapcase()):
        response = _login(served, "?corp_id=" + quote(asked))
        assert response.status_code == 404, response.text[:2000]
        assert 'data-reason="corp_unknown"' in response.text
        assert "No organisation has authorized" not in response.text
        _names_nobody(response.text, first, second)
    served.fake.cancel_auth(served.callback, corp=second)
    assert served.state.store.get_corp(second.auth_corp_id).status == "revoked"
    response = _login(served, "?corp_id=" + quote(second.auth_corp_id))
    assert response.status_code == 404 and 'data-reason="corp_unknown"' in response.text
    # one customer left: a login without corp_id is theirs again
    start = _login(served)
    assert start.status_code == 302
    assert dict(parse_qsl(urlsplit(start.headers["Location"]).query))["appid"] == first.auth_corp_id


def test_no_corp_yet_still_says_not_authorized_yet(served):
    response = _login(served)
    assert response.status_code == 503
    assert 'data-reason="no_corp"' in response.text and "还没有企业授权" in response.text
    assert "No organisation has authorized this app yet" in response.text


def test_the_corp_required_page_asks_for_the_corp_id_and_keeps_where_the_login_was_going(served):
    """A hub client (or any page) sent the member to /wecom/login?next=…: the page's form carries ``next`` and
    ``via`` on, so typing the corp id finishes the login where it was going (not on the home page)."""
    first, second = _authorize_two(served)
    browser = requests.Session()
    response = _login(served, "?next=" + quote("/who?x=1") + "&via=qr", session=browser)
    assert response.status_code == 400 and 'id="wecom-corp-form"' in response.text
    form = re.search(r'<form method="get" action="([^"]+)" id="wecom-corp-form"[^>]*>(.*?)</form>', response.text, re.S)
    assert form is not None
    hidden = {html.unescape(name): html.unescape(value)
              for name, value in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2))}
    assert hidden == {"next": "/who?x=1", "via": "qr"} and 'name="corp_id"' in form.group(2)
    _names_nobody(response.text, first, second)

    start = browser.get(served.url + html.unescape(form.group(1)), params={**hidden, "corp_id": second.auth_corp_id},
                        headers={"User-Agent": BROWSER_UA}, allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text[:2000]
    location = start.headers["Location"]
    assert dict(parse_qsl(urlsplit(location).query))["appid"] == second.auth_corp_id
    answer = confirm(location)
    back = urlsplit(answer.headers["Location"])
    done = browser.get(f"{served.url}{back.path}?{back.query}", allow_redirects=False, timeout=10)
    assert done.status_code == 302 and done.headers["Location"].endswith("/who?x=1"), done.headers
    assert browser.get(served.url + "/who", timeout=10).text.startswith(second.auth_corp_id + "|")

    # JSON clients get the same login URL to add corp_id to
    body = _login(served, "?next=" + quote("/who?x=1"), json=True).json()
    assert dict(parse_qsl(urlsplit(body["corp_login_url"]).query))["next"] == "/who?x=1"
