"""The partitioner: minimum total time, islands absorbed, functions started on the CPU."""

from __future__ import annotations

import math

import numpy as np

from ane_notebook.placement.costs import DEVICE_COLUMNS, LAUNCH_MS, crossing_cost_ms
from ane_notebook.placement.devices import Device
from ane_notebook.placement.partition import partition as _partition

ANE, GPU, CPU = (DEVICE_COLUMNS.index(d) for d in (Device.ANE, Device.GPU, Device.CPU))
INF = math.inf
SMALL = (1024, False)  # 1 KB fp16 edge


def _chain_edges(n: int) -> list[list[tuple[int, int, bool]]]:
    return [[(k - 1, *SMALL)] for k in range(n)]


def _cost(unary: np.ndarray, assign: list[int], edges: list[list[tuple[int, int, bool]]]) -> float:
    """Total cost of an assignment under the same model the partitioner minimises."""
    total = 0.0
    prev = CPU
    for k, d in enumerate(assign):
        total += unary[k, d]
        if d != prev:
            total += LAUNCH_MS[DEVICE_COLUMNS[d]]
        for src, nbytes, fp32 in edges[k]:
            src_dev = CPU if src < 0 else assign[src]
            total += crossing_cost_ms(DEVICE_COLUMNS[src_dev], DEVICE_COLUMNS[d], nbytes, fp32)
        prev = d
    return total


def test_big_work_goes_to_ane_when_cheapest() -> None:
    unary = np.array([[0.1, 1.0, 5.0]] * 5)
    assert _partition(unary, _chain_edges(5), ["main"] * 5) == [ANE] * 5


def test_tiny_work_stays_on_cpu() -> None:
    # Each op is faster on the ANE, but the whole model is smaller than one ANE dispatch.
    unary = np.array([[0.001, 0.01, 0.005]] * 3)
    assert _partition(unary, _chain_edges(3), ["main"] * 3) == [CPU] * 3


def test_island_is_absorbed_when_not_worth_two_crossings() -> None:
    # Op 2 is slightly faster on the GPU, but leaving the ANE and coming back costs more.
    unary = np.array([[0.5, 5, 5], [0.5, 5, 5], [0.30, 0.29, 5], [0.5, 5, 5], [0.5, 5, 5]])
    assign = _partition(unary, _chain_edges(5), ["main"] * 5)
    assert assign == [ANE] * 5


def test_island_kept_when_worth_it() -> None:
    # Op 2 is far cheaper on the GPU: worth two crossings.
    unary = np.array([[0.5, 5, 5], [0.5, 5, 5], [20.0, 0.1, 30], [0.5, 5, 5], [0.5, 5, 5]])
    assign = _partition(unary, _chain_edges(5), ["main"] * 5)
    assert assign == [ANE, ANE, GPU, ANE, ANE]


def test_forced_off_ane_op_splits_segment() -> None:
    unary = np.array([[0.5, 5, 5], [INF, INF, 0.01], [0.5, 5, 5]])
    assert _partition(unary, _chain_edges(3), ["main"] * 3) == [ANE, CPU, ANE]


def test_optimal_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    import itertools

    for _ in range(30):
        n = 6
        unary = rng.uniform(0.0, 0.6, size=(n, 3))
        unary[rng.uniform(size=(n, 3)) < 0.2] = INF
        unary[:, CPU] = rng.uniform(0.0, 0.6, size=n)  # the CPU is always allowed
        edges = _chain_edges(n)
        got = _partition(unary, edges, ["main"] * n)
        best = min(_cost(unary, list(a), edges) for a in itertools.product(range(3), repeat=n))
        assert math.isclose(_cost(unary, got, edges), best, rel_tol=1e-9)


def test_each_function_starts_on_cpu() -> None:
    # Two functions: the second's first op pays the ANE launch again.
    unary = np.array([[0.3, 5, 5]] * 4)
    edges: list[list[tuple[int, int, bool]]] = [
        [(-1, *SMALL)],
        [(0, *SMALL)],
        [(-1, *SMALL)],
        [(2, *SMALL)],
    ]
    assign = _partition(unary, edges, ["a", "a", "b", "b"])
    assert assign == [ANE] * 4
    unary_small = np.array([[0.3, 5, 5], [0.3, 5, 5], [0.02, 5, 0.05], [0.02, 5, 0.05]])
    assert _partition(unary_small, edges, ["a", "a", "b", "b"]) == [ANE, ANE, CPU, CPU]


def test_local_search_never_worse_than_dp_and_matches_exact_objective() -> None:
    from ane_notebook.placement.partition import improve_segments, total_cost

    rng = np.random.default_rng(1)
    for _ in range(40):
        n = 12
        unary = rng.uniform(0.0, 0.4, size=(n, 3))
        unary[rng.uniform(size=(n, 3)) < 0.25] = INF
        unary[:, CPU] = rng.uniform(0.0, 0.4, size=n)
        # a chain plus random skip edges (residuals), as in real models
        edges: list[list[tuple[int, int, bool]]] = [[(k - 1, *SMALL)] for k in range(n)]
        for k in range(2, n):
            if rng.uniform() < 0.4:
                edges[k].append((int(rng.integers(0, k - 1)), 4096, True))
        start = [int(np.argmin(r)) for r in unary]
        fns = ["main"] * n
        improved = improve_segments(unary, edges, fns, start)
        assert total_cost(unary, edges, fns, improved) <= total_cost(unary, edges, fns, start)
        full = _partition(unary, edges, fns)
        assert all(unary[k, d] < INF for k, d in enumerate(full))
