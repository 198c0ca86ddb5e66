"""The product's modules import one another in one direction only: no cycles.

Imports inside functions count too: that is where a cycle hides when it is dodged rather than
removed. Read from the source text, so the test also sees imports that have not run yet.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "signaling", "recordings")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:  # Alembic's scripts are loaded by Alembic, not imported
                found[module_name(path)] = path
    return found


def imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Every name an import statement may refer to as a module: `a.b` and `a.b.c` for
    `from a.b import c` (c may be a module or a name in a.b)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[module] |= {t for t in imported(module, path, node) if t in mods and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_finder_sees_a_cycle_and_a_chain_is_not_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_product_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50, "the modules were not found"
    assert "recordings.evidence" in graph["server.services.recording"], "the graph misses imports"
    assert cycles(graph) == []


def test_the_domain_imports_nothing_but_the_domain() -> None:
    """server/domain is the pure core: no storage, services, web, socket or recording imports."""
    graph = import_graph()
    outside = {(m, t) for m, targets in graph.items() if m.startswith("server.domain") for t in targets}
    assert {(m, t) for m, t in outside if not t.startswith("server.domain")} == set()


def external_imports(path: Path) -> set[str]:
    """The top-level names of what a module imports from outside the product."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_storage_speaks_sql() -> None:
    """Nothing outside server/storage imports SQLAlchemy or the ORM models: services, signaling
    and recordings call storage's named queries and writes, and get records back."""
    offenders = {
        m
        for m, path in modules().items()
        if not m.startswith("server.storage") and "sqlalchemy" in external_imports(path)
    }
    assert offenders == set()
    graph = import_graph()
    assert {
        m for m, targets in graph.items() if "server.storage.models" in targets and not m.startswith("server.storage")
    } == set()


# Lower layers never import higher ones (README, "Architecture"). Modules not named here
# (configuration, i18n, process tuning) are used by every layer and import none of these.
LAYERS = (
    ("domain", ("server.domain",)),
    ("storage", ("server.storage",)),
    ("services", ("server.services", "server.auth", "recordings", "signaling")),
    ("edges", ("server.api", "server.pages", "server.http", "signaling.server")),
    ("composition", ("server.app", "server.cli", "server.__main__")),
)


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching prefix, layer)
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank)
    return best[1] if best else None


def test_the_layers_depend_one_way() -> None:
    assert layer_of("signaling.server") == 3 and layer_of("signaling.service") == 2 and layer_of("server.app") == 4
    upward = []
    for module, targets in import_graph().items():
        mine = layer_of(module)
        for target in targets:
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{module} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]})")
    assert sorted(upward) == []
