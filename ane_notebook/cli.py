"""The `ane-notebook` command: profile | record | check | examples | chips.

Prints the compact text report, optionally writes JSON and HTML, and on bad input prints one
line (`ane-notebook: error: <file>: <problem>`) and exits with status 2; a mistyped option is
one line too, with a hint, not argparse's usage block. `--debug` shows the traceback instead.
Output never breaks on a terminal that cannot show a character (it is backslash-escaped), and
`ane-notebook ... | head` ends quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ._blas import import_numpy_single_threaded
from .checkcli import add_check_parser, run_check
from .errors import AneNotebookError, UsageError
from .escape import plain
from .placement.coreml_availability import DEFAULT_TIMEOUT_S
from .placement.result import Backend

EXIT_BAD_INPUT = 2
# What a shell reports for a process ended by SIGPIPE (128 + 13), as `yes | head` shows.
EXIT_BROKEN_PIPE = 141


class _OneLineParser(argparse.ArgumentParser):
    """argparse, with errors as one escaped line and a hint instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        hint = f"see `{self.prog} --help`"
        self.exit(
            EXIT_BAD_INPUT, f"{self.prog.split()[0]}: error: {plain(message, 500)} ({hint})\n"
        )


def _parser() -> argparse.ArgumentParser:
    p = _OneLineParser(
        prog="ane-notebook",
        description="See where a Core ML model runs: Neural Engine, GPU or CPU, why, and what "
        "the crossings between them cost.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    prof = sub.add_parser(
        "profile", help="profile a model (or compare settings, chips, models) and print the summary"
    )
    prof.add_argument(
        "model", help="path to .mlpackage/.mlmodel, or example:NAME (see `ane-notebook examples`)"
    )
    prof.add_argument(
        "--compute-units",
        "-u",
        default="ALL",
        help="ALL, CPU_AND_NE, CPU_AND_GPU or CPU_ONLY (default ALL)",
    )
    prof.add_argument(
        "--chip",
        default=None,
        help="chip to estimate for, e.g. M1, M4, A17 (default M1; see `ane-notebook chips`)",
    )
    prof.add_argument(
        "--backend",
        default="auto",
        choices=[b.value for b in Backend],
        help="auto: live Core ML on macOS 14.4+, the estimate elsewhere",
    )
    prof.add_argument(
        "--plan", default=None, help="a plan recorded on a Mac (implies --backend recorded)"
    )
    _add_live_options(prof)
    prof.add_argument(
        "--compare",
        action="store_true",
        help="profile all four compute-unit settings and show them side by side",
    )
    prof.add_argument(
        "--chips",
        default="",
        metavar="M1,M4",
        help="estimate for several chips and show them side by side (with --compare: every "
        "setting on every chip)",
    )
    prof.add_argument(
        "--against",
        default=None,
        metavar="OTHER",
        help="a second model or a saved report (.json) to show beside MODEL, e.g. before and "
        "after a change; ops are matched by name",
    )
    prof.add_argument("--json", dest="json_path", default=None, help="write the report as JSON")
    prof.add_argument(
        "--html",
        dest="html_path",
        default=None,
        help="write a standalone HTML page with the interactive diagram",
    )
    prof.add_argument("--debug", action="store_true", help="show tracebacks")

    rec = sub.add_parser(
        "record",
        help="macOS: profile with Core ML and save the plan as JSON, "
        "to replay anywhere with --plan",
    )
    rec.add_argument("model", help="path to .mlpackage/.mlmodel, or example:NAME")
    rec.add_argument(
        "--compute-units",
        "-u",
        default="ALL",
        help="ALL, CPU_AND_NE, CPU_AND_GPU or CPU_ONLY (default ALL)",
    )
    _add_live_options(rec)
    rec.add_argument("-o", "--output", required=True, help="the plan JSON to write")
    rec.add_argument("--debug", action="store_true", help="show tracebacks")

    add_check_parser(sub)  # `check` lives in checkcli.py

    ex = sub.add_parser("examples", help="list the built-in example models")
    ex.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    ch = sub.add_parser("chips", help="list the chip profiles the estimator knows")
    ch.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return p


