"""Every ``WECOM_*`` setting with its default, in one place.

README.rst's configuration table is written from this module; keep them in step.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Tuple, cast

from . import console

# AppType and its values live in the leaf flask_wecom.app_types; named here too (explicit re-exports)
from .app_types import APP_TYPES as APP_TYPES
from .app_types import CUSTOMIZED as CUSTOMIZED
from .app_types import INTERNAL as INTERNAL
from .app_types import THIRD_PARTY as THIRD_PARTY
from .app_types import AppType as AppType
from .errors import ConfigError

#: key -> (default, one-line meaning). Defaults are never mutated at runtime.
SETTINGS: Dict[str, Tuple[Any, str]] = {
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
    "WECOM_HTTP_TIMEOUT": (
        (5.0, 10.0),
        "(connect, read) timeout in seconds for WeCom API calls; get_permanent_code (the AuthCode exchange, "
        "documented as slow) reads for at least 30 s",
    ),
    "WECOM_HTTP_RETRIES": (3, "retries for connection errors and HTTP 5xx (urllib3 Retry, with backoff)"),
    "WECOM_BUSY_RETRIES": (3, "retries when WeCom answers -1 (系统繁忙); 45009 (rate limit) is never retried"),
    "WECOM_URL_PREFIX": ("/wecom", "prefix of the blueprint's routes"),
    "WECOM_CALLBACK_MAX_AGE": (300, "callbacks whose timestamp is further than this from now (s) are refused"),
    "WECOM_CALLBACK_MAX_BODY": (256 * 1024, "largest callback body accepted (bytes); larger gets 413"),
    "WECOM_EXCHANGE_IN_BACKGROUND": (True, "exchange AuthCodes in a thread after answering `success`"),
    "WECOM_LOGIN_VIA": ("auto", "`auto` (OAuth inside the WeCom client, QR login elsewhere), `oauth` or `qr`"),
    "WECOM_STATE_MAX_AGE": (600, "seconds an OAuth state stays valid"),
    "WECOM_LOGIN_VIEW_NEXT": ("/", "where to go after login when no `next` is given"),
    "WECOM_PUBLIC_URL": (None, "public base URL (`https://your.domain`, no port) of the login redirect URI and "
                               "callback URLs; its host is the trusted domain (可信域名)"),
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

# Third-party apps (developer.work.weixin.qq.com/document/path/98171, 98179, 90597, 90601, 90602).
SETTINGS.update({
    "WECOM_LOGIN_SUITE_ID": (
        None,
        "third-party web login: the provider's 登录授权 SuiteID (服务商管理后台 → 应用管理 → 登录授权); "
        "its suite_ticket arrives on the template callback URL",
    ),
    "WECOM_LOGIN_SUITE_SECRET": (None, "the 登录授权 app's Secret (its suite token consumes web-login codes)"),
    "WECOM_INSTALL_AUTH_TYPE": (
        0,
        "third-party installs started from your site (`/wecom/install`): 0 正式授权, 1 测试授权 (unreleased app)",
    ),
    "WECOM_INSTALL_URL": (
        "https://open.work.weixin.qq.com/3rdapp/install",
        "WeCom's install page for third-party installs started from your site (point at a simulator in tests)",
    ),
})
DEFAULTS.update({key: SETTINGS[key][0] for key in ("WECOM_LOGIN_SUITE_ID", "WECOM_LOGIN_SUITE_SECRET",
                                                     "WECOM_INSTALL_AUTH_TYPE", "WECOM_INSTALL_URL")})

# The store's schema (flask_wecom/schema.py, versioned by Alembic).
SETTINGS["WECOM_AUTO_UPGRADE"] = (
    True,
    "create or upgrade flask-wecom's tables on first use, one process at a time; False: you run "
    "`flask wecom db upgrade` (or your own Alembic) and the store refuses an out-of-date schema",
)
DEFAULTS["WECOM_AUTO_UPGRADE"] = SETTINGS["WECOM_AUTO_UPGRADE"][0]

# The store's engine (flask_wecom.dbguard).
SETTINGS["WECOM_DATABASE_OPTIONS"] = (
    None,
    "keyword arguments of the store's `sqlalchemy.create_engine` (a dict, or that dict as JSON); flask-wecom adds "
    "2 s connect timeouts, PostgreSQL `statement_timeout` 5 s / `lock_timeout` 3 s and PyMySQL 8 s read/write "
    "timeouts inside `connect_args` unless given here",
)
DEFAULTS["WECOM_DATABASE_OPTIONS"] = None
SETTINGS["WECOM_DATABASE_COOLDOWN"] = (
    5,
    "seconds the store stops asking a PostgreSQL/MySQL database that failed to connect twice in a row (down or "
    "frozen): pages answer 503 and template events are spooled at once instead of each request waiting for the "
    "connect timeout; then it asks again; 0 = always ask",
)
DEFAULTS["WECOM_DATABASE_COOLDOWN"] = SETTINGS["WECOM_DATABASE_COOLDOWN"][0]


def database_options(config: Mapping[str, Any]) -> Dict[str, Any]:
    """``WECOM_DATABASE_OPTIONS`` as a dict (JSON text from the environment is parsed); {} when unset or
    malformed (:func:`validate_config` reports that)."""
    value = config.get("WECOM_DATABASE_OPTIONS")
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else None
        except ValueError:
            return {}
    return dict(value) if isinstance(value, Mapping) else {}


def _database_options_problems(config: Mapping[str, Any]) -> List[ConfigProblem]:
    value = config.get("WECOM_DATABASE_OPTIONS")
    if value is None or isinstance(value, Mapping) or (isinstance(value, str) and not value.strip()):
        return []
    if isinstance(value, str):
        try:
            if isinstance(json.loads(value), Mapping):
                return []
        except ValueError:
            pass
    return [ConfigProblem(
        "WECOM_DATABASE_OPTIONS", f"must be a dict of create_engine arguments (got {type(value).__name__})",
        "设为字典（或 JSON 对象），例如 {\"pool_size\": 10, \"connect_args\": {\"connect_timeout\": 5}} / set a dict "
        "(or a JSON object), e.g. {\"pool_size\": 10, \"connect_args\": {\"connect_timeout\": 5}}")]

# Extra options of the token cache backend (flask_wecom.cacheguard).
SETTINGS["WECOM_CACHE_OPTIONS"] = (
    None,
    "extra keyword arguments of the cache backend (Flask-Caching's CACHE_OPTIONS); for Redis flask-wecom "
    "sets 0.5 s connect and read timeouts and no client-side retries unless given here",
)
DEFAULTS["WECOM_CACHE_OPTIONS"] = None

# The session cookie (flask_wecom/cookies.py).
SETTINGS["WECOM_HARDEN_SESSION_COOKIE"] = (
    True,
    "session cookie `Secure` when served over HTTPS (WECOM_PUBLIC_URL https or a secure request) and "
    "`SameSite=Lax` unless the app set SESSION_COOKIE_SAMESITE; False leaves Flask's settings alone",
)
DEFAULTS["WECOM_HARDEN_SESSION_COOKIE"] = SETTINGS["WECOM_HARDEN_SESSION_COOKIE"][0]

# Durability: AuthCode leases and the per-process sweeper (flask_wecom.recovery).
SETTINGS.update({
    "WECOM_EXCHANGE_LEASE": (
        30,
        "seconds an AuthCode claim lasts without progress (renewed while exchanging); then another worker "
        "takes the code over",
    ),
    "WECOM_SWEEP_INTERVAL": (
        10,
        "seconds between sweeps in each worker (replay the spool, take over expired AuthCode claims); 0 = off",
    ),
})
DEFAULTS.update({key: SETTINGS[key][0] for key in ("WECOM_EXCHANGE_LEASE", "WECOM_SWEEP_INTERVAL")})

# The OpenID Connect hub in front of WeCom (flask_wecom.hub).
SETTINGS.update({
    "WECOM_HUB_ISSUER": (
        None,
        "turns the OIDC hub on: its issuer URL (`https://login.example.com/wecom/oidc`) on the host the app is "
        "served on; the routes live under its path",
    ),
    "WECOM_HUB_CLIENTS": (
        None,
        "the hub's relying parties: a list of `{client_id, client_secret (absent: public, PKCE), redirect_uris, "
        "name, corps, post_logout_redirect_uris}` (or that list as JSON)",
    ),
    "WECOM_HUB_SIGNING_KEY": (
        None,
        "PEM RSA private key for the hub's RS256 id_tokens; default: one generated once and kept sealed in the store",
    ),
    "WECOM_HUB_SESSION_DAYS": (
        7,
        "days the hub keeps a member signed in after a WeCom sign-in (other tools then need no WeCom round "
        "trip); 0 = no hub session (a tool's sign-in reuses only a WeCom sign-in of the last 2 minutes)",
    ),
})
DEFAULTS.update({key: SETTINGS[key][0] for key in ("WECOM_HUB_ISSUER", "WECOM_HUB_CLIENTS", "WECOM_HUB_SIGNING_KEY",
                                                     "WECOM_HUB_SESSION_DAYS")})


_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")
_TOKEN = re.compile(r"^[A-Za-z0-9]{1,32}$")
_DEFAULT_SECRET_KEYS = {"dev", "secret", "changeme", "change-me", "development", "your-secret-key", "secret-key"}


#: settings read as whole numbers (seconds, bytes or counts)
_NON_NEGATIVE_INTS = ("WECOM_HTTP_RETRIES", "WECOM_BUSY_RETRIES", "WECOM_TOKEN_MARGIN", "WECOM_TOKEN_REFRESH_AHEAD",
                      "WECOM_CALLBACK_MAX_AGE", "WECOM_CALLBACK_MAX_BODY", "WECOM_STATE_MAX_AGE",
                      "WECOM_EXCHANGE_LEASE", "WECOM_SWEEP_INTERVAL", "WECOM_DATABASE_COOLDOWN")


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


def required_keys(app_type: AppType, config: Mapping[str, Any]) -> List[str]:
    """The keys an app type cannot work without (doc 97159)."""
    if app_type == INTERNAL:
        return ["WECOM_CORP_ID", "WECOM_SECRET", "WECOM_AGENT_ID"]
    keys = ["WECOM_SUITE_ID", "WECOM_SUITE_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY"]
    if app_type == CUSTOMIZED and config.get("WECOM_SECRET") and config.get("WECOM_CORP_ID"):
        # A 代开发 user who already holds the permanent code runs like a self-built app.
        return ["WECOM_CORP_ID", "WECOM_SECRET", "WECOM_AGENT_ID"]
    return keys


def infer_app_type(config: Mapping[str, Any], *, strict: bool = True) -> AppType:
    """``WECOM_APP_TYPE`` if set, else from the keys: a ``dk…`` suite id is 代开发 (template ids start with
    ``dk``, developer.work.weixin.qq.com/document/path/97162), another suite id third-party, no suite
    self-built. Key sets that fit two app types are reported by :func:`app_type_problems`.

    ``strict=False`` infers from the keys past an impossible ``WECOM_APP_TYPE`` instead of raising
    (``WECOM_CHECK_CONFIG=False``: the doctor reports it)."""
    explicit = config.get("WECOM_APP_TYPE")
    if explicit and (strict or explicit in APP_TYPES):
        if explicit not in APP_TYPES:
            raise ConfigError(f"WECOM_APP_TYPE must be one of {', '.join(APP_TYPES)}, not {explicit!r}")
        return cast(AppType, explicit)  # one of APP_TYPES, checked just above
    suite_id = str(config.get("WECOM_SUITE_ID") or "")
    if not suite_id:
        return INTERNAL
    return CUSTOMIZED if suite_id.startswith("dk") else THIRD_PARTY


def _looks_encrypted_corp_id(corp_id: Any) -> bool:
    # 代开发 installs since 2022 see the provider-level encrypted corp id (developer.work.weixin.qq.com/
    # document/path/97104); those start with "wp", plaintext corp ids with "ww"/"wx".
    return str(corp_id or "").startswith("wp")


def app_type_problems(config: Mapping[str, Any]) -> List[ConfigProblem]:
    """Settings whose app type cannot be told apart, or that contradict ``WECOM_APP_TYPE``.

    ``WECOM_CORP_ID`` + ``WECOM_AGENT_ID`` + ``WECOM_SECRET`` are the keys of a self-built app *and* of a
    代开发 app whose permanent code you hold; the two differ in what WeCom does (URL verification for the
    provider's corp id, the provider's IP whitelist), so a sign of 代开发 without ``WECOM_APP_TYPE`` is
    refused rather than guessed.
    """
    problems: List[ConfigProblem] = []
    explicit = config.get("WECOM_APP_TYPE")
    suite_id = config.get("WECOM_SUITE_ID")
    if explicit and explicit not in APP_TYPES:
        problems.append(ConfigProblem(
            "WECOM_APP_TYPE", f"must be internal, customized or third_party (got {explicit!r})",
            "自建应用 internal，代开发 customized，第三方应用 third_party；不设则按其它设置推断 / internal for a "
            "self-built app, customized for 代开发, third_party for a third-party app; unset, it is inferred"))
    if not explicit and not suite_id and config.get("WECOM_SECRET"):
        signs = []
        if config.get("WECOM_PROVIDER_CORP_ID"):
            signs.append("WECOM_PROVIDER_CORP_ID is set")
        if _looks_encrypted_corp_id(config.get("WECOM_CORP_ID")):
            signs.append("WECOM_CORP_ID is an encrypted (wp…) corp id")
        if signs:
            problems.append(ConfigProblem(
                "WECOM_APP_TYPE",
                "cannot tell a self-built app from a 代开发 app whose permanent code is in WECOM_SECRET ("
                + "; ".join(signs) + ")",
                "代开发应用（WECOM_SECRET 为永久授权码）请设 WECOM_APP_TYPE=customized；自建应用请设 "
                "WECOM_APP_TYPE=internal 并去掉 WECOM_PROVIDER_CORP_ID / set WECOM_APP_TYPE=customized for a "
                "代开发 app whose permanent code is WECOM_SECRET, or WECOM_APP_TYPE=internal for a self-built app"))
    if explicit == INTERNAL and suite_id:
        problems.append(ConfigProblem(
            "WECOM_APP_TYPE", "is internal (自建), but WECOM_SUITE_ID is set: a self-built app has no suite",
            "代开发请设 WECOM_APP_TYPE=customized，第三方应用设 third_party；自建应用去掉 WECOM_SUITE_ID / "
            "set WECOM_APP_TYPE=customized (代开发) or third_party, or remove WECOM_SUITE_ID"))
    app_type = explicit if explicit in APP_TYPES else infer_app_type({"WECOM_SUITE_ID": suite_id})
    if app_type == THIRD_PARTY and config.get("WECOM_SECRET"):
        problems.append(ConfigProblem(
            "WECOM_SECRET", "is not used by third-party apps: their corp tokens come from get_corp_token with "
            "the permanent code stored at authorization (developer.work.weixin.qq.com/document/path/90605)",
            "去掉 WECOM_SECRET；若它是代开发应用的永久授权码，设 WECOM_APP_TYPE=customized / remove "
            "WECOM_SECRET, or set WECOM_APP_TYPE=customized if it is a 代开发 permanent code"))
    return problems


def _third_party_problems(config: Mapping[str, Any], app_type: AppType) -> List[ConfigProblem]:
    """The 登录授权 suite of third-party web login and the install-from-website settings."""
    problems: List[ConfigProblem] = []
    login_suite, login_secret = config.get("WECOM_LOGIN_SUITE_ID"), config.get("WECOM_LOGIN_SUITE_SECRET")
    where = f"{console.LOGIN_SUITE[0]}的 SuiteID 与 Secret / the SuiteID and Secret under {console.LOGIN_SUITE[1]}"
    if app_type == THIRD_PARTY:
        if not login_suite:
            # login_type=ServiceApp takes the 登录授权 SuiteID, not the app's own suite (98171, 98179)
            problems.append(ConfigProblem(
                "WECOM_LOGIN_SUITE_ID", "is not set: web login outside the WeCom client (login_type=ServiceApp) "
                "needs the provider's 登录授权 SuiteID, so it is refused until this is set",
                "设置 WECOM_LOGIN_SUITE_ID 与 WECOM_LOGIN_SUITE_SECRET：" + where,
                severity="error" if config.get("WECOM_LOGIN_VIA") == "qr" else "warning"))
        elif not login_secret:
            problems.append(ConfigProblem("WECOM_LOGIN_SUITE_SECRET", "is required with WECOM_LOGIN_SUITE_ID",
                                          "设置 WECOM_LOGIN_SUITE_SECRET：" + where))
        elif login_suite == config.get("WECOM_SUITE_ID"):
            problems.append(ConfigProblem(
                "WECOM_LOGIN_SUITE_ID", "is the app's own suite id: web login takes the separate 登录授权 SuiteID",
                "使用「登录授权」的 SuiteID，不是应用的 suite_id：" + where))
    elif login_suite:
        problems.append(ConfigProblem(
            "WECOM_LOGIN_SUITE_ID", f"is only used by third-party apps; {app_type} web login is login_type=CorpApp "
            "with the corp id and agent id",
            "去掉 WECOM_LOGIN_SUITE_ID / remove WECOM_LOGIN_SUITE_ID (or set WECOM_APP_TYPE=third_party)",
            severity="warning"))
    if str(config.get("WECOM_INSTALL_AUTH_TYPE", 0)).strip() not in ("0", "1"):
        problems.append(ConfigProblem(
            "WECOM_INSTALL_AUTH_TYPE", f"must be 0 or 1 (got {config.get('WECOM_INSTALL_AUTH_TYPE')!r})",
            "0 正式授权，1 测试授权（应用未上线时）/ 0 for a released app, 1 for test installs of an unreleased "
            "one (developer.work.weixin.qq.com/document/path/90602)"))
    return problems


#: settings that are text; ``app.config.from_prefixed_env()`` JSON-parses the environment, so an id or key
#: of digits only arrives as a number
TEXT_SETTINGS = ("WECOM_CORP_ID", "WECOM_AGENT_ID", "WECOM_SECRET", "WECOM_SUITE_ID", "WECOM_SUITE_SECRET",
                 "WECOM_PROVIDER_CORP_ID", "WECOM_PROVIDER_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY",
                 "WECOM_DATA_TOKEN", "WECOM_DATA_ENCODING_AES_KEY", "WECOM_LOGIN_SUITE_ID",
                 "WECOM_LOGIN_SUITE_SECRET", "WECOM_STORE_KEY")


def as_text(config: Mapping[str, Any]) -> Dict[str, Any]:
    """The text settings that arrived as whole numbers, back as their text (``1000002`` → ``"1000002"``).

    JSON writes a whole number exactly as its digits, so this gives back what the environment held; any
    other number (``1e5``, ``1.0``) cannot be told apart from another spelling and is reported by
    :func:`validate_config` instead."""
    return {key: str(value) for key, value in config.items()
            if key in TEXT_SETTINGS and isinstance(value, int) and not isinstance(value, bool)}


#: settings the app cannot start with when malformed: with WECOM_CHECK_CONFIG=False their default is used
#: instead (:func:`with_fallbacks`), so the app starts and the doctor reports them
_FALL_BACK = ("WECOM_HTTP_TIMEOUT", "WECOM_URL_PREFIX")


def _shape_problems(config: Mapping[str, Any]) -> List[ConfigProblem]:
    """WeCom's URLs, the route prefix and the HTTP timeout, which otherwise fail deep inside Flask or requests."""
    from urllib.parse import urlsplit

    problems: List[ConfigProblem] = []
    for key in ("WECOM_API_BASE", "WECOM_OAUTH_AUTHORIZE_URL", "WECOM_SSO_LOGIN_URL", "WECOM_INSTALL_URL"):
        value = config.get(key)
        parts = urlsplit(str(value)) if isinstance(value, str) else None
        if value and (parts is None or parts.scheme not in ("http", "https") or not parts.netloc):
            problems.append(ConfigProblem(key, f"must be an http(s):// URL (got {value!r})",
                                          f"不设即用默认值 {DEFAULTS[key]} / leave it unset for {DEFAULTS[key]}, "
                                          "or point it at a simulator's URL in tests"))
    prefix = config.get("WECOM_URL_PREFIX")
    if not isinstance(prefix, str) or (prefix and not prefix.startswith("/")):
        problems.append(ConfigProblem("WECOM_URL_PREFIX", f"must be a path starting with / (got {prefix!r})",
                                      "例如 / e.g. /wecom (the default)"))
    if config.get("WECOM_HTTP_TIMEOUT") is not None:
        from .client import _normalize_timeout

        try:
            _normalize_timeout(config["WECOM_HTTP_TIMEOUT"])
        except ConfigError as exc:
            problems.append(ConfigProblem("WECOM_HTTP_TIMEOUT", str(exc).split(" ", 1)[1],
                                          "秒数，或 (连接, 读取) / seconds, or (connect, read), e.g. (3.05, 10)"))
    return problems


