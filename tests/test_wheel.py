"""The package as a wheel, installed outside the repository, used from an empty folder.

``pip install`` from a URL or an index (Colab, say) gets the wheel alone: no ``images/``
beside it. The wheel must carry the example manifest, and cache the example images in the
user's cache folder. Offline, as CI is: the images are put into that cache folder first,
as ``.ci/run`` puts them into ``images/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, SHARED_IMAGES


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """The wheel built from the repository and installed into a folder of its own."""
    root = tmp_path_factory.mktemp("wheel")
    # Built from a copy of what the sdist holds, so setuptools' build/ stays out of the checkout.
    source = root / "source"
    shutil.copytree(REPO / "nstyle_helpers", source / "nstyle_helpers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", root / "dist",
                    source], check=True, timeout=300)
    (wheel,) = (root / "dist").glob("nstyle_helpers-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", root / "site", wheel],
                   check=True, timeout=300)
    cache = root / "cache"
    (cache / "nstyle" / "images").mkdir(parents=True)
    for image in SHARED_IMAGES.glob("*.jpg"):
        shutil.copy(image, cache / "nstyle" / "images" / image.name)
    (root / "empty").mkdir()
    env = {**os.environ, "PYTHONPATH": str(root / "site"), "XDG_CACHE_HOME": str(cache),
           "NSTYLE_WEIGHTS": "random", "TQDM_DISABLE": "1"}
    env.pop("NSTYLE_IMAGE_DIR", None)
    return {"root": root, "env": env, "wheel": wheel}


def _python(installed, *args: str):
    return subprocess.run([sys.executable, *args], cwd=installed["root"] / "empty",
                          env=installed["env"], capture_output=True, text=True, timeout=300)


def test_the_wheel_holds_the_manifest(installed):
    import zipfile

    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert "nstyle_helpers/core/example_images.json" in names
    assert not any(name.startswith(("images/", "tests/", "notebooks/")) for name in names)


def test_the_installed_package_finds_its_examples_in_the_users_cache(installed):
    done = _python(installed, "-c", "import nstyle_helpers as nh; print(nh.__file__); "
                   "print(nh.example_image_path('tubingen', progress=False))")
    assert done.returncode == 0, done.stderr
    package, image = done.stdout.split()
    assert Path(package).parent == installed["root"] / "site" / "nstyle_helpers"
    assert Path(image) == Path(installed["env"]["XDG_CACHE_HOME"]) / "nstyle" / "images" / \
        "tubingen.jpg"


def test_the_installed_command_runs_the_main_job_from_an_empty_folder(installed):
    done = _python(installed, "-m", "nstyle_helpers", "transfer", "--size", "32", "--steps",
                   "2", "-q")
    assert done.returncode == 0, done.stderr
    assert (installed["root"] / "empty" / "outputs" / "chicago_great_wave.png").is_file()


def test_notebook_00_runs_on_the_installed_wheel_from_a_folder_of_its_own(installed):
    # A student who installed the wheel and downloaded one notebook: the kernel imports the
    # wheel's package (PYTHONPATH), the examples come from the user's cache, quick mode.
    folder = installed["root"] / "notebook"
    folder.mkdir()
    shutil.copy(REPO / "notebooks" / "00_images_as_tensors.ipynb", folder)
    script = ("import nbformat, sys; from nbclient import NotebookClient; "
              "nb = nbformat.read('00_images_as_tensors.ipynb', as_version=4); "
              "nb.cells.append(nbformat.v4.new_code_cell("
              "'import nstyle_helpers; print(nstyle_helpers.__file__)')); "
              "NotebookClient(nb, timeout=600, kernel_name='python3', "
              "resources={'metadata': {'path': '.'}}).execute(); "
              "print(nb.cells[-1].outputs[0]['text'])")
    done = subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True,
                          text=True, timeout=900, env={**installed["env"], "NSTYLE_QUICK": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert str(installed["root"] / "site" / "nstyle_helpers") in done.stdout
