"""Match-funding rules as an appeal's definition gives them (see README's appeal example)."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from service.currencies import SUPPORTED_CURRENCIES

from .base import StrictSchema

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
        keys=fields.String(validate=validate.OneOf(sorted(SUPPORTED_CURRENCIES))),
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
