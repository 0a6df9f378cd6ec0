"""Settings come from the environment, typed, with every problem reported at once."""

from __future__ import annotations

import pytest

from service.settings import (
    DEV_SECRET_KEY,
    DEV_WEBHOOK_SECRET,
    INSTANCE_DIR,
    SANDBOX_API_DEFAULT,
    STRIPE_API_DEFAULT,
    Settings,
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


# Behaviour pinned before settings moved onto environs (issue #16): defaults, parsing, the
# production rules and the problems reported, so the rewrite is proven to change none of them.


def problems_of(env: dict[str, str]) -> list[str]:
    try:
        load_settings(env)
    except SettingsError as exc:
        return exc.problems
    return []


def test_no_configuration_gives_exactly_the_documented_defaults() -> None:
    assert load_settings({}) == Settings()
    assert Settings() == Settings(
        environment="development",
        database_url=f"sqlite:///{INSTANCE_DIR / 'donation-router.sqlite3'}",
        stripe_secret_key="sk_test_sandbox",
        stripe_webhook_secrets=(DEV_WEBHOOK_SECRET,),
        stripe_api_base="http://127.0.0.1:12111",
        stripe_timeout_seconds=6.0,
        stripe_max_retries=2,
        public_base_url="http://127.0.0.1:5000",
        redis_url=None,
        secret_key=DEV_SECRET_KEY,
        checkout_session_minutes=60,
        worker_timeout_seconds=25,
        database_pool_size=10,
        appeal_cache_seconds=5.0,
        log_level="INFO",
        deployment_id="donation-router",
        trusted_proxy_count=0,
        rate_limit_donations="10/minute;60/hour",
        rate_limit_donations_network="300/minute",
        rate_limit_donations_global=None,
        webhook_payload_retention_days=90,
        metrics_token=None,
        access_log_public_reads=False,
        stripe_call_budget=20,
        surge_wait_seconds=2.0,
        web_concurrency=2,
    )


def test_every_variable_is_read_trimmed_and_typed() -> None:
    settings = load_settings(
        {
            **GOOD_PRODUCTION,
            "APP_ENV": " Production ",
            "DATABASE_URL": " postgresql://u@db/x ",
            "STRIPE_SECRET_KEY": " rk_live_abc ",
            "STRIPE_WEBHOOK_SECRET": " whsec_a , ,whsec_b, ",
            "STRIPE_API_BASE": " https://stripe.internal:8443/ ",
            "PUBLIC_BASE_URL": " https://donate.example.org/ ",
            "SECRET_KEY": " " + "k" * 32 + " ",
            "REDIS_URL": " rediss://cache:6380/0 ",
            "STRIPE_TIMEOUT_SECONDS": " 2.5 ",
            "STRIPE_MAX_RETRIES": "1",
            "WORKER_TIMEOUT_SECONDS": "20",
            "CHECKOUT_SESSION_MINUTES": "30",
            "DATABASE_POOL_SIZE": "200",
            "APPEAL_CACHE_SECONDS": "0",
            "LOG_LEVEL": " debug ",
            "DEPLOYMENT_ID": " newsroom-eu ",
            "TRUSTED_PROXY_COUNT": "2",
            "RATE_LIMIT_DONATIONS": " 5/minute ",
            "RATE_LIMIT_DONATIONS_NETWORK": " 50/minute;500/hour ",
            "RATE_LIMIT_DONATIONS_GLOBAL": "100/second",
            "WEBHOOK_PAYLOAD_RETENTION_DAYS": "3650",
            "METRICS_TOKEN": " " + "m" * 16 + " ",
            "ACCESS_LOG_PUBLIC_READS": " YES ",
            "STRIPE_CALL_BUDGET": "0",
            "SURGE_WAIT_SECONDS": "10",
            "WEB_CONCURRENCY": "64",
        }
    )
    assert settings == Settings(
        environment="production",
        database_url="postgresql+psycopg://u@db/x",
        stripe_secret_key="rk_live_abc",
        stripe_webhook_secrets=("whsec_a", "whsec_b"),
        stripe_api_base="https://stripe.internal:8443",
        stripe_timeout_seconds=2.5,
        stripe_max_retries=1,
        public_base_url="https://donate.example.org",
        redis_url="rediss://cache:6380/0",
        secret_key="k" * 32,
        checkout_session_minutes=30,
        worker_timeout_seconds=20,
        database_pool_size=200,
        appeal_cache_seconds=0.0,
        log_level="DEBUG",
        deployment_id="newsroom-eu",
        trusted_proxy_count=2,
        rate_limit_donations="5/minute",
        rate_limit_donations_network="50/minute;500/hour",
        rate_limit_donations_global="100/second",
        webhook_payload_retention_days=3650,
        metrics_token="m" * 16,
        access_log_public_reads=True,
        stripe_call_budget=0,
        surge_wait_seconds=10.0,
        web_concurrency=64,
        mail_url=GOOD_PRODUCTION["MAIL_URL"],
        mail_from=GOOD_PRODUCTION["MAIL_FROM"],
        jobs_in_process=False,  # REDIS_URL is set: a worker takes the jobs
    )
    assert isinstance(settings.stripe_max_retries, int) and isinstance(settings.surge_wait_seconds, float)


def test_blank_values_mean_the_default() -> None:
    blank = {
        name: "  "
        for name in (
            "DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE",
            "PUBLIC_BASE_URL", "SECRET_KEY", "REDIS_URL", "STRIPE_TIMEOUT_SECONDS", "STRIPE_MAX_RETRIES",
            "WORKER_TIMEOUT_SECONDS", "CHECKOUT_SESSION_MINUTES", "DATABASE_POOL_SIZE",
            "APPEAL_CACHE_SECONDS", "DEPLOYMENT_ID", "TRUSTED_PROXY_COUNT", "RATE_LIMIT_DONATIONS",
            "RATE_LIMIT_DONATIONS_NETWORK", "RATE_LIMIT_DONATIONS_GLOBAL", "WEBHOOK_PAYLOAD_RETENTION_DAYS", "METRICS_TOKEN",
            "ACCESS_LOG_PUBLIC_READS", "STRIPE_CALL_BUDGET", "SURGE_WAIT_SECONDS", "WEB_CONCURRENCY",
            "DATABASE_QUEUE_SECONDS", "STRIPE_CALL_BUDGET_MARGIN_MS",
        )
    }  # fmt: skip
    assert load_settings(blank) == Settings()


@pytest.mark.parametrize("name", ["APP_ENV", "LOG_LEVEL"])
def test_a_blank_environment_or_log_level_is_refused_rather_than_defaulted(name: str) -> None:
    # An APP_ENV emptied on a PaaS must not quietly become development (the sandbox, SQLite).
    [problem] = problems_of({name: " "})
    assert problem.startswith(name)


def test_unknown_environment_and_log_level_are_refused_naming_the_choices() -> None:
    problems = problems_of({"APP_ENV": "staging", "LOG_LEVEL": "TRACE"})
    assert problems == [
        "APP_ENV must be one of development, test, production; got 'staging'",
        "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR",
    ]


@pytest.mark.parametrize(
    ("name", "kind", "low", "high"),
    [
        ("STRIPE_TIMEOUT_SECONDS", "float", 1, 60),
        ("STRIPE_MAX_RETRIES", "int", 0, 5),
        ("WORKER_TIMEOUT_SECONDS", "int", 5, 29),
        ("CHECKOUT_SESSION_MINUTES", "int", 30, 1440),
        ("DATABASE_POOL_SIZE", "int", 1, 200),
        ("DATABASE_QUEUE_SECONDS", "float", 5, 20),
        ("APPEAL_CACHE_SECONDS", "float", 0, 300),
        ("TRUSTED_PROXY_COUNT", "int", 0, 5),
        ("WEBHOOK_PAYLOAD_RETENTION_DAYS", "int", 1, 3650),
        ("STRIPE_CALL_BUDGET", "int", 0, 10000),
        ("STRIPE_CALL_BUDGET_MARGIN_MS", "int", 0, 1000),
        ("SURGE_WAIT_SECONDS", "float", 0, 10),
        ("WEB_CONCURRENCY", "int", 1, 64),
    ],
)
def test_numbers_are_typed_and_bounded_inclusively(name: str, kind: str, low: int, high: int) -> None:
    def own(problems: list[str]) -> list[str]:
        # Bounds can also break the cross-checks (the Stripe budget inside the worker timeout);
        # only this variable's own problems are looked at here.
        return [p for p in problems if p.startswith(f"{name} must")]

    step = 0.5 if kind == "float" else 1
    assert own(problems_of({name: str(low)})) == []
    assert own(problems_of({name: str(high)})) == []
    [below] = own(problems_of({name: str(low - step)}))
    [above] = own(problems_of({name: str(high + step)}))
    assert below.startswith(f"{name} must be between {low} and {high}")
    assert above.startswith(f"{name} must be between {low} and {high}")
    [wrong] = own(problems_of({name: "lots"}))
    assert wrong.startswith(f"{name} must be a {kind}") and "'lots'" in wrong
    if kind == "int":
        [fraction] = own(problems_of({name: f"{low}.5"}))
        assert fraction.startswith(f"{name} must be a int")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("0", False),
        ("no", False),
        ("on", False),
        ("", False),
    ],  # fmt: skip
)
def test_yes_no_flags_accept_1_true_yes_and_read_anything_else_as_no(value: str, expected: bool) -> None:
    assert load_settings({"ACCESS_LOG_PUBLIC_READS": value}).access_log_public_reads is expected
    staging = {**GOOD_PRODUCTION, "STRIPE_SECRET_KEY": "sk_test_abc", "ALLOW_TEST_KEYS": value}
    assert (problems_of(staging) == []) is expected


