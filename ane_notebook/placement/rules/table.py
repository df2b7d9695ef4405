"""The support-rules table: one `Rule` per row, as data.

Read it like a spreadsheet: each row names what it matches, which processors it rules out, the
reason a user reads (the verbatim compiler/Core ML string where one is known), a fix, and its
evidence level and source. The checks behind the rows are in `checks.py`; `engine.py` runs them.

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

from ..devices import Device, Evidence
from . import checks
from .citations import (
    AR,
    S_ANE_TRANSFORMERS,
    S_ANEMLL_LLAMA,
    S_ANEMLL_PROF,
    S_COREAI_RULES,
    S_CT337,
    S_CT1029,
    S_CT1196,
    S_CT1278,
    S_CT1780,
    S_CT1909,
    S_CT2631,
    S_FAQS,
    S_FLUID_CAND,
    S_FORUM_724930,
    S_FREEDOMTAN,
    S_GUIDE_4,
    S_GUIDE_17,
    S_GUIDE_18,
    S_GUIDE_A,
    S_HOLLANCE,
    S_HOLLANCE1,
    S_INSPECT,
    S_MOBIUS_MEL,
    S_RFDETR,
    S_SMPANARO,
    S_TYPED_EXEC,
    S_VX435,
    S_VX437,
)
from .engine import Rule
from .vocab import (
    ARGMAX_TYPES,
    BAND_PART_TYPES,
    CONTROL_TYPES,
    GATHER_TYPES,
    MLPROGRAM,
    NEURALNETWORK,
    NMS_TYPES,
    NN_DYNAMIC_TYPES,
    NN_ND_TYPES,
    NO_PATH_TYPES,
    RANDOM_UNIFORM_TYPES,
    RECURRENT_TYPES,
    SCATTER_TYPES,
    SIN_COS_TYPES,
    SORT_TYPES,
    STATE_TYPES,
    TEXTURE_TYPES,
    UPSAMPLE_TYPES,
)

_ANE: frozenset[Device] = frozenset({Device.ANE})
_GPU: frozenset[Device] = frozenset({Device.GPU})
_MLP = frozenset({MLPROGRAM})
_NN = frozenset({NEURALNETWORK})

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
            f'{AR} §A1/§A8: {S_TYPED_EXEC} ("Only the NE is barred ... float 32"); '
            f"verbatim string {S_FREEDOMTAN}; fp32 matmul/SDPA never ANE: {S_VX435}, "
            f"{S_VX437}"
        ),
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
        source=(
            f"{AR} §A1/§D: off the ANE on an M1-family bundle ({S_FREEDOMTAN}); "
            f"ANE-preferred on M4 ({S_VX435}); M3 not measured (we keep the M1 behaviour)"
        ),
        check=checks.check_fp32_cast,
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
            f"{AR} §A1: {S_ANEMLL_PROF} (cast to int16 and select off the ANE); "
            f"FluidInference/mobius ane-experiments.md (int32 mask CPU island); RE: "
            f"{S_GUIDE_A} (cast to int32 rejected on M1)"
        ),
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
        # §A1 lists the ANE's dtypes (fp16, int8, int16: OFFICIAL Core AI authoring rules); an
        # unknown one is not among them as far as we can tell, so we keep the ANE out (GUESS).
        evidence=Evidence.GUESS,
        source=f"{AR} §A1: apple/coreai-models neural_engine_rules.md (supported ANE dtypes)",
        check=checks.check_unknown_dtype,
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
            f'{AR} §A2/§A8: {S_COREAI_RULES} ("Max tensor rank: 5"); RE: {S_GUIDE_4} '
            f"(verbatim string)"
        ),
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
        source=(
            f"{AR} §A2/§A8: verbatim Core ML failure {S_MOBIUS_MEL}; per-chip limits RE "
            f'{S_GUIDE_A}; {S_ANEMLL_LLAMA} ("limited to 16384")'
        ),
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
        source=f"{AR} §A2/§A8: {S_GUIDE_4}, {S_GUIDE_17} (Linear validator)",
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
        source=(
            f"{AR} §A2/§A8: {S_SMPANARO} (50257-wide linear -> CPU, verbatim string); "
            f"{S_ANEMLL_LLAMA} (vocab split into chunks)"
        ),
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
        source=f"{AR} §A2/§A4/§A8: {S_GUIDE_4}, {S_GUIDE_17} (MatrixMult validator)",
        check=checks.check_matmul_depth,
        formats=_MLP,
    ),
    Rule(
        id="state.width",
        applies_to="read_state / write_state on a state tensor whose last axis is not a "
        "multiple of 32",
        op_types=STATE_TYPES,
        excludes=_ANE,
        reason="state tensor {tensor} has width {width}, not a multiple of 32; stateful ops "
        "with such widths failed on the Neural Engine",
        fix="pad the state's last axis to a multiple of 32 (e.g. 270 -> 288)",
        evidence=Evidence.COMMUNITY,
        source=f"{AR} §A2: {S_CT2631} (w=270 fails, w=256 works; M4, macOS 15.2)",
        check=checks.check_state_width,
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
            f"{AR} §A3/§A8: Apple engineer {S_FORUM_724930}; Xcode message {S_CT1029}; "
            f"coremltools#2370 (random RangeDim shapes: ANE 0%)"
        ),
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
        source=(
            f"{AR} §A3: {S_FAQS} (dynamic layers not supported on the NE); CML: "
            f"{S_SMPANARO} (runtime slice offsets -> CPU); CAI: apple/coreai-torch#6"
        ),
        check=checks.check_dynamic,
        formats=_MLP,
    ),
    Rule(
        id="nn.dynamic_layer",
        applies_to="NeuralNetwork layers that take their shape at run time (sliceDynamic, "
        "reshapeDynamic, fillDynamic, broadcastToDynamic, rangeDynamic, ...)",
        op_types=NN_DYNAMIC_TYPES,
        excludes=_ANE,
        reason="{op_type} is a dynamic layer; dynamic layers are not supported on the Neural "
        "Engine",
        fix="use the static variant of the layer (reshapeStatic, sliceStatic, ...) with fixed "
        "or enumerated input shapes",
        evidence=Evidence.OFFICIAL,
        source=f"{AR} §A3: {S_FAQS}",
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
        source=f"{AR} §A3: {S_CT1909}; {S_SMPANARO} (Oct 25 2023)",
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
        source=(
            f"{AR} §A4: our inference from {S_SMPANARO} (cond goes to CPU) and "
            f"{S_GUIDE_A} (cond/while_loop: no standalone code generation)"
        ),
        check=checks.check_nested,
    ),
    # ---- A4 op types -----------------------------------------------------------------------
    Rule(
        id="op.gather",
        applies_to="gather, gather_along_axis, gather_nd and embedding lookups",
        op_types=GATHER_TYPES,
        excludes=_ANE,
        reason="{op_type} (gather / embedding lookup) does not run on the Neural Engine in "
        "Core ML (supported: GPU, CPU)",
        fix="keep the lookup at the model's edge (it is cheap on the CPU), pass embeddings as "
        "an input, or pass cos/sin tables as 4-D inputs instead of gathering them",
        evidence=Evidence.COMMUNITY,
        source=(
            f'{AR} §A4: {S_INSPECT} (gather supported = GPU|CPU); {S_SMPANARO} ("gather '
            f'will not run on ANE, no matter the size"); {S_ANE_TRANSFORMERS} (embedding '
            f"= the CPU ops); RE {S_GUIDE_18} (no planner cost tree)"
        ),
        check=checks.always,
    ),
    Rule(
        id="op.scatter",
        applies_to="scatter, scatter_along_axis, scatter_nd",
        op_types=SCATTER_TYPES,
        excludes=_ANE,
        reason="{op_type} has no Neural Engine path on any chip family",
        fix="write with slice_update at constant offsets, concat static slices, or keep caches "
        "in MLState",
        evidence=Evidence.REVERSE,
        source=(
            f"{AR} §A4: {S_GUIDE_4} (no path); CML: FluidAudio ANE_Profiler.md (rank-5 "
            f"KV scatter rejected at any precision)"
        ),
        check=checks.always,
    ),
    Rule(
        id="op.sort",
        applies_to="topk, argsort",
        op_types=SORT_TYPES,
        excludes=_ANE,
        reason="{op_type} runs off the Neural Engine in Core ML",
        fix="return the scores and do top-k / sorting in post-processing",
        evidence=Evidence.COMMUNITY,
        source=(
            f"{AR} §A4/§D: {S_RFDETR} (topk and its consumers: the only CPU ops, M3 Pro); "
            f"the direct path runs topk from M2 (RE, {S_GUIDE_A}), Core ML does not"
        ),
        check=checks.always,
    ),
    Rule(
        id="op.argmax",
        applies_to="reduce_argmax, reduce_argmin",
        op_types=ARGMAX_TYPES,
        excludes=_ANE,
        reason="{op_type}: Core ML's planner never puts arg-max/arg-min on the Neural Engine",
        fix="return the scores and take the arg-max outside the model",
        evidence=Evidence.REVERSE,
        source=f"{AR} §A4: {S_GUIDE_17}, {S_GUIDE_18} (no engine cost tree for argmax)",
        check=checks.always,
    ),
    Rule(
        id="op.band_part",
        applies_to="band_part (causal masks)",
        op_types=BAND_PART_TYPES,
        excludes=_ANE,
        reason="{op_type} (matrix band part) is not able to run on the Neural Engine",
        fix="pass the causal mask as an fp16 input or a constant",
        evidence=Evidence.COMMUNITY,
        source=f"{AR} §A4: {S_SMPANARO} (Apr 4 2023); RE {S_GUIDE_4} (no path)",
        check=checks.always,
    ),
    Rule(
        id="op.control_flow",
        applies_to="cond, while_loop (and NN branch / loop layers)",
        op_types=CONTROL_TYPES,
        excludes=_ANE,
        reason="{op_type}: control flow (if/else, loops) isn't supported on the Neural Engine",
        fix="compute both branches and select, unroll loops with a fixed trip count, or move "
        "the control flow into app code",
        evidence=Evidence.COMMUNITY,
        source=(
            f"{AR} §A4: {S_SMPANARO} (Apr 16 2023); {S_ANEMLL_PROF} (while_loop GPU "
            f"fallback); RE {S_GUIDE_A}"
        ),
        check=checks.always,
    ),
    Rule(
        id="op.recurrent",
        applies_to="lstm, gru, rnn (and NN LSTM/GRU/simpleRecurrent layers)",
        op_types=RECURRENT_TYPES,
        excludes=_ANE,
        reason="RNN or LSTM are not supported on the neural engine ({op_type})",
        fix="unroll the recurrence into matmul/conv + activations with a fixed number of "
        "steps, or replace it with a convolutional or attention block",
        evidence=Evidence.OFFICIAL,
        source=(
            f"{AR} §A4/§A5: {S_CT1780} (maintainer); RE {S_GUIDE_4} (no path); "
            f"{S_FLUID_CAND} (no ANE kernel at any precision)"
        ),
        check=checks.always,
    ),
    Rule(
        id="op.recurrent_bnns",
        applies_to="lstm, gru, rnn: Core ML runs them on BNNS (the CPU)",
        op_types=RECURRENT_TYPES,
        excludes=_GPU,
        reason="{op_type} runs on BNNS (the CPU) in Core ML",
        fix="unroll the recurrence into matmul/conv + activations so the GPU or Neural Engine "
        "can take it",
        evidence=Evidence.COMMUNITY,
        source=f"{AR} §A4/§A5: {S_CT337} (LSTM on BNNS, iPhone XS); {S_FLUID_CAND}",
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
        source=f"{AR} §A4/§A5: {S_CT1278} (maintainer); {S_HOLLANCE}",
        check=checks.always,
        formats=_NN,
    ),
    Rule(
        id="op.nms",
        applies_to="non_maximum_suppression",
        op_types=NMS_TYPES,
        excludes=_ANE,
        reason="{op_type} offloads to the CPU or GPU; the Neural Engine has no NMS path",
        fix="run NMS in post-processing (Vision, app code) or a separate pipeline stage",
        evidence=Evidence.REVERSE,
        source=f"{AR} §A4: {S_GUIDE_A}",
        check=checks.always,
    ),
    Rule(
        id="op.no_ane_path",
        applies_to="reduce_prod, mod, logical and/or/xor, one_hot, non_zero, shape, "
        "reverse_sequence, sliding_windows, inverse and hyperbolic trig, random "
        "sampling other than uniform, range_1d, tensor lists",
        op_types=NO_PATH_TYPES,
        excludes=_ANE,
        reason="{op_type} has no Neural Engine path on any chip family",
        fix="rewrite it with ANE ops (reduce_prod via exp(reduce_sum(log)), logical_and via "
        "minimum or mul, precomputed constants for shape/range/one_hot) or compute it "
        "outside the model",
        evidence=Evidence.REVERSE,
        source=f'{AR} §A4: {S_GUIDE_4} ("Hard limits"); {S_GUIDE_A}',
        check=checks.always,
    ),
    Rule(
        id="op.sin_cos",
        applies_to="sin, cos on chips before the M3 class",
        op_types=SIN_COS_TYPES,
        excludes=_ANE,
        reason="{op_type} has no native Neural Engine path on {chip} (native from the M3 class)",
        fix="precompute sin/cos tables (e.g. rotary embeddings) as constants or fp16 inputs",
        evidence=Evidence.REVERSE,
        source=f"{AR} §A4/§A7: {S_GUIDE_A} (host polynomial on M1/M2); {S_FLUID_CAND}",
        check=checks.check_trig_gate,
    ),
    Rule(
        id="op.random_uniform",
        applies_to="random_uniform on chips before the M3 class",
        op_types=RANDOM_UNIFORM_TYPES,
        excludes=_ANE,
        reason="{op_type}: the Neural Engine's random generator arrives with the M3 class; "
        "{chip} draws random numbers on the host",
        fix="pass the random tensor as an fp16 input",
        evidence=Evidence.REVERSE,
        source=f"{AR} §A7: {S_GUIDE_A}",
        check=checks.check_trig_gate,
    ),
    Rule(
        id="op.texture",
        applies_to="resize, crop_resize, resample, affine on chips without the texture engine "
        "(M1 class)",
        op_types=TEXTURE_TYPES,
        excludes=_ANE,
        reason="{op_type} needs the Neural Engine's texture engine, which {chip} does not have",
        fix="use upsample_nearest_neighbor / upsample_bilinear with integer factors, or a "
        "transposed conv, instead of a general resize",
        evidence=Evidence.REVERSE,
        source=f"{AR} §A4/§A7: {S_GUIDE_A} (texture engine from M2-class); {S_GUIDE_4}",
        check=checks.check_texture,
    ),
    Rule(
        id="upsample.factor",
        applies_to="upsample layers with a scale factor above 2",
        op_types=UPSAMPLE_TYPES,
        excludes=_ANE,
        reason="upsampling by a factor of {factor} (> 2) is reported not to work on the Neural "
        "Engine",
        fix="chain several upsampling layers of factor 2",
        evidence=Evidence.GUESS,
        source=f"{AR} §A4/§A5: {S_HOLLANCE} (2020 claim); {S_HOLLANCE1}",
        check=checks.check_upsample_factor,
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
        source=f"{AR} §A4/§A8: {S_GUIDE_17} (Pad validator)",
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
        source=f"{AR} §A4/§A8: {S_GUIDE_17} (Pad validator); {S_GUIDE_A}",
        check=checks.check_pad_mode,
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
            f"{AR} §A4/§A7/§A8: {S_GUIDE_A} (max kernel W fp16 13/16, H 29/32); os_log "
            f"string {S_HOLLANCE1}"
        ),
        check=checks.check_conv_kernel,
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
        source=f"{AR} §A4/§A8: {S_GUIDE_17} (Conv validator)",
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
        source=f"{AR} §A4: {S_VX437} (>= 1x16x2048x64 fp16 -> ANE; <= 1M elements -> CPU, M4)",
        check=checks.check_sdpa_small,
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
        source=f"{AR} §0 (no published op list); ours: a dictionary output cannot be an ANE tensor",
        check=checks.always,
        formats=_MLP,
    ),
    # ---- A5 NeuralNetwork layers ----------------------------------------------------------
    Rule(
        id="nn.nd_layer",
        applies_to="Core ML 3 broadcastable and ND layers (addBroadcastable, concatND, ...)",
        op_types=NN_ND_TYPES,
        excludes=_ANE,
        reason="{op_type} is a broadcastable / ND layer; these will not run on the ANE",
        fix="replace with the older layer (addBroadcastable -> add, multiplyBroadcastable -> "
        "multiply or scale, concatND -> concat, ...), or convert to an ML Program",
        evidence=Evidence.GUESS,
        source=f'{AR} §A5: {S_HOLLANCE} (author: "some of these are guesses")',
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
        source=f"{AR} §A5: {S_CT1196} (M1, 2021)",
        check=checks.always,
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
        source=f"{AR} §A5: {S_HOLLANCE}; {S_HOLLANCE1} (os_log)",
        check=checks.check_nn_pooling,
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
        source=f"{AR} §0/§A6 (ours: only neural networks and ML programs reach the GPU/ANE)",
        check=checks.check_non_neural_stage,
    ),
    Rule(
        id="op.unknown",
        applies_to="any op type the table does not know (including MIL custom ops)",
        op_types=None,
        excludes=_ANE,
        reason="not in the rule table",
        fix="check the Xcode performance report or MLComputePlan on a Mac for this op",
        evidence=Evidence.GUESS,
        source=f"{AR} §0 (no published op list; custom ops never ANE: {S_CT1278})",
        check=checks.check_unknown,
    ),
)
