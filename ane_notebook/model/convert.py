"""Convert MIL programs with coremltools, one thread at a time, without its progress bars.

`ct.convert` draws three tqdm bars ("Running MIL ... pipeline") for every conversion. When we
convert our own example models or a program a user hands to `profile()`, those bars are noise
around our own output, so they are switched off for the duration of the call.

coremltools' MIL builder and converter keep global state (the builder's current block, the
pass pipeline's settings), so programs built or converted in several threads at once corrupt
each other: building examples from four threads failed in all four ("Var ... not visible in
the block"). Everything here that builds or converts MIL holds `COREMLTOOLS_LOCK`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import coremltools as ct

__all__ = ["COREMLTOOLS_LOCK", "convert_quietly"]

# Re-entrant: building an example holds it around both the MIL builder and convert_quietly.
COREMLTOOLS_LOCK = threading.RLock()


@contextlib.contextmanager
def _no_pass_progress() -> Iterator[None]:
    try:
        from coremltools.converters.mil.mil.passes import pass_pipeline
    except ImportError:  # a coremltools layout we do not know: leave it as it is
        yield
        return
    original = getattr(pass_pipeline, "tqdm", None)
    if original is None:
        yield
        return

    def quiet(iterable: Any, *args: Any, **kwargs: Any) -> Any:
        return iterable

    pass_pipeline.tqdm = quiet
    try:
        yield
    finally:
        pass_pipeline.tqdm = original


def convert_quietly(*args: Any, **kwargs: Any) -> Any:
    """`coremltools.convert` with the pass-pipeline progress bars switched off, holding
    `COREMLTOOLS_LOCK` (the bars are switched off by patching a module global, too)."""
    with COREMLTOOLS_LOCK, _no_pass_progress():
        return ct.convert(*args, **kwargs)
