"""Inputs for a live Core ML run: random values of the types and shapes a model describes.

`make_inputs` reads a model description (proto): every input of the function being run (a
multifunction model keeps inputs and states per function: `function_description`). An .mlmodelc
has no spec to read, so `inputs_from_graph` makes multi-arrays from the loaded graph instead.
Runs anywhere (numpy, and PIL for image inputs); the child process of `coreml` calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["function_description", "inputs_from_graph", "make_inputs"]

_ARRAY_DTYPES = {
    "FLOAT32": "float32",
    "FLOAT16": "float16",
    "DOUBLE": "float64",
    "INT32": "int32",
    "INT8": "int8",
}
_GRAPH_DTYPES = {
    "fp32": "float32",
    "fp16": "float16",
    "fp64": "float64",
    "int32": "int32",
    "int8": "int8",
    "int16": "int16",
    "uint8": "uint8",
    "bool": "bool",
}


def _default_array_shape(array_type: Any) -> list[int]:
    """The shape Core ML uses when the caller says nothing: `shape` holds the default for flexible
    inputs too (coremltools writes it); else the first enumerated shape or the range's lower
    bounds (0 lower bounds become 1)."""
    if len(array_type.shape):
        return [int(d) for d in array_type.shape]
    which = array_type.WhichOneof("ShapeFlexibility")
    if which == "enumeratedShapes" and len(array_type.enumeratedShapes.shapes):
        return [int(d) for d in array_type.enumeratedShapes.shapes[0].shape]
    if which == "shapeRange":
        return [max(1, int(r.lowerBound)) for r in array_type.shapeRange.sizeRanges]
    return []


def _default_image_size(image_type: Any) -> tuple[int, int]:
    width, height = int(image_type.width), int(image_type.height)
    if width and height:
        return width, height
    which = image_type.WhichOneof("SizeFlexibility")
    if which == "enumeratedSizes" and len(image_type.enumeratedSizes.sizes):
        size = image_type.enumeratedSizes.sizes[0]
        return int(size.width), int(size.height)
    if which == "imageSizeRange":
        rng = image_type.imageSizeRange
        return max(1, int(rng.widthRange.lowerBound)), max(1, int(rng.heightRange.lowerBound))
    return max(1, width), max(1, height)


def function_description(description: Any, function: str | None = None) -> Any:
    """The description (inputs, outputs, states) of one function: for a multifunction model
    `function`'s entry in `description.functions` (default: the default function), since
    coremltools writes inputs and states there, not at the top level; else `description`."""
    if not len(description.functions):
        return description
    if function is None:
        from ..model.interface import default_function  # lazy: it imports coremltools

        function = default_function(description)
    for entry in description.functions:
        if entry.name == function:
            return entry
    raise ValueError(f"the model has no function {function!r}")


def make_inputs(description: Any, seed: int = 0, function: str | None = None) -> dict[str, Any]:
    """Random inputs for every (non-optional) input of a Core ML model description (proto).

    Multi-arrays of every dtype (fp16 stays fp16: coremltools converts it), flexible shapes at
    their default, images as PIL images of the right mode and size, and scalars/strings.
    A multifunction model uses `function`'s inputs (default: its default function's).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    inputs = list(function_description(description, function).input)
    result: dict[str, Any] = {}
    for feature in inputs:
        ftype = feature.type
        if ftype.isOptional:
            continue
        kind = ftype.WhichOneof("Type")
        if kind == "multiArrayType":
            array = ftype.multiArrayType
            dtype_name = array.ArrayDataType.Name(array.dataType)
            dtype = _ARRAY_DTYPES.get(dtype_name)
            if dtype is None:
                raise ValueError(
                    f"input {feature.name!r} has array type {dtype_name}, which "
                    "ane_notebook cannot generate"
                )
            shape = _default_array_shape(array)
            if dtype.startswith("int"):
                result[feature.name] = rng.integers(0, 10, size=shape).astype(dtype)
            else:
                result[feature.name] = rng.standard_normal(shape).astype(dtype)
        elif kind == "imageType":
            from PIL import Image

            image = ftype.imageType
            width, height = _default_image_size(image)
            space = image.ColorSpace.Name(image.colorSpace)
            if space == "GRAYSCALE":
                pixels = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
                result[feature.name] = Image.fromarray(pixels)  # 2-D uint8: mode "L"
            elif space == "GRAYSCALE_FLOAT16":
                floats = rng.random((height, width), dtype=np.float32)
                result[feature.name] = Image.fromarray(floats)  # 2-D float32: mode "F"
            else:  # RGB and BGR: Core ML takes an RGB PIL image and reorders itself
                pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
                result[feature.name] = Image.fromarray(pixels)  # H x W x 3 uint8: "RGB"
        elif kind == "int64Type":
            result[feature.name] = int(rng.integers(0, 10))
        elif kind == "doubleType":
            result[feature.name] = float(rng.random())
        elif kind == "stringType":
            result[feature.name] = "ane_notebook"
        else:
            raise ValueError(
                f"input {feature.name!r} has type {kind}, which ane_notebook cannot generate"
            )
    return result


def inputs_from_graph(graph_inputs: Sequence[tuple[str, tuple[int, ...], str]]) -> dict[str, Any]:
    """Fallback when there is no spec to read (an .mlmodelc): multi-arrays from the graph."""
    import numpy as np

    rng = np.random.default_rng(0)
    result: dict[str, Any] = {}
    for name, shape, dtype in graph_inputs:
        np_dtype = _GRAPH_DTYPES.get(dtype, "float32")
        if np_dtype.startswith(("int", "uint")) or np_dtype == "bool":
            result[name] = rng.integers(0, 2, size=shape).astype(np_dtype)
        else:
            result[name] = rng.standard_normal(shape).astype(np_dtype)
    return result
