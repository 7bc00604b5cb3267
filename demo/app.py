"""The flask-wecom demo site.

Run it with ``bash demo/run`` (or ``flask --app demo.app run``):

* **sandbox mode** — no ``WECOM_*`` setting anywhere (environment, ``.env``): a
  :class:`~flask_wecom.testing.FakeWeCom` runs inside this process, the extension talks to it, and
  the home page has a button for each thing WeCom or the customer's admin would do in the 代开发
  story: (1) the suite ticket arrives, (2) the admin authorizes the app, (3) log in, (4) log out.
* **real mode** — with ``WECOM_*`` settings (env vars or a ``.env`` file, read with python-dotenv
  when it is installed): the same pages against real WeCom; ``/setup`` lists what is configured,
  the callback URLs to paste into the WeCom console and the redirect URI that must be on the
  trusted domain.
"""
from __future__ import annotations

import logging
import os
import secrets
import sys
import time
from typing import Any, Dict, List, Mapping, Optional
from urllib.parse import urlsplit

from flask import Flask, has_request_context, jsonify, redirect, render_template, url_for
from markupsafe import Markup, escape

from flask_wecom import WeCom, console, domains, login_required, wecom_user
from flask_wecom.cli import describe_age, status_lines
from flask_wecom.config import SETTINGS
from flask_wecom.doctor import TICKET_LIFETIME
from flask_wecom.doctor_flask import doctor_context
from flask_wecom.permissions import explain
from flask_wecom.redact import mask
from flask_wecom.views import redirect_uri

log = logging.getLogger("demo")

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT_ROOT = os.path.dirname(HERE)

#: settings whose values are secrets: shown masked on the setup page
SECRET_SETTINGS = frozenset({
    "WECOM_SECRET", "WECOM_SUITE_SECRET", "WECOM_PROVIDER_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY",
    "WECOM_STORE_KEY",
    "WECOM_DATA_TOKEN", "WECOM_DATA_ENCODING_AES_KEY", "WECOM_CACHE_REDIS_URL", "WECOM_DATABASE_URI",
})


# -- configuration -----------------------------------------------------------------------------


def load_dotenv_files() -> List[str]:
    """Read ``.env`` from the working directory and the project root (python-dotenv, if installed).

    Values already in the environment win. Returns the files read.
    """
    try:
        from dotenv import load_dotenv
    except ImportError:
        return []
    read = []
    for folder in dict.fromkeys((os.getcwd(), PROJECT_ROOT)):
        path = os.path.join(folder, ".env")
        if os.path.isfile(path):
            load_dotenv(path, override=False)
            read.append(path)
    return read


def _coerce(value: str, default: Any) -> Any:
    if isinstance(default, bool):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            return value
    if isinstance(default, tuple):
        try:
            return tuple(float(part) for part in value.replace(" ", "").split(","))
        except ValueError:
            return value
    return value


def settings_from_env(environ: Mapping[str, str]) -> Dict[str, Any]:
    """The flask-wecom settings (exactly the keys of ``flask_wecom.config.SETTINGS``) found in ``environ``."""
    found = {}
    for key, (default, _meaning) in SETTINGS.items():
        value = environ.get(key)
        if value not in (None, ""):
            found[key] = _coerce(value, default)
    return found


def _persistent_secret_key(app: Flask) -> str:
    """Real mode without SECRET_KEY: a random key kept in the instance folder.

    It must survive restarts: the store's permanent codes are encrypted with a key derived from it.
    """
    os.makedirs(app.instance_path, exist_ok=True)
    path = os.path.join(app.instance_path, "secret_key")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        log.warning("no SECRET_KEY set: generated one in %s (keep it: stored secrets are encrypted with it)",
                    path)
    with open(path) as fh:
        return fh.read().strip()


# -- the app -----------------------------------------------------------------------------------


