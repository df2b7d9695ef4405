"""A page states the report's totals in several places (header, legend, mapping bar): the
summary behind them is computed once per page (render/summaries.py, GitHub issue 14); the
not-on-ANE table groups the ops once for its height and its rows."""

from __future__ import annotations

import pytest
from test_render import make_report

from ane_notebook.render.html import report_html
from ane_notebook.render.summaries import shared_summaries, summary_of
from ane_notebook.report import ProfileReport


def test_a_page_computes_the_summary_once(monkeypatch: pytest.MonkeyPatch) -> None:
    report = make_report()
    calls = []
    real = ProfileReport.summary

    def counted(self: ProfileReport) -> object:
        calls.append(self)
        return real(self)

    monkeypatch.setattr(ProfileReport, "summary", counted)
    report_html(report)
    assert len(calls) == 1


def test_summary_of_is_the_summary_inside_and_outside_the_block() -> None:
    a, b = make_report(), make_report(model_name="other")
    assert summary_of(a) == a.summary()
    with shared_summaries():
        assert summary_of(a) is summary_of(a)
        assert summary_of(b) == b.summary() and summary_of(b) is not summary_of(a)
    assert summary_of(a) is not summary_of(a)  # no memo outside the block


def test_the_not_on_ane_table_groups_the_ops_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from ane_notebook.render.tables import not_on_ane_html, not_on_ane_table

    report = make_report()
    calls = []
    real = ProfileReport.not_on_ane

    def counted(self: ProfileReport) -> object:
        calls.append(self)
        return real(self)

    monkeypatch.setattr(ProfileReport, "not_on_ane", counted)
    table = not_on_ane_table(report)
    assert len(calls) == 1
    assert table.text == not_on_ane_html(report)
