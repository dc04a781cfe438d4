"""Grade submitted assignment notebooks without nbgrader, the way nbgrader's autograder does.

``python -m nstyle_helpers.classroom grade SUBMISSION... [--source DIR] [--csv FILE]
[--gradebook FILE] [--feedback DIR] [--timeout SECONDS] [--full] [--name-pattern REGEX]``

For each submitted notebook (or every ``*.ipynb`` under a submitted folder):

1. find its student and its solution notebook in ``--source``
   (:mod:`nstyle_helpers.classroom.submissions`: nbgrader's layout, a folder per student, or
   an LMS's flat download);
2. put the instructor's check cells back by ``grade_id``, hidden tests included, as
   nbgrader's ``OverwriteCells`` does; the student's answer cells stay as submitted;
3. execute it with nbclient, a timeout per cell, in a fresh kernel and an empty working
   folder, in quick mode (``NSTYLE_QUICK=1``) unless ``--full``, with random weights
   (``NSTYLE_WEIGHTS=random``) when no pretrained weights are cached and none are chosen;
4. score each check cell with nbgrader's rule (``nbgrader.utils.determine_grade``): an error,
   or anything on stderr, is 0; a numeric result is the points (the partial credit of
   :class:`nstyle_helpers.classroom.marks.Marks`); otherwise full points.

A notebook that cannot be read, matches no assignment, times out, kills its kernel or lacks a
check cell (deleted, or its ``grade_id`` changed) gets a line saying so, and the batch goes on.

The CSV has one row per check cell: student, assignment, file, cell, points, max, message; the
gradebook one row per student. The feedback file of a student (``FEEDBACK/STUDENT.md``) lists
each cell's points and the message of each failed part: the checks' own sentences, never the
source of the hidden tests.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..base.errors import SettingsError
from .marks import first_line
from .submissions import Submission, find_submissions, grade_cells, nbgrader_meta

__all__ = ["CellGrade", "NotebookGrade", "cell_points", "cell_messages", "grade_notebook",
           "grade_isolated", "grade", "write_csv", "write_gradebook", "write_feedback", "report"]

JSON = "application/json"

#: The solution notebooks of this repository (found from the package, not the working folder).
DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "notebooks" / "assignments"


@dataclass
class CellGrade:
    """The points of one check cell, and the message of each failed part."""

    grade_id: str
    points: float
    max_points: float
    messages: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """The first failure's first line ('' when the cell earned every point)."""
        return self.messages[0].splitlines()[0] if self.messages else ""


@dataclass
class NotebookGrade:
    """One submitted notebook: its student, its cells' grades, and a problem, if any."""

    student: str
    path: Path
    notebook: str = ""
    cells: list[CellGrade] = field(default_factory=list)
    problem: str = ""
    seconds: float = 0.0

    @property
    def points(self) -> float:
        return round(sum(cell.points for cell in self.cells), 2)

    @property
    def max_points(self) -> float:
        return sum(cell.max_points for cell in self.cells)


def _restore(submission, source) -> list[str]:
    """Put the source's check cells into ``submission`` by grade_id; return the missing ids."""
    by_id = {nbgrader_meta(cell).get("grade_id"): cell for cell in submission.cells}
    missing = []
    for check in grade_cells(source):
        grade_id = nbgrader_meta(check)["grade_id"]
        cell = by_id.get(grade_id)
        if cell is None:
            missing.append(grade_id)
            continue
        cell.cell_type, cell.source = check.cell_type, check.source
        cell.metadata = json.loads(json.dumps(check.metadata))
    for cell in submission.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return missing


def grading_environment(*, quick: bool) -> dict[str, str]:
    """The kernel's environment: quick mode unless ``quick=False``; random weights if needed."""
    from ..teaching.session import pretrained_weights_cached  # imports torch: only when grading

    env = dict(os.environ)
    if quick:
        env["NSTYLE_QUICK"] = "1"
    else:
        env.pop("NSTYLE_QUICK", None)
    if not env.get("NSTYLE_WEIGHTS") and not pretrained_weights_cached():
        env["NSTYLE_WEIGHTS"] = "random"
    return env


