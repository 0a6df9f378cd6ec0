"""The server-rendered donate form: what the donor's browser posts, validated."""

from __future__ import annotations

from collections.abc import Callable
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

from service.constants.languages import LOCALES

from .donations import FREQUENCIES, PAY_BY, UTM
from .postcode import normalise_postcode


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for "mark, translate later"
    """Marks a message for the catalogues; the donor page translates it when it shows it."""
    return message


# A NUL character cannot be stored (PostgreSQL refuses it in text): bad input, said plainly.
NO_NUL_TEXT = validate.Regexp(r"^[^\x00]*$", error=N_("Remove the unusual character from this field."))


class DonateFormSchema(Schema):
    """Form fields arrive as strings; unknown fields from browser extensions are ignored."""

    class Meta:
        unknown = EXCLUDE

    form_token = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{16,64}$"))
    currency = fields.String(
        required=True, validate=validate.Regexp(r"^[a-z]{3}$", error=N_("Choose a currency."))
    )
    amount_choice = fields.String(load_default="")
    # The suggestion the page preselected: a typed amount beside it is the donor's choice.
    amount_preselected = fields.String(load_default="")
    custom_amount = fields.String(load_default="", validate=validate.Length(max=40))
    # The page's language, which decides how the typed amount reads ('10,50').
    locale = fields.String(load_default="en", validate=validate.OneOf(LOCALES))
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
    # A UK postcode for a match funder's evidence of residence (asked only while a rule takes it).
    match_postcode = fields.String(
        load_default=None, validate=validate.Length(max=10, error=N_("Enter a UK postcode, like SW1A 1AA."))
    )
    # How the donor will pay: "bank_debit" when they chose Direct Debit (service/payment_methods.py).
    pay_by = fields.String(
        load_default="checkout",
        validate=validate.OneOf(PAY_BY, error=N_("Choose how you would like to pay.")),
    )
    # Donor options. A ticked checkbox posts "1"; an unticked one posts nothing.
    cover_fees = fields.Boolean(load_default=False)
    anonymous = fields.Boolean(load_default=False)
    gift_aid = fields.Boolean(load_default=False)
    gift_aid_title = fields.String(
        load_default=None, validate=[validate.Length(max=4, error=N_("Use at most 4 letters.")), NO_NUL_TEXT]
    )
    gift_aid_first_name = fields.String(
        load_default=None,
        validate=[validate.Length(max=35, error=N_("Use at most 35 characters.")), NO_NUL_TEXT],
    )
    gift_aid_last_name = fields.String(
        load_default=None,
        validate=[validate.Length(max=35, error=N_("Use at most 35 characters.")), NO_NUL_TEXT],
    )
    gift_aid_house = fields.String(
        load_default=None,
        validate=[validate.Length(max=40, error=N_("Use at most 40 characters.")), NO_NUL_TEXT],
    )
    gift_aid_postcode = fields.String(
        load_default=None,
        validate=[validate.Length(max=10, error=N_("Enter a UK postcode, like SW1A 1AA.")), NO_NUL_TEXT],
    )

    def __init__(self, *args: Any, chosen_amount: Callable[[Any, str, str], int], **kwargs: Any) -> None:
        """``chosen_amount(form, currency, locale)`` is the donor's amount in minor units, or a
        ValueError whose text, in the donor's language, says why it cannot be known (the domain's
        rule: service/amount_input.py, so the schema needs no domain module)."""
        super().__init__(*args, **kwargs)
        self.chosen_amount = chosen_amount

    def load_form(self, form: Any, locale: str = "en") -> dict[str, Any]:
        """The posted form, validated; ``locale`` is the page's language (how amounts read)."""
        # Browsers send empty strings for untouched optional inputs; treat them as absent.
        data = {key: value.strip() for key, value in form.items() if isinstance(value, str) and value.strip()}
        if "currency" in data:
            data["currency"] = data["currency"].lower()
        data["locale"] = locale
        return self.load(data)

    @validates_schema
    def check_amount(self, data: dict[str, Any], **_: Any) -> None:
        if "currency" not in data:
            return  # the currency's own message says what is wrong
        try:
            self.chosen_amount(data, data["currency"], data.get("locale", "en"))
        except ValueError as exc:
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

    @validates_schema
    def check_match_postcode(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("match_postcode") and normalise_postcode(data["match_postcode"]) is None:
            raise ValidationError(N_("Enter a UK postcode, like SW1A 1AA."), "match_postcode")

    @post_load
    def to_amount(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["amount"] = self.chosen_amount(data, data["currency"], data["locale"])
        for key in ("amount_choice", "amount_preselected", "custom_amount"):
            data.pop(key, None)
        return data
