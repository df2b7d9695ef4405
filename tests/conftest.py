"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
