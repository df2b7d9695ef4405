"""The speed targets of GitHub issue 14, each measured beside its reference in the same run.

    python benchmarks/run.py --targets-only            # this table only (10k, 50k; ~5 min)
    python benchmarks/run.py --targets-only --200k     # also the 200k-op case (~10 more min)

Every measurement runs in a fresh interpreter (a child process: `python benchmarks/run.py
--target-child KIND LABEL`), so that one step's heap, caches and imports never help or hurt
another. Times are CPU seconds of the process doing the work (`time.process_time()` in the
child; for a whole command, the child's user + system time from `getrusage(RUSAGE_CHILDREN)`),
best of ``--repeat``: on a machine shared with other jobs, CPU time moves much less than wall
time, and a ratio of two times taken in the same process is what the targets are about. Memory
is the child's own peak (``VmHWM`` of /proc/self/status, reset by exec, so a parent's peak is
never inherited) minus its resident size after the imports, divided by the op count.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUN = HERE / "run.py"


# --------------------------------------------------------------------------------------------
# In the child


def _status_kb(field: str) -> int:
    """A ``Vm...`` field of this process's /proc/self/status, in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _best_cpu(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    import gc

    best = float("inf")
    out = None
    for _ in range(repeat):
        out = None  # free the previous result outside the timed region
        gc.collect()
        t = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t)
    return best, out


def child_memory(label: str) -> dict[str, Any]:
    """Peak resident memory of one `profile()` above the imports, per op."""
    import coremltools  # noqa: F401  (imports are not the report's memory)
    from models import model_file

    import ane_notebook as an
    from ane_notebook import api, report  # noqa: F401

    path = model_file(label)
    base_kb = _status_kb("VmRSS")
    r = an.profile(path, compute_units="ALL")
    peak_kb = _status_kb("VmHWM")
    n = len(r.ops)
    return {
        "n_ops": n,
        "base_mb": base_kb / 1024,
        "peak_mb": peak_kb / 1024,
        "kb_per_op": (peak_kb - base_kb) / n,
    }


def child_spec_memory(label: str) -> dict[str, Any]:
    """Peak resident memory of coremltools' `load_spec` alone above the imports, per op: the
    floor's own memory, beside the ≤ 1 KB/op target (the parsed message is held whole)."""
    import coremltools as ct
    from models import model_file

    path = model_file(label)
    base_kb = _status_kb("VmRSS")
    spec = ct.utils.load_spec(str(path))
    peak_kb = _status_kb("VmHWM")
    n = sum(map(len, _spec_ops(spec)))
    return {"spec_kb_per_op": (peak_kb - base_kb) / n}


def _spec_ops(spec: Any) -> list[Any]:
    """The op lists of every block of every function of an ML program spec (top level)."""
    prog = spec.mlProgram
    return [b.operations for f in prog.functions.values() for b in f.block_specializations.values()]


def _op_names(op: Any) -> Any:
    """The least any placement needs from an op, read in Python: its type, its first output's
    name and the names its inputs bind to."""
    return (
        op.type,
        op.outputs[0].name if op.outputs else "",
        [a.name for arg in op.inputs.values() for a in arg.arguments],
    )


def _op_tensors(op: Any) -> Any:
    """`_op_names` with every output's dtype and dimensions (what the rules and costs read)."""
    return (
        op.type,
        [
            (
                o.name,
                o.type.tensorType.dataType,
                [d.constant.size for d in o.type.tensorType.dimensions],
            )
            for o in op.outputs
        ],
        [a.name for arg in op.inputs.values() for a in arg.arguments],
    )


def _walk(spec: Any, read: Callable[[Any], Any]) -> int:
    """`read` of every op of the spec (the results dropped): the floor of a Python reader."""
    n = 0
    for ops in _spec_ops(spec):
        for op in ops:
            read(op)
            n += 1
    return n


