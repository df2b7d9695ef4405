"""A static PNG of a report page, for viewers that run no script (opt-in).

Headless Chromium draws the standalone page (`chromium --headless --screenshot`, no driver, no
network) and the PNG goes into the output's MIME bundle beside `text/html`. Front ends that
render HTML prefer it and never show the picture; converters that cannot run HTML
(`nbconvert --to latex` / `--to pdf`) and viewers that refuse it use the PNG.
It costs a Chromium start per output (1-2 s, more on a busy machine) and ~200 KB, so it is off
unless `ANE_NOTEBOOK_PNG=1` is set (docs/notebooks.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

ENV = "ANE_NOTEBOOK_PNG"
CHROMIUM_ENV = "ANE_NOTEBOOK_CHROMIUM"
WIDTH_PX = 1100
MARGIN_PX = 240  # below the estimated layout height: the table's rows wrap at this width
TIMEOUT_S = 60
# Virtual time Chromium grants the page before the screenshot: BokehJS unpacks, lays out and
# paints within it (virtual time runs as fast as the page allows, so this is not a wait).
BUDGET_MS = 15_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def wanted() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def chromium() -> str | None:
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def page_png(page: str, height: int, width: int = WIDTH_PX) -> bytes:
    """The PNG of standalone page `page` in a `width` x `height` window.

    Raises RuntimeError (one line) when no Chromium is found or it fails."""
    binary = chromium()
    if binary is None:
        raise RuntimeError(f"{ENV} is set but no Chromium was found (set {CHROMIUM_ENV})")
    with tempfile.TemporaryDirectory(prefix="ane-png-") as tmp:
        src, out = Path(tmp, "page.html"), Path(tmp, "page.png")
        src.write_text(page, encoding="utf-8")
        cmd = [
            binary,
            "--headless",
            "--no-sandbox",  # containers usually lack the user namespaces the sandbox needs
            "--disable-gpu",
            "--hide-scrollbars",
            "--disable-extensions",
            "--no-first-run",
            f"--user-data-dir={tmp}/profile",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={BUDGET_MS}",
            f"--screenshot={out}",
            src.as_uri(),
        ]
        try:
            subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S, check=True)
        except (OSError, subprocess.SubprocessError) as e:
            raise RuntimeError(f"Chromium could not draw the PNG: {e}") from e
        data = out.read_bytes() if out.is_file() else b""
    if not data.startswith(PNG_SIGNATURE):
        raise RuntimeError("Chromium wrote no PNG")
    return data


def optional_png(page: str, height: int) -> bytes | None:
    """`page_png` when `ANE_NOTEBOOK_PNG` asks for it; a failure is a warning, never an error:
    the interactive output must not be lost for want of its picture."""
    if not wanted():
        return None
    try:
        return page_png(page, height)
    except RuntimeError as e:
        warnings.warn(f"ane_notebook: no PNG fallback: {e}", RuntimeWarning, stacklevel=2)
        return None
