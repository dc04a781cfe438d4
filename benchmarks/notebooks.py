"""Time each tutorial notebook as a student runs it: nbclient, top to bottom, kernel start included.

    .venv/bin/python benchmarks/notebooks.py --mode quick            # NSTYLE_QUICK=1
    .venv/bin/python benchmarks/notebooks.py --mode full --load      # while 2 busy processes run
    .venv/bin/python benchmarks/notebooks.py --mode full --publish --notebooks 03 \
        --weights ../shared/weights/vgg19_layout_imagenet_vgg16.pth   # the committed figures

Random VGG19 weights (``NSTYLE_WEIGHTS=random``) unless ``--weights`` names a file: the cost
of a step does not depend on the weights' values, and each row records which weights it ran
with (the README quotes the runs with the real-feature file, which made the figures). ``--load`` starts one busy-looping process per core for the
whole measurement (what a student's laptop with a browser and a video call looks like to the
notebook). Each run appends its rows to ``benchmarks/results/notebooks.json`` and rewrites
``notebooks.md`` from all rows. ``--publish`` also writes each executed notebook back with
its outputs: the figures a reader sees on GitHub, so only from a real-feature file and a quiet
machine (the printed seconds are in the outputs). ``--update-headers`` (alone) writes the
latest measurement of each notebook, mode and load into the time columns of its header's cost
table, a real-feature row before any random-weight one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import busy_processes, cpu_name  # noqa: E402  (benchmarks/machine.py, beside this)

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("0[0-5]_*.ipynb"))
RESULTS = REPO / "benchmarks" / "results"


def run_notebook(path: Path, timeout: int) -> tuple[nbformat.NotebookNode, float]:
    """The executed notebook at ``path`` and the seconds its kernel start and cells took."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return notebook, time.perf_counter() - start


def publish(notebook: nbformat.NotebookNode, path: Path) -> None:
    """Write an executed notebook in the committed form: no per-cell timestamps, no widget
    state (a reader's Jupyter rebuilds the widgets), no local Python version."""
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    notebook.metadata.pop("widgets", None)
    notebook.metadata["language_info"] = {"name": "python"}
    nbformat.write(notebook, path)


def write_markdown(rows: list[dict]) -> None:
    lines = ["# Notebook run times", "",
             "Measured by `benchmarks/notebooks.py`: nbclient, kernel start included, on the "
             "development machine (2-core CPU, no GPU), with the VGG19 weights named in each row "
             "(`random` where the row predates the column). *Loaded*: one busy-looping process "
             "per core ran throughout.", "",
             "| notebook | mode | machine | weights | seconds | date | torch | "
             "load average before |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['notebook']} | {row['mode']} | "
                     f"{'loaded' if row['loaded'] else 'quiet'} | "
                     f"{row.get('weights', 'random')} | {row['seconds']:.0f} | "
                     f"{row['date']} | {row['torch']} | {row['loadavg']:.2f} |")
    (RESULTS / "notebooks.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def update_headers(rows: list[dict]) -> None:
    """Put the latest time of each (notebook, mode, load) into its header's cost table: the
    CPU row takes full mode, the quick-mode row quick mode; columns "time, quiet machine"
    and "time, both cores busy"."""
    # The cost of a step does not depend on the weights' values, but the settings changed
    # when the real-feature file arrived: its rows time what the notebooks run now.
    real_last = sorted(rows, key=lambda r: r.get("weights", "random") != "random")
    latest = {(r["notebook"], r["mode"], r["loaded"]): r["seconds"] for r in real_last}
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        header = notebook.cells[0]
        lines = header.source.split("\n")
        columns = next(line for line in lines if line.startswith("| where")).split("|")
        quiet = columns.index(" time, quiet machine ")
        busy = columns.index(" time, both cores busy ")
        for i, line in enumerate(lines):
            mode = ("full" if line.startswith("| CPU") else
                    "quick" if line.startswith("| quick mode") else None)
            if mode is None:
                continue
            cells = line.split("|")
            for column, loaded in ((quiet, False), (busy, True)):
                seconds = latest.get((path.stem, mode, loaded))
                if seconds is not None:
                    cells[column] = f" {_minutes(seconds)} "
            lines[i] = "|".join(cells)
        header.source = "\n".join(lines)
        nbformat.write(notebook, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("quick", "full"))
    parser.add_argument("--update-headers", action="store_true",
                        help="write the stored times into the notebooks' cost tables")
    parser.add_argument("--load", action="store_true", help="keep every core busy meanwhile")
    parser.add_argument("--notebooks", nargs="*", default=None,
                        help="numbers to run, e.g. 02 04 (default: 00-05)")
    parser.add_argument("--weights", default="random", help="NSTYLE_WEIGHTS (default random)")
    parser.add_argument("--publish", action="store_true",
                        help="write the executed notebooks back with their outputs")
    parser.add_argument("--timeout", type=int, default=1800, help="per cell, in seconds")
    args = parser.parse_args(argv)
    weights = Path(args.weights)
    if args.publish and (args.load or args.mode != "full" or not weights.is_file()):
        parser.error("--publish commits what a reader sees: give --mode full, no --load, and "
                     "--weights with the real-feature file")
    store = RESULTS / "notebooks.json"
    if args.update_headers:
        update_headers(json.loads(store.read_text()))
        return 0
    if args.mode is None:
        parser.error("give --mode quick or --mode full (or --update-headers)")
    # Relative to the notebooks' folder, where the kernel runs (and as the outputs show it).
    os.environ["NSTYLE_WEIGHTS"] = (os.path.relpath(weights.resolve(), NOTEBOOKS[0].parent)
                                    if weights.is_file() else args.weights)
    os.environ.pop("NSTYLE_QUICK", None)
    if args.mode == "quick":
        os.environ["NSTYLE_QUICK"] = "1"
    chosen = [p for p in NOTEBOOKS if args.notebooks is None or p.name[:2] in args.notebooks]
    import torch

    rows = json.loads(store.read_text()) if store.exists() else []
    load = busy_processes(os.cpu_count() or 2) if args.load else []
    try:
        for path in chosen:
            loadavg = os.getloadavg()[0]
            notebook, seconds = run_notebook(path, args.timeout)
            if args.publish:
                publish(notebook, path)
            row = {"notebook": path.stem, "mode": args.mode, "loaded": args.load,
                   "seconds": seconds, "date": date.today().isoformat(),
                   "torch": torch.__version__, "loadavg": loadavg,
                   "cpu": cpu_name(), "weights": Path(args.weights).name}
            rows.append(row)
            print(f"{path.stem}: {args.mode} mode, {'loaded' if args.load else 'quiet'}: "
                  f"{seconds:.0f} s", flush=True)
            store.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
            write_markdown(rows)
    finally:
        for process in load:
            process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
