"""Shared by the simulator's own tests: a served fake, and plain JSON calls to it over real HTTP."""
from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest
import requests

from flask_wecom.testing import FakeWeCom


@pytest.fixture
def fake() -> FakeWeCom:
    return FakeWeCom(trusted_domain="app.example.com")


@pytest.fixture
def url(fake: FakeWeCom) -> Iterator[str]:
    with fake.serve() as base:
        yield base


def get(url: str, path: str, **params: Any) -> Dict[str, Any]:
    r = requests.get(url + path, params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def post(url: str, path: str, body: Dict[str, Any], **params: Any) -> Dict[str, Any]:
    r = requests.post(url + path, params=params, json=body, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def self_built_token(fake: FakeWeCom, url: str) -> str:
    return get(url, "/cgi-bin/gettoken", corpid=fake.corp.corp_id, corpsecret=fake.corp.secret)["access_token"]
