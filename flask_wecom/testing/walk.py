"""How the testing kit reaches the app under test, and the browser's walk through a login.

The app is either a WSGI test client (Flask's ``app.test_client()``: requests stay in-process) or a
base URL served over HTTP (``http://127.0.0.1:5000``: requests go through :mod:`requests`). WeCom's
own pages (the fake's sign-in page and the member click) are always real HTTP to the served fake.

A URL that answers 404 raises :class:`NotFoundError` naming it: a wrong callback URL, a missing
``WeCom(app)``, a typo in ``next`` must not pass as an ordinary answer.
"""
from __future__ import annotations

import html
import re
from typing import Any, Dict, Optional, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit

from .model import AuthorizeError

__all__ = ["FakeWeComError", "NotFoundError", "AppTarget", "walk_login",
           "WXWORK_USER_AGENT", "BROWSER_USER_AGENT"]

#: inside the WeCom client (its User-Agent carries ``wxwork``): the app starts in-client OAuth
WXWORK_USER_AGENT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 "
                     "(KHTML, like Gecko) Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")
#: a desktop browser: the app starts web / QR login
BROWSER_USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/120.0 Safari/537.36")

#: the blueprint's default prefix (WECOM_URL_PREFIX), used when the app is only a URL
DEFAULT_PREFIX = "/wecom"
#: redirects followed inside the app before giving up (a redirect loop)
MAX_REDIRECTS = 10

_ERROR_PAGE = re.compile(r'data-fake-wecom="error" data-errcode="(?P<code>[^"]*)".*?<h1>(?P<zh>.*?)</h1>'
                         r'\s*<p class="en">(?P<en>.*?)</p>(?:<div class="detail">(?P<detail>.*?)</div>)?', re.S)


class FakeWeComError(AssertionError):
    """The testing kit could not do what the test asked; ``url`` is where it went wrong.

    An ``AssertionError``, so pytest reports it as a failed test with the message, not as a crash.
    """

    def __init__(self, message: str, url: str = "") -> None:
        self.url = url
        super().__init__(message)


class NotFoundError(FakeWeComError):
    """A push or a redirect landed on a 404: the URL it tried is in the message and in ``url``."""


class _Answer:
    def __init__(self, url: str, status: int, location: str, text: str, response: Any) -> None:
        self.url, self.status, self.location, self.text, self.response = url, status, location, text, response

    @property
    def is_redirect(self) -> bool:
        return self.status in (301, 302, 303, 307, 308) and bool(self.location)


class AppTarget:
    """The app under test: a WSGI test client, or the base URL of an app served over HTTP."""

    def __init__(self, target: Any, *, session: Any = None, base_url: Optional[str] = None) -> None:
        if isinstance(target, str):
            self.client = None
            parts = urlsplit(target)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"not a URL of the app (http://host:port…): {target!r}")
            self.url = target.rstrip("/")
            if session is None:
                import requests

                session = requests.Session()
            self.session = session
        elif callable(getattr(target, "open", None)):
            self.client = target
            self.session = None
            app = getattr(target, "application", None)
            config = getattr(app, "config", {}) or {}
            scheme = config.get("PREFERRED_URL_SCHEME") or "http"
            self.url = (base_url or f"{scheme}://{config.get('SERVER_NAME') or 'localhost'}").rstrip("/")
        else:
            raise TypeError("pass the app's test client (app.test_client()) or its base URL "
                            f"(http://127.0.0.1:5000), not {type(target).__name__}")
        self.netloc = urlsplit(self.url).netloc.lower()

    @property
    def application(self) -> Any:
        return getattr(self.client, "application", None)

    def url_for(self, endpoint: str, path: str, **query: Any) -> str:
        """The absolute URL of the blueprint's ``endpoint`` (``wecom.callback``…); ``path`` under the
        default prefix when the app is only a URL or has no such route."""
        app = self.application
        params = {key: str(value) for key, value in query.items() if value is not None}
        url_map = getattr(app, "url_map", None)
        if url_map is not None:
            if endpoint not in getattr(app, "view_functions", {}):
                raise NotFoundError(f"the app has no {endpoint} route: call WeCom(app) (or wecom.init_app(app)) "
                                    f"before the test uses the app", self.url + DEFAULT_PREFIX + path)
            parts = urlsplit(self.url)
            adapter = url_map.bind(parts.netloc, url_scheme=parts.scheme)
            return str(adapter.build(endpoint, params, force_external=True))
        return self.url + DEFAULT_PREFIX + path + (f"?{urlencode(params)}" if params else "")

    def is_own(self, url: str) -> bool:
        parts = urlsplit(url)
        return not parts.netloc or parts.netloc.lower() == self.netloc

    def absolute(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.netloc:
            return url
        return self.url + (url if url.startswith("/") else "/" + url)

    def get(self, url: str, user_agent: str) -> _Answer:
        url = self.absolute(url)
        headers = {"User-Agent": user_agent}
        if self.client is not None:
            response = self.client.get(url, headers=headers)
            text = response.get_data(as_text=True)
            status, location = response.status_code, response.headers.get("Location", "")
        else:
            response = self.session.get(url, headers=headers, allow_redirects=False, timeout=30)
            text, status, location = response.text, response.status_code, response.headers.get("Location", "")
        if status == 404:
            raise NotFoundError(f"GET {url} answered 404 Not Found: {_snippet(text)}", url)
        return _Answer(url, status, location, text, response)


def _snippet(text: str, limit: int = 300) -> str:
    plain = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text or "")).strip()
    return plain[:limit] + ("…" if len(plain) > limit else "")


