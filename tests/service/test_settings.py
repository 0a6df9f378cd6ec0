"""Settings come from the environment, typed, with every problem reported at once."""

from __future__ import annotations

import pytest

from service.settings import (
    DEV_WEBHOOK_SECRET,
    SANDBOX_API_DEFAULT,
    STRIPE_API_DEFAULT,
    SettingsError,
    load_settings,
    normalise_database_url,
)

GOOD_PRODUCTION = {
    "APP_ENV": "production",
    "DATABASE_URL": "postgres://u:p@db.internal:5432/donations",
    "STRIPE_SECRET_KEY": "sk_live_abc123",
    "STRIPE_WEBHOOK_SECRET": "whsec_live_one,whsec_live_two",
    "SECRET_KEY": "x" * 40,
    "PUBLIC_BASE_URL": "https://donate.example.org",
    "MAIL_URL": "smtp://mailer:pa%40ss@smtp.example.org:587?starttls=true",
    "MAIL_FROM": "Red Cross <giving@example.org>",
}


def test_development_needs_no_configuration_and_points_at_the_sandbox() -> None:
    settings = load_settings({})
    assert settings.environment == "development"
    assert settings.stripe_api_base == SANDBOX_API_DEFAULT
    assert settings.database_url.startswith("sqlite:///") and "instance" in settings.database_url
    assert settings.stripe_secret_key.startswith("sk_test_")


def test_production_defaults_to_real_stripe_and_accepts_paas_postgres_urls() -> None:
    settings = load_settings(GOOD_PRODUCTION)
    assert settings.stripe_api_base == STRIPE_API_DEFAULT
    assert settings.uses_real_stripe
    assert settings.database_url == "postgresql+psycopg://u:p@db.internal:5432/donations"
    assert settings.stripe_webhook_secrets == ("whsec_live_one", "whsec_live_two")


def test_production_reports_every_missing_secret_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"APP_ENV": "production"})
    text = str(caught.value)
    for name in (
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "SECRET_KEY",
        "PUBLIC_BASE_URL",
        "DATABASE_URL",
        "MAIL_URL",
        "MAIL_FROM",
    ):
        assert name in text
    assert len(caught.value.problems) == 7


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"STRIPE_SECRET_KEY": "sk_test_abc"}, "test-mode key"),
        ({"STRIPE_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET}, "development default"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"PUBLIC_BASE_URL": "http://donate.example.org"}, "https"),
        ({"STRIPE_SECRET_KEY": "pk_live_abc"}, "STRIPE_SECRET_KEY"),
    ],
)
def test_production_refuses_test_looking_or_weak_secrets(override: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**GOOD_PRODUCTION, **override})
    assert named in str(caught.value)


def test_a_staging_deployment_may_opt_in_to_test_keys() -> None:
    settings = load_settings(
        {**GOOD_PRODUCTION, "STRIPE_SECRET_KEY": "sk_test_abc", "ALLOW_TEST_KEYS": "true"}
    )
    assert settings.stripe_secret_key == "sk_test_abc"


def test_secret_values_never_appear_in_the_error_message() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**GOOD_PRODUCTION, "STRIPE_SECRET_KEY": "sk_test_supersecretvalue"})
    assert "supersecretvalue" not in str(caught.value)


def test_typed_values_are_checked_and_all_errors_listed() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "STRIPE_TIMEOUT_SECONDS": "soon",
                "CHECKOUT_SESSION_MINUTES": "5",
                "DATABASE_URL": "mysql://x",
                "STRIPE_WEBHOOK_SECRET": "nope",
            }
        )
    problems = caught.value.problems
    assert any("STRIPE_TIMEOUT_SECONDS" in p for p in problems)
    assert any("CHECKOUT_SESSION_MINUTES" in p for p in problems)
    assert any("DATABASE_URL" in p for p in problems)
    assert any("whsec_" in p for p in problems)


def test_stripe_time_limits_must_fit_inside_the_worker_timeout() -> None:
    with pytest.raises(SettingsError, match="WORKER_TIMEOUT_SECONDS"):
        load_settings(
            {"STRIPE_TIMEOUT_SECONDS": "10", "STRIPE_MAX_RETRIES": "2", "WORKER_TIMEOUT_SECONDS": "25"}
        )
    settings = load_settings({"STRIPE_TIMEOUT_SECONDS": "5", "STRIPE_MAX_RETRIES": "2"})
    assert settings.stripe_timeout_seconds * 3 < settings.worker_timeout_seconds < 30


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://a@h/db", "postgresql+psycopg://a@h/db"),
        ("postgresql://a@h/db", "postgresql+psycopg://a@h/db"),
        ("postgresql+psycopg://a@h/db", "postgresql+psycopg://a@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_are_normalised_to_psycopg3(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


def test_mail_url_is_parsed_and_its_password_never_shown() -> None:
    from service.mailer import parse_mail_url

    settings = load_settings(GOOD_PRODUCTION)
    server = parse_mail_url(settings.mail_url or "")
    assert (server.host, server.port, server.username, server.password, server.starttls) == (
        "smtp.example.org", 587, "mailer", "pa@ss", True,
    )  # fmt: skip
    assert "pa@ss" not in repr(server)
    with pytest.raises(SettingsError) as caught:
        load_settings({**GOOD_PRODUCTION, "MAIL_URL": "http://mailer:hunter2@x", "MAIL_FROM": "nobody"})
    assert "hunter2" not in str(caught.value)
    assert [p.split()[0] for p in caught.value.problems] == ["MAIL_URL", "MAIL_FROM"]
