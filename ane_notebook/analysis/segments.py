"""Segments: maximal runs of consecutive ops on the same processor, in execution order.

Const ops hold weights and run nowhere, so they neither start nor break a segment. Each
function (and pipeline stage) is a separate program, so a segment never spans two of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..model.graph import Graph
from ..placement.devices import Device
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


def find_segments(graph: Graph, placed: Sequence[OpPlacement]) -> list[Segment]:
    segments: list[Segment] = []
    cur: list[int] = []  # graph indices of the open segment
    cur_dev: Device | None = None
    cur_fn = ""

    def close() -> None:
        if cur and cur_dev is not None:
            t = sum(placed[i].est_time_ms for i in cur)
            segments.append(Segment(len(segments), cur_dev, cur_fn, cur[0], cur[-1], len(cur), t))

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
