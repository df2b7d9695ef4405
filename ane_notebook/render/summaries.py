"""One `ProfileReport.summary()` per report while a page is made.

The header, its height, the legend and the mapping bar each state totals of the report; each
used to call `summary()`, a pass over every op (~7 ms at 50,000 ops, five times per page: GitHub
issue 14). Inside `shared_summaries()` (`render/html._page` opens it) `summary_of` computes it
once per report and hands the same, read-only, `Summary` to every caller; outside, it is
`report.summary()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ..report import ProfileReport, Summary

# id(report) -> (report, its summary). The report is held, so its id cannot be reused while
# the memo lives.
_MEMO: ContextVar[dict[int, tuple[ProfileReport, Summary]] | None] = ContextVar(
    "ane_notebook_summaries", default=None
)


@contextmanager
def shared_summaries() -> Iterator[None]:
    """Within the block, `summary_of` computes each report's summary once."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def summary_of(report: ProfileReport) -> Summary:
    """`report.summary()`, computed once per report inside `shared_summaries()`."""
    memo = _MEMO.get()
    if memo is None:
        return report.summary()
    got = memo.get(id(report))
    if got is None or got[0] is not report:
        got = memo[id(report)] = (report, report.summary())
    return got[1]
