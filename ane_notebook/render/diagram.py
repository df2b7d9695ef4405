"""Bokeh models for a ProfileReport: placement lanes, data-flow graph, mapping bar, tables.

Every function here returns bokeh models and never calls `show()`: the caller decides where they
go (a standalone page in `render/html.py`, a notebook, a test that inspects them as data).

Three rules hold throughout:

* Every string that comes from the model (op, tensor and function names, op types, reasons,
  metadata) is passed through `escape.html_text` before it enters a data source or a Div. Hover
  tooltips then insert those pre-escaped fields with bokeh's `{safe}` format, so each string is
  escaped exactly once: a hostile op name shows as text and never becomes markup.
* Columns are built once per report as numpy arrays / plain lists, one ColumnDataSource per glyph
  type, so a 50,000-op model costs a few list comprehensions, never a glyph per op.
* Every number says where it came from: the placement source and its note travel into the
  tooltips, the mapping bar title and the header, so an estimate never reads as a measurement.

Geometry of the lane view: each op that runs (const ops excluded) gets a *row*; its x is the row
number (its position in execution order among non-const ops), its y the lane of its processor:
ANE = 2 (top), GPU = 1, CPU = 0, and -1 for ops a plan did not place ("?").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from bokeh.layouts import column
from bokeh.models import (
    BoxSelectTool,
    BoxZoomTool,
    CategoricalColorMapper,
    ColumnDataSource,
    CustomJS,
    CustomJSHover,
    DataRange1d,
    FactorRange,
    FixedTicker,
    HoverTool,
    PanTool,
    Range1d,
    ResetTool,
    SaveTool,
    WheelZoomTool,
)
from bokeh.models.annotations import Label, LabelSet, Span
from bokeh.models.layouts import Column
from bokeh.models.widgets import Div
from bokeh.plotting import figure

from ..escape import html_text, plain
from ..fixes import fix_for
from ..placement.devices import DEVICE_LABEL, DEVICE_ORDER, EVIDENCE_RANK, Device, Evidence
from ..placement.result import PlacementSource
from ..report import OpRecord, ProfileReport
from ..textreport import (
    SOURCE_NOTE,
    fmt_bytes,
    fmt_ms,
    fmt_shape,
    ops_counted,
    timings_text,
    uncertainty_text,
)
from .palette import (
    CHANGED_COLOR,
    CROSSING_COLOR,
    DEVICE_COLORS,
    UNKNOWN,
    color_factors,
    legend_html,
)

# Lane y of each device factor, top to bottom (DEVICE_ORDER), then the "unknown" lane below.
LANE_Y: Mapping[str, int] = {
    **{d.value: len(DEVICE_ORDER) - 1 - i for i, d in enumerate(DEVICE_ORDER)},
    UNKNOWN: -1,
}
LANE_NAME: Mapping[int, str] = {
    **{LANE_Y[d.value]: d.value for d in DEVICE_ORDER},
    -1: "? (not in plan)",
}

OP_HEIGHT = 0.5  # of an op's box in the lane view, in lane units (lanes are 1 apart)
MAX_CROSSING_LABELS = 200  # above this, labels overlap into noise; hover still shows them
MAX_GRAPH_LABELS = 150  # op-type labels under graph nodes only when they can be read
MAX_GRAPH_LABEL_LAYERS = 45  # (~25 px per layer on a 1100 px wide figure)
GRAPH_MAX_OPS = 2000

LANE_HEIGHT_PX = 62
MAPPING_HEIGHT_PX = 150
GRAPH_HEIGHT_PX = 440
LEGEND_HEIGHT_PX = 28
TABLE_MAX_HEIGHT_PX = 420

_TOOLS_NOTE = (
    "Drag across the lanes (box select, on by default) to show that range in the "
    "data-flow view below; scroll to zoom along the ops; pick the ↔ tool to pan; "
    "hover an op or a crossing for details."
)


# --- helpers ------------------------------------------------------------------------------


class _Escaper:
    """html_text with a cache: reasons, op types and dtypes repeat thousands of times."""

    def __init__(self, limit: int = 200) -> None:
        self._cache: dict[str, str] = {}
        self._limit = limit

    def __call__(self, value: object) -> str:
        key = str(value)
        out = self._cache.get(key)
        if out is None:
            out = self._cache[key] = html_text(key, self._limit)
        return out


def _tooltip_literal(text: str) -> str:
    """Fixed text for a tooltip template: HTML-escaped, and with the characters bokeh reads as
    placeholders (`@`, `$`, braces) turned into entities so they stay literal."""
    esc = html_text(text, 400)
    for ch, ent in (("@", "&#64;"), ("$", "&#36;"), ("{", "&#123;"), ("}", "&#125;")):
        esc = esc.replace(ch, ent)
    return esc


_PLACEMENT_LABEL: Mapping[PlacementSource, str] = {
    PlacementSource.ESTIMATE: "estimated",
    PlacementSource.COREML: "Core ML plan",
    PlacementSource.RECORDED: "recorded Core ML plan",
}


def placement_label(source: PlacementSource) -> str:
    """Short label for where the placement came from, shown next to every op count."""
    return _PLACEMENT_LABEL[PlacementSource(source)]


def source_note(report: ProfileReport) -> str:
    """`source: note`, e.g. `estimate: estimated by rules + cost model, not measured`."""
    return f"{report.source}: {SOURCE_NOTE[report.source]}"


_EVIDENCE_ORDER: Mapping[str, int] = {e.value: rank for e, rank in EVIDENCE_RANK.items()}


def _evidence_text(r: OpRecord, source: str) -> str:
    if r.evidence is not None:
        return r.evidence.value
    return "Core ML plan" if PlacementSource(source).is_measured_plan else "none given"


def _outputs_text(r: OpRecord) -> str:
    # An op is named after its first output (graph.py), so that name is not repeated: the
    # text is then the same for many ops, which the escaper's cache and the page size like.
    parts = [
        (f"{plain(t.name, 60)} " if j or t.name != r.name else "")
        + f"{fmt_shape(t.shape)} {plain(t.dtype, 16)}"
        for j, t in enumerate(r.outputs[:4])
    ]
    return "; ".join(parts) + (" …" if len(r.outputs) > 4 else "") if parts else "none"


# Enum-valued fields are stored as small integer codes (compressed binary in the page, not one
# string per op) and turned back into text by the hover through these tables of our own words.
SUPPORTED_CHOICES: tuple[str, ...] = tuple(
    ", ".join(d.value for i, d in enumerate(DEVICE_ORDER) if code >> i & 1) or "none"
    for code in range(1 << len(DEVICE_ORDER))
)
EVIDENCE_CHOICES: tuple[str, ...] = (*(e.value for e in Evidence), "Core ML plan", "none given")
_EVIDENCE_CODE = {v: i for i, v in enumerate(EVIDENCE_CHOICES)}


def supported_code(devices: Sequence[Device]) -> int:
    return sum(1 << i for i, d in enumerate(DEVICE_ORDER) if d in devices)


def _lookup(choices: Sequence[str]) -> CustomJSHover:
    return CustomJSHover(
        args={"choices": list(choices)}, code="return choices[value] ?? String(value)"
    )


def _color_mapper() -> CategoricalColorMapper:
    factors, colors = color_factors()
    return CategoricalColorMapper(factors=factors, palette=colors, nan_color=colors[-1])


# --- the per-op table every view shares ------------------------------------------------------


@dataclass(frozen=True)
class OpTable:
    """Columns for every op that runs, in execution order (row = x in the lane view)."""

    rows: np.ndarray  # graph index of each row
    row_of: np.ndarray  # graph index -> row; -1 for const ops
    columns: dict[str, Any]
    in_ptr: np.ndarray  # CSR of producers: in_src[in_ptr[r]:in_ptr[r+1]] are rows feeding row r
    in_src: np.ndarray
    multi_function: bool

    def __len__(self) -> int:
        return len(self.rows)


def op_table(report: ProfileReport) -> OpTable:
    """The columns of the lane view's op source, shared by the graph view (which slices them)
    and by the browser-side relayout (which copies rows of them)."""
    ops = report.ops
    row_of = np.full(len(ops), -1, dtype=np.int64)
    rows_list = [r.index for r in ops if not r.is_const]
    rows = np.asarray(rows_list, dtype=np.int64)
    row_of[rows] = np.arange(len(rows))
    live = [ops[i] for i in rows_list]

    esc, esc_long = _Escaper(), _Escaper(400)
    device = [UNKNOWN if r.device is None else r.device.value for r in live]
    multi_function = len({r.function for r in live}) > 1
    columns: dict[str, Any] = {
        "x": np.arange(len(live), dtype=np.float64),
        "y": np.fromiter((LANE_Y[d] for d in device), dtype=np.float64, count=len(device)),
        "index": rows.astype(np.int32),
        "device": device,
        "name": [esc(r.name) for r in live],
        "op_type": [esc(r.op_type) for r in live],
        "outputs": [esc(_outputs_text(r)) for r in live],
        "supported": np.fromiter(
            (supported_code(r.supported) for r in live), dtype=np.int8, count=len(live)
        ),
        "reason": [esc_long(r.reason or "—") for r in live],
        "evidence": np.fromiter(
            (_EVIDENCE_CODE[_evidence_text(r, report.source)] for r in live),
            dtype=np.int8,
            count=len(live),
        ),
        "time_ms": np.fromiter((r.est_time_ms for r in live), dtype=np.float64, count=len(live)),
    }
    if multi_function:
        columns["function"] = [esc(r.function) for r in live]

    # The segment each op belongs to, and its size: shown in the op tooltip.
    seg_of = np.full(len(live), -1, dtype=np.int32)
    seg_ops = np.zeros(len(live), dtype=np.int32)
    for s in report.segments:
        a, b = row_of[s.start], row_of[s.end] + 1
        seg_of[a:b] = s.index
        seg_ops[a:b] = s.n_ops
    # An op a plan did not place is skipped by a segment, not part of it.
    unknown = np.asarray([d == UNKNOWN for d in device], dtype=bool)
    seg_of[unknown], seg_ops[unknown] = -1, 0
    columns["segment"], columns["segment_ops"] = seg_of, seg_ops

    # Producer rows of each row, as CSR arrays: the graph view (and its browser-side relayout)
    # walks them in one pass. Producers that are const ops hold weights, not data flow: dropped.
    ptr = np.zeros(len(live) + 1, dtype=np.int32)
    src: list[int] = []
    for k, r in enumerate(live):
        src.extend(int(row_of[i]) for i in r.inputs if row_of[i] >= 0)
        ptr[k + 1] = len(src)
    return OpTable(
        rows=rows,
        row_of=row_of,
        columns=columns,
        in_ptr=ptr,
        in_src=np.asarray(src, dtype=np.int32),
        multi_function=multi_function,
    )


def _op_hover(report: ProfileReport, table: OpTable, renderer: Any) -> HoverTool:
    """The op tooltip: model strings are pre-escaped, so they go in with `{safe}`; numbers and
    enum codes are formatted by bokeh (which escapes them)."""
    tips = [
        ("op", "@name{safe}"),
        ("type", "@op_type{safe}"),
        ("outputs", "@outputs{safe}"),
        ("device", "@device"),
        ("supported", "@supported{custom}"),
        ("reason", "@reason{safe}"),
        ("time", "@time_ms{0.000[000]} ms (estimated)"),
        ("segment", "#@segment (@segment_ops ops on @device)"),
        ("evidence", "@evidence{custom}"),
        ("placement", _tooltip_literal(source_note(report))),
    ]
    if table.multi_function:
        tips.insert(2, ("function", "@function{safe}"))
    return HoverTool(
        renderers=[renderer],
        tooltips=tips,
        formatters={
            "@supported": _lookup(SUPPORTED_CHOICES),
            "@evidence": _lookup(EVIDENCE_CHOICES),
        },
    )


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


# --- mapping bar --------------------------------------------------------------------------


def mapping_columns(report: ProfileReport) -> dict[str, Any]:
    """The mapping bar's data: one piece per (row, device), plus crossings in the time row."""
    s = report.summary()
    ops_row = f"ops (placement {placement_label(report.source)})"
    time_row = "time (estimated)"
    total_ops = max(s.n_ops, 1)
    # The time row shares out ops and crossings (the prediction total also holds dispatches
    # and model I/O, shown in the header).
    bar_ms = sum(t.est_time_ms for t in s.per_device.values()) + s.crossing_ms
    total_ms = bar_ms if bar_ms > 0 else 1.0

    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "row",
            "device",
            "ops",
            "time_ms",
            "left",
            "right",
            "color",
            "text",
            "text_color",
            "value",
        )
    }

    def add(
        row: str,
        device: str,
        ops: int,
        ms: float,
        share: float,
        left: float,
        color: str,
        value: str,
    ) -> float:
        right = left + share
        cols["row"].append(row)
        cols["device"].append(device)
        cols["ops"].append(ops)
        cols["time_ms"].append(ms)
        cols["left"].append(left)
        cols["right"].append(right)
        cols["color"].append(color)
        cols["value"].append(value)
        # The longest label that fits in the piece (a character needs ~0.75 % of a ~1000 px
        # bar); the hover always has the full text.
        fits = [
            t
            for t in (f"{device} {value}", f"{device} {share:.0f}%", f"{share:.0f}%")
            if len(t) * 0.75 <= share
        ]
        cols["text"].append(fits[0] if fits else "")
        # Dark text on the light orange, white on the darker colours (contrast).
        cols["text_color"].append("#222222" if color == DEVICE_COLORS[Device.GPU] else "white")
        return right

    left = 0.0
    for d in DEVICE_ORDER:
        t = s.per_device[d]
        left = add(
            ops_row,
            d.value,
            t.ops,
            t.est_time_ms,
            100.0 * t.ops / total_ops,
            left,
            DEVICE_COLORS[d],
            f"{t.ops} ops ({100.0 * t.ops / total_ops:.0f}%)",
        )
    left = 0.0
    for d in DEVICE_ORDER:
        t = s.per_device[d]
        share = 100.0 * t.est_time_ms / total_ms
        left = add(
            time_row,
            d.value,
            t.ops,
            t.est_time_ms,
            share,
            left,
            DEVICE_COLORS[d],
            f"{fmt_ms(t.est_time_ms)} ({share:.0f}%)",
        )
    share = 100.0 * s.crossing_ms / total_ms
    add(
        time_row,
        "crossings",
        s.n_crossings,
        s.crossing_ms,
        share,
        left,
        CROSSING_COLOR,
        f"{fmt_ms(s.crossing_ms)} ({share:.0f}%)",
    )
    return cols


