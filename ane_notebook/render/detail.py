"""Finding and reading one op: the search box, the detail panel on click, hazard markers.

The search box (a bokeh `TextInput`) matches op name, type, reason and device as you type and
marks the matches in the lanes and in the graph view, with a list of the first ones. A click on
an op (lanes or graph) fills the detail panel with its whole record: placement and where it came
from, evidence, reason kind and rules, its inputs and outputs with shapes, the crossings it
causes, its hazards and the suggested fix (`fixes.fix_for`).

Everything runs in the browser from columns sent once. Per-op texts that repeat (fixes, rule
lists, hazard messages) travel as small integer codes into tables of distinct strings, and
every model string in those tables is escaped here (`_Escaper`), exactly like the op columns,
so the JavaScript only joins already-escaped text and never escapes or unescapes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
from bokeh.models import CDSView, ColumnDataSource, CustomJS, HoverTool, TapTool
from bokeh.models.widgets import Div, TextInput

from ..fixes import estimate_inputs, fix_from
from ..placement.devices import DEVICE_ORDER, Device
from ..placement.result import ReasonKind
from ..report import ProfileReport
from .lanes import near_view_filter
from .optable import (
    EVIDENCE_CHOICES,
    SUPPORTED_CHOICES,
    OpTable,
    _CodeTable,
    _Escaper,
    _tooltip_literal,
    own_renderer,
    source_note,
)

MAX_LISTED = 30  # matches listed under the search box (all are marked in the views)
HAZARD_COLOR = "#CC0000"
SEARCH_COLOR = "#111111"
DETAIL_HEIGHT_PX = 260

REASON_KIND_CHOICES: tuple[str, ...] = tuple(k.value for k in ReasonKind)
_REASON_KIND_CODE = {k: i for i, k in enumerate(ReasonKind)}


class _Codes:
    """Distinct strings -> small integer codes (0 is always "")."""

    def __init__(self) -> None:
        self.texts: list[str] = [""]
        self._code: dict[str, int] = {"": 0}

    def __call__(self, text: str) -> int:
        code = self._code.get(text)
        if code is None:
            code = self._code[text] = len(self.texts)
            self.texts.append(text)
        return code


@dataclass(frozen=True)
class DetailData:
    """Per-row codes (`source`) and the escaped string tables they index."""

    source: ColumnDataSource
    fixes: list[str]
    rules: list[str]
    hazards: list[str]
    hazard_rows: np.ndarray  # rows of ops a hazard flags (the op at risk)


def _small(codes: np.ndarray) -> np.ndarray:
    """Text codes as int16 (what the page has always sent), or int32 when a report has more
    distinct texts than int16 holds (a hostile one: one rule list per op), rather than fail."""
    if len(codes) == 0 or int(codes.max()) <= np.iinfo(np.int16).max:
        return codes.astype(np.int16)
    return codes.astype(np.int32)


def _per_distinct(keys: Sequence[Any], code_of: Callable[[Any], int]) -> np.ndarray:
    """`code_of(k)` of each key as an integer array (`_small`): called once per distinct key,
    in the order keys first appear (so `_Codes` numbers texts as a pass over the ops would),
    the rest looked up in C. Codes per distinct text: numpy item assignment per op and a join
    per op were most of `detail_data` at 50k ops (issue 14). The table fills itself on a
    key's first lookup, which is its first appearance: one hash per key, where a set of the
    distinct keys first hashed each twice (a key holds enums and tuples, whose hashes are not
    cached: ~1.6 of ~10.5 ms)."""
    code = _CodeTable(code_of)
    return _small(np.fromiter(map(code.__getitem__, keys), dtype=np.int64, count=len(keys)))


def detail_data(report: ProfileReport, table: OpTable) -> DetailData:
    esc, esc_long = _Escaper(), _Escaper(600)
    fixes, rules, hazards = _Codes(), _Codes(), _Codes()
    col = table.fields  # the record fields the op table read (one pass over the records)
    n = len(col)
    # fix_inputs of every op; `fix_from` of each distinct one. A report whose ops carry no
    # estimate beside the plan (every estimate) needs no call per op for that part (issue 14).
    estimates = col("estimate")
    no_estimates = estimates.count(None) == n
    inputs = list(
        zip(
            col("reason_kind"),
            col("rules"),
            col("cost_driver"),
            repeat(None, n) if no_estimates else map(estimate_inputs, estimates),
            strict=True,
        )
    )
    fix = _per_distinct(inputs, lambda k: fixes(esc_long(fix_from(*k))))
    rule = _per_distinct(col("rules"), lambda r: rules(esc(", ".join(r))))
    kind = np.fromiter(map(_REASON_KIND_CODE.__getitem__, col("reason_kind")), np.int8, n)
    contested = np.fromiter(col("contested"), np.int8, n)
    alt_code: dict[Device | None, int] = {None: 0}
    alt_code.update({d: 1 + i for i, d in enumerate(DEVICE_ORDER)})
    alt = np.fromiter(map(alt_code.__getitem__, col("alt_device")), np.int8, n)  # 0: none
    hazard = _hazard_codes(report, table, hazards, esc, esc_long)
    src = ColumnDataSource(
        {
            "fix": fix,
            "rules": rule,
            "hazard": hazard,
            "reason_kind": kind,
            "contested": contested,
            "alt_device": alt,
        },
        name="op_details",
    )
    rows = np.flatnonzero(hazard).astype(np.int64)
    return DetailData(src, fixes.texts, rules.texts, hazards.texts, rows)


def _hazard_codes(
    report: ProfileReport, table: OpTable, hazards: _Codes, esc: _Escaper, esc_long: _Escaper
) -> np.ndarray:
    """Per row, the code of its hazards' text (0: none), for the op each hazard puts at risk."""
    by_op = report.hazards_by_op()
    hazard = np.zeros(len(table), dtype=np.int64)
    n_rows = len(table.row_of)  # a hazard built in code may name an op that is not there
    for k in sorted(
        int(table.row_of[i]) for i in by_op if 0 <= i < n_rows and table.row_of[i] >= 0
    ):
        hazard[k] = hazards(
            "<br>".join(
                f"{esc_long(h.message)} <small>({esc(h.evidence.value)}: {esc(h.source)})</small>"
                for h in by_op[int(table.rows[k])]
            )
        )
    return _small(hazard)


