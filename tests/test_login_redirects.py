"""``next`` is only ever a relative path on this site: open-redirect attempts end on the default page."""
from __future__ import annotations

from urllib.parse import quote, urljoin, urlsplit

import pytest
from login_support import WXWORK_UA, login, make_app, session_data, start_login

from flask_wecom.login import STATES_KEY, safe_next

ATTACKS = [
    "//evil.com",
    "//evil.com/path",
    "https://evil.com",
    "http://evil.com/",
    "/\\evil.com",
    "\\\\evil.com",
    "/\\/evil.com",
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.com",
    "/\n/evil.com",
    " //evil.com",
    "https:evil.com",
    "evil.com",
    "profile",
    "//localhost@evil.com",
    "///evil.com",
    "%2F%2Fevil.com",
    "\\/\\/evil.com",
    "/\\/\\/evil.com",
    "/\t\t/evil.com",
    "/\r\n/evil.com",
    "/\x00/evil.com",
    "/\x7f/evil.com",
    "\t//evil.com",
    "\u3000//evil.com",
    "\uff0f\uff0fevil.com",
]


@pytest.mark.parametrize("value", ATTACKS)
def test_safe_next_refuses(value):
    assert safe_next(value) is None


@pytest.mark.parametrize("value", ["/", "/profile", "/profile?tab=2&x=%2F%2Fevil.com", "/a/b#frag", "/%2F%2Fevil.com",
                                   "/中文"])
def test_safe_next_accepts_relative_paths(value):
    assert safe_next(value) == value


# What the browser makes of the Location header: any of these must stay on this site.
ENCODED_ATTACKS = [
    "%2F%2Fevil.com",           # → //evil.com (refused)
    "%252F%252Fevil.com",       # → %2F%2Fevil.com (no leading slash: refused)
    "/%2509/evil.com",          # → /%09/evil.com: a path; the browser does not decode it in Location
    "/%09/evil.com",            # → /<tab>/evil.com (refused)
    "%5C%5Cevil.com",           # → \\evil.com (refused)
    "/%5C/evil.com",            # → /\/evil.com (refused)
    "%5C/%5C/evil.com",         # → \/\/evil.com (refused)
    "/%E3%80%80/evil.com",      # → /<ideographic space>/evil.com: a path
    "/%EF%BC%8F%EF%BC%8Fevil.com",  # → /／／evil.com (fullwidth solidus): a path
    "http%3A%2F%2Fevil.com",
    "%0D%0ALocation:%20http://evil.com",
]


@pytest.mark.parametrize("value", ["//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)",
                                   "/\t/evil.com", "http://evil.com/", "\\\\evil.com"])
def test_open_redirect_attempts_after_login_land_on_the_default_page(app, value):
    client = app.test_client()
    response = login(client, "?next=" + quote(value, safe=""), ua=WXWORK_UA)
    assert response.status_code == 302
    assert response.location == "/"
    assert "evil" not in response.location and not urlsplit(response.location).netloc


def test_open_redirect_attempt_is_not_even_stored(app):
    client = app.test_client()
    start_login(client, "?next=" + quote("//evil.com", safe=""))
    pending = session_data(app, client)[STATES_KEY]
    assert [entry["next"] for entry in pending.values()] == ["/"]


def test_default_next_setting(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, WECOM_LOGIN_VIEW_NEXT="/welcome")
    assert login(app.test_client(), "?next=https://evil.com", ua=WXWORK_UA).location == "/welcome"


def test_good_next_keeps_its_query(app):
    response = login(app.test_client(), "?next=" + quote("/profile?tab=2", safe=""), ua=WXWORK_UA)
    assert response.location == "/profile?tab=2"


@pytest.mark.parametrize("value", ["//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)"])
def test_logout_next_is_checked_too(app, value):
    client = app.test_client()
    login(client, ua=WXWORK_UA)
    response = client.post("/wecom/logout", data={"next": value}, headers={"Origin": "http://localhost"})
    assert response.status_code == 302 and response.location == "/"


def test_failure_page_start_again_link_is_safe(app):
    client = app.test_client()
    page = client.get("/wecom/authorized?state=forged&code=x").get_data(as_text=True)
    assert 'href="/wecom/login?next=/"' in page


@pytest.mark.parametrize("raw", ENCODED_ATTACKS)
def test_encoded_open_redirect_attempts_stay_on_this_site(app, raw):
    client = app.test_client()
    response = login(client, "?next=" + raw, ua=WXWORK_UA)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "\n" not in location and "\r" not in location and "\t" not in location
    # resolve it the way a browser does, relative to the page that answered
    assert urlsplit(urljoin("http://localhost/wecom/authorized", location)).netloc == "localhost", location
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location
