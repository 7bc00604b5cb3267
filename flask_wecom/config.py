"""Every ``WECOM_*`` setting with its default, in one place.

README.rst's configuration table is written from this module; keep them in step.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping

#: key -> (default, one-line meaning). Defaults are never mutated at runtime.
SETTINGS: Dict[str, tuple] = {
    "WECOM_APP_TYPE": (None, "`internal` (自建), `customized` (代开发) or `third_party`; inferred when unset"),
    "WECOM_CORP_ID": (None, "customer corp id; for 代开发 known after authorization (case-sensitive)"),
    "WECOM_AGENT_ID": (None, "the app's agent id"),
    "WECOM_SECRET": (None, "self-built app secret, or a 代开发 permanent code you already have"),
    "WECOM_SUITE_ID": (None, "代开发 template id (`dk…`) or third-party suite id"),
    "WECOM_SUITE_SECRET": (None, "template / suite secret"),
    "WECOM_PROVIDER_CORP_ID": (None, "the service provider's own corp id (receiveid of URL verification)"),
    "WECOM_PROVIDER_SECRET": (None, "provider secret (optional): lets `flask wecom doctor` read the licence trial"),
    "WECOM_TOKEN": (None, "callback Token (≤ 32 letters/digits)"),
    "WECOM_ENCODING_AES_KEY": (None, "callback EncodingAESKey (43 letters/digits)"),
    "WECOM_API_BASE": ("https://qyapi.weixin.qq.com", "WeCom server API base URL (point at a simulator in tests)"),
    "WECOM_OAUTH_AUTHORIZE_URL": (
        "https://open.weixin.qq.com/connect/oauth2/authorize",
        "in-client OAuth2 authorize URL",
    ),
    "WECOM_SSO_LOGIN_URL": (
        "https://login.work.weixin.qq.com/wwlogin/sso/login",
        "web / QR login URL for ordinary browsers",
    ),
    "WECOM_SCOPE": ("snsapi_privateinfo", "OAuth scope: `snsapi_privateinfo` (email, avatar…) or `snsapi_base`"),
    "WECOM_DATABASE_URI": (None, "SQLAlchemy URL of the durable store; default sqlite in the instance folder"),
    "WECOM_STORE_KEY": (None, "key for encrypting secrets at rest; default derived from SECRET_KEY"),
    "WECOM_CACHE_TYPE": ("FileSystemCache", "Flask-Caching backend for tokens (shared by the workers of one host)"),
    "WECOM_CACHE_DIR": (None, "FileSystemCache folder; default `<instance>/wecom-cache`"),
    "WECOM_CACHE_REDIS_URL": (None, "Redis URL when WECOM_CACHE_TYPE is RedisCache"),
    "WECOM_CACHE_KEY_PREFIX": ("wecom:", "prefix of every token cache key"),
    "WECOM_TOKEN_MARGIN": (300, "seconds before WeCom's expiry at which a cached token is dropped"),
    "WECOM_TOKEN_REFRESH_AHEAD": (600, "seconds before that point at which one request refreshes in the background"),
    "WECOM_HTTP_TIMEOUT": ((5.0, 10.0), "(connect, read) timeout in seconds for WeCom API calls"),
    "WECOM_HTTP_RETRIES": (3, "retries for connection errors and HTTP 5xx (urllib3 Retry, with backoff)"),
    "WECOM_BUSY_RETRIES": (3, "retries when WeCom answers -1 (系统繁忙) or 45009 (rate limit)"),
    "WECOM_URL_PREFIX": ("/wecom", "prefix of the blueprint's routes"),
    "WECOM_CALLBACK_MAX_AGE": (300, "callbacks whose timestamp is further than this from now (s) are refused"),
    "WECOM_CALLBACK_MAX_BODY": (256 * 1024, "largest callback body accepted (bytes); larger gets 413"),
    "WECOM_EXCHANGE_IN_BACKGROUND": (True, "exchange AuthCodes in a thread after answering `success`"),
    "WECOM_LOGIN_VIA": ("auto", "`auto` (OAuth inside the WeCom client, QR login elsewhere), `oauth` or `qr`"),
    "WECOM_STATE_MAX_AGE": (600, "seconds an OAuth state stays valid"),
    "WECOM_LOGIN_VIEW_NEXT": ("/", "where to go after login when no `next` is given"),
    "WECOM_PUBLIC_URL": (None, "public base URL (https://…) used in redirect URIs behind a proxy"),
    "WECOM_FLASK_LOGIN": (True, "with Flask-Login in the app, also log the `user_loader`'s user in there"),
}

DEFAULTS: Dict[str, Any] = {key: default for key, (default, _) in SETTINGS.items()}

SETTINGS.update({
    "WECOM_DATA_TOKEN": (None, "Token of the app (数据) callback URL when it differs from WECOM_TOKEN"),
    "WECOM_DATA_ENCODING_AES_KEY": (None, "EncodingAESKey of the app callback URL when it differs"),
    "WECOM_CHECK_CONFIG": (
        True,
        "refuse to start on a missing or malformed key (set False to let `flask wecom doctor` report instead)",
    ),
})
DEFAULTS.update({key: SETTINGS[key][0] for key in ("WECOM_DATA_TOKEN", "WECOM_DATA_ENCODING_AES_KEY",
                                                     "WECOM_CHECK_CONFIG")})

_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")
_TOKEN = re.compile(r"^[A-Za-z0-9]{1,32}$")
_DEFAULT_SECRET_KEYS = {"dev", "secret", "changeme", "change-me", "development", "your-secret-key", "secret-key"}


#: settings read as whole numbers (seconds, bytes or counts)
_NON_NEGATIVE_INTS = ("WECOM_HTTP_RETRIES", "WECOM_BUSY_RETRIES", "WECOM_TOKEN_MARGIN", "WECOM_TOKEN_REFRESH_AHEAD",
                      "WECOM_CALLBACK_MAX_AGE", "WECOM_CALLBACK_MAX_BODY", "WECOM_STATE_MAX_AGE")


def _is_non_negative_int(value: Any) -> bool:
    try:
        return int(str(value).strip()) >= 0 and str(value).strip().lstrip("+").isdigit()
    except ValueError:
        return False


def with_whole_numbers(config: Mapping[str, Any]) -> Dict[str, Any]:
    """A copy with the whole-number settings as ints; a malformed one falls back to its default (and is
    reported by :func:`validate_config`), so an app started with WECOM_CHECK_CONFIG=False still runs."""
    result = dict(config)
    for key in _NON_NEGATIVE_INTS:
        value = result.get(key)
        ok = not isinstance(value, bool) and _is_non_negative_int(value)
        result[key] = int(str(value).strip()) if ok else DEFAULTS[key]
    return result


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the configuration, with the fix (中文 / English)."""

    key: str
    problem: str
    fix: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        return f"{self.key}: {self.problem} — {self.fix}"


