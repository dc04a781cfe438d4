"""Who handed in what: a class's submitted notebooks, each with its student and its assignment.

Submissions arrive in three layouts, and :func:`find_submissions` reads all three:

- nbgrader's, ``submitted/STUDENT/ASSIGNMENT/NOTEBOOK.ipynb``: the student is the folder after
  ``submitted``;
- a folder per student, ``STUDENT/NOTEBOOK.ipynb``: the student is the folder;
- an LMS's flat download, one folder holding several students' copies of one assignment
  (``s12345_a2_gram_and_style.ipynb`` beside ``s67890_a2_gram_and_style-Copy1 (2).ipynb``):
  the student is read from each file's name by a regular expression with the named groups
  ``student_id`` and ``file_id``, matched from the start of the file's absolute path. That is
  the syntax of nbgrader's ``zip_collect`` (``--FileNameCollectorPlugin.named_regexp``), so one
  pattern serves both graders. The default, :func:`default_name_pattern`, takes the student
  from what comes before the assignment's name and drops Jupyter's ``-Copy1`` and a browser's
  `` (2)`` after it.

A flat folder where a file's name does not say whose copy it is, or where one student handed in
two copies of one assignment, is refused with a :class:`SettingsError` before anything is
graded: a guess would merge two students or drop a submission.

The assignment of a submission is the solution notebook that its pattern's ``file_id`` or its
file name names; else the one whose check cells' ``grade_id`` it shares most.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..base.errors import SettingsError

__all__ = ["Submission", "find_submissions", "default_name_pattern", "student_of",
           "nbgrader_meta", "grade_cells"]


@dataclass
class Submission:
    """One submitted notebook: its file, its student, and the name of the solution notebook
    it answers ('' when it matches none)."""

    path: Path
    student: str
    notebook: str


def nbgrader_meta(cell) -> dict:
    """A cell's nbgrader metadata ({} for a cell nbgrader does not know)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_cells(notebook) -> list:
    """The graded (check) cells of a notebook, in order."""
    return [cell for cell in notebook.cells if nbgrader_meta(cell).get("grade")]


def default_name_pattern(notebooks: Iterable[str]) -> str:
    """The file-name pattern of a flat download: the student, a separator (``_``, ``-`` or a
    space), then the name of one of ``notebooks``, perhaps followed by ``-Copy1`` or `` (2)``."""
    names = "|".join(re.escape(Path(name).stem) for name in sorted(notebooks))
    return (rf".*[/\\](?P<student_id>[^/\\]+?)[ _-]+(?P<file_id>{names})"
            rf"(?:-Copy\d+)?(?: ?\(\d+\))*\.ipynb$")


def student_of(path: Path) -> str:
    """The student of a submission: the folder after ``submitted/``, else the parent folder."""
    parts = path.resolve().parts
    if _in_nbgrader_layout(path):
        return parts[parts.index("submitted") + 1]
    return path.resolve().parent.name


def _in_nbgrader_layout(path: Path) -> bool:
    return "submitted" in path.resolve().parts[:-2]


def _files(paths: Iterable[str | Path]) -> list[Path]:
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        else:
            found.append(path)
    return found


def _compile(pattern: str) -> re.Pattern:
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise SettingsError(f"--name-pattern is not a regular expression ({error}).") from None
    if not {"student_id", "file_id"} <= set(compiled.groupindex):
        raise SettingsError("--name-pattern needs the named groups (?P<student_id>...) and "
                            "(?P<file_id>...), as nbgrader zip_collect's named_regexp does.")
    return compiled


def _assignment(path: Path, file_id: str, sources: Mapping) -> str:
    """The solution notebook ``path`` answers: by ``file_id``, file name, then check cells."""
    import nbformat

    for name in (f"{Path(file_id).stem}.ipynb" if file_id else "", path.name):
        if name in sources:
            return name
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 (unreadable: the grader says why, for this file alone)
        return ""
    ids = {nbgrader_meta(cell).get("grade_id") for cell in notebook.cells} - {None}
    shared = {name: len(ids & {nbgrader_meta(cell)["grade_id"] for cell in grade_cells(source)})
              for name, source in sources.items()}
    best = max(shared, key=shared.get, default=None)
    return best if best is not None and shared[best] > 0 else ""


def find_submissions(paths: Iterable[str | Path], sources: Mapping, *,
                     name_pattern: str | None = None) -> list[Submission]:
    """Every submitted notebook under ``paths`` (notebooks, or folders searched for
    ``*.ipynb``), with its student and the name of the solution notebook (a key of
    ``sources``) it answers. ``name_pattern`` (nbgrader's ``named_regexp`` syntax) names the
    students of every folder outside nbgrader's layout; without it, folders that hold more
    than one copy of an assignment are read with :func:`default_name_pattern`."""
    rule = _compile(name_pattern) if name_pattern else re.compile(default_name_pattern(sources))
    found = []
    for path in _files(paths):
        match = rule.match(str(path.resolve()))
        found.append((path, match, _assignment(path, match["file_id"] if match else "", sources)))
    copies = Counter((path.resolve().parent, notebook) for path, _, notebook in found
                     if notebook and not _in_nbgrader_layout(path))
    flat = {folder for (folder, _), count in copies.items() if count > 1 or name_pattern}
    submissions = []
    for path, match, notebook in found:
        if path.resolve().parent not in flat or not notebook:
            submissions.append(Submission(path, student_of(path), notebook))
        elif match is None and name_pattern:
            raise SettingsError(f"{path} does not match --name-pattern, so its student is "
                                "unknown: change the pattern, or rename the file.")
        elif match is None:
            raise SettingsError(
                f"{path.parent} holds copies of {notebook} by several students, and the name "
                f"{path.name!r} does not say whose it is: name each file "
                f"STUDENT_{notebook}, give --name-pattern, or put it in a folder named for "
                "its student.")
        else:
            submissions.append(Submission(path, match["student_id"], notebook))
    _refuse_two_copies(submissions, flat)
    return submissions


def _refuse_two_copies(submissions: list[Submission], flat: set[Path]) -> None:
    seen: dict[tuple, Path] = {}
    for submission in submissions:
        folder = submission.path.resolve().parent
        key = (folder, submission.student, submission.notebook)
        if folder in flat and submission.notebook and key in seen:
            raise SettingsError(
                f"{submission.path.parent} holds two copies of {submission.notebook} by "
                f"{submission.student} ({seen[key].name!r} and {submission.path.name!r}): "
                "keep the one to grade.")
        seen[key] = submission.path
