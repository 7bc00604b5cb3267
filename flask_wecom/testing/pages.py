"""HTML of the simulator's pages: the WeCom-looking sign-in confirmation, error pages, avatars.

Stable hooks for browser automation:

- every sign-in choice is a ``<form method="post" class="wecom-member" data-userid="…"
  data-corpid="…">`` with one ``<button type="submit">`` (``data-userid`` is the plaintext
  userid; the non-member choice has ``data-userid=""`` and ``data-non-member="1"``);
- members outside the visible range are in ``<section class="outside-range">``;
- an error page has ``<main class="card error" data-errcode="…">`` and never a code.
"""
from __future__ import annotations

import hashlib
from html import escape
from typing import Dict, Iterable, List, Optional

from .model import SCOPE_BASE, AuthorizeError, Corp, InstallRequest, LoginRequest, Member

_CSS = """
*{box-sizing:border-box}
body{margin:0;min-height:100vh;background:#f2f4f7;font:15px/1.5 -apple-system,"PingFang SC",
"Hiragino Sans GB","Microsoft YaHei","Segoe UI",Roboto,sans-serif;color:#1f2329;display:flex;
align-items:center;justify-content:center;padding:24px}
.card{background:#fff;border-radius:12px;box-shadow:0 6px 24px rgba(31,35,41,.08);width:100%;
max-width:420px;padding:28px 28px 20px}
.brand{display:flex;flex-wrap:wrap;align-items:center;gap:4px 8px;font-weight:600;color:#0082ef;
margin-bottom:20px}
.brand .dot{width:22px;height:22px;border-radius:6px;flex:none;
background:linear-gradient(135deg,#0082ef,#2bc8f5)}
.brand .name{white-space:nowrap}
.brand .name span{font-weight:400}
.brand small{margin-left:auto;font-weight:400;color:#8f959e;font-size:12px;text-align:right}
.app{display:flex;align-items:center;gap:12px;margin-bottom:14px}
.logo{width:44px;height:44px;border-radius:10px;background:#0082ef;color:#fff;display:flex;
align-items:center;justify-content:center;font-size:20px;font-weight:600}
h1{font-size:18px;margin:0}
.sub{color:#646a73;font-size:13px;margin:0}
.ask{background:#f5f8ff;border-radius:8px;padding:10px 12px;font-size:14px;margin:0 0 16px}
.en{display:block;color:#8f959e;font-size:12px}
form.wecom-member{margin:0 0 10px}
form.wecom-member button{width:100%;display:flex;align-items:center;gap:12px;border:1px solid #dee0e3;
background:#fff;border-radius:8px;padding:10px 12px;font:inherit;text-align:left;cursor:pointer}
form.wecom-member button:hover{border-color:#0082ef;background:#f5f8ff}
form.wecom-member img{width:36px;height:36px;border-radius:50%}
.who strong{display:block}
.outside-range{margin-top:14px;border-top:1px dashed #dee0e3;padding-top:12px}
.outside-range h2{font-size:13px;color:#8f959e;font-weight:400;margin:0 0 8px}
.foot{margin-top:16px;color:#8f959e;font-size:12px;word-break:break-all}
.lenient{background:#fff7e6;border:1px solid #ffd591;border-radius:8px;padding:8px 12px;font-size:13px;
margin:0 0 14px}
.error .icon{width:48px;height:48px;border-radius:50%;background:#fff3e8;color:#f54a45;
display:flex;align-items:center;justify-content:center;font-size:26px;margin:4px auto 12px}
.error h1{text-align:center;font-size:17px}
.error .en{text-align:center;font-size:13px;margin-top:4px}
.detail{margin-top:14px;background:#f5f6f7;border-radius:8px;padding:10px 12px;font-size:12px;
color:#646a73;word-break:break-all}
table{border-collapse:collapse;width:100%;font-size:13px}td{padding:4px 6px;border-top:1px solid #eee}
code{font-size:12px}
"""

_COLOURS = ("#0082ef", "#00b96b", "#f5a623", "#7b61ff", "#f54a45", "#13c2c2")


def _page(title: str, body: str, *, status_class: str = "") -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"{body}</body></html>"
    )


def _brand(note: str = "模拟器 · simulator") -> str:
    return (
        '<div class="brand"><span class="dot"></span><span class="name">企业微信 <span>WeCom</span></span>'
        f"<small>FakeWeCom {escape(note)}</small></div>"
    )


