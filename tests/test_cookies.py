"""The session cookie, hardened by default (issue 10, item 6).

Over HTTPS — ``WECOM_PUBLIC_URL`` https, a request with ``wsgi.url_scheme`` https, or ``X-Forwarded-Proto:
https`` behind ProxyFix — the session cookie is ``Secure``; it is ``SameSite=Lax`` unless the app set its own;
an app's own settings are never overridden. The cookie checked is the one the login really sets.
"""
from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface
from login_support import back_to_app, confirm, login, make_app, start_login
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_wecom.cookies import HardenedSessionInterface


def session_set_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, dict(response.headers)
    return cookies[-1]


def attributes(set_cookie: str) -> dict:
    parts = [p.strip() for p in set_cookie.split(";")[1:]]
    return {p.split("=", 1)[0].lower(): (p.split("=", 1)[1] if "=" in p else True) for p in parts}


def test_plain_http_gets_samesite_lax_and_no_secure(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path)
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax" and app.config["SESSION_COOKIE_SECURE"] is False
    cookie = attributes(session_set_cookie(start_login(app.test_client())))
    assert cookie["samesite"] == "Lax" and "secure" not in cookie and "httponly" in cookie


def test_https_public_url_makes_the_cookie_secure_and_the_login_still_works(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, WECOM_PUBLIC_URL="https://localhost")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    client = app.test_client()
    start = start_login(client, "?next=/profile")
    assert attributes(session_set_cookie(start))["secure"] is True
    answer = back_to_app(client, confirm(start.location))
    assert answer.status_code == 302 and answer.location.endswith("/profile")
    cookie = attributes(session_set_cookie(answer))
    assert cookie["secure"] is True and cookie["samesite"] == "Lax"


def test_a_secure_request_gets_a_secure_cookie(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path)
    assert isinstance(app.session_interface, HardenedSessionInterface)
    client = app.test_client()
    over_https = client.get("/wecom/login", base_url="https://localhost")  # wsgi.url_scheme https
    assert attributes(session_set_cookie(over_https))["secure"] is True
    over_http = client.get("/wecom/login")
    assert "secure" not in attributes(session_set_cookie(over_http))


def test_x_forwarded_proto_behind_proxyfix_gets_a_secure_cookie(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    client = app.test_client()
    proxied = client.get("/wecom/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "localhost",
                                                  "X-Forwarded-For": "203.0.113.9"})
    cookie = attributes(session_set_cookie(proxied))
    assert cookie["secure"] is True and cookie["samesite"] == "Lax"
    # the whole login behind the proxy: the cookie stays Secure to the end
    client = app.test_client()
    headers = {"X-Forwarded-Proto": "https"}
    start = client.get("/wecom/login?next=/profile", headers=headers)
    back = confirm(start.location)
    answer = client.get(back.headers["Location"].split("localhost", 1)[1], headers=headers)
    assert answer.status_code == 302 and attributes(session_set_cookie(answer))["secure"] is True
    assert client.get("/profile", headers=headers).status_code == 200


def test_the_apps_own_settings_are_left_alone(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, SESSION_COOKIE_SAMESITE="Strict", WECOM_PUBLIC_URL="https://localhost",
                   SESSION_COOKIE_SECURE=True)
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Strict"
    cookie = attributes(session_set_cookie(start_login(app.test_client())))
    assert cookie["samesite"] == "Strict" and cookie["secure"] is True


def test_an_own_session_interface_is_not_replaced(fake_wecom, tmp_path):
    from flask import Flask
    from provider_app import app_config

    from flask_wecom import WeCom

    class Own(SecureCookieSessionInterface):
        pass

    app = Flask("own_session_app", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config(fake_wecom, tmp_path, "internal"))
    own = Own()
    app.session_interface = own
    WeCom(app)
    assert app.session_interface is own and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_hardening_can_be_turned_off(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, WECOM_HARDEN_SESSION_COOKIE=False, WECOM_PUBLIC_URL="https://localhost")
    assert app.config["SESSION_COOKIE_SAMESITE"] is None and app.config["SESSION_COOKIE_SECURE"] is False
    assert type(app.session_interface) is SecureCookieSessionInterface
    client = app.test_client()
    cookie = attributes(session_set_cookie(client.get("/wecom/login", base_url="https://localhost")))
    assert "secure" not in cookie and "samesite" not in cookie
    assert login(app.test_client()).status_code == 302
