"""Headless Chromium for the browser tests: Debian's (``apt-get install -y chromium``, as
``.ci/run`` does), driven by Playwright with ``executable_path``; Playwright's own browser
download is never used. A test module sets ``pytestmark = browser.MARKS``."""

from __future__ import annotations

import os
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 20_000

MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"no Chromium at {CHROMIUM}: run `apt-get install -y chromium` to enable",
    ),
]


def launch(playwright: Any) -> Any:
    """Start the headless Chromium; Playwright ends its process on ``close``."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=TIMEOUT_MS
    )
