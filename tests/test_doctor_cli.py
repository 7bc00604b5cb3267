"""`flask wecom doctor` and the setup page's partial: the same results as run_doctor, no secret printed."""
from __future__ import annotations

import html
import json
import re

import pytest
from doctor_support import HOST, assert_no_secret, make_app
from flask import render_template_string

from flask_wecom.doctor_flask import doctor_context, render_doctor_table, run_doctor

#: the simulator of the ``fake`` fixture (tests/conftest.py)
pytestmark = pytest.mark.fake_wecom(trusted_domain=HOST)


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=["wecom", "doctor", *args])


def key(results):
    """What must agree between surfaces (findings and fixes included)."""
    return [(r["id"], r["status"], r["corp_id"], r["title"], r["finding"], r["fix"], r["details"])
            for r in results]


def test_json_matches_run_doctor_and_exits_zero_when_all_pass(fake, tmp_path):
    app = make_app(fake, tmp_path)
    result = invoke(app, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["passed"] is True and data["summary"]["fail"] == 0
    assert data["app_type"] == "customized" and data["public_url"] == "https://app.example.com"
    direct = [r.to_dict() for r in run_doctor(app)]
    assert key(data["results"]) == key(direct)
    assert {r["symbol"] for r in data["results"]} == {"✓"}
    assert_no_secret(result.output, fake)


def test_failure_exits_non_zero_and_the_table_shows_it(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.corp.trusted_domain = "wrong-domain.example.com"
    fake.provider.ip_whitelist = None
    table = invoke(app)
    assert table.exit_code == 1, table.output
    assert "✗ [5] 可信域名 / Trusted domain" in table.output
    assert f"把可信域名改为 {HOST}" in table.output
    assert "redirect_uri需使用应用可信域名" in table.output
    assert "✓ [1] 配置 / Configuration" in table.output
    assert re.search(r"\d+ ✓ ok, \d+ ! warnings, 1 ✗ failed", table.output)
    as_json = invoke(app, "--json")
    assert as_json.exit_code == 1
    data = json.loads(as_json.output)
    assert data["passed"] is False
    failed = [r for r in data["results"] if r["status"] == "fail"]
    assert [r["id"] for r in failed] == ["trusted_domain"]
    assert_no_secret(table.output + as_json.output, fake)


def test_warnings_show_an_exclamation_mark_and_do_not_fail(fake, tmp_path):
    app = make_app(fake, tmp_path, WECOM_PUBLIC_URL="http://app.example.com")
    result = invoke(app)
    assert result.exit_code == 0, result.output
    assert "! [2] 回调自测" in result.output


def test_public_url_option(fake, tmp_path):
    app = make_app(fake, tmp_path, WECOM_PUBLIC_URL=None)
    without = json.loads(invoke(app, "--json").output)
    assert without["public_url"] is None
    assert [r["status"] for r in without["results"] if r["id"] == "trusted_domain"] == ["warn"]
    result = invoke(app, "--json", "--public-url", "https://app.example.com:8443")
    data = json.loads(result.output)
    assert result.exit_code == 1 and data["public_url_source"] == "--public-url"
    domain = [r for r in data["results"] if r["id"] == "trusted_domain"][0]
    # a port can never be in a 可信域名 (80001): the fix names the domain alone, served on 443
    assert domain["status"] == "fail" and "app.example.com:8443" in domain["finding"]
    assert "app.example.com:8443" not in domain["fix"] and "WECOM_PUBLIC_URL=https://app.example.com" in domain["fix"]
    # the web-login callback domain may carry the port: that row says to enter it as it is
    web = [r for r in data["results"] if r["id"] == "web_login_domain"][0]
    assert web["status"] == "ok" and "enter app.example.com:8443 in" in web["fix"]


def test_no_secret_printed_in_any_failure(fake, tmp_path):
    app = make_app(fake, tmp_path)
    with fake.model.lock:
        fake.model.reset_permanent_code()  # 40001 with the old permanent code
    fake.provider.ip_whitelist = ["203.0.113.10"]  # 60020 on the suite token
    state_secret_key = app.config["SECRET_KEY"]
    for args in ((), ("--json",)):
        result = invoke(app, *args)
        assert result.exit_code == 1
        assert_no_secret(result.output, fake, [state_secret_key])


def test_partial_renders_the_same_results_without_secrets(fake, tmp_path):
    app = make_app(fake, tmp_path)
    fake.corp.trusted_domain = "wrong-domain.example.com"
    with app.test_request_context("/setup"):
        page = render_template_string(
            '<h1>setup</h1>{% include "wecom/_doctor_table.html" %}', **doctor_context(app))
    assert '<table class="wecom-doctor">' in page
    rendered = re.findall(r'data-check="([^"]+)" data-status="([^"]+)"', page)
    cli = json.loads(invoke(app, "--json").output)
    assert rendered == [(r["id"], r["status"]) for r in cli["results"]]
    text = html.unescape(page)
    assert "✗" in text and "✓" in text
    assert f"把可信域名改为 {HOST}" in text and "https://app.example.com/wecom/callback" in text
    assert 'data-passed="false"' in page
    assert_no_secret(page, fake)


def test_partial_alone_and_with_dicts(fake, tmp_path):
    app = make_app(fake, tmp_path)
    with app.app_context():
        results = run_doctor(app)
        alone = render_doctor_table(results)
        assert alone.count('data-status="ok"') == len(results) and 'data-passed="true"' in alone
        as_dicts = render_template_string('{% include "wecom/_doctor_table.html" %}',
                                          doctor_results=[r.to_dict() for r in results])
        assert as_dicts.count('data-status="ok"') == len(results)
        assert 'class="wecom-doctor-summary"' not in as_dicts  # no doctor_summary given
        empty = render_template_string('{% include "wecom/_doctor_table.html" %}', doctor_results=[])
        assert "no results" in empty
    assert_no_secret(alone + as_dicts, fake)


def test_json_has_the_permissions_row_and_a_trial_over_warning_does_not_fail(fake, tmp_path):
    """Issue 9: `permissions` (agent/get_permissions, doc 99052) is in --json; an ended licence trial is a
    warning about unlicensed members (doc 97194), so the exit code stays 0."""
    app = make_app(fake, tmp_path)
    fake.revoke_permissions()
    fake.end_trial()
    result = invoke(app, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    by_id = {r["id"]: r for r in data["results"]}
    perm = by_id["permissions"]
    assert perm["status"] == "warn" and perm["step"] == 8
    assert "contact:sensitive:user_name" in perm["finding"] and "contact:sensitive:email" in perm["finding"]
    assert by_id["authorization"]["status"] == "warn" and "701016" in by_id["authorization"]["finding"]
    assert data["passed"] is True and data["summary"]["fail"] == 0
    table = invoke(app)
    assert "! [8] 成员字段权限 / Member field permissions" in table.output
    assert_no_secret(result.output + table.output, fake)
