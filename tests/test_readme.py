"""The README's set-up without make: the Makefile's own commands, spelt out, and they run.

The Linux block must be exactly what ``make run`` and ``make test`` do (recipes read from the
Makefile), the PowerShell block the same with Windows paths, so neither can rot. Its command
line then runs for real, from another folder, in quick mode with random weights (installing
torch again would take minutes and the network: the environment is the one already set up).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _block(after: str, language: str) -> list[str]:
    """The lines of the first ```language block after the text ``after``."""
    rest = README.split(after, 1)[1]
    body = re.search(rf"```{language}\n(.*?)```", rest, re.S)[1]
    return [line for line in body.splitlines() if line.strip()]


def _make_commands() -> list[str]:
    """The commands of the Makefile's set-up, run and test recipes, variables expanded."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    variables = {"$(PYTHON)": "python3", "$(VENV)": ".venv", "$(PY)": ".venv/bin/python"}
    recipes = {}
    for target in ("$(STAMP)", "run", "test"):
        body = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, re.M)[1]
        recipes[target] = [line.strip() for line in body.splitlines()]
    commands = []
    for line in recipes["$(STAMP)"] + recipes["run"] + recipes["test"]:
        for name, value in variables.items():
            line = line.replace(name, value)
        if not line.startswith("touch "):  # make's own bookkeeping
            commands.append(line.replace(" --disable-pip-version-check", ""))
    return commands


def test_the_linux_block_is_the_makefiles_commands():
    assert _block("**Without make**", "bash") == _make_commands()


def test_the_powershell_block_is_the_same_with_windows_paths():
    linux = _block("**Without make**", "bash")
    windows = [line.replace(".venv\\Scripts\\python", ".venv/bin/python")
               .replace("py -m venv", "python3 -m venv")
               for line in _block("Windows (PowerShell):", "powershell")]
    assert windows == linux


def test_the_blocks_command_line_runs(tmp_path):
    (command,) = [line for line in _block("**Without make**", "bash")
                  if "nstyle_helpers transfer" in line]
    argv = command.replace(".venv/bin/python", sys.executable).split()
    env = {**os.environ, "NSTYLE_QUICK": "1", "NSTYLE_WEIGHTS": "random",
           "NSTYLE_IMAGE_DIR": str(REPO / "images"), "TQDM_DISABLE": "1"}
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "outputs" / "chicago_great_wave.png").is_file()
