"""The support-rules table: which processors each Core ML op *can* run on, and why not the others.

This module answers one question per op, without Core ML: "could this op run on the Neural
Engine (ANE), the GPU, the CPU?" It is data. Every `Rule` names what it matches, which
processors it rules out, the reason a user reads (the verbatim compiler/Core ML string where one
is known, `ane-rules.md` §A8), a fix, and its evidence level and source (`ane-rules.md`, the
evidence base in `/work/shared/knowledge`). `op_support` runs the rules that apply to one op;
`support_for_graph` does it for a whole graph. *Where* each op finally runs (the cost-based
choice among the supported devices) is decided by `estimate.py`, not here: small-work effects
(ane-rules.md §A6) are deliberately not rules.

An op is ANE-capable by default when its type is in `KNOWN_OP_TYPES` and no rule fires
(`ANE_CAPABLE` gives the evidence for each such type); an op type the table does not know is
kept off the ANE by the `op.unknown` rule (GUESS). The CPU is never excluded: Core ML can always
fall back to it (BNNS / classic CPU). Rules are indexed by (format, op type), so each op is only
checked against the few rules that can match it plus the cheap generic ones. The format is the
graph's ("mlprogram" / "neuralnetwork"); in a pipeline each op keeps its own stage's format.

Rules read only what the graph holds: shapes, dtypes and the constant attributes the loader puts
in `Op.attrs`. Missing data means *unknown*, and a limit rule never fires on unknown data: we
would rather miss a fallback than invent one the user cannot find in their model.

Decisions on conflicting evidence (ane-rules.md §D says: prefer what Core ML itself was measured
to do over the private direct-ANE path):

* fp32: every fp32-typed ML Program op is off the ANE (OFFICIAL). The fp32<->fp16 *boundary*
  cast is off the ANE on M1..M3-class chips (CML, M1-family E5 analytics) and allowed on
  M4-class (CML, Vx#435 on M4); M3 was not measured, we keep the older behaviour there.
* Integers: int16/int32/int64 (and unsigned) tensors are off the ANE (CML Anemll profiler,
  RE ane-guide). int8/uint8 stay allowed (W8A8 activations are OFFICIAL on newer chips).
  The Core AI authoring rules list int16 as an ANE dtype, but Core ML was measured to move int16
  casts off the ANE, so the Core ML view wins.
* bool: not a reason on its own. The claim that the ANE has no bool tensors is a write-up
  (GUESS) and Core ML keeps `torch.where`-style masks on the ANE (CML, smpanaro NOTES).
* topk/argsort: off the ANE on every chip. Core ML placed them on the CPU on an M3 Pro (CML,
  rf-detr#1495) although the direct path runs them from M2 (`ChipProfile.ane_sort`, RE).
* gather family: off the ANE on every chip (CML/OFF); the RE "hardware gather from M2" is a
  direct-path result Core ML's planner does not use (it has no cost tree for gather, RE).
* LSTM/GRU/RNN: never ANE (OFFICIAL) and measured on BNNS, i.e. the CPU (CML): two rules, so the
  GPU exclusion carries its own, weaker, evidence.
* resize/crop_resize/resample/affine: gated on the texture engine (RE); upsample_* are not
  (upsampling measured on the ANE on pre-texture-engine chips, CML hollance).
* conv kernel: width is checked against `chip.conv_kernel_max` (13 on M1-class, 16 later, RE);
  height against the large-mode height cap of the same tables (29 / 32, RE ane-guide App. A).
* scaled_dot_product_attention: "small" means the *largest* of Q/K/V is under 2**21 elements
  (Vx#437 measured equal shapes; a decode step with a long K/V cache is not called small).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..model.graph import FLOAT_DTYPES, INT_DTYPES, Graph, Op, TensorInfo
from .devices import ChipProfile, Device, Evidence, get_chip

ALL_DEVICES: frozenset[Device] = frozenset(Device)
_ANE: frozenset[Device] = frozenset({Device.ANE})
_GPU: frozenset[Device] = frozenset({Device.GPU})

MLPROGRAM = "mlprogram"
NEURALNETWORK = "neuralnetwork"
_BOTH = frozenset({MLPROGRAM, NEURALNETWORK})
_MLP = frozenset({MLPROGRAM})
_NN = frozenset({NEURALNETWORK})

Details = Mapping[str, object]


@dataclass(frozen=True)
class Rule:
    """One row of the support table.

    `check(op, ctx)` returns None when the rule does not fire, else the values that fill
    `reason` (`{chip}`, `{op}` and `{op_type}` are always available as well).
    """

    id: str
    applies_to: str
    op_types: frozenset[str] | None
    excludes: frozenset[Device]
    reason: str
    fix: str
    evidence: Evidence
    source: str
    check: Callable[[Op, RuleContext], Details | None]
    formats: frozenset[str] = _BOTH


@dataclass(frozen=True, eq=False)
class RuleContext:
    """What rules may look at besides the op: the graph, the chip, and cached lookups.

    Build one per (graph, chip); the caches assume `op.index` identifies an op of `graph`.
    """

    graph: Graph
    chip: ChipProfile
    _io: dict[int, tuple[TensorInfo, ...]] = field(default_factory=dict, repr=False)

    def format_of(self, op: Op) -> str:
        """ "mlprogram" or "neuralnetwork": the graph's format, or for pipelines (which mix
        stages) the op's own, told by the loader's NeuralNetwork marker attributes."""
        fmt = self.graph.format
        if fmt in _BOTH:
            return fmt
        attrs = op.attrs
        if "nn_precision_unknown" in attrs or "layer_name" in attrs:
            return NEURALNETWORK
        return MLPROGRAM

    def is_known(self, op: Op) -> bool:
        if "pipeline_stage" in op.attrs:
            return True  # a non-neural pipeline stage: `op.non_neural_stage` covers it
        return op.op_type in _KNOWN_BY_FORMAT[self.format_of(op)]

    @cached_property
    def runtime(self) -> Mapping[tuple[str, str], TensorInfo]:
        """(function, name) -> tensor, for values computed at run time: function inputs and
        outputs of non-const ops. Weights and other constants are left out on purpose: they
        are folded at compile time, so their dtype and shape say nothing about the op's
        placement (an int32 `shape` argument of a reshape is not integer compute)."""
        out: dict[tuple[str, str], TensorInfo] = dict(self.graph.function_inputs)
        for op in self.graph.ops:
            if not op.is_const:
                for t in op.outputs:
                    out[(op.function, t.name)] = t
        return out

    @cached_property
    def range_inputs(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.graph.flexible_inputs if f.kind == "range")

    @cached_property
    def range_inputs_without_default(self) -> tuple[str, ...]:
        """Range-flexible inputs with no usable default shape (none given, or a 0 in it)."""
        return tuple(
            f.name
            for f in self.graph.flexible_inputs
            if f.kind == "range" and (not f.default_shape or 0 in f.default_shape)
        )

    @cached_property
    def has_enumerated(self) -> bool:
        return any(f.kind == "enumerated" for f in self.graph.flexible_inputs)

    @cached_property
    def ane_family(self) -> int:
        """The ane-rules.md §A7 family (1 = M1-class ... 4 = M4/M5-class) read back from the
        chip's capability gates."""
        c = self.chip
        if c.max_axis >= 65536:
            return 4
        if c.ane_trig:
            return 3
        return 2 if c.texture_engine else 1

    def tensors_of(self, op: Op) -> tuple[TensorInfo, ...]:
        """The op's outputs followed by its run-time inputs (constants left out, see
        `runtime`), without duplicates. Cached per op."""
        got = self._io.get(op.index)
        if got is None:
            rt = self.runtime
            seen = {t.name for t in op.outputs}
            ins: list[TensorInfo] = []
            for name in op.inputs:
                if name in seen:
                    continue
                seen.add(name)
                t = rt.get((op.function, name))
                if t is not None:
                    ins.append(t)
            got = op.outputs + tuple(ins)
            self._io[op.index] = got
        return got

    def arg_tensor(self, op: Op, param: str, index: int) -> TensorInfo | None:
        """The tensor bound to MIL parameter `param` (constant or not), from the loader's
        `attrs["args"]`; without it, the `index`-th input. None when unknown."""
        args = op.attrs.get("args")
        if isinstance(args, Mapping):
            bound = args.get(param)
            if not bound or len(bound) != 1:
                return None
            name = bound[0]
        elif index < len(op.inputs):
            name = op.inputs[index]
        else:
            return None
        return self.graph.tensors.get((op.function, name))

    def is_runtime(self, op: Op, name: str) -> bool:
        return (op.function, name) in self.runtime


@dataclass(frozen=True)
class Finding:
    """One rule that fired on one op."""

    rule: Rule
    reason: str
    excludes: frozenset[Device]


@dataclass(frozen=True)
class OpSupport:
    """The devices one op can run on and the findings that removed the others."""

    supported: frozenset[Device]
    findings: tuple[Finding, ...]
    known: bool


# --------------------------------------------------------------------------------------------
# Citations (short forms of ane-rules.md sources).

