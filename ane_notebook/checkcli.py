"""`ane-notebook check`: the command-line form of `ane_notebook.check`.

Kept apart from cli.py, which only registers it: this module owns the subcommand's options and
what it prints. Exit status: 0 when every condition holds, 1 when one is violated, 2 on bad
input (one line on stderr, raised as an AneNotebookError and printed by cli.main).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkconfig import DEFAULT_TIME_TOLERANCE, find_config
from .errors import UsageError, writing
from .placement.result import Backend

if TYPE_CHECKING:
    from .check import CheckResult, CheckSettings

# `check` itself (`check.py`) is imported when the command runs, not when the command line is
# built: ~3 ms of every cold `ane-notebook` command (issue 14).

EXIT_OK = 0
EXIT_VIOLATED = 1

# The options that set conditions, in CheckSettings field names; None: not given here.
_CONDITION_OPTIONS = (
    "min_ane_ops",
    "min_ane_time",
    "max_crossings",
    "max_segments",
    "require_ane",
    "allow_off_ane",
    "baseline",
    "fail_on_regression",
    "fail_on_hazard",
    "time_tolerance",
)
_MODEL_OPTIONS = ("compute_units", "chip", "plan", "backend")

DESCRIPTION = """\
Check where a model runs against conditions, for CI: exit 0 when all hold, 1 when one is
violated (one line each: the condition, the measured value, the limit and up to five offending
ops), 2 on bad input. MODEL_OR_REPORT is a model (profiled with -u/--chip/--plan/--backend) or
a report saved with `ane-notebook profile --json`. Settings may also come from
[tool.ane_notebook.check] in pyproject.toml (nearest one upward); options given here win.
Shares count the ops that run (const ops are not counted) and say so."""


def add_check_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `check` on the `ane-notebook` subparsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "check",
        help="check placement conditions (CI gate): exit 0 pass, 1 fail, 2 bad input",
        description=DESCRIPTION,
    )
    p.add_argument("model", metavar="MODEL_OR_REPORT", help="a model, example:NAME, or a report")
    g = p.add_argument_group("profiling a model (not for saved reports)")
    g.add_argument("--compute-units", "-u", default=None, help="default ALL")
    g.add_argument("--chip", default=None, help="chip to estimate for (default M1)")
    g.add_argument("--plan", default=None, help="a plan recorded on a Mac")
    g.add_argument("--backend", default=None, choices=[b.value for b in Backend])
    c = p.add_argument_group("conditions")
    c.add_argument(
        "--min-ane-ops",
        type=float,
        default=None,
        metavar="FRACTION",
        help="least share of the ops that run on the Neural Engine (0.9 = 90%%)",
    )
    c.add_argument(
        "--min-ane-time",
        type=float,
        default=None,
        metavar="FRACTION",
        help="least cost-weighted share on the Neural Engine (Core ML's cost "
        "weight for plans, estimated op time otherwise)",
    )
    c.add_argument("--max-crossings", type=int, default=None, metavar="N")
    c.add_argument("--max-segments", type=int, default=None, metavar="N")
    c.add_argument(
        "--require-ane",
        default=None,
        metavar="REGEX",
        help="op types that must all be on the Neural Engine, e.g. 'linear|conv'",
    )
    c.add_argument(
        "--allow-off-ane",
        default=None,
        metavar="REGEX",
        help="the only op types allowed off the Neural Engine, e.g. 'gather|topk'",
    )
    c.add_argument(
        "--fail-on-hazard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fail when a placement can change results (hazards are always shown)",
    )
    c.add_argument(
        "--baseline",
        default=None,
        metavar="REPORT.json",
        help="compare with a saved report: ops that left the ANE, new crossings, "
        "segments, estimated time",
    )
    c.add_argument(
        "--fail-on-regression",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --baseline: fail when an op left the Neural Engine or the "
        "estimated time grew beyond --time-tolerance",
    )
    c.add_argument(
        "--time-tolerance",
        type=float,
        default=None,
        metavar="FRACTION",
        help=f"allowed growth of the estimated time (default {DEFAULT_TIME_TOLERANCE})",
    )
    o = p.add_argument_group("output")
    o.add_argument("--format", choices=["text", "json", "junit"], default="text")
    o.add_argument(
        "--output",
        "-o",
        default=None,
        metavar="PATH",
        help="write the --format output to PATH (the text still goes to stdout)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _is_report(arg: str) -> bool:
    return arg.lower().endswith(".json") and Path(arg).is_file()


def _load_input(args: argparse.Namespace) -> Any:
    from .report import load_report

    if _is_report(args.model):
        given = [f"--{n.replace('_', '-')}" for n in _MODEL_OPTIONS if getattr(args, n)]
        if given:
            raise UsageError(
                f"{args.model}: {', '.join(given)} profile a model; a saved report is checked "
                "as it was recorded"
            )
        return load_report(args.model)
    if args.model.lower().endswith(".json"):
        raise UsageError(f"{args.model}: no such report file")
    from .api import profile

    return profile(
        args.model,
        compute_units=args.compute_units or "ALL",
        chip=args.chip,
        backend=args.backend or "auto",
        plan=args.plan,
    )


def settings_from_args(args: argparse.Namespace, cwd: Path | None = None) -> CheckSettings:
    """Merge pyproject.toml's [tool.ane_notebook.check] with the command line (which wins)."""
    from .check import CheckSettings
    from .report import load_report

    config = find_config(cwd)
    values: dict[str, Any] = dict(config.values) if config else {}
    from_cli = {k: getattr(args, k) for k in _CONDITION_OPTIONS if getattr(args, k) is not None}
    values.update(from_cli)
    if config and from_cli:
        origin = f"{config.path} and the command line"
    elif config:
        origin = str(config.path)
    else:
        origin = "the command line"
    baseline = values.pop("baseline", None)
    values.setdefault("time_tolerance", DEFAULT_TIME_TOLERANCE)
    return CheckSettings(
        baseline=load_report(baseline) if baseline is not None else None,
        origin=origin,
        **{k: v for k, v in values.items() if v is not None},
    )


def _render(result: CheckResult, fmt: str) -> str:
    if fmt == "json":
        return result.to_json()
    if fmt == "junit":
        return result.to_junit()
    return result.to_text()


def run_check(args: argparse.Namespace) -> int:
    """The `check` subcommand: returns the exit status (bad input raises)."""
    from .check import check_report

    settings = settings_from_args(args)  # first: a bad setting is reported before profiling
    result = check_report(_load_input(args), settings)
    if args.output:
        from .api import _refuse_overwriting_inputs

        _refuse_overwriting_inputs(args.output, (args.model, args.plan, args.baseline), "check")
        with writing(args.output):
            Path(args.output).write_text(_render(result, args.format) + "\n", encoding="utf-8")
        print(result.to_text())
        print(f"wrote {os.fspath(args.output)} ({args.format})")
    else:
        print(_render(result, args.format))
    return EXIT_OK if result else EXIT_VIOLATED
