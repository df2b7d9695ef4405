"""Segments: maximal runs of consecutive ops on the same processor, in execution order.

Const ops hold weights and run nowhere, so they neither start nor break a segment. Each
function (and pipeline stage) is a separate program, so a segment never spans two of them.

Besides its ops' time, each segment carries two estimated costs of its own (`placement/costs.py`),
the ones the partitioner charges: `launch_ms`, the dispatch to enter its processor (at a
function's first segment, Core ML's fixed per-prediction cost as well) and `io_ms`, moving the
model inputs its ops read from the caller (on the CPU) and the outputs they return to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..model.graph import Graph
from ..placement.caller_io import caller_io
from ..placement.costs import hardware_for, launch_cost_ms
from ..placement.devices import ChipProfile, Device
from ..placement.result import OpPlacement


@dataclass(frozen=True)
class Segment:
    index: int
    device: Device
    function: str
    start: int  # graph index of the first op
    end: int  # graph index of the last op (inclusive)
    n_ops: int
    est_time_ms: float
    launch_ms: float = 0.0  # entering the processor (+ per-prediction cost at a function start)
    io_ms: float = 0.0  # model inputs in from the caller, outputs back to it


def find_segments(
    graph: Graph,
    placed: Sequence[OpPlacement],
    chip: ChipProfile | None = None,
    *,
    overheads: bool = True,
) -> list[Segment]:
    """The segments of a placement; launches costed for `chip` (its ANE dispatch), or with the
    default constants when the chip is not known. `overheads=False` leaves launches and model
    I/O at 0: for Core ML's own placements, whose per-op times are shares of the measured
    prediction time, which already holds them."""
    hw = hardware_for(graph, chip)
    segments: list[Segment] = []
    cur: list[int] = []  # graph indices of the open segment
    cur_dev: Device | None = None
    cur_fn = ""
    io = caller_io(graph, [p.device for p in placed], hw) if overheads else {}

    def close() -> None:
        if cur and cur_dev is not None:
            t = sum(placed[i].est_time_ms for i in cur)
            first = not segments or segments[-1].function != cur_fn
            launch = (
                launch_cost_ms(None if first else segments[-1].device, cur_dev, hw)
                if overheads
                else 0.0
            )
            io_ms = sum(io.get(i, 0.0) for i in cur)
            segments.append(
                Segment(len(segments), cur_dev, cur_fn, cur[0], cur[-1], len(cur), t, launch, io_ms)
            )

    for op in graph.ops:
        dev = placed[op.index].device
        if dev is None:
            continue
        if dev != cur_dev or op.function != cur_fn:
            close()
            cur = []
            cur_dev, cur_fn = dev, op.function
        cur.append(op.index)
    close()
    return segments
