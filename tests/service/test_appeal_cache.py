"""Appeals are cached for a few seconds per worker on the donation path (service/appeal_cache.py).

What a donor and an operator can rely on: a change made through `flask appeals` takes effect in
that process at once, a change made elsewhere within APPEAL_CACHE_SECONDS, and a new appeal is
never hidden by an earlier "no such appeal".
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from service import extensions
from service.models import Appeal, utcnow

from .helpers import VALID, donation_count


@pytest.fixture
def cached_app(make_app: Any) -> Any:
    """A second app on the same (seeded) database, with a long cache so staleness is visible."""
    return make_app(appeal_cache_seconds=60)


def close_elsewhere(app: Any, slug: str) -> None:
    """Close the appeal as another process would: straight in the database."""
    with extensions.database(app).begin() as db:
        db.execute(update(Appeal).where(Appeal.slug == slug).values(closed_at=utcnow()))


def test_a_change_made_elsewhere_is_seen_once_the_cache_entry_is_gone(cached_app: Any) -> None:
    client = cached_app.test_client()
    assert client.post("/api/v1/donations", json=VALID).status_code == 201
    close_elsewhere(cached_app, "red-cross-ukraine")
    # Within APPEAL_CACHE_SECONDS this worker still has the open appeal: the documented staleness.
    assert client.post("/api/v1/donations", json=VALID).status_code == 201
    extensions.appeal_cache(cached_app).clear()  # what the entry's expiry does
    refused = client.post("/api/v1/donations", json=VALID)
    assert refused.status_code == 422
    assert "appeal" in refused.get_json()["error"]["fields"]
    assert donation_count(cached_app) == 2


def test_closing_through_the_cli_takes_effect_in_that_process_at_once(cached_app: Any) -> None:
    client = cached_app.test_client()
    assert client.post("/api/v1/donations", json=VALID).status_code == 201
    result = cached_app.test_cli_runner().invoke(args=["appeals", "close", "red-cross-ukraine"])
    assert result.exit_code == 0, result.output
    assert client.post("/api/v1/donations", json=VALID).status_code == 422
    result = cached_app.test_cli_runner().invoke(args=["appeals", "reopen", "red-cross-ukraine"])
    assert result.exit_code == 0, result.output
    assert client.post("/api/v1/donations", json=VALID).status_code == 201


def test_an_unknown_appeal_is_not_cached(cached_app: Any, tmp_path: Any) -> None:
    client = cached_app.test_client()
    body = {**VALID, "appeal": "flood-relief"}
    assert client.post("/api/v1/donations", json=body).status_code == 422
    definition = tmp_path / "flood.yaml"
    definition.write_text(
        "slug: flood-relief\ntitle: Flood Relief\ncharity_name: Red Cross\ncurrencies: [gbp]\n"
        "default_currency: gbp\nsuggested_amounts: {gbp: [1000]}\nminimum_amounts: {gbp: 200}\n"
        "maximum_amounts: {gbp: 1000000}\n"
    )
    with extensions.database(cached_app).begin() as db:
        from service.appeals import load_file

        load_file(db, definition)
    assert client.post("/api/v1/donations", json=body).status_code == 201


def test_cached_appeals_make_the_same_checkout_as_fresh_ones(cached_app: Any, sandbox: Any) -> None:
    client = cached_app.test_client()
    first = client.post("/api/v1/donations", json=VALID).get_json()
    second = client.post("/api/v1/donations", json=VALID).get_json()  # served from the cache
    assert first["appeal"] == second["appeal"] == "red-cross-ukraine"
    creates = sandbox.control.requests(path="/v1/checkout/sessions", method="POST")
    names = [c["params"]["line_items"][0]["price_data"]["product_data"]["name"] for c in creates[-2:]]
    assert names[0] == names[1] and "Red Cross Emergency Appeal (Ukraine)" in names[0]
    assert creates[-1]["params"]["metadata"]["appeal"] == "red-cross-ukraine"
