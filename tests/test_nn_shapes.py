"""NeuralNetwork shape inference (model/nn_shapes.py), checked against answers it cannot share bugs
with.

* ND-mode networks: MIL programs converted with ``ct.convert(..., convert_to="neuralnetwork")``.
  MIL's own type inference gives every op's output shape; the converted layers keep the op
  names, so each layer we shape is compared with MIL's answer (MIL has no rank-0 tensors in NN
  form: a MIL scalar is a ``(1,)`` blob there).
* Rank-5 (iOS 11/12) networks and ND layers the converter never writes: built with
  ``NeuralNetworkBuilder``; the expected shapes are worked out by hand from the formulas in
  ``NeuralNetwork.proto`` and written down as numbers.

Declared ``outputTensor`` shapes (the builder fills some) are stripped before loading, so that
what is checked is the inference, not the declaration.
"""

from __future__ import annotations

import copy
import logging
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from coremltools.converters.mil.mil import Builder as mb
from coremltools.converters.mil.mil import types
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder, flexible_shape_utils
from coremltools.proto import Model_pb2
from google.protobuf.descriptor import FieldDescriptor

from ane_notebook.model.convert import convert_quietly
from ane_notebook.model.graph import Graph
from ane_notebook.model.limits import MAX_DIM, MAX_RANK
from ane_notebook.model.load import graph_from_spec
from ane_notebook.model.nn_shapes import RULES, is_rank5_network

Shape = tuple[int | None, ...]


def strip_declared(spec: Model_pb2.Model) -> Model_pb2.Model:
    """The spec without any layer's declared input/output tensors (in nested networks too)."""
    kind = spec.WhichOneof("Type")
    stack = [getattr(spec, kind)]
    while stack:
        net = stack.pop()
        for layer in net.layers:
            del layer.outputTensor[:]
            del layer.inputTensor[:]
            if layer.WhichOneof("layer") == "branch":
                stack += [layer.branch.ifBranch, layer.branch.elseBranch]
            elif layer.WhichOneof("layer") == "loop":
                stack += [layer.loop.conditionNetwork, layer.loop.bodyNetwork]
    return spec


def load(spec: Model_pb2.Model) -> Graph:
    return graph_from_spec(strip_declared(spec))


def shapes(g: Graph) -> dict[str, Shape | None]:
    return {t.name: t.shape for op in g.ops for t in op.outputs}


def layer_types(g: Graph) -> dict[str, str]:
    return {t.name: op.op_type for op in g.ops for t in op.outputs}


# --------------------------------------------------------------------------------------------
# ND mode: MIL type inference as the oracle.


def _w(*s: int) -> np.ndarray:
    return np.zeros(s, np.float32)


def _i(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int32)


