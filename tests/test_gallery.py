"""docs/gallery/make_gallery.py: every figure rendered (quick mode, random weights, into a
temporary folder), and the real gallery refused for pictures that are not results."""

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

SCRIPT = Path(__file__).resolve().parent.parent / "docs" / "gallery" / "make_gallery.py"
FIGURES = ("headline", "fig1_content", "fig1_style", "fig3_grid", "controls")


def _run(*args, **env):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)


def test_renders_every_figure_and_an_index_that_names_the_weights(tmp_path):
    done = _run("--output", str(tmp_path), NSTYLE_QUICK="1", NSTYLE_WEIGHTS="random")
    assert done.returncode == 0, done.stderr
    for name in FIGURES:
        with Image.open(tmp_path / f"{name}.png") as picture:
            assert min(picture.size) > 100, name
    index = (tmp_path / "README.md").read_text()
    assert "RANDOM WEIGHTS" in index
    assert all(f"({name}.png)" in index for name in FIGURES)


def test_refuses_random_weights_or_quick_mode_for_the_real_gallery(tmp_path):
    before = sorted(p.name for p in SCRIPT.parent.iterdir())
    for env in ({"NSTYLE_WEIGHTS": "random"}, {"NSTYLE_QUICK": "1"}):
        done = _run(**env)
        assert done.returncode == 2
        assert "docs/gallery/ holds real pictures only" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in SCRIPT.parent.iterdir()) == before
