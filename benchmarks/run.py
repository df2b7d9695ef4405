"""Scaling benchmarks: how long ane_notebook takes on 1k / 10k / 50k-op models, next to the floor
(coremltools reading the model at all) and Netron drawing the same model.

    python benchmarks/run.py                          # examples + 1k, 10k, 50k; Python side only
    python benchmarks/run.py --sizes 1k,10k,50k --browser --netron --json out.json

Prints Markdown tables (see benchmarks/README.md for what every column means). Every model is
measured in fresh subprocesses: one runs `profile()` once and reports the peak resident memory
(``VmHWM``, the process's own peak: not a Python-heap estimate), the other times each step, best of
``--repeat`` runs. With ``--browser`` the exported HTML is opened in headless Chromium over the
DevTools Protocol (tests/browser.py) and the time until the lane diagram is drawn is read from the
page's own clock (``performance.now()`` since navigation, condition polled in the page, then one
animation frame): never a fixed sleep. Zoom and hover are then timed the same way. With
``--netron`` the same model is served by Netron (``netron --host 127.0.0.1 --port N``) and drawn in
the same browser: time until its SVG graph has nodes on screen.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # models.py
sys.path.insert(0, str(ROOT / "tests"))  # browser.py (the CDP helper the browser tests use)
sys.path.insert(0, str(ROOT))  # this checkout's ane_notebook, not an installed one

import targets  # noqa: E402  (the issue 14 table)
from models import EXAMPLES, model_file  # noqa: E402

SIZES = ("1k", "10k", "50k")


# --------------------------------------------------------------------------------------------
# Models


def spec_file(path: Path) -> Path:
    """The protobuf Netron should open: a package's root model file, or the .mlmodel itself."""
    if path.suffix == ".mlpackage":
        manifest = json.loads((path / "Manifest.json").read_text())
        root = manifest["rootModelIdentifier"]
        return path / "Data" / manifest["itemInfoEntries"][root]["path"]
    return path


# --------------------------------------------------------------------------------------------
# Child processes (one model each)


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any, list[float]]:
    times: list[float] = []
    out = None
    for _ in range(repeat):
        # Free the previous run's result (a 50k-op report is ~1M objects) and collect its
        # garbage outside the timed region, so each run starts from the same state.
        out = None
        gc.collect()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out, times


def _rss_mb() -> float:
    """This process's own peak resident memory. Linux: VmHWM, which exec resets; ru_maxrss is
    not, so a child would report its parent's peak when that was higher (issue 14)."""
    if sys.platform.startswith("linux"):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # macOS: bytes


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child_memory(label: str) -> dict[str, Any]:
    """Peak memory of one `profile()` call in a fresh process (and its first-call time)."""
    t = time.perf_counter()
    import coremltools  # noqa: F401  (what every user pays once; timed apart)

    import ane_notebook as an
    from ane_notebook import api  # noqa: F401

    t_import = time.perf_counter() - t
    path = model_file(label)
    base = _current_rss_mb()
    t = time.perf_counter()
    report = an.profile(path, compute_units="ALL")
    t_first = time.perf_counter() - t
    return {
        "import_s": t_import,
        "profile_first_s": t_first,
        "rss_before_mb": base,
        "peak_rss_mb": _rss_mb(),
        "n_ops": len(report.ops),
    }


