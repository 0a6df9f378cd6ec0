"""Who may read what: the token matrix on the finance API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from service.finance.models import ApiToken, AuditEntry
from service.models import Appeal, utcnow
from tests.service.helpers import VALID
from tests.support.finance import bearer

ROUTE = "/api/v1/finance/reconciliation"


def test_no_token_is_401_with_a_bearer_challenge(client):
    response = client.get(ROUTE)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer drf_00000000_nope", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer "],
    ids=["unknown", "malformed", "basic", "empty"],
)
def test_wrong_token_is_401(client, header):
    assert client.get(ROUTE, headers={"Authorization": header}).status_code == 401


def test_right_prefix_wrong_secret_is_401(client, issue):
    secret = issue("viewer")
    tampered = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    assert client.get(ROUTE, headers=bearer(tampered)).status_code == 401


def test_expired_token_is_401(client, issue):
    secret = issue("viewer", days=1, now=utcnow() - timedelta(days=2))
    assert client.get(ROUTE, headers=bearer(secret)).status_code == 401


def test_revoked_token_is_401(client, runner, issue):
    secret = issue("viewer")
    assert client.get(ROUTE, headers=bearer(secret)).status_code == 200
    prefix = secret.split("_")[1]
    result = runner.invoke(args=["finance", "tokens", "revoke", prefix])
    assert result.exit_code == 0, result.output
    assert client.get(ROUTE, headers=bearer(secret)).status_code == 401


def test_viewer_is_refused_accountant_exports(client, issue):
    secret = issue("viewer")
    response = client.get("/api/v1/finance/payments", headers=bearer(secret))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    csv = client.get(ROUTE + "?format=csv", headers=bearer(secret))
    assert csv.status_code == 403


def test_viewer_never_sees_donor_email(client, issue, app):
    client.post("/api/v1/donations", json={**VALID, "email": "donor@example.org"})
    viewer = client.get("/api/v1/finance/donations", headers=bearer(issue("viewer"))).get_json()
    accountant = client.get("/api/v1/finance/donations", headers=bearer(issue("accountant"))).get_json()
    assert "email" not in viewer["data"][0]
    assert "donor@example.org" not in str(viewer)
    assert accountant["data"][0]["email"] == "donor@example.org"


def test_token_limited_to_another_appeal_sees_none_of_this_one(client, issue, db_session):
    db_session.add(
        Appeal(slug="other-appeal", title="Other", charity_name="Other charity", currencies=["gbp"],
               suggested_amounts={}, minimum_amounts={"gbp": 100}, maximum_amounts={"gbp": 100000},
               default_currency="gbp")
    )  # fmt: skip
    db_session.commit()
    donation = client.post("/api/v1/donations", json=VALID).get_json()
    limited = bearer(issue("accountant", appeals=["other-appeal"]))
    assert client.get(f"/api/v1/finance/donations/{donation['id']}", headers=limited).status_code == 404
    assert client.get("/api/v1/finance/donations", headers=limited).get_json()["data"] == []
    assert client.get(ROUTE + "?appeal=red-cross-ukraine", headers=limited).status_code == 403
    assert client.get("/api/v1/finance/payouts", headers=limited).status_code == 403
    assert client.get(ROUTE + "?appeal=other-appeal", headers=limited).status_code == 200


def test_tokens_are_stored_only_as_hashes(app, runner, db_session):
    result = runner.invoke(args=["finance", "tokens", "create", "--name", "Jo", "--role", "admin"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[0]
    assert secret.startswith("drf_")
    (row,) = db_session.scalars(select(ApiToken)).all()
    assert secret not in str([getattr(row, c.key) for c in ApiToken.__table__.columns])
    listing = runner.invoke(args=["finance", "tokens", "list"]).output
    assert row.prefix in listing and secret not in listing


def test_every_read_is_audited_with_who_what_and_rows(client, issue, db_session):
    secret = issue("viewer")
    client.get(ROUTE + "?group_by=currency", headers=bearer(secret))
    (entry,) = db_session.scalars(select(AuditEntry)).all()
    token = db_session.scalars(select(ApiToken)).one()
    assert (entry.token_id, entry.action, entry.channel) == (token.id, "reconciliation", "api")
    assert entry.filters["group_by"] == "currency" and entry.row_count == 0


def test_bad_filters_are_422_in_the_error_envelope(finance_get):
    response = finance_get("/reconciliation?from=2026-01-01&to=2027-06-01")
    assert response.status_code == 422
    assert "to" in response.get_json()["error"]["fields"]
    assert finance_get("/webhook-events?limit=501").status_code == 422
    assert finance_get("/webhook-events?cursor=garbage").status_code == 422
    assert finance_get("/webhook-events?surprise=1").status_code == 422


def test_openapi_documents_finance_with_a_bearer_scheme(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["financeToken"] == {
        "type": "http", "scheme": "bearer",
        "description": "A finance token from `flask finance tokens create`."}  # fmt: skip
    for path in ("/api/v1/finance/reconciliation", "/api/v1/finance/donations/{donation_id}",
                 "/api/v1/finance/payments", "/api/v1/finance/payouts/{payout_id}"):  # fmt: skip
        operation = spec["paths"][path]["get"]
        assert operation["security"] == [{"financeToken": []}]
        assert {"401", "403"} <= set(operation["responses"])


def test_token_cli_validates_and_prints_the_secret_once(runner):
    bad = runner.invoke(
        args=["finance", "tokens", "create", "--name", "x", "--days", "400", "--appeal", "nope"]
    )
    assert bad.exit_code == 1 and "days" in bad.output and "Unknown appeal: nope" in bad.output
    good = runner.invoke(
        args=["finance", "tokens", "create", "--name", "Jo", "--appeal", "red-cross-ukraine"]
    )
    assert good.exit_code == 0
    assert "will not be shown again" in good.stderr
    listing = runner.invoke(args=["finance", "tokens", "list"]).output
    header, line = listing.splitlines()
    assert header == "PREFIX\tROLE\tAPPEALS\tSTATE\tLAST USED (UTC)\tNAME"
    assert "\tviewer\tred-cross-ukraine\tactive until" in line and line.endswith("\tnever used\tJo")
