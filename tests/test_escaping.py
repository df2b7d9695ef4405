"""Hostile names are shown, never obeyed: escaping in every text and HTML output.

Op names, tensor names, function names, metadata and file names come from whoever made the
model. This module builds a valid model whose names are markup, script, template expressions,
terminal control sequences and bidirectional overrides, and checks the text report, the CLI's
output and errors, comparisons, the widget's status line and `report.to_html()` / the notebook
HTML: no raw control character and no live markup, while each name is still visible. (A
headless-browser check of the same page lives in tests/test_html_browser.py.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from bad_inputs import HOSTILE_NAMES, small_spec, write_spec

from ane_notebook.api import profile, profile_all_units
from ane_notebook.cli import main
from ane_notebook.comparison import compare
from ane_notebook.errors import AneNotebookError, ModelLoadError
from ane_notebook.escape import html_text, plain
from ane_notebook.report import ProfileReport, ReportSet, report_from_dict

# What must never reach a terminal: C0/C1 controls (newline aside, between lines), DEL, and the
# bidirectional overrides/isolates.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE_FILE = "<img src=x onerror=alert(1)>\x1b[1m"
HOSTILE_FUNCTION = "<svg onload=alert(2)>"
HOSTILE_AUTHOR = "</script><script>alert(3)</script>"


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid model: a chain of ops named after HOSTILE_NAMES, in a function and a file with
    hostile names, large enough (1 x 64 x 128 x 128) that some ops may go to the Neural Engine
    and cross to the CPU."""
    ops: list[tuple[str, dict[str, str], str]] = []
    prev = "x"
    for i, name in enumerate(HOSTILE_NAMES):
        op_type = ("relu", "topk", "sigmoid", "lstm_custom", "relu", "tanh", "relu")[i]
        ops.append((op_type, {"x": prev}, name))
        prev = name
    spec = small_spec(ops, dims=[1, 64, 128, 128], function=HOSTILE_FUNCTION)
    spec.description.metadata.author = HOSTILE_AUTHOR
    spec.description.metadata.userDefined["{{7*7}}"] = "${7*7}"
    folder = tmp_path_factory.mktemp("hostile")
    return write_spec(folder / f"{HOSTILE_FILE}.mlmodel", spec)


@pytest.fixture(scope="module")
def report(hostile_model: Path) -> ProfileReport:
    return profile(hostile_model, "CPU_AND_NE", backend="estimate")