def refuse_a_busy_port() -> None:
    """Under ``flask run``: a port already in use is said now, before the simulator starts (demo/run says it
    even earlier). Flask's own message would come after everything was set up."""
    import socket

    import click

    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.info_name != "run" or not isinstance(ctx.params.get("port"), int):
        return
    host, port = str(ctx.params.get("host") or "127.0.0.1"), ctx.params["port"]
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the dev server: TIME_WAIT is no obstacle
        try:
            probe.bind((host, port))
        except OSError:
            click.echo(f"[demo] ERROR: port {port} on {host} is already in use (another demo or program?): stop "
                       f"it, or pick another port: PORT=8000 bash demo/run", err=True)
            raise SystemExit(1) from None


def create_app(config: Optional[Mapping[str, Any]] = None, *, sandbox: Optional[bool] = None) -> Flask:
    """Build the demo. ``sandbox=None`` decides by itself: sandbox when no ``WECOM_*`` setting exists."""
    refuse_a_busy_port()
    app = Flask(__name__)
    dotenv_files = load_dotenv_files()
    settings = settings_from_env(os.environ)
    settings.update({key: value for key, value in (config or {}).items() if key in SETTINGS})
    if sandbox is None:
        sandbox = not settings
    app.config["DEMO_SANDBOX"] = sandbox
    app.config["DEMO_DOTENV_FILES"] = dotenv_files

    box = None
    if sandbox:
        from .sandbox import Sandbox

        box = Sandbox.start()
        # everything the sandbox writes (store, cache, the spool in <instance>/wecom-spool) lives in its
        # temporary folder, removed at exit — never in the repository's instance/ folder
        app.instance_path = box.workdir
        app.config.update(box.settings())
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    else:
        # Report an incomplete setup on /setup instead of refusing to start.
        app.config["WECOM_CHECK_CONFIG"] = False
        app.config["SECRET_KEY"] = (os.environ.get("SECRET_KEY") or os.environ.get("FLASK_SECRET_KEY")
                                    or _persistent_secret_key(app))
    app.config.update(settings)
    app.config.update(config or {})
    app.extensions["wecom_demo"] = box
    tool = _tool_settings(app) if sandbox else None

    wecom = WeCom(app)
    register_views(app, wecom)
    if box is not None:
        from .sandbox import register_sandbox_views

        register_sandbox_views(app, box)
    if tool is not None:
        _start_tool(app, **tool)
    return app


def _tool_settings(app: Flask) -> Optional[Dict[str, Any]]:
    """Sandbox, with ``DEMO_TOOL_PORT`` set (``bash demo/run`` sets it to PORT + 1): turn the hub on
    (issuer ``http://127.0.0.1:<PORT>/wecom/oidc``) with one client, the demo's second "tool"."""
    tool_port = os.environ.get("DEMO_TOOL_PORT") or app.config.get("DEMO_TOOL_PORT")
    if not tool_port:
        return None
    port = int(os.environ.get("DEMO_PORT") or app.config.get("DEMO_PORT") or 5000)
    from .tool import hub_client

    demo_url, tool_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{int(tool_port)}"
    client = hub_client(tool_url)
    issuer = demo_url + "/wecom/oidc"
    app.config.setdefault("WECOM_HUB_ISSUER", issuer)
    app.config.setdefault("WECOM_HUB_CLIENTS", [client])
    app.config["DEMO_TOOL_URL"] = tool_url
    return {"issuer": app.config["WECOM_HUB_ISSUER"], "client": client, "tool_url": tool_url, "demo_url": demo_url,
            "port": int(tool_port)}


def _start_tool(app: Flask, *, issuer: str, client: Dict[str, Any], tool_url: str, demo_url: str,
                port: int) -> None:
    from flask_wecom.testing.server import serve_app

    from .tool import create_tool

    try:
        handle = serve_app(create_tool(issuer, client, tool_url, demo_url), port=port)
    except OSError as exc:
        log.warning("demo: the second tool cannot listen on port %s (%s); the hub still runs", port, exc)
        app.config.pop("DEMO_TOOL_URL", None)
        return
    app.extensions["wecom_demo_tool"] = handle
    print(f"[demo] a second tool signs in through the hub: {tool_url}", file=sys.stderr)


