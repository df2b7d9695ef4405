"""What the scaling work (issue 5) must not change: the partitioner's fast paths give the same
placements, bit for bit, as the plain loops; the garbage-collector pause nests and restores.
Timings live in benchmarks/run.py, not here."""

from __future__ import annotations

import gc
import math
import random

import numpy as np
import pytest

from ane_notebook._gc import gc_paused
from ane_notebook.placement import partition as P
from ane_notebook.placement import segment_search

INF = math.inf


def structured_case(rng: random.Random, n: int) -> tuple[np.ndarray, list, list[str]]:
    """Blocks of similar ops (long runs), islands only some devices can run, a few functions,
    chain edges plus random skip edges: what makes runs merge and move."""
    rows: list[list[float]] = []
    while len(rows) < n:
        kind, length = rng.random(), rng.randint(1, 300)
        for _ in range(length):
            if kind < 0.6:
                r = [rng.uniform(0.001, 0.01), rng.uniform(0.005, 0.05), rng.uniform(0.01, 0.1)]
            elif kind < 0.85:
                r = [INF, rng.uniform(0.001, 0.05), rng.uniform(0.001, 0.05)]
            else:
                r = [INF, INF, rng.uniform(0.001, 0.05)]
            rows.append(r)
    unary = np.array(rows[:n])
    functions, f = [], 0
    for _ in range(n):
        f += rng.random() < 0.002
        functions.append(f"f{f}")
    edges = []
    for k in range(n):
        ek = [(k - 1, rng.choice([2048, 65536, 1 << 18]), rng.random() < 0.2)] if k else []
        for _ in range(rng.choice([0, 0, 1, 2])):
            src = rng.randint(-1, k - 1) if k else -1
            ek.append((src, rng.choice([0, 1024, 1 << 20, 3 << 40]), rng.random() < 0.5))
        edges.append(ek)
    return unary, edges, functions


@pytest.mark.parametrize("seed", range(6))
def test_long_run_numpy_path_matches_the_python_loop(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    unary, edges, functions = structured_case(rng, rng.randint(200, 1500))
    start = [rng.choice([d for d in range(3) if unary[k, d] < INF]) for k in range(len(edges))]
    results = []
    for long_run in (1, 10**9):  # numpy for every run / for none
        monkeypatch.setattr(segment_search, "_LONG_RUN", long_run)
        results.append(
            (
                P.partition(unary, edges, functions),
                P.improve_segments(unary, edges, functions, list(start)),
            )
        )
    assert results[0] == results[1]


def test_absorbing_many_islands_into_one_run() -> None:
    # The pattern that was quadratic: per-"layer" islands that all end up merged into one run.
    n_layers, per_layer = 400, 50
    rows, edges = [], []
    for _layer in range(n_layers):
        for i in range(per_layer):
            rows.append([INF, 0.002, 0.004] if i == per_layer // 2 else [0.001, 0.0012, 0.01])
    for k in range(len(rows)):
        edges.append([(k - 1, 8192, False)] if k else [])
    unary = np.array(rows)
    fns = ["main"] * len(rows)
    alternating = [1 if math.isinf(r[0]) else 0 for r in rows]  # ANE with GPU islands
    out = P.improve_segments(unary, edges, fns, alternating)
    assert P.total_cost(unary, edges, fns, out) <= P.total_cost(unary, edges, fns, alternating)
    assert out == [1] * len(rows)  # one GPU run: every island absorbed


def test_gc_paused_nests_and_restores() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # still inside the outer pause
    assert gc.isenabled()
    with pytest.raises(ValueError), gc_paused():
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a caller's own pause is left alone
    finally:
        gc.enable()


def test_the_html_page_is_made_with_the_collector_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Its layer tree and bokeh models are millions of small objects on a 50k-op report; the
    # collector walking the heap meanwhile cost up to a third of the page (GitHub issue 14).
    from ane_notebook.api import profile
    from ane_notebook.render.diagram import build_layout as real

    seen: list[bool] = []

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("ane_notebook.render.html.build_layout", spy)
    assert gc.isenabled()
    page = profile("example:lstm").to_html()
    assert seen == [False] and gc.isenabled() and "<html" in page.lower()


@pytest.mark.parametrize("seed", range(4))
def test_long_run_deltas_kept_per_run_start_match_a_fresh_sum(seed: int) -> None:
    # `_LongRuns` keeps, per run start, the time-change sums, the blocked flags and the edges
    # that leave the run, and extends them as the run grows: every answer must be the float a
    # fresh instance (nothing kept) computes, also after the assignment changed and with edges
    # that the growth turned into inside edges.
    rng = random.Random(seed)
    unary, edges, functions = structured_case(rng, 900)
    # times over many magnitudes: a sum added in another order gives another float
    unary = unary * np.array([[10 ** rng.uniform(-6, 6)] for _ in range(len(edges))])
    functions = ["main"] * len(edges)
    shared = P._Shared(edges, functions, None)
    assign = [rng.choice([d for d in range(3) if unary[k, d] < INF]) for k in range(len(edges))]
    kept = segment_search._LongRuns(unary, shared.long_static, assign, shared.hw)
    for i in (0, 37, 400):
        j = i
        while j < len(edges) - 1:
            j = min(len(edges) - 1, j + rng.randint(1, 60))
            d, c = rng.sample(range(3), 2)
            if rng.random() < 0.3:  # the rest of the assignment moves between questions
                k = rng.randrange(len(edges))
                kept.moved(k, k, assign[k] ^ 1 if assign[k] < 2 else 0)
            fresh = segment_search._LongRuns(unary, shared.long_static, assign, shared.hw)
            fresh.assign = kept.assign.copy()
            parts = (rng.uniform(-1, 1), rng.uniform(-1, 1))
            assert kept.delta(i, j, d, c, parts) == fresh.delta(i, j, d, c, parts)
        # asked again for a shorter run from the same start: recomputed, still exact
        fresh = segment_search._LongRuns(unary, shared.long_static, assign, shared.hw)
        fresh.assign = kept.assign.copy()
        assert kept.delta(i, i + 5, 0, 1, ()) == fresh.delta(i, i + 5, 0, 1, ())


@pytest.mark.parametrize("seed", range(3))
def test_crossing_tables_per_distinct_pair_give_every_edges_own_costs(seed: int) -> None:
    # CrossingTables keeps one row per distinct (bytes, fp32) and points each edge at it: the
    # edge's row must hold exactly the floats the table of all edges would, under each reading.
    from ane_notebook.placement.costs import NOMINAL, corner
    from ane_notebook.placement.crossing_tables import (
        CrossingTables,
        bytes_column,
        crossing_table,
    )
    from ane_notebook.placement.devices import get_chip

    rng = random.Random(seed)
    sizes = [0, 1, 1024, 1 << 20, 3 << 40, 10**25, 7919]
    nb = bytes_column([rng.choice(sizes) + rng.randint(0, 2) for _ in range(500)])
    fp = np.array([rng.random() < 0.4 for _ in range(500)], dtype=bool)
    tables = CrossingTables(nb, fp)
    assert len(tables.nb) < len(nb)  # shared rows
    for hw in (NOMINAL, corner(True, False), corner(False, True).for_chip(get_chip("M4"))):
        got = tables.for_hw(hw)[tables.row]
        assert np.array_equal(got, crossing_table(nb, fp, hw))
    empty = CrossingTables(bytes_column([]), np.zeros(0, dtype=bool))
    assert empty.row.shape == (0,)
