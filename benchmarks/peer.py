"""Benchmark: time to quality against the PyTorch tutorial, in the conditions users have.

    .venv/bin/python benchmarks/peer.py                # 2 and 1 threads, both layer sets,
                                                       # 256 and 384 px, 3 repetitions: hours
    .venv/bin/python benchmarks/peer.py --sizes 256 --reps 1 --output benchmarks/results/quick
                                                       # make benchmark-quick (16-23 min
                                                       # on random weights)
    .venv/bin/python benchmarks/peer.py --threads 2 --load     # two busy processes meanwhile
    .venv/bin/python benchmarks/peer.py --threads 2 --sizes 256 --starts 5  # + perturbed starts
    .venv/bin/python benchmarks/peer.py --threads 2 --sizes 256 --bfloat16  # + the opt-in
    .venv/bin/python benchmarks/peer.py --threads 2 --sizes 384 --layers paper --reps 1 \
        --content tubingen --pictures benchmarks/results     # + both sides' pictures

For each (threads, layer set, size) it

1. runs the tutorial's algorithm (:mod:`tutorial`) once to its end (320 evaluations) and takes
   as the **target** the lowest loss among its first 300 evaluations, and the evaluation at
   which it got there;
2. then, in ``--reps`` interleaved rounds, times three runs from the content image until
   their best loss is at or below the target: the tutorial as published (weights trainable),
   the tutorial with frozen weights (its later versions; its first repetition is read off the
   run of step 1, which a run stopped at the target repeats), and the project's default path
   (``style_transfer`` with the same layers; its default α, β and w_l are the tutorial's
   weights converted exactly, so both minimise the same function); with ``--bfloat16``, a
   fourth: the project with ``NSTYLE_PRECISION=bfloat16`` (opt-in; only on a CPU with native
   bfloat16, which elsewhere is emulated and dozens of times slower);
3. reports medians and ranges of the wall time (model building included on both sides), the
   evaluations, seconds per evaluation, and whether the project's repeated runs gave
   bit-identical loss sequences;
4. with ``--starts K``, counts the evaluations the frozen tutorial and the project need to
   reach the same target from K perturbed starts: the content image plus uniform noise within
   half an 8-bit level (the same picture, as another decoder could give it). L-BFGS without a
   line search amplifies rounding, so the count from one start is one sample of a chaotic
   process (the thread count alone moves the tutorial's from 75 to 86); the median over
   starts says which optimiser is the more evaluation-efficient.
5. with ``--pictures FOLDER``, writes the tutorial's image at its target beside the project's
   at the same loss (``side-by-side-CONTENT-LAYERS-SIZE.png``): equal loss should look equal.
   ``--content tubingen`` runs on Tübingen, whose licence lets those pictures be committed
   (Chicago's does not).

Ratio = tutorial time / project time: above 1 means the project is faster. **Weights**
(``--weights``): by default the shared real-feature file ``../shared/weights/
vgg19_layout_imagenet_vgg16.pth`` where it exists (the ImageNet VGG16 of Simonyan & Zisserman
in VGG19's layer names, read its SOURCES.md), else ``$NSTYLE_WEIGHTS``, else seeded random
weights, named as such in every row. Both sides load the same state dict. The tutorial's
weights 10⁶ and 1 were chosen for torchvision's activation scale; a Caffe-trained file's
activations are about 200 times larger, and at that scale the tutorial's function is all
style. So a file's activations are multiplied by ``--activation-scale`` (default 1/200; the
first convolution's weights and every bias scaled, which ReLU and max pooling pass through
exactly): the function a torchvision user minimises, on real features. Results accumulate in
``benchmarks/results/peer-cpu.json`` and ``.md`` (one section per run of this script, real
features first; a configuration measured again on the same CPU, weights and content image
replaces its older result), with the load average before and after every configuration.
Ctrl-C or SIGTERM stops the whole script (exit status 130), kills the busy processes and
writes nothing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
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
from tutorial import (TUTORIAL_CONTENT_LAYER, TUTORIAL_STYLE_LAYERS,  # noqa: E402
                      TutorialRun, build_tutorial_model, run_tutorial)

import nstyle_helpers as ns  # noqa: E402
from nstyle_helpers.accel.acceleration import PRECISION_ENV, native_bfloat16  # noqa: E402
from nstyle_helpers.core.features import CONTENT_LAYER, STYLE_LAYERS, VGG19Features  # noqa: E402
from nstyle_helpers.core.images import resize  # noqa: E402
from nstyle_helpers.transfer import TransferConfig, style_transfer  # noqa: E402
from nstyle_helpers.core.weights import RandomWeightsWarning  # noqa: E402

LAYER_SETS = {
    "tutorial": (TUTORIAL_CONTENT_LAYER, TUTORIAL_STYLE_LAYERS),
    "paper": (CONTENT_LAYER, STYLE_LAYERS),
}
SHARED_WEIGHTS = HERE.parent.parent / "shared" / "weights" / "vgg19_layout_imagenet_vgg16.pth"
RANDOM_LABEL = "random weights (seeded, shared)"
TUTORIAL, FROZEN, PROJECT = "tutorial (published)", "tutorial, frozen weights", "nstyle"
BFLOAT16 = "nstyle, bfloat16 (opt-in)"


#: The content images a comparison can run on: Chicago (the command line's), or Tübingen,
#: whose licence lets its pictures be committed (``--pictures``).
CONTENTS = ("chicago", "tubingen")


def load_pair(size: int, content: str = "chicago") -> tuple[torch.Tensor, torch.Tensor]:
    """The content image at longer side ``size`` and the Great Wave resized to its H×W (the
    tutorial resizes both images to one size). Unlike ``run.load_pair`` there is no synthetic
    stand-in: the comparison with the tutorial is only meaningful on the example images."""
    content = ns.load_image(ns.example_image_path(content), size=size)
    style = ns.load_image(ns.example_image_path("great_wave"), size=size)
    return content, resize(style, tuple(content.shape[-2:]))


class Weights:
    """The network both sides use: ``"random"`` (seeded) or a VGG19 ``features`` state dict
    file with its activations multiplied by ``scale``, written to ``folder`` as one file both
    the tutorial (:attr:`state`) and the project (:attr:`source`) read."""

    def __init__(self, source: str, scale: float, folder: Path):
        self.name, self.scale = ("random", 1.0) if source == "random" else (
            Path(source).name, scale)
        # The project's seeded random initialisation builds the same convolutions every time.
        state = VGG19Features(["pool5"], weights=source, progress=False).body.state_dict()
        self.state = scaled_activations(state, self.scale)
        self.source = "random"
        if source != "random":
            self.source = str(folder / "peer-weights.pth")
            torch.save(self.state, self.source)

    @property
    def label(self) -> str:
        if self.name == "random":
            return RANDOM_LABEL
        shared = self.name == SHARED_WEIGHTS.name  # only the shared file is known to be VGG16
        credit = " (ImageNet VGG16, Simonyan & Zisserman)" if shared else ""
        return f"{self.name}{credit}, activations ×{self.scale:g}"


def scaled_activations(state: dict, scale: float) -> dict:
    """VGG ``features`` weights whose every activation is ``scale`` (> 0) times the original:
    the first convolution's weights and every bias multiplied by it. ReLU and max pooling
    commute with a positive factor, and every later convolution is linear in its input."""
    first = min((k for k in state if k.endswith(".weight")), key=lambda k: int(k.split(".")[0]))
    return {k: v * scale if k == first or k.endswith(".bias") else v for k, v in state.items()}


class Problem:
    """One (layer set, size): the images, the shared weights and the target."""

    def __init__(self, layer_set: str, size: int, evaluations: int, weights: Weights,
                 content: str = "chicago"):
        self.layer_set, self.content_name = layer_set, content
        self.content_layer, self.style_layers = LAYER_SETS[layer_set]
        self.content, self.style = load_pair(size, content)
        self.evaluations = evaluations
        self.weights = weights
        self.state = weights.state
        self.judge = self.build_tutorial()  # the tutorial's loss of the images nstyle returns
        self.target = self.target_evaluations = self.frozen_time = None

    @property
    def size(self) -> str:
        h, w = self.content.shape[-2:]
        return f"{w}x{h}"

    def build_tutorial(self):
        return build_tutorial_model(self.state, self.content, self.style,
                                    content_layer=self.content_layer,
                                    style_layers=self.style_layers)

    def tutorial(self, *, frozen: bool, target: float | None = None,
                 init: torch.Tensor | None = None,
                 num_steps: int = 300) -> tuple[float, TutorialRun]:
        """The seconds the tutorial's model took to build (they count towards its time, as
        the project's set-up does towards the project's) and the run."""
        start = time.perf_counter()
        model = self.build_tutorial()
        built = time.perf_counter() - start
        return built, run_tutorial(model, self.content if init is None else init,
                                   num_steps=num_steps, frozen=frozen, target=target)

    def find_target(self) -> None:
        # Frozen or not, the tutorial computes the same image gradients (tested), so its
        # faster frozen form finds the target.
        built, run = self.tutorial(frozen=True)
        first = run.losses[: self.evaluations]
        self.target = min(first)
        self.target_evaluations = first.index(self.target) + 1
        # The tutorial's runs are deterministic (tested): a frozen run stopped at the target
        # would repeat this one's first target_evaluations evaluations, so its time to the
        # target is read off here rather than run again (a fifth of benchmark-quick: DEVELOPING).
        self.frozen_time = built + run.elapsed[self.target_evaluations - 1]

    def tutorial_loss(self, image: torch.Tensor) -> float:
        """The tutorial's own loss of ``image``: the judge of whether a run got there."""
        with torch.no_grad():
            self.judge.model(image)
            return float(self.judge.loss())

    def project(self, init: torch.Tensor | None = None, precision: str | None = None):
        # At most twice the evaluations the target is taken from (600 by default): a run that
        # has not got there by then is reported as not reaching the target.
        # The tutorial balance: the tutorial's own function, whatever the weights.
        config = TransferConfig(content_layer=self.content_layer, style_layers=self.style_layers,
                                steps=2 * self.evaluations, weights=self.weights.source,
                                balance="tutorial")
        if precision:  # as a user asks for it: through the environment
            os.environ[PRECISION_ENV] = precision
        try:
            start = time.perf_counter()
            result = style_transfer(
                self.content, self.style, config, progress=False, init=init,
                callback=lambda p: float(p.losses["total"].sum()) <= self.target)
            seconds = time.perf_counter() - start
        finally:
            os.environ.pop(PRECISION_ENV, None)
        return seconds, result, self.tutorial_loss(result.image)

    def save_pictures(self, folder: Path) -> Path:
        """The tutorial's image at its target beside nstyle's at the same loss, so that equal
        loss can be seen to look equal; returns the PNG written."""
        _, tutorial = self.tutorial(frozen=True, target=self.target)
        _, result, loss = self.project()
        name = f"side-by-side-{self.content_name}-{self.layer_set}-{self.size}.png"
        pair = torch.cat([tutorial.image, result.image.clamp(0, 1)], dim=-1)
        folder.mkdir(parents=True, exist_ok=True)
        ns.save_image(pair[0], folder / name)
        print(f"wrote {folder / name}: left the tutorial after {tutorial.evaluations} "
              f"evaluations (its loss {min(tutorial.losses):.5g}), right nstyle after "
              f"{result.evaluations} (the tutorial's loss of it {loss:.5g})", flush=True)
        return folder / name

    def reached(self, tutorial_loss: float) -> bool:
        # Relative rounding 1e-5 allowed: the tutorial and the project sum in different orders.
        return tutorial_loss <= self.target * (1 + 1e-5)

    def from_starts(self, count: int) -> dict:
        """Evaluations to the target from ``count`` perturbed starts (None: not reached in
        twice the evaluations the target is taken from), frozen tutorial and project."""
        tutorial, project = [], []
        for seed in range(1, count + 1):
            start = perturbed(self.content, seed)
            _, run = self.tutorial(frozen=True, target=self.target, init=start,
                                   num_steps=2 * self.evaluations)
            tutorial.append(run.evaluations if min(run.losses) <= self.target else None)
            _, result, loss = self.project(init=start)
            project.append(result.evaluations if self.reached(loss) else None)
        return {"count": count, FROZEN: tutorial, PROJECT: project}

    def measure(self, reps: int, bfloat16: bool = False) -> dict:
        projects = {PROJECT: None, **({BFLOAT16: "bfloat16"} if bfloat16 else {})}
        times = {name: [] for name in (TUTORIAL, FROZEN, *projects)}
        evaluations = {name: [] for name in times}
        sequences = {name: [] for name in projects}
        judged = {name: [] for name in projects}
        for rep in range(reps):
            for name, frozen in ((TUTORIAL, False), (FROZEN, True)):
                if frozen and rep == 0:  # measured by find_target
                    times[name].append(self.frozen_time)
                    evaluations[name].append(self.target_evaluations)
                    continue
                built, run = self.tutorial(frozen=frozen, target=self.target)
                times[name].append(built + run.elapsed[-1])
                evaluations[name].append(run.evaluations)
            for name, precision in projects.items():
                seconds, result, loss = self.project(precision=precision)
                times[name].append(seconds)
                evaluations[name].append(result.evaluations)
                sequences[name].append(result.history["total"].sum(1).tolist())
                judged[name].append(loss)
        rows = []
        for name in times:
            median = statistics.median(times[name])
            evals = statistics.median(evaluations[name])
            rows.append({"variant": name, "seconds": times[name], "median_seconds": median,
                         "evaluations": evaluations[name], "seconds_per_evaluation":
                         median / evals, "ratio": statistics.median(times[TUTORIAL]) / median})
            if name in projects:
                # Reached when the tutorial's own loss of the image returned is at the target.
                rows[-1].update(reached=all(self.reached(loss) for loss in judged[name]),
                                final_tutorial_loss=judged[name],
                                identical_runs=all(s == sequences[name][0]
                                                   for s in sequences[name]))
        return {"layers": self.layer_set, "size": self.size, "target": self.target,
                "tutorial_evaluations_to_target": self.target_evaluations, "rows": rows}


