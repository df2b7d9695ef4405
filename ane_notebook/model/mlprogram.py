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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .builder import Frame, GraphBuilder, q, too_many
from .graph import Op, Shape, TensorInfo, new_op, new_tensor
from .interface import default_function
from .limits import MAX_BLOCKS_PER_OP, MAX_FUNCTIONS, MAX_NESTING
from .mil_types import NO_VALUE, is_scalar_string, mil_type_info, param_order, small_value
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


@dataclass(frozen=True, slots=True)
class _OpKind:
    """What an op's type string decides, worked out once per distinct type string."""

    op_type: str  # without an opset prefix ("ios18.cast" -> "cast")
    opset_type: str | None  # the prefixed spelling, when there was one
    is_const: bool
    order: Mapping[str, int]  # `param_order`
    weight_params: tuple[str, ...]  # `_WEIGHT_PARAMS`


def _op_kind(raw_type: str) -> _OpKind:
    m = _OPSET_PREFIX.match(raw_type)
    op_type = m.group(1) if m else raw_type
    return _OpKind(
        op_type=op_type,
        opset_type=raw_type if m else None,
        is_const=op_type == "const" or op_type.startswith("constexpr_"),
        order=param_order(op_type),
        weight_params=_WEIGHT_PARAMS.get(op_type, ()),
    )


@dataclass(slots=True)
class _FunctionState:
    """What one function's ops share while they are read (see `_add_mil_function`)."""

    # Values of small consts and shapes of all const-like outputs, so that consumers can pick
    # up parameters and weight shapes in O(1).
    const_values: dict[str, Any] = field(default_factory=dict)
    const_shapes: dict[str, Shape | None] = field(default_factory=dict)
    # Each read of a protobuf string field makes a new str: a value's name is read once where
    # it is made and again by each op that reads it (and as the op's MIL name). One str object
    # per distinct name instead (with `Op`/`TensorInfo` slotted, the 50k-op benchmark LLM's
    # graph went from 56 to 37 MB; GitHub issue 14).
    interned: dict[str, str] = field(default_factory=dict)
    # Per op type string, its `_OpKind`; per (op type, parameter names in map order), the
    # names in `param_order` (interned). A 50k-op LLM has a few dozen of each: a dict look-up
    # instead of a regex match, a sort with a key function per op and an intern per parameter
    # (issue 14).
    kinds: dict[str, _OpKind] = field(default_factory=dict)
    orders: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = field(default_factory=dict)


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
    state = _FunctionState()
    ops = builder.ops
    builder.check_op_count(len(block.operations))
    stack = [Frame(iter(block.operations), (), None, 0)]
    op_limit = builder.op_limit  # (tested here, not by a method call per op: issue 14)
    while stack:
        frame = stack[-1]
        for op_pb in frame.ops:
            index = len(ops)
            if index >= op_limit:
                builder.check_op_count()  # raises
            op_blocks = op_pb.blocks
            op = _mil_op(op_pb, op_blocks, index, function, frame, state)
            ops.append(op)
            if op_blocks:
                _push_blocks(builder, stack, frame, op, op_blocks)
                break  # walk the blocks first (depth-first), then the rest of this frame
        else:
            stack.pop()


def _push_blocks(
    builder: GraphBuilder,
    stack: list[Frame],
    frame: Frame,
    op: Op,
    blocks: Sequence[MIL_pb2.Block],
) -> None:
    """Put the blocks of `op` (in `frame`) on `stack`, block0 on top, after checking limits."""
    if frame.depth + 1 > MAX_NESTING:
        raise builder.fail(f"blocks nested deeper than {MAX_NESTING} levels")
    if len(blocks) > MAX_BLOCKS_PER_OP:
        raise builder.fail(
            too_many("blocks", MAX_BLOCKS_PER_OP, count=len(blocks), where=f"op {q(op.name)}")
        )
    # Push in reverse so that block0 is walked first (depth-first, in order).
    for bi in reversed(range(len(blocks))):
        sub = blocks[bi]
        builder.check_op_count(len(sub.operations))
        for nvt in sub.inputs:
            shape, dtype = mil_type_info(nvt.type)
            builder.function_inputs[(op.function, nvt.name)] = TensorInfo(nvt.name, shape, dtype)
        stack.append(
            Frame(
                iter(sub.operations),
                (*frame.path, op.name, f"block{bi}"),
                op.index,
                frame.depth + 1,
            )
        )


