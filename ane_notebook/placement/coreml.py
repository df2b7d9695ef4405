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
from ..model.function_copies import default_function_of, function_copies
from ..model.graph import Graph
from .coreml_availability import coreml_available, macos_version
from .coreml_inputs import function_description, inputs_from_graph, make_inputs
from .devices import CHIPS, ComputeUnits, get_chip
from .e5_analytics import AnalyticsEntry, parse_e5_analytics
from .estimate import estimate
from .isolation import DEFAULT_TIMEOUT_S, emit, run_isolated
from .plan_mapping import (
    FunctionPlan,
    compute_plan_entries,
    placement_from_entries,
    placement_from_function_plans,
    remote_plan_entries,
    remote_plan_from_entries,
    with_estimates,
)
from .result import (
    CoreMLTimings,
    Placement,
    PlacementSource,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "CoreMLTimings",
    "LiveResult",
    "function_description",
    "coreml_available",
    "macos_version",
    "make_inputs",
    "run_coreml",
]

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
    function: str | None = None,
) -> dict[str, Any]:
    """Child: load twice, predict runs + 1 times, read the compute plan.

    `function` is the function of a multifunction model to load and time (its own inputs and
    states: coremltools writes them per function). Returns plain data: timings and the plan in
    coremltools' remote-device format.
    """
    import coremltools as ct
    import numpy as np
    from coremltools.models.compute_plan import MLComputePlan

    compute_unit = ct.ComputeUnit[units]
    # Loads first, so the first one really is cold for this compute-unit setting (the compute
    # plan load specialises the model too).
    start = time.perf_counter()
    model = ct.models.CompiledMLModel(compiled_path, compute_unit, function)
    load_first = (time.perf_counter() - start) * 1000
    del model
    start = time.perf_counter()
    model = ct.models.CompiledMLModel(compiled_path, compute_unit, function)
    load_cached = (time.perf_counter() - start) * 1000

    if model_path.rstrip("/").endswith((".mlpackage", ".mlmodel")):
        spec = ct.utils.load_spec(model_path)
        inputs = make_inputs(spec.description, function=function)
        stateful = len(function_description(spec.description, function).state) > 0
    else:
        inputs = inputs_from_graph(graph_inputs)
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
    """A path the child can open, and a display name. MLModel objects are saved first, MIL
    Programs converted into a package in `workdir` first (file I/O and conversion only: no Core
    ML call happens in this process)."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise ModelLoadError(path, "no such model file")
        return path, path
    # a MIL Program can only exist once coremltools is imported (the loader's rule too)
    program_type = (
        importlib.import_module("coremltools.converters.mil.mil").Program
        if "coremltools" in sys.modules
        else None
    )
    if program_type is not None and isinstance(model, program_type):
        from ..model.load import program_to_package  # lazy: the loader imports coremltools

        converted = workdir / "program.mlpackage"
        program_to_package(model, converted)
        return str(converted), "<MIL Program>"
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
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: bool = True,
    analytics: str | os.PathLike[str] | Mapping[str, AnalyticsEntry] | None = None,
) -> LiveResult:
    """Compile `model`, read Core ML's compute plan and time it, per compute-unit setting.

    `model` is an .mlpackage/.mlmodel/.mlmodelc path, a coremltools MLModel or a MIL Program;
    `graph` the Graph the placements are mapped onto. Every Core ML call runs in a child process
    (one to compile, once for all settings; one per setting), each limited to `timeout_s`; a
    crash or hang raises `CoreMLRunError`. `analytics` is an E5 analytics dump a user made (a
    path, its text, or `parse_e5_analytics` output): Core ML's reasons, which coremltools cannot
    ask for. Without it, each op carries our estimate beside Core ML's placement
    (`plan_mapping.with_estimates`).
    """
    ok, why = coreml_available()
    if not ok:
        raise CoreMLUnavailableError(why)
    if runs < 1:
        raise ValueError("runs must be at least 1")
    if not timeout_s > 0:
        raise ValueError("timeout_s must be a positive number of seconds")
    settings = [compute_units] if isinstance(compute_units, (str, ComputeUnits)) else compute_units
    units = [ComputeUnits.parse(u) for u in settings]
    given = _load_analytics(analytics)

    with tempfile.TemporaryDirectory(prefix="ane_notebook-") as tmp:
        workdir = Path(tmp)
        path, name = _model_source(model, workdir)
        compiled: dict[str, Any]
        if path.rstrip("/").endswith(".mlmodelc"):
            compiled = {"compiled_path": path, "compile_ms": None}
        else:
            compiled = _compile(path, workdir, name, timeout_s, progress)
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
        # the other functions of a multifunction package: each a copy with it as the default,
        # compiled, since Core ML plans the function a model is loaded with
        others = {
            function: (copy, _compile(copy, workdir, f"{name} ({function})", timeout_s, progress))
            for function, copy in function_copies(path, graph, workdir).items()
        }
        placements: dict[ComputeUnits, Placement] = {}
        timings: dict[ComputeUnits, CoreMLTimings] = {}
        for unit in units:
            raw = _profile_one(
                compiled["compiled_path"],
                path,
                unit,
                (runs, op_names, graph_inputs),
                name,
                timeout_s,
                progress,
            )
            timing = CoreMLTimings(**{**raw["timings"], "compile_ms": compiled["compile_ms"]})
            plans = {
                function: _function_plan(
                    copy, done, unit, (runs, op_names, graph_inputs), name, timeout_s, progress
                )
                for function, (copy, done) in others.items()
            }
            extra = {
                "chip_name": chip_text,
                "macos": macos,
                "coremltools": ct_version,
                "model": name,
                "timeout_s": timeout_s,
            }
            if raw.get("function"):
                extra["timed_function"] = raw["function"]
            entries = remote_plan_entries(raw["plan"], name)
            if raw.get("function"):
                extra["planned_functions"] = [raw["function"], *plans]
                plans[raw["function"]] = FunctionPlan(entries, timing)
                measured = placement_from_function_plans(
                    graph,
                    plans,
                    unit,
                    source=PlacementSource.COREML,
                    timings=timing,
                    analytics=given,
                    chip=chip,
                    metadata=extra,
                )
            else:
                measured = placement_from_entries(
                    graph,
                    entries,
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


def _compile(
    path: str, workdir: Path, name: str, timeout_s: float, progress: bool
) -> dict[str, Any]:
    """Compile in a child, with a progress line of the seconds so far (no events come)."""
    from tqdm.auto import tqdm

    with tqdm(
        desc=f"compiling (a first compile can take minutes; limit {timeout_s:g} s)",
        unit="s",
        disable=not progress,
        leave=False,
        bar_format="{desc}: {n:.0f} s",
    ) as bar:

        def tick(elapsed: float) -> None:
            bar.n = elapsed
            bar.refresh()

        result: dict[str, Any] = run_isolated(
            _child_compile,
            (path, str(workdir / (Path(path).stem + ".mlmodelc"))),
            timeout_s,
            what="compiling the model",
            model=name,
            on_wait=tick,
        )
    return result


def _profile_one(
    compiled_path: str,
    path: str,
    unit: ComputeUnits,
    job: tuple[int, list[str], list[tuple[str, tuple[int, ...], str]]],
    name: str,
    timeout_s: float,
    progress: bool,
) -> dict[str, Any]:
    """One compute-unit setting in a child: loads, predictions (a progress bar), the plan."""
    from tqdm.auto import tqdm

    runs, op_names, graph_inputs = job
    function = default_function_of(path)
    with tqdm(total=runs + 1, desc=f"{unit} predict", disable=not progress, leave=False) as bar:

        def advance(event: Any) -> None:
            if isinstance(event, tuple) and event and event[0] == "predict":
                bar.update(1)

        raw: dict[str, Any] = run_isolated(
            _child_profile,
            (compiled_path, path, unit.value, runs, op_names, graph_inputs, function),
            timeout_s,
            what=f"profiling with {unit}",
            model=name,
            on_event=advance,
        )
    raw["function"] = function
    return raw


def _function_plan(
    copy: str,
    compiled: dict[str, Any],
    unit: ComputeUnits,
    job: tuple[int, list[str], list[tuple[str, tuple[int, ...], str]]],
    name: str,
    timeout_s: float,
    progress: bool,
) -> FunctionPlan:
    """One function's plan and timings, from its copy compiled with it as the default."""
    raw = _profile_one(compiled["compiled_path"], copy, unit, job, name, timeout_s, progress)
    timing = CoreMLTimings(**{**raw["timings"], "compile_ms": compiled["compile_ms"]})
    return FunctionPlan(remote_plan_entries(raw["plan"], name), timing)


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
