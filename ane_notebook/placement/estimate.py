"""The `estimate` backend: where Core ML would likely run each op, from rules and costs alone.

Steps:
1. the rule table (`rules.py`) gives each op the devices it could run on, and why not others;
2. the cost model (`costs.py`) gives each op's time on each processor;
3. a partitioner picks one device per op from (supported devices) ∩ (compute units),
   minimising total time including processor switches and tensor crossings;
4. each op off the Neural Engine is explained (the rule that excludes it, the compute units, or
   which cost decided), and the uncertainty is worked out (`uncertainty.py`): where ops would
   go under the other reading of contested rules and at the ends of the constants' spread.

The partitioner (`partition.py`) is a dynamic programme over execution order; see there.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from .._gc import gc_paused
from ..model.graph import Graph, TensorInfo
from .caller_io import returned_outputs
from .cost_drivers import Decision, cost_drivers, cost_reason
from .costs import (
    DEVICE_COLUMNS,
    NOMINAL,
    UNKNOWN_TENSOR_BYTES,
    HardwareModel,
    OpCosts,
    costs_from_work,
    hardware_for,
    known_bytes,
    op_costs,
    tensor_bytes,
)
from .devices import EVIDENCE_RANK, ChipProfile, ComputeUnits, Device, Evidence, get_chip
from .fusion import epilogue_fused
from .partition import Edge, Refiner, partition
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
_ANE = _COL[Device.ANE]
_CPU = _COL[Device.CPU]
# Appended to the reason of an op off the ANE whose tensors have unknown sizes: its costs
# (``UNKNOWN_TENSOR_BYTES` per such tensor) may be what kept it off.
SHAPE_UNKNOWN_CLAUSE = "shape unknown: cost not sized"
_WARNING_EXAMPLES = 5  # op indices listed with the shape_unknown warning


_ALL_DEVICES = frozenset(Device)


class _Given(NamedTuple):
    """What one op's explanation takes from the rules (`Problem.givens`)."""

    supported: frozenset[Device]
    rules: tuple[str, ...]  # ids of the rules that fired
    ane_evidence: Evidence  # that its op type runs on the ANE at all (the rule table)
    excluded: tuple[str, Evidence] | None  # reason and weakest evidence of the ANE exclusion


