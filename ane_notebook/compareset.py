"""Several reports side by side: their ops aligned by name, the best setting, the compare text.

The reports may be the four compute-unit settings of one model, one setting on several chips,
or two versions of a model (before/after a change). Ops are matched by (function, name), so two
versions line up even when ops were added or removed: an op found in only one report gets a row
of its own, next to the ops it followed there.

The *best* setting is the one with the lowest total: the measured median prediction when every
report was timed by Core ML, the estimated one-prediction total otherwise
(docs/evidence.md#display.best_setting). Ops are highlighted where their processor differs
from the best setting's, the question a reader has ("what does the fastest setting do
differently?"), rather than from whichever setting came first.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .escape import plain
from .placement.devices import DEVICE_LABEL, DEVICE_ORDER, Device
from .shares import pct

if TYPE_CHECKING:
    from .report import OpRecord, ProfileReport

TEXT_WIDTH = 100  # columns a line of compare text may use (docs/evidence.md#display.text_width)
_LABEL_WIDTH = 20  # the setting column of the compare table (longer labels are cut)

OpKey = tuple[str, str, int]  # (function, name, occurrence): unique even if a name repeats


@dataclass(frozen=True)
class Alignment:
    """Rows shared by several reports: row k is one op, found at `index[label][k]` in that
    report's `ops` (-1: the report has no such op). Const ops have no row."""

    keys: tuple[OpKey, ...]
    index: Mapping[str, tuple[int, ...]]

    def __len__(self) -> int:
        return len(self.keys)

    def op(self, report: ProfileReport, label: str, row: int) -> OpRecord | None:
        i = self.index[label][row]
        return report.ops[i] if i >= 0 else None


def _keys(report: ProfileReport) -> list[tuple[OpKey, int]]:
    seen: dict[tuple[str, str], int] = {}
    out = []
    for i, o in enumerate(report.ops):
        if o.is_const:
            continue
        k = (o.function, o.name)
        seen[k] = seen.get(k, -1) + 1
        out.append(((o.function, o.name, seen[k]), i))
    return out


def align(reports: Mapping[str, ProfileReport]) -> Alignment:
    """Rows for `reports`: the first report's ops in order; an op of a later report that the
    rows do not have yet goes right after the op it follows in that report (linear time)."""
    order: list[OpKey] = []
    for rep in reports.values():
        known = set(order)
        head: list[OpKey] = []  # new ops before the first known one
        after: dict[OpKey, list[OpKey]] = {}
        last: OpKey | None = None
        for key, _ in _keys(rep):
            if key in known:
                last = key
            elif last is None:
                head.append(key)
            else:
                after.setdefault(last, []).append(key)
        merged = list(head)
        for key in order:
            merged.append(key)
            merged.extend(after.get(key, ()))
        order = merged
    row_of = {k: r for r, k in enumerate(order)}
    index: dict[str, tuple[int, ...]] = {}
    for label, rep in reports.items():
        at = [-1] * len(order)
        for key, i in _keys(rep):
            at[row_of[key]] = i
        index[label] = tuple(at)
    return Alignment(tuple(order), index)


def all_measured(reports: Mapping[str, ProfileReport]) -> bool:
    return bool(reports) and all(r.timings is not None for r in reports.values())


def total_ms(report: ProfileReport, measured: bool) -> float:
    """The total the best setting is chosen by (see the module docstring)."""
    if measured and report.timings is not None:
        return report.timings.predict_median_ms
    return report.summary().est_total_ms


def best_label(reports: Mapping[str, ProfileReport]) -> str:
    """The setting with the lowest total (the first of equals, in the given order)."""
    if not reports:
        raise ValueError("best_label needs at least one report")
    measured = all_measured(reports)
    return min(reports, key=lambda k: total_ms(reports[k], measured))


def basis_text(reports: Mapping[str, ProfileReport]) -> str:
    return "measured median prediction" if all_measured(reports) else "estimated total"


def differs_from_best(
    reports: Mapping[str, ProfileReport], alignment: Alignment, best: str
) -> dict[str, tuple[int, ...]]:
    """Per setting, the rows whose op runs on another processor than in the best setting
    (rows the best setting does not have are not counted: there is nothing to differ from)."""
    ref = reports[best]
    ref_at = alignment.index[best]
    out: dict[str, tuple[int, ...]] = {}
    for label, rep in reports.items():
        at = alignment.index[label]
        rows = [
            k
            for k in range(len(alignment))
            if at[k] >= 0 and ref_at[k] >= 0 and rep.ops[at[k]].device != ref.ops[ref_at[k]].device
        ]
        out[label] = tuple(rows)
    return out


@dataclass(frozen=True)
class DiffGroup:
    """Ops a setting places on `device` where the best setting has `best_device`, for one
    reason (grouped by the decision as data, like `ProfileReport.not_on_ane`)."""

    device: Device | None
    best_device: Device | None
    reason: str
    ops: tuple[OpRecord, ...]


