"""`import_numpy_single_threaded()`: the command line's first numpy import, without BLAS threads.

numpy's wheels link OpenBLAS, which starts one worker thread per core when numpy is imported;
the workers spin for a while waiting for work before they sleep. ane_notebook never calls BLAS
(no dot, matmul or linalg: its arrays are sorted, summed, compared and indexed), so that spin is
pure waste: ~50 ms of CPU on a 2-core machine, a fifth of a cold `ane-notebook profile
example:mobilenet` (GitHub issue 14). OpenBLAS reads its thread count from the environment once,
when the library loads, so the variable is set only around the import and removed after it:
processes the command starts later inherit the environment as it was. A thread count the user
chose (any of the variables OpenBLAS reads) stands, and so does a numpy already imported.

Only the command line calls this. A program using the library keeps its own numpy setup.
"""

from __future__ import annotations

import importlib
import os
import sys

# What OpenBLAS reads for its thread count, in its order of precedence.
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def import_numpy_single_threaded() -> None:
    """Import numpy with one BLAS thread, unless it is imported or a thread count is set."""
    if "numpy" in sys.modules or any(v in os.environ for v in _THREAD_VARIABLES):
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        importlib.import_module("numpy")
    finally:
        os.environ.pop("OPENBLAS_NUM_THREADS", None)
