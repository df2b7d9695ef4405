"""Core ML's E5 per-op analytics, when a user supplies them: parse them into per-op entries.

Core ML's E5 runtime records, per op, the backends that can run it, the one it selected, an
estimated run time per backend and, for the backends it rejected, a validation message ("Invalid
input tensor format: fp32"): the only place where Core ML states *why* an op is not on the Neural
Engine. Core ML hands that dictionary out only through private API, in memory
(-[MLE5ProgramLibrary segmentationAnalyticsAndReturnError:], after the private
-[MLModelConfiguration setProfilingOptions:1]; freedomtan/coreml_modelc_profling). coremltools'
native layer (coremlpython/CoreMLPython.mm) calls neither, so the live run cannot get them and
says so: its reasons are Core ML's decisions plus our estimate beside them, labelled as such. The
analytics.mil files in Core ML's E5 bundle cache are the MIL *source* those analytics point
into (their keys are "analytics.mil:<line>:<column>"), not the analytics: nothing here reads
them. This module parses a dump a user made with such a tool (`parse_e5_analytics`); it is pure
Python: no Core ML call, no coremltools import.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._recursion import bounded_recursion
from .devices import Device

__all__ = [
    "AnalyticsEntry",
    "backend_device",
    "parse_e5_analytics",
]


# --------------------------------------------------------------------------------------------
# E5 backend names
# --------------------------------------------------------------------------------------------

# E5 backend names -> processor. Core ML's own rule (decompiled
# -[MLE5Engine _extractSupportedComputeUnitFromString:]) tests substrings in this order:
# "classic_cpu"/"mlc" -> CPU, "mps_graph" -> GPU, "ane" -> Neural Engine, "bnns"/"e5_minimal_cpu"
# -> CPU. coremltools' compute_plan_utils._get_backend_names is the inverse of the same table.
_BACKEND_RULES: tuple[tuple[str, Device], ...] = (
    ("classic_cpu", Device.CPU),
    ("mlc", Device.CPU),
    ("mps_graph", Device.GPU),
    ("ane", Device.ANE),
    ("bnns", Device.CPU),
    ("e5_minimal_cpu", Device.CPU),
)


def backend_device(backend: str) -> Device | None:
    """The processor an E5 backend name ("ane", "mps_graph", "bnns", ...) runs on."""
    name = backend.strip().strip('"')
    for needle, device in _BACKEND_RULES:
        if needle in name:
            return device
    return None


# --------------------------------------------------------------------------------------------
# The analytics dictionary
# --------------------------------------------------------------------------------------------
#
# What is public (freedomtan/coreml_modelc_profling: coreml_profiling_without_compute_plan*.m,
# without_compute_plan_output.txt, without_compute_plan_2.csv): with the private
# -[MLModelConfiguration setProfilingOptions:1], -[MLE5ProgramLibrary
# segmentationAnalyticsAndReturnError:] returns an NSDictionary keyed by source locations in the
# E5 bundle's analytics.mil (~/Library/Caches/<process>/com.apple.e5rt.e5bundlecache/<OS build>/
# <hash>/<hash>.bundle/<ANE arch, e.g. H13G>.bundle/analytics.mil:<line>:<column>), each value
#   { BackendSupport = { ane = 1; "classic_cpu" = 1; ... };  DebugName = "ios17.cast:8:12";
#     EstimatedRunTime = { ane = "0.0036..."; ... };  OpIndex = 3;
#     OpPath = ( {Type = Program;}, {Name = main; Type = Function;}, {Type = Block;},
#                {Output = "cast_173"; Type = Operation;} );
#     OpType = "ios17.cast";  SelectedBackend = "\"classic_cpu\"";
#     ValidationMessages = { ane = "Invalid input tensor format: fp32"; }; }
# Core ML builds MLComputePlan from this same dictionary (decompiled -[MLE5Engine
# executionSchedule]: preferred = SelectedBackend, supported = BackendSupport, cost weight =
# EstimatedRunTime[selected] / sum over ops, supportMessages = ValidationMessages), which is why
# its validation messages are the missing "why". Times are milliseconds (Core ML sums them in
# _totalRuntimeInMilliSecondsFromE5AnalyticsDictionary:).
#
# The parser reads that dictionary as printed by NSLog/-description (old-style OpenStep plist,
# with or without NSLog line prefixes) or as JSON. The keys and DebugNames locate each op in the
# bundle's analytics.mil (MIL text); the dictionary itself exists only in the process that asked
# Core ML for it (docs/evidence.md#plan.e5_analytics).

_ENTRY_KEYS = frozenset(
    {
        "BackendSupport",
        "EstimatedRunTime",
        "SelectedBackend",
        "OpPath",
        "ValidationMessages",
        "OpType",
    }
)


@dataclass(frozen=True)
class AnalyticsEntry:
    """Core ML's E5 analytics for one op."""

    name: str  # first output name (OpPath's Operation), else DebugName
    function: str | None
    op_type: str
    location: str = ""  # "<...>/analytics.mil:<line>:<column>"
    op_index: int | None = None
    backend_support: frozenset[str] = frozenset()
    selected_backend: str | None = None
    estimated_run_time: Mapping[str, float] = field(default_factory=dict)  # ms per backend
    validation_messages: Mapping[str, str] = field(default_factory=dict)  # backend -> message

    @property
    def selected_device(self) -> Device | None:
        return backend_device(self.selected_backend) if self.selected_backend else None

    @property
    def supported_devices(self) -> frozenset[Device]:
        return frozenset(d for d in map(backend_device, self.backend_support) if d is not None)


