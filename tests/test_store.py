"""The durable store against SQLite and (in CI) the real PostgreSQL on 127.0.0.1:5432."""
from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from conftest import FrozenClock

from flask_wecom.errors import CorpNotFoundError
from flask_wecom.secretbox import SecretBox, SecretBoxError
from flask_wecom.store import Store, metadata

PERMANENT_CODE = "perm-Secret-Code-0123456789abcdefXYZ"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    clock = FrozenClock()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/wecom.sqlite3"
        s = Store(url, SecretBox("test-secret-key-0123456789"), clock=clock)
    else:
        base = request.getfixturevalue("postgres_url")
        schema = "t_" + uuid.uuid4().hex[:12]
        engine = sa.create_engine(base)
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        s = Store(base, SecretBox("test-secret-key-0123456789"), clock=clock,
                  engine_options={"connect_args": {"options": f"-csearch_path={schema}"}})
        request.addfinalizer(lambda: _drop_schema(base, schema, s))
    s.clock = clock
    yield s
    s.dispose()


def _drop_schema(url, schema, store):
    store.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


def test_tables_created_on_first_use(store):
    assert store.get_corp("nobody") is None
    inspector = sa.inspect(store.engine)
    assert {t.name for t in metadata.sorted_tables} <= set(inspector.get_table_names())


def test_suite_ticket_latest_wins_per_suite(store):
    store.save_suite_ticket("dkSuiteA", "ticket-1", received_at=100)
    store.save_suite_ticket("dkSuiteA", "ticket-2", received_at=200)
    store.save_suite_ticket("dkSuiteB", "other", received_at=150)
    assert store.get_suite_ticket("dkSuiteA") == ("ticket-2", 200)
    assert store.get_suite_ticket("dkSuiteB") == ("other", 150)
    assert store.get_suite_ticket("dkNone") is None


def test_secrets_are_sealed_at_rest(store):
    store.save_corp("wwCaseSensitiveCorpID", permanent_code=PERMANENT_CODE, agent_id=1000002, corp_name="测试企业")
    store.save_suite_ticket("dkSuite", "TICKET-plain-text-value")
    store.record_auth_code("dkSuite", "create_auth", "AUTHCODE-plain-value")
    with store.engine.connect() as conn:
        dump = " ".join(str(row) for table in metadata.sorted_tables
                        for row in conn.execute(sa.select(table)).all())
    assert "wwCaseSensitiveCorpID" in dump  # ids are not secret
    for secret in (PERMANENT_CODE, "TICKET-plain-text-value", "AUTHCODE-plain-value"):
        assert secret not in dump
    assert store.get_permanent_code("wwCaseSensitiveCorpID") == PERMANENT_CODE


def test_corp_id_case_is_preserved(store):
    store.save_corp("wwAbC", permanent_code="one")
    store.save_corp("wwabc", permanent_code="two")
    assert store.get_permanent_code("wwAbC") == "one"
    assert store.get_permanent_code("wwabc") == "two"
    assert {c.corp_id for c in store.list_corps()} == {"wwAbC", "wwabc"}


def test_wrong_store_key_is_a_clear_error(tmp_path):
    url = f"sqlite:///{tmp_path}/keys.sqlite3"
    Store(url, SecretBox("the-original-key-0123")).save_corp("wwX", permanent_code=PERMANENT_CODE)
    other = Store(url, SecretBox("another-key-entirely-xx"))
    with pytest.raises(SecretBoxError) as info:
        other.get_permanent_code("wwX")
    assert PERMANENT_CODE not in str(info.value)
    other.dispose()


def test_auth_code_recorded_once_and_claimed_once(store):
    first, created = store.record_auth_code("dkS", "create_auth", "CODE-1", state="st")
    again, created_again = store.record_auth_code("dkS", "create_auth", "CODE-1", state="st")
    assert created and not created_again and first == again
    assert [r.id for r in store.pending_auth_codes()] == [first]

    winners = []

    def claim():
        code = store.claim_auth_code(first)
        if code is not None:
            winners.append(code)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert winners == ["CODE-1"]
    store.finish_auth_code(first, corp_id="wwC")
    record = store.get_auth_code(first)
    assert record.status == "done" and record.corp_id == "wwC"
    assert store.claim_auth_code(first) is None  # consumed, and the code itself is wiped
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("select auth_code from wecom_auth_code")).scalar() is None


