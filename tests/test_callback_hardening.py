"""The callback routes under attack and bad luck, against FakeWeCom over real HTTP.

Issue 4: "nothing crashes into a 500"; stale timestamps refused; replays answered but processed once;
duplicate AuthCode deliveries exchanged once; a crash between recording and exchanging recovered by
``flask wecom exchange``; no secret in any log line, at DEBUG.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from provider_app import app_config

from flask_wecom import WeCom, signals
from flask_wecom.crypto import MessageCrypto, signature
from flask_wecom.xmlutil import to_xml


def _signed(fake, fields, *, receive_id=None, timestamp=None, nonce="1234567890"):
    """(query params, body) of one encrypted POST signed like WeCom signs it."""
    suite = fake.suite
    crypto = MessageCrypto(suite.token, suite.encoding_aes_key, None)
    encrypt = crypto.encrypt(to_xml(fields), receive_id=receive_id or suite.suite_id)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    body = to_xml({"ToUserName": receive_id or suite.suite_id, "Encrypt": encrypt, "AgentID": ""})
    return {"msg_signature": signature(suite.token, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}, body


def _ticket_fields(fake, ticket="T-1"):
    return {"SuiteId": fake.suite.suite_id, "InfoType": "suite_ticket", "TimeStamp": int(time.time()),
            "SuiteTicket": ticket}


def _fresh_auth_code(fake, corp=None):
    with fake.model.lock:
        _, code = fake.model.create_authorization(corp, "")
    return code


def _create_auth_fields(fake, code):
    return {"SuiteId": fake.suite.suite_id, "AuthCode": code, "InfoType": "create_auth",
            "TimeStamp": int(time.time()), "State": ""}


# -- timestamps, query strings, bodies -------------------------------------------------------------


@pytest.mark.parametrize("timestamp, status", [
    ("9" * 400, 400),             # int() works, float() overflows: once a 500
    ("9" * 5000, 400),            # over Python's int-string limit
    ("١٢٣٤٥٦٧٨٩٠", 400),          # Arabic-Indic digits are digits to int(), not to WeCom
    ("-5", 400), ("1e9", 400), (" 12", 400), ("12.5", 400),
    (str(int(time.time()) + 3600), 403),   # far in the future
    (str(int(time.time()) + 10 ** 9), 403),
    ("0", 403),
])
def test_odd_timestamps_are_refused_never_500(provider, timestamp, status):
    params, body = _signed(provider.fake, _ticket_fields(provider.fake), timestamp=timestamp)
    answer = requests.post(provider.callback, params=params, data=body.encode(), timeout=10)
    assert answer.status_code == status, answer.text
    get = requests.get(provider.callback, params=dict(params, echostr="x"), timeout=10)
    assert get.status_code == status
    assert provider.state.store.get_suite_ticket(provider.fake.suite.suite_id) is None


def test_malformed_and_unicode_query_strings(provider, caplog):
    fake, url = provider.fake, provider.callback
    params, body = _signed(fake, _ticket_fields(fake))
    data = body.encode()
    raw = [
        ("?msg_signature&timestamp&&&=&nonce=%", 400),               # keys without values, stray separators
        ("?msg_signature=%ff%fe&timestamp=%00&nonce=%ED%A0%80", 400),  # invalid UTF-8, NUL, a lone surrogate
        ("?msg_signature=" + "a" * 5000 + f"&timestamp={params['timestamp']}&nonce=1", 403),
    ]
    for query, status in raw:
        assert requests.post(url + query, data=data, timeout=10).status_code == status, query[:40]
    for name, value in (("msg_signature", "é" * 40), ("nonce", "ü☃\u202e"), ("msg_signature", "\x00" * 40)):
        answer = requests.post(url, params=dict(params, **{name: value}), data=data, timeout=10)
        assert answer.status_code == 403, (name, answer.text)
    # a repeated parameter: the first one counts, the signature decides
    doubled = requests.post(url + "?msg_signature=0&" + "&".join(f"{k}={v}" for k, v in params.items()),
                            data=data, timeout=10)
    assert doubled.status_code == 403
    # unicode inside the body and in echostr
    assert requests.post(url, params=params, data="<xml><Encrypt>密文</Encrypt></xml>".encode(),
                         timeout=10).status_code == 403
    assert requests.get(url, params=dict(params, echostr="é☃"), timeout=10).status_code == 403
    assert requests.post(url, params=params, data=b"<?xml version='1.0' encoding='x-nope'?><xml/>",
                         timeout=10).status_code == 400
    assert "Traceback" not in caplog.text
    assert requests.post(url, params=params, data=data, timeout=10).text == "success"  # still works


def test_chunked_bodies_are_bounded_without_a_content_length(provider):
    fake, url = provider.fake, provider.callback
    params, body = _signed(fake, _ticket_fields(fake))

    def chunks(total):
        sent = 0
        while sent < total:
            sent += 64 * 1024
            yield b"<" * (64 * 1024)

    huge = requests.post(url, params=params, data=chunks(8 * 1024 * 1024), timeout=30)
    assert huge.status_code == 413
    assert huge.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in huge.request.headers

    good = requests.post(url, params=params, data=iter([body.encode()[:10], body.encode()[10:]]), timeout=10)
    assert good.request.headers.get("Transfer-Encoding") == "chunked"
    assert good.text == "success"
    assert provider.state.store.get_suite_ticket(fake.suite.suite_id)[0] == "T-1"


def test_prefix_body_limit_and_time_window_are_configurable(serve):
    p = serve(WECOM_URL_PREFIX="/hooks/wx", WECOM_CALLBACK_MAX_BODY=2048, WECOM_CALLBACK_MAX_AGE=60)
    fake = p.fake
    url = p.url + "/hooks/wx/callback"
    assert fake.verify_callback_url(url)
    assert fake.verify_callback_url(p.url + "/hooks/wx/callback/data")
    assert requests.get(p.callback, timeout=10).status_code == 404  # /wecom/callback is not there
    params, body = _signed(fake, _ticket_fields(fake))
    assert requests.post(url, params=params, data=body.encode() + b" " * 2048, timeout=10).status_code == 413
    old, old_body = _signed(fake, _ticket_fields(fake), timestamp=int(time.time()) - 120)
    assert requests.post(url, params=old, data=old_body.encode(), timeout=10).status_code == 403
    assert requests.post(url, params=params, data=body.encode(), timeout=10).text == "success"


def test_a_malformed_aes_key_with_checks_off_is_503_not_500(serve):
    p = serve(WECOM_ENCODING_AES_KEY="short", WECOM_CHECK_CONFIG=False)
    params, body = _signed(p.fake, _ticket_fields(p.fake))
    answer = requests.post(p.callback, params=params, data=body.encode(), timeout=10)
    assert answer.status_code == 503 and "43" in answer.text
    assert requests.get(p.callback, params=dict(params, echostr="x"), timeout=10).status_code == 503


# -- receiveid -------------------------------------------------------------------------------------


def test_receiveid_is_refused_on_the_data_url_before_any_corp_is_held(provider, caplog):
    """Before any authorization the data URL accepts no customer corp id (once it accepted every id)."""
    caplog.set_level(logging.WARNING, logger="flask_wecom")
    fake = provider.fake
    params, body = _signed(fake, {"MsgType": "event", "Event": "enter_agent", "ToUserName": "wwAnyone"},
                           receive_id="wwAnyone")
    answer = requests.post(provider.data_callback, params=params, data=body.encode(), timeout=10)
    assert answer.status_code == 403
    assert "'wwAnyone'" in caplog.text and "expected one of []" in caplog.text


def test_receiveid_refusals_log_both_ids_but_answer_neither_list(provider, caplog):
    caplog.set_level(logging.WARNING, logger="flask_wecom")
    fake = provider.fake
    provider.authorize()
    corp_id = fake.corp.auth_corp_id
    get = fake.verify_callback_url(provider.callback, receive_id="wwStranger\n" + "x" * 500)
    assert get.status_code == 403
    line = [r.getMessage() for r in caplog.records if "receiveid" in r.getMessage()][-1]
    assert "wwStranger\\n" in line and "\n" not in line and len(line) < 600  # escaped and clipped
    assert fake.suite.suite_id in line and fake.suite.provider_corp_id in line
    data = fake.push_event(provider.data_callback, {"MsgType": "event", "Event": "enter_agent"},
                           receive_id="wwStranger")
    assert data.status_code == 403 and corp_id not in data.text and "receiveid" in data.text
    assert corp_id in caplog.records[-1].getMessage()


# -- duplicates, concurrency, replays --------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request, serve):
    """A provider on SQLite, or on the real PostgreSQL in a fresh schema."""
    if request.param == "sqlite":
        return serve()
    base = request.getfixturevalue("postgres_url")
    schema = "cb_" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = base + ("&" if "?" in base else "?") + f"options=-csearch_path%3D{schema}"
    provider = serve(WECOM_DATABASE_URI=url)

    def drop():  # runs before serve's teardown: let go of the app's connections first
        provider.state.wait_background(10)
        provider.state.store.dispose()
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()

    request.addfinalizer(drop)
    return provider


def _at_once(n, func):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = func(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_duplicate_deliveries_of_one_auth_code_exchange_once(any_store):
    p = any_store
    fake, state = p.fake, p.state
    fake.push_suite_ticket(p.callback)
    fake.slow("/cgi-bin/service/get_permanent_code", 0.3)  # keep the first exchange in flight
    code = _fresh_auth_code(fake)
    fields = _create_auth_fields(fake, code)
    # WeCom's retries carry new nonces; an attacker's replay the same one: both kinds, all at once
    requests_ = [_signed(fake, fields, nonce=str(1000 + i % 3)) for i in range(6)]
    received = []
    with signals.corp_authorized.connected_to(lambda sender, **kw: received.append(kw), sender=p.app):
        answers = _at_once(6, lambda i: requests.post(p.callback, params=requests_[i][0],
                                                      data=requests_[i][1].encode(), timeout=10))
        p.wait()
    assert [a.text for a in answers] == ["success"] * 6
    assert len(fake.calls_to("/cgi-bin/service/get_permanent_code")) == 1
    assert len(received) == 1
    records = state.store.recent_auth_codes()
    assert len(records) == 1 and records[0].status == "done"
    assert state.store.get_permanent_code(fake.corp.auth_corp_id) == fake.corp.permanent_code


def _down_once(monkeypatch, store, method, table):
    real = getattr(store, method)
    calls = []

    def down_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError(f"UPDATE {table}", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(store, method, down_once)
    return calls


def test_a_template_event_the_store_cannot_take_is_spooled_and_applied_once(provider, monkeypatch):
    """Template callbacks have no documented retry (doc 97172): the store failing mid-delivery answers
    `success`, keeps the event in the spool, and applies it once — WeCom's copy of it is not applied twice."""
    fake, state = provider.fake, provider.state
    calls = _down_once(monkeypatch, state.store, "save_suite_ticket", "wecom_suite_ticket")
    params, body = _signed(fake, _ticket_fields(fake, "T-spooled"))
    first = requests.post(provider.callback, params=params, data=body.encode(), timeout=10)
    assert first.text == "success" and len(state.spool) == 1
    assert state.store.get_suite_ticket(fake.suite.suite_id) is None
    names = os.listdir(state.spool.directory)
    with open(os.path.join(state.spool.directory, names[0])) as fh:
        assert "T-spooled" not in fh.read()  # sealed
    # the same delivery again (an undocumented retry): processed now, so the spooled copy is a duplicate
    again = requests.post(provider.callback, params=params, data=body.encode(), timeout=10)
    assert again.text == "success"
    provider.wait()
    assert state.store.get_suite_ticket(fake.suite.suite_id)[0] == "T-spooled"
    assert len(state.spool) == 0 and len(calls) == 2  # the replay found the delivery applied already


