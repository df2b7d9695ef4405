"""Crossings: every data edge whose producer and consumer run on different processors.

Each crossing carries the tensor (name, shape, dtype, bytes) and the estimated cost of moving it
(`placement/costs.py`). Whatever the placement's source, that cost is an estimate and is
labelled so in every output.

A tensor moved to a processor once serves every consumer there: only the first such edge
(`moved`) pays the transfer; later ones are listed (they are still edges between processors)
with no cost of their own, so bytes and time are not counted twice.

Most edges stay on one processor (59k edges, 1k crossings at 50k ops): the edges between two
processors are picked out a column at a time, in C (`analysis/inputs.py`), and only they run
Python code (0.17 s -> 0.02 s at 50k ops, profiled; GitHub issue 14).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import and_, attrgetter, is_not, ne

from ..model.graph import Graph, Shape
from ..placement.costs import hardware_for, tensor_bytes
from ..placement.devices import ChipProfile, Device
from ..placement.result import OpPlacement
from .inputs import InputColumns, edges_of


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
    graph: Graph,
    placed: Sequence[OpPlacement],
    chip: ChipProfile | None = None,
    inputs: InputColumns | None = None,
) -> list[Crossing]:
    """Every crossing of `placed`, costed for `graph` on `chip` as the partitioner costs it
    (`costs.hardware_for`: the chip's fp32 IO, NeuralNetwork tensors in fp16 between the
    Neural Engine and the GPU); the chip-less defaults when the chip is not known. `inputs`:
    the graph's `input_columns`, when the caller has them already."""
    hw = hardware_for(graph, chip)
    edges = edges_of(graph, inputs)
    devices = list(map(attrgetter("device"), placed))
    a = list(map(devices.__getitem__, edges.src))
    b = list(map(devices.__getitem__, edges.dst))
    both_placed = map(and_, map(is_not, a, repeat(None)), map(is_not, b, repeat(None)))
    between = map(and_, both_placed, map(ne, a, b))
    tensors = graph.tensors
    out: list[Crossing] = []
    arrived: set[tuple[int, str, Device]] = set()  # (producer, tensor, device) already moved
    for e in compress(range(len(a)), between):
        src, dst, key, src_dev, dst_dev = edges.src[e], edges.dst[e], edges.keys[e], a[e], b[e]
        t = tensors[key]
        nbytes = tensor_bytes(t)
        arrival = (src, t.name, dst_dev)
        moved = arrival not in arrived
        arrived.add(arrival)
        cost = hw.crossing_ms(src_dev, dst_dev, nbytes, t.dtype == "fp32") if moved else 0.0
        out.append(
            Crossing(src, dst, t.name, t.shape, t.dtype, nbytes, src_dev, dst_dev, cost, moved)
        )
    return out
