"""The grader (``python -m nstyle_helpers.classroom grade``) on committed fixture submissions.

``tests/fixtures/assignments/STUDENT/NOTEBOOK.ipynb`` are simulated students of assignment 2 (and
one each of assignments 1 and 3): correct, typical mistakes, one function unwritten, sizes
written into the code (with an edited check cell), ``float(weight)``, a renamed function with a
deleted check cell, a wrong function with the checks patched away, a correct A3 whose loop
draws a tqdm progress bar, and a notebook cut off in the middle of its JSON. The grader runs
once on all of them from another folder (module fixture); the tests read its report, CSV and
feedback files, and compare its points with ``nbgrader autograde``'s on the same submissions.
``tests/fixtures/lms_download/`` is an LMS's flat download, graded by both paths too (nbgrader
through ``zip_collect`` with the grader's own file-name pattern).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_output

from nstyle_helpers.classroom import grading, submissions
from nstyle_helpers.classroom.submissions import Submission
from test_assignments import SOURCE, nbgrader_env

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "assignments"
#: An LMS's flat download of assignment 2: a Python loop over the batch, a correct notebook
#: renamed by Jupyter and a browser, and a style loss without its square.
LMS_DOWNLOAD = FIXTURES.parent / "lms_download"
STUDENTS = sorted(path.name for path in FIXTURES.iterdir() if path.is_dir())
#: Not given to nbgrader: it cannot read the notebook at all.
UNREADABLE = {"broken"}


def _run(*args, cwd, timeout=600):
    return subprocess.run([sys.executable, "-m", "nstyle_helpers.classroom", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The grade command run once on every fixture, from a folder outside the repository."""
    folder = tmp_path_factory.mktemp("grading")
    done = _run("grade", FIXTURES, "--csv", "grades.csv", "--gradebook", "gradebook.csv",
                "--feedback", "feedback", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(folder / "grades.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    with open(folder / "gradebook.csv", newline="", encoding="utf-8") as file:
        gradebook = list(csv.DictReader(file))
    points = {}
    for row in rows:
        points.setdefault(row["student"], {})[row["cell"]] = float(row["points"])
    return {"report": done.stdout, "stderr": done.stderr, "rows": rows, "points": points,
            "gradebook": gradebook, "feedback": folder / "feedback"}


def test_every_submission_is_graded_cell_by_cell(graded):
    assert sorted(graded["points"]) == STUDENTS
    assert list(graded["rows"][0]) == ["student", "assignment", "file", "cell", "points",
                                       "max", "message"]
    a2 = {"check_gram_matrix": 3.0, "check_style_layer_loss": 3.0}
    assert graded["points"]["correct"] == a2
    assert graded["points"]["unwritten"] == {"check_gram_matrix": 3.0,
                                             "check_style_layer_loss": 0.0}
    assert "correct  a2_gram_and_style.ipynb  6 / 6" in graded["report"]
    assert "Kernel is running over TCP" not in graded["stderr"]


def test_near_misses_get_partial_credit(graded):
    points = graded["points"]
    for student, cell in [("gram_divided_and_mean", "check_gram_matrix"),
                          ("gram_transposed", "check_gram_matrix"),
                          ("hard_coded_sizes", "check_gram_matrix"),
                          ("hard_coded_sizes", "check_style_layer_loss"),
                          ("float_weight", "check_style_layer_loss"),
                          ("typical_mistakes", "check_gradient_step"),
                          ("typical_mistakes", "check_content_loss")]:
        assert 0 < points[student][cell] < 3, (student, cell, points[student][cell])


def cell_messages(graded, student):
    return {row["cell"]: row["message"] for row in graded["rows"] if row["student"] == student}


def test_one_line_per_failed_check_in_the_checks_words(graded):
    messages = cell_messages(graded, "gram_divided_and_mean")
    assert "divided by N_l·M_l" in messages["check_gram_matrix"]
    assert "mean over the N_l² entries" in messages["check_style_layer_loss"]
    assert "You computed Fᵀ F" in cell_messages(graded, "gram_transposed")["check_gram_matrix"]
    assert "assume particular sizes" in cell_messages(graded, "hard_coded_sizes")["check_gram_matrix"]
    assert "one weight per image" in cell_messages(graded, "float_weight")["check_style_layer_loss"]
    a1 = cell_messages(graded, "typical_mistakes")
    assert "mean over the batch" in a1["check_gradient_step"]
    assert "you used F.mse_loss" in a1["check_content_loss"]
    assert a1["check_pixel_loss"] == ""
    for row in graded["rows"]:
        assert "\n" not in row["message"] and "Traceback" not in row["message"]


def test_patched_checks_score_nothing_and_say_what_was_changed(graded):
    """patched_checks wrote a wrong Gram matrix and replaced checks.expect, every check_*
    and nh.gram_matrix from its solution cell: both cells after it score 0 (nbgrader too,
    test_same_points_as_nbgrader_autograde)."""
    assert graded["points"]["patched_checks"] == {"check_gram_matrix": 0.0,
                                                  "check_style_layer_loss": 0.0}
    for message in cell_messages(graded, "patched_checks").values():
        assert message.startswith("a cell of this notebook changed checks.expect, ")
        assert "checks.check_gram_matrix" in message and "nh.gram_matrix" in message
        assert "graded cells score 0" in message


def test_a_progress_bar_in_a_correct_loop_costs_nothing_and_is_noted(graded):
    """progress_bar solved A3 correctly, its loop wrapped in tqdm (stderr): the checks keep
    the bar out of the graded cells' output, so both paths give every point."""
    assert graded["points"]["progress_bar"] == {"check_total_variation": 2.0,
                                                "check_combined_loss": 3.0,
                                                "check_optimization_loop": 3.0}
    note = cell_messages(graded, "progress_bar")["check_optimization_loop"]
    assert note.startswith("your code wrote to stderr (a progress bar?): ")
    assert "tqdm.auto" in note


def test_broken_renamed_and_deleted_get_a_clear_line(graded):
    broken = cell_messages(graded, "broken")
    assert set(broken) == {"check_gram_matrix", "check_style_layer_loss"}
    assert all("not valid JSON" in message for message in broken.values())
    assert graded["points"]["broken"] == {"check_gram_matrix": 0.0, "check_style_layer_loss": 0.0}
    assert "broken  a2_gram_and_style.ipynb  0 / 6" in graded["report"]
    assert "PROBLEM: is not valid JSON" in graded["report"]
    renamed = cell_messages(graded, "renamed_and_deleted")
    assert "name 'gram_matrix' is not defined" in renamed["check_gram_matrix"]
    assert "renamed" in renamed["check_gram_matrix"]
    assert "missing from the submission" in renamed["check_style_layer_loss"]


def test_an_edited_check_cell_gains_nothing(graded):
    """hard_coded_sizes replaced its failing check cell by one that only shows the marks."""
    assert graded["points"]["hard_coded_sizes"]["check_gram_matrix"] < 3


def _hidden_lines() -> set[str]:
    lines = set()
    for path in SOURCE.glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            hidden = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS",
                                cell.source, re.S)
            lines |= {line.strip() for block in hidden for line in block.splitlines()
                      if len(line.strip()) > 12}
    return lines


def test_feedback_shows_the_messages_never_the_hidden_tests(graded):
    files = sorted(graded["feedback"].glob("*.md"))
    assert [path.stem for path in files] == STUDENTS
    hidden = _hidden_lines()
    assert len(hidden) > 40
    for path in files:
        text = path.read_text(encoding="utf-8")
        leaked = [line for line in hidden if line in text]
        assert not leaked, (path.name, leaked)
    transposed = (graded["feedback"] / "gram_transposed.md").read_text(encoding="utf-8")
    assert "a worked example: gram_matrix on two maps" in transposed  # a hidden test, by name
    assert "that is Fᵀ F, the products of positions" in transposed
    text = (graded["feedback"] / "float_weight.md").read_text(encoding="utf-8")
    assert "`check_style_layer_loss`: 2.57 / 3" in text
    assert "✗ one weight per image, a tensor (N,): your code raised ValueError" in text


def test_same_points_as_nbgrader_autograde(graded, tmp_path):
    """One nbgrader assignment per homework; the same fixtures; the same points per cell."""
    env = nbgrader_env()
    course = tmp_path / "course"
    for path in SOURCE.glob("*.ipynb"):
        assignment = path.name[:2]  # a1, a2, a3
        (course / "source" / assignment).mkdir(parents=True)
        shutil.copy(path, course / "source" / assignment / path.name)
    submitted = {}
    for student in sorted(set(STUDENTS) - UNREADABLE):
        for path in (FIXTURES / student).glob("*.ipynb"):
            target = course / "submitted" / student / path.name[:2] / path.name
            target.parent.mkdir(parents=True)
            shutil.copy(path, target)
            submitted.setdefault(path.name[:2], set()).add(student)
    options = [f"--CourseDirectory.root={course}"]
    for assignment in sorted(submitted):
        for command in (["generate_assignment", assignment],
                        ["autograde", assignment, "--create"]):
            done = subprocess.run([sys.executable, "-m", "nbgrader", *command, *options],
                                  cwd=course, env=env, capture_output=True, text=True,
                                  timeout=600)
            assert done.returncode == 0, done.stdout + done.stderr
    theirs = _nbgrader_points(course, env)
    ours = {student: graded["points"][student] for student in theirs}
    assert sorted(theirs) == sorted(set(STUDENTS) - UNREADABLE)
    assert ours == theirs


def _nbgrader_points(course: Path, env: dict) -> dict[str, dict[str, float]]:
    """Points per student and check cell in the nbgrader gradebook of ``course``."""
    script = ("import json, sys\nfrom nbgrader.api import Gradebook\n"
              "with Gradebook(sys.argv[1]) as gb:\n"
              "    print(json.dumps({s.student.id: {g.name: g.score for nb in s.notebooks "
              "for g in nb.grades} for a in gb.assignments "
              "for s in gb.assignment_submissions(a.name)}))\n")
    done = subprocess.run([sys.executable, "-c", script, f"sqlite:///{course / 'gradebook.db'}"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ---------------------------------------------------------------------------------------------
# Smaller pieces


def test_a_timeout_is_a_line_not_a_crash(tmp_path):
    notebook = nbformat.read(FIXTURES / "correct" / "a2_gram_and_style.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "gram_matrix":
            cell.source = "import time\nwhile True:\n    time.sleep(0.1)"
    path = tmp_path / "looping" / "a2_gram_and_style.ipynb"
    path.parent.mkdir()
    nbformat.write(notebook, path)
    (result,) = grading.grade([path], timeout=8)
    assert result.student == "looping" and "timed out" in result.problem
    assert [cell.points for cell in result.cells] == [0.0, 0.0]
    assert all("not run" in cell.message for cell in result.cells)


def _executed_grade_cell(*outputs, points=3):
    cell = new_code_cell("marks", metadata={"nbgrader": {"grade": True, "grade_id": "c",
                                                         "points": points}})
    cell.outputs = list(outputs)
    return cell


@pytest.mark.parametrize("outputs, expected", [
    ([new_output("execute_result", {"text/plain": "1.5"}, execution_count=1)], 1.5),
    ([new_output("stream", name="stdout", text="✓ ok\n"),
      new_output("execute_result", {"text/plain": "0"}, execution_count=1)], 0.0),
    ([new_output("execute_result", {"text/plain": "7"}, execution_count=1)], 3.0),
    ([new_output("execute_result", {"text/plain": "'text'"}, execution_count=1)], 3.0),
    ([new_output("stream", name="stderr", text="a warning\n"),
      new_output("execute_result", {"text/plain": "3"}, execution_count=1)], 0.0),
    ([new_output("error", ename="CheckFailed", evalue="no", traceback=[])], 0.0),
    ([], 3.0),
], ids=["partial", "zero", "capped", "not a number", "stderr", "error", "no output"])
def test_cell_points_follow_nbgraders_rule(outputs, expected):
    assert grading.cell_points(_executed_grade_cell(*outputs)) == expected


@pytest.mark.parametrize("text, first", [
    ("\r  0%|          | 0/3\r100%|██████████| 3/3\n", "0%|          | 0/3"),
    ("\r", "(blank lines only)"),
    ("\n\n  a warning\nmore\n", "a warning"),
])
def test_stderr_of_a_progress_bar_is_one_message_not_a_crash(text, first):
    cell = _executed_grade_cell(new_output("stream", name="stderr", text=text))
    assert grading.cell_messages(cell) == [
        f"the cell wrote to stderr, which nbgrader scores 0: {first}"]


def test_a_cell_stopped_at_the_time_limit_says_so():
    cell = _executed_grade_cell(new_output("error", ename="KeyboardInterrupt", evalue="",
                                           traceback=[]))
    assert grading.cell_messages(cell) == [
        "stopped at the time limit (--timeout): an endless or very slow loop in a function "
        "this cell calls?"]


def test_an_unforeseen_failure_is_that_students_problem(tmp_path, monkeypatch):
    def broken(submission, sources, **kwargs):
        if submission.path.name == "bad.ipynb":
            raise IndexError("list index out of range")
        return grading.NotebookGrade("good", submission.path)

    monkeypatch.setattr(grading, "grade_notebook", broken)
    grades = [grading.grade_isolated(Submission(tmp_path / name, "ada", ""), {}, timeout=1,
                                     env={})
              for name in ("bad.ipynb", "good.ipynb")]
    assert grades[0].problem == ("could not be graded (IndexError: list index out of range); "
                                 "grade it by hand")
    assert grades[1].problem == ""


def test_the_gradebook_has_one_row_per_student_with_totals(graded):
    rows = {row["student"]: row for row in graded["gradebook"]}
    assert sorted(rows) == sorted({row["student"] for row in graded["rows"]
                                   if row["assignment"]})
    for student, row in rows.items():
        by_assignment = {}
        for cell in graded["rows"]:
            if cell["student"] == student and cell["assignment"]:
                by_assignment.setdefault(cell["assignment"], 0.0)
                by_assignment[cell["assignment"]] += float(cell["points"])
        assert float(row["total"]) == pytest.approx(sum(
            float(row[name]) for name in row if name not in ("student", "total", "max")))
        for name, points in by_assignment.items():  # one submission each in the fixtures
            assert float(row[name]) == pytest.approx(points)
    assert rows["correct"]["a2_gram_and_style"] == "6"


def _copy(source: Path, *targets: Path) -> None:
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)


def _sources() -> dict:
    return {path.name: nbformat.read(path, as_version=4) for path in SOURCE.glob("*.ipynb")}


def test_students_come_from_the_layout_or_the_file_name(tmp_path):
    a2 = FIXTURES / "correct" / "a2_gram_and_style.ipynb"
    flat = tmp_path / "lms_download"
    _copy(a2, flat / "s12345_a2_gram_and_style.ipynb",
          flat / "s67890_a2_gram_and_style-Copy1 (2).ipynb",
          flat / "Jane Doe - a2_gram_and_style.ipynb",
          tmp_path / "inbox" / "bob" / "a2.ipynb",
          tmp_path / "submitted" / "ada" / "a2" / "a2_gram_and_style.ipynb",
          tmp_path / "submitted" / "eve" / "a2" / "a2_gram_and_style.ipynb")
    _copy(FIXTURES / "typical_mistakes" / "a1_pixels_and_content.ipynb",
          flat / "s12345_a1_pixels_and_content.ipynb", tmp_path / "inbox" / "bob" / "a1.ipynb")
    found = {(s.student, s.notebook, s.path.name)
             for s in submissions.find_submissions([tmp_path], _sources())}
    assert found == {
        ("s12345", "a2_gram_and_style.ipynb", "s12345_a2_gram_and_style.ipynb"),
        ("s12345", "a1_pixels_and_content.ipynb", "s12345_a1_pixels_and_content.ipynb"),
        ("s67890", "a2_gram_and_style.ipynb", "s67890_a2_gram_and_style-Copy1 (2).ipynb"),
        ("Jane Doe", "a2_gram_and_style.ipynb", "Jane Doe - a2_gram_and_style.ipynb"),
        ("bob", "a2_gram_and_style.ipynb", "a2.ipynb"),
        ("bob", "a1_pixels_and_content.ipynb", "a1.ipynb"),
        ("ada", "a2_gram_and_style.ipynb", "a2_gram_and_style.ipynb"),
        ("eve", "a2_gram_and_style.ipynb", "a2_gram_and_style.ipynb")}


def test_a_name_pattern_reads_any_file_name(tmp_path):
    """nbgrader's named_regexp syntax, matched from the start of the absolute path; a file_id
    that names no notebook leaves the check cells to find the assignment."""
    _copy(FIXTURES / "correct" / "a2_gram_and_style.ipynb", tmp_path / "other" / "a2-ann.ipynb",
          tmp_path / "other" / "a2-bob.ipynb")
    pattern = r".*/(?P<file_id>a\d)-(?P<student_id>\w+)\.ipynb"
    found = submissions.find_submissions([tmp_path / "other"], _sources(), name_pattern=pattern)
    assert [(s.student, s.notebook) for s in found] == [("ann", "a2_gram_and_style.ipynb"),
                                                        ("bob", "a2_gram_and_style.ipynb")]


def test_the_guide_gives_the_default_pattern_for_both_graders():
    guide = (SOURCE.parents[1] / "docs" / "INSTRUCTORS.md").read_text(encoding="utf-8")
    pattern = submissions.default_name_pattern(_sources())
    assert f"\n  {pattern}\n" in guide
    assert f"zip_collect a2 --FileNameCollectorPlugin.named_regexp='{pattern}'" in guide


def test_the_student_is_nbgraders_folder_or_the_parent(tmp_path):
    assert submissions.student_of(tmp_path / "submitted" / "ada" / "a2" / "x.ipynb") == "ada"
    assert submissions.student_of(tmp_path / "inbox" / "bob" / "x.ipynb") == "bob"


@pytest.mark.parametrize("names, words", [
    (["s1_a2_gram_and_style.ipynb", "a2_gram_and_style (2).ipynb"],
     "the name 'a2_gram_and_style (2).ipynb' does not say whose it is"),
    (["s1_a2_gram_and_style.ipynb", "s1_a2_gram_and_style-Copy1.ipynb"],
     "holds two copies of a2_gram_and_style.ipynb by s1"),
], ids=["no student", "two copies"])
def test_a_flat_folder_that_would_merge_or_drop_students_is_refused(tmp_path, names, words):
    for name in names:
        _copy(FIXTURES / "correct" / "a2_gram_and_style.ipynb", tmp_path / "download" / name)
    done = _run("grade", tmp_path / "download", "--csv", "grades.csv", cwd=tmp_path,
                timeout=120)
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "grades.csv").exists()


@pytest.mark.parametrize("pattern, words", [
    ("(", "is not a regular expression"),
    (r"(?P<student_id>\w+)", "needs the named groups"),
    (r".*/(?P<student_id>x)_(?P<file_id>a2)\.ipynb", "does not match --name-pattern"),
], ids=["not a regex", "no groups", "no match"])
def test_a_bad_name_pattern_is_one_line(tmp_path, pattern, words):
    done = _run("grade", LMS_DOWNLOAD, "--name-pattern", pattern, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_flat_lms_download_scores_as_with_nbgrader_zip_collect(tmp_path):
    """The same download through both paths: ``grade`` on the folder, and nbgrader's
    ``zip_collect`` with the same file-name pattern, then ``autograde``: the same students,
    the same points per cell (the renamed copy included), one feedback file per student."""
    done = _run("grade", LMS_DOWNLOAD, "--csv", "grades.csv", "--feedback", "feedback",
                cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    ours: dict[str, dict[str, float]] = {}
    for row in rows:
        ours.setdefault(row["student"], {})[row["cell"]] = float(row["points"])
    assert sorted(ours) == ["s12345", "s13579", "s67890"]
    assert sorted(path.stem for path in (tmp_path / "feedback").glob("*.md")) == sorted(ours)
    assert "s67890  a2_gram_and_style.ipynb  6 / 6" in done.stdout
    assert "from 's67890_a2_gram_and_style-Copy1 (2).ipynb'" in done.stdout
    loop = (tmp_path / "feedback" / "s12345.md").read_text(encoding="utf-8")
    assert "loops in Python" in loop and "returned torch.float32" in loop
    assert "values are right but its gradient" not in loop.replace("returned torch.float32", "")
    assert 0 < ours["s12345"]["check_gram_matrix"] < 3
    unsquared = (tmp_path / "feedback" / "s13579.md").read_text(encoding="utf-8")
    assert "without squaring them" in unsquared and "the difference is squared" in unsquared

    env = nbgrader_env()
    course = tmp_path / "course"
    _copy(SOURCE / "a2_gram_and_style.ipynb", course / "source" / "a2" / "a2_gram_and_style.ipynb")
    for path in LMS_DOWNLOAD.glob("*.ipynb"):
        _copy(path, course / "downloaded" / "a2" / "archive" / path.name)
    pattern = submissions.default_name_pattern(["a2_gram_and_style.ipynb"])
    for command in (["generate_assignment", "a2"],
                    ["zip_collect", "a2", f"--FileNameCollectorPlugin.named_regexp={pattern}"],
                    ["autograde", "a2", "--create"]):
        done = subprocess.run([sys.executable, "-m", "nbgrader", *command,
                               f"--CourseDirectory.root={course}"], cwd=course, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    assert _nbgrader_points(course, env) == ours


def test_random_weights_only_when_none_are_cached_or_chosen(monkeypatch):
    monkeypatch.delenv("NSTYLE_WEIGHTS", raising=False)
    monkeypatch.setattr("nstyle_helpers.teaching.session.pretrained_weights_cached", lambda: False)
    env = grading.grading_environment(quick=True)
    assert env["NSTYLE_WEIGHTS"] == "random" and env["NSTYLE_QUICK"] == "1"
    monkeypatch.setattr("nstyle_helpers.teaching.session.pretrained_weights_cached", lambda: True)
    assert "NSTYLE_WEIGHTS" not in grading.grading_environment(quick=False)
    assert "NSTYLE_QUICK" not in grading.grading_environment(quick=False)
    monkeypatch.setenv("NSTYLE_WEIGHTS", "/weights/vgg19.pth")
    assert grading.grading_environment(quick=True)["NSTYLE_WEIGHTS"] == "/weights/vgg19.pth"


def test_command_errors_are_one_line(tmp_path):
    done = _run("grade", tmp_path, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "no notebooks" in done.stderr
    done = _run("grade", FIXTURES / "correct", "--source", tmp_path, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "no solution notebooks" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
