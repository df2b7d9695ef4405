"""What changed between a baseline report and a new one: the regression view of `check`.

`diff(baseline, new)` matches ops by (function, name) like `compare`, and lists what a reviewer
of a model change wants to know: which ops left the Neural Engine (and which joined it), which
crossings between processors are new (or gone), how the segment count and the estimated time
moved. Ops found in only one of the two are listed, never dropped. Both reports' sources are
kept: a baseline estimate against a new Core ML plan differs by source as well as by model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import UsageError
from .escape import plain
from .placement.devices import Device
from .placement.result import PlacementSource
from .shares import Share

if TYPE_CHECKING:
    from .report import ProfileReport

DIFF_FORMAT = "ane_notebook.diff"
DIFF_VERSION = 1


@dataclass(frozen=True)
class MovedOp:
    """An op found in both reports on a different device (None: placed on no processor)."""

    function: str
    name: str
    op_type: str
    before: Device | None
    after: Device | None
    reason: str  # why it is where it is now
    est_ms_before: float
    est_ms_after: float


@dataclass(frozen=True)
class CrossingRef:
    """A data edge between processors, by op names (indices differ between model versions)."""

    function: str
    src: str
    dst: str
    tensor: str
    src_device: Device
    dst_device: Device
    bytes: int


@dataclass(frozen=True)
class PlacementDiff:
    """Baseline (`a`) against new (`b`)."""

    label_a: str
    label_b: str
    source_a: PlacementSource
    source_b: PlacementSource
    matched: int
    left_ane: tuple[MovedOp, ...]
    joined_ane: tuple[MovedOp, ...]
    other_moves: tuple[MovedOp, ...]
    new_crossings: tuple[CrossingRef, ...]
    removed_crossings: tuple[CrossingRef, ...]
    segments: tuple[int, int]
    crossings: tuple[int, int]
    est_total_ms: tuple[float, float]
    ane_shares: tuple[Share, Share]  # the ANE's share in each, with its denominators
    only_a: tuple[tuple[str, str], ...]  # (function, name) of ops only in the baseline
    only_b: tuple[tuple[str, str], ...]
    time_growth: tuple[MovedOp, ...]  # matched ops whose estimated time grew most, largest first

    @property
    def time_change(self) -> float | None:
        """Relative change of the estimated total time (None when the baseline's is zero)."""
        a, b = self.est_total_ms
        return (b - a) / a if a > 0 else None

    @property
    def ane_op_share(self) -> tuple[float | None, float | None]:
        """The ANE's op share in the baseline and the new report (None: no op runs)."""
        return (self.ane_shares[0].op_share, self.ane_shares[1].op_share)

    @property
    def same_source(self) -> bool:
        return self.source_a is self.source_b

    def to_text(self, max_rows: int = 5) -> str:
        from .textreport import fmt_ms

        a, b = self.est_total_ms
        change = "n/a" if self.time_change is None else f"{100 * self.time_change:+.1f}%"
        lines = [
            f"baseline {plain(self.label_a)} -> {plain(self.label_b)}: {self.matched} ops "
            f"matched by (function, name)",
            f"  ops that left the Neural Engine: {len(self.left_ane)}"
            + _names(self.left_ane, max_rows),
            f"  ops that moved onto the Neural Engine: {len(self.joined_ane)}"
            + _names(self.joined_ane, max_rows),
        ]
        if self.other_moves:
            lines.append(
                f"  ops that moved between other processors: {len(self.other_moves)}"
                + _names(self.other_moves, max_rows)
            )
        lines += [
            f"  baseline {self.ane_shares[0].text()}",
            f"  new      {self.ane_shares[1].text()}",
            f"  segments: {self.segments[0]} -> {self.segments[1]}; crossings: "
            f"{self.crossings[0]} -> {self.crossings[1]} ({len(self.new_crossings)} new"
            + _crossings(self.new_crossings, max_rows)
            + f", {len(self.removed_crossings)} gone)",
            f"  estimated time: {fmt_ms(a)} -> {fmt_ms(b)} ({change}; estimated for every source)",
        ]
        if self.only_a or self.only_b:
            lines.append(
                f"  unmatched ops: {len(self.only_a)} only in the baseline"
                + _keys(self.only_a, max_rows)
                + f"; {len(self.only_b)} only in the new report"
                + _keys(self.only_b, max_rows)
            )
        if not self.same_source:
            lines.append(
                f"  note: the baseline's placement is {self.source_a}, the new one's is "
                f"{self.source_b}: differences may come from the source, not the model"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.to_text())

    def to_dict(self) -> dict[str, Any]:
        def moved(ms: tuple[MovedOp, ...]) -> list[dict[str, Any]]:
            return [
                {
                    "function": m.function,
                    "name": m.name,
                    "op_type": m.op_type,
                    "before": _dev(m.before),
                    "after": _dev(m.after),
                    "reason": m.reason,
                    "est_ms_before": m.est_ms_before,
                    "est_ms_after": m.est_ms_after,
                }
                for m in ms
            ]

        def xs(cs: tuple[CrossingRef, ...]) -> list[dict[str, Any]]:
            return [
                {
                    "function": c.function,
                    "src": c.src,
                    "dst": c.dst,
                    "tensor": c.tensor,
                    "src_device": c.src_device.value,
                    "dst_device": c.dst_device.value,
                    "bytes": c.bytes,
                }
                for c in cs
            ]

        return {
            "format": DIFF_FORMAT,
            "version": DIFF_VERSION,
            "baseline": {"label": self.label_a, "source": self.source_a.value},
            "new": {"label": self.label_b, "source": self.source_b.value},
            "matched": self.matched,
            "left_ane": moved(self.left_ane),
            "joined_ane": moved(self.joined_ane),
            "other_moves": moved(self.other_moves),
            "new_crossings": xs(self.new_crossings),
            "removed_crossings": xs(self.removed_crossings),
            "segments": list(self.segments),
            "crossings": list(self.crossings),
            "est_total_ms": list(self.est_total_ms),
            "time_change": self.time_change,
            "ane_op_share": list(self.ane_op_share),
            "ane_share_text": [sh.text() for sh in self.ane_shares],
            "only_in_baseline": [{"function": f, "name": n} for f, n in self.only_a],
            "only_in_new": [{"function": f, "name": n} for f, n in self.only_b],
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)


def _dev(d: Device | None) -> str | None:
    return None if d is None else d.value


def _names(ms: tuple[MovedOp, ...], n: int) -> str:
    if not ms:
        return ""
    shown = ", ".join(
        f"{plain(m.name, 60)} ({plain(m.op_type, 30)}, {_dev(m.before) or '-'} -> "
        f"{_dev(m.after) or '-'})"
        for m in ms[:n]
    )
    return f": {shown}" + (f" (+{len(ms) - n} more)" if len(ms) > n else "")


def _crossings(cs: tuple[CrossingRef, ...], n: int) -> str:
    if not cs:
        return ""
    shown = ", ".join(
        f"{plain(c.tensor, 50)} {c.src_device.value}->{c.dst_device.value}" for c in cs[:n]
    )
    return f": {shown}" + (f" (+{len(cs) - n} more)" if len(cs) > n else "")


def _keys(keys: tuple[tuple[str, str], ...], n: int) -> str:
    if not keys:
        return ""
    shown = ", ".join(plain(name, 60) for _, name in keys[:n])
    return f" ({shown}" + (f", +{len(keys) - n} more)" if len(keys) > n else ")")


def _crossing_refs(r: ProfileReport) -> dict[tuple[Any, ...], CrossingRef]:
    out: dict[tuple[Any, ...], CrossingRef] = {}
    for c in r.crossings:
        src, dst = r.ops[c.src], r.ops[c.dst]
        ref = CrossingRef(
            dst.function, src.name, dst.name, c.tensor, c.src_device, c.dst_device, c.bytes
        )
        out[(ref.function, ref.src, ref.dst, ref.tensor, ref.src_device, ref.dst_device)] = ref
    return out


def _as_report(value: object, which: str) -> ProfileReport:
    """A report, or the path of a saved one (read with `load_report`); else a UsageError."""
    from .report import ProfileReport, load_report

    if isinstance(value, ProfileReport):
        return value
    if isinstance(value, (str, os.PathLike)):
        return load_report(value)
    raise UsageError(
        f"diff: {which} must be a ProfileReport or the path of a saved report, "
        f"not {type(value).__name__}"
    )


def diff(
    a: ProfileReport | str | os.PathLike[str],
    b: ProfileReport | str | os.PathLike[str],
    label_a: str | None = None,
    label_b: str | None = None,
) -> PlacementDiff:
    """Compare a baseline report `a` with a new report `b` of (a version of) the same model.

    Either may be the path of a saved report (`ProfileReport.to_json`), as `--baseline` is.

    >>> import ane_notebook as an
    >>> base = an.profile("example:mobilenet", "CPU_AND_NE", backend="estimate")
    >>> new = an.profile("example:mobilenet", "CPU_ONLY", backend="estimate")
    >>> d = an.diff(base, new)
    >>> len(d.left_ane) == base.summary().n_ops, d.only_a, d.only_b
    (True, (), ())
    """
    from .comparison import label_of

    a, b = _as_report(a, "the baseline"), _as_report(b, "the new report")
    ops_b = {(o.function, o.name): o for o in b.ops if not o.is_const}
    seen: set[tuple[str, str]] = set()
    only_a: list[tuple[str, str]] = []
    left: list[MovedOp] = []
    joined: list[MovedOp] = []
    other: list[MovedOp] = []
    grew: list[MovedOp] = []
    for o in a.ops:
        if o.is_const:
            continue
        key = (o.function, o.name)
        seen.add(key)
        ob = ops_b.get(key)
        if ob is None:
            only_a.append(key)
            continue
        m = MovedOp(
            o.function,
            o.name,
            ob.op_type,
            o.device,
            ob.device,
            ob.reason,
            o.est_time_ms,
            ob.est_time_ms,
        )
        if ob.est_time_ms > o.est_time_ms:
            grew.append(m)
        if o.device == ob.device:
            continue
        if o.device is Device.ANE:
            left.append(m)
        elif ob.device is Device.ANE:
            joined.append(m)
        else:
            other.append(m)
    only_b = tuple(k for k in ops_b if k not in seen)
    xa, xb = _crossing_refs(a), _crossing_refs(b)
    sa, sb = a.summary(), b.summary()
    grew.sort(key=lambda m: m.est_ms_before - m.est_ms_after)
    return PlacementDiff(
        label_a=label_a or label_of(a),
        label_b=label_b or label_of(b),
        source_a=a.source,
        source_b=b.source,
        matched=len(seen) - len(only_a),
        left_ane=tuple(left),
        joined_ane=tuple(joined),
        other_moves=tuple(other),
        new_crossings=tuple(v for k, v in xb.items() if k not in xa),
        removed_crossings=tuple(v for k, v in xa.items() if k not in xb),
        segments=(sa.n_segments, sb.n_segments),
        crossings=(sa.n_crossings, sb.n_crossings),
        est_total_ms=(sa.est_total_ms, sb.est_total_ms),
        ane_shares=(sa.share(), sb.share()),
        only_a=tuple(only_a),
        only_b=only_b,
        time_growth=tuple(grew[:20]),
    )
