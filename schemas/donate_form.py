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
from service.gift_aid import normalise_postcode

from .donations import FREQUENCIES, UTM


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for "mark, translate later"
    """Marks a message for the catalogues; the donor page translates it when it shows it."""
    return message


class DonateFormSchema(Schema):
    """Form fields arrive as strings; unknown fields from browser extensions are ignored."""

    class Meta:
        unknown = EXCLUDE

    form_token = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{16,64}$"))
    currency = fields.String(
        required=True, validate=validate.Regexp(r"^[a-z]{3}$", error=N_("Choose a currency."))
    )
    amount_choice = fields.String(load_default="")
    custom_amount = fields.String(load_default="", validate=validate.Length(max=20))
    frequency = fields.String(
        load_default="one_off",
        validate=validate.OneOf(FREQUENCIES, error=N_("Choose one-off or monthly.")),
    )
    email = fields.Email(
        load_default=None,
        validate=validate.Length(max=320),
        error_messages={"invalid": N_("Enter a valid email address, or leave it empty.")},
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
    # The closed appeal whose link brought the donor here, once the donor chose its successor.
    redirected_from = fields.String(load_default=None, validate=validate.Length(max=64))
    # Donor options. A ticked checkbox posts "1"; an unticked one posts nothing.
    cover_fees = fields.Boolean(load_default=False)
    anonymous = fields.Boolean(load_default=False)
    gift_aid = fields.Boolean(load_default=False)
    gift_aid_title = fields.String(
        load_default=None, validate=validate.Length(max=4, error=N_("Use at most 4 letters."))
    )
    gift_aid_first_name = fields.String(
        load_default=None, validate=validate.Length(max=35, error=N_("Use at most 35 characters."))
    )
    gift_aid_last_name = fields.String(
        load_default=None, validate=validate.Length(max=35, error=N_("Use at most 35 characters."))
    )
    gift_aid_house = fields.String(
        load_default=None, validate=validate.Length(max=40, error=N_("Use at most 40 characters."))
    )
    gift_aid_postcode = fields.String(
        load_default=None, validate=validate.Length(max=10, error=N_("Enter a UK postcode, like SW1A 1AA."))
    )

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
            raise ValidationError(N_("Choose an amount or enter your own."), "amount")
        if choice not in ("", "custom") and not (choice.isascii() and choice.isdigit()):
            raise ValidationError(N_("Choose one of the amounts shown."), "amount")
        if choice in ("", "custom") and "currency" in data:
            try:
                parse_major_amount(custom, data["currency"])
            except AmountFormatError as exc:
                raise ValidationError(str(exc), "amount") from None

    @validates_schema
    def check_gift_aid(self, data: dict[str, Any], **_: Any) -> None:
        """Gift Aid needs the donor's name and home address; without the tick they are ignored."""
        if not data.get("gift_aid"):
            return
        errors: dict[str, list[str]] = {}
        for key, message in (
            ("gift_aid_first_name", N_("Enter your first name for Gift Aid.")),
            ("gift_aid_last_name", N_("Enter your last name for Gift Aid.")),
            ("gift_aid_house", N_("Enter your house name or number for Gift Aid.")),
        ):
            if not data.get(key):
                errors[key] = [message]
        if normalise_postcode(data.get("gift_aid_postcode") or "") is None:
            errors["gift_aid_postcode"] = [N_("Enter a UK postcode, like SW1A 1AA.")]
        if errors:
            raise ValidationError(errors)

    @post_load
    def to_amount(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        choice = data.pop("amount_choice", "")
        custom = data.pop("custom_amount", "")
        if choice in ("", "custom"):
            data["amount"] = parse_major_amount(custom, data["currency"])
        else:
            data["amount"] = int(choice)
        return data