@dataclass(frozen=True)
class Problem:
    """What the partitioner sees for one graph on one chip, before the compute units.

    `work` lists the graph indices of the ops that run (not const), in order; row k of every
    array is op `work[k]`. `supported[k, j]`: the rules let op k run on device column j.
    `edges`, `tensors`, `functions`: as `partition` takes them. `returned[k]`: the model
    outputs op k hands back to the caller, as (bytes, is_fp32). `dispatches[k]`: ANE calls op k
    needs (a split kernel needs several; each past the first costs one more ANE launch).
    `unsized`: graph indices of ops costed with a tensor of unknown size.
    """

    graph: Graph
    chip: ChipProfile
    work: list[int]
    pos: dict[int, int]
    support: list[OpSupport | None]
    supported: np.ndarray
    edges: list[list[Edge]]
    tensors: list[list[Hashable]]
    functions: list[str]
    returned: dict[int, list[tuple[int, bool]]]
    costs: OpCosts
    dispatches: np.ndarray
    unsized: frozenset[int]

    @cached_property
    def refiner(self) -> Refiner:
        """The partitioner's edge tables for this problem, shared by `partition` and the
        uncertainty's readings under every compute-unit setting."""
        return Refiner(self.edges, self.functions, self.tensors)

    @cached_property
    def givens(self) -> list[_Given]:
        """Per working op (row k), what its explanation takes from the rules alone: they do
        not depend on the compute units, so a comparison's four settings share them."""
        ctx = RuleContext(self.graph, self.chip)
        out: list[_Given] = []
        for gi in self.work:
            op = self.graph.ops[gi]
            sup = self.support[gi]
            findings = sup.findings if sup is not None else ()
            capable = ANE_CAPABLE.get(ctx.format_of(op), {}).get(op.op_type)
            ane_findings = [f for f in findings if Device.ANE in f.excludes]
            excluded = None
            if ane_findings:
                excluded = (
                    "; ".join(dict.fromkeys(f.reason for f in ane_findings)),
                    min((f.rule.evidence for f in ane_findings), key=lambda e: EVIDENCE_RANK[e]),
                )
            out.append(
                _Given(
                    sup.supported if sup is not None else _ALL_DEVICES,
                    tuple(f.rule.id for f in findings),
                    capable[0] if capable is not None else Evidence.GUESS,
                    excluded,
                )
            )
        return out

    @cached_property
    def contested_off_ane(self) -> np.ndarray:
        """Per row: kept off the ANE only by contested rules (`uncertainty.contested_exclusion`)."""
        from .uncertainty import contested_exclusion  # it imports this module's types

        return np.array([contested_exclusion(self.support[gi]) for gi in self.work], dtype=bool)

    @cached_property
    def guessed_on_ane(self) -> np.ndarray:
        """Per row: its op type is only guessed to run on the ANE (`ANE_CAPABLE`)."""
        return np.array([g.ane_evidence is Evidence.GUESS for g in self.givens], dtype=bool)

    def driver_tables(
        self,
    ) -> tuple[
        list[bool], dict[int, list[tuple[int, int, bool, Hashable]]], dict[Hashable, list[int]]
    ]:
        """For `cost_drivers`, from the graph alone: per row, does a function start there;
        per producer row, its consumers (row, bytes, is_fp32, tensor); per tensor, every row
        reading it (model inputs too). Kept for the next setting inside `Graph.sharing` only:
        a lone estimate frees them before it builds its placements (peak memory)."""
        return self.graph.memo(("estimate.driver_tables", self.chip), self._driver_tables)

    def _driver_tables(
        self,
    ) -> tuple[
        list[bool], dict[int, list[tuple[int, int, bool, Hashable]]], dict[Hashable, list[int]]
    ]:
        n = len(self.work)
        starts = [k == 0 or self.functions[k] != self.functions[k - 1] for k in range(n)]
        consumers: dict[int, list[tuple[int, int, bool, Hashable]]] = {}
        readers: dict[Hashable, list[int]] = {}
        for k, ek in enumerate(self.edges):
            for (src, nb, fp), t in zip(ek, self.tensors[k], strict=True):
                readers.setdefault(t, []).append(k)
                if src >= 0:
                    consumers.setdefault(src, []).append((k, nb, fp, t))
        return starts, consumers, readers

    def costs_for(self, hw: HardwareModel) -> OpCosts:
        """Per-op times under another reading of the constants (same work)."""
        if hw.rates_key() == NOMINAL.rates_key():
            return self.costs
        c = self.costs
        return costs_from_work(
            c.flops,
            c.act_bytes,
            c.act_bytes_accel,
            c.weight_bytes,
            self.chip,
            hw,
            c.ane_fused,
            c.act_max_accel,
        )

    def op_times(self, hw: HardwareModel) -> np.ndarray:
        """Each op's time on each processor as reported: its work, and on the ANE one more
        launch per extra call for an op the ANE runs in several (docs/evidence.md#conv.kernel)."""
        times: np.ndarray = self.costs_for(hw).time_ms.copy()
        times[:, _ANE] += (self.dispatches - 1) * hw.launch_ms[Device.ANE]
        return times

    def unary(
        self,
        compute_units: ComputeUnits,
        hw: HardwareModel = NOMINAL,
        supported: np.ndarray | None = None,
    ) -> np.ndarray:
        """Op times the partitioner minimises over (inf where a device is not allowed), with
        the model outputs' return to the caller charged to their producers."""
        allowed = (self.supported if supported is None else supported).copy()
        for d in Device:
            if d not in compute_units.devices:
                allowed[:, _COL[d]] = False
        # The CPU can run everything (the rule table never excludes it) and every compute-unit
        # setting includes it, so each op always has a device.
        allowed[:, _CPU] = True
        times = self.op_times(hw)
        # Model outputs go back to the caller on the CPU: returning one from another processor
        # is a crossing that depends only on the producer's device.
        for k, outs in self.returned.items():
            for j, d in enumerate(DEVICE_COLUMNS):
                times[k, j] += sum(hw.crossing_ms(d, Device.CPU, b, fp) for b, fp in outs)
        return np.where(allowed, times, _INF)


def build_problem(graph: Graph, chip: ChipProfile | str | None = None) -> Problem:
    """The partitioner's input for `graph` on `chip` (rules and nominal costs applied).

    Built once per graph and chip inside `Graph.sharing` (the compute units do not change
    it, and a comparison estimates the same graph under four of them; GitHub issue 14).
    """
    profile = get_chip(chip)
    return graph.memo(("estimate.Problem", profile), lambda: _build_problem(graph, profile))


