"""Match-funding rules as an appeal's definition gives them (see README's appeal example)."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from .base import StrictSchema, text

RATIO = re.compile(r"^([1-9][0-9]{0,2}):([1-9][0-9]{0,2})$")
EVIDENCE = ("gift_aid_declaration", "postcode")
PAYMENTS = ("one_off", "first_monthly")


class EligibilitySchema(StrictSchema):
    individual_donors = fields.Boolean(
        load_default=True,
        metadata={"description": "Only gifts from individuals (every Checkout gift here is one)."},
    )
    uk_residence = fields.List(
        fields.String(validate=validate.OneOf(EVIDENCE)),
        load_default=list,
        metadata={"description": "Evidence of UK residence accepted, any one of: " + ", ".join(EVIDENCE)},
    )
    payments = fields.List(
        fields.String(validate=validate.OneOf(PAYMENTS)),
        load_default=lambda: list(PAYMENTS),
        validate=validate.Length(min=1),
        metadata={"description": "Which payments are matched: one_off, first_monthly."},
    )


class MatchRuleSchema(StrictSchema):
    funder = fields.String(required=True, validate=validate.Length(min=1, max=200))
    ratio = fields.String(
        load_default="1:1",
        metadata={"description": "Funder:donor, e.g. 1:1 (a pound for a pound) or 2:1."},
    )
    caps = fields.Dict(
        # Judged against the appeal's own currencies by AppealDefinitionSchema.
        keys=fields.String(validate=validate.Regexp(r"^[A-Za-z]{3}$", error="Must be a currency code.")),
        values=fields.Integer(strict=True, validate=validate.Range(min=1)),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "Most the funder matches for this appeal, per currency, in minor units."},
    )
    starts_at = fields.AwareDateTime(load_default=None)
    ends_at = fields.AwareDateTime(load_default=None)
    eligibility = fields.Nested(EligibilitySchema, load_default=lambda: EligibilitySchema().load({}))

    @validates_schema(skip_on_field_errors=False)
    def check_ratio_and_window(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        if "ratio" in data and not RATIO.match(str(data["ratio"])):
            errors["ratio"] = ["Write it as funder:donor in whole numbers, like 1:1 or 2:1."]
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            errors["ends_at"] = ["Must be after starts_at."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def split_ratio(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        match = RATIO.match(data.pop("ratio"))
        assert match is not None
        data["ratio_funder"], data["ratio_donor"] = int(match.group(1)), int(match.group(2))
        data["caps"] = {code.lower(): amount for code, amount in data["caps"].items()}
        return data


class FunderReportArgs(StrictSchema):
    """Filters of the funder's report (finance API)."""

    appeal = fields.String(validate=validate.Regexp(r"^[a-z0-9]+(?:-[a-z0-9]+)*$"))
    funder = fields.String(validate=text(200, min_length=1))
    start = fields.Date(data_key="from", metadata={"description": "First UTC day paid, inclusive."})
    end = fields.Date(data_key="to", metadata={"description": "Last UTC day paid, inclusive."})
    period = fields.String(load_default="month", validate=validate.OneOf(("month", "week", "day")))
    view = fields.String(
        load_default="gifts",
        validate=validate.OneOf(("gifts", "totals")),
        metadata={"description": "What the CSV holds: one row per eligible gift, or totals per period."},
    )
    format = fields.String(load_default=None, validate=validate.OneOf(("json", "csv")))

    @validates_schema
    def range_is_sane(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise ValidationError("Must not be before 'from'.", "to")


class CapUseSchema(StrictSchema):
    currency = fields.String()
    cap = fields.Integer()
    used = fields.Integer(metadata={"description": "Matched by gifts held now (refunds give it back)."})
    remaining = fields.Integer()


class FunderRuleSchema(StrictSchema):
    appeal = fields.String()
    funder = fields.String()
    ratio = fields.String()
    starts_at = fields.AwareDateTime(allow_none=True)
    ends_at = fields.AwareDateTime(allow_none=True)
    eligibility = fields.Dict()
    caps = fields.List(fields.Nested(CapUseSchema))


class FunderTotalSchema(StrictSchema):
    appeal = fields.String()
    funder = fields.String()
    period = fields.String(metadata={"description": "2026-03, 2026-W10 or 2026-03-10."})
    currency = fields.String()
    gifts = fields.Integer()
    gift_amount = fields.Integer()
    matched = fields.Integer()


class EligibleGiftSchema(StrictSchema):
    donation_id = fields.String()
    appeal = fields.String()
    funder = fields.String()
    paid_at = fields.AwareDateTime(allow_none=True)
    payment_kind = fields.String(metadata={"description": "one_off or first_monthly."})
    donor_type = fields.String()
    currency = fields.String()
    gift_amount = fields.Integer(metadata={"description": "The gift without fee cover, net of refunds."})
    matched = fields.Integer()
    status = fields.String(metadata={"description": "matched or partly_matched (cap reached)."})
    reason = fields.String(allow_none=True)
    residence_evidence = fields.String(
        allow_none=True, metadata={"description": "gift_aid_declaration or postcode."}
    )
    postcode_district = fields.String(
        allow_none=True, metadata={"description": "Outward code only, e.g. SW1A."}
    )
    gift_aid_declared_at = fields.AwareDateTime(allow_none=True)


class FunderReportSchema(StrictSchema):
    period = fields.String()
    funders = fields.List(fields.Nested(FunderRuleSchema))
    totals = fields.List(fields.Nested(FunderTotalSchema))
    gifts = fields.List(fields.Nested(EligibleGiftSchema))
