"""Settings read once from the environment, parsed into types, every problem reported at once.

In development (the default) everything points at the local Stripe sandbox and an SQLite file
under ``instance/`` so a newcomer needs no configuration; in production a missing or
test-looking secret stops start-up with a message that names the variable.

Each variable is read by one line of ``load_settings`` through environs (which collects every
variable's problems instead of stopping at the first); the rules that tie variables together
(production secrets, time limits) are plain checks over the parsed ``Settings`` below it. A new
setting is a field on ``Settings`` and one line there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from environs import Env, EnvValidationError
from marshmallow.validate import OneOf, Range, ValidationError

from .constants.currencies import SUPPORTED_CURRENCIES
from .descriptors import prefix_problems

ENVIRONMENTS = ("development", "test", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
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
    # How long a request may queue for a pooled connection while the pool keeps serving others
    # (service/db.py: QueueingPool); a pool that returns none for 5 s fails at once (503).
    database_queue_seconds: float = 10.0
    # How long a worker reuses an appeal it read for donations (service/appeal_cache.py).
    appeal_cache_seconds: float = 5.0
    log_level: str = "INFO"
    deployment_id: str = "donation-router"
    # Reliability and abuse limits (see docs/operations.md).
    trusted_proxy_count: int = 0
    # A header the CDN or proxy in front sets to the visitor's country (Cloudflare: CF-IPCountry),
    # used only to preselect a currency (service/donor_currency.py). Unset: no header is believed.
    country_header: str | None = None
    rate_limit_donations: str = "10/minute;60/hour"
    # Per IPv4 /24 or IPv6 /48 (service/rate_limits.py): high enough for a mobile carrier's
    # shared (CGNAT) addresses at a telethon peak, low enough to hold back a proxy block.
    rate_limit_donations_network: str = "300/minute"
    # Past this rate one-off donations go to the appeal's Payment Link instead of calling Stripe;
    # None: STRIPE_CALL_BUDGET a second (see service_donation_rate).
    rate_limit_donations_global: str | None = None
    webhook_payload_retention_days: int = 90
    metrics_token: str | None = None
    # Successful reads of the public, cached figures are counted in /metrics; logging each of
    # thousands a second costs CPU and log storage, so they are not logged unless asked.
    access_log_public_reads: bool = False
    # Surge mode (docs/scaling.md): Stripe calls per second shared by every worker and instance,
    # kept below Stripe's default 25 per second per endpoint; 0 turns the budget off.
    stripe_call_budget: int = 20
    # The lag, from a call's slot in the budget to Stripe receiving it, that the budget's spacing
    # absorbs so Stripe never sees more than the budget in any second (service/stripe_budget.py):
    # calls are (1 s + margin) / budget apart, and one not sent within half of it takes another.
    stripe_call_budget_margin_ms: int = 100
    # How long a donor's request may wait for budget (or retry a 429) before the Payment Link.
    surge_wait_seconds: float = 2.0
    # Worker processes per instance: the in-process fallback budget is the budget divided by it.
    web_concurrency: int = 2
    # Email (service/mailer.py): an smtp:// or smtps:// URL, and the From address. Without
    # MAIL_URL, development and test keep sent mail in the local mailbox (/dev/mail).
    mail_url: str | None = None
    mail_from: str = "Donation Router <donations@localhost>"
    # Annual statements cover a tax year: "uk" (6 April to 5 April) or "calendar".
    tax_year: str = "uk"
    # Offer one-off donors the monthly alternative before Checkout (service/donations/monthly_offer.py);
    # each appeal can turn it off too (``monthly_offer: false``).
    monthly_offer: bool = True
    # Background jobs (service/jobs.py) run in-process unless a worker takes them from Redis:
    # load_settings sets this False whenever REDIS_URL is set.
    jobs_in_process: bool = True
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
    def service_donation_rate(self) -> str | None:
        """The whole service's donation rate past which donors take the Payment Link
        (service/rate_limits.py): ``RATE_LIMIT_DONATIONS_GLOBAL``, by default what the Stripe
        call budget serves; None (no such rate) when neither is set."""
        if self.rate_limit_donations_global:
            return self.rate_limit_donations_global
        return f"{self.stripe_call_budget}/second" if self.stripe_call_budget > 0 else None

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


# Production has no defaults for its secrets and addresses: a missing one stays empty here and
# is reported by ``production_problems``; Stripe's own API is the default there.
PRODUCTION_DEFAULTS = Settings(
    environment="production",
    database_url="",
    stripe_secret_key="",
    stripe_webhook_secrets=(),
    stripe_api_base=STRIPE_API_DEFAULT,
    public_base_url="",
    secret_key="",
    mail_from="",
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from environment variables; raise SettingsError listing every problem."""
    env = _Environment(os.environ if environ is None else environ)
    environment = env.text("APP_ENV", "development", _ONE_ENVIRONMENT, convert=str.lower)
    production = environment == "production"
    allow_test_keys = env.flag("ALLOW_TEST_KEYS")  # a staging deployment on Stripe's test mode
    defaults = PRODUCTION_DEFAULTS if production else Settings()
    redis_url = env.text("REDIS_URL", defaults.redis_url, _REDIS_URL)
    settings = Settings(
        environment=environment,
        database_url=env.text(
            "DATABASE_URL", defaults.database_url, _DATABASE, convert=normalise_database_url
        ),
        stripe_secret_key=env.text("STRIPE_SECRET_KEY", defaults.stripe_secret_key, _SECRET_KEY_PREFIX),
        stripe_webhook_secrets=env.comma_list("STRIPE_WEBHOOK_SECRET", _WHSEC)
        or defaults.stripe_webhook_secrets,
        stripe_api_base=env.text("STRIPE_API_BASE", defaults.stripe_api_base, _HTTP_URL, convert=_no_slash),
        stripe_timeout_seconds=env.number("STRIPE_TIMEOUT_SECONDS", defaults.stripe_timeout_seconds, 1, 60),
        stripe_max_retries=env.number("STRIPE_MAX_RETRIES", defaults.stripe_max_retries, 0, 5),
        public_base_url=env.text("PUBLIC_BASE_URL", defaults.public_base_url, _HTTP_URL, convert=_no_slash),
        redis_url=redis_url,
        secret_key=env.text("SECRET_KEY", defaults.secret_key),
        checkout_session_minutes=env.number(
            "CHECKOUT_SESSION_MINUTES", defaults.checkout_session_minutes, 30, 1440
        ),
        worker_timeout_seconds=env.number("WORKER_TIMEOUT_SECONDS", defaults.worker_timeout_seconds, 5, 29),
        database_pool_size=env.number("DATABASE_POOL_SIZE", defaults.database_pool_size, 1, 200),
        database_queue_seconds=env.number("DATABASE_QUEUE_SECONDS", defaults.database_queue_seconds, 5, 20),
        appeal_cache_seconds=env.number("APPEAL_CACHE_SECONDS", defaults.appeal_cache_seconds, 0, 300),
        log_level=env.text("LOG_LEVEL", defaults.log_level, _LOG_LEVEL, convert=str.upper),
        deployment_id=env.text("DEPLOYMENT_ID", defaults.deployment_id),
        trusted_proxy_count=env.number("TRUSTED_PROXY_COUNT", defaults.trusted_proxy_count, 0, 5),
        country_header=env.text("COUNTRY_HEADER", defaults.country_header, _HEADER_NAME),
        rate_limit_donations=env.text("RATE_LIMIT_DONATIONS", defaults.rate_limit_donations, _limit),
        rate_limit_donations_network=env.text(
            "RATE_LIMIT_DONATIONS_NETWORK", defaults.rate_limit_donations_network, _limit
        ),
        rate_limit_donations_global=env.text(
            "RATE_LIMIT_DONATIONS_GLOBAL", defaults.rate_limit_donations_global, _limit
        ),
        webhook_payload_retention_days=env.number(
            "WEBHOOK_PAYLOAD_RETENTION_DAYS", defaults.webhook_payload_retention_days, 1, 3650
        ),
        metrics_token=env.text("METRICS_TOKEN", defaults.metrics_token, _METRICS_TOKEN),
        access_log_public_reads=env.flag("ACCESS_LOG_PUBLIC_READS"),
        stripe_call_budget=env.number("STRIPE_CALL_BUDGET", defaults.stripe_call_budget, 0, 10000),
        stripe_call_budget_margin_ms=env.number(
            "STRIPE_CALL_BUDGET_MARGIN_MS", defaults.stripe_call_budget_margin_ms, 0, 1000
        ),
        surge_wait_seconds=env.number("SURGE_WAIT_SECONDS", defaults.surge_wait_seconds, 0, 10),
        web_concurrency=env.number("WEB_CONCURRENCY", defaults.web_concurrency, 1, 64),
        mail_url=env.text("MAIL_URL", defaults.mail_url, _MAIL_URL),
        mail_from=env.text("MAIL_FROM", defaults.mail_from, _MAIL_FROM),
        tax_year=env.text("TAX_YEAR", defaults.tax_year, _TAX_YEAR, convert=str.lower),
        monthly_offer=env.text("MONTHLY_OFFER", "on").lower() not in ("0", "false", "no", "off"),
        jobs_in_process=redis_url is None,
        stripe_settlement_currency=env.text(
            "STRIPE_SETTLEMENT_CURRENCY",
            defaults.stripe_settlement_currency,
            _SETTLEMENT_CURRENCY,
            convert=str.lower,
        ),
        statement_descriptor_prefix=env.text(
            "STRIPE_STATEMENT_DESCRIPTOR_PREFIX", defaults.statement_descriptor_prefix, _descriptor_prefix
        ),
    )
    problems = env.problems()
    problems += production_problems(settings, allow_test_keys=allow_test_keys) + time_limit_problems(settings)
    if problems:
        raise SettingsError(problems)
    return settings


