"""render/docjson.py serialises our documents without reading every unset property (GitHub
issue 14). Its JSON must be bokeh's `Document.to_json(deferred=False)`, key for key and in the
same order: compared here as JSON text on every example page, a 50,000-op page, the compare
page, and the cases where skipping a read could differ (required properties, theme values,
container defaults, bokeh's include-defaults setting, a model with its own serialisation)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from bokeh.core.properties import Int, List, Required, String
from bokeh.core.property.descriptors import UnsetValueError
from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.model import Model
from bokeh.models import ColumnDataSource, Div, Plot, Range1d
from bokeh.plotting import figure
from bokeh.settings import settings
from bokeh.themes import Theme
from test_render import big_report, make_report

import ane_notebook as an
from ane_notebook.model.examples import list_examples
from ane_notebook.render.compare import compare_figure
from ane_notebook.render.docjson import doc_json
from ane_notebook.render.encode import encode_sources
from ane_notebook.render.layout import build_layout
from ane_notebook.report import ProfileReport


def _text(doc: Document, *, fast: bool) -> str:
    return json.dumps(doc_json(doc) if fast else doc.to_json(deferred=False))


def _same_json(doc: Document) -> None:
    """Ours first, then bokeh's, on the same document: any state our pass skipped that bokeh's
    read would have made shows up as a difference in the second comparison."""
    ours = _text(doc, fast=True)
    _equal(ours, _text(doc, fast=False))
    _equal(_text(doc, fast=True), ours)


def _equal(got: str, want: str) -> None:
    """`got == want`, failing with where they part (pytest's diff of megabytes would take
    minutes)."""
    if got != want:
        at = next(
            (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
            min(map(len, (got, want))),
        )
        raise AssertionError(
            f"differ at {at}: {got[at - 80 : at + 80]!r} != {want[at - 80 : at + 80]!r}"
        )


def _page_doc(report: ProfileReport, compare: dict[str, ProfileReport] | None = None) -> Document:
    return encode_sources(build_layout(report, compare).root)


@pytest.mark.parametrize("units", ["ALL", "CPU_AND_NE"])
@pytest.mark.parametrize("name", [n for n, _ in list_examples()])
def test_example_pages_are_bokehs_json(name: str, units: str) -> None:
    _same_json(_page_doc(an.profile(f"example:{name}", compute_units=units)))


def test_fifty_thousand_op_page_is_bokehs_json() -> None:
    _same_json(_page_doc(big_report(50_000)))


def test_hostile_and_compared_pages_are_bokehs_json() -> None:
    _same_json(_page_doc(make_report(), {"a": make_report(), "b": make_report()}))


def test_compare_page_document_is_bokehs_json() -> None:
    reports = {"a": make_report(), "b": make_report()}
    roots = [
        compare_figure(reports),
        *(build_layout(r, header=False).root for r in reports.values()),
    ]
    _same_json(encode_sources(*roots))


def test_a_buffer_sent_twice_is_bokehs_json_and_ids_count_on_as_bokehs() -> None:
    # One array in two callbacks (compressed once), an equal copy, one of the same size that
    # differs, a small one twice, and a non-contiguous slice: each as bokeh sends it.
    import numpy as np
    from bokeh.models import CustomJS
    from bokeh.util.serialization import make_id

    from ane_notebook.render.docjson import SHARED_BUFFER_BYTES

    rng = np.random.default_rng(7)
    big = rng.integers(0, 1000, SHARED_BUFFER_BYTES // 4 + 3, dtype=np.int32)
    other = big.copy()
    other[-1] += 1
    small = np.arange(10, dtype=np.float64)
    stride = rng.random(SHARED_BUFFER_BYTES // 4)[::2]
    args = {"a": big, "b": big.copy(), "c": other, "s": small, "t": stride}
    doc = _doc_of(
        CustomJS(args=args, code=""),
        CustomJS(args={"a": big, "s": small, "t": stride}, code=""),
        ColumnDataSource({"x": big, "y": other}),
    )
    _same_json(doc)
    before = int(make_id()[1:])
    _text(doc, fast=True)
    after_ours = int(make_id()[1:])
    doc.to_json(deferred=False)
    after_bokehs = int(make_id()[1:])
    assert after_ours - before == after_bokehs - after_ours


class _Needs(Model):
    """A model with a required property and a container default."""

    __implementation__ = None
    label = Required(String)
    items = List(Int)
    count = Int(default=3)


def _doc_of(*models: Model) -> Document:
    doc = Document()
    for m in models:
        doc.add_root(m)
    return doc


def test_unset_required_property_raises_as_bokeh_does() -> None:
    doc = _doc_of(_Needs())
    with pytest.raises(UnsetValueError):
        doc.to_json(deferred=False)
    with pytest.raises(UnsetValueError):
        doc_json(doc)


def test_set_unset_and_container_defaults() -> None:
    _same_json(_doc_of(_Needs(label="a"), _Needs(label="b", items=[1], count=3)))
    changed = _Needs(label="c")
    changed.items.append(4)  # a container default changed in place is still left out
    _same_json(_doc_of(changed))


def test_unstable_default_passed_as_undefined_is_made_when_read() -> None:
    from bokeh.core.property.singletons import Undefined

    _same_json(_doc_of(Plot(x_range=Undefined, y_range=Range1d(0, 1))))
    # A container default skipped at construction: bokeh's read makes it, and so does ours.
    ours, theirs = _Needs(label="a", items=Undefined), _Needs(label="a", items=Undefined)
    doc_json(_doc_of(ours))
    _doc_of(theirs).to_json(deferred=False)
    assert ours._unstable_default_values.keys() == theirs._unstable_default_values.keys()
    assert "items" in ours._unstable_default_values


def test_theme_values_go_through_bokeh() -> None:
    doc = _doc_of(figure(title="t"), Div(text="x"))
    doc.theme = Theme(json={"attrs": {"Div": {"width": 123}, "Title": {"text_color": "red"}}})
    _same_json(doc)


def test_include_defaults_setting_goes_through_bokeh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "serialize_include_defaults", lambda: True)
    _same_json(_doc_of(figure(), ColumnDataSource({"x": [1, 2]})))


class _OwnSerialisation(Model):
    """A model class with its own `to_serializable`, which must be used."""

    __implementation__ = None
    n = Int(default=1)

    def to_serializable(self, serializer: Serializer) -> Any:
        rep = super().to_serializable(serializer)
        rep["attributes"] = {"n": 99}
        return rep


@pytest.fixture
def own() -> Iterator[_OwnSerialisation]:
    yield _OwnSerialisation()


def test_a_class_with_its_own_serialisation_keeps_it(own: _OwnSerialisation) -> None:
    doc = _doc_of(own)
    _same_json(doc)
    assert doc_json(doc)["roots"][0]["attributes"] == {"n": 99}


class _Str(str):
    """A str subclass: not a plain string, so bokeh's per-item encoding applies."""


@pytest.mark.parametrize(
    "values",
    [
        [],
        [""],
        ["a", "b", "a"],
        ["<b>&amp;</b>", "x\x1fy", "new\nline", "\u00e9\U0001f600"],
        ["a", _Str("b")],
        ["a", 1, 2.5, float("nan"), None, True],
        [["a", "b"], ("c",), {"k": "v"}],
        ("t", "u"),
        [2**60, "big int"],  # bokeh turns an unsafe int into a float (with a warning)
    ],
)
def test_lists_of_strings_are_sent_as_bokeh_sends_them(values: Any) -> None:
    # A ColumnDataSource column and a model's tags: lists docjson sends in one step when they
    # hold plain strings only, and item by item otherwise.
    source = ColumnDataSource({"c": list(values)}, tags=[list(values), tuple(values)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bokeh's warning about the unsafe int
        _same_json(_doc_of(source))
