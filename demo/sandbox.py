"""Sandbox mode: a FakeWeCom inside the demo, and the buttons that play WeCom's part.

The simulator serves WeCom's API, OAuth and web-login pages over real HTTP on a free
127.0.0.1 port in a background thread; the extension is pointed at it. Pushes (suite
ticket, create_auth) go to the extension's own callback view through Flask's test client,
in process, encrypted exactly as WeCom encrypts them — the callback code that runs is the
one a real deployment runs.
"""
from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Dict, List

from flask import Flask, current_app, flash, redirect, request, url_for

from flask_wecom import WeCom
from flask_wecom.testing import FakeWeCom

log = logging.getLogger("demo.sandbox")

#: host used as the trusted domain while the "trusted domain mismatch" switch is on
WRONG_DOMAIN = "wrong-domain.example.com"
#: an address that is certainly not ours, for the "IP not whitelisted" switch (TEST-NET-3)
WHITELISTED_IP = "203.0.113.10"


@dataclass
class Switch:
    key: str
    label_zh: str
    label_en: str
    where_zh: str
    where_en: str
    on: bool = False


class Sandbox:
    """One simulator for one demo app, with the switches that flip its per-corp faults."""

    def __init__(self, fake: FakeWeCom, url: str, workdir: str) -> None:
        self.fake = fake
        self.url = url
        self.workdir = workdir
        self._lock = threading.Lock()
        self.switches: Dict[str, Switch] = {s.key: s for s in (
            Switch("ip", "服务器 IP 不在白名单", "server IP not whitelisted (60020)",
                   "本站的错误页，显示要添加的 IP", "our error page, naming the IP to add"),
            Switch("closed", "应用已停用", "app disabled (50003)",
                   "企业微信的页面（登录时）", "WeCom's own page, at login"),
            Switch("trial", "试用期已结束", "trial expired",
                   "企业微信的页面（登录时）", "WeCom's own page, at login"),
            Switch("domain", "可信域名不匹配", "trusted domain mismatch",
                   "企业微信的页面；设置页列出回调地址", "WeCom's own page; /setup names the redirect URI"),
            Switch("base", "静默授权 snsapi_base", "silent scope snsapi_base",
                   "没有邮箱（不是错误）；选「王五」看到“不在可见范围”页",
                   "no email (not an error); pick 王五 for the “outside the visible range” page"),
        )}

    # -- life cycle -------------------------------------------------------------------------

    @classmethod
    def start(cls) -> Sandbox:
        fake = FakeWeCom()
        url = fake.start()
        workdir = tempfile.mkdtemp(prefix="wecom-demo-")
        box = cls(fake, url, workdir)
        atexit.register(box.close)
        print(f"[demo] sandbox mode (no WECOM_* settings): FakeWeCom serving at {url}", file=sys.stderr)
        return box

    def close(self) -> None:
        self.fake.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def settings(self) -> Dict[str, Any]:
        """The WECOM_* settings that point the extension at the simulator (a 代开发 template)."""
        suite = self.fake.suite
        return {
            "WECOM_API_BASE": self.url,
            "WECOM_OAUTH_AUTHORIZE_URL": self.fake.oauth_authorize_endpoint,
            "WECOM_SSO_LOGIN_URL": self.fake.web_login_endpoint,
            "WECOM_SUITE_ID": suite.suite_id,
            "WECOM_SUITE_SECRET": suite.suite_secret,
            "WECOM_TOKEN": suite.token,
            "WECOM_ENCODING_AES_KEY": suite.encoding_aes_key,
            "WECOM_PROVIDER_CORP_ID": suite.provider_corp_id,
            "WECOM_DATABASE_URI": "sqlite:///" + os.path.join(self.workdir, "wecom.sqlite3"),
            "WECOM_CACHE_DIR": os.path.join(self.workdir, "cache"),
            # the demo's buttons wait for the exchange; keep it in the background as in production
            "WECOM_EXCHANGE_IN_BACKGROUND": True,
        }

    def console_settings(self) -> Dict[str, Any]:
        """What a provider would have typed into the WeCom console: the simulator's own values."""
        suite = self.fake.suite
        return {"WECOM_TOKEN": suite.token, "WECOM_ENCODING_AES_KEY": suite.encoding_aes_key,
                "WECOM_SUITE_ID": suite.suite_id, "WECOM_PROVIDER_CORP_ID": suite.provider_corp_id}

    # -- what the panels show ---------------------------------------------------------------

    @property
    def code_fault_armed(self) -> bool:
        return any(kind == "fail" and path == "/cgi-bin/auth/getuserinfo"
                   for kind, path, _times in self.fake.faults.pending())

    @property
    def corp(self):
        return self.fake.corp

    def members(self) -> List[Dict[str, Any]]:
        return [{"name": m.name, "userid": m.userid, "email": m.email, "visible": m.visible}
                for m in self.corp.members]

    @property
    def authorized(self) -> bool:
        return self.corp.authorized

    @property
    def trusted_domain(self) -> str:
        return self.corp.trusted_domain

    # -- switches ---------------------------------------------------------------------------

    def apply(self, key: str, on: bool) -> None:
        fake = self.fake
        corp = fake.corp
        with self._lock:
            self.switches[key].on = on
            with fake.model.lock:
                if key == "ip":
                    fake.provider.ip_whitelist = [WHITELISTED_IP] if on else None
                elif key == "closed":
                    corp.app_closed = on
                elif key == "trial":
                    corp.trial_expired = on
            if key == "base":
                WeCom.state().config["WECOM_SCOPE"] = "snsapi_base" if on else "snsapi_privateinfo"

    def follow_host(self, host: str) -> None:
        """The sandbox's 可信域名 is wherever the demo is opened (unless the mismatch switch is on)."""
        wanted = WRONG_DOMAIN if self.switches["domain"].on else host.lower()
        if self.fake.corp.trusted_domain != wanted:
            with self.fake.model.lock:
                self.fake.corp.trusted_domain = wanted
                self.fake.suite.trusted_domain = wanted

    def reset(self) -> None:
        for key in self.switches:
            self.apply(key, False)
        self.fake.clear_faults()


