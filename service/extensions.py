"""What the application carries, behind one accessor each.

``create_app`` installs each object once (``set_database(app, ...)`` and so on); everything else
reads it through the accessor of the same name: ``extensions.database()`` inside an app context,
``extensions.database(app)`` outside one. This is the only module that touches ``app.extensions``,
so no string key is spelt anywhere else.

The accessors' types are in ``extensions.pyi``: importing the classes here would make every module
that reads an extension depend on the modules that define them (``db``, ``stripe_gateway``,
``appeal_cache``, ...), which themselves read extensions, and the import graph would loop. This
module imports nothing from the service, so any module may import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

DATABASE = "database"
SETTINGS = "settings"
STRIPE_GATEWAY = "stripe_gateway"
APPEAL_CACHE = "appeal_cache"
PROGRESS_CACHE = "progress_cache"
HEALTH_ENGINE = "health_engine"
TRANSLATIONS = "translations"
RATE_LIMITER = "rate_limiter"
WEBHOOK_REJECTIONS = "webhook_rejections"
LINK_REQUEST_LIMITER = "link_request_limiter"
OFFER_PAGES = "offer_pages"
# What is made on first use rather than by create_app; forget_made_on_first_use drops it.
MADE_ON_FIRST_USE = (WEBHOOK_REJECTIONS, LINK_REQUEST_LIMITER, OFFER_PAGES)


def _carried(app: Flask | None) -> dict[str, Any]:
    return (app if app is not None else current_app).extensions


def _set(app: Flask, key: str, value: Any) -> Any:
    app.extensions[key] = value
    return value


def _made_on_first_use(app: Flask | None, key: str, create: Callable[[], Any]) -> Any:
    carried = _carried(app)
    if key not in carried:
        carried[key] = create()
    return carried[key]


def database(app: Flask | None = None) -> Any:
    return _carried(app)[DATABASE]


def set_database(app: Flask, value: Any) -> Any:
    return _set(app, DATABASE, value)


def settings(app: Flask | None = None) -> Any:
    return _carried(app)[SETTINGS]


def set_settings(app: Flask, value: Any) -> Any:
    return _set(app, SETTINGS, value)


def stripe_gateway(app: Flask | None = None) -> Any:
    return _carried(app)[STRIPE_GATEWAY]


def set_stripe_gateway(app: Flask, value: Any) -> Any:
    return _set(app, STRIPE_GATEWAY, value)


def appeal_cache(app: Flask | None = None) -> Any:
    return _carried(app)[APPEAL_CACHE]


def appeal_cache_if_any(app: Flask | None = None) -> Any:
    """The appeal cache, or None while the app is still being built (for error pages)."""
    return _carried(app).get(APPEAL_CACHE)


def set_appeal_cache(app: Flask, value: Any) -> Any:
    return _set(app, APPEAL_CACHE, value)


def progress_cache(app: Flask | None = None) -> Any:
    return _carried(app)[PROGRESS_CACHE]


def set_progress_cache(app: Flask, value: Any) -> Any:
    return _set(app, PROGRESS_CACHE, value)


def health_engine(app: Flask | None = None) -> Any:
    return _carried(app)[HEALTH_ENGINE]


def set_health_engine(app: Flask, value: Any) -> Any:
    return _set(app, HEALTH_ENGINE, value)


def translations(app: Flask | None = None) -> Any:
    """The message catalogues by locale; empty before ``init_i18n``."""
    return _carried(app).get(TRANSLATIONS, {})


def set_translations(app: Flask, value: Any) -> Any:
    return _set(app, TRANSLATIONS, value)


def rate_limiter(app: Flask | None = None) -> Any:
    """The donation limits' counts (service/rate_limits.py: Counts), or None before ``init_rate_limits``."""
    return _carried(app).get(RATE_LIMITER)


def set_rate_limiter(app: Flask, value: Any) -> Any:
    return _set(app, RATE_LIMITER, value)


def webhook_rejections(app: Flask | None, create: Callable[[], Any]) -> Any:
    """The counter of refused webhook deliveries, made by ``create`` on first use."""
    return _made_on_first_use(app, WEBHOOK_REJECTIONS, create)


def forget_made_on_first_use(app: Flask) -> None:
    """Drop what is made on first use (the webhook rejection counter, the manage-link request
    limiter, the rendered offer pages), so it starts again: for tests that share one app."""
    for key in MADE_ON_FIRST_USE:
        app.extensions.pop(key, None)


def link_request_limiter(app: Flask | None, create: Callable[[], Any]) -> Any:
    """The limiter of manage-link requests, made by ``create`` on first use."""
    return _made_on_first_use(app, LINK_REQUEST_LIMITER, create)


def offer_pages(app: Flask | None, create: Callable[[], Any]) -> Any:
    """The monthly offer's rendered pages (service/pages/monthly_offer.py), made on first use."""
    return _made_on_first_use(app, OFFER_PAGES, create)


def openapi_spec(app: Flask | None = None) -> dict[str, Any]:
    """The OpenAPI document flask-smorest builds from the API's blueprints."""
    return _carried(app)["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
