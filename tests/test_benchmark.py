"""benchmarks/run.py: it runs, compares like with like, and judges the targets it reports.

No timing is asserted (the machines are shared; the benchmark itself compares in one run).
The end-to-end run uses tiny settings; the GPU report is judged from a made-up report, since
no GPU runs these tests.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from nstyle_helpers.features import VGG19Features

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("nstyle_benchmark", ROOT / "benchmarks/run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_baseline_and_project_minimise_the_same_function(bench):
    # The speed-ups only mean something if both sides compute the same loss and gradient.
    state = VGG19Features(["pool5"], weights="random").body.state_dict()
    gen = torch.Generator().manual_seed(0)
    content, style = torch.rand(1, 3, 48, 64, generator=gen), torch.rand(1, 3, 48, 64,
                                                                          generator=gen)
    start = torch.rand(1, 3, 48, 64, generator=gen)
    baseline = bench.make_baseline(state, content, style)
    objective = bench.make_objective(VGG19Features(bench.LAYERS, weights="random"), content,
                                     style)
    x_base, x_proj = start.clone().requires_grad_(True), start.clone().requires_grad_(True)
    baseline(x_base)
    base_loss = baseline.loss()
    base_loss.backward()
    proj_loss = objective(x_proj)["total"].sum()
    proj_loss.backward()
    torch.testing.assert_close(proj_loss, base_loss, rtol=1e-5, atol=0)
    # Summation order differs (Gram backward, loss modules), so compare as vectors.
    assert float((x_proj.grad - x_base.grad).norm() / x_base.grad.norm()) < 1e-5


def test_benchmark_runs_end_to_end_and_writes_its_results(bench, tmp_path):
    threads = torch.get_num_threads()
    try:
        code = bench.main(["--eval-sizes", "64", "--reps", "1", "--ttq-size", "64",
                           "--ttq-evals", "4", "--sweep-size", "64", "--sweep-steps", "1",
                           "--sweep-reps", "1", "--output", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    report = json.loads((tmp_path / "cpu.json").read_text())
    variants = [row["variant"] for row in report["per_evaluation"]]
    assert variants[:3] == ["baseline", "baseline, frozen weights", "project (default path)"]
    assert bench.WINOGRAD in variants
    assert all(row["seconds"] > 0 for row in report["per_evaluation"])
    ttq = report["time_to_quality"]
    assert [row["variant"] for row in ttq["rows"]] == [
        "baseline", "project (default path)", bench.WINOGRAD,
        "project, bfloat16 autocast (opt-in)"]
    assert ttq["rows"][0]["evaluations"] == 4
    assert [row["sweep"] for row in report["batched_sweeps"]] == [
        "content reconstruction, 5 layers", "style transfer, 3x3 alpha/beta grid"]
    assert report["environment"]["nnpack"] is True
    judged = [t["met"] for t in report["targets"]]
    assert judged[0] in (True, False) and None in judged  # CPU judged; GPU not measured
    markdown = (tmp_path / "cpu.md").read_text()
    assert "not the issue's setting" in markdown and "## Targets" in markdown


def gpu_report(per_evaluation_speedup, fraction, adam_seconds, sweep_speedup):
    return {
        "environment": {"device": "cuda", "device_name": "NVIDIA H100", "torch": "2.x",
                        "python": "3.11", "date": "today", "threads": None, "load_start": 0,
                        "load_end": 0, "weights": "random", "command": "benchmarks/run.py",
                        "total_seconds": 60},
        "notes": [],
        "per_evaluation": [
            {"size": "512x341", "variant": "baseline", "seconds": 0.03,
             "speedup_vs_baseline": 1.0},
            {"size": "512x341", "variant": "project (default path)", "seconds": 0.01,
             "speedup_vs_baseline": per_evaluation_speedup, "tflops": 400 * fraction,
             "fraction_of_bf16_peak": fraction}],
        "gpu": {"matmul_bf16_tflops": 400.0, "matmul_tf32_tflops": 200.0,
                "memory": [{"size": "2048x1363", "peak_gib": 9.5}],
                "adam_500_steps_512px_seconds": adam_seconds},
        "batched_sweeps": [{"sweep": "content reconstruction, 5 layers", "size": "256x170",
                            "steps": 20, "batched_seconds": 1.0, "separate_seconds":
                            sweep_speedup, "speedup": sweep_speedup}],
    }


@pytest.mark.parametrize("good", [True, False])
def test_gpu_targets_are_judged_from_a_gpu_report(bench, good):
    report = gpu_report(3.4, 0.45, 1.2, 3.5) if good else gpu_report(2.5, 0.3, 2.0, 2.0)
    report["targets"] = bench.targets(report, torch.device("cuda"))
    assert [t["met"] for t in report["targets"]] == [good] * 4
    markdown = bench.markdown(report)
    assert "Matmul peak: bf16 400.0 TFLOP/s" in markdown and "| 2048x1363 | 9.50 |" in markdown
