"""The Neural Engine side of the cost model: epilogue fusion, on-chip vs streamed activations,
and fixed costs that follow the chip's dispatch (docs/evidence.md#costs.EPILOGUE_FUSION,
#costs.ANE_WORKING_SET_MB, #costs.CROSSING_FIXED_MS)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from ane_notebook.model.graph import Graph, Op, TensorInfo
from ane_notebook.placement.costs import (
    ANE_ACT_FACTOR,
    DEVICE_COLUMNS,
    NOMINAL,
    hardware_for,
    op_costs,
)
from ane_notebook.placement.devices import Device, get_chip
from ane_notebook.placement.estimate import build_problem, estimate
from ane_notebook.placement.fusion import epilogue_fused

SHAPE = (1, 64, 32, 32)  # 128 KB in fp16: well inside the on-chip pool
_ANE = DEVICE_COLUMNS.index(Device.ANE)


def _graph(
    spec: Sequence[tuple[str, str, tuple[str, ...]]], shape: tuple[int, ...] = SHAPE
) -> Graph:
    """Ops given as (output name, op type, input names); "w" names a constant (weights),
    "bias" a per-channel one."""
    ops: list[Op] = [
        Op(0, "w", "const", "main", (), (TensorInfo("w", (64, 64, 1, 1), "fp16"),), is_const=True),
        Op(1, "bias", "const", "main", (), (TensorInfo("bias", (64,), "fp16"),), is_const=True),
    ]
    for out, t, ins in spec:
        ops.append(Op(len(ops), out, t, "main", ins, (TensorInfo(out, shape, "fp16"),)))
    x = TensorInfo("x", shape, "fp16")
    return Graph(
        name="g",
        format="mlprogram",
        ops=tuple(ops),
        inputs=(x,),
        outputs=(ops[-1].outputs[0],),
        function_inputs={("main", "x"): x},
    )


def _fused(g: Graph) -> dict[str, bool]:
    work = [op.index for op in g.ops if not op.is_const]
    flags = epilogue_fused(g, work)
    return {g.ops[gi].name: bool(f) for gi, f in zip(work, flags, strict=True)}


def test_activation_and_bias_fold_into_the_conv() -> None:
    g = _graph(
        [("c", "conv", ("x", "w")), ("b", "add", ("c", "bias")), ("r", "relu", ("b",))],
    )
    assert _fused(g) == {"c": False, "b": True, "r": True}


def test_two_live_inputs_and_fanout_are_barriers() -> None:
    # a residual add has two run-time inputs (not a GOC); a conv output read twice must exist
    g = _graph(
        [
            ("c1", "conv", ("x", "w")),
            ("r1", "relu", ("c1",)),
            ("c2", "conv", ("r1", "w")),
            ("s", "add", ("c2", "r1")),  # r1 is read by c2 and by the add
            ("r2", "relu", ("s",)),
        ]
    )
    assert _fused(g) == {"c1": False, "r1": True, "c2": False, "s": False, "r2": True}
    g = _graph([("c", "conv", ("x", "w")), ("r", "relu", ("c",)), ("t", "tanh", ("c",))])
    assert _fused(g) == {"c": False, "r": False, "t": False}


def test_the_epilogue_has_three_slots() -> None:
    # activation, affine, activation fit; a third activation does not
    g = _graph(
        [
            ("c", "conv", ("x", "w")),
            ("a1", "relu", ("c",)),
            ("g", "mul", ("a1", "bias")),
            ("a2", "sigmoid", ("g",)),
            ("a3", "tanh", ("a2",)),
        ]
    )
    assert _fused(g) == {"c": False, "a1": True, "g": True, "a2": True, "a3": False}


def test_hard_swish_as_the_converter_writes_it_is_one_activation() -> None:
    # coremltools' torch frontend: w = thresholded_relu(x), y = w * sigmoid_hard(w)
    g = _graph(
        [
            ("c", "conv", ("x", "w")),
            ("t", "thresholded_relu", ("c",)),
            ("h", "sigmoid_hard", ("t",)),
            ("y", "mul", ("t", "h")),
            ("z", "conv", ("y", "w")),
        ]
    )
    assert _fused(g) == {"c": False, "t": True, "h": True, "y": True, "z": False}
    # a gate computed from another tensor (squeeze-excite) is a real two-input multiply
    g = _graph(
        [
            ("c", "conv", ("x", "w")),
            ("p", "conv", ("x", "w")),
            ("h", "sigmoid_hard", ("p",)),
            ("y", "mul", ("c", "h")),
        ]
    )
    assert _fused(g)["y"] is False


def test_a_square_is_a_two_input_layer_not_a_gain() -> None:
    # mul(c, c) (variance, RMSNorm) names one tensor twice: two run-time operands, a barrier
    g = _graph([("c", "conv", ("x", "w")), ("sq", "mul", ("c", "c"))])
    assert _fused(g) == {"c": False, "sq": False}
    g = _graph([("c", "conv", ("x", "w")), ("q", "real_div", ("c", "c"))])
    assert _fused(g)["q"] is False


def test_no_fold_across_a_control_flow_body() -> None:
    g = _graph([("c", "conv", ("x", "w")), ("r", "relu", ("c",))])
    assert _fused(g) == {"c": False, "r": True}
    inner = replace(g.ops[-1], block=("loop", "body"))
    g = replace(g, ops=(*g.ops[:-1], inner))
    assert _fused(g) == {"c": False, "r": False}


def test_only_a_per_channel_constant_is_a_gain() -> None:
    # the gain/offset unit holds a scalar or a per-channel vector; a constant as large as the
    # activation is a second tensor, so that add is a layer of its own
    shape = (1, 256, 8, 8)
    for const_shape, folds in (((1, 256, 1, 1), True), ((), True), (shape, False)):
        g = _graph([("c", "conv", ("x", "w")), ("b", "add", ("c", "k"))], shape=shape)
        k = Op(2, "k", "const", "main", (), (TensorInfo("k", const_shape, "fp16"),), is_const=True)
        g = replace(g, ops=(*g.ops[:2], k, *g.ops[2:]))
        g = replace(g, ops=tuple(replace(op, index=i) for i, op in enumerate(g.ops)))
        assert _fused(g)["b"] is folds, const_shape


def test_for_chip_rescales_instead_of_compounding() -> None:
    a16, m1 = get_chip("A16"), get_chip("M1")
    once = NOMINAL.for_chip(a16)
    assert once.for_chip(a16).crossing_fixed_ms == once.crossing_fixed_ms
    assert once.for_chip(m1).crossing_fixed_ms == NOMINAL.for_chip(m1).crossing_fixed_ms


def test_a_folded_op_costs_the_ane_no_traffic_and_no_layer() -> None:
    g = _graph([("c", "conv", ("x", "w")), ("r", "relu", ("c",))])
    p = build_problem(g, "A16")
    t = p.costs.time_ms
    assert p.costs.ane_fused is not None and bool(p.costs.ane_fused[1])
    relu_bytes = p.costs.act_bytes_accel[1]
    unfused = relu_bytes / (ANE_ACT_FACTOR * get_chip("A16").ane_gbs * 1e6)
    assert t[1, _ANE] < unfused / 100  # without fusion it would pay its whole round trip
    # the other processors still run it as an op of its own
    assert t[1, DEVICE_COLUMNS.index(Device.CPU)] > unfused
    # and the report shows the time the partitioner used
    placed = estimate(g, "CPU_AND_NE", "A16")
    col = DEVICE_COLUMNS.index(placed.ops[3].device or Device.CPU)
    assert placed.ops[3].est_time_ms == pytest.approx(
        float(p.op_times(NOMINAL.for_chip(p.chip))[1, col])
    )


@pytest.mark.parametrize("side", [30, 200])
def test_activations_beyond_the_working_set_stream_at_the_dram_rate(side: int) -> None:
    shape = (1, 64, side, side)  # 115 KB vs 5.1 MB in fp16
    x = TensorInfo("x", shape, "fp16")
    op = Op(0, "y", "add", "main", ("x", "x"), (TensorInfo("y", shape, "fp16"),))
    chip = get_chip("A16")
    c = op_costs([op], [[x, x]], [[]], chip)
    nbytes = 3 * 2 * 64 * side * side
    assert c.act_max_accel is not None and c.act_max_accel[0] == 2 * 64 * side * side
    onchip = nbytes / (ANE_ACT_FACTOR * chip.ane_gbs * 1e6)
    dram = nbytes / (chip.ane_gbs * 1e6)
    want = dram if side == 200 else onchip
    assert c.time_ms[0, _ANE] == pytest.approx(want + NOMINAL.op_overhead_ms[Device.ANE])


def test_fixed_crossing_costs_follow_the_chip_dispatch() -> None:
    g = _graph([("c", "conv", ("x", "w"))])
    m1, a16 = hardware_for(g, get_chip("M1")), hardware_for(g, get_chip("A16"))
    ane_cpu = frozenset({Device.ANE, Device.CPU})
    cpu_gpu = frozenset({Device.CPU, Device.GPU})
    assert m1.crossing_fixed_ms[ane_cpu] == pytest.approx(NOMINAL.crossing_fixed_ms[ane_cpu])
    ratio = a16.launch_ms[Device.ANE] / m1.launch_ms[Device.ANE]
    assert ratio < 1
    assert a16.crossing_fixed_ms[ane_cpu] == pytest.approx(ratio * m1.crossing_fixed_ms[ane_cpu])
    assert a16.crossing_fixed_ms[cpu_gpu] == m1.crossing_fixed_ms[cpu_gpu]  # no ANE: unchanged


def test_fusion_needs_an_engine_layer_underneath() -> None:
    # an activation reading the model input has no producing layer to fold into
    g = _graph([("r", "relu", ("x",)), ("c", "conv", ("r", "w"))])
    assert _fused(g) == {"r": False, "c": False}
    assert not np.any(epilogue_fused(g, []))


@pytest.mark.parametrize("chip", ["M1", "M4"])
@pytest.mark.parametrize("units", ["ALL", "CPU_AND_NE"])
def test_no_fold_is_credited_across_processors_in_the_examples(chip: str, units: str) -> None:
    """The fold is a per-op cost that does not see where the producer lands
    (docs/evidence.md#costs.EPILOGUE_FUSION, "Limit"): it is only sound while the partitioner
    never puts a folded op on the ANE with its producer elsewhere. Pinned on every example."""
    import ane_notebook as an
    from ane_notebook.model.examples import EXAMPLES

    folded_on_ane = 0
    for name in EXAMPLES:
        g = an.load_model(f"example:{name}")
        work = [i for i, op in enumerate(g.ops) if not op.is_const]
        fused = epilogue_fused(g, work)
        report = an.profile(f"example:{name}", compute_units=units, chip=chip)
        device = {p.name: p.device for p in report.ops}
        for k, gi in enumerate(work):
            op = g.ops[gi]
            if not fused[k] or device[op.name] is not Device.ANE:
                continue
            folded_on_ane += 1
            for n in op.inputs:
                src = g.producer.get((op.function, n))
                if src is not None and not g.ops[src].is_const:
                    assert device[g.ops[src].name] is Device.ANE, (name, op.name)
    assert folded_on_ane > 0  # the examples do exercise the fold
