"""Appeal definitions (loaded from YAML/JSON by operators) and the public view of an appeal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError, fields, post_load, pre_load, validate, validates, validates_schema

from service.constants.currencies import (
    BANK_DEBIT_CURRENCIES,
    STRIPE_MAXIMUM_AMOUNT,
    STRIPE_MINIMUM_CHARGE,
    SUPPORTED_CURRENCIES,
)

from .base import StrictSchema
from .match_funding import MatchRuleSchema

SLUG = validate.Regexp(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", error="Use lower-case letters, digits and hyphens.")
CURRENCY = validate.OneOf(sorted(SUPPORTED_CURRENCIES), error="Unsupported currency {input}.")
AMOUNT = fields.Integer(strict=True, validate=validate.Range(min=1, max=STRIPE_MAXIMUM_AMOUNT))


def _lower_codes(value: Any) -> Any:
    if isinstance(value, list):
        return [v.lower() if isinstance(v, str) else v for v in value]
    if isinstance(value, dict):
        return {k.lower() if isinstance(k, str) else k: v for k, v in value.items()}
    return value


class SuccessorSchema(StrictSchema):
    """Where a closed appeal's donors are offered to give instead (see docs/publishers.md)."""

    appeal = fields.String(
        load_default=None,
        validate=[validate.Length(max=64), SLUG],
        metadata={"description": "Slug of the appeal to offer instead."},
    )
    general_fund = fields.Boolean(
        load_default=False,
        metadata={"description": "Offer the charity's general fund (its appeal marked general_fund)."},
    )
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "Shown to donors: why this appeal closed and what the successor does."},
    )
    when_funded = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Also offer the successor (and stop taking gifts) once the goal is reached."
        },
    )

    @validates_schema
    def check_one_target(self, data: dict[str, Any], **_: Any) -> None:
        if bool(data.get("appeal")) == bool(data.get("general_fund")):
            raise ValidationError("Name either an appeal or general_fund: true.", "appeal")


