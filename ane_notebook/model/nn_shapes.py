"""Shape inference for NeuralNetwork layers (the legacy ``neuralNetwork`` spec family).

NeuralNetwork specs rarely declare their layers' output shapes (``outputTensor`` is optional and
most converters leave it empty), and coremltools ships no NeuralNetwork shaper usable off macOS,
so this module derives them from the model description and the layer parameters, the way Core
ML's own validator does (``NeuralNetworkShapes.cpp``, ``NeuralNetwork.proto``'s per-layer
Input/Output comments). `NNShaper` walks the layers once, in execution order; each layer's rule is
a closed-form function of its input shapes and parameters, so the pass is linear in the layers.

Rank mode (Core ML's ``ndArrayInterpretation``): a network made only of iOS 11/12 layers with the
default input mappings runs in *rank-5 mode*, where every blob is ``[Seq, Batch, C, H, W]``
(multi-arrays of rank 1 become ``[1, 1, C, 1, 1]``, rank 3 and images ``[1, 1, C, H, W]``);
shapes are recorded as those 5-tuples. Otherwise blobs have their own rank (``EXACT`` array
mapping; images ``[1, C, H, W]`` with ``RANK4_IMAGE_MAPPING``) and old layers act on the
trailing axes (W = -1, H = -2, C = -3, Batch = -4, Seq = -5).

Flexible inputs (enumerated shapes or ranges) are shaped at their default shape, the one Core ML
plans and the one the report says it placed at; a range-flexible input without a default keeps
its flexible dimensions unknown. A layer whose shape cannot be known from its inputs and
parameters (``custom`` layers, sizes computed at run time, inputs of unknown shape, parameters the
sources read differently) gets ``None`` dimensions or a ``None`` shape: a guess is never recorded
as known. Declared ``outputTensor`` shapes fill the dimensions inference leaves unknown.

Blobs rewritten in place keep one current shape per name (readers see the latest writer, as
`neuralnetwork._rename_rewritten_blobs` arranges for the edges). Inside ``branch`` / ``loop``
sub-networks a rewrite of an existing blob is *merged* with the earlier shape (dimensions that
differ become unknown): after the branch or loop either version may be current.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from coremltools.proto import FeatureTypes_pb2, Model_pb2, NeuralNetwork_pb2

from .graph import Shape
from .limits import MAX_CONST_ELEMENTS, MAX_DIM, MAX_RANK, MAX_TENSOR_ELEMENTS

__all__ = ["NNShaper", "declared_shapes", "is_rank5_network"]

Dim = int | None
MaybeShape = Shape | None
Values = tuple[Dim, ...]  # the values of a small rank-1 integer blob (a shape vector)

_ND = NeuralNetwork_pb2
_RANK5_ARRAY = _ND.NeuralNetworkMultiArrayShapeMapping.Value("RANK5_ARRAY_MAPPING")
_RANK5_IMAGE = _ND.NeuralNetworkImageShapeMapping.Value("RANK5_IMAGE_MAPPING")
_GRAY = frozenset(
    {
        FeatureTypes_pb2.ImageFeatureType.GRAYSCALE,
        FeatureTypes_pb2.ImageFeatureType.GRAYSCALE_FLOAT16,
    }
)

# The layers of iOS 11/12 (Core ML's `isIOS12NeuralNetworkLayer`, mlmodel/src/Utils.cpp); any
# other layer switches the whole network to ND mode. Three have conditions, checked below.
_IOS12_LAYERS = frozenset(
    {
        "convolution",
        "innerProduct",
        "batchnorm",
        "activation",
        "pooling",
        "padding",
        "concat",
        "lrn",
        "softmax",
        "split",
        "add",
        "multiply",
        "unary",
        "upsample",
        "bias",
        "l2normalize",
        "reshape",
        "flatten",
        "permute",
        "reduce",
        "loadConstant",
        "scale",
        "simpleRecurrent",
        "gru",
        "uniDirectionalLSTM",
        "biDirectionalLSTM",
        "crop",
        "average",
        "max",
        "min",
        "dot",
        "mvn",
        "embedding",
        "sequenceRepeat",
        "reorganizeData",
        "slice",
        "custom",
        "resizeBilinear",
        "cropResize",
    }
)


def _is_ios12_layer(layer: NeuralNetwork_pb2.NeuralNetworkLayer) -> bool:
    kind = layer.WhichOneof("layer")
    if kind not in _IOS12_LAYERS:
        return False
    if kind == "convolution":
        return len(layer.input) == 1  # dynamic weights (2 inputs) are iOS 13
    if kind == "innerProduct":
        return not bool(layer.innerProduct.int8DynamicQuantize)
    if kind == "upsample":
        up = layer.upsample
        return bool(up.linearUpsampleMode == 0) and not len(up.fractionalScalingFactor)
    if kind == "reorganizeData":
        return bool(layer.reorganizeData.mode != _ND.ReorganizeDataLayerParams.PIXEL_SHUFFLE)
    return True


def is_rank5_network(nn: Any) -> bool:
    """True when Core ML runs `nn` (a ``NeuralNetwork`` message or classifier/regressor) in the
    iOS 11/12 rank-5 mode (``ndArrayInterpretation == false`` in NeuralNetworkValidator.cpp)."""
    if nn.arrayInputShapeMapping != _RANK5_ARRAY or nn.imageInputShapeMapping != _RANK5_IMAGE:
        return False
    return all(_is_ios12_layer(layer) for layer in nn.layers)


# --------------------------------------------------------------------------------------------
# Small helpers on dimensions (None = unknown).


def _known(*dims: Dim) -> bool:
    return all(d is not None for d in dims)


def _prod(dims: Iterable[Dim]) -> Dim:
    n = 1
    for d in dims:
        if d is None:
            return None
        n *= d
    return n


def _axis(a: int, rank: int) -> int | None:
    """`a` normalised into ``[0, rank)``, or None when out of range."""
    return a % rank if rank > 0 and -rank <= a < rank else None


def _ints(values: Sequence[int], limit: int = MAX_RANK) -> tuple[int, ...] | None:
    """A repeated integer field as a tuple, or None when it is too long to be a shape."""
    return tuple(int(v) for v in values) if len(values) <= limit else None


def _slice_len(n: Dim, start: Dim, end: Dim, step: int) -> Dim:
    """``len(range(n)[start:end:step])``: numpy slicing with clamping and negative indices
    (computed without building the range: `len` of a huge range overflows)."""
    if n is None or step == 0 or n < 0:
        return None
    first, stop, step = slice(start, end, step).indices(n)
    return max(0, (stop - first + step - (1 if step > 0 else -1)) // step)


def _merge(a: MaybeShape, b: MaybeShape) -> MaybeShape:
    """What is known about a blob that may have either shape."""
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b, strict=True))


def _fill(inferred: MaybeShape, declared: MaybeShape) -> MaybeShape:
    """Inferred dims, with the unknown ones taken from a declared shape of the same rank."""
    if inferred is None:
        return declared
    if declared is None or len(declared) != len(inferred):
        return inferred
    return tuple(d if d is not None else e for d, e in zip(inferred, declared, strict=True))


def _sane(shape: MaybeShape) -> MaybeShape:
    """Drop shapes no tensor can have (a hostile or broken spec): negative sizes become unknown,
    and a shape beyond the loader's limits (`limits`) becomes unknown rather than an error
    blamed on a size the model never declared."""
    if shape is None:
        return None
    if not shape or len(shape) > MAX_RANK:
        return None  # NN blobs have rank 1 and up
    out = tuple(d if d is None or d >= 0 else None for d in shape)
    if any(d is not None and d > MAX_DIM for d in out):
        return None
    n = 1
    for d in out:
        if d is not None:
            n *= d
    return None if n > MAX_TENSOR_ELEMENTS else out


def _broadcast(shapes: Sequence[MaybeShape]) -> MaybeShape:
    """numpy broadcasting of `shapes` (right-aligned; a 1 stretches). An unknown dim beside a
    known size above 1 takes that size (it can only be 1 or that size in a valid model)."""
    if not shapes or any(s is None for s in shapes):
        return None
    known = [s for s in shapes if s is not None]
    rank = max(len(s) for s in known)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[i - rank + len(s)] for s in known if i - rank + len(s) >= 0]
        sizes = {d for d in dims if d is not None and d != 1}
        if len(sizes) > 1:
            return None  # incompatible: the model is invalid, the shape unknowable
        if sizes:
            out.append(sizes.pop())
        else:
            out.append(None if None in dims else 1)
    return tuple(out)


def _with(shape: Shape, axis: int, value: Dim) -> Shape:
    """`shape` with the dim at (negative or positive) `axis` replaced."""
    out = list(shape)
    out[axis] = value
    return tuple(out)


def _border(amounts: Any) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from a ``BorderAmounts`` (index 0 = H, 1 = W; else zeros)."""
    b = amounts.borderAmounts
    if len(b) != 2:
        return 0, 0, 0, 0
    return (
        int(b[0].startEdgeSize),
        int(b[0].endEdgeSize),
        int(b[1].startEdgeSize),
        int(b[1].endEdgeSize),
    )


