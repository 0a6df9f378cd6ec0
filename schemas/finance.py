"""Finance API: query filters in (validated, unknown ones rejected) and report shapes out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .base import StrictSchema, text
from .cursor import cursor_pattern

MAX_RANGE_DAYS = 366
CURRENCY = validate.Regexp(r"^[a-z]{3}$", error="Must be a three-letter lower-case ISO currency code.")
# An appeal's slug as appeals are loaded with it (schemas/appeals.py): anything else names no appeal.
SLUG = [
    validate.Length(min=1, max=64),
    validate.Regexp(
        r"^[a-z0-9]+(?:-[a-z0-9]+)*$", error="Must be an appeal slug (lower-case letters, digits, -)."
    ),
]


FORMAT_HELP = "csv: every matching row as CSV, oldest first (accountant); or send Accept: text/csv."


def cursor(*kinds: type) -> fields.String:
    """A cursor field whose pattern is exactly the cursors the list can read (service/finance/pagination)."""
    return fields.String(
        validate=validate.Regexp(cursor_pattern(kinds), error="Not a cursor this API issued."),
        metadata={"description": "From next_cursor."},
    )


class PageArgs(StrictSchema):
    cursor = cursor(int)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    format = fields.String(
        load_default=None,
        validate=validate.OneOf(("json", "csv")),
        metadata={"description": FORMAT_HELP},
    )


class DateRangeArgs(StrictSchema):
    start = fields.Date(data_key="from", metadata={"description": "First UTC day, inclusive (YYYY-MM-DD)."})
    end = fields.Date(data_key="to", metadata={"description": "Last UTC day, inclusive (YYYY-MM-DD)."})

    @validates_schema
    def range_is_sane(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                raise ValidationError("Must not be before 'from'.", "to")
            if end - start > timedelta(days=MAX_RANGE_DAYS - 1):
                raise ValidationError(f"A range covers at most {MAX_RANGE_DAYS} days.", "to")


class EventListArgs(PageArgs, DateRangeArgs):
    type = fields.String(validate=text(100), metadata={"description": "e.g. charge.refunded or charge.*"})
    outcome = fields.String(
        validate=validate.OneOf(
            ("received", "processed", "duplicate", "ignored", "quarantined", "failed", "waiting"),
            error="Unknown outcome '{input}'; one of: {choices}.",
        )
    )
    donation = fields.String(validate=text(40))
    needs_review = fields.Boolean()


# A donation's states (service.donations.models.DonationStatus.ALL; a test keeps the two equal).
DONATION_STATUSES = (
    "created", "checkout_error", "pending", "processing", "paid", "failed", "expired",
    "partially_refunded", "refunded", "disputed", "dispute_won", "dispute_lost", "cancelled",
    "surge_redirected",
)  # fmt: skip


class DonationListArgs(PageArgs, DateRangeArgs):
    cursor = cursor(datetime, str)  # newest first: created_at, then id
    appeal = fields.String(validate=SLUG)
    status = fields.String(
        validate=validate.OneOf(DONATION_STATUSES, error="Unknown status '{input}'; one of: {choices}.")
    )
    currency = fields.String(validate=CURRENCY)
    frequency = fields.String(
        validate=validate.OneOf(
            ("one_off", "monthly"), error="Unknown frequency '{input}'; one of: {choices}."
        )
    )
    include_abandoned = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Also list abandoned checkouts (expired, checkout_error). Hidden by "
            "default; a status filter naming one of them shows it."
        },
    )
    source = fields.String(validate=text(200), metadata={"description": "utm_source"})
    requested_appeal = fields.String(
        validate=SLUG,
        metadata={"description": "Only gifts redirected from this closed appeal to its successor."},
    )


class PaymentExportArgs(DateRangeArgs):
    """The payments export is CSV only: every matching row, streamed, so no cursor or limit."""

    appeal = fields.String(validate=SLUG)
    currency = fields.String(validate=CURRENCY)
    format = fields.String(
        load_default="csv", validate=validate.OneOf(("csv",)), metadata={"description": "Always CSV."}
    )


class ReconciliationArgs(DateRangeArgs):
    appeal = fields.String(validate=SLUG)
    group_by = fields.String(
        load_default="appeal", validate=validate.OneOf(("day", "appeal", "currency", "source"))
    )
    format = fields.String(
        load_default=None, validate=validate.OneOf(("json", "csv")), metadata={"description": FORMAT_HELP}
    )


class PayoutListArgs(PageArgs, DateRangeArgs):
    currency = fields.String(validate=CURRENCY)


class DiscrepancyArgs(StrictSchema):
    appeal = fields.String(validate=SLUG)
    format = fields.String(
        load_default=None, validate=validate.OneOf(("json", "csv")), metadata={"description": FORMAT_HELP}
    )


# -- out ------------------------------------------------------------------------------------------


class EventSchema(Schema):
    id = fields.Integer()
    stripe_event_id = fields.String()
    type = fields.String()
    outcome = fields.String()
    outcome_reason = fields.String(allow_none=True)
    needs_review = fields.Boolean()
    livemode = fields.Boolean()
    source = fields.String(metadata={"description": "webhook, or sync when a backfill found it"})
    delivery_count = fields.Integer()
    event_created_at = fields.AwareDateTime(allow_none=True)
    received_at = fields.AwareDateTime()
    processed_at = fields.AwareDateTime(allow_none=True)
    donation_id = fields.String(allow_none=True)
    object_id = fields.String(allow_none=True)


class EventDetailSchema(EventSchema):
    payload = fields.Raw(metadata={"description": "The event as Stripe sent it (accountant and admin only)."})


class EventPageSchema(Schema):
    data = fields.List(fields.Nested(EventSchema))
    next_cursor = fields.String(allow_none=True)


class MoneySchema(Schema):
    payments = fields.Integer()
    collected = fields.Integer(metadata={"description": "In the donation's currency."})
    fee = fields.Integer(allow_none=True, metadata={"description": "In settlement_currency."})
    net = fields.Integer(allow_none=True, metadata={"description": "In settlement_currency."})
    settlement_currency = fields.String(
        allow_none=True,
        metadata={
            "description": "Null until Stripe's balance transaction is known, or if payments settled in two."
        },
    )
    refunded = fields.Integer(metadata={"description": "In the donation's currency."})
    disputed = fields.Integer(metadata={"description": "In the donation's currency."})
    dispute_status = fields.String(allow_none=True)
    payouts = fields.List(fields.String())


class DonationSchema(Schema):
    id = fields.String()
    appeal = fields.String(metadata={"description": "The appeal the gift went to."})
    requested_appeal = fields.String(
        allow_none=True,
        metadata={
            "description": "The closed appeal the donor's link named, when the donor chose its successor "
            "instead (docs/publishers.md); null for a gift to the appeal its link named."
        },
    )
    amount = fields.Integer()
    currency = fields.String()
    frequency = fields.String()
    status = fields.String()
    created_at = fields.AwareDateTime()
    paid_at = fields.AwareDateTime(allow_none=True)
    checkout_expires_at = fields.AwareDateTime(allow_none=True)
    stripe_checkout_session_id = fields.String(allow_none=True)
    stripe_payment_intent_id = fields.String(allow_none=True)
    stripe_subscription_id = fields.String(allow_none=True)
    stripe_customer_id = fields.String(allow_none=True)
    source_url = fields.String(allow_none=True)
    referrer_host = fields.String(allow_none=True)
    utm_source = fields.String(allow_none=True)
    utm_medium = fields.String(allow_none=True)
    utm_campaign = fields.String(allow_none=True)
    utm_term = fields.String(allow_none=True)
    utm_content = fields.String(allow_none=True)
    needs_attention = fields.Boolean()
    attention_reason = fields.String(allow_none=True)
    email = fields.String(allow_none=True, metadata={"description": "Accountant and admin only."})
    money = fields.Nested(MoneySchema)


class PaymentSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    status = fields.String()
    amount_refunded = fields.Integer()
    dispute_id = fields.String(allow_none=True)
    dispute_status = fields.String(allow_none=True)
    dispute_amount = fields.Integer(allow_none=True)
    fee = fields.Integer(allow_none=True)
    net = fields.Integer(allow_none=True)
    settlement_currency = fields.String(allow_none=True)
    settlement_amount = fields.Integer(allow_none=True)
    settlement_refunded = fields.Integer()
    settlement_disputed = fields.Integer()
    balance_transaction_id = fields.String(allow_none=True)
    stripe_payment_intent_id = fields.String(allow_none=True)
    stripe_charge_id = fields.String(allow_none=True)
    stripe_invoice_id = fields.String(allow_none=True)
    stripe_payout_id = fields.String(allow_none=True)
    paid_at = fields.AwareDateTime(allow_none=True)


class TimelineEntrySchema(Schema):
    at = fields.AwareDateTime(allow_none=True)
    kind = fields.String()
    detail = fields.String(allow_none=True)
    event_id = fields.String(allow_none=True)
    delivery = fields.Integer()
    outcome = fields.String(allow_none=True)
    received_at = fields.AwareDateTime()


class MonthlyLifeSchema(Schema):
    """A gift's monthly side (issue 14): the offer before Checkout and how a monthly gift ended."""

    monthly_offer = fields.String(
        allow_none=True,
        metadata={"description": "null (not offered), offered, accepted or declined (docs/donors.md)."},
    )
    one_off_amount = fields.Integer(
        allow_none=True,
        metadata={"description": "What the donor first chose to give once, when they took the offer."},
    )
    subscription_status = fields.String(allow_none=True)
    cancelled_by = fields.String(
        allow_none=True, metadata={"description": "donor, payment_failed, dispute or staff."}
    )
    cancelled_at = fields.AwareDateTime(allow_none=True)
    cancellation_feedback = fields.String(allow_none=True)


