"""FakeWeCom's pushes to a provider's callback URLs, received by a tiny decrypting WSGI receiver.

The receiver uses :mod:`flask_wecom.crypto` to check the signature, decrypt, and check the
receiveid, so these tests prove the pushes are encrypted as documents 90968 / 91144 and 97172 say
(docs/wecom-reference.rst, "Callback URLs").
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
import requests
from flask import Flask, request
from werkzeug.wrappers import Request, Response

from flask_wecom.crypto import MessageCrypto
from flask_wecom.errors import CryptoError, ReceiveIdError
from flask_wecom.testing import FakeWeCom
from flask_wecom.testing.server import serve_app
from flask_wecom.xmlutil import parse_xml


class Receiver:
    """A provider's callback endpoints: ``/suite`` (template / 指令回调) and ``/app`` (data callbacks).

    ``/suite`` POSTs must carry receiveid = suite_id (doc 97172); GET verification of either URL
    must carry the provider's corpid (WeCom staff answers, unconfirmed officially; docs/wecom-reference.rst,
    "Receive ids"); ``/app`` POSTs the corp id (doc 90968, appendix "ReceiveId 含义").
    """

    def __init__(self, fake: FakeWeCom) -> None:
        self.fake = fake
        self.events: List[Tuple[Dict[str, Any], Dict[str, Any]]] = []  # (envelope, plaintext fields)
        self.errors: List[CryptoError] = []
        self.answer = "success"
        self.echo: Callable[[str], str] = lambda msg: msg
        self.on_event: Optional[Callable[[Dict[str, Any]], None]] = None

    def crypto(self, receive_id: str) -> MessageCrypto:
        return MessageCrypto(self.fake.suite.token, self.fake.suite.encoding_aes_key, receive_id)

    def __call__(self, environ: Dict[str, Any], start_response: Callable) -> Any:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, req: Request) -> Response:
        args = req.args
        try:
            if req.method == "GET":
                msg = self.crypto(self.fake.provider.corp_id).verify_url(
                    args["msg_signature"], args["timestamp"], args["nonce"], args["echostr"])
                return Response(self.echo(msg), content_type="text/html; charset=utf-8")
            receive_id = self.fake.suite.suite_id if req.path.endswith("/suite") else self.fake.corp.auth_corp_id
            body = req.get_data()
            plaintext = self.crypto(receive_id).decrypt_message(
                body, args["msg_signature"], args["timestamp"], args["nonce"])
        except CryptoError as exc:
            self.errors.append(exc)
            return Response(f"crypto error {exc.code}", status=400)
        fields = parse_xml(plaintext)
        self.events.append((parse_xml(body), fields))
        if self.on_event is not None:
            self.on_event(fields)
        return Response(self.answer)


#: the served ``fake`` (tests/conftest.py)
pytestmark = pytest.mark.fake_wecom(trusted_domain="app.example.com")


@pytest.fixture
def api(url: str) -> str:
    return url


@pytest.fixture
def receiver(fake: FakeWeCom) -> Iterator[Tuple[Receiver, str]]:
    rec = Receiver(fake)
    handle = serve_app(rec)
    try:
        yield rec, handle.url
    finally:
        handle.close()


def post(url: str, path: str, body: Dict[str, Any], **params: Any) -> Dict[str, Any]:
    r = requests.post(url + path, params=params, json=body, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def get(url: str, path: str, **params: Any) -> Dict[str, Any]:
    r = requests.get(url + path, params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_push_suite_ticket_is_encrypted_for_the_suite_id(fake: FakeWeCom, api: str,
                                                         receiver: Tuple[Receiver, str]) -> None:
    """suite_ticket XML (doc 90628); envelope ToUserName=suite_id, AgentID empty, receiveid = suite_id (doc 97172);
    the pushed ticket then works with get_suite_token (doc 97162)."""
    rec, base = receiver
    result = fake.push_suite_ticket(base + "/suite")
    assert result.success and result.status_code == 200 and result.text == "success"
    assert result.receive_id == fake.suite.suite_id and not rec.errors
    envelope, fields = rec.events[-1]
    assert list(envelope) == ["ToUserName", "Encrypt", "AgentID"]
    assert envelope["ToUserName"] == fake.suite.suite_id and envelope["AgentID"] == ""
    assert fields["InfoType"] == "suite_ticket" and fields["SuiteId"] == fake.suite.suite_id
    assert fields["SuiteTicket"] == fake.suite.ticket
    assert abs(int(fields["TimeStamp"]) - fake.now()) < 5
    token = post(api, "/cgi-bin/service/get_suite_token", {
        "suite_id": fake.suite.suite_id, "suite_secret": fake.suite.suite_secret,
        "suite_ticket": fields["SuiteTicket"]})
    assert "suite_access_token" in token


def test_a_receiver_expecting_another_receive_id_refuses_the_push(fake: FakeWeCom,
                                                                  receiver: Tuple[Receiver, str]) -> None:
    """Doc 97172: template events carry the suite_id, not a corpid — a receiver set up for the corpid fails."""
    rec, base = receiver
    result = fake.push_suite_ticket(base + "/app")  # /app expects the corp id
    assert result.status_code == 400 and not result.success
    assert isinstance(rec.errors[-1], ReceiveIdError)
    assert rec.errors[-1].received == fake.suite.suite_id  # type: ignore[attr-defined]


def test_authorize_create_auth_then_full_provider_flow(fake: FakeWeCom, api: str,
                                                      receiver: Tuple[Receiver, str]) -> None:
    """End to end: suite_ticket → create_auth {AuthCode, State} (doc 90642) → get_suite_token →
    get_permanent_code → gettoken(corpid, permanent_code) → OAuth code → getuserinfo (encrypted userid)."""
    rec, base = receiver
    fake.push_suite_ticket(base + "/suite")
    result = fake.authorize(base + "/suite", state="order42")
    assert result.success and result.in_time and result.auth_code
    _, fields = rec.events[-1]
    assert fields["InfoType"] == "create_auth" and fields["State"] == "order42"
    assert fields["AuthCode"] == result.auth_code and len(fields["AuthCode"]) >= 64
    assert fields["SuiteId"] == fake.suite.suite_id and fields["ExtraInfo"] == ""
    ticket = rec.events[0][1]["SuiteTicket"]
    st = post(api, "/cgi-bin/service/get_suite_token", {
        "suite_id": fake.suite.suite_id, "suite_secret": fake.suite.suite_secret,
        "suite_ticket": ticket})["suite_access_token"]
    perm = post(api, "/cgi-bin/service/get_permanent_code", {"auth_code": fields["AuthCode"]},
                suite_access_token=st)
    assert perm["state"] == "order42"
    corpid, agentid = perm["auth_corp_info"]["corpid"], perm["auth_info"]["agent"][0]["agentid"]
    token = get(api, "/cgi-bin/gettoken", corpid=corpid, corpsecret=perm["permanent_code"])["access_token"]
    link = (f"{api}/connect/oauth2/authorize?appid={corpid}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb"
            f"&response_type=code&scope=snsapi_base&state=abc&agentid={agentid}#wechat_redirect")
    location = fake.authorize_url_to_redirect(link, userid="zhangsan")
    code = location.split("code=")[1].split("&")[0]
    info = get(api, "/cgi-bin/auth/getuserinfo", access_token=token, code=code)
    assert info["userid"] == fake.corp.member("zhangsan").open_userid


def test_provider_may_exchange_the_auth_code_inside_the_callback(fake: FakeWeCom, api: str,
                                                                receiver: Tuple[Receiver, str]) -> None:
    """Doc 90642: a provider that calls get_permanent_code while answering create_auth must not deadlock the fake."""
    rec, base = receiver
    st = post(api, "/cgi-bin/service/get_suite_token", {
        "suite_id": fake.suite.suite_id, "suite_secret": fake.suite.suite_secret,
        "suite_ticket": fake.issue_suite_ticket()})["suite_access_token"]
    answers: List[Dict[str, Any]] = []
    rec.on_event = lambda f: answers.append(post(api, "/cgi-bin/service/v2/get_permanent_code",
                                                 {"auth_code": f["AuthCode"]}, suite_access_token=st))
    assert fake.authorize(base + "/suite").success
    assert answers[0]["permanent_code"] == fake.corp.permanent_code


def test_reset_secret_pushes_reset_permanent_code(fake: FakeWeCom, api: str,
                                                  receiver: Tuple[Receiver, str]) -> None:
    """reset_permanent_code (doc 97175) {SuiteId, AuthCode, InfoType, TimeStamp}; the AuthCode yields the new
    secret and the old one answers 40001 (doc 90313)."""
    rec, base = receiver
    auth = fake.install_app()
    old = auth.permanent_code
    result = fake.reset_secret(base + "/suite")
    assert result.success
    _, fields = rec.events[-1]
    assert fields["InfoType"] == "reset_permanent_code" and set(fields) == {
        "SuiteId", "AuthCode", "InfoType", "TimeStamp"}
    st = post(api, "/cgi-bin/service/get_suite_token", {
        "suite_id": fake.suite.suite_id, "suite_secret": fake.suite.suite_secret,
        "suite_ticket": fake.issue_suite_ticket()})["suite_access_token"]
    new = post(api, "/cgi-bin/service/get_permanent_code", {"auth_code": fields["AuthCode"]},
               suite_access_token=st)["permanent_code"]
    assert new != old and new == fake.corp.permanent_code
    assert get(api, "/cgi-bin/gettoken", corpid=auth.auth_corp_id, corpsecret=old)["errcode"] == 40001
    assert get(api, "/cgi-bin/gettoken", corpid=auth.auth_corp_id, corpsecret=new)["errcode"] == 0


def test_cancel_and_change_auth(fake: FakeWeCom, api: str, receiver: Tuple[Receiver, str]) -> None:
    """change_auth / cancel_auth (doc 90642) carry AuthCorpId (the encrypted corpid, doc 97104); after cancel the
    permanent code is dead (40001)."""
    rec, base = receiver
    auth = fake.install_app()
    fake.corp.members[1].visible = False
    assert fake.change_auth(base + "/suite").success
    _, fields = rec.events[-1]
    assert fields["InfoType"] == "change_auth" and fields["AuthCorpId"] == auth.auth_corp_id
    assert fake.cancel_auth(base + "/suite").success
    _, fields = rec.events[-1]
    assert fields["InfoType"] == "cancel_auth" and fields["AuthCorpId"] == auth.auth_corp_id
    assert get(api, "/cgi-bin/gettoken", corpid=auth.auth_corp_id,
               corpsecret=auth.permanent_code)["errcode"] == 40001


def test_non_success_answer_is_reported(fake: FakeWeCom, receiver: Tuple[Receiver, str]) -> None:
    """Doc 97172: 指令回调 must answer exactly "success"; anything else counts as an error message."""
    rec, base = receiver
    rec.answer = "ok"
    result = fake.push_suite_ticket(base + "/suite")
    assert result.ok and not result.success and result.text == "ok"


def test_verify_callback_url(fake: FakeWeCom, receiver: Tuple[Receiver, str]) -> None:
    """Doc 96466: GET with encrypted echostr; answer = the plaintext, "不能加引号，不能带bom头，不能带换行符";
    receiveid = the provider's own corpid (unconfirmed officially; docs/wecom-reference.rst, "Receive ids")."""
    rec, base = receiver
    result = fake.verify_callback_url(base + "/suite")
    assert result and result.ok and result.status_code == 200 and result.text == result.expected
    assert result.receive_id == fake.provider.corp_id
    for echo, reason in ((lambda m: m + "\n", "换行"), (lambda m: f'"{m}"', "引号"),
                         (lambda m: "\ufeff" + m, "bom")):
        rec.echo = echo
        bad = fake.verify_callback_url(base + "/suite")
        assert not bad and reason in bad.reason
    rec.echo = lambda m: m
    wrong_id = fake.verify_callback_url(base + "/suite", receive_id=fake.suite.suite_id)
    assert not wrong_id and wrong_id.status_code == 400 and wrong_id.reason == "HTTP 400"


