"""`[tool.ane_notebook.check]` in the user's pyproject.toml: check settings kept with the project.

The table is looked for the way pytest looks for `[tool.pytest.ini_options]`: the nearest
pyproject.toml, from the current directory upward, that has the table. Keys are the command's
option names without the dashes in front (`min-ane-ops = 0.9`; underscores are accepted too);
`baseline` is a path relative to that pyproject.toml. Options given on the command line win.

    [tool.ane_notebook.check]
    min-ane-ops = 0.9
    max-segments = 3
    require-ane = "linear|conv|matmul"
    allow-off-ane = "gather|topk|cast"
    fail-on-hazard = true

TOML is read with `tomllib` (Python 3.11+) or, on Python 3.10, the `tomli` package it came
from (a dependency for 3.10 only), imported when a pyproject.toml is read: the command line
builds its `check` options (`checkcli.py`) from `DEFAULT_TIME_TOLERANCE` on every command, and
the TOML parser is ~3 ms (with `datetime`) of a ~70 ms cold `ane-notebook examples` (issue 14).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from types import ModuleType

# --fail-on-regression's default time tolerance: our own choice (docs/evidence.md,
# "check.DEFAULT_TIME_TOLERANCE"):
# estimated times are deterministic for a given model and chip, so a growth beyond 5% is a real
# change of placement or shapes, while smaller ones are left to reviewers (they are printed).
# Here rather than in check.py (which re-exports it) so that the command line's help shows it
# without importing the checks.
DEFAULT_TIME_TOLERANCE = 0.05

# key -> (type check, what it must be), in the command's option order.
_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "min_ane_ops": ((int, float), "a fraction between 0 and 1"),
    "min_ane_time": ((int, float), "a fraction between 0 and 1"),
    "max_crossings": (int, "a whole number"),
    "max_segments": (int, "a whole number"),
    "require_ane": (str, "a regular expression string"),
    "allow_off_ane": (str, "a regular expression string"),
    "baseline": (str, "a path (relative to pyproject.toml)"),
    "fail_on_regression": (bool, "true or false"),
    "fail_on_hazard": (bool, "true or false"),
    "time_tolerance": ((int, float), "a fraction >= 0"),
}


@dataclass(frozen=True)
class CheckConfig:
    """The settings found (keys as CheckSettings fields) and the file they came from."""

    path: Path
    values: Mapping[str, Any]


def find_config(start: Path | None = None) -> CheckConfig | None:
    """The nearest pyproject.toml (from `start`, default the current directory, upward) that has
    `[tool.ane_notebook.check]`; None when there is none."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            table = _table(candidate)
            if table is not None:
                return CheckConfig(candidate, _values(candidate, table))
    return None


def _toml() -> ModuleType:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    module: ModuleType = tomllib
    return module


def _table(path: Path) -> Mapping[str, Any] | None:
    tomllib = _toml()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from None
    table = data.get("tool", {}).get("ane_notebook", {}).get("check")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.ane_notebook.check] must be a table")
    return table


def _values(path: Path, table: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw, value in table.items():
        key = raw.replace("-", "_")
        if key not in _KEYS:
            known = ", ".join(k.replace("_", "-") for k in _KEYS)
            raise UsageError(
                f"{path}: unknown key {raw!r} in [tool.ane_notebook.check]; known keys: {known}"
            )
        types, what = _KEYS[key]
        # bool is an int in Python; only the boolean keys take one.
        is_bool = isinstance(value, bool)
        if not isinstance(value, types) or (is_bool and types is not bool):
            raise UsageError(
                f"{path}: [tool.ane_notebook.check] {raw} must be {what}, got {value!r}"
            )
        if key == "baseline":
            value = str((path.parent / str(value)).resolve())
        out[key] = value
    return out
