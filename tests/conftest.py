"""Fixtures for every test module in tests/."""

import pytest
import torch

# The fixture submissions of tests/test_grader.py are notebooks, one of them deliberately broken:
# they are inputs for the grader, not notebooks for nbval to run.
collect_ignore = ["fixtures"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # On a small, shared CPU, torch's intra-op threads fight other processes for the cores:
    # tiny convolutions ran 10× slower with 2 threads than with 1 under load. Restored after.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