def test_push_app_event_to_the_data_callback(fake: FakeWeCom, receiver: Tuple[Receiver, str]) -> None:
    """App envelope <ToUserName/><AgentID/><Encrypt/> (doc 96466); receiveid = the corp id the app sees (doc 90968);
    change_contact arrives on the 代开发应用回调URL as MsgType=event (96302)."""
    rec, base = receiver
    auth = fake.install_app()
    result = fake.push_change_contact(base + "/app", "update_user", member=fake.corp.members[1], Position="CTO")
    assert result.ok and result.receive_id == auth.auth_corp_id
    envelope, fields = rec.events[-1]
    assert list(envelope) == ["ToUserName", "AgentID", "Encrypt"]
    assert envelope["ToUserName"] == auth.auth_corp_id and envelope["AgentID"] == str(fake.corp.agent_id)
    assert fields["MsgType"] == "event" and fields["Event"] == "change_contact"
    assert fields["ChangeType"] == "update_user" and fields["FromUserName"] == "sys"
    assert fields["UserID"] == fake.corp.members[1].open_userid and fields["Position"] == "CTO"
    assert fake.push_enter_agent(base + "/app").ok
    assert rec.events[-1][1]["Event"] == "enter_agent"
    generic = fake.push_event(base + "/app", {"MsgType": "text", "Content": "你好", "MsgId": 1})
    assert generic.ok and rec.events[-1][1]["Content"] == "你好"


