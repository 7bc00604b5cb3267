"""WeCom's two login domains, framework-free: the rule, and the words that explain it.

* **可信域名 (trusted domain)** — in-client OAuth (``open.weixin.qq.com/connect/oauth2/authorize``):
  the redirect URI's host must equal it exactly, port included, and WeCom's console refuses a
  trusted domain that is an IP address or carries a port (errcode 80001: "不支持IP地址、端口号及短链
  域名"); a mismatch shows "redirect_uri需使用应用可信域名" (50001). So in-client login needs a
  real, ICP-filed domain on the scheme's default port — in practice HTTPS on 443 behind a reverse
  proxy. developer.work.weixin.qq.com/document/path/96441, 96442, 90313.
* **授权回调域 (web-login callback domain)** — web / QR login (``wwlogin/sso/login``,
  ``login_type=CorpApp``): a separate setting that must equal the redirect URI's host exactly and
  *may* include a port; no API reads it back. developer.work.weixin.qq.com/document/path/98152, 98173.

The doctor (``trusted_domain`` and ``web_login_domain`` rows), the login view's one-time log
warning and the login error page all read the rule and the advice from here, so they never
advise a value WeCom would refuse.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional, Tuple
from urllib.parse import urlsplit

__all__ = [
    "IP",
    "PORT",
    "LOCAL",
    "WECOM_SAYS",
    "USER_SEES",
    "RedirectHost",
    "redirect_host",
    "domain_problem",
    "why_refused",
    "serve_advice",
    "login_warning",
]

#: what WeCom shows inside its client when the redirect URI is not on the trusted domain (errcode 50001 of
#: developer.work.weixin.qq.com/document/path/90313; the page text as users report it)
WECOM_SAYS = "redirect_uri需使用应用可信域名"
USER_SEES = "回调URI参数错误 / " + WECOM_SAYS

#: why WeCom would refuse a host as a 可信域名
IP, PORT, LOCAL = "ip", "port", "local"

_WHY = {
    IP: ("是 IP 地址，企业微信不接受 IP 作为可信域名（80001）",
         "is an IP address, which WeCom refuses as a trusted domain (80001)"),
    PORT: ("带有端口号，企业微信的可信域名不能带端口（80001）",
           "carries a port, which a WeCom trusted domain cannot have (80001)"),
    LOCAL: ("是本机名称，无法 ICP 备案、也无法通过域名归属校验，企业微信不接受它作为可信域名（80001）",
            "is a local name, which can be neither ICP-filed nor verified, so WeCom refuses it as a trusted "
            "domain (80001)"),
}


@dataclass(frozen=True)
class RedirectHost:
    """The host of a redirect URI as WeCom compares it with a domain setting."""

    #: ``host[:port]``, lower-cased; the scheme's default port (80 / 443) is left out
    host: str
    #: the host without the port
    hostname: str
    #: a non-default port, else None
    port: Optional[int]
    #: :data:`IP`, :data:`PORT` or :data:`LOCAL` when WeCom refuses ``host`` as a 可信域名, else None
    problem: Optional[str]

    @property
    def advisable(self) -> Optional[str]:
        """The 可信域名 to enter for this site — never one WeCom refuses — or None when there is none.

        A domain name on an odd port gives that domain (served on 443 instead); an IP address or
        a local name gives nothing: the site needs a real domain first.
        """
        if self.problem is None:
            return self.host
        if self.problem == PORT and _name_problem(self.hostname) is None:
            return self.hostname
        return None


def _name_problem(hostname: str) -> Optional[str]:
    name = hostname.strip("[]").rstrip(".").lower()
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return IP
    if "." not in name or name.endswith((".localhost", ".local", ".internal", ".lan")):
        return LOCAL
    return None


def redirect_host(url: str) -> Optional[RedirectHost]:
    """The host WeCom compares for ``url`` (an absolute http(s) URL), or None when it is not one."""
    try:
        parts = urlsplit(str(url))
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    hostname = parts.hostname.lower()
    if ":" in hostname:  # IPv6 literal
        hostname = f"[{hostname}]"
    if port == (443 if scheme == "https" else 80):
        port = None
    host = f"{hostname}:{port}" if port is not None else hostname
    problem = _name_problem(hostname) or (PORT if port is not None else None)
    return RedirectHost(host, hostname, port, problem)


def domain_problem(domain: str) -> Optional[str]:
    """Why WeCom refuses ``domain`` (a 可信域名 as entered, e.g. agent/get's ``redirect_domain``), or None."""
    checked = redirect_host("https://" + str(domain).strip()) if domain else None
    return checked.problem if checked is not None else LOCAL


def why_refused(problem: str) -> Tuple[str, str]:
    """(zh, en) completing "the host X …" for :data:`IP` / :data:`PORT` / :data:`LOCAL`."""
    return _WHY[problem]


def serve_advice(domain: Optional[str]) -> Tuple[str, str]:
    """(zh, en): how to serve the login on a trusted domain — HTTPS on 443 behind a reverse proxy.

    ``domain`` is the exact 可信域名 to use when known (a name WeCom accepts); otherwise the text
    asks for the site's own ICP-filed domain.
    """
    if domain:
        return (f"让本站以 https://{domain} 对外服务：反向代理（如 nginx）在 443 端口接收 HTTPS 并转发到本应用，"
                f"设置 WECOM_PUBLIC_URL=https://{domain}，可信域名填写 {domain}（不带端口）",
                f"serve this site at https://{domain}: a reverse proxy (nginx, for example) takes HTTPS on 443 "
                f"and forwards to this app; set WECOM_PUBLIC_URL=https://{domain} and enter {domain} (no "
                "port) as the trusted domain")
    return ("为本站准备一个已 ICP 备案的域名（如 app.example.com），由反向代理（如 nginx）在 443 端口接收 HTTPS "
            "并转发到本应用，设置 WECOM_PUBLIC_URL=https://该域名，并把该域名（不带端口）填为可信域名",
            "give this site an ICP-filed domain name (say app.example.com) served by a reverse proxy (nginx, "
            "for example) that takes HTTPS on 443 and forwards to this app; set WECOM_PUBLIC_URL=https://that "
            "domain and enter the domain (no port) as the trusted domain")


def login_warning(redirect_uri: str, checked: RedirectHost) -> str:
    """The one log line the login view writes per host WeCom would refuse for in-client login."""
    _why_zh, why_en = why_refused(checked.problem or LOCAL)
    _zh, advice = serve_advice(checked.advisable)
    return (f"in-client WeCom login (OAuth) cannot work with redirect_uri {redirect_uri}: its host {checked.host} "
            f"{why_en}; WeCom shows '{WECOM_SAYS}' (50001) instead of coming back. "
            f"To fix: {advice} (developer.work.weixin.qq.com/document/path/96441). Web / QR login may still "
            f"work if {checked.host} is the app's web-login callback domain (授权回调域, 98173). "
            "This warning is logged once per host.")
