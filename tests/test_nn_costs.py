"""NeuralNetwork layers are costed in fp16 on the Neural Engine and GPU.

NN specs declare no compute dtype; the loader records their tensors as fp32 with
``attrs["nn_precision_unknown"]``. Core ML runs NN layers in fp16 on the ANE and GPU (and fp32 on
the CPU), so the bytes an NN layer moves there are half of what its nominal fp32 dtype says.
"""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from nn_nets import mobilenet_nn

from ane_notebook.analysis.crossings import find_crossings
from ane_notebook.model.graph import Graph, Op, TensorInfo
from ane_notebook.model.load import graph_from_spec
from ane_notebook.placement.costs import (
    DEVICE_COLUMNS,
    NOMINAL,
    fp32_is_nominal,
    hardware_for,
    op_costs,
    tensor_bytes,
)
from ane_notebook.placement.devices import Device, get_chip
from ane_notebook.placement.estimate import build_problem
from ane_notebook.placement.result import OpPlacement
from ane_notebook.placement.work import op_flops

X = TensorInfo("x", (1, 64, 128, 128), "fp32")  # 4 MiB at fp32: memory-bound for any processor


def _relu(nn: bool) -> Op:
    attrs = {"nn_precision_unknown": True} if nn else {}
    return Op(
        0,
        "y",
        "activation" if nn else "relu",
        "main",
        ("x",),
        (TensorInfo("y", X.shape, "fp32"),),
        attrs,
    )


def test_nn_activations_count_fp16_on_ane_and_gpu_and_fp32_on_cpu() -> None:
    chip = get_chip("M1")
    nn = op_costs([_relu(True)], [[X]], [[]], chip)
    mil = op_costs([_relu(False)], [[X]], [[]], chip)
    col = {d: j for j, d in enumerate(DEVICE_COLUMNS)}
    assert nn.time_ms[0, col[Device.ANE]] < mil.time_ms[0, col[Device.ANE]]
    assert nn.time_ms[0, col[Device.GPU]] < mil.time_ms[0, col[Device.GPU]]
    assert nn.time_ms[0, col[Device.CPU]] == mil.time_ms[0, col[Device.CPU]]
    assert nn.bytes[0] == mil.bytes[0] == 2 * tensor_bytes(X)  # the CPU count


def test_tensor_bytes_fp16_halves_only_fp32() -> None:
    assert tensor_bytes(X, fp16=True) == tensor_bytes(X) // 2
    i32 = TensorInfo("i", (10,), "int32")
    assert tensor_bytes(i32, fp16=True) == tensor_bytes(i32) == 40
    unknown = TensorInfo("u", (None, 3), "fp32")
    assert tensor_bytes(unknown, fp16=True) == tensor_bytes(unknown)  # the unknown-size guess


def _placed(graph: Graph, devices: dict[int, Device]) -> list[OpPlacement]:
    return [
        OpPlacement(
            device=None if op.is_const else devices.get(op.index, Device.ANE),
            supported=frozenset(Device),
        )
        for op in graph.ops
    ]


def test_nn_tensor_crosses_between_ane_and_gpu_in_fp16_and_to_the_cpu_in_fp32() -> None:
    # NN layers are fp16 on both the ANE and the GPU: no conversion between them; the CPU runs
    # them in fp32, so a crossing to it converts (docs/evidence.md#costs.CONVERT_GBS).
    graph = graph_from_spec(mobilenet_nn(32, blocks=1))
    chip = get_chip("M1")
    hw = NOMINAL.for_chip(chip)
    last = max(op.index for op in graph.ops if not op.is_const)
    for dev, nbytes, fp32 in ((Device.GPU, 0.5, False), (Device.CPU, 1.0, True)):
        (x,) = find_crossings(graph, _placed(graph, {last: dev}), chip)
        assert x.dtype == "fp32" and x.bytes == tensor_bytes(TensorInfo("t", x.shape, "fp32"))
        assert x.est_cost_ms == pytest.approx(
            hw.crossing_ms(Device.ANE, dev, int(x.bytes * nbytes), fp32)
        )


