"""The package's layers: each module imports only modules listed above it in the table of
``nstyle_helpers/__init__.py``'s docstring, at the top of the file or inside a function, so
there is no import cycle, hidden or not, and the table is the map of the package."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import nstyle_helpers

PACKAGE = Path(nstyle_helpers.__file__).parent
FOLDERS = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())


def table_order() -> list[str]:
    """The modules in the order of the package docstring's table (``core.images``)."""
    return re.findall(r"^``([\w.]+)``", nstyle_helpers.__doc__, re.M)


def module_name(path: Path) -> str:
    """``core.images`` for ``core/images.py``; ``classroom.checks`` for its ``__init__.py``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package but its own and its folders' ``__init__`` (docstrings)."""
    return {module_name(p): p for p in PACKAGE.rglob("*.py")
            if module_name(p) not in ("", *FOLDERS)}


def imported_modules(path: Path, name: str) -> set[str]:
    """The package's modules that ``path`` (the module ``name``) imports, wherever the import
    statement is: ``from ..core.losses import x`` and ``from ..core import losses`` in
    ``classroom.checks.a1`` both give ``core.losses``."""
    package = f"nstyle_helpers.{name}".rsplit(".", 1)[0] if path.stem != "__init__" \
        else f"nstyle_helpers.{name}"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                if node.level else node.module or ""
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    known = set(modules())
    return {m.removeprefix("nstyle_helpers.") for m in found
            if m.startswith("nstyle_helpers.") and m.removeprefix("nstyle_helpers.") in known} \
        - {name}


def test_the_table_lists_every_module_once():
    order = table_order()
    assert sorted(order) == sorted(modules()) and len(set(order)) == len(order)


def test_the_folders_hold_no_code():
    # A folder's __init__ is its docstring: what the folder is for.
    for folder in FOLDERS:
        tree = ast.parse((PACKAGE / folder / "__init__.py").read_text(encoding="utf-8"))
        assert len(tree.body) == 1 and isinstance(tree.body[0].value, ast.Constant), folder


def test_every_module_imports_only_modules_above_it_in_the_table():
    order = table_order()
    paths = modules()
    upward = {module: sorted(name for name in imported_modules(paths[module], module)
                             if name not in order[: order.index(module)])
              for module in order}
    assert {module: names for module, names in upward.items() if names} == {}


def test_the_import_parser_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "a1.py"
    source.write_text("from ...base.errors import X\n\ndef f():\n    from .. import grading\n"
                      "    import nstyle_helpers.core.images\n    from ...core import losses\n"
                      "    from .common import Parts\n")
    # Read as if it were classroom/checks/a1.py.
    assert imported_modules(source, "classroom.checks.a1") == {
        "base.errors", "classroom.grading", "core.images", "core.losses",
        "classroom.checks.common"}


def test_the_readme_layout_names_every_folder_and_module():
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("```\nnstyle_helpers/\n"):]
    block = block[: block.index("```", 4)]
    entries = re.split(r"\n  (?=\S)", block)  # one entry per folder or top-level module
    listed = {entry.split()[0].rstrip("/"): entry for entry in entries[1:]}
    top_level = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert set(listed) == set(FOLDERS) | {f"{m}.py" for m in top_level}
    for folder in FOLDERS:
        names = {p.stem for p in (PACKAGE / folder).iterdir()
                 if p.suffix == ".py" or (p / "__init__.py").is_file()} - {"__init__", "__main__"}
        assert {n for n in names if not re.search(rf"\b{n}\b", listed[folder])} == set(), folder


def test_the_design_picture_names_every_folder():
    design = (PACKAGE.parent / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    assert [f for f in FOLDERS if f"{f}/" not in design] == []


def test_no_function_of_the_core_is_longer_than_50_lines():
    # core/ is what a student reads beside the paper: each function fits on a screen.
    long = {f"{path.stem}.{node.name}": node.end_lineno - node.lineno + 1
            for path in sorted((PACKAGE / "core").glob("*.py"))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 50}
    assert long == {}
