"""Shared by the simulator's own tests: plain JSON calls to it over real HTTP (the served ``fake`` and its
``url`` are fixtures of tests/conftest.py; these modules mark it ``trusted_domain=TRUSTED_DOMAIN``)."""
from __future__ import annotations

from typing import Any, Dict

import requests

from flask_wecom.testing import FakeWeCom

#: the trusted domain of the simulator's own tests: ``pytestmark = pytest.mark.fake_wecom(trusted_domain=...)``
TRUSTED_DOMAIN = "app.example.com"


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
