"""A corpus of bad inputs: broken model files and packages, malformed specs, hostile names and bad
recorded plans, each with the error it must raise.

Every case is written into a folder by a small function (malformed specs are made by editing the
protobuf of a tiny valid ML program with `coremltools.proto`), so nothing binary is kept in the
repository and every case shows exactly what is wrong with it. `tests/test_robustness.py` runs
each model and plan case through every entry point (API, CLI, magic, widget); the upload cases
(what the explorer's upload button may be sent) go through `save_upload` and the widget in
`tests/test_upload.py`; `benchmarks/fuzz_loaders.py` uses `small_spec` and `plan_dict` as seeds.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coremltools.proto import MIL_pb2, Model_pb2

from ane_notebook.errors import AneNotebookError, ModelLoadError, PlanError

# Op names that would be markup, script, template expressions or terminal control if a renderer
# forgot to escape them.
HOSTILE_NAMES = (
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(1)</script>",
    "{{7*7}}",
    "${7*7}",
    "red\x1b[31m\x1b[2J\x07bell\r\nnext\x00nul",
    "\u202eevil-bidi\u2066",
    "\"quoted\" & 'single'",
)

# --------------------------------------------------------------------------------------------
# Tiny valid models, written as ML program protobufs


def tensor_type(
    vt: MIL_pb2.ValueType, dims: Sequence[int | None], dtype: int = MIL_pb2.FLOAT16
) -> None:
    """Make `vt` a tensor type of `dims` (None: an unknown dimension)."""
    tt = vt.tensorType
    tt.dataType = dtype
    tt.rank = len(dims)
    for d in dims:
        if d is None:
            tt.dimensions.add().unknown.variadic = False
        else:
            tt.dimensions.add().constant.size = d


def small_spec(
    ops: list[tuple[str, dict[str, str], str]] | None = None,
    *,
    dims: list[int | None] | None = None,
    function: str = "main",
) -> Model_pb2.Model:
    """A one-function ML program: `ops` as (type, {parameter: input name}, output name).

    The default is x -> relu -> sigmoid -> add(sigmoid, const) -> relu, with one const op, so
    that plans have something to compare and consts to skip.
    """
    if ops is None:
        ops = [
            ("relu", {"x": "x"}, "r1"),
            ("sigmoid", {"x": "r1"}, "s1"),
            ("const", {}, "bias"),
            ("add", {"x": "s1", "y": "bias"}, "a1"),
            ("relu", {"x": "a1"}, "out"),
        ]
    shape: list[int | None] = dims if dims is not None else [1, 8]
    spec = Model_pb2.Model()
    spec.specificationVersion = 7
    fn = spec.mlProgram.functions[function]
    fn.opset = "CoreML7"
    inp = fn.inputs.add()
    inp.name = "x"
    tensor_type(inp.type, shape)
    block = fn.block_specializations["CoreML7"]
    for op_type, inputs, out in ops:
        op = block.operations.add()
        op.type = op_type
        for param, name in inputs.items():
            op.inputs[param].arguments.add().name = name
        o = op.outputs.add()
        o.name = out
        tensor_type(o.type, shape)
    if ops:
        block.outputs.append(ops[-1][2])
    return spec


def write_spec(path: Path, spec: Model_pb2.Model) -> Path:
    path.write_bytes(spec.SerializeToString())
    return path


def small_model(folder: Path) -> Path:
    """The tiny valid model every plan case is replayed on (written once per folder)."""
    path = folder / "small.mlmodel"
    if not path.exists():
        write_spec(path, small_spec())
    return path


def write_package(
    folder: Path, manifest: object | None, spec: bytes | None = None, name: str = "bad.mlpackage"
) -> Path:
    """An .mlpackage folder with `manifest` (a dict, raw text, or None for none) and, when
    given, `spec` at the usual place Data/com.apple.CoreML/model.mlmodel."""
    pkg = folder / name
    (pkg / "Data" / "com.apple.CoreML").mkdir(parents=True)
    if manifest is not None:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        (pkg / "Manifest.json").write_text(text)
    if spec is not None:
        (pkg / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(spec)
    return pkg


def manifest_to(rel: str) -> dict[str, Any]:
    return {
        "fileFormatVersion": "1.0.0",
        "rootModelIdentifier": "root",
        "itemInfoEntries": {"root": {"path": rel, "name": "model.mlmodel"}},
    }


def main_block(spec: Model_pb2.Model) -> Any:
    """The top-level block of `small_spec`'s function "main", to edit its ops."""
    return spec.mlProgram.functions["main"].block_specializations["CoreML7"]


# --------------------------------------------------------------------------------------------
# Plans


def plan_dict(model: Path) -> dict[str, Any]:
    """A plan as `ane-notebook record` writes it (source "coreml") for `model`."""
    from ane_notebook.api import profile

    data = profile(model, backend="estimate").to_dict()
    data["source"] = "coreml"
    for o in data["ops"]:
        o["evidence"] = None
    return data


def remote_info(
    output: str, device: str = "cpu", cost: object = 0.25, data: object = None
) -> dict[str, Any]:
    """One info of coremltools' remote-device compute plan."""
    op_data = {"outputName": output} if data is None else data
    return {
        "deviceUsage": {"preferred": {device: {}}, "supported": [{device: {}}]},
        "estimatedCost": cost,
        "path": {
            "components": [
                {"program": {}},
                {"programFunction": {"data": {"name": "main"}}},
                {"programBlock": {"data": {"index": -1}}},
                {"programOperation": {"data": op_data}},
            ]
        },
    }