def test_an_app_message_the_store_cannot_take_answers_503_and_the_retry_is_processed(provider, monkeypatch):
    """App callbacks are retried by WeCom (3 times, doc 96466): 503, nothing marked, the retry counts once."""
    fake = provider.fake
    provider.authorize()
    seen = []
    provider.state.ext.on("change_contact")(lambda event: seen.append(event.get("UserID")))
    _down_once(monkeypatch, provider.state.store, "first_seen", "wecom_delivery")
    fields = {"ToUserName": fake.corp.auth_corp_id, "FromUserName": "sys", "CreateTime": 1700000001,
              "MsgType": "event", "Event": "change_contact", "ChangeType": "update_user", "UserID": "zhangsan"}
    params, body = _signed(fake, fields, receive_id=fake.corp.auth_corp_id)
    first = requests.post(provider.data_callback, params=params, data=body.encode(), timeout=10)
    assert first.status_code == 503 and seen == []
    retry = requests.post(provider.data_callback, params=params, data=body.encode(), timeout=10)
    assert retry.status_code == 200 and seen == ["zhangsan"]
    assert requests.post(provider.data_callback, params=params, data=body.encode(), timeout=10).ok
    assert seen == ["zhangsan"]


def test_an_unreachable_database_never_answers_500(serve):
    """Template event: kept in the spool and answered success; app message: 503 for WeCom's retry."""
    p = serve(WECOM_DATABASE_URI="postgresql+psycopg2://nobody@127.0.0.1:9/none?connect_timeout=1")
    params, body = _signed(p.fake, _ticket_fields(p.fake))
    assert requests.post(p.callback, params=params, data=body.encode(), timeout=20).text == "success"
    assert len(p.state.spool) == 1
    message = {"ToUserName": "wwCorp", "MsgType": "event", "Event": "enter_agent"}
    params, body = _signed(p.fake, message, receive_id="wwCorp")
    assert requests.post(p.data_callback, params=params, data=body.encode(), timeout=20).status_code == 503