def test_pending_auth_codes_expire_after_ten_minutes(store):
    store.record_auth_code("dkS", "create_auth", "OLD")
    store.clock.now += 601
    assert store.pending_auth_codes() == []


def test_revoke_drops_the_secret_and_require_corp_refuses(store):
    store.save_corp("wwR", permanent_code=PERMANENT_CODE, agent_id="1")
    assert store.require_corp("wwR").active
    assert store.revoke_corp("wwR")
    corp = store.get_corp("wwR")
    assert corp.status == "revoked" and not corp.has_secret and not corp.active
    with pytest.raises(CorpNotFoundError):
        store.get_permanent_code("wwR")
    with pytest.raises(CorpNotFoundError):
        store.require_corp("wwR")
    assert store.delete_corp("wwR") and store.get_corp("wwR") is None


def test_save_corp_keeps_fields_not_given(store):
    store.save_corp("wwK", permanent_code="p1", corp_name="甲公司", agent_id=7, auth_info={"state": "s"})
    store.save_corp("wwK", corp_name="乙公司")
    corp = store.get_corp("wwK")
    assert corp.corp_name == "乙公司" and corp.agent_id == "7" and corp.auth_info == {"state": "s"}
    assert store.get_permanent_code("wwK") == "p1"


def test_first_seen_detects_replays(store):
    assert store.first_seen("sig", "nonce")
    assert not store.first_seen("sig", "nonce")
    assert store.first_seen("sig", "nonce2")
    assert store.first_seen("content", "nonce")  # another namespace, another mark
    store.clock.now += 7200  # old entries are pruned
    assert store.first_seen("sig", "nonce")


def test_secretbox_round_trip_and_tamper():
    box = SecretBox("k" * 32)
    sealed = box.seal("秘密 secret")
    assert sealed.startswith("v1:") and "secret" not in sealed
    assert box.open(sealed) == "秘密 secret"
    assert box.seal("x") != box.seal("x")  # fresh nonce each time
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SecretBoxError):
        box.open(tampered)
    with pytest.raises(SecretBoxError):
        box.open("not sealed")
    assert "k" * 8 not in repr(box)


def test_a_code_left_exchanging_is_reclaimed_only_when_asked_and_old_enough(store):
    code_id, _ = store.record_auth_code("dkS", "create_auth", "CODE-STUCK")
    assert store.claim_auth_code(code_id) == "CODE-STUCK"  # the claiming process dies here
    assert store.pending_auth_codes() == []
    assert store.claim_auth_code(code_id) is None
    assert store.claim_auth_code(code_id, reclaim_after=120) is None  # a live exchanger may hold it
    assert store.pending_auth_codes(stuck_after=120) == []
    store.clock.now += 121
    assert [r.id for r in store.pending_auth_codes(stuck_after=120)] == [code_id]
    assert store.claim_auth_code(code_id, reclaim_after=120) == "CODE-STUCK"
    store.finish_auth_code(code_id, error="no ticket", retry=True)  # kept pending, code kept
    assert [r.id for r in store.pending_auth_codes()] == [code_id]
    store.finish_auth_code(code_id, corp_id="wwC")
    assert store.claim_auth_code(code_id, reclaim_after=0) is None  # done and wiped: never again


def test_concurrent_first_saves_of_one_corp_do_not_fail(store):
    errors = []

    def save(i):
        try:
            store.save_corp("wwRace", permanent_code=f"code-{i}", agent_id=i)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.get_permanent_code("wwRace").startswith("code-")
    assert [c.corp_id for c in store.list_corps()] == ["wwRace"]
