"""`flask wecom status|corps|secret|forget|exchange` against a provider app fed by FakeWeCom."""
from __future__ import annotations


def _secrets(fake):
    return [fake.suite.suite_secret, fake.suite.encoding_aes_key, fake.corp.permanent_code]


def test_status_before_and_after_authorization(provider):
    runner = provider.app.test_cli_runner()
    result = runner.invoke(args=["wecom", "status"])
    assert result.exit_code == 0, result.output
    assert "mode:            customized" in result.output
    assert "suite ticket:    never" in result.output
    assert "none yet" in result.output and "FileSystemCache" in result.output

    provider.authorize()
    with provider.app.app_context():
        provider.state.provider.corp_token(provider.fake.corp.auth_corp_id).get()
    result = runner.invoke(args=["wecom", "status"])
    assert result.exit_code == 0
    out = result.output
    assert "s ago" in out and provider.fake.corp.auth_corp_id in out and provider.fake.corp.name in out
    assert "1 active" in out and "cached, expires" in out
    for secret in _secrets(provider.fake):
        assert secret not in out


def test_corps_secret_and_forget(provider):
    provider.authorize()
    corp_id = provider.fake.corp.auth_corp_id
    runner = provider.app.test_cli_runner()
    corps = runner.invoke(args=["wecom", "corps"])
    assert corp_id in corps.output and provider.fake.corp.permanent_code not in corps.output

    secret = runner.invoke(args=["wecom", "secret", corp_id])
    assert secret.exit_code == 0
    # the code is the last line of stdout; the warning goes to stderr (click < 8.2 mixes them into stdout)
    assert secret.stdout.strip().splitlines()[-1] == provider.fake.corp.permanent_code
    assert "Keep it secret" in secret.output

    missing = runner.invoke(args=["wecom", "secret", "wwUnknown"])
    assert missing.exit_code != 0 and "wwUnknown" in missing.output

    refused = runner.invoke(args=["wecom", "forget", corp_id], input="n\n")
    assert refused.exit_code != 0 and provider.state.store.get_corp(corp_id) is not None
    forgot = runner.invoke(args=["wecom", "forget", corp_id, "--yes"])
    assert forgot.exit_code == 0 and provider.state.store.get_corp(corp_id) is None


def test_exchange_picks_up_codes_left_pending(provider, tmp_path):
    """If the process died between recording an AuthCode and exchanging it, `flask wecom exchange` finishes."""
    fake, state = provider.fake, provider.state
    fake.push_suite_ticket(provider.callback)
    with fake.model.lock:
        _, code = fake.model.create_authorization(None, "")
    state.store.record_auth_code(fake.suite.suite_id, "create_auth", code)
    runner = provider.app.test_cli_runner()
    result = runner.invoke(args=["wecom", "exchange"])
    assert result.exit_code == 0, result.output
    assert fake.corp.auth_corp_id in result.output
    assert state.store.get_corp(fake.corp.auth_corp_id).active
    assert "no pending" in runner.invoke(args=["wecom", "exchange"]).output
