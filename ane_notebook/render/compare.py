"""Comparing placements of one model: stacked lanes, changed ops highlighted, a summary table."""

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

from ..escape import html_text, plain
from ..placement.devices import DEVICE_ORDER
from ..report import ProfileReport
from ..textreport import fmt_bytes, fmt_ms
from .optable import LANE_HEIGHT_PX, LANE_NAME, LANE_Y, _color_mapper, _Escaper, placement_label
from .palette import (
    CHANGED_COLOR,
    UNKNOWN,
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
    return (
        '<h3 style="margin:4px 0">Compare placements</h3>'
        '<table style="border-collapse:collapse;font:12px sans-serif">'
        f"<thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
