"""Third-party installs started from the provider's website: ``/install`` and ``/installed``.

WeCom documents two ways to install a third-party app (developer.work.weixin.qq.com/document/path/90597):
from the app marketplace, which pushes ``create_auth`` to the 指令回调 URL, and from the provider's
website, which does not (90642): the admin comes back to our ``redirect_uri`` with
``?auth_code=…&expires_in=600&state=…`` and nothing else tells us about the install.

* ``GET /wecom/install`` — gets a pre_auth_code (90601), sets the session info (90602,
  ``WECOM_INSTALL_AUTH_TYPE``) and shows a page whose button opens WeCom's install page. A page, not a
  redirect: WeCom wants the install page opened from a page on the app's 授权完成回调域名 (WeCom staff
  answers), and the button sends our origin as the Referer.
* ``GET /wecom/installed`` — the redirect target: records the auth_code like a create_auth AuthCode and
  exchanges it with get_permanent_code exactly once (a reload does not exchange it again), then stores
  the corp and sends ``corp_authorized``.

A 代开发 app is not installed this way (its template QR code pushes create_auth): both routes say so.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, Optional, Tuple

from flask import Blueprint, current_app, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from . import reasons
from .app_types import THIRD_PARTY
from .callback import exchange_and_notify
from .errors import NoSuiteTicketError, TransportError, WeComAPIError, WeComError
from .oauth import generate_state, is_valid_state
from .provider import install_page_url, record_install_code
from .state import current_app_object, get_state

log = logging.getLogger("flask_wecom.install")

__all__ = ["register_install_views", "install_redirect_uri"]

#: installs in progress kept per session
_STATES_KEY = "_wecom_install_states"
_MAX_STATES = 5


def register_install_views(bp: Blueprint) -> None:
    bp.add_url_rule("/install", "install", install_view, methods=["GET"])
    bp.add_url_rule("/installed", "installed", installed_view, methods=["GET"])


def install_redirect_uri() -> str:
    """Where WeCom sends the admin after the install; its host must be the 授权完成回调域名."""
    public = current_app.config.get("WECOM_PUBLIC_URL")
    if public:
        return str(public).rstrip("/") + url_for("wecom.installed")
    return url_for("wecom.installed", _external=True)


def _page(kind: str, status: int, **values: Any) -> Tuple[str, int]:
    return render_template("wecom/install.html", kind=kind, **values), status


def _not_third_party() -> Tuple[str, int]:
    return _page(
        "error", 404,
        title_zh="本应用不通过网站安装", title_en="This app is not installed from a website",
        what_zh="从服务商网站发起的安装只适用于第三方应用（WECOM_APP_TYPE=third_party）。代开发应用由客户企业的管理员"
                "扫描代开发模板的授权二维码授权，授权通知（create_auth）推送到模板回调 URL。",
        what_en="Installs started from the provider's website are for third-party apps (WECOM_APP_TYPE="
                "third_party). A 代开发 app is authorized by the customer's admin scanning the template's QR code; "
                "the create_auth notice arrives on the template callback URL.",
        fix_zh="", fix_en="")


def _failure_page(exc: BaseException, step: str) -> Tuple[str, int]:
    if isinstance(exc, NoSuiteTicketError):  # the login page's words for the same failure
        record = reasons.RECORDS["no_suite_ticket"]
        (what_zh, what_en), (fix_zh, fix_en) = record.what, record.fix
    elif isinstance(exc, WeComAPIError):
        what_zh = f"企业微信接口 {step} 返回错误码 {exc.errcode}。"
        what_en = f"WeCom's {step} answered errcode {exc.errcode}."
        fix_zh = fix_en = exc.hint or ""
    elif isinstance(exc, TransportError):
        record = reasons.RECORDS["unreachable"]
        (what_zh, what_en), (fix_zh, fix_en) = record.what, record.fix
    else:
        what_zh, what_en = "安装时出错。", "The install failed."
        fix_zh, fix_en = "管理员：运行 `flask wecom doctor` 并查看服务器日志。", \
            "Admins: run `flask wecom doctor` and see the server log."
    return _page("error", 503, title_zh="暂时无法安装", title_en="The install cannot start right now",
                 what_zh=what_zh, what_en=what_en, fix_zh=fix_zh, fix_en=fix_en)


def install_view() -> ResponseReturnValue:
    state = get_state()
    if state.app_type != THIRD_PARTY:
        return _not_third_party()
    value = generate_state()
    try:
        url = install_page_url(state.provider, install_base=state.config["WECOM_INSTALL_URL"],
                               redirect_uri=install_redirect_uri(), state=value,
                               auth_type=int(str(state.config["WECOM_INSTALL_AUTH_TYPE"]).strip() or 0))
    except (WeComError, ValueError) as exc:
        log.warning("install: cannot start: %s", exc)
        return _failure_page(exc, "get_pre_auth_code")
    now = time.time()
    pending: Dict[str, float] = {k: v for k, v in dict(session.get(_STATES_KEY) or {}).items()
                                 if isinstance(v, (int, float)) and v > now}
    pending[value] = now + 1200  # a pre_auth_code lives 20 minutes (90601)
    session[_STATES_KEY] = dict(sorted(pending.items(), key=lambda item: item[1])[-_MAX_STATES:])
    body, status = _page("start", 200, install_url=url)
    response = current_app.make_response((body, status))
    # WeCom checks that the install page is opened from our domain: send our origin as the Referer
    response.headers["Referrer-Policy"] = "origin"
    response.headers["Cache-Control"] = "no-store"  # the link carries a single-use pre_auth_code
    return response


def _take_state(value: str) -> bool:
    pending = dict(session.get(_STATES_KEY) or {})
    found = pending.pop(value, None) if is_valid_state(value) else None
    if found is not None:
        session[_STATES_KEY] = pending
    return found is not None and float(found) > time.time()


def installed_view() -> ResponseReturnValue:
    state = get_state()
    if state.app_type != THIRD_PARTY:
        return _not_third_party()
    auth_code = request.args.get("auth_code", "")
    value = request.args.get("state", "")
    if not auth_code:
        return _page("error", 400, title_zh="安装未完成", title_en="The install was not completed",
                     what_zh="企业微信没有返回授权码（auth_code）：安装被取消或未完成。",
                     what_en="WeCom came back without an auth_code: the install was cancelled or not finished.",
                     fix_zh="请重新安装。", fix_en="Start the install again.",
                     retry_url=url_for("wecom.install"))
    if not _take_state(value):
        # The auth_code stands for a real install of our app, and no create_auth will follow (90642):
        # exchanging it loses nothing, refusing it would lose the install. So it is exchanged anyway.
        log.warning("install: the state of this install answer was not started in this browser session; "
                    "exchanging its auth_code anyway (WeCom sends no other notice of the install)")
    try:
        code_id, created = record_install_code(state.provider, auth_code, value or None)
    except Exception:  # noqa: BLE001 - the store is down: nothing was recorded, say so
        log.exception("install: could not record the auth_code")
        return _page("error", 503, title_zh="暂时无法完成安装", title_en="The install cannot be completed right now",
                     what_zh="本站无法保存授权码。", what_en="This site could not record the auth_code.",
                     fix_zh="请在 10 分钟内刷新本页重试。", fix_en="Reload this page within 10 minutes.")
    corp = None
    if created:
        corp = exchange_and_notify(state, current_app_object(), code_id, "create_auth")
    record = state.store.get_auth_code(code_id)
    if corp is None and record is not None and record.corp_id:
        corp = state.store.get_corp(record.corp_id)
    if corp is not None:
        return _page("done", 200, corp=corp,
                     login_url=url_for("wecom.login", corp_id=corp.corp_id))
    status = record.status if record is not None else "failed"
    if status in ("pending", "exchanging"):
        return _page("error", 503, title_zh="安装处理中", title_en="The install is being completed",
                     what_zh="授权码已保存，正在向企业微信换取永久授权码。",
                     what_en="The auth_code is recorded and is being exchanged with WeCom.",
                     fix_zh="请稍后刷新本页（授权码 10 分钟内有效，也可由管理员运行 `flask wecom exchange`）。",
                     fix_en="Reload this page shortly (the code is valid 10 minutes; admins can also run "
                            "`flask wecom exchange`).")
    error: Optional[str] = record.error if record is not None else None
    log.error("install: exchanging the auth_code failed: %s", error)
    return _page("error", 502, title_zh="安装失败", title_en="The install failed",
                 what_zh="企业微信拒绝了授权码（可能已过期或已使用）。",
                 what_en="WeCom refused the auth_code (it may have expired or been used).",
                 fix_zh="请重新安装。", fix_en="Start the install again.", retry_url=url_for("wecom.install"))
