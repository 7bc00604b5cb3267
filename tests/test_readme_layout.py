"""README's "How the code is laid out" names every module of the package, and only modules that exist (issue 11)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def layout_section() -> str:
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    start = text.index("How the code is laid out\n")
    end = text.index("\nSecurity\n", start)
    return text[start:end]


def test_the_layout_names_every_module():
    named = set(re.findall(r"``([\w/]+\.py)``", layout_section()))
    names = {name.rsplit("/", 1)[-1] for name in named}
    missing = []
    for path in sorted((ROOT / "flask_wecom").rglob("*.py")):
        rel = path.relative_to(ROOT / "flask_wecom")
        if rel.parts[0] == "migrations" and rel.name != "env.py":
            continue  # the revisions are named as a folder; migrations/__init__.py is empty
        if str(rel) == "__init__.py":
            continue  # the package itself
        if path.name not in names and str(rel) not in named:
            missing.append(str(rel))
    assert not missing, f"README's layout section does not name: {missing}"


def test_the_layout_names_no_module_that_is_gone():
    modules = {p.name for p in (ROOT / "flask_wecom").rglob("*.py")} | {p.name for p in (ROOT / "tests").glob("*.py")}
    gone = sorted(name for name in re.findall(r"``([\w/]+\.py)``", layout_section())
                  if name.rsplit("/", 1)[-1] not in modules)
    assert not gone, f"README's layout section names modules that do not exist: {gone}"
