"""Suggested fixes for ops that are not on the Neural Engine.

A fix comes from the rule that kept the op off the ANE (`placement/rules/table.py`); placements
that were a choice rather than a limit (compute units, the cost model) get a generic suggestion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .placement.devices import Device

if TYPE_CHECKING:
    from .report import OpRecord


def fix_for(op: OpRecord) -> str:
    from .placement.rules import rule_by_id

    for rid in op.rules:
        try:
            rule = rule_by_id(rid)
        except KeyError:
            continue  # a report written by another version may name rules we do not know
        if Device.ANE in rule.excludes and rule.fix:
            return rule.fix
    if "compute units" in op.reason:
        return "profile with compute units ALL or CPU_AND_NE to allow the Neural Engine"
    if op.reason.startswith("the ANE could run it"):
        return (
            "merge small ops into larger ones, or move this work out of the model; "
            "tiny islands are kept off the ANE because a dispatch costs more than the work"
        )
    return ""
