"""The durable store's interface (flask_wecom/storage.py): what it names is what the package uses (issue 11)."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from flask_wecom.lazy_store import LazyStore
from flask_wecom.secretbox import SecretBox
from flask_wecom.storage import DurableStore
from flask_wecom.store import Store

ROOT = Path(__file__).resolve().parent.parent

#: what only the SQLAlchemy store offers, and who needs it (the interface's docstring says the same)
SQL_ONLY = {
    "engine": "flask wecom db, the store's health check, the hub's keys and tokens",
    "url": "flask wecom db upgrade --sql",
    "auto_upgrade": "flask wecom db current",
    "ensure_schema": "the store's own first use",
}
#: the modules that implement or wrap the store rather than use it
IMPLEMENTATIONS = {"flask_wecom/store.py", "flask_wecom/storage.py", "flask_wecom/lazy_store.py"}


def interface() -> set:
    return {name for name, _ in inspect.getmembers(DurableStore) if not name.startswith("_")}


def store_attributes_used() -> dict:
    """Every ``<...>.store.X`` / ``<...>._store.X`` / ``store.X`` the package reads, with where."""
    used: dict = {}
    for path in sorted((ROOT / "flask_wecom").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel in IMPLEMENTATIONS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value
            name = owner.attr if isinstance(owner, ast.Attribute) else owner.id if isinstance(owner, ast.Name) else ""
            if name in ("store", "_store"):
                used.setdefault(node.attr, []).append(f"{rel}:{node.lineno}")
    return used


def test_every_store_method_the_package_calls_is_in_the_interface():
    used = store_attributes_used()
    assert {"transaction", "first_seen", "save_corp", "lease_auth_code"} <= set(used)  # the scan sees calls
    missing = {name: where for name, where in used.items() if name not in interface() and name not in SQL_ONLY}
    assert not missing, f"store methods used but not in flask_wecom.storage.DurableStore: {missing}"


def test_the_interface_names_nothing_the_package_does_not_use():
    unused = interface() - set(store_attributes_used()) - {"closed", "recent_auth_codes", "dispose"}
    # closed/dispose: the sweeper and lazy store; recent_auth_codes: the demo and support tools
    assert not unused, f"DurableStore methods nothing calls: {sorted(unused)}"


def test_the_sql_store_and_the_lazy_one_are_durable_stores(tmp_path):
    box = SecretBox("k" * 32)
    store = Store("sqlite:///" + str(tmp_path / "s.sqlite3"), box)
    lazy = LazyStore(lambda: store, box, "lazy")
    try:
        assert isinstance(store, DurableStore) and isinstance(lazy, DurableStore)
        assert not getattr(Store, "__abstractmethods__", None)  # it implements every method
        with store.transaction():  # the contract's atomic pair: a mark and the effect it guards
            assert store.first_seen("ns", "key")
            store.save_corp("wwAbC", permanent_code="p")
        assert not lazy.first_seen("ns", "key") and lazy.get_permanent_code("wwAbC") == "p"
        assert lazy.get_corp("wwabc") is None  # case-sensitive ids
    finally:
        store.dispose()


def test_a_backend_missing_a_method_cannot_be_made():
    class Partial(DurableStore):
        def first_seen(self, namespace: str, key: str, *, keep_for: float = 3600) -> bool:
            return True

    with pytest.raises(TypeError, match="abstract"):
        Partial()  # type: ignore[abstract]


def test_the_retired_nonce_style_api_is_gone():
    assert not hasattr(Store, "first_delivery") and not hasattr(Store, "forget_delivery")
