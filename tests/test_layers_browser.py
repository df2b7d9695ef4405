"""Layers, search and the detail panel in a real browser (headless Chromium): typing in the
search box marks the matches in both views, a click on a collapsed layer opens it (laid out as
Python lays it out), a click on a layer in the band zooms the lanes to it, a click on an op
fills the detail panel with its record, as text even when the names are hostile."""

from __future__ import annotations

from pathlib import Path

from browser import Page
from browser_marks import BROWSER_TEST_MARKS
from test_html_browser import PAYLOADS, model_js, op_point, open_report, scroll_to
from test_render_layers import llm_report

from ane_notebook.analysis.layers import layer_tree
from ane_notebook.render.graphunits import auto_expanded, layer_arrays, node_label, unit_layout
from ane_notebook.render.html import report_html
from ane_notebook.render.optable import op_table

pytestmark = BROWSER_TEST_MARKS  # browser, slow, skipped without Chromium


def click(page: Page, x: float, y: float) -> None:
    for kind, buttons in (("mousePressed", 1), ("mouseReleased", 0)):
        page.send(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": x, "y": y, "button": "left", "buttons": buttons, "clickCount": 1},
        )


def test_search_marks_matches_in_both_views(page: Page, tmp_path: Path) -> None:
    rep = llm_report()
    live = [o for o in rep.ops if not o.is_const]
    want = [k for k, o in enumerate(live) if "softmax" in f"{o.name} {o.op_type} {o.reason}"]
    assert len(want) > 60  # the 60 softmax ops by name, and the ops of type softmax
    open_report(page, tmp_path / "search.html", report_html(rep))
    page.evaluate("__deepQueryAll('input')[0].focus()")
    page.send("Input.insertText", {"text": "SoftMax"})
    page.wait_for(
        f"{model_js('search_hits')}.get_length() === {len(want)}", timeout=10, what="marks"
    )
    assert page.evaluate(f"Array.from({model_js('search_hits')}.data.x)") == want
    # the graph starts collapsed: the layers holding a match are marked, and matched ops
    graph = page.evaluate(f"{model_js('graph_search_hits')}.get_length()")
    assert 60 <= graph < len(want)
    listing = page.evaluate(f"{model_js('search_results')}.text")
    assert f"<b>{len(want)}</b> matches" in listing and "layers_0_softmax" in listing
    # a device matches as a whole word; nothing matches nonsense
    n_cpu = sum(o.device is not None and o.device.value == "CPU" for o in live)
    page.evaluate(f"{model_js('search')}.value_input = 'cpu'")
    page.wait_for(f"{model_js('search_hits')}.get_length() === {n_cpu}", timeout=10)
    page.evaluate(f"{model_js('search')}.value_input = 'zzz-no-such-op'")
    page.wait_for(f"{model_js('search_hits')}.get_length() === 0", timeout=10)
    assert "<b>0</b> matches" in page.evaluate(f"{model_js('search_results')}.text")
    assert page.errors() == []


def test_click_on_a_collapsed_layer_opens_it(page: Page, tmp_path: Path) -> None:
    rep = llm_report()
    open_report(page, tmp_path / "open.html", report_html(rep))
    scroll_to(page, "graph_figure")
    before = page.evaluate(f"{model_js('graph_layers')}.get_length()")
    n_nodes = page.evaluate(f"{model_js('graph_nodes')}.get_length()")
    k = page.evaluate(f"{model_js('graph_layers')}.data.label.indexOf('layers_3')")
    layer_id = page.evaluate(f"{model_js('graph_layers')}.data.id[{k}]")
    click(page, *op_point(page, "graph_figure", "graph_layers", k, "gx", "gy"))
    page.wait_for(
        f"{model_js('graph_layers')}.get_length() === {before - 1}",
        timeout=10,
        what="layer 3 to open",
    )
    got = page.evaluate(f"""(() => {{ const d = {model_js("graph_nodes")}.data;
      return [Array.from(d.x), Array.from(d.gx), Array.from(d.gy), Array.from(d.label)]; }})()""")
    assert len(got[0]) == n_nodes + 8
    # the same layout as Python's twin with that layer open
    table = op_table(rep)
    arrays = layer_arrays(layer_tree(rep))
    opened = auto_expanded(arrays, 0, len(table))
    assert opened is not None
    lay = unit_layout(table, arrays, 0, len(table), opened | {layer_id}, 2000)
    op_units = [k for k, u in enumerate(lay.units) if u[0] < 0]
    assert got[0] == [lay.units[k][1] for k in op_units]
    assert got[1] == lay.gx[op_units].tolist() and got[2] == lay.gy[op_units].tolist()
    cols = table.columns
    assert got[3] == [node_label(cols["op_type"][r], cols["name"][r]) for r in got[0]]
    # the button closes it again
    page.evaluate(
        "__deepQueryAll('button').find((b) => b.textContent.includes('Close the layers')).click()"
    )
    page.wait_for(f"{model_js('graph_layers')}.get_length() === {before}", timeout=10)
    assert page.errors() == []


