"""Issue 4 — the 代开发 provider flow end to end, against FakeWeCom over real HTTP.

Our Flask app is served by a real HTTP server; the simulator pushes encrypted events to
its callback URL exactly as WeCom does (documents 96466, 97172, 90642) and answers the API calls the
extension makes (documents 97162 – 97164; docs/wecom-reference.rst, "Callback URLs" to "Tokens").
Starts from an empty database every time.
"""
from __future__ import annotations

import logging
import time
import uuid

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from provider_app import SECRET_KEY, Provider, make_app

from flask_wecom import WeCom, signals
from flask_wecom.crypto import MessageCrypto, signature
from flask_wecom.errors import NoSuiteTicketError
from flask_wecom.testing import FakeWeCom
from flask_wecom.testing.server import serve_app
from flask_wecom.xmlutil import to_xml


def _serve(fake, tmp_path, **config):
    app = make_app(fake, tmp_path, **config)
    handle = serve_app(app)
    return Provider(fake, app, handle.url), handle


# -- URL verification and suite ticket ------------------------------------------------------


def test_url_verification_answers_the_bare_plaintext(provider):
    """Doc 96466: GET answers the decrypted echostr, no quotes/BOM/newline; receiveid = provider corp id (unconfirmed
    officially; docs/wecom-reference.rst, "Receive ids")."""
    result = provider.fake.verify_callback_url(provider.callback)
    assert result, result.reason
    # the data callback URL is verified the same way
    assert provider.fake.verify_callback_url(provider.data_callback), "data callback verification"


def test_suite_ticket_is_stored_and_used_for_the_suite_token(provider):
    """Doc 90628 → doc 97162: the pushed ticket is stored durably and the suite token is fetched from it on demand."""
    store, fake = provider.state.store, provider.fake
    assert store.get_suite_ticket(fake.suite.suite_id) is None
    with pytest.raises(NoSuiteTicketError) as info:
        provider.state.provider.suite_token().get()
    assert "刷新Ticket" in str(info.value) and "callback URL" in str(info.value)

    with signals.suite_ticket_received.connected_to(received := _Recorder(), sender=provider.app):
        result = fake.push_suite_ticket(provider.callback)
    assert result.success and result.in_time
    ticket, received_at = store.get_suite_ticket(fake.suite.suite_id)
    assert ticket == fake.suite.ticket and abs(received_at - time.time()) < 5
    assert received.calls and received.calls[0]["suite_id"] == fake.suite.suite_id

    with provider.app.app_context():
        token = provider.state.provider.suite_token().get()
        assert token == provider.state.provider.suite_token().get()  # cached
    assert len(fake.calls_to("/cgi-bin/service/get_suite_token")) == 1

    fake.push_suite_ticket(provider.callback)  # latest wins
    assert store.get_suite_ticket(fake.suite.suite_id)[0] == fake.suite.ticket


class _Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, sender, **kwargs):
        self.calls.append(kwargs)


def test_a_ticket_for_another_suite_never_overwrites_ours(provider, caplog):
    """Two suites behind one URL: events for another SuiteId are ignored, ours stays."""
    fake = provider.fake
    fake.push_suite_ticket(provider.callback)
    ours = provider.state.store.get_suite_ticket(fake.suite.suite_id)[0]
    # encrypted for the other suite: a template POST is never refused for its receiveid (a lost AuthCode
    # cannot be had again, 97172), it is logged loudly — and the other suite's ticket is not stored
    other = fake.push_event(provider.callback, {"SuiteId": "dkOtherSuite", "InfoType": "suite_ticket",
                                                "TimeStamp": int(time.time()), "SuiteTicket": "OTHER"},
                            receive_id="dkOtherSuite")
    assert other.success
    assert any(r.levelname == "ERROR" and "'dkOtherSuite'" in r.getMessage() for r in caplog.records)
    # encrypted for our id but naming another SuiteId: answered, not stored
    sneaky = fake.push_event(provider.callback, {"SuiteId": "dkOtherSuite", "InfoType": "suite_ticket",
                                                 "TimeStamp": int(time.time()), "SuiteTicket": "OTHER"},
                             receive_id=fake.suite.suite_id)
    assert sneaky.success
    assert provider.state.store.get_suite_ticket(fake.suite.suite_id)[0] == ours
    assert provider.state.store.get_suite_ticket("dkOtherSuite") is None


