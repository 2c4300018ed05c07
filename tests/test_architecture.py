"""The architecture rules that import-linter and deptry cannot express (``make test`` runs those two).

- ``hubconf.py`` imports only ``zoo`` (a top-level module, which import-linter cannot take as a root);
- each package imports only the core dependencies and its own extras, and every declared distribution is
  imported by a package it serves (deptry checks the project as a whole, not extra by extra);
- no function is more complex than cyclomatic complexity 20 (radon grade D or worse).
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from radon.complexity import cc_visit
from radon.visitors import Function

from tests.conftest import ROOT

PACKAGES = ("zoo", "pblite", "training", "demos")
FIRST_PARTY = {*PACKAGES, "hubconf", "tests"}

# The extras a package may import from, besides the core dependencies.
EXTRAS_OF = {"zoo": ("imagenet",), "hubconf.py": (), "pblite": ("pblite",), "training": ("train",),
             "demos": ("demo",)}
# The code an extra is for: each of its distributions must be imported there. The demo extra also serves
# the pblite and training code the demos call (matplotlib, scikit-image).
SERVES = {"pblite": ("pblite",), "train": ("training",), "demo": ("demos", "pblite", "training"),
          "imagenet": ("zoo",)}
CORE_SERVES = (*PACKAGES, "hubconf.py")

MAX_COMPLEXITY = 20
# PENDING: functions above the limit that other branches are refactoring right now. Empty this set when they
# are merged (test_pending_list_is_current fails once an entry is no longer over the limit).
PENDING: set[str] = set()


def _sources(target: str) -> list[Path]:
    path = ROOT / target
    return [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))


def _imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, including those inside functions."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def _normalise(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


@functools.cache
def _third_party(target: str) -> dict[str, str]:
    """Distribution → first ``file:line`` importing it, for every third-party import under ``target``."""
    dists = importlib.metadata.packages_distributions()
    found: dict[str, str] = {}
    for path in _sources(target):
        for line, module in _imported_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in FIRST_PARTY or top == "__future__":
                continue
            for dist in dists.get(top, [top]):
                found.setdefault(_normalise(dist), f"{path.relative_to(ROOT)}:{line}")
    return found


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    """The core dependencies and each extra's, as normalised distribution names (self-references dropped)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(reqs: list[str]) -> set[str]:
        out = {_normalise(re.match(r"[A-Za-z0-9_.\-]+", r).group()) for r in reqs}
        return out - {project["name"]}

    extras = {extra: names(reqs) for extra, reqs in project["optional-dependencies"].items()}
    return names(project["dependencies"]), extras


def test_hubconf_imports_only_zoo():
    modules = {m for _, m in _imported_modules(ROOT / "hubconf.py")}
    assert modules, "hubconf.py imports nothing: the parser missed its imports"
    assert {m for m in modules if m.split(".")[0] not in ("zoo", "__future__")} == set()


@pytest.mark.parametrize("target", sorted(EXTRAS_OF))
def test_package_imports_only_core_and_its_extras(target):
    core, extras = _declared()
    allowed = core.union(*(extras[e] for e in EXTRAS_OF[target]))
    undeclared = {d: where for d, where in _third_party(target).items() if d not in allowed}
    assert undeclared == {}, f"declare these in pyproject.toml (core or {target}'s extra {EXTRAS_OF[target]})"


@pytest.mark.parametrize("extra", sorted(SERVES))
def test_every_distribution_of_an_extra_is_imported_where_it_serves(extra):
    _, extras = _declared()
    used = set().union(*(_third_party(p) for p in SERVES[extra]))
    assert extras[extra] - used == set(), f"the {extra!r} extra declares what {SERVES[extra]} never import"


def test_every_core_dependency_is_imported():
    core, _ = _declared()
    used = set().union(*(_third_party(p) for p in CORE_SERVES))
    assert core - used == set()


def _functions(path: Path) -> Iterator[tuple[str, int]]:
    """(qualified name, cyclomatic complexity) of every function, method and closure in ``path``."""

    def walk(func: Function, prefix: str) -> Iterator[tuple[str, int]]:
        name = f"{prefix}{func.fullname}"
        yield name, func.complexity
        for closure in func.closures:
            yield from walk(closure, f"{name}.")

    for block in cc_visit(path.read_text(encoding="utf-8")):
        if isinstance(block, Function):
            yield from walk(block, "")


def _complexities() -> dict[str, int]:
    return {f"{path.relative_to(ROOT)}:{name}": cc for package in PACKAGES for path in _sources(package)
            for name, cc in _functions(path)}


def test_no_function_is_too_complex():
    complexities = _complexities()
    assert len(complexities) > 500, "radon found too few functions: the scan is broken"
    over = {name: cc for name, cc in complexities.items() if cc > MAX_COMPLEXITY and name not in PENDING}
    assert over == {}, f"split these functions (cyclomatic complexity above {MAX_COMPLEXITY})"


def test_pending_list_is_current():
    complexities = _complexities()
    stale = {name: complexities.get(name) for name in PENDING if complexities.get(name, 0) <= MAX_COMPLEXITY}
    assert stale == {}, "remove these from PENDING: they are within the limit now (or gone)"
