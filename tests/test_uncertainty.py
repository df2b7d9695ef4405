"""How sure an estimate is: contested ops, where they would go, and the ranges (issue 10 §4).

An op is contested when its placement rests on a contested rule (until the rule table marks
them, a rule whose evidence is a guess) or moves under another reading of the evidence (the
rules flipped, the constants at the ends of their published spread); `alt_device` says where it
would go. The summary's ranges cover every reading. All of it reaches the JSON and the text.
"""

from __future__ import annotations

import json

import pytest
from graphs import chain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import graphs

from ane_notebook.model.graph import Graph
from ane_notebook.placement.devices import CHIPS, ComputeUnits, Device
from ane_notebook.placement.estimate import estimate
from ane_notebook.placement.result import ReasonKind
from ane_notebook.report import ProfileReport, report_from_dict

# relu x10, an upsample by 4 (kept off the Neural Engine by a rule whose sources disagree:
# `upsample.factor`), relu x10, on a large activation: under the other reading the upsample
# joins the ANE segments on either side.
_OPS = ["relu"] * 10 + ["upsample_nearest_neighbor"] + ["relu"] * 10
_ATTRS = [{} for _ in _OPS]
_ATTRS[10] = {"scale_factor_height": 4.0, "scale_factor_width": 4.0}


def _island() -> Graph:
    return chain(_OPS, shape=(1, 64, 128, 128), attrs=_ATTRS)


def test_an_op_kept_off_by_a_contested_rule_is_contested_with_its_other_device() -> None:
    graph = _island()
    report = ProfileReport.from_placement(graph, estimate(graph, "ALL", "M1"))
    up = report.ops[10]
    assert up.device is not Device.ANE and "upsample.factor" in up.rules
    assert up.contested and up.alt_device is Device.ANE
    # the others rest on no contested rule: contested only if another reading moves them
    for o in report.ops:
        if o.index != 10:
            assert o.contested == (o.alt_device is not None)
    u = report.uncertainty
    assert u is not None
    lo, hi = u.ops[Device.ANE]
    assert lo <= 20 and hi == 21
    s = report.summary()
    assert u.est_total_ms[0] <= s.est_total_ms <= u.est_total_ms[1]


def test_ranges_and_contested_ops_reach_json_and_text() -> None:
    graph = _island()
    report = ProfileReport.from_placement(graph, estimate(graph, "ALL", "M1"))
    data = json.loads(report.to_json())
    lo, hi = data["uncertainty"]["ops"]["ANE"]
    assert hi == 21
    assert data["ops"][10]["contested"] is True and data["ops"][10]["alt_device"] == "ANE"
    assert report_from_dict(data) == report
    text = report.to_text()
    n = sum(o.contested for o in report.ops)
    assert f"range: Neural Engine {lo}–21 ops" in text
    assert f"contested: {n} ops" in text
    assert "upsample_nearest_neighbor_10 (upsample_nearest_neighbor): " in text
    assert "ANE under the other reading" in text


def test_without_the_neural_engine_nothing_rests_on_its_rules() -> None:
    graph = _island()
    report = ProfileReport.from_placement(graph, estimate(graph, "CPU_AND_GPU", "M1"))
    assert not report.ops[10].contested  # the compute units decide, not the contested rule
    u = report.uncertainty
    assert u is not None and u.ops[Device.ANE] == (0, 0)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    graph=graphs(), units=st.sampled_from(list(ComputeUnits)), chip=st.sampled_from(sorted(CHIPS))
)
def test_ranges_cover_the_estimate(graph: Graph, units: ComputeUnits, chip: str) -> None:
    report = ProfileReport.from_placement(graph, estimate(graph, units, chip))
    s = report.summary()
    u = report.uncertainty
    assert u is not None
    low, high = u.est_total_ms
    assert low <= s.est_total_ms * (1 + 1e-9) + 1e-12
    assert s.est_total_ms <= high * (1 + 1e-9) + 1e-12
    for d, totals in s.per_device.items():
        lo, hi = u.ops[d]
        assert lo <= totals.ops <= hi
        if d not in units.devices:
            assert (lo, hi) == (0, 0)
    for o in report.ops:
        if o.alt_device is not None:
            assert o.contested and o.alt_device != o.device
            assert o.alt_device in units.devices
            # another device than the rules allow only under the other reading of a rule
            assert o.alt_device in o.supported or o.reason_kind is ReasonKind.RULE


def test_the_diagram_header_shows_the_range_and_the_contested_count() -> None:
    from ane_notebook.render.diagram import header_html

    graph = _island()
    report = ProfileReport.from_placement(graph, estimate(graph, "ALL", "M1"))
    html = header_html(report)
    n = sum(o.contested for o in report.ops)
    assert "Neural Engine " in html and "–21 ops" in html
    assert f"({n} contested ops)" in html
    assert "for one prediction" in html


def test_the_check_shows_the_range_and_the_contested_ops_in_every_form() -> None:
    from ane_notebook.textreport import uncertainty_text

    graph = _island()
    report = ProfileReport.from_placement(graph, estimate(graph, "ALL", "M1"))
    assert report.uncertainty is not None
    contested = [o.name for o in report.ops if o.contested]
    result = report.check(min_ane_ops=1.0)  # fails on the upsample, which is contested
    text = result.to_text()
    assert f"range: {uncertainty_text(report.uncertainty)}" in text
    assert f"contested: {len(contested)} ops" in text
    assert "upsample_nearest_neighbor_10 (upsample_nearest_neighbor, " in text
    assert "contested)" in text  # the failing offender says its verdict is contested
    data = json.loads(result.to_json())
    assert data["contested_ops"] == {"count": len(contested), "names": contested}
    assert data["uncertainty"]["ops"]["ANE"][1] == 21
    assert f"contested: {len(contested)} ops" in result.to_html()
    assert "contested: " in result.to_junit()


@pytest.mark.parametrize(
    "functions",
    [[], ["main"], ["main"] * 5, ["a", "a", "b", "b", "a"], ["a", "b", "c"], ["", "", "x/\n<b>"]],
)
def test_function_starts_are_counted_as_the_plain_loop_counts(functions: list[str]) -> None:
    # counted in C (issue 14); a function that comes back later starts again
    from ane_notebook.placement.uncertainty import _function_starts

    plain = sum(1 for k, f in enumerate(functions) if k == 0 or f != functions[k - 1])
    assert _function_starts(functions) == plain
