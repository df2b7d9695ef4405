"""The Xcode-style "Compute Unit Mapping" bar: share of ops and of estimated time per processor.

The time row shares out the whole estimated prediction: each processor's ops, the crossings,
and (when the summary has them) the dispatches into each segment's processor and the model's
inputs and outputs, so the row adds up to the total the title and the header give."""

from __future__ import annotations

from typing import Any

from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    Range1d,
)
from bokeh.models.annotations import LabelSet
from bokeh.plotting import figure

from ..placement.devices import DEVICE_ORDER, Device
from ..report import ProfileReport
from ..textreport import fmt_ms
from .optable import placement_label
from .palette import (
    CROSSING_COLOR,
    DEVICE_COLORS,
    DISPATCH_COLOR,
    IO_COLOR,
)
from .summaries import summary_of

_LIGHT = {DEVICE_COLORS[Device.GPU], DISPATCH_COLOR, IO_COLOR}

MAPPING_HEIGHT_PX = 150

# --- mapping bar --------------------------------------------------------------------------


def mapping_columns(report: ProfileReport) -> dict[str, Any]:
    """The mapping bar's data: one piece per (row, device), plus crossings in the time row."""
    s = summary_of(report)
    ops_row = f"ops (placement {placement_label(report.source)})"
    time_row = "time (estimated)"
    total_ops = max(s.n_ops, 1)
    # The time row shares out the whole one-prediction total: ops, crossings, dispatches into
    # each segment's processor and model I/O (the last two when the summary has them).
    bar_ms = (
        sum(t.est_time_ms for t in s.per_device.values()) + s.crossing_ms + s.launch_ms + s.io_ms
    )
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
        # Dark text on the light colours, white on the darker ones (contrast).
        cols["text_color"].append("#222222" if color in _LIGHT else "white")
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
    for name, count, ms, color in (
        ("crossings", s.n_crossings, s.crossing_ms, CROSSING_COLOR),
        ("dispatches", s.n_segments, s.launch_ms, DISPATCH_COLOR),
        ("model I/O", 0, s.io_ms, IO_COLOR),
    ):
        if name != "crossings" and ms <= 0:
            continue  # a summary without dispatch or model-I/O time shows no empty piece
        share = 100.0 * ms / total_ms
        left = add(time_row, name, count, ms, share, left, color, f"{fmt_ms(ms)} ({share:.0f}%)")
    return cols


def mapping_bar(report: ProfileReport) -> Any:
    """Xcode-style "Compute Unit Mapping": share of ops and of estimated time per processor."""
    cols = mapping_columns(report)
    # Where each piece's label goes: the middle of the piece.
    cols["mid"] = [(a + b) / 2 for a, b in zip(cols["left"], cols["right"], strict=True)]
    src = ColumnDataSource(cols, name="mapping")
    rows = list(dict.fromkeys(cols["row"]))
    s = summary_of(report)
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
