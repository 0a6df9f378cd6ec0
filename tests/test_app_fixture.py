"""The shared app (tests/support/apps.py) comes back to each test as if just built.

The suite builds one app per settings and backend and cleans it between tests; if a kind of
state escaped the clean-up, tests would pass or fail by the order they ran in. This dirties
every kind a test can leave behind on a second shared app, and checks the next test would see
none of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from service import extensions
from service.donations.models import Donation
from service.models import Appeal
from service.settings import Settings
from tests.support.apps import BuiltApp
from tests.support.budgets import SpentBudget
from tests.support.settings import TEST_WEBHOOK_SECRET

PROGRESS = "progress:red-cross-ukraine"
GIFT = {"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp", "email": "donor@example.org"}


@pytest.fixture
def built(app: Any, settings: Settings) -> Iterator[BuiltApp]:
    """A shared app of its own (``app`` is asked for the session's database and sandbox), strict
    enough that a donation left counted by the rate limiter would refuse the next one."""
    own = BuiltApp(settings.with_overrides(rate_limit_donations="1/minute"))
    yield own
    own.dispose()


def counts(application: Any) -> tuple[int, int]:
    with extensions.database(application).sessionmaker() as db:
        return db.scalar(select(func.count(Donation.id))), db.scalar(select(func.count(Appeal.id)))


def test_a_shared_app_forgets_everything_a_test_left_behind(built: BuiltApp, sandbox: Any) -> None:
    application = built.fresh(sandbox)
    client = application.test_client()
    gateway = extensions.stripe_gateway(application)
    endpoint = sorted(application.view_functions)[0]

    # What a test may leave: rows, a used rate limit, cached appeal and figures, a refused webhook
    # counted, Checkout Sessions in the sandbox, changed settings, config, views and gateway.
    assert client.post("/api/v1/donations", json=GIFT).status_code == 201
    assert client.post("/api/v1/donations", json=GIFT).status_code == 429
    assert client.get("/api/v1/appeals/red-cross-ukraine/progress").status_code == 200
    assert extensions.appeal_cache(application).peek("red-cross-ukraine") is not None
    assert (
        client.post("/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=x"}).status_code
        == 400
    )
    rejected = dict(extensions.webhook_rejections(application, dict).counts)
    assert rejected
    assert sandbox.control.requests(path="/v1/checkout/sessions", method="POST")
    extensions.set_settings(
        application, built.settings.with_overrides(public_base_url="http://elsewhere.test")
    )
    extensions.progress_cache(application).get(PROGRESS, lambda: "cached before")
    application.config["SET_BY_A_TEST"] = True
    application.view_functions[endpoint] = lambda: "replaced"
    gateway.budget = SpentBudget()
    gateway.added_by_a_test = True

    built.put_back()
    application = built.fresh(sandbox)
    client = application.test_client()

    assert counts(application) == (0, 1)  # only the seeded appeal
    assert extensions.appeal_cache(application).peek("red-cross-ukraine") is None
    assert extensions.progress_cache(application).get(PROGRESS, lambda: "computed") == "computed"
    assert extensions.webhook_rejections(application, lambda: "made anew") == "made anew"
    assert client.post("/api/v1/donations", json=GIFT).status_code == 201  # the limit counts again
    assert len(sandbox.control.requests(path="/v1/checkout/sessions", method="POST")) == 1  # just now
    assert extensions.settings(application) == built.settings
    assert "SET_BY_A_TEST" not in application.config
    assert application.view_functions[endpoint] is built.view_functions[endpoint]
    assert extensions.stripe_gateway(application) is gateway
    assert gateway.budget is None and not hasattr(gateway, "added_by_a_test")
    assert TEST_WEBHOOK_SECRET in extensions.settings(application).stripe_webhook_secrets
