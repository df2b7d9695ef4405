"""coremltools' protobuf modules (``coremltools.proto.*_pb2``) without the rest of coremltools.

Reading a model needs only the generated protobuf classes, but ``import coremltools.proto``
first runs ``coremltools/__init__.py``, which imports its converters, sympy and scipy: 1-3 s
before the first byte of the model is read, most of `ane-notebook profile example:mobilenet`
(GitHub issue 14). `_load` imports the real ``coremltools/proto`` package (located with
``importlib.util.find_spec``, which runs nothing) under its real name while a bare placeholder
module stands in for ``coremltools`` in ``sys.modules`` (the import system needs the parent
there, not run), then removes the placeholder. A later ``import coremltools`` runs the whole
package as usual, and its own ``from . import proto`` picks up these same module objects, so a
spec parsed here is an instance of coremltools' classes. When coremltools is already imported,
or its layout is not the one expected, this is the plain import.

The placeholder is visible to other threads for the ~50 ms the protobuf modules take to load,
once per process: a thread that imports coremltools for the first time in exactly that window
would get it. Single-threaded front ends (the CLI, a notebook cell) cannot hit this.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

__all__ = ["DataStructures_pb2", "FeatureTypes_pb2", "MIL_pb2", "Model_pb2", "NeuralNetwork_pb2"]


def _load() -> None:
    name = "coremltools.proto"
    if name in sys.modules or "coremltools" in sys.modules:
        return  # the plain import below
    parent = importlib.util.find_spec("coremltools")
    folders = list(parent.submodule_search_locations or []) if parent else []
    if not folders or not os.path.isfile(f"{folders[0]}/proto/__init__.py"):
        return  # a layout we do not know: the plain import below
    spec = (
        importlib.util.spec_from_file_location(
            name,
            f"{folders[0]}/proto/__init__.py",
            submodule_search_locations=[f"{folders[0]}/proto"],
        )
        if folders
        else None
    )
    if spec is None or spec.loader is None:
        return  # the plain import below
    placeholder = ModuleType("coremltools")
    placeholder.__path__ = folders
    module = importlib.util.module_from_spec(spec)
    sys.modules["coremltools"] = placeholder
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        raise
    finally:
        if sys.modules.get("coremltools") is placeholder:
            del sys.modules["coremltools"]


_load()
from coremltools.proto import (  # noqa: E402  (loaded above, without coremltools/__init__)
    DataStructures_pb2,
    FeatureTypes_pb2,
    MIL_pb2,
    Model_pb2,
    NeuralNetwork_pb2,
)
