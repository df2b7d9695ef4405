"""Recorded plans: a Core ML placement saved on a Mac replays anywhere, checked against the model.

A plan is written by `ane-notebook record` on a Mac: a report whose source is "coreml". Here we
make one from a hand-written Core ML placement (what the live backend returns), write it with the
same `to_json` the recorder uses, and replay it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ane_notebook.api import profile
from ane_notebook.cli import main
from ane_notebook.comparison import compare
from ane_notebook.errors import CoreMLUnavailableError, PlanError
from ane_notebook.model.load import load_model
from ane_notebook.placement.devices import ComputeUnits, Device
from ane_notebook.placement.result import OpPlacement, Placement, ReasonKind
from ane_notebook.report import ProfileReport


def _mac_plan(model: str, path: Path) -> ProfileReport:
    """A plan as the live backend would record it: every other op on the GPU, say."""
    graph = load_model(model)
    ops = []
    for i, op in enumerate(graph.ops):
        if op.is_const:
            ops.append(
                OpPlacement(None, frozenset(), reason="const", reason_kind=ReasonKind.CONSTANT)
            )
        else:
            dev = Device.GPU if i % 2 else Device.ANE
            ops.append(
                OpPlacement(
                    dev,
                    frozenset(Device),
                    reason="" if dev == Device.ANE else "Core ML preferred the GPU",
                    reason_kind=ReasonKind.ON_ANE
                    if dev == Device.ANE
                    else ReasonKind.COREML_PREFERRED,
                    evidence=None,
                    est_time_ms=0.01,
                    rules=(),
                    cost_weight=0.02,
                )
            )
    meta = {
        "chip_name": "Apple M2 Pro",
        "macos": "15.1",
        "macos_build": "24B83",
        "coremltools": "9.0",
        "ane_cores": 16,
        "recorded_at": "2026-11-20T10:00:00+00:00",
        "input_shapes": {t.name: list(t.shape or ()) for t in graph.inputs},
    }
    placement = Placement("coreml", ComputeUnits.ALL, "M2", tuple(ops), meta)
    report = ProfileReport.from_placement(graph, placement)
    report.to_json(path)
    return report


def test_replay_keeps_devices_and_metadata(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    recorded = _mac_plan("example:transformer", plan)
    replayed = profile("example:transformer", backend="recorded", plan=plan)
    assert replayed.source == "recorded"
    assert [o.device for o in replayed.ops] == [o.device for o in recorded.ops]
    assert replayed.chip == "M2"
    assert replayed.metadata["chip_name"] == "Apple M2 Pro"
    assert replayed.metadata["recorded_plan"] == str(plan)
    assert replayed.metadata["recorded_source"] == "coreml"
    assert "recorded by Core ML" in replayed.to_text()
    # plan= alone implies the recorded backend
    assert profile("example:transformer", plan=plan).source == "recorded"


def test_replay_on_another_model_lists_differences(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    _mac_plan("example:mobilenet", plan)
    with pytest.raises(PlanError) as info:
        profile("example:transformer", plan=plan)
    msg = str(info.value)
    assert str(plan) in msg and "does not match model" in msg and "difference" in msg
    assert "not in the plan" in msg and "\n" not in msg


def test_changed_op_type_is_reported(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    _mac_plan("example:lstm", plan)
    data = json.loads(plan.read_text())
    target = next(o for o in data["ops"] if o["op_type"] == "lstm")
    target["op_type"] = "gru"
    plan.write_text(json.dumps(data))
    with pytest.raises(PlanError, match="is lstm in the model but gru in the plan"):
        profile("example:lstm", plan=plan)


def test_estimate_reports_are_not_plans(tmp_path: Path) -> None:
    path = tmp_path / "estimate.json"
    profile("example:lstm", backend="estimate").to_json(path)
    with pytest.raises(PlanError, match="is an estimate, not a plan recorded by Core ML"):
        profile("example:lstm", plan=path)


def test_compare_estimate_with_recorded(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    _mac_plan("example:transformer", plan)
    est = profile("example:transformer", backend="estimate")
    rec = profile("example:transformer", plan=plan)
    c = compare(est, rec)
    assert c.matched == sum(1 for o in est.ops if not o.is_const)
    assert c.agreeing + len(c.differences) == c.matched
    assert c.agreeing == sum(
        1 for a, b in zip(est.ops, rec.ops, strict=True) if not a.is_const and a.device == b.device
    )
    assert "estimate/ALL/M1 vs recorded/ALL/M2" in c.to_text()


def test_cli_plan_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.json"
    _mac_plan("example:lstm", plan)
    assert main(["profile", "example:lstm", "--plan", str(plan)]) == 0
    assert "placement source: recorded" in capsys.readouterr().out


def test_record_needs_core_ml_here(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    if sys.platform == "darwin":
        pytest.skip("on macOS recording may work for real")
    with pytest.raises(CoreMLUnavailableError, match="needs Core ML"):
        from ane_notebook.api import record

        record("example:lstm")
    assert main(["record", "example:lstm", "-o", str(tmp_path / "p.json")]) == 2
    assert not (tmp_path / "p.json").exists()