# name -> (program body, input shapes, input dtypes or None, NN layer types it must produce)
MIL_CASES: dict[str, tuple[Callable[..., Any], list[tuple[int, ...]], list[Any] | None, set[str]]]
MIL_CASES = {
    "conv": (
        lambda x: [
            mb.conv(x=x, weight=_w(8, 3, 3, 3), strides=[2, 2], pad_type="same", name="same"),
            mb.conv(
                x=x,
                weight=_w(8, 3, 5, 3),
                strides=[2, 3],
                pad_type="custom",
                pad=[1, 2, 0, 3],
                dilations=[2, 1],
                name="custom",
            ),
            mb.conv(x=x, weight=_w(6, 1, 3, 3), groups=3, pad_type="valid", name="groups"),
        ],
        [(2, 3, 17, 19)],
        None,
        {"convolution"},
    ),
    "conv_dynamic_weights": (
        lambda x, w: mb.conv(x=x, weight=w, pad_type="valid", name="y"),
        [(1, 3, 10, 11), (8, 3, 3, 3)],
        None,
        {"convolution"},
    ),
    "deconv": (
        lambda x: [
            mb.conv_transpose(
                x=x, weight=_w(3, 4, 3, 3), strides=[2, 2], pad_type="valid", name="valid"
            ),
            mb.conv_transpose(
                x=x, weight=_w(3, 4, 4, 4), strides=[2, 2], pad_type="same", name="same"
            ),
            mb.conv_transpose(
                x=x,
                weight=_w(3, 4, 3, 3),
                strides=[2, 2],
                pad_type="custom",
                pad=[1, 1, 0, 1],
                dilations=[2, 2],
                name="custom",
            ),
        ],
        [(1, 3, 7, 9)],
        None,
        {"convolution"},
    ),
    "pool": (
        lambda x: [
            mb.max_pool(x=x, kernel_sizes=[3, 3], strides=[2, 2], pad_type="valid", name="a"),
            mb.max_pool(
                x=x,
                kernel_sizes=[3, 3],
                strides=[2, 2],
                pad_type="custom",
                pad=[1, 1, 1, 1],
                ceil_mode=True,
                name="ceil",
            ),
            mb.avg_pool(x=x, kernel_sizes=[3, 2], strides=[2, 3], pad_type="same", name="b"),
            mb.l2_pool(x=x, kernel_sizes=[2, 2], strides=[2, 2], pad_type="valid", name="c"),
            mb.reduce_mean(x=x, axes=[-2, -1], keep_dims=True, name="gap"),
        ],
        [(1, 3, 17, 20)],
        None,
        {"pooling"},
    ),
    "conv3d": (
        lambda x: [
            mb.conv(x=x, weight=_w(4, 2, 3, 3, 3), strides=[1, 2, 2], pad_type="same", name="a"),
            mb.max_pool(x=x, kernel_sizes=[2, 2, 2], strides=[2, 2, 2], pad_type="valid", name="b"),
        ],
        [(1, 2, 6, 8, 9)],
        None,
        {"convolution3d", "pooling3d"},
    ),
    "resize": (
        lambda x: [
            mb.upsample_nearest_neighbor(
                x=x, scale_factor_height=2, scale_factor_width=3, name="nn"
            ),
            mb.upsample_bilinear(
                x=x,
                scale_factor_height=1.5,
                scale_factor_width=2.5,
                align_corners=False,
                name="fractional",
            ),
            mb.resize_bilinear(x=x, target_size_height=11, target_size_width=13, name="rb"),
            mb.crop(x=x, crop_height=[1, 2], crop_width=[0, 3], name="crop"),
            mb.pad(x=x, pad=[1, 2, 3, 4], mode="constant", name="pad"),
            mb.pad(x=x, pad=[1, 2, 3, 4], mode="reflect", name="reflect"),
            mb.depth_to_space(x=x, block_size=2, name="d2s"),
            mb.space_to_depth(x=x, block_size=2, name="s2d"),
            mb.pixel_shuffle(x=x, upscale_factor=2, name="shuffle"),
        ],
        [(1, 8, 6, 10)],
        None,
        {"upsample", "resizeBilinear", "crop", "padding", "reorganizeData"},
    ),
    "linear_algebra": (
        lambda x, y, z, e: [
            mb.linear(x=z, weight=_w(7, 5), bias=_w(7), name="fc2"),
            mb.linear(x=x, weight=_w(7, 5), name="fc4"),
            mb.matmul(x=x, y=y, name="mm"),
            mb.matmul(x=z, y=_w(6, 5), transpose_y=True, name="mm_t"),
            mb.matmul(x=x, y=_w(5, 6), name="mm_const"),
            mb.einsum(values=(x, e), equation="nchw,nwhu->nchu", name="einsum"),
        ],
        [(2, 3, 4, 5), (2, 3, 5, 6), (2, 5), (2, 5, 4, 6)],
        None,
        {"innerProduct", "batchedMatmul"},
    ),
    "normalization": (
        lambda x, s: [
            mb.batch_norm(x=x, mean=_w(3), variance=_w(3), name="bn"),
            mb.instance_norm(x=x, name="inorm"),
            mb.l2_norm(x=x, name="l2"),
            mb.local_response_norm(x=x, size=3, name="lrn"),
            mb.layer_norm(x=s, axes=[-1], name="ln"),
            mb.softmax(x=s, axis=1, name="softmax"),
        ],
        [(1, 3, 10, 11), (2, 3, 10)],
        None,
        {"batchnorm", "l2normalize", "lrn", "softmaxND", "mvn"},
    ),
    "activations": (
        lambda x: [
            mb.relu(x=x, name="relu"),
            mb.sigmoid(x=x, name="sigmoid"),
            mb.tanh(x=x, name="tanh"),
            mb.gelu(x=x, name="gelu"),
            mb.leaky_relu(x=x, alpha=0.1, name="leaky"),
            mb.elu(x=x, alpha=1.0, name="elu"),
            mb.softplus(x=x, name="softplus"),
            mb.clamped_relu(x=x, alpha=0.1, beta=6.0, name="clamped"),
            mb.prelu(x=x, alpha=_w(3), name="prelu"),
            mb.erf(x=x, name="erf"),
            mb.exp(x=x, name="exp"),
            mb.sqrt(x=x, name="sqrt"),
            mb.clip(x=x, alpha=0.0, beta=1.0, name="clip"),
            mb.floor(x=x, name="floor"),
            mb.sin(x=x, name="sin"),
            mb.round(x=x, name="round"),
            mb.sign(x=x, name="sign"),
            mb.atan(x=x, name="atan"),
            mb.cosh(x=x, name="cosh"),
            mb.exp2(x=x, name="exp2"),
            mb.scaled_tanh(x=x, alpha=1.0, beta=1.0, name="scaled_tanh"),
            mb.sigmoid_hard(x=x, alpha=0.2, beta=0.5, name="hard"),
            mb.softsign(x=x, name="softsign"),
            mb.inverse(x=x, name="inverse"),
            mb.threshold(x=x, alpha=0.5, name="threshold"),
        ],
        [(1, 3, 10, 11)],
        None,
        {"activation", "unary", "gelu", "clampedReLU", "erf", "clip", "floor", "sin", "round"},
    ),
    "broadcasting": (
        lambda x, y, c: [
            mb.add(x=x, y=y, name="add"),
            mb.sub(x=x, y=y, name="sub"),
            mb.mul(x=x, y=y, name="mul"),
            mb.real_div(x=x, y=y, name="div"),
            mb.maximum(x=x, y=y, name="max"),
            mb.minimum(x=x, y=y, name="min"),
            mb.pow(x=x, y=y, name="pow"),
            mb.floor_div(x=x, y=y, name="floordiv"),
            mb.mod(x=x, y=y, name="mod"),
            mb.equal(x=x, y=y, name="eq"),
            mb.less(x=x, y=y, name="lt"),
            mb.greater_equal(x=x, y=y, name="ge"),
            mb.logical_and(
                x=mb.greater(x=x, y=0.0, name="gx"), y=mb.greater(x=y, y=0.0, name="gy"), name="and"
            ),
            mb.logical_not(x=mb.less(x=x, y=0.0, name="lx"), name="not"),
            mb.select(cond=mb.greater(x=c, y=0.0, name="gc"), a=y, b=c, name="where"),
            mb.add(x=x, y=2.0, name="add_scalar"),
            mb.mul(x=x, y=_w(1, 1, 1, 5), name="mul_const"),
        ],
        [(2, 1, 4, 5), (3, 1, 5), (1, 5)],
        None,
        {
            "addBroadcastable",
            "subtractBroadcastable",
            "multiplyBroadcastable",
            "divideBroadcastable",
            "maxBroadcastable",
            "minBroadcastable",
            "powBroadcastable",
            "floorDivBroadcastable",
            "modBroadcastable",
            "equal",
            "lessThan",
            "greaterEqual",
            "greaterThan",
            "logicalAnd",
            "logicalNot",
            "whereBroadcastable",
            "add",
        },
    ),
    "concat_split": (
        lambda x, y, c: [
            mb.concat(values=[x, y, x], axis=1, name="cat_nd"),
            mb.concat(values=[x, x], axis=-1, name="cat_last"),
            mb.concat(values=[c, c], axis=1, name="cat_c"),
            *mb.split(x=x, num_splits=2, axis=1, name="halves"),
            *mb.split(x=x, split_sizes=[1, 3], axis=2, name="sizes"),
            *mb.split(x=c, num_splits=3, axis=1, name="thirds"),
            mb.stack(values=[x, x, x], axis=1, name="stack"),
        ],
        [(2, 6, 4), (2, 5, 4), (1, 6, 4, 5)],
        None,
        {"concatND", "concat", "splitND", "stack"},
    ),
    "slicing": (
        lambda x: [
            mb.slice_by_index(
                x=x, begin=_i(0, 1, 2), end=_i(2, 5, -1), stride=_i(1, 2, 1), name="strided"
            ),
            mb.slice_by_index(
                x=x, begin=_i(1, 0, 0), end=_i(0, 3, 0), end_mask=[True, False, True], name="masked"
            ),
            mb.slice_by_index(
                x=x,
                begin=_i(1, 0, 0),
                end=_i(2, 6, 7),
                squeeze_mask=[True, False, False],
                name="squeezed",
            ),
            mb.slice_by_size(x=x, begin=_i(0, 1, 1), size=_i(2, 3, -1), name="by_size"),
            mb.sliding_windows(x=x, axis=2, size=3, stride=2, name="windows"),
        ],
        [(3, 6, 7)],
        None,
        {"sliceStatic", "slidingWindows"},
    ),
    "reshaping": (
        lambda x, y: [
            mb.reshape(x=x, shape=[6, -1], name="static"),
            mb.reshape(x=x, shape=[3, 2, 7, 6], name="static4"),
            mb.reshape(x=x, shape=[0, -1, 6], name="rank_preserving"),
            mb.squeeze(x=y, axes=[1], name="squeeze1"),
            mb.squeeze(x=y, name="squeeze_all"),
            mb.squeeze(x=y, axes=[-1, 1], name="squeeze_neg"),
            mb.expand_dims(x=y, axes=[0], name="expand"),
            mb.transpose(x=y, perm=[2, 0, 3, 1], name="transpose"),
            mb.tile(x=x, reps=[2, 1, 3], name="tile"),
            mb.flatten2d(x=x, axis=2, name="flatten"),
        ],
        [(3, 2, 42), (3, 1, 4, 1)],
        None,
        {
            "reshapeStatic",
            "rankPreservingReshape",
            "squeeze",
            "expandDims",
            "transpose",
            "tile",
            "flattenTo2D",
        },
    ),
    "reductions": (
        lambda x: [
            mb.reduce_sum(x=x, axes=[1], keep_dims=False, name="sum"),
            mb.reduce_mean(x=x, axes=[0, 2], keep_dims=True, name="mean"),
            mb.reduce_max(x=x, axes=None, keep_dims=False, name="max_all"),
            mb.reduce_l2_norm(x=x, axes=[-1], name="l2"),
            mb.reduce_log_sum_exp(x=x, axes=[1], keep_dims=True, name="lse"),
            mb.reduce_prod(x=x, axes=[2], name="prod"),
            mb.reduce_sum_square(x=x, axes=[0], name="sumsq"),
            mb.reduce_l1_norm(x=x, axes=[1, 2], keep_dims=True, name="l1"),
            mb.reduce_min(x=x, axes=[0], name="min"),
            mb.reduce_log_sum(x=x, axes=[1], name="logsum"),
            mb.reduce_argmax(x=x, axis=1, keep_dims=False, name="argmax"),
            mb.reduce_argmin(x=x, axis=-1, keep_dims=True, name="argmin"),
            *mb.topk(x=x, k=3, axis=1, name="topk"),
            mb.cumsum(x=x, axis=1, name="cumsum"),
            mb.argsort(x=x, axis=-1, name="argsort"),
            mb.band_part(x=x, lower=1, upper=1, name="band"),
            mb.reverse(x=x, axes=[1], name="reverse"),
        ],
        [(3, 5, 7)],
        None,
        {
            "reduceSum",
            "reduceMean",
            "reduceMax",
            "reduceL2",
            "reduceLogSumExp",
            "reduceProd",
            "reduceSumSquare",
            "reduceL1",
            "reduceMin",
            "reduceLogSum",
            "argMax",
            "argMin",
            "topK",
            "cumSum",
            "argSort",
            "matrixBandPart",
            "reverse",
        },
    ),
    "gather_scatter": (
        lambda x, i, u: [
            mb.gather(x=x, indices=i, axis=1, name="gather"),
            mb.gather_nd(x=x, indices=mb.reshape(x=i, shape=[4, 2], name="idx"), name="gnd"),
            mb.gather_along_axis(
                x=x,
                indices=mb.cast(x=mb.fill(shape=_i(3, 2, 7), value=1.0), dtype="int32"),
                axis=1,
                name="along",
            ),
            mb.scatter(
                data=u,
                indices=mb.slice_by_size(x=i, begin=_i(0, 0), size=_i(2, 1), name="si"),
                updates=_w(2, 1, 5),
                axis=0,
                name="scatter",
            ),
            mb.one_hot(indices=i, one_hot_vector_size=6, axis=-1, name="onehot"),
            mb.non_zero(x=u, name="nonzero"),
            mb.shape(x=x, name="shape"),
        ],
        [(3, 5, 7), (4, 2), (3, 5)],
        [None, types.int32, None],
        {"gather", "gatherND", "gatherAlongAxis", "scatter", "oneHot", "whereNonZero"},
    ),
    "recurrent": (
        lambda a, b, c, d: [
            *mb.lstm(
                x=a,
                initial_h=_w(1, 8),
                initial_c=_w(1, 8),
                weight_ih=_w(32, 5),
                weight_hh=_w(32, 8),
                output_sequence=True,
                name="lstm",
            ),
            *mb.lstm(
                x=b,
                initial_h=_w(1, 16),
                initial_c=_w(1, 16),
                weight_ih=_w(32, 5),
                weight_hh=_w(32, 8),
                weight_ih_back=_w(32, 5),
                weight_hh_back=_w(32, 8),
                direction="bidirectional",
                output_sequence=True,
                name="bilstm",
            ),
            *mb.gru(
                x=c,
                initial_h=_w(1, 8),
                weight_ih=_w(24, 5),
                weight_hh=_w(24, 8),
                output_sequence=False,
                name="gru",
            ),
            *mb.rnn(
                x=d,
                initial_h=_w(1, 8),
                weight_ih=_w(8, 5),
                weight_hh=_w(8, 8),
                output_sequence=True,
                name="rnn",
            ),
        ],
        [(6, 1, 5)] * 4,
        None,
        {"uniDirectionalLSTM", "biDirectionalLSTM", "gru", "simpleRecurrent", "squeeze"},
    ),
}


