"""The check every API blueprint runs before its schema: a body must be declared and parse as JSON."""

from __future__ import annotations

from typing import Any

from flask import request

from ..errors import error_response


def require_json_body() -> Any:
    """Bodies sent to the API must be declared JSON and parse as JSON, before any schema runs."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    if not request.is_json:
        return error_response(
            415,
            "unsupported_media_type",
            "Send the request body as JSON (Content-Type: application/json).",
        )
    if request.get_json(silent=True) is None:
        # Covers bodies that are not UTF-8 as well as broken JSON; Flask caches the parse.
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    return None
