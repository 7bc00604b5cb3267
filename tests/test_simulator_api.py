"""FakeWeCom's server APIs over real HTTP: credentials, tokens, expiry, switches, faults.

Each test cites the official document (developer.work.weixin.qq.com/document/path/N) whose rule it checks;
docs/wecom-reference.rst explains them.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any, Dict, Tuple

import pytest
import requests
from simulator_support import TRUSTED_DOMAIN, get, post, self_built_token

from flask_wecom.testing import FakeWeCom

#: the served ``fake`` and its ``url``: fixtures of tests/conftest.py
pytestmark = pytest.mark.fake_wecom(trusted_domain=TRUSTED_DOMAIN)

ERRMSG_RE = re.compile(
    r"^(?P<text>.+), hint: \[[^\]]+\], from ip: (?P<ip>[0-9.]+), "
    r"more info at https://open\.work\.weixin\.qq\.com/devtool/query\?e=(?P<code>-?\d+)$"
)


def suite_token(fake: FakeWeCom, url: str) -> str:
    ticket = fake.issue_suite_ticket()
    data = post(url, "/cgi-bin/service/get_suite_token", {
        "suite_id": fake.suite.suite_id, "suite_secret": fake.suite.suite_secret, "suite_ticket": ticket})
    return data["suite_access_token"]


def exchange_auth_code(fake: FakeWeCom, url: str, *, v2: bool = False) -> Tuple[str, Dict[str, Any]]:
    """create_auth → get_permanent_code; returns (suite token, answer)."""
    with fake.model.lock:
        _, code = fake.model.create_authorization()
    st = suite_token(fake, url)
    path = "/cgi-bin/service/v2/get_permanent_code" if v2 else "/cgi-bin/service/get_permanent_code"
    return st, post(url, path, {"auth_code": code}, suite_access_token=st)


# -- object model -----------------------------------------------------------------------------


def test_default_fake_has_provider_template_corp_and_members() -> None:
    """Doc 97162: a 代开发 template id starts with dk; doc 96238: Token ≤32 and EncodingAESKey 43 chars a-zA-Z0-9."""
    fake = FakeWeCom()
    assert fake.suite.suite_id.startswith("dk")
    assert fake.suite.provider_corp_id == fake.provider.corp_id
    assert re.fullmatch(r"[A-Za-z0-9]{43}", fake.suite.encoding_aes_key)
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", fake.suite.token)
    corp = fake.corp
    assert corp.corp_id.startswith("ww") and corp.trusted_domain == "localhost"
    assert corp.encrypted_ids is True
    assert corp.open_corp_id != corp.open_corp_id.lower() and corp.open_corp_id != corp.open_corp_id.upper()
    names = [m.name for m in corp.members]
    assert "张三" in names and "李四" in names
    for m in corp.members:
        assert m.email and m.biz_mail and m.mobile and m.avatar and m.position and m.department
        assert m.gender in ("0", "1", "2")
        assert m.open_userid != m.userid
    assert len(corp.visible_members) >= 2 and len(corp.outside_members) >= 1
    assert corp.permanent_code is None and not corp.authorized
    assert FakeWeCom(seed=7).credentials()["suite"] == FakeWeCom(seed=7).credentials()["suite"]


def test_reprs_hide_secrets() -> None:
    """Contracts: secrets never in reprs (permanent code, suite secret, corp secret, EncodingAESKey)."""
    fake = FakeWeCom()
    auth = fake.install_app()
    text = repr(fake.suite) + repr(fake.corp) + repr(auth) + repr(fake.provider)
    for secret in (fake.suite.suite_secret, fake.suite.encoding_aes_key, fake.suite.token,
                   fake.corp.secret, auth.permanent_code, fake.provider.secret):
        assert secret not in text


# -- gettoken (docs 97164, 91039) ---------------------------------------------------------------


def test_gettoken_self_built_and_same_token_within_lifetime(fake: FakeWeCom, url: str) -> None:
    """Docs 91039 / 97164: gettoken(corpid, corpsecret) → access_token, expires_in 7200; "有效期内重复获取返回相同结果"."""
    first = get(url, "/cgi-bin/gettoken", corpid=fake.corp.corp_id, corpsecret=fake.corp.secret)
    assert first["errcode"] == 0 and first["errmsg"] == "ok" and first["expires_in"] == 7200
    fake.advance(100)
    again = get(url, "/cgi-bin/gettoken", corpid=fake.corp.corp_id.upper(), corpsecret=fake.corp.secret)
    assert again["access_token"] == first["access_token"]  # plaintext corpid: case-insensitive (doc 97104)
    assert 7090 <= again["expires_in"] <= 7100


def test_gettoken_wrong_secret_is_40001(fake: FakeWeCom, url: str) -> None:
    """Doc 90313: 40001 不合法的secret参数; errmsg in WeCom's "…, hint: […], from ip: …, more info at …" shape."""
    data = get(url, "/cgi-bin/gettoken", corpid=fake.corp.corp_id, corpsecret="not-the-secret")
    assert data["errcode"] == 40001
    m = ERRMSG_RE.match(data["errmsg"])
    assert m and m.group("code") == "40001" and m.group("ip") == "127.0.0.1"
    assert "access_token" not in data


