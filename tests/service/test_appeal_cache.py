"""Appeals are cached for a few seconds per worker on the donation path (service/appeal_cache.py).

What a donor and an operator can rely on: a change made through `flask appeals` takes effect in
that process at once, a change made elsewhere within APPEAL_CACHE_SECONDS, and a new appeal is
never hidden by an earlier "no such appeal".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from service import extensions
from service.appeal_cache import REFRESH_SECONDS, AppealCache, SharedAppealChanged
from service.appeals import find_appeal
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


@pytest.fixture
def new_session(app: Any) -> Iterator[Callable[[], Any]]:
    """Sessions on the app's database, each as one request's own, inside an app context; all
    closed at the end."""
    made: list[Any] = []

    def make() -> Any:
        made.append(extensions.database(app).sessionmaker())
        return made[-1]

    with app.app_context():
        try:
            yield make
        finally:
            for session in made:
                session.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_expired_appeal_is_read_again_by_one_request_while_the_others_keep_their_copy(
    app: Any, new_session: Callable[[], Any]
) -> None:
    """A hundred donations in flight when the entry expires must not all read the same row."""
    clock = Clock()
    reads: list[str] = []
    during_read: list[Any] = []

    def load(db: Any, slug: str) -> Any:
        reads.append(slug)
        if len(reads) == 2:
            # Another request (its own session) arrives while this one reads: it keeps the copy
            # it had.
            during_read.append(cache.find(other, slug))
        return find_appeal(db, slug)

    cache = AppealCache(5, load=load, clock=clock)
    db = new_session()
    other = new_session()
    first = cache.find(db, "red-cross-ukraine")
    assert reads == ["red-cross-ukraine"]
    assert first is not None and first.closed_at is None
    close_elsewhere(app, "red-cross-ukraine")
    db.rollback()
    clock.now += 5.5  # expired
    refreshed = cache.find(db, "red-cross-ukraine")
    assert reads == ["red-cross-ukraine", "red-cross-ukraine"]  # one read, not two
    # The request that came during the read had the old (open) copy; the reader, the new.
    assert during_read[0].closed_at is None
    assert refreshed is not None and refreshed.closed_at is not None
    db.rollback()
    # And from now on everyone has the new one, without reading.
    again = cache.find(db, "red-cross-ukraine")
    assert again is not None and again.closed_at is not None
    assert len(reads) == 2


def test_a_read_that_fails_hands_the_refresh_to_a_later_request(new_session: Callable[[], Any]) -> None:
    clock = Clock()
    failing = [False]
    reads: list[str] = []

    def load(db: Any, slug: str) -> Any:
        reads.append(slug)
        if failing[0]:
            raise OperationalError("SELECT", {}, Exception("database went away"))
        return find_appeal(db, slug)

    cache = AppealCache(5, load=load, clock=clock)
    db = new_session()
    assert cache.find(db, "red-cross-ukraine") is not None
    clock.now += 6
    failing[0] = True
    with pytest.raises(OperationalError):
        cache.find(db, "red-cross-ukraine")  # the request that reads gets the error
    # Within REFRESH_SECONDS the others keep the old copy rather than fail too ...
    clock.now += REFRESH_SECONDS - 0.5
    assert cache.find(db, "red-cross-ukraine") is not None
    assert len(reads) == 2
    # ... and after it, the next request tries again.
    clock.now += 1
    failing[0] = False
    assert cache.find(db, "red-cross-ukraine") is not None
    assert len(reads) == 3


def test_an_appeal_gone_at_refresh_is_gone_for_everyone(new_session: Callable[[], Any]) -> None:
    clock = Clock()
    present = [True]

    def load(db: Any, slug: str) -> Any:
        return find_appeal(db, slug) if present[0] else None

    cache = AppealCache(5, load=load, clock=clock)
    db = new_session()
    assert cache.find(db, "red-cross-ukraine") is not None
    clock.now += 6
    present[0] = False
    assert cache.find(db, "red-cross-ukraine") is None
    assert cache.peek("red-cross-ukraine") is None
    assert cache.find(db, "red-cross-ukraine") is None


def test_the_read_only_appeal_is_shared_and_cannot_be_changed(new_session: Callable[[], Any]) -> None:
    cache = AppealCache(60)
    db = new_session()
    shared = cache.find_read_only(db, "red-cross-ukraine")
    assert shared is not None
    assert cache.find_read_only(db, "red-cross-ukraine") is shared  # no copy per request
    with pytest.raises(SharedAppealChanged):
        shared.title = "Something else"
    assert shared.title == "Red Cross Emergency Appeal (Ukraine)"
    # find's copy belongs to the request: it may change it, and the shared one is untouched.
    own = cache.find(db, "red-cross-ukraine")
    assert own is not None and own is not shared
    own.title = "Changed in this request only"
    assert shared.title == "Red Cross Emergency Appeal (Ukraine)"
    db.rollback()
