"""The estimate backend end to end on the built-in examples: devices, reasons, compute units."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from graphs import chain
from nn_nets import mobilenet_nn

from ane_notebook import load_report
from ane_notebook.api import profile
from ane_notebook.model.graph import Graph
from ane_notebook.model.load import graph_from_spec, load_model
from ane_notebook.placement.devices import ComputeUnits, Device, Evidence
from ane_notebook.placement.estimate import SHAPE_UNKNOWN_CLAUSE, estimate
from ane_notebook.placement.result import ReasonKind, WarningKind

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
    # the embedding lookup and the 32000-wide head are never on the ANE
    # (docs/evidence.md: axis.extent, op.gather)
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
    # sin runs on the ANE only from the M3 family (docs/evidence.md: op.sin_cos)
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


# --------------------------------------------------------------------------------------------
# Ops whose tensors have unknown sizes: flagged, explained off the ANE, counted in a warning.


def _chain_with_unknown_middle() -> Graph:
    w = {"weight_shape": (256, 256, 3, 3)}
    g = chain(["conv"] * 4, shape=(1, 256, 64, 64), attrs=[w] * 4)
    ops = list(g.ops)
    ops[1] = replace(ops[1], outputs=(replace(ops[1].outputs[0], shape=(1, 256, None, None)),))
    return replace(g, ops=tuple(ops))


def test_unknown_shapes_are_flagged_and_counted() -> None:
    g = _chain_with_unknown_middle()
    p = estimate(g, "CPU_AND_NE")
    # op 1 writes the unknown tensor and op 2 reads it; ops 0 and 3 are sized
    assert [o.shape_unknown for o in p.ops] == [False, True, True, False]
    (w,) = p.warnings
    assert w.kind == WarningKind.SHAPE_UNKNOWN and w.count == 2 and w.ops == (1, 2)
    assert "64 KB" in w.message
    # on the ANE nothing needs explaining; off it the reason says the cost was not sized
    for o in p.ops:
        if o.device == Device.ANE:
            assert SHAPE_UNKNOWN_CLAUSE not in o.reason
    off = estimate(g, "CPU_ONLY")
    assert [o.reason.endswith(SHAPE_UNKNOWN_CLAUSE) for o in off.ops] == [False, True, True, False]
    assert off.ops[1].reason_kind == ReasonKind.COMPUTE_UNITS  # the decision itself is unchanged


def test_sized_models_have_no_shape_warning() -> None:
    p = estimate(chain(["conv"] * 2, shape=(1, 8, 8, 8)), "ALL")
    assert p.warnings == () and not any(o.shape_unknown for o in p.ops)


def test_text_report_lists_the_warning_with_examples(tmp_path: Path) -> None:
    r = profile(_chain_with_unknown_middle(), "CPU_AND_NE", backend="estimate")
    text = r.to_text()
    assert "Warnings: 1" in text
    line = next(x for x in text.splitlines() if "shape_unknown:" in x)
    assert line.lstrip().startswith("[2] shape_unknown:") and "conv_1, conv_2" in line
    r.to_json(tmp_path / "r.json")
    again = load_report(tmp_path / "r.json")
    assert [w.kind for w in again.warnings] == [WarningKind.SHAPE_UNKNOWN]
    assert [o.shape_unknown for o in again.ops] == [False, True, True, False]


def test_nn_custom_layer_output_is_unknown_and_said_so() -> None:
    b = NeuralNetworkBuilder([("x", datatypes.Array(3, 64, 64))], [("out", None)])
    b.add_convolution(
        "conv",
        kernel_channels=3,
        output_channels=8,
        height=3,
        width=3,
        stride_height=1,
        stride_width=1,
        border_mode="same",
        groups=1,
        W=np.zeros((3, 3, 3, 8), np.float32),
        b=None,
        has_bias=False,
        input_name="x",
        output_name="conv",
    )
    b.add_custom("custom", ["conv"], ["custom"])
    b.add_activation("relu", "RELU", "custom", "out")
    g = graph_from_spec(b.spec)
    p = estimate(g, "ALL")
    assert [o.shape_unknown for o in p.ops] == [False, True, True]
    custom = p.ops[1]
    assert custom.device != Device.ANE and custom.reason.endswith(SHAPE_UNKNOWN_CLAUSE)
    assert custom.reason_kind == ReasonKind.RULE and "op.custom" in custom.rules
    assert p.warnings[0].count == 2


# --------------------------------------------------------------------------------------------
# Legacy NeuralNetwork conv nets: sized by shape inference, their convs go to the ANE.


@pytest.fixture(scope="module")
def mobilenet_nn_graph() -> Graph:
    return graph_from_spec(mobilenet_nn(224), name="mobilenet_nn")


def test_nn_mobilenet_convs_on_the_ane(mobilenet_nn_graph: Graph) -> None:
    g = mobilenet_nn_graph
    convs = [o.index for o in g.ops if o.op_type == "convolution"]
    assert len(convs) == 27
    assert g.ops[convs[0]].outputs[0].shape == (1, 1, 32, 112, 112)
    assert g.ops[convs[-1]].outputs[0].shape == (1, 1, 1024, 7, 7)
    for units in ("ALL", "CPU_AND_NE"):
        p = estimate(g, units, "M1")
        assert [p.ops[i].device for i in convs] == [Device.ANE] * 27, units
        assert p.warnings == ()
    gpu = estimate(g, "CPU_AND_GPU", "M1")
    assert all(gpu.ops[i].device == Device.GPU for i in convs)


def test_small_nn_conv_net_on_the_ane() -> None:
    # the first three MobileNet blocks at 224x224 (7 convs): with unknown sizes each conv looked
    # like a few microseconds of work and the net stayed on the CPU/GPU
    g = graph_from_spec(mobilenet_nn(224, blocks=3), name="small")
    convs = [o.index for o in g.ops if o.op_type == "convolution"]
    for units in ("ALL", "CPU_AND_NE"):
        p = estimate(g, units, "M1")
        assert [p.ops[i].device for i in convs] == [Device.ANE] * 7, units


def test_graph_sharing_keeps_derived_work_only_inside_the_block() -> None:
    # A comparison shares the partition problem across its four settings (GitHub issue 14);
    # a lone profile() must not keep it alive (peak memory), and leaving the block drops it.
    from ane_notebook.placement.estimate import build_problem

    g = load_model("example:lstm")
    made: list[int] = []

    def make() -> int:
        made.append(1)
        return len(made)

    assert (g.memo("k", make), g.memo("k", make)) == (1, 2)
    assert build_problem(g) is not build_problem(g)
    with g.sharing():
        assert (g.memo("k", make), g.memo("k", make)) == (3, 3)
        with g.sharing():
            assert g.memo("k", make) == 3
        assert build_problem(g) is build_problem(g)
        assert build_problem(g, "M4") is not build_problem(g)
    assert g.memo("k", make) == 4
    assert estimate(g, "ALL") == estimate(g, "ALL")
    assert not g.is_sharing
    with g.sharing():
        assert g.is_sharing
    assert not g.is_sharing


def test_fast_placements_are_the_constructors_own() -> None:
    # estimate._placed skips OpPlacement's generated __init__ (speed, GitHub issue 14): every
    # placement must hold exactly the dataclass's fields, in its order, and equal the one the
    # constructor makes from them, under every setting and for every kind of reason.
    import dataclasses

    from ane_notebook.placement.result import OpPlacement

    names = [f.name for f in dataclasses.fields(OpPlacement)]
    kinds = set()
    for units in ("CPU_ONLY", "CPU_AND_NE", "ALL"):
        for p in estimate(load_model("example:transformer"), units, "M1").ops:
            assert type(p) is OpPlacement and list(vars(p)) == names
            assert OpPlacement(**vars(p)) == p and hash(OpPlacement(**vars(p))) == hash(p)
            kinds.add(p.reason_kind)
    assert {ReasonKind.ON_ANE, ReasonKind.RULE, ReasonKind.COMPUTE_UNITS} <= kinds
