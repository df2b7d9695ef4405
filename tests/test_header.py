"""The report header and the mapping bar (issue 11 §4): human labels, values left-aligned, the
model and run details collapsed, and a time row that adds up to the prediction total."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from test_render import RAW_MARKUP, hostile_report, make_report

import ane_notebook as an
from ane_notebook.model.examples import list_examples
from ane_notebook.render import palette
from ane_notebook.render.header import META_LABELS, header_html, human_label
from ane_notebook.render.mapping import mapping_columns
from ane_notebook.report import ProfileReport

SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")


def _main_and_details(header: str) -> tuple[str, str]:
    head, sep, details = header.partition('<details class="ane-details"')
    assert sep, "the details section is missing"
    return head, details


def _labels(html: str) -> list[str]:
    return re.findall(r"<th [^>]*>(.*?)</th>", html)


@pytest.mark.parametrize("name", [n for n, _ in list_examples()])
def test_labels_are_words_and_values_left_aligned(name: str) -> None:
    report = an.profile(f"example:{name}", backend="estimate")
    header = header_html(report)
    labels = _labels(header)
    assert labels and not [t for t in labels if SNAKE.match(t)]
    for key in report.metadata:
        assert key not in labels or key in ("backend",)  # never the raw key as its label
    cells = re.findall(r"<(?:td|th) ([^>]*)>", header)
    assert cells and all("text-align:left" in c for c in cells)


def test_metadata_of_a_live_run_gets_human_labels() -> None:
    report = make_report()
    meta = {k: f"value of {k}" for k in META_LABELS}
    meta["some_new_key"] = "x"
    header = header_html(replace(report, metadata=meta))
    labels = _labels(header)
    assert "coremltools version" in labels and "Some new key" in labels
    assert not [t for t in labels if SNAKE.match(t)]
    assert human_label("per_op_time") == "Per-op times" and human_label("a_b") == "A b"


def test_model_metadata_and_run_details_are_collapsed() -> None:
    report = make_report()
    model = replace(
        report.model, metadata={"com.github.apple.coremltools.version": "8.1", "author": "me"}
    )
    header = header_html(replace(report, model=model))
    main, details = _main_and_details(header)
    assert "com.github.apple.coremltools.version" in details and "author" in details
    assert "coremltools.version" not in main and "ane_notebook version" not in main
    assert "ane_notebook version" in details
    assert not details.startswith(" open")  # collapsed until clicked
    # what a reader needs first stays in the main table
    for label in ("Placement", "Compute units", "Chip", "Ops", "Crossings", "Total"):
        assert label in _labels(main)


def test_hostile_metadata_is_escaped_in_the_header() -> None:
    header = header_html(hostile_report())
    assert not any(bad in header for bad in RAW_MARKUP)
    assert "&lt;img src=x onerror=alert(1)&gt;" in header


def test_header_says_which_crossings_reuse_a_moved_tensor() -> None:
    from test_crossings_view import skip_report

    report = skip_report()
    main, _ = _main_and_details(header_html(report))
    assert "1 reusing one already moved (no cost)" in main


def _time_row(report: ProfileReport) -> dict[str, float]:
    cols = mapping_columns(report)
    return {
        d: ms
        for row, d, ms in zip(cols["row"], cols["device"], cols["time_ms"], strict=True)
        if row.startswith("time")
    }


def test_mapping_time_row_adds_up_to_the_prediction_total() -> None:
    report = an.profile("example:transformer", backend="estimate")
    s = report.summary()
    row = _time_row(report)
    assert s.launch_ms > 0 and row["dispatches"] == pytest.approx(s.launch_ms)
    assert sum(row.values()) == pytest.approx(s.est_total_ms)
    assert "model I/O" not in row  # the summary has no model-I/O time here: no empty piece
    cols = mapping_columns(report)
    assert palette.DISPATCH_COLOR in cols["color"]
    time_right = [
        r for row_, r in zip(cols["row"], cols["right"], strict=True) if row_.startswith("time")
    ]
    assert time_right[-1] == pytest.approx(100)


def test_mapping_shows_model_io_when_the_summary_has_it() -> None:
    report = make_report()
    io = report.summary().io_ms
    assert io > 0  # the hand-made report moves its inputs in and outputs back
    row = _time_row(report)
    assert row["model I/O"] == pytest.approx(io)
    assert sum(row.values()) == pytest.approx(report.summary().est_total_ms)
    none = replace(report, segments=tuple(replace(g, io_ms=0.0) for g in report.segments))
    assert "model I/O" not in _time_row(none)
