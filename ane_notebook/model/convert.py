"""Convert MIL programs with coremltools, without its per-pass progress bars.

`ct.convert` draws three tqdm bars ("Running MIL ... pipeline") for every conversion. When we
convert our own example models or a program a user hands to `profile()`, those bars are noise
around our own output, so they are switched off for the duration of the call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import coremltools as ct


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
    """`coremltools.convert` with the pass-pipeline progress bars switched off."""
    with _no_pass_progress():
        return ct.convert(*args, **kwargs)