def test_gettoken_unknown_corpid_is_40013(fake: FakeWeCom, url: str) -> None:
    """Doc 90313: 40013 不合法的CorpID."""
    assert get(url, "/cgi-bin/gettoken", corpid="ww0000000000000000", corpsecret="x")["errcode"] == 40013
    assert get(url, "/cgi-bin/gettoken", corpsecret="x")["errcode"] == 41002
    assert get(url, "/cgi-bin/gettoken", corpid=fake.corp.corp_id)["errcode"] == 41004


def test_access_token_expires_after_7200s_with_42001_and_garbage_is_40014(fake: FakeWeCom, url: str) -> None:
    """Docs 91039 / 90313: expires_in 7200 → 42001 access_token已过期; 40014 不合法的access_token; 97164 new token after expiry."""
    token = self_built_token(fake, url)
    assert get(url, "/cgi-bin/getcallbackip", access_token=token)["errcode"] == 0
    fake.advance(7199)
    assert get(url, "/cgi-bin/getcallbackip", access_token=token)["errcode"] == 0
    fake.advance(2)
    assert get(url, "/cgi-bin/getcallbackip", access_token=token)["errcode"] == 42001
    assert get(url, "/cgi-bin/getcallbackip", access_token="garbage" * 8)["errcode"] == 40014
    assert get(url, "/cgi-bin/getcallbackip")["errcode"] == 41001
    fresh = self_built_token(fake, url)
    assert fresh != token
    assert get(url, "/cgi-bin/getcallbackip", access_token=fresh)["errcode"] == 0


def test_expire_access_tokens_ends_them_now_as_their_7200_s_would(fake: FakeWeCom, url: str) -> None:
    """FakeWeCom.expire_access_tokens(): the token of a moment ago answers 42001 (not the 40014 of a token WeCom
    never issued), and gettoken issues a new one; a token fetched afterwards lives its full 7200 s."""
    token = self_built_token(fake, url)
    assert fake.expire_access_tokens() == 1
    assert get(url, "/cgi-bin/getcallbackip", access_token=token)["errcode"] == 42001
    fresh = self_built_token(fake, url)
    assert fresh != token
    fake.advance(7199)
    assert get(url, "/cgi-bin/getcallbackip", access_token=fresh)["errcode"] == 0
    assert fake.expire_access_tokens() == 1 and fake.expire_access_tokens() == 0


def test_getcallbackip_lists_the_fakes_push_source(fake: FakeWeCom, url: str) -> None:
    """Doc 98988: getcallbackip → {"ip_list": [...], "errcode": 0, "errmsg": "ok"}; the fake pushes from loopback."""
    data = get(url, "/cgi-bin/getcallbackip", access_token=self_built_token(fake, url))
    assert data == {"ip_list": ["127.0.0.1"], "errcode": 0, "errmsg": "ok"}


# -- suite token and suite_ticket (docs 90628, 97162) -------------------------------------------


def test_get_suite_token_omits_errcode_on_success(fake: FakeWeCom, url: str) -> None:
    """Doc 97162: "该接口在调用失败时才返回errcode。没返回errcode视为调用成功"."""
    ticket = fake.issue_suite_ticket()
    data = post(url, "/cgi-bin/service/get_suite_token", {
        "suite_id": fake.suite.suite_id, "suite_secret": fake.suite.suite_secret, "suite_ticket": ticket})
    assert set(data) == {"suite_access_token", "expires_in"}
    assert data["expires_in"] == 7200


@pytest.mark.parametrize(
    "change, errcode",
    [({"suite_id": "dk0000000000000000"}, 40083), ({"suite_secret": "wrong"}, 40080),
     ({"suite_ticket": "never-issued"}, 40085), ({"suite_id": ""}, 41021), ({"suite_ticket": ""}, 41023)],
)
def test_get_suite_token_rejects_bad_credentials(fake: FakeWeCom, url: str, change: Dict[str, str],
                                                 errcode: int) -> None:
    """Docs 97162 / 90313: 40080 不合法的suite_secret, 40083 不合法的suite_id, 40085 不合法的suite_ticket, 4102x missing."""
    body = {"suite_id": fake.suite.suite_id, "suite_secret": fake.suite.suite_secret,
            "suite_ticket": fake.issue_suite_ticket()}
    body.update(change)
    assert post(url, "/cgi-bin/service/get_suite_token", body)["errcode"] == errcode


