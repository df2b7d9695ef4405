"""The scopes an op's name puts it in: the per-op half of the layer tree (`layers.py`).

A name's scopes are its proper prefixes that end before a separator (``/``, ``.``, ``_``,
``:``), after dropping coremltools' dtype suffixes (`names.py`), plus the block of its leading
numbered token when such numbers repeat (``dw3`` / ``pw3``: block 3); a converter-made name
(``transpose_9``) has none. `ScopeCache` computes them once per distinct prefix, so the cost
is linear in the number of ops; `name_scopes` is the plain per-name rule it is held to (tests).
`stems.name_paths` gives a whole tree's names the paths `ScopeCache` gives them one by one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence

from .groups import MIN_OPS_PER_GROUP, MIN_REPEATS
from .names import DTYPE_SUFFIX, strip_dtype_suffix

__all__ = [
    "MAX_NAME_CHARS",
    "MAX_NAME_DEPTH",
    "SEPARATORS",
    "LayerKind",
    "ScopeCache",
    "Step",
    "key_length",
    "lead_blocks",
    "lead_labels",
    "name_scopes",
]

MAX_NAME_DEPTH = 10  # scope levels read from one name (deeper ones fold into the tenth)
MAX_NAME_CHARS = 400  # a longer name is cut here before it is split (input limit)

SEPARATORS = re.compile(r"[/._:]")
# A converter-made name: an op type (letters and underscores) and a number, nothing else.
_GENERATED = re.compile(r"^[A-Za-z]+(?:_[A-Za-z]+)*_\d+\Z")  # \Z: `$` matches before a "\n"
# The leading numbered token: letters, then digits, then a separator or the end (dw3, layer0);
# `\Z` again: a name ending in "\n" is not shaped like a converter's.
_LEAD_NUMBER = re.compile(r"^([A-Za-z]+)(\d+)(?=[/._:]|\Z)")


class LayerKind(str, enum.Enum):
    """Where a layer node comes from."""

    STAGE = "stage"  # a pipeline stage
    FUNCTION = "function"  # an ML Program function
    SCOPE = "scope"  # an op-name scope written by the converter
    BLOCK = "block"  # the body of a cond / while_loop
    REPEAT = "repeat"  # repeated op-type structure (names gave nothing)


Step = tuple[str, str, LayerKind]  # (key, label, kind): key unique along a path


def name_scopes(name: str, lead_labels: Mapping[str, str] | None) -> list[Step]:
    """The scopes of one op name, outermost first (see the module doc). `lead_labels`: the
    label of each leading number's block, when those numbers repeat (else None)."""
    base = DTYPE_SUFFIX.sub("", name[:MAX_NAME_CHARS])
    if _GENERATED.match(base):
        return []
    return base_scopes(base, lead_labels)


def base_scopes(base: str, lead_labels: Mapping[str, str] | None) -> list[Step]:
    """`name_scopes` of a name already without its dtype suffix and not converter-made."""
    steps: list[Step] = []
    lead = _LEAD_NUMBER.match(base) if lead_labels is not None else None
    if lead and lead_labels is not None:
        num = lead.group(2)
        steps.append(("#" + num, lead_labels.get(num, num), LayerKind.SCOPE))
    cuts = [m.start() for m in SEPARATORS.finditer(base)][:MAX_NAME_DEPTH]
    for c in cuts:
        prefix = base[:c]
        if prefix and (not lead or len(prefix) > lead.end()):
            steps.append(("n:" + prefix, prefix, LayerKind.SCOPE))
    return steps


# A name up to its last separator within MAX_NAME_DEPTH: one match, not a loop (issue 14).
_KEY = re.compile(r"(?s)(?:[^/._:]*[/._:]){1," + str(MAX_NAME_DEPTH) + "}")


