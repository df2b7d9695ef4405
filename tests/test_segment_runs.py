"""The local search's runs (`segment_search._Runs`), found with numpy (issue 14), held to the
per-op loop they replace: the same maximal same-device runs, never crossing a function start."""

from __future__ import annotations

import numpy as np
import pytest

from ane_notebook.placement.segment_search import _Runs


def _runs_plainly(a: list[int], starts: list[bool]) -> tuple[list[int], list[int], list[int]]:
    start: list[int] = []
    end: list[int] = []
    dev: list[int] = []
    for k, d in enumerate(a):
        if k and not starts[k] and d == dev[-1]:
            end[-1] = k
        else:
            start.append(k)
            end.append(k)
            dev.append(d)
    return start, end, dev


def _cases() -> list[tuple[list[int], list[bool]]]:
    rng = np.random.default_rng(0)
    out: list[tuple[list[int], list[bool]]] = [
        ([], []),
        ([2], [True]),
        ([1], [False]),  # op 0 starts a run whatever the flag says
        ([0, 0, 0], [True, False, False]),
        ([0, 0, 1, 1], [True, False, True, False]),  # a function start splits a run
        ([0, 1, 0, 1], [True, True, True, True]),
    ]
    for n in (2, 7, 50, 400):
        a = np.repeat(rng.integers(0, 3, n), rng.integers(1, 6, n)).tolist()
        starts = (rng.uniform(size=len(a)) < 0.05).tolist()
        out.append((a, starts))
    return out


@pytest.mark.parametrize(("a", "starts"), _cases())
def test_runs_are_the_plain_loops(a: list[int], starts: list[bool]) -> None:
    want = _runs_plainly(a, starts)
    for given in (None, np.array(starts, dtype=bool)):
        runs = _Runs(a, starts, given)
        assert (runs.start, runs.end, runs.dev) == want
        m = len(want[0])
        assert runs.prev == list(range(-1, m - 1)) and runs.next == [*range(1, m), -1]
        if given is not None:
            assert given.tolist() == starts  # the caller's array is left as it was
