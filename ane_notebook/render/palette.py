"""The one device -> colour map used by every diagram and legend.

Colours come from the Okabe–Ito palette (Okabe & Ito, "Color Universal Design", 2008), chosen so
that people with the common colour-vision deficiencies can still tell every pair apart:

* ANE (Neural Engine)  bluish green  #009E73
* GPU                  orange        #E69F00
* CPU                  blue          #0072B2
* const / unknown      grey          #999999  (ops no processor runs, or missing from a plan)
* crossing             vermillion    #D55E00  (data moving between processors)
* changed              reddish purple #CC79A7 (compare view: op placed differently)
* reused crossing      dark grey     #666666, dashed (a tensor already moved: no cost)
* dispatches           yellow        #F0E442 (mapping bar: entering each segment's processor)
* model I/O            sky blue      #56B4E9 (mapping bar: inputs in, outputs back)

Crossings are also drawn thicker than anything else, so they do not rely on colour alone.
The text legend (`legend_text`) names the same colours, so a text report and a picture agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..escape import html_text
from ..placement.devices import DEVICE_LABEL, DEVICE_ORDER, Device

DEVICE_COLORS: Mapping[Device, str] = {
    Device.ANE: "#009E73",
    Device.GPU: "#E69F00",
    Device.CPU: "#0072B2",
}
UNKNOWN_COLOR = "#999999"
CROSSING_COLOR = "#D55E00"
CHANGED_COLOR = "#CC79A7"
REUSED_COLOR = "#666666"
DISPATCH_COLOR = "#F0E442"
IO_COLOR = "#56B4E9"

COLOR_NAMES: Mapping[str, str] = {
    "#009E73": "bluish green",
    "#E69F00": "orange",
    "#0072B2": "blue",
    "#999999": "grey",
    "#D55E00": "vermillion",
    "#CC79A7": "reddish purple",
    "#666666": "dark grey, dashed",
    "#F0E442": "yellow",
    "#56B4E9": "sky blue",
}

# Factor used in data sources for an op that runs but whose processor is not known (an op
# missing from a recorded or live plan). Kept distinct from the Device values on purpose.
UNKNOWN = "?"


def color_factors() -> tuple[list[str], list[str]]:
    """(factors, colours) for a categorical colour mapper over the `device` column."""
    factors = [d.value for d in DEVICE_ORDER] + [UNKNOWN]
    colors = [DEVICE_COLORS[d] for d in DEVICE_ORDER] + [UNKNOWN_COLOR]
    return factors, colors


def _entries(
    unknown: bool, reused: bool = False, dispatch: bool = False, io: bool = False
) -> list[tuple[str, str]]:
    items = [
        (
            f"{d.value} ({DEVICE_LABEL[d]})" if DEVICE_LABEL[d] != d.value else d.value,
            DEVICE_COLORS[d],
        )
        for d in DEVICE_ORDER
    ]
    items.append(("crossing (data moved between processors)", CROSSING_COLOR))
    if reused:
        items.append(("reused crossing (already moved, no cost)", REUSED_COLOR))
    if dispatch:
        items.append(("dispatches (time bar)", DISPATCH_COLOR))
    if io:
        items.append(("model I/O (time bar)", IO_COLOR))
    if unknown:
        items.append(("? (op not in the plan)", UNKNOWN_COLOR))
    return items


def legend_text(unknown: bool = True) -> str:
    """One line naming each colour, for text outputs and alt text."""
    return "; ".join(f"{label}: {COLOR_NAMES[c]} {c}" for label, c in _entries(unknown))


def legend_html(
    unknown: bool = False, reused: bool = False, dispatch: bool = False, io: bool = False
) -> str:
    """The legend as HTML: a swatch and a label per colour (our own strings, escaped anyway).
    `unknown`: include the grey of ops a plan did not place (only when a report has some);
    `reused`: the dashed grey of crossings that reuse a moved tensor (when there are some);
    `dispatch`, `io`: the mapping bar's dispatch and model-I/O colours (when it shows them)."""
    parts = []
    for label, color in _entries(unknown, reused, dispatch, io):
        parts.append(
            f'<span style="display:inline-flex;align-items:center;margin-right:14px">'
            f'<span style="display:inline-block;width:14px;height:14px;border-radius:2px;'
            f'background:{color};margin-right:5px"></span>{html_text(label)}</span>'
        )
    return (
        '<div class="ane-legend" style="font:13px sans-serif;color:#333">'
        + "".join(parts)
        + "</div>"
    )


# How bokeh draws every figure. Measured with benchmarks/browser_zoom.py (headless Chromium,
# software WebGL, no GPU: what a notebook server, CI or a VM gives): the canvas backend redraws a
# zoom, a search and a band click 1.5-7x faster than "webgl" at 10k-200k ops, and opens as fast;
# see benchmarks/README.md. With the op boxes replaced by run bars when dense (render/lanes.py) a
# redraw is a few thousand glyphs, where WebGL has no edge to give.
OUTPUT_BACKEND: Final = "canvas"
