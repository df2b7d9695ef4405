"""The layer band above the lanes: each layer a labelled span coloured by its device mix.

Like the distribution bar on Model Explorer's group nodes: a layer's span is split into one
piece per processor, as wide as the share of its ops there, so a 10,000-op LLM reads as 100
blocks with their fp32 islands (CPU pieces) at a glance. The band is drawn in the lanes
figure, above the top lane (so it shares the lanes' x, op position, pixel for pixel), shows up
to `BAND_LEVELS` levels of the tree starting at the first level that has more than one layer,
and a click on a layer zooms the lanes to it and shows it in the graph view.

Labels are drawn only where they fit: `_FIT_JS` recomputes them when the view is zoomed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource, CustomJS, HoverTool, TapTool
from bokeh.models.annotations import LabelSet

from ..analysis.layers import Layer, walk
from ..placement.devices import DEVICE_ORDER
from .optable import _Escaper
from .palette import DEVICE_COLORS

BAND_LEVELS = 3
BAND_ROW_PX = 30
BAND_ROW = 0.62  # lane units between band rows (lanes are 1 apart)
CHAR_PX = 6.5  # width of a character of the 8pt label font
ASSUMED_WIDTH_PX = 1000  # plot width the labels are first fitted to (refitted in the browser)


def band_levels(tree: Sequence[Layer]) -> list[int]:
    """The depths the band shows."""
    by_depth: dict[int, int] = {}
    for n in walk(tree):
        by_depth[n.depth] = by_depth.get(n.depth, 0) + 1
    if not by_depth:
        return []
    first = next((d for d in sorted(by_depth) if by_depth[d] > 1), max(by_depth))
    return [d for d in range(first, first + BAND_LEVELS) if d in by_depth]


_TRAILING_NUMBER = re.compile(r"\d+$")


def _short(label: str) -> str:
    """What a layer's span shows when its label does not fit: its number (`layers_12` -> 12)."""
    m = _TRAILING_NUMBER.search(label)
    return m.group() if m else ""


def _fit(label: str, short: str, width_px: float) -> str:
    if len(label) * CHAR_PX <= width_px:
        return label
    if short and len(short) * CHAR_PX <= width_px:
        return short
    keep = int(width_px / CHAR_PX) - 1
    return label[:keep] + "…" if keep >= 3 else ""


def _mix_text(n: Layer) -> str:
    mix = " · ".join(f"{d.value} {n.device_mix[d]}" for d in DEVICE_ORDER if n.device_mix[d])
    return mix or "none placed"


def _mix_texts(layers: Sequence[Layer]) -> list[str]:
    """`_mix_text` of each layer, made once per distinct device mix (thousands of layers
    share a few mixes)."""
    by_mix: dict[tuple[int, ...], str] = {}
    out = []
    for n in layers:
        key = tuple(map(n.device_mix.__getitem__, DEVICE_ORDER))
        text = by_mix.get(key)
        if text is None:
            text = by_mix[key] = _mix_text(n)
        out.append(text)
    return out


