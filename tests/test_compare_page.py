"""The compare page (issue 11 §3): the comparison leads, each setting's report follows collapsed,
and the highlighted ops are those placed differently from the best setting."""

from __future__ import annotations

import html
import re
from dataclasses import replace

import pytest
from test_render import HOSTILE, hostile_report, make_report

from ane_notebook.placement.devices import ComputeUnits, Device
from ane_notebook.render.compare_page import compare_page, intro_html, why_html
from ane_notebook.render.html import compare_notebook_html
from ane_notebook.report import ProfileReport, ReportSet

A, G, C = Device.ANE, Device.GPU, Device.CPU


@pytest.fixture(scope="module")
def reports() -> dict[str, ProfileReport]:
    # CPU_ONLY first (as `--compare` orders them) but slowest; ALL is the best.
    return {
        "CPU_ONLY": make_report([C] * 12, units=ComputeUnits.CPU_ONLY),
        "CPU_AND_NE": make_report([A] * 6 + [C] * 6, units=ComputeUnits.CPU_AND_NE),
        "ALL": make_report([A] * 12),
    }


def test_the_comparison_comes_before_the_reports_which_are_collapsed(
    reports: dict[str, ProfileReport],
) -> None:
    page = compare_page(reports).html
    best = page.index("Best: <b>ALL</b>")
    table = page.index('<table class="ane-compare"')
    why = page.index("Why the others differ from ALL")
    sections = [m.start() for m in re.finditer(r'<details class="ane-setting"', page)]
    assert len(sections) == len(reports)
    assert best < table < why < sections[0]
    # collapsed: no section is open
    assert " open" not in "".join(page[s : page.index(">", s)] for s in sections)
    # each section holds a bokeh root of its own, and the stacked lanes are a root too
    roots = re.findall(r'data-root-id="([^"]+)"', page)
    assert len(roots) == len(reports) + 1


def test_best_row_is_the_lowest_total_and_counts_differ_from_it(
    reports: dict[str, ProfileReport],
) -> None:
    intro = intro_html(reports)
    rows = re.findall(r"<tr class=\"(best)?\"[^>]*>(.*?)</tr>", intro)
    best_rows = [r for cls, r in rows if cls]
    assert len(best_rows) == 1 and "<b>ALL</b>" in best_rows[0]
    # the last column: ops on another processor than in ALL (not than in CPU_ONLY)
    last = {}
    for _, row in rows:
        label = re.search(r"<b>([A-Z_]+)</b>", row)
        assert label is not None
        last[label.group(1)] = re.findall(r">([^<>]*)</td>", row)[-1]
    assert last == {"CPU_ONLY": "12", "CPU_AND_NE": "6", "ALL": "—"}
    why = why_html(reports)
    assert "Why the others differ from ALL" in why
    assert re.search(r"CPU_AND_NE</td><td[^>]*>6</td><td[^>]*>CPU \(best: ANE\)", why)


def test_same_placement_everywhere_says_so() -> None:
    rep = make_report([A] * 12)
    assert "Every setting places every op where the best one does" in why_html(
        {"a": rep, "b": replace(rep, compute_units=ComputeUnits.CPU_AND_NE)}
    )


def test_hostile_labels_and_names_are_escaped_in_the_compare_page() -> None:
    rep = hostile_report()
    other = replace(rep, compute_units=ComputeUnits.CPU_ONLY)
    reports = {HOSTILE[0]: rep, HOSTILE[1]: other, HOSTILE[3]: rep}
    page = compare_page(reports).html
    assert not any(bad in page for bad in ("<img src=x", "<script>alert", "\x07", "\x1b"))
    assert page.count("</script>") == page.count("<script")
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    nb = compare_notebook_html(reports)
    assert not any(bad in nb for bad in ("<img src=x", "<script", "\x07"))
    srcdoc = re.search(r"srcdoc='([^']*)'", nb)
    assert srcdoc is not None and "<img src=x" not in html.unescape(srcdoc.group(1))
    assert 'sandbox="allow-scripts allow-downloads"' in nb


def test_report_set_uses_the_compare_page(reports: dict[str, ProfileReport]) -> None:
    rs = ReportSet(reports)
    assert "Best: <b>ALL</b>" in rs.to_html()
    bundle = rs._repr_mimebundle_()
    assert "best: ALL" in bundle["text/plain"] and "<iframe" in bundle["text/html"]


def test_two_models_are_reports_not_settings() -> None:
    before = make_report([A, C, A], names=["in", "topk", "out"], model_name="net_v1")
    after = make_report([A, A, A], names=["in", "top2", "out"], model_name="net_v2")
    page = compare_page({"net_v1": before, "net_v2": after}).html
    assert "net_v1 vs net_v2: 2 reports compared" in page and "Each report in full" in page
    assert "3 ops, 2 of them in every report" not in page  # 4 rows: in, topk, top2, out
    assert "4 ops, 2 of them in every report (matched by name)" in page


def test_compare_lanes_leave_out_a_processor_no_report_uses() -> None:
    from ane_notebook.render.compare import compare_figure

    reports = {
        "CPU_AND_NE": make_report([A, C, A, A], units=ComputeUnits.CPU_AND_NE),
        "CPU_ONLY": make_report([C] * 4, units=ComputeUnits.CPU_ONLY),
    }
    fig = compare_figure(reports)
    names = {v.replace(" ★", "") for v in fig.yaxis[0].major_label_overrides.values()}
    assert names == {"CPU_AND_NE · ANE", "CPU_AND_NE · CPU", "CPU_ONLY · ANE", "CPU_ONLY · CPU"}
    with_gpu = dict(reports, ALL=make_report([A, G, A, A]))
    assert any("GPU" in v for v in compare_figure(with_gpu).yaxis[0].major_label_overrides.values())
