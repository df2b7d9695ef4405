"""ML programs (``spec.mlProgram``): every MIL operation of every function becomes an `Op`.

Functions come in the order of ``spec.description.functions`` (else the default function first,
then by name). Each MIL operation becomes an `Op` named after its first output (the name
coremltools' compute-plan paths use; the MIL op name is kept in ``attrs["mil_name"]``). Ops inside
``cond`` / ``while_loop`` blocks follow their parent op depth-first, with
``block=("<parent>", "block0")``; block inputs (loop variables) go into ``function_inputs``.

Constant operands that rules need (strides, dilations, groups, pads, axes, perm, dtype, ...) are
copied into ``Op.attrs`` under their MIL parameter names when they hold at most
`MAX_CONST_ELEMENTS` elements; sequences become tuples. ``attrs["args"]`` maps each parameter to
the tensor names bound to it, and ``attrs["weight_shape"]`` gives the declared shape of a constant
weight of ``conv``/``conv_transpose``/``linear``/``matmul`` (shape only: the data is not read).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .builder import Frame, GraphBuilder, q, too_many
from .graph import Op, Shape, TensorInfo
from .interface import default_function
from .limits import MAX_BLOCKS_PER_OP, MAX_FUNCTIONS, MAX_NESTING
from .mil_types import NO_VALUE, mil_type_info, param_order, small_value
from .proto import MIL_pb2, Model_pb2

__all__ = ["add_ml_program"]


# MIL ops whose constant operand is a weight matrix/kernel read whole on every run: its declared
# shape goes into attrs["weight_shape"] (parameter names tried in order). Gather tables are left
# out on purpose: only a few rows are read, and the table's shape is on its const op anyway.
_WEIGHT_PARAMS: Mapping[str, tuple[str, ...]] = {
    "conv": ("weight",),
    "conv_transpose": ("weight",),
    "linear": ("weight",),
    "matmul": ("y", "x"),
}

# Some tools (and Core ML's own compute-plan op types) spell opset-versioned ops "ios18.cast".
_OPSET_PREFIX = re.compile(r"^(?:ios|macos|tvos|watchos|visionos)\d+\.(.+)$", re.IGNORECASE)


def add_ml_program(builder: GraphBuilder, spec: Model_pb2.Model, *, prefix: str) -> None:
    """Add every function of ML program `spec`, named `prefix` + the function's name."""
    program = spec.mlProgram
    if len(program.functions) > MAX_FUNCTIONS:
        raise builder.fail(
            too_many("functions", MAX_FUNCTIONS, count=len(program.functions), where="ML program")
        )
    names = list(program.functions.keys())
    ordered = [f.name for f in spec.description.functions if f.name in program.functions]
    if not ordered:
        default = default_function(spec.description)
        ordered = [default] if default is not None and default in program.functions else []
    listed = set(ordered)  # a set: `n not in ordered` made 100k functions quadratic
    ordered += sorted(n for n in names if n not in listed)
    if not ordered:
        raise builder.fail("ML program has no functions")
    for fn_name in ordered:
        _add_mil_function(builder, program.functions[fn_name], prefix + fn_name)


def _add_mil_function(builder: GraphBuilder, fn: MIL_pb2.Function, function: str) -> None:
    builder.add_function(function)
    for nvt in fn.inputs:
        shape, dtype = mil_type_info(nvt.type)
        builder.function_inputs[(function, nvt.name)] = TensorInfo(nvt.name, shape, dtype)
    blocks = fn.block_specializations
    if fn.opset in blocks:
        block = blocks[fn.opset]
    elif len(blocks) == 1:
        block = next(iter(blocks.values()))
    else:
        raise builder.fail(f"function {q(function)} has no block for its opset {q(fn.opset)}")
    # Per function: values of small consts and shapes of all const-like outputs, so that
    # consumers can pick up parameters and weight shapes in O(1).
    const_values: dict[str, Any] = {}
    const_shapes: dict[str, Shape | None] = {}
    # Each read of a protobuf string field makes a new str: a value's name is read once where
    # it is made and again by each op that reads it (and as the op's MIL name). One str object
    # per distinct name instead (with `Op`/`TensorInfo` slotted, the 50k-op benchmark LLM's
    # graph went from 56 to 37 MB; GitHub issue 14).
    interned: dict[str, str] = {}
    builder.check_op_count(len(block.operations))
    stack = [Frame(iter(block.operations), (), None, 0)]
    while stack:
        frame = stack[-1]
        op_pb = next(frame.ops, None)
        if op_pb is None:
            stack.pop()
            continue
        builder.check_op_count()
        index = len(builder.ops)
        op = _mil_op(op_pb, index, function, frame, const_values, const_shapes, interned)
        builder.ops.append(op)
        if op_pb.blocks:
            if frame.depth + 1 > MAX_NESTING:
                raise builder.fail(f"blocks nested deeper than {MAX_NESTING} levels")
            if len(op_pb.blocks) > MAX_BLOCKS_PER_OP:
                raise builder.fail(
                    too_many(
                        "blocks",
                        MAX_BLOCKS_PER_OP,
                        count=len(op_pb.blocks),
                        where=f"op {q(op.name)}",
                    )
                )
            # Push in reverse so that block0 is walked first (depth-first, in order).
            for bi in reversed(range(len(op_pb.blocks))):
                sub = op_pb.blocks[bi]
                builder.check_op_count(len(sub.operations))
                for nvt in sub.inputs:
                    shape, dtype = mil_type_info(nvt.type)
                    builder.function_inputs[(function, nvt.name)] = TensorInfo(
                        nvt.name, shape, dtype
                    )
                stack.append(
                    Frame(
                        iter(sub.operations),
                        (*frame.path, op.name, f"block{bi}"),
                        index,
                        frame.depth + 1,
                    )
                )


