"""Issue 13 — the OpenID Connect hub in front of WeCom, over real HTTP.

Three (or more) servers on their own ports: the simulator (FakeWeCom), the hub (a flask-wecom app with
WECOM_HUB_ISSUER, served by werkzeug in a thread) and relying parties — separate Flask apps using Authlib's
OIDC client, configured from the hub's discovery document (``server_metadata_url``) only. A
``requests.Session`` plays the browser (the WeCom client's user agent: in-client OAuth).
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode, urljoin

import pytest
import requests
from hub_support import (
    HUB_PATH,
    SECRET_KEY,
    Browser,
    Served,
    make_hub,
    make_rp,
    pkce_pair,
    query_of,
    verify_id_token,
)

from flask_wecom import WeCom

GRAFANA_SECRET = "grafana-secret-0123456789abcdef"
WIKI_SECRET = "wiki-secret-0123456789abcdef"


#: the simulator of the ``fake`` fixture (tests/conftest.py)
pytestmark = pytest.mark.fake_wecom(allow_local_redirects=True)


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
def world(fake, servers, tmp_path, monkeypatch, clock):
    """The hub with three clients: grafana and wiki (confidential) and spa (public, PKCE)."""
    hub, grafana, wiki, spa = servers(), servers(), servers(), servers()
    clients = [
        {"client_id": "grafana", "client_secret": GRAFANA_SECRET, "name": "Grafana",
         "redirect_uris": [grafana.url + "/callback"], "post_logout_redirect_uris": [grafana.url + "/"]},
        {"client_id": "wiki", "client_secret": WIKI_SECRET, "name": "Wiki", "redirect_uris": [wiki.url + "/callback"]},
        {"client_id": "spa", "name": "Single-page app", "redirect_uris": [spa.url + "/callback"]},
    ]
    app = make_hub(fake, tmp_path, hub, clients, clock=clock)
    issuer = hub.url + HUB_PATH
    make_rp(grafana, issuer, "grafana", GRAFANA_SECRET, name="grafana")
    make_rp(wiki, issuer, "wiki", WIKI_SECRET, name="wiki")
    make_rp(spa, issuer, "spa", None, pkce=True, name="spa")
    return {"fake": fake, "app": app, "hub": hub, "issuer": issuer, "grafana": grafana, "wiki": wiki, "spa": spa,
            "clock": clock}


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
    assert claims["picture"] == member.avatar and claims["picture"].startswith(fake.url + "/avatar/")
    # the same claims at userinfo
    info = issued["userinfo"]
    for key in ("sub", "name", "email", "picture", "wecom_corp_id", "wecom_userid"):
        assert info[key] == claims[key]
    with pytest.raises(Exception):  # noqa: B017 - a wrong nonce does not verify (the library's own error type)
        verify_id_token(id_token, jwks, issuer=world["issuer"], audience="grafana", nonce="other")


# -- helpers ----------------------------------------------------------------------------------


def authorize_url(world, client_id: str, redirect_uri: str, **extra: str) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "scope": "openid profile email", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8)}
    params.update(extra)
    return world["issuer"] + "/authorize?" + urlencode(params)


def get_code(world, browser: Browser, client_id: str, **extra: str) -> tuple:
    """(code, redirect_uri): the browser signs in (WeCom when needed) and is sent back with a code, which the
    relying party is not given."""
    redirect_uri = world[client_id].url + "/callback"
    _, url = browser.walk(authorize_url(world, client_id, redirect_uri, **extra), stop_at=redirect_uri)
    query = query_of(url)
    assert "code" in query, url
    return query["code"], redirect_uri


def token_request(world, data: dict, auth=None) -> requests.Response:
    return requests.post(world["issuer"] + "/token", data=data, auth=auth, timeout=10)


def claims_kid(token: str) -> str:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]


def wecom_calls(fake) -> int:
    """Every request WeCom (the simulator) received: API calls and sign-in pages."""
    return len(fake.calls)


# -- PKCE and single sign-on ------------------------------------------------------------------


def test_a_public_client_signs_in_with_pkce(world):
    spa = world["spa"]
    browser = Browser()
    page, url = browser.walk(spa.url + "/login")
    assert url.startswith(spa.url + "/callback?code=") and page.status_code == 200, page.text[:1000]
    params = browser.authorize_params()
    assert params["code_challenge_method"] == "S256" and params["code_challenge"]
    member = world["fake"].corp.members[0]
    assert member.name in page.text and member.email in page.text
    token = spa.app.extensions["rp_tokens"][-1]["token"]
    claims = verify_id_token(token["id_token"], requests.get(world["issuer"] + "/jwks", timeout=10).json(),
                             issuer=world["issuer"], audience="spa", nonce=params["nonce"])
    assert claims["wecom_userid"] == member.userid


def test_a_public_client_without_pkce_gets_no_token(world):
    browser = Browser()
    redirect_uri = world["spa"].url + "/callback"
    # no code_challenge: the error goes back to the (registered) redirect_uri, without a code
    _, url = browser.walk(authorize_url(world, "spa", redirect_uri), stop_at=redirect_uri)
    query = query_of(url)
    assert query["error"] == "invalid_request" and "code" not in query
    # a code obtained with PKCE, redeemed without the verifier: no token
    verifier, challenge = pkce_pair()
    code, _ = get_code(world, browser, "spa", code_challenge=challenge, code_challenge_method="S256")
    answer = token_request(world, {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                                   "client_id": "spa"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert "access_token" not in answer.text and "id_token" not in answer.text
    # a wrong verifier: no token either
    code, _ = get_code(world, browser, "spa", code_challenge=challenge, code_challenge_method="S256")
    answer = token_request(world, {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                                   "client_id": "spa", "code_verifier": pkce_pair()[0]})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    # the plain method is refused (S256 only)
    _, url = browser.walk(authorize_url(world, "spa", redirect_uri, code_challenge=verifier,
                                        code_challenge_method="plain"), stop_at=redirect_uri)
    assert query_of(url)["error"] == "invalid_request"


def test_a_second_tool_signs_in_with_no_wecom_round_trip(world):
    fake = world["fake"]
    browser = Browser()
    member = fake.corp.members[1]
    page, _ = browser.walk(world["grafana"].url + "/login", member.userid)
    assert member.name in page.text
    before = wecom_calls(fake)
    page, url = browser.walk(world["wiki"].url + "/login")
    assert url.startswith(world["wiki"].url + "/callback") and member.name in page.text and member.email in page.text
    assert wecom_calls(fake) == before  # not one request to WeCom: no sign-in page, no API call
    assert not any("/wecom/login" in visited for visited in browser.visited[-4:])
    # the same member to both tools: the same sub (public subject type)
    grafana_info = world["grafana"].app.extensions["rp_tokens"][-1]["userinfo"]
    wiki_info = world["wiki"].app.extensions["rp_tokens"][-1]["userinfo"]
    assert grafana_info["sub"] == wiki_info["sub"] and grafana_info["wecom_userid"] == member.userid


def test_pkce_is_honoured_for_a_confidential_client(world):
    """A confidential client that sent a code_challenge must present its verifier too: the secret alone, or a
    wrong verifier, gets no token; the right verifier with the secret does."""
    browser = Browser()
    verifier, challenge = pkce_pair()
    code, redirect_uri = get_code(world, browser, "grafana", code_challenge=challenge, code_challenge_method="S256")
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    missing = token_request(world, data, auth=("grafana", GRAFANA_SECRET))
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert "access_token" not in missing.text
    code, _ = get_code(world, browser, "grafana", code_challenge=challenge, code_challenge_method="S256")
    wrong = token_request(world, dict(data, code=code, code_verifier=pkce_pair()[0]), auth=("grafana", GRAFANA_SECRET))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code, _ = get_code(world, browser, "grafana", code_challenge=challenge, code_challenge_method="S256")
    ok = token_request(world, dict(data, code=code, code_verifier=verifier), auth=("grafana", GRAFANA_SECRET))
    assert ok.status_code == 200 and ok.json()["id_token"], ok.text


def test_a_browser_outside_wecom_signs_in_to_the_hub_by_qr_login(fake, servers, tmp_path):
    """The hub signs members in with the extension's own login, QR (web login, wwlogin/sso/login) outside the
    WeCom client; a second tool then signs in with no WeCom round trip."""
    from login_support import BROWSER_UA

    hub, grafana, wiki = servers(), servers(), servers()
    clients = [{"client_id": "grafana", "client_secret": GRAFANA_SECRET, "redirect_uris": [grafana.url + "/callback"]},
               {"client_id": "wiki", "client_secret": WIKI_SECRET, "redirect_uris": [wiki.url + "/callback"]}]
    make_hub(fake, tmp_path, hub, clients, WECOM_LOGIN_VIA="auto")
    issuer = hub.url + HUB_PATH
    make_rp(grafana, issuer, "grafana", GRAFANA_SECRET, name="grafana")
    make_rp(wiki, issuer, "wiki", WIKI_SECRET, name="wiki")
    member = fake.corp.members[1]
    browser = Browser(ua=BROWSER_UA)
    page, url = browser.walk(grafana.url + "/login", member.userid)
    assert url.startswith(grafana.url + "/callback?code=") and page.status_code == 200, page.text[:1000]
    assert any(v.startswith(fake.url + "/wwlogin/sso/login?") for v in browser.visited)  # QR, not in-client OAuth
    assert not any("/connect/oauth2/authorize" in v for v in browser.visited)
    assert member.name in page.text
    issued = grafana.app.extensions["rp_tokens"][-1]
    claims = verify_id_token(issued["token"]["id_token"], requests.get(issuer + "/jwks", timeout=10).json(),
                             issuer=issuer, audience="grafana", nonce=browser.authorize_params()["nonce"])
    assert claims["wecom_userid"] == member.userid and claims["name"] == member.name
    before = wecom_calls(fake)
    page, url = browser.walk(wiki.url + "/login")
    assert url.startswith(wiki.url + "/callback") and member.name in page.text
    assert wecom_calls(fake) == before


def test_the_hub_session_lasts_wecom_hub_session_days(world):
    fake, clock = world["fake"], world["clock"]
    browser = Browser()
    browser.walk(world["grafana"].url + "/login")
    before = wecom_calls(fake)
    clock.advance(6 * 86400)
    browser.walk(world["wiki"].url + "/login")
    assert wecom_calls(fake) == before  # 6 days later: still signed in
    clock.advance(86400 + 60)
    _, url = browser.walk(world["wiki"].url + "/login", stop_at=fake.url)
    assert url.startswith(fake.url + "/connect/oauth2/authorize")  # past 7 days: WeCom again
    page, _ = browser.walk(url)  # the new WeCom sign-in, 7 days on
    assert fake.corp.members[0].name in page.text


# -- errors ------------------------------------------------------------------------------------


def test_an_unknown_client_gets_a_400_page_on_the_hub_and_no_wecom_login(world):
    fake = world["fake"]
    before = wecom_calls(fake)
    answer = requests.get(authorize_url(world, "nobody", world["grafana"].url + "/callback"), allow_redirects=False,
                          timeout=10)
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert 'data-reason="unknown_client"' in answer.text and "WECOM_HUB_CLIENTS" in answer.text
    assert wecom_calls(fake) == before


@pytest.mark.parametrize("wrong", ["{rp}/callback/", "{rp}/callback?x=1", "{rp}/CALLBACK", "{rp}/other",
                                   "https://evil.example/callback", "{rp}/callback#frag"])
def test_a_redirect_uri_that_is_not_an_exact_match_gets_a_400_page_and_is_never_redirected_to(world, wrong):
    fake = world["fake"]
    before = wecom_calls(fake)
    browser = Browser()
    uri = wrong.format(rp=world["grafana"].url)
    answer = browser.session.get(authorize_url(world, "grafana", uri), allow_redirects=False, timeout=10)
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert 'data-reason="redirect_uri_mismatch"' in answer.text and "Grafana" in answer.text
    assert wecom_calls(fake) == before  # checked before any WeCom login starts
    # also when the member is already signed in to the hub
    browser.walk(world["grafana"].url + "/login")
    answer = browser.session.get(authorize_url(world, "grafana", uri), allow_redirects=False, timeout=10)
    assert answer.status_code == 400 and "Location" not in answer.headers


def test_a_missing_redirect_uri_is_refused_on_the_hub(world):
    url = world["issuer"] + "/authorize?" + urlencode({"response_type": "code", "client_id": "grafana",
                                                      "scope": "openid"})
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 400 and "Location" not in answer.headers


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_a_wrong_client_secret_gets_401_invalid_client(world, method):
    browser = Browser()
    code, redirect_uri = get_code(world, browser, "grafana")
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if method == "client_secret_basic":
        answer = token_request(world, data, auth=("grafana", "not-the-secret"))
        assert answer.headers.get("WWW-Authenticate", "").startswith("Basic")
    else:
        answer = token_request(world, dict(data, client_id="grafana", client_secret="not-the-secret"))
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    assert "not-the-secret" not in answer.text and GRAFANA_SECRET not in answer.text
    # and the right secret still redeems the code (a failed authentication does not spend it)
    ok = token_request(world, data, auth=("grafana", GRAFANA_SECRET))
    assert ok.status_code == 200 and ok.json()["id_token"], ok.text
    # with client_secret_post too, and no secret at all is no way in for a confidential client
    code, _ = get_code(world, browser, "grafana")
    data["code"] = code
    assert token_request(world, dict(data, client_id="grafana")).status_code in (400, 401)
    ok = token_request(world, dict(data, client_id="grafana", client_secret=GRAFANA_SECRET))
    assert ok.status_code == 200 and ok.json()["access_token"]


def test_a_code_used_twice_gets_invalid_grant_and_its_tokens_are_revoked(world):
    browser = Browser()
    code, redirect_uri = get_code(world, browser, "grafana")
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    first = token_request(world, data, auth=("grafana", GRAFANA_SECRET))
    assert first.status_code == 200
    access_token = first.json()["access_token"]
    userinfo = world["issuer"] + "/userinfo"
    assert requests.get(userinfo, headers={"Authorization": f"Bearer {access_token}"}, timeout=10).status_code == 200
    again = token_request(world, data, auth=("grafana", GRAFANA_SECRET))
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    revoked = requests.get(userinfo, headers={"Authorization": f"Bearer {access_token}"}, timeout=10)
    assert revoked.status_code == 401 and revoked.json()["error"] == "invalid_token"
    assert revoked.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_code_is_bound_to_its_client_and_redirect_uri(world):
    browser = Browser()
    code, redirect_uri = get_code(world, browser, "grafana")
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    # another client cannot redeem it (and does not spend it)
    stolen = token_request(world, dict(data, redirect_uri=world["wiki"].url + "/callback"),
                           auth=("wiki", WIKI_SECRET))
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    # another redirect_uri: refused
    wrong = token_request(world, dict(data, redirect_uri=redirect_uri + "/"), auth=("grafana", GRAFANA_SECRET))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_a_code_is_valid_for_60_seconds(world):
    browser = Browser()
    code, redirect_uri = get_code(world, browser, "grafana")
    world["clock"].advance(61)
    late = token_request(world, {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
                         auth=("grafana", GRAFANA_SECRET))
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


def test_userinfo_refuses_an_unknown_token(world):
    answer = requests.get(world["issuer"] + "/userinfo", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"
    assert requests.get(world["issuer"] + "/userinfo", timeout=10).status_code == 401


# -- keys --------------------------------------------------------------------------------------


def test_key_rotation_keeps_the_retired_key_in_jwks_and_old_tokens_verify(world):
    app, issuer = world["app"], world["issuer"]
    browser = Browser()
    browser.walk(world["grafana"].url + "/login")
    old_token = world["grafana"].app.extensions["rp_tokens"][-1]["token"]["id_token"]
    old_nonce = browser.authorize_params()["nonce"]
    old_kid = json.loads(base64.urlsafe_b64decode(old_token.split(".")[0] + "=="))["kid"]

    result = app.test_cli_runner().invoke(args=["wecom", "hub", "rotate-key"])
    assert result.exit_code == 0, result.output
    new_kid = WeCom.state(app).hub.keys.active.kid
    assert new_kid != old_kid and new_kid in result.output

    jwks = requests.get(issuer + "/jwks", timeout=10).json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]  # the retired key stays while its tokens live
    verify_id_token(old_token, jwks, issuer=issuer, audience="grafana", nonce=old_nonce)

    browser.walk(world["wiki"].url + "/login")  # a new sign-in is signed with the new key, and verifies
    new_token = world["wiki"].app.extensions["rp_tokens"][-1]["token"]["id_token"]
    assert json.loads(base64.urlsafe_b64decode(new_token.split(".")[0] + "=="))["kid"] == new_kid

    # once every token the retired key signed has expired, it leaves JWKS
    from flask_wecom.hub import keys as hub_keys

    ring = WeCom.state(app).hub.keys
    ring._clock = lambda: time.time() + hub_keys.RETIRED_KEY_KEEP + 1
    assert [k["kid"] for k in ring._current(fresh=True)[1]] == [new_kid]


def test_a_configured_signing_key_is_used(fake, servers, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()).decode()
    hub, rp = servers(), servers()
    app = make_hub(fake, tmp_path, hub, [{"client_id": "grafana", "client_secret": GRAFANA_SECRET,
                                          "redirect_uris": [rp.url + "/callback"]}], WECOM_HUB_SIGNING_KEY=pem)
    make_rp(rp, hub.url + HUB_PATH, "grafana", GRAFANA_SECRET)
    page, _ = Browser().walk(rp.url + "/login")
    assert fake.corp.members[0].name in page.text
    from flask_wecom.hub.keys import SigningKey

    jwks = requests.get(hub.url + HUB_PATH + "/jwks", timeout=10).json()
    assert [k["kid"] for k in jwks["keys"]] == [SigningKey.from_pem(pem).kid]
    assert "PRIVATE" not in repr(WeCom.state(app).hub.keys) + repr(WeCom.state(app).hub.keys.active)
    with WeCom.state(app).store.transaction() as conn:  # nothing generated, nothing stored
        from flask_wecom.hub.tables import hub_keys

        assert conn.execute(hub_keys.select()).first() is None


_BOOT = r"""
import json, sys, time
from flask import Flask
from flask_wecom import WeCom
config, start_at = json.loads(sys.argv[1]), float(sys.argv[2])
app = Flask("worker", instance_path=sys.argv[3])
app.config.update(config)
WeCom(app)
hub = WeCom.state(app).hub
while time.time() < start_at:
    time.sleep(0.005)
