"""The graph view's unit fast paths (issue 14) held to the plain code they replaced.

`graphunits.units` / `auto_expanded` walk the layer tree from lists made once per view (not a
children dict rebuilt per call), and `unit_layout` / `graph_layout` place nodes in numpy (not a
loop per unit): each is compared with the code before the change, kept here, on layer trees of
varied op lists (hostile and converter names, several functions, blocks, ops without a device),
an LLM-like report and the empty tree, over ranges that cut layers at their edges, empty and
one-row ranges, several open sets and node caps.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pytest
from test_groups import records
from test_layers import NAMES, llm_names
from test_layers_fastpaths import varied_ops
from test_render import make_report

from ane_notebook.analysis.layers import layer_tree
from ane_notebook.placement.devices import Device
from ane_notebook.render import graphunits
from ane_notebook.render.graph import graph_layout
from ane_notebook.render.graphunits import (
    COLLAPSE_ABOVE,
    MIN_UNITS,
    UNIT_BUDGET,
    LayerArrays,
    Unit,
    auto_expanded,
    centred_rows,
    layer_arrays,
    unit_layout,
    units,
)
from ane_notebook.render.optable import op_table
from ane_notebook.report import ProfileReport


def reference_units(layers: LayerArrays, lo: int, hi: int, expanded: set[int] | None) -> list[Unit]:
    """`units` before issue 14's pass: a children dict built per call."""
    kids: dict[int, list[int]] = {}
    for i, p in enumerate(layers.parent.tolist()):
        kids.setdefault(int(p), []).append(i)
    out: list[Unit] = []

    def emit(a: int, b: int, nodes: list[int]) -> None:
        r = a
        for i in nodes:
            f, last = int(layers.first[i]), int(layers.last[i])
            if last < a or f > b:
                continue
            while r < f:
                out.append((-1, r, r, r))
                r += 1
            inside = lo <= f and last < hi
            if inside and expanded is not None and i not in expanded:
                out.append((i, i, f, last))
            else:
                emit(max(f, a), min(last, b), kids.get(i, []))
            r = min(last, b) + 1
        while r <= b:
            out.append((-1, r, r, r))
            r += 1

    if hi > lo:
        emit(lo, hi - 1, kids.get(-1, []))
    return out


def reference_auto_expanded(
    layers: LayerArrays, lo: int, hi: int, collapse: int, budget: int, floor: int
) -> set[int] | None:
    """`auto_expanded` before issue 14's pass (every level cut twice), its constants given."""
    if hi - lo <= collapse or not len(layers):
        return None
    opened: set[int] = set()
    while True:
        now = reference_units(layers, lo, hi, opened)
        closed = [u[0] for u in now if u[0] >= 0]
        if not closed:
            return opened
        trial = opened | set(closed)
        if len(reference_units(layers, lo, hi, trial)) > budget and len(now) >= floor:
            return opened
        opened = trial


def reference_centred(depth: np.ndarray) -> np.ndarray:
    """The per-node loop `centred_rows` replaced."""
    m = len(depth)
    size = np.bincount(depth, minlength=1) if m else np.zeros(1, dtype=np.int64)
    slot = np.zeros_like(size)
    gy = np.zeros(m, dtype=np.float64)
    for k in range(m):
        d = depth[k]
        gy[k] = (size[d] - 1) / 2.0 - slot[d]
        slot[d] += 1
    return gy


def reference_unit_of(us: list[Unit], lo: int, hi: int) -> np.ndarray:
    unit_of = np.zeros(hi - lo, dtype=np.int64)
    for u, (_, _, f, last) in enumerate(us):
        unit_of[f - lo : last + 1 - lo] = u
    return unit_of


