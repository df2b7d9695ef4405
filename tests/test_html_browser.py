"""The exported HTML in a real browser: headless Chromium over the DevTools Protocol.

Each test opens a page from a `file://` URL, waits until bokeh reports its document idle (a
condition polled inside the page, with a deadline; never a fixed sleep), and checks what a user
would see: no console errors, the lanes and legend rendered, hostile op names shown as text and
never run, the lane selection re-laying out the graph view, the notebook iframe rendering.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from browser import Page
from browser_marks import BROWSER_TEST_MARKS
from test_render import A, C, big_report, diamond_report, make_report

from ane_notebook.render.diagram import graph_layout, op_table
from ane_notebook.render.html import notebook_html, report_html
from ane_notebook.report import ProfileReport

pytestmark = BROWSER_TEST_MARKS  # browser, slow, skipped without Chromium

PAYLOADS = ('<img src=x onerror="window.__pwned=1">', "</script><script>window.__pwned=1</script>")


def open_report(page: Page, path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_bokeh(timeout=15)


def model_js(name: str) -> str:
    return f"Bokeh.documents[0].get_model_by_name({json.dumps(name)})"


def test_report_page_renders_without_errors(page: Page, tmp_path: Path) -> None:
    rep = make_report()
    open_report(page, tmp_path / "report.html", report_html(rep, compare={"ALL": rep, "same": rep}))
    assert page.errors() == []
    # Every figure has a view with a canvas; the legend and the table are in the DOM.
    n_canvas = page.wait_for("__deepQueryAll('canvas').length", what="canvases")
    assert n_canvas >= 4
    for name in ("lanes_figure", "graph_figure", "mapping_figure", "compare_figure"):
        assert page.evaluate(f"Bokeh.index.find_one({model_js(name)}) !== null"), name
    legend = page.evaluate("__deepQueryAll('.ane-legend').map((e) => e.textContent).join()")
    assert "ANE (Neural Engine)" in legend and "crossing" in legend
    header = page.evaluate("__deepQueryAll('.ane-header').map((e) => e.textContent).join()")
    assert "ESTIMATE" in header and "not measured" in header
    # Nothing was fetched from the network: the page works offline.
    assert (
        page.evaluate(
            "performance.getEntriesByType('resource')"
            ".filter((e) => !e.name.startsWith('file:')).length"
        )
        == 0
    )


def hostile_report() -> ProfileReport:
    names = [f"{PAYLOADS[i % 2]}{i}" for i in range(4)]
    rep = make_report([A, C, C, A], names=names, model_name=PAYLOADS[0])
    ops = tuple(o if o.is_const else replace(o, reason=o.reason + PAYLOADS[1]) for o in rep.ops)
    return replace(rep, ops=ops)


def op_point(
    page: Page, figure: str, source: str, row: int, x: str = "x", y: str = "y"
) -> tuple[float, float]:
    """Viewport coordinates of the glyph at `row` of `source`, drawn in `figure`."""
    pt = page.evaluate(f"""(() => {{
      const v = Bokeh.index.find_one({model_js(figure)});
      const src = {model_js(source)};
      const c = v.canvas_view.el.getBoundingClientRect();
      return [c.left + v.frame.x_scale.compute(src.data.{x}[{row}]),
              c.top + v.frame.y_scale.compute(src.data.{y}[{row}])];
    }})()""")
    return float(pt[0]), float(pt[1])


def scroll_to(page: Page, figure: str) -> None:
    """Bring a figure into the viewport (mouse events off screen reach nothing)."""
    page.evaluate(f"Bokeh.index.find_one({model_js(figure)}).el.scrollIntoView()")


TOOLTIP_TEXT = "__deepQueryAll('.bk-tooltip-content').map((e) => e.textContent).join(' | ')"


def test_hostile_names_show_as_text_and_run_nothing(page: Page, tmp_path: Path) -> None:
    rep = hostile_report()
    open_report(page, tmp_path / "hostile.html", report_html(rep))
    assert page.evaluate("document.title") == f"ane_notebook: {PAYLOADS[0]}"
    heading = page.evaluate("__deepQueryAll('.ane-header h2').map((e) => e.textContent)")
    assert heading == [PAYLOADS[0]]
    # Hover an op in the lanes, then a node in the graph view: the tooltips render the
    # payloads as text.
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse_move(*op_point(page, "lanes_figure", "lanes_ops", 1))
    text = page.wait_for(
        f"(() => {{ const t = {TOOLTIP_TEXT}; return t.includes('placement:') && t; }})()",
        timeout=10,
        what="the op tooltip",
    )
    assert f"op: {PAYLOADS[1]}1" in text
    assert PAYLOADS[1] in text.split("reason: ", 1)[1]
    scroll_to(page, "graph_figure")
    page.mouse_move(*op_point(page, "graph_figure", "graph_nodes", 0, "gx", "gy"))
    text = page.wait_for(
        f"(() => {{ const t = {TOOLTIP_TEXT}; "
        "return t.includes('op: ') && !t.includes('1 type') && t; })()",
        timeout=10,
        what="the graph node tooltip",
    )
    assert f"op: {PAYLOADS[0]}0" in text
    # No element was made from a payload, so nothing can have run or be pending.
    assert page.evaluate("__deepQueryAll('img').length") == 0
    assert (
        page.evaluate(
            "__deepQueryAll('script').filter((s) => "
            "s.textContent.includes('__pwned=1') && !s.type.includes('json'))"
            ".length"
        )
        == 0
    )
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.errors() == []


def test_box_select_in_the_lanes_relays_out_the_graph(page: Page, tmp_path: Path) -> None:
    rep = make_report()
    open_report(page, tmp_path / "select.html", report_html(rep))
    page.evaluate("window.scrollTo(0, 0)")
    # Drag with the box-select tool (active by default) from op 3 to op 8.
    x0, y = op_point(page, "lanes_figure", "lanes_ops", 3)
    x1, _ = op_point(page, "lanes_figure", "lanes_ops", 8)
    x0, x1 = x0 - 4, x1 + 4
    page.send(
        "Input.dispatchMouseEvent",
        {"type": "mousePressed", "x": x0, "y": y, "button": "left", "buttons": 1, "clickCount": 1},
    )
    for k in range(1, 6):
        page.send(
            "Input.dispatchMouseEvent",
            {
                "type": "mouseMoved",
                "x": x0 + (x1 - x0) * k / 5,
                "y": y,
                "button": "left",
                "buttons": 1,
            },
        )
    page.send(
        "Input.dispatchMouseEvent",
        {"type": "mouseReleased", "x": x1, "y": y, "button": "left", "buttons": 0, "clickCount": 1},
    )
    page.wait_for(
        f"{model_js('graph_nodes')}.get_length() === 6",
        timeout=10,
        what="the graph view to show the 6 selected ops",
    )
    got = page.evaluate(f"""(() => {{ const d = {model_js("graph_nodes")}.data;
      return {{x: Array.from(d.x), gx: Array.from(d.gx), gy: Array.from(d.gy),
               title: {model_js("graph_figure")}.title.text}}; }})()""")
    lay = graph_layout(op_table(rep), 3, 9)
    assert got["x"] == [3, 4, 5, 6, 7, 8]
    assert got["gx"] == lay.gx.tolist() and got["gy"] == lay.gy.tolist()
    assert got["title"] == "Data flow, ops 3–8 of 12"
    assert page.errors() == []


def test_browser_relayout_matches_python_on_a_branching_graph(page: Page, tmp_path: Path) -> None:
    rep = diamond_report()
    open_report(page, tmp_path / "diamond.html", report_html(rep))
    page.evaluate(f"{model_js('lanes_ops')}.selected.indices = [1, 2, 3]")
    page.wait_for(f"{model_js('graph_nodes')}.get_length() === 3", timeout=10)
    got = page.evaluate(f"""(() => {{ const d = {model_js("graph_nodes")}.data;
      return [Array.from(d.gx), Array.from(d.gy), {model_js("graph_crossings")}.get_length(),
              {model_js("graph_edges")}.get_length()]; }})()""")
    lay = graph_layout(op_table(rep), 1, 4)
    assert got == [lay.gx.tolist(), lay.gy.tolist(), 1, len(lay.edges)]
    assert page.errors() == []


def test_notebook_output_renders_in_a_sandboxed_iframe(page: Page, tmp_path: Path) -> None:
    rep = hostile_report()
    out = tmp_path / "notebook.html"
    # What JupyterLab does with a trusted text/html output: put it into the page as is.
    out.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
        + notebook_html(rep)
        + "</body></html>",
        encoding="utf-8",
    )
    page.track_iframes()
    page.goto(out.as_uri())
    frame = page.iframe(timeout=15)
    frame.wait_for_bokeh(timeout=15)
    assert frame.evaluate("__deepQueryAll('canvas').length") >= 3
    assert frame.evaluate(f"{model_js('lanes_ops')}.get_length()") == 4
    # The static summary is outside the iframe (what an untrusted notebook still shows).
    assert page.evaluate("document.querySelector('.ane-header h2').textContent") == PAYLOADS[0]
    # The sandbox keeps the diagram's scripts away from the notebook page.
    assert page.evaluate("document.querySelector('iframe').contentDocument") is None
    assert (
        page.evaluate("document.querySelector('iframe').getAttribute('sandbox')")
        == "allow-scripts allow-downloads"
    )
    for p in (page, frame):
        assert p.evaluate("typeof window.__pwned") == "undefined"
        assert p.errors() == []


def test_dense_lanes_show_run_bars_hover_an_op_and_bring_the_boxes_back_zoomed_in(
    page: Page, tmp_path: Path
) -> None:
    rep = big_report(5_000)
    open_report(page, tmp_path / "dense.html", report_html(rep))
    scroll_to(page, "lanes_figure")
    runs, boxes = model_js("lanes_runs_glyph"), model_js("lanes_ops_glyph")
    assert page.evaluate(f"{runs}.visible && {boxes}.glyph.fill_alpha.value === 0")
    # the boxes are transparent, not gone: hovering an op still names it
    k = 2_500
    x, y = op_point(page, "lanes_figure", "lanes_ops", k)
    page.mouse_move(x, y - 40)
    page.mouse_move(x, y)
    page.wait_for(
        f"(() => {{ const t = {TOOLTIP_TEXT}; return t.includes('placement:') && t; }})()",
        timeout=10,
        what="the op tooltip over the run bars",
    )
    # zoomed in: the boxes again, and only the rows around the view are painted
    page.evaluate(
        f"(() => {{ const r = {model_js('lanes_figure')}.x_range; "
        "r.start = 2000; r.end = 2100; })()"
    )
    page.wait_for(f"!{runs}.visible && {boxes}.glyph.fill_alpha.value === 1", timeout=10)
    shown = page.evaluate(f"Array.from({boxes}.view.filter.indices)")
    assert shown[0] <= 2000 and shown[-1] >= 2100 and len(shown) < 500
    # search marks: all of them in the data, only those near the view painted
    page.evaluate(f"{model_js('search')}.value_input = 'conv'")
    hits = model_js("search_hits_glyph")
    n_hits = page.wait_for(f"{model_js('search_hits')}.get_length()", timeout=10)
    assert n_hits > 500
    near = page.wait_for(f"{hits}.view.filter.indices", timeout=10)
    xs = page.evaluate(f"Array.from({model_js('search_hits')}.data.x)")
    assert 0 < len(near) < n_hits / 4 and all(1900 <= xs[k] <= 2200 for k in near)
    # zoomed out again: the bars, every box hit-testable
    page.evaluate(
        f"(() => {{ const r = {model_js('lanes_figure')}.x_range; r.start = -1; r.end = 5000; }})()"
    )
    page.wait_for(f"{runs}.visible && {boxes}.view.filter.indices === null", timeout=10)
    assert page.errors() == []
