"""The package's imports point one way: read from the installed sources (ast), every
import between its modules counts, at module level, inside functions (import cost)
and under TYPE_CHECKING alike, so a function-level import cannot hide a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import reexec_native

PACKAGE = Path(reexec_native.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The package modules `path` imports, anywhere in the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("reexec_native")}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
                if not base.startswith("reexec_native"):
                    continue
            else:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"  # `from . import _binding` names a module
                found.add(candidate if _is_module(candidate) else base)
    found.discard(name)
    return {module for module in found if _is_module(module) and module != "reexec_native"}


def _is_module(dotted: str) -> bool:
    relative = Path(*dotted.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file() \
        or dotted == "reexec_native._native"


def graph() -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_only_the_binding_imports_the_extension():
    importers = sorted(module for module, deps in graph().items() if "reexec_native._native" in deps)
    assert importers == ["reexec_native._binding"]


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for dep in sorted(edges.get(module, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)) is not None:
                return cycle
        state[module] = 2
        path.pop()
        return None

    for module in sorted(edges):
        if module not in state:
            cycle = visit(module)
            assert cycle is None, " -> ".join(cycle)


def test_the_graph_test_sees_imports_inside_functions():
    """The reader itself: function-level and TYPE_CHECKING imports are edges."""
    edges = graph()
    assert "reexec_native._cargo_build" in edges["reexec_native.cargo"]  # imported in CargoRun.run
    assert "reexec_native._handover" in edges["reexec_native.cargo"]  # TYPE_CHECKING only
    assert "reexec_native._handover" in edges["reexec_native._reexec"]  # inside reexec()
    assert "reexec_native._binding" in edges["reexec_native._doctor"]  # inside _execve_check()


def test_the_package_has_at_most_twenty_modules():
    """Issue 20's bound: the layout's modules are the domain's seams (docs/architecture.md)."""
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 20, modules


def test_a_plain_reexec_runs_in_few_modules_with_few_switches():
    """From the call of reexec() to the C core's exec (benchmarks/call_path.py, in a
    child): at most 8 package modules run code, with at most 15 switches between them,
    and none of the optional features (hand-over, snapshot, cargo, the retry loop and its
    inotify wait) loads, nor errors (nothing failed), imports included."""
    import json
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "call_path.py"
    done = subprocess.run([sys.executable, str(bench), "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    path = json.loads(done.stdout)["in_call"]
    assert len(path["modules"]) <= 8, path
    assert path["switches"] <= 15, path
    optional = {"reexec_native._handover", "reexec_native._snapshot", "reexec_native.cargo",
                "reexec_native._retry", "reexec_native.errors"}
    assert not optional & set(path["modules"]), path
    with_imports = json.loads(done.stdout)["with_imports"]
    assert not optional & set(with_imports["modules"]), with_imports
