"""Requests to create a donation and the public views of one."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, pre_load, validate

from .base import StrictSchema

FREQUENCIES = ("one_off", "monthly")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
UTM = validate.Length(max=200)


class SourceSchema(StrictSchema):
    """Where the donor came from: the news page and its campaign tags."""

    url = fields.Url(
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2048),
        metadata={"description": "The page with the donate link (http or https only)."},
    )
    referrer = fields.Url(
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2048),
        metadata={"description": "The page the donor came from, if different; only its host is kept."},
    )
    utm_source = fields.String(validate=UTM)
    utm_medium = fields.String(validate=UTM)
    utm_campaign = fields.String(validate=UTM)
    utm_term = fields.String(validate=UTM)
    utm_content = fields.String(validate=UTM)


class DonationCreateSchema(StrictSchema):
    appeal = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
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
