"""ProfileReport: summary arithmetic, text, JSON schema and lossless round trip, load errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ane_notebook.api import profile
from ane_notebook.errors import PlanError
from ane_notebook.placement.devices import DEVICE_ORDER, Device
from ane_notebook.placement.result import ReasonKind
from ane_notebook.report import ProfileReport, load_report, report_from_dict
from ane_notebook.schema import report_schema


@pytest.fixture(scope="module")
def report() -> ProfileReport:
    return profile("example:transformer", "ALL", backend="estimate")


def as_version_1(report: ProfileReport) -> dict[str, Any]:
    """`report` as format version 1 wrote it: no reason kinds, no version-2 fields."""
    data: dict[str, Any] = json.loads(report.to_json())
    data["version"] = 1
    for key in ("timings", "warnings", "uncertainty", "hazards"):
        del data[key]
    for op in data["ops"]:
        for key in ("reason_kind", "contested", "alt_device", "shape_unknown", "estimate"):
            del op[key]
    return data


def test_summary_adds_up(report: ProfileReport) -> None:
    s = report.summary()
    assert sum(s.per_device[d].ops for d in DEVICE_ORDER) == s.n_ops
    assert s.n_ops + s.n_const == len(report.ops)
    for d in DEVICE_ORDER:
        assert s.per_device[d].est_time_ms == pytest.approx(
            sum(o.est_time_ms for o in report.ops if o.device == d)
        )
    assert s.crossing_ms == pytest.approx(sum(c.est_cost_ms for c in report.crossings))
    # one prediction: ops + crossings + dispatches (with the per-prediction cost) + model I/O
    assert s.launch_ms == pytest.approx(sum(g.launch_ms for g in report.segments))
    assert s.io_ms == pytest.approx(sum(g.io_ms for g in report.segments))
    assert s.est_total_ms == pytest.approx(
        sum(t.est_time_ms for t in s.per_device.values()) + s.crossing_ms + s.launch_ms + s.io_ms
    )


def test_crossings_are_edges_between_devices(report: ProfileReport) -> None:
    crossing_edges = {(c.src, c.dst) for c in report.crossings}
    expected = set()
    for o in report.ops:
        for src in o.inputs:
            a, b = report.ops[src].device, o.device
            if a is not None and b is not None and a != b:
                expected.add((src, o.index))
    assert crossing_edges == expected
    for c in report.crossings:
        assert c.bytes > 0 and (c.est_cost_ms > 0) == c.moved
        assert c.src_device == report.ops[c.src].device


def test_a_tensor_moves_once_per_device() -> None:
    # x -> a (CPU) -> b, c (both on the ANE): two crossing edges, one transfer.
    from ane_notebook.model.graph import Graph, Op, TensorInfo
    from ane_notebook.placement.devices import ComputeUnits
    from ane_notebook.placement.result import OpPlacement, Placement

    t = TensorInfo("t", (1, 64, 64), "fp16")
    x = TensorInfo("x", (1, 64, 64), "fp16")
    ops = (
        Op(0, "t", "relu", "main", ("x",), (t,)),
        Op(1, "b", "relu", "main", ("t",), (TensorInfo("b", (1, 64, 64), "fp16"),)),
        Op(2, "c", "relu", "main", ("t",), (TensorInfo("c", (1, 64, 64), "fp16"),)),
    )
    g = Graph("g", "mlprogram", ops, (x,), (), function_inputs={("main", "x"): x})
    devs = (Device.CPU, Device.ANE, Device.ANE)
    p = Placement(
        "estimate", ComputeUnits.ALL, "M1", tuple(OpPlacement(d, frozenset(Device)) for d in devs)
    )
    r = ProfileReport.from_placement(g, p)
    assert [(c.dst, c.moved) for c in r.crossings] == [(1, True), (2, False)]
    s = r.summary()
    assert s.n_crossings == 2 and s.crossing_bytes == t.nbytes
    assert s.crossing_ms == r.crossings[0].est_cost_ms > 0
    assert "already on the ANE" in r.to_text()
    assert report_from_dict(json.loads(r.to_json())) == r


def test_segments_cover_running_ops_in_order(report: ProfileReport) -> None:
    covered = []
    for seg in report.segments:
        ops = [o for o in report.ops[seg.start : seg.end + 1] if o.device is not None]
        assert len(ops) == seg.n_ops and all(o.device == seg.device for o in ops)
        covered += [o.index for o in ops]
    assert covered == [o.index for o in report.ops if o.device is not None]
    for a, b in zip(report.segments, report.segments[1:], strict=False):
        assert a.device != b.device or a.function != b.function


def test_text_has_mapping_crossings_and_reasons(report: ProfileReport) -> None:
    text = report.to_text()
    assert "Compute Unit Mapping" in text
    assert "placement source: estimate" in text and "not measured" in text
    assert f"Crossings: {len(report.crossings)}" in text
    assert "Not on the Neural Engine" in text and "fix:" in text


def test_json_validates_and_round_trips(report: ProfileReport, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    text = report.to_json(path)
    data = json.loads(text)
    jsonschema.validate(data, report_schema())
    assert data["source"] == "estimate" and data["version"] == 2
    again = load_report(path)
    assert again == report
    assert again.to_json() == text


@pytest.mark.parametrize("old_format", [False, True])
def test_report_from_dict_leaves_the_callers_dict_as_it_was(
    report: ProfileReport, old_format: bool
) -> None:
    # Two ways to records (report_records.op_records): new dicts from the validator's columns,
    # or the op dicts adopted; reports written before `cost_driver` take the second, which
    # changes the dicts, so it must change copies of the caller's.
    data = json.loads(report.to_json())
    if old_format:
        for op in data["ops"]:
            op.pop("cost_driver", None)
    before = copy.deepcopy(data)
    back = report_from_dict(data)
    assert data == before
    assert [o.name for o in back.ops] == [o.name for o in report.ops]


def test_round_trip_keeps_float_precision(report: ProfileReport) -> None:
    data = json.loads(report.to_json())
    back = report_from_dict(data)
    assert [o.est_time_ms for o in back.ops] == [o.est_time_ms for o in report.ops]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(version=99), "unsupported report version 99"),
        (lambda d: d.update(format="something"), "not an ane_notebook report"),
        (lambda d: d["ops"][0].pop("device"), "invalid report at ops/0"),
        (lambda d: d["ops"][1].update(device="TPU"), "invalid report at ops/1/device"),
        (lambda d: d["crossings"][0].update(src=10**6), "op index 1000000 out of range"),
        (lambda d: d.update(source="measured"), "invalid report at source"),
    ],
)
def test_invalid_reports_are_one_line_errors(
    report: ProfileReport,
    tmp_path: Path,
    mutate,  # type: ignore[no-untyped-def]
    message: str,
) -> None:
    data = json.loads(report.to_json())
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanError) as info:
        load_report(path)
    msg = str(info.value)
    assert message in msg and str(path) in msg and "\n" not in msg


def test_nan_and_garbage_rejected(report: ProfileReport, tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_text(report.to_json().replace('"est_time_ms": 0.0', '"est_time_ms": NaN', 1))
    with pytest.raises(PlanError, match="not valid JSON"):
        load_report(path)
    (tmp_path / "junk.json").write_bytes(b"\xff\xfe garbage")
    with pytest.raises(PlanError, match="not UTF-8"):
        load_report(tmp_path / "junk.json")
    with pytest.raises(PlanError, match="no such file"):
        load_report(tmp_path / "missing.json")


def test_not_on_ane_groups_by_rule(report: ProfileReport) -> None:
    groups = report.not_on_ane()
    assert sum(len(v) for v in groups.values()) == sum(
        1 for o in report.ops if o.device not in (None, Device.ANE)
    )
    # the int rule fires on several ops whose reasons name different tensors: one group
    int_groups = [ops for ops in groups.values() if any("dtype.int" in o.rules for o in ops)]
    assert max(len(g) for g in int_groups) > 1


def test_version_1_reports_load_with_reason_kinds_derived_from_their_fields(
    report: ProfileReport, tmp_path: Path
) -> None:
    data = as_version_1(report)
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    old = load_report(path)
    assert [o.reason_kind for o in old.ops] == [o.reason_kind for o in report.ops]
    assert {o.reason_kind for o in report.ops} >= {
        ReasonKind.ON_ANE,
        ReasonKind.RULE,
        ReasonKind.CONSTANT,
    }
    assert old.ops == report.ops and old.summary() == report.summary()


def test_dispatches_and_io_count_only_in_estimates() -> None:
    """A Core ML placement's per-op times are shares of the measured prediction time, which
    already holds the dispatches and the model I/O: only estimates add them."""
    from graphs import chain

    from ane_notebook.placement.devices import ComputeUnits
    from ane_notebook.placement.estimate import estimate
    from ane_notebook.placement.result import OpPlacement, Placement

    graph = chain(["relu"] * 10, shape=(1, 128, 128, 128))
    est = ProfileReport.from_placement(graph, estimate(graph, "ALL", "M1"))
    assert [g.device for g in est.segments] == [Device.ANE]
    assert est.summary().launch_ms > 0 and est.summary().io_ms > 0
    ops = tuple(
        OpPlacement(Device.ANE, frozenset(Device), est_time_ms=0.1, reason_kind=ReasonKind.ON_ANE)
        for _ in graph.ops
    )
    plan = Placement(source="coreml", compute_units=ComputeUnits.ALL, chip="M1", ops=ops)
    s = ProfileReport.from_placement(graph, plan).summary()
    assert s.launch_ms == 0 and s.io_ms == 0
    assert s.est_total_ms == pytest.approx(1.0)


def test_fast_records_are_the_constructors_own() -> None:
    # report_build and report_records skip OpRecord's generated __init__ (speed, GitHub issue
    # 14): every record of a built and of a reloaded report must hold exactly the dataclass's
    # fields, and equal the record the constructor makes from them.
    import dataclasses

    from ane_notebook.report import OpRecord

    names = {f.name for f in dataclasses.fields(OpRecord)}
    built = profile("example:transformer", "CPU_AND_NE", backend="estimate")
    loaded = report_from_dict(json.loads(built.to_json()))
    for report in (built, loaded):
        for rec in report.ops:
            assert type(rec) is OpRecord and set(vars(rec)) == names
            assert OpRecord(**vars(rec)) == rec
    assert loaded.ops == built.ops


def test_a_comparison_shares_the_records_of_ops_placed_alike() -> None:
    # Inside Graph.sharing an op placed as in the previous setting (an equal placement: a
    # constant op's is the very same object) takes that setting's record, and a setting placed
    # wholly alike its segments, crossings and hazards (GitHub issue 14); each report still
    # equals one built on its own.
    from ane_notebook.api import profile_all_units
    from ane_notebook.model.load import load_model
    from ane_notebook.placement.estimate import estimate

    for name in ("transformer", "mobilenet", "lstm"):
        g = load_model(f"example:{name}")
        reports = list(profile_all_units(g, backend="estimate").values())
        placed = [estimate(g, r.compute_units).ops for r in reports]
        consts = [i for i, op in enumerate(g.ops) if op.is_const]
        assert consts and any(not op.is_const for op in g.ops)
        for k in range(1, len(reports)):
            now, before = reports[k], reports[k - 1]
            alike = [p == q for p, q in zip(placed[k], placed[k - 1], strict=True)]
            assert all(alike[i] for i in consts)
            assert [a is b for a, b in zip(now.ops, before.ops, strict=True)] == alike
            for got, was in ((now.segments, before.segments), (now.hazards, before.hazards)):
                assert (got is was) == all(alike) or got == was == ()
        for r in reports:
            lone = profile(g, r.compute_units, backend="estimate")
            assert lone.to_dict() | {"timings": None} == r.to_dict() | {"timings": None}
            assert lone.ops[consts[0]] is not r.ops[consts[0]]


def test_op_fields_read_by_table_fail_like_the_enums() -> None:
    # placement_fields_from_dict looks members up by value (speed, GitHub issue 14); a value
    # no table holds, hashable or not, still fails as the Enum itself does (ValueError).
    from ane_notebook.placement.result import placement_fields_from_dict

    op = json.loads(profile("example:lstm").to_json())["ops"][-1]
    fields = placement_fields_from_dict(op)
    assert fields["device"] is Device(op["device"])
    assert fields["supported"] == tuple(d for d in DEVICE_ORDER if d.value in op["supported"])
    for key, bad in (("device", "TPU"), ("device", ["ANE"]), ("reason_kind", "?"),
                     ("evidence", {}), ("cost_driver", "x"), ("alt_device", 3)):  # fmt: skip
        with pytest.raises(ValueError):
            placement_fields_from_dict({**op, key: bad})
