"""Packed notebook pages in a real browser: the LZMA decoder, five diagrams on one page, and the
page nbconvert makes of a saved notebook (kernel gone), all in headless Chromium.

The decoder (`render/unpack.js`) is checked byte for byte against Python's `lzma` on inputs that
reach each of its paths: literals only, long matches, repeated distances, incompressible data,
multi-byte text, and the literal/position settings (lc, lp, pb) other than ours.
"""

from __future__ import annotations

import base64
import json
import lzma
import os
import subprocess
import sys
from pathlib import Path

import bokeh
import nbformat
import numpy as np
import pytest
from bokeh.models import ColumnDataSource
from browser import Page
from browser_marks import BROWSER_TEST_MARKS
from test_render import big_report, make_report, named

from ane_notebook.render import packjs
from ane_notebook.render.diagram import build_layout, op_table
from ane_notebook.render.html import notebook_html
from ane_notebook.report import ProfileReport

pytestmark = BROWSER_TEST_MARKS  # browser, slow, skipped without Chromium


def _inputs() -> dict[str, bytes]:
    rnd = os.urandom(70_000)
    text = "".join(f"model_layers_{i}_self_attn_q_proj_cast_fp16 ✓ é 𝄞\n" for i in range(3000))
    return {
        "one byte": b"a",
        "zeros (long matches)": bytes(300_000),
        "random (literals)": rnd,
        "random twice (a match 70 KB back)": rnd + rnd,
        "text (repeated distances)": text.encode("utf-8"),
        "bokeh.min.js": (
            Path(bokeh.__file__).parent / "server/static/js/bokeh.min.js"
        ).read_bytes(),
    }


SETTINGS = {
    "ours": packjs._FILTERS,
    "data": packjs._DATA_FILTERS,
    "xz defaults (lc3 lp0 pb2)": [{"id": lzma.FILTER_LZMA1, "preset": 6}],
    "lc0 lp2 pb4": [{"id": lzma.FILTER_LZMA1, "preset": 2, "lc": 0, "lp": 2, "pb": 4}],
    "lc4 lp0 pb0": [{"id": lzma.FILTER_LZMA1, "preset": 9, "lc": 4, "lp": 0, "pb": 0}],
}


def test_decoder_matches_python_lzma(page: Page) -> None:
    page.evaluate(packjs.unpack_js())
    inputs = _inputs()
    checked = 0
    for setting, filters in SETTINGS.items():
        for what, raw in inputs.items():
            if what == "bokeh.min.js" and setting not in ("ours", "data"):
                continue  # the slow case only with the settings the pages use
            packed = lzma.compress(raw, format=lzma.FORMAT_ALONE, filters=filters)
            js = f"""(() => {{
              const b = atob({json.dumps(base64.b64encode(packed).decode())});
              const src = new Uint8Array(b.length);
              for (let i = 0; i < b.length; i++) src[i] = b.charCodeAt(i);
              const out = window.__aneUnpack.decode(src, {len(raw)});
              let s = "";
              for (let i = 0; i < out.length; i += 8192) {{
                s += String.fromCharCode.apply(null, out.subarray(i, i + 8192));
              }}
              return btoa(s);
            }})()"""
            got = base64.b64decode(page.evaluate(js, timeout=60))
            assert got == raw, f"{what}, {setting}"
            checked += 1
    assert checked == 2 * len(inputs) + (len(SETTINGS) - 2) * (len(inputs) - 1)


def test_base85_matches_python(page: Page) -> None:
    page.evaluate(packjs.unpack_js())
    cases = [os.urandom(n) for n in (*range(0, 13), 1000, 250_001)] + [b"\xff" * 8, bytes(9)]
    for data in cases:
        text = packjs.b85(data)
        assert not set(text) & set("&<>'\"\\")  # nothing HTML, an attribute or JSON escapes
        js = f"Array.from(window.__aneUnpack.base85({json.dumps(text)}))"
        assert bytes(page.evaluate(js, timeout=60)) == data, len(data)
    bad = page.evaluate(
        "(() => { try { window.__aneUnpack.base85('ab\u00e9de'); return 'decoded'; }"
        " catch (e) { return e.message; } })()"
    )
    assert bad == "base85: bad character"