# -- views ------------------------------------------------------------------------------------


def register_sandbox_views(app: Flask, box: Sandbox) -> None:
    @app.before_request
    def follow_host() -> None:
        box.follow_host(request.host)

    def callback_url() -> str:
        return url_for("wecom.callback", _external=True)

    @app.post("/sandbox/ticket")
    def sandbox_ticket():
        result = box.fake.push_suite_ticket(callback_url(), client=current_app.test_client())
        if result.success:
            flash("① 企业微信推送了 suite_ticket，已保存 / WeCom pushed a suite_ticket; stored.", "ok")
        else:
            flash(f"① 推送失败 / push failed: HTTP {result.status_code} {result.text[:200]}", "bad")
        return redirect(url_for("index") + "#steps")

    @app.post("/sandbox/authorize")
    def sandbox_authorize():
        state = WeCom.state()
        if state.provider.suite_ticket_age() is None:
            flash("请先完成第 ① 步：没有 suite_ticket 就无法换取永久授权码 / Do step ① first: without a "
                  "suite_ticket no permanent code can be obtained.", "bad")
            return redirect(url_for("index") + "#steps")
        result = box.fake.authorize(callback_url(), client=current_app.test_client())
        finished = state.wait_background(timeout=30)
        corps = [c for c in state.store.list_corps() if c.active]
        if result.success and finished and corps:
            corp = corps[-1]
            flash(f"② 企业「{corp.corp_name}」已授权，永久授权码已自动换取并加密保存 / {corp.corp_name} "
                  "authorized the app; the permanent code was obtained and stored encrypted.", "ok")
        else:
            last = state.store.recent_auth_codes(limit=1)
            error = last[0].error if last else ""
            flash(f"② 授权未完成 / authorization did not complete: HTTP {result.status_code} "
                  f"{result.text[:100]} {error or ''}", "bad")
        return redirect(url_for("index") + "#steps")

    @app.post("/sandbox/switch")
    def sandbox_switch():
        key = request.form.get("key", "")
        if key in box.switches:
            box.apply(key, request.form.get("on") == "1")
        return redirect(url_for("index") + "#switches")

    @app.post("/sandbox/expire-code")
    def sandbox_expire_code():
        # the next code exchange answers 40029, as WeCom does for a reused or 5-minute-old code
        box.fake.fail("/cgi-bin/auth/getuserinfo", 40029, times=1)
        flash("下一次登录的 code 将被判定为过期（40029）/ The next login's code will be refused as expired "
              "(40029).", "ok")
        return redirect(url_for("index") + "#switches")

    @app.post("/sandbox/reset")
    def sandbox_reset():
        box.reset()
        flash("沙盒开关已全部关闭 / All sandbox switches are off.", "ok")
        return redirect(url_for("index") + "#switches")