def test_ml_program_fp32_still_converts_between_ane_and_gpu() -> None:
    x = TensorInfo("x", (1, 8), "fp32")
    ml = Graph("m", "mlprogram", (_relu(False),), (x,), (x,))
    nn = Graph("n", "neuralnetwork", (_relu(True),), (x,), (x,))
    assert not fp32_is_nominal(ml) and fp32_is_nominal(nn)
    chip = get_chip("M1")
    args = (Device.ANE, Device.GPU, 1 << 20, True)
    assert hardware_for(ml, chip).crossing_ms(*args) == NOMINAL.for_chip(chip).crossing_ms(*args)
    assert hardware_for(nn, chip).crossing_ms(*args) < hardware_for(ml, chip).crossing_ms(*args)


def _recurrent_nn(n_in: int, hidden: int) -> Graph:
    b = NeuralNetworkBuilder([("x", datatypes.Array(n_in))], [("y", None)])
    w = [np.zeros((hidden, n_in), np.float32)] * 4
    r = [np.zeros((hidden, hidden), np.float32)] * 4
    b.add_unilstm("lstm", r, w, None, hidden, n_in, ["x"], ["y", "h", "c"], output_all=True)
    w2 = [np.zeros((hidden, hidden), np.float32)] * 4
    names = ["z", "h1", "c1", "h2", "c2"]
    b.add_bidirlstm("bi", r, w2, None, r, w2, None, hidden, hidden, ["y"], names, output_all=True)
    r3 = [np.zeros((hidden, hidden), np.float32)] * 3
    w3 = [np.zeros((hidden, 2 * hidden), np.float32)] * 3
    b.add_gru("gru", r3, w3, None, hidden, 2 * hidden, ["z"], ["g", "h3"], output_all=True)
    return graph_from_spec(b.spec)


def test_nn_recurrent_layers_are_costed_from_their_sizes() -> None:
    # 2 FLOPs per weight element per step: gates x hidden x (input + hidden) per direction; a
    # (C,) input is a sequence of one step (the shaper's rank-5 reading).
    n_in, hidden = 32, 64
    graph = _recurrent_nn(n_in, hidden)
    problem = build_problem(graph, "M1")
    by_type = {graph.ops[gi].op_type: k for k, gi in enumerate(problem.work)}
    expected = {
        "uniDirectionalLSTM": 4 * hidden * (n_in + hidden),
        "biDirectionalLSTM": 2 * 4 * hidden * (hidden + hidden),
        "gru": 3 * hidden * (2 * hidden + hidden),
    }
    for kind, weights in expected.items():
        k = by_type[kind]
        assert problem.costs.flops[k] == 2.0 * weights, kind
        assert problem.costs.weight_bytes[k] == 2 * weights, kind  # fp16, as the ANE/GPU read


def test_mil_lstm_flops_count_its_weight_matrices_not_its_state() -> None:
    steps, batch, n_in, hidden = 10, 2, 32, 64
    x = TensorInfo("x", (steps, batch, n_in), "fp16")
    h0 = TensorInfo("h0", (batch, hidden), "fp16")  # rank 2 like a weight: not one
    w_ih = TensorInfo("w_ih", (4 * hidden, n_in), "fp16")
    w_hh = TensorInfo("w_hh", (4 * hidden, hidden), "fp16")
    args = {"x": ("x",), "initial_h": ("h0",), "weight_ih": ("w_ih",), "weight_hh": ("w_hh",)}
    op = Op(
        0,
        "y",
        "lstm",
        "main",
        ("x", "h0", "w_ih", "w_hh"),
        (TensorInfo("y", (steps, batch, hidden), "fp16"),),
        {"args": args},
    )
    weights = 4 * hidden * (n_in + hidden)
    assert op_flops(op, [x, h0, w_ih, w_hh]) == 2.0 * steps * batch * weights


def test_attention_flops_of_a_rank_one_key_do_not_fail() -> None:
    # hypothesis found it (test_properties): key.shape[-2] of a rank-1 key raised IndexError
    # and took the whole profile down
    q = TensorInfo("q", (1, 8, 16), "fp16")
    op = Op(0, "y", "scaled_dot_product_attention", "main", ("q", "k"), (q,), {})
    assert op_flops(op, [q, TensorInfo("k", (16,), "fp16")]) == 4.0 * 8 * 16
    assert op_flops(op, [q, TensorInfo("k", (1, 32, 16), "fp16")]) == 4.0 * 8 * 16 * 32
