"""WeComClient against a real local HTTP server that answers like WeCom."""
from __future__ import annotations

import logging
import time

import pytest
from cachelib import SimpleCache
from client_stub import Reply, closed_port_url

from flask_wecom.client import EXCHANGE_READ_TIMEOUT, WeComClient
from flask_wecom.errors import ConfigError, TransportError, WeComAPIError, WeComError
from flask_wecom.redact import mask, redact, redact_query, redact_text
from flask_wecom.tokens import CorpTokenSource, SuiteTokenSource, TokenManager

CORP_ID = "wwcorp0123456789ab"
SECRET = "SeCrEt-corp-0123456789abcdefghijklmnop"  # the corp secret / permanent code
SUITE_ID = "dk0123456789abcdef"
SUITE_SECRET = "SuItE-secret-9876543210zyxwvutsrqp"
TICKET = "TiCkEt-0123456789-abcdefghijklmnopqrstuv"
TOKEN1 = "AcCeSs-token-one-0123456789abcdefghijkl"
TOKEN2 = "AcCeSs-token-two-0123456789abcdefghijkl"
SUITE_TOKEN1 = "SuItE-token-one-0123456789abcdefghij"
SUITE_TOKEN2 = "SuItE-token-two-0123456789abcdefghij"
AUTH_CODE = "AuThCoDe-" + "x" * 60
OAUTH_CODE = "OaUtH-code-0123456789abcdef"
ALL_SECRETS = [SECRET, SUITE_SECRET, TICKET, TOKEN1, TOKEN2, SUITE_TOKEN1, SUITE_TOKEN2, AUTH_CODE, OAUTH_CODE]

GETTOKEN = "/cgi-bin/gettoken"
SUITE_TOKEN = "/cgi-bin/service/get_suite_token"
USER_GET = "/cgi-bin/user/get"


def token_answer(token, expires_in=7200):
    return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": expires_in}


def assert_no_secrets(*texts):
    for text in texts:
        for secret in ALL_SECRETS:
            assert secret not in text, f"secret {mask(secret)} leaked into: {text[:200]!r}"


