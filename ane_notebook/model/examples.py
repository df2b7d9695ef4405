"""Small example models to try ane_notebook on, built locally with coremltools (no downloads):
the registry, and the cache they are built into.

Each example is a MIL program (or, for ``nn_legacy``, a NeuralNetwork spec) with small random
weights drawn from a fixed seed (the builders are in `example_models.py`), built on first use
and cached under
``<cache root>/examples/<name>-<version>.mlpackage`` (``.mlmodel`` for NeuralNetwork examples).
The cache root is ``platformdirs.user_cache_dir("ane_notebook")``, or ``$ANE_NOTEBOOK_CACHE`` when
set. One thread or process at a time builds a model, in a temporary folder inside the cache
folder, and renames it into place (`cache.cached_build`); an entry left damaged is rebuilt.
Bump an example's ``version`` whenever its builder changes so that stale caches are not reused.

The examples are chosen to show different placements: ``mobilenet`` is fully Neural-Engine
friendly; ``transformer`` mixes ANE-friendly layers with a vocabulary head wider than the ANE's
16384-per-axis limit; ``lstm`` and ``control_flow`` contain ops the ANE does not run; ``fp32``
is typed fp32 throughout (which bars the ANE); ``flexible`` has a range-shaped input;
``nn_legacy`` is an old-style NeuralNetwork model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelLoadError
from . import example_models as em
from .cache import CACHE_ENV, cache_root, cached_build

if TYPE_CHECKING:
    from coremltools.converters.mil.mil import Program
    from coremltools.models import MLModel

    from .proto import Model_pb2

__all__ = [
    "CACHE_ENV",
    "EXAMPLES",
    "Example",
    "build_example_model",
    "build_example_program",
    "cache_root",
    "example_path",
    "list_examples",
]


@dataclass(frozen=True)
class Example:
    """One example model: how to build it and what it is for."""

    name: str
    description: str
    version: int
    # Exactly one of `program` (an ML program example) and `nn_spec` (a NeuralNetwork one).
    program: Callable[[], Program] | None = None
    nn_spec: Callable[[], Model_pb2.Model] | None = None
    # Extra ct.convert keyword arguments (inputs with flexible shapes, compute precision...),
    # produced lazily because they hold coremltools objects.
    convert_options: Callable[[], dict[str, Any]] = field(default=lambda: {})

    @property
    def kind(self) -> str:
        return "mlprogram" if self.program is not None else "neuralnetwork"

    @property
    def suffix(self) -> str:
        return ".mlpackage" if self.program is not None else ".mlmodel"

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.version}{self.suffix}"


EXAMPLES: dict[str, Example] = {
    ex.name: ex
    for ex in (
        Example(
            "mobilenet",
            "MobileNetV1, 1x3x224x224 fp16 in and out: fully Neural-Engine friendly",
            2,
            program=em.mobilenet,
        ),
        Example(
            "transformer",
            "2-layer GPT-style encoder (hidden 256), 128 int32 tokens, "
            "32000-wide vocab head (beyond the ANE's 16384 limit)",
            2,
            program=em.transformer,
        ),
        Example("lstm", "linear -> LSTM -> linear over a 16-step sequence", 1, program=em.lstm),
        Example(
            "fp32",
            "small conv/linear classifier typed fp32 (the ANE runs fp16 only)",
            1,
            program=em.fp32,
            convert_options=em.fp32_options,
        ),
        Example(
            "flexible",
            "fully convolutional model with a 32..512 range-shaped input",
            1,
            program=em.flexible,
            convert_options=em.flexible_options,
        ),
        Example(
            "control_flow",
            "cond and while_loop around small elementwise ops",
            1,
            program=em.control_flow,
        ),
        Example(
            "nn_legacy",
            "old-style NeuralNetwork .mlmodel (conv, pooling, addBroadcastable, innerProduct)",
            2,
            nn_spec=em.nn_legacy,
        ),
    )
}


# --------------------------------------------------------------------------------------------
# API


def list_examples() -> list[tuple[str, str]]:
    """(name, one-line description) of every example, in a stable order."""
    return [(ex.name, ex.description) for ex in EXAMPLES.values()]


def _get(name: str) -> Example:
    try:
        return EXAMPLES[name]
    except KeyError:
        raise ModelLoadError(
            f"example:{name}", f"unknown example; choose one of {', '.join(EXAMPLES)}"
        ) from None


def build_example_program(name: str) -> Program:
    """A fresh MIL Program of example `name` (not converted, not cached)."""
    ex = _get(name)
    if ex.program is None:
        raise ModelLoadError(f"example:{name}", "is a NeuralNetwork model, not a MIL program")
    em.import_builders()
    from .convert import COREMLTOOLS_LOCK

    with COREMLTOOLS_LOCK:  # the MIL builder's state is global: see convert.py
        return ex.program()


def build_example_model(name: str, package_dir: str | os.PathLike[str] | None = None) -> MLModel:
    """Convert example `name` to an MLModel without loading it into Core ML.

    ML program examples are written to `package_dir` when given (else coremltools' own
    temporary package); nothing is cached. Use `example_path` for the cached model.
    """
    ex = _get(name)
    em.import_builders()
    from .convert import COREMLTOOLS_LOCK, convert_quietly

    with COREMLTOOLS_LOCK:  # the MIL builder and converter keep global state: see convert.py
        if ex.program is not None:
            options: dict[str, Any] = {"package_dir": os.fspath(package_dir)} if package_dir else {}
            return convert_quietly(
                ex.program(),
                convert_to="mlprogram",
                minimum_deployment_target=em.TARGET,
                skip_model_load=True,
                **options,
                **ex.convert_options(),
            )
        assert ex.nn_spec is not None
        from coremltools.models import MLModel

        return MLModel(ex.nn_spec(), skip_model_load=True)


def _complete(path: Path) -> bool:
    """Whether a cached example is whole: its spec parses and, for a package, every item its
    Manifest.json lists exists. What a crash or a full disk leaves fails this and is rebuilt."""
    from .package import read_spec  # local: listing the examples needs no protobuf

    try:
        read_spec(path)
    except ModelLoadError:
        return False
    if path.suffix != ".mlpackage":
        return True
    try:
        entries = json.loads((path / "Manifest.json").read_bytes())["itemInfoEntries"]
        return all((path / "Data" / e["path"]).exists() for e in entries.values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def example_path(name: str) -> Path:
    """Path of the cached model file for example `name`, building it first if needed.

    Safe from several threads and processes at once: one of them builds, the others wait and
    use its model (`cache.cached_build`). Raises a one-line `ModelLoadError` when the cache
    cannot be written.
    """
    ex = _get(name)
    label = f"example:{name}"

    def build(path: Path) -> None:
        try:
            if ex.program is not None:
                build_example_model(name, package_dir=path)
            else:
                build_example_model(name).save(os.fspath(path))
        except RuntimeError as e:
            # coremltools' package writer (C++) reports file system errors this way.
            if "filesystem error" in str(e):
                raise ModelLoadError(
                    label, f"cannot write to cache folder {path.parent.parent}: {e}"
                ) from e
            raise ModelLoadError(label, f"coremltools could not build the example: {e}") from e
        except (ValueError, TypeError, KeyError, NotImplementedError, AssertionError) as e:
            raise ModelLoadError(label, f"coremltools could not build the example: {e}") from e

    return cached_build("examples", ex.file_name, label, build, _complete)
