"""Finance API shapes for discrepancies (what finance must look at) and an event's replay."""

from __future__ import annotations

from marshmallow import Schema, fields


class FindingSchema(Schema):
    kind = fields.String()
    donation_id = fields.String(allow_none=True)
    event_id = fields.String(allow_none=True)
    at = fields.AwareDateTime(allow_none=True)
    detail = fields.String()


class DiscrepanciesSchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    items = fields.List(fields.Nested(FindingSchema))
    checked_at = fields.AwareDateTime()


class ReplaySchema(Schema):
    id = fields.Integer()
    stripe_event_id = fields.String()
    outcome = fields.String()
    reason = fields.String(allow_none=True)
    replayed = fields.Boolean(
        metadata={"description": "False when the event was already applied and left alone."}
    )
