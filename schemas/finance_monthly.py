"""Finance API shapes for monthly gifts: the cancellations and the gifts at risk (issue 14)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from .finance import FORMAT_HELP, SLUG, DateRangeArgs

WHO = ("donor", "payment_failed", "dispute", "staff", "unknown")


class MonthlyGiftsArgs(DateRangeArgs):
    """``from``/``to`` bound when the cancellations happened (default: the last 30 days); the
    gifts at risk are those at risk now."""

    appeal = fields.String(validate=SLUG)
    view = fields.String(
        load_default="cancellations",
        validate=validate.OneOf(("cancellations", "at_risk")),
        metadata={"description": "What the CSV holds: the cancellations, or the gifts at risk."},
    )
    format = fields.String(
        load_default=None, validate=validate.OneOf(("json", "csv")), metadata={"description": FORMAT_HELP}
    )


class CancellationSchema(Schema):
    donation_id = fields.String()
    appeal = fields.String()
    cancelled_at = fields.AwareDateTime(allow_none=True)
    cancelled_by = fields.String(
        validate=validate.OneOf(WHO),
        metadata={
            "description": "donor (Stripe's portal, from our manage page), payment_failed (after the "
            "last retry), dispute, staff (Dashboard or API), unknown (ended before this was recorded)"
        },
    )
    amount = fields.Integer(metadata={"description": "Per month, in minor units (fee cover included)."})
    currency = fields.String()
    payments = fields.Integer(metadata={"description": "Payments the gift made before it stopped."})
    started_at = fields.AwareDateTime(allow_none=True)
    subscription_status = fields.String()
    feedback = fields.String(
        allow_none=True, metadata={"description": "The reason chosen in Stripe's portal."}
    )
    comment = fields.String(
        allow_none=True,
        metadata={"description": "The donor's own words; only to tokens that see personal data."},
    )


class AtRiskSchema(Schema):
    donation_id = fields.String()
    appeal = fields.String()
    subscription_status = fields.String(
        metadata={
            "description": "past_due: Stripe is retrying; unpaid: retries over, not charging; active with "
            "mandate_status inactive: the donor's bank cancelled the Direct Debit, the next debit will fail."
        }
    )
    mandate_status = fields.String(
        allow_none=True,
        metadata={
            "description": "A Direct Debit gift's mandate: active, inactive or pending; null for cards."
        },
    )
    since = fields.AwareDateTime(allow_none=True)
    amount = fields.Integer(metadata={"description": "Per month, in minor units (fee cover included)."})
    currency = fields.String()
    failed_attempts = fields.Integer()
    last_failed_at = fields.AwareDateTime(allow_none=True)
    payments = fields.Integer()
    started_at = fields.AwareDateTime(allow_none=True)


class AmountSchema(Schema):
    currency = fields.String()
    amount = fields.Integer()


class MonthlyGiftsSchema(Schema):
    start = fields.Date()
    end = fields.Date()
    cancellations = fields.List(fields.Nested(CancellationSchema))
    cancelled_by = fields.Dict(keys=fields.String(), values=fields.Integer())
    at_risk = fields.List(fields.Nested(AtRiskSchema))
    monthly_amount_at_risk = fields.List(fields.Nested(AmountSchema))
