"""Comparing reports: the public `an.compare`, and compare as a feature (text, CLI, magic)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest
from test_render import HOSTILE, make_report

import ane_notebook
import ane_notebook as an
from ane_notebook.api import ProfileRequest, run
from ane_notebook.cli import main
from ane_notebook.compareset import (
    TEXT_WIDTH,
    align,
    best_label,
    differs_from_best,
)
from ane_notebook.model.examples import list_examples
from ane_notebook.placement.devices import ComputeUnits, Device
from ane_notebook.report import ReportSet


def test_public_names_are_not_shadowed_by_submodules() -> None:
    """`an.compare` once became the module `ane_notebook.compare` as soon as anything imported
    that module (Python binds a package's submodule as its attribute), so `an.compare(a, b)`
    raised "'module' object is not callable" in the tutorial. Import every submodule, then
    check each lazily exported name is still what it says."""
    for info in pkgutil.walk_packages(ane_notebook.__path__, "ane_notebook."):
        if info.name.endswith(("magics", "widgets")) or ".render" in info.name:
            continue  # notebook-only modules: covered by their own tests
        importlib.import_module(info.name)
    for name in ane_notebook._LAZY:
        value = getattr(ane_notebook, name)
        assert not isinstance(value, types.ModuleType), f"an.{name} is a module"
        assert callable(value), f"an.{name} is not callable"


def test_compare_is_callable_after_a_report_set_is_shown() -> None:
    # In a fresh interpreter, as in the tutorial: ReportSet.to_text imports the comparison.
    code = (
        "import ane_notebook as an\n"
        "from ane_notebook.report import ReportSet\n"
        "rs = an.profile_all_units('example:lstm', backend='estimate')\n"
        "ReportSet({u.value: r for u, r in rs.items()}).to_text()\n"
        "reports = list(rs.values())\n"
        "print(an.compare(reports[0], reports[-1]).matched > 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "True"


# --- several reports: alignment, the best setting, the compare text (issue 11 §3) -----------

A, G, C = Device.ANE, Device.GPU, Device.CPU


def _too_wide(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > TEXT_WIDTH]


@pytest.mark.parametrize("name", [n for n, _ in list_examples()])
def test_compare_text_fits_100_columns_on_every_example(name: str) -> None:
    rs = run(ProfileRequest(f"example:{name}", compare=True, chips="M1,M4", backend="estimate"))
    text = rs.to_text()
    assert len(rs.reports) == 8 and "best: " in text
    assert _too_wide(text) == []
    assert _too_wide(an.compare(rs["M1/CPU_ONLY"], rs["M4/ALL"]).to_text()) == []


def test_compare_text_fits_100_columns_with_hostile_and_long_names() -> None:
    long = "encoder/" * 40 + "q_proj"
    names = [f"{HOSTILE[i % len(HOSTILE)]}{long}{i}" for i in range(12)]
    a = make_report(names=names, model_name=long + HOSTILE[0], units=ComputeUnits.CPU_ONLY)
    b = make_report([A] * 12, names=names, model_name=long)
    text = ReportSet({HOSTILE[3] + long: a, HOSTILE[0]: b}).to_text()
    assert _too_wide(text) == []
    assert "\x1b" not in text and "\u202e" not in text  # escaped, not passed to the terminal
    assert _too_wide(an.compare(a, b, long, long).to_text()) == []


def test_best_is_the_lowest_total_not_the_first_setting() -> None:
    slow = make_report([C] * 12, units=ComputeUnits.CPU_ONLY)
    fast = make_report([A] * 12)
    mid = make_report([A, A, A, A, A, A, C, C, C, C, C, C], units=ComputeUnits.CPU_AND_NE)
    reports = {"CPU_ONLY": slow, "CPU_AND_NE": mid, "ALL": fast}
    totals = {k: r.summary().est_total_ms for k, r in reports.items()}
    assert min(totals, key=totals.__getitem__) == "ALL"  # the setup this test relies on
    assert best_label(reports) == "ALL" == ReportSet(reports).best()
    al = align(reports)
    differ = differs_from_best(reports, al, "ALL")
    assert differ["ALL"] == ()
    assert differ["CPU_AND_NE"] == tuple(range(6, 12))  # only the ops not on the ANE there
    assert len(differ["CPU_ONLY"]) == 12
    text = ReportSet(reports).to_text()
    assert "best: ALL" in text and "6 on CPU (best: ANE)" in text


def test_two_versions_align_by_name_with_added_and_removed_ops() -> None:
    before = make_report([A, A, C, A], names=["in", "conv", "topk", "out"])
    after = make_report([A, A, A, A, A], names=["in", "conv", "norm", "top2", "out"])
    al = align({"before": before, "after": after})
    names = [k[1] for k in al.keys]
    # "norm" and "top2" come right after "conv", the op they follow in the new version
    assert names == ["in", "conv", "norm", "top2", "topk", "out"]
    assert [i >= 0 for i in al.index["before"]] == [True, True, False, False, True, True]
    assert [i >= 0 for i in al.index["after"]] == [True, True, True, True, False, True]
    for label, rep in (("before", before), ("after", after)):
        for row, key in enumerate(al.keys):
            op = al.op(rep, label, row)
            assert op is None or op.name == key[1]
    text = ReportSet({"before": before, "after": after}).to_text()
    assert "before: 2 of the 6 ops missing" in text and "after: 1 of the 6 ops missing" in text


def test_request_labels_name_only_what_varies() -> None:
    chips = run(ProfileRequest("example:lstm", chips=("M1", "M4"), backend="estimate"))
    assert isinstance(chips, ReportSet) and list(chips.reports) == ["M1", "M4"]
    assert [r.chip for r in chips.reports.values()] == ["M1", "M4"]
    both = run(ProfileRequest("example:lstm", compare=True, chips="M2,M3"))
    assert isinstance(both, ReportSet) and len(both.reports) == 8
    assert list(both.reports)[:2] == ["M2/CPU_ONLY", "M2/CPU_AND_GPU"]
    models = run(ProfileRequest("example:lstm", against="example:fp32", backend="estimate"))
    assert isinstance(models, ReportSet) and list(models.reports) == ["lstm", "fp32"]


def test_request_refuses_chips_with_a_plan_and_compare_on_a_report(tmp_path: Path) -> None:
    with pytest.raises(an.UsageError, match="chips"):
        run(ProfileRequest("example:lstm", chips="M1,M4", backend="coreml"))
    saved = tmp_path / "before.json"
    an.profile("example:lstm").to_json(saved)
    with pytest.raises(an.UsageError, match="holds one setting"):
        run(ProfileRequest(str(saved), compare=True))


def test_cli_compare_prints_the_table_and_writes_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "cmp.html"
    assert main(["profile", "example:mobilenet", "--compare", "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "best: CPU_AND_NE" in out and "CPU_AND_GPU" in out and f"wrote {page}" in out
    assert page.stat().st_size > 0 and "compare_figure" in page.read_text(encoding="utf-8")
    assert _too_wide(out) == []


def test_cli_against_a_saved_report_before_a_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tmp_path / "before.json"
    assert main(["profile", "example:transformer", "-u", "CPU_AND_NE", "--json", str(before)]) == 0
    capsys.readouterr()
    rc = main(["profile", str(before), "--against", "example:transformer", "-u", "ALL"])
    out = capsys.readouterr().out
    assert rc == 0
    # both are "transformer": labelled before/after, ops matched by name, none missing
    assert "  before  " in out and "  after  " in out and "missing" not in out
    assert "best: after" in out


def test_cli_json_with_compare_is_refused_before_profiling(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["profile", "example:lstm", "--compare", "--json", str(tmp_path / "x")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing was profiled
    assert captured.err.count("\n") == 1 and "--json writes one report" in captured.err


def test_hostile_labels_in_a_report_set_text() -> None:
    rep = make_report(names=[f"{HOSTILE[3]}{i}" for i in range(12)])
    other = replace(rep, compute_units=ComputeUnits.CPU_ONLY)
    text = ReportSet({HOSTILE[3]: rep, HOSTILE[0]: other}).to_text()
    assert "\x1b" not in text and "\x07" not in text and "\\x1b" in text
