"""The ML program reader's fast paths (issue 14) held to the plain code they replace.

`mlprogram.add_ml_program` reads each protobuf field once, caches what an op type decides and
the order of each op type's parameter names, takes one-binding parameters and scalar-string
attributes on a short path; `mil_types.small_value` tests one oneof for three and keeps decoded
values by their serialized bytes. Each must give the ops, attributes (values, types and key
order), function inputs and errors the code before (tests/loader_reference.py) gave, on
hand-made and random specs: every immediate value kind,
blob values, lists, empty tensors, names that are not scalar strings, empty-string bindings,
value bindings, several bindings per parameter, unknown and opset-prefixed op types, consts
feeding parameters and weights, ops without outputs, cond / while blocks with block inputs,
several functions, unknown and variadic dimensions, hostile names. `GraphBuilder.check_shapes`,
which checks each distinct shape once, must refuse what the old check refused, naming the same
tensor.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import loader_reference
import pytest
from bad_inputs import HOSTILE_NAMES, main_block, small_spec, tensor_type
from coremltools.proto import MIL_pb2, Model_pb2

from ane_notebook.errors import ModelLoadError
from ane_notebook.model import mil_types, mlprogram
from ane_notebook.model.builder import GraphBuilder
from ane_notebook.model.graph import Op, Shape, TensorInfo
from ane_notebook.model.limits import MAX_CONST_ELEMENTS, MAX_RANK

Adder = Callable[[GraphBuilder, Model_pb2.Model], None]


def read(add: Adder, spec: Model_pb2.Model) -> Any:
    """What `add` makes of `spec`: every op (its repr shows value types: 1, 1.0 and True
    differ), each op's attribute keys in order, the function inputs; or the error."""
    builder = GraphBuilder("m.mlpackage")
    try:
        add(builder, spec)
    except ModelLoadError as e:
        return ("error", str(e))
    return (
        [repr(op) for op in builder.ops],
        [list(op.attrs) for op in builder.ops],
        repr(builder.function_inputs),
        builder.functions,
    )


def check(spec: Model_pb2.Model) -> None:
    got = read(lambda b, s: mlprogram.add_ml_program(b, s, prefix="p/"), spec)
    want = read(lambda b, s: loader_reference.add_ml_program(b, s, prefix="p/"), spec)
    assert got == want


# --------------------------------------------------------------------------------------------
# Values and ops, written into protobufs


def scalar_type(vt: MIL_pb2.ValueType, dtype: int) -> None:
    vt.tensorType.dataType = dtype  # rank 0, no dimensions


def set_value(value: MIL_pb2.Value, kind: str, rng: random.Random) -> None:
    """Make `value` one of many kinds of (im)mediate value."""
    tv = value.immediateValue.tensor
    n = rng.choice([0, 1, 1, 2, 3, 6, MAX_CONST_ELEMENTS, MAX_CONST_ELEMENTS + 1])
    dims: list[int | None] = rng.choice([[], [n], [1, n], [n, 1], [None], [2, 3]])
    if kind == "name":
        scalar_type(value.type, MIL_pb2.STRING)
        tv.strings.values.append(rng.choice(NAMES))
    elif kind == "strings":
        tensor_type(value.type, dims, MIL_pb2.STRING)
        tv.strings.values.extend(rng.choice(NAMES) for _ in range(n))
    elif kind == "ints":
        tensor_type(value.type, dims, MIL_pb2.INT32)
        tv.ints.values.extend(rng.randint(-5, 5) for _ in range(n))
    elif kind == "longInts":
        tensor_type(value.type, dims, MIL_pb2.INT64)
        tv.longInts.values.extend(rng.randint(-(2**40), 2**40) for _ in range(n))
    elif kind == "floats":
        tensor_type(value.type, dims, MIL_pb2.FLOAT32)
        tv.floats.values.extend(rng.random() for _ in range(n))
    elif kind == "doubles":
        tensor_type(value.type, dims, MIL_pb2.FLOAT64)
        tv.doubles.values.extend(rng.random() for _ in range(n))
    elif kind == "bools":
        tensor_type(value.type, dims, MIL_pb2.BOOL)
        tv.bools.values.extend(rng.random() < 0.5 for _ in range(n))
    elif kind == "bytes":
        dtype = rng.choice([MIL_pb2.FLOAT16, MIL_pb2.INT8, MIL_pb2.UINT8, MIL_pb2.BFLOAT16])
        tensor_type(value.type, dims, dtype)
        tv.bytes.values = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 2, 4, 12])))
    elif kind == "scalar":
        scalar_type(value.type, rng.choice([MIL_pb2.INT32, MIL_pb2.FLOAT32]))
        tv.ints.values.append(rng.randint(0, 9))
    elif kind == "state_string":
        scalar_type(value.type.stateType.wrappedType, MIL_pb2.STRING)
        tv.strings.values.append("in a state")
    elif kind == "blob":
        tensor_type(value.type, [64, 64], MIL_pb2.FLOAT16)
        value.blobFileValue.fileName = "@model_path/weights/weight.bin"
        value.blobFileValue.offset = 64
    elif kind == "list":
        value.type.listType.type.tensorType.dataType = MIL_pb2.INT32
        value.immediateValue.list.SetInParent()
    elif kind == "empty_tensor":
        tensor_type(value.type, dims, MIL_pb2.INT32)
        value.immediateValue.tensor.SetInParent()
    elif kind == "untyped":
        tv.ints.values.append(3)
    else:
        raise AssertionError(kind)