def _add_live_options(parser: argparse.ArgumentParser) -> None:
    """--runs and --timeout: how a live Core ML run is measured and how long it may take."""
    parser.add_argument(
        "--runs", type=int, default=20, help="Core ML: predictions to time (default 20)"
    )
    parser.add_argument(
        "--timeout",
        dest="timeout_s",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="Core ML: seconds one step (the compile, or one setting) may take "
        f"(default {DEFAULT_TIMEOUT_S:g}; a first Neural Engine compile can take minutes)",
    )


def _cmd_profile(args: argparse.Namespace) -> int:
    from .api import ProfileRequest, check_outputs, run, write_outputs

    if args.json_path is not None and (args.compare or args.chips or args.against):
        raise UsageError("--json writes one report; --compare, --chips and --against make several")
    # Refuse to overwrite an input before the (possibly long) profile, not after it.
    inputs = (args.model, args.plan, args.against)
    check_outputs(json_path=args.json_path, html_path=args.html_path, inputs=inputs)
    request = ProfileRequest(
        args.model,
        compute_units=args.compute_units,
        chip=args.chip,
        backend=args.backend,
        plan=args.plan,
        runs=args.runs,
        timeout_s=args.timeout_s,
        compare=args.compare,
        chips=args.chips,
        against=args.against,
    )
    report = run(request)
    print(report.to_text())
    written = write_outputs(
        report,
        json_path=args.json_path,
        html_path=args.html_path,
        inputs=inputs,
    )
    if written:
        print()
    for path in written:
        print(f"wrote {path}")
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    from .api import check_outputs, record, write_outputs

    check_outputs(json_path=args.output, inputs=(args.model,))
    report = record(
        args.model, compute_units=args.compute_units, runs=args.runs, timeout_s=args.timeout_s
    )
    print(report.to_text())
    write_outputs(report, json_path=args.output, inputs=(args.model,))
    print(
        f"\nwrote {args.output} (replay anywhere: ane-notebook profile MODEL --plan {args.output})"
    )
    return 0


def _cmd_examples(args: argparse.Namespace) -> int:
    from .model.examples import list_examples

    for name, description in list_examples():
        print(f"example:{name:<14} {description}")
    return 0


def _cmd_chips(args: argparse.Namespace) -> int:
    from .placement.devices import CHIPS, DEFAULT_CHIP, ChipProfile

    # What the chip's ANE can do on the direct path (capability: docs/evidence.md#devices.ane_sort
    # and the sections beside it);
    # Core ML may still keep such ops elsewhere, which the rules decide.
    def capabilities(c: ChipProfile) -> str:
        names = (
            ("texture", c.texture_engine),
            ("sort", c.ane_sort),
            ("trig", c.ane_trig),
            ("blockwise", c.blockwise_native),
        )
        return " ".join(n for n, has in names if has) or "-"

    print(
        f"{'chip':<6}{'ANE cores':>10}{'ANE TOPS fp16':>14}{'GPU TFLOPS':>12}{'GB/s':>8}"
        f"{'max axis':>10}  ANE direct-path capabilities"
    )
    for c in CHIPS.values():
        mark = "  (default)" if c.name == DEFAULT_CHIP else ""
        print(
            f"{c.name:<6}{c.ane_cores:>10}{c.ane_tops:>14g}{c.gpu_tflops:>12g}"
            f"{c.mem_bw_gbs:>8g}{c.max_axis:>10}  {capabilities(c)}{mark}"
        )
    return 0


COMMANDS = {
    "profile": _cmd_profile,
    "record": _cmd_record,
    "check": run_check,
    "examples": _cmd_examples,
    "chips": _cmd_chips,
}

# The commands that only print a list and never import numpy (issue 14: < 0.15 s cold).
_LISTING_COMMANDS = frozenset({"examples", "chips"})


def _tolerant_streams() -> None:
    """Characters the terminal's encoding cannot show are written as backslash escapes, never a
    UnicodeEncodeError (e.g. a model name in Chinese on an ASCII-only terminal)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_streams()
    try:
        args = _parser().parse_args(argv)
        if args.command not in _LISTING_COMMANDS:
            import_numpy_single_threaded()  # every other command imports numpy: see _blas.py
        try:
            return COMMANDS[args.command](args)
        except AneNotebookError as e:
            if getattr(args, "debug", False):
                raise
            print(f"ane-notebook: error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        finally:
            sys.stdout.flush()  # a closed pipe shows up here, inside the handler below
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly. Point stdout at /dev/null so that the
        # interpreter's own flush at exit does not complain a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("ane-notebook: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
