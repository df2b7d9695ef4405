"""Read a Core ML model (file, package, MLModel, MIL Program or example) into a `Graph`.

`load_model()` is the one entry point. It reads only the model *specification* (the protobuf that
describes ops, types and shapes) and never opens weight files: an ``.mlpackage``'s
``weights/weight.bin`` is left untouched, and weight tensors contribute only their declared shapes.
The one exception: an ML program with flexible inputs whose tensors the spec leaves with unknown
dimensions is re-typed at its inputs' default shapes by coremltools (`retype.py`), which reads
the weights, and only when they hold at most `limits.MAX_RETYPE_WEIGHT_BYTES`.
Nothing is ever written into the user's files or folders.

The work is split by concern, one module per job:

* `package` reads files (``Manifest.json``, the spec bytes, protobuf parsing, file errors);
* `interface` reads the model description (inputs, outputs, flexible shapes, metadata, the
  default function);
* `mil_types` decodes MIL types and small constant values;
* `mlprogram`, `neuralnetwork` and `pipeline` turn each kind of model into ops (their docstrings
  say how: op names, blocks, stage labels), appending to one `builder.GraphBuilder`;
* `limits` holds every limit the loader enforces, with why.

``Graph.format`` is ``"mlprogram"``, ``"neuralnetwork"`` or ``"pipeline"``. Any other top-level
model type raises `ModelLoadError`: placement is only estimated for ML programs, neural networks
and pipelines containing them.

Model inputs (``Graph.inputs``) describe the model's interface (for a multifunction model, its
default function's); ``Graph.function_inputs`` holds what the ops actually read (the MIL-declared
tensor type for ML programs, which is fp32 for 8-bit images), and the inputs of nested blocks
(loop variables): like function inputs, no op produces them.

Specs no real model can have are refused with a `ModelLoadError` naming the problem: a cycle in
the data flow (or ops out of order), a tensor name produced twice with a reader in between,
blocks nested deeper than `MAX_NESTING`, a declared shape with more than 64 dimensions, a
dimension of 2**63 or more (a negative size stored unsigned), or more than `MAX_TENSOR_ELEMENTS`
elements. Counts past the limits of `limits` are refused the same way (more than `MAX_OPS` ops,
more functions, pipeline stages, blocks per op, features or enumerated shapes than real models
have, a ``Manifest.json`` over 1 MB or nested over 16 levels), each error naming the limit.
Zero and unknown dimensions, unknown op types and unknown dtypes are kept: the rules then say
what they could not tell.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .._gc import gc_paused, survivors_promoted
from .._memory import release_freed_memory
from ..errors import ModelLoadError
from . import examples
from .builder import GraphBuilder
from .graph import FlexibleInput, Graph, Op, TensorInfo
from .interface import check_description, metadata, model_interface
from .limits import MAX_CONST_ELEMENTS, MAX_NESTING, MAX_OPS, MAX_TENSOR_ELEMENTS
from .mlprogram import add_ml_program
from .package import package_weights_dir, read_spec, stem
from .proto import Model_pb2
from .retype import default_shapes

if TYPE_CHECKING:
    from coremltools.converters.mil.mil import Program
    from coremltools.models import MLModel

__all__ = [
    "MAX_CONST_ELEMENTS",
    "MAX_NESTING",
    "MAX_OPS",
    "MAX_TENSOR_ELEMENTS",
    "graph_from_spec",
    "load_model",
    "program_to_package",
    "read_spec",
]

EXAMPLE_PREFIX = "example:"


def load_model(obj: object, *, name: str | None = None) -> Graph:
    """Load `obj` into a `Graph`, reading the model specification only (never the weights).

    `obj` may be a path (``str`` or ``os.PathLike``) to an ``.mlpackage`` folder or an
    ``.mlmodel`` file, a ``coremltools.models.MLModel``, a MIL ``Program`` (converted in memory
    to an ML program, in a temporary folder; the caller's program is not modified), or the string
    ``"example:NAME"`` (see `ane_notebook.model.examples`). `name` overrides the graph's name
    (default: the file stem, the example name, or ``"model"``/``"program"`` for objects).

    Raises `ModelLoadError` with a one-line message naming the input and the problem.

        >>> from ane_notebook.model.load import load_model
        >>> g = load_model("example:lstm")
        >>> g.format, len(g.ops) > 0
        ('mlprogram', True)
    """
    if isinstance(obj, str) and obj.startswith(EXAMPLE_PREFIX):
        example = obj[len(EXAMPLE_PREFIX) :]
        path = examples.example_path(example)
        spec = read_spec(path, label=obj)
        graph = graph_from_spec(
            spec, name=name or example, source=obj, weights_dir=package_weights_dir(path)
        )
        del spec  # read here, dropped here: its C heap goes back (_memory.py)
        release_freed_memory()
        return graph
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        source = os.fspath(obj)
        spec = read_spec(path, label=source)
        graph = graph_from_spec(
            spec, name=name or stem(path), source=source, weights_dir=package_weights_dir(path)
        )
        del spec
        release_freed_memory()
        return graph
    # An MLModel or a MIL Program can only exist once coremltools has been imported (by whoever
    # made it): reading a file must not import it (1-3 s; see proto.py).
    if "coremltools" in sys.modules:
        from coremltools.converters.mil.mil import Program
        from coremltools.models import MLModel

        if isinstance(obj, MLModel):
            return _load_mlmodel(obj, name)
        if isinstance(obj, Program):
            return _load_program(obj, name)
    raise ModelLoadError(
        f"<{type(obj).__name__}>",
        "cannot load this object: expected a path to an .mlpackage or .mlmodel, a coremltools "
        "MLModel, a MIL Program or 'example:NAME'",
    )


@gc_paused()  # millions of small objects for big models: see _gc.py
# The graph's objects go straight to the oldest generation: else the first young collection
# after the pause walks all of them to free nothing (issue 14: 0.08-0.11 s after a 50k-op
# load), and the next older one walks them again.
@survivors_promoted()
def graph_from_spec(
    spec: Model_pb2.Model,
    *,
    name: str = "model",
    source: str = "",
    weights_dir: Path | None = None,
) -> Graph:
    """Build a `Graph` from a parsed ``Model_pb2.Model`` (see the module docstring);
    `weights_dir`: the package's weights folder, for re-typing a flexible-shape ML program at
    its default shapes (`retype.py`)."""
    label = source or name
    model_type = spec.WhichOneof("Type")
    if model_type is None:
        raise ModelLoadError(label, "not a Core ML model: the specification holds no model")
    check_description(spec.description, label)
    builder = GraphBuilder(label)
    if model_type == "mlProgram":
        fmt = "mlprogram"
        add_ml_program(builder, spec, prefix="")
    else:
        fmt = _add_other(builder, spec, model_type, label)
    builder.check_order()
    inputs, outputs, flexible = model_interface(spec.description)
    builder.check_shapes((*inputs, *outputs))
    ops, function_inputs = tuple(builder.ops), dict(builder.function_inputs)
    if fmt == "mlprogram" and flexible:
        ops, function_inputs = _at_default_shapes(
            spec, builder.functions[0], flexible, ops, function_inputs, weights_dir
        )
    return Graph(
        name=name,
        format=fmt,
        ops=ops,
        inputs=inputs,
        outputs=outputs,
        functions=tuple(builder.functions),
        flexible_inputs=flexible,
        source=source,
        metadata=metadata(spec.description.metadata),
        spec_version=int(spec.specificationVersion),
        function_inputs=function_inputs,
        stage_names=dict(builder.stage_names),
    )


def _add_other(builder: GraphBuilder, spec: Model_pb2.Model, model_type: str, label: str) -> str:
    """Add a neural network or a pipeline to `builder`; its `Graph.format`."""
    # Imported here: the layer shape table and the pipeline reader are ~2 ms of a cold
    # `ane-notebook profile` of an ML program, which needs neither (issue 14).
    from .neuralnetwork import NN_TYPES, add_neural_network
    from .pipeline import PIPELINE_TYPES, add_pipeline

    if model_type in NN_TYPES:
        add_neural_network(builder, spec, function="main")
        return "neuralnetwork"
    if model_type in PIPELINE_TYPES:
        add_pipeline(builder, spec, prefix="", depth=0)
        return "pipeline"
    raise ModelLoadError(
        label,
        f"unsupported model type '{model_type}': placement is only estimated for ML "
        "programs, neural networks and pipelines of them",
    )


def _at_default_shapes(
    spec: Model_pb2.Model,
    function: str,
    flexible: tuple[FlexibleInput, ...],
    ops: tuple[Op, ...],
    function_inputs: dict[tuple[str, str], TensorInfo],
    weights_dir: Path | None,
) -> tuple[tuple[Op, ...], dict[tuple[str, str], TensorInfo]]:
    """The default function's tensors of unknown dimensions, given the shapes coremltools
    infers at the flexible inputs' default shapes (`retype.default_shapes`); what it cannot
    tell stays unknown. Shapes known from the spec are never changed."""

    def unknown(t: TensorInfo) -> bool:
        return t.shape is None or any(d is None for d in t.shape)

    if not any(unknown(t) for op in ops if op.function == function for t in op.outputs):
        return ops, function_inputs
    defaults = {f.name: f.default_shape for f in flexible if f.default_shape is not None}
    shapes = default_shapes(spec, function, defaults, weights_dir)
    if not shapes:
        return ops, function_inputs

    def fill(t: TensorInfo) -> TensorInfo:
        got = shapes.get(t.name)
        if not unknown(t) or got is None or (t.shape is not None and len(t.shape) != len(got)):
            return t
        return dataclasses.replace(t, shape=got)

    new_ops = tuple(
        dataclasses.replace(op, outputs=tuple(fill(t) for t in op.outputs))
        if op.function == function
        else op
        for op in ops
    )
    new_inputs = {key: fill(t) if key[0] == function else t for key, t in function_inputs.items()}
    return new_ops, new_inputs


# --------------------------------------------------------------------------------------------
# In-memory objects


def _load_mlmodel(model: MLModel, name: str | None) -> Graph:
    package = getattr(model, "package_path", None)
    # Models fresh from ct.convert live in a temporary package: its name means nothing to users.
    if package and not getattr(model, "is_temp_package", False):
        source = os.fspath(package)
        default_name = stem(Path(package))
    else:
        source = "<MLModel>"
        default_name = "model"
    spec = model.get_spec()
    weights = getattr(model, "weights_dir", None)
    weights_dir = Path(weights) if isinstance(weights, str) and weights else None
    return graph_from_spec(spec, name=name or default_name, source=source, weights_dir=weights_dir)


# How a MIL Program object is named in errors and reports (it has no path).
_PROGRAM_LABEL = "<MIL Program>"


def program_to_package(prog: Program, package_dir: str | os.PathLike[str]) -> MLModel:
    """Convert a MIL Program into an ML program package at `package_dir` (the caller's program
    is left as it was). Raises `ModelLoadError` when coremltools cannot convert it."""
    import coremltools as ct

    from .convert import convert_quietly

    label = _PROGRAM_LABEL
    # ct.convert runs graph passes on the program in place: work on a copy so the caller's
    # program is left as it was.
    prog = copy.deepcopy(prog)
    targets = [f.opset_version for f in prog.functions.values() if f.opset_version is not None]
    # ML programs need iOS15 at least; programs built without opset_version default to iOS13.
    target = max([*targets, ct.target.iOS15])
    try:
        model: MLModel = convert_quietly(
            prog,
            convert_to="mlprogram",
            minimum_deployment_target=target,
            skip_model_load=True,
            package_dir=os.fspath(package_dir),
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
    return model


def _load_program(prog: Program, name: str | None) -> Graph:
    with tempfile.TemporaryDirectory(prefix="ane_notebook-") as tmp:
        package = os.path.join(tmp, "program.mlpackage")
        spec = program_to_package(prog, package).get_spec()
        weights = package_weights_dir(package)
        return graph_from_spec(
            spec, name=name or "program", source=_PROGRAM_LABEL, weights_dir=weights
        )
