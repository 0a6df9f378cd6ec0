"""Finance sees bank debits on their way per appeal and currency, counted in no total until paid."""

from __future__ import annotations

from typing import Any

from service import extensions
from tests.support.finance import sign_in


def _debit(client: Any, sandbox: Any, amount: int, currency: str = "eur", **extra: Any) -> str:
    body = {"appeal": "red-cross-ukraine", "amount": amount, "currency": currency, **extra}
    created = client.post("/api/v1/donations", json=body)
    assert created.status_code == 201, created.get_json()
    session_id = created.get_json()["checkout_url"].rsplit("/", 1)[1]
    sandbox.control.complete_session(session_id, "async")
    return session_id


def test_dashboard_lists_pending_debits_apart_from_the_totals(
    client: Any, sandbox: Any, live_server: Any, issue: Any
) -> None:
    first = _debit(client, sandbox, 3000)
    _debit(client, sandbox, 2000, cover_fees=True)
    assert sandbox.control.wait_for_webhooks(timeout=20)
    sign_in(client, issue("viewer"))
    html = client.get("/finance/").get_data(as_text=True)
    section = html.split("<h2>Pending bank debits</h2>", 1)[1].split("</table>", 1)[0]
    row = section.split('<th scope="row">red-cross-ukraine</th>', 1)[1].split("</tr>", 1)[0]
    assert "<td>EUR</td>" in row and '<td class="num">2</td>' in row
    assert '<td class="num">€50.00</td>' in row  # gifts only; the fee cover in its own column
    assert "No payments in this period." in html  # none of it counted as received

    sandbox.control.settle_async_payment(first, "succeeded")
    assert sandbox.control.wait_for_webhooks(timeout=20)
    after = client.get("/finance/").get_data(as_text=True)
    row = after.split("<h2>Pending bank debits</h2>", 1)[1].split("</tr>", 2)[1]
    assert '<td class="num">1</td>' in row and '<td class="num">€20.00</td>' in row


def test_no_section_without_pending_debits_and_a_restricted_token_sees_only_its_appeals(
    client: Any, sandbox: Any, live_server: Any, issue: Any
) -> None:
    sign_in(client, issue("viewer"))
    assert "Pending bank debits" not in client.get("/finance/").get_data(as_text=True)
    _debit(client, sandbox, 3000)
    assert sandbox.control.wait_for_webhooks(timeout=20)
    from service.appeals import upsert_appeals, validate_definitions

    app = client.application
    with app.app_context(), extensions.database(app).begin() as db:
        upsert_appeals(db, validate_definitions([{"slug": "floods", "title": "Floods", "charity_name": "Relief",
                                                  "currencies": ["eur"]}]))  # fmt: skip
    other = app.test_client()
    sign_in(other, issue("viewer", appeals=["floods"]))
    restricted = other.get("/finance/")
    assert restricted.status_code == 200 and "Totals per appeal and currency" in restricted.get_data(
        as_text=True
    )
    assert "Pending bank debits" not in restricted.get_data(as_text=True)
    assert "Pending bank debits" in client.get("/finance/").get_data(as_text=True)
