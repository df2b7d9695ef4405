"""The conditions of a placement check, each measured on a report (`check.py` holds the result).

One function per condition the user can set (`--min-ane-ops`, `--max-crossings`, ...): it
measures the report, compares with the limit and names up to `KEPT` offending ops, returning a
`Condition`. `evaluate` runs those the settings ask for, and the baseline comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .check import KEPT, CheckResult, CheckSettings, Condition, Offender, op_type_pattern
from .escape import plain
from .placement.devices import Device
from .shares import Share, WeightBasis, pct

if TYPE_CHECKING:
    from .baseline import PlacementDiff
    from .report import OpRecord, ProfileReport


# --- the conditions ----------------------------------------------------------------------------


def _offender(r: OpRecord, note: str = "") -> Offender:
    if r.contested:  # the verdict on this op rests on a guess or on sources that disagree
        note = f"{note}, contested" if note else "contested"
    return Offender(r.name, r.op_type, r.function, r.device, note)


def _running(report: ProfileReport) -> list[OpRecord]:
    return [o for o in report.ops if not o.is_const]


def _off_ane(report: ProfileReport) -> list[OpRecord]:
    return [o for o in _running(report) if o.device is not Device.ANE]


def _min_ane_ops(report: ProfileReport, share: Share, limit: float) -> Condition:
    off = _off_ane(report)
    value = share.op_share if share.op_share is not None else 0.0
    return Condition(
        id="min-ane-ops",
        ok=share.n_run > 0 and value >= limit,
        measured=f"{pct(share.op_share)} of ops on the Neural Engine",
        limit=f">= {pct(limit)}",
        value=share.op_share,
        threshold=limit,
        detail=share.denominator_text(),
        offenders=tuple(_offender(o, _why(o)) for o in off[:KEPT]),
        n_offenders=len(off),
        offender_label="off the Neural Engine",
    )


def _weight(o: OpRecord, basis: WeightBasis) -> float:
    if basis is WeightBasis.COREML_COST_WEIGHT:
        return o.cost_weight or 0.0
    return o.est_time_ms


def _min_ane_time(report: ProfileReport, share: Share, limit: float) -> Condition:
    off = sorted(_off_ane(report), key=lambda o: -_weight(o, share.basis))
    value = share.weighted if share.weighted is not None else 0.0
    return Condition(
        id="min-ane-time",
        ok=share.weighted is not None and value >= limit,
        measured=f"{share.weighted_text()} on the Neural Engine",
        limit=f">= {pct(limit)}",
        value=share.weighted,
        threshold=limit,
        detail=f"weighted by {share.basis.label.removeprefix('of ')}; " + share.denominator_text(),
        offenders=tuple(
            _offender(o, f"{pct(_weight(o, share.basis) / _total(report, share))} of the weight")
            for o in off[:KEPT]
        ),
        n_offenders=len(off),
        offender_label="heaviest off the Neural Engine",
    )


def _total(report: ProfileReport, share: Share) -> float:
    total = sum(_weight(o, share.basis) for o in _running(report) if o.device is not None)
    return total or 1.0


def _max_crossings(report: ProfileReport, limit: int) -> Condition:
    xs = sorted(report.crossings, key=lambda c: -c.est_cost_ms)
    moved = sum(1 for c in report.crossings if c.moved)
    return Condition(
        id="max-crossings",
        ok=len(report.crossings) <= limit,
        measured=f"{len(report.crossings)} crossings",
        limit=f"<= {limit}",
        value=len(report.crossings),
        threshold=limit,
        detail="data edges between processors"
        + (
            f"; {moved} move a tensor, {len(report.crossings) - moved} reuse one already moved"
            if moved < len(report.crossings)
            else ""
        ),
        offenders=tuple(
            _offender(
                report.ops[c.dst],
                f"reads {c.tensor} from {c.src_device.value}, {c.est_cost_ms:.3f} ms est.",
            )
            for c in xs[:KEPT]
        ),
        n_offenders=len(xs),
        offender_label="costliest crossings into",
    )


def _max_segments(report: ProfileReport, limit: int) -> Condition:
    islands = [s for s in report.segments if s.device is not Device.ANE]
    return Condition(
        id="max-segments",
        ok=len(report.segments) <= limit,
        measured=f"{len(report.segments)} segments",
        limit=f"<= {limit}",
        value=len(report.segments),
        threshold=limit,
        detail="runs of consecutive ops on one processor, per function; const ops break none",
        offenders=tuple(
            _offender(report.ops[s.start], f"starts segment #{s.index} of {s.n_ops} ops")
            for s in islands[:KEPT]
        ),
        n_offenders=len(islands),
        offender_label="segments off the Neural Engine start at",
    )


def _require_ane(report: ProfileReport, pattern: str) -> Condition:
    rx = op_type_pattern("require_ane", pattern)
    matching = [o for o in _running(report) if rx.fullmatch(o.op_type)]
    off = [o for o in matching if o.device is not Device.ANE]
    on = len(matching) - len(off)
    return Condition(
        id="require-ane",
        ok=not off,
        measured=f"{on} of {len(matching)} ops of types '{plain(pattern)}' on the Neural Engine"
        + (" (no op type matches)" if not matching else ""),
        limit="all of them",
        value=on,
        threshold=pattern,
        detail="op types matched whole (re.fullmatch)",
        offenders=tuple(_offender(o, _why(o)) for o in off[:KEPT]),
        n_offenders=len(off),
        offender_label="off the Neural Engine",
    )


def _allow_off_ane(report: ProfileReport, pattern: str) -> Condition:
    rx = op_type_pattern("allow_off_ane", pattern)
    off = _off_ane(report)
    bad = [o for o in off if not rx.fullmatch(o.op_type)]
    return Condition(
        id="allow-off-ane",
        ok=not bad,
        measured=f"{len(bad)} of {len(off)} ops off the Neural Engine are not of types "
        f"'{plain(pattern)}'",
        limit="0",
        value=len(bad),
        threshold=pattern,
        detail="op types matched whole (re.fullmatch)",
        offenders=tuple(_offender(o, _why(o)) for o in bad[:KEPT]),
        n_offenders=len(bad),
        offender_label="off the Neural Engine and not allowed",
    )


def _no_hazards(report: ProfileReport) -> Condition:
    at = [report.ops[h.ops[0]] if h.ops else None for h in report.hazards]
    return Condition(
        id="no-hazards",
        ok=not report.hazards,
        measured=f"{len(report.hazards)} hazards",
        limit="0",
        value=len(report.hazards),
        threshold=0,
        detail="placements that can change results; each cites its source",
        offenders=tuple(_offender(o, h.id) for o, h in zip(at, report.hazards, strict=True) if o),
        n_offenders=len(report.hazards),
        offender_label="at",
    )


def _no_op_left_ane(d: PlacementDiff) -> Condition:
    return Condition(
        id="no-op-left-ane",
        ok=not d.left_ane,
        measured=f"{len(d.left_ane)} ops left the Neural Engine since the baseline",
        limit="0",
        value=len(d.left_ane),
        threshold=0,
        detail=f"{d.matched} ops matched by (function, name); {len(d.only_a)} only in the "
        f"baseline, {len(d.only_b)} only in the new report",
        offenders=tuple(
            Offender(m.name, m.op_type, m.function, m.after, m.reason) for m in d.left_ane[:KEPT]
        ),
        n_offenders=len(d.left_ane),
        offender_label="left",
    )


def _time_tolerance(d: PlacementDiff, tolerance: float) -> Condition:
    from .textreport import fmt_ms

    a, b = d.est_total_ms
    change = d.time_change
    # A baseline of zero time only passes if the new one is zero too.
    ok = b <= a if change is None else change <= tolerance
    shown = "n/a" if change is None else f"{100 * change:+.1f}%"
    return Condition(
        id="time-tolerance",
        ok=ok,
        measured=f"estimated time {shown} ({fmt_ms(a)} -> {fmt_ms(b)})",
        limit=f"<= +{100 * tolerance:.1f}%",
        value=change,
        threshold=tolerance,
        detail="estimated for every source, ops + crossings",
        offenders=tuple(
            Offender(
                m.name,
                m.op_type,
                m.function,
                m.after,
                f"{m.est_ms_before:.3f} -> {m.est_ms_after:.3f} ms est.",
            )
            for m in d.time_growth[:KEPT]
        ),
        n_offenders=len(d.time_growth),
        offender_label="grew most",
    )


def _why(o: OpRecord) -> str:
    return str(o.reason_kind)


# --- running a check -----------------------------------------------------------------------


def evaluate(report: ProfileReport, settings: CheckSettings) -> CheckResult:
    """Evaluate `settings` on `report`: one `Condition` per condition set (`check.py`)."""
    from .baseline import diff

    share = report.summary().share(Device.ANE)
    s = settings
    conds: list[Condition] = []
    steps: Sequence[tuple[object, Callable[[], Condition]]] = (
        (s.min_ane_ops, lambda: _min_ane_ops(report, share, float(s.min_ane_ops or 0))),
        (s.min_ane_time, lambda: _min_ane_time(report, share, float(s.min_ane_time or 0))),
        (s.max_crossings, lambda: _max_crossings(report, int(s.max_crossings or 0))),
        (s.max_segments, lambda: _max_segments(report, int(s.max_segments or 0))),
        (s.require_ane, lambda: _require_ane(report, str(s.require_ane))),
        (s.allow_off_ane, lambda: _allow_off_ane(report, str(s.allow_off_ane))),
    )
    for value, build in steps:
        if value is not None:
            conds.append(build())
    if s.fail_on_hazard:
        conds.append(_no_hazards(report))
    d = None
    if s.baseline is not None:
        d = diff(s.baseline, report, label_a="baseline", label_b="new")
        if s.fail_on_regression:
            conds += [_no_op_left_ane(d), _time_tolerance(d, s.time_tolerance)]
    return CheckResult(
        model=report.model.name,
        source=report.source,
        compute_units=report.compute_units.value,
        chip=report.chip,
        conditions=tuple(conds),
        hazards=report.hazards,
        share=share,
        diff=d,
        origin=s.origin,
        hazard_ops=tuple(report.ops[h.ops[0]].name if h.ops else "" for h in report.hazards),
        uncertainty=report.uncertainty,
        contested=tuple(o.name for o in _running(report) if o.contested),
    )
