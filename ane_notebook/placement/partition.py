"""The partitioner: one device per op, minimising estimated time including crossings.

A dynamic programme (Viterbi) over execution order, like the shortest-path solve that
reverse-engineering found in Core ML's own planner (docs/evidence.md#costs.MODEL_FORM).
The state is the device of the previous op, so the cost of switching processors between
consecutive ops is exact; data edges from earlier ops are charged with the device those ops got
in the previous pass, and passes repeat until nothing changes (at most MAX_PASSES). Because
that approximation can settle in a local optimum (a run left on the GPU after a GPU-only op,
say), a local search then moves whole segments to another device while the exact objective
(`total_cost`) drops (`segment_search.py`; the edge cost tables are `crossing_tables.py`). An
island not worth two crossings is therefore absorbed into its neighbours.

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
from .crossing_tables import EdgeObjective
from .devices import Device
from .segment_search import LongStatic, improve_runs

_INF = math.inf
_NDEV = len(DEVICE_COLUMNS)
_CPU = DEVICE_COLUMNS.index(Device.CPU)
MAX_PASSES = 4

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
    # a copy: the answer may be kept (`_Shared.solved`) and handed to a later call too
    return list(_solve(unary, shared, allowed | {_CPU}, memo))


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
        out = improve_runs(unary, shared, start)
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
    known = shared.solved_for(devices, masked)
    if known is not None:
        memo[devices] = known
        return known
    candidates = [_search(masked, shared)]
    for drop in sorted(devices - {_CPU}):
        sub = _solve(unary, shared, devices - {drop}, memo)
        candidates.append(sub)
        candidates.append(improve_runs(masked, shared, sub))
    costs = [shared.cost(masked, c) for c in candidates]
    best = candidates[min(range(len(candidates)), key=costs.__getitem__)]
    memo[devices] = best
    shared.solved.append((devices, masked if masked is not unary else unary.copy(), best))
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
    best = improve_runs(unary, shared, assign)
    # The passes and the local search can settle in a local optimum that is worse than simply
    # staying on the CPU, where every op can run and no crossing is paid (a large tensor read
    # by ops on two devices, say). Local search from the all-CPU placement too, and keep the
    # cheaper result under the exact objective.
    from_cpu = improve_runs(unary, shared, [_CPU] * n)
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
        self.starts_array = np.array(self.starts, dtype=bool)  # for `_Runs`
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
        self._long: LongStatic | None = None
        self._objective: EdgeObjective | None = None
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
        # Every `_solve` answer: (devices, the unary restricted to them, the placement). The
        # answer depends on those and on these tables alone, and a narrower compute-unit
        # setting's unary is the wider one's restricted (`Problem.unary`): ALL re-solves
        # CPU_AND_GPU and CPU_AND_NE as its starting points, which a comparison, sharing these
        # tables through the estimator's `Refiner`, has just solved (GitHub issue 14: ALL's
        # partition in a 50k-op comparison 0.16 -> 0.07 s CPU).
        self.solved: list[tuple[frozenset[int], np.ndarray, list[int]]] = []

    def solved_for(self, devices: frozenset[int], masked: np.ndarray) -> list[int] | None:
        """The kept `_solve` answer for `devices` and this very `masked` unary, if any."""
        for known, unary, answer in self.solved:
            if known == devices and np.array_equal(unary, masked):
                return answer
        return None

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
        other.solved = []  # answers under other costs
        if self._objective is None:
            self._objective = EdgeObjective(self.edges, self.fn_start, self.starts, self.tensors)
        if self._long is None:
            self._long = LongStatic(self.edges, self.fn_start)
        other._objective, other._long = self._objective, self._long
        return other

    @property
    def long_static(self) -> LongStatic:
        """The flattened edge tables of `_LongRuns`, built on the first long run."""
        if self._long is None:
            self._long = LongStatic(self.edges, self.fn_start)
        return self._long

    def cost(self, unary: np.ndarray, assign: Sequence[int]) -> float:
        """`total_cost` of `assign` (vectorised; equal up to the order floats are added)."""
        if self._objective is None:
            self._objective = EdgeObjective(self.edges, self.fn_start, self.starts, self.tensors)
        return self._objective.cost(unary, assign, self.hw)


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
    """Move whole same-device runs to another allowed device while the cost drops (`improve_runs`).

    The cost counted is `total_cost` without shared tensors (every edge pays its crossing).
    """
    return improve_runs(unary, _Shared(edges, functions, None), assign)
