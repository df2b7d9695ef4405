"""The cache folder ane_notebook writes to (example models, uploads), never the user's folders.

The root is ``$ANE_NOTEBOOK_CACHE`` when set, else ``platformdirs.user_cache_dir("ane_notebook")``.
`cache_folder` creates one sub-folder of it and turns every way that can fail (the variable
naming an unknown user's home, a file in the way, a read-only or full disk) into a one-line
`ModelLoadError` naming the folder and the problem.

`cached_build` makes a cache entry (a file or folder) safe under concurrency and faults:

* **one builder at a time**: a `threading.Lock` for the threads of this process, and an
  exclusive ``fcntl.flock`` on ``<cache root>/locks/<folder>-<entry>.lock`` for other
  processes (Linux and macOS; lock files are never deleted, since deleting a file others may
  be waiting to lock would let two builders in). Whoever waited finds the entry built;
* **atomic publish**: the entry is built in a temporary folder next to it and renamed into
  place whole, so readers (who take no lock) see no entry or a finished one;
* **damage is repaired**: an entry that fails its check (a package without ``Manifest.json``,
  a spec that does not parse: what a crash or a full disk leaves) is rebuilt, not served, and
  temporary folders left by builders that died are removed by the next builder;
* **clear errors**: a read-only cache, a full disk, a file where a folder must go or an unknown
  user's home are each one line (a `ModelLoadError` naming the folder), and leave nothing
  behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

from ..errors import ModelLoadError

try:
    import fcntl
except ImportError:  # Windows: threads are still serialised; processes are not
    fcntl = None  # type: ignore[assignment]

__all__ = ["CACHE_ENV", "build_lock", "cache_folder", "cache_root", "cached_build", "os_problem"]

CACHE_ENV = "ANE_NOTEBOOK_CACHE"
_LOCKS = "locks"
# Marks a cache entry's temporary build folder: ".<entry>.build-<random>".
_BUILD_TAG = ".build-"


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


# --------------------------------------------------------------------------------------------
# One builder at a time

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(key: str) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(key, threading.Lock())


@contextmanager
def build_lock(name: str, label: str) -> Iterator[None]:
    """Hold the lock called `name` (a file name): across the threads of this process and, with
    ``flock``, across processes. Blocks until the holder is done; released on exit, also when
    the holder's process dies (the kernel drops its flock)."""
    folder = cache_folder(_LOCKS, label)
    path = folder / f"{name}.lock"
    with _thread_lock(os.fspath(path)):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ModelLoadError(
                label, f"cannot write to cache folder {folder}: {os_problem(e)}"
            ) from e
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except OSError as e:  # e.g. ENOLCK on a network file system without locks
                    raise ModelLoadError(
                        label, f"cannot lock {path} in the cache: {os_problem(e)}"
                    ) from e
            yield
        finally:
            os.close(fd)  # releases the flock


# --------------------------------------------------------------------------------------------
# Build, check, publish


def cached_build(
    folder_name: str,
    entry: str,
    label: str,
    build: Callable[[Path], None],
    complete: Callable[[Path], bool],
) -> Path:
    """The cache entry ``<cache root>/<folder_name>/<entry>``, built first if it is missing or
    fails `complete` (see the module docstring).

    `build(path)` must write the entry at `path` (inside a temporary folder); an `OSError` it
    raises becomes a one-line `ModelLoadError` naming the folder. `complete(path)` says whether
    an entry is whole; it is asked without the lock, so it must only read.
    """
    folder = cache_folder(folder_name, label)
    final = folder / entry
    if complete(final):
        return final
    with build_lock(f"{folder_name}-{entry}", label):
        if complete(final):
            return final  # built by another thread or process while we waited for the lock
        _remove_stale_builds(folder, entry)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{entry}{_BUILD_TAG}", dir=folder))
        except OSError as e:
            raise ModelLoadError(
                label, f"cannot write to cache folder {folder}: {os_problem(e)}"
            ) from e
        try:
            built = tmp / entry
            try:
                build(built)
            except OSError as e:
                raise ModelLoadError(
                    label, f"cannot write to cache folder {folder}: {os_problem(e)}"
                ) from e
            if not complete(built):
                raise ModelLoadError(
                    label, f"the model built in cache folder {folder} is incomplete (disk full?)"
                )
            return _publish(built, final, tmp, complete, label)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # our own temporary folder only


def _publish(
    built: Path, final: Path, tmp: Path, complete: Callable[[Path], bool], label: str
) -> Path:
    """Rename `built` into place as `final` (one rename: readers never see half of it)."""
    if os.path.lexists(final):
        if complete(final):
            # Written by a builder that does not take our lock (an older ane_notebook): theirs
            # is as good as ours.
            return final
        # A damaged entry: move it aside, into our temporary folder (removed with it).
        try:
            os.rename(final, tmp / "damaged")
        except FileNotFoundError:
            pass  # moved aside by someone else meanwhile
        except OSError as e:
            raise ModelLoadError(
                label, f"cannot replace the damaged cache entry {final}: {os_problem(e)}"
            ) from e
    try:
        os.rename(built, final)
    except OSError as e:
        if complete(final):
            return final  # another (lockless) builder renamed its copy in first
        raise ModelLoadError(
            label, f"cannot write to cache folder {final.parent}: {os_problem(e)}"
        ) from e
    return final


def _remove_stale_builds(folder: Path, entry: str) -> None:
    """Temporary folders of `entry` left by builders that died: only the lock holder builds
    `entry`, so any that exist while we hold the lock are abandoned."""
    prefix = f".{entry}{_BUILD_TAG}"
    try:
        stale = [p for p in folder.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return  # the build that follows reports what is wrong with the folder
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
