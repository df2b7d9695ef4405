"""Read a Core ML model (file, package, MLModel, MIL Program or example) into a `Graph`.

`load_model()` is the one entry point. It reads only the model *specification* (the protobuf that
describes ops, types and shapes) and never opens weight files: an ``.mlpackage``'s
``weights/weight.bin`` is left untouched, and weight tensors contribute only their declared shapes.
Nothing is ever written into the user's files or folders.

What becomes of each kind of model:

* **ML Program** (``spec.mlProgram``): every function, in the order of
  ``spec.description.functions`` (else the default function first, then by name). Each MIL
  operation becomes an `Op` named after its first output (the name coremltools' compute-plan
  paths use; the MIL op name is kept in ``attrs["mil_name"]``). Ops inside ``cond`` /
  ``while_loop`` blocks follow their parent op depth-first, with ``block=("<parent>", "block0")``.
* **NeuralNetwork** (plain, classifier or regressor): every layer becomes an `Op` whose
  ``op_type`` is the layer's oneof name (``"convolution"``, ``"innerProduct"``, ...). NeuralNetwork
  specs declare no compute dtype (Core ML runs them in fp32 on the CPU and fp16 on the GPU/ANE),
  so layer outputs are recorded as ``"fp32"`` with ``attrs["nn_precision_unknown"] = True``.
  ``branch`` / ``loop`` bodies are flattened like ML Program blocks, with block names taken
  from the proto fields (``"ifBranch"``, ``"elseBranch"``, ``"conditionNetwork"``,
  ``"bodyNetwork"``).
* **Pipelines** (``pipeline``, ``pipelineClassifier``, ``pipelineRegressor``): every stage is
  flattened in order. A stage is labelled ``"<index>:<name>"`` where the name comes from
  ``pipeline.names`` when set, else the stage's model type (``"0:neuralNetwork"``,
  ``"1:treeEnsembleClassifier"``). NeuralNetwork stages and non-neural stages use the label as
  their function name; ML Program stages use ``"<label>/<function>"``; nested pipelines prefix
  their stages with ``"<label>/"``. Non-neural stages (tree ensembles, GLMs, feature
  vectorizers, ...) become one `Op` each whose ``op_type`` is the model type; Core ML runs them on
  the CPU. ``Graph.format`` is ``"pipeline"``.
* Any other top-level model type raises `ModelLoadError`: placement is only estimated for ML
  programs, neural networks and pipelines containing them.

Model inputs (``Graph.inputs``) describe the model's interface. Image inputs are recorded as
``(1, C, H, W)`` with dtype ``"uint8"`` (8-bit pixels, C=3 for RGB/BGR, 1 for grayscale) or
``"fp16"`` for ``GRAYSCALE_FLOAT16``; ``Graph.function_inputs`` holds what the ops actually read
(the MIL-declared tensor type for ML programs, which is fp32 for 8-bit images). Flexible
dimensions are ``None`` in shapes and described in ``Graph.flexible_inputs``. Inputs of nested
blocks (loop variables) are also recorded in ``function_inputs``: like function inputs, no op
produces them.

Constant operands that rules need (strides, dilations, groups, pads, axes, perm, dtype, ...) are
copied into ``Op.attrs`` under their MIL parameter names when they hold at most
`MAX_CONST_ELEMENTS` elements; sequences become tuples. ``attrs["args"]`` maps each parameter to
the tensor names bound to it, and ``attrs["weight_shape"]`` gives the declared shape of a constant
weight of ``conv``/``conv_transpose``/``linear``/``matmul``/... (shape only: the data is not read).

Specs no real model can have are refused with a `ModelLoadError` naming the problem: a cycle in
the data flow (or ops out of order), a tensor name produced twice with a reader in between,
blocks nested deeper than `MAX_NESTING`, a declared shape with more than 64 dimensions, a
dimension of 2**63 or more (a negative size stored unsigned), or more than `MAX_TENSOR_ELEMENTS`
elements. Zero and unknown dimensions, unknown op types and unknown dtypes are kept: the rules
then say what they could not tell.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import coremltools as ct
import numpy as np
from coremltools.converters.mil.mil import Program
from coremltools.models import MLModel
from coremltools.proto import FeatureTypes_pb2, MIL_pb2, Model_pb2, NeuralNetwork_pb2
from google.protobuf.message import DecodeError

from .._gc import gc_paused
from ..errors import ModelLoadError
from ..escape import plain
from . import examples
from .convert import convert_quietly
from .graph import FlexibleInput, Graph, Op, Shape, TensorInfo

__all__ = [
    "MAX_CONST_ELEMENTS",
    "MAX_NESTING",
    "MAX_TENSOR_ELEMENTS",
    "graph_from_spec",
    "load_model",
    "read_spec",
]

# Constants with more elements than this are weights, not parameters: their values are never
# decoded (and blob-file values are never read whatever their size).
MAX_CONST_ELEMENTS = 64
# cond/while_loop (and NN branch/loop) nesting beyond this is not a real model; refusing it keeps
# a hostile spec from turning into an unbounded walk.
MAX_NESTING = 64
# Ranks above this are nonsense (Core ML's limit is 5); never build shape tuples from them.
_MAX_RANK = 64
# Core ML sizes are signed 64-bit; MIL stores them unsigned, so a -1 written by a careless tool
# reads as 2**64 - 1. Larger dimensions are refused.
_MAX_DIM = 2**63 - 1
# Tensors whose known dimensions multiply to more elements than this are refused. Absurd but
# smaller sizes are kept (rules then report them as too large for the ANE); beyond it, FLOP and
# byte counts (products of such sizes) would stop being finite floats in the cost model.
MAX_TENSOR_ELEMENTS = 2**128
# Protobuf cannot parse messages of 2 GiB or more: a larger spec file is not a model.
_MAX_SPEC_BYTES = 2**31 - 1

EXAMPLE_PREFIX = "example:"

_MIL_DTYPES: Mapping[int, str] = {
    MIL_pb2.BOOL: "bool",
    MIL_pb2.STRING: "string",
    MIL_pb2.FLOAT8E4M3FN: "fp8e4m3fn",
    MIL_pb2.FLOAT8E5M2: "fp8e5m2",
    MIL_pb2.FLOAT16: "fp16",
    MIL_pb2.FLOAT32: "fp32",
    MIL_pb2.FLOAT64: "fp64",
    MIL_pb2.BFLOAT16: "bf16",
    MIL_pb2.INT8: "int8",
    MIL_pb2.INT16: "int16",
    MIL_pb2.INT32: "int32",
    MIL_pb2.INT64: "int64",
    MIL_pb2.INT4: "int4",
    MIL_pb2.UINT8: "uint8",
    MIL_pb2.UINT16: "uint16",
    MIL_pb2.UINT32: "uint32",
    MIL_pb2.UINT64: "uint64",
    MIL_pb2.UINT4: "uint4",
    MIL_pb2.UINT2: "uint2",
    MIL_pb2.UINT1: "uint1",
    MIL_pb2.UINT6: "uint6",
    MIL_pb2.UINT3: "uint3",
}

# Dtypes whose small immediate values coremltools packs into TensorValue.bytes.
_BYTES_NP_DTYPES: Mapping[str, str] = {
    "fp16": "<f2",
    "int8": "i1",
    "uint8": "u1",
    "int16": "<i2",
    "uint16": "<u2",
}

_ARRAY_DTYPES: Mapping[int, str] = {
    FeatureTypes_pb2.ArrayFeatureType.FLOAT32: "fp32",
    FeatureTypes_pb2.ArrayFeatureType.DOUBLE: "fp64",
    FeatureTypes_pb2.ArrayFeatureType.INT32: "int32",
    FeatureTypes_pb2.ArrayFeatureType.FLOAT16: "fp16",
    FeatureTypes_pb2.ArrayFeatureType.INT8: "int8",
}

_NN_TYPES = frozenset({"neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"})
_PIPELINE_TYPES = frozenset({"pipeline", "pipelineClassifier", "pipelineRegressor"})

# MIL ops whose constant operand is a weight matrix/kernel read whole on every run: its declared
# shape goes into attrs["weight_shape"] (parameter names tried in order). Gather tables are left
# out on purpose: only a few rows are read, and the table's shape is on its const op anyway.
_WEIGHT_PARAMS: Mapping[str, tuple[str, ...]] = {
    "conv": ("weight",),
    "conv_transpose": ("weight",),
    "linear": ("weight",),
    "matmul": ("y", "x"),
}

# Some tools (and Core ML's own compute-plan op types) spell opset-versioned ops "ios18.cast".
_OPSET_PREFIX = re.compile(r"^(?:ios|macos|tvos|watchos|visionos)\d+\.(.+)$", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Public API


def load_model(obj: object, *, name: str | None = None) -> Graph:
    """Load `obj` into a `Graph`, reading the model specification only (never the weights).

    `obj` may be a path (``str`` or ``os.PathLike``) to an ``.mlpackage`` folder or an
    ``.mlmodel`` file, a ``coremltools.models.MLModel``, a MIL ``Program`` (converted in memory
    to an ML program, in a temporary folder; the caller's program is not modified), or the string
    ``"example:NAME"`` (see `ane_notebook.model.examples`). `name` overrides the graph's name
    (default: the file stem, the example name, or ``"model"``/``"program"`` for objects).

    Raises `ModelLoadError` with a one-line message naming the input and the problem.
    """
    if isinstance(obj, str) and obj.startswith(EXAMPLE_PREFIX):
        example = obj[len(EXAMPLE_PREFIX) :]
        path = examples.example_path(example)
        spec = read_spec(path, label=obj)
        return graph_from_spec(spec, name=name or example, source=obj)
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        source = os.fspath(obj)
        spec = read_spec(path, label=source)
        return graph_from_spec(spec, name=name or _stem(path), source=source)
    if isinstance(obj, MLModel):
        return _load_mlmodel(obj, name)
    if isinstance(obj, Program):
        return _load_program(obj, name)
    raise ModelLoadError(
        f"<{type(obj).__name__}>",
        "cannot load this object: expected a path to an .mlpackage or .mlmodel, a coremltools "
        "MLModel, a MIL Program or 'example:NAME'",
    )


def read_spec(path: str | os.PathLike[str], *, label: str | None = None) -> Model_pb2.Model:
    """Parse the model specification of an ``.mlpackage`` or ``.mlmodel`` at `path`.

    For a package, ``Manifest.json`` names the root model file, which must lie inside the package;
    no other file (in particular no weight file) is opened. `label` is the name used in errors
    (default: the path).
    """
    p = Path(path)
    label = os.fspath(path) if label is None else label
    if not os.path.lexists(p):
        raise ModelLoadError(label, "no such file or folder")
    suffix = p.suffix.lower()
    if suffix == ".mlmodelc":
        raise ModelLoadError(
            label,
            "compiled models (.mlmodelc) cannot be read: load the .mlpackage or .mlmodel it was "
            "compiled from",
        )
    if suffix == ".mlpackage" or (p.is_dir() and (p / "Manifest.json").is_file()):
        if not p.is_dir():
            raise ModelLoadError(label, "not a folder (an .mlpackage is a folder)")
        spec_file = _package_root_spec(p, label)
        what = f"model spec {spec_file.relative_to(p.resolve()).as_posix()}"
    elif suffix == ".mlmodel":
        if p.is_dir():
            raise ModelLoadError(label, "is a folder, but an .mlmodel must be a file")
        if not p.is_file():
            # A FIFO or device would block (or never end) when read.
            raise ModelLoadError(label, "not a regular file")
        spec_file = p
        what = "model file"
    else:
        raise ModelLoadError(label, "not a Core ML model (expected .mlpackage or .mlmodel)")
    data = _read_bytes(spec_file, label, what)
    return _parse_spec(data, label, what)


@gc_paused()  # millions of small objects for big models: see _gc.py
def graph_from_spec(spec: Model_pb2.Model, *, name: str = "model", source: str = "") -> Graph:
    """Build a `Graph` from a parsed ``Model_pb2.Model`` (see the module docstring)."""
    label = source or name
    model_type = spec.WhichOneof("Type")
    if model_type is None:
        raise ModelLoadError(label, "not a Core ML model: the specification holds no model")
    builder = _GraphBuilder(label)
    if model_type == "mlProgram":
        fmt = "mlprogram"
        builder.add_ml_program(spec, prefix="")
    elif model_type in _NN_TYPES:
        fmt = "neuralnetwork"
        builder.add_neural_network(spec, function="main")
    elif model_type in _PIPELINE_TYPES:
        fmt = "pipeline"
        builder.add_pipeline(spec, prefix="", depth=0)
    else:
        raise ModelLoadError(
            label,
            f"unsupported model type '{model_type}': placement is only estimated for ML "
            "programs, neural networks and pipelines of them",
        )
    builder.check_order()
    inputs, outputs, flexible = _interface(spec.description)
    builder.check_shapes((*inputs, *outputs))
    return Graph(
        name=name,
        format=fmt,
        ops=tuple(builder.ops),
        inputs=inputs,
        outputs=outputs,
        functions=tuple(builder.functions),
        flexible_inputs=flexible,
        source=source,
        metadata=_metadata(spec.description.metadata),
        spec_version=int(spec.specificationVersion),
        function_inputs=dict(builder.function_inputs),
    )


# --------------------------------------------------------------------------------------------
# Files


def _stem(path: Path) -> str:
    # "model.mlpackage/" -> "model"; a bare name without suffix stays as it is.
    return path.stem or path.name or "model"


def _package_root_spec(pkg: Path, label: str) -> Path:
    manifest = pkg / "Manifest.json"
    if not manifest.is_file():
        raise ModelLoadError(label, "Manifest.json missing (not a valid .mlpackage)")
    try:
        doc = json.loads(manifest.read_bytes())
    except OSError as e:
        raise ModelLoadError(label, f"cannot read Manifest.json: {e.strerror or e}") from e
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise ModelLoadError(label, "Manifest.json is not valid JSON") from e
    if not isinstance(doc, dict):
        raise ModelLoadError(label, "Manifest.json is not a JSON object")
    root_id = doc.get("rootModelIdentifier")
    entries = doc.get("itemInfoEntries")
    if not isinstance(root_id, str) or not isinstance(entries, dict) or root_id not in entries:
        raise ModelLoadError(
            label, "Manifest.json names no root model (rootModelIdentifier missing or unknown)"
        )
    entry = entries[root_id]
    rel = entry.get("path") if isinstance(entry, dict) else None
    if not isinstance(rel, str) or not rel:
        raise ModelLoadError(label, "Manifest.json's root model entry has no path")
    # Package items live under Data/ (as in coremltools' ModelPackage). Resolve symlinks and
    # "..", then insist on staying inside the package so a crafted manifest cannot make us read
    # arbitrary files.
    real_pkg = os.path.realpath(pkg)
    if not _valid_file_name(rel):
        raise ModelLoadError(label, "Manifest.json's root model path is not a valid file name")
    if os.path.isabs(rel):
        raise ModelLoadError(label, "Manifest.json points outside the package")
    target = os.path.realpath(os.path.join(real_pkg, "Data", rel))
    if os.path.commonpath([real_pkg, target]) != real_pkg:
        raise ModelLoadError(label, "Manifest.json points outside the package")
    if not os.path.isfile(target):
        raise ModelLoadError(label, f"model spec 'Data/{rel}' named in Manifest.json is missing")
    return Path(target)


def _valid_file_name(name: str) -> bool:
    """False for names no file system accepts (NUL, lone surrogates): os calls would raise."""
    try:
        return b"\x00" not in os.fsencode(name)
    except UnicodeEncodeError:
        return False


def _read_bytes(path: Path, label: str, what: str) -> bytes:
    try:
        if path.stat().st_size > _MAX_SPEC_BYTES:
            raise ModelLoadError(
                label,
                f"{what} is larger than 2 GB, more than a protobuf can hold: not a Core ML model",
            )
        data = path.read_bytes()
    except PermissionError as e:
        raise ModelLoadError(label, f"cannot read {what}: permission denied") from e
    except OSError as e:
        raise ModelLoadError(label, f"cannot read {what}: {e.strerror or e}") from e
    if not data:
        raise ModelLoadError(label, f"empty {what}")
    return data


def _parse_spec(data: bytes, label: str, what: str) -> Model_pb2.Model:
    spec = Model_pb2.Model()
    try:
        spec.ParseFromString(data)
    except DecodeError as e:
        # Also raised for invalid UTF-8 in string fields and for nesting beyond protobuf's
        # recursion limit (deeply nested cond/while_loop blocks); upb does not say which.
        raise ModelLoadError(
            label,
            _not_a_spec(data)
            or f"{what} is not a valid Core ML protobuf (truncated, corrupt or nested too deeply)",
        ) from e
    if spec.WhichOneof("Type") is None:
        # Arbitrary bytes sometimes parse as a message made only of unknown fields.
        raise ModelLoadError(
            label, _not_a_spec(data) or f"{what} is not a Core ML model (no model inside)"
        )
    return spec


def _not_a_spec(data: bytes) -> str | None:
    """What unparsable bytes look like, when that is easy to tell (asked only on failure)."""
    if data.startswith(b"PK\x03\x04"):
        return (
            "this is a zip archive, not a model spec: unzip it (an .mlpackage is a folder) "
            "and load the .mlpackage or .mlmodel inside"
        )
    head = data[:512]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        # A multi-byte character cut at 512 bytes is still text; anything else is binary.
        text = head[: e.start].decode("utf-8") if e.start >= len(data[:512]) - 3 else ""
    if text and all(c.isprintable() or c in "\t\r\n" for c in text):
        return "this is a text file, not a Core ML model (a binary protobuf)"
    return None


# --------------------------------------------------------------------------------------------
# In-memory objects


def _load_mlmodel(model: MLModel, name: str | None) -> Graph:
    package = getattr(model, "package_path", None)
    # Models fresh from ct.convert live in a temporary package: its name means nothing to users.
    if package and not getattr(model, "is_temp_package", False):
        source = os.fspath(package)
        default_name = _stem(Path(package))
    else:
        source = "<MLModel>"
        default_name = "model"
    spec = model.get_spec()
    return graph_from_spec(spec, name=name or default_name, source=source)


def _load_program(prog: Program, name: str | None) -> Graph:
    label = "<MIL Program>"
    # ct.convert runs graph passes on the program in place: work on a copy so the caller's
    # program is left as it was.
    prog = copy.deepcopy(prog)
    targets = [f.opset_version for f in prog.functions.values() if f.opset_version is not None]
    # ML programs need iOS15 at least; programs built without opset_version default to iOS13.
    target = max([*targets, ct.target.iOS15])
    with tempfile.TemporaryDirectory(prefix="ane_notebook-") as tmp:
        try:
            model = convert_quietly(
                prog,
                convert_to="mlprogram",
                minimum_deployment_target=target,
                skip_model_load=True,
                package_dir=os.path.join(tmp, "program.mlpackage"),
            )
        except (
            ValueError,
            TypeError,
            KeyError,
            NotImplementedError,
            RuntimeError,
            AssertionError,
        ) as e:
            raise ModelLoadError(label, f"coremltools could not convert the program: {e}") from e
        spec = model.get_spec()
    return graph_from_spec(spec, name=name or "program", source=label)


# --------------------------------------------------------------------------------------------
# Interface (description): inputs, outputs, flexible shapes, metadata


def _interface(
    desc: Model_pb2.ModelDescription,
) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...], tuple[FlexibleInput, ...]]:
    """Model inputs/outputs; for multifunction models, those of the default function."""
    ins: Any = desc.input
    outs: Any = desc.output
    if desc.functions:
        default = desc.defaultFunctionName or desc.functions[0].name
        for fn in desc.functions:
            if fn.name == default:
                ins, outs = fn.input, fn.output
                break
    inputs = tuple(_feature_info(f, interface=True) for f in ins)
    outputs = tuple(_feature_info(f, interface=True) for f in outs)
    flexible = tuple(fi for fi in (_flexible(f) for f in ins) if fi is not None)
    return inputs, outputs, flexible


def _feature_info(feature: Model_pb2.FeatureDescription, *, interface: bool) -> TensorInfo:
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


def _metadata(meta: Model_pb2.Metadata) -> dict[str, str]:
    # The standard fields first, then userDefined (which wins on a clash: it is more specific).
    out: dict[str, str] = {}
    for key in ("shortDescription", "versionString", "author", "license"):
        value = getattr(meta, key)
        if value:
            out[key] = str(value)
    for key, value in meta.userDefined.items():
        out[str(key)] = str(value)
    return out


# --------------------------------------------------------------------------------------------
# MIL types and values


def _mil_tensor_shape(tt: MIL_pb2.TensorType) -> Shape | None:
    dims = tt.dimensions
    rank = int(tt.rank)
    if not dims:
        # A rank without dimensions: every dimension is unknown. Never allocate by rank beyond
        # _MAX_RANK. (Explicit dimensions beyond it are refused by `check_shapes`.)
        return None if rank < 0 or rank > _MAX_RANK else (None,) * rank
    out: list[int | None] = []
    for d in dims:
        which = d.WhichOneof("dimension")
        if which == "constant":
            # Absurd sizes are kept as they are (Python ints do not overflow) and never used to
            # allocate anything.
            out.append(int(d.constant.size))
        elif which == "unknown" and d.unknown.variadic:
            return None  # a variadic dimension makes even the rank unknown
        else:
            out.append(None)
    return tuple(out)


# Decoded types by their serialized bytes. A 50k-op LLM has ~100k typed values but a few dozen
# distinct types; serializing a small ValueType and looking it up is 5x faster than decoding it
# field by field. Bounded so that a model with absurdly many distinct types cannot grow it.
_TYPE_CACHE: dict[bytes, tuple[Shape | None, str]] = {}
_TYPE_CACHE_MAX = 4096


def _mil_type_info(vt: MIL_pb2.ValueType) -> tuple[Shape | None, str]:
    """(shape, dtype) of a MIL value type (see `_decode_mil_type`), memoised."""
    key = vt.SerializeToString()
    got = _TYPE_CACHE.get(key)
    if got is None:
        got = _decode_mil_type(vt)
        if len(_TYPE_CACHE) >= _TYPE_CACHE_MAX:
            _TYPE_CACHE.clear()
        _TYPE_CACHE[key] = got
    return got


def _decode_mil_type(vt: MIL_pb2.ValueType) -> tuple[Shape | None, str]:
    kind = vt.WhichOneof("type")
    if kind == "stateType":
        # A state wraps a tensor; anything else inside is malformed and reported as unknown.
        inner = vt.stateType.wrappedType
        if inner.WhichOneof("type") == "tensorType":
            kind, vt = "tensorType", inner
        else:
            return None, "state"
    if kind == "tensorType":
        tt = vt.tensorType
        dtype = _MIL_DTYPES.get(tt.dataType, f"unknown({tt.dataType})")
        return _mil_tensor_shape(tt), dtype
    if kind == "listType":
        return None, "list"
    if kind == "tupleType":
        return None, "tuple"
    if kind == "dictionaryType":
        return None, "dict"
    return None, "unknown"


_NO_VALUE = object()


def _reshape(flat: list[Any], shape: Shape | None) -> Any:
    """Nested tuples of `flat` in `shape`; scalars for rank 0; flat tuple if shapes disagree."""
    if shape == ():
        return flat[0] if len(flat) == 1 else tuple(flat)
    if shape is None or len(shape) == 1 or any(d is None for d in shape):
        return tuple(flat)
    n = 1
    for d in shape:
        n *= d  # type: ignore[operator]  # None excluded above
    if n != len(flat):
        return tuple(flat)
    out: Any = flat
    for d in reversed(shape[1:]):
        step = int(d)  # type: ignore[arg-type]
        out = [tuple(out[i : i + step]) for i in range(0, len(out), step)]
    return tuple(out)


def _small_value(value: MIL_pb2.Value) -> Any:
    """Python value of an immediate tensor with at most MAX_CONST_ELEMENTS, else _NO_VALUE."""
    if value.WhichOneof("value") != "immediateValue":
        return _NO_VALUE  # blob-file values are weights: never read
    iv = value.immediateValue
    if iv.WhichOneof("value") != "tensor":
        return _NO_VALUE
    tv = iv.tensor
    kind = tv.WhichOneof("value")
    shape, dtype = _mil_type_info(value.type)
    flat: list[Any]
    if kind == "bytes":
        raw = tv.bytes.values
        np_dtype = _BYTES_NP_DTYPES.get(dtype)
        if np_dtype is None:
            return _NO_VALUE  # packed sub-byte or bf16 data: not a parameter rules read
        itemsize = np.dtype(np_dtype).itemsize
        if len(raw) > MAX_CONST_ELEMENTS * itemsize or len(raw) % itemsize:
            return _NO_VALUE
        flat = np.frombuffer(raw, dtype=np_dtype).tolist()
    elif kind is None:
        return _NO_VALUE
    else:
        values = getattr(tv, kind).values
        if len(values) > MAX_CONST_ELEMENTS:
            return _NO_VALUE
        flat = list(values)
        if kind in ("floats", "doubles"):
            flat = [float(v) for v in flat]
        elif kind in ("ints", "longInts"):
            flat = [int(v) for v in flat]
        elif kind == "bools":
            flat = [bool(v) for v in flat]
        else:
            flat = [str(v) for v in flat]
    if not flat:
        return () if shape != () else _NO_VALUE
    return _reshape(flat, shape)


@functools.cache
def _param_order(op_type: str) -> Mapping[str, int]:
    """Parameter order of a MIL op as declared by coremltools (``x`` first), for stable inputs.

    The proto stores inputs in a map whose iteration order means nothing; the op definitions
    give the order users read in MIL text. Unknown ops (custom layers) fall back to names.
    """
    try:
        from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry

        versions = SSAOpRegistry.core_ops.get(op_type)
        if not versions:
            return {}
        keys = list(versions[max(versions)].input_spec.input_types)
    except (ImportError, AttributeError, TypeError):
        return {}
    return {k: i for i, k in enumerate(keys)}


# --------------------------------------------------------------------------------------------
# Graph building


@dataclass
class _Frame:
    """One block being walked: its ops, where it sits, and the nesting depth."""

    ops: Iterator[Any]
    path: tuple[str, ...]
    parent: int | None
    depth: int


@dataclass
class _GraphBuilder:
    label: str
    ops: list[Op] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    function_inputs: dict[tuple[str, str], TensorInfo] = field(default_factory=dict)

    def _fail(self, problem: str) -> ModelLoadError:
        return ModelLoadError(self.label, problem)

    def _add_function(self, function: str) -> None:
        if function in self.functions:
            raise self._fail(f"function {_q(function)} appears twice")
        self.functions.append(function)

    # ---- ML Program --------------------------------------------------------------------------

    def add_ml_program(self, spec: Model_pb2.Model, *, prefix: str) -> None:
        program = spec.mlProgram
        names = list(program.functions.keys())
        ordered = [f.name for f in spec.description.functions if f.name in program.functions]
        if not ordered:
            default = spec.description.defaultFunctionName
            ordered = [default] if default in program.functions else []
        ordered += sorted(n for n in names if n not in ordered)
        if not ordered:
            raise self._fail("ML program has no functions")
        for fn_name in ordered:
            self._add_mil_function(program.functions[fn_name], prefix + fn_name)

    def _add_mil_function(self, fn: MIL_pb2.Function, function: str) -> None:
        self._add_function(function)
        for nvt in fn.inputs:
            shape, dtype = _mil_type_info(nvt.type)
            self.function_inputs[(function, nvt.name)] = TensorInfo(nvt.name, shape, dtype)
        blocks = fn.block_specializations
        if fn.opset in blocks:
            block = blocks[fn.opset]
        elif len(blocks) == 1:
            block = next(iter(blocks.values()))
        else:
            raise self._fail(f"function {_q(function)} has no block for its opset {_q(fn.opset)}")
        # Per function: values of small consts and shapes of all const-like outputs, so that
        # consumers can pick up parameters and weight shapes in O(1).
        const_values: dict[str, Any] = {}
        const_shapes: dict[str, Shape | None] = {}
        stack = [_Frame(iter(block.operations), (), None, 0)]
        while stack:
            frame = stack[-1]
            op_pb = next(frame.ops, None)
            if op_pb is None:
                stack.pop()
                continue
            index = len(self.ops)
            op = self._mil_op(op_pb, index, function, frame, const_values, const_shapes)
            self.ops.append(op)
            if op_pb.blocks:
                if frame.depth + 1 > MAX_NESTING:
                    raise self._fail(f"blocks nested deeper than {MAX_NESTING} levels")
                # Push in reverse so that block0 is walked first (depth-first, in order).
                for bi in reversed(range(len(op_pb.blocks))):
                    sub = op_pb.blocks[bi]
                    for nvt in sub.inputs:
                        shape, dtype = _mil_type_info(nvt.type)
                        self.function_inputs[(function, nvt.name)] = TensorInfo(
                            nvt.name, shape, dtype
                        )
                    stack.append(
                        _Frame(
                            iter(sub.operations),
                            (*frame.path, op.name, f"block{bi}"),
                            index,
                            frame.depth + 1,
                        )
                    )

    def _mil_op(
        self,
        op_pb: MIL_pb2.Operation,
        index: int,
        function: str,
        frame: _Frame,
        const_values: dict[str, Any],
        const_shapes: dict[str, Shape | None],
    ) -> Op:
        raw_type = op_pb.type
        attrs: dict[str, Any] = {}
        m = _OPSET_PREFIX.match(raw_type)
        op_type = m.group(1) if m else raw_type
        if m:
            attrs["opset_type"] = raw_type
        outputs = tuple(TensorInfo(o.name, *_mil_type_info(o.type)) for o in op_pb.outputs)
        for key, value in op_pb.attributes.items():
            v = _small_value(value)
            if v is _NO_VALUE:
                continue
            attrs["mil_name" if key == "name" else key] = v
        is_const = op_type == "const" or op_type.startswith("constexpr_")

        inputs: list[str] = []
        seen: set[str] = set()
        args: dict[str, tuple[str, ...]] = {}
        order = _param_order(op_type)
        # (Protobuf field reads are the loader's main cost on big models: each is read once.)
        keys = sorted(op_pb.inputs, key=lambda k: (k != "x", order.get(k, 1 << 30), k))
        for key in keys:
            bindings = op_pb.inputs[key].arguments
            names: list[str] = []
            name_bound: str | None = None
            for binding in bindings:
                if binding.WhichOneof("binding") == "name":
                    name_bound = binding.name
                    names.append(name_bound)
                    if name_bound not in seen:
                        seen.add(name_bound)
                        inputs.append(name_bound)
            if names:
                args[key] = tuple(names)
            if len(bindings) == 1 and key not in attrs:
                binding = bindings[0]
                if name_bound is not None:  # the one binding is a name
                    if name_bound in const_values:
                        attrs[key] = const_values[name_bound]
                else:
                    v = _small_value(binding.value)
                    if v is not _NO_VALUE:
                        attrs[key] = v
        if args:
            attrs["args"] = args
        if op_pb.blocks:
            # The parent's outputs are its blocks' outputs (the taken branch, the final loop
            # state); name them so that analyses can follow data out of the blocks.
            attrs["block_outputs"] = tuple(tuple(b.outputs) for b in op_pb.blocks)
        for key in _WEIGHT_PARAMS.get(op_type, ()):
            bound = args.get(key)
            if bound and len(bound) == 1 and bound[0] in const_shapes:
                attrs["weight_shape"] = const_shapes[bound[0]]
                if len(_WEIGHT_PARAMS[op_type]) > 1:
                    attrs["weight_input"] = key
                break
        ws = attrs.get("weight_shape")
        if op_type in ("conv", "conv_transpose") and ws is not None and len(ws) >= 3:
            attrs["kernel_size"] = tuple(ws[2:])

        if is_const:
            for o in outputs:
                const_shapes[o.name] = o.shape
            if op_type == "const" and len(outputs) == 1 and "val" in attrs:
                const_values[outputs[0].name] = attrs["val"]

        if outputs:
            name = outputs[0].name
        else:
            # Ops without outputs (rare, e.g. state writes in some opsets) keep their MIL name.
            mil_name = attrs.get("mil_name")
            name = mil_name if isinstance(mil_name, str) and mil_name else f"{op_type}_{index}"
        return Op(
            index=index,
            name=name,
            op_type=op_type,
            function=function,
            inputs=tuple(inputs),
            outputs=outputs,
            attrs=attrs,
            is_const=is_const,
            block=frame.path,
            parent=frame.parent,
        )

    # ---- NeuralNetwork -----------------------------------------------------------------------

    def add_neural_network(self, spec: Model_pb2.Model, *, function: str) -> None:
        self._add_function(function)
        for feature in spec.description.input:
            self.function_inputs[(function, feature.name)] = _feature_info(feature, interface=False)
        nn = getattr(spec, spec.WhichOneof("Type") or "neuralNetwork")
        start = len(self.ops)
        stack = [_Frame(iter(nn.layers), (), None, 0)]
        while stack:
            frame = stack[-1]
            layer = next(frame.ops, None)
            if layer is None:
                stack.pop()
                continue
            index = len(self.ops)
            op = self._nn_op(layer, index, function, frame)
            self.ops.append(op)
            subs = _nn_subnetworks(layer)
            if subs:
                if frame.depth + 1 > MAX_NESTING:
                    raise self._fail(f"layers nested deeper than {MAX_NESTING} levels")
                for block_name, sub in reversed(subs):
                    stack.append(
                        _Frame(
                            iter(sub.layers),
                            (*frame.path, op.name, block_name),
                            index,
                            frame.depth + 1,
                        )
                    )
        self._rename_rewritten_blobs(start)

    def _rename_rewritten_blobs(self, start: int) -> None:
        """Give every NN blob version its own name, so that edges stay right.

        NeuralNetwork layers may write a blob name that already exists (in-place activations
        from Caffe-era converters, ``copy`` layers in loops). Graph keys tensors by name, so each
        overwritten version is renamed ``"<name>@<k>"`` (k = 0, 1, ... in execution order); the
        last version keeps the original name so that model outputs still match. Readers see the
        version current at their position. ``attrs["renamed_outputs"]`` maps new to old names.
        """
        ops = self.ops[start:]
        counts: dict[str, int] = {}
        for op in ops:
            for t in op.outputs:
                counts[t.name] = counts.get(t.name, 0) + 1
        if all(c == 1 for c in counts.values()):
            return
        written: dict[str, int] = {}
        current: dict[str, str] = {}
        for i, op in enumerate(ops):
            inputs = tuple(dict.fromkeys(current.get(n, n) for n in op.inputs))
            outputs: list[TensorInfo] = []
            renamed: dict[str, str] = {}
            for t in op.outputs:
                total = counts[t.name]
                if total > 1:
                    k = written.get(t.name, 0)
                    written[t.name] = k + 1
                    new = t.name if k == total - 1 else f"{t.name}@{k}"
                    current[t.name] = new
                    if new != t.name:
                        renamed[new] = t.name
                        t = replace(t, name=new)
                outputs.append(t)
            if renamed or inputs != op.inputs:
                attrs = dict(op.attrs)
                if renamed:
                    attrs["renamed_outputs"] = renamed
                self.ops[start + i] = replace(
                    op,
                    name=outputs[0].name if outputs else op.name,
                    inputs=inputs,
                    outputs=tuple(outputs),
                    attrs=attrs,
                )

    def _nn_op(
        self,
        layer: NeuralNetwork_pb2.NeuralNetworkLayer,
        index: int,
        function: str,
        frame: _Frame,
    ) -> Op:
        kind = layer.WhichOneof("layer") or "unknown"
        attrs: dict[str, Any] = {"layer_name": layer.name, "nn_precision_unknown": True}
        if kind != "unknown":
            _nn_params(getattr(layer, kind), attrs)
        if kind == "convolution" and len(layer.convolution.kernelSize) == 2:
            c = layer.convolution
            attrs["weight_shape"] = (
                int(c.outputChannels),
                int(c.kernelChannels),
                *(int(k) for k in c.kernelSize),
            )
        elif kind == "innerProduct":
            ip = layer.innerProduct
            attrs["weight_shape"] = (int(ip.outputChannels), int(ip.inputChannels))
        shapes: list[Shape | None] = []
        for t in layer.outputTensor:
            rank = int(t.rank)
            if t.dimValue:
                shapes.append(tuple(int(d) if d >= 0 else None for d in t.dimValue))
            elif 0 <= rank <= _MAX_RANK:
                shapes.append((None,) * rank)
            else:
                shapes.append(None)
        outputs = tuple(
            TensorInfo(n, shapes[i] if i < len(shapes) else None, "fp32")
            for i, n in enumerate(layer.output)
        )
        inputs = tuple(dict.fromkeys(layer.input))  # de-duplicated, order kept
        return Op(
            index=index,
            name=outputs[0].name if outputs else (layer.name or f"{kind}_{index}"),
            op_type=kind,
            function=function,
            inputs=inputs,
            outputs=outputs,
            attrs=attrs,
            block=frame.path,
            parent=frame.parent,
        )

    # ---- Pipelines ---------------------------------------------------------------------------

    def add_pipeline(self, spec: Model_pb2.Model, *, prefix: str, depth: int) -> None:
        if depth > MAX_NESTING:
            raise self._fail(f"pipelines nested deeper than {MAX_NESTING} levels")
        kind = spec.WhichOneof("Type")
        pipeline = spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline
        names = list(pipeline.names)
        for i, stage in enumerate(pipeline.models):
            stage_type = stage.WhichOneof("Type") or "unknown"
            given = names[i] if i < len(names) and names[i] else stage_type
            label = f"{prefix}{i}:{given}"
            if stage_type == "mlProgram":
                self.add_ml_program(stage, prefix=label + "/")
            elif stage_type in _NN_TYPES:
                self.add_neural_network(stage, function=label)
            elif stage_type in _PIPELINE_TYPES:
                self.add_pipeline(stage, prefix=label + "/", depth=depth + 1)
            else:
                self._add_opaque_stage(stage, stage_type, label)

    def _add_opaque_stage(self, stage: Model_pb2.Model, stage_type: str, function: str) -> None:
        """A non-neural pipeline stage (tree ensemble, GLM, ...) as one op (run on the CPU)."""
        self._add_function(function)
        ins = [_feature_info(f, interface=True) for f in stage.description.input]
        for t in ins:
            self.function_inputs[(function, t.name)] = t
        outputs = tuple(_feature_info(f, interface=True) for f in stage.description.output)
        index = len(self.ops)
        self.ops.append(
            Op(
                index=index,
                name=outputs[0].name if outputs else f"{stage_type}_{index}",
                op_type=stage_type,
                function=function,
                inputs=tuple(t.name for t in ins),
                outputs=outputs,
                attrs={"pipeline_stage": function},
            )
        )

    # ---- Checks ------------------------------------------------------------------------------

    def check_order(self) -> None:
        """Refuse graphs where an op reads a tensor that a later op produces: a cycle, ops out of
        execution order, or a name produced twice with a reader in between (ML programs are SSA;
        NeuralNetwork rewrites were renamed already). Everything downstream relies on the tuple
        being in execution order, with `Graph.producer` (the last producer of a name) before
        each reader."""
        first: dict[tuple[str, str], int] = {}
        last: dict[tuple[str, str], int] = {}
        for op in self.ops:
            for t in op.outputs:
                key = (op.function, t.name)
                first.setdefault(key, op.index)
                last[key] = op.index
        for op in self.ops:
            for name in op.inputs:
                key = (op.function, name)
                src = last.get(key)
                if src is None or src < op.index or key in self.function_inputs:
                    continue
                if first[key] < op.index:
                    raise self._fail(
                        f"tensor {_q(name)} is produced twice (by ops #{first[key]} and #{src}) "
                        f"and op {_q(op.name)} reads it in between (tensor names must be "
                        "unique)"
                    )
                raise self._fail(
                    f"op {_q(op.name)} reads {_q(name)} before it is produced "
                    "(cycle or ops out of order)"
                )

    def check_shapes(self, interface: Iterable[TensorInfo]) -> None:
        """Refuse declared shapes no model can have (see `_shape_problem`)."""
        tensors = itertools.chain(
            self.function_inputs.values(), (t for op in self.ops for t in op.outputs), interface
        )
        for t in tensors:
            problem = _shape_problem(t.shape)
            if problem is not None:
                raise self._fail(f"tensor {_q(t.name)} declares {problem}")


def _q(name: str) -> str:
    """A model-provided name quoted for an error message (cut short: names can be huge)."""
    return f"'{plain(name, 80)}'"


def _shape_problem(shape: Shape | None) -> str | None:
    if shape is None:
        return None
    if len(shape) > _MAX_RANK:
        return f"{len(shape)} dimensions (more than {_MAX_RANK}: not a real tensor)"
    elements = 1
    for d in shape:
        if d is None:
            continue
        if d > _MAX_DIM:
            return (
                f"dimension {d}, which is not a valid size (more than 2**63 - 1: a negative "
                "size stored unsigned?)"
            )
        elements *= d
    if elements > MAX_TENSOR_ELEMENTS:
        return "a shape of more than 2**128 elements"
    return None


def _nn_subnetworks(
    layer: NeuralNetwork_pb2.NeuralNetworkLayer,
) -> list[tuple[str, NeuralNetwork_pb2.NeuralNetwork]]:
    kind = layer.WhichOneof("layer")
    if kind == "branch":
        names = ("ifBranch", "elseBranch")
        params: Any = layer.branch
    elif kind == "loop":
        names = ("conditionNetwork", "bodyNetwork")
        params = layer.loop
    else:
        return []
    return [(n, getattr(params, n)) for n in names if params.HasField(n)]


def _nn_params(msg: Any, attrs: dict[str, Any], *, depth: int = 0) -> None:
    """Copy a NN layer's scalar parameters into attrs under their proto names.

    Enums become their value names ("MAX"), repeated scalars tuples (when small), a chosen oneof
    member is recorded as ``attrs[<oneof name>] = <member>`` and its own scalars are copied too
    (one level deep: e.g. activation's ``NonlinearityType`` and ``alpha``). Weight messages and
    sub-networks are skipped: weights are never read.
    """
    for fd in msg.DESCRIPTOR.fields:
        oneof = fd.containing_oneof
        if fd.message_type is not None:
            if fd.message_type.name in ("WeightParams", "NeuralNetwork"):
                continue
            repeated = _is_repeated(fd)
            if repeated or not msg.HasField(fd.name):
                continue
            if oneof is not None:
                attrs.setdefault(oneof.name, fd.name)
            if depth < 1:
                sub: dict[str, Any] = {}
                _nn_params(getattr(msg, fd.name), sub, depth=depth + 1)
                for k, v in sub.items():
                    attrs.setdefault(k, v)
            continue
        value = getattr(msg, fd.name)
        if _is_repeated(fd):
            if len(value) > MAX_CONST_ELEMENTS:
                continue
            items = list(value)
            if fd.enum_type is not None:
                items = [_enum_name(fd, v) for v in items]
            attrs.setdefault(fd.name, tuple(items))
        elif oneof is not None and not msg.HasField(fd.name):
            continue
        elif fd.enum_type is not None:
            attrs.setdefault(fd.name, _enum_name(fd, value))
        elif isinstance(value, bytes):
            continue
        else:
            attrs.setdefault(fd.name, value)


def _is_repeated(fd: Any) -> bool:
    # protobuf >= 5 has `is_repeated`; older versions only `label`.
    is_rep = getattr(fd, "is_repeated", None)
    if is_rep is not None:
        return bool(is_rep)
    return bool(fd.label == fd.LABEL_REPEATED)


def _enum_name(fd: Any, number: int) -> str | int:
    value = fd.enum_type.values_by_number.get(number)
    return value.name if value is not None else int(number)
