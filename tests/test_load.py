"""Tests for ane_notebook.model.load: every model kind becomes the right Graph, bad input fails
with a one-line ModelLoadError naming the file, and weights are never read."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import coremltools as ct
import numpy as np
import pytest
from bad_inputs import main_block, small_spec
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import Program, get_new_symbol, types
from coremltools.models import MLModel, datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.pipeline import Pipeline
from coremltools.models.tree_ensemble import TreeEnsembleRegressor
from coremltools.proto import FeatureTypes_pb2, Model_pb2

from ane_notebook.errors import ModelLoadError
from ane_notebook.model import builder
from ane_notebook.model.graph import Graph, Op
from ane_notebook.model.interface import default_function
from ane_notebook.model.limits import MAX_BLOCKS_PER_OP, MAX_ENUMERATED_SHAPES, MAX_FEATURES
from ane_notebook.model.load import MAX_NESTING, graph_from_spec, load_model, read_spec

TARGET = ct.target.iOS17


def convert(prog: Program, **kwargs: Any) -> MLModel:
    kwargs.setdefault("minimum_deployment_target", TARGET)
    return ct.convert(prog, convert_to="mlprogram", skip_model_load=True, **kwargs)


def non_const(graph: Graph, op_type: str) -> list[Op]:
    return [o for o in graph.ops if o.op_type == op_type and not o.is_const]


def conv_program() -> Program:
    rng = np.random.default_rng(0)

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4, 16, 16))], opset_version=TARGET)
    def prog(x: Any) -> Any:
        y = mb.conv(
            x=x,
            weight=rng.random((8, 2, 3, 5)).astype(np.float32),
            strides=[2, 1],
            dilations=[1, 2],
            groups=2,
            pad_type="custom",
            pad=[1, 1, 2, 2],
            name="conv",
        )
        y = mb.relu(x=y, name="relu")
        y = mb.transpose(x=y, perm=[0, 2, 3, 1], name="nhwc")
        y = mb.reduce_mean(x=y, axes=[1, 2], keep_dims=True, name="pool")
        y = mb.reshape(x=y, shape=[1, 8], name="flat")
        w = rng.random((8, 6)).astype(np.float32)
        y = mb.matmul(x=y, y=w, transpose_x=False, transpose_y=False, name="mm")
        return mb.softmax(x=y, axis=-1, name="probs")

    return prog


@pytest.fixture(scope="module")
def conv_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conv") / "convnet.mlpackage"
    model = convert(conv_program())
    model.short_description = "a test conv net"
    model.author = "tests"
    model.save(str(path))
    return path


@pytest.fixture(scope="module")
def conv_graph(conv_package: Path) -> Graph:
    return load_model(conv_package)


def file_state(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file under root (to show nothing was modified)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = (
                hashlib.sha256(p.read_bytes()).hexdigest(),
                p.stat().st_mtime_ns,
            )
    return out


# --------------------------------------------------------------------------------------------
# ML programs


def test_ml_program_package(conv_package: Path, conv_graph: Graph) -> None:
    g = conv_graph
    assert g.format == "mlprogram"
    assert g.functions == ("main",)
    assert g.name == "convnet"
    assert g.source == str(conv_package)
    assert g.spec_version == 8  # iOS17
    assert g.metadata["shortDescription"] == "a test conv net"
    assert g.metadata["author"] == "tests"
    assert "com.github.apple.coremltools.version" in g.metadata
    assert [(t.name, t.shape, t.dtype) for t in g.inputs] == [("x", (1, 4, 16, 16), "fp32")]
    assert [(t.name, t.shape, t.dtype) for t in g.outputs] == [("probs", (1, 6), "fp32")]
    assert g.function_inputs[("main", "x")].shape == (1, 4, 16, 16)
    assert [o.index for o in g.ops] == list(range(len(g.ops)))
    for o in g.ops:
        assert o.function == "main" and o.block == () and o.parent is None
        assert o.name == o.outputs[0].name  # compute-plan naming
    # Converted with fp16 compute precision: casts in and out, fp16 in between.
    conv = non_const(g, "conv")[0]
    assert conv.outputs[0].shape == (1, 8, 8, 12) and conv.outputs[0].dtype == "fp16"
    assert conv.attrs["mil_name"] == conv.name
    assert len(non_const(g, "cast")) == 2


def test_ml_program_attrs(conv_graph: Graph) -> None:
    conv = non_const(conv_graph, "conv")[0]
    assert conv.attrs["strides"] == (2, 1)
    assert conv.attrs["dilations"] == (1, 2)
    assert conv.attrs["groups"] == 2
    assert conv.attrs["pad_type"] == "custom"
    assert conv.attrs["pad"] == (1, 1, 2, 2)
    assert conv.attrs["weight_shape"] == (8, 2, 3, 5)
    assert conv.attrs["kernel_size"] == (3, 5)
    # Weights are too large to be copied as values; only their shape is known.
    assert "weight" not in conv.attrs
    assert conv.inputs[0].startswith("x")  # data input first, then the weight
    assert conv.attrs["args"]["weight"] == (conv.inputs[1],)
    assert non_const(conv_graph, "transpose")[0].attrs["perm"] == (0, 2, 3, 1)
    pool = non_const(conv_graph, "reduce_mean")[0]
    assert pool.attrs["axes"] == (1, 2) and pool.attrs["keep_dims"] is True
    mm = non_const(conv_graph, "matmul")[0]
    assert mm.attrs["transpose_x"] is False and mm.attrs["transpose_y"] is False
    assert mm.attrs["weight_shape"] == (8, 6) and mm.attrs["weight_input"] == "y"
    assert non_const(conv_graph, "softmax")[0].attrs["axis"] == -1
    assert {c.attrs["dtype"] for c in non_const(conv_graph, "cast")} == {"fp16", "fp32"}


def test_names_read_once_per_distinct_value(conv_graph: Graph, conv_package: Path) -> None:
    # The loader keeps one str per distinct name (GitHub issue 14: memory per op): a reader's
    # input is the very object its producer's output holds, and every name still equals the
    # spec's own spelling (the ops' names, inputs, MIL names and parameter names).
    g = conv_graph
    made = {(o.function, t.name): t.name for o in g.ops for t in o.outputs}
    shared = [(o, n) for o in g.ops for n in o.inputs if (o.function, n) in made]
    assert shared and all(n is made[(o.function, n)] for o, n in shared)
    spec = read_spec(conv_package)
    block = next(iter(spec.mlProgram.functions["main"].block_specializations.values()))
    want = [
        (
            op.outputs[0].name,
            {
                k: tuple(b.name for b in v.arguments if b.WhichOneof("binding") == "name")
                for k, v in op.inputs.items()
            },
            op.attributes["name"].immediateValue.tensor.strings.values[0],
        )
        for op in block.operations
    ]
    got = [
        (o.name, {k: v for k, v in o.attrs.get("args", {}).items()}, o.attrs["mil_name"])
        for o in g.ops
    ]
    assert got == [(n, {k: v for k, v in a.items() if v}, m) for n, a, m in want]


def test_const_ops_marked(conv_graph: Graph) -> None:
    consts = [o for o in conv_graph.ops if o.op_type == "const"]
    assert consts and all(o.is_const and o.inputs == () for o in consts)
    assert not any(o.is_const for o in conv_graph.ops if o.op_type != "const")
    weight = conv_graph.op(non_const(conv_graph, "conv")[0].attrs["args"]["weight"][0])
    assert weight.is_const and weight.outputs[0].shape == (8, 2, 3, 5)
    assert "val" not in weight.attrs  # 240 elements: a weight, never decoded
    strides = conv_graph.op(non_const(conv_graph, "conv")[0].attrs["args"]["strides"][0])
    assert strides.attrs["val"] == (2, 1)


def test_edges(conv_graph: Graph) -> None:
    g = conv_graph
    edges = list(g.edges())
    assert all(src < dst for src, dst, _ in edges)
    by_type = {(g.ops[s].op_type, g.ops[d].op_type) for s, d, _ in edges if not g.ops[s].is_const}
    chain = [
        "cast",
        "conv",
        "relu",
        "transpose",
        "reduce_mean",
        "reshape",
        "matmul",
        "softmax",
        "cast",
    ]
    for a, b in zip(chain, chain[1:], strict=False):
        assert (a, b) in by_type
    conv = non_const(g, "conv")[0]
    relu = non_const(g, "relu")[0]
    assert (conv.index, relu.index, conv.outputs[0]) in edges
    # every input is produced by an earlier op or is a function input
    for o in g.ops:
        for name in o.inputs:
            assert (o.function, name) in g.function_inputs or g.producer[
                (o.function, name)
            ] < o.index


def test_weights_never_read(conv_package: Path, tmp_path: Path) -> None:
    before = file_state(conv_package)
    reference = load_model(conv_package)
    assert file_state(conv_package) == before  # nothing written, nothing touched
    copy = tmp_path / "no_weights.mlpackage"
    shutil.copytree(conv_package, copy)
    weights = list(copy.rglob("weight.bin"))
    assert weights  # the package does have a weight file ...
    for w in weights:
        w.unlink()  # ... and loading does not need it
    g = load_model(copy)
    assert [(o.op_type, o.name, o.attrs.get("weight_shape")) for o in g.ops] == [
        (o.op_type, o.name, o.attrs.get("weight_shape")) for o in reference.ops
    ]


def test_multifunction(tmp_path: Path) -> None:
    def model(out: int) -> MLModel:
        @mb.program(input_specs=[mb.TensorSpec(shape=(1, 8))], opset_version=ct.target.iOS18)
        def prog(x: Any) -> Any:
            return mb.linear(x=x, weight=np.ones((out, 8), np.float32), name="fc")

        return convert(prog, minimum_deployment_target=ct.target.iOS18)

    model(4).save(str(tmp_path / "a.mlpackage"))
    model(6).save(str(tmp_path / "b.mlpackage"))
    desc = ct.utils.MultiFunctionDescriptor()
    desc.add_function(str(tmp_path / "a.mlpackage"), "main", "small")
    desc.add_function(str(tmp_path / "b.mlpackage"), "main", "large")
    desc.default_function_name = "large"
    ct.utils.save_multifunction(desc, str(tmp_path / "multi.mlpackage"))

    g = load_model(tmp_path / "multi.mlpackage")
    assert g.functions == ("small", "large")
    assert {o.function for o in g.ops} == {"small", "large"}
    assert g.op("fc", "small").outputs[0].shape == (1, 4)
    assert g.op("fc", "large").outputs[0].shape == (1, 6)
    (linear,) = [o for o in non_const(g, "linear") if o.function == "large"]
    assert linear.attrs["weight_shape"] == (6, 8)
    assert ("small", "x") in g.function_inputs and ("large", "x") in g.function_inputs
    assert [(t.name, t.shape) for t in g.outputs] == [("fc", (1, 6))]  # the default function
    # Functions are contiguous, and edges stay within a function.
    functions = [o.function for o in g.ops]
    assert functions == sorted(functions, key=g.functions.index)
    assert all(g.ops[s].function == g.ops[d].function for s, d, _ in g.edges())


def test_default_function_is_one_choice_for_interface_and_generated_inputs() -> None:
    """The graph's interface and Core ML's generated inputs take the same default function,
    also when a tool left defaultFunctionName empty (then the first function described)."""
    from ane_notebook.placement.coreml import make_inputs

    spec = small_spec(function="wide")
    desc = spec.description
    for fn_name, width in (("wide", 8), ("narrow", 2)):
        fn = desc.functions.add()
        fn.name = fn_name
        feature = fn.input.add()
        feature.name = f"x_{fn_name}"
        feature.type.multiArrayType.shape.extend([1, width])
        feature.type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    for default, expected in (("narrow", "x_narrow"), ("", "x_wide")):
        desc.defaultFunctionName = default
        g = graph_from_spec(spec)
        assert [t.name for t in g.inputs] == [expected]
        assert list(make_inputs(desc)) == [expected]
    assert default_function(Model_pb2.ModelDescription()) is None


def test_flexible_range_and_enumerated() -> None:
    def prog() -> Program:
        @mb.program(
            input_specs=[mb.TensorSpec(shape=(1, 3, get_new_symbol(), get_new_symbol()))],
            opset_version=TARGET,
        )
        def p(x: Any) -> Any:
            return mb.relu(
                x=mb.conv(
                    x=x, weight=np.ones((4, 3, 3, 3), np.float32), pad_type="same", name="conv"
                ),
                name="out",
            )

        return p

    size = ct.RangeDim(lower_bound=16, upper_bound=256, default=64)
    g = load_model(convert(prog(), inputs=[ct.TensorType(name="x", shape=(1, 3, size, size))]))
    assert g.is_flexible
    (flex,) = g.flexible_inputs
    assert (flex.name, flex.kind, flex.default_shape) == ("x", "range", (1, 3, 64, 64))
    assert flex.ranges == ((1, 1), (3, 3), (16, 256), (16, 256))
    assert g.inputs[0].shape == (1, 3, None, None)  # the interface stays flexible
    # what the ops read and write: at the default shape, as Core ML loads the model
    assert g.function_inputs[("main", "x")].shape == (1, 3, 64, 64)
    assert non_const(g, "conv")[0].outputs[0].shape == (1, 4, 64, 64)

    # no default: coremltools takes the lower bound (RangeDim's docstring)
    size = ct.RangeDim(lower_bound=16, upper_bound=256)
    g = load_model(convert(prog(), inputs=[ct.TensorType(name="x", shape=(1, 3, size, size))]))
    assert g.flexible_inputs[0].default_shape == (1, 3, 16, 16)
    assert non_const(g, "relu")[0].outputs[0].shape == (1, 4, 16, 16)

    shapes = ct.EnumeratedShapes(shapes=[(1, 3, 16, 16), (1, 3, 32, 32)], default=(1, 3, 32, 32))
    g = load_model(convert(prog(), inputs=[ct.TensorType(name="x", shape=shapes)]))
    (flex,) = g.flexible_inputs
    assert (flex.kind, flex.default_shape) == ("enumerated", (1, 3, 32, 32))
    assert set(flex.shapes) == {(1, 3, 16, 16), (1, 3, 32, 32)}
    assert g.inputs[0].shape == (1, 3, None, None)
    assert non_const(g, "conv")[0].outputs[0].shape == (1, 4, 32, 32)


def test_flexible_program_too_large_to_retype_keeps_unknown_shapes_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ane_notebook.model import retype
    from ane_notebook.placement.devices import Device
    from ane_notebook.placement.estimate import SHAPE_UNKNOWN_CLAUSE, estimate

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, get_new_symbol(), 64))], opset_version=TARGET)
    def p(x: Any) -> Any:
        return mb.linear(x=x, weight=np.ones((64, 64), np.float32), name="out")

    seq = ct.RangeDim(lower_bound=8, upper_bound=512, default=128)
    model = convert(p, inputs=[ct.TensorType(name="x", shape=(1, seq, 64))])
    assert non_const(load_model(model), "linear")[0].outputs[0].shape == (1, 128, 64)
    monkeypatch.setattr(retype, "MAX_RETYPE_WEIGHT_BYTES", -1)  # every program is too large
    g = load_model(model)
    (out,) = non_const(g, "linear")
    assert out.outputs[0].shape == (1, None, 64)
    placement = estimate(g, "ALL", "M1")
    assert placement.ops[out.index].shape_unknown
    if placement.ops[out.index].device is not Device.ANE:
        assert SHAPE_UNKNOWN_CLAUSE in placement.ops[out.index].reason
    (warning,) = placement.warnings
    assert warning.count == sum(1 for o in placement.ops if o.shape_unknown) > 0


def test_image_input() -> None:
    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3, 32, 32))], opset_version=TARGET)
    def prog(x: Any) -> Any:
        return mb.relu(x=x, name="out")

    g = load_model(convert(prog, inputs=[ct.ImageType(name="x", shape=(1, 3, 32, 32))]))
    assert (g.inputs[0].shape, g.inputs[0].dtype) == ((1, 3, 32, 32), "uint8")  # pixels in
    assert g.function_inputs[("main", "x")].dtype == "fp32"  # what the ops read


def control_flow_program() -> Program:
    specs = [mb.TensorSpec(shape=(1, 8)), mb.TensorSpec(shape=(1,), dtype=types.int32)]

    @mb.program(input_specs=specs, opset_version=TARGET)
    def prog(x: Any, n: Any) -> Any:
        pred = mb.squeeze(x=mb.greater(x=mb.reduce_sum(x=x, axes=[1]), y=0.0))
        y = mb.cond(
            pred=pred,
            _true_fn=lambda: mb.relu(x=x, name="t_relu"),
            _false_fn=lambda: mb.mul(x=x, y=2.0, name="f_mul"),
            name="outer_cond",
        )
        limit = mb.squeeze(x=n, name="limit")

        def cond(i: Any, v: Any) -> Any:
            return mb.less(x=i, y=limit, name="loop_test")

        def body(i: Any, v: Any) -> Any:
            v2 = mb.cond(
                pred=mb.greater(x=i, y=2, name="late"),
                _true_fn=lambda: mb.add(x=v, y=1.0, name="inner_add"),
                _false_fn=lambda: mb.sub(x=v, y=1.0, name="inner_sub"),
                name="inner_cond",
            )
            return mb.add(x=i, y=1, name="next_i"), v2

        _, out = mb.while_loop(_cond=cond, _body=body, loop_vars=(np.int32(0), y), name="loop")
        return mb.tanh(x=out, name="result")

    return prog


def test_nested_blocks() -> None:
    g = load_model(convert(control_flow_program()))
    outer = non_const(g, "cond")[0]
    loop = non_const(g, "while_loop")[0]
    assert outer.block == () and loop.block == ()
    t_relu = non_const(g, "relu")[0]
    f_mul = non_const(g, "mul")[0]
    assert t_relu.block == (outer.name, "block0") and t_relu.parent == outer.index
    assert f_mul.block == (outer.name, "block1") and f_mul.parent == outer.index
    # Depth-first, right after the parent: block0's ops, then block1's, then the next op.
    inside_outer = [o.index for o in g.ops if o.block[:1] == (outer.name,)]
    assert inside_outer == list(range(outer.index + 1, outer.index + 1 + len(inside_outer)))
    assert t_relu.index < f_mul.index
    # An inner op reads the outer input "x" (through a cast) by name.
    cast_in_block = g.ops[t_relu.index - 1]
    assert cast_in_block.op_type == "cast" and "x" in cast_in_block.inputs
    assert g.op("loop_test").block == (loop.name, "block0")
    inner = g.op("inner_cond")
    assert inner.block == (loop.name, "block1") and inner.parent == loop.index
    inner_add = [o for o in g.ops if o.op_type == "add" and o.parent == inner.index]
    assert inner_add and inner_add[0].block == (loop.name, "block1", inner.name, "block0")
    assert all(g.ops[o.parent].index < o.index for o in g.ops if o.parent is not None)
    # Loop variables are block inputs: known tensors, produced by no op.
    loop_var = g.op("loop_test").inputs[0]
    assert ("main", loop_var) in g.function_inputs and ("main", loop_var) not in g.producer
    # The parent's outputs come from its blocks' outputs.
    assert len(loop.attrs["block_outputs"]) == 2
    assert inner.name in loop.attrs["block_outputs"][1]
    assert loop.inputs[-1] == outer.name  # loop_vars: (const 0, cond output)


def test_constexpr_ops_are_const() -> None:
    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 8))], opset_version=ct.target.iOS18)
    def prog(x: Any) -> Any:
        w = mb.constexpr_blockwise_shift_scale(
            data=np.ones((4, 8), np.int8), scale=np.ones((4, 1), np.float16), name="w"
        )
        return mb.linear(x=mb.cast(x=x, dtype="fp16"), weight=w, name="fc")

    g = load_model(convert(prog, minimum_deployment_target=ct.target.iOS18))
    w = g.op("w")
    assert w.op_type == "constexpr_blockwise_shift_scale" and w.is_const
    fc = non_const(g, "linear")[0]
    assert fc.attrs["weight_shape"] == (4, 8)


# --------------------------------------------------------------------------------------------
# In-memory objects and examples


def test_mlmodel_object(conv_package: Path, conv_graph: Graph) -> None:
    from_path = MLModel(str(conv_package), skip_model_load=True)
    g = load_model(from_path)
    assert g.source == str(conv_package) and g.name == "convnet"
    assert [o.name for o in g.ops] == [o.name for o in conv_graph.ops]
    temp = convert(conv_program())
    g = load_model(temp, name="mine")
    assert (g.source, g.name) == ("<MLModel>", "mine")
    assert len(non_const(g, "conv")) == 1


def test_mil_program_object() -> None:
    prog = conv_program()
    before = str(prog)
    g = load_model(prog)
    assert str(prog) == before  # the caller's program was not converted in place
    assert (g.source, g.name, g.format) == ("<MIL Program>", "program", "mlprogram")
    assert non_const(g, "conv")[0].attrs["groups"] == 2

    @mb.program(input_specs=[mb.TensorSpec(shape=(2, 3))])  # no opset: iOS13 default
    def old(x: Any) -> Any:
        return mb.relu(x=x)

    assert len(non_const(load_model(old), "relu")) == 1


def test_example_string() -> None:
    g = load_model("example:fp32")
    assert (g.name, g.source, g.format) == ("fp32", "example:fp32", "mlprogram")
    with pytest.raises(ModelLoadError, match="example:nope: unknown example; choose one of"):
        load_model("example:nope")


# --------------------------------------------------------------------------------------------
# NeuralNetwork models and pipelines


def nn_builder(mode: str | None = None) -> NeuralNetworkBuilder:
    rng = np.random.default_rng(1)
    b = NeuralNetworkBuilder(
        [("image", datatypes.Array(3, 16, 16))],
        [("out", None)],
        disable_rank5_shape_mapping=True,
        mode=mode,
    )
    b.add_convolution(
        "conv1",
        kernel_channels=3,
        output_channels=8,
        height=3,
        width=3,
        stride_height=2,
        stride_width=2,
        border_mode="valid",
        groups=1,
        W=rng.random((3, 3, 3, 8)).astype(np.float32),
        b=None,
        has_bias=False,
        input_name="image",
        output_name="c1",
        dilation_factors=[1, 1],
    )
    b.add_activation("relu1", "LEAKYRELU", "c1", "r1", params=[0.1])
    b.add_pooling(
        "pool1",
        height=2,
        width=2,
        stride_height=2,
        stride_width=2,
        layer_type="AVERAGE",
        padding_type="VALID",
        input_name="r1",
        output_name="p1",
    )
    b.add_add_broadcastable("add1", ["p1", "p1"], "a1")
    b.add_flatten_to_2d("flat", "a1", "f1")
    b.add_inner_product(
        "fc",
        W=rng.random((5, 8 * 3 * 3)).astype(np.float32),
        b=None,
        input_channels=8 * 3 * 3,
        output_channels=5,
        has_bias=False,
        input_name="f1",
        output_name="out",
    )
    return b


def test_neural_network(tmp_path: Path) -> None:
    path = tmp_path / "legacy.mlmodel"
    MLModel(nn_builder().spec, skip_model_load=True).save(str(path))
    g = load_model(path)
    assert (g.format, g.functions, g.name) == ("neuralnetwork", ("main",), "legacy")
    assert [o.op_type for o in g.ops] == [
        "convolution",
        "activation",
        "pooling",
        "addBroadcastable",
        "flattenTo2D",
        "innerProduct",
    ]
    conv = g.ops[0]
    assert (conv.name, conv.attrs["layer_name"]) == ("c1", "conv1")
    assert conv.attrs["kernelSize"] == (3, 3) and conv.attrs["stride"] == (2, 2)
    assert conv.attrs["nGroups"] == 1 and conv.attrs["outputChannels"] == 8
    assert conv.attrs["ConvolutionPaddingType"] == "valid"
    assert conv.attrs["weight_shape"] == (8, 3, 3, 3)
    assert g.ops[1].attrs["NonlinearityType"] == "leakyReLU"
    assert g.ops[1].attrs["alpha"] == pytest.approx(0.1)
    assert g.ops[2].attrs["type"] == "AVERAGE"
    assert g.ops[3].inputs == ("p1",)  # read twice, listed once
    assert g.ops[5].attrs["weight_shape"] == (5, 72)
    for o in g.ops:
        assert o.attrs["nn_precision_unknown"] is True
        assert all(t.dtype == "fp32" for t in o.outputs)
    assert [(s, d) for s, d, _ in g.edges()] == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert g.function_inputs[("main", "image")].shape == (3, 16, 16)


def test_neural_network_in_place_layers_get_versioned_names() -> None:
    b = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("y", None)])
    b.add_inner_product(
        "fc",
        W=np.ones((4, 4), np.float32),
        b=None,
        input_channels=4,
        output_channels=4,
        has_bias=False,
        input_name="x",
        output_name="y",
    )
    b.add_activation("relu", "RELU", "y", "y")  # in place, as Caffe-era converters wrote
    g = graph_from_spec(b.spec)
    assert [o.name for o in g.ops] == ["y@0", "y"]
    assert g.ops[0].attrs["renamed_outputs"] == {"y@0": "y"}
    assert g.ops[1].inputs == ("y@0",)
    assert [(s, d) for s, d, _ in g.edges()] == [(0, 1)]


def test_neural_network_classifier() -> None:
    b = NeuralNetworkBuilder([("data", datatypes.Array(4))], [("probs", None)], mode="classifier")
    b.add_inner_product(
        "fc",
        W=np.ones((3, 4), np.float32),
        b=None,
        input_channels=4,
        output_channels=3,
        has_bias=False,
        input_name="data",
        output_name="logits",
    )
    b.add_softmax("sm", "logits", "probs")
    b.set_class_labels(["a", "b", "c"], predicted_feature_name="label", prediction_blob="probs")
    assert b.spec.WhichOneof("Type") == "neuralNetworkClassifier"
    g = load_model(MLModel(b.spec, skip_model_load=True))
    assert g.format == "neuralnetwork"
    assert [o.op_type for o in g.ops] == ["innerProduct", "softmax"]
    assert {t.name: t.dtype for t in g.outputs} == {"probs": "dict", "label": "string"}


def tree_spec() -> Model_pb2.Model:
    tm = TreeEnsembleRegressor(features=[("feat", datatypes.Array(2))], target="score")
    tm.add_branch_node(0, 0, 0, 0.5, "BranchOnValueLessThan", 1, 2)
    tm.add_leaf_node(0, 1, 1.0)
    tm.add_leaf_node(0, 2, 2.0)
    spec: Model_pb2.Model = tm.spec
    return spec


def pipeline_spec() -> Model_pb2.Model:
    b = NeuralNetworkBuilder([("data", datatypes.Array(4))], [("feat", datatypes.Array(2))])
    b.add_inner_product(
        "fc",
        W=np.ones((2, 4), np.float32),
        b=None,
        input_channels=4,
        output_channels=2,
        has_bias=False,
        input_name="data",
        output_name="feat",
    )
    p = Pipeline([("data", datatypes.Array(4))], [("score", datatypes.Double())])
    p.add_model(b.spec)
    p.add_model(tree_spec())
    spec: Model_pb2.Model = p.spec
    return spec


def test_pipeline(tmp_path: Path) -> None:
    path = tmp_path / "pipe.mlmodel"
    MLModel(pipeline_spec(), skip_model_load=True).save(str(path))
    g = load_model(path)
    assert g.format == "pipeline"
    assert g.functions == ("0:neuralNetwork", "1:treeEnsembleRegressor")
    fc, tree = g.ops
    assert (fc.op_type, fc.function, fc.name) == ("innerProduct", "0:neuralNetwork", "feat")
    assert (tree.op_type, tree.function, tree.inputs) == (
        "treeEnsembleRegressor",
        "1:treeEnsembleRegressor",
        ("feat",),
    )
    assert tree.outputs[0].name == "score"
    assert ("1:treeEnsembleRegressor", "feat") in g.function_inputs
    assert [t.name for t in g.inputs] == ["data"] and [t.name for t in g.outputs] == ["score"]


def test_pipeline_variants_names_and_ml_program_stage(conv_package: Path) -> None:
    spec = Model_pb2.Model()
    spec.specificationVersion = 8
    outer = spec.pipelineRegressor.pipeline
    outer.models.add().CopyFrom(read_spec(conv_package))
    outer.models.add().CopyFrom(pipeline_spec())
    outer.names.extend(["backbone", ""])
    g = graph_from_spec(spec, name="p")
    assert g.functions == (
        "0:backbone/main",
        "1:pipeline/0:neuralNetwork",
        "1:pipeline/1:treeEnsembleRegressor",
    )
    assert non_const(g, "conv")[0].function == "0:backbone/main"
    assert g.ops[-1].op_type == "treeEnsembleRegressor"

    classifier = Model_pb2.Model()
    classifier.pipelineClassifier.pipeline.CopyFrom(pipeline_spec().pipeline)
    assert graph_from_spec(classifier).format == "pipeline"


# --------------------------------------------------------------------------------------------
# Hand-made specs: odd types, malformed graphs, performance


def mil_spec(
    ops: list[tuple[str, dict[str, str], str]], *, dims: list[int | None] | None = None
) -> Model_pb2.Model:
    """A one-function ML program spec: ops as (type, {param: input name}, output name)."""
    return small_spec(ops, dims=dims)


def test_opset_prefix_is_normalised() -> None:
    g = graph_from_spec(mil_spec([("ios18.relu", {"x": "x"}, "r")]))
    assert g.ops[0].op_type == "relu" and g.ops[0].attrs["opset_type"] == "ios18.relu"


def test_absurd_dims_are_kept_without_allocation() -> None:
    huge = 2**62
    g = graph_from_spec(mil_spec([("relu", {"x": "x"}, "r")], dims=[huge, huge, None]))
    t = g.ops[0].outputs[0]
    assert t.shape == (huge, huge, None) and t.num_elements is None
    spec = mil_spec([("relu", {"x": "x"}, "r")])
    out = spec.mlProgram.functions["main"].block_specializations["CoreML7"].operations[0].outputs[0]
    del out.type.tensorType.dimensions[:]
    out.type.tensorType.rank = 10**15  # would be a huge tuple if trusted
    assert graph_from_spec(spec).ops[0].outputs[0].shape is None


def test_cycle_is_refused() -> None:
    spec = mil_spec([("relu", {"x": "b"}, "a"), ("relu", {"x": "a"}, "b")])
    with pytest.raises(ModelLoadError, match="op 'a' reads 'b' before it is produced"):
        graph_from_spec(spec, source="cyclic.mlpackage")


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    spec = mil_spec([])
    block = spec.mlProgram.functions["main"].block_specializations["CoreML7"]
    for i in range(MAX_NESTING + 2):
        op = block.operations.add()
        op.type = "cond"
        op.inputs["pred"].arguments.add().name = "x"
        op.outputs.add().name = f"c{i}"
        block = op.blocks.add()
    with pytest.raises(ModelLoadError, match="nested deeper than 64"):
        graph_from_spec(spec, source="deep.mlpackage")
    # From a file, protobuf's own recursion limit may trip first: still a ModelLoadError.
    path = tmp_path / "deep.mlmodel"
    path.write_bytes(spec.SerializeToString())
    with pytest.raises(ModelLoadError, match="deep.mlmodel"):
        load_model(path)


def test_ten_thousand_ops_chain() -> None:
    """A long chain loads whole. (How long it takes is measured by benchmarks/load_scaling.py,
    not asserted here: wall-clock limits in unit tests fail at random on a busy machine.)"""
    ops: list[tuple[str, dict[str, str], str]] = []
    prev = "x"
    for i in range(10_000):
        ops.append(("relu", {"x": prev}, f"r{i}"))
        prev = f"r{i}"
    data = mil_spec(ops).SerializeToString()
    spec = Model_pb2.Model()
    spec.ParseFromString(data)
    g = graph_from_spec(spec)
    assert len(g) == 10_000 and sum(1 for _ in g.edges()) == 9_999


# --------------------------------------------------------------------------------------------
# Limits on counts (ane_notebook.model.limits), lowered here so that small specs reach them;
# tests/bad_inputs.py has specs past the real limits, through every entry point.


def ml_program_stage(functions: list[str]) -> Model_pb2.Model:
    stage = Model_pb2.Model()
    stage.specificationVersion = 8
    for name in functions:
        stage.mlProgram.functions[name].CopyFrom(small_spec().mlProgram.functions["main"])
    return stage


def test_function_limit_counts_the_whole_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each stage is within the limit; all of them together are not."""
    monkeypatch.setattr(builder, "MAX_FUNCTIONS", 5)
    spec = Model_pb2.Model()
    for _ in range(3):
        spec.pipeline.models.add().CopyFrom(ml_program_stage(["a", "b"]))
    with pytest.raises(ModelLoadError) as info:
        graph_from_spec(spec, source="p.mlmodel")
    assert str(info.value) == "p.mlmodel: the model has more than 5 functions (the limit)"
    del spec.pipeline.models[2]
    assert len(graph_from_spec(spec).functions) == 4


