"""Issue 13 — the OpenID Connect hub in front of WeCom, over real HTTP.

Three (or more) servers on their own ports: the simulator (FakeWeCom), the hub (a flask-wecom app with
WECOM_HUB_ISSUER, served by werkzeug in a thread) and relying parties — separate Flask apps using Authlib's
OIDC client, configured from the hub's discovery document (``server_metadata_url``) only. A
``requests.Session`` plays the browser (the WeCom client's user agent: in-client OAuth).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from hub_support import HUB_PATH, SECRET_KEY, Browser, Served, make_hub, make_rp, verify_id_token

from flask_wecom import WeCom
from flask_wecom.testing import FakeWeCom

GRAFANA_SECRET = "grafana-secret-0123456789abcdef"
WIKI_SECRET = "wiki-secret-0123456789abcdef"


@pytest.fixture
def fake():
    fake = FakeWeCom(allow_local_redirects=True)
    with fake.serve():
        yield fake


@pytest.fixture
def servers():
    made = []

    def serve() -> Served:
        server = Served()
        made.append(server)
        return server

    yield serve
    for server in made:
        server.close()


@pytest.fixture
def world(fake, servers, tmp_path, monkeypatch):
    """The hub with three clients: grafana and wiki (confidential) and spa (public, PKCE)."""
    hub, grafana, wiki, spa = servers(), servers(), servers(), servers()
    clients = [
        {"client_id": "grafana", "client_secret": GRAFANA_SECRET, "name": "Grafana",
         "redirect_uris": [grafana.url + "/callback"], "post_logout_redirect_uris": [grafana.url + "/"]},
        {"client_id": "wiki", "client_secret": WIKI_SECRET, "name": "Wiki", "redirect_uris": [wiki.url + "/callback"]},
        {"client_id": "spa", "name": "Single-page app", "redirect_uris": [spa.url + "/callback"]},
    ]
    app = make_hub(fake, tmp_path, hub, clients)
    issuer = hub.url + HUB_PATH
    make_rp(grafana, issuer, "grafana", GRAFANA_SECRET, name="grafana")
    make_rp(wiki, issuer, "wiki", WIKI_SECRET, name="wiki")
    make_rp(spa, issuer, "spa", None, pkce=True, name="spa")
    return {"fake": fake, "app": app, "hub": hub, "issuer": issuer, "grafana": grafana, "wiki": wiki, "spa": spa}


def test_discovery_names_the_endpoints_and_what_the_hub_supports(world):
    issuer = world["issuer"]
    meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == issuer
    for key, path in (("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                      ("userinfo_endpoint", "/userinfo"), ("jwks_uri", "/jwks"), ("end_session_endpoint", "/logout")):
        assert meta[key] == issuer + path
    assert meta["response_types_supported"] == ["code"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "none"}
    assert meta["subject_types_supported"] == ["public"]
    assert {"openid", "profile", "email"} <= set(meta["scopes_supported"])
    jwks = requests.get(meta["jwks_uri"], timeout=10).json()
    assert len(jwks["keys"]) == 1 and jwks["keys"][0]["kty"] == "RSA" and "d" not in jwks["keys"][0]


def test_a_tool_signs_in_through_the_hub_and_shows_name_and_email(world):
    fake, grafana = world["fake"], world["grafana"]
    member = fake.corp.members[0]
    browser = Browser()
    page, url = browser.walk(grafana.url + "/login", member.userid)
    assert url.startswith(grafana.url + "/callback?code=") and page.status_code == 200, page.text[:2000]
    assert member.name in page.text and member.email in page.text
    home = browser.session.get(grafana.url + "/", timeout=10).text
    assert f'id="name">{member.name}<' in home and f'id="email">{member.email}<' in home

    # the id_token verifies on its own: signature via JWKS, iss, aud, exp, nonce
    issued = grafana.app.extensions["rp_tokens"][-1]
    id_token = issued["token"]["id_token"]
    jwks = requests.get(world["issuer"] + "/jwks", timeout=10).json()
    nonce = browser.authorize_params()["nonce"]
    claims = verify_id_token(id_token, jwks, issuer=world["issuer"], audience="grafana", nonce=nonce)
    assert claims["wecom_corp_id"] == fake.corp.corp_id and claims["wecom_userid"] == member.userid
    assert claims["name"] == member.name and claims["email"] == member.email
    assert claims["exp"] > time.time() and claims["auth_time"] <= time.time()
    # the same claims at userinfo
    info = issued["userinfo"]
    for key in ("sub", "name", "email", "wecom_corp_id", "wecom_userid"):
        assert info[key] == claims[key]
    with pytest.raises(Exception):  # a wrong nonce does not verify
        verify_id_token(id_token, jwks, issuer=world["issuer"], audience="grafana", nonce="other")
