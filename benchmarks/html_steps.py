"""Where `to_html` of a report spends its time, step by step (GitHub issue 14).

    python benchmarks/html_steps.py                       # the 50k model under ALL, best of 3
    python benchmarks/html_steps.py --units CPU_AND_NE --repeat 5
    python benchmarks/html_steps.py --report saved.json   # a report saved by to_json

Profiles the model once (or loads a saved report), then calls `report.to_html()` `--repeat`
times with each step below wrapped in a CPU-time counter, and prints each step's best
inclusive time (steps nest: `build_layout` holds the layer tree, the op table, ...). The
wrappers cost ~1 µs a call; no profiler runs, so the figures are the page's own. Steps a tree
does not have are skipped, so a copy of this script in an older checkout (`git archive`)
measures that checkout.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # models.py; this checkout's ane_notebook first

R = "ane_notebook.render."
STEPS: list[tuple[str, str, tuple[str, ...]]] = [
    # (module, attribute, other modules that imported the same function by name)
    (R + "layout", "build_layout", (R + "html",)),
    (R + "layout", "layer_tree", ()),
    (R + "layout", "layer_tree_of_columns", ()),  # (the op table's columns: issue 14, 9th pass)
    (R + "layout", "op_table", ()),
    (R + "layout", "_lane_parts", ()),
    (R + "layout", "_graph_parts", ()),
    (R + "layout", "layer_arrays", ()),
    (R + "layout", "detail_data", ()),
    (R + "layout", "explorer", ()),
    (R + "layout", "mapping_bar", ()),
    (R + "layout", "not_on_ane_table", ()),
    ("ane_notebook.report", "ProfileReport.summary", ()),  # (once a page: render/summaries.py)
    ("ane_notebook.escape", "html_texts", (R + "optable",)),  # (the op table's escaping)
    (R + "encode", "encode_columns", ()),
    (R + "html", "header_html", ()),
    (R + "html", "encode_sources", ()),
    (R + "html", "file_page", ()),  # render/pagejson.py (after issue 14's third pass)
    (R + "pagejson", "doc_json", ()),
    (R + "html", "file_html", ()),  # bokeh's, before it
    ("bokeh.document.document", "Document.to_json", ()),
    ("bokeh.document.document", "Document.validate", ()),
    ("bokeh.embed.util", "submodel_has_python_callbacks", ()),
    (R + "pagejson", "bundle_for_objs_and_resources", ()),
    ("bokeh.embed.standalone", "bundle_for_objs_and_resources", ()),
    (R + "pagejson", "html_page_for_render_items", ()),
    ("bokeh.embed.standalone", "html_page_for_render_items", ()),
]


def _wrap(acc: dict[str, float], module: str, attr: str, also: tuple[str, ...]) -> None:
    try:
        owner: Any = importlib.import_module(module)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        fn: Callable[..., Any] = getattr(owner, name)
    except (ImportError, AttributeError):
        return  # a step this checkout does not have
    label = f"{module.rsplit('.', 1)[-1]}.{attr}"

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[label] = acc.get(label, 0.0) + time.process_time() - t

    setattr(owner, name, timed)
    for other in also:
        mod = importlib.import_module(other)
        if getattr(mod, name, None) is fn:
            setattr(mod, name, timed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="50k", help="benchmark model (models.py label)")
    ap.add_argument("--units", default="ALL", help="compute units")
    ap.add_argument("--report", help="a saved report (to_json) instead of profiling")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import ane_notebook as an
    from ane_notebook.report import load_report

    if args.report:
        report = load_report(args.report)
    else:
        from models import model_file

        report = an.profile(model_file(args.size), compute_units=args.units)
    report.to_html()  # imports and first-call caches, outside the figures
    acc: dict[str, float] = {}
    for module, attr, also in STEPS:
        _wrap(acc, module, attr, also)
    best: dict[str, float] = {}
    totals = []
    for _ in range(args.repeat):
        acc.clear()
        gc.collect()
        t = time.process_time()
        page = report.to_html()
        totals.append(time.process_time() - t)
        for k, v in acc.items():
            best[k] = min(best.get(k, float("inf")), v)
    mb = len(page.encode()) / 1e6
    print(f"to_html {min(totals):.3f} s CPU (best of {args.repeat}), {mb:.2f} MB")
    for k, v in sorted(best.items(), key=lambda kv: -kv[1]):
        print(f"  {v:6.3f}  {k}")


if __name__ == "__main__":
    main()
