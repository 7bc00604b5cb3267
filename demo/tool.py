"""A second "tool" for the sandbox demo: a tiny relying party that signs in through the demo's OIDC hub.

It knows nothing of WeCom: only the hub's issuer (discovery), a client id and secret — what Grafana or GitLab
would be given. ``bash demo/run`` serves it on the next port (``DEMO_TOOL_PORT``, default ``PORT + 1``).
"""
from __future__ import annotations

import html
import secrets
from typing import Any, Dict
from urllib.parse import urlencode

from flask import Flask, redirect, session

TOOL_CLIENT_ID = "demo-tool"

_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>内部工具 · Internal tool</title>
<style>body{{font:16px/1.6 -apple-system,"PingFang SC","Microsoft YaHei",sans-serif;max-width:36rem;margin:2rem auto;
padding:0 1rem;color:#1f2329}} .card{{border:1px solid #e5e6eb;border-radius:10px;padding:1.25rem}}
.en{{color:#646a73}} a.button,button{{background:#0b6fd6;color:#fff;border:0;border-radius:6px;padding:.5rem 1rem;
text-decoration:none;font:inherit;cursor:pointer}} code{{background:#f5f6f7;padding:0 .3em}}</style></head>
<body><div class="card" id="tool">{body}</div></body></html>"""


def hub_client(tool_url: str) -> Dict[str, Any]:
    """The tool's entry in WECOM_HUB_CLIENTS (a fresh secret per demo run)."""
    return {"client_id": TOOL_CLIENT_ID, "client_secret": secrets.token_urlsafe(24), "name": "内部工具 Internal tool",
            "redirect_uris": [tool_url + "/callback"], "post_logout_redirect_uris": [tool_url + "/"]}


def create_tool(issuer: str, client: Dict[str, Any], tool_url: str, demo_url: str) -> Flask:
    from authlib.integrations.flask_client import OAuth

    app = Flask("demo_tool")
    app.secret_key = secrets.token_hex(32)
    # the demo and the tool share the host 127.0.0.1 (cookies ignore ports): a cookie name of its own
    app.config["SESSION_COOKIE_NAME"] = "demo_tool_session"
    oauth = OAuth(app)
    oauth.register("hub", client_id=client["client_id"], client_secret=client["client_secret"],
                   server_metadata_url=issuer + "/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"})

    @app.route("/")
    def home():
        user = session.get("user")
        if not user:
            body = (f"<h1>内部工具 <span class='en'>Internal tool</span></h1>"
                    f"<p>另一个端口上的另一个应用：它只知道登录中心的地址（<code>{html.escape(issuer)}</code>）、"
                    f"client_id 和 secret，不知道企业微信。<span class='en'>Another app on another port: it knows the "
                    f"hub's issuer, a client id and a secret — nothing about WeCom.</span></p>"
                    '<p><a class="button" id="tool-login" href="/login">用企业微信登录 / Sign in with WeCom</a></p>'
                    f"<p class='en'>先在<a href='{html.escape(demo_url)}'>演示首页</a>完成 ① ② 步。 / Do steps ① and "
                    f"② on the <a href='{html.escape(demo_url)}'>demo</a> first.</p>")
        else:
            body = (f"<h1>已登录 <span class='en'>Signed in</span></h1>"
                    f'<p>姓名 / name: <strong id="tool-name">{html.escape(user.get("name") or "-")}</strong></p>'
                    f'<p>邮箱 / email: <strong id="tool-email">{html.escape(user.get("email") or "-")}</strong></p>'
                    f"<p>企业 / corp: <code>{html.escape(user.get('wecom_corp_id', ''))}</code> "
                    f"UserID: <code>{html.escape(user.get('wecom_userid', ''))}</code></p>"
                    f"<p class='en'>若已在演示站登录，本次没有再经过企业微信。 / If you were signed in to the demo, "
                    f"this sign-in did not go through WeCom again.</p>"
                    f"<form method='post' action='/logout'><button id='tool-logout'>退出 / Sign out</button></form>")
        return _PAGE.format(body=body)

    @app.route("/login")
    def login():
        return oauth.hub.authorize_redirect(tool_url + "/callback")

    @app.route("/callback")
    def callback():
        token = oauth.hub.authorize_access_token()  # checks the id_token: JWKS signature, iss, aud, exp, nonce
        session["user"] = dict(token["userinfo"])
        session["id_token"] = token["id_token"]
        return redirect("/")

    @app.post("/logout")
    def logout():
        hint = session.pop("id_token", None)
        session.clear()
        end = oauth.hub.load_server_metadata()["end_session_endpoint"]
        query = {"post_logout_redirect_uri": tool_url + "/", "client_id": client["client_id"]}
        if hint:
            query["id_token_hint"] = hint
        return redirect(end + "?" + urlencode(query))

    return app
