"""ane_notebook: see where a Core ML model runs (Neural Engine, GPU, CPU), why, and what the
crossings between processors cost.

    import ane_notebook as an
    r = an.profile("example:transformer", compute_units="ALL", chip="M1")
    print(r.to_text())

In a notebook: `%load_ext ane_notebook`, then `%ane_profile example:transformer`.

The light part of the API (enums and errors) is imported here for real. What needs numpy,
coremltools, bokeh or ipywidgets is imported on first use, so that `import ane_notebook` and
`%load_ext ane_notebook` stay instant (coremltools alone takes a second or two to import).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from .errors import (
    AneNotebookError,
    CoreMLRunError,
    CoreMLUnavailableError,
    ModelLoadError,
    PlanError,
    UsageError,
)
from .placement.devices import ComputeUnits, Device, Evidence
from .placement.result import Backend, PlacementSource, ReasonKind

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from .api import ProfileRequest, profile, profile_all_units, record, run
    from .baseline import diff
    from .check import CheckResult
    from .comparison import compare
    from .model.load import load_model
    from .report import ProfileReport, ReportSet, load_report
    from .widgets import explore

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


# name -> (module, attribute), imported on first use.
_LAZY: dict[str, tuple[str, str]] = {
    "profile": ("api", "profile"),
    "profile_all_units": ("api", "profile_all_units"),
    "record": ("api", "record"),
    "run": ("api", "run"),
    "ProfileRequest": ("api", "ProfileRequest"),
    "load_report": ("report", "load_report"),
    "ProfileReport": ("report", "ProfileReport"),
    "ReportSet": ("report", "ReportSet"),
    "load_model": ("model.load", "load_model"),
    "explore": ("widgets", "explore"),
    "compare": ("comparison", "compare"),
    "diff": ("baseline", "diff"),
    "CheckResult": ("check", "CheckResult"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value  # once imported, a plain attribute
        return value
    raise AttributeError(f"module 'ane_notebook' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext ane_notebook`: register the %ane_profile magics.

    Example (in a notebook cell)::

        %load_ext ane_notebook
        %ane_profile example:transformer --compute-units CPU_AND_NE
    """
    from .magics import load_ipython_extension as _load

    _load(ipython)


__all__ = [
    "AneNotebookError",
    "Backend",
    "CheckResult",
    "ComputeUnits",
    "CoreMLRunError",
    "CoreMLUnavailableError",
    "Device",
    "Evidence",
    "ModelLoadError",
    "PlacementSource",
    "PlanError",
    "ProfileReport",
    "ProfileRequest",
    "ReasonKind",
    "ReportSet",
    "UsageError",
    "__version__",
    "compare",
    "diff",
    "explore",
    "load_ipython_extension",
    "load_model",
    "load_report",
    "profile",
    "profile_all_units",
    "record",
    "run",
]
