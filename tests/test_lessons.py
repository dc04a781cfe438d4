"""Each notebook's cost table states the settings it runs with
(``nstyle_helpers.teaching.lessons``).

The header cell of every tutorial notebook has a table with one row per mode (CPU, GPU, quick
mode) and one column per setting, headed by the setting's name in backticks: ``size``,
``steps``, ... A cell states its setting's value and nothing else that looks like a number or
a layer name (units and words are fine: "160 px", "80 → 160 px", "relu2_2, relu4_2").
"""

import dataclasses
import re
from pathlib import Path

import nbformat
import pytest
import torch

from nstyle_helpers import lessons

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: Row labels of the cost table, by how they start.
MODES = {"CPU": "cpu", "GPU": "gpu", "quick": "quick"}
#: What a checked cell may state: layer names and whole numbers.
TOKEN = re.compile(r"[a-z]+\d+_\d+|\d+")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def cost_table(markdown: str) -> dict[str, dict[str, str]]:
    """{mode: {setting: cell}} from the first table after "What it costs to run"."""
    after = markdown.split("What it costs to run", 1)[1]
    lines = [line for line in after.splitlines() if line.startswith("|")]
    header, rows = _cells(lines[0]), lines[2:]
    columns = {index: re.search(r"`(\w+)`", title)
               for index, title in enumerate(header)}
    table = {}
    for row in rows:
        cells = _cells(row)
        mode = next(mode for start, mode in MODES.items() if cells[0].startswith(start))
        table[mode] = {match[1]: cells[index] for index, match in columns.items()
                       if match and index > 0}
    return table


def _tokens(value) -> list[str]:
    values = value if isinstance(value, tuple) else (value,)
    return [str(item) for item in values]


def test_cost_table_reads_rows_and_named_columns():
    markdown = ("**What it costs to run**\n\n| where | image (`size`) | scales (`scales`) | time |\n"
                "|---|---|---|---|\n| CPU, 2 cores | 160 px | 80 → 160 px | 5 min |\n"
                "| quick mode (`NSTYLE_QUICK=1`) | 32 px | 16 → 32 px | 20 s |\n")
    assert cost_table(markdown) == {"cpu": {"size": "160 px", "scales": "80 → 160 px"},
                                    "quick": {"size": "32 px", "scales": "16 → 32 px"}}


def test_every_notebook_has_settings():
    assert sorted(lessons.LESSONS) == sorted(path.name[:2] for path in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_cost_table_states_the_settings(path):
    lesson = lessons.LESSONS[path.name[:2]]
    table = cost_table(nbformat.read(path, as_version=4).cells[0].source)
    assert sorted(table) == ["cpu", "gpu", "quick"], f"{path.name}: one row per mode"
    for mode, stated in table.items():
        settings = getattr(lesson, mode)
        fields = [field.name for field in dataclasses.fields(settings)]
        assert sorted(stated) == sorted(fields), f"{path.name}, {mode}: one column per setting"
        for name in fields:
            assert TOKEN.findall(stated[name]) == _tokens(getattr(settings, name)), (
                f"{path.name}: the cost table's {mode} {name} says {stated[name]!r}, the "
                f"notebook runs with {getattr(settings, name)!r} "
                "(nstyle_helpers/teaching/lessons.py)")


def test_settings_follow_the_device_and_quick_mode(monkeypatch):
    lesson = lessons.LESSONS["02"]
    monkeypatch.setenv("NSTYLE_QUICK", "1")
    assert lessons.settings("02", torch.device("cuda")) == lesson.quick
    monkeypatch.setenv("NSTYLE_QUICK", "0")
    assert lessons.settings("02", torch.device("cpu")) == lesson.cpu
    assert lessons.settings("02", torch.device("cuda")) == lesson.gpu


def test_each_lesson_holds_one_settings_type():
    for number, lesson in lessons.LESSONS.items():
        assert type(lesson.cpu) is type(lesson.gpu) is type(lesson.quick), number
