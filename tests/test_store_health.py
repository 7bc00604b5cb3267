"""Operators can see the store: ``flask wecom status`` shows the schema revision, the spool's waiting and failed
entries and AuthCode claims; the doctor's ``store`` row warns when the spool has failed entries, the schema is
behind or a claim lapsed, and fails when the database cannot be reached — each with the fix."""
from __future__ import annotations

import os
import time
from types import SimpleNamespace

import sqlalchemy as sa
from doctor_support import make_app, row

from flask_wecom import WeCom, schema
from flask_wecom.doctor import DoctorContext, check_store
from flask_wecom.doctor_flask import run_doctor
from flask_wecom.secretbox import SecretBox
from flask_wecom.spool import Spool
from flask_wecom.store import Store
from flask_wecom.testing import FakeWeCom

UNREACHABLE = "postgresql+psycopg2://nobody@127.0.0.1:9/none"


def _status(app) -> str:
    result = app.test_cli_runner().invoke(args=["wecom", "status"])
    assert "Traceback" not in result.output, result.output
    return result.output


def _line(output: str, name: str) -> str:
    found = [line for line in output.splitlines() if line.startswith(name + ":")]
    assert len(found) == 1, output
    return found[0][len(name) + 1:].strip()


def _fail_one_spool_entry(state) -> str:
    """A spooled entry that cannot be opened (sealed with another key): the claim sets it aside in failed/."""
    stranger = Spool(state.spool.directory, SecretBox("another-store-key-0123456789abcdef"))
    name = stranger.put("event", {"plaintext": "<xml/>"})
    with state.spool.claim(name) as entry:
        assert entry is None
    return name


def test_status_and_doctor_show_schema_spool_and_auth_codes(tmp_path):
    fake = FakeWeCom()
    with fake.serve():
        app = make_app(fake, tmp_path, WECOM_SWEEP_INTERVAL=0)
        state = WeCom.state(app)
        output = _status(app)
        assert _line(output, "schema") == f"{schema.HEAD} (up to date)"
        assert _line(output, "spool") == f"0 waiting, 0 failed  ({state.spool.directory})"
        assert _line(output, "AuthCodes") == "0 pending, 0 exchanging, 0 with an expired lease"
        assert row(run_doctor(app), "store").status == "ok"

        # one event waiting for the store, one set aside, a claim whose worker died, one that lapsed
        waiting = state.spool.put("event", {"plaintext": "<xml/>"})
        failed = _fail_one_spool_entry(state)
        store = state.store
        dead, _ = store.record_auth_code(fake.suite.suite_id, "create_auth", "auth-code-of-a-dead-worker")
        assert store.lease_auth_code(dead, lease=-1) is not None  # its lease ran out
        old, _ = store.record_auth_code(fake.suite.suite_id, "create_auth", "auth-code-long-ago",
                                        received_at=time.time() - 700)
        assert store.lease_auth_code(old) is not None
        output = _status(app)
        assert _line(output, "spool") == (f"1 waiting, 1 failed  ({state.spool.directory}) — see `flask wecom "
                                          "doctor`")
        auth_codes = _line(output, "AuthCodes")
        assert auth_codes.startswith("0 pending, 1 exchanging, 1 with an expired lease (taken over by the next ")
        assert "`flask wecom exchange --stuck`" in auth_codes and "1 lapsed" in auth_codes

        with state.spool.claim(waiting):  # handled (the doctor's own requests would replay it)
            pass
        result = row(run_doctor(app), "store")
        assert result.status == "warn" and result.step == 9
        folder = os.path.join(state.spool.directory, "failed")
        assert f"1 spooled item(s) could not be applied and were set aside in {folder}" in result.finding
        assert "本地队列有 1 项无法处理" in result.finding
        assert "1 AuthCode(s) were claimed over 10 minutes ago" in result.finding
        assert "WECOM_STORE_KEY" in result.fix and "move the file back" in result.fix and "移回" in result.fix
        assert "flask wecom corps" in result.fix
        assert any(d.startswith("spool: 0 waiting, 1 failed") for d in result.details)
        assert os.listdir(folder) == [failed + ".spool"]


