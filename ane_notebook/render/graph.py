"""The data-flow graph view: a layered layout of a range of ops, re-laid out in the browser.

`graph_layout` (Python) and `_GRAPH_JS` (the same algorithm in the browser, run when the lane
selection changes) place each op at its longest-path depth from the range's inputs; crossing
edges are drawn thick and coloured over the plain data-flow edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from bokeh.models import (
    BoxZoomTool,
    CategoricalColorMapper,
    ColumnDataSource,
    CustomJS,
    DataRange1d,
    HoverTool,
    PanTool,
    ResetTool,
    SaveTool,
    WheelZoomTool,
)
from bokeh.models.annotations import LabelSet
from bokeh.plotting import figure

from ..report import ProfileReport
from .lanes import CROSSING_TOOLTIPS, LaneParts, _crossing_columns
from .optable import OpTable, _color_mapper, _op_hover, op_table
from .palette import CROSSING_COLOR

MAX_GRAPH_LABELS = 150  # op-type labels under graph nodes only when they can be read
MAX_GRAPH_LABEL_LAYERS = 45  # (~25 px per layer on a 1100 px wide figure)
GRAPH_MAX_OPS = 2000

GRAPH_HEIGHT_PX = 440

# --- graph view ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphLayout:
    lo: int  # first row shown
    hi: int  # one past the last row shown
    gx: np.ndarray  # layer (longest path from the range's inputs)
    gy: np.ndarray  # position within the layer, centred on 0
    edges: np.ndarray  # (n_edges, 2) rows (producer, consumer), both in [lo, hi)
    truncated: bool


def graph_layout(
    table: OpTable, start: int | None = None, end: int | None = None, max_ops: int = GRAPH_MAX_OPS
) -> GraphLayout:
    """Layered layout of rows [start, end) (at most `max_ops` of them, from `start`).

    layer = longest path from the inputs of the range, in one pass over execution order
    (producers come before consumers); within a layer, ops keep execution order, centred.
    The browser-side relayout in `_GRAPH_JS` is the same algorithm; keep them in step.
    """
    n = len(table)
    lo = max(0, min(start if start is not None else 0, n))
    hi = max(lo, min(end if end is not None else n, n))
    truncated = hi - lo > max_ops
    hi = min(hi, lo + max_ops)
    m = hi - lo
    depth = np.zeros(m, dtype=np.int64)
    ptr, src = table.in_ptr, table.in_src
    edges: list[tuple[int, int]] = []
    for k in range(m):
        r = lo + k
        d = 0
        for s in src[ptr[r] : ptr[r + 1]]:
            if lo <= s < r:
                d = max(d, int(depth[s - lo]) + 1)
                edges.append((int(s), r))
        depth[k] = d
    size = np.bincount(depth, minlength=1) if m else np.zeros(1, dtype=np.int64)
    slot = np.zeros_like(size)
    gy = np.zeros(m, dtype=np.float64)
    for k in range(m):
        d = depth[k]
        gy[k] = (size[d] - 1) / 2.0 - slot[d]
        slot[d] += 1
    return GraphLayout(
        lo,
        hi,
        depth.astype(np.float64),
        gy,
        np.asarray(edges, dtype=np.int64).reshape(-1, 2),
        truncated,
    )


def widest_layers(layout: GraphLayout) -> int:
    return int(layout.gx.max()) + 1 if len(layout.gx) else 0


def _labels_fit(n_nodes: int, n_layers: int) -> bool:
    """Op-type labels only where they can be read: few nodes, layers far enough apart."""
    return n_nodes <= MAX_GRAPH_LABELS and n_layers <= MAX_GRAPH_LABEL_LAYERS


def _graph_title(layout: GraphLayout, n: int) -> str:
    if n == 0:
        return "Data flow: no ops"
    shown = f"ops {layout.lo}–{layout.hi - 1} of {n}"
    if layout.truncated:
        return (
            f"Data flow, {shown} (only the first {layout.hi - layout.lo} of the range; "
            f"box-select a range in the lanes to show it here)"
        )
    return f"Data flow, {shown}"


def _graph_sources(
    table: OpTable, crossings: Mapping[str, Any], layout: GraphLayout
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    lo, hi = layout.lo, layout.hi
    nodes = {k: v[lo:hi] for k, v in table.columns.items()}
    nodes["gx"], nodes["gy"] = layout.gx, layout.gy
    e = layout.edges - lo
    edges = {
        "x0": layout.gx[e[:, 0]],
        "y0": layout.gy[e[:, 0]],
        "x1": layout.gx[e[:, 1]],
        "y1": layout.gy[e[:, 1]],
    }
    sr, dr = np.asarray(crossings["src_row"]), np.asarray(crossings["dst_row"])
    keep = np.flatnonzero((sr >= lo) & (sr < hi) & (dr >= lo) & (dr < hi))
    xdata = {
        k: (v[keep] if isinstance(v, np.ndarray) else [v[i] for i in keep])
        for k, v in crossings.items()
    }
    xdata["gx0"], xdata["gy0"] = layout.gx[sr[keep] - lo], layout.gy[sr[keep] - lo]
    xdata["gx1"], xdata["gy1"] = layout.gx[dr[keep] - lo], layout.gy[dr[keep] - lo]
    return nodes, edges, xdata


@dataclass(frozen=True)
class GraphParts:
    figure: Any
    nodes: ColumnDataSource
    edges: ColumnDataSource
    crossings: ColumnDataSource
    labels: LabelSet


def _graph_parts(
    report: ProfileReport,
    table: OpTable,
    crossings: Mapping[str, Any],
    mapper: CategoricalColorMapper,
    start: int | None,
    end: int | None,
    max_ops: int,
) -> GraphParts:
    layout = graph_layout(table, start, end, max_ops)
    nodes, edges, xdata = _graph_sources(table, crossings, layout)
    node_src = ColumnDataSource(nodes, name="graph_nodes")
    edge_src = ColumnDataSource(edges, name="graph_edges")
    x_src = ColumnDataSource(xdata, name="graph_crossings")

    # As tall as the widest layer needs (a chain is one row), within bounds.
    widest = int(np.max(np.bincount(layout.gx.astype(np.int64)))) if len(layout.gx) else 1
    height = int(min(GRAPH_HEIGHT_PX, max(260, 160 + 45 * widest)))
    # Extra room below the lowest row: the slanted op-type labels hang under their nodes.
    fig = figure(
        height=height,
        sizing_mode="stretch_width",
        output_backend="webgl",
        y_range=DataRange1d(range_padding=0.6),
        toolbar_location="above",
        tools=[],
        title=_graph_title(layout, len(table)),
        name="graph_figure",
    )
    fig.xaxis.axis_label = "layer (longest path from the inputs of the range)"
    fig.yaxis.visible = False
    fig.grid.visible = False
    fig.segment(
        x0="x0",
        y0="y0",
        x1="x1",
        y1="y1",
        source=edge_src,
        line_color="#b0b0b0",
        line_width=1,
        name="graph_edges_glyph",
    )
    x_r = fig.segment(
        x0="gx0",
        y0="gy0",
        x1="gx1",
        y1="gy1",
        source=x_src,
        line_color=CROSSING_COLOR,
        line_width=3.5,
        line_alpha=0.9,
        name="graph_crossings_glyph",
    )
    node_r = fig.scatter(
        x="gx",
        y="gy",
        size=11,
        source=node_src,
        fill_color={"field": "device", "transform": mapper},
        # A white ring separates neighbours, until there are so many that
        # the rings would hide the colours.
        line_color="white" if len(layout.gx) <= 300 else None,
        line_width=1,
        name="graph_nodes_glyph",
    )
    # Slanted, so the labels of a long chain of nodes do not run into each other.
    labels = LabelSet(
        x="gx",
        y="gy",
        text="op_type",
        source=node_src,
        text_font_size="7pt",
        text_color="#444444",
        x_offset=3,
        y_offset=-7,
        angle=-0.6,
        text_align="left",
        text_baseline="middle",
        visible=_labels_fit(layout.hi - layout.lo, widest_layers(layout)),
        name="graph_labels",
    )
    fig.add_layout(labels)
    wheel = WheelZoomTool()
    fig.add_tools(
        PanTool(),
        wheel,
        BoxZoomTool(),
        ResetTool(),
        _op_hover(report, table, node_r),
        HoverTool(renderers=[x_r], tooltips=CROSSING_TOOLTIPS, line_policy="interp"),
        SaveTool(),
    )
    return GraphParts(fig, node_src, edge_src, x_src, labels)


def graph_figure(
    report: ProfileReport,
    start: int | None = None,
    end: int | None = None,
    max_ops: int = GRAPH_MAX_OPS,
) -> Any:
    """The data-flow graph of ops [start, end) (lane positions; const ops omitted), laid out in
    layers; crossing edges thick and coloured. At most `max_ops` ops, the first ones of the
    range; the title says when the range was cut."""
    table = op_table(report)
    return _graph_parts(
        report, table, _crossing_columns(report, table), _color_mapper(), start, end, max_ops
    ).figure


# Browser-side twin of graph_layout + _graph_sources, run when the lane selection changes.
_GRAPH_JS = """
const idx = ops.selected.indices;
if (idx.length == 0) { return; }  // a cleared selection keeps the current view
let lo = Infinity, hi = -Infinity;
for (const i of idx) { if (i < lo) lo = i; if (i > hi) hi = i; }
const n_all = ops.get_length();
const truncated = hi + 1 - lo > max_ops;
hi = Math.min(hi + 1, lo + max_ops);
const m = hi - lo;
const depth = new Int32Array(m);
const e0 = [], e1 = [];
let maxd = 0;
for (let k = 0; k < m; k++) {
  const r = lo + k;
  let d = 0;
  for (let e = in_ptr[r]; e < in_ptr[r + 1]; e++) {
    const s = in_src[e];
    if (s >= lo && s < r) { d = Math.max(d, depth[s - lo] + 1); e0.push(s - lo); e1.push(k); }
  }
  depth[k] = d;
  if (d > maxd) { maxd = d; }
}
const size = new Int32Array(maxd + 1), slot = new Int32Array(maxd + 1);
for (let k = 0; k < m; k++) { size[depth[k]] += 1; }
const gx = new Float64Array(m), gy = new Float64Array(m);
for (let k = 0; k < m; k++) {
  const d = depth[k];
  gx[k] = d; gy[k] = (size[d] - 1) / 2 - slot[d]; slot[d] += 1;
}
const nd = {};
for (const key of Object.keys(ops.data)) { nd[key] = ops.data[key].slice(lo, hi); }
nd.gx = gx; nd.gy = gy;
nodes.data = nd;
edges.data = {x0: e0.map((i) => gx[i]), y0: e0.map((i) => gy[i]),
              x1: e1.map((i) => gx[i]), y1: e1.map((i) => gy[i])};
