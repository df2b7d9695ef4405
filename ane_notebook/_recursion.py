"""`bounded_recursion()`: run a C JSON parser so that a raised recursion limit cannot crash.

The standard library's JSON scanner and msgspec bound their nesting by the interpreter's
recursion limit, in C (on Python 3.11): with the limit raised far enough (a user's
`sys.setrecursionlimit`), deeply nested JSON overflows the C stack and the process dies
instead of raising RecursionError (measured: a limit of 50,000 and JSON nested 100,000 deep
crash it; 20,000 raise). While they parse, the limit is held at most `levels` above the
current depth: relative, so that a call from deep in a stack is not refused for the frames
below it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

MAX_PARSE_RECURSION = 10_000


def _depth() -> int:
    """The number of frames on the calling thread's stack."""
    frame = sys._getframe(1)
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]  # None at the bottom
    return depth


@contextmanager
def bounded_recursion(levels: int = MAX_PARSE_RECURSION) -> Iterator[None]:
    """Run a C parser with the recursion limit at most `levels` above the current depth,
    restored after. The limit is the interpreter's, so another thread meanwhile sees the lower
    one too."""
    old = sys.getrecursionlimit()
    cap = old if old <= levels else _depth() + levels
    if old <= cap:
        yield
        return
    sys.setrecursionlimit(cap)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