print(json.dumps({"kid": hub.keys.active.kid}))
"""


def test_two_workers_booting_at_once_share_one_signing_key(fake, tmp_path, fresh_postgres_url):
    """Four processes (workers on two hosts, as far as the store can tell) on an empty PostgreSQL database
    ask for the signing key at the same moment: one key is created, all four sign with it."""
    config = fake.flask_config("internal")
    config.update(SECRET_KEY=SECRET_KEY, WECOM_DATABASE_URI=fresh_postgres_url,
                  WECOM_HUB_ISSUER="https://login.example.com/wecom/oidc",
                  WECOM_HUB_CLIENTS=[{"client_id": "grafana", "client_secret": GRAFANA_SECRET,
                                      "redirect_uris": ["https://grafana.example.com/login/generic_oauth"]}])
    start_at = time.time() + 6
    procs = [subprocess.Popen([sys.executable, "-c", _BOOT, json.dumps(config), str(start_at),
                               str(tmp_path / f"worker{i}")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ))
             for i in range(4)]
    try:
        results = [p.communicate(timeout=90) for p in procs]
    finally:  # none outlives a timeout
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    for (_out, err), proc in zip(results, procs):
        assert proc.returncode == 0 and "Traceback" not in err, err
    kids = {json.loads(out.strip().splitlines()[-1])["kid"] for out, _ in results}
    assert len(kids) == 1
    import sqlalchemy as sa

    engine = sa.create_engine(fresh_postgres_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT kid, slot, private_key FROM wecom_hub_key")).all()
    engine.dispose()
    assert [(r.kid, r.slot) for r in rows] == [(kids.pop(), "active")]
    assert rows[0].private_key.startswith("v1:") and "PRIVATE" not in rows[0].private_key  # sealed


def test_two_hub_instances_on_one_store_serve_one_sign_in(fake, servers, tmp_path):
    """Two hub workers (app instances) behind one issuer: the browser's authorization request lands on one,
    the relying party's token request on the other; the id_token verifies with either's JWKS."""
    hub_a, hub_b, rp = servers(), servers(), servers()
    clients = [{"client_id": "grafana", "client_secret": GRAFANA_SECRET, "redirect_uris": [rp.url + "/callback"]}]
    app_a = make_hub(fake, tmp_path, hub_a, clients)
    folder = tmp_path  # the same store and cache folder: one database
    app_b = make_hub(fake, tmp_path / "b", hub_b, clients, folder=folder, WECOM_HUB_ISSUER=hub_a.url + HUB_PATH)
    for corp in fake.corps:  # the browser signs in on worker A
        corp.trusted_domain = corp.web_login_domain = hub_a.host
    assert WeCom.state(app_a).hub.keys.active.kid == WeCom.state(app_b).hub.keys.active.kid
    issuer = hub_a.url + HUB_PATH
    browser = Browser()
    redirect_uri = rp.url + "/callback"
    nonce = secrets.token_urlsafe(8)
    _, url = browser.walk(issuer + "/authorize?" + urlencode({
        "response_type": "code", "client_id": "grafana", "redirect_uri": redirect_uri, "scope": "openid profile email",
        "nonce": nonce}), stop_at=redirect_uri)
    code = query_of(url)["code"]
    answer = requests.post(hub_b.url + HUB_PATH + "/token", data={"grant_type": "authorization_code", "code": code,
                                                                 "redirect_uri": redirect_uri},
                           auth=("grafana", GRAFANA_SECRET), timeout=10)
    assert answer.status_code == 200, answer.text
    jwks = requests.get(hub_b.url + HUB_PATH + "/jwks", timeout=10).json()
    claims = verify_id_token(answer.json()["id_token"], jwks, issuer=issuer, audience="grafana", nonce=nonce)
    assert claims["wecom_userid"] == fake.corp.members[0].userid
    info = requests.get(hub_a.url + HUB_PATH + "/userinfo",
                        headers={"Authorization": "Bearer " + answer.json()["access_token"]}, timeout=10)
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]
    # a rotation on one worker shows at once in the other's JWKS (the old key stays)
    new_kid = WeCom.state(app_a).hub.keys.rotate().kid
    listed = [k["kid"] for k in requests.get(hub_b.url + HUB_PATH + "/jwks", timeout=10).json()["keys"]]
    assert listed == [new_kid, claims_kid(answer.json()["id_token"])]


# -- sign-out ----------------------------------------------------------------------------------


def test_end_session_signs_out_and_returns_to_a_registered_uri(world):
    fake, grafana, issuer = world["fake"], world["grafana"], world["issuer"]
    browser = Browser()
    browser.walk(grafana.url + "/login")
    id_token = grafana.app.extensions["rp_tokens"][-1]["token"]["id_token"]
    # an unregistered post-logout URI: a 400 page, never redirected to, nobody signed out
    bad = browser.session.get(issuer + "/logout?" + urlencode({"id_token_hint": id_token,
                                                              "post_logout_redirect_uri": "https://evil.example/"}),
                              allow_redirects=False, timeout=10)
    assert bad.status_code == 400 and "Location" not in bad.headers
    assert 'data-reason="logout_uri_mismatch"' in bad.text
    before = wecom_calls(fake)
    browser.walk(world["wiki"].url + "/login")
    assert wecom_calls(fake) == before  # still signed in
    # the registered one, with id_token_hint: signed out and sent back (with state)
    out = browser.session.get(issuer + "/logout?" + urlencode({
        "id_token_hint": id_token, "post_logout_redirect_uri": grafana.url + "/", "state": "s1"}),
        allow_redirects=False, timeout=10)
    assert out.status_code == 302 and out.headers["Location"] == grafana.url + "/?state=s1"
    # the next sign-in goes through WeCom again
    page, _ = browser.walk(world["wiki"].url + "/login")
    assert wecom_calls(fake) > before and fake.corp.members[0].name in page.text


def test_end_session_without_id_token_hint_asks_first(world):
    fake, grafana, issuer = world["fake"], world["grafana"], world["issuer"]
    browser = Browser()
    browser.walk(grafana.url + "/login")
    url = issuer + "/logout?" + urlencode({"client_id": "grafana", "post_logout_redirect_uri": grafana.url + "/"})
    page = browser.session.get(url, allow_redirects=False, timeout=10)
    assert page.status_code == 200 and 'id="wecom-hub-logout-confirm"' in page.text
    before = wecom_calls(fake)
    browser.walk(world["wiki"].url + "/login")
    assert wecom_calls(fake) == before  # a GET alone signed nobody out
    import re

    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    forged = browser.session.post(issuer + "/logout", data=dict(fields, confirm="forged"), allow_redirects=False,
                                  timeout=10)
    assert forged.status_code == 200 and 'id="wecom-hub-logout-confirm"' in forged.text  # asked again
    page = browser.session.get(url, allow_redirects=False, timeout=10)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    done = browser.session.post(issuer + "/logout", data=fields, allow_redirects=False, timeout=10)
    assert done.status_code == 302 and done.headers["Location"] == grafana.url + "/"
    browser.walk(world["wiki"].url + "/login")
    assert wecom_calls(fake) > before


# -- CLI, logs ---------------------------------------------------------------------------------


def test_flask_wecom_hub_clients_lists_clients_with_secrets_masked(world):
    result = world["app"].test_cli_runner().invoke(args=["wecom", "hub", "clients"])
    assert result.exit_code == 0, result.output
    assert "grafana" in result.output and "wiki" in result.output and "spa" in result.output
    assert "public (PKCE)" in result.output and world["grafana"].url + "/callback" in result.output
    assert GRAFANA_SECRET not in result.output and WIKI_SECRET not in result.output
    assert "chars)" in result.output  # the masked form


def test_no_code_token_secret_or_key_in_the_hub_logs_or_reprs(world, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    browser = Browser()
    browser.walk(world["grafana"].url + "/login")
    code, redirect_uri = get_code(world, browser, "wiki")
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    token = token_request(world, data, auth=("wiki", WIKI_SECRET)).json()
    token_request(world, data, auth=("wiki", WIKI_SECRET))  # a replay, logged
    token_request(world, data, auth=("wiki", "wrong-secret-0123456789"))
    issued = world["grafana"].app.extensions["rp_tokens"][-1]["token"]
    secrets_ = [code, token["access_token"], token["id_token"], issued["access_token"], GRAFANA_SECRET, WIKI_SECRET,
                "wrong-secret-0123456789"]
    hub = WeCom.state(world["app"]).hub
    with hub.keys.store.transaction() as conn:
        from flask_wecom.hub.tables import hub_keys

        sealed = conn.execute(hub_keys.select()).first().private_key
    pem_body = hub.keys.active.pem().splitlines()[1]
    texts = [r.getMessage() for r in caplog.records if r.name.startswith(("flask_wecom", "authlib"))]
    texts += [repr(hub), repr(hub.clients), repr(hub.keys), repr(hub.keys.active), repr(hub.storage)]
    assert any("presented an authorization code a second time" in t for t in texts)
    for text in texts:
        for secret in secrets_ + [sealed, pem_body]:
            assert secret not in text


# -- 代开发, several corps, withheld fields -----------------------------------------------------


@pytest.fixture
def corps_world(fake, servers, tmp_path):
    """A 代开发 hub that two corps authorized (through its real callback URL); clients: "any" (every corp) and
    "second-only" (limited to the second corp)."""
    hub, anyrp, second_rp = servers(), servers(), servers()
    second = fake.add_corp(name="第二客户贸易有限公司", agent_id=1000017, trusted_domain="localhost")
    clients = [
        {"client_id": "any", "client_secret": GRAFANA_SECRET, "redirect_uris": [anyrp.url + "/callback"]},
        {"client_id": "second-only", "client_secret": WIKI_SECRET, "redirect_uris": [second_rp.url + "/callback"],
         "corps": [second.auth_corp_id]},
    ]
    app = make_hub(fake, tmp_path, hub, clients, mode="customized")
    callback = hub.url + "/wecom/callback"
    assert fake.push_suite_ticket(callback).success
    for corp in (fake.corp, second):
        assert fake.authorize(callback, corp=corp).success
    assert WeCom.state(app).wait_background(timeout=30)
    assert len(WeCom.state(app).store.list_corps()) == 2
    issuer = hub.url + HUB_PATH
    make_rp(anyrp, issuer, "any", GRAFANA_SECRET, name="any")
    make_rp(second_rp, issuer, "second-only", WIKI_SECRET, name="second")
    return {"fake": fake, "app": app, "issuer": issuer, "any": anyrp, "second-only": second_rp,
            "first": fake.corp, "second": second}


def test_several_corps_the_hub_asks_only_when_it_cannot_tell(corps_world):
    w = corps_world
    fake, first, second = w["fake"], w["first"], w["second"]
    # a client limited to one corp: straight to that corp's WeCom sign-in, no question
    browser = Browser()
    _, url = browser.walk(w["second-only"].url + "/login", stop_at=fake.url)
    assert query_of(url.split("#")[0])["appid"] == second.auth_corp_id
    page, _ = browser.walk(url, second.members[0].userid)
    info = w["second-only"].app.extensions["rp_tokens"][-1]["userinfo"]
    assert info["wecom_corp_id"] == second.auth_corp_id and second.members[0].name in page.text

    # a client of every corp, and no corp_id: the extension's login asks (400 corp_required), nothing else
    stranger = Browser()
    before = wecom_calls(fake)
    page, url = stranger.walk(w["any"].url + "/login")
    assert page.status_code == 400 and 'data-reason="corp_required"' in page.text and "/wecom/login" in url
    assert wecom_calls(fake) == before
    # the page's form asks for the corp id and goes on with the same authorization request (its next=)
    form = re.search(r'<form method="get" action="([^"]+)" id="wecom-corp-form"[^>]*>(.*?)</form>', page.text, re.S)
    assert form is not None, page.text[:2000]
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)))
    hidden = {name: html.unescape(value) for name, value in hidden.items()}
    assert HUB_PATH + "/authorize" in hidden["next"]
    typed = urljoin(url, html.unescape(form.group(1))) + "?" + urlencode({**hidden, "corp_id": second.auth_corp_id})
    _, back = stranger.walk(typed, second.members[0].userid, stop_at=w["any"].url + "/callback")
    assert back.startswith(w["any"].url + "/callback?") and "code" in query_of(back)

    # corp_id in the authorization request (documented extension): straight to that corp
    redirect_uri = w["any"].url + "/callback"
    _, url = stranger.walk(authorize_url(w, "any", redirect_uri, corp_id=first.auth_corp_id), stop_at=fake.url)
    assert query_of(url.split("#")[0])["appid"] == first.auth_corp_id
    _, back = stranger.walk(url, first.members[0].userid, stop_at=redirect_uri)
    assert "code" in query_of(back)

    # signed in with the first corp, then the second-only client: a new WeCom sign-in with the second corp
    _, url = stranger.walk(w["second-only"].url + "/login", stop_at=fake.url)
    assert query_of(url.split("#")[0])["appid"] == second.auth_corp_id
    page, _ = stranger.walk(url, second.members[0].userid)
    info = w["second-only"].app.extensions["rp_tokens"][-1]["userinfo"]
    assert info["wecom_corp_id"] == second.auth_corp_id and page.status_code == 200
    # … and from now on the hub's session is that sign-in: the second-only client again, no WeCom
    before = wecom_calls(fake)
    stranger.walk(w["second-only"].url + "/login")
    assert wecom_calls(fake) == before

    # a corp_id the client does not serve: an error back to the client, no code
    only = w["second-only"].url + "/callback"
    _, url = stranger.walk(authorize_url(w, "second-only", only, corp_id=first.auth_corp_id), stop_at=only)
    assert query_of(url)["error"] == "invalid_request" and "code" not in query_of(url)


def test_fields_wecom_withholds_are_absent_from_id_token_and_userinfo(corps_world):
    w = corps_world
    fake, second = w["fake"], w["second"]
    fake.revoke_permissions(corp=second)  # a 代开发 app without name and email (doc 98980)
    member = second.members[0]
    browser = Browser()
    page, _ = browser.walk(w["second-only"].url + "/login", member.userid)
    assert page.status_code == 200, page.text[:1000]
    issued = w["second-only"].app.extensions["rp_tokens"][-1]
    claims = verify_id_token(issued["token"]["id_token"], requests.get(w["issuer"] + "/jwks", timeout=10).json(),
                             issuer=w["issuer"], audience="second-only", nonce=browser.authorize_params()["nonce"])
    for source in (claims, issued["userinfo"]):
        assert "name" not in source and "email" not in source  # absent, not empty, not the userid fallback
        assert source["wecom_userid"] == member.encrypted_userid and source["wecom_corp_id"] == second.auth_corp_id
        assert source["sub"]
    assert member.name not in page.text and (member.email or "@") not in page.text


def test_sub_is_stable_and_documented():
    from flask_wecom.hub.claims import subject

    issuer = "https://login.example.com/wecom/oidc"
    expected = hashlib.sha256("\x00".join(("flask-wecom hub sub v1", issuer, "wwCorp", "ZhangSan")).encode()
                              ).hexdigest()[:40]
    assert subject(issuer, "wwCorp", "ZhangSan") == expected
    assert subject(issuer, "wwCorp", "zhangsan") != expected  # userids keep their case (doc 97104)
    assert subject(issuer, "wwOther", "ZhangSan") != expected


# -- the demo ----------------------------------------------------------------------------------


def test_the_demo_sandbox_shows_a_second_tool_signing_in_through_the_hub(servers, monkeypatch):
    import socket

    for key in list(os.environ):
        if key.startswith("WECOM_"):
            monkeypatch.delenv(key)
    demo_server = servers()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        tool_port = sock.getsockname()[1]
    monkeypatch.setenv("DEMO_PORT", str(demo_server.server.server_port))
    monkeypatch.setenv("DEMO_TOOL_PORT", str(tool_port))
    from demo.app import create_app

    app = create_app({"TESTING": True}, sandbox=True)
    demo_server.app = app
    tool_url = f"http://127.0.0.1:{tool_port}"
    try:
        browser = Browser()
        web = browser.session
        assert web.post(demo_server.url + "/sandbox/ticket", allow_redirects=False).status_code == 302
        assert web.post(demo_server.url + "/sandbox/authorize", allow_redirects=False).status_code == 302
        home = web.get(demo_server.url + "/", timeout=10).text
        assert 'id="open-tool"' in home and tool_url in home
        fake = app.extensions["wecom_demo"].fake
        member = fake.corp.members[0]
        # signed in to the demo (WeCom's sign-in page) …
        page, _ = browser.walk(demo_server.url + "/wecom/login?via=oauth&next=/profile", member.userid)
        assert member.name in page.text
        # … the tool on the other port signs in through the hub with no WeCom round trip
        before = len(fake.calls)
        page, url = browser.walk(tool_url + "/login")
        assert url == tool_url + "/", url
        assert f'id="tool-name">{member.name}<' in page.text and f'id="tool-email">{member.email}<' in page.text
        assert len(fake.calls) == before
        # signing out of the tool ends the hub session and comes back to the tool
        out = web.post(tool_url + "/logout", allow_redirects=False, timeout=10)
        page, url = browser.walk(out.headers["Location"])
        assert url == tool_url + "/" and 'id="tool-login"' in page.text
        _, url = browser.walk(tool_url + "/login", stop_at=fake.url)
        assert url.startswith(fake.url)  # WeCom again
    finally:
        app.extensions["wecom_demo"].close()
        app.extensions["wecom_demo_tool"].close()


# -- a relying party that is not Python --------------------------------------------------------

NODE_RP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_rp")


def _node_rp_available() -> None:
    import shutil

    from conftest import require_service

    if shutil.which("node") is None:
        require_service("Node.js", "node is not installed (apt-get install nodejs npm)")
    if not os.path.isdir(os.path.join(NODE_RP, "node_modules", "openid-client")):
        require_service("openid-client", "run `npm ci --prefix tests/node_rp` (.ci/run does)")


def test_a_node_relying_party_with_openid_client_signs_in(world):
    """panva's openid-client (Node.js): discovery, PKCE, nonce and state, client_secret_post, the id_token
    verified with the hub's JWKS, userinfo — an implementation that shares no code with ours or Authlib's."""
    _node_rp_available()
    redirect_uri = world["wiki"].url + "/callback"
    proc = subprocess.Popen(["node", os.path.join(NODE_RP, "rp.mjs"), world["issuer"], "wiki", WIKI_SECRET,
                             redirect_uri], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=NODE_RP)
    try:
        first = proc.stdout.readline()
        assert first, proc.stderr.read()
        authorize = json.loads(first)["authorize"]
        assert authorize.startswith(world["issuer"] + "/authorize?")
        member = world["fake"].corp.members[1]
        _, callback = Browser().walk(authorize, member.userid, stop_at=redirect_uri)
        out, err = proc.communicate(callback + "\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    for source in (result["claims"], result["userinfo"]):
        assert source["name"] == member.name and source["email"] == member.email
        assert source["wecom_userid"] == member.userid
    assert result["claims"]["iss"] == world["issuer"] and result["claims"]["aud"] == "wiki"


# -- settings and prompt -----------------------------------------------------------------------


@pytest.mark.parametrize("issuer, clients, says", [
    ("http://login.example.com/wecom/oidc", [], "https://"),
    ("https://login.example.com/wecom/oidc?x=1", [], "without query"),
    ("https://login.example.com/oidc", [{"client_id": "a"}], "'a' needs at least one redirect_uri"),
    ("https://login.example.com/oidc", [{"client_id": "a", "redirect_uris": ["/relative"]}], "absolute"),
    ("https://login.example.com/oidc", [{"client_id": "a", "redirect_uris": ["https://a.example/cb"],
                                         "client_secret": ""}], "public client"),
    ("https://login.example.com/oidc", [{"client_id": "a", "redirect_uris": ["https://a.example/cb"],
                                         "client_secrt": "typo-secret-0123456789"}], "client_secrt"),
    ("https://login.example.com/oidc", "[not json", "list of mappings"),
])
def test_bad_hub_settings_are_refused_at_start_naming_the_key(fake, tmp_path, issuer, clients, says):
    from flask import Flask

    from flask_wecom.errors import ConfigError

    app = Flask("bad_hub", instance_path=str(tmp_path / "instance"))
    app.config.update(fake.flask_config(tmp_path, "internal"), SECRET_KEY=SECRET_KEY, WECOM_HUB_ISSUER=issuer,
                      WECOM_HUB_CLIENTS=clients)
    with pytest.raises(ConfigError) as refused:
        WeCom(app)
    assert says in str(refused.value) and "typo-secret-0123456789" not in str(refused.value)


def test_an_issuer_path_whose_routes_the_app_already_has_is_refused_or_logged(fake, tmp_path, caplog):
    """werkzeug answers a path with the rule registered first: an issuer at the extension's own prefix
    (/wecom) would advertise /wecom/logout as end_session_endpoint and serve the extension's logout there.
    Refused at start, naming the key; a route the app adds later at a hub path is logged by discovery."""
    import logging

    from flask import Flask

    from flask_wecom.errors import ConfigError

    clients = [{"client_id": "grafana", "client_secret": GRAFANA_SECRET, "redirect_uris": ["https://g.example/cb"]}]
    app = Flask("clash_hub", instance_path=str(tmp_path / "instance"))
    app.config.update(fake.flask_config(tmp_path, "internal"), SECRET_KEY=SECRET_KEY,
                      WECOM_HUB_ISSUER="https://login.example.com/wecom", WECOM_HUB_CLIENTS=clients)
    with pytest.raises(ConfigError) as refused:
        WeCom(app)
    assert "WECOM_HUB_ISSUER" in str(refused.value) and "/wecom/logout (wecom.logout)" in str(refused.value)
    assert "https://login.example.com/wecom/oidc" in str(refused.value) and GRAFANA_SECRET not in str(refused.value)

    # a root issuer (a host of its own) is fine … until the app adds its own /logout after WeCom(app)
    caplog.set_level(logging.ERROR, logger="flask_wecom.hub")
    root = Flask("root_hub", instance_path=str(tmp_path / "root"))
    root.config.update(fake.flask_config(tmp_path / "root", "internal"), SECRET_KEY=SECRET_KEY,
                       WECOM_HUB_ISSUER="https://login.example.com", WECOM_HUB_CLIENTS=clients)
    WeCom(root)
    meta = root.test_client().get("/.well-known/openid-configuration").json
    assert meta["end_session_endpoint"] == "https://login.example.com/logout" and not caplog.records

    later = Flask("later_hub", instance_path=str(tmp_path / "later"))
    later.config.update(fake.flask_config(tmp_path / "later", "internal"), SECRET_KEY=SECRET_KEY,
                        WECOM_HUB_ISSUER="https://login.example.com", WECOM_HUB_CLIENTS=clients)
    WeCom(later)

    @later.route("/logout")
    def own_logout():
        return "the app's own"

    client = later.test_client()
    assert client.get("/.well-known/openid-configuration").status_code == 200
    client.get("/.well-known/openid-configuration")
    logged = [r.getMessage() for r in caplog.records if r.name == "flask_wecom.hub"]
    assert len(logged) == 1 and "/logout (own_logout)" in logged[0] and "WECOM_HUB_ISSUER" in logged[0]


def test_clients_may_come_as_json_from_the_environment(fake, tmp_path):
    from flask import Flask

    app = Flask("json_hub", instance_path=str(tmp_path / "instance"))
    clients = [{"client_id": "grafana", "client_secret": GRAFANA_SECRET, "redirect_uris": ["https://g.example/cb"]}]
    app.config.update(fake.flask_config(tmp_path, "internal"), SECRET_KEY=SECRET_KEY,
                      WECOM_HUB_ISSUER="https://login.example.com/wecom/oidc", WECOM_HUB_CLIENTS=json.dumps(clients))
    WeCom(app)
    hub = WeCom.state(app).hub
    assert list(hub.clients) == ["grafana"] and GRAFANA_SECRET not in repr(hub.clients)
    assert app.test_client().get("/wecom/oidc/.well-known/openid-configuration").json["issuer"] == \
        "https://login.example.com/wecom/oidc"


def test_prompt_none_without_a_session_answers_login_required(world):
    fake = world["fake"]
    before = wecom_calls(fake)
    redirect_uri = world["grafana"].url + "/callback"
    _, url = Browser().walk(authorize_url(world, "grafana", redirect_uri, prompt="none", state="st"),
                            stop_at=redirect_uri)
    answer = query_of(url)
    assert answer["error"] == "login_required" and answer["state"] == "st" and "code" not in answer
    assert wecom_calls(fake) == before


def test_browser_apps_may_call_the_token_and_userinfo_endpoints_cross_origin(world):
    origin = world["spa"].url
    for path in ("/token", "/userinfo"):
        preflight = requests.options(world["issuer"] + path, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"}, timeout=10)
        assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"
        assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    refused = requests.post(world["issuer"] + "/token", data={"grant_type": "authorization_code", "code": "x",
                                                             "client_id": "spa"}, headers={"Origin": origin}, timeout=10)
    assert refused.status_code == 400 and refused.headers["Access-Control-Allow-Origin"] == "*"


def test_gunicorn_with_two_workers_signs_in_with_one_key(fake, servers, tmp_path, fresh_postgres_url):
    """The hub under gunicorn, 2 workers (no preload: each builds its own app), on an empty PostgreSQL
    database: both workers serve the same JWKS, and a sign-in whose requests land on either verifies."""
    import importlib.util
    import signal
    import socket

    from conftest import require_service

    if importlib.util.find_spec("gunicorn") is None:  # in the test extra: under CI=true its absence fails
        require_service("gunicorn", "not installed (pip install -e '.[test]')")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    rp = servers()
    fake.allow_local_redirects = True
    for corp in fake.corps:
        corp.trusted_domain = corp.web_login_domain = f"127.0.0.1:{port}"
    config = fake.flask_config(tmp_path, "internal")
    config.update(SECRET_KEY=SECRET_KEY, WECOM_DATABASE_URI=fresh_postgres_url, WECOM_PUBLIC_URL=base,
                  WECOM_LOGIN_VIA="oauth", WECOM_HTTP_RETRIES=0, WECOM_HUB_ISSUER=base + HUB_PATH,
                  WECOM_HUB_CLIENTS=[{"client_id": "grafana", "client_secret": GRAFANA_SECRET,
                                      "redirect_uris": [rp.url + "/callback"]}])
    env = dict(os.environ, HUB_TEST_CONFIG=json.dumps(config), HUB_TEST_INSTANCE=str(tmp_path / "instance"))
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--chdir", tests_dir, "--bind", f"127.0.0.1:{port}",
                                "--workers", "2", "--log-level", "warning", "hub_wsgi:app"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while True:  # the workers boot (a request may wait in the listen queue meanwhile)
            try:
                requests.get(base + HUB_PATH + "/.well-known/openid-configuration", timeout=10)
                break
            except requests.RequestException:
                assert process.poll() is None, process.stdout.read()
                assert time.time() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.2)
        kids, pids = set(), set()
        # Two requests at once, each keeping its sync worker busy for a second: the second connection is
        # accepted by the other worker (an idle worker may otherwise win every accept). Their answers are
        # each worker's JWKS, read from the store the workers share.
        for _ in range(3):  # a worker still booting may leave both to one worker once
            with ThreadPoolExecutor(2) as pool:
                answers = list(pool.map(lambda _: requests.get(base + "/busy-jwks", timeout=30,
                                                               headers={"Connection": "close"}), range(2)))
            for answer in answers:
                kids.add(tuple(k["kid"] for k in answer.json()["keys"]))
                pids.add(answer.headers["X-Worker-Pid"])
            if len(pids) == 2:
                break
        assert len(pids) == 2, "only one worker answered"
        answer = requests.get(base + HUB_PATH + "/jwks", timeout=10)
        kids.add(tuple(k["kid"] for k in answer.json()["keys"]))
        assert len(kids) == 1 and len(next(iter(kids))) == 1  # one key, the same for both workers

        make_rp(rp, base + HUB_PATH, "grafana", GRAFANA_SECRET)
        browser = Browser()
        page, _ = browser.walk(rp.url + "/login")
        member = fake.corp.members[0]
        assert member.name in page.text and member.email in page.text, page.text[:1000]
        token = rp.app.extensions["rp_tokens"][-1]["token"]
        verify_id_token(token["id_token"], requests.get(base + HUB_PATH + "/jwks", timeout=10).json(),
                        issuer=base + HUB_PATH, audience="grafana", nonce=browser.authorize_params()["nonce"])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "60"}])
def test_prompt_login_and_max_age_send_an_older_sign_in_back_to_wecom(world, extra):
    fake = world["fake"]
    browser = Browser()
    browser.walk(world["grafana"].url + "/login")
    redirect_uri = world["wiki"].url + "/callback"
    before = wecom_calls(fake)
    _, url = browser.walk(authorize_url(world, "wiki", redirect_uri, **extra), stop_at=redirect_uri)
    assert "code" in query_of(url) and wecom_calls(fake) == before  # signed in just now: no new sign-in
    world["clock"].advance(300)
    _, url = browser.walk(authorize_url(world, "wiki", redirect_uri, **extra), stop_at=fake.url)
    assert url.startswith(fake.url)  # five minutes later: WeCom again
    _, url = browser.walk(url, stop_at=redirect_uri)
    assert "code" in query_of(url)
