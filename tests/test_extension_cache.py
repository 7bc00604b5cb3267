"""The token cache as configured through the extension: FileSystemCache by default, Redis through
WECOM_CACHE_*, or an existing Flask-Caching Cache — against FakeWeCom over real HTTP."""
from __future__ import annotations

import os
import uuid

import redis
from flask import Flask
from flask_caching import Cache

from flask_wecom import WeCom


def _app(fake, instance, **config) -> Flask:
    """One worker of a self-built app (each call: a fresh app object, as in another process)."""
    cache = config.pop("cache", None)
    app = Flask(__name__, instance_path=str(instance))
    app.config.update(fake.flask_config("internal"), SECRET_KEY="cache-test-secret-key-0123456789")
    app.config.update(config)
    WeCom(app, cache=cache)
    return app


def _token(app, fake) -> str:
    with app.app_context():
        return app.extensions["wecom"].provider.corp_token(fake.corp.corp_id).get()


def test_default_file_system_cache_is_shared_by_the_workers_of_one_host(fake, tmp_path):
    first, second = _app(fake, tmp_path), _app(fake, tmp_path)
    backend = first.extensions["wecom"].cache_backend
    assert type(backend).__name__ == "FileSystemCache"
    assert os.path.isdir(os.path.join(tmp_path, "wecom-cache"))
    assert _token(first, fake) == _token(second, fake)
    assert len(fake.calls_to("/cgi-bin/gettoken")) == 1


def test_redis_through_wecom_cache_settings(fake, tmp_path, redis_url):
    prefix = f"wecom-test-{uuid.uuid4().hex[:8]}:"
    settings = dict(WECOM_CACHE_TYPE="RedisCache", WECOM_CACHE_REDIS_URL=redis_url, WECOM_CACHE_KEY_PREFIX=prefix)
    first = _app(fake, tmp_path / "host-a", **settings)
    second = _app(fake, tmp_path / "host-b", **settings)  # another host: nothing shared but Redis
    assert type(first.extensions["wecom"].cache_backend).__name__ == "RedisCache"
    token = _token(first, fake)
    assert _token(second, fake) == token
    assert len(fake.calls_to("/cgi-bin/gettoken")) == 1
    client = redis.Redis.from_url(redis_url)
    try:
        keys = [k.decode() for k in client.keys(prefix + "*")]
        assert keys and all(fake.corp.secret not in k and token not in k for k in keys)
        assert any(fake.corp.corp_id in k for k in keys)  # keyed by corp (and agent), never by a secret
    finally:
        for key in client.keys(prefix + "*"):
            client.delete(key)


def test_an_existing_flask_caching_cache_can_be_passed(fake, tmp_path):
    cache = Cache(config={"CACHE_TYPE": "SimpleCache"})
    app = _app(fake, tmp_path, cache=cache)
    state = app.extensions["wecom"]
    assert state.cache is cache and type(state.cache_backend).__name__ == "SimpleCache"
    assert _token(app, fake) == _token(app, fake)
    assert len(fake.calls_to("/cgi-bin/gettoken")) == 1
