"""The lane view's fast paths (GitHub issue 14) against the per-op code they replaced, kept here
as the reference: the op table's rows and record columns, the segment bars, the crossing rows
and the crossing-group columns. Each is compared on reports chosen to reach every branch:
empty, one op, const only, ops with no device, several outputs or none, unknown shapes, several
functions, reused crossings, hostile names, compute-unit settings of an example, and a report
whose records do not sit at their index."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from graphs import chain
from test_crossings_view import skip_report
from test_render import A, C, G, _place, hostile_report, make_report, with_const
from test_render_fastpaths import _simple_columns

import ane_notebook as an
from ane_notebook.model.graph import Graph, TensorInfo
from ane_notebook.placement.devices import ComputeUnits
from ane_notebook.placement.result import Placement
from ane_notebook.render.crossing_labels import (
    CrossingGroup,
    LabelBox,
    _slots,
    label_size,
    place_labels,
)
from ane_notebook.render.lane_crossings import (
    _edges,
    crossing_columns,
    crossing_groups,
    label_columns,
)
from ane_notebook.render.lanes import _segment_columns
from ane_notebook.render.optable import (
    LANE_Y,
    _all_str,
    _Escaper,
    _reason_column,
    lane_ys,
    op_table,
)
from ane_notebook.report import ProfileReport
from ane_notebook.textreport import fmt_bytes, fmt_ms, fmt_shape


def _build(g: Graph, devices: list[Any]) -> ProfileReport:
    g = with_const(g, consumer=1) if g.ops else g
    placed = [_place(None, 0, const=True)] if g.ops else []
    placed += [_place(d, i) for i, d in enumerate(devices)]
    return ProfileReport.from_placement(g, Placement("estimate", ComputeUnits.ALL, "M1", placed))


def _outputs_report() -> ProfileReport:
    """Several outputs (more than the tooltip lists), none, one named otherwise, unknown
    shapes and dims, an op with no device, a reused crossing."""
    g = chain(["conv", "split", "relu", "topk", "add", "concat", "conv"])
    ops = list(g.ops)
    many = tuple(TensorInfo(f"part<{k}>", (1, k), "fp16") for k in range(6))
    ops[1] = replace(ops[1], outputs=(ops[1].outputs[0], *many))
    ops[2] = replace(ops[2], outputs=(TensorInfo("other&name", (1, None, 3), "fp32"),))
    ops[3] = replace(ops[3], outputs=())
    ops[4] = replace(ops[4], outputs=(TensorInfo(ops[4].name, None, "int32"),))
    ops[5] = replace(ops[5], inputs=(ops[4].name, "part<2>", "part<3>"))
    ops[6] = replace(ops[6], inputs=(ops[5].name, "part<2>", ops[0].name))
    return _build(replace(g, ops=tuple(ops)), [A, C, G, None, A, C, A])


def _functions_report() -> ProfileReport:
    rep = make_report([A, C, G, A, C, A])
    fns = ["main", "main", "decode", "decode", "main", "x</script>"]
    ops = [replace(o, function=fns[o.index % len(fns)]) for o in rep.ops]
    return replace(rep, ops=tuple(ops))


def _shuffled_index_report() -> ProfileReport:
    """Records that do not sit at their `index`: a row is still its record's index."""
    rep = make_report([A, C, G, A])
    ops = list(rep.ops)
    ops[1], ops[2] = replace(ops[1], index=2), replace(ops[2], index=1)
    return replace(rep, ops=tuple(ops))


@pytest.fixture(scope="module")
def reports() -> list[ProfileReport]:
    example = "example:transformer"
    return [
        _build(Graph("empty", "mlprogram", (), (), ()), []),
        _build(chain(["conv"]), [A]),
        _build(chain([]), []),  # const ops only
        make_report([None, None, A]),
        make_report(),
        make_report([A, C, G, A, None, C] * 12),
        _outputs_report(),
        _functions_report(),
        hostile_report(),
        skip_report(),
        *(an.profile(example, compute_units=u) for u in ("ALL", "CPU_AND_NE", "CPU_ONLY")),
    ]


def _plain(cols: Mapping[str, Any]) -> dict[str, Any]:
    """Columns as lists, with the dtype of each array (the page encodes arrays by dtype)."""
    return {
        k: (v.dtype.str, v.tolist()) if isinstance(v, np.ndarray) else list(v)
        for k, v in cols.items()
    }


# --- the reference: the per-op code the fast paths replaced -----------------------------------


def _op_names(report: ProfileReport, ops: list[int], esc: _Escaper) -> list[str]:
    return [esc(report.ops[i].name) for i in ops]


