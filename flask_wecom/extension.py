"""The Flask extension object: configuration, wiring, and the hooks users register."""
from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, TypeVar, cast

from flask import Flask
from flask_caching import Cache

from .blueprint import create_blueprint
from .cacheguard import redis_options, redis_timeout_problem
from .client import WeComClient
from .config import (
    DEFAULTS,
    as_text,
    database_options,
    infer_app_type,
    validate_config,
    with_fallbacks,
    with_whole_numbers,
)
from .cookies import harden_session_cookie
from .errors import ConfigError
from .hub import init_hub
from .lazy_cli import wecom_group  # flask_wecom.cli, imported when a `flask wecom` command runs
from .lazy_store import LazyStore
from .login import ViewT, init_login, login_required
from .outage import init_outage, register_store_errors
from .provider import Provider
from .recovery import kick
from .recovery import start as start_sweeper
from .secretbox import LockedSecretBox, SecretBox
from .spool import Spool
from .state import EXTENSION_KEY, WeComState, get_state
from .tokens import TokenManager

if TYPE_CHECKING:  # the store module imports SQLAlchemy: only when the store is built (flask_wecom.lazy_store)
    from .store import Store

log = logging.getLogger("flask_wecom")

#: a function the decorator hooks (``on``, ``user_loader``, ``unauthorized_handler``) register and return unchanged
HookT = TypeVar("HookT", bound=Callable[..., Any])

def exit_if_flask_cli(error: ConfigError) -> None:
    """While the ``flask`` command loads the app: print ``error`` as one line and exit with status 2.

    Flask builds its command list by loading the app, and shows any other exception as a traceback, even
    for ``flask --help``; :class:`SystemExit` is the one thing it lets through. Outside the ``flask``
    command (tests, gunicorn, ``app.test_cli_runner()`` on an app already made) this does nothing.
    """
    import click
    from flask.cli import ScriptInfo

    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.find_object(ScriptInfo) is None:
        return
    click.echo(config_error_line(error), err=True)
    raise SystemExit(2)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def config_error_line(error: ConfigError) -> str:
    """One line naming the key: ``flask-wecom 配置错误 / configuration error: WECOM_X: what — fix``."""
    problems = list(getattr(error, "problems", ()) or ())
    first = str(problems[0]) if problems else str(error).strip().splitlines()[0]
    line = f"flask-wecom 配置错误 / configuration error: {first}"
    if len(problems) > 1:
        keys = ", ".join(p.key for p in problems[1:])
        line += (f" (另有 / also: {keys}; WECOM_CHECK_CONFIG=False 时 `flask wecom doctor` 逐项列出 / with "
                 "WECOM_CHECK_CONFIG=False, `flask wecom doctor` lists each)")
    return " ".join(line.split())


