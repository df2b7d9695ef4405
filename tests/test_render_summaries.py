"""A page states the report's totals in several places (header, legend, mapping bar): the
summary behind them is computed once per page (render/summaries.py, GitHub issue 14)."""

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
