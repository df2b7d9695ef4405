"""Dimension arithmetic for NeuralNetwork shape inference.

The shape types (`Dim`, `MaybeShape`, `Values`) and the small helpers on dimensions that the
layer rules and the walk (`core`) share. ``None`` is an unknown dimension throughout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..graph import Shape
from ..limits import MAX_DIM, MAX_RANK, MAX_TENSOR_ELEMENTS

Dim = int | None
MaybeShape = Shape | None
Values = tuple[Dim, ...]  # the values of a small rank-1 integer blob (a shape vector)


# --------------------------------------------------------------------------------------------
# Small helpers on dimensions (None = unknown).


def _known(*dims: Dim) -> bool:
    return all(d is not None for d in dims)


def _prod(dims: Iterable[Dim]) -> Dim:
    n = 1
    for d in dims:
        if d is None:
            return None
        n *= d
    return n


def _axis(a: int, rank: int) -> int | None:
    """`a` normalised into ``[0, rank)``, or None when out of range."""
    return a % rank if rank > 0 and -rank <= a < rank else None


def _ints(values: Sequence[int], limit: int = MAX_RANK) -> tuple[int, ...] | None:
    """A repeated integer field as a tuple, or None when it is too long to be a shape."""
    return tuple(int(v) for v in values) if len(values) <= limit else None


def _slice_len(n: Dim, start: Dim, end: Dim, step: int) -> Dim:
    """``len(range(n)[start:end:step])``: numpy slicing with clamping and negative indices
    (computed without building the range: `len` of a huge range overflows)."""
    if n is None or step == 0 or n < 0:
        return None
    first, stop, step = slice(start, end, step).indices(n)
    return max(0, (stop - first + step - (1 if step > 0 else -1)) // step)


def _merge(a: MaybeShape, b: MaybeShape) -> MaybeShape:
    """What is known about a blob that may have either shape."""
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b, strict=True))


def _fill(inferred: MaybeShape, declared: MaybeShape) -> MaybeShape:
    """Inferred dims, with the unknown ones taken from a declared shape of the same rank."""
    if inferred is None:
        return declared
    if declared is None or len(declared) != len(inferred):
        return inferred
    return tuple(d if d is not None else e for d, e in zip(inferred, declared, strict=True))


def _sane(shape: MaybeShape) -> MaybeShape:
    """Drop shapes no tensor can have (a hostile or broken spec): negative sizes become unknown,
    and a shape beyond the loader's limits (`limits`) becomes unknown rather than an error
    blamed on a size the model never declared."""
    if shape is None:
        return None
    if not shape or len(shape) > MAX_RANK:
        return None  # NN blobs have rank 1 and up
    out = tuple(d if d is None or d >= 0 else None for d in shape)
    if any(d is not None and d > MAX_DIM for d in out):
        return None
    n = 1
    for d in out:
        if d is not None:
            n *= d
    return None if n > MAX_TENSOR_ELEMENTS else out


def _broadcast(shapes: Sequence[MaybeShape]) -> MaybeShape:
    """numpy broadcasting of `shapes` (right-aligned; a 1 stretches). An unknown dim beside a
    known size above 1 takes that size (it can only be 1 or that size in a valid model)."""
    if not shapes or any(s is None for s in shapes):
        return None
    known = [s for s in shapes if s is not None]
    rank = max(len(s) for s in known)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[i - rank + len(s)] for s in known if i - rank + len(s) >= 0]
        sizes = {d for d in dims if d is not None and d != 1}
        if len(sizes) > 1:
            return None  # incompatible: the model is invalid, the shape unknowable
        if sizes:
            out.append(sizes.pop())
        else:
            out.append(None if None in dims else 1)
    return tuple(out)


def _with(shape: Shape, axis: int, value: Dim) -> Shape:
    """`shape` with the dim at (negative or positive) `axis` replaced."""
    out = list(shape)
    out[axis] = value
    return tuple(out)


def _border(amounts: Any) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) from a ``BorderAmounts`` (index 0 = H, 1 = W; else zeros)."""
    b = amounts.borderAmounts
    if len(b) != 2:
        return 0, 0, 0, 0
    return (
        int(b[0].startEdgeSize),
        int(b[0].endEdgeSize),
        int(b[1].startEdgeSize),
        int(b[1].endEdgeSize),
    )


def _pair(values: Sequence[int], default: int) -> tuple[int, int]:
    return (int(values[0]), int(values[1])) if len(values) == 2 else (default, default)


def _concat_along(ins: Sequence[MaybeShape], axis: int) -> MaybeShape:
    """Inputs joined along `axis` (negative, or positive from the front): the other dims from
    the inputs, the joined one their sum."""
    known = [s for s in ins if s is not None]
    if not known:
        return None
    rank = len(known[0])
    if any(len(s) != rank for s in known):
        return None
    a = _axis(axis, rank)
    if a is None:
        return None
    base = known[0]
    for s in known[1:]:
        base = _fill(base, s) or base
    total: Dim = None if len(known) < len(ins) else _prod_sum(s[a] for s in known)
    return _with(base, a, total)


def _prod_sum(dims: Iterable[Dim]) -> Dim:
    n = 0
    for d in dims:
        if d is None:
            return None
        n += d
    return n
