"""The partitioner's answers kept across calls that share a `Refiner` (GitHub issue 14).

A comparison estimates one problem under four compute-unit settings with one `Refiner`; ALL
re-solves CPU_AND_GPU and CPU_AND_NE as its starting points, and takes them from the narrower
settings' own calls (`_Shared.solved`). Each call must still give exactly what a fresh
`partition` of its own matrix gives, in any order, under any costs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ane_notebook.placement import partition as part
from ane_notebook.placement.costs import DEVICE_COLUMNS, NOMINAL, corner
from ane_notebook.placement.devices import Device
from ane_notebook.placement.partition import Edge, Refiner, partition

ANE, GPU, CPU = (DEVICE_COLUMNS.index(d) for d in (Device.ANE, Device.GPU, Device.CPU))
INF = math.inf
# the settings' columns: CPU_ONLY, CPU_AND_GPU, CPU_AND_NE, ALL
SETTINGS = ((CPU,), (CPU, GPU), (CPU, ANE), (CPU, GPU, ANE))


def _problem(
    seed: int, n: int, functions: int = 1
) -> tuple[np.ndarray, list[list[Edge]], list[str], list[list[str]]]:
    """Random op times (some devices not allowed), a chain with skip edges (residuals), some
    tensors read twice, and `functions` functions in turn."""
    rng = np.random.default_rng(seed)
    unary = rng.uniform(0.0, 0.5, size=(n, 3))
    unary[rng.uniform(size=(n, 3)) < 0.25] = INF
    unary[:, CPU] = rng.uniform(0.0, 0.5, size=n)  # the CPU runs everything
    names = [f"f{k * functions // max(n, 1)}" for k in range(n)]
    edges: list[list[Edge]] = []
    tensors: list[list[str]] = []
    for k in range(n):
        ek: list[Edge] = [(k - 1, int(rng.choice([256, 4096, 1 << 20])), bool(rng.integers(2)))]
        tk = [f"t{k - 1}"]
        if k > 2 and rng.uniform() < 0.4:
            src = int(rng.integers(0, k - 1))
            ek.append((src, 4096, True))
            tk.append(f"t{src}")
        edges.append(ek)
        tensors.append(tk)
    return unary, edges, names, tensors


def _setting(unary: np.ndarray, cols: tuple[int, ...]) -> np.ndarray:
    """The matrix a setting gives: the same times, inf off its processors (`Problem.unary`)."""
    keep = np.zeros(3, dtype=bool)
    keep[list(cols)] = True
    return np.where(keep[None, :], unary, INF)


CASES = [(0, 1, 1), (1, 2, 1), (2, 40, 1), (3, 120, 1), (4, 120, 3), (5, 300, 2), (6, 600, 1)]


@pytest.mark.parametrize(("seed", "n", "functions"), CASES)
@pytest.mark.parametrize("order", ["narrow first", "wide first"])
def test_shared_tables_give_each_setting_its_fresh_answer(
    seed: int, n: int, functions: int, order: str
) -> None:
    unary, edges, names, tensors = _problem(seed, n, functions)
    tables = Refiner(edges, names, tensors)
    settings = SETTINGS if order == "narrow first" else SETTINGS[::-1]
    # the nominal costs and another reading: answers kept under one are not the other's
    for hw in (NOMINAL, corner(True, False), NOMINAL):
        for cols in settings:
            u = _setting(unary, cols)
            got = partition(u, edges, names, tensors, hw=hw, tables=tables)
            assert got == partition(u, edges, names, tensors, hw=hw), (cols, hw)
        # other times on the same processors: a matrix of its own, not the kept answer
        other = unary * np.linspace(0.5, 2.0, n)[:, None]
        got = partition(other, edges, names, tensors, hw=hw, tables=tables)
        assert got == partition(other, edges, names, tensors, hw=hw)


def test_wide_setting_takes_the_narrow_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    # the point of keeping them: after CPU_AND_GPU and CPU_AND_NE, ALL searches only its own
    # three processors (without the narrower calls it searches three times)
    unary, edges, names, tensors = _problem(7, 200, 2)
    searched: list[frozenset[int]] = []
    search = part._search

    def counted(u: np.ndarray, shared: part._Shared) -> list[int]:
        searched.append(frozenset(np.flatnonzero(np.isfinite(u).any(axis=0)).tolist()))
        return search(u, shared)

    monkeypatch.setattr(part, "_search", counted)
    partition(unary, edges, names, tensors, tables=Refiner(edges, names, tensors))
    assert len(searched) == 3
    tables = Refiner(edges, names, tensors)
    for cols in SETTINGS[1:3]:
        partition(_setting(unary, cols), edges, names, tensors, tables=tables)
    searched.clear()
    partition(unary, edges, names, tensors, tables=tables)
    assert searched == [frozenset({ANE, GPU, CPU})]


def test_an_answer_changed_by_its_caller_is_not_handed_on() -> None:
    unary, edges, names, tensors = _problem(8, 60)
    tables = Refiner(edges, names, tensors)
    first = partition(unary, edges, names, tensors, tables=tables)
    want = list(first)
    first[:] = [ANE] * len(first)
    assert partition(unary, edges, names, tensors, tables=tables) == want
    unary_copy = unary.copy()
    unary[:] = 0.0  # the caller's matrix changed after the call: the kept one did not
    assert partition(unary_copy, edges, names, tensors, tables=tables) == want