def diff_groups(
    reports: Mapping[str, ProfileReport],
    alignment: Alignment,
    best: str,
    label: str,
    rows: tuple[int, ...],
) -> list[DiffGroup]:
    """`rows` of setting `label` (from differs_from_best) grouped by why, most ops first."""
    groups: dict[tuple[object, ...], list[tuple[OpRecord, Device | None]]] = {}
    for k in rows:
        o = alignment.op(reports[label], label, k)
        ob = alignment.op(reports[best], best, k)
        if o is None or ob is None:
            continue
        key = (o.device, ob.device, o.reason_kind, o.rules, () if o.rules else o.supported)
        groups.setdefault(key, []).append((o, ob.device))
    ordered = sorted(groups.values(), key=lambda g: -len(g))
    return [
        DiffGroup(
            g[0][0].device, g[0][1], g[0][0].reason or _no_reason(g[0][0]), tuple(o for o, _ in g)
        )
        for g in ordered
    ]


def _no_reason(o: OpRecord) -> str:
    # Ops on the Neural Engine carry no reason: nothing kept them off it.
    return "nothing keeps it off the Neural Engine" if o.device is Device.ANE else "no reason given"


def noun(reports: Mapping[str, ProfileReport]) -> str:
    """ "settings" for one model's placements, "reports" for several models."""
    return "settings" if len({r.model.name for r in reports.values()}) <= 1 else "reports"


def _dev(d: Device | None) -> str:
    return d.value if d is not None else "-"


def wrap_line(line: str, width: int = TEXT_WIDTH) -> list[str]:
    """One logical line as lines of at most `width` columns, continued with a deeper indent."""
    if len(line) <= width:
        return [line]
    indent = " " * (len(line) - len(line.lstrip()) + 4)
    return textwrap.wrap(
        line,
        width,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
        drop_whitespace=True,
    )


def compare_text(reports: Mapping[str, ProfileReport], max_rows: int = 5) -> str:
    """The compare summary, every line at most TEXT_WIDTH columns: a table of the settings,
    the best one, each setting's Neural Engine share and the ops it places differently from the
    best setting."""
    from .textreport import fmt_ms  # local: textreport imports the report module

    if not reports:
        return "no reports to compare"
    reps = list(reports.items())
    models = list(dict.fromkeys(r.model.name for _, r in reps))
    sources = sorted({str(r.source) for _, r in reps})
    what = plain(models[0], 60) if len(models) == 1 else " vs ".join(plain(m, 30) for m in models)
    lines = wrap_line(
        f"{what}: {len(reps)} {noun(reports)} (placement source: {', '.join(sources)})"
    )
    w = _LABEL_WIDTH
    lines.append(
        f"  {'setting':<{w}}"
        + "".join(f"{DEVICE_LABEL[d]:>16}" for d in DEVICE_ORDER)
        + f"{'segs':>6}{'crossings':>10}{'total (est.)':>14}"
    )
    for label, r in reps:
        s = r.summary()
        lines.append(
            f"  {plain(label, w - 1):<{w}}"
            + "".join(
                f"{s.per_device[d].ops:>6} {fmt_ms(s.per_device[d].est_time_ms):>9}"
                for d in DEVICE_ORDER
            )
            + f"{s.n_segments:>6}{s.n_crossings:>10}{fmt_ms(s.est_total_ms):>14}"
        )
    measured = all_measured(reports)
    best = best_label(reports)
    best_ms = total_ms(reports[best], measured)
    equal = [k for k, r in reps if k != best and total_ms(r, measured) == best_ms]
    tie = f"; {', '.join(plain(k, 30) for k in equal)} the same" if equal else ""
    lines += wrap_line(
        f"best: {plain(best, 40)}, {fmt_ms(best_ms)} ({basis_text(reports)}, the lowest{tie})"
    )
    lines.append("Neural Engine share (of the ops that run; const ops not counted):")
    for label, r in reps:
        sh = r.summary().share(Device.ANE)
        unplaced = f"; {sh.n_unplaced} placed nowhere" if sh.n_unplaced else ""
        lines += wrap_line(
            f"  {plain(label, w - 1):<{w}} {pct(sh.op_share):>6} of ops ({sh.ops} of {sh.n_run}"
            f"{unplaced}), {sh.weighted_text()}"
        )
    alignment = align(reports)
    differ = differs_from_best(reports, alignment, best)
    lines.append(f"Ops on another processor than in the best setting ({plain(best, 40)}):")
    for label in reports:
        if label == best:
            continue
        groups = diff_groups(reports, alignment, best, label, differ[label])
        lines.append(f"  {plain(label, 40)}: {len(differ[label])} ops")
        for g in groups[:max_rows]:
            names = ", ".join(plain(o.name, 30) for o in g.ops[:2])
            more = ", ..." if len(g.ops) > 2 else ""
            lines += wrap_line(
                f"    {len(g.ops)} on {_dev(g.device)} (best: {_dev(g.best_device)}): "
                f"{plain(g.reason, 160)} (e.g. {names}{more})"
            )
        if len(groups) > max_rows:
            lines.append(f"    ... {len(groups) - max_rows} more reasons")
    if len(models) > 1 or any(-1 in at for at in alignment.index.values()):
        lines.append("Ops matched by (function, name); found in only some of the reports:")
        for label, at in alignment.index.items():
            missing = at.count(-1)
            lines.append(f"  {plain(label, 40)}: {missing} of the {len(alignment)} ops missing")
    return "\n".join(lines)
