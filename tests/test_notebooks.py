"""The notebooks as files: kernel, committed outputs, the session cell, licences.

nbval runs the notebooks themselves (see the README's test command); this module checks what
is committed. Every tutorial notebook is committed *with* its outputs, executed top to bottom
in full mode, so it teaches on GitHub: 00 and 01 need no pretrained weights; 02 to 05 were
executed with the real ImageNet features of ``../shared/weights/`` (VGG16 in VGG19's layout),
and must say so and credit VGG16's authors. Outputs from quick mode or random weights fail.
"""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: The notebooks whose pictures depend on the weights: executed with the real-feature file.
REAL_FEATURES = ("02_", "03_", "04_", "05_")
#: A notebook file stays small enough to open on GitHub: its figures are PNGs of noisy
#: pictures, which compress badly (04, the largest, is about 5 MB).
MAX_NOTEBOOK_BYTES = 6_000_000
#: The real-feature weights file (../shared/weights/SOURCES.md).
REAL_WEIGHTS_FILE = "vgg19_layout_imagenet_vgg16.pth"


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _ids(paths):
    return [path.name for path in paths]


def test_the_first_notebooks_exist():
    names = [path.name for path in NOTEBOOKS]
    for expected in ("00_images_as_tensors.ipynb", "01_pixel_reconstruction.ipynb",
                     "02_content_reconstruction.ipynb"):
        assert expected in names


def test_notebooks_are_numbered():
    for path in NOTEBOOKS:
        assert re.match(r"^\d\d_[a-z0-9_]+\.ipynb$", path.name), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_valid_nbformat_4_with_python3_kernel(path):
    notebook = _read(path)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_first_code_cell_describes_the_session(path):
    first = _code_cells(_read(path))[0]
    assert "describe_session(" in first.source
    assert "print(" in first.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_starts_with_markdown_and_ends_with_exercises(path):
    notebook = _read(path)
    assert notebook.cells[0].cell_type == "markdown"
    assert notebook.cells[0].source.startswith("# ")
    assert "exercise" in notebook.cells[-1].source.lower()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_sizes_and_steps_come_from_lessons(path):
    # One place for them (nstyle_helpers/teaching/lessons.py), which the header's cost table states
    # (tests/test_lessons.py); quick mode switches them there.
    sources = "\n".join(cell.source for cell in _code_cells(_read(path)))
    assert f'lessons.settings("{path.name[:2]}", device)' in sources
    assert "quick_or(" not in sources, f"{path.name}: read settings from lessons.settings"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebooks_use_the_public_api(path):
    # nh.* and the teaching modules imported as modules, never a helper deep inside.
    sources = "\n".join(cell.source for cell in _code_cells(_read(path)))
    assert not re.search(r"from nstyle_helpers\.\w+ import", sources), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_published_notebooks_carry_their_outputs(path):
    cells = _code_cells(_read(path))
    assert all(cell.execution_count is not None for cell in cells), (
        f"{path.name} is committed with outputs: execute it in full mode "
        "(without NSTYLE_QUICK) with jupyter nbconvert --execute --inplace.")
    counts = [cell.execution_count for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), "execute the notebook top to bottom once"
    outputs = [output for cell in cells for output in cell.outputs]
    assert any(output.get("output_type") in ("display_data", "execute_result")
               and "image/png" in output.get("data", {}) for output in outputs)
    assert not any(output.get("output_type") == "error" for output in outputs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_files_stay_small(path):
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES, (
        f"{path.name} is {path.stat().st_size / 1e6:.1f} MB: show fewer or smaller figures "
        "(e.g. snapshot_movie(size=..., max_frames=...)).")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_outputs_are_from_full_mode(path):
    text = "\n".join(_output_text(cell) for cell in _code_cells(_read(path)))
    assert "QUICK MODE" not in text, f"{path.name} was executed in quick mode"
    assert "WEIGHTS: RANDOM" not in text, f"{path.name} was executed with random weights"


REAL = [path for path in NOTEBOOKS if path.name.startswith(REAL_FEATURES)]


@pytest.mark.parametrize("path", REAL, ids=_ids(REAL))
def test_real_feature_outputs_name_their_weights_and_credit_vgg16(path):
    notebook = _read(path)
    session = _output_text(_code_cells(notebook)[0])
    assert f"weights: {REAL_WEIGHTS_FILE}" in session or f"/{REAL_WEIGHTS_FILE}" in session, (
        f"{path.name} was not executed with NSTYLE_WEIGHTS=.../{REAL_WEIGHTS_FILE}")
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "Simonyan & Zisserman" in text and REAL_WEIGHTS_FILE in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_notebooks_never_show_the_chicago_photo(path):
    # Its licence is unknown: it may be downloaded and used, never redistributed.
    sources = "\n".join(cell.source for cell in _code_cells(_read(path)))
    assert "chicago" not in sources.lower()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_outputs_leak_no_local_paths(path):
    text = "\n".join(_output_text(cell) for cell in _code_cells(_read(path)))
    for marker in ("/home/", "/root/", "/Users/", "/work/", "site-packages", "C:\\"):
        assert marker not in text, f"{path.name}'s outputs mention {marker!r}"


def _output_text(cell) -> str:
    parts = []
    for output in cell.outputs:
        if "text" in output:
            parts.append(output["text"])
        for key in ("text/plain", "text/html"):
            if key in output.get("data", {}):
                parts.append(output["data"][key])
        parts.extend(output.get("traceback", []))
    return "\n".join(parts)


FIRST_CELLS = [*NOTEBOOKS, *sorted((NOTEBOOK_DIR / "assignments").glob("*.ipynb"))]


@pytest.mark.parametrize("path", FIRST_CELLS, ids=_ids(FIRST_CELLS))
def test_the_first_cell_says_how_to_install_the_package_when_it_is_missing(path, tmp_path):
    # Run the first cell's check where nstyle_helpers cannot be imported (python -S, outside
    # the repository: no site-packages, no checkout): one sentence naming the %pip command,
    # not a bare ModuleNotFoundError.
    source = _code_cells(_read(path))[0].source
    check = source.split("\n\n")[0] + "\n\n" + source.split("\n\n")[1]
    assert "find_spec(\"nstyle_helpers\")" in check
    done = subprocess.run([sys.executable, "-S", "-c", check], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: nstyle_helpers is not installed for this "
                           "kernel: run %pip install -e ..")
    assert "restart the kernel" in last
