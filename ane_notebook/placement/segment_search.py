"""The partitioner's local search: move whole same-device runs while the exact cost drops.

The Viterbi passes of `partition.py` charge data edges with the devices of the previous pass,
so they can settle in a local optimum; `improve_runs` then moves whole runs of ops to another
allowed device while the exact objective (`partition.total_cost`) drops, so an island not
worth two crossings is absorbed into its neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .costs import DEVICE_COLUMNS, HardwareModel
from .crossing_tables import CrossingTables, bytes_column
from .devices import Device
from .run_deltas import RunDeltas

if TYPE_CHECKING:
    from .partition import Edge, _Shared

_INF = math.inf
_NDEV = len(DEVICE_COLUMNS)
_CPU = DEVICE_COLUMNS.index(Device.CPU)
MAX_SWEEPS = 50  # local-search sweeps; each is linear in ops + edges


def improve_runs(unary: np.ndarray, shared: _Shared, assign: list[int]) -> list[int]:
    """Move whole same-device runs to another allowed device while the exact objective drops.

    The change in cost of moving one run is computed locally: its ops' times, the launches at
    its two ends, and the edges that enter or leave it. Runs are visited left to right; after a
    move the search steps back to the run on the left (now perhaps merged with the moved one)
    so that a merged run is examined whole. A sweep repeats until no move helps.

    Scaling: runs are kept as a linked list (merging is O(1), no rescanning to find a run's
    ends), and a long run's change in cost is computed with numpy (`_LongRuns`). Without that,
    a model whose islands are absorbed one by one into a growing run (a 50k-op LLM whose
    per-layer fp32 islands all end up on the GPU) cost O(ops^2) Python steps: 1.5-2.9 s at
    25k compute ops, about 0.1 s now. Both paths add the same numbers in the same order, so the
    moves are the same, bit for bit.
    """
    n = len(assign)
    if n == 0:
        return assign
    launch = shared.launch
    hw = shared.hw
    starts, fn_start, consumers, edges = (
        shared.starts,
        shared.fn_start,
        shared.consumers,
        shared.edges,
    )
    xcache: dict[tuple[int, int, int, bool], float] = {}

    def x(a: int, b: int, nbytes: int, fp32: bool) -> float:
        if a == b:
            return 0.0
        key = (a, b, nbytes, fp32)
        v = xcache.get(key)
        if v is None:
            v = hw.crossing_ms(DEVICE_COLUMNS[a], DEVICE_COLUMNS[b], nbytes, fp32)
            xcache[key] = v
        return v

    a = list(assign)
    # unary as lists, for the per-run Python loop; made on its first use: a search whose runs
    # `RunDeltas` answers in full never needs it (~2.5 ms at 50k ops, ~15 searches; issue 14)
    un: list[list[float]] = []
    long_runs: _LongRuns | None = None  # built on the first long run: most models have none

    def move_delta(i: int, j: int, d: int, c: int) -> float | None:
        """Change in total cost if ops i..j (all on d) moved to c; None if c cannot run one."""
        nonlocal long_runs
        if j - i + 1 >= _LONG_RUN:
            if long_runs is None:
                long_runs = _LongRuns(unary, shared.long_static, a, hw)
            return long_runs.delta(i, j, d, c, launch_parts(i, j, d, c))
        if not un:
            un.extend(unary.tolist())
        delta = 0.0
        for k in range(i, j + 1):
            uc = un[k][c]
            if uc == _INF:
                return None
            delta += uc - un[k][d]
        for part in launch_parts(i, j, d, c):
            delta += part
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
        return delta

    def launch_parts(i: int, j: int, d: int, c: int) -> tuple[float, ...]:
        """The change in launches at the run's left end, then (if it has a right neighbour in
        its function) at its right end: added one by one, as before."""
        prev_dev = _CPU if starts[i] else a[i - 1]
        left = (launch[c] if c != prev_dev else 0.0) - (launch[d] if d != prev_dev else 0.0)
        if j + 1 >= n or starts[j + 1]:
            return (left,)
        next_dev = a[j + 1]
        return left, (launch[next_dev] if next_dev != c else 0.0) - (
            launch[next_dev] if next_dev != d else 0.0
        )

    runs = _Runs(a, starts, shared.starts_array)
    for _ in range(MAX_SWEEPS):
        improved = False
        known = _answer_runs(unary, shared, runs, a)
        r = runs.head
        while r >= 0:
            i, j, d = runs.start[r], runs.end[r], runs.dev[r]
            got = known.get(i, j, d) if known is not None else None
            best_delta, best_dev = -1e-12, d
            for c in range(_NDEV):
                if c == d:
                    continue
                delta = move_delta(i, j, d, c) if got is None else got[c]
                if delta is not None and delta < best_delta:
                    best_delta, best_dev = delta, c
            if best_dev != d:
                a[i : j + 1] = [best_dev] * (j - i + 1)
                if long_runs is not None:
                    long_runs.moved(i, j, best_dev)
                if known is not None:
                    known.moved(i, j)
                improved = True
                # step back so the merged run (with its left neighbour) is examined whole
                r = runs.move(r, best_dev)
                continue
            r = runs.next[r]
        if not improved:
            break
    return a


# Runs at least this long have their move cost computed with numpy: below it, numpy's
# per-call overhead costs more than the Python loop it replaces.
_LONG_RUN = 128

# A sweep over at least this many short runs first answers them all at once with numpy
# (`RunDeltas`): ~2 ms where asking each in Python took 40-75 ms at 50k ops (issue 14); for a
# handful of runs the numpy set-up costs more than the questions it saves.
_MANY_RUNS = 64


def _answer_runs(unary: np.ndarray, shared: _Shared, runs: _Runs, a: list[int]) -> RunDeltas | None:
    """`RunDeltas` for the runs at the start of a sweep, or None if there are too few short
    runs to be worth it."""
    start: list[int] = []
    end: list[int] = []
    r = runs.head
    while r >= 0:
        start.append(runs.start[r])
        end.append(runs.end[r])
        r = runs.next[r]
    lo, hi = np.array(start, dtype=np.intp), np.array(end, dtype=np.intp)
    if np.count_nonzero(hi - lo + 1 < _LONG_RUN) < _MANY_RUNS:
        return None
    static = shared.long_static
    return RunDeltas(
        unary,
        static,
        static.xcosts.for_hw(shared.hw),
        shared.launch,
        np.array(a, dtype=np.intp),
        lo,
        hi,
        _LONG_RUN,
    )


class _Runs:
    """Maximal same-device runs of an assignment (never crossing a function start), as a doubly
    linked list, so that a move merges runs in O(1) instead of rescanning ops."""

    def __init__(self, a: list[int], starts: list[bool], new_at: np.ndarray | None = None) -> None:
        """`new_at`: `starts` as a numpy array, if the caller keeps one. The runs' ends are
        found with numpy: the per-op Python loop took ~2.7 ms at 25k ops, and every local
        search (~24 in a 50k-op comparison) makes its runs once (issue 14)."""
        self.starts = starts
        n = len(a)
        dev = np.asarray(a, dtype=np.intp)
        first = np.array(starts, dtype=bool) if new_at is None else new_at.copy()
        if n:
            first[0] = True  # (a function starts at op 0 anyway)
            first[1:] |= dev[1:] != dev[:-1]
        begin = np.flatnonzero(first)
        self.start: list[int] = begin.tolist()
        end = np.empty_like(begin)
        end[:-1] = begin[1:] - 1
        end[-1:] = n - 1  # (no runs, no ends)
        self.end: list[int] = end.tolist()
        self.dev: list[int] = dev[begin].tolist()
        m = len(self.start)
        self.prev = list(range(-1, m - 1))
        self.next = [*range(1, m), -1]
        self.head = 0

    def _joins(self, left: int, right: int) -> bool:
        return (
            left >= 0
            and right >= 0
            and self.dev[left] == self.dev[right]
            and not self.starts[self.start[right]]
        )

    def _merge(self, left: int, right: int) -> None:
        """Append run `right` to run `left` (its left neighbour)."""
        self.end[left] = self.end[right]
        nxt = self.next[right]
        self.next[left] = nxt
        if nxt >= 0:
            self.prev[nxt] = left

    def move(self, r: int, dev: int) -> int:
        """Put run r on `dev`, merge it with equal neighbours; return the run to visit next:
        the one holding the op left of r (r's own, merged, run at a function start)."""
        self.dev[r] = dev
        nxt = self.next[r]
        if self._joins(r, nxt):
            self._merge(r, nxt)
        left = self.prev[r]
        if left >= 0 and not self.starts[self.start[r]]:
            if self._joins(left, r):
                self._merge(left, r)
            return left
        return r


class LongStatic:
    """The edge tables `_LongRuns` and `RunDeltas` read: per op, its incident edges flattened
    in the Python loop's order: incoming edges (the producer's position, or -1 for a value from
    the caller on the CPU), then outgoing ones (`_Shared.consumers`: the same function's
    incoming edges, by producer, in consumer order).

    Built with numpy from one flattening of the edges (a per-edge Python loop appending to four
    lists took ~70 ms at 50k ops; issue 14): a stable sort by producer puts each op's outgoing
    edges in consumer order, and a stable sort by (op, incoming first) interleaves them."""

    def __init__(self, edges: Sequence[Sequence[Edge]], fn_start: Sequence[int]) -> None:
        n = len(edges)
        count = np.fromiter((len(ek) for ek in edges), dtype=np.intp, count=n)
        dst = np.repeat(np.arange(n), count)
        src = np.fromiter((e[0] for ek in edges for e in ek), dtype=np.intp, count=len(dst))
        fp = np.fromiter((e[2] for ek in edges for e in ek), dtype=bool, count=len(dst))
        nb = bytes_column([e[1] for ek in edges for e in ek])
        lo = np.array(fn_start, dtype=np.intp)[dst]
        out = np.flatnonzero(src >= lo)
        out = out[np.argsort(src[out], kind="stable")]
        # incoming edges, then outgoing ones; the op each belongs to; its other end
        pick = np.concatenate((np.arange(len(dst)), out))
        op = np.concatenate((dst, src[out]))
        incoming = np.arange(len(pick)) < len(dst)
        other = np.concatenate((np.where(src >= lo, src, -1), dst[out]))
        order = np.argsort(op * 2 + ~incoming, kind="stable")
        self.owner = op[order]
        self.ptr: list[int] = np.concatenate(
            ([0], np.cumsum(np.bincount(self.owner, minlength=n)))
        ).tolist()
        self.starts = np.array(fn_start, dtype=np.intp) == np.arange(n)
        self.other = other[order]
        self.incoming = incoming[order]
        self.xcosts = CrossingTables(nb[pick[order]], fp[pick[order]])


class _LongRuns:
    """The cost change of moving a long run, with numpy, adding exactly what the Python loop
    in `improve_segments` adds, in the same order (np.cumsum adds left to right, unlike
    np.sum), so that both give the same float.

    Incremental (GitHub issue 14): a run only ever grows to the right from its start (runs
    merge, never split), and the search asks again for the run it just grew, so what depends
    only on the run's extent is kept per run start and extended rather than recomputed: the
    left-to-right sum of the ops' time changes per (from, to) device pair (a running sum, so
    extending it adds the same floats in the same order as summing afresh), whether the target
    column has an op that cannot run there, and the edges that leave the run. Re-adding a whole
    run every time its island neighbours were absorbed one by one made a 200k-op model's
    uncertainty readings quadratic (1.4 s each). The edge terms read the current assignment, so
    they are summed afresh over the (few) edges that leave the run.
    """

    def __init__(
        self, unary: np.ndarray, static: LongStatic, a: list[int], hw: HardwareModel
    ) -> None:
        self.unary = unary
        self.assign = np.array(a, dtype=np.intp)
        self.ptr = static.ptr
        self.other = static.other
        self.incoming = static.incoming
        self.xtable = static.xcosts.for_hw(hw)  # per (bytes, fp32) pair: see CrossingTables
        self.xrow = static.xcosts.row
        # run start -> (last op covered, edge positions that leave ops start..last)
        self._leaving: dict[int, tuple[int, np.ndarray]] = {}
        # (run start, from, to) -> (last op covered, running sum of the time changes)
        self._sums: dict[tuple[int, int, int], tuple[int, float]] = {}
        # (run start, to) -> (last op covered, does an op in start..last have no time on `to`)
        self._blocked: dict[tuple[int, int], tuple[int, bool]] = {}

    def moved(self, i: int, j: int, dev: int) -> None:
        self.assign[i : j + 1] = dev

    def _is_blocked(self, i: int, j: int, c: int) -> bool:
        got = self._blocked.get((i, c))
        if got is not None and got[0] <= j:
            last, blocked = got
            if not blocked and last < j:
                blocked = bool(np.isinf(self.unary[last + 1 : j + 1, c]).any())
        else:
            blocked = bool(np.isinf(self.unary[i : j + 1, c]).any())
        self._blocked[(i, c)] = (j, blocked)
        return blocked

    def _time_change(self, i: int, j: int, d: int, c: int) -> float:
        got = self._sums.get((i, d, c))
        if got is not None and got[0] <= j:
            last, total = got
            if last < j:
                more = self.unary[last + 1 : j + 1, c] - self.unary[last + 1 : j + 1, d]
                total = float(np.cumsum(np.concatenate(([total], more)))[-1])
        else:
            total = float(np.cumsum(self.unary[i : j + 1, c] - self.unary[i : j + 1, d])[-1])
        self._sums[(i, d, c)] = (j, total)
        return total

    def _leaving_edges(self, i: int, j: int) -> np.ndarray:
        """Positions (in the flattened edge tables, in order) of the edges of ops i..j whose
        other end is outside i..j."""
        got = self._leaving.get(i)
        if got is not None and got[0] <= j:
            last, pos = got
            if last < j:
                o = self.other[pos]
                pos = pos[(o < i) | (o > j)]  # edges into last+1..j are now inside
                lo, hi = self.ptr[last + 1], self.ptr[j + 1]
                o = self.other[lo:hi]
                new = np.flatnonzero((o < i) | (o > j)) + lo
                pos = np.concatenate((pos, new))
        else:
            lo, hi = self.ptr[i], self.ptr[j + 1]
            o = self.other[lo:hi]
            pos = np.flatnonzero((o < i) | (o > j)) + lo
        self._leaving[i] = (j, pos)
        return pos

    def delta(
        self, i: int, j: int, d: int, c: int, launch_parts: tuple[float, ...]
    ) -> float | None:
        if self._is_blocked(i, j, c):
            return None
        delta = self._time_change(i, j, d, c)
        for part in launch_parts:
            delta += part
        pos = self._leaving_edges(i, j)
        other = self.other[pos]
        incoming = self.incoming[pos]
        xcost = self.xtable[self.xrow[pos]]
        dev = np.where(other < 0, _CPU, self.assign[np.maximum(other, 0)])
        rows = np.arange(len(other))
        terms = np.where(
            incoming,
            xcost[rows, dev, c] - xcost[rows, dev, d],
            xcost[rows, c, dev] - xcost[rows, d, dev],
        )
        if len(terms) == 0:
            return delta
        return float(np.cumsum(np.concatenate(([delta], terms)))[-1])