def _pair(values: Sequence[int], default: int) -> tuple[int, int]:
    return (int(values[0]), int(values[1])) if len(values) == 2 else (default, default)


# --------------------------------------------------------------------------------------------
# One layer being shaped.


@dataclass
class _Layer:
    layer: NeuralNetwork_pb2.NeuralNetworkLayer
    p: Any  # the layer's params message
    ins: list[MaybeShape]  # input shapes, by position (repeated names kept)
    vals: list[Values | None]  # known values of small integer inputs, by position
    nd: bool  # ND mode (False: rank-5 mode)

    @property
    def x(self) -> MaybeShape:
        return self.ins[0] if self.ins else None

    @property
    def n_out(self) -> int:
        return len(self.layer.output)


Rule = Callable[[_Layer], list[MaybeShape]]


def _one(shape: MaybeShape) -> list[MaybeShape]:
    return [shape]


def _chw(x: MaybeShape) -> Shape | None:
    """The input of an old layer acting on its trailing C, H, W axes (rank >= 3), else None."""
    return x if x is not None and len(x) >= 3 else None


def _rank5(x: MaybeShape) -> Shape | None:
    return x if x is not None and len(x) == 5 else None


# ---- convolution and pooling (formulas: NeuralNetwork.proto; verified against MIL) ---------


