"""Multifunction packages for Core ML: which function is the default, and a copy per function.

Core ML plans only the function a model is loaded with, and coremltools' compute plan takes no
function name (docs/evidence.md#live.function_plans), so the live backend plans every other
function from a copy of the package with that function made the default. The user's package is
only read; the copies go to the live run's work folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .graph import Graph
from .interface import default_function
from .package import read_spec, root_spec_file


def default_function_of(path: str) -> str | None:
    """The default function of a multifunction model file (None otherwise, or for an .mlmodelc,
    whose spec is not ours to read): loaded and timed by name, so the report can say which."""
    if not path.rstrip("/").endswith((".mlpackage", ".mlmodel")):
        return None

    description = read_spec(Path(path), label=path).description
    return default_function(description) if len(description.functions) else None


def function_copies(path: str, graph: Graph, workdir: Path) -> dict[str, str]:
    """For a multifunction .mlpackage, a copy per function other than the default with that
    function made the default (`description.defaultFunctionName`; the rest of the package,
    weights included, copied as it is), so that Core ML plans it: coremltools' compute plan takes
    no function name (docs/evidence.md#live.function_plans). The user's package is only read."""
    if len(graph.functions) < 2 or not path.rstrip("/").endswith(".mlpackage"):
        return {}

    source = Path(path)
    spec_file = root_spec_file(source, path)
    spec = read_spec(source, label=path)
    default = spec.description.defaultFunctionName or graph.functions[0]
    copies: dict[str, str] = {}
    for index, function in enumerate(graph.functions):
        if function == default:
            continue
        copy = workdir / f"function{index}.mlpackage"
        shutil.copytree(source, copy)
        spec.description.defaultFunctionName = function
        (copy / spec_file.relative_to(source.resolve())).write_bytes(spec.SerializeToString())
        copies[function] = str(copy)
    return copies
