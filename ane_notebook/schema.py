"""Reading report JSON safely: strict JSON (no NaN/Infinity), schema validation, clear errors.

Both `report.load_report` and the recorded-plan replay (`placement/recorded.py`) read the same
versioned format, described by `report.schema.json` in the package.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import stat
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastjsonschema
import numpy as np
import orjson

from ._gc import gc_paused
from ._recursion import bounded_recursion
from .errors import PlanError
from .report_validation import REPORT_FORMAT, REPORT_VERSION, validate_report

# Older versions this one still reads (and upgrades on reading).
READABLE_VERSIONS = (1, 2)
# A report or plan larger than this is not something we wrote: a report takes ~300 bytes per
# op (a 50k-op report is ~20 MB), and the loader refuses models of more than a million ops
# (model/limits.py MAX_OPS), so our own reports of any model we can load stay well below it.
MAX_REPORT_BYTES = 2**30


@lru_cache(maxsize=1)
def report_schema() -> dict[str, Any]:
    """The JSON Schema of the report format (ane_notebook/report.schema.json)."""
    text = resources.files("ane_notebook").joinpath("report.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _reject_constant(name: str) -> float:
    # JSON has no NaN/Infinity; Python's json accepts them unless told otherwise.
    raise ValueError(f"non-finite number {name} is not allowed")


def _finite_float(text: str) -> float:
    # "1e400" is valid JSON but parses to inf: as bad as Infinity for every sum we make.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _float_sized_int(text: str) -> int:
    # Integers beyond the float range are never written by us, and would overflow wherever a
    # count meets a float (times, byte rates).
    value = int(text)
    if len(text) > 300:
        try:
            float(value)
        except OverflowError:
            raise ValueError(f"integer {text[:20]}... is out of range") from None
    return value


def read_json_file(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file strictly; PlanError naming the file on any problem.

    Strict: no NaN or Infinity, no number that overflows a float, no unpaired surrogate, valid
    UTF-8, at most `MAX_REPORT_BYTES`. The fast parser (orjson) is used when the text holds no
    integer it could not keep exact (19 digits or more: orjson turns those into floats); the
    standard library's parser, with strict number hooks, reads the rest.
    """
    p = Path(path)
    return parse_json_bytes(read_json_bytes(p), p)


def read_json_bytes(p: Path) -> bytes:
    """The bytes of a report or plan file; PlanError naming it if it is not a readable regular
    file of at most `MAX_REPORT_BYTES`."""
    try:
        st = p.stat()
    except ValueError:  # a NUL byte, or a character no file name can hold
        raise PlanError(p, "no such file (not a valid file name)") from None
    except FileNotFoundError:
        raise PlanError(p, "no such file") from None
    except OSError as e:
        raise PlanError(p, f"cannot read: {e.strerror}") from None
    try:
        if stat.S_ISDIR(st.st_mode):
            raise PlanError(p, "is a folder, expected a .json file")
        if not stat.S_ISREG(st.st_mode):
            # A FIFO or device would block (or never end) when read.
            raise PlanError(p, "not a regular file, expected a .json file")
        if st.st_size > MAX_REPORT_BYTES:
            raise PlanError(
                p, f"larger than {MAX_REPORT_BYTES // 2**20} MB, the limit for a report or plan"
            )
        return p.read_bytes()
    except FileNotFoundError:
        raise PlanError(p, "no such file") from None
    except IsADirectoryError:
        raise PlanError(p, "is a folder, expected a .json file") from None
    except OSError as e:
        raise PlanError(p, f"cannot read: {e.strerror}") from None


def parse_json_bytes(raw: bytes, p: Path) -> Any:
    """`raw` (the bytes of file `p`) parsed strictly, as `read_json_file` says."""
    with gc_paused():  # a report parses into ~a million small objects, none in cycles
        if not _has_long_integer(raw):
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                # orjson's own limit, 1024 levels ("recursion limit" before 3.11, "depth limit"
                # since): not handed to the standard parser, which recurses in C
                if "recursion" in str(e) or "depth limit" in str(e):
                    raise PlanError(p, "not valid JSON (nested too deeply)") from None
                # otherwise the standard parser below says exactly what is wrong
        return _parse_exactly(raw, p)


