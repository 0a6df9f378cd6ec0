"""Cross-origin reads: only the appeal's listed origins, exactly, never a wildcard or credentials."""

from __future__ import annotations

from typing import Any

import pytest

URLS = (
    "/api/v1/appeals/red-cross-ukraine/progress",
    "/api/v1/appeals/red-cross-ukraine/sources",
    "/embed/red-cross-ukraine/config.json",
)
LISTED = "http://localhost:8000"


@pytest.mark.parametrize("url", URLS)
def test_a_listed_origin_may_read(client: Any, url: str) -> None:
    response = client.get(url, headers={"Origin": LISTED})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == LISTED
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize(
    "origin",
    [
        "https://news.example",
        "https://localhost:8000",  # another scheme is another origin
        "http://localhost:8001",
        "http://localhost:8000.evil.example",
        "http://evil-localhost:8000",
        "null",
    ],
)
def test_other_origins_get_no_cors_grant(client: Any, url: str, origin: str) -> None:
    response = client.get(url, headers={"Origin": origin})
    assert response.status_code == 200  # the figures are public; the browser withholds them
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize("url", URLS)
def test_no_origin_header_still_varies_on_origin(client: Any, url: str) -> None:
    response = client.get(url)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Origin" in response.headers["Vary"]


def test_preflight_for_a_listed_origin_allows_get_only(client: Any) -> None:
    response = client.options(URLS[0], headers={"Origin": LISTED, "Access-Control-Request-Method": "GET"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == LISTED
    assert response.headers["Access-Control-Allow-Methods"] == "GET"
    unlisted = client.options(
        URLS[0], headers={"Origin": "https://news.example", "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in unlisted.headers


def test_a_304_keeps_the_cors_grant(client: Any) -> None:
    etag = client.get(URLS[0], headers={"Origin": LISTED}).headers["ETag"]
    response = client.get(URLS[0], headers={"Origin": LISTED, "If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["Access-Control-Allow-Origin"] == LISTED
