"""Errors a user can act on.

Every error raised on bad input is an `AneNotebookError` whose message is one line naming the
file (or value) and the problem. The CLI, the magic and the widget print that line and go on;
tracebacks are only for bugs (or `--debug`).
"""

from __future__ import annotations

import os


class AneNotebookError(Exception):
    """Base class: the message is a single line a user can act on."""

    def __init__(self, message: str) -> None:
        # Collapse newlines so that a message is always one line, whatever a library said.
        super().__init__(" ".join(str(message).split()))


class ModelLoadError(AneNotebookError):
    """A model could not be read: `<path>: <problem>`."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class PlanError(AneNotebookError):
    """A recorded plan or report JSON is invalid or does not belong to the model."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CoreMLUnavailableError(AneNotebookError):
    """The live Core ML backend was asked for where Core ML cannot run."""


class CoreMLRunError(AneNotebookError):
    """Core ML crashed, hung or failed while compiling, planning or predicting."""


class UsageError(AneNotebookError):
    """An argument is not one we accept (unknown compute units, chip, backend...)."""
