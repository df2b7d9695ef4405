"""Readable crossings in the lane view (issue 11 §2): each crossing drawn once at the boundary
where its consumer's segment starts, one label per boundary, labels that never overlap or clip
(their boxes estimated from character count and font size), reused edges drawn apart, and the
same byte count in the labels and the header."""

from __future__ import annotations

import os
from dataclasses import replace
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from bokeh.models import ColumnDataSource, IndexFilter
from graphs import chain
from test_render import A, C, G, _place, make_report, renderer, source_of, with_const

import ane_notebook as an
from ane_notebook.model.examples import list_examples
from ane_notebook.placement.devices import ComputeUnits
from ane_notebook.placement.result import Placement
from ane_notebook.render.crossing_labels import CHAR_EM, FONT_PX, group_crossings, place_labels
from ane_notebook.render.diagram import (
    LANE_Y,
    MAX_CROSSING_LABELS,
    header_html,
    lanes_figure,
    op_table,
)
from ane_notebook.report import ProfileReport
from ane_notebook.textreport import fmt_bytes

Box = tuple[float, float, float, float]  # left, right, bottom, top (data units)


def label_boxes(fig: Any) -> list[Box]:
    src = fig.select_one({"name": "lanes_crossing_label_boxes"})
    if src is None:
        return []
    assert isinstance(src, ColumnDataSource)
    d = src.data
    return list(zip(d["left"], d["right"], d["bottom"], d["top"], strict=True))


def assert_readable(fig: Any) -> int:
    """No two label boxes intersect and none sticks out of the figure; returns the count."""
    boxes = label_boxes(fig)
    for a, b in combinations(boxes, 2):
        apart = a[1] <= b[0] or b[1] <= a[0] or a[3] <= b[2] or b[3] <= a[2]
        assert apart, (a, b)
    xr, yr = fig.x_range, fig.y_range
    for left, right, bottom, top in boxes:
        assert xr.start <= left < right <= xr.end
        assert yr.start <= bottom < top <= yr.end
    return len(boxes)


def skip_report() -> ProfileReport:
    """op0 (ANE) feeds op1 (CPU) and op3 (CPU) with op2 (ANE) between: the tensor reaches the
    CPU for op1; op3 reuses it (no cost), and also reads op2's output (paid)."""
    g = chain(["conv", "topk", "conv", "concat"])
    ops = list(g.ops)
    ops[3] = replace(ops[3], inputs=ops[3].inputs + (ops[0].outputs[0].name,))
    g = with_const(replace(g, ops=tuple(ops)), consumer=1)
    placed = [_place(None, 0, const=True)] + [_place(d, i) for i, d in enumerate([A, C, A, C])]
    return ProfileReport.from_placement(
        g, Placement("estimate", ComputeUnits.ALL, "M1", tuple(placed))
    )


def test_every_crossing_is_drawn_once_at_its_consumers_segment_boundary() -> None:
    report = make_report()
    fig = lanes_figure(report)
    src = source_of(fig, "lanes_crossings_glyph")
    assert len(report.crossings) > 3 and len(src.data["x0"]) == len(report.crossings)
    table = op_table(report)
    starts = sorted(int(table.row_of[s.start]) for s in report.segments)
    for c, x0, x1, y0, y1 in zip(
        report.crossings,
        src.data["x0"],
        src.data["x1"],
        src.data["y0"],
        src.data["y1"],
        strict=True,
    ):
        src_row, dst_row = table.row_of[c.src], table.row_of[c.dst]
        seg_start = max(s for s in starts if s <= dst_row)
        assert x0 == x1 == seg_start - 0.5  # vertical, at the consumer segment's left edge
        assert src_row < x0 < dst_row
        a, b = LANE_Y[c.src_device.value], LANE_Y[c.dst_device.value]
        assert abs(y0 - a) < 0.5 and abs(y1 - b) < 0.5  # from one lane to the other
    # drawn once: the paid and the reused glyphs split the crossings between them
    views = [renderer(fig, n).view.filter for n in ("lanes_crossings_glyph", "lanes_reused_glyph")]
    assert all(isinstance(v, IndexFilter) for v in views)
    paid, reused = (list(v.indices) for v in views)  # type: ignore[union-attr]
    assert sorted(paid + reused) == list(range(len(report.crossings)))
    assert paid == [i for i, c in enumerate(report.crossings) if c.moved]


def test_ane_to_cpu_connectors_pass_no_gpu_op() -> None:
    report = make_report([A, A, G, G, C, A, C, A, G, C, A, C])
    fig = lanes_figure(report)
    xs = source_of(fig, "lanes_crossings_glyph").data
    ops = source_of(fig, "lanes_ops_glyph").data
    segs = source_of(fig, "lanes_segments_glyph").data
    gpu_ops = [x for x, d in zip(ops["x"], ops["device"], strict=True) if d == "GPU"]
    gpu_bars = [
        (left, right)
        for left, right, d in zip(segs["left"], segs["right"], segs["device"], strict=True)
        if d == "GPU"
    ]
    ane_cpu = [
        x
        for x, a, b in zip(xs["x0"], xs["src_device"], xs["dst_device"], strict=True)
        if {a, b} == {"ANE", "CPU"}
    ]
    assert ane_cpu, "the example must have ANE<->CPU crossings"
    for x in ane_cpu:
        assert all(abs(x - g) >= 0.5 for g in gpu_ops)  # between boxes (0.8 wide), never on one
        assert all(not (left < x < right) for left, right in gpu_bars)


