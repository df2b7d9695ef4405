"""The diagrams as data: bokeh models and their ColumnDataSources, no browser.

Reports are built by hand (graph from `graphs.chain`, a Placement written out op by op), so these
tests depend on neither the model loader nor the rule tables.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import pytest
from bokeh.embed import json_item
from bokeh.model import Model
from bokeh.models import CategoricalColorMapper, ColumnDataSource, CustomJS, HoverTool
from bokeh.models.renderers import GlyphRenderer
from bokeh.models.widgets import Div
from graphs import chain

from ane_notebook.model.graph import Graph, Op, TensorInfo
from ane_notebook.placement.devices import DEVICE_ORDER, ComputeUnits, Device, Evidence
from ane_notebook.placement.result import CONSTANT_REASON, OpPlacement, Placement, ReasonKind
from ane_notebook.render import palette
from ane_notebook.render.diagram import (
    EVIDENCE_CHOICES,
    LANE_Y,
    OP_HEIGHT,
    SUPPORTED_CHOICES,
    build_layout,
    changed_rows,
    compare_figure,
    graph_figure,
    graph_layout,
    lanes_figure,
    mapping_bar,
    not_on_ane_table,
    op_table,
    report_layout,
)
from ane_notebook.render.html import notebook_html, report_html
from ane_notebook.render.lanes import op_runs
from ane_notebook.report import ProfileReport

A, G, C = Device.ANE, Device.GPU, Device.CPU

HOSTILE = (
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(1)</script>",
    "{{7*7}}",
    "bell\x07esc\x1b[31mred\u202eevil",
    "\"quoted\" & 'single'",
)


# --- building reports by hand ----------------------------------------------------------------


def _place(device: Device | None, i: int, *, const: bool = False) -> OpPlacement:
    if const:
        return OpPlacement(
            device=None,
            supported=frozenset(),
            reason=CONSTANT_REASON,
            reason_kind=ReasonKind.CONSTANT,
        )
    if device == A:
        return OpPlacement(
            device=A,
            supported=frozenset({A, G, C}),
            reason="",
            evidence=Evidence.OFFICIAL,
            est_time_ms=0.05 * (i + 1),
        )
    reasons = {
        G: ("gather does not run on the Neural Engine", Evidence.COMMUNITY),
        C: ("topk runs off the Neural Engine in Core ML", Evidence.GUESS),
        None: ("not in the recorded plan", None),
    }
    reason, ev = reasons[device]
    sup = frozenset({G, C}) if device == G else frozenset({C})
    return OpPlacement(
        device=device, supported=sup, reason=reason, evidence=ev, est_time_ms=0.1 * (i + 1)
    )


def with_const(graph: Graph, consumer: int) -> Graph:
    """`graph` with a const (weights) op prepended, read by op `consumer` (old index)."""
    w = TensorInfo("weight", (64, 64), "fp16")
    ops = [
        Op(
            index=0,
            name="weight",
            op_type="const",
            function="main",
            inputs=(),
            outputs=(w,),
            is_const=True,
        )
    ]
    for op in graph.ops:
        extra = ("weight",) if op.index == consumer else ()
        ops.append(replace(op, index=op.index + 1, inputs=op.inputs + extra))
    return replace(graph, ops=tuple(ops))


MIXED = [A, A, G, G, C, A, A, C, A, G, A, A]


def make_report(
    devices: Sequence[Device | None] = MIXED,
    names: list[str] | None = None,
    units: ComputeUnits = ComputeUnits.ALL,
    model_name: str = "mixed",
    source: str = "estimate",
    **graph_kw: Any,
) -> ProfileReport:
    types = [
        "conv",
        "relu",
        "gather",
        "add",
        "topk",
        "conv",
        "softmax",
        "argsort",
        "matmul",
        "gather",
        "layer_norm",
        "linear",
    ]
    types = (types * (len(devices) // len(types) + 1))[: len(devices)]
    g = chain(types, name=model_name, **graph_kw)
    if names is not None:
        renamed = []
        prev = "x"
        for op, nm in zip(g.ops, names, strict=True):
            out = replace(op.outputs[0], name=nm)
            renamed.append(replace(op, name=nm, inputs=(prev,), outputs=(out,)))
            prev = nm
        g = replace(g, ops=tuple(renamed), outputs=(renamed[-1].outputs[0],))
    g = with_const(g, consumer=1)
    placed = [_place(None, 0, const=True)] + [_place(d, i) for i, d in enumerate(devices)]
    return ProfileReport.from_placement(g, Placement(source, units, "M1", tuple(placed)))


@pytest.fixture(scope="module")
def report() -> ProfileReport:
    return make_report()


def renderer(fig: Any, name: str) -> GlyphRenderer:
    r = fig.select_one({"name": name})
    assert isinstance(r, GlyphRenderer), name
    return r


def source_of(fig: Any, name: str) -> ColumnDataSource:
    src = renderer(fig, name).data_source
    assert isinstance(src, ColumnDataSource)
    return src


M = TypeVar("M", bound=Model)


def named(root: Any, name: str, cls: type[M]) -> M:
    """The model called `name` under `root`, checked to be a `cls`."""
    m = root.select_one({"name": name})
    assert isinstance(m, cls), (name, m)
    return m


def tips_of(tool: HoverTool) -> dict[str, str]:
    assert isinstance(tool.tooltips, list)
    return dict(tool.tooltips)


def hover_for(fig: Any, glyph: GlyphRenderer) -> HoverTool:
    (tool,) = [t for t in fig.tools if isinstance(t, HoverTool) and t.renderers == [glyph]]
    return tool


# --- the lane view -----------------------------------------------------------------------------


def test_lane_ops_source_has_one_row_per_running_op(report: ProfileReport) -> None:
    fig = lanes_figure(report)
    src = source_of(fig, "lanes_ops_glyph")
    running = [r for r in report.ops if not r.is_const]
    assert len(running) == len(MIXED) and report.ops[0].is_const
    assert list(src.data["x"]) == list(range(len(running)))
    assert list(src.data["index"]) == [r.index for r in running]
    assert list(src.data["device"]) == [r.device.value for r in running if r.device]
    assert list(src.data["y"]) == [LANE_Y[d.value] for d in MIXED]
    assert list(src.data["name"]) == [html.escape(r.name) for r in running]
    assert list(src.data["time_ms"]) == [r.est_time_ms for r in running]
    assert [SUPPORTED_CHOICES[c] for c in src.data["supported"]] == [
        ", ".join(d.value for d in r.supported) for r in running
    ]
    assert [EVIDENCE_CHOICES[c] for c in src.data["evidence"]] == [
        r.evidence.value if r.evidence else "" for r in running
    ]
    # Lanes top to bottom in DEVICE_ORDER.
    assert [LANE_Y[d.value] for d in DEVICE_ORDER] == [2, 1, 0]
    # canvas: measured faster than (software) WebGL, benchmarks/browser_zoom.py
    assert fig.output_backend == palette.OUTPUT_BACKEND == "canvas"


def test_colours_come_from_the_palette(report: ProfileReport) -> None:
    fig = lanes_figure(report)
    for name in ("lanes_ops_glyph", "lanes_segments_glyph"):
        mapper = renderer(fig, name).glyph.fill_color["transform"]
        assert isinstance(mapper, CategoricalColorMapper)
        colors = dict(zip(mapper.factors, mapper.palette, strict=True))
        for d in DEVICE_ORDER:
            assert colors[d.value] == palette.DEVICE_COLORS[d]
        assert colors[palette.UNKNOWN] == palette.UNKNOWN_COLOR
    assert renderer(fig, "lanes_crossings_glyph").glyph.line_color == palette.CROSSING_COLOR
    # Okabe–Ito, distinct, and the text legend names the same colours.
    assert (
        len({*palette.DEVICE_COLORS.values(), palette.CROSSING_COLOR, palette.UNKNOWN_COLOR}) == 5
    )
    for d in DEVICE_ORDER:
        assert palette.DEVICE_COLORS[d] in palette.legend_text()
        assert palette.DEVICE_COLORS[d] in palette.legend_html()


# Crossings in the lane view (connectors, labels, reused edges): tests/test_crossings_view.py


def test_segments_are_drawn_behind_the_ops(report: ProfileReport) -> None:
    fig = lanes_figure(report)
    seg = renderer(fig, "lanes_segments_glyph")
    src = source_of(fig, "lanes_segments_glyph")
    assert len(src.data["left"]) == len(report.segments) == 8
    table = op_table(report)
    for s, left, right, dev in zip(
        report.segments, src.data["left"], src.data["right"], src.data["device"], strict=True
    ):
        assert left == table.row_of[s.start] - 0.5 and right == table.row_of[s.end] + 0.5
        assert dev == s.device.value
    assert fig.renderers.index(seg) < fig.renderers.index(renderer(fig, "lanes_ops_glyph"))


def test_op_tooltip_fields(report: ProfileReport) -> None:
    fig = lanes_figure(report)
    hover = hover_for(fig, renderer(fig, "lanes_ops_glyph"))
    tips = tips_of(hover)
    for field in (
        "op",
        "type",
        "outputs",
        "device",
        "supported",
        "reason",
        "time",
        "evidence",
        "placement",
        "segment",
    ):
        assert field in tips, field
    src = source_of(fig, "lanes_ops_glyph")
    for template in tips.values():
        for col in re.findall(r"@(\w+)", template):
            assert col in src.data, col
    # Model strings are pre-escaped in the source, so they go in as {safe}, exactly once
    # escaped; numbers and enum codes are formatted (and escaped) by bokeh.
    assert tips["op"] == "@name{safe}" and tips["reason"] == "@reason{safe}"
    assert "not measured" in tips["placement"] and "estimate" in tips["placement"]
    assert "(estimated)" in tips["time"]
    assert set(hover.formatters) == {"@supported", "@evidence"}
    tools = {type(t).__name__ for t in fig.tools}
    assert {
        "PanTool",
        "WheelZoomTool",
        "BoxSelectTool",
        "BoxZoomTool",
        "ResetTool",
        "HoverTool",
        "SaveTool",
    } <= tools


RUN_KEYS = ("left", "right", "bottom", "top", "device")


def test_run_bars_cover_every_op_once_and_never_mix_lanes(report: ProfileReport) -> None:
    table = op_table(report)
    runs = op_runs(table)
    x, y, dev = table.columns["x"], table.columns["y"], table.columns["device"]
    covered: list[int] = []
    for left, right, bottom, top, d in zip(*(runs[k] for k in RUN_KEYS), strict=True):
        rows = [k for k in range(len(x)) if left < x[k] < right]
        assert rows and rows == list(range(rows[0], rows[-1] + 1))
        assert {dev[k] for k in rows} == {d}  # one device, one lane per bar
        assert {y[k] for k in rows} == {(bottom + top) / 2}
        assert top - bottom == pytest.approx(OP_HEIGHT)
        covered += rows
    assert covered == list(range(len(x)))
    # maximal: two neighbouring bars differ
    assert all(a != b for a, b in zip(runs["device"], runs["device"][1:], strict=False))


def test_dense_lanes_draw_run_bars_and_keep_the_boxes_for_hover() -> None:
    small, big = lanes_figure(make_report([A, G, C, A])), lanes_figure(big_report(5_000))
    assert not renderer(small, "lanes_runs_glyph").visible
    assert renderer(small, "lanes_ops_glyph").glyph.fill_alpha == 1
    runs, ops = renderer(big, "lanes_runs_glyph"), renderer(big, "lanes_ops_glyph")
    assert runs.visible and ops.visible  # boxes stay hit-tested: hover names the op
    assert ops.glyph.fill_alpha == 0 and ops.glyph.line_alpha == 0
    n_runs = len(source_of(big, "lanes_runs_glyph").data["left"])
    assert n_runs < len(source_of(big, "lanes_ops_glyph").data["x"]) / 10
    # zooming in brings the boxes back: the switch runs on every x range change, and keeps
    # only the rows near the view in the boxes' view filter (all of them to start with)
    cbs = big.x_range.js_property_callbacks
    for k in ("start", "end"):
        (cb,) = [c for c in cbs[f"change:{k}"] if "runs" in c.args]
        assert "runs.visible" in cb.code
        (near,) = [c for c in cbs[f"change:{k}"] if c.args.get("src") is ops.data_source]
        assert near.args["flt"] is ops.view.filter and ops.view.filter.indices is None
        assert "flt.indices" in near.code


def test_lane_for_ops_a_plan_did_not_place() -> None:
    rep = make_report([A, None, C, A], source="recorded")
    src = source_of(lanes_figure(rep), "lanes_ops_glyph")
    assert list(src.data["device"]) == ["ANE", palette.UNKNOWN, "CPU", "ANE"]
    assert src.data["y"][1] == LANE_Y[palette.UNKNOWN] == -1
    assert src.data["segment"][1] == -1
    layout = report_layout(rep)
    legend = named(layout, "legend", Div)
    assert palette.UNKNOWN_COLOR in legend.text


# --- graph view --------------------------------------------------------------------------------


def diamond_report() -> ProfileReport:
    """x -> a -> (b, c) -> d: b and c share a layer; the edge a->c crosses to the GPU."""

    def t(n: str) -> TensorInfo:
        return TensorInfo(n, (1, 8), "fp16")

    ops = (
        Op(0, "a", "conv", "main", ("x",), (t("a"),)),
        Op(1, "b", "relu", "main", ("a",), (t("b"),)),
        Op(2, "c", "gather", "main", ("a",), (t("c"),)),
        Op(3, "d", "add", "main", ("b", "c"), (t("d"),)),
    )
    g = Graph(
        "diamond", "mlprogram", ops, (t("x"),), (t("d"),), function_inputs={("main", "x"): t("x")}
    )
    placed = tuple(_place(d, i) for i, d in enumerate([A, A, G, A]))
    return ProfileReport.from_placement(g, Placement("estimate", ComputeUnits.ALL, "M1", placed))


def test_graph_layout_layers_by_longest_path() -> None:
    rep = diamond_report()
    lay = graph_layout(op_table(rep))
    assert list(lay.gx) == [0, 1, 1, 2]
    assert list(lay.gy) == [0, 0.5, -0.5, 0]
    assert sorted(map(tuple, lay.edges.tolist())) == [(0, 1), (0, 2), (1, 3), (2, 3)]
    fig = graph_figure(rep)
    xs = renderer(fig, "graph_crossings_glyph")
    assert len(source_of(fig, "graph_crossings_glyph").data["gx0"]) == len(rep.crossings) == 2
    assert xs.glyph.line_color == palette.CROSSING_COLOR
    assert xs.glyph.line_width > renderer(fig, "graph_edges_glyph").glyph.line_width
    nodes = renderer(fig, "graph_nodes_glyph")
    assert list(source_of(fig, "graph_nodes_glyph").data["device"]) == ["ANE", "ANE", "GPU", "ANE"]
    assert "op" in tips_of(hover_for(fig, nodes))


def test_graph_range_and_cap(report: ProfileReport) -> None:
    fig = graph_figure(report, start=2, end=9)
    src = source_of(fig, "graph_nodes_glyph")
    assert list(src.data["x"]) == list(range(2, 9))
    assert "ops 2–8 of 12" in fig.title.text and "first" not in fig.title.text
    capped = graph_figure(report, max_ops=5)
    assert len(source_of(capped, "graph_nodes_glyph").data["x"]) == 5
    assert "only the first 5" in capped.title.text
    # Crossings in the graph are those with both ends in the range.
    table = op_table(report)
    inside = [
        c for c in report.crossings if 2 <= table.row_of[c.src] < 9 and 2 <= table.row_of[c.dst] < 9
    ]
    assert len(source_of(fig, "graph_crossings_glyph").data["gx0"]) == len(inside)


def test_lane_selection_drives_the_graph(report: ProfileReport) -> None:
    root = report_layout(report)
    ops = root.select_one({"name": "lanes_ops"})
    assert isinstance(ops, ColumnDataSource)
    callbacks = ops.selected.js_property_callbacks["change:indices"]
    # the graph's re-layout, and the lanes' switch between run bars and boxes (lanes.py)
    (cb,) = [c for c in callbacks if isinstance(c, CustomJS) and "nodes" in c.args]
    assert isinstance(cb, CustomJS)
    assert cb.args["nodes"] is root.select_one({"name": "graph_nodes"})
    table = op_table(report)
    assert list(cb.args["in_ptr"]) == list(table.in_ptr)


# --- mapping bar, table ------------------------------------------------------------------------


def test_mapping_bar_equals_summary(report: ProfileReport) -> None:
    s = report.summary()
    fig = mapping_bar(report)
    data = {k: list(v) for k, v in source_of(fig, "mapping_glyph").data.items()}
    rows = list(dict.fromkeys(data["row"]))
    assert rows[0].startswith("ops (placement estimated") and rows[1] == "time (estimated)"
    for row in rows:
        idx = [i for i, r in enumerate(data["row"]) if r == row]
        # Pieces are stacked left to right and fill the bar.
        assert data["left"][idx[0]] == 0
        assert data["right"][idx[-1]] == pytest.approx(100)
    for d in DEVICE_ORDER:
        ops_i = data["row"].index(rows[0]) + DEVICE_ORDER.index(d)
        time_i = data["row"].index(rows[1]) + DEVICE_ORDER.index(d)
        assert data["device"][ops_i] == data["device"][time_i] == d.value
        assert data["ops"][ops_i] == s.per_device[d].ops
        assert data["time_ms"][time_i] == pytest.approx(s.per_device[d].est_time_ms)
        assert data["color"][ops_i] == palette.DEVICE_COLORS[d]
    xi = data["device"].index("crossings")
    assert data["time_ms"][xi] == pytest.approx(s.crossing_ms)
    assert data["color"][xi] == palette.CROSSING_COLOR
    assert "estimated" in fig.title.text


def test_mapping_bar_for_a_core_ml_placement_says_so() -> None:
    rep = make_report([A, C, A], source="coreml")
    fig = mapping_bar(rep)
    rows = list(dict.fromkeys(source_of(fig, "mapping_glyph").data["row"]))
    assert rows == ["ops (placement Core ML plan)", "time (estimated)"]


def test_not_on_ane_table_groups_by_reason(report: ProfileReport) -> None:
    div = not_on_ane_table(report)
    assert isinstance(div, Div)
    groups = report.not_on_ane()
    assert len(groups) == 2
    for reason, ops in groups.items():
        assert html.escape(reason) in div.text
        assert f"<b>{len(ops)}</b>" in div.text
        assert html.escape(ops[0].name) in div.text
    assert "community-measured" in div.text and "guess" in div.text
    assert not_on_ane_table(make_report([A, A])).text.count("<tr>") == 0


# --- compare ----------------------------------------------------------------------------------


def test_compare_highlights_the_ops_placed_otherwise_than_in_the_best_setting() -> None:
    reports = {
        "CPU_ONLY": make_report([A, A, G, C, A, C], units=ComputeUnits.CPU_ONLY),
        "CPU_AND_NE": make_report([A, A, C, C, A, A], units=ComputeUnits.CPU_AND_NE),
        "ALL": make_report([A, A, A, C, A, A]),
    }
    totals = {k: r.summary().est_total_ms for k, r in reports.items()}
    assert min(totals, key=totals.__getitem__) == "ALL"  # what the test relies on
    assert list(changed_rows(reports)) == [2, 5]
    fig = compare_figure(reports)
    hl = renderer(fig, "compare_changed_glyph")
    assert hl.glyph.fill_color == palette.CHANGED_COLOR
    marks = source_of(fig, "compare_changed_glyph").data
    # against ALL (the best), not against CPU_ONLY (the first): one op in each other band
    assert sorted(zip(marks["setting"], marks["x"], strict=True)) == [
        ("CPU_AND_NE", 2.0),
        ("CPU_ONLY", 2.0),
        ("CPU_ONLY", 5.0),
    ]
    bands = set(fig.yaxis[0].major_label_overrides.values())
    assert "ALL ★ · ANE" in bands and "CPU_ONLY · ANE" in bands
    ops = source_of(fig, "compare_ops_glyph").data
    assert len(ops["x"]) == 3 * 6
    differs = [
        (t, x)
        for t, x, d in zip(ops["setting"], ops["x"], ops["differs"], strict=True)
        if d == "yes"
    ]
    assert sorted(differs) == [("CPU_AND_NE", 2.0), ("CPU_ONLY", 2.0), ("CPU_ONLY", 5.0)]
    # Bands do not overlap: every report's ops lie in its own y range.
    ys = {
        s: [y for y, t in zip(ops["y"], ops["setting"], strict=True) if t.startswith(s)]
        for s in reports
    }
    assert max(ys["CPU_AND_NE"]) < min(ys["CPU_ONLY"]) and max(ys["ALL"]) < min(ys["CPU_AND_NE"])
    # a given best setting wins over the lowest total
    forced = source_of(compare_figure(reports, best="CPU_ONLY"), "compare_changed_glyph").data
    assert sorted(zip(forced["setting"], forced["x"], strict=True)) == [
        ("ALL", 2.0),
        ("ALL", 5.0),
        ("CPU_AND_NE", 2.0),
        ("CPU_AND_NE", 5.0),
    ]


def test_compare_two_versions_of_a_model_rows_matched_by_name() -> None:
    before = make_report([A, C, A], names=["in", "topk", "out"])
    after = make_report([A, A, A, A], names=["in", "norm", "top2", "out"])
    fig = compare_figure({"before": before, "after": after})
    ops = source_of(fig, "compare_ops_glyph").data
    rows = {
        (t.split()[0], n): x for t, n, x in zip(ops["setting"], ops["name"], ops["x"], strict=True)
    }
    assert rows[("before", "out")] == rows[("after", "out")] == 4.0
    assert rows[("before", "in")] == rows[("after", "in")] == 0.0
    assert ("before", "norm") not in rows and ("after", "topk") not in rows


# --- whole layout, hostile strings, scale -------------------------------------------------------


def test_layout_contains_every_part(report: ProfileReport) -> None:
    root = report_layout(report, compare={"ALL": report, "again": report})
    for name in (
        "header",
        "legend",
        "mapping_figure",
        "lanes_figure",
        "graph_figure",
        "not_on_ane_table",
        "compare_summary",
        "compare_figure",
    ):
        assert root.select_one({"name": name}) is not None, name
    header = named(root, "header", Div).text
    assert "ESTIMATE" in header and "not measured" in header
    assert "ALL" in header and "M1" in header
    json.dumps(json_item(root))  # the whole document serialises


def test_empty_report_builds() -> None:
    g = Graph("empty", "mlprogram", (), (), ())
    rep = ProfileReport.from_placement(g, Placement("estimate", ComputeUnits.ALL, "M1", ()))
    html_page = report_html(rep)
    assert "Every op that runs is placed on the Neural Engine" in html_page or "0 ops" in html_page


def test_several_functions_are_marked() -> None:
    rep = make_report([A, C, A])
    ops = [replace(o, function="decode" if o.index >= 2 else "main") for o in rep.ops]
    rep = replace(rep, ops=tuple(ops))
    fig = lanes_figure(rep)
    src = source_of(fig, "lanes_ops_glyph")
    assert list(src.data["function"]) == ["main", "decode", "decode"]
    assert "function" in tips_of(hover_for(fig, renderer(fig, "lanes_ops_glyph")))


def hostile_report() -> ProfileReport:
    names = [f"{h}#{i}" for i, h in enumerate(HOSTILE * 2)]
    rep = make_report([A, C, G, A, C, A, G, A, C, A], names=names, model_name=HOSTILE[0])
    ops = [
        replace(o, op_type=HOSTILE[i % len(HOSTILE)], reason=o.reason + HOSTILE[1])
        if not o.is_const
        else o
        for i, o in enumerate(rep.ops)
    ]
    model = replace(rep.model, source=HOSTILE[1], metadata={HOSTILE[0]: HOSTILE[3]})
    return replace(
        rep, ops=tuple(ops), model=model, metadata={**rep.metadata, "backend_choice": HOSTILE[0]}
    )


RAW_MARKUP = ("<img", "<script", "</script", "\x07", "\x1b", "\u202e")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, np.ndarray):
        return [v for v in value.tolist() if isinstance(v, str)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def test_hostile_names_are_escaped_in_every_source() -> None:
    rep = hostile_report()
    root = build_layout(rep, compare={"a": rep, HOSTILE[0]: rep}).root
    sources = [m for m in root.references() if isinstance(m, ColumnDataSource)]
    assert len(sources) >= 6
    for src in sources:
        for col, values in src.data.items():
            for s in _strings(values):
                assert not any(bad in s for bad in RAW_MARKUP), (src.name, col, s)
                # Already escaped: escaping it again would only touch its ampersands.
                assert "<" not in s and ">" not in s and '"' not in s, (src.name, col, s)
    for div in (m for m in root.references() if isinstance(m, Div)):
        assert not any(bad in div.text for bad in RAW_MARKUP), div.name
    dumped = json.dumps(json_item(root), ensure_ascii=False)
    assert not any(bad in dumped for bad in RAW_MARKUP)
    assert "&lt;img src=x onerror=alert(1)&gt;" in dumped
    assert "{{7*7}}" in dumped  # shown literally, never evaluated as a template
    assert "\\x07" in dumped  # control characters made visible


def test_hostile_names_are_escaped_in_the_html() -> None:
    rep = hostile_report()
    page = report_html(rep, compare={"a": rep, HOSTILE[1]: rep})
    assert not any(bad in page for bad in ("<img src=x", "<script>alert", "\x07", "\x1b"))
    assert page.count("</script>") == page.count("<script")  # no early close of a script
    title = re.search(r"<title>(.*)</title>", page)
    assert title and title.group(1) == "ane_notebook: &lt;img src=x onerror=alert(1)&gt;"
    nb = notebook_html(rep)
    assert not any(bad in nb for bad in ("<img src=x", "<script", "\x07"))
    srcdoc = re.search(r"srcdoc='([^']*)'", nb)
    assert srcdoc is not None
    inner = html.unescape(srcdoc.group(1))
    assert 'type="application/json"' in inner and "<title>ane_notebook: &lt;img" in inner
    assert inner.startswith("<!DOCTYPE html>") and "<img src=x" not in inner
    assert 'sandbox="allow-scripts allow-downloads"' in nb  # no allow-same-origin
    assert "not trusted" in nb  # what a sanitised (untrusted) notebook shows instead


def test_report_repr_mimebundle_uses_notebook_html(report: ProfileReport) -> None:
    bundle = report._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "<iframe" in bundle["text/html"] and "srcdoc=" in bundle["text/html"]
    assert "ESTIMATE" in bundle["text/html"]  # the static summary, visible when untrusted


def big_report(n: int) -> ProfileReport:
    rng = np.random.default_rng(0)
    devices: list[Device | None] = []
    d = A
    for _ in range(n):
        if rng.random() < 0.01:
            d = (A, G, C)[int(rng.integers(3))]
        devices.append(d)
    return make_report(devices, model_name="big")


def test_fifty_thousand_ops_build() -> None:
    rep = big_report(50_000)
    built = build_layout(rep)
    ops = named(built.root, "lanes_ops", ColumnDataSource)
    assert len(ops.data["x"]) == 50_000
    assert isinstance(ops.data["x"], np.ndarray)  # columns stay arrays (binary in the page)
    nodes = named(built.root, "graph_nodes", ColumnDataSource)
    layers = named(built.root, "graph_layers", ColumnDataSource)
    # the cap counts graph nodes: ops, or the collapsed layers found in the repeated op types
    assert len(layers.data["gx"]) > 0
    assert len(nodes.data["x"]) + len(layers.data["gx"]) == 2000
    assert len(named(built.root, "lanes_crossings", ColumnDataSource).data["x0"]) == len(
        rep.crossings
    )


def test_op_table_producers_are_the_non_const_inputs_of_each_row() -> None:
    # The CSR is built with numpy in one pass (issue 14); it must keep the per-input rule:
    # producers in input order, const producers (weights) dropped.
    report = make_report([Device.ANE, None, Device.CPU, Device.GPU, None, Device.ANE])
    table = op_table(report)
    for k, row in enumerate(table.rows):
        want = [int(table.row_of[i]) for i in report.ops[row].inputs if table.row_of[i] >= 0]
        assert table.in_src[table.in_ptr[k] : table.in_ptr[k + 1]].tolist() == want
    assert table.in_src.dtype == np.int32 and table.in_ptr.dtype == np.int32
