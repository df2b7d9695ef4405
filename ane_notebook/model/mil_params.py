"""The declared parameter order of every MIL op, as a table shipped with the package.

`mil_types.param_order` orders each op's inputs the way coremltools declares them. Asking
coremltools' op registry means importing its whole converter stack (1-3 s, GitHub issue 14), so
the registry of the coremltools release named in ``mil_params.json`` is stored there, and used
whenever that same release is installed; any other release is asked directly, so the order is
always the installed coremltools' own. `registry_table()` rebuilds the table
(``python -m ane_notebook.model.mil_params`` rewrites the file), and tests/test_load.py checks
that the file matches the installed coremltools when the release is the same.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
from importlib import resources
from typing import Any

__all__ = ["registry_table", "shipped_table"]

_FILE = "mil_params.json"


def registry_table() -> dict[str, list[str]]:
    """op type -> parameter names in declared order, from the installed coremltools."""
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry

    table: dict[str, list[str]] = {}
    for op_type, versions in sorted(SSAOpRegistry.core_ops.items()):
        if versions:
            table[op_type] = list(versions[max(versions)].input_spec.input_types)
    return table


@functools.cache
def shipped_table() -> dict[str, list[str]] | None:
    """The shipped table when it was made from the installed coremltools release, else None."""
    try:
        installed = importlib.metadata.version("coremltools")
        data: Any = json.loads(resources.files(__package__).joinpath(_FILE).read_bytes())
    except (importlib.metadata.PackageNotFoundError, OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("coremltools") != installed:
        return None
    ops = data.get("ops")
    return ops if isinstance(ops, dict) else None


def _write() -> None:
    import coremltools

    path = resources.files(__package__).joinpath(_FILE)
    rows = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in registry_table().items()]
    text = f'{{"coremltools": {json.dumps(coremltools.__version__)}, "ops": {{\n'
    text += ",\n".join(rows) + "\n}}\n"
    with resources.as_file(path) as p:
        p.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    _write()