# Integer literals orjson cannot keep exact (it reads integers beyond 64 bits as floats): a run of
# 19 digits or more. A run right after a "." is a fraction, which both parsers round to the same
# float: a float's shortest repr can hold 19 fraction digits (0.0050062515262515265), and a
# 50k-op report has such an estimate somewhere, which sent the whole file to the slow parser
# (0.32 s instead of orjson's 0.19 s on 29 MB). The scan maps every digit to "0", keeps "." and
# blanks the rest, so that one bytes search finds a run not preceded by a digit or a point:
# 20-30 ms on 29 MB, where a regex with a look-behind takes 0.6 s. It runs on pieces of 256 KiB
# (each overlapping the one before by a run's length, so no run is cut in two): memory the
# allocator reuses, in the cache, where one 29 MB copy was fresh pages (GitHub issue 14).
_DIGIT_CLASSES = bytes(
    ord("0") if ord("0") <= b <= ord("9") else b if b == ord(".") else ord(" ") for b in range(256)
)
_RUN = b"0" * 19
_PIECE = 1 << 18


# Before the scan, a sieve: any run of 2*step digits or more holds two neighbouring multiples
# of `step` and every byte between them. Reading every step-th byte (one in 154 for the
# 309-digit scan of `report_decode`) and checking whole the few windows whose both ends are
# digits rules out most files in ~1 ms, where the scan takes 20-30 ms on 29 MB (issue 14).
# Shorter runs are common: a float's 17-19 fraction digits make every window of the 19-digit
# scan a candidate, and the sieve then cost 45 ms on top of the scan's 20 ms.
_MIN_SIEVE_STEP = 64
_SIEVE_WINDOWS = 1 << 14  # windows checked at once: bounded memory on a digit-heavy file
# More candidate windows than one in this many, and the scan runs straight away: a review's file
# of 153 digits and a comma, repeated, took 0.10 s with every window checked, 0.045 s without.
_MAX_CANDIDATE_SHARE = 16


def _may_hold_digit_run(raw: bytes, digits: int) -> bool:
    """False only when `raw` certainly holds no run of `digits` digits (see above)."""
    step = digits // 2
    if step < _MIN_SIEVE_STEP or len(raw) < digits:
        return True
    data = np.frombuffer(raw, np.uint8)
    # bytes below "0" wrap around to large values: one comparison tells digits
    ends = (data[::step] - 48) < 10
    starts = np.flatnonzero(ends[:-1] & ends[1:]) * step
    if len(starts) * _MAX_CANDIDATE_SHARE > len(ends):
        return True  # digits everywhere: checking the windows would cost more than the scan
    span = np.arange(step + 1)
    for k in range(0, len(starts), _SIEVE_WINDOWS):
        windows = data[starts[k : k + _SIEVE_WINDOWS, None] + span]
        if ((windows - 48) < 10).all(axis=1).any():
            return True
    return False


def _has_long_integer(raw: bytes) -> bool:
    return has_digit_run(raw, len(_RUN))


def has_digit_run(raw: bytes, digits: int) -> bool:
    """Whether `raw` holds a run of at least `digits` digits not right after a digit or a "."
    (an integer literal, or an exponent, that long; see above)."""
    if not _may_hold_digit_run(raw, digits):
        return False
    run = b"0" * digits
    if raw[:digits].translate(_DIGIT_CLASSES) == run:  # a run at the very start
        return True
    preceded = b" " + run
    for start in range(0, len(raw), _PIECE):
        piece = raw[max(0, start - digits) : start + _PIECE]
        if preceded in piece.translate(_DIGIT_CLASSES):
            return True
    return False


