"""HTML forms of a report: a standalone page, and the `text/html` of a notebook output.

`report_html` is one self-contained file: bokeh's JavaScript and CSS are inlined
(`bokeh.resources.INLINE`), so it opens offline, from an e-mail, or years later.

`notebook_html` has to work in JupyterLab 4 / Notebook 7 whether or not the notebook is trusted:

* Outputs produced in the running session are trusted: scripts in them run. A notebook opened
  from disk without a matching signature is not: JupyterLab sanitises its HTML outputs (no
  scripts, no iframes; tables and inline styles survive).
* So the output is a static summary (header + "not on the Neural Engine" table: plain HTML,
  readable even untrusted, and what nbconvert/GitHub previews show) followed by an
  `<iframe srcdoc=...>` holding the standalone page. The iframe isolates bokeh from the notebook
  page (no clash with another bokeh version loaded by the notebook, no global CSS leaking either
  way) and `sandbox="allow-scripts"` without `allow-same-origin` keeps the page's scripts away
  from the notebook even if something unexpected slipped through escaping.
* When a sanitiser strips the iframe it keeps the iframe's text content, which browsers never
  display for a live iframe: that text tells an untrusted reader how to see the diagram.

Size: each output carries its own BokehJS (the iframes share nothing), packed by `packjs`
(LZMA + base64, 0.54 MB instead of 1.84 MB) and unpacked in the page; docs/notebooks.md has the
measurements and the trade-offs. `report_html(..., packed=True)` does the same for a file.
"""

from __future__ import annotations

import base64
import html as _html
from collections.abc import Mapping

from bokeh.core.templates import FILE, get_env

from .._gc import gc_paused
from ..escape import plain
from ..report import ProfileReport
from . import png
from .diagram import build_layout, header_html, not_on_ane_html
from .encode import encode_sources
from .header import header_height_px
from .packjs import packed_file_html
from .pagejson import file_page
from .palette import legend_text
from .propcache import class_facts_cached
from .summaries import shared_summaries


# The layer tree, the bokeh models and their serialisation allocate a few million small objects
# on a 50k-op report; the collector's passes over the whole heap meanwhile took 0.4-0.7 s of a
# 1.3-2 s page (GitHub issue 14). The bokeh document's reference cycles are collected at the
# next collection after the page is made (see _gc.py). bokeh's per-class defaults are computed
# once per page instead of once per model and property read (propcache.py).
@gc_paused()
@class_facts_cached()
@shared_summaries()
def _page(
    report: ProfileReport,
    compare: Mapping[str, ProfileReport] | None,
    header: bool,
    packed: bool,
) -> tuple[str, int]:
    # The header goes above the bokeh root as plain HTML, not into a bokeh Div: a Div keeps the
    # height it was first laid out with, so opening the header's collapsed details would draw
    # them over the legend. Plain HTML reflows.
    layout = build_layout(report, compare, header=False)
    # Text columns go compactly (issue 14): dictionary codes or one joined string, decoded in
    # the browser on load.
    encode_sources(layout.root)
    # The template escapes the title itself (jinja `| e`); `plain` only removes control chars,
    # so the title is escaped exactly once.
    title = f"ane_notebook: {plain(report.model.name, 120)}"
    template, variables = (_WITH_HEADER, {"header": header_html(report)}) if header else (FILE, {})
    if packed:
        page = packed_file_html(layout.root, title, template=template, template_variables=variables)
    else:
        page = file_page(layout.root, title, template=template, template_variables=variables)
    height = layout.height + (header_height_px(report) if header else 0)
    return page, height


# bokeh's page template with the report's header (HTML escaped in Python) above the root.
_WITH_HEADER = get_env().from_string(
    """{% extends "file.html.jinja" %}
{% block contents %}<div style="margin:4px 8px">{{ header }}</div>{{ super() }}{% endblock %}"""
)


