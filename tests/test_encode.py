"""Compact columns (render/encode.py): every encoding gives back exactly the original column.

The browser-side decoder is checked against the same columns in test_notebook_browser.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from bokeh.models import ColumnDataSource, CustomJS, LabelSet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_render import big_report, named

from ane_notebook.render import encode
from ane_notebook.render.diagram import build_layout

N = 200


def roundtrip(columns: dict[str, object], keep: tuple[str, ...] = ()) -> dict[str, object]:
    plain, encoded = encode.encode_columns(columns, keep)
    return encode.decode_columns(plain, encoded)


def kinds(columns: dict[str, object]) -> dict[str, str]:
    _, encoded = encode.encode_columns(columns)
    return {name: kind for name, kind, *_ in encoded}


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["fp32 island", "gather on CPU", "—"] * (N // 3), encode.DICTIONARY),
        ([f"model_layers_{i // 7}_mlp_{i}" for i in range(N)], encode.PREFIX),
        ([f"{i}_é_{i * 7919 % 1000}" for i in range(N)], encode.JOINED),  # not ASCII
        ([f"{i * 7919 % 100003}" for i in range(N)], encode.JOINED),  # nothing shared
        (["x" * 400 + str(i) for i in range(N)], encode.PREFIX),  # shared beyond 255
        (["a", "ab", "abc", "ab", "", "b"] * (N // 6), encode.DICTIONARY),
    ],
)
def test_each_encoding_gives_the_column_back(values: list[str], kind: str) -> None:
    assert kinds({"c": values}) == {"c": kind}
    assert roundtrip({"c": values}) == {"c": values}


def _shared_prefixes(values: list[str]) -> list[int]:
    """How many leading characters each value shares with the one before, as encode counts."""
    if not values:
        return []
    return encode._front_coded(encode.SEPARATOR.join(values), len(values))[0].tolist()


def test_prefix_lengths_stop_at_the_shorter_value_and_at_255() -> None:
    shared = _shared_prefixes(["abc", "abcdef", "ab", "ab", "x" * 300, "x" * 300])
    assert shared == [0, 3, 2, 2, 0, 255]


def test_columns_left_alone() -> None:
    cols: dict[str, object] = {
        "short": ["a"] * (encode.MIN_ROWS - 1),
        "kept": ["a"] * N,
        "separator": [f"a{encode.SEPARATOR}{i}" for i in range(N)],
        "mixed": ["a", 1] * (N // 2),
    }
    plain, encoded = encode.encode_columns(cols, keep=("kept",))
    assert encoded == [] and plain == cols


def test_whole_number_floats_become_the_smallest_int_exactly() -> None:
    cols = {
        "lane": np.array([-1.0, 0.0, 1.0, 2.0] * (N // 4)),
        "row": np.arange(N, dtype=np.float64) * 300,
        "big": np.arange(N, dtype=np.float64) * 2.0**20,
        "half": np.arange(N, dtype=np.float64) / 2,
        "nan": np.array([np.nan] * N),
        "huge": np.full(N, 2.0**40),
    }
    plain, encoded = encode.encode_columns(cols)
    assert encoded == []
    dtypes = {k: v.dtype for k, v in plain.items()}
    assert dtypes == {
        "lane": np.int8,
        "row": np.int32,
        "big": np.int32,
        "half": np.float64,
        "nan": np.float64,
        "huge": np.float64,
    }
    for k, v in plain.items():
        np.testing.assert_array_equal(v.astype(np.float64), cols[k])


def test_a_text_column_left_alone_is_sent_in_one_step_with_the_same_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bokeh.core.serialization import Serializer

    values = [f"dev{i % 3}" for i in range(N)]
    plain, _ = encode.encode_columns({"kept": values, "short": values[:3]}, keep=("kept",))
    assert type(plain["kept"]) is encode.TextColumn and plain["kept"] == values
    assert type(plain["short"]) is list  # too short to matter: as it was
    plain2, _ = encode.encode_columns({"mixed": ["a", 1] * N, "sub": [named_str("a")] * N})
    assert type(plain2["mixed"]) is list and type(plain2["sub"]) is list  # only plain strs
    expected = Serializer().encode(list(values))

    def per_item(self: Serializer, obj: str) -> str:
        raise AssertionError("a TextColumn was encoded item by item")

    monkeypatch.setattr(Serializer, "_encode_str", per_item)
    assert Serializer().encode(plain["kept"]) == expected == values
    monkeypatch.undo()
    # a column changed after it was made is encoded value by value again, as bokeh would
    changed = encode.TextColumn([*values, float("nan")])
    assert Serializer().encode(changed) == Serializer().encode([*values, float("nan")])


class named_str(str):  # noqa: N801  (a str subclass, as a hostile model might produce)
    pass


def test_encode_sources_keeps_drawn_columns_and_attaches_the_decoder() -> None:
    rep = big_report(3000)
    root = build_layout(rep).root
    ops = named(root, "lanes_ops", ColumnDataSource)
    before = {k: (list(v) if isinstance(v, list) else v.copy()) for k, v in ops.data.items()}
    doc = encode.encode_sources(root)
    assert root.document is doc
    # The colour field stays; the hover-only text columns move into the tags.
    assert "device" in ops.data and "name" not in ops.data and "reason" not in ops.data
    assert ops.tags[0] == encode.TAG
    after = encode.decode_columns(ops.data, [list(t) for t in ops.tags[1:]])
    assert set(after) == set(before)
    for k, v in before.items():
        if isinstance(v, list):
            assert after[k] == v, k
        else:
            np.testing.assert_array_equal(np.asarray(after[k], dtype=v.dtype), v)
    # Every column a label set writes stays in its source (drawn on the first frame).
    drawn = encode._drawn_columns(root.references())
    label_sets = [m for m in root.references() if isinstance(m, LabelSet)]
    assert label_sets
    for ls in label_sets:
        if isinstance(ls.source, ColumnDataSource) and isinstance(ls.text, str):
            assert ls.text in drawn[id(ls.source)] and ls.text in ls.source.data, ls.name
    assert {"x", "y", "device"} <= drawn[id(ops)]
    (cb,) = doc.callbacks._js_event_callbacks["document_ready"]
    assert isinstance(cb, CustomJS) and ops in cb.args["sources"]


def test_a_compare_page_encodes_every_setting_in_one_document() -> None:
    from ane_notebook.render.compare_page import compare_page
    from ane_notebook.render.packjs import unpack_page

    reports = {"first": big_report(3000), "second": big_report(2000)}
    page = unpack_page(compare_page(reports, packed=True).html)
    # One decoder on the document, listing the op sources of both settings.
    assert page.count("window.__aneDecoded = true") == 1  # the decoder's code, once
    assert page.count(f'"{encode.TAG}"') >= 3  # its argument and two sources' tags


def test_encoding_a_page_walks_its_models_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Adding the roots to their document walks every model; the encoder reuses that list
    # instead of walking them again (issue 14: ~20 ms per walk at 50k ops).
    from bokeh.model import Model

    root = build_layout(big_report(300)).root
    walks = []
    real = Model.references

    def counted(self: Model) -> object:
        walks.append(self)
        return real(self)

    monkeypatch.setattr(Model, "references", counted)
    doc = encode.encode_sources(root)
    assert len(walks) == 1
    assert named(root, "lanes_ops", ColumnDataSource).tags[0] == encode.TAG
    assert set(doc.roots) == {root}


def test_the_decoder_lists_its_sources_in_the_order_they_were_made() -> None:
    # bokeh keeps a document's models in a set hashed by address, so the decoder's list came
    # out in a different order from run to run: the same report gave a different page.
    roots = [build_layout(big_report(300 + 100 * k), header=False).root for k in range(4)]
    doc = encode.encode_sources(*roots)
    (cb,) = doc.callbacks._js_event_callbacks["document_ready"]
    made = [int(s.id[1:]) for s in cb.args["sources"]]
    assert len(made) >= 8 and made == sorted(made)


def _reference_encode_column(values: list[str]) -> list[object] | None:
    """encode_column as it was before issue 14's fourth pass: a pass per step over the values
    (kept here as the reference the faster one must match exactly)."""
    if len(values) < encode.MIN_ROWS or set(map(type, values)) != {str}:
        return None
    distinct = dict.fromkeys(values)
    if len(distinct) <= encode.MAX_DISTINCT_SHARE * len(values):
        code = {v: i for i, v in enumerate(distinct)}
        inverse = np.array([code[v] for v in values], dtype=np.int64)
        return [encode.DICTIONARY, encode._codes(len(distinct), inverse), list(distinct)]
    if any(encode.SEPARATOR in v for v in distinct):
        return None
    joined = encode.SEPARATOR.join(values)
    if not joined.isascii():
        return [encode.JOINED, joined]
    shared = np.zeros(len(values), dtype=np.uint8)
    for i in range(1, len(values)):
        a, b = values[i - 1], values[i]
        n = 0
        while n < min(len(a), len(b), 255) and a[n] == b[n]:
            n += 1
        shared[i] = n
    tails = encode.SEPARATOR.join(v[n:] for v, n in zip(values, shared.tolist(), strict=True))
    if len(tails) + len(shared) * 4 // 3 >= len(joined):
        return [encode.JOINED, joined]
    return [encode.PREFIX, shared, tails]


def _same_encoding(got: list[object] | None, want: list[object] | None) -> None:
    if got is None or want is None:
        assert got is want
        return
    assert len(got) == len(want) and got[0] == want[0]
    for g, w in zip(got[1:], want[1:], strict=True):
        if isinstance(w, np.ndarray):
            assert isinstance(g, np.ndarray) and g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)
        else:
            assert type(g) is type(w) and g == w


_SEP = encode.SEPARATOR
_CASES = {
    "names": [f"model_layers_{i // 7}_mlp_{i}" for i in range(N)],
    "repeats in a row": [f"op_{i // 2}" for i in range(N)],
    "empty values": ["", "a", "", "ab", "abc"] * (N // 5) + [f"u{i}" for i in range(N)],
    "long shared": ["x" * 300 + str(i) for i in range(N)],
    "long, nothing shared": [str(i) + "x" * 300 for i in range(N)],
    "one long value": [f"n{i}" for i in range(N - 1)] + ["y" * 1000],
    "hostile": [f"<b>&{i}</b>\n'\"{i % 3}" for i in range(N)],
    "separator in one value": [f"v{i}" for i in range(N - 1)] + [f"a{_SEP}b"],
    "separator, few distinct": [f"a{_SEP}b", "c"] * (N // 2),
    "not ASCII": [f"é{i}" for i in range(N)],
    "exactly a quarter distinct": [f"d{i % (N // 4)}" for i in range(N)],
    "one more than a quarter": [f"d{i % (N // 4 + 1)}" for i in range(N)],
    "distinct late": ["same"] * (N // 2) + [f"late{i}" for i in range(N // 2)],
    "just enough rows": [f"r{i}" for i in range(encode.MIN_ROWS)],
    "too few rows": [f"r{i}" for i in range(encode.MIN_ROWS - 1)],
    "a str subclass": [named_str("a")] * N,
}


@pytest.mark.parametrize("name", list(_CASES))
def test_encode_column_is_the_reference_encoding(name: str) -> None:
    values = _CASES[name]
    _same_encoding(encode.encode_column(values), _reference_encode_column(values))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(["a", "b", "_", "1", "é", _SEP, "\n"]), max_size=8),
        min_size=encode.MIN_ROWS,
        max_size=3 * encode.MIN_ROWS,
    )
)
def test_encode_column_matches_the_reference_on_random_columns(values: list[str]) -> None:
    _same_encoding(encode.encode_column(values), _reference_encode_column(values))


@given(st.lists(st.text(alphabet=st.sampled_from(["a", "b", "c"]), max_size=300), max_size=40))
def test_shared_prefixes_are_counted_as_by_hand(values: list[str]) -> None:
    want = [0][: len(values)] + [
        next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
            min(len(a), len(b), 255),
        )
        for a, b in zip(values, values[1:], strict=False)
    ]
    assert _shared_prefixes(values) == [min(w, 255) for w in want]
