"""``python -m flask_wecom.testing``: run FakeWeCom as a process until Ctrl-C.

Prints its URLs and its (fake) credentials.  Options::

    --port 8765 --host 127.0.0.1 --trusted-domain app.example.com [--web-login-domain app.example.com:8443]
    --allow-local-redirects                        # accept 127.0.0.1:5000 as trusted domain (WeCom won't)
    --app-type customized|third_party   --plaintext-ids   --seed 42
    --push-ticket-to URL [--ticket-interval 600]   # push suite_ticket like WeCom, every 10 min
    --json                                         # one JSON line of credentials instead of text
    -v                                             # log every request
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from typing import List, Optional

from ..app_types import CUSTOMIZED, THIRD_PARTY
from . import DomainSettingError, FakeWeCom


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m flask_wecom.testing",
                                description="FakeWeCom: a WeCom (企业微信) simulator for tests.")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free port)")
    p.add_argument("--trusted-domain", default="localhost",
                   help="the app's trusted domain (可信域名): the host of your redirect_uri, no IP, no port "
                        "(default localhost)")
    p.add_argument("--web-login-domain", default="",
                   help="the web-login callback domain (授权回调域), host[:port] (default: the trusted domain)")
    p.add_argument("--allow-local-redirects", action="store_true",
                   help="accept an IP address or a port in the trusted domain, e.g. 127.0.0.1:5000 — "
                        "real WeCom refuses them (80001)")
    p.add_argument("--app-type", choices=(CUSTOMIZED, THIRD_PARTY), default=CUSTOMIZED,
                   help="customized = 代开发 template (default), third_party = 第三方应用 suite")
    p.add_argument("--plaintext-ids", action="store_true",
                   help="pre-2022 behaviour: 代开发 sees plaintext corpid / userids")
    p.add_argument("--seed", type=int, default=None, help="make the fake credentials reproducible")
    p.add_argument("--push-ticket-to", metavar="URL", default=None,
                   help="push suite_ticket to this template callback URL at start and periodically")
    p.add_argument("--ticket-interval", type=float, default=600.0, help="seconds between pushes")
    p.add_argument("--json", action="store_true", help="print credentials as one JSON line")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return p


def _print_text(fake: FakeWeCom) -> None:
    c = fake.credentials()
    s = c["suite"]
    lines = [
        "FakeWeCom — WeCom (企业微信) simulator. Fake credentials, for development only.",
        f"  API base (instead of https://qyapi.weixin.qq.com): {c['api_base']}",
        f"  OAuth authorize (in-client):                      {c['oauth_authorize']}",
        f"  Web / QR login:                                   {c['web_login']}",
        "",
        f"provider (服务商)  corp_id={c['provider']['corp_id']}  "
        f"provider_secret={c['provider']['provider_secret']}",
        f"suite ({s['app_type']})  suite_id={s['suite_id']}  suite_secret={s['suite_secret']}",
        f"                  token={s['token']}  encoding_aes_key={s['encoding_aes_key']}",
        f"登录授权 (login suite, third-party web login)  suite_id={c['login_suite']['suite_id']}  "
        f"suite_secret={c['login_suite']['suite_secret']}",
    ]
    for corp in c["corps"]:
        lines += [
            "",
            f"corp {corp['name']}  corp_id={corp['corp_id']}  auth corp id={corp['auth_corp_id']}",
            f"     agent_id={corp['agent_id']}  secret (self-built)={corp['secret']}  "
            f"trusted_domain={corp['trusted_domain']}",
            f"     web_login_domain={corp['web_login_domain']}",
        ]
        for m in corp["members"]:
            vis = "" if m["visible"] else "  (outside the visible range)"
            lines.append(f"     member {m['name']} userid={m['userid']} open_userid={m['open_userid']}{vis}")
    if c.get("allow_local_redirects"):
        lines += ["", "allow_local_redirects: on — IP / port trusted domains are accepted here; real WeCom "
                      "refuses them (80001)"]
    lines += ["", "Serving until Ctrl-C."]
    print("\n".join(lines), flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        fake = FakeWeCom(
            app_type=args.app_type,
            trusted_domain=args.trusted_domain,
            web_login_domain=args.web_login_domain,
            allow_local_redirects=args.allow_local_redirects,
            encrypted_ids=not args.plaintext_ids,
            seed=args.seed,
        )
    except DomainSettingError as exc:
        print(f"{exc}", file=sys.stderr)
        return 2
    try:
        fake.start(args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(fake.credentials(), ensure_ascii=False), flush=True)
    else:
        _print_text(fake)
    stop = threading.Event()
    if args.push_ticket_to:
        def pusher() -> None:
            while not stop.is_set():
                try:
                    result = fake.push_suite_ticket(args.push_ticket_to)
                    print(f"suite_ticket pushed to {args.push_ticket_to}: HTTP {result.status_code} "
                          f"{result.text[:40]!r}", flush=True)
                except Exception as exc:  # noqa: BLE001 - keep pushing, like WeCom
                    print(f"suite_ticket push to {args.push_ticket_to} failed: {exc.__class__.__name__}",
                          flush=True)
                stop.wait(args.ticket_interval)

        threading.Thread(target=pusher, name="suite-ticket-pusher", daemon=True).start()
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        print("stopping FakeWeCom", flush=True)
    finally:
        stop.set()
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
