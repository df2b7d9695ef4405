"""The `recorded` backend: replay a placement that Core ML made on a Mac, on any machine.

A plan is a report JSON written by `ane-notebook record` (source "coreml"), or coremltools'
remote-device compute-plan dictionary (`{"infos": [...]}`). Replaying checks the plan against
the model first (op names and types): a plan recorded for another model, or another version of
it, is an error that lists the first differences, never a silently wrong diagram.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import PlanError
from ..model.graph import Graph
from ..schema import read_json_file, validate_report_dict
from .devices import ComputeUnits
from .result import (
    CONSTANT_REASON,
    OpPlacement,
    Placement,
    PlacementSource,
    ReasonKind,
    placement_fields_from_dict,
    timings_from_dict,
    warnings_from_list,
)

MAX_LISTED_DIFFERENCES = 5


def load_plan(
    graph: Graph, plan: str | os.PathLike[str], compute_units: ComputeUnits | None = None
) -> Placement:
    """Read `plan`, check it belongs to `graph`, and return its placement (source "recorded")."""
    data = read_json_file(plan)
    origin = os.fspath(plan)
    if isinstance(data, dict) and "infos" in data and "format" not in data:
        return _placement_from_remote_plan(graph, data, origin, compute_units or ComputeUnits.ALL)
    data = validate_report_dict(data, origin)
    if data["source"] == PlacementSource.ESTIMATE.value:
        raise PlanError(
            origin,
            "this report is an estimate, not a plan recorded by Core ML; "
            "open it with ane_notebook.load_report instead",
        )
    return placement_from_report_dict(graph, data, origin)


def _placement_from_remote_plan(
    graph: Graph, data: Mapping[str, Any], origin: str, compute_units: ComputeUnits
) -> Placement:
    """coremltools' remote-device compute plan: check its structure, map it, check it fits.

    Core ML compiles the model before planning (fusing or dropping some ops), so a plan need not
    name every op; one that names none of the model's ops belongs to another model.
    """
    # coremltools' remote-device format
    from .estimate import estimate
    from .plan_mapping import placement_from_entries, remote_plan_entries, with_estimates

    _check_remote_plan_types(data, origin)
    placement = placement_from_entries(
        graph,
        remote_plan_entries(data, origin),
        compute_units,
        source=PlacementSource.RECORDED,
        metadata={"recorded_plan": origin},
    )
    running = [(op, p) for op, p in zip(graph.ops, placement.ops, strict=True) if not op.is_const]
    if running and all(p.reason_kind is ReasonKind.NOT_IN_PLAN for _, p in running):
        raise PlanError(
            origin,
            f"plan does not match model {graph.name!r}: it names none of "
            f"the model's {len(running)} ops (recorded for another model?)",
        )
    # the plan names no chip: our estimate beside it is for the default one
    return with_estimates(placement, estimate(graph, compute_units))


def _check_remote_plan_types(data: Mapping[str, Any], origin: str) -> None:
    """The JSON types the remote-plan reader relies on (its own checks cover the rest)."""
    infos = data.get("infos")
    extra = data.get("infosWithoutUsage", [])
    rows = [
        *(
            infos.values()
            if isinstance(infos, Mapping)
            else infos
            if isinstance(infos, list)
            else []
        ),
        *(extra if isinstance(extra, list) else []),
    ]
    for i, info in enumerate(rows):
        if not isinstance(info, Mapping):
            continue  # reported by the reader
        path = info.get("path")
        components = path.get("components") if isinstance(path, Mapping) else None
        for component in components if isinstance(components, list) else []:
            bodies = component.values() if isinstance(component, Mapping) else []
            for body in bodies:
                if isinstance(body, Mapping) and not isinstance(body.get("data", {}), Mapping):
                    raise PlanError(
                        origin,
                        f"info {i}: a path component's 'data' must be an "
                        f"object, got {type(body['data']).__name__}",
                    )
        cost = info.get("estimatedCost")
        if cost is not None and (
            isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 <= cost <= 1
        ):
            raise PlanError(
                origin,
                f"info {i}: estimatedCost must be a fraction between 0 and "
                f"1 (Core ML's cost weight) or null, got {str(cost)[:40]}",
            )


def plan_differences(graph: Graph, plan_ops: Sequence[Mapping[str, Any]]) -> list[str]:
    """Differences between the model's ops and the plan's (const ops are not compared)."""
    recorded = {(o["function"], o["name"]): o for o in plan_ops if not o["is_const"]}
    diffs: list[str] = []
    seen: set[tuple[str, str]] = set()
    for op in graph.ops:
        key = (op.function, op.name)
        seen.add(key)
        if op.is_const:
            continue  # a constexpr_* op the plan ran is recorded as running: not a difference
        rec = recorded.get(key)
        if rec is None:
            diffs.append(
                f"op {op.name!r} ({op.op_type}) of function {op.function!r} is not in the plan"
            )
        elif rec["op_type"] != op.op_type:
            diffs.append(
                f"op {op.name!r} is {op.op_type} in the model but {rec['op_type']} in the plan"
            )
    for key, rec in recorded.items():
        if key not in seen:
            diffs.append(f"the plan has op {key[1]!r} ({rec['op_type']}) that the model lacks")
    return diffs


def placement_from_report_dict(graph: Graph, data: Mapping[str, Any], origin: str) -> Placement:
    diffs = plan_differences(graph, data["ops"])
    if diffs:
        shown = "; ".join(diffs[:MAX_LISTED_DIFFERENCES])
        more = (
            f" (and {len(diffs) - MAX_LISTED_DIFFERENCES} more)"
            if len(diffs) > MAX_LISTED_DIFFERENCES
            else ""
        )
        raise PlanError(
            origin,
            f"plan does not match model {graph.name!r}: {len(diffs)} difference(s): {shown}{more}",
        )
    by_key = {(o["function"], o["name"]): o for o in data["ops"]}
    ops = []
    for op in graph.ops:
        rec = by_key.get((op.function, op.name))
        if rec is None or rec["is_const"]:
            ops.append(
                OpPlacement(
                    device=None,
                    supported=frozenset(),
                    reason=CONSTANT_REASON,
                    reason_kind=ReasonKind.CONSTANT,
                )
            )
            continue
        fields = placement_fields_from_dict(rec)
        ops.append(OpPlacement(**{**fields, "supported": frozenset(fields["supported"])}))
    meta = dict(data["metadata"])
    meta.update({"recorded_plan": origin, "recorded_source": data["source"]})
    return Placement(
        source=PlacementSource.RECORDED,
        compute_units=ComputeUnits(data["compute_units"]),
        chip=data["chip"],
        ops=tuple(ops),
        metadata=meta,
        timings=timings_from_dict(data["timings"]),
        warnings=warnings_from_list(data["warnings"]),
    )