VALUE_KINDS = [
    "name",
    "strings",
    "ints",
    "longInts",
    "floats",
    "doubles",
    "bools",
    "bytes",
    "scalar",
    "state_string",
    "blob",
    "list",
    "empty_tensor",
    "untyped",
]
OP_TYPES = [
    "relu",
    "add",
    "mul",
    "conv",
    "conv_transpose",
    "linear",
    "matmul",
    "concat",
    "reshape",
    "ios18.cast",
    "iOS17.matmul",
    "not_a_mil_op",
    "const",
    "constexpr_blockwise_shift_scale",
]
PARAMS = ["x", "y", "weight", "bias", "axis", "values", "shape", "strides", "pad", "zzz", ""]
NAMES = ["a", "b", "x", "w", "c0", "", "model_layers_0_mlp_cast_fp16", *HOSTILE_NAMES]


def random_op(
    rng: random.Random, block: MIL_pb2.Block, known: list[str], depth: int
) -> MIL_pb2.Operation:
    op = block.operations.add()
    op.type = rng.choice(OP_TYPES)
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        args = op.inputs[rng.choice(PARAMS)]
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            binding = args.arguments.add()
            pick = rng.random()
            if pick < 0.7:
                binding.name = rng.choice(known)
            elif pick < 0.8:
                binding.name = ""  # an explicitly empty name: still a name binding
            elif pick < 0.95:
                set_value(binding.value, rng.choice(VALUE_KINDS), rng)
            # else: a binding with neither
    if rng.random() < 0.9:
        set_value(op.attributes["name"], rng.choice(["name"] * 6 + VALUE_KINDS), rng)
    if rng.random() < 0.4:
        set_value(op.attributes[rng.choice(["val", "axis", "name2"])], rng.choice(VALUE_KINDS), rng)
    for _ in range(rng.choice([0, 1, 1, 1, 1, 2])):
        out = op.outputs.add()
        out.name = rng.choice([*NAMES, f"v{len(known)}"])
        known.append(out.name)
        pick = rng.random()
        if pick < 0.8:
            tensor_type(out.type, rng.choice([[], [1, 64], [3, 3, 8, 8], [None, 4]]))
        elif pick < 0.9:
            out.type.tensorType.dimensions.add().unknown.variadic = True
        # else: no type
    if depth < 2 and rng.random() < 0.08:
        for _ in range(rng.choice([1, 2])):
            sub = op.blocks.add()
            for _ in range(rng.choice([0, 1])):
                nvt = sub.inputs.add()
                nvt.name = f"loop{len(known)}"
                known.append(nvt.name)
                tensor_type(nvt.type, [1])
            for _ in range(rng.randint(0, 4)):
                random_op(rng, sub, known, depth + 1)
            sub.outputs.append(rng.choice(known))
    return op


