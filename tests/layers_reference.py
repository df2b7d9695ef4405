"""The layer tree as analysis/layers.py built it before issue 14's fourth pass (commit bb2e219),
kept as the plain reference tests/test_layers_fastpaths.py holds the fast paths to: scope paths
name by name (`ScopeCache`), Python loops over every op. Only the imports changed (absolute;
`Layer` is the package's, so the trees compare equal).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, not_, sub
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ane_notebook._gc import gc_paused
from ane_notebook.analysis.groups import MIN_REPEATS
from ane_notebook.analysis.layers import Layer
from ane_notebook.analysis.scopes import (
    MAX_NAME_DEPTH,
    SEPARATORS,
    LayerKind,
    ScopeCache,
    Step,
    lead_labels,
)
from ane_notebook.placement.devices import DEVICE_ORDER, Device

if TYPE_CHECKING:
    from ane_notebook.report import ProfileReport

__all__ = ["MAX_NAME_DEPTH", "MIN_LAYER_OPS", "Layer", "LayerKind", "layer_tree", "walk"]

MIN_LAYER_OPS = 3  # a scope of 1-2 ops is an op and its cast, not a layer


def walk(layers: Iterable[Layer]) -> Iterable[Layer]:
    """Every node, parents before children, in execution order."""
    # An explicit stack, not nested generators: each `yield from` level would pass every
    # node of a 4,500-node tree up through its depth (issue 14).
    stack = [iter(layers)]
    while stack:
        for layer in stack[-1]:
            yield layer
            if layer.children:
                stack.append(iter(layer.children))
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


def _paths(compute: Sequence[Any]) -> list[tuple[Step, ...]]:
    functions = list(map(attrgetter("function"), compute))
    multi = len(set(functions)) > 1
    op_names = list(map(attrgetter("name"), compute))
    names = list(map(ScopeCache(lead_labels(op_names)), op_names))
    if not all(names):
        _fill_generated(names, functions)
    # Ops inside a cond / while body sit under their parent op's scopes.
    blocks = _column(compute, "block")
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
    share, in place."""
    prev: list[tuple[Step, ...] | None] = [None] * len(names)
    last: tuple[Step, ...] | None = None
    for i, scope in enumerate(names):
        if i and functions[i] != functions[i - 1]:
            last = None
        prev[i] = last
        if scope:
            last = scope
    nxt: tuple[Step, ...] | None = None
    for i in range(len(names) - 1, -1, -1):
        if i + 1 < len(names) and functions[i + 1] != functions[i]:
            nxt = None
        if names[i]:
            nxt = names[i]
        else:
            p = prev[i]
            names[i] = _common_prefix(p, nxt) if p is not None and nxt is not None else ()


# --- building the tree --------------------------------------------------------------------------


@dataclass
class _Node:
    key: str
    label: str
    kind: LayerKind
    lo: int
    hi: int  # inclusive positions among the compute ops
    children: list[_Node]


def _build(paths: Sequence[Sequence[Step]]) -> list[_Node]:
    roots: list[_Node] = []
    stack: list[_Node] = []
    before: Sequence[Step] | None = None
    for pos, path in enumerate(paths):
        if path is before:  # the same scopes as the op before (shared tuple): nothing changes
            continue
        before = path
        keep = 0
        while keep < len(stack) and keep < len(path) and stack[keep].key == path[keep][0]:
            keep += 1
        for node in stack[keep:]:  # a node ends at the last op it was open for
            node.hi = pos - 1
        del stack[keep:]
        for key, label, kind in path[keep:]:
            node = _Node(key, label, kind, pos, pos, [])
            (stack[-1].children if stack else roots).append(node)
            stack.append(node)
    for node in stack:
        node.hi = len(paths) - 1
    return roots


def _prune(nodes: list[_Node], parent: _Node | None) -> list[_Node]:
    """Drop nodes under MIN_LAYER_OPS ops; fold a node into its only, same-sized child."""
    out: list[_Node] = []
    for node in nodes:
        node.children = _prune(node.children, node)
        size = node.hi - node.lo + 1
        if size < MIN_LAYER_OPS and node.kind is not LayerKind.FUNCTION:
            continue
        if parent is not None and (node.lo, node.hi) == (parent.lo, parent.hi):
            # Same ops as its parent: the parent stands for it (its label gets longer).
            parent.label = _join(parent, node)
            out.extend(node.children)
            continue
        out.append(node)
    return out