def mapping_bar(report: ProfileReport) -> Any:
    """Xcode-style "Compute Unit Mapping": share of ops and of estimated time per processor."""
    cols = mapping_columns(report)
    # Where each piece's label goes: the middle of the piece.
    cols["mid"] = [(a + b) / 2 for a, b in zip(cols["left"], cols["right"], strict=True)]
    src = ColumnDataSource(cols, name="mapping")
    rows = list(dict.fromkeys(cols["row"]))
    s = report.summary()
    fig = figure(
        height=MAPPING_HEIGHT_PX,
        sizing_mode="stretch_width",
        y_range=FactorRange(*rows[::-1]),
        x_range=Range1d(start=0, end=100),
        toolbar_location=None,
        tools=[],
        title=f"Compute Unit Mapping: {s.n_ops} ops that run ({s.n_const} const ops not "
        f"counted), {fmt_ms(s.est_total_ms)} estimated in "
        f"total (placement {placement_label(report.source)}; times estimated)",
        name="mapping_figure",
    )
    r = fig.hbar(
        y="row",
        left="left",
        right="right",
        height=0.62,
        source=src,
        fill_color="color",
        line_color="white",
        name="mapping_glyph",
    )
    fig.add_layout(
        LabelSet(
            x="mid",
            y="row",
            text="text",
            source=src,
            text_align="center",
            text_baseline="middle",
            text_color="text_color",
            text_font_size="9pt",
            text_font_style="bold",
        )
    )
    fig.add_tools(HoverTool(renderers=[r], tooltips=[("", "@device: @value")]))
    fig.xaxis.axis_label = "share (%)"
    fig.ygrid.visible = False
    fig.min_border_left = 10
    return fig