# --------------------------------------------------------------------------------------------
# The corpus


@dataclass(frozen=True)
class Case:
    """One bad input. `build(folder)` writes it and returns (model, plan); the error message
    must be `<named file>: <problem>` with `problem` matching the regular expression."""

    name: str
    build: Callable[[Path], tuple[Path, Path | None]]
    error: type[AneNotebookError]
    problem: str

    @property
    def is_plan(self) -> bool:
        return self.error is PlanError

    @property
    def typeable(self) -> bool:
        """False when the file name cannot be typed on a command line (it holds a NUL)."""
        return "_with_nul" not in self.name


MODEL_CASES: list[Case] = []
PLAN_CASES: list[Case] = []

Build = Callable[[Path], Path]


def model_case(name: str, problem: str) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        MODEL_CASES.append(
            Case(name, lambda folder: (build(folder), None), ModelLoadError, problem)
        )
        return build

    return register


def plan_case(name: str, problem: str) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        PLAN_CASES.append(
            Case(name, lambda folder: (small_model(folder), build(folder)), PlanError, problem)
        )
        return build

    return register


def edited_plan(name: str, problem: str, edit: Callable[[dict[str, Any]], object]) -> None:
    """A plan case made by editing a valid plan dict (`edit` changes it in place)."""

    def build(folder: Path) -> Path:
        data = copy.deepcopy(plan_dict(small_model(folder)))
        edit(data)
        path = folder / f"{name}.json"
        path.write_text(json.dumps(data))
        return path

    plan_case(name, problem)(build)


def plan_text(name: str, problem: str, text: Callable[[dict[str, Any]], str | bytes]) -> None:
    """A plan case written as raw text or bytes derived from a valid plan dict."""

    def build(folder: Path) -> Path:
        raw = text(plan_dict(small_model(folder)))
        path = folder / f"{name}.json"
        if isinstance(raw, bytes):
            path.write_bytes(raw)
        else:
            path.write_text(raw)
        return path

    plan_case(name, problem)(build)


# ---- files and packages ----------------------------------------------------------------------


@model_case("empty_package_folder", r"^Manifest\.json missing")
def _empty_package(folder: Path) -> Path:
    (folder / "empty.mlpackage").mkdir()
    return folder / "empty.mlpackage"


@model_case("package_without_manifest", r"^Manifest\.json missing")
def _no_manifest(folder: Path) -> Path:
    return write_package(folder, None, small_spec().SerializeToString())


@model_case("manifest_points_outside", r"^Manifest\.json points outside the package$")
def _manifest_outside(folder: Path) -> Path:
    write_spec(folder / "secret.mlmodel", small_spec())
    return write_package(folder, manifest_to("../../../secret.mlmodel"))


@model_case("manifest_absolute_path", r"^Manifest\.json points outside the package$")
def _manifest_absolute(folder: Path) -> Path:
    secret = write_spec(folder / "secret.mlmodel", small_spec())
    return write_package(folder, manifest_to(str(secret)))


@model_case(
    "manifest_names_missing_file",
    r"^model spec 'Data/com\.apple\.CoreML/model\.mlmodel' named in Manifest\.json is "
    r"missing$",
)
def _manifest_missing_file(folder: Path) -> Path:
    return write_package(folder, manifest_to("com.apple.CoreML/model.mlmodel"))


@model_case("manifest_not_json", r"^Manifest\.json is not valid JSON$")
def _manifest_not_json(folder: Path) -> Path:
    return write_package(folder, "{'rootModelIdentifier': ")


@model_case("manifest_is_a_list", r"^Manifest\.json is not a JSON object$")
def _manifest_list(folder: Path) -> Path:
    return write_package(folder, "[1, 2]")


@model_case("manifest_without_root", r"^Manifest\.json names no root model")
def _manifest_no_root(folder: Path) -> Path:
    return write_package(folder, {"itemInfoEntries": {"x": {"path": "a"}}})


@model_case(
    "manifest_path_with_nul", r"^Manifest\.json's root model path is not a valid file name$"
)
def _manifest_nul(folder: Path) -> Path:
    return write_package(
        folder,
        manifest_to("com.apple.CoreML/model.mlmodel\x00.txt"),
        small_spec().SerializeToString(),
    )


@model_case(
    "manifest_path_with_lone_surrogate",
    r"^Manifest\.json's root model path is not a valid file name$",
)
def _manifest_surrogate(folder: Path) -> Path:
    text = json.dumps(manifest_to("com.apple.CoreML/model.mlmodel")).replace(
        "model.mlmodel", "model\\udf07.mlmodel", 1
    )  # a JSON escape no file name can hold
    return write_package(folder, text, small_spec().SerializeToString())


@model_case("model_name_with_nul", r"^no such file or folder$")
def _model_nul(folder: Path) -> Path:
    return folder / "model\x00.mlmodel"


@model_case("empty_spec_in_package", r"^empty model spec Data/com\.apple\.CoreML/model\.mlmodel$")
def _package_empty_spec(folder: Path) -> Path:
    return write_package(folder, manifest_to("com.apple.CoreML/model.mlmodel"), b"")


@model_case(
    "truncated_spec_in_package",
    r"^model spec Data/com\.apple\.CoreML/model\.mlmodel is not a valid Core ML protobuf",
)
def _package_truncated(folder: Path) -> Path:
    data = small_spec().SerializeToString()
    return write_package(folder, manifest_to("com.apple.CoreML/model.mlmodel"), data[:-5])