def test_doctor_and_status_say_when_the_schema_is_behind(tmp_path):
    fake = FakeWeCom()
    with fake.serve():
        app = make_app(fake, tmp_path, WECOM_SWEEP_INTERVAL=0)
        state = WeCom.state(app)
        with state.store.engine.begin() as conn:  # as if this flask-wecom were newer than the database
            conn.execute(sa.text("UPDATE wecom_alembic_version SET version_num = :rev"),
                         {"rev": schema.REVISIONS[-2]})
        assert _line(_status(app), "schema") == (f"{schema.REVISIONS[-2]}, behind {schema.HEAD}: run "
                                                 "`flask wecom db upgrade`")
        result = row(run_doctor(app), "store")
        assert result.status == "warn"
        assert f"the schema is at {schema.REVISIONS[-2]}, behind {schema.HEAD}" in result.finding
        assert "run `flask wecom db upgrade` (as a deploy step" in result.fix and "运行 `flask wecom db upgrade`" in result.fix
        assert app.test_cli_runner().invoke(args=["wecom", "db", "upgrade"]).exit_code == 0
        assert row(run_doctor(app), "store").status == "ok"


def test_the_store_row_fails_when_the_database_cannot_be_reached(tmp_path):
    store = Store(UNREACHABLE, SecretBox("store-health-key-0123456789abcdef"))
    try:
        provider = SimpleNamespace(store=store, spool=Spool(str(tmp_path / "spool"), store.secret_box))
        (result,) = check_store(DoctorContext(config={}, app_type="customized", provider=provider, client=None))
    finally:
        store.dispose()
    assert (result.id, result.status, result.step) == ("store", "fail", 9)
    assert "the store's database cannot be reached: OperationalError" in result.finding
    assert "WECOM_DATABASE_URI" in result.fix and "数据库" in result.fix
    assert "schema: unavailable (OperationalError" in result.details[0]


def test_status_with_the_database_down_prints_what_it_can(fake_wecom, tmp_path):
    app = make_app(fake_wecom, tmp_path, "internal", WECOM_DATABASE_URI=UNREACHABLE)
    result = app.test_cli_runner().invoke(args=["wecom", "status"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert _line(result.output, "schema").startswith("unavailable (OperationalError")
    assert _line(result.output, "authorized corps").startswith("unavailable (OperationalError")


def test_events_spooled_before_the_upgrade_wait_for_it_instead_of_failing(tmp_path):
    """WECOM_AUTO_UPGRADE=False and the workers start before `flask wecom db upgrade`: template events are spooled
    (the store refuses an out-of-date schema) and stay waiting — not set aside in failed/ — until the upgrade."""
    fake = FakeWeCom()
    with fake.serve():
        app = make_app(fake, tmp_path, provision=False, WECOM_SWEEP_INTERVAL=0, WECOM_AUTO_UPGRADE=False)
        state = WeCom.state(app)
        client = app.test_client()
        assert fake.push_suite_ticket("http://localhost/wecom/callback", client=client).success
        assert len(state.spool) == 1
        from flask_wecom.recovery import replay_spool

        with app.app_context():
            assert replay_spool(state) == 0
        assert len(state.spool) == 1 and state.spool.failed_names() == []
        output = _status(app)
        assert _line(output, "schema") == f"empty (空数据库), behind {schema.HEAD}: run `flask wecom db upgrade`"
        assert _line(output, "spool").startswith("1 waiting, 0 failed")
        assert app.test_cli_runner().invoke(args=["wecom", "db", "upgrade"]).exit_code == 0
        with app.app_context():
            assert replay_spool(state) == 1
        assert state.store.get_suite_ticket(fake.suite.suite_id)[0] == fake.suite.ticket
