"""Make docs/diagram.png, the picture at the top of the README, from a real report page.

    python docs/make_screenshot.py              # example:transformer, estimated on M1
    python docs/make_screenshot.py --model example:mobilenet --out /tmp/m.png

Profiles the model, writes the standalone page, opens it in headless Chromium (the project's
test driver, tests/browser.py: Debian's /usr/bin/chromium or $ANE_NOTEBOOK_CHROMIUM), waits for
bokeh to render, and captures the page from the top to the end of the data-flow view. With
Pillow installed the PNG is reduced to a 64-colour palette (a diagram has few colours; the file
is ~4x smaller).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the CDP driver the browser tests use
sys.path.insert(0, str(ROOT))

WIDTH = 1100


def capture(model: str, out: Path) -> Path:
    from browser import Chromium

    import ane_notebook as an

    report = an.profile(model, chip="M1", backend="estimate")
    with tempfile.TemporaryDirectory() as tmp, Chromium() as browser:
        page_path = Path(tmp) / "report.html"
        report.to_html(page_path)
        page = browser.new_page(WIDTH, 900)
        page.goto(page_path.as_uri())
        page.wait_for_bokeh(timeout=30)
        # Down to the bottom of the data-flow view: the legend, mapping bar, lanes and graph.
        bottom = page.evaluate(
            "(() => { const m = Bokeh.documents[0].get_model_by_name('graph_figure');"
            " return Math.ceil(Bokeh.index.find_one(m).el.getBoundingClientRect().bottom); })()"
        )
        page.set_viewport(WIDTH, int(bottom) + 8)
        page.wait_for_bokeh(timeout=30)
        page.screenshot(out, full_page=False)
    _shrink(out)
    return out


def _shrink(path: Path) -> None:
    try:
        from PIL import Image
    except ImportError:
        return  # the PNG as Chromium wrote it: larger, same picture
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="example:transformer")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "diagram.png")
    args = ap.parse_args()
    out = capture(args.model, args.out)
    print(f"{out}: {out.stat().st_size / 1e3:.0f} KB")


if __name__ == "__main__":
    main()
