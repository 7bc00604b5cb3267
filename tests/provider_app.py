"""A provider app served over real HTTP and pointed at a served FakeWeCom (shared by the flow and CLI tests)."""
from __future__ import annotations

import os

from flask import Flask

from flask_wecom import WeCom
from flask_wecom.testing import FakeWeCom

SECRET_KEY = "test-secret-key-0123456789abcdef"


class Provider:
    """One provider app served over HTTP, pointed at one served FakeWeCom."""

    def __init__(self, fake: FakeWeCom, app: Flask, url: str) -> None:
        self.fake = fake
        self.app = app
        self.url = url
        self.callback = url + "/wecom/callback"
        self.data_callback = url + "/wecom/callback/data"

    @property
    def state(self):
        return self.app.extensions["wecom"]

    def wait(self) -> None:
        assert self.state.wait_background(10), "background AuthCode exchange did not finish"

    def authorize(self, **kwargs):
        self.fake.push_suite_ticket(self.callback)
        result = self.fake.authorize(self.callback, **kwargs)
        self.wait()
        return result


def app_config(fake: FakeWeCom, tmp_path, mode: str = "customized") -> dict:
    """The settings every test app shares: pointed at ``fake`` in ``mode`` (``internal`` or the fake's suite
    type), store and cache in ``tmp_path``, no HTTP retries (the fake's faults are meant to show)."""
    config = fake.flask_config("internal" if mode == "internal" else None)
    config.update(
        TESTING=True,
        SECRET_KEY=SECRET_KEY,
        WECOM_DATABASE_URI="sqlite:///" + os.path.join(str(tmp_path), "wecom.sqlite3"),
        WECOM_CACHE_DIR=str(tmp_path / "cache"),
        WECOM_HTTP_RETRIES=0,
        WECOM_BUSY_RETRIES=0,
    )
    return config


def make_app(fake: FakeWeCom, tmp_path, **config) -> Flask:
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(fake.flask_config(), SECRET_KEY=SECRET_KEY, WECOM_HTTP_RETRIES=0, WECOM_BUSY_RETRIES=0)
    app.config.update(config)
    WeCom(app)
    return app