def test_raising_signal_receivers_and_handlers_never_change_the_answer(provider):
    fake, app, state = provider.fake, provider.app, provider.state

    def boom(sender, **kwargs):
        raise RuntimeError("bug in a receiver")

    wanted = [signals.callback_received, signals.suite_ticket_received, signals.corp_authorized,
              signals.permanent_code_reset, signals.corp_auth_cancelled, signals.corp_auth_changed]
    for signal in wanted:
        signal.connect(boom, sender=app)
    try:
        state.ext.on("*")(lambda event: 1 / 0)
        assert fake.push_suite_ticket(provider.callback).success
        assert fake.authorize(provider.callback).success
        provider.wait()
        corp_id = fake.corp.auth_corp_id
        assert state.store.get_corp(corp_id).active
        assert fake.reset_secret(provider.callback).success
        provider.wait()
        assert state.store.get_permanent_code(corp_id) == fake.corp.permanent_code
        assert fake.change_auth(provider.callback).success
        provider.wait()
        assert fake.push_change_contact(provider.data_callback).ok
        assert fake.cancel_auth(provider.callback).success
        assert state.store.get_corp(corp_id).status == "revoked"
    finally:
        for signal in wanted:
            signal.disconnect(boom, sender=app)


def test_a_reply_that_cannot_be_encrypted_is_dropped_not_retried(provider):
    fake = provider.fake
    provider.authorize()
    seen = []

    @provider.state.ext.on("text")
    def lone_surrogate(event):
        seen.append(event.get("Content"))
        return "\ud800"  # not encodable: once a 500, and WeCom would deliver the message again

    answer = fake.push_event(provider.data_callback, {"MsgType": "text", "Content": "你好", "MsgId": "7"})
    assert answer.status_code == 200 and answer.text == "" and seen == ["你好"]