def random_spec(seed: int) -> Model_pb2.Model:
    rng = random.Random(seed)
    spec = Model_pb2.Model()
    for f in range(rng.choice([1, 1, 2, 3])):
        fn = spec.mlProgram.functions[f"f{f}"]
        fn.opset = "CoreML7"
        known = ["x"]
        inp = fn.inputs.add()
        inp.name = "x"
        tensor_type(inp.type, [1, 64])
        block = fn.block_specializations["CoreML7"]
        for _ in range(rng.randint(0, 30)):
            random_op(rng, block, known, 0)
    return spec


@pytest.mark.parametrize("seed", range(300))
def test_random_specs_read_as_the_reference_reads_them(seed: int) -> None:
    check(random_spec(seed))


# --------------------------------------------------------------------------------------------
# Hand-made cases


def test_small_and_empty_specs() -> None:
    check(small_spec())
    check(small_spec([]))
    check(small_spec([("relu", {"x": "x"}, "r")]))
    check(Model_pb2.Model())  # no functions: the same error


def op_with(spec: Model_pb2.Model, op_type: str, out: str) -> MIL_pb2.Operation:
    op = main_block(spec).operations.add()
    op.type = op_type
    o = op.outputs.add()
    o.name = out
    tensor_type(o.type, [1, 8])
    return op


def test_consts_feed_parameters_and_weight_shapes() -> None:
    spec = small_spec([])
    rng = random.Random(0)
    for i, kind in enumerate(VALUE_KINDS):
        c = op_with(spec, "const", f"c_{kind}")
        set_value(c.attributes["val"], kind, rng)
        set_value(c.attributes["name"], "name", rng)
        user = op_with(spec, ["conv", "linear", "matmul", "add"][i % 4], f"u_{kind}")
        for param in ("x", "weight", "y", "axis"):
            user.inputs[param].arguments.add().name = f"c_{kind}"
    check(spec)


def test_name_attributes_that_are_not_one_scalar_string() -> None:
    """Names of other types, shapes, counts and kinds of value take the general path."""
    spec = small_spec([])
    rng = random.Random(1)
    for i, kind in enumerate(VALUE_KINDS):
        op = op_with(spec, "relu", f"r{i}")
        op.inputs["x"].arguments.add().name = "x"
        set_value(op.attributes["name"], kind, rng)
    two = op_with(spec, "relu", "two")
    two.attributes["name"].type.tensorType.dataType = MIL_pb2.STRING
    two.attributes["name"].immediateValue.tensor.strings.values.extend(["a", "b"])
    nothing = op_with(spec, "relu", "nothing")
    nothing.attributes["name"].type.tensorType.dataType = MIL_pb2.STRING
    main_block(spec).operations.add().type = "write_state"  # no outputs: named by op type
    unnamed = main_block(spec).operations.add()
    unnamed.type = "write_state"
    set_value(unnamed.attributes["name"], "name", rng)  # no outputs: named by its MIL name
    check(spec)


def test_bindings_of_every_shape() -> None:
    spec = small_spec([])
    rng = random.Random(2)
    op = op_with(spec, "concat", "cat")
    op.inputs["values"].arguments.add().name = "x"
    set_value(op.inputs["values"].arguments.add().value, "ints", rng)
    op.inputs["values"].arguments.add().name = "x"  # read twice: one input
    op.inputs["values"].arguments.add()  # neither a name nor a value
    op.inputs["axis"].arguments.add().name = ""
    set_value(op.inputs["interleave"].arguments.add().value, "bools", rng)
    op.inputs["empty"].SetInParent()  # a parameter with no bindings
    check(spec)


def test_blocks_functions_and_prefixed_types() -> None:
    spec = small_spec()
    spec.mlProgram.functions["second"].CopyFrom(spec.mlProgram.functions["main"])
    cond = op_with(spec, "ios18.cond", "c")
    cond.inputs["pred"].arguments.add().name = "x"
    for b in range(2):
        block = cond.blocks.add()
        nvt = block.inputs.add()
        nvt.name = f"state{b}"
        tensor_type(nvt.type, [None, 2])
        inner = block.operations.add()
        inner.type = "while_loop"
        inner.outputs.add().name = f"w{b}"
        inner.blocks.add().operations.add().type = "relu"
        block.outputs.append(f"w{b}")
    spec.description.functions.add().name = "second"
    check(spec)


