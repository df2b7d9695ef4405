"""Suggested fixes for ops that are not on the Neural Engine.

A fix comes from the rule that kept the op off the ANE (`placement/rules/table.py`); placements
that were a choice rather than a limit (compute units, the cost model) get a generic suggestion.
The decision is read from the op's `ReasonKind`, never from its sentence. For Core ML placements,
which carry no reason of their own, the rules of our estimate shown beside them are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .placement.devices import Device
from .placement.result import CostDriver, OpEstimate, ReasonKind

if TYPE_CHECKING:
    from .report import OpRecord

COMPUTE_UNITS_FIX = "profile with compute units ALL or CPU_AND_NE to allow the Neural Engine"
COST_MODEL_FIX = (
    "merge small ops into larger ones, or move this work out of the model; "
    "tiny islands are kept off the ANE because a dispatch costs more than the work"
)
# Per cost driver (`CostDriver`): what decided says what would change it.
COST_DRIVER_FIX: dict[CostDriver, str] = {
    CostDriver.DISPATCH: COST_MODEL_FIX,
    CostDriver.CROSSINGS: (
        "keep data that crosses processors small and in fp16: declare fp16 model inputs and "
        "outputs (ct.TensorType(dtype=np.float16), iOS 16+) so no fp32 tensor has to move"
    ),
    CostDriver.WORK: "nothing to fix: it runs faster where it is",
    CostDriver.SEGMENT: "move the whole segment's work onto the Neural Engine, or out of the model",
}


def _rule_fix(rule_ids: tuple[str, ...]) -> str:
    from .placement.rules import rule_by_id

    for rid in rule_ids:
        try:
            rule = rule_by_id(rid)
        except KeyError:
            continue  # a report written by another version may name rules we do not know
        if Device.ANE in rule.excludes and rule.fix:
            return rule.fix
    return ""


def fix_for(op: OpRecord) -> str:
    """The suggested fix for `op`, or "" when there is nothing to suggest."""
    return fix_from(*fix_inputs(op))


# (reason kind, rules, cost driver, (reason kind, rules) of the estimate beside it or None)
EstimateInputs = tuple[ReasonKind, tuple[str, ...]]
FixInputs = tuple[ReasonKind, tuple[str, ...], CostDriver | None, EstimateInputs | None]


def fix_inputs(op: OpRecord) -> FixInputs:
    """Everything of `op` its fix depends on: `fix_from(*fix_inputs(op))` is `fix_for(op)`.
    Few ops differ in these, so a page finds the fix once per distinct tuple (detail.py)."""
    return (op.reason_kind, op.rules, op.cost_driver, estimate_inputs(op.estimate))


def estimate_inputs(est: OpEstimate | None) -> EstimateInputs | None:
    """What of an op's estimate its fix may depend on (the last of `fix_inputs`)."""
    return None if est is None else (est.reason_kind, est.rules)


def fix_from(
    kind: ReasonKind,
    rules: tuple[str, ...],
    driver: CostDriver | None,
    estimate: EstimateInputs | None,
) -> str:
    """The fix of an op with these `fix_inputs`."""
    if kind is ReasonKind.RULE:
        return _rule_fix(rules)
    if kind is ReasonKind.COMPUTE_UNITS:
        return COMPUTE_UNITS_FIX
    if kind is ReasonKind.COST_MODEL:
        return COST_MODEL_FIX if driver is None else COST_DRIVER_FIX[driver]
    # Core ML gives no reason: our estimate's rules, when it found one, suggest what to do.
    coreml = kind in (ReasonKind.COREML_UNSUPPORTED, ReasonKind.COREML_PREFERRED)
    if coreml and estimate is not None and estimate[0] is ReasonKind.RULE:
        return _rule_fix(estimate[1])
    return ""
