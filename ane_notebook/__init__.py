"""ane_notebook: see where a Core ML model runs (Neural Engine, GPU, CPU), why, and what the
crossings between processors cost.

    import ane_notebook as an
    r = an.profile("example:transformer", compute_units="ALL", chip="M1")
    print(r.to_text())

In a notebook: `%load_ext ane_notebook`, then `%ane_profile example:transformer`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__version__ = "0.1.0"


class _NoNativeProxyNoise(logging.Filter):
    """Drop coremltools' import-time "Failed to load _ML...Proxy" warnings off macOS.

    Off macOS coremltools has no native library by design, and it says so once per proxy class
    on import; users of the estimator would read that as something being broken.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not (msg.startswith("Failed to load _ML") and "Proxy" in msg)


if sys.platform != "darwin":
    logging.getLogger("coremltools").addFilter(_NoNativeProxyNoise())


_LAZY = {
    "profile": ("api", "profile"),
    "profile_all_units": ("api", "profile_all_units"),
    "load_report": ("report", "load_report"),
    "ProfileReport": ("report", "ProfileReport"),
    "load_model": ("model.load", "load_model"),
    "explore": ("widgets", "explore"),
    "compare": ("compare", "compare"),
    "diff": ("diff", "diff"),
    "CheckResult": ("check", "CheckResult"),
}


def __getattr__(name: str) -> Any:
    # Lazy: importing coremltools takes a second or two, and `%load_ext` should be instant.
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'ane_notebook' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext ane_notebook`: register the %ane_profile magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


__all__ = ["__version__", "load_ipython_extension", *_LAZY]
