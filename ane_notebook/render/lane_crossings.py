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

from collections.abc import Mapping
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
    esc = _Escaper()
    groups, group_of = grouped if grouped is not None else crossing_groups(report, table)
    src_row = np.fromiter((table.row_of[c.src] for c in xs), dtype=np.int64, count=len(xs))
    dst_row = np.fromiter((table.row_of[c.dst] for c in xs), dtype=np.int64, count=len(xs))
    lane0 = np.fromiter((lane_y[c.src_device.value] for c in xs), dtype=np.float64, count=len(xs))
    lane1 = np.fromiter((lane_y[c.dst_device.value] for c in xs), dtype=np.float64, count=len(xs))
    y0, y1 = _edges(lane0, lane1)
    bx = np.fromiter((groups[g].x for g in group_of), dtype=np.float64, count=len(xs))
    return {
        "x0": bx,
        "y0": y0,
        "x1": bx.copy(),
        "y1": y1,
        "src_row": src_row.astype(np.int32),
        "dst_row": dst_row.astype(np.int32),
        "group": np.asarray(group_of, dtype=np.int32),
        "src_device": [c.src_device.value for c in xs],
        "dst_device": [c.dst_device.value for c in xs],
        "paid": ["yes" if c.moved else "no" for c in xs],
        "paid_text": [
            "moved"
            if c.moved
            else f"reused: already moved to the {c.dst_device.value} for an earlier op, no cost"
            for c in xs
        ],
        "tensor": [esc(c.tensor) for c in xs],
        "shape": [fmt_shape(c.shape) for c in xs],
        "dtype": [esc(c.dtype) for c in xs],
        "bytes": np.fromiter((c.bytes for c in xs), dtype=np.float64, count=len(xs)),
        "bytes_text": [
            fmt_bytes(c.bytes) if c.moved else f"{fmt_bytes(c.bytes)} (not counted again)"
            for c in xs
        ],
        "cost_ms": np.fromiter((c.est_cost_ms for c in xs), dtype=np.float64, count=len(xs)),
        "cost": [fmt_ms(c.est_cost_ms) for c in xs],
        "src_name": [esc(report.ops[c.src].name) for c in xs],
        "dst_name": [esc(report.ops[c.dst].name) for c in xs],
    }


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
    lane0 = np.asarray([lane_y[g.src_device] for g in groups], dtype=np.float64)
    lane1 = np.asarray([lane_y[g.dst_device] for g in groups], dtype=np.float64)
    y0, y1 = _edges(lane0, lane1)
    group_cols = {
        "x": np.asarray([g.x for g in groups], dtype=np.float64),
        "y0": y0,
        "y1": y1,
        "src_device": [g.src_device for g in groups],
        "dst_device": [g.dst_device for g in groups],
        "n_paid": np.asarray([g.n_paid for g in groups], dtype=np.int32),
        "n_reused": np.asarray([g.n_reused for g in groups], dtype=np.int32),
        "bytes": np.asarray([g.bytes for g in groups], dtype=np.float64),
        "cost_ms": np.asarray([g.cost_ms for g in groups], dtype=np.float64),
        "text": [g.text for g in groups],
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
