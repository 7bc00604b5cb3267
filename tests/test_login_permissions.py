"""What a 代开发 app may read about a member (docs 98980, 99052, 96443) and interface licences (97194):
login round trips against FakeWeCom over real HTTP, with WeCom withholding fields and refusing
unlicensed members as it does."""
from __future__ import annotations

import html

from flask import Flask, jsonify
from login_support import BROWSER_UA, WXWORK_UA, back_to_app, confirm, login, provision, start_login
from provider_app import app_config

from flask_wecom import WeCom, login_required, wecom_user
from flask_wecom.permissions import FIX_EN, FIX_ZH, explain


def customized_app(fake, tmp_path, mode: str = "customized") -> Flask:
    """An app in ``mode``, provisioned through its callback view (代开发), with a JSON view of wecom_user."""
    app = Flask("permissions_test_app", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config(fake, tmp_path, mode))
    WeCom(app)

    @app.route("/profile")
    @login_required
    def profile():
        return f"<h1>{html.escape(wecom_user.display_name)}</h1><p>{html.escape(wecom_user.email or '-')}</p>"

    @app.route("/me")
    def me():
        user = wecom_user
        return jsonify(userid=user.userid, name=user.name, email=user.email, mobile=user.mobile,
                       withheld=list(user.withheld), display_name=user.display_name)

    if mode != "internal":
        provision(app, fake)
    return app


def _me(client) -> dict:
    return client.get("/me").get_json()


# -- permissions ---------------------------------------------------------------------------------


def test_default_corp_grants_name_and_email(fake_wecom, tmp_path):
    app = customized_app(fake_wecom, tmp_path)
    client = app.test_client()
    assert login(client, ua=WXWORK_UA).location == "/profile"
    me = _me(client)
    member = fake_wecom.corp.members[0]
    assert me["name"] == member.name and me["email"] == member.email and me["withheld"] == []
    # nothing was missing, so the login did not need to ask for the app's permissions
    assert fake_wecom.calls_to("/cgi-bin/agent/get_permissions") == []


def test_name_and_email_withheld_the_member_still_logs_in(fake_wecom, tmp_path):
    """Without contact:sensitive:user_name / :email WeCom leaves both out; the login goes on, the name falls
    back to the userid, and wecom_user.withheld says which fields WeCom kept back."""
    fake_wecom.revoke_permissions()
    app = customized_app(fake_wecom, tmp_path)
    client = app.test_client()
    assert login(client, ua=WXWORK_UA).location == "/profile"
    me = _me(client)
    member = fake_wecom.corp.members[0]
    assert me["userid"] == member.open_userid  # the encrypted id a 代开发 app sees
    assert me["name"] == member.open_userid and me["display_name"] == member.open_userid
    assert me["email"] == "" and me["withheld"] == ["name", "email"]
    assert me["mobile"] == member.mobile  # still granted
    assert len(fake_wecom.calls_to("/cgi-bin/agent/get_permissions")) == 1
    # the page of the test app renders without a name or email error
    profile = client.get("/profile").get_data(as_text=True)
    assert html.escape(member.open_userid) in profile and member.email not in profile
    # the session round trip keeps withheld and the fallback
    again = _me(client)
    assert again == me

    # the admin grants the permissions: the next login has both
    fake_wecom.grant_permissions()
    client2 = app.test_client()
    login(client2, ua=WXWORK_UA)
    assert _me(client2)["name"] == member.name and _me(client2)["withheld"] == []


def test_explain_names_the_permissions_and_the_fix():
    words = explain(("email", "name"))
    assert words.fields == ("name", "email") and words.labels_zh == "姓名、邮箱"
    assert words.permissions == ("contact:sensitive:user_name", "contact:sensitive:email")
    assert "申请自定义权限" in FIX_ZH and "权限管理" in FIX_ZH and "申请自定义权限" in FIX_EN
    assert not explain(())


