"""The core modules never import IPython, ipywidgets or bokeh (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "ane_notebook",
    "ane_notebook.api",
    "ane_notebook.model.load",
    "ane_notebook.report",
    "ane_notebook.placement.estimate",
    "ane_notebook.placement.recorded",
    "ane_notebook.placement.coreml",
    "ane_notebook.comparison",
    "ane_notebook.cli",
]
NOTEBOOK_ONLY = ["IPython", "ipywidgets", "bokeh", "jupyter_bokeh"]


def test_core_imports_no_notebook_libraries() -> None:
    code = (
        "import sys, importlib\n"
        f"for m in {CORE!r}: importlib.import_module(m)\n"
        "import ane_notebook.api as api\n"
        "r = api.profile('example:lstm', backend='estimate')\n"
        "r.to_text(); r.to_json()\n"
        f"bad = [m for m in {NOTEBOOK_ONLY!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"core modules imported {proc.stdout.strip()}"


def test_the_check_can_fail() -> None:
    # The same probe notices a notebook library when one is imported.
    code = "import sys, bokeh.models\nprint('bokeh' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "True"


def test_an_estimate_off_macos_does_not_import_the_live_backend() -> None:
    # backend="auto" asks whether Core ML can run on every profile; off macOS the answer needs
    # none of the live backend's imports (~26 ms of a cold CLI run: issue 14).
    code = (
        "import sys\n"
        "import ane_notebook.api as api\n"
        "r = api.profile('example:lstm')\n"
        "r.to_text()\n"
        "print(r.metadata.get('backend'), 'ane_notebook.placement.coreml' in sys.modules,"
        " 'importlib.metadata' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    if sys.platform != "darwin":
        assert proc.stdout.split() == ["estimate", "False", "False"]
