"""`explore()`: an ipywidgets UI to pick a model and settings, run, and see the diagram.

A thin layer over `profile()`: every control maps to one argument, the Run button calls the
library, and the diagram is re-drawn below (the report's own HTML: bokeh in an iframe).
Uploaded models are saved by `ane_notebook.model.upload` into the cache folder, never next to the
user's files. Errors show as one line in the status area; the kernel carries on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as w

from .errors import AneNotebookError, ModelLoadError
from .escape import html_text
from .model.examples import EXAMPLES
from .model.upload import save_upload, uploaded_files
from .placement.devices import CHIPS, DEFAULT_CHIP, ComputeUnits
from .placement.result import Backend

PATH_CHOICE = "a path…"
UPLOAD_CHOICE = "an upload…"


class Explorer(w.VBox):
    """The explorer UI. Its controls are attributes, so tests (and users) can drive it."""

    def __init__(self, model: str | None = None) -> None:
        example_choices = [f"example:{n}" for n in EXAMPLES]
        self.source = w.Dropdown(
            options=[*example_choices, PATH_CHOICE, UPLOAD_CHOICE],
            value=example_choices[0],
            description="Model",
        )
        self.path = w.Text(
            placeholder="path/to/Model.mlpackage or .mlmodel",
            description="Path",
            layout=w.Layout(width="480px"),
        )
        self.upload = w.FileUpload(
            accept=".mlmodel,.zip",
            multiple=False,
            description="Upload .mlmodel / zipped .mlpackage",
        )
        self.units = w.ToggleButtons(
            options=[u.value for u in ComputeUnits],
            value=ComputeUnits.ALL.value,
            description="Units",
        )
        self.chip = w.Dropdown(options=list(CHIPS), value=DEFAULT_CHIP, description="Chip")
        self.backend = w.Dropdown(
            # recorded needs a plan file, which the explorer does not take
            options=[b.value for b in Backend if b is not Backend.RECORDED],
            value=Backend.AUTO.value,
            description="Backend",
        )
        self.compare = w.Checkbox(value=False, description="compare all compute units")
        # Several chips side by side (estimates); one: that chip; none: the Chip dropdown's.
        self.chips = w.SelectMultiple(
            options=list(CHIPS), value=(), rows=3, description="Compare chips"
        )
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.progress = w.IntProgress(
            value=0,
            min=0,
            max=3,
            description="",
            layout=w.Layout(width="160px", visibility="hidden"),
        )
        self.status = w.HTML(value="")
        self.output = w.Output()
        self.report: Any = None

        self.source.observe(self._on_source, names="value")
        self.path.observe(self._on_path, names="value")
        self.run_button.on_click(lambda _b: self.run())
        if model is not None:
            if model in example_choices:
                self.source.value = model
            else:
                self.source.value = PATH_CHOICE
                self.path.value = model
        self._on_source()
        super().__init__(
            [
                w.HBox([self.source, self.path, self.upload]),
                self.units,
                w.HBox([self.chip, self.backend, self.compare]),
                self.chips,
                w.HBox([self.run_button, self.progress, self.status]),
                self.output,
            ]
        )

    # --- control logic ----------------------------------------------------------------
    def _on_source(self, _change: Any = None) -> None:
        self.path.layout.display = "" if self.source.value == PATH_CHOICE else "none"
        self.upload.layout.display = "" if self.source.value == UPLOAD_CHOICE else "none"

    def _on_path(self, _change: Any = None) -> None:
        """Validate the path as it is typed: say at once if it cannot be a model."""
        self.status.value = ""
        p = self.path.value.strip()
        if not p:
            return
        problem = _path_problem(Path(p).expanduser())
        if problem:
            self._error(f"{p}: {problem}")

    def selected_model(self) -> str:
        """The model argument for profile(): a path or example:NAME. Raises on bad input."""
        choice = self.source.value
        if choice == PATH_CHOICE:
            p = self.path.value.strip()
            if not p:
                raise ModelLoadError("(no path)", "type the path of an .mlpackage or .mlmodel")
            return str(Path(p).expanduser())
        if choice == UPLOAD_CHOICE:
            return str(self._save_upload())
        return str(choice)

    def _save_upload(self) -> Path:
        files = uploaded_files(self.upload.value)
        if not files:
            raise ModelLoadError("(upload)", "choose an .mlmodel or a zipped .mlpackage first")
        name, content = files[0]
        return save_upload(name, content)

    # --- running ------------------------------------------------------------------------
    def run(self) -> Any:
        """Profile with the current settings and draw the result. Returns the report."""
        from .api import ProfileRequest, run

        self.run_button.disabled = True
        self.progress.layout.visibility = "visible"
        self.progress.value = 0
        self.status.value = "running…"
        try:
            model = self.selected_model()
            self.progress.value = 1
            chips = tuple(self.chips.value)
            request = ProfileRequest(
                model,
                compute_units=self.units.value,
                chip=chips[0] if len(chips) == 1 else None if chips else self.chip.value,
                backend=self.backend.value,
                compare=self.compare.value,
                chips=chips if len(chips) > 1 else (),
            )
            result: Any = run(request)
            self.progress.value = 2
            self._draw(result)
            self.progress.value = 3
        except AneNotebookError as e:
            # Clear the previous result: a diagram left below an error would look like the
            # answer for the settings that just failed.
            self.report = None
            self.output.outputs = ()
            self._error(str(e))
            return None
        finally:
            self.run_button.disabled = False
            self.progress.layout.visibility = "hidden"
        self.report = result
        first = result if not hasattr(result, "reports") else next(iter(result.reports.values()))
        self.status.value = (
            f"<span>done: {html_text(first.model.name)} · source "
            f"<b>{html_text(first.source)}</b></span>"
        )
        return result

    def _draw(self, result: Any) -> None:
        # The same bundle the magic displays: a text twin and the standalone diagram in a
        # sandboxed iframe. It needs no BokehJS preloaded in the notebook page (jupyter_bokeh's
        # BokehModel does: bokeh/jupyter_bokeh#150) and works offline.
        # append_display_data (rather than `with self.output:`) also works when no kernel is
        # capturing output, e.g. in tests. Replacing `outputs` re-draws on each run.
        self.output.outputs = ()
        self.output.append_display_data(result)

    def _error(self, message: str) -> None:
        self.status.value = f'<span style="color:#b00020">error: {html_text(message, 400)}</span>'


def explore(model: str | None = None) -> Explorer:
    """Open the explorer: pick a model, compute units, chip and backend, then Run.

    In a notebook cell, `an.explore("example:transformer")` shows it with that model selected.
    Its controls are attributes, so a script can drive it too:

        >>> import ane_notebook as an
        >>> ex = an.explore("example:lstm")
        >>> ex.selected_model()
        'example:lstm'
        >>> ex.run().model.name  # what the Run button does; the report is drawn below it
        'lstm'
    """
    return Explorer(model)


# --- helpers (no widgets) ---------------------------------------------------------------


def _path_problem(p: Path) -> str:
    if not p.exists():
        return "no such file or folder"
    if p.suffix not in (".mlpackage", ".mlmodel"):
        return "not a Core ML model (expected .mlpackage or .mlmodel)"
    if p.suffix == ".mlpackage" and not p.is_dir():
        return "an .mlpackage must be a folder"
    return ""
