"""The placement of every op, whichever backend produced it.

All three sources (`estimate`, `coreml`, `recorded`) return a `Placement`: one `OpPlacement` per
graph op, in graph order, plus a `source` label that travels with every number derived from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .devices import ComputeUnits, Device, Evidence

SOURCES = ("estimate", "coreml", "recorded")


@dataclass(frozen=True)
class OpPlacement:
    """Where one op runs and why.

    device: None for const ops (they hold weights; no processor runs them).
    supported: devices the op could run on (before the compute units are applied).
    reason: why it is not on the ANE, or why not elsewhere it could run; "" when on the ANE by
        choice with nothing to explain.
    evidence: the weakest evidence behind the decision (None when measured by Core ML).
    est_time_ms: estimated time on `device` (an estimate even for live plans: Core ML gives a
        relative cost weight, not a per-op time).
    rules: ids of the rules that fired.
    """

    device: Device | None
    supported: frozenset[Device]
    reason: str = ""
    evidence: Evidence | None = None
    est_time_ms: float = 0.0
    rules: tuple[str, ...] = ()
    cost_weight: float | None = None  # Core ML's MLComputePlanCost.weight, when known


@dataclass(frozen=True)
class Placement:
    source: str
    compute_units: ComputeUnits
    chip: str
    ops: tuple[OpPlacement, ...]
    # Free-form facts about how the placement was obtained: backend choice and why, recorded
    # plan metadata (chip, OS, coremltools version...), measured timings.
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown placement source {self.source!r}")
