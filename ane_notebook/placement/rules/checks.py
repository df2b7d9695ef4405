"""The checks behind the rule table, and the small helpers they share.

Each `check_*` function answers one rule of `table.py` for one op: None when the rule does not
fire, else the values that fill the rule's reason. Checks read only what the graph holds:
shapes, dtypes and the constant attributes the loader puts in `Op.attrs`. Missing data means
*unknown*, and a limit check never fires on unknown data: we would rather miss a fallback than
invent one the user cannot find in their model. The thresholds the checks compare against live
here too, each with its source.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...model.graph import FLOAT_DTYPES, INT_DTYPES, Op
from .attrs import int_attr, int_list_attr, num_list_attr, shape_str, str_attr
from .engine import ANE_DISPATCHES, Details, RuleContext
from .vocab import CHANNEL_FIRST_OPS


def always(op: Op, ctx: RuleContext) -> Details | None:
    """Check for rules that fire on every op of their types."""
    return {}


# --------------------------------------------------------------------------------------------
# A1. Dtype (ML Programs only: NeuralNetwork layers compute in fp16 on the ANE whatever the
# declared types, docs/evidence.md#dtype.fp32).

_FP16_FP32 = frozenset({"fp16", "fp32"})
# Integer tensors wider than 8 bits: integer arithmetic and casts to int16/int32 leave the ANE
# (docs/evidence.md#rules.INT_COMPUTE; Anemll/Anemll:anemll/utils/ANE_PROFILER.md).
_INT_COMPUTE = frozenset({"int16", "uint16", "int32", "uint32", "int64", "uint64"})
# Every dtype the loader can name; anything else (e.g. "unknown(999)" from a newer or damaged
# spec) is a type no rule speaks for.
_KNOWN_DTYPES = FLOAT_DTYPES | INT_DTYPES | {"bool", "string"}


def _nominal_dtypes(op: Op) -> bool:
    """True for ops whose recorded dtypes are placeholders: the loader records NeuralNetwork
    layer outputs as fp32 with this marker, because NN specs declare no compute dtype."""
    return bool(op.attrs.get("nn_precision_unknown"))


def _is_boundary_cast(op: Op, ctx: RuleContext) -> bool:
    if op.op_type != "cast":
        return False
    dtypes = {t.dtype for t in ctx.tensors_of(op)}
    return dtypes == _FP16_FP32


def check_fp32(op: Op, ctx: RuleContext) -> Details | None:
    if _nominal_dtypes(op):
        return None
    for t in ctx.tensors_of(op):
        if t.dtype == "fp32":
            if _is_boundary_cast(op, ctx):
                return None  # dtype.fp32_cast decides, chip by chip
            return {"tensor": t.name}
    return None


def check_fp32_cast(op: Op, ctx: RuleContext) -> Details | None:
    # M4-class: boundary casts were measured ANE-preferred (CML, Vx#435, M4, 2026 stack).
    if ctx.ane_family >= 4 or not _is_boundary_cast(op, ctx):
        return None
    src = next((t for t in ctx.tensors_of(op)[len(op.outputs) :]), None)
    dst = op.outputs[0] if op.outputs else None
    if src is None or dst is None:
        return None
    side = "input" if src.dtype == "fp32" else "output"
    return {"side": side, "src": src.dtype, "dst": dst.dtype}


def check_int(op: Op, ctx: RuleContext) -> Details | None:
    if _nominal_dtypes(op):
        return None
    # A run-time shape/begin/reps argument is not integer compute: `shape.dynamic` reports it.
    skip = _shape_arg_names(op)
    for t in ctx.tensors_of(op):
        if t.dtype in _INT_COMPUTE and t.name not in skip:
            return {"tensor": t.name, "dtype": t.dtype}
    return None


def check_unknown_dtype(op: Op, ctx: RuleContext) -> Details | None:
    for t in ctx.tensors_of(op):
        if t.dtype not in _KNOWN_DTYPES:
            return {"tensor": t.name, "dtype": t.dtype}
    return None


# --------------------------------------------------------------------------------------------
# A2. Rank and per-axis extent.

# The ANE compiler reasons in a 5-D layout N, D, C, H, W; the MIL last axis maps to W (a Core ML
# error spelt input [1, 240000] as N1D1C1H1W240000). Lower ranks are right-aligned; the rank-3
# mapping is our guess (docs/evidence.md#rules.LAYOUT).
_GENERIC_LAYOUT: Mapping[int, tuple[str, ...]] = {
    1: ("W",),
    2: ("H", "W"),
    3: ("C", "H", "W"),
    4: ("N", "C", "H", "W"),
    5: ("N", "D", "C", "H", "W"),
}
# `CHANNEL_FIRST_OPS` keep their channels on C (cap 65536) at every rank.
_CHANNEL_FIRST_LAYOUT: Mapping[int, tuple[str, ...]] = {
    3: ("N", "C", "W"),
    4: ("N", "C", "H", "W"),
    5: ("N", "C", "D", "H", "W"),
}
# N and C extent caps on every family from the M1 (docs/evidence.md#rules.NC_LIMIT).
NC_LIMIT = 65536
# Highest tensor rank the ANE takes (docs/evidence.md#rules.MAX_RANK).
MAX_RANK = 5


def check_rank(op: Op, ctx: RuleContext) -> Details | None:
    for t in ctx.tensors_of(op):
        if t.shape is not None and len(t.shape) > MAX_RANK:
            return {"rank": len(t.shape), "tensor": t.name}
    return None


def check_extent(op: Op, ctx: RuleContext) -> Details | None:
    limit = ctx.chip.max_axis
    layouts = _CHANNEL_FIRST_LAYOUT if op.op_type in CHANNEL_FIRST_OPS else _GENERIC_LAYOUT
    # A linear layer's output width is checked by `linear.vocab`, which has the message Core ML
    # was seen to print for exactly this case.
    skip = frozenset(t.name for t in op.outputs) if op.op_type == "linear" else frozenset()
    for t in ctx.tensors_of(op):
        shape = t.shape
        if shape is None or t.name in skip:
            continue
        # Fast path: nothing can exceed the smallest cap.
        if all(d is None or d <= limit for d in shape):
            continue
        names = layouts.get(len(shape)) or _GENERIC_LAYOUT.get(len(shape))
        if names is None:
            continue  # rank 0 or > 5: `tensor.rank` speaks for it
        dims: dict[str, int | None] = {"N": 1, "D": 1, "C": 1, "H": 1, "W": 1}
        bad = False
        for axis, d in zip(names, shape, strict=True):
            dims[axis] = d
            if d is not None and d > (NC_LIMIT if axis in ("N", "C") else limit):
                bad = True
        if bad:
            text = "".join(f"{a}{'?' if dims[a] is None else dims[a]}" for a in "NDCHW")
            return {"dims": text, "limit": limit, "tensor": t.name}
    return None


# --------------------------------------------------------------------------------------------
# A3. Flexible shapes.


def check_range_flexible(op: Op, ctx: RuleContext) -> Details | None:
    # Core ML runs a range-flexible model on the ANE only at its default shape (OFFICIAL, Apple
    # forum 724930), and MLComputePlan, which we reproduce, plans that shape: a RangeDim model
    # with default 64 had 217/217 ops on the ANE (CML, LuuOW/meridian-mcp runtime_plan.json,
    # tests/data/published). So only an input with no default shape keeps the ANE out; other
    # shapes at run time leave it (coremltools#2370), which the report states for every
    # flexible model.
    if not ctx.range_inputs_without_default:
        return None
    for t in ctx.tensors_of(op):
        # A dimension left unknown (None) in a range-flexible model is one that follows the
        # flexible input. An unknown *rank* (shape None) is just missing data: no finding.
        if t.shape is not None and None in t.shape:
            return {"tensor": t.name, "inputs": ", ".join(ctx.range_inputs_without_default)}
    return None


# Ops whose shape-defining arguments must be compile-time constants: the MIL parameters that
# define the shape, and how many leading inputs are data (for loaders that give no `args`).
# docs/evidence.md#shape.dynamic
DYNAMIC_ARGS: Mapping[str, tuple[tuple[str, ...], int]] = {
    "reshape": (("shape",), 1),
    "slice_by_index": (("begin", "end", "stride", "begin_mask", "end_mask", "squeeze_mask"), 1),
    "slice_by_size": (("begin", "size"), 1),
    "slice_update": (("begin", "end", "stride", "begin_mask", "end_mask", "squeeze_mask"), 2),
    "tile": (("reps",), 1),
    "pad": (("pad",), 1),
    "fill": (("shape",), 0),
}


def _shape_arg_names(op: Op) -> frozenset[str]:
    """Tensor names bound to the shape-defining parameters of `op` (needs the loader's
    `attrs["args"]`; empty otherwise)."""
    spec = DYNAMIC_ARGS.get(op.op_type)
    args = op.attrs.get("args")
    if spec is None or not isinstance(args, Mapping):
        return frozenset()
    return frozenset(n for p in spec[0] for n in args.get(p, ()) if isinstance(n, str))


def check_dynamic(op: Op, ctx: RuleContext) -> Details | None:
    spec = DYNAMIC_ARGS.get(op.op_type)
    if spec is None:
        return None
    params, n_data = spec
    args = op.attrs.get("args")
    if isinstance(args, Mapping):
        for param in params:
            for name in args.get(param, ()):
                if isinstance(name, str) and ctx.is_runtime(op, name):
                    return {"arg": param}
        return None
    # No parameter names: anything after the data inputs that is computed at run time.
    data = op.inputs[:n_data]
    for name in op.inputs[n_data:]:
        if name not in data and ctx.is_runtime(op, name):
            return {"arg": name}
    return None


def check_layer_norm_rank3(op: Op, ctx: RuleContext) -> Details | None:
    if not ctx.has_enumerated:
        return None
    x = ctx.arg_tensor(op, "x", 0)
    shape = x.shape if x is not None else (op.outputs[0].shape if op.outputs else None)
    if shape is not None and len(shape) == 3:
        return {"shape": shape_str(shape)}
    return None


def check_nested(op: Op, ctx: RuleContext) -> Details | None:
    if not op.block and op.parent is None:
        return None
    parent = "a control-flow op"
    ops = ctx.graph.ops
    if op.parent is not None and 0 <= op.parent < len(ops) and ops[op.parent].index == op.parent:
        parent = f"{ops[op.parent].op_type} {ops[op.parent].name}"
    return {"parent": parent}


def check_unknown(op: Op, ctx: RuleContext) -> Details | None:
    return None if ctx.is_known(op) else {}


def check_non_neural_stage(op: Op, ctx: RuleContext) -> Details | None:
    stage = op.attrs.get("pipeline_stage")
    return None if stage is None else {"stage": stage}


# --------------------------------------------------------------------------------------------
# A4. Per-op limits.


def check_trig_gate(op: Op, ctx: RuleContext) -> Details | None:
    # sin/cos and the hardware random generator arrive with the M3 class
    # (docs/evidence.md#devices.ane_trig).
    return None if ctx.chip.ane_trig else {}


def check_texture(op: Op, ctx: RuleContext) -> Details | None:
    return None if ctx.chip.texture_engine else {}


def _pad_amounts(op: Op) -> tuple[int, ...] | None:
    pads = int_list_attr(op, "pad", "pad_amounts")
    if pads is None or len(pads) % 2:
        return None
    return pads


def check_pad_channel(op: Op, ctx: RuleContext) -> Details | None:
    pads = _pad_amounts(op)
    if pads is None:
        return None
    # MIL pads the last len(pad)/2 axes, in order. Only the last two (H, W) may be padded on
    # the ANE: "Channel padding is not supported on ANE" (RE, ane-guide ch.17 Pad validator).
    m = len(pads) // 2
    for i in range(m):
        from_end = m - i
        if from_end > 2 and (pads[2 * i] or pads[2 * i + 1]):
            return {"axis": -from_end}
    return None


_TEXTURE_PAD_MODES = frozenset({"reflect", "symmetric", "reflection"})


def check_pad_mode(op: Op, ctx: RuleContext) -> Details | None:
    mode = str_attr(op, "mode")
    if mode is None or mode.lower() not in _TEXTURE_PAD_MODES or ctx.chip.texture_engine:
        return None
    return {"mode": mode}


# Kernel height cap of one ANE convolution in large-kernel mode, the mode whose width cap is
# `ChipProfile.conv_kernel_max` (docs/evidence.md#rules.CONV_KERNEL_H_MAX).
CONV_KERNEL_H_MAX_M1_CLASS = 29
CONV_KERNEL_H_MAX = 32


def _conv_kernel(op: Op) -> tuple[int, ...] | None:
    if op.op_type == "convolution":  # NN layer: kernelSize = [kH, kW]
        return int_list_attr(op, "kernelSize", "kernel_size")
    w = int_list_attr(op, "weight_shape")
    if w is None or len(w) < 3:
        return None
    return w[2:]  # MIL weights: (C_out, C_in/groups, *kernel) (conv_transpose: C_in first)


def check_conv_kernel(op: Op, ctx: RuleContext) -> Details | None:
    # One ANE call takes a kernel up to the chip's caps; Core ML splits a larger one into
    # tiles that each fit, one call per tile (docs/evidence.md#conv.kernel). Kernel depth (3-D
    # convolutions) is not counted: nobody measured it.
    kernel = _conv_kernel(op)
    if not kernel:
        return None
    width, height = kernel[-1], kernel[-2] if len(kernel) >= 2 else 1
    w_max = ctx.chip.conv_kernel_max
    h_max = CONV_KERNEL_H_MAX_M1_CLASS if ctx.ane_family == 1 else CONV_KERNEL_H_MAX
    calls = max(1, -(-width // w_max)) * max(1, -(-height // h_max))
    if calls == 1:
        return None
    over = [
        f"{axis} {size} > {cap}"
        for axis, size, cap in (("width", width, w_max), ("height", height, h_max))
        if size > cap
    ]
    return {"kernel": "x".join(map(str, kernel)), "over": ", ".join(over), ANE_DISPATCHES: calls}


def check_conv_groups(op: Op, ctx: RuleContext) -> Details | None:
    groups = int_attr(op, "groups", "nGroups")
    if groups is None or groups <= 1:
        return None
    cin: int | None
    cout: int | None
    if op.op_type == "convolution":
        kc = int_attr(op, "kernelChannels")
        cin = kc * groups if kc is not None else None
        cout = int_attr(op, "outputChannels")
    else:
        x = ctx.arg_tensor(op, "x", 0)
        cin = x.shape[1] if x is not None and x.shape is not None and len(x.shape) > 1 else None
        out = op.outputs[0].shape if op.outputs else None
        cout = out[1] if out is not None and len(out) > 1 else None
    for name, c in (("input", cin), ("output", cout)):
        if c is not None and c % groups:
            return {"side": name, "channels": c, "groups": groups}
    return None


def check_linear_rank(op: Op, ctx: RuleContext) -> Details | None:
    x = ctx.arg_tensor(op, "x", 0)
    if x is not None and x.shape is not None and len(x.shape) >= 5:
        return {"rank": len(x.shape)}
    return None


def check_linear_vocab(op: Op, ctx: RuleContext) -> Details | None:
    out: int | None
    if op.op_type == "innerProduct":
        out = int_attr(op, "outputChannels")
    else:
        out = None
        shape = op.outputs[0].shape if op.outputs else None
        if shape:
            out = shape[-1]
        if out is None:
            w = int_list_attr(op, "weight_shape")
            out = w[0] if w else None
    limit = ctx.chip.max_axis
    if out is not None and out > limit:
        return {"outputs": out, "limit": limit}
    return None


def check_matmul_depth(op: Op, ctx: RuleContext) -> Details | None:
    for i, param in enumerate(("x", "y")):
        t = ctx.arg_tensor(op, param, i)
        if t is None or t.shape is None or len(t.shape) != 5:
            continue
        depth = t.shape[1]  # rank 5 maps onto N, D, C, H, W: axis 1 is the depth
        if depth is not None and depth > 1:
            return {"depth": depth, "tensor": t.name}
    return None


# 1x16x2048x64, the smallest attention measured ANE-preferred (vx-lang/Vx#437;
# docs/evidence.md#rules.SDPA_ANE_MIN_ELEMENTS).
SDPA_ANE_MIN_ELEMENTS = 2**21


def check_sdpa_small(op: Op, ctx: RuleContext) -> Details | None:
    sizes = []
    for i, param in enumerate(("query", "key", "value")):
        t = ctx.arg_tensor(op, param, i)
        n = t.num_elements if t is not None else None
        if n is None:
            return None  # unknown: no finding
        sizes.append(n)
    largest = max(sizes)
    if largest < SDPA_ANE_MIN_ELEMENTS:
        return {"elements": largest, "threshold": SDPA_ANE_MIN_ELEMENTS}
    return None


# State widths that worked on the ANE (docs/evidence.md#rules.STATE_WIDTH_MULTIPLE;
# apple/coremltools#2631).
STATE_WIDTH_MULTIPLE = 32


def check_state_width(op: Op, ctx: RuleContext) -> Details | None:
    for t in ctx.tensors_of(op):
        if t.shape and t.shape[-1] is not None and t.shape[-1] % STATE_WIDTH_MULTIPLE:
            return {"width": t.shape[-1], "tensor": t.name}
    return None


# The only upsampling factor Core ML's validation accepted for the ANE (hollance/neural-engine#2;
# docs/evidence.md#rules.UPSAMPLE_FACTOR_MAX).
UPSAMPLE_FACTOR_MAX = 2


def check_upsample_factor(op: Op, ctx: RuleContext) -> Details | None:
    factors: list[float] = []
    for key in (
        "scalingFactor",
        "fractionalScalingFactor",
        "scale_factor_height",
        "scale_factor_width",
    ):
        got = num_list_attr(op, key)
        if got is not None:
            factors += got
    if factors and max(factors) > UPSAMPLE_FACTOR_MAX:
        return {"factor": f"{max(factors):g}"}
    return None


# --------------------------------------------------------------------------------------------
# A5. NeuralNetwork layers.


# NeuralNetwork pooling width limits (docs/evidence.md#rules.NN_POOL_KERNEL_MAX,
# docs/evidence.md#rules.NN_POOL_STRIDE_MAX; hollance/neural-engine#2).
NN_POOL_KERNEL_MAX = 13
NN_POOL_STRIDE_MAX = 2


def check_nn_pooling(op: Op, ctx: RuleContext) -> Details | None:
    if op.attrs.get("globalPooling") is True:
        return None  # a global pool has no kernel of its own
    # kernelSize and stride are [height, width]; Core ML's warnings were about the width (the
    # kernel width and stride_x), and nothing measured a limit on the height.
    for what, key, limit in (
        ("kernel", "kernelSize", NN_POOL_KERNEL_MAX),
        ("stride", "stride", NN_POOL_STRIDE_MAX),
    ):
        sizes = int_list_attr(op, key)
        if sizes is not None and sizes[-1] > limit:
            return {"what": f"{what} width", "value": "x".join(map(str, sizes)), "limit": limit}
    return None