def child_timings(label: str, repeat: int, html_dir: str | None) -> dict[str, Any]:
    """Best-of-`repeat` time of every step on one model."""
    import coremltools as ct

    import ane_notebook as an
    from ane_notebook.analysis.crossings import find_crossings
    from ane_notebook.analysis.segments import find_segments
    from ane_notebook.model.load import load_model
    from ane_notebook.placement.estimate import estimate
    from ane_notebook.report import ProfileReport

    path = model_file(label)
    out: dict[str, Any] = {"path": str(path), "raw": {}}

    def timed(key: str, fn: Callable[[], Any]) -> Any:
        best, value, times = _best(fn, repeat)
        out[key] = best
        out["raw"][key] = times
        return value

    timed("load_spec_s", lambda: ct.utils.load_spec(str(path)))
    graph = timed("load_s", lambda: load_model(path))
    placement = timed("estimate_s", lambda: estimate(graph, "ALL"))
    timed("segments_s", lambda: find_segments(graph, placement.ops))
    timed("crossings_s", lambda: find_crossings(graph, placement.ops))
    report = timed("report_s", lambda: ProfileReport.from_placement(graph, placement))
    timed("profile_s", lambda: an.profile(path, compute_units="ALL"))
    # The four compute-unit settings side by side (the model loaded once), as %ane_profile
    # --compare and the explorer do; on the M4 profile too, where more of the model moves.
    timed("all_units_s", lambda: an.profile_all_units(path))
    timed("all_units_m4_s", lambda: an.profile_all_units(path, chip="M4"))
    timed("json_s", lambda: report.to_json())
    s = report.summary()
    out.update(
        n_ops=len(report.ops),
        n_compute=s.n_ops,
        n_segments=s.n_segments,
        n_crossings=s.n_crossings,
        spec_mb=spec_file(path).stat().st_size / 1e6,
    )
    try:  # (absent from older checkouts, which the README's before/after runs use)
        from ane_notebook.analysis.groups import find_groups
    except ImportError:
        pass
    else:
        groups = timed("groups_s", lambda: find_groups(report))
        out["n_groups"] = sum(g.is_layer for g in groups)
    try:
        from ane_notebook.render.diagram import build_layout
        from ane_notebook.render.html import report_html  # noqa: F401
    except ImportError as e:
        out["render_missing"] = f"ane_notebook.render not importable: {e}"
        return out
    timed("diagram_s", lambda: build_layout(report))
    html = timed("html_s", lambda: report.to_html())
    out["html_mb"] = len(html.encode("utf-8")) / 1e6
    if html_dir:
        page = Path(html_dir) / f"{label}.html"
        page.write_text(html, encoding="utf-8")
        out["html_path"] = str(page)
    return out


def run_child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# Browser


# Resolves with performance.now() one animation frame after `cond` first holds: the frame that
# shows it has been produced. Polled inside the page (setTimeout 10 ms), never a fixed sleep.
def _when(cond: str, timeout_s: float) -> str:
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


_BOKEH_DRAWN = (
    "window.Bokeh && Bokeh.documents.length > 0 && "
    "Bokeh.documents.every((d) => d.is_idle) && "
    "Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name('lanes_figure')) && "
    "__deepQueryAll('canvas').length > 0"
)
_LANES = "Bokeh.documents[0].get_model_by_name('lanes_figure')"
_TOOLTIP = (
    "__deepQueryAll('.bk-tooltip-content').map((e) => e.textContent).join(' | ')"
    ".includes('placement:')"
)


def _now(page: Any) -> float:
    return float(page.evaluate("performance.now()"))


