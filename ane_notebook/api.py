"""The library entry points: `profile()` a model into a `ProfileReport`, and `run()` a
`ProfileRequest`, the one seam every front end (CLI, magic, explorer) goes through.

`profile` picks the placement backend (`coreml` live on macOS, `estimate` anywhere, `recorded`
from a plan file), runs it and builds the report. `backend="auto"` says in the report which
backend it chose and why, so an estimate is never mistaken for a measurement.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._gc import gc_paused
from .errors import UsageError, writing
from .model.graph import Graph
from .model.load import load_model
from .placement.coreml_availability import DEFAULT_TIMEOUT_S
from .placement.devices import ComputeUnits, get_chip
from .placement.estimate import estimate
from .placement.result import Backend
from .report import ProfileReport, ReportSet, load_report

BACKENDS: tuple[str, ...] = tuple(b.value for b in Backend)
ALL_COMPUTE_UNITS = (
    ComputeUnits.CPU_ONLY,
    ComputeUnits.CPU_AND_GPU,
    ComputeUnits.CPU_AND_NE,
    ComputeUnits.ALL,
)


def _parse_backend(value: Any) -> Backend:
    try:
        return Backend(value)
    except ValueError:
        raise UsageError(
            f"unknown backend {value!r}; choose one of {', '.join(BACKENDS)}"
        ) from None


@gc_paused()  # one pause for load, estimate and report: see _gc.py
def profile(
    model: Any,
    compute_units: Any = "ALL",
    chip: str | None = None,
    backend: str = "auto",
    plan: str | os.PathLike[str] | None = None,
    runs: int = 20,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ProfileReport:
    """Profile `model` and return a ProfileReport.

    model: a path to an .mlpackage/.mlmodel, "example:NAME", a coremltools MLModel, a MIL
        Program, or an already loaded Graph.
    compute_units: "ALL", "CPU_AND_NE", "CPU_AND_GPU", "CPU_ONLY" or a coremltools.ComputeUnit.
    chip: the chip to estimate for (estimate backend; default M1). See `ane-notebook chips`.
    backend: "auto" (coreml on macOS 14.4+, else estimate), "estimate", "coreml", "recorded".
    plan: with backend="recorded", the plan JSON recorded on a Mac (`ane-notebook record`).
    runs: predictions to time per compute-unit setting (coreml backend).
    timeout_s: how long Core ML may take for one step (the compile, or one setting's loads,
        predictions and plan) before it is stopped (coreml backend; a first Neural Engine
        compile can take minutes).

        >>> import ane_notebook as an
        >>> r = an.profile("example:mobilenet", compute_units="CPU_AND_NE", chip="M4")
        >>> r.summary().per_device[an.Device.ANE].ops > 0
        True
    """
    chosen = _parse_backend(backend)
    cu = ComputeUnits.parse(compute_units)
    chip_name = get_chip(chip).name
    _check_live_arguments(runs, timeout_s)
    if plan is not None and chosen in (Backend.AUTO, Backend.RECORDED):
        chosen = Backend.RECORDED
    elif chosen is Backend.RECORDED:
        raise UsageError(
            "backend 'recorded' needs plan=PATH (a plan recorded with "
            "`ane-notebook record` on a Mac)"
        )
    graph = model if isinstance(model, Graph) else load_model(model)

    if chosen is Backend.RECORDED:
        from .placement.recorded import load_plan  # local: only needed for recorded plans

        assert plan is not None
        return ProfileReport.from_placement(graph, load_plan(graph, plan, cu))

    choice_note = ""
    if chosen in (Backend.AUTO, Backend.COREML):
        from .placement.coreml_availability import coreml_available

        ok, why = coreml_available()
        if chosen is Backend.COREML and not ok:
            from .errors import CoreMLUnavailableError

            raise CoreMLUnavailableError(f"backend 'coreml' is not available here: {why}")
        if ok:
            return _profile_live(model, graph, [cu], runs, timeout_s)[cu]
        choice_note = f"auto chose the estimate: {why}"

    placement = estimate(graph, cu, chip_name)
    report = ProfileReport.from_placement(graph, placement)
    if choice_note:
        report = _with_metadata(report, backend_choice=choice_note)
    return report


def _check_live_arguments(runs: Any, timeout_s: Any) -> None:
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise UsageError(f"runs must be a whole number of predictions, at least 1; got {runs!r}")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise UsageError(f"timeout_s must be a positive number of seconds; got {timeout_s!r}")


def _profile_live(
    model: Any, graph: Graph, units: Sequence[ComputeUnits], runs: int, timeout_s: float
) -> dict[ComputeUnits, ProfileReport]:
    """Run Core ML for real (macOS): compile once, then per setting read the compute plan and
    time predictions."""
    from .placement.coreml import run_coreml

    if isinstance(model, Graph):
        raise UsageError(
            "the coreml backend needs the model itself (a path, an MLModel or a MIL Program), "
            "not a loaded Graph"
        )
    if isinstance(model, str) and model.startswith("example:"):
        from .model.examples import example_path

        model = str(example_path(model.split(":", 1)[1]))
    live = run_coreml(model, graph, list(units), runs=runs, timeout_s=timeout_s)
    return {
        u: _with_metadata(
            ProfileReport.from_placement(graph, live.placements[u]),
            backend_choice="coreml: Core ML is available here",
        )
        for u in units
    }


@gc_paused()
def profile_all_units(
    model: Any,
    chip: str | None = None,
    backend: str = "auto",
    plan: str | os.PathLike[str] | None = None,
    units: tuple[ComputeUnits, ...] = ALL_COMPUTE_UNITS,
    runs: int = 20,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    graph: Graph | None = None,
) -> dict[ComputeUnits, ProfileReport]:
    """One report per compute-unit setting (the model is loaded once, or `graph` is its loaded
    form; with Core ML, compiled once, and each setting's loads, predictions and plan measured
    in turn).

    A progress bar (tqdm.auto: a widget in notebooks) appears when the settings take more than a
    second in all, e.g. ~5 s for the four settings of a 50,000-op model; smaller models show
    nothing.

        >>> from ane_notebook.api import profile_all_units
        >>> [u.value for u in profile_all_units("example:lstm")]
        ['CPU_ONLY', 'CPU_AND_GPU', 'CPU_AND_NE', 'ALL']
    """
    from tqdm.auto import tqdm  # local: only this comparison needs it

    if graph is None:
        graph = model if isinstance(model, Graph) else load_model(model)
    chosen = _parse_backend(backend)
    if plan is None and chosen in (Backend.AUTO, Backend.COREML):
        from .placement.coreml_availability import coreml_available

        _check_live_arguments(runs, timeout_s)
        ok, why = coreml_available()
        if ok and not isinstance(model, Graph):
            # the model itself goes to Core ML (a Graph cannot be compiled), once for all settings
            return _profile_live(model, graph, units, runs, timeout_s)
        if chosen is Backend.COREML and not ok:
            from .errors import CoreMLUnavailableError

            raise CoreMLUnavailableError(f"backend 'coreml' is not available here: {why}")
    out: dict[ComputeUnits, ProfileReport] = {}
    with graph.sharing():  # the settings share what depends on the graph alone
        for u in tqdm(units, desc="compute units", unit="setting", delay=1.0, leave=False):
            out[u] = profile(graph, u, chip=chip, backend=backend, plan=plan, runs=runs)
    return out


def _with_metadata(report: ProfileReport, **extra: Any) -> ProfileReport:
    from dataclasses import replace

    return replace(report, metadata={**dict(report.metadata), **extra})


def record(
    model: Any, compute_units: Any = "ALL", runs: int = 20, timeout_s: float = DEFAULT_TIMEOUT_S
) -> ProfileReport:
    """Profile `model` live with Core ML (macOS 14.4+) and stamp the report as a plan.

    The result's JSON (`report.to_json(path)`) replays anywhere with `backend="recorded"`. It
    keeps what the placement depends on: chip, ANE core count, macOS version and build,
    coremltools version, compute units, input shapes and when it was recorded.

    Example (on a Mac)::

        report = an.record("MyModel.mlpackage", compute_units="ALL")
        report.to_json("plan.json")   # then, anywhere: an.profile(model, plan="plan.json")
    """
    from datetime import datetime, timezone

    from .errors import CoreMLUnavailableError
    from .placement.coreml_availability import coreml_available

    ok, why = coreml_available()
    if not ok:
        raise CoreMLUnavailableError(
            f"recording a plan needs Core ML on macOS 14.4+: {why}; "
            "here, `ane-notebook profile` gives an estimate"
        )
    report = profile(model, compute_units, backend=Backend.COREML, runs=runs, timeout_s=timeout_s)
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


@dataclass(frozen=True)
class ProfileRequest:
    """One profiling job, as every front end states it (the CLI's options, the magic's
    arguments, the explorer's controls): the arguments of `profile`, plus what to show side
    by side:

    compare: all four compute-unit settings.
    chips: several chips to estimate for, e.g. ("M1", "M4") or "M1,M4" (the estimate backend:
        a chip is what the estimate is made for; Core ML runs on the chip it runs on).
    against: a second model, or a saved report (`.json`), to show beside `model` with the same
        settings (before/after a change); ops are matched by (function, name). `model` may be a
        saved report too.

        >>> from ane_notebook.api import ProfileRequest, run
        >>> run(ProfileRequest("example:lstm", compute_units="CPU_AND_NE", chip="M2")).chip
        'M2'
        >>> list(run(ProfileRequest("example:lstm", chips="M1,M4")).reports)
        ['M1', 'M4']
    """

    model: Any
    compute_units: Any = "ALL"
    chip: str | None = None
    backend: str = Backend.AUTO.value
    plan: str | os.PathLike[str] | None = None
    compare: bool = False
    runs: int = 20
    timeout_s: float = DEFAULT_TIMEOUT_S
    chips: str | Sequence[str] = ()
    against: Any = None


def _chip_list(request: ProfileRequest) -> list[str | None]:
    given = request.chips
    names = [c.strip() for c in given.split(",")] if isinstance(given, str) else list(given)
    names = [c for c in names if c]
    if not names:
        return [request.chip]
    if request.chip is not None and request.chip not in names:
        raise UsageError(f"chip {request.chip!r} and chips {', '.join(names)}: give one of them")
    if len(names) > MAX_CHIPS:
        raise UsageError(f"chips: at most {MAX_CHIPS} at once; got {len(names)}")
    return list(dict.fromkeys(get_chip(c).name for c in names))


MAX_CHIPS = 8  # a compare view of 8 chips x 4 settings is already 32 lane bands


def is_report_path(value: Any) -> bool:
    """A saved report (`profile --json`) rather than a model: a `.json` file."""
    return (
        isinstance(value, (str, os.PathLike))
        and os.fspath(value).lower().endswith(".json")
        and Path(value).is_file()
    )


def _model_label(reports: list[ProfileReport], k: int) -> str:
    names = [r.model.name for r in reports]
    if len(set(names)) < len(names):
        return ("before", "after")[k] if len(names) == 2 else f"model {k + 1}"
    return names[k]


def run(request: ProfileRequest) -> ProfileReport | ReportSet:
    """Run `request`: one `ProfileReport`, or a `ReportSet` when it asks for several (the four
    compute-unit settings with `compare`, CPU_ONLY first; several `chips`; a second model or
    report `against` the first). Labels name only what varies, e.g. "M4/CPU_AND_NE".

        >>> from ane_notebook.api import ProfileRequest, run
        >>> run(ProfileRequest("example:lstm", compare=True)).reports.keys()
        dict_keys(['CPU_ONLY', 'CPU_AND_GPU', 'CPU_AND_NE', 'ALL'])
    """
    chips = _chip_list(request)
    models = [request.model] + ([request.against] if request.against is not None else [])
    if len(models) == 1 and len(chips) == 1 and not request.compare:
        if is_report_path(request.model):
            return load_report(request.model)
        return profile(
            request.model,
            compute_units=request.compute_units,
            chip=chips[0],
            backend=request.backend,
            plan=request.plan,
            runs=request.runs,
            timeout_s=request.timeout_s,
        )
    units = ALL_COMPUTE_UNITS if request.compare else (ComputeUnits.parse(request.compute_units),)
    backend = request.backend
    if len(chips) > 1:
        if backend in (Backend.COREML.value, Backend.RECORDED.value) or request.plan is not None:
            raise UsageError(
                "chips: several chips compare estimates; a Core ML run or a recorded plan is "
                "for the chip it ran on (use --backend estimate)"
            )
        backend = Backend.ESTIMATE.value
    per_model: list[dict[tuple[str | None, ComputeUnits], ProfileReport]] = []
    for m in models:
        if is_report_path(m):
            if request.compare or len(chips) > 1:
                raise UsageError(
                    f"{os.fspath(m)}: a saved report holds one setting; --compare and --chips "
                    "profile a model"
                )
            rep = load_report(m)
            per_model.append({(chips[0], rep.compute_units): rep})
            continue
        graph = m if isinstance(m, Graph) else load_model(m)
        one: dict[tuple[str | None, ComputeUnits], ProfileReport] = {}
        for c in chips:
            # the model itself, with its graph: Core ML compiles the model, not a Graph
            for u, rep in profile_all_units(
                m,
                chip=c,
                backend=backend,
                plan=request.plan,
                units=units,
                runs=request.runs,
                timeout_s=request.timeout_s,
                graph=graph,
            ).items():
                one[(c, u)] = rep
        per_model.append(one)
    out: dict[str, ProfileReport] = {}
    firsts = [next(iter(p.values())) for p in per_model]
    for k, one in enumerate(per_model):
        for (_, u), rep in one.items():
            parts = []
            if len(models) > 1:
                parts.append(_model_label(firsts, k))
            if len(chips) > 1:
                parts.append(rep.chip)
            if request.compare or (len(models) == 1 and len(chips) == 1):
                parts.append(u.value)
            out["/".join(parts)] = rep
    return ReportSet(out)


def write_outputs(
    result: ProfileReport | ReportSet,
    *,
    json_path: str | os.PathLike[str] | None = None,
    html_path: str | os.PathLike[str] | None = None,
    inputs: Sequence[Any] = (),
) -> list[str]:
    """Write the files a front end was asked for; return their paths, in order.

    `inputs` are what the job read (the model path, a plan): an output that would overwrite
    one of them (or land inside a model package) is refused with a UsageError, so that a
    mistyped `--json MODEL.mlmodel` never destroys the user's model.
    """
    check_outputs(json_path=json_path, html_path=html_path, inputs=inputs)
    written: list[str] = []
    for kind, path in (("json", json_path), ("html", html_path)):
        if path is None:
            continue
        with writing(path):
            if kind == "json":
                if not isinstance(result, ProfileReport):
                    raise UsageError("--json writes one report; a comparison has several")
                result.to_json(path)
            else:
                result.to_html(path)
        written.append(os.fspath(path))
    return written


def check_outputs(
    *,
    json_path: str | os.PathLike[str] | None = None,
    html_path: str | os.PathLike[str] | None = None,
    inputs: Sequence[Any] = (),
) -> None:
    """Refuse (UsageError) outputs that would overwrite an input or each other, before any
    work: a front end calls it before profiling, so a refused `--html MODEL` neither prints a
    report nor leaves the `--json` file written beside it. `write_outputs` checks again."""
    outputs = [(k, p) for k, p in (("json", json_path), ("html", html_path)) if p is not None]
    for kind, path in outputs:
        _refuse_overwriting_inputs(path, inputs, kind)
    if len(outputs) == 2 and _same_path(outputs[0][1], outputs[1][1]):
        raise UsageError(
            f"{os.fspath(outputs[1][1])}: the json and html outputs name the same file; "
            "choose two file names"
        )


def _same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, ValueError):
        return os.fspath(a) == os.fspath(b)


def _refuse_overwriting_inputs(
    path: str | os.PathLike[str], inputs: Sequence[Any], kind: str
) -> None:
    target = Path(path)
    for given in inputs:
        if not isinstance(given, (str, os.PathLike)) or str(given).startswith("example:"):
            continue
        source = Path(given)
        try:
            if not source.exists():
                continue
            same = target.exists() and os.path.samefile(target, source)
            inside = source.is_dir() and target.resolve().is_relative_to(source.resolve())
        except (OSError, ValueError):
            continue  # an unreadable or unnamable path cannot be one of our inputs
        if same or inside:
            raise UsageError(
                f"{os.fspath(path)}: refusing to write the {kind} output over the input "
                f"{os.fspath(given)}; choose another file name"
            )
