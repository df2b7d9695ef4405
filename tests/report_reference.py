"""The report's per-op records, links and crossings as report.py and analysis/crossings.py
made them before issue 14's column-at-a-time pass (commit 66e2c78), kept as the plain
reference tests/test_report_fastpaths.py holds `report_build` and `find_crossings` to: one op,
one input, one edge at a time. Only the imports changed (absolute) and the graph's edges are
walked through `Graph.edges`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ane_notebook.analysis.crossings import Crossing
from ane_notebook.model.graph import Graph
from ane_notebook.placement.costs import hardware_for, tensor_bytes
from ane_notebook.placement.devices import DEVICE_ORDER, ChipProfile, Device
from ane_notebook.placement.result import OpPlacement
from ane_notebook.report import OpRecord, TensorRecord


def op_links(graph: Graph) -> list[tuple[tuple[int, ...], tuple[TensorRecord, ...]]]:
    producer = graph.producer
    reads = [
        tuple(
            dict.fromkeys(
                src
                for name in op.inputs
                if (src := producer.get((op.function, name))) is not None and src != op.index
            )
        )
        for op in graph.ops
    ]
    outputs = [
        tuple(TensorRecord(t.name, t.shape, t.dtype) for t in op.outputs) for op in graph.ops
    ]
    return list(zip(reads, outputs, strict=True))


def records(
    graph: Graph,
    placed: Sequence[OpPlacement],
    kept: dict[int, tuple[OpPlacement, Any]] | None = None,
    by_value: bool = False,
) -> list[OpRecord]:
    """`kept` (`report_build.KeptRecords`, plainly): op index -> the placement and record of
    the latest report; an op placed by the same object (`by_value`: an equal one) takes it."""
    out = []
    lanes: dict[frozenset[Device], tuple[Device, ...]] = {}
    for op, p, (ins, outputs) in zip(graph.ops, placed, op_links(graph), strict=True):
        if kept is not None:
            hit = kept.get(op.index)
            if hit is not None and (hit[0] is p or (by_value and hit[0] == p)):
                out.append(hit[1])
                continue
        supported = lanes.get(p.supported)
        if supported is None:
            supported = lanes[p.supported] = tuple(d for d in DEVICE_ORDER if d in p.supported)
        out.append(
            OpRecord(
                index=op.index,
                name=op.name,
                op_type=op.op_type,
                function=op.function,
                device=p.device,
                supported=supported,
                reason=p.reason,
                reason_kind=p.reason_kind,
                evidence=p.evidence,
                est_time_ms=float(p.est_time_ms),
                outputs=outputs,
                inputs=ins,
                is_const=op.is_const and p.device is None,
                block=op.block,
                rules=p.rules,
                cost_weight=p.cost_weight,
                contested=p.contested,
                alt_device=p.alt_device,
                shape_unknown=p.shape_unknown,
                estimate=p.estimate,
                cost_driver=p.cost_driver,
            )
        )
        if kept is not None:
            kept[op.index] = (p, out[-1])
    return out


def find_crossings(
    graph: Graph, placed: Sequence[OpPlacement], chip: ChipProfile | None = None
) -> list[Crossing]:
    hw = hardware_for(graph, chip)
    out: list[Crossing] = []
    arrived: set[tuple[int, str, Device]] = set()
    for src, dst, t in graph.edges():
        a, b = placed[src].device, placed[dst].device
        if a is None or b is None or a == b:
            continue
        nbytes = tensor_bytes(t)
        key = (src, t.name, b)
        moved = key not in arrived
        arrived.add(key)
        cost = hw.crossing_ms(a, b, nbytes, t.dtype == "fp32") if moved else 0.0
        out.append(Crossing(src, dst, t.name, t.shape, t.dtype, nbytes, a, b, cost, moved))
    return out