def test_test_keys_are_only_an_issue_in_production() -> None:
    assert (
        load_settings({"APP_ENV": "test", "STRIPE_SECRET_KEY": "sk_test_x"}).stripe_secret_key == "sk_test_x"
    )
    assert load_settings({"STRIPE_SECRET_KEY": "rk_live_x"}).stripe_secret_key == "rk_live_x"
    assert problems_of({"STRIPE_SECRET_KEY": "pk_test_x"}) == ["STRIPE_SECRET_KEY must start with sk_ or rk_"]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"STRIPE_SECRET_KEY": "rk_live_abc"}, []),
        ({"SECRET_KEY": "s" * 32}, []),
        ({"STRIPE_SECRET_KEY": "rk_test_abc"}, ["STRIPE_SECRET_KEY is a test-mode key"]),
        ({"STRIPE_SECRET_KEY": "sk_abc"}, ["STRIPE_SECRET_KEY does not look like a Stripe secret key"]),
        (
            {"STRIPE_SECRET_KEY": "pk_live_abc"},
            ["STRIPE_SECRET_KEY does not look like", "STRIPE_SECRET_KEY must start with sk_ or rk_"],
        ),
        ({"SECRET_KEY": "s" * 31}, ["SECRET_KEY is required in production: at least 32"]),
        ({"SECRET_KEY": DEV_SECRET_KEY}, ["SECRET_KEY is required in production"]),
        (
            {"STRIPE_WEBHOOK_SECRET": f"whsec_live,{DEV_WEBHOOK_SECRET}"},
            ["STRIPE_WEBHOOK_SECRET is the development default"],
        ),
        (
            {"STRIPE_WEBHOOK_SECRET": "whsec_live,live_two,three"},
            ["STRIPE_WEBHOOK_SECRET values must start with whsec_"],
        ),
        ({"PUBLIC_BASE_URL": "https:///path"}, ["PUBLIC_BASE_URL must be an http(s) URL"]),
        (
            {"PUBLIC_BASE_URL": "donate.example.org"},
            ["PUBLIC_BASE_URL must use https in production", "PUBLIC_BASE_URL must be an http(s) URL"],
        ),
        ({"STRIPE_API_BASE": "http://127.0.0.1:12111"}, []),
        ({"STRIPE_API_BASE": "ftp://files"}, ["STRIPE_API_BASE must be an http(s) URL"]),
        ({"DATABASE_URL": "mysql://db/x"}, ["DATABASE_URL must be a postgres://"]),
        ({"REDIS_URL": "http://cache"}, ["REDIS_URL must be a redis://, rediss:// or unix:// URL"]),
        ({"REDIS_URL": "unix:///run/redis.sock"}, []),
        ({"METRICS_TOKEN": "m" * 15}, ["METRICS_TOKEN must be at least 16 characters when set"]),
        (
            {"RATE_LIMIT_DONATIONS": "lots"},
            ["RATE_LIMIT_DONATIONS must look like 10/minute;60/hour; got 'lots'"],
        ),
    ],
)
def test_each_rule_reports_its_own_problem(override: dict[str, str], expected: list[str]) -> None:
    problems = problems_of({**GOOD_PRODUCTION, **override})
    assert len(problems) == len(expected), problems
    for start in expected:
        assert sum(problem.startswith(start) for problem in problems) == 1, problems