def _convolution(L: _Layer) -> list[MaybeShape]:
    p = L.p
    x = _chw(L.x)
    if x is None:
        return [None]
    w = L.ins[1] if len(L.ins) > 1 else None  # dynamic weights [C_out, kernelChannels, kH, kW]
    w = w if w is not None and len(w) == 4 else None
    if len(p.kernelSize) == 2:
        kh, kw = _pair(p.kernelSize, 3)
    elif w is not None and _known(w[2], w[3]):
        kh, kw = int(w[2] or 0), int(w[3] or 0)
    else:
        kh, kw = 3, 3  # the proto's default kernel
    cout: Dim = int(p.outputChannels) or (w[0] if w is not None else None)
    sh, sw = _pair(p.stride, 1)
    dh, dw = _pair(p.dilationFactor, 1)
    h, wd = x[-2], x[-1]
    if sh <= 0 or sw <= 0:  # an invalid stride: no size to compute
        h = wd = None
    pad = p.WhichOneof("ConvolutionPaddingType")
    ho: Dim
    wo: Dim
    if p.isDeconvolution:
        if len(p.outputShape) == 2:
            ho, wo = _pair(p.outputShape, 0)  # wins over the padding type (proto)
        elif (dh, dw) != (1, 1):
            # The proto says deconvolution ignores dilation; Core ML's C++ shaper applies it.
            ho = wo = None
        elif pad == "valid" and _known(h, wd):
            t, b, left, r = _border(p.valid.paddingAmounts)
            ho = (int(h or 0) - 1) * sh + kh - t - b
            wo = (int(wd or 0) - 1) * sw + kw - left - r
        elif pad == "same" and _known(h, wd):
            ho, wo = int(h or 0) * sh, int(wd or 0) * sw
        else:
            ho = wo = None
        return [x[:-3] + (cout, ho, wo)]
    khd, kwd = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if pad == "valid":
        t, b, left, r = _border(p.valid.paddingAmounts)
        ho = None if h is None else (h + t + b - khd) // sh + 1
        wo = None if wd is None else (wd + left + r - kwd) // sw + 1
    elif pad == "same":  # the asymmetry mode moves the odd pixel, not the size
        ho = None if h is None else -(-h // sh)
        wo = None if wd is None else -(-wd // sw)
    else:
        ho = wo = None
    return [x[:-3] + (cout, ho, wo)]


def _pool_last_pixel(n: Dim, k: int, s: int, pad: int, any_pad: bool) -> Dim:
    """``includeLastPixel`` (ValidCompletePadding) output size: the proto's formula, which is
    MIL's ``ceil_mode=True``."""
    if n is None:
        return None
    out = -(-(n + 2 * pad - k) // s) + 1
    if any_pad and (out - 1) * s >= n + pad:
        out -= 1
    return out


def _pooling(L: _Layer) -> list[MaybeShape]:
    p = L.p
    x = _chw(L.x)
    if x is None:
        return [None]
    if p.globalPooling:
        return [x[:-2] + (1, 1)]
    kh, kw = _pair(p.kernelSize, 3)
    sh, sw = _pair(p.stride, 1)
    h, w = x[-2], x[-1]
    if sh <= 0 or sw <= 0:  # an invalid stride: no size to compute
        h = w = None
    pad = p.WhichOneof("PoolingPaddingType")
    ho: Dim
    wo: Dim
    if pad == "valid":
        t, b, left, r = _border(p.valid.paddingAmounts)
        ho = None if h is None else (h + t + b - kh) // sh + 1
        wo = None if w is None else (w + left + r - kw) // sw + 1
    elif pad == "same":
        ho = None if h is None else -(-h // sh)
        wo = None if w is None else -(-w // sw)
    elif pad == "includeLastPixel":
        ph, pw = _pair(p.includeLastPixel.paddingAmounts, 0)
        any_pad = ph > 0 or pw > 0  # either padding, as the proto writes it
        ho = _pool_last_pixel(h, kh, sh, ph, any_pad)
        wo = _pool_last_pixel(w, kw, sw, pw, any_pad)
    else:
        ho = wo = None
    return [x[:-2] + (ho, wo)]


def _spatial3d(
    sizes: Sequence[Dim],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Sequence[tuple[int, int]],
    mode: int,
    deconv: bool,
) -> tuple[Dim, ...]:
    """D, H, W of a 3-D conv / pool: paddingType CUSTOM (0), VALID (1) or SAME (2)."""
    out: list[Dim] = []
    for n, k, s, d, (front, back) in zip(sizes, kernel, stride, dilation, pads, strict=True):
        s = s or 1
        kd = (k - 1) * (d or 1) + 1
        if n is None or mode not in (0, 1, 2) or s < 0:
            out.append(None)
        elif deconv:
            if (d or 1) != 1:
                out.append(None)  # dilated deconvolution: sources disagree (see _convolution)
            elif mode == 2:
                out.append(n * s)
            else:
                extra = front + back if mode == 0 else 0
                out.append((n - 1) * s + kd - extra)
        elif mode == 2:
            out.append(-(-n // s))
        else:
            extra = front + back if mode == 0 else 0
            out.append((n + extra - kd) // s + 1)
    return tuple(out)


def _pads3d(p: Any) -> list[tuple[int, int]]:
    return [
        (int(p.customPaddingFront), int(p.customPaddingBack)),
        (int(p.customPaddingTop), int(p.customPaddingBottom)),
        (int(p.customPaddingLeft), int(p.customPaddingRight)),
    ]


def _convolution3d(L: _Layer) -> list[MaybeShape]:
    p, x = L.p, L.x
    if x is None or len(x) < 4:
        return [None]
    if p.isDeconvolution and len(p.outputShape) == 3:
        dhw: tuple[Dim, ...] = tuple(int(v) for v in p.outputShape)
    else:
        dhw = _spatial3d(
            x[-3:],
            (p.kernelDepth, p.kernelHeight, p.kernelWidth),
            (p.strideDepth, p.strideHeight, p.strideWidth),
            (p.dilationDepth, p.dilationHeight, p.dilationWidth),
            _pads3d(p),
            int(p.paddingType),
            bool(p.isDeconvolution),
        )
    return [x[:-4] + (int(p.outputChannels) or None, *dhw)]


def _pooling3d(L: _Layer) -> list[MaybeShape]:
    p, x = L.p, L.x
    if x is None or len(x) < 4:
        return [None]
    dhw = _spatial3d(
        x[-3:],
        (p.kernelDepth, p.kernelHeight, p.kernelWidth),
        (p.strideDepth, p.strideHeight, p.strideWidth),
        (1, 1, 1),
        _pads3d(p),
        int(p.paddingType),
        False,
    )
    return [x[:-3] + dhw]


def _global_pooling3d(L: _Layer) -> list[MaybeShape]:
    x = L.x
    return [None if x is None or len(x) < 4 else x[:-3] + (1, 1, 1)]


# ---- other old (rank-5 era) layers ---------------------------------------------------------


def _same(L: _Layer) -> list[MaybeShape]:
    return [L.x] * max(L.n_out, 1)


def _elementwise(L: _Layer) -> list[MaybeShape]:
    # add / multiply / average / max / min: one input (with a scalar alpha) or several with
    # limited broadcasting, each dim 1 or equal: the per-axis maximum, right-aligned.
    return [L.x if len(L.ins) <= 1 else _broadcast(L.ins)]


def _inner_product(L: _Layer) -> list[MaybeShape]:
    x, cout = L.x, int(L.p.outputChannels) or None
    if x is None:
        return [None]
    by_rank: dict[int, Shape] = {
        1: (cout,),
        2: (x[0], cout),
        3: (x[0], x[1], cout),
        4: (x[0], cout, 1, 1),
        5: (x[0], x[1], cout, 1, 1),
    }
    return [by_rank.get(len(x))]


def _embedding(L: _Layer) -> list[MaybeShape]:
    x, cout = L.x, int(L.p.outputChannels) or None
    if x is None or len(x) not in (4, 5):
        return [None]
    return [x[:-3] + (cout, 1, 1)]


def _crop(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    if x is None:
        return [None]
    if len(L.ins) >= 2:  # H, W of the second input (the offset does not change the size)
        ref = _chw(L.ins[1])
        return [None if ref is None else x[:-2] + ref[-2:]]
    t, b, left, r = _border(L.p.cropAmounts)
    h, w = x[-2], x[-1]
    return [x[:-2] + (None if h is None else h - t - b, None if w is None else w - left - r)]


def _padding(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None or len(x) < 2:
        return [None]
    t, b, left, r = _border(L.p.paddingAmounts)
    h, w = x[-2], x[-1]
    return [x[:-2] + (None if h is None else h + t + b, None if w is None else w + left + r)]


def _upsample(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    if x is None:
        return [None]
    h, w = x[-2], x[-1]
    frac = L.p.fractionalScalingFactor
    if len(frac) == 2:  # MIL upsample_bilinear type inference: floor
        fh, fw = float(frac[0]), float(frac[1])
        if not (math.isfinite(fh) and math.isfinite(fw)):
            return [x[:-2] + (None, None)]
        return [
            x[:-2]
            + (None if h is None else math.floor(h * fh), None if w is None else math.floor(w * fw))
        ]
    sh, sw = _pair(L.p.scalingFactor, 1)
    sh, sw = sh or 1, sw or 1  # a 0 factor counts as 1 (C++ shaper)
    return [x[:-2] + (None if h is None else h * sh, None if w is None else w * sw)]


def _resize_bilinear(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    if x is None:
        return [None]
    th, tw = _pair(L.p.targetSize, 1)
    return [x[:-2] + (th or 1, tw or 1)]


def _crop_resize(L: _Layer) -> list[MaybeShape]:
    x = _rank5(L.x)
    roi = _rank5(L.ins[1]) if len(L.ins) > 1 else None
    if x is None:
        return [None]
    th, tw = _pair(L.p.targetSize, 1)
    th, tw = th or 1, tw or 1
    n = roi[0] if roi is not None else None
    c = roi[2] if roi is not None else None
    batch: Dim = x[1] if c == 4 else (1 if c == 5 else None)
    return [(n, batch, x[2], th, tw)]


def _dot(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    return [None if x is None else x[:-3] + (1, 1, 1)]


# ReduceLayerParams.axis: CHW, HW, C, H, W (by enum number: unknown numbers stay unknown).
_REDUCE_AXES = {0: (-3, -2, -1), 1: (-2, -1), 2: (-3,), 3: (-2,), 4: (-1,)}


def _reduce(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    if x is None:
        return [None]
    axes = _REDUCE_AXES.get(int(L.p.axis))
    if axes is None:
        return [None]
    out = x
    for a in axes:
        out = _with(out, a, 1)
    return [out]


def _load_constant(L: _Layer) -> list[MaybeShape]:
    shape = _ints(L.p.shape)
    return [(1, 1, *shape) if shape is not None and len(shape) == 3 else None]


def _reshape(L: _Layer) -> list[MaybeShape]:
    target = _ints(L.p.targetShape)
    x = L.x if L.x is not None and len(L.x) == 5 else None
    if target is None or any(t <= 0 for t in target):
        return [None]
    seq, batch = (x[0], x[1]) if x is not None else (None, None)
    if len(target) == 3:  # sequence length preserved
        return [(seq, batch, *target)]
    if len(target) == 4:
        return [(target[0], batch, *target[1:])]
    return [None]


def _flatten(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    return [None if x is None else x[:-3] + (_prod(x[-3:]), 1, 1)]


def _permute(L: _Layer) -> list[MaybeShape]:
    x = _rank5(L.x)
    axes = _ints(L.p.axis) or ()
    if x is None:
        return [None]
    if not axes:
        return [x]
    if sorted(axes) != [0, 1, 2, 3]:
        return [None]
    d = (x[0], x[2], x[3], x[4])  # S, C, H, W; the batch axis never moves
    return [(d[axes[0]], x[1], d[axes[1]], d[axes[2]], d[axes[3]])]


def _concat(L: _Layer) -> list[MaybeShape]:
    axis = -5 if L.p.sequenceConcat else -3
    return [_concat_along(L.ins, axis)]


def _concat_along(ins: Sequence[MaybeShape], axis: int) -> MaybeShape:
    """Inputs joined along `axis` (negative, or positive from the front): the other dims from
    the inputs, the joined one their sum."""
    known = [s for s in ins if s is not None]
    if not known:
        return None
    rank = len(known[0])
    if any(len(s) != rank for s in known):
        return None
    a = _axis(axis, rank)
    if a is None:
        return None
    base = known[0]
    for s in known[1:]:
        base = _fill(base, s) or base
    total: Dim = None if len(known) < len(ins) else _prod_sum(s[a] for s in known)
    return _with(base, a, total)


def _prod_sum(dims: Iterable[Dim]) -> Dim:
    n = 0
    for d in dims:
        if d is None:
            return None
        n += d
    return n


def _split(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    n = int(L.p.nOutputs) or L.n_out
    if x is None or n <= 0:
        return [None] * L.n_out
    c = x[-3]
    return [_with(x, -3, None if c is None else c // n)] * L.n_out


def _sequence_repeat(L: _Layer) -> list[MaybeShape]:
    x = _rank5(L.x)
    n = int(L.p.nRepetitions) or 1
    return [None if x is None else _with(x, 0, None if x[0] is None else x[0] * n)]


def _reorganize(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    bs = int(L.p.blockSize)
    if x is None or bs < 2:
        return [None]
    c, h, w = x[-3:]
    if L.p.mode == _ND.ReorganizeDataLayerParams.SPACE_TO_DEPTH:
        dims = (
            None if c is None else c * bs * bs,
            None if h is None else h // bs,
            None if w is None else w // bs,
        )
    else:  # DEPTH_TO_SPACE and PIXEL_SHUFFLE
        dims = (
            None if c is None else c // (bs * bs),
            None if h is None else h * bs,
            None if w is None else w * bs,
        )
    return [x[:-3] + dims]


_SLICE_AXIS = {0: -3, 1: -2, 2: -1}  # CHANNEL_AXIS, HEIGHT_AXIS, WIDTH_AXIS


def _slice(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    axis = _SLICE_AXIS.get(int(L.p.axis))
    if x is None or axis is None:
        return [None]
    start, end, step = int(L.p.startIndex), int(L.p.endIndex), int(L.p.stride) or 1
    # endIndex 0: Core ML's C++ shaper reads "to the end", numpy slicing (the proto's
    # [start, end)) an empty range. The sources disagree: the size stays unknown.
    n = None if end == 0 else _slice_len(x[axis], start, end, step)
    return [_with(x, axis, n)]


def _unknown(L: _Layer) -> list[MaybeShape]:
    return [None] * L.n_out


# ---- recurrent layers (rank 5 in both modes; NeuralNetwork.proto) --------------------------


def _recurrent(L: _Layer) -> list[MaybeShape]:
    kind = L.layer.WhichOneof("layer")
    p = L.p
    x = _rank5(L.x)
    seq_len, batch = (x[0], x[1]) if x is not None else (None, None)
    hidden = int(p.outputVectorSize) or None
    if kind in ("uniDirectionalLSTM", "biDirectionalLSTM"):
        sequence_output = bool(p.params.sequenceOutput)
    else:
        sequence_output = bool(p.sequenceOutput)
    steps = seq_len if sequence_output else 1
    state: Shape = (1, batch, hidden, 1, 1)
    if kind == "biDirectionalLSTM":
        both = None if hidden is None else 2 * hidden
        return [(steps, batch, both, 1, 1)] + [state] * max(L.n_out - 1, 0)
    return [(steps, batch, hidden, 1, 1)] + [state] * max(L.n_out - 1, 0)


# ---- ND layers (iOS 13+; numpy-style) -----------------------------------------------------


def _nd_broadcast(L: _Layer) -> list[MaybeShape]:
    return [L.x if len(L.ins) <= 1 else _broadcast(L.ins)]


def _expand_dims(L: _Layer) -> list[MaybeShape]:
    x, axes = L.x, _ints(L.p.axes)
    if x is None or not axes:
        return [None]
    rank = len(x) + len(axes)
    norm = {_axis(a, rank) for a in axes}
    if None in norm or len(norm) != len(axes):
        return [None]
    dims = iter(x)
    return [tuple(1 if i in norm else next(dims) for i in range(rank))]


def _squeeze(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    if L.p.squeezeAll:
        if None in x:
            return [None]  # which axes are 1 is unknown, so is the rank
        out = tuple(d for d in x if d != 1)
    else:
        axes = _ints(L.p.axes)
        if axes is None:
            return [None]
        drop = {_axis(a, len(x)) for a in axes}
        if None in drop:
            return [None]
        out = tuple(d for i, d in enumerate(x) if i not in drop)
    return [out if out and len(x) > 1 else (1,)]


def _flatten_to_2d(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    a = _axis(int(L.p.axis), len(x))
    if a is None:
        return [None]
    return [(_prod(x[:a]), _prod(x[a:]))]


def _reshaped(x: MaybeShape, target: Sequence[Dim], keep_zero: bool) -> MaybeShape:
    """`target` with a 0 kept from `x` (rank-preserving reshape) and one -1 inferred."""
    out: list[Dim] = []
    for i, t in enumerate(target):
        if t == 0 and keep_zero:
            out.append(x[i] if x is not None and i < len(x) else None)
        else:
            out.append(t)
    if out.count(-1) > 1 or any(d is not None and d < -1 for d in out):
        return None
    if -1 in out:
        total = _prod(x) if x is not None else None
        rest = _prod(d for d in out if d != -1)
        i = out.index(-1)
        out[i] = None if total is None or not rest else total // rest
    return tuple(out)


def _reshape_static(L: _Layer) -> list[MaybeShape]:
    target = _ints(L.p.targetShape)
    if target is None or 0 in target:
        return [None]  # the converters never write 0 here; its meaning is not documented
    return [_reshaped(L.x, target, keep_zero=False)]


def _rank_preserving_reshape(L: _Layer) -> list[MaybeShape]:
    target = _ints(L.p.targetShape)
    if target is None or (L.x is not None and len(target) != len(L.x)):
        return [None]
    return [_reshaped(L.x, target, keep_zero=True)]


def _reshape_dynamic(L: _Layer) -> list[MaybeShape]:
    target = L.vals[1] if len(L.vals) > 1 else None
    if target is None:
        spec = L.ins[1] if len(L.ins) > 1 else None
        n = spec[0] if spec is not None and len(spec) == 1 else None
        return [None if n is None or n > MAX_RANK else (None,) * n]
    if 0 in target:
        return [None]
    return [_reshaped(L.x, target, keep_zero=False)]


def _second_input_shape(L: _Layer) -> list[MaybeShape]:
    return [L.ins[1] if len(L.ins) > 1 else None]


def _shape_from_values(L: _Layer, index: int) -> list[MaybeShape]:
    """Output shaped by the values of input `index` (a shape vector computed at run time)."""
    vals = L.vals[index] if len(L.vals) > index else None
    if vals is not None:
        return [vals]
    spec = L.ins[index] if len(L.ins) > index else None
    n = spec[0] if spec is not None and len(spec) == 1 else None
    return [None if n is None or n > MAX_RANK else (None,) * n]


def _transpose(L: _Layer) -> list[MaybeShape]:
    x, axes = L.x, _ints(L.p.axes)
    if x is None or axes is None or sorted(axes) != list(range(len(x))):
        return [None]
    return [tuple(x[a] for a in axes)]


def _concat_nd(L: _Layer) -> list[MaybeShape]:
    return [_concat_along(L.ins, int(L.p.axis))]


def _split_nd(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None] * L.n_out
    a = _axis(int(L.p.axis), len(x))
    if a is None:
        return [None] * L.n_out
    sizes = _ints(L.p.splitSizes, limit=MAX_CONST_ELEMENTS)
    if sizes:
        return [_with(x, a, s) for s in sizes[: L.n_out]]
    n = int(L.p.numSplits) or L.n_out
    d = x[a]
    return [_with(x, a, None if d is None or n <= 0 else d // n)] * L.n_out


def _stack(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    a = _axis(int(L.p.axis), len(x) + 1)
    if a is None:
        return [None]
    base = x
    for s in L.ins[1:]:
        base = _fill(base, s) or base
    return [base[:a] + (len(L.ins),) + base[a:]]


def _tile(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    reps: Sequence[Dim] | None
    reps = L.vals[1] if len(L.ins) > 1 and len(L.vals) > 1 else None
    if len(L.ins) <= 1:
        reps = _ints(L.p.reps)
    if reps is None:
        return [(None,) * len(x) if len(L.ins) > 1 else None]
    if not reps or len(reps) > len(x):
        return [None]
    full = (1,) * (len(x) - len(reps)) + tuple(reps)
    return [tuple(None if d is None or r is None else d * r for d, r in zip(x, full, strict=True))]


def _slice_static(L: _Layer) -> list[MaybeShape]:
    p, x = L.p, L.x
    return [_sliced(x, p.beginIds, p.beginMasks, p.endIds, p.endMasks, p.strides, p.squeezeMasks)]


def _sliced(
    x: MaybeShape,
    begin: Sequence[Dim],
    begin_masks: Sequence[bool],
    end: Sequence[int],
    end_masks: Sequence[bool],
    strides: Sequence[int],
    squeeze: Sequence[bool],
) -> MaybeShape:
    if x is None:
        return None
    r = len(x)
    if any(len(f) != r for f in (begin, begin_masks, end, end_masks, strides)):
        return None
    out: list[Dim] = []
    for i in range(r):
        if i < len(squeeze) and squeeze[i]:
            continue  # that axis is dropped (only begin is taken)
        b = None if begin_masks[i] else begin[i]
        if b is None and not begin_masks[i]:
            out.append(None)
            continue
        e = None if end_masks[i] else int(end[i])
        out.append(_slice_len(x[i], b, e, int(strides[i])))
    return tuple(out) if out else (1,)


def _slice_dynamic(L: _Layer) -> list[MaybeShape]:
    p, x = L.p, L.x
    if x is None:
        return [None]
    begin = L.vals[1] if len(L.vals) > 1 else None
    if begin is not None and len(L.ins) == 2:  # end ids and strides from the parameters
        return [_sliced(x, begin, p.beginMasks, p.endIds, p.endMasks, p.strides, p.squeezeMasks)]
    dropped = sum(1 for s in p.squeezeMasks if s)
    rank = len(x) - dropped
    return [(None,) * rank if rank > 0 else (1,)]


def _slice_by_size(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    a = _axis(int(L.p.axis), len(x))
    return [None if a is None else _with(x, a, int(L.p.size))]


def _sliding_windows(L: _Layer) -> list[MaybeShape]:
    x, p = L.x, L.p
    if x is None:
        return [None]
    a = _axis(int(p.axis), len(x))
    ws, step = int(p.windowSize), int(p.step) or 1
    if a is None:
        return [None]
    n = x[a]
    m = None if n is None else (n - ws) // step + 1
    return [x[:a] + (m, ws) + x[a + 1 :]]


def _constant_pad(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    pads: Sequence[Dim] | None = _ints(L.p.padAmounts, limit=2 * MAX_RANK)
    if len(L.ins) > 1:
        pads = L.vals[1] if len(L.vals) > 1 else None
    if pads is None or len(pads) != 2 * len(x):
        return [(None,) * len(x) if pads is None else None]
    out: list[Dim] = []
    for i, d in enumerate(x):
        before, after = pads[2 * i], pads[2 * i + 1]
        if d is None or before is None or after is None:
            out.append(None)
        elif L.p.padToGivenOutputSizeMode:
            out.append(max(d, before + after))
        else:
            out.append(d + before + after)
    return [tuple(out)]


def _static_shape(field_name: str) -> Rule:
    def rule(L: _Layer) -> list[MaybeShape]:
        shape = _ints(getattr(L.p, field_name))
        return [shape if shape else None]

    return rule


def _get_shape(L: _Layer) -> list[MaybeShape]:
    return [None if L.x is None else (len(L.x),)]


def _range_static(L: _Layer) -> list[MaybeShape]:
    p = L.p
    step = float(p.stepSizeValue)
    if step == 0 or not math.isfinite(step):
        return [None]
    count = (float(p.endValue) - float(p.startValue)) / step
    if not math.isfinite(count):
        return [None]
    return [(max(math.ceil(count), 0),)]


def _batched_matmul(L: _Layer) -> list[MaybeShape]:
    p = L.p
    a = L.x
    if a is None:
        return [None]
    if len(L.ins) < 2:  # weights in the layer: [..., K] x (K, N)
        n = int(p.weightMatrixSecondDimension) or None
        return [a[:-1] + (n,)]
    b = L.ins[1]
    if b is None:
        return [None]
    a2 = (1, a[0]) if len(a) == 1 else a
    b2 = (b[0], 1) if len(b) == 1 else b
    if p.transposeA:
        a2 = a2[:-2] + (a2[-1], a2[-2])
    if p.transposeB:
        b2 = b2[:-2] + (b2[-1], b2[-2])
    batch = _broadcast([a2[:-2], b2[:-2]])
    if batch is None:
        return [None]
    out = batch + (a2[-2], b2[-1])
    rank = max(2, len(a), len(b))  # the prepended/appended 1 stays (validator)
    return [(1,) * (rank - len(out)) + out if len(out) < rank else out]


def _embedding_nd(L: _Layer) -> list[MaybeShape]:
    x = L.x
    return [None if x is None else x[:-1] + (int(L.p.embeddingSize) or None,)]


def _gather(L: _Layer) -> list[MaybeShape]:
    data = L.x
    idx = L.ins[1] if len(L.ins) > 1 else None
    if data is None or idx is None:
        return [None]
    a = _axis(int(L.p.axis), len(data))
    return [None if a is None else data[:a] + idx + data[a + 1 :]]


def _gather_nd(L: _Layer) -> list[MaybeShape]:
    data = L.x
    idx = L.ins[1] if len(L.ins) > 1 else None
    if data is None or idx is None or not idx or idx[-1] is None:
        return [None]
    return [idx[:-1] + data[idx[-1] :]]


def _nd_reduce(L: _Layer) -> list[MaybeShape]:
    x, p = L.x, L.p
    if x is None:
        return [None]
    if p.reduceAll:
        axes: set[int | None] = set(range(len(x)))
    else:
        given = _ints(p.axes)
        if given is None:
            return [None]
        axes = {_axis(a, len(x)) for a in given}
        if None in axes:
            return [None]
    if p.keepDims:
        return [tuple(1 if i in axes else d for i, d in enumerate(x))]
    out = tuple(d for i, d in enumerate(x) if i not in axes)
    return [out or (1,)]


def _arg_reduce(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    a = _axis(int(L.p.axis), len(x))
    if a is None:
        return [None]
    if L.p.removeDim and len(x) > 1:
        return [x[:a] + x[a + 1 :]]
    return [_with(x, a, 1)]


def _top_k(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None] * L.n_out
    a = _axis(int(L.p.axis), len(x))
    if a is None:
        return [None] * L.n_out
    k: Dim = int(L.p.K)
    if len(L.ins) > 1:
        vals = L.vals[1] if len(L.vals) > 1 else None
        k = vals[0] if vals is not None and len(vals) == 1 else None
    return [_with(x, a, k)] * L.n_out


def _one_hot(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    a = _axis(int(L.p.axis), len(x) + 1)
    size: Dim = int(L.p.oneHotVectorSize)
    if len(L.ins) > 1:
        vals = L.vals[1] if len(L.vals) > 1 else None
        size = vals[0] if vals is not None and len(vals) == 1 else None
    return [None if a is None else x[:a] + (size,) + x[a:]]


def _categorical(L: _Layer) -> list[MaybeShape]:
    x = L.x
    return [None if x is None else x[:-1] + (int(L.p.numSamples),)]


def _where_non_zero(L: _Layer) -> list[MaybeShape]:
    return [None if L.x is None else (None, len(L.x))]


def _nms(L: _Layer) -> list[MaybeShape]:
    boxes = L.x
    scores = L.ins[1] if len(L.ins) > 1 else None
    batch = boxes[0] if boxes is not None and len(boxes) == 3 else None
    classes = scores[-1] if scores is not None and len(scores) == 3 else None
    m: Dim = int(L.p.maxBoxes)
    if len(L.ins) > 4:  # maxBoxes given as input 5
        vals = L.vals[4] if len(L.vals) > 4 else None
        m = vals[0] if vals is not None and len(vals) == 1 else None
    outs: list[MaybeShape] = [(batch, m, 4), (batch, m, classes), (batch, m), (batch,)]
    return outs[: L.n_out]


def _no_outputs(L: _Layer) -> list[MaybeShape]:
    return [None] * L.n_out


_SAME_TYPES = (
    # old layers that keep their input's shape
    "activation",
    "batchnorm",
    "mvn",
    "l2normalize",
    "softmax",
    "lrn",
    "unary",
    "bias",
    "scale",
    # ND layers that keep their (first) input's shape
    "copy",
    "clip",
    "ceil",
    "floor",
    "round",
    "sign",
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
    "clampedReLU",
    "softmaxND",
    "reverse",
    "reverseSeq",
    "cumSum",
    "argSort",
    "matrixBandPart",
    "lowerTriangular",
    "upperTriangular",
    "layerNormalization",
    "fillLike",
    "randomNormalLike",
    "randomUniformLike",
    "randomBernoulliLike",
    "logicalNot",
    "scatter",
    "scatterND",
    "scatterAlongAxis",
)
_BROADCAST_TYPES = (
    "addBroadcastable",
    "subtractBroadcastable",
    "multiplyBroadcastable",
    "divideBroadcastable",
    "floorDivBroadcastable",
    "modBroadcastable",
    "powBroadcastable",
    "maxBroadcastable",
    "minBroadcastable",
    "equal",
    "notEqual",
    "lessThan",
    "lessEqual",
    "greaterThan",
    "greaterEqual",
    "logicalAnd",
    "logicalOr",
    "logicalXor",
    "whereBroadcastable",
)
_REDUCE_ND_TYPES = (
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
)

RULES: dict[str, Rule] = {
    **dict.fromkeys(_SAME_TYPES, _same),
    **dict.fromkeys(_BROADCAST_TYPES, _nd_broadcast),
    **dict.fromkeys(_REDUCE_ND_TYPES, _nd_reduce),
    **dict.fromkeys(("add", "multiply", "average", "max", "min"), _elementwise),
    **dict.fromkeys(
        ("simpleRecurrent", "gru", "uniDirectionalLSTM", "biDirectionalLSTM"), _recurrent
    ),
    **dict.fromkeys(("branch", "loop", "loopBreak", "loopContinue"), _no_outputs),
    "convolution": _convolution,
    "pooling": _pooling,
    "convolution3d": _convolution3d,
    "pooling3d": _pooling3d,
    "globalPooling3d": _global_pooling3d,
    "innerProduct": _inner_product,
    "embedding": _embedding,
    "crop": _crop,
    "padding": _padding,
    "upsample": _upsample,
    "resizeBilinear": _resize_bilinear,
    "cropResize": _crop_resize,
    "dot": _dot,
    "reduce": _reduce,
    "loadConstant": _load_constant,
    "reshape": _reshape,
    "flatten": _flatten,
    "permute": _permute,
    "concat": _concat,
    "split": _split,
    "sequenceRepeat": _sequence_repeat,
    "reorganizeData": _reorganize,
    "slice": _slice,
    "custom": _unknown,
    "expandDims": _expand_dims,
    "squeeze": _squeeze,
    "flattenTo2D": _flatten_to_2d,
    "reshapeStatic": _reshape_static,
    "rankPreservingReshape": _rank_preserving_reshape,
    "reshapeLike": _second_input_shape,
    "reshapeDynamic": _reshape_dynamic,
    "broadcastToLike": _second_input_shape,
    "broadcastToStatic": _static_shape("targetShape"),
    "broadcastToDynamic": lambda L: _shape_from_values(L, 1),
    "fillStatic": _static_shape("targetShape"),
    "fillDynamic": lambda L: _shape_from_values(L, 0),
    "randomNormalStatic": _static_shape("outputShape"),
    "randomUniformStatic": _static_shape("outputShape"),
    "randomBernoulliStatic": _static_shape("outputShape"),
    "randomNormalDynamic": lambda L: _shape_from_values(L, 0),
    "randomUniformDynamic": lambda L: _shape_from_values(L, 0),
    "randomBernoulliDynamic": lambda L: _shape_from_values(L, 0),
    "loadConstantND": _static_shape("shape"),
    "transpose": _transpose,
    "concatND": _concat_nd,
    "splitND": _split_nd,
    "stack": _stack,
    "tile": _tile,
    "sliceStatic": _slice_static,
    "sliceDynamic": _slice_dynamic,
    "sliceBySize": _slice_by_size,
    "slidingWindows": _sliding_windows,
    "constantPad": _constant_pad,
    "getShape": _get_shape,
    "rangeStatic": _range_static,
    "rangeDynamic": lambda L: [(None,)],
    "batchedMatmul": _batched_matmul,
    "embeddingND": _embedding_nd,
    "gather": _gather,
    "gatherND": _gather_nd,
    "gatherAlongAxis": _second_input_shape,
    "argMax": _arg_reduce,
    "argMin": _arg_reduce,
    "topK": _top_k,
    "oneHot": _one_hot,
    "categoricalDistribution": _categorical,
    "whereNonZero": _where_non_zero,
    "NonMaximumSuppression": _nms,
}
"""Layer type (the ``layer`` oneof name) -> shape rule. Types not listed get unknown shapes."""


# --------------------------------------------------------------------------------------------
# Values of small integer blobs (shape vectors), so that run-time shapes built from `getShape`
# or constants (the TensorFlow-converter pattern getShape -> slice -> concat -> reshapeDynamic)
# are known when every part is.


def _value_of(L: _Layer) -> Values | None:
    kind = L.layer.WhichOneof("layer")
    if kind == "getShape":
        return L.x if L.x is not None and len(L.x) <= MAX_CONST_ELEMENTS else None
    if kind == "loadConstantND":
        # A handful of integers held in the layer (a shape vector): as small as the MIL
        # immediates the ML Program loader decodes; larger constants are weights, never read.
        p = L.p
        if len(p.shape) != 1 or not 0 < p.shape[0] <= MAX_CONST_ELEMENTS:
            return None
        vals = list(p.data.floatValue)
        if len(vals) != p.shape[0] or not all(float(v).is_integer() for v in vals):
            return None
        return tuple(int(v) for v in vals)
    if kind == "concatND" and L.vals and all(v is not None for v in L.vals):
        if int(L.p.axis) not in (0, -1):
            return None
        out: list[Dim] = []
        for v in L.vals:
            out.extend(v or ())
        return tuple(out) if len(out) <= MAX_CONST_ELEMENTS else None
    if kind == "sliceStatic" and L.vals and L.vals[0] is not None:
        p = L.p
        if len(p.beginIds) != 1 or any(p.squeezeMasks):
            return None
        b = None if p.beginMasks and p.beginMasks[0] else int(p.beginIds[0])
        e = None if p.endMasks and p.endMasks[0] else int(p.endIds[0])
        step = int(p.strides[0]) if p.strides else 1
        return tuple(L.vals[0][b:e:step]) if step else None
    return None


# --------------------------------------------------------------------------------------------
# Inputs from the model description.


def _default_dims(arr: Any) -> tuple[Dim, ...] | None:
    """A multi-array feature's default shape: ``shape``, else (enumerated) the first shape the
    validator would pick, else (range) the fixed dims, flexible ones unknown."""
    shape = [int(d) for d in arr.shape]
    flex = arr.WhichOneof("ShapeFlexibility")
    if shape and not (flex == "shapeRange" and 0 in shape):
        return tuple(d if d >= 0 else None for d in shape)
    if flex == "enumeratedShapes" and len(arr.enumeratedShapes.shapes):
        return tuple(int(d) for d in arr.enumeratedShapes.shapes[0].shape)
    if flex == "shapeRange" and len(arr.shapeRange.sizeRanges):
        return tuple(
            int(r.lowerBound) if r.lowerBound == r.upperBound else None
            for r in arr.shapeRange.sizeRanges
        )
    return None


def _image_hw(img: Any) -> tuple[Dim, Dim]:
    """An image feature's default height and width (the validator's choice when 0: the first
    enumerated size; a range without a default stays unknown)."""
    h: Dim = int(img.height) or None
    w: Dim = int(img.width) or None
    flex = img.WhichOneof("SizeFlexibility")
    if (h is None or w is None) and flex == "enumeratedSizes" and len(img.enumeratedSizes.sizes):
        first = img.enumeratedSizes.sizes[0]
        h, w = int(first.height), int(first.width)
    elif (h is None or w is None) and flex == "imageSizeRange":
        hr, wr = img.imageSizeRange.heightRange, img.imageSizeRange.widthRange
        h = int(hr.lowerBound) if hr.lowerBound == hr.upperBound else None
        w = int(wr.lowerBound) if wr.lowerBound == wr.upperBound else None
    return h, w


def input_blob_shape(feature: Model_pb2.FeatureDescription, *, rank5: bool, nn: Any) -> MaybeShape:
    """The shape of the blob a model input becomes inside the network (see the module doc)."""
    ft = feature.type
    kind = ft.WhichOneof("Type")
    if kind == "imageType":
        img = ft.imageType
        c = 1 if img.colorSpace in _GRAY else 3
        h, w = _image_hw(img)
        if nn.imageInputShapeMapping == _RANK5_IMAGE:
            return (1, 1, c, h, w)
        return (1, c, h, w)
    if kind != "multiArrayType":
        return None
    dims = _default_dims(ft.multiArrayType)
    if dims is None:
        return None
    if rank5 or nn.arrayInputShapeMapping == _RANK5_ARRAY:
        # Rank-5 mapping: rank 1 -> [1, 1, C, 1, 1], rank 3 -> [1, 1, C, H, W] (proto).
        if len(dims) == 1:
            return (1, 1, dims[0], 1, 1)
        if len(dims) == 3:
            return (1, 1, *dims)
        return None  # not a valid rank-5 input
    return _sane(dims)


def declared_shapes(layer: NeuralNetwork_pb2.NeuralNetworkLayer) -> list[MaybeShape]:
    """The output shapes a layer declares (``outputTensor``), in output order: negative sizes
    are unknown, a rank without sizes is all unknown, a nonsense rank is an unknown shape."""
    shapes: list[MaybeShape] = []
    for t in layer.outputTensor:
        rank = int(t.rank)
        if t.dimValue:
            shapes.append(tuple(int(d) if d >= 0 else None for d in t.dimValue))
        elif 0 <= rank <= MAX_RANK:
            shapes.append((None,) * rank)
        else:
            shapes.append(None)
    return shapes


@dataclass
class NNShaper:
    """Infers the shape of every blob of one NeuralNetwork, one layer at a time.

    Build it with `for_network`, then call `visit` on each layer in execution order (nested
    branch/loop layers right after their parent, as the loader walks them). `env` maps each
    blob name to the shape of its current version.
    """

    rank5: bool
    env: dict[str, MaybeShape] = field(default_factory=dict)
    values: dict[str, Values] = field(default_factory=dict)

    @classmethod
    def for_network(cls, nn: Any, inputs: Iterable[Model_pb2.FeatureDescription]) -> NNShaper:
        """`nn`: the spec's ``neuralNetwork`` (classifier/regressor) message; `inputs`: the
        description's input features."""
        shaper = cls(rank5=is_rank5_network(nn))
        for f in inputs:
            shaper.env[f.name] = input_blob_shape(f, rank5=shaper.rank5, nn=nn)
        return shaper

    def shape(self, name: str) -> MaybeShape:
        return self.env.get(name)

    def visit(
        self, layer: NeuralNetwork_pb2.NeuralNetworkLayer, *, nested: bool = False
    ) -> list[MaybeShape]:
        """The output shapes of `layer` (one per output, in order); records them for readers.

        `nested`: the layer sits inside a branch or loop body, so a blob it rewrites may still
        have its earlier shape afterwards (the two are merged).
        """
        kind = layer.WhichOneof("layer") or ""
        names = list(layer.input)
        L = _Layer(
            layer=layer,
            p=getattr(layer, kind) if kind else None,
            ins=[self.env.get(n) for n in names],
            vals=[self.values.get(n) for n in names],
            nd=not self.rank5,
        )
        rule = RULES.get(kind)
        inferred = rule(L) if rule is not None and L.p is not None else []
        declared = declared_shapes(layer)
        outs: list[MaybeShape] = []
        for i, name in enumerate(layer.output):
            got = inferred[i] if i < len(inferred) else None
            shape = _sane(_fill(got, declared[i] if i < len(declared) else None))
            outs.append(shape)
            if nested and name in self.env:
                self.env[name] = _merge(self.env[name], shape)
            else:
                self.env[name] = shape
            self.values.pop(name, None)
        if len(layer.output) == 1 and not nested:
            value = _value_of(L)
            if value is not None:
                self.values[layer.output[0]] = value
        return outs
