"""Check 2: a signed, encrypted URL verification sent to our own callback route, in process."""
from __future__ import annotations

import secrets as _secrets
import time
from typing import List, Optional, Tuple

from .. import console
from ..config import CUSTOMIZED, INTERNAL
from ..crypto import MessageCrypto, signature
from ..errors import WeComError
from .base import (
    FAIL,
    OK,
    SKIP,
    WARN,
    CheckResult,
    DoctorContext,
    _both,
    _result,
)


def _callback_endpoints(ctx: DoctorContext) -> List[Tuple[str, str, str, str, Tuple[str, str]]]:
    """(endpoint, path, label zh, label en, (where to paste zh, en)) for this app type (doc 96238)."""
    paths, where = ctx.callback_paths, console.callback_places(ctx.app_type)
    if ctx.app_type == INTERNAL:
        return [("data", paths["data"], "应用接收消息URL", "the app's message URL", where["data"])]
    if ctx.app_type == CUSTOMIZED:
        return [
            ("template", paths["template"], "代开发模板回调URL", "template (指令) callback URL", where["template"]),
            ("data", paths["data"], "代开发应用回调URL", "the 代开发 app's (数据) callback URL", where["data"]),
        ]
    return [
        ("template", paths["template"], "指令回调URL", "instruction (指令) callback URL", where["template"]),
        ("data", paths["data"], "数据回调URL", "data callback URL", where["data"]),
    ]


def _signing_settings(ctx: DoctorContext, endpoint: str) -> Tuple[Optional[str], Optional[str]]:
    def get(key: str) -> Optional[str]:
        value = ctx.console.get(key) if ctx.console.get(key) else ctx.config.get(key)
        return str(value) if value else None

    if endpoint == "data":
        return (get("WECOM_DATA_TOKEN") or get("WECOM_TOKEN"),
                get("WECOM_DATA_ENCODING_AES_KEY") or get("WECOM_ENCODING_AES_KEY"))
    return get("WECOM_TOKEN"), get("WECOM_ENCODING_AES_KEY")


def _verification_receive_id(ctx: DoctorContext, endpoint: str) -> Tuple[Optional[str], str]:
    """The receiveid WeCom uses for URL verification (doc 90968), and a note when guessed.

    Self-built apps: their corp id. Provider apps: the provider's own corp id on both URLs (staff
    answers, partly UNCONFIRMED). Without ``WECOM_PROVIDER_CORP_ID`` we can only test with what the
    route accepts otherwise — the suite id (template URL) or an authorized corp id (data URL) — and
    say so.
    """
    def get(key: str) -> Optional[str]:
        value = ctx.console.get(key) or ctx.config.get(key)
        return str(value) if value else None

    if ctx.app_type == INTERNAL:
        return get("WECOM_CORP_ID"), ""
    provider_corp_id = get("WECOM_PROVIDER_CORP_ID")
    if provider_corp_id:
        return provider_corp_id, ""
    if endpoint == "template":
        fallback: Optional[str] = get("WECOM_SUITE_ID")
    else:
        corp_ids = list(ctx.provider.corp_ids()) if ctx.provider is not None else []
        fallback = corp_ids[0] if corp_ids else get("WECOM_CORP_ID")
    return fallback, _both(
        "未设置 WECOM_PROVIDER_CORP_ID：服务商侧回调 URL 的验证以服务商自身 corpid 加密（企业微信官方答复），"
        f"所以真实的验证会失败；在{console.PROVIDER_CORP_ID[0]}复制 CorpID",
        "WECOM_PROVIDER_CORP_ID is not set: WeCom verifies provider-side callback URLs with the provider's own "
        "corp id (WeCom staff answers), so the real verification will fail; copy the CorpID from "
        f"{console.PROVIDER_CORP_ID[1]}")


