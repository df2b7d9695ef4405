"""The data-flow graph view: a layered layout of a range of ops, re-laid out in the browser.

`graph_layout` places each op at its longest-path depth from the range's inputs; crossing edges
are drawn thick and coloured over the plain data-flow edges, labelled with their bytes. Above a
few hundred ops the layers of the model are single nodes (`graphunits.py`: the unit layout and
its browser twin, run when the lane selection changes or a layer is clicked).
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
    TapTool,
    WheelZoomTool,
)
from bokeh.models.annotations import LabelSet
from bokeh.models.widgets import Button
from bokeh.plotting import figure

from ..analysis.names import DTYPE_SUFFIX_JS
from ..report import ProfileReport
from .graphunits import (
    COLLAPSE_ABOVE,
    EXPAND_JS,
    MIN_UNITS,
    NODE_NAME_CHARS,
    RESET_JS,
    SELECT_JS,
    UNIT_BUDGET,
    UNITS_JS,
    LayerArrays,
    auto_expanded,
    centred_rows,
    crossing_label_data,
    layer_arrays,
    layers_all,
    node_labels,
    unit_layout,
    unit_sources,
)
from .lanes import CROSSING_TOOLTIPS, LaneParts, _crossing_columns
from .optable import OpTable, _color_mapper, _op_hover, op_table, own_renderer
from .palette import CROSSING_COLOR, OUTPUT_BACKEND

MAX_GRAPH_LABELS = 150  # op-type labels under graph nodes only when they can be read
MAX_GRAPH_LABEL_LAYERS = 60  # (~15 px per depth in the ~950 px frame of a 1100 px figure)
# The labels' slant (radians below the horizontal). Parallel slanted labels whose anchors are
# d px apart lie d * sin(angle) px apart: at 60 depths in the frame above that must exceed a
# 7pt line (~9.3 px), or neighbours' letters touch (at 0.6 rad they did: 8.9 px). A steeper
# label hangs lower, into the row below and past the frame, so the steep slant is for a chain
# (one row); a layout with rows below keeps the shallow one.
GRAPH_LABEL_ANGLE_CHAIN = 1.0
GRAPH_LABEL_ANGLE_ROWS = 0.6
GRAPH_LABEL_FONT_PT = 7
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
    return GraphLayout(
        lo,
        hi,
        depth.astype(np.float64),
        centred_rows(depth),
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
    nodes["label"] = node_labels(nodes)
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
    layer_labels: LabelSet
    layers: ColumnDataSource  # the collapsed layers shown (empty when every layer is open)
    layers_all: ColumnDataSource  # the whole layer tree, flattened (graphunits.layer_arrays)
    crossing_labels: ColumnDataSource
    crossing_label_set: LabelSet
    state: ColumnDataSource  # range and open layers, for the browser callbacks


def _graph_parts(
    report: ProfileReport,
    table: OpTable,
    crossings: Mapping[str, Any],
    mapper: CategoricalColorMapper,
    start: int | None,
    end: int | None,
    max_ops: int,
    layers: LayerArrays | None = None,
) -> GraphParts:
    n = len(table)
    lo = max(0, min(start if start is not None else 0, n))
    hi = max(lo, min(end if end is not None else n, n))
    layers = layers if layers is not None else layer_arrays(())
    expanded = auto_expanded(layers, lo, hi)
    if expanded is None:  # every layer open: the op graph
        layout = graph_layout(table, start, end, max_ops)
        nodes, edges, xdata = _graph_sources(table, crossings, layout)
        ld: dict[str, Any] = {k: [] for k in (*layers_all(layers), "id", "gx", "gy", "text")}
        title = _graph_title(layout, n)
        gx_all = layout.gx
        shown_hi = layout.hi
    else:
        lay = unit_layout(table, layers, lo, hi, expanded, max_ops)
        nodes, ld, edges, xdata = unit_sources(table, crossings, layers, lay)
        title = (
            f"Data flow, ops {lay.lo}–{lay.hi - 1} of {n}: {len(ld['id'])} layers collapsed "
            "(click one to open it)"
        )
        if lay.truncated:
            title += f" (cut at the first {len(lay.units)} nodes)"
        gx_all = lay.gx
        shown_hi = lay.hi
    node_src = ColumnDataSource(nodes, name="graph_nodes")
    edge_src = ColumnDataSource(edges, name="graph_edges")
    x_src = ColumnDataSource(xdata, name="graph_crossings")
    layer_src = ColumnDataSource(ld, name="graph_layers")
    all_src = ColumnDataSource(layers_all(layers), name="graph_layers_all")
    xl_src = ColumnDataSource(crossing_label_data(xdata), name="graph_crossing_labels")
    state = ColumnDataSource(
        {
            "lo": [lo],
            "hi": [shown_hi],
            "expanded": [[] if expanded is None else sorted(expanded)],
            "all_open": [expanded is None],
        },
        name="graph_state",
    )

    # As tall as the widest layer needs (a chain is one row), within bounds.
    widest = int(np.max(np.bincount(gx_all.astype(np.int64)))) if len(gx_all) else 1
    height = int(min(GRAPH_HEIGHT_PX, max(260, 160 + 45 * widest)))
    # Extra room below the lowest row: the slanted op-type labels hang under their nodes.
    fig = figure(
        height=height,
        sizing_mode="stretch_width",
        output_backend=OUTPUT_BACKEND,
        y_range=DataRange1d(range_padding=0.9),
        toolbar_location="above",
        tools=[],
        title=title,
        name="graph_figure",
    )
    fig.xaxis.axis_label = "depth (longest path from the inputs of the range)"
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
    # A collapsed layer: a square in the colour of most of its ops, ringed in the colour of
    # the next most (Model Explorer's distribution bar, at a glance).
    # In data units, so that neighbouring layers never overlap however many there are.
    layer_r = fig.rect(
        x="gx",
        y="gy",
        width=0.7,
        height=0.55,
        source=layer_src,
        fill_color={"field": "device", "transform": mapper},
        line_color={"field": "device2", "transform": mapper},
        line_width=1.5,  # thin: at 100 layers a thick ring would outweigh the fill
        name="graph_layers_glyph",
    )
    node_r = fig.scatter(
        x="gx",
        y="gy",
        size=11,
        source=node_src,
        fill_color={"field": "device", "transform": mapper},
        # A white ring separates neighbours, until there are so many that
        # the rings would hide the colours.
        line_color="white" if len(gx_all) <= 300 else None,
        line_width=1,
        name="graph_nodes_glyph",
    )
    # Slanted, so the labels of a long chain of nodes do not run into each other.
    n_depths = int(gx_all.max()) + 1 if len(gx_all) else 0  # columns of the layout
    labels = LabelSet(
        x="gx",
        y="gy",
        text="label",
        source=node_src,
        text_font_size=f"{GRAPH_LABEL_FONT_PT}pt",
        text_color="#444444",
        x_offset=3,
        y_offset=-7,
        angle=-(GRAPH_LABEL_ANGLE_CHAIN if widest <= 1 else GRAPH_LABEL_ANGLE_ROWS),
        text_align="left",
        text_baseline="middle",
        visible=_labels_fit(len(nodes["x"]), n_depths),
        name="graph_labels",
    )
    fig.add_layout(labels)
    layer_labels = LabelSet(
        x="gx",
        y="gy",
        text="text",
        source=layer_src,
        text_font_size="8pt",
        text_color="#222222",
        y_offset=-16,
        angle=-0.5,
        text_align="left",
        text_baseline="top",
        visible=_labels_fit(len(ld["id"]), n_depths),
        name="graph_layer_labels",
    )
    fig.add_layout(layer_labels)
    xlabels = LabelSet(
        x="x",
        y="y",
        text="text",
        source=xl_src,
        text_font_size="7pt",
        text_color=CROSSING_COLOR,
        text_align="center",
        text_baseline="middle",
        background_fill_color="white",
        background_fill_alpha=0.8,
        visible=len(xl_src.data["x"]) <= MAX_GRAPH_LABELS,
        name="graph_crossing_label_set",
    )
    fig.add_layout(xlabels)
    wheel = WheelZoomTool()
    fig.add_tools(
        PanTool(),
        wheel,
        BoxZoomTool(),
        ResetTool(),
        _op_hover(report, table, node_r),
        HoverTool(renderers=[x_r], tooltips=CROSSING_TOOLTIPS, line_policy="interp"),
        HoverTool(
            renderers=[layer_r],
            tooltips=[
                ("layer", "@name{safe}"),
                ("ops", "@n_ops (@mix)"),
                ("time", "@time_ms{0.000[000]} ms (estimated)"),
                ("", "click to open it"),
            ],
        ),
        SaveTool(),
    )
    fig.toolbar.active_scroll = wheel
    return GraphParts(
        fig,
        node_src,
        edge_src,
        x_src,
        labels,
        layer_labels,
        layer_src,
        all_src,
        xl_src,
        xlabels,
        state,
    )


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


def _js_args(lanes: LaneParts, graph: GraphParts, table: OpTable, max_ops: int) -> dict[str, Any]:
    return {
        "ops": lanes.ops,
        "xs": lanes.crossings,
        "nodes": graph.nodes,
        "edges": graph.edges,
        "graph_xs": graph.crossings,
        "labels": graph.labels,
        "layer_labels": graph.layer_labels,
        "layers": graph.layers,
        "layers_all": graph.layers_all,
        "xlabels": graph.crossing_labels,
        "xlabels_set": graph.crossing_label_set,
        "state": graph.state,
        "fig": graph.figure,
        "in_ptr": table.in_ptr,
        "in_src": table.in_src,
        "max_ops": max_ops,
        "max_labels": MAX_GRAPH_LABELS,
        "max_label_layers": MAX_GRAPH_LABEL_LAYERS,
        "collapse_above": COLLAPSE_ABOVE,
        "unit_budget": UNIT_BUDGET,
        "min_units": MIN_UNITS,
        "dtype_suffix": DTYPE_SUFFIX_JS,
        "node_name_chars": NODE_NAME_CHARS,
    }


def _link_selection(lanes: LaneParts, graph: GraphParts, table: OpTable, max_ops: int) -> Button:
    """Box-selecting ops in the lanes re-lays out the graph view for that range, in the browser
    (no server needed: the producer lists go along as two int32 arrays); a click on a collapsed
    layer opens it. Returns the button that closes the layers again."""
    # One callback for the three events (the code is sent once): it tells them apart by what
    # fired it (the button, a tap on a layer, or the lane selection).
    button = Button(label="Close the layers again", width=190, height=32, name="graph_collapse")
    args = {**_js_args(lanes, graph, table, max_ops), "button": button}
    code = (
        UNITS_JS
        + "if (cb_obj === button || cb_obj?.origin === button) {\n"
        + RESET_JS
        + "} else if (cb_data != null && cb_data.source != null) {\n"
        + EXPAND_JS
        + "} else {\n"
        + SELECT_JS
        + "}\n"
    )
    cb = CustomJS(args=args, code=code)
    lanes.ops.selected.js_on_change("indices", cb)
    layer_r = own_renderer(graph.figure, "graph_layers_glyph")
    graph.figure.add_tools(TapTool(renderers=[layer_r], behavior="inspect", callback=cb))
    button.js_on_click(cb)
    return button
