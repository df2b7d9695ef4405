"""The project's evidence document (docs/evidence.md) and the code that cites it agree.

Every rule has a section, every anchor the package cites exists, every test a section names
exists, each rule's evidence level and contested flag are the ones its section states, and no
package file cites the evidence base outside the repository.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ane_notebook.placement.devices import CHIPS
from ane_notebook.placement.rules import ANE_CAPABLE, RULES, Rule

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "evidence.md"
PACKAGE = ROOT / "ane_notebook"
CITE = re.compile(r"docs/evidence\.md#([A-Za-z0-9_.\-]*[A-Za-z0-9_\-])")
HEADING = re.compile(r"^#{2,4} (\S+)\s*$", re.MULTILINE)
FIELD = re.compile(r"^- \*\*(\w[\w ]*):\*\* (.*)$", re.MULTILINE)
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:\[[^\]]*\])?`")


def _sections() -> dict[str, str]:
    """anchor (the heading text) -> the section's text up to the next heading."""
    text = DOC.read_text(encoding="utf-8")
    marks = list(HEADING.finditer(text))
    anchors = [m.group(1) for m in marks]
    assert len(anchors) == len(set(anchors)), "duplicate headings in docs/evidence.md"
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return {m.group(1): text[m.end() : end] for m, end in zip(marks, ends, strict=True)}


SECTIONS = _sections()


def _fields(anchor: str) -> dict[str, str]:
    return {k: v.strip() for k, v in FIELD.findall(SECTIONS.get(anchor, ""))}


def _package_files() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]


def _cited_anchors() -> list[tuple[str, str]]:
    """(where, anchor) for every citation in the package: in its files' text, and in the
    strings it builds at run time (rule and group sources, chip sources)."""
    cited: list[tuple[str, str]] = []
    for path in _package_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        cited += [(str(path.relative_to(ROOT)), a) for a in CITE.findall(text)]
    strings = [(f"rule {r.id}", r.source) for r in RULES]
    strings += [
        (f"ANE_CAPABLE[{fmt}][{t}]", src)
        for fmt, types in ANE_CAPABLE.items()
        for t, (_, src) in types.items()
    ]
    strings += [(f"chip {c.name}", c.sources) for c in CHIPS.values()]
    for where, s in strings:
        cited += [(where, a) for a in CITE.findall(s)]
    return cited


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_has_a_section_and_cites_it(rule: Rule) -> None:
    assert rule.id in SECTIONS, f"docs/evidence.md has no section '### {rule.id}'"
    assert rule.source.startswith(f"docs/evidence.md#{rule.id};"), rule.source


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_matches_its_section(rule: Rule) -> None:
    fields = _fields(rule.id)
    assert fields.get("Evidence") == rule.evidence.value, rule.id
    assert fields.get("Contested") == ("yes" if rule.contested else "no"), rule.id


def test_every_cited_anchor_exists() -> None:
    cited = _cited_anchors()
    assert cited, "nothing in the package cites docs/evidence.md"
    missing = [(where, a) for where, a in cited if a not in SECTIONS]
    assert not missing, f"cited anchors with no section in docs/evidence.md: {missing}"


def test_every_section_states_its_evidence_and_sources() -> None:
    for anchor in SECTIONS:
        if not re.fullmatch(r"[a-z_]+\.[\w.]+", anchor):
            continue  # prose sections ("contested", ...)
        fields = _fields(anchor)
        assert fields.get("Sources"), anchor
        assert fields.get("Evidence") in {
            "official",
            "community-measured",
            "reverse-engineered",
            "guess",
        }, anchor
        assert fields.get("Measures"), anchor


def test_named_tests_exist() -> None:
    refs = TEST_REF.findall(DOC.read_text(encoding="utf-8"))
    assert refs
    for file, name in set(refs):
        path = ROOT / file
        assert path.is_file(), file
        assert re.search(rf"^def {name}\(", path.read_text(encoding="utf-8"), re.MULTILINE), (
            f"docs/evidence.md names {file}::{name}, which does not exist"
        )


def test_no_package_file_cites_the_outside_evidence_base() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in _package_files()
        if "ane-rules.md" in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert not offenders, f"these files cite ane-rules.md, outside the repository: {offenders}"


# Modules whose module-level constants are rules, thresholds or hardware figures.
CONSTANT_MODULES = [
    PACKAGE / "placement" / "costs.py",
    PACKAGE / "placement" / "devices.py",
    *sorted((PACKAGE / "placement" / "rules").glob("*.py")),
]
PUBLIC_CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Constants holding numbers that are not figures from any source.
NOT_EVIDENCE = {"EVIDENCE_RANK"}  # the order of the evidence levels, weakest first


def _has_number(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Constant)
        and isinstance(n.value, (int, float))
        and not isinstance(n.value, bool)
        for n in ast.walk(node)
    )


def _uncited_constants(path: Path) -> list[str]:
    """Public module-level constants holding a number whose block (the assignment and the lines
    above it up to a blank line: its comment, or the comment of the group it is in) cites no
    section of docs/evidence.md."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for node in ast.parse("\n".join(lines)).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if not isinstance(target, ast.Name) or value is None:
            continue
        if not PUBLIC_CONSTANT.match(target.id) or not _has_number(value):
            continue
        if target.id in NOT_EVIDENCE:
            continue
        own = lines[node.lineno - 1 : node.end_lineno or node.lineno]
        above = []
        i = node.lineno - 2
        while i >= 0 and lines[i].strip():
            above.append(lines[i])
            i -= 1
        anchors = CITE.findall("\n".join(own + above))
        if not anchors:
            out.append(f"{path.name}:{node.lineno} {target.id}")
        out += [
            f"{path.name}:{node.lineno} {target.id} -> {a}" for a in anchors if a not in SECTIONS
        ]
    return out


@pytest.mark.parametrize("path", CONSTANT_MODULES, ids=lambda p: p.name)
def test_every_constant_cites_an_existing_section(path: Path) -> None:
    uncited = _uncited_constants(path)
    assert not uncited, f"constants citing no existing section of docs/evidence.md: {uncited}"
