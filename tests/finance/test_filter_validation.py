"""Filters that cannot name anything are refused with the documented 422, never a server error.

PostgreSQL refuses a NUL character in a text parameter; schemathesis once sent
``GET /api/v1/finance/payments?appeal=...%00...`` and got a 500 on PostgreSQL only.
"""

from __future__ import annotations

import pytest

FILTERS = [
    ("/payments", "appeal"),
    ("/donations", "appeal"),
    ("/donations", "status"),
    ("/donations", "source"),
    ("/donations", "cursor"),
    ("/webhook-events", "type"),
    ("/webhook-events", "donation"),
    ("/reconciliation", "appeal"),
    ("/discrepancies", "appeal"),
    ("/gift-aid", "appeal"),
    ("/match-funding", "funder"),
]


@pytest.mark.parametrize(("path", "name"), FILTERS)
def test_a_nul_character_in_a_filter_is_refused_with_422(finance_get, path, name):
    response = finance_get(path, role="admin", query_string={name: "red\x00cross"})
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert (error["code"], name in error["fields"]) == ("validation_failed", True)


@pytest.mark.parametrize("slug", ["Red-Cross", "red cross", "-red", "red--cross", "x" * 65])
def test_an_appeal_filter_must_look_like_a_slug(finance_get, slug):
    response = finance_get("/donations", role="admin", query_string={"appeal": slug})
    assert response.status_code == 422
    assert "appeal" in response.get_json()["error"]["fields"]


def test_a_well_formed_slug_still_reaches_the_report(finance_get):
    assert (
        finance_get("/donations", role="admin", query_string={"appeal": "red-cross-ukraine"}).status_code
        == 200
    )


@pytest.mark.parametrize("path", ["/donations", "/payments", "/reconciliation", "/discrepancies"])
def test_an_appeal_that_does_not_exist_is_a_422_naming_it(finance_get, path):
    response = finance_get(path, role="admin", query_string={"appeal": "no-such-appeal"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["fields"] == {"appeal": ["No appeal is called 'no-such-appeal'."]}


@pytest.mark.parametrize(
    ("name", "value"), [("status", "paied"), ("frequency", "weekly"), ("outcome", "done")]
)
def test_an_unknown_filter_value_is_a_422_naming_the_value(finance_get, name, value):
    path = "/webhook-events" if name == "outcome" else "/donations"
    response = finance_get(path, role="admin", query_string={name: value})
    assert response.status_code == 422
    (message,) = response.get_json()["error"]["fields"][name]
    assert message.startswith(f"Unknown {name} '{value}'; one of: ")


def test_donation_statuses_in_the_schema_are_the_models(finance_get):
    from schemas.finance import DONATION_STATUSES
    from service.donations.models import DonationStatus

    assert DONATION_STATUSES == DonationStatus.ALL
