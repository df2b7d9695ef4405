"""The placement lane view: one lane per processor, ops in execution order, crossings between.

Same-device runs (segments) are bars behind the ops; each crossing is a line from the edge of its
producer's box to its consumer's, labelled with bytes and estimated cost while there are few
enough to read. `_crossing_columns` is shared with the graph view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from bokeh.models import (
    BoxSelectTool,
    BoxZoomTool,
    CategoricalColorMapper,
    ColumnDataSource,
    FixedTicker,
    HoverTool,
    PanTool,
    Range1d,
    ResetTool,
    SaveTool,
    WheelZoomTool,
)
from bokeh.models.annotations import Label, LabelSet, Span
from bokeh.plotting import figure

from ..placement.devices import DEVICE_ORDER
from ..report import ProfileReport
from ..textreport import fmt_bytes, fmt_ms, fmt_shape
from .optable import (
    LANE_HEIGHT_PX,
    LANE_NAME,
    LANE_Y,
    OP_HEIGHT,
    OpTable,
    _color_mapper,
    _Escaper,
    _op_hover,
    op_table,
    placement_label,
)
from .palette import (
    CROSSING_COLOR,
    UNKNOWN,
)

MAX_CROSSING_LABELS = 200  # above this, labels overlap into noise; hover still shows them

CROSSING_TOOLTIPS = [
    ("crossing", "@src_device → @dst_device"),
    ("tensor", "@tensor{safe} @shape{safe} @dtype{safe}"),
    ("bytes", "@bytes_text{safe}"),
    ("cost", "@cost{safe} (estimated)"),
    ("from", "@src_name{safe}"),
    ("to", "@dst_name{safe}"),
]


def _crossing_columns(report: ProfileReport, table: OpTable) -> dict[str, Any]:
    xs = report.crossings
    esc = _Escaper()
    src_row = np.fromiter((table.row_of[c.src] for c in xs), dtype=np.int64, count=len(xs))
    dst_row = np.fromiter((table.row_of[c.dst] for c in xs), dtype=np.int64, count=len(xs))
    lane0 = np.fromiter((LANE_Y[c.src_device.value] for c in xs), dtype=np.float64, count=len(xs))
    lane1 = np.fromiter((LANE_Y[c.dst_device.value] for c in xs), dtype=np.float64, count=len(xs))
    # Start and end at the edge of the op boxes (half height OP_HEIGHT / 2), not their centres:
    # hovering an op then shows the op, and hovering the line shows the crossing.
    toward = np.sign(lane1 - lane0) * OP_HEIGHT / 2
    y0, y1 = lane0 + toward, lane1 - toward
    bytes_text = [fmt_bytes(c.bytes) for c in xs]
    cost = [fmt_ms(c.est_cost_ms) for c in xs]
    # Spread the labels of neighbouring crossings over four heights, so they overlap less.
    stagger = np.array([0.1, -0.1, 0.3, -0.3])[np.arange(len(xs)) % 4]
    return {
        "x0": src_row.astype(np.float64),
        "y0": y0,
        "x1": dst_row.astype(np.float64),
        "y1": y1,
        "xm": (src_row + dst_row) / 2.0,
        "ym": (lane0 + lane1) / 2.0 + stagger,
        "src_row": src_row.astype(np.int32),
        "dst_row": dst_row.astype(np.int32),
        "src_device": [c.src_device.value for c in xs],
        "dst_device": [c.dst_device.value for c in xs],
        "tensor": [esc(c.tensor) for c in xs],
        "shape": [fmt_shape(c.shape) for c in xs],
        "dtype": [esc(c.dtype) for c in xs],
        "bytes": np.fromiter((c.bytes for c in xs), dtype=np.float64, count=len(xs)),
        "bytes_text": bytes_text,
        "cost_ms": np.fromiter((c.est_cost_ms for c in xs), dtype=np.float64, count=len(xs)),
        "cost": cost,
        "label": [f"{b} · {t}" for b, t in zip(bytes_text, cost, strict=True)],
        "src_name": [esc(report.ops[c.src].name) for c in xs],
        "dst_name": [esc(report.ops[c.dst].name) for c in xs],
    }


# --- lane view ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LaneParts:
    figure: Any
    ops: ColumnDataSource
    segments: ColumnDataSource
    crossings: ColumnDataSource


def _lane_parts(report: ProfileReport, table: OpTable, mapper: CategoricalColorMapper) -> LaneParts:
    n = len(table)
    has_unknown = UNKNOWN in set(table.columns["device"])
    lanes = [LANE_Y[d.value] for d in DEVICE_ORDER] + ([-1] if has_unknown else [])
    ops_src = ColumnDataSource(table.columns, name="lanes_ops")

    segs = report.segments
    esc = _Escaper()
    seg_left = (
        np.fromiter((table.row_of[s.start] for s in segs), dtype=np.float64, count=len(segs)) - 0.5
    )
    seg_right = (
        np.fromiter((table.row_of[s.end] for s in segs), dtype=np.float64, count=len(segs)) + 0.5
    )
    seg_y = np.fromiter((LANE_Y[s.device.value] for s in segs), dtype=np.float64, count=len(segs))
    seg_src = ColumnDataSource(
        {
            "left": seg_left,
            "right": seg_right,
            "bottom": seg_y - 0.38,
            "top": seg_y + 0.38,
            "device": [s.device.value for s in segs],
            "segment": np.fromiter((s.index for s in segs), dtype=np.int32, count=len(segs)),
            "n_ops": np.fromiter((s.n_ops for s in segs), dtype=np.int32, count=len(segs)),
            "time": [fmt_ms(s.est_time_ms) for s in segs],
            "first": [esc(report.ops[s.start].name) for s in segs],
            "last": [esc(report.ops[s.end].name) for s in segs],
        },
        name="lanes_segments",
    )
    x_src = ColumnDataSource(_crossing_columns(report, table), name="lanes_crossings")

    lo, hi = -1.0, max(float(n), 1.0)
    fig = figure(
        height=LANE_HEIGHT_PX * len(lanes) + 80,
        sizing_mode="stretch_width",
        x_range=Range1d(start=lo, end=hi, bounds=(lo, hi)),
        y_range=Range1d(start=min(lanes) - 0.6, end=max(lanes) + 0.6),
        output_backend="webgl",
        toolbar_location="above",
        tools=[],
        title=f"Placement lanes: {n} ops in execution order (const ops omitted); placement "
        f"{placement_label(report.source)}",
        name="lanes_figure",
    )
    fig.xaxis.axis_label = "op position in execution order"
    fig.yaxis.ticker = FixedTicker(ticks=lanes)
    fig.yaxis.major_label_overrides = {y: LANE_NAME[y] for y in lanes}
    fig.yaxis.major_label_text_font_style = "bold"
    fig.ygrid.ticker = FixedTicker(ticks=lanes)
    fig.ygrid.grid_line_alpha = 0.4
    fig.xgrid.visible = False

    fig.quad(
        left="left",
        right="right",
        bottom="bottom",
        top="top",
        source=seg_src,
        fill_color={"field": "device", "transform": mapper},
        fill_alpha=0.22,
        line_color={"field": "device", "transform": mapper},
        line_alpha=0.7,
        name="lanes_segments_glyph",
    )
    x_r = fig.segment(
        x0="x0",
        y0="y0",
        x1="x1",
        y1="y1",
        source=x_src,
        line_color=CROSSING_COLOR,
        # Thinner when there are many, or they bury the lanes when zoomed out.
        line_width=2.5 if len(report.crossings) <= MAX_CROSSING_LABELS else 1.2,
        line_alpha=0.85,
        name="lanes_crossings_glyph",
    )
    # Each op a box; its outline in the same colour keeps it at least a pixel wide when 50,000
    # ops share one screen.
    ops_r = fig.rect(
        x="x",
        y="y",
        width=0.8,
        height=OP_HEIGHT,
        source=ops_src,
        fill_color={"field": "device", "transform": mapper},
        line_color={"field": "device", "transform": mapper},
        name="lanes_ops_glyph",
    )
    if 0 < len(report.crossings) <= MAX_CROSSING_LABELS:
        fig.add_layout(
            LabelSet(
                x="xm",
                y="ym",
                text="label",
                source=x_src,
                text_font_size="8pt",
                text_color=CROSSING_COLOR,
                text_align="center",
                text_baseline="middle",
                background_fill_color="white",
                background_fill_alpha=0.75,
                name="lanes_crossing_labels",
            )
        )
    _function_marks(fig, table, max(lanes) + 0.45)

    box = BoxSelectTool(dimensions="width", renderers=[ops_r])
    wheel = WheelZoomTool(dimensions="width")
    op_hover = _op_hover(report, table, ops_r)
    x_hover = HoverTool(renderers=[x_r], tooltips=CROSSING_TOOLTIPS, line_policy="interp")
    # No hover of its own for segments: every op sits on its segment's bar, so two tooltips
    # would always open together. The op tooltip names the segment instead.
    fig.add_tools(
        PanTool(dimensions="width"),
        wheel,
        box,
        BoxZoomTool(),
        ResetTool(),
        op_hover,
        x_hover,
        SaveTool(),
    )
    fig.toolbar.active_drag = box
    fig.toolbar.active_scroll = wheel
    return LaneParts(fig, ops_src, seg_src, x_src)


def _function_marks(fig: Any, table: OpTable, y: float) -> None:
    """A dashed line where each function (or pipeline stage) starts, when there are several."""
    if not table.multi_function:
        return
    fns = table.columns["function"]
    starts = [k for k in range(len(fns)) if k == 0 or fns[k] != fns[k - 1]]
    for k in starts[:50]:
        fig.add_layout(
            Span(
                location=k - 0.5,
                dimension="height",
                line_dash="dashed",
                line_color="#555555",
                line_width=1,
            )
        )
        # Canvas text is never parsed as HTML; the name is escaped like everything else anyway.
        fig.add_layout(
            Label(x=k - 0.4, y=y, text=fns[k], text_font_size="8pt", text_color="#555555")
        )


def lanes_figure(report: ProfileReport) -> Any:
    """The placement lane view: one lane per processor, ops in execution order along x,
    same-device runs as bars behind the ops, crossings drawn between lanes."""
    return _lane_parts(report, op_table(report), _color_mapper()).figure
