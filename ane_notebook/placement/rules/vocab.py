"""Op-type vocabularies and groups: every op type the rule table knows, and what it knows of it.

* `MIL_OP_TYPES` / `NN_LAYER_TYPES`: every ML Program (MIL) op type and NeuralNetwork layer type
  Core ML defines. MIL: coremltools 9's op registry (`SSAOpRegistry.core_ops`, all opsets) plus
  `write_state`, the serialized form of `coreml_update_state`. NeuralNetwork: the `layer` oneof of
  `NeuralNetworkLayer`. Written out (not imported) so the placement code does not pay for
  importing the converter; tests/test_rules.py checks both lists against coremltools and that
  every name is classified (ANE-capable below, or named by a rule that can exclude it).
* The op-type groups the rules match on (gather, scatter, sort, ...), in MIL and NN spellings.
* `ANE_CAPABLE`: the op types that run on the ANE unless a rule fires, with the evidence for each
  group (each cites its section of `docs/evidence.md`).

Names are listed as whitespace-separated words (`_words`), so a long list reads like a table.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..devices import Evidence
from . import citations as src
from .citations import cite


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Model formats the rules distinguish. A pipeline mixes them: each op keeps its own stage's. A
# non-neural pipeline stage (tree ensemble, GLM, ...) is one op of neither neural format, so the
# ML Program and NeuralNetwork rules (dtypes, shapes, ...) do not speak for it.
MLPROGRAM = "mlprogram"
NEURALNETWORK = "neuralnetwork"
NON_NEURAL = "non_neural"
NEURAL_FORMATS: frozenset[str] = frozenset({MLPROGRAM, NEURALNETWORK})
FORMATS: frozenset[str] = NEURAL_FORMATS | {NON_NEURAL}

# --------------------------------------------------------------------------------------------
# Every op type of each format.

MIL_OP_TYPES: frozenset[str] = _words(
    """
    _const_symbolic abs acos add affine argsort asin atan atanh avg_pool band_part batch_norm
    batch_to_space cast ceil clamped_relu classify clip concat cond const
    constexpr_affine_dequantize constexpr_blockwise_shift_scale constexpr_cast
    constexpr_lut_to_dense constexpr_lut_to_sparse constexpr_sparse_blockwise_shift_scale
    constexpr_sparse_to_dense conv conv_quantized conv_transpose coreml_update_state cos cosh
    crop crop_resize cumsum depth_to_space dequantize einsum elu equal erf exp exp2 expand_dims
    fill fill_like flatten2d floor floor_div gather gather_along_axis gather_nd gelu greater
    greater_equal gru identity instance_norm inverse l2_norm l2_pool layer_norm leaky_relu less
    less_equal linear linear_activation list_gather list_length list_read list_scatter
    list_write local_response_norm log logical_and logical_not logical_or logical_xor lstm
    make_list matmul max_pool maximum minimum mod mul non_maximum_suppression non_zero not_equal
    one_hot pad pixel_shuffle pixel_unshuffle pow prelu quantize random_bernoulli
    random_categorical random_normal random_uniform range_1d read_state real_div reduce_argmax
    reduce_argmin reduce_l1_norm reduce_l2_norm reduce_log_sum reduce_log_sum_exp reduce_max
    reduce_mean reduce_min reduce_prod reduce_sum reduce_sum_square relu relu6 resample reshape
    reshape_like resize resize_bilinear resize_nearest_neighbor reverse reverse_sequence rnn
    round rsqrt scaled_dot_product_attention scaled_tanh scatter scatter_along_axis scatter_nd
    select shape sigmoid sigmoid_hard sign silu sin sinh slice_by_index slice_by_size
    slice_update sliding_windows softmax softplus softplus_parametric softsign space_to_batch
    space_to_depth split sqrt square squeeze stack sub tan tanh threshold thresholded_relu tile
    topk transpose upsample_bilinear upsample_nearest_neighbor while_loop write_state
    """
)
NN_LAYER_TYPES: frozenset[str] = _words(
    """
    convolution pooling activation innerProduct embedding batchnorm mvn l2normalize softmax lrn
    crop padding upsample resizeBilinear cropResize unary add multiply average scale bias max
    min dot reduce loadConstant reshape flatten permute concat split sequenceRepeat
    reorganizeData slice simpleRecurrent gru uniDirectionalLSTM biDirectionalLSTM custom copy
    branch loop loopBreak loopContinue rangeStatic rangeDynamic clip ceil floor sign round exp2
    sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh erf gelu equal notEqual lessThan
    lessEqual greaterThan greaterEqual logicalOr logicalXor logicalNot logicalAnd
    modBroadcastable minBroadcastable maxBroadcastable addBroadcastable powBroadcastable
    divideBroadcastable floorDivBroadcastable multiplyBroadcastable subtractBroadcastable tile
    stack gather scatter gatherND scatterND softmaxND gatherAlongAxis scatterAlongAxis reverse
    reverseSeq splitND concatND transpose sliceStatic sliceDynamic slidingWindows topK argMin
    argMax embeddingND batchedMatmul getShape loadConstantND fillLike fillStatic fillDynamic
    broadcastToLike broadcastToStatic broadcastToDynamic squeeze expandDims flattenTo2D
    reshapeLike reshapeStatic reshapeDynamic rankPreservingReshape constantPad randomNormalLike
    randomNormalStatic randomNormalDynamic randomUniformLike randomUniformStatic
    randomUniformDynamic randomBernoulliLike randomBernoulliStatic randomBernoulliDynamic
    categoricalDistribution reduceL1 reduceL2 reduceMax reduceMin reduceSum reduceProd
    reduceMean reduceLogSum reduceSumSquare reduceLogSumExp whereNonZero matrixBandPart
    lowerTriangular upperTriangular whereBroadcastable layerNormalization NonMaximumSuppression
    oneHot cumSum clampedReLU argSort pooling3d globalPooling3d sliceBySize convolution3d
    """
)

KNOWN_MIL_OP_TYPES: frozenset[str] = MIL_OP_TYPES
KNOWN_NN_LAYER_TYPES: frozenset[str] = NN_LAYER_TYPES
KNOWN_OP_TYPES: frozenset[str] = MIL_OP_TYPES | NN_LAYER_TYPES
KNOWN_BY_FORMAT: Mapping[str, frozenset[str]] = {
    MLPROGRAM: KNOWN_MIL_OP_TYPES,
    NEURALNETWORK: KNOWN_NN_LAYER_TYPES,
    NON_NEURAL: frozenset(),  # named after the stage's model type, which the loader keeps
}

# --------------------------------------------------------------------------------------------
# Op-type groups the rules match on (MIL and NeuralNetwork spellings together).

GATHER_TYPES: frozenset[str] = _words(
    "gather gather_along_axis gather_nd gatherND gatherAlongAxis embedding embeddingND"
)
SCATTER_TYPES: frozenset[str] = _words(
    "scatter scatter_along_axis scatter_nd scatterND scatterAlongAxis"
)
SORT_TYPES: frozenset[str] = _words("topk argsort topK argSort")
ARGMAX_TYPES: frozenset[str] = _words("reduce_argmax reduce_argmin argMax argMin")
BAND_PART_TYPES: frozenset[str] = _words("band_part matrixBandPart lowerTriangular upperTriangular")
CONTROL_TYPES: frozenset[str] = _words("cond while_loop branch loop loopBreak loopContinue")
RECURRENT_TYPES: frozenset[str] = _words(
    "lstm gru rnn uniDirectionalLSTM biDirectionalLSTM simpleRecurrent"
)
NMS_TYPES: frozenset[str] = _words("non_maximum_suppression NonMaximumSuppression")
# No hardware path on any family, in MIL and NN spellings (docs/evidence.md#op.no_ane_path).
NO_PATH_TYPES: frozenset[str] = _words(
    """
    reduce_prod mod logical_and logical_or logical_xor one_hot non_zero shape reverse_sequence
    sliding_windows tan asin acos atanh sinh cosh random_normal random_bernoulli
    random_categorical range_1d make_list list_read list_write list_gather list_scatter
    list_length reduceProd modBroadcastable logicalAnd logicalOr logicalXor oneHot whereNonZero
    getShape reverseSeq slidingWindows asinh acosh randomNormalLike randomNormalStatic
    randomNormalDynamic randomBernoulliLike randomBernoulliStatic randomBernoulliDynamic
    categoricalDistribution rangeStatic
    """
)
SIN_COS_TYPES: frozenset[str] = _words("sin cos")
RANDOM_UNIFORM_TYPES: frozenset[str] = _words(
    "random_uniform randomUniformLike randomUniformStatic"
)
TEXTURE_TYPES: frozenset[str] = _words(
    """
    resize resize_bilinear resize_nearest_neighbor crop_resize resample affine resizeBilinear
    cropResize
    """
)
UPSAMPLE_TYPES: frozenset[str] = _words("upsample upsample_nearest_neighbor upsample_bilinear")
STATE_TYPES: frozenset[str] = _words("read_state write_state coreml_update_state")
# Core ML 3 "broadcastable" and "ND" layers (docs/evidence.md#nn.nd_layer).
NN_ND_TYPES: frozenset[str] = _words(
    """
    addBroadcastable subtractBroadcastable multiplyBroadcastable divideBroadcastable
    floorDivBroadcastable modBroadcastable maxBroadcastable minBroadcastable powBroadcastable
    whereBroadcastable concatND splitND softmaxND loadConstantND embeddingND gatherND scatterND
    """
)
# NN layers whose shape arguments arrive at run time (docs/evidence.md#nn.dynamic_layer).
NN_DYNAMIC_TYPES: frozenset[str] = _words(
    """
    sliceDynamic reshapeDynamic fillDynamic broadcastToDynamic rangeDynamic randomUniformDynamic
    """
)
# Convolution-like ops are channel-first at every rank, so their channels land on C, whose cap
# is 65536 (docs/evidence.md#rules.LAYOUT). NeuralNetwork layers are not listed: they act on the
# trailing C, H, W axes at every rank (rank-5 blobs are [Seq, Batch, C, H, W],
# NeuralNetwork.proto), which the generic right-aligned layout already maps onto C, H, W.
CHANNEL_FIRST_OPS: frozenset[str] = _words(
    """
    conv conv_transpose conv_quantized avg_pool max_pool l2_pool batch_norm instance_norm
    upsample_nearest_neighbor upsample_bilinear resize_bilinear resize_nearest_neighbor
    """
)

# --------------------------------------------------------------------------------------------
# ANE-capable op types: on the ANE unless a rule fires. (format, types, evidence, source).

_CAPABLE_GROUPS: tuple[tuple[str, frozenset[str], Evidence, str], ...] = (
    (
        MLPROGRAM,
        _words("conv conv_transpose conv_quantized"),
        Evidence.COMMUNITY,
        cite("capable.conv", src.FREEDOMTAN),
    ),
    (
        MLPROGRAM,
        _words("linear matmul linear_activation"),
        Evidence.COMMUNITY,
        cite("capable.linear", src.FLUID_CAND, src.VX435),
    ),
    (
        MLPROGRAM,
        _words("einsum"),
        Evidence.OFFICIAL,
        cite("capable.einsum", src.APPLE_ARTICLE),
    ),
    (
        MLPROGRAM,
        _words("scaled_dot_product_attention"),
        Evidence.COMMUNITY,
        cite("capable.sdpa", src.VX437),
    ),
    (
        MLPROGRAM,
        _words("softmax layer_norm batch_norm instance_norm l2_norm local_response_norm"),
        Evidence.COMMUNITY,
        cite("capable.norm", src.FREEDOMTAN, src.ANE_TRANSFORMERS),
    ),
    (
        MLPROGRAM,
        _words(
            """
            add sub mul real_div floor_div pow maximum minimum equal not_equal greater
            greater_equal less less_equal logical_not abs sqrt rsqrt exp exp2 log inverse square
            sign ceil floor round atan erf tanh clip relu relu6 gelu silu sigmoid sigmoid_hard
            elu leaky_relu prelu softplus softplus_parametric softsign clamped_relu scaled_tanh
            threshold thresholded_relu
            """
        ),
        Evidence.COMMUNITY,
        cite("capable.elementwise", src.VOXCPM),
    ),
    (
        MLPROGRAM,
        _words(
            """
            reduce_sum reduce_mean reduce_max reduce_min reduce_l1_norm reduce_l2_norm
            reduce_log_sum reduce_log_sum_exp reduce_sum_square
            """
        ),
        Evidence.COMMUNITY,
        cite("capable.reduce", src.VOXCPM),
    ),
    (
        MLPROGRAM,
        _words(
            """
            reshape reshape_like transpose squeeze expand_dims flatten2d concat split stack
            slice_by_index slice_by_size slice_update tile select pad crop reverse identity
            pixel_shuffle pixel_unshuffle space_to_depth depth_to_space space_to_batch
            batch_to_space fill fill_like
            """
        ),
        Evidence.OFFICIAL,
        cite("capable.data_movement", src.APPLE_ARTICLE),
    ),
    (
        MLPROGRAM,
        _words("avg_pool max_pool l2_pool"),
        Evidence.OFFICIAL,
        cite("capable.pool", src.COREAI_RULES, src.GUIDE_A),
    ),
    (
        MLPROGRAM,
        _words("upsample_nearest_neighbor upsample_bilinear"),
        Evidence.COMMUNITY,
        cite("capable.upsample", src.HOLLANCE),
    ),
    (
        MLPROGRAM,
        _words("resize resize_bilinear resize_nearest_neighbor crop_resize resample affine"),
        Evidence.REVERSE,
        cite("capable.texture", src.GUIDE_A),
    ),
    (
        MLPROGRAM,
        _words("sin cos random_uniform"),
        Evidence.REVERSE,
        cite("capable.trig", src.GUIDE_A),
    ),
    (
        MLPROGRAM,
        _words("cast quantize dequantize"),
        Evidence.REVERSE,
        cite("capable.cast_quant", src.GUIDE_A, src.QUANT_PERF),
    ),
    (
        MLPROGRAM,
        _words("cumsum"),
        Evidence.REVERSE,
        cite("capable.cumsum", src.GUIDE_A),
    ),
    (
        MLPROGRAM,
        STATE_TYPES,
        Evidence.REVERSE,
        cite("capable.state", src.GUIDE_A),
    ),
    # Constants are folded at compile time; listed so they are "known" if a loader does not
    # mark them is_const.
    (
        MLPROGRAM,
        _words(
            """
            const _const_symbolic constexpr_affine_dequantize constexpr_blockwise_shift_scale
            constexpr_cast constexpr_lut_to_dense constexpr_lut_to_sparse
            constexpr_sparse_blockwise_shift_scale constexpr_sparse_to_dense
            """
        ),
        Evidence.REVERSE,
        cite("capable.const", src.GUIDE_A),
    ),
    # NeuralNetwork: the Core ML 2 layer set mostly works on the ANE.
    (
        NEURALNETWORK,
        _words(
            """
            convolution pooling activation innerProduct batchnorm mvn l2normalize softmax lrn
            crop padding upsample unary add multiply average scale bias max min dot reduce
            loadConstant reshape flatten permute concat split sequenceRepeat reorganizeData
            slice copy
            """
        ),
        Evidence.COMMUNITY,
        cite("capable.nn_core2", src.HOLLANCE, src.FREEDOMTAN),
    ),
    # Core ML 3 layers that are neither "broadcastable" nor "ND": no report either way.
    (
        NEURALNETWORK,
        _words(
            """
            clip ceil floor sign round exp2 atan tanh erf gelu equal notEqual lessThan lessEqual
            greaterThan greaterEqual logicalNot tile stack reverse transpose sliceStatic
            sliceBySize fillLike fillStatic broadcastToLike broadcastToStatic squeeze expandDims
            flattenTo2D reshapeLike reshapeStatic rankPreservingReshape constantPad reduceL1
            reduceL2 reduceMax reduceMin reduceSum reduceMean reduceLogSum reduceSumSquare
            reduceLogSumExp layerNormalization cumSum clampedReLU pooling3d globalPooling3d
            convolution3d
            """
        ),
        Evidence.GUESS,
        cite("capable.nn_core3", "ours"),
    ),
    (
        NEURALNETWORK,
        _words("sin cos randomUniformLike randomUniformStatic"),
        Evidence.REVERSE,
        cite("capable.nn_trig", src.GUIDE_A),
    ),
    (
        NEURALNETWORK,
        _words("resizeBilinear cropResize"),
        Evidence.REVERSE,
        cite("capable.nn_texture", src.GUIDE_A),
    ),
)

ANE_CAPABLE: Mapping[str, Mapping[str, tuple[Evidence, str]]] = {
    fmt: {t: (ev, src) for f, types, ev, src in _CAPABLE_GROUPS if f == fmt for t in types}
    for fmt in (MLPROGRAM, NEURALNETWORK)
}
"""format -> op type -> (evidence, source) for op types that run on the ANE unless a rule
fires. Types that some rule always excludes (gather, lstm, ...) are not listed here."""
