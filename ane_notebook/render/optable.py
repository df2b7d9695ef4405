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
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter, is_
from typing import Any, cast

import numpy as np
from bokeh.models import (
    CategoricalColorMapper,
    CustomJSHover,
    HoverTool,
)

from ..escape import html_text, html_texts, plain
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

    def column(self, values: Sequence[object]) -> list[str]:
        """`[self(v) for v in values]`: each distinct value escaped once (`html_texts`), then
        every value looked up in C. Values that are not all `str` take the per-value path."""
        if not _all_str(values):
            return [self(v) for v in values]
        texts = cast("Sequence[str]", values)  # all str (checked above)
        cache = self._cache
        new = [v for v in dict.fromkeys(texts) if v not in cache]
        cache.update(zip(new, html_texts(new, self._limit), strict=True))
        return list(map(cache.__getitem__, texts))


def _all_str(values: Sequence[object]) -> bool:
    """Whether every value is a `str` (exactly): `set(map(type, values)) <= {str}` without a
    set insertion per value (~2.0 instead of ~2.8 ms for 25k values: issue 14)."""
    return list(map(type, values)).count(str) == len(values)


def _reason_column(reasons: Sequence[object], esc: _Escaper) -> list[str]:
    """`[esc(r or "—") for r in reasons]`: the texts of the distinct reasons (a few hundred for
    25k ops), then every op's looked up in C."""
    if not _all_str(reasons):
        return esc.column([r or "—" for r in reasons])
    distinct = list(dict.fromkeys(reasons))
    table = dict(zip(distinct, esc.column([r or "—" for r in distinct]), strict=True))
    return list(map(table.__getitem__, reasons))


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


def _outputs_column(
    live: Sequence[OpRecord], names: Sequence[str], outputs: Sequence[Any], esc: _Escaper
) -> list[str]:
    """`_outputs_text` of every op, escaped (`names`, `outputs`: the ops' fields). An op with
    one output named after it (most ops) has a text that depends on the shape and dtype only:
    made once per (shape, dtype)."""
    by_tensor: dict[tuple[Any, str], str] = {}
    out = []
    for r, name, outs in zip(live, names, outputs, strict=True):
        if len(outs) == 1 and outs[0].name == name:
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


# The record fields the views read (op table, detail panel): read together, in one pass.
RECORD_FIELDS = (
    "name",
    "op_type",
    "function",
    "device",
    "supported",
    "reason",
    "evidence",
    "est_time_ms",
    "outputs",
    "inputs",
    "estimate",
    "rules",
    "reason_kind",
    "cost_driver",
    "contested",
    "alt_device",
)
# The op table checks each row's index (_live_records); the layer tree reads the rows' blocks
# (layers.layer_tree_of_columns).
_PREFETCH = (*RECORD_FIELDS, "index", "block")


class RecordColumns:
    """The op records of a table's rows, read a field at a time: `fields("name")` is
    `[r.name for r in records]`, read once and kept, so every view that needs a record field
    reads it from here instead of walking 50k records again (issue 14).

    The `prefetch` fields are read in one pass over the records (C-level `attrgetter`, then a
    transposition): a record's fields sit together in memory, and reading one field of every
    record per pass was ~3x slower on a loaded report (~7 ms per field at 25k ops).
    """

    def __init__(
        self, records: Sequence[OpRecord] = (), prefetch: Sequence[str] = RECORD_FIELDS
    ) -> None:
        self.records = records
        self._cache: dict[str, Sequence[Any]] = {}
        if records and len(prefetch) > 1:  # (attrgetter of one name returns no tuple)
            per_record = list(map(attrgetter(*prefetch), records))
            self._cache.update(zip(prefetch, zip(*per_record, strict=True), strict=True))

    def __len__(self) -> int:
        return len(self.records)

    def __call__(self, name: str) -> Sequence[Any]:
        got = self._cache.get(name)
        if got is None:
            # a tuple, like the prefetched ones: every view gets the same column, none may change it
            got = self._cache[name] = tuple(map(attrgetter(name), self.records))
        return got


@dataclass(frozen=True)
class OpTable:
    """Columns for every op that runs, in execution order (row = x in the lane view)."""

    rows: np.ndarray  # graph index of each row
    row_of: np.ndarray  # graph index -> row; -1 for const ops
    columns: dict[str, Any]
    in_ptr: np.ndarray  # CSR of producers: in_src[in_ptr[r]:in_ptr[r+1]] are rows feeding row r
    in_src: np.ndarray
    multi_function: bool
    fields: RecordColumns = field(compare=False)  # the rows' records, read a field at a time
    # Whether `fields.records` are the report's compute ops in report order (each record at
    # its index: every report we make), i.e. what `layers.layer_tree_of_columns` takes.
    compute_ops: bool = field(default=False, compare=False)

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


# The text of each device in the `device` column; a record's device is a `Device` or None.
_DEVICE_TEXT: Mapping[Device | None, str] = {None: UNKNOWN, **{d: d.value for d in Device}}


class _CodeTable(dict[Any, int]):
    """`code_of(v)` of each value looked up, computed on a value's first lookup."""

    def __init__(self, code_of: Any) -> None:
        super().__init__()
        self._code_of = code_of

    def __missing__(self, value: Any) -> int:
        code: int = self._code_of(value)
        self[value] = code
        return code


def _codes(values: Sequence[Any], code_of: Any, dtype: Any) -> np.ndarray:
    """`code_of(v)` of each value as an array, computed once per distinct value (they repeat:
    supported sets, evidence) and looked up in C. The table fills itself on a miss: one hash
    of each value instead of two (a set of the distinct values, then the lookups), and a
    value here is a tuple of devices whose hash is not cached (~4.5 instead of ~5.6 ms for
    25k ops: issue 14)."""
    table = _CodeTable(code_of)
    return np.fromiter(map(table.__getitem__, values), dtype=dtype, count=len(values))