def child_times(label: str, repeat: int, heavy: bool) -> dict[str, Any]:
    """CPU time of every step a target is about, with its reference, in this one process."""
    import json as stdjson
    import tempfile

    import coremltools as ct
    from models import model_file

    import ane_notebook as an
    from ane_notebook.report import load_report

    path = model_file(label)
    out: dict[str, Any] = {}
    out["load_spec_s"], spec = _best_cpu(lambda: ct.utils.load_spec(str(path)), repeat)
    # The floor of any Python reader: walking the parsed spec, nothing built from it.
    out["walk_names_s"], _ = _best_cpu(lambda: _walk(spec, _op_names), repeat)
    out["walk_tensors_s"], _ = _best_cpu(lambda: _walk(spec, _op_tensors), repeat)
    spec = None  # not held through the steps below
    out["profile_s"], rep = _best_cpu(lambda: an.profile(path, compute_units="ALL"), repeat)
    out["n_ops"] = len(rep.ops)
    out["segments_all"] = len(rep.segments)
    if not heavy:
        return out
    out["compare_s"], _ = _best_cpu(lambda: an.profile_all_units(path), repeat)
    out["to_json_s"], text = _best_cpu(rep.to_json, repeat)
    payload = rep.to_dict()
    out["json_dumps_s"], _ = _best_cpu(
        lambda: stdjson.dumps(payload, allow_nan=False, ensure_ascii=False), repeat
    )
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "report.json"
        saved.write_text(text, encoding="utf-8")
        out["load_report_s"], back = _best_cpu(lambda: load_report(saved), repeat)
        out["load_report_same"] = back.to_json() == text
    out["to_html_s"], html = _best_cpu(rep.to_html, repeat)
    out["html_mb"] = len(html.encode("utf-8")) / 1e6
    # The diagram's worst case: CPU_AND_NE splits the model at every fp32 island.
    out["profile_ne_s"], ne = _best_cpu(
        lambda: an.profile(path, compute_units="CPU_AND_NE"), repeat
    )
    out["segments_ne"] = len(ne.segments)
    out["crossings_ne"] = len(ne.crossings)
    out["to_html_ne_s"], html = _best_cpu(ne.to_html, repeat)
    out["html_ne_mb"] = len(html.encode("utf-8")) / 1e6
    return out


# --------------------------------------------------------------------------------------------
# In the parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # An installed package has its bytecode compiled (pip does it on install); without it, every
    # cold run compiles all of ane_notebook again (~0.5 s). The first run writes __pycache__.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), env.get("PYTHONPATH", "")])
    return env


def _child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(RUN), *args], capture_output=True, text=True, env=_env(), cwd=ROOT
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child {args} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


_HEAVY = ("coremltools", "numpy", "bokeh", "jsonschema", "google.protobuf")


def cold_modules(argv: list[str]) -> list[str]:
    """Which heavy packages `ane-notebook ARGV` imports (a fresh interpreter, nothing else)."""
    code = (
        "import sys, json, io, contextlib\n"
        "from ane_notebook.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(sys.argv[1:])\n"
        f"print(json.dumps([m for m in {_HEAVY!r} if m in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        check=True,
    )
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def cold_command(argv: list[str], repeat: int) -> float:
    """Best CPU time (user + system) of `ane-notebook ARGV` in a fresh interpreter."""
    code = "import sys; from ane_notebook.cli import main; sys.exit(main(sys.argv[1:]))"
    best = float("inf")
    for i in range(repeat + 1):  # the first run only writes the bytecode caches
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, env=_env(), cwd=ROOT
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"ane-notebook {' '.join(argv)} failed:\n{proc.stderr[-2000:]!r}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if i:
            best = min(best, cpu)
    return best


@dataclass(frozen=True)
class Row:
    what: str
    target: str
    measured: str
    met: bool | None  # None: a reference figure, not a target


def _x(a: float, b: float) -> str:
    return f"{a / b:.2f}×"


