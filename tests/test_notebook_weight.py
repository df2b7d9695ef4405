"""Notebook outputs stay light (issue 11 §4): packed BokehJS and data, still the same page.

A diagram output is a sandboxed iframe holding a whole bokeh page; `render/packjs.py` ships its
BokehJS and document JSON LZMA-packed. These tests check that packing changes nothing but the
size (the page unpacks to bokeh's own inline page), that a broken cache file is never used, and
that five diagrams weigh under 3 MB in a saved notebook. The browser side (the page unpacks and
renders) is in test_notebook_browser.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from test_notebooks import diagram_pages
from test_render import hostile_report, make_report

from ane_notebook import profile
from ane_notebook.model.examples import EXAMPLES
from ane_notebook.render import packjs
from ane_notebook.render.html import notebook_html, report_html

_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\bp\d{4,}\b")


def _same_page(page: str) -> str:
    """`page` without what differs between two renderings of one report: bokeh's random ids
    and whitespace between tags."""
    return re.sub(r"\s+", "", _IDS.sub("ID", page))


def test_packed_page_unpacks_to_bokehs_inline_page() -> None:
    rep = make_report()
    inline = report_html(rep)
    packed = report_html(rep, packed=True)
    assert len(packed) < len(inline) / 2.5
    assert "/* BEGIN bokeh.min.js */" not in packed  # BokehJS is not there in the clear
    assert _same_page(packjs.unpack_page(packed)) == _same_page(inline)


def test_notebook_iframe_holds_the_packed_page_with_the_data_escaped() -> None:
    nb = notebook_html(hostile_report())
    (page,) = diagram_pages(nb)
    assert packjs.MIME in page and 'id="ane-bokehjs"' in page
    inner = packjs.unpack_page(page)
    # The unpacked data is bokeh's escaped JSON of our escaped strings: no markup from the model.
    (data,) = re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', inner, re.S)
    assert "&amp;lt;img src=x onerror=alert(1)&amp;gt;" in data
    assert "<" not in data and ">" not in data


def test_a_corrupt_cache_file_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANE_NOTEBOOK_CACHE", str(tmp_path))
    scripts = ("console.log('a');" * 500, "/* é ✓ 𝄞 */ var x = 1;")
    packjs._pack.cache_clear()
    first = packjs.pack(scripts)
    (cached,) = (tmp_path / "bokehjs").glob("*.lzma")
    assert cached.read_bytes() == first.data
    cached.write_bytes(first.data[:-40] + bytes(40))  # truncated/damaged on disk
    packjs._pack.cache_clear()
    again = packjs.pack(scripts)
    # Packed afresh (the damaged stream does not unpack to the scripts) and written back.
    assert again.data == first.data and cached.read_bytes() == first.data
    page = packjs.unpack_page(packjs.packed_scripts_html(scripts))
    assert f"<script>{scripts[0]}</script><script>{scripts[1]}</script>" in page
    # Part lengths are JavaScript's (UTF-16 code units): the 𝄞 counts twice.
    assert again.parts == (len(scripts[0]), len(scripts[1]) + 1)
    packjs._pack.cache_clear()


def test_an_unwritable_cache_still_gives_a_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ANE_NOTEBOOK_CACHE", str(blocker))
    packjs._pack.cache_clear()
    page = packjs.packed_scripts_html(("var y = 2;",))
    assert "<script>var y = 2;</script>" in packjs.unpack_page(page)
    packjs._pack.cache_clear()


NOTEBOOK_LIMIT_BYTES = 3_000_000  # issue 11 §4: five diagrams under 3 MB


@pytest.mark.slow
def test_five_diagrams_weigh_under_3_mb() -> None:
    """What the kernel stores for five example diagrams, written as a notebook file."""
    nb = nbformat.v4.new_notebook()
    names = list(EXAMPLES)[:5]
    for name in names:
        cell = nbformat.v4.new_code_cell(f"an.profile('example:{name}')")
        bundle = profile(f"example:{name}")._repr_mimebundle_()
        cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
        nb.cells.append(cell)
    text = nbformat.writes(nb)
    size = len(text.encode("utf-8"))
    assert size < NOTEBOOK_LIMIT_BYTES, f"{len(names)} diagrams weigh {size / 1e6:.2f} MB"
    read = nbformat.reads(text, as_version=4)
    pages = [p for c in read.cells for o in c.outputs for p in diagram_pages(o.data["text/html"])]
    assert len(pages) == 5 and all(packjs.MIME in p for p in pages)