def _build_problem(graph: Graph, profile: ChipProfile) -> Problem:
    support = support_for_graph(graph, profile)
    work = [op.index for op in graph.ops if not op.is_const]
    pos = {gi: k for k, gi in enumerate(work)}
    tensors = graph.tensors
    producer = graph.producer

    # Inputs of each working op (run-time values and weights), and the edges the partitioner
    # charges: (producer position or -1 for the caller on the CPU, bytes, is_fp32), with the
    # tensor each edge carries (a tensor moved to a processor once serves all its readers).
    activations: list[list[TensorInfo | None]] = []
    weights: list[list[TensorInfo | None]] = []
    edges: list[list[Edge]] = []
    carried: list[list[Hashable]] = []
    unsized: set[int] = set()  # graph indices of ops costed with a tensor of unknown size
    for gi in work:
        op = graph.ops[gi]
        acts: list[TensorInfo | None] = []
        ws: list[TensorInfo | None] = []
        ek: list[Edge] = []
        tk: list[Hashable] = []
        sized = True  # every activation's size known
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
            nb = known_bytes(t)  # read once: for the edge and for `unsized`
            if nb is None:
                nb = tensor_bytes(None)  # the count `tensor_bytes` gives an unknown size
                sized = False
            ek.append((src_pos, nb, t is not None and t.dtype == "fp32"))
            tk.append(key)
        activations.append(acts)
        weights.append(ws)
        edges.append(ek)
        carried.append(tk)
        # The activations' sizes were read for the edges above: only the weights and the
        # outputs are left to look at (GitHub issue 14: one nbytes per tensor, not two).
        if not sized or any(known_bytes(t) is None for t in (*ws, *op.outputs)):
            unsized.add(gi)

    costs = op_costs(
        [graph.ops[gi] for gi in work],
        activations,
        weights,
        profile,
        ane_fused=epilogue_fused(graph, work),
    )
    supported = np.zeros((len(work), len(DEVICE_COLUMNS)), dtype=bool)
    dispatches = np.ones(len(work))
    for k, gi in enumerate(work):
        sup = support[gi]
        for d in sup.supported if sup is not None else frozenset(Device):
            supported[k, _COL[d]] = True
        if sup is not None:
            dispatches[k] = max(1, sup.ane_dispatches)
    returned = {
        pos[gi]: [(tensor_bytes(t), t.dtype == "fp32") for t in ts]
        for gi, ts in returned_outputs(graph).items()
    }
    functions = [graph.ops[gi].function for gi in work]
    supported.flags.writeable = False  # shared by every estimate of this graph and chip
    dispatches.flags.writeable = False
    return Problem(
        graph,
        profile,
        work,
        pos,
        support,
        supported,
        edges,
        carried,
        functions,
        returned,
        costs,
        dispatches,
        frozenset(unsized),
    )


@gc_paused()  # many small objects per op on big models: see _gc.py
def estimate(
    graph: Graph,
    compute_units: ComputeUnits | str = ComputeUnits.ALL,
    chip: ChipProfile | str | None = None,
) -> Placement:
    """Estimate the placement of every op of `graph` under `compute_units` on `chip`."""
    from .uncertainty import alternatives, uncertainty_of

    cu = ComputeUnits.parse(compute_units)
    problem = build_problem(graph, chip)
    profile = problem.chip
    hw = hardware_for(graph, profile)
    unary = problem.unary(cu, hw)
    assign = partition(
        unary, problem.edges, problem.functions, problem.tensors, hw=hw, tables=problem.refiner
    )
    alts = alternatives(problem, cu, assign)
    contested_rows, alt_rows = alts.per_op(assign)
    times = problem.op_times(hw)
    decided = cost_drivers(problem, unary, times, assign, hw)
    givens = problem.givens

    ops: list[OpPlacement] = []
    for op in graph.ops:
        if op.is_const:
            ops.append(_CONSTANT)  # immutable: one for every constant op
            continue
        k = problem.pos[op.index]
        col = assign[k]
        p = _explain(
            givens[k],
            DEVICE_COLUMNS[col],
            cu,
            float(times[k, col]),
            decided.get(k),
            contested=contested_rows[k],
            alt_device=alt_rows.get(k),
        )
        if op.index in problem.unsized:
            p = _shape_unknown(p)
        ops.append(p)

    metadata = {
        "backend": "estimate",
        "per_op_time": "estimated by the cost model (not measured)",
        "chip_sources": profile.sources,
    }
    warnings: tuple[ReportWarning, ...] = ()
    if problem.unsized:
        n = len(problem.unsized)
        warnings = (
            ReportWarning(
                WarningKind.SHAPE_UNKNOWN,
                f"{n} op{'s' if n != 1 else ''} read or write tensors of unknown size: "
                f"their costs are not sized (each such tensor counted as "
                f"{UNKNOWN_TENSOR_BYTES // 1024} KB)",
                n,
                tuple(sorted(problem.unsized)[:_WARNING_EXAMPLES]),
            ),
        )
    return Placement(
        source=PlacementSource.ESTIMATE,
        compute_units=cu,
        chip=profile.name,
        ops=tuple(ops),
        metadata=metadata,
        warnings=warnings,
        uncertainty=uncertainty_of(problem, cu, assign, alts),
    )