class DonationDetailSchema(DonationSchema):
    payments = fields.List(fields.Nested(PaymentSchema))
    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    monthly = fields.Nested(MonthlyLifeSchema)


class DonationPageSchema(Schema):
    data = fields.List(fields.Nested(DonationSchema))
    next_cursor = fields.String(allow_none=True)


class ReconciliationLineSchema(Schema):
    key = fields.String(metadata={"description": "The day, appeal slug, currency or source."})
    currency = fields.String(
        metadata={"description": "Currency of gross, refunded and disputed (the charges')."}
    )
    payments = fields.Integer()
    gross = fields.Integer(metadata={"description": "In currency."})
    refunded = fields.Integer(metadata={"description": "In currency."})
    disputed = fields.Integer(metadata={"description": "In currency: open or lost disputes."})
    settlement_currency = fields.String(
        allow_none=True,
        metadata={
            "description": "Currency of settlement_gross, fees, net, settlement_refunded, "
            "settlement_disputed and balance (the Stripe balance's); null for payments whose "
            "balance transaction is not known yet."
        },
    )
    settlement_gross = fields.Integer(
        allow_none=True,
        metadata={"description": "In settlement_currency: the charges as Stripe booked them."},
    )
    fees = fields.Integer(allow_none=True, metadata={"description": "In settlement_currency."})
    net = fields.Integer(
        allow_none=True, metadata={"description": "In settlement_currency: Stripe's net, gross less fees."}
    )
    settlement_refunded = fields.Integer(
        allow_none=True,
        metadata={"description": "In settlement_currency: what refunds took from the balance."},
    )
    settlement_disputed = fields.Integer(
        allow_none=True,
        metadata={"description": "In settlement_currency: dispute withdrawals less reinstatements."},
    )
    balance = fields.Integer(
        allow_none=True,
        metadata={
            "description": "In settlement_currency: net less settlement_refunded and settlement_disputed."
        },
    )
    without_fee_data = fields.Integer()


