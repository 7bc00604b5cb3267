"""The WeCom server API client (framework-free).

One :class:`WeComClient` talks to ``WECOM_API_BASE`` through a :class:`requests.Session`
(connection reuse) with (connect, read) timeouts and a bounded urllib3 ``Retry`` with
backoff for connection errors, read errors and HTTP 5xx.

What it does with WeCom's answers (docs 91039 and 90313):

- ``errcode`` present and not 0 -> :class:`~flask_wecom.errors.WeComAPIError` with the
  hint of :mod:`flask_wecom.errcodes`; ``errmsg`` has every secret the request carried
  masked. A missing ``errcode`` is success (get_suite_token / get_corp_token only send
  one on failure, doc 97162, doc 90605).
- With a :class:`~flask_wecom.tokens.TokenSource`: an ``errcode`` in the source's
  ``expired_codes`` (40014/42001, or 40082/42009 for suite tokens) drops that token from
  the cache (stale-safe) and retries **once**; a second expiry answer is raised.
- ``-1`` (系统繁忙) is retried ``busy_retries`` times with exponential backoff
  (``busy_backoff * 2**n`` seconds, through the injectable ``sleep``), except on the
  single-use paths below.
- ``45009`` (rate limit) is never retried here: WeCom blocks the whole window (60 s for a
  per-minute limit, 60 min for an hourly one, developer.work.weixin.qq.com/document/path/90454),
  so a retry within seconds only extends it. The token manager remembers it for token fetches.
- Network failure after the urllib3 retries, HTTP 5xx after retries, or a body that is
  not a JSON object -> :class:`~flask_wecom.errors.TransportError`.

Single-use requests: the AuthCode exchanged by ``get_permanent_code`` (doc 97163, "临时授权码一次
有效") and the OAuth ``code`` consumed by ``auth/getuserinfo`` / ``getuserinfo3rd`` (doc 91022,
"code只能使用一次") must not be sent twice: if the first request reached WeCom, a retry can only
answer 40078 / 40029 and hide the real failure. For these paths urllib3 retries **only
connection errors** (raised before the request is sent), never read errors or 5xx, and a
``-1`` answer is not retried either (WeCom received the code). The
``get_permanent_code`` exchange additionally gets a read timeout of at least
:data:`EXCHANGE_READ_TIMEOUT` seconds, because the v1 API is documented as slow
("旧获取企业永久授权码接口耗时长", doc 100776). An expired token (40014 / 42001 / 40082 / 42009) is
still retried once with a new token: WeCom refuses the token before it reads the code.

Logging: logger ``flask_wecom.client`` logs each call at DEBUG with method, path,
redacted params/body, HTTP status, errcode and elapsed time — never an answer body.
urllib3 logs request URLs (which carry ``corpsecret`` / ``access_token``) at DEBUG and
WARNING; importing this module adds a filter to the ``urllib3.connectionpool`` and
``urllib3.util.retry`` loggers that masks those query values.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Set, Union
from urllib.parse import quote, quote_plus

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import errcodes
from .errors import ConfigError, TransportError, WeComAPIError
from .redact import SECRET_KEYS, redact, redact_query, redact_text

if TYPE_CHECKING:  # pragma: no cover
    from .tokens import TokenSource

__all__ = ["WeComClient", "DEFAULT_API_BASE", "BUSY_CODES", "RATE_LIMIT_CODES", "SINGLE_USE_PATHS",
           "EXCHANGE_READ_TIMEOUT"]

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"
#: errcodes retried with backoff: -1 系统繁忙 ("建议重试次数不超过3次", document 90313)
BUSY_CODES = frozenset({-1})
#: 45009 接口调用超过限制: never retried inside its block window (document 90454)
RATE_LIMIT_CODES = frozenset({45009})
#: HTTP statuses urllib3 retries (bounded) on ordinary paths
RETRY_STATUSES = (500, 502, 503, 504)
#: paths whose request consumes a single-use code: connection errors only are retried
SINGLE_USE_PATHS = (
    "/cgi-bin/service/get_permanent_code",
    "/cgi-bin/service/v2/get_permanent_code",
    "/cgi-bin/auth/getuserinfo",
    "/cgi-bin/service/auth/getuserinfo3rd",
)
#: minimum read timeout (s) of the AuthCode exchange (v1 get_permanent_code is slow)
EXCHANGE_READ_TIMEOUT = 30.0
_EXCHANGE_PATHS = SINGLE_USE_PATHS[:2]

TokenLike = Union[str, "TokenSource"]


class _RedactQueryFilter(logging.Filter):
    """Mask secret query values in log records of urllib3 (it logs full request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not ours to fix
            return True
        cleaned = redact_query(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def _install_log_filter() -> None:
    for name in ("urllib3.connectionpool", "urllib3.util.retry"):
        logger = logging.getLogger(name)
        if not any(type(f).__name__ == _RedactQueryFilter.__name__ for f in logger.filters):
            logger.addFilter(_RedactQueryFilter())


_install_log_filter()


def _collect_secrets(value: Any, out: Set[str], *, secret: bool = False) -> None:
    """Gather the values of SECRET_KEYS (and their URL-encoded forms) from params / body."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            _collect_secrets(item, out, secret=isinstance(key, str) and key.lower() in SECRET_KEYS)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect_secrets(item, out, secret=secret)
    elif secret and value is not None and not isinstance(value, bool):
        text = str(value)
        if text:
            out.update({text, quote(text, safe=""), quote_plus(text)})


def _redact_body(body: Any) -> Any:
    return redact({"body": body})["body"] if body is not None else None


def _normalize_timeout(timeout: Any) -> tuple[float, float]:
    try:
        if isinstance(timeout, (tuple, list)):
            connect, read = timeout
        else:
            connect = read = timeout
        values = float(connect), float(read)
    except (TypeError, ValueError):
        raise ConfigError(
            f"WECOM_HTTP_TIMEOUT must be seconds, one number or (connect, read), not {timeout!r}"
        ) from None
    if not all(v > 0 for v in values):
        raise ConfigError(f"WECOM_HTTP_TIMEOUT must be positive, not {timeout!r}")
    return values


def _describe(exc: BaseException, secrets: Set[str]) -> str:
    """A secret-free one-line description of a requests / urllib3 exception."""
    reason = redact_query(redact_text(str(exc), secrets))
    if len(reason) > 300:
        reason = reason[:300] + "…"
    return f"{type(exc).__name__}: {reason}"


class WeComClient:
    """Calls the WeCom server API; see the module docstring for retry and error rules.

    ``timeout`` is ``(connect, read)`` seconds (or one number for both); ``retries`` and
    ``backoff_factor`` configure urllib3's ``Retry`` for connection errors, read errors and
    HTTP 5xx; ``busy_retries`` / ``busy_backoff`` the retries of errcode -1;
    ``session`` lets you pass your own :class:`requests.Session` (its adapters are kept,
    only the single-use paths get a no-read-retry adapter mounted); ``sleep`` is used
    for the busy backoff (inject a fake one in tests).
    """

    def __init__(
        self,
        api_base: str = DEFAULT_API_BASE,
        *,
        timeout: Any = (5.0, 10.0),
        retries: int = 3,
        backoff_factor: float = 0.3,
        busy_retries: int = 3,
        busy_backoff: float = 0.5,
        session: Optional[requests.Session] = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.timeout = _normalize_timeout(timeout)
        self.retries = max(0, int(retries))
        self.busy_retries = max(0, int(busy_retries))
        self.busy_backoff = float(busy_backoff)
        self._sleep = sleep
        self._own_session = session is None
        self.session = session if session is not None else requests.Session()
        if self._own_session:
            adapter = HTTPAdapter(max_retries=self._retry(single_use=False, backoff_factor=backoff_factor))
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)
        single = HTTPAdapter(max_retries=self._retry(single_use=True, backoff_factor=backoff_factor))
        for path in SINGLE_USE_PATHS:
            self.session.mount(self.api_base + path, single)

    def _retry(self, *, single_use: bool, backoff_factor: float) -> Retry:
        if single_use:
            # Only errors raised before the request was sent (connect) are safe to retry.
            return Retry(
                total=self.retries, connect=self.retries, read=0, status=0, other=0, redirect=0,
                backoff_factor=backoff_factor, allowed_methods=frozenset({"GET", "POST"}),
                status_forcelist=(), raise_on_status=False, respect_retry_after_header=False,
            )
        return Retry(
            total=self.retries, connect=self.retries, read=self.retries, status=self.retries,
            other=0, redirect=0, backoff_factor=backoff_factor,
            # WeCom's POSTs used here are reads or token exchanges that may be repeated.
            allowed_methods=frozenset({"GET", "POST"}),
            status_forcelist=RETRY_STATUSES, raise_on_status=False,
            respect_retry_after_header=False,  # keep the total wait bounded
        )

    def __repr__(self) -> str:
        return f"<WeComClient {self.api_base}>"

    def __enter__(self) -> WeComClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the session if this client created it."""
        if self._own_session:
            self.session.close()

    # -- the one generic call -------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Mapping[str, Any]] = None,
        json: Optional[Any] = None,
        token: Optional[TokenSource] = None,
    ) -> Dict[str, Any]:
        """Call ``method path`` and return WeCom's JSON object (see the module docstring)."""
        method = method.upper()
        if not path.startswith("/"):
            path = "/" + path
        url = self.api_base + path
        token_retried = False
        busy_attempt = 0
        while True:
            query = dict(params or {})
            used_token: Optional[str] = None
            if token is not None:
                used_token = token.get()
                query[token.param] = used_token
            secrets: Set[str] = set()
            _collect_secrets(query, secrets)
            _collect_secrets(json, secrets)

            data = self._send(method, path, url, query, json, secrets)
            errcode = self._errcode(data, method, path)
            if errcode == 0:
                return data
            errmsg = redact_text(str(data.get("errmsg") or ""), secrets)

            if token is not None and errcode in token.expired_codes and not token_retried:
                token_retried = True
                log.info("WeCom %s %s: token rejected with errcode %s; fetching a new one and retrying once",
                         method, path, errcode)
                token.invalidate(used_token)
                continue
            if errcode in BUSY_CODES and busy_attempt < self.busy_retries and path not in SINGLE_USE_PATHS:
                delay = self.busy_backoff * (2 ** busy_attempt)
                busy_attempt += 1
                log.warning("WeCom %s %s: errcode %s (系统繁忙 busy); retry %d/%d in %.2fs", method, path,
                            errcode, busy_attempt, self.busy_retries, delay)
                self._sleep(delay)
                continue
            if errcode in RATE_LIMIT_CODES:
                log.warning("WeCom %s %s: errcode 45009 (rate limited): not retried, WeCom blocks the whole "
                            "window (document 90454)", method, path)
            raise WeComAPIError(errcode, errmsg, errcodes.hint(errcode, errmsg), path=path)

    def _timeout_for(self, path: str) -> tuple[float, float]:
        connect, read = self.timeout
        if path in _EXCHANGE_PATHS:
            read = max(read, EXCHANGE_READ_TIMEOUT)
        return connect, read

    def _send(self, method: str, path: str, url: str, query: Dict[str, Any], body: Any,
              secrets: Set[str]) -> Dict[str, Any]:
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, params=query or None, json=body, timeout=self._timeout_for(path)
            )
        except requests.RequestException as exc:
            elapsed = (time.monotonic() - started) * 1000
            log.debug("WeCom %s %s params=%s json=%s -> %s after %.0f ms", method, path, redact(query),
                      _redact_body(body), type(exc).__name__, elapsed)
            if path in SINGLE_USE_PATHS:
                retried = (f" (connection errors retried up to {self.retries} times; nothing else is retried"
                           " because the request consumes a single-use code)")
            else:
                retried = f" (after up to {self.retries} retries)"
            # `from None`: the original exception quotes the URL, query secrets included.
            raise TransportError(
                f"could not reach WeCom for {method} {path}{retried}: {_describe(exc, secrets)}"
            ) from None
        elapsed = (time.monotonic() - started) * 1000
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = None
        errcode = data.get("errcode") if isinstance(data, dict) else None
        log.debug("WeCom %s %s params=%s json=%s -> HTTP %s errcode=%s in %.0f ms", method, path,
                  redact(query), _redact_body(body), status, errcode, elapsed)
        if status >= 500:
            if path in SINGLE_USE_PATHS or not self.retries:
                again = ""
            else:
                again = f" after {self.retries} {'retry' if self.retries == 1 else 'retries'}"
            raise TransportError(f"WeCom answered HTTP {status} for {method} {path}{again}")
        if not isinstance(data, dict):
            snippet = redact_query(redact_text(response.text[:120], secrets)).replace("\n", " ")
            if data is None:
                kind = "a non-JSON body"
            else:
                kind = f"JSON that is not an object ({type(data).__name__})"
            ctype = response.headers.get("Content-Type", "no content type")
            raise TransportError(
                f"WeCom answered HTTP {status} with {kind} for {method} {path} "
                f"({ctype}, {len(response.content)} bytes): {snippet!r}"
            )
        if status != 200 and "errcode" not in data:
            raise TransportError(f"WeCom answered HTTP {status} without an errcode for {method} {path}")
        return data

    @staticmethod
    def _errcode(data: Dict[str, Any], method: str, path: str) -> int:
        value = data.get("errcode")
        if value is None:  # get_suite_token / get_corp_token omit errcode on success
            return 0
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):  # "Infinity" parses as a float
            raise TransportError(
                f"WeCom answered an errcode that is not a number for {method} {path}"
            ) from None

    # -- named calls (one HTTP call each; `*_token` is a TokenSource or a token string) ----

    def _auth_call(self, method: str, path: str, token: TokenLike, param: str, *,
                   params: Optional[Dict[str, Any]] = None, json: Optional[Any] = None) -> Dict[str, Any]:
        if isinstance(token, str):
            query = dict(params or {})
            query[param] = token
            return self.call(method, path, params=query, json=json)
        if getattr(token, "param", None) != param:
            raise TypeError(
                f"{path} needs a token source for {param!r}, got one for {getattr(token, 'param', None)!r}"
            )
        return self.call(method, path, params=params, json=json, token=token)

    def get_token(self, corp_id: str, secret: str) -> Dict[str, Any]:
        """``GET /cgi-bin/gettoken`` — corp access_token for 自建 / 代开发 (secret = permanent_code)."""
        return self.call("GET", "/cgi-bin/gettoken", params={"corpid": corp_id, "corpsecret": secret})

    def get_suite_token(self, suite_id: str, suite_secret: str, suite_ticket: str) -> Dict[str, Any]:
        """``POST /cgi-bin/service/get_suite_token`` — suite_access_token (代开发 template / 3rd party)."""
        return self.call("POST", "/cgi-bin/service/get_suite_token", json={
            "suite_id": suite_id, "suite_secret": suite_secret, "suite_ticket": suite_ticket,
        })

    def get_corp_token(self, suite_token: TokenLike, auth_corpid: str, permanent_code: str) -> Dict[str, Any]:
        """``POST /cgi-bin/service/get_corp_token`` — third-party corp token (not for 代开发)."""
        return self._auth_call("POST", "/cgi-bin/service/get_corp_token", suite_token, "suite_access_token",
                               json={"auth_corpid": auth_corpid, "permanent_code": permanent_code})

    def get_permanent_code(self, suite_token: TokenLike, auth_code: str, *, v2: bool = False) -> Dict[str, Any]:
        """``POST /cgi-bin/service[/v2]/get_permanent_code`` — exchange a single-use AuthCode.

        Never retried after the request may have reached WeCom (read errors, 5xx).
        """
        path = "/cgi-bin/service/v2/get_permanent_code" if v2 else "/cgi-bin/service/get_permanent_code"
        return self._auth_call("POST", path, suite_token, "suite_access_token", json={"auth_code": auth_code})

    def get_auth_info(self, suite_token: TokenLike, auth_corpid: str, permanent_code: str, *,
                      v2: bool = False) -> Dict[str, Any]:
        """``POST /cgi-bin/service[/v2]/get_auth_info`` — the corp's authorization info (agentid…)."""
        path = "/cgi-bin/service/v2/get_auth_info" if v2 else "/cgi-bin/service/get_auth_info"
        return self._auth_call("POST", path, suite_token, "suite_access_token",
                               json={"auth_corpid": auth_corpid, "permanent_code": permanent_code})

    def get_user_info(self, corp_token: TokenLike, code: str) -> Dict[str, Any]:
        """``GET /cgi-bin/auth/getuserinfo`` — OAuth code -> userid (自建 / 代开发)."""
        return self._auth_call("GET", "/cgi-bin/auth/getuserinfo", corp_token, "access_token",
                               params={"code": code})

    def get_user_info_3rd(self, suite_token: TokenLike, code: str) -> Dict[str, Any]:
        """``GET /cgi-bin/service/auth/getuserinfo3rd`` — OAuth code -> corpid/userid (third party)."""
        return self._auth_call("GET", "/cgi-bin/service/auth/getuserinfo3rd", suite_token,
                               "suite_access_token", params={"code": code})

    def get_user(self, corp_token: TokenLike, userid: str) -> Dict[str, Any]:
        """``GET /cgi-bin/user/get`` — read a member."""
        return self._auth_call("GET", "/cgi-bin/user/get", corp_token, "access_token",
                               params={"userid": userid})

    def get_user_detail(self, corp_token: TokenLike, user_ticket: str) -> Dict[str, Any]:
        """``POST /cgi-bin/auth/getuserdetail`` — sensitive fields with a user_ticket."""
        return self._auth_call("POST", "/cgi-bin/auth/getuserdetail", corp_token, "access_token",
                               json={"user_ticket": user_ticket})

    def get_user_detail_3rd(self, suite_token: TokenLike, user_ticket: str) -> Dict[str, Any]:
        """``POST /cgi-bin/service/auth/getuserdetail3rd`` — third-party sensitive fields."""
        return self._auth_call("POST", "/cgi-bin/service/auth/getuserdetail3rd", suite_token,
                               "suite_access_token", json={"user_ticket": user_ticket})

    def get_agent(self, corp_token: TokenLike, agent_id: Union[int, str]) -> Dict[str, Any]:
        """``GET /cgi-bin/agent/get`` — the app's details."""
        return self._auth_call("GET", "/cgi-bin/agent/get", corp_token, "access_token",
                               params={"agentid": agent_id})

    def get_agent_permissions(self, corp_token: TokenLike) -> Dict[str, Any]:
        """``POST /cgi-bin/agent/get_permissions`` — the app's permissions (``app_permissions``, such as
        ``contact:sensitive:user_name``); for 代开发 and third-party apps only (doc 99052)."""
        return self._auth_call("POST", "/cgi-bin/agent/get_permissions", corp_token, "access_token", json={})

    def get_callback_ip(self, corp_token: TokenLike) -> Dict[str, Any]:
        """``GET /cgi-bin/getcallbackip`` — WeCom's callback source IPs."""
        return self._auth_call("GET", "/cgi-bin/getcallbackip", corp_token, "access_token")

    def get_provider_token(self, provider_corp_id: str, provider_secret: str) -> Dict[str, Any]:
        """``POST /cgi-bin/service/get_provider_token`` — provider_access_token (doc 91200; errcode only on failure)."""
        return self.call("POST", "/cgi-bin/service/get_provider_token",
                         json={"corpid": provider_corp_id, "provider_secret": provider_secret})

    def get_app_license_info(self, provider_token: TokenLike, corp_id: str, suite_id: str) -> Dict[str, Any]:
        """``POST /cgi-bin/license/get_app_license_info`` — licence check and free trial of an app (doc 97194)."""
        return self._auth_call("POST", "/cgi-bin/license/get_app_license_info", provider_token,
                               "provider_access_token", json={"corpid": corp_id, "suite_id": suite_id})

    def get_pre_auth_code(self, suite_token: TokenLike) -> Dict[str, Any]:
        """``GET /cgi-bin/service/get_pre_auth_code`` — pre_auth_code of an install started from the provider's
        website (developer.work.weixin.qq.com/document/path/90601; valid 20 minutes)."""
        return self._auth_call("GET", "/cgi-bin/service/get_pre_auth_code", suite_token, "suite_access_token")

    def set_session_info(self, suite_token: TokenLike, pre_auth_code: str, auth_type: int = 0) -> Dict[str, Any]:
        """``POST /cgi-bin/service/set_session_info`` — 0 正式授权 / 1 测试授权 for that install (90602)."""
        return self._auth_call("POST", "/cgi-bin/service/set_session_info", suite_token, "suite_access_token",
                               json={"pre_auth_code": pre_auth_code, "session_info": {"auth_type": int(auth_type)}})