def required_keys(app_type: str, config: Mapping[str, Any]) -> List[str]:
    """The keys an app type cannot work without (wecom-api.md §0)."""
    if app_type == "internal":
        return ["WECOM_CORP_ID", "WECOM_SECRET", "WECOM_AGENT_ID"]
    keys = ["WECOM_SUITE_ID", "WECOM_SUITE_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY"]
    if app_type == "customized" and config.get("WECOM_SECRET") and config.get("WECOM_CORP_ID"):
        # A 代开发 user who already holds the permanent code runs like a self-built app.
        return ["WECOM_CORP_ID", "WECOM_SECRET", "WECOM_AGENT_ID"]
    return keys


def validate_config(config: Mapping[str, Any], app_type: str, *, secret_key: Any = None) -> List[ConfigProblem]:
    """Every problem with the ``WECOM_*`` settings, formats first; framework-free (used by init_app and the doctor)."""
    problems: List[ConfigProblem] = []
    for key in required_keys(app_type, config):
        if not config.get(key):
            problems.append(ConfigProblem(key, f"is required for WECOM_APP_TYPE={app_type!r}",
                                          f"设置 {key} / set {key} (see README configuration table)"))
    for key in ("WECOM_ENCODING_AES_KEY", "WECOM_DATA_ENCODING_AES_KEY"):
        value = config.get(key)
        if value and not _AES_KEY.match(str(value)):
            problems.append(ConfigProblem(
                key, f"must be exactly 43 letters/digits (got {len(str(value))} characters)",
                "从企业微信后台回调配置处复制完整的 EncodingAESKey / copy the whole EncodingAESKey from the console"))
    for key in ("WECOM_TOKEN", "WECOM_DATA_TOKEN"):
        value = config.get(key)
        if value and not _TOKEN.match(str(value)):
            problems.append(ConfigProblem(key, "must be 1–32 letters/digits",
                                          "Token 由英文或数字组成且不超过32位 / Token is ≤ 32 letters and digits"))
    agent_id = config.get("WECOM_AGENT_ID")
    if agent_id not in (None, "") and not str(agent_id).isdigit():
        problems.append(ConfigProblem("WECOM_AGENT_ID", f"must be numeric (got {agent_id!r})",
                                      "AgentId 是应用详情页里的数字 / the AgentId is the number on the app page"))
    suite_id = config.get("WECOM_SUITE_ID") or ""
    if app_type == "customized" and suite_id and not suite_id.startswith("dk"):
        problems.append(ConfigProblem("WECOM_SUITE_ID", f"代开发 template ids start with 'dk' (got {suite_id[:4]!r}…)",
                                      "使用代开发模板ID（dk开头），不是第三方应用的 suite_id / use the template id"))
    if app_type == "third_party" and suite_id.startswith("dk"):
        problems.append(ConfigProblem("WECOM_APP_TYPE",
                                      "a 'dk…' suite id is a 代开发 template, not a third-party suite",
                                      "set WECOM_APP_TYPE=customized (or leave it unset)"))
    if app_type in ("customized", "third_party") and not config.get("WECOM_PROVIDER_CORP_ID"):
        problems.append(ConfigProblem(
            "WECOM_PROVIDER_CORP_ID", "is not set: WeCom signs URL verification with the provider's corp id",
            "在服务商管理后台「应用开发-通用开发参数」复制 CorpID / copy it from the provider console",
            severity="warning"))
    if not secret_key or str(secret_key).lower() in _DEFAULT_SECRET_KEYS or len(str(secret_key)) < 16:
        problems.append(ConfigProblem(
            "SECRET_KEY", "is missing, a well-known default, or shorter than 16 characters",
            "生成随机密钥：python -c 'import secrets; print(secrets.token_hex(32))' / set a random SECRET_KEY",
            severity="error" if not secret_key else "warning"))
    for key in _NON_NEGATIVE_INTS:
        value = config.get(key)
        if isinstance(value, bool) or not _is_non_negative_int(value):
            problems.append(ConfigProblem(key, f"must be a whole number ≥ 0 (got {value!r})",
                                          f"设为非负整数 / set {key} to a whole number, e.g. {DEFAULTS[key]}"))
    scope = config.get("WECOM_SCOPE")
    if scope and scope not in ("snsapi_base", "snsapi_privateinfo"):
        problems.append(ConfigProblem("WECOM_SCOPE", f"must be snsapi_base or snsapi_privateinfo (got {scope!r})",
                                      "snsapi_privateinfo 才能拿到邮箱头像 / use snsapi_privateinfo for email"))
    return problems