def test_op_limit_counts_nested_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks each small enough, but the ops of all of them together are too many."""
    monkeypatch.setattr(builder, "MAX_OPS", 6)
    spec = mil_spec([("cond", {"pred": "x"}, "c")])
    cond = main_block(spec).operations[0]
    for b in range(2):
        block = cond.blocks.add()
        for i in range(3):
            op = block.operations.add()
            op.type = "relu"
            op.inputs["x"].arguments.add().name = "x"
            op.outputs.add().name = f"b{b}_{i}"
    with pytest.raises(ModelLoadError) as info:
        graph_from_spec(spec, source="c.mlmodel")
    assert str(info.value) == "c.mlmodel: the model has more than 6 ops (the limit)"
    monkeypatch.setattr(builder, "MAX_OPS", 7)
    assert len(graph_from_spec(spec)) == 7


def test_counts_at_the_limits_load() -> None:
    """The limits refuse what is past them, not what is at them."""
    spec = small_spec()
    block = main_block(spec)
    cond = block.operations.add()
    cond.type = "cond"
    cond.inputs["pred"].arguments.add().name = "x"
    cond.outputs.add().name = "c"
    for _ in range(MAX_BLOCKS_PER_OP):
        cond.blocks.add()
    feature = spec.description.input.add()
    feature.name = "x"
    for i in range(MAX_ENUMERATED_SHAPES):
        feature.type.multiArrayType.enumeratedShapes.shapes.add().shape.extend([1, i + 1])
    for i in range(MAX_FEATURES - 1):
        spec.description.input.add().name = f"in{i}"
    g = graph_from_spec(spec)
    assert len(g.inputs) == MAX_FEATURES
    assert g.op("c").op_type == "cond"


def test_duplicate_described_function_is_still_refused() -> None:
    spec = small_spec()
    for _ in range(2):
        spec.description.functions.add().name = "main"
    with pytest.raises(ModelLoadError, match="function 'main' appears twice"):
        graph_from_spec(spec, source="dup.mlmodel")


def test_pipeline_nesting_limit_in_memory() -> None:
    """In memory (no protobuf parser in the way) the loader's own nesting limit refuses it."""
    spec = Model_pb2.Model()
    inner = spec
    for _ in range(MAX_NESTING + 2):
        inner = inner.pipeline.models.add()
    inner.neuralNetwork.SetInParent()
    with pytest.raises(ModelLoadError, match=f"pipelines nested deeper than {MAX_NESTING}"):
        graph_from_spec(spec, source="deep")