def report_html(
    report: ProfileReport,
    compare: Mapping[str, ProfileReport] | None = None,
    *,
    header: bool = True,
    packed: bool = False,
) -> str:
    """A standalone HTML page for `report` (works offline: bokeh resources inline; `packed`
    ships them compressed, unpacked by the page: 1.3 MB smaller, ~0.2 s more to open)."""
    return _page(report, compare, header, packed)[0]


_UNTRUSTED_NOTE = (
    "The interactive diagram is hidden because this notebook is not trusted. Trust it (File > "
    "Trust Notebook, or `jupyter trust NOTEBOOK`) or run the cell again; or save the report "
    "with report.to_html(path) and open that file in a browser."
)


def _single_quoted_attr(text: str) -> str:
    """`text` escaped for an attribute value in single quotes.

    The page is mostly JSON, full of double quotes and almost free of single ones: quoting
    the attribute with `'` and leaving `"` alone keeps the output ~30 % smaller than
    html.escape would. `<` and `>` are escaped too although a quoted attribute does not need
    it, so no tool that scans for tags ever sees one inside the attribute.
    """
    return (
        text.replace("&", "&amp;").replace("'", "&#x27;").replace("<", "&lt;").replace(">", "&gt;")
    )


def notebook_html(report: ProfileReport, compare: Mapping[str, ProfileReport] | None = None) -> str:
    """`text/html` for a notebook: a static summary, then the interactive page in an iframe."""
    page, height = _page(report, compare, header=False, packed=True)
    summary = header_html(report)
    table = not_on_ane_html(report)
    srcdoc = _single_quoted_attr(page)
    return (
        '<div class="ane-notebook-report">'
        f"{summary}"
        f'<iframe class="ane-notebook-diagram" title="{_html.escape(legend_text())}" '
        f"sandbox=\"allow-scripts allow-downloads\" srcdoc='{srcdoc}' "
        f'style="width:100%;height:{height}px;border:0;display:block" loading="eager">'
        f"{_html.escape(_UNTRUSTED_NOTE)}</iframe>"
        # The table again outside the iframe: it is the part people copy into issues, and it
        # survives every sanitiser.
        f'<details style="font:13px sans-serif"><summary>Not on the Neural Engine (static '
        f"table)</summary>{table}</details>"
        "</div>"
    )


def compare_notebook_html(reports: Mapping[str, ProfileReport]) -> str:
    """`text/html` of a comparison: the comparison as static HTML (readable untrusted), then
    the compare page in a sandboxed iframe (the same isolation as `notebook_html`)."""
    from .compare_page import compare_page, compare_static_html

    page = compare_page(reports, packed=True)
    return (
        '<div class="ane-notebook-report">'
        f'<details style="font:13px sans-serif"><summary>Comparison (static table)</summary>'
        f"{compare_static_html(reports)}</details>"
        f'<iframe class="ane-notebook-diagram" title="{_html.escape(legend_text())}" '
        f"sandbox=\"allow-scripts allow-downloads\" srcdoc='{_single_quoted_attr(page.html)}' "
        f'style="width:100%;height:{page.height}px;border:0;display:block" loading="eager">'
        f"{_html.escape(_UNTRUSTED_NOTE)}</iframe></div>"
    )


def notebook_bundle(
    report: ProfileReport, compare: Mapping[str, ProfileReport] | None = None
) -> dict[str, str]:
    """The rich part of a report's MIME bundle: `text/html` (`notebook_html`), and with
    `ANE_NOTEBOOK_PNG=1` an `image/png` of the page for viewers that cannot show HTML."""
    bundle = {"text/html": notebook_html(report, compare)}
    if png.wanted():
        page, height = _page(report, compare, header=True, packed=False)
        # The layout's height is an estimate for an iframe that scrolls; a picture cannot.
        picture = png.optional_png(page, height + png.MARGIN_PX)
        if picture is not None:
            bundle["image/png"] = base64.b64encode(picture).decode("ascii")
    return bundle
