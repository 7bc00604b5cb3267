"""A real Chromium clicks through the sandbox demo: ticket → authorize → login → WeCom's
confirmation page → profile with the member's name and email (issue 5, "Browser").

Debian's ``chromium`` driven by Playwright with ``executable_path`` (never ``playwright install``).
Locally the test skips without them; under ``CI=true`` the ``chromium_path`` fixture fails instead.
Screenshots land in ``tests/artifacts/``.
"""
from __future__ import annotations

import os
import sys
import threading

import pytest
from werkzeug.serving import make_server

from flask_wecom.testing.server import SHUTDOWN_POLL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo_server(monkeypatch):
    """The sandbox demo served by werkzeug in a thread on 127.0.0.1:<free port>."""
    for key in list(os.environ):
        if key.startswith("WECOM_"):
            monkeypatch.delenv(key)
    from demo.app import create_app

    app = create_app(sandbox=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL},
                              name="demo-server", daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        app.extensions["wecom_demo"].close()


@pytest.fixture
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _ticket_and_authorization(page, base: str) -> None:
    """Steps ① and ② of the demo's home page: WeCom pushes the suite ticket, the customer authorizes."""
    from playwright.sync_api import expect

    page.goto(base + "/")
    page.click("#push-ticket")
    page.click("#authorize")
    expect(page.locator("#auth-state")).to_contain_text("已授权")


def test_sandbox_demo_round_trip_in_chromium(demo_server, browser):
    from playwright.sync_api import expect

    app, base = demo_server
    fake = app.extensions["wecom_demo"].fake
    member = fake.corp.members[0]
    os.makedirs(ARTIFACTS, exist_ok=True)

    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(base + "/")
    expect(page.locator("#steps")).to_contain_text("代开发流程")

    # (1) WeCom pushes the suite ticket
    page.click("#push-ticket")
    expect(page.locator("#ticket-state")).to_contain_text("已收到")
    # (2) the customer's admin authorizes; the permanent code is fetched in the background
    page.click("#authorize")
    expect(page.locator("#auth-state")).to_contain_text(fake.corp.name)
    page.screenshot(path=os.path.join(ARTIFACTS, "demo-home.png"), full_page=True)

    # (3) log in: WeCom's confirmation page (the simulator's), pick the member
    page.click("#login")
    page.wait_for_url(fake.url + "/connect/oauth2/authorize**")
    expect(page.locator("main[data-fake-wecom=confirm]")).to_be_visible()
    # the brand "企业微信 WeCom" stays on one line beside the logo on a phone
    assert page.evaluate("document.querySelector('.brand .name').getClientRects().length") == 1
    page.screenshot(path=os.path.join(ARTIFACTS, "demo-wecom-confirm.png"), full_page=True)
    page.click(f'form.wecom-member[data-userid="{member.userid}"] button')

    # back on the profile page with name and email
    page.wait_for_url(base + "/profile")
    expect(page.locator("#profile-name")).to_have_text(member.name)
    expect(page.locator("#profile-email")).to_have_text(member.email)
    expect(page.locator("#profile-department")).to_contain_text(str(member.department[0]))
    avatar = page.locator("#profile img.avatar")
    expect(avatar).to_have_attribute("src", member.avatar)
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", avatar.element_handle())
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    page.screenshot(path=os.path.join(ARTIFACTS, "demo-profile.png"), full_page=True)

    # the status panel now says a corp token is cached
    page.goto(base + "/")
    expect(page.locator("#corps")).to_contain_text("已缓存")
    # (4) log out
    page.click("#logout-button")
    page.wait_for_url(base + "/")
    expect(page.locator("#user")).to_contain_text("企业微信登录演示")
    page.goto(base + "/profile")
    page.wait_for_url(fake.url + "/**")  # anonymous again: sent back to WeCom to log in
    context.close()


def test_failure_page_and_setup_page_in_chromium(demo_server, browser):
    from playwright.sync_api import expect

    app, base = demo_server
    page = browser.new_page(viewport=PHONE)
    page.set_default_timeout(20_000)
    _ticket_and_authorization(page, base)
    page.click('li[data-switch="ip"] button')
    page.click("#login")
    page.click('form.wecom-member[data-userid="zhangsan"] button')
    expect(page.locator("#wecom-login-error")).to_have_attribute("data-reason", "ip_not_whitelisted")
    expect(page.locator("#wecom-ip")).to_have_text("127.0.0.1")
    page.screenshot(path=os.path.join(ARTIFACTS, "demo-error-60020.png"), full_page=True)

    page.goto(base + "/setup")
    expect(page.locator("#redirect-uri")).to_have_text(base + "/wecom/authorized")
    # 127.0.0.1:<port> is never a 可信域名 (no IP, no port: 90313 80001): the page shows the host, says
    # real WeCom would refuse it, advises no such value, and gives the 授权回调域 (a port is fine there)
    expect(page.locator("#redirect-host")).to_have_text(base.split("//", 1)[1])
    expect(page.locator("#domain-refused")).to_contain_text("Real WeCom would refuse this redirect URI")
    expect(page.locator("#trusted-domain")).not_to_contain_text("127.0.0.1")
    expect(page.locator("#web-login-domain")).to_have_text(base.split("//", 1)[1])
    # the doctor sees the same fault before anyone logs in, stacked for a phone (the partial's own CSS)
    failing = page.locator('table.wecom-doctor tr[data-check="corp_token"][data-status="fail"]')
    expect(failing).to_contain_text("60020")
    expect(page.locator("table.wecom-doctor thead")).to_be_hidden()
    assert failing.evaluate("tr => getComputedStyle(tr).display") == "block"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=os.path.join(ARTIFACTS, "demo-setup.png"), full_page=True)

    # every switch off again: the table passes
    page.goto(base + "/")
    page.click("#sandbox-reset")
    expect(page.locator('li[data-switch="ip"]')).to_have_attribute("data-on", "0")
    page.goto(base + "/setup")
    expect(page.locator(".wecom-doctor-summary")).to_have_attribute("data-passed", "true")
    page.close()


def test_corp_id_form_of_a_provider_serving_two_corps_in_chromium(demo_server, browser):
    """Two customers authorized the app and the login link names neither: the page asks for the corp id, and
    typing it finishes the login where it was going (``next``)."""
    from playwright.sync_api import expect

    from flask_wecom import WeCom

    app, base = demo_server
    fake = app.extensions["wecom_demo"].fake
    page = browser.new_page(viewport=PHONE)
    page.set_default_timeout(20_000)
    _ticket_and_authorization(page, base)
    second = fake.add_corp(name="第二客户贸易有限公司", trusted_domain=fake.corp.trusted_domain)
    assert fake.authorize(base + "/wecom/callback", corp=second).success
    assert WeCom.state(app).wait_background(timeout=30)
    member = second.visible_members[0]

    page.goto(base + "/wecom/login?next=/profile")
    expect(page.locator("#wecom-login-error")).to_have_attribute("data-reason", "corp_required")
    expect(page.locator("#wecom-login-error")).not_to_contain_text(fake.corp.name)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.fill("#wecom-corp-id", second.auth_corp_id)
    page.screenshot(path=os.path.join(ARTIFACTS, "demo-corp-required.png"), full_page=True)
    page.click("#wecom-corp-form button")
    page.wait_for_url(fake.url + "/**")
    page.click(f'form.wecom-member[data-userid="{member.userid}"] button')
    page.wait_for_url(base + "/profile")
    expect(page.locator("#profile-name")).to_have_text(member.name)
    page.close()