def test_the_exchange_in_the_request_survives_a_receiver_that_raises(serve):
    p = serve(WECOM_EXCHANGE_IN_BACKGROUND=False)

    def boom(sender, **kwargs):
        raise RuntimeError("bug in a receiver")

    with signals.corp_authorized.connected_to(boom, sender=p.app):
        assert p.authorize().success
    assert p.state.store.get_corp(p.fake.corp.auth_corp_id).active


# -- AuthCodes that could not be exchanged at once ------------------------------------------------


def test_an_auth_code_before_any_ticket_is_exchanged_when_the_ticket_arrives(provider):
    """Fresh install: the admin scans before WeCom's first ticket push. Nothing is lost, no manual step."""
    fake, state = provider.fake, provider.state
    failed = []
    with signals.auth_code_failed.connected_to(lambda sender, **kw: failed.append(kw), sender=provider.app):
        assert fake.authorize(provider.callback).success
        provider.wait()
    record = state.store.recent_auth_codes(1)[0]
    assert record.status == "pending" and "刷新Ticket" in record.error and not failed
    assert state.store.list_corps() == []
    assert fake.push_suite_ticket(provider.callback).success
    provider.wait()
    assert state.store.get_corp(fake.corp.auth_corp_id).active
    assert state.store.recent_auth_codes(1)[0].status == "done"


