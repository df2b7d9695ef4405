"""Shares say what they count: const ops out, unplaced ops in, and which weight a share uses."""

from __future__ import annotations

import pytest

from ane_notebook.api import profile
from ane_notebook.model.load import load_model
from ane_notebook.placement.devices import ComputeUnits, Device
from ane_notebook.placement.result import CONSTANT_REASON, OpPlacement, Placement, ReasonKind
from ane_notebook.report import ProfileReport
from ane_notebook.shares import WeightBasis


def _plan(model: str, unplaced: int = 0, weights: bool = True) -> ProfileReport:
    """A Core ML plan of `model`: running ops alternate ANE/CPU, the first `unplaced` running
    ops are not in the plan; cost weights 1 (ANE) and 3 (CPU) when `weights`."""
    g = load_model(model)
    ops = []
    n = 0
    for op in g.ops:
        if op.is_const:
            ops.append(
                OpPlacement(
                    None, frozenset(), reason=CONSTANT_REASON, reason_kind=ReasonKind.CONSTANT
                )
            )
            continue
        if n < unplaced:
            ops.append(OpPlacement(None, frozenset(), reason_kind=ReasonKind.NOT_IN_PLAN))
        else:
            dev = Device.ANE if n % 2 else Device.CPU
            ops.append(
                OpPlacement(
                    dev,
                    frozenset(Device),
                    reason_kind=ReasonKind.ON_ANE
                    if dev is Device.ANE
                    else ReasonKind.COREML_PREFERRED,
                    est_time_ms=0.5,
                    cost_weight=(1.0 if dev is Device.ANE else 3.0) if weights else None,
                )
            )
        n += 1
    return ProfileReport.from_placement(g, Placement("coreml", ComputeUnits.ALL, "M1", tuple(ops)))


def test_ops_the_plan_did_not_place_are_not_counted_as_const() -> None:
    r = _plan("example:mobilenet", unplaced=2)
    s = r.summary()
    assert s.n_const == sum(1 for o in r.ops if o.is_const)
    assert s.n_unplaced == 2
    assert s.n_ops == sum(1 for o in r.ops if not o.is_const)
    assert sum(s.per_device[d].ops for d in Device) == s.n_ops - s.n_unplaced
    sh = s.share(Device.ANE)
    assert sh.n_run == s.n_ops  # unplaced ops stay in the denominator, on no device
    assert "2 of them placed on no processor by the plan" in s.share_text()
    assert "2 of them placed on no processor by the plan" in r.to_text()


def test_share_text_states_both_denominators() -> None:
    r = profile("example:transformer", "CPU_AND_NE", backend="estimate")
    s = r.summary()
    ane = s.share(Device.ANE)
    assert ane.basis is WeightBasis.ESTIMATED_TIME
    assert ane.op_share == pytest.approx(s.per_device[Device.ANE].ops / s.n_ops)
    op_time = sum(t.est_time_ms for t in s.per_device.values())
    assert ane.weighted == pytest.approx(s.per_device[Device.ANE].est_time_ms / op_time)
    text = s.share_text()
    assert f"{ane.ops} of {s.n_ops} ops that run; {s.n_const} const ops not counted" in text
    assert "of estimated op time" in text
    assert text in r.to_text()


def test_live_plans_weigh_by_core_mls_cost_weight() -> None:
    s = _plan("example:mobilenet").summary()
    sh = s.share(Device.ANE)
    assert sh.basis is WeightBasis.COREML_COST_WEIGHT
    n_ane, n_cpu = s.per_device[Device.ANE].ops, s.per_device[Device.CPU].ops
    assert sh.weighted == pytest.approx(n_ane / (n_ane + 3 * n_cpu))
    assert "of Core ML's cost weight" in s.share_text()


def test_plans_without_cost_weights_fall_back_to_the_estimate_and_say_so() -> None:
    s = _plan("example:mobilenet", weights=False).summary()
    assert s.share().basis is WeightBasis.ESTIMATED_TIME
    assert "of estimated op time" in s.share_text()


def test_a_plan_that_places_nothing_has_no_weighted_share() -> None:
    r = _plan("example:lstm", unplaced=10_000)
    sh = r.summary().share()
    assert sh.n_run == sh.n_unplaced > 0
    assert sh.op_share == 0.0 and sh.weighted is None
    assert sh.weighted_text() == "no estimated op time to share"


def test_the_diagram_header_and_mapping_bar_state_the_denominators() -> None:
    from ane_notebook.render.diagram import header_html, mapping_bar

    r = profile("example:transformer", "CPU_AND_NE", backend="estimate")
    s = r.summary()
    html = header_html(r)
    assert "59 that run (+79 const, not counted)" in html
    assert s.share_text().replace("'", "&#x27;") in html
    assert "(79 const ops not counted)" in mapping_bar(r).title.text


def test_the_baseline_diff_states_both_shares_and_their_denominators() -> None:
    from ane_notebook.baseline import diff

    base = profile("example:transformer", "CPU_AND_NE", chip="M4", backend="estimate")
    new = profile("example:transformer", "CPU_AND_NE", chip="M1", backend="estimate")
    d = diff(base, new)
    for label, r in (("baseline", base), ("new     ", new)):
        assert f"  {label} {r.summary().share_text()}\n" in d.to_text() + "\n"
    assert "(50 of 59 ops that run; 79 const ops not counted)" in d.to_text()
    assert d.to_dict()["ane_share_text"] == [
        base.summary().share_text(),
        new.summary().share_text(),
    ]