def log_text(caplog):
    return "\n".join(
        [caplog.text] + [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    )


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(stub, sleeps):
    c = WeComClient(stub.url, timeout=(2.0, 2.0), retries=2, backoff_factor=0, busy_retries=3,
                    busy_backoff=0.5, sleep=sleeps.append)
    yield c
    c.close()


@pytest.fixture
def manager():
    return TokenManager(SimpleCache(), background=False)


@pytest.fixture
def corp_token(client, manager):
    return CorpTokenSource(client, manager, CORP_ID, SECRET, agent_id=1000002)


# -- redact helpers --------------------------------------------------------------------------


def test_mask_never_reveals_more_than_three_characters():
    assert mask(None) == "-"
    assert mask("") == "(empty)"
    assert mask("short") == "…(5 chars)"
    assert mask(SECRET) == f"{SECRET[:3]}…({len(SECRET)} chars)"
    assert SECRET[3:6] not in mask(SECRET)


def test_redact_masks_secret_keys_recursively_and_copies():
    data = {"corpid": CORP_ID, "corpsecret": SECRET, "nested": {"Access_Token": TOKEN1, "n": 1},
            "items": [{"permanent_code": SECRET}, "plain"]}
    out = redact(data)
    assert out["corpid"] == CORP_ID and out["nested"]["n"] == 1 and out["items"][1] == "plain"
    assert_no_secrets(repr(out))
    assert data["corpsecret"] == SECRET  # input untouched
    assert redact(None) == {}


def test_redact_text_and_query():
    assert redact_text(f"bad secret {SECRET}!", [SECRET, None, ""]) == f"bad secret {mask(SECRET)}!"
    text = f"GET /cgi-bin/gettoken?corpid={CORP_ID}&corpsecret={SECRET} HTTP/1.1; errcode=40001"
    cleaned = redact_query(text)
    assert SECRET not in cleaned and CORP_ID in cleaned and "errcode=40001" in cleaned


def test_redact_masks_every_item_of_a_list_under_a_secret_key():
    out = redact({"code": [OAUTH_CODE, TICKET], "auth_code": (AUTH_CODE,), "userid": ["zhangsan"]})
    assert out == {"code": [mask(OAUTH_CODE), mask(TICKET)], "auth_code": [mask(AUTH_CODE)], "userid": ["zhangsan"]}


def test_redact_query_is_idempotent():
    text = f"url: /cgi-bin/gettoken?corpid={CORP_ID}&corpsecret={SECRET} (Caused by X)"
    once = redact_query(redact_text(text, [SECRET]))
    assert once == f"url: /cgi-bin/gettoken?corpid={CORP_ID}&corpsecret={mask(SECRET)} (Caused by X)"
    assert redact_query(once) == once == redact_query(text)


# -- success ------------------------------------------------------------------------------


def test_get_token_success(stub, client):
    stub.answer(GETTOKEN, token_answer(TOKEN1))
    data = client.get_token(CORP_ID, SECRET)
    assert data["access_token"] == TOKEN1 and data["expires_in"] == 7200
    (call,) = stub.calls_to(GETTOKEN)
    assert call.method == "GET" and call.args == {"corpid": CORP_ID, "corpsecret": SECRET}


def test_missing_errcode_is_success(stub, client):
    # get_suite_token / get_corp_token only send errcode on failure (docs 97162, 90605)
    stub.answer(SUITE_TOKEN, {"suite_access_token": SUITE_TOKEN1, "expires_in": 7200})
    data = client.get_suite_token(SUITE_ID, SUITE_SECRET, TICKET)
    assert data["suite_access_token"] == SUITE_TOKEN1
    (call,) = stub.calls_to(SUITE_TOKEN)
    assert call.method == "POST"
    assert call.json == {"suite_id": SUITE_ID, "suite_secret": SUITE_SECRET, "suite_ticket": TICKET}


def test_string_errcode_zero_is_success(stub, client):
    stub.answer(GETTOKEN, {"errcode": "0", "errmsg": "ok", "access_token": TOKEN1, "expires_in": 7200})
    assert client.get_token(CORP_ID, SECRET)["access_token"] == TOKEN1


def test_named_calls_use_the_documented_paths(stub, client):
    ok = {"errcode": 0, "errmsg": "ok"}
    paths = {
        ("POST", "/cgi-bin/service/get_corp_token"): lambda: client.get_corp_token(SUITE_TOKEN1, CORP_ID, SECRET),
        ("POST", "/cgi-bin/service/get_permanent_code"): lambda: client.get_permanent_code(SUITE_TOKEN1, AUTH_CODE),
        ("POST", "/cgi-bin/service/v2/get_permanent_code"):
            lambda: client.get_permanent_code(SUITE_TOKEN1, AUTH_CODE, v2=True),
        ("POST", "/cgi-bin/service/get_auth_info"): lambda: client.get_auth_info(SUITE_TOKEN1, CORP_ID, SECRET),
        ("POST", "/cgi-bin/service/v2/get_auth_info"):
            lambda: client.get_auth_info(SUITE_TOKEN1, CORP_ID, SECRET, v2=True),
        ("GET", "/cgi-bin/auth/getuserinfo"): lambda: client.get_user_info(TOKEN1, OAUTH_CODE),
        ("GET", "/cgi-bin/service/auth/getuserinfo3rd"): lambda: client.get_user_info_3rd(SUITE_TOKEN1, OAUTH_CODE),
        ("GET", USER_GET): lambda: client.get_user(TOKEN1, "zhangsan"),
        ("POST", "/cgi-bin/auth/getuserdetail"): lambda: client.get_user_detail(TOKEN1, "ticket"),
        ("POST", "/cgi-bin/service/auth/getuserdetail3rd"): lambda: client.get_user_detail_3rd(SUITE_TOKEN1, "t"),
        ("GET", "/cgi-bin/agent/get"): lambda: client.get_agent(TOKEN1, 1000002),
        ("POST", "/cgi-bin/agent/get_permissions"): lambda: client.get_agent_permissions(TOKEN1),
        ("GET", "/cgi-bin/getcallbackip"): lambda: client.get_callback_ip(TOKEN1),
    }
    for (_, path) in paths:
        stub.answer(path, ok)
    for (method, path), call in paths.items():
        assert call() == ok
        (seen,) = stub.calls_to(path)
        assert seen.method == method
        suite = "service" in path
        assert seen.args.get("suite_access_token" if suite else "access_token") == (SUITE_TOKEN1 if suite else TOKEN1)
    assert stub.calls_to("/cgi-bin/service/get_auth_info")[0].json == {"auth_corpid": CORP_ID,
                                                                        "permanent_code": SECRET}
    assert stub.calls_to("/cgi-bin/auth/getuserinfo")[0].args["code"] == OAUTH_CODE
    assert stub.calls_to("/cgi-bin/agent/get")[0].args["agentid"] == "1000002"
    assert stub.calls_to(USER_GET)[0].args["userid"] == "zhangsan"


def test_token_source_of_the_wrong_kind_is_refused(client, manager):
    suite = SuiteTokenSource(client, manager, SUITE_ID, SUITE_SECRET, lambda: TICKET)
    with pytest.raises(TypeError):
        client.get_user(suite, "zhangsan")


# -- errcode -> WeComAPIError -------------------------------------------------------------------


def test_errcode_raises_api_error_with_meaning_and_hint_and_no_secret(stub, client, caplog):
    caplog.set_level(logging.DEBUG)
    # WeCom does not normally echo the secret, but nothing it says may leak one
    stub.answer(GETTOKEN, {"errcode": 40001, "errmsg": f"invalid credential, corpsecret {SECRET}, hint: [x]"})
    with pytest.raises(WeComAPIError) as info:
        client.get_token(CORP_ID, SECRET)
    exc = info.value
    assert isinstance(exc, WeComError)
    assert exc.errcode == 40001 == exc.code and exc.path == GETTOKEN
    assert "40001" in str(exc) and "不合法的secret参数" in str(exc) and "invalid secret" in str(exc)
    assert "permanent_code" in exc.hint and exc.hint in str(exc)
    assert "invalid credential" in exc.errmsg
    assert_no_secrets(str(exc), repr(exc), exc.errmsg, repr(exc.args), log_text(caplog))
    assert "GET /cgi-bin/gettoken" in caplog.text and "errcode=40001" in caplog.text


def test_60020_error_names_the_ip_and_whitelist(stub, client):
    stub.answer(GETTOKEN, {"errcode": 60020, "errmsg": "not allow to access from your ip, hint: [1a2b], "
                           "from ip: 198.51.100.23, more info at https://open.work.weixin.qq.com/devtool/query?e=60020"})
    with pytest.raises(WeComAPIError) as info:
        client.get_token(CORP_ID, SECRET)
    text = str(info.value)
    assert "add 198.51.100.23 to the whitelist" in text
    assert "服务商信息 → 基本信息 → IP白名单" in text and "企业可信IP" in text


def test_unknown_errcode_points_at_devtool(stub, client):
    stub.answer(GETTOKEN, {"errcode": 123456, "errmsg": "something new"})
    with pytest.raises(WeComAPIError, match=r"devtool/query\?e=123456"):
        client.get_token(CORP_ID, SECRET)


def test_api_error_survives_pickling(stub, client):
    import pickle

    stub.answer(GETTOKEN, {"errcode": 40013, "errmsg": "invalid corpid"})
    with pytest.raises(WeComAPIError) as info:
        client.get_token(CORP_ID, SECRET)
    again = pickle.loads(pickle.dumps(info.value))
    assert again.errcode == 40013 and again.path == GETTOKEN and again.hint == info.value.hint


# -- token expiry: invalidate + exactly one retry --------------------------------------------


@pytest.mark.parametrize("expired", [40014, 42001])
def test_expired_token_is_dropped_and_the_call_retried_once(stub, client, corp_token, expired, caplog):
    caplog.set_level(logging.DEBUG)
    stub.answer(GETTOKEN, token_answer(TOKEN1), token_answer(TOKEN2))

    def user_get(call):
        if call.args["access_token"] == TOKEN1:
            return {"errcode": expired, "errmsg": "access_token expired"}
        return {"errcode": 0, "errmsg": "ok", "userid": "zhangsan", "name": "张三"}

    stub.answer(USER_GET, user_get)
    assert client.get_user(corp_token, "zhangsan")["name"] == "张三"
    assert [c.args["access_token"] for c in stub.calls_to(USER_GET)] == [TOKEN1, TOKEN2]
    assert stub.count(GETTOKEN) == 2
    assert corp_token.get() == TOKEN2  # the fresh token is cached
    assert stub.count(GETTOKEN) == 2
    assert_no_secrets(log_text(caplog))


def test_token_retry_is_bounded_when_wecom_keeps_saying_expired(stub, client, corp_token):
    stub.answer(GETTOKEN, token_answer(TOKEN1), token_answer(TOKEN2))
    stub.answer(USER_GET, {"errcode": 42001, "errmsg": "access_token expired"})
    with pytest.raises(WeComAPIError) as info:
        client.get_user(corp_token, "zhangsan")
    assert info.value.errcode == 42001
    assert stub.count(USER_GET) == 2  # the call and exactly one retry
    assert stub.count(GETTOKEN) == 2
    assert_no_secrets(str(info.value))


def test_unrelated_errcode_does_not_drop_the_token(stub, client, corp_token):
    stub.answer(GETTOKEN, token_answer(TOKEN1))
    stub.answer(USER_GET, {"errcode": 60111, "errmsg": "userid not found"})
    with pytest.raises(WeComAPIError, match="UserID不存在"):
        client.get_user(corp_token, "nobody")
    assert stub.count(USER_GET) == 1 and stub.count(GETTOKEN) == 1
    assert corp_token.peek() is not None


def test_suite_token_42009_refetches_the_suite_token_once(stub, client, manager):
    suite = SuiteTokenSource(client, manager, SUITE_ID, SUITE_SECRET, lambda: TICKET)
    stub.answer(SUITE_TOKEN, {"suite_access_token": SUITE_TOKEN1, "expires_in": 7200},
                {"suite_access_token": SUITE_TOKEN2, "expires_in": 7200})

    def auth_info(call):
        if call.args["suite_access_token"] == SUITE_TOKEN1:
            return {"errcode": 42009, "errmsg": "suite_access_token expired"}
        return {"errcode": 0, "errmsg": "ok", "auth_corp_info": {"corpid": CORP_ID}}

    stub.answer("/cgi-bin/service/get_auth_info", auth_info)
    data = client.get_auth_info(suite, CORP_ID, SECRET)
    assert data["auth_corp_info"]["corpid"] == CORP_ID
    assert stub.count(SUITE_TOKEN) == 2 and stub.count("/cgi-bin/service/get_auth_info") == 2


def test_suite_token_is_not_refetched_on_access_token_codes(stub, client, manager):
    suite = SuiteTokenSource(client, manager, SUITE_ID, SUITE_SECRET, lambda: TICKET)
    stub.answer(SUITE_TOKEN, {"suite_access_token": SUITE_TOKEN1, "expires_in": 7200})
    stub.answer("/cgi-bin/service/get_auth_info", {"errcode": 42001, "errmsg": "access_token expired"})
    with pytest.raises(WeComAPIError):
        client.get_auth_info(suite, CORP_ID, SECRET)
    assert stub.count("/cgi-bin/service/get_auth_info") == 1 and stub.count(SUITE_TOKEN) == 1


# -- -1 / 45009: bounded backoff ------------------------------------------------------------------


def test_busy_is_retried_with_backoff_then_raised(stub, client, sleeps):
    stub.answer(GETTOKEN, {"errcode": -1, "errmsg": "system busy"})
    with pytest.raises(WeComAPIError) as info:
        client.get_token(CORP_ID, SECRET)
    assert info.value.errcode == -1
    assert stub.count(GETTOKEN) == 4  # 1 + busy_retries
    assert sleeps == [0.5, 1.0, 2.0]


def test_rate_limit_is_never_retried_inside_its_window(stub, client, sleeps, caplog):
    # document 90454: a per-minute limit blocks 60 s; a retry within seconds cannot succeed
    stub.answer(GETTOKEN, {"errcode": 45009, "errmsg": "api freq out of limit"}, token_answer(TOKEN1))
    with caplog.at_level(logging.WARNING, logger="flask_wecom.client"):
        with pytest.raises(WeComAPIError, match="45009") as info:
            client.get_token(CORP_ID, SECRET)
    assert stub.count(GETTOKEN) == 1 and sleeps == []
    assert "checkCorpSpamBlock" in info.value.hint  # where to lift it, from 45009's help
    assert "not retried" in log_text(caplog)


def test_busy_retries_zero_raises_at_once(stub, sleeps):
    c = WeComClient(stub.url, busy_retries=0, sleep=sleeps.append)
    stub.answer(GETTOKEN, {"errcode": -1, "errmsg": "system busy"})
    with pytest.raises(WeComAPIError, match="-1"):
        c.get_token(CORP_ID, SECRET)
    assert stub.count(GETTOKEN) == 1 and sleeps == []
    c.close()


@pytest.mark.parametrize(
    "path, call",
    [
        ("/cgi-bin/service/get_permanent_code", lambda c: c.get_permanent_code(SUITE_TOKEN1, AUTH_CODE)),
        ("/cgi-bin/auth/getuserinfo", lambda c: c.get_user_info(TOKEN1, OAUTH_CODE)),
    ],
)
def test_busy_answer_to_a_single_use_code_is_not_resent(stub, client, sleeps, path, call):
    # WeCom received the code: a second request could only answer 40029 / 40078 and hide the -1
    stub.answer(path, {"errcode": -1, "errmsg": "system busy"}, {"errcode": 0, "errmsg": "ok"})
    with pytest.raises(WeComAPIError) as info:
        call(client)
    assert info.value.errcode == -1 and stub.count(path) == 1 and sleeps == []


# -- transport: 5xx, drops, refused, timeouts, non-JSON ---------------------------------------------


def test_5xx_is_retried_by_urllib3_then_succeeds(stub, client):
    stub.answer(GETTOKEN, Reply("<html>busy</html>", status=503), token_answer(TOKEN1))
    assert client.get_token(CORP_ID, SECRET)["access_token"] == TOKEN1
    assert stub.count(GETTOKEN) == 2


def test_5xx_after_retries_is_a_transport_error_without_secrets(stub, client, caplog):
    caplog.set_level(logging.DEBUG)
    stub.answer(GETTOKEN, Reply("<html>bad gateway</html>", status=502))
    with pytest.raises(TransportError) as info:
        client.get_token(CORP_ID, SECRET)
    assert "502" in str(info.value)
    assert stub.count(GETTOKEN) == 3  # 1 + retries
    # urllib3 logs the retried URL (with corpsecret) — the client's filter masks it
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    assert_no_secrets(str(info.value), repr(info.value), log_text(caplog))


def test_post_5xx_is_retried_for_ordinary_paths(stub, client):
    stub.answer(SUITE_TOKEN, Reply("oops", status=500), {"suite_access_token": SUITE_TOKEN1, "expires_in": 7200})
    assert client.get_suite_token(SUITE_ID, SUITE_SECRET, TICKET)["suite_access_token"] == SUITE_TOKEN1
    assert stub.count(SUITE_TOKEN) == 2


def test_connection_drop_is_retried(stub, client):
    stub.answer(GETTOKEN, Reply(drop=True), token_answer(TOKEN1))
    assert client.get_token(CORP_ID, SECRET)["access_token"] == TOKEN1
    assert stub.count(GETTOKEN) == 2


def test_connection_drops_exhaust_retries(stub, client, caplog):
    caplog.set_level(logging.DEBUG)
    stub.answer(GETTOKEN, Reply(drop=True))
    with pytest.raises(TransportError) as info:
        client.get_token(CORP_ID, SECRET)
    assert stub.count(GETTOKEN) == 3
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert_no_secrets(str(info.value), repr(info.value), log_text(caplog))


def test_connection_refused_is_a_transport_error_without_secrets(caplog):
    caplog.set_level(logging.DEBUG)
    c = WeComClient(closed_port_url(), timeout=(0.5, 0.5), retries=1, backoff_factor=0)
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        c.get_token(CORP_ID, SECRET)
    assert time.monotonic() - started < 5
    assert "gettoken" in str(info.value)
    # the quoted URL keeps a readable, masked-once corpsecret
    assert f"corpsecret={mask(SECRET)}" in str(info.value) and "chars) chars)" not in str(info.value)
    assert_no_secrets(str(info.value), repr(info.value), log_text(caplog))
    c.close()


@pytest.mark.parametrize(
    "path, call",
    [
        ("/cgi-bin/service/get_permanent_code", lambda c: c.get_permanent_code(SUITE_TOKEN1, AUTH_CODE)),
        ("/cgi-bin/service/v2/get_permanent_code", lambda c: c.get_permanent_code(SUITE_TOKEN1, AUTH_CODE, v2=True)),
        ("/cgi-bin/auth/getuserinfo", lambda c: c.get_user_info(TOKEN1, OAUTH_CODE)),
    ],
)
@pytest.mark.parametrize("failure", [Reply("<html>bad gateway</html>", status=502), Reply(drop=True)])
def test_single_use_codes_are_never_resent(stub, client, path, call, failure):
    stub.answer(path, failure, {"errcode": 0, "errmsg": "ok", "permanent_code": SECRET})
    with pytest.raises(TransportError) as info:
        call(client)
    assert stub.count(path) == 1  # the AuthCode / OAuth code went out once
    assert "single-use" in str(info.value) or "502" in str(info.value)
    assert_no_secrets(str(info.value))


def test_read_timeout_is_retried_then_a_transport_error(stub):
    c = WeComClient(stub.url, timeout=(1.0, 0.2), retries=1, backoff_factor=0)
    stub.answer(GETTOKEN, Reply(token_answer(TOKEN1), delay=0.6))
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        c.get_token(CORP_ID, SECRET)
    assert time.monotonic() - started < 3
    assert "Timeout" in str(info.value) or "timed out" in str(info.value)
    assert stub.count(GETTOKEN) == 2
    assert_no_secrets(str(info.value))
    c.close()


def test_slow_answer_within_the_read_timeout_is_fine(stub):
    c = WeComClient(stub.url, timeout=(1.0, 2.0), retries=0)
    stub.answer(GETTOKEN, Reply(token_answer(TOKEN1), delay=0.3))
    assert c.get_token(CORP_ID, SECRET)["access_token"] == TOKEN1
    c.close()


def test_exchange_gets_a_longer_read_timeout(stub):
    c = WeComClient(stub.url, timeout=(1.0, 0.1), retries=0)
    assert c._timeout_for("/cgi-bin/service/get_permanent_code") == (1.0, EXCHANGE_READ_TIMEOUT)
    assert c._timeout_for(GETTOKEN) == (1.0, 0.1)
    stub.answer("/cgi-bin/service/get_permanent_code", Reply({"errcode": 0, "permanent_code": "p"}, delay=0.4))
    assert c.get_permanent_code(SUITE_TOKEN1, AUTH_CODE)["permanent_code"] == "p"
    c.close()


@pytest.mark.parametrize(
    "reply",
    [
        Reply("<html><body>502 Bad Gateway</body></html>"),
        Reply("not json at all", content_type="application/json"),
        Reply(["a", "list"]),
        Reply(""),
    ],
)
def test_non_json_or_non_object_answers_are_transport_errors(stub, client, reply):
    stub.answer(GETTOKEN, reply)
    with pytest.raises(TransportError) as info:
        client.get_token(CORP_ID, SECRET)
    assert "HTTP 200" in str(info.value)
    assert_no_secrets(str(info.value))


@pytest.mark.parametrize("errcode", ["busy", float("inf"), float("nan"), [1]])
def test_errcode_that_is_not_a_number_is_a_transport_error(stub, client, errcode):
    stub.answer(GETTOKEN, {"errcode": errcode, "errmsg": "?"})  # inf / nan go out as JSON Infinity / NaN
    with pytest.raises(TransportError, match="errcode that is not a number"):
        client.get_token(CORP_ID, SECRET)


def test_non_json_answer_echoing_a_secret_is_redacted(stub, client):
    stub.answer(GETTOKEN, Reply(f"proxy error for corpsecret={SECRET}"))
    with pytest.raises(TransportError) as info:
        client.get_token(CORP_ID, SECRET)
    assert_no_secrets(str(info.value))


def test_http_error_without_errcode_is_a_transport_error(stub, client):
    stub.answer(GETTOKEN, Reply({"message": "not found"}, status=404))
    with pytest.raises(TransportError, match="404"):
        client.get_token(CORP_ID, SECRET)


def test_errcode_in_a_non_200_answer_is_still_an_api_error(stub, client):
    stub.answer(GETTOKEN, Reply({"errcode": 40013, "errmsg": "invalid corpid"}, status=400))
    with pytest.raises(WeComAPIError, match="40013"):
        client.get_token(CORP_ID, SECRET)


@pytest.mark.parametrize("timeout", [(1, 2, 3), "abc", None, 0, (5, -1)])
def test_bad_timeout_is_a_config_error_naming_the_key(timeout):
    with pytest.raises(ConfigError, match="WECOM_HTTP_TIMEOUT"):
        WeComClient("http://127.0.0.1:1", timeout=timeout)


def test_timeout_is_one_number_or_connect_and_read():
    assert WeComClient("http://127.0.0.1:1", timeout=7).timeout == (7.0, 7.0)
    assert WeComClient("http://127.0.0.1:1", timeout=["2", 9]).timeout == (2.0, 9.0)


def test_repr_and_session_reuse(stub, client):
    assert repr(client) == f"<WeComClient {stub.url}>"
    stub.answer(GETTOKEN, token_answer(TOKEN1))
    for _ in range(3):
        client.get_token(CORP_ID, SECRET)
    assert stub.count(GETTOKEN) == 3


def test_provider_token_and_licence_info_against_the_simulator():
    """get_provider_token (no errcode on success) and get_app_license_info (trail_info, doc 97194), over real HTTP."""
    from flask_wecom.testing import FakeWeCom

    fake = FakeWeCom()
    with fake.serve() as url:
        fake.install_app()
        client = WeComClient(url, retries=0, busy_retries=0)
        token = client.get_provider_token(fake.provider.corp_id, fake.provider.secret)["provider_access_token"]
        info = client.get_app_license_info(token, fake.corp.auth_corp_id, fake.suite.suite_id)
        assert "trail_info" in info and info["trail_info"]["end_time"] > info["trail_info"]["start_time"]
        with pytest.raises(WeComAPIError) as wrong:
            client.get_provider_token(fake.provider.corp_id, "not-the-secret")
        assert "not-the-secret" not in str(wrong.value)
        client.close()