def _simple_segments(report: ProfileReport, row_of: np.ndarray, lane_y: Any) -> dict[str, Any]:
    segs = report.segments
    n = len(segs)
    esc = _Escaper()
    seg_y = np.fromiter((lane_y[s.device.value] for s in segs), dtype=np.float64, count=n)
    return {
        "left": np.fromiter((row_of[s.start] for s in segs), dtype=np.float64, count=n) - 0.5,
        "right": np.fromiter((row_of[s.end] for s in segs), dtype=np.float64, count=n) + 0.5,
        "bottom": seg_y - 0.38,
        "top": seg_y + 0.38,
        "device": [s.device.value for s in segs],
        "segment": np.fromiter((s.index for s in segs), dtype=np.int32, count=n),
        "n_ops": np.fromiter((s.n_ops for s in segs), dtype=np.int32, count=n),
        "time": [fmt_ms(s.est_time_ms) for s in segs],
        "first": _op_names(report, [s.start for s in segs], esc),
        "last": _op_names(report, [s.end for s in segs], esc),
    }


def _simple_crossings(
    report: ProfileReport, row_of: np.ndarray, lane_y: Any, groups: list[CrossingGroup], of: Any
) -> dict[str, Any]:
    xs = report.crossings
    esc = _Escaper()
    m = len(xs)
    lane0 = np.fromiter((lane_y[c.src_device.value] for c in xs), dtype=np.float64, count=m)
    lane1 = np.fromiter((lane_y[c.dst_device.value] for c in xs), dtype=np.float64, count=m)
    y0, y1 = _edges(lane0, lane1)
    bx = np.fromiter((groups[g].x for g in of), dtype=np.float64, count=m)
    return {
        "x0": bx,
        "y0": y0,
        "x1": bx.copy(),
        "y1": y1,
        "src_row": np.fromiter((row_of[c.src] for c in xs), np.int64, m).astype(np.int32),
        "dst_row": np.fromiter((row_of[c.dst] for c in xs), np.int64, m).astype(np.int32),
        "group": np.asarray(of, dtype=np.int32),
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
        "bytes": np.fromiter((c.bytes for c in xs), dtype=np.float64, count=m),
        "bytes_text": [
            fmt_bytes(c.bytes) if c.moved else f"{fmt_bytes(c.bytes)} (not counted again)"
            for c in xs
        ],
        "cost_ms": np.fromiter((c.est_cost_ms for c in xs), dtype=np.float64, count=m),
        "cost": [fmt_ms(c.est_cost_ms) for c in xs],
        "src_name": [esc(report.ops[c.src].name) for c in xs],
        "dst_name": [esc(report.ops[c.dst].name) for c in xs],
    }