def hazard_markers(fig: Any, table: OpTable, details: DetailData) -> None:
    """A red triangle above each op a hazard flags, with the hazard in its tooltip."""
    rows = details.hazard_rows
    if not len(rows):
        return
    msgs = [details.hazards[int(details.source.data["hazard"][r])] for r in rows]
    src = ColumnDataSource(
        {
            "x": rows.astype(np.float64),
            "y": np.asarray(table.columns["y"])[rows] + 0.42,
            "name": [table.columns["name"][r] for r in rows],
            "hazard": msgs,
        },
        name="lanes_hazards",
    )
    r = fig.scatter(
        x="x",
        y="y",
        source=src,
        marker="triangle",
        size=11,
        fill_color=HAZARD_COLOR,
        line_color="white",
        name="lanes_hazards_glyph",
    )
    fig.add_tools(
        HoverTool(renderers=[r], tooltips=[("hazard at", "@name{safe}"), ("", "@hazard{safe}")])
    )


_SEARCH_JS = """
const q0 = input.value_input ?? input.value;
const q = (q0 || "").trim().toLowerCase()
  .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
  .replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
const d = ops.data;
const n = d.name.length;
const hx = [], hy = [], rows = [];
if (q.length > 0) {
  const cache = (window.__ane_search ??= new Map());
  let lc = cache.get(ops.id);
  if (lc === undefined) {
    lc = {name: Array.from(d.name, (s) => String(s).toLowerCase()),
          op_type: Array.from(d.op_type, (s) => String(s).toLowerCase()),
          reason: Array.from(d.reason, (s) => String(s).toLowerCase())};
    cache.set(ops.id, lc);
  }
  for (let k = 0; k < n; k++) {
    if (lc.name[k].includes(q) || lc.op_type[k].includes(q) || lc.reason[k].includes(q)
        || String(d.device[k]).toLowerCase() === q) {
      rows.push(k); hx.push(d.x[k]); hy.push(d.y[k]);
    }
  }
}
hits_shown.indices = null;  // the rows of the old matches; near_view_filter sets it again
hits.data = {x: hx, y: hy};
const hit = new Set(rows);
const gx = [], gy = [];
const nd = nodes.data;
for (let j = 0; j < (nd.x ? nd.x.length : 0); j++) {
  if (hit.has(nd.x[j])) { gx.push(nd.gx[j]); gy.push(nd.gy[j]); }
}
const ld = layers.data;
// rows ascend: the first match at or after a layer's first row, found by bisection, tells
// whether the layer holds one (scanning the matches per layer is layers x matches steps)
for (let j = 0; j < (ld.first ? ld.first.length : 0); j++) {
  let lo = 0, hi = rows.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (rows[m] < ld.first[j]) { lo = m + 1; } else { hi = m; }
  }
  if (lo < rows.length && rows[lo] <= ld.last[j]) { gx.push(ld.gx[j]); gy.push(ld.gy[j]); }
}
graph_hits.data = {gx: gx, gy: gy};
let html = "";
if (q.length > 0) {
  html = `<b>${rows.length}</b> match${rows.length == 1 ? "" : "es"}`;
  if (rows.length > 0) { html += " (marked in both views)"; }
  html += "<br>";
  for (const k of rows.slice(0, max_listed)) {
    html += `<span style="color:${colors[d.device[k]] ?? '#555'}">&#9632;</span> ` +
            `#${k} <b>${d.name[k]}</b> <small>${d.op_type[k]} · ${d.device[k]}</small><br>`;
  }
  if (rows.length > max_listed) { html += `… and ${rows.length - max_listed} more`; }
}
listing.text = html;
"""