def production_problems(settings: Settings, *, allow_test_keys: bool) -> list[str]:
    """The rules a live deployment must meet: real keys and secrets, https, PostgreSQL."""
    if not settings.is_production:
        return []
    problems: list[str] = []
    key, secrets = settings.stripe_secret_key, settings.stripe_webhook_secrets
    if not key:
        problems.append("STRIPE_SECRET_KEY is required in production")
    elif not key.startswith(("sk_live_", "rk_live_", "sk_test_", "rk_test_")):
        problems.append("STRIPE_SECRET_KEY does not look like a Stripe secret key")
    elif key.startswith(("sk_test_", "rk_test_")) and not allow_test_keys:
        problems.append(
            "STRIPE_SECRET_KEY is a test-mode key; use a live key "
            "(or set ALLOW_TEST_KEYS=true for a staging deployment)"
        )
    if not secrets:
        problems.append(
            "STRIPE_WEBHOOK_SECRET is required in production (comma-separate two during rotation)"
        )
    if DEV_WEBHOOK_SECRET in secrets:
        problems.append("STRIPE_WEBHOOK_SECRET is the development default; use the endpoint's signing secret")
    if len(settings.secret_key) < 32 or settings.secret_key == DEV_SECRET_KEY:
        problems.append("SECRET_KEY is required in production: at least 32 random characters")
    if not settings.public_base_url:
        problems.append("PUBLIC_BASE_URL is required in production (e.g. https://donate.example.org)")
    elif not settings.public_base_url.startswith("https://"):
        problems.append("PUBLIC_BASE_URL must use https in production")
    if not settings.database_url:
        problems.append("DATABASE_URL is required in production (PostgreSQL)")
    if not settings.mail_url:
        problems.append("MAIL_URL is required in production (receipts are sent by email)")
    if not settings.mail_from:
        problems.append("MAIL_FROM is required in production (the charity's sending address)")
    return problems