def test_errors_are_the_reference_errors() -> None:
    cycle = small_spec([("relu", {"x": "b"}, "a"), ("relu", {"x": "a"}, "b")])
    check(cycle)
    no_block = small_spec()
    no_block.mlProgram.functions["main"].opset = "CoreML9"
    no_block.mlProgram.functions["main"].block_specializations["other"].SetInParent()
    check(no_block)
    deep = small_spec([])
    block = main_block(deep)
    for i in range(70):
        op = block.operations.add()
        op.type = "cond"
        op.outputs.add().name = f"c{i}"
        block = op.blocks.add()
    check(deep)


def test_small_value_is_the_reference_small_value() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        value = MIL_pb2.Value()
        set_value(value, rng.choice(VALUE_KINDS), rng)
        got, want = mil_types.small_value(value), loader_reference.small_value(value)
        assert repr(got) == repr(want)


def test_small_value_cache_gives_the_reference_value() -> None:
    """`small_value` keeps decoded values by their serialized bytes: a value met again (or an
    equal one in another message) gives the reference's value; one that differs in any field
    is decoded afresh; what does not decode is never kept; the cache stays bounded; and every
    kept value is immutable (hashable), since ops share it."""
    rng = random.Random(5)
    mil_types._VALUE_CACHE.clear()
    values = []
    for _ in range(600):
        value = MIL_pb2.Value()
        set_value(value, rng.choice(VALUE_KINDS), rng)
        values.append(value)
    for value in values + values[::-1]:  # every value twice: decoded, then from the cache
        again = MIL_pb2.Value()
        again.CopyFrom(value)
        for v in (value, again):
            got, want = mil_types.small_value(v), loader_reference.small_value(v)
            assert repr(got) == repr(want)
            if got is not mil_types.NO_VALUE:
                hash(got)
    assert mil_types.NO_VALUE not in mil_types._VALUE_CACHE.values()
    assert 0 < len(mil_types._VALUE_CACHE) < len(values)
    # Values that differ from a kept one in one field only.
    value = MIL_pb2.Value()
    tensor_type(value.type, [2], MIL_pb2.INT32)
    value.immediateValue.tensor.ints.values.extend([1, 2])
    assert mil_types.small_value(value) == (1, 2)
    value.type.tensorType.dimensions[0].constant.size = 1
    assert repr(mil_types.small_value(value)) == repr(loader_reference.small_value(value))
    value.type.tensorType.dataType = MIL_pb2.INT64
    value.immediateValue.tensor.ints.values[1] = 3
    assert repr(mil_types.small_value(value)) == repr(loader_reference.small_value(value))
    value.immediateValue.tensor.ClearField("ints")
    value.immediateValue.tensor.longInts.values.extend([1, 2])
    assert repr(mil_types.small_value(value)) == repr(loader_reference.small_value(value))
    # Bounded: past the limit the cache starts again.
    for i in range(mil_types._VALUE_CACHE_MAX + 10):
        value = MIL_pb2.Value()
        scalar_type(value.type, MIL_pb2.INT32)
        value.immediateValue.tensor.ints.values.append(i)
        assert mil_types.small_value(value) == i
    assert len(mil_types._VALUE_CACHE) <= mil_types._VALUE_CACHE_MAX
    long = scalar_string("s" * (mil_types._VALUE_KEY_MAX + 1))
    assert mil_types.small_value(long) == "s" * (mil_types._VALUE_KEY_MAX + 1)
    assert long.SerializeToString() not in mil_types._VALUE_CACHE


def shape_error(check: Callable[[GraphBuilder], None]) -> str | None:
    try:
        check(BUILDER)
    except ModelLoadError as e:
        return str(e)
    return None


BUILDER = GraphBuilder("m")
SHAPES: list[Shape | None] = [
    None,
    (),
    (1, 64),
    (None, 3),
    (2**63, 1),  # a negative size stored unsigned
    (2**62, 2**62, 2**62),  # too many elements
    (1,) * (MAX_RANK + 1),
    (0, 5),
]