class ScopeCache:
    """`name_scopes` for every op of one tree, one tuple per distinct scope path.

    A name's scopes depend only on its part before its last separator (the cuts are the
    separators up to there; a leading number, which ends at a separator, matches there alike),
    so ops under the same scope (`model_layers_12_self_attn_q`, `..._k`) share one path: the
    path is computed once per distinct prefix, not once per op, and `_build` can tell an
    unchanged path by identity (GitHub issue 14: this was ~0.2 s of a 50k-op page).
    """

    def __init__(self, lead_labels: Mapping[str, str] | None) -> None:
        self._lead = lead_labels
        self._by_prefix: dict[str, tuple[Step, ...]] = {}
        self._cuts: dict[str, int] = {}  # separators in each prefix key

    def __call__(self, name: str) -> tuple[Step, ...]:
        base = strip_dtype_suffix(name[:MAX_NAME_CHARS])
        if _GENERATED.match(base):
            return ()
        # the key ends at the last separator within MAX_NAME_DEPTH cuts (deeper ones add no
        # scope): ending it at the name's own last one cached ~400 prefixes per hostile name
        m = _KEY.match(base)
        if m is None:  # no separator: at most the leading number's block
            return tuple(base_scopes(base, self._lead))
        key = m.group()
        got = self._by_prefix.get(key)
        return got if got is not None else self._prefix_path(key)

    def _prefix_path(self, key: str) -> tuple[Step, ...]:
        """The scopes of a name whose last separator ends `key`: its parent prefix's scopes
        plus one (the cut before that separator), up to `MAX_NAME_DEPTH` cuts."""
        got = self._by_prefix.get(key)
        if got is not None:
            return got
        inner = key[:-1]
        prev = max(inner.rfind("/"), inner.rfind("."), inner.rfind("_"), inner.rfind(":"))
        if prev < 0:  # the first cut: it may be a leading number's (see base_scopes)
            got, cuts = tuple(base_scopes(key, self._lead)), 1
        else:
            parent = self._prefix_path(key[: prev + 1])
            cuts = self._cuts[key[: prev + 1]] + 1
            # `inner` is longer than any leading number (that ends at the first separator).
            step = ("n:" + inner, inner, LayerKind.SCOPE)
            got = (*parent, step) if cuts <= MAX_NAME_DEPTH else parent
        self._by_prefix[key], self._cuts[key] = got, cuts
        return got


def key_length(base: str) -> int:
    """How much of a name without its dtype suffix decides its scopes: 0 for a converter-made
    name (none), up to its last separator within `MAX_NAME_DEPTH` (`ScopeCache`'s key), or all
    of it (no separator: at most a leading number's block). Reads only which characters are
    ASCII digits, not which digits they are (`stems.py` calls it on digit-blind stems)."""
    if _GENERATED.match(base):
        return 0
    m = _KEY.match(base)
    return m.end() if m is not None else len(base)


def lead_labels(names: Sequence[str]) -> dict[str, str] | None:
    """When leading numbered tokens (dw3, pw3, layer0) name blocks (enough numbers, enough ops
    each: the thresholds of `groups.py`), each number's label ("dw3+pw3"); else None."""
    matches = filter(None, map(_LEAD_NUMBER.match, names))  # the matches, found in C
    return lead_blocks((m.group(2), m.group(0)) for m in matches)


def lead_blocks(leads: Iterable[tuple[str, str]]) -> dict[str, str] | None:
    """`lead_labels` from each matching name's (number, token) ("3", "dw3"), in op order."""
    per_number: dict[str, int] = {}
    tokens: dict[str, dict[str, None]] = {}
    for num, token in leads:
        per_number[num] = per_number.get(num, 0) + 1
        tokens.setdefault(num, {})[token] = None
    if len(per_number) < MIN_REPEATS:
        return None
    if sum(per_number.values()) < MIN_OPS_PER_GROUP * len(per_number):
        return None
    return {num: "+".join(list(t)[:3]) for num, t in tokens.items()}
