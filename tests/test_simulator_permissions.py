"""FakeWeCom over real HTTP: what a 代开发 app may read about a member (98980, 99052, 96443, 96255) and
interface licences (接口许可, 97194) — the simulator refuses and withholds as WeCom does."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from simulator_support import TRUSTED_DOMAIN, get, post, self_built_token

from flask_wecom.testing import DEFAULT_PERMISSIONS, FakeWeCom

REDIRECT = "https://app.example.com/wecom/callback"
DAY = 86400


#: the served ``fake`` and its ``url``: fixtures of tests/conftest.py
pytestmark = pytest.mark.fake_wecom(trusted_domain=TRUSTED_DOMAIN)


def customized_token(fake: FakeWeCom, url: str) -> str:
    auth = fake.install_app()
    return get(url, "/cgi-bin/gettoken", corpid=auth.auth_corp_id, corpsecret=auth.permanent_code)["access_token"]


def login_code(fake: FakeWeCom, userid: str = "zhangsan", scope: str = "snsapi_privateinfo") -> str:
    location = fake.authorize_url_to_redirect(fake.authorize_url(REDIRECT, scope=scope), userid)
    return parse_qs(urlsplit(location).query)["code"][0]


def detail(fake: FakeWeCom, url: str, token: str, userid: str = "zhangsan") -> dict:
    info = get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=login_code(fake, userid))
    assert info["errcode"] == 0, info
    return post(url, "/cgi-bin/auth/getuserdetail", {"user_ticket": info["user_ticket"]}, access_token=token)


# -- permissions -------------------------------------------------------------------------------


def test_get_permissions_lists_the_grants_and_follows_the_switch(fake: FakeWeCom, url: str) -> None:
    """99052: POST agent/get_permissions → app_permissions; the default corp grants name and email."""
    token = customized_token(fake, url)
    data = post(url, "/cgi-bin/agent/get_permissions", {}, access_token=token)
    assert data["errcode"] == 0 and set(data["app_permissions"]) == set(DEFAULT_PERMISSIONS)
    assert {"contact:sensitive:user_name", "contact:sensitive:email"} <= set(data["app_permissions"])
    fake.revoke_permissions()
    after = post(url, "/cgi-bin/agent/get_permissions", {}, access_token=token)["app_permissions"]
    assert "contact:sensitive:user_name" not in after and "contact:sensitive:email" not in after
    assert "contact:sensitive:avatar" in after
    # a POST API: GET is refused as WeCom refuses it
    assert get(url, "/cgi-bin/agent/get_permissions", access_token=token)["errcode"] == 43002


def test_get_permissions_is_not_for_self_built_apps(fake: FakeWeCom, url: str) -> None:
    """99052: "支持所有的代开发应用和第三方应用调用" — a self-built token is refused (48002, our choice)."""
    data = post(url, "/cgi-bin/agent/get_permissions", {}, access_token=self_built_token(fake, url))
    assert data["errcode"] == 48002


def test_user_get_withholds_the_name_without_the_permission(fake: FakeWeCom, url: str) -> None:
    """98980: basic permission = userid + department ids; the name needs contact:sensitive:user_name."""
    token = customized_token(fake, url)
    member = fake.corp.members[0]
    granted = get(url, "/cgi-bin/user/get", access_token=token, userid=member.open_userid)
    assert granted["name"] == member.name and granted["position"] == member.position
    fake.revoke_permissions()
    withheld = get(url, "/cgi-bin/user/get", access_token=token, userid=member.open_userid)
    assert withheld["errcode"] == 0 and withheld["userid"] == member.open_userid
    assert withheld["department"] == member.department
    assert "name" not in withheld and "alias" not in withheld and "english_name" not in withheld
    assert withheld["position"] == member.position  # its own permission, still granted
    fake.revoke_permissions("contact:sensitive:position")
    assert "position" not in get(url, "/cgi-bin/user/get", access_token=token, userid=member.open_userid)
    # a self-built app is not limited this way
    own = get(url, "/cgi-bin/user/get", access_token=self_built_token(fake, url), userid=member.userid)
    assert own["name"] == member.name


def test_getuserdetail_returns_only_granted_fields_with_consent(fake: FakeWeCom, url: str) -> None:
    """96443: a sensitive field comes back only if the admin granted it and the member consented
    (snsapi_privateinfo → user_ticket); snsapi_base gives no ticket at all."""
    token = customized_token(fake, url)
    member = fake.corp.members[0]
    full = detail(fake, url, token)
    assert full["email"] == member.email and full["mobile"] == member.mobile
    fake.revoke_permissions()
    less = detail(fake, url, token)
    assert less["errcode"] == 0 and "email" not in less
    assert less["mobile"] == member.mobile and less["avatar"] == member.avatar
    base = get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=login_code(fake, scope="snsapi_base"))
    assert base["errcode"] == 0 and "user_ticket" not in base
    fake.grant_permissions()
    assert detail(fake, url, token)["email"] == member.email


# -- licences ------------------------------------------------------------------------------------


def test_after_the_trial_only_unlicensed_members_are_refused(fake: FakeWeCom, url: str) -> None:
    """97194: trial = 90 days from the install; then members without an active licence get 701016
    (90313 账号未激活或者已经过期) from the identity APIs, licensed ones keep working."""
    token = customized_token(fake, url)
    assert not fake.corp.member("zhangsan").licensed and fake.corp.member("lisi").licensed
    assert detail(fake, url, token, "zhangsan")["errcode"] == 0
    fake.advance(89 * DAY)
    token = get(url, "/cgi-bin/gettoken", corpid=fake.corp.auth_corp_id,
                corpsecret=fake.corp.permanent_code)["access_token"]
    assert detail(fake, url, token, "zhangsan")["errcode"] == 0  # day 89: still in the trial
    fake.advance(2 * DAY)  # day 91: the trial is over
    token = get(url, "/cgi-bin/gettoken", corpid=fake.corp.auth_corp_id,
                corpsecret=fake.corp.permanent_code)["access_token"]
    refused = get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=login_code(fake, "zhangsan"))
    assert refused["errcode"] == 701016
    assert detail(fake, url, token, "lisi")["errcode"] == 0
    fake.license_member("zhangsan")
    assert detail(fake, url, token, "zhangsan")["errcode"] == 0


def test_after_the_trial_the_checks_start_at_license_check_time(fake: FakeWeCom, url: str) -> None:
    """97194: the trial ending does not block anyone by itself; members without a licence are refused only
    once the checks have started (license_check_time), and get_app_license_info reports both dates."""
    token = customized_token(fake, url)
    fake.corp.license_check_time = fake.now() + 100 * DAY  # checks start ten days after the trial ends
    fake.advance(91 * DAY)
    token = get(url, "/cgi-bin/gettoken", corpid=fake.corp.auth_corp_id,
                corpsecret=fake.corp.permanent_code)["access_token"]
    pt = post(url, "/cgi-bin/service/get_provider_token",
              {"corpid": fake.provider.corp_id, "provider_secret": fake.provider.secret})["provider_access_token"]
    info = post(url, "/cgi-bin/license/get_app_license_info",
                {"corpid": fake.corp.auth_corp_id, "suite_id": fake.suite.suite_id}, provider_access_token=pt)
    assert info["trail_info"]["end_time"] < fake.now() < info["license_check_time"]
    assert detail(fake, url, token, "zhangsan")["errcode"] == 0  # trial over, checks not started: served
    fake.advance(10 * DAY)
    token = get(url, "/cgi-bin/gettoken", corpid=fake.corp.auth_corp_id,
                corpsecret=fake.corp.permanent_code)["access_token"]
    refused = get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=login_code(fake, "zhangsan"))
    assert refused["errcode"] == 701016 and "user_ticket" not in refused
    assert detail(fake, url, token, "lisi")["errcode"] == 0  # licensed: still served


def test_the_trial_switch_and_the_licence_info_agree(fake: FakeWeCom, url: str) -> None:
    """get_app_license_info reports the trial end and license_check_time; the switch ends the trial now."""
    token = customized_token(fake, url)
    pt = post(url, "/cgi-bin/service/get_provider_token",
              {"corpid": fake.provider.corp_id, "provider_secret": fake.provider.secret})["provider_access_token"]
    body = {"corpid": fake.corp.auth_corp_id, "suite_id": fake.suite.suite_id}
    info = post(url, "/cgi-bin/license/get_app_license_info", body, provider_access_token=pt)
    assert info["trail_info"]["end_time"] - info["trail_info"]["start_time"] == 90 * DAY
    assert info["license_check_time"] == info["trail_info"]["start_time"]
    code = login_code(fake, "zhangsan")
    fake.end_trial()
    info = post(url, "/cgi-bin/license/get_app_license_info", body, provider_access_token=pt)
    assert info["trail_info"]["end_time"] < fake.now()
    assert get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=code)["errcode"] == 701016
    # the refused code was not used up: a licence later, the same code works (WeCom's refusal is per member)
    fake.license_member("zhangsan")
    assert get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=code)["userid"] == \
        fake.corp.member("zhangsan").open_userid
    fake.license_member("zhangsan", False)
    fake.end_trial(ended=False)
    assert detail(fake, url, token, "zhangsan")["errcode"] == 0


def test_self_built_access_has_no_licence_check(fake: FakeWeCom, url: str) -> None:
    """Licences belong to 代开发 / third-party apps (97194); the same corp's self-built access is not refused."""
    fake.install_app()
    fake.end_trial()
    token = self_built_token(fake, url)
    data = get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code=login_code(fake, "zhangsan"))
    assert data["errcode"] == 0 and data["userid"] == "zhangsan"
