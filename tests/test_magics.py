"""%ane_profile / %%ane_profile in an in-process IPython shell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from ane_notebook.report import ProfileReport, ReportSet


@pytest.fixture(scope="module")
def ip() -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "ane_notebook")
    yield shell


def test_line_magic_returns_report_with_o(ip: InteractiveShell) -> None:
    r = ip.run_line_magic("ane_profile", "example:lstm -o -q --chip M2")
    assert isinstance(r, ProfileReport)
    assert r.chip == "M2" and r.source == "estimate"


def test_line_magic_reads_a_variable(ip: InteractiveShell) -> None:
    ip.user_ns["my_model"] = "example:fp32"
    r = ip.run_line_magic("ane_profile", "my_model -o -q -u CPU_AND_NE")
    assert r.model.name == "fp32" and r.compute_units.value == "CPU_AND_NE"


def test_line_magic_displays_text_and_html(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shown: list[object] = []
    ip.display_pub.publish = lambda data, **kw: shown.append(data)  # type: ignore[method-assign]
    try:
        assert ip.run_line_magic("ane_profile", "example:lstm") is None
    finally:
        del ip.display_pub.publish
    assert shown, "nothing displayed"
    bundle = shown[-1]
    assert isinstance(bundle, dict)
    assert "Compute Unit Mapping" in bundle["text/plain"]
    assert "text/html" in bundle


def test_quiet_displays_nothing(ip: InteractiveShell) -> None:
    shown: list[object] = []
    ip.display_pub.publish = lambda data, **kw: shown.append(data)  # type: ignore[method-assign]
    try:
        ip.run_line_magic("ane_profile", "example:lstm -q")
    finally:
        del ip.display_pub.publish
    assert shown == []


def test_compare_gives_four_settings(ip: InteractiveShell) -> None:
    rs = ip.run_line_magic("ane_profile", "example:transformer --compare -o -q")
    assert isinstance(rs, ReportSet)
    assert list(rs.reports) == ["CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE", "ALL"]
    assert "best: ALL" in rs.to_text() and "on another processor" in rs.to_text()


def test_chips_and_against_a_variable(ip: InteractiveShell) -> None:
    chips = ip.run_line_magic("ane_profile", "example:lstm --chips M1,M4 -o -q")
    assert isinstance(chips, ReportSet) and list(chips.reports) == ["M1", "M4"]
    ip.user_ns["old"] = "example:fp32"
    two = ip.run_line_magic("ane_profile", "example:lstm --against old -o -q")
    assert isinstance(two, ReportSet) and list(two.reports) == ["lstm", "fp32"]


def test_html_option_writes_page(ip: InteractiveShell, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    ip.run_line_magic("ane_profile", f"example:lstm -q --html {out}")
    assert out.read_text().lstrip().lower().startswith("<!doctype html")


def test_cell_magic_profiles_last_expression(ip: InteractiveShell) -> None:
    cell = (
        "from coremltools.converters.mil import Builder as mb\n"
        "import coremltools as ct\n"
        "@mb.program(input_specs=[mb.TensorSpec(shape=(1, 8))])\n"
        "def prog(x):\n"
        "    return mb.relu(x=x, name='out')\n"
        "cell_model = prog\n"
        "prog\n"
    )
    r = ip.run_cell_magic("ane_profile", "-o -q", cell)
    assert isinstance(r, ProfileReport)
    assert any(o.op_type == "relu" for o in r.ops)
    assert "cell_model" in ip.user_ns  # the cell ran in the user namespace


def test_cell_magic_var_option(ip: InteractiveShell) -> None:
    r = ip.run_cell_magic("ane_profile", "--var chosen -o -q", "chosen = 'example:lstm'\nx = 1\n")
    assert r.model.name == "lstm"


def test_errors_are_one_line_and_kernel_survives(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ip.run_line_magic("ane_profile", "does/not/exist.mlpackage") is None
    err = capsys.readouterr().err.strip()
    assert err.startswith("ane_profile: error:") and "does/not/exist.mlpackage" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    # Argument mistakes are IPython UsageErrors: the shell shows them as one line.
    with pytest.raises(UsageError, match="unknown chip 'Z99'"):
        ip.run_line_magic("ane_profile", "example:lstm --chip Z99 -q")
    with pytest.raises(UsageError, match="last line must be the model"):
        ip.run_cell_magic("ane_profile", "-q", "x = 1\n")
    with pytest.raises(UsageError, match="unrecognized arguments: --no-such-option"):
        ip.run_line_magic("ane_profile", "example:lstm --no-such-option")
    # still working
    assert ip.run_line_magic("ane_profile", "example:lstm -o -q") is not None


def test_debug_raises(ip: InteractiveShell) -> None:
    from ane_notebook.errors import ModelLoadError

    with pytest.raises(ModelLoadError):
        ip.run_line_magic("ane_profile", "nope.mlpackage --debug")


def test_docstring_is_the_help(ip: InteractiveShell) -> None:
    magic = ip.find_line_magic("ane_profile")
    doc = magic.__doc__ or ""
    assert "%ane_profile example:transformer" in doc and "--compute-units" in doc


def test_cell_magic_runs_ipython_syntax(ip: InteractiveShell) -> None:
    # `!cmd` and `%magic` lines are IPython syntax, not Python: the cell goes through IPython's
    # own transformations first (this cell was a SyntaxError before).
    cell = "listing = !echo hi\n%pwd\nmodel_name = 'example:lstm'\nmodel_name\n"
    r = ip.run_cell_magic("ane_profile", "-o -q", cell)
    assert isinstance(r, ProfileReport) and r.model.name == "lstm"
    assert list(ip.user_ns["listing"]) == ["hi"]


def test_usage_errors_show_as_one_line_in_a_cell(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    result = ip.run_cell("%ane_profile example:lstm -u TPU")
    assert not result.success
    out, err = capsys.readouterr()
    shown = (out + err).strip().splitlines()
    assert shown == [
        "UsageError: unknown compute units 'TPU'; choose one of CPU_ONLY, "
        "CPU_AND_GPU, CPU_AND_NE, ALL"
    ]