def test_an_empty_processor_gets_no_lane_so_crossings_join_neighbouring_lanes() -> None:
    report = make_report([A, A, C, A, C, C, A, A, C, A, A, A], units=ComputeUnits.CPU_AND_NE)
    fig = lanes_figure(report)
    assert set(fig.yaxis[0].major_label_overrides.values()) == {"ANE", "CPU"}
    ops = source_of(fig, "lanes_ops_glyph").data
    assert {d: y for d, y in zip(ops["device"], ops["y"], strict=True)} == {"ANE": 1, "CPU": 0}
    xs = source_of(fig, "lanes_crossings_glyph").data
    assert len(xs["x0"]) == len(report.crossings) > 0
    for y0, y1 in zip(xs["y0"], xs["y1"], strict=True):
        assert abs(y1 - y0) < 1  # box edge to box edge of two neighbouring lanes
    assert fig.y_range.end - fig.y_range.start < 3  # two lanes tall, not three
    assert_readable(fig)


def test_reused_edges_are_drawn_apart_and_not_counted_twice() -> None:
    report = skip_report()
    reused = [c for c in report.crossings if not c.moved]
    assert len(reused) == 1 and reused[0].est_cost_ms == 0
    fig = lanes_figure(report)
    glyph = renderer(fig, "lanes_reused_glyph").glyph
    paid_glyph = renderer(fig, "lanes_crossings_glyph").glyph
    assert glyph.line_dash != paid_glyph.line_dash and glyph.line_color != paid_glyph.line_color
    groups = source_of(fig, "lanes_crossings_glyph")  # per crossing: says reused in the hover
    assert "reused" in groups.data["paid_text"][report.crossings.index(reused[0])]
    texts = fig.select_one({"name": "lanes_crossing_label_boxes"}).data["text"]
    assert any("(+1 reused)" in t for t in texts)


@pytest.mark.parametrize("report", [make_report(), skip_report()], ids=["mixed", "skip"])
def test_labels_and_header_count_the_same_bytes(report: ProfileReport) -> None:
    fig = lanes_figure(report)
    groups = fig.select_one({"name": "lanes_crossing_groups"})
    s = report.summary()
    assert sum(groups.data["bytes"]) == s.crossing_bytes
    assert sum(groups.data["n_paid"]) + sum(groups.data["n_reused"]) == s.n_crossings
    header = header_html(report)
    assert fmt_bytes(s.crossing_bytes) in header
    # every group's label is shown here (few crossings), with its paid bytes
    labels = fig.select_one({"name": "lanes_crossing_label_boxes"}).data
    assert sorted(labels["bytes"]) == sorted(groups.data["bytes"])
    for text, nbytes in zip(labels["text"], labels["bytes"], strict=True):
        assert nbytes == 0 or fmt_bytes(nbytes) in text


def test_label_boxes_follow_the_text_length() -> None:
    report = make_report()
    fig = lanes_figure(report)
    d = fig.select_one({"name": "lanes_crossing_label_boxes"}).data
    px_per_x = 900 / (fig.x_range.end - fig.x_range.start)
    for text, left, right in zip(d["text"], d["left"], d["right"], strict=True):
        assert (right - left) * px_per_x >= len(text) * CHAR_EM * FONT_PX


def test_crowded_labels_are_left_out_rather_than_overlapping() -> None:
    many = make_report([A, C] * (MAX_CROSSING_LABELS // 2 + 2))
    assert len(many.crossings) > MAX_CROSSING_LABELS
    fig = lanes_figure(many)
    shown = assert_readable(fig)
    assert 0 < shown < len(many.crossings)  # some fit, the rest are left to the hover
    # crowded only because the figure is narrow: a wide one fits more
    table = op_table(many)
    starts = [int(table.row_of[s.start]) for s in many.segments]
    groups, _ = group_crossings(many.crossings, table.row_of, starts)
    lane_y = {k: float(v) for k, v in LANE_Y.items()}
    x_range = (fig.x_range.start, fig.x_range.end)
    narrow = place_labels(groups, lane_y, x_range, 10_000, plot_px=900)
    wide = place_labels(groups, lane_y, x_range, 10_000, plot_px=20_000)
    assert sum(b is not None for b in narrow) < sum(b is not None for b in wide)


def test_labels_stay_inside_the_figure_at_the_edges() -> None:
    # a crossing into the very last op and one out of the very first: labels pulled inside
    report = make_report([C, A, A, A, A, A, A, A, A, A, A, C])
    fig = lanes_figure(report)
    assert assert_readable(fig) == 2


@pytest.mark.parametrize("name", [n for n, _ in list_examples()])
@pytest.mark.parametrize("units", ["ALL", "CPU_AND_GPU", "CPU_AND_NE"])
def test_no_two_labels_intersect_on_the_examples(name: str, units: str) -> None:
    report = an.profile(f"example:{name}", compute_units=units, backend="estimate")
    shown = assert_readable(lanes_figure(report))
    assert shown >= min(len(report.crossings), 1)  # a label where there is a crossing


def _benchmark_10k() -> Path:
    user = Path(os.path.expanduser("~/.cache/ane_notebook/benchmarks"))
    found = sorted(user.glob("llm_10k-*.mlpackage"))
    if found:
        return found[-1]
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from models import model_path  # benchmarks/models.py: builds and caches it (~1 min)

    return model_path("10k")


@pytest.mark.slow
def test_no_two_labels_intersect_on_the_10k_benchmark() -> None:
    report = an.profile(_benchmark_10k(), compute_units="ALL", backend="estimate")
    assert len(report.crossings) > 100
    fig = lanes_figure(report)
    shown = assert_readable(fig)
    assert shown > 0
