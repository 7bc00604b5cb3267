"""One exception hierarchy for everything flask-wecom raises.

Callers catch :class:`WeComError`; subclasses say *what* went wrong, carry the
official numeric code where WeCom defines one, and never include a secret in
their message.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple, Type

from . import reasons


def _explained(reason: str) -> str:
    """A login-failure reason's title, what happened and fix, Chinese / English, as one message."""
    record = reasons.get(reason)
    return (f"{record.title[0]}：{record.what[0]}{record.fix[0]} / "
            f"{record.title[1]}: {record.what[1]} {record.fix[1]}")


class WeComError(Exception):
    """Base class of every error raised by flask-wecom.

    ``code`` is the official numeric code where one exists: the ``-400xx`` codes
    of the WXBizMsgCrypt sample code for callback crypto, or WeCom's ``errcode``
    for API calls.
    """

    #: official numeric code, if any
    code: Optional[int] = None
    #: default message for the class
    description: str = "WeCom error"

    def __init__(self, message: Optional[str] = None, *, code: Optional[int] = None) -> None:
        if code is not None:
            self.code = code
        self.message = message or self.description
        super().__init__(self.message)

    def __str__(self) -> str:
        if self.code is not None:
            return f"[{self.code}] {self.message}"
        return self.message


class ConfigError(WeComError):
    """A ``WECOM_*`` setting is missing or malformed; the message names the key."""

    description = "flask-wecom is not configured correctly"


# -- callback crypto (codes from the official WXBizMsgCrypt sample code) -------------


class CryptoError(WeComError):
    """A callback message could not be verified, decrypted or encrypted."""

    description = "callback message crypto failed"


class SignatureError(CryptoError):
    code = -40001
    description = "msg_signature does not match (check WECOM_TOKEN / 检查回调 Token)"


class ParseXMLError(CryptoError):
    code = -40002
    description = "callback XML is malformed or refused"


class ComputeSignatureError(CryptoError):
    code = -40003
    description = "could not compute the SHA1 signature"


class InvalidAESKeyError(CryptoError):
    code = -40004
    description = "EncodingAESKey must be 43 characters of a-zA-Z0-9 (检查 EncodingAESKey)"


class ReceiveIdError(CryptoError):
    code = -40005
    description = "decrypted receiveid is not one we accept"
    #: the receiveid found in the message, and the ids that would have been accepted
    received: Optional[str] = None
    expected: Tuple[str, ...] = ()


class EncryptError(CryptoError):
    code = -40006
    description = "AES encryption failed"


class DecryptError(CryptoError):
    code = -40007
    description = "AES decryption failed (wrong EncodingAESKey? / EncodingAESKey 是否填错)"


class InvalidBufferError(CryptoError):
    code = -40008
    description = "decrypted buffer is malformed (bad padding or length field)"


class EncodeBase64Error(CryptoError):
    code = -40009
    description = "base64 encoding failed"


class DecodeBase64Error(CryptoError):
    code = -40010
    description = "encrypted payload is not valid base64"


class GenerateXMLError(CryptoError):
    code = -40011
    description = "could not build the reply XML"


# -- API calls ---------------------------------------------------------------------


class TransportError(WeComError):
    """WeCom could not be reached (connection error, timeout, 5xx after retries)."""

    description = "WeCom API could not be reached"


class WeComAPIError(WeComError):
    """WeCom answered with ``errcode != 0``.

    ``errcode`` and ``errmsg`` are WeCom's; ``hint`` says what to do about it
    (Chinese and English), taken from :mod:`flask_wecom.errcodes`.
    ``errmsg`` is kept as WeCom sent it minus anything that looks like a secret.
    """

    def __init__(self, errcode: int, errmsg: str = "", hint: str = "", *, path: str = "") -> None:
        self.errcode = int(errcode)
        self.errmsg = errmsg or ""
        self.hint = hint or ""
        self.path = path
        where = f" from {path}" if path else ""
        text = f"WeCom errcode {self.errcode}{where}: {self.errmsg}"
        if self.hint:
            text += f" — {self.hint}"
        super().__init__(text, code=self.errcode)

    def __reduce__(self) -> Tuple[Any, ...]:  # keep pickling (multiprocessing, caches) working, path included
        return (_rebuild_api_error, (self.__class__, self.errcode, self.errmsg, self.hint, self.path))


def _rebuild_api_error(cls: Type[WeComAPIError], errcode: int, errmsg: str, hint: str, path: str) -> WeComAPIError:
    return cls(errcode, errmsg, hint, path=path)


class NoSuiteTicketError(WeComError):
    """No suite_ticket has reached our callback URL yet, so no suite token can be had."""

    description = _explained("no_suite_ticket")  # the words of its login page (flask_wecom.reasons)


class CorpNotFoundError(WeComError):
    """The corp is not one we hold an authorization (or secret) for."""

    description = "this corp has not authorized the app (企业未授权此应用)"


class NoAuthorizedCorpError(CorpNotFoundError):
    """No corp has authorized the app yet (and no ``WECOM_CORP_ID`` is set): nobody can log in."""

    description = "no corp has authorized this app yet (还没有企业授权本应用)"


class CorpNotChosenError(CorpNotFoundError):
    """Several corps authorized the app and the request does not say which one it is for.

    Each customer reaches their own login with ``?corp_id=…`` (usually in their app's home URL).
    """

    description = ("several corps authorized this app and the request names none: pass ?corp_id=… "
                   "(多个企业已授权本应用，请求未指定 corp_id)")


class LoginError(WeComError):
    """The OAuth / web-login round trip failed on our side (state, code, user)."""

    description = "WeCom login failed"


class SchemaError(WeComError):
    """The store's tables are not at the version this flask-wecom needs, and it may not (or cannot) upgrade them.

    The message names the command that fixes it (``flask wecom db upgrade``, or the application's own
    ``flask db upgrade`` / ``alembic upgrade heads``).
    """

    description = ("flask-wecom's database tables need an upgrade: run `flask wecom db upgrade` "
                   "(flask-wecom 数据表需要升级：请运行 `flask wecom db upgrade`)")
