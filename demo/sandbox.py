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
import secrets
import shutil
import signal
import string
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from flask import Flask, current_app, flash, has_request_context, redirect, request, url_for

from flask_wecom import WeCom
from flask_wecom.errors import CorpNotFoundError
from flask_wecom.testing import NAME_AND_EMAIL, SUITE_TICKET_TTL, FakeWeCom

log = logging.getLogger("demo.sandbox")

#: host used as the trusted domain while the "trusted domain mismatch" switch is on
WRONG_DOMAIN = "wrong-domain.example.com"
#: an address that is certainly not ours, for the "IP not whitelisted" switch (TEST-NET-3)
WHITELISTED_IP = "203.0.113.10"
#: how far the "let time pass" button moves the clocks: just past the suite_ticket's 30 minutes
STALE_AFTER = SUITE_TICKET_TTL + 60


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM (``kill``, systemd, a container stop) ends the demo like Ctrl+C: through ``sys.exit``, so the
    atexit handlers run and the temporary folder goes. Python's default for SIGTERM skips them."""
    import click
    from flask.cli import ScriptInfo

    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.find_object(ScriptInfo) is None:
        return  # only for the `flask` command (demo/run): a test process keeps its own signal handling
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return  # the server (gunicorn…) or the program has its own

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


class SandboxError(Exception):
    """A switch cannot be flipped right now; the message (中文 / English) says why."""


@dataclass
class Switch:
    """One per-corp fault. ``steps``: the doctor checks (1–7) on /setup that show it."""

    key: str
    label_zh: str
    label_en: str
    where_zh: str
    where_en: str
    steps: Tuple[int, ...] = ()
    on: bool = False

    @property
    def checks(self) -> str:
        """``"3, 4"``: the doctor checks, for the page."""
        return ", ".join(str(step) for step in self.steps)

    @property
    def checks_zh(self) -> str:
        return "、".join(str(step) for step in self.steps)


