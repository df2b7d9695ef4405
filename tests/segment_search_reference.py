"""The local search as it was before `run_deltas.RunDeltas` (issue 14), kept as the reference
its fast path must match bit for bit: every run's move cost asked one at a time, in Python
(the plain loop of `segment_search.improve_runs`, without the numpy paths)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ane_notebook.placement.costs import DEVICE_COLUMNS
from ane_notebook.placement.devices import Device

_INF = math.inf
_NDEV = len(DEVICE_COLUMNS)
_CPU = DEVICE_COLUMNS.index(Device.CPU)


def move_delta(
    unary: np.ndarray, shared: Any, a: list[int], i: int, j: int, d: int, c: int
) -> float | None:
    """Change in total cost if ops i..j (all on d) moved to c; None if c cannot run one."""
    hw, launch, n = shared.hw, shared.launch, len(a)

    def x(s: int, t: int, nbytes: int, fp32: bool) -> float:
        if s == t:
            return 0.0
        return hw.crossing_ms(DEVICE_COLUMNS[s], DEVICE_COLUMNS[t], nbytes, fp32)

    delta = 0.0
    for k in range(i, j + 1):
        uc = float(unary[k, c])
        if uc == _INF:
            return None
        delta += uc - float(unary[k, d])
    prev_dev = _CPU if shared.starts[i] else a[i - 1]
    delta += (launch[c] if c != prev_dev else 0.0) - (launch[d] if d != prev_dev else 0.0)
    if j + 1 < n and not shared.starts[j + 1]:
        nxt = a[j + 1]
        delta += (launch[nxt] if nxt != c else 0.0) - (launch[nxt] if nxt != d else 0.0)
    for k in range(i, j + 1):
        lo = shared.fn_start[k]
        for src, nbytes, fp32 in shared.edges[k]:
            if lo <= src and i <= src <= j:
                continue
            s = _CPU if src < lo else a[src]
            delta += x(s, c, nbytes, fp32) - x(s, d, nbytes, fp32)
        for dst, nbytes, fp32 in shared.consumers[k]:
            if i <= dst <= j:
                continue
            delta += x(c, a[dst], nbytes, fp32) - x(d, a[dst], nbytes, fp32)
    return delta


def improve_runs(unary: np.ndarray, shared: Any, assign: list[int]) -> list[int]:
    """`segment_search.improve_runs` with the runs rescanned from the assignment each time."""
    a = list(assign)
    n = len(a)
    for _ in range(50):
        improved = False
        i = 0
        while i < n:
            j = i
            while j + 1 < n and not shared.starts[j + 1] and a[j + 1] == a[i]:
                j += 1
            d = a[i]
            best_delta, best_dev = -1e-12, d
            for c in range(_NDEV):
                if c != d:
                    delta = move_delta(unary, shared, a, i, j, d, c)
                    if delta is not None and delta < best_delta:
                        best_delta, best_dev = delta, c
            if best_dev != d:
                a[i : j + 1] = [best_dev] * (j - i + 1)
                improved = True
                # step back to the start of the run holding the op left of i (same function)
                if not shared.starts[i]:
                    i -= 1
                    while i > 0 and not shared.starts[i] and a[i - 1] == a[i]:
                        i -= 1
                continue
            i = j + 1
        if not improved:
            break
    return a


def long_static_lists(edges: Any, consumers: Any, fn_start: Any) -> tuple[list[int], ...]:
    """`segment_search.LongStatic`'s flattened tables as its per-edge loop built them:
    (ptr, other, nbytes, fp32, incoming)."""
    other: list[int] = []
    nbytes: list[int] = []
    fp32: list[int] = []
    incoming: list[int] = []
    ptr = [0]
    for k in range(len(edges)):
        lo = fn_start[k]
        for src, nb, fp in edges[k]:
            other.append(src if src >= lo else -1)
            nbytes.append(nb)
            fp32.append(fp)
            incoming.append(True)
        for dst, nb, fp in consumers[k]:
            other.append(dst)
            nbytes.append(nb)
            fp32.append(fp)
            incoming.append(False)
        ptr.append(len(other))
    return ptr, other, nbytes, fp32, incoming
