"""Donation Router: the Flask application.

``create_app`` is the only constructor. It reads like a table of contents: settings, logging,
extensions (database, Stripe gateway, API), blueprints, error handlers, commands.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from .appeal_cache import AppealCache
from .settings import INSTANCE_DIR, Settings, load_settings
from .stripe_gateway import StripeGateway

REAL_CHECKOUT_ORIGIN = "https://checkout.stripe.com"


def create_app(
    test_config: dict[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    stripe_gateway: StripeGateway | None = None,
) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=64 * 1024,
        MAX_FORM_MEMORY_SIZE=64 * 1024,
        MAX_FORM_PARTS=100,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)
    app.extensions["settings"] = settings
    from .request_limits import bound_url_integers

    bound_url_integers(app)  # before any route: <int:> parts must fit a database integer

    register_logging(settings)
    register_extensions(app, settings, stripe_gateway)
    register_blueprints(app, settings)
    register_error_handlers(app)
    register_commands(app)
    return app


def register_logging(settings: Settings) -> None:
    from .logging_setup import configure_logging

    configure_logging(settings.log_level)
    from .log_redaction import install_redaction

    install_redaction()


def register_extensions(app: Flask, settings: Settings, stripe_gateway: StripeGateway | None) -> None:
    from . import db
    from .api import init_api

    db.init_app(app, settings)
    app.extensions["stripe_gateway"] = stripe_gateway or StripeGateway.from_settings(settings)
    app.extensions["appeal_cache"] = AppealCache(settings.appeal_cache_seconds)
    from .jobs import init_jobs

    init_jobs(app, settings)  # emails queued in the outbox go to the job worker once committed
    register_publishing(app)
    init_api(app)


def register_publishing(app: Flask) -> None:
    """Languages, the progress cache and the embed script for publishers (issue 6)."""
    from .embed import bp as embed_bp
    from .i18n import init_i18n
    from .progress import TTLCache

    init_i18n(app)
    app.extensions["progress_cache"] = TTLCache(app.config.get("PROGRESS_CACHE_SECONDS", 15))
    app.register_blueprint(embed_bp)


def register_blueprints(app: Flask, settings: Settings) -> None:
    from .http_hooks import register_request_hooks
    from .ledger import views as webhooks
    from .pages import donate, manage, site
    from .pages import finance as finance_pages

    checkout_origin = REAL_CHECKOUT_ORIGIN
    if not settings.uses_real_stripe:
        parts = urlsplit(settings.stripe_api_base)
        checkout_origin = f"{parts.scheme}://{parts.netloc}"
    register_request_hooks(app, settings.is_production, checkout_origin, settings.access_log_public_reads)
    app.register_blueprint(donate.bp)
    app.register_blueprint(manage.bp)
    app.register_blueprint(site.bp)
    app.register_blueprint(finance_pages.bp)
    app.register_blueprint(webhooks.bp)
    if not settings.is_production:
        from .pages import mailbox

        app.register_blueprint(site.dev_bp)
        app.register_blueprint(mailbox.bp)
    from .health import init_health
    from .metrics import init_metrics
    from .rate_limits import init_rate_limits
    from .request_limits import init_request_limits

    init_request_limits(app)
    init_health(app, settings)
    init_metrics(app)
    init_rate_limits(app, settings)  # after every blueprint: it wraps the donation views


def register_error_handlers(app: Flask) -> None:
    from .errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from .cli import register_cli
    from .donors_cli import register_privacy_cli
    from .mail_cli import register_mail_cli
    from .surge_cli import register_surge_cli

    register_cli(app)
    register_privacy_cli(app)
    register_surge_cli(app)
    register_mail_cli(app)
