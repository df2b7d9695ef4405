"""The graph view over layers: a collapsed layer is one node, an open one shows what is in it.

A range of ops is cut into *units*: a collapsed layer (one node for all its ops) or a single op.
Units are laid out like ops in `graph.graph_layout` (longest path from the range's inputs, in
execution order, since a layer is a run of consecutive ops); an edge between two units stands
for all the data flow between their ops, and a crossing into a collapsed layer ends on it.

Which layers are open: every one when the range has at most `COLLAPSE_ABOVE` ops; otherwise
whole levels of the tree are opened, outermost first, while the view stays within `UNIT_BUDGET`
units or has fewer than `MIN_UNITS` (a 100-layer LLM shows its 100 blocks, not 10,000 ops; a
4,000-layer one its first blocks, up to the graph's node cap). A click on a layer opens it.
Only what is open is laid out, in the browser (`UNITS_JS`, the twin of `unit_layout`; keep them
in step), so a 200,000-op model costs a pass over the CSR of the shown range per click.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..analysis.names import DTYPE_SUFFIX
from ..textreport import fmt_bytes
from .layerarrays import LayerArrays as LayerArrays  # (re-exported: graph.py, tests)
from .layerarrays import layer_arrays as layer_arrays
from .optable import OpTable

NODE_NAME_CHARS = 18  # of the short name under a graph node

COLLAPSE_ABOVE = 300  # ops in the range: above this, layers start collapsed
UNIT_BUDGET = 160  # units the automatic opening stays within ...
MIN_UNITS = 12  # ... once the view has at least this many


_SEP = re.compile(r"[/._:]")


def node_label(op_type: str, name: str) -> str:
    """The text under an op's graph node: its type and the tail of its (escaped) name, without
    the converter's dtype suffix (`linear q_proj`). JS twin: `ane_label` in UNITS_JS."""
    base = DTYPE_SUFFIX.sub("", name)
    parts = _SEP.split(base)
    short = "_".join(parts[-2:])[:NODE_NAME_CHARS]
    return f"{op_type} {short}" if short and short != op_type else op_type


def node_labels(nodes: Mapping[str, Any]) -> list[str]:
    return [node_label(t, n) for t, n in zip(nodes["op_type"], nodes["name"], strict=True)]


Unit = tuple[int, int, int, int]  # (layer id or -1 for an op, row/layer ref, first, last)


@dataclass(frozen=True)
class _Tree:
    """The layer tree as `units` walks it: plain lists, made once per view (issue 14: the
    children dict was rebuilt, a dict insert per layer, for each of the ~7 calls that opening
    the levels of a 4,500-layer tree makes: `auto_expanded` ~7.6 ms, now ~1.8)."""

    first: list[int]
    last: list[int]
    kid_ptr: list[int]  # the children of layer i: kids[kid_ptr[i + 1] : kid_ptr[i + 2]]
    kids: list[int]  # (i = -1: the roots), in preorder, as `parent` lists them


def _tree(layers: LayerArrays) -> _Tree:
    parent = np.asarray(layers.parent, dtype=np.int64)
    counts = np.bincount(parent + 1, minlength=len(parent) + 1)
    ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    order = np.argsort(parent, kind="stable")  # children in preorder within each parent
    return _Tree(layers.first.tolist(), layers.last.tolist(), ptr.tolist(), order.tolist())


def units(layers: LayerArrays, lo: int, hi: int, expanded: set[int] | None) -> list[Unit]:
    """Rows [lo, hi) cut into units; `expanded` None opens every layer."""
    return _units(_tree(layers), lo, hi, expanded)


def _units(tree: _Tree, lo: int, hi: int, expanded: set[int] | None) -> list[Unit]:
    first, last_of, ptr, kids = tree.first, tree.last, tree.kid_ptr, tree.kids
    out: list[Unit] = []

    def emit(a: int, b: int, nodes: list[int]) -> None:
        r = a
        for i in nodes:
            f, last = first[i], last_of[i]
            if last < a or f > b:
                continue
            while r < f:
                out.append((-1, r, r, r))
                r += 1
            inside = lo <= f and last < hi
            if inside and expanded is not None and i not in expanded:
                out.append((i, i, f, last))
            else:
                emit(max(f, a), min(last, b), kids[ptr[i + 1] : ptr[i + 2]])
            r = min(last, b) + 1
        while r <= b:
            out.append((-1, r, r, r))
            r += 1

    if hi > lo:
        emit(lo, hi - 1, kids[ptr[0] : ptr[1]])
    return out


