"""The layers drawn (render/layerband.py, render/graphunits.py) and the search/detail data
(render/detail.py), inspected as bokeh models: layers present and nested, counts that match
the report, every crossing drawn once, every model string escaped."""

from __future__ import annotations

import html

import numpy as np
import pytest
from bokeh.models import ColumnDataSource, CustomJS, Plot
from bokeh.models.annotations import Title
from bokeh.models.widgets import Div, TextInput
from test_render import HOSTILE, make_report, named

from ane_notebook.analysis.layers import layer_tree, walk
from ane_notebook.fixes import fix_for
from ane_notebook.placement.devices import Device
from ane_notebook.render.detail import detail_data
from ane_notebook.render.graphunits import (
    COLLAPSE_ABOVE,
    UNIT_BUDGET,
    auto_expanded,
    layer_arrays,
    unit_layout,
    units,
)
from ane_notebook.render.layerband import band_columns, band_levels
from ane_notebook.render.layout import build_layout
from ane_notebook.render.optable import op_table
from ane_notebook.report import ProfileReport

A, G, C = Device.ANE, Device.GPU, Device.CPU
PARTS = ("ln", "q", "k", "softmax", "out", "up", "down", "add")


def llm_report(n_layers: int = 60, prefix: str = "model_layers_") -> ProfileReport:
    """A chain of n_layers * 8 ops named like the torch frontend; each layer's softmax on CPU."""
    names = ["embed_a", "embed_b", "embed_c"]
    devices = [A, A, A]
    for i in range(n_layers):
        for p in PARTS:
            names.append(f"{prefix}{i}_{p}_cast_fp16")
            devices.append(C if p == "softmax" else A)
    return make_report(devices, names=names, model_name="llm")


@pytest.fixture(scope="module")
def llm() -> ProfileReport:
    return llm_report()


def test_band_shows_the_layers_with_their_device_mix(llm: ProfileReport) -> None:
    built = build_layout(llm)
    spans = named(built.root, "band_layers", ColumnDataSource).data
    pieces = named(built.root, "band_pieces", ColumnDataSource).data
    tree = layer_tree(llm)
    shown = [n for n in walk(tree) if n.depth in band_levels(tree)]
    assert [f"layers_{i}" for i in range(60)] == [
        lab for lab in spans["label"] if lab.startswith("layers_")
    ]
    assert list(spans["n_ops"]) == [n.n_ops for n in shown]
    # the pieces of each span fill it exactly, one per processor with ops, CPU as wide as
    # its share (1 op of 8)
    widths = np.asarray(pieces["right"]) - np.asarray(pieces["left"])
    assert widths.sum() == pytest.approx(
        (np.asarray(spans["right"]) - np.asarray(spans["left"])).sum()
    )
    cpu = [w for w, c in zip(widths, pieces["color"], strict=True) if c == "#0072B2"]
    # (the span over all the layers has one CPU piece of 60 ops' width)
    assert sorted(cpu) == pytest.approx([1.0] * 60 + [60.0])


def test_graph_starts_collapsed_above_a_few_hundred_ops(llm: ProfileReport) -> None:
    n_rows = sum(1 for o in llm.ops if not o.is_const)
    assert n_rows > COLLAPSE_ABOVE
    built = build_layout(llm)
    layers = named(built.root, "graph_layers", ColumnDataSource).data
    nodes = named(built.root, "graph_nodes", ColumnDataSource).data
    # the 60 transformer blocks, collapsed, plus the ops outside them
    assert [lab for lab in layers["label"] if lab.startswith("layers_")] == [
        f"layers_{i}" for i in range(60)
    ]
    assert sum(layers["n_ops"]) + len(nodes["x"]) == n_rows  # every op shown exactly once
    title = named(built.root, "graph_figure", Plot).title
    assert isinstance(title, Title) and "60 layers collapsed" in str(title.text)