def browse_ours(browser: Any, html: str, timeout_s: float) -> dict[str, Any]:
    """Time until the lanes are drawn, then a wheel zoom and a hover, on our HTML page."""
    page = browser.new_page(1280, 900)
    try:
        page.goto(Path(html).as_uri(), timeout=timeout_s)
        drawn = page.evaluate(_when(_BOKEH_DRAWN, timeout_s), timeout=timeout_s + 10)
        if drawn is None:
            return {"drawn_s": None, "note": f"not drawn within {timeout_s:.0f} s"}
        out: dict[str, Any] = {"drawn_s": drawn / 1000}
        page.evaluate("window.scrollTo(0, 0)")
        box = page.evaluate(f"""(() => {{ const v = Bokeh.index.find_one({_LANES});
          const c = v.canvas_view.el.getBoundingClientRect(); const f = v.frame.bbox;
          return [c.left + f.x0, c.top + f.y0, f.width, f.height]; }})()""")
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        # Zoom: one wheel notch over the lanes, until the x range has changed and is drawn.
        before = page.evaluate(f"[{_LANES}.x_range.start, {_LANES}.x_range.end]")
        t0 = _now(page)
        page.send(
            "Input.dispatchMouseEvent",
            {"type": "mouseWheel", "x": cx, "y": cy, "deltaX": 0, "deltaY": -240},
        )
        changed = (
            f"(() => {{ const r = {_LANES}.x_range; return r.start !== {before[0]} || "
            f"r.end !== {before[1]}; }})() && Bokeh.documents[0].is_idle"
        )
        t1 = page.evaluate(_when(changed, 30), timeout=40)
        out["zoom_ms"] = None if t1 is None else t1 - t0
        # Hover: the op nearest the middle of the view, until its tooltip is shown.
        pt = page.evaluate(f"""(() => {{ const v = Bokeh.index.find_one({_LANES});
          const src = Bokeh.documents[0].get_model_by_name('lanes_ops');
          const xs = src.data.x, ys = src.data.y, r = {_LANES}.x_range;
          const mid = (r.start + r.end) / 2; let best = 0;
          for (let i = 0; i < xs.length; i++) {{
            if (Math.abs(xs[i] - mid) < Math.abs(xs[best] - mid)) best = i; }}
          const c = v.canvas_view.el.getBoundingClientRect();
          return [c.left + v.frame.x_scale.compute(xs[best]),
                  c.top + v.frame.y_scale.compute(ys[best])]; }})()""")
        page.mouse_move(pt[0], pt[1] - 30)
        t0 = _now(page)
        page.mouse_move(pt[0], pt[1])
        t1 = page.evaluate(_when(_TOOLTIP, 30), timeout=40)
        out["hover_ms"] = None if t1 is None else t1 - t0
        heap = page.send("Runtime.getHeapUsage")
        out["js_heap_mb"] = heap.get("usedSize", 0) / 2**20
        out["errors"] = page.errors()[:5]
        return out
    finally:
        page.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"netron exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            # Not listening yet: wait on the socket connect again (bounded by the deadline).
            time.sleep(0.05)
    raise RuntimeError(f"netron did not listen on port {port} within {timeout_s:.0f} s")


_NETRON_DRAWN = (
    "document.body.classList.contains('default') && "
    "document.querySelectorAll('#canvas .node').length > 0"
)