class AppealDefinitionSchema(StrictSchema):
    slug = fields.String(required=True, validate=[validate.Length(max=64), SLUG])
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    charity_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    currencies = fields.List(
        fields.String(validate=CURRENCY), required=True, validate=validate.Length(min=1, max=20)
    )
    default_currency = fields.String(load_default=None, validate=CURRENCY)
    suggested_amounts = fields.Dict(
        keys=fields.String(validate=CURRENCY),
        values=fields.List(AMOUNT, validate=validate.Length(max=6)),
        load_default=dict,
    )
    minimum_amounts = fields.Dict(keys=fields.String(validate=CURRENCY), values=AMOUNT, load_default=dict)
    maximum_amounts = fields.Dict(keys=fields.String(validate=CURRENCY), values=AMOUNT, load_default=dict)
    goal_amount = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1))
    goal_currency = fields.String(load_default=None, validate=CURRENCY)
    opens_at = fields.AwareDateTime(load_default=None)
    closes_at = fields.AwareDateTime(load_default=None)
    stripe_account = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^acct_[A-Za-z0-9]+$", error="Must be a Stripe account id (acct_...)."),
    )
    # Checked against Stripe's rules beside the account's prefix by the function the loader passes
    # in (service/descriptors.py: suffix_problems).
    statement_descriptor_suffix = fields.String(load_default=None)
    allowed_origins = fields.List(
        fields.Url(schemes={"http", "https"}, require_tld=False, relative=False),
        load_default=list,
    )
    gift_aid_enabled = fields.Boolean(
        load_default=False,
        metadata={"description": "The charity claims Gift Aid from HMRC: offer it on gifts in pounds."},
    )
    bank_debits = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Let Checkout offer Bacs Direct Debit (pounds, monthly) and SEPA Direct Debit "
            "(euros, monthly or one-off), once they are turned on in the Stripe Dashboard."
        },
    )
    monthly_offer = fields.Boolean(
        load_default=True,
        metadata={
            "description": "Before Checkout, offer a donor giving once the monthly alternative "
            "(docs/donors.md); false for appeals where a monthly gift makes no sense."
        },
    )

    general_fund = fields.Boolean(
        load_default=False,
        metadata={"description": "This appeal is the charity's general (unrestricted) fund."},
    )
    successor = fields.Nested(SuccessorSchema, load_default=None)
    match_funding = fields.List(
        fields.Nested(MatchRuleSchema),
        load_default=list,
        metadata={"description": "Funders matching gifts to this appeal (service/matching)."},
    )

    def __init__(self, *args: Any, suffix_problems: Callable[[str], list[str]], **kwargs: Any) -> None:
        """``suffix_problems`` says what is wrong with a statement descriptor suffix beside the
        account's prefix (the domain's rule, so the schema needs no domain module)."""
        super().__init__(*args, **kwargs)
        self.suffix_problems = suffix_problems

    @validates("statement_descriptor_suffix")
    def check_descriptor_suffix(self, value: str | None, **_: Any) -> None:
        if value is not None:
            problems = self.suffix_problems(value)
            if problems:
                raise ValidationError([f"The statement descriptor suffix {p}." for p in problems])

    @pre_load
    def normalise_currency_codes(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in ("currencies", "suggested_amounts", "minimum_amounts", "maximum_amounts"):
            if key in data:
                data[key] = _lower_codes(data[key])
        for key in ("default_currency", "goal_currency"):
            if isinstance(data.get(key), str):
                data[key] = data[key].lower()
        return data

    @validates_schema(skip_on_field_errors=False)
    def check_amounts_against_currencies(self, data: dict[str, Any], **_: Any) -> None:
        # Runs even when some fields failed, so one load reports every problem; it only
        # judges what did load.
        errors: dict[str, list[str]] = {}
        known = "currencies" in data
        currencies = set(data.get("currencies", []))
        for key in ("suggested_amounts", "minimum_amounts", "maximum_amounts") if known else ():
            for code in data.get(key, {}):
                if code not in currencies:
                    errors.setdefault(key, []).append(f"{code} is not one of the appeal's currencies.")
        for code, minimum in data.get("minimum_amounts", {}).items():
            if minimum < STRIPE_MINIMUM_CHARGE[code.lower()]:
                errors.setdefault("minimum_amounts", []).append(
                    f"{code} minimum {minimum} is below Stripe's minimum charge of {STRIPE_MINIMUM_CHARGE[code.lower()]}."
                )
        for code in currencies:
            low = data.get("minimum_amounts", {}).get(code, STRIPE_MINIMUM_CHARGE[code.lower()])
            high = data.get("maximum_amounts", {}).get(code, STRIPE_MAXIMUM_AMOUNT)
            if high < low:
                errors.setdefault("maximum_amounts", []).append(f"{code} maximum is below its minimum.")
            for amount in data.get("suggested_amounts", {}).get(code, []):
                if not low <= amount <= high:
                    errors.setdefault("suggested_amounts", []).append(
                        f"{code} suggestion {amount} is outside {low}..{high}."
                    )
        default = data.get("default_currency")
        if default and default not in currencies:
            errors["default_currency"] = ["Must be one of the appeal's currencies."]
        if (data.get("goal_amount") is None) != (data.get("goal_currency") is None):
            errors["goal_currency"] = ["Give goal_amount and goal_currency together."]
        elif data.get("goal_currency") and data["goal_currency"] not in currencies:
            errors["goal_currency"] = ["Must be one of the appeal's currencies."]
        if data.get("bank_debits") and known and not currencies & set(BANK_DEBIT_CURRENCIES):
            errors["bank_debits"] = [
                "Bank debits need gbp (Bacs) or eur (SEPA) among the appeal's currencies."
            ]
        opens, closes = data.get("opens_at"), data.get("closes_at")
        if opens and closes and closes <= opens:
            errors["closes_at"] = ["Must be after opens_at."]
        successor = data.get("successor") or {}
        if successor.get("appeal") and successor["appeal"] == data.get("slug"):
            errors["successor.appeal"] = ["An appeal cannot be its own successor."]
        if successor.get("general_fund") and data.get("general_fund"):
            errors["successor.general_fund"] = ["The general fund cannot be its own successor."]
        if successor.get("when_funded") and not data.get("goal_amount"):
            errors["successor.when_funded"] = ["Needs goal_amount: without a goal it is never funded."]
        funders = [rule.get("funder") for rule in data.get("match_funding", [])]
        for index, rule in enumerate(data.get("match_funding", [])):
            for code in rule.get("caps", {}):
                if known and code.lower() not in currencies:
                    errors.setdefault(f"match_funding.{index}.caps", []).append(
                        f"{code} is not one of the appeal's currencies."
                    )
            if funders.count(rule.get("funder")) > 1:
                errors[f"match_funding.{index}.funder"] = ["Each funder may have one rule per appeal."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def fill_defaults(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        successor = data.pop("successor", None) or {}
        data["successor_slug"] = successor.get("appeal")
        data["successor_general_fund"] = bool(successor.get("general_fund"))
        data["successor_reason"] = successor.get("reason")
        data["successor_when_funded"] = bool(successor.get("when_funded"))
        currencies = data["currencies"]
        data["default_currency"] = data.get("default_currency") or currencies[0]
        data["minimum_amounts"] = {
            code: data["minimum_amounts"].get(code, STRIPE_MINIMUM_CHARGE[code.lower()])
            for code in currencies
        }
        data["maximum_amounts"] = {
            code: data["maximum_amounts"].get(code, STRIPE_MAXIMUM_AMOUNT) for code in currencies
        }
        data["suggested_amounts"] = {code: data["suggested_amounts"].get(code, []) for code in currencies}
        return data


class SuccessorOfferSchema(StrictSchema):
    reason = fields.String(
        metadata={"description": "closed, ended or funded: why the appeal takes no gifts."}
    )
    message = fields.String(allow_none=True, metadata={"description": "The charity's words for donors."})
    appeal = fields.String(allow_none=True, metadata={"description": "Slug of the appeal offered instead."})
    title = fields.String(allow_none=True)
    donate_url = fields.String(
        allow_none=True,
        metadata={"description": "The successor's donate page, which asks the donor to confirm."},
    )


class AppealPublicSchema(StrictSchema):
    slug = fields.String()
    title = fields.String()
    charity_name = fields.String()
    description = fields.String()
    currencies = fields.List(fields.String())
    default_currency = fields.String()
    suggested_amounts = fields.Dict(keys=fields.String(), values=fields.List(fields.Integer()))
    minimum_amounts = fields.Dict(keys=fields.String(), values=fields.Integer())
    maximum_amounts = fields.Dict(keys=fields.String(), values=fields.Integer())
    goal_amount = fields.Integer(allow_none=True)
    goal_currency = fields.String(allow_none=True)
    opens_at = fields.AwareDateTime(allow_none=True)
    closes_at = fields.AwareDateTime(allow_none=True)
    is_open = fields.Method("get_is_open")
    donate_url = fields.Method("get_donate_url")
    successor = fields.Nested(
        SuccessorOfferSchema,
        attribute="successor_offer",
        allow_none=True,
        metadata={
            "description": "Present (else null) when the appeal takes no gifts: why, and what it offers "
            "instead. Send the donor to donate_url, or create the donation with redirected_from."
        },
    )

    def get_is_open(self, appeal: Any) -> bool:
        return bool(appeal.is_open())

    def get_donate_url(self, appeal: Any) -> str:
        from flask import url_for

        return url_for("donate.donate_form", slug=appeal.slug, _external=True)
