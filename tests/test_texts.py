"""Each text once (issue 11, item 6): the login-failure reasons and the console locations / fixes live in one
registry each (flask_wecom/reasons.py, flask_wecom/console.py), and the login page, the doctor and the errcode
hint say the same words for the same problem — checked against the simulator over real HTTP, not by reading
the registry back."""
from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from login_support import WXWORK_UA, confirm, make_app, start_login

from flask_wecom import console, errcodes, errors, oauth, reasons
from flask_wecom.doctor_flask import run_doctor

PACKAGE = Path(__file__).resolve().parent.parent / "flask_wecom"


def test_every_reason_has_one_record_and_its_errcodes_are_documented():
    assert oauth.REASONS == reasons.REASONS == tuple(reasons.RECORDS)
    claimed = {}
    for record in reasons.RECORDS.values():
        assert record.title[0] and record.title[1] and record.what[1] and record.fix[1], record.name
        assert 400 <= record.status < 600
        for code in record.errcodes:
            assert code not in claimed, (code, claimed.get(code), record.name)  # one reason per errcode
            claimed[code] = record.name
            assert errcodes.lookup(code) is not None, code  # the page can show the code's meaning
            assert oauth.reason_for_errcode(code) == record.name
            failure = oauth.failure_from_error(errors.WeComAPIError(code, "x"), "gettoken")
            assert failure.reason == record.name and failure.record is record
    assert oauth.reason_for_errcode(45009) == "api_error" and reasons.get("no-such-reason").name == "api_error"
    # a failure that passes by itself answers 503 with Retry-After; an app's own refusal offers no retry
    assert reasons.RETRY_AFTER == {"store_unavailable": 30, "unreachable": 30}
    assert all(reasons.RECORDS[name].status == 503 for name in reasons.RETRY_AFTER)
    assert not reasons.RECORDS["refused"].retry and reasons.RECORDS["secret_rejected"].own_fix


def test_the_other_pages_texts_are_records_too():
    """The OIDC hub's refusals and the install pages: bilingual, with a status, and apart from the login reasons."""
    assert not set(reasons.PAGES) & set(reasons.RECORDS)
    for name, record in reasons.PAGES.items():
        assert name.startswith(("hub_", "install_")), name
        assert all(record.title) and all(record.what) and 400 <= record.status < 600, name
        assert bool(record.fix[0]) == bool(record.fix[1]), name
    from flask_wecom.hub.views import HUB_ERRORS

    assert set(HUB_ERRORS) == {"unknown_client", "redirect_uri_mismatch", "logout_uri_mismatch", "request_too_long"}
    assert HUB_ERRORS["unknown_client"][:3] == (400, "未知的应用", "Unknown application")


def test_the_no_suite_ticket_exception_says_what_its_page_says():
    record = reasons.RECORDS["no_suite_ticket"]
    message = errors.NoSuiteTicketError().message
    for text in (*record.title, *record.what, *record.fix):
        assert text in message
    assert "刷新Ticket" in message and console.REFRESH_TICKET[1] in message


def _page_fix(app):
    """The 60020 login page's fix, as JSON (the HTML page shows the same fields)."""
    client = app.test_client()
    answer = confirm(start_login(client, ua=WXWORK_UA).location)
    location = urlsplit(answer.headers["Location"])
    html_page = client.get(f"{location.path}?{location.query}").get_data(as_text=True)
    answer = confirm(start_login(client, ua=WXWORK_UA).location)
    location = urlsplit(answer.headers["Location"])
    body = client.get(f"{location.path}?{location.query}", headers={"Accept": "application/json"}).json
    assert body["error"] == "ip_not_whitelisted" and body["errcode"] == 60020, body
    return body, html.unescape(html_page)


