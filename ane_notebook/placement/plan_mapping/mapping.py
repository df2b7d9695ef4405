"""Plan entries mapped onto a `Graph`: one `OpPlacement` per op, each with its reason.

An entry finds its graph op by function and name; each op gets the device Core ML's plan prefers
for it, the supported devices, a cost-weighted share of the measured latency, and a `ReasonKind`
with a sentence saying what the plan shows (not on the Neural Engine, not in the plan, no usage,
a constant). Core ML's E5 analytics, when found, add their validation messages.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._recursion import bounded_recursion
from ...errors import PlanError, UsageError
from ...model.graph import Graph, Op
from ..devices import DEVICE_LABEL, DEVICE_ORDER, ComputeUnits, Device
from ..e5_analytics import AnalyticsEntry, backend_device
from ..result import (
    CONSTANT_REASON,
    CoreMLTimings,
    OpPlacement,
    Placement,
    PlacementSource,
    ReasonKind,
)
from .entries import PlanEntry
from .gaps import plan_warnings
from .live import compute_plan_entries
from .matching import match_entries
from .remote import remote_plan_entries

__all__ = [
    "FUNCTION_NOT_PLANNED",
    "NOT_IN_PLAN",
    "NO_USAGE",
    "PER_OP_TIME",
    "PER_OP_TIME_MISSING",
    "REASONS_FOUND",
    "REASONS_MISSING",
    "FunctionPlan",
    "placement_from_compute_plan",
    "placement_from_entries",
    "placement_from_function_plans",
    "placement_from_remote_plan",
]


NOT_IN_PLAN = "not in Core ML's compute plan"
NO_USAGE = "Core ML's compute plan gives no device for this op"
FUNCTION_NOT_PLANNED = (
    "no compute plan was made with this op's function loaded (Core ML plans one function per load)"
)
REASONS_MISSING = "Core ML gives no reasons: its compute plan says where each op runs, not why"
REASONS_FOUND = "Core ML's E5 analytics were supplied; their validation messages are quoted"
PER_OP_TIME = "estimated from the measured total"
PER_OP_TIME_MISSING = "unavailable: no measured latency"


def _supported_text(devices: frozenset[Device]) -> str:
    return ", ".join(DEVICE_LABEL[d] for d in DEVICE_ORDER if d in devices) or "none reported"


def _analytics_for(op: Op, analytics: Mapping[str, AnalyticsEntry]) -> AnalyticsEntry | None:
    for key in (f"{op.function}/{op.name}", op.name, *(t.name for t in op.outputs)):
        entry = analytics.get(key)
        if entry is None:
            continue
        # E5 names the function it analysed; a pipeline stage's function is "<stage>/<function>"
        if entry.function in (None, op.function) or op.function.endswith(f"/{entry.function}"):
            return entry
    return None


def _reason(
    op: Op,
    entry: PlanEntry | None,
    compute_units: ComputeUnits,
    analytics: AnalyticsEntry | None,
    planned: bool,
) -> tuple[ReasonKind, str]:
    """The kind of the decision Core ML's plan shows for `op`, and its sentence."""
    parts: list[str] = []
    if entry is not None and entry.has_usage and entry.preferred is not None:
        # What the plan says, for every op it places: constexpr_* ops too, which the graph
        # marks const (they hold weights) but Core ML runs, and costs
        # (docs/evidence.md#plan.constexpr).
        kind = _plan_kind(entry, compute_units)
        if kind is not ReasonKind.ON_ANE:
            # Core ML publishes no reason; say what it decided. (On the Neural Engine there is
            # nothing to explain: the reason stays "" unless the analytics add something.)
            parts.append(
                f"Core ML preferred the {DEVICE_LABEL[entry.preferred]}; supported: "
                f"{_supported_text(entry.supported)}"
            )
        if kind is ReasonKind.COMPUTE_UNITS:
            parts.append(f"the Neural Engine is not allowed by {compute_units}")
        if op.is_const:
            parts.insert(0, f"a weight op ({op.op_type}) that Core ML's plan runs")
    elif op.is_const or (entry is not None and entry.is_const):
        kind = ReasonKind.CONSTANT
        parts.append(CONSTANT_REASON)
    elif not planned:
        kind = ReasonKind.FUNCTION_NOT_PLANNED
        parts.append(FUNCTION_NOT_PLANNED)
    elif entry is None:
        kind = ReasonKind.NOT_IN_PLAN
        parts.append(NOT_IN_PLAN)
    else:
        kind = ReasonKind.NO_USAGE
        parts.append(NO_USAGE)
    if analytics is not None and analytics.validation_messages:
        said = "; ".join(
            f"{_backend_label(backend)}: {message}"
            for backend, message in sorted(analytics.validation_messages.items())
        )
        parts.append(f"Core ML's analytics: {said}")
    return kind, ". ".join(parts)


