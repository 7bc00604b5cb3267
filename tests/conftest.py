"""The fixtures shared by our tests, in one place.

- The simulator: ``fake_wecom`` comes from our own pytest plugin (flask_wecom.testing.pytest_plugin, the
  ``pytest11`` entry point a user gets too); ``fake`` is the same served FakeWeCom under the short name our
  tests use. A module sets the simulator's options with ``pytestmark = pytest.mark.fake_wecom(...)``, a
  test with the same marker. ``url`` is its base URL.
- A login test app (``app``, ``client``: tests/login_support.make_app in self-built mode).
- ``clock``: one injectable clock, given to the app as ``WeCom(app, clock=clock)`` and moved with
  ``clock.advance(seconds)`` — instead of patching a module's time function.
- Real services (Redis, PostgreSQL, MariaDB, Chromium) that skip on a laptop without them but fail under
  ``CI=true``, where a missing service is a defect; ``pg`` / ``database``: a PostgreSQL cluster of the
  module's own, to stop, crash and freeze.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import socket
import uuid
from typing import Iterator

import pytest

from flask_wecom.testing import FakeWeCom
from flask_wecom.testing.model import Clock

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(what: str, reason: str) -> None:
    """Skip locally, fail in CI: a test that needs a service must run there."""
    message = f"{what} is not available: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: services are required, .ci/run should have started it)")
    pytest.skip(message)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("WECOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis
    except ImportError:
        require_service("Redis", "the 'redis' package is not installed (pip install -e '.[test]')")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no usable Redis"
        require_service("Redis", f"cannot reach {url} ({exc.__class__.__name__})")
    return url


def _reachable_database(url: str, service: str, driver: str) -> str:
    """``url`` once ``select 1`` answers there; else skip (locally) or fail (CI=true) naming ``service``."""
    try:
        importlib.import_module(driver)
        import sqlalchemy
    except ImportError:
        require_service(service, f"{driver} is not installed (pip install -e '.[test]')")
    try:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        require_service(service, f"cannot reach {url} ({exc.__class__.__name__})")
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get(
        "WECOM_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    )
    return _reachable_database(url, "PostgreSQL", "psycopg2")


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """MariaDB/MySQL through PyMySQL (``.ci/run`` starts MariaDB with root and an empty password)."""
    url = os.environ.get("WECOM_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
    return _reachable_database(url, "MariaDB", "pymysql")


@contextlib.contextmanager
def throwaway_database(server_url: str, prefix: str = "wecom_test") -> Iterator[str]:
    """A new, empty database on the server of ``server_url`` (PostgreSQL or MySQL/MariaDB), dropped afterwards.

    Yields its URL. For tests that need a database nobody else touches (schema creation, concurrent boot).
    """
    import sqlalchemy

    base = sqlalchemy.engine.make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    postgres = base.get_backend_name() == "postgresql"
    admin_url = base.set(database="postgres") if postgres else base
    admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if postgres:  # connections a killed test process left behind would block the drop
                conn.execute(sqlalchemy.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                             "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """An empty PostgreSQL database of its own for this test, dropped afterwards."""
    with throwaway_database(postgres_url) as url:
        yield url


@pytest.fixture
def fresh_mysql_url(mysql_url: str) -> Iterator[str]:
    """An empty MariaDB/MySQL database of its own for this test, dropped afterwards."""
    with throwaway_database(mysql_url) as url:
        yield url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("WECOM_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        require_service("Chromium", "Debian's 'chromium' package is not installed (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        require_service("Playwright", "the 'playwright' package is not installed")
    return path


# -- the simulator ----------------------------------------------------------------------------------------


@pytest.fixture
def fake(fake_wecom: FakeWeCom) -> FakeWeCom:
    """The served FakeWeCom of our plugin's ``fake_wecom`` (options: ``pytest.mark.fake_wecom(...)``)."""
    return fake_wecom


@pytest.fixture
def url(fake: FakeWeCom) -> str:
    """The base URL the simulator serves on (http://127.0.0.1:<port>)."""
    return fake.url


class FrozenClock:
    """Time that stands still until a test moves it (``now`` is writable, ``advance(seconds)``): for unit
    tests of a core object given ``clock=`` (TokenManager, Store) where real time must not creep in."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    """The app's clock for this test: ``WeCom(app, clock=clock)``, then ``clock.advance(seconds)`` (forward
    only). Real time until moved. ``WeCom(app, clock=fake.clock)`` shares the simulator's instead."""
    return Clock()


@pytest.fixture
def stub():
    """A started tests/client_stub.StubWeCom (answers set per path, for the client and token tests)."""
    from client_stub import StubWeCom

    server = StubWeCom()
    server.start()
    yield server
    server.stop()


# -- a provider app served over real HTTP -------------------------------------------------------------------


@pytest.fixture
def serve(fake: FakeWeCom, tmp_path):
    """``serve(**config)`` -> a :class:`provider_app.Provider`: tests/provider_app.make_app pointed at ``fake``,
    served over real HTTP, each in a folder of its own; all closed (and their stores let go) at the end."""
    from provider_app import Provider, make_app

    from flask_wecom.testing.server import serve_app

    opened = []

    def start(**config):
        app = make_app(fake, tmp_path / uuid.uuid4().hex[:8], **config)
        handle = serve_app(app)
        opened.append((handle, app))
        return Provider(fake, app, handle.url)

    yield start
    for handle, app in opened:
        handle.close()
        app.extensions["wecom"].wait_background(10)
        app.extensions["wecom"].store.dispose()


@pytest.fixture
def provider(serve):
    """One provider app (代开发 unless ``fake`` is marked otherwise) served over HTTP: ``serve()``."""
    return serve()


# -- a PostgreSQL cluster of the module's own ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pg():
    """A PostgreSQL cluster on a private port (tests/private_postgres.py), for tests that stop, crash or
    freeze the database; never the machine's. One per test module."""
    from private_postgres import PrivatePostgres

    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.close()


@pytest.fixture
def database(pg):
    """``pg`` with a new database of this test's (``database.db_url``); afterwards the cluster is thawed and
    running again, whatever the test did to it."""
    pg.db_url = pg.new_database()
    yield pg
    pg.recover()


# -- a login test app ----------------------------------------------------------------------------------------


@pytest.fixture
def app(fake_wecom: FakeWeCom, tmp_path):
    """A self-built app pointed at the served simulator, with /profile and /api/me behind login_required
    (tests/login_support.make_app; a module's own ``app`` fixture wins)."""
    from login_support import make_app

    return make_app(fake_wecom, tmp_path)


@pytest.fixture
def client(app):
    """The test client of ``app``."""
    return app.test_client()


# -- no instance folder in the repository --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _instance_folder_outside_the_repository(monkeypatch, tmp_path_factory):
    """An app made without ``instance_path`` (``Flask(__name__)`` in a test module, or a name that is no module)
    would keep its instance folder in the repository (tests/instance, instance/): flask-wecom's spool when a
    template event cannot be stored (SQLite busy under load), a default SQLite store, the demo's secret key. Its
    default becomes a fresh temporary folder per test instead; nothing is created until something is written."""
    from flask import Flask

    folder = str(tmp_path_factory.getbasetemp() / "instances" / uuid.uuid4().hex[:12])
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: folder)
