"""Comparing placements: stacked lanes aligned by op name, the ops placed otherwise than in the
best setting highlighted, a summary table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from bokeh.models import (
    BoxZoomTool,
    ColumnDataSource,
    FixedTicker,
    HoverTool,
    PanTool,
    Range1d,
    ResetTool,
    SaveTool,
    WheelZoomTool,
)
from bokeh.models.annotations import Span
from bokeh.plotting import figure

from ..compareset import Alignment, align, best_label, differs_from_best
from ..escape import html_text, plain
from ..placement.devices import DEVICE_ORDER
from ..report import ProfileReport
from ..textreport import fmt_bytes, fmt_ms, timings_text
from .optable import (
    LANE_HEIGHT_PX,
    LANE_NAME,
    LANE_Y,
    _color_mapper,
    _Escaper,
    lane_ys,
    placement_label,
)
from .palette import (
    CHANGED_COLOR,
    OUTPUT_BACKEND,
    UNKNOWN,
)
from .summaries import summary_of

# --- compare view -------------------------------------------------------------------------


def changed_rows(reports: Mapping[str, ProfileReport]) -> np.ndarray:
    """Rows (of `compareset.align`) whose op runs on different processors in some reports."""
    alignment = align(reports)
    reps = list(reports.items())
    rows = []
    for k in range(len(alignment)):
        devs = {
            UNKNOWN if o.device is None else o.device.value
            for label, rep in reps
            if (o := alignment.op(rep, label, k)) is not None
        }
        if len(devs) > 1:
            rows.append(k)
    return np.asarray(rows, dtype=np.int64)


_OP_COLUMNS = (
    "x",
    "y",
    "device",
    "setting",
    "name",
    "op_type",
    "reason",
    "time",
    "differs",
    "best_device",
)


def _rows_text(alignment: Alignment) -> str:
    n = len(alignment)
    in_all = sum(all(at[k] >= 0 for at in alignment.index.values()) for k in range(n))
    if in_all == n:
        return f"{n} ops"
    return f"{n} ops, {in_all} of them in every report (matched by name)"


def compare_figure(reports: Mapping[str, ProfileReport], best: str | None = None) -> Any:
    """Lanes of several placements stacked, one band per report (compute-unit settings, chips,
    or two versions of a model: rows are aligned by op name, `compareset.align`). In each band
    the ops placed on another processor than in the `best` setting (default: the lowest total,
    `compareset.best_label`) are highlighted; the best band is marked."""
    if not reports:
        raise ValueError("compare_figure needs at least one report")
    reps = list(reports.items())
    best = best if best is not None else best_label(reports)
    alignment = align(reports)
    differ = {k: set(v) for k, v in differs_from_best(reports, alignment, best).items()}
    n = len(alignment)
    esc = _Escaper()
    # The lanes of the processors some report uses (as in the lane view: no empty lane).
    lane_y = lane_ys(
        [
            UNKNOWN if r.device is None else r.device.value
            for _, rep in reps
            for r in rep.ops
            if not r.is_const
        ]
    )
    lanes = sorted(lane_y.values(), reverse=True)
    lane_name = {y: LANE_NAME[LANE_Y[d]].split()[0] for d, y in lane_y.items()}
    band = len(lanes) + 0.8  # height of one report's band, with a gap
    best_rep, best_at = reports[best], alignment.index[best]

    cols: dict[str, list[Any]] = {k: [] for k in _OP_COLUMNS}
    hl: dict[str, list[Any]] = {k: [] for k in ("x", "y", "name", "setting", "best_device")}
    ticks: list[float] = []
    overrides: dict[float, str] = {}
    for b, (label, rep) in enumerate(reps):
        base = -b * band
        lab = esc(plain(str(label), 40)) + (" ★" if label == best else "")
        for y in lanes:
            tick = round(base + y, 6)
            ticks.append(tick)
            # Axis labels are canvas text (never parsed as HTML); escaped like every model or
            # user string anyway, so no raw markup is anywhere in the document.
            overrides[tick] = f"{lab} · {lane_name[y]}"
        at = alignment.index[label]
        for k in range(n):
            if at[k] < 0:
                continue  # not in this report (another version of the model)
            r = rep.ops[at[k]]
            ref = best_rep.ops[best_at[k]] if best_at[k] >= 0 else None
            dev = UNKNOWN if r.device is None else r.device.value
            ref_dev = "—" if ref is None else (UNKNOWN if ref.device is None else ref.device.value)
            cols["x"].append(float(k))
            cols["y"].append(base + lane_y[dev])
            cols["device"].append(dev)
            cols["setting"].append(lab)
            cols["name"].append(esc(r.name))
            cols["op_type"].append(esc(r.op_type))
            cols["reason"].append(esc(r.reason or "—"))
            cols["time"].append(fmt_ms(r.est_time_ms))
            cols["differs"].append("yes" if k in differ[label] else "no")
            cols["best_device"].append(ref_dev)
            if k in differ[label]:
                hl["x"].append(float(k))
                hl["y"].append(base + (max(lanes) + min(lanes)) / 2)
                hl["name"].append(esc(r.name))
                hl["setting"].append(lab)
                hl["best_device"].append(ref_dev)
    src = ColumnDataSource(cols, name="compare_ops")
    hl_src = ColumnDataSource(hl, name="compare_changed")
    top = max(lanes) + 0.6
    bottom = -(len(reps) - 1) * band + min(lanes) - 0.6
    mapper = _color_mapper()
    lo, hi = -1.0, max(float(n), 1.0)
    fig = figure(
        height=int(LANE_HEIGHT_PX * 0.7 * len(ticks)) + 90,
        sizing_mode="stretch_width",
        x_range=Range1d(start=lo, end=hi, bounds=(lo, hi)),
        y_range=Range1d(start=bottom, end=top),
        output_backend=OUTPUT_BACKEND,
        toolbar_location="above",
        tools=[],
        name="compare_figure",
        title=f"{_rows_text(alignment)}; highlighted where placed otherwise than in "
        f"{plain(best, 40)} ★ (the best); placement {placement_label(best_rep.source)}",
    )
    # No hover of its own: the op tooltip says where the best setting runs the op.
    fig.rect(
        x="x",
        y="y",
        width=1.0,
        height=len(lanes) - 0.3,
        source=hl_src,
        fill_color=CHANGED_COLOR,
        fill_alpha=0.3,
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
                ("in the best setting", "@best_device"),
            ],
        ),
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
        s = summary_of(rep)
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
