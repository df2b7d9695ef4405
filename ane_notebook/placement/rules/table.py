"""The support-rules table: one `Rule` per row, as data.

Read it like a spreadsheet: each row names what it matches, which processors it rules out, the
reason a user reads (the verbatim compiler/Core ML string where one is known), a fix, and its
evidence level and source. The checks behind the rows are in `checks.py`; `engine.py` runs them.
Each row's source cites its section of `docs/evidence.md`, which says what the evidence is, what
it measured (Core ML placement, or only what the ANE can do) and how we decided where sources
disagree.
"""

from __future__ import annotations

from ..devices import Device, Evidence
from . import checks
from . import citations as src
from . import vocab as v
from .citations import cite
from .engine import Rule

_ANE: frozenset[Device] = frozenset({Device.ANE})
_GPU: frozenset[Device] = frozenset({Device.GPU})
_MLP = frozenset({v.MLPROGRAM})
_NN = frozenset({v.NEURALNETWORK})

RULES: tuple[Rule, ...] = (
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
    # ---- op types -------------------------------------------------------------------------
    Rule(
        id="op.gather",
        applies_to="gather, gather_along_axis, gather_nd and embedding lookups",
        op_types=v.GATHER_TYPES,
        excludes=_ANE,
        reason="{op_type} (gather / embedding lookup) does not run on the Neural Engine in "
        "Core ML (supported: GPU, CPU)",
        fix="keep the lookup at the model's edge (it is cheap on the CPU), pass embeddings as "
        "an input, or pass cos/sin tables as 4-D inputs instead of gathering them",
        evidence=Evidence.COMMUNITY,
        source=cite("op.gather", src.INSPECT),
        check=checks.always,
    ),
    Rule(
        id="op.scatter",
        applies_to="scatter, scatter_along_axis, scatter_nd",
        op_types=v.SCATTER_TYPES,
        excludes=_ANE,
        reason="{op_type} has no Neural Engine path on any chip family",
        fix="write with slice_update at constant offsets, concat static slices, or keep caches "
        "in MLState",
        evidence=Evidence.REVERSE,
        source=cite("op.scatter", src.GUIDE_4),
        check=checks.always,
    ),
    Rule(
        id="op.sort",
        applies_to="topk, argsort",
        op_types=v.SORT_TYPES,
        excludes=_ANE,
        reason="{op_type} runs off the Neural Engine in Core ML",
        fix="return the scores and do top-k / sorting in post-processing",
        evidence=Evidence.COMMUNITY,
        source=cite("op.sort", src.RFDETR),
        check=checks.always,
    ),
    Rule(
        id="op.argmax",
        applies_to="reduce_argmax, reduce_argmin",
        op_types=v.ARGMAX_TYPES,
        excludes=_ANE,
        reason="{op_type}: Core ML's planner never puts arg-max/arg-min on the Neural Engine",
        fix="return the scores and take the arg-max outside the model",
        evidence=Evidence.REVERSE,
        source=cite("op.argmax", src.GUIDE_18),
        check=checks.always,
    ),
    Rule(
        id="op.band_part",
        applies_to="band_part (causal masks)",
        op_types=v.BAND_PART_TYPES,
        excludes=_ANE,
        reason="{op_type} (matrix band part) is not able to run on the Neural Engine",
        fix="pass the causal mask as an fp16 input or a constant",
        evidence=Evidence.COMMUNITY,
        source=cite("op.band_part", src.SMPANARO),
        check=checks.always,
    ),
    Rule(
        id="op.control_flow",
        applies_to="cond, while_loop (and NN branch / loop layers)",
        op_types=v.CONTROL_TYPES,
        excludes=_ANE,
        reason="{op_type}: control flow (if/else, loops) isn't supported on the Neural Engine",
        fix="compute both branches and select, unroll loops with a fixed trip count, or move "
        "the control flow into app code",
        evidence=Evidence.COMMUNITY,
        source=cite("op.control_flow", src.SMPANARO),
        check=checks.always,
    ),
    Rule(
        id="op.recurrent",
        applies_to="lstm, gru, rnn (and NN LSTM/GRU/simpleRecurrent layers)",
        op_types=v.RECURRENT_TYPES,
        excludes=_ANE,
        reason="RNN or LSTM are not supported on the neural engine ({op_type})",
        fix="unroll the recurrence into matmul/conv + activations with a fixed number of "
        "steps, or replace it with a convolutional or attention block",
        evidence=Evidence.OFFICIAL,
        source=cite("op.recurrent", src.CT1780),
        check=checks.always,
    ),
    Rule(
        id="op.recurrent_bnns",
        applies_to="lstm, gru, rnn: Core ML runs them on BNNS (the CPU)",
        op_types=v.RECURRENT_TYPES,
        excludes=_GPU,
        reason="{op_type} runs on BNNS (the CPU) in Core ML",
        fix="unroll the recurrence into matmul/conv + activations so the GPU or Neural Engine "
        "can take it",
        evidence=Evidence.COMMUNITY,
        source=cite("op.recurrent_bnns", src.CT337),
        check=checks.always,
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
        source=cite("op.custom", src.CT1278),
        check=checks.always,
        formats=_NN,
    ),
    Rule(
        id="op.nms",
        applies_to="non_maximum_suppression",
        op_types=v.NMS_TYPES,
        excludes=_ANE,
        reason="{op_type} offloads to the CPU or GPU; the Neural Engine has no NMS path",
        fix="run NMS in post-processing (Vision, app code) or a separate pipeline stage",
        evidence=Evidence.REVERSE,
        source=cite("op.nms", src.GUIDE_A),
        check=checks.always,
    ),
    Rule(
        id="op.no_ane_path",
        applies_to="reduce_prod, mod, logical and/or/xor, one_hot, non_zero, shape, "
        "reverse_sequence, sliding_windows, inverse and hyperbolic trig, random "
        "sampling other than uniform, range_1d, tensor lists",
        op_types=v.NO_PATH_TYPES,
        excludes=_ANE,
        reason="{op_type} has no Neural Engine path on any chip family",
        fix="rewrite it with ANE ops (reduce_prod via exp(reduce_sum(log)), logical_and via "
        "minimum or mul, precomputed constants for shape/range/one_hot) or compute it "
        "outside the model",
        evidence=Evidence.REVERSE,
        source=cite("op.no_ane_path", src.GUIDE_4),
        check=checks.always,
    ),
    Rule(
        id="op.sin_cos",
        applies_to="sin, cos on chips before the M3 class",
        op_types=v.SIN_COS_TYPES,
        excludes=_ANE,
        reason="{op_type} has no native Neural Engine path on {chip} (native from the M3 class)",
        fix="precompute sin/cos tables (e.g. rotary embeddings) as constants or fp16 inputs",
        evidence=Evidence.REVERSE,
        source=cite("op.sin_cos", src.GUIDE_A),
        check=checks.check_trig_gate,
    ),
    Rule(
        id="op.random_uniform",
        applies_to="random_uniform on chips before the M3 class",
        op_types=v.RANDOM_UNIFORM_TYPES,
        excludes=_ANE,
        reason="{op_type}: the Neural Engine's random generator arrives with the M3 class; "
        "{chip} draws random numbers on the host",
        fix="pass the random tensor as an fp16 input",
        evidence=Evidence.REVERSE,
        source=cite("op.random_uniform", src.GUIDE_A),
        check=checks.check_trig_gate,
    ),
    Rule(
        id="op.texture",
        applies_to="resize, crop_resize, resample, affine on chips without the texture engine "
        "(M1 class)",
        op_types=v.TEXTURE_TYPES,
        excludes=_ANE,
        reason="{op_type} needs the Neural Engine's texture engine, which {chip} does not have",
        fix="use upsample_nearest_neighbor / upsample_bilinear with integer factors, or a "
        "transposed conv, instead of a general resize",
        evidence=Evidence.REVERSE,
        source=cite("op.texture", src.GUIDE_A),
        check=checks.check_texture,
    ),
    Rule(
        id="upsample.factor",
        applies_to="upsample layers with a scale factor above 2",
        op_types=v.UPSAMPLE_TYPES,
        excludes=_ANE,
        reason="upsampling by a factor of {factor}: only scaling factor of 2 is supported on the "
        "Neural Engine",
        fix="chain several upsampling layers of factor 2",
        evidence=Evidence.COMMUNITY,
        source=cite("upsample.factor", src.HOLLANCE2, src.HOLLANCE),
        check=checks.check_upsample_factor,
        contested=True,
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
        source=cite("pad.channel", src.GUIDE_17),
        check=checks.check_pad_channel,
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
        source=cite("pad.mode", src.GUIDE_17),
        check=checks.check_pad_mode,
        formats=_MLP,
    ),
    Rule(
        id="conv.kernel",
        applies_to="conv / conv_transpose with a kernel larger than one Neural Engine call takes "
        "(fp16 width 13 on M1-class chips, 16 later; height 29 / 32): Core ML splits it into "
        "several ANE calls, each past the first one more dispatch",
        op_types=frozenset({"conv", "conv_transpose", "convolution"}),
        excludes=frozenset(),
        reason="kernel {kernel} is larger than one Neural Engine call takes ({over} on {chip}); "
        "Core ML splits it into {ane_dispatches} ANE calls",
        fix="factor the kernel into smaller ones within the chip's limit (e.g. two stacked "
        "convs, or a 1xk and a kx1 conv) to save the extra dispatches",
        evidence=Evidence.REVERSE,
        source=cite("conv.kernel", src.GUIDE_A, src.YOLOV5_2526),
        check=checks.check_conv_kernel,
        contested=True,
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
        source=cite("conv.groups", src.GUIDE_17),
        check=checks.check_conv_groups,
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
        source=cite("sdpa.small", src.VX437),
        check=checks.check_sdpa_small,
        formats=_MLP,
        contested=True,
    ),
    Rule(
        id="op.classify",
        applies_to="classify (a classifier's label/probability output)",
        op_types=frozenset({"classify"}),
        excludes=_ANE,
        reason="classify builds the classifier's label dictionary; it runs on the CPU",
        fix="nothing to fix: it is a cheap step at the end of the model",
        evidence=Evidence.GUESS,
        source=cite("op.classify", src.CT1780),
        check=checks.always,
        formats=_MLP,
    ),
    # ---- NeuralNetwork layers -------------------------------------------------------------
    Rule(
        id="nn.nd_layer",
        applies_to="Core ML 3 broadcastable and ND layers (addBroadcastable, concatND, ...)",
        op_types=v.NN_ND_TYPES,
        excludes=_ANE,
        reason="{op_type} is a broadcastable / ND layer; these will not run on the ANE",
        fix="replace with the older layer (addBroadcastable -> add, multiplyBroadcastable -> "
        "multiply or scale, concatND -> concat, ...), or convert to an ML Program",
        evidence=Evidence.GUESS,
        source=cite("nn.nd_layer", src.HOLLANCE),
        check=checks.always,
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
        source=cite("nn.batched_matmul", src.CT1196),
        check=checks.always,
        formats=_NN,
    ),
    Rule(
        id="nn.pooling",
        applies_to="NeuralNetwork pooling with a kernel wider than 13 or a horizontal stride "
        "above 2",
        op_types=frozenset({"pooling"}),
        excludes=_ANE,
        reason="pooling {what} {value} (> {limit}) failed Core ML's Neural Engine kernel "
        "validation",
        fix="use global pooling, or stack smaller pools (kernel width <= 13, stride <= 2)",
        evidence=Evidence.COMMUNITY,
        source=cite("nn.pooling", src.HOLLANCE2, src.HOLLANCE),
        check=checks.check_nn_pooling,
        formats=_NN,
        contested=True,
    ),
    # ---- fallback -------------------------------------------------------------------------
    Rule(
        id="op.non_neural_stage",
        applies_to="a non-neural pipeline stage (tree ensemble, GLM, feature vectorizer, ...)",
        op_types=None,
        excludes=frozenset({Device.ANE, Device.GPU}),
        reason="pipeline stage {stage} is not a neural network; Core ML runs it on the CPU",
        fix="nothing to fix here; keep such stages small, or move them into app code",
        evidence=Evidence.GUESS,
        source=cite("op.non_neural_stage", "ours"),
        check=checks.check_non_neural_stage,
        formats=frozenset({v.NON_NEURAL}),
    ),
    Rule(
        id="op.unknown",
        applies_to="any op type the table does not know (including MIL custom ops)",
        op_types=None,
        excludes=_ANE,
        reason="not in the rule table",
        fix="check the Xcode performance report or MLComputePlan on a Mac for this op",
        evidence=Evidence.GUESS,
        source=cite("op.unknown", src.CT1780, src.CT1278),
        check=checks.check_unknown,
    ),
)