def test_suite_ticket_valid_30_minutes_and_older_ones_survive_newer_pushes(fake: FakeWeCom, url: str) -> None:
    """Docs 90628 / 97162: "实际有效期为30分钟，可以容错连续两次获取suite_ticket失败的情况" — pushes every 10 min."""
    def token_with(ticket: str) -> Dict[str, Any]:
        return post(url, "/cgi-bin/service/get_suite_token", {
            "suite_id": fake.suite.suite_id, "suite_secret": fake.suite.suite_secret, "suite_ticket": ticket})

    t1 = fake.issue_suite_ticket()
    fake.advance(600)
    t2 = fake.issue_suite_ticket()
    fake.advance(600)
    t3 = fake.issue_suite_ticket()  # provider missed t2 and t3: t1 (20 min old) must still work
    assert fake.suite.ticket == t3
    for t in (t1, t2, t3):
        assert "suite_access_token" in token_with(t)
    fake.advance(601)  # t1 is now 30 min + 1 s old
    assert token_with(t1)["errcode"] == 40085
    assert "suite_access_token" in token_with(t2) and "suite_access_token" in token_with(t3)


def test_suite_token_expires_42009_and_garbage_is_40082(fake: FakeWeCom, url: str) -> None:
    """Docs 97162 / 90313: 42009 suite_access_token已过期 after expires_in; 40082 不合法的suite_token."""
    st = suite_token(fake, url)
    body = {"auth_corpid": "x", "permanent_code": "y"}
    assert post(url, "/cgi-bin/service/get_auth_info", body, suite_access_token=st)["errcode"] == 40013
    fake.advance(7201)
    assert post(url, "/cgi-bin/service/get_auth_info", body, suite_access_token=st)["errcode"] == 42009
    bad = post(url, "/cgi-bin/service/get_auth_info", body, suite_access_token="nope" * 10)
    assert bad["errcode"] == 40082
    assert bad["errmsg"].startswith("invalid suite_acccess_token or provider_access_token")
    # a corp access_token is not a suite token, and vice versa
    at = self_built_token(fake, url)
    assert post(url, "/cgi-bin/service/get_auth_info", body, suite_access_token=at)["errcode"] == 40082
    assert get(url, "/cgi-bin/getcallbackip", access_token=st)["errcode"] == 40014


# -- permanent code, auth info (docs 97163, 100776, 100795) ------------------------------------


def test_get_permanent_code_v1_for_customized_app(fake: FakeWeCom, url: str) -> None:
    """Doc 97163: 代开发 v1 returns permanent_code, auth_corp_info, auth_info (is_customized_app true),
    auth_user_info — and no access_token / expires_in; the corpid is the encrypted one (doc 97104)."""
    _, data = exchange_auth_code(fake, url)
    assert data["errcode"] == 0 and data["errmsg"] == "ok"
    assert "access_token" not in data and "expires_in" not in data
    assert data["permanent_code"] == fake.corp.permanent_code
    corpid = data["auth_corp_info"]["corpid"]
    assert corpid == fake.corp.auth_corp_id == fake.corp.open_corp_id != fake.corp.corp_id
    assert corpid.startswith("wp") and corpid != corpid.lower()
    agent = data["auth_info"]["agent"][0]
    assert agent["agentid"] == fake.corp.agent_id and agent["is_customized_app"] is True
    visible = [m.open_userid for m in fake.corp.visible_members]
    assert agent["privilege"]["allow_user"] == visible
    assert data["auth_user_info"]["userid"] == fake.corp.admin.open_userid
    assert data["auth_user_info"]["name"] == fake.corp.admin.name


def test_get_permanent_code_v2_has_no_auth_info(fake: FakeWeCom, url: str) -> None:
    """Doc 100776: v2 returns permanent_code, auth_corp_info{corpid, corp_name}, auth_user_info — no auth_info."""
    _, data = exchange_auth_code(fake, url, v2=True)
    assert data["errcode"] == 0
    assert "auth_info" not in data and "access_token" not in data
    assert set(data["auth_corp_info"]) == {"corpid", "corp_name"}
    assert data["permanent_code"] == fake.corp.permanent_code


