"""Issue 9.1: the 可信域名 (in-client OAuth) and the 授权回调域 (web login), rule by rule.

For each rule: the simulator refuses the wrong request the way WeCom does (over real HTTP against
FakeWeCom.serve()), and the product's answer is right — the doctor row, the one-time log warning,
the login error page. Docs: developer.work.weixin.qq.com/document/path/96441, 96442, 90313 (50001,
80001), 98152, 98173.
"""
from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from doctor_support import make_app as make_doctor_app
from doctor_support import row
from flask import Flask
from login_support import WXWORK_UA, confirm
from provider_app import app_config

from flask_wecom import WeCom
from flask_wecom.doctor import DoctorContext, _domain_row, _web_login_row
from flask_wecom.doctor_flask import run_doctor
from flask_wecom.testing import DomainSettingError, FakeWeCom
from flask_wecom.testing.__main__ import main as simulator_main

DOMAIN = "app.example.com"
REDIRECT = f"https://{DOMAIN}/wecom/authorized"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"


#: the simulator of the ``fake`` fixture (tests/conftest.py)
pytestmark = pytest.mark.fake_wecom(trusted_domain=DOMAIN)


def _page(url: str) -> requests.Response:
    """Open WeCom's (simulated) login page at ``url`` as a browser does."""
    return requests.get(url.split("#", 1)[0], allow_redirects=False, timeout=10)


def _refused(page: requests.Response) -> bool:
    return (page.status_code == 200 and 'data-fake-wecom="error"' in page.text
            and "Location" not in page.headers and not re.search(r"[?&]code=", page.text))


# -- the simulator: a 可信域名 holds neither an IP address nor a port (80001) ---------------------------


@pytest.mark.parametrize("value", ["127.0.0.1", "127.0.0.1:5000", "[::1]:8000", "10.0.0.8"])
def test_an_ip_trusted_domain_is_refused_with_80001(value):
    with pytest.raises(DomainSettingError) as refused:
        FakeWeCom(trusted_domain=value)
    assert refused.value.errcode == 80001 and "80001" in str(refused.value)
    assert "IP" in str(refused.value) and "allow_local_redirects" in str(refused.value)
    fake = FakeWeCom(trusted_domain=DOMAIN)
    for owner in (fake.corp, fake.suite):
        with pytest.raises(DomainSettingError):
            owner.trusted_domain = value
        assert owner.trusted_domain == DOMAIN  # nothing half-set
    with pytest.raises(DomainSettingError):
        fake.add_corp(name="另一家公司", trusted_domain=value)


@pytest.mark.parametrize("value", ["app.example.com:8443", "app.example.com:443", "localhost:5000"])
def test_a_port_in_the_trusted_domain_is_refused_with_80001(value):
    with pytest.raises(DomainSettingError) as refused:
        FakeWeCom(app_type="third_party", trusted_domain=value)
    assert refused.value.errcode == 80001 and "端口" in str(refused.value) and "port" in str(refused.value)


@pytest.mark.parametrize("value", ["https://app.example.com", "*.example.com", "app.example.com/wecom"])
def test_a_trusted_domain_is_a_bare_domain(value):
    with pytest.raises(DomainSettingError) as refused:
        FakeWeCom(trusted_domain=value)
    assert refused.value.errcode == 80001


def test_the_named_allowance_accepts_local_hosts_and_is_off_by_default():
    assert FakeWeCom().allow_local_redirects is False
    fake = FakeWeCom(trusted_domain="127.0.0.1:5000", allow_local_redirects=True)
    owners = (fake.corp, fake.suite, fake.login_suite)
    assert {owner.trusted_domain for owner in owners} == {"127.0.0.1:5000"}
    # turning it off while a corp holds such a value is refused, and the allowance stays on
    with pytest.raises(DomainSettingError):
        fake.allow_local_redirects = False
    assert fake.allow_local_redirects is True
    for owner in owners:
        owner.trusted_domain = DOMAIN
    fake.allow_local_redirects = False
    with pytest.raises(DomainSettingError):
        fake.corp.trusted_domain = "127.0.0.1:5000"