def op_table(report: ProfileReport) -> OpTable:
    """The columns of the lane view's op source, shared by the graph view (which slices them)
    and by the browser-side relayout (which copies rows of them)."""
    ops = report.ops
    rows, fields, in_place = _live_records(ops)
    row_of = np.full(len(ops), -1, dtype=np.int64)
    row_of[rows] = np.arange(len(rows))
    columns = _record_columns(report, rows, fields)
    columns["segment"], columns["segment_ops"] = _segment_columns(report, row_of, fields)
    ptr, src = _producers(row_of, fields("inputs"))
    return OpTable(
        rows=rows,
        row_of=row_of,
        columns=columns,
        in_ptr=ptr,
        in_src=src,
        multi_function="function" in columns,
        fields=fields,
        compute_ops=in_place,
    )


def _live_records(ops: Sequence[OpRecord]) -> tuple[np.ndarray, RecordColumns, bool]:
    """The rows (graph index of each op that runs), their records' fields, and whether those
    records are the report's compute ops in report order (the fast path's).

    A row is its record's `index`, and its fields are those of `ops[index]`. Records sit at
    their index in every report we make, so the fast path keeps the records at the positions
    that are not const (one C-level pass reading `is_const`, ~6 ms at 50k ops instead of ~17
    for a comprehension over (index, is_const) pairs: issue 14) and checks that assumption
    with the prefetched `index` column; a report where it fails takes the per-record path.
    """
    live = ~np.fromiter(map(attrgetter("is_const"), ops), dtype=bool, count=len(ops))
    rows = np.flatnonzero(live).astype(np.int64)
    fields = RecordColumns(list(itertools.compress(ops, live.tolist())), _PREFETCH)
    if np.array_equal(np.fromiter(fields("index"), np.int64, len(rows)), rows):
        return rows, fields, True
    rows_list = [r.index for r in ops if not r.is_const]
    # `ops[index]`, not the records `compress` kept: a row has always been its record's index.
    records = list(map(ops.__getitem__, rows_list))
    return np.asarray(rows_list, dtype=np.int64), RecordColumns(records, _PREFETCH), False


def _record_columns(report: ProfileReport, rows: np.ndarray, col: RecordColumns) -> dict[str, Any]:
    """The op columns read from the records: positions, lanes, escaped texts, enum codes."""
    n = len(col)
    esc, esc_long = _Escaper(), _Escaper(400)
    device = list(map(_DEVICE_TEXT.__getitem__, col("device")))
    lane_y = lane_ys(device)
    no_evidence = _EVIDENCE_CODE[_evidence_text_of(None, report.source)]
    evidence: dict[Evidence | None, int] = {None: no_evidence}
    evidence.update({e: _EVIDENCE_CODE[e.value] for e in Evidence})
    columns: dict[str, Any] = {
        "x": np.arange(n, dtype=np.float64),
        # the lane of each op (lane_ys: a processor with no op has no lane)
        "y": np.fromiter(map(lane_y.__getitem__, device), dtype=np.float64, count=n),
        "index": rows.astype(np.int32),
        "device": device,
        # Names are unique: escaped without the cache, which would only grow.
        "name": html_texts(col("name")),
        "op_type": esc.column(col("op_type")),
        "outputs": _outputs_column(col.records, col("name"), col("outputs"), esc),
        "supported": _codes(col("supported"), supported_code, np.int8),
        "reason": _reason_column(col("reason"), esc_long),
        "evidence": np.fromiter(map(evidence.__getitem__, col("evidence")), np.int8, n),
        "time_ms": np.fromiter(col("est_time_ms"), dtype=np.float64, count=n),
    }
    if len(set(col("function"))) > 1:
        columns["function"] = esc.column(col("function"))
    if col("estimate").count(None) != n:
        columns["estimate"] = esc_long.column([estimate_note(r) or "—" for r in col.records])
    return columns


def _segment_columns(
    report: ProfileReport, row_of: np.ndarray, col: RecordColumns
) -> tuple[np.ndarray, np.ndarray]:
    """The segment each op belongs to, and its size: shown in the op tooltip."""
    n = len(col)
    seg_of = np.full(n, -1, dtype=np.int32)
    seg_ops = np.zeros(n, dtype=np.int32)
    for s in report.segments:
        a, b = row_of[s.start], row_of[s.end] + 1
        seg_of[a:b] = s.index
        seg_ops[a:b] = s.n_ops
    # An op a plan did not place is skipped by a segment, not part of it.
    unknown = np.fromiter(map(is_, col("device"), repeat(None)), dtype=bool, count=n)
    seg_of[unknown], seg_ops[unknown] = -1, 0
    return seg_of, seg_ops


def _producers(
    row_of: np.ndarray, inputs: Sequence[Sequence[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Producer rows of each row, as CSR arrays (ptr, src): the graph view (and its browser-side
    relayout) walks them in one pass. Producers that are const ops hold weights, not data flow:
    dropped. One numpy pass over all inputs, not a Python loop per input (issue 14)."""
    n = len(inputs)
    n_in = np.fromiter(map(len, inputs), dtype=np.int64, count=n)
    flat = np.fromiter(itertools.chain.from_iterable(inputs), np.int64, int(n_in.sum()))
    src_rows = row_of[flat]
    kept = src_rows >= 0
    owner = np.repeat(np.arange(n), n_in)
    ptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(owner[kept], minlength=n), out=ptr[1:])
    return ptr, src_rows[kept].astype(np.int32)


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
