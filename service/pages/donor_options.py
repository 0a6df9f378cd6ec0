"""The donate page's options and languages: fee cover, anonymity, Gift Aid, English/Ukrainian.

Kept apart from the form's flow in ``donate.py``: this module turns links and form fields into
donation options, gives the template what it shows (the estimated fee, HMRC's declaration in
the donor's language, language links) and puts form errors into the donor's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from babel.numbers import format_decimal, get_currency_symbol
from flask import request, url_for

from .. import extensions
from ..constants.languages import LOCALES
from ..currencies import exponent
from ..fees import fee_cover_for, fee_rate
from ..gift_aid import GiftAidDeclaration, declaration_from_fields, declaration_text, offers_gift_aid
from ..i18n import babel_locale, current_locale, gettext, money
from ..models import Appeal

TRUTHY = ("1", "true", "on", "yes")
GIFT_AID_FIELDS = (
    "gift_aid_title",
    "gift_aid_first_name",
    "gift_aid_last_name",
    "gift_aid_house",
    "gift_aid_postcode",
)
LANGUAGE_NAMES = {"en": "English", "uk": "Українська"}


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for "mark, translate later"
    return message


# Messages other modules show donors in English; listed so the catalogues carry them, and the
# donor pages translate them on the way out (error.html and localise_errors).
DONOR_MESSAGES = (
    N_("We couldn't find that page. The link may be out of date."),
    N_("Too many attempts in a short time. Please wait a moment and try again."),
    N_("Something went wrong on our side. You have not been charged; please try again shortly."),
    N_("That request didn't work. Please go back and try again."),
    N_(
        "We couldn't reach our payment provider. Your card has not been charged; please try again in a moment."
    ),
    N_(
        "We couldn't set up the payment. Your card has not been charged; "
        "please try again later or choose another amount."
    ),
    N_("A request with this Idempotency-Key is still being processed; retry shortly."),
    N_("This form has expired. Please choose your gift again."),
    N_("That donation has already been completed or has expired. You can make a new one below."),
    N_("Enter an amount."),
    N_("That amount is too large."),
    N_("This appeal is not accepting donations."),
    N_("This gift is too large to add the fees to."),
    N_("Gift Aid applies only to gifts in pounds to appeals that claim it."),
)


def link_options(args: Mapping[str, str]) -> dict[str, Any]:
    """Options a publisher's link or the widget may preselect (never Gift Aid: that is the donor's)."""
    return {
        "cover_fees": args.get("cover_fees", "").lower() in TRUTHY,
        "anonymous": args.get("anonymous", "").lower() in TRUTHY,
    }


def request_options(data: Mapping[str, Any], appeal: Appeal) -> dict[str, Any]:
    """DonationRequest keyword arguments from the validated form."""
    declaration: GiftAidDeclaration | None = None
    if data.get("gift_aid") and offers_gift_aid(appeal, data["currency"]):
        declaration = declaration_from_fields(
            {
                "title": data.get("gift_aid_title"),
                "first_name": data["gift_aid_first_name"],
                "last_name": data["gift_aid_last_name"],
                "house": data["gift_aid_house"],
                "postcode": data["gift_aid_postcode"],
            }
        )
    return {
        "cover_fees": bool(data.get("cover_fees")),
        "anonymous": bool(data.get("anonymous")),
        "gift_aid": declaration,
        "locale": current_locale(),
    }


FEE_ESTIMATE = N_("About %(cover)s on a %(gift)s gift.")


def _settles_in() -> str | None:
    """The account's settlement currency: a gift in another one pays Stripe's conversion fee too."""
    return extensions.settings().stripe_settlement_currency


def fee_estimate(gift: int, currency: str) -> str:
    """'About £0.59 on a £25 gift.' in the donor's language: what covering the fee adds."""
    return gettext(
        FEE_ESTIMATE,
        cover=money(fee_cover_for(gift, currency, _settles_in()), currency),
        gift=money(gift, currency),
    )


def options_context(appeal: Appeal, values: Mapping[str, Any]) -> dict[str, Any]:
    """What the template shows for the options, in the donor's language.

    Without JavaScript the fee hint states the rule, true for any amount; donate.js adds the
    estimate for the amount chosen (each suggestion carries its own, worked out here).
    """
    currency = values.get("currency") or appeal.default_currency
    rate = fee_rate(currency, _settles_in())
    percent = format_decimal(rate.percent, locale=babel_locale())
    rule = f"{percent}% + {money(rate.fixed, currency)}" if rate.fixed else f"{percent}%"
    return {
        "fee_rule": gettext(
            "Processing fees are %(rule)s per payment. You'll see the total before you pay.", rule=rule
        ),
        "fee_estimate_template": gettext(FEE_ESTIMATE),
        "fee_basis_points": int(rate.percent * 100),
        "fee_fixed": rate.fixed,
        "fee_places": exponent(currency),
        "currency_symbol": get_currency_symbol(currency.upper(), babel_locale()),
        "gift_aid_offered": offers_gift_aid(appeal, currency),
        "gift_aid_declaration": declaration_text(appeal.charity_name, current_locale()),
        "language_links": language_links(),
    }


def language_links() -> list[dict[str, Any]]:
    """The same page in each language we speak, keeping every other query parameter."""
    args = {key: value for key, value in request.args.items() if key != "lang"}
    return [
        {
            "code": code,
            "name": LANGUAGE_NAMES[code],
            "url": url_for(
                request.endpoint or "donate.donate_form", **(request.view_args or {}), **args, lang=code
            ),
            "current": code == current_locale(),
        }
        for code in LOCALES
    ]


def localise_errors(
    errors: Mapping[str, list[str]], appeal: Appeal, currency: str | None
) -> dict[str, list[str]]:
    """Form messages in the donor's language; the appeal's limits are restated with its amounts."""
    localised: dict[str, list[str]] = {}
    for field, messages in errors.items():
        localised[field] = [gettext(message) for message in messages]
    if any(message.startswith("This appeal accepts") for message in errors.get("currency", [])):
        accepted = ", ".join(code.upper() for code in appeal.currencies)
        localised["currency"] = [gettext("This appeal accepts %(currencies)s.", currencies=accepted)]
    code = (currency or "").lower()
    if code in appeal.minimum_amounts and "amount" in errors:
        # The domain's limit messages quote minor units for API clients; donors get money.
        localised["amount"] = [
            gettext("The minimum gift is %(minimum)s.", minimum=money(appeal.minimum_amounts[code], code))
            if message.startswith("The minimum gift")
            else gettext(
                "The maximum gift is %(maximum)s.", maximum=money(appeal.maximum_amounts[code], code)
            )
            if message.startswith("The maximum gift")
            else gettext(message)
            for message in errors["amount"]
        ]
    return localised
