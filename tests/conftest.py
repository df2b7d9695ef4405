"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session", autouse=True)
def example_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point the example-model cache at a per-session folder, never the user's real cache.

    Examples are built at most once per session (later tests reuse the cached files).
    """
    root = tmp_path_factory.mktemp("ane_notebook_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANE_NOTEBOOK_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per browser test module (tests/browser.py)."""
    from browser import Chromium

    with Chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh 1280x900 page of the module's browser, closed after the test."""
    p = browser.new_page(1280, 900)
    yield p
    p.close()
