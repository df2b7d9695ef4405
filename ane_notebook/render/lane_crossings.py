"""The crossings of the lane view: connectors at segment boundaries, one label per boundary.

Geometry and label placement are computed in `crossing_labels` (plain data, tested there and
through the figure); this module turns them into bokeh glyphs:

* every crossing is drawn once, as a vertical connector at the boundary where its consumer's
  segment starts, from the producer's lane to the consumer's: vermillion and solid when the
  edge paid a transfer, grey and dashed when it reuses a tensor moved earlier (cost 0);
* an arrow head per boundary shows the direction; one label per boundary and pair of lanes
  sums the paid edges ("3 tensors · 192.0 KB · 0.190 ms"), the same bytes the header counts;
* hovering a connector shows each tensor (name, shape, dtype, bytes, cost, producer, consumer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import Any

import numpy as np
from bokeh.models import CDSView, ColumnDataSource, HoverTool, IndexFilter
from bokeh.models.annotations import Arrow, LabelSet
from bokeh.models.annotations.arrows import VeeHead

from ..report import ProfileReport
from ..textreport import fmt_bytes, fmt_ms, fmt_shape
from .crossing_labels import (
    FONT_PT,
    CrossingGroup,
    LabelBox,
    group_crossings,
    label_size,
    place_labels,
    segment_start_rows,
)
from .optable import LANE_HEIGHT_PX, LANE_Y, OP_HEIGHT, OpTable, _Escaper
from .palette import CROSSING_COLOR, REUSED_COLOR

MAX_CROSSING_LABELS = 200  # boundaries labelled at most; the hover shows every crossing

CROSSING_TOOLTIPS = [
    ("crossing", "@src_device → @dst_device (@paid_text{safe})"),
    ("tensor", "@tensor{safe} @shape{safe} @dtype{safe}"),
    ("bytes", "@bytes_text{safe}"),
    ("cost", "@cost{safe} (estimated)"),
    ("from", "@src_name{safe}"),
    ("to", "@dst_name{safe}"),
]


def _edges(lane0: np.ndarray, lane1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end at the edge of the op boxes (half height OP_HEIGHT / 2), not their centres:
    hovering an op then shows the op, and hovering the line shows the crossing."""
    toward = np.sign(lane1 - lane0) * OP_HEIGHT / 2
    return lane0 + toward, lane1 - toward


Grouped = tuple[list[CrossingGroup], list[int]]  # what `group_crossings` returns


def crossing_groups(report: ProfileReport, table: OpTable) -> Grouped:
    """The boundary groups of the report's crossings and each crossing's group: made once per
    lane view and handed to `crossing_columns` and `draw_crossings` (each made them anew)."""
    return group_crossings(report.crossings, table.row_of, segment_start_rows(report, table.row_of))


# The fields of a crossing its row shows, read in one pass (C-level attrgetter, then one
# transposition) instead of a generator per column (issue 14).
_FIELDS = attrgetter(
    "src", "dst", "src_device", "dst_device", "moved", "tensor", "shape", "dtype", "bytes",
    "est_cost_ms",
)  # fmt: skip


def _each(values: Sequence[Any], text_of: Callable[[Any], str]) -> list[str]:
    """`[text_of(v) for v in values]`, `text_of` called once per distinct value (a crossing's
    text repeats: the same few shapes, moved or reused to the same few devices). Values that
    cannot be keys take the per-value path."""
    try:
        table = {v: text_of(v) for v in dict.fromkeys(values)}
    except TypeError:
        return [text_of(v) for v in values]
    return list(map(table.__getitem__, values))


def _each_object(values: Sequence[Any], text_of: Callable[[Any], str]) -> list[str]:
    """`_each` by identity: for values whose equal twins may read otherwise (a shape (1, 2)
    and (1.0, 2.0)); the tensors of a model share their shape objects (3 for 1002 crossings
    of the 50k benchmark model). `values` holds them, so no id is reused meanwhile."""
    ids = list(map(id, values))
    table = {k: text_of(v) for k, v in dict(zip(ids, values, strict=True)).items()}
    return list(map(table.__getitem__, ids))


def _paid_text(moved_to: tuple[bool, str]) -> str:
    moved, device = moved_to
    return "moved" if moved else f"reused: already moved to the {device} for an earlier op, no cost"


