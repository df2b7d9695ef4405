"""The partitioner: one device per op, minimising estimated time including crossings.

A dynamic programme (Viterbi) over execution order, like the shortest-path solve that
reverse-engineering found in Core ML's own planner (docs/evidence.md#costs.MODEL_FORM).
The state is the device of the previous op, so the cost of switching processors between
consecutive ops is exact; data edges from earlier ops are charged with the device those ops got
in the previous pass, and passes repeat until nothing changes (at most MAX_PASSES). Because
that approximation can settle in a local optimum (a run left on the GPU after a GPU-only op,
say), a local search then moves whole segments to another device while the exact objective
(`total_cost`) drops. An island not worth two crossings is therefore absorbed into its
neighbours.

Consistency across compute-unit settings: the search for a set of processors also starts from
the best placement for each subset of them (the narrower settings' own answers) and keeps the
cheapest, so ALL is never estimated slower than CPU_AND_NE, CPU_AND_GPU or CPU_ONLY under the
same costs. That roughly triples the work for ALL and doubles it for two-processor settings;
each search stays linear in ops + edges.

Input: `unary[k, j]`, op k's time on device column j (inf where not allowed); `edges[k]`, op k's
incoming data edges as (producer position, bytes, is_fp32) with producer -1 for model inputs;
`functions[k]`, the function op k belongs to (each function starts on the CPU, the caller);
optionally `tensors[k][e]`, which tensor edge e of op k carries (moved once per processor).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from .costs import DEVICE_COLUMNS, NOMINAL, HardwareModel
from .devices import Device

_INF = math.inf
_NDEV = len(DEVICE_COLUMNS)
_CPU = DEVICE_COLUMNS.index(Device.CPU)
MAX_PASSES = 4
MAX_SWEEPS = 50  # local-search sweeps; each is linear in ops + edges

Edge = tuple[int, int, bool]


def partition(
    unary: np.ndarray,
    edges: Sequence[Sequence[Edge]],
    functions: Sequence[str],
    tensors: Sequence[Sequence[Hashable]] | None = None,
    *,
    hw: HardwareModel = NOMINAL,
    tables: Refiner | None = None,
) -> list[int]:
    """Pick a device column per op minimising op time + switches + crossings (see module doc).

    `tables`, a `Refiner` of the same edges, functions and tensors, lends its edge tables
    (the estimator keeps one per problem: the settings of a comparison share them).

    `tensors[k][e]`, when given, names the tensor that edge `edges[k][e]` carries: a tensor
    that reached a processor once serves every consumer there, so its crossing is paid once
    (`total_cost`). Without it every edge is a tensor of its own.

    Consistency: the result is never costlier, by `total_cost`, than the result for any subset
    of the processors `unary` allows (the same `unary` with the other columns set to inf, which
    is what a narrower compute-unit setting gives): the search for the full set starts from
    each subset's own result, and keeps the cheapest. So ALL is never estimated slower than
    CPU_AND_NE, CPU_AND_GPU or CPU_ONLY by the same cost model (issue 10 §3).

    `hw` gives the launch and crossing costs (another reading of the constants, for the
    uncertainty ranges); `unary` must have been costed with the same.
    """
    if len(edges) == 0:
        return []
    allowed = frozenset(j for j in range(_NDEV) if bool(np.isfinite(unary[:, j]).any()))
    shared = (
        _Shared(edges, functions, tensors, hw)
        if tables is None or tables._base is None
        else tables._shared(hw)
    )
    memo: dict[frozenset[int], list[int]] = {}
    return _solve(unary, shared, allowed | {_CPU}, memo)


class Refiner:
    """`refine` for many readings of one problem: the tables that depend only on the edges are
    built once and shared (a reading changes the op costs, launches and crossing rates)."""

    def __init__(
        self,
        edges: Sequence[Sequence[Edge]],
        functions: Sequence[str],
        tensors: Sequence[Sequence[Hashable]] | None = None,
    ) -> None:
        self._base = _Shared(edges, functions, tensors, NOMINAL) if len(edges) else None
        self._by_hw: list[tuple[HardwareModel, _Shared]] = []

    def _shared(self, hw: HardwareModel) -> _Shared:
        """The base tables under `hw`, one per reading (its Viterbi tables are built once)."""
        assert self._base is not None
        for known, shared in self._by_hw:
            if known is hw or known == hw:
                return shared
        shared = self._base.with_hw(hw)
        self._by_hw.append((hw, shared))
        return shared

    def cost(self, unary: np.ndarray, assign: Sequence[int], hw: HardwareModel) -> float:
        """`total_cost` of `assign` under `hw` (vectorised)."""
        if self._base is None:
            return 0.0
        return self._shared(hw).cost(unary, assign)

    def refine(
        self, unary: np.ndarray, assign: Sequence[int], hw: HardwareModel
    ) -> tuple[list[int], float]:
        """As `refine`."""
        if self._base is None:
            return [], 0.0
        shared = self._shared(hw)
        start = list(assign)
        out = _improve(unary, shared, start)
        # the run moves charge every edge; keep the start if, counting shared tensors once,
        # the moves made it worse
        here, there = shared.cost(unary, start), shared.cost(unary, out)
        return (start, here) if here <= there else (out, there)


def refine(
    unary: np.ndarray,
    edges: Sequence[Sequence[Edge]],
    functions: Sequence[str],
    assign: Sequence[int],
    tensors: Sequence[Sequence[Hashable]] | None = None,
    *,
    hw: HardwareModel = NOMINAL,
) -> tuple[list[int], float]:
    """Local search from `assign` (whole runs moved while the cost drops) and the exact cost
    (`total_cost`) of the result: where a placement settles under another reading of the
    costs or rules, starting from the one `partition` chose. Much cheaper than `partition`."""
    return Refiner(edges, functions, tensors).refine(unary, assign, hw)


def objective(
    unary: np.ndarray,
    edges: Sequence[Sequence[Edge]],
    functions: Sequence[str],
    assign: Sequence[int],
    tensors: Sequence[Sequence[Hashable]] | None = None,
    *,
    hw: HardwareModel = NOMINAL,
) -> float:
    """`total_cost`, vectorised (equal up to the order floats are added): for large models."""
    if len(edges) == 0:
        return 0.0
    return _Shared(edges, functions, tensors, hw).cost(unary, assign)


def _solve(
    unary: np.ndarray,
    shared: _Shared,
    devices: frozenset[int],
    memo: dict[frozenset[int], list[int]],
) -> list[int]:
    """The best placement using only `devices` (the CPU always among them).

    Candidates: the search on `unary` restricted to `devices`, and for each subset with one
    device fewer, that subset's own best (recursively: the same numbers `partition` computes
    when handed the narrower matrix) and the same placement improved by moving whole runs onto
    the extra device. The cheapest by the exact objective wins; on ties the earlier candidate,
    so the result depends only on the restricted matrix.
    """
    got = memo.get(devices)
    if got is not None:
        return got
    if devices == {_CPU}:
        memo[devices] = [_CPU] * shared.n
        return memo[devices]
    masked = unary
    if len(devices) < _NDEV:
        keep = np.zeros(_NDEV, dtype=bool)
        keep[list(devices)] = True
        masked = np.where(keep[None, :], unary, _INF)
    candidates = [_search(masked, shared)]
    for drop in sorted(devices - {_CPU}):
        sub = _solve(unary, shared, devices - {drop}, memo)
        candidates.append(sub)
        candidates.append(_improve(masked, shared, sub))
    costs = [shared.cost(masked, c) for c in candidates]
    best = candidates[min(range(len(candidates)), key=costs.__getitem__)]
    memo[devices] = best
    return best


def _search(unary: np.ndarray, shared: _Shared) -> list[int]:
    """Viterbi passes then run moves (module doc), on the devices `unary` allows.

    The passes and the run moves charge every edge (they cannot see that a tensor already on a
    processor serves a second consumer there); the candidates are compared by the exact
    objective.
    """
    n = shared.n
    un = unary.tolist()
    # pass 0 guess: each op's fastest device (argmin keeps the first minimum, like min())
    assign: list[int] = np.argmin(unary, axis=1).tolist()
    for _ in range(MAX_PASSES):
        new: list[int] = []
        for (lo, hi), prep in zip(shared.chunks, shared.prepared, strict=True):
            new.extend(_dp_pass(un, lo, hi, prep, assign))
        if new == assign:
            break
        assign = new
    best = _improve(unary, shared, assign)
    # The passes and the local search can settle in a local optimum that is worse than simply
    # staying on the CPU, where every op can run and no crossing is paid (a large tensor read
    # by ops on two devices, say). Local search from the all-CPU placement too, and keep the
    # cheaper result under the exact objective.
    from_cpu = _improve(unary, shared, [_CPU] * n)
    if shared.cost(unary, from_cpu) < shared.cost(unary, best):
        return from_cpu
    return best


class _Shared:
    """What depends only on the edges and functions, worked out once per `partition` call and
    reused by every search and local search in it (they differ only in `unary`)."""

    def __init__(
        self,
        edges: Sequence[Sequence[Edge]],
        functions: Sequence[str],
        tensors: Sequence[Sequence[Hashable]] | None,
        hw: HardwareModel = NOMINAL,
    ) -> None:
        n = len(edges)
        self.n = n
        self.hw = hw
        self.launch = [hw.launch_ms[d] for d in DEVICE_COLUMNS]
        self.edges = edges
        self.tensors = tensors
        self.starts = [k == 0 or functions[k] != functions[k - 1] for k in range(n)]
        fn_start = [0] * n
        for k in range(n):
            fn_start[k] = k if self.starts[k] else fn_start[k - 1]
        self.fn_start = fn_start
        # consumers[k]: (consumer position, bytes, fp32) for edges produced by op k
        consumers: list[list[Edge]] = [[] for _ in range(n)]
        for k in range(n):
            for src, nbytes, fp32 in edges[k]:
                if src >= fn_start[k]:
                    consumers[src].append((k, nbytes, fp32))
        self.consumers = consumers
        self._long: _LongStatic | None = None
        self._objective: _Objective | None = None
        # Each function (and pipeline stage) is its own program, started by the caller on the
        # CPU. What does not depend on the previous pass is worked out once (it was rebuilt on
        # every pass, which dominated the estimate of 50k-op models): per op, the device-pair
        # matrix and the list of other incoming edges.
        self.chunks: list[tuple[int, int]] = []
        lo = 0
        for k in range(1, n + 1):
            if k == n or functions[k] != functions[lo]:
                self.chunks.append((lo, k))
                lo = k
        self._prepared: list[_Prepared] | None = None

    @property
    def prepared(self) -> list[_Prepared]:
        """`_prepare` of each chunk, for the Viterbi passes (built on first use)."""
        if self._prepared is None:
            hw = self.hw
            # Crossing cost tables per (bytes, fp32) computed on demand; most edges repeat
            # sizes.
            xcache: dict[tuple[int, bool], list[list[float]]] = {}

            def xtable(nbytes: int, fp32: bool) -> list[list[float]]:
                tab = xcache.get((nbytes, fp32))
                if tab is None:
                    tab = [
                        [hw.crossing_ms(a, b, nbytes, fp32) for b in DEVICE_COLUMNS]
                        for a in DEVICE_COLUMNS
                    ]
                    xcache[(nbytes, fp32)] = tab
                return tab

            self._prepared = [
                _prepare(self.edges, lo, hi, self.launch, xtable) for lo, hi in self.chunks
            ]
        return self._prepared

    def with_hw(self, hw: HardwareModel) -> _Shared:
        """The same problem under other launch and crossing costs, sharing everything that
        does not depend on them (the flattened edge tables are built once for all)."""
        other = copy.copy(self)
        other.hw = hw
        other.launch = [hw.launch_ms[d] for d in DEVICE_COLUMNS]
        other._prepared = None
        if self._objective is None:
            self._objective = _Objective(self.edges, self.fn_start, self.starts, self.tensors)
        if self._long is None:
            self._long = _LongStatic(self.edges, self.consumers, self.fn_start)
        other._objective, other._long = self._objective, self._long
        return other

    @property
    def long_static(self) -> _LongStatic:
        """The flattened edge tables of `_LongRuns`, built on the first long run."""
        if self._long is None:
            self._long = _LongStatic(self.edges, self.consumers, self.fn_start)
        return self._long

    def cost(self, unary: np.ndarray, assign: Sequence[int]) -> float:
        """`total_cost` of `assign` (vectorised; equal up to the order floats are added)."""
        if self._objective is None:
            self._objective = _Objective(self.edges, self.fn_start, self.starts, self.tensors)
        return self._objective.cost(unary, assign, self.hw)


def _xcost(nb: np.ndarray, fp: np.ndarray, hw: HardwareModel) -> np.ndarray:
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


def _bytes_column(values: Sequence[int]) -> np.ndarray:
    # Through object dtype: byte counts are Python ints that may not fit int64 (absurd shapes
    # are kept as they are), and each must become the float Python's int / float would use.
    return np.array(list(values), dtype=object).astype(np.float64)


class _XCosts:
    """`_xcost` of a set of edges, worked out once per reading of the constants."""

    def __init__(self, nb: np.ndarray, fp: np.ndarray) -> None:
        self.nb, self.fp = nb, fp
        # By equality, not identity: each estimate makes its own (equal) readings, and the
        # settings of a comparison share these tables (a handful of readings: a short list).
        self._by_hw: list[tuple[HardwareModel, np.ndarray]] = []

    def for_hw(self, hw: HardwareModel) -> np.ndarray:
        for known, table in self._by_hw:
            if known is hw or known == hw:
                return table
        table = _xcost(self.nb, self.fp, hw)
        self._by_hw.append((hw, table))
        return table


class _Objective:
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
        self.xcosts = _XCosts(_bytes_column(nbytes), np.array(fp32, dtype=bool))
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
        xcost = self.xcosts.for_hw(hw)
        return total + float(xcost[idx, sdev[idx], ddev[idx]].sum())


# Per op of a chunk: the 3x3 cost of going from the previous op's device a to this op's device b
# (launch on a switch + crossings of edges from the previous op), flattened row-major, and this
# op's other incoming edges as (producer position, or -1 for the caller on the CPU; table).
_Prepared = tuple[list[tuple[float, ...]], list[list[tuple[int, list[list[float]]]]]]


def _prepare(
    edges: Sequence[Sequence[Edge]],
    lo: int,
    hi: int,
    launch: list[float],
    xtable: Callable[[int, bool], list[list[float]]],
) -> _Prepared:
    """The pass-independent part of `_dp_pass` for ops lo..hi-1 (see there).

    Sums are accumulated in the edges' order, as the per-pass loop used to, so that results
    are bit-for-bit the same.
    """
    if _NDEV != 3:  # pragma: no cover - the unrolled loops below assume three processors
        raise AssertionError("the partitioner is written for three processors")
    base = tuple(0.0 if a == b else launch[b] for a in range(_NDEV) for b in range(_NDEV))
    pairs: list[tuple[float, ...]] = []
    others: list[list[tuple[int, list[list[float]]]]] = []
    for k in range(lo, hi):
        pair: list[float] | None = None
        rest: list[tuple[int, list[list[float]]]] = []
        for src, nbytes, fp32 in edges[k]:
            tab = xtable(nbytes, fp32)
            if src < lo:
                rest.append((-1, tab))
            elif src == k - 1 and k > lo:
                if pair is None:
                    pair = list(base)
                for a in range(_NDEV):
                    ra = tab[a]
                    for b in range(_NDEV):
                        pair[a * _NDEV + b] += ra[b]
            else:
                rest.append((src, tab))
        pairs.append(base if pair is None else tuple(pair))
        others.append(rest)
    return pairs, others


def _dp_pass(
    un: list[list[float]], lo: int, hi: int, prep: _Prepared, prev_assign: list[int]
) -> list[int]:
    """One Viterbi pass over ops lo..hi-1 (one function), starting from the CPU.

    Edges from the previous op are charged exactly (in the pair matrix); edges from earlier ops
    use `prev_assign`; edges from model inputs or other functions come from the CPU, where the
    caller holds them. The three processors are unrolled: this loop runs once per op and pass.
    """
    pairs, others = prep
    back: list[tuple[int, int, int]] = []
    # Before the first op the caller is on the CPU.
    best = [_INF] * _NDEV
    best[_CPU] = 0.0
    b0, b1, b2 = best
    for k in range(lo, hi):
        u0, u1, u2 = un[k]
        for src, tab in others[k - lo]:
            row = tab[_CPU] if src < 0 else tab[prev_assign[src]]
            u0 += row[0]
            u1 += row[1]
            u2 += row[2]
        p00, p01, p02, p10, p11, p12, p20, p21, p22 = pairs[k - lo]
        # For each device b: the cheapest previous device a (first on ties, CPU if none).
        n0, a0 = _best_from(b0 + p00, b1 + p10, b2 + p20, u0)
        n1, a1 = _best_from(b0 + p01, b1 + p11, b2 + p21, u1)
        n2, a2 = _best_from(b0 + p02, b1 + p12, b2 + p22, u2)
        back.append((a0, a1, a2))
        b0, b1, b2 = n0, n1, n2
    best = [b0, b1, b2]
    out = [0] * (hi - lo)
    cur = min(range(_NDEV), key=lambda j: best[j])
    for k in range(hi - lo - 1, -1, -1):
        out[k] = cur
        cur = back[k][cur]
    return out


def _best_from(c0: float, c1: float, c2: float, u: float) -> tuple[float, int]:
    """(min(c) + u, argmin) with the first minimum winning, or (inf, CPU) if u or all c are inf."""
    if u == _INF:
        return _INF, _CPU
    m, arg = _INF, _CPU
    if c0 < m:
        m, arg = c0, 0
    if c1 < m:
        m, arg = c1, 1
    if c2 < m:
        m, arg = c2, 2
    return m + u, arg


def total_cost(
    unary: np.ndarray,
    edges: Sequence[Sequence[Edge]],
    functions: Sequence[str],
    assign: Sequence[int],
    tensors: Sequence[Sequence[Hashable]] | None = None,
    *,
    hw: HardwareModel = NOMINAL,
) -> float:
    """The exact objective: op times + launches on each switch + every crossing.

    With `tensors` (see `partition`), a tensor pays its crossing to a processor once, however
    many ops read it there: what `analysis.crossings` reports.
    """
    launch = [hw.launch_ms[d] for d in DEVICE_COLUMNS]
    total = 0.0
    prev = _CPU
    lo = 0
    arrived: set[tuple[Hashable, int]] = set()
    for k, d in enumerate(assign):
        if k == 0 or functions[k] != functions[k - 1]:
            prev, lo = _CPU, k
        total += float(unary[k, d])
        if d != prev:
            total += launch[d]
        for e, (src, nbytes, fp32) in enumerate(edges[k]):
            s = _CPU if src < lo else assign[src]
            if s == d:
                continue
            if tensors is not None:
                key = (tensors[k][e], d)
                if key in arrived:
                    continue
                arrived.add(key)
            total += hw.crossing_ms(DEVICE_COLUMNS[s], DEVICE_COLUMNS[d], nbytes, fp32)
        prev = d
    return total


def improve_segments(
    unary: np.ndarray, edges: Sequence[Sequence[Edge]], functions: Sequence[str], assign: list[int]
) -> list[int]:
    """Move whole same-device runs to another allowed device while the cost drops (`_improve`).

    The cost counted is `total_cost` without shared tensors (every edge pays its crossing).
    """
    return _improve(unary, _Shared(edges, functions, None), assign)


def _improve(unary: np.ndarray, shared: _Shared, assign: list[int]) -> list[int]:
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
    un = unary.tolist()
    long_runs: _LongRuns | None = None  # built on the first long run: most models have none

    def move_delta(i: int, j: int, d: int, c: int) -> float | None:
        """Change in total cost if ops i..j (all on d) moved to c; None if c cannot run one."""
        nonlocal long_runs
        if j - i + 1 >= _LONG_RUN:
            if long_runs is None:
                long_runs = _LongRuns(unary, shared.long_static, a, hw)
            return long_runs.delta(i, j, d, c, launch_parts(i, j, d, c))
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

    runs = _Runs(a, starts)
    for _ in range(MAX_SWEEPS):
        improved = False
        r = runs.head
        while r >= 0:
            i, j, d = runs.start[r], runs.end[r], runs.dev[r]
            best_delta, best_dev = -1e-12, d
            for c in range(_NDEV):
                if c == d:
                    continue
                delta = move_delta(i, j, d, c)
                if delta is not None and delta < best_delta:
                    best_delta, best_dev = delta, c
            if best_dev != d:
                a[i : j + 1] = [best_dev] * (j - i + 1)
                if long_runs is not None:
                    long_runs.moved(i, j, best_dev)
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


class _Runs:
    """Maximal same-device runs of an assignment (never crossing a function start), as a doubly
    linked list, so that a move merges runs in O(1) instead of rescanning ops."""

    def __init__(self, a: list[int], starts: list[bool]) -> None:
        self.starts = starts
        self.start: list[int] = []
        self.end: list[int] = []
        self.dev: list[int] = []
        for k, d in enumerate(a):
            if k and not starts[k] and d == self.dev[-1]:
                self.end[-1] = k
            else:
                self.start.append(k)
                self.end.append(k)
                self.dev.append(d)
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


class _LongStatic:
    """The edge tables `_LongRuns` reads: per op, its incident edges flattened in the Python
    loop's order: incoming edges (the producer's position, or -1 for a value from the caller
    on the CPU), then outgoing ones."""

    def __init__(
        self,
        edges: Sequence[Sequence[Edge]],
        consumers: Sequence[Sequence[Edge]],
        fn_start: Sequence[int],
    ) -> None:
        other: list[int] = []
        nbytes: list[int] = []
        fp32: list[bool] = []
        incoming: list[bool] = []
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
        self.ptr = ptr
        self.other = np.array(other, dtype=np.intp)
        self.incoming = np.array(incoming, dtype=bool)
        self.xcosts = _XCosts(_bytes_column(nbytes), np.array(fp32, dtype=bool))


class _LongRuns:
    """The cost change of moving a long run, with numpy, adding exactly what the Python loop
    in `improve_segments` adds, in the same order (np.cumsum adds left to right, unlike
    np.sum), so that both give the same float."""

    def __init__(
        self, unary: np.ndarray, static: _LongStatic, a: list[int], hw: HardwareModel
    ) -> None:
        self.unary = unary
        self.assign = np.array(a, dtype=np.intp)
        self.ptr = static.ptr
        self.other = static.other
        self.incoming = static.incoming
        self.xcost = static.xcosts.for_hw(hw)

    def moved(self, i: int, j: int, dev: int) -> None:
        self.assign[i : j + 1] = dev

    def delta(
        self, i: int, j: int, d: int, c: int, launch_parts: tuple[float, ...]
    ) -> float | None:
        uc = self.unary[i : j + 1, c]
        if np.isinf(uc).any():
            return None
        delta = float(np.cumsum(uc - self.unary[i : j + 1, d])[-1])
        for part in launch_parts:
            delta += part
        lo, hi = self.ptr[i], self.ptr[j + 1]
        other = self.other[lo:hi]
        keep = (other < i) | (other > j)  # edges inside the run do not change
        other = other[keep]
        incoming = self.incoming[lo:hi][keep]
        xcost = self.xcost[lo:hi][keep]
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
