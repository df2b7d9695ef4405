"""Pages packed small for notebook outputs: BokehJS and the document JSON LZMA-compressed, as
base85 text, unpacked by the page itself.

Every diagram in a notebook is a sandboxed `srcdoc` iframe that cannot share anything with its
neighbours (that isolation is what keeps hostile model strings harmless), so each one carries
its own BokehJS: 1.84 MB of minified JavaScript for the three bundles a report page needs.
Packed with LZMA and base85 it is 0.51 MB (gzip + base64, inflated with the browser's
`DecompressionStream`, would be 0.68 MB: five diagrams would then not fit in 3 MB; measured in
docs/notebooks.md). The page unpacks it with a small synchronous decoder (`unpack.js`) in
`<head>` and inserts each bundle as an inline `<script>`, so everything after it runs exactly as
in bokeh's own inline page. No network, no CDN: it works offline, in nbconvert's HTML, VS Code
and Colab, wherever inline scripts run in a sandboxed iframe.

Compressing BokehJS takes ~2 s, so the packed text is kept per BokehJS content hash: in memory,
and in the cache folder (`<cache root>/bokehjs/`), checked before it is used. The document JSON
(the report's data and bokeh's models: 50-300 KB for the examples) changes every time and is
packed with a fast preset (~10 MB/s, 6x smaller).
"""

from __future__ import annotations

import base64
import hashlib
import html as _html
import lzma
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from bokeh.core.json_encoder import serialize_json
from bokeh.core.templates import FILE, JS_RESOURCES, MACROS
from bokeh.embed.elements import script_for_render_items
from bokeh.embed.wrappers import wrap_in_script_tag
from bokeh.model import Model
from bokeh.resources import INLINE
from bokeh.util.serialization import make_globally_unique_css_safe_id
from jinja2 import Template

from ..model.cache import cache_root
from .pagejson import page_parts

# LZMA1 settings: pb=0 and lc=3 suit text (no 4-byte structure); a 4 MB dictionary covers the
# whole 1.8 MB input. PRESET_EXTREME with nice_len 273 saves ~3 % over the default preset.
_FILTERS = [
    {
        "id": lzma.FILTER_LZMA1,
        "preset": 9 | lzma.PRESET_EXTREME,
        "lc": 3,
        "lp": 0,
        "pb": 0,
        "nice_len": 273,
        "dict_size": 1 << 22,
    }
]
# For the document JSON: fast (it is packed on every call), still 6x smaller.
_DATA_FILTERS = [{"id": lzma.FILTER_LZMA1, "preset": 1, "pb": 0}]
ELEMENT_ID = "ane-bokehjs"
MIME = "application/x-ane-lzma"


@dataclass(frozen=True)
class Packed:
    data: bytes  # the .lzma stream
    size: int  # bytes once unpacked (UTF-8)
    parts: tuple[int, ...]  # length of each script in UTF-16 code units (JavaScript's lengths)


