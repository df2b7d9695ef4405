"""The NeuralNetwork shape-inference walk: `NNShaper`, rank mode, input and declared shapes.

NeuralNetwork specs rarely declare their layers' output shapes (``outputTensor`` is optional and
most converters leave it empty), and coremltools ships no NeuralNetwork shaper usable off macOS,
so this package derives them from the model description and the layer parameters, the way Core
ML's own validator does (``NeuralNetworkShapes.cpp``, ``NeuralNetwork.proto``'s per-layer
Input/Output comments). `NNShaper` walks the layers once, in execution order; each layer's rule is
a closed-form function of its input shapes and parameters, so the pass is linear in the layers.
The rules are in `spatial`, `legacy` and `nd`; `table.RULES` picks one per layer type.

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

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..limits import MAX_CONST_ELEMENTS, MAX_RANK
from ..proto import FeatureTypes_pb2, Model_pb2, NeuralNetwork_pb2
from .dims import Dim, MaybeShape, Values, _fill, _merge, _sane
from .layer import _Layer
from .table import RULES

__all__ = ["NNShaper", "declared_shapes", "is_rank5_network"]

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
