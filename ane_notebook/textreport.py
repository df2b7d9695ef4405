"""The compact text form of a report: what the CLI prints and `text/plain` shows.

Laid out like Xcode's "Compute Unit Mapping": ops and estimated time per processor, then the
segments, the crossings, the ops not on the Neural Engine grouped by reason with a fix, and the
counted warnings (what the numbers could not take into account).
Every number says where it came from (the report's source), and model strings are escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .analysis.hazards import HAZARDS, hazard_rule
from .escape import plain
from .fixes import fix_for
from .placement.devices import DEVICE_LABEL, DEVICE_ORDER, Device
from .placement.result import CoreMLTimings, PlacementSource, ReasonKind, Uncertainty
from .shares import pct

if TYPE_CHECKING:
    from .report import OpRecord, ProfileReport, Summary

__all__ = [
    "DEVICE_LABEL",
    "SOURCE_NOTE",
    "fmt_bytes",
    "fmt_ms",
    "fmt_shape",
    "hazard_lines",
    "ops_counted",
    "render_text",
    "timings_text",
    "estimate_note",
    "uncertainty_text",
]

SOURCE_NOTE: dict[PlacementSource, str] = {
    PlacementSource.ESTIMATE: "estimated by rules + cost model, not measured",
    PlacementSource.COREML: (
        "placement by Core ML (MLComputePlan); per-op times estimated from measured totals"
    ),
    PlacementSource.RECORDED: (
        "placement recorded by Core ML on a Mac and replayed; per-op times estimated"
    ),
}


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def fmt_ms(ms: float) -> str:
    return f"{ms:.3f} ms" if ms < 100 else f"{ms:.1f} ms"


def fmt_shape(shape: tuple[int | None, ...] | None) -> str:
    if shape is None:
        return "[?]"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def uncertainty_text(u: Uncertainty) -> str:
    """ "Neural Engine 49–52 ops, GPU 0 ops, CPU 7–10 ops; 2.1–3.0 ms": the ranges over the
    other readings of the evidence (contested rules flipped, constants at the ends of their
    published spread)."""
    parts = []
    for d in DEVICE_ORDER:
        if d in u.ops:
            lo, hi = u.ops[d]
            parts.append(
                f"{DEVICE_LABEL[d]} {lo}–{hi} ops" if lo != hi else f"{DEVICE_LABEL[d]} {lo} ops"
            )
    lo_ms, hi_ms = u.est_total_ms
    return ", ".join(parts) + f"; {fmt_ms(lo_ms)}–{fmt_ms(hi_ms)}"


def timings_text(t: CoreMLTimings) -> str:
    """What the live Core ML run measured, wall clock, compile and load beside prediction: on
    the Neural Engine a first compile can dwarf a prediction (docs/evidence.md#live.timeout).
    """
    compile_part = (
        f"compile {fmt_ms(t.compile_ms)} (first, uncached)"
        if t.compile_ms is not None
        else "compile not measured (given an .mlmodelc)"
    )
    return (
        f"measured by Core ML ({t.compute_units}): {compile_part} · load "
        f"{fmt_ms(t.load_first_ms)} first, {fmt_ms(t.load_cached_ms)} cached · predict "
        f"{fmt_ms(t.predict_median_ms)} median, {fmt_ms(t.predict_p90_ms)} p90 of {t.runs}, "
        f"first {fmt_ms(t.predict_first_ms)}"
    )


def render_text(r: ProfileReport, max_reasons: int = 12, max_rows: int = 8) -> str:
    s = r.summary()
    est = "est."  # per-op times are estimates for every source (Core ML gives only weights)
    lines = [
        f"ane_notebook: {plain(r.model.name)} ({plain(r.model.source)})",
        f"placement source: {r.source} ({SOURCE_NOTE[r.source]})",
        f"compute units: {r.compute_units.value}   chip: {plain(r.chip)}   ops: {ops_counted(s)}",
    ]
    if r.timings is not None:
        lines.append(timings_text(r.timings))
    if r.model.flexible_inputs:
        lines.append(
            "flexible inputs: "
            + ", ".join(plain(n) for n in r.model.flexible_inputs)
            + " (placed at the default shape; Core ML runs other shapes on the GPU "
            "or CPU: Apple forum 724930)"
        )
    lines += ["", f"Compute Unit Mapping          ops  of ops   time ({est})"]
    total_t = sum(t.est_time_ms for t in s.per_device.values()) or 1.0
    for d in DEVICE_ORDER:
        t = s.per_device[d]
        bar = "#" * round(20 * t.est_time_ms / total_t)
        lines.append(
            f"  {DEVICE_LABEL[d]:<22}{t.ops:>8}{pct(s.share(d).op_share):>8}   "
            f"{fmt_ms(t.est_time_ms):>11}  {bar}"
        )
    lines.append(
        f"  {'crossings':<22}{s.n_crossings:>8}{'':>8}   {fmt_ms(s.crossing_ms):>11}  "
        f"({fmt_bytes(s.crossing_bytes)})"
    )
    lines.append(
        f"  {'dispatches':<22}{s.n_segments:>8}{'':>8}   {fmt_ms(s.launch_ms):>11}  "
        "(entering each segment's processor, and the per-prediction cost)"
    )
    lines.append(f"  {'model inputs/outputs':<22}{'':>8}{'':>8}   {fmt_ms(s.io_ms):>11}")
    lines.append(
        f"  {'total':<22}{s.n_ops:>8}{'':>8}   {fmt_ms(s.est_total_ms):>11}  (one prediction)"
    )
    # The denominators said out loud: tools differ on what an op share counts.
    lines.append(f"  {s.share_text(Device.ANE)}")
    u = r.uncertainty
    if u is not None:
        lines.append(f"  range: {uncertainty_text(u)}")
        n_contested = sum(1 for o in r.ops if o.contested)
        if n_contested:
            lines.append(
                f"  contested: {n_contested} ops rest on a guess or on sources that disagree "
                "(marked * below)"
            )

    lines += ["", f"Segments: {s.n_segments}"]
    for seg in r.segments[:max_rows]:
        first, last = r.ops[seg.start].name, r.ops[seg.end].name
        lines.append(
            f"  #{seg.index:<3} {seg.device.value:<3} {seg.n_ops:>6} ops  "
            f"{fmt_ms(seg.est_time_ms):>11}  {plain(first, 40)} .. {plain(last, 40)}"
        )
    if len(r.segments) > max_rows:
        lines.append(f"  ... {len(r.segments) - max_rows} more")

    lines += [
        "",
        f"Crossings: {s.n_crossings} ({fmt_bytes(s.crossing_bytes)}, "
        f"{fmt_ms(s.crossing_ms)} {est})",
    ]
    for c in sorted(r.crossings, key=lambda c: -c.est_cost_ms)[:max_rows]:
        again = "" if c.moved else f" (already on the {c.dst_device.value})"
        lines.append(
            f"  {c.src_device.value}->{c.dst_device.value:<4} {plain(c.tensor, 40):<40} "
            f"{fmt_shape(c.shape)} {plain(c.dtype)} {fmt_bytes(c.bytes)}  "
            f"{fmt_ms(c.est_cost_ms)} {est}{again}"
        )
    if len(r.crossings) > max_rows:
        lines.append(f"  ... {len(r.crossings) - max_rows} more (largest cost first)")

    groups = r.not_on_ane()
    n_off = sum(len(v) for v in groups.values())
    lines += ["", f"Not on the Neural Engine: {n_off} ops"]
    for reason, ops in list(groups.items())[:max_reasons]:
        ev = ops[0].evidence.value if ops[0].evidence is not None else "measured"
        types = sorted({o.op_type for o in ops})
        star = "*" if any(o.contested for o in ops) else ""
        lines.append(f"  [{len(ops)}]{star} {plain(reason, 300)} ({ev})")
        note = estimate_note(ops[0])
        if note:
            lines.append(f"      {plain(note, 300)}")
        lines.append(
            f"      ops: {', '.join(plain(t, 40) for t in types[:6])}"
            + (" ..." if len(types) > 6 else "")
            + f"  e.g. {plain(ops[0].name, 60)}"
        )
        fix = fix_for(ops[0])
        if fix:
            lines.append(f"      fix: {fix}")
    if len(groups) > max_reasons:
        lines.append(f"  ... {len(groups) - max_reasons} more reasons")

    contested = [o for o in r.ops if o.contested and o.device is not None]
    if contested:
        lines += [
            "",
            f"Contested: {len(contested)} ops (the placement rests on a guess or on sources "
            "that disagree)",
        ]
        # those kept where they are by a contested rule first: the other reading is the rule's
        ordered = sorted(
            contested, key=lambda o: (o.reason_kind is not ReasonKind.RULE, o.alt_device is None)
        )
        for o in ordered[:max_rows]:
            alt = (
                f", {o.alt_device.value} under the other reading"
                if o.alt_device is not None
                else ", stays under the other reading"
            )
            lines.append(f"  {plain(o.name, 50)} ({plain(o.op_type, 30)}): {o.device}{alt}")
        if len(contested) > max_rows:
            lines.append(f"  ... {len(contested) - max_rows} more")
    if r.warnings:
        lines += ["", f"Warnings: {len(r.warnings)}"]
        for w in r.warnings:
            named = [plain(r.ops[i].name, 40) for i in w.ops if 0 <= i < len(r.ops)]
            example = f" (e.g. {', '.join(named)})" if named else ""
            lines.append(f"  [{w.count}] {w.kind.value}: {plain(w.message, 300)}{example}")
    lines += ["", *hazard_lines(r, max_rows)]
    return "\n".join(lines)


def estimate_note(op: OpRecord) -> str:
    """Our estimate beside a Core ML placement (which gives no reason), labelled as ours; ""
    when the op carries none. Not escaped: callers escape for where they show it."""
    est = op.estimate
    if est is None:
        return ""
    where = DEVICE_LABEL[est.device] if est.device is not None else "no processor"
    why = est.reason or ("nothing keeps it off" if est.device is Device.ANE else "no reason")
    evidence = f", {est.evidence.value}" if est.evidence is not None else ""
    return f"our estimate (not Core ML's): {where}: {why}{evidence}"


def ops_counted(s: Summary) -> str:
    """ "59 that run (+79 const, not counted)", and the ops a plan placed on no processor."""
    text = f"{s.n_ops} that run (+{s.n_const} const, not counted)"
    if s.n_unplaced:
        text += f", {s.n_unplaced} of them placed on no processor by the plan"
    return text


def hazard_lines(r: ProfileReport, max_rows: int = 8) -> list[str]:
    """The report's hazards (placements that can change results) with evidence and fix."""
    if not r.hazards:
        return [
            f"Hazards (can change results, not speed): none found ({len(HAZARDS)} known "
            "patterns checked)"
        ]
    lines = [f"Hazards (can change results, not speed): {len(r.hazards)}"]
    for h in r.hazards[:max_rows]:
        lines.append(f"  [{plain(h.id)}] {plain(h.message, 400)} ({h.evidence.value})")
        rule = hazard_rule(h.id)
        if rule is not None:
            lines.append(f"      fix: {rule.fix}")
        lines.append(f"      source: {plain(h.source, 300)}")
    if len(r.hazards) > max_rows:
        lines.append(f"  ... {len(r.hazards) - max_rows} more")
    return lines