def _digest(scripts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for s in scripts:
        h.update(len(s).to_bytes(8, "little"))
        h.update(s.encode("utf-8"))
    return h.hexdigest()[:32]


def _read_cached(path: Path, raw: bytes) -> bytes | None:
    """The stream cached at `path` if it unpacks to exactly `raw`, else None."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        ok = lzma.decompress(data, format=lzma.FORMAT_ALONE) == raw
    except lzma.LZMAError:
        ok = False
    return data if ok else None


def _write_cached(path: Path, data: bytes) -> None:
    # Best effort: a read-only or full cache folder costs time on the next call, never the page.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bokehjs-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        return


@cache
def _pack(scripts: tuple[str, ...]) -> Packed:
    raw = "".join(scripts).encode("utf-8")
    path = cache_root() / "bokehjs" / f"{_digest(scripts)}.lzma"
    data = _read_cached(path, raw)
    if data is None:
        data = lzma.compress(raw, format=lzma.FORMAT_ALONE, filters=_FILTERS)
        _write_cached(path, data)
    parts = tuple(len(s.encode("utf-16-le")) // 2 for s in scripts)
    return Packed(data, len(raw), parts)


# Python's base85 alphabet (RFC 1924) has "&", "<" and ">", which HTML would have to escape
# (5, 4 and 4 bytes in an attribute); the page's text uses ".", "," and ":" for them instead,
# characters the alphabet lacks. 25 % overhead instead of base64's 33 %.
_TO_PAGE = bytes.maketrans(b"&<>", b".,:")
_FROM_PAGE = bytes.maketrans(b".,:", b"&<>")


def b85(data: bytes) -> str:
    """`data` as the page's base85 text (see unpack.js)."""
    return base64.b85encode(data).translate(_TO_PAGE).decode("ascii")


def unb85(text: str) -> bytes:
    return base64.b85decode(text.encode("ascii").translate(_FROM_PAGE))


def _packed_element(el_id: str, data: bytes, size: int, parts: str = "") -> str:
    attrs = f' data-parts="{parts}"' if parts else ""
    return f'<script type="{MIME}" id="{el_id}" data-size="{size}"{attrs}>{b85(data)}</script>'


def pack(scripts: Sequence[str]) -> Packed:
    """`scripts` (BokehJS bundles, in load order) packed for `packed_scripts_html`."""
    return _pack(tuple(scripts))


@cache
def unpack_js() -> str:
    return resources.files(__package__).joinpath("unpack.js").read_text(encoding="utf-8")


def packed_scripts_html(scripts: Sequence[str]) -> str:
    """HTML for `<head>` that runs `scripts` in order, shipped packed (see the module doc).

    Nothing here comes from a model: the scripts are bokeh's own bundles, our base85 has no
    character that HTML or an attribute would read, and the numbers are ours.
    """
    p = pack(scripts)
    parts = ",".join(str(n) for n in p.parts)
    return (
        f"<script>\n{unpack_js()}</script>\n"
        f"{_packed_element(ELEMENT_ID, p.data, p.size, parts)}\n"
        f'<script>window.__aneUnpack("{ELEMENT_ID}");</script>\n'
    )


def packed_file_html(
    root: Model | Sequence[Model],
    title: str,
    template: Template = FILE,
    template_variables: Mapping[str, Any] | None = None,
) -> str:
    """bokeh's `file_html(root, INLINE, title, template, template_variables)` with BokehJS and
    the document JSON packed: the same template, scripts and render items
    (bokeh.embed.elements.html_page_for_render_items, with one step more), a third of the
    size. `root` may be several roots of one page (the compare page)."""
    roots = [root] if isinstance(root, Model) else list(root)
    with page_parts(roots) as (docs_json, render_items, bundle):
        pass
    library = set(INLINE.js_raw)
    big = [js for js in bundle.js_raw if js in library]
    rest = [js for js in bundle.js_raw if js not in library]  # bokeh's few lines of settings
    bokeh_js = packed_scripts_html(big) + JS_RESOURCES.render(js_raw=rest, js_files=[])
    _, bokeh_css = bundle

    # bokeh escapes the JSON for a <script> element and its embed code unescapes it; packed, it
    # needs no escaping, but keeping bokeh's form keeps its reader unchanged.
    json_id = make_globally_unique_css_safe_id()
    raw = _html.escape(serialize_json(docs_json), quote=False).encode("utf-8")
    packed_id = f"{json_id}-packed"
    data = lzma.compress(raw, format=lzma.FORMAT_ALONE, filters=_DATA_FILTERS)
    # The JSON element stays empty until the unpacking script (run during parsing) fills it;
    # bokeh's embed script reads it at DOMContentLoaded, after that.
    plot_script = (
        wrap_in_script_tag("", "application/json", json_id)
        + _packed_element(packed_id, data, len(raw))
        + wrap_in_script_tag(f'window.__aneUnpack.into("{packed_id}", "{json_id}");')
        + wrap_in_script_tag(script_for_render_items(json_id, render_items))
    )
    context: dict[str, object] = {
        **(template_variables or {}),
        "title": title,
        "bokeh_js": bokeh_js,
        "bokeh_css": bokeh_css,
        "plot_script": plot_script,
        "docs": render_items,
        "base": FILE,
        "macros": MACROS,
    }
    if len(render_items) == 1:
        context["doc"] = render_items[0]
        context["roots"] = render_items[0].roots
    return template.render(context)


_PACKED = re.compile(
    rf'<script type="{MIME}" id="([^"]+)" data-size="(\d+)"(?: data-parts="([\d,]+)")?>'
    r"([^<]*)</script>"
)


_CALL = re.compile(
    r'<script>\s*window\.__aneUnpack(?:\.into)?\("[^"]+"(?:, "[^"]+")?\);\s*</script>'
)


def unpack_page(page: str) -> str:
    """`page` with every packed element replaced by what the browser makes of it: the scripts
    inline, the document JSON in its element. For tests and for reading a page by eye; the page
    itself never needs it."""
    filled: dict[str, str] = {}

    def expand(m: re.Match[str]) -> str:
        el_id, size, parts, text85 = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        data = lzma.decompress(unb85(text85), format=lzma.FORMAT_ALONE)
        if len(data) != size:
            raise ValueError(f"packed element {el_id}: {len(data)} bytes, expected {size}")
        text = data.decode("utf-8")
        if not parts:
            filled[el_id] = text
            return ""
        scripts, at = [], 0
        units = text.encode("utf-16-le")
        for n in (int(p) for p in parts.split(",")):
            scripts.append(units[2 * at : 2 * (at + n)].decode("utf-16-le"))
            at += n
        return "".join(f"<script>{s}</script>" for s in scripts)

    out = _PACKED.sub(expand, page).replace(f"<script>\n{unpack_js()}</script>\n", "")
    out = _CALL.sub("", out)
    for el_id, text in filled.items():
        target = el_id.removesuffix("-packed")
        head = f'<script type="application/json" id="{target}">'
        empty = re.compile(rf"{re.escape(head)}\s*</script>")
        out, n = empty.subn(f"{head}{text}</script>".replace("\\", "\\\\"), out)
        if n != 1:
            raise ValueError(f"packed element {el_id}: no element {target} to fill")
    return out