def _authorize_error(text: str) -> Optional[AuthorizeError]:
    match = _ERROR_PAGE.search(text)
    if match is None:
        return None
    code = match.group("code")
    return AuthorizeError(int(code) if code.isdigit() else None, html.unescape(match.group("zh")),
                          html.unescape(match.group("en")), html.unescape(match.group("detail") or ""))


def _sign_in(page_url: str, userid: Optional[str], corp_id: Optional[str], timeout: float) -> str:
    """Open WeCom's sign-in page at ``page_url`` and click the member; return where WeCom redirects."""
    import requests

    url = page_url.split("#", 1)[0]  # the #wechat_redirect fragment never reaches a server
    page = requests.get(url, timeout=timeout)
    if page.status_code == 404:
        raise NotFoundError(f"GET {url} answered 404 Not Found: is WECOM_OAUTH_AUTHORIZE_URL / "
                            "WECOM_SSO_LOGIN_URL this fake's (fake.flask_config())?", url)
    error = _authorize_error(page.text)
    if error is not None:
        raise error
    if 'data-fake-wecom="confirm"' not in page.text:
        raise FakeWeComError(f"GET {url} is not WeCom's sign-in page (HTTP {page.status_code}): "
                             f"{_snippet(page.text)}", url)
    # the member's button is a form posting the page's own parameters plus who signs in (pages.py)
    form: Dict[str, str] = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    if userid:
        form["userid"] = userid
    if corp_id:
        form["corpid"] = corp_id
    answer = requests.post(url.split("?", 1)[0], data=form, allow_redirects=False, timeout=timeout)
    error = _authorize_error(answer.text)
    if error is not None:
        raise error
    location = answer.headers.get("Location", "")
    if answer.status_code != 302 or not location:
        raise FakeWeComError(f"signing in as {userid!r} at {url} gave HTTP {answer.status_code}, no redirect: "
                             f"{_snippet(answer.text)}", url)
    return location


def walk_login(target: AppTarget, fake_url: str, userid: Optional[str], *, via: str, next_url: Optional[str],
               corp_id: Optional[str] = None, app_corp_id: Optional[str] = None,
               timeout: float = 10.0) -> Tuple[Any, str]:
    """The browser's round trip: the app's login URL → WeCom's page → the member's click → the app's
    ``/wecom/authorized`` → ``next``. Returns (the app's last response, its URL).

    ``corp_id`` is the corp picked on WeCom's page, ``app_corp_id`` the ``corp_id`` the app's login
    URL names (the corp id the app sees), for an app that several corps authorized."""
    if via not in ("oauth", "qr"):
        raise ValueError(f"via must be 'oauth' (inside the WeCom client) or 'qr' (web / QR login), not {via!r}")
    user_agent = WXWORK_USER_AGENT if via == "oauth" else BROWSER_USER_AGENT
    fake_netloc = urlsplit(fake_url).netloc.lower()
    url = target.url_for("wecom.login", "/login", next=next_url, via=via, corp_id=app_corp_id)
    signed_in = False
    for _ in range(MAX_REDIRECTS * 2):
        answer = target.get(url, user_agent)
        if not answer.is_redirect:
            return answer.response, answer.url
        location = answer.location
        if target.is_own(location):
            url = target.absolute(location)
            continue
        if urlsplit(location).netloc.lower() != fake_netloc:
            raise FakeWeComError(f"{answer.url} redirected off the app to {location}, which is neither the app "
                                 f"({target.url}) nor the fake ({fake_url})", location)
        if signed_in:
            raise FakeWeComError(f"after signing in as {userid!r}, {answer.url} sent the browser to WeCom's "
                                 f"sign-in page again ({location}): the login did not stick (a session cookie "
                                 "the test client does not send back? SESSION_COOKIE_SECURE over http?)", answer.url)
        url = _sign_in(location, userid, corp_id, timeout)
        signed_in = True
        if not target.is_own(url):
            raise FakeWeComError(f"WeCom redirected to {url}, not to the app at {target.url}: the app's redirect "
                                 "URI is on another host (WECOM_PUBLIC_URL, or the test client's base URL)", url)
    raise FakeWeComError(f"more than {MAX_REDIRECTS * 2} redirects walking the login; the last went to {url}", url)
