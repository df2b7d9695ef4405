"""Errors a user can act on.

Every error raised on bad input is an `AneNotebookError` whose message is one line naming the
file (or value) and the problem. The CLI, the magic and the widget print that line and go on;
tracebacks are only for bugs (or `--debug`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from .escape import plain

# Longer messages are cut: they are printed to terminals and status bars, and the start (the
# file, then the problem) is what matters.
MAX_MESSAGE_CHARS = 2000


class AneNotebookError(Exception):
    """Base class: the message is a single line a user can act on."""

    def __init__(self, message: str) -> None:
        # Collapse newlines so that a message is always one line, whatever a library said, and
        # escape what is left: messages quote op names and paths, which come from the model or
        # the file system and may hold terminal escape sequences or undecodable bytes.
        super().__init__(plain(" ".join(str(message).split()), MAX_MESSAGE_CHARS))


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
    """Core ML crashed, hung or failed while compiling, planning or predicting.

    `details` holds what does not fit the one-line message, such as the child process's
    traceback when Core ML raised an exception ("" when there is nothing more to say).
    """

    details: str = ""

    def __init__(self, message: str, *, details: str = "") -> None:
        self.details = details
        super().__init__(message)


class UsageError(AneNotebookError, ValueError):
    """An argument is not one we accept (unknown compute units, chip, backend...).

    Also a ValueError, which is what Python code expects of a bad argument value.
    """


class UnknownOpError(AneNotebookError, KeyError):
    """No op of that name in a report or graph (also a KeyError, as for a dict lookup)."""

    def __str__(self) -> str:
        return Exception.__str__(self)  # KeyError would repr() the one-line message


class OutputError(AneNotebookError):
    """A file the user asked us to write (`--json`, `--html`...) cannot be written:
    `<path>: cannot write: <why>`."""


@contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Report a failure to write a file the user named (`--json`, `--html`...) as one line."""
    try:
        yield
    except OSError as e:
        raise OutputError(f"{os.fspath(path)}: cannot write: {e.strerror or e}") from e