def ticks(text: Any) -> Markup:
    """Backquoted spans of the settings' meanings as ``<code>``; everything else escaped."""
    parts = str(text or "").split("`")
    if len(parts) % 2 == 0:  # unbalanced: show it as it is
        return escape(text)
    return Markup("").join(Markup("<code>%s</code>") % part if i % 2 else escape(part)
                           for i, part in enumerate(parts))


def register_views(app: Flask, wecom: WeCom) -> None:
    app.add_template_filter(ticks)

    @app.context_processor
    def demo_context() -> Dict[str, Any]:
        return {"sandbox": app.extensions.get("wecom_demo"), "sandbox_mode": app.config["DEMO_SANDBOX"],
                "login_domains": describe_domains(redirect_uri()) if has_request_context() else {}}

    @app.route("/")
    def index():
        return render_template("index.html", status=collect_status())

    @app.route("/profile")
    @wecom.login_required
    def profile():
        return render_template("profile.html", user=wecom_user, withheld=explain(wecom_user.withheld))

    @app.route("/api/me")
    @login_required
    def api_me():
        data = wecom_user.to_session()
        return jsonify(data)

    @app.route("/setup")
    def setup():
        # The same checks as `flask wecom doctor`. In sandbox mode the "console" values are the
        # simulator's, so a mismatch between our settings and WeCom's shows up in check 2.
        box = app.extensions.get("wecom_demo")
        if box is not None:
            doctor = doctor_context(app, console=box.console_settings(), allow_local_redirects=box.lenient)
            checked = None
        else:
            doctor, checked_at = _recent_doctor_run(app)
            checked = describe_age(time.time() - checked_at, bilingual=True)
        return render_template("setup.html", setup=collect_setup(), doctor_checked=checked, **doctor)

    @app.route("/status.json")
    def status_json():
        return jsonify(collect_status())

    @app.errorhandler(404)
    def not_found(_error):
        return render_template("message.html", title_zh="页面不存在", title_en="Page not found"), 404

    app.add_url_rule("/login", "login", lambda: redirect(url_for("wecom.login", next=url_for("profile"))))


# -- status panel and setup page -----------------------------------------------------------------


def _age(seconds: Optional[float]) -> Optional[str]:
    return None if seconds is None else describe_age(seconds, bilingual=True)


#: in real mode, how long one doctor run is shown before /setup calls WeCom again: the doctor fetches
#: fresh tokens, and WeCom throttles frequent gettoken calls (doc 91039)
DOCTOR_REUSE_SECONDS = 30


def _recent_doctor_run(app: Flask) -> tuple:
    """(doctor template variables, time of the run) — reused for DOCTOR_REUSE_SECONDS so that reloading
    /setup, or anyone who can reach it, cannot turn the page into a gettoken loop."""
    cached = app.extensions.get("wecom_demo_doctor")
    now = time.time()
    if cached is None or now - cached[1] >= DOCTOR_REUSE_SECONDS:
        cached = (doctor_context(app), now)
        app.extensions["wecom_demo_doctor"] = cached
    return cached


