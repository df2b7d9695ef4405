"""The explorer widget: set values, run, assert state (no browser needed)."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ane_notebook.errors import ModelLoadError
from ane_notebook.model.examples import example_path
from ane_notebook.report import ProfileReport, ReportSet
from ane_notebook.widgets import PATH_CHOICE, UPLOAD_CHOICE, Explorer, explore, save_upload


def test_defaults_and_controls() -> None:
    ui = explore()
    assert ui.source.value.startswith("example:")
    assert ui.units.value == "ALL" and ui.chip.value == "M1" and ui.backend.value == "auto"
    assert ui.path.layout.display == "none"
    ui.source.value = PATH_CHOICE
    assert ui.path.layout.display == ""


def test_run_example_updates_report_and_output() -> None:
    ui = Explorer()
    ui.source.value = "example:transformer"
    ui.units.value = "CPU_AND_NE"
    ui.chip.value = "M4"
    r = ui.run()
    assert isinstance(r, ProfileReport) and ui.report is r
    assert r.compute_units.value == "CPU_AND_NE" and r.chip == "M4"
    assert "done" in ui.status.value and "estimate" in ui.status.value
    assert len(ui.output.outputs) == 1  # the diagram, re-rendered on each run
    data = ui.output.outputs[0]["data"]
    assert "Compute Unit Mapping" in data["text/plain"]
    assert "<iframe" in data["text/html"] and "CPU_AND_NE" in data["text/html"]
    ui.chip.value = "M2"
    ui.run()
    assert len(ui.output.outputs) == 1
    assert "chip: M2" in ui.output.outputs[0]["data"]["text/plain"]
    assert len(ui.output.outputs) == 1
    assert not ui.run_button.disabled and ui.progress.layout.visibility == "hidden"


def test_compare_checkbox_gives_four_settings() -> None:
    ui = Explorer("example:lstm")
    ui.compare.value = True
    rs = ui.run()
    assert isinstance(rs, ReportSet) and len(rs.reports) == 4


def test_compare_chips_side_by_side() -> None:
    ui = Explorer("example:lstm")
    ui.chips.value = ("M1", "M4")
    rs = ui.run()
    assert isinstance(rs, ReportSet) and list(rs.reports) == ["M1", "M4"]
    assert "best: " in ui.output.outputs[0]["data"]["text/plain"]
    ui.chips.value = ("M4",)  # one chip: a single report on it
    r = ui.run()
    assert isinstance(r, ProfileReport) and r.chip == "M4"
    ui.chips.value = ()  # none: the Chip dropdown's
    r = ui.run()
    assert isinstance(r, ProfileReport) and r.chip == "M1"


def test_path_validation_and_error_in_ui(tmp_path: Path) -> None:
    ui = Explorer()
    ui.source.value = PATH_CHOICE
    ui.path.value = str(tmp_path / "missing.mlpackage")
    assert "no such file" in ui.status.value
    assert ui.run() is None and ui.report is None
    assert "error" in ui.status.value
    (tmp_path / "notes.txt").write_text("hi")
    ui.path.value = str(tmp_path / "notes.txt")
    assert "not a Core ML model" in ui.status.value


def test_path_to_real_model_runs() -> None:
    ui = Explorer(str(example_path("lstm")))
    assert ui.source.value == PATH_CHOICE
    assert isinstance(ui.run(), ProfileReport)


def test_error_text_is_escaped(tmp_path: Path) -> None:
    ui = Explorer()
    ui.source.value = PATH_CHOICE
    ui.path.value = str(tmp_path / "<img src=x onerror=alert(1)>.mlpackage")
    assert "<img" not in ui.status.value and "&lt;img" in ui.status.value


def test_upload_zipped_package_goes_to_cache(tmp_path: Path) -> None:
    pkg = example_path("lstm")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in pkg.rglob("*"):
            if f.is_file():
                zf.write(f, Path("lstm.mlpackage") / f.relative_to(pkg))
    ui = Explorer()
    ui.source.value = UPLOAD_CHOICE
    ui.upload.value = (
        {
            "name": "lstm.zip",
            "type": "application/zip",
            "size": len(buf.getvalue()),
            "content": memoryview(buf.getvalue()),
            "last_modified": datetime.now(timezone.utc),
        },
    )
    r = ui.run()
    assert isinstance(r, ProfileReport) and r.model.name
    assert "uploads" in r.model.source


def test_upload_refuses_zip_slip() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../evil.txt", "x")
    with pytest.raises(ModelLoadError, match="outside the archive"):
        save_upload("evil.zip", buf.getvalue())
    with pytest.raises(ModelLoadError, match="not a valid zip"):
        save_upload("junk.zip", b"not a zip")
    with pytest.raises(ModelLoadError, match="upload an .mlmodel"):
        save_upload("model.onnx", b"")


def test_failed_run_clears_the_previous_diagram(tmp_path: Path) -> None:
    ui = Explorer("example:lstm")
    assert ui.run() is not None and len(ui.output.outputs) == 1
    ui.source.value = PATH_CHOICE
    ui.path.value = str(tmp_path / "gone.mlpackage")
    assert ui.run() is None
    assert ui.report is None and ui.output.outputs == ()