def _hidden(params: Dict[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in params.items()
        if k not in ("userid", "corpid", "non_member")
    )


def _member_form(action: str, params: Dict[str, str], corp: Corp, member: Member, multi_corp: bool) -> str:
    where = f" · {escape(corp.name)}" if multi_corp else ""
    # who holds an interface licence (doc 97194): after the trial only they get past getuserinfo
    licence = " · 有接口许可 licensed" if member.licensed else ""
    return (
        f'<form method="post" action="{escape(action)}" class="wecom-member" '
        f'data-userid="{escape(member.userid)}" data-corpid="{escape(corp.corp_id)}">'
        f"{_hidden(params)}"
        f'<input type="hidden" name="userid" value="{escape(member.userid)}">'
        f'<input type="hidden" name="corpid" value="{escape(corp.corp_id)}">'
        f'<button type="submit"><img alt="" src="/avatar/{escape(member.avatar_key)}/0">'
        f'<span class="who"><strong>以 {escape(member.name)} 身份登录</strong>'
        f'<span class="en">Sign in as {escape(member.name)} ({escape(member.english_name or member.userid)})'
        f"{where} · {escape(member.position)}{licence}</span></span></button></form>"
    )


def confirm_page(req: LoginRequest, action: str) -> str:
    """The "pick who you are" page for an already validated request."""
    corp = req.corp
    multi = len(req.corps) > 1
    if req.kind == "wwlogin":
        title = "企业微信登录 / Sign in with WeCom"
        ask = (
            "请使用企业微信扫码登录（模拟：选择扫码的成员）"
            '<span class="en">Scan with WeCom to sign in — simulated: pick who scans</span>'
        )
    else:
        title = "企业微信授权 / WeCom authorization"
        if req.scope == SCOPE_BASE:
            ask = (
                "该应用将获取你的身份（静默授权 snsapi_base）"
                '<span class="en">The app will learn who you are (snsapi_base, silent)</span>'
            )
        else:
            ask = (
                "该应用申请获取你的头像、手机、邮箱等敏感信息（snsapi_privateinfo）"
                '<span class="en">The app asks for your avatar, mobile, email… (snsapi_privateinfo)</span>'
            )
    visible: List[str] = []
    outside: List[str] = []
    for c in req.corps:
        for m in c.members:
            (visible if m.visible else outside).append(_member_form(action, req.params, c, m, multi))
    non_member = ""
    if req.kind == "oauth2":
        non_member = (
            f'<form method="post" action="{escape(action)}" class="wecom-member" data-userid="" '
            f'data-corpid="{escape(corp.corp_id)}" data-non-member="1">{_hidden(req.params)}'
            f'<input type="hidden" name="corpid" value="{escape(corp.corp_id)}">'
            '<input type="hidden" name="non_member" value="1">'
            '<button type="submit"><span class="who"><strong>以非企业成员身份继续</strong>'
            '<span class="en">Continue as a non-member (openid)</span></span></button></form>'
        )
    app_name = corp.agent_name if req.app == "corp" else req.corps[0].agent_name
    initial = escape(app_name[:1] or "应")
    sub = escape(corp.name) if not multi else "第三方应用 / third-party app"
    body = (
        '<main class="card" data-fake-wecom="confirm">'
        f"{_brand()}"
        f'<div class="app"><div class="logo">{initial}</div><div><h1>{escape(app_name)}</h1>'
        f'<p class="sub">{sub}</p></div></div>'
        f'<p class="ask">{ask}</p>'
        f'<div class="members">{"".join(visible)}</div>'
        + (
            '<section class="outside-range"><h2>不在应用可见范围内的成员 · outside the visible range</h2>'
            f'{"".join(outside)}{non_member}</section>'
            if outside or non_member
            else ""
        )
        + f'<p class="foot">将跳转到 / will redirect to: {escape(req.redirect_uri)}</p></main>'
    )
    if req.lenient:
        body = body.replace('<p class="ask">', LENIENT_NOTE + '<p class="ask">', 1)
    return _page(title, body)


#: shown on the sign-in page when only the simulator's ``allow_local_redirects`` let the request through
LENIENT_NOTE = (
    '<p class="lenient" data-lenient="allow_local_redirects">'
    "模拟器放行（allow_local_redirects）：真实企业微信会拒绝这个 redirect_uri——可信域名不能是 IP 地址或带端口。"
    "生产环境请在可信域名的 443 端口（HTTPS，反向代理）提供服务，并设置 WECOM_PUBLIC_URL。"
    '<span class="en">Simulator allowance (allow_local_redirects): real WeCom would refuse this redirect URI '
    "— a trusted domain cannot be an IP address or carry a port. In production serve it on 443 on your "
    "trusted domain (HTTPS behind a reverse proxy, WECOM_PUBLIC_URL).</span></p>"
)


def error_page(err: AuthorizeError) -> str:
    code = "" if err.errcode is None else str(err.errcode)
    detail = f'<div class="detail">{escape(err.detail)}</div>' if err.detail else ""
    errno = f'<div class="detail">errcode: {escape(code)}</div>' if code else ""
    body = (
        f'<main class="card error" data-fake-wecom="error" data-errcode="{escape(code)}">'
        f'{_brand()}<div class="icon">!</div><h1>{escape(err.zh)}</h1>'
        f'<p class="en">{escape(err.en)}</p>{detail}{errno}</main>'
    )
    return _page("企业微信 / WeCom", body)


def install_page(req: InstallRequest, action: str, app_name: str) -> str:
    """The install page ``/3rdapp/install`` (90597): the admin picks the corp that installs the app."""
    forms = "".join(
        f'<form method="post" action="{escape(action)}" class="wecom-install" data-corpid="{escape(c.corp_id)}">'
        f"{_hidden(req.params)}"
        f'<input type="hidden" name="corpid" value="{escape(c.corp_id)}">'
        f'<button type="submit"><span class="who"><strong>授权安装到「{escape(c.name)}」</strong>'
        f'<span class="en">Install into {escape(c.name)} (as its admin)</span></span></button></form>'
        for c in req.corps
    )
    body = (
        '<main class="card" data-fake-wecom="install">'
        f'{_brand()}<div class="app"><div class="logo">{escape(app_name[:1] or "应")}</div><div>'
        f'<h1>{escape(app_name)}</h1><p class="sub">第三方应用授权安装 / install a third-party app</p></div></div>'
        '<p class="ask">请企业管理员确认授权（模拟：选择安装的企业）<span class="en">The corp admin confirms the '
        "install — simulated: pick the corp</span></p>"
        f"{forms}"
        f'<p class="foot">将跳转到 / will redirect to: {escape(req.redirect_uri)}</p></main>'
    )
    return _page("企业微信 / WeCom", body)


def index_page(corps: Iterable[Corp], suite_id: str, app_type: str) -> str:
    """A small status page at ``/`` (ids only; secrets are printed on the console, not served)."""
    rows = []
    for corp in corps:
        state = "已授权 authorized" if corp.authorized else "未授权 not authorized"
        rows.append(
            f"<tr><td>{escape(corp.name)}</td><td><code>{escape(corp.corp_id)}</code></td>"
            f"<td><code>{escape(corp.auth_corp_id)}</code></td><td>{corp.agent_id}</td>"
            f"<td>{escape(corp.trusted_domain)}</td><td>{state}</td></tr>"
        )
    body = (
        '<main class="card" style="max-width:860px" data-fake-wecom="index">'
        f'{_brand()}<h1>FakeWeCom</h1><p class="sub">suite ({escape(app_type)}): '
        f"<code>{escape(suite_id)}</code></p>"
        "<table><tr><td>corp</td><td>corp_id</td><td>auth corp id</td><td>agent</td>"
        f"<td>trusted domain</td><td>status</td></tr>{''.join(rows)}</table>"
        '<p class="foot">API: /cgi-bin/… · OAuth: /connect/oauth2/authorize · '
        "Web login: /wwlogin/sso/login</p></main>"
    )
    return _page("FakeWeCom", body)


def avatar_svg(label: str, key: str, size: int = 96) -> str:
    colour = _COLOURS[int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(_COLOURS)]
    text = escape(label[:1] or "?")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 96 96">'
        f'<rect width="96" height="96" rx="48" fill="{colour}"/>'
        '<text x="48" y="62" font-size="42" text-anchor="middle" fill="#fff" '
        f'font-family="PingFang SC,Microsoft YaHei,sans-serif">{text}</text></svg>'
    )


def find_avatar_label(corps: Iterable[Corp], key: str) -> Optional[str]:
    for corp in corps:
        for m in corp.members:
            if m.avatar_key == key:
                return m.name
        if key.startswith("app"):
            return corp.agent_name
        if key.startswith("corp"):
            return corp.name
    return None
