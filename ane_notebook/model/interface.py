"""A model's interface, from its ``ModelDescription``: inputs, outputs, flexible shapes, metadata,
and which function of a multifunction model is the default.

Image inputs are recorded as ``(1, C, H, W)`` with dtype ``"uint8"`` (8-bit pixels, C=3 for
RGB/BGR, 1 for grayscale) or ``"fp16"`` for ``GRAYSCALE_FLOAT16`` (with ``interface=False``, as
the fp32 the ops read). Flexible dimensions are ``None`` in shapes and described by a
`FlexibleInput`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ModelLoadError
from .builder import q, too_many
from .graph import FlexibleInput, TensorInfo
from .limits import MAX_ENUMERATED_SHAPES, MAX_FEATURES, MAX_FUNCTIONS
from .proto import FeatureTypes_pb2, Model_pb2

__all__ = ["check_description", "default_function", "feature_info", "metadata", "model_interface"]

_ARRAY_DTYPES: Mapping[int, str] = {
    FeatureTypes_pb2.ArrayFeatureType.FLOAT32: "fp32",
    FeatureTypes_pb2.ArrayFeatureType.DOUBLE: "fp64",
    FeatureTypes_pb2.ArrayFeatureType.INT32: "int32",
    FeatureTypes_pb2.ArrayFeatureType.FLOAT16: "fp16",
    FeatureTypes_pb2.ArrayFeatureType.INT8: "int8",
}


def default_function(description: Any) -> str | None:
    """The name of the default function of a multifunction model (a ``ModelDescription``).

    ``defaultFunctionName`` when set, else the first function described (the spec requires the
    name, but tools have left it empty); None for a model that describes no functions. The one
    choice used for the graph's interface, the function order and Core ML's generated inputs.
    """
    if description.defaultFunctionName:
        return str(description.defaultFunctionName)
    if len(description.functions):
        return str(description.functions[0].name)
    return None


def check_description(desc: Model_pb2.ModelDescription, label: str) -> None:
    """Refuse a description with more functions, features or enumerated shapes than the limits
    allow (`MAX_FUNCTIONS`, `MAX_FEATURES`, `MAX_ENUMERATED_SHAPES`), before anything uses it."""
    if len(desc.functions) > MAX_FUNCTIONS:
        raise ModelLoadError(
            label,
            too_many(
                "functions", MAX_FUNCTIONS, count=len(desc.functions), where="model description"
            ),
        )
    lists: list[tuple[str, str, Any]] = [
        ("model description", kind, getattr(desc, field))
        for kind, field in (("inputs", "input"), ("outputs", "output"), ("states", "state"))
    ]
    for fn in desc.functions:
        where = f"function {q(fn.name)}"
        lists += [(where, "inputs", fn.input), (where, "outputs", fn.output)]
        lists.append((where, "states", fn.state))
    for where, kind, features in lists:
        if len(features) > MAX_FEATURES:
            raise ModelLoadError(
                label, too_many(kind, MAX_FEATURES, count=len(features), where=where)
            )
        for feature in features:
            n = _enumerated_count(feature)
            if n > MAX_ENUMERATED_SHAPES:
                raise ModelLoadError(
                    label,
                    too_many(
                        "enumerated shapes",
                        MAX_ENUMERATED_SHAPES,
                        count=n,
                        where=f"feature {q(feature.name)}",
                    ),
                )


def _enumerated_count(feature: Model_pb2.FeatureDescription) -> int:
    ft = feature.type
    kind = ft.WhichOneof("Type")
    if kind == "multiArrayType":
        return len(ft.multiArrayType.enumeratedShapes.shapes)
    if kind == "imageType":
        return len(ft.imageType.enumeratedSizes.sizes)
    return 0


def model_interface(
    desc: Model_pb2.ModelDescription,
) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...], tuple[FlexibleInput, ...]]:
    """Model inputs/outputs; for multifunction models, those of the default function."""
    ins: Any = desc.input
    outs: Any = desc.output
    if desc.functions:
        default = default_function(desc)
        for fn in desc.functions:
            if fn.name == default:
                ins, outs = fn.input, fn.output
                break
    inputs = tuple(feature_info(f, interface=True) for f in ins)
    outputs = tuple(feature_info(f, interface=True) for f in outs)
    flexible = tuple(fi for fi in (_flexible(f) for f in ins) if fi is not None)
    return inputs, outputs, flexible


def feature_info(feature: Model_pb2.FeatureDescription, *, interface: bool) -> TensorInfo:
    """TensorInfo of a feature. `interface`: image pixels as uint8 (else as the fp32 ops see)."""
    ft = feature.type
    kind = ft.WhichOneof("Type")
    if kind == "stateType":
        if ft.stateType.WhichOneof("Type") == "arrayType":
            return _array_info(feature.name, ft.stateType.arrayType)
        return TensorInfo(feature.name, None, "state")
    if kind == "multiArrayType":
        return _array_info(feature.name, ft.multiArrayType)
    if kind == "imageType":
        img = ft.imageType
        gray = img.colorSpace in (
            FeatureTypes_pb2.ImageFeatureType.GRAYSCALE,
            FeatureTypes_pb2.ImageFeatureType.GRAYSCALE_FLOAT16,
        )
        if img.colorSpace == FeatureTypes_pb2.ImageFeatureType.GRAYSCALE_FLOAT16:
            dtype = "fp16"
        else:
            dtype = "uint8" if interface else "fp32"
        height, width = _image_hw(img)
        return TensorInfo(feature.name, (1, 1 if gray else 3, height, width), dtype)
    if kind == "int64Type":
        return TensorInfo(feature.name, (), "int64")
    if kind == "doubleType":
        return TensorInfo(feature.name, (), "fp64")
    if kind == "stringType":
        return TensorInfo(feature.name, (), "string")
    if kind == "dictionaryType":
        return TensorInfo(feature.name, None, "dict")
    if kind == "sequenceType":
        return TensorInfo(feature.name, None, "sequence")
    return TensorInfo(feature.name, None, "unknown")


def _array_info(name: str, arr: FeatureTypes_pb2.ArrayFeatureType) -> TensorInfo:
    dtype = _ARRAY_DTYPES.get(arr.dataType, "fp32")
    # Negative sizes are malformed: unknown rather than a negative element count.
    shape: list[int | None] = [int(d) if d >= 0 else None for d in arr.shape]
    flex = arr.WhichOneof("ShapeFlexibility")
    if flex == "shapeRange":
        ranges = arr.shapeRange.sizeRanges
        if len(ranges) == len(shape) or not shape:
            shape = [int(r.lowerBound) if r.lowerBound == r.upperBound else None for r in ranges]
    elif flex == "enumeratedShapes":
        options = [tuple(s.shape) for s in arr.enumeratedShapes.shapes]
        if options and all(len(o) == len(options[0]) for o in options):
            shape = [
                int(dims[0]) if all(d == dims[0] for d in dims) else None
                for dims in zip(*options, strict=True)
            ]
    if not shape and flex is None and not arr.shape:
        # An array feature with no declared shape (allowed in old NN models): rank unknown.
        return TensorInfo(name, None, dtype)
    return TensorInfo(name, tuple(shape), dtype)


def _image_hw(img: FeatureTypes_pb2.ImageFeatureType) -> tuple[int | None, int | None]:
    height: int | None = int(img.height) if img.height >= 0 else None
    width: int | None = int(img.width) if img.width >= 0 else None
    flex = img.WhichOneof("SizeFlexibility")
    if flex == "imageSizeRange":
        hr, wr = img.imageSizeRange.heightRange, img.imageSizeRange.widthRange
        height = int(hr.lowerBound) if hr.lowerBound == hr.upperBound else None
        width = int(wr.lowerBound) if wr.lowerBound == wr.upperBound else None
    elif flex == "enumeratedSizes":
        sizes = img.enumeratedSizes.sizes
        if sizes:
            hs = {s.height for s in sizes}
            ws = {s.width for s in sizes}
            height = int(next(iter(hs))) if len(hs) == 1 else None
            width = int(next(iter(ws))) if len(ws) == 1 else None
    return height, width


def _flexible(feature: Model_pb2.FeatureDescription) -> FlexibleInput | None:
    ft = feature.type
    kind = ft.WhichOneof("Type")
    if kind == "multiArrayType":
        arr = ft.multiArrayType
        default = tuple(int(d) for d in arr.shape) or None
        flex = arr.WhichOneof("ShapeFlexibility")
        if flex == "shapeRange":
            ranges = tuple(
                (int(r.lowerBound), int(r.upperBound)) for r in arr.shapeRange.sizeRanges
            )
            return FlexibleInput(feature.name, "range", default, ranges=ranges)
        if flex == "enumeratedShapes":
            shapes = tuple(tuple(int(d) for d in s.shape) for s in arr.enumeratedShapes.shapes)
            return FlexibleInput(feature.name, "enumerated", default, shapes=shapes)
        return None
    if kind == "imageType":
        img = ft.imageType
        channels = (
            1
            if img.colorSpace
            in (
                FeatureTypes_pb2.ImageFeatureType.GRAYSCALE,
                FeatureTypes_pb2.ImageFeatureType.GRAYSCALE_FLOAT16,
            )
            else 3
        )
        default_img = (1, channels, int(img.height), int(img.width))
        flex = img.WhichOneof("SizeFlexibility")
        if flex == "imageSizeRange":
            hr, wr = img.imageSizeRange.heightRange, img.imageSizeRange.widthRange
            ranges = (
                (1, 1),
                (channels, channels),
                (int(hr.lowerBound), int(hr.upperBound)),
                (int(wr.lowerBound), int(wr.upperBound)),
            )
            return FlexibleInput(feature.name, "range", default_img, ranges=ranges)
        if flex == "enumeratedSizes":
            shapes = tuple(
                (1, channels, int(s.height), int(s.width)) for s in img.enumeratedSizes.sizes
            )
            return FlexibleInput(feature.name, "enumerated", default_img, shapes=shapes)
    return None


def metadata(meta: Model_pb2.Metadata) -> dict[str, str]:
    # The standard fields first, then userDefined (which wins on a clash: it is more specific).
    out: dict[str, str] = {}
    for key in ("shortDescription", "versionString", "author", "license"):
        value = getattr(meta, key)
        if value:
            out[key] = str(value)
    for key, value in meta.userDefined.items():
        out[str(key)] = str(value)
    return out
