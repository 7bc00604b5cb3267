"""No text a user or operator sees cites the team's internal notes (issue 9, item 6).

Pages, CLI output, doctor rows, exception and log messages, the simulator's pages: they cite official
documents (developer.work.weixin.qq.com/document/path/N) or say it plainly — never "§4.3",
"wecom-api" or "UNCONFIRMED". Code comments and docstrings are for developers and are not scanned
(except the docstrings click shows as CLI help).

And nothing in the repository points outside it: the WeCom facts the code relies on live in
docs/wecom-reference.rst, so no file names the team's old notes file or the folder next to the repository
that held it.
"""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
from doctor_support import make_app as make_doctor_app
from flask import render_template
from provider_app import make_app

from flask_wecom import errcodes, oauth, views
from flask_wecom.doctor_flask import run_doctor
from flask_wecom.testing import FakeWeCom
from flask_wecom.testing.model import AuthorizeError

ROOT = Path(__file__).resolve().parents[1]
MARKERS = re.compile(r"§|wecom-api|UNCONFIRMED")
#: modules whose docstrings are user-visible (click turns command docstrings into --help)
CLI_MODULES = {"flask_wecom/cli.py", "flask_wecom/testing/__main__.py"}
#: the old notes file, its folder next to the repository (written so this file does not match itself)
OUTSIDE_POINTERS = re.compile(r"wecom-api[.]md|[.][.][/]shared\b|/work[/]shared\b")
#: 0.1.0's store, kept verbatim for the schema tests; its first lines say where the notes went
OUTSIDE_POINTERS_ALLOWED = {"tests/legacy_store_0_1_0.py"}
#: folders that are not the repository's content (VCS, virtualenvs, caches, build output)
NOT_CONTENT = {".git", ".venv", "venv", ".tox", ".nox", ".ruff_cache", ".mypy_cache", ".pytest_cache",
               ".hypothesis", "__pycache__", "node_modules", "build", "dist", "instance", "artifacts"}


def _python_files() -> List[Path]:
    files = sorted((ROOT / "flask_wecom").rglob("*.py")) + sorted((ROOT / "demo").rglob("*.py"))
    return [f for f in files if "migrations" not in f.parts]


def _docstring_ids(tree: ast.AST) -> set:
    """ids of the string constants that are bare expression statements (docstrings, attribute docs)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            found.add(id(node.value))
    return found


def _user_strings(path: Path) -> Iterator[Tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(ROOT).as_posix()
    skip = set() if rel in CLI_MODULES else _docstring_ids(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value


def test_the_scanner_sees_strings_and_skips_docstrings(tmp_path):
    sample = ROOT / "flask_wecom" / "errcodes.py"
    texts = [text for _line, text in _user_strings(sample)]
    assert errcodes.ERRORS[40013].fix_en in "".join(texts)  # a literal (40001's fix is composed from console.py)
    module_doc = ast.get_docstring(ast.parse(sample.read_text(encoding="utf-8")), clean=False)
    assert module_doc not in texts


def test_no_string_in_the_package_or_the_demo_cites_internal_notes():
    bad = [f"{path.relative_to(ROOT)}:{line}: {text[:120]!r}"
           for path in _python_files() for line, text in _user_strings(path) if MARKERS.search(text)]
    assert not bad, "\n".join(bad)


def test_no_template_cites_internal_notes():
    templates = sorted((ROOT / "flask_wecom" / "templates").rglob("*.html"))
    templates += sorted((ROOT / "demo" / "templates").rglob("*.html"))
    assert templates
    bad = [str(t.relative_to(ROOT)) for t in templates if MARKERS.search(t.read_text(encoding="utf-8"))]
    assert not bad


def test_errcode_table_cites_official_pages_only():
    for info in errcodes.ERRORS.values():
        for text in (info.zh, info.en, info.fix_zh, info.fix_en, errcodes.hint(info.code)):
            assert not MARKERS.search(text), (info.code, text)


@pytest.mark.parametrize("code, zh", [
    # titles as on developer.work.weixin.qq.com/document/path/90313 (checked against the go-workwx copy)
    (40001, "不合法的secret参数"),
    (43004, "指定的userid未绑定微信或未关注微信插件（原企业号）"),
    (48001, "API功能未授权"),
    (60020, "不安全的访问IP"),
    (301002, "无权限操作指定的应用"),
    (301058, "拉取会话数据请求超过大小限制，可减少limit参数"),
    (670001, "应用不在共享范围"),
    (701016, "账号未激活或者已经过期"),
    (710000, "非法的open_corpid"),
])
def test_official_titles(code, zh):
    assert errcodes.lookup(code).zh == zh


def test_40001_names_both_causes_and_how_to_tell_them_apart():
    info = errcodes.lookup(40001)
    assert "已停用" in info.fix_zh and "disabled" in info.fix_en  # 应用已经停用 …
    assert "重置" in info.fix_zh and "reset" in info.fix_en  # … or a reset secret
    assert "应用管理" in info.fix_zh and "permanent_code" in info.fix_en
    assert "一小时" in info.fix_zh and "hour" in info.fix_en  # repeated wrong secrets block the IP (45009 help)


@pytest.mark.parametrize("code", [301002, 670001])
def test_mismatch_and_sharing_scope_are_not_a_disabled_app(code):
    assert oauth.reason_for_errcode(code) != "app_unavailable"
    info = errcodes.lookup(code)
    assert "不是应用停用" in info.fix_zh and "not disabled" in info.fix_en


def test_simulator_refusals_cite_no_internal_notes():
    error = AuthorizeError(None, "login_type 参数错误", "invalid login_type", "x")
    assert not MARKERS.search(str(error))
    fake = FakeWeCom()
    with fake.model.lock:
        with pytest.raises(AuthorizeError) as info:
            fake.model.validate_login("wwlogin", {"login_type": "Nope", "appid": fake.corp.corp_id})
    assert not MARKERS.search(str(info.value)) and "98152" in str(info.value)


def test_every_login_failure_page_cites_no_internal_notes(tmp_path):
    fake = FakeWeCom()
    with fake.serve():
        app = make_app(fake, tmp_path)
        with app.test_request_context("/wecom/login"):
            for reason in oauth.REASONS:
                failure = oauth.LoginFailure(reason, errcode=40001 if reason == "secret_rejected" else None)
                details = views.describe_failure(failure)
                page = render_template("wecom/login_error.html", failure=details, retry_url=None)
                assert details["reason"] == reason
                assert not MARKERS.search(page), reason
                assert not MARKERS.search(" ".join(str(v) for v in details.values())), reason


def test_doctor_rows_cite_no_internal_notes(tmp_path):
    fake = FakeWeCom(trusted_domain="app.example.com")
    with fake.serve():
        app = make_doctor_app(fake, tmp_path)
        fake.corp.app_closed = True  # 40001 with both causes
        fake.provider.ip_whitelist = ["198.51.100.7"]  # 60020
        results = run_doctor(app)
    assert any(r.status == "fail" for r in results)
    for r in results:
        for text in (r.title, r.finding, r.fix, *r.details):
            assert not MARKERS.search(text), (r.id, text)


def _repository_texts() -> Iterator[Tuple[str, str]]:
    """(path relative to the repository, text) of every text file in it, binaries and caches skipped."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in NOT_CONTENT and not d.endswith(".egg-info"))
        for name in sorted(files):
            path = Path(folder) / name
            try:
                if path.stat().st_size > 2_000_000:
                    continue
                data = path.read_bytes()
            except OSError:  # a file another process removed meanwhile
                continue
            if b"\0" in data:
                continue
            yield path.relative_to(ROOT).as_posix(), data.decode("utf-8", errors="replace")


