"""The Idempotency-Key header: same key and body, same answer and one session; other body, refused."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .helpers import VALID, donation_count, session_creates


def test_same_key_and_body_returns_the_first_answer(client: Any, app: Any, sandbox: Any) -> None:
    first = client.post("/api/v1/donations", json=VALID, headers={"Idempotency-Key": "order-1"})
    second = client.post("/api/v1/donations", json=VALID, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == 201 and second.status_code == 201
    assert first.get_json() == second.get_json()
    assert donation_count(app) == 1
    assert len(session_creates(sandbox)) == 1


def test_same_key_with_another_body_is_refused(client: Any, app: Any, sandbox: Any) -> None:
    client.post("/api/v1/donations", json=VALID, headers={"Idempotency-Key": "order-2"})
    other = client.post(
        "/api/v1/donations", json={**VALID, "amount": 5000}, headers={"Idempotency-Key": "order-2"}
    )
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert donation_count(app) == 1
    assert len(session_creates(sandbox)) == 1


def test_different_keys_make_different_donations(client: Any, app: Any) -> None:
    a = client.post("/api/v1/donations", json=VALID, headers={"Idempotency-Key": "a"}).get_json()
    b = client.post("/api/v1/donations", json=VALID, headers={"Idempotency-Key": "b"}).get_json()
    assert a["id"] != b["id"]
    assert donation_count(app) == 2


def test_twenty_concurrent_requests_with_one_key_make_one_donation_and_one_session(
    app: Any, sandbox: Any
) -> None:
    def post(_: int) -> Any:
        with app.test_client() as c:
            return c.post("/api/v1/donations", json=VALID, headers={"Idempotency-Key": "burst"})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(post, range(20)))
    ok = [r for r in responses if r.status_code == 201]
    assert ok, [r.get_json() for r in responses]
    assert all(r.status_code in (201, 409) for r in responses), [r.status_code for r in responses]
    assert len({r.get_json()["id"] for r in ok}) == 1
    assert donation_count(app) == 1
    assert len({c["params"]["client_reference_id"] for c in session_creates(sandbox)}) == 1
    # However many times Stripe was asked, it was always with the one derived key.
    assert len({c["idempotency_key"] for c in session_creates(sandbox)}) == 1