class _PlistError(ValueError):
    """Text is not an old-style (OpenStep) property list at this position."""


_UNQUOTED = re.compile(r"[A-Za-z0-9_.$:/+\-]+")
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    '"': '"',
    "\\": "\\",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _parse_plist(text: str, pos: int) -> tuple[Any, int]:
    """Parse one OpenStep plist value (dict, array, quoted or bare string) at `pos`."""
    pos = _skip_ws(text, pos)
    if pos >= len(text):
        raise _PlistError("unexpected end of text")
    char = text[pos]
    if char == "{":
        result: dict[str, Any] = {}
        pos += 1
        while True:
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == "}":
                return result, pos + 1
            key, pos = _parse_plist(text, pos)
            pos = _skip_ws(text, pos)
            if pos >= len(text) or text[pos] != "=":
                raise _PlistError(f"expected '=' at {pos}")
            value, pos = _parse_plist(text, pos + 1)
            result[str(key)] = value
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == ";":
                pos += 1
            elif pos >= len(text) or text[pos] != "}":
                raise _PlistError(f"expected ';' at {pos}")
    if char == "(":
        items: list[Any] = []
        pos += 1
        while True:
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == ")":
                return items, pos + 1
            value, pos = _parse_plist(text, pos)
            items.append(value)
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos += 1
            elif pos >= len(text) or text[pos] != ")":
                raise _PlistError(f"expected ',' at {pos}")
    if char == '"':
        out: list[str] = []
        pos += 1
        while pos < len(text):
            c = text[pos]
            if c == '"':
                return "".join(out), pos + 1
            if c == "\\" and pos + 1 < len(text):
                nxt = text[pos + 1]
                if nxt == "U" and re.fullmatch(r"[0-9a-fA-F]{4}", text[pos + 2 : pos + 6]):
                    out.append(chr(int(text[pos + 2 : pos + 6], 16)))
                    pos += 6
                    continue
                out.append(_ESCAPES.get(nxt, nxt))
                pos += 2
                continue
            out.append(c)
            pos += 1
        raise _PlistError("unterminated string")
    match = _UNQUOTED.match(text, pos)
    if match is None:
        raise _PlistError(f"unexpected {char!r} at {pos}")
    return match.group(0), match.end()


