"""Plain helpers for the browser tests: where screenshots go, axe-core's script, a quiet static
file handler for news pages on their own origin, and the widget on a page.

The browser and its pages are fixtures of the plugin tests/browser_support.py."""

from __future__ import annotations

from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # screenshots, kept by CI
AXE = Path(__file__).resolve().parents[1] / "browser" / "node_modules" / "axe-core" / "axe.min.js"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # the test output is not an access log
        pass


def widget(page: Any) -> Any:
    return page.locator("[data-donation-router]")
