"""Compact columns (render/encode.py): every encoding gives back exactly the original column.

The browser-side decoder is checked against the same columns in test_notebook_browser.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from bokeh.models import ColumnDataSource, CustomJS, LabelSet
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


def test_prefix_lengths_stop_at_the_shorter_value_and_at_255() -> None:
    shared = encode._shared_prefixes(["abc", "abcdef", "ab", "ab", "x" * 300, "x" * 300])
    assert shared.tolist() == [0, 3, 2, 2, 0, 255]


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
