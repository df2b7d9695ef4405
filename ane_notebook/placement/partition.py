"""The partitioner: one device per op, minimising estimated time including crossings.

A dynamic programme (Viterbi) over execution order, like the shortest-path solve that
reverse-engineering found in Core ML's own planner (ane-rules.md §C1, RE: ane-guide ch.5/18).
The state is the device of the previous op, so the cost of switching processors between
consecutive ops is exact; data edges from earlier ops are charged with the device those ops got
in the previous pass, and passes repeat until nothing changes (at most MAX_PASSES). An island
not worth two crossings is therefore absorbed into its neighbours.

Input: `unary[k, j]`, op k's time on device column j (inf where not allowed); `edges[k]`, op k's
incoming data edges as (producer position, bytes, is_fp32) with producer -1 for model inputs;
`functions[k]`, the function op k belongs to (each function starts on the CPU, the caller).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .costs import DEVICE_COLUMNS, LAUNCH_MS, crossing_cost_ms
from .devices import Device

_INF = math.inf
_NDEV = len(DEVICE_COLUMNS)
_CPU = DEVICE_COLUMNS.index(Device.CPU)
MAX_PASSES = 4

Edge = tuple[int, int, bool]


def partition(unary: np.ndarray, edges: Sequence[Sequence[Edge]],
               functions: Sequence[str]) -> list[int]:
    """Pick a device column per op minimising op time + switches + crossings (see module doc)."""
    n = len(edges)
    if n == 0:
        return []
    launch = [LAUNCH_MS[d] for d in DEVICE_COLUMNS]
    # Crossing cost tables per (bytes, fp32) computed on demand; most edges repeat sizes.
    xcache: dict[tuple[int, bool], list[list[float]]] = {}

    def xtable(nbytes: int, fp32: bool) -> list[list[float]]:
        tab = xcache.get((nbytes, fp32))
        if tab is None:
            tab = [[crossing_cost_ms(a, b, nbytes, fp32) for b in DEVICE_COLUMNS]
                   for a in DEVICE_COLUMNS]
            xcache[(nbytes, fp32)] = tab
        return tab

    un = unary.tolist()
    # Each function (and pipeline stage) is its own program, started by the caller on the CPU.
    chunks: list[tuple[int, int]] = []
    lo = 0
    for k in range(1, n + 1):
        if k == n or functions[k] != functions[lo]:
            chunks.append((lo, k))
            lo = k
    assign = [int(np.argmin(row)) for row in unary]  # pass 0 guess: each op's fastest device
    for _ in range(MAX_PASSES):
        new: list[int] = []
        for lo, hi in chunks:
            new.extend(_dp_pass(un, edges, lo, hi, assign, launch, xtable))
        if new == assign:
            break
        assign = new
    return assign


def _dp_pass(un: list[list[float]], edges: Sequence[Sequence[Edge]],
             lo: int, hi: int, prev_assign: list[int], launch: list[float],
             xtable: Callable[[int, bool], list[list[float]]]) -> list[int]:
    """One Viterbi pass over ops lo..hi-1 (one function), starting from the CPU.

    Edges from the previous op are charged exactly; edges from earlier ops use `prev_assign`;
    edges from model inputs or other functions come from the CPU, where the caller holds them.
    """
    back: list[list[int]] = []
    # Before the first op the caller is on the CPU.
    best = [_INF] * _NDEV
    best[_CPU] = 0.0
    for k in range(lo, hi):
        u = list(un[k])
        # pair[a][b]: cost of going from device a (previous op) to device b (this op)
        pair = [[0.0 if a == b else launch[b] for b in range(_NDEV)] for a in range(_NDEV)]
        for src, nbytes, fp32 in edges[k]:
            tab = xtable(nbytes, fp32)
            if src < lo:
                row = tab[_CPU]
                for b in range(_NDEV):
                    u[b] += row[b]
            elif src == k - 1 and k > lo:
                for a in range(_NDEV):
                    ra = tab[a]
                    pa = pair[a]
                    for b in range(_NDEV):
                        pa[b] += ra[b]
            else:
                row = tab[prev_assign[src]]
                for b in range(_NDEV):
                    u[b] += row[b]
        new_best = [_INF] * _NDEV
        bk = [_CPU] * _NDEV
        for b in range(_NDEV):
            ub = u[b]
            if ub == _INF:
                continue
            m = _INF
            arg = _CPU
            for a in range(_NDEV):
                c = best[a] + pair[a][b]
                if c < m:
                    m = c
                    arg = a
            new_best[b] = m + ub
            bk[b] = arg
        back.append(bk)
        best = new_best
    out = [0] * (hi - lo)
    cur = min(range(_NDEV), key=lambda j: best[j])
    for k in range(hi - lo - 1, -1, -1):
        out[k] = cur
        cur = back[k][cur]
    return out
