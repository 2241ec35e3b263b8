"""The package's shape, checked over every module it has (found by walking the package, never listed by hand).

- Layers: the layers below the schema modules (compute, readers, loaders, simulate, plotting, the stages)
  reach neither datajoint, nor a schema module, nor a stage above them, nor ``workflow``; compute imports
  nothing of the package outside compute (frames come through ``compute.frames``, not from readers or files).
- ``workflow`` assembles the package and is never imported by it.
- DataJoint is imported only by the modules that work with tables (`DATAJOINT_MODULES`): the schema modules,
  the shared schema runtime, the jobs layer (``reservations``, ``progress``) and the user APIs over the tables
  (``cleanup``, ``curation``, ``transient_curation``, ``behavior``); the stages and everything below them never.
- No module looks modules up in ``sys.modules`` (the schemas to populate are handed over, not found by name).
- CuPy is imported only by ``compute/_backend.py``.
- A private module (``_name``) is imported only from within the package that holds it (``compute/_backend``
  and ``compute/_checks`` by all of compute; ``compute/motion/_run`` only by ``compute/motion``).
- No module is over 500 lines.

The imports are read from the source (every ``import`` statement, those inside functions too); the layers
are also imported for real, with datajoint blocked.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

import element_calcium

PACKAGE = "element_calcium"
ROOT = Path(element_calcium.__file__).resolve().parent
MAX_LINES = 500

# Layers below the schema modules (each a package and everything in it), and the schema modules themselves.
LOWER_LAYERS = tuple(f"{PACKAGE}.{name}" for name in ("compute", "readers", "loaders", "simulate", "plotting"))
SCHEMA_MODULES = tuple(f"{PACKAGE}.{name}" for name in (
    "imaging", "imaging_recordings", "imaging_processing", "imaging_provenance", "events", "events_spatial",
    "clusters", "registration"))

# The modules that may import datajoint: they declare tables, or work with them for the user.
DATAJOINT_MODULES = {*SCHEMA_MODULES, *(f"{PACKAGE}.{name}" for name in (
    "_schema_runtime", "reservations", "progress", "cleanup", "curation", "transient_curation", "behavior",
    "spatial_event_queries"))}

# Known exceptions, each removed by a later step; a listed exception that no longer occurs fails its test, so
# the list only shrinks.
LONG_MODULES: set[str] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


@dataclass(frozen=True)
class Import:
    """One imported thing: ``module`` (a dotted module path), and ``name`` when an attribute of it is imported."""

    importer: str
    module: str
    name: str | None
    line: int

    @property
    def target(self) -> str:
        return self.module if self.name is None else f"{self.module}.{self.name}"

    def __str__(self) -> str:
        return f"{self.importer} (line {self.line}) imports {self.target}"


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    """Every import statement of ``module``, relative imports resolved; ``from a import b`` names module a.b
    when a.b is a module of the package."""
    package = module if module in PACKAGES else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.append(Import(module, submodule, None, node.lineno) if submodule in MODULES
                             else Import(module, source, alias.name, node.lineno))
    return tuple(found)


def _inside(module: str, owner: str) -> bool:
    return module == owner or module.startswith(owner + ".")


def _top(name: str) -> str:
    return name.split(".")[0]


def _in_lower_layer(module: str) -> bool:
    return any(_inside(module, layer) for layer in LOWER_LAYERS) or _is_stage(module)


def _is_stage(module: str) -> bool:
    return module.endswith("_stage") or _inside(module, f"{PACKAGE}.stages")


def _package_modules(imported: Import) -> list[str]:
    """The modules of the package an import loads (the module and the packages above it)."""
    parts = imported.module.split(".")
    return [name for name in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if name in MODULES]


@cache
def reached(module: str) -> dict[str, list[str]]:
    """Everything ``module`` imports, directly or through the package's modules: name -> a chain of imports."""
    chains: dict[str, list[str]] = {module: [module]}
    todo = [module]
    while todo:
        current = todo.pop()
        for imported in imports_of(current):
            for name in [imported.target, *_package_modules(imported)]:
                if name not in chains:
                    chains[name] = [*chains[current], name]
                    if name in MODULES:
                        todo.append(name)
    return chains


def test_the_walk_finds_every_module():
    assert len(MODULES) > 80
    for name in ("element_calcium.compute.motion", "element_calcium.compute.frames", "element_calcium.imaging",
                 "element_calcium.simulate._movie", "element_calcium.loaders.types"):
        assert name in MODULES


