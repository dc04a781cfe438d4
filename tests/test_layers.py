"""The package's layers: each module imports only modules listed above it in the table of
``nstyle_helpers/__init__.py``'s docstring, at the top of the file or inside a function, so
there is no import cycle, hidden or not, and the table is the map of the package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nstyle_helpers

PACKAGE = Path(nstyle_helpers.__file__).parent


def table_order() -> list[str]:
    """The modules in the order of the package docstring's table."""
    return re.findall(r"^``(\w+)``", nstyle_helpers.__doc__, re.M)


def imported_modules(path: Path) -> set[str]:
    """The package's modules that ``path`` imports, wherever the import statement is."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            absolute = node.level == 0 and (node.module or "").startswith("nstyle_helpers")
            if node.level == 1 or absolute:
                module = (node.module or "").removeprefix("nstyle_helpers").strip(".")
                names |= {module.split(".")[0]} if module else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names
                      if a.name.startswith("nstyle_helpers.")}
    return names - {path.stem}


def test_the_table_lists_every_module_once():
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    order = table_order()
    assert sorted(order) == modules and len(set(order)) == len(order)


def test_every_module_imports_only_modules_above_it_in_the_table():
    order = table_order()
    upward = {module: sorted(name for name in imported_modules(PACKAGE / f"{module}.py")
                             if name not in order[: order.index(module)])
              for module in order}
    assert {module: names for module, names in upward.items() if names} == {}


def test_the_import_parser_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "example.py"
    source.write_text("from .errors import X\n\ndef f():\n    from . import grading\n"
                      "    import nstyle_helpers.images\n    from nstyle_helpers import checks\n")
    assert imported_modules(source) == {"errors", "grading", "images", "checks"}