def auto_expanded(layers: LayerArrays, lo: int, hi: int) -> set[int] | None:
    """The layers open by default for rows [lo, hi) (see the module doc)."""
    if hi - lo <= COLLAPSE_ABOVE or not len(layers):
        return None
    tree = _tree(layers)
    opened: set[int] = set()
    now = _units(tree, lo, hi, opened)
    while True:
        closed = [u[0] for u in now if u[0] >= 0]
        if not closed:
            return opened
        trial = opened | set(closed)
        # Over budget stops the opening, unless the view is still a handful of boxes (one
        # "model" box says nothing; the graph's node cap then cuts a very long level).
        # (The trial's units are the next round's `now`: each level is cut once.)
        after = _units(tree, lo, hi, trial)
        if len(after) > UNIT_BUDGET and len(now) >= MIN_UNITS:
            return opened
        opened, now = trial, after


@dataclass(frozen=True)
class UnitLayout:
    lo: int
    hi: int
    units: list[Unit]
    gx: np.ndarray  # per unit
    gy: np.ndarray
    edges: np.ndarray  # (n, 2) unit indices
    unit_of: np.ndarray  # row - lo -> unit index
    truncated: bool


def unit_layout(
    table: OpTable, layers: LayerArrays, lo: int, hi: int, expanded: set[int] | None, max_units: int
) -> UnitLayout:
    us = units(layers, lo, hi, expanded)
    truncated = len(us) > max_units
    if truncated:
        us = us[:max_units]
        hi = us[-1][3] + 1 if us else lo
    # The units tile [lo, hi) in order, so a unit's rows are the next `last - first + 1`
    # (in numpy, not a slice per unit: issue 14, with `centred_rows` `unit_layout` of the 50k
    # benchmark's ~500 units ~2.7 ms, now ~1.3).
    spans = np.fromiter((u[3] - u[2] + 1 for u in us), dtype=np.int64, count=len(us))
    unit_of = np.repeat(np.arange(len(us), dtype=np.int64), spans)
    edges, depth = _unit_edges(table, us, unit_of, lo, hi)
    gy = centred_rows(depth)
    return UnitLayout(
        lo,
        hi,
        us,
        depth.astype(np.float64),
        gy,
        np.asarray(edges, dtype=np.int64).reshape(-1, 2),
        unit_of,
        truncated,
    )


def centred_rows(depth: np.ndarray) -> np.ndarray:
    """Each node's place within its depth, in order, centred on 0: the k-th of n nodes at a
    depth is at (n - 1) / 2 - k. In numpy (a stable sort by depth ranks the nodes of each
    depth in order), not a loop over the nodes (issue 14)."""
    m = len(depth)
    size = np.bincount(depth, minlength=1) if m else np.zeros(1, dtype=np.int64)
    order = np.argsort(depth, kind="stable")
    start = np.zeros(len(size), dtype=np.int64)
    np.cumsum(size[:-1], out=start[1:])
    slot = np.empty(m, dtype=np.int64)
    slot[order] = np.arange(m, dtype=np.int64) - start[depth[order]]
    gy: np.ndarray = (size[depth] - 1) / 2.0 - slot
    return gy