def test_get_auth_info_v1_and_v2(fake: FakeWeCom, url: str) -> None:
    """Docs 100795 / 97163: get_auth_info (v1 and v2) {auth_corpid, permanent_code} → auth_corp_info + auth_info with
    is_customized_app true (doc 97163, note c)."""
    st, data = exchange_auth_code(fake, url, v2=True)
    body = {"auth_corpid": data["auth_corp_info"]["corpid"], "permanent_code": data["permanent_code"]}
    for path in ("/cgi-bin/service/get_auth_info", "/cgi-bin/service/v2/get_auth_info"):
        info = post(url, path, body, suite_access_token=st)
        assert info["errcode"] == 0
        assert info["auth_info"]["agent"][0]["is_customized_app"] is True
        assert info["auth_info"]["agent"][0]["agentid"] == fake.corp.agent_id
        assert info["auth_corp_info"]["corpid"] == fake.corp.auth_corp_id
    wrong = post(url, "/cgi-bin/service/get_auth_info", dict(body, permanent_code="x" * 43), suite_access_token=st)
    assert wrong["errcode"] == 40084


def test_auth_code_is_single_use_40078(fake: FakeWeCom, url: str) -> None:
    """Docs 90603 / 90313, 40078: auth_code "只能消费一次"."""
    with fake.model.lock:
        _, code = fake.model.create_authorization()
    st = suite_token(fake, url)
    first = post(url, "/cgi-bin/service/get_permanent_code", {"auth_code": code}, suite_access_token=st)
    assert first["errcode"] == 0
    again = post(url, "/cgi-bin/service/get_permanent_code", {"auth_code": code}, suite_access_token=st)
    assert again["errcode"] == 40078


def test_auth_code_expires_after_10_minutes_40078(fake: FakeWeCom, url: str) -> None:
    """Doc 90642: AuthCode "10分钟内有效"; 40078 (doc 90313); a short non-auth code → 40058 (doc 90313)."""
    with fake.model.lock:
        _, code = fake.model.create_authorization()
    fake.advance(601)
    st = suite_token(fake, url)
    assert post(url, "/cgi-bin/service/get_permanent_code", {"auth_code": code},
                suite_access_token=st)["errcode"] == 40078
    short = post(url, "/cgi-bin/service/get_permanent_code", {"auth_code": "abc"}, suite_access_token=st)
    assert short["errcode"] == 40058 and short["errmsg"].startswith("auth_code exceed min length 64")


def test_gettoken_with_permanent_code_uses_the_exact_encrypted_corpid(fake: FakeWeCom, url: str) -> None:
    """Doc 97164: 代开发 gettoken = auth_corp_info.corpid + permanent_code; doc 97104: "corpid密文则大小写敏感"."""
    _, data = exchange_auth_code(fake, url)
    corpid, secret = data["auth_corp_info"]["corpid"], data["permanent_code"]
    ok = get(url, "/cgi-bin/gettoken", corpid=corpid, corpsecret=secret)
    assert ok["errcode"] == 0 and ok["expires_in"] == 7200
    assert get(url, "/cgi-bin/gettoken", corpid=corpid.lower(), corpsecret=secret)["errcode"] == 40013
    assert get(url, "/cgi-bin/gettoken", corpid=corpid.upper(), corpsecret=secret)["errcode"] == 40013
    # UNCONFIRMED (docs/wecom-reference.rst, "Encrypted ids"): the plaintext corpid with the permanent code is refused (use the returned corpid)
    assert get(url, "/cgi-bin/gettoken", corpid=fake.corp.corp_id, corpsecret=secret)["errcode"] == 40001
    # the self-built secret belongs to the plaintext corpid only
    assert get(url, "/cgi-bin/gettoken", corpid=corpid, corpsecret=fake.corp.secret)["errcode"] == 40001


def test_plaintext_ids_for_a_pre_2022_install(url: str, fake: FakeWeCom) -> None:
    """Doc 97104: "对于历史授权的企业…暂时不变" — with encrypted_ids off, corpid / userids stay plaintext."""
    fake.corp.encrypted_ids = False
    _, data = exchange_auth_code(fake, url)
    assert data["auth_corp_info"]["corpid"] == fake.corp.corp_id
    assert data["auth_user_info"]["userid"] == fake.corp.admin.userid
    ok = get(url, "/cgi-bin/gettoken", corpid=fake.corp.corp_id.upper(), corpsecret=data["permanent_code"])
    assert ok["errcode"] == 0