class Sandbox:
    """One simulator for one demo app, with the switches that flip its per-corp faults."""

    def __init__(self, fake: FakeWeCom, url: str, workdir: str) -> None:
        self.fake = fake
        self.url = url
        self.workdir = workdir
        self._lock = threading.RLock()
        #: what the switches changed, to put back exactly when they are turned off
        self._saved_visibility: Optional[List[bool]] = None
        self._console_token: Optional[str] = None
        self.switches: Dict[str, Switch] = {s.key: s for s in (
            Switch("ip", "服务器 IP 不在白名单", "server IP not whitelisted (60020)",
                   "本站的错误页，显示要添加的 IP", "our error page, naming the IP to add", steps=(3, 4)),
            Switch("closed", "应用已停用", "app disabled (50003; gettoken: 40001)",
                   "企业微信的页面（登录时）；诊断里 gettoken 返回 40001，与 secret 错误同码",
                   "WeCom's own page, at login; in the doctor gettoken answers 40001, the code of a wrong "
                   "secret too", steps=(4,)),
            Switch("trial", "试用期已结束", "licence trial over",
                   "没有许可的张三登录时看到本站的“没有使用许可”页（701016）；有许可的李四照常登录",
                   "张三 (no licence) gets our “no licence” page (701016); 李四 (licensed) logs in as "
                   "usual", steps=(6,)),
            Switch("permissions", "姓名、邮箱权限未授予", "name and email not granted",
                   "仍可登录；资料页显示账号（UserID）并说明缺少哪些权限、向谁申请",
                   "login still works; the profile page shows the UserID and says which permissions to ask "
                   "for, and whom", steps=(8,)),
            Switch("domain", "可信域名不匹配", "trusted domain mismatch",
                   "企业微信的页面（客户端内登录时；扫码登录看的是授权回调域，不受影响）",
                   "WeCom's own page, at in-client login (QR login checks the separate 授权回调域: unaffected)",
                   steps=(5,)),
            Switch("secret", "secret 被重置，本站没收到推送", "secret reset behind our back (40001)",
                   "登录失败（40001）。关闭＝企业微信补推 reset_permanent_code",
                   "login fails (40001). Off = WeCom re-sends reset_permanent_code", steps=(4, 6)),
            Switch("visible", "可见范围为空", "empty visible range",
                   "登录时企业微信提示“不在可见范围”", "at login WeCom says you are outside the visible range",
                   steps=(5,)),
            Switch("offline", "应用未上线（开发中）", "app not online (in development)",
                   "模拟器里仍可登录（真实客户端的表现未确认）",
                   "login still works here (the real client's behaviour is unconfirmed)", steps=(5,)),
            Switch("token", "回调 Token 与后台不一致", "callback Token differs from the console",
                   "第 ① 步的推送被拒绝（HTTP 403）", "step ①'s push is refused (HTTP 403)", steps=(2,)),
            Switch("base", "静默授权 snsapi_base", "silent scope snsapi_base",
                   "没有邮箱（不是错误）；选「王五」看到“不在可见范围”页",
                   "no email (not an error); pick 王五 for the “outside the visible range” page"),
        )}

    # -- life cycle -------------------------------------------------------------------------

    @classmethod
    def start(cls) -> Sandbox:
        # The demo runs on 127.0.0.1:5000, which real WeCom never accepts as a 可信域名 (no IP, no port:
        # developer.work.weixin.qq.com/document/path/90313, 80001). The simulator's named leniency lets
        # in-client OAuth work here anyway; the home page and /setup say so.
        fake = FakeWeCom(allow_local_redirects=True)
        url = fake.start()
        workdir = tempfile.mkdtemp(prefix="wecom-demo-")
        box = cls(fake, url, workdir)
        atexit.register(box.close)
        _exit_cleanly_on_sigterm()
        print(f"[demo] sandbox mode (no WECOM_* settings): FakeWeCom serving at {url}", file=sys.stderr)
        return box

    def close(self) -> None:
        self.fake.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def settings(self) -> Dict[str, Any]:
        """The WECOM_* settings that point the extension at the simulator (a 代开发 template).

        The fake's own :meth:`~flask_wecom.testing.FakeWeCom.flask_config` (which includes
        WECOM_PROVIDER_SECRET, so the doctor reads the licence trial), plus where the demo keeps
        its data.
        """
        config = self.fake.flask_config()
        config.update({
            "WECOM_DATABASE_URI": "sqlite:///" + os.path.join(self.workdir, "wecom.sqlite3"),
            "WECOM_CACHE_DIR": os.path.join(self.workdir, "cache"),
            # the demo's buttons wait for the exchange; keep it in the background as in production
            "WECOM_EXCHANGE_IN_BACKGROUND": True,
        })
        return config

    def console_settings(self) -> Dict[str, Any]:
        """What a provider would have typed into the WeCom console: the simulator's own values.

        With the "token" switch on, the simulator's Token is not ours any more (see :meth:`apply`).
        """
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
        return [{"name": m.name, "userid": m.userid, "email": m.email, "visible": m.visible,
                 "licensed": m.licensed} for m in self.corp.members]

    @property
    def authorized(self) -> bool:
        return self.corp.authorized

    @property
    def trusted_domain(self) -> str:
        return self.corp.trusted_domain

    @property
    def lenient(self) -> bool:
        """The simulator accepts a redirect host real WeCom refuses (:attr:`FakeWeCom.allow_local_redirects`)."""
        return self.fake.allow_local_redirects

    # -- switches ---------------------------------------------------------------------------

    def apply(self, key: str, on: bool) -> None:
        """Turn a switch on or off. Needs an app context; raises :class:`SandboxError` when it cannot."""
        fake = self.fake
        corp = fake.corp
        with self._lock:
            switch = self.switches[key]
            if key == "secret":
                self._apply_secret(on)
            elif key == "token":
                self._apply_token(on)
            elif key == "visible":
                with fake.model.lock:
                    if on and self._saved_visibility is None:
                        self._saved_visibility = [m.visible for m in corp.members]
                        for member in corp.members:
                            member.visible = False
                    elif not on and self._saved_visibility is not None:
                        for member, visible in zip(corp.members, self._saved_visibility):
                            member.visible = visible
                        self._saved_visibility = None
            else:
                with fake.model.lock:
                    if key == "ip":
                        fake.provider.ip_whitelist = [WHITELISTED_IP] if on else None
                    elif key == "closed":
                        corp.app_closed = on
                    elif key == "trial":
                        corp.trial_expired = on  # doc 97194: unlicensed members are refused, licensed ones not
                    elif key == "permissions":
                        # doc 98980: without them user/get and getuserdetail leave name and email out
                        if on:
                            corp.permissions.difference_update(NAME_AND_EMAIL)
                        else:
                            corp.permissions.update(NAME_AND_EMAIL)
                    elif key == "offline":
                        corp.publish_status = 1 if on else 2  # 1 开发中, 2 已上线
                if key == "base":
                    WeCom.state().config["WECOM_SCOPE"] = "snsapi_base" if on else "snsapi_privateinfo"
            switch.on = on
            self.refresh()

    def _apply_token(self, on: bool) -> None:
        """The console's callback Token (the simulator's: it signs every push) differs from WECOM_TOKEN."""
        suite = self.fake.suite
        with self.fake.model.lock:
            if on and self._console_token is None:
                self._console_token = suite.token
                alphabet = string.ascii_letters + string.digits
                while suite.token == self._console_token:
                    suite.token = "".join(secrets.choice(alphabet) for _ in range(len(self._console_token)))
            elif not on and self._console_token is not None:
                suite.token, self._console_token = self._console_token, None

    def _apply_secret(self, on: bool) -> None:
        """On: 重新获取secret without the push reaching us. Off: the push arrives after all."""
        fake = self.fake
        stored = self._stored_permanent_code()
        if stored is None:
            if not on:
                return  # nothing stored, nothing to undo
            raise SandboxError("请先完成第 ② 步：还没有保存的永久授权码 / Do step ② first: no permanent code is "
                               "stored yet.")
        if on:
            if stored == fake.corp.permanent_code:
                with fake.model.lock:
                    fake.model.reset_permanent_code(fake.corp)  # a new secret, no push
            return
        if stored == fake.corp.permanent_code:
            return
        result = self._push(fake.reset_secret)
        finished = WeCom.state().wait_background(timeout=30)
        if not (result.success and finished and self._stored_permanent_code() == fake.corp.permanent_code):
            last = WeCom.state().store.recent_auth_codes(limit=1)
            error = (last[0].error if last else "") or ""
            raise SandboxError(f"reset_permanent_code 未能换取新的永久授权码 / the reset_permanent_code push did "
                               f"not bring a new permanent code: HTTP {result.status_code} {error[:160]}")

    def let_time_pass(self, seconds: float = STALE_AFTER) -> bool:
        """The clocks move on by ``seconds`` with no suite_ticket push: the ticket goes stale.

        The simulator's clock moves forward (it never goes back); this process's clock cannot be
        moved, so the stored ticket is back-dated by the same amount. WeCom's next push (step ①)
        brings a fresh ticket — that is the only way back, as in real life. Returns whether
        there was a ticket to go stale.
        """
        state = WeCom.state()
        suite_id = state.provider.suite_id
        found = state.store.get_suite_ticket(suite_id) if suite_id else None
        with self._lock:
            self.fake.advance(seconds)
            if found is None:
                return False
            ticket, received_at = found
            state.store.save_suite_ticket(suite_id, ticket, received_at=received_at - seconds)
            return True

    @property
    def ticket_stale(self) -> bool:
        age = WeCom.state().provider.suite_ticket_age()
        return age is not None and age > SUITE_TICKET_TTL

    def refresh(self) -> None:
        """Read back the switches that other actions can flip: re-authorizing (step ②) brings a new
        permanent code, so the "secret" fault is gone then."""
        stored = self._stored_permanent_code()
        current = self.fake.corp.permanent_code
        self.switches["secret"].on = bool(stored and current and stored != current)

    def _stored_permanent_code(self) -> Optional[str]:
        store = WeCom.state().store
        try:
            return store.get_permanent_code(self.fake.corp.auth_corp_id)
        except CorpNotFoundError:
            return None

    def _push(self, method, **kwargs: Any) -> Any:
        """Push to our own template callback, in process (as the step buttons do)."""
        app = current_app._get_current_object()
        url, client = self._callback_target(app)
        return method(url, client=client, **kwargs)

    @staticmethod
    def _callback_target(app: Flask) -> Tuple[str, Any]:
        if has_request_context():
            return url_for("wecom.callback", _external=True), app.test_client()
        with app.test_request_context("/"):
            return url_for("wecom.callback", _external=True), app.test_client()

    def follow_host(self, host: str) -> None:
        """The sandbox's 可信域名 and 授权回调域 are wherever the demo is opened (unless the mismatch
        switch is on: it breaks the 可信域名 only, so QR login keeps working, as in real WeCom)."""
        host = host.lower()
        wanted = WRONG_DOMAIN if self.switches["domain"].on else host
        fake = self.fake
        if (fake.corp.trusted_domain, fake.corp.web_login_domain) != (wanted, host):
            with fake.model.lock:
                for owner in (fake.corp, fake.suite):
                    owner.trusted_domain = wanted
                    owner.web_login_domain = host

    def reset(self) -> List[str]:
        """Every switch off, faults cleared, a stale ticket replaced. Returns what could not be undone."""
        problems = []
        with self._lock:
            self.fake.clear_faults()
            # the Token first (pushes are signed with it), then a fresh ticket (the secret's
            # AuthCode is exchanged with a suite token, which needs a live ticket)
            self.apply("token", False)
            if self.ticket_stale:
                result = self._push(self.fake.push_suite_ticket)
                if not result.success:
                    problems.append(f"suite_ticket: HTTP {result.status_code}")
            for key in self.switches:
                if key == "token":
                    continue
                try:
                    self.apply(key, False)
                except SandboxError as exc:
                    problems.append(str(exc))
        return problems