def _execute(notebook, *, timeout: int, env: dict[str, str]) -> str:
    """Run every cell; return '' or a sentence on why the run stopped early."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    with tempfile.TemporaryDirectory(prefix="nstyle-grade-") as folder:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                allow_errors=True, resources={"metadata": {"path": folder}})
        try:
            # The kernel's own log lines (a warning about TCP, ...) are not the grader's.
            client.execute(env=env, stderr=subprocess.DEVNULL)
        except CellTimeoutError:
            return (f"timed out: a cell ran longer than {timeout} s (an endless loop?); the "
                    "cells after it did not run")
        except DeadKernelError:
            return "the kernel died (out of memory?); the cells after that did not run"
        except Exception as error:  # noqa: BLE001 (one notebook must not stop the batch)
            return f"could not be executed: {type(error).__name__}: {error}"
    return ""


def cell_points(cell) -> float:
    """nbgrader's score of an executed code check cell (``nbgrader.utils.determine_grade``)."""
    max_points = float(nbgrader_meta(cell)["points"])
    for output in cell.get("outputs", []):
        if output.output_type == "error" or (output.output_type == "stream"
                                             and output.name == "stderr"):
            return 0.0
        if output.output_type == "execute_result":
            text = output.get("data", {}).get("text/plain", "")
            try:
                return min(float("".join(text)), max_points)
            except ValueError:
                return max_points
    return max_points


def cell_messages(cell) -> list[str]:
    """What went wrong in an executed check cell, in the checks' words."""
    messages = []
    for output in cell.get("outputs", []):
        if output.output_type == "error" and output.ename == "KeyboardInterrupt":
            messages.append("stopped at the time limit (--timeout): an endless or very slow "
                            "loop in a function this cell calls?")
        elif output.output_type == "error":
            hint = (": was the function renamed, or its cell deleted?"
                    if output.ename == "NameError" else "")
            messages.append(f"{output.ename}: {output.evalue}{hint}")
        elif output.output_type == "stream" and output.name == "stderr":
            messages.append("the cell wrote to stderr, which nbgrader scores 0: "
                            + (first_line("".join(output.text)) or "(blank lines only)"))
        elif output.output_type == "execute_result" and JSON in output.get("data", {}):
            data = output.data[JSON]
            messages += [data["refused"]] if data.get("refused") else []
            messages += [f"{part['what']}: {part['message']}"
                         for part in data.get("parts", []) if not part["passed"]]
            messages += [data["stderr_note"]] if data.get("stderr_note") else []
    return messages


def _ran(cell) -> bool:
    return bool(cell.get("outputs"))


def grade_notebook(submission: Submission, sources: dict, *, timeout: int,
                   env: dict[str, str]) -> NotebookGrade:
    """Restore, execute and score one submission; problems become its ``problem``."""
    import nbformat

    result = NotebookGrade(submission.student, submission.path, submission.notebook)
    source = sources.get(submission.notebook)
    try:
        notebook = nbformat.read(submission.path, as_version=4)
    except Exception as error:  # noqa: BLE001 (unreadable JSON, not a notebook, no file)
        result.problem = ("is not valid JSON (cut off, or not a notebook)"
                          if type(error).__name__ == "NotJSONError" else
                          f"could not be read ({type(error).__name__}: "
                          f"{str(error).splitlines()[0][:120]})")
        result.cells = [CellGrade(nbgrader_meta(c)["grade_id"], 0.0,
                                  float(nbgrader_meta(c)["points"]),
                                  [f"not graded: the notebook {result.problem}"])
                        for c in (grade_cells(source) if source else [])]
        return result
    if source is None:
        result.problem = "matches no assignment notebook (no file name or check cell in common)"
        return result
    missing = _restore(notebook, source)
    started = time.perf_counter()
    result.problem = _execute(notebook, timeout=timeout, env=env)
    result.seconds = time.perf_counter() - started
    ran = {nbgrader_meta(cell)["grade_id"]: cell for cell in grade_cells(notebook)}
    for check in grade_cells(source):
        grade_id = nbgrader_meta(check)["grade_id"]
        max_points, cell = float(nbgrader_meta(check)["points"]), ran.get(grade_id)
        if grade_id in missing:
            result.cells.append(CellGrade(grade_id, 0.0, max_points, [
                f"the check cell {grade_id} is missing from the submission (deleted, or its "
                "grade_id changed): restore it from the assignment notebook"]))
        elif result.problem and not _ran(cell):
            result.cells.append(CellGrade(grade_id, 0.0, max_points,
                                          [f"not run: the notebook {result.problem}"]))
        else:
            result.cells.append(CellGrade(grade_id, cell_points(cell), max_points,
                                          cell_messages(cell)))
    return result


