r"""Student versions of the assignment notebooks, and their grading, without nbgrader.

``python -m nstyle_helpers.classroom build [--source DIR] [--output DIR] [--check]``

``python -m nstyle_helpers.classroom grade SUBMISSION... [--source DIR] [--csv FILE]
[--gradebook FILE] [--feedback DIR] [--timeout SECONDS] [--full] [--name-pattern REGEX]``
grades submitted notebooks the way nbgrader's autograder does (see
:mod:`nstyle_helpers.classroom.grading`).

``--source`` defaults to this repository's ``notebooks/assignments``, wherever the command
runs from.

The solution notebooks (``notebooks/assignments/*.ipynb``) mark student code and hidden tests
the way nbgrader does. This command applies, to every notebook directly inside ``--source``,
the steps of ``nbgrader generate_assignment`` that change what a student sees, with the same
rules as nbgrader 0.9's preprocessors (cited by name), and writes the results to ``--output``
(default: ``<source>/release``, the name nbgrader gives the student versions):

``LockCells``
    solution cells get ``deletable: false``; grade cells and read-only cells
    (``locked: true``) get ``deletable: false`` and ``editable: false``.
``ClearSolutions``
    in every line from one containing ``BEGIN SOLUTION`` to one containing ``END SOLUTION``
    (both included), the region becomes the stub ``# YOUR CODE HERE`` /
    ``raise NotImplementedError()``, each stub line indented like the ``BEGIN SOLUTION`` line.
    A solution cell without a region is replaced by the stub as a whole (``YOUR ANSWER
    HERE`` for markdown). A region outside a solution cell, a nested ``BEGIN`` or a missing
    ``END`` is an error.
``ClearOutput``
    code cells lose their outputs, execution counts and the ``collapsed`` / ``scrolled``
    metadata.
``ClearHiddenTests``
    the lines from ``BEGIN HIDDEN TESTS`` to ``END HIDDEN TESTS`` (both included) are
    removed, nothing is put in their place; only grade cells may hold them.
``ClearMarkScheme``
    the same for ``BEGIN MARK SCHEME`` / ``END MARK SCHEME`` in task cells.
``ComputeChecksums``
    grade, solution and read-only cells get nbgrader's ``checksum`` and ``cell_type``.

The ``nbgrader`` metadata is kept, so the student versions still work with nbgrader's
``validate`` and ``autograde``. What this command does not do: nbgrader's database (the
gradebook), headers and footers, ``### AUTOTEST`` templates. An instructor who uses nbgrader
runs ``nbgrader generate_assignment`` on the same solution notebooks instead, and gets the
same cell sources (``tests/test_assignments.py`` compares the two when nbgrader is installed).

``build`` is written in the standard library only (no nbgrader, no nbformat; from the package
only its exception types), and the
notebooks are written the way nbformat writes them, so the files are stable under a round trip
through Jupyter.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from ..base.errors import AssignmentError
from . import grading
from .grading import DEFAULT_SOURCE

__all__ = ["AssignmentError", "CODE_STUB", "TEXT_STUB", "student_version", "build", "main"]

#: nbgrader's ClearSolutions.code_stub for Python, and its text_stub.
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"

RELEASE = "release"
PROG = "python -m nstyle_helpers.classroom"


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_grade(cell: dict) -> bool:
    return bool(_nbgrader(cell).get("grade", False))


def _is_solution(cell: dict) -> bool:
    return bool(_nbgrader(cell).get("solution", False))


def _is_task(cell: dict) -> bool:
    return bool(_nbgrader(cell).get("task", False))


def _is_locked(cell: dict) -> bool:
    # nbgrader.utils.is_locked: solution cells never, grade cells always, else the flag.
    if "nbgrader" not in cell.get("metadata", {}) or _is_solution(cell):
        return False
    return _is_grade(cell) or bool(_nbgrader(cell).get("locked", False))


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _where(path: str, index: int) -> str:
    return f"{path}, cell {index + 1}"


def _replace_regions(source: str, begin: str, end: str, stub: str | None,
                     where: str) -> tuple[str, bool]:
    """Replace each begin…end region by ``stub`` (indented like ``begin``), or drop it."""
    new_lines: list[str] = []
    inside = found = False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise AssignmentError(f"{where}: nested '{begin}' (a region starts before the "
                                      f"previous one ends with '{end}').")
            inside = found = True
            if stub is not None:
                indent = re.match(r"\s*", line).group(0)
                new_lines.extend(indent + stub_line for stub_line in stub.split("\n"))
        elif end in line:
            inside = False
        elif not inside:
            new_lines.append(line)
    if inside:
        raise AssignmentError(f"{where}: '{begin}' without a matching '{end}'.")
    return "\n".join(new_lines), found


def _checksum(cell: dict) -> str:
    # nbgrader.utils.compute_checksum
    md5 = hashlib.md5()
    for part in (_source(cell), cell["cell_type"], str(_is_grade(cell)), str(_is_solution(cell)),
                 str(_is_locked(cell)), _nbgrader(cell)["grade_id"]):
        md5.update(part.encode("utf-8"))
    if _is_grade(cell):
        md5.update(str(float(_nbgrader(cell)["points"])).encode("utf-8"))
    return md5.hexdigest()


def _check_metadata(cells: list[dict], path: str) -> None:
    seen: dict[str, int] = {}
    for index, cell in enumerate(cells):
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        meta, where = _nbgrader(cell), _where(path, index)
        if not (_is_grade(cell) or _is_solution(cell) or _is_locked(cell) or _is_task(cell)):
            continue
        grade_id = meta.get("grade_id")
        if not grade_id or not re.fullmatch(r"[a-zA-Z0-9_\-]+", grade_id):
            raise AssignmentError(f"{where}: nbgrader cells need a grade_id of letters, digits, "
                                  f"'_' and '-', got {grade_id!r}.")
        if grade_id in seen:
            raise AssignmentError(f"{where}: grade_id {grade_id!r} is already used by cell "
                                  f"{seen[grade_id] + 1}; grade ids must be unique.")
        seen[grade_id] = index
        if _is_grade(cell) and not isinstance(meta.get("points"), (int, float)):
            raise AssignmentError(f"{where}: grade cell {grade_id!r} needs a number of points.")


def student_version(notebook: dict, path: str = "notebook") -> dict:
    """The student version of a solution notebook (a dict as read from the JSON file)."""
    notebook = copy.deepcopy(notebook)
    cells = notebook.get("cells", [])
    _check_metadata(cells, path)
    language = notebook.get("metadata", {}).get("kernelspec", {}).get("language", "python")
    if language != "python":
        raise AssignmentError(f"{path}: only Python notebooks are supported, not {language!r}.")
    for index, cell in enumerate(cells):
        where = _where(path, index)
        metadata = cell.setdefault("metadata", {})
        # LockCells
        if _is_solution(cell):
            metadata["deletable"] = False
        elif _is_grade(cell) or _is_locked(cell):
            metadata["deletable"] = False
            metadata["editable"] = False
        # ClearSolutions
        stub = CODE_STUB if cell["cell_type"] == "code" else TEXT_STUB
        source, replaced = _replace_regions(_source(cell), "BEGIN SOLUTION", "END SOLUTION",
                                            stub, where)
        if replaced and not _is_solution(cell):
            raise AssignmentError(f"{where}: a solution region in a cell that is not a "
                                  "solution cell; mark the cell with nbgrader "
                                  "'solution': true.")
        if _is_solution(cell) and not replaced:
            source = stub
        # ClearOutput
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            metadata.pop("collapsed", None)
            metadata.pop("scrolled", None)
        # ClearHiddenTests
        source, removed = _replace_regions(source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
                                           None, where)
        if removed and not _is_grade(cell):
            raise AssignmentError(f"{where}: hidden tests in a cell that is not a grade cell; "
                                  "mark the cell with nbgrader 'grade': true.")
        # ClearMarkScheme
        source, removed = _replace_regions(source, "BEGIN MARK SCHEME", "END MARK SCHEME",
                                           None, where)
        if removed and not _is_task(cell):
            raise AssignmentError(f"{where}: a mark scheme in a cell that is not a task cell.")
        cell["source"] = source
        # ComputeChecksums
        if _is_grade(cell) or _is_solution(cell) or _is_locked(cell):
            metadata["nbgrader"]["checksum"] = _checksum(cell)
            metadata["nbgrader"]["cell_type"] = cell["cell_type"]
    notebook.get("metadata", {}).pop("celltoolbar", None)  # as ClearSolutions does
    return notebook


def _split_lines(notebook: dict) -> dict:
    # nbformat stores multi-line strings as lists of lines
    for cell in notebook.get("cells", []):
        if isinstance(cell.get("source"), str):
            cell["source"] = cell["source"].splitlines(True)
    return notebook


def dumps(notebook: dict) -> str:
    """The notebook as nbformat writes it (sorted keys, indent 1, UTF-8, final newline)."""
    text = json.dumps(_split_lines(copy.deepcopy(notebook)), sort_keys=True, indent=1,
                      separators=(",", ": "), ensure_ascii=False)
    return text + "\n"


def _sources(source_dir: Path) -> list[Path]:
    paths = sorted(source_dir.glob("*.ipynb"))
    if not paths:
        raise AssignmentError(f"no notebooks (*.ipynb) in {source_dir}.")
    return paths


def build(source_dir: str | Path = DEFAULT_SOURCE, output_dir: str | Path | None = None, *,
          check: bool = False) -> list[Path]:
    """Write the student version of every notebook in ``source_dir`` into ``output_dir``.

    With ``check=True`` nothing is written; returns the output files that are missing, stale
    or left over (no source any more). Otherwise returns the files written.
    """
    source_dir = Path(source_dir)
    output_dir = Path(output_dir) if output_dir is not None else source_dir / RELEASE
    if not source_dir.is_dir():
        raise AssignmentError(f"{source_dir} is not a folder of solution notebooks.")
    texts = {}
    for path in _sources(source_dir):
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise AssignmentError(f"{path} is not a readable notebook: {error}") from None
        texts[output_dir / path.name] = dumps(student_version(notebook, str(path)))
    if check:
        stale = [target for target, text in texts.items()
                 if not target.is_file() or target.read_text(encoding="utf-8") != text]
        leftover = sorted(set(output_dir.glob("*.ipynb")) - set(texts))
        return stale + leftover
    output_dir.mkdir(parents=True, exist_ok=True)
    for target, text in texts.items():
        target.write_text(text, encoding="utf-8")
    return list(texts)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=(
        "Generate the student versions of the assignment notebooks (as nbgrader "
        "generate_assignment does), and grade submissions (as nbgrader autograde does)."))
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="write the student versions", description=(
        "Solution regions become '# YOUR CODE HERE / raise NotImplementedError()', hidden "
        "tests are removed, outputs cleared, nbgrader metadata kept."))
    build_parser.add_argument("--source", default=str(DEFAULT_SOURCE),
                              help="folder of solution notebooks (default: %(default)s)")
    build_parser.add_argument("--output", default=None,
                              help=f"folder for the student versions (default: SOURCE/{RELEASE})")
    build_parser.add_argument("--check", action="store_true",
                              help="write nothing; exit 1 if the student versions are stale")
    grade_parser = commands.add_parser("grade", help="grade submitted notebooks", description=(
        "Restore the check cells (with the hidden tests) by grade_id, execute each "
        "submission, and report the points of each check cell."))
    grade_parser.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                              help="submitted notebooks, or folders searched for *.ipynb")
    grade_parser.add_argument("--source", default=str(DEFAULT_SOURCE),
                              help="folder of solution notebooks, whose check cells are used "
                                   "(default: %(default)s)")
    grade_parser.add_argument("--csv", help="write one row per check cell to this CSV file")
    grade_parser.add_argument("--gradebook", help="write one row per student (points per "
                              "assignment, total, max) to this CSV file")
    grade_parser.add_argument("--feedback", help="write one feedback file per student here")
    grade_parser.add_argument("--timeout", type=int, default=300,
                              help="seconds each cell may run (default: %(default)s)")
    grade_parser.add_argument("--full", action="store_true",
                              help="the students' settings instead of quick mode (minutes "
                                   "per notebook on a CPU)")
    grade_parser.add_argument("--name-pattern", metavar="REGEX",
                              help="read each student from the file name with this regular "
                                   "expression (nbgrader zip_collect's named_regexp: groups "
                                   "student_id and file_id); default: STUDENT_NOTEBOOK.ipynb "
                                   "in a folder holding several copies of one assignment")
    return parser


def _grade(args) -> int:
    try:
        grades = grading.grade(args.submissions, source=args.source, timeout=args.timeout,
                               quick=not args.full, name_pattern=args.name_pattern)
    except ValueError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    if not grades:
        print(f"{PROG}: error: no notebooks (*.ipynb) in {' '.join(args.submissions)}.",
              file=sys.stderr)
        return 2
    print(grading.report(grades))
    if args.csv:
        grading.write_csv(grades, args.csv)
        print(f"wrote {args.csv}")
    if args.gradebook:
        grading.write_gradebook(grades, args.gradebook)
        print(f"wrote {args.gradebook}")
    if args.feedback:
        for path in grading.write_feedback(grades, args.feedback):
            print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "grade":
        return _grade(args)
    try:
        result = build(args.source, args.output, check=args.check)
    except AssignmentError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    if args.check:
        if result:
            print(f"{PROG}: stale student versions (run without --check to regenerate): "
                  + ", ".join(str(p) for p in result), file=sys.stderr)
            return 1
        print("student versions are up to date")
        return 0
    for path in result:
        print(f"wrote {path}")
    return 0

