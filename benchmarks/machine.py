"""What the benchmark scripts share about the machine they run on: its CPU, a way to load it,
and a way to stop them."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

# Busy-loops, checking every ~0.02 s that its parent is alive: a benchmark killed outright
# (SIGKILL, a closed terminal) leaves no process behind spinning a core. The parent's pid comes
# as an argument, not from getppid() at start-up: a parent killed before the child got that far
# would otherwise hand it init's pid to wait for. It ignores SIGINT, so a Ctrl-C in the
# terminal reaches the benchmark alone, which then kills it.
_BUSY_LOOP = """\
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(10**6):
        pass
"""


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo, else what ``platform`` knows) and the
    instruction set torch's kernels use on it, e.g. ``"AMD EPYC (AVX2)"``.

    The instruction set is named because the shared development hosts differ in it under one
    model name (AVX2 on some, AVX-512 with BF16 on others), and with it in speed and in
    rounding, which sends L-BFGS down another path (``results/peer-cpu.md``).
    """
    return f"{_model_name()} ({torch.backends.cpu.get_cpu_capability()})"


def _model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def busy_processes(count: int) -> list[subprocess.Popen]:
    """``count`` processes that keep one core busy each until killed (a "busy machine")."""
    command = [sys.executable, "-c", _BUSY_LOOP, str(os.getpid())]
    return [subprocess.Popen(command) for _ in range(count)]


class Stopped(BaseException):
    """Ctrl-C or SIGTERM during a benchmark.

    Raised in place of KeyboardInterrupt, because nstyle's ``optimize()`` takes a
    KeyboardInterrupt to mean "end this run early and keep its image": right for a student in a
    notebook, wrong for a benchmark, which would record the cut-short run and go on to the next.
    Not an ``Exception``, so nothing on the way up swallows it.
    """


def _stop(signum, _frame):
    raise Stopped(signal.Signals(signum).name)


def run_stoppable(main: Callable[[], int]) -> int:
    """``main()``'s exit status, with SIGINT and SIGTERM stopping all of it: 130 after a stop.

    The scripts write their results only at the end, so a stopped one writes nothing; its own
    ``finally`` blocks (killing the busy processes) run on the way out.
    """
    previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return main()
    except Stopped as stopped:
        print(f"stopped by {stopped}: no results written", file=sys.stderr)
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
