"""Finance pages: sign-in with a token, CSRF on every form, session re-checked on each page."""

from __future__ import annotations

import re

from tests.service.helpers import VALID
from tests.support.finance import csrf, sign_in


def test_pages_redirect_to_sign_in_without_a_session(client):
    response = client.get("/finance/donations")
    assert response.status_code == 302
    assert "/finance/sign-in?next=/finance/donations" in response.headers["Location"]


def test_sign_in_needs_the_forms_csrf_token(client, issue):
    client.get("/finance/sign-in")
    response = client.post("/finance/sign-in", data={"token": issue("viewer"), "csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get("/finance/").status_code == 302


def test_wrong_token_does_not_sign_in(client):
    response = sign_in(client, "drf_12345678_wrong")
    assert response.status_code == 401
    assert "not valid" in response.get_data(as_text=True)


def test_sign_in_then_every_page_renders(client, issue):
    client.post("/api/v1/donations", json={**VALID, "email": "donor@example.org"})
    response = sign_in(client, issue("accountant"), "/finance/donations")
    assert response.status_code == 303 and response.headers["Location"].endswith("/finance/donations")
    for path in ("/finance/", "/finance/webhook-events", "/finance/donations", "/finance/payouts",
                 "/finance/discrepancies"):  # fmt: skip
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["Cache-Control"] == "no-store"
    listing = client.get("/finance/donations").get_data(as_text=True)
    donation_id = re.search(r"(don_[0-9a-f]{24})", listing).group(1)
    detail = client.get(f"/finance/donations/{donation_id}").get_data(as_text=True)
    assert "Timeline" in detail and "donor@example.org" in detail


def test_sign_in_never_redirects_off_site(client, issue):
    response = sign_in(client, issue("viewer"), "https://evil.example/finance/")
    assert response.headers["Location"].endswith("/finance/")


def test_sign_out_needs_csrf_and_ends_the_session(client, issue):
    sign_in(client, issue("viewer"))
    assert client.post("/finance/sign-out", data={"csrf_token": "forged"}).status_code == 400
    page = client.get("/finance/").get_data(as_text=True)
    assert client.post("/finance/sign-out", data={"csrf_token": csrf(page)}).status_code == 303
    assert client.get("/finance/").status_code == 302


def test_revoking_a_token_signs_its_pages_out(client, runner, issue):
    secret = issue("viewer")
    sign_in(client, secret)
    assert client.get("/finance/").status_code == 200
    runner.invoke(args=["finance", "tokens", "revoke", secret.split("_")[1]])
    assert client.get("/finance/").status_code == 302


def test_viewer_pages_hide_email_and_exports(client, issue):
    client.post("/api/v1/donations", json={**VALID, "email": "donor@example.org"})
    sign_in(client, issue("viewer"))
    dashboard = client.get("/finance/").get_data(as_text=True)
    assert "Payments (CSV)" not in dashboard
    assert client.get("/finance/export/payments.csv").status_code == 403
    listing = client.get("/finance/donations").get_data(as_text=True)
    donation_id = re.search(r"(don_[0-9a-f]{24})", listing).group(1)
    assert "donor@example.org" not in client.get(f"/finance/donations/{donation_id}").get_data(as_text=True)


def test_token_limited_to_an_appeal_gets_no_payouts_page(client, issue):
    sign_in(client, issue("accountant", appeals=["red-cross-ukraine"]))
    dashboard = client.get("/finance/").get_data(as_text=True)
    assert ">Payouts<" not in dashboard and ">Donations<" in dashboard
    assert client.get("/finance/payouts").status_code == 403