def test_an_explicit_stripe_api_base_wins_in_every_environment() -> None:
    production = load_settings({**GOOD_PRODUCTION, "STRIPE_API_BASE": "http://127.0.0.1:12111/"})
    assert production.stripe_api_base == "http://127.0.0.1:12111" and not production.uses_real_stripe
    assert load_settings({"STRIPE_API_BASE": STRIPE_API_DEFAULT}).uses_real_stripe


def test_surge_wait_must_fit_inside_the_worker_timeout_alongside_one_stripe_call() -> None:
    env = {"SURGE_WAIT_SECONDS": "10", "STRIPE_TIMEOUT_SECONDS": "5", "STRIPE_MAX_RETRIES": "0"}
    assert problems_of({**env, "WORKER_TIMEOUT_SECONDS": "16"}) == []
    assert problems_of({**env, "WORKER_TIMEOUT_SECONDS": "15"}) == [
        "SURGE_WAIT_SECONDS plus STRIPE_TIMEOUT_SECONDS must stay below WORKER_TIMEOUT_SECONDS"
    ]


def test_a_refused_number_falls_back_to_its_default_for_the_cross_checks() -> None:
    # An unreadable STRIPE_TIMEOUT_SECONDS is reported, and the default 6 s is what the worker
    # timeout is then checked against, so both problems come out in one run.
    problems = problems_of({"STRIPE_TIMEOUT_SECONDS": "soon", "WORKER_TIMEOUT_SECONDS": "10"})
    assert [p.split()[0] for p in problems] == ["STRIPE_TIMEOUT_SECONDS", "STRIPE_TIMEOUT_SECONDS"]
    assert "(6.0 x 3 vs 10)" in problems[1]


def test_the_error_lists_every_problem_one_per_line() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"APP_ENV": "production", "LOG_LEVEL": "loud"})
    lines = str(caught.value).splitlines()
    assert lines[0] == "Invalid configuration:"
    assert lines[1:] == [f"  - {p}" for p in caught.value.problems]
    assert len(lines) == 1 + 8  # LOG_LEVEL, then the production rules (MAIL_URL and MAIL_FROM too)


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


def test_the_service_donation_rate_defaults_to_what_the_stripe_call_budget_serves() -> None:
    assert load_settings({}).service_donation_rate == "20/second"
    assert load_settings({"STRIPE_CALL_BUDGET": "400"}).service_donation_rate == "400/second"
    assert load_settings({"STRIPE_CALL_BUDGET": "0"}).service_donation_rate is None
    explicit = load_settings({"STRIPE_CALL_BUDGET": "0", "RATE_LIMIT_DONATIONS_GLOBAL": "50/second"})
    assert explicit.service_donation_rate == "50/second"