def _join(outer: _Node, inner: _Node) -> str:
    """The label of a node that stands for its only, same-sized child."""
    if outer.kind is not LayerKind.SCOPE:  # a stage, function or block keeps its name ...
        return outer.label if inner.kind is LayerKind.SCOPE else f"{outer.label} / {inner.label}"
    # ... a numbered scope too (`layers.3` over `layers.3.attn`: the layer is what people
    # name); otherwise the deeper name says more (`model.layers` over `model`).
    if any(ch.isdigit() for ch in SEPARATORS.split(outer.label)[-1]):
        return outer.label
    return inner.label


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
    return [
        _Node(f"r:{a}", f"{t} block {k}", LayerKind.REPEAT, a, b, [])
        for k, (a, b) in enumerate(kept)
    ]


# --- the public entry ---------------------------------------------------------------------------


_new = object.__new__
_set = object.__setattr__


def _layer(**fields: Any) -> Layer:
    """`Layer(**fields)`, given every field, without the frozen dataclass's per-field
    ``object.__setattr__`` (issue 14; tests/test_layers.py checks they equal the constructor's)."""
    layer: Layer = _new(Layer)
    _set(layer, "__dict__", fields)
    return layer


def _freeze(
    nodes: Sequence[_Node],
    index: Sequence[int],
    mix: Sequence[Sequence[int]],
    time_cum: Sequence[float],
    depth: int,
    parent_label: str | None,
) -> tuple[Layer, ...]:
    """The nodes as Layers. `mix` and `time_cum` are cumulative per-op sums as Python lists
    (one conversion for the whole tree instead of numpy scalars per node)."""
    out = []
    for n in nodes:
        hi, lo = mix[n.hi + 1], mix[n.lo]
        out.append(
            _layer(
                name=n.label,
                label=_short(n.label, parent_label) if n.kind is LayerKind.SCOPE else n.label,
                kind=n.kind,
                start=index[n.lo],
                end=index[n.hi],
                first_row=n.lo,
                last_row=n.hi,
                n_ops=n.hi - n.lo + 1,
                device_mix=dict(zip(DEVICE_ORDER, map(sub, hi, lo), strict=True)),
                est_time_ms=time_cum[n.hi + 1] - time_cum[n.lo],
                depth=depth,
                children=_freeze(n.children, index, mix, time_cum, depth + 1, n.label),
            )
        )
    return tuple(out)


@gc_paused()  # ~40k nodes, tuples and dicts, no cycles: the collector would walk the heap
def layer_tree(report_or_ops: ProfileReport | Iterable[Any]) -> tuple[Layer, ...]:
    """The layer tree of a report's compute ops (roots in execution order; see the module doc).

    Accepts a `ProfileReport` or a sequence of `OpRecord`s (anything with ``index``, ``name``,
    ``op_type``, ``function``, ``is_const``, ``block`` and, when known, ``device`` and
    ``est_time_ms``). Ops outside every root (an embedding before the layers) are in no node.
    """
    ops = list(cast("Iterable[Any]", getattr(report_or_ops, "ops", report_or_ops)))
    compute = list(compress(ops, map(not_, map(attrgetter("is_const"), ops))))
    if not compute:
        return ()
    roots = _prune(_build(_paths(compute)), None)
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
    lane = np.fromiter(map(dev_pos.get, _column(compute, "device"), repeat(-1)), np.int64, n)
    mix = np.zeros((n + 1, len(DEVICE_ORDER)), dtype=np.int64)
    placed = np.flatnonzero(lane >= 0)
    mix[placed + 1, lane[placed]] = 1
    mix = np.cumsum(mix, axis=0)
    times = np.fromiter(map(float, _column(compute, "est_time_ms", 0.0)), np.float64, n)
    time_cum = np.concatenate([[0.0], np.cumsum(times)])
    index = list(map(attrgetter("index"), compute))
    return _freeze(roots, index, mix.tolist(), time_cum.tolist(), 0, None)
