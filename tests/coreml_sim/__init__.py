"""Run code in a process that has the simulated native Core ML (see site/sitecustomize.py).

The pytest process itself is never changed: each test starts a driver process with `COREML_SIM=1`
and the `site/` folder on PYTHONPATH, and that process (and every child `run_isolated` spawns from
it) runs coremltools' real Python layer and ane_notebook's real child-process code over the double
`site/sim_libcoremlpython.py`. The driver prints one JSON line, which `run_sim` returns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

SITE = Path(__file__).resolve().parent / "site"
REPO = Path(__file__).resolve().parents[2]

__all__ = ["SITE", "run_sim", "sim_env"]


def sim_env(tmp_path: Path, scenario: dict[str, Any] | None = None, **extra: str) -> dict[str, str]:
    """The environment of a simulated Mac: the double on PYTHONPATH, a scenario file."""
    scenario_path = tmp_path / "scenario.json"
    scenario_path.write_text(json.dumps(scenario or {}), encoding="utf-8")
    env = dict(os.environ)
    env.update(
        {
            "COREML_SIM": "1",
            "COREML_SIM_SCENARIO": str(scenario_path),
            "PYTHONPATH": os.pathsep.join([str(SITE), str(REPO)]),
        }
    )
    env.update(extra)
    return env


def run_sim(
    code: str,
    tmp_path: Path,
    scenario: dict[str, Any] | None = None,
    *,
    as_script: bool = False,
    timeout: float = 120,
    **extra: str,
) -> Any:
    """Run `code` (its last statement sets `result`, JSON-ready) on the simulated Mac; return
    `result`. `as_script` runs it as a file (`python driver.py`), else with `python -c`."""
    body = textwrap.dedent(code)
    tail = "\nimport json as _json\nprint('RESULT ' + _json.dumps(result))\n"
    env = sim_env(tmp_path, scenario, **extra)
    if as_script:
        script = tmp_path / "driver.py"
        script.write_text(body + tail, encoding="utf-8")
        argv = [sys.executable, str(script)]
    else:
        argv = [sys.executable, "-c", body + tail]
    done = subprocess.run(
        argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout, check=False
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise AssertionError(
        f"the driver gave no result (exit {done.returncode})\n{done.stdout}\n{done.stderr}"
    )
