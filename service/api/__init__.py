"""The JSON API: flask-smorest blueprints documented in one OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_smorest import Api as SmorestApi

from schemas.base import ErrorSchema

from ..errors import error_response


class Api(SmorestApi):
    """flask-smorest with the project's error envelope documented for every operation."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        # service.errors registers the handlers for the whole app (JSON for the API, HTML for donors).
        pass


def require_json_body() -> Any:
    """POSTs to the API must declare a JSON body; anything else is 415, before any parsing."""
    if request.method in ("POST", "PUT", "PATCH") and not request.is_json:
        return error_response(
            415,
            "unsupported_media_type",
            "Send the request body as JSON (Content-Type: application/json).",
        )
    return None


def init_api(app: Flask) -> Api:
    from .appeals import blp as appeals_blp
    from .donations import blp as donations_blp

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
    for blp in (appeals_blp, donations_blp):
        blp.before_request(require_json_body)
        api.register_blueprint(blp)
    return api