def test_click_on_a_band_layer_zooms_the_lanes(page: Page, tmp_path: Path) -> None:
    open_report(page, tmp_path / "band.html", report_html(llm_report()))
    page.evaluate("window.scrollTo(0, 0)")
    scroll_to(page, "lanes_figure")
    k = page.evaluate(f"{model_js('band_layers')}.data.label.indexOf('layers_30')")
    click(page, *op_point(page, "lanes_figure", "band_layers", k, "mid", "y"))
    page.wait_for(
        f"""(() => {{ const r = {model_js("lanes_figure")}.x_range;
        return r.end - r.start < 10; }})()""",
        timeout=10,
        what="the lanes to zoom to layer 30",
    )
    span = page.evaluate(f"""(() => {{ const d = {model_js("band_layers")}.data;
      const r = {model_js("lanes_figure")}.x_range;
      return [d.left[{k}], d.right[{k}], r.start, r.end,
              d.text[{k}]]; }})()""")
    assert span[2] <= span[0] and span[1] <= span[3]
    assert span[4] == "layers_30"  # zoomed in, the label fits and is shown whole
    # ... and the graph view shows that layer's ops
    first, last = round(span[0] + 0.5), round(span[1] - 0.5)
    page.wait_for(
        f"{model_js('graph_figure')}.title.text.startsWith('Data flow, ops {first}–{last} ')",
        timeout=10,
        what="the graph view to show layer 30",
    )
    assert page.errors() == []


def test_click_on_an_op_shows_its_record_as_text(page: Page, tmp_path: Path) -> None:
    evil = PAYLOADS[0]
    rep = llm_report(n_layers=4, prefix=evil + "_layers_")
    open_report(page, tmp_path / "detail.html", report_html(rep))
    page.evaluate("window.scrollTo(0, 0)")
    scroll_to(page, "lanes_figure")
    row = 3 + 3  # layer 0's softmax: on the CPU, with crossings in and out
    click(page, *op_point(page, "lanes_figure", "lanes_ops", row))
    text = page.wait_for(
        "(() => { const e = __deepQueryAll('.bk-clearfix, div').find((d) => "
        "d.textContent.includes('suggested fix') && d.textContent.includes('reason kind'));"
        " return e && e.textContent; })()",
        timeout=10,
        what="the detail panel",
    )
    assert f"{evil}_layers_0_softmax_cast_fp16" in text  # the payload, shown as text
    assert "crossings" in text and "CPU" in text and "inputs" in text
    # searching for the payload lists the ops by their names, as text
    page.evaluate(f"{model_js('search')}.value_input = 'onerror'")
    page.wait_for(f"{model_js('search_hits')}.get_length() === {4 * 8}", timeout=10)
    listed = page.evaluate(
        "__deepQueryAll('div').map((d) => d.textContent).find((t) => t.includes('32 matches'))"
    )
    assert listed is not None and evil in listed
    assert page.evaluate("__deepQueryAll('img').length") == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.errors() == []