def test_scaling_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/load_scaling.py still builds and loads every case (tiny sizes; its timings
    are not asserted)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "load_scaling.py"
    module_spec = importlib.util.spec_from_file_location("load_scaling", path)
    assert module_spec is not None and module_spec.loader is not None
    bench = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(bench)
    bench.main(["--small", "20", "--large", "40", "--repeat", "1"])
    table = capsys.readouterr().out
    for case in bench.CASES:
        assert f"| {case} |" in table
    for case, build in bench.CASES.items():
        assert len(graph_from_spec(build(20))) >= 20, case


# --------------------------------------------------------------------------------------------
# Bad input


def write_package(root: Path, manifest: object, files: dict[str, bytes] | None = None) -> Path:
    pkg = root / "bad.mlpackage"
    (pkg / "Data" / "com.apple.CoreML").mkdir(parents=True)
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    (pkg / "Manifest.json").write_text(text)
    for rel, data in (files or {}).items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_bytes(data)
    return pkg


def manifest_to(path: str) -> dict[str, Any]:
    return {
        "fileFormatVersion": "1.0.0",
        "rootModelIdentifier": "root",
        "itemInfoEntries": {"root": {"path": path, "name": "model.mlmodel"}},
    }


def valid_bytes() -> bytes:
    data: bytes = mil_spec([("relu", {"x": "x"}, "r")]).SerializeToString()
    return data