def test_small_models_start_with_every_layer_open() -> None:
    rep = llm_report(n_layers=5)
    built = build_layout(rep)
    assert len(named(built.root, "graph_layers", ColumnDataSource).data["id"]) == 0
    assert len(named(built.root, "graph_nodes", ColumnDataSource).data["x"]) == 43
    assert named(built.root, "graph_state", ColumnDataSource).data["all_open"] == [True]


def test_every_crossing_is_drawn_once(llm: ProfileReport) -> None:
    table = op_table(llm)
    built = build_layout(llm)
    lanes = named(built.root, "lanes_crossings", ColumnDataSource).data
    assert len(lanes["x0"]) == len(llm.crossings) == 120  # into and out of each softmax
    arrays = layer_arrays(layer_tree(llm))
    n = len(table)
    lay = unit_layout(table, arrays, 0, n, auto_expanded(arrays, 0, n), 2000)
    graph = named(built.root, "graph_crossings", ColumnDataSource).data
    pairs = {
        (int(s), int(d))
        for s, d in zip(lanes["src_row"], lanes["dst_row"], strict=True)
        if lay.unit_of[s] != lay.unit_of[d]
    }
    drawn = list(zip(graph["src_row"], graph["dst_row"], strict=True))
    assert len(drawn) == len(set(drawn)) == len(pairs)  # once each, none inside a closed layer
    labels = named(built.root, "graph_crossing_labels", ColumnDataSource).data
    assert len(labels["text"]) <= len(drawn)


def test_units_cover_the_range_in_order_and_opening_stays_in_budget() -> None:
    rep = llm_report(n_layers=120)
    table = op_table(rep)
    arrays = layer_arrays(layer_tree(rep))
    n = len(table)
    opened = auto_expanded(arrays, 0, n)
    assert opened is not None
    us = units(arrays, 0, n, opened)
    assert len(us) <= UNIT_BUDGET
    assert us[0][2] == 0 and us[-1][3] == n - 1
    assert all(a[3] + 1 == b[2] for a, b in zip(us, us[1:], strict=False))
    # a sub-range cuts layers at its edges open (they are not wholly inside)
    part = units(arrays, 5, 30, set())
    assert part[0][2] == 5 and part[-1][3] == 29
    assert all(u[0] < 0 or (u[2] >= 5 and u[3] < 30) for u in part)
    # opening a layer replaces it by its ops
    closed = [u for u in us if u[0] >= 0]
    more = units(arrays, 0, n, opened | {closed[0][0]})
    assert len(more) == len(us) - 1 + (closed[0][3] - closed[0][2] + 1)


def test_search_and_detail_are_wired(llm: ProfileReport) -> None:
    built = build_layout(llm)
    search = named(built.root, "search", TextInput)
    callbacks = search.js_property_callbacks["change:value_input"]
    assert isinstance(callbacks[0], CustomJS)
    assert callbacks[0].args["ops"] is named(built.root, "lanes_ops", ColumnDataSource)
    assert "Click an op" in named(built.root, "op_detail", Div).text


def test_detail_data_codes_fixes_and_hazards(llm: ProfileReport) -> None:
    table = op_table(llm)
    d = detail_data(llm, table)
    live = [llm.ops[int(i)] for i in table.rows]
    for k, r in enumerate(live):
        assert d.fixes[int(d.source.data["fix"][k])] == html.escape(fix_for(r), quote=True)
    assert set(d.hazard_rows.tolist()) == {
        int(table.row_of[i]) for i in llm.hazards_by_op() if table.row_of[i] >= 0
    }