def band_columns(
    tree: Sequence[Layer], n_rows: int, base_y: float = 0.0, levels: list[int] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pieces, layers): one piece per (layer, processor with ops), one span per layer; the
    outermost level's row at `base_y` + (levels - 1) rows, the deepest at `base_y`.
    `levels`: `band_levels(tree)`, found here when not given."""
    levels = band_levels(tree) if levels is None else levels
    level_of = {d: i for i, d in enumerate(levels)}
    esc = _Escaper(120)
    shown = [n for n in walk(tree) if n.depth in level_of]
    px_per_op = ASSUMED_WIDTH_PX / max(n_rows, 1)
    ys = [base_y + (len(levels) - 1 - level_of[n.depth]) * BAND_ROW for n in shown]
    lefts = [n.first_row - 0.5 for n in shown]
    rights = [n.last_row + 0.5 for n in shown]
    tops = [y + BAND_ROW * 0.44 for y in ys]
    bottoms = [y - BAND_ROW * 0.44 for y in ys]
    pieces = _pieces(shown, lefts, rights, bottoms, tops)
    labels = esc.column([n.label for n in shown])
    shorts = [_short(label) for label in labels]
    spans: dict[str, Any] = {
        "left": lefts,
        "right": rights,
        "bottom": bottoms,
        "top": tops,
        "mid": [(a + b) / 2 for a, b in zip(lefts, rights, strict=True)],
        "y": ys,
        "label": labels,
        "name": esc.column([n.name for n in shown]),
        "mix": _mix_texts(shown),
        "n_ops": [n.n_ops for n in shown],
        "time_ms": [n.est_time_ms for n in shown],
        "text": [
            _fit(label, short, (right - left) * px_per_op)
            for label, short, left, right in zip(labels, shorts, lefts, rights, strict=True)
        ],
        "short": shorts,
    }
    # Numbers go as numpy arrays: bokeh sends those as binary buffers, where a list of floats
    # is encoded value by value (thousands of layers at 50k ops; issue 14). The same doubles
    # reach the browser either way, and the JS here only indexes and maps them.
    for cols, numeric in ((pieces, _PIECE_NUMBERS), (spans, _SPAN_NUMBERS)):
        for k in numeric:
            cols[k] = np.asarray(cols[k], dtype=np.int32 if k == "n_ops" else np.float64)
    return pieces, spans


_PIECE_NUMBERS = ("left", "right", "bottom", "top")
_UNPLACED_COLOR = "#bbbbbb"  # ops the plan placed nowhere


def _pieces(
    shown: Sequence[Layer],
    lefts: Sequence[float],
    rights: Sequence[float],
    bottoms: Sequence[float],
    tops: Sequence[float],
) -> dict[str, Any]:
    """One piece per (layer, processor with ops) in `DEVICE_ORDER`, then one for the layer's
    ops placed nowhere, if any: each as wide as its share of the layer's span.

    In numpy for all layers at once (a Python loop per layer and processor took ~8 ms of the
    50k benchmark's 2,500 shown layers; issue 14), with the loop's arithmetic: a piece's width
    is ``(right - left) * count / n_ops``, each piece starts where the one before ended (an
    empty processor adds a width of 0.0, which moves nothing), in that order."""
    n = len(shown)
    counts = np.array(
        [list(map(layer.device_mix.__getitem__, DEVICE_ORDER)) for layer in shown], np.int64
    ).reshape(n, len(DEVICE_ORDER))
    n_ops = np.fromiter((layer.n_ops for layer in shown), np.int64, n)
    left, right = np.array(lefts, np.float64), np.array(rights, np.float64)
    widths = (right - left)[:, None] * counts / n_ops[:, None]
    starts = [left]
    for k in range(len(DEVICE_ORDER)):
        starts.append(starts[-1] + widths[:, k])
    ends = [start + widths[:, k] for k, start in enumerate(starts[:-1])]
    lo = np.stack(starts, axis=1)
    hi = np.stack([*ends, right], axis=1)
    keep = np.column_stack([counts > 0, starts[-1] < right])
    colors = [DEVICE_COLORS[d] for d in DEVICE_ORDER] + [_UNPLACED_COLOR]
    shape = lo.shape
    return {
        "left": lo[keep],
        "right": hi[keep],
        "bottom": np.broadcast_to(np.array(bottoms, np.float64)[:, None], shape)[keep],
        "top": np.broadcast_to(np.array(tops, np.float64)[:, None], shape)[keep],
        "color": list(map(colors.__getitem__, np.nonzero(keep)[1].tolist())),
    }


_SPAN_NUMBERS = ("left", "right", "bottom", "top", "mid", "y", "n_ops", "time_ms")


_FIT_JS = """
const d = spans.data;
const w = fig.inner_width > 0 ? fig.inner_width : 1000;
const ppu = w / (xr.end - xr.start);
const text = d.label.map((s, i) => {
  const px = (d.right[i] - d.left[i]) * ppu;
  if (s.length * char_px <= px) { return s; }
  if (d.short[i] && d.short[i].length * char_px <= px) { return d.short[i]; }
  const keep = Math.floor(px / char_px) - 1;
  return keep >= 3 ? s.slice(0, keep) + "…" : "";
});
spans.data = {...d, text: text};
"""

_ZOOM_JS = """
const idx = cb_data.source.inspected.indices;
if (idx.length == 0) { return; }
const i = idx[0];
const pad = (spans.data.right[i] - spans.data.left[i]) * 0.02;
xr.start = spans.data.left[i] - pad;
xr.end = spans.data.right[i] + pad;
// Select the layer's ops too: the graph view below then shows that layer.
if (ops !== null) {
  const first = Math.round(spans.data.left[i] + 0.5), last = Math.round(spans.data.right[i] - 0.5);
  ops.selected.indices = Array.from({length: last - first + 1}, (_, k) => first + k);
}
"""


def add_layer_band(
    fig: Any, tree: Sequence[Layer], n_rows: int, base_y: float, ops: Any = None
) -> int:
    """Draw the band into the lanes figure `fig` from `base_y` up; returns its rows (0: none).
    The caller makes room (y range and height). A click on a layer zooms to it and, given the
    lanes' op source `ops`, selects its ops (which re-lays out the graph view)."""
    levels = band_levels(tree)
    if not levels:
        return 0
    pieces, spans = band_columns(tree, n_rows, base_y, levels)  # (a walk of the tree less)
    piece_src = ColumnDataSource(pieces, name="band_pieces")
    span_src = ColumnDataSource(spans, name="band_layers")
    fig.quad(
        left="left",
        right="right",
        bottom="bottom",
        top="top",
        source=piece_src,
        fill_color="color",
        line_color=None,
        name="band_pieces_glyph",
    )
    spans_r = fig.quad(
        left="left",
        right="right",
        bottom="bottom",
        top="top",
        source=span_src,
        fill_alpha=0,
        line_color="white",
        line_width=1.5,
        name="band_layers_glyph",
    )
    fig.add_layout(
        LabelSet(
            x="mid",
            y="y",
            text="text",
            source=span_src,
            text_align="center",
            text_baseline="middle",
            text_color="white",
            text_font_size="8pt",
            text_font_style="bold",
            name="band_labels",
        )
    )
    x_range = fig.x_range
    fig.add_tools(
        HoverTool(
            renderers=[spans_r],
            tooltips=[
                ("layer", "@name{safe}"),
                ("ops", "@n_ops (@mix)"),
                ("time", "@time_ms{0.000[000]} ms (estimated)"),
                ("", "click to zoom to it"),
            ],
        ),
        TapTool(
            renderers=[spans_r],
            behavior="inspect",
            callback=CustomJS(args={"spans": span_src, "xr": x_range, "ops": ops}, code=_ZOOM_JS),
        ),
    )
    fit = CustomJS(
        args={"spans": span_src, "xr": x_range, "fig": fig, "char_px": CHAR_PX}, code=_FIT_JS
    )
    x_range.js_on_change("start", fit)
    x_range.js_on_change("end", fit)
    return len(levels)
