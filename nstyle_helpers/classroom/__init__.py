"""Assignments and grading: partial credit, the checks, their integrity, the grader and the
student versions (``python -m nstyle_helpers.classroom build|grade``)."""
