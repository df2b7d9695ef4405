"""The model graph every other part of ane_notebook works on.

A `Graph` is a flat, execution-ordered list of `Op`s taken from a Core ML model (ML Program or
NeuralNetwork, every function and every pipeline stage), plus the tensors flowing between them.
It holds only what placement needs (types, shapes, dtypes, a few attributes); weights are never
read. Everything here is immutable so that a graph can be shared between reports safely.

Naming follows coremltools' compute-plan paths: an op's `name` is its first output's name, and
ops are keyed by `(function, name)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

_T = TypeVar("_T")
_MEMO = "_sharing_memo"  # the instance-dict key of `Graph.sharing`'s store

# Dtype spellings used throughout (MIL's own names, so they read naturally to Core ML users).
FLOAT_DTYPES = frozenset({"fp16", "fp32", "fp64", "bf16"})
INT_DTYPES = frozenset(
    {"int4", "uint4", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"}
)
DTYPE_BYTES: Mapping[str, float] = {
    "fp16": 2,
    "bf16": 2,
    "fp32": 4,
    "fp64": 8,
    "int4": 0.5,
    "uint4": 0.5,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "int32": 4,
    "uint32": 4,
    "int64": 8,
    "uint64": 8,
    "bool": 1,
}

# A dimension is an int, or None when it is not known statically (symbolic / flexible).
Shape = tuple[int | None, ...]


# Ops and tensors use __slots__: a big model has one of each per op, and a slotted instance
# is about a third of one with a __dict__ (GitHub issue 14: memory per op).
@dataclass(frozen=True, slots=True)
class TensorInfo:
    """A named value: its static shape (None when even the rank is unknown) and dtype."""

    name: str
    shape: Shape | None
    dtype: str

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    # `num_elements` and `nbytes` are read ~250k times while a 50k-op model is estimated: one
    # `math.prod` instead of a Python loop, and `nbytes` not going through `num_elements`
    # (GitHub issue 14: 250k reads of rank-3 shapes, 0.074 -> 0.066 s CPU, a small gain).
    @property
    def num_elements(self) -> int | None:
        """Element count, or None when any dimension is unknown."""
        shape = self.shape
        if shape is None or None in shape:
            return None
        return math.prod(shape)  # type: ignore[arg-type]  # no None in it (tested above)

    @property
    def nbytes(self) -> int | None:
        shape = self.shape
        if shape is None or None in shape:
            return None
        return int(math.prod(shape) * DTYPE_BYTES.get(self.dtype, 4))  # type: ignore[arg-type]


@dataclass(frozen=True)
class FlexibleInput:
    """A model input whose shape may change at run time (range or enumerated shapes)."""

    name: str
    kind: str  # "range" | "enumerated"
    default_shape: tuple[int, ...] | None
    # range: per-dimension (lower, upper) with upper -1 = unbounded; enumerated: the shapes
    ranges: tuple[tuple[int, int], ...] = ()
    shapes: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Op:
    """One operation (ML Program op or NeuralNetwork layer).

    `inputs` are tensor names (within `function`) this op reads; `outputs` the values it writes.
    `attrs` holds the constant parameters rules need (kernel size, strides, dilations, groups,
    axes, perm, ...), as plain Python values. `block` is the nesting path for ops inside
    `cond`/`while_loop` bodies (empty at top level); `parent` the index of the enclosing op.
    """

    index: int
    name: str
    op_type: str
    function: str
    inputs: tuple[str, ...]
    outputs: tuple[TensorInfo, ...]
    attrs: Mapping[str, Any] = field(default_factory=dict)
    is_const: bool = False
    block: tuple[str, ...] = ()
    parent: int | None = None


# Built without the frozen dataclasses' `__init__`, which sets each field through
# `object.__setattr__`: a loader makes one `Op` and one `TensorInfo` per op (issue 14, 50k ops:
# `Op(...)` ~91 ms, `new_op` ~29 ms; `TensorInfo(...)` ~27 ms, `new_tensor` ~16 ms). A plain
# slotted twin with the very same slots is filled by ordinary attribute stores, then made the
# frozen class by `__class__` assignment, which Python allows only between classes of the same
# layout (it raises TypeError otherwise). The result is an ordinary `Op` / `TensorInfo`: its
# equality, hash, repr, pickling and `dataclasses.replace` are the class's own.
class _TensorSlots:
    __slots__ = TensorInfo.__slots__


class _OpSlots:
    __slots__ = Op.__slots__


def new_tensor(name: str, shape: Shape | None, dtype: str) -> TensorInfo:
    """``TensorInfo(name, shape, dtype)``, faster (see above)."""
    t: Any = _TensorSlots()
    t.name = name
    t.shape = shape
    t.dtype = dtype
    t.__class__ = TensorInfo
    return t  # type: ignore[no-any-return]


def new_op(
    index: int,
    name: str,
    op_type: str,
    function: str,
    inputs: tuple[str, ...],
    outputs: tuple[TensorInfo, ...],
    attrs: Mapping[str, Any],
    is_const: bool,
    block: tuple[str, ...],
    parent: int | None,
) -> Op:
    """``Op(...)`` with every field given in field order, faster (see above)."""
    op: Any = _OpSlots()
    op.index = index
    op.name = name
    op.op_type = op_type
    op.function = function
    op.inputs = inputs
    op.outputs = outputs
    op.attrs = attrs
    op.is_const = is_const
    op.block = block
    op.parent = parent
    op.__class__ = Op
    return op  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Graph:
    """A whole model, flattened in execution order.

    `format` is "mlprogram" or "neuralnetwork" ("pipeline" models are flattened: each stage's
    ops appear under function "<stage name>/<function>" or the stage name).
    """

    name: str
    format: str
    ops: tuple[Op, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    functions: tuple[str, ...] = ("main",)
    flexible_inputs: tuple[FlexibleInput, ...] = ()
    source: str = ""  # path or "example:NAME"; shown to users, never re-opened for writing
    metadata: Mapping[str, str] = field(default_factory=dict)
    spec_version: int | None = None
    # Tensors that are function inputs (not produced by any op), keyed by (function, name).
    function_inputs: Mapping[tuple[str, str], TensorInfo] = field(default_factory=dict)
    # Pipelines: our stage label ("0:prep", "1:outer/0:inner") -> the sub-model names Core ML
    # gives that stage in its model structure and compute plan (("prep",), ("outer", "inner")).
    stage_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    @property
    def is_sharing(self) -> bool:
        """Inside a `sharing` block (what `memo` keeps is kept)."""
        return _MEMO in self.__dict__

    @contextmanager
    def sharing(self) -> Iterator[None]:
        """Within the block, later stages keep what they derive from this graph (`memo`) for
        their next call on it: the four compute-unit settings of a comparison share the
        estimator's partition problem and the report's per-op links (GitHub issue 14). Outside
        any block nothing is kept, so that one `profile()` holds no more memory at its peak
        than it needs. Nests; the outermost block drops what was kept."""
        outer = _MEMO in self.__dict__
        if not outer:
            self.__dict__[_MEMO] = {}  # (the graph is frozen: as cached_property does)
        try:
            yield
        finally:
            if not outer:
                del self.__dict__[_MEMO]

    def memo(self, key: Hashable, make: Callable[[], _T]) -> _T:
        """`make()`, kept under `key` for the next call while `sharing` is on (else made
        afresh each time). The graph never changes, so nothing kept goes stale."""
        store = self.__dict__.get(_MEMO)
        if store is None:
            return make()
        if key not in store:
            store[key] = make()
        got: _T = store[key]
        return got

    @cached_property
    def producer(self) -> Mapping[tuple[str, str], int]:
        """(function, tensor name) -> index of the op that produces it."""
        return self._tensor_index[0]

    @cached_property
    def tensors(self) -> Mapping[tuple[str, str], TensorInfo]:
        """(function, tensor name) -> TensorInfo, for op outputs and function inputs."""
        return self._tensor_index[1]

    @cached_property
    def _tensor_index(
        self,
    ) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], TensorInfo]]:
        """`producer` and `tensors`, made in one pass that shares their keys: every estimate
        reads both (issue 14, 50k ops: two passes ~29 ms, this one ~19 ms; 50k key tuples
        fewer)."""
        producer: dict[tuple[str, str], int] = {}
        tensors: dict[tuple[str, str], TensorInfo] = dict(self.function_inputs)
        for op in self.ops:
            function, index = op.function, op.index
            for t in op.outputs:
                key = (function, t.name)
                producer[key] = index
                tensors[key] = t
        return producer, tensors

    def edges(self) -> Iterator[tuple[int, int, TensorInfo]]:
        """Every data edge (producer index, consumer index, tensor), in consumer order."""
        if _MEMO in self.__dict__:  # listed once for all the reports of a comparison
            return iter(self.memo("graph.edges", lambda: tuple(self._edges())))
        return self._edges()

    def _edges(self) -> Iterator[tuple[int, int, TensorInfo]]:
        producer = self.producer
        tensors = self.tensors
        for op in self.ops:
            seen: set[str] = set()
            for name in op.inputs:
                if name in seen:
                    continue
                seen.add(name)
                src = producer.get((op.function, name))
                if src is not None and src != op.index:
                    yield src, op.index, tensors[(op.function, name)]

    def op(self, name: str, function: str | None = None) -> Op:
        """Find an op by name (and function, when the name exists in several)."""
        for o in self.ops:
            if o.name == name and (function is None or o.function == function):
                return o
        raise KeyError(name)

    @property
    def is_flexible(self) -> bool:
        return bool(self.flexible_inputs)
