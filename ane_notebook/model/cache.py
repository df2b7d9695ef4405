"""The cache folder ane_notebook writes to (example models, uploads), never the user's folders.

The root is ``$ANE_NOTEBOOK_CACHE`` when set, else ``platformdirs.user_cache_dir("ane_notebook")``.
`cache_folder` creates one sub-folder of it and turns every way that can fail (the variable
naming an unknown user's home, a file in the way, a read-only or full disk) into a one-line
`ModelLoadError` naming the folder and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from ..errors import ModelLoadError

__all__ = ["CACHE_ENV", "cache_folder", "cache_root", "os_problem"]

CACHE_ENV = "ANE_NOTEBOOK_CACHE"


def cache_root(label: str | None = None) -> Path:
    """Where ane_notebook caches files: ``$ANE_NOTEBOOK_CACHE`` or the user cache folder.

    Raises `ModelLoadError` (named `label`, else the variable) when the variable starts with
    ``~user`` for a user that does not exist: `Path.expanduser` would leave the ``~`` in place,
    and the cache would silently become a folder named ``~user`` in the working directory.
    """
    override = os.environ.get(CACHE_ENV)
    if not override:
        return Path(platformdirs.user_cache_dir("ane_notebook"))
    expanded = os.path.expanduser(override)
    if expanded.startswith("~"):
        user = override[1:].split("/", 1)[0]
        whose = f"of an unknown user '{user}'" if user else "of the current user, but HOME is unset"
        raise ModelLoadError(
            label or f"${CACHE_ENV}",
            f"${CACHE_ENV} is {override!r}, the home folder {whose}: set it to a folder",
        )
    return Path(expanded)


def os_problem(e: OSError) -> str:
    """What went wrong, for a message: the system's words ("No space left on device")."""
    return str(e.strerror or e)


def cache_folder(name: str, label: str) -> Path:
    """``<cache root>/<name>``, created if needed. `label` names what needed it in errors."""
    folder = cache_root(label) / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelLoadError(
            label,
            f"cannot create cache folder {folder}: {os_problem(e)} (set ${CACHE_ENV} to a "
            "writable folder)",
        ) from e
    return folder
