"""What bokeh's `file_html` puts in a page (document JSON, render items, resource bundle),
made without three of its walks over every model.

Besides serialising the document, bokeh's `file_html` (3.x) walks its whole model graph three
times (`bokeh.model.util.collect_models`): `OutputDocumentFor` validates the document
(`Document.validate`: a walk, then every model's validators),
`standalone_docs_json_and_render_items` looks for Python callbacks (a walk, only to log a
warning), and the resource bundle walks it to see which BokehJS parts it needs. On a 50,000-op
page a walk takes ~17 ms and validation ~35 ms (GitHub issue 14). Our pages are one document
whose roots are all rendered (`encode.encode_sources` made it) and hold only `CustomJS`
callbacks, so `page_parts` skips the callback check and the per-call validation; the bundle is
bokeh's own call, handed the document's set of models instead of walking for it
(`document_bundle`); the JSON is bokeh's, made without computing every unset property's default
(`docjson.py`); and `file_page` renders bokeh's template with bokeh's
`html_page_for_render_items`, as `file_html` does. The pages' models are validated
by tests/test_page_parts.py instead (no warning on the example pages), where a broken model
would show up.

Anything else (roots without a document, a subset of a document's roots) goes through bokeh's
own `OutputDocumentFor` and `standalone_docs_json_and_render_items`, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from bokeh.core.templates import FILE
from bokeh.core.types import ID
from bokeh.document import Document
from bokeh.document.json import DocJson
from bokeh.embed.bundle import Bundle, bundle_for_objs_and_resources
from bokeh.embed.elements import html_page_for_render_items
from bokeh.embed.util import OutputDocumentFor, RenderItem, standalone_docs_json_and_render_items
from bokeh.model import Model
from bokeh.resources import INLINE
from bokeh.util.serialization import make_globally_unique_css_safe_id, make_globally_unique_id
from jinja2 import Template

from .docjson import doc_json


@contextmanager
def page_parts(
    roots: Sequence[Model],
) -> Iterator[tuple[dict[ID, DocJson], list[RenderItem], Bundle]]:
    """(docs_json, render_items, bundle) of `roots`, for bokeh's page templates."""
    doc = roots[0].document if roots else None
    if isinstance(doc, Document) and list(doc.roots) == list(roots):
        docid = make_globally_unique_id()
        # bokeh's JSON, without computing the default of every unset property (docjson.py).
        docs_json = {docid: doc_json(doc)}
        items = [RenderItem(docid, roots={r: make_globally_unique_css_safe_id() for r in roots})]
        yield docs_json, items, document_bundle(doc)
        return
    with OutputDocumentFor(roots) as out:
        docs_json, items = standalone_docs_json_and_render_items(roots)
        yield docs_json, items, bundle_for_objs_and_resources([out], INLINE)


class _Walked:
    """Stands in for a document in bokeh's `bundle_for_objs_and_resources`, whose `_all_objs`
    asks a non-document for `references()`: the document's models as bokeh keeps them."""

    def __init__(self, doc: Document) -> None:
        self._models = set(doc.models)

    def references(self) -> set[Model]:
        return self._models


def document_bundle(doc: Document) -> Bundle:
    """`bundle_for_objs_and_resources([doc], INLINE)` without walking the document again.

    bokeh walks every root's references to see which BokehJS parts the models need; the
    document already holds that set (`Document.models`: bokeh recomputes it whenever a root is
    added or a property change adds or drops a model), and `encode_sources` walked it when the
    roots were added. While the document's models are frozen the set can be behind: bokeh's
    walk then. tests/test_page_parts.py holds the two bundles equal on every example page."""
    if doc.models._freeze_count:
        return bundle_for_objs_and_resources([doc], INLINE)
    return bundle_for_objs_and_resources([cast(Model, _Walked(doc))], INLINE)


def file_page(
    roots: Model | Sequence[Model],
    title: str,
    template: Template = FILE,
    template_variables: Mapping[str, Any] | None = None,
) -> str:
    """bokeh's `file_html(roots, INLINE, title, template=..., template_variables=...)`."""
    seq = [roots] if isinstance(roots, Model) else list(roots)
    with page_parts(seq) as (docs_json, items, bundle):
        return html_page_for_render_items(
            bundle,
            docs_json,
            items,
            title=title,
            template=template,
            template_variables=dict(template_variables or {}),
        )
