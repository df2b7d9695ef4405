"""Shares said out loud: what fraction of a model runs on a processor, and of what.

Tools disagree on "84% of ops on the Neural Engine" because they count different things: Xcode
and Core ML's compute plan list const and `constexpr_*` ops (they hold weights; no processor
runs them), others leave them out, and a plan may not place every op. So every share this
package shows names its denominator ("49 of 59 ops that run; 79 const ops not counted") and
comes in two forms:

* the op share: ops on the device / ops that run (const ops out; ops a plan did not place are
  in the denominator and on no device, so they never count as on the ANE);
* the cost-weighted share: the device's part of the cost, where the cost is Core ML's own cost
  weight (`MLComputePlanCost.weight`) for plans that give one, and our estimated op time
  otherwise (crossings left out: they belong to no processor).

`Share.text()` is the one sentence every output uses (text report, check, diagram). Why these
denominators: docs/evidence.md, "shares".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from operator import attrgetter
from typing import TYPE_CHECKING

from .placement.devices import DEVICE_LABEL, DEVICE_ORDER, Device
from .placement.result import PlacementSource

if TYPE_CHECKING:
    from .report import OpRecord


class WeightBasis(str, Enum):
    """What the cost-weighted share weighs ops by."""

    ESTIMATED_TIME = "estimated_time"  # our per-op time estimate (every source has one)
    COREML_COST_WEIGHT = "coreml_cost_weight"  # Core ML's MLComputePlanCost.weight

    def __str__(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        return WEIGHT_LABEL[self]


WEIGHT_LABEL: dict[WeightBasis, str] = {
    WeightBasis.ESTIMATED_TIME: "of estimated op time",
    WeightBasis.COREML_COST_WEIGHT: "of Core ML's cost weight",
}


@dataclass(frozen=True)
class Counts:
    """What a summary needs to state shares: per-device counts and weights, and what was left out.

    n_run: ops that run (the denominator of op shares); n_const: const and constexpr_* ops, not
    counted; n_unplaced: ops that run but the plan placed on no processor (inside n_run);
    weights: per device, in `basis` units; weight_known: ops that run and carry a weight.
    """

    ops: Mapping[Device, int]
    n_run: int
    n_const: int
    n_unplaced: int
    basis: WeightBasis
    weights: Mapping[Device, float]
    weight_known: int


_COUNTED = attrgetter("is_const", "cost_weight", "device", "est_time_ms")


def count_ops(ops: Iterable[OpRecord], source: PlacementSource) -> Counts:
    """Count ops per device and weigh them (see the module docstring for what counts)."""
    return counts_and_times(ops, source)[0]


def counts_and_times(
    ops: Iterable[OpRecord], source: PlacementSource
) -> tuple[Counts, dict[Device, float]]:
    """`count_ops`, and each device's estimated op time (ops that run and are placed, summed in
    op order): a report's summary states both, and a second pass over a 50k-op report's records
    for the times took ~6 ms of its page (issue 14)."""
    per = dict.fromkeys(DEVICE_ORDER, 0)
    time = dict.fromkeys(DEVICE_ORDER, 0.0)
    cost = dict.fromkeys(DEVICE_ORDER, 0.0)
    n_run = n_const = n_unplaced = n_cost = 0
    # The four fields of each record read together, in C (`_COUNTED`): ~2x faster than four
    # attribute reads per op on a loaded report's 50k records (issue 14). Same order, same sums.
    for is_const, weight, device, ms in map(_COUNTED, ops):
        if is_const:
            n_const += 1
            continue
        n_run += 1
        if weight is not None:
            n_cost += 1
        if device is None:
            n_unplaced += 1
            continue
        per[device] += 1
        time[device] += ms
        if weight is not None:
            cost[device] += weight
    # Core ML's weight where the plan gave one (live and recorded plans); our estimate otherwise,
    # e.g. for estimates or for plans of OS versions whose estimatedCost is empty.
    if source.is_measured_plan and n_cost:
        counts = Counts(
            per, n_run, n_const, n_unplaced, WeightBasis.COREML_COST_WEIGHT, cost, n_cost
        )
    else:
        # (the time dict is the weights here: a copy for the caller, which may change it)
        counts = Counts(
            per, n_run, n_const, n_unplaced, WeightBasis.ESTIMATED_TIME, time, n_run - n_unplaced
        )
        time = dict(time)
    return counts, time


@dataclass(frozen=True)
class Share:
    """One device's share of a report, with its denominators.

    op_share is None when no op runs; weighted is None when the weights sum to zero.
    """

    device: Device
    ops: int
    n_run: int
    n_const: int
    n_unplaced: int
    basis: WeightBasis
    weighted: float | None
    weight_known: int

    @property
    def op_share(self) -> float | None:
        return self.ops / self.n_run if self.n_run else None

    def denominator_text(self) -> str:
        """ "49 of 59 ops that run; 79 const ops not counted" (and ops placed nowhere)."""
        parts = [f"{self.ops} of {self.n_run} ops that run"]
        if self.n_unplaced:
            parts.append(f"{self.n_unplaced} of them placed on no processor by the plan")
        parts.append(f"{self.n_const} const ops not counted")
        return "; ".join(parts)

    def weighted_text(self) -> str:
        """ "91.2% of estimated op time" / "no cost weights" (how many ops carry a weight)."""
        if self.weighted is None:
            return f"no {self.basis.label.removeprefix('of ')} to share"
        text = f"{pct(self.weighted)} {self.basis.label}"
        if self.basis is WeightBasis.COREML_COST_WEIGHT and self.weight_known < self.n_run:
            text += f" ({self.weight_known} of {self.n_run} ops carry a weight)"
        return text

    def text(self) -> str:
        """The one sentence every output shows: both shares and what they count."""
        head = f"{DEVICE_LABEL[self.device]}: {pct(self.op_share)} of ops"
        return f"{head} ({self.denominator_text()}), {self.weighted_text()}"


def share_of(counts: Counts, device: Device) -> Share:
    total = sum(counts.weights.values())
    weighted = counts.weights[device] / total if total > 0 else None
    return Share(
        device=device,
        ops=counts.ops[device],
        n_run=counts.n_run,
        n_const=counts.n_const,
        n_unplaced=counts.n_unplaced,
        basis=counts.basis,
        weighted=weighted,
        weight_known=counts.weight_known,
    )


def pct(x: float | None) -> str:
    """A share as a percentage with one decimal ("n/a" when there is nothing to share)."""
    return "n/a" if x is None else f"{100 * x:.1f}%"
