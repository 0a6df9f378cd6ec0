"""The suite's settings: one webhook secret, the PostgreSQL server, the settings every app starts from."""

from __future__ import annotations

import os

from service.settings import Settings

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_WEBHOOK_SECRET = "whsec_test_suite_secret"


def suite_settings(database_url: str, stripe_api_base: str) -> Settings:
    """What the ``settings`` fixture gives: the sandbox for Stripe, limits loose enough for bursts."""
    return Settings(
        environment="test",
        database_url=database_url,
        stripe_secret_key="sk_test_suite",
        stripe_webhook_secrets=(TEST_WEBHOOK_SECRET,),
        stripe_api_base=stripe_api_base,
        stripe_timeout_seconds=2.0,
        stripe_max_retries=1,
        public_base_url="http://donate.test",
        secret_key="test-secret-key-that-is-long-enough-for-tests",
        database_pool_size=5,
        # Tests fire bursts from one address; tests/reliability checks the real limits.
        rate_limit_donations="1000/minute",
        rate_limit_donations_network="1000/minute",
        # No Stripe call budget: tests fire bursts against the sandbox; tests/surge sets one.
        stripe_call_budget=0,
        # The monthly offer is a step of its own between the donate form and Checkout; the tests
        # of that step turn it on (tests/lifecycle/test_monthly_offer.py), the rest go straight on.
        monthly_offer=False,
    )