def _missing(tmp: Path) -> Path:
    return tmp / "nope.mlpackage"


def _wrong_extension(tmp: Path) -> Path:
    (tmp / "model.onnx").write_bytes(valid_bytes())
    return tmp / "model.onnx"


def _empty_package(tmp: Path) -> Path:
    (tmp / "empty.mlpackage").mkdir()
    return tmp / "empty.mlpackage"


def _package_is_file(tmp: Path) -> Path:
    (tmp / "flat.mlpackage").write_bytes(valid_bytes())
    return tmp / "flat.mlpackage"


def _mlmodel_is_folder(tmp: Path) -> Path:
    (tmp / "dir.mlmodel").mkdir()
    return tmp / "dir.mlmodel"


def _compiled(tmp: Path) -> Path:
    (tmp / "m.mlmodelc").mkdir()
    return tmp / "m.mlmodelc"


def _empty_file(tmp: Path) -> Path:
    (tmp / "empty.mlmodel").write_bytes(b"")
    return tmp / "empty.mlmodel"


def _truncated(tmp: Path) -> Path:
    data = valid_bytes()
    (tmp / "cut.mlmodel").write_bytes(data[: len(data) - 7])
    return tmp / "cut.mlmodel"


def _random_bytes(tmp: Path) -> Path:
    (tmp / "noise.mlmodel").write_bytes(np.random.default_rng(3).bytes(4096))
    return tmp / "noise.mlmodel"