def test_python_m_refuses_an_ip_trusted_domain_unless_allowed(capsys):
    assert simulator_main(["--port", "0", "--trusted-domain", "127.0.0.1:5000"]) == 2
    err = capsys.readouterr().err
    assert "80001" in err and "127.0.0.1:5000" in err and "allow_local_redirects" in err


# -- in-client OAuth: redirect_uri's host == the 可信域名 exactly, port included (50001) ----------------


@pytest.mark.parametrize("redirect, accepted", [
    (REDIRECT, True),
    (f"https://{DOMAIN}:443/wecom/authorized", True),   # the scheme's default port counts as none
    (f"http://{DOMAIN}/wecom/authorized", True),
    (f"https://{DOMAIN}:8443/wecom/authorized", False),  # a port the 可信域名 does not (cannot) have
    (f"http://{DOMAIN}:443/wecom/authorized", False),    # 443 is not http's default port
    ("https://www.app.example.com/wecom/authorized", False),
    ("http://127.0.0.1:5000/wecom/authorized", False),
])
def test_oauth_redirect_host_must_equal_the_trusted_domain(fake, redirect, accepted):
    page = _page(fake.authorize_url(redirect, state="s1"))
    if accepted:
        assert 'data-fake-wecom="confirm"' in page.text and "data-lenient" not in page.text
    else:
        assert _refused(page) and 'data-errcode="50001"' in page.text
        assert "redirect_uri需使用应用可信域名" in page.text


# -- web login: the 授权回调域, a separate setting that may carry a port (98173) ---------------------


def test_web_login_on_the_callback_domain_with_a_port_is_accepted(fake):
    fake.corp.web_login_domain = f"{DOMAIN}:8443"
    redirect = f"https://{DOMAIN}:8443/wecom/authorized"
    link = fake.web_login_url(redirect, state="w1")
    page = _page(link)
    assert 'data-fake-wecom="confirm"' in page.text
    answer = confirm(link, "zhangsan")
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(redirect + "?") and parse_qs(urlsplit(location).query)["state"] == ["w1"]
    # the same redirect URI inside the WeCom client is checked against the 可信域名: refused
    assert 'data-errcode="50001"' in _page(fake.authorize_url(redirect)).text


@pytest.mark.parametrize("redirect", [
    "https://other.example.com/wecom/authorized",
    f"https://{DOMAIN}:8443/wecom/authorized",   # 98173: mail.qq.com ≠ mail.qq.com:8080
    f"https://support.{DOMAIN}/wecom/authorized",
])
def test_web_login_off_the_callback_domain_is_refused(fake, redirect):
    """Default 授权回调域 = the 可信域名; a host off it gets WeCom's web-login wording and no code."""
    assert fake.corp.web_login_callback_domain == DOMAIN
    page = _page(fake.web_login_url(redirect))
    assert _refused(page) and "redirect_uri 与配置的授权完成回调域名不一致" in page.text
    assert "50001" not in page.text  # not the in-client page
    assert 'data-fake-wecom="confirm"' in _page(fake.web_login_url(REDIRECT)).text


def test_only_the_allowance_lets_a_local_redirect_through_and_the_page_says_so():
    fake = FakeWeCom(trusted_domain="127.0.0.1:5000", allow_local_redirects=True)
    with fake.serve():
        page = _page(fake.authorize_url("http://127.0.0.1:5000/wecom/authorized"))
        assert 'data-fake-wecom="confirm"' in page.text and 'data-lenient="allow_local_redirects"' in page.text
        assert "real WeCom would refuse this redirect URI" in page.text and "真实企业微信会拒绝" in page.text
        assert "WECOM_PUBLIC_URL" in page.text and "443" in page.text
        # still an exact match: another port is refused even with the allowance
        assert 'data-errcode="50001"' in _page(fake.authorize_url("http://127.0.0.1:5001/wecom/authorized")).text


# -- the product: the doctor -----------------------------------------------------------------------


