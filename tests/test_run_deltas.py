"""`run_deltas.RunDeltas`, the local search's move costs for every run at once (issue 14): each
answer must be the float the plain Python loop computes (`segment_search_reference`), also after
runs moved (an answer that a move made stale must not be given), and the search must make the
same moves."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from segment_search_reference import improve_runs as reference_improve
from segment_search_reference import move_delta as reference_delta
from test_scaling import structured_case

from ane_notebook.placement import partition as P
from ane_notebook.placement import segment_search
from ane_notebook.placement.costs import NOMINAL, corner
from ane_notebook.placement.run_deltas import RunDeltas

INF = math.inf


def _runs(a: list[int], starts: list[bool]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for k, d in enumerate(a):
        if k and not starts[k] and d == a[k - 1]:
            out[-1] = (out[-1][0], k)
        else:
            out.append((k, k))
    return out


def _answers(unary: np.ndarray, shared: P._Shared, a: list[int]) -> RunDeltas:
    runs = _runs(a, shared.starts)
    static = shared.long_static
    return RunDeltas(
        unary,
        static,
        static.xcosts.for_hw(shared.hw),
        shared.launch,
        np.array(a, dtype=np.intp),
        np.array([i for i, _ in runs], dtype=np.intp),
        np.array([j for _, j in runs], dtype=np.intp),
        segment_search._LONG_RUN,
    )


def _case(seed: int, n: int) -> tuple[np.ndarray, list, list[str], list[int]]:
    rng = random.Random(seed)
    unary, edges, functions = structured_case(rng, n)
    # times of a few magnitudes apart: a sum added in another order gives another float
    unary = unary * np.array([[10 ** rng.uniform(-1, 2)] for _ in range(n)])
    if rng.random() < 0.3:  # no chain edges: runs that only their order neighbours see
        edges = [[e for e in ek if e[0] != k - 1] for k, ek in enumerate(edges)]
    # short runs: every few ops another allowed device; sometimes an op on a device it cannot
    # run on (a reading that bars it), whose move then gains an infinite amount
    a, d = [], 2
    for k in range(n):
        if rng.random() < 0.2:
            d = rng.choice([c for c in range(3) if unary[k, c] < INF])
        a.append(d if unary[k, d] < INF or rng.random() < 0.05 else 2)
    return unary, edges, functions, a


@pytest.mark.parametrize("seed", range(8))
def test_every_answer_is_the_python_loops_float_also_after_moves(seed: int) -> None:
    unary, edges, functions, a = _case(seed, random.Random(seed).randint(1, 700))
    hw = NOMINAL if seed % 2 else corner(seed % 4 == 0, True)
    shared = P._Shared(edges, functions, None, hw)
    rng = random.Random(seed)
    known = _answers(unary, shared, a)
    asked = given = 0
    for _ in range(6):
        for i, j in _runs(a, shared.starts):
            got = known.get(i, j, a[i])
            asked += 1
            if got is None:
                continue
            given += 1
            for c in range(3):
                if c != a[i]:
                    want = reference_delta(unary, shared, a, i, j, a[i], c)
                    assert (got[c] is None) == (want is None)
                    if want is not None:
                        assert got[c] == want or (math.isnan(want) and math.isnan(got[c]))
        # move a few runs (or parts of them) as the search would, and say so
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(a))
            j = min(len(a) - 1, i + rng.randint(0, 5))
            a[i : j + 1] = [rng.randrange(3)] * (j - i + 1)
            known.moved(i, j)
    assert given and asked


@pytest.mark.parametrize("seed", range(10))
def test_the_search_makes_the_reference_moves(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    n = rng.choice([1, 2, 5, 40, 300, 1200])
    unary, edges, functions, a = _case(seed, n)
    shared = P._Shared(edges, functions, None)
    want = reference_improve(unary, shared, a)
    for many in (0, 10**9):  # answered with numpy at every sweep / never
        monkeypatch.setattr(segment_search, "_MANY_RUNS", many)
        assert segment_search.improve_runs(unary, shared, list(a)) == want


@pytest.mark.parametrize("seed", range(4))
def test_partition_is_unchanged_by_the_fast_path(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    unary, edges, functions = structured_case(rng, rng.randint(50, 1500))
    got = []
    for many in (0, 10**9):
        monkeypatch.setattr(segment_search, "_MANY_RUNS", many)
        got.append(P.partition(unary, edges, functions))
    assert got[0] == got[1]


def test_a_single_op_and_one_run_per_function() -> None:
    unary = np.array([[0.1, 0.2, 0.3]])
    shared = P._Shared([[(-1, 1024, True)]], ["main"], None)
    known = _answers(unary, shared, [2])
    got = known.get(0, 0, 2)
    assert got is not None
    assert got[:2] == [reference_delta(unary, shared, [2], 0, 0, 2, c) for c in (0, 1)]


@pytest.mark.parametrize("seed", range(8))
def test_long_static_flattens_the_edges_as_the_per_edge_loop_did(seed: int) -> None:
    from segment_search_reference import long_static_lists

    from ane_notebook.placement.crossing_tables import bytes_column

    rng = random.Random(seed)
    n = rng.choice([1, 2, 7, 300])
    _, edges, functions = structured_case(rng, n)
    if seed % 3 == 0:  # an op with many inputs, and one whose inputs are all the caller's
        edges[-1] = (
            [
                (rng.randint(-1, n - 2), 1 << rng.randint(0, 70), rng.random() < 0.5)
                for _ in range(40)
            ]
            if n > 1
            else [(-1, 10**25, True)]
        )
    if seed == 1:
        edges = [[] for _ in range(n)]  # no edges at all
    shared = P._Shared(edges, functions, None)
    ptr, other, nbytes, fp32, incoming = long_static_lists(edges, shared.consumers, shared.fn_start)
    got = segment_search.LongStatic(edges, shared.fn_start)
    assert got.ptr == ptr
    assert got.other.tolist() == other and got.incoming.tolist() == incoming
    assert got.owner.tolist() == [k for k in range(n) for _ in range(ptr[k], ptr[k + 1])]
    for hw in (NOMINAL, corner(True, False)):
        want = segment_search.CrossingTables(bytes_column(nbytes), np.array(fp32, dtype=bool))
        assert (got.xcosts.for_hw(hw)[got.xcosts.row] == want.for_hw(hw)[want.row]).all()
