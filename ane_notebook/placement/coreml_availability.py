"""Whether the live Core ML backend can run here (`coreml_available`), the macOS version, and
the live run's default time limit (`DEFAULT_TIMEOUT_S`, which every front end shows as a default).

Its own small module: `profile(backend="auto")` asks on every call, and `coreml.py`, which runs
Core ML, imports the plan mapping, the E5 parser, statistics and importlib.metadata: ~26 ms of
the cold `ane-notebook profile example:mobilenet` off macOS, where the answer is a one-line "no"
(issue 14). The time limit lives here rather than in `isolation.py`, which applies it, because
that module imports multiprocessing (~8 ms of the same cold run). `coreml.py` re-exports these
names.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys

__all__ = ["DEFAULT_TIMEOUT_S", "MIN_MACOS", "coreml_available", "macos_version"]

# How long one child (a compile, or one compute-unit setting) may take before it is killed: a
# first Neural Engine compile has been reported to take minutes (docs/evidence.md#live.timeout),
# so the default leaves room for the slow end; `timeout_s=` changes it.
DEFAULT_TIMEOUT_S = 600.0

# MLComputePlan and MLModelStructure appeared in macOS 14.4 (coremltools' compute_plan tests skip
# below it; Apple's docs list macOS 14.4+ for MLComputePlan).
MIN_MACOS = (14, 4)


def _parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def macos_version() -> str:
    """ "14.5" and the like ("" off macOS).

    A Python built against an older SDK is told a compatibility version by macOS: "10.16" for
    macOS 11-15 and "16.0" for macOS 26 (Apple's SYSTEM_VERSION_COMPAT scheme), and
    `platform.mac_ver()` repeats it. `sw_vers` asked with SYSTEM_VERSION_COMPAT=0 tells the real
    version (coremltools asks sw_vers too: utils._macos_version), so it is asked first
    (docs/evidence.md#live.macos_version).
    """
    if sys.platform != "darwin":
        return ""
    import subprocess  # here: ~2 ms of every cold command off macOS, which never runs it

    try:
        done = subprocess.run(
            ["sw_vers", "-productVersion"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
            env={**os.environ, "SYSTEM_VERSION_COMPAT": "0"},
        )
        real = done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        real = ""
    return real if _parse_version(real) else platform.mac_ver()[0]


def coreml_available() -> tuple[bool, str]:
    """Whether the live Core ML backend can run here, and a one-line reason.

    True only on macOS >= 14.4 with coremltools' native library importable and its compute-plan
    proxy loaded. Nothing here loads a model: it is cheap and safe to call for backend="auto".
    """
    if sys.platform != "darwin":
        return False, f"Core ML needs macOS; this is {platform.system() or sys.platform}"
    mac = macos_version()
    version = _parse_version(mac)
    if version < MIN_MACOS:
        need = ".".join(map(str, MIN_MACOS))
        return False, (
            f"macOS {mac or 'unknown'} is older than {need}, which Core ML's compute "
            "plan (MLComputePlan) needs"
        )
    try:
        # The native extension is what every Core ML call goes through; coremltools itself only
        # logs a warning when it is missing (e.g. installed from an sdist), so check it directly.
        importlib.import_module("coremltools.libcoremlpython")
    except ImportError as exc:
        return False, (
            f"coremltools' native library is missing ({exc}); install coremltools "
            "from a macOS wheel"
        )
    compute_plan = importlib.import_module("coremltools.models.compute_plan")
    if getattr(compute_plan, "_MLComputePlanProxy", None) is None:
        return False, (
            "coremltools' native library has no compute-plan support (MLComputePlan); "
            "upgrade coremltools to 8.0 or newer"
        )
    ct = importlib.import_module("coremltools")
    return True, f"Core ML available (macOS {mac}, coremltools {ct.__version__})"
