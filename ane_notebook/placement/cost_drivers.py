"""What decided a cost-model placement: the change in time if one op alone moved to the ANE.

For each op the estimator keeps off the Neural Engine although the ANE could run it,
`cost_drivers` splits that change into work, dispatch and crossings (the terms the partitioner
minimises) and names the one that decided (`CostDriver`); `cost_reason` words it for people.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..model.graph import TensorInfo
from .costs import DEVICE_COLUMNS, HardwareModel
from .devices import Device
from .result import CostDriver

if TYPE_CHECKING:
    from .estimate import Problem

_COL = {d: j for j, d in enumerate(DEVICE_COLUMNS)}
_ANE = _COL[Device.ANE]
_CPU = _COL[Device.CPU]


@dataclass(frozen=True)
class Decision:
    """The change in estimated time (ms) if one op alone moved to the Neural Engine."""

    driver: CostDriver
    work_ms: float  # its time on the ANE minus where it is
    dispatch_ms: float  # launches added (an ANE dispatch of its own) or saved
    crossing_ms: float  # crossings (and model I/O) added minus saved
    moved: int  # bytes that would cross (or cross at a slower rate) because it moved
    spared: int  # bytes that would no longer cross because it moved
    moved_dtypes: tuple[str, ...] = ()  # dtypes of `moved` (fp32 converts on the way: slow)
    spared_dtypes: tuple[str, ...] = ()


class Tally:
    """Crossings added and spared by moving one op (bytes and dtypes, for the sentence)."""

    def __init__(self, tensors: Mapping[tuple[str, str], TensorInfo]) -> None:
        self.tensors = tensors
        self.cross = 0.0
        self.moved = self.spared = 0
        self.moved_dt: dict[str, None] = {}
        self.spared_dt: dict[str, None] = {}

    def add(self, before: float, after: float, nb: int, t: Hashable) -> None:
        self.cross += after - before
        info = self.tensors.get(t) if isinstance(t, tuple) else None
        dtype = info.dtype if info is not None else "?"
        if after > before:
            self.moved += nb
            self.moved_dt[dtype] = None
        elif before > after:
            self.spared += nb
            self.spared_dt[dtype] = None


def cost_drivers(
    problem: Problem, unary: np.ndarray, times: np.ndarray, assign: list[int], hw: HardwareModel
) -> dict[int, Decision]:
    """For each op the cost model kept off the ANE (it could run there), which cost decided:
    the change in total time if it alone moved to the ANE, split into work, dispatch and
    crossings (the same terms the partitioner minimises).

    The answer depends on the problem, the costs, the placement and which ops may use the
    ANE alone: inside `Graph.sharing` the previous call's answer is kept, and a call that
    asks the same again gets it. CPU_AND_NE and ALL often place every op alike (the 50k-op
    benchmark on M1 and M4), and ALL then skips ~0.03 s of a comparison (issue 14)."""
    graph = problem.graph
    if not graph.is_sharing:
        return _cost_drivers(problem, unary, times, assign, hw)
    asked = (np.asarray(assign), np.isfinite(unary[:, _ANE]), times)
    last: list[Any] = graph.memo(("placement.cost_drivers", problem.chip), list)
    if (
        last
        and last[0] is problem
        and last[1] == hw
        and all(np.array_equal(a, b) for a, b in zip(last[2], asked, strict=True))
    ):
        return dict(last[3])
    out = _cost_drivers(problem, unary, times, assign, hw)
    last[:] = [problem, hw, tuple(a.copy() for a in asked), out]
    return dict(out)


def _cost_drivers(
    problem: Problem, unary: np.ndarray, times: np.ndarray, assign: list[int], hw: HardwareModel
) -> dict[int, Decision]:
    tensors = problem.graph.tensors
    n = len(assign)
    out: dict[int, Decision] = {}
    # Only ops off the ANE that could run there (none when the compute units exclude it).
    candidates = np.flatnonzero((np.asarray(assign) != _ANE) & np.isfinite(unary[:, _ANE]))
    if not len(candidates):
        return out
    launch = [hw.launch_ms[d] for d in DEVICE_COLUMNS]
    starts, consumers, readers = problem.driver_tables()
    for k in candidates.tolist():
        d = assign[k]
        work = float(times[k, _ANE] - times[k, d])
        prev = _CPU if starts[k] else assign[k - 1]
        nxt = None if k + 1 >= n or starts[k + 1] else assign[k + 1]

        def switch(a: int, b: int) -> float:
            return 0.0 if a == b else launch[b]

        dispatch = switch(prev, _ANE) - switch(prev, d)
        if nxt is not None:
            dispatch += switch(_ANE, nxt) - switch(d, nxt)
        tally = Tally(tensors)
        account = tally.add
        here = DEVICE_COLUMNS[d]
        seen: set[Hashable] = set()  # inputs: each tensor once (as the report counts it)
        for (src, nb, fp), t in zip(problem.edges[k], problem.tensors[k], strict=True):
            if t in seen:
                continue
            seen.add(t)
            s = DEVICE_COLUMNS[_CPU if src < 0 else assign[src]]
            before = hw.crossing_ms(s, here, nb, fp)
            if s is not Device.ANE and any(assign[c] == _ANE for c in readers[t] if c != k):
                account(before, 0.0, nb, t)  # another reader already brings it to the ANE
            else:
                account(before, hw.crossing_ms(s, Device.ANE, nb, fp), nb, t)
        # outputs: one crossing per (tensor, processor) its readers are on
        by_tensor: dict[Hashable, tuple[int, bool, set[int]]] = {}
        for c, nb, fp, t in consumers.get(k, ()):
            by_tensor.setdefault(t, (nb, fp, set()))[2].add(assign[c])
        for t, (nb, fp, devs) in by_tensor.items():
            for e in devs:
                to = DEVICE_COLUMNS[e]
                account(
                    hw.crossing_ms(here, to, nb, fp), hw.crossing_ms(Device.ANE, to, nb, fp), nb, t
                )
        op = problem.graph.ops[problem.work[k]]
        for (nb, fp), out_t in zip(problem.returned.get(k, ()), op.outputs, strict=False):
            # model outputs go back to the caller
            account(
                hw.crossing_ms(here, Device.CPU, nb, fp),
                hw.crossing_ms(Device.ANE, Device.CPU, nb, fp),
                nb,
                (op.function, out_t.name),
            )
        cross = tally.cross
        total = work + dispatch + cross
        if total <= 0:
            driver = CostDriver.SEGMENT
        else:
            parts = {CostDriver.WORK: work, CostDriver.DISPATCH: dispatch}
            parts[CostDriver.CROSSINGS] = cross
            driver = max(parts, key=lambda p: parts[p])
        out[k] = Decision(
            driver,
            work,
            dispatch,
            cross,
            tally.moved,
            tally.spared,
            tuple(tally.moved_dt),
            tuple(tally.spared_dt),
        )
    return out


def _kb(n: int) -> str:
    for unit, size in (("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _of(dtypes: tuple[str, ...]) -> str:
    return f" of {'/'.join(dtypes)}" if dtypes and "?" not in dtypes else ""


def cost_reason(dev: Device, dec: Decision | None) -> str:
    """The sentence for a cost-model decision: what it would cost on the ANE instead."""
    head = f"the ANE could run it, but the cost model keeps it on the {dev.value}: "
    if dec is None:  # pragma: no cover - every such op gets a decision
        return head + "it is cheaper there"
    if dec.driver is CostDriver.SEGMENT:
        return head + "it stays with the rest of its segment (moved alone it would gain little)"
    if dec.driver is CostDriver.CROSSINGS:
        what = f"{_kb(dec.moved)}{_of(dec.moved_dtypes)}"
        instead = f" instead of {_kb(dec.spared)}{_of(dec.spared_dtypes)}" if dec.spared else ""
        return (
            head + f"on the ANE, {what} would cross between processors{instead} "
            f"(crossings {dec.crossing_ms:+.3f} ms, work {dec.work_ms:+.3f} ms)"
        )
    if dec.driver is CostDriver.DISPATCH:
        return (
            head + "too little work to pay an ANE dispatch of its own "
            f"(dispatch {dec.dispatch_ms:+.3f} ms, work {dec.work_ms:+.3f} ms)"
        )
    return head + f"it runs faster there (work on the ANE {dec.work_ms:+.3f} ms)"
