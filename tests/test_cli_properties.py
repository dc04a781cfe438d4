"""Property test: whatever the parser accepts for a numeric option runs or fails with one line.

For each numeric option, hypothesis draws values of every kind (huge, tiny, negative, NaN,
infinite, the float32 limits) and the command line must end with exit 0 or with exit 2 and
exactly one stderr line, never a traceback. The run is kept short: first-block layers, one
step, and a machine "with 64 MiB free", so that a large --size is refused by the memory check
(what it would do on a small machine) instead of running for minutes.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nstyle_helpers.core import memory

from helpers import cli  # noqa: F401 (fixture)

BASE = ("transfer", "--steps", "1", "--weights", "random", "-q", "--content-layer", "relu1_1",
        "--style-layers", "relu1_1")

floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([3.4e38, 3.5e38, 1e39, 1e-45, 0.0, -0.0, 1e-300]))
ints = st.one_of(st.integers(min_value=-2**70, max_value=2**70),
                 st.sampled_from([2**64 - 1, 2**64, 2**63, 16_000, 16_001, 1]))

OPTIONS = {
    "--lr": floats,
    "--content-weight": floats,
    "--style-weight": floats,
    "--tv-weight": floats,
    "--seed": ints,
    "--size": st.one_of(st.integers(min_value=-5, max_value=20_000), ints),
}


def _text(value) -> str:
    return repr(value) if isinstance(value, float) and math.isfinite(value) else str(value)


@pytest.mark.parametrize("option", list(OPTIONS))
def test_every_accepted_value_runs_or_fails_in_one_line(option, cli, tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda device: 64 * 2**20)
    size = () if option == "--size" else ("--size", "24")
    init = ("--init", "noise") if option == "--seed" else ()

    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(value=OPTIONS[option])
    def check(value):
        out = tmp_path / "out.png"
        out.unlink(missing_ok=True)
        result = cli(*BASE, *size, *init, option, _text(value), "-o", out)
        assert result.code in (0, 2), (value, result.code, result.err)
        assert "Traceback" not in result.err, (value, result.err)
        if result.code == 2:
            assert len(result.err_lines) == 1, (value, result.err)
            assert not out.exists() or "best image" in result.err
        else:
            assert out.is_file()

    check()