def _mil_shape(shape: tuple[Any, ...]) -> Shape:
    if not shape:
        return (1,)  # NN blobs have rank >= 1
    return tuple(int(d) if isinstance(d, (int, np.integer)) else None for d in shape)


@pytest.mark.parametrize("case", sorted(MIL_CASES))
def test_nd_layers_match_mil_type_inference(case: str) -> None:
    body, input_shapes, dtypes, must_cover = MIL_CASES[case]
    specs = [
        mb.TensorSpec(shape=s)
        if dtypes is None or dtypes[i] is None
        else mb.TensorSpec(shape=s, dtype=dtypes[i])
        for i, s in enumerate(input_shapes)
    ]
    prog = mb.program(input_specs=specs)(body)
    expected = {
        v.name: _mil_shape(v.shape) for op in prog.functions["main"].operations for v in op.outputs
    }
    logging.disable(logging.WARNING)  # the NN backend logs each deprecated conversion
    try:
        spec = convert_quietly(copy.deepcopy(prog), convert_to="neuralnetwork").get_spec()
    finally:
        logging.disable(logging.NOTSET)
    assert not is_rank5_network(spec.neuralNetwork)
    g = load(spec)
    got, kinds = shapes(g), layer_types(g)
    compared = {n for n in got if n in expected}
    mismatches = {n: (got[n], expected[n]) for n in compared if got[n] != expected[n]}
    assert not mismatches, f"(ours, MIL) differ: {mismatches}"
    covered = {kinds[n] for n in compared}
    # The layers MIL names are a subset; the intermediate ones the converter adds (a rank-5
    # expand/squeeze around LSTMs, mvn inside layer_norm) are shaped too: none is unknown.
    assert must_cover <= {kinds[n] for n in got}, must_cover - {kinds[n] for n in got}
    assert covered, "no layer of the converted model carries a MIL op name"
    assert all(
        s is not None and None not in s for n, s in got.items() if kinds[n] != "whereNonZero"
    )


