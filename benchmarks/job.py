"""Benchmark: the user's whole job against the PyTorch tutorial's algorithm, to the same loss.

    .venv/bin/python benchmarks/job.py                      # 384 px, 300 steps, 2 threads
    .venv/bin/python benchmarks/job.py --size 256 --threads 1 --load

``make run`` paints the Great Wave onto Chicago at 384 px in 300 L-BFGS steps (the CPU
defaults, :mod:`nstyle_helpers.core.defaults`). This script times that job as the library runs it
(``style_transfer`` with the defaults and the paper's layers; model building included, image
files not, which both sides would read and write alike), takes the tutorial's own loss of the
image it returns, and then times the tutorial's algorithm (:mod:`tutorial`, as published and
with frozen weights) from the same content image until its loss is at or below that one, for
at most twice the job's steps in evaluations. Ratio = tutorial time / job time: above 1 the
user's job is faster to the same quality.

Both sides minimise the same function on the same weights, chosen as in :mod:`peer` (the
shared real-feature file at torchvision's activation scale by default, with the tutorial's
balance: what a user of torchvision's VGG19 runs). Results accumulate in
``benchmarks/results/job-cpu.json`` and ``.md``; a configuration measured again (CPU, weights,
threads, load, size, steps) replaces its older result. Ctrl-C or SIGTERM stops the script
(exit status 130) and writes nothing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from machine import busy_processes, cpu_name, run_stoppable  # noqa: E402
from peer import (FROZEN, TUTORIAL, Problem, Weights, add_weights_options,  # noqa: E402
                  check_weights_options)

import nstyle_helpers as ns  # noqa: E402
from nstyle_helpers.core.defaults import CPU_SIZE, CPU_STEPS  # noqa: E402
from nstyle_helpers.transfer import TransferConfig, style_transfer  # noqa: E402
from nstyle_helpers.core.weights import RandomWeightsWarning  # noqa: E402


def time_job(problem: Problem, steps: int) -> dict:
    """The job's seconds, evaluations and the tutorial's loss of its image; then each
    tutorial's time to that loss (``reached`` False: not within 2 × ``steps`` evaluations)."""
    config = TransferConfig(content_layer=problem.content_layer,
                            style_layers=problem.style_layers, steps=steps,
                            weights=problem.weights.source, balance="tutorial")
    start = time.perf_counter()
    result = style_transfer(problem.content, problem.style, config, progress=False)
    seconds = time.perf_counter() - start
    loss = problem.tutorial_loss(result.image)
    tutorials = {}
    for name, frozen in ((TUTORIAL, False), (FROZEN, True)):
        built, run = problem.tutorial(frozen=frozen, target=loss, num_steps=2 * steps)
        tutorials[name] = {"seconds": built + run.elapsed[-1], "evaluations": run.evaluations,
                           "reached": min(run.losses) <= loss, "best": min(run.losses)}
    return {"seconds": seconds, "evaluations": result.evaluations, "loss": loss,
            "tutorials": tutorials}


def markdown(runs: list[dict]) -> str:
    lines = ["# The user's whole job against the PyTorch tutorial's algorithm", "",
             "The job: `style_transfer` with the CPU defaults (the paper's layers, L-BFGS, the "
             "steps below) on Chicago and the Great Wave, model building included. The "
             "tutorial: its algorithm from the content image until its own loss is at or "
             "below that of the job's image (at most twice the steps in evaluations). Ratio: "
             "the tutorial's time / the job's; above 1 the job is faster. Load: the 1-minute "
             "load average before → after, the benchmark's own threads included.", "",
             "| CPU | date | weights | threads | load | size | steps | job: time, evaluations "
             "| tutorial (published): time, evaluations, ratio | frozen: time, evaluations, "
             "ratio |", "|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        m, env = run["measurement"], run["environment"]
        cells = []
        for name in (TUTORIAL, FROZEN):
            t = m["tutorials"][name]
            cells.append(f"{t['seconds']:.0f} s, {t['evaluations']}, ×"
                         f"{t['seconds'] / m['seconds']:.2f}" if t["reached"] else
                         f"not reached in {t['evaluations']} (best {t['best']:.5g})")
        lines.append(f"| {env['cpu']} | {env['date'][:10]} | {env['weights']} | {m['threads']} "
                     f"| {'busy' if m['loaded'] else 'quiet'} ({m['load_before']:.1f}→"
                     f"{m['load_after']:.1f}) | {m['size']} | {m['steps']} | "
                     f"{m['seconds']:.0f} s, {m['evaluations']} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def _key(run: dict) -> tuple:
    m = run["measurement"]
    return (run["environment"]["cpu"], run["environment"]["weights"], m["threads"],
            m["loaded"], m["size"], m["steps"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=CPU_SIZE,
                        help=f"longer side in px (default {CPU_SIZE}, make run's)")
    parser.add_argument("--steps", type=int, default=CPU_STEPS,
                        help=f"the job's L-BFGS steps (default {CPU_STEPS}, make run's)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--load", action="store_true",
                        help="keep every core busy with another process meanwhile")
    add_weights_options(parser)
    parser.add_argument("--output", default=str(HERE / "results"), help="results folder")
    args = parser.parse_args(argv)
    check_weights_options(parser, args)
    warnings.simplefilter("ignore", RandomWeightsWarning)
    for variable in ("NSTYLE_PRECISION", "NSTYLE_WINOGRAD", "NSTYLE_DEVICE"):
        os.environ.pop(variable, None)  # the defaults, as a user gets them
    torch.set_num_threads(args.threads)
    busy = busy_processes(os.cpu_count() or 1) if args.load else []
    with tempfile.TemporaryDirectory(prefix="nstyle-job-") as scratch:
        try:
            weights = Weights(args.weights, args.activation_scale, Path(scratch))
            load_before = os.getloadavg()[0]
            problem = Problem("paper", args.size, args.steps, weights)
            measured = time_job(problem, args.steps)
        finally:
            for process in busy:
                process.kill()
    measured.update(threads=args.threads, loaded=args.load, size=problem.size,
                    steps=args.steps, load_before=load_before, load_after=os.getloadavg()[0])
    report = {"environment": {
        "cpu": cpu_name(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "python": platform.python_version(), "weights": weights.label,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["benchmarks/job.py", *(argv if argv is not None else sys.argv[1:])]),
    }, "measurement": measured}
    print(markdown([report]).splitlines()[-1], flush=True)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "job-cpu.json"
    runs = [run for run in (json.loads(path.read_text()) if path.exists() else [])
            if _key(run) != _key(report)] + [report]
    path.write_text(json.dumps(runs, indent=2) + "\n")
    (out / "job-cpu.md").write_text(markdown(runs))
    return 0


if __name__ == "__main__":
    sys.exit(run_stoppable(main))