# -- views ------------------------------------------------------------------------------------


def register_sandbox_views(app: Flask, box: Sandbox) -> None:
    @app.before_request
    def follow_host() -> None:
        box.follow_host(request.host)
        if request.endpoint == "index":
            box.refresh()

    def switch_flash(message: str, category: str = "ok") -> None:
        # shown inside the switches panel (index.html), where the redirect lands
        flash(message, "switch-" + category)

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
        switch = box.switches.get(key)
        if switch is not None:
            on = request.form.get("on") == "1"
            try:
                box.apply(key, on)
            except SandboxError as exc:
                switch_flash(str(exc), "bad")
            else:
                where = (f" — 见 /setup 体检第 {switch.checks_zh} 项 / see doctor check {switch.checks} on /setup"
                         if switch.steps and on else "")
                switch_flash(f"{'已开启' if on else '已关闭'}「{switch.label_zh}」 / {switch.label_en}: "
                             f"{'on' if on else 'off'}{where}")
        return redirect(url_for("index") + "#switches")

    @app.post("/sandbox/time")
    def sandbox_time():
        minutes = STALE_AFTER // 60
        if not box.let_time_pass():
            switch_flash(f"{minutes} 分钟过去了，但还没有 suite_ticket 可过期：先做第 ① 步 / {minutes} minutes "
                         "passed, but there was no suite_ticket to go stale: do step ① first.", "bad")
            return redirect(url_for("index") + "#switches")
        switch_flash(f"{minutes} 分钟过去了，企业微信没有推送新的 suite_ticket：它已过期（/setup 体检第 3 项）。"
                     f"第 ① 步推送一张新的即可恢复 / {minutes} minutes passed with no suite_ticket push: it is "
                     "stale (doctor check 3 on /setup). Push a fresh one with step ① to recover.")
        return redirect(url_for("index") + "#switches")

    @app.post("/sandbox/expire-code")
    def sandbox_expire_code():
        # the next code exchange answers 40029, as WeCom does for a reused or 5-minute-old code
        box.fake.fail("/cgi-bin/auth/getuserinfo", 40029, times=1)
        switch_flash("下一次登录的 code 将被判定为过期（40029）/ The next login's code will be refused as "
                     "expired (40029).")
        return redirect(url_for("index") + "#switches")

    @app.post("/sandbox/reset")
    def sandbox_reset():
        problems = box.reset()
        if problems:
            switch_flash("有些开关没能复原 / some switches could not be undone: " + "; ".join(problems), "bad")
        else:
            switch_flash("沙盒开关已全部关闭 / All sandbox switches are off.")
        return redirect(url_for("index") + "#switches")