def test_wecom_unreachable_keeps_the_code_for_flask_wecom_exchange(provider):
    fake, state = provider.fake, provider.state
    fake.push_suite_ticket(provider.callback)
    fake.drop("/cgi-bin/service/get_permanent_code")  # the connection dies without an answer
    assert fake.authorize(provider.callback).success
    provider.wait()
    assert state.store.recent_auth_codes(1)[0].status == "pending"
    result = provider.app.test_cli_runner().invoke(args=["wecom", "exchange"])
    assert result.exit_code == 0, result.output
    assert fake.corp.auth_corp_id in result.output
    assert state.store.get_corp(fake.corp.auth_corp_id).active


def test_a_crash_mid_exchange_is_recovered_by_exchange_stuck(provider):
    """The process claimed the AuthCode and died before WeCom answered: once its lease has run out,
    `--stuck` takes it over at once (the sweep would within WECOM_SWEEP_INTERVAL)."""
    fake, state = provider.fake, provider.state
    fake.push_suite_ticket(provider.callback)
    code_id, _ = state.store.record_auth_code(fake.suite.suite_id, "create_auth", _fresh_auth_code(fake))
    assert state.store.claim_auth_code(code_id)  # ...and then the worker was killed
    runner = provider.app.test_cli_runner()
    fresh = runner.invoke(args=["wecom", "exchange", "--stuck"])
    assert "no pending" in fresh.output  # too recent: a live worker may still hold it
    from flask_wecom.store import auth_codes

    with state.store.engine.begin() as conn:  # the lease ran out: nobody renewed it
        conn.execute(auth_codes.update().values(lease_until=time.time() - 1))
    plain = runner.invoke(args=["wecom", "exchange"])
    assert "rerun with --stuck" in plain.output and not state.store.list_corps()
    stuck = runner.invoke(args=["wecom", "exchange", "--stuck"])
    assert stuck.exit_code == 0 and fake.corp.auth_corp_id in stuck.output, stuck.output
    assert state.store.get_corp(fake.corp.auth_corp_id).active
    assert len(fake.calls_to("/cgi-bin/service/get_permanent_code")) == 1


def test_a_malformed_get_permanent_code_answer_fails_the_code_not_the_callback(serve):
    p = serve(WECOM_EXCHANGE_IN_BACKGROUND=False)
    fake = p.fake
    fake.push_suite_ticket(p.callback)
    original = type(fake.model).get_permanent_code

    def no_corp(model, *args, **kwargs):
        data = original(model, *args, **kwargs)
        data.pop("auth_corp_info", None)
        return data

    fake.model.get_permanent_code = lambda *a, **kw: no_corp(fake.model, *a, **kw)
    assert fake.authorize(p.callback).success
    record = p.state.store.recent_auth_codes(1)[0]
    assert record.status == "failed" and "corpid" in record.error


