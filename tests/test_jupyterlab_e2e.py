"""The quickstart notebook in a real JupyterLab and in Jupyter Notebook 7, in headless Chromium:
what a user would see.

The test is parametrised over the two front ends. Notebook 7 is built from JupyterLab's
packages, so one code path serves both; only the server module, its app flags and the
notebook's URL differ. A server is started on 127.0.0.1 (free port, a token, its own settings,
workspaces, config and runtime folders, a copy of `notebooks/` as its root); Chromium opens the
quickstart, runs every cell through the front end's own command (`notebook:run-all-cells`,
reachable because the server is started with `expose_app_in_browser`, which sets
`window.jupyterapp`), and the test checks the page:

* every cell ran, without an error or an `%ane_profile` error line;
* each diagram iframe holds a bokeh document that finished rendering;
* the explorer widget shows its Run button and, after `explorer.run()`, a bokeh diagram in its
  output area, with no widget error view;
* no console errors, uncaught exceptions or failed loads on the page.

Every wait polls a condition with a deadline (never a fixed sleep), and all of them share one
overall budget so the test ends within 90 s. Screenshots of the diagram and of the explorer are
written to the test's tmp folder (their paths are in the failure message). The server and
Chromium are stopped in `finally` blocks.

Skipped when Chromium is missing, unless ANE_NOTEBOOK_REQUIRE_BROWSER is set (CI), where a missing
browser is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from browser import BrowserError, Chromium, Page, chromium_missing_reason

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
QUICKSTART = "01_quickstart.ipynb"
BUDGET_S = 85.0  # the whole test, server start to shutdown, stays under 90 s

# JupyterLab user settings for the test's own settings folder: attach every cell to the DOM
# (the default "contentVisibility" windowing may leave off-screen outputs unrendered), and do
# not ask about (or fetch) Jupyter news.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}


@dataclass(frozen=True)
class Frontend:
    """What differs between JupyterLab and Notebook 7: the server, its flags, the notebook URL."""

    name: str
    module: str  # run as `python -m <module>`
    app_args: tuple[str, ...]
    notebook_path: str  # URL path of the quickstart, relative to the server root
    # Page errors of the front end itself, not of this package: regexes, each tied to an issue.
    known_page_errors: tuple[str, ...] = ()

    def unexpected(self, errors: list[str]) -> list[str]:
        return [e for e in errors if not any(re.search(k, e) for k in self.known_page_errors)]


FRONTENDS = [
    Frontend(
        "jupyterlab",
        "jupyterlab",
        (
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run its commands
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ),
        f"/lab/tree/{QUICKSTART}",
    ),
    # Notebook 7's app class is JupyterNotebookApp (a LabServerApp, same settings folder).
    Frontend(
        "notebook7",
        "notebook",
        ("--JupyterNotebookApp.expose_app_in_browser=True",),
        f"/notebooks/{QUICKSTART}",
        known_page_errors=(
            # jupyter/notebook#7862: on every notebook page, Notebook 7's bundled shortcuts
            # extension reads registry.plugins["@jupyterlab/shortcuts-extension:shortcuts"], a
            # plugin Notebook 7 does not load, when another plugin's settings are reloaded.
            r"\Aexception: TypeError: Cannot read properties of undefined \(reading 'schema'\)"
            r"\n\s+at \S+/static/notebook/notebook_core\.",
        ),
    ),
]


def require_frontend(frontend: Frontend) -> None:
    """Skip when the front end's package is not installed (Notebook 7 is a test extra)."""
    if frontend.name == "notebook7":
        notebook = pytest.importorskip("notebook", reason="Jupyter Notebook is not installed")
        major = int(str(getattr(notebook, "__version__", "0")).split(".")[0])
        if major < 7:
            pytest.skip(f"Jupyter Notebook {notebook.__version__} installed, 7 or later needed")