class ReconciliationTotalSchema(Schema):
    currency = fields.String()
    payments = fields.Integer()
    gross = fields.Integer()
    refunded = fields.Integer()
    disputed = fields.Integer()
    without_fee_data = fields.Integer()


class ReconciliationSettlementTotalSchema(Schema):
    settlement_currency = fields.String()
    payments = fields.Integer()
    settlement_gross = fields.Integer()
    fees = fields.Integer()
    net = fields.Integer()
    settlement_refunded = fields.Integer()
    settlement_disputed = fields.Integer()
    balance = fields.Integer()


class TransferredSchema(Schema):
    appeal = fields.String()
    account = fields.String(metadata={"description": "The charity's connected Stripe account."})
    currency = fields.String()
    transfers = fields.Integer()
    amount = fields.Integer(metadata={"description": "Transferred to the charity (the whole gifts)."})
    reversed = fields.Integer(metadata={"description": "Transfer reversals taken back by the platform."})
    received = fields.Integer(metadata={"description": "amount less reversed: what the charity kept."})
    paid_out = fields.Integer(metadata={"description": "How many of the transfers a charity payout carried."})


class ReconciliationSchema(Schema):
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    group_by = fields.String()
    groups = fields.List(fields.Nested(ReconciliationLineSchema))
    totals = fields.List(
        fields.Nested(ReconciliationTotalSchema),
        metadata={"description": "One per charge currency, never summed across."},
    )
    settlement_totals = fields.List(
        fields.Nested(ReconciliationSettlementTotalSchema),
        metadata={"description": "One per settlement currency: what the Stripe balance received and kept."},
    )
    transferred = fields.List(
        fields.Nested(TransferredSchema),
        metadata={
            "description": "Connect appeals: what each charity's own account received (the groups "
            "above are the platform's side: its charge, the fee it paid, refunds, disputes)."
        },
    )