def test_web_login_without_consent_is_not_withheld(fake_wecom, tmp_path):
    """Web/QR login returns no user_ticket: the email is missing, but the app holds the permission —
    not something an admin can grant, so it is not reported as withheld."""
    app = customized_app(fake_wecom, tmp_path)
    client = app.test_client()
    assert login(client, ua=BROWSER_UA).location == "/profile"
    me = _me(client)
    assert me["name"] == fake_wecom.corp.members[0].name and me["email"] == "" and me["withheld"] == []
    fake_wecom.revoke_permissions()
    client2 = app.test_client()
    login(client2, ua=BROWSER_UA)
    assert _me(client2)["withheld"] == ["name", "email"]


def test_permissions_unreadable_the_login_goes_on(fake_wecom, tmp_path):
    fake_wecom.revoke_permissions()
    app = customized_app(fake_wecom, tmp_path)
    fake_wecom.fail("/cgi-bin/agent/get_permissions", 48002)
    client = app.test_client()
    assert login(client, ua=WXWORK_UA).location == "/profile"
    me = _me(client)
    # a missing name is always a withheld one; the email cannot be told apart from "not set"
    assert me["withheld"] == ["name"] and me["email"] == ""


def test_self_built_app_is_not_limited(fake_wecom, tmp_path):
    fake_wecom.revoke_permissions()
    app = customized_app(fake_wecom, tmp_path, "internal")
    client = app.test_client()
    login(client, ua=WXWORK_UA)
    me = _me(client)
    assert me["name"] == "张三" and me["withheld"] == []
    assert fake_wecom.calls_to("/cgi-bin/agent/get_permissions") == []


# -- licences ------------------------------------------------------------------------------------


def test_after_the_trial_unlicensed_members_get_a_clear_page(fake_wecom, tmp_path):
    """97194: once the trial is over only members without a licence are refused (701016); our page says
    so and what to do, and a licensed member keeps logging in."""
    app = customized_app(fake_wecom, tmp_path)
    fake_wecom.end_trial()
    client = app.test_client()
    response = back_to_app(client, confirm(start_login(client, ua=WXWORK_UA).location, "zhangsan"))
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and 'data-reason="no_licence"' in page
    assert '<span class="errcode">701016</span>' in page
    assert "接口许可" in page and "licence" in page and "97194" in page and "Traceback" not in page
    assert 'id="wecom-retry"' in page

    licensed = app.test_client()
    assert login(licensed, ua=WXWORK_UA, userid="lisi").location == "/profile"
    assert _me(licensed)["name"] == "李四"

    fake_wecom.license_member("zhangsan")
    again = app.test_client()
    assert login(again, ua=WXWORK_UA, userid="zhangsan").location == "/profile"


def test_trial_running_everyone_logs_in(fake_wecom, tmp_path):
    app = customized_app(fake_wecom, tmp_path)
    client = app.test_client()
    assert not fake_wecom.corp.member("zhangsan").licensed
    assert login(client, ua=WXWORK_UA, userid="zhangsan").location == "/profile"


def test_withheld_fields_read_empty_and_survive_the_session_record():
    """Withheld fields read as "" (the name: the userid); the session record keeps ``withheld`` small."""
    from flask_wecom.user import AnonymousUser, WeComUser

    user = WeComUser(userid="woAbc", corp_id="wpX", withheld=("name", "email", "not-a-field"))
    assert user.withheld == ("name", "email") and user.name == "woAbc" and user.email == ""
    assert user.mobile == "" and "mobile" not in user.withheld  # not withheld: simply not given, "" too
    record = user.to_session()
    assert record == {"userid": "woAbc", "corp_id": "wpX", "kind": "member", "withheld": ["name", "email"]}
    assert WeComUser.from_session(record) == user
    assert WeComUser(userid="u", corp_id="c", name="张三").withheld == ()
    assert AnonymousUser().withheld == ()