def _plan_kind(entry: PlanEntry, compute_units: ComputeUnits) -> ReasonKind:
    if entry.preferred is Device.ANE:
        return ReasonKind.ON_ANE
    if Device.ANE not in compute_units.devices:
        return ReasonKind.COMPUTE_UNITS
    if Device.ANE in entry.supported:
        return ReasonKind.COREML_PREFERRED
    return ReasonKind.COREML_UNSUPPORTED


def _backend_label(backend: str) -> str:
    device = backend_device(backend)
    return f"{DEVICE_LABEL[device]} ({backend})" if device is not None else backend


@dataclass(frozen=True)
class FunctionPlan:
    """The compute plan Core ML made with one function of a multifunction model loaded
    (`MLModelConfiguration.functionName`), and the timings measured with it loaded."""

    entries: Sequence[PlanEntry]
    timings: CoreMLTimings | None = None


def placement_from_entries(
    graph: Graph,
    entries: Sequence[PlanEntry],
    compute_units: ComputeUnits | str,
    *,
    source: PlacementSource | str = PlacementSource.COREML,
    timings: CoreMLTimings | None = None,
    analytics: Mapping[str, AnalyticsEntry] | None = None,
    chip: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> Placement:
    """Map one compute plan's entries onto `graph`, one `OpPlacement` per graph op, in order.

    Entries find their ops as `matching` describes. Per-op time is the measured median latency
    times the cost weight: an estimate from a measurement, labelled so in
    `metadata["per_op_time"]`. Every op the plan does not place, and every plan row that matches
    no op, is counted in `Placement.warnings`.
    """
    plans = [(None, FunctionPlan(entries, timings))]
    return _placement(graph, plans, compute_units, source, timings, analytics, chip, metadata)


def placement_from_function_plans(
    graph: Graph,
    plans: Mapping[str, FunctionPlan],
    compute_units: ComputeUnits | str,
    *,
    source: PlacementSource | str = PlacementSource.COREML,
    timings: CoreMLTimings | None = None,
    analytics: Mapping[str, AnalyticsEntry] | None = None,
    chip: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> Placement:
    """Map one compute plan per function onto `graph` (multifunction models).

    Core ML plans the function a model is loaded with, so a multifunction model needs one plan
    per function. `plans` maps a graph function name (`Op.function`, as in `Graph.functions`)
    to the plan made with that function loaded; only the rows of that function are taken from
    it (a plan lists the structure of every function). Ops of a function with no plan get
    `ReasonKind.FUNCTION_NOT_PLANNED`, and a counted warning. A function's per-op times come from
    its own plan's timings; `timings` is the placement's headline timing (the default function's).
    """
    unknown = [f for f in plans if f not in graph.functions]
    if unknown:
        raise UsageError(
            f"plans given for functions the model does not have: {', '.join(map(repr, unknown))} "
            f"(its functions: {', '.join(map(repr, graph.functions))})"
        )
    items = [(frozenset({f}), plan) for f, plan in plans.items()]
    return _placement(graph, items, compute_units, source, timings, analytics, chip, metadata)


def _placement(
    graph: Graph,
    plans: Sequence[tuple[frozenset[str] | None, FunctionPlan]],
    compute_units: ComputeUnits | str,
    source: PlacementSource | str,
    timings: CoreMLTimings | None,
    analytics: Mapping[str, AnalyticsEntry] | None,
    chip: str,
    metadata: Mapping[str, Any] | None,
) -> Placement:
    units = ComputeUnits.parse(compute_units)
    matched: dict[int, PlanEntry] = {}
    latency: dict[int, float] = {}
    unmatched: list[str] = []
    planned: set[str] | None = set()
    for functions, plan in plans:
        matches = match_entries(graph, plan.entries, functions)
        for position, entry in matches.by_op.items():
            matched.setdefault(position, entry)
            if plan.timings is not None:
                latency.setdefault(position, plan.timings.predict_median_ms)
        unmatched += [f"{function}/{entry.name}" for function, entry in matches.unmatched]
        planned = None if functions is None or planned is None else planned | functions

    analytics = analytics or {}
    placements = []
    for position, op in enumerate(graph.ops):
        row = matched.get(position)
        found = _analytics_for(op, analytics) if analytics else None
        device = row.preferred if row is not None and row.has_usage else None
        weight = row.cost_weight if row is not None else None
        ms = latency.get(position)
        kind, reason = _reason(op, row, units, found, planned is None or op.function in planned)
        placements.append(
            OpPlacement(
                device=device,
                supported=row.supported if row is not None else frozenset(),
                reason=reason,
                reason_kind=kind,
                evidence=None,  # measured by Core ML, not a rule
                est_time_ms=ms * weight if ms is not None and weight is not None else 0.0,
                rules=(),
                cost_weight=weight,
            )
        )

    entries = [e for _, plan in plans for e in plan.entries]
    cores = next((e.ane_cores for e in entries if e.ane_cores), None)
    meta: dict[str, Any] = {
        "backend": source,
        "compute_units": str(units),
        "per_op_time": PER_OP_TIME if latency else PER_OP_TIME_MISSING,
        "reasons": REASONS_FOUND if analytics else REASONS_MISSING,
        "core_ml_reasons": bool(analytics),
        "plan_ops": len(entries),
        "ops_not_in_plan": sum(1 for p in range(len(graph.ops)) if p not in matched),
        "unmatched_plan_ops": unmatched,
    }
    if planned is not None:
        meta["planned_functions"] = [f for f in graph.functions if f in planned]
    if cores:
        meta["ane_cores"] = cores
    if metadata:
        meta.update(metadata)
    return Placement(
        source=PlacementSource(source),
        compute_units=units,
        chip=chip,
        ops=tuple(placements),
        metadata=meta,
        timings=timings,
        warnings=plan_warnings(graph, placements, unmatched),
    )


def placement_from_compute_plan(
    graph: Graph, plan: Any, compute_units: ComputeUnits | str, **kwargs: Any
) -> Placement:
    """Map an `MLComputePlan` onto `graph` (source "coreml"). Keyword arguments as for
    `placement_from_entries` (timings, analytics, chip, metadata)."""
    kwargs.setdefault("source", PlacementSource.COREML)
    return placement_from_entries(graph, compute_plan_entries(plan), compute_units, **kwargs)


def placement_from_remote_plan(
    graph: Graph,
    plan: Mapping[str, Any] | str | os.PathLike[str],
    compute_units: ComputeUnits | str,
    **kwargs: Any,
) -> Placement:
    """Import coremltools' remote-device compute-plan dictionary (or a JSON file holding one)
    onto `graph` (source "recorded"). Keyword arguments as for `placement_from_entries`."""
    where = "<remote compute plan>"
    data: Any = plan
    if isinstance(plan, (str, os.PathLike)):
        where = os.fspath(plan)
        try:
            with bounded_recursion():  # the C parser recurses once per level: see _recursion.py
                data = json.loads(Path(where).read_text(encoding="utf-8"))
        except RecursionError:
            raise PlanError(where, "not valid JSON (nested too deeply)") from None
        except OSError as exc:
            raise PlanError(where, f"cannot read the compute plan: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise PlanError(where, f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    kwargs.setdefault("source", PlacementSource.RECORDED)
    entries = remote_plan_entries(data, where)
    return placement_from_entries(graph, entries, compute_units, **kwargs)
