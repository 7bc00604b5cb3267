"""The error-code table: coverage of the documented codes (titles from developer.work.weixin.qq.com/document/
path/90313; docs/wecom-reference.rst, "Documented error codes"), hints, the 60020 IP parser."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from flask_wecom import errcodes
from flask_wecom.errcodes import ERRORS, ErrorInfo, hint, lookup, parse_from_ip

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "wecom-reference.rst"

# the codes of a login and a 代开发 provider (global error-code page, document 90313): a floor the
# reference's table may grow beyond, never shrink below
SECTION_7_CODES = {
    -1, 0, 40001, 40003, 40013, 40014, 40029, 40056, 40057, 40058, 40078, 40080, 40082, 40083, 40084,
    40085, 40091, 40125, 41001, 41008, 41021, 41022, 41023, 41025, 42001, 42007, 42009, 42012, 42022,
    43004, 45009, 45033, 48002, 48003, 48004, 48005, 48006, 50001, 50002, 50003, 60011, 60020, 60021,
    60111, 80001, 84014, 84015, 84025, 84085, 84090, 85004, 85005, 90302, 92000, 92001, 301002, 40102,
    670001, 710000,
}
CRYPTO_CODES = set(range(-40011, -40000))

ERRMSG_60020 = (
    "not allow to access from your ip, hint: [1669871234_44_7b2e5a3c1d], from ip: 203.0.113.7, "
    "more info at https://open.work.weixin.qq.com/devtool/query?e=60020"
)


def test_table_covers_section_7_and_crypto_codes():
    missing = (SECTION_7_CODES | CRYPTO_CODES) - set(ERRORS)
    assert not missing


def _documented_codes() -> dict:
    """code -> official title, from the table between the markers in docs/wecom-reference.rst."""
    text = REFERENCE.read_text(encoding="utf-8")
    table = text[text.index(".. error-code-table-start"):text.index(".. error-code-table-end")]
    rows = re.findall(r"^   \* - ``(-?\d+)``\n     - (.+)$", table, flags=re.MULTILINE)
    assert rows, "no rows found in the reference's error-code table"
    codes = [int(code) for code, _title in rows]
    assert len(codes) == len(set(codes)), "a code is listed twice"
    return {int(code): title.strip() for code, title in rows}


def test_reference_documents_every_code_of_the_table_and_no_other():
    documented = _documented_codes()
    assert SECTION_7_CODES | CRYPTO_CODES <= set(documented)
    assert not set(documented) - set(ERRORS), "documented but missing from flask_wecom/errcodes.py"
    assert not set(ERRORS) - set(documented), "add a row to docs/wecom-reference.rst, 'Documented error codes'"


def test_reference_titles_match_the_table():
    mismatched = {code: (title, ERRORS[code].zh) for code, title in _documented_codes().items()
                  if code in ERRORS and ERRORS[code].zh != title}
    assert not mismatched


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_every_entry_is_bilingual_and_has_a_fix(code):
    info = ERRORS[code]
    assert isinstance(info, ErrorInfo) and info.code == code
    for text in (info.zh, info.en, info.fix_zh, info.fix_en):
        assert text.strip() and text.strip() not in {"-", "—"}
    assert re.search(r"[\u4e00-\u9fff]", info.zh + info.fix_zh), "Chinese text expected"
    assert re.search(r"[A-Za-z]{3,}", info.en) and re.search(r"[A-Za-z]{3,}", info.fix_en)


def test_error_info_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ERRORS[40014].zh = "x"  # type: ignore[misc]


def test_lookup():
    assert lookup(40014).zh == "不合法的access_token"
    assert lookup(-40001).zh == "签名验证错误"
    assert lookup("42001").code == 42001
    assert lookup(123456789) is None
    assert lookup(None) is None  # type: ignore[arg-type]


def test_hint_is_meaning_then_fix_in_both_languages():
    text = hint(50001)
    info = ERRORS[50001]
    assert text.startswith(f"{info.zh} / {info.en} — ")
    assert info.fix_zh in text and info.fix_en in text
    assert "完全匹配" in text and "port" in text


def test_hint_for_busy_and_rate_limit_mentions_retry_rules():
    assert "3" in hint(-1)
    assert errcodes.UNBLOCK_URL in hint(45009)


@pytest.mark.parametrize(
    "errmsg, ip",
    [
        (ERRMSG_60020, "203.0.113.7"),
        ("not allow to access from your ip, from ip: 1.2.3.4, more info at https://x", "1.2.3.4"),
        ("from ip:10.0.0.1", "10.0.0.1"),
        ("blah From IP: 2001:db8::1, more info", "2001:db8::1"),
        ("from ip: 999.1.1.1, more", None),
        ("no address here", None),
        ("", None),
    ],
)
def test_parse_from_ip(errmsg, ip):
    assert parse_from_ip(errmsg) == ip


def test_60020_hint_names_the_ip_and_both_whitelists():
    text = hint(60020, ERRMSG_60020)
    assert "add 203.0.113.7 to the whitelist" in text
    assert "203.0.113.7" in text.split(" / ")[0] or "IP 203.0.113.7" in text
    assert "企业可信IP" in text  # 自建
    assert "服务商信息 → 基本信息 → IP白名单" in text  # 代开发 / 第三方 (the console path as every text writes it)
    assert "1 minute" in text and "1分钟" in text


def test_60020_hint_without_ip_still_says_what_to_do():
    text = hint(60020, "not allow to access from your ip")
    assert "this server's egress IP" in text and "IP白名单" in text


@pytest.mark.parametrize("code", [None, "x", float("inf"), float("nan")])
def test_lookup_and_hint_take_anything(code):
    assert lookup(code) is None
    assert "unknown error code" in hint(code)


def test_unknown_code_points_at_the_official_lookup():
    text = hint(987654)
    assert "https://open.work.weixin.qq.com/devtool/query?e=987654" in text
    assert "987654" in text
