"""Benchmark: one loss evaluation, batched sweeps and the GPU, against the PyTorch tutorial.

Run it with ``make benchmark`` (after :mod:`peer`, the time-to-quality comparison with the
tutorial; ``.venv/bin/python benchmarks/run.py --help`` lists the options). It times, on the
same device, images, weights, sizes and loss function (the paper's layers):

1. one loss evaluation (forward + backward to the image): the PyTorch tutorial's model
   (:mod:`tutorial`: cut after its last loss module, weights trainable as published; frozen;
   and not cut, the whole VGG19 to pool5 as many copies of it run) against the project's
   default path and its optional fast settings;
2. (time to quality is :mod:`peer`'s, in ``peer-cpu.md``);
3. batched sweeps: the five content reconstructions of Fig. 1 and a 3×3 α/β grid run as one
   batch against one run per item;
4. on a GPU only: achieved TFLOP/s of forward + backward against the measured peak of a large
   bf16 and tf32 matmul, peak memory at 512, 1024 and 2048 px, and 500 Adam steps at 512 px.

Timings on a shared machine drift, so every comparison is made inside this one run, the
repetitions of baseline and project are interleaved, and medians are reported as ratios
(baseline time / project time: above 1 means the project is faster). The numbers go to
``benchmarks/results/<device>.json`` and ``.md`` (with the device, torch version, date and the
machine's load average). Weights are random by default (``--weights``; pretrained ones cannot
be downloaded on the development machines); both sides load the same seeded state dict.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from machine import cpu_name, run_stoppable  # noqa: E402
from tutorial import build_tutorial_model  # noqa: E402

import nstyle_helpers as ns  # noqa: E402
from nstyle_helpers.accel.acceleration import (AcceleratedFeatures, accelerate,  # noqa: E402
                                               configure_backends, native_bfloat16,
                                               resolve_precision)
from nstyle_helpers.core.features import (CONTENT_LAYER, CONTENT_LAYERS_FIG1,  # noqa: E402
                                          STYLE_LAYERS, VGG19_LAYERS, VGG19Features,
                                          feature_shape)
from nstyle_helpers.core.images import resize  # noqa: E402
from nstyle_helpers.accel.winograd import nnpack_available  # noqa: E402
from nstyle_helpers.core.weights import RandomWeightsWarning  # noqa: E402
from nstyle_helpers.transfer import (RunConfig, TransferConfig, build_extractor,  # noqa: E402
                                     reconstruct_content, style_transfer, transfer_loss_weights)

LAYERS = [CONTENT_LAYER, *STYLE_LAYERS]
#: Winograd convolutions through NNPACK, opt-in on a CPU (the default runs PyTorch's own).
WINOGRAD = "project, Winograd convolutions (opt-in, NSTYLE_WINOGRAD=1)"
#: The per-evaluation baseline: the PyTorch tutorial's model as published.
BASELINE = "PyTorch tutorial (published: cut, weights trainable)"


# --------------------------------------------------------------------------------------------
# Set-up


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved(fns: dict, reps: int, device) -> dict[str, float]:
    """Median seconds of each function, the repetitions interleaved (one warm-up each)."""
    for fn in fns.values():
        timed(fn, device)
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            times[name].append(timed(fn, device))
    return {name: statistics.median(values) for name, values in times.items()}


def load_pair(size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Content (chicago) and style (great_wave) at longer side ``size``, style resized to the
    content's H×W as the tutorial does; synthetic images if the examples are not available."""
    try:
        content = ns.load_image(ns.example_image_path("chicago"), size=size)
        style = ns.load_image(ns.example_image_path("great_wave"), size=size)
    except Exception:  # offline without the example images: smooth random images
        gen = torch.Generator().manual_seed(0)
        h = round(size * 2 / 3)
        content = resize(torch.rand(1, 3, h // 8, size // 8, generator=gen), (h, size))
        style = resize(torch.rand(1, 3, h // 4, size // 4, generator=gen), (h, size))
    style = resize(style, tuple(content.shape[-2:]))
    return content.to(device), style.to(device)


def make_baseline(state, content, style, *, frozen=False, cut=True):
    """The tutorial's model with the paper's layers; its weights are the project's defaults
    (:func:`~nstyle_helpers.transfer.transfer_loss_weights` converts them exactly)."""
    model = build_tutorial_model(state, content, style, content_layer=CONTENT_LAYER,
                                 style_layers=STYLE_LAYERS, cut=cut)
    model.model.requires_grad_(not frozen)
    return model


def make_objective(extractor, content, style):
    d = transfer_loss_weights(*content.shape[-2:])
    return ns.Objective(extractor, content_image=content, content_layers=[CONTENT_LAYER],
                        style_image=style, style_layers=d.layer_weights,
                        content_weight=d.content_weight, style_weight=d.style_weight)


def conv_flops(height: int, width: int, deepest: str = "relu5_1") -> float:
    """FLOPs of forward + backward-to-input of the convolutions up to ``deepest``.

    2·Cin·Cout·9·H·W per convolution forward; the backward to the input costs the same again
    (no weight gradients are needed). The first convolution's backward is counted too.
    """
    total, channels, h, w = 0.0, 3, height, width
    for name in VGG19_LAYERS[: VGG19_LAYERS.index(deepest) + 1]:
        if name.startswith("conv"):
            out = feature_shape(name, height, width)[0]
            total += 2 * channels * out * 9 * h * w
            channels = out
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
    return 2 * total


# --------------------------------------------------------------------------------------------
# 1. Time per loss evaluation


def per_evaluation(args, device, state, report):
    sizes = args.eval_sizes or ([256, 512, 1024] if device.type == "cuda" else [128, 256])
    rows = []
    for size in sizes:
        content, style = load_pair(size, device)
        plain = VGG19Features(LAYERS, weights=args.weights, progress=False).to(device)
        default = accelerate(plain, device)  # what build_extractor gives: the default path
        variants = {"project (default path)": default}
        if device.type == "cpu":
            variants[WINOGRAD] = AcceleratedFeatures(plain, winograd=True)
            variants["project, bfloat16 autocast (opt-in)"] = AcceleratedFeatures(
                plain, precision="bfloat16")
            variants["project, channels_last (opt-in)"] = AcceleratedFeatures(
                plain, channels_last=True)
        else:
            variants["project, float32 (no acceleration)"] = plain
            if args.compile:
                variants["project, default + torch.compile"] = AcceleratedFeatures(
                    plain, precision=resolve_precision("auto", device),
                    channels_last=True, compile=True)
        baselines = {BASELINE: make_baseline(state, content, style),
                     "PyTorch tutorial, frozen weights": make_baseline(state, content, style,
                                                                       frozen=True),
                     "whole VGG19 to pool5 (tutorial copies without the cut)":
                         make_baseline(state, content, style, cut=False)}
        objectives = {name: make_objective(ext, content, style) for name, ext in variants.items()}

        def base_eval(model):
            def run():
                image = content.clone().requires_grad_(True)
                model.model.zero_grad(set_to_none=True)
                model.model(image)
                model.loss().backward()
            return run

        def project_eval(objective):
            def run():
                image = content.clone().requires_grad_(True)
                objective(image)["total"].sum().backward()
            return run

        # Same function on both sides: the losses at the start must agree.
        with torch.no_grad():
            baselines[BASELINE].model(content)
            base_start = float(baselines[BASELINE].loss())
            proj_start = float(objectives["project (default path)"](content)["total"])
        fns = {name: base_eval(model) for name, model in baselines.items()}
        fns.update({name: project_eval(obj) for name, obj in objectives.items()})
        medians = interleaved(fns, args.reps, device)
        h, w = content.shape[-2:]
        for name, seconds in medians.items():
            row = {"size": f"{w}x{h}", "variant": name, "seconds": seconds,
                   "speedup_vs_baseline": medians[BASELINE] / seconds}
            if device.type == "cuda" and name.startswith("project"):
                row["tflops"] = conv_flops(h, w) / seconds / 1e12
            rows.append(row)
        print(f"  {w}x{h}: start loss tutorial {base_start:.6g}, project {proj_start:.6g}")
        for row in rows[-len(medians):]:
            print(f"    {row['variant']:<55} {row['seconds'] * 1000:9.1f} ms   "
                  f"×{row['speedup_vs_baseline']:.2f}")
        del baselines, objectives
    report["per_evaluation"] = rows


# --------------------------------------------------------------------------------------------
# 3. Batched sweeps


def batched_sweeps(args, device, report):
    size, steps = (256, 20) if device.type == "cuda" else (args.sweep_size, args.sweep_steps)
    content, style = load_pair(size, device)
    config = RunConfig(steps=steps, weights=args.weights)
    layers = list(CONTENT_LAYERS_FIG1)
    content_ext = build_extractor(layers, config, device, progress=False)
    transfer_ext = build_extractor(LAYERS, config, device, progress=False)
    base = TransferConfig(steps=steps, weights=args.weights, balance="tutorial")
    d = transfer_loss_weights(*content.shape[-2:])
    grid = [base.replace(content_weight=d.content_weight * a, style_weight=d.style_weight * b)
            for a in (0.1, 1.0, 10.0) for b in (0.1, 1.0, 10.0)]

    sweeps = {
        "content reconstruction, 5 layers": (
            lambda: reconstruct_content(content, layers, config, extractor=content_ext,
                                        progress=False),
            lambda: [reconstruct_content(content, [layer], config, extractor=content_ext,
                                         progress=False) for layer in layers]),
        "style transfer, 3x3 alpha/beta grid": (
            lambda: style_transfer(content, style, grid, extractor=transfer_ext, progress=False),
            lambda: [style_transfer(content, style, c, extractor=transfer_ext, progress=False)
                     for c in grid]),
    }
    rows = []
    h, w = content.shape[-2:]
    for name, (batched, separate) in sweeps.items():
        medians = interleaved({"batched": batched, "separate": separate}, args.sweep_reps, device)
        rows.append({"sweep": name, "size": f"{w}x{h}", "steps": steps,
                     "batched_seconds": medians["batched"],
                     "separate_seconds": medians["separate"],
                     "speedup": medians["separate"] / medians["batched"]})
        print(f"    {name}: batched {medians['batched']:.2f} s, one run per item "
              f"{medians['separate']:.2f} s, ×{rows[-1]['speedup']:.2f}")
    report["batched_sweeps"] = rows


# --------------------------------------------------------------------------------------------
# 4. GPU only: utilisation, memory, Adam


def matmul_peak(device, dtype, n=8192, reps=20) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    seconds = timed(lambda: [a @ b for _ in range(reps)], device) / reps
    return 2 * n**3 / seconds / 1e12


def gpu_only(args, device, report):
    configure_backends(device)
    bf16 = matmul_peak(device, torch.bfloat16)
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True  # only for this measurement
    try:
        tf32 = matmul_peak(device, torch.float32)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    print(f"    matmul peak: bf16 {bf16:.1f} TFLOP/s, tf32 {tf32:.1f} TFLOP/s")
    evals = [r for r in report.get("per_evaluation", []) if r.get("tflops")]
    for row in evals:
        row["fraction_of_bf16_peak"] = row["tflops"] / bf16
        print(f"    {row['size']} {row['variant']}: {row['tflops']:.1f} TFLOP/s = "
              f"{100 * row['tflops'] / bf16:.0f}% of bf16 peak")
    memory = []
    for size in (512, 1024, 2048):
        content, style = load_pair(size, device)
        objective = make_objective(build_extractor(LAYERS, RunConfig(weights=args.weights),
                                                   device, progress=False), content, style)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        image = content.clone().requires_grad_(True)
        objective(image)["total"].sum().backward()
        sync(device)
        peak = torch.cuda.max_memory_allocated(device) / 2**30
        h, w = content.shape[-2:]
        memory.append({"size": f"{w}x{h}", "peak_gib": peak})
        print(f"    peak memory, one evaluation at {w}x{h}: {peak:.2f} GiB")
        del objective, image
    content, style = load_pair(512, device)
    config = TransferConfig(optimizer="adam", steps=500, weights=args.weights, balance="tutorial")
    extractor = build_extractor(LAYERS, config, device, progress=False)
    style_transfer(content, style, config.replace(steps=5), extractor=extractor, progress=False)
    adam = timed(lambda: style_transfer(content, style, config, extractor=extractor,
                                        progress=False), device)
    print(f"    500 Adam steps at 512 px: {adam:.2f} s")
    report["gpu"] = {"matmul_bf16_tflops": bf16, "matmul_tf32_tflops": tf32, "memory": memory,
                     "adam_500_steps_512px_seconds": adam}


# --------------------------------------------------------------------------------------------
# Targets and results


def targets(report, device) -> list[dict]:
    out = []
    if device.type == "cpu":
        out.append({"target": "GPU targets (per evaluation ≤ 1/3, ≥ 40% of bf16 peak, 500 Adam "
                              "steps < 1.5 s)", "value": "not measured: no GPU in this run",
                    "met": None})
    else:
        rows = [r for r in report["per_evaluation"] if r["variant"] == "project (default path)"
                and r["size"].startswith("512")]
        if rows:
            out.append({"target": "GPU 512 px time per evaluation ≤ 1/3 of baseline",
                        "value": f"×{rows[0]['speedup_vs_baseline']:.2f}",
                        "met": rows[0]["speedup_vs_baseline"] >= 3})
            frac = rows[0].get("fraction_of_bf16_peak")
            if frac is not None:
                out.append({"target": "GPU forward+backward ≥ 40% of bf16 matmul peak",
                            "value": f"{100 * frac:.0f}%", "met": frac >= 0.4})
        gpu = report.get("gpu")
        if gpu:
            out.append({"target": "500 Adam steps at 512 px < 1.5 s (H100)",
                        "value": f"{gpu['adam_500_steps_512px_seconds']:.2f} s",
                        "met": gpu["adam_500_steps_512px_seconds"] < 1.5})
    for row in report.get("batched_sweeps", []):
        met = row["speedup"] >= 3
        why = "" if met or device.type != "cpu" else (
            ". On a CPU one image already keeps the core busy, so batching saves only the "
            "per-call overhead; the target is set for a GPU, where one small image leaves most "
            "of the device idle (not measured here).")
        out.append({"target": f"batched sweep ≥ 3× one run per item ({row['sweep']})",
                    "value": f"×{row['speedup']:.2f}{why}", "met": met})
    return out


def markdown(report) -> str:
    env = report["environment"]
    lines = [f"# Benchmark results: {env['device_name']}", "",
             f"- date: {env['date']}", f"- torch {env['torch']}, Python {env['python']}",
             f"- device: {env['device_name']} ({env['device']}), threads: {env['threads']}",
             f"- load average (1 min) at start / end: {env['load_start']} / {env['load_end']}",
             f"- weights: {env['weights']}; command: `{env['command']}`",
             f"- total benchmark time: {env['total_seconds']:.0f} s", ""]
    for note in report["notes"]:
        lines.append(f"> {note}")
        lines.append("")
    lines += ["## 1. Time per loss evaluation (forward + backward to the image)", "",
              "Speed-up = baseline time / variant time (median of interleaved repetitions).", "",
              "| size | variant | ms | speed-up | TFLOP/s |", "|---|---|---:|---:|---:|"]
    for r in report.get("per_evaluation", []):
        tflops = f"{r['tflops']:.1f}" if r.get("tflops") else "–"
        lines.append(f"| {r['size']} | {r['variant']} | {1000 * r['seconds']:.1f} | "
                     f"×{r['speedup_vs_baseline']:.2f} | {tflops} |")
    lines += ["", "## 2. Time to quality", "",
              "Against the PyTorch tutorial's own algorithm: `peer-cpu.md` (`benchmarks/peer.py`)."]
    if report.get("batched_sweeps"):
        lines += ["", "## 3. Batched sweeps", "",
                  "| sweep | size | steps | batched s | one run per item s | speed-up |",
                  "|---|---|---:|---:|---:|---:|"]
        for r in report["batched_sweeps"]:
            lines.append(f"| {r['sweep']} | {r['size']} | {r['steps']} | "
                         f"{r['batched_seconds']:.2f} | {r['separate_seconds']:.2f} | "
                         f"×{r['speedup']:.2f} |")
    lines += ["", "## 4. GPU utilisation and memory", ""]
    gpu = report.get("gpu")
    if gpu:
        lines.append(f"Matmul peak: bf16 {gpu['matmul_bf16_tflops']:.1f} TFLOP/s, tf32 "
                     f"{gpu['matmul_tf32_tflops']:.1f} TFLOP/s. 500 Adam steps at 512 px: "
                     f"{gpu['adam_500_steps_512px_seconds']:.2f} s.")
        lines += ["", "| size | peak memory GiB |", "|---|---:|"]
        lines += [f"| {m['size']} | {m['peak_gib']:.2f} |" for m in gpu["memory"]]
    else:
        lines.append(report.get("gpu_skipped", "Skipped."))
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for t in report["targets"]:
        met = {True: "yes", False: "no", None: "–"}[t["met"]]
        lines.append(f"| {t['target']} | {t['value']} | {met} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, ...")
    parser.add_argument("--weights", default="random",
                        help="random (default; seeded, the same on both sides), imagenet or PATH")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads (default 1: steadier on a shared machine)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per evaluation timing")
    parser.add_argument("--eval-sizes", type=lambda text: [int(v) for v in text.split(",")],
                        default=None, metavar="S1,S2,...",
                        help="per-evaluation sizes (default: 128,256 on a CPU, 256,512,1024 "
                             "on a GPU)")
    parser.add_argument("--sweep-size", type=int, default=64, help="CPU sweep size (px)")
    parser.add_argument("--sweep-steps", type=int, default=10, help="CPU sweep steps")
    parser.add_argument("--sweep-reps", type=int, default=3, help="sweep repetitions")
    parser.add_argument("--skip", default="", help="comma-separated: eval,sweeps,gpu")
    parser.add_argument("--compile", action="store_true", help="GPU: also time torch.compile")
    parser.add_argument("--output", default=str(HERE / "results"),
                        help="folder for <device>.json and <device>.md")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", RandomWeightsWarning)
    os.environ.pop("NSTYLE_PRECISION", None)
    device = ns.resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    skip = set(filter(None, args.skip.split(",")))
    total_start = time.perf_counter()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    report = {"environment": {
        "device": str(device), "device_name": name, "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "cpu_count": os.cpu_count(), "load_start": round(os.getloadavg()[0], 2),
        "weights": args.weights, "native_bfloat16": native_bfloat16(device),
        "nnpack": nnpack_available(),
        "command": " ".join(["benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]),
    }, "notes": []}
    print(f"nstyle benchmark on {name} ({device}), torch {torch.__version__}, "
          f"load {report['environment']['load_start']}")
    # The full VGG19 features (16 convolutions, to pool5) with the project's seeded random
    # initialisation; the project's extractor builds the same first 13 (the seed is fixed).
    state = VGG19Features(["pool5"], weights=args.weights, progress=False).body.state_dict()
    state = {k: v.to(device) for k, v in state.items()}
    if device.type == "cpu":
        report["notes"].append(
            f"CPU timings use {torch.get_num_threads()} thread(s) on both sides; colleagues' "
            "jobs share the machine, so the ratios (baseline and project interleaved, medians) "
            "are the numbers to read, not the absolute times.")
    if "eval" not in skip:
        print("1. time per loss evaluation")
        per_evaluation(args, device, state, report)
    print("2. time to quality: benchmarks/peer.py (peer-cpu.md)")
    if "sweeps" not in skip:
        print("3. batched sweeps")
        batched_sweeps(args, device, report)
    if device.type == "cuda" and "gpu" not in skip:
        print("4. GPU utilisation, memory, Adam")
        gpu_only(args, device, report)
    else:
        report["gpu_skipped"] = ("Skipped: no CUDA GPU in this run. TFLOP/s against the bf16 / "
                                 "tf32 matmul peak, peak GPU memory at 512/1024/2048 px and 500 "
                                 "Adam steps at 512 px need one.")
        print("4. " + report["gpu_skipped"])
    report["targets"] = targets(report, device)
    report["environment"]["load_end"] = round(os.getloadavg()[0], 2)
    report["environment"]["total_seconds"] = time.perf_counter() - total_start
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    stem = "gpu" if device.type == "cuda" else device.type
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown(report))
    print("targets:")
    for t in report["targets"]:
        met = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        print(f"  [{met}] {t['target']}: {t['value']}")
    print(f"wrote {out / (stem + '.json')} and {out / (stem + '.md')} "
          f"({report['environment']['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_stoppable(main))
