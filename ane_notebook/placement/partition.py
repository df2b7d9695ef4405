"""The partitioner: one device per op, minimising estimated time including crossings.

A dynamic programme (Viterbi) over execution order, like the shortest-path solve that
reverse-engineering found in Core ML's own planner (ane-rules.md §C1, RE: ane-guide ch.5/18).
The state is the device of the previous op, so the cost of switching processors between
consecutive ops is exact; data edges from earlier ops are charged with the device those ops got
in the previous pass, and passes repeat until nothing changes (at most MAX_PASSES). Because
that approximation can settle in a local optimum (a run left on the GPU after a GPU-only op,
say), a local search then moves whole segments to another device while the exact objective
(`total_cost`) drops. An island not worth two crossings is therefore absorbed into its
neighbours.

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
MAX_SWEEPS = 50  # local-search sweeps; each is linear in ops + edges

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
    return improve_segments(unary, edges, functions, assign)


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


def total_cost(unary: np.ndarray, edges: Sequence[Sequence[Edge]], functions: Sequence[str],
               assign: Sequence[int]) -> float:
    """The exact objective: op times + launches on each switch + every crossing edge."""
    launch = [LAUNCH_MS[d] for d in DEVICE_COLUMNS]
    total = 0.0
    prev = _CPU
    lo = 0
    for k, d in enumerate(assign):
        if k == 0 or functions[k] != functions[k - 1]:
            prev, lo = _CPU, k
        total += float(unary[k, d])
        if d != prev:
            total += launch[d]
        for src, nbytes, fp32 in edges[k]:
            s = _CPU if src < lo else assign[src]
            total += crossing_cost_ms(DEVICE_COLUMNS[s], DEVICE_COLUMNS[d], nbytes, fp32)
        prev = d
    return total


def improve_segments(unary: np.ndarray, edges: Sequence[Sequence[Edge]],
                     functions: Sequence[str], assign: list[int]) -> list[int]:
    """Move whole same-device runs to another allowed device while the exact objective drops.

    The change in cost of moving one run is computed locally: its ops' times, the launches at
    its two ends, and the edges that enter or leave it. Each sweep applies the best move of
    every run in turn (a run re-derived after each move), so a sweep is linear in ops + edges.
    """
    n = len(assign)
    if n == 0:
        return assign
    launch = [LAUNCH_MS[d] for d in DEVICE_COLUMNS]
    starts = [k == 0 or functions[k] != functions[k - 1] for k in range(n)]
    fn_start = [0] * n
    for k in range(n):
        fn_start[k] = k if starts[k] else fn_start[k - 1]
    # consumers[k]: (consumer position, bytes, fp32) for edges produced by op k
    consumers: list[list[Edge]] = [[] for _ in range(n)]
    for k in range(n):
        for src, nbytes, fp32 in edges[k]:
            if src >= fn_start[k]:
                consumers[src].append((k, nbytes, fp32))
    xcache: dict[tuple[int, int, int, bool], float] = {}

    def x(a: int, b: int, nbytes: int, fp32: bool) -> float:
        if a == b:
            return 0.0
        key = (a, b, nbytes, fp32)
        v = xcache.get(key)
        if v is None:
            v = crossing_cost_ms(DEVICE_COLUMNS[a], DEVICE_COLUMNS[b], nbytes, fp32)
            xcache[key] = v
        return v

    a = list(assign)
    un = unary.tolist()
    for _ in range(MAX_SWEEPS):
        improved = False
        i = 0
        while i < n:
            d = a[i]
            j = i
            while j + 1 < n and not starts[j + 1] and a[j + 1] == d:
                j += 1
            prev_dev = _CPU if starts[i] else a[i - 1]
            next_dev = a[j + 1] if j + 1 < n and not starts[j + 1] else None
            best_delta, best_dev = -1e-12, d
            for c in range(_NDEV):
                if c == d:
                    continue
                delta = 0.0
                ok = True
                for k in range(i, j + 1):
                    uc = un[k][c]
                    if uc == _INF:
                        ok = False
                        break
                    delta += uc - un[k][d]
                if not ok:
                    continue
                delta += (launch[c] if c != prev_dev else 0.0) - (launch[d] if d != prev_dev
                                                                   else 0.0)
                if next_dev is not None:
                    delta += (launch[next_dev] if next_dev != c else 0.0) - (
                        launch[next_dev] if next_dev != d else 0.0)
                for k in range(i, j + 1):
                    lo = fn_start[k]
                    for src, nbytes, fp32 in edges[k]:
                        if lo <= src and i <= src <= j:
                            continue  # inside the run: unchanged
                        s = _CPU if src < lo else a[src]
                        delta += x(s, c, nbytes, fp32) - x(s, d, nbytes, fp32)
                    for dst, nbytes, fp32 in consumers[k]:
                        if i <= dst <= j:
                            continue
                        t = a[dst]
                        delta += x(c, t, nbytes, fp32) - x(d, t, nbytes, fp32)
                if delta < best_delta:
                    best_delta, best_dev = delta, c
            if best_dev != d:
                for k in range(i, j + 1):
                    a[k] = best_dev
                improved = True
                # step back so the merged run (with its left neighbour) is examined whole
                i = fn_start[i] if starts[i] else i - 1
                while i > fn_start[i] and a[i - 1] == a[i]:
                    i -= 1
                continue
            i = j + 1
        if not improved:
            break
    return a
