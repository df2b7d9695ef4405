"""The layer tree flattened for the graph view (`graphunits.py`): one row per layer, preorder.

`layer_arrays` turns the tree (`analysis/layers.py`) into the arrays the browser cuts a range
of ops into units with (first/last row, parent, depth) and the columns its layer nodes show
(escaped label and name, device mix, op count, time). A 50,000-op LLM has ~4,500 layers: the
fields are read a column at a time in C and the mix texts made once per distinct device mix
(issue 14: ~20 ms before, a Python generator per field per layer).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np

from ..analysis.layers import Layer, LayerKind
from ..placement.devices import DEVICE_ORDER
from .optable import _Escaper

__all__ = ["LayerArrays", "layer_arrays"]


@dataclass(frozen=True)
class LayerArrays:
    """The layer tree flattened in preorder: what the browser needs to cut a range into units."""

    first: np.ndarray  # first row (position among compute ops)
    last: np.ndarray  # last row, inclusive
    parent: np.ndarray  # preorder index of the parent, -1 for a root
    depth: np.ndarray
    columns: dict[str, Any]  # escaped label/name/mix text, n_ops, dominant device, time

    def __len__(self) -> int:
        return len(self.first)


def _preorder(tree: Sequence[Layer]) -> tuple[list[Layer], list[int]]:
    """Every node in `walk` order, and each one's parent's position there (-1: a root)."""
    nodes: list[Layer] = []
    parents: list[int] = []
    stack: list[tuple[Iterator[Layer], int]] = [(iter(tree), -1)]
    while stack:
        it, parent = stack[-1]
        for layer in it:
            parents.append(parent)
            nodes.append(layer)
            if layer.children:
                stack.append((iter(layer.children), len(nodes) - 1))
                break
        else:
            stack.pop()
    return nodes, parents


def _mix_texts(counts: tuple[int, ...]) -> tuple[str, str, str]:
    """A device mix's text ("ANE 12 · CPU 3"), dominant device and second device ("?" none)."""
    mix = dict(zip(DEVICE_ORDER, counts, strict=True))
    text = " · ".join(f"{d.value} {mix[d]}" for d in DEVICE_ORDER if mix[d])
    best = max(DEVICE_ORDER, key=lambda d: mix[d])
    dominant = best.value if mix[best] else "?"
    ranked = sorted(DEVICE_ORDER, key=lambda d: -mix[d])
    return text, dominant, ranked[1].value if mix[ranked[1]] else dominant


_FIELDS = ("label", "name", "kind", "n_ops", "device_mix", "est_time_ms")
_ROWS = ("first_row", "last_row", "depth")
_KIND_VALUE = {k: k.value for k in LayerKind}


def layer_arrays(tree: Sequence[Layer]) -> LayerArrays:
    nodes, parents = _preorder(tree)
    n = len(nodes)
    esc = _Escaper(120)
    fields: list[Sequence[Any]] = [[] for _ in _FIELDS + _ROWS]
    if nodes:
        fields = list(zip(*map(attrgetter(*_FIELDS, *_ROWS), nodes), strict=True))
    labels, names, kinds, n_ops, mixes, times, first, last, depth = fields
    # The texts depend on the device mix only, and thousands of layers share a few mixes.
    counts = list(map(itemgetter(*DEVICE_ORDER), mixes))
    texts = {c: _mix_texts(c) for c in dict.fromkeys(counts)}
    per_layer = list(map(texts.__getitem__, counts))
    cols: dict[str, Any] = {
        "label": esc.column(labels),
        "name": esc.column(names),
        "kind": list(map(_KIND_VALUE.__getitem__, kinds)),
        "n_ops": np.fromiter(n_ops, np.int32, n),
        "mix": list(map(itemgetter(0), per_layer)),
        "device": list(map(itemgetter(1), per_layer)),
        "device2": list(map(itemgetter(2), per_layer)),
        "time_ms": np.fromiter(times, np.float64, n),
    }
    return LayerArrays(
        first=np.fromiter(first, np.int32, n),
        last=np.fromiter(last, np.int32, n),
        parent=np.array(parents, dtype=np.int32),
        depth=np.fromiter(depth, np.int32, n),
        columns=cols,
    )
