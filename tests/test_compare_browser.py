"""The compare page and the header's collapsed details in a real browser (headless Chromium):
the page renders without errors, packed or not, and a collapsed section, once opened, lays out
its bokeh content at full width and pushes what follows down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser import Page
from browser_marks import BROWSER_TEST_MARKS
from test_render import A, C, G, make_report

from ane_notebook.placement.devices import ComputeUnits
from ane_notebook.render.compare_page import compare_page
from ane_notebook.render.html import report_html
from ane_notebook.report import ProfileReport

pytestmark = BROWSER_TEST_MARKS  # browser, slow, skipped without Chromium


def _reports() -> dict[str, ProfileReport]:
    return {
        "CPU_ONLY": make_report([C] * 12, units=ComputeUnits.CPU_ONLY),
        "CPU_AND_GPU": make_report([G, G, C] * 4, units=ComputeUnits.CPU_AND_GPU),
        "ALL": make_report([A] * 10 + [C, A]),
    }


def _width_of_root(page: Page, name: str) -> float:
    model = f"Bokeh.documents[0].get_model_by_name({json.dumps(name)})"
    return float(page.evaluate(f"Bokeh.index.find_one({model}).el.getBoundingClientRect().width"))


@pytest.mark.parametrize("packed", [False, True], ids=["inline", "packed"])
def test_compare_page_renders_and_a_section_opens(page: Page, tmp_path: Path, packed: bool) -> None:
    path = tmp_path / "compare.html"
    path.write_text(compare_page(_reports(), packed=packed).html, encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_bokeh(timeout=20)
    assert page.errors() == []
    assert _width_of_root(page, "compare_view") > 800
    best = page.evaluate("document.querySelector('tr.best').textContent")
    assert "ALL" in best
    page.evaluate("document.querySelectorAll('details.ane-setting')[1].open = true")
    page.wait_for(
        "Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name('setting_1'))"
        ".el.getBoundingClientRect().width > 800",
        what="the opened section laid out at full width",
    )
    assert page.errors() == []


def test_opening_the_header_details_pushes_the_rest_down(page: Page, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(report_html(make_report()), encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_bokeh(timeout=20)
    legend_top = "__deepQueryAll('.ane-legend')[0].getBoundingClientRect().top"
    before = float(page.evaluate(legend_top))
    page.evaluate("__deepQueryAll('details.ane-details')[0].open = true")
    page.wait_for(f"{legend_top} > {before + 20}", what="the legend moved below the details")
    assert page.errors() == []


def test_label_width_estimate_covers_the_rendered_text(page: Page, tmp_path: Path) -> None:
    """The label boxes the lane view avoids overlapping are estimated from the character count
    (crossing_labels.CHAR_EM); measured here with the font bokeh draws them in."""
    from ane_notebook.render.crossing_labels import CHAR_EM, FONT_PT, FONT_PX, PAD_PX

    texts = [
        "3 tensors · 192.0 KB · 0.190 ms (+1 reused)",
        "64.0 KB · 0.021 ms",
        "7.8 MB · 0.839 ms",
        "1 reused · 0 ms",
        "888.8 MB · 888.888 ms",
        "MMMMWWWW",  # the widest glyphs: an upper bound the labels never reach
    ]
    path = tmp_path / "blank.html"
    path.write_text("<!DOCTYPE html><canvas id=c></canvas>", encoding="utf-8")
    page.goto(path.as_uri())
    widths = page.evaluate(
        "(() => { const ctx = document.getElementById('c').getContext('2d');"
        f" ctx.font = '{FONT_PT}pt helvetica';"
        f" return {json.dumps(texts)}.map((t) => ctx.measureText(t).width); }})()"
    )
    for text, measured in zip(texts[:-1], widths[:-1], strict=True):
        estimate = len(text) * CHAR_EM * FONT_PX + PAD_PX
        assert measured + 2 <= estimate, (text, measured, estimate)
