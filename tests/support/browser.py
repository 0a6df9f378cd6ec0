"""Plain helpers for the browser tests: where screenshots go, axe-core's script, a quiet static
file handler for news pages on their own origin, and the widget on a page.

The browser and its pages are fixtures of the plugin tests/browser_support.py."""

from __future__ import annotations

from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # screenshots, kept by CI
# The finance pages are checked at both: a phone, and the laptop finance staff mostly use.
SIZES = {"375": {"width": 375, "height": 812}, "desktop": {"width": 1366, "height": 768}}
AXE = Path(__file__).resolve().parents[1] / "browser" / "node_modules" / "axe-core" / "axe.min.js"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # the test output is not an access log
        pass


def widget(page: Any) -> Any:
    return page.locator("[data-donation-router]")


def axe_violations(
    page: Any, root: str = "document", impacts: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """axe-core's violations on ``page`` (under ``root``), optionally only of these impacts.

    The page's context needs ``bypass_csp=True``: the pages' CSP rightly refuses injected scripts,
    and axe is the test's script, not the page's.
    """
    if not AXE.exists():
        pytest.fail("axe-core is missing: run scripts/bootstrap dev", pytrace=False)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(f"axe.run({root}, {{resultTypes: ['violations']}})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if impacts is None or v["impact"] in impacts
    ]


def finance_sign_in(page: Any, base: str, secret: str) -> None:
    """Sign in to the finance pages with a token, as staff do, and wait to leave the sign-in page."""
    page.goto(f"{base}/finance/sign-in")
    page.get_by_label("Finance token").fill(secret)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/sign-in" not in url)
