"""The tutorial notebooks run top to bottom (with the estimator, on any OS) and show what they say.

Each notebook in `notebooks/` is executed in a fresh `python3` kernel with nbclient; a cell that
raises fails the test with its traceback. The `%ane_profile` magic reports user errors on stderr
instead of raising (so a notebook keeps going), so stderr is checked for its error lines too.

The kernel inherits `ANE_NOTEBOOK_CACHE` (conftest points it at a per-session folder, or it is the
caller's), so the example models are built once per session, and `TMPDIR` points at the test's
own folder, so the models the notebooks convert are removed with it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

# Each notebook runs in a kernel: seconds apiece.
pytestmark = pytest.mark.slow

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 120

HTML = "text/html"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def kernel_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    cache = os.environ.get("ANE_NOTEBOOK_CACHE")
    if cache:
        env["ANE_NOTEBOOK_CACHE"] = cache
    env["TMPDIR"] = str(tmp_path)
    return env


def run_notebook(path: Path, tmp_path: Path) -> nbformat.NotebookNode:
    """Execute `path` in a fresh kernel, working directory and TMPDIR inside `tmp_path`."""
    nb = nbformat.read(path, as_version=4)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=kernel_env(tmp_path))  # CellExecutionError on the first failing cell
    return nb


def outputs(nb: nbformat.NotebookNode) -> list[tuple[int, dict[str, Any]]]:
    return [
        (i, out)
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    ]


def diagram_bundles(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """Display data whose text/html holds the interactive diagram (a bokeh page in an iframe)."""
    return [
        out["data"] for _, out in outputs(nb) if diagram_pages(out.get("data", {}).get(HTML, ""))
    ]


class _DiagramIframes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcdocs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "iframe" and "ane-notebook-diagram" in (a.get("class") or "").split():
            self.srcdocs.append(a.get("srcdoc") or "")


def diagram_pages(html_text: str) -> list[str]:
    """The pages inside the diagram iframes of an HTML output (attributes parsed and
    unescaped by HTMLParser, however they are quoted)."""
    parser = _DiagramIframes()
    parser.feed(html_text)
    parser.close()
    return parser.srcdocs


def assert_clean(nb: nbformat.NotebookNode, name: str) -> None:
    problems = []
    for i, out in outputs(nb):
        if out["output_type"] == "error":
            problems.append(f"cell {i}: {out['ename']}: {out['evalue']}")
        elif out["output_type"] == "stream" and out["name"] == "stderr":
            text = out["text"]
            if "ane_profile:" in text or "Traceback" in text:
                problems.append(f"cell {i} stderr: {text.strip()[:500]}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Any]:
    """Run each notebook at most once per module, however many tests look at it."""
    done: dict[Path, nbformat.NotebookNode] = {}

    def get(path: Path) -> nbformat.NotebookNode:
        if path not in done:
            done[path] = run_notebook(path, tmp_path_factory.mktemp(path.stem))
        return done[path]

    return get


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, executed: Callable[[Path], Any]) -> None:
    nb = executed(path)
    assert_clean(nb, path.name)
    bundles = diagram_bundles(nb)
    assert bundles, f"{path.name} displays no diagram"
    for data in bundles:
        assert data.get("text/plain"), "every diagram has a text/plain twin"
        assert "estimate" in data["text/plain"], "off macOS the text says it is an estimate"


def test_quickstart_shows_the_diagram_and_the_explorer(executed: Callable[[Path], Any]) -> None:
    nb = executed(NOTEBOOK_DIR / "01_quickstart.ipynb")
    assert_clean(nb, "01_quickstart.ipynb")

    bundles = diagram_bundles(nb)
    # The magic (three times), the loaded-back report: each one a diagram.
    assert len(bundles) >= 4, f"expected at least 4 diagrams, found {len(bundles)}"
    page = diagram_pages(bundles[0][HTML])[0]
    assert "Bokeh" in page and '<script type="application/json"' in page, (
        "the iframe holds a bokeh page with its document"
    )
    assert "ESTIMATE" in bundles[0][HTML], "the static header carries the estimate badge"

    # The explorer is displayed as a widget, and `explorer.run()` drew the diagram (the report's
    # iframe bundle) into its output area (nbclient records widget state in the metadata).
    views = [out for _, out in outputs(nb) if WIDGET_VIEW in out.get("data", {})]
    assert views, "the explorer widget is displayed"
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    root = state[views[0]["data"][WIDGET_VIEW]["model_id"]]
    assert root["model_name"] == "VBoxModel", root["model_name"]
    buttons = [
        m["state"].get("description") for m in state.values() if m["model_name"] == "ButtonModel"
    ]
    assert "Run" in buttons
    drawn = [
        o["data"][HTML]
        for m in state.values()
        if m["model_name"] == "OutputModel"
        for o in m["state"]["outputs"]
        if HTML in o.get("data", {})
    ]
    assert drawn and all("ane-notebook-diagram" in h and "Bokeh" in h for h in drawn), (
        "the explorer's output holds the diagram page"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name} cell {i} has stored outputs; clear them before committing"
            )
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state; clear it"


def test_there_are_notebooks() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {
        "01_quickstart.ipynb",
        "02_why_not_on_the_neural_engine.ipynb",
        "03_comparing_compute_units.ipynb",
    } <= names


def test_binder_installs_what_the_notebooks_need() -> None:
    """mybinder.org builds from binder/: Python 3.11, the package's dependencies (installed
    before the checkout is copied, so they are cached), then postBuild installs the package."""
    tomllib = pytest.importorskip("tomllib")
    yaml = pytest.importorskip("yaml")
    root = NOTEBOOK_DIR.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((root / "binder" / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)

    def norm(reqs: list[str]) -> list[str]:
        return sorted(r.replace(" ", "").lower() for r in reqs)

    assert norm(pip) == norm(project["dependencies"]), (
        "binder/environment.yml and pyproject.toml list different dependencies"
    )
    post = root / "binder" / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable"
    text = post.read_text()
    assert text.startswith("#!/bin/bash") and "set -e" in text and "pip install" in text
    assert " -e ." in text, "postBuild installs the package from the checkout"
