"""Counted warnings for every gap between a compute plan and the graph it was mapped onto.

A plan that names an op the model lacks, or a model op the plan does not place, is never a
quiet "no device": each kind of gap becomes one `ReportWarning` with its count and a few of the
ops concerned, which the report, the text and the diagram header show.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...model.graph import Graph
from ..result import OpPlacement, ReasonKind, ReportWarning, WarningKind

__all__ = ["MAX_EXAMPLES", "plan_warnings"]

# Ops (or plan rows) named in a warning: enough to find the pattern, short enough to read
# (docs/evidence.md#plan.gaps).
MAX_EXAMPLES = 5

_GAPS: tuple[tuple[ReasonKind, WarningKind, str], ...] = (
    (ReasonKind.NOT_IN_PLAN, WarningKind.NOT_IN_PLAN, "not in Core ML's compute plan"),
    (ReasonKind.NO_USAGE, WarningKind.NO_USAGE, "in Core ML's compute plan without a device"),
    (
        ReasonKind.FUNCTION_NOT_PLANNED,
        WarningKind.FUNCTION_NOT_PLANNED,
        "of functions no compute plan was made for",
    ),
)


def _ops(n: int) -> str:
    return "1 op" if n == 1 else f"{n:,} ops"


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n:,} rows"


def plan_warnings(
    graph: Graph, placements: Sequence[OpPlacement], unmatched: Sequence[str]
) -> tuple[ReportWarning, ...]:
    """One warning per kind of gap: graph ops the plan did not place (by `ReasonKind`), and
    plan rows (`unmatched`, "<function>/<name>") that match no op of `graph`."""
    warnings: list[ReportWarning] = []
    for reason_kind, warning_kind, what in _GAPS:
        hit = [i for i, p in enumerate(placements) if p.reason_kind is reason_kind]
        if not hit:
            continue
        message = f"{_ops(len(hit))} {what}"
        if reason_kind is ReasonKind.FUNCTION_NOT_PLANNED:
            functions = list(dict.fromkeys(graph.ops[i].function for i in hit))
            message += f": {', '.join(functions[:MAX_EXAMPLES])}"
            if len(functions) > MAX_EXAMPLES:
                message += f" and {len(functions) - MAX_EXAMPLES} more"
        warnings.append(ReportWarning(warning_kind, message, len(hit), tuple(hit[:MAX_EXAMPLES])))
    if unmatched:
        shown = ", ".join(unmatched[:MAX_EXAMPLES])
        more = f" and {len(unmatched) - MAX_EXAMPLES} more" if len(unmatched) > MAX_EXAMPLES else ""
        warnings.append(
            ReportWarning(
                WarningKind.UNMATCHED_PLAN_OPS,
                f"{_rows(len(unmatched))} of Core ML's compute plan match"
                f"{'es' if len(unmatched) == 1 else ''} no op of the model: {shown}{more}",
                len(unmatched),
            )
        )
    return tuple(warnings)
