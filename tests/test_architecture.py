"""The import rules of ``docs/architecture.md``, checked on the source: the core imports no
domain, the libraries only the core, a domain reaches another only through its public modules
(never its repository, routes or tasks), and only entry points import the worker."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "ticketcreator"
ENTRY_POINTS = frozenset({"main", "cli", "worker", "tasks", "models"})
LIBRARIES = frozenset({"storage", "media", "privacy"})
PRIVATE = frozenset({"repository", "routes", "tasks"})
MAX_LINES = 400


def _name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" not in path.parts:
            yield _name(path), path


def _imports(path: Path) -> Iterator[str]:
    """Every ``ticketcreator`` module (or name in one) that ``path`` imports, lazily or not."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("ticketcreator."))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ticketcreator"):
            module = str(node.module)
            if module == "ticketcreator":
                yield from (f"ticketcreator.{a.name}" for a in node.names)
            else:
                yield from (f"{module}.{a.name}" for a in node.names)


def _part(module: str) -> str:
    return module.split(".")[1]


def _is_private(module: str) -> bool:
    """A repository, routes or tasks module of a domain (or a name defined in one)."""
    return any(
        part in PRIVATE or part.endswith("_repository") or part.endswith("_routes")
        for part in module.split(".")[2:]
    )


def _violations() -> list[str]:
    found = []
    for name, path in _modules():
        if name == "ticketcreator":
            continue
        own = _part(name)
        for target in _imports(path):
            other = _part(target)
            if other == own or other == "__version__":
                continue
            if own in ENTRY_POINTS:
                if other == "worker" and own not in {"cli", "main"}:
                    found.append(f"{name} imports the worker ({target})")
                continue
            if other in ENTRY_POINTS:
                found.append(f"{name} imports the entry point {target}")
            elif own == "core":
                found.append(f"the core imports a domain: {name} -> {target}")
            elif own in LIBRARIES and other != "core":
                found.append(f"the library {own} imports {target} ({name})")
            elif other != "core" and _is_private(target):
                found.append(f"{name} reaches into {other}'s private module {target}")
    return found


def test_imports_follow_the_architecture() -> None:
    assert _violations() == []


def _domain_edges() -> set[tuple[str, str]]:
    edges = set()
    for name, path in _modules():
        parts = name.split(".")
        if len(parts) < 3 or parts[1] in ENTRY_POINTS or parts[1] == "core":
            continue
        if parts[-1] in {"flows", "routes", "tasks"} or parts[-1].endswith("_routes"):
            continue  # orchestration and entry: allowed to look at several domains
        for target in _imports(path):
            other = _part(target)
            if other not in {parts[1], "core", "__version__"} | ENTRY_POINTS:
                edges.add((parts[1], other))
    return edges


def _cycle(edges: set[tuple[str, str]]) -> list[str]:
    """A cycle of the graph, as the parts along it; empty when there is none."""
    after: dict[str, set[str]] = {}
    for source, target in edges:
        after.setdefault(source, set()).add(target)
    done: set[str] = set()

    def visit(part: str, path: list[str]) -> list[str]:
        if part in path:
            return [*path[path.index(part) :], part]
        if part in done:
            return []
        for target in sorted(after.get(part, ())):
            found = visit(target, [*path, part])
            if found:
                return found
        done.add(part)
        return []

    for part in sorted(after):
        found = visit(part, [])
        if found:
            return found
    return []


def test_domains_depend_on_each_other_without_cycles() -> None:
    assert _cycle({("a", "b"), ("b", "c"), ("c", "a")}) == ["a", "b", "c", "a"]
    assert _cycle({("a", "b"), ("a", "c"), ("b", "c")}) == []
    assert _cycle(_domain_edges()) == []


def test_no_module_is_over_400_lines() -> None:
    long = {
        name: lines
        for name, path in _modules()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_what_tasks_import_when_they_run_is_loaded_with_them() -> None:
    """A worker's pool process must not spend seconds importing on its first task (nor an
    API process on its first request): every import inside a task module's functions is
    already done by ``tasks.load()``, before the pool forks."""
    from ticketcreator.tasks import TASK_MODULES

    deferred: set[str] = set()
    for module in TASK_MODULES:
        tree = ast.parse((SRC / Path(*module.split("."))).with_suffix(".py").read_text())
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(function):
                    if isinstance(node, ast.ImportFrom) and node.module:
                        deferred.update(f"{node.module}.{alias.name}" for alias in node.names)
    script = (
        "import importlib, json, sys\n"
        "from ticketcreator import tasks\n"
        "tasks.load()\n"
        "before = set(sys.modules)\n"
        f"for name in {sorted(deferred)!r}:\n"
        "    module, _, attribute = name.rpartition('.')\n"
        "    getattr(importlib.import_module(module), attribute)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=SRC.parent
    )
    assert deferred, "the task modules import something when their tasks run"
    assert json.loads(loaded.stdout.splitlines()[-1]) == []
