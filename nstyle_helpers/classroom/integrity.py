r"""Graded cells check with the package's own code, whatever a student's cell changed.

A graded cell runs in the student's kernel, after the student's cells. A solution cell that
writes ``checks.expect = lambda *a, **k: None``, replaces ``checks.check_gram_matrix`` or
``nh.gram_matrix`` (the reference a hidden test compares with), or sets
``torch.allclose = lambda *a, **k: True`` would otherwise pass every check with wrong code.
So each graded cell begins with::

    checks = nh.graded_checks()

which (1) loads *fresh copies* of :mod:`~nstyle_helpers.classroom.marks`,
:mod:`~nstyle_helpers.core.losses` and the :mod:`~nstyle_helpers.classroom.checks` package from the
package's files, so the cell's checks are the package's own even where the live modules were
changed, and (2) compares the live modules, the package's namespace and torch's comparison functions
with what the package defines. If anything differs, every
:class:`~nstyle_helpers.classroom.marks.Marks` of the fresh copy scores 0 and says what was changed,
on both grading paths (nbgrader reads the 0; ``grade`` reads the message).

This stops a student who patches what the checks use; it cannot stop one who rewrites
Python's import machinery, because the checks run in the student's own process. A course
that needs more runs the hidden tests in a separate process of its own.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import sys
from pathlib import Path
from types import FunctionType, ModuleType

import torch

__all__ = ["graded_checks", "changed_names"]

PACKAGE = "nstyle_helpers"
PACKAGE_DIR = Path(__file__).resolve().parents[1]

#: The modules a graded cell's code depends on, in the order they import each other, and the
#: short name a message gives each (``checks.expect``).
FRESH_MODULES = {"classroom.marks": "marks", "core.losses": "losses",
                 "classroom.checks.common": "checks.common", "classroom.checks.a1": "checks.a1",
                 "classroom.checks.a2": "checks.a2", "classroom.checks.a3": "checks.a3",
                 "classroom.checks": "checks"}

#: torch's comparisons the checks rely on: C functions, which a student's cell can only replace.
TORCH_COMPARISONS = ("allclose", "equal", "isclose")


def graded_checks() -> ModuleType:
    """A fresh copy of :mod:`nstyle_helpers.classroom.checks`, whose ``Marks`` score 0 and say
    why if a cell changed the checks, the losses, the package's functions or torch's
    comparisons."""
    fresh = _fresh_modules()
    changed = changed_names(fresh)
    if changed:
        fresh["classroom.marks"].REFUSED = (
            f"a cell of this notebook changed {', '.join(changed)}, which the checks use: "
            "graded cells score 0 when that happens. Remove that code, restart the kernel "
            "and run all cells.")
    return fresh["classroom.checks"]


def changed_names(fresh: dict[str, ModuleType] | None = None) -> list[str]:
    """What differs from the package's own code, e.g. ``["checks.expect", "torch.allclose"]``:
    public functions, classes and constants of the live modules compared with ``fresh``
    copies, every function or class the package exports, and torch's comparisons."""
    fresh = fresh or _fresh_modules()
    changed = []
    for name, copy in fresh.items():
        live = importlib.import_module(f"{PACKAGE}.{name}")
        changed += [f"{FRESH_MODULES[name]}.{attr}" for attr in getattr(copy, "__all__", ())
                    if not _same(getattr(live, attr, None), getattr(copy, attr))]
    package = sys.modules[PACKAGE]
    changed += [f"nh.{attr}" for attr in package.__all__
                if not _is_package_code(getattr(package, attr, None), attr)]
    changed += [f"torch.{attr}" for attr in TORCH_COMPARISONS
                if not inspect.isbuiltin(getattr(torch, attr, None))]
    return changed


def _fresh_modules() -> dict[str, ModuleType]:
    # Each copy is executed with the copies before it in sys.modules, so that the fresh checks
    # import the fresh marks and losses; the live modules are put back afterwards.
    saved = {name: sys.modules.get(f"{PACKAGE}.{name}") for name in FRESH_MODULES}
    fresh = {}
    try:
        for name in FRESH_MODULES:
            module = importlib.util.module_from_spec(_file_spec(name))
            spec = module.__spec__
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            fresh[name] = module
    finally:
        for name, module in saved.items():
            if module is None:  # not imported before: the next import loads it as usual
                sys.modules.pop(f"{PACKAGE}.{name}", None)
            else:
                sys.modules[f"{PACKAGE}.{name}"] = module
    return fresh


def _file_spec(name: str) -> importlib.machinery.ModuleSpec:
    """How to load the package's module ``name`` (``"core.losses"``) from its file; a package
    (``"classroom.checks"``) from its ``__init__.py``, able to import its own modules."""
    path = PACKAGE_DIR.joinpath(*name.split("."))
    if path.is_dir():
        return importlib.util.spec_from_file_location(
            f"{PACKAGE}.{name}", path / "__init__.py", submodule_search_locations=[str(path)])
    return importlib.util.spec_from_file_location(f"{PACKAGE}.{name}", path.with_suffix(".py"))


def _same(live, fresh) -> bool:
    """Whether ``live`` is the same definition as ``fresh`` (its copy from the files)."""
    if isinstance(fresh, FunctionType):
        return isinstance(live, FunctionType) and _same_code(live, fresh)
    if isinstance(fresh, type):
        return (isinstance(live, type) and live.__qualname__ == fresh.__qualname__
                and all(_same(_code_of(vars(live).get(key)), _code_of(value))
                        for key, value in vars(fresh).items() if _code_of(value) is not None))
    if isinstance(fresh, ModuleType):
        return isinstance(live, ModuleType) and live.__name__ == fresh.__name__
    try:
        return bool(live == fresh)
    except Exception:  # noqa: BLE001 (a tensor, or anything that cannot be compared, differs)
        return False


def _code_of(member) -> FunctionType | None:
    """The function behind a class member: a method, a property's getter, a static or class
    method's function; None for anything else."""
    if isinstance(member, property):
        member = member.fget
    elif isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    return member if isinstance(member, FunctionType) else None


def _same_code(live: FunctionType, fresh: FunctionType) -> bool:
    return (live.__code__.co_filename == fresh.__code__.co_filename
            and live.__code__.co_code == fresh.__code__.co_code
            and live.__qualname__ == fresh.__qualname__)


def _is_package_code(value, name: str) -> bool:
    """Whether an exported function or class is the package's own ``name`` (constants pass)."""
    if isinstance(value, FunctionType):
        return (Path(value.__code__.co_filename).is_relative_to(PACKAGE_DIR)
                and value.__name__ == name)
    if isinstance(value, type):
        module = sys.modules.get(value.__module__)
        return (value.__name__ == name and module is not None
                and Path(getattr(module, "__file__", "") or "").is_relative_to(PACKAGE_DIR))
    return value is not None
