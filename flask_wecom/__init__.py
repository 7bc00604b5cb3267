"""flask-wecom: WeCom (企业微信) login and the 代开发 provider flow for Flask.

``from flask_wecom import WeCom, login_required, wecom_user``

The Flask layer is imported lazily (PEP 562), so the framework-free core —
``flask_wecom.crypto``, ``.client``, ``.tokens``, ``.testing`` — can be used without
importing Flask's request machinery.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List

from .errors import (
    ConfigError,
    CorpNotChosenError,
    CorpNotFoundError,
    CryptoError,
    LoginError,
    NoAuthorizedCorpError,
    NoSuiteTicketError,
    ReceiveIdError,
    SchemaError,
    SignatureError,
    TransportError,
    WeComAPIError,
    WeComError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    # What type checkers see: the real objects behind the lazy names below, so `mypy` in a user's
    # project knows WeCom, login_required and wecom_user (PEP 562 __getattr__ alone reads as Any).
    # At run time these imports do not happen; __getattr__ loads each module on first use.
    from . import signals
    from .extension import WeCom
    from .login import login_required, wecom_user
    from .user import AnonymousUser, WeComUser

_LAZY = {
    "WeCom": "flask_wecom.extension",
    "login_required": "flask_wecom.login",
    "wecom_user": "flask_wecom.login",
    "WeComUser": "flask_wecom.user",
    "AnonymousUser": "flask_wecom.user",
    "signals": "flask_wecom.signals",
}

__all__ = [
    "WeCom",
    "login_required",
    "wecom_user",
    "WeComUser",
    "AnonymousUser",
    "signals",
    "WeComError",
    "WeComAPIError",
    "ConfigError",
    "CryptoError",
    "SignatureError",
    "ReceiveIdError",
    "TransportError",
    "NoSuiteTicketError",
    "CorpNotFoundError",
    "CorpNotChosenError",
    "NoAuthorizedCorpError",
    "LoginError",
    "SchemaError",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flask_wecom' has no attribute {name!r}")
    mod = importlib.import_module(module)
    value = mod if name == "signals" else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
