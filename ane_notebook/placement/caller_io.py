"""What a prediction's caller hands in and takes back: the model inputs each op reads from the
caller (on the CPU) and the outputs it returns there, and what moving them costs.

Split from `costs.py` (the cost model's constants and per-op times); the partitioner and the
report charge these moves alike (docs/evidence.md#costs.MODEL_FORM).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..model.graph import Graph, TensorInfo
from .costs import NOMINAL, HardwareModel, tensor_bytes
from .devices import Device


def returned_outputs(graph: Graph) -> dict[int, list[TensorInfo]]:
    """Graph index of each op producing a model output -> the outputs it hands the caller.

    Model outputs belong to the default (first) function; a name no op of it produces (an
    input passed straight through, a constant) moves nothing.
    """
    fn = graph.functions[0] if graph.functions else "main"
    out: dict[int, list[TensorInfo]] = {}
    for t in dict.fromkeys(graph.outputs):
        src = graph.producer.get((fn, t.name))
        if src is not None and not graph.ops[src].is_const:
            out.setdefault(src, []).append(graph.tensors.get((fn, t.name), t))
    return out


def _caller_reads(graph: Graph) -> list[tuple[int, list[tuple[tuple[str, str], TensorInfo]]]]:
    """The ops (graph index, in order; const ops left out) that read values from the caller,
    each with those values (key and tensor, once each, in input order). They depend on the
    graph alone: inside `Graph.sharing` every report of a comparison reads the same list
    instead of walking every input of every op again (GitHub issue 14)."""

    def make() -> list[tuple[int, list[tuple[tuple[str, str], TensorInfo]]]]:
        tensors, producer = graph.tensors, graph.producer
        found = []
        for op in graph.ops:
            if op.is_const:
                continue
            reads = []
            for name in dict.fromkeys(op.inputs):
                key = (op.function, name)
                t = tensors.get(key)
                if t is not None and key not in producer:
                    reads.append((key, t))
            if reads:
                found.append((op.index, reads))
        return found

    return graph.memo("costs.caller_reads", make)


def caller_io(
    graph: Graph, devices: Sequence[Device | None], hw: HardwareModel = NOMINAL
) -> dict[int, float]:
    """Per op (graph index), the estimated cost of moving model inputs it reads from the caller
    (on the CPU) to its device, and the model outputs it produces back to the caller.

    An input that already reached a device for an earlier op costs nothing more there; the
    partitioner charges the same (`estimate.py` builds its edges and unary from the same
    definitions: a value with a known tensor and no producer comes from the caller).
    """
    arrived: set[tuple[str, str, Device]] = set()
    out: dict[int, float] = {}
    for gi, reads in _caller_reads(graph):
        dev = devices[gi]
        if dev is None or dev is Device.CPU:
            continue
        cost = 0.0
        for key, t in reads:
            if (key[0], key[1], dev) in arrived:
                continue
            arrived.add((key[0], key[1], dev))
            cost += hw.crossing_ms(Device.CPU, dev, tensor_bytes(t), t.dtype == "fp32")
        if cost:
            out[gi] = cost
    for src, ts in returned_outputs(graph).items():
        dev = devices[src]
        if dev is None or dev is Device.CPU:
            continue
        cost = sum(hw.crossing_ms(dev, Device.CPU, tensor_bytes(t), t.dtype == "fp32") for t in ts)
        out[src] = out.get(src, 0.0) + cost
    return out