def _simple_group_columns(groups: list[CrossingGroup], lane_y: Any) -> dict[str, Any]:
    lane0 = np.asarray([lane_y[g.src_device] for g in groups], dtype=np.float64)
    lane1 = np.asarray([lane_y[g.dst_device] for g in groups], dtype=np.float64)
    y0, y1 = _edges(lane0, lane1)
    return {
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


# --- the fast paths against it -----------------------------------------------------------------


def test_rows_are_the_indices_of_the_ops_that_run(reports: list[ProfileReport]) -> None:
    for rep in [*reports, _shuffled_index_report()]:
        table = op_table(rep)
        rows = [r.index for r in rep.ops if not r.is_const]
        assert table.rows.dtype == np.int64 and table.rows.tolist() == rows
        assert list(table.fields.records) == [rep.ops[i] for i in rows]
        want_row_of = np.full(len(rep.ops), -1)
        want_row_of[rows] = np.arange(len(rows))
        assert table.row_of.tolist() == want_row_of.tolist()


def test_op_table_columns_are_the_simple_ones_on_varied_reports(
    reports: list[ProfileReport],
) -> None:
    seen = set()
    for rep in [*reports, _shuffled_index_report()]:
        table = op_table(rep)
        want = _simple_columns(rep)
        got = {k: np.asarray(v).tolist() for k, v in table.columns.items() if k in want}
        assert got == {k: np.asarray(v).tolist() for k, v in want.items()}
        seen.update(k for k in ("function", "estimate") if k in table.columns)
    assert seen == {"function"}  # the several-functions report was there


def test_segment_bars_are_the_simple_ones(reports: list[ProfileReport]) -> None:
    for rep in reports:
        table = op_table(rep)
        lane_y = lane_ys(table.columns["device"])
        want = _simple_segments(rep, table.row_of, lane_y)
        assert _plain(_segment_columns(rep, table, lane_y)) == _plain(want)


def test_crossing_rows_are_the_simple_ones(reports: list[ProfileReport]) -> None:
    reused = 0
    for rep in reports:
        table = op_table(rep)
        for lane_y in (lane_ys(table.columns["device"]), LANE_Y):
            groups, of = crossing_groups(rep, table)
            want = _simple_crossings(rep, table.row_of, lane_y, groups, of)
            assert _plain(crossing_columns(rep, table, lane_y)) == _plain(want)
        reused += sum(not c.moved for c in rep.crossings)
    assert reused  # a reused crossing was among them


def test_crossing_group_columns_are_the_simple_ones(reports: list[ProfileReport]) -> None:
    for rep in reports:
        table = op_table(rep)
        lane_y = lane_ys(table.columns["device"])
        grouped = crossing_groups(rep, table)
        groups, _ = label_columns(rep, table, lane_y, (-1.0, max(len(table), 1.0)))
        assert _plain(groups) == _plain(_simple_group_columns(grouped[0], lane_y))


def test_a_groups_text_is_made_once_and_is_its_own() -> None:
    g = CrossingGroup(row=3, src_device="ANE", dst_device="CPU", members=(0, 1), n_paid=1,
                      n_reused=1, bytes=2048, cost_ms=0.25)  # fmt: skip
    assert g.text == "2.0 KB · 0.250 ms (+1 reused)"
    assert g.text is g.text
    assert g == replace(g)  # the cached text is no field: equality is the fields'


def _simple_place_labels(
    groups: list[CrossingGroup],
    lane_y: Mapping[str, float],
    x_range: tuple[float, float],
    max_labels: int,
    plot_px: float,
    px_per_y: float,
) -> list[LabelBox | None]:
    """`place_labels` before issue 14: every bucket a label spans looked in, a box per try."""
    lo, hi = x_range
    px_per_x = plot_px / max(hi - lo, 1e-9)
    lanes = sorted(set(lane_y.values()))
    out: list[LabelBox | None] = [None] * len(groups)
    order = sorted(range(len(groups)), key=lambda i: (-groups[i].cost_ms, -groups[i].n_paid, i))
    placed: dict[int, list[LabelBox]] = {}
    bucket_w = max((hi - lo) / 200, 1e-9)
    for i in order[:max_labels]:
        g = groups[i]
        half_w, half_h = label_size(g.text, px_per_x, px_per_y)
        if 2 * half_w > hi - lo:
            continue
        for cy in _slots(lane_y[g.src_device], lane_y[g.dst_device], lanes):
            box = None
            for cx in (g.x, g.x + half_w, g.x - half_w):
                cx = min(max(cx, lo + half_w), hi - half_w)
                b0, b1 = int((cx - half_w - lo) // bucket_w), int((cx + half_w - lo) // bucket_w)
                try_box = LabelBox(cx, cy, half_w, half_h)
                if not any(
                    try_box.overlaps(o) for b in range(b0, b1 + 1) for o in placed.get(b, ())
                ):
                    box = try_box
                    break
            if box is not None:
                out[i] = box
                b0 = int((box.cx - half_w - lo) // bucket_w)
                b1 = int((box.cx + half_w - lo) // bucket_w)
                for b in range(b0, b1 + 1):
                    placed.setdefault(b, []).append(box)
                break
    return out


def test_label_places_are_those_of_the_bucket_walk(reports: list[ProfileReport]) -> None:
    placed_counts = set()
    for rep in [*reports, make_report([A, C, G, A, None, C, G, G, A] * 40)]:
        table = op_table(rep)
        groups, _ = crossing_groups(rep, table)
        for lane_y in (lane_ys(table.columns["device"]), LANE_Y):
            n = max(len(table), 1.0)
            for x_range in ((-1.0, n), (-1.0, 2.0), (0.3 * n, 0.6 * n)):
                for plot_px, cap in ((900.0, 200), (20_000.0, 10_000), (300.0, 3)):
                    want = _simple_place_labels(groups, lane_y, x_range, cap, plot_px, 50.0)
                    got = place_labels(groups, lane_y, x_range, cap, plot_px, 50.0)
                    assert got == want
                    placed_counts.add(sum(b is not None for b in got))
    assert max(placed_counts) > 50  # many boxes placed: both ways of looking were taken


class _Str(str):
    def __str__(self) -> str:
        return "other"


@pytest.mark.parametrize(
    "reasons",
    [
        [],
        [""],
        ["a", "", "a", "b<c>", "", "x" * 500, "line\nbreak", "\u202eevil"] * 3,
        ["a", None, "", 0, 1, True, 2.5],  # not all str: the per-value path
        ["a", _Str("sub"), ""],  # a str subclass is turned into text by str()
    ],
)
def test_reason_column_is_the_escaper_of_each_or_a_dash(reasons: list[Any]) -> None:
    want = [_Escaper(400)(r or "—") for r in reasons]
    assert _reason_column(reasons, _Escaper(400)) == want
    warm = _Escaper(400)
    warm("")  # a cache that already holds the empty text: the blank still shows a dash
    assert _reason_column(reasons, warm) == want
    assert _all_str(reasons) == (set(map(type, reasons)) <= {str})
