"""Shape rules for the other layers of the rank-5 era (iOS 11/12), and the recurrent layers.

Element-wise layers, innerProduct, embedding, dot, reduce, loadConstant, reshape, flatten,
permute, concat, split, sequenceRepeat, reorganizeData, slice, custom; and simpleRecurrent,
GRU and the LSTMs, which are rank 5 in both modes. In ND mode the old layers act on the
trailing axes (W = -1, H = -2, C = -3, Batch = -4, Seq = -5).
"""

from __future__ import annotations

from ..graph import Shape
from ..proto import NeuralNetwork_pb2 as _ND
from .dims import MaybeShape, _broadcast, _concat_along, _ints, _prod, _slice_len, _with
from .layer import _chw, _Layer, _rank5

# ---- other old (rank-5 era) layers ---------------------------------------------------------


def _same(L: _Layer) -> list[MaybeShape]:
    return [L.x] * max(L.n_out, 1)


def _elementwise(L: _Layer) -> list[MaybeShape]:
    # add / multiply / average / max / min: one input (with a scalar alpha) or several with
    # limited broadcasting, each dim 1 or equal: the per-axis maximum, right-aligned.
    return [L.x if len(L.ins) <= 1 else _broadcast(L.ins)]


def _inner_product(L: _Layer) -> list[MaybeShape]:
    x, cout = L.x, int(L.p.outputChannels) or None
    if x is None:
        return [None]
    by_rank: dict[int, Shape] = {
        1: (cout,),
        2: (x[0], cout),
        3: (x[0], x[1], cout),
        4: (x[0], cout, 1, 1),
        5: (x[0], x[1], cout, 1, 1),
    }
    return [by_rank.get(len(x))]


def _embedding(L: _Layer) -> list[MaybeShape]:
    x, cout = L.x, int(L.p.outputChannels) or None
    if x is None or len(x) not in (4, 5):
        return [None]
    return [x[:-3] + (cout, 1, 1)]


def _dot(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    return [None if x is None else x[:-3] + (1, 1, 1)]


# ReduceLayerParams.axis: CHW, HW, C, H, W (by enum number: unknown numbers stay unknown).
_REDUCE_AXES = {0: (-3, -2, -1), 1: (-2, -1), 2: (-3,), 3: (-2,), 4: (-1,)}


def _reduce(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    if x is None:
        return [None]
    axes = _REDUCE_AXES.get(int(L.p.axis))
    if axes is None:
        return [None]
    out = x
    for a in axes:
        out = _with(out, a, 1)
    return [out]


def _load_constant(L: _Layer) -> list[MaybeShape]:
    shape = _ints(L.p.shape)
    return [(1, 1, *shape) if shape is not None and len(shape) == 3 else None]


def _reshape(L: _Layer) -> list[MaybeShape]:
    target = _ints(L.p.targetShape)
    x = L.x if L.x is not None and len(L.x) == 5 else None
    if target is None or any(t <= 0 for t in target):
        return [None]
    seq, batch = (x[0], x[1]) if x is not None else (None, None)
    if len(target) == 3:  # sequence length preserved
        return [(seq, batch, *target)]
    if len(target) == 4:
        return [(target[0], batch, *target[1:])]
    return [None]


def _flatten(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    return [None if x is None else x[:-3] + (_prod(x[-3:]), 1, 1)]


def _permute(L: _Layer) -> list[MaybeShape]:
    x = _rank5(L.x)
    axes = _ints(L.p.axis) or ()
    if x is None:
        return [None]
    if not axes:
        return [x]
    if sorted(axes) != [0, 1, 2, 3]:
        return [None]
    d = (x[0], x[2], x[3], x[4])  # S, C, H, W; the batch axis never moves
    return [(d[axes[0]], x[1], d[axes[1]], d[axes[2]], d[axes[3]])]


def _concat(L: _Layer) -> list[MaybeShape]:
    axis = -5 if L.p.sequenceConcat else -3
    return [_concat_along(L.ins, axis)]


def _split(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    n = int(L.p.nOutputs) or L.n_out
    if x is None or n <= 0:
        return [None] * L.n_out
    c = x[-3]
    return [_with(x, -3, None if c is None else c // n)] * L.n_out


def _sequence_repeat(L: _Layer) -> list[MaybeShape]:
    x = _rank5(L.x)
    n = int(L.p.nRepetitions) or 1
    return [None if x is None else _with(x, 0, None if x[0] is None else x[0] * n)]


def _reorganize(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    bs = int(L.p.blockSize)
    if x is None or bs < 2:
        return [None]
    c, h, w = x[-3:]
    if L.p.mode == _ND.ReorganizeDataLayerParams.SPACE_TO_DEPTH:
        dims = (
            None if c is None else c * bs * bs,
            None if h is None else h // bs,
            None if w is None else w // bs,
        )
    else:  # DEPTH_TO_SPACE and PIXEL_SHUFFLE
        dims = (
            None if c is None else c // (bs * bs),
            None if h is None else h * bs,
            None if w is None else w * bs,
        )
    return [x[:-3] + dims]


_SLICE_AXIS = {0: -3, 1: -2, 2: -1}  # CHANNEL_AXIS, HEIGHT_AXIS, WIDTH_AXIS


def _slice(L: _Layer) -> list[MaybeShape]:
    x = _chw(L.x)
    axis = _SLICE_AXIS.get(int(L.p.axis))
    if x is None or axis is None:
        return [None]
    start, end, step = int(L.p.startIndex), int(L.p.endIndex), int(L.p.stride) or 1
    # endIndex 0: Core ML's C++ shaper reads "to the end", numpy slicing (the proto's
    # [start, end)) an empty range. The sources disagree: the size stays unknown.
    n = None if end == 0 else _slice_len(x[axis], start, end, step)
    return [_with(x, axis, n)]


def _unknown(L: _Layer) -> list[MaybeShape]:
    return [None] * L.n_out


# ---- recurrent layers (rank 5 in both modes; NeuralNetwork.proto) --------------------------


def _recurrent(L: _Layer) -> list[MaybeShape]:
    kind = L.layer.WhichOneof("layer")
    p = L.p
    x = _rank5(L.x)
    seq_len, batch = (x[0], x[1]) if x is not None else (None, None)
    hidden = int(p.outputVectorSize) or None
    if kind in ("uniDirectionalLSTM", "biDirectionalLSTM"):
        sequence_output = bool(p.params.sequenceOutput)
    else:
        sequence_output = bool(p.sequenceOutput)
    steps = seq_len if sequence_output else 1
    state: Shape = (1, batch, hidden, 1, 1)
    if kind == "biDirectionalLSTM":
        both = None if hidden is None else 2 * hidden
        return [(steps, batch, both, 1, 1)] + [state] * max(L.n_out - 1, 0)
    return [(steps, batch, hidden, 1, 1)] + [state] * max(L.n_out - 1, 0)
