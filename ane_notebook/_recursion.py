"""`bounded_recursion()`: run a C JSON parser so that a raised recursion limit cannot crash.

The standard library's JSON scanner and msgspec bound their nesting by the interpreter's
recursion limit, in C: with the limit raised far enough (a user's `sys.setrecursionlimit`),
deeply nested JSON overflows the C stack and the process dies instead of raising
RecursionError (measured on Python 3.11: a limit of 50,000 and JSON nested 100,000 deep crash
it; 20,000 raise). While they parse, the limit is held at most `MAX_PARSE_RECURSION`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

MAX_PARSE_RECURSION = 10_000


@contextmanager
def bounded_recursion() -> Iterator[None]:
    """Run a C parser with the recursion limit at most `MAX_PARSE_RECURSION`, restored after.

    The limit is the interpreter's, so another thread meanwhile sees the lower one too."""
    old = sys.getrecursionlimit()
    if old <= MAX_PARSE_RECURSION:
        yield
        return
    sys.setrecursionlimit(MAX_PARSE_RECURSION)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
