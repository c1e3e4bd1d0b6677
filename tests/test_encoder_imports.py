"""The package's import graph: no cycles, and the core areas stay apart.

Every ``import`` statement counts, also the lazy ones inside functions (a lazy import still makes
one module depend on another; the cycle this test was written for ran through one).
"""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = {"tests", "bench", "scripts", "web", "assets", "example_workflows", "docs", ".venv", ".git"}


def _modules() -> dict[str, str]:
    """Dotted module name (relative to the package root, '' = the package) -> file path."""
    out = {}
    for dirpath, dirnames, files in os.walk(ROOT):
        rel = os.path.relpath(dirpath, ROOT)
        dirnames[:] = [d for d in dirnames if d not in SKIP and not d.startswith(".")] if rel == "." else \
            [d for d in dirnames if not d.startswith((".", "__"))]
        if rel != "." and not os.path.isfile(os.path.join(dirpath, "__init__.py")):
            continue
        pkg = "" if rel == "." else rel.replace(os.sep, ".")
        for f in files:
            if f.endswith(".py"):
                name = f[:-3]
                mod = pkg if name == "__init__" else (f"{pkg}.{name}" if pkg else name)
                out[mod] = os.path.join(dirpath, f)
    return out


def _resolve(mod: str, is_pkg: bool, level: int, target: str | None) -> str:
    parts = mod.split(".") if mod else []
    base = parts if is_pkg else parts[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *(target.split(".") if target else [])])


def import_graph() -> dict[str, set[str]]:
    mods = _modules()

    def names(base: str, aliases) -> list[str]:  # ``from base import x``: the module x, else base itself
        full = [f"{base}.{a.name}" if base else a.name for a in aliases]
        return [f if f in mods else base for f in full]

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.endswith("__init__.py")
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                base = _resolve(mod, is_pkg, node.level, node.module)
                targets = names(base, node.names)
            elif isinstance(node, ast.Import):
                targets = [a.name.removeprefix("semantic_restore.") for a in node.names
                           if a.name.startswith("semantic_restore.")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("semantic_restore"):
                base = node.module.removeprefix("semantic_restore").lstrip(".")
                targets = names(base, node.names)
            for t in targets:
                if t in mods and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_find_cycle_finds_one():  # the checker itself can fail
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_graph_sees_the_known_edges():
    g = import_graph()
    assert "encoders.registry" in g["encoders._builder"] and "utils.checks" in g["encoders.registry"]
    assert "comfy_bridge" in g["nodes"]


@pytest.mark.parametrize("area", ["encoders", "colorize", "upscale", "utils"])
def test_no_import_cycle(area):
    g = import_graph()
    sub = {m: {t for t in ts if t.split(".")[0] == area} for m, ts in g.items() if m.split(".")[0] == area}
    assert find_cycle(sub) is None, find_cycle(sub)


def test_no_import_cycle_in_the_package():
    assert find_cycle(import_graph()) is None, find_cycle(import_graph())


def test_registry_imports_no_family_module():
    g = import_graph()
    assert not {t for t in g["encoders.registry"] if t.startswith("encoders.")} - {"encoders.config"}


FAMILY_MODULES = {"encoders.cnn", "encoders.vit", "encoders.timm_any", "encoders._builder", "encoders.checkpoints"}


@pytest.mark.parametrize("area, other", [("colorize", "upscale"), ("upscale", "colorize")])
def test_core_areas_stay_apart(area, other):
    """colorize/ and upscale/ never import each other, and reach encoders only through the
    object they are given (never a family module)."""
    g = import_graph()
    for mod, targets in g.items():
        if mod.split(".")[0] != area:
            continue
        assert not [t for t in targets if t.split(".")[0] == other], mod
        assert not targets & FAMILY_MODULES, (mod, targets & FAMILY_MODULES)


@pytest.mark.parametrize("area", ["media", "colorize", "upscale", "encoders", "utils"])
def test_nothing_below_the_cli_imports_it(area):
    """``cli/`` is the top of the glue: files are read and written in ``media/`` (stills in
    ``media/image_io.py``), so no lower layer reaches up into the command line."""
    g = import_graph()
    up = {mod: sorted(t for t in targets if t.split(".")[0] == "cli")
          for mod, targets in g.items() if mod.split(".")[0] == area}
    up = {mod: ts for mod, ts in up.items() if ts}
    assert not up, up
