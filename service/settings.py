"""Settings read once from the environment, parsed into types, every problem reported at once.

In development (the default) everything points at the local Stripe sandbox and an SQLite file
under ``instance/`` so a newcomer needs no configuration; in production a missing or
test-looking secret stops start-up with a message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .currencies import SUPPORTED_CURRENCIES
from .descriptors import prefix_problems

ENVIRONMENTS = ("development", "test", "production")
STRIPE_API_DEFAULT = "https://api.stripe.com"
SANDBOX_API_DEFAULT = "http://127.0.0.1:12111"
DEV_STRIPE_KEY = "sk_test_sandbox"
DEV_WEBHOOK_SECRET = "whsec_sandbox_development_only"  # noqa: S105 - development default
DEV_SECRET_KEY = "development-only-secret-key-change-me"  # noqa: S105 - development default
INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


class SettingsError(Exception):
    """Raised with every configuration problem found, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Settings:
    environment: str = "development"
    database_url: str = f"sqlite:///{INSTANCE_DIR / 'donation-router.sqlite3'}"
    stripe_secret_key: str = DEV_STRIPE_KEY
    stripe_webhook_secrets: tuple[str, ...] = (DEV_WEBHOOK_SECRET,)
    stripe_api_base: str = SANDBOX_API_DEFAULT
    stripe_timeout_seconds: float = 6.0
    stripe_max_retries: int = 2
    public_base_url: str = "http://127.0.0.1:5000"
    redis_url: str | None = None
    secret_key: str = DEV_SECRET_KEY
    checkout_session_minutes: int = 60
    worker_timeout_seconds: int = 25
    database_pool_size: int = 10
    # How long a worker reuses an appeal it read for donations (service/appeal_cache.py).
    appeal_cache_seconds: float = 5.0
    log_level: str = "INFO"
    deployment_id: str = "donation-router"
    # Reliability and abuse limits (see docs/operations.md).
    trusted_proxy_count: int = 0
    rate_limit_donations: str = "10/minute;60/hour"
    rate_limit_donations_global: str = "3000/minute"
    webhook_payload_retention_days: int = 90
    metrics_token: str | None = None
    # Successful reads of the public, cached figures are counted in /metrics; logging each of
    # thousands a second costs CPU and log storage, so they are not logged unless asked.
    access_log_public_reads: bool = False
    # Surge mode (docs/scaling.md): Stripe calls per second shared by every worker and instance,
    # kept below Stripe's default 25 per second per endpoint; 0 turns the budget off.
    stripe_call_budget: int = 20
    # How long a donor's request may wait for budget (or retry a 429) before the Payment Link.
    surge_wait_seconds: float = 2.0
    # Worker processes per instance: the in-process fallback budget is the budget divided by it.
    web_concurrency: int = 2
    # The Stripe account's default settlement currency (its bank account's). Gifts in another
    # currency are converted by Stripe, for a fee the fee-cover estimate includes. None: every
    # currency the appeals take settles as itself (a bank account per currency).
    stripe_settlement_currency: str | None = None
    # The account's statement descriptor prefix (Dashboard > Settings > Public details, "shortened
    # descriptor"): appeal suffixes must fit beside it in 22 characters. None: the longest
    # prefix Stripe allows (10) is assumed.
    statement_descriptor_prefix: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def uses_real_stripe(self) -> bool:
        return self.stripe_api_base.rstrip("/") == STRIPE_API_DEFAULT

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def normalise_database_url(url: str) -> str:
    """Accept ``postgres://`` as PaaS hand it out and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _split_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _rate_limit(env: Mapping[str, str], name: str, default: str, problems: list[str]) -> str:
    """A Flask-Limiter limit string such as ``10/minute;60/hour``, checked at start-up."""
    from limits import parse_many

    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        parse_many(raw)
    except ValueError:
        problems.append(f"{name} must look like 10/minute;60/hour; got {raw!r}")
        return default
    return raw


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from environment variables; raise SettingsError listing every problem."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    defaults = Settings()

    environment = env.get("APP_ENV", "development").strip().lower()
    if environment not in ENVIRONMENTS:
        problems.append(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}; got {environment!r}")
        environment = "development"
    production = environment == "production"

    def flag(name: str) -> bool:
        return env.get(name, "").strip().lower() in ("1", "true", "yes")

    def number(name: str, default: float, kind: type, low: float, high: float) -> Any:
        raw = env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = kind(raw)
        except ValueError:
            problems.append(f"{name} must be a {kind.__name__}; got {raw!r}")
            return default
        if not low <= value <= high:
            problems.append(f"{name} must be between {low} and {high}; got {raw!r}")
            return default
        return value

    database_url = normalise_database_url(env.get("DATABASE_URL", "").strip() or defaults.database_url)
    if not database_url.startswith(("sqlite:", "postgresql+psycopg:")):
        problems.append("DATABASE_URL must be a postgres://, postgresql:// or sqlite:/// URL")

    stripe_key = env.get("STRIPE_SECRET_KEY", "").strip()
    webhook_secrets = _split_list(env.get("STRIPE_WEBHOOK_SECRET", ""))
    api_base = env.get("STRIPE_API_BASE", "").strip().rstrip("/")
    secret_key = env.get("SECRET_KEY", "").strip()
    public_base = env.get("PUBLIC_BASE_URL", "").strip().rstrip("/")

    if production:
        allow_test = flag("ALLOW_TEST_KEYS")
        if not stripe_key:
            problems.append("STRIPE_SECRET_KEY is required in production")
        elif not stripe_key.startswith(("sk_live_", "rk_live_", "sk_test_", "rk_test_")):
            problems.append("STRIPE_SECRET_KEY does not look like a Stripe secret key")
        elif stripe_key.startswith(("sk_test_", "rk_test_")) and not allow_test:
            problems.append(
                "STRIPE_SECRET_KEY is a test-mode key; use a live key "
                "(or set ALLOW_TEST_KEYS=true for a staging deployment)"
            )
        if not webhook_secrets:
            problems.append(
                "STRIPE_WEBHOOK_SECRET is required in production (comma-separate two during rotation)"
            )
        if DEV_WEBHOOK_SECRET in webhook_secrets:
            problems.append(
                "STRIPE_WEBHOOK_SECRET is the development default; use the endpoint's signing secret"
            )
        if not secret_key or secret_key == DEV_SECRET_KEY or len(secret_key) < 32:
            problems.append("SECRET_KEY is required in production: at least 32 random characters")
        if not public_base:
            problems.append("PUBLIC_BASE_URL is required in production (e.g. https://donate.example.org)")
        elif not public_base.startswith("https://"):
            problems.append("PUBLIC_BASE_URL must use https in production")
        if not env.get("DATABASE_URL", "").strip():
            problems.append("DATABASE_URL is required in production (PostgreSQL)")
    for secret in webhook_secrets:
        if not secret.startswith("whsec_"):
            problems.append("STRIPE_WEBHOOK_SECRET values must start with whsec_")
            break
    if stripe_key and not stripe_key.startswith(("sk_", "rk_")):
        problems.append("STRIPE_SECRET_KEY must start with sk_ or rk_")
    if api_base and not _is_http_url(api_base):
        problems.append("STRIPE_API_BASE must be an http(s) URL")
    if public_base and not _is_http_url(public_base):
        problems.append("PUBLIC_BASE_URL must be an http(s) URL")

    timeout = number("STRIPE_TIMEOUT_SECONDS", defaults.stripe_timeout_seconds, float, 1, 60)
    retries = number("STRIPE_MAX_RETRIES", defaults.stripe_max_retries, int, 0, 5)
    worker_timeout = number("WORKER_TIMEOUT_SECONDS", defaults.worker_timeout_seconds, int, 5, 29)
    # A donor's request must finish before the worker is killed, and the worker before the
    # PaaS router gives up at 30 s, so Stripe's worst case has to fit inside the worker's limit.
    if timeout * (retries + 1) + retries * 2 >= worker_timeout:
        problems.append(
            "STRIPE_TIMEOUT_SECONDS x (STRIPE_MAX_RETRIES + 1) plus back-off must stay below "
            f"WORKER_TIMEOUT_SECONDS ({timeout} x {retries + 1} vs {worker_timeout})"
        )
    session_minutes = number("CHECKOUT_SESSION_MINUTES", defaults.checkout_session_minutes, int, 30, 1440)
    pool_size = number("DATABASE_POOL_SIZE", defaults.database_pool_size, int, 1, 200)
    appeal_cache = number("APPEAL_CACHE_SECONDS", defaults.appeal_cache_seconds, float, 0, 300)
    log_level = env.get("LOG_LEVEL", defaults.log_level).strip().upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append("LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        log_level = defaults.log_level
    redis_url = env.get("REDIS_URL", "").strip() or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        problems.append("REDIS_URL must be a redis://, rediss:// or unix:// URL")

    proxies = number("TRUSTED_PROXY_COUNT", defaults.trusted_proxy_count, int, 0, 5)
    per_address = _rate_limit(env, "RATE_LIMIT_DONATIONS", defaults.rate_limit_donations, problems)
    overall = _rate_limit(env, "RATE_LIMIT_DONATIONS_GLOBAL", defaults.rate_limit_donations_global, problems)
    retention = number(
        "WEBHOOK_PAYLOAD_RETENTION_DAYS", defaults.webhook_payload_retention_days, int, 1, 3650
    )
    metrics_token = env.get("METRICS_TOKEN", "").strip() or None
    log_public_reads = flag("ACCESS_LOG_PUBLIC_READS")
    if metrics_token is not None and len(metrics_token) < 16:
        problems.append("METRICS_TOKEN must be at least 16 characters when set")

    call_budget = number("STRIPE_CALL_BUDGET", defaults.stripe_call_budget, int, 0, 10000)
    surge_wait = number("SURGE_WAIT_SECONDS", defaults.surge_wait_seconds, float, 0, 10)
    web_concurrency = number("WEB_CONCURRENCY", defaults.web_concurrency, int, 1, 64)
    if surge_wait + timeout >= worker_timeout:
        problems.append(
            "SURGE_WAIT_SECONDS plus STRIPE_TIMEOUT_SECONDS must stay below WORKER_TIMEOUT_SECONDS"
        )

    settlement_currency = env.get("STRIPE_SETTLEMENT_CURRENCY", "").strip().lower() or None
    if settlement_currency and settlement_currency not in SUPPORTED_CURRENCIES:
        problems.append("STRIPE_SETTLEMENT_CURRENCY must be a currency code Stripe settles in, e.g. gbp")
    descriptor_prefix = env.get("STRIPE_STATEMENT_DESCRIPTOR_PREFIX", "").strip() or None
    if descriptor_prefix:
        problems.extend(f"STRIPE_STATEMENT_DESCRIPTOR_PREFIX {p}" for p in prefix_problems(descriptor_prefix))

    if problems:
        raise SettingsError(problems)

    if not api_base:
        api_base = STRIPE_API_DEFAULT if production else SANDBOX_API_DEFAULT
    return Settings(
        environment=environment,
        database_url=database_url,
        stripe_secret_key=stripe_key or defaults.stripe_secret_key,
        stripe_webhook_secrets=webhook_secrets or defaults.stripe_webhook_secrets,
        stripe_api_base=api_base,
        stripe_timeout_seconds=timeout,
        stripe_max_retries=retries,
        public_base_url=public_base or defaults.public_base_url,
        redis_url=redis_url,
        secret_key=secret_key or defaults.secret_key,
        checkout_session_minutes=session_minutes,
        worker_timeout_seconds=worker_timeout,
        database_pool_size=pool_size,
        appeal_cache_seconds=appeal_cache,
        log_level=log_level,
        deployment_id=env.get("DEPLOYMENT_ID", defaults.deployment_id).strip() or defaults.deployment_id,
        trusted_proxy_count=proxies,
        rate_limit_donations=per_address,
        rate_limit_donations_global=overall,
        webhook_payload_retention_days=retention,
        metrics_token=metrics_token,
        access_log_public_reads=log_public_reads,
        stripe_call_budget=call_budget,
        surge_wait_seconds=surge_wait,
        web_concurrency=web_concurrency,
        stripe_settlement_currency=settlement_currency,
        statement_descriptor_prefix=descriptor_prefix,
    )
