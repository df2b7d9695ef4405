"""The scope paths of all of a tree's op names at once, computed per name *stem* (issue 14).

`scopes.ScopeCache` gives one name its scopes (a few regex calls per op: ~75 ms for the 25k
names of the 50k-op benchmark); `name_paths` gives the same paths for a whole list of names
(~30 ms there) with a fixed number of C calls over all of them plus Python work per distinct
*stem*. A name's stem is the name (cut at `MAX_NAME_CHARS`, without its dtype suffix: taken
off first, since its digits matter, ``fp16`` but not ``fp17``) with every ASCII digit made "0":
where a name's scopes end (`scopes.key_length`) depends only on which of its characters are
separators, ASCII digits or letters, so names of one stem end their key at the same place, and
an LLM's 25,000 names have ~155 stems (``model_layers_0_self_attn_q_`` stands for every layer's).
The paths of the keys are built a stem at a time as well: keys of one stem have their
separators at the same places, so their parents are one slice away and each key's path is
its parent's plus one step, made for the whole group in C (`_prefix_paths`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress, filterfalse, repeat
from operator import add, getitem, itemgetter

from . import scopes
from .names import _DTYPE_SUFFIX_REVERSED
from .scopes import (
    _LEAD_NUMBER,
    MAX_NAME_CHARS,
    LayerKind,
    ScopeCache,
    Step,
    base_scopes,
    key_length,
    lead_blocks,
)

__all__ = ["Leads", "name_paths"]

# Joins the names so that one regex pass strips every dtype suffix and one `str.translate`
# blinds every digit; a name holding it takes `ScopeCache` name by name.
_JOIN = "\x1f"
# The reversed suffix right after a joiner: in the reversed joined names each name follows
# one, and the pattern (digits, letters, "_") cannot cross the next, so a match is one name's.
_SUFFIX_AFTER_JOIN = re.compile(re.escape(_JOIN) + _DTYPE_SUFFIX_REVERSED.pattern)
_DIGITS_TO_ZERO = str.maketrans("0123456789", "0" * 10)
_SEPARATORS = "/._:"  # (scopes.SEPARATORS' characters)
# Below this many names per stem on average, `ScopeCache` name by name is the faster: a stem
# group's C calls cost a few microseconds however few names share it (25k names of 25k stems
# took 0.86 s here against 0.39 s name by name; an LLM has ~160 names per stem).
_MIN_NAMES_PER_STEM = 4


class Leads(enum.Enum):
    """`name_paths`' default: the leading-number blocks of the names themselves."""

    OF_THE_NAMES = "of the names"


def name_paths(
    names: Sequence[str], lead_labels: Mapping[str, str] | None | Leads = Leads.OF_THE_NAMES
) -> list[tuple[Step, ...]]:
    """``list(map(ScopeCache(lead_labels), names))`` (on the stem path the ops of one key share
    one tuple); `lead_labels` by default ``scopes.lead_labels(names)``."""
    if not names:
        return []
    cut = names
    truncated = max(map(len, names)) > MAX_NAME_CHARS
    if truncated:
        cut = list(map(itemgetter(slice(MAX_NAME_CHARS)), names))
    joined = _JOIN.join(cut) + _JOIN
    if joined.count(_JOIN) != len(names):  # a name holds the joiner
        if lead_labels is Leads.OF_THE_NAMES:
            lead_labels = scopes.lead_labels(names)
        return list(map(ScopeCache(lead_labels), names))
    bases = _SUFFIX_AFTER_JOIN.sub(_JOIN, joined[::-1])[::-1]
    stems = bases.translate(_DIGITS_TO_ZERO).split(_JOIN)
    stems.pop()  # (the empty string after the last joiner)
    distinct = dict.fromkeys(stems)
    if lead_labels is Leads.OF_THE_NAMES:
        lead_labels = (
            scopes.lead_labels(names) if truncated else _stem_leads(names, stems, distinct)
        )
    if len(distinct) * _MIN_NAMES_PER_STEM > len(names):  # few names share a stem
        return list(map(ScopeCache(lead_labels), names))
    lengths = {stem: slice(key_length(stem)) for stem in distinct}
    keys: list[str] = list(map(getitem, names, map(lengths.__getitem__, stems)))
    # Each distinct key with its stem (the stem's own cut: one string per stem), grouped by
    # stem: "" (converter-made or empty: no scopes), keys ending at a separator
    # (`ScopeCache`'s), whole names without one.
    key_stem = {stem: stem[cut] for stem, cut in lengths.items()}
    by_stem: dict[str, list[str]] = {}
    for key, stem in dict(zip(keys, map(key_stem.__getitem__, stems), strict=True)).items():
        by_stem.setdefault(stem, []).append(key)
    paths: dict[str, tuple[Step, ...]] = {}
    for stem, group in by_stem.items():
        if not stem:
            paths[""] = ()
        elif stem[-1] in _SEPARATORS:
            _prefix_paths(stem, list(filterfalse(paths.__contains__, group)), paths, lead_labels)
        else:
            for key in group:
                paths[key] = tuple(base_scopes(key, lead_labels))
    return list(map(paths.__getitem__, keys))


def _stem_leads(
    names: Sequence[str], stems: Sequence[str], distinct: Iterable[str]
) -> dict[str, str] | None:
    """`scopes.lead_labels(names)` for names none of which was cut, read off their stems: the
    leading numbered token ends at the first separator, before any dtype suffix (which starts
    at one), and `_LEAD_NUMBER` reads only character classes, so a name's match has its stem's
    span; only the names of matching stems are read (none in an LLM: ~4 ms of regex calls)."""
    spans: dict[str, tuple[slice, slice]] = {}
    for stem in distinct:
        m = _LEAD_NUMBER.match(stem)
        if m is not None:
            spans[stem] = (slice(m.end(1), m.end()), slice(m.end()))
    if not spans:
        return None
    leads = []
    for i in compress(range(len(names)), map(spans.__contains__, stems)):
        number, token = spans[stems[i]]
        leads.append((names[i][number], names[i][token]))
    return lead_blocks(leads)


def _prefix_paths(
    stem: str,
    keys: list[str],
    paths: dict[str, tuple[Step, ...]],
    lead_labels: Mapping[str, str] | None,
) -> None:
    """Put in `paths` the scopes of each of `keys` (of one stem, ending at a separator): its
    parent prefix's scopes plus the cut before its last separator (`ScopeCache._prefix_path`,
    a group at a time; a key holds at most `MAX_NAME_DEPTH` separators, so every cut counts)."""
    if not keys:
        return
    inner = stem[:-1]
    prev = max(map(inner.rfind, _SEPARATORS))
    if prev < 0:  # the first cut: it may be a leading number's (see base_scopes)
        for key in keys:
            paths[key] = tuple(base_scopes(key, lead_labels))
        return
    parents: list[str] = list(map(itemgetter(slice(prev + 1)), keys))
    missing = filterfalse(paths.__contains__, dict.fromkeys(parents))
    _prefix_paths(stem[: prev + 1], list(missing), paths, lead_labels)
    # `inner` is longer than any leading number (that ends at the first separator).
    inners: list[str] = list(map(itemgetter(slice(-1)), keys))
    steps = zip(map(add, repeat("n:"), inners), inners, repeat(LayerKind.SCOPE))
    paths.update(zip(keys, map(add, map(paths.__getitem__, parents), zip(steps)), strict=True))
