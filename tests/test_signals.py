"""Signals cannot break a request (issue 10, item 6).

Every signal of flask-wecom goes through :func:`flask_wecom.signals.send`: a receiver that raises is
logged with its qualified name, the other receivers still run, and the answer (page, redirect, WeCom's
``success``) is exactly what it is without the receiver. Each signal the request path sends is checked
through a real request against a served FakeWeCom.
"""
from __future__ import annotations

import asyncio
import logging
import pathlib
import re

import pytest
from login_support import BROWSER_UA, login, make_app, start_login

from flask_wecom import signals

PACKAGE = pathlib.Path(signals.__file__).parent


class Boom:
    """A receiver that raises, with a recognisable qualified name."""

    def __init__(self) -> None:
        self.calls = 0

    def receive(self, sender, **kwargs):
        self.calls += 1
        raise RuntimeError("bug in an app's receiver")


def _logged(caplog, signal, receiver) -> bool:
    name = f"{receiver.__module__}.{receiver.__qualname__}"
    return any(r.name == "flask_wecom.signals" and r.levelno == logging.ERROR and name in r.getMessage()
               and signal.name in r.getMessage() and r.exc_info for r in caplog.records)


def test_no_direct_send_left_in_the_package():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"(?<!\bsignals)\.send\(", line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == [], "send signals through flask_wecom.signals.send:\n" + "\n".join(offenders)


def test_send_logs_the_receiver_by_name_and_still_calls_the_others(caplog):
    signal = signals._signals.signal("wecom-test-only")
    boom, seen = Boom(), []

    def listener(sender, **kwargs):
        seen.append((sender, kwargs))

    signal.connect(boom.receive)
    signal.connect(listener)
    try:
        assert signals.send(signal, "app", value=1) is None
        with signal.muted():
            signals.send(signal, "app", value=2)
    finally:
        signal.disconnect(boom.receive)
        signal.disconnect(listener)
    assert boom.calls == 1 and seen == [("app", {"value": 1})]
    assert _logged(caplog, signal, boom.receive)
    assert "test_signals.Boom.receive" in caplog.text


def test_send_runs_async_receivers_in_an_app_context(tmp_path):
    from flask import Flask

    signal = signals._signals.signal("wecom-test-async")
    seen = []

    async def receiver(sender, **kwargs):
        await asyncio.sleep(0)
        seen.append(kwargs)

    class App(Flask):
        def async_to_sync(self, func):  # Flask's hook; its default needs asgiref, not a dependency
            return lambda *args, **kwargs: asyncio.run(func(*args, **kwargs))

    app = App(__name__)
    signal.connect(receiver)
    try:
        with app.app_context():
            signals.send(signal, app, value=3)
    finally:
        signal.disconnect(receiver)
    assert seen == [{"value": 3}]


# -- the login signals -----------------------------------------------------------------------------


def test_a_raising_user_logged_in_receiver_does_not_change_the_login(app, caplog):
    boom = Boom()
    with signals.user_logged_in.connected_to(boom.receive, sender=app):
        client = app.test_client()
        answer = login(client, "?next=/profile")
    assert answer.status_code == 302 and answer.location.endswith("/profile")
    assert client.get("/profile").status_code == 200  # logged in all the same
    assert boom.calls == 1 and _logged(caplog, signals.user_logged_in, boom.receive)


def test_a_raising_user_logged_out_receiver_does_not_change_the_logout(app, caplog):
    client = app.test_client()
    login(client)
    boom = Boom()
    with signals.user_logged_out.connected_to(boom.receive, sender=app):
        answer = client.post("/wecom/logout", data={"next": "/"}, headers={"Origin": "http://localhost"})
    assert answer.status_code == 302 and answer.location.endswith("/")
    assert client.get("/profile").status_code == 302  # logged out all the same
    assert boom.calls == 1 and _logged(caplog, signals.user_logged_out, boom.receive)


def test_a_raising_login_failed_receiver_keeps_the_failure_page(app, caplog):
    client = app.test_client()
    start_login(client)
    without = client.get("/wecom/authorized?code=x&state=forgedState")
    start_login(client)
    boom = Boom()
    with signals.login_failed.connected_to(boom.receive, sender=app):
        answer = client.get("/wecom/authorized?code=x&state=forgedState", headers={"User-Agent": BROWSER_UA})
    assert answer.status_code == without.status_code == 400
    assert 'data-reason="state_mismatch"' in answer.get_data(as_text=True)
    assert boom.calls == 1 and _logged(caplog, signals.login_failed, boom.receive)


# -- the callback signals --------------------------------------------------------------------------


@pytest.fixture
def provider_app(fake_wecom, tmp_path):
    """代开发 app whose AuthCode exchange runs inside the callback request (so its signals do too)."""
    return make_app(fake_wecom, tmp_path / "p", mode="customized", WECOM_EXCHANGE_IN_BACKGROUND=False)


CALLBACK = "http://localhost/wecom/callback"


@pytest.mark.parametrize("name", ["callback_received", "suite_ticket_received"])
def test_a_raising_receiver_of_a_ticket_push_keeps_success(provider_app, fake_wecom, caplog, name):
    signal, boom = getattr(signals, name), Boom()
    client = provider_app.test_client()
    with signal.connected_to(boom.receive, sender=provider_app):
        answer = fake_wecom.push_suite_ticket(CALLBACK, client=client)
    assert answer.success, answer.text
    assert boom.calls == 1 and _logged(caplog, signal, boom.receive)


@pytest.mark.parametrize("name", ["corp_authorized", "permanent_code_reset", "auth_code_failed",
                                  "corp_auth_cancelled", "corp_auth_changed"])
def test_a_raising_receiver_of_an_authorization_event_keeps_success(provider_app, fake_wecom, caplog, name):
    from flask_wecom import WeCom

    state = WeCom.state(provider_app)
    client = provider_app.test_client()
    corp_id = fake_wecom.corp.auth_corp_id
    signal, boom = getattr(signals, name), Boom()
    with signal.connected_to(boom.receive, sender=provider_app):
        if name == "corp_authorized":
            fake_wecom.cancel_auth(CALLBACK, client=client)
            answer = fake_wecom.authorize(CALLBACK, client=client)
        elif name == "permanent_code_reset":
            answer = fake_wecom.reset_secret(CALLBACK, client=client)
        elif name == "auth_code_failed":
            fake_wecom.fail("/cgi-bin/service/get_permanent_code", 40078)  # WeCom refuses the AuthCode
            answer = fake_wecom.reset_secret(CALLBACK, client=client)
        elif name == "corp_auth_cancelled":
            answer = fake_wecom.cancel_auth(CALLBACK, client=client)
        else:
            answer = fake_wecom.change_auth(CALLBACK, client=client)
        assert answer.success, answer.text
        assert state.wait_background(timeout=20)  # change_auth refreshes in the background
    assert boom.calls == 1 and _logged(caplog, signal, boom.receive)
    corp = state.store.get_corp(corp_id)
    if name == "corp_auth_cancelled":
        assert corp.status == "revoked"
    else:
        assert corp.active  # the effect happened regardless of the receiver
