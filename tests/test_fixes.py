"""Suggested fixes (`ane_notebook.fixes`) follow the decision's kind, whatever the source and
whatever the sentence says (GitHub issue 15 §1: Core ML placements under CPU_AND_GPU got no fix
because their wording differed from the estimate's)."""

from __future__ import annotations

from ane_notebook.api import profile
from ane_notebook.fixes import COMPUTE_UNITS_FIX, fix_for
from ane_notebook.model.graph import Graph
from ane_notebook.model.load import load_model
from ane_notebook.placement.devices import ComputeUnits, Device
from ane_notebook.placement.plan_mapping import PlanEntry, placement_from_entries
from ane_notebook.placement.result import ReasonKind
from ane_notebook.report import ProfileReport


def _coreml_report(graph: Graph, units: ComputeUnits) -> ProfileReport:
    """A Core ML plan that puts every op on the GPU (the ANE supported, but not allowed)."""
    entries = [
        PlanEntry(
            name=op.outputs[0].name,
            function=op.function,
            kind="operation",
            op_type=op.op_type,
            outputs=tuple(t.name for t in op.outputs),
            has_usage=True,
            preferred=Device.GPU,
            supported=frozenset(Device),
            cost_weight=1.0 / len(graph.ops),
        )
        for op in graph.ops
        if not op.is_const
    ]
    return ProfileReport.from_placement(graph, placement_from_entries(graph, entries, units))


def test_compute_units_fix_for_core_ml_placements_under_cpu_and_gpu() -> None:
    graph = load_model("example:mobilenet")
    report = _coreml_report(graph, ComputeUnits.CPU_AND_GPU)
    running = [r for r in report.ops if not r.is_const]
    assert running and all(r.reason_kind is ReasonKind.COMPUTE_UNITS for r in running)
    assert {fix_for(r) for r in running} == {COMPUTE_UNITS_FIX}
    assert f"fix: {COMPUTE_UNITS_FIX}" in report.to_text()


def test_compute_units_fix_for_the_estimate_too() -> None:
    report = profile("example:mobilenet", "CPU_ONLY", backend="estimate")
    running = [r for r in report.ops if not r.is_const]
    assert {fix_for(r) for r in running} == {COMPUTE_UNITS_FIX}


def test_a_core_ml_preference_under_all_is_not_a_compute_units_fix() -> None:
    graph = load_model("example:mobilenet")
    report = _coreml_report(graph, ComputeUnits.ALL)
    running = [r for r in report.ops if not r.is_const]
    assert {r.reason_kind for r in running} == {ReasonKind.COREML_PREFERRED}
    assert COMPUTE_UNITS_FIX not in {fix_for(r) for r in running}


def test_the_fix_ignores_the_sentence() -> None:
    # Same kind, another sentence: same fix. Same sentence, another kind: not that fix.
    from dataclasses import replace

    op = next(
        r
        for r in _coreml_report(load_model("example:mobilenet"), ComputeUnits.CPU_AND_GPU).ops
        if not r.is_const
    )
    assert fix_for(replace(op, reason="some other wording entirely")) == COMPUTE_UNITS_FIX
    assert fix_for(replace(op, reason_kind=ReasonKind.NO_USAGE)) != COMPUTE_UNITS_FIX
