"""The opt-in PNG twin of a notebook output (render/png.py, `ANE_NOTEBOOK_PNG=1`)."""

from __future__ import annotations

import base64
import struct
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from browser import chromium_missing_reason
from test_render import make_report

from ane_notebook.render import png


def test_no_png_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(png.ENV, raising=False)
    assert set(make_report()._repr_mimebundle_()) == {"text/plain", "text/html"}


def test_missing_chromium_keeps_the_html_and_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(png.ENV, "1")
    monkeypatch.setenv(png.CHROMIUM_ENV, "/nonexistent/chromium")
    with pytest.warns(RuntimeWarning, match="no PNG fallback: .*no Chromium was found"):
        bundle = make_report()._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(chromium_missing_reason() is not None, reason=chromium_missing_reason() or "")
def test_png_twin_and_nbconvert_latex_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(png.ENV, "1")
    bundle = make_report()._repr_mimebundle_()
    data = base64.b64decode(bundle["image/png"])
    assert data.startswith(png.PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width == png.WIDTH_PX and height > 600
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("report")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    nb.cells.append(cell)
    path = tmp_path / "r.ipynb"
    nbformat.write(nb, path)
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "latex", str(path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # LaTeX cannot show HTML, so nbconvert picks the PNG (markdown would keep the HTML).
    tex = (tmp_path / "r.tex").read_text(encoding="utf-8")
    (picture,) = (tmp_path / "r_files").glob("*.png")
    assert f"{{r_files/{picture.name}}}" in tex.split("\\begin{document}")[1]
    assert picture.read_bytes() == data
