"""Packaging and docs stay true: README covers every setting, the two Quick start commands exist and
run, the pytest plugin is declared, and a wheel carries py.typed and the templates."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

from flask_wecom.config import SETTINGS
from flask_wecom.schema import HEAD

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text(encoding="utf-8")
PLUGIN_ENTRY = "flask_wecom = flask_wecom.testing.pytest_plugin"
#: settings of our own test suite (tests/conftest.py), documented in README but not extension config
TEST_ONLY_PREFIX = "WECOM_TEST_"


def _section(text: str, title: str) -> str:
    """The body of an RST section, up to the next heading of any level."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == title and re.fullmatch(r"([=\-~^*+#])\1{2,}", lines[i + 1].strip()):
            body: List[str] = []
            for j in range(i + 2, len(lines)):
                nxt = lines[j + 1].strip() if j + 1 < len(lines) else ""
                if (
                    lines[j].strip()
                    and re.fullmatch(r"([=\-~^*+#])\1{2,}", nxt)
                    and len(nxt) >= len(lines[j].strip())
                ):
                    break
                body.append(lines[j])
            return "\n".join(body)
    raise AssertionError(f"README.rst has no section titled {title!r}")


def _suggest_rows(keys: List[str]) -> str:
    rows = []
    for key in keys:
        default, meaning = SETTINGS[key]
        shown = "*(unset)*" if default is None else f"``{default!r}``"
        rows.append(f"   * - ``{key}``\n     - {shown}\n     - {meaning}")
    return "\n".join(rows)


def test_readme_documents_every_setting() -> None:
    missing = [key for key in SETTINGS if f"``{key}``" not in README]
    assert not missing, (
        "README.rst's configuration table lacks these flask_wecom.config.SETTINGS keys; add rows like:\n"
        + _suggest_rows(missing)
    )


def test_readme_mentions_no_unknown_setting() -> None:
    mentioned: Set[str] = set(re.findall(r"\bWECOM_[A-Z0-9_]*[A-Z0-9]\b", README))
    unknown = sorted(k for k in mentioned - set(SETTINGS) if not k.startswith(TEST_ONLY_PREFIX))
    assert not unknown, f"README.rst names settings that flask_wecom.config.SETTINGS does not have: {unknown}"


def test_readme_quick_start_has_exactly_the_two_commands() -> None:
    body = _section(README, "Quick start")
    commands = [
        line.strip()[2:].split("#")[0].strip() for line in body.splitlines() if line.strip().startswith("$ ")
    ]
    assert commands == ["bash demo/run", "bash .ci/run"]
    assert "http://127.0.0.1:5000" in body


@pytest.mark.parametrize("script", [".ci/run", "demo/run"])
def test_run_scripts_are_executable_bash(script: str) -> None:
    path = ROOT / script
    assert path.is_file(), f"{script} is missing"
    assert os.access(path, os.X_OK), f"{script} is not executable (chmod +x {script})"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    subprocess.run([bash, "-n", str(path)], check=True, timeout=30)


def test_demo_run_starts_the_demo_app_on_port_5000() -> None:
    text = (ROOT / "demo" / "run").read_text(encoding="utf-8")
    assert "--app demo.app run --host 127.0.0.1 --port" in text
    assert "${PORT:-5000}" in text


def test_ci_run_runs_the_readme_test_command() -> None:
    section = _section(README, "Running our tests")
    assert "python -m pytest" in section and "coverage run -m pytest" in section
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # run_tests(): the README's command (under `coverage run` for the first interpreter), with any extra args
    assert "runner=(-m pytest)" in script and "runner=(-m coverage run -m pytest)" in script
    assert '"$python" "${runner[@]}" "$@"' in script
    assert 'run_tests "$PY" coverage "$@"' in script  # … in the venv it just installed
    assert "t + 0 >= 95" in script  # and the coverage floor of the doctor, oauth and callback
    assert 'exit "$rc"' in script  # and its status is the script's


def test_setup_py_declares_the_pytest_plugin() -> None:
    assert f'"{PLUGIN_ENTRY}"' in (ROOT / "setup.py").read_text(encoding="utf-8")


def test_installed_distribution_has_the_pytest_plugin_entry_point() -> None:
    from importlib import metadata

    try:
        dist = metadata.distribution("flask-wecom")
    except metadata.PackageNotFoundError:
        pytest.skip("flask-wecom is not installed in this environment (pip install -e '.[test]')")
    plugins = {ep.name: ep.value for ep in dist.entry_points if ep.group == "pytest11"}
    assert plugins.get("flask_wecom") == "flask_wecom.testing.pytest_plugin", (
        "installed metadata is stale or wrong; reinstall with pip install -e '.[test]'"
    )


def test_version_is_in_the_changelog() -> None:
    version = re.search(r'^VERSION = "([^"]+)"', (ROOT / "setup.py").read_text(encoding="utf-8"), re.M)
    assert version, "setup.py has no VERSION"
    assert version.group(1) in (ROOT / "CHANGELOG.rst").read_text(encoding="utf-8")


def _copy_source(dst: Path) -> None:
    """A clean copy of the working tree, as a fresh clone would have it (no venv, builds, caches)."""
    ignore = shutil.ignore_patterns(
        ".git",
        ".venv",
        "venv",
        "build",
        "dist",
        "*.egg-info",
        "__pycache__",
        "*.pyc",
        ".pytest_cache",
        ".hypothesis",
        ".ruff_cache",
        "instance",
        "artifacts",
        ".env",
    )
    shutil.copytree(ROOT, dst, ignore=ignore)


def _can_build_offline() -> bool:
    """setuptools + wheel (the [test] extra installs both) let pip build without fetching anything."""
    try:
        import setuptools  # noqa: F401
        import wheel  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip wheel`` builds from a clean copy of the tree (built once for this module)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    src = tmp_path / "src"
    _copy_source(src)
    out = tmp_path / "wheelhouse"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--disable-pip-version-check",
        "-q",
        "-w",
        str(out),
    ]
    if _can_build_offline():
        cmd.append("--no-build-isolation")
    cmd.append(str(src))
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"pip wheel failed:\n{result.stdout}\n{result.stderr}"
    wheels = list(out.glob("flask_wecom-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, got {[w.name for w in out.iterdir()]}"
    return wheels[0]


def test_wheel_ships_package_data(built_wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(built_wheel) as whl:
        names = set(whl.namelist())
        entry_points = next(
            (whl.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt")), ""
        )
        metadata_text = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))

    assert "flask_wecom/py.typed" in names
    assert "flask_wecom/config.py" in names
    # the doctor is a package: every module of it ships
    doctor = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "flask_wecom/doctor").glob("*.py"))
    assert "flask_wecom/doctor/__init__.py" in doctor and not [n for n in doctor if n not in names]
    # the store's Alembic migrations: env.py and every revision (schema.py runs them from the package)
    revisions = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "flask_wecom/migrations/versions").glob("*.py"))
    assert len(revisions) >= 3  # __init__.py, wecom_0001, wecom_0002 …
    missing_migrations = [n for n in ["flask_wecom/migrations/env.py", *revisions] if n not in names]
    assert not missing_migrations, f"migrations missing from the wheel: {missing_migrations}"
    # … and the installed wheel runs them: an empty SQLite database upgraded by the copy in site-packages
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check",
                    "-q", "--target", str(site), str(built_wheel)], check=True, capture_output=True, timeout=300)
    upgrade = ("import sys, sqlalchemy as sa; from flask_wecom import schema; "
               "assert schema.__file__.startswith(sys.argv[1]), schema.__file__; "
               "engine = sa.create_engine(sys.argv[2]); "
               "print(schema.upgrade(engine), schema.current_status(engine).current)")
    result = subprocess.run([sys.executable, "-c", upgrade, str(site), f"sqlite:///{tmp_path / 'w.sqlite3'}"],
                            capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
                            env=dict(os.environ, PYTHONPATH=str(site)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["empty", HEAD]
    assert not any(n.startswith(("tests/", "demo/")) for n in names), "tests/ or demo/ leaked into the wheel"
    assert "[pytest11]" in entry_points and PLUGIN_ENTRY in entry_points
    assert "Requires-Python: >=3.9" in metadata_text
    assert "Quick start" in metadata_text, "long description (README.rst) missing from the metadata"

    # every template / static file in the source tree, at whatever package depth, is in the wheel
    package = ROOT / "flask_wecom"
    expected = sorted(
        path.relative_to(ROOT).as_posix()
        for folder in ("templates", "static")
        for top in package.rglob(folder)
        if top.is_dir() and "__pycache__" not in top.parts
        for path in top.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")
    )
    missing = [name for name in expected if name not in names]
    assert not missing, f"package data missing from the wheel: {missing}"


# -- the README's "Testing your app", run as a user would ------------------------------------------------


def _python_blocks(body: str) -> List[str]:
    """The ``.. code-block:: python`` blocks of an RST body, dedented."""
    blocks: List[str] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == ".. code-block:: python":
            block: List[str] = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith("   ")):
                block.append(lines[i][3:])
                i += 1
            blocks.append("\n".join(block).strip("\n") + "\n")
        else:
            i += 1
    return blocks


def _write_readme_tests(folder: Path) -> Path:
    """The README's "Testing your app" code, as a user pastes it into their project's tests folder."""
    blocks = _python_blocks(_section(README, "Testing your app"))
    assert len(blocks) >= 2 and "def test_first_login(fake_wecom, tmp_path):" in blocks[0]
    tests = folder / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    path = tests / "test_readme.py"
    path.write_text("\n\n".join(blocks), encoding="utf-8")
    return path


def _run_pytest(python: str, folder: Path, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    # -p no:cacheprovider: nothing written into the project
    return subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", "tests"], cwd=folder,
                          capture_output=True, text=True, timeout=300, env=env)


def test_readme_testing_section_runs(tmp_path: Path) -> None:
    """Every code block of "Testing your app" runs and passes with pytest in a project of its own: the
    section cannot drift from the code."""
    project = tmp_path / "project"
    path = _write_readme_tests(project)
    result = _run_pytest(sys.executable, project)
    assert result.returncode == 0, f"{path.read_text()}\n{result.stdout}\n{result.stderr}"
    tests = re.findall(r"^def (test_\w+)", path.read_text(encoding="utf-8"), re.M)
    passed = re.findall(r"^PASSED \S+::(test_\w+)", result.stdout, re.M)
    assert sorted(passed) == sorted(tests) and len(tests) >= 3, result.stdout
    assert not (project / "instance").exists(), "flask_config(tmp_path) left a store in the project folder"


def _deps_only(dst: Path) -> Path:
    """A folder of links to this environment's installed packages, flask-wecom itself left out: the
    dependencies a fresh virtualenv would download, without the network."""
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    dst.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(("flask_wecom", "__editable__", "flask-wecom")) or name.endswith(".pth"):
            continue
        (dst / entry.name).symlink_to(entry)
    return dst


def test_readme_testing_section_in_a_fresh_virtualenv(built_wheel: Path, tmp_path: Path) -> None:
    """The first-login test from the README alone, in a new virtualenv with the wheel installed (not the
    source tree), in a folder of its own, run twice there."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    (Path(purelib) / "_dependencies.pth").write_text(str(_deps_only(tmp_path / "deps")) + "\n", encoding="utf-8")
    # the venv has no pip (--without-pip, fast): this environment's pip installs the wheel into its site-packages
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                              "--disable-pip-version-check", "--target", purelib, str(built_wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, f"{install.stdout}\n{install.stderr}"

    project = tmp_path / "project"
    _write_readme_tests(project)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    where = subprocess.run([python, "-c", "import flask_wecom; print(flask_wecom.__file__)"], cwd=project,
                           check=True, capture_output=True, text=True, timeout=60, env=env).stdout.strip()
    assert where.startswith(purelib), f"flask_wecom imported from {where}, not from the fresh virtualenv"
    for _ in range(2):  # twice in one folder: nothing of the first run gets in the way of the second
        result = _run_pytest(python, project, env)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        assert "test_first_login PASSED" in result.stdout or "::test_first_login" in result.stdout, result.stdout


def test_ci_font_check_has_no_false_negative(tmp_path: Path) -> None:
    """.ci/run's CJK-font check, run with an fc-list that lists the font first among many: under pipefail a
    piped `fc-list | grep -q` fails (grep stops early, fc-list dies of SIGPIPE); the check must not."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    start = script.index("FONTS=$(fc-list")
    check = script[start:script.index("\nfi\n", start) + 4]
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "fc-list").write_text("#!/usr/bin/env bash\necho '/usr/share/fonts/wqy-microhei.ttc: WenQuanYi'\n"
                                  "for i in $(seq 1 200000); do echo \"/usr/share/fonts/other$i.ttf: Other\"; done\n")
    (stub / "fc-list").chmod(0o755)
    env = dict(os.environ, PATH=f"{stub}:{os.environ['PATH']}")
    program = f"set -euo pipefail\napt_install() {{ echo INSTALL \"$@\"; }}\n{check}echo checked\n"
    result = subprocess.run([bash, "-c", program], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0 and result.stdout.split() == ["checked"], (result.stdout, result.stderr)
    # the old form, for the record: the same fc-list makes it report "no font"
    old = 'set -euo pipefail\nif ! fc-list 2>/dev/null | grep -qiE "wqy|noto.*cjk"; then echo INSTALL; fi\n'
    assert "INSTALL" in subprocess.run([bash, "-c", old], capture_output=True, text=True, timeout=120, env=env).stdout
