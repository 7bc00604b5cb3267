"""Check 7: WeCom's callback source IPs (``getcallbackip``), for firewall rules."""
from __future__ import annotations

from typing import List

from ..errors import TransportError, WeComError
from .base import (
    OK,
    SKIP,
    WARN,
    CheckResult,
    DoctorContext,
    _api_error_text,
    _both,
    _call,
    _corp_token_fix,
    _result,
)


def check_callback_ips(ctx: DoctorContext) -> List[CheckResult]:
    """Check 7: WeCom's callback source IPs, for firewall rules.

    ``getcallbackip``: doc 98988 for 代开发, 90238 for self-built apps.
    """
    title = "回调来源IP / Callback source IPs"
    if not ctx.corp_tokens:
        return [_result("callback_ip", title, SKIP,
                        _both("需要一个企业凭证（见检查4）", "needs a corp token (see check 4)"), step=7)]
    corp_id, token = next(iter(ctx.corp_tokens.items()))
    try:
        data = _call(ctx.client.get_callback_ip, token)
    except (WeComError, TransportError) as exc:
        finding, errcode, errmsg = _api_error_text(exc)
        return [_result("callback_ip", title, WARN, f"getcallbackip: {finding}",
                        _corp_token_fix(ctx, corp_id, errcode, errmsg, False), step=7)]
    ips = [str(ip) for ip in data.get("ip_list") or []]
    if not ips:
        return [_result("callback_ip", title, WARN, _both("企业微信没有返回 IP", "WeCom returned no IPs"),
                        step=7)]
    return [_result("callback_ip", title, OK,
                    _both(f"企业微信从 {len(ips)} 个 IP（段）发起回调",
                          f"WeCom calls back from {len(ips)} IP(s) / range(s)"),
                    _both("若回调地址前有防火墙，放行这些 IP",
                          "if a firewall guards the callback URL, allow these"),
                    step=7, details=ips)]