@pytest.mark.parametrize("seed", range(200))
def test_check_shapes_refuses_what_the_reference_refuses(seed: int) -> None:
    rng = random.Random(seed)
    tensors = [
        TensorInfo(f"t{i}", rng.choice(SHAPES[:4] * 8 + SHAPES), "fp16")
        for i in range(rng.randint(0, 12))
    ]
    split = rng.randint(0, len(tensors))
    BUILDER.ops[:] = [
        Op(i, t.name, "relu", "main", (), (t,)) for i, t in enumerate(tensors[:split])
    ]
    BUILDER.function_inputs.clear()
    BUILDER.function_inputs.update({("main", "in"): TensorInfo("in", rng.choice(SHAPES), "fp32")})
    interface = tensors[split:]
    got = shape_error(lambda b: b.check_shapes(interface))
    assert got == shape_error(lambda b: loader_reference.check_shapes(b, interface))


def scalar_string(text: str) -> MIL_pb2.Value:
    value = MIL_pb2.Value()
    scalar_type(value.type, MIL_pb2.STRING)
    value.immediateValue.tensor.strings.values.append(text)
    return value


TEXTS = [*NAMES, "x" * 127, "y" * 128, "z" * 300, "é" * 70, "名前", "a\x00b"]


def test_is_scalar_string_matches_scalar_strings_only() -> None:
    """True for what coremltools writes (every length of varint, any text), and then
    `small_value` agrees; False for anything else, however close."""
    rng = random.Random(4)
    for text in TEXTS:
        value = scalar_string(text)
        assert mil_types.is_scalar_string(value, text)
        assert loader_reference.small_value(value) == text
        for other in (text + "a", text[:-1], "Q" + text[1:]):
            if other != text:
                assert not mil_types.is_scalar_string(value, other)
        near = [MIL_pb2.Value() for _ in range(5)]
        for v in near:
            v.CopyFrom(value)
        near[0].docString = "doc"
        near[1].type.tensorType.rank = 1
        near[2].type.tensorType.dataType = MIL_pb2.INT32
        near[3].immediateValue.tensor.strings.values.append(text)
        near[4].type.tensorType.attributes["k"].CopyFrom(scalar_string("v"))
        assert not any(mil_types.is_scalar_string(v, text) for v in near)
    for _ in range(500):
        value = MIL_pb2.Value()
        set_value(value, rng.choice(VALUE_KINDS), rng)
        text = rng.choice(TEXTS)
        if mil_types.is_scalar_string(value, text):
            assert repr(loader_reference.small_value(value)) == repr(text)


ORDER_NAMES = ["a", "b", "c", "d", "in", "x/y", "line\nbreak", HOSTILE_NAMES[0]]


def order_error(check: Callable[[GraphBuilder], None], builder: GraphBuilder) -> str | None:
    try:
        check(builder)
    except ModelLoadError as e:
        return str(e)
    return None


@pytest.mark.parametrize("seed", range(300))
def test_check_order_refuses_what_the_reference_refuses(seed: int) -> None:
    """Random small graphs over few names, so that names are read before, after and at their
    production, produced twice (also in another function), and are function inputs too."""
    rng = random.Random(seed)
    functions = rng.choice([["main"], ["main", "f"], ["f", "main", "g"]])
    builder = GraphBuilder("m")
    for i in range(rng.randint(0, 10)):
        outputs = tuple(
            TensorInfo(rng.choice(ORDER_NAMES), (1,), "fp16") for _ in range(rng.randint(0, 2))
        )
        inputs = tuple(rng.sample(ORDER_NAMES, rng.randint(0, 3)))
        name = outputs[0].name if outputs else f"op{i}"
        builder.ops.append(Op(i, name, "relu", rng.choice(functions), inputs, outputs))
    for _ in range(rng.randint(0, 3)):
        name = rng.choice(ORDER_NAMES)
        builder.function_inputs[(rng.choice(functions), name)] = TensorInfo(name, None, "fp32")
    got = order_error(GraphBuilder.check_order, builder)
    assert got == order_error(loader_reference.check_order, builder)


def test_check_order_on_a_valid_graph_and_the_empty_graph() -> None:
    builder = GraphBuilder("m")
    assert order_error(GraphBuilder.check_order, builder) is None
    spec = small_spec([("relu", {"x": "x"}, "a"), ("add", {"x": "a", "y": "x"}, "b")])
    mlprogram.add_ml_program(builder, spec, prefix="")
    assert builder.ops and order_error(GraphBuilder.check_order, builder) is None