def test_reset_permanent_code_retires_the_old_secret(fake: FakeWeCom, url: str) -> None:
    """Doc 97175 reset_permanent_code: a new secret via the AuthCode; old secret → 40001 (doc 90313), old token → 40014."""
    _, data = exchange_auth_code(fake, url)
    corpid, old = data["auth_corp_info"]["corpid"], data["permanent_code"]
    old_token = get(url, "/cgi-bin/gettoken", corpid=corpid, corpsecret=old)["access_token"]
    with fake.model.lock:
        _, code = fake.model.reset_permanent_code()
    st = suite_token(fake, url)
    new = post(url, "/cgi-bin/service/get_permanent_code", {"auth_code": code}, suite_access_token=st)
    assert new["errcode"] == 0 and new["permanent_code"] != old
    assert get(url, "/cgi-bin/gettoken", corpid=corpid, corpsecret=old)["errcode"] == 40001
    assert get(url, "/cgi-bin/getcallbackip", access_token=old_token)["errcode"] == 40014
    assert get(url, "/cgi-bin/gettoken", corpid=corpid, corpsecret=new["permanent_code"])["errcode"] == 0


def test_cancel_auth_invalidates_the_permanent_code(fake: FakeWeCom, url: str) -> None:
    """Doc 90642 cancel_auth; doc 90313 40084 "企业是否已取消授权该套件"; the app secret is gone (40001)."""
    st, data = exchange_auth_code(fake, url)
    corpid, secret = data["auth_corp_info"]["corpid"], data["permanent_code"]
    with fake.model.lock:
        fake.model.cancel_authorization()
    assert fake.corp.permanent_code is None
    assert get(url, "/cgi-bin/gettoken", corpid=corpid, corpsecret=secret)["errcode"] == 40001
    info = post(url, "/cgi-bin/service/get_auth_info", {"auth_corpid": corpid, "permanent_code": secret},
                suite_access_token=st)
    assert info["errcode"] == 40084


def test_get_corp_token_is_third_party_only(fake: FakeWeCom, url: str) -> None:
    """Docs 90605 / 97164: get_corp_token is for third-party apps, not for 代开发 (errcode UNCONFIRMED → 48002)."""
    st, data = exchange_auth_code(fake, url)
    body = {"auth_corpid": data["auth_corp_info"]["corpid"], "permanent_code": data["permanent_code"]}
    assert post(url, "/cgi-bin/service/get_corp_token", body, suite_access_token=st)["errcode"] == 48002


def test_third_party_permanent_code_and_corp_token() -> None:
    """Doc 90603: third-party v1 also returns access_token/expires_in; doc 90605: get_corp_token omits errcode."""
    fake = FakeWeCom(app_type="third_party")
    assert fake.suite.suite_id.startswith("ww")
    with fake.serve() as url:
        st, data = exchange_auth_code(fake, url)
        assert data["access_token"] and data["expires_in"] == 7200
        assert data["auth_info"]["agent"][0]["is_customized_app"] is False
        body = {"auth_corpid": data["auth_corp_info"]["corpid"], "permanent_code": data["permanent_code"]}
        token = post(url, "/cgi-bin/service/get_corp_token", body, suite_access_token=st)
        assert set(token) == {"access_token", "expires_in"}
        assert token["access_token"] == data["access_token"]
        assert get(url, "/cgi-bin/getcallbackip", access_token=token["access_token"])["errcode"] == 0
        # third-party permanent codes do not work with gettoken (docs 97164, 90605)
        bad = get(url, "/cgi-bin/gettoken", corpid=body["auth_corpid"], corpsecret=body["permanent_code"])
        assert bad["errcode"] == 40001
        bad = post(url, "/cgi-bin/service/get_corp_token", dict(body, permanent_code="z" * 43),
                   suite_access_token=st)
        assert bad["errcode"] == 40084


# -- per-corp switches -------------------------------------------------------------------------


def test_ip_whitelist_60020_in_wecoms_errmsg_shape(fake: FakeWeCom, url: str) -> None:
    """Doc 90313, 60020: "not allow to access from your ip, hint: [...], from ip: x.x.x.x, more info at …"."""
    token = self_built_token(fake, url)
    fake.corp.ip_whitelist = ["10.1.2.3"]
    for data in (get(url, "/cgi-bin/getcallbackip", access_token=token),
                 get(url, "/cgi-bin/gettoken", corpid=fake.corp.corp_id, corpsecret=fake.corp.secret)):
        assert data["errcode"] == 60020
        assert re.fullmatch(
            r"not allow to access from your ip, hint: \[[^\]]+\], from ip: 127\.0\.0\.1, "
            r"more info at https://open\.work\.weixin\.qq\.com/devtool/query\?e=60020",
            data["errmsg"],
        ), data["errmsg"]
    fake.corp.ip_whitelist = ["10.1.2.3", "127.0.0.0/8"]
    assert get(url, "/cgi-bin/getcallbackip", access_token=token)["errcode"] == 0


