"""Data flows down the layers: no import circle among atlas_nb's modules.

Every import counts, at module level or inside a function (a deferred import is still a
dependency); only ``if TYPE_CHECKING:`` imports are left out. The few imports that go back up on
purpose are listed in ``UPWARD`` with the reason; with them removed the graph has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import atlas_nb

ROOT = Path(atlas_nb.__file__).parent

#: importer -> imported: deliberate upward imports, each deferred to the call that needs it
UPWARD = {
    # the Compute and Job handles: c.terminate(), c.logs(), job.wait() run the one place that
    # owns the behaviour (core), which itself returns these models
    ("atlas_nb.models.compute", "atlas_nb.core.compute"): "Compute handle -> core",
    ("atlas_nb.models.compute", "atlas_nb.orchestrator.api"): "c.touch(), c.untrack()",
    ("atlas_nb.models.compute", "atlas_nb.auth"): "c.auth(): bearer tokens for the pod",
    ("atlas_nb.models.compute", "atlas_nb.providers.registry"): "the provider of a handle",
    ("atlas_nb.models.job", "atlas_nb.core.jobs"): "Job handle -> core",
    # a stream shows itself as its widget when it is a cell's value
    ("atlas_nb.logstream", "atlas_nb.widgets.log_viewer"): "display hook",
    ("atlas_nb.jobstream", "atlas_nb.widgets.job_view"): "display hook",
    # a FlyLogsClient made by hand (no token function given) asks this runtime's Fly services
    ("atlas_nb.fly.logs.client", "atlas_nb.fly.tokens.aio"): "default token source",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return hidden


def imported(module: str, path: Path) -> set[str]:
    """The atlas_nb modules ``module`` imports (submodules named by ``from x import y`` too)."""
    tree = ast.parse(path.read_text())
    hidden = type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up) + (f".{node.module}" if node.module else "")
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_upward_imports_listed_still_exist():
    graph = {m: imported(m, p) for m, p in MODULES.items()}
    gone = [edge for edge in UPWARD if edge[1] not in graph.get(edge[0], set())]
    assert not gone, f"no longer imported, drop them from UPWARD: {gone}"


def test_no_import_circle_beyond_the_upward_imports_listed():
    graph = {m: imported(m, p) for m, p in MODULES.items()}
    for importer, target in UPWARD:
        graph[importer].discard(target)
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_providers_never_import_widgets():
    # Lambda's queued launch showed its own progress bar; it now reports through
    # providers.base.progress_reporter, which the core sets around a spawn
    offenders = {
        (m, t)
        for m, p in MODULES.items()
        if m.startswith(("atlas_nb.providers", "atlas_nb.sandbox"))
        for t in imported(m, p)
        if t.startswith("atlas_nb.widgets")
    }
    assert not offenders
