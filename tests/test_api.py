"""The declared API: notebooks, the README and the guides use only ``nh``'s ``__all__`` and the
modules in ``nh.PUBLIC_MODULES``, so everything else can change without breaking a student."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import nstyle_helpers as nh

REPO = Path(__file__).resolve().parent.parent
DOCUMENTS = [*sorted(REPO.glob("notebooks/**/*.ipynb")), REPO / "README.md",
             *sorted(REPO.glob("docs/*.md"))]


def python_sources(path: Path) -> list[str]:
    """The Python a document holds: a notebook's code cells (IPython magics dropped), or a
    Markdown file's ```python blocks."""
    if path.suffix == ".ipynb":
        cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
                 if c["cell_type"] == "code"]
        sources = ["".join(c["source"]) for c in cells]
    else:
        sources = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    return ["\n".join(line for line in source.splitlines()
                      if not line.lstrip().startswith(("%", "!"))) for source in sources]


def reached(source: str) -> set[str]:
    """What ``source`` takes from the package: ``nh.NAME`` and ``nh.NAME.attr`` give NAME,
    ``from nstyle_helpers import A, B`` gives A and B, ``from nstyle_helpers.core.M import x``
    and ``import nstyle_helpers.core.M`` give ``core.M`` (a path inside the package, which is
    never public, even to a public module: the notebooks name those by their short name)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a fragment in a guide (an indented snippet): read it line by line
        return set().union(*(reached(line.strip()) for line in source.splitlines()
                             if _parses(line.strip())))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "nstyle_helpers":
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nstyle_helpers."):
            names.add(node.module.removeprefix("nstyle_helpers."))
        elif isinstance(node, ast.Import):
            names |= {a.name.removeprefix("nstyle_helpers.") for a in node.names
                      if a.name.startswith("nstyle_helpers.")}
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "nh"):
            names.add(node.attr)
    return names


def _parses(line: str) -> bool:
    try:
        ast.parse(line)
    except SyntaxError:
        return False
    return True


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_documents_use_only_the_public_api(path):
    public = set(nh.__all__) | set(nh.PUBLIC_MODULES) | {"__version__"}
    used = set().union(*map(reached, python_sources(path)))
    assert sorted(used - public) == []


def test_the_public_names_exist_and_the_notebooks_use_every_public_module():
    assert all(hasattr(nh, name) for name in nh.__all__)
    for short, path in nh.PUBLIC_MODULES.items():
        assert getattr(nh, short).__name__ == f"nstyle_helpers.{path}"
    used = set().union(*(reached(s) for path in DOCUMENTS for s in python_sources(path)))
    assert set(nh.PUBLIC_MODULES) <= used


def test_the_parser_sees_every_way_of_reaching_into_the_package():
    source = ("import nstyle_helpers as nh\nfrom nstyle_helpers import checks, load_image\n"
              "from nstyle_helpers.core.images import resize\nimport nstyle_helpers.core.weights\n"
              "nh.images.resize(x)\nnh.load_image(p)\n")
    assert reached(source) == {"checks", "load_image", "core.images", "images", "core.weights"}


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'imagez'"):
        nh.imagez  # noqa: B018