_AR = "ane-rules.md"
S_TYPED_EXEC = "apple/coremltools: docs-guides/source/typed-execution.md"
S_FREEDOMTAN = "freedomtan/coreml_modelc_profling: without_compute_plan_2.csv"
S_VX435 = "https://github.com/vx-lang/Vx/issues/435"
S_VX437 = "https://github.com/vx-lang/Vx/issues/437"
S_ANEMLL_PROF = "Anemll/Anemll: anemll/utils/ANE_PROFILER.md"
S_GUIDE_A = "sbryngelson/ane-guide: appendices/a-op-device-matrix.md"
S_GUIDE_4 = "sbryngelson/ane-guide ch.4"
S_GUIDE_17 = "sbryngelson/ane-guide ch.17"
S_GUIDE_18 = "sbryngelson/ane-guide ch.18"
S_COREAI_RULES = "apple/coreai-models: neural_engine_rules.md"
S_MOBIUS_MEL = (
    "FluidInference/mobius: models/stt/parakeet-tdt-v2-0.6b/coreml/context/"
    "mel_encoder_ane_behavior.md"
)
S_SMPANARO = "smpanaro/more-ane-transformers: src/experiments/NOTES.md"
S_ANEMLL_LLAMA = "Anemll/Anemll: anemll/models/llama_model.py"
S_CT2631 = "https://github.com/apple/coremltools/issues/2631"
S_FORUM_724930 = "https://developer.apple.com/forums/thread/724930"
S_CT1029 = "https://github.com/apple/coremltools/issues/1029"
S_FAQS = "apple/coremltools: docs-guides/source/faqs.md, flexible-inputs.md"
S_CT1909 = "https://github.com/apple/coremltools/issues/1909"
S_HOLLANCE = "hollance/neural-engine: docs/unsupported-layers.md"
S_HOLLANCE1 = "https://github.com/hollance/neural-engine/issues/1"
S_CT1196 = "https://github.com/apple/coremltools/issues/1196"
S_CT1780 = "https://github.com/apple/coremltools/issues/1780"
S_CT337 = "https://github.com/apple/coremltools/issues/337"
S_FLUID_CAND = "FluidInference/FluidAudio: Documentation/ANE_Candidates.md"
S_CT1278 = "https://github.com/apple/coremltools/issues/1278"
S_RFDETR = "https://github.com/roboflow/rf-detr/pull/1495"
S_INSPECT = "smpanaro/CoreMLInspect README"
S_ANE_TRANSFORMERS = "apple/ml-ane-transformers README"
S_APPLE_ARTICLE = "https://machinelearning.apple.com/research/neural-engine-transformers"
S_VOXCPM = "https://github.com/0seba/VoxCPMANE/issues/15"


# --------------------------------------------------------------------------------------------
# Small helpers for checks. All are defensive: they return None for "unknown".


def _int_attr(op: Op, *keys: str) -> int | None:
    for k in keys:
        v = op.attrs.get(k)
        if isinstance(v, bool):
            continue
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
    return None


def _int_list_attr(op: Op, *keys: str) -> tuple[int, ...] | None:
    for k in keys:
        v = op.attrs.get(k)
        if (
            isinstance(v, (list, tuple))
            and v
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        ):
            return tuple(v)
    return None


def _num_list_attr(op: Op, *keys: str) -> tuple[float, ...] | None:
    for k in keys:
        v = op.attrs.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (float(v),)
        if (
            isinstance(v, (list, tuple))
            and v
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        ):
            return tuple(float(x) for x in v)
    return None


def _str_attr(op: Op, *keys: str) -> str | None:
    for k in keys:
        v = op.attrs.get(k)
        if isinstance(v, str):
            return v
    return None


def _shape_str(shape: tuple[int | None, ...] | None) -> str:
    if shape is None:
        return "?"
    return "x".join("?" if d is None else str(d) for d in shape)


def _always(op: Op, ctx: RuleContext) -> Details | None:
    """Check for rules that fire on every op of their types."""
    return {}


# --------------------------------------------------------------------------------------------
# A1. Dtype (ML Programs only: NeuralNetwork layers compute in fp16 on the ANE whatever the
# declared types, hollance docs/16-bit.md via ane-rules.md §A1).

_FP16_FP32 = frozenset({"fp16", "fp32"})
# Integer tensors wider than 8 bits: integer arithmetic and casts to int16/int32 leave the ANE
# (CML: Anemll profiler; RE: ane-guide App. A "cast to int32 is rejected on the M1").
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


def _check_fp32(op: Op, ctx: RuleContext) -> Details | None:
    if _nominal_dtypes(op):
        return None
    for t in ctx.tensors_of(op):
        if t.dtype == "fp32":
            if _is_boundary_cast(op, ctx):
                return None  # dtype.fp32_cast decides, chip by chip
            return {"tensor": t.name}
    return None


def _check_fp32_cast(op: Op, ctx: RuleContext) -> Details | None:
    # M4-class: boundary casts were measured ANE-preferred (CML, Vx#435, M4, 2026 stack).
    if ctx.ane_family >= 4 or not _is_boundary_cast(op, ctx):
        return None
    src = next((t for t in ctx.tensors_of(op)[len(op.outputs) :]), None)
    dst = op.outputs[0] if op.outputs else None
    if src is None or dst is None:
        return None
    side = "input" if src.dtype == "fp32" else "output"
    return {"side": side, "src": src.dtype, "dst": dst.dtype}


def _check_int(op: Op, ctx: RuleContext) -> Details | None:
    if _nominal_dtypes(op):
        return None
    # A run-time shape/begin/reps argument is not integer compute: `shape.dynamic` reports it.
    skip = _shape_arg_names(op)
    for t in ctx.tensors_of(op):
        if t.dtype in _INT_COMPUTE and t.name not in skip:
            return {"tensor": t.name, "dtype": t.dtype}
    return None


def _check_unknown_dtype(op: Op, ctx: RuleContext) -> Details | None:
    for t in ctx.tensors_of(op):
        if t.dtype not in _KNOWN_DTYPES:
            return {"tensor": t.name, "dtype": t.dtype}
    return None


# --------------------------------------------------------------------------------------------
# A2. Rank and per-axis extent.

# The ANE compiler reasons in a 5-D layout N, D, C, H, W (RE: ane-guide ch.4). The MIL last axis
# maps to W (CML: input [1, 240000] was reported as N1D1C1H1W240000, mobius mel_encoder doc).
# For ranks 3 and 4 we right-align onto C, H, W / N, C, H, W (Apple's preferred (B, C, 1, S)
# layout, OFFICIAL article); the rank-3 mapping is our GUESS.
_GENERIC_LAYOUT: Mapping[int, tuple[str, ...]] = {
    1: ("W",),
    2: ("H", "W"),
    3: ("C", "H", "W"),
    4: ("N", "C", "H", "W"),
    5: ("N", "D", "C", "H", "W"),
}
# Convolution-like ops are channel-first at every rank, so their channels land on C, whose cap
# is 65536 (RE: ane-guide ch.4 "conv channels escape the per-axis cap").
_CHANNEL_FIRST_LAYOUT: Mapping[int, tuple[str, ...]] = {
    3: ("N", "C", "W"),
    4: ("N", "C", "H", "W"),
    5: ("N", "C", "D", "H", "W"),
}
_CHANNEL_FIRST_OPS = frozenset(
    {
        "conv",
        "conv_transpose",
        "conv_quantized",
        "avg_pool",
        "max_pool",
        "l2_pool",
        "batch_norm",
        "instance_norm",
        "upsample_nearest_neighbor",
        "upsample_bilinear",
        "resize_bilinear",
        "resize_nearest_neighbor",
    }
)
# NeuralNetwork layers are not listed: they act on the trailing C, H, W axes at every rank
# (rank-5 blobs are [Seq, Batch, C, H, W], NeuralNetwork.proto), which the generic right-aligned
# layout already maps onto C, H, W.
NC_LIMIT = 65536  # N and C caps on every family from M1 (RE: ane-guide App. A)
MAX_RANK = 5


def _check_rank(op: Op, ctx: RuleContext) -> Details | None:
    for t in ctx.tensors_of(op):
        if t.shape is not None and len(t.shape) > MAX_RANK:
            return {"rank": len(t.shape), "tensor": t.name}
    return None


def _check_extent(op: Op, ctx: RuleContext) -> Details | None:
    limit = ctx.chip.max_axis
    layouts = _CHANNEL_FIRST_LAYOUT if op.op_type in _CHANNEL_FIRST_OPS else _GENERIC_LAYOUT
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


