"""Donation Router: the Flask application.

``create_app`` is the only constructor. It reads like a table of contents: settings, logging,
what the app carries (service/extensions.py), the hooks around every request, every blueprint,
the rate limits, error handlers and every ``flask`` command group, each in one place.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask_smorest import Api

from . import extensions
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
    from .cookie_sessions import CookieSessionInterface

    app.session_interface = CookieSessionInterface()
    extensions.set_settings(app, settings)
    from .request_limits import bound_url_integers

    bound_url_integers(app)  # before any route: <int:> parts must fit a database integer

    register_logging(settings)
    api = register_extensions(app, settings, stripe_gateway)
    register_request_handling(app, settings)
    register_blueprints(app, settings, api)
    register_rate_limits(app, settings)
    register_error_handlers(app)
    register_commands(app)
    register_fast_paths(app, settings)  # last: the outermost WSGI layer
    return app


def register_logging(settings: Settings) -> None:
    from .logging_setup import configure_logging

    configure_logging(settings.log_level)
    from .log_redaction import install_redaction

    install_redaction()


def register_extensions(app: Flask, settings: Settings, stripe_gateway: StripeGateway | None) -> Api:
    """What the app carries (service/extensions.py), and the OpenAPI document."""
    from . import db
    from .api import init_api
    from .i18n import init_i18n
    from .jobs import init_jobs
    from .ttl_cache import TTLCache

    db.init_app(app, settings)
    extensions.set_stripe_gateway(app, stripe_gateway or StripeGateway.from_settings(settings))
    extensions.set_appeal_cache(app, AppealCache(settings.appeal_cache_seconds))
    init_jobs(app, settings)  # emails queued in the outbox go to the job worker once committed
    init_i18n(app)  # languages for donors and publishers (issue 6)
    extensions.set_progress_cache(app, TTLCache(app.config.get("PROGRESS_CACHE_SECONDS", 15)))
    return init_api(app)


def checkout_origin(settings: Settings) -> str:
    """Stripe Checkout's origin, which the pages' Content-Security-Policy lets forms post to."""
    if settings.uses_real_stripe:
        return REAL_CHECKOUT_ORIGIN
    parts = urlsplit(settings.stripe_api_base)
    return f"{parts.scheme}://{parts.netloc}"


def register_request_handling(app: Flask, settings: Settings) -> None:
    """Hooks around every request: headers and the access log, size limits, health, metrics."""
    from .health import init_health
    from .http_hooks import register_request_hooks
    from .metrics_endpoint import init_metrics
    from .request_limits import init_request_limits

    register_request_hooks(
        app, settings.is_production, checkout_origin(settings), settings.access_log_public_reads
    )
    init_request_limits(app)
    init_health(app, settings)
    init_metrics(app)


def register_blueprints(app: Flask, settings: Settings, api: Api) -> None:
    """Every blueprint of the service, pages and API alike."""
    from . import embed, health
    from .api import appeals as appeals_api
    from .api import document_api
    from .api import donations as donations_api
    from .api import finance as finance_api
    from .api import progress as progress_api
    from .ledger import views as webhooks
    from .pages import donate, manage, monthly_offer, site
    from .pages import finance as finance_pages

    for blueprint in (appeals_api.blp, donations_api.blp, progress_api.blp, finance_api.blp):
        api.register_blueprint(blueprint)
    document_api(api)  # after every API blueprint
    app.register_blueprint(embed.bp)  # the embed script and widget for publishers
    app.register_blueprint(donate.bp)
    app.register_blueprint(monthly_offer.bp)  # between the donate form and Checkout (issue 14)
    app.register_blueprint(manage.bp)
    app.register_blueprint(site.bp)
    app.register_blueprint(finance_pages.bp)
    app.register_blueprint(webhooks.bp)
    if not settings.is_production:
        from .pages import mailbox

        app.register_blueprint(site.dev_bp)
        app.register_blueprint(mailbox.bp)
    app.register_blueprint(health.bp)


def register_rate_limits(app: Flask, settings: Settings) -> None:
    """The donation limits, on the views declared with rate_limits.donation_limits."""
    from .pages.donate import rate_limited_form
    from .rate_limits import init_rate_limits

    init_rate_limits(app, settings, rate_limited_form)  # after every blueprint: it wraps the views


def register_fast_paths(app: Flask, settings: Settings) -> None:
    """The WSGI layers in front of Flask: ordinary donations (the API's and the donate form's),
    queued webhook deliveries and cached progress reads answered before Flask, as the views would;
    ProxyFix for the trusted proxies."""
    from .api import donation_fast_path
    from .api.progress import install_fast_path
    from .ledger import fast_path as webhooks_fast_path
    from .pages import form_fast_path
    from .rate_limits import trust_proxies

    # Donations (service/api/donation_fast_path.py, service/pages/form_fast_path.py) first, right
    # around Flask: inside ProxyFix, so that the donation limits count the client address the
    # view would.
    form_fast_path.install_fast_path(app, settings.is_production, checkout_origin(settings))
    donation_fast_path.install_fast_path(app, settings.is_production)
    trust_proxies(app, settings)
    # Stripe's deliveries, stored and queued (service/ledger/fast_path.py), inside the progress reads'.
    webhooks_fast_path.install_fast_path(app, settings.is_production)
    install_fast_path(app, settings.is_production, settings.access_log_public_reads)


def register_error_handlers(app: Flask) -> None:
    from .errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    """Every `flask` command group."""
    from .cli import appeals_cli, db_cli
    from .donors_cli import donors_cli, retention_cli
    from .finance.cli import finance_cli
    from .ledger.cli import donations_cli, stripe_cli, webhooks_cli
    from .mail_cli import mail_cli, monthly_command
    from .surge_cli import surge_cli

    donations_cli.add_command(monthly_command)  # `flask donations monthly`, beside `attention`
    for group in (
        db_cli,
        appeals_cli,
        finance_cli,
        stripe_cli,
        webhooks_cli,
        donations_cli,
        donors_cli,
        retention_cli,
        surge_cli,
        mail_cli,
    ):
        app.cli.add_command(group)
