"""The estimate backend end to end on the built-in examples: devices, reasons, compute units."""

from __future__ import annotations

import pytest
from graphs import chain

from ane_notebook.api import profile
from ane_notebook.model.load import load_model
from ane_notebook.placement.devices import ComputeUnits, Device, Evidence
from ane_notebook.placement.estimate import estimate

UNITS = list(ComputeUnits)


@pytest.fixture(scope="module")
def transformer():  # type: ignore[no-untyped-def]
    return load_model("example:transformer")


@pytest.mark.parametrize("units", UNITS)
def test_compute_units_respected(transformer, units: ComputeUnits) -> None:  # type: ignore[no-untyped-def]
    placement = estimate(transformer, units, "M1")
    used = {p.device for p in placement.ops if p.device is not None}
    assert used <= units.devices
    for op, p in zip(transformer.ops, placement.ops, strict=True):
        if op.is_const:
            assert p.device is None
        else:
            assert p.device in p.supported


def test_transformer_mixes_devices_with_reasons(transformer) -> None:  # type: ignore[no-untyped-def]
    r = profile(transformer, "ALL", chip="M1", backend="estimate")
    s = r.summary()
    assert s.per_device[Device.ANE].ops > 0
    assert sum(1 for d in Device if s.per_device[d].ops) >= 2
    assert s.n_segments >= 2 and s.n_crossings >= 1
    for o in r.ops:
        if o.device is not None and o.device != Device.ANE:
            assert o.reason, f"{o.name} is on the {o.device} with no reason"
            assert o.evidence is not None
    # the embedding lookup and the 32000-wide head are never on the ANE (ane-rules.md §A2/§A4)
    gathers = [o for o in r.ops if o.op_type == "gather"]
    heads = [o for o in r.ops if o.op_type == "linear" and "linear.vocab" in o.rules]
    assert gathers and heads
    assert all(o.device != Device.ANE for o in gathers + heads)


def test_cpu_and_ne_sends_head_to_cpu(transformer) -> None:  # type: ignore[no-untyped-def]
    r = profile(transformer, "CPU_AND_NE", backend="estimate")
    head = next(o for o in r.ops if "linear.vocab" in o.rules)
    assert head.device == Device.CPU


def test_mobilenet_fully_on_ane() -> None:
    r = profile("example:mobilenet", "ALL", backend="estimate")
    s = r.summary()
    assert s.per_device[Device.ANE].ops == s.n_ops
    assert s.n_crossings == 0 and s.n_segments == 1


def test_fp32_model_never_on_ane() -> None:
    r = profile("example:fp32", "CPU_AND_NE", backend="estimate")
    running = [o for o in r.ops if o.device is not None]
    assert running and all(o.device == Device.CPU for o in running)
    assert any("fp32" in o.reason for o in running)


def test_lstm_on_cpu_with_official_reason() -> None:
    r = profile("example:lstm", "ALL", backend="estimate")
    lstm = next(o for o in r.ops if o.op_type == "lstm")
    assert lstm.device == Device.CPU
    assert lstm.evidence == Evidence.OFFICIAL or "op.recurrent" in lstm.rules


def test_tiny_model_stays_on_cpu_with_cost_reason() -> None:
    # a handful of tiny fp16 ops: the ANE could run them, but a dispatch costs more (Vx#436)
    g = chain(["relu", "add", "relu"], shape=(1, 4))
    p = estimate(g, "CPU_AND_NE")
    assert [o.device for o in p.ops] == [Device.CPU] * 3
    assert all(o.reason.startswith("the ANE could run it") for o in p.ops)


def test_compute_units_reason_when_ane_excluded() -> None:
    g = chain(["conv"] * 3, shape=(1, 256, 64, 64), attrs=[{"weight_shape": (256, 256, 3, 3)}] * 3)
    p = estimate(g, "CPU_AND_GPU")
    assert all(o.device == Device.GPU for o in p.ops)
    assert all("exclude the Neural Engine" in o.reason for o in p.ops)
    assert all(o.evidence == Evidence.OFFICIAL for o in p.ops)


def test_chip_changes_gated_placement() -> None:
    # sin runs on the ANE only from the M3 family (ane-rules.md §A7)
    g = chain(
        ["conv", "sin", "conv"],
        shape=(1, 256, 64, 64),
        attrs=[{"weight_shape": (256, 256, 3, 3)}, {}, {"weight_shape": (256, 256, 3, 3)}],
    )
    m1 = estimate(g, "CPU_AND_NE", "M1")
    m4 = estimate(g, "CPU_AND_NE", "M4")
    assert m1.ops[1].device == Device.CPU and "op.sin_cos" in m1.ops[1].rules
    assert m4.ops[1].device == Device.ANE


def test_unknown_op_type_kept_off_ane() -> None:
    g = chain(
        ["conv", "my_custom_thing", "conv"],
        shape=(1, 256, 64, 64),
        attrs=[{"weight_shape": (256, 256, 3, 3)}, {}, {"weight_shape": (256, 256, 3, 3)}],
    )
    p = estimate(g, "ALL")
    assert p.ops[1].device != Device.ANE
    assert "not in the rule table" in p.ops[1].reason
    assert p.ops[1].evidence == Evidence.GUESS


def test_estimate_is_labelled() -> None:
    p = estimate(chain(["relu"]), "ALL")
    assert p.source == "estimate"
    assert "not measured" in p.metadata["per_op_time"]