# -- secrets in logs --------------------------------------------------------------------------------


def test_no_secret_in_any_log_line_at_debug(provider, caplog):
    """authorize → token → reset → change → contact event → failed exchange → cancel, all logged at DEBUG."""
    caplog.set_level(logging.DEBUG)
    fake, state, app = provider.fake, provider.state, provider.app
    assert fake.verify_callback_url(provider.callback)
    first = provider.authorize()
    corp_id = fake.corp.auth_corp_id
    codes = [fake.corp.permanent_code]
    with app.app_context():
        tokens = [state.provider.corp_token(corp_id).get(), state.provider.suite_token().get()]
    second = fake.reset_secret(provider.callback)
    provider.wait()
    codes.append(fake.corp.permanent_code)
    with app.app_context():
        tokens.append(state.provider.corp_token(corp_id).get())
    fake.change_auth(provider.callback)
    provider.wait()
    fake.push_change_contact(provider.data_callback)
    fake.fail("/cgi-bin/service/get_permanent_code", 40078)
    third = fake.reset_secret(provider.callback)
    provider.wait()
    assert fake.cancel_auth(provider.callback).success
    provider.app.test_cli_runner().invoke(args=["wecom", "status"])

    secrets = {
        "suite_secret": fake.suite.suite_secret, "aes_key": fake.suite.encoding_aes_key,
        "token": fake.suite.token, "provider_secret": fake.provider.secret,
        **{f"permanent_code{i}": c for i, c in enumerate(codes)},
        **{f"access_token{i}": t for i, t in enumerate(tokens)},
        **{f"suite_ticket{i}": t for i, (t, _) in enumerate(fake.suite.tickets)},
        **{f"auth_code{i}": r.auth_code for i, r in enumerate((first, second, third))},
    }
    assert all(secrets.values()) and len(caplog.records) > 20
    # every logger: ours, urllib3's request lines, werkzeug's and the simulator's own request log
    leaks = [(name, r.name, r.getMessage()[:120]) for r in caplog.records for name, value in secrets.items()
             if value in r.getMessage() or value in (r.exc_text or "")]
    assert not leaks, leaks


# -- what is refused before anything is processed, and what goes on after ------------------------------------------


def test_an_app_without_callback_settings_answers_404(fake, tmp_path):
    """A self-built app that set no WECOM_TOKEN / WECOM_ENCODING_AES_KEY has no callback: 404 and why."""
    app = Flask("no_callback_app", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config(fake, tmp_path, "internal"))
    WeCom(app)
    assert not app.config["WECOM_TOKEN"] and not app.config["WECOM_ENCODING_AES_KEY"]
    answer = app.test_client().post("/wecom/callback?msg_signature=a&timestamp=1&nonce=1", data=b"<xml/>")
    assert answer.status_code == 404 and "WECOM_TOKEN" in answer.get_data(as_text=True)


def test_the_apps_own_max_content_length_gives_werkzeugs_413(serve):
    """MAX_CONTENT_LENGTH below WECOM_CALLBACK_MAX_BODY: Flask's own 413 goes through, not a 503."""
    p = serve(MAX_CONTENT_LENGTH=100)
    params, body = _signed(p.fake, _ticket_fields(p.fake))
    assert len(body.encode()) > 100
    answer = requests.post(p.callback, params=params, data=body.encode(), timeout=10)
    assert answer.status_code == 413
    assert p.state.store.get_suite_ticket(p.fake.suite.suite_id) is None