def _check_range_flexible(op: Op, ctx: RuleContext) -> Details | None:
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
_DYNAMIC_ARGS: Mapping[str, tuple[tuple[str, ...], int]] = {
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
    spec = _DYNAMIC_ARGS.get(op.op_type)
    args = op.attrs.get("args")
    if spec is None or not isinstance(args, Mapping):
        return frozenset()
    return frozenset(n for p in spec[0] for n in args.get(p, ()) if isinstance(n, str))


def _check_dynamic(op: Op, ctx: RuleContext) -> Details | None:
    spec = _DYNAMIC_ARGS.get(op.op_type)
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


def _check_layer_norm_rank3(op: Op, ctx: RuleContext) -> Details | None:
    if not ctx.has_enumerated:
        return None
    x = ctx.arg_tensor(op, "x", 0)
    shape = x.shape if x is not None else (op.outputs[0].shape if op.outputs else None)
    if shape is not None and len(shape) == 3:
        return {"shape": _shape_str(shape)}
    return None


def _check_nested(op: Op, ctx: RuleContext) -> Details | None:
    if not op.block and op.parent is None:
        return None
    parent = "a control-flow op"
    ops = ctx.graph.ops
    if op.parent is not None and 0 <= op.parent < len(ops) and ops[op.parent].index == op.parent:
        parent = f"{ops[op.parent].op_type} {ops[op.parent].name}"
    return {"parent": parent}


def _check_unknown(op: Op, ctx: RuleContext) -> Details | None:
    return None if ctx.is_known(op) else {}


def _check_non_neural_stage(op: Op, ctx: RuleContext) -> Details | None:
    stage = op.attrs.get("pipeline_stage")
    return None if stage is None else {"stage": stage}


# --------------------------------------------------------------------------------------------
# A4. Per-op limits.


def _check_trig_gate(op: Op, ctx: RuleContext) -> Details | None:
    # sin/cos and the hardware random generator arrive with the M3 class (RE, §A7).
    return None if ctx.chip.ane_trig else {}


def _check_texture(op: Op, ctx: RuleContext) -> Details | None:
    return None if ctx.chip.texture_engine else {}


def _pad_amounts(op: Op) -> tuple[int, ...] | None:
    pads = _int_list_attr(op, "pad", "pad_amounts")
    if pads is None or len(pads) % 2:
        return None
    return pads


def _check_pad_channel(op: Op, ctx: RuleContext) -> Details | None:
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


def _check_pad_mode(op: Op, ctx: RuleContext) -> Details | None:
    mode = _str_attr(op, "mode")
    if mode is None or mode.lower() not in _TEXTURE_PAD_MODES or ctx.chip.texture_engine:
        return None
    return {"mode": mode}


def _conv_kernel(op: Op) -> tuple[int, ...] | None:
    if op.op_type == "convolution":  # NN layer: kernelSize = [kH, kW]
        return _int_list_attr(op, "kernelSize", "kernel_size")
    w = _int_list_attr(op, "weight_shape")
    if w is None or len(w) < 3:
        return None
    return w[2:]  # MIL weights: (C_out, C_in/groups, *kernel) (conv_transpose: C_in first)


def _check_conv_kernel(op: Op, ctx: RuleContext) -> Details | None:
    kernel = _conv_kernel(op)
    if not kernel:
        return None
    w_max = ctx.chip.conv_kernel_max
    # Kernel height cap of the same "large" mode: 29 on the M1 family, 32 later (RE, App. A).
    h_max = 29 if w_max <= 13 else 32
    kernel_text = "x".join(str(k) for k in kernel)
    if kernel[-1] > w_max:
        return {"kernel": kernel_text, "axis": "width", "size": kernel[-1], "limit": w_max}
    if len(kernel) >= 2 and kernel[-2] > h_max:
        return {"kernel": kernel_text, "axis": "height", "size": kernel[-2], "limit": h_max}
    return None


def _check_conv_groups(op: Op, ctx: RuleContext) -> Details | None:
    groups = _int_attr(op, "groups", "nGroups")
    if groups is None or groups <= 1:
        return None
    cin: int | None
    cout: int | None
    if op.op_type == "convolution":
        kc = _int_attr(op, "kernelChannels")
        cin = kc * groups if kc is not None else None
        cout = _int_attr(op, "outputChannels")
    else:
        x = ctx.arg_tensor(op, "x", 0)
        cin = x.shape[1] if x is not None and x.shape is not None and len(x.shape) > 1 else None
        out = op.outputs[0].shape if op.outputs else None
        cout = out[1] if out is not None and len(out) > 1 else None
    for name, c in (("input", cin), ("output", cout)):
        if c is not None and c % groups:
            return {"side": name, "channels": c, "groups": groups}
    return None


def _check_linear_rank(op: Op, ctx: RuleContext) -> Details | None:
    x = ctx.arg_tensor(op, "x", 0)
    if x is not None and x.shape is not None and len(x.shape) >= 5:
        return {"rank": len(x.shape)}
    return None


def _check_linear_vocab(op: Op, ctx: RuleContext) -> Details | None:
    out: int | None
    if op.op_type == "innerProduct":
        out = _int_attr(op, "outputChannels")
    else:
        out = None
        shape = op.outputs[0].shape if op.outputs else None
        if shape:
            out = shape[-1]
        if out is None:
            w = _int_list_attr(op, "weight_shape")
            out = w[0] if w else None
    limit = ctx.chip.max_axis
    if out is not None and out > limit:
        return {"outputs": out, "limit": limit}
    return None


def _check_matmul_depth(op: Op, ctx: RuleContext) -> Details | None:
    for i, param in enumerate(("x", "y")):
        t = ctx.arg_tensor(op, param, i)
        if t is None or t.shape is None or len(t.shape) != 5:
            continue
        depth = t.shape[1]  # rank 5 maps onto N, D, C, H, W: axis 1 is the depth
        if depth is not None and depth > 1:
            return {"depth": depth, "tensor": t.name}
    return None


SDPA_ANE_MIN_ELEMENTS = 2**21  # 1x16x2048x64: smallest shape measured ANE-preferred (Vx#437)


def _check_sdpa_small(op: Op, ctx: RuleContext) -> Details | None:
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


STATE_WIDTH_MULTIPLE = 32


def _check_state_width(op: Op, ctx: RuleContext) -> Details | None:
    for t in ctx.tensors_of(op):
        if t.shape and t.shape[-1] is not None and t.shape[-1] % STATE_WIDTH_MULTIPLE:
            return {"width": t.shape[-1], "tensor": t.name}
    return None


def _check_upsample_factor(op: Op, ctx: RuleContext) -> Details | None:
    factors: list[float] = []
    for key in (
        "scalingFactor",
        "fractionalScalingFactor",
        "scale_factor_height",
        "scale_factor_width",
    ):
        got = _num_list_attr(op, key)
        if got is not None:
            factors += got
    if factors and max(factors) > 2:
        return {"factor": f"{max(factors):g}"}
    return None


# --------------------------------------------------------------------------------------------
# A5. NeuralNetwork layers.


def _check_nn_pooling(op: Op, ctx: RuleContext) -> Details | None:
    if op.attrs.get("globalPooling") is True:
        return None  # a global pool has no kernel of its own
    kernel = _int_list_attr(op, "kernelSize")
    stride = _int_list_attr(op, "stride")
    if kernel is not None and max(kernel) > 13:
        return {"what": "kernel", "value": "x".join(map(str, kernel)), "limit": 13}
    if stride is not None and max(stride) > 2:
        return {"what": "stride", "value": "x".join(map(str, stride)), "limit": 2}
    return None


# --------------------------------------------------------------------------------------------
# Op-type lists.

_GATHER_TYPES = frozenset(
    {
        "gather",
        "gather_along_axis",
        "gather_nd",
        "gatherND",
        "gatherAlongAxis",
        "embedding",
        "embeddingND",
    }
)
_SCATTER_TYPES = frozenset(
    {"scatter", "scatter_along_axis", "scatter_nd", "scatterND", "scatterAlongAxis"}
)
_SORT_TYPES = frozenset({"topk", "argsort", "topK", "argSort"})
_ARGMAX_TYPES = frozenset({"reduce_argmax", "reduce_argmin", "argMax", "argMin"})
_BAND_PART_TYPES = frozenset({"band_part", "matrixBandPart", "lowerTriangular", "upperTriangular"})
_CONTROL_TYPES = frozenset({"cond", "while_loop", "branch", "loop", "loopBreak", "loopContinue"})
_RECURRENT_TYPES = frozenset(
    {"lstm", "gru", "rnn", "uniDirectionalLSTM", "biDirectionalLSTM", "simpleRecurrent"}
)
_NMS_TYPES = frozenset({"non_maximum_suppression", "NonMaximumSuppression"})
# "No hardware path on any family" (RE: ane-guide ch.4 "Hard limits", App. A), in MIL and NN
# spellings. range_1d is "Bridge" everywhere (code generation rejects it, App. A); tensor-list
# ops are "No path" (App. A).
_NO_PATH_TYPES = frozenset(
    {
        "reduce_prod",
        "mod",
        "logical_and",
        "logical_or",
        "logical_xor",
        "one_hot",
        "non_zero",
        "shape",
        "reverse_sequence",
        "sliding_windows",
        "tan",
        "asin",
        "acos",
        "atanh",
        "sinh",
        "cosh",
        "random_normal",
        "random_bernoulli",
        "random_categorical",
        "range_1d",
        "make_list",
        "list_read",
        "list_write",
        "list_gather",
        "list_scatter",
        "list_length",
        # NeuralNetwork spellings
        "reduceProd",
        "modBroadcastable",
        "logicalAnd",
        "logicalOr",
        "logicalXor",
        "oneHot",
        "whereNonZero",
        "getShape",
        "reverseSeq",
        "slidingWindows",
        "asinh",
        "acosh",
        "randomNormalLike",
        "randomNormalStatic",
        "randomNormalDynamic",
        "randomBernoulliLike",
        "randomBernoulliStatic",
        "randomBernoulliDynamic",
        "categoricalDistribution",
        "rangeStatic",
    }
)
_SIN_COS_TYPES = frozenset({"sin", "cos"})
_RANDOM_UNIFORM_TYPES = frozenset({"random_uniform", "randomUniformLike", "randomUniformStatic"})
_TEXTURE_TYPES = frozenset(
    {
        "resize",
        "resize_bilinear",
        "resize_nearest_neighbor",
        "crop_resize",
        "resample",
        "affine",
        "resizeBilinear",
        "cropResize",
    }
)
_UPSAMPLE_TYPES = frozenset({"upsample", "upsample_nearest_neighbor", "upsample_bilinear"})
_STATE_TYPES = frozenset({"read_state", "write_state", "coreml_update_state"})
# Core ML 3 "broadcastable" and "ND" layers (hollance, GUESS by the author's own account).
_NN_ND_TYPES = frozenset(
    {
        "addBroadcastable",
        "subtractBroadcastable",
        "multiplyBroadcastable",
        "divideBroadcastable",
        "floorDivBroadcastable",
        "modBroadcastable",
        "maxBroadcastable",
        "minBroadcastable",
        "powBroadcastable",
        "whereBroadcastable",
        "concatND",
        "splitND",
        "softmaxND",
        "loadConstantND",
        "embeddingND",
        "gatherND",
        "scatterND",
    }
)
# NN layers whose shape arguments arrive at run time: "dynamic layers not supported on the NE"
# (OFFICIAL, coremltools faqs.md: "converting a static reshape to a fully dynamic reshape").
_NN_DYNAMIC_TYPES = frozenset(
    {
        "sliceDynamic",
        "reshapeDynamic",
        "fillDynamic",
        "broadcastToDynamic",
        "rangeDynamic",
        "randomUniformDynamic",
    }
)


# --------------------------------------------------------------------------------------------
# The table.

RULES: tuple[Rule, ...] = (
    # ---- A1 dtype ----------------------------------------------------------------------------
    Rule(
        id="dtype.fp32",
        applies_to="an ML Program op with an fp32 input or output tensor",
        op_types=None,
        excludes=_ANE,
        reason="Unsupported tensor format: fp32. ({tensor} is fp32; the Neural Engine computes "
        "in fp16)",
        fix="convert with compute_precision=ct.precision.FLOAT16 (the ML Program default) and "
        "keep fp32 only at the model inputs/outputs, or remove explicit fp32 casts "
        "(.float()) inside the model",
        evidence=Evidence.OFFICIAL,
        source=(
            f'{_AR} §A1/§A8: {S_TYPED_EXEC} ("Only the NE is barred ... float 32"); '
            f"verbatim string {S_FREEDOMTAN}; fp32 matmul/SDPA never ANE: {S_VX435}, "
            f"{S_VX437}"
        ),
        check=_check_fp32,
        formats=_MLP,
    ),
    Rule(
        id="dtype.fp32_cast",
        applies_to="a cast between fp32 and fp16 (usually at a model input or output), on chips "
        "before the M4 class",
        op_types=frozenset({"cast"}),
        excludes=_ANE,
        reason="Invalid {side} tensor format: fp32 (cast {src} -> {dst} runs off the Neural "
        "Engine on {chip})",
        fix="declare fp16 model inputs and outputs (ct.TensorType(dtype=np.float16), iOS 16+) "
        "so no fp32<->fp16 cast is needed",
        evidence=Evidence.COMMUNITY,
        source=(
            f"{_AR} §A1/§D: off the ANE on an M1-family bundle ({S_FREEDOMTAN}); "
            f"ANE-preferred on M4 ({S_VX435}); M3 not measured (we keep the M1 behaviour)"
        ),
        check=_check_fp32_cast,
        formats=_MLP,
    ),
    Rule(
        id="dtype.int",
        applies_to="an ML Program op with an int16/int32/int64 (or unsigned) tensor",
        op_types=None,
        excludes=_ANE,
        reason="integer tensor {tensor} ({dtype}): the Neural Engine computes in fp16 and "
        "rejects integer arithmetic and casts to int16/int32",
        fix="do mask and position arithmetic in fp16, or precompute it outside the model and "
        "pass it as an fp16 input",
        evidence=Evidence.COMMUNITY,
        source=(
            f"{_AR} §A1: {S_ANEMLL_PROF} (cast to int16 and select off the ANE); "
            f"FluidInference/mobius ane-experiments.md (int32 mask CPU island); RE: "
            f"{S_GUIDE_A} (cast to int32 rejected on M1)"
        ),
        check=_check_int,
        formats=_MLP,
    ),
    Rule(
        id="dtype.unknown",
        applies_to="an op with a tensor whose dtype the rule table does not know",
        op_types=None,
        excludes=_ANE,
        reason="tensor {tensor} has a dtype the rule table does not know ({dtype}); the Neural "
        "Engine runs fp16 (and int8) only",
        fix="check the model was written by a coremltools version this tool knows, and that "
        "the tensor is fp16",
        # §A1 lists the ANE's dtypes (fp16, int8, int16: OFFICIAL Core AI authoring rules); an
        # unknown one is not among them as far as we can tell, so we keep the ANE out (GUESS).
        evidence=Evidence.GUESS,
        source=f"{_AR} §A1: apple/coreai-models neural_engine_rules.md (supported ANE dtypes)",
        check=_check_unknown_dtype,
        formats=_MLP,
    ),
    # ---- A2 rank / extent ------------------------------------------------------------------
    Rule(
        id="tensor.rank",
        applies_to="any op with an input or output of rank above 5",
        op_types=None,
        excludes=_ANE,
        reason="tensor rank {rank} exceeds the ANE maximum of 5 ({tensor})",
        fix="reshape to rank 4 (the (B, C, 1, S) layout) around this op",
        evidence=Evidence.OFFICIAL,
        source=(
            f'{_AR} §A2/§A8: {S_COREAI_RULES} ("Max tensor rank: 5"); RE: {S_GUIDE_4} '
            f"(verbatim string)"
        ),
        check=_check_rank,
    ),
    Rule(
        id="axis.extent",
        applies_to="any op with a tensor whose W/H/D extent exceeds the chip's limit (N and C: "
        "65536); MIL's last axis maps to W",
        op_types=None,
        excludes=_ANE,
        reason="Invalid layer: Tensor dimensions {dims} are not within supported range, "
        "N[1-65536] D[1-{limit}] C[1-65536] H[1-{limit}] W[1-{limit}]. ({tensor} on "
        "{chip})",
        fix="split or reshape the long axis so each of W, H and D stays within the chip limit "
        "(16384 before the M4 class), e.g. chunk the sequence or fold length into channels",
        evidence=Evidence.COMMUNITY,
        source=(
            f"{_AR} §A2/§A8: verbatim Core ML failure {S_MOBIUS_MEL}; per-chip limits RE "
            f'{S_GUIDE_A}; {S_ANEMLL_LLAMA} ("limited to 16384")'
        ),
        check=_check_extent,
    ),
    Rule(
        id="linear.rank5",
        applies_to="linear with an input of rank 5 or more",
        op_types=frozenset({"linear"}),
        excludes=_ANE,
        reason="ANE cannot support Linear with input rank >= 5 (input rank {rank})",
        fix="reshape the input to rank <= 4 before the linear layer (or use a 1x1 conv on "
        "(B, C, 1, S))",
        evidence=Evidence.REVERSE,
        source=f"{_AR} §A2/§A8: {S_GUIDE_4}, {S_GUIDE_17} (Linear validator)",
        check=_check_linear_rank,
        formats=_MLP,
    ),
    Rule(
        id="linear.vocab",
        applies_to="linear / innerProduct whose output width exceeds the chip's axis limit "
        "(large-vocabulary LM heads)",
        op_types=frozenset({"linear", "innerProduct"}),
        excludes=_ANE,
        reason="Output blob dimensions exceed ANE limit. ({outputs} outputs > {limit} on {chip})",
        fix="split the vocabulary head into chunks of <= 16384 outputs (several linear or 1x1 "
        "conv heads, concatenated or arg-maxed outside the ANE segment)",
        evidence=Evidence.COMMUNITY,
        source=(
            f"{_AR} §A2/§A8: {S_SMPANARO} (50257-wide linear -> CPU, verbatim string); "
            f"{S_ANEMLL_LLAMA} (vocab split into chunks)"
        ),
        check=_check_linear_vocab,
    ),
    Rule(
        id="matmul.depth",
        applies_to="matmul with a rank-5 operand whose depth axis (axis 1) is above 1",
        op_types=frozenset({"matmul"}),
        excludes=_ANE,
        reason="depth > 1 is not supported for MatMult (depth {depth} in {tensor})",
        fix="fold the extra batch axis into the batch (axis 0) so the operands are rank 4",
        evidence=Evidence.REVERSE,
        source=f"{_AR} §A2/§A4/§A8: {S_GUIDE_4}, {S_GUIDE_17} (MatrixMult validator)",
        check=_check_matmul_depth,
        formats=_MLP,
    ),
    Rule(
        id="state.width",
        applies_to="read_state / write_state on a state tensor whose last axis is not a "
        "multiple of 32",
        op_types=_STATE_TYPES,
        excludes=_ANE,
        reason="state tensor {tensor} has width {width}, not a multiple of 32; stateful ops "
        "with such widths failed on the Neural Engine",
        fix="pad the state's last axis to a multiple of 32 (e.g. 270 -> 288)",
        evidence=Evidence.COMMUNITY,
        source=f"{_AR} §A2: {S_CT2631} (w=270 fails, w=256 works; M4, macOS 15.2)",
        check=_check_state_width,
        formats=_MLP,
    ),
    # ---- A3 flexible shapes ----------------------------------------------------------------
    Rule(
        id="shape.range_flexible",
        applies_to="in a model with a RangeDim input that declares no default shape, any op "
        "with a dimension that depends on it (unknown statically)",
        op_types=None,
        excludes=_ANE,
        reason="MLE5Engine is not currently supported for models with range shape inputs that "
        "try to utilize the Neural Engine. ({tensor} follows flexible input {inputs}, "
        "which has no default shape; only the default shape may use the Neural Engine)",
        fix="give the RangeDim a default (ct.RangeDim(..., default=N)) and call the model at "
        "that shape, or use ct.EnumeratedShapes (up to 128 shapes) or fixed-shape buckets",
        evidence=Evidence.OFFICIAL,
        source=(
            f"{_AR} §A3/§A8: Apple engineer {S_FORUM_724930}; Xcode message {S_CT1029}; "
            f"coremltools#2370 (random RangeDim shapes: ANE 0%)"
        ),
        check=_check_range_flexible,
    ),
    Rule(
        id="shape.dynamic",
        applies_to="reshape / slice / slice_update / tile / pad / fill whose shape, begin or "
        "size argument is computed at run time",
        op_types=frozenset(_DYNAMIC_ARGS),
        excludes=_ANE,
        reason="{op_type} is a dynamic layer: argument {arg} is computed at run time, and "
        "dynamic layers are not supported on the Neural Engine",
        fix="make the argument a constant (fixed or enumerated input shapes let the converter "
        "keep a static reshape/slice)",
        evidence=Evidence.OFFICIAL,
        source=(
            f"{_AR} §A3: {S_FAQS} (dynamic layers not supported on the NE); CML: "
            f"{S_SMPANARO} (runtime slice offsets -> CPU); CAI: apple/coreai-torch#6"
        ),
        check=_check_dynamic,
        formats=_MLP,
    ),
    Rule(
        id="nn.dynamic_layer",
        applies_to="NeuralNetwork layers that take their shape at run time (sliceDynamic, "
        "reshapeDynamic, fillDynamic, broadcastToDynamic, rangeDynamic, ...)",
        op_types=_NN_DYNAMIC_TYPES,
        excludes=_ANE,
        reason="{op_type} is a dynamic layer; dynamic layers are not supported on the Neural "
        "Engine",
        fix="use the static variant of the layer (reshapeStatic, sliceStatic, ...) with fixed "
        "or enumerated input shapes",
        evidence=Evidence.OFFICIAL,
        source=f"{_AR} §A3: {S_FAQS}",
        check=_always,
        formats=_NN,
    ),
    Rule(
        id="layer_norm.enumerated_rank3",
        applies_to="layer_norm on a rank-3 tensor in a model with enumerated input shapes",
        op_types=frozenset({"layer_norm"}),
        excludes=_ANE,
        reason="layer_norm on a rank-3 tensor ({shape}) with enumerated input shapes moved the "
        "model off the Neural Engine",
        fix="reshape to rank 4 (B, C, 1, S) and normalise over the channel axis",
        evidence=Evidence.COMMUNITY,
        source=f"{_AR} §A3: {S_CT1909}; {S_SMPANARO} (Oct 25 2023)",
        check=_check_layer_norm_rank3,
        formats=_MLP,
    ),
    Rule(
        id="control.nested",
        applies_to="any op inside the body of a cond / while_loop",
        op_types=None,
        excludes=_ANE,
        reason="inside the body of {parent}; control flow runs off the Neural Engine, and so "
        "does its body",
        fix="flatten the control flow: compute both branches and select, or unroll the loop "
        "with a fixed trip count",
        evidence=Evidence.GUESS,
        source=(
            f"{_AR} §A4: our inference from {S_SMPANARO} (cond goes to CPU) and "
            f"{S_GUIDE_A} (cond/while_loop: no standalone code generation)"
        ),
        check=_check_nested,
    ),
    # ---- A4 op types -----------------------------------------------------------------------
    Rule(
        id="op.gather",
        applies_to="gather, gather_along_axis, gather_nd and embedding lookups",
        op_types=_GATHER_TYPES,
        excludes=_ANE,
        reason="{op_type} (gather / embedding lookup) does not run on the Neural Engine in "
        "Core ML (supported: GPU, CPU)",
        fix="keep the lookup at the model's edge (it is cheap on the CPU), pass embeddings as "
        "an input, or pass cos/sin tables as 4-D inputs instead of gathering them",
        evidence=Evidence.COMMUNITY,
        source=(
            f'{_AR} §A4: {S_INSPECT} (gather supported = GPU|CPU); {S_SMPANARO} ("gather '
            f'will not run on ANE, no matter the size"); {S_ANE_TRANSFORMERS} (embedding '
            f"= the CPU ops); RE {S_GUIDE_18} (no planner cost tree)"
        ),
        check=_always,
    ),
    Rule(
        id="op.scatter",
        applies_to="scatter, scatter_along_axis, scatter_nd",
        op_types=_SCATTER_TYPES,
        excludes=_ANE,
        reason="{op_type} has no Neural Engine path on any chip family",
        fix="write with slice_update at constant offsets, concat static slices, or keep caches "
        "in MLState",
        evidence=Evidence.REVERSE,
        source=(
            f"{_AR} §A4: {S_GUIDE_4} (no path); CML: FluidAudio ANE_Profiler.md (rank-5 "
            f"KV scatter rejected at any precision)"
        ),
        check=_always,
    ),
    Rule(
        id="op.sort",
        applies_to="topk, argsort",
        op_types=_SORT_TYPES,
        excludes=_ANE,
        reason="{op_type} runs off the Neural Engine in Core ML",
        fix="return the scores and do top-k / sorting in post-processing",
        evidence=Evidence.COMMUNITY,
        source=(
            f"{_AR} §A4/§D: {S_RFDETR} (topk and its consumers: the only CPU ops, M3 Pro); "
            f"the direct path runs topk from M2 (RE, {S_GUIDE_A}), Core ML does not"
        ),
        check=_always,
    ),
    Rule(
        id="op.argmax",
        applies_to="reduce_argmax, reduce_argmin",
        op_types=_ARGMAX_TYPES,
        excludes=_ANE,
        reason="{op_type}: Core ML's planner never puts arg-max/arg-min on the Neural Engine",
        fix="return the scores and take the arg-max outside the model",
        evidence=Evidence.REVERSE,
        source=f"{_AR} §A4: {S_GUIDE_17}, {S_GUIDE_18} (no engine cost tree for argmax)",
        check=_always,
    ),
    Rule(
        id="op.band_part",
        applies_to="band_part (causal masks)",
        op_types=_BAND_PART_TYPES,
        excludes=_ANE,
        reason="{op_type} (matrix band part) is not able to run on the Neural Engine",
        fix="pass the causal mask as an fp16 input or a constant",
        evidence=Evidence.COMMUNITY,
        source=f"{_AR} §A4: {S_SMPANARO} (Apr 4 2023); RE {S_GUIDE_4} (no path)",
        check=_always,
    ),
    Rule(
        id="op.control_flow",
        applies_to="cond, while_loop (and NN branch / loop layers)",
        op_types=_CONTROL_TYPES,
        excludes=_ANE,
        reason="{op_type}: control flow (if/else, loops) isn't supported on the Neural Engine",
        fix="compute both branches and select, unroll loops with a fixed trip count, or move "
        "the control flow into app code",
        evidence=Evidence.COMMUNITY,
        source=(
            f"{_AR} §A4: {S_SMPANARO} (Apr 16 2023); {S_ANEMLL_PROF} (while_loop GPU "
            f"fallback); RE {S_GUIDE_A}"
        ),
        check=_always,
    ),
    Rule(
        id="op.recurrent",
        applies_to="lstm, gru, rnn (and NN LSTM/GRU/simpleRecurrent layers)",
        op_types=_RECURRENT_TYPES,
        excludes=_ANE,
        reason="RNN or LSTM are not supported on the neural engine ({op_type})",
        fix="unroll the recurrence into matmul/conv + activations with a fixed number of "
        "steps, or replace it with a convolutional or attention block",
        evidence=Evidence.OFFICIAL,
        source=(
            f"{_AR} §A4/§A5: {S_CT1780} (maintainer); RE {S_GUIDE_4} (no path); "
            f"{S_FLUID_CAND} (no ANE kernel at any precision)"
        ),
        check=_always,
    ),
    Rule(
        id="op.recurrent_bnns",
        applies_to="lstm, gru, rnn: Core ML runs them on BNNS (the CPU)",
        op_types=_RECURRENT_TYPES,
        excludes=_GPU,
        reason="{op_type} runs on BNNS (the CPU) in Core ML",
        fix="unroll the recurrence into matmul/conv + activations so the GPU or Neural Engine "
        "can take it",
        evidence=Evidence.COMMUNITY,
        source=f"{_AR} §A4/§A5: {S_CT337} (LSTM on BNNS, iPhone XS); {S_FLUID_CAND}",
        check=_always,
    ),
    Rule(
        id="op.custom",
        applies_to="NeuralNetwork custom layers",
        op_types=frozenset({"custom"}),
        excludes=_ANE,
        reason="custom layers never run on the Neural Engine (CPU/GPU implementations only)",
        fix="replace the custom layer with built-in layers, or split the model so it runs in "
        "its own CPU/GPU stage",
        evidence=Evidence.OFFICIAL,
        source=f"{_AR} §A4/§A5: {S_CT1278} (maintainer); {S_HOLLANCE}",
        check=_always,
        formats=_NN,
    ),
    Rule(
        id="op.nms",
        applies_to="non_maximum_suppression",
        op_types=_NMS_TYPES,
        excludes=_ANE,
        reason="{op_type} offloads to the CPU or GPU; the Neural Engine has no NMS path",
        fix="run NMS in post-processing (Vision, app code) or a separate pipeline stage",
        evidence=Evidence.REVERSE,
        source=f"{_AR} §A4: {S_GUIDE_A}",
        check=_always,
    ),
    Rule(
        id="op.no_ane_path",
        applies_to="reduce_prod, mod, logical and/or/xor, one_hot, non_zero, shape, "
        "reverse_sequence, sliding_windows, inverse and hyperbolic trig, random "
        "sampling other than uniform, range_1d, tensor lists",
        op_types=_NO_PATH_TYPES,
        excludes=_ANE,
        reason="{op_type} has no Neural Engine path on any chip family",
        fix="rewrite it with ANE ops (reduce_prod via exp(reduce_sum(log)), logical_and via "
        "minimum or mul, precomputed constants for shape/range/one_hot) or compute it "
        "outside the model",
        evidence=Evidence.REVERSE,
        source=f'{_AR} §A4: {S_GUIDE_4} ("Hard limits"); {S_GUIDE_A}',
        check=_always,
    ),
    Rule(
        id="op.sin_cos",
        applies_to="sin, cos on chips before the M3 class",
        op_types=_SIN_COS_TYPES,
        excludes=_ANE,
        reason="{op_type} has no native Neural Engine path on {chip} (native from the M3 class)",
        fix="precompute sin/cos tables (e.g. rotary embeddings) as constants or fp16 inputs",
        evidence=Evidence.REVERSE,
        source=f"{_AR} §A4/§A7: {S_GUIDE_A} (host polynomial on M1/M2); {S_FLUID_CAND}",
        check=_check_trig_gate,
    ),
    Rule(
        id="op.random_uniform",
        applies_to="random_uniform on chips before the M3 class",
        op_types=_RANDOM_UNIFORM_TYPES,
        excludes=_ANE,
        reason="{op_type}: the Neural Engine's random generator arrives with the M3 class; "
        "{chip} draws random numbers on the host",
        fix="pass the random tensor as an fp16 input",
        evidence=Evidence.REVERSE,
        source=f"{_AR} §A7: {S_GUIDE_A}",
        check=_check_trig_gate,
    ),
    Rule(
        id="op.texture",
        applies_to="resize, crop_resize, resample, affine on chips without the texture engine "
        "(M1 class)",
        op_types=_TEXTURE_TYPES,
        excludes=_ANE,
        reason="{op_type} needs the Neural Engine's texture engine, which {chip} does not have",
        fix="use upsample_nearest_neighbor / upsample_bilinear with integer factors, or a "
        "transposed conv, instead of a general resize",
        evidence=Evidence.REVERSE,
        source=f"{_AR} §A4/§A7: {S_GUIDE_A} (texture engine from M2-class); {S_GUIDE_4}",
        check=_check_texture,
    ),
    Rule(
        id="upsample.factor",
        applies_to="upsample layers with a scale factor above 2",
        op_types=_UPSAMPLE_TYPES,
        excludes=_ANE,
        reason="upsampling by a factor of {factor} (> 2) is reported not to work on the Neural "
        "Engine",
        fix="chain several upsampling layers of factor 2",
        evidence=Evidence.GUESS,
        source=f"{_AR} §A4/§A5: {S_HOLLANCE} (2020 claim); {S_HOLLANCE1}",
        check=_check_upsample_factor,
    ),
    Rule(
        id="pad.channel",
        applies_to="pad that pads an axis other than the last two (channel, depth or batch)",
        op_types=frozenset({"pad"}),
        excludes=_ANE,
        reason="Channel padding is not supported on ANE (padding axis {axis})",
        fix="pad only H and W (the last two axes); grow channels with concat of a constant "
        "or a 1x1 conv instead",
        evidence=Evidence.REVERSE,
        source=f"{_AR} §A4/§A8: {S_GUIDE_17} (Pad validator)",
        check=_check_pad_channel,
        formats=_MLP,
    ),
    Rule(
        id="pad.mode",
        applies_to="reflect / symmetric pad on chips without the texture engine (M1 class)",
        op_types=frozenset({"pad"}),
        excludes=_ANE,
        reason="Architecture does not support padding mode. ({mode} padding needs the texture "
        "engine, which {chip} does not have)",
        fix="use constant (zero) padding, or replicate edges with slice + concat",
        evidence=Evidence.REVERSE,
        source=f"{_AR} §A4/§A8: {S_GUIDE_17} (Pad validator); {S_GUIDE_A}",
        check=_check_pad_mode,
        formats=_MLP,
    ),
    Rule(
        id="conv.kernel",
        applies_to="conv / conv_transpose with a kernel wider than the chip's fp16 limit (13 on "
        "M1-class, 16 later) or taller than 29 / 32",
        op_types=frozenset({"conv", "conv_transpose", "convolution"}),
        excludes=_ANE,
        reason="kernel size > {limit} is not supported in ANE (kernel {kernel}: {axis} {size} "
        "on {chip})",
        fix="factor the kernel into smaller ones (e.g. two stacked convs, or a 1xk and a kx1 "
        "conv) within the chip's limit",
        evidence=Evidence.REVERSE,
        source=(
            f"{_AR} §A4/§A7/§A8: {S_GUIDE_A} (max kernel W fp16 13/16, H 29/32); os_log "
            f"string {S_HOLLANCE1}"
        ),
        check=_check_conv_kernel,
    ),
    Rule(
        id="conv.groups",
        applies_to="grouped conv whose input or output channels are not divisible by groups",
        op_types=frozenset({"conv", "conv_transpose", "convolution"}),
        excludes=_ANE,
        reason="input/output channels should be divisible by num group ({side} channels "
        "{channels}, groups {groups})",
        fix="pad the channels to a multiple of the group count",
        evidence=Evidence.REVERSE,
        source=f"{_AR} §A4/§A8: {S_GUIDE_17} (Conv validator)",
        check=_check_conv_groups,
    ),
    Rule(
        id="sdpa.small",
        applies_to="scaled_dot_product_attention whose largest Q/K/V has fewer than ~2M elements",
        op_types=frozenset({"scaled_dot_product_attention"}),
        excludes=_ANE,
        reason="scaled_dot_product_attention with {elements} elements per Q/K/V (< {threshold}) "
        "was never ANE-preferred in Core ML",
        fix="batch more heads or tokens into one attention call, or write attention as "
        "einsum/matmul + softmax",
        evidence=Evidence.COMMUNITY,
        source=f"{_AR} §A4: {S_VX437} (>= 1x16x2048x64 fp16 -> ANE; <= 1M elements -> CPU, M4)",
        check=_check_sdpa_small,
        formats=_MLP,
    ),
    Rule(
        id="op.classify",
        applies_to="classify (a classifier's label/probability output)",
        op_types=frozenset({"classify"}),
        excludes=_ANE,
        reason="classify builds the classifier's label dictionary; it runs on the CPU",
        fix="nothing to fix: it is a cheap step at the end of the model",
        evidence=Evidence.GUESS,
        source=f"{_AR} §0 (no published op list); ours: a dictionary output cannot be an ANE "
        "tensor",
        check=_always,
        formats=_MLP,
    ),
    # ---- A5 NeuralNetwork layers ----------------------------------------------------------
    Rule(
        id="nn.nd_layer",
        applies_to="Core ML 3 broadcastable and ND layers (addBroadcastable, concatND, ...)",
        op_types=_NN_ND_TYPES,
        excludes=_ANE,
        reason="{op_type} is a broadcastable / ND layer; these will not run on the ANE",
        fix="replace with the older layer (addBroadcastable -> add, multiplyBroadcastable -> "
        "multiply or scale, concatND -> concat, ...), or convert to an ML Program",
        evidence=Evidence.GUESS,
        source=f'{_AR} §A5: {S_HOLLANCE} (author: "some of these are guesses")',
        check=_always,
        formats=_NN,
    ),
    Rule(
        id="nn.batched_matmul",
        applies_to="NeuralNetwork batchedMatmul",
        op_types=frozenset({"batchedMatmul"}),
        excludes=_ANE,
        reason="batchedMatmul never invoked the Neural Engine (innerProduct did)",
        fix="use innerProduct (constant weights) or convert to an ML Program (matmul)",
        evidence=Evidence.COMMUNITY,
        source=f"{_AR} §A5: {S_CT1196} (M1, 2021)",
        check=_always,
        formats=_NN,
    ),
    Rule(
        id="nn.pooling",
        applies_to="NeuralNetwork pooling with a kernel above 13 or a stride above 2",
        op_types=frozenset({"pooling"}),
        excludes=_ANE,
        reason="pooling {what} {value} (> {limit}) is reported not to work on the ANE",
        fix="use global pooling, or stack smaller pools (kernel <= 13, stride <= 2)",
        evidence=Evidence.GUESS,
        source=f"{_AR} §A5: {S_HOLLANCE}; {S_HOLLANCE1} (os_log)",
        check=_check_nn_pooling,
        formats=_NN,
    ),
    # ---- fallback ----------------------------------------------------------------------
    Rule(
        id="op.non_neural_stage",
        applies_to="a non-neural pipeline stage (tree ensemble, GLM, feature vectorizer, ...)",
        op_types=None,
        excludes=frozenset({Device.ANE, Device.GPU}),
        reason="pipeline stage {stage} is not a neural network; Core ML runs it on the CPU",
        fix="nothing to fix here; keep such stages small, or move them into app code",
        evidence=Evidence.GUESS,
        source=f"{_AR} §0/§A6 (ours: only neural networks and ML programs reach the GPU/ANE)",
        check=_check_non_neural_stage,
    ),
    Rule(
        id="op.unknown",
        applies_to="any op type the table does not know (including MIL custom ops)",
        op_types=None,
        excludes=_ANE,
        reason="not in the rule table",
        fix="check the Xcode performance report or MLComputePlan on a Mac for this op",
        evidence=Evidence.GUESS,
        source=f"{_AR} §0 (no published op list; custom ops never ANE: {S_CT1278})",
        check=_check_unknown,
    ),
)


# --------------------------------------------------------------------------------------------
# Vocabularies: every op type the table knows. MIL: coremltools 9's op registry
# (SSAOpRegistry.core_ops, all opsets) plus `write_state`, the serialized form of
# `coreml_update_state`. NeuralNetwork: the `layer` oneof of NeuralNetworkLayer. Written out (not
# imported) so the placement code does not pay for importing the converter; tests/test_rules.py
# checks both lists against coremltools and that every name is classified below.

MIL_OP_TYPES: frozenset[str] = frozenset(
    {
        "_const_symbolic",
        "abs",
        "acos",
        "add",
        "affine",
        "argsort",
        "asin",
        "atan",
        "atanh",
        "avg_pool",
        "band_part",
        "batch_norm",
        "batch_to_space",
        "cast",
        "ceil",
        "clamped_relu",
        "classify",
        "clip",
        "concat",
        "cond",
        "const",
        "constexpr_affine_dequantize",
        "constexpr_blockwise_shift_scale",
        "constexpr_cast",
        "constexpr_lut_to_dense",
        "constexpr_lut_to_sparse",
        "constexpr_sparse_blockwise_shift_scale",
        "constexpr_sparse_to_dense",
        "conv",
        "conv_quantized",
        "conv_transpose",
        "coreml_update_state",
        "cos",
        "cosh",
        "crop",
        "crop_resize",
        "cumsum",
        "depth_to_space",
        "dequantize",
        "einsum",
        "elu",
        "equal",
        "erf",
        "exp",
        "exp2",
        "expand_dims",
        "fill",
        "fill_like",
        "flatten2d",
        "floor",
        "floor_div",
        "gather",
        "gather_along_axis",
        "gather_nd",
        "gelu",
        "greater",
        "greater_equal",
        "gru",
        "identity",
        "instance_norm",
        "inverse",
        "l2_norm",
        "l2_pool",
        "layer_norm",
        "leaky_relu",
        "less",
        "less_equal",
        "linear",
        "linear_activation",
        "list_gather",
        "list_length",
        "list_read",
        "list_scatter",
        "list_write",
        "local_response_norm",
        "log",
        "logical_and",
        "logical_not",
        "logical_or",
        "logical_xor",
        "lstm",
        "make_list",
        "matmul",
        "max_pool",
        "maximum",
        "minimum",
        "mod",
        "mul",
        "non_maximum_suppression",
        "non_zero",
        "not_equal",
        "one_hot",
        "pad",
        "pixel_shuffle",
        "pixel_unshuffle",
        "pow",
        "prelu",
        "quantize",
        "random_bernoulli",
        "random_categorical",
        "random_normal",
        "random_uniform",
        "range_1d",
        "read_state",
        "real_div",
        "reduce_argmax",
        "reduce_argmin",
        "reduce_l1_norm",
        "reduce_l2_norm",
        "reduce_log_sum",
        "reduce_log_sum_exp",
        "reduce_max",
        "reduce_mean",
        "reduce_min",
        "reduce_prod",
        "reduce_sum",
        "reduce_sum_square",
        "relu",
        "relu6",
        "resample",
        "reshape",
        "reshape_like",
        "resize",
        "resize_bilinear",
        "resize_nearest_neighbor",
        "reverse",
        "reverse_sequence",
        "rnn",
        "round",
        "rsqrt",
        "scaled_dot_product_attention",
        "scaled_tanh",
        "scatter",
        "scatter_along_axis",
        "scatter_nd",
        "select",
        "shape",
        "sigmoid",
        "sigmoid_hard",
        "sign",
        "silu",
        "sin",
        "sinh",
        "slice_by_index",
        "slice_by_size",
        "slice_update",
        "sliding_windows",
        "softmax",
        "softplus",
        "softplus_parametric",
        "softsign",
        "space_to_batch",
        "space_to_depth",
        "split",
        "sqrt",
        "square",
        "squeeze",
        "stack",
        "sub",
        "tan",
        "tanh",
        "threshold",
        "thresholded_relu",
        "tile",
        "topk",
        "transpose",
        "upsample_bilinear",
        "upsample_nearest_neighbor",
        "while_loop",
        "write_state",
    }
)
NN_LAYER_TYPES: frozenset[str] = frozenset(
    {
        "convolution",
        "pooling",
        "activation",
        "innerProduct",
        "embedding",
        "batchnorm",
        "mvn",
        "l2normalize",
        "softmax",
        "lrn",
        "crop",
        "padding",
        "upsample",
        "resizeBilinear",
        "cropResize",
        "unary",
        "add",
        "multiply",
        "average",
        "scale",
        "bias",
        "max",
        "min",
        "dot",
        "reduce",
        "loadConstant",
        "reshape",
        "flatten",
        "permute",
        "concat",
        "split",
        "sequenceRepeat",
        "reorganizeData",
        "slice",
        "simpleRecurrent",
        "gru",
        "uniDirectionalLSTM",
        "biDirectionalLSTM",
        "custom",
        "copy",
        "branch",
        "loop",
        "loopBreak",
        "loopContinue",
        "rangeStatic",
        "rangeDynamic",
        "clip",
        "ceil",
        "floor",
        "sign",
        "round",
        "exp2",
        "sin",
        "cos",
        "tan",
        "asin",
        "acos",
        "atan",
        "sinh",
        "cosh",
        "tanh",
        "asinh",
        "acosh",
        "atanh",
        "erf",
        "gelu",
        "equal",
        "notEqual",
        "lessThan",
        "lessEqual",
        "greaterThan",
        "greaterEqual",
        "logicalOr",
        "logicalXor",
        "logicalNot",
        "logicalAnd",
        "modBroadcastable",
        "minBroadcastable",
        "maxBroadcastable",
        "addBroadcastable",
        "powBroadcastable",
        "divideBroadcastable",
        "floorDivBroadcastable",
        "multiplyBroadcastable",
        "subtractBroadcastable",
        "tile",
        "stack",
        "gather",
        "scatter",
        "gatherND",
        "scatterND",
        "softmaxND",
        "gatherAlongAxis",
        "scatterAlongAxis",
        "reverse",
        "reverseSeq",
        "splitND",
        "concatND",
        "transpose",
        "sliceStatic",
        "sliceDynamic",
        "slidingWindows",
        "topK",
        "argMin",
        "argMax",
        "embeddingND",
        "batchedMatmul",
        "getShape",
        "loadConstantND",
        "fillLike",
        "fillStatic",
        "fillDynamic",
        "broadcastToLike",
        "broadcastToStatic",
        "broadcastToDynamic",
        "squeeze",
        "expandDims",
        "flattenTo2D",
        "reshapeLike",
        "reshapeStatic",
        "reshapeDynamic",
        "rankPreservingReshape",
        "constantPad",
        "randomNormalLike",
        "randomNormalStatic",
        "randomNormalDynamic",
        "randomUniformLike",
        "randomUniformStatic",
        "randomUniformDynamic",
        "randomBernoulliLike",
        "randomBernoulliStatic",
        "randomBernoulliDynamic",
        "categoricalDistribution",
        "reduceL1",
        "reduceL2",
        "reduceMax",
        "reduceMin",
        "reduceSum",
        "reduceProd",
        "reduceMean",
        "reduceLogSum",
        "reduceSumSquare",
        "reduceLogSumExp",
        "whereNonZero",
        "matrixBandPart",
        "lowerTriangular",
        "upperTriangular",
        "whereBroadcastable",
        "layerNormalization",
        "NonMaximumSuppression",
        "oneHot",
        "cumSum",
        "clampedReLU",
        "argSort",
        "pooling3d",
        "globalPooling3d",
        "sliceBySize",
        "convolution3d",
    }
)


# --------------------------------------------------------------------------------------------
# ANE-capable op types: on the ANE unless a rule above fires. (evidence, source) per group.

_CAPABLE_GROUPS: tuple[tuple[str, frozenset[str], Evidence, str], ...] = (
    (
        MLPROGRAM,
        frozenset({"conv", "conv_transpose", "conv_quantized"}),
        Evidence.COMMUNITY,
        f"{_AR} §A4: {S_FREEDOMTAN} (all conv -> ane); {S_GUIDE_A}",
    ),
    (
        MLPROGRAM,
        frozenset({"linear", "matmul", "linear_activation"}),
        Evidence.COMMUNITY,
        f"{_AR} §A4: {S_FLUID_CAND}; {S_VX435}",
    ),
    (MLPROGRAM, frozenset({"einsum"}), Evidence.OFFICIAL, f"{_AR} §A4: {S_APPLE_ARTICLE}"),
    (
        MLPROGRAM,
        frozenset({"scaled_dot_product_attention"}),
        Evidence.COMMUNITY,
        f"{_AR} §A4: {S_VX437}",
    ),
    (
        MLPROGRAM,
        frozenset(
            {
                "softmax",
                "layer_norm",
                "batch_norm",
                "instance_norm",
                "l2_norm",
                "local_response_norm",
            }
        ),
        Evidence.COMMUNITY,
        f"{_AR} §A4: {S_FREEDOMTAN}; apple/ml-ane-transformers; {S_GUIDE_A}",
    ),
    (
        MLPROGRAM,
        frozenset(
            {
                "add",
                "sub",
                "mul",
                "real_div",
                "floor_div",
                "pow",
                "maximum",
                "minimum",
                "equal",
                "not_equal",
                "greater",
                "greater_equal",
                "less",
                "less_equal",
                "logical_not",
                "abs",
                "sqrt",
                "rsqrt",
                "exp",
                "exp2",
                "log",
                "inverse",
                "square",
                "sign",
                "ceil",
                "floor",
                "round",
                "atan",
                "erf",
                "tanh",
                "clip",
                "relu",
                "relu6",
                "gelu",
                "silu",
                "sigmoid",
                "sigmoid_hard",
                "elu",
                "leaky_relu",
                "prelu",
                "softplus",
                "softplus_parametric",
                "softsign",
                "clamped_relu",
                "scaled_tanh",
                "threshold",
                "thresholded_relu",
            }
        ),
        Evidence.COMMUNITY,
        f"{_AR} §A4: {S_VOXCPM}; {S_GUIDE_A}",
    ),
    (
        MLPROGRAM,
        frozenset(
            {
                "reduce_sum",
                "reduce_mean",
                "reduce_max",
                "reduce_min",
                "reduce_l1_norm",
                "reduce_l2_norm",
                "reduce_log_sum",
                "reduce_log_sum_exp",
                "reduce_sum_square",
            }
        ),
        Evidence.COMMUNITY,
        f"{_AR} §A4: {S_VOXCPM}; {S_GUIDE_A}",
    ),
    (
        MLPROGRAM,
        frozenset(
            {
                "reshape",
                "reshape_like",
                "transpose",
                "squeeze",
                "expand_dims",
                "flatten2d",
                "concat",
                "split",
                "stack",
                "slice_by_index",
                "slice_by_size",
                "slice_update",
                "tile",
                "select",
                "pad",
                "crop",
                "reverse",
                "identity",
                "pixel_shuffle",
                "pixel_unshuffle",
                "space_to_depth",
                "depth_to_space",
                "space_to_batch",
                "batch_to_space",
                "fill",
                "fill_like",
            }
        ),
        Evidence.OFFICIAL,
        f"{_AR} §A4: {S_APPLE_ARTICLE}; {S_FREEDOMTAN}; {S_GUIDE_A}",
    ),
    (
        MLPROGRAM,
        frozenset({"avg_pool", "max_pool", "l2_pool"}),
        Evidence.OFFICIAL,
        f"{_AR} §A4: {S_COREAI_RULES}; {S_GUIDE_A}",
    ),
    (
        MLPROGRAM,
        frozenset({"upsample_nearest_neighbor", "upsample_bilinear"}),
        Evidence.COMMUNITY,
        f"{_AR} §A4: {S_HOLLANCE} (upsampling works on the ANE)",
    ),
    (
        MLPROGRAM,
        frozenset(
            {
                "resize",
                "resize_bilinear",
                "resize_nearest_neighbor",
                "crop_resize",
                "resample",
                "affine",
            }
        ),
        Evidence.REVERSE,
        f"{_AR} §A7: {S_GUIDE_A} (texture engine chips only, see op.texture)",
    ),
    (
        MLPROGRAM,
        frozenset({"sin", "cos", "random_uniform"}),
        Evidence.REVERSE,
        f"{_AR} §A7: {S_GUIDE_A} (M3 class and later, see op.sin_cos / op.random_uniform)",
    ),
    (
        MLPROGRAM,
        frozenset({"cast", "quantize", "dequantize"}),
        Evidence.REVERSE,
        f"{_AR} §A1: {S_GUIDE_A}; apple/coremltools opt-quantization-perf.md (W8A8)",
    ),
    (MLPROGRAM, frozenset({"cumsum"}), Evidence.REVERSE, f"{_AR} §A4: {S_GUIDE_A}"),
    (
        MLPROGRAM,
        _STATE_TYPES,
        Evidence.REVERSE,
        f"{_AR} §A4: {S_GUIDE_A} (native; Core ML reports are mixed, see state.width)",
    ),
    # Constants are folded at compile time; listed so they are "known" if a loader does not
    # mark them is_const.
    (
        MLPROGRAM,
        frozenset(
            {
                "const",
                "_const_symbolic",
                "constexpr_affine_dequantize",
                "constexpr_blockwise_shift_scale",
                "constexpr_cast",
                "constexpr_lut_to_dense",
                "constexpr_lut_to_sparse",
                "constexpr_sparse_blockwise_shift_scale",
                "constexpr_sparse_to_dense",
            }
        ),
        Evidence.REVERSE,
        f"{_AR} §A1: {S_GUIDE_A} (folded at compile)",
    ),
    # NeuralNetwork: the Core ML 2 layer set "mostly works fine on the ANE" (hollance, CML)
    (
        NEURALNETWORK,
        frozenset(
            {
                "convolution",
                "pooling",
                "activation",
                "innerProduct",
                "batchnorm",
                "mvn",
                "l2normalize",
                "softmax",
                "lrn",
                "crop",
                "padding",
                "upsample",
                "unary",
                "add",
                "multiply",
                "average",
                "scale",
                "bias",
                "max",
                "min",
                "dot",
                "reduce",
                "loadConstant",
                "reshape",
                "flatten",
                "permute",
                "concat",
                "split",
                "sequenceRepeat",
                "reorganizeData",
                "slice",
                "copy",
            }
        ),
        Evidence.COMMUNITY,
        f"{_AR} §A5: {S_HOLLANCE}; {S_FREEDOMTAN}",
    ),
    # Core ML 3 layers that are neither "broadcastable" nor "ND": no report either way (GUESS).
    (
        NEURALNETWORK,
        frozenset(
            {
                "clip",
                "ceil",
                "floor",
                "sign",
                "round",
                "exp2",
                "atan",
                "tanh",
                "erf",
                "gelu",
                "equal",
                "notEqual",
                "lessThan",
                "lessEqual",
                "greaterThan",
                "greaterEqual",
                "logicalNot",
                "tile",
                "stack",
                "reverse",
                "transpose",
                "sliceStatic",
                "sliceBySize",
                "fillLike",
                "fillStatic",
                "broadcastToLike",
                "broadcastToStatic",
                "squeeze",
                "expandDims",
                "flattenTo2D",
                "reshapeLike",
                "reshapeStatic",
                "rankPreservingReshape",
                "constantPad",
                "reduceL1",
                "reduceL2",
                "reduceMax",
                "reduceMin",
                "reduceSum",
                "reduceMean",
                "reduceLogSum",
                "reduceSumSquare",
                "reduceLogSumExp",
                "layerNormalization",
                "cumSum",
                "clampedReLU",
                "pooling3d",
                "globalPooling3d",
                "convolution3d",
            }
        ),
        Evidence.GUESS,
        f"{_AR} §A5: ours, from {S_GUIDE_A} (same ops native in MIL)",
    ),
    (
        NEURALNETWORK,
        frozenset({"sin", "cos", "randomUniformLike", "randomUniformStatic"}),
        Evidence.REVERSE,
        f"{_AR} §A7: {S_GUIDE_A} (M3 class and later)",
    ),
    (
        NEURALNETWORK,
        frozenset({"resizeBilinear", "cropResize"}),
        Evidence.REVERSE,
        f"{_AR} §A7: {S_GUIDE_A} (texture engine chips only)",
    ),
)

ANE_CAPABLE: Mapping[str, Mapping[str, tuple[Evidence, str]]] = {
    fmt: {t: (ev, src) for f, types, ev, src in _CAPABLE_GROUPS if f == fmt for t in types}
    for fmt in (MLPROGRAM, NEURALNETWORK)
}
"""format -> op type -> (evidence, source) for op types that run on the ANE unless a rule
fires. Types that some rule always excludes (gather, lstm, ...) are not listed here."""


KNOWN_MIL_OP_TYPES: frozenset[str] = MIL_OP_TYPES
KNOWN_NN_LAYER_TYPES: frozenset[str] = NN_LAYER_TYPES
KNOWN_OP_TYPES: frozenset[str] = MIL_OP_TYPES | NN_LAYER_TYPES
_KNOWN_BY_FORMAT: Mapping[str, frozenset[str]] = {
    MLPROGRAM: KNOWN_MIL_OP_TYPES,
    NEURALNETWORK: KNOWN_NN_LAYER_TYPES,
}

_RULES_BY_ID: Mapping[str, Rule] = {r.id: r for r in RULES}
if len(_RULES_BY_ID) != len(RULES):  # pragma: no cover - caught at import by the tests
    raise RuntimeError("duplicate rule ids in RULES")

# Index: (format, op_type) -> rules to check. Type-specific rules first (their reasons are the
# most specific), then the generic ones every op of that format gets. Built lazily per type.
_GENERIC: Mapping[str, tuple[Rule, ...]] = {
    fmt: tuple(r for r in RULES if r.op_types is None and fmt in r.formats)
    for fmt in (MLPROGRAM, NEURALNETWORK)
}
_SPECIFIC: Mapping[str, Mapping[str, tuple[Rule, ...]]] = {
    fmt: {
        t: tuple(
            r for r in RULES if r.op_types is not None and fmt in r.formats and t in r.op_types
        )
        for t in _KNOWN_BY_FORMAT[fmt]
    }
    for fmt in (MLPROGRAM, NEURALNETWORK)
}
_INDEX: dict[tuple[str, str], tuple[Rule, ...]] = {}


def _rules_for(fmt: str, op_type: str) -> tuple[Rule, ...]:
    key = (fmt, op_type)
    got = _INDEX.get(key)
    if got is None:
        got = _SPECIFIC[fmt].get(op_type, ()) + _GENERIC[fmt]
        _INDEX[key] = got
    return got


def rule_by_id(id: str) -> Rule:
    """The rule with this id; KeyError (naming the known ids) when there is none."""
    try:
        return _RULES_BY_ID[id]
    except KeyError:
        raise KeyError(f"unknown rule id {id!r}; known: {', '.join(_RULES_BY_ID)}") from None


def _fill(rule: Rule, details: Details, op: Op, ctx: RuleContext) -> str:
    values: dict[str, Any] = {"chip": ctx.chip.name, "op": op.name, "op_type": op.op_type}
    values.update(details)
    return rule.reason.format_map(values)


def op_support(op: Op, ctx: RuleContext) -> OpSupport:
    """Which devices `op` can run on in `ctx.graph` on `ctx.chip`, and the findings why not.

    Const ops have no placement: ask `support_for_graph`, which returns None for them.
    """
    if op.is_const:
        raise ValueError(
            f"{op.name!r} is a constant ({op.op_type}); constants are folded at "
            "compile time and have no device (support_for_graph gives None)"
        )
    findings: list[Finding] = []
    excluded: set[Device] = set()
    for rule in _rules_for(ctx.format_of(op), op.op_type):
        details = rule.check(op, ctx)
        if details is None:
            continue
        findings.append(Finding(rule, _fill(rule, details, op, ctx), rule.excludes))
        excluded |= rule.excludes
    excluded.discard(Device.CPU)  # the CPU can always run it (no rule excludes it, by design)
    return OpSupport(
        supported=ALL_DEVICES - excluded, findings=tuple(findings), known=ctx.is_known(op)
    )


def support_for_graph(
    graph: Graph, chip: ChipProfile | str | None = None
) -> list[OpSupport | None]:
    """`op_support` for every op of `graph`, in order; None for const ops."""
    ctx = RuleContext(graph, get_chip(chip))
    return [None if op.is_const else op_support(op, ctx) for op in graph.ops]
