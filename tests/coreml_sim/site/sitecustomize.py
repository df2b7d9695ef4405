"""Starts the simulated native Core ML in processes a `coreml_sim` test starts (and in their
children: `run_isolated` spawns fresh interpreters, which inherit PYTHONPATH and read this file).

Inert unless `COREML_SIM=1`. Then, before anything else imports coremltools:
* `coremltools.libcoremlpython` is the double `sim_libcoremlpython` (coremltools' Python layer
  imports its proxies from there, as on a Mac);
* the process says it is macOS (`sys.platform == "darwin"`, what both coremltools and
  ane_notebook check), and `bin/` (fake `sw_vers` and `sysctl`) goes first on PATH, so the
  macOS version and chip come from `COREML_SIM_MACOS` / `COREML_SIM_CHIP`;
* `platform.mac_ver()` answers what such a Python would (COREML_SIM_PYTHON_SEES, else the
  macOS version): coremltools reads it on import;
* coverage is started when `COVERAGE_PROCESS_START` is set, so the children are measured.
"""

import os
import sys

if os.environ.get("COREML_SIM") == "1":
    if os.environ.get("COVERAGE_PROCESS_START"):
        import coverage

        coverage.process_startup()
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["PATH"] = os.path.join(here, "bin") + os.pathsep + os.environ.get("PATH", "")
    # Modules that read sys.platform when imported are imported as the real platform first.
    import multiprocessing.connection  # noqa: F401
    import platform  # noqa: F401
    import shutil  # noqa: F401
    import subprocess  # noqa: F401
    import sysconfig
    import tempfile  # noqa: F401
    import urllib.request  # noqa: F401  (IPython's, for the widgets: darwin's needs _scproxy)

    sysconfig.get_config_vars()  # cached now: later it would look for darwin's build data

    import numpy  # noqa: F401
    import sim_libcoremlpython

    # COREML_SIM_NATIVE: "missing" (coremltools installed without its native library) or
    # "no_plan" (a native library older than MLComputePlan: coremltools < 8)
    native = os.environ.get("COREML_SIM_NATIVE", "")
    if native == "no_plan":
        del sim_libcoremlpython._MLComputePlanProxy
    if native != "missing":
        sys.modules["coremltools.libcoremlpython"] = sim_libcoremlpython
    sys.platform = "darwin"

    def _mac_ver(release="", versioninfo=("", "", ""), machine=""):  # noqa: ANN001, ANN202
        # What a Python built against an older SDK sees: macOS 26 as "16.0" (COREML_SIM_PYTHON_SEES)
        seen = os.environ.get("COREML_SIM_PYTHON_SEES") or os.environ.get(
            "COREML_SIM_MACOS", "15.2"
        )
        return seen, versioninfo, "arm64"

    platform.mac_ver = _mac_ver