const keep = [];
const sr = xs.data.src_row, dr = xs.data.dst_row;
for (let j = 0; j < sr.length; j++) {
  if (sr[j] >= lo && sr[j] < hi && dr[j] >= lo && dr[j] < hi) { keep.push(j); }
}
const xd = {};
for (const key of Object.keys(xs.data)) {
  const col = xs.data[key];
  xd[key] = keep.map((j) => col[j]);
}
xd.gx0 = keep.map((j) => gx[sr[j] - lo]); xd.gy0 = keep.map((j) => gy[sr[j] - lo]);
xd.gx1 = keep.map((j) => gx[dr[j] - lo]); xd.gy1 = keep.map((j) => gy[dr[j] - lo]);
graph_xs.data = xd;
labels.visible = m <= max_labels && maxd + 1 <= max_label_layers;
let title = `Data flow, ops ${lo}–${hi - 1} of ${n_all}`;
if (truncated) { title += ` (only the first ${m} of the selection)`; }
fig.title.text = title;
"""


def _link_selection(lanes: LaneParts, graph: GraphParts, table: OpTable, max_ops: int) -> None:
    """Box-selecting ops in the lanes re-lays out the graph view for that range, in the browser
    (no server needed: the producer lists go along as two int32 arrays)."""
    cb = CustomJS(
        args={
            "ops": lanes.ops,
            "xs": lanes.crossings,
            "nodes": graph.nodes,
            "edges": graph.edges,
            "graph_xs": graph.crossings,
            "labels": graph.labels,
            "fig": graph.figure,
            "in_ptr": table.in_ptr,
            "in_src": table.in_src,
            "max_ops": max_ops,
            "max_labels": MAX_GRAPH_LABELS,
            "max_label_layers": MAX_GRAPH_LABEL_LAYERS,
        },
        code=_GRAPH_JS,
    )
    lanes.ops.selected.js_on_change("indices", cb)
