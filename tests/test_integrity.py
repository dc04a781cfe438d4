"""nh.graded_checks(): a graded cell checks with the package's own code whatever a cell changed,
and scores 0, saying what, when a cell changed what the checks use."""

from __future__ import annotations

import sys

import pytest
import torch

import nstyle_helpers as nh
from nstyle_helpers import checks
from nstyle_helpers.classroom import integrity
from nstyle_helpers.core import losses


def _gram(features):
    flat = features.flatten(2)
    return flat @ flat.transpose(1, 2)


def _graded(fn=_gram):
    fresh = nh.graded_checks()
    marks = fresh.Marks(points=3)
    fresh.check_gram_matrix(fn, marks)
    return marks


def test_an_untouched_package_changes_nothing_and_a_correct_function_scores_full_marks():
    assert integrity.changed_names() == []
    marks = _graded()
    assert marks.score == 3 and marks.refused is None
    # The fresh copies are the package's own files, not the live modules, which stay in place.
    fresh = nh.graded_checks()
    assert fresh is not checks and fresh.check_gram_matrix is not checks.check_gram_matrix
    assert sys.modules["nstyle_helpers.classroom.checks"] is checks
    assert sys.modules["nstyle_helpers.core.losses"] is losses


def test_a_deleted_reference_comes_back_from_the_package(monkeypatch):
    """``del nh.gram_matrix`` changes nothing: the name loads again from the package's module."""
    monkeypatch.delattr(nh, "gram_matrix")
    assert nh.gram_matrix is losses.gram_matrix
    assert integrity.changed_names() == []


@pytest.mark.parametrize("patch, name", [
    (lambda mp: mp.setattr(checks, "expect", lambda *a, **k: None), "checks.expect"),
    (lambda mp: mp.setattr(checks, "check_gram_matrix", lambda *a, **k: None),
     "checks.check_gram_matrix"),
    (lambda mp: mp.setattr(checks, "check_gram_matrix", checks.check_pixel_loss),
     "checks.check_gram_matrix"),
    (lambda mp: mp.setattr(checks.Marks, "score", property(lambda self: 3.0)), "checks.Marks"),
    (lambda mp: mp.setattr(checks, "TOLERANCE", {"rtol": 1e9, "atol": 1e9}), "checks.TOLERANCE"),
    (lambda mp: mp.setitem(checks.TOLERANCE, "rtol", 1e9), "checks.TOLERANCE"),
    (lambda mp: mp.setattr(losses, "gram_matrix", lambda f: f), "losses.gram_matrix"),
    (lambda mp: mp.setattr(nh, "gram_matrix", lambda f: f), "nh.gram_matrix"),
    (lambda mp: mp.setattr(torch, "allclose", lambda *a, **k: True), "torch.allclose"),
], ids=["expect", "a check", "another check", "Marks", "tolerance", "tolerance in place",
        "a loss", "a reference", "torch.allclose"])
def test_a_changed_check_is_named_and_every_graded_cell_scores_zero(monkeypatch, patch, name):
    patch(monkeypatch)
    assert name in integrity.changed_names()
    marks = _graded(lambda f: 2 * _gram(f))  # wrong, and the patch would have hidden it
    assert marks.score == 0
    assert marks.refused.startswith("a cell of this notebook changed ")
    assert name in marks.refused and "score 0" in marks.refused
    assert marks._repr_json_()["refused"] == marks.refused
    assert marks.refused in marks._repr_html_()
    assert repr(marks) == "0"  # what nbgrader reads


def test_the_checks_of_a_graded_cell_are_the_packages_even_where_the_live_ones_were_replaced(
        monkeypatch):
    monkeypatch.setattr(checks, "check_gram_matrix", lambda *a, **k: None)
    fresh = nh.graded_checks()
    with pytest.raises(fresh.CheckFailed, match="twice"):
        fresh.check_gram_matrix(lambda f: 2 * _gram(f))


def test_a_refused_copy_does_not_refuse_the_next_one_once_the_change_is_undone(monkeypatch):
    with monkeypatch.context() as patched:
        patched.setattr(checks, "expect", lambda *a, **k: None)
        assert _graded().score == 0
    assert _graded().score == 3
    assert checks.Marks(points=1).refused is None  # the live module was never flagged