def test_plain_escapes_controls_bidi_and_lone_surrogates() -> None:
    assert plain("a\x1b[31mb\x07\x00\r\n\t") == "a\\x1b[31mb\\x07\\x00\\x0d\\x0a\\x09"
    assert plain("\x85\x9f\x7f") == "\\x85\\x9f\\x7f"
    assert plain("\u202eabc\u2066") == "\\u202eabc\\u2066"
    assert plain("bad\udcff") == "bad\\udcff"  # from invalid UTF-8 decoded with surrogateescape
    assert plain("x" * 500, limit=10) == "x" * 9 + "…"
    for s in HOSTILE_NAMES:
        assert plain(plain(s)) == plain(s)  # idempotent: escaping twice changes nothing
        assert not UNSAFE.search(plain(s))
    assert html_text('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"


def test_plain_returns_a_printable_string_as_it_is() -> None:
    # The fast path (issue 14): a printable string within the limit is not re-encoded at all.
    name = "model_layers_12_self_attn_q_proj_cast_fp16 ü 中"
    assert plain(name) is name
    assert plain("\u00a0nbsp") == "\u00a0nbsp"  # not printable to Python, yet not unsafe


def test_names_survive_json_exactly(report: ProfileReport) -> None:
    names = {o.name for o in report.ops}
    assert set(HOSTILE_NAMES) <= names
    assert report.model.metadata["author"] == HOSTILE_AUTHOR
    assert report_from_dict(json.loads(report.to_json())) == report


def test_text_report_is_escaped(report: ProfileReport) -> None:
    text = report.to_text(max_rows=50, max_reasons=50)
    assert not UNSAFE.search(text), UNSAFE.findall(text)
    assert plain(HOSTILE_FILE) in text  # the file name, in the header line
    for seg in report.segments:  # op names are still readable, escaped
        assert plain(report.ops[seg.start].name, 40) in text
        assert plain(report.ops[seg.end].name, 40) in text
    for c in report.crossings:
        assert plain(c.tensor, 40) in text


def test_cli_output_and_errors_are_escaped(
    hostile_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profile", str(hostile_model)]) == 0
    out = capsys.readouterr().out
    assert not UNSAFE.search(out) and plain(HOSTILE_FILE) in out
    # An error about a file whose name holds control characters: one escaped line.
    missing = tmp_path / "gone\x1b[2J\x07\nline2.mlpackage"
    assert main(["profile", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not UNSAFE.search(err.rstrip("\n"))
    assert "gone\\x1b[2J\\x07" in err


def test_error_messages_are_escaped() -> None:
    e = ModelLoadError("m\x1b[31m.mlmodel", "op 'a\x07' reads 'b\u202e'")
    assert str(e) == "m\\x1b[31m.mlmodel: op 'a\\x07' reads 'b\\u202e'"
    assert not UNSAFE.search(str(AneNotebookError("x\x00" * 5000)))
    assert len(str(AneNotebookError("y" * 10_000))) <= 2000


def test_comparisons_are_escaped(hostile_model: Path, report: ProfileReport) -> None:
    other = profile(hostile_model, "CPU_ONLY", backend="estimate")
    c = compare(report, other, "all\x1b[0m", "<cpu>")
    text = c.to_text()
    assert not UNSAFE.search(text) and "all\\x1b[0m" in text
    for d in c.differences:
        assert plain(d.name, 40) in text  # names are cut to fit 100 columns
    rs = ReportSet(
        {u.value: r for u, r in profile_all_units(hostile_model, backend="estimate").items()}
    )
    assert not UNSAFE.search(rs.to_text()) and plain(report.model.name) in rs.to_text()


def _assert_inert(page: str) -> None:
    """No hostile string as live markup or raw control characters; each still present in
    some escaped form."""
    for raw in (
        "<img src=x onerror",
        "<script>alert(1)",
        "<svg onload",
        "<script>alert(3)",
        "<script>alert(2)",
        "\x1b",
        "\x07",
        "\x00",
        "\u202e",
        "\u2066",
    ):
        assert raw not in page, f"{raw!r} unescaped in the HTML"
    for visible in ("onerror=alert(1)", "alert(1)"):
        assert visible in page, f"{visible!r} was dropped rather than escaped"
    assert "{{7*7}}" in page and "${7*7}" in page  # literal: no template evaluated them


def test_html_page_is_inert(report: ProfileReport, tmp_path: Path) -> None:
    page = report.to_html(tmp_path / "r.html")
    _assert_inert(page)
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == page


def test_notebook_html_is_inert(report: ProfileReport) -> None:
    bundle = report._repr_mimebundle_()
    _assert_inert(bundle["text/html"])
    assert not UNSAFE.search(bundle["text/plain"])


def test_title_is_text_not_template(tmp_path: Path) -> None:
    path = write_spec(tmp_path / "{{7*7}}.mlmodel", small_spec())
    page = profile(path, backend="estimate").to_html()
    assert "<title>ane_notebook: {{7*7}}</title>" in page


def test_widget_status_is_escaped(hostile_model: Path) -> None:
    from ane_notebook.widgets import PATH_CHOICE, Explorer

    ui = Explorer()
    ui.source.value = PATH_CHOICE
    ui.path.value = str(hostile_model)
    assert isinstance(ui.run(), ProfileReport)
    assert "<img" not in ui.status.value and "&lt;img src=x onerror=alert(1)&gt;" in ui.status.value
    assert not UNSAFE.search(ui.status.value)
