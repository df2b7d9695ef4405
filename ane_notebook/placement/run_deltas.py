"""The local search's move costs for every run at once, with numpy (`segment_search.py`).

A sweep of `improve_runs` asks, for each same-device run in turn, what moving it to each other
device would change (`move_delta`). Asked one run at a time in Python, that was a full pass over
the ops and edges per sweep: ~40-75 ms per search at 50k ops, and the partitioner and the
uncertainty readings run ~15 searches (GitHub issue 14: 0.7 s of `move_delta` in a profiled
50k-op estimate). `RunDeltas` answers for every run of the assignment at the start of a sweep in
a few numpy passes; a run's answers stay valid until a move changes a device its move cost reads
(an op it shares an edge with, or the op just before or after it), which the search reports
through `moved`. Runs that moved, merged or were invalidated are asked again in Python.

Bit for bit: the Python loop adds, starting from 0.0, the ops' time changes, then the launch
changes at the run's ends, then the edge terms, one by one. Here every term is the same float
(the same subtraction of the same two floats), laid out per run in that order, and the runs are
summed column by column: one addition per term, in the same order (`_sequential_sums`). Padding
beyond a run's last term is never added.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .costs import DEVICE_COLUMNS
from .devices import Device

if TYPE_CHECKING:
    from .segment_search import LongStatic

_NDEV = len(DEVICE_COLUMNS)
_CPU = DEVICE_COLUMNS.index(Device.CPU)

# Runs with more terms than this (ops + launches + edges leaving the run) are left to the
# per-run paths: the column-by-column sum costs one numpy call per term of the longest run.
MAX_TERMS = 256

# One run's answer: per device column, the change in cost of moving the run there, or None if
# an op of the run cannot run there (the entry of the run's own device is unused).
Deltas = list[float | None]


class RunDeltas:
    """Move costs of the runs of one assignment, kept valid as the search moves runs."""

    def __init__(
        self,
        unary: np.ndarray,
        static: LongStatic,
        xtable: np.ndarray,
        launch: list[float],
        assign: np.ndarray,
        run_start: np.ndarray,
        run_end: np.ndarray,
        short: int,
    ) -> None:
        """`run_start`/`run_end`: the runs in order (covering every op); runs of `short` ops
        or more, or with more than MAX_TERMS terms, get no answer here."""
        n = len(assign)
        r = len(run_start)
        self._static = static
        starts = static.starts
        length = run_end - run_start + 1
        run_of_op = np.repeat(np.arange(r), length)
        # an extra slot for the caller (other == -1): a row no run has
        self._rows = np.append(run_of_op, r)
        self._row_of_op = run_of_op.tolist()
        self._stale = np.zeros(r + 1, dtype=bool)
        self._start = run_start.tolist()
        self._end = run_end.tolist()
        dev = assign[run_start]
        self._dev = dev.tolist()
        d_of_op = dev[run_of_op]
        cols = np.arange(_NDEV)

        # the ops' time changes, and whether the target column has an op that cannot run
        with np.errstate(invalid="ignore"):  # inf - inf where both are barred: unused
            op_terms = unary - unary[np.arange(n), d_of_op][:, None]
        barred = np.logical_or.reduceat(unary == math.inf, run_start, axis=0)

        # the launch changes at the left end, then (inside a function) at the right end
        lv = np.array(launch)
        prev = np.where(starts[run_start], _CPU, assign[run_start - 1])
        left = (
            np.where(cols[None, :] != prev[:, None], lv[None, :], 0.0)
            - np.where(dev != prev, lv[dev], 0.0)[:, None]
        )
        after = run_end + 1
        has_right = after < n
        has_right[has_right] = ~starts[after[has_right]]
        nxt = assign[np.minimum(after, n - 1)]
        right = (
            np.where(nxt[:, None] != cols[None, :], lv[nxt][:, None], 0.0)
            - np.where(nxt != dev, lv[nxt], 0.0)[:, None]
        )

        # the edges that leave each run, in the flattened order (incoming, then outgoing)
        other = static.other
        edge_run = run_of_op[static.owner]
        lo, hi = run_start[edge_run], run_end[edge_run]
        leave = np.flatnonzero((other < lo) | (other > hi))
        o = other[leave]
        odev = np.where(o < 0, _CPU, assign[np.maximum(o, 0)])
        er = edge_run[leave]
        ed = dev[er]
        tab = xtable[static.xcosts.row[leave]]
        rows = np.arange(len(leave))
        edge_terms = np.where(
            static.incoming[leave][:, None],
            tab[rows, odev, :] - tab[rows, odev, ed][:, None],
            tab[rows, :, odev] - tab[rows, ed, odev][:, None],
        )
        n_edges = np.bincount(er, minlength=r)

        # lay every run's terms out in the Python loop's order: position within the run
        n_launch = 1 + has_right.astype(np.intp)
        terms = length + n_launch + n_edges
        ok = (length < short) & (terms <= MAX_TERMS)
        first_edge = np.cumsum(n_edges) - n_edges
        pos_parts = [
            np.arange(n) - run_start[run_of_op],
            length,
            length + 1,
            length[er] + n_launch[er] + (np.arange(len(leave)) - first_edge[er]),
        ]
        run_parts = [run_of_op, np.arange(r), np.arange(r), er]
        value_parts = [op_terms, left, right, edge_terms]
        keep_right = np.flatnonzero(has_right)
        pos_parts[2], run_parts[2] = pos_parts[2][keep_right], run_parts[2][keep_right]
        value_parts[2] = value_parts[2][keep_right]
        run_of_term = np.concatenate(run_parts)
        sel = ok[run_of_term]
        sums = _sequential_sums(
            np.flatnonzero(ok),
            terms,
            run_of_term[sel],
            np.concatenate(pos_parts)[sel],
            np.concatenate(value_parts)[sel],
        )
        answers: list[Deltas | None] = [None] * (r + 1)
        for k, row, blocked in zip(
            np.flatnonzero(ok).tolist(), sums.tolist(), barred[ok].tolist(), strict=True
        ):
            answers[k] = [None if b else v for v, b in zip(row, blocked, strict=True)]
        self._answers: list[Deltas | None] = answers

    def get(self, i: int, j: int, d: int) -> Deltas | None:
        """The answer for the run of ops i..j on d, if it is one of the runs answered and
        nothing its move cost reads has moved since; else None (ask `move_delta`)."""
        row: int = self._row_of_op[i]
        if self._start[row] != i or self._end[row] != j or self._dev[row] != d:
            return None
        if self._stale[row]:
            return None
        return self._answers[row]

    def moved(self, i: int, j: int) -> None:
        """Ops i..j changed device: the runs of their neighbours (by an edge, or next to them
        in order) and their own runs no longer have valid answers."""
        static = self._static
        rows = self._rows
        self._stale[rows[static.other[static.ptr[i] : static.ptr[j + 1]]]] = True
        self._stale[rows[max(i - 1, 0) : j + 2]] = True


def _sequential_sums(
    runs: np.ndarray, terms: np.ndarray, run: np.ndarray, pos: np.ndarray, values: np.ndarray
) -> np.ndarray:
    """Per run in `runs` (each with `terms[run]` terms), the sum of its `values` rows added
    one by one in `pos` order from 0.0, as Python's `total += term` would: the runs are
    ranked by their number of terms, longest first, so that column t's terms are those of the
    first m_t runs, and column t is added to those runs' sums in one numpy call."""
    width = values.shape[1]
    if len(runs) == 0:
        return np.zeros((0, width))
    count = terms[runs]
    order = np.argsort(-count, kind="stable")
    rank = np.empty(len(terms), dtype=np.intp)
    rank[runs[order]] = np.arange(len(runs))
    longest = int(count.max())
    # active[t]: how many runs have more than t terms
    active = len(runs) - np.searchsorted(np.sort(count), np.arange(longest), side="right")
    offset = np.concatenate(([0], np.cumsum(active)))
    flat = np.empty((int(offset[-1]), width))
    flat[offset[pos] + rank[run]] = values
    acc = np.zeros((len(runs), width))
    for t, m in enumerate(active.tolist()):
        acc[:m] += flat[offset[t] : offset[t] + m]
    return acc[np.argsort(order)]
