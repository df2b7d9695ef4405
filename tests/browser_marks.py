"""The marks every browser test module carries (`pytestmark = BROWSER_TEST_MARKS`)."""

from __future__ import annotations

import pytest
from browser import chromium_missing_reason

# The marks of every browser test module (`pytestmark = BROWSER_TEST_MARKS`): end-to-end and
# slow, skipped with the reason when no Chromium is found (a failure in CI, where
# ANE_NOTEBOOK_REQUIRE_BROWSER=1 makes chromium_missing_reason raise instead).
BROWSER_TEST_MARKS = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        chromium_missing_reason() is not None, reason=chromium_missing_reason() or ""
    ),
]