# --------------------------------------------------------------------------------------------
# Rank-5 (iOS 11/12) networks: expected shapes from the proto's formulas, by hand.


def rank5(*inputs: tuple[str, tuple[int, ...]]) -> NeuralNetworkBuilder:
    return NeuralNetworkBuilder(
        [(name, datatypes.Array(*dims)) for name, dims in inputs], [("out", None)]
    )


def conv(b: NeuralNetworkBuilder, name: str, src: str, cin: int, cout: int, **kw: Any) -> None:
    kh, kw_ = kw.pop("k", (3, 3))
    groups = kw.pop("groups", 1)
    deconv = kw.get("is_deconv", False)
    weight = (kh, kw_, cin, cout // groups) if deconv else (kh, kw_, cin // groups, cout)
    b.add_convolution(
        name,
        kernel_channels=cin if deconv else cin // groups,
        output_channels=cout,
        height=kh,
        width=kw_,
        stride_height=kw.pop("sh", 1),
        stride_width=kw.pop("sw", 1),
        border_mode=kw.pop("mode", "valid"),
        groups=groups,
        W=np.zeros(weight, np.float32),
        b=None,
        has_bias=False,
        input_name=src,
        output_name=name,
        **kw,
    )


def test_rank5_mode_and_input_mapping() -> None:
    b = rank5(("x", (3, 17, 19)), ("v", (5,)))
    b.add_activation("a", "RELU", "x", "a")
    b.add_activation("b", "RELU", "v", "b")
    assert is_rank5_network(b.spec.neuralNetwork)
    g = load(b.spec)
    # rank 3 -> [1, 1, C, H, W], rank 1 -> [1, 1, C, 1, 1] (NeuralNetwork.proto)
    assert g.function_inputs[("main", "x")].shape == (1, 1, 3, 17, 19)
    assert g.function_inputs[("main", "v")].shape == (1, 1, 5, 1, 1)
    assert shapes(g) == {"a": (1, 1, 3, 17, 19), "b": (1, 1, 5, 1, 1)}
    # the model interface keeps the declared shapes
    assert {t.name: t.shape for t in g.inputs} == {"x": (3, 17, 19), "v": (5,)}


def test_rank5_convolution() -> None:
    b = rank5(("x", (3, 17, 19)))
    # valid, padding t1 b2 l0 r3, stride 2, dilation (2, 1): kernel 5x3 dilated
    # H = (17 + 1 + 2 - 5) // 2 + 1 = 8, W = (19 + 0 + 3 - 3) // 2 + 1 = 10
    conv(
        b,
        "valid",
        "x",
        3,
        8,
        sh=2,
        sw=2,
        padding_top=1,
        padding_bottom=2,
        padding_right=3,
        dilation_factors=[2, 1],
    )
    # same, stride (2, 3): H = ceil(17 / 2) = 9, W = ceil(19 / 3) = 7
    conv(b, "same", "x", 3, 8, sh=2, sw=3, mode="same")
    # depthwise-style groups=3, valid 3x3: H = 15, W = 17
    conv(b, "groups", "x", 3, 6, groups=3)
    # 1x1, stride 1, 16 channels
    conv(b, "pointwise", "x", 3, 16, k=(1, 1))
    got = shapes(load(b.spec))
    assert got == {
        "valid": (1, 1, 8, 8, 10),
        "same": (1, 1, 8, 9, 7),
        "groups": (1, 1, 6, 15, 17),
        "pointwise": (1, 1, 16, 17, 19),
    }


def test_rank5_deconvolution() -> None:
    b = rank5(("x", (3, 17, 19)))
    # valid: H = (17 - 1) * 2 + 3 = 35, W = (19 - 1) * 2 + 3 = 39
    conv(b, "valid", "x", 3, 4, sh=2, sw=2, is_deconv=True)
    # same: H = 17 * 2, W = 19 * 2
    conv(b, "same", "x", 3, 4, sh=2, sw=2, mode="same", is_deconv=True)
    # explicit output shape wins over the padding type
    conv(b, "given", "x", 3, 4, sh=2, sw=2, is_deconv=True, output_shape=[36, 40])
    # valid with padding t1 b1 r1: H = 35 - 2 = 33, W = 39 - 1 = 38
    conv(
        b,
        "padded",
        "x",
        3,
        4,
        sh=2,
        sw=2,
        is_deconv=True,
        padding_top=1,
        padding_bottom=1,
        padding_right=1,
    )
    # dilation: the proto says deconvolution ignores it, the C++ shaper applies it: unknown
    conv(b, "dilated", "x", 3, 4, sh=2, sw=2, is_deconv=True, dilation_factors=[2, 2])
    got = shapes(load(b.spec))
    assert got == {
        "valid": (1, 1, 4, 35, 39),
        "same": (1, 1, 4, 34, 38),
        "given": (1, 1, 4, 36, 40),
        "padded": (1, 1, 4, 33, 38),
        "dilated": (1, 1, 4, None, None),
    }


def test_rank5_pooling() -> None:
    b = rank5(("x", (3, 17, 19)), ("s", (3, 5, 5)))

    def pool(name: str, src: str, k: int, s: int, padding: str, **kw: Any) -> None:
        b.add_pooling(
            name,
            height=k,
            width=k,
            stride_height=s,
            stride_width=s,
            layer_type="MAX",
            padding_type=padding,
            input_name=src,
            output_name=name,
            **kw,
        )

    pool("valid", "x", 3, 2, "VALID")  # (17 - 3) // 2 + 1 = 8, (19 - 3) // 2 + 1 = 9
    pool("same", "x", 3, 2, "SAME")  # ceil(17 / 2) = 9, ceil(19 / 2) = 10
    # includeLastPixel, pad 1: ceil((17 + 2 - 3) / 2) + 1 = 9, ceil((19 + 2 - 3) / 2) + 1 = 10
    pool(
        "last",
        "x",
        3,
        2,
        "INCLUDE_LAST_PIXEL",
        padding_top=1,
        padding_bottom=1,
        padding_left=1,
        padding_right=1,
    )
    # includeLastPixel, 5x5, k3 s3 pad 1: ceil(4 / 3) + 1 = 3, but the last window would start
    # in the padding ((3 - 1) * 3 >= 5 + 1): 2
    pool(
        "trimmed",
        "s",
        3,
        3,
        "INCLUDE_LAST_PIXEL",
        padding_top=1,
        padding_bottom=1,
        padding_left=1,
        padding_right=1,
    )
    pool("global", "x", 3, 2, "VALID", is_global=True)
    got = shapes(load(b.spec))
    assert got == {
        "valid": (1, 1, 3, 8, 9),
        "same": (1, 1, 3, 9, 10),
        "last": (1, 1, 3, 9, 10),
        "trimmed": (1, 1, 3, 2, 2),
        "global": (1, 1, 3, 1, 1),
    }


def test_rank5_dense_norm_activation_layers() -> None:
    b = rank5(("x", (3, 17, 19)), ("ids", (1,)))
    ones = np.ones(3, np.float32)
    b.add_inner_product(
        "fc",
        W=np.zeros((10, 969), np.float32),
        b=None,
        input_channels=969,
        output_channels=10,
        has_bias=False,
        input_name="x",
        output_name="fc",
    )
    b.add_batchnorm("bn", 3, ones, ones, ones, ones, input_name="x", output_name="bn")
    b.add_activation("act", "LEAKYRELU", "bn", "act", params=[0.1])
    b.add_softmax("softmax", "x", "softmax")
    b.add_l2_normalize("l2", "x", "l2")
    b.add_mvn("mvn", "x", "mvn")
    b.add_lrn("lrn", "x", "lrn", alpha=1e-4, beta=0.75, local_size=3)
    b.add_scale(
        "scale",
        W=ones,
        b=None,
        has_bias=False,
        input_name="x",
        output_name="scale",
        shape_scale=[3],
    )
    b.add_bias("bias", b=ones, input_name="x", output_name="bias", shape_bias=[3])
    b.add_unary("unary", "x", "unary", "sqrt")
    b.add_embedding(
        "emb",
        W=np.zeros((16, 50), np.float32),
        b=None,
        input_dim=50,
        output_channels=16,
        has_bias=False,
        input_name="ids",
        output_name="emb",
    )
    b.add_flatten("flat", 0, "x", "flat")
    b.add_load_constant("const", "const", np.zeros(24, np.float32), [2, 3, 4])
    got = shapes(load(b.spec))
    same = (1, 1, 3, 17, 19)
    assert got == {
        "fc": (1, 1, 10, 1, 1),
        "bn": same,
        "act": same,
        "softmax": same,
        "l2": same,
        "mvn": same,
        "lrn": same,
        "scale": same,
        "bias": same,
        "unary": same,
        "emb": (1, 1, 16, 1, 1),
        "flat": (1, 1, 3 * 17 * 19, 1, 1),
        "const": (1, 1, 2, 3, 4),
    }


def test_rank5_elementwise_concat_split() -> None:
    b = rank5(("x", (3, 17, 19)), ("v", (5,)))
    b.add_reduce("sumc", "x", "sumc", axis="C", mode="sum")  # (1, 1, 1, 17, 19)
    for mode in ("ADD", "MULTIPLY", "AVE", "MAX", "MIN"):
        # C broadcasts: the per-axis maximum
        b.add_elementwise(mode.lower(), ["x", "sumc"], mode.lower(), mode)
    b.add_elementwise("alpha", ["x"], "alpha", "ADD", alpha=2.0)
    b.add_elementwise("concat", ["x", "x"], "concat", "CONCAT")
    b.add_elementwise("seqcat", ["x", "x", "x"], "seqcat", "SEQUENCE_CONCAT")
    b.add_elementwise("dot", ["v", "v"], "dot", "DOT")
    b.add_split("split", "x", ["s0", "s1", "s2"])
    got = shapes(load(b.spec))
    same = (1, 1, 3, 17, 19)
    assert got == {
        "sumc": (1, 1, 1, 17, 19),
        "add": same,
        "multiply": same,
        "ave": same,
        "max": same,
        "min": same,
        "alpha": same,
        "concat": (1, 1, 6, 17, 19),
        "seqcat": (3, 1, 3, 17, 19),
        "dot": (1, 1, 1, 1, 1),
        "s0": (1, 1, 1, 17, 19),
        "s1": (1, 1, 1, 17, 19),
        "s2": (1, 1, 1, 17, 19),
    }


def test_rank5_spatial_and_layout_layers() -> None:
    b = rank5(("x", (3, 17, 19)), ("roi", (4,)))
    b.add_upsample("up", 2, 3, "x", "up")
    b.add_padding("pad", left=1, right=2, top=3, bottom=4, input_name="x", output_name="pad")
    b.add_crop(
        "crop",
        left=1,
        right=2,
        top=3,
        bottom=4,
        offset=[0, 0],
        input_names=["x"],
        output_name="crop",
    )
    b.add_pooling(
        "small",
        height=3,
        width=3,
        stride_height=2,
        stride_width=2,
        layer_type="MAX",
        padding_type="VALID",
        input_name="x",
        output_name="small",
    )
    b.add_crop(
        "crop2",
        left=0,
        right=0,
        top=0,
        bottom=0,
        offset=[1, 2],
        input_names=["x", "small"],
        output_name="crop2",
    )
    b.add_reshape("reshape3", "x", "reshape3", target_shape=(3, 19, 17), mode=0)
    b.add_reshape("reshape4", "x", "reshape4", target_shape=(17, 3, 1, 19), mode=0)
    b.add_permute("permute", (0, 3, 1, 2), "x", "permute")  # [S, B, W, C, H]
    b.add_reduce("hw", "x", "hw", axis="HW", mode="avg")
    b.add_reduce("w", "x", "w", axis="W", mode="max")
    b.add_reorganize_data("s2d", "x", "s2d", mode="SPACE_TO_DEPTH", block_size=2)
    b.add_reorganize_data("d2s", "s2d", "d2s", mode="DEPTH_TO_SPACE", block_size=2)
    b.add_resize_bilinear("resize", "x", "resize", target_height=11, target_width=13)
    b.add_sequence_repeat("rois", 7, "roi", "rois")
    b.add_crop_resize("crop_resize", ["x", "rois"], "crop_resize", target_height=5, target_width=6)
    b.add_sequence_repeat("repeat", 4, "x", "repeat")
    got = shapes(load(b.spec))
    assert got == {
        "up": (1, 1, 3, 34, 57),
        "pad": (1, 1, 3, 24, 22),
        "crop": (1, 1, 3, 10, 16),
        "small": (1, 1, 3, 8, 9),
        "crop2": (1, 1, 3, 8, 9),
        "reshape3": (1, 1, 3, 19, 17),
        "reshape4": (17, 1, 3, 1, 19),
        "permute": (1, 1, 19, 3, 17),
        "hw": (1, 1, 3, 1, 1),
        "w": (1, 1, 3, 17, 1),
        "s2d": (1, 1, 12, 8, 9),
        "d2s": (1, 1, 3, 16, 18),
        "resize": (1, 1, 3, 11, 13),
        "rois": (7, 1, 4, 1, 1),
        "crop_resize": (7, 1, 3, 5, 6),
        "repeat": (4, 1, 3, 17, 19),
    }


def test_rank5_slice() -> None:
    b = rank5(("x", (3, 17, 19)))
    b.add_slice("c", "x", "c", axis="channel", start_index=1, end_index=-1)  # [1:-1] of 3
    b.add_slice("w", "x", "w", axis="width", start_index=2, end_index=15, stride=3)  # 2,5,8,11,14
    b.add_slice("h", "x", "h", axis="height", start_index=0, end_index=17)
    b.add_slice("end0", "x", "end0", axis="width", start_index=0, end_index=0)
    layers = b.spec.neuralNetwork.layers
    layers[2].slice.startIndex = -5  # the last 5 rows (the builder refuses negative starts)
    # endIndex 0: "to the end" for Core ML's C++ shaper, empty for numpy: left unknown
    layers[3].slice.startIndex = -3
    got = shapes(load(b.spec))
    assert got == {
        "c": (1, 1, 1, 17, 19),
        "w": (1, 1, 3, 17, 5),
        "h": (1, 1, 3, 5, 19),
        "end0": (1, 1, 3, 17, None),
    }


def test_rank5_recurrent_layers() -> None:
    b = rank5(("v", (5,)))
    b.add_sequence_repeat("seq", 6, "v", "seq")  # (6, 1, 5, 1, 1): six steps of 5 features
    h, i = 8, 5
    b.add_unilstm(
        "lstm",
        W_h=[np.zeros((h, h))] * 4,
        W_x=[np.zeros((h, i))] * 4,
        b=None,
        hidden_size=h,
        input_size=i,
        input_names=["seq"],
        output_names=["lstm_y", "lstm_h", "lstm_c"],
        output_all=True,
    )
    b.add_bidirlstm(
        "bilstm",
        W_h=[np.zeros((h, h))] * 4,
        W_x=[np.zeros((h, i))] * 4,
        b=None,
        W_h_back=[np.zeros((h, h))] * 4,
        W_x_back=[np.zeros((h, i))] * 4,
        b_back=None,
        hidden_size=h,
        input_size=i,
        input_names=["seq"],
        output_names=["bi_y", "bi_hf", "bi_cf", "bi_hb", "bi_cb"],
        output_all=False,
    )
    b.add_gru(
        "gru",
        W_h=[np.zeros((7, 7))] * 3,
        W_x=[np.zeros((7, i))] * 3,
        b=None,
        hidden_size=7,
        input_size=i,
        input_names=["seq"],
        output_names=["gru_y", "gru_h"],
        output_all=True,
    )
    b.add_simple_rnn(
        "rnn",
        W_h=np.zeros((4, 4)),
        W_x=np.zeros((4, i)),
        b=None,
        hidden_size=4,
        input_size=i,
        activation="TANH",
        input_names=["seq"],
        output_names=["rnn_y", "rnn_h"],
        output_all=False,
    )
    got = shapes(load(b.spec))
    assert got == {
        "seq": (6, 1, 5, 1, 1),
        "lstm_y": (6, 1, 8, 1, 1),
        "lstm_h": (1, 1, 8, 1, 1),
        "lstm_c": (1, 1, 8, 1, 1),
        "bi_y": (1, 1, 16, 1, 1),
        "bi_hf": (1, 1, 8, 1, 1),
        "bi_cf": (1, 1, 8, 1, 1),
        "bi_hb": (1, 1, 8, 1, 1),
        "bi_cb": (1, 1, 8, 1, 1),
        "gru_y": (6, 1, 7, 1, 1),
        "gru_h": (1, 1, 7, 1, 1),
        "rnn_y": (1, 1, 4, 1, 1),
        "rnn_h": (1, 1, 4, 1, 1),
    }


def test_custom_layer_is_unknown_and_so_is_what_follows() -> None:
    b = rank5(("x", (3, 17, 19)))
    b.add_custom("custom", ["x"], ["c"])
    b.add_activation("after", "RELU", "c", "after")
    b.add_activation("other", "RELU", "x", "other")
    got = shapes(load(b.spec))
    assert got == {"c": None, "after": None, "other": (1, 1, 3, 17, 19)}


# --------------------------------------------------------------------------------------------
# ND layers the MIL converter does not write (or folds), by hand from the proto.


def nd(*inputs: tuple[str, tuple[int, ...]]) -> NeuralNetworkBuilder:
    return NeuralNetworkBuilder(
        [(name, datatypes.Array(*dims)) for name, dims in inputs],
        [("out", None)],
        disable_rank5_shape_mapping=True,
    )


def test_nd_run_time_shapes_known_from_get_shape_and_constants() -> None:
    b = nd(("x", (2, 3, 4)), ("flat", (24,)), ("dyn", (2,)))
    b.add_get_shape("shape", "x", "shape")  # values (2, 3, 4)
    b.add_reshape_dynamic("like_x", ["flat", "shape"], "like_x")
    b.add_slice_static(
        "hw",
        "shape",
        "hw",
        begin_ids=[1],
        end_ids=[3],
        strides=[1],
        begin_masks=[False],
        end_masks=[False],
    )  # (3, 4)
    b.add_load_constant_nd("four", "four", np.array([4.0], np.float32), [1])
    b.add_concat_nd("target", ["four", "hw"], "target", axis=0)  # (4, 3, 4)... values
    b.add_reshape_dynamic("rebuilt", ["flat", "target"], "rebuilt")
    b.add_reshape_dynamic("unknown", ["flat", "dyn"], "unknown")  # values only at run time
    b.add_broadcast_to_like("bcast", ["four", "x"], "bcast")
    got = shapes(load(b.spec))
    assert got["shape"] == (3,) and got["hw"] == (2,) and got["four"] == (1,)
    assert got["target"] == (3,)
    assert got["like_x"] == (2, 3, 4)
    assert got["rebuilt"] == (4, 3, 4)
    assert got["unknown"] == (None, None)  # rank from the shape vector's length
    assert got["bcast"] == (2, 3, 4)


def test_nd_static_shape_layers() -> None:
    b = nd(
        ("x", (2, 3, 4)),
        ("m", (2, 6)),
        ("ids", (5, 1)),
        ("boxes", (1, 20, 4)),
        ("scores", (1, 20, 3)),
        ("idx", (3, 5)),
        ("a", (5,)),
        ("bm", (2, 5, 6)),
    )
    b.add_broadcast_to_static("bstatic", "x", "bstatic", output_shape=[5, 2, 3, 4])
    b.add_fill_static("fill", "fill", output_shape=[2, 5])
    b.add_random_normal_static("rand", "rand", output_shape=[3, 4])
    b.add_range_static("range", "range", end=10, start=1, step=3)  # ceil(9 / 3) = 3
    b.add_embedding_nd(
        "emb", "ids", "emb", vocab_size=10, embedding_size=8, W=np.zeros((8, 10), np.float32)
    )
    b.add_nms(
        "nms", ["boxes", "scores"], ["nms_boxes", "nms_scores", "nms_idx", "nms_n"], max_boxes=5
    )
    b.add_categorical_distribution("cat", "m", "cat", num_samples=4)
    b.add_one_hot("onehot", ["idx"], "onehot", one_hot_vector_size=6, axis=1)
    b.add_constant_pad("pad", ["m"], "pad", pad_amounts=[1, 0, 2, 3])  # (2+1, 6+5)
    b.add_constant_pad(
        "pad_to", ["m"], "pad_to", pad_to_given_output_size_mode=True, pad_amounts=[0, 0, 0, 9]
    )  # (max(2, 0), max(6, 9))
    b.add_batched_mat_mul("mm1d", ["a", "bm"], "mm1d")  # rank max(2, 1, 3): (2, 1, 6)
    b.add_batched_mat_mul(
        "mmw",
        ["m"],
        "mmw",
        weight_matrix_rows=6,
        weight_matrix_columns=7,
        W=np.zeros((6, 7), np.float32),
    )
    b.add_tile("tile", "x", "tile", reps=[3])  # reps padded to (1, 1, 3)
    b.add_squeeze("sq_all", "ids", "sq_all", squeeze_all=True)
    b.add_expand_dims("expand", "m", "expand", axes=[-2, -1])
    b.add_flatten_to_2d("flat", "x", "flat", axis=-2)
    b.add_where_nonzero("nz", "m", "nz")
    b.add_inner_product(
        "fc4",
        W=np.zeros((7, 12), np.float32),
        b=None,
        input_channels=12,
        output_channels=7,
        has_bias=False,
        input_name="bstatic",
        output_name="fc4",
    )
    b.add_slice_by_size("by_size", ["x", "a"], "by_size", axis=1, size=2)
    b.add_slice_dynamic("dyn", ["x", "a"], "dyn")  # begin only at run time
    b.add_split_nd("split", "m", ["s0", "s1"], axis=1, split_sizes=[2, 4])
    b.add_stack("stack", ["m", "m", "m"], "stack", axis=-1)
    b.add_gather("gather", ["x", "idx"], "gather", axis=-1)
    b.add_topk("topk", ["x"], ["top_v", "top_i"], k=2, axis=-1)
    b.add_argmax("argmax", "x", "argmax", axis=1, keepdims=False)
    b.add_sliding_windows("win", "m", "win", axis=1, window_size=3, step=2)
    got = shapes(load(b.spec))
    assert got == {
        "bstatic": (5, 2, 3, 4),
        "fill": (2, 5),
        "rand": (3, 4),
        "range": (3,),
        "emb": (5, 8),
        "nms_boxes": (1, 5, 4),
        "nms_scores": (1, 5, 3),
        "nms_idx": (1, 5),
        "nms_n": (1,),
        "cat": (2, 4),
        "onehot": (3, 6, 5),
        "pad": (3, 11),
        "pad_to": (2, 9),
        "mm1d": (2, 1, 6),
        "mmw": (2, 7),
        "tile": (2, 3, 12),
        "sq_all": (5,),
        "expand": (2, 6, 1, 1),
        "flat": (2, 12),
        "nz": (None, 2),
        "fc4": (5, 7, 1, 1),  # rank 4: (x1, C_out, 1, 1)
        "by_size": (2, 2, 4),
        "dyn": (None, None, None),
        "s0": (2, 2),
        "s1": (2, 4),
        "stack": (2, 6, 3),
        "gather": (2, 3, 3, 5),
        "top_v": (2, 3, 2),
        "top_i": (2, 3, 2),
        "argmax": (2, 4),
        "win": (2, 2, 3),
    }


def test_every_rule_is_for_a_real_layer_type() -> None:
    from coremltools.proto import NeuralNetwork_pb2

    names = {
        f.name
        for f in NeuralNetwork_pb2.NeuralNetworkLayer.DESCRIPTOR.oneofs_by_name["layer"].fields
    }
    assert set(RULES) <= names, set(RULES) - names
    # every layer type has a rule except the ones no rule can size
    assert names - set(RULES) == set(), names - set(RULES)


# --------------------------------------------------------------------------------------------
# Loader integration: rewritten blobs, control flow, flexible inputs, declared shapes, limits.


def test_in_place_rewrites_keep_one_shape_per_version() -> None:
    b = rank5(("x", (4,)))
    b.add_inner_product(
        "fc",
        W=np.zeros((6, 4), np.float32),
        b=None,
        input_channels=4,
        output_channels=6,
        has_bias=False,
        input_name="x",
        output_name="y",
    )
    b.add_reshape("reshape", "y", "y", target_shape=(3, 2, 1), mode=0)  # in place
    b.add_activation("relu", "RELU", "y", "z")
    g = load(b.spec)
    assert [(o.name, o.outputs[0].shape) for o in g.ops] == [
        ("y@0", (1, 1, 6, 1, 1)),
        ("y", (1, 1, 3, 2, 1)),
        ("z", (1, 1, 3, 2, 1)),
    ]


def test_branch_outputs_merge_what_both_branches_agree_on() -> None:
    b = nd(("x", (2, 3)), ("cond", (1,)))
    branch = b.add_branch("branch", "cond").branch
    if_b = NeuralNetworkBuilder(nn_spec=branch.ifBranch, disable_rank5_shape_mapping=True)
    if_b.add_activation("if_relu", "RELU", "x", "y")
    if_b.add_activation("if_same", "RELU", "x", "same")
    else_b = NeuralNetworkBuilder(nn_spec=branch.elseBranch, disable_rank5_shape_mapping=True)
    else_b.add_reshape_static("else_reshape", "x", "y", output_shape=[3, 2])
    else_b.add_activation("else_same", "SIGMOID", "x", "same")
    b.add_activation("after", "RELU", "y", "after")
    b.add_activation("after_same", "RELU", "same", "after_same")
    g = load(b.spec)
    by_layer = {o.attrs["layer_name"]: o.outputs[0].shape for o in g.ops if o.outputs}
    assert by_layer["if_relu"] == (2, 3) and by_layer["else_reshape"] == (3, 2)
    assert by_layer["after"] == (None, None)  # (2, 3) or (3, 2): rank 2 is all we know
    assert by_layer["after_same"] == (2, 3)


def test_loop_body_is_shaped() -> None:
    b = nd(("x", (2, 3)))
    loop = b.add_loop("loop", max_iterations=3).loop
    body = NeuralNetworkBuilder(nn_spec=loop.bodyNetwork, disable_rank5_shape_mapping=True)
    body.add_activation("step", "RELU", "x", "next")
    body.add_copy("carry", "next", "x")  # the loop variable keeps its shape
    b.add_activation("after", "RELU", "x", "after")
    g = load(b.spec)
    by_layer = {o.attrs["layer_name"]: o.outputs for o in g.ops}
    assert by_layer["step"][0].shape == (2, 3) and by_layer["carry"][0].shape == (2, 3)
    assert by_layer["after"][0].shape == (2, 3)


def test_flexible_inputs_are_shaped_at_their_default() -> None:
    b = nd(("x", (1, 3, 32, 32)))
    conv(b, "c", "x", 3, 8, mode="same", sh=2, sw=2)
    spec = b.spec
    flexible_shape_utils.add_multiarray_ndshape_enumeration(spec, "x", [(1, 3, 64, 64)])
    assert len(spec.description.input[0].type.multiArrayType.enumeratedShapes.shapes) == 2
    g = load(spec)
    assert g.is_flexible
    assert g.function_inputs[("main", "x")].shape == (1, 3, 32, 32)  # the default shape
    assert shapes(g)["c"] == (1, 8, 16, 16)

    ranged = copy.deepcopy(b.spec)
    flexible_shape_utils.set_multiarray_ndshape_range(
        ranged, "x", lower_bounds=[1, 3, 16, 16], upper_bounds=[1, 3, 64, -1]
    )
    assert shapes(load(ranged))["c"] == (1, 8, 16, 16)  # default (1, 3, 32, 32) kept
    # a range with no usable default: its flexible dims stay unknown (the range rule decides)
    del ranged.description.input[0].type.multiArrayType.shape[:]
    ranged.description.input[0].type.multiArrayType.shape.extend([1, 3, 0, 0])
    assert shapes(load(ranged))["c"] == (1, 8, None, None)


def test_image_inputs() -> None:
    b = rank5(("image", (3, 20, 30)))
    conv(b, "c", "image", 3, 4)
    b.set_pre_processing_parameters(image_input_names=["image"])
    g = load(b.spec)
    assert g.function_inputs[("main", "image")].shape == (1, 1, 3, 20, 30)
    assert shapes(g)["c"] == (1, 1, 4, 18, 28)
    # ND mode with RANK4_IMAGE_MAPPING: images are [1, C, H, W]
    b4 = nd(("image", (3, 20, 30)))
    conv(b4, "c", "image", 3, 4)
    b4.set_pre_processing_parameters(image_input_names=["image"])
    b4.spec.neuralNetwork.imageInputShapeMapping = 1
    g4 = load(b4.spec)
    assert g4.function_inputs[("main", "image")].shape == (1, 3, 20, 30)
    assert shapes(g4)["c"] == (1, 4, 18, 28)


def test_declared_shapes_fill_what_inference_cannot_tell() -> None:
    b = nd(("x", (2, 3)))
    b.add_custom("custom", ["x"], ["c"])
    layer = b.spec.neuralNetwork.layers[0]
    layer.outputTensor.add(rank=2, dimValue=[5, -1])
    b.add_activation("after", "RELU", "c", "after")
    g = graph_from_spec(b.spec)  # declared shapes kept
    assert shapes(g) == {"c": (5, None), "after": (5, None)}


def test_absurd_sizes_become_unknown_not_errors() -> None:
    b = nd(("x", (4, 4, 4)))
    b.add_tile("tile", "x", "big", reps=[2**62, 2**62, 2**62])
    b.add_activation("after", "RELU", "big", "after")
    b.add_reshape_static("neg", "x", "neg", output_shape=[-2, 32])
    got = shapes(load(b.spec))
    assert got == {"big": None, "after": None, "neg": None}


def test_pipeline_stage_is_shaped() -> None:
    from coremltools.models.pipeline import Pipeline

    b = rank5(("x", (3, 8, 8)))
    conv(b, "c", "x", 3, 4, mode="same")
    stage = b.spec
    stage.description.output[0].name = "c"
    pipe = Pipeline([("x", datatypes.Array(3, 8, 8))], [("c", datatypes.Array(4, 8, 8))])
    pipe.add_model(stage)
    g = load_pipeline(pipe.spec)
    assert shapes(g)["c"] == (1, 1, 4, 8, 8)


def load_pipeline(spec: Model_pb2.Model) -> Graph:
    for stage in spec.pipeline.models:
        if stage.WhichOneof("Type") == "neuralNetwork":
            strip_declared(stage)
    return graph_from_spec(spec)


# --------------------------------------------------------------------------------------------
# Hostile parameters: a spec is untrusted input. Whatever a layer's integers and floats say, the
# shaper gives a sane shape or None, and loading never fails because of it.

_EXTREME_INTS = (0, -1, 2**31 - 1, 2**62, -(2**63))
_EXTREME_FLOATS = (0.0, -1.0, float("inf"), float("nan"), 1e308)
_INT_TYPES = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
}
_UNSIGNED = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64}


