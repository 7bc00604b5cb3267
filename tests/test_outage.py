"""The store down at login, on a page that needs it, or in the demo → HTTP 503, never a 500 (issue 10, item 4).

The database is a PostgreSQL cluster of the test's own on a private port (tests/private_postgres.py),
stopped while the app runs and started again to show the app recovers by itself. Every answer is the
bilingual "temporarily unavailable, try again shortly" page (or JSON) with ``Retry-After``; the log
names the reason; no page shows a traceback.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import time

import pytest
from flask import Flask, jsonify
from login_support import HOST, back_to_app, confirm, login, make_app, provision, start_login
from provider_app import app_config

from flask_wecom import WeCom, dbguard, login_required, wecom_user

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

UNREACHABLE = "postgresql+psycopg2://nobody@127.0.0.1:9/none?connect_timeout=1"


@pytest.fixture
def app(fake_wecom, tmp_path, database):
    """A 代开发 app on the private PostgreSQL, authorized through its callback, with pages that need the store.
    Every outage answer here is checked, so the store asks the database each time (WECOM_DATABASE_COOLDOWN=0;
    the cool-down after failures in a row is tested in test_frozen_store.py)."""
    app = Flask("outage_test_app", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config(fake_wecom, tmp_path, "customized"), WECOM_DATABASE_URI=database.db_url,
                      WECOM_CACHE_TYPE="SimpleCache", WECOM_DATABASE_COOLDOWN=0)
    WeCom(app)

    @app.route("/corp")
    @login_required
    def corp():  # a page of the app that reads the store through flask-wecom
        record = WeCom.state().store.get_corp(wecom_user.corp_id)
        return jsonify(corp_name=record.corp_name)

    provision(app, fake_wecom)
    return app


def assert_unavailable(response, *, json: bool = False) -> str:
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body[:2000]
    assert response.headers.get("Retry-After", "").isdigit(), dict(response.headers)
    assert "Traceback" not in body and 'File "' not in body and "psycopg2" not in body and "SQL" not in body
    if json:
        assert response.is_json and response.get_json()["error"] == "store_unavailable"
        return body
    assert 'data-reason="store_unavailable"' in body
    assert "服务暂时不可用" in body and "Temporarily unavailable" in body
    assert re.search("请稍后.*重试", body) and "try again shortly" in body
    return body


def logged_reason(caplog) -> bool:
    return any("store is unavailable" in r.getMessage() and "OperationalError" in r.getMessage()
               for r in caplog.records)


def test_login_with_the_store_down_is_a_503_and_works_again_when_it_is_back(app, database, caplog):
    client = app.test_client()
    database.stop()
    assert_unavailable(start_login(client, "?next=/corp"))
    assert_unavailable(client.get("/wecom/login", headers={"Accept": "application/json"}), json=True)
    assert logged_reason(caplog)
    database.start()
    answer = login(client, "?next=/corp")
    assert answer.status_code == 302 and answer.location.endswith("/corp")
    assert client.get("/corp").get_json() == {"corp_name": "示例科技有限公司"}


def test_the_store_going_down_between_login_and_authorized_is_a_503(app, fake_wecom, database, caplog):
    client = app.test_client()
    start = start_login(client, "?next=/corp")
    assert start.status_code == 302
    back = confirm(start.location)  # the member confirms at WeCom while the database dies
    database.stop()
    page = assert_unavailable(back_to_app(client, back))
    assert 'id="wecom-retry"' in page  # "start again" (the code was not spent: WeCom was never asked)
    assert logged_reason(caplog)
    assert not fake_wecom.calls_to("/cgi-bin/auth/getuserinfo")


def test_a_login_required_page_that_needs_the_store_is_a_503(app, database, caplog):
    client = app.test_client()
    assert login(client, "?next=/corp").status_code == 302
    database.stop()
    page = assert_unavailable(client.get("/corp"))
    assert "重试 / Try again" in page and 'href="/corp"' in page
    assert_unavailable(client.get("/corp", headers={"Accept": "application/json"}), json=True)
    assert logged_reason(caplog)
    database.start()
    assert client.get("/corp").status_code == 200


def test_a_user_loader_on_the_same_database_still_gets_the_503_page(fake_wecom, tmp_path, database, caplog):
    """The app's own users live in the database that went down: its user_loader raises on every page,
    even while the 503 page itself is rendered."""
    app = Flask("outage_loader_app", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config(fake_wecom, tmp_path, "customized"), WECOM_DATABASE_URI=database.db_url,
                      WECOM_CACHE_TYPE="SimpleCache")
    wecom = WeCom(app)

    @wecom.user_loader
    def load_user(user):
        WeCom.state().store.get_corp(user.corp_id)  # stands for the app's own user table
        return {"userid": user.userid}

    @app.route("/page")
    @login_required
    def page():
        return "page"

    provision(app, fake_wecom)
    client = app.test_client()
    assert login(client, "?next=/page").status_code == 302
    database.stop()
    for path in ("/page", "/wecom/logout", "/wecom/login?next=/page"):
        assert_unavailable(client.get(path))
    assert logged_reason(caplog)


def test_a_context_processor_on_the_same_database_gets_a_plain_503(fake_wecom, tmp_path, database, caplog):
    """Like Flask-Login's current_user: the app's context processor reads the dead database whenever a page
    is rendered — the 503 page included. The answer is then the same words as plain text, still a 503."""
    app = Flask("outage_context_app", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config(fake_wecom, tmp_path, "customized"), WECOM_DATABASE_URI=database.db_url,
                      WECOM_CACHE_TYPE="SimpleCache")
    WeCom(app)

    @app.context_processor
    def corps():
        return {"corps": WeCom.state().store.list_corps()}

    provision(app, fake_wecom)
    client = app.test_client()
    database.stop()
    for path in ("/wecom/login", "/wecom/logout"):
        answer = client.get(path)
        body = answer.get_data(as_text=True)
        assert answer.status_code == 503 and answer.headers["Retry-After"].isdigit(), (path, body[:500])
        assert answer.mimetype == "text/plain" and "服务暂时不可用" in body and "try again shortly" in body
        assert "Traceback" not in body and "psycopg2" not in body
    assert logged_reason(caplog)


def test_an_unknown_corp_id_is_a_404_not_a_503(app, fake_wecom, database):
    """A visitor's corp_id we do not serve is the visitor's mistake (4xx); only a real outage is a 503."""
    client = app.test_client()
    real = fake_wecom.corp.auth_corp_id
    for corp_id in (real.swapcase(), "wwUnknownCorp"):  # corp ids are case-sensitive
        answer = client.get(f"/wecom/login?corp_id={corp_id}")
        body = answer.get_data(as_text=True)
        assert answer.status_code == 404 and 'data-reason="corp_unknown"' in body, body[:1000]
        assert "Retry-After" not in answer.headers and real not in body
    database.stop()
    assert_unavailable(client.get(f"/wecom/login?corp_id={real.swapcase()}"))  # cannot tell while it is down


def test_a_database_error_of_the_app_itself_is_left_to_the_app(fake_wecom, tmp_path):
    import sqlalchemy as sa

    app = make_app(fake_wecom, tmp_path)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    engine = sa.create_engine(UNREACHABLE)

    @app.route("/own")
    def own():
        with engine.connect():
            return "never"

    @app.errorhandler(500)
    def own_500(error):
        return "the app's own 500 page", 500

    answer = app.test_client().get("/own")
    assert answer.status_code == 500 and answer.get_data(as_text=True) == "the app's own 500 page"


def _walk(app, client, fake, label: str) -> list:
    """Every route of the wecom blueprint, every method, with and without usual parameters."""
    answers = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("wecom."):
            continue
        values = dict.fromkeys(rule.arguments, "wecom.css")
        path = rule.build(values)[1] if rule.arguments else rule.rule
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for query in ("", "?next=/corp&corp_id=" + fake.corp.auth_corp_id, "?code=abc&state=abc123"):
                for headers in ({}, {"Accept": "application/json"}):
                    response = client.open(path + query, method=method, headers=headers)
                    answers.append((f"{label} {method} {path}{query} {headers}", response))
    return answers


def test_no_route_of_the_blueprint_answers_500_with_the_store_down(app, fake_wecom, database):
    logged_in = app.test_client()
    assert login(logged_in, "?next=/corp").status_code == 302
    pending = app.test_client()
    start = start_login(pending)
    back = confirm(start.location)
    database.stop()
    answers = _walk(app, app.test_client(), fake_wecom, "anonymous")
    answers += _walk(app, logged_in, fake_wecom, "logged in")
    answers.append(("authorized with a real code", back_to_app(pending, back)))
    push = fake_wecom.push_suite_ticket(f"http://{HOST}/wecom/callback", client=app.test_client())
    assert push.success  # a template event is kept in the spool: WeCom documents no retry (doc 97172)
    assert len(answers) > 40
    for label, response in answers:
        body = response.get_data(as_text=True)
        assert response.status_code < 500 or response.status_code == 503, (label, response.status_code, body[:500])
        assert "Traceback" not in body and 'File "' not in body, label
        if response.status_code == 503 and response.mimetype == "text/html":
            assert "Retry-After" in response.headers, label


# -- the demo --------------------------------------------------------------------------------------


@pytest.fixture
def demo(monkeypatch, database):
    from demo.app import create_app

    for key in list(os.environ):
        if key.startswith("WECOM_"):
            monkeypatch.delenv(key)
    app = create_app({"TESTING": True, "WECOM_DATABASE_URI": database.db_url}, sandbox=True)
    yield app
    app.extensions["wecom_demo"].close()


def test_the_demo_with_the_store_down_answers_503_pages(demo, database, caplog):
    caplog.set_level(logging.INFO)
    client = demo.test_client()
    assert client.post("/sandbox/ticket").status_code == 302
    assert client.post("/sandbox/authorize").status_code == 302
    assert client.get("/").status_code == 200
    database.stop()
    assert_unavailable(client.get("/"))
    assert_unavailable(client.get("/status.json", headers={"Accept": "application/json"}), json=True)
    assert_unavailable(client.get("/wecom/login?next=/profile"))
    for path in ("/profile", "/api/me", "/setup", "/status.json", "/login", "/sandbox/ticket"):
        for method in ("GET", "POST"):
            response = client.open(path, method=method)
            body = response.get_data(as_text=True)
            assert response.status_code < 500 or response.status_code == 503, (method, path, body[:500])
            assert "Traceback" not in body and 'File "' not in body, (method, path)
    assert logged_reason(caplog)
    database.start()
    # the store stopped asking after two failures in a row (WECOM_DATABASE_COOLDOWN, 5 s): back within that
    deadline = time.monotonic() + dbguard.COOLDOWN + 5
    while client.get("/").status_code != 200:
        assert time.monotonic() < deadline, "the demo does not come back once the database is up"
        time.sleep(0.2)