def _text_file(tmp: Path) -> Path:
    (tmp / "readme.mlmodel").write_text("This is not a model, just some text.\n" * 20)
    return tmp / "readme.mlmodel"


def _bad_utf8(tmp: Path) -> Path:
    spec = mil_spec([("relu", {"x": "x"}, "QQQQ")])
    data = spec.SerializeToString().replace(b"QQQQ", b"\xff\xfe\xfd\xfc")
    (tmp / "utf8.mlmodel").write_bytes(data)
    return tmp / "utf8.mlmodel"


def _unsupported(tmp: Path) -> Path:
    (tmp / "tree.mlmodel").write_bytes(tree_spec().SerializeToString())
    return tmp / "tree.mlmodel"


def _manifest_outside(tmp: Path) -> Path:
    (tmp / "secret.mlmodel").write_bytes(valid_bytes())
    return write_package(tmp, manifest_to("../../secret.mlmodel"))


def _manifest_absolute(tmp: Path) -> Path:
    (tmp / "secret.mlmodel").write_bytes(valid_bytes())
    return write_package(tmp, manifest_to(str(tmp / "secret.mlmodel")))


def _manifest_symlink_outside(tmp: Path) -> Path:
    (tmp / "secret.mlmodel").write_bytes(valid_bytes())
    pkg = write_package(tmp, manifest_to("com.apple.CoreML/model.mlmodel"))
    os.symlink(tmp / "secret.mlmodel", pkg / "Data" / "com.apple.CoreML" / "model.mlmodel")
    return pkg


