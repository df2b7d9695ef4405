"""Where the lane view draws crossings and their labels, computed as data (no bokeh here).

Core ML moves a tensor between processors when the segment that reads it starts, so the lane
view draws each crossing at that *segment boundary*: a vertical connector at the left edge of
the consumer's segment, from the producer's lane straight to the consumer's lane. A connector
sits between two op boxes, so an ANE->CPU connector passes the GPU lane where the GPU lane has
no op, and it never reads as a stop on the GPU.

All the crossings into one segment from one processor form a *group*, labelled once:
"3 tensors · 192.0 KB · 0.190 ms". Only the edges that paid a transfer (`Crossing.moved`) are in
the bytes and the time, the same count as the header's; edges that reuse a tensor already moved
for an earlier consumer cost nothing and are counted apart ("+1 reused") and drawn dashed.

Labels never overlap or clip: each label's box is estimated from its character count and font
size at a nominal figure width, then labels are placed greedily (costliest first) in the first
free slot: a gap between lanes on the connector's way (the one next to the consumer's lane
first), centred on the connector or beside it, and pulled inside the x range. A label with no
free slot is left out (its connector's hover still says everything). Zooming in only spreads
boxes further apart, so what does not overlap at the full view never does.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from ..textreport import fmt_bytes, fmt_ms

if TYPE_CHECKING:
    from ..analysis.crossings import Crossing
    from ..report import ProfileReport

# Label geometry, in pixels at the nominal size of the lane figure. Measured: bokeh's 8 pt
# helvetica averages 0.45-0.49 em per character on these labels; 0.62 em leaves room for a
# wider substitute font (docs/evidence.md#display.label_box).
FONT_PT = 8
FONT_PX = FONT_PT * 96 / 72
CHAR_EM = 0.62
PAD_PX = 4.0  # the label's background padding, both sides together
LINE_PX = FONT_PX * 1.35
NOMINAL_PLOT_PX = 900.0  # the narrowest plot area we lay out for (notebook ~950, pages wider)
LANE_PX = 62.0  # one lane's height (render's LANE_HEIGHT_PX)


class Rows(Protocol):
    """Graph index -> lane row (`OpTable.row_of`: an array, or any mapping)."""

    def __getitem__(self, index: int, /) -> Any: ...


@dataclass(frozen=True)
class CrossingGroup:
    """The crossings into one segment (starting at row `row`) from one processor."""

    row: int  # the consumer segment's first row; the connector is at x = row - 0.5
    src_device: str
    dst_device: str
    members: tuple[int, ...]  # indices into report.crossings
    n_paid: int
    n_reused: int
    bytes: int  # paid edges only: the count the header and summary use
    cost_ms: float

    @property
    def x(self) -> float:
        return self.row - 0.5

    @cached_property  # read by the placement, the group columns and the label columns
    def text(self) -> str:
        if self.n_paid == 0:
            return f"{self.n_reused} reused · 0 ms"
        head = (
            f"{fmt_bytes(self.bytes)} · {fmt_ms(self.cost_ms)}"
            if self.n_paid == 1
            else f"{self.n_paid} tensors · {fmt_bytes(self.bytes)} · {fmt_ms(self.cost_ms)}"
        )
        return head + (f" (+{self.n_reused} reused)" if self.n_reused else "")


def segment_start_rows(report: ProfileReport, row_of: Rows) -> list[int]:
    return [int(row_of[s.start]) for s in report.segments]


def group_crossings(
    crossings: Sequence[Crossing], row_of: Rows, seg_starts: Sequence[int]
) -> tuple[list[CrossingGroup], list[int]]:
    """The groups, in order of their boundary, and each crossing's group index."""
    keys: dict[tuple[int, str, str], list[int]] = {}
    for i, c in enumerate(crossings):
        dst_row = int(row_of[c.dst])
        k = bisect.bisect_right(seg_starts, dst_row) - 1
        row = seg_starts[k] if k >= 0 else dst_row
        keys.setdefault((row, c.src_device.value, c.dst_device.value), []).append(i)
    groups: list[CrossingGroup] = []
    group_of = [0] * len(crossings)
    for (row, src, dst), members in sorted(keys.items()):
        paid = [crossings[i] for i in members if crossings[i].moved]
        for i in members:
            group_of[i] = len(groups)
        groups.append(
            CrossingGroup(
                row=row,
                src_device=src,
                dst_device=dst,
                members=tuple(members),
                n_paid=len(paid),
                n_reused=len(members) - len(paid),
                bytes=sum(c.bytes for c in paid),
                cost_ms=sum(c.est_cost_ms for c in paid),
            )
        )
    return groups, group_of


