"""The one headless Chromium per test process (Debian's build, driven by Playwright).

A pytest plugin (loaded with ``-p tests.browser_support`` from pyproject.toml) so every test
folder shares one browser: Playwright's sync API allows only one instance per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: run scripts/bootstrap dev", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield BritishReader(instance)
        instance.close()


class BritishReader:
    """The browser, whose pages read as a British reader's (Accept-Language en-GB) unless a test
    gives its context another ``locale``: pages preselect the reader's currency
    (service/donor_currency.py), and the tests' sample appeal is in pounds first."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_context(self, **options: Any) -> Any:
        options.setdefault("locale", "en-GB")
        return self._browser.new_context(**options)

    def new_page(self, **options: Any) -> Any:
        options.setdefault("locale", "en-GB")
        return self._browser.new_page(**options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)
