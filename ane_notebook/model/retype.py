"""Shapes of a flexible-shape ML program at its default input shapes.

An ML program with `RangeDim` or enumerated inputs declares its tensors with unknown dimensions
(the MIL protobuf keeps no symbol names, so nothing of ours can tell which unknown is which).
Core ML loads such a model at the default shape of each input: the shape in the model
description, which coremltools sets from ``RangeDim(default=...)`` or, when no default is
given, from its lower bound (coremltools ``RangeDim`` docstring; the first enumerated shape or
the given default for ``EnumeratedShapes``). `default_shapes` asks coremltools' own type
inference for every tensor at those shapes: it rebuilds the MIL program from the spec
(`milproto.load`) and runs its `common::materialize_symbolic_shape_program` pass, the one
coremltools uses to turn a symbolic-shape model into fixed-shape functions.

That rebuild reads the weights (coremltools decodes every constant), so it is only done for
programs whose weight files hold at most `MAX_RETYPE_WEIGHT_BYTES`; larger ones, and any
program coremltools cannot rebuild, keep their unknown dimensions, and the ops reading them say
so in their reasons (the estimate counts them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .graph import Shape
from .limits import MAX_RETYPE_WEIGHT_BYTES
from .proto import Model_pb2

__all__ = ["default_shapes", "weights_size"]


def weights_size(weights_dir: Path | None) -> int:
    """Bytes of the files in an .mlpackage's weights folder (0 when there is none)."""
    if weights_dir is None or not weights_dir.is_dir():
        return 0
    return sum(p.stat().st_size for p in weights_dir.iterdir() if p.is_file())


def default_shapes(
    spec: Model_pb2.Model,
    function: str,
    inputs: Mapping[str, tuple[int, ...]],
    weights_dir: Path | None,
) -> dict[str, Shape]:
    """Tensor name -> shape of every value of `function` with `inputs` at the given shapes,
    by coremltools' type inference; {} when the program is too large to rebuild or
    coremltools cannot rebuild it (the shapes then stay unknown)."""
    if not inputs or weights_size(weights_dir) > MAX_RETYPE_WEIGHT_BYTES:
        return {}
    try:
        from coremltools.converters.mil.frontend.milproto.load import load as milproto_load
        from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY

        prog = milproto_load(
            spec, spec.specificationVersion, os.fspath(weights_dir) if weights_dir else ""
        )
        materialize = PASS_REGISTRY["common::materialize_symbolic_shape_program"]
        materialize.source_function_name = function
        materialize.function_name_to_materialization_map = {function: dict(inputs)}
        materialize(prog)
        fixed = prog.functions[function]
    except Exception:  # noqa: BLE001 - any failure of coremltools here leaves shapes unknown
        return {}
    out: dict[str, Shape] = {}
    for var in _values(fixed):
        shape = getattr(var, "shape", None)
        if shape is not None and all(isinstance(d, int) and d >= 0 for d in shape):
            out[var.name] = tuple(int(d) for d in shape)
    return out


def _values(function: Any) -> Iterator[Any]:
    """Every input and op output of `function`, nested blocks included."""
    yield from function.inputs.values()
    blocks = [function]
    while blocks:
        block = blocks.pop()
        for op in block.operations:
            yield from op.outputs
            blocks.extend(op.blocks)