def perturbed(image: torch.Tensor, seed: int) -> torch.Tensor:
    """``image`` plus seeded uniform noise within ±half an 8-bit level, clamped to [0, 1]."""
    noise = torch.rand(image.shape, generator=torch.Generator().manual_seed(seed)) - 0.5
    return (image + noise.to(image.device) / 255).clamp(0, 1)


def median_evaluations(counts: list[int | None]) -> float | None:
    """The median of evaluation counts where None (not reached) counts as more than any."""
    ordered = sorted(counts, key=lambda c: (c is None, c or 0))
    middle = [ordered[(len(ordered) - 1) // 2], ordered[len(ordered) // 2]]
    return None if None in middle else statistics.mean(middle)


def spread(values: list[float], unit: str = "s", digits: int = 1) -> str:
    """``median unit (low-high)``, or just the median when all values are equal."""
    low, high = min(values), max(values)
    median = statistics.median(values)
    if low == high:
        return f"{median:.{digits}f} {unit}".strip()
    return f"{median:.{digits}f} {unit} ({low:.{digits}f}-{high:.{digits}f})"


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"# Against the PyTorch tutorial: {env['cpu']}", "",
             f"- date: {env['date']}; torch {env['torch']}, Python {env['python']}; "
             f"{env['cpu_count']} cores; weights: {env.get('weights', RANDOM_LABEL)}",
             f"- command: `{env['command']}`; total time {env['total_seconds'] / 60:.0f} min",
             f"- content {env.get('content', 'chicago')}, style great_wave resized to it; "
             f"{env['reps']} interleaved "
             "repetitions; medians, ranges in brackets", "",
             "Target: the lowest loss of the tutorial's first 300 evaluations. Time: wall clock "
             "until a run's best loss is at or below it, model building included. Ratio: the "
             "published tutorial's median time / the variant's. Load: the 1-minute load "
             "average before → after each configuration, the benchmark's own threads included "
             "(busy: one more busy-looping process per core all along).", "",
             "| threads | load | layers | size | variant | time to target | evaluations | "
             "s / evaluation | ratio |", "|---|---|---|---|---|---|---|---:|---:|"]
    for m in report["measurements"]:
        load = (f"{'busy' if m['loaded'] else 'quiet'} "
                f"({m['load_before']:.1f}→{m['load_after']:.1f})")
        for r in m["rows"]:
            missed = not r.get("reached", True)  # only nstyle's rows can miss
            time_to = "not reached" if missed else spread(r["seconds"])
            ratio = "–" if missed else f"×{r['ratio']:.2f}"
            lines.append(f"| {m['threads']} | {load} | {m['layers']} | {m['size']} | "
                         f"{r['variant']} | {time_to} | "
                         f"{spread(r['evaluations'], '', 0)} | {r['seconds_per_evaluation']:.3f} | "
                         f"{ratio} |")
    lines += ["", "| threads | load | layers | size | tutorial's target (its evaluation) | "
              "nstyle reached it | nstyle's runs bit-identical |", "|---|---|---|---|---|---|---|"]
    for m in report["measurements"]:
        lines.append(f"| {m['threads']} | {'busy' if m['loaded'] else 'quiet'} | {m['layers']} | "
                     f"{m['size']} | {m['target']:.5g} ({m['tutorial_evaluations_to_target']}) | "
                     f"{yes(m, 'reached')} | {yes(m, 'identical_runs')} |")
    lines += starts_table(report)
    return "\n".join(lines) + "\n"


def yes(measurement: dict, key: str) -> str:
    """``yes``/``NO`` for nstyle's row, and for the bfloat16 row where it was measured."""
    answers = {r["variant"]: "yes" if r[key] else "NO"
               for r in measurement["rows"] if key in r}
    bfloat16 = f" (bfloat16: {answers[BFLOAT16]})" if BFLOAT16 in answers else ""
    return answers[PROJECT] + bfloat16


def starts_table(report: dict) -> list[str]:
    measured = [m for m in report["measurements"] if m.get("starts")]
    if not measured:
        return []
    lines = ["", "Perturbed starts (`--starts`): evaluations to the same target from the content "
             "image plus seeded noise within half an 8-bit level (capped at twice the "
             "evaluations the target is taken from, the tutorial at the end of its 20-evaluation "
             "step; –: not reached). Time ratio: the median evaluations times "
             "the measured seconds per evaluation, published tutorial / nstyle.", "",
             "| threads | load | layers | size | starts | tutorial, frozen: evaluations | "
             "nstyle: evaluations | time ratio |", "|---|---|---|---|---:|---|---|---:|"]
    for m in measured:
        per_evaluation = {r["variant"]: r["seconds_per_evaluation"] for r in m["rows"]}
        tutorial, project = (median_evaluations(m["starts"][k]) for k in (FROZEN, PROJECT))
        ratio = "–" if tutorial is None or project is None else \
            f"×{tutorial * per_evaluation[TUTORIAL] / (project * per_evaluation[PROJECT]):.2f}"
        lines.append(f"| {m['threads']} | {'busy' if m['loaded'] else 'quiet'} | {m['layers']} | "
                     f"{m['size']} | {m['starts']['count']} | {counts(m['starts'][FROZEN])} | "
                     f"{counts(m['starts'][PROJECT])} | {ratio} |")
    return lines


def counts(values: list[int | None]) -> str:
    """``median (each count)``, e.g. ``86 (75, 86, 135, –)``."""
    median = median_evaluations(values)
    each = ", ".join("–" if v is None else str(v) for v in values)
    return f"{'–' if median is None else f'{median:g}'} ({each})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="2,1", help="torch thread counts (default 2,1)")
    parser.add_argument("--layers", default="tutorial,paper",
                        help="layer sets: tutorial (conv1_1...conv3_1, content conv2_2) and/or "
                             "paper (relu1_1...relu5_1, content relu4_2)")
    parser.add_argument("--sizes", default="256,384", help="longer sides in px (default 256,384)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--evaluations", type=int, default=300,
                        help="the tutorial evaluations the target is taken from (default 300)")
    parser.add_argument("--starts", type=int, default=0,
                        help="also count evaluations from this many perturbed starts (default 0)")
    parser.add_argument("--load", action="store_true",
                        help="keep every core busy with another process meanwhile")
    parser.add_argument("--bfloat16", action="store_true",
                        help="also time the opt-in NSTYLE_PRECISION=bfloat16 (a CPU with "
                             "native bfloat16 only)")
    add_weights_options(parser)
    parser.add_argument("--content", choices=CONTENTS, default="chicago",
                        help="the content image (default chicago, the command line's)")
    parser.add_argument("--pictures", type=Path, metavar="FOLDER",
                        help="also write the tutorial's image at its target beside nstyle's "
                             "at the same loss, one PNG per layer set and size")
    parser.add_argument("--output", default=str(HERE / "results"), help="results folder")
    args = parser.parse_args(argv)
    check_weights_options(parser, args)
    if args.bfloat16 and not native_bfloat16("cpu"):
        parser.error("--bfloat16 needs a CPU with native bfloat16 (AVX512-BF16 or AMX); this "
                     "one would emulate it, dozens of times slower than float32. Leave it out.")
    warnings.simplefilter("ignore", RandomWeightsWarning)
    for variable in (PRECISION_ENV, "NSTYLE_WINOGRAD", "NSTYLE_DEVICE"):
        os.environ.pop(variable, None)  # the defaults, as a user gets them
    threads = [int(t) for t in args.threads.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    layer_sets = args.layers.split(",")
    start = time.perf_counter()
    report = {"environment": {
        "cpu": cpu_name(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "python": platform.python_version(), "reps": args.reps,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["benchmarks/peer.py", *(argv if argv is not None else sys.argv[1:])]),
        "content": args.content,
    }, "measurements": []}
    scratch = tempfile.TemporaryDirectory(prefix="nstyle-peer-")
    weights = Weights(args.weights, args.activation_scale, Path(scratch.name))
    report["environment"]["weights"] = weights.label
    busy = busy_processes(os.cpu_count() or 1) if args.load else []
    try:
        for count in threads:
            torch.set_num_threads(count)
            for layer_set in layer_sets:
                for size in sizes:
                    load_before = os.getloadavg()[0]
                    problem = Problem(layer_set, size, args.evaluations, weights, args.content)
                    problem.find_target()
                    measured = problem.measure(args.reps, bfloat16=args.bfloat16)
                    if args.starts:
                        measured["starts"] = problem.from_starts(args.starts)
                    measured.update(threads=count, loaded=args.load, load_before=load_before,
                                    load_after=os.getloadavg()[0])
                    report["measurements"].append(measured)
                    if args.pictures:
                        problem.save_pictures(args.pictures)
                    rows = {r["variant"]: r for r in measured["rows"]}
                    print(f"{count} thread(s), {layer_set} layers, {measured['size']}: target "
                          f"{measured['target']:.5g} at tutorial evaluation "
                          f"{measured['tutorial_evaluations_to_target']}; "
                          + "; ".join(f"{name} {spread(r['seconds'])}, "
                                      f"{spread(r['evaluations'], '', 0)} evaluations, "
                                      f"×{r['ratio']:.2f}" if r.get("reached", True) else
                                      f"{name} did NOT reach the target in "
                                      f"{2 * args.evaluations} evaluations"
                                      for name, r in rows.items())
                          + f"; identical runs: {yes(measured, 'identical_runs')}"
                          + (f"; from {args.starts} perturbed starts, evaluations: tutorial "
                             f"{counts(measured['starts'][FROZEN])}, nstyle "
                             f"{counts(measured['starts'][PROJECT])}" if args.starts else ""),
                          flush=True)
    finally:
        for process in busy:
            process.kill()
        scratch.cleanup()
    report["environment"]["total_seconds"] = time.perf_counter() - start
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "peer-cpu.json"
    runs = merge(json.loads(path.read_text()) if path.exists() else [], report)
    path.write_text(json.dumps(runs, indent=2) + "\n")
    (out / "peer-cpu.md").write_text("\n".join(markdown(run) for run in runs))
    print(f"wrote {out / 'peer-cpu.md'} ({report['environment']['total_seconds'] / 60:.1f} min)")
    return 0


def add_weights_options(parser: argparse.ArgumentParser) -> None:
    """``--weights`` and ``--activation-scale``, as this script and ``job.py`` take them."""
    parser.add_argument("--weights", default=default_weights(),
                        help="a VGG19 features state dict file or 'random' (default: the shared "
                             "real-feature file where it exists, else $NSTYLE_WEIGHTS, else "
                             f"random; here {default_weights()})")
    parser.add_argument("--activation-scale", type=float, default=1 / 200,
                        help="multiply a weights file's activations by this (default 1/200: "
                             "the shared Caffe-trained file at torchvision's scale)")


def check_weights_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.weights != "random" and not Path(args.weights).is_file():
        parser.error(f"--weights {args.weights}: no such file; give a VGG19 features state "
                     "dict or 'random'.")
    if not args.activation_scale > 0:
        parser.error("--activation-scale must be a positive number.")


def default_weights() -> str:
    if SHARED_WEIGHTS.is_file():
        return str(SHARED_WEIGHTS)
    return os.environ.get("NSTYLE_WEIGHTS") or "random"


def _weights(run: dict) -> str:
    return run["environment"].get("weights", RANDOM_LABEL)


def _key(run: dict, measurement: dict) -> tuple:
    return (run["environment"]["cpu"], _weights(run), run["environment"].get("content", "chicago"),
            measurement["threads"], measurement["loaded"], measurement["layers"],
            measurement["size"])


def merge(runs: list[dict], report: dict) -> list[dict]:
    """The stored runs with ``report`` added: a configuration measured again (CPU and its
    instruction set, weights, content image, threads, load, layers, size) leaves the older
    run, and a run left with nothing is dropped. Another CPU's or other weights' results stay
    beside it: the shared hosts differ. Real-feature runs come first, then random-weight ones."""
    new = {_key(report, m) for m in report["measurements"]}
    for run in runs:
        run["measurements"] = [m for m in run["measurements"] if _key(run, m) not in new]
    kept = [run for run in runs if run["measurements"]] + [report]
    return sorted(kept, key=lambda run: _weights(run) == RANDOM_LABEL)


if __name__ == "__main__":
    sys.exit(run_stoppable(main))
