"""The placement lane view: one lane per processor, ops in execution order, crossings between.

Same-device runs (segments) are bars behind the ops; a processor that runs no op of the report
gets no lane. Each crossing is a connector at the boundary where its consumer's segment starts,
one label per boundary (`lane_crossings`, placed without overlap by `crossing_labels`).
`_crossing_columns` is shared with the graph view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
from bokeh.models import (
    BoxSelectTool,
    BoxZoomTool,
    CategoricalColorMapper,
    CDSView,
    ColumnDataSource,
    CustomJS,
    FixedTicker,
    IndexFilter,
    PanTool,
    Range1d,
    ResetTool,
    SaveTool,
    WheelZoomTool,
)
from bokeh.models.annotations import Label, Span
from bokeh.plotting import figure

from ..analysis.layers import Layer
from ..report import ProfileReport
from ..textreport import fmt_ms
from .lane_crossings import CROSSING_TOOLTIPS as CROSSING_TOOLTIPS  # imported from here
from .lane_crossings import MAX_CROSSING_LABELS as MAX_CROSSING_LABELS
from .lane_crossings import _op_names as _op_names  # imported from here
from .lane_crossings import crossing_columns, crossing_groups, draw_crossings
from .layerband import BAND_ROW, BAND_ROW_PX, add_layer_band
from .optable import (
    LANE_HEIGHT_PX,
    LANE_NAME,
    LANE_Y,
    OP_HEIGHT,
    OpTable,
    _color_mapper,
    _Escaper,
    _op_hover,
    lane_ys,
    op_table,
    placement_label,
)
from .palette import OUTPUT_BACKEND


def _crossing_columns(report: ProfileReport, table: OpTable) -> dict[str, Any]:
    return crossing_columns(report, table)


# --- lane view ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LaneParts:
    figure: Any
    ops: ColumnDataSource
    segments: ColumnDataSource
    crossings: ColumnDataSource


def _lane_parts(
    report: ProfileReport,
    table: OpTable,
    mapper: CategoricalColorMapper,
    tree: Sequence[Layer] = (),
) -> LaneParts:
    """The lanes, with the layer band of `tree` (analysis.layers) above the top lane."""
    n = len(table)
    lane_y = lane_ys(table.columns["device"])  # the y column of the table uses the same lanes
    lanes = sorted(lane_y.values(), reverse=True)
    ops_src = ColumnDataSource(table.columns, name="lanes_ops")

    seg_src = ColumnDataSource(_segment_columns(report, table, lane_y), name="lanes_segments")
    grouped = crossing_groups(report, table)  # once for the connectors and their labels
    x_src = ColumnDataSource(
        crossing_columns(report, table, lane_y, grouped), name="lanes_crossings"
    )

    lo, hi = -1.0, max(float(n), 1.0)
    fig = figure(
        height=LANE_HEIGHT_PX * len(lanes) + 80,
        sizing_mode="stretch_width",
        x_range=Range1d(start=lo, end=hi, bounds=(lo, hi)),
        y_range=Range1d(start=min(lanes) - 0.6, end=max(lanes) + 0.6),
        output_backend=OUTPUT_BACKEND,
        toolbar_location="above",
        tools=[],
        title=f"Placement lanes: {n} ops in execution order (const ops omitted); placement "
        f"{placement_label(report.source)}",
        name="lanes_figure",
    )
    fig.xaxis.axis_label = "op position in execution order"
    fig.yaxis.ticker = FixedTicker(ticks=lanes)
    lane_names: dict[float | str, str | Any] = {y: LANE_NAME[LANE_Y[d]] for d, y in lane_y.items()}
    fig.yaxis.major_label_overrides = lane_names
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
    # Connectors at segment boundaries, arrow heads and one label per boundary: lane_crossings
    x_hover = draw_crossings(fig, report, table, x_src, lane_y, (lo, hi), grouped)
    # Runs of ops on one lane, drawn instead of the op boxes while the view is dense (below).
    runs_r = _op_runs(fig, table, mapper)
    # Each op a box; its outline in the same colour keeps it at least a pixel wide when 50,000
    # ops share one screen.
    shown = near_view_filter(fig, ops_src)
    ops_r = fig.rect(
        view=CDSView(filter=shown),
        x="x",
        y="y",
        width=0.8,
        height=OP_HEIGHT,
        source=ops_src,
        fill_color={"field": "device", "transform": mapper},
        line_color={"field": "device", "transform": mapper},
        name="lanes_ops_glyph",
    )
    _dense_switch(fig, ops_src, ops_r, runs_r)
    _function_marks(fig, table, max(lanes) + 0.45)
    # The layer band above the top lane (and above the function names, when there are some).
    base = max(lanes) + (1.25 if table.multi_function else 0.95)
    band_rows = add_layer_band(fig, tree, n, base, ops_src)
    if band_rows:
        top = base + (band_rows - 1) * BAND_ROW
        fig.y_range.end = top + 0.45  # type: ignore[attr-defined]  # a Range1d (above)
        fig.height = int(fig.height or 0) + BAND_ROW_PX * band_rows + 10
        mid = round(base + (band_rows - 1) * BAND_ROW / 2, 6)
        fig.yaxis.ticker = FixedTicker(ticks=[*lanes, mid])
        fig.yaxis.major_label_overrides = {**lane_names, mid: "layers"}

    box = BoxSelectTool(dimensions="width", renderers=[ops_r])
    wheel = WheelZoomTool(dimensions="width")
    op_hover = _op_hover(report, table, ops_r)
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


# The fields of a segment its bar shows, read in one pass (C-level attrgetter, then one
# transposition) instead of a generator per column (issue 14).
_SEGMENT_FIELDS = attrgetter("start", "end", "device", "index", "n_ops", "est_time_ms")


def _segment_columns(
    report: ProfileReport, table: OpTable, lane_y: Mapping[str, float]
) -> dict[str, Any]:
    """One bar per segment, behind its ops; its hover names the first and last op."""
    m = len(report.segments)
    start, end, device, index, n_ops, ms = (
        zip(*map(_SEGMENT_FIELDS, report.segments), strict=True) if m else ((),) * 6
    )
    row_of = table.row_of
    left = row_of[np.fromiter(start, dtype=np.int64, count=m)].astype(np.float64) - 0.5
    right = row_of[np.fromiter(end, dtype=np.int64, count=m)].astype(np.float64) + 0.5
    value = {d: d.value for d in set(device)}  # a device's text, once per device
    device_text = list(map(value.__getitem__, device))
    seg_y = np.fromiter(map(lane_y.__getitem__, device_text), dtype=np.float64, count=m)
    esc = _Escaper()
    return {
        "left": left,
        "right": right,
        "bottom": seg_y - 0.38,
        "top": seg_y + 0.38,
        "device": device_text,
        "segment": np.fromiter(index, dtype=np.int32, count=m),
        "n_ops": np.fromiter(n_ops, dtype=np.int32, count=m),
        "time": list(map(fmt_ms, ms)),
        "first": _op_names(report, table, start, esc),
        "last": _op_names(report, table, end, esc),
    }


# Below this many pixels per op the op boxes with their 1 px outlines touch: a lane's run of ops
# looks like one bar, so one bar per run is drawn instead and the boxes are made transparent
# (they stay hit-tested, so hover and tap still name the op). At 200k ops a canvas redraw of
# every box (a fill and a stroke each) took ~550 ms; see benchmarks/README.md (browser_zoom).
DENSE_PX_PER_OP = 2.0
ASSUMED_WIDTH_PX = 1000  # plot width the first state is chosen for (refitted in the browser)


def op_runs(table: OpTable) -> dict[str, Any]:
    """Maximal runs of consecutive rows on one lane with one device: one bar each."""
    x = np.asarray(table.columns["x"], dtype=np.float64)
    y = np.asarray(table.columns["y"], dtype=np.float64)
    dev = list(table.columns["device"])
    n = len(x)
    if n == 0:
        return {"left": [], "right": [], "bottom": [], "top": [], "device": []}
    codes = {d: i for i, d in enumerate(dict.fromkeys(dev))}
    dcode = np.fromiter(map(codes.__getitem__, dev), dtype=np.int64, count=n)
    # x is the row position (consecutive integers), so a run also breaks on any gap in x
    brk = np.flatnonzero((np.diff(y) != 0) | (np.diff(dcode) != 0) | (np.diff(x) != 1)) + 1
    starts = np.concatenate(([0], brk))
    ends = np.concatenate((brk, [n])) - 1
    half = OP_HEIGHT / 2
    return {
        "left": x[starts] - 0.4,
        "right": x[ends] + 0.4,
        "bottom": y[starts] - half,
        "top": y[starts] + half,
        "device": [dev[k] for k in starts],
    }


def _op_runs(fig: Any, table: OpTable, mapper: CategoricalColorMapper) -> Any:
    dense = len(table) * DENSE_PX_PER_OP > ASSUMED_WIDTH_PX
    return fig.quad(
        left="left",
        right="right",
        bottom="bottom",
        top="top",
        source=ColumnDataSource(op_runs(table), name="lanes_runs"),
        fill_color={"field": "device", "transform": mapper},
        line_color={"field": "device", "transform": mapper},
        visible=dense,
        name="lanes_runs_glyph",
    )


_DENSE_JS = """
const w = fig.inner_width > 0 ? fig.inner_width : 1000;
const r = fig.x_range;
const ppu = w / (r.end - r.start);
// A selection is drawn by the boxes (selected full, the rest faded): no bars over it.
const dense = ppu < px_per_op && ops.selected.indices.length == 0;
if (runs.visible !== dense) {
  runs.visible = dense;
  boxes.glyph.fill_alpha = dense ? 0 : 1;
  boxes.glyph.line_alpha = dense ? 0 : 1;
}
"""


# bokeh paints every glyph of a rect (or quad) renderer, in view or not. The x column of the
# sources this is used on ascends (the op's row), so the glyphs in view are one run of rows,
# found by bisection: only those (and a view's width either side) stay in the renderer's view.
_NEAR_VIEW_JS = """
const xs = src.data.x, r = fig.x_range, pad = r.end - r.start, n = xs ? xs.length : 0;
const bisect = (v) => {
  let lo = 0, hi = n;
  while (lo < hi) { const m = (lo + hi) >> 1; if (xs[m] < v) { lo = m + 1; } else { hi = m; } }
  return lo;
};
const lo = bisect(r.start - pad), hi = bisect(r.end + pad);
if (hi - lo >= n) {
  if (flt.indices !== null) { flt.indices = null; }
} else {
  const cur = flt.indices;
  if (cur === null || cur.length !== hi - lo || cur[0] !== lo) {
    flt.indices = Array.from({length: hi - lo}, (_, k) => lo + k);
  }
}
"""


def near_view_filter(fig: Any, source: ColumnDataSource) -> IndexFilter:
    """A view filter that keeps the rows of `source` (x ascending) near `fig`'s x range, kept
    up to date as the range or the data change. Who replaces the data sets the filter's
    indices to None first (indices of the old rows may not exist in the new)."""
    flt = IndexFilter()  # None: every row
    cb = CustomJS(args={"fig": fig, "src": source, "flt": flt}, code=_NEAR_VIEW_JS)
    fig.x_range.js_on_change("start", cb)
    fig.x_range.js_on_change("end", cb)
    source.js_on_change("data", cb)
    return flt


def _dense_switch(fig: Any, ops: ColumnDataSource, ops_r: Any, runs_r: Any) -> None:
    """Bars for runs while ops are under `DENSE_PX_PER_OP` wide, the boxes when zoomed in."""
    if runs_r.visible:
        ops_r.glyph.fill_alpha = 0
        ops_r.glyph.line_alpha = 0
    cb = CustomJS(
        args={
            "fig": fig,
            "ops": ops,
            "boxes": ops_r,
            "runs": runs_r,
            "px_per_op": DENSE_PX_PER_OP,
        },
        code=_DENSE_JS,
    )
    fig.x_range.js_on_change("start", cb)
    fig.x_range.js_on_change("end", cb)
    ops.selected.js_on_change("indices", cb)


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