def collect_status() -> Dict[str, Any]:
    """What the status panel shows. Secrets masked; tokens only as "cached until …"."""
    state = WeCom.state()
    provider = state.provider
    corps = []
    for corp in state.store.list_corps():
        cached = provider.corp_token(corp.corp_id).peek()
        corps.append({
            "corp_id": corp.corp_id,
            "name": corp.corp_name or "-",
            "agent_id": corp.agent_id or "-",
            "status": corp.status,
            "active": corp.active,
            "token_cached": cached is not None,
            "token_expires_in": int(cached["expires_at"] - _now()) if cached else None,
        })
    configured = provider.corp_id
    if configured and configured not in {c["corp_id"] for c in corps}:
        cached = provider.corp_token(configured).peek()
        corps.insert(0, {"corp_id": configured, "name": "(WECOM_CORP_ID)",
                         "agent_id": provider.agent_id or "-", "status": "configured", "active": True,
                         "token_cached": cached is not None,
                         "token_expires_in": int(cached["expires_at"] - _now()) if cached else None})
    ticket_age = provider.suite_ticket_age() if provider.suite_id else None
    suite_cached = provider.suite_token().peek() if provider.has_suite else None
    codes = [{"id": c.id, "info_type": c.info_type, "status": c.status, "corp_id": c.corp_id,
              "error": c.error} for c in state.store.recent_auth_codes(limit=5)]
    return {
        "mode": state.app_type,
        "lines": status_lines(state),
        "suite_id": provider.suite_id,
        "ticket_age": _age(ticket_age),
        "has_ticket": ticket_age is not None,
        # the doctor's own limit (check 3 on /setup), so the home page and /setup agree
        "ticket_stale": ticket_age is not None and ticket_age > TICKET_LIFETIME,
        "suite_token_cached": suite_cached is not None,
        "corps": corps,
        "authorized": any(c["active"] for c in corps),
        "auth_codes": codes,
    }


def _now() -> float:
    return time.time()


def describe_domains(uri: str) -> Dict[str, Any]:
    """What the pages say about the redirect URI's host (docs 96441, 90313 80001, 98173).

    ``trusted_domain``: the 可信域名 to enter, or None when the host is one WeCom refuses and no domain
    is known; ``refused_zh`` / ``refused_en``: why WeCom refuses the host (None when it does not);
    ``serve_zh`` / ``serve_en``: how to serve on 443 behind a reverse proxy; ``web_login_domain``:
    the 授权回调域 to enter (a port is fine there).
    """
    checked = domains.redirect_host(uri)
    if checked is None:
        return {"trusted_domain": None, "refused_zh": None, "refused_en": None, "serve_zh": None,
                "serve_en": None, "web_login_domain": None}
    refused_zh = refused_en = None
    if checked.problem is not None:
        refused_zh, refused_en = domains.why_refused(checked.problem)
    serve_zh, serve_en = domains.serve_advice(checked.advisable)
    return {"trusted_domain": checked.advisable, "refused_zh": refused_zh, "refused_en": refused_en,
            "serve_zh": serve_zh, "serve_en": serve_en, "web_login_domain": checked.host}


def collect_setup() -> Dict[str, Any]:
    """The setup page: every setting (secrets masked), the URLs for the WeCom console, problems."""
    state = WeCom.state()
    config = state.config
    rows = []
    for key, (default, meaning) in SETTINGS.items():
        value = config.get(key)
        if key in SECRET_SETTINGS and value:
            shown = mask(str(value))
        elif value is None or value == "":
            shown = "-"
        else:
            shown = str(value)
        rows.append({"key": key, "value": shown, "meaning": meaning, "default": value == default})
    uri = redirect_uri()
    checked = domains.redirect_host(uri)
    host = checked.host if checked is not None else urlsplit(uri).netloc
    callback = url_for("wecom.callback", _external=True)
    data_callback = url_for("wecom.callback_data", _external=True)
    public = config.get("WECOM_PUBLIC_URL")
    if public:
        base = str(public).rstrip("/")
        callback = base + url_for("wecom.callback")
        data_callback = base + url_for("wecom.callback_data")
    return {
        "mode": state.app_type,
        "whitelist": console.sentence(console.whitelist_fix(state.app_type, None)),  # the words of the 60020 page
        "trusted_domain_place": console.trusted_domain_place(state.app_type),
        "rows": rows,
        "redirect_uri": uri,
        "redirect_host": host,
        **describe_domains(uri),
        "callback_url": callback,
        "data_callback_url": data_callback,
        "problems": [{"key": p.key, "problem": p.problem, "fix": p.fix, "severity": p.severity}
                     for p in state.config_problems],
        "dotenv_files": state.app.config.get("DEMO_DOTENV_FILES") or [],
        "https": uri.startswith("https://"),
    }


__all__ = ["create_app", "settings_from_env", "load_dotenv_files", "collect_status", "collect_setup",
           "describe_domains"]