def _mil_op(
    op_pb: MIL_pb2.Operation,
    index: int,
    function: str,
    frame: Frame,
    const_values: dict[str, Any],
    const_shapes: dict[str, Shape | None],
    interned: dict[str, str],
) -> Op:
    intern = interned.setdefault
    raw_type = op_pb.type
    raw_type = intern(raw_type, raw_type)  # op types, attribute and parameter names repeat too
    attrs: dict[str, Any] = {}
    m = _OPSET_PREFIX.match(raw_type)
    op_type = m.group(1) if m else raw_type
    if m:
        attrs["opset_type"] = raw_type
    outs: list[TensorInfo] = []
    for o in op_pb.outputs:
        n = o.name
        outs.append(TensorInfo(intern(n, n), *mil_type_info(o.type)))
    outputs = tuple(outs)
    for key, value in op_pb.attributes.items():
        v = small_value(value)
        if v is NO_VALUE:
            continue
        if key == "name":
            attrs["mil_name"] = intern(v, v) if isinstance(v, str) else v
        else:
            attrs[intern(key, key)] = v
    is_const = op_type == "const" or op_type.startswith("constexpr_")

    inputs: list[str] = []
    seen: set[str] = set()
    args: dict[str, tuple[str, ...]] = {}
    order = param_order(op_type)
    # (Protobuf field reads are the loader's main cost on big models: each is read once.)
    keys = sorted(op_pb.inputs, key=lambda k: (k != "x", order.get(k, 1 << 30), k))
    for key in keys:
        bindings = op_pb.inputs[key].arguments
        key = intern(key, key)
        names: list[str] = []
        name_bound: str | None = None
        for binding in bindings:
            if binding.WhichOneof("binding") == "name":
                name_bound = binding.name
                name_bound = intern(name_bound, name_bound)
                names.append(name_bound)
                if name_bound not in seen:
                    seen.add(name_bound)
                    inputs.append(name_bound)
        if names:
            args[key] = tuple(names)
        if len(bindings) == 1 and key not in attrs:
            binding = bindings[0]
            if name_bound is not None:  # the one binding is a name
                if name_bound in const_values:
                    attrs[key] = const_values[name_bound]
            else:
                v = small_value(binding.value)
                if v is not NO_VALUE:
                    attrs[key] = v
    if args:
        attrs["args"] = args
    if op_pb.blocks:
        # The parent's outputs are its blocks' outputs (the taken branch, the final loop
        # state); name them so that analyses can follow data out of the blocks.
        attrs["block_outputs"] = tuple(tuple(b.outputs) for b in op_pb.blocks)
    for key in _WEIGHT_PARAMS.get(op_type, ()):
        bound = args.get(key)
        if bound and len(bound) == 1 and bound[0] in const_shapes:
            attrs["weight_shape"] = const_shapes[bound[0]]
            if len(_WEIGHT_PARAMS[op_type]) > 1:
                attrs["weight_input"] = key
            break
    ws = attrs.get("weight_shape")
    if op_type in ("conv", "conv_transpose") and ws is not None and len(ws) >= 3:
        attrs["kernel_size"] = tuple(ws[2:])

    if is_const:
        for o in outputs:
            const_shapes[o.name] = o.shape
        if op_type == "const" and len(outputs) == 1 and "val" in attrs:
            const_values[outputs[0].name] = attrs["val"]

    if outputs:
        name = outputs[0].name
    else:
        # Ops without outputs (rare, e.g. state writes in some opsets) keep their MIL name.
        mil_name = attrs.get("mil_name")
        name = mil_name if isinstance(mil_name, str) and mil_name else f"{op_type}_{index}"
    return Op(
        index=index,
        name=name,
        op_type=op_type,
        function=function,
        inputs=tuple(inputs),
        outputs=outputs,
        attrs=attrs,
        is_const=is_const,
        block=frame.path,
        parent=frame.parent,
    )


# ---- NeuralNetwork -----------------------------------------------------------------------