class PayoutDetailArgs(StrictSchema):
    format = fields.String(
        load_default=None,
        validate=validate.OneOf(("json", "csv")),
        metadata={
            "description": "csv: the payout statement, one line per balance transaction, "
            "summing to the payout amount (columns: docs/finance.md)."
        },
    )


class AccountingImportArgs(StrictSchema):
    software = fields.String(
        required=True,
        validate=validate.OneOf(
            ("xero", "quickbooks"), error="Unknown software '{input}'; one of: {choices}."
        ),
        metadata={"description": "xero: a Xero bank statement; quickbooks: a QuickBooks Online bank CSV."},
    )


class MonthEndArgs(StrictSchema):
    month = fields.String(
        validate=validate.Regexp(
            # From 1970, where Stripe's timestamps start, to 2999.
            r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$",
            error="Must be a month as YYYY-MM, from 1970.",
        ),
        metadata={"description": "The UTC calendar month, YYYY-MM (default: the current month)."},
    )
    format = fields.String(
        load_default=None, validate=validate.OneOf(("json", "csv")), metadata={"description": FORMAT_HELP}
    )


class MonthEndLineSchema(Schema):
    month = fields.String()
    settlement_currency = fields.String(metadata={"description": "The currency of amount."})
    section = fields.String(
        metadata={
            "description": "opening_balance, activity, payouts, closing_balance or not_from_this_service"
        }
    )
    category = fields.String(
        metadata={
            "description": "payment (by appeal), fees, refund, dispute, dispute_fee, transfer, adjustment..."
        }
    )
    appeal = fields.String(allow_none=True, metadata={"description": "For gifts: the appeal's slug."})
    transactions = fields.Integer(metadata={"description": "How many balance transactions the line sums."})
    amount = fields.Integer(
        metadata={"description": "Minor units of settlement_currency; money out negative."}
    )


class MonthEndSchema(Schema):
    month = fields.String()
    start = fields.Date(metadata={"description": "First day of the month (UTC)."})
    end = fields.Date(metadata={"description": "First day of the next month (UTC), not included."})
    lines = fields.List(
        fields.Nested(MonthEndLineSchema),
        metadata={
            "description": "Per settlement currency: opening balance, activity, payouts, closing balance."
        },
    )
