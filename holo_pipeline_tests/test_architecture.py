"""The architecture's boundaries, checked on the source: layers, import cycles, public Dagster APIs
only, and which environment variables loading the code location reads."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "holo_pipeline"
CORE = ("optics", "instrument", "datasets", "model", "evaluation", "reconstruction")
"""Core layers in import order: each may import only those before it (and never dagster)."""


def _unit(module: str) -> str:
    """The node of the package graph a module belongs to: its subpackage, or a root module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _sources() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_no_private_dagster_api_in_the_package():
    hits = [
        f"{p.relative_to(REPO)}:{i}: {line.strip()}"
        for p in sorted(PACKAGE.rglob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if "dagster._" in line
    ]
    assert not hits, "private Dagster APIs:\n" + "\n".join(hits)


def test_core_layers_never_import_dagster_or_defs():
    bad = [
        f"{module} imports {name}"
        for module, names in _sources().items()
        if _unit(module) in CORE
        for name in names
        if name.split(".")[0] == "dagster" or name.startswith("holo_pipeline.defs")
    ]
    assert not bad, "\n".join(bad)


def test_the_product_never_imports_the_validation_package():
    bad = [
        f"{module} imports {name}"
        for module, names in _sources().items()
        for name in names
        if name.split(".")[0] == "holo_validation"
    ]
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    for module, names in _sources().items():
        for name in names:
            if name.startswith("holo_pipeline.") and (
                (PACKAGE / Path(*name.split(".")[1:])).with_suffix(".py").exists()
                or (PACKAGE / Path(*name.split(".")[1:])).is_dir()
            ):
                if _unit(name) != _unit(module):
                    graph[_unit(module)].add(_unit(name))
    # depth-first search for a back edge
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            pytest.fail("package import cycle: " + " -> ".join(cycle))


_RECORD_ENV = r"""
import json, os, sys
from collections.abc import MutableMapping

reads = []

class Recording(MutableMapping):
    def __init__(self, inner):
        self._inner = inner
    def _note(self, key):
        frame = sys._getframe(2)
        while frame and frame.f_code.co_filename.endswith(("os.py", "_collections_abc.py")):
            frame = frame.f_back
        if frame and "/holo_pipeline/" in frame.f_code.co_filename:
            reads.append(str(key))
    def __getitem__(self, key):
        self._note(key)
        return self._inner[key]
    def __contains__(self, key):
        self._note(key)
        return key in self._inner
    def get(self, key, default=None):
        self._note(key)
        return self._inner.get(key, default)
    def __setitem__(self, key, value):
        self._inner[key] = value
    def __delitem__(self, key):
        del self._inner[key]
    def __iter__(self):
        return iter(self._inner)
    def __len__(self):
        return len(self._inner)
    def copy(self):
        return dict(self._inner)

os.environ = Recording(os.environ)
from holo_pipeline.definitions import defs
defs().get_repository_def()
print(json.dumps(sorted(set(reads))))
"""


def test_loading_the_code_location_reads_only_documented_holo_variables(tmp_path):
    from holo_pipeline.catalog import root_env
    from holo_pipeline.profile import profile_env_names

    out = subprocess.run(
        [sys.executable, "-c", _RECORD_ENV],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOLO_DATA_ROOT": str(tmp_path / "data")},
    )
    reads = set(json.loads(out.stdout.strip().splitlines()[-1]))
    documented = {*profile_env_names(), "HOLO_DATA_ROOT", "HOLO_ROOT_DATA", root_env("archive")}
    undocumented = {r for r in reads if not (r in documented or r.startswith("HOLO_ROOT_"))}
    assert reads, "the recorder saw no read at all (it would then prove nothing)"
    assert not undocumented, f"undocumented environment reads: {sorted(undocumented)}"
    readme = (REPO / "README.md").read_text() + (REPO / "data_catalog.yaml").read_text()
    assert "HOLO_PROFILE" in readme and "HOLO_<SETTING>" in readme


def test_core_layers_import_only_earlier_layers():
    bad = [
        f"{module} imports {name}"
        for module, names in _sources().items()
        if _unit(module) in CORE
        for name in names
        if name.startswith("holo_pipeline.")
        and _unit(name) in CORE
        and CORE.index(_unit(name)) > CORE.index(_unit(module))
    ]
    assert not bad, "\n".join(bad)