def browse_netron(browser: Any, model: Path, timeout_s: float) -> dict[str, Any]:
    """Time until Netron shows the model's graph (SVG nodes on screen) in the same browser."""
    netron = shutil.which("netron")
    if netron is None:
        return {"netron_s": None, "note": "netron not installed (pip install netron)"}
    port = _free_port()
    proc = subprocess.Popen(
        [
            netron,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--verbosity",
            "quiet",
            str(spec_file(model)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    page = None
    try:
        _wait_port(port, proc, 30)
        page = browser.new_page(1280, 900)
        url = f"http://127.0.0.1:{port}/"
        # Skip Netron's cookie-consent prompt (it waits for a click before opening the model)
        # and its telemetry requests (no network here; they would only add DNS failures).
        page.send("Network.enable")
        page.send("Network.setBlockedURLs", {"urls": ["https://*"]})
        page.send(
            "Network.setCookie",
            {"name": "consent", "url": url, "value": str(int(time.time() * 1000))},
        )
        page.goto(url, timeout=60)
        drawn = page.evaluate(_when(_NETRON_DRAWN, timeout_s), timeout=timeout_s + 10)
        if drawn is None:
            return {"netron_s": None, "note": f"Netron: not drawn within {timeout_s:.0f} s"}
        nodes = page.evaluate("document.querySelectorAll('#canvas .node').length")
        return {"netron_s": drawn / 1000, "netron_nodes": nodes}
    finally:
        if page is not None:
            page.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


# --------------------------------------------------------------------------------------------
# Tables


def _s(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    x = a / b
    return f"{x:.2f}×" if x < 1 else f"{x:.1f}×"


def tables(rows: list[dict[str, Any]]) -> str:
    out = [
        "### Python side (seconds, best of the repeats; memory from a fresh process)",
        "",
        "| model | ops (compute) | load_spec | load | estimate | report | **profile** | "
        "profile ÷ load_spec | first profile() | peak RSS MB | 4 units (M1) | "
        "4 units (M4) | JSON | diagram | HTML | HTML MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['model']} | {r['n_ops']:,} ({r['n_compute']:,}) | {_s(r['load_spec_s'], 3)} "
            f"| {_s(r['load_s'], 3)} | {_s(r['estimate_s'], 3)} | {_s(r['report_s'], 3)} "
            f"| **{_s(r['profile_s'], 3)}** | {_ratio(r['profile_s'], r['load_spec_s'])} "
            f"| {_s(r['profile_first_s'], 3)} | {r['peak_rss_mb']:.0f} "
            f"| {_s(r.get('all_units_s'), 3)} | {_s(r.get('all_units_m4_s'), 3)} "
            f"| {_s(r['json_s'], 3)} | {_s(r.get('diagram_s'), 3)} | {_s(r.get('html_s'), 3)} "
            f"| {_s(r.get('html_mb'), 1)} |"
        )
    notes = sorted({r["render_missing"] for r in rows if r.get("render_missing")})
    out += [f"\n{n}" for n in notes]
    if any("drawn_s" in r or "netron_s" in r for r in rows):
        out += [
            "",
            "### Browser (headless Chromium, seconds since navigation start)",
            "",
            "| model | ours: lanes drawn | zoom ms | hover ms | JS heap MB | "
            "ours end to end | Netron: graph drawn | drawn ÷ Netron | "
            "end to end ÷ Netron | notes |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in rows:
            notes_r = "; ".join(
                x
                for x in (r.get("note"), r.get("netron_note"), "; ".join(r.get("errors") or []))
                if x
            )
            # End to end: what a user waits for from the model file to the picture.
            total = (
                None
                if r.get("drawn_s") is None or r.get("html_s") is None
                else r["profile_s"] + r["html_s"] + r["drawn_s"]
            )
            out.append(
                f"| {r['model']} | {_s(r.get('drawn_s'))} | {_s(r.get('zoom_ms'), 0)} "
                f"| {_s(r.get('hover_ms'), 0)} | {_s(r.get('js_heap_mb'), 0)} | {_s(total)} "
                f"| {_s(r.get('netron_s'))} | {_ratio(r.get('drawn_s'), r.get('netron_s'))} "
                f"| {_ratio(total, r.get('netron_s'))} | {notes_r} |"
            )
    sized = [r for r in rows if r["model"] in SIZES]
    if len(sized) >= 2:
        out += [
            "",
            "### Growth: microseconds per graph op (flat = linear)",
            "",
            "| step | " + " | ".join(r["model"] for r in sized) + " |",
            "|---|" + "---:|" * len(sized),
        ]
        for key, name in (
            ("load_spec_s", "load_spec"),
            ("load_s", "load"),
            ("estimate_s", "estimate"),
            ("report_s", "report"),
            ("profile_s", "profile"),
            ("all_units_s", "4 units (M1)"),
            ("all_units_m4_s", "4 units (M4)"),
            ("json_s", "JSON"),
            ("diagram_s", "diagram"),
            ("html_s", "HTML"),
            ("drawn_s", "browser: drawn"),
            ("netron_s", "Netron: drawn"),
        ):
            if any(r.get(key) is not None for r in sized):
                out.append(
                    f"| {name} | "
                    + " | ".join(
                        _s(None if r.get(key) is None else 1e6 * r[key] / r["n_ops"], 1)
                        for r in sized
                    )
                    + " |"
                )
    return "\n".join(out)


def environment() -> dict[str, Any]:
    import bokeh
    import coremltools
    import numpy

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "coremltools": coremltools.__version__,
        "bokeh": bokeh.__version__,
        "numpy": numpy.__version__,
        "load_average": os.getloadavg(),
    }
    try:
        import netron

        env["netron"] = netron.__version__
    except ImportError:
        pass
    return env


# --------------------------------------------------------------------------------------------


def main() -> None:
    if sys.argv[1:2] == ["--target-child"]:  # one measurement of targets.py, in a fresh process
        rest = sys.argv[3:]
        repeat = 3
        if "--repeat" in rest:
            i = rest.index("--repeat")
            repeat = int(rest[i + 1])
            del rest[i : i + 2]
        heavy = "--heavy" in rest
        rest = [a for a in rest if a != "--heavy"]
        targets.child_main(sys.argv[2], rest, repeat, heavy)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        default=",".join(SIZES),
        help="synthetic sizes to run, comma-separated (1k,10k,50k); '' for none",
    )
    ap.add_argument("--no-examples", action="store_true", help="skip the built-in examples")
    ap.add_argument("--browser", action="store_true", help="time drawing in headless Chromium")
    ap.add_argument("--netron", action="store_true", help="time Netron drawing the same model")
    ap.add_argument("--repeat", type=int, default=3, help="runs per step (best is reported)")
    ap.add_argument("--browser-timeout", type=float, default=120.0)
    ap.add_argument("--netron-timeout", type=float, default=300.0)
    ap.add_argument("--json", help="write every raw number to this file")
    ap.add_argument("--targets-only", action="store_true", help="only the issue 14 targets table")
    ap.add_argument("--no-targets", action="store_true", help="skip the issue 14 targets table")
    ap.add_argument(
        "--200k",
        dest="with_200k",
        action="store_true",
        help="targets: also the 200k-op model (made from 50k; ~10 min more)",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-memory", help=argparse.SUPPRESS)
    ap.add_argument("--html-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child_memory:
        print(json.dumps(child_memory(args.child_memory)))
        return
    if args.child:
        print(json.dumps(child_timings(args.child, args.repeat, args.html_dir)))
        return

    sizes = [s for s in args.sizes.split(",") if s]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise SystemExit(f"unknown sizes {unknown}; choose from {', '.join(SIZES)}")
    target_rows: list[targets.Row] = []
    target_raw: dict[str, Any] = {}
    if not args.no_targets:
        for label in ("10k", "50k", *(["200k"] if args.with_200k else []), "mobilenet"):
            model_file(label)  # build before timing
        target_rows, target_raw = targets.measure(["10k", "50k"], args.repeat, args.with_200k)
    if args.targets_only:
        _print_header()
        print(targets.table(target_rows))
        if args.json:
            Path(args.json).write_text(json.dumps({"targets": target_raw}, indent=2))
        return
    labels = ([] if args.no_examples else list(EXAMPLES)) + sizes
    for label in labels:  # build (or find) every model before timing anything
        model_file(label)

    html_dir = tempfile.mkdtemp(prefix="ane_bench_")
    rows: list[dict[str, Any]] = []
    try:
        for label in labels:
            print(f"[{label}] timing ...", file=sys.stderr, flush=True)
            row: dict[str, Any] = {"model": label}
            row.update(run_child(["--child-memory", label]))
            row.update(
                run_child(["--child", label, "--repeat", str(args.repeat), "--html-dir", html_dir])
            )
            rows.append(row)
        if args.browser or args.netron:
            from browser import Chromium, chromium_missing_reason

            missing = chromium_missing_reason()
            if missing:
                raise SystemExit(missing)
            with Chromium() as chromium:
                for row in rows:
                    if args.browser and row.get("html_path"):
                        print(f"[{row['model']}] browser ...", file=sys.stderr, flush=True)
                        row.update(browse_ours(chromium, row["html_path"], args.browser_timeout))
                    if args.netron:
                        print(f"[{row['model']}] netron ...", file=sys.stderr, flush=True)
                        got = browse_netron(chromium, Path(row["path"]), args.netron_timeout)
                        if "note" in got:
                            got["netron_note"] = got.pop("note")
                        row.update(got)
    finally:
        shutil.rmtree(html_dir, ignore_errors=True)

    command = _print_header()
    print(tables(rows))
    if target_rows:
        print()
        print(targets.table(target_rows))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "command": command,
                    "environment": environment(),
                    "rows": rows,
                    "targets": target_raw,
                },
                indent=2,
            )
        )


def _print_header() -> str:
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    print(
        f"`{command.strip()}` — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end\n"
    )
    return command


if __name__ == "__main__":
    main()
