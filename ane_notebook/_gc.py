"""`gc_paused()`: run a step that allocates millions of small objects without the cycle collector.

Loading, estimating and reporting a 50,000-op model creates a few million tuples, dicts and
frozen dataclasses, none of which form reference cycles. CPython's cycle collector still walks
them: every few thousand allocations it runs, and its occasional full collections traverse the
whole heap, so their cost grows with the heap, i.e. with the model. Measured on the 50k-op
benchmark model (benchmarks/README.md): 1.5 s of a 4.1 s profile was collector time. Pausing
it for the duration of such a step is what pip, mypy and others do for the same reason;
reference counting still frees everything as usual, and any cycle made meanwhile is collected
at the next collection after the step.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cycle collector inside the block; restore its previous state after.

    Nests: an inner block leaves the collector disabled when an outer one disabled it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def survivors_promoted() -> Iterator[None]:
    """Around a step that makes a few hundred thousand objects that stay alive (the records of a
    loaded report): move them into the collector's oldest generation at the end.

    With the collector paused, the first young collection after the step would walk all of them
    (~0.07 s for a 50k-op report, GitHub issue 14) to find nothing to free, and the next older
    generation's would walk them again; in the oldest generation only full collections walk
    them, as they would anyway. `gc.freeze()` then `gc.unfreeze()` is that move (documented:
    unfreeze puts the frozen objects into the oldest generation). It moves every tracked object,
    so the young generations are collected first: garbage the caller made before the step is
    freed now, not kept until a full collection (objects moved so do not count towards one).
    Skipped when objects are frozen already (e.g. by a server before it forks), since unfreeze
    would release those too.
    """
    promote = gc.get_freeze_count() == 0
    if promote:
        gc.collect(1)
    yield
    if promote:
        gc.freeze()
        gc.unfreeze()