def measure(sizes: list[str], repeat: int, with_200k: bool) -> tuple[list[Row], dict[str, Any]]:
    raw: dict[str, Any] = {}
    rows: list[Row] = []
    labels = [*sizes, *(["200k"] if with_200k else [])]
    for label in labels:
        heavy = label == "50k"
        print(f"[targets] {label}: times ...", file=sys.stderr, flush=True)
        t = _child(
            [
                "--target-child",
                "times",
                label,
                "--repeat",
                str(repeat),
                *(["--heavy"] if heavy else []),
            ]
        )
        print(f"[targets] {label}: memory ...", file=sys.stderr, flush=True)
        t.update(_child(["--target-child", "memory", label]))
        t.update(_child(["--target-child", "spec_memory", label]))
        raw[label] = t
        ratio = t["profile_s"] / t["load_spec_s"]
        us = 1e6 * t["profile_s"] / t["n_ops"]
        t["us_per_op"] = us
        rows.append(
            Row(
                f"`profile()` {label} ({t['n_ops']:,} ops)",
                "≤ 5× `load_spec`",
                f"{t['profile_s']:.3f} s vs {t['load_spec_s']:.3f} s = {ratio:.1f}×; "
                f"{us:.1f} µs/op; {t['kb_per_op']:.2f} KB/op peak above imports",
                ratio <= 5,
            )
        )
        ls = t["load_spec_s"]
        rows.append(
            Row(
                f"floors at {label}, for reference",
                "–",
                f"a Python walk of the parsed spec reading op types, output names and input "
                f"bindings: {_x(t['walk_names_s'], ls)} `load_spec`; with output dtypes and "
                f"shapes: {_x(t['walk_tensors_s'], ls)}; `load_spec` alone peaks at "
                f"{t['spec_kb_per_op']:.2f} KB/op above imports",
                None,
            )
        )
        if label == "200k" and "10k" in raw:
            growth = us / raw["10k"]["us_per_op"]
            rows.append(
                Row(
                    "`profile()` 200k: µs/op",
                    "≤ 1.2× the 10k figure",
                    f"{growth:.2f}× ({us:.1f} vs {raw['10k']['us_per_op']:.1f})",
                    growth <= 1.2,
                )
            )
            rows.append(
                Row(
                    "`profile()` 200k: peak RSS",
                    "≤ 1 KB/op above imports",
                    f"{t['kb_per_op']:.2f} KB/op ({t['peak_mb'] - t['base_mb']:.0f} MB)",
                    t["kb_per_op"] <= 1,
                )
            )
        if heavy:
            p = t["profile_s"]
            rows += [
                Row(
                    "`load_report` 50k",
                    "< 0.3 s and ≤ 0.5× `profile()`",
                    f"{t['load_report_s']:.3f} s = {_x(t['load_report_s'], p)} profile"
                    + ("" if t["load_report_same"] else " (ROUND TRIP DIFFERS)"),
                    t["load_report_s"] < 0.3
                    and t["load_report_s"] <= 0.5 * p
                    and t["load_report_same"],
                ),
                Row(
                    "compare, 4 settings, 50k",
                    "≤ 1.5× one `profile()`",
                    f"{t['compare_s']:.3f} s = {_x(t['compare_s'], p)}",
                    t["compare_s"] <= 1.5 * p,
                ),
                Row(
                    "`to_json` 50k",
                    "≤ 2× `json.dumps` of the same payload",
                    f"{t['to_json_s']:.3f} s vs {t['json_dumps_s']:.3f} s = "
                    f"{_x(t['to_json_s'], t['json_dumps_s'])}",
                    t["to_json_s"] <= 2 * t["json_dumps_s"],
                ),
                Row(
                    "`to_html` 50k, ALL",
                    "≤ 0.3 s; page ≤ 4 MB",
                    f"{t['to_html_s']:.3f} s, {t['html_mb']:.1f} MB ({t['segments_all']} segments)",
                    t["to_html_s"] <= 0.3 and t["html_mb"] <= 4,
                ),
                Row(
                    f"many crossings: `profile()` 50k CPU_AND_NE ({t['segments_ne']:,} segments,"
                    f" {t['crossings_ne']:,} crossings)",
                    "≤ 5× `load_spec`",
                    f"{t['profile_ne_s']:.3f} s = {_x(t['profile_ne_s'], t['load_spec_s'])}",
                    t["profile_ne_s"] <= 5 * t["load_spec_s"],
                ),
                Row(
                    "many crossings: `to_html` 50k CPU_AND_NE",
                    "≤ 0.3 s; page ≤ 4 MB",
                    f"{t['to_html_ne_s']:.3f} s, {t['html_ne_mb']:.1f} MB",
                    t["to_html_ne_s"] <= 0.3 and t["html_ne_mb"] <= 4,
                ),
            ]
    for argv, limit in (
        (["examples"], 0.15),
        (["chips"], 0.15),
        (["profile", "example:mobilenet"], 0.4),
    ):
        print(f"[targets] cold ane-notebook {' '.join(argv)} ...", file=sys.stderr, flush=True)
        cpu = cold_command(argv, repeat)
        mods = cold_modules(argv)
        raw[" ".join(argv)] = {"cpu_s": cpu, "imported": mods}
        imported = ", ".join(mods) or "none of coremltools/numpy/bokeh"
        rows.append(
            Row(
                f"cold `ane-notebook {' '.join(argv)}`",
                f"< {limit} s",
                f"{cpu:.3f} s CPU; imports {imported}",
                cpu < limit,
            )
        )
    return rows, raw


def table(rows: list[Row]) -> str:
    out = [
        "### Issue 14 targets (CPU seconds, best of the repeats, each in a fresh process)",
        "",
        "| what | target | measured | met |",
        "|---|---|---|---|",
    ]
    for r in rows:
        met = "–" if r.met is None else ("yes" if r.met else "**no**")
        out.append(f"| {r.what} | {r.target} | {r.measured} | {met} |")
    n_met = sum(bool(r.met) for r in rows)
    n_targets = sum(r.met is not None for r in rows)
    out.append(f"\n{n_met} of {n_targets} targets met.")
    return "\n".join(out)


def child_main(kind: str, rest: list[str], repeat: int, heavy: bool) -> None:
    if kind == "memory":
        print(json.dumps(child_memory(rest[0])))
    elif kind == "spec_memory":
        print(json.dumps(child_spec_memory(rest[0])))
    elif kind == "times":
        print(json.dumps(child_times(rest[0], repeat, heavy)))
    else:
        raise SystemExit(f"unknown target child {kind!r}")
