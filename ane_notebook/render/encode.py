"""Text columns of a ColumnDataSource sent compactly, and decoded in the browser on load.

bokeh sends numpy columns as binary, but a column of strings as a JSON list: at 50,000 ops the
op table's text columns (reason, output shapes, op type, names) are most of the page and most
of the time `to_html` spends serialising. Two encodings, chosen per column:

* **dictionary**: a column with few distinct values (reasons, op types, shapes, dtypes) becomes
  integer codes (uint8/uint16/int32, binary) plus its list of distinct values;
* **joined**: any other text column (names) becomes one string, the values separated by U+001F
  (a control character: `escape.html_text` shows control characters as visible escapes, so it
  never occurs in an escaped value; a column where it does occur is left alone);
* **prefix** (front coding): like joined, but each value without the characters it shares with
  the one before (their count in a uint8 array): op names in execution order share their layer
  path (`model_layers_12_self_attn_...`), which halves the names column at 50k ops.

Float columns holding only whole numbers (positions, lanes) are sent as the smallest integer
type that holds them: the same values, a half to an eighth of the bytes, no decoding needed.

The encoded columns ride in the source's `tags` and the source starts without them; one
`CustomJS` on the document's `document_ready` event rebuilds them before anyone can hover or
select. Columns a glyph or an annotation draws with (colour field, label text) are sent as they
are, so the first frame is already right.

Hook: none in the diagram code. `encode_sources(*roots)` walks finished layouts, encodes every
ColumnDataSource in place and attaches the decoder; `render/html.py` and
`render/compare_page.py` call it just before embedding. Python code that reads a layout's
sources (tests, the diagram itself) sees them before encoding.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np
from bokeh.core.property.vectorization import Field
from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.model import Model
from bokeh.models import ColumnDataSource, CustomJS
from bokeh.models.annotations.annotation import DataAnnotation
from bokeh.models.renderers import GlyphRenderer

TAG = "ane_encoded"
SEPARATOR = "\x1f"
DICTIONARY = "dict"
JOINED = "joined"
PREFIX = "prefix"
_MAX_PREFIX = 255  # shared lengths are sent as uint8
_SEP_BYTE = ord(SEPARATOR)
# Dictionary-encode when the distinct values are at most this share of the rows: below it the
# codes plus the dictionary are smaller than the values joined.
MAX_DISTINCT_SHARE = 0.25
MIN_ROWS = 64  # below this a column is sent as it is: nothing worth saving


class TextColumn(list[str]):
    """A text column sent as it is (one a glyph draws with), every value a plain `str`.

    bokeh's serialiser encodes a list item by item (a reference lookup, a cycle check and a type
    dispatch per value: ~1.5 µs, ~40 ms for the 25k-op device column of a 50k-op page, GitHub
    issue 14); for plain strings each step returns the value itself, so this type is registered
    to be sent as a copy of the list in one step, with the same JSON."""


def _send_text_column(column: TextColumn, serializer: Serializer) -> Any:
    """The column as one list when it still holds plain `str`s only (checked in C: a column
    changed after it was made falls back to bokeh's per-value encoding)."""
    if set(map(type, column)) <= {str}:
        return list(column)
    return [serializer.encode(value) for value in column]


Serializer.register(TextColumn, _send_text_column)


def _codes(n_values: int, inverse: np.ndarray) -> np.ndarray:
    dtype = np.uint8 if n_values <= 1 << 8 else np.uint16 if n_values <= 1 << 16 else np.int32
    return inverse.astype(dtype)


def encode_column(values: list[str]) -> list[Any] | None:
    """`[kind, payload...]` for a text column, or None to send it as it is."""
    # C-level passes (`map`, `dict.fromkeys`, one join) rather than a generator per value: at
    # 50k ops these columns hold ~150k values, and each pass over fresh strings costs ~5 ms
    # (issue 14).
    n = len(values)
    if n < MIN_ROWS or set(map(type, values)) != {str}:
        return None
    limit = int(MAX_DISTINCT_SHARE * n)
    # More distinct values among the first limit + 1 than the share allows: no dictionary,
    # and no need to hash the rest (a names column is ~all distinct).
    if len(set(values[: limit + 1])) <= limit:
        distinct = dict.fromkeys(values)  # the distinct values, in order of first appearance
        if len(distinct) <= limit:
            code = {v: i for i, v in enumerate(distinct)}
            inverse = np.fromiter(map(code.__getitem__, values), dtype=np.int64, count=n)
            return [DICTIONARY, _codes(len(distinct), inverse), list(distinct)]
    joined = SEPARATOR.join(values)
    if joined.count(SEPARATOR) != n - 1:
        return None  # a value holds the separator
    if not joined.isascii():
        # JavaScript counts UTF-16 code units, Python code points: front coding needs them equal.
        return [JOINED, joined]
    shared, tails = _front_coded(joined, n)
    if len(tails) + len(shared) * 4 // 3 >= len(joined):
        return [JOINED, joined]
    return [PREFIX, shared, tails]


def _front_coded(joined: str, n: int) -> tuple[np.ndarray, str]:
    """(shared prefix lengths, tails joined) of the `n` ASCII values joined in `joined`
    (how many leading characters each value shares with the one before, at most 255, and each
    value without them, joined).

    Worked out on the joined text's bytes, not on the values: no further pass over ~25,000
    string objects (~8 ms on a 50k-op page, issue 14)."""
    buf = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    ends = np.flatnonzero(buf == _SEP_BYTE)
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends + 1
    lengths = np.empty(n, dtype=np.int64)
    lengths[:-1] = ends - starts[:-1]
    lengths[-1] = len(buf) - starts[-1]
    shared = _shared_of_rows(buf, starts, np.minimum(lengths, _MAX_PREFIX))
    # Keep every byte but each value's shared prefix: each value's run from the end of its
    # prefix to the next value's start (its separator kept), gathered by index. Only the kept
    # bytes are indexed; a mask over every byte (a running sum, a comparison and a boolean
    # index of the whole text) took twice as long: ~4.7 against ~2.4 ms for 25k names.
    first = starts + shared
    stops = np.empty(n, dtype=np.int64)
    stops[:-1] = starts[1:]
    stops[-1] = len(buf)
    sizes = stops - first
    before = np.cumsum(sizes) - sizes  # where each run goes in the tails
    at = np.arange(int(sizes.sum()), dtype=np.int64) + np.repeat(first - before, sizes)
    return shared, buf[at].tobytes().decode("ascii")


def _shared_of_rows(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """For each value (at `starts` in `buf`, `lengths` capped at 255), how many leading
    characters it shares with the previous one: the values' first bytes as rows of a matrix,
    compared with the row above (bytes past a value's end are the next value's; the count is
    cut at the shorter length, so they never count)."""
    n = len(starts)
    out = np.zeros(n, dtype=np.uint8)
    if n < 2:
        return out
    width = max(int(lengths.max()), 1)
    padded = np.concatenate([buf, np.zeros(width, dtype=np.uint8)])
    rows = np.lib.stride_tricks.sliding_window_view(padded, width)[starts]
    differ = rows[1:] != rows[:-1]
    first = np.where(differ.any(axis=1), differ.argmax(axis=1), width)
    out[1:] = np.minimum(first, np.minimum(lengths[1:], lengths[:-1]))
    return out


def _smallest_int(col: np.ndarray) -> np.ndarray | None:
    """`col` as the smallest integer type that holds it exactly, or None."""
    if col.dtype.kind != "f" or len(col) < MIN_ROWS or not np.isfinite(col).all():
        return None
    if not (col == np.round(col)).all():
        return None
    lo, hi = col.min(), col.max()
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return col.astype(dtype)
    return None


def encode_columns(
    columns: Mapping[str, Any], keep: Collection[str] = ()
) -> tuple[dict[str, Any], list[list[Any]]]:
    """(the columns sent as they are, `[name, kind, payload...]` for each encoded one)."""
    plain: dict[str, Any] = {}
    encoded: list[list[Any]] = []
    for name, col in columns.items():
        if isinstance(col, np.ndarray):
            small = _smallest_int(col)
            plain[name] = col if small is None else small
            continue
        enc = None if name in keep or not isinstance(col, list) else encode_column(col)
        if enc is None:
            plain[name] = _as_sent(col)
        else:
            encoded.append([name, *enc])
    return plain, encoded


def _as_sent(col: Any) -> Any:
    """A column left as it is: a `TextColumn` when it is a list of plain strings (and long
    enough to matter), else unchanged."""
    if type(col) is list and len(col) >= MIN_ROWS and set(map(type, col)) == {str}:
        return TextColumn(col)
    return col


def decode_columns(plain: Mapping[str, Any], encoded: list[list[Any]]) -> dict[str, Any]:
    """The Python twin of the browser's decoder (for tests): the original columns."""
    out = dict(plain)
    for name, kind, *payload in encoded:
        if kind == DICTIONARY:
            codes, values = payload
            out[name] = [values[int(c)] for c in codes]
        elif kind == PREFIX:
            col, prev = [], ""
            for n, tail in zip(payload[0].tolist(), payload[1].split(SEPARATOR), strict=True):
                prev = prev[:n] + tail
                col.append(prev)
            out[name] = col
        else:
            out[name] = payload[0].split(SEPARATOR)
    return out


def _fields(model: Model) -> set[str]:
    """Every name a model's data specs could read from its source: field names, and plain
    strings too (bokeh reads a string as a field or as a value depending on the property;
    keeping a column too many costs only bytes)."""
    out: set[str] = set()
    for prop in model.dataspecs():
        v = getattr(model, prop)
        if isinstance(v, str):
            out.add(v)
        elif isinstance(v, Field):
            out.add(v.field)
    return out


def _drawn_columns(models: Iterable[Model]) -> dict[int, set[str]]:
    """id(source) -> the columns its glyphs and annotations (among `models`) draw with."""
    drawn: dict[int, set[str]] = {}
    for m in models:
        if isinstance(m, GlyphRenderer):
            glyphs = (
                m.glyph,
                m.selection_glyph,
                m.nonselection_glyph,
                m.hover_glyph,
                m.muted_glyph,
            )
            cols = set().union(*(_fields(g) for g in glyphs if isinstance(g, Model)))
            drawn.setdefault(id(m.data_source), set()).update(cols)
        elif isinstance(m, DataAnnotation):
            drawn.setdefault(id(m.source), set()).update(_fields(m))
    return drawn


def _id_order(model: Model) -> tuple[int, str]:
    """Models in the order they were made when ids are bokeh's counted ones (``p1234``), by
    id otherwise."""
    digits = model.id[1:]
    return (int(digits), "") if digits.isdigit() else (-1, model.id)


def encode_sources(*roots: Model) -> Document:
    """Encode the text columns of every ColumnDataSource under `roots` (in place, keeping the
    columns glyphs draw with) and return the one document holding them all, with the decoder
    attached. Embed that document (or the roots, which now belong to it)."""
    if not roots:
        raise ValueError("encode_sources needs at least one root")
    doc = roots[0].document
    if doc is None:
        doc = Document()
        for root in roots:
            doc.add_root(root)
    # Every property of every model is walked to find them (~20 ms on a 50k-op page): adding
    # the roots to their document does that walk anyway, so its list of models is reused when
    # the roots are the whole document (issue 14); otherwise the roots are walked here.
    if set(doc.roots) == set(roots):
        models = {id(m): m for m in doc.models}
    else:
        models = {id(m): m for root in roots for m in root.references()}
    drawn = _drawn_columns(models.values())
    sources = []
    for m in models.values():
        if not isinstance(m, ColumnDataSource) or m.tags:
            continue
        plain, encoded = encode_columns(m.data, drawn.get(id(m), set()))
        if encoded:
            m.data = plain
            m.tags = [TAG, *encoded]
            sources.append(m)
    if sources:
        # bokeh keeps a document's models in a set (hashed by address): in id order, the same
        # page comes out byte for byte each time (ids are counted as models are made)
        sources.sort(key=_id_order)
        doc.js_on_event(
            "document_ready",
            CustomJS(args={"sources": sources, "tag": TAG, "sep": SEPARATOR}, code=_DECODE_JS),
        )
    return doc


# Runs once, when the document is ready: rebuild each encoded source's columns in one change.
_DECODE_JS = """
for (const src of sources) {
  const tags = src.tags;
  if (tags.length == 0 || tags[0] !== tag) { continue; }
  const data = {...src.data};
  for (const [name, kind, a, b] of tags.slice(1)) {
    if (kind === "dict") {
      const col = new Array(a.length);
      for (let i = 0; i < a.length; i++) { col[i] = b[a[i]]; }
      data[name] = col;
    } else if (kind === "prefix") {
      const tails = b.split(sep), col = new Array(tails.length);
      let prev = "";
      for (let i = 0; i < tails.length; i++) {
        prev = prev.slice(0, a[i]) + tails[i];
        col[i] = prev;
      }
      data[name] = col;
    } else {
      data[name] = a.split(sep);
    }
  }
  src.tags = [];
  src.data = data;
}
window.__aneDecoded = true;
"""
