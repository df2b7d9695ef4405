"""Make strings that come from a model safe to show.

Op names, tensor names and metadata are chosen by whoever made the model. In a terminal,
control characters could move the cursor or recolour the screen; in HTML, markup could run
script. `plain` neutralises the first, `html_text` both.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

# What may not reach a terminal or a one-line message as it is:
# * C0 and C1 control characters (tab and newline included: a name is one line) and DEL;
# * the line and paragraph separators U+2028/U+2029, which some terminals and editors break on;
# * the bidirectional controls that can make text read differently from what it is (the
#   "Trojan Source" set, CVE-2021-42574): LRM/RLM U+200E/F, ALM U+061C, the embeddings and
#   overrides U+202A-E and the isolates U+2066-9.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def plain(value: object, limit: int = 200) -> str:
    """A one-line, printable version of `value`, cut to `limit` characters."""
    s = str(value)
    # Every character `_UNSAFE` matches, and every lone surrogate, is non-printable to
    # `str.isprintable` (categories Cc, Cf, Cs, Zl, Zp), so a printable string needs neither
    # step below: the common case, checked in C (50k op names: issue 14).
    if not s.isprintable():
        # Lone surrogates (from invalid UTF-8 decoded with surrogateescape) cannot be printed.
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
        s = _UNSAFE.sub(_escaped, s)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s


def html_text(value: object, limit: int = 200) -> str:
    """`plain`, then HTML-escaped (quotes too, so it is safe in attributes)."""
    return html.escape(plain(value, limit), quote=True)


def html_texts(values: Sequence[object], limit: int = 200) -> list[str]:
    """`[html_text(v, limit) for v in values]`, escaped in one C-level pass when it can be.

    When every value is a `str` (exactly) of at most `limit` characters and all are printable
    (then `plain` changes none of them), the values are joined with a newline, which none of
    them holds (it is not printable), escaped at once and split again: 50k op names in ~2 ms
    instead of ~20 (issue 14). Anything else takes the per-value path.
    """
    if not values or set(map(type, values)) != {str}:
        return [html_text(v, limit) for v in values]
    texts: Sequence[str] = values  # type: ignore[assignment]  # all str (checked above)
    if max(map(len, texts)) > limit:
        return [html_text(v, limit) for v in texts]
    joined = "\n".join(texts)
    if not _printable_joined(joined, len(texts)):
        return [html_text(v, limit) for v in texts]
    return html.escape(joined, quote=True).split("\n")


# The printable ASCII characters: an ASCII string is printable exactly when it holds no other
# (C0 controls and DEL are the only non-printable ASCII characters).
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _printable_joined(joined: str, n: int) -> bool:
    """Whether each of the `n` values `joined` by newlines is printable (`str.isprintable`).

    An ASCII text (known in O(1)) is checked on its bytes, the printable ones deleted in C: the
    rest must be the n - 1 joining newlines. `isprintable` classifies each character through
    the Unicode tables, ~3.5 ms for 50k op names against ~1 (issue 14)."""
    if joined.isascii():
        return len(joined.encode("ascii").translate(None, _PRINTABLE_ASCII)) == n - 1
    return joined.replace("\n", "").isprintable() and joined.count("\n") == n - 1
