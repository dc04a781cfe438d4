"""The assignment notebooks and their student versions.

The solution notebooks themselves run under nbval with the other notebooks (the README's test
command), where every check cell must pass. Here:

- the notebooks follow nbgrader's conventions (markers, cell metadata, points) and the
  project's (session cell, quick mode, no outputs committed);
- the generator (:mod:`nstyle_helpers.classroom.assignments`) follows nbgrader's documented
  rules, on a small notebook written for each rule, and gives what
  ``nbgrader generate_assignment`` gives on the real notebooks (when nbgrader is installed; it is not in requirements.txt);
- the committed student versions (``notebooks/assignments/release/``) are up to date;
- executed, the student versions score 0 in exactly their graded cells (nbgrader's
  ``validate --invert`` idea), the solution notebooks every point, and nbval does not
  collect the student versions.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from nstyle_helpers.classroom import assignments, grading
from nstyle_helpers.classroom.assignments import AssignmentError, CODE_STUB, student_version

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "notebooks" / "assignments"
RELEASE = SOURCE / "release"
SOLUTIONS = sorted(SOURCE.glob("*.ipynb"))
STUDENTS = sorted(RELEASE.glob("*.ipynb"))

#: Every check function is graded somewhere, in this order (the tutorials' order).
CHECKS = ["check_pixel_loss", "check_gradient_step", "check_content_loss", "check_gram_matrix",
          "check_style_loss", "check_total_variation", "check_combined_loss",
          "check_optimization_loop"]


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _graded(notebook) -> list[int]:
    return [i for i, cell in enumerate(notebook.cells) if _meta(cell).get("grade")]


def _ids(paths):
    return [path.name for path in paths]


# ---------------------------------------------------------------------------------------------
# The solution notebooks


def test_solutions_and_student_versions_exist():
    assert len(SOLUTIONS) >= 3
    assert _ids(STUDENTS) == _ids(SOLUTIONS)


def test_every_check_is_graded_once_in_order():
    calls = [re.search(r"checks\.(check_\w+)\(", cell.source).group(1)
             for path in SOLUTIONS for i in _graded(_read(path))
             for cell in [_read(path).cells[i]]]
    assert calls == CHECKS


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_exercises_follow_nbgrader_conventions(path):
    """formula (markdown, LaTeX) → solution cell (a function) → graded check with hidden tests."""
    notebook = _read(path)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    graded = _graded(notebook)
    assert graded
    for index in graded:
        check, solution, formula = (notebook.cells[index], notebook.cells[index - 1],
                                    notebook.cells[index - 2])
        assert _meta(check) == {"grade": True, "grade_id": _meta(check)["grade_id"],
                                "locked": True, "points": _meta(check)["points"],
                                "schema_version": 3, "solution": False, "task": False}
        assert _meta(check)["points"] > 0
        # The package's own checks first, whatever a solution cell changed (test_integrity).
        assert check.source.startswith("checks = nh.graded_checks()  # ")
        assert f"\nmarks = checks.Marks(points={_meta(check)['points']})\nchecks.check_" \
            in check.source
        assert check.source.endswith("\nmarks")  # the result nbgrader reads as the points
        assert "### BEGIN HIDDEN TESTS" in check.source and "### END HIDDEN TESTS" in check.source
        assert _meta(solution) == {"grade": False, "grade_id": _meta(solution)["grade_id"],
                                   "locked": False, "schema_version": 3, "solution": True,
                                   "task": False}
        assert solution.source.startswith("def ")
        assert "    ### BEGIN SOLUTION" in solution.source
        assert formula.cell_type == "markdown" and "$$" in formula.source
        assert f"({_meta(check)['points']} points)" in formula.source
    ids = [_meta(cell)["grade_id"] for cell in notebook.cells if _meta(cell)]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", SOLUTIONS + STUDENTS, ids=_ids(SOLUTIONS) + [
    "release/" + name for name in _ids(STUDENTS)])
def test_committed_without_outputs(path):
    for cell in _read(path).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_session_cell_and_quick_mode(path):
    code = [cell.source for cell in _read(path).cells if cell.cell_type == "code"]
    assert "print(nh.describe_session(device))" in code[0]
    assert "quick_or(" in "\n".join(code)


# ---------------------------------------------------------------------------------------------
# The generator against nbgrader's rules


def _notebook(*cells, language="python"):
    return {"cells": list(cells), "metadata": {"kernelspec": {"display_name": "Python 3",
                                                              "language": language,
                                                              "name": "python3"},
                                               "celltoolbar": "Create Assignment"},
            "nbformat": 4, "nbformat_minor": 5}


def _cell(source, cell_type="code", **nbgrader):
    cell = {"cell_type": cell_type, "id": f"c{abs(hash(source)) % 10**6}", "metadata": {},
            "source": source}
    if cell_type == "code":
        cell.update(execution_count=3, outputs=[{"output_type": "stream", "name": "stdout",
                                                 "text": "old output\n"}])
    if nbgrader:
        cell["metadata"]["nbgrader"] = {"grade": False, "locked": False, "schema_version": 3,
                                        "solution": False, "task": False, **nbgrader}
    return cell


def test_solution_region_becomes_the_indented_stub():
    source = ("def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    y = x + 1\n"
              "    return y\n    ### END SOLUTION\n\nprint(f)")
    out = student_version(_notebook(_cell(source, grade_id="f", solution=True)))
    assert out["cells"][0]["source"] == ("def f(x):\n    '''doc'''\n    # YOUR CODE HERE\n"
                                         "    raise NotImplementedError()\n\nprint(f)")


def test_two_regions_and_the_marker_matched_anywhere_in_a_line():
    source = "a = 1  # BEGIN SOLUTION\nb = 2\n# END SOLUTION\n\t### BEGIN SOLUTION\nc\n### END SOLUTION"
    out = student_version(_notebook(_cell(source, grade_id="f", solution=True)))
    assert out["cells"][0]["source"] == ("# YOUR CODE HERE\nraise NotImplementedError()\n"
                                         "\t# YOUR CODE HERE\n\traise NotImplementedError()")


def test_solution_cells_without_a_region_are_replaced_whole():
    out = student_version(_notebook(_cell("x = 42", grade_id="c", solution=True),
                                    _cell("The answer is 42.", "markdown", grade_id="m",
                                          solution=True)))
    assert out["cells"][0]["source"] == CODE_STUB
    assert out["cells"][1]["source"] == "YOUR ANSWER HERE"


def test_hidden_tests_are_removed_and_nothing_else():
    source = "check(f)\n### BEGIN HIDDEN TESTS\nassert f(1) == 2\n### END HIDDEN TESTS\nprint('ok')"
    out = student_version(_notebook(_cell(source, grade_id="t", grade=True, locked=True,
                                          points=2)))
    assert out["cells"][0]["source"] == "check(f)\nprint('ok')"


def test_outputs_cleared_metadata_locked_and_kept():
    notebook = _notebook(
        _cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", grade_id="s", solution=True),
        _cell("assert x", grade_id="t", grade=True, locked=True, points=1),
        _cell("print('read only')", grade_id="r", locked=True),
        _cell("print('free')"))
    notebook["cells"][3]["metadata"].update(collapsed=True, scrolled=True, tags=["keep"])
    before = copy.deepcopy(notebook)
    out = student_version(notebook)
    assert notebook == before  # the input is not modified
    assert "celltoolbar" not in out["metadata"]
    for cell in out["cells"]:
        assert cell["outputs"] == [] and cell["execution_count"] is None
    solution, test, readonly, free = (cell["metadata"] for cell in out["cells"])
    assert solution["deletable"] is False and "editable" not in solution
    assert test["deletable"] is False and test["editable"] is False
    assert readonly["deletable"] is False and readonly["editable"] is False
    assert free == {"tags": ["keep"]}
    for meta in (solution, test, readonly):
        assert re.fullmatch(r"[0-9a-f]{32}", meta["nbgrader"]["checksum"])
        assert meta["nbgrader"]["cell_type"] == "code"
    assert test["nbgrader"]["points"] == 1 and solution["nbgrader"]["solution"] is True


@pytest.mark.parametrize("cells, fragment", [
    ([_cell("### BEGIN SOLUTION\nx\n### END SOLUTION")], "not a solution cell"),
    ([_cell("### BEGIN HIDDEN TESTS\nx\n### END HIDDEN TESTS")], "not a grade cell"),
    ([_cell("### BEGIN SOLUTION\nx", grade_id="s", solution=True)], "without a matching"),
    ([_cell("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", grade_id="s",
            solution=True)], "nested"),
    ([_cell("x", grade_id="s", solution=True), _cell("y", grade_id="s", solution=True)],
     "already used"),
    ([_cell("x", grade_id="has space", solution=True)], "grade_id"),
    ([_cell("assert x", grade_id="t", grade=True)], "points"),
], ids=["region outside a solution cell", "hidden tests outside a grade cell", "no END",
        "nested", "duplicate grade_id", "bad grade_id", "no points"])
def test_rule_violations_are_errors(cells, fragment):
    with pytest.raises(AssignmentError, match=fragment):
        student_version(_notebook(*cells))


def test_only_python_notebooks():
    with pytest.raises(AssignmentError, match="only Python"):
        student_version(_notebook(_cell("x"), language="R"))


# nbgrader is not in requirements.txt: it brings the classic notebook server, SQLAlchemy and
# server extensions into every `jupyter lab`. .ci/run installs it beside the venv, into
# .nbgrader/ (pip install --target), and only this test's nbgrader subprocess sees it.
NBGRADER_SITE = Path(os.environ.get("NSTYLE_NBGRADER_SITE", REPO / ".nbgrader"))


def nbgrader_env() -> dict[str, str]:
    if not (NBGRADER_SITE / "nbgrader").is_dir():
        message = (f"nbgrader is not installed in {NBGRADER_SITE}; install it there with "
                   f"`python3 -m pip install --target {NBGRADER_SITE} nbgrader`")
        if os.environ.get("CI"):
            pytest.fail(message + " (.ci/run does this)")
        pytest.skip(message)
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
                    [str(NBGRADER_SITE), os.environ.get("PYTHONPATH", "")]),
                # nbgrader runs the `alembic` command it installed into NBGRADER_SITE/bin.
                PATH=os.pathsep.join([str(NBGRADER_SITE / "bin"), str(Path(sys.executable).parent),
                                      os.environ.get("PATH", "")]))


def test_same_as_nbgrader_generate_assignment(tmp_path):
    """Byte for byte what nbgrader writes, metadata and checksums included.

    One nbgrader assignment per homework (source/a1/, source/a2/, source/a3/), as the
    instructors' guide says.
    """
    env = nbgrader_env()
    course = tmp_path / "course"
    for path in SOLUTIONS:
        (course / "source" / path.name[:2]).mkdir(parents=True)
        shutil.copy(path, course / "source" / path.name[:2] / path.name)
    for path in SOLUTIONS:
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", path.name[:2],
             f"--CourseDirectory.root={course}",
             f"--CourseDirectory.db_url=sqlite:///{tmp_path / 'gradebook.db'}"],
            cwd=course, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    ours = assignments.build(SOURCE, tmp_path / "ours")
    for path in ours:
        theirs = course / "release" / path.name[:2] / path.name
        assert json.loads(path.read_text()) == json.loads(theirs.read_text()), path.name
        assert path.read_text() == theirs.read_text(), path.name


# ---------------------------------------------------------------------------------------------
# The committed student versions and the command


def test_committed_student_versions_are_up_to_date(tmp_path):
    written = assignments.build(SOURCE, tmp_path)
    assert [p.name for p in written] == _ids(STUDENTS)
    for path in written:
        assert path.read_text(encoding="utf-8") == (RELEASE / path.name).read_text(
            encoding="utf-8"), (f"{RELEASE / path.name} is stale: run "
                                "`python -m nstyle_helpers.classroom build`")
    assert assignments.build(SOURCE, check=True) == []


def test_command_build_and_check(tmp_path, capsys):
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(SOLUTIONS[0], source / SOLUTIONS[0].name)
    assert assignments.main(["build", "--source", str(source), "--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert assignments.main(["build", "--source", str(source)]) == 0
    target = source / "release" / SOLUTIONS[0].name
    assert str(target) in capsys.readouterr().out
    assert target.read_text() == (RELEASE / SOLUTIONS[0].name).read_text()
    assert assignments.main(["build", "--source", str(source), "--check"]) == 0
    (source / "release" / "old.ipynb").write_text("{}")
    assert assignments.main(["build", "--source", str(source), "--check"]) == 1
    assert "old.ipynb" in capsys.readouterr().err


def test_command_errors_are_one_line(tmp_path, capsys):
    assert assignments.main(["build", "--source", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a folder" in err[0]
    (tmp_path / "bad.ipynb").write_text(json.dumps(_notebook(_cell(
        "### BEGIN SOLUTION\nx\n### END SOLUTION"))))
    assert assignments.main(["build", "--source", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.ipynb, cell 1" in err[0]


def test_the_command_runs_as_a_module(tmp_path):
    done = subprocess.run([sys.executable, "-m", "nstyle_helpers.classroom", "build",
                           "--source", str(SOURCE), "--check"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout


# ---------------------------------------------------------------------------------------------
# Executed student versions


@pytest.mark.notebooks
@pytest.mark.parametrize("path", STUDENTS, ids=_ids(STUDENTS))
def test_student_version_scores_zero_in_exactly_its_graded_cells(path):
    """nbgrader's `validate --invert` idea: unanswered, every graded cell scores 0, and no cell
    fails (the demonstrations use the reference solutions)."""
    from nbclient import NotebookClient

    notebook = _read(path)
    NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(REPO)}}).execute()
    failed = [(i, cell.source[:50]) for i, cell in enumerate(notebook.cells)
              if cell.cell_type == "code"
              and any(out.output_type == "error" for out in cell.outputs)]
    assert failed == []
    for i in _graded(notebook):
        cell = notebook.cells[i]
        assert grading.cell_points(cell) == 0.0, cell.source[:60]
        (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        parts = result.data["application/json"]["parts"]
        assert parts and not any(part["passed"] for part in parts)
        assert "not written yet" in parts[0]["message"]


def test_solutions_get_every_point():
    """Graded as submissions, the solution notebooks earn every point of every cell."""
    results = grading.grade(SOLUTIONS, source=SOURCE)
    for result in results:
        assert not result.problem, result.problem
        assert [(c.grade_id, c.points) for c in result.cells] == [
            (c.grade_id, c.max_points) for c in result.cells]
    assert sum(result.max_points for result in results) == 20


def test_nbval_does_not_collect_the_student_versions():
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
                           "notebooks"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    collected = done.stdout
    assert "assignments/a1_pixels_and_content.ipynb" in collected
    assert "release" not in collected


@pytest.mark.parametrize("path", SOLUTIONS, ids=_ids(SOLUTIONS))
def test_the_exercise_text_does_not_spell_out_the_solution(path):
    """The markdown describes what a function must do; it does not give its lines to copy.

    (A3's loop exercise once listed seven lines of its solution word for word.) Naming the
    context manager a step must run in is a requirement, not a line to copy.
    """
    allowed = {"with torch.no_grad():"}
    notebook = _read(path)
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    for cell in notebook.cells:
        for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source,
                                 re.S):
            lines = [line.split("#")[0].strip() for line in region.splitlines()]
            copied = [line for line in lines
                      if len(line) > 12 and line in text and line not in allowed]
            assert not copied, copied


def _down(x):
    return (x[..., 1:, :] - x[..., :-1, :]).flatten(1)


def _right(x):
    return (x[..., :, 1:] - x[..., :, :-1]).flatten(1)


#: (notebook, check cell, function, a wrong version, the hidden part, the words that name it)
HIDDEN_MISTAKES = [
    ("a1", "check_pixel_loss", "pixel_loss", lambda y, z: ((y - z) ** 2).flatten(1).mean(1),
     "a worked example", "half the sum"),
    ("a1", "check_pixel_loss", "pixel_loss",
     lambda y, z: ((y - z) ** 2).flatten(1).sum(1).sqrt(), "a worked example", "the distance"),
    ("a1", "check_gradient_step", "gradient_step", lambda x, z, lr: x + lr * 2 * (x - z),
     "lr = ½ lands on the target", "a step uphill"),
    ("a1", "check_gradient_step", "gradient_step", lambda x, z, lr: x - lr * (x - z),
     "lr = ½ lands on the target", "is 2 (x − z)"),
    ("a1", "check_content_loss", "content_loss", lambda f, p: ((f - p) ** 2).flatten(1).sum(1),
     "a worked example", "without the ½"),
    ("a2", "check_gram_matrix", "gram_matrix",
     lambda f: f.flatten(2).transpose(1, 2) @ f.flatten(2), "a worked example", "that is Fᵀ F"),
    ("a2", "check_style_layer_loss", "style_layer_loss",
     lambda g, a, m, w=1.0: w * ((g - a) ** 2).flatten(1).sum(1), "a worked example",
     "without 1/(4 N_l² M_l²)"),
    ("a2", "check_style_layer_loss", "style_layer_loss",
     lambda g, a, m, w=1.0: w * (g - a).flatten(1).sum(1) / (4 * g.shape[1] ** 2 * m ** 2),
     "a worked example", "the difference is squared"),
    ("a3", "check_total_variation", "total_variation",
     lambda x: _down(x).abs().sum(1) + _right(x).abs().sum(1), "a worked example",
     "absolute differences"),
    ("a3", "check_total_variation", "total_variation", lambda x: (_down(x) ** 2).sum(1),
     "a worked example", "the vertical differences alone"),
    ("a3", "check_total_variation", "total_variation", lambda x: (_right(x) ** 2).sum(1),
     "a worked example", "the horizontal differences alone"),
]


@pytest.mark.parametrize("assignment, grade_id, name, wrong, what, words", HIDDEN_MISTAKES,
                         ids=[f"{case[2]}: {case[5]}" for case in HIDDEN_MISTAKES])
def test_hidden_tests_name_the_mistake(assignment, grade_id, name, wrong, what, words):
    """A hidden test that fails says which mistake gave the wrong value, not numbers alone."""
    import torch

    import nstyle_helpers as nh

    (path,) = SOURCE.glob(f"{assignment}_*.ipynb")
    (cell,) = [cell for cell in _read(path).cells if _meta(cell).get("grade_id") == grade_id]
    namespace = {"nh": nh, "torch": torch, name: wrong}
    exec(cell.source, namespace)  # noqa: S102 (the instructor's own check cell)
    (failed,) = [part for part in namespace["marks"].failed if part.what == what]
    assert words in failed.message, failed.message
