"""Comparing reports: the public `an.compare`, and compare as a feature (text, CLI, magic)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types

import ane_notebook


def test_public_names_are_not_shadowed_by_submodules() -> None:
    """`an.compare` once became the module `ane_notebook.compare` as soon as anything imported
    that module (Python binds a package's submodule as its attribute), so `an.compare(a, b)`
    raised "'module' object is not callable" in the tutorial. Import every submodule, then
    check each lazily exported name is still what it says."""
    for info in pkgutil.walk_packages(ane_notebook.__path__, "ane_notebook."):
        if info.name.endswith(("magics", "widgets")) or ".render" in info.name:
            continue  # notebook-only modules: covered by their own tests
        importlib.import_module(info.name)
    for name in ane_notebook._LAZY:
        value = getattr(ane_notebook, name)
        assert not isinstance(value, types.ModuleType), f"an.{name} is a module"
        assert callable(value), f"an.{name} is not callable"


def test_compare_is_callable_after_a_report_set_is_shown() -> None:
    # In a fresh interpreter, as in the tutorial: ReportSet.to_text imports the comparison.
    code = (
        "import ane_notebook as an\n"
        "from ane_notebook.report import ReportSet\n"
        "rs = an.profile_all_units('example:lstm', backend='estimate')\n"
        "ReportSet({u.value: r for u, r in rs.items()}).to_text()\n"
        "reports = list(rs.values())\n"
        "print(an.compare(reports[0], reports[-1]).matched > 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "True"
