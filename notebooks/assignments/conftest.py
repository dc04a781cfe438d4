"""Keep the student versions (release/) out of the notebook run.

`make test` runs nbval over everything under notebooks/. The solution notebooks here must pass
every check; the student versions in release/ are meant to fail every graded check cell (their
functions only raise NotImplementedError), so nbval must not collect them as they are.
tests/test_assignments.py executes them instead and checks that exactly the graded cells fail.
"""

collect_ignore = ["release"]