def test_decoder_rejects_a_damaged_stream(page: Page) -> None:
    page.evaluate(packjs.unpack_js())
    raw = b"hello hello hello " * 1000
    packed = bytearray(lzma.compress(raw, format=lzma.FORMAT_ALONE))
    packed[13] = 7  # the range coder's first byte must be 0
    js = f"""(() => {{
      const src = Uint8Array.from({json.dumps(list(packed))});
      try {{ window.__aneUnpack.decode(src, {len(raw)}); return "decoded"; }}
      catch (e) {{ return String(e.message); }}
    }})()"""
    assert page.evaluate(js) == "lzma: bad stream"


def notebook_page(rep: ProfileReport) -> str:
    return f"<!DOCTYPE html><html><body>{notebook_html(rep)}</body></html>"


def _notebook_with(reports: int) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for i in range(reports):
        rep = make_report(model_name=f"model {i}")
        cell = nbformat.v4.new_code_cell(f"report_{i}")
        cell.outputs = [
            nbformat.v4.new_output("display_data", data=rep._repr_mimebundle_()),
        ]
        nb.cells.append(cell)
    return nb


def _rendered_frames(page: Page, url: str, n: int) -> list[Page]:
    page.track_iframes()
    page.goto(url, timeout=60)
    frames = [page.iframe(timeout=30, index=i) for i in range(n)]
    for f in frames:
        f.wait_for_bokeh(timeout=60)
    return frames


def test_five_packed_diagrams_render_on_one_page(page: Page, tmp_path: Path) -> None:
    nb = _notebook_with(5)
    body = "".join(c.outputs[0].data["text/html"] for c in nb.cells)
    out = tmp_path / "five.html"
    out.write_text(f"<!DOCTYPE html><html><body>{body}</body></html>", encoding="utf-8")
    n_ops = len(op_table(make_report()))
    for f in _rendered_frames(page, out.as_uri(), 5):
        assert f.evaluate("Bokeh.version") == bokeh.__version__
        got = f.evaluate("Bokeh.documents[0].get_model_by_name('lanes_ops').get_length()")
        assert got == n_ops
        # The packed elements were emptied once unpacked: no second copy held in the DOM.
        assert f.evaluate(f"document.getElementById('{packjs.ELEMENT_ID}').textContent") == ""
        assert f.errors() == []
    assert page.errors() == []


def test_nbconvert_html_of_a_saved_notebook_renders(page: Page, tmp_path: Path) -> None:
    path = tmp_path / "saved.ipynb"
    nbformat.write(_notebook_with(2), path)
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", str(path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    html = (tmp_path / "saved.html").read_text(encoding="utf-8")
    assert html.count('class="ane-notebook-diagram"') == 2
    frames = _rendered_frames(page, (tmp_path / "saved.html").as_uri(), 2)
    for f in frames:
        assert f.evaluate("__deepQueryAll('canvas').length") >= 3
        assert f.errors() == []


def test_encoded_columns_decode_to_the_originals(page: Page, tmp_path: Path) -> None:
    """A 3,000-op page (its text columns dictionary- and prefix-encoded, its positions small
    ints): once the document is ready, every column in the browser equals the Python one."""
    rep = big_report(3000)
    originals = {}
    for name in ("lanes_ops", "graph_nodes", "lanes_segments", "lanes_crossings"):
        src = named(build_layout(rep).root, name, ColumnDataSource)
        originals[name] = {
            k: (v if isinstance(v, list) else np.asarray(v).tolist()) for k, v in src.data.items()
        }
    out = tmp_path / "big.html"
    out.write_text(notebook_page(rep), encoding="utf-8")
    (frame,) = _rendered_frames(page, out.as_uri(), 1)
    frame.wait_for("window.__aneDecoded === true", what="the columns to decode")
    for name, cols in originals.items():
        got = frame.evaluate(
            f"""(() => {{
              const s = Bokeh.documents[0].get_model_by_name({json.dumps(name)});
              const out = {{}};
              for (const [k, v] of Object.entries(s.data)) {{ out[k] = Array.from(v); }}
              return out;
            }})()""",
            timeout=60,
        )
        assert set(got) == set(cols), name
        for k, v in cols.items():
            if not v or isinstance(v[0], str):
                assert got[k] == v, k
            else:
                assert got[k] == pytest.approx(v), k
    assert frame.errors() == []
