"""The library entry point: `profile()` a model into a `ProfileReport`.

It picks the placement backend (`coreml` live on macOS, `estimate` anywhere, `recorded` from a
plan file), runs it and builds the report. `backend="auto"` says in the report which backend it
chose and why, so an estimate is never mistaken for a measurement.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import UsageError
from .model.graph import Graph
from .model.load import load_model
from .placement.devices import ComputeUnits, get_chip
from .placement.estimate import estimate
from .report import ProfileReport

BACKENDS = ("auto", "estimate", "coreml", "recorded")
ALL_COMPUTE_UNITS = (
    ComputeUnits.CPU_ONLY,
    ComputeUnits.CPU_AND_GPU,
    ComputeUnits.CPU_AND_NE,
    ComputeUnits.ALL,
)


def _parse_units(value: Any) -> ComputeUnits:
    try:
        return ComputeUnits.parse(value)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _parse_chip(value: Any) -> str:
    try:
        return get_chip(value).name
    except ValueError as e:
        raise UsageError(str(e)) from None


def profile(
    model: Any,
    compute_units: Any = "ALL",
    chip: str | None = None,
    backend: str = "auto",
    plan: str | os.PathLike[str] | None = None,
    runs: int = 20,
) -> ProfileReport:
    """Profile `model` and return a ProfileReport.

    model: a path to an .mlpackage/.mlmodel, "example:NAME", a coremltools MLModel, a MIL
        Program, or an already loaded Graph.
    compute_units: "ALL", "CPU_AND_NE", "CPU_AND_GPU", "CPU_ONLY" or a coremltools.ComputeUnit.
    chip: the chip to estimate for (estimate backend; default M1). See `ane-notebook chips`.
    backend: "auto" (coreml on macOS 14.4+, else estimate), "estimate", "coreml", "recorded".
    plan: with backend="recorded", the plan JSON recorded on a Mac (`ane-notebook record`).
    runs: predictions to time per compute-unit setting (coreml backend).
    """
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    cu = _parse_units(compute_units)
    chip_name = _parse_chip(chip)
    if plan is not None and backend in ("auto", "recorded"):
        backend = "recorded"
    elif backend == "recorded":
        raise UsageError(
            "backend 'recorded' needs plan=PATH (a plan recorded with "
            "`ane-notebook record` on a Mac)"
        )
    graph = model if isinstance(model, Graph) else load_model(model)

    if backend == "recorded":
        from .placement.recorded import load_plan  # local: only needed for recorded plans

        assert plan is not None
        return ProfileReport.from_placement(graph, load_plan(graph, plan, cu))

    choice_note = ""
    if backend in ("auto", "coreml"):
        from .placement.coreml import coreml_available

        ok, why = coreml_available()
        if backend == "coreml" and not ok:
            from .errors import CoreMLUnavailableError

            raise CoreMLUnavailableError(f"backend 'coreml' is not available here: {why}")
        if ok:
            return _profile_live(model, graph, cu, runs)
        choice_note = f"auto chose the estimate: {why}"

    placement = estimate(graph, cu, chip_name)
    report = ProfileReport.from_placement(graph, placement)
    if choice_note:
        report = _with_metadata(report, backend_choice=choice_note)
    return report


def _profile_live(model: Any, graph: Graph, cu: ComputeUnits, runs: int) -> ProfileReport:
    """Run Core ML for real (macOS): compile, read the compute plan, time predictions."""
    from .placement.coreml import run_coreml

    if isinstance(model, Graph):
        raise UsageError(
            "the coreml backend needs the model itself (a path or an MLModel), not a loaded Graph"
        )
    if isinstance(model, str) and model.startswith("example:"):
        from .model.examples import example_path

        model = str(example_path(model.split(":", 1)[1]))
    live = run_coreml(model, graph, [cu], runs=runs)
    report = ProfileReport.from_placement(graph, live.placements[cu])
    return _with_metadata(report, backend_choice="coreml: Core ML is available here")


def profile_all_units(
    model: Any,
    chip: str | None = None,
    backend: str = "auto",
    plan: str | os.PathLike[str] | None = None,
    units: tuple[ComputeUnits, ...] = ALL_COMPUTE_UNITS,
) -> dict[ComputeUnits, ProfileReport]:
    """One report per compute-unit setting (the model is loaded once).

    A progress bar (tqdm.auto: a widget in notebooks) appears when the settings take more than a
    second in all, e.g. ~5 s for the four settings of a 50,000-op model; smaller models show
    nothing.
    """
    from tqdm.auto import tqdm  # local: only this comparison needs it

    graph = model if isinstance(model, Graph) else load_model(model)
    out: dict[ComputeUnits, ProfileReport] = {}
    for u in tqdm(units, desc="compute units", unit="setting", delay=1.0, leave=False):
        out[u] = profile(graph, u, chip=chip, backend=backend, plan=plan)
    return out


def _with_metadata(report: ProfileReport, **extra: Any) -> ProfileReport:
    from dataclasses import replace

    return replace(report, metadata={**dict(report.metadata), **extra})


def record(model: Any, compute_units: Any = "ALL", runs: int = 20) -> ProfileReport:
    """Profile `model` live with Core ML (macOS 14.4+) and stamp the report as a plan.

    The result's JSON (`report.to_json(path)`) replays anywhere with `backend="recorded"`. It
    keeps what the placement depends on: chip, ANE core count, macOS version and build,
    coremltools version, compute units, input shapes and when it was recorded.
    """
    from datetime import datetime, timezone

    from .errors import CoreMLUnavailableError
    from .placement.coreml import coreml_available

    ok, why = coreml_available()
    if not ok:
        raise CoreMLUnavailableError(
            f"recording a plan needs Core ML on macOS 14.4+: {why}; "
            "here, `ane-notebook profile` gives an estimate"
        )
    report = profile(model, compute_units, backend="coreml", runs=runs)
    return _with_metadata(
        report,
        recorded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        macos_build=_macos_build(),
        input_shapes={
            t.name: list(t.shape) if t.shape is not None else None for t in report.model.inputs
        },
    )


def _macos_build() -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["sw_vers", "-buildVersion"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()
