"""The support-rules table, first part: rules about an op's tensors (dtype, rank, extent, shapes).

One `Rule` per row, as data: what it matches, which processors it rules out, the reason a user
reads, a fix, its evidence level and its source (a section of `docs/evidence.md`). These rules
look at what flows through an op whatever its type; `table_ops.py` holds the rules about op
types. `table.py` joins the two, this part first (the order is the order findings are listed).
"""

from __future__ import annotations

from ..devices import Device, Evidence
from . import checks
from . import citations as src
from . import vocab as v
from .citations import cite
from .engine import Rule

_ANE: frozenset[Device] = frozenset({Device.ANE})
_MLP = frozenset({v.MLPROGRAM})
_NN = frozenset({v.NEURALNETWORK})

TENSOR_RULES: tuple[Rule, ...] = (
    # ---- dtype ----------------------------------------------------------------------------
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
        source=cite("dtype.fp32", src.TYPED_EXEC),
        check=checks.check_fp32,
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
        source=cite("dtype.fp32_cast", src.FREEDOMTAN, src.VX435),
        check=checks.check_fp32_cast,
        formats=_MLP,
        contested=True,
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
        source=cite("dtype.int", src.ANEMLL_PROF),
        check=checks.check_int,
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
        evidence=Evidence.GUESS,
        source=cite("dtype.unknown", src.COREAI_RULES),
        check=checks.check_unknown_dtype,
        formats=_MLP,
    ),
    # ---- rank / extent --------------------------------------------------------------------
    Rule(
        id="tensor.rank",
        applies_to="any op with an input or output of rank above 5",
        op_types=None,
        excludes=_ANE,
        reason="tensor rank {rank} exceeds the ANE maximum of 5 ({tensor})",
        fix="reshape to rank 4 (the (B, C, 1, S) layout) around this op",
        evidence=Evidence.OFFICIAL,
        source=cite("tensor.rank", src.COREAI_RULES),
        check=checks.check_rank,
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
        source=cite("axis.extent", src.MOBIUS_MEL),
        check=checks.check_extent,
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
        source=cite("linear.rank5", src.GUIDE_17),
        check=checks.check_linear_rank,
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
        source=cite("linear.vocab", src.SMPANARO),
        check=checks.check_linear_vocab,
    ),
    Rule(
        id="matmul.depth",
        applies_to="matmul with a rank-5 operand whose depth axis (axis 1) is above 1",
        op_types=frozenset({"matmul"}),
        excludes=_ANE,
        reason="depth > 1 is not supported for MatMult (depth {depth} in {tensor})",
        fix="fold the extra batch axis into the batch (axis 0) so the operands are rank 4",
        evidence=Evidence.REVERSE,
        source=cite("matmul.depth", src.GUIDE_17),
        check=checks.check_matmul_depth,
        formats=_MLP,
    ),
    Rule(
        id="state.width",
        applies_to="read_state / write_state on a state tensor whose last axis is not a "
        "multiple of 32",
        op_types=v.STATE_TYPES,
        excludes=_ANE,
        reason="state tensor {tensor} has width {width}, not a multiple of 32; stateful ops "
        "with such widths failed on the Neural Engine",
        fix="pad the state's last axis to a multiple of 32 (e.g. 270 -> 288)",
        evidence=Evidence.COMMUNITY,
        source=cite("state.width", src.CT2631),
        check=checks.check_state_width,
        formats=_MLP,
    ),
    # ---- flexible shapes ------------------------------------------------------------------
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
        source=cite("shape.range_flexible", src.FORUM_724930),
        check=checks.check_range_flexible,
    ),
    Rule(
        id="shape.dynamic",
        applies_to="reshape / slice / slice_update / tile / pad / fill whose shape, begin or "
        "size argument is computed at run time",
        op_types=frozenset(checks.DYNAMIC_ARGS),
        excludes=_ANE,
        reason="{op_type} is a dynamic layer: argument {arg} is computed at run time, and "
        "dynamic layers are not supported on the Neural Engine",
        fix="make the argument a constant (fixed or enumerated input shapes let the converter "
        "keep a static reshape/slice)",
        evidence=Evidence.OFFICIAL,
        source=cite("shape.dynamic", src.FAQS),
        check=checks.check_dynamic,
        formats=_MLP,
    ),
    Rule(
        id="nn.dynamic_layer",
        applies_to="NeuralNetwork layers that take their shape at run time (sliceDynamic, "
        "reshapeDynamic, fillDynamic, broadcastToDynamic, rangeDynamic, ...)",
        op_types=v.NN_DYNAMIC_TYPES,
        excludes=_ANE,
        reason="{op_type} is a dynamic layer; dynamic layers are not supported on the Neural "
        "Engine",
        fix="use the static variant of the layer (reshapeStatic, sliceStatic, ...) with fixed "
        "or enumerated input shapes",
        evidence=Evidence.OFFICIAL,
        source=cite("nn.dynamic_layer", src.FAQS),
        check=checks.always,
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
        source=cite("layer_norm.enumerated_rank3", src.CT1909),
        check=checks.check_layer_norm_rank3,
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
        source=cite("control.nested", src.SMPANARO),
        check=checks.check_nested,
    ),
)
