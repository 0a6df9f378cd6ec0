"""Requests to create a donation and the public views of one."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, pre_load, validate, validates

from .base import StrictSchema, text
from .postcode import normalise_postcode

FREQUENCIES = ("one_off", "monthly")
# The donor's way to pay, as service/payment_methods.py names it (a plain copy: schemas import no domain).
PAY_BY = ("checkout", "bank_debit")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# Campaign tags are cleaned, not refused: service/attribution.py drops control characters (NUL
# included) from what a publisher's link carries, so a stray one never costs a donor their gift.
UTM = validate.Length(max=200)


# An http(s) address with something after "//", no spaces or control characters: the pattern the document publishes is
# the whole rule, so every address it admits is accepted. service/attribution.py then keeps the
# scheme, host and path of what it can read as a page, and ignores the rest.
# Control characters and spaces are spelled out rather than written \s: Python's \s also matches
# \x1c-\x1f and JSON Schema's (ECMA) does not, and both must read the pattern alike.
PAGE_URL = validate.Regexp(
    r"^https?://[^\x00-\x20\x7f/?#]+([/?#][^\x00-\x20\x7f]*)?$", error="Must be an http or https URL."
)


class SourceSchema(StrictSchema):
    """Where the donor came from: the news page and its campaign tags."""

    url = fields.String(
        validate=[PAGE_URL, validate.Length(max=2048)],
        metadata={"description": "The page with the donate link (http or https only)."},
    )
    referrer = fields.String(
        validate=[PAGE_URL, validate.Length(max=2048)],
        metadata={"description": "The page the donor came from, if different; only its host is kept."},
    )
    utm_source = fields.String(validate=UTM)
    utm_medium = fields.String(validate=UTM)
    utm_campaign = fields.String(validate=UTM)
    utm_term = fields.String(validate=UTM)
    utm_content = fields.String(validate=UTM)


class GiftAidSchema(StrictSchema):
    """A Gift Aid declaration: sending it means the donor accepted HMRC's wording on your page."""

    title = fields.String(load_default=None, validate=text(4))
    first_name = fields.String(required=True, validate=text(35, min_length=1))
    last_name = fields.String(required=True, validate=text(35, min_length=1))
    house = fields.String(
        required=True,
        validate=text(40, min_length=1),
        metadata={"description": "House name or number of the donor's home address."},
    )
    postcode = fields.String(
        required=True,
        validate=text(10, min_length=5),
        metadata={"description": "UK postcode of the donor's home address."},
    )
    declaration = fields.Boolean(
        required=True,
        metadata={"description": "Must be true: the donor accepted the declaration."},
    )

    @validates("postcode")
    def check_postcode(self, value: str, **_: Any) -> None:
        if normalise_postcode(value) is None:
            raise ValidationError("Enter a UK postcode, like SW1A 1AA.")

    @validates("declaration")
    def check_declared(self, value: bool, **_: Any) -> None:
        if value is not True:
            raise ValidationError("The donor must accept the Gift Aid declaration.")


class DonationCreateSchema(StrictSchema):
    appeal = fields.String(
        required=True,
        validate=text(64, min_length=1),
        metadata={"description": "Appeal slug."},
    )
    amount = fields.Integer(
        strict=True,
        required=True,
        validate=validate.Range(min=1, error="Must be a positive whole number of minor units."),
        metadata={"description": "Integer minor units (pence, cents; whole yen for JPY)."},
    )
    currency = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z]{3}$", error="Must be a three-letter ISO currency code."),
    )
    frequency = fields.String(load_default="one_off", validate=validate.OneOf(FREQUENCIES))
    email = fields.Email(load_default=None, validate=validate.Length(max=320))
    source = fields.Nested(SourceSchema, load_default=None)
    cover_fees = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Add the estimated payment processing fee so the charity receives the whole gift."
        },
    )
    anonymous = fields.Boolean(load_default=False, metadata={"description": "Show no name anywhere public."})
    gift_aid = fields.Nested(GiftAidSchema, load_default=None)
    postcode = fields.String(
        load_default=None,
        validate=text(10, min_length=5),
        metadata={
            "description": "The donor's UK postcode, when a match funder accepts it as evidence of UK "
            "residence (the appeal's progress lists live match funding). The funder sees its district only."
        },
    )
    pay_by = fields.String(
        load_default="checkout",
        validate=validate.OneOf(PAY_BY),
        metadata={
            "description": "`bank_debit`: the donor chose Direct Debit, and Checkout offers only the scheme "
            "of the gift's currency (Bacs for monthly gifts in gbp from 2.00, SEPA in eur from 1.00) on an "
            "appeal that takes bank debits; any other gift is refused with a 422 naming the field at fault. "
            "`checkout` (default): Checkout offers the ways to pay the Stripe Dashboard enables."
        },
    )
    redirected_from = fields.String(
        load_default=None,
        validate=text(64, min_length=1),
        metadata={
            "description": "The closed appeal the donor's link named, when the donor agreed to give to "
            "the successor it offers (see the appeal's successor). The gift records both."
        },
    )

    @validates("postcode")
    def check_match_postcode(self, value: str | None, **_: Any) -> None:
        if value is not None and normalise_postcode(value) is None:
            raise ValidationError("Enter a UK postcode, like SW1A 1AA.")

    @pre_load
    def lower_currency(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("currency"), str):
            data = {**data, "currency": data["currency"].lower()}
        return data


class DonationCreatedSchema(StrictSchema):
    id = fields.String(required=True)
    status = fields.String(required=True)
    appeal = fields.Function(lambda d: d.appeal.slug)
    amount = fields.Integer()
    currency = fields.String()
    frequency = fields.String()
    fee_cover_amount = fields.Integer()
    amount_total = fields.Integer(attribute="charge_amount")
    checkout_url = fields.String(allow_none=True)
    expires_at = fields.AwareDateTime(attribute="checkout_expires_at", allow_none=True)


class DonationStatusSchema(StrictSchema):
    """What anyone holding a donation id may see: no personal data."""

    id = fields.String()
    status = fields.String()
    appeal = fields.Function(lambda d: d.appeal.slug)
    amount = fields.Integer()
    currency = fields.String()
    frequency = fields.String()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
