"""The blueprint ``WeCom(app)`` registers under ``WECOM_URL_PREFIX`` (default ``/wecom``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint

from . import callback
from .install import register_install_views
from .views import register_login_views

if TYPE_CHECKING:
    from .extension import WeCom


def create_blueprint(wecom: WeCom) -> Blueprint:
    bp = Blueprint("wecom", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static")
    methods = ["GET", "POST"]
    bp.add_url_rule("/callback", "callback", callback.template_callback, methods=methods)
    bp.add_url_rule("/callback/data", "callback_data", callback.data_callback, methods=methods)
    register_login_views(bp, wecom)
    register_install_views(bp)
    return bp
