"""Live placement from Core ML itself: the only module that touches Core ML at run time.

It checks whether Core ML can run here (`coreml_available`: macOS 14.4+, coremltools' native
library with `MLComputePlan`), and runs it (`run_coreml`): compile the model, then per
compute-unit setting load it, predict with generated inputs (`make_inputs`) and read its compute
plan. Every Core ML call happens in a child process
(`isolation.run_isolated`; `_child_compile` and `_child_profile` are the child bodies), so that a
Core ML crash or hang becomes a `CoreMLRunError` instead of killing the notebook kernel.

The rest lives in modules that run anywhere: the child sends its plan back in coremltools'
remote-device format, which `plan_mapping` maps onto the `Graph` (the same mapping a recorded
plan goes through), with our estimate beside it: Core ML gives no reasons, and its E5 analytics
are out of coremltools' reach (`e5_analytics` parses a dump a user supplies).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CoreMLUnavailableError, ModelLoadError, UsageError
from ..model.graph import Graph
from .devices import CHIPS, ComputeUnits, get_chip
from .e5_analytics import AnalyticsEntry, parse_e5_analytics
from .estimate import estimate
from .isolation import emit, run_isolated
from .plan_mapping import (
    compute_plan_entries,
    placement_from_entries,
    remote_plan_entries,
    remote_plan_from_entries,
    with_estimates,
)
from .result import CoreMLTimings, Placement, PlacementSource

__all__ = [
    "CoreMLTimings",
    "LiveResult",
    "coreml_available",
    "macos_version",
    "make_inputs",
    "run_coreml",
]

# MLComputePlan and MLModelStructure appeared in macOS 14.4 (coremltools' compute_plan tests skip
# below it; Apple's docs list macOS 14.4+ for MLComputePlan).
MIN_MACOS = (14, 4)


# --------------------------------------------------------------------------------------------
# Availability
# --------------------------------------------------------------------------------------------


def _parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def macos_version() -> str:
    """ "14.5" and the like ("" off macOS). Pythons built against an old SDK see macOS 11+ as
    "10.16" (Apple's compatibility answer); sw_vers, as coremltools uses, tells the truth then."""
    mac = platform.mac_ver()[0]
    if sys.platform == "darwin" and _parse_version(mac)[:2] == (10, 16):
        done = subprocess.run(
            ["sw_vers", "-productVersion"], capture_output=True, text=True, check=False
        )
        mac = done.stdout.strip() or mac
    return mac


def coreml_available() -> tuple[bool, str]:
    """Whether the live Core ML backend can run here, and a one-line reason.

    True only on macOS >= 14.4 with coremltools' native library importable and its compute-plan
    proxy loaded. Nothing here loads a model: it is cheap and safe to call for backend="auto".
    """
    if sys.platform != "darwin":
        return False, f"Core ML needs macOS; this is {platform.system() or sys.platform}"
    mac = macos_version()
    version = _parse_version(mac)
    if version < MIN_MACOS:
        need = ".".join(map(str, MIN_MACOS))
        return False, (
            f"macOS {mac or 'unknown'} is older than {need}, which Core ML's compute "
            "plan (MLComputePlan) needs"
        )
    try:
        # The native extension is what every Core ML call goes through; coremltools itself only
        # logs a warning when it is missing (e.g. installed from an sdist), so check it directly.
        importlib.import_module("coremltools.libcoremlpython")
    except ImportError as exc:
        return False, (
            f"coremltools' native library is missing ({exc}); install coremltools "
            "from a macOS wheel"
        )
    compute_plan = importlib.import_module("coremltools.models.compute_plan")
    if getattr(compute_plan, "_MLComputePlanProxy", None) is None:
        return False, (
            "coremltools' native library has no compute-plan support (MLComputePlan); "
            "upgrade coremltools to 8.0 or newer"
        )
    ct = importlib.import_module("coremltools")
    return True, f"Core ML available (macOS {mac}, coremltools {ct.__version__})"


# --------------------------------------------------------------------------------------------
# Live run (macOS)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveResult:
    """What `run_coreml` measured: one placement and timing set per compute-unit setting."""

    model: str
    placements: Mapping[ComputeUnits, Placement]
    timings: Mapping[ComputeUnits, CoreMLTimings]
    metadata: Mapping[str, Any] = field(default_factory=dict)


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


def make_inputs(description: Any, seed: int = 0) -> dict[str, Any]:
    """Random inputs for every (non-optional) input of a Core ML model description (proto).

    Multi-arrays of every dtype (fp16 stays fp16: coremltools converts it), flexible shapes at
    their default, images as PIL images of the right mode and size, and scalars/strings.
    A multifunction model uses its default function's inputs.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    inputs = list(description.input)
    if len(description.functions):
        from ..model.interface import default_function  # lazy: it imports coremltools

        default = default_function(description)
        for function in description.functions:
            if function.name == default:
                inputs = list(function.input)
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


def _inputs_from_graph(graph_inputs: Sequence[tuple[str, tuple[int, ...], str]]) -> dict[str, Any]:
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


def _chip_name() -> str:
    """ "Apple M1 Pro" and the like (macOS only; no Core ML involved)."""
    done = subprocess.run(
        ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def _child_compile(model_path: str, destination: str) -> dict[str, Any]:
    """Child: compile an .mlpackage/.mlmodel into `destination` (an .mlmodelc path)."""
    from coremltools.models.utils import compile_model

    start = time.perf_counter()
    compiled = compile_model(model_path, destination)
    return {"compiled_path": compiled, "compile_ms": (time.perf_counter() - start) * 1000}


def _child_profile(
    compiled_path: str,
    model_path: str,
    units: str,
    runs: int,
    op_names: list[str],
    graph_inputs: list[tuple[str, tuple[int, ...], str]],
) -> dict[str, Any]:
    """Child: load twice, predict runs + 1 times, read the compute plan.

    Returns plain data: timings and the plan in coremltools' remote-device format.
    """
    import coremltools as ct
    import numpy as np
    from coremltools.models.compute_plan import MLComputePlan

    compute_unit = ct.ComputeUnit[units]
    # Loads first, so the first one really is cold for this compute-unit setting (the compute
    # plan load specialises the model too).
    start = time.perf_counter()
    model = ct.models.CompiledMLModel(compiled_path, compute_units=compute_unit)
    load_first = (time.perf_counter() - start) * 1000
    del model
    start = time.perf_counter()
    model = ct.models.CompiledMLModel(compiled_path, compute_units=compute_unit)
    load_cached = (time.perf_counter() - start) * 1000

    if model_path.rstrip("/").endswith((".mlpackage", ".mlmodel")):
        spec = ct.utils.load_spec(model_path)
        inputs = make_inputs(spec.description)
        stateful = len(spec.description.state) > 0
    else:
        inputs = _inputs_from_graph(graph_inputs)
        stateful = False
    state = model.make_state() if stateful else None
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        # a fresh dict each run: coremltools swaps fp16 arrays for fp32 copies inside the dict
        model.predict(dict(inputs), state)
        times.append((time.perf_counter() - start) * 1000)
        emit(("predict", units, i + 1, runs + 1))
    steady = times[1:] or times

    start = time.perf_counter()
    plan = MLComputePlan.load_from_path(compiled_path, compute_units=compute_unit)
    plan_ms = (time.perf_counter() - start) * 1000
    remote = remote_plan_from_entries(compute_plan_entries(plan))
    return {
        "timings": {
            "compute_units": units,
            "compile_ms": None,
            "plan_ms": plan_ms,
            "load_first_ms": load_first,
            "load_cached_ms": load_cached,
            "predict_first_ms": times[0],
            "predict_median_ms": statistics.median(steady),
            "predict_p90_ms": float(np.percentile(steady, 90)),
            "runs": len(steady),
        },
        "plan": remote,
    }


def _model_source(model: Any, workdir: Path) -> tuple[str, str]:
    """A path the child can open, and a display name. MLModel objects are saved first (file
    I/O only: no Core ML call happens in this process)."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise ModelLoadError(path, "no such model file")
        return path, path
    package = getattr(model, "package_path", None)
    if package and os.path.isdir(package):
        return package, package
    get_spec = getattr(model, "get_spec", None)
    if get_spec is None:
        raise UsageError(f"{type(model).__name__}: expected a model path or a coremltools MLModel")
    is_program = get_spec().WhichOneof("Type") == "mlProgram"
    path = workdir / ("model.mlpackage" if is_program else "model.mlmodel")
    model.save(str(path))
    return str(path), f"<MLModel {get_spec().description.metadata.shortDescription or 'in memory'}>"


def run_coreml(
    model: Any,
    graph: Graph,
    compute_units: Sequence[ComputeUnits | str] | ComputeUnits | str = (ComputeUnits.ALL,),
    *,
    runs: int = 20,
    timeout_s: float = 600.0,
    progress: bool = True,
    analytics: str | os.PathLike[str] | Mapping[str, AnalyticsEntry] | None = None,
) -> LiveResult:
    """Compile `model`, read Core ML's compute plan and time it, per compute-unit setting.

    `model` is an .mlpackage/.mlmodel/.mlmodelc path or a coremltools MLModel; `graph` the Graph
    the placements are mapped onto. Every Core ML call runs in a child process (one to compile,
    one per setting), each limited to `timeout_s`; a crash or hang raises `CoreMLRunError`.
    `analytics` is an E5 analytics dump a user made (a path, its text, or `parse_e5_analytics`
    output): Core ML's reasons, which coremltools cannot ask for. Without it, each op carries
    our estimate beside Core ML's placement (`plan_mapping.with_estimates`).
    """
    ok, why = coreml_available()
    if not ok:
        raise CoreMLUnavailableError(why)
    if runs < 1:
        raise ValueError("runs must be at least 1")
    settings = [compute_units] if isinstance(compute_units, (str, ComputeUnits)) else compute_units
    units = [ComputeUnits.parse(u) for u in settings]
    given = _load_analytics(analytics)

    from tqdm.auto import tqdm

    with tempfile.TemporaryDirectory(prefix="ane_notebook-") as tmp:
        workdir = Path(tmp)
        path, name = _model_source(model, workdir)
        if path.rstrip("/").endswith(".mlmodelc"):
            compiled = {"compiled_path": path, "compile_ms": None}
        else:
            compiled = run_isolated(
                _child_compile,
                (path, str(workdir / "model.mlmodelc")),
                timeout_s,
                what="compiling the model",
                model=name,
            )
        chip_text = _chip_name()
        try:
            chip = get_chip(chip_text).name if chip_text else ""
        except ValueError:
            chip = chip_text  # a chip the profile table does not know: keep the system's words
        macos = macos_version()
        ct_version = importlib.metadata.version("coremltools")
        op_names = [op.name for op in graph.ops]
        graph_inputs = [
            (t.name, tuple(d or 1 for d in (t.shape or ())), t.dtype) for t in graph.inputs
        ]
        placements: dict[ComputeUnits, Placement] = {}
        timings: dict[ComputeUnits, CoreMLTimings] = {}
        for unit in units:
            with tqdm(
                total=runs + 1, desc=f"{unit} predict", disable=not progress, leave=False
            ) as bar:

                def advance(event: Any, bar: Any = bar) -> None:
                    if isinstance(event, tuple) and event and event[0] == "predict":
                        bar.update(1)

                raw = run_isolated(
                    _child_profile,
                    (compiled["compiled_path"], path, unit.value, runs, op_names, graph_inputs),
                    timeout_s,
                    what=f"profiling with {unit}",
                    model=name,
                    on_event=advance,
                )
            timing = CoreMLTimings(**{**raw["timings"], "compile_ms": compiled["compile_ms"]})
            extra = {
                "chip_name": chip_text,
                "macos": macos,
                "coremltools": ct_version,
                "model": name,
            }
            measured = placement_from_entries(
                graph,
                remote_plan_entries(raw["plan"], name),
                unit,
                source=PlacementSource.COREML,
                timings=timing,
                analytics=given,
                chip=chip,
                metadata=extra,
            )
            # the chip's profile when we know it, else the default one (the estimate says which)
            known = chip if chip in CHIPS else None
            placements[unit] = with_estimates(measured, estimate(graph, unit, known))
            timings[unit] = timing
    return LiveResult(
        model=name,
        placements=placements,
        timings=timings,
        metadata={"chip": chip, "chip_name": chip_text, "macos": macos, "coremltools": ct_version},
    )


def _load_analytics(
    value: str | os.PathLike[str] | Mapping[str, AnalyticsEntry] | None,
) -> dict[str, AnalyticsEntry] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    text = os.fspath(value)
    if "\n" not in text and os.path.exists(text):
        text = Path(text).read_text(encoding="utf-8", errors="replace")
    return parse_e5_analytics(text)
