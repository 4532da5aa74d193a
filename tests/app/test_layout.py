"""The layout's rules, checked on the import graph of our packages.

Every import counts, at module level or inside a function, under ``TYPE_CHECKING`` or not:
a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "feeds", "storage", "stories")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path) -> set[str]:
    """Every name ``module`` imports, as absolute dotted names (``a.b`` and ``a.b.name``)."""
    names: set[str] = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = _modules()

    def ours(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    raw = {module: _imports(module, path) for module, path in modules.items()}
    edges = {m: {t for n in names if (t := ours(n)) and t != m} for m, names in raw.items()}
    return edges, raw


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_among_our_modules() -> None:
    edges, _ = _graph()
    assert "bot.telegram" in edges and "feeds.fetch" in edges  # the graph is really read
    assert _cycles(edges) == []


def test_only_storage_speaks_sql() -> None:
    _, raw = _graph()
    outside = {
        module: sorted(n for n in names if n.split(".")[0] == "sqlalchemy" or n.startswith("storage.models"))
        for module, names in raw.items()
        if not module.startswith("storage")
    }
    assert {m: n for m, n in outside.items() if n} == {}


def test_dependencies_point_one_way() -> None:
    """bot -> feeds, storage -> stories: feeds and storage never import each other or bot,
    and stories imports none of them."""
    edges, _ = _graph()
    allowed = {"stories": {"stories"}, "feeds": {"feeds", "stories"}, "storage": {"storage", "stories"}}
    wrong = {
        module: sorted(t for t in targets if t.split(".")[0] not in allowed[module.split(".")[0]])
        for module, targets in edges.items()
        if module.split(".")[0] in allowed
    }
    assert {m: t for m, t in wrong.items() if t} == {}


LONG_MODULE = 600


def test_no_long_module_without_a_reason() -> None:
    """A module over 600 lines says why in its docstring, in words that name the limit
    ("over 600 lines because ..."); the rest stay below it."""
    unexplained = {}
    explained = []
    for module, path in _modules().items():
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        if lines <= LONG_MODULE:
            continue
        doc = " ".join((ast.get_docstring(ast.parse(source)) or "").split())
        if f"{LONG_MODULE} lines" in doc:
            explained.append(module)
        else:
            unexplained[module] = lines
    assert "stories.developments" in explained  # the sizes are really read
    assert unexplained == {}