def require_browser() -> None:
    """Skip without Chromium; fail instead when ANE_NOTEBOOK_REQUIRE_BROWSER is set."""
    required = os.environ.get("ANE_NOTEBOOK_REQUIRE_BROWSER", "") not in ("", "0")
    try:
        reason = chromium_missing_reason()
    except RuntimeError as e:  # browser.py raises when the browser is required and missing
        pytest.fail(str(e))
    if reason is None:
        return
    if required:
        pytest.fail(f"ANE_NOTEBOOK_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


class Budget:
    """One deadline shared by every wait in the test."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self, cap: float) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the end-to-end test ran over its {BUDGET_S:.0f} s budget")
        return min(cap, left)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    """A running Jupyter server (JupyterLab or Notebook 7)."""

    frontend: Frontend
    proc: subprocess.Popen[bytes]
    url: str
    token: str
    log: Path
    budget: Budget

    def log_tail(self, n: int = 30) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def api(self, path: str, method: str = "GET", timeout: float = 2.0) -> bytes:
        req = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - our server
            return bytes(resp.read())


def start_lab(tmp: Path, budget: Budget, frontend: Frontend) -> Lab:
    root = tmp / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, root)
    settings = tmp / "lab-settings"
    for rel, values in LAB_SETTINGS.items():
        f = settings / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))
    env = dict(os.environ)
    env.update(
        {
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "lab-workspaces"),
            "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(tmp / "jupyter-runtime"),
            "TMPDIR": str(tmp),  # whatever the kernel writes to temp goes with the test's folder
        }
    )
    # ANE_NOTEBOOK_CACHE (conftest's per-session folder) reaches the kernel through `env`.
    port = free_port()
    token = secrets.token_hex(16)
    args = [
        sys.executable,
        "-m",
        frontend.module,
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # fail, rather than quietly serve on another port
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        *frontend.app_args,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")  # containers often run as root; Jupyter refuses otherwise
    log = tmp / f"{frontend.name}.log"
    with open(log, "wb") as out:
        # Its own session: `stop_lab` can end exactly the processes started here.
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp, start_new_session=True
        )
    lab = Lab(frontend, proc, f"http://127.0.0.1:{port}", token, log, budget)
    deadline = time.monotonic() + budget.left(30)
    while True:
        try:
            status = json.loads(lab.api("/api/status"))
            assert "started" in status, status
            return lab
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if proc.poll() is not None:
            raise AssertionError(
                f"{frontend.name} exited with {proc.returncode}:\n{lab.log_tail()}"
            )
        if time.monotonic() > deadline:
            stop_lab(lab)
            raise AssertionError(f"{frontend.name} did not answer in time:\n{lab.log_tail()}")
        time.sleep(0.1)  # polling a server that is starting: nothing to wait on but time


def stop_lab(lab: Lab) -> None:
    """Shut the server down through its API (which also shuts its kernels down), then make
    sure the process group we started is gone."""
    if lab.proc.poll() is None:
        # Not answering: the signals below take over.
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            lab.api("/api/shutdown", method="POST")
        try:
            lab.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(lab.proc.pid, signal.SIGTERM)
            try:
                lab.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(lab.proc.pid, signal.SIGKILL)
                lab.proc.wait(timeout=5)


# --- page conditions (JavaScript, polled inside the page by Page.wait_for) -----------------

NOTEBOOK_OPEN = f"""(() => {{
  const w = window.jupyterapp && jupyterapp.shell.currentWidget;
  return !!(w && w.context && w.context.path.endsWith({json.dumps(QUICKSTART)}) && w.content);
}})()"""

KERNEL_READY = """(async () => {
  const w = jupyterapp.shell.currentWidget;
  await w.context.ready;
  await w.sessionContext.ready;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return k ? k.name : null;
})()"""

# Resolves when every cell has run; false when a cell failed.
RUN_ALL = "jupyterapp.commands.execute('notebook:run-all-cells')"

PROMPTS = """[...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
  .map((e) => e.textContent.trim())"""

STDERR_TEXTS = """[...document.querySelectorAll(
  '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
  .map((e) => e.textContent)"""

DIAGRAM_IFRAMES = "document.querySelectorAll('iframe.ane-notebook-diagram').length"

# The explorer: a widget box with a Run button whose output area holds the diagram iframe
# (its canvas is checked with the other diagram iframes: it is a separate renderer target).
EXPLORER_DRAWN = """(() => {
  for (const box of document.querySelectorAll('.jupyter-widgets.widget-vbox')) {
    const run = [...box.querySelectorAll('.widget-button')]
      .some((b) => b.textContent.trim() === 'Run');
    if (run && box.querySelector('iframe.ane-notebook-diagram')) { return true; }
  }
  return false;
})()"""

EXPLORER_PRESENT = """[...document.querySelectorAll('.widget-button')]
  .some((b) => b.textContent.trim() === 'Run')"""

# A widget that failed to render shows "Click to show javascript error."; a click reveals it.
WIDGET_ERRORS = """[...document.querySelectorAll('.jupyter-widgets-error-widget')].map((e) => {
  e.click();
  return e.textContent.replace(/\\s+/g, ' ').trim().slice(0, 600);
})"""


def screenshot(page: Page, selector_js: str, path: Path) -> Path:
    """Scroll the element `selector_js` evaluates to into view and capture the viewport
    (JupyterLab scrolls the notebook inside its own panel, not the page)."""
    page.evaluate(f"(() => {{ const e = {selector_js}; if (e) {{ e.scrollIntoView(); }} }})()")
    return page.screenshot(path, full_page=False)


@pytest.mark.parametrize("frontend", FRONTENDS, ids=[f.name for f in FRONTENDS])
def test_quickstart_in_the_browser(tmp_path: Path, frontend: Frontend) -> None:
    require_frontend(frontend)
    require_browser()
    lab = start_lab(tmp_path, Budget(BUDGET_S), frontend)
    try:
        check_quickstart(lab, tmp_path)
    finally:
        stop_lab(lab)


def check_quickstart(lab: Lab, tmp_path: Path) -> None:
    """Open, run and inspect the quickstart; Chromium is closed on the way out."""
    budget = lab.budget
    shots: list[Path] = []
    with Chromium(extra_flags=("--disable-quic",)) as browser:
        page = browser.new_page(1400, 1000)
        page.track_iframes()  # the diagram iframes are sandboxed: separate renderer targets

        def fail(message: str) -> NoReturn:
            with contextlib.suppress(BrowserError):  # the failure itself matters more
                shots.append(page.screenshot(tmp_path / "failure.png", full_page=False))
            raise AssertionError(
                f"{message}\n"
                f"page errors: {lab.frontend.unexpected(page.errors())[:5]}\n"
                f"screenshots: {[str(s) for s in shots]}\n"
                f"{lab.frontend.name} log:\n{lab.log_tail(15)}"
            )

        try:
            page.goto(
                f"{lab.url}{lab.frontend.notebook_path}?token={lab.token}", timeout=budget.left(30)
            )
            page.wait_for(NOTEBOOK_OPEN, budget.left(30), "the quickstart notebook to open")
            kernel = page.evaluate(KERNEL_READY, timeout=budget.left(30))
            assert kernel == "python3", kernel

            ran_ok = page.evaluate(RUN_ALL, timeout=budget.left(60))
            prompts = page.evaluate(PROMPTS)
            not_run = [p for p in prompts if not p.strip("[]:").isdigit()]
            stderr = [
                t for t in page.evaluate(STDERR_TEXTS) if "ane_profile:" in t or "Traceback" in t
            ]
            if ran_ok is not True or not_run or stderr:
                fail(f"run all cells: ok={ran_ok}, prompts={prompts}, errors={stderr[:3]}")

            n_iframes = page.evaluate(DIAGRAM_IFRAMES)
            if n_iframes < 4:  # three magic outputs and the loaded-back report
                fail(f"expected at least 4 diagram iframes, found {n_iframes}")
            for i in range(n_iframes):
                frame = page.iframe(timeout=budget.left(15), index=i)
                frame.wait_for_bokeh(timeout=budget.left(15))
                canvases = frame.evaluate("__deepQueryAll('canvas').length")
                if not canvases:
                    fail(f"diagram iframe {i} rendered no canvas")
            shots.append(
                screenshot(
                    page,
                    "document.querySelector('iframe.ane-notebook-diagram').closest('.jp-Cell')",
                    tmp_path / "diagram.png",
                )
            )

            page.wait_for(EXPLORER_PRESENT, budget.left(15), "the explorer's Run button")
            not_drawn = None
            try:
                page.wait_for(
                    EXPLORER_DRAWN, budget.left(15), "a bokeh diagram in the explorer's output area"
                )
            except BrowserError as e:
                not_drawn = e
            widget_errors = page.evaluate(WIDGET_ERRORS)
            shots.append(
                screenshot(
                    page,
                    "[...document.querySelectorAll('.widget-button')]"
                    ".find((b) => b.textContent.trim() === 'Run').closest('.widget-vbox')",
                    tmp_path / "explorer.png",
                )
            )
            if not_drawn is not None or widget_errors:
                fail(
                    f"the explorer did not draw its diagram: {not_drawn}\n"
                    f"widget errors: {widget_errors}"
                )
            if lab.frontend.unexpected(page.errors()):
                fail("errors on the page")
        except BrowserError as e:
            fail(str(e))
