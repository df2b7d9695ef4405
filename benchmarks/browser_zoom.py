"""How the standalone report page responds in a browser, canvas vs WebGL, at 10k/50k/200k ops.

    python benchmarks/browser_zoom.py                       # 10k, 50k, 200k; both backends
    python benchmarks/browser_zoom.py --sizes 10k 50k --repeat 3

For each benchmark model (benchmarks/models.py; the 200k one is the 50k ops copied 4x) the
report's standalone HTML (`report.to_html()`) is written twice, once with every figure's
`output_backend` set to "canvas" and once to "webgl", and opened in one headless Chromium (the
flags of tests/browser.py: WebGL through SwiftShader, software, no GPU). Times come from the
page's own clock: a condition is polled inside the page every 10 ms and the time is taken one
animation frame after it first holds (the frame that shows it). No fixed sleeps.

| column | from → until |
|---|---|
| ready s | navigation start → bokeh documents idle, lanes view and a canvas exist |
| wheel ms | one wheel notch over the lanes → x range changed, document idle (+1 frame) |
| range ms | the lanes' x range set from script (what pan, box zoom and the band do) → idle |
| search ms | the search box's `value_input` set to a query → its listing updated, idle |
| band ms | a click on a layer of the band → lanes zoomed to it and the graph view relaid |

Interaction times are the median of `--repeat` tries on the same page. The two backends are
measured in the same run, so their ratio holds even on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "tests")]

BACKENDS = ("canvas", "webgl")
LANES = "Bokeh.documents[0].get_model_by_name('lanes_figure')"


def _model(name: str) -> str:
    return f"Bokeh.documents[0].get_model_by_name({json.dumps(name)})"


def _when(cond: str, timeout_s: float) -> str:
    """A promise of performance.now() one animation frame after `cond` first holds."""
    return f"""new Promise((resolve) => {{
      const deadline = performance.now() + {int(timeout_s * 1000)};
      const check = () => {{
        let ok = false;
        try {{ ok = !!({cond}); }} catch (e) {{ ok = false; }}
        if (ok) {{ requestAnimationFrame(() => resolve(performance.now())); }}
        else if (performance.now() > deadline) {{ resolve(null); }}
        else {{ setTimeout(check, 10); }}
      }};
      check();
    }})"""


_IDLE = "Bokeh.documents.every((d) => d.is_idle)"
_READY = (
    f"window.Bokeh && Bokeh.documents.length > 0 && {_IDLE} && "
    f"Bokeh.index.find_one({LANES}) && __deepQueryAll('canvas').length > 0"
)


def write_pages(sizes: list[str], out: Path) -> dict[tuple[str, str], Path]:
    """The report page of each size, once per backend."""
    from bokeh.models import Plot
    from models import model_file

    import ane_notebook as an
    from ane_notebook.render import html as html_mod

    pages: dict[tuple[str, str], Path] = {}
    for size in sizes:
        t = time.perf_counter()
        rep = an.profile(model_file(size), compute_units="ALL")
        print(f"# profiled {size}: {len(rep.ops)} ops in {time.perf_counter() - t:.1f} s")
        for backend in BACKENDS:
            real = html_mod.encode_sources

            def forced(root: Any, real: Any = real, backend: str = backend) -> Any:
                for plot in root.select({"type": Plot}):
                    plot.output_backend = backend
                return real(root)

            with mock.patch.object(html_mod, "encode_sources", forced):
                page = rep.to_html()
            path = out / f"{size}-{backend}.html"
            path.write_text(page, encoding="utf-8")
            pages[(size, backend)] = path
    return pages


def _now(page: Any) -> float:
    return float(page.evaluate("performance.now()"))


def _timed(page: Any, action: Any, cond: str, timeout_s: float = 60) -> float | None:
    t0 = _now(page)
    action()
    t1 = page.evaluate(_when(cond, timeout_s), timeout=timeout_s + 10)
    return None if t1 is None else float(t1) - t0


def _range(page: Any) -> list[float]:
    return list(page.evaluate(f"[{LANES}.x_range.start, {LANES}.x_range.end]"))


def _changed(before: list[float]) -> str:
    return (
        f"(() => {{ const r = {LANES}.x_range; return r.start !== {before[0]} || "
        f"r.end !== {before[1]}; }})() && {_IDLE}"
    )


def _set_range(page: Any, lo: float, hi: float) -> None:
    page.evaluate(f"(() => {{ const r = {LANES}.x_range; r.start = {lo}; r.end = {hi}; }})()")
    page.wait_for(_IDLE, 60)


def _lanes_box(page: Any) -> list[float]:
    # Mouse events reach only what is on screen, and the search listing moves the lanes.
    page.evaluate(f"Bokeh.index.find_one({LANES}).el.scrollIntoView()")
    return list(
        page.evaluate(f"""(() => {{ const v = Bokeh.index.find_one({LANES});
      const c = v.canvas_view.el.getBoundingClientRect(); const f = v.frame.bbox;
      return [c.left + f.x0, c.top + f.y0, f.width, f.height]; }})()""")
    )


def measure_page(browser: Any, path: Path, repeat: int) -> dict[str, Any]:
    page = browser.new_page(1280, 900)
    try:
        page.goto(path.as_uri(), timeout=120)
        ready = page.evaluate(_when(_READY, 120), timeout=130)
        out: dict[str, Any] = {"ready_s": None if ready is None else float(ready) / 1000}
        if ready is None:
            return out
        page.evaluate(f"Bokeh.index.find_one({LANES}).el.scrollIntoView()")
        full = _range(page)
        n = full[1]
        wheel, rng, search, band = [], [], [], []
        for i in range(repeat):
            # Wheel: one notch in the middle of the lanes, from the whole model in view.
            _set_range(page, full[0], full[1])
            box = _lanes_box(page)
            before = _range(page)
            t = _timed(
                page,
                lambda box=box: page.send(
                    "Input.dispatchMouseEvent",
                    {
                        "type": "mouseWheel",
                        "x": box[0] + box[2] / 2,
                        "y": box[1] + box[3] / 2,
                        "deltaX": 0,
                        "deltaY": -240,
                    },
                ),
                _changed(before),
            )
            wheel.append(t)
            # Range: back to the whole model (every op on screen again), set from script.
            before = _range(page)
            lo, hi = (full[0], full[1]) if i % 2 == 0 else (full[0] + 1, full[1] - 1)
            rng.append(
                _timed(
                    page,
                    lambda lo=lo, hi=hi: page.evaluate(
                        f"(() => {{ const r = {LANES}.x_range; r.start = {lo}; r.end = {hi}; }})()"
                    ),
                    _changed(before),
                )
            )
            page.wait_for(_IDLE, 60)
            # Search: a query that matches ops all along the model.
            query = ["softmax", "matmul", "add"][i % 3]
            search.append(
                _timed(
                    page,
                    lambda q=query: page.evaluate(f"{_model('search')}.value_input = '{q}'"),
                    f"{_model('search_results')}.text.includes('matches') && "
                    f"{_model('search_results')}.text.includes('{query}') && {_IDLE}",
                )
            )
            page.evaluate(f"{_model('search')}.value_input = ''")
            page.wait_for(_IDLE, 60)
            # Band: a click on a layer of the band's busiest row, near the middle (another one
            # each time), zoomed out to the whole model.
            _set_range(page, full[0], full[1])
            k = page.evaluate(f"""(() => {{ const d = {_model("band_layers")}.data;
              const count = new Map();
              for (const y of d.y) {{ count.set(y, (count.get(y) || 0) + 1); }}
              const row = [...count.keys()].reduce((a, b) => count.get(b) > count.get(a) ? b : a);
              let best = -1;
              for (let j = 0; j < d.y.length; j++) {{
                if (d.y[j] !== row) continue;
                if (best < 0 || Math.abs(d.mid[j] - {n / 2 + i * n / 20}) <
                    Math.abs(d.mid[best] - {n / 2 + i * n / 20})) best = j; }}
              return best; }})()""")
            if k is None or k < 0:
                band.append(None)
                continue
            _lanes_box(page)
            pt = page.evaluate(f"""(() => {{ const v = Bokeh.index.find_one({LANES});
              const src = {_model("band_layers")};
              const c = v.canvas_view.el.getBoundingClientRect();
              return [c.left + v.frame.x_scale.compute(src.data.mid[{k}]),
                      c.top + v.frame.y_scale.compute(src.data.y[{k}])]; }})()""")
            before = _range(page)
            title = page.evaluate(f"{_model('graph_figure')}.title.text")

            def click(pt: list[float] = pt) -> None:
                for kind, buttons in (("mousePressed", 1), ("mouseReleased", 0)):
                    page.send(
                        "Input.dispatchMouseEvent",
                        {
                            "type": kind,
                            "x": pt[0],
                            "y": pt[1],
                            "button": "left",
                            "buttons": buttons,
                            "clickCount": 1,
                        },
                    )

            band.append(
                _timed(
                    page,
                    click,
                    f"{_changed(before)} && "
                    f"{_model('graph_figure')}.title.text !== {json.dumps(title)}",
                )
            )
            page.evaluate(f"{_model('lanes_ops')}.selected.indices = []")
            page.wait_for(_IDLE, 60)

        def med(xs: list[float | None]) -> float | None:
            got = [x for x in xs if x is not None]
            return statistics.median(got) if len(got) == len(xs) and got else None

        out.update(
            wheel_ms=med(wheel),
            range_ms=med(rng),
            search_ms=med(search),
            band_ms=med(band),
            js_heap_mb=page.send("Runtime.getHeapUsage").get("usedSize", 0) / 2**20,
            errors=page.errors()[:3],
        )
        return out
    finally:
        page.close()


COLUMNS = (
    ("ready_s", "ready s", 2),
    ("wheel_ms", "wheel ms", 0),
    ("range_ms", "range ms", 0),
    ("search_ms", "search ms", 0),
    ("band_ms", "band ms", 0),
)


def _fmt(v: float | None, digits: int) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def table(rows: dict[tuple[str, str], dict[str, Any]], sizes: list[str]) -> str:
    head = "| model | backend | " + " | ".join(c[1] for c in COLUMNS) + " | JS heap MB |"
    lines = [head, "|---|---|" + "---:|" * (len(COLUMNS) + 1)]
    for size in sizes:
        for backend in BACKENDS:
            r = rows.get((size, backend), {})
            cells = [_fmt(r.get(k), d) for k, _, d in COLUMNS]
            lines.append(
                f"| {size} | {backend} | "
                + " | ".join(cells)
                + f" | {_fmt(r.get('js_heap_mb'), 0)} |"
            )
        c, w = rows.get((size, "canvas"), {}), rows.get((size, "webgl"), {})
        ratios = []
        for k, _, _ in COLUMNS:
            a, b = w.get(k), c.get(k)
            ratios.append("—" if not a or not b else f"{a / b:.2f}×")
        lines.append(f"| {size} | webgl ÷ canvas | " + " | ".join(ratios) + " | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["10k", "50k", "200k"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="write the pages here (default: a temp dir)")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    ap.add_argument(
        "--pages",
        type=Path,
        help="measure the pages a run with --keep wrote there (e.g. by other code), not new ones",
    )
    args = ap.parse_args()

    from browser import Chromium

    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        if args.pages:
            pages = {(s, b): args.pages / f"{s}-{b}.html" for s in args.sizes for b in BACKENDS}
        else:
            pages = write_pages(args.sizes, out)
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        with Chromium() as browser:
            # Alternate the backends size by size, so load on the machine hits both alike.
            for size in args.sizes:
                for backend in BACKENDS:
                    rows[(size, backend)] = r = measure_page(
                        browser, pages[(size, backend)], args.repeat
                    )
                    print(f"# {size} {backend}: {json.dumps(r)}", flush=True)
    print(table(rows, args.sizes))
    if args.json:
        args.json.write_text(json.dumps({f"{s} {b}": r for (s, b), r in rows.items()}, indent=1))


if __name__ == "__main__":
    main()
