"""Check 1: the configuration (every key the app type needs, ``SECRET_KEY``, ``WECOM_PUBLIC_URL``)."""
from __future__ import annotations

from typing import List
from urllib.parse import urlsplit

from ..config import validate_config
from .base import (
    FAIL,
    OK,
    WARN,
    CheckResult,
    DoctorContext,
    _both,
    _result,
)


def check_config(ctx: DoctorContext) -> List[CheckResult]:
    """Check 1: every key the app type needs, their formats, ``SECRET_KEY``, ``WECOM_PUBLIC_URL``."""
    title = "配置 / Configuration"
    problems = validate_config(ctx.config, ctx.app_type, secret_key=ctx.secret_key)
    results: List[CheckResult] = []
    for problem in problems:
        status = FAIL if problem.severity == "error" else WARN
        if status == FAIL:
            ctx.config_problem_keys.add(problem.key)
        results.append(_result("config", f"{title}: {problem.key}", status,
                               f"{problem.key} {problem.problem}", problem.fix, step=1))
    public = ctx.config.get("WECOM_PUBLIC_URL")
    if public:
        parts = urlsplit(str(public))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            ctx.config_problem_keys.add("WECOM_PUBLIC_URL")
            results.append(_result(
                "config", f"{title}: WECOM_PUBLIC_URL", FAIL,
                _both("WECOM_PUBLIC_URL 不是形如 https://域名[:端口][/前缀] 的地址",
                      "WECOM_PUBLIC_URL is not a base URL like https://host[:port][/prefix]"),
                _both("设为用户访问本站的公网地址，例如 https://app.example.com",
                      "set it to the public address users reach this site at, e.g. https://app.example.com"),
                step=1))
    if not results:
        results.append(_result("config", title, OK,
                               _both(f"{ctx.app_type} 模式所需的设置齐全且格式正确",
                                     f"every setting {ctx.app_type} mode needs is present and well-formed"),
                               step=1))
    return results
