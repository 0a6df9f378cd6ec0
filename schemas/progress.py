"""Public appeal figures for progress bars and partners: totals only, never a donor."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields


class ProgressQuerySchema(Schema):
    """Other query parameters (a cache-buster a CDN or script adds) are ignored, not refused."""

    class Meta:
        unknown = EXCLUDE

    lang = fields.String(
        load_default=None,
        metadata={"description": "Locale for the display strings (en or uk); figures are unaffected."},
    )


class CurrencyTotalSchema(Schema):
    currency = fields.String(metadata={"description": "Lower-case ISO code."})
    amount = fields.Integer(metadata={"description": "Received, net of refunds, in minor units."})
    gifts = fields.Integer()


class PledgedTotalSchema(Schema):
    currency = fields.String(metadata={"description": "Lower-case ISO code."})
    amount = fields.Integer(metadata={"description": "Authorised bank debits not yet paid, in minor units."})
    gifts = fields.Integer()


class GoalSchema(Schema):
    amount = fields.Integer()
    currency = fields.String()


class ProgressDisplaySchema(Schema):
    locale = fields.String()
    raised = fields.String(metadata={"description": "Raised in the goal's (or default) currency."})
    goal = fields.String(allow_none=True)
    gifts = fields.String()


class ProgressSchema(Schema):
    appeal = fields.String()
    raised = fields.List(fields.Nested(CurrencyTotalSchema))
    gifts = fields.Integer(metadata={"description": "Gifts with money received."})
    pledged = fields.List(
        fields.Nested(PledgedTotalSchema),
        metadata={
            "description": "Bank debits (Bacs, SEPA) the donor authorised that the bank has not paid yet, "
            "per currency; not in raised, gifts or percentage until they succeed."
        },
    )
    goal = fields.Nested(GoalSchema, allow_none=True)
    percentage = fields.Float(
        allow_none=True, metadata={"description": "Raised in the goal's currency as a share of the goal."}
    )
    updated_at = fields.AwareDateTime(
        allow_none=True, metadata={"description": "When a figure last changed."}
    )
    display = fields.Nested(ProgressDisplaySchema, metadata={"description": "Present when lang is given."})


class PublisherSourceSchema(Schema):
    source_url = fields.String(allow_none=True, metadata={"description": "Page (no query string)."})
    referrer_host = fields.String(allow_none=True)
    utm_source = fields.String(allow_none=True)
    utm_campaign = fields.String(allow_none=True)
    gifts = fields.Integer()
    raised = fields.Dict(keys=fields.String(), values=fields.Integer())


class SourcesSchema(Schema):
    appeal = fields.String()
    sources = fields.List(fields.Nested(PublisherSourceSchema))
