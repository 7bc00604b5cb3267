"""Helpers for tests/test_doctor*.py: a Flask app wired to a served FakeWeCom, provisioned through the
real callback route, and the secrets that must never show up in the doctor's output."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Set

from flask import Flask
from provider_app import app_config

from flask_wecom import WeCom
from flask_wecom.doctor import CheckResult

#: the public base URL of the app under test; the fake's trusted domain is its host
PUBLIC_URL = "https://app.example.com"
HOST = "app.example.com"
CALLBACK = PUBLIC_URL + "/wecom/callback"


def make_app(fake, tmp_path, mode: str = "customized", *, provision: bool = True, **config: Any) -> Flask:
    """A Flask app pointed at ``fake`` (served). For ``customized`` / ``third_party`` the suite ticket and
    the authorization arrive through the real callback view (``provision=True``)."""
    app = Flask("doctor_test_app", instance_path=str(tmp_path / "instance"))
    app.config.update(app_config(fake, tmp_path, mode), WECOM_EXCHANGE_IN_BACKGROUND=False,
                      WECOM_PUBLIC_URL=PUBLIC_URL)
    app.config.update(config)
    WeCom(app)
    if mode != "internal" and provision:
        push_ticket(app, fake)
        authorize(app, fake)
    return app


def push_ticket(app: Flask, fake) -> None:
    result = fake.push_suite_ticket(CALLBACK, client=app.test_client())
    assert result.success, result.text
    if fake.suite.is_third_party:  # the 登录授权 suite's ticket (third-party web login) comes to the same URL
        result = fake.push_login_suite_ticket(CALLBACK, client=app.test_client())
        assert result.success, result.text


def authorize(app: Flask, fake, corp=None) -> None:
    result = fake.authorize(CALLBACK, client=app.test_client(), corp=corp)
    assert result.success, result.text
    assert WeCom.state(app).wait_background(timeout=30)


def console_of(fake) -> Dict[str, str]:
    """What is entered in the (fake) WeCom console: check 2 signs with these, as WeCom would."""
    suite = fake.suite
    return {"WECOM_TOKEN": suite.token, "WECOM_ENCODING_AES_KEY": suite.encoding_aes_key,
            "WECOM_PROVIDER_CORP_ID": suite.provider_corp_id}


def set_agent_answer(fake, **overrides: Any) -> None:
    """Override fields of the fake's ``agent/get`` answer.

    Only for ``close=1``: a disabled app's ``gettoken`` already fails with 50003 (in WeCom as in the
    simulator), so agent/get's ``close`` flag is never reached through the simulator's switch; this
    checks that the doctor still reads the flag right if WeCom ever answers it.
    """
    model = fake.model
    original = type(model).agent_get

    def agent_get(token: str, agentid: str, ip: str) -> Dict[str, Any]:
        out = original(model, token, agentid, ip)
        for key, value in overrides.items():
            if key in out or key == "close":
                out[key] = value
        return out

    model.agent_get = agent_get


def secrets_of(fake) -> Set[str]:
    """Every secret the fake handed out: suite secret, AES key, Token, permanent codes, tokens, tickets."""
    values: Set[str] = {fake.suite.suite_secret, fake.suite.encoding_aes_key, fake.suite.token,
                        fake.provider.secret}
    for corp in fake.corps:
        values.add(corp.secret)
        auth = corp.authorization
        if auth is not None:
            values.add(auth.permanent_code)
            values.update(auth.retired_codes)
    model = fake.model
    values.update(model._access_tokens)
    values.update(model._suite_tokens)
    values.update(model._provider_tokens)
    values.update(ticket for ticket, _ in fake.suite.tickets)
    return {v for v in values if v}


def assert_no_secret(text: str, fake, extra: Iterable[str] = ()) -> None:
    leaked = [v[:4] + "…" for v in set(secrets_of(fake)) | set(extra) if v and v in text]
    assert not leaked, f"secrets in the output: {leaked}"


def rows(results: List[CheckResult], id: str, corp_id: Optional[str] = None) -> List[CheckResult]:
    return [r for r in results if r.id == id and (corp_id is None or r.corp_id == corp_id)]


def row(results: List[CheckResult], id: str, corp_id: Optional[str] = None) -> CheckResult:
    found = rows(results, id, corp_id)
    assert len(found) == 1, f"expected one {id!r} row, got {[(r.id, r.status) for r in found]}"
    return found[0]


def statuses(results: List[CheckResult]) -> List[tuple]:
    return [(r.id, r.status) for r in results]


def describe(results: List[CheckResult]) -> str:
    return "\n".join(f"{r.symbol} {r.id} {r.title}: {r.finding} -> {r.fix}" for r in results)