def _diagnose_callback(status: int, body: str, expected: str) -> Tuple[str, str]:
    """(finding, fix) for a wrong answer of our callback route."""
    text = (body or "").strip()[:200]
    low = text.lower()
    if status == 200:
        if body.startswith("\ufeff"):
            why = _both("应答以 BOM 开头（不能带bom头）", "the answer starts with a BOM")
        elif body.strip() == expected:
            why = _both("应答带有空白或换行（不能带换行符）",
                        "the answer has surrounding whitespace / newline")
        elif body.strip("\"'") == expected:
            why = _both("应答带引号（不能加引号）", "the answer is quoted")
        else:
            why = _both("应答不是解密后的 echostr 明文", "the answer is not the decrypted echostr")
        return (why, _both("回调 URL 必须原样返回明文（developer.work.weixin.qq.com/document/path/96466）；"
                           "检查是否有中间件改写了应答",
                           "the callback must answer the bare plaintext (developer.work.weixin.qq.com/document/"
                           "path/96466); check for middleware that "
                           "rewrites the response"))
    if status == 403 and "signature" in low:
        return (_both("签名校验失败：Token 不一致", "msg_signature does not match: the Token differs"),
                _both("让 WECOM_TOKEN（或 WECOM_DATA_TOKEN）与后台回调配置中的 Token 完全一致",
                      "make WECOM_TOKEN (or WECOM_DATA_TOKEN) equal the Token in the console's callback "
                      "settings"))
    if status == 403 and "receiveid" in low:
        return (_both("receiveid 不被接受：服务商 corpid / suite_id 不一致",
                      "the receiveid is not accepted: provider corp id / suite id differ"),
                _both(f"WECOM_PROVIDER_CORP_ID 设为{console.PROVIDER_CORP_ID[0]}中的 CorpID，"
                      "WECOM_SUITE_ID 设为模板ID（developer.work.weixin.qq.com/document/path/97172）",
                      f"set WECOM_PROVIDER_CORP_ID to the CorpID under {console.PROVIDER_CORP_ID[1]} and "
                      "WECOM_SUITE_ID to the template id (developer.work.weixin.qq.com/document/path/97172)"))
    if status == 400 and ("decrypt" in low or "aes" in low):
        return (_both("无法解密：EncodingAESKey 不一致", "cannot decrypt: the EncodingAESKey differs"),
                _both("让 WECOM_ENCODING_AES_KEY（或 WECOM_DATA_ENCODING_AES_KEY）与后台回调配置中的 "
                      "EncodingAESKey 完全一致",
                      "make WECOM_ENCODING_AES_KEY (or WECOM_DATA_ENCODING_AES_KEY) equal the EncodingAESKey "
                      "in the console's callback settings"))
    if status == 403 and "timestamp" in low:
        return (_both("时间戳被拒绝：服务器时钟不准", "the timestamp was refused: the server clock is off"),
                _both("校准服务器时间（NTP）", "synchronise the server clock (NTP)"))
    if status == 404:
        return (_both("回调路由不存在或未配置", "the callback route does not exist or is not configured"),
                _both("设置 WECOM_TOKEN 与 WECOM_ENCODING_AES_KEY，并确认 WECOM_URL_PREFIX 与回调 URL 一致",
                      "set WECOM_TOKEN and WECOM_ENCODING_AES_KEY, and check WECOM_URL_PREFIX matches the "
                      "callback URL"))
    if status in (301, 302, 303, 307, 308, 401):
        return (_both(f"回调请求被拦截（HTTP {status}），可能是登录或 HTTPS 跳转",
                      f"the callback request was intercepted (HTTP {status}), e.g. by a login or HTTPS "
                      "redirect"),
                _both("让回调路由免登录、不跳转：企业微信不会跟随跳转",
                      "exempt the callback route from login and redirects: WeCom does not follow them"))
    answered = _both(f"回调路由应答 HTTP {status}", f"the callback route answered HTTP {status}")
    return (f"{answered}: {text!r}",
            _both("查看服务器日志中 flask_wecom.callback 的记录",
                  "see the flask_wecom.callback lines in the server log"))


