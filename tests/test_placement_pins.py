"""The examples' placement, pinned with the project's own pytest helper.

A change to the rules or the cost model that moves these ops fails here with the check's lines
(condition, measured value, limit, offending ops), which is the point: such a change must be
made on purpose and these pins updated with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ane_notebook.api import profile
from ane_notebook.check import CheckResult
from ane_notebook.report import ProfileReport
from ane_notebook.testing import assert_placement


def _estimate(name: str, units: str, chip: str = "M1") -> ProfileReport:
    return profile(f"example:{name}", units, chip=chip, backend="estimate")


def test_mobilenet_runs_entirely_on_the_neural_engine() -> None:
    assert_placement(
        _estimate("mobilenet", "CPU_AND_NE"),
        min_ane_ops=1.0,
        max_segments=1,
        max_crossings=0,
        require_ane="conv|relu6|avg_pool|softmax",
        fail_on_hazard=True,
    )


def test_transformer_keeps_only_int_plumbing_and_the_vocab_head_off_the_ane() -> None:
    assert_placement(
        _estimate("transformer", "CPU_AND_NE"),
        min_ane_ops=0.84,
        max_segments=3,
        max_crossings=2,
        require_ane="matmul|softmax|layer_norm|gelu",
        # integer mask/position arithmetic, the embedding gather and the 32000-wide head (M1)
        allow_off_ane="cast|add|greater_equal|select|gather|linear",
        fail_on_hazard=True,
    )


def test_transformer_head_fits_the_m4() -> None:
    assert_placement(_estimate("transformer", "CPU_AND_NE", chip="M4"), require_ane="linear")


@pytest.mark.parametrize("name", ["lstm", "fp32"])
def test_models_the_ane_cannot_run_stay_off_it(name: str) -> None:
    assert_placement(_estimate(name, "CPU_AND_NE"), max_segments=1, max_crossings=0)
    r = _estimate(name, "CPU_AND_NE")
    assert r.summary().share().ops == 0


def test_failure_message_is_the_checks_text(tmp_path: Path) -> None:
    r = _estimate("transformer", "CPU_AND_NE")
    with pytest.raises(AssertionError) as e:
        assert_placement(r, min_ane_ops=0.9, max_segments=3)
    assert str(e.value) == r.check(min_ane_ops=0.9, max_segments=3).to_text()
    assert "FAIL min-ane-ops" in str(e.value) and "ok   max-segments" in str(e.value)
    # a saved report's path works too, and a pass returns the result
    r.to_json(tmp_path / "r.json")
    result = assert_placement(tmp_path / "r.json", max_segments=3)
    assert isinstance(result, CheckResult) and result