def test_a_signed_body_that_does_not_decrypt_is_400(provider):
    """The signature is right (whoever made it has the Token) but the ciphertext is not WeCom's."""
    fake, suite = provider.fake, provider.fake.suite
    encrypt = "A" * 43 + "="  # valid base64, not a whole AES block
    ts, nonce = str(int(time.time())), "42"
    params = {"msg_signature": signature(suite.token, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
    body = to_xml({"ToUserName": suite.suite_id, "Encrypt": encrypt, "AgentID": ""})
    answer = requests.post(provider.callback, params=params, data=body.encode(), timeout=10)
    assert answer.status_code == 400 and "WECOM_ENCODING_AES_KEY" in answer.text
    assert provider.state.store.get_suite_ticket(fake.suite.suite_id) is None


def test_a_decrypted_message_that_is_not_xml_is_400(provider):
    suite = provider.fake.suite
    crypto = MessageCrypto(suite.token, suite.encoding_aes_key, None)
    encrypt = crypto.encrypt("SuiteTicket=T-1&InfoType=suite_ticket", receive_id=suite.suite_id)
    ts, nonce = str(int(time.time())), "43"
    params = {"msg_signature": signature(suite.token, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
    body = to_xml({"ToUserName": suite.suite_id, "Encrypt": encrypt, "AgentID": ""})
    answer = requests.post(provider.callback, params=params, data=body.encode(), timeout=10)
    assert answer.status_code == 400 and "decrypted message is not acceptable XML" in answer.text
    assert provider.state.store.get_suite_ticket(suite.suite_id) is None


def test_a_message_without_infotype_on_the_template_url_reaches_the_handlers_once(provider):
    """Not an instruction (no InfoType): nothing changes in the store, the app's handlers see it, once."""
    fake, state = provider.fake, provider.state
    seen = []
    state.ext.on("enter_agent")(lambda event: seen.append(event.get("FromUserName")))
    fields = {"ToUserName": fake.suite.suite_id, "FromUserName": "zhangsan", "CreateTime": 1700000002,
              "MsgType": "event", "Event": "enter_agent", "AgentID": "1"}
    params, body = _signed(fake, fields)
    for _ in range(2):  # the second is a replay of the same delivery
        answer = requests.post(provider.callback, params=params, data=body.encode(), timeout=10)
        assert answer.status_code == 200 and answer.text == "success"
    assert seen == ["zhangsan"]
    assert state.store.get_suite_ticket(fake.suite.suite_id) is None and state.store.list_corps() == []


def test_a_template_event_neither_stored_nor_spooled_answers_503_and_the_retry_is_applied(provider, monkeypatch):
    """The store fails and the spool folder cannot be written: a 503 is all that is left (no event is
    answered `success` and then lost); the next delivery, with both back, is applied."""
    fake, state = provider.fake, provider.state
    _down_once(monkeypatch, state.store, "save_suite_ticket", "wecom_suite_ticket")
    blocker = os.path.join(os.path.dirname(state.spool.directory), "not-a-folder")
    open(blocker, "w").close()
    real_directory = state.spool.directory
    state.spool.directory = os.path.join(blocker, "wecom-spool")  # a folder under a file: the disk refuses
    params, body = _signed(fake, _ticket_fields(fake, "T-lost?"))
    first = requests.post(provider.callback, params=params, data=body.encode(), timeout=10)
    assert first.status_code == 503 and first.text != "success"
    state.spool.directory = real_directory
    params, body = _signed(fake, _ticket_fields(fake, "T-lost?"), nonce="777")  # WeCom's next delivery
    assert requests.post(provider.callback, params=params, data=body.encode(), timeout=10).text == "success"
    assert state.store.get_suite_ticket(fake.suite.suite_id)[0] == "T-lost?"


def test_change_auth_with_wecom_failing_still_signals_without_a_corp(provider, caplog):
    fake, app = provider.fake, provider.app
    provider.authorize()
    changed = []
    for path in ("/cgi-bin/service/get_auth_info", "/cgi-bin/service/v2/get_auth_info"):
        fake.fail(path, 48002, times=None)  # API forbidden: not a token error, nothing to retry
    with signals.corp_auth_changed.connected_to(lambda sender, **kw: changed.append(kw), sender=app):
        assert fake.change_auth(provider.callback).success
        provider.wait()
    assert len(changed) == 1 and changed[0]["corp_id"] == fake.corp.auth_corp_id and changed[0]["corp"] is None
    assert "could not refresh auth info" in caplog.text and "48002" in caplog.text
    assert provider.state.store.get_corp(fake.corp.auth_corp_id).active  # the authorization is kept


def test_an_exchange_that_cannot_be_started_is_left_for_flask_wecom_exchange(provider):
    """The background pool refuses work (the process is shutting down): the create_auth is stored and
    answered `success`, the AuthCode waits as pending, and `flask wecom exchange` completes it."""
    fake, state = provider.fake, provider.state
    assert fake.push_suite_ticket(provider.callback).success
    provider.wait()
    state.run_in_background(lambda: None).result(10)
    state._executor.shutdown()
    try:
        assert fake.authorize(provider.callback).success
        record = state.store.recent_auth_codes(1)[0]
        assert record.status == "pending" and not state.store.list_corps()
    finally:
        state._executor = None  # a fresh pool for what follows
    result = provider.app.test_cli_runner().invoke(args=["wecom", "exchange"])
    assert result.exit_code == 0 and fake.corp.auth_corp_id in result.output, result.output
    assert state.store.get_corp(fake.corp.auth_corp_id).active


def test_the_store_failing_at_the_claim_leaves_the_auth_code_pending(serve, monkeypatch, caplog):
    p = serve(WECOM_EXCHANGE_IN_BACKGROUND=False)
    fake, state = p.fake, p.state
    assert fake.push_suite_ticket(p.callback).success
    _down_once(monkeypatch, state.store, "lease_auth_code", "wecom_auth_code")
    assert fake.authorize(p.callback).success  # recorded: the answer does not depend on the exchange
    assert "exchanging AuthCode" in caplog.text and "flask wecom exchange" in caplog.text
    assert state.store.recent_auth_codes(1)[0].status == "pending"
    assert not fake.calls_to("/cgi-bin/service/v2/get_permanent_code")
    result = p.app.test_cli_runner().invoke(args=["wecom", "exchange"])
    assert result.exit_code == 0 and state.store.get_corp(fake.corp.auth_corp_id).active, result.output


def test_a_refused_exchange_with_the_store_down_sends_no_failed_signal_and_no_500(serve, monkeypatch, caplog):
    """WeCom refuses the code (40078) and the store cannot be read to see its state: logged, no signal
    (the sweep comes back to it), `success` all the same."""
    p = serve(WECOM_EXCHANGE_IN_BACKGROUND=False)
    fake, state = p.fake, p.state
    assert fake.push_suite_ticket(p.callback).success
    for path in ("/cgi-bin/service/get_permanent_code", "/cgi-bin/service/v2/get_permanent_code"):
        fake.fail(path, 40078)
    real_exchange = state.provider.exchange_auth_code

    def exchange_then_store_down(*args, **kwargs):  # the database goes away right after WeCom's refusal
        corp = real_exchange(*args, **kwargs)
        _down_once(monkeypatch, state.store, "get_auth_code", "wecom_auth_code")
        return corp

    monkeypatch.setattr(state.provider, "exchange_auth_code", exchange_then_store_down)
    failed = []
    with signals.auth_code_failed.connected_to(lambda sender, **kw: failed.append(kw), sender=p.app):
        assert fake.authorize(p.callback).success
    assert failed == [] and "cannot read its state (OperationalError)" in caplog.text
    assert state.store.recent_auth_codes(1)[0].status == "failed"


def test_change_auth_with_the_store_failing_still_signals_without_a_corp(provider, monkeypatch, caplog):
    fake, app, state = provider.fake, provider.app, provider.state
    provider.authorize()
    _down_once(monkeypatch, state.store, "save_corp", "wecom_corp")
    changed = []
    with signals.corp_auth_changed.connected_to(lambda sender, **kw: changed.append(kw), sender=app):
        assert fake.change_auth(provider.callback).success
        provider.wait()
    assert [(c["corp_id"], c["corp"]) for c in changed] == [(fake.corp.auth_corp_id, None)]
    assert "could not refresh auth info" in caplog.text
    assert state.store.get_corp(fake.corp.auth_corp_id).active
