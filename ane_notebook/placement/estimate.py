"""The `estimate` backend: where Core ML would likely run each op, from rules and costs alone.

Steps:
1. the rule table (`rules.py`) gives each op the devices it could run on, and why not others;
2. the cost model (`costs.py`) gives each op's time on each processor;
3. a partitioner picks one device per op from (supported devices) ∩ (compute units),
   minimising total time including processor switches and tensor crossings.

The partitioner (`partition.py`) is a dynamic programme over execution order; see there.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .._gc import gc_paused
from ..model.graph import Graph, TensorInfo
from .costs import (
    DEVICE_COLUMNS,
    LAUNCH_MS,
    UNKNOWN_TENSOR_BYTES,
    op_costs,
    tensor_bytes,
)
from .devices import EVIDENCE_RANK, ChipProfile, ComputeUnits, Device, Evidence, get_chip
from .partition import partition
from .result import (
    CONSTANT_REASON,
    OpPlacement,
    Placement,
    PlacementSource,
    ReasonKind,
    ReportWarning,
    WarningKind,
)
from .rules import ANE_CAPABLE, OpSupport, RuleContext, support_for_graph

_INF = math.inf
_COL = {d: j for j, d in enumerate(DEVICE_COLUMNS)}
_CPU = _COL[Device.CPU]
# Appended to the reason of an op off the ANE whose tensors have unknown sizes: its costs
# (`UNKNOWN_TENSOR_BYTES` per such tensor) may be what kept it off.
SHAPE_UNKNOWN_CLAUSE = "shape unknown: cost not sized"
_WARNING_EXAMPLES = 5  # op indices listed with the shape_unknown warning


@gc_paused()  # many small objects per op on big models: see _gc.py
def estimate(
    graph: Graph,
    compute_units: ComputeUnits | str = ComputeUnits.ALL,
    chip: ChipProfile | str | None = None,
) -> Placement:
    """Estimate the placement of every op of `graph` under `compute_units` on `chip`."""
    cu = ComputeUnits.parse(compute_units)
    profile = get_chip(chip)
    support = support_for_graph(graph, profile)
    ctx = RuleContext(graph, profile)
    work = [op.index for op in graph.ops if not op.is_const]
    pos = {gi: k for k, gi in enumerate(work)}
    tensors = graph.tensors
    producer = graph.producer

    # Inputs of each working op (run-time values and weights), and the edges the partitioner
    # charges: (producer position or -1 for the caller on the CPU, bytes, is_fp32).
    activations: list[list[TensorInfo | None]] = []
    weights: list[list[TensorInfo | None]] = []
    edges: list[list[tuple[int, int, bool]]] = []
    unsized: set[int] = set()  # graph indices of ops costed with a tensor of unknown size
    for gi in work:
        op = graph.ops[gi]
        acts: list[TensorInfo | None] = []
        ws: list[TensorInfo | None] = []
        ek: list[tuple[int, int, bool]] = []
        for name in dict.fromkeys(op.inputs):
            key = (op.function, name)
            t = tensors.get(key)
            src = producer.get(key)
            if src is not None and graph.ops[src].is_const:
                ws.append(t)  # weights: costed in the op's bytes, never a crossing
                continue
            if src is None and t is None:
                continue  # a name we know nothing about (no producer, not an input)
            acts.append(t)
            src_pos = pos.get(src, -1) if src is not None else -1
            ek.append((src_pos, tensor_bytes(t), t is not None and t.dtype == "fp32"))
        activations.append(acts)
        weights.append(ws)
        edges.append(ek)
        if any(t is None or t.nbytes is None for t in (*acts, *ws, *op.outputs)):
            unsized.add(gi)

    costs = op_costs([graph.ops[gi] for gi in work], activations, weights, profile)
    allowed = np.zeros((len(work), len(DEVICE_COLUMNS)), dtype=bool)
    for k, gi in enumerate(work):
        sup = support[gi]
        devs = (sup.supported if sup is not None else frozenset(Device)) & cu.devices
        for d in devs:
            allowed[k, _COL[d]] = True
        if sup is not None and sup.ane_dispatches > 1:
            # An op the ANE runs in several calls pays one more ANE launch per extra call.
            costs.time_ms[k, _COL[Device.ANE]] += (sup.ane_dispatches - 1) * LAUNCH_MS[Device.ANE]
    # The CPU can run everything (the rule table never excludes it) and every compute-unit
    # setting includes it, so each op always has a device.
    allowed[:, _CPU] = True
    unary = np.where(allowed, costs.time_ms, _INF)

    functions = [graph.ops[gi].function for gi in work]
    assign = partition(unary, edges, functions)

    ops: list[OpPlacement] = []
    for op in graph.ops:
        if op.is_const:
            ops.append(
                OpPlacement(
                    device=None,
                    supported=frozenset(),
                    reason=CONSTANT_REASON,
                    reason_kind=ReasonKind.CONSTANT,
                )
            )
            continue
        k = pos[op.index]
        dev = DEVICE_COLUMNS[assign[k]]
        sup = support[op.index]
        capable = ANE_CAPABLE.get(ctx.format_of(op), {})
        placed = _explain(sup, dev, cu, costs.time_ms[k], capable.get(op.op_type))
        if op.index in unsized:
            placed = _shape_unknown(placed)
        ops.append(placed)

    metadata = {
        "backend": "estimate",
        "per_op_time": "estimated by the cost model (not measured)",
        "chip_sources": profile.sources,
    }
    warnings: tuple[ReportWarning, ...] = ()
    if unsized:
        n = len(unsized)
        warnings = (
            ReportWarning(
                WarningKind.SHAPE_UNKNOWN,
                f"{n} op{'s' if n != 1 else ''} read or write tensors of unknown size: "
                f"their costs are not sized (each such tensor counted as "
                f"{UNKNOWN_TENSOR_BYTES // 1024} KB)",
                n,
                tuple(sorted(unsized)[:_WARNING_EXAMPLES]),
            ),
        )
    return Placement(
        source=PlacementSource.ESTIMATE,
        compute_units=cu,
        chip=profile.name,
        ops=tuple(ops),
        metadata=metadata,
        warnings=warnings,
    )


def _shape_unknown(p: OpPlacement) -> OpPlacement:
    """`p` marked as costed without known shapes; off the ANE the reason says so."""
    if p.device == Device.ANE:
        return replace(p, shape_unknown=True)
    reason = f"{p.reason}; {SHAPE_UNKNOWN_CLAUSE}" if p.reason else SHAPE_UNKNOWN_CLAUSE
    return replace(p, shape_unknown=True, reason=reason)


def _explain(
    sup: OpSupport | None,
    dev: Device,
    cu: ComputeUnits,
    times: np.ndarray,
    capable: tuple[Evidence, str] | None,
) -> OpPlacement:
    """Reason and evidence for one placed op."""
    supported = sup.supported if sup is not None else frozenset(Device)
    findings = sup.findings if sup is not None else ()
    t = float(times[_COL[dev]])
    rules = tuple(f.rule.id for f in findings)
    if dev == Device.ANE:
        # The evidence that this op type runs on the ANE at all, from the rule table.
        ev = capable[0] if capable is not None else Evidence.GUESS
        return OpPlacement(
            dev, supported, reason_kind=ReasonKind.ON_ANE, evidence=ev, est_time_ms=t, rules=rules
        )
    ane_findings = [f for f in findings if Device.ANE in f.excludes]
    if ane_findings:
        reason = "; ".join(dict.fromkeys(f.reason for f in ane_findings))
        ev = min((f.rule.evidence for f in ane_findings), key=lambda e: EVIDENCE_RANK[e])
        return OpPlacement(
            dev,
            supported,
            reason=reason,
            reason_kind=ReasonKind.RULE,
            evidence=ev,
            est_time_ms=t,
            rules=rules,
        )
    if Device.ANE not in cu.devices:
        return OpPlacement(
            dev,
            supported,
            reason=f"the compute units ({cu.value}) exclude the Neural Engine",
            reason_kind=ReasonKind.COMPUTE_UNITS,
            evidence=Evidence.OFFICIAL,
            est_time_ms=t,
            rules=rules,
        )
    # The ANE could run it: the cost model chose otherwise. The text is the same for every such
    # op on a device, so that they group together; the numbers are in the op's estimate.
    reason = (
        f"the ANE could run it, but the cost model keeps it on the {dev.value}: too "
        f"little work to pay an ANE dispatch (~{LAUNCH_MS[Device.ANE]} ms) and the "
        "crossings"
    )
    # The tiny-work effect itself is community-measured (vx-lang/Vx#436); our costs are GUESS.
    return OpPlacement(
        dev,
        supported,
        reason=reason,
        reason_kind=ReasonKind.COST_MODEL,
        evidence=Evidence.GUESS,
        est_time_ms=t,
        rules=rules,
    )
