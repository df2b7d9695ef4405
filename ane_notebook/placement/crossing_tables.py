"""Crossing costs of a set of data edges as numpy tables, and the exact objective over them.

`crossing_table(bytes, fp32, hw)[e, a, b]` is what edge e costs to cross from device column a
to b, computed exactly as `costs.crossing_cost_ms` does so the floats are identical; the
partitioner (`partition.py`) and its local search (`segment_search.py`) read them, and
`EdgeObjective` adds up a whole placement's cost from them (`partition.total_cost`, vectorised).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .costs import DEVICE_COLUMNS, HardwareModel
from .devices import Device

if TYPE_CHECKING:
    from .partition import Edge

_NDEV = len(DEVICE_COLUMNS)
_CPU = DEVICE_COLUMNS.index(Device.CPU)


def crossing_table(nb: np.ndarray, fp: np.ndarray, hw: HardwareModel) -> np.ndarray:
    """xcost[e, a, b]: crossing_cost_ms(a, b) of edge e with `nb` bytes (fp32 where `fp`),
    computed as costs.py does (fixed + bytes / (GB/s * 1e6); 0 on the diagonal) so the floats
    are identical."""
    xcost = np.zeros((len(nb), _NDEV, _NDEV))
    for ia, da in enumerate(DEVICE_COLUMNS):
        for ib, db in enumerate(DEVICE_COLUMNS):
            if ia == ib:
                continue
            pair = frozenset({da, db})
            rate = np.where(
                fp, hw.convert_gbs[(pair, True)] * 1e6, hw.convert_gbs[(pair, False)] * 1e6
            )
            xcost[:, ia, ib] = hw.crossing_fixed_ms[pair] + nb / rate
    return xcost


def bytes_column(values: Sequence[int]) -> np.ndarray:
    # Through object dtype: byte counts are Python ints that may not fit int64 (absurd shapes
    # are kept as they are), and each must become the float Python's int / float would use.
    return np.array(list(values), dtype=object).astype(np.float64)


class CrossingTables:
    """`crossing_table` of a set of edges, worked out once per reading of the constants.

    An edge's crossing costs depend only on its (bytes, fp32): a 50k-op LLM has ~60k edges but
    a few dozen distinct pairs. So the table is made per distinct pair (`table`, U x 3 x 3) and
    each edge points into it (`row`, shared by every reading): ``table[row]`` holds exactly the
    floats of `crossing_table` of all the edges (each is the same computation on the same
    values), without a 72-byte row per edge per reading (six readings held ~23 MB at 50k ops;
    GitHub issue 14)."""

    def __init__(self, nb: np.ndarray, fp: np.ndarray) -> None:
        if len(nb):
            sizes, size_row = np.unique(nb, return_inverse=True)
            codes, row = np.unique(size_row.reshape(-1) * 2 + fp, return_inverse=True)
            self.nb, self.fp = sizes[codes // 2], (codes % 2) == 1
            self.row = np.asarray(row, dtype=np.intp).reshape(-1)
        else:
            self.nb, self.fp = nb, fp
            self.row = np.zeros(0, dtype=np.intp)
        # By equality, not identity: each estimate makes its own (equal) readings, and the
        # settings of a comparison share these tables (a handful of readings: a short list).
        self._by_hw: list[tuple[HardwareModel, np.ndarray]] = []

    def for_hw(self, hw: HardwareModel) -> np.ndarray:
        """The per-pair table under `hw`: edge e's costs are ``table[row[e]]``."""
        for known, table in self._by_hw:
            if known is hw or known == hw:
                return table
        table = crossing_table(self.nb, self.fp, hw)
        self._by_hw.append((hw, table))
        return table


class EdgeObjective:
    """`total_cost` over numpy arrays of the edges, for comparing many candidate placements."""

    def __init__(
        self,
        edges: Sequence[Sequence[Edge]],
        fn_start: Sequence[int],
        starts: Sequence[bool],
        tensors: Sequence[Sequence[Hashable]] | None,
    ) -> None:
        n = len(edges)
        self.rows = np.arange(n)
        self.starts = np.array(starts, dtype=bool)
        dst: list[int] = []
        src: list[int] = []
        nbytes: list[int] = []
        fp32: list[bool] = []
        for k in range(n):
            lo = fn_start[k]
            for s, nb, fp in edges[k]:
                dst.append(k)
                src.append(s if s >= lo else -1)
                nbytes.append(nb)
                fp32.append(fp)
        self.dst = np.array(dst, dtype=np.intp)
        self.src = np.array(src, dtype=np.intp)
        self.xcosts = CrossingTables(bytes_column(nbytes), np.array(fp32, dtype=bool))
        self.tid: np.ndarray | None = None
        if tensors is not None:
            ids: dict[Hashable, int] = {}
            flat = [ids.setdefault(t, len(ids)) for k in range(n) for t in tensors[k]]
            self.tid = np.array(flat, dtype=np.int64)

    def cost(self, unary: np.ndarray, assign: Sequence[int], hw: HardwareModel) -> float:
        a = np.asarray(assign, dtype=np.intp)
        if len(a) == 0:
            return 0.0
        total = float(unary[self.rows, a].sum())
        prev = np.empty_like(a)
        prev[0] = _CPU
        prev[1:] = a[:-1]
        prev[self.starts] = _CPU
        launch = np.array([hw.launch_ms[d] for d in DEVICE_COLUMNS])
        total += float(launch[a][a != prev].sum())
        if len(self.dst) == 0:
            return total
        sdev = np.where(self.src < 0, _CPU, a[np.maximum(self.src, 0)])
        ddev = a[self.dst]
        idx = np.flatnonzero(sdev != ddev)
        if self.tid is not None and len(idx):
            # a tensor pays once per processor it reaches: keep its first edge there
            _, first = np.unique(self.tid[idx] * _NDEV + ddev[idx], return_index=True)
            idx = idx[first]
        table = self.xcosts.for_hw(hw)
        return total + float(table[self.xcosts.row[idx], sdev[idx], ddev[idx]].sum())
