"""Our estimate beside Core ML's placement: Core ML says where each op runs, never why.

Core ML's compute plan gives a preferred and the supported devices per op, no reason; its E5
analytics, which hold its validation messages, are out of coremltools' reach (`e5_analytics`).
So a Core ML placement carries, per op, what our rules and cost model say (`OpPlacement.estimate`,
an `OpEstimate`), shown labelled as an estimate beside the measured device, and a counted
`WarningKind.NO_REASONS` saying that the reasons are ours.
"""

from __future__ import annotations

import dataclasses

from ..devices import Device
from ..result import OpEstimate, Placement, ReportWarning, WarningKind
from .gaps import MAX_EXAMPLES

__all__ = ["REASONS_ESTIMATED", "with_estimates"]

REASONS_ESTIMATED = (
    "Core ML gives no reasons (its compute plan says where each op runs, not why); the reasons "
    "beside its placement are our estimate's, labelled as such"
)


def with_estimates(placement: Placement, estimated: Placement) -> Placement:
    """`placement` (Core ML's, live or recorded) with `estimated`'s device and reason beside
    every op. Unless Core ML's own analytics gave reasons (`metadata["core_ml_reasons"]`), a
    `NO_REASONS` warning counts the ops Core ML kept off the Neural Engine without saying why."""
    if len(estimated.ops) != len(placement.ops):
        raise ValueError("the estimate and the placement disagree on the number of ops")
    ops = tuple(
        dataclasses.replace(
            p,
            estimate=OpEstimate(
                device=e.device,
                reason=e.reason,
                reason_kind=e.reason_kind,
                evidence=e.evidence,
                rules=e.rules,
            ),
        )
        for p, e in zip(placement.ops, estimated.ops, strict=True)
    )
    warnings = placement.warnings
    meta = dict(placement.metadata)
    if not meta.get("core_ml_reasons"):
        meta["reasons"] = REASONS_ESTIMATED
        off = [i for i, p in enumerate(ops) if p.device is not None and p.device is not Device.ANE]
        if off:
            n = len(off)
            warnings = (
                *warnings,
                ReportWarning(
                    WarningKind.NO_REASONS,
                    f"Core ML gives no reason for the {'op' if n == 1 else f'{n:,} ops'} it "
                    "placed off the Neural Engine; the reasons shown beside "
                    f"{'it are' if n == 1 else 'them are'} our estimate's",
                    n,
                    tuple(off[:MAX_EXAMPLES]),
                ),
            )
    return dataclasses.replace(placement, ops=ops, warnings=warnings, metadata=meta)