# -- authorization, reset, cancel, change -------------------------------------------------


def test_authorize_leads_to_a_stored_permanent_code_without_any_manual_step(provider):
    """create_auth (doc 90642) → get_permanent_code → corp stored; the code is the 代开发 app secret (doc 97163)."""
    fake, state = provider.fake, provider.state
    recorder = _Recorder()
    with signals.corp_authorized.connected_to(recorder, sender=provider.app):
        result = provider.authorize(state="crm01")
    assert result.success and result.in_time
    corp = fake.corp
    stored = state.store.get_corp(corp.auth_corp_id)
    assert stored is not None and stored.active
    assert stored.corp_id == corp.open_corp_id  # encrypted id, case preserved
    assert stored.corp_id != stored.corp_id.lower()
    assert stored.agent_id == str(corp.agent_id) and stored.corp_name == corp.name
    assert stored.auth_info.get("state") == "crm01"
    assert state.store.get_permanent_code(stored.corp_id) == corp.permanent_code
    assert recorder.calls and recorder.calls[0]["corp_id"] == stored.corp_id

    # and the stored secret works: gettoken with corp id + permanent code (doc 97164)
    with provider.app.app_context():
        source = state.provider.corp_token(stored.corp_id)
        member = fake.corp.visible_members[0]
        user = state.client.get_user(source, member.id_as(True))
    assert user["name"] == member.name
    gettoken = fake.calls_to("/cgi-bin/gettoken")
    assert len(gettoken) == 1 and gettoken[0].params["corpid"] == stored.corp_id
    assert corp.permanent_code not in str(gettoken[0].params)  # the fake's log is masked too


def test_authorize_answers_within_one_second_even_when_wecom_is_slow(provider):
    """Doc 90642: success within 1000 ms; the exchange happens after the answer."""
    fake = provider.fake
    fake.push_suite_ticket(provider.callback)
    fake.slow("/cgi-bin/service/get_permanent_code", 1.5)
    result = fake.authorize(provider.callback)
    assert result.success and result.in_time and result.elapsed < 1.0
    provider.wait()
    assert provider.state.store.get_corp(fake.corp.auth_corp_id).active


def test_reset_secret_replaces_the_code_and_drops_cached_tokens(provider):
    """Doc 97175 reset_permanent_code: new secret stored, old one gone, the corp's tokens dropped."""
    fake, state = provider.fake, provider.state
    provider.authorize()
    corp_id = fake.corp.auth_corp_id
    old_code = state.store.get_permanent_code(corp_id)
    with provider.app.app_context():
        old_token = state.provider.corp_token(corp_id).get()
    recorder = _Recorder()
    with signals.permanent_code_reset.connected_to(recorder, sender=provider.app):
        assert fake.reset_secret(provider.callback).success
        provider.wait()
    new_code = state.store.get_permanent_code(corp_id)
    assert new_code == fake.corp.permanent_code != old_code
    assert recorder.calls and recorder.calls[0]["corp_id"] == corp_id
    assert state.provider.corp_token(corp_id).peek() is None
    with provider.app.app_context():
        new_token = state.provider.corp_token(corp_id).get()
    assert new_token != old_token
    assert len(fake.calls_to("/cgi-bin/gettoken")) == 2


def test_cancel_auth_revokes_the_corp(provider):
    """Doc 90642 cancel_auth: WeCom asks us to delete the corp's data — secret and tokens go, status revoked."""
    fake, state = provider.fake, provider.state
    provider.authorize()
    corp_id = fake.corp.auth_corp_id
    with provider.app.app_context():
        state.provider.corp_token(corp_id).get()
    recorder = _Recorder()
    with signals.corp_auth_cancelled.connected_to(recorder, sender=provider.app):
        assert fake.cancel_auth(provider.callback).success
    corp = state.store.get_corp(corp_id)
    assert corp.status == "revoked" and not corp.has_secret
    assert state.provider.corp_token(corp_id).peek() is None
    assert recorder.calls[0]["corp_id"] == corp_id
    assert corp_id not in state.provider.corp_ids()