@pytest.mark.parametrize("mode", ["internal", "customized"])
def test_60020_reads_the_same_on_the_page_in_the_doctor_and_in_the_errcode_hint(fake_wecom, tmp_path, mode):
    """The simulator refuses the server's IP (60020, "from ip: 127.0.0.1"): the login page, the doctor's
    corp_token row and the errcode hint all send the operator to the same whitelist in the same words."""
    app = make_app(fake_wecom, tmp_path, mode=mode)
    if mode == "internal":
        fake_wecom.corp.ip_whitelist = ["203.0.113.10"]
    else:
        fake_wecom.provider.ip_whitelist = ["203.0.113.10"]
    zh, en = console.whitelist_fix(mode, "127.0.0.1")
    place_zh, place_en = console.CORP_TRUSTED_IP if mode == "internal" else console.PROVIDER_WHITELIST

    body, page = _page_fix(app)
    assert (body["fix_zh"], body["fix_en"]) == console.sentence((zh, en))
    assert body["fix_zh"] in page and body["fix_en"] in page
    assert body.get("errcode_fix_zh") is None  # the reason's own fix explains 60020: not said twice

    rows = [r for r in run_doctor(app) if r.id == "corp_token"]
    assert rows and rows[0].status == "fail", [(r.status, r.finding) for r in rows]
    assert rows[0].fix == f"{zh} / {en}"

    errmsg = "not allow to access from your ip, from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com"
    hint = errcodes.hint(60020, errmsg)
    both_zh, both_en = console.whitelist_fix(None, "127.0.0.1")  # the hint does not know the app type
    assert both_zh in hint and both_en in hint and place_zh in hint and place_en in hint
    assert place_zh in body["fix_zh"] and place_en in body["fix_en"]  # … the same place the page names


#: console words that must be written in console.py only (the simulator in testing/ may describe WeCom itself)
_ONCE = [console.PROVIDER_WHITELIST[0], console.CORP_TRUSTED_IP[0], console.REFRESH_TICKET[0],
         console.REENABLE[0], console.VISIBLE_RANGE_PLACE[0], console.LOGIN_SUITE[0], console.PROVIDER_CORP_ID[0],
         console.CUSTOMIZED_APP[0], console.LICENCES[0], "服务商信息 → 基本信息", "服务商信息-基本信息", "企业可信IP",
         "网页授权及JS-SDK", "设置授权回调域」"]


def test_console_places_are_written_in_console_py_only():
    offenders = []
    for path in sorted([*PACKAGE.rglob("*"), *(PACKAGE.parent / "demo").rglob("*")]):
        if path.suffix not in (".py", ".html") or "testing" in path.parts or path.name == "console.py":
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [(str(path.relative_to(PACKAGE.parent)), words) for words in _ONCE if words in text]
    assert not offenders, offenders


def test_reason_texts_are_written_in_reasons_py_only():
    """No second table of page texts: what happened and the fix of each reason (Chinese and English, without
    their templates) are written in reasons.py and nowhere else; other pages read the records."""
    records = [*reasons.RECORDS.values(), *reasons.PAGES.values()]  # the login's, the hub's and the install's
    texts = [part for record in records for text in (*record.what, *record.fix)
             for part in re.split(r"\{[a-z_]+\}", text) if len(part) >= 12]
    offenders = []
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix not in (".py", ".html") or path.name in ("reasons.py", "console.py") or "testing" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [(path.name, t) for t in texts if t in text]
    assert not offenders, offenders


def test_40001_reads_the_same_on_the_page_in_the_doctor_and_in_the_errcode_fix(fake_wecom, tmp_path):
    """A wrong secret (gettoken 40001, doc 90313: a wrong or reset secret, or a disabled app): the page, the
    doctor's corp_token row and the errcode's own fix give the two causes, how to tell them apart and the
    warning against retrying in the same words, each with the self-built app's secret fix."""
    app = make_app(fake_wecom, tmp_path, WECOM_SECRET="not-the-right-secret")
    secret_zh, secret_en = console.secret_fix("internal", True)
    client = app.test_client()
    location = urlsplit(confirm(start_login(client, ua=WXWORK_UA).location).headers["Location"])
    body = client.get(f"{location.path}?{location.query}", headers={"Accept": "application/json"}).json
    assert body["error"] == "secret_rejected" and body["errcode"] == 40001, body
    page_zh, page_en = console.tell_40001_apart((secret_zh + "。", secret_en + "."))
    assert page_zh in body["fix_zh"] and page_en in body["fix_en"]

    rows = [r for r in run_doctor(app) if r.id == "corp_token"]
    assert rows and rows[0].status == "fail" and "40001" in rows[0].finding, [(r.status, r.finding) for r in rows]
    apart_zh, apart_en = console.tell_40001_apart((secret_zh, secret_en))
    for words in (*console.TWO_CAUSES_40001, apart_zh, apart_en[1:], console.NO_RETRY_40001[0],
                  console.NO_RETRY_40001[1][1:]):
        assert words in rows[0].fix, words

    info = errcodes.lookup(40001)
    assert info is not None
    for words in (console.TWO_CAUSES_40001[0], console.NO_RETRY_40001[0], secret_zh):
        assert words in info.fix_zh
    for words in (console.TWO_CAUSES_40001[1], secret_en):
        assert words in info.fix_en
    assert "not-the-right-secret" not in str(body) + rows[0].fix
