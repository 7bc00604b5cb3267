"""Packaging for flask-wecom: ``pip install .`` / ``pip install -e '.[test]'``.

Build-system and tool settings (ruff, pytest) live in pyproject.toml.
"""

from __future__ import annotations

import os

from setuptools import find_packages, setup

HERE = os.path.abspath(os.path.dirname(__file__))
VERSION = "0.1.0"

#: folders whose whole tree ships with the package that holds them (Jinja templates, CSS, images)
DATA_DIRS = ("templates", "static")


def read(name: str) -> str:
    with open(os.path.join(HERE, name), encoding="utf-8") as fh:
        return fh.read()


def package_data(packages: list[str]) -> dict[str, list[str]]:
    """``py.typed`` plus every file under a ``templates/`` or ``static/`` folder of any package.

    Walking the tree here (rather than a ``**`` glob) works with every setuptools >= 61 and picks up
    templates that later features add without touching this file.
    """
    data: dict[str, list[str]] = {"flask_wecom": ["py.typed"]}
    for package in packages:
        package_dir = os.path.join(HERE, *package.split("."))
        for folder in DATA_DIRS:
            top = os.path.join(package_dir, folder)
            for dirpath, dirnames, filenames in os.walk(top):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                for filename in sorted(filenames):
                    if filename.endswith((".pyc", ".pyo")):
                        continue
                    path = os.path.relpath(os.path.join(dirpath, filename), package_dir)
                    data.setdefault(package, []).append(path.replace(os.sep, "/"))
    return data


PACKAGES = find_packages(where=HERE, include=["flask_wecom", "flask_wecom.*"])

setup(
    name="flask-wecom",
    version=VERSION,
    description="WeCom (企业微信) login and the 代开发 (customized app) provider flow for Flask",
    long_description=read("README.rst"),
    long_description_content_type="text/x-rst",
    author="flask-wecom contributors",
    license="MIT",
    license_files=["LICENSE"],
    python_requires=">=3.9",
    packages=PACKAGES,
    package_data=package_data(PACKAGES),
    include_package_data=False,
    zip_safe=False,
    install_requires=[
        "flask>=2.3",
        "authlib>=1.6",  # the OIDC hub (flask_wecom/hub) is tested with 1.6 (Python 3.9) and 1.9
        "requests>=2.28",
        "urllib3>=1.26",
        "pycryptodome>=3.15",  # WXBizMsgCrypt (AES-256-CBC) of callbacks
        # AES-GCM of secrets at rest (secretbox) and the hub's RS256 keys; Authlib needs it anyway
        "cryptography>=3.4",
        "flask-caching>=2.0",
        "sqlalchemy>=2.0",  # 2.0-style connections (commit/rollback) in the store and its schema upgrades
        # versioned store schema (flask_wecom/migrations), upgraded by one process at a time
        "alembic>=1.10",
        "blinker>=1.6",
    ],
    extras_require={
        "redis": ["redis>=4"],
        "postgres": ["psycopg2-binary>=2.9"],
        "mysql": ["pymysql>=1.0"],
        "dotenv": ["python-dotenv"],
        "flask-login": ["flask-login>=0.6"],
        "test": [
            "pytest>=7",
            "pytest-timeout",
            # `coverage run -m pytest` (README, "Running our tests"); branch settings in pyproject.toml
            "coverage[toml]>=7",
            "hypothesis",
            # tests/test_xmlutil.py compares the expat parser with the defusedxml one it replaced
            "defusedxml>=0.7",
            "cryptography",
            "redis>=4",
            "psycopg2-binary>=2.9",
            "pymysql>=1.0",
            "playwright",
            "python-dotenv",
            "flask-login",
            # tests/test_production.py serves the deploy/ recipe with 4 workers (23.x is the last for 3.9)
            "gunicorn>=21.2",
            "ruff",
            # .ci/run type-checks the package; tests/test_typing.py runs mypy as a user's project would
            "mypy",
            "types-requests",
            # lets tests/test_packaging.py build a wheel without fetching build tools
            "setuptools>=61",
            "wheel",
        ],
        "docs": ["sphinx"],
        # the peers bench/ measures against (wechatpy for crypto, Flask-Login for start-up)
        "bench": ["wechatpy>=1.8", "flask-login>=0.6"],
    },
    entry_points={
        # the `fake_wecom` fixture for any project that installs flask-wecom
        "pytest11": ["flask_wecom = flask_wecom.testing.pytest_plugin"],
    },
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Environment :: Web Environment",
        "Framework :: Flask",
        "Framework :: Pytest",
        "Intended Audience :: Developers",
        "Natural Language :: Chinese (Simplified)",
        "Natural Language :: English",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Internet :: WWW/HTTP :: Dynamic Content",
        "Topic :: Internet :: WWW/HTTP :: WSGI :: Application",
        "Typing :: Typed",
    ],
    keywords="flask wecom wechat-work 企业微信 代开发 oauth login",
)
