"""Helpers shared by tests/test_login*.py: an app wired to a served FakeWeCom, and a browser-like
walk through WeCom's confirmation page over real HTTP."""
from __future__ import annotations

import html
import re
from typing import Any, Dict, Optional
from urllib.parse import urljoin, urlsplit

import requests
from flask import Flask
from provider_app import app_config

from flask_wecom import WeCom, login_required, wecom_user

WXWORK_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
#: the host of Flask's test client, and so of the redirect_uri: it must be the fake's trusted domain
HOST = "localhost"


def make_app(fake, tmp_path, mode: str = "internal", *, clock=None, **config: Any) -> Flask:
    """A Flask app with WeCom pointed at ``fake`` (served), in ``internal`` / ``customized`` / ``third_party``
    mode. For the last two the suite ticket and the authorization arrive through the real callback view.
    ``clock``: the app's clock (the ``clock`` fixture), else real time."""
    app = Flask("login_test_app", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config(fake, tmp_path, mode))
    app.config.update(config)
    wecom = WeCom(app, clock=clock)
    app.extensions["test_wecom"] = wecom

    @app.route("/")
    def home():
        return f"home of {wecom_user.display_name or 'nobody'}"

    @app.route("/profile")
    @login_required
    def profile():
        user = wecom_user
        return f"<h1>{html.escape(user.name or '')}</h1><p>{html.escape(user.email or 'no email')}</p>"

    @app.route("/method-profile", methods=["GET", "OPTIONS"])
    @wecom.login_required
    def method_profile():
        return "method ok"

    @app.route("/api/me")
    @login_required
    def api_me():
        return {"userid": wecom_user.userid, "email": wecom_user.email}

    if mode != "internal":
        provision(app, fake)
    return app


def provision(app: Flask, fake) -> None:
    """代开发 / third-party: suite ticket → admin authorizes → permanent code, through the callback view."""
    client = app.test_client()
    url = f"http://{HOST}/wecom/callback"
    ticket = fake.push_suite_ticket(url, client=client)
    assert ticket.success, ticket.text
    auth = fake.authorize(url, client=client)
    assert auth.success and auth.in_time, auth.text
    assert WeCom.state(app).wait_background(timeout=30)
    corps = WeCom.state(app).store.list_corps()
    assert [c.corp_id for c in corps] == [fake.corp.auth_corp_id]


def start_login(client, query: str = "", *, ua: str = BROWSER_UA):
    response = client.get("/wecom/login" + query, headers={"User-Agent": ua})
    return response


_FORM = re.compile(r'<form method="post" action="(?P<action>[^"]*)" class="wecom-member"(?P<attrs>[^>]*)>'
                   r'(?P<body>.*?)</form>', re.S)
_INPUT = re.compile(r'<input type="hidden" name="(?P<name>[^"]*)" value="(?P<value>[^"]*)">')


def confirm(location: str, userid: Optional[str] = None, *, non_member: bool = False) -> requests.Response:
    """Open WeCom's page at ``location`` over HTTP and pick a member (default: the first one).

    Returns the fake's answer: a 302 to ``redirect_uri?code&state``, or its error page (HTTP 200).
    """
    page = requests.get(location.split("#", 1)[0], timeout=10)
    page.raise_for_status()
    if 'data-fake-wecom="error"' in page.text:
        return page
    for match in _FORM.finditer(page.text):
        attrs = match.group("attrs")
        if non_member and 'data-non-member="1"' not in attrs:
            continue
        if not non_member and userid is not None and f'data-userid="{userid}"' not in attrs:
            continue
        if not non_member and 'data-non-member="1"' in attrs:
            continue
        data: Dict[str, str] = {html.unescape(m.group("name")): html.unescape(m.group("value"))
                                for m in _INPUT.finditer(match.group("body"))}
        return requests.post(urljoin(page.url, html.unescape(match.group("action"))), data=data,
                             allow_redirects=False, timeout=10)
    raise AssertionError(f"no sign-in choice for {userid!r} on WeCom's page:\n{page.text[:2000]}")


def back_to_app(client, fake_answer: requests.Response):
    """Follow the fake's redirect back into the Flask test client (it must go to our redirect_uri)."""
    assert fake_answer.status_code == 302, fake_answer.text[:2000]
    location = fake_answer.headers["Location"]
    parts = urlsplit(location)
    assert parts.netloc == HOST and parts.path == "/wecom/authorized", location
    return client.get(f"{parts.path}?{parts.query}")


def login(client, query: str = "?next=/profile", *, ua: str = BROWSER_UA, userid: Optional[str] = None,
          non_member: bool = False):
    """The whole round trip; returns the response of ``/wecom/authorized``."""
    start = start_login(client, query, ua=ua)
    assert start.status_code == 302, start.get_data(as_text=True)[:2000]
    return back_to_app(client, confirm(start.location, userid, non_member=non_member))


def session_data(app: Flask, client) -> Dict[str, Any]:
    """Decode the session cookie exactly as the browser holds it."""
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    if cookie is None:
        return {}
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.loads(cookie.value)


def raw_cookie(app: Flask, client) -> str:
    cookie = client.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    return cookie.value if cookie is not None else ""


def fake_secrets(fake) -> list:
    """Every token, ticket, code and secret the fake handed out or holds."""
    model = fake.model
    values = [fake.suite.suite_secret, fake.suite.token, fake.suite.encoding_aes_key, fake.provider.secret]
    values += [c.secret for c in fake.corps]
    values += [c.permanent_code for c in fake.corps if c.permanent_code]
    values += list(model._access_tokens) + list(model._suite_tokens) + list(model._user_tickets)
    values += [t for t, _ in fake.suite.tickets]
    return [v for v in values if v]
