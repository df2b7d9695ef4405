"""`fusion.epilogue_fused` as it was before its fast path (GitHub issue 14), the reference
tests/test_fusion_fastpaths.py holds it to: every op's operands looked at, whatever its type."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ane_notebook.model.graph import Graph
from ane_notebook.placement.caller_io import returned_outputs
from ane_notebook.placement.fusion import (
    _SLOT_ACT,
    _SLOT_GOC,
    _SWISH_GATES,
    ACTIVATIONS,
    AFFINE,
    ENGINE_LAYERS,
)


def ref_epilogue_fused(graph: Graph, work: Sequence[int]) -> np.ndarray:
    """Per working op (graph indices `work`, in order), True when the ANE compiler folds it
    into the epilogue of the engine layer that produces its one run-time input."""
    ops = graph.ops
    producer = graph.producer
    readers: dict[tuple[str, str], int] = {}
    for gi in work:
        op = ops[gi]
        for name in dict.fromkeys(op.inputs):
            key = (op.function, name)
            readers[key] = readers.get(key, 0) + 1
    # a model output must exist as a tensor: its producer's epilogue cannot swallow it
    returned = {
        (ops[src].function, t.name)
        for src, tensors in returned_outputs(graph).items()
        for t in tensors
    }
    pos = {gi: k for k, gi in enumerate(work)}

    def live_inputs(gi: int) -> list[tuple[str, str]]:
        """The op's run-time operands, repeats kept: `mul(x, x)` has two (a square is a
        two-input elementwise layer, not a gain of x)."""
        op = ops[gi]
        keys = [(op.function, n) for n in op.inputs]
        return [k for k in keys if k not in producer or not ops[producer[k]].is_const]

    def per_channel_constants(gi: int) -> bool:
        """Every constant operand a scalar or a vector along one axis: what a gain/offset unit
        holds (a constant as large as the activation is a second tensor, not a gain)."""
        op = ops[gi]
        for n in op.inputs:
            src = producer.get((op.function, n))
            if src is None or not ops[src].is_const:
                continue
            shape = ops[src].outputs[0].shape if ops[src].outputs else None
            if shape is None or sum(1 for d in shape if d is None or d > 1) > 1:
                return False
        return True

    slot: dict[int, int] = {}  # graph index -> last epilogue slot filled (0: an engine layer)
    fused = np.zeros(len(work), dtype=bool)
    for k, gi in enumerate(work):
        op = ops[gi]
        live = live_inputs(gi)
        t = op.op_type
        kind, x, gate, x_readers = 0, None, None, 1
        if len(op.outputs) == 1 and len(live) == 1:
            x = live[0]
            if t in ACTIVATIONS:
                kind = 1
            elif t in AFFINE and per_channel_constants(gi):
                kind = _SLOT_GOC
        elif t == "mul" and len(live) == 2:
            for a, b in (live, live[::-1]):
                g = producer.get(b)
                if g is not None and ops[g].op_type in _SWISH_GATES and live_inputs(g) == [a]:
                    kind, x, gate, x_readers = 1, a, g, 2  # x is read by the gate and the mul
                    break
        if kind and x is not None:
            src = producer.get(x)
            # an epilogue belongs to its layer's own block: no fold across a control-flow body
            same_block = src is not None and ops[src].block == op.block
            before = slot.get(src, -1) if src is not None and same_block else -1
            lone = readers.get(x, 0) == x_readers and x not in returned
            if gate is not None:
                lone = lone and readers.get((op.function, ops[gate].outputs[0].name), 0) == 1
            nxt = next((s for s in (_SLOT_ACT if kind == 1 else (_SLOT_GOC,)) if s > before), -1)
            if before >= 0 and lone and nxt > 0:
                fused[k] = True
                if gate is not None:
                    fused[pos[gate]] = True
                slot[gi] = nxt
                continue
        if t in ENGINE_LAYERS and len(op.outputs) == 1:
            slot[gi] = 0
    return fused