def with_fallbacks(config: Mapping[str, Any], problems: List[ConfigProblem]) -> Dict[str, Any]:
    """A copy where each malformed setting the app cannot start with is its default (WECOM_CHECK_CONFIG=False)."""
    bad = {p.key for p in problems if p.severity == "error"}
    return {key: (DEFAULTS[key] if key in _FALL_BACK and key in bad else value) for key, value in config.items()}


def as_configured(used: Mapping[str, Any], configured: Mapping[str, Any]) -> Dict[str, Any]:
    """``used`` (the settings the app runs with) with the values as configured where a malformed one was
    replaced by its default, so the doctor validates what the user wrote (WECOM_CHECK_CONFIG=False)."""
    result = dict(used)
    for key in _FALL_BACK + _NON_NEGATIVE_INTS:
        if key in configured:
            result[key] = configured[key]
    return result


def validate_config(config: Mapping[str, Any], app_type: AppType, *, secret_key: Any = None) -> List[ConfigProblem]:
    """Every problem with the ``WECOM_*`` settings, formats first; framework-free (used by init_app and the doctor)."""
    problems: List[ConfigProblem] = app_type_problems(config) + _third_party_problems(config, app_type)
    problems += _database_options_problems(config)
    problems += _shape_problems(config)
    for key in TEXT_SETTINGS:
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
            problems.append(ConfigProblem(
                key, f"must be text, got the {type(value).__name__} {value!r} (app.config.from_prefixed_env() "
                "parses values as JSON)",
                f"在环境变量中给它加上引号 / quote it in the environment, e.g. FLASK_{key}='\"…\"'"))
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
    if app_type == CUSTOMIZED and suite_id and not suite_id.startswith("dk"):
        problems.append(ConfigProblem("WECOM_SUITE_ID", f"代开发 template ids start with 'dk' (got {suite_id[:4]!r}…)",
                                      "使用代开发模板ID（dk开头），不是第三方应用的 suite_id / use the template id"))
    if app_type == THIRD_PARTY and suite_id.startswith("dk"):
        problems.append(ConfigProblem("WECOM_APP_TYPE",
                                      "a 'dk…' suite id is a 代开发 template, not a third-party suite",
                                      "set WECOM_APP_TYPE=customized (or leave it unset)"))
    if app_type in (CUSTOMIZED, THIRD_PARTY) and not config.get("WECOM_PROVIDER_CORP_ID"):
        problems.append(ConfigProblem(
            "WECOM_PROVIDER_CORP_ID", "is not set: WeCom signs URL verification with the provider's corp id",
            f"在{console.PROVIDER_CORP_ID[0]}复制 CorpID / copy the CorpID from {console.PROVIDER_CORP_ID[1]}",
            severity="warning"))
    if not secret_key or str(secret_key).lower() in _DEFAULT_SECRET_KEYS or len(str(secret_key)) < 16:
        # missing: nothing can be signed or sealed, so the app does not start; weak: it starts, with this
        # warning in the log and the doctor (README, "Configuration")
        what = ("is not set: session cookies cannot be signed nor secrets sealed" if not secret_key else
                "is weak (a well-known default, or shorter than 16 characters): anyone who guesses it can forge "
                "a session cookie and log in as any member")
        problems.append(ConfigProblem(
            "SECRET_KEY", what,
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
