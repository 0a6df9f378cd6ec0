"""Sandbox options from command-line flags and SANDBOX_* environment variables."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from sandbox.money import DEFAULT_FEES, Fee, parse_fee

# Used when webhook URLs are given without a secret, so deliveries are always signed.
DEFAULT_WEBHOOK_SECRET = "whsec_sandbox"  # noqa: S105 - a public test value


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 12111
    webhook_urls: list[str] = field(default_factory=list)
    webhook_secrets: list[str] = field(default_factory=list)
    state_file: str | None = None
    latency_ms: float = 0.0
    rate_limit: int = 0  # requests per second across the API; 0 means unlimited
    fees: dict[str, Fee] = field(default_factory=lambda: dict(DEFAULT_FEES))
    # The account's settlement currency: charges in any other currency are converted into it
    # (balance transactions with exchange_rate). None: every currency settles as itself, as
    # for an account with a bank account in each currency it charges.
    settlement_currency: str | None = None
    # Rate into the settlement currency per charge currency; others from money.USD_VALUE.
    exchange_rates: dict[str, float] = field(default_factory=dict)
    # Seconds after which a bank debit left "processing" settles by itself; None: only by control.
    async_settle_seconds: float | None = None
    # Days before a charge's balance transaction becomes available (Stripe: 2 for most cards).
    available_after_days: int = 2
    webhook_retry_delays: tuple[float, ...] = (1, 2, 4, 8, 16)
    # Address put in session URLs; defaults to http://host:port. Set it when the
    # browser reaches the sandbox by another name (a container, a proxy).
    public_url: str | None = None
    log_requests: bool = True
    server: str = "threaded"  # or "gevent" (python -m sandbox's default)

    def secrets(self) -> list[str]:
        if self.webhook_urls and not self.webhook_secrets:
            return [DEFAULT_WEBHOOK_SECRET]
        return list(self.webhook_secrets)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def parse_args(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> Options:
    """Flags win over environment variables, which win over defaults."""
    env = dict(os.environ if env is None else env)
    ap = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="A local Stripe-compatible API server (see sandbox/README.md).",
    )
    ap.add_argument("--host", default=env.get("SANDBOX_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(env.get("SANDBOX_PORT", 12111)))
    ap.add_argument(
        "--webhook-url", action="append", dest="webhook_urls",
        help="endpoint that receives signed events (repeatable)",
    )  # fmt: skip
    ap.add_argument(
        "--webhook-secret", action="append", dest="webhook_secrets",
        help="signing secret whsec_... (repeatable: every secret signs every event)",
    )  # fmt: skip
    ap.add_argument("--state", dest="state_file", default=env.get("SANDBOX_STATE"))
    ap.add_argument("--latency-ms", type=float, default=float(env.get("SANDBOX_LATENCY_MS", 0) or 0))
    ap.add_argument("--rate-limit", type=int, default=int(env.get("SANDBOX_RATE_LIMIT", 0) or 0))
    ap.add_argument(
        "--fee", action="append", default=[], metavar="CUR=PCT+FIXED",
        help="processing fee per currency, e.g. gbp=1.5+20 (percent plus minor units)",
    )  # fmt: skip
    ap.add_argument(
        "--async-settle-seconds", type=float,
        default=float(env["SANDBOX_ASYNC_SETTLE_SECONDS"])
        if env.get("SANDBOX_ASYNC_SETTLE_SECONDS") else None,
    )  # fmt: skip
    ap.add_argument(
        "--settlement-currency", default=env.get("SANDBOX_SETTLEMENT_CURRENCY") or None,
        help="convert charges in other currencies into this one (e.g. gbp)",
    )  # fmt: skip
    ap.add_argument("--public-url", default=env.get("SANDBOX_PUBLIC_URL"))
    ap.add_argument("--quiet", action="store_true", help="do not log requests")
    ap.add_argument("--server", choices=("gevent", "threaded"), default=env.get("SANDBOX_SERVER", "gevent"))
    ns = ap.parse_args(argv)
    fees = dict(DEFAULT_FEES)
    fees.update(parse_fee(spec) for spec in ns.fee)
    return Options(
        host=ns.host,
        port=ns.port,
        webhook_urls=ns.webhook_urls or _split(env.get("SANDBOX_WEBHOOK_URLS")),
        webhook_secrets=ns.webhook_secrets or _split(env.get("SANDBOX_WEBHOOK_SECRETS")),
        state_file=ns.state_file,
        latency_ms=ns.latency_ms,
        rate_limit=ns.rate_limit,
        fees=fees,
        async_settle_seconds=ns.async_settle_seconds,
        settlement_currency=ns.settlement_currency.lower() if ns.settlement_currency else None,
        public_url=ns.public_url,
        log_requests=not ns.quiet,
        server=ns.server,
    )