class WeCom:
    """Flask extension for WeCom login and the 代开发 provider flow.

    ``WeCom(app)`` or ``wecom = WeCom(); wecom.init_app(app)``. Keyword options give defaults
    for ``WECOM_*`` keys (``WeCom(app, corp_id="ww…")`` = ``WECOM_CORP_ID``; app config wins),
    plus ``cache=`` (an existing Flask-Caching ``Cache``), ``store=``, ``client=`` and ``clock=`` (a callable
    giving epoch seconds, default :func:`time.time`: the app's time for login states, tokens, the store, the
    spool and the hub, so a test moves one clock instead of patching modules).
    """

    def __init__(self, app: Optional[Flask] = None, **options: Any) -> None:
        self._cache: Optional[Cache] = options.pop("cache", None)
        self._store = options.pop("store", None)
        self._client = options.pop("client", None)
        self._clock: Callable[[], float] = options.pop("clock", None) or time.time
        self._options = {f"WECOM_{key.upper()}": value for key, value in options.items()}
        unknown = sorted(set(self._options) - set(DEFAULTS))
        if unknown:
            raise TypeError(f"unknown WeCom option(s): {', '.join(k[6:].lower() for k in unknown)}")
        self._event_handlers: Dict[str, List[Callable[..., Any]]] = {}
        self._user_loader: Optional[Callable[..., Any]] = None
        self._unauthorized_handler: Optional[Callable[..., Any]] = None
        if app is not None:
            self.init_app(app)

    # -- setup ------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Configure flask-wecom on ``app``; a configuration mistake raises :class:`ConfigError` naming the key.

        While the ``flask`` command loads the app (``flask run``, ``flask wecom …``, even ``--help``), the
        mistake is one line on stderr and exit status 2 instead of a traceback.
        """
        try:
            self._init_app(app)
        except ConfigError as exc:
            exit_if_flask_cli(exc)
            raise

    def _init_app(self, app: Flask) -> None:
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "flask-wecom is already registered on this app. Create one WeCom object per app and call "
                "init_app once (WeCom(app) already calls it)."
            )
        for key, default in DEFAULTS.items():
            app.config.setdefault(key, self._options.get(key, default))
        app.config.update(as_text(app.config))  # from_prefixed_env() gives an agent id of digits as a number
        config = {key: app.config[key] for key in DEFAULTS}
        app_type = infer_app_type(config, strict=False)  # an impossible WECOM_APP_TYPE is one of the problems
        problems = validate_config(config, app_type, secret_key=app.config.get("SECRET_KEY"))
        errors = [p for p in problems if p.severity == "error"]
        if errors and config["WECOM_CHECK_CONFIG"]:
            error = ConfigError("flask-wecom configuration is incomplete:\n  " + "\n  ".join(map(str, errors)))
            error.problems = errors  # type: ignore[attr-defined]
            raise error
        for problem in problems:
            if problem.severity == "warning":
                log.warning("flask-wecom config: %s", problem)
        config = with_fallbacks(with_whole_numbers(config), problems)

        cache = self._make_cache(app, config)
        client = self._client or WeComClient(
            config["WECOM_API_BASE"], timeout=config["WECOM_HTTP_TIMEOUT"],  # the client checks its shape
            retries=int(config["WECOM_HTTP_RETRIES"]), busy_retries=int(config["WECOM_BUSY_RETRIES"]),
        )
        backend = app.extensions["cache"][cache]
        slow = redis_timeout_problem(backend)
        if slow:
            log.warning("flask-wecom token cache: %s", slow)
        tokens = TokenManager(backend, margin=int(config["WECOM_TOKEN_MARGIN"]),
                              refresh_ahead=int(config["WECOM_TOKEN_REFRESH_AHEAD"]), clock=self._clock)
        store = self._store or self._make_store(app, config, self._clock)
        provider = Provider(
            app_type=app_type, client=client, tokens=tokens, store=store,
            suite_id=config["WECOM_SUITE_ID"], suite_secret=config["WECOM_SUITE_SECRET"],
            provider_corp_id=config["WECOM_PROVIDER_CORP_ID"], corp_id=config["WECOM_CORP_ID"],
            agent_id=config["WECOM_AGENT_ID"], secret=config["WECOM_SECRET"],
            login_suite_id=config["WECOM_LOGIN_SUITE_ID"], login_suite_secret=config["WECOM_LOGIN_SUITE_SECRET"],
            clock=self._clock,
        )
        state = WeComState(self, app, config, app_type, client, cache, tokens, store, provider, problems)
        state.clock = self._clock
        app.extensions[EXTENSION_KEY] = state
        self._init_recovery(app, state)

        app.register_blueprint(create_blueprint(self), url_prefix=config["WECOM_URL_PREFIX"])
        app.cli.add_command(wecom_group)
        init_login(self, app)  # the login layer: templates context, user proxy
        init_outage(app)  # the store down on a page that needs it: 503 and "try again shortly", not 500
        init_hub(app, state)  # the OIDC hub, when WECOM_HUB_ISSUER is set
        harden_session_cookie(app, config)  # Secure over HTTPS, SameSite=Lax, unless the app chose

    @staticmethod
    def _init_recovery(app: Flask, state: WeComState) -> None:
        """The spool for what the store cannot take, AuthCode leases, and the per-process sweeper that
        replays and takes over (flask_wecom.recovery); started by the first request of each process."""
        state.spool = Spool(os.path.join(app.instance_path, "wecom-spool"), state.store.secret_box, clock=state.clock)
        state.provider.spool = state.spool
        state.provider.lease = float(max(1, int(state.config["WECOM_EXCHANGE_LEASE"])))

        def kick_recovery() -> None:
            kick(state)

        app.before_request(kick_recovery)

    @staticmethod
    def _cache_config(app: Flask, config: Dict[str, Any]) -> Dict[str, Any]:
        """Map ``WECOM_CACHE_*`` to the ``CACHE_*`` names Flask-Caching reads."""
        cache_config = {key[len("WECOM_"):]: value for key, value in app.config.items()
                        if key.startswith("WECOM_CACHE_") and value is not None}
        filesystem = ("FileSystemCache", "filesystem", "flask_caching.backends.FileSystemCache")
        if cache_config.get("CACHE_TYPE") in filesystem:
            cache_config.setdefault("CACHE_DIR", os.path.join(app.instance_path, "wecom-cache"))
            cache_config.setdefault("CACHE_THRESHOLD", 10000)
        if "redis" in str(cache_config.get("CACHE_TYPE") or "").lower():
            # A frozen Redis must cost ≤ 0.5 s once per cool-down, not redis-py's 5 s × 4 attempts
            # (flask_wecom.cacheguard); WECOM_CACHE_OPTIONS entries win.
            options = {**redis_options(), **dict(cache_config.get("CACHE_OPTIONS") or {})}
            cache_config["CACHE_OPTIONS"] = options
            kind = str(cache_config.get("CACHE_TYPE")).rsplit(".", 1)[-1]
            if cache_config.get("CACHE_REDIS_URL") and kind in ("RedisCache", "redis"):
                # Flask-Caching before 2.4 drops CACHE_OPTIONS when CACHE_REDIS_URL is set (and redis-py
                # before 6 has no socket timeout at all): hand it a client built with them.
                import redis

                cache_config["CACHE_REDIS_HOST"] = redis.Redis.from_url(cache_config.pop("CACHE_REDIS_URL"),
                                                                        **options)
        return cache_config

    def _make_cache(self, app: Flask, config: Dict[str, Any]) -> Cache:
        if self._cache is not None:
            if self._cache not in app.extensions.get("cache", {}):
                self._cache.init_app(app)
            return self._cache
        cache = Cache()
        cache_config = self._cache_config(app, config)
        try:
            cache.init_app(app, config=cache_config)
        except ImportError as exc:  # an unknown WECOM_CACHE_TYPE, or its client library missing
            raise ConfigError(
                f"WECOM_CACHE_TYPE {config.get('WECOM_CACHE_TYPE')!r} cannot be loaded ({_first_line(exc)}) — "
                "用 FileSystemCache、RedisCache 等 Flask-Caching 后端并安装其依赖 / use a Flask-Caching backend such "
                "as FileSystemCache or RedisCache and install what it needs (pip install 'flask-wecom[redis]')"
            ) from None
        except OSError as exc:
            if "CACHE_DIR" not in cache_config:
                raise
            # A cache directory that cannot be created (under a file, read-only disk…) must not stop
            # the workers: each keeps its tokens in memory (one gettoken per process) until restarted.
            log.error("flask-wecom token cache: cannot use the directory %s (%s: %s); each process keeps its "
                      "tokens in memory until the directory is fixed and the app restarted",
                      cache_config["CACHE_DIR"], type(exc).__name__, exc.strerror or exc)
            cache = Cache()
            cache.init_app(app, config={"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": 10000})
        return cache

    @staticmethod
    def _make_store(app: Flask, config: Dict[str, Any], clock: Callable[[], float] = time.time) -> Store:
        url = config["WECOM_DATABASE_URI"]
        if not url:
            os.makedirs(app.instance_path, exist_ok=True)
            url = "sqlite:///" + os.path.join(app.instance_path, "wecom.sqlite3")
        key = config["WECOM_STORE_KEY"] or app.config.get("SECRET_KEY")
        if not key and config["WECOM_CHECK_CONFIG"]:
            raise ConfigError("SECRET_KEY (or WECOM_STORE_KEY) must be set: flask-wecom encrypts permanent codes "
                              "at rest with a key derived from it")
        auto_upgrade = config.get("WECOM_AUTO_UPGRADE", True)
        if isinstance(auto_upgrade, str):  # from an environment variable
            auto_upgrade = auto_upgrade.strip().lower() not in ("", "0", "false", "no", "off")
        # WECOM_CHECK_CONFIG=False without a key: the app starts so the doctor can say so; no secret is stored
        # or read until it is set
        box = SecretBox(key) if key else LockedSecretBox()
        if not config["WECOM_DATABASE_URI"] and not database_options(config):
            # The default SQLite file: nothing the user wrote to check now, so the store (and SQLAlchemy) is
            # built when first used; the 503 handler for its errors is registered then (flask_wecom.outage).
            def build() -> Store:
                from .store import Store

                return Store(url, box, auto_upgrade=bool(auto_upgrade), clock=clock)

            # a stand-in for the Store: every attribute but a few is the built store's
            return cast("Store", LazyStore(build, box, url, on_build=lambda: register_store_errors(app)))
        from sqlalchemy.exc import ArgumentError

        from .store import Store

        try:
            return Store(url, box, auto_upgrade=bool(auto_upgrade), engine_options=database_options(config),
                         clock=clock, cooldown=float(config["WECOM_DATABASE_COOLDOWN"]))
        except (ImportError, ArgumentError) as exc:  # never the URL itself in the message: it may hold a password
            raise ConfigError(
                f"WECOM_DATABASE_URI is not a usable SQLAlchemy URL ({_first_line(exc)}) — 检查数据库地址并安装其驱动 "
                "/ check the URL and install its driver (pip install 'flask-wecom[postgres]' or "
                "'flask-wecom[mysql]')") from None

    # -- access -------------------------------------------------------------------------

    @staticmethod
    def state(app: Optional[Flask] = None) -> WeComState:
        """The per-app state (``current_app`` when no app is given)."""
        return get_state(app)

    @staticmethod
    def start_recovery(app: Optional[Flask] = None) -> None:
        """Start the process's sweeper (spool replay, AuthCode takeover) now rather than on the first
        request. Call it in each worker after the fork (gunicorn without ``preload_app``: where the app is
        built), so recovery runs even while no request arrives."""
        start_sweeper(get_state(app))

    # -- hooks --------------------------------------------------------------------------

    def on(self, event_type: str) -> Callable[[HookT], HookT]:
        """Register a handler for a callback event type (``"change_contact"``, ``"text"``, ``"create_auth"``…).

        The handler gets the :class:`~flask_wecom.events.CallbackEvent`. For app (数据) callbacks it may
        return a plaintext reply XML, which is encrypted and sent back as the passive reply.
        """
        def decorator(func: HookT) -> HookT:
            self._event_handlers.setdefault(event_type, []).append(func)
            return func
        return decorator

    def handlers_for(self, event_type: str) -> List[Callable[..., Any]]:
        return list(self._event_handlers.get(event_type, ())) + list(self._event_handlers.get("*", ()))

    def user_loader(self, func: HookT) -> HookT:
        """Map a :class:`~flask_wecom.user.WeComUser` to your app's own user object (or None to refuse)."""
        self._user_loader = func
        return func

    def login_required(self, func: ViewT) -> ViewT:
        """Same as ``from flask_wecom import login_required``."""
        return login_required(func)

    def unauthorized_handler(self, func: HookT) -> HookT:
        """Called instead of the default redirect / 401 when a login_required view is hit anonymously."""
        self._unauthorized_handler = func
        return func