@model_case("empty_mlmodel", r"^empty model file$")
def _empty_file(folder: Path) -> Path:
    (folder / "empty.mlmodel").write_bytes(b"")
    return folder / "empty.mlmodel"


@model_case("truncated_protobuf", r"^model file is not a valid Core ML protobuf \(truncated")
def _truncated(folder: Path) -> Path:
    data = small_spec().SerializeToString()
    (folder / "cut.mlmodel").write_bytes(data[: len(data) // 2])
    return folder / "cut.mlmodel"


@model_case(
    "random_protobuf",
    r"^model file is not a (valid Core ML protobuf|Core ML model \(no model inside\))",
)
def _random(folder: Path) -> Path:
    import random

    rng = random.Random(6)
    (folder / "noise.mlmodel").write_bytes(bytes(rng.randrange(256) for _ in range(2048)))
    return folder / "noise.mlmodel"


@model_case("protobuf_without_model", r"^model file is not a Core ML model \(no model inside\)$")
def _no_model(folder: Path) -> Path:
    spec = Model_pb2.Model()
    spec.specificationVersion = 7
    spec.description.metadata.author = "nobody"
    return write_spec(folder / "hollow.mlmodel", spec)


@model_case("zip_named_mlmodel", r"^this is a zip archive, not a model spec: unzip it")
def _zip(folder: Path) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model.mlpackage/Manifest.json", json.dumps(manifest_to("x")))
    (folder / "zipped.mlmodel").write_bytes(buf.getvalue())
    return folder / "zipped.mlmodel"


@model_case("text_named_mlmodel", r"^this is a text file, not a Core ML model")
def _text(folder: Path) -> Path:
    (folder / "notes.mlmodel").write_text("model weights: see the wiki\n" * 40)
    return folder / "notes.mlmodel"


@model_case("wrong_extension", r"^not a Core ML model \(expected \.mlpackage or \.mlmodel\)$")
def _onnx(folder: Path) -> Path:
    return write_spec(folder / "model.onnx", small_spec())


@model_case("compiled_model", r"^compiled models \(\.mlmodelc\) cannot be read")
def _compiled(folder: Path) -> Path:
    (folder / "model.mlmodelc").mkdir()
    return folder / "model.mlmodelc"


@model_case("missing_file", r"^no such file or folder$")
def _missing(folder: Path) -> Path:
    return folder / "nowhere.mlpackage"


@model_case("device_named_mlmodel", r"^not a regular file$")
def _device(folder: Path) -> Path:
    # Reading /dev/zero would never end.
    os.symlink("/dev/zero", folder / "zero.mlmodel")
    return folder / "zero.mlmodel"


if hasattr(os, "mkfifo"):

    @model_case("fifo_named_mlmodel", r"^not a regular file$")
    def _fifo(folder: Path) -> Path:
        # Opening a FIFO with no writer would block forever.
        os.mkfifo(folder / "pipe.mlmodel")
        return folder / "pipe.mlmodel"


# ---- malformed specs (valid protobuf, impossible model) ---------------------------------------


@model_case(
    "negative_dimension",
    r"^tensor 'x' declares dimension 18446744073709551615, which is not a valid size",
)
def _negative_dim(folder: Path) -> Path:
    # MIL sizes are uint64: -1 written by a careless tool arrives as 2**64 - 1.
    return write_spec(folder / "negative.mlmodel", small_spec(dims=[1, 2**64 - 1]))


@model_case(
    "astronomical_dimensions", r"^tensor 'x' declares a shape of more than 2\*\*128 elements$"
)
def _huge_dims(folder: Path) -> Path:
    return write_spec(folder / "huge.mlmodel", small_spec(dims=[2**62] * 4))


@model_case("too_many_dimensions", r"^tensor 'x' declares 100 dimensions")
def _rank(folder: Path) -> Path:
    return write_spec(folder / "rank.mlmodel", small_spec(dims=[1] * 100))


@model_case(
    "cycle_in_data_flow", r"^op 'a' reads 'b' before it is produced \(cycle or ops out of order\)$"
)
def _cycle(folder: Path) -> Path:
    spec = small_spec([("relu", {"x": "b"}, "a"), ("relu", {"x": "a"}, "b")])
    return write_spec(folder / "cycle.mlmodel", spec)


@model_case("op_reads_its_own_output", r"^op 'loop' reads 'loop' before it is produced")
def _self_loop(folder: Path) -> Path:
    return write_spec(folder / "self.mlmodel", small_spec([("relu", {"x": "loop"}, "loop")]))


@model_case(
    "name_produced_twice",
    r"^tensor 'a' is produced twice \(by ops #0 and #2\) and op 'b' reads it in between",
)
def _produced_twice(folder: Path) -> Path:
    spec = small_spec(
        [("relu", {"x": "x"}, "a"), ("relu", {"x": "a"}, "b"), ("sigmoid", {"x": "b"}, "a")]
    )
    return write_spec(folder / "twice.mlmodel", spec)


@model_case(
    "deeply_nested_blocks",
    r"^model file is not a valid Core ML protobuf \(truncated, corrupt or nested too "
    r"deeply\)$",
)
def _deep(folder: Path) -> Path:
    spec = small_spec([])
    block = main_block(spec)
    for i in range(200):  # alternating cond / while_loop, each inside the previous one's block
        op = block.operations.add()
        op.type = "while_loop" if i % 2 else "cond"
        op.inputs["pred"].arguments.add().name = "x"
        tensor_type(op.outputs.add().type, [1])
        op.outputs[0].name = f"c{i}"
        block = op.blocks.add()
    return write_spec(folder / "deep.mlmodel", spec)


@model_case("invalid_utf8_op_name", r"^model file is not a valid Core ML protobuf")
def _bad_utf8(folder: Path) -> Path:
    data = small_spec([("relu", {"x": "x"}, "QQQQ")]).SerializeToString()
    (folder / "utf8.mlmodel").write_bytes(data.replace(b"QQQQ", b"\xff\xfe<\x80"))
    return folder / "utf8.mlmodel"


@model_case("ml_program_without_functions", r"^ML program has no functions$")
def _no_functions(folder: Path) -> Path:
    spec = Model_pb2.Model()
    spec.specificationVersion = 7
    spec.mlProgram.version = 1
    return write_spec(folder / "nofn.mlmodel", spec)


@model_case("function_without_its_block", r"^function 'main' has no block for its opset 'CoreML9'$")
def _no_block(folder: Path) -> Path:
    spec = small_spec()
    fn = spec.mlProgram.functions["main"]
    fn.opset = "CoreML9"
    fn.block_specializations["CoreML8"].CopyFrom(fn.block_specializations["CoreML7"])
    return write_spec(folder / "noblock.mlmodel", spec)


@model_case("unsupported_model_type", r"^unsupported model type 'imputer'")
def _imputer(folder: Path) -> Path:
    spec = Model_pb2.Model()
    spec.specificationVersion = 1
    spec.imputer.imputedDoubleValue = 0.0
    return write_spec(folder / "imputer.mlmodel", spec)


@model_case(
    "hostile_names_in_a_cycle",
    r"^op 'a<img src=x onerror=alert\(1\)>\\x1b\[31m' reads 'b\\x07\\x00' before",
)
def _hostile_cycle(folder: Path) -> Path:
    a, b = "a<img src=x onerror=alert(1)>\x1b[31m", "b\x07\x00"
    return write_spec(
        folder / "hostile-cycle.mlmodel", small_spec([("relu", {"x": b}, a), ("relu", {"x": a}, b)])
    )


# ---- limits: file sizes, depths and counts (ane_notebook.model.limits) ------------------------


def empty_messages(message_type: Any, field: str, count: int) -> bytes:
    """`count` empty sub-messages of repeated `field` of `message_type`, as serialized bytes:
    parsed in C, so a million of them cost milliseconds instead of a Python loop."""
    tag = message_type.DESCRIPTOR.fields_by_name[field].number << 3 | 2  # length-delimited
    varint = bytearray()
    while True:
        varint.append(tag & 0x7F | (0x80 if tag > 0x7F else 0))
        tag >>= 7
        if not tag:
            break
    return (bytes(varint) + b"\x00") * count  # each: the tag, then length 0


@model_case(
    "manifest_too_large",
    r"^Manifest\.json is larger than 1 MB \(the limit; real ones are a few hundred bytes\)",
)
def _manifest_large(folder: Path) -> Path:
    # Valid JSON padded with blanks: only the size is wrong (an upload could expand to 1.9 GB).
    text = " " * (1024 * 1024) + json.dumps(manifest_to("com.apple.CoreML/model.mlmodel"))
    return write_package(folder, text, small_spec().SerializeToString())


@model_case(
    "manifest_nested_beyond_the_parser",
    r"^Manifest\.json is nested more than 16 levels deep \(the limit\)$",
)
def _manifest_recursion(folder: Path) -> Path:
    return write_package(folder, "[" * 100_000 + "]" * 100_000)


@model_case(
    "manifest_nested_past_the_limit",
    r"^Manifest\.json is nested more than 16 levels deep \(the limit\)$",
)
def _manifest_deep(folder: Path) -> Path:
    doc: dict[str, Any] = manifest_to("com.apple.CoreML/model.mlmodel")
    inner = doc
    for _ in range(20):  # JSON can parse this; the manifest is still no manifest
        inner["extra"] = {}
        inner = inner["extra"]
    return write_package(folder, doc, small_spec().SerializeToString())


@model_case(
    "too_many_functions",
    r"^ML program has 131,073 functions, more than the limit of 131,072$",
)
def _many_functions(folder: Path) -> Path:
    spec = small_spec()
    functions = spec.mlProgram.functions
    for i in range(2**17):
        functions[f"f{i}"].SetInParent()
    return write_spec(folder / "functions.mlmodel", spec)


@model_case(
    "too_many_described_functions",
    r"^model description has 131,073 functions, more than the limit of 131,072$",
)
def _many_described(folder: Path) -> Path:
    spec = small_spec()
    spec.description.MergeFromString(
        empty_messages(Model_pb2.ModelDescription, "functions", 2**17 + 1)
    )
    return write_spec(folder / "described.mlmodel", spec)


@model_case(
    "too_many_pipeline_stages",
    r"^pipeline has 131,073 stages, more than the limit of 131,072$",
)
def _many_stages(folder: Path) -> Path:
    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    spec.pipeline.MergeFromString(empty_messages(Model_pb2.Pipeline, "models", 2**17 + 1))
    return write_spec(folder / "stages.mlmodel", spec)


@model_case("too_many_ops", r"^the model has more than 1,000,000 ops \(the limit\)$")
def _many_ops(folder: Path) -> Path:
    spec = small_spec()
    main_block(spec).MergeFromString(empty_messages(MIL_pb2.Block, "operations", 1_000_000))
    return write_spec(folder / "ops.mlmodel", spec)


@model_case("too_many_layers", r"^the model has more than 1,000,000 ops \(the limit\)$")
def _many_layers(folder: Path) -> Path:
    from coremltools.proto import NeuralNetwork_pb2

    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    spec.neuralNetwork.MergeFromString(
        empty_messages(NeuralNetwork_pb2.NeuralNetwork, "layers", 1_000_001)
    )
    return write_spec(folder / "layers.mlmodel", spec)


@model_case("op_with_too_many_blocks", r"^op 'c' has 17 blocks, more than the limit of 16$")
def _many_blocks(folder: Path) -> Path:
    spec = small_spec([("cond", {"pred": "x"}, "c")])
    main_block(spec).operations[0].MergeFromString(empty_messages(MIL_pb2.Operation, "blocks", 17))
    return write_spec(folder / "blocks.mlmodel", spec)


@model_case(
    "too_many_inputs", r"^model description has 10,001 inputs, more than the limit of 10,000$"
)
def _many_inputs(folder: Path) -> Path:
    spec = small_spec()
    for i in range(10_001):
        spec.description.input.add().name = f"in{i}"
    return write_spec(folder / "inputs.mlmodel", spec)


@model_case(
    "too_many_enumerated_shapes",
    r"^feature 'x' has 1,025 enumerated shapes, more than the limit of 1,024$",
)
def _many_shapes(folder: Path) -> Path:
    spec = small_spec()
    feature = spec.description.input.add()
    feature.name = "x"
    shapes = feature.type.multiArrayType.enumeratedShapes.shapes
    for i in range(1025):
        shapes.add().shape.extend([1, i + 1])
    return write_spec(folder / "shapes.mlmodel", spec)


def _nested_pipeline(levels: int) -> Model_pb2.Model:
    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    inner = spec
    for _ in range(levels):
        inner = inner.pipeline.models.add()
    inner.neuralNetwork.layers.add().activation.ReLU.SetInParent()
    return spec


@model_case(
    "deeply_nested_pipelines",
    r"^model file is not a valid Core ML protobuf \(truncated, corrupt or nested too "
    r"deeply\)$",
)
def _deep_pipelines(folder: Path) -> Path:
    # Past protobuf's recursion limit: the parser refuses it before the loader's own limit.
    return write_spec(folder / "deep-pipeline.mlmodel", _nested_pipeline(200))


@model_case(
    "deeply_nested_nn_branches",
    r"^model file is not a valid Core ML protobuf \(truncated, corrupt or nested too "
    r"deeply\)$",
)
def _deep_branches(folder: Path) -> Path:
    spec = Model_pb2.Model()
    spec.specificationVersion = 4
    network = spec.neuralNetwork
    for i in range(200):
        layer = network.layers.add()
        layer.name = f"b{i}"
        layer.input.append("x")
        layer.output.append(f"b{i}")
        network = layer.branch.ifBranch
    return write_spec(folder / "deep-branch.mlmodel", spec)


# ---- recorded plans ----------------------------------------------------------------------------


def _set(path: list[Any], value: object) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return edit


edited_plan(
    "plan_wrong_version",
    r"^unsupported report version 99; this ane_notebook reads "
    r"versions 1, 2$",
    _set(["version"], 99),
)
edited_plan(
    "plan_wrong_format",
    r"^not an ane_notebook report \(format 'onnx\.plan'\)$",
    _set(["format"], "onnx.plan"),
)
edited_plan(
    "plan_missing_field",
    r"^invalid report at ops/1: missing field 'device'$",
    _delete(["ops", 1, "device"]),
)
edited_plan(
    "plan_missing_chip",
    r"^invalid report at top level: missing field 'chip'$",
    _delete(["chip"]),
)
edited_plan(
    "plan_wrong_type",
    r"^invalid report at ops/0/est_time_ms: expected a number, got a string$",
    _set(["ops", 0, "est_time_ms"], "fast"),
)
edited_plan(
    "plan_for_another_model",
    r"^plan does not match model 'small': \d+ difference\(s\): op 'r1' \(relu\) of "
    r"function 'main' is not in the plan",
    _set(["ops", 0, "name"], "someone_else"),
)
edited_plan(
    "plan_changed_op_type",
    r"^plan does not match model 'small': 1 difference\(s\): "
    r"op 'r1' is relu in the model but gelu in the plan$",
    _set(["ops", 0, "op_type"], "gelu"),
)
edited_plan(
    "estimate_report_as_plan",
    r"^this report is an estimate, not a plan recorded by "
    r"Core ML",
    _set(["source"], "estimate"),
)
edited_plan(
    "plan_index_out_of_range",
    r"^invalid report at ops/1/inputs/0: op index 1000000 out of range \(0 to 0\)$",
    _set(["ops", 1, "inputs"], [10**6]),
)
edited_plan(
    "plan_segment_backwards",
    r"^invalid report at segments/0: start 4 is after end 0$",
    lambda d: d["segments"][0].update(start=4, end=0),
)
edited_plan(
    "plan_times_add_up_to_infinity",
    r"^invalid report at ops/0/est_time_ms: 1e\+308 ms "
    r"is too large to add up",
    lambda d: [o.update(est_time_ms=1e308) for o in d["ops"]],
)
# Reports that are valid JSON Schema but mean nothing: each passed the schema (or crashed a
# renderer) before the hand-written validator (ane_notebook/report_validation.py).
_CROSSING = {
    "src": 0, "dst": 1, "tensor": "r1", "shape": [1, 8], "dtype": "fp16", "bytes": 16,
    "src_device": "GPU", "dst_device": "ANE", "est_cost_ms": 0.1, "moved": True,
}  # fmt: skip
edited_plan(
    "plan_index_as_float",
    r"^invalid report at ops/0/index: expected an integer, got a number 0\.0$",
    _set(["ops", 0, "index"], 0.0),
)
edited_plan(
    "plan_time_as_boolean",
    r"^invalid report at ops/0/est_time_ms: expected a number, got a boolean$",
    _set(["ops", 0, "est_time_ms"], True),
)
edited_plan(
    "plan_segment_start_as_boolean",
    r"^invalid report at segments/0/start: expected an integer, got a boolean False$",
    _set(["segments", 0, "start"], False),
)
edited_plan(
    "plan_count_of_2_to_the_40",
    r"^invalid report at segments/0/n_ops: 1099511627776 is out of range \(must be between "
    r"1 and 5\)$",
    _set(["segments", 0, "n_ops"], 2**40),
)
edited_plan(
    "plan_bytes_near_1e308",
    r"^invalid report at crossings/0/bytes: expected an integer, got a number 1e\+308$",
    lambda d: (d["ops"][1].update(device="GPU"),
               d["crossings"].append({**_CROSSING, "src_device": "CPU", "dst_device": "GPU",
                                      "bytes": 1e308})),
)  # fmt: skip
edited_plan(
    "plan_crossing_devices_not_its_ops",
    r"^invalid report at crossings/0/src_device: op 0 \(src\) runs on CPU, not GPU$",
    lambda d: d["crossings"].append(_CROSSING),
)
edited_plan(
    "plan_crossing_backwards",
    r"^invalid report at crossings/0: src 3 is not before dst 1 \(execution order\)$",
    lambda d: d["crossings"].append({**_CROSSING, "src": 3}),
)
edited_plan(
    "plan_input_from_a_later_op",
    r"^invalid report at ops/1/inputs/0: op index 3 out of range \(0 to 0\)$",
    _set(["ops", 1, "inputs"], [3]),
)
edited_plan(
    "plan_segment_on_another_device",
    r"^invalid report at segments/0: op 0 runs on CPU, not on the segment's GPU$",
    _set(["segments", 0, "device"], "GPU"),
)
edited_plan(
    "plan_cost_weight_above_one",
    r"^invalid report at ops/0/cost_weight: 1\.5 is out of range \(must be between 0 and 1\)$",
    _set(["ops", 0, "cost_weight"], 1.5),
)
edited_plan(
    "plan_device_listed_twice",
    r"^invalid report at ops/0/supported: lists a device twice$",
    _set(["ops", 0, "supported"], ["CPU", "CPU"]),
)
edited_plan(
    "plan_warning_names_a_missing_op",
    r"^invalid report at warnings/0/ops/0: op index 1000000 out of range \(0 to 4\)$",
    _set(["warnings"], [{"kind": "no_usage", "message": "", "count": 1, "ops": [10**6]}]),
)
edited_plan(
    "plan_unknown_reason_kind",
    r"^invalid report at ops/0/reason_kind: 'because' is not one of ",
    _set(["ops", 0, "reason_kind"], "because"),
)
edited_plan(
    "plan_uncertainty_upside_down",
    r"^invalid report at uncertainty/est_total_ms: the high end is below the low end$",
    _set(["uncertainty"], {"ops": {}, "est_total_ms": [2.0, 1.0]}),
)
edited_plan(
    "plan_metadata_600_deep",
    r"^invalid report at metadata: nested more than 32 levels deep$",
    lambda d: d["metadata"].update(deep=_nested(600)),
)
edited_plan(
    "plan_rank_above_64",
    r"^invalid report at ops/0/outputs/0/shape: 65 dimensions \(more than 64\)$",
    _set(["ops", 0, "outputs", 0, "shape"], [1] * 65),
)
plan_text(
    "plan_nested_beyond_the_parser",
    r"^not valid JSON \(nested too deeply\)$",
    lambda d: json.dumps(d).replace('"metadata": {', '"metadata": {"x": ' + "[" * 100_000 + "]"
                                    * 100_000 + ", ", 1),
)  # fmt: skip


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


plan_text(
    "plan_nan",
    r"^not valid JSON \(non-finite number NaN is not allowed\)$",
    lambda d: json.dumps(d).replace('"est_time_ms": ', '"est_time_ms": NaN, "x": ', 1),
)
plan_text(
    "plan_infinity",
    r"^not valid JSON \(non-finite number -Infinity is not allowed\)$",
    lambda d: json.dumps(d).replace('"est_time_ms": ', '"est_time_ms": -Infinity, "x": ', 1),
)
plan_text(
    "plan_float_overflow",
    r"^not valid JSON \(number 1e400 is out of range\)$",
    lambda d: json.dumps(d).replace('"est_time_ms": ', '"est_time_ms": 1e400, "x": ', 1),
)
plan_text(
    "plan_integer_overflow",
    r"^not valid JSON \(integer 1000000000000000000\d*\.\.\. is "
    r"out of range\)$",
    lambda d: json.dumps(d).replace('"index": 0', '"index": 1' + "0" * 400, 1),
)
plan_text(
    "plan_not_json",
    r"^not valid JSON \(Expecting ',' delimiter: line 1",
    lambda d: json.dumps(d).replace(", ", " ", 1),
)
plan_text("plan_empty_file", r"^not valid JSON \(Expecting value", lambda d: "")
plan_text(
    "plan_not_utf8",
    r"^not UTF-8 text; expected a \.json file$",
    lambda d: b"\xff\xfe" + json.dumps(d).encode("utf-16-le"),
)
plan_text(
    "plan_nested_too_deeply",
    r"^not valid JSON \(nested too deeply\)$",
    lambda d: "[" * 200_000 + "]" * 200_000,
)
plan_text("plan_is_a_list", r"^not a report: expected a JSON object$", lambda d: "[]")
plan_text(
    "plan_unpaired_surrogate",
    r"^not valid JSON \(a string holds an unpaired surrogate, "
    r"\\udc80, which is not Unicode\)$",
    lambda d: json.dumps(d).replace('"metadata": {}', '"metadata": {"k": "\\udc80"}', 1),
)


@plan_case("plan_is_a_folder", r"^is a folder, expected a \.json file$")
def _plan_folder(folder: Path) -> Path:
    (folder / "plan.json").mkdir()
    return folder / "plan.json"


@plan_case("plan_name_with_nul", r"^no such file \(not a valid file name\)$")
def _plan_nul(folder: Path) -> Path:
    return folder / "plan\x00.json"


@plan_case("plan_missing", r"^no such file$")
def _plan_missing(folder: Path) -> Path:
    return folder / "never-recorded.json"


if hasattr(os, "mkfifo"):

    @plan_case("plan_is_a_fifo", r"^not a regular file, expected a \.json file$")
    def _plan_fifo(folder: Path) -> Path:
        os.mkfifo(folder / "plan-pipe.json")
        return folder / "plan-pipe.json"


def _remote(name: str, problem: str, infos: list[dict[str, Any]]) -> None:
    def build(folder: Path) -> Path:
        path = folder / f"{name}.json"
        path.write_text(json.dumps({"infos": infos}))
        return path

    plan_case(name, problem)(build)


_remote(
    "remote_plan_for_another_model",
    r"^plan does not match model 'small': it names none of the model's 4 ops",
    [remote_info("conv_out", "neuralEngine"), remote_info("softmax_0")],
)
_remote(
    "remote_plan_data_not_object",
    r"^info 0: a path component's 'data' must be an object, "
    r"got list$",
    [remote_info("r1", data=["r1"])],
)
_remote(
    "remote_plan_cost_out_of_range",
    r"^info 0: estimatedCost must be a fraction between 0 "
    r"and 1",
    [remote_info("r1", cost=12.5)],
)
_remote(
    "remote_plan_unknown_device",
    r"^unknown compute device 'tpu'",
    [remote_info("r1", device="tpu")],
)


# --------------------------------------------------------------------------------------------
# Caches that cannot be written


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make `folder` unwritable, for root too (root ignores permission bits: then the immutable
    attribute); skip where neither works."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    import pytest

    try:
        proc = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    except FileNotFoundError:
        pytest.skip("running as root without chattr: cannot make a folder read-only")
    if proc.returncode != 0:
        pytest.skip("running as root where chattr +i does not work here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


# --------------------------------------------------------------------------------------------
# Uploads: what the explorer's upload button may be sent (ane_notebook.model.upload)


@dataclass(frozen=True)
class UploadCase:
    """One bad upload: `build()` gives the uploaded (file name, bytes); `save_upload` must raise
    a `ModelLoadError` `<file name>: <problem>`, `problem` matching the regular expression."""

    name: str
    build: Callable[[], tuple[str, bytes]]
    problem: str


UPLOAD_CASES: list[UploadCase] = []


def upload_case(
    name: str, problem: str
) -> Callable[[Callable[[], tuple[str, bytes]]], Callable[[], tuple[str, bytes]]]:
    def register(build: Callable[[], tuple[str, bytes]]) -> Callable[[], tuple[str, bytes]]:
        UPLOAD_CASES.append(UploadCase(name, build, problem))
        return build

    return register


def package_entries(package: str = "m.mlpackage") -> list[tuple[str, bytes]]:
    """The files of a tiny valid .mlpackage (`small_spec`), as zip entries."""
    return [
        (
            f"{package}/Manifest.json",
            json.dumps(manifest_to("com.apple.CoreML/model.mlmodel")).encode(),
        ),
        (f"{package}/Data/com.apple.CoreML/model.mlmodel", small_spec().SerializeToString()),
    ]


def zip_bytes(entries: Sequence[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def patch_zip(
    data: bytes, *, flag_bits: int = 0, method: int | None = None, size: int | None = None
) -> bytes:
    """Edit every entry's headers (local and central directory) the way other zip tools write
    them, which Python's zipfile cannot: encryption flags, other compression methods, sizes."""
    import struct

    out = bytearray(data)
    zf = zipfile.ZipFile(io.BytesIO(data))
    for info in zf.infolist():
        local = info.header_offset  # local header: flags at +6, method at +8, size at +22
        out[local + 6] |= flag_bits
        if method is not None:
            struct.pack_into("<H", out, local + 8, method)
        if size is not None:
            struct.pack_into("<I", out, local + 22, size)
    central = zf.start_dir  # central directory: flags at +8, method at +10, size at +24
    for _ in zf.infolist():
        out[central + 8] |= flag_bits
        if method is not None:
            struct.pack_into("<H", out, central + 10, method)
        if size is not None:
            struct.pack_into("<I", out, central + 24, size)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", out, central + 28)
        central += 46 + name_len + extra_len + comment_len
    return bytes(out)


@upload_case("upload_not_a_zip", r"^not a valid zip file$")
def _up_junk() -> tuple[str, bytes]:
    return "junk.zip", b"not a zip at all"


@upload_case("upload_wrong_type", r"^upload an \.mlmodel or a zipped \.mlpackage \(\.zip\)$")
def _up_onnx() -> tuple[str, bytes]:
    return "model.onnx", small_spec().SerializeToString()


@upload_case("upload_without_package", r"^the zip holds no \.mlpackage folder$")
def _up_no_package() -> tuple[str, bytes]:
    return "notes.zip", zip_bytes([("notes/readme.txt", b"hello")])


@upload_case("upload_zip_slip", r"^zip entry '\.\./\.\./evil\.txt' points outside the archive$")
def _up_slip() -> tuple[str, bytes]:
    return "evil.zip", zip_bytes([*package_entries(), ("../../evil.txt", b"x")])


@upload_case("upload_absolute_entry", r"^zip entry '/tmp/evil\.txt' points outside the archive$")
def _up_absolute() -> tuple[str, bytes]:
    return "abs.zip", zip_bytes([*package_entries(), ("/tmp/evil.txt", b"x")])


@upload_case(
    "upload_encrypted", r"^zip entry 'm\.mlpackage/Manifest\.json' is encrypted: zip it without"
)
def _up_encrypted() -> tuple[str, bytes]:
    return "locked.zip", patch_zip(zip_bytes(package_entries()), flag_bits=0x1)


@upload_case(
    "upload_deflate64",
    r"^zip entry 'm\.mlpackage/Manifest\.json' uses compression method 9 \(deflate64\), which "
    r"cannot be read",
)
def _up_deflate64() -> tuple[str, bytes]:
    # What Windows Explorer writes for large files.
    return "deflate64.zip", patch_zip(zip_bytes(package_entries()), method=9)


@upload_case(
    "upload_ppmd",
    r"^zip entry 'm\.mlpackage/Manifest\.json' uses compression method 98 \(PPMd\)",
)
def _up_ppmd() -> tuple[str, bytes]:
    return "ppmd.zip", patch_zip(zip_bytes(package_entries()), method=98)


@upload_case(
    "upload_name_too_long",
    r"^zip entry 'm\.mlpackage/a+…': its name is 300 bytes long, more than the file system "
    r"allows \(255\)$",
)
def _up_long_name() -> tuple[str, bytes]:
    return "long.zip", zip_bytes([*package_entries(), ("m.mlpackage/" + "a" * 300, b"x")])


@upload_case(
    "upload_path_too_long",
    r"^zip entry 'm\.mlpackage/b+…': its path in the cache would be [\d,]+ bytes long, more "
    r"than the file system allows",
)
def _up_long_path() -> tuple[str, bytes]:
    deep = "/".join(["b" * 250] * 20)  # every name fits, the whole path does not
    return "deep.zip", zip_bytes([*package_entries(), (f"m.mlpackage/{deep}", b"x")])


@upload_case(
    "upload_entry_name_with_nul",
    r"^zip entry 'm\.mlpackage/evil\\x00\.txt' has a NUL character in its name$",
)
def _up_nul() -> tuple[str, bytes]:
    data = zip_bytes([*package_entries(), ("m.mlpackage/evilQ.txt", b"x")])
    return "nul.zip", data.replace(b"evilQ.txt", b"evil\x00.txt")


@upload_case(
    "upload_file_and_folder",
    r"^the zip holds 'm\.mlpackage/Data' both as a file and as a folder: not a package$",
)
def _up_file_and_folder() -> tuple[str, bytes]:
    return "clash.zip", zip_bytes([("m.mlpackage/Data", b"a file"), *package_entries()])


@upload_case("upload_same_entry_twice", r"^the zip holds 'm\.mlpackage/Manifest\.json' twice$")
def _up_twice() -> tuple[str, bytes]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns "Duplicate name" while writing it
        return "twice.zip", zip_bytes([*package_entries(), package_entries()[0]])


@upload_case(
    "upload_too_many_files", r"^the zip holds 1,002 entries, more than the limit of 1,000$"
)
def _up_many() -> tuple[str, bytes]:
    junk = [(f"m.mlpackage/junk/{i}", b"") for i in range(1000)]
    return "many.zip", zip_bytes([*package_entries(), *junk], zipfile.ZIP_STORED)


@upload_case("upload_zip_bomb", r"^the zip unpacks to more than 2 GB \(the limit\)$")
def _up_bomb() -> tuple[str, bytes]:
    # Declared sizes are what a bomb announces; nothing is extracted before they are summed.
    return "bomb.zip", patch_zip(zip_bytes(package_entries()), size=0xFFFF0000)


@upload_case(
    "upload_corrupt_entry",
    r"^zip entry 'm\.mlpackage/Manifest\.json' is corrupt \(Bad CRC-32",
)
def _up_corrupt() -> tuple[str, bytes]:
    entries = package_entries()
    data = zip_bytes(entries, zipfile.ZIP_STORED)
    return "corrupt.zip", data.replace(b'"rootModelIdentifier"', b'"rootModelIdentifieR"', 1)


@upload_case("upload_name_with_nul", r"^the upload's name holds a NUL character$")
def _up_own_nul() -> tuple[str, bytes]:
    return "model\x00.mlmodel", small_spec().SerializeToString()


@upload_case(
    "upload_mlmodel_name_too_long",
    r"^the upload's name is 308 bytes long, more than the file system allows \(255\)$",
)
def _up_own_long() -> tuple[str, bytes]:
    return "m" * 300 + ".mlmodel", small_spec().SerializeToString()