def ranges(n: int) -> Iterator[tuple[int, int]]:
    """Ranges within [0, n) (the callers clamp them): the whole, empty, a row, cut ones."""
    cut = [(0, n), (0, 0), (0, 1), (n // 3, n), (3, n // 2), (n - 1, n), (5, 6), (n, n)]
    yield from dict.fromkeys((min(a, n), max(min(a, n), min(b, n))) for a, b in cut)


def open_sets(layers: LayerArrays, rng: random.Random) -> list[set[int] | None]:
    ids = list(range(len(layers)))
    some = set(rng.sample(ids, min(len(ids), 5)))
    return [None, set(), set(ids), some, {0, 1, 2}, set(ids[::2])]


def trees(rng: random.Random) -> Iterator[LayerArrays]:
    yield layer_arrays(())
    for _ in range(40):
        yield layer_arrays(layer_tree(varied_ops(rng, rng.randint(0, 120))))
    for names in (NAMES * 3, llm_names(30), llm_names(3) * 40):
        yield layer_arrays(layer_tree(records(names)))


def test_units_are_the_references() -> None:
    rng = random.Random(14)
    for layers in trees(rng):
        n = int(layers.last.max()) + 1 if len(layers) else 4
        for lo, hi in ranges(n):
            for expanded in open_sets(layers, rng):
                assert units(layers, lo, hi, expanded) == reference_units(layers, lo, hi, expanded)


@pytest.mark.parametrize(
    ("collapse", "budget", "floor"),
    [(COLLAPSE_ABOVE, UNIT_BUDGET, MIN_UNITS), (4, 8, 3), (4, 40, 12), (0, 1, 1), (2, 3, 100)],
)
def test_auto_expanded_is_the_references(
    monkeypatch: pytest.MonkeyPatch, collapse: int, budget: int, floor: int
) -> None:
    # Small thresholds: the small trees here then open over several rounds, or stop early.
    monkeypatch.setattr(graphunits, "COLLAPSE_ABOVE", collapse)
    monkeypatch.setattr(graphunits, "UNIT_BUDGET", budget)
    monkeypatch.setattr(graphunits, "MIN_UNITS", floor)
    rng = random.Random(14)
    for layers in trees(rng):
        n = int(layers.last.max()) + 1 if len(layers) else 4
        for lo, hi in ranges(n):
            want = reference_auto_expanded(layers, lo, hi, collapse, budget, floor)
            assert auto_expanded(layers, lo, hi) == want


def test_centred_rows_are_the_loops() -> None:
    rng = np.random.default_rng(14)
    cases = [np.zeros(0, np.int64), np.zeros(1, np.int64), np.arange(7, dtype=np.int64)]
    cases += [rng.integers(0, k, size=m).astype(np.int64) for k, m in [(1, 9), (3, 50), (40, 30)]]
    for depth in cases:
        got, want = centred_rows(depth), reference_centred(depth)
        assert got.dtype == want.dtype and got.tolist() == want.tolist()


def layout_reports() -> list[ProfileReport]:
    from test_render_layers import llm_report

    A, C = Device.ANE, Device.CPU
    return [llm_report(40), make_report([A, C, None, A] * 20), make_report([A])]


def test_unit_layouts_place_units_as_the_loops() -> None:
    rng = random.Random(14)
    for rep in layout_reports():
        table = op_table(rep)
        layers = layer_arrays(layer_tree(rep))
        n = len(table)
        for lo, hi in ranges(n):
            for expanded in [*open_sets(layers, rng), auto_expanded(layers, lo, hi)]:
                for cap in [2000, 7, 1, 0]:
                    lay = unit_layout(table, layers, lo, hi, expanded, cap)
                    want = reference_unit_of(lay.units, lay.lo, lay.hi)
                    assert lay.unit_of.dtype == want.dtype
                    assert lay.unit_of.tolist() == want.tolist()
                    depth = lay.gx.astype(np.int64)
                    assert lay.gy.tolist() == reference_centred(depth).tolist()


def test_op_graph_layouts_place_ops_as_the_loops() -> None:
    for rep in layout_reports():
        table = op_table(rep)
        n = len(table)
        for lo, hi in ranges(n):
            for cap in [2000, 5, 0]:
                lay = graph_layout(table, lo, hi, cap)
                want = reference_centred(lay.gx.astype(np.int64))
                assert lay.gy.dtype == want.dtype and lay.gy.tolist() == want.tolist()
