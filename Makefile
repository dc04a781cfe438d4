# The README's commands. `make run` and `make test` each set everything up first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup run test test-fast test-browser lab assignments gallery clean benchmark benchmark-quick

# pip resolves a matching torch/torchvision pair from requirements.txt (see the comment there).
$(STAMP): requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(PY) -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

## The main job: the Great Wave painted onto the Chicago skyline, written to outputs/.
run: $(STAMP)
	$(PY) -m nstyle_helpers transfer --content chicago --style great_wave

## Every test: package, command line and all notebooks under nbval (random weights, quick mode).
test: $(STAMP)
	$(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 --doctest-modules nstyle_helpers tests notebooks

## Only the package and command-line tests (no notebooks, no browser).
test-fast: $(STAMP)
	$(PY) -m pytest --doctest-modules -m "not browser" nstyle_helpers tests

## Only the browser tests: the widgets of notebooks 02 and 04 in JupyterLab, in chromium
## (`apt-get install chromium`); screenshots in test-artifacts/browser/.
test-browser: $(STAMP)
	$(PY) -m pytest -m browser tests/test_browser.py

## Regenerate the student versions of the assignments (notebooks/assignments/release/).
assignments: $(STAMP)
	$(PY) -m nstyle_helpers.classroom build

## Time to quality against the PyTorch tutorial's own algorithm (benchmarks/peer.py: 2 and 1
## threads, both layer sets, 256 and 384 px, 3 repetitions, 3 perturbed starts: hours on a
## 2-core CPU), the user's whole job against it (benchmarks/job.py), then one evaluation,
## batched sweeps and the GPU targets (benchmarks/run.py). On the shared real-feature weights
## where they exist. Not part of `make test`; writes benchmarks/results/peer-cpu.md,
## job-cpu.md and <device>.md.
benchmark: $(STAMP)
	$(PY) benchmarks/peer.py --starts 3
	$(PY) benchmarks/job.py
	$(PY) benchmarks/run.py --threads 2

## The peer comparison for both layer sets and both thread counts at 256 px, one repetition
## (15.9-23.2 min measured on quiet 2-core CPUs, random weights; see docs/DEVELOPING.md), into
## benchmarks/results/quick/ so that it never replaces the three-repetition results.
benchmark-quick: $(STAMP)
	$(PY) benchmarks/peer.py --sizes 256 --reps 1 --output benchmarks/results/quick

## The gallery: headline pictures on real ImageNet features, into docs/gallery/ (17 min
## measured on a 2-core CPU; see docs/gallery/make_gallery.py for the weights it uses).
gallery: $(STAMP)
	$(PY) docs/gallery/make_gallery.py

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) outputs .pytest_cache
