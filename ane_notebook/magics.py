"""`%ane_profile` and `%%ane_profile`: profile a model from a notebook cell.

A thin layer: parse arguments, build an `api.ProfileRequest`, `api.run` it, display the result.
Argument mistakes raise IPython's `UsageError` (shown as one line, like `%timeit`'s); a model or
plan that cannot be read prints one line (the traceback only with `--debug`); the kernel carries
on either way. The cell magic runs its cell through IPython's own input transformations, so
`!shell` lines and `%magics` work in it as in any cell.
"""

from __future__ import annotations

import ast
import sys
from typing import Any

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from .errors import AneNotebookError, UsageError
from .escape import plain
from .placement.coreml_availability import DEFAULT_TIMEOUT_S


@magics_class
class AneMagics(Magics):
    @magic_arguments()
    @argument(
        "model",
        nargs="?",
        default=None,
        help="path to .mlpackage/.mlmodel, example:NAME, or the name of a variable "
        "holding an MLModel or a path (line magic)",
    )
    @argument(
        "-u",
        "--compute-units",
        default="ALL",
        help="ALL, CPU_AND_NE, CPU_AND_GPU or CPU_ONLY (default ALL)",
    )
    @argument("--chip", default=None, help="chip to estimate for: M1 (default) ... M4, A12 ... A18")
    @argument("--backend", default="auto", help="auto, estimate, coreml or recorded")
    @argument("--plan", default=None, help="a plan recorded on a Mac (backend recorded)")
    @argument(
        "--compare",
        action="store_true",
        help="profile all four compute-unit settings and show them side by side",
    )
    @argument("--runs", type=int, default=20, help="Core ML: predictions to time (default 20)")
    @argument(
        "--timeout",
        dest="timeout_s",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="Core ML: seconds one step (the compile, or one setting) may take "
        f"(default {DEFAULT_TIMEOUT_S:g})",
    )
    @argument("--chips", default="", help="several chips side by side, e.g. M1,M4 (estimates)")
    @argument(
        "--against",
        default=None,
        help="a second model (path, example:NAME, variable) or a saved report (.json) to show "
        "beside this one, e.g. before/after a change",
    )
    @argument("--html", default=None, help="also write a standalone HTML page to this path")
    @argument(
        "--var",
        default=None,
        help="cell magic: profile this variable instead of the cell's last expression",
    )
    @argument(
        "-o",
        "--output",
        action="store_true",
        help="return the report (shown once, as the cell's value, when it ends the cell)",
    )
    @argument("-q", "--quiet", action="store_true", help="display nothing")
    @argument("--debug", action="store_true", help="show the full traceback on errors")
    @line_cell_magic
    def ane_profile(self, line: str = "", cell: str | None = None) -> Any:
        """Profile a Core ML model: which ops run on the Neural Engine, GPU or CPU, and why.

        Examples::

            %load_ext ane_notebook
            %ane_profile example:transformer
            %ane_profile MyModel.mlpackage --compute-units CPU_AND_NE --chip M4
            %ane_profile model --compare          # `model` is a variable holding an MLModel
            %ane_profile example:lstm --chips M1,M4
            %ane_profile new_model --against before.json
            report = %ane_profile example:mobilenet -o -q

            %%ane_profile --chip M2
            import coremltools as ct
            ct.convert(prog, convert_to="mlprogram")   # the last expression is profiled

        Off macOS (and with --backend estimate) the placement is an estimate from rules and a
        cost model, and every number says so.
        """
        try:
            args = parse_argstring(self.ane_profile, line)
        except IPythonUsageError as e:
            # argparse echoes what it could not parse: escape it, so a stray ESC cannot reach
            # the terminal, and keep it to one line.
            raise IPythonUsageError(plain(str(e), 500)) from None
        try:
            model = self._model_from(args, cell)
            result = self._run(model, args)
        except UsageError as e:
            if args.debug:
                raise
            raise IPythonUsageError(str(e)) from None  # already one escaped line
        except AneNotebookError as e:
            if args.debug:
                raise
            print(f"ane_profile: error: {e}", file=sys.stderr)
            return None
        if args.output:
            # Returned, not displayed here: Jupyter shows a returned value when it ends the cell,
            # and showing it here too would draw the diagram twice.
            return result
        if not args.quiet:
            display(result)
        return None

    def _model_from(self, args: Any, cell: str | None) -> Any:
        shell = self.shell
        ns = shell.user_ns if shell is not None else {}
        if cell is not None:
            source = shell.transform_cell(cell) if shell is not None else cell
            value = _run_cell_keep_last(source, ns)
            if args.var:
                if args.var not in ns:
                    raise UsageError(f"--var {args.var}: the cell did not define {args.var!r}")
                return ns[args.var]
            if value is None:
                raise UsageError(
                    "the cell's last line must be the model (an expression), or "
                    "name it with --var NAME"
                )
            return value
        name = _unquote(args.model)
        if name is None:
            raise UsageError("name a model: %ane_profile PATH | example:NAME | variable")
        if name.isidentifier() and name in ns:
            return ns[name]
        return name

    def _named(self, name: str | None) -> Any:
        """A variable of the user's namespace when `name` is one, else `name` itself (a path)."""
        ns = self.shell.user_ns if self.shell is not None else {}
        if name is not None and name.isidentifier() and name in ns:
            return ns[name]
        return name

    def _run(self, model: Any, args: Any) -> Any:
        from .api import ProfileRequest, check_outputs, run, write_outputs

        check_outputs(html_path=_unquote(args.html), inputs=(model, _unquote(args.plan)))
        request = ProfileRequest(
            model,
            compute_units=args.compute_units,
            chip=args.chip,
            backend=args.backend,
            plan=_unquote(args.plan),
            compare=args.compare,
            runs=args.runs,
            timeout_s=args.timeout_s,
            chips=args.chips,
            against=self._named(_unquote(args.against)),
        )
        result = run(request)
        write_outputs(
            result, html_path=_unquote(args.html), inputs=(model, request.plan, request.against)
        )
        return result


def _unquote(value: str | None) -> str | None:
    """A path argument without the quotes around it: IPython splits magic arguments the
    non-POSIX way, which keeps them (`--html 'my report.html'` would name a file with quotes)."""
    if value is None:
        return None
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _run_cell_keep_last(source: str, ns: dict[str, Any]) -> Any:
    """Run `source` (a cell after IPython's transformations) in `ns`; return the value of its
    last line if that is an expression."""
    tree = ast.parse(source, filename="<ane_profile cell>", mode="exec")
    last: ast.Expr | None = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body.pop()  # type: ignore[assignment]
    exec(compile(tree, "<ane_profile cell>", "exec"), ns)  # noqa: S102 - the user's own cell
    if last is None:
        return None
    expr = ast.Expression(last.value)
    return eval(compile(expr, "<ane_profile cell>", "eval"), ns)  # noqa: S307


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(AneMagics)