# cb_data.source is the tapped glyph's source (lanes ops or graph nodes); both carry "x", the
# row. The panel joins pre-escaped columns only (see the module doc).
_DETAIL_JS = """
const src = cb_data.source;
const idx = src.inspected.indices;
if (idx.length == 0) { return; }
const k = src.data.x[idx[0]];
const d = ops.data, e = details.data;
const fmt = (ms) => ms >= 0.1 ? ms.toFixed(3) + " ms" : (ms * 1000).toFixed(1) + " µs";
const rows = [];
const row = (h, v) => rows.push(`<tr><th style="text-align:left;vertical-align:top;` +
  `padding:1px 10px 1px 0;color:#555;font-weight:normal;white-space:nowrap">${h}</th>` +
  `<td style="padding:1px 0">${v}</td></tr>`);
row("device", `<b>${d.device[k]}</b>` + (e.contested[k] ? ` (contested; could be ` +
    `${devices[e.alt_device[k] - 1] ?? "?"})` : ""));
row("supported on", supported[d.supported[k]] ?? "?");
row("reason", d.reason[k]);
row("reason kind", reason_kinds[e.reason_kind[k]] ?? "?");
if (e.rules[k]) { row("rules", rules[e.rules[k]]); }
row("evidence", evidence[d.evidence[k]] ?? "?");
row("placement", note);
row("time", fmt(d.time_ms[k]) + " (estimated)");
if (d.segment[k] >= 0) { row("segment", `#${d.segment[k]} (${d.segment_ops[k]} ops)`); }
if (d.function) { row("function", d.function[k]); }
const ins = [];
for (let p = in_ptr[k]; p < in_ptr[k + 1] && ins.length < 8; p++) {
  const s = in_src[p];
  ins.push(`#${s} ${d.name[s]} <small>(${d.op_type[s]}, ${d.device[s]}) → ` +
           `${d.outputs[s]}</small>`);
}
row("inputs", ins.length ? ins.join("<br>") : "model inputs / weights only");
row("outputs", d.outputs[k]);
const xd = xs.data, out = [];
for (let j = 0; j < xd.src_row.length; j++) {
  if (xd.src_row[j] == k || xd.dst_row[j] == k) {
    out.push(`${xd.src_device[j]} → ${xd.dst_device[j]}: ${xd.tensor[j]} ${xd.shape[j]}, ` +
             `${xd.bytes_text[j]}, ${xd.cost[j]} <small>(${xd.src_row[j] == k ? "to " +
             xd.dst_name[j] : "from " + xd.src_name[j]})</small>`);
  }
}
if (out.length) { row("crossings", out.join("<br>")); }
if (e.hazard[k]) { row(`<span style="color:${hazard_color}">&#9650; hazard</span>`,
                       hazards[e.hazard[k]]); }
row("suggested fix", fixes[e.fix[k]] || "—");
panel.text = `<div style="font:12px sans-serif"><div style="font-size:14px;margin:2px 0 4px">` +
  `<b>${d.name[k]}</b> <span style="color:#555">${d.op_type[k]} · op #${k}</span></div>` +
  `<table style="border-collapse:collapse">${rows.join("")}</table></div>`;
"""


