"""Check 4: a corp access token per corp (``gettoken`` doc 97164 / ``get_corp_token`` doc 90605)."""
from __future__ import annotations

from typing import List, Optional

from ..config import INTERNAL, THIRD_PARTY
from ..errors import CorpNotFoundError, TransportError, WeComAPIError, WeComError
from .base import (
    FAIL,
    OK,
    SKIP,
    WARN,
    CheckResult,
    DoctorContext,
    _api_error_text,
    _both,
    _call,
    _corp_label,
    _corp_token_fix,
    _disabled_or_secret_fix,
    _result,
)


def _cached_agent_close(ctx: DoctorContext, corp_id: str) -> Optional[bool]:
    """After gettoken's 40001: ask agent/get with the access token the app cached before, if it still holds
    one, whether the app is disabled (``close=1`` or 50003: True; ``close=0``: False). None when there is
    no cached token to ask with or the answer is unclear. One call, no new gettoken when the cached token
    is fresh: repeated wrong secrets get the IP blocked (document 90313, 45009)."""
    provider = ctx.provider
    if provider is None or ctx.app_type == THIRD_PARTY:
        return None
    try:
        source = provider.corp_token(corp_id)
        seen = source.peek()
        if not seen or float(seen["expires_at"]) - ctx.now() < 300:
            return None
        token = source.get()
        agent_id = provider.agent_id_for(corp_id)
    except Exception:  # noqa: BLE001 - a cache or store problem: just no hint
        return None
    if not token or not agent_id:
        return None
    ctx.remember_secret(str(token))
    try:
        data = _call(ctx.client.get_agent, str(token), agent_id)
    except WeComAPIError as exc:
        return True if exc.errcode == 50003 else None
    except (WeComError, TransportError):
        return None
    return str(data.get("close", 0)) not in ("0", "", "None")


def check_corp_tokens(ctx: DoctorContext) -> List[CheckResult]:
    """Check 4: a corp access token for each corp we serve (``gettoken`` doc 97164 / ``get_corp_token`` doc 90605)."""
    title = "企业凭证 / corp access_token"
    provider = ctx.provider
    corp_ids = list(provider.corp_ids())
    if not corp_ids:
        if ctx.app_type == INTERNAL:
            return [_result("corp_token", title, SKIP, _both("未设置 WECOM_CORP_ID",
                                                             "WECOM_CORP_ID is not set"),
                            step=4)]
        return [_result("corp_token", title, WARN,
                        _both("还没有企业授权本应用", "no corp has authorized this app yet"),
                        _both("请客户企业的管理员扫描代开发模板授权二维码（授权后 create_auth "
                              "推送到模板回调URL，自动换取 permanent_code），或设置 WECOM_CORP_ID + "
                              "WECOM_SECRET",
                              "have the customer's admin scan the template's authorization QR code "
                              "(create_auth then arrives on the template callback URL and is exchanged "
                              "automatically), or set WECOM_CORP_ID + WECOM_SECRET"),
                        step=4)]
    results: List[CheckResult] = []
    configured = ctx.config.get("WECOM_CORP_ID")
    for corp_id in corp_ids:
        label = _corp_label(ctx, corp_id)
        from_config = bool(ctx.config.get("WECOM_SECRET")) and (not configured or corp_id == configured)
        # A failure the app remembers (doc 90313: repeating a wrong secret gets the IP banned) is shown, not
        # sent again; the doctor's own failures are not remembered, so a re-run right after a fix asks WeCom.
        source = provider.corp_token(corp_id)
        try:
            secret = provider.corp_secret(corp_id) if ctx.app_type != THIRD_PARTY else \
                provider.store.get_permanent_code(corp_id)
        except CorpNotFoundError:
            results.append(_result("corp_token", title, FAIL,
                                   _both("没有保存的 permanent_code",
                                         "no stored permanent_code"),
                                   _both("请企业管理员重新授权", "have the corp admin authorize again"),
                                   step=4, corp_id=corp_id, label=label))
            continue
        ctx.remember_secret(secret)
        try:
            if ctx.app_type == THIRD_PARTY:
                if not ctx.suite_token:
                    results.append(_result("corp_token", title, SKIP,
                                           _both("第三方应用的企业凭证需要模板凭证（见检查3）",
                                                 "a third-party corp token needs the suite token "
                                                 "(see check 3)"), step=4, corp_id=corp_id, label=label))
                    continue
                source.raise_if_blocked()
                data = _call(ctx.client.get_corp_token, ctx.suite_token, corp_id, secret)
                api = "get_corp_token"
            else:
                source.raise_if_blocked()
                data = _call(ctx.client.get_token, corp_id, secret)
                api = "gettoken"
            token = data.get("access_token")
            if not token:
                raise WeComError(f"{api} answered without access_token")
        except (WeComError, TransportError) as exc:
            finding, errcode, errmsg = _api_error_text(exc)
            api = "get_corp_token" if ctx.app_type == THIRD_PARTY else "gettoken"
            fix = _corp_token_fix(ctx, corp_id, errcode, errmsg, from_config)
            details: List[str] = []
            if errcode == 40001 and api == "gettoken":  # a bad secret or a disabled app (document 90313)
                closed = _cached_agent_close(ctx, corp_id)
                fix = _disabled_or_secret_fix(ctx, from_config, closed)
                if closed is not None:
                    details.append(f"agent/get (access_token cached before): close={1 if closed else 0}")
            results.append(_result("corp_token", title, FAIL, f"{api}: {finding}", fix,
                                   step=4, corp_id=corp_id, label=label, details=details))
            continue
        ctx.corp_tokens[corp_id] = str(token)
        ctx.remember_secret(str(token))
        results.append(_result("corp_token", title, OK,
                               _both(f"{api} 成功", f"{api} works"),
                               step=4, corp_id=corp_id, label=label))
    return results