def test_change_auth_refreshes_the_auth_info(provider):
    """Doc 90642 change_auth → get_auth_info; corp_auth_changed carries the refreshed record."""
    fake = provider.fake
    provider.authorize()
    recorder = _Recorder()
    with signals.corp_auth_changed.connected_to(recorder, sender=provider.app):
        assert fake.change_auth(provider.callback).success
        provider.wait()
    assert len(fake.calls_to("/cgi-bin/service/get_auth_info")) == 1
    assert recorder.calls and recorder.calls[0]["corp"].corp_id == fake.corp.auth_corp_id
    assert recorder.calls[0]["corp"].auth_info["auth_info"]["agent"]


def test_a_failed_exchange_is_recorded_and_announced(provider):
    fake, state = provider.fake, provider.state
    fake.push_suite_ticket(provider.callback)
    fake.fail("/cgi-bin/service/get_permanent_code", 40078)
    recorder = _Recorder()
    with signals.auth_code_failed.connected_to(recorder, sender=provider.app):
        assert fake.authorize(provider.callback).success
        provider.wait()
    record = state.store.recent_auth_codes(1)[0]
    assert record.status == "failed" and "40078" in record.error
    assert recorder.calls and "40078" in recorder.calls[0]["error"]
    assert state.store.list_corps() == []


# -- duplicates and replays ------------------------------------------------------------------


def _encrypted_post(fake, url, fields, receive_id, *, timestamp=None, nonce="1234567890", token=None):
    params, body = _encrypted_request(fake, fields, receive_id, timestamp=timestamp, nonce=nonce, token=token)
    return requests.post(url, params=params, data=body.encode(), timeout=10)


