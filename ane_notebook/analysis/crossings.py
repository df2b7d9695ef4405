"""Crossings: every data edge whose producer and consumer run on different processors.

Each crossing carries the tensor (name, shape, dtype, bytes) and the estimated cost of moving it
(`placement/costs.py`). Whatever the placement's source, that cost is an estimate and is
labelled so in every output.

A tensor moved to a processor once serves every consumer there: only the first such edge
(`moved`) pays the transfer; later ones are listed (they are still edges between processors)
with no cost of their own, so bytes and time are not counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..model.graph import Graph, Shape
from ..placement.costs import hardware_for, tensor_bytes
from ..placement.devices import ChipProfile, Device
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
    moved: bool = True  # False: the tensor already reached dst_device for an earlier consumer


def find_crossings(
    graph: Graph, placed: Sequence[OpPlacement], chip: ChipProfile | None = None
) -> list[Crossing]:
    """Every crossing of `placed`, costed for `graph` on `chip` as the partitioner costs it
    (`costs.hardware_for`: the chip's fp32 IO, NeuralNetwork tensors in fp16 between the
    Neural Engine and the GPU); the chip-less defaults when the chip is not known."""
    hw = hardware_for(graph, chip)
    out: list[Crossing] = []
    arrived: set[tuple[int, str, Device]] = set()  # (producer, tensor, device) already moved
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
