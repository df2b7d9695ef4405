"""The package's shape: its public names, what importing it costs, and habits the code keeps."""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from pathlib import Path

import ane_notebook

PACKAGE = Path(ane_notebook.__file__).parent

# The public surface, pinned: a change here is an API change, made on purpose.
PUBLIC = [
    "AneNotebookError",
    "Backend",
    "CheckResult",
    "ComputeUnits",
    "CoreMLRunError",
    "CoreMLUnavailableError",
    "Device",
    "Evidence",
    "ModelLoadError",
    "PlacementSource",
    "PlanError",
    "ProfileReport",
    "ProfileRequest",
    "ReasonKind",
    "ReportSet",
    "UsageError",
    "__version__",
    "compare",
    "diff",
    "explore",
    "load_ipython_extension",
    "load_model",
    "load_report",
    "profile",
    "profile_all_units",
    "record",
    "run",
]


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert sorted(ane_notebook.__all__) == sorted(PUBLIC)
    for name in ane_notebook.__all__:
        assert getattr(ane_notebook, name) is not None, name
    public_callables = [n for n in PUBLIC if callable(getattr(ane_notebook, n))]
    for name in public_callables:
        doc = getattr(ane_notebook, name).__doc__ or ""
        assert doc.strip(), f"ane_notebook.{name} has no docstring"
        if not issubclass(type(getattr(ane_notebook, name)), type) or name in _WITH_EXAMPLES:
            assert ">>>" in doc or "Example" in doc, f"ane_notebook.{name}: no example"


# Classes whose docstring must show an example too (enums and errors explain themselves).
_WITH_EXAMPLES = {"ProfileReport", "ProfileRequest"}


def test_docstring_examples_run() -> None:
    # The examples in the public docstrings are real: run them.
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    ran = 0
    for name in PUBLIC:
        obj = getattr(ane_notebook, name)
        for test in finder.find(obj, name, globs={}):
            ran += len(test.examples)
            runner.run(test)
    assert ran > 10
    assert runner.failures == 0


def test_importing_the_package_stays_light() -> None:
    # numpy, coremltools, bokeh and ipywidgets load on first use of what needs them.
    code = (
        "import sys, ane_notebook\n"
        "heavy = [m for m in ('numpy', 'coremltools', 'bokeh', 'ipywidgets', 'IPython') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_the_light_import_check_can_fail() -> None:
    code = "import sys, ane_notebook, ane_notebook.report\nprint('numpy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "True"


def test_py_typed_ships() -> None:
    assert (PACKAGE / "py.typed").is_file()


# Logic that reads a decision back from its sentence: comparisons or substring tests on a
# `reason` (or the sentences' constants). Decisions travel as ReasonKind instead.
_REASON_TEXT_LOGIC = re.compile(
    r"reason\w*\s*(==|!=)|(==|!=)\s*\w*\.reason\b|\bin\s+\w+(\.\w+)*\.reason\b"
    r"|reason\w*\.(startswith|endswith|find|index|count)\(|re\.\w+\([^)]*reason"
)


def test_no_logic_matches_reason_text() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if _REASON_TEXT_LOGIC.search(code):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_reason_text_check_can_fail() -> None:
    for line in (
        'if "compute units" in op.reason:',
        'if op.reason.startswith("the ANE could run it"):',
        "if p.reason == NOT_IN_PLAN",
    ):
        assert _REASON_TEXT_LOGIC.search(line), line
    assert not _REASON_TEXT_LOGIC.search("if p.reason_kind is ReasonKind.NOT_IN_PLAN:")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_says_its_job() -> None:
    # A module docstring of at least a sentence, packages' __init__ included (issue 15 §2).
    import ast

    missing = []
    for path in _modules():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        if doc is None or len(doc.split()) < 8:
            missing.append(str(path.relative_to(PACKAGE)))
    assert missing == []


# Modules over the size limit, each with why it is allowed for now. Shrink this list; never grow
# it without a reason the lead agrees to.
_LONG_MODULES = {
    "placement/partition.py": "the partitioner's speed work (GitHub issue 14) is still under way",
    "placement/estimate.py": "the partitioner's speed work (GitHub issue 14) is still under way",
    "placement/costs.py": "the cost model's rework (GitHub issue 10) is still under way",
}
_MAX_LINES = 500


def test_modules_stay_small() -> None:
    # One module, one job (issue 15 §2): none grows past ~500 lines unnoticed.
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > _MAX_LINES
    }
    assert sorted(set(long) - set(_LONG_MODULES)) == [], long