def check_callback(ctx: DoctorContext) -> List[CheckResult]:
    """Check 2: URL verification against our own callback route, in process (doc 96466, doc 90968)."""
    title = "回调自测 / Callback self-test"
    results: List[CheckResult] = []
    base = ctx.base_url
    for endpoint, path, label_zh, label_en, where in _callback_endpoints(ctx):
        receive_id, receive_note = _verification_receive_id(ctx, endpoint)
        url = base + path if base else None
        row_title = f"{title}: {label_zh} / {label_en}"
        details = [url or f"<{_both('公网地址', 'public URL')}>{path}"]
        token, aes_key = _signing_settings(ctx, endpoint)
        if endpoint == "template" and not ctx.config.get("WECOM_SUITE_ID"):
            # a 代开发 app run with its permanent code: the template (and its events) live elsewhere
            results.append(_result("callback", row_title, SKIP,
                                   _both("未设置 WECOM_SUITE_ID：模板回调（suite_ticket、create_auth…）不由本应用接收",
                                         "WECOM_SUITE_ID is not set: template events (suite_ticket, "
                                         "create_auth…) are not received by this app"),
                                   _both("用永久授权码运行时无需模板回调；要自动接收授权，设置模板的 WECOM_SUITE_ID 与 "
                                         "WECOM_SUITE_SECRET",
                                         "none is needed when running with the permanent code; to receive "
                                         "authorizations automatically set the template's WECOM_SUITE_ID and "
                                         "WECOM_SUITE_SECRET"),
                                   step=2, details=details))
            continue
        if not token or not aes_key:
            if ctx.app_type == INTERNAL:
                results.append(_result("callback", row_title, SKIP,
                                       _both("未配置回调（自建应用可选）",
                                             "no callback configured (optional for self-built apps)"),
                                       _both("需要接收消息时设置 WECOM_TOKEN 与 WECOM_ENCODING_AES_KEY",
                                             "set WECOM_TOKEN and WECOM_ENCODING_AES_KEY to receive "
                                             "messages"),
                                       step=2, details=details))
                continue
            results.append(_result("callback", row_title, SKIP,
                                   _both("缺少 Token / EncodingAESKey，见检查1",
                                         "Token / EncodingAESKey missing, see check 1"),
                                   step=2, details=details))
            continue
        bad_keys = ctx.config_problem_keys & {"WECOM_TOKEN", "WECOM_ENCODING_AES_KEY", "WECOM_DATA_TOKEN",
                                              "WECOM_DATA_ENCODING_AES_KEY"}
        if bad_keys:
            results.append(_result("callback", row_title, SKIP,
                                   _both(f"先修正 {', '.join(sorted(bad_keys))}（见检查1）",
                                         f"fix {', '.join(sorted(bad_keys))} first (see check 1)"),
                                   step=2, details=details))
            continue
        if ctx.probe is None:
            results.append(_result("callback", row_title, SKIP,
                                   _both("没有可用的进程内请求方式（需 Flask 应用）",
                                         "no in-process request available (needs the Flask app)"),
                                   step=2, details=details))
            continue
        if not receive_id:
            results.append(_result("callback", row_title, SKIP,
                                   _both("不知道 receiveid：设置 WECOM_CORP_ID / WECOM_PROVIDER_CORP_ID",
                                         "the receiveid is unknown: set WECOM_CORP_ID / "
                                         "WECOM_PROVIDER_CORP_ID"),
                                   step=2, details=details))
            continue
        # WeCom's echostr plaintext is a long random number (doc 96466)
        expected = str(_secrets.randbelow(10 ** 19)).zfill(19)
        try:
            crypto = MessageCrypto(token, aes_key, receive_id)
            echostr = crypto.encrypt(expected, receive_id=receive_id)
        except WeComError as exc:
            results.append(_result("callback", row_title, FAIL, exc.message,
                                   _both("检查 Token / EncodingAESKey 格式（见检查1）",
                                         "check the Token / EncodingAESKey format (see check 1)"),
                                   step=2, details=details))
            continue
        # our own server's clock, not ctx.clock: the route compares with time.time()
        timestamp = str(int(time.time()))
        nonce = str(_secrets.randbelow(10 ** 10)).zfill(10)
        query = {"msg_signature": signature(token, timestamp, nonce, echostr), "timestamp": timestamp,
                 "nonce": nonce, "echostr": echostr}
        try:
            status, body = ctx.probe(path, query)
        except Exception as exc:  # noqa: BLE001 - the route crashing is exactly what we report
            results.append(_result("callback", row_title, FAIL,
                                   _both("回调路由抛出异常", "the callback route raised")
                                   + f" {type(exc).__name__}",
                                   _both("查看服务器日志", "see the server log"), step=2, details=details))
            continue
        if status != 200 or body != expected:
            finding, fix = _diagnose_callback(status, body, expected)
            results.append(_result("callback", row_title, FAIL, finding, fix, step=2, details=details))
            continue
        status_out = OK
        where_zh, where_en = where
        finding = _both("URL 验证通过：Token、EncodingAESKey、receiveid 一致；把此 URL 及 Token、"
                        f"EncodingAESKey 填到{where_zh}",
                        "URL verification passed: Token, EncodingAESKey and receiveid agree; paste this "
                        f"URL, the Token and the EncodingAESKey into {where_en}")
        fixes = []
        if receive_note:
            status_out = WARN
            fixes.append(receive_note)
        if not url:
            status_out = WARN
            fixes.append(_both("设置 WECOM_PUBLIC_URL（或 --public-url）才能给出完整的回调地址",
                               "set WECOM_PUBLIC_URL (or pass --public-url) to get the full callback URL"))
        elif not url.lower().startswith("https://"):
            status_out = WARN
            fixes.append(_both("正式环境请使用 HTTPS 的已备案域名（有开发者反馈代开发模板回调URL 必须用 https）",
                               "use HTTPS on an ICP-filed domain in production (developers report the 代开发 "
                               "template URL must be https)"))
        results.append(_result("callback", row_title, status_out, finding, " ".join(fixes),
                               step=2, details=details))
    return results
