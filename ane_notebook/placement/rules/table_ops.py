"""The support-rules table, second part: rules about op types (and NeuralNetwork layers).

One `Rule` per row, as data: what it matches, which processors it rules out, the reason a user
reads, a fix, its evidence level and its source (a section of `docs/evidence.md`). These rules
are about what an op is (gather, sort, recurrent, custom layers, ...) and end with the fallback
rows; `table_tensors.py` holds the rules about tensors, `table.py` joins the two.
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

OP_RULES: tuple[Rule, ...] = (
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
