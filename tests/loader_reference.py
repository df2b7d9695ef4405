"""The ML program reader as model/mlprogram.py and model/mil_types.py had it before issue 14's
loader pass (commit 66e2c78), `GraphBuilder.check_shapes` as it was then and `check_order` as it
was at fc2be30 (model/builder.py), kept as the plain reference tests/test_loader_fastpaths.py
holds the fast paths to: every field read through the general path, inputs sorted per op, every
tensor's shape checked, (function, name) keys. Only the imports changed (absolute; the package's
`Op`, `TensorInfo` and type decoding, so the graphs compare equal).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ane_notebook.model.builder import Frame, GraphBuilder, _shape_problem, q, too_many
from ane_notebook.model.graph import Op, Shape, TensorInfo
from ane_notebook.model.interface import default_function
from ane_notebook.model.limits import (
    MAX_BLOCKS_PER_OP,
    MAX_CONST_ELEMENTS,
    MAX_FUNCTIONS,
    MAX_NESTING,
)
from ane_notebook.model.mil_types import (
    _BYTES_NP_DTYPES,
    NO_VALUE,
    _reshape,
    mil_type_info,
    param_order,
)
from ane_notebook.model.proto import MIL_pb2, Model_pb2

_WEIGHT_PARAMS: Mapping[str, tuple[str, ...]] = {
    "conv": ("weight",),
    "conv_transpose": ("weight",),
    "linear": ("weight",),
    "matmul": ("y", "x"),
}
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


def small_value(value: MIL_pb2.Value) -> Any:
    """Python value of an immediate tensor with at most MAX_CONST_ELEMENTS, else NO_VALUE."""
    if value.WhichOneof("value") != "immediateValue":
        return NO_VALUE  # blob-file values are weights: never read
    iv = value.immediateValue
    if iv.WhichOneof("value") != "tensor":
        return NO_VALUE
    tv = iv.tensor
    kind = tv.WhichOneof("value")
    if kind == "strings":
        # A scalar string (every MIL op's "name" attribute): what the general path below gives
        # for shape () and one value, without decoding the type (a third of the loader's time
        # went here on 50k ops; GitHub issue 14).
        vt = value.type
        if vt.WhichOneof("type") == "tensorType":
            tt = vt.tensorType
            strings = tv.strings.values
            if tt.rank == 0 and not tt.dimensions and len(strings) == 1:
                return str(strings[0])
    shape, dtype = mil_type_info(value.type)
    flat: list[Any]
    if kind == "bytes":
        raw = tv.bytes.values
        np_dtype = _BYTES_NP_DTYPES.get(dtype)
        if np_dtype is None:
            return NO_VALUE  # packed sub-byte or bf16 data: not a parameter rules read
        import numpy as np  # local: most models have no byte-packed small values

        itemsize = np.dtype(np_dtype).itemsize
        if len(raw) > MAX_CONST_ELEMENTS * itemsize or len(raw) % itemsize:
            return NO_VALUE
        flat = np.frombuffer(raw, dtype=np_dtype).tolist()
    elif kind is None:
        return NO_VALUE
    else:
        values = getattr(tv, kind).values
        if len(values) > MAX_CONST_ELEMENTS:
            return NO_VALUE
        flat = list(values)
        if kind in ("floats", "doubles"):
            flat = [float(v) for v in flat]
        elif kind in ("ints", "longInts"):
            flat = [int(v) for v in flat]
        elif kind == "bools":
            flat = [bool(v) for v in flat]
        else:
            flat = [str(v) for v in flat]
    if not flat:
        return () if shape != () else NO_VALUE
    return _reshape(flat, shape)


def check_shapes(builder: GraphBuilder, interface: Iterable[TensorInfo]) -> None:
    """`GraphBuilder.check_shapes` as it was: every tensor's shape checked."""
    tensors = itertools.chain(
        builder.function_inputs.values(), (t for op in builder.ops for t in op.outputs), interface
    )
    for t in tensors:
        problem = _shape_problem(t.shape)
        if problem is not None:
            raise builder.fail(f"tensor {q(t.name)} declares {problem}")


def check_order(builder: GraphBuilder) -> None:
    """`GraphBuilder.check_order` as it was at fc2be30: (function, name) keys, the first and
    last producers of every tensor."""
    first: dict[tuple[str, str], int] = {}
    last: dict[tuple[str, str], int] = {}
    for op in builder.ops:
        for t in op.outputs:
            key = (op.function, t.name)
            first.setdefault(key, op.index)
            last[key] = op.index
    for op in builder.ops:
        for name in op.inputs:
            key = (op.function, name)
            src = last.get(key)
            if src is None or src < op.index or key in builder.function_inputs:
                continue
            if first[key] < op.index:
                raise builder.fail(
                    f"tensor {q(name)} is produced twice (by ops #{first[key]} and #{src}) "
                    f"and op {q(op.name)} reads it in between (tensor names must be "
                    "unique)"
                )
            raise builder.fail(
                f"op {q(op.name)} reads {q(name)} before it is produced (cycle or ops out of order)"
            )