def test_lower_layers_reach_no_database_schema_stage_or_workflow():
    lower = [module for module in MODULES if _in_lower_layer(module)]
    assert lower
    problems = []
    for module in lower:
        for name, chain in reached(module).items():
            upward = (_top(name) in ("datajoint", "workflow") or any(_inside(name, s) for s in SCHEMA_MODULES)
                      or (_is_stage(name) and not _is_stage(module)))
            if upward:
                problems.append(" -> ".join(chain))
    assert not problems, "\n".join(problems)


def test_compute_imports_nothing_of_the_package_outside_compute():
    compute = f"{PACKAGE}.compute"
    problems = [str(imported) for module in MODULES if _inside(module, compute) for imported in imports_of(module)
                if _top(imported.module) == PACKAGE and not _inside(imported.module, compute)]
    assert not problems, "\n".join(problems)


def test_datajoint_is_imported_only_by_the_modules_that_work_with_tables():
    importers = {imported.importer for module in MODULES for imported in imports_of(module)
                 if _top(imported.module) == "datajoint"}
    assert importers
    assert importers - DATAJOINT_MODULES == set(), sorted(importers - DATAJOINT_MODULES)


def test_the_package_never_imports_workflow():
    importers = {imported.importer for module in MODULES for imported in imports_of(module)
                 if _top(imported.module) == "workflow"}
    assert importers == set(), sorted(importers)


def _uses_sys_modules(tree: ast.AST) -> bool:
    return any(isinstance(node, ast.Attribute) and node.attr == "modules" and isinstance(node.value, ast.Name)
               and node.value.id == "sys" for node in ast.walk(tree))


def test_no_module_looks_up_sys_modules():
    users = [module for module, path in MODULES.items()
             if _uses_sys_modules(ast.parse(path.read_text(encoding="utf-8")))]
    assert users == [], users


def test_the_sys_modules_check_finds_a_lookup():
    assert _uses_sys_modules(ast.parse("import sys\nsys.modules.get('element_calcium.events')"))
    assert not _uses_sys_modules(ast.parse("import sys\nsys.exit(0)"))


def test_cupy_is_imported_only_by_the_backend_module():
    importers = {imported.importer for module in MODULES for imported in imports_of(module)
                 if _top(imported.module) in ("cupy", "cupyx")}
    assert importers == {f"{PACKAGE}.compute._backend"}


def _private_owner(target: str) -> str | None:
    """The module or package a private name of ``target`` belongs to (the path before its first ``_name``)."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def test_no_private_module_or_name_is_imported_from_outside_its_package():
    problems = []
    for module in MODULES:
        for imported in imports_of(module):
            owner = _private_owner(imported.target) if _top(imported.module) == PACKAGE else None
            if owner is None or (owner in PACKAGES and _inside(module, owner)) or module == owner:
                continue
            problems.append(str(imported))
    assert not problems, "\n".join(problems)


def test_no_module_is_over_500_lines():
    lengths = {module: len(path.read_text(encoding="utf-8").splitlines()) for module, path in MODULES.items()}
    long = {module for module, length in lengths.items() if length > MAX_LINES}
    assert long - LONG_MODULES == set(), {module: lengths[module] for module in sorted(long - LONG_MODULES)}
    assert LONG_MODULES <= long, f"now {MAX_LINES} lines or fewer, remove from LONG_MODULES: {LONG_MODULES - long}"


def test_lower_layers_import_with_datajoint_blocked():
    lower = sorted(module for module in MODULES if _in_lower_layer(module))
    code = "import sys; sys.modules['datajoint'] = None\n" + "".join(f"import {module}\n" for module in lower)
    result = subprocess.run([sys.executable, "-c", code + "print('ok')"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_blocking_really_blocks():
    code = "import sys; sys.modules['datajoint'] = None; import element_calcium.imaging"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "datajoint" in result.stderr


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from element_calcium.compute import _backend", "element_calcium.compute._backend"),
        ("from .compute import cnmf", "element_calcium.compute.cnmf"),
        ("from ..motion import _run", "element_calcium.compute.motion._run"),
        ("from element_calcium.compute.params import MotionParams", "element_calcium.compute.params.MotionParams"),
    ],
)
def test_imports_are_resolved(source, expected, monkeypatch, tmp_path):
    importer = "element_calcium.compute.events._spatial" if source.startswith("from ..") else "element_calcium.report"
    path = tmp_path / "module.py"
    path.write_text(source + "\n")
    monkeypatch.setitem(MODULES, importer, path)
    imports_of.cache_clear()
    try:
        assert [imported.target for imported in imports_of(importer)] == [expected]
    finally:
        imports_of.cache_clear()