def test_doctor_fails_an_ip_redirect_host_and_names_the_domain_to_use(fake, tmp_path):
    app = make_doctor_app(fake, tmp_path, WECOM_PUBLIC_URL="http://127.0.0.1:5000")
    results = run_doctor(app)
    domain = row(results, "trusted_domain")
    assert domain.status == "fail"
    assert "127.0.0.1:5000" in domain.finding and "IP" in domain.finding and "80001" in domain.finding
    assert "127.0.0.1" not in domain.fix  # never advise a value WeCom refuses
    # WeCom's own 可信域名 is a real domain: the fix names it, and how to serve on it
    assert f"WECOM_PUBLIC_URL=https://{DOMAIN}" in domain.fix and "443" in domain.fix
    assert "reverse proxy" in domain.fix and "反向代理" in domain.fix
    web = row(results, "web_login_domain")
    assert web.status == "warn" and "127.0.0.1" not in web.fix


def test_doctor_uses_server_name_and_drops_the_port_from_its_advice(fake, tmp_path):
    app = make_doctor_app(fake, tmp_path, WECOM_PUBLIC_URL=None, SERVER_NAME=f"{DOMAIN}:8443",
                          PREFERRED_URL_SCHEME="https")
    results = run_doctor(app)
    domain = row(results, "trusted_domain")
    assert domain.status == "fail" and any("(SERVER_NAME)" in d for d in domain.details)
    assert f"{DOMAIN}:8443" in domain.finding and f"{DOMAIN}:8443" not in domain.fix
    assert f"enter {DOMAIN} (no port) as the trusted domain" in domain.fix
    # the 授权回调域 may carry the port: that row says to enter it as it is (no API reads it)
    web = row(results, "web_login_domain")
    assert web.status == "ok" and f"enter {DOMAIN}:8443 in" in web.fix and f"填写 {DOMAIN}:8443" in web.fix
    assert "no WeCom API reads" in web.finding


def test_doctor_in_a_request_uses_the_request_host(fake, tmp_path):
    app = make_doctor_app(fake, tmp_path, WECOM_PUBLIC_URL=None)
    with app.test_request_context("/setup", base_url="http://10.1.2.3:8000"):
        results = run_doctor(app)
    domain = row(results, "trusted_domain")
    assert domain.status == "fail" and "10.1.2.3:8000" in domain.finding and "10.1.2.3" not in domain.fix
    assert any("current request" in d for d in domain.details)


def test_doctor_without_any_acceptable_domain_asks_for_one(tmp_path):
    """WeCom's 可信域名 is itself a local value (a simulator's allowance): nothing acceptable to name."""
    fake = FakeWeCom(trusted_domain="127.0.0.1:5000", allow_local_redirects=True)
    with fake.serve():
        app = make_doctor_app(fake, tmp_path, WECOM_PUBLIC_URL="http://127.0.0.1:5001")
        domain = row(run_doctor(app), "trusted_domain")
    assert domain.status == "fail"
    assert "127.0.0.1" not in domain.fix and "ICP" in domain.fix and "WECOM_PUBLIC_URL" in domain.fix


def test_doctor_differs_from_redirect_domain(fake, tmp_path):
    app = make_doctor_app(fake, tmp_path, WECOM_PUBLIC_URL="https://login.example.com")
    domain = row(run_doctor(app), "trusted_domain")
    assert domain.status == "fail" and "login.example.com" in domain.fix
    assert f"WECOM_PUBLIC_URL=https://{DOMAIN}" in domain.fix  # or serve on the registered domain


def test_doctor_web_login_row_skips_when_only_oauth_is_used(fake, tmp_path):
    app = make_doctor_app(fake, tmp_path, WECOM_LOGIN_VIA="oauth")
    assert row(run_doctor(app), "web_login_domain").status == "skip"


def test_doctor_rows_in_the_sandbox_warn_instead_of_failing():
    ctx = DoctorContext(config={}, app_type="internal", provider=None, client=None,
                        public_url="http://127.0.0.1:5000", allow_local_redirects=True)
    data = {"redirect_domain": "127.0.0.1:5000"}
    lenient = _domain_row(ctx, "ww1", "", data)
    assert lenient.status == "warn" and "allow_local_redirects" in lenient.finding
    assert "127.0.0.1" not in lenient.fix
    ctx.allow_local_redirects = False
    assert _domain_row(ctx, "ww1", "", data).status == "fail"
    assert _web_login_row(ctx, "ww1", "").status == "warn"  # an IP as 授权回调域 is unconfirmed


# -- the product: the login keeps redirecting, and warns once per app and host ----------------------


