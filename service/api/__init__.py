"""The JSON API: flask-smorest blueprints documented in one OpenAPI document."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api as SmorestApi

from schemas.base import ErrorSchema


class Api(SmorestApi):
    """flask-smorest with the project's error envelope documented for every operation."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        # service.errors registers the handlers for the whole app (JSON for the API, HTML for donors).
        pass


def init_api(app: Flask) -> Api:
    from . import finance
    from .appeals import blp as appeals_blp
    from .donations import blp as donations_blp
    from .progress import blp as figures_blp

    app.config.setdefault("API_TITLE", "Donation Router API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {
                "description": (
                    "Create donations for humanitarian appeals and follow their status. "
                    "Amounts are integers in the currency's minor units."
                )
            }
        },
    )
    api = Api(app)
    for blp in (appeals_blp, donations_blp, figures_blp):
        api.register_blueprint(blp)
    finance.register(api)
    return api
