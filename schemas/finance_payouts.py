"""Finance API shapes for payouts: the list, one payout's detail, its payments and statement."""

from __future__ import annotations

from marshmallow import Schema, fields


class PayoutSchema(Schema):
    id = fields.Integer()
    stripe_payout_id = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    status = fields.String()
    reconciliation_status = fields.String(allow_none=True)
    automatic = fields.Boolean(
        metadata={
            "description": "False for a manual or instant payout: Stripe does not itemise it, "
            "so no payments are linked to it (reconcile it against the balance, docs/finance.md)."
        }
    )
    method = fields.String(allow_none=True, metadata={"description": "standard or instant"})
    arrival_date = fields.AwareDateTime(allow_none=True)
    stripe_created_at = fields.AwareDateTime(allow_none=True)
    payment_count = fields.Integer()
    payments_net = fields.Integer(
        metadata={"description": "Sum of the net of the ledger's payments linked to it."}
    )
    account = fields.String(
        allow_none=True,
        metadata={
            "description": "Null for the platform's own payout; the charity's connected account for its payout."
        },
    )
    transfers_amount = fields.Integer(
        metadata={
            "description": "A charity's payout: what the transfers it carried brought (less reversals)."
        }
    )


class PayoutTransferSchema(Schema):
    stripe_transfer_id = fields.String()
    donation_id = fields.String()
    appeal = fields.String()
    destination_account = fields.String()
    destination_payment_id = fields.String(allow_none=True)
    amount = fields.Integer()
    amount_reversed = fields.Integer()
    currency = fields.String()
    transferred_at = fields.AwareDateTime(allow_none=True)


class PayoutPageSchema(Schema):
    data = fields.List(fields.Nested(PayoutSchema))
    next_cursor = fields.String(allow_none=True)


class PayoutPaymentSchema(Schema):
    id = fields.Integer()
    donation_id = fields.String()
    appeal = fields.String()
    stripe_charge_id = fields.String(allow_none=True)
    balance_transaction_id = fields.String(allow_none=True)
    amount = fields.Integer(metadata={"description": "In currency (the charge's)."})
    currency = fields.String()
    settlement_currency = fields.String(allow_none=True)
    settlement_amount = fields.Integer(
        allow_none=True, metadata={"description": "In settlement_currency: the charge as Stripe booked it."}
    )
    fee = fields.Integer(allow_none=True, metadata={"description": "In settlement_currency."})
    net = fields.Integer(allow_none=True, metadata={"description": "In settlement_currency."})
    amount_refunded = fields.Integer(metadata={"description": "In currency."})
    dispute_status = fields.String(allow_none=True)
    paid_at = fields.AwareDateTime(allow_none=True)


class StatementLineSchema(Schema):
    id = fields.String()
    type = fields.String(metadata={"description": "charge, refund, adjustment (disputes), ..."})
    source = fields.String(allow_none=True)
    amount = fields.Integer()
    fee = fields.Integer()
    net = fields.Integer()
    created = fields.AwareDateTime(allow_none=True)
    donation_id = fields.String(allow_none=True)
    matches_ledger = fields.Boolean(allow_none=True)


class StatementSchema(Schema):
    available = fields.Boolean(metadata={"description": "False when Stripe could not be reached."})
    transactions = fields.List(fields.Nested(StatementLineSchema))
    totals = fields.Dict(keys=fields.String(), values=fields.Integer())
    unmatched_charges = fields.Integer()
    adds_up = fields.Boolean()


class PayoutDetailSchema(PayoutSchema):
    payments = fields.List(fields.Nested(PayoutPaymentSchema))
    transfers = fields.List(fields.Nested(PayoutTransferSchema))
    payments_gross = fields.Integer(
        metadata={"description": "In the payout's currency: the linked payments' settlement amounts."}
    )
    payments_fees = fields.Integer(metadata={"description": "In the payout's currency."})
    stripe = fields.Nested(StatementSchema, allow_none=True)
    adds_up = fields.Boolean(
        metadata={
            "description": "Stripe's transactions net to the payout amount and every charge matches the ledger."
        }
    )
