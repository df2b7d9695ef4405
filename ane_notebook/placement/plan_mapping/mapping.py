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
from pathlib import Path
from typing import Any

from ...errors import PlanError
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
from .live import compute_plan_entries
from .remote import remote_plan_entries

__all__ = [
    "NOT_IN_PLAN",
    "NO_USAGE",
    "PER_OP_TIME",
    "PER_OP_TIME_MISSING",
    "REASONS_FOUND",
    "REASONS_MISSING",
    "placement_from_compute_plan",
    "placement_from_entries",
    "placement_from_remote_plan",
]


NOT_IN_PLAN = "not in Core ML's compute plan"
NO_USAGE = "Core ML's compute plan gives no device for this op"
REASONS_MISSING = "Core ML's per-op analytics were not found; reasons unavailable"
REASONS_FOUND = "Core ML's E5 per-op analytics were found; their validation messages are quoted"
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
    op: Op, entry: PlanEntry | None, compute_units: ComputeUnits, analytics: AnalyticsEntry | None
) -> tuple[ReasonKind, str]:
    """The kind of the decision Core ML's plan shows for `op`, and its sentence."""
    parts: list[str] = []
    if op.is_const or (entry is not None and entry.is_const and not entry.has_usage):
        kind = ReasonKind.CONSTANT
        parts.append(CONSTANT_REASON)
    elif entry is None:
        kind = ReasonKind.NOT_IN_PLAN
        parts.append(NOT_IN_PLAN)
    elif not entry.has_usage or entry.preferred is None:
        kind = ReasonKind.NO_USAGE
        parts.append(NO_USAGE)
    elif entry.preferred is not Device.ANE:
        # Core ML publishes no reason; say what it decided. (On the Neural Engine by choice there
        # is nothing to explain: OpPlacement.reason stays "" unless the analytics add something.)
        parts.append(
            f"Core ML preferred the {DEVICE_LABEL[entry.preferred]}; supported: "
            f"{_supported_text(entry.supported)}"
        )
        if Device.ANE not in compute_units.devices:
            kind = ReasonKind.COMPUTE_UNITS
            parts.append(f"the Neural Engine is not allowed by {compute_units}")
        elif Device.ANE in entry.supported:
            kind = ReasonKind.COREML_PREFERRED
        else:
            kind = ReasonKind.COREML_UNSUPPORTED
    else:
        kind = ReasonKind.ON_ANE
    if analytics is not None and analytics.validation_messages:
        said = "; ".join(
            f"{_backend_label(backend)}: {message}"
            for backend, message in sorted(analytics.validation_messages.items())
        )
        parts.append(f"Core ML's analytics: {said}")
    return kind, ". ".join(parts)


def _backend_label(backend: str) -> str:
    device = backend_device(backend)
    return f"{DEVICE_LABEL[device]} ({backend})" if device is not None else backend


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
    """Map compute-plan entries onto `graph`, one `OpPlacement` per graph op, in graph order.

    An entry finds its op by (function, name or any output name); when a name is unique in the
    graph the function may differ (e.g. a NeuralNetwork model whose layers the loader filed under
    another function name). Per-op time is the measured median latency times the cost weight:
    an estimate from a measurement, and labelled so in `metadata["per_op_time"]`.
    """
    units = ComputeUnits.parse(compute_units)
    by_key: dict[tuple[str, str], int] = {}
    by_name: dict[str, set[int]] = {}
    for position, op in enumerate(graph.ops):
        for name in (op.name, *(t.name for t in op.outputs)):
            by_key.setdefault((op.function, name), position)
            by_name.setdefault(name, set()).add(position)

    matched: dict[int, PlanEntry] = {}
    unmatched: list[str] = []
    for entry in entries:
        found_at: int | None = None
        for name in dict.fromkeys((entry.name, *entry.outputs)):
            found_at = by_key.get((entry.graph_function, name))
            if found_at is None and len(by_name.get(name, ())) == 1:
                found_at = next(iter(by_name[name]))
            if found_at is not None:
                break
        if found_at is None:
            unmatched.append(f"{entry.graph_function}/{entry.name}")
        else:
            # a multi-output op may appear once per output: the first row wins
            matched.setdefault(found_at, entry)

    latency = timings.predict_median_ms if timings is not None else None
    analytics = analytics or {}
    placements = []
    for position, op in enumerate(graph.ops):
        row = matched.get(position)
        found = _analytics_for(op, analytics) if analytics else None
        device = row.preferred if row is not None and row.has_usage else None
        weight = row.cost_weight if row is not None else None
        est = latency * weight if latency is not None and weight is not None else 0.0
        kind, reason = _reason(op, row, units, found)
        placements.append(
            OpPlacement(
                device=None if op.is_const else device,
                supported=row.supported if row is not None else frozenset(),
                reason=reason,
                reason_kind=kind,
                evidence=None,  # measured by Core ML, not a rule
                est_time_ms=est,
                rules=(),
                cost_weight=weight,
            )
        )

    cores = next((e.ane_cores for e in entries if e.ane_cores), None)
    meta: dict[str, Any] = {
        "backend": source,
        "compute_units": str(units),
        "per_op_time": PER_OP_TIME if latency is not None else PER_OP_TIME_MISSING,
        "reasons": REASONS_FOUND if analytics else REASONS_MISSING,
        "plan_ops": len(entries),
        "ops_not_in_plan": sum(1 for p in range(len(graph.ops)) if p not in matched),
        "unmatched_plan_ops": unmatched,
    }
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
            data = json.loads(Path(where).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PlanError(where, f"cannot read the compute plan: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise PlanError(where, f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    kwargs.setdefault("source", PlacementSource.RECORDED)
    entries = remote_plan_entries(data, where)
    return placement_from_entries(graph, entries, compute_units, **kwargs)
