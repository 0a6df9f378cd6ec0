"""The server-rendered donate form: what the donor's browser posts, validated."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from service.currencies import AmountFormatError, parse_major_amount

from .donations import FREQUENCIES, UTM


class DonateFormSchema(Schema):
    """Form fields arrive as strings; unknown fields from browser extensions are ignored."""

    class Meta:
        unknown = EXCLUDE

    form_token = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{16,64}$"))
    currency = fields.String(
        required=True, validate=validate.Regexp(r"^[a-z]{3}$", error="Choose a currency.")
    )
    amount_choice = fields.String(load_default="")
    custom_amount = fields.String(load_default="", validate=validate.Length(max=20))
    frequency = fields.String(
        load_default="one_off",
        validate=validate.OneOf(FREQUENCIES, error="Choose one-off or monthly."),
    )
    email = fields.Email(
        load_default=None,
        validate=validate.Length(max=320),
        error_messages={"invalid": "Enter a valid email address, or leave it empty."},
    )
    source_url = fields.Url(
        schemes={"http", "https"},
        require_tld=False,
        load_default=None,
        validate=validate.Length(max=2048),
    )
    referrer = fields.Url(
        schemes={"http", "https"},
        require_tld=False,
        load_default=None,
        validate=validate.Length(max=2048),
    )
    utm_source = fields.String(load_default=None, validate=UTM)
    utm_medium = fields.String(load_default=None, validate=UTM)
    utm_campaign = fields.String(load_default=None, validate=UTM)
    utm_term = fields.String(load_default=None, validate=UTM)
    utm_content = fields.String(load_default=None, validate=UTM)

    def load_form(self, form: Any) -> dict[str, Any]:
        # Browsers send empty strings for untouched optional inputs; treat them as absent.
        data = {key: value.strip() for key, value in form.items() if isinstance(value, str) and value.strip()}
        if "currency" in data:
            data["currency"] = data["currency"].lower()
        return self.load(data)

    @validates_schema
    def check_amount(self, data: dict[str, Any], **_: Any) -> None:
        choice, custom = data.get("amount_choice", ""), data.get("custom_amount", "")
        if choice in ("", "custom") and not custom:
            raise ValidationError("Choose an amount or enter your own.", "amount")
        if choice not in ("", "custom") and not choice.isdigit():
            raise ValidationError("Choose one of the amounts shown.", "amount")
        if choice in ("", "custom") and "currency" in data:
            try:
                parse_major_amount(custom, data["currency"])
            except AmountFormatError as exc:
                raise ValidationError(str(exc), "amount") from None

    @post_load
    def to_amount(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        choice = data.pop("amount_choice", "")
        custom = data.pop("custom_amount", "")
        if choice in ("", "custom"):
            data["amount"] = parse_major_amount(custom, data["currency"])
        else:
            data["amount"] = int(choice)
        return data
