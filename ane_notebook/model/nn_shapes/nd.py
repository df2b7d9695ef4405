"""Shape rules for the ND layers (iOS 13+, numpy-style).

Broadcasting arithmetic, expand/squeeze, the reshapes, transpose, concat/split/stack, tile,
the slices, padding, the static and dynamic fills and random layers, range, batchedMatmul,
gather, the reductions, topK, oneHot, NMS and the control-flow layers. Rules whose output is
shaped by an input's *values* (a shape vector computed at run time) read `_Layer.vals`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..limits import MAX_CONST_ELEMENTS, MAX_RANK
from .dims import (
    Dim,
    MaybeShape,
    _axis,
    _broadcast,
    _concat_along,
    _fill,
    _ints,
    _prod,
    _slice_len,
    _with,
)
from .layer import Rule, _Layer

# ---- ND layers (iOS 13+; numpy-style) -----------------------------------------------------


def _nd_broadcast(L: _Layer) -> list[MaybeShape]:
    return [L.x if len(L.ins) <= 1 else _broadcast(L.ins)]


def _expand_dims(L: _Layer) -> list[MaybeShape]:
    x, axes = L.x, _ints(L.p.axes)
    if x is None or not axes:
        return [None]
    rank = len(x) + len(axes)
    norm = {_axis(a, rank) for a in axes}
    if None in norm or len(norm) != len(axes):
        return [None]
    dims = iter(x)
    return [tuple(1 if i in norm else next(dims) for i in range(rank))]


def _squeeze(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    if L.p.squeezeAll:
        if None in x:
            return [None]  # which axes are 1 is unknown, so is the rank
        out = tuple(d for d in x if d != 1)
    else:
        axes = _ints(L.p.axes)
        if axes is None:
            return [None]
        drop = {_axis(a, len(x)) for a in axes}
        if None in drop:
            return [None]
        out = tuple(d for i, d in enumerate(x) if i not in drop)
    return [out if out and len(x) > 1 else (1,)]


def _flatten_to_2d(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    a = _axis(int(L.p.axis), len(x))
    if a is None:
        return [None]
    return [(_prod(x[:a]), _prod(x[a:]))]


def _reshaped(x: MaybeShape, target: Sequence[Dim], keep_zero: bool) -> MaybeShape:
    """`target` with a 0 kept from `x` (rank-preserving reshape) and one -1 inferred."""
    out: list[Dim] = []
    for i, t in enumerate(target):
        if t == 0 and keep_zero:
            out.append(x[i] if x is not None and i < len(x) else None)
        else:
            out.append(t)
    if out.count(-1) > 1 or any(d is not None and d < -1 for d in out):
        return None
    if -1 in out:
        total = _prod(x) if x is not None else None
        rest = _prod(d for d in out if d != -1)
        i = out.index(-1)
        out[i] = None if total is None or not rest else total // rest
    return tuple(out)


def _reshape_static(L: _Layer) -> list[MaybeShape]:
    target = _ints(L.p.targetShape)
    if target is None or 0 in target:
        return [None]  # the converters never write 0 here; its meaning is not documented
    return [_reshaped(L.x, target, keep_zero=False)]


def _rank_preserving_reshape(L: _Layer) -> list[MaybeShape]:
    target = _ints(L.p.targetShape)
    if target is None or (L.x is not None and len(target) != len(L.x)):
        return [None]
    return [_reshaped(L.x, target, keep_zero=True)]


def _reshape_dynamic(L: _Layer) -> list[MaybeShape]:
    target = L.vals[1] if len(L.vals) > 1 else None
    if target is None:
        spec = L.ins[1] if len(L.ins) > 1 else None
        n = spec[0] if spec is not None and len(spec) == 1 else None
        return [None if n is None or n > MAX_RANK else (None,) * n]
    if 0 in target:
        return [None]
    return [_reshaped(L.x, target, keep_zero=False)]


def _second_input_shape(L: _Layer) -> list[MaybeShape]:
    return [L.ins[1] if len(L.ins) > 1 else None]


def _shape_from_values(L: _Layer, index: int) -> list[MaybeShape]:
    """Output shaped by the values of input `index` (a shape vector computed at run time)."""
    vals = L.vals[index] if len(L.vals) > index else None
    if vals is not None:
        return [vals]
    spec = L.ins[index] if len(L.ins) > index else None
    n = spec[0] if spec is not None and len(spec) == 1 else None
    return [None if n is None or n > MAX_RANK else (None,) * n]


def _transpose(L: _Layer) -> list[MaybeShape]:
    x, axes = L.x, _ints(L.p.axes)
    if x is None or axes is None or sorted(axes) != list(range(len(x))):
        return [None]
    return [tuple(x[a] for a in axes)]


def _concat_nd(L: _Layer) -> list[MaybeShape]:
    return [_concat_along(L.ins, int(L.p.axis))]


def _split_nd(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None] * L.n_out
    a = _axis(int(L.p.axis), len(x))
    if a is None:
        return [None] * L.n_out
    sizes = _ints(L.p.splitSizes, limit=MAX_CONST_ELEMENTS)
    if sizes:
        return [_with(x, a, s) for s in sizes[: L.n_out]]
    n = int(L.p.numSplits) or L.n_out
    d = x[a]
    return [_with(x, a, None if d is None or n <= 0 else d // n)] * L.n_out


def _stack(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    a = _axis(int(L.p.axis), len(x) + 1)
    if a is None:
        return [None]
    base = x
    for s in L.ins[1:]:
        base = _fill(base, s) or base
    return [base[:a] + (len(L.ins),) + base[a:]]


def _tile(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    reps: Sequence[Dim] | None
    reps = L.vals[1] if len(L.ins) > 1 and len(L.vals) > 1 else None
    if len(L.ins) <= 1:
        reps = _ints(L.p.reps)
    if reps is None:
        return [(None,) * len(x) if len(L.ins) > 1 else None]
    if not reps or len(reps) > len(x):
        return [None]
    full = (1,) * (len(x) - len(reps)) + tuple(reps)
    return [tuple(None if d is None or r is None else d * r for d, r in zip(x, full, strict=True))]


def _slice_static(L: _Layer) -> list[MaybeShape]:
    p, x = L.p, L.x
    return [_sliced(x, p.beginIds, p.beginMasks, p.endIds, p.endMasks, p.strides, p.squeezeMasks)]


def _sliced(
    x: MaybeShape,
    begin: Sequence[Dim],
    begin_masks: Sequence[bool],
    end: Sequence[int],
    end_masks: Sequence[bool],
    strides: Sequence[int],
    squeeze: Sequence[bool],
) -> MaybeShape:
    if x is None:
        return None
    r = len(x)
    if any(len(f) != r for f in (begin, begin_masks, end, end_masks, strides)):
        return None
    out: list[Dim] = []
    for i in range(r):
        if i < len(squeeze) and squeeze[i]:
            continue  # that axis is dropped (only begin is taken)
        b = None if begin_masks[i] else begin[i]
        if b is None and not begin_masks[i]:
            out.append(None)
            continue
        e = None if end_masks[i] else int(end[i])
        out.append(_slice_len(x[i], b, e, int(strides[i])))
    return tuple(out) if out else (1,)


def _slice_dynamic(L: _Layer) -> list[MaybeShape]:
    p, x = L.p, L.x
    if x is None:
        return [None]
    begin = L.vals[1] if len(L.vals) > 1 else None
    if begin is not None and len(L.ins) == 2:  # end ids and strides from the parameters
        return [_sliced(x, begin, p.beginMasks, p.endIds, p.endMasks, p.strides, p.squeezeMasks)]
    dropped = sum(1 for s in p.squeezeMasks if s)
    rank = len(x) - dropped
    return [(None,) * rank if rank > 0 else (1,)]


def _slice_by_size(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    a = _axis(int(L.p.axis), len(x))
    return [None if a is None else _with(x, a, int(L.p.size))]


def _sliding_windows(L: _Layer) -> list[MaybeShape]:
    x, p = L.x, L.p
    if x is None:
        return [None]
    a = _axis(int(p.axis), len(x))
    ws, step = int(p.windowSize), int(p.step) or 1
    if a is None:
        return [None]
    n = x[a]
    m = None if n is None else (n - ws) // step + 1
    return [x[:a] + (m, ws) + x[a + 1 :]]


def _constant_pad(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    pads: Sequence[Dim] | None = _ints(L.p.padAmounts, limit=2 * MAX_RANK)
    if len(L.ins) > 1:
        pads = L.vals[1] if len(L.vals) > 1 else None
    if pads is None or len(pads) != 2 * len(x):
        return [(None,) * len(x) if pads is None else None]
    out: list[Dim] = []
    for i, d in enumerate(x):
        before, after = pads[2 * i], pads[2 * i + 1]
        if d is None or before is None or after is None:
            out.append(None)
        elif L.p.padToGivenOutputSizeMode:
            out.append(max(d, before + after))
        else:
            out.append(d + before + after)
    return [tuple(out)]


def _static_shape(field_name: str) -> Rule:
    def rule(L: _Layer) -> list[MaybeShape]:
        shape = _ints(getattr(L.p, field_name))
        return [shape if shape else None]

    return rule


def _get_shape(L: _Layer) -> list[MaybeShape]:
    return [None if L.x is None else (len(L.x),)]


def _range_static(L: _Layer) -> list[MaybeShape]:
    p = L.p
    step = float(p.stepSizeValue)
    if step == 0 or not math.isfinite(step):
        return [None]
    count = (float(p.endValue) - float(p.startValue)) / step
    if not math.isfinite(count):
        return [None]
    return [(max(math.ceil(count), 0),)]


def _batched_matmul(L: _Layer) -> list[MaybeShape]:
    p = L.p
    a = L.x
    if a is None:
        return [None]
    if len(L.ins) < 2:  # weights in the layer: [..., K] x (K, N)
        n = int(p.weightMatrixSecondDimension) or None
        return [a[:-1] + (n,)]
    b = L.ins[1]
    if b is None:
        return [None]
    a2 = (1, a[0]) if len(a) == 1 else a
    b2 = (b[0], 1) if len(b) == 1 else b
    if p.transposeA:
        a2 = a2[:-2] + (a2[-1], a2[-2])
    if p.transposeB:
        b2 = b2[:-2] + (b2[-1], b2[-2])
    batch = _broadcast([a2[:-2], b2[:-2]])
    if batch is None:
        return [None]
    out = batch + (a2[-2], b2[-1])
    rank = max(2, len(a), len(b))  # the prepended/appended 1 stays (validator)
    return [(1,) * (rank - len(out)) + out if len(out) < rank else out]


def _embedding_nd(L: _Layer) -> list[MaybeShape]:
    x = L.x
    return [None if x is None else x[:-1] + (int(L.p.embeddingSize) or None,)]


def _gather(L: _Layer) -> list[MaybeShape]:
    data = L.x
    idx = L.ins[1] if len(L.ins) > 1 else None
    if data is None or idx is None:
        return [None]
    a = _axis(int(L.p.axis), len(data))
    return [None if a is None else data[:a] + idx + data[a + 1 :]]


def _gather_nd(L: _Layer) -> list[MaybeShape]:
    data = L.x
    idx = L.ins[1] if len(L.ins) > 1 else None
    if data is None or idx is None or not idx or idx[-1] is None:
        return [None]
    return [idx[:-1] + data[idx[-1] :]]


def _nd_reduce(L: _Layer) -> list[MaybeShape]:
    x, p = L.x, L.p
    if x is None:
        return [None]
    if p.reduceAll:
        axes: set[int | None] = set(range(len(x)))
    else:
        given = _ints(p.axes)
        if given is None:
            return [None]
        axes = {_axis(a, len(x)) for a in given}
        if None in axes:
            return [None]
    if p.keepDims:
        return [tuple(1 if i in axes else d for i, d in enumerate(x))]
    out = tuple(d for i, d in enumerate(x) if i not in axes)
    return [out or (1,)]


def _arg_reduce(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    a = _axis(int(L.p.axis), len(x))
    if a is None:
        return [None]
    if L.p.removeDim and len(x) > 1:
        return [x[:a] + x[a + 1 :]]
    return [_with(x, a, 1)]


def _top_k(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None] * L.n_out
    a = _axis(int(L.p.axis), len(x))
    if a is None:
        return [None] * L.n_out
    k: Dim = int(L.p.K)
    if len(L.ins) > 1:
        vals = L.vals[1] if len(L.vals) > 1 else None
        k = vals[0] if vals is not None and len(vals) == 1 else None
    return [_with(x, a, k)] * L.n_out


def _one_hot(L: _Layer) -> list[MaybeShape]:
    x = L.x
    if x is None:
        return [None]
    a = _axis(int(L.p.axis), len(x) + 1)
    size: Dim = int(L.p.oneHotVectorSize)
    if len(L.ins) > 1:
        vals = L.vals[1] if len(L.vals) > 1 else None
        size = vals[0] if vals is not None and len(vals) == 1 else None
    return [None if a is None else x[:a] + (size,) + x[a:]]


def _categorical(L: _Layer) -> list[MaybeShape]:
    x = L.x
    return [None if x is None else x[:-1] + (int(L.p.numSamples),)]


def _where_non_zero(L: _Layer) -> list[MaybeShape]:
    return [None if L.x is None else (None, len(L.x))]


def _nms(L: _Layer) -> list[MaybeShape]:
    boxes = L.x
    scores = L.ins[1] if len(L.ins) > 1 else None
    batch = boxes[0] if boxes is not None and len(boxes) == 3 else None
    classes = scores[-1] if scores is not None and len(scores) == 3 else None
    m: Dim = int(L.p.maxBoxes)
    if len(L.ins) > 4:  # maxBoxes given as input 5
        vals = L.vals[4] if len(L.vals) > 4 else None
        m = vals[0] if vals is not None and len(vals) == 1 else None
    outs: list[MaybeShape] = [(batch, m, 4), (batch, m, classes), (batch, m), (batch,)]
    return outs[: L.n_out]


def _no_outputs(L: _Layer) -> list[MaybeShape]:
    return [None] * L.n_out
