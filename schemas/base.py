"""Shared schema base and the one error envelope every API error uses."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate
from marshmallow import fields as ma_fields

# PostgreSQL refuses a NUL character in text, so a field holding one is bad input (422), not a 500.
NO_NUL = validate.Regexp(r"^[^\x00]*$", error="Must not contain NUL characters.")


def text(max_length: int, min_length: int | None = None) -> list[validate.Validator]:
    """The rules of a free-text field: its length, and no NUL character."""
    return [validate.Length(min=min_length, max=max_length), NO_NUL]


class StrictSchema(Schema):
    """Unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = RAISE


class ErrorBodySchema(Schema):
    code = fields.String(
        required=True,
        metadata={"description": "Stable machine-readable code, e.g. validation_failed."},
    )
    message = fields.String(required=True, metadata={"description": "What went wrong, for a person."})
    fields = ma_fields.Dict(
        keys=ma_fields.String(),
        values=ma_fields.Raw(),
        metadata={"description": "Per-field messages, keyed by the request field's name."},
    )
    retry_after = ma_fields.Integer(
        metadata={"description": "Seconds to wait before retrying, when retrying can help."}
    )
    request_id = ma_fields.String(metadata={"description": "Quote this when asking for help."})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)