def _encrypted_request(fake, fields, receive_id, *, timestamp=None, nonce="1234567890", token=None):
    suite = fake.suite
    crypto = MessageCrypto(token or suite.token, suite.encoding_aes_key, None)
    encrypt = crypto.encrypt(to_xml(fields), receive_id=receive_id)
    ts = str(timestamp if timestamp is not None else int(time.time()))
    body = to_xml({"ToUserName": receive_id, "Encrypt": encrypt, "AgentID": ""})
    params = {"msg_signature": signature(suite.token, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
    return params, body


def test_replayed_delivery_is_answered_but_processed_once(provider):
    fake, state = provider.fake, provider.state
    fake.push_suite_ticket(provider.callback)
    with fake.model.lock:
        _, code = fake.model.create_authorization(None, "")
    fields = {"SuiteId": fake.suite.suite_id, "AuthCode": code, "InfoType": "create_auth",
              "TimeStamp": int(time.time()), "State": ""}
    recorder = _Recorder()
    with signals.callback_received.connected_to(recorder, sender=provider.app):
        params, body = _encrypted_request(fake, fields, fake.suite.suite_id, nonce="111")
        first = requests.post(provider.callback, params=params, data=body.encode(), timeout=10)
        replay = requests.post(provider.callback, params=params, data=body.encode(), timeout=10)
        # WeCom's retry of the same event with a new nonce: recorded once, exchanged once
        retry = _encrypted_post(fake, provider.callback, fields, fake.suite.suite_id, nonce="222")
        provider.wait()
    assert [r.text for r in (first, replay, retry)] == ["success"] * 3
    assert len(recorder.calls) == 2  # the exact replay was not processed
    assert len(fake.calls_to("/cgi-bin/service/get_permanent_code")) == 1
    assert len(state.store.recent_auth_codes()) == 1
    assert state.store.get_corp(fake.corp.auth_corp_id).active


# -- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def good_post(provider):
    fields = {"SuiteId": provider.fake.suite.suite_id, "InfoType": "suite_ticket",
              "TimeStamp": int(time.time()), "SuiteTicket": "T"}
    suite = provider.fake.suite
    crypto = MessageCrypto(suite.token, suite.encoding_aes_key, None)
    encrypt = crypto.encrypt(to_xml(fields), receive_id=suite.suite_id)
    ts, nonce = str(int(time.time())), "42"
    return {
        "params": {"msg_signature": signature(suite.token, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce},
        "body": to_xml({"ToUserName": suite.suite_id, "Encrypt": encrypt, "AgentID": ""}),
    }


def test_bad_input_answers_its_status_and_logs_a_reason(provider, good_post, caplog):
    url, fake = provider.callback, provider.fake
    caplog.set_level(logging.WARNING, logger="flask_wecom")
    params, body = good_post["params"], good_post["body"]

    def post(params=params, data=body, **kw):
        return requests.post(url, params=params, data=data, timeout=10, **kw)

    bad_sig = dict(params, msg_signature="0" * 40)
    assert post(bad_sig).status_code == 403
    assert "msg_signature does not match" in caplog.text
    for missing in ("msg_signature", "timestamp", "nonce"):
        assert post({k: v for k, v in params.items() if k != missing}).status_code == 400
    assert requests.get(url, params={"msg_signature": "x", "timestamp": "1", "nonce": "1"}).status_code == 400
    assert post(data=b"this is not xml").status_code == 400
    assert post(data=b"<xml><ToUserName>x</ToUserName></xml>").status_code == 400
    assert post(data=b"<xml><Encrypt>" + b"A" * 300_000 + b"</Encrypt></xml>").status_code == 413
    dtd = b'<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>'
    assert post(data=dtd).status_code == 400
    laughs = (b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
              b"<xml><Encrypt>&b;</Encrypt></xml>")
    assert post(data=laughs).status_code == 400
    stale = dict(params, timestamp=str(int(time.time()) - 3600))
    assert post(stale).status_code == 403 and "stale timestamp" in caplog.text
    assert post(dict(params, timestamp="soon")).status_code == 400
    # a wrong receiveid: refused on the app URL, never a 500; on the template URL processed (a refused
    # AuthCode would be lost, 97172) with both ids in a loud log line — this event carries no ticket
    wrong = fake.push_event(provider.data_callback, {"MsgType": "event", "Event": "enter_agent"},
                            receive_id="wwSomeoneElse")
    assert wrong.status_code == 403 and "wwSomeoneElse" in caplog.text
    logged = fake.push_event(url, {"InfoType": "suite_ticket", "SuiteId": fake.suite.suite_id},
                             receive_id="wwOtherStill")
    assert logged.success
    assert any(r.levelname == "ERROR" and "wwOtherStill" in r.getMessage() and fake.suite.suite_id in r.getMessage()
               for r in caplog.records)
    # nothing was stored from all that, and the good request still works afterwards
    assert provider.state.store.get_suite_ticket(fake.suite.suite_id) is None
    assert post().text == "success"
    assert provider.state.store.get_suite_ticket(fake.suite.suite_id)[0] == "T"
    # secrets never reach the log
    for secret in (fake.suite.suite_secret, fake.suite.encoding_aes_key, fake.suite.token):
        assert secret not in caplog.text


def test_wrong_token_or_key_on_url_verification_is_403_or_400(provider):
    fake = provider.fake
    assert fake.verify_callback_url(provider.callback, token="WrongToken").status_code == 403
    other_key = "b" * 43
    assert fake.verify_callback_url(provider.callback, encoding_aes_key=other_key).status_code in (400, 403)
    assert fake.verify_callback_url(provider.callback, receive_id="wwNotOurs").status_code == 403


# -- app (data) callback -----------------------------------------------------------------------


def test_data_callback_events_reach_handlers_and_signals(provider):
    """Docs 96301 / 96302: 代开发 contact changes arrive on the app callback, encrypted for the corp id."""
    fake, app = provider.fake, provider.app
    provider.authorize()
    wecom = provider.state.ext
    seen = []

    @wecom.on("change_contact")
    def on_contact(event):
        seen.append((event.change_type, event.to_user))

    @wecom.on("text")
    def on_text(event):
        return to_xml({"ToUserName": event.from_user or "", "FromUserName": event.to_user or "",
                       "CreateTime": 1, "MsgType": "text", "Content": "收到"})

    recorder = _Recorder()
    with signals.callback_received.connected_to(recorder, sender=app):
        result = fake.push_change_contact(provider.data_callback, "update_user")
    assert result.ok and result.text == ""
    assert seen == [("update_user", fake.corp.auth_corp_id)]
    assert recorder.calls[-1]["endpoint"] == "data"

    reply = fake.push_event(provider.data_callback,
                            {"ToUserName": fake.corp.auth_corp_id, "FromUserName": "zhangsan", "CreateTime": 1,
                             "MsgType": "text", "Content": "你好", "MsgId": "1", "AgentID": fake.corp.agent_id},
                            receive_id=fake.corp.auth_corp_id)
    assert reply.ok and "<Encrypt>" in reply.text
    suite = fake.suite
    plain = MessageCrypto(suite.token, suite.encoding_aes_key, fake.corp.auth_corp_id)
    envelope = reply.text
    from flask_wecom.xmlutil import parse_xml
    fields = parse_xml(envelope)
    decrypted = plain.decrypt_message(
        to_xml({"Encrypt": fields["Encrypt"]}), fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])
    assert "收到" in decrypted

    # a corp we do not hold is refused
    stranger = fake.push_event(provider.data_callback, {"MsgType": "event", "Event": "enter_agent"},
                               receive_id="wwStranger")
    assert stranger.status_code == 403


def test_a_crashing_handler_does_not_become_a_500(provider):
    provider.authorize()
    wecom = provider.state.ext

    @wecom.on("change_contact")
    def broken(event):
        raise RuntimeError("bug in the app's own handler")

    result = provider.fake.push_change_contact(provider.data_callback, "create_user")
    assert result.ok


# -- other app types and stores ----------------------------------------------------------------


def test_self_built_mode_needs_no_suite(fake, tmp_path):
    corp = fake.corp
    app = Flask(__name__, instance_path=str(tmp_path / "i"))
    app.config.update(SECRET_KEY=SECRET_KEY, WECOM_API_BASE=fake.url, WECOM_CORP_ID=corp.corp_id,
                      WECOM_SECRET=corp.secret, WECOM_AGENT_ID=str(corp.agent_id),
                      WECOM_TOKEN=fake.suite.token, WECOM_ENCODING_AES_KEY=fake.suite.encoding_aes_key)
    WeCom(app)
    state = app.extensions["wecom"]
    assert state.app_type == "internal"
    with app.app_context():
        assert state.provider.resolve_corp() == corp.corp_id
        member = corp.visible_members[0]
        assert state.client.get_user(state.provider.corp_token(corp.corp_id), member.userid)["name"] == member.name
    handle = serve_app(app)
    try:
        result = fake.push_event(handle.url + "/wecom/callback/data",
                                 {"MsgType": "event", "Event": "enter_agent", "ToUserName": corp.corp_id},
                                 receive_id=corp.corp_id)
        assert result.ok
    finally:
        handle.close()


def test_customized_user_with_a_known_permanent_code(fake, tmp_path):
    """A 代开发 user who already has the permanent code just puts it in WECOM_SECRET."""
    fake.install_app()
    corp = fake.corp
    app = make_app(fake, tmp_path, WECOM_CORP_ID=corp.auth_corp_id, WECOM_SECRET=corp.permanent_code,
                   WECOM_AGENT_ID=str(corp.agent_id))
    state = app.extensions["wecom"]
    with app.app_context():
        token = state.provider.corp_token(corp.auth_corp_id).get()
    assert token


def test_third_party_suite_uses_get_corp_token(tmp_path):
    fake = FakeWeCom(app_type="third_party")
    with fake.serve():
        p, handle = _serve(fake, tmp_path)
        try:
            assert p.state.app_type == "third_party"
            p.authorize()
            corp_id = fake.corp.auth_corp_id
            assert p.state.store.get_corp(corp_id).active
            with p.app.app_context():
                assert p.state.provider.corp_token(corp_id).get()
            assert len(fake.calls_to("/cgi-bin/service/get_corp_token")) == 1
            assert not fake.calls_to("/cgi-bin/gettoken")
        finally:
            handle.close()


def test_login_picks_the_corp(provider):
    fake, state = provider.fake, provider.state
    from flask_wecom.errors import CorpNotFoundError

    with pytest.raises(CorpNotFoundError, match="no corp has authorized"):
        state.provider.resolve_corp()
    provider.authorize()
    only = fake.corp.auth_corp_id
    assert state.provider.resolve_corp() == only
    assert state.provider.resolve_corp(only) == only
    with pytest.raises(CorpNotFoundError):
        state.provider.resolve_corp("wwNotHeld")
    second = fake.add_corp()
    fake.authorize(provider.callback, corp=second)
    provider.wait()
    with pytest.raises(CorpNotFoundError, match="several corps"):
        state.provider.resolve_corp()
    assert state.provider.resolve_corp(second.auth_corp_id) == second.auth_corp_id


def test_the_whole_flow_on_postgresql(fake, tmp_path, postgres_url):
    """The same flow with WECOM_DATABASE_URI pointing at the real PostgreSQL (tables created on first use)."""
    schema = "wecom_" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = postgres_url + ("&" if "?" in postgres_url else "?") + f"options=-csearch_path%3D{schema}"
    try:
        p, handle = _serve(fake, tmp_path, WECOM_DATABASE_URI=url)
        try:
            assert fake.verify_callback_url(p.callback)
            p.authorize()
            corp_id = fake.corp.auth_corp_id
            assert p.state.store.get_permanent_code(corp_id) == fake.corp.permanent_code
            fake.reset_secret(p.callback)
            p.wait()
            assert p.state.store.get_permanent_code(corp_id) == fake.corp.permanent_code
            fake.cancel_auth(p.callback)
            assert p.state.store.get_corp(corp_id).status == "revoked"
            with engine.connect() as conn:
                tables = set(sa.inspect(conn).get_table_names(schema=schema))
            assert {"wecom_corp", "wecom_suite_ticket", "wecom_auth_code", "wecom_delivery"} <= tables
        finally:
            handle.close()
            p.state.store.dispose()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def test_a_cancel_that_overtakes_the_exchange_wins(provider):
    """cancel_auth for a corp whose AuthCode is still being exchanged: the late exchange must not
    bring the corp back (WeCom asks us to delete its data, doc 90642)."""
    fake, state = provider.fake, provider.state
    fake.push_suite_ticket(provider.callback)
    with fake.model.lock:
        _, code = fake.model.create_authorization(None, "")
    code_id, _ = state.store.record_auth_code(fake.suite.suite_id, "create_auth", code)
    # the cancel arrives (and is handled) before the exchange finishes
    assert not state.store.revoke_corp(fake.corp.auth_corp_id)
    with provider.app.app_context():
        assert state.provider.exchange_auth_code(code_id) is None
    corp = state.store.get_corp(fake.corp.auth_corp_id)
    assert corp.status == "revoked" and not corp.has_secret
    record = state.store.get_auth_code(code_id)
    assert record.status == "failed" and "cancelled" in record.error
    # a later, new authorization is stored as usual
    time.sleep(0.01)
    assert fake.authorize(provider.callback).success
    provider.wait()
    assert state.store.get_corp(fake.corp.auth_corp_id).active


def test_app_message_retries_are_processed_once(provider):
    """Doc 96466: WeCom retries an app message (up to 3 times) when the answer is slow, re-encrypted with a new
    nonce; dedupe by MsgId for messages and by content for events, so each is handled once — while two
    different events in the same second are both handled."""
    fake = provider.fake
    provider.authorize()
    wecom = provider.state.ext
    seen = []

    @wecom.on("*")
    def record(event):
        seen.append((event.type, event.get("MsgId") or event.get("UserID")))

    corp_id = fake.corp.auth_corp_id
    text = {"ToUserName": corp_id, "FromUserName": "zhangsan", "CreateTime": 1700000000, "MsgType": "text",
            "Content": "你好", "MsgId": "123456", "AgentID": fake.corp.agent_id}
    for _ in range(3):  # the original and two retries, each freshly encrypted (new nonce, new signature)
        assert fake.push_event(provider.data_callback, text, receive_id=corp_id).ok
    base = {"ToUserName": corp_id, "FromUserName": "sys", "CreateTime": 1700000001, "MsgType": "event",
            "Event": "change_contact", "ChangeType": "update_user"}
    for userid in ("zhangsan", "zhangsan", "lisi"):  # a retry, then another change in the same second
        assert fake.push_event(provider.data_callback, dict(base, UserID=userid), receive_id=corp_id).ok
    assert seen == [("text", "123456"), ("change_contact", "zhangsan"), ("change_contact", "lisi")]