def crossing_columns(
    report: ProfileReport,
    table: OpTable,
    lane_y: Mapping[str, float] = LANE_Y,
    grouped: Grouped | None = None,
) -> dict[str, Any]:
    """One row per crossing (the lane view's connectors; the graph view reads `src_row` and
    `dst_row`). `group` is the crossing's boundary group (see `crossing_labels`; `grouped`:
    `crossing_groups`, made here when not given); `lane_y` the y of each lane shown."""
    xs = report.crossings
    m = len(xs)
    esc = _Escaper()
    groups, group_of = grouped if grouped is not None else crossing_groups(report, table)
    src, dst, src_dev, dst_dev, moved, tensor, shape, dtype, nbytes, cost = (
        zip(*map(_FIELDS, xs), strict=True) if m else ((),) * 10
    )
    src_row = table.row_of[np.fromiter(src, dtype=np.int64, count=m)]
    dst_row = table.row_of[np.fromiter(dst, dtype=np.int64, count=m)]
    value = {d: d.value for d in {*src_dev, *dst_dev}}  # a device's text, once per device
    src_device = list(map(value.__getitem__, src_dev))
    dst_device = list(map(value.__getitem__, dst_dev))
    lane0 = np.fromiter(map(lane_y.__getitem__, src_device), dtype=np.float64, count=m)
    lane1 = np.fromiter(map(lane_y.__getitem__, dst_device), dtype=np.float64, count=m)
    y0, y1 = _edges(lane0, lane1)
    group_x = np.fromiter((g.x for g in groups), dtype=np.float64, count=len(groups))
    group = np.asarray(group_of, dtype=np.int32)
    bx = group_x[group]
    return {
        "x0": bx,
        "y0": y0,
        "x1": bx.copy(),
        "y1": y1,
        "src_row": src_row.astype(np.int32),
        "dst_row": dst_row.astype(np.int32),
        "group": group,
        "src_device": src_device,
        "dst_device": dst_device,
        "paid": ["yes" if c else "no" for c in moved],
        "paid_text": _each(list(zip(map(bool, moved), dst_device, strict=True)), _paid_text),
        "tensor": esc.column(tensor),
        "shape": _each_object(shape, fmt_shape),
        "dtype": esc.column(dtype),
        "bytes": np.fromiter(nbytes, dtype=np.float64, count=m),
        "bytes_text": [
            fmt_bytes(b) if c else f"{fmt_bytes(b)} (not counted again)"
            for c, b in zip(moved, nbytes, strict=True)
        ],
        "cost_ms": np.fromiter(cost, dtype=np.float64, count=m),
        "cost": list(map(fmt_ms, cost)),
        "src_name": _op_names(report, table, src, esc),
        "dst_name": _op_names(report, table, dst, esc),
    }


def _op_names(
    report: ProfileReport, table: OpTable, ops: Sequence[int], esc: _Escaper
) -> list[str]:
    """The escaped names of the ops at graph indices `ops`: the op table's (escaped the same
    way) for ops that run, escaped here for any other."""
    names, row_of = table.columns["name"], table.row_of
    return [names[row_of[i]] if row_of[i] >= 0 else esc(report.ops[i].name) for i in ops]


# A group's columns, read in one pass (a list per column was ~1 ms each at 1000 groups).
_GROUP_COLUMNS = attrgetter(
    "x", "src_device", "dst_device", "n_paid", "n_reused", "bytes", "cost_ms", "text"
)


def _plot_px_per_lane(n_lanes: int) -> float:
    # The figure is LANE_HEIGHT_PX per lane + 80 px of title, toolbar and axis; the y range
    # spans the lanes plus 0.6 above and below. Measured less generously than it is, so the
    # label boxes err on the large side.
    inner = LANE_HEIGHT_PX * n_lanes - 20
    return inner / (n_lanes - 1 + 1.2)


