"""The package's import graph has no cycle (issue 11, "No import cycle").

The graph is read from the source with :mod:`ast`, not from ``sys.modules``, so an import in a function
that no test happens to run counts as much as one at the top of a module.

The rule, edge by edge (a node is one module of ``flask_wecom``, a package being its ``__init__``):

* Every import of a ``flask_wecom`` module is an edge, wherever it is written: at the top, inside a
  function or method, under ``try``. Moving an import into a function does not break a cycle, it hides
  it (the module still needs the other one, and the order of first use decides whether it works), so a
  deferred import counts like any other.
* Lazy imports on purpose stay allowed when they close no cycle: flask-wecom imports its optional or
  heavy third-party dependencies (SQLAlchemy, Alembic, redis, Authlib, flask_login…) in the function
  that needs them, and the modules that carry them (``store``, ``schema``, the CLI) only when first used,
  to keep ``WeCom(app)`` fast. Third-party modules are not nodes of this graph, so importing them lazily
  is never a cycle; a lazy import of one of *our* modules is an edge like any other.
* A dynamic import named by a string counts too: a ``"module:attribute"`` string (the lazy ``flask
  wecom`` group's ``"flask_wecom.cli:wecom_cli"``), a module name given to ``importlib.import_module``,
  or one in a module-level table (the package's PEP 562 ``__getattr__`` table). Other strings — logger
  names (``logging.getLogger("flask_wecom.x")``), comparisons, docstrings, f-strings — are text.
* Not edges: imports under ``if TYPE_CHECKING:`` (never executed: they only give the type checker
  names), and the parent package Python imports implicitly before a submodule (``import
  flask_wecom.hub.views`` runs ``flask_wecom/hub/__init__.py`` first — that package may import its
  children only lazily, which is then an edge of its own).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "flask_wecom"
_NAMED = re.compile(rf"^{PACKAGE}(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_]*)?$")

Edge = Tuple[str, int, str]  # (imported module, line, how: "top" / "deferred" / "string")


def package_modules(root: Path = ROOT) -> Dict[str, Path]:
    """Every module of the package by dotted name (``flask_wecom.hub`` for ``flask_wecom/hub/__init__.py``)."""
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if "migrations" in parts[1:2] and parts[-1] != "migrations":
            continue  # Alembic's env.py and revision scripts: loaded by Alembic from files, never imported
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: Dict[str, Path]) -> Optional[str]:
    """The module ``import name`` loads last: ``flask_wecom.x.y`` if it is a module, else its package."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _is_get_logger(call: ast.Call) -> bool:
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == "getLogger") or (
        isinstance(func, ast.Name) and func.id == "getLogger")


def _is_import_module(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in ("import_module", "__import__")


def imports_of(module: str, path: Path, modules: Dict[str, Path]) -> List[Edge]:
    """The ``flask_wecom`` modules ``module`` imports, by the rule in this file's docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    edges: List[Edge] = []
    skip: Set[int] = set()  # ids of string constants that are text, not module names

    def visit(node: ast.AST, deferred: bool, table: bool = False) -> Iterator[None]:
        """``table``: inside a module-level assignment's value, where a module name is a lazy import."""
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from visit(child, deferred)
            return
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and not deferred and node.value is not None:
            yield from visit(node.value, deferred, table=True)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            deferred = True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0].value))  # a docstring
        how = "deferred" if deferred else "top"
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, modules)
                if target:
                    edges.append((target, node.lineno, how))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = module.split(".")
                drop = node.level - 1 if is_package else node.level
                base = ".".join(base_parts[:len(base_parts) - drop])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            if base == PACKAGE or base.startswith(PACKAGE + "."):
                for alias in node.names:
                    target = _resolve(f"{base}.{alias.name}", modules) if f"{base}.{alias.name}" in modules \
                        else _resolve(base, modules)
                    if target:
                        edges.append((target, node.lineno, how))
        elif isinstance(node, ast.Call) and _is_get_logger(node):
            skip.update(id(arg) for arg in node.args)
        elif isinstance(node, ast.Call) and _is_import_module(node):
            for child in node.args:
                yield from visit(child, deferred, table=True)
            return
        elif isinstance(node, ast.JoinedStr):
            skip.update(id(value) for value in node.values)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
              and _NAMED.match(node.value) and (table or ":" in node.value)):
            target = _resolve(node.value.partition(":")[0], modules)
            if target:
                edges.append((target, node.lineno, "string"))
        for child in ast.iter_child_nodes(node):
            yield from visit(child, deferred, table)

    for _ in visit(tree, False):
        pass
    return sorted({edge for edge in edges if edge[0] != module}, key=lambda edge: (edge[1], edge[0]))


def import_graph(root: Path = ROOT) -> Dict[str, List[Edge]]:
    modules = package_modules(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: Dict[str, List[Edge]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components: List[List[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target, _, _ in graph.get(node, ()):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(components)


def describe(component: List[str], graph: Dict[str, List[Edge]]) -> str:
    members = set(component)
    lines = [f"cycle among {len(component)} modules:"]
    for name in component:
        for target, line, how in graph[name]:
            if target in members:
                lines.append(f"  {name}:{line} -> {target} ({how})")
    return "\n".join(lines)


# -- the tests ------------------------------------------------------------------------------------


def test_the_package_import_graph_has_no_cycle():
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "\n".join(describe(c, graph) for c in cycles)


def test_the_graph_sees_every_kind_of_import(tmp_path):
    # A miniature package with one import of each kind: the rule above, checked on a known answer.
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": '"""Docs naming flask_wecom.top."""\n_LAZY = {"Top": "flask_wecom.top"}\n',
        "top.py": "from typing import TYPE_CHECKING\nfrom . import leaf\nif TYPE_CHECKING:\n"
                  "    from .late import Late\n",
        "late.py": "import logging\nlog = logging.getLogger('flask_wecom.top')\n"
                   "def f():\n    from .top import x\n    return __name__ == 'flask_wecom.leaf'\n",
        "leaf.py": "import sqlalchemy\ndef g():\n    import redis\nTARGET = 'flask_wecom.sub.tool:group'\n"
                   "def h(name):\n    return f'flask_wecom.top {name}'\n",
        "sub/__init__.py": "",
        "sub/tool.py": "from .. import late\nimport flask_wecom.sub\nimport importlib\n"
                       "def load():\n    return importlib.import_module('flask_wecom.sub')\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text, encoding="utf-8")
    graph = import_graph(tmp_path)
    simple = {name: sorted((target, how) for target, _, how in edges) for name, edges in graph.items()}
    assert simple == {
        "flask_wecom": [("flask_wecom.top", "string")],
        "flask_wecom.top": [("flask_wecom.leaf", "top")],  # the TYPE_CHECKING import is no edge
        "flask_wecom.late": [("flask_wecom.top", "deferred")],  # the logger name, the comparison: text
        "flask_wecom.leaf": [("flask_wecom.sub.tool", "string")],  # third-party imports are not nodes
        "flask_wecom.sub": [],
        "flask_wecom.sub.tool": [("flask_wecom.late", "top"), ("flask_wecom.sub", "string"),
                                 ("flask_wecom.sub", "top")],
    }
    # top -> leaf -> sub.tool -> late -> top: closed by a deferred import and a string, still a cycle
    assert find_cycles(graph) == [["flask_wecom.late", "flask_wecom.leaf", "flask_wecom.sub.tool",
                                   "flask_wecom.top"]]
    (pkg / "late.py").write_text("def f():\n    import sqlalchemy\n", encoding="utf-8")
    assert find_cycles(import_graph(tmp_path)) == []
