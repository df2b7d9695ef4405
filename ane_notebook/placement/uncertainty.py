"""How sure an estimate is: where ops would go under the other readings of the evidence.

Two kinds of alternative reading, each re-run from the chosen placement (`partition.refine`,
a local search: much cheaper than a fresh partition, and it answers the question asked:
where does *this* placement move if the evidence reads otherwise):

* rules: ops kept off the Neural Engine by a contested rule (sources disagree:
  `Rule.contested`; or the rule rests on a guess) are let onto it; ops placed on it only
  because their type is guessed to run there are kept off it;
* constants: every cost constant at the fast or the slow end of its published spread
  (`costs.corner`: the Neural Engine's and everything else's, four corners).

An op is *contested* when its placement rests on a contested rule or moves under any
alternative; `alt_device` is where it goes under the first alternative that moves it. The
`Uncertainty` gives, per processor, the fewest and most ops over all readings, and the lowest
and highest estimated total.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import ne
from typing import TYPE_CHECKING

import numpy as np

from .costs import DEVICE_COLUMNS, HardwareModel, corner, hardware_for
from .devices import ComputeUnits, Device, Evidence
from .result import Uncertainty
from .rules import OpSupport

_ANE = DEVICE_COLUMNS.index(Device.ANE)

if TYPE_CHECKING:  # estimate imports this module lazily
    from .estimate import Problem


def contested_exclusion(sup: OpSupport | None) -> bool:
    """The rules keep the op off the ANE, and every finding that does is contested (its
    sources disagree: `Rule.contested`, docs/evidence.md#contested) or rests on a guess: under
    the other reading the op may run there."""
    deciding = [f for f in sup.findings if Device.ANE in f.excludes] if sup is not None else []
    return bool(deciding) and all(
        f.contested or f.rule.evidence is Evidence.GUESS for f in deciding
    )


@dataclass(frozen=True)
class Reading:
    """One alternative reading and the placement it settles on."""

    name: str
    assign: list[int]
    total_ms: float  # the partitioner's objective plus the fixed per-prediction costs
    flipped: frozenset[int]  # rows whose support this reading changed


@dataclass(frozen=True)
class Alternatives:
    nominal_ms: float
    readings: tuple[Reading, ...]
    rule_rows: frozenset[int]  # rows whose placement rests on a contested rule

    def per_op(self, assign: list[int]) -> tuple[list[bool], dict[int, Device]]:
        """Per row: contested?, and the device under the first reading that moves it."""
        contested = [k in self.rule_rows for k in range(len(assign))]
        alt: dict[int, Device] = {}
        for r in self.readings:
            moved = np.flatnonzero(np.asarray(r.assign) != np.asarray(assign))
            for k in moved.tolist():
                contested[k] = True
                alt.setdefault(k, DEVICE_COLUMNS[r.assign[k]])
        return contested, alt


def _function_starts(functions: list[str]) -> int:
    """How many functions the rows run (a new one wherever the function changes), counted in C:
    the Python count, asked once per reading, was ~15 ms per setting at 50k ops (issue 14)."""
    return 1 + sum(map(ne, functions[1:], functions)) if functions else 0


def alternatives(problem: Problem, cu: ComputeUnits, assign: list[int]) -> Alternatives:
    """Re-run the placement from `assign` under each alternative reading."""
    refiner = problem.refiner
    starts = _function_starts(problem.functions)

    def _fixed_ms(hw: HardwareModel) -> float:
        """The per-prediction cost of every function (placement-independent)."""
        return hw.predict_ms * starts

    hw0 = hardware_for(problem.graph, problem.chip)
    nominal = refiner.cost(problem.unary(cu, hw0), assign, hw0) + _fixed_ms(hw0)
    readings: list[Reading] = []
    rule_rows: set[int] = set()
    if len(assign) and Device.ANE in cu.devices:
        # Which rows each reading changes depends on the rules (shared by every setting:
        # `Problem.givens`) and on where this placement put them.
        on_ane = np.asarray(assign) == _ANE
        more_rows = np.flatnonzero(~on_ane & problem.contested_off_ane)
        fewer_rows = np.flatnonzero(on_ane & problem.guessed_on_ane)
        lifted = problem.supported.copy()
        lifted[more_rows, _ANE] = True
        dropped = problem.supported.copy()
        dropped[fewer_rows, _ANE] = False
        more, fewer = set(more_rows.tolist()), set(fewer_rows.tolist())
        rule_rows = more | fewer
        for name, supported, rows in (
            ("rules: lifted", lifted, more),
            ("rules: kept off", dropped, fewer),
        ):
            if not rows:
                continue
            unary = problem.unary(cu, hw0, supported=supported)
            got, cost = refiner.refine(unary, assign, hw0)
            readings.append(Reading(name, got, cost + _fixed_ms(hw0), frozenset(rows)))
    if len(assign):
        for ane_fast in (True, False):
            for others_fast in (True, False):
                hw = hardware_for(problem.graph, problem.chip, corner(ane_fast, others_fast))
                unary = problem.unary(cu, hw)
                if len(cu.devices) == 1:
                    # one processor (CPU_ONLY): nothing can move, and refine would return the
                    # start with this same cost after a search that cannot succeed
                    got, cost = list(assign), refiner.cost(unary, assign, hw)
                else:
                    got, cost = refiner.refine(unary, assign, hw)
                ends = ("fast" if ane_fast else "slow", "fast" if others_fast else "slow")
                name = f"constants: ANE {ends[0]}, others {ends[1]}"
                readings.append(Reading(name, got, cost + _fixed_ms(hw), frozenset()))
    return Alternatives(nominal, tuple(readings), frozenset(rule_rows))


def uncertainty_of(
    problem: Problem, cu: ComputeUnits, assign: list[int], alts: Alternatives
) -> Uncertainty:
    """Per-device op-count ranges and the total-time range over every reading."""
    placements = [assign, *(r.assign for r in alts.readings)]
    totals = [alts.nominal_ms, *(r.total_ms for r in alts.readings)]
    ops: dict[Device, tuple[int, int]] = {}
    for j, d in enumerate(DEVICE_COLUMNS):
        counts = [int(np.count_nonzero(np.asarray(a, dtype=np.intp) == j)) for a in placements]
        ops[d] = (min(counts), max(counts))
    return Uncertainty(ops=ops, est_total_ms=(min(totals), max(totals)))
