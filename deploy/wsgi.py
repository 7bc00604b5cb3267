"""WSGI entry point for gunicorn behind nginx: ``gunicorn -c deploy/gunicorn.conf.py --chdir deploy wsgi:app``.

Every setting comes from the environment (see ``flask-wecom.env.example``): ``SECRET_KEY`` and each
``WECOM_*`` key of flask-wecom's configuration table. The small app below (a home page, ``/me`` behind the
login, ``/healthz`` for the load balancer) is what ``tests/test_production.py`` serves with four workers;
replace :func:`create_app` with your own application factory and keep the three marked steps.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping

from flask import Flask, jsonify, url_for
from markupsafe import escape
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_wecom import WeCom, login_required, wecom_user
from flask_wecom.config import DEFAULTS


def _value(text: str, default: Any) -> Any:
    """An environment string as the type of the setting's default (``true``, ``300``, ``5,10``)."""
    if isinstance(default, bool):
        return text.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, tuple):
        return tuple(float(part) for part in text.replace(" ", "").split(","))
    return text


def settings_from_environment(environ: Mapping[str, str] = os.environ) -> Dict[str, Any]:
    """``SECRET_KEY`` and every ``WECOM_*`` setting present (and not empty) in ``environ``."""
    settings = {key: _value(environ[key], default) for key, default in DEFAULTS.items() if environ.get(key)}
    if environ.get("SECRET_KEY"):
        settings["SECRET_KEY"] = environ["SECRET_KEY"]
    return settings


def create_app(environ: Mapping[str, str] = os.environ) -> Flask:
    # INSTANCE_PATH: where flask-wecom keeps its local files (the callback spool); an absolute path
    app = Flask(__name__, instance_path=environ.get("INSTANCE_PATH") or None)

    # 1. settings from the environment — the same on every host (SECRET_KEY above all: it signs the
    #    session cookies and, unless WECOM_STORE_KEY is set, seals the permanent codes in the database)
    app.config.update(settings_from_environment(environ))

    # 2. trust exactly one proxy (nginx) for the client address, scheme and host: the login's redirect
    #    URI, url_for(_external=True) and the Secure session cookie need to know the request was HTTPS
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    # 3. flask-wecom: its blueprint (/wecom/login, /wecom/callback …), the store, the token cache; and
    #    this worker's sweeper at once (spool replay, AuthCode takeover), not only at its first request
    wecom = WeCom(app)
    wecom.start_recovery(app)

    @app.route("/")
    def home():
        if wecom_user.is_authenticated:
            return f"<p>{escape(wecom_user.display_name)} · <a href='{url_for('me')}'>/me</a></p>"
        return f"<p><a href='{url_for('wecom.login', next=url_for('me'))}'>企业微信登录 / Log in with WeCom</a></p>"

    @app.route("/me")
    @login_required
    def me():
        return jsonify(userid=wecom_user.userid, corp_id=wecom_user.corp_id, name=wecom_user.name)

    @app.route("/healthz")
    def healthz():  # for the load balancer: touches neither the database nor Redis
        return "ok"

    return app


app = create_app()