@dataclass(frozen=True)
class LabelBox:
    cx: float  # centre, data units
    cy: float
    half_w: float
    half_h: float

    def overlaps(self, other: LabelBox) -> bool:
        return (
            abs(self.cx - other.cx) < self.half_w + other.half_w
            and abs(self.cy - other.cy) < self.half_h + other.half_h
        )


def label_size(text: str, px_per_x: float, px_per_y: float) -> tuple[float, float]:
    """Half width and half height of a label's box, in data units."""
    w_px = len(text) * CHAR_EM * FONT_PX + PAD_PX
    return w_px / 2 / px_per_x, LINE_PX / 2 / px_per_y


def _slots(src_y: float, dst_y: float, lanes: Sequence[float]) -> list[float]:
    """Label heights on a connector's way: the gaps between neighbouring lanes it passes, the
    one next to the consumer's lane first, then just off each lane's centre line."""
    lo, hi = min(src_y, dst_y), max(src_y, dst_y)
    ys = sorted(lanes)
    gaps = [(a + b) / 2 for a, b in zip(ys, ys[1:], strict=False) if lo <= a and b <= hi]
    gaps.sort(key=lambda y: abs(y - dst_y))
    near = [y + d for y in gaps for d in (0.22, -0.22)]
    return gaps + near


def place_labels(
    groups: Sequence[CrossingGroup],
    lane_y: Mapping[str, float],
    x_range: tuple[float, float],
    max_labels: int,
    plot_px: float = NOMINAL_PLOT_PX,
    px_per_y: float = LANE_PX,
) -> list[LabelBox | None]:
    """One box per group, or None where no free slot is left (or past `max_labels`).
    `plot_px` is the plot area's width and `px_per_y` pixels per lane unit."""
    lo, hi = x_range
    px_per_x = plot_px / max(hi - lo, 1e-9)
    lanes = sorted(set(lane_y.values()))
    out: list[LabelBox | None] = [None] * len(groups)
    order = sorted(range(len(groups)), key=lambda i: (-groups[i].cost_ms, -groups[i].n_paid, i))
    placed: dict[int, list[LabelBox]] = {}  # by x bucket, for neighbour checks only
    spans: list[tuple[int, int, LabelBox]] = []  # each placed box with its first, last bucket
    bucket_w = max((hi - lo) / 200, 1e-9)
    for i in order[:max_labels]:
        g = groups[i]
        half_w, half_h = label_size(g.text, px_per_x, px_per_y)
        if 2 * half_w > hi - lo:
            continue  # wider than the whole figure
        for cy in _slots(lane_y[g.src_device], lane_y[g.dst_device], lanes):
            found = _first_free(g.x, cy, half_w, half_h, lo, hi, placed, spans, bucket_w)
            if found is not None:
                box, b0, b1 = found
                out[i] = box
                for b in range(b0, b1 + 1):
                    placed.setdefault(b, []).append(box)
                spans.append((b0, b1, box))
                break
    return out


def _first_free(
    x: float,
    cy: float,
    half_w: float,
    half_h: float,
    lo: float,
    hi: float,
    placed: Mapping[int, list[LabelBox]],
    spans: Sequence[tuple[int, int, LabelBox]],
    bucket_w: float,
) -> tuple[LabelBox, int, int] | None:
    """The first free box for a label at connector `x` and height `cy`, with its first and
    last bucket; None when every place overlaps a placed box."""
    # centred on the connector, then starting at it, then ending at it; always inside [lo, hi]
    for cx in (x, x + half_w, x - half_w):
        cx = min(max(cx, lo + half_w), hi - half_w)
        box = LabelBox(cx, cy, half_w, half_h)
        b0, b1 = int((cx - half_w - lo) // bucket_w), int((cx + half_w - lo) // bucket_w)
        # The placed boxes in buckets b0..b1 are those whose buckets meet b0..b1: with fewer
        # placed boxes than buckets to look in, they are checked straight (a wide label spans
        # ~45 mostly empty buckets; looking in each was most of the placement at 1000
        # boundaries: issue 14).
        if len(spans) <= b1 - b0:
            near: Any = (o for s0, s1, o in spans if s0 <= b1 and s1 >= b0)
        else:
            near = (o for b in range(b0, b1 + 1) for o in placed.get(b, ()))
        if not any(map(box.overlaps, near)):
            return box, b0, b1
    return None