def _unit_edges(
    table: OpTable, us: list[Unit], unit_of: np.ndarray, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """(edges, depth) of the units tiling rows [lo, hi) (`unit_of`: row - lo -> unit).

    An edge per input of an op unit from an op unit, one per pair of units otherwise, in the
    order of a walk over the units' rows and their inputs (the order `UNITS_JS` makes); a
    unit's depth is one more than its deepest producer's. In numpy over the CSR of the range,
    not a Python loop per row (~20 ms at 50k ops: issue 14); `_unit_edges_simple` in the tests
    is that loop.
    """
    ptr, src = table.in_ptr, table.in_src
    n_units = len(us)
    # Every (producer, consumer) pair of the range, in CSR order (rows ascending, then inputs).
    s = src[ptr[lo] : ptr[hi]].astype(np.int64)
    r = np.repeat(np.arange(lo, hi, dtype=np.int64), np.diff(ptr[lo : hi + 1]))
    inside = (s >= lo) & (s < hi)
    su, du = unit_of[s[inside] - lo], unit_of[r[inside] - lo]
    # The units tile the range in order: a producer before its consumer's unit starts is one
    # in an earlier unit (an input from inside the unit itself, or from later, is no edge).
    earlier = su < du
    su, du = su[earlier], du[earlier]
    key = su * n_units + du
    first = np.zeros(len(key), dtype=bool)
    first[np.unique(key, return_index=True)[1]] = True
    is_op = np.fromiter((u[0] < 0 for u in us), dtype=bool, count=n_units)
    keep = first | (is_op[su] & is_op[du])  # op to op: every input, as graph_layout
    edges = np.stack([su[keep], du[keep]], axis=1).reshape(-1, 2)
    # Depths over the distinct pairs, consumers ascending: a producer's depth is final first.
    pairs = np.unique(key)
    psu, pdu = pairs // max(n_units, 1), pairs % max(n_units, 1)
    order = np.argsort(pdu, kind="stable")
    depth = [0] * n_units
    for a, b in zip(psu[order].tolist(), pdu[order].tolist(), strict=True):
        if depth[a] >= depth[b]:
            depth[b] = depth[a] + 1
    return edges, np.asarray(depth, dtype=np.int64)


def unit_sources(
    table: OpTable, crossings: Mapping[str, Any], layers: LayerArrays, lay: UnitLayout
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Python twin of the source-building half of `graphunits.UNITS_JS`."""
    us = lay.units
    opk = [k for k, u in enumerate(us) if u[0] < 0]
    lyk = [k for k, u in enumerate(us) if u[0] >= 0]
    op_rows = np.asarray([us[k][1] for k in opk], dtype=np.int64)
    nodes = {
        k: (v[op_rows] if isinstance(v, np.ndarray) else [v[i] for i in op_rows])
        for k, v in table.columns.items()
    }
    nodes["gx"], nodes["gy"] = lay.gx[opk], lay.gy[opk]
    nodes["label"] = node_labels(nodes)
    ids = np.asarray([us[k][1] for k in lyk], dtype=np.int64)
    all_cols = layers_all(layers)
    ld = {
        k: (v[ids] if isinstance(v, np.ndarray) else [v[i] for i in ids])
        for k, v in all_cols.items()
    }
    ld["id"] = ids.astype(np.int32)
    ld["gx"], ld["gy"] = lay.gx[lyk], lay.gy[lyk]
    ld["text"] = [f"{all_cols['label'][i]} ({all_cols['n_ops'][i]})" for i in ids]
    e = lay.edges
    edges = {
        "x0": lay.gx[e[:, 0]],
        "y0": lay.gy[e[:, 0]],
        "x1": lay.gx[e[:, 1]],
        "y1": lay.gy[e[:, 1]],
    }
    lo, hi = lay.lo, lay.hi
    sr, dr = np.asarray(crossings["src_row"]), np.asarray(crossings["dst_row"])
    inside = np.flatnonzero((sr >= lo) & (sr < hi) & (dr >= lo) & (dr < hi))
    su_all, du_all = lay.unit_of[sr[inside] - lo], lay.unit_of[dr[inside] - lo]
    apart = su_all != du_all
    keep, su, du = inside[apart], su_all[apart], du_all[apart]
    xdata = {
        k: (v[keep] if isinstance(v, np.ndarray) else [v[i] for i in keep])
        for k, v in crossings.items()
    }
    xdata["gx0"], xdata["gy0"] = lay.gx[su], lay.gy[su]
    xdata["gx1"], xdata["gy1"] = lay.gx[du], lay.gy[du]
    return nodes, ld, edges, xdata


def layers_all(layers: LayerArrays) -> dict[str, Any]:
    return {"first": layers.first, "last": layers.last, "parent": layers.parent, **layers.columns}


def crossing_label_data(xdata: Mapping[str, Any]) -> dict[str, list[Any]]:
    """One label per pair of graph nodes a crossing joins: count and bytes (JS twin in
    graphunits.UNITS_JS)."""
    agg: dict[tuple[float, float, float, float], list[float]] = {}
    for x0, y0, x1, y1, b in zip(
        xdata["gx0"], xdata["gy0"], xdata["gx1"], xdata["gy1"], xdata["bytes"], strict=True
    ):
        a = agg.setdefault((x0, y0, x1, y1), [0, 0.0])
        a[0] += 1
        a[1] += float(b)
    out: dict[str, list[Any]] = {"x": [], "y": [], "text": []}
    for j, ((x0, y0, x1, y1), (n, b)) in enumerate(agg.items()):
        out["x"].append((x0 + x1) / 2)
        # Above and below the edge in turn: neighbouring crossings' labels then do not meet.
        out["y"].append((y0 + y1) / 2 + (0.2 if j % 2 == 0 else -0.2))
        out["text"].append((f"{int(n)} × " if n > 1 else "") + fmt_bytes(b))
    return out


# Browser twin of units + auto_expanded + unit_layout, and of the graph sources built from them.
# `state` (a ColumnDataSource) holds the range and the open layers, so a click keeps the range.
UNITS_JS = """
function ane_label(op_type, name) {
  const base = name.replace(new RegExp(dtype_suffix), "");
  const parts = base.split(/[/._:]/);
  const short = parts.slice(-2).join("_").slice(0, node_name_chars);
  return short && short != op_type ? `${op_type} ${short}` : op_type;
}
function ane_units(L, lo, hi, expanded) {
  const out = [];
  const emit = (a, b, nodes) => {
    let r = a;
    for (const i of nodes) {
      const f = L.first[i], last = L.last[i];
      if (last < a || f > b) { continue; }
      while (r < f) { out.push([-1, r, r, r]); r++; }
      const inside = lo <= f && last < hi;
      if (inside && expanded !== null && !expanded.has(i)) { out.push([i, i, f, last]); }
      else { emit(Math.max(f, a), Math.min(last, b), L.kids[i] ?? []); }
      r = Math.min(last, b) + 1;
    }
    while (r <= b) { out.push([-1, r, r, r]); r++; }
  };
  if (hi > lo) { emit(lo, hi - 1, L.kids[-1] ?? []); }
  return out;
}
function ane_auto(L, lo, hi) {
  if (hi - lo <= collapse_above || L.first.length == 0) { return null; }
  let opened = new Set();
  for (;;) {
    const now = ane_units(L, lo, hi, opened);
    const closed = now.filter((u) => u[0] >= 0).map((u) => u[0]);
    if (closed.length == 0) { return opened; }
    const trial = new Set([...opened, ...closed]);
    if (ane_units(L, lo, hi, trial).length > unit_budget && now.length >= min_units) {
      return opened;
    }
    opened = trial;
  }
}
function ane_relayout(lo, hi, expanded) {
  const L = {first: layers_all.data.first, last: layers_all.data.last, kids: {}};
  const par = layers_all.data.parent;
  for (let i = 0; i < par.length; i++) { (L.kids[par[i]] ??= []).push(i); }
  if (expanded === undefined) { expanded = ane_auto(L, lo, hi); }
  let us = ane_units(L, lo, hi, expanded);
  const truncated = us.length > max_ops;
  if (truncated) { us = us.slice(0, max_ops); hi = us.length ? us[us.length - 1][3] + 1 : lo; }
  const unit_of = new Int32Array(Math.max(hi - lo, 0));
  us.forEach((u, k) => { for (let r = u[2]; r <= u[3]; r++) { unit_of[r - lo] = k; } });
  const depth = new Int32Array(us.length);
  const e0 = [], e1 = [], seen = new Set();
  let maxd = 0;
  for (let k = 0; k < us.length; k++) {
    const [kind, , f, last] = us[k];
    let d = 0;
    for (let r = f; r <= last; r++) {
      for (let e = in_ptr[r]; e < in_ptr[r + 1]; e++) {
        const s = in_src[e];
        if (s >= lo && s < f) {
          const su = unit_of[s - lo];
          d = Math.max(d, depth[su] + 1);
          const key = su * us.length + k;
          if ((kind < 0 && us[su][0] < 0) || !seen.has(key)) {
            seen.add(key); e0.push(su); e1.push(k);
          }
        }
      }
    }
    depth[k] = d;
    if (d > maxd) { maxd = d; }
  }
  const size = new Int32Array(maxd + 1), slot = new Int32Array(maxd + 1);
  for (let k = 0; k < us.length; k++) { size[depth[k]] += 1; }
  const gx = new Float64Array(us.length), gy = new Float64Array(us.length);
  for (let k = 0; k < us.length; k++) {
    const d = depth[k];
    gx[k] = d; gy[k] = (size[d] - 1) / 2 - slot[d]; slot[d] += 1;
  }
  const opk = [], lyk = [];
  us.forEach((u, k) => (u[0] < 0 ? opk : lyk).push(k));
  const nd = {};
  for (const key of Object.keys(ops.data)) {
    const col = ops.data[key];
    nd[key] = opk.map((k) => col[us[k][1]]);
  }
  nd.gx = opk.map((k) => gx[k]); nd.gy = opk.map((k) => gy[k]);
  nd.label = opk.map((k) => ane_label(ops.data.op_type[us[k][1]], ops.data.name[us[k][1]]));
  nodes.data = nd;
  const ld = {};
  for (const key of Object.keys(layers_all.data)) {
    const col = layers_all.data[key];
    ld[key] = lyk.map((k) => col[us[k][1]]);
  }
  ld.id = lyk.map((k) => us[k][1]);
  ld.gx = lyk.map((k) => gx[k]); ld.gy = lyk.map((k) => gy[k]);
  const la_ = layers_all.data;
  ld.text = lyk.map((k) => `${la_.label[us[k][1]]} (${la_.n_ops[us[k][1]]})`);
  layers.data = ld;
  edges.data = {x0: e0.map((i) => gx[i]), y0: e0.map((i) => gy[i]),
                x1: e1.map((i) => gx[i]), y1: e1.map((i) => gy[i])};
  const keep = [], su = [], du = [];
  const sr = xs.data.src_row, dr = xs.data.dst_row;
  for (let j = 0; j < sr.length; j++) {
    if (sr[j] >= lo && sr[j] < hi && dr[j] >= lo && dr[j] < hi) {
      const a = unit_of[sr[j] - lo], b = unit_of[dr[j] - lo];
      if (a != b) { keep.push(j); su.push(a); du.push(b); }
    }
  }
  const xd = {};
  for (const key of Object.keys(xs.data)) {
    const col = xs.data[key];
    xd[key] = keep.map((j) => col[j]);
  }
  xd.gx0 = su.map((a) => gx[a]); xd.gy0 = su.map((a) => gy[a]);
  xd.gx1 = du.map((b) => gx[b]); xd.gy1 = du.map((b) => gy[b]);
  graph_xs.data = xd;
  // One label per pair of units: the tensors crossing between them and their bytes.
  const agg = new Map();
  keep.forEach((j, t) => {
    const key = su[t] * us.length + du[t];
    const a = agg.get(key) ?? {n: 0, bytes: 0, x: (gx[su[t]] + gx[du[t]]) / 2,
                               y: (gy[su[t]] + gy[du[t]]) / 2};
    a.n += 1; a.bytes += xs.data.bytes[j]; agg.set(key, a);
  });
  const fb = (b) => {  // textreport.fmt_bytes
    for (const unit of ["B", "KB", "MB", "GB"]) {
      if (Math.abs(b) < 1024 || unit == "GB") {
        return unit == "B" ? `${b.toFixed(0)} B` : `${b.toFixed(1)} ${unit}`;
      }
      b /= 1024;
    }
  };
  const la = [...agg.values()];
  xlabels.data = {x: la.map((a) => a.x), y: la.map((a, j) => a.y + (j % 2 == 0 ? 0.2 : -0.2)),
                  text: la.map((a) => (a.n > 1 ? `${a.n} × ` : "") + fb(a.bytes))};
  xlabels_set.visible = la.length <= max_labels;
  labels.visible = opk.length <= max_labels && maxd + 1 <= max_label_layers;
  layer_labels.visible = lyk.length <= max_labels && maxd + 1 <= max_label_layers;
  state.data = {lo: [lo], hi: [hi], expanded: [expanded === null ? [] : [...expanded]],
                all_open: [expanded === null]};
  let title = `Data flow, ops ${lo}–${hi - 1} of ${ops.get_length()}`;
  if (lyk.length) { title += `: ${lyk.length} layers collapsed (click one to open it)`; }
  if (truncated) { title += ` (cut at the first ${us.length} nodes)`; }
  fig.title.text = title;
}
"""

SELECT_JS = """
const idx = ops.selected.indices;
if (idx.length == 0) { return; }  // a cleared selection keeps the current view
let lo = Infinity, hi = -Infinity;
for (const i of idx) { if (i < lo) lo = i; if (i > hi) hi = i; }
ane_relayout(lo, hi + 1, undefined);
"""

EXPAND_JS = """
const idx = cb_data.source.inspected.indices;
if (idx.length == 0) { return; }
const id = layers.data.id[idx[0]];
const st = state.data;
if (st.all_open[0]) { return; }
const open = new Set(st.expanded[0]);
open.add(id);
ane_relayout(st.lo[0], st.hi[0], open);
"""

RESET_JS = """
const st = state.data;
ane_relayout(st.lo[0], st.hi[0], undefined);
"""