def test_pushes_into_a_flask_test_client(fake: FakeWeCom) -> None:
    """Pushes can target a WSGI test client (client=) instead of real HTTP; same encryption (docs 90968 / 91144)."""
    flask_app = Flask(__name__)
    rec = Receiver(fake)

    @flask_app.route("/wecom/suite", methods=["GET", "POST"])
    def suite() -> Any:
        from flask import make_response

        resp = rec.handle(Request(request.environ))
        return make_response(resp.get_data(), resp.status_code)

    client = flask_app.test_client()
    result = fake.push_suite_ticket("http://localhost/wecom/suite?tenant=a", client=client)
    assert result.success and rec.events[-1][1]["SuiteTicket"] == fake.suite.ticket
    assert fake.authorize("/wecom/suite", client=client).success
    assert rec.events[-1][1]["InfoType"] == "create_auth"
    assert fake.verify_callback_url("/wecom/suite", client=client)


def test_pushes_after_advance_pass_the_providers_timestamp_check(tmp_path: Any) -> None:
    """``fake.advance()`` expires tickets and tokens (docs 90628, 91039) but WeCom's pushes keep a ``timestamp``
    the provider's own clock accepts: flask-wecom's callback, default WECOM_CALLBACK_MAX_AGE, over HTTP."""
    import time

    from provider_app import make_app

    fake = FakeWeCom()
    with fake.serve():
        app = make_app(fake, tmp_path)
        handle = serve_app(app)
        try:
            callback = handle.url + "/wecom/callback"
            assert fake.push_suite_ticket(callback).success
            fake.advance(31 * 60)  # the ticket is stale at WeCom now (40085)
            result = fake.push_suite_ticket(callback)
            assert result.success, (result.status_code, result.text)
            assert int(result.fields["TimeStamp"]) >= int(time.time()) + 31 * 60 - 5  # the message keeps fake time
            assert fake.verify_callback_url(callback)
            state = app.extensions["wecom"]
            with app.app_context():
                assert state.provider.suite_token().get()  # the fresh ticket works at WeCom (doc 97162)
        finally:
            handle.close()
