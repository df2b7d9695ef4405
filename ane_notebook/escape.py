"""Make strings that come from a model safe to show.

Op names, tensor names and metadata are chosen by whoever made the model. In a terminal,
control characters could move the cursor or recolour the screen; in HTML, markup could run
script. `plain` neutralises the first, `html_text` both.
"""

from __future__ import annotations

import html
import re

# C0 and C1 control characters (tab and newline included: a name is one line), DEL, and the
# bidirectional overrides that can make text read differently from what it is.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(value: object, limit: int = 200) -> str:
    """A one-line, printable version of `value`, cut to `limit` characters."""
    s = str(value)
    # Lone surrogates (from invalid UTF-8 decoded with surrogateescape) cannot be printed.
    s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    s = _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", s)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s


def html_text(value: object, limit: int = 200) -> str:
    """`plain`, then HTML-escaped (quotes too, so it is safe in attributes)."""
    return html.escape(plain(value, limit), quote=True)
