"""The three kinds of WeCom app flask-wecom serves (``WECOM_APP_TYPE``), as one type.

A leaf module (it imports nothing of flask_wecom), so the configuration, the console registry and the
doctor all name the same values without an import cycle; :mod:`flask_wecom.config` re-exports them.
"""
from __future__ import annotations

from typing import Final, Literal, Tuple

__all__ = ["AppType", "INTERNAL", "CUSTOMIZED", "THIRD_PARTY", "APP_TYPES"]

#: ``WECOM_APP_TYPE``: a self-built app (自建, ``internal``), a 代开发 app (``customized``, built by a
#: service provider from a template, developer.work.weixin.qq.com/document/path/97159) or a third-party
#: app (``third_party``, 第三方应用). Compare with the constants below, so a typo is a type error
#: rather than a branch that never runs.
AppType = Literal["internal", "customized", "third_party"]
INTERNAL: Final = "internal"
CUSTOMIZED: Final = "customized"
THIRD_PARTY: Final = "third_party"
APP_TYPES: Tuple[AppType, ...] = (INTERNAL, CUSTOMIZED, THIRD_PARTY)