@dataclass(frozen=True)
class Explorer:
    search: TextInput
    listing: Div
    panel: Div


def explorer(
    report: ProfileReport,
    table: OpTable,
    details: DetailData,
    lanes: Any,
    graph: Any,
    colors: dict[str, str],
) -> Explorer:
    """The search box, its listing and the detail panel, wired to the lanes (`LaneParts`) and
    the graph view (`GraphParts`)."""
    search = TextInput(
        placeholder="Find ops: name, type, reason or device (ANE, GPU, CPU)",
        sizing_mode="stretch_width",
        name="search",
    )
    listing = Div(text="", sizing_mode="stretch_width", name="search_results")
    panel = Div(
        text='<div style="font:12px sans-serif;color:#555">Click an op (lanes or graph) to '
        "see its record here.</div>",
        sizing_mode="stretch_width",
        height=DETAIL_HEIGHT_PX,
        styles={"overflow-y": "auto"},
        name="op_detail",
    )
    hits = ColumnDataSource({"x": [], "y": []}, name="search_hits")
    hits_shown = near_view_filter(lanes.figure, hits)  # a query may match most ops: paint few
    lanes.figure.rect(
        view=CDSView(filter=hits_shown),
        x="x",
        y="y",
        width=1.0,
        height=0.8,
        source=hits,
        fill_alpha=0,
        line_color=SEARCH_COLOR,
        line_width=2,
        name="search_hits_glyph",
    )
    graph_hits = ColumnDataSource({"gx": [], "gy": []}, name="graph_search_hits")
    graph.figure.scatter(
        x="gx",
        y="gy",
        source=graph_hits,
        size=20,
        fill_alpha=0,
        line_color=SEARCH_COLOR,
        line_width=2.5,
        name="graph_search_hits_glyph",
    )
    cb = CustomJS(
        args={
            "input": search,
            "ops": lanes.ops,
            "hits": hits,
            "hits_shown": hits_shown,
            "nodes": graph.nodes,
            "layers": graph.layers,
            "graph_hits": graph_hits,
            "listing": listing,
            "max_listed": MAX_LISTED,
            "colors": colors,
        },
        code=_SEARCH_JS,
    )
    search.js_on_change("value_input", cb)
    search.js_on_change("value", cb)
    detail_cb = CustomJS(
        args={
            "ops": lanes.ops,
            "details": details.source,
            "xs": lanes.crossings,
            "panel": panel,
            "in_ptr": table.in_ptr,
            "in_src": table.in_src,
            "supported": list(SUPPORTED_CHOICES),
            "evidence": list(EVIDENCE_CHOICES),
            "reason_kinds": list(REASON_KIND_CHOICES),
            "rules": details.rules,
            "fixes": details.fixes,
            "hazards": details.hazards,
            "note": _tooltip_literal(source_note(report)),
            "hazard_color": HAZARD_COLOR,
            "devices": [d.value for d in DEVICE_ORDER],
        },
        code=_DETAIL_JS,
    )
    for fig, renderer in (
        (lanes.figure, "lanes_ops_glyph"),
        (graph.figure, "graph_nodes_glyph"),
    ):
        _add_tap(fig, own_renderer(fig, renderer), detail_cb)
    return Explorer(search, listing, panel)


def _add_tap(fig: Any, renderer: Any, callback: CustomJS) -> None:
    """A figure's toolbar runs one tap tool at a time: a figure that has one (the band's zoom,
    a layer's opening) gets one tool for both, each callback run for its own glyph."""
    old = next((t for t in fig.tools if isinstance(t, TapTool)), None)
    if old is None:
        fig.add_tools(TapTool(renderers=[renderer], behavior="inspect", callback=callback))
        return
    mine = renderer.data_source
    old.callback = CustomJS(
        args={"mine": mine, "cb": callback, "other": old.callback},
        code="(cb_data.source === mine ? cb : other).execute(cb_obj, cb_data);",
    )
    old.renderers = [*old.renderers, renderer]


__all__ = ["DetailData", "Explorer", "detail_data", "explorer", "hazard_markers"]
