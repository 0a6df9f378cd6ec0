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
    """The one OpenAPI document; create_app registers the API's blueprints on it."""
    from .finance import document_finance_token

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
    document_finance_token(api)
    return api


def document_api(api: Api) -> None:
    """Once every API blueprint is registered: what the views' own schemas cannot say."""
    document_answers_before_the_view(api)
    exact_nullable_objects(api)


NULLABLE_ANY_OBJECT = {"type": "object", "nullable": True}


def exact_nullable_objects(api: Api) -> None:
    """A nullable nested schema, as apispec writes it for OpenAPI 3.0, admits any object at all:
    ``anyOf: [{$ref: Source}, {type: object, nullable: true}]``. Written as
    ``{allOf: [{$ref: Source}], nullable: true}`` it admits that schema or null, which is what the
    app accepts (anything else in ``source`` is refused as an unknown field)."""
    for schema in api.spec.components.schemas.values():
        for name, prop in (schema.get("properties") or {}).items():
            branches = prop.get("anyOf") if isinstance(prop, dict) else None
            if not isinstance(branches, list) or len(branches) != 2 or NULLABLE_ANY_OBJECT not in branches:
                continue
            (ref,) = [branch for branch in branches if branch != NULLABLE_ANY_OBJECT]
            exact = {k: v for k, v in prop.items() if k != "anyOf"}
            schema["properties"][name] = {**exact, "allOf": [ref], "nullable": True}


METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
EVERY_OPERATION = {
    "414": "The address (path and query) is longer than 4096 bytes (uri_too_long)",
    "431": "A header is longer than 8190 bytes, or there are more than 100 (headers_too_large)",
}
WITH_A_BODY = {
    "400": "The body is not valid JSON (malformed_json) or nests deeper than 20 levels (json_too_deep)",
    "411": "A chunked body the server could not bound; send Content-Length (length_required)",
    "413": "The body is larger than 64 KiB (payload_too_large)",
    "415": "The body is not declared as JSON (unsupported_media_type)",
}
RATE_LIMITED = {
    "description": "Too many donation attempts from this address, or for the whole service; retry "
    "after Retry-After seconds (rate_limited)",
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
}
RATE_LIMITED_OPERATIONS = {("/api/v1/donations", "post")}


def document_answers_before_the_view(api: Api) -> None:
    """Answers that checks before the view give (service/request_limits.py, api/json_body.py, the
    rate limits), on every operation that can give them, in the same error envelope."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in api.spec._paths.items():  # apispec keeps no public accessor
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            answers = dict(EVERY_OPERATION)
            if "requestBody" in operation:
                answers.update(WITH_A_BODY)
            for status, description in answers.items():
                responses.setdefault(status, {"description": description, "content": error})
            if (path, method) in RATE_LIMITED_OPERATIONS:
                responses.setdefault("429", {**RATE_LIMITED, "content": error})
