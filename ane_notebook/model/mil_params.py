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
import importlib.util
import json
import re
from importlib import resources
from pathlib import Path
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


# coremltools/version.py's one assignment: `__version__ = "9.0"  # VERSION_STRING`.
_VERSION_LINE = re.compile(rb"""^__version__\s*=\s*["']([^"'\n]{1,64})["']""", re.MULTILINE)


def installed_coremltools_version() -> str | None:
    """The installed coremltools release, None when it is not installed.

    Read from the package's own ``version.py`` (located by ``find_spec``, which runs nothing):
    ``importlib.metadata`` costs ~25 ms to import and search, a sixteenth of the cold
    ``ane-notebook profile example:mobilenet`` (issue 14). Any other layout asks
    ``importlib.metadata``, imported only then."""
    spec = importlib.util.find_spec("coremltools")
    if spec is None:
        return None
    for folder in spec.submodule_search_locations or ():
        try:
            found = _VERSION_LINE.search((Path(folder) / "version.py").read_bytes()[:4096])
        except OSError:
            continue
        if found:
            return found.group(1).decode("ascii", "replace")
    from importlib import metadata

    try:
        return metadata.version("coremltools")
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def shipped_table() -> dict[str, list[str]] | None:
    """The shipped table when it was made from the installed coremltools release, else None."""
    installed = installed_coremltools_version()
    if installed is None:
        return None
    try:
        data: Any = json.loads(resources.files(__package__).joinpath(_FILE).read_bytes())
    except (OSError, ValueError):
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