def test_provider_ip_whitelist_guards_suite_calls(fake: FakeWeCom, url: str) -> None:
    """Doc 90313 (60020): 代开发/第三方 calls need the 服务商 IP白名单; doc 97162: get_suite_token checks "合法来源IP"."""
    fake.provider.ip_whitelist = ["192.0.2.1"]
    body = {"suite_id": fake.suite.suite_id, "suite_secret": fake.suite.suite_secret,
            "suite_ticket": fake.issue_suite_ticket()}
    data = post(url, "/cgi-bin/service/get_suite_token", body)
    assert data["errcode"] == 60020 and "from ip: 127.0.0.1" in data["errmsg"]
    # self-built tokens are governed by the corp's own 企业可信IP, not the provider's list
    assert get(url, "/cgi-bin/getcallbackip", access_token=self_built_token(fake, url))["errcode"] == 0
    fake.provider.ip_whitelist.append("127.0.0.1")
    assert "suite_access_token" in post(url, "/cgi-bin/service/get_suite_token", body)


def test_disabled_app_50003_but_agent_get_reports_close(fake: FakeWeCom, url: str) -> None:
    """Doc 90313: 50003 应用已禁用 ("将无法再调用api") for calls with an earlier token, and 40001 (whose help
    names 应用已经停用) from gettoken; agent/get shows close=1 (unconfirmed that it still answers)."""
    token = self_built_token(fake, url)
    agent = get(url, "/cgi-bin/agent/get", access_token=token, agentid=fake.corp.agent_id)
    assert agent["close"] == 0 and agent["redirect_domain"] == "app.example.com"
    assert agent["agentid"] == fake.corp.agent_id
    fake.corp.app_closed = True
    refused = get(url, "/cgi-bin/gettoken", corpid=fake.corp.corp_id, corpsecret=fake.corp.secret)
    assert refused["errcode"] == 40001 and "access_token" not in refused
    fake.corp.closed_gettoken_errcode = 50003  # the other reading, which a client must handle as well
    assert get(url, "/cgi-bin/gettoken", corpid=fake.corp.corp_id, corpsecret=fake.corp.secret)["errcode"] == 50003
    uid = fake.corp.members[0].userid
    assert get(url, "/cgi-bin/user/get", access_token=token, userid=uid)["errcode"] == 50003
    assert get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code="c" * 43)["errcode"] == 50003
    assert get(url, "/cgi-bin/agent/get", access_token=token, agentid=fake.corp.agent_id)["close"] == 1
    assert get(url, "/cgi-bin/agent/get", access_token=token, agentid=999)["errcode"] == 40056


def test_user_get_visible_range_and_post_2022_fields(fake: FakeWeCom, url: str) -> None:
    """Doc 96255: only members in the visible range (60011, doc 90313); since 2022-06-20 no avatar/mobile/email; 60111."""
    token = self_built_token(fake, url)
    lisi = fake.corp.member("lisi")
    data = get(url, "/cgi-bin/user/get", access_token=token, userid="LiSi")
    assert data["errcode"] == 0 and data["userid"] == "lisi" and data["name"] == lisi.name
    assert data["position"] == lisi.position and data["department"] == lisi.department
    for hidden in ("avatar", "mobile", "email", "biz_mail", "gender", "qr_code", "address"):
        assert hidden not in data
    outsider = fake.corp.outside_members[0]
    assert get(url, "/cgi-bin/user/get", access_token=token, userid=outsider.userid)["errcode"] == 60011
    assert get(url, "/cgi-bin/user/get", access_token=token, userid="nobody")["errcode"] == 60111


def test_license_info_shows_the_trial_end(fake: FakeWeCom, url: str) -> None:
    """Doc 97194 get_app_license_info: trail_info{start_time,end_time}, 90-day trial; expiry switch (UNCONFIRMED)."""
    auth = fake.install_app()
    pt = post(url, "/cgi-bin/service/get_provider_token",
              {"corpid": fake.provider.corp_id, "provider_secret": fake.provider.secret})
    assert set(pt) == {"provider_access_token", "expires_in"}
    body = {"corpid": auth.auth_corp_id, "suite_id": fake.suite.suite_id}
    info = post(url, "/cgi-bin/license/get_app_license_info", body,
                provider_access_token=pt["provider_access_token"])
    assert info["errcode"] == 0 and info["license_status"] == 1
    trail = info["trail_info"]
    assert trail["end_time"] - trail["start_time"] == 90 * 86400
    fake.corp.trial_expired = True
    info = post(url, "/cgi-bin/license/get_app_license_info", body,
                provider_access_token=pt["provider_access_token"])
    assert info["trail_info"]["end_time"] < fake.now()


