"""Configuration defaults and validation (every problem names its key and the fix)."""
from __future__ import annotations

import pytest
from flask import Flask

from flask_wecom import WeCom
from flask_wecom.config import DEFAULTS, SETTINGS, validate_config
from flask_wecom.errors import ConfigError
from flask_wecom.provider import infer_app_type

AES_KEY = "a" * 43
GOOD_SECRET = "0123456789abcdef0123456789abcdef"


def test_every_setting_has_a_default_and_meaning():
    assert set(DEFAULTS) == set(SETTINGS)
    for key, (_, meaning) in SETTINGS.items():
        assert key.startswith("WECOM_") and meaning


@pytest.mark.parametrize("config,expected", [
    ({}, "internal"),
    ({"WECOM_SUITE_ID": "dk123"}, "customized"),
    ({"WECOM_SUITE_ID": "ww123"}, "third_party"),
    ({"WECOM_SUITE_ID": "dk123", "WECOM_APP_TYPE": "customized"}, "customized"),
])
def test_app_type_inferred(config, expected):
    assert infer_app_type(config) == expected


def test_bad_app_type_named():
    with pytest.raises(ConfigError, match="WECOM_APP_TYPE"):
        infer_app_type({"WECOM_APP_TYPE": "selfbuilt"})


def _keys(problems):
    return {p.key for p in problems}


def test_internal_requires_corp_secret_agent():
    problems = validate_config(DEFAULTS, "internal", secret_key=GOOD_SECRET)
    assert _keys(problems) == {"WECOM_CORP_ID", "WECOM_SECRET", "WECOM_AGENT_ID"}


def test_customized_requires_suite_and_callback_settings():
    problems = validate_config(DEFAULTS, "customized", secret_key=GOOD_SECRET)
    errors = {p.key for p in problems if p.severity == "error"}
    assert errors == {"WECOM_SUITE_ID", "WECOM_SUITE_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY"}
    assert "WECOM_PROVIDER_CORP_ID" in {p.key for p in problems if p.severity == "warning"}


def test_customized_with_known_permanent_code_runs_like_self_built():
    config = dict(DEFAULTS, WECOM_CORP_ID="wwC", WECOM_SECRET="perm", WECOM_AGENT_ID="1000002",
                  WECOM_SUITE_ID="dkS")
    assert [p for p in validate_config(config, "customized", secret_key=GOOD_SECRET)
            if p.severity == "error"] == []


@pytest.mark.parametrize("key,value", [
    ("WECOM_ENCODING_AES_KEY", "a" * 42),
    ("WECOM_ENCODING_AES_KEY", "a" * 42 + "="),
    ("WECOM_TOKEN", "t" * 33),
    ("WECOM_TOKEN", "has space"),
    ("WECOM_AGENT_ID", "10000x"),
    ("WECOM_SCOPE", "snsapi_userinfo"),
])
def test_malformed_values_named(key, value):
    config = dict(DEFAULTS, WECOM_CORP_ID="wwC", WECOM_SECRET="s", WECOM_AGENT_ID="1")
    config[key] = value
    problems = validate_config(config, "internal", secret_key=GOOD_SECRET)
    assert key in _keys(problems)
    assert all(p.fix for p in problems)


def test_template_id_must_start_with_dk():
    config = dict(DEFAULTS, WECOM_SUITE_ID="ww1", WECOM_SUITE_SECRET="s", WECOM_TOKEN="t",
                  WECOM_ENCODING_AES_KEY=AES_KEY, WECOM_PROVIDER_CORP_ID="wwP")
    assert "WECOM_SUITE_ID" in _keys(validate_config(config, "customized", secret_key=GOOD_SECRET))


@pytest.mark.parametrize("secret_key,severity", [(None, "error"), ("dev", "warning"), ("short", "warning")])
def test_secret_key_checked(secret_key, severity):
    config = dict(DEFAULTS, WECOM_CORP_ID="wwC", WECOM_SECRET="s", WECOM_AGENT_ID="1")
    problems = [p for p in validate_config(config, "internal", secret_key=secret_key) if p.key == "SECRET_KEY"]
    assert problems and problems[0].severity == severity


def test_init_app_refuses_incomplete_config_with_every_key_named(tmp_path):
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY=GOOD_SECRET, WECOM_SUITE_ID="dkSuite")
    with pytest.raises(ConfigError) as info:
        WeCom(app)
    for key in ("WECOM_SUITE_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY"):
        assert key in str(info.value)


def test_init_app_can_defer_to_the_doctor(tmp_path):
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY=GOOD_SECRET, WECOM_CHECK_CONFIG=False)
    WeCom(app)
    assert {p.key for p in app.extensions["wecom"].config_problems} >= {"WECOM_CORP_ID"}


def test_options_are_defaults_and_config_wins(tmp_path):
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY=GOOD_SECRET, WECOM_AGENT_ID="1000002")
    WeCom(app, corp_id="wwOpt", secret="s3cr3t", agent_id="9")
    assert app.config["WECOM_CORP_ID"] == "wwOpt"
    assert app.config["WECOM_AGENT_ID"] == "1000002"


def test_unknown_option_and_double_registration(tmp_path):
    with pytest.raises(TypeError, match="corpid"):
        WeCom(corpid="x")
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY=GOOD_SECRET, WECOM_CORP_ID="w", WECOM_SECRET="s", WECOM_AGENT_ID="1")
    wecom = WeCom(app)
    with pytest.raises(RuntimeError, match="already registered"):
        wecom.init_app(app)


@pytest.mark.parametrize("key,value", [("WECOM_HTTP_RETRIES", "three"), ("WECOM_TOKEN_MARGIN", -5),
                                       ("WECOM_CALLBACK_MAX_AGE", "5m"), ("WECOM_BUSY_RETRIES", True)])
def test_whole_number_settings_are_checked(tmp_path, key, value):
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY=GOOD_SECRET, WECOM_CORP_ID="w", WECOM_SECRET="s", WECOM_AGENT_ID="1")
    app.config[key] = value
    with pytest.raises(ConfigError, match=key):
        WeCom(app)
    # with the check deferred to the doctor the app still starts, on the default
    other = Flask(__name__, instance_path=str(tmp_path))
    other.config.update(app.config, WECOM_CHECK_CONFIG=False)
    WeCom(other)
    state = other.extensions["wecom"]
    assert state.config[key] == DEFAULTS[key] and key in {p.key for p in state.config_problems}


def test_whole_numbers_given_as_strings_work(tmp_path):
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY=GOOD_SECRET, WECOM_CORP_ID="w", WECOM_SECRET="s", WECOM_AGENT_ID="1",
                      WECOM_HTTP_RETRIES="2", WECOM_HTTP_TIMEOUT=7)
    WeCom(app)
    assert app.extensions["wecom"].config["WECOM_HTTP_RETRIES"] == 2
