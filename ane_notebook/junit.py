"""A check result as JUnit XML, the test-report format CI systems show as test results.

One `<testsuite>` per check, one `<testcase>` per condition (named by the condition's id, e.g.
`min-ane-ops`), a `<failure>` with the condition's line and every offending op kept, and the
full text in `<system-out>`. The report's source, compute units and chip travel as suite
properties. Everything shown is escaped twice over: control characters (which XML 1.0 cannot
carry even as entities) become `\\xNN` text via `escape.plain`, and ElementTree escapes markup.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from .escape import plain

if TYPE_CHECKING:
    from .check import CheckResult

# Long enough for a full failure message with its offending ops, short enough for CI pages.
_LIMIT = 20_000


def _t(value: object, limit: int = _LIMIT) -> str:
    return plain(value, limit)


def _text(value: object) -> str:
    """Multi-line text (system-out, failure bodies): each line made safe on its own."""
    return "\n".join(plain(line, _LIMIT) for line in str(value).splitlines())


def junit_xml(result: CheckResult) -> str:
    """The XML document (UTF-8, with its declaration) for `result`."""
    n = len(result.conditions)
    n_fail = len(result.failed)
    suite_name = f"ane-notebook check: {result.model} ({result.source})"
    root = ET.Element(
        "testsuites",
        {"name": "ane-notebook check", "tests": str(n), "failures": str(n_fail), "errors": "0"},
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": _t(suite_name, 500),
            "tests": str(n),
            "failures": str(n_fail),
            "errors": "0",
            "skipped": "0",
        },
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("model", result.model),
        ("placement_source", result.source.value),
        ("compute_units", result.compute_units),
        ("chip", result.chip),
        ("settings_from", result.origin),
        ("ane_share", result.share.text()),
        ("hazards", str(len(result.hazards))),
    ):
        ET.SubElement(props, "property", {"name": key, "value": _t(value, 2000)})
    classname = _t(f"ane_notebook.check.{result.model}", 500)
    for c in result.conditions:
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": _t(c.id)})
        if not c.ok:
            body = [c.line()]
            body += [f"  {o.text()}" for o in c.offenders]
            if c.n_offenders > len(c.offenders):
                body.append(f"  ... {c.n_offenders - len(c.offenders)} more")
            failure = ET.SubElement(case, "failure", {"message": _t(c.line()), "type": _t(c.id)})
            failure.text = _text("\n".join(body))
    out = ET.SubElement(suite, "system-out")
    out.text = _text(result.to_text())
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=False).join(
        ('<?xml version="1.0" encoding="UTF-8"?>\n', "\n")
    )
