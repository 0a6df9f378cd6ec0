"""The one headless Chromium per test process (Debian's build, driven by Playwright), and pages
in it at phone width: ``phone`` (375 px, the width the donor pages are checked at) and ``page``
(390 px).

A pytest plugin (loaded with ``-p tests.browser_support`` from pyproject.toml) so every test
folder shares one browser: Playwright's sync API allows only one instance per process. The
service they browse is the suite's ``live_server`` fixture (tests/conftest.py).
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


def _phone_page(browser: Any, width: int, height: int) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A page in a fresh context the size of a small phone (375 x 812), touch, as a donor holds it."""
    yield from _phone_page(browser, 375, 812)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh context the size of a larger phone (390 x 844), touch."""
    yield from _phone_page(browser, 390, 844)


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