def test_the_pointer_pattern_sees_what_it_must():
    for text in ("see wecom-api" + ".md §4.3", "Path(...) / '.." + "/shared/x'", "open('/work" + "/shared/notes')"):
        assert OUTSIDE_POINTERS.search(text), text
    for text in ("docs/wecom-reference.rst, 'Receive ids'", "shared_cache", "a cache shared by workers"):
        assert not OUTSIDE_POINTERS.search(text), text


def test_no_file_points_outside_the_repository():
    """The repository works from a clean clone: no code, test or document refers to notes outside it."""
    seen = 0
    bad = []
    for rel, text in _repository_texts():
        seen += 1
        if rel in OUTSIDE_POINTERS_ALLOWED:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_POINTERS.search(line):
                bad.append(f"{rel}:{number}: {line.strip()[:120]}")
    assert seen > 50 and (ROOT / "docs" / "wecom-reference.rst").is_file()
    assert not bad, "cite developer.work.weixin.qq.com/document/path/N and docs/wecom-reference.rst:\n" + "\n".join(bad)


#: a citation of the reference by section title: docs/wecom-reference.rst, "Receive ids" (or two titles
#: joined by "to" / "and"; or "(see …)"); quotes may be single or double, the title may start a new line
REFERENCE_CITATION = re.compile(r"""wecom-reference\.rst(?:[,;]|\s+\(see)\s*["']([^"'\n]+)["']"""
                                r"""(?:\s+(?:to|and)\s+["']([^"'\n]+)["'])?""")


def _reference_titles() -> set:
    lines = (ROOT / "docs" / "wecom-reference.rst").read_text(encoding="utf-8").splitlines()
    return {text.strip() for text, under in zip(lines, lines[1:])
            if text.strip() and len(set(under)) == 1 and under[0] in "=-~^" and len(under) >= 3}


def test_citations_of_the_reference_name_its_sections():
    """A comment citing docs/wecom-reference.rst by section title names a title that exists, and so do
    the reference's own "see …" pointers: renaming a section breaks this test, not the trail."""
    titles = _reference_titles()
    assert {"Receive ids", "Documented error codes", "Unconfirmed points, in one list"} <= titles
    cited = []
    for rel, text in _repository_texts():
        if rel == "docs/wecom-reference.rst":
            cited += [(rel, title) for title in re.findall(r'see "([^"\n]+)"', text)]
        for match in REFERENCE_CITATION.finditer(text):
            cited += [(rel, title) for title in match.groups() if title]
    assert len(cited) > 10
    unknown = sorted({f"{rel}: {title!r}" for rel, title in cited if title not in titles})
    assert not unknown, "no such section in docs/wecom-reference.rst:\n" + "\n".join(unknown)