def _extremes(fd: Any) -> list[Any]:
    if fd.type in _INT_TYPES:
        bits = 32 if fd.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_UINT32) else 64
        lo, hi = (
            (0, 2**bits - 1) if fd.type in _UNSIGNED else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        )
        return sorted({min(max(v, lo), hi) for v in (*_EXTREME_INTS, hi)})
    if fd.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return list(_EXTREME_FLOATS)
    return []


def _mutants(spec: Model_pb2.Model) -> Any:
    """Copies of `spec` with one numeric layer parameter set to an extreme value."""
    for i, layer in enumerate(spec.neuralNetwork.layers):
        kind = layer.WhichOneof("layer")
        params = getattr(layer, kind)
        for fd in params.DESCRIPTOR.fields:
            for value in _extremes(fd):
                mutant = copy.deepcopy(spec)
                target = getattr(mutant.neuralNetwork.layers[i], kind)
                field = getattr(target, fd.name)
                if _is_repeated(fd):
                    n = max(len(field), 2)
                    del field[:]
                    field.extend([value] * n)
                else:
                    setattr(target, fd.name, value)
                yield mutant


def _is_repeated(fd: Any) -> bool:
    is_rep = getattr(fd, "is_repeated", None)  # protobuf >= 5; older versions only `label`
    return bool(is_rep) if is_rep is not None else bool(fd.label == fd.LABEL_REPEATED)


