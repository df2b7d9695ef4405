"""The per-op table every view shares, and the helpers that fill it safely.

`op_table` turns a report into columns (numpy arrays / plain lists) for every op that runs, in
execution order: the lanes plot them, the graph view slices them, the browser-side relayout
copies rows of them. Every string from the model is passed through `escape.html_text` once
(`_Escaper`, cached) before it enters a column; tooltips insert those fields with `{safe}`, so a
hostile op name shows as text and never becomes markup. Enum-valued fields travel as small
integer codes turned back into our own words by the hover (`SUPPORTED_CHOICES`, ...).

Geometry of the lane view: each op that runs (const ops excluded) gets a *row*; its x is the row
number, its y the lane of its processor: ANE = 2 (top), GPU = 1, CPU = 0, and -1 for ops a plan
did not place ("?").
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from bokeh.models import (
    CategoricalColorMapper,
    CustomJSHover,
    HoverTool,
)

from ..escape import html_text, plain
from ..placement.devices import DEVICE_ORDER, EVIDENCE_RANK, Device, Evidence
from ..placement.result import PlacementSource
from ..report import OpRecord, ProfileReport
from ..textreport import SOURCE_NOTE, estimate_note, fmt_shape
from .palette import (
    UNKNOWN,
    color_factors,
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

LANE_HEIGHT_PX = 62

# --- helpers ------------------------------------------------------------------------------


class _Escaper:
    """html_text with a cache: reasons, op types and dtypes repeat thousands of times."""

    def __init__(self, limit: int = 200) -> None:
        self._cache: dict[str, str] = {}
        self._limit = limit

    def __call__(self, value: object) -> str:
        key = value if type(value) is str else str(value)
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
    return _evidence_text_of(r.evidence, source)


def _evidence_text_of(evidence: Evidence | None, source: str) -> str:
    if evidence is not None:
        return evidence.value
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


def _outputs_column(live: Sequence[OpRecord], esc: _Escaper) -> list[str]:
    """`_outputs_text` of every op, escaped. An op with one output named after it (most ops)
    has a text that depends on the shape and dtype only: made once per (shape, dtype)."""
    by_tensor: dict[tuple[Any, str], str] = {}
    out = []
    for r in live:
        outs = r.outputs
        if len(outs) == 1 and outs[0].name == r.name:
            key = (outs[0].shape, outs[0].dtype)
            text = by_tensor.get(key)
            if text is None:
                text = by_tensor[key] = esc(_outputs_text(r))
            out.append(text)
        else:
            out.append(esc(_outputs_text(r)))
    return out


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


def own_renderer(fig: Any, name: str) -> Any:
    """The renderer called `name` among `fig`'s own renderers: `fig.select_one({"name": name})`
    without its walk over every model the figure reaches (~17 ms on a 50k-op page: issue 14)."""
    found = [r for r in fig.renderers if r.name == name]
    if len(found) != 1:
        raise ValueError(f"{len(found)} renderers named {name!r}")
    return found[0]


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


def lane_ys(devices: Sequence[str]) -> dict[str, float]:
    """The y of each lane the lane view shows, for the `device` column of its ops: one lane per
    processor that runs an op of the report, top to bottom in DEVICE_ORDER, then "?" (-1) for
    ops a plan did not place. An empty processor's lane is left out, so that a crossing between
    the other two runs between those lanes only (an ANE->CPU connector across an empty GPU lane
    would read as a stop on the GPU). With nothing that runs, the three lanes, empty."""
    present = set(devices)
    shown = [d.value for d in DEVICE_ORDER if d.value in present]
    if not shown:
        return {d.value: float(LANE_Y[d.value]) for d in DEVICE_ORDER}
    ys: dict[str, float] = {dev: float(len(shown) - 1 - i) for i, dev in enumerate(shown)}
    if UNKNOWN in present:
        ys[UNKNOWN] = float(LANE_Y[UNKNOWN])
    return ys


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
    lane_y = lane_ys(device)
    # Per distinct value, not per op (issue 14): supported sets and evidence repeat.
    supported: dict[tuple[Device, ...], int] = {}
    no_evidence = _EVIDENCE_CODE[_evidence_text_of(None, report.source)]
    evidence = {e: _EVIDENCE_CODE[e.value] for e in Evidence}
    columns: dict[str, Any] = {
        "x": np.arange(len(live), dtype=np.float64),
        # the lane of each op (lane_ys: a processor with no op has no lane)
        "y": np.fromiter((lane_y[d] for d in device), dtype=np.float64, count=len(device)),
        "index": rows.astype(np.int32),
        "device": device,
        # Names are unique: escaped without the cache, which would only grow.
        "name": [html_text(r.name) for r in live],
        "op_type": [esc(r.op_type) for r in live],
        "outputs": _outputs_column(live, esc),
        "supported": np.fromiter(
            (
                supported.get(r.supported)
                if r.supported in supported
                else supported.setdefault(r.supported, supported_code(r.supported))
                for r in live
            ),
            dtype=np.int8,
            count=len(live),
        ),
        "reason": [esc_long(r.reason or "—") for r in live],
        "evidence": np.fromiter(
            (no_evidence if r.evidence is None else evidence[r.evidence] for r in live),
            dtype=np.int8,
            count=len(live),
        ),
        "time_ms": np.fromiter((r.est_time_ms for r in live), dtype=np.float64, count=len(live)),
    }
    if multi_function:
        columns["function"] = [esc(r.function) for r in live]
    if any(r.estimate is not None for r in live):
        columns["estimate"] = [esc_long(estimate_note(r) or "—") for r in live]

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
    # One numpy pass over all inputs, not a Python loop per input (issue 14).
    n_in = np.fromiter((len(r.inputs) for r in live), dtype=np.int64, count=len(live))
    flat = np.fromiter(
        itertools.chain.from_iterable(r.inputs for r in live), np.int64, int(n_in.sum())
    )
    src_rows = row_of[flat]
    kept = src_rows >= 0
    owner = np.repeat(np.arange(len(live)), n_in)
    ptr = np.zeros(len(live) + 1, dtype=np.int32)
    np.cumsum(np.bincount(owner[kept], minlength=len(live)), out=ptr[1:])
    return OpTable(
        rows=rows,
        row_of=row_of,
        columns=columns,
        in_ptr=ptr,
        in_src=src_rows[kept].astype(np.int32),
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
    if "estimate" in table.columns:
        tips.insert(tips.index(("reason", "@reason{safe}")) + 1, ("beside", "@estimate{safe}"))
    return HoverTool(
        renderers=[renderer],
        tooltips=tips,
        formatters={
            "@supported": _lookup(SUPPORTED_CHOICES),
            "@evidence": _lookup(EVIDENCE_CHOICES),
        },
    )