def test_wrong_method_and_bad_json(fake: FakeWeCom, url: str) -> None:
    """get_suite_token (doc 97162) is a POST API (43002 require POST); a body that is not JSON → 47001 data format error."""
    assert requests.get(url + "/cgi-bin/service/get_suite_token", timeout=10).json()["errcode"] == 43002
    r = requests.post(url + "/cgi-bin/service/get_suite_token", data=b"<xml/>", timeout=10)
    assert r.json()["errcode"] == 47001
    assert requests.get(url + "/cgi-bin/nope", timeout=10).status_code == 404


# -- faults and bookkeeping ---------------------------------------------------------------------


def test_fail_injects_errcodes_for_n_calls(fake: FakeWeCom, url: str) -> None:
    """Fault injection: fake.fail(path, errcode, times) — e.g. -1 系统繁忙 / 45009 频率拦截 (docs 90454, 90313)."""
    fake.fail("/cgi-bin/gettoken", -1, times=2)
    params = {"corpid": fake.corp.corp_id, "corpsecret": fake.corp.secret}
    first = get(url, "/cgi-bin/gettoken", **params)
    assert first["errcode"] == -1 and first["errmsg"].startswith("system busy, hint: [")
    assert get(url, "/cgi-bin/gettoken", **params)["errcode"] == -1
    assert get(url, "/cgi-bin/gettoken", **params)["errcode"] == 0
    fake.fail("cgi-bin/gettoken", 45009, errmsg="api freq out of limit")
    assert get(url, "/cgi-bin/gettoken", **params)["errmsg"].startswith("api freq out of limit, hint:")
    assert [c.fault for c in fake.calls_to("/cgi-bin/gettoken")] == ["fail", "fail", None, "fail"]


def test_fail_does_not_consume_state(fake: FakeWeCom, url: str) -> None:
    """An injected error answers instead of WeCom: the auth_code (single use, doc 90603) is not consumed."""
    with fake.model.lock:
        _, code = fake.model.create_authorization()
    st = suite_token(fake, url)
    fake.fail("/cgi-bin/service/get_permanent_code", -1)
    path = "/cgi-bin/service/get_permanent_code"
    assert post(url, path, {"auth_code": code}, suite_access_token=st)["errcode"] == -1
    assert post(url, path, {"auth_code": code}, suite_access_token=st)["errcode"] == 0


def test_http_error_and_latency(fake: FakeWeCom, url: str) -> None:
    """Fault injection: HTTP 5xx pages and slow answers (a client must time out and retry; docs/wecom-reference.rst, "Retries and rate limits")."""
    fake.http_error("/cgi-bin/getcallbackip", status=503, times=1)
    r = requests.get(url + "/cgi-bin/getcallbackip", timeout=10)
    assert r.status_code == 503 and "text/html" in r.headers["Content-Type"]
    fake.slow("/cgi-bin/getcallbackip", 0.6)
    with pytest.raises(requests.Timeout):
        requests.get(url + "/cgi-bin/getcallbackip", timeout=0.2)
    fake.slow("/cgi-bin/getcallbackip", 0.3)
    start = time.monotonic()
    assert requests.get(url + "/cgi-bin/getcallbackip", timeout=10).json()["errcode"] == 41001
    assert time.monotonic() - start >= 0.3


def test_drop_closes_the_connection_without_a_response(fake: FakeWeCom, url: str) -> None:
    """Fault injection: a dropped connection (the socket is closed, no HTTP response at all)."""
    fake.drop("/cgi-bin/gettoken", times=2)
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/cgi-bin/gettoken", params={"corpid": "x", "corpsecret": "y"}, timeout=5)
    assert get(url, "/cgi-bin/gettoken", corpid="x", corpsecret="y")["errcode"] == 40013
    assert [c.fault for c in fake.calls_to("/cgi-bin/gettoken")] == ["drop", "drop", None]


def test_calls_are_recorded_with_secrets_masked(fake: FakeWeCom, url: str) -> None:
    """Contracts: secrets never in logs — fake.calls masks corpsecret, suite_secret, tokens, codes."""
    self_built_token(fake, url)
    st = suite_token(fake, url)
    post(url, "/cgi-bin/service/get_permanent_code", {"auth_code": "a" * 80}, suite_access_token=st)
    text = repr(fake.calls)
    for secret in (fake.corp.secret, fake.suite.suite_secret, st, fake.suite.ticket, "a" * 80):
        assert secret not in text
    gt = fake.calls_to("/cgi-bin/gettoken")[0]
    assert gt.method == "GET" and gt.params["corpid"] == fake.corp.corp_id and gt.ip == "127.0.0.1"
    assert gt.status == 200 and gt.errcode == 0
    suite_call = fake.calls_to("/cgi-bin/service/get_suite_token")[0]
    assert suite_call.json["suite_id"] == fake.suite.suite_id
    assert suite_call.json["suite_secret"] != fake.suite.suite_secret
    assert fake.calls_to("/cgi-bin/service/get_permanent_code")[0].errcode == 40078


