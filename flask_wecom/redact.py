"""Keep secrets out of logs, exception messages and reprs.

Three helpers, used by the API client and anything else that logs WeCom traffic:

- :func:`mask` turns one secret into something you can still recognise in a log
  (``"ldA…(38 chars)"``) without being able to use it;
- :func:`redact` copies a mapping (query parameters, a JSON body or answer) with the
  values of :data:`SECRET_KEYS` masked, recursively;
- :func:`redact_text` replaces known secret values inside free text (an ``errmsg``,
  an exception message that quotes a URL);
- :func:`redact_query` masks ``key=value`` pairs of :data:`SECRET_KEYS` in text whose
  secrets we do not know in advance (urllib3's own log lines quote the request URL).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Dict, Optional

__all__ = ["SECRET_KEYS", "mask", "redact", "redact_text", "redact_query"]

#: Keys whose values are secrets wherever they appear (query string, JSON body, answer).
SECRET_KEYS = frozenset(
    {
        "corpsecret",
        "access_token",
        "suite_access_token",
        "suite_secret",
        "permanent_code",
        "provider_secret",
        "provider_access_token",
        "suite_ticket",
        "auth_code",
        "pre_auth_code",
        "code",
        "user_ticket",
        "secret",
        "encoding_aes_key",
    }
)

# Values shorter than this are masked without showing any character at all.
_SHOW_PREFIX_FROM = 12


def mask(value: Optional[str]) -> str:
    """Return a recognisable but useless stand-in for a secret.

    ``None`` -> ``"-"``; ``""`` -> ``"(empty)"``; a value of 12 characters or more shows
    its first 3 characters and its length (``"ldA…(38 chars)"``); shorter values show
    only their length (``"…(6 chars)"``). Never more than 3 characters are revealed.
    """
    if value is None:
        return "-"
    text = value if isinstance(value, str) else str(value)
    if not text:
        return "(empty)"
    if len(text) >= _SHOW_PREFIX_FROM:
        return f"{text[:3]}…({len(text)} chars)"
    return f"…({len(text)} chars)"


def _redact_value(value: Any, secret: bool = False) -> Any:
    if isinstance(value, Mapping):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return [_redact_value(item, secret) for item in value]
    if secret:
        return mask(None if value is None else str(value))
    return value


def redact(mapping: Optional[Mapping[Any, Any]]) -> Dict[Any, Any]:
    """Return a copy of *mapping* with the values of :data:`SECRET_KEYS` masked.

    Keys are compared case-insensitively; nested dicts and lists are walked (a list under
    a secret key has each item masked). ``None`` gives ``{}``. The input is never modified.
    """
    if not mapping:
        return {}
    out = {}
    for key, value in mapping.items():
        # a list under a secret key (``code=a&code=b``) is a list of secrets
        out[key] = _redact_value(value, isinstance(key, str) and key.lower() in SECRET_KEYS)
    return out


def redact_text(text: str, secrets: Iterable[Optional[str]]) -> str:
    """Replace every occurrence of each of *secrets* in *text* by its :func:`mask`.

    Empty and ``None`` entries are ignored; longer secrets are replaced first so a
    secret that contains another is masked whole.
    """
    if not text:
        return text or ""
    values = sorted({str(s) for s in secrets if s}, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, mask(value))
    return text


_KEYS_ALT = "|".join(sorted((re.escape(k) for k in SECRET_KEYS), key=len, reverse=True))
# What mask() produces: matched whole so that masked text is left alone (redact_query is idempotent).
_MASKED = r"(?:[^&\s'\"<>#,;)…]{0,3}…\(\d+ chars\)|\(empty\))"
_QUERY_RE = re.compile(
    r"(?P<key>\b(?:" + _KEYS_ALT + r"))(?P<sep>=|%3[Dd])"
    r"(?:(?P<masked>" + _MASKED + r")(?=[&\s'\"<>#,;)]|\Z)|(?P<value>[^&\s'\"<>#,;)]+))",
    re.IGNORECASE,
)


def redact_query(text: str) -> str:
    """Mask the values of ``secret_key=value`` pairs (query-string style) in *text*.

    For text whose secrets are not known beforehand, e.g. a log line or an exception
    message of urllib3 / requests that quotes ``/cgi-bin/gettoken?corpid=…&corpsecret=…``.
    Values that are already masked are left as they are, so applying it twice is harmless.
    """
    if not text:
        return text or ""

    def replace(m: re.Match[str]) -> str:
        if m.group("masked") is not None:
            return m.group(0)
        return f"{m.group('key')}{m.group('sep')}{mask(m.group('value'))}"

    return _QUERY_RE.sub(replace, text)