def _login_app(fake, tmp_path, **config) -> Flask:
    app = Flask("trusted_domain_app", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config(fake, tmp_path, "internal"), **config)
    WeCom(app)
    return app


def _warnings(caplog) -> list:
    return [r for r in caplog.records if r.name == "flask_wecom.login" and r.levelno == logging.WARNING
            and "in-client WeCom login" in r.getMessage()]


def test_login_warns_once_per_app_and_host_and_still_redirects(fake, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="flask_wecom.login")
    app = _login_app(fake, tmp_path, WECOM_PUBLIC_URL="http://127.0.0.1:5000")
    client = app.test_client()
    for _ in range(3):
        start = client.get("/wecom/login?next=/", headers={"User-Agent": WXWORK_UA})
        assert start.status_code == 302 and start.location.startswith(fake.oauth_authorize_endpoint)
    warned = _warnings(caplog)
    assert len(warned) == 1
    text = warned[0].getMessage()
    assert "127.0.0.1:5000" in text and "IP address" in text and "443" in text and "WECOM_PUBLIC_URL" in text
    # WeCom (here: the simulator) refuses that redirect URI on its own page
    assert _refused(_page(start.location)) and 'data-errcode="50001"' in _page(start.location).text
    # another refused host: one more line; an acceptable one: none
    app.config["WECOM_PUBLIC_URL"] = f"https://{DOMAIN}:8443"
    client.get("/wecom/login", headers={"User-Agent": BROWSER_UA})
    client.get("/wecom/login", headers={"User-Agent": BROWSER_UA})
    assert len(_warnings(caplog)) == 2 and "carries a port" in _warnings(caplog)[1].getMessage()
    app.config["WECOM_PUBLIC_URL"] = f"https://{DOMAIN}"
    client.get("/wecom/login", headers={"User-Agent": WXWORK_UA})
    assert len(_warnings(caplog)) == 2
    # per app: a second app on the same host warns for itself
    other = _login_app(fake, tmp_path / "other", WECOM_PUBLIC_URL="http://127.0.0.1:5000")
    other.test_client().get("/wecom/login", headers={"User-Agent": WXWORK_UA})
    assert len(_warnings(caplog)) == 3


def test_in_client_login_end_to_end_on_the_trusted_domain(fake, tmp_path, caplog):
    """A real-looking domain on 443: the in-client login goes through, and nothing is warned."""
    caplog.set_level(logging.WARNING, logger="flask_wecom.login")
    app = _login_app(fake, tmp_path, WECOM_PUBLIC_URL=f"https://{DOMAIN}")
    client = app.test_client()
    start = client.get("/wecom/login?next=/", headers={"User-Agent": WXWORK_UA}, base_url=f"https://{DOMAIN}")
    answer = confirm(start.location, "zhangsan")
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    assert back.netloc == DOMAIN
    done = client.get(f"{back.path}?{back.query}", base_url=f"https://{DOMAIN}")
    assert done.status_code == 302 and not _warnings(caplog)


def test_the_50001_page_never_advises_an_ip_as_trusted_domain(fake, tmp_path):
    """WeCom answers 50001 at the code exchange (doc 96442): our page's fix must not say "set the trusted
    domain to 127.0.0.1:5000" — it says to serve the site on a domain on 443 (WECOM_PUBLIC_URL)."""
    fake.allow_local_redirects = True
    fake.corp.trusted_domain = "127.0.0.1:5000"  # a simulator-only value: the code is issued
    app = _login_app(fake, tmp_path, WECOM_PUBLIC_URL="http://127.0.0.1:5000")
    client = app.test_client()
    start = client.get("/wecom/login?next=/", headers={"User-Agent": WXWORK_UA})
    answer = confirm(start.location)
    fake.fail("/cgi-bin/auth/getuserinfo", 50001)
    back = urlsplit(answer.headers["Location"])
    page = client.get(f"{back.path}?{back.query}")
    text = page.get_data(as_text=True)
    assert page.status_code == 502 and 'data-reason="trusted_domain"' in text
    fix = re.sub(r"\s+", " ", text)
    assert "设为 127.0.0.1" not in fix and "to 127.0.0.1" not in fix
    assert "443" in fix and "WECOM_PUBLIC_URL" in fix and "IP" in fix
