"""Pages are assembled by render/pagejson.py, which skips bokeh's per-call document validation
and its walk for Python callbacks (GitHub issue 14). What those would have caught is checked
here instead: every page's document passes bokeh's validators, holds no Python callback, and the
page is bokeh's own `file_html` output apart from the random ids."""

from __future__ import annotations

import re

import pytest
from bokeh.core.validation.check import check_integrity
from bokeh.document import Document
from bokeh.embed import file_html
from bokeh.embed.bundle import Bundle, bundle_for_objs_and_resources
from bokeh.model import Model
from bokeh.models import ColumnDataSource, DataTable
from bokeh.resources import INLINE
from test_render import make_report

import ane_notebook as an
from ane_notebook.model.examples import list_examples
from ane_notebook.render.compare_page import compare_page
from ane_notebook.render.encode import encode_sources
from ane_notebook.render.html import report_html
from ane_notebook.render.layout import build_layout
from ane_notebook.render.pagejson import document_bundle, file_page


def _canon(page: str) -> str:
    """The page with bokeh's random and counted ids numbered by first appearance."""
    ids: dict[str, str] = {}
    page = re.sub(r"\b(p\d{3,})\b", lambda m: ids.setdefault(m.group(1), f"P{len(ids)}"), page)
    uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    return re.sub(uuid, "UUID", page)


@pytest.mark.parametrize("name", [n for n, _ in list_examples()])
def test_example_pages_pass_bokehs_validators(name: str) -> None:
    report = an.profile(f"example:{name}")
    doc = encode_sources(build_layout(report).root)
    issues = check_integrity(list(doc.models))
    assert not issues.error and not issues.warning, issues
    assert not any(m._callbacks or m._event_callbacks for m in doc.models)


def test_a_page_is_bokehs_file_html_but_for_the_ids() -> None:
    def page(make: object) -> str:
        root = build_layout(make_report()).root
        encode_sources(root)
        if make is file_page:
            return file_page(root, "t")
        return file_html(root, resources=INLINE, title="t")

    assert _canon(page(file_page)) == _canon(page(file_html))


def test_pages_are_made_without_validating_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Document) -> None:
        raise AssertionError("validated")

    monkeypatch.setattr(Document, "validate", refuse)
    assert "<html" in report_html(make_report())
    assert "<html" in compare_page({"a": make_report(), "b": make_report()}).html


def _bundle_text(bundle: Bundle) -> tuple[object, ...]:
    return (bundle.js_files, bundle.js_raw, bundle.css_files, bundle.css_raw, bundle.hashes)


@pytest.mark.parametrize("name", [n for n, _ in list_examples()])
def test_the_bundle_from_the_documents_models_is_bokehs(name: str) -> None:
    doc = encode_sources(build_layout(an.profile(f"example:{name}")).root)
    walked: set[Model] = set().union(*(root.references() for root in doc.roots))
    assert set(doc.models) == walked
    want = _bundle_text(bundle_for_objs_and_resources([doc], INLINE))
    assert _bundle_text(document_bundle(doc)) == want


def test_the_bundle_follows_models_added_after_the_roots() -> None:
    root = build_layout(make_report()).root
    doc = encode_sources(root)
    root.children.append(DataTable(source=ColumnDataSource({"a": [1]})))  # bokeh-tables needed
    want = _bundle_text(bundle_for_objs_and_resources([doc], INLINE))
    assert _bundle_text(document_bundle(doc)) == want
    assert any("bokeh-tables" in js for js in _bundle_text(document_bundle(doc))[1])
    with doc.models.freeze():  # the set is behind while frozen: bokeh walks
        root.children.pop()
        assert _bundle_text(document_bundle(doc)) != want