def _manifest_missing_file(tmp: Path) -> Path:
    return write_package(tmp, manifest_to("com.apple.CoreML/model.mlmodel"))


def _manifest_not_json(tmp: Path) -> Path:
    return write_package(tmp, "{not json")


def _manifest_no_root(tmp: Path) -> Path:
    return write_package(tmp, {"itemInfoEntries": {}})


BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (_missing, "no such file or folder"),
    "wrong_extension": (
        _wrong_extension,
        r"not a Core ML model \(expected .mlpackage or .mlmodel\)",
    ),
    "empty_package": (_empty_package, "Manifest.json missing"),
    "package_is_file": (_package_is_file, "not a folder"),
    "mlmodel_is_folder": (_mlmodel_is_folder, "is a folder"),
    "compiled": (_compiled, r"compiled models \(.mlmodelc\) cannot be read"),
    "empty_file": (_empty_file, "empty model file"),
    "truncated": (_truncated, "not a valid Core ML protobuf"),
    "random_bytes": (_random_bytes, "not a valid Core ML protobuf|not a Core ML model"),
    "text_file": (_text_file, "not a valid Core ML protobuf|not a Core ML model"),
    "bad_utf8": (_bad_utf8, "not a valid Core ML protobuf"),
    "unsupported": (_unsupported, "unsupported model type 'treeEnsembleRegressor'"),
    "manifest_outside": (_manifest_outside, "Manifest.json points outside the package"),
    "manifest_absolute": (_manifest_absolute, "Manifest.json points outside the package"),
    "manifest_symlink": (_manifest_symlink_outside, "Manifest.json points outside the package"),
    "manifest_missing_file": (_manifest_missing_file, "named in Manifest.json is missing"),
    "manifest_not_json": (_manifest_not_json, "Manifest.json is not valid JSON"),
    "manifest_no_root": (_manifest_no_root, "Manifest.json names no root model"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input(case: str, tmp_path: Path) -> None:
    make, problem = BAD_INPUTS[case]
    path = make(tmp_path)
    with pytest.raises(ModelLoadError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert path.name in message
    assert re.search(problem, info.value.problem), message


def test_bad_input_never_written(tmp_path: Path) -> None:
    pkg = _manifest_missing_file(tmp_path)
    before = file_state(tmp_path)
    with pytest.raises(ModelLoadError):
        load_model(pkg)
    assert file_state(tmp_path) == before


def test_unsupported_object() -> None:
    with pytest.raises(ModelLoadError, match=r"^<int>: cannot load this object"):
        load_model(42)


def test_shipped_parameter_order_is_coremltools_own() -> None:
    # mil_params.json stands in for coremltools' op registry (whose import costs seconds): it
    # must say what the registry says, and be ignored under any other coremltools release.
    import importlib.metadata
    from importlib import resources

    from ane_notebook.model.mil_params import registry_table, shipped_table
    from ane_notebook.model.mil_types import param_order

    data = json.loads(resources.files("ane_notebook.model").joinpath("mil_params.json").read_text())
    registry = registry_table()
    if data["coremltools"] == importlib.metadata.version("coremltools"):
        assert shipped_table() == registry == data["ops"]
    else:
        assert shipped_table() is None
    assert len(registry) > 100
    for op_type, params in registry.items():
        assert list(param_order(op_type)) == params
    assert param_order("not_a_mil_op") == {}


def test_specs_read_without_coremltools_are_its_own_classes() -> None:
    # model/proto.py loads coremltools.proto without coremltools/__init__; importing
    # coremltools afterwards must find those same classes (a spec read first is a real spec).
    code = (
        "import sys\n"
        "from ane_notebook.model.load import load_model\n"
        "from ane_notebook.model.package import read_spec\n"
        "from ane_notebook.model.examples import example_path\n"
        "path = example_path('lstm')\n"
        "spec = read_spec(path)\n"
        "g = load_model('example:lstm')\n"
        "assert 'coremltools' not in sys.modules\n"
        "import coremltools as ct\n"
        "assert isinstance(spec, ct.proto.Model_pb2.Model)\n"
        "m = ct.models.MLModel(str(path), skip_model_load=True)\n"
        "assert m.get_spec() == spec\n"
        "assert load_model(m).ops == g.ops\n"
        "print('ok')\n"
    )
    from ane_notebook.model.examples import example_path

    example_path("lstm")  # built here (which imports coremltools), only read in the child
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]


def test_a_spec_read_from_a_file_is_handed_back_after_loading(
    conv_package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parsed spec's C heap (~70 MB on a 50k-op LLM) is returned to the OS once the graph
    # is built, so the estimate and the report do not grow the process above it (issue 14).
    import ane_notebook.model.load as load_module
    from ane_notebook import _memory

    calls: list[bool] = []
    monkeypatch.setattr(load_module, "release_freed_memory", lambda: calls.append(True) or True)
    load_model(conv_package)
    load_model("example:lstm")
    assert calls == [True, True]
    if sys.platform.startswith("linux"):
        # glibc has malloc_trim, found without a subprocess (find_library runs ldconfig)
        _memory._malloc_trim.cache_clear()

        def no_subprocess(*args: object, **kwargs: object) -> None:
            raise AssertionError("a subprocess was started")

        monkeypatch.setattr(subprocess, "Popen", no_subprocess)
        assert _memory.release_freed_memory()


def test_reading_a_small_file_under_a_large_limit_reserves_no_large_buffer(
    tmp_path: Path,
) -> None:
    """`read(limit + 1)` allocates the whole limit up front: 2 GB for every spec read."""
    import tracemalloc

    from ane_notebook.model.package import _read_at_most

    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * 2000)
    tracemalloc.start()
    try:
        data = _read_at_most(small, 1 << 30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data == b"x" * 2000
    assert peak < 1 << 20
    # The limit still holds: one byte more than allowed is what says "too big".
    assert _read_at_most(small, 1999) == b"x" * 2000
    assert _read_at_most(small, 2000) == b"x" * 2000
    assert _read_at_most(small, 10) == b"x" * 11


def test_coremltools_version_is_read_from_its_own_version_file() -> None:
    # The cold CLI reads the release from coremltools/version.py instead of importing
    # importlib.metadata (issue 14): it must be the release pip installed.
    import importlib.metadata

    from ane_notebook.model.mil_params import installed_coremltools_version

    assert installed_coremltools_version() == importlib.metadata.version("coremltools")


@pytest.mark.parametrize(
    "text",
    [None, b"", b"VERSION = '1.0'\n", b"  __version__ = '1.0'\n", b"__version__ = 1\n"],
    ids=["missing", "empty", "other-name", "indented", "not-a-string"],
)
def test_coremltools_version_falls_back_to_the_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: bytes | None
) -> None:
    import importlib.metadata
    import importlib.util
    from types import SimpleNamespace

    from ane_notebook.model import mil_params

    if text is not None:
        (tmp_path / "version.py").write_bytes(text)
    fake = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: fake)
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "7.7")
    assert mil_params.installed_coremltools_version() == "7.7"


def test_coremltools_version_from_a_version_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util
    from types import SimpleNamespace

    from ane_notebook.model import mil_params

    (tmp_path / "version.py").write_bytes(b'# c\n\n__version__ = "8.3b1"  # VERSION_STRING\n')
    fake = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: fake)
    assert mil_params.installed_coremltools_version() == "8.3b1"


def test_no_coremltools_means_no_shipped_table(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from ane_notebook.model import mil_params

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert mil_params.installed_coremltools_version() is None


def test_a_loaded_graph_is_in_the_oldest_generation() -> None:
    """graph_from_spec promotes what it made (`_gc.survivors_promoted`): no young collection
    walks the graph's objects, and the collector is left as it was."""
    import gc

    graph = load_model("example:lstm")
    young = {id(o) for o in gc.get_objects(generation=0)} | {
        id(o) for o in gc.get_objects(generation=1)
    }
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert all(id(op) not in young and id(op.attrs) not in young for op in graph.ops)
    assert id(graph.ops) not in young
