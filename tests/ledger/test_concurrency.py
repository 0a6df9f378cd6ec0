"""Fifty simultaneous deliveries change the ledger once (unique keys and compare-and-set, no locks in Python)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from service.donations.models import DonationStatus

from . import payloads

N = 50


def _together(func, count: int = N) -> list:
    """Run func(i) for every i at once; a 503 is retried, as Stripe retries it.

    A 503 is the service's correct answer when it cannot get a database connection in time
    (e.g. fifty requests on a small pool of a loaded machine), so only the final answers count.
    """
    barrier = threading.Barrier(count)

    def run(i: int):
        barrier.wait()
        status = func(i)
        for attempt in range(5):
            if status != 503:
                break
            time.sleep(0.2 * (attempt + 1))
            status = func(i)
        return status

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_the_same_event_posted_fifty_times_at_once_applies_once(live_server, make_donation, ledger):
    donation = make_donation()
    evt = payloads.event("checkout.session.completed", payloads.session(donation))
    payload = payloads.body(evt)
    headers = payloads.headers(payload)
    url = f"{live_server.url}/webhooks/stripe"
    statuses = _together(lambda i: requests.post(url, data=payload, headers=headers, timeout=30).status_code)
    assert statuses == [200] * N
    stored = ledger.event(evt["id"])
    assert stored.outcome == "processed"
    assert stored.delivery_count >= N  # retried 503s may add deliveries; they never add effects
    assert len(ledger.events()) == 1
    assert len(ledger.payments(donation.id)) == 1
    assert ledger.donation(donation.id).status == DonationStatus.PAID


def test_fifty_different_refund_events_for_one_charge_keep_the_largest_total(app, make_donation, ledger):
    donation = make_donation(amount=5000)
    payloads.post(app.test_client(), payloads.event("checkout.session.completed", payloads.session(donation)))
    events = [
        payloads.event("charge.refunded", payloads.charge(donation, amount_refunded=100 * (i + 1)))
        for i in range(N)
    ]

    def deliver(i: int) -> int:
        # A client per thread: each request runs in its own app context, as under a real server.
        return payloads.post(app.test_client(), events[i]).status_code

    assert _together(deliver) == [200] * N
    stored = ledger.donation(donation.id)
    assert (stored.status, stored.amount_refunded) == (DonationStatus.REFUNDED, 5000)
    (payment,) = ledger.payments(donation.id)
    assert payment.amount_refunded == 5000
    assert {e.outcome for e in ledger.events()} <= {"processed", "duplicate"}