def _mil_op(
    op_pb: MIL_pb2.Operation,
    blocks: Sequence[MIL_pb2.Block],
    index: int,
    function: str,
    frame: Frame,
    state: _FunctionState,
) -> Op:
    # (Protobuf field reads are the loader's main cost on big models: each is read once.)
    intern = state.interned.setdefault
    raw_type = op_pb.type
    kind = state.kinds.get(raw_type)
    if kind is None:
        kind = state.kinds[raw_type] = _op_kind(intern(raw_type, raw_type))
    op_type = kind.op_type
    attrs: dict[str, Any] = {}
    if kind.opset_type is not None:
        attrs["opset_type"] = kind.opset_type
    outs: list[TensorInfo] = []
    for o in op_pb.outputs:
        n = o.name
        shape, dtype = mil_type_info(o.type)
        outs.append(new_tensor(intern(n, n), shape, dtype))
    outputs = tuple(outs)
    attributes = op_pb.attributes
    for key in attributes:  # (not .items(): a Python-level view over the C map)
        value = attributes[key]
        if key == "name" and outputs and is_scalar_string(value, outputs[0].name):
            attrs["mil_name"] = outputs[0].name  # (interned: the name's one str)
            continue
        v = small_value(value)
        if v is NO_VALUE:
            continue
        if key == "name":
            attrs["mil_name"] = intern(v, v) if isinstance(v, str) else v
        else:
            attrs[intern(key, key)] = v

    # Input names in order, each once (a dict: first-seen order, O(1) membership).
    inputs: dict[str, None] = {}
    args: dict[str, tuple[str, ...]] = {}
    const_values = state.const_values
    params = op_pb.inputs
    if params:
        map_order = tuple(params)
        order = state.orders.get((op_type, map_order))
        if order is None:
            rank = kind.order
            order = tuple(
                intern(k, k)
                for k in sorted(map_order, key=lambda k: (k != "x", rank.get(k, 1 << 30), k))
            )
            state.orders[(op_type, map_order)] = order
        for key in order:
            bindings = params[key].arguments
            if len(bindings) == 1:
                # The common case, one binding, read once: a name (then a const's value is the
                # parameter's value) or an immediate value.
                binding = bindings[0]
                n = binding.name
                if n or binding.WhichOneof("binding") == "name":
                    n = intern(n, n)
                    args[key] = (n,)
                    inputs[n] = None
                    if key not in attrs and n in const_values:
                        attrs[key] = const_values[n]
                elif key not in attrs:
                    v = small_value(binding.value)
                    if v is not NO_VALUE:
                        attrs[key] = v
                continue
            names: list[str] = []
            for binding in bindings:
                if binding.WhichOneof("binding") == "name":
                    n = binding.name
                    n = intern(n, n)
                    names.append(n)
                    inputs[n] = None
            if names:
                args[key] = tuple(names)
    if args:
        attrs["args"] = args
    if blocks:
        # The parent's outputs are its blocks' outputs (the taken branch, the final loop
        # state); name them so that analyses can follow data out of the blocks.
        attrs["block_outputs"] = tuple(tuple(b.outputs) for b in blocks)
    for key in kind.weight_params:
        bound = args.get(key)
        if bound and len(bound) == 1 and bound[0] in state.const_shapes:
            attrs["weight_shape"] = state.const_shapes[bound[0]]
            if len(kind.weight_params) > 1:
                attrs["weight_input"] = key
            break
    ws = attrs.get("weight_shape")
    if op_type in ("conv", "conv_transpose") and ws is not None and len(ws) >= 3:
        attrs["kernel_size"] = tuple(ws[2:])

    if kind.is_const:
        for o in outputs:
            state.const_shapes[o.name] = o.shape
        if op_type == "const" and len(outputs) == 1 and "val" in attrs:
            const_values[outputs[0].name] = attrs["val"]

    if outputs:
        name = outputs[0].name
    else:
        # Ops without outputs (rare, e.g. state writes in some opsets) keep their MIL name.
        mil_name = attrs.get("mil_name")
        name = mil_name if isinstance(mil_name, str) and mil_name else f"{op_type}_{index}"
    return new_op(
        index,
        name,
        op_type,
        function,
        tuple(inputs),
        outputs,
        attrs,
        kind.is_const,
        frame.path,
        frame.parent,
    )


# ---- NeuralNetwork -----------------------------------------------------------------------