# --- not on the ANE -----------------------------------------------------------------------


def not_on_ane_html(report: ProfileReport, max_examples: int = 3, max_types: int = 8) -> str:
    """HTML table of the ops that run but not on the ANE, grouped by reason, with a fix."""
    groups = report.not_on_ane()
    n_off = sum(len(v) for v in groups.values())
    head = (
        f'<h3 style="margin:4px 0">Not on the Neural Engine: {n_off} ops, '
        f"{len(groups)} reasons</h3>"
    )
    if not groups:
        return head + "<p>Every op that runs is placed on the Neural Engine.</p>"
    th = "".join(
        f'<th style="text-align:left;padding:4px 8px;border-bottom:2px solid #999">{h}</th>'
        for h in ("ops", "reason", "op types", "e.g.", "evidence", "suggested fix")
    )
    body = []
    for reason, ops in groups.items():
        types = sorted({o.op_type for o in ops})
        type_txt = ", ".join(html_text(t, 40) for t in types[:max_types])
        if len(types) > max_types:
            type_txt += f", … (+{len(types) - max_types})"
        examples = "<br>".join(html_text(o.name, 60) for o in ops[:max_examples])
        # Weakest evidence first: that is what the decision rests on.
        evs = sorted(
            {_evidence_text(o, report.source) for o in ops}, key=lambda e: _EVIDENCE_ORDER.get(e, 9)
        )
        devices = sorted({o.device.value for o in ops if o.device is not None})
        fix = fix_for(ops[0])
        td = 'style="vertical-align:top;padding:4px 8px;border-bottom:1px solid #ddd"'
        body.append(
            f"<tr><td {td}><b>{len(ops)}</b><br><small>{html_text(', '.join(devices))}"
            f"</small></td><td {td}>{html_text(reason, 300)}</td><td {td}>{type_txt}</td>"
            f"<td {td}><code>{examples}</code></td><td {td}>{html_text(', '.join(evs))}</td>"
            f"<td {td}>{html_text(fix, 400) if fix else '—'}</td></tr>"
        )
    return (
        head + '<table style="border-collapse:collapse;font:12px sans-serif;width:100%">'
        f"<thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def not_on_ane_table(report: ProfileReport) -> Div:
    """The "not on the Neural Engine" table as a bokeh Div (content escaped, scrolls if long)."""
    n_groups = len(report.not_on_ane())
    height = min(TABLE_MAX_HEIGHT_PX, 70 + 58 * n_groups)
    return Div(
        text=not_on_ane_html(report),
        sizing_mode="stretch_width",
        height=height,
        styles={"overflow-y": "auto", "font-family": "sans-serif"},
        name="not_on_ane_table",
    )


# --- compare view -------------------------------------------------------------------------


def changed_rows(reports: Mapping[str, ProfileReport]) -> np.ndarray:
    """Rows (lane positions) of ops whose device differs between the reports."""
    tables = list(reports.values())
    devs = [
        [UNKNOWN if r.device is None else r.device.value for r in rep.ops if not r.is_const]
        for rep in tables
    ]
    n = len(devs[0]) if devs else 0
    return np.asarray([k for k in range(n) if len({d[k] for d in devs}) > 1], dtype=np.int64)


def compare_figure(reports: Mapping[str, ProfileReport]) -> Any:
    """Lanes of several placements of the same model stacked (e.g. one per compute-unit
    setting); ops placed differently are highlighted across all of them."""
    if not reports:
        raise ValueError("compare_figure needs at least one report")
    reps = list(reports.items())
    first = reps[0][1]
    names = [r.name for r in first.ops]
    for label, rep in reps[1:]:
        if [r.name for r in rep.ops] != names:
            raise ValueError(
                f"cannot compare {plain(label)!r} with {plain(reps[0][0])!r}: "
                "they are not reports of the same model (op lists differ)"
            )
    changed = changed_rows(reports)
    changed_set = set(changed.tolist())
    live = [r for r in first.ops if not r.is_const]
    n = len(live)
    esc = _Escaper()
    has_unknown = any(r.device is None for _, rep in reps for r in rep.ops if not r.is_const)
    lanes = [LANE_Y[d.value] for d in DEVICE_ORDER] + ([-1] if has_unknown else [])
    band = len(lanes) + 0.8  # height of one report's band, with a gap
    names_esc = [esc(r.name) for r in live]
    types_esc = [esc(r.op_type) for r in live]

    cols: dict[str, list[Any]] = {
        k: []
        for k in ("x", "y", "device", "setting", "name", "op_type", "reason", "time", "changed")
    }
    ticks: list[float] = []
    overrides: dict[float, str] = {}
    for b, (label, rep) in enumerate(reps):
        base = -b * band
        lab = esc(plain(str(label), 40))
        for y in lanes:
            tick = round(base + y, 6)
            ticks.append(tick)
            # Axis labels are canvas text (never parsed as HTML); escaped like every model or
            # user string anyway, so no raw markup is anywhere in the document.
            overrides[tick] = f"{lab} · {LANE_NAME[y].split()[0]}"
        k = 0
        for r in rep.ops:
            if r.is_const:
                continue
            dev = UNKNOWN if r.device is None else r.device.value
            cols["x"].append(float(k))
            cols["y"].append(base + LANE_Y[dev])
            cols["device"].append(dev)
            cols["setting"].append(lab)
            cols["name"].append(names_esc[k])
            cols["op_type"].append(types_esc[k])
            cols["reason"].append(esc(r.reason or "—"))
            cols["time"].append(fmt_ms(r.est_time_ms))
            cols["changed"].append("yes" if k in changed_set else "no")
            k += 1
    src = ColumnDataSource(cols, name="compare_ops")
    top = max(lanes) + 0.6
    bottom = -(len(reps) - 1) * band + min(lanes) - 0.6
    hl = ColumnDataSource(
        {"x": changed.astype(np.float64), "name": [names_esc[k] for k in changed]},
        name="compare_changed",
    )
    mapper = _color_mapper()
    lo, hi = -1.0, max(float(n), 1.0)
    fig = figure(
        height=int(LANE_HEIGHT_PX * 0.7 * len(ticks)) + 90,
        sizing_mode="stretch_width",
        x_range=Range1d(start=lo, end=hi, bounds=(lo, hi)),
        y_range=Range1d(start=bottom, end=top),
        output_backend="webgl",
        toolbar_location="above",
        tools=[],
        name="compare_figure",
        title=f"Compare placements: {len(changed)} of {n} ops change processor "
        f"(highlighted); placement {placement_label(first.source)}",
    )
    hl_r = fig.vbar(
        x="x",
        width=1.0,
        bottom=bottom,
        top=top,
        source=hl,
        fill_color=CHANGED_COLOR,
        fill_alpha=0.25,
        line_color=None,
        name="compare_changed_glyph",
    )
    ops_r = fig.rect(
        x="x",
        y="y",
        width=0.8,
        height=0.55,
        source=src,
        fill_color={"field": "device", "transform": mapper},
        line_color={"field": "device", "transform": mapper},
        name="compare_ops_glyph",
    )
    for b in range(1, len(reps)):
        fig.add_layout(
            Span(
                location=-b * band + max(lanes) + 0.9 - 0.5,
                dimension="width",
                line_color="#666666",
                line_width=1,
            )
        )
    fig.yaxis.ticker = FixedTicker(ticks=ticks)
    fig.yaxis.major_label_overrides = overrides  # type: ignore[assignment]
    fig.ygrid.ticker = FixedTicker(ticks=ticks)
    fig.ygrid.grid_line_alpha = 0.3
    fig.xgrid.visible = False
    fig.xaxis.axis_label = "op position in execution order"
    wheel = WheelZoomTool(dimensions="width")
    fig.add_tools(
        PanTool(dimensions="width"),
        wheel,
        BoxZoomTool(),
        ResetTool(),
        HoverTool(
            renderers=[ops_r],
            tooltips=[
                ("op", "@name{safe}"),
                ("type", "@op_type{safe}"),
                ("setting", "@setting{safe}"),
                ("device", "@device"),
                ("reason", "@reason{safe}"),
                ("time", "@time{safe} (estimated)"),
                ("changes between settings", "@changed"),
            ],
        ),
        HoverTool(renderers=[hl_r], tooltips=[("changes processor", "@name{safe}")]),
        SaveTool(),
    )
    fig.toolbar.active_scroll = wheel
    return fig


def compare_summary_html(reports: Mapping[str, ProfileReport]) -> str:
    """One row per placement: ops and estimated time per processor, crossings, total."""
    th = "".join(
        f'<th style="text-align:{a};padding:3px 10px;border-bottom:2px solid #999">{h}</th>'
        for h, a in (
            ("setting", "left"),
            *((f"{d.value} ops", "right") for d in DEVICE_ORDER),
            *((f"{d.value} time", "right") for d in DEVICE_ORDER),
            ("crossings", "right"),
            ("total (estimated)", "right"),
        )
    )
    body = []
    for label, rep in reports.items():
        s = rep.summary()
        td = 'style="text-align:right;padding:3px 10px;border-bottom:1px solid #ddd"'
        cells = [f"<td {td}>{s.per_device[d].ops}</td>" for d in DEVICE_ORDER]
        cells += [
            f"<td {td}>{html_text(fmt_ms(s.per_device[d].est_time_ms))}</td>" for d in DEVICE_ORDER
        ]
        cells.append(
            f"<td {td}>{s.n_crossings} ({html_text(fmt_bytes(s.crossing_bytes))}, "
            f"{html_text(fmt_ms(s.crossing_ms))})</td>"
        )
        cells.append(f"<td {td}><b>{html_text(fmt_ms(s.est_total_ms))}</b></td>")
        body.append(
            f'<tr><td style="padding:3px 10px;border-bottom:1px solid #ddd">'
            f"<b>{html_text(str(label), 60)}</b> <small>"
            f"({html_text(placement_label(rep.source))})</small></td>{''.join(cells)}"
            "</tr>"
        )
    measured = "".join(
        f"<div>{html_text(timings_text(rep.timings), 400)}</div>"
        for rep in reports.values()
        if rep.timings is not None
    )
    return (
        '<h3 style="margin:4px 0">Compare placements</h3>'
        '<table style="border-collapse:collapse;font:12px sans-serif">'
        f"<thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + (f'<div style="font:12px sans-serif;margin-top:4px">{measured}</div>' if measured else "")
    )


# --- header and whole layout ----------------------------------------------------------------


def _meta_value(v: Any) -> str:
    if isinstance(v, Mapping | list | tuple):
        v = json.dumps(v, default=str, ensure_ascii=False, separators=(", ", ": "))
    return html_text(v, 300)


def _contested_note(report: ProfileReport) -> str:
    n = sum(1 for o in report.ops if o.contested)
    return f" ({n} contested ops)" if n else ""


def header_html(report: ProfileReport) -> str:
    """Static HTML summary of a report (no script): what, where from, how much."""
    s = report.summary()
    m = report.model
    badge_bg = "#E69F00" if report.source is PlacementSource.ESTIMATE else "#0072B2"
    badge = (
        f'<span style="background:{badge_bg};color:white;border-radius:3px;'
        f'padding:1px 6px;font-weight:bold">{html_text(report.source.value.upper())}</span>'
    )
    rows: list[tuple[str, str]] = [
        ("placement", f"{badge} {html_text(SOURCE_NOTE[report.source])}"),
        ("compute units", html_text(report.compute_units.value)),
        *([("measured", html_text(timings_text(report.timings), 400))] if report.timings else []),
        ("chip", html_text(report.chip)),
        ("ops", f"{html_text(ops_counted(s))}, {s.n_segments} segments"),
        ("Neural Engine share", html_text(s.share_text(Device.ANE), 400)),
        (
            "per processor",
            " · ".join(
                f"{DEVICE_LABEL[d]}: {s.per_device[d].ops} ops, "
                f"{html_text(fmt_ms(s.per_device[d].est_time_ms))}"
                for d in DEVICE_ORDER
            ),
        ),
        (
            "crossings",
            f"{s.n_crossings} ({html_text(fmt_bytes(s.crossing_bytes))}, "
            f"{html_text(fmt_ms(s.crossing_ms))} estimated)",
        ),
        (
            "total",
            f"{html_text(fmt_ms(s.est_total_ms))} estimated for one prediction (ops, "
            f"crossings, {html_text(fmt_ms(s.launch_ms))} of dispatches, "
            f"{html_text(fmt_ms(s.io_ms))} of model I/O)",
        ),
        *(
            [("range", html_text(uncertainty_text(report.uncertainty)) + _contested_note(report))]
            if report.uncertainty is not None
            else []
        ),
        (
            "model",
            f"{html_text(m.source or '—')} ({html_text(m.format)}"
            + (f", {len(m.functions)} functions" if len(m.functions) > 1 else "")
            + ")",
        ),
    ]
    if m.flexible_inputs:
        rows.append(
            (
                "flexible inputs",
                ", ".join(html_text(n) for n in m.flexible_inputs)
                + " (placed for the default shape)",
            )
        )
    for k, v in report.metadata.items():
        rows.append((html_text(k, 60), _meta_value(v)))
    for k, v in list(m.metadata.items())[:8]:
        rows.append((f"model {html_text(k, 50)}", _meta_value(v)))
    trs = "".join(
        f'<tr><th style="text-align:left;padding:1px 12px 1px 0;vertical-align:top;'
        f'white-space:nowrap;color:#555;font-weight:normal">{k}</th>'
        f'<td style="padding:1px 0">{v}</td></tr>'
        for k, v in rows
    )
    return (
        f'<div class="ane-header" style="font:13px sans-serif;color:#222">'
        f'<h2 style="margin:4px 0 6px 0">{html_text(m.name)}</h2>'
        f'<table style="border-collapse:collapse">{trs}</table></div>'
    )


@dataclass(frozen=True)
class ReportLayout:
    root: Column
    height: int  # pixels, an upper bound for an iframe holding it


def build_layout(
    report: ProfileReport,
    compare: Mapping[str, ProfileReport] | None = None,
    *,
    header: bool = True,
    graph_max_ops: int = GRAPH_MAX_OPS,
) -> ReportLayout:
    """report_layout plus its height (used to size the notebook iframe)."""
    table = op_table(report)
    mapper = _color_mapper()
    lanes = _lane_parts(report, table, mapper)
    graph = _graph_parts(report, table, lanes.crossings.data, mapper, None, None, graph_max_ops)
    _link_selection(lanes, graph, table, graph_max_ops)

    items: list[Any] = []
    if header:
        # A header's height depends on its metadata; rows are ~18 px.
        items.append(Div(text=header_html(report), sizing_mode="stretch_width", name="header"))
    unknown = any(r.device is None and not r.is_const for r in report.ops)
    items.append(
        Div(
            text=legend_html(unknown),
            sizing_mode="stretch_width",
            height=LEGEND_HEIGHT_PX,
            name="legend",
        )
    )
    items.append(mapping_bar(report))
    items.append(lanes.figure)
    items.append(
        Div(
            text=f'<div style="font:12px sans-serif;color:#555">{_TOOLS_NOTE}</div>',
            sizing_mode="stretch_width",
            height=22,
            name="lanes_note",
        )
    )
    items.append(graph.figure)
    items.append(not_on_ane_table(report))
    if compare:
        items.append(
            Div(
                text=compare_summary_html(compare),
                sizing_mode="stretch_width",
                height=60 + 26 * len(compare),
                name="compare_summary",
            )
        )
        items.append(compare_figure(compare))
    # Heights are fixed except the header; bokeh puts ~5 px between the items of a column.
    height = sum(int(getattr(i, "height", None) or 0) for i in items) + 5 * len(items)
    if header:
        height += 60 + 19 * (9 + len(report.metadata) + min(len(report.model.metadata), 8))
    root = column(items, sizing_mode="stretch_width", name="ane_report")
    return ReportLayout(root, height + 20)


def report_layout(
    report: ProfileReport,
    compare: Mapping[str, ProfileReport] | None = None,
    *,
    header: bool = True,
) -> Column:
    """Everything for one report: header, legend, mapping bar, lanes (box-select drives the
    graph view), graph view, the not-on-ANE table and, when given, the compare view."""
    return build_layout(report, compare, header=header).root


__all__ = [
    "lanes_figure",
    "graph_figure",
    "mapping_bar",
    "not_on_ane_table",
    "compare_figure",
    "report_layout",
    "build_layout",
    "header_html",
    "not_on_ane_html",
    "op_table",
    "graph_layout",
    "mapping_columns",
    "changed_rows",
    "LANE_Y",
]
