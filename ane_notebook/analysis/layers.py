"""The layer hierarchy of a model, from the model itself: a tree of op ranges to draw and fold.

`groups.py` finds one level of repeated layers; a 50,000-op model needs the whole nesting to be
navigable (Model Explorer's layer tree): pipeline stage > function > `model` > `layers` >
`layers_12` > `self_attn` > `q_rope`. Every node of the tree is a *run of consecutive compute
ops* (const ops hold weights and run nowhere, as in segments), so a node is an op-index range,
nested ranges are children, and drawing a node is drawing one span.

Where the levels come from, outermost first:

* functions and pipeline stages (a stage's ops are in function ``"<stage>/<function>"``), when
  the model has more than one;
* the op-name scopes the converters write: every proper prefix of the name that ends before a
  separator (``/`` TensorFlow, ``.`` torch module paths, ``_`` the torch frontend, which turns
  dots into underscores), after dropping the dtype suffixes coremltools appends
  (``_cast_fp16``, ``_to_fp32``); plus the leading numbered token (``dw3`` in ``dw3_relu6``,
  ``layer0`` in ``layer0_q``), which groups ``dw3`` and ``pw3`` into block 3 when such numbers
  repeat (`groups.MIN_REPEATS` numbers, `groups.MIN_OPS_PER_GROUP` ops per number);
* the bodies of ``cond`` / ``while_loop`` ops (`OpRecord.block`), nested under their parent's
  scope.

Torch module paths reach a saved model only through op names: coremltools keeps its scope info
(``ScopeSource.TORCHSCRIPT_MODULE_NAME``) on the in-memory MIL program, and its backend
(``converters/mil/backend/mil/load.py``) writes none of it to the protobuf (``MIL.proto`` has no
field for it), so there is nothing more for the loader to keep.

Ops whose names the converter made up (``transpose_9``, ``var_123``: an op type and a number)
carry no scope: they take the scopes their neighbours share, so a transpose inside layer 3 is
in layer 3 and a cast between layers 3 and 4 in neither. A scope of fewer than
`MIN_LAYER_OPS` ops is no layer (``lm_head`` + its cast), and a node with a single child of the
same size is merged into it. When the names give nothing, the fallback is repeated structure:
the op-type sequence is cut before each op of the type whose cuts give the most ops in
repeated chunks (``layer_norm`` in an anonymous transformer).

The cost is linear in the number of ops: a scope path is computed once per distinct name prefix
(at most `MAX_NAME_DEPTH` levels) and shared by the ops under it (`scopes.py`: the per-name
rules; `stems.py`: the same for all names at once, per name stem). The tree is data: the
lanes' layer band (`render/layerband.py`) and the graph view's collapsed layers
(`render/graphunits.layer_arrays`) draw it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, is_, not_
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .._gc import gc_paused
from ..placement.devices import DEVICE_ORDER, Device
from .groups import MIN_REPEATS
from .scopes import MAX_NAME_DEPTH, SEPARATORS, LayerKind, Step
from .stems import name_paths

if TYPE_CHECKING:
    from ..report import ProfileReport

__all__ = [
    "MAX_NAME_DEPTH",
    "MIN_LAYER_OPS",
    "Layer",
    "LayerKind",
    "layer_tree",
    "layer_tree_of_columns",
    "walk",
]

MIN_LAYER_OPS = 3  # a scope of 1-2 ops is an op and its cast, not a layer


@dataclass(frozen=True)
class Layer:
    """One node of the layer tree: a run of consecutive compute ops.

    start/end: graph indices of the first and last compute op (inclusive); first_row/last_row
    the same ops' positions among the compute ops (the lane view's x). `name` is the full scope
    (a model string: escape it to show it), `label` the part below the parent's. device_mix
    counts compute ops per device in lane order (ops the plan placed nowhere not counted).
    """

    name: str
    label: str
    kind: LayerKind
    start: int
    end: int
    first_row: int
    last_row: int
    n_ops: int
    device_mix: Mapping[Device, int]
    est_time_ms: float
    depth: int
    children: tuple[Layer, ...] = ()


def walk(layers: Iterable[Layer]) -> Iterable[Layer]:
    """Every node, parents before children, in execution order."""
    return _preorder_of(layers)


def _preorder_of(nodes: Iterable[Any]) -> Iterator[Any]:
    """Every node of a tree (`Layer`s or `_Node`s: anything with `children`), parents first."""
    # An explicit stack, not nested generators: each `yield from` level would pass every
    # node of a 4,500-node tree up through its depth (issue 14).
    stack = [iter(nodes)]
    while stack:
        for node in stack[-1]:
            yield node
            if node.children:
                stack.append(iter(node.children))
                break
        else:
            stack.pop()


def _function_steps(function: str, multi: bool) -> list[Step]:
    if not multi:
        return []
    parts = function.split("/")
    steps: list[Step] = []
    for i in range(len(parts)):
        kind = LayerKind.FUNCTION if i == len(parts) - 1 else LayerKind.STAGE
        steps.append(("f:" + "/".join(parts[: i + 1]), parts[i], kind))
    return steps


def _block_steps(block: Sequence[str]) -> list[Step]:
    steps: list[Step] = []
    for i in range(0, len(block) - 1, 2):
        key = "b:" + "/".join(block[: i + 2])
        steps.append((key, f"{block[i]} · {block[i + 1]}", LayerKind.BLOCK))
    return steps


def _common_prefix(a: Sequence[Step], b: Sequence[Step]) -> tuple[Step, ...]:
    if a is b:
        return tuple(a)
    n = 0
    for x, y in zip(a, b, strict=False):
        if x[0] != y[0]:
            break
        n += 1
    return tuple(a[:n])


def _column(ops: Sequence[Any], attr: str, default: Any = None) -> list[Any]:
    """``[getattr(op, attr, default) for op in ops]``, read in C where no op lacks `attr` (a
    Python loop took 2-3x as long at 25k ops, issue 14)."""
    try:
        return list(map(attrgetter(attr), ops))
    except AttributeError:
        return [getattr(op, attr, default) for op in ops]


# What the tree reads of each op, and the default of each optional one.
_FIELDS = ("function", "name", "block", "device", "est_time_ms", "index")
_DEFAULTS: dict[str, Any] = {"block": None, "device": None, "est_time_ms": 0.0}


def _compute_columns(ops: Sequence[Any]) -> tuple[list[Any], list[Sequence[Any]]]:
    """The compute ops and their `_FIELDS`, a column each (`_column`'s defaults).

    One `attrgetter` call per op reads every field at once: a column at a time touched each
    of the 50k benchmark's op objects once per field (~36 ms, now ~19; issue 14)."""
    compute = list(compress(ops, map(not_, map(attrgetter("is_const"), ops))))
    if not compute:
        return [], [[] for _ in _FIELDS]
    try:
        return compute, list(zip(*map(attrgetter(*_FIELDS), compute), strict=True))
    except AttributeError:  # an op without an optional field: a column at a time
        # (a missing required field raises AttributeError, as the per-op reads did)
        return compute, [
            _column(compute, f, _DEFAULTS[f])
            if f in _DEFAULTS
            else list(map(attrgetter(f), compute))
            for f in _FIELDS
        ]


def _paths(
    functions: Sequence[str], op_names: Sequence[str], blocks: Sequence[Any]
) -> list[tuple[Step, ...]]:
    """Each compute op's scope path (function, name and block steps), from its columns."""
    multi = len(set(functions)) > 1
    names = name_paths(op_names)  # (with the names' own leading-number blocks)
    if not all(names):
        _fill_generated(names, functions)
    # Ops inside a cond / while body sit under their parent op's scopes.
    if not multi and not any(blocks):
        return names  # (the common case: nothing to add to the name scopes)
    by_name = (
        {(f, n): i for i, (f, n) in enumerate(zip(functions, op_names, strict=True))}
        if any(blocks)
        else {}
    )
    fn_steps = {f: tuple(_function_steps(f, multi)) for f in set(functions)}
    out = []
    for i, block in enumerate(blocks):
        scope = names[i]
        if block:
            block = tuple(block)
            parent = by_name.get((functions[i], block[0]))
            outer = names[parent] if parent is not None else ()
            scope = (*outer, *_block_steps(block), *scope[len(_common_prefix(outer, scope)) :])
        steps = fn_steps[functions[i]]
        out.append(steps + scope if steps else scope)
    return out


def _fill_generated(names: list[tuple[Step, ...]], functions: Sequence[str]) -> None:
    """Converter-made names (no scopes) take the scopes their named neighbours (same function)
    share, in place.

    A run of such ops in one function has one op before and one after it (named, or of
    another function: none), so one shared path fills it; only the unnamed ops are visited,
    found in C (two Python passes over all 25k ops took ~5 ms; issue 14)."""
    empty = list(compress(range(len(names)), map(not_, names)))
    k = 0
    while k < len(empty):
        a = b = empty[k]
        fn = functions[a]
        k += 1
        while k < len(empty) and empty[k] == b + 1 and functions[b + 1] == fn:
            b += 1
            k += 1
        before = names[a - 1] if a and functions[a - 1] == fn else None
        after = names[b + 1] if b + 1 < len(names) and functions[b + 1] == fn else None
        fill = _common_prefix(before, after) if before is not None and after is not None else ()
        names[a : b + 1] = [fill] * (b - a + 1)


# --- building the tree --------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    label: str
    kind: LayerKind
    lo: int
    hi: int  # inclusive positions among the compute ops
    children: list[_Node]


def _build(paths: Sequence[Sequence[Step]]) -> list[_Node]:
    """The scope tree of the ops' paths, pruned: a node per run of consecutive ops under one
    key, without the nodes under MIN_LAYER_OPS ops, and a node folded into its parent when it
    has the same ops (its parent then stands for it, its label longer).

    Pruned as the nodes close, deepest first: an open scope is a plain list, and only the
    nodes that stay become `_Node`s (issue 14: at 50k ops a separate prune walked 11k nodes
    made to keep 4.5k; build and prune ~17 ms, now ~15, measured side by side on this
    2-core machine). tests/layers_reference.py has the two passes."""
    roots: list[_Node] = []
    stack: list[list[Any]] = []  # the open scopes, one per step of `before`: _OPEN fields
    before: Sequence[Step] = ()
    for pos, path in enumerate(paths):
        if path is before:  # the same scopes as the op before (shared tuple): nothing changes
            continue
        # The scopes kept open: the common prefix with the path before, steps equal by key.
        # Paths of one tree share their prefixes' step objects, so the identical ones are
        # found in C first (`map(is_)`; a Python loop per step took 9.9 ms of the 50k page's
        # 11.5k path changes, this 5.5 ms: issue 14), then keys compared from the first
        # step that is another object.
        same = list(map(is_, before, path))
        keep = same.index(False) if False in same else len(same)
        while keep < len(same) and (before[keep] is path[keep] or before[keep][0] == path[keep][0]):
            keep += 1
        before = path
        if keep < len(stack):  # a scope ends at the last op it was open for
            _close(stack, keep, pos - 1, roots)
        for _, label, kind in path[keep:]:
            stack.append([label, kind, pos, []])
    if stack:
        _close(stack, 0, len(paths) - 1, roots)
    return roots


# An open scope: [label, kind, first position, the kept nodes under it so far].
_LABEL, _KIND, _LO, _KIDS = range(4)


def _close(stack: list[list[Any]], keep: int, hi: int, roots: list[_Node]) -> None:
    """Close the open scopes stack[keep:] at position `hi`, deepest first (a scope's children
    are final before it): drop one under MIN_LAYER_OPS ops (with all under it), fold one with
    its parent's ops into the parent, make the others nodes of their parent (or roots)."""
    for d in range(len(stack) - 1, keep - 1, -1):
        label, kind, lo, kids = stack[d]
        if hi - lo + 1 < MIN_LAYER_OPS and kind is not LayerKind.FUNCTION:
            continue
        if d == 0:
            roots.append(_Node(label, kind, lo, hi, kids))
            continue
        parent = stack[d - 1]
        if d > keep and parent[_LO] == lo:
            # Same ops as its parent (closing here too): the parent stands for it, and has
            # no other child (children's ops are disjoint).
            parent[_LABEL] = _join(parent[_KIND], parent[_LABEL], kind, label)
            parent[_KIDS] = kids
        else:
            parent[_KIDS].append(_Node(label, kind, lo, hi, kids))
    del stack[keep:]


def _join(outer_kind: LayerKind, outer: str, inner_kind: LayerKind, inner: str) -> str:
    """The label of a node that stands for its only, same-sized child."""
    if outer_kind is not LayerKind.SCOPE:  # a stage, function or block keeps its name ...
        return outer if inner_kind is LayerKind.SCOPE else f"{outer} / {inner}"
    # ... a numbered scope too (`layers.3` over `layers.3.attn`: the layer is what people
    # name); otherwise the deeper name says more (`model.layers` over `model`).
    if any(map(str.isdigit, SEPARATORS.split(outer)[-1])):
        return outer
    return inner


def _short(label: str, parent_label: str | None) -> str:
    """The part of a scope below its parent's (`model_layers_12` under `model_layers` reads
    `layers_12`: a bare number says little on its own)."""
    if parent_label and label.startswith(parent_label) and len(label) > len(parent_label):
        rest = label[len(parent_label) :].lstrip("/._:")
        if rest and not rest.isdigit():
            return rest
        tail = SEPARATORS.split(parent_label)[-1]
        return label[len(parent_label) - len(tail) :] if rest else label
    return label


# --- the fallback: repeated op-type structure ---------------------------------------------------


def _repeat_nodes(compute: Sequence[Any]) -> list[_Node]:
    """Cut the op-type sequence before each op of one type; keep the cut whose repeated chunks
    (same op-type sequence at least twice) cover the most ops, chunks of MIN_LAYER_OPS ops or
    more. [] when no cut repeats."""
    types = [op.op_type for op in compute]
    counts: dict[str, int] = {}
    for t in types:
        counts[t] = counts.get(t, 0) + 1
    best: tuple[int, list[tuple[int, int]], str] | None = None
    for t, c in counts.items():
        if c < MIN_REPEATS or c * MIN_LAYER_OPS > len(types):
            continue
        starts = [i for i, x in enumerate(types) if x == t]
        chunks = [
            (a, b - 1) for a, b in zip(starts, [*starts[1:], len(types)], strict=True) if b - a
        ]
        sig: dict[tuple[str, ...], int] = {}
        for a, b in chunks:
            sig[tuple(types[a : b + 1])] = sig.get(tuple(types[a : b + 1]), 0) + 1
        kept = [
            (a, b)
            for a, b in chunks
            if b - a + 1 >= MIN_LAYER_OPS and sig[tuple(types[a : b + 1])] >= MIN_REPEATS
        ]
        covered = sum(b - a + 1 for a, b in kept)
        if kept and (best is None or covered > best[0]):
            best = (covered, kept, t)
    if best is None:
        return []
    _, kept, t = best
    return [_Node(f"{t} block {k}", LayerKind.REPEAT, a, b, []) for k, (a, b) in enumerate(kept)]


# --- the public entry ---------------------------------------------------------------------------


_new = object.__new__
_set = object.__setattr__


def _preorder(nodes: Sequence[_Node]) -> list[_Node]:
    """Every node, parents before children (the order `_freeze` makes them in)."""
    return list(_preorder_of(nodes))


_Sums = tuple[list[int], float]  # a node's op count per device (DEVICE_ORDER) and time


def _sums(roots: Sequence[_Node], mix: np.ndarray, time_cum: np.ndarray) -> Iterator[_Sums]:
    """Each node's device counts and time, in `_preorder`: one numpy difference for the whole
    tree, and only its nodes' rows made Python objects (the cumulative sums of all 25k ops,
    made lists for the nodes to index, took ~4 ms; issue 14)."""
    order = _preorder(roots)
    lo = np.fromiter(map(attrgetter("lo"), order), np.int64, len(order))
    hi = np.fromiter(map(attrgetter("hi"), order), np.int64, len(order)) + 1
    counts: list[list[int]] = (mix[hi] - mix[lo]).tolist()
    with np.errstate(invalid="ignore"):  # inf - inf is nan, silently, as with Python floats
        times: list[float] = (time_cum[hi] - time_cum[lo]).tolist()
    return zip(counts, times, strict=True)


def _freeze(
    nodes: Sequence[_Node],
    index: Sequence[int],
    sums: Iterator[_Sums],
    depth: int,
    parent_label: str | None,
) -> tuple[Layer, ...]:
    """The nodes as Layers; `sums` gives each node's device counts and time in preorder.

    Each Layer's ``__dict__`` is written whole, without the frozen dataclass's per-field
    ``object.__setattr__`` (tests/test_layers.py checks they equal the constructor's), and a
    leaf's children without a call (most of the 50k page's 4.5k nodes are leaves; issue 14)."""
    out = []
    for n in nodes:
        counts, est_time_ms = next(sums)  # (before the children's)
        layer = _new(Layer)
        _set(
            layer,
            "__dict__",
            {  # Layer's fields, in its order
                "name": n.label,
                "label": _short(n.label, parent_label) if n.kind is LayerKind.SCOPE else n.label,
                "kind": n.kind,
                "start": index[n.lo],
                "end": index[n.hi],
                "first_row": n.lo,
                "last_row": n.hi,
                "n_ops": n.hi - n.lo + 1,
                "device_mix": dict(zip(DEVICE_ORDER, counts, strict=True)),
                "est_time_ms": est_time_ms,
                "depth": depth,
                "children": (
                    _freeze(n.children, index, sums, depth + 1, n.label) if n.children else ()
                ),
            },
        )
        out.append(layer)
    return tuple(out)


@gc_paused()  # ~40k nodes, tuples and dicts, no cycles: the collector would walk the heap
def layer_tree(report_or_ops: ProfileReport | Iterable[Any]) -> tuple[Layer, ...]:
    """The layer tree of a report's compute ops (roots in execution order; see the module doc).

    Accepts a `ProfileReport` or a sequence of `OpRecord`s (anything with ``index``, ``name``,
    ``op_type``, ``function``, ``is_const``, ``block`` and, when known, ``device`` and
    ``est_time_ms``). Ops outside every root (an embedding before the layers) are in no node.
    """
    ops = list(cast("Iterable[Any]", getattr(report_or_ops, "ops", report_or_ops)))
    return _tree(*_compute_columns(ops))


@gc_paused()
def layer_tree_of_columns(
    compute: Sequence[Any], column: Callable[[str], Sequence[Any]]
) -> tuple[Layer, ...]:
    """`layer_tree` of ops whose compute ops (``is_const`` false), in order, are `compute`,
    with each field already read: ``column(name)`` is ``[op.name for op in compute]`` (for
    ``function``, ``name``, ``block``, ``device``, ``est_time_ms`` and ``index``).

    The page's op table reads these fields of every compute op for its own columns
    (`render/optable.RecordColumns`); reading them again here, with the 50k ops' ``is_const``,
    took ~18 ms of the page (issue 14)."""
    return _tree(compute, [column(f) for f in _FIELDS])


def _tree(compute: Sequence[Any], columns: Sequence[Sequence[Any]]) -> tuple[Layer, ...]:
    """The layer tree of the compute ops `compute`, given their `_FIELDS` as columns."""
    functions, names, blocks, devices, est_times, index = columns
    if not compute:
        return ()
    roots = _build(_paths(functions, names, blocks))
    if not any(n.kind is not LayerKind.FUNCTION for n in roots) and not any(
        n.children for n in roots
    ):
        repeats = _repeat_nodes(compute)
        if roots:  # one node per function: put the repeats under their function
            for fn in roots:
                fn.children = [r for r in repeats if fn.lo <= r.lo and r.hi <= fn.hi]
        else:
            roots = repeats
    dev_pos: dict[Device | None, int] = {d: i for i, d in enumerate(DEVICE_ORDER)}
    n = len(compute)
    lane = np.fromiter(map(dev_pos.get, devices, repeat(-1)), np.int64, n)
    mix = np.zeros((n + 1, len(DEVICE_ORDER)), dtype=np.int64)
    placed = np.flatnonzero(lane >= 0)
    mix[placed + 1, lane[placed]] = 1
    mix = np.cumsum(mix, axis=0)
    times = np.fromiter(map(float, est_times), np.float64, n)
    time_cum = np.concatenate([[0.0], np.cumsum(times)])
    return _freeze(roots, index, _sums(roots, mix, time_cum), 0, None)
