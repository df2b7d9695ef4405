"""Crossings: every data edge whose producer and consumer run on different processors.

Each crossing carries the tensor (name, shape, dtype, bytes) and the estimated cost of moving it
(`placement/costs.py`). Whatever the placement's source, that cost is an estimate and is
labelled so in every output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..model.graph import Graph, Shape
from ..placement.costs import crossing_cost_ms, tensor_bytes
from ..placement.devices import Device
from ..placement.result import OpPlacement


@dataclass(frozen=True)
class Crossing:
    src: int  # graph index of the producer
    dst: int  # graph index of the consumer
    tensor: str
    shape: Shape | None
    dtype: str
    bytes: int
    src_device: Device
    dst_device: Device
    est_cost_ms: float


def find_crossings(graph: Graph, placed: Sequence[OpPlacement]) -> list[Crossing]:
    out: list[Crossing] = []
    for src, dst, t in graph.edges():
        a, b = placed[src].device, placed[dst].device
        if a is None or b is None or a == b:
            continue
        nbytes = tensor_bytes(t)
        out.append(Crossing(src, dst, t.name, t.shape, t.dtype, nbytes, a, b,
                            crossing_cost_ms(a, b, nbytes, t.dtype == "fp32")))
    return out