_CONSTANT = OpPlacement(
    device=None, supported=frozenset(), reason=CONSTANT_REASON, reason_kind=ReasonKind.CONSTANT
)


def _shape_unknown(p: OpPlacement) -> OpPlacement:
    """`p` marked as costed without known shapes; off the ANE the reason says so."""
    if p.device == Device.ANE:
        return replace(p, shape_unknown=True)
    reason = f"{p.reason}; {SHAPE_UNKNOWN_CLAUSE}" if p.reason else SHAPE_UNKNOWN_CLAUSE
    return replace(p, shape_unknown=True, reason=reason)


_PLACEMENT_DEFAULTS = {
    f.name: f.default for f in fields(OpPlacement) if f.default is not dataclasses.MISSING
}
_new = object.__new__
_set = object.__setattr__


def _placed(device: Device, supported: frozenset[Device], **given: Any) -> OpPlacement:
    """`OpPlacement(device, supported, **given)` without the frozen dataclass's generated
    ``__init__``, which sets each of its 13 fields through ``object.__setattr__``: 3x slower,
    ~0.04 s per 25k placed ops per compute-unit setting (GitHub issue 14).
    tests/test_estimate.py checks that the placements are those the constructor makes."""
    p: OpPlacement = _new(OpPlacement)
    _set(p, "__dict__", {"device": device, "supported": supported, **_PLACEMENT_DEFAULTS, **given})
    return p


def _explain(
    given: _Given,
    dev: Device,
    cu: ComputeUnits,
    t: float,
    decision: Decision | None = None,
    *,
    contested: bool = False,
    alt_device: Device | None = None,
) -> OpPlacement:
    """Reason and evidence for one placed op (and how sure it is: `uncertainty.py`); `t` is
    its estimated time on `dev`."""
    supported, rules, ane_evidence, excluded = given
    if dev == Device.ANE:
        # The evidence that this op type runs on the ANE at all, from the rule table.
        return _placed(
            dev,
            supported,
            reason_kind=ReasonKind.ON_ANE,
            evidence=ane_evidence,
            est_time_ms=t,
            rules=rules,
            contested=contested,
            alt_device=alt_device,
        )
    if excluded is not None:
        reason, ev = excluded
        return _placed(
            dev,
            supported,
            reason=reason,
            reason_kind=ReasonKind.RULE,
            evidence=ev,
            est_time_ms=t,
            rules=rules,
            contested=contested,
            alt_device=alt_device,
        )
    if Device.ANE not in cu.devices:
        return _placed(
            dev,
            supported,
            reason=f"the compute units ({cu.value}) exclude the Neural Engine",
            reason_kind=ReasonKind.COMPUTE_UNITS,
            evidence=Evidence.OFFICIAL,
            est_time_ms=t,
            rules=rules,
            contested=contested,
            alt_device=alt_device,
        )
    # The ANE could run it: the cost model chose otherwise, and says which cost decided. The
    # tiny-work effect itself is community-measured (vx-lang/Vx#436); the calibration is ours.
    return _placed(
        dev,
        supported,
        reason=cost_reason(dev, decision),
        reason_kind=ReasonKind.COST_MODEL,
        evidence=Evidence.GUESS,
        est_time_ms=t,
        rules=rules,
        cost_driver=None if decision is None else decision.driver,
        contested=contested,
        alt_device=alt_device,
    )


__all__ = ["Problem", "build_problem", "estimate"]