def _as_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no")
    return bool(value)


def _entry_from_analytics(location: str, raw: Mapping[str, Any]) -> AnalyticsEntry:
    name = ""
    function = None
    path = raw.get("OpPath")
    if isinstance(path, list):
        for component in path:
            if not isinstance(component, Mapping):
                continue
            kind = component.get("Type")
            if kind == "Function":
                function = str(component.get("Name", "")) or None
            elif kind == "Operation" and component.get("Output"):
                name = str(component["Output"])
    debug = str(raw.get("DebugName", ""))
    if not name:
        name = debug
    support = raw.get("BackendSupport")
    runtime = raw.get("EstimatedRunTime")
    messages = raw.get("ValidationMessages")
    selected = raw.get("SelectedBackend")
    times = {}
    if isinstance(runtime, Mapping):
        for backend, value in runtime.items():
            number = _as_float(value)
            if number is not None:
                times[str(backend)] = number
    return AnalyticsEntry(
        name=name,
        function=function,
        op_type=str(raw.get("OpType", "")),
        location=location,
        op_index=_as_int(raw.get("OpIndex")),
        backend_support=frozenset(str(b) for b, v in support.items() if _truthy(v))
        if isinstance(support, Mapping)
        else frozenset(),
        # Core ML trims the quotes itself (-[MLE5Engine _trimQuotesFromBackendName:])
        selected_backend=str(selected).strip().strip('"') or None if selected else None,
        estimated_run_time=times,
        validation_messages={str(b): str(m) for b, m in messages.items()}
        if isinstance(messages, Mapping)
        else {},
    )


def _collect(raw: Any, location: str, out: list[AnalyticsEntry]) -> None:
    """Gather entries from a parsed value: an entry, a {location: entry} dict, or a list."""
    if isinstance(raw, Mapping):
        if _ENTRY_KEYS & raw.keys():
            out.append(_entry_from_analytics(location, raw))
            return
        for key, value in raw.items():
            if isinstance(value, Mapping) and _ENTRY_KEYS & value.keys():
                out.append(_entry_from_analytics(str(key), value))
    elif isinstance(raw, list):
        for item in raw:
            _collect(item, location, out)


# An NSLog line: "<date> <process>[pid:tid] at <location>:<line>:<col>, {"
_LOGGED_ENTRY = re.compile(r"(?:^|\s)at (?P<loc>\S[^\n]*?:\d+:\d+),\s*(?=\{)", re.MULTILINE)


def parse_e5_analytics(text: str) -> dict[str, AnalyticsEntry]:
    """Parse Core ML's E5 per-op analytics into {op name: entry}.

    Accepts the dictionary as JSON, as an old-style plist (NSDictionary -description), or as
    NSLog output with one "at <location>, {...}" entry per op. Text with no recognisable entry
    gives {}; a malformed entry is skipped, the others kept. Op names are unique within one
    loaded function (Core ML analyses one function per model load); should a name repeat under
    another function, the later one is filed under "<function>/<name>".
    """
    entries: list[AnalyticsEntry] = []
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            with bounded_recursion():  # the C parser recurses once per level: see _recursion.py
                parsed = json.loads(stripped)
            _collect(parsed, "", entries)
        except json.JSONDecodeError:
            try:
                value, _ = _parse_plist(stripped, 0)
            except _PlistError:
                value = None
            _collect(value, "", entries)
    if not entries:
        for match in _LOGGED_ENTRY.finditer(text):
            try:
                value, _ = _parse_plist(text, match.end())
            except _PlistError:
                continue  # a truncated or garbled entry: keep the rest
            _collect(value, match.group("loc"), entries)

    result: dict[str, AnalyticsEntry] = {}
    for entry in entries:
        key = entry.name
        previous = result.get(key)
        if previous is not None and previous.function != entry.function:
            key = f"{entry.function}/{entry.name}"
        result.setdefault(key, entry)
    return result