def time_limit_problems(settings: Settings) -> list[str]:
    """A donor's request must finish before the worker is killed, and the worker before the PaaS
    router gives up at 30 s, so Stripe's worst case (and the surge wait) must fit inside it."""
    timeout, retries = settings.stripe_timeout_seconds, settings.stripe_max_retries
    worker_timeout = settings.worker_timeout_seconds
    problems: list[str] = []
    # stripe-python waits at most 2 s between attempts.
    if timeout * (retries + 1) + retries * 2 >= worker_timeout:
        problems.append(
            "STRIPE_TIMEOUT_SECONDS x (STRIPE_MAX_RETRIES + 1) plus back-off must stay below "
            f"WORKER_TIMEOUT_SECONDS ({timeout} x {retries + 1} vs {worker_timeout})"
        )
    if settings.surge_wait_seconds + timeout >= worker_timeout:
        problems.append(
            "SURGE_WAIT_SECONDS plus STRIPE_TIMEOUT_SECONDS must stay below WORKER_TIMEOUT_SECONDS"
        )
    return problems


# An emptied APP_ENV must not quietly become development (the sandbox, SQLite), nor an emptied
# LOG_LEVEL quietly become INFO: for these two a blank value is refused; for every other
# variable a blank value means its default.
BLANK_IS_REFUSED = frozenset({"APP_ENV", "LOG_LEVEL"})


