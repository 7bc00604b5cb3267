"""What a template callback does per delivery (issue 12, target 2): pinned here, timed only by
bench/bench_callback.py.

One transaction with the replay mark and the ticket (the AuthCodes waiting for a ticket are read in it only
when this process knows some may wait); no prune and no spool-folder read per request; the ticket sealed by
the cached GCM path, which is the library's GCM.
"""
from __future__ import annotations

import base64
import os
import re
import threading
import time

import pytest
import sqlalchemy as sa
from Crypto.Cipher import AES
from flask import Flask
from provider_app import SECRET_KEY

import flask_wecom.secretbox as secretbox
from flask_wecom import WeCom
from flask_wecom.secretbox import SecretBox
from flask_wecom.testing.pushes import post_event


@pytest.fixture
def app(fake, tmp_path):
    """The default store: SQLite in the instance folder."""
    app = Flask("costs", instance_path=str(tmp_path / "instance"))
    app.config.update(fake.flask_config(), SECRET_KEY=SECRET_KEY)
    WeCom(app)

    @app.route("/bare")
    def bare() -> str:
        return "ok"

    yield app
    WeCom.state(app).store.dispose()


def _statements(engine, into: list) -> None:
    """Record ``INSERT wecom_delivery``, ``SELECT wecom_auth_code``…, and ``COMMIT``, in order: those of this
    thread (the test client's requests), not the sweeper's or a background exchange's."""
    me = threading.get_ident()

    def record(conn, cursor, statement, *args) -> None:
        if threading.get_ident() != me:
            return
        found = re.match(r"\s*(INSERT INTO|UPDATE|DELETE FROM|SELECT\b.*?\bFROM)\s+(\w+)", statement, re.S | re.I)
        into.append(f"{found.group(1).split()[0].upper()} {found.group(2)}" if found else statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    sa.event.listen(engine, "commit", lambda conn: into.append("COMMIT") if threading.get_ident() == me else None)


TICKET_DELIVERY = ["INSERT wecom_delivery", "UPDATE wecom_suite_ticket", "COMMIT"]


def test_a_ticket_delivery_is_one_transaction_of_two_statements(app, fake):
    client = app.test_client()
    state = WeCom.state(app)
    # the first: schema check, the first prune, and the read of AuthCodes recorded before the suite's first ticket
    assert fake.push_suite_ticket(client).success
    seen: list = []
    _statements(state.store.engine, seen)
    for _ in range(3):
        assert fake.push_suite_ticket(client).success
    assert seen == TICKET_DELIVERY * 3
    assert state.store.get_suite_ticket(fake.suite.suite_id)[0] == fake.suite.ticket


def test_an_auth_code_waiting_for_the_ticket_is_read_in_the_tickets_transaction(app, fake):
    """A create_auth before any ticket: the next ticket's own transaction finds the code, which is exchanged."""
    client = app.test_client()
    state = WeCom.state(app)
    with fake.model.lock:
        _, code = fake.model.create_authorization(None, "")
    suite = fake.suite
    fields = {"SuiteId": suite.suite_id, "AuthCode": code, "InfoType": "create_auth", "TimeStamp": int(time.time()),
              "State": ""}
    assert post_event("/wecom/callback", fields, token=suite.token, encoding_aes_key=suite.encoding_aes_key,
                      receive_id=suite.suite_id, to_user_name=suite.suite_id, timestamp=int(time.time()),
                      client=client).success
    assert state.wait_background(30)
    record = state.store.recent_auth_codes(1)[0]
    assert record.status == "pending" and "刷新Ticket" in record.error  # no ticket yet: kept
    seen: list = []
    _statements(state.store.engine, seen)
    assert fake.push_suite_ticket(client).success
    assert state.wait_background(30)
    # the suite's first ticket: the UPDATE finds no row, so it is inserted; the code is read before the commit
    assert seen[:5] == ["INSERT wecom_delivery", "UPDATE wecom_suite_ticket", "INSERT wecom_suite_ticket",
                        "SELECT wecom_auth_code", "COMMIT"]
    assert state.store.get_corp(fake.corp.auth_corp_id).active
    assert state.store.recent_auth_codes(1)[0].status == "done"


def test_a_code_another_process_recorded_before_the_first_ticket_is_exchanged_when_it_arrives(app, fake, tmp_path):
    """Fresh install, several workers: the create_auth reached another worker before WeCom's first ticket; that
    first ticket, stored here, reads the waiting code in its transaction and exchanges it."""
    from flask_wecom.store import Store

    client = app.test_client()
    state = WeCom.state(app)
    assert state.store.auth_codes_waiting_for_ticket() == []  # this process has read: it knows of nothing
    other = Store("sqlite:///" + str(tmp_path / "instance" / "wecom.sqlite3"), SecretBox(SECRET_KEY))
    with fake.model.lock:
        _, code = fake.model.create_authorization(None, "")
    code_id, _ = other.record_auth_code(fake.suite.suite_id, "create_auth", code)
    other.finish_auth_code(code_id, error="no suite_ticket yet", retry=True)
    other.dispose()
    seen: list = []
    _statements(state.store.engine, seen)
    assert fake.push_suite_ticket(client).success
    assert state.wait_background(30)
    # the process's first delivery also prunes old replay marks
    assert seen[:6] == ["DELETE wecom_delivery", "INSERT wecom_delivery", "UPDATE wecom_suite_ticket",
                        "INSERT wecom_suite_ticket", "SELECT wecom_auth_code", "COMMIT"]
    assert state.store.get_corp(fake.corp.auth_corp_id).active


def test_a_code_another_process_left_waiting_is_exchanged_by_the_sweep(app, fake, tmp_path):
    """A code that another process recorded and put back to pending (its exchange failed) after this process's
    last read: the next ticket here does not read it (this process cannot know of it); the sweep exchanges it,
    within WECOM_EXCHANGE_LEASE + WECOM_SWEEP_INTERVAL."""
    from flask_wecom.recovery import sweep
    from flask_wecom.store import Store

    client = app.test_client()
    state = WeCom.state(app)
    assert fake.push_suite_ticket(client).success  # this process has read: nothing waits
    other = Store("sqlite:///" + str(tmp_path / "instance" / "wecom.sqlite3"), SecretBox(SECRET_KEY))
    with fake.model.lock:
        _, code = fake.model.create_authorization(None, "")
    code_id, _ = other.record_auth_code(fake.suite.suite_id, "create_auth", code, received_at=time.time() - 60)
    other.finish_auth_code(code_id, error="WeCom unreachable", retry=True)
    other.dispose()
    seen: list = []
    _statements(state.store.engine, seen)
    assert fake.push_suite_ticket(client).success
    assert seen == TICKET_DELIVERY and state.store.get_corp(fake.corp.auth_corp_id) is None
    with app.app_context():
        assert sweep(state)["exchanged"] == 1
    assert state.store.get_corp(fake.corp.auth_corp_id).active


def test_the_spool_folder_is_not_read_on_every_request(app, monkeypatch):
    state = WeCom.state(app)
    client = app.test_client()
    client.get("/bare")
    reads = []
    real = state.spool.has_entries
    monkeypatch.setattr(state.spool, "has_entries", lambda: reads.append(1) or real())
    for _ in range(20):
        assert client.get("/bare").data == b"ok"
    assert len(reads) <= 1  # at most once a second per process
    before = len(reads)
    state.spool.put("event", {"plaintext": "<xml/>", "msg_signature": "s", "nonce": "n"})
    client.get("/bare")  # spooled by this process: looked at on the next request, not a second later
    assert len(reads) == before + 1
    assert state.wait_background(10)


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 64, 1000])
def test_sealing_is_the_layout_pycryptodome_reads(size):
    """What the box seals (cryptography's AESGCM) is exactly what pycryptodome's AES.new(MODE_GCM) reads,
    i.e. what 0.1.0 wrote and reads, and the other way round."""
    box = SecretBox("k" * 32)
    plaintext = ("企" * size)[:size] if size % 2 else "t" * size
    sealed = box.seal(plaintext)
    raw = base64.b64decode(sealed[len("v1:"):])
    nonce, ciphertext, tag = raw[:12], raw[12:-16], raw[-16:]
    opened = AES.new(box._key, AES.MODE_GCM, nonce=nonce).decrypt_and_verify(ciphertext, tag)
    assert opened.decode("utf-8") == plaintext and box.open(sealed) == plaintext
    assert box.seal(plaintext) != sealed  # a fresh nonce each time
    nonce = os.urandom(12)
    ciphertext, tag = AES.new(box._key, AES.MODE_GCM, nonce=nonce).encrypt_and_digest(plaintext.encode())
    assert box.open("v1:" + base64.b64encode(nonce + ciphertext + tag).decode()) == plaintext


def test_a_tampered_or_truncated_seal_is_refused():
    box = SecretBox("k" * 32)
    raw = bytearray(base64.b64decode(box.seal("ticket")[3:]))
    raw[-1] ^= 1
    for bad in ("v1:" + base64.b64encode(bytes(raw)).decode(), "v1:" + base64.b64encode(b"short").decode(), "v1:!!",
                "v0:abc"):
        with pytest.raises(secretbox.SecretBoxError):
            box.open(bad)
