"""A pytest helper that pins a model's placement: `assert_placement(report, **conditions)`.

    from ane_notebook.testing import assert_placement

    def test_encoder_stays_on_the_neural_engine():
        r = an.profile("Encoder.mlpackage", compute_units="CPU_AND_NE", backend="estimate")
        assert_placement(r, min_ane_ops=0.95, require_ane="linear|matmul", max_segments=3)

It raises AssertionError (pytest shows it as a test failure) whose message is the check's
lines: each condition with its measured value, limit and offending ops, the placement source
and the denominators. Plain Python: no pytest import, so it works under any test runner.
"""

from __future__ import annotations

import os
from typing import Any

from .check import CheckResult
from .report import ProfileReport, load_report


def assert_placement(
    report: ProfileReport | str | os.PathLike[str], **conditions: Any
) -> CheckResult:
    """Check `conditions` (see `ProfileReport.check`) on a report or a saved report's path.

    Returns the CheckResult when every condition holds; raises AssertionError otherwise.
    """
    __tracebackhide__ = True  # pytest: show the failure at the caller, not in here
    r = report if isinstance(report, ProfileReport) else load_report(report)
    result = r.check(**conditions)
    if not result:
        raise AssertionError(result.to_text())
    return result