def test_hostile_layer_names_are_escaped_everywhere() -> None:
    prefix = HOSTILE[0] + "_layers_"
    rep = llm_report(n_layers=40, prefix=prefix)
    built = build_layout(rep)
    raw = HOSTILE[0]
    texts = []
    for name, cols in (
        ("band_layers", ("label", "name", "text")),
        ("graph_layers", ("label", "name", "text")),
        ("graph_layers_all", ("label", "name")),
    ):
        data = named(built.root, name, ColumnDataSource).data
        for c in cols:
            texts += [str(t) for t in data[c]]
    assert any("&lt;img" in t for t in texts)
    assert not any(raw in t or "<img" in t for t in texts)
    table = op_table(rep)
    d = detail_data(rep, table)
    assert not any("<img" in t for t in d.fixes + d.rules)
    tree = layer_tree(rep)
    _, spans = band_columns(tree, len(table))
    assert not any("<" in t for t in spans["label"])


def test_graph_nodes_show_op_type_and_short_name() -> None:
    rep = llm_report(n_layers=3)
    built = build_layout(rep)
    labels = list(named(built.root, "graph_nodes", ColumnDataSource).data["label"])
    # type, then the name's tail without the converter's cast suffix
    assert labels[:5] == ["conv embed_a", "relu embed_b", "gather embed_c", "add 0_ln", "topk 0_q"]
    assert not any("fp16" in lab for lab in labels)


def test_a_long_level_still_opens_past_a_single_box() -> None:
    # 200 blocks under one root: over the budget, but one "model_layers" box would say nothing
    rep = llm_report(n_layers=200)
    table = op_table(rep)
    arrays = layer_arrays(layer_tree(rep))
    us = units(arrays, 0, len(table), auto_expanded(arrays, 0, len(table)))
    assert len([u for u in us if u[0] >= 0]) >= 200 > UNIT_BUDGET


def test_hazards_get_a_marker_and_reach_the_detail_panel_escaped() -> None:
    from dataclasses import replace

    from ane_notebook.placement.devices import Evidence
    from ane_notebook.placement.result import Hazard

    base = llm_report(n_layers=3)
    at = next(o for o in base.ops if o.name.endswith("1_softmax_cast_fp16"))
    hz = Hazard("sdpa_mask", HOSTILE[0] + " mask", Evidence.OFFICIAL, "a source", (at.index,))
    rep = replace(base, hazards=(hz,))
    built = build_layout(rep)
    marks = named(built.root, "lanes_hazards", ColumnDataSource).data
    row = int(op_table(rep).row_of[at.index])
    assert list(marks["x"]) == [row]
    assert "&lt;img" in marks["hazard"][0] and "<img" not in marks["hazard"][0]
    d = detail_data(rep, op_table(rep))
    assert d.hazard_rows.tolist() == [row]
    assert d.hazards[int(d.source.data["hazard"][row])] == marks["hazard"][0]
    # without hazards, no marker source at all
    assert build_layout(base).root.select_one({"name": "lanes_hazards"}) is None


def test_chain_labels_are_slanted_enough_not_to_touch() -> None:
    """At the most depths that still get labels, neighbours' slanted labels must lie more than
    a 7pt line apart (d * sin(angle)) in the ~950 px frame of a 1100 px page; a chain takes the
    steep slant, a layout with several rows the shallow one (which hangs less into the rows
    below)."""
    import math

    from bokeh.models.annotations import LabelSet

    from ane_notebook.render import graph

    frame_px = 950
    line_px = graph.GRAPH_LABEL_FONT_PT * 96 / 72  # CSS: 96 px per 72 pt
    spacing = frame_px / graph.MAX_GRAPH_LABEL_LAYERS
    assert spacing * math.sin(graph.GRAPH_LABEL_ANGLE_CHAIN) > line_px

    def angle(rep: ProfileReport) -> float:
        built = build_layout(rep)
        labels = named(built.root, "graph_labels", LabelSet)
        assert labels.visible
        return float(labels.angle)  # type: ignore[arg-type]

    assert angle(llm_report(n_layers=3)) == -graph.GRAPH_LABEL_ANGLE_CHAIN  # a chain
    from ane_notebook import profile

    assert angle(profile("example:transformer")) == -graph.GRAPH_LABEL_ANGLE_ROWS  # branches
