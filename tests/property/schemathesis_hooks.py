"""Loaded by ``schemathesis run`` (SCHEMATHESIS_HOOKS=tests.property.schemathesis_hooks).

schemathesis's ``positive_data_acceptance`` expects every request the document allows to be
accepted. The document is exact about every field on its own (cursors, dates, languages, header
formats all have patterns the app accepts in full), but a few rules depend on data or on two fields
together, which OpenAPI 3.0 cannot say: the appeal must exist and be open, take that currency and
that amount, offer Gift Aid, offer this appeal as a closed one's successor; a postcode must be a
real UK one; ``to`` must not be before ``from`` nor a range longer than 366 days.
Those are refused with a documented 422 naming the field. This check is schemathesis's own, except
that such a 422 passes when every field it names is one of those rules' fields for that operation;
a 422 naming any other field (a cursor, a date, ``lang``) still fails.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.checks import positive_data_acceptance
from schemathesis.specs.openapi.checks import RejectedPositiveData

DATE_RANGE = {"to"}  # 'from' alone is a date like any other; only 'to' is checked against it
# A finance report's appeal filter must name an appeal that exists (422 naming it otherwise).
APPEAL_FILTER = {"appeal"}
RULES_BEYOND_THE_SCHEMA = {
    ("POST", "/api/v1/donations"): {
        "appeal",
        "currency",
        "amount",
        "cover_fees",
        "gift_aid",
        "Idempotency-Key",
        # The closed appeal must offer this appeal now; a postcode must be a real UK one.
        "redirected_from",
        "postcode",
    },
    ("GET", "/api/v1/finance/webhook-events"): DATE_RANGE,
    ("GET", "/api/v1/finance/donations"): DATE_RANGE | APPEAL_FILTER,
    ("GET", "/api/v1/finance/payments"): DATE_RANGE | APPEAL_FILTER,
    ("GET", "/api/v1/finance/gift-aid"): DATE_RANGE | APPEAL_FILTER,
    ("GET", "/api/v1/finance/reconciliation"): DATE_RANGE | APPEAL_FILTER,
    ("GET", "/api/v1/finance/discrepancies"): APPEAL_FILTER,
    ("GET", "/api/v1/finance/payouts"): DATE_RANGE,
    ("GET", "/api/v1/finance/match-funding"): DATE_RANGE | APPEAL_FILTER,
    ("GET", "/api/v1/finance/monthly-gifts"): DATE_RANGE | APPEAL_FILTER,
}


def _refused_fields(response: Any) -> set[str] | None:
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return None
    return set(error.get("fields") or {}) if error.get("code") == "validation_failed" else None


def _resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def _unknown_field_paths(errors: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if errors == ["Unknown field."]:
        return [path]
    if isinstance(errors, dict):
        return [found for key, value in errors.items() for found in _unknown_field_paths(value, (*path, key))]
    return []


def _body_has_a_forbidden_property(case: Any, fields: dict[str, Any]) -> bool:
    # schemathesis's coverage phase sometimes puts a property that the schema forbids
    # (additionalProperties: false, also inside a nullable allOf) into a body it still calls
    # positive (compare schemathesis issue #4308); the app rightly refuses it with "Unknown
    # field.". Such a body is not schema-valid, so this check does not apply to it.
    if not isinstance(case.body, dict):
        return False
    document = case.operation.schema.raw_schema
    operation = document["paths"][case.operation.path][case.method.lower()]
    body_schema = (
        operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    )
    if not body_schema:
        return False
    for path in _unknown_field_paths(fields):
        schema = _resolved(document, body_schema)
        for step in path[:-1]:
            schema = _resolved(document, schema.get("properties", {}).get(step, {}))
        if schema.get("additionalProperties") is False and path[-1] not in schema.get("properties", {}):
            return True
    return False


@schemathesis.check
def positive_data_acceptance_but_data_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if response.status_code == 422:
            fields = _refused_fields(response)
            allowed = RULES_BEYOND_THE_SCHEMA.get((case.method.upper(), case.operation.path), set())
            if fields and fields <= allowed:
                return None
            if _body_has_a_forbidden_property(case, json.loads(response.content)["error"]["fields"]):
                return None
        raise