def test_hostile_parameters_give_sane_or_unknown_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Model_pb2.Model] = []

    def collect(spec: Model_pb2.Model) -> Graph:
        seen.append(copy.deepcopy(spec))
        return graph_from_spec(strip_declared(spec))

    monkeypatch.setattr(sys.modules[__name__], "load", collect)
    for build in (
        test_rank5_convolution,
        test_rank5_deconvolution,
        test_rank5_pooling,
        test_rank5_dense_norm_activation_layers,
        test_rank5_elementwise_concat_split,
        test_rank5_spatial_and_layout_layers,
        test_rank5_slice,
        test_rank5_recurrent_layers,
        test_nd_run_time_shapes_known_from_get_shape_and_constants,
        test_nd_static_shape_layers,
    ):
        build()  # records the specs it builds
    assert len(seen) == 10
    loaded = 0
    for spec in seen:
        for mutant in _mutants(spec):
            g = graph_from_spec(strip_declared(mutant))  # must not raise
            loaded += 1
            for op in g.ops:
                for t in op.outputs:
                    if t.shape is not None:
                        assert 0 < len(t.shape) <= MAX_RANK, (op.op_type, t.shape)
                        assert all(d is None or 0 <= d <= MAX_DIM for d in t.shape)
    assert loaded > 500