class _Environment(Env):
    """environs' reader, over a given mapping (tests pass one) instead of ``os.environ``.

    Values are trimmed; every variable's problems are collected (``eager=False``) and returned
    together by ``problems``. A refused value still comes back (a number as its default, a
    string as given) so the rules over the whole ``Settings`` can run and report theirs too.
    """

    def __init__(self, source: Mapping[str, str]):
        super().__init__(eager=False)
        self._source = source
        self._given: dict[str, str] = {}

    def _get_value(self, env_key: str, default: Any) -> Any:
        # environs' single read of a variable (environs 15.2 reads os.environ here).
        raw = self._source.get(env_key)
        if raw is None or (not raw.strip() and env_key not in BLANK_IS_REFUSED):
            return default
        self._given[env_key] = raw.strip()
        return raw.strip()

    def text(
        self,
        name: str,
        default: str | None,
        *checks: Callable[[str], Any],
        convert: Callable[[str], str] | None = None,
    ) -> Any:
        """A string, converted (case, URL form) before its checks run."""
        convert = convert or str
        value = self.str(name, default, validate=[_after(convert, check) for check in checks])
        if value is None and name in self._given:
            value = self._given[name]  # refused, and reported
        return None if value is None else convert(value)

    def number(self, name: str, default: float, low: float, high: float) -> Any:
        """An int or a float, as its default is, between ``low`` and ``high`` inclusive."""
        kind = type(default)
        value = (self.int if kind is int else self.float)(
            name,
            default,
            validate=Range(low, high, error="must be between {min} and {max}; got {input!r}"),
            error_messages={
                "invalid": f"must be a {kind.__name__}; got {{input!r}}",
                "special": f"must be between {low} and {high}",  # nan, inf
            },
        )
        return default if value is None else value

    def flag(self, name: str) -> bool:
        """A yes/no switch: 1, true or yes (any case) is yes; anything else, or unset, is no."""
        return self.text(name, "").lower() in ("1", "true", "yes")

    def comma_list(self, name: str, *checks: Callable[[str], Any]) -> tuple[str, ...]:
        """Comma-separated values, blanks dropped (two webhook secrets during a rotation)."""
        return _split(self.text(name, "", *checks))

    def problems(self) -> list[str]:
        try:
            self.seal()
        except EnvValidationError as exc:
            return [
                f"{name} {message}" for name, messages in exc.error_messages.items() for message in messages
            ]
        return []


def _after(convert: Callable[[str], str], check: Callable[[str], Any]) -> Callable[[str], Any]:
    return lambda value: check(convert(value))


def _rule(test: Callable[[str], bool], message: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        if not test(value):
            raise ValidationError(message)

    return check


def _split(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _no_slash(url: str) -> str:
    return url.rstrip("/")


def _limit(value: str) -> None:
    """A Flask-Limiter limit string such as ``10/minute;60/hour``."""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError as exc:
        raise ValidationError(f"must look like 10/minute;60/hour; got {value!r}") from exc


_ONE_ENVIRONMENT = OneOf(ENVIRONMENTS, error="must be one of {choices}; got {input!r}")
_LOG_LEVEL = OneOf(LOG_LEVELS, error="must be DEBUG, INFO, WARNING or ERROR")
_DATABASE = _rule(
    lambda url: url.startswith(("sqlite:", "postgresql+psycopg:")),
    "must be a postgres://, postgresql:// or sqlite:/// URL",
)
_SECRET_KEY_PREFIX = _rule(lambda key: key.startswith(("sk_", "rk_")), "must start with sk_ or rk_")
_WHSEC = _rule(lambda raw: all(v.startswith("whsec_") for v in _split(raw)), "values must start with whsec_")
_HTTP_URL = _rule(_is_http_url, "must be an http(s) URL")
_REDIS_URL = _rule(
    lambda url: url.startswith(("redis://", "rediss://", "unix://")),
    "must be a redis://, rediss:// or unix:// URL",
)
_HEADER_NAME = _rule(
    lambda name: bool(name) and all(c.isalnum() or c == "-" for c in name), "must be an HTTP header name"
)
_METRICS_TOKEN = _rule(lambda token: len(token) >= 16, "must be at least 16 characters when set")


def _is_mail_url(url: str) -> bool:
    from .mailer import parse_mail_url

    try:
        parse_mail_url(url)
    except ValueError:
        return False
    return True


def _is_address(value: str) -> bool:
    from email.headerregistry import Address
    from email.utils import parseaddr

    name, address = parseaddr(value)
    try:
        Address(name, addr_spec=address)
    except (ValueError, IndexError):
        return False
    return "@" in address


# The message never quotes the value: a MAIL_URL holds the SMTP password.
_MAIL_URL = _rule(_is_mail_url, "must look like smtp://user:password@host:587?starttls=true")
_MAIL_FROM = _rule(_is_address, "must be an address, e.g. Red Cross <donations@example.org>")
_TAX_YEAR = OneOf(("uk", "calendar"), error="must be uk (6 April to 5 April) or calendar")
_SETTLEMENT_CURRENCY = _rule(
    lambda code: code in SUPPORTED_CURRENCIES, "must be a currency code Stripe settles in, e.g. gbp"
)


def _descriptor_prefix(prefix: str) -> None:
    problems = prefix_problems(prefix)
    if problems:
        raise ValidationError(problems)