def _parse_exactly(raw: bytes, p: Path) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PlanError(p, "not UTF-8 text; expected a .json file") from None
    try:
        with bounded_recursion():
            data = json.loads(
                text,
                parse_constant=_reject_constant,
                parse_float=_finite_float,
                parse_int=_float_sized_int,
            )
    except RecursionError:
        raise PlanError(p, "not valid JSON (nested too deeply)") from None
    except ValueError as e:  # JSONDecodeError is a ValueError
        raise PlanError(p, f"not valid JSON ({e})") from None
    # The text decoded as UTF-8, so only \\u escapes can make surrogates; an unpaired one is not
    # Unicode and could never be written out again (report.to_json would fail).
    if _SURROGATE_ESCAPE.search(text):
        bad = _unpaired_surrogate(data)
        if bad is not None:
            raise PlanError(
                p,
                f"not valid JSON (a string holds an unpaired surrogate, "
                f"\\u{ord(bad):04x}, which is not Unicode)",
            )
    return data


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _unpaired_surrogate(data: Any) -> str | None:
    """The first unpaired surrogate in any string (key or value) of parsed JSON, else None."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            for char in value:
                if "\ud800" <= char <= "\udfff":
                    return char
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


def validate_report_dict(
    data: Any, origin: str, columns: dict[str, tuple[Any, ...]] | None = None
) -> dict[str, Any]:
    """Check format, version and everything else (`report_validation`); return the version-2
    dict, or raise a one-line PlanError. `columns`: see `report_validation.validate_report`.

    Reports of version 1 (before reason kinds) are checked against the version-1 form of the
    schema, then upgraded (`upgrade_v1`), then checked like any other.
    """
    if not isinstance(data, dict):
        raise PlanError(origin, "not a report: expected a JSON object")
    if data.get("format") != REPORT_FORMAT:
        raise PlanError(origin, f"not an ane_notebook report (format {data.get('format')!r})")
    version = data.get("version")
    if version == 1 and not isinstance(version, bool):
        _schema_check(data, origin, _fast_v1_validator, _v1_schema())
        data = upgrade_v1(data)
    elif version != REPORT_VERSION or isinstance(version, bool):
        raise PlanError(
            origin,
            f"unsupported report version {repr(version)[:20]}; this ane_notebook reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}",
        )
    return validate_report(data, origin, columns)


def _schema_check(data: Any, origin: str, fast: Any, schema: dict[str, Any]) -> None:
    # fastjsonschema compiles the schema to Python: ~100x faster than jsonschema on a 50k-op
    # report (seconds -> tens of ms). Only when it rejects do we ask jsonschema, whose
    # best_match names the most useful error for the one-line message.
    try:
        fast()(data)
        return
    except fastjsonschema.JsonSchemaException:
        import jsonschema  # local: only needed to explain a rejection

        validator = jsonschema.Draft202012Validator(schema)
        err = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if err is None:  # the two disagree: trust the reference implementation
        return
    where = "/".join(str(p) for p in err.absolute_path) or "top level"
    msg = err.message if len(err.message) < 200 else err.message[:200] + "..."
    raise PlanError(origin, f"invalid report at {where}: {msg}")


# What version 2 added to version 1: top-level fields and op fields (all derivable or empty).
_V2_TOP = ("timings", "warnings", "uncertainty", "hazards")
_V2_OP = ("reason_kind", "contested", "alt_device", "shape_unknown", "estimate")


@lru_cache(maxsize=1)
def _v1_schema() -> dict[str, Any]:
    """The version-1 schema: version 2 without what version 2 added."""
    schema = copy.deepcopy(report_schema())
    schema["properties"]["version"] = {"const": 1}
    for key in _V2_TOP:
        del schema["properties"][key]
    schema["required"] = [k for k in schema["required"] if k not in _V2_TOP]
    op = schema["properties"]["ops"]["items"]
    for key in _V2_OP:
        del op["properties"][key]
    op["required"] = [k for k in op["required"] if k not in _V2_OP]
    return schema


@lru_cache(maxsize=1)
def _fast_v1_validator() -> Any:
    return fastjsonschema.compile(_v1_schema())


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version-1 report (schema-valid) as version 2: reason kinds derived from the recorded
    device, supported devices, rules and compute units (`derive_reason_kind`), nothing
    contested, no warnings or hazards. The input is not modified."""
    from .placement.devices import ComputeUnits, Device
    from .placement.result import PlacementSource, derive_reason_kind
    from .placement.rules import rule_by_id

    source = PlacementSource(data["source"])
    units = ComputeUnits(data["compute_units"])

    def excludes_ane(rule_ids: list[str]) -> bool:
        for rid in rule_ids:
            try:
                if Device.ANE in rule_by_id(rid).excludes:
                    return True
            except KeyError:
                continue  # a rule this version does not know
        return False

    ops = []
    for o in data["ops"]:
        kind = derive_reason_kind(
            source=source,
            device=None if o["device"] is None else Device(o["device"]),
            is_const=o["is_const"],
            supported=frozenset(Device(d) for d in o["supported"]),
            compute_units=units,
            rule_excludes_ane=excludes_ane(o["rules"]),
        )
        ops.append(
            {
                **o,
                "reason_kind": kind.value,
                "contested": False,
                "alt_device": None,
                "shape_unknown": False,
                "estimate": None,
            }
        )
    return {
        **data,
        "version": REPORT_VERSION,
        "timings": None,
        "warnings": [],
        "uncertainty": None,
        "hazards": [],
        "ops": ops,
    }