def label_columns(
    report: ProfileReport,
    table: OpTable,
    lane_y: Mapping[str, float],
    x_range: tuple[float, float],
    max_labels: int = MAX_CROSSING_LABELS,
    grouped: Grouped | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(groups, labels): one row per boundary group (connector ends, totals), and one row per
    label that has a free place (text, centre and box, in data units). `grouped`: as for
    `crossing_columns`."""
    groups, _ = grouped if grouped is not None else crossing_groups(report, table)
    px_y = _plot_px_per_lane(len(set(lane_y.values())))
    boxes = place_labels(groups, lane_y, x_range, max_labels, px_per_y=px_y)
    k = len(groups)
    x, src, dst, n_paid, n_reused, nbytes, cost, text = (
        zip(*map(_GROUP_COLUMNS, groups), strict=True) if k else ((),) * 8
    )
    y0, y1 = _edges(
        np.fromiter(map(lane_y.__getitem__, src), dtype=np.float64, count=k),
        np.fromiter(map(lane_y.__getitem__, dst), dtype=np.float64, count=k),
    )
    group_cols = {
        "x": np.fromiter(x, dtype=np.float64, count=k),
        "y0": y0,
        "y1": y1,
        "src_device": list(src),
        "dst_device": list(dst),
        "n_paid": np.fromiter(n_paid, dtype=np.int32, count=k),
        "n_reused": np.fromiter(n_reused, dtype=np.int32, count=k),
        "bytes": np.fromiter(nbytes, dtype=np.float64, count=k),
        "cost_ms": np.fromiter(cost, dtype=np.float64, count=k),
        "text": list(text),
    }
    shown = [(g, b) for g, b in zip(groups, boxes, strict=True) if b is not None]
    label_cols = {
        "x": [b.cx for _, b in shown],
        "y": [b.cy for _, b in shown],
        "text": [g.text for g, _ in shown],
        "left": [b.cx - b.half_w for _, b in shown],
        "right": [b.cx + b.half_w for _, b in shown],
        "bottom": [b.cy - b.half_h for _, b in shown],
        "top": [b.cy + b.half_h for _, b in shown],
        "paid": ["yes" if g.n_paid else "no" for g, _ in shown],
        "bytes": [g.bytes for g, _ in shown],
    }
    return group_cols, label_cols


def draw_crossings(
    fig: Any,
    report: ProfileReport,
    table: OpTable,
    x_src: ColumnDataSource,
    lane_y: Mapping[str, float],
    x_range: tuple[float, float],
    grouped: Grouped | None = None,
) -> HoverTool:
    """Add the connectors, arrow heads and labels to the lane figure; return their hover.
    `grouped`: as for `crossing_columns`."""
    paid = [i for i, p in enumerate(x_src.data["paid"]) if p == "yes"]
    reused = [i for i, p in enumerate(x_src.data["paid"]) if p != "yes"]
    many = len(report.crossings) > MAX_CROSSING_LABELS
    paid_r = fig.segment(
        x0="x0",
        y0="y0",
        x1="x1",
        y1="y1",
        source=x_src,
        view=CDSView(filter=IndexFilter(indices=paid)),
        line_color=CROSSING_COLOR,
        # Thinner when there are many, or they bury the lanes when zoomed out.
        line_width=1.2 if many else 2.5,
        line_alpha=0.9,
        name="lanes_crossings_glyph",
    )
    reused_r = fig.segment(
        x0="x0",
        y0="y0",
        x1="x1",
        y1="y1",
        source=x_src,
        view=CDSView(filter=IndexFilter(indices=reused)),
        line_color=REUSED_COLOR,
        line_width=1.5,
        line_dash="dashed",
        line_alpha=0.9,
        name="lanes_reused_glyph",
    )
    group_cols, label_cols = label_columns(report, table, lane_y, x_range, grouped=grouped)
    groups = ColumnDataSource(group_cols, name="lanes_crossing_groups")
    if len(report.crossings) and not many:
        arrows = Arrow(
            end=VeeHead(size=7, line_color=CROSSING_COLOR, fill_color=CROSSING_COLOR),
            x_start="x",
            y_start="y0",
            x_end="x",
            y_end="y1",
            source=groups,
            name="lanes_crossing_arrows",
        )
        arrows.update(line_alpha=0.0)  # the connectors are the lines; this adds the heads
        fig.add_layout(arrows)
    if label_cols["x"]:
        fig.add_layout(
            LabelSet(
                x="x",
                y="y",
                text="text",
                source=ColumnDataSource(label_cols, name="lanes_crossing_label_boxes"),
                text_font_size=f"{FONT_PT}pt",
                text_color=CROSSING_COLOR,
                text_align="center",
                text_baseline="middle",
                background_fill_color="white",
                background_fill_alpha=0.85,
                name="lanes_crossing_labels",
            )
        )
    return HoverTool(renderers=[paid_r, reused_r], tooltips=CROSSING_TOOLTIPS, line_policy="interp")


__all__ = [
    "CROSSING_TOOLTIPS",
    "MAX_CROSSING_LABELS",
    "LabelBox",
    "crossing_columns",
    "draw_crossings",
    "label_columns",
    "label_size",
]
