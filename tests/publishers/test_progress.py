"""Live progress: only money received counts, it is cached for viral traffic, and it names no donor."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from service import extensions
from service.fees import fee_cover_for

PROGRESS = "/api/v1/appeals/red-cross-ukraine/progress"


def test_progress_counts_only_money_received_net_of_refunds_and_fee_cover(
    webhooks: str, give: Any, client: Any, sandbox: Any, fresh_figures: Any, ledger: Any
) -> None:
    covered = give(cover_fees=True)  # 2500 + cover: only the gift counts
    refunded = give(amount=5000)
    give(pay=False, amount=10000)  # never paid
    give(amount=1000, currency="eur")
    sandbox.control.refund(refunded.stripe_payment_intent_id, 1000)
    assert sandbox.control.wait_for_webhooks(timeout=20)
    fresh_figures()

    body = client.get(PROGRESS).get_json()
    assert body["raised"] == [
        {"currency": "eur", "amount": 1000, "gifts": 1},
        {"currency": "gbp", "amount": 2500 + 4000, "gifts": 2},
    ]
    assert body["gifts"] == 3
    assert body["goal"] == {"amount": 50000000, "currency": "gbp"}
    assert body["percentage"] == round(100 * 6500 / 50000000, 1)
    assert body["updated_at"] is not None
    # The covered gift really was charged with its fee cover on top, which the total leaves out.
    cover = fee_cover_for(2500, "gbp")
    assert cover > 0 and covered.fee_cover_amount == cover
    assert [p.amount for p in ledger.payments(covered.id)] == [2500 + cover]


def test_a_full_refund_takes_the_gift_off_the_total(
    webhooks: str, give: Any, client: Any, sandbox: Any, fresh_figures: Any
) -> None:
    donation = give()
    sandbox.control.refund(donation.stripe_payment_intent_id)
    assert sandbox.control.wait_for_webhooks(timeout=20)
    fresh_figures()
    body = client.get(PROGRESS).get_json()
    assert (body["raised"], body["gifts"]) == ([], 0)


def test_progress_holds_no_personal_data(webhooks: str, give: Any, client: Any) -> None:
    give(email="donor@example.org", anonymous=True)
    body = client.get(PROGRESS).data
    assert b"donor@example.org" not in body and b"don_" not in body
    assert set(client.get(PROGRESS).get_json()) == {
        "appeal", "raised", "pledged", "gifts", "goal", "percentage", "updated_at", "matched", "match",
    }  # fmt: skip


def test_progress_is_publicly_cacheable_with_an_etag_and_answers_304(client: Any) -> None:
    first = client.get(PROGRESS)
    assert first.status_code == 200
    cache_control = first.headers["Cache-Control"]
    assert "public" in cache_control and "max-age=15" in cache_control
    assert "stale-while-revalidate" in cache_control
    etag = first.headers["ETag"]
    again = client.get(PROGRESS, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag and again.headers["Cache-Control"] == cache_control
    assert client.get(PROGRESS, headers={"If-None-Match": '"something-else"'}).status_code == 200


def test_etag_changes_when_money_arrives(webhooks: str, give: Any, client: Any, fresh_figures: Any) -> None:
    before = client.get(PROGRESS).headers["ETag"]
    give()
    fresh_figures()
    after = client.get(PROGRESS, headers={"If-None-Match": before})
    assert after.status_code == 200
    assert after.headers["ETag"] != before
    assert after.get_json()["gifts"] == 1


def test_cached_progress_needs_no_database_query(app: Any, client: Any) -> None:
    client.get(PROGRESS)  # fills the cache
    statements: list[str] = []
    engine = extensions.database(app).engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        for _ in range(20):
            assert client.get(PROGRESS).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert statements == []


def test_display_strings_follow_the_requested_language(
    webhooks: str, give: Any, client: Any, fresh_figures: Any
) -> None:
    give()
    fresh_figures()
    english = client.get(PROGRESS + "?lang=en").get_json()["display"]
    assert english == {"locale": "en", "raised": "£25", "goal": "£500,000", "gifts": "1 gift"}
    ukrainian = client.get(PROGRESS + "?lang=uk").get_json()["display"]
    assert ukrainian["locale"] == "uk"
    assert ukrainian["raised"] == "25\xa0GBP" and ukrainian["goal"] == "500\xa0000\xa0GBP"


def test_unknown_appeal_is_404_in_the_error_envelope(client: Any) -> None:
    response = client.get("/api/v1/appeals/no-such-appeal/progress")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_expired_figures_are_recomputed_once_however_many_readers_wait() -> None:
    import threading
    import time

    from service.ttl_cache import TTLCache

    now = [0.0]
    cache = TTLCache(ttl=15, clock=lambda: now[0])
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        time.sleep(0.05)  # a slow aggregate: everyone else arrives meanwhile
        return len(calls)

    threads = [threading.Thread(target=cache.get, args=("k", compute)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1]
    now[0] = 14.9
    assert cache.get("k", compute) == 1
    now[0] = 15.1
    assert cache.get("k", compute) == 2


def test_figures_endpoints_are_in_the_openapi_document(client: Any) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "/api/v1/appeals/{slug}/progress" in paths
    assert "/api/v1/appeals/{slug}/sources" in paths
    assert "304" in paths["/api/v1/appeals/{slug}/progress"]["get"]["responses"]


def test_a_bank_debit_is_pledged_until_the_bank_pays_it_and_leaves_if_it_fails(
    webhooks: str, give: Any, client: Any, sandbox: Any, fresh_figures: Any, ledger: Any
) -> None:
    give(amount=2000, currency="eur")  # by card: raised at once
    settles = give(pay=False, amount=3000, currency="eur")
    bounces = give(pay=False, amount=4000, currency="eur")
    for donation in (settles, bounces):
        sandbox.control.complete_session(donation.stripe_checkout_session_id, "async")
    assert sandbox.control.wait_for_webhooks(timeout=20)
    fresh_figures()
    body = client.get(PROGRESS).get_json()
    assert body["raised"] == [{"currency": "eur", "amount": 2000, "gifts": 1}]
    assert body["pledged"] == [{"currency": "eur", "amount": 7000, "gifts": 2}]
    assert body["gifts"] == 1
    pledged_etag = client.get(PROGRESS).headers["ETag"]

    sandbox.control.settle_async_payment(settles.stripe_checkout_session_id, "succeeded")
    sandbox.control.settle_async_payment(bounces.stripe_checkout_session_id, "failed")
    assert sandbox.control.wait_for_webhooks(timeout=20)
    fresh_figures()
    after = client.get(PROGRESS)
    assert after.get_json()["raised"] == [{"currency": "eur", "amount": 5000, "gifts": 2}]
    assert after.get_json()["pledged"] == []  # the failed debit is simply gone, never "raised"
    assert after.headers["ETag"] != pledged_etag
    assert ledger.donation(bounces.id).status == "failed"