def grade(paths: Sequence[str | Path], *, source: str | Path = DEFAULT_SOURCE,
          timeout: int = 300, quick: bool = True,
          name_pattern: str | None = None) -> list[NotebookGrade]:
    """Grade every submission (notebooks, or folders of them) against ``source``'s checks;
    ``name_pattern`` reads students from file names (:mod:`.submissions`)."""
    import nbformat

    source = Path(source)
    sources = {path.name: nbformat.read(path, as_version=4)
               for path in sorted(source.glob("*.ipynb"))}
    if not sources:
        raise SettingsError(f"no solution notebooks (*.ipynb) in {source}.")
    submissions = find_submissions(paths, sources, name_pattern=name_pattern)
    env = grading_environment(quick=quick) if submissions else {}
    return [grade_isolated(submission, sources, timeout=timeout, env=env)
            for submission in submissions]


def grade_isolated(submission: Submission, sources: dict, *, timeout: int,
                   env: dict[str, str]) -> NotebookGrade:
    """:func:`grade_notebook`, where anything unforeseen in one submission becomes that
    submission's problem line, and the class's batch goes on."""
    try:
        return grade_notebook(submission, sources, timeout=timeout, env=env)
    except Exception as error:  # noqa: BLE001 (one student never stops the batch)
        result = NotebookGrade(submission.student, submission.path, submission.notebook)
        result.problem = (f"could not be graded ({type(error).__name__}: "
                          f"{first_line(str(error)) or 'no message'}); grade it by hand")
        return result


def write_csv(grades: Sequence[NotebookGrade], path: str | Path) -> None:
    """One row per check cell: student, assignment, file, cell, points, max, message."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["student", "assignment", "file", "cell", "points", "max", "message"])
        for result in grades:
            assignment, name = Path(result.notebook).stem, result.path.name
            if not result.cells:
                writer.writerow([result.student, assignment, name, "", 0, 0, result.problem])
            for cell in result.cells:
                writer.writerow([result.student, assignment, name, cell.grade_id,
                                 f"{cell.points:g}", f"{cell.max_points:g}", cell.message])


def write_gradebook(grades: Sequence[NotebookGrade], path: str | Path) -> None:
    """One row per student, ready for a gradebook: the points of each assignment (the best
    submission where a student handed in several), the total, and the most possible: the
    points of every assignment graded in this batch."""
    assignments = sorted({result.notebook for result in grades if result.notebook})
    best: dict[str, dict[str, NotebookGrade]] = {}
    for result in grades:
        if result.notebook:
            mine = best.setdefault(result.student, {})
            if result.notebook not in mine or result.points > mine[result.notebook].points:
                mine[result.notebook] = result
    most = sum(max(r.max_points for r in grades if r.notebook == name) for name in assignments)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["student", *(Path(name).stem for name in assignments), "total", "max"])
        for student in sorted(best):
            points = [best[student][name].points if name in best[student] else 0.0
                      for name in assignments]
            writer.writerow([student, *(f"{p:g}" for p in points), f"{sum(points):g}",
                             f"{most:g}"])


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name) or "student"


def write_feedback(grades: Sequence[NotebookGrade], folder: str | Path) -> list[Path]:
    """One Markdown file per student with each cell's points and failures; returns the files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    by_student: dict[str, list[NotebookGrade]] = {}
    for result in grades:
        by_student.setdefault(result.student, []).append(result)
    written = []
    for student, results in by_student.items():
        lines = [f"# Feedback for {student}", ""]
        for result in results:
            lines += [f"## {result.notebook or result.path.name}: {result.points:g} / "
                      f"{result.max_points:g} points", ""]
            if result.problem:
                lines += [f"**This notebook {result.problem}.**", ""]
            for cell in result.cells:
                lines.append(f"- `{cell.grade_id}`: {cell.points:g} / {cell.max_points:g}")
                lines += [f"  - ✗ {message}" for message in dict.fromkeys(cell.messages)]
            lines.append("")
        target = folder / f"{_safe(student)}.md"
        target.write_text("\n".join(lines), encoding="utf-8")
        written.append(target)
    return written


def report(grades: Sequence[NotebookGrade]) -> str:
    """The terminal report: per notebook its total, per cell its points and first failure."""
    lines = []
    for result in grades:
        head = (f"{result.student}  {result.notebook or result.path.name}  "
                f"{result.points:g} / {result.max_points:g}  ({result.seconds:.0f} s)"
                + (f"  from {result.path.name!r}" if result.path.name != result.notebook
                   else ""))
        lines.append(head + (f"  PROBLEM: {result.problem}" if result.problem else ""))
        for cell in result.cells:
            lines.append(f"    {cell.grade_id:<26} {cell.points:>5g} / {cell.max_points:<3g} "
                         f"{cell.message}".rstrip())
    return "\n".join(lines)
