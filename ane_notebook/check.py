"""Placement as a gate: conditions on a report, checked, with the evidence for each verdict.

`check_report(report, settings)` (and `ProfileReport.check(...)`) evaluates the conditions a
user sets (at least this share on the Neural Engine, at most this many crossings or segments,
these op types on the ANE, only those off it, no hazards, no regression against a baseline) and
returns a `CheckResult`: truthy when every condition holds, with one line per condition naming
the condition, the measured value, the limit and up to five offending ops. It works on a report
of any source and says which one; every share states its denominator (`shares.py`).

Forms: `to_text()` (what the CLI prints and the pytest helper raises), `to_dict()`/`to_json()`
(machine-readable), `to_junit()` (`junit.py`: one testcase per condition, for CI) and the
notebook display. The command line is `checkcli.py`; `checkconfig.py` reads
`[tool.ane_notebook.check]` from pyproject.toml.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .checkconfig import DEFAULT_TIME_TOLERANCE  # defined there, for the CLI's help
from .errors import UsageError
from .escape import html_text, plain
from .placement.devices import Device
from .placement.result import (
    Hazard,
    PlacementSource,
    Uncertainty,
    hazards_to_list,
    uncertainty_to_dict,
)
from .shares import Share

if TYPE_CHECKING:
    from .baseline import PlacementDiff
    from .report import ProfileReport

CHECK_FORMAT = "ane_notebook.check"
CHECK_VERSION = 1

# How many offending ops a condition's line names (the JSON and JUnit keep up to KEPT).
SHOWN = 5
KEPT = 50


@dataclass(frozen=True)
class CheckSettings:
    """The conditions to check; None / False: not checked.

    Shares are fractions in [0, 1]; `require_ane` / `allow_off_ane` are regular expressions
    matched against the whole op type (`re.fullmatch`, so 'conv' does not match
    'conv_transpose'); `baseline` is a ProfileReport to compare with.
    """

    min_ane_ops: float | None = None
    min_ane_time: float | None = None
    max_crossings: int | None = None
    max_segments: int | None = None
    require_ane: str | None = None
    allow_off_ane: str | None = None
    baseline: ProfileReport | None = None
    fail_on_regression: bool = False
    fail_on_hazard: bool = False
    time_tolerance: float = DEFAULT_TIME_TOLERANCE
    origin: str = "arguments"  # where the settings came from, shown with the result

    def __post_init__(self) -> None:
        for name in ("min_ane_ops", "min_ane_time"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and 0 <= v <= 1):
                raise UsageError(
                    f"{_opt(name)} must be a fraction between 0 and 1 (0.9 means 90%), got {v!r}"
                )
        for name in ("max_crossings", "max_segments"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise UsageError(f"{_opt(name)} must be a whole number >= 0, got {v!r}")
        for name in ("require_ane", "allow_off_ane"):
            v = getattr(self, name)
            if v is not None:
                op_type_pattern(name, v)
        t = self.time_tolerance
        if isinstance(t, bool) or not isinstance(t, (int, float)) or t < 0:
            raise UsageError(f"--time-tolerance must be a fraction >= 0, got {t!r}")
        if self.fail_on_regression and self.baseline is None:
            raise UsageError("--fail-on-regression needs --baseline REPORT.json")


def _opt(name: str) -> str:
    return "--" + name.replace("_", "-")


def op_type_pattern(name: str, value: object) -> re.Pattern[str]:
    """The compiled op-type regular expression of condition `name`, or a one-line UsageError."""
    if not isinstance(value, str) or not value:
        raise UsageError(f"{_opt(name)} must be a regular expression, got {value!r}")
    try:
        return re.compile(value)
    except re.error as e:
        raise UsageError(f"{_opt(name)}: invalid regular expression {value!r}: {e}") from None


@dataclass(frozen=True)
class Offender:
    """An op that makes a condition fail (or that a passing condition is about)."""

    name: str
    op_type: str
    function: str
    device: Device | None
    note: str = ""

    def text(self) -> str:
        dev = self.device.value if self.device is not None else "no processor"
        note = f", {plain(self.note, 80)}" if self.note else ""
        return f"{plain(self.name, 60)} ({plain(self.op_type, 30)}, {dev}{note})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op_type": self.op_type,
            "function": self.function,
            "device": None if self.device is None else self.device.value,
            "note": self.note,
        }


@dataclass(frozen=True)
class Condition:
    """One checked condition: its id (the option's name), verdict, value, limit and offenders."""

    id: str
    ok: bool
    measured: str  # the value as people read it, e.g. "84.7% of ops on the Neural Engine"
    limit: str  # e.g. ">= 90.0%"
    value: float | int | None
    threshold: float | int | str | None
    detail: str = ""  # what the value counts (denominators), or the diff behind it
    offenders: tuple[Offender, ...] = ()
    n_offenders: int = 0
    offender_label: str = "ops"

    def line(self) -> str:
        """The one line people read: verdict, condition, measured, limit, up to five ops."""
        verdict = "ok  " if self.ok else "FAIL"
        text = f"{verdict} {self.id}: {self.measured}, limit {self.limit}"
        if self.detail:
            text += f" ({self.detail})"
        if self.offenders and not self.ok:
            shown = ", ".join(o.text() for o in self.offenders[:SHOWN])
            more = self.n_offenders - min(SHOWN, len(self.offenders))
            text += f"; {self.offender_label}: {shown}" + (f" (+{more} more)" if more > 0 else "")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ok": self.ok,
            "measured": self.measured,
            "limit": self.limit,
            "value": self.value,
            "threshold": self.threshold,
            "detail": self.detail,
            "n_offenders": self.n_offenders,
            "offenders": [o.to_dict() for o in self.offenders],
        }


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one report: truthy when every condition holds.

    `conditions` in the order checked (`failed` the violated ones), the report's `hazards`, the
    ANE `share` with its denominators and, with a baseline, the `diff`; for an estimate, its
    range over the other readings of the evidence (`uncertainty`) and the names of the ops
    whose placement is `contested`, shown in every form as in the report. Made by
    `ProfileReport.check` and `ane-notebook check`.

    >>> import ane_notebook as an
    >>> r = an.profile("example:transformer", "CPU_AND_NE", chip="M1", backend="estimate")
    >>> result = r.check(max_crossings=0)
    >>> bool(result), [(c.id, c.measured, c.limit) for c in result.failed]
    (False, [('max-crossings', '2 crossings', '<= 0')])
    """

    model: str
    source: PlacementSource
    compute_units: str
    chip: str
    conditions: tuple[Condition, ...]
    hazards: tuple[Hazard, ...]
    share: Share
    diff: PlacementDiff | None = None
    origin: str = "arguments"
    hazard_ops: tuple[str, ...] = field(default=(), repr=False)  # names of each hazard's op
    uncertainty: Uncertainty | None = None
    contested: tuple[str, ...] = ()  # names of the running ops whose placement is contested

    def __bool__(self) -> bool:
        return all(c.ok for c in self.conditions)

    @property
    def ok(self) -> bool:
        return bool(self)

    @property
    def failed(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if not c.ok)

    def header(self) -> str:
        return (
            f"ane-notebook check: {plain(self.model)} (placement source: {self.source}, "
            f"{self.compute_units}, {plain(self.chip)}; settings from {plain(self.origin, 300)})"
        )

    def lines(self) -> list[str]:
        """The condition lines (a failing pytest assertion shows these)."""
        return [c.line() for c in self.conditions]

    def to_text(self) -> str:
        from .textreport import SOURCE_NOTE

        out = [self.header(), f"  {self.share.text()}", f"  ({SOURCE_NOTE[self.source]})"]
        out += [f"  {line}" for line in self._evidence_lines()]
        if self.conditions:
            out += self.lines()
        else:
            out.append("no conditions set (see `ane-notebook check --help`)")
        if self.hazards:
            out.append(f"hazards (can change results, not speed): {len(self.hazards)}")
            for h, at in zip(self.hazards[:SHOWN], self.hazard_ops, strict=False):
                out.append(f"  [{plain(h.id)}] {plain(at, 60)}: {plain(h.message, 300)}")
            if len(self.hazards) > SHOWN:
                out.append(f"  ... {len(self.hazards) - SHOWN} more")
        if self.diff is not None:
            out.append(self.diff.to_text())
        n_fail = len(self.failed)
        if n_fail:
            out.append(
                f"check failed: {n_fail} of {len(self.conditions)} conditions violated "
                f"(placement source: {self.source})"
            )
        else:
            n = len(self.conditions)
            held = (
                "no conditions checked"
                if n == 0
                else "1 condition holds"
                if n == 1
                else f"all {n} conditions hold"
            )
            out.append(f"check passed: {held} (placement source: {self.source})")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    def _evidence_lines(self) -> list[str]:
        """The estimate's range and its contested ops, as the text report gives them."""
        from .textreport import uncertainty_text

        out = []
        if self.uncertainty is not None:
            out.append(f"range: {uncertainty_text(self.uncertainty)}")
        if self.contested:
            n = len(self.contested)
            names = ", ".join(plain(c, 60) for c in self.contested[:SHOWN])
            more = f" (+{n - SHOWN} more)" if n > SHOWN else ""
            out.append(
                f"contested: {n} ops rest on a guess or on sources that disagree: {names}{more}"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        s = self.share
        return {
            "format": CHECK_FORMAT,
            "version": CHECK_VERSION,
            "ok": self.ok,
            "model": self.model,
            "source": self.source.value,
            "compute_units": self.compute_units,
            "chip": self.chip,
            "settings_from": self.origin,
            "ane_share": {
                "ops": s.ops,
                "ops_that_run": s.n_run,
                "const_ops_not_counted": s.n_const,
                "ops_placed_nowhere": s.n_unplaced,
                "op_share": s.op_share,
                "weighted_share": s.weighted,
                "weight_basis": s.basis.value,
                "text": s.text(),
            },
            "conditions": [c.to_dict() for c in self.conditions],
            "hazards": hazards_to_list(self.hazards),
            "uncertainty": uncertainty_to_dict(self.uncertainty),
            "contested_ops": {"count": len(self.contested), "names": list(self.contested[:KEPT])},
            "baseline": None if self.diff is None else self.diff.to_dict(),
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    def to_junit(self) -> str:
        from .junit import junit_xml

        return junit_xml(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.to_text(), "text/html": self.to_html()}

    def to_html(self) -> str:
        """A small escaped table: one row per condition (the notebook display)."""
        verdict = "passed" if self.ok else "failed"
        rows = "".join(
            f"<tr><td>{'ok' if c.ok else '<b>FAIL</b>'}</td><td>{html_text(c.id)}</td>"
            f"<td>{html_text(c.measured, 300)}</td><td>{html_text(c.limit)}</td>"
            f"<td>{html_text(c.detail, 400)}</td>"
            f"<td>{html_text(', '.join(o.text() for o in c.offenders[:SHOWN]), 1000)}</td></tr>"
            for c in self.conditions
        )
        hz = "".join(
            f"<li>{html_text(h.id)}: {html_text(h.message, 400)} "
            f"({html_text(h.evidence.value)}; {html_text(h.source, 300)})</li>"
            for h in self.hazards
        )
        return (
            f"<div class='ane-notebook-check'><p><b>ane-notebook check {verdict}</b>: "
            f"{html_text(self.model)} (placement source: {html_text(self.source.value)}, "
            f"{html_text(self.compute_units)}, {html_text(self.chip)})<br>"
            f"{html_text(self.share.text(), 400)}"
            + "".join(f"<br>{html_text(line, 600)}" for line in self._evidence_lines())
            + "</p>"
            "<table><tr><th></th><th>condition</th><th>measured</th><th>limit</th>"
            f"<th>counts</th><th>offending ops</th></tr>{rows}</table>"
            + (f"<p>Hazards (can change results):</p><ul>{hz}</ul>" if hz else "")
            + "</div>"
        )


def check_report(report: ProfileReport, settings: CheckSettings) -> CheckResult:
    """Evaluate `settings` on `report` (see the module docstring)."""
    from .check_conditions import evaluate

    return evaluate(report, settings)


def settings_from_kwargs(**kwargs: Any) -> CheckSettings:
    """CheckSettings from `report.check(...)` keywords; `baseline` may be a path to a report."""
    baseline = kwargs.get("baseline")
    if baseline is not None and not hasattr(baseline, "ops"):
        from .report import load_report

        kwargs["baseline"] = load_report(baseline)
    unknown = set(kwargs) - set(CheckSettings.__dataclass_fields__)
    if unknown:
        raise UsageError(f"unknown check condition(s): {', '.join(sorted(unknown))}")
    return CheckSettings(**kwargs)


__all__ = [
    "DEFAULT_TIME_TOLERANCE",
    "CheckResult",
    "CheckSettings",
    "Condition",
    "Offender",
    "check_report",
    "settings_from_kwargs",
]
