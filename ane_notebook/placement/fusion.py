"""Which ops the Neural Engine compiler folds into the engine layer that produces their input.

ANECompiler collapses a biased, activated convolution into one engine layer: every engine
operation (convolution, matrix multiply, pool, elementwise) carries a fixed epilogue of a
pre-affine activation, a per-channel gain/offset unit (GOC) and a post-affine activation, and an
activation or a constant bias/scale that follows such a layer fills one of those slots instead
of running as a layer of its own (RE: sbryngelson/ane-guide part-7-toolchain/22-compiler.md,
"Fusion rules": `ZinNEBypassLayer`, `ScaledEWOrEWWithConstInToGOC`, `SimpleActivation`). An op
folded so costs the ANE no memory round trip and no layer of its own: its output is written
where the producer's would have been. What does not fold (the source's barriers): an
elementwise op with two run-time inputs (the GOC is an affine of one tensor), a producer whose
output is read by more than one op (its value must exist as a tensor), and anything past the
three slots. docs/evidence.md#costs.EPILOGUE_FUSION

Only the ANE column of the cost model reads this (`costs.op_costs`); the GPU and CPU run every
op as it stands.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..model.graph import Graph
from .caller_io import returned_outputs


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Single-input pointwise activations with a mode of the engine's non-linear unit (RE: the
# decoded `NonLinearModeToString` table, ane-guide appendices/c-decoded-tables.md: relu,
# sigmoid, sigmoid_hard, tanh, clamped_relu, relun, prelu, elu, gelu, swish, swish_hard,
# thresholded_relu, ...); `activation` is a NeuralNetwork activation layer.
ACTIVATIONS = _names(
    "relu relu6 clip clamped_relu leaky_relu elu prelu sigmoid sigmoid_hard tanh gelu silu "
    "thresholded_relu activation"
)
# Elementwise ops that become the GOC when all but one input is a constant (bias, scale).
AFFINE = _names("add sub mul real_div batch_norm linear_activation bias scale batchnorm multiply")
# Engine operations: each is one engine layer with the epilogue above.
ENGINE_LAYERS = _names(
    "conv conv_transpose linear matmul einsum avg_pool max_pool l2_pool add sub mul real_div "
    "maximum minimum convolution innerProduct batchedMatmul pooling multiply"
)
# `mul(x, g(x))` with g one of these is the engine's swish / swish_hard mode (the decoded table
# has both): one activation slot of x's producer. That Core ML's compiler matches the two-op
# form (coremltools' torch frontend writes hard-swish as `mul(w, sigmoid_hard(w))`) is GUESS.
_SWISH_GATES = _names("sigmoid sigmoid_hard")
# Only these op types can fold: the rest are at most an engine layer that others fold into.
_MAY_FOLD = ACTIVATIONS | AFFINE
# Epilogue slots in order: pre-GOC activation (1), GOC (2), post-GOC activation (3).
_SLOT_ACT = (1, 3)
_SLOT_GOC = 2


def epilogue_fused(graph: Graph, work: Sequence[int]) -> np.ndarray:
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
        fn = op.function
        out = []
        for n in op.inputs:
            src = producer.get((fn, n))
            if src is None or not ops[src].is_const:
                out.append((fn, n))
        return out

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
        t = op.op_type
        kind, x, gate, x_readers = 0, None, None, 1
        # The operands are only looked at for an op that may fold (GitHub issue 14: about half
        # the ops of an LLM; 0.080 -> 0.060 s CPU at 50k ops, best of 7, side by side).
        live = live_inputs(gi) if t in _MAY_FOLD else []
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