def test_request_log_masks_secrets(fake: FakeWeCom, url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Contracts: secrets never in logs — the fake's own request log masks corpsecret / access_token / code."""
    caplog.set_level(logging.INFO, logger="flask_wecom.testing")
    token = self_built_token(fake, url)
    get(url, "/cgi-bin/user/get", access_token=token, userid="zhangsan")
    get(url, "/cgi-bin/auth/getuserinfo", access_token=token, code="c" * 40)
    lines = [r.getMessage() for r in caplog.records if r.name == "flask_wecom.testing"]
    assert any("/cgi-bin/gettoken?" in line and "corpsecret=" in line for line in lines), lines
    for secret in (fake.corp.secret, token, "c" * 40):
        assert not any(secret in line for line in lines)


def test_concurrent_requests_share_one_token(fake: FakeWeCom, url: str) -> None:
    """Thread safety: 16 concurrent gettoken calls all get the same token (doc 97164 "重复获取返回相同结果")."""
    tokens = []
    errors = []

    def worker() -> None:
        try:
            tokens.append(self_built_token(fake, url))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(tokens) == 16 and len(set(tokens)) == 1


def test_in_process_wsgi_app() -> None:
    """fake.app is a plain WSGI app (mountable in-process, e.g. with werkzeug's test Client)."""
    from werkzeug.test import Client

    fake = FakeWeCom()
    client = Client(fake.app)
    resp = client.get("/cgi-bin/gettoken", query_string={"corpid": fake.corp.corp_id,
                                                          "corpsecret": fake.corp.secret})
    assert resp.json["errcode"] == 0
    from flask_wecom.testing import DroppedConnection

    fake.drop("/cgi-bin/gettoken")
    with pytest.raises(DroppedConnection):
        client.get("/cgi-bin/gettoken")


def test_agent_get_reports_the_customized_publish_status(fake: FakeWeCom, url: str) -> None:
    """agent/get customized_publish_status (official agent/get text as quoted by SDKs): 0 待开发, 1 开发中,
    2 已上线, 3 存在未上线版本 — only for 代开发 tokens; self-built tokens never see the field."""
    fake.install_app()
    corp = fake.corp
    token = get(url, "/cgi-bin/gettoken", corpid=corp.auth_corp_id, corpsecret=corp.permanent_code)["access_token"]
    assert get(url, "/cgi-bin/agent/get", access_token=token, agentid=corp.agent_id)["customized_publish_status"] == 2
    corp.publish_status = 1
    assert get(url, "/cgi-bin/agent/get", access_token=token, agentid=corp.agent_id)["customized_publish_status"] == 1
    own = get(url, "/cgi-bin/agent/get", access_token=self_built_token(fake, url), agentid=corp.agent_id)
    assert "customized_publish_status" not in own


def test_flask_config_points_an_app_at_the_fake(fake: FakeWeCom, url: str) -> None:
    """fake.flask_config(): the WECOM_* settings for each app type; internal has no suite and no callback."""
    suite = fake.flask_config()
    assert suite["WECOM_API_BASE"] == url and suite["WECOM_SUITE_ID"] == fake.suite.suite_id
    assert suite["WECOM_APP_TYPE"] == "customized" and suite["WECOM_PROVIDER_CORP_ID"] == fake.suite.provider_corp_id
    assert suite["WECOM_OAUTH_AUTHORIZE_URL"] == fake.oauth_authorize_endpoint
    internal = fake.flask_config("internal")
    assert internal["WECOM_CORP_ID"] == fake.corp.corp_id and internal["WECOM_SECRET"] == fake.corp.secret
    assert "WECOM_SUITE_ID" not in internal and "WECOM_TOKEN" not in internal
    token = get(url, "/cgi-bin/gettoken", corpid=internal["WECOM_CORP_ID"], corpsecret=internal["WECOM_SECRET"])
    assert token["errcode"] == 0
    with pytest.raises(ValueError, match="third_party"):
        fake.flask_config("third_party")
    with pytest.raises(RuntimeError, match="serve the fake first"):
        FakeWeCom().flask_config()
