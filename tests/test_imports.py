"""No import cycles among churnlens modules, at module level or closed by an import inside a
function; the few imports kept inside functions are deliberate and listed here with why."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.test_layers import ROOT, installed_layout

# (importer, imported): imports deliberately made inside a function, and why
LAZY = {
    ("churnlens", "churnlens.api"): "the package exports its API on first use (PEP 562), so `import churnlens` stays fast",
    ("churnlens", "churnlens.config"): "the same",
    ("churnlens.run", "churnlens.api"): "the callable package churnlens.run forwards to churnlens.api.run",
    ("churnlens.cli", "churnlens"): "`churnlens --help` and argument errors answer without importing the library",
    ("churnlens.cli", "churnlens.api"): "the same: the command runs the library only once its arguments are parsed",
    ("churnlens.cli", "churnlens.errors"): "the same",
    ("churnlens.cli", "churnlens.redact"): "the same",
    ("churnlens.attribution._families", "churnlens.attribution.treeshap"): "the numba TreeSHAP kernels compile on first use",
    ("churnlens.attribution._families", "churnlens.attribution.treeshap.reference"): "the same",
}


def _modules() -> dict[str, Path]:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
    out = {}
    for package, folder in setup.items():
        for f in sorted((ROOT / folder).rglob("*.py")):
            parts = f.relative_to(ROOT / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            out[".".join((package, *parts))] = f
    return out


def _function_imports() -> set[tuple[str, str, int]]:
    found = set()
    modules = _modules()
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    if isinstance(sub, ast.ImportFrom) and sub.module and sub.module.split(".")[0] == "churnlens":
                        # ``from pkg import submodule`` imports the submodule
                        found.update((module, f"{sub.module}.{a.name}" if f"{sub.module}.{a.name}" in modules
                                      else sub.module, sub.lineno) for a in sub.names)
                    elif isinstance(sub, ast.Import):
                        found.update((module, a.name, sub.lineno) for a in sub.names
                                     if a.name.split(".")[0] == "churnlens")
    return found


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _graph(tree: Path, **kwargs) -> dict[str, set[str]]:
    """churnlens' import graph as installed (``tree``), built in a fresh interpreter: grimp finds
    modules from the imported package, and this one's ``churnlens`` maps the owner's folders."""
    code = ("import grimp, json, sys; g = grimp.build_graph('churnlens', cache_dir=None, **json.loads(sys.argv[1])); "
            "print(json.dumps({m: sorted(g.find_modules_directly_imported_by(m)) for m in g.modules}))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], cwd=tree, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(tree)}, check=True)
    return {m: set(v) for m, v in json.loads(done.stdout).items()}


def _chain(edges: dict[str, set[str]], start: str, target: str) -> list[str]:
    """A path of imports from any module under ``start`` to any module under ``target``, or []."""
    seen, todo = set(), [[m] for m in edges if m == start or m.startswith(start + ".")]
    while todo:
        path = todo.pop(0)
        if path[-1] == target or path[-1].startswith(target + "."):
            return path
        for nxt in sorted(edges.get(path[-1], ())):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(path + [nxt])
    return []


def test_no_import_cycles(tmp_path):
    edges = _graph(installed_layout(tmp_path), exclude_type_checking_imports=True)
    for importer, imported in LAZY:  # listed lazy imports do not close a cycle at run time either
        edges.get(importer, set()).discard(imported)
    assert _cycles(edges) == []


def test_imports_inside_functions_are_only_the_listed_lazy_ones():
    unlisted = sorted((m, i, line) for m, i, line in _function_imports() if (m, i) not in LAZY)
    assert unlisted == [], "move these imports to the top of their module, or list them in LAZY with why"


def test_computation_never_imports_the_reports(tmp_path):
    edges = _graph(installed_layout(tmp_path))
    for stage in ("churnlens.attribution", "churnlens.segmentation", "churnlens.actions", "churnlens.evaluation",
                  "churnlens.monitoring", "churnlens.campaign", "churnlens.run.stages", "churnlens.run.loop",
                  "churnlens.run.step"):
        assert _chain(edges, stage, "churnlens.reports") == [], stage
