"""Instructions per call of `load_report` and `to_html`, this checkout against another (issue 14).

    git worktree add /tmp/before <commit>            # the tree to compare with
    python benchmarks/instructions.py --base /tmp/before
    python benchmarks/instructions.py --base /tmp/before --steps to_html --size 10k

CPU time on a shared 2-core machine moves by ±20-30% from one run to the next, which hides
gains of a few percent. Instructions counted by valgrind's callgrind do not move: each step
runs in a fresh interpreter under callgrind once with the call made once more than the warm-up
and once without, and the difference is that call's instruction count. It says nothing of
memory stalls (a step that reads more memory in fewer instructions can still be slower), so
the time targets stay with `benchmarks/run.py`; this is for telling small changes apart.

The reports read are saved once by this checkout's `to_json` (the same JSON either tree would
write: the issue asks for behaviour unchanged) into the benchmark cache. Needs valgrind
(Debian: `apt-get install valgrind`); each row takes a minute or two at 50k ops.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]  # models.py; this checkout's ane_notebook first

# step -> (compute units of the report it reads, the call counted)
STEPS = {
    "load_report": ("ALL", "load_report(path)"),
    "to_html": ("ALL", "report.to_html()"),
    "to_html_ne": ("CPU_AND_NE", "report.to_html()"),
}
_CHILD = """
import sys
from ane_notebook.report import load_report
path, calls = sys.argv[1], int(sys.argv[2])
report = load_report(path)
{call}  # warm-up: imports and first-call caches
for _ in range(calls):
    {call}
"""
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def _report_file(size: str, units: str) -> Path:
    from models import cache_dir, model_file

    import ane_notebook as an

    path = cache_dir() / f"report-{size}-{units}.json"
    if not path.exists():
        an.profile(model_file(size), compute_units=units).to_json(path)
    return path


def _instructions(tree: Path, code: str, path: Path, calls: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command = [*valgrind, sys.executable, "-c", code, str(path), str(calls)]
    # cwd "/": `python -c` puts the cwd first on sys.path, before PYTHONPATH
    done = subprocess.run(command, env=env, cwd="/", capture_output=True, text=True, check=True)
    found = _COLLECTED.findall(done.stderr)
    if not found:
        raise SystemExit(f"valgrind printed no instruction count: {done.stderr[-300:]}")
    return int(found[-1])


def per_call(tree: Path, step: str, path: Path) -> int:
    """Instructions of one call of `step` in `tree` (see the module doc)."""
    code = _CHILD.format(call=STEPS[step][1])
    return _instructions(tree, code, path, 1) - _instructions(tree, code, path, 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, type=Path, help="the other checkout")
    ap.add_argument("--steps", default=",".join(STEPS), help="comma-separated: " + ", ".join(STEPS))
    ap.add_argument("--size", default="50k", help="benchmark model (models.py label)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    if not (args.base / "ane_notebook" / "__init__.py").is_file():
        raise SystemExit(f"{args.base}: not a checkout of ane_notebook")
    steps = [s for s in args.steps.split(",") if s]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise SystemExit(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    print(f"| step ({args.size}) | {args.base} | this checkout | ratio |")
    print("|---|---|---|---|")
    for step in steps:
        path = _report_file(args.size, STEPS[step][0])
        before, after = per_call(args.base, step, path), per_call(ROOT, step, path)
        print(f"| {step} | {before / 1e6:,.0f} M | {after / 1e6:,.0f} M | {after / before:.2f}× |")


if __name__ == "__main__":
    main()
