"""What the benchmark scripts share about the machine they run on: its CPU, and a way to load it."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def busy_processes(count: int) -> list[subprocess.Popen]:
    """``count`` processes that keep one core busy each until killed (a "busy machine")."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
