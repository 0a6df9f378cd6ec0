"""Shared schema base and the one error envelope every API error uses."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields
from marshmallow import fields as ma_fields


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
