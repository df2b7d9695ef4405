"""Tests for the support-rules table (`ane_notebook.placement.rules`).

Every rule has a case that triggers it and one that does not (`CASES`; a rule added without
cases fails `test_every_rule_has_cases`). ML Program cases are tiny MIL programs built with the
MIL builder and loaded with `load_model`, so they go through the same conversion and loader as a
user's model. NeuralNetwork cases are built with coremltools' `NeuralNetworkBuilder` and read with
`graph_from_spec`. A few cases cannot come from coremltools and are built straight from the
graph dataclasses, each saying why.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import coremltools as ct
import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import get_new_symbol, types
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.proto import Model_pb2, NeuralNetwork_pb2

from ane_notebook.model.graph import FlexibleInput, Graph, Op, TensorInfo
from ane_notebook.model.load import graph_from_spec, load_model
from ane_notebook.placement.costs import op_costs
from ane_notebook.placement.devices import CHIPS, Device, Evidence, get_chip
from ane_notebook.placement.rules import (
    ANE_CAPABLE,
    FORMATS,
    GATHER_TYPES,
    KNOWN_MIL_OP_TYPES,
    KNOWN_NN_LAYER_TYPES,
    KNOWN_OP_TYPES,
    MIL_OP_TYPES,
    NN_LAYER_TYPES,
    RULES,
    OpSupport,
    Rule,
    RuleContext,
    op_support,
    rule_by_id,
    support_for_graph,
)

# Symbolic dims convert to a default RangeDim, and coremltools says so.
pytestmark = pytest.mark.filterwarnings("ignore:Some dimensions in the input shape:UserWarning")

FP16 = types.fp16
FP32 = types.fp32
INT32 = types.int32

# --------------------------------------------------------------------------------------------
# Building test models


def spec(*shape: Any, dtype: Any = FP16) -> Any:
    return mb.TensorSpec(shape=shape, dtype=dtype)


def mil(
    build: Callable[..., Any], *specs: Any, opset: Any = ct.target.iOS17, fp32: bool = False
) -> Graph:
    """A one-function MIL program, converted and loaded the way a user's program is.

    fp32=True converts with compute_precision=FLOAT32 (no fp16 casts inserted), as a user
    asking for an fp32 model would."""
    prog = mb.program(input_specs=list(specs), opset_version=opset)(build)
    if not fp32:
        return load_model(prog)
    model = ct.convert(
        prog,
        compute_precision=ct.precision.FLOAT32,
        skip_model_load=True,
        minimum_deployment_target=opset,
    )
    return load_model(model)


def nn(
    add_layers: Callable[[NeuralNetworkBuilder], None], in_shape: tuple[int, ...] = (8, 16, 16)
) -> Graph:
    """A NeuralNetwork model with input "x" and output "y"."""
    b = NeuralNetworkBuilder(
        [("x", datatypes.Array(*in_shape))], [("y", None)], disable_rank5_shape_mapping=True
    )
    add_layers(b)
    return graph_from_spec(b.spec, name="nn")


def direct(
    op_type: str,
    shape: tuple[int | None, ...] | None = (1, 8),
    dtype: str = "fp16",
    attrs: dict[str, Any] | None = None,
    fmt: str = "mlprogram",
    inputs: tuple[str, ...] = ("x",),
) -> Graph:
    """One op reading function input "x" (or `inputs`), straight from the dataclasses."""
    x = TensorInfo("x", shape, dtype)
    op = Op(
        index=0,
        name="y",
        op_type=op_type,
        function="main",
        inputs=inputs,
        outputs=(TensorInfo("y", shape, dtype),),
        attrs=attrs or {},
    )
    return Graph(
        name="direct",
        format=fmt,
        ops=(op,),
        inputs=(x,),
        outputs=op.outputs,
        function_inputs={("main", "x"): x},
    )


def with_flexible(graph: Graph, kind: str) -> Graph:
    """The same graph declared with flexible input "x" of `kind` (the MIL builder can make
    symbolic dims, which convert to a range, but cannot declare enumerated shapes)."""
    x = graph.function_inputs[("main", "x")]
    default = tuple(d or 1 for d in x.shape or ())
    flex = FlexibleInput("x", kind, default, shapes=(default,) if kind == "enumerated" else ())
    return dataclasses.replace(graph, flexible_inputs=(flex,))


def without_default(build: Callable[..., Any], *specs: Any) -> Graph:
    """`mil(build, *specs)` from a spec whose range-flexible inputs declare no default shape
    (so nothing can re-type the program at one: its flexible dimensions stay unknown)."""
    prog = mb.program(input_specs=list(specs), opset_version=ct.target.iOS17)(build)
    model = ct.convert(prog, skip_model_load=True, minimum_deployment_target=ct.target.iOS17)
    spec = model.get_spec()
    stripped = 0
    for feature in spec.description.input:
        arr = feature.type.multiArrayType
        if arr.WhichOneof("ShapeFlexibility") == "shapeRange":
            del arr.shape[:]
            stripped += 1
    assert stripped, "expected a range-flexible input"
    return graph_from_spec(spec)


def target(graph: Graph, op_type: str) -> Op:
    return next(op for op in graph.ops if op.op_type == op_type and not op.is_const)


def support(graph: Graph, op_type: str, chip: str = "M1") -> OpSupport:
    return op_support(target(graph, op_type), RuleContext(graph, get_chip(chip)))


def fired(graph: Graph, op_type: str, chip: str = "M1") -> list[str]:
    return [f.rule.id for f in support(graph, op_type, chip).findings]


# --------------------------------------------------------------------------------------------
# The models

W = np.ones  # weights: content is irrelevant, only shapes matter


def _relu(x: Any) -> Any:
    return mb.relu(x=x)


def _cond(x: Any) -> Any:
    pred = mb.greater(x=mb.reduce_sum(x=x), y=np.float16(0))
    return mb.cond(pred=pred, _true_fn=lambda: mb.relu(x=x), _false_fn=lambda: mb.sigmoid(x=x))


def _select(x: Any) -> Any:
    return mb.select(cond=mb.greater(x=x, y=np.float16(0)), a=x, b=mb.relu(x=x))


def _lstm(x: Any) -> Any:
    z = np.zeros((1, 16), np.float16)
    return mb.lstm(
        x=x,
        initial_h=z,
        initial_c=z,
        weight_ih=W((64, 8), np.float16),
        weight_hh=W((64, 16), np.float16),
    )[0]


def _state(width: int) -> Graph:
    @mb.program(
        input_specs=[mb.StateTensorSpec(shape=(1, width), dtype=FP16), spec(1, width)],
        opset_version=ct.target.iOS18,
    )
    def prog(s: Any, x: Any) -> Any:
        y = mb.add(x=mb.read_state(input=s), y=x)
        mb.coreml_update_state(state=s, value=y)
        return y

    return load_model(prog)


def _nn_conv(
    b: NeuralNetworkBuilder,
    name: str,
    k: int,
    *,
    groups: int = 1,
    cout: int = 8,
    inp: str = "x",
    out: str = "y",
) -> None:
    cin = 8 // groups
    b.add_convolution(
        name,
        kernel_channels=cin,
        output_channels=cout,
        height=k,
        width=k,
        stride_height=1,
        stride_width=1,
        border_mode="same",
        groups=groups,
        W=W((k, k, cin, cout), np.float32),
        b=None,
        has_bias=False,
        input_name=inp,
        output_name=out,
    )


def _nn_pool(
    k: int, stride: int, *, width: int | None = None, stride_w: int | None = None
) -> Graph:
    """A max pool, `k` x `width` (default square) with strides `stride` x `stride_w`."""
    return nn(
        lambda b: b.add_pooling(
            "p",
            height=k,
            width=k if width is None else width,
            stride_height=stride,
            stride_width=stride if stride_w is None else stride_w,
            layer_type="MAX",
            padding_type="SAME",
            input_name="x",
            output_name="y",
        )
    )


def _nn_custom(b: NeuralNetworkBuilder) -> None:
    params = NeuralNetwork_pb2.CustomLayerParams()
    params.className = "MyLayer"
    b.add_custom("c", ["x"], ["y"], params)


def _pipeline(glm_input: int = Model_pb2.ArrayFeatureType.DOUBLE) -> Graph:
    """A real pipeline spec: a NeuralNetwork stage then a GLM regressor stage reading `h` as
    a `glm_input` array."""
    first = NeuralNetworkBuilder([("x", datatypes.Array(3))], [("h", datatypes.Array(3))])
    first.add_activation("a", "RELU", "x", "h")
    glm = Model_pb2.Model()
    glm.specificationVersion = 4
    f = glm.description.input.add()
    f.name = "h"
    f.type.multiArrayType.shape.append(3)
    f.type.multiArrayType.dataType = glm_input
    o = glm.description.output.add()
    o.name = "y"
    o.type.doubleType.SetInParent()
    glm.glmRegressor.weights.add().value.extend([1.0, 2.0, 3.0])
    glm.glmRegressor.offset.append(0.0)
    pipe = Model_pb2.Model()
    pipe.specificationVersion = 4
    pipe.description.input.add().CopyFrom(first.spec.description.input[0])
    pipe.description.output.add().CopyFrom(o)
    pipe.pipeline.models.add().CopyFrom(first.spec)
    pipe.pipeline.models.add().CopyFrom(glm)
    return graph_from_spec(pipe, name="pipe")


@dataclass(frozen=True)
class Case:
    """`build()` gives a graph; the rule is checked on its first op of type `op_type`."""

    build: Callable[[], Graph]
    op_type: str
    chip: str = "M1"


S = get_new_symbol  # a symbolic (flexible) dimension

# rule id -> (a case that triggers it, a case that does not)
CASES: dict[str, tuple[Case, Case]] = {
    "dtype.fp32": (
        Case(lambda: mil(_relu, spec(1, 8, dtype=FP32), fp32=True), "relu"),
        Case(lambda: mil(_relu, spec(1, 8)), "relu"),
    ),
    "dtype.fp32_cast": (  # fp32 inputs: the converter inserts an fp32 -> fp16 cast
        Case(lambda: mil(_relu, spec(1, 8, dtype=FP32)), "cast", "M1"),
        Case(lambda: mil(_relu, spec(1, 8, dtype=FP32)), "cast", "M4"),
    ),
    "dtype.int": (
        Case(lambda: mil(lambda x: mb.add(x=x, y=x), spec(1, 8, dtype=INT32)), "add"),
        Case(lambda: mil(lambda x: mb.add(x=x, y=x), spec(1, 8)), "add"),
    ),
    # A dtype no loader version names (a damaged or newer spec), built directly.
    "dtype.unknown": (
        Case(lambda: direct("relu", dtype="unknown(999)"), "relu"),
        Case(lambda: direct("relu", dtype="fp16"), "relu"),
    ),
    # coremltools refuses to convert rank-6 tensors at all, so this one is built directly.
    "tensor.rank": (
        Case(lambda: direct("relu", (1, 2, 2, 2, 2, 2)), "relu"),
        Case(lambda: direct("relu", (1, 2, 2, 2, 2)), "relu"),
    ),
    "axis.extent": (
        Case(lambda: mil(_relu, spec(1, 20000)), "relu", "M1"),
        Case(lambda: mil(_relu, spec(1, 16384)), "relu", "M1"),
    ),
    "linear.rank5": (
        Case(
            lambda: mil(
                lambda x: mb.linear(x=x, weight=W((16, 8), np.float16)), spec(1, 1, 1, 4, 8)
            ),
            "linear",
        ),
        Case(
            lambda: mil(lambda x: mb.linear(x=x, weight=W((16, 8), np.float16)), spec(1, 1, 4, 8)),
            "linear",
        ),
    ),
    "linear.vocab": (
        Case(
            lambda: mil(lambda x: mb.linear(x=x, weight=W((20000, 16), np.float16)), spec(1, 16)),
            "linear",
            "M1",
        ),
        Case(
            lambda: mil(lambda x: mb.linear(x=x, weight=W((16384, 16), np.float16)), spec(1, 16)),
            "linear",
            "M1",
        ),
    ),
    "matmul.depth": (
        Case(
            lambda: mil(lambda x, y: mb.matmul(x=x, y=y), spec(1, 2, 1, 4, 8), spec(1, 2, 1, 8, 4)),
            "matmul",
        ),
        Case(
            lambda: mil(lambda x, y: mb.matmul(x=x, y=y), spec(2, 1, 4, 8), spec(2, 1, 8, 4)),
            "matmul",
        ),
    ),
    "state.width": (
        Case(lambda: _state(270), "read_state"),
        Case(lambda: _state(256), "read_state"),
    ),
    "shape.range_flexible": (
        Case(lambda: without_default(_relu, spec(1, S(), 64)), "relu"),
        # with its default shape (as every converted RangeDim has), the ANE may run it
        Case(lambda: mil(_relu, spec(1, S(), 64)), "relu"),
    ),
    "shape.dynamic": (
        Case(
            lambda: mil(lambda x, s: mb.reshape(x=x, shape=s), spec(1, 4, 8), spec(2, dtype=INT32)),
            "reshape",
        ),
        Case(
            lambda: mil(lambda x: mb.relu(x=mb.reshape(x=x, shape=[4, 8])), spec(1, 4, 8)),
            "reshape",
        ),
    ),
    "nn.dynamic_layer": (
        Case(lambda: nn(lambda b: b.add_reshape_dynamic("r", ["x", "x"], "y")), "reshapeDynamic"),
        Case(lambda: nn(lambda b: b.add_reshape_static("r", "x", "y", (8, 256))), "reshapeStatic"),
    ),
    "layer_norm.enumerated_rank3": (
        Case(
            lambda: with_flexible(
                mil(lambda x: mb.layer_norm(x=x, axes=[-1]), spec(1, S(), 64)), "enumerated"
            ),
            "layer_norm",
        ),
        Case(
            lambda: with_flexible(
                mil(lambda x: mb.layer_norm(x=x, axes=[1]), spec(1, 64, 1, S())), "enumerated"
            ),
            "layer_norm",
        ),
    ),
    "control.nested": (
        Case(lambda: mil(_cond, spec(1, 4)), "relu"),
        Case(lambda: mil(_relu, spec(1, 4)), "relu"),
    ),
    "op.gather": (
        Case(
            lambda: mil(
                lambda x: mb.gather(x=x, indices=np.array([0, 2, 5], np.int32), axis=1), spec(1, 8)
            ),
            "gather",
        ),
        Case(
            lambda: mil(lambda x: mb.slice_by_index(x=x, begin=[0, 0], end=[1, 3]), spec(1, 8)),
            "slice_by_index",
        ),
    ),
    "op.scatter": (
        Case(
            lambda: mil(
                lambda x, u: mb.scatter(
                    data=x, indices=np.array([0, 2], np.int32), updates=u, axis=0
                ),
                spec(4, 8),
                spec(2, 8),
            ),
            "scatter",
        ),
        Case(
            lambda: mil(lambda x, u: mb.concat(values=[x, u], axis=0), spec(4, 8), spec(2, 8)),
            "concat",
        ),
    ),
    "op.sort": (
        Case(lambda: mil(lambda x: mb.topk(x=x, k=3)[0], spec(1, 10)), "topk"),
        Case(lambda: mil(lambda x: mb.reduce_max(x=x, axes=[1]), spec(1, 10)), "reduce_max"),
    ),
    "op.argmax": (
        Case(lambda: mil(lambda x: mb.reduce_argmax(x=x, axis=1), spec(1, 10)), "reduce_argmax"),
        Case(lambda: mil(lambda x: mb.reduce_max(x=x, axes=[1]), spec(1, 10)), "reduce_max"),
    ),
    "op.band_part": (
        Case(
            lambda: mil(lambda x: mb.band_part(x=x, lower=-1, upper=0), spec(1, 8, 8)), "band_part"
        ),
        Case(
            lambda: mil(lambda x: mb.mul(x=x, y=np.tril(W((8, 8), np.float16))), spec(1, 8, 8)),
            "mul",
        ),
    ),
    "op.control_flow": (
        Case(lambda: mil(_cond, spec(1, 4)), "cond"),
        Case(lambda: mil(_select, spec(1, 4)), "select"),
    ),
    "op.recurrent": (
        Case(lambda: mil(_lstm, spec(5, 1, 8)), "lstm"),
        Case(
            lambda: mil(lambda x: mb.linear(x=x, weight=W((16, 8), np.float16)), spec(5, 1, 8)),
            "linear",
        ),
    ),
    "op.recurrent_bnns": (
        Case(lambda: mil(_lstm, spec(5, 1, 8)), "lstm"),
        Case(
            lambda: mil(lambda x: mb.linear(x=x, weight=W((16, 8), np.float16)), spec(5, 1, 8)),
            "linear",
        ),
    ),
    "op.custom": (
        Case(lambda: nn(_nn_custom), "custom"),
        Case(lambda: nn(lambda b: b.add_activation("a", "RELU", "x", "y")), "activation"),
    ),
    "op.nms": (
        Case(
            lambda: mil(
                lambda b, s: mb.non_maximum_suppression(
                    boxes=b, scores=s, iou_threshold=np.float16(0.5), max_boxes=5
                )[0],
                spec(1, 10, 4),
                spec(1, 10, 3),
            ),
            "non_maximum_suppression",
        ),
        Case(lambda: mil(lambda x: mb.reduce_max(x=x, axes=[1]), spec(1, 10, 3)), "reduce_max"),
    ),
    "op.no_ane_path": (
        Case(lambda: mil(lambda x: mb.reduce_prod(x=x, axes=[1]), spec(1, 8)), "reduce_prod"),
        Case(lambda: mil(lambda x: mb.reduce_sum(x=x, axes=[1]), spec(1, 8)), "reduce_sum"),
    ),
    "op.sin_cos": (
        Case(lambda: mil(lambda x: mb.sin(x=x), spec(1, 8)), "sin", "M1"),
        Case(lambda: mil(lambda x: mb.sin(x=x), spec(1, 8)), "sin", "M3"),
    ),
    "op.random_uniform": (
        Case(
            lambda: mil(
                lambda x: mb.add(
                    x=x, y=mb.random_uniform(shape=np.array([1, 8], np.int32), low=0.0, high=1.0)
                ),
                spec(1, 8, dtype=FP32),
            ),
            "random_uniform",
            "M2",
        ),
        Case(
            lambda: mil(
                lambda x: mb.add(
                    x=x, y=mb.random_uniform(shape=np.array([1, 8], np.int32), low=0.0, high=1.0)
                ),
                spec(1, 8, dtype=FP32),
            ),
            "random_uniform",
            "M3",
        ),
    ),
    "op.texture": (
        Case(
            lambda: mil(
                lambda x: mb.resize_bilinear(x=x, target_size_height=8, target_size_width=8),
                spec(1, 8, 4, 4),
            ),
            "resize_bilinear",
            "M1",
        ),
        Case(
            lambda: mil(
                lambda x: mb.resize_bilinear(x=x, target_size_height=8, target_size_width=8),
                spec(1, 8, 4, 4),
            ),
            "resize_bilinear",
            "M2",
        ),
    ),
    "upsample.factor": (
        Case(
            lambda: mil(
                lambda x: mb.upsample_nearest_neighbor(
                    x=x, scale_factor_height=4, scale_factor_width=4
                ),
                spec(1, 8, 4, 4),
            ),
            "upsample_nearest_neighbor",
        ),
        Case(
            lambda: mil(
                lambda x: mb.upsample_nearest_neighbor(
                    x=x, scale_factor_height=2, scale_factor_width=2
                ),
                spec(1, 8, 4, 4),
            ),
            "upsample_nearest_neighbor",
        ),
    ),
    "pad.channel": (
        Case(lambda: mil(lambda x: mb.pad(x=x, pad=[1, 1, 0, 0, 0, 0]), spec(1, 8, 4, 4)), "pad"),
        Case(lambda: mil(lambda x: mb.pad(x=x, pad=[0, 0, 1, 1, 1, 1]), spec(1, 8, 4, 4)), "pad"),
    ),
    "pad.mode": (
        Case(
            lambda: mil(lambda x: mb.pad(x=x, pad=[1, 1, 1, 1], mode="reflect"), spec(1, 8, 4, 4)),
            "pad",
            "M1",
        ),
        Case(
            lambda: mil(lambda x: mb.pad(x=x, pad=[1, 1, 1, 1], mode="reflect"), spec(1, 8, 4, 4)),
            "pad",
            "M2",
        ),
    ),
    "conv.kernel": (
        Case(
            lambda: mil(
                lambda x: mb.conv(x=x, weight=W((8, 8, 1, 15), np.float16)), spec(1, 8, 4, 32)
            ),
            "conv",
            "M1",
        ),
        Case(
            lambda: mil(
                lambda x: mb.conv(x=x, weight=W((8, 8, 1, 15), np.float16)), spec(1, 8, 4, 32)
            ),
            "conv",
            "M2",
        ),
    ),
    "conv.groups": (
        Case(
            lambda: mil(
                lambda x: mb.conv(x=x, weight=W((5, 2, 3, 3), np.float16), groups=2),
                spec(1, 4, 8, 8),
            ),
            "conv",
        ),
        Case(
            lambda: mil(
                lambda x: mb.conv(x=x, weight=W((6, 2, 3, 3), np.float16), groups=2),
                spec(1, 4, 8, 8),
            ),
            "conv",
        ),
    ),
    "sdpa.small": (
        Case(
            lambda: mil(
                lambda q, k, v: mb.scaled_dot_product_attention(query=q, key=k, value=v),
                *(spec(1, 1, 8, 64) for _ in range(3)),
                opset=ct.target.iOS18,
            ),
            "scaled_dot_product_attention",
        ),
        Case(
            lambda: mil(
                lambda q, k, v: mb.scaled_dot_product_attention(query=q, key=k, value=v),
                *(spec(1, 16, 2048, 64) for _ in range(3)),
                opset=ct.target.iOS18,
            ),
            "scaled_dot_product_attention",
        ),
    ),
    # A classifier: convert with a ClassifierConfig, which appends a `classify` op.
    "op.classify": (
        Case(
            lambda: load_model(
                ct.convert(
                    mb.program(input_specs=[spec(1, 3)], opset_version=ct.target.iOS17)(
                        lambda x: mb.softmax(x=x)
                    ),
                    classifier_config=ct.ClassifierConfig(["a", "b", "c"]),
                    skip_model_load=True,
                    minimum_deployment_target=ct.target.iOS17,
                )
            ),
            "classify",
        ),
        Case(lambda: mil(lambda x: mb.softmax(x=x), spec(1, 3)), "softmax"),
    ),
    "nn.nd_layer": (
        Case(
            lambda: nn(lambda b: b.add_add_broadcastable("a", ["x", "x"], "y")), "addBroadcastable"
        ),
        Case(lambda: nn(lambda b: b.add_elementwise("a", ["x", "x"], "y", mode="ADD")), "add"),
    ),
    "nn.batched_matmul": (
        Case(lambda: nn(lambda b: b.add_batched_mat_mul("m", ["x", "x"], "y")), "batchedMatmul"),
        Case(
            lambda: nn(
                lambda b: b.add_inner_product(
                    "ip",
                    W=W((8, 8), np.float32),
                    b=None,
                    input_channels=8,
                    output_channels=8,
                    has_bias=False,
                    input_name="x",
                    output_name="y",
                ),
                in_shape=(8, 1, 1),
            ),
            "innerProduct",
        ),
    ),
    "nn.pooling": (
        Case(lambda: _nn_pool(15, 1), "pooling"),
        Case(lambda: _nn_pool(3, 2), "pooling"),
    ),
    "op.non_neural_stage": (
        Case(_pipeline, "glmRegressor"),
        Case(_pipeline, "activation"),
    ),
    # An op type Core ML does not define (what an unregistered custom MIL op looks like).
    "op.unknown": (
        Case(lambda: direct("my_custom_op"), "my_custom_op"),
        Case(lambda: direct("relu"), "relu"),
    ),
}


@functools.cache
def built(rule_id: str, which: int) -> Graph:
    return CASES[rule_id][which].build()


# --------------------------------------------------------------------------------------------
# Every rule: a trigger and a non-trigger


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_has_cases(rule: Rule) -> None:
    assert rule.id in CASES, f"rule {rule.id} has no trigger / non-trigger case in CASES"


def test_no_cases_for_unknown_rules() -> None:
    assert set(CASES) <= {r.id for r in RULES}


@pytest.mark.parametrize("rule_id", list(CASES))
def test_rule_triggers(rule_id: str) -> None:
    case = CASES[rule_id][0]
    graph = built(rule_id, 0)
    sup = support(graph, case.op_type, case.chip)
    hits = [f for f in sup.findings if f.rule.id == rule_id]
    assert hits, f"{rule_id} did not fire on {case.op_type}: {[f.rule.id for f in sup.findings]}"
    rule = rule_by_id(rule_id)
    for f in hits:
        assert f.excludes == rule.excludes
        assert not (f.excludes & sup.supported)
        # a rule rules devices out, or keeps the ANE and counts the calls it needs
        assert f.excludes or (f.ane_dispatches > 1 and Device.ANE in sup.supported)
        assert f.contested == rule.contested
        assert "{" not in f.reason and "}" not in f.reason, f.reason  # every field filled
    assert sup.contested == any(f.contested for f in sup.findings)
    assert Device.CPU in sup.supported


@pytest.mark.parametrize("rule_id", list(CASES))
def test_rule_does_not_trigger(rule_id: str) -> None:
    case = CASES[rule_id][1]
    graph = built(rule_id, 1)
    assert rule_id not in fired(graph, case.op_type, case.chip)


# --------------------------------------------------------------------------------------------
# The table itself


def test_rule_table_is_well_formed() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for r in RULES:
        assert r.applies_to and r.reason and r.fix and r.source, r.id
        assert isinstance(r.evidence, Evidence), r.id
        assert Device.CPU not in r.excludes, r.id  # the CPU always remains
        assert r.formats and r.formats <= FORMATS, r.id
        assert "docs/evidence.md#" in r.source, r.id  # every rule cites the evidence document
        # the fix is shown as is (never formatted)
        assert "{" not in r.fix, r.id
        if r.op_types is not None:
            vocab: set[str] = set()
            for fmt in r.formats:
                vocab |= KNOWN_MIL_OP_TYPES if fmt == "mlprogram" else KNOWN_NN_LAYER_TYPES
            assert r.op_types <= vocab, (r.id, r.op_types - vocab)


def test_rule_by_id() -> None:
    for r in RULES:
        assert rule_by_id(r.id) is r
    with pytest.raises(KeyError, match="no.such.rule"):
        rule_by_id("no.such.rule")


def test_vocabularies_match_coremltools() -> None:
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry

    registry = set(SSAOpRegistry.core_ops)
    # write_state is the serialized form of the coreml_update_state dialect op.
    assert set(MIL_OP_TYPES) == registry | {"write_state", "coreml_update_state"}
    layers = NeuralNetwork_pb2.NeuralNetworkLayer.DESCRIPTOR.oneofs_by_name["layer"].fields
    assert set(NN_LAYER_TYPES) == {f.name for f in layers}
    assert KNOWN_OP_TYPES == KNOWN_MIL_OP_TYPES | KNOWN_NN_LAYER_TYPES


@pytest.mark.parametrize("op_type", sorted(GATHER_TYPES))
def test_cost_model_counts_every_gather_type_as_a_lookup(op_type: str) -> None:
    """The cost model and the rules share one list of lookups: each reads its input, writes
    its output and reads the gathered rows (as many bytes again as the output)."""
    fmt = "mlprogram" if op_type in MIL_OP_TYPES else "neuralnetwork"
    op = direct(op_type, shape=(1, 8), fmt=fmt).ops[0]
    x = TensorInfo("x", (1, 8), "fp16")  # 16 bytes, like the 16-byte output
    lookup = op_costs([op], [[x]], [[]], get_chip("M1")).bytes[0]
    plain = op_costs([dataclasses.replace(op, op_type="relu")], [[x]], [[]], get_chip("M1"))
    assert lookup == 48 and plain.bytes[0] == 32


@pytest.mark.parametrize(
    "fmt,vocab", [("mlprogram", MIL_OP_TYPES), ("neuralnetwork", NN_LAYER_TYPES)]
)
def test_every_known_type_is_classified(fmt: str, vocab: frozenset[str]) -> None:
    """Each type is ANE-capable, or named by a rule that can exclude it."""
    ruled: set[str] = set()
    for r in RULES:
        if r.op_types is not None and fmt in r.formats:
            ruled |= r.op_types
    assert not vocab - ruled - set(ANE_CAPABLE[fmt])
    assert set(ANE_CAPABLE[fmt]) <= vocab


@pytest.mark.parametrize(
    "fmt,vocab", [("mlprogram", MIL_OP_TYPES), ("neuralnetwork", NN_LAYER_TYPES)]
)
def test_default_placement_of_every_type(fmt: str, vocab: frozenset[str]) -> None:
    """With nothing known about shapes or attributes, on the most capable chip (M4), exactly
    the ANE-capable types keep the ANE."""
    for op_type in sorted(vocab):
        graph = direct(op_type, shape=None, fmt=fmt, inputs=())
        sup = support_for_graph(graph, "M4")[0]
        if graph.ops[0].is_const:
            continue
        assert sup is not None and sup.known, op_type
        capable = op_type in ANE_CAPABLE[fmt]
        assert (Device.ANE in sup.supported) == capable, (op_type, sup.findings)


# --------------------------------------------------------------------------------------------
# Behaviour


def test_unknown_op_type() -> None:
    sup = support_for_graph(direct("frobnicate"), "M1")[0]
    assert sup is not None and not sup.known
    (finding,) = sup.findings
    assert finding.rule.id == "op.unknown"
    assert finding.reason == "not in the rule table"
    assert finding.rule.evidence is Evidence.GUESS
    assert sup.supported == {Device.GPU, Device.CPU}


def test_known_op_is_on_every_device() -> None:
    sup = support_for_graph(direct("relu"), "M1")[0]
    assert sup is not None and sup.known and not sup.findings
    assert sup.supported == frozenset(Device)


def test_const_ops_have_no_support() -> None:
    graph = built("conv.kernel", 0)
    sups = support_for_graph(graph, "M1")
    assert len(sups) == len(graph.ops)
    for op, sup in zip(graph.ops, sups, strict=True):
        assert (sup is None) == op.is_const
    const = next(op for op in graph.ops if op.is_const)
    with pytest.raises(ValueError, match="constant"):
        op_support(const, RuleContext(graph, get_chip("M1")))


def test_supported_never_empty() -> None:
    # An op that trips many rules at once (fp32, int, rank 6, recurrent, unknown stays known).
    x = TensorInfo("x", (1, 2, 2, 2, 2, 20000), "fp32")
    i = TensorInfo("i", (1,), "int32")
    op = Op(
        index=0,
        name="y",
        op_type="lstm",
        function="main",
        inputs=("x", "i"),
        outputs=(TensorInfo("y", (1, 2, 2, 2, 2, 20000), "fp32"),),
        block=("c", "block0"),
    )
    graph = Graph(
        "g",
        "mlprogram",
        (op,),
        (x, i),
        op.outputs,
        function_inputs={("main", "x"): x, ("main", "i"): i},
    )
    sup = support_for_graph(graph, "M1")[0]
    assert sup is not None
    assert {f.rule.id for f in sup.findings} >= {
        "dtype.fp32",
        "dtype.int",
        "tensor.rank",
        "op.recurrent",
        "op.recurrent_bnns",
        "control.nested",
    }
    assert sup.supported == {Device.CPU}


# (rule, case index whose op triggers it on M1, chip where the same op is fine)
CHIP_GATES = [
    ("axis.extent", "M4"),
    ("linear.vocab", "M4"),
    ("dtype.fp32_cast", "M4"),
    ("conv.kernel", "M4"),
    ("op.sin_cos", "M4"),
    ("op.random_uniform", "M4"),
    ("op.texture", "M4"),
    ("pad.mode", "M4"),
]


@pytest.mark.parametrize("rule_id,newer", CHIP_GATES)
def test_chip_gates_differ_between_m1_and_m4(rule_id: str, newer: str) -> None:
    case = CASES[rule_id][0]
    graph = built(rule_id, 0)
    assert rule_id in fired(graph, case.op_type, "M1")
    assert rule_id not in fired(graph, case.op_type, newer)


def test_rules_without_chip_gate_fire_on_m4_too() -> None:
    # Core ML kept topk and gather off the ANE even where the direct path runs them (§D).
    for rule_id in ("op.sort", "op.gather", "op.recurrent"):
        case = CASES[rule_id][0]
        assert rule_id in fired(built(rule_id, 0), case.op_type, "M4")


def test_every_chip_profile_runs() -> None:
    graph = built("conv.kernel", 0)
    for chip in CHIPS.values():
        assert len(support_for_graph(graph, chip)) == len(graph.ops)


def test_verbatim_reasons() -> None:
    ext = support(built("axis.extent", 0), "relu").findings[0].reason
    assert ext.startswith(
        "Invalid layer: Tensor dimensions N1D1C1H1W20000 are not within "
        "supported range, N[1-65536] D[1-16384] C[1-65536] H[1-16384] "
        "W[1-16384]."
    )
    fp32 = support(built("dtype.fp32", 0), "relu").findings[0].reason
    assert fp32.startswith("Unsupported tensor format: fp32.")
    vocab = support(built("linear.vocab", 0), "linear").findings
    # the LM head gets the specific message only, not the generic extent one as well
    assert [f.rule.id for f in vocab] == ["linear.vocab"]
    assert vocab[0].reason.startswith("Output blob dimensions exceed ANE limit.")


def test_conv_channels_escape_the_axis_cap() -> None:
    # 20000 channels: fine on C (cap 65536), though above the 16384 W/H cap (RE, ane-guide ch.4)
    graph = mil(lambda x: mb.conv(x=x, weight=W((8, 20000, 1), np.float16)), spec(1, 20000, 4))
    assert "axis.extent" not in fired(graph, "conv")


def test_nn_rank5_blobs_keep_channels_on_c() -> None:
    # Rank-5 NeuralNetwork blobs are [Seq, Batch, C, H, W]: 20000 channels sit on C (cap 65536),
    # not on D (cap 16384) as an ML Program's channel-first rank-5 tensor [N, C, D, H, W] would.
    b = NeuralNetworkBuilder([("x", datatypes.Array(20000, 4, 4))], [("out", None)])
    b.add_convolution(
        "conv",
        kernel_channels=20000,
        output_channels=20000,
        height=1,
        width=1,
        stride_height=1,
        stride_width=1,
        border_mode="valid",
        groups=20000,
        W=np.zeros((1, 1, 1, 20000), np.float32),
        b=None,
        has_bias=False,
        input_name="x",
        output_name="conv",
    )
    b.add_batchnorm(
        "bn", 20000, *[np.ones(20000, np.float32)] * 4, input_name="conv", output_name="bn"
    )
    graph = graph_from_spec(b.spec)
    assert graph.ops[0].outputs[0].shape == (1, 1, 20000, 4, 4)
    assert "axis.extent" not in fired(graph, "convolution")
    assert "axis.extent" not in fired(graph, "batchnorm")


def test_conv_kernel_height_cap() -> None:
    graph = mil(lambda x: mb.conv(x=x, weight=W((8, 8, 31, 1), np.float16)), spec(1, 8, 40, 4))
    assert "conv.kernel" in fired(graph, "conv", "M1")  # height 31 > 29
    assert "conv.kernel" not in fired(graph, "conv", "M4")  # height cap 32


def test_large_conv_kernels_split_into_ane_dispatches() -> None:
    # Core ML's compiler splits a kernel larger than one ANE call takes into several calls
    # (docs/evidence.md#conv.kernel): the ANE stays, and every call past the first costs a
    # dispatch. One call takes an fp16 kernel 13 wide on the M1 class, 16 wide later.
    wide = built("conv.kernel", 0)  # a 1x15 kernel
    m1 = support(wide, "conv", "M1")
    assert Device.ANE in m1.supported and m1.ane_dispatches == 2
    assert support(wide, "conv", "M2").ane_dispatches == 1
    wider = mil(lambda x: mb.conv(x=x, weight=W((8, 8, 1, 40), np.float16)), spec(1, 8, 4, 64))
    assert support(wider, "conv", "M1").ane_dispatches == 4  # ceil(40 / 13)
    assert support(wider, "conv", "M2").ane_dispatches == 3  # ceil(40 / 16)
    (finding,) = support(wider, "conv", "M1").findings
    assert finding.ane_dispatches == 4 and not finding.excludes


def test_tall_1d_conv_kernel_stays_on_the_ane() -> None:
    # fp16 models with tall 1-D kernels (audio front ends) are reported on the ANE
    tall = mil(lambda x: mb.conv(x=x, weight=W((8, 8, 31, 1), np.float16)), spec(1, 8, 40, 4))
    m1 = support(tall, "conv", "M1")
    assert Device.ANE in m1.supported and m1.ane_dispatches == 2  # height 31 > 29
    m4 = support(tall, "conv", "M4")
    assert Device.ANE in m4.supported and m4.ane_dispatches == 1 and not m4.findings


def test_nn_conv_kernel_splits_too() -> None:
    graph = nn(lambda b: _nn_conv(b, "c", 15), in_shape=(8, 32, 32))
    sup = support(graph, "convolution", "M1")
    assert Device.ANE in sup.supported and sup.ane_dispatches == 2  # 15x15: 2 wide x 1 tall
    assert support(graph, "convolution", "M4").ane_dispatches == 1


@pytest.mark.parametrize(
    "rule_id", ["conv.kernel", "dtype.fp32_cast", "sdpa.small", "nn.pooling", "upsample.factor"]
)
def test_contested_decisions_are_flagged(rule_id: str) -> None:
    # Sources disagree on these (docs/evidence.md says how): the rule still acts and gives its
    # reason, and the op's support says the decision is contested.
    case = CASES[rule_id][0]
    sup = support(built(rule_id, 0), case.op_type, case.chip)
    (finding,) = (f for f in sup.findings if f.rule.id == rule_id)
    assert finding.contested and sup.contested
    assert finding.reason and (finding.excludes or finding.ane_dispatches > 1)


def test_uncontested_decisions_are_not_flagged() -> None:
    sup = support(built("op.gather", 0), "gather")
    assert sup.findings and not sup.contested
    assert not any(f.contested for f in sup.findings)


def test_nn_pooling_limits_are_on_the_width() -> None:
    # Core ML's warnings name the kernel width and stride_x (docs/evidence.md#nn.pooling); a
    # tall kernel or a vertical stride is not what they measured.
    assert "nn.pooling" not in fired(_nn_pool(15, 1, width=3), "pooling")
    assert "nn.pooling" not in fired(_nn_pool(3, 4, stride_w=1), "pooling")
    assert "nn.pooling" in fired(_nn_pool(3, 1, width=15), "pooling")
    assert "nn.pooling" in fired(_nn_pool(3, 1, stride_w=4), "pooling")


def test_enumerated_shapes_keep_the_ane() -> None:
    graph = with_flexible(mil(_relu, spec(1, S(), 64)), "enumerated")
    assert fired(graph, "relu") == []


def test_nn_layers_have_no_dtype_rules() -> None:
    # The loader records NN layer outputs as nominal fp32; the ANE runs NN layers in fp16.
    graph = nn(lambda b: b.add_activation("a", "RELU", "x", "y"))
    assert target(graph, "activation").outputs[0].dtype == "fp32"
    assert fired(graph, "activation") == []


def test_nn_weight_precision_does_not_change_the_findings() -> None:
    # The ANE runs NeuralNetwork layers in fp16 whatever their weights: fp16 and fp32 weights
    # give the same findings, and no dtype rule (docs/evidence.md#dtype.fp32).
    from coremltools.models.utils import _convert_neural_network_spec_weights_to_fp16

    def build(fp16: bool) -> Graph:
        b = NeuralNetworkBuilder(
            [("x", datatypes.Array(8, 16, 16))], [("y", None)], disable_rank5_shape_mapping=True
        )
        _nn_conv(b, "c", 15)  # 15 wide: a finding of its own on the M1
        spec = _convert_neural_network_spec_weights_to_fp16(b.spec) if fp16 else b.spec
        weights = spec.neuralNetwork.layers[0].convolution.weights
        assert bool(weights.float16Value) == fp16 and bool(weights.floatValue) != fp16
        return graph_from_spec(spec, name="nn")

    half, full = build(True), build(False)
    assert target(half, "convolution").attrs["nn_precision_unknown"]
    for chip in ("M1", "M4"):
        assert fired(half, "convolution", chip) == fired(full, "convolution", chip)
        assert not [r for r in fired(half, "convolution", chip) if r.startswith("dtype.")]
    assert fired(half, "convolution", "M1") == ["conv.kernel"]


def test_pipeline_stages_use_their_own_format() -> None:
    graph = _pipeline()
    assert graph.format == "pipeline"
    assert fired(graph, "activation") == []  # an NN layer: no fp32 finding from nominal dtypes
    sup = support(graph, "glmRegressor")
    assert sup.known and sup.supported == {Device.CPU}


@pytest.mark.parametrize(
    "glm_input", [Model_pb2.ArrayFeatureType.FLOAT32, Model_pb2.ArrayFeatureType.INT32]
)
def test_non_neural_stages_get_no_ml_program_rules(glm_input: int) -> None:
    # A GLM stage is neither an ML program nor a neural network: its fp32 or int32 features say
    # nothing about ANE compute, so only the non-neural-stage rule speaks for it.
    graph = _pipeline(glm_input)
    glm = target(graph, "glmRegressor")
    assert {t.dtype for t in graph.function_inputs.values() if t.name in glm.inputs} <= {
        "fp32",
        "int32",
    }
    assert fired(graph, "glmRegressor") == ["op.non_neural_stage"]


def test_int_shape_arguments_are_reported_as_dynamic_not_integer() -> None:
    ids = fired(built("shape.dynamic", 0), "reshape")
    assert "shape.dynamic" in ids and "dtype.int" not in ids


@pytest.mark.parametrize(
    "op_type",
    [
        "conv",
        "conv_transpose",
        "linear",
        "matmul",
        "pad",
        "scaled_dot_product_attention",
        "layer_norm",
        "pooling",
        "upsample_nearest_neighbor",
        "read_state",
        "reshape",
    ],
)
def test_missing_data_never_fires_a_limit_rule(op_type: str) -> None:
    fmt = "neuralnetwork" if op_type == "pooling" else "mlprogram"
    for shape in (None, (None, None, None, None)):
        graph = with_flexible(direct(op_type, shape=shape, fmt=fmt), "enumerated")
        assert fired(graph, op_type, "M1") == [], (op_type, shape)


# --------------------------------------------------------------------------------------------
# Speed


def synthetic_graph(n: int) -> Graph:
    """n ops cycling through common types, with shapes, dtypes and attributes rules read."""
    kinds: Sequence[tuple[str, dict[str, Any]]] = [
        ("conv", {"weight_shape": (64, 64, 3, 3), "groups": 1, "strides": (1, 1)}),
        ("relu", {}),
        ("linear", {"weight_shape": (64, 64)}),
        ("add", {}),
        ("layer_norm", {"axes": (-1,)}),
        ("reshape", {}),
        ("softmax", {"axis": -1}),
        ("gather", {}),
        ("matmul", {}),
        ("cast", {"dtype": "fp16"}),
        ("pad", {"pad": (0, 0, 1, 1), "mode": "constant"}),
        ("transpose", {"perm": (0, 2, 1, 3)}),
    ]
    x = TensorInfo("x", (1, 64, 1, 512), "fp16")
    ops = []
    prev = "x"
    for i in range(n):
        op_type, attrs = kinds[i % len(kinds)]
        out = TensorInfo(f"t{i}", (1, 64, 1, 512), "fp16")
        ops.append(
            Op(
                index=i,
                name=out.name,
                op_type=op_type,
                function="main",
                inputs=(prev, "x"),
                outputs=(out,),
                attrs=attrs,
            )
        )
        prev = out.name
    return Graph(
        "synthetic",
        "mlprogram",
        tuple(ops),
        (x,),
        (ops[-1].outputs[0],),
        function_inputs={("main", "x"): x},
    )


def test_support_for_graph_covers_ten_thousand_ops() -> None:
    # How fast is measured in benchmarks/run.py (no wall-clock assertion here).
    graph = synthetic_graph(10_000)
    support = support_for_graph(graph, "M1")
    assert len(support) == len(graph.ops)
    assert all(s is not None for s, op in zip(support, graph.ops, strict=True) if not op.is_const)
