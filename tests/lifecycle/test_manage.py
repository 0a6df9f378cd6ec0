"""Monthly donors manage their gift through the signed link: amount, card, stop; bad links refused."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
import time_machine
from sqlalchemy import select

from service import extensions
from service.manage import LINK_DAYS, manage_token
from service.outbox import OutboxMessage
from tests.support.ledger import delivered, donation_row


def messages(app: Any, kind: str | None = None) -> list[OutboxMessage]:
    with extensions.database(app).sessionmaker() as db:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return list(db.scalars(query))


def link_in(message: Any) -> str:
    text = message.get_body(("plain",)).get_content()
    found = re.search(r"http://donate\.test(/manage/[A-Za-z0-9._-]+)", text)
    assert found, text
    return found.group(1)


def test_monthly_receipt_carries_a_working_manage_link(monthly, mail_app, smtp):
    donation, _ = monthly
    (receipt,) = smtp.mailbox.to("monthly@example.org")
    path = link_in(receipt)
    page = mail_app.test_client().get(path)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "£10 a month to Red Cross" in body
    assert "Change the amount" in body and "Stop my monthly gift" in body


def test_change_amount_updates_stripe_the_ledger_and_confirms_by_email(monthly, mail_app, sandbox, smtp):
    donation, _ = monthly
    token = manage_token(extensions.settings(mail_app), donation)
    client = mail_app.test_client()
    answer = client.post(f"/manage/{token}/amount", data={"from": "1000", "amount": "£15.50"})
    assert answer.status_code == 303
    delivered(sandbox)
    assert donation_row(mail_app, donation.id).amount == 1550
    subscription = sandbox.control.requests(
        path=f"/v1/subscriptions/{donation.stripe_subscription_id}", method="POST"
    )
    assert subscription and subscription[-1]["params"]["proration_behavior"] == "none"
    (changed,) = messages(mail_app, "gift_changed")
    assert changed.status == "sent"
    (mail,) = [m for m in smtp.mailbox.to("monthly@example.org") if "is now" in m["Subject"]]
    assert "£15.50" in mail["Subject"]
    # The same form again (a replay, or a second tab): nothing changes, nothing is sent.
    again = client.post(f"/manage/{token}/amount", data={"from": "1000", "amount": "£15.50"})
    assert again.status_code == 409
    assert len(messages(mail_app, "gift_changed")) == 1
    # The next renewal is taken at the new amount and is not flagged as a mismatch.
    sandbox.control.advance_subscription(donation.stripe_subscription_id, "paid")
    delivered(sandbox)
    row = donation_row(mail_app, donation.id)
    assert not row.needs_attention
    assert [m.kind for m in messages(mail_app, "receipt")] == ["receipt", "receipt"]


def test_stop_through_the_portal_keeps_the_reason_and_confirms(monthly, mail_app, sandbox, smtp):
    donation, base = monthly
    token = manage_token(extensions.settings(mail_app), donation)
    answer = mail_app.test_client().post(f"/manage/{token}/stop")
    assert answer.status_code == 303
    portal = answer.headers["Location"]
    assert "/p/session/" in portal
    (created,) = sandbox.control.requests(path="/v1/billing_portal/sessions", method="POST")
    flow = created["params"]["flow_data"]
    assert flow["type"] == "subscription_cancel"
    assert flow["subscription_cancel"]["subscription"] == donation.stripe_subscription_id
    assert flow["after_completion"]["redirect"]["return_url"].startswith(f"http://donate.test/manage/{token}")
    done = requests.post(
        portal, data={"action": "cancel", "feedback": "too_expensive"}, allow_redirects=False, timeout=10
    )
    assert done.status_code == 303
    delivered(sandbox)
    row = donation_row(mail_app, donation.id)
    assert (row.status, row.subscription_status, row.cancellation_feedback) == (
        "cancelled",
        "canceled",
        "too_expensive",
    )
    (stopped,) = messages(mail_app, "gift_cancelled")
    assert stopped.status == "sent"
    # The link now opens nothing: the gift has ended.
    assert mail_app.test_client().get(f"/manage/{token}").status_code == 410
    # The portal session cannot be used twice.
    assert requests.get(portal, timeout=10).status_code == 410


@pytest.mark.parametrize("mangle", ["forged", "tampered", "other_subscription"])
def test_bad_links_get_a_friendly_page_and_change_nothing(monthly, mail_app, sandbox, mangle):
    from itsdangerous import URLSafeTimedSerializer

    donation, _ = monthly
    settings = extensions.settings(mail_app)
    token = manage_token(settings, donation)
    if mangle == "forged":
        token = URLSafeTimedSerializer("not-our-secret", salt="x").dumps(
            {"d": donation.id, "s": donation.stripe_subscription_id}
        )
    elif mangle == "tampered":
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    else:
        from service.manage import SALT

        token = URLSafeTimedSerializer(settings.secret_key, salt=SALT).dumps(
            {"d": donation.id, "s": "sub_someone_else"}
        )
    sandbox.control.clear_requests()
    client = mail_app.test_client()
    page = client.get(f"/manage/{token}")
    assert page.status_code == 404
    assert "can't be used" in page.get_data(as_text=True)
    assert client.post(f"/manage/{token}/amount", data={"from": "1000", "amount": "1"}).status_code == 404
    assert client.post(f"/manage/{token}/stop").status_code == 404
    assert sandbox.control.requests(method="POST") == []
    assert donation_row(mail_app, donation.id).amount == 1000


def test_expired_link_is_refused(monthly, mail_app):
    donation, _ = monthly
    token = manage_token(extensions.settings(mail_app), donation)
    with time_machine.travel(time.time() + (LINK_DAYS + 1) * 86_400):
        page = mail_app.test_client().get(f"/manage/{token}")
    assert page.status_code == 410
    assert "expired" in page.get_data(as_text=True)


def _keys_match_fixture(obj: dict[str, Any], kind: str) -> None:
    import json
    from pathlib import Path

    fixture = json.loads(Path("/work/shared/stripe/fixtures3.json").read_text())["resources"][kind]
    assert set(obj) == set(fixture), (kind, set(obj) ^ set(fixture))


def test_card_update_through_the_portal_sends_stripes_events(monthly, mail_app, sandbox):
    donation, _ = monthly
    token = manage_token(extensions.settings(mail_app), donation)
    answer = mail_app.test_client().post(f"/manage/{token}/card")
    assert answer.status_code == 303
    (created,) = sandbox.control.requests(path="/v1/billing_portal/sessions", method="POST")
    assert created["params"]["flow_data"]["type"] == "payment_method_update"
    done = requests.post(answer.headers["Location"], data={"action": "update", "card_number": "4242 4242 4242 4242"},
                         allow_redirects=False, timeout=10)  # fmt: skip
    assert done.status_code == 303
    assert done.headers["Location"].endswith("done=payment_method_update&lang=en")
    delivered(sandbox)
    with extensions.database(mail_app).sessionmaker() as db:
        from service.models import WebhookEvent

        events = {e.type: e for e in db.scalars(select(WebhookEvent))}
    import json

    attached = json.loads(events["payment_method.attached"].payload)["data"]["object"]
    _keys_match_fixture(attached, "payment_method")
    assert attached["customer"] == donation.stripe_customer_id
    updated = json.loads(events["customer.subscription.updated"].payload)["data"]
    assert updated["object"]["default_payment_method"] == attached["id"]
    portal = extensions.stripe_gateway(mail_app).client.v1.billing_portal.sessions.create(
        params={"customer": donation.stripe_customer_id, "return_url": "http://donate.test/"}
    )
    _keys_match_fixture(portal.to_dict(), "billing_portal.session")
    page = mail_app.test_client().get(done.headers["Location"].replace("http://donate.test", ""))
    assert "Your next payment will use them" in page.get_data(as_text=True)


def test_failed_renewal_asks_for_a_new_card_once_per_attempt(monthly, mail_app, sandbox, smtp):
    donation, _ = monthly
    sandbox.control.configure_webhooks(duplicate=True)
    sandbox.control.advance_subscription(donation.stripe_subscription_id, "failed")
    delivered(sandbox)
    (failed,) = messages(mail_app, "payment_failed")
    assert failed.status == "sent"
    (mail,) = [m for m in smtp.mailbox.to("monthly@example.org") if "update your card" in m["Subject"]]
    path = link_in(mail)
    page = mail_app.test_client().get(path)
    assert "didn't go through" in page.get_data(as_text=True)
    assert donation_row(mail_app, donation.id).subscription_status == "past_due"
    # The email's button goes straight to Stripe's portal, at "update payment method".
    text = mail.get_body(("plain",)).get_content()
    card = re.search(r"http://donate\.test(/manage/[A-Za-z0-9._-]+/card)", text)
    assert card and card.group(1) == f"{path}/card"
    html = mail.get_body(("html",)).get_content()
    assert f'href="http://donate.test{path}/card"' in html and "4242" not in text + html
    portal = mail_app.test_client().get(card.group(1))
    assert portal.status_code == 303 and "/p/session/" in portal.headers["Location"]
    (opened,) = sandbox.control.requests(path="/v1/billing_portal/sessions", method="POST")
    assert opened["params"]["flow_data"]["type"] == "payment_method_update"


def test_email_me_my_link_sends_fresh_links_and_answers_alike_for_unknown_addresses(monthly, mail_app, smtp):
    donation, _ = monthly
    client = mail_app.test_client()
    form = client.get("/manage")
    assert "Email me my link" in form.get_data(as_text=True)
    known = client.post("/manage", data={"email": " Monthly@Example.org "})
    unknown = client.post("/manage", data={"email": "stranger@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True) == unknown.get_data(as_text=True)
    (links,) = messages(mail_app, "manage_links")
    assert links.status == "sent"
    (mail,) = [m for m in smtp.mailbox.to("monthly@example.org") if m["Subject"].startswith("Your link")]
    assert mail_app.test_client().get(link_in(mail)).status_code == 200
    assert smtp.mailbox.to("stranger@example.org") == []
    assert client.post("/manage", data={"email": "not an address"}).status_code == 422


def test_email_me_my_link_is_rate_limited_per_address(monthly, mail_app, smtp):
    client = mail_app.test_client()
    for _ in range(5):
        assert client.post("/manage", data={"email": "monthly@example.org"}).status_code == 200
    assert len(messages(mail_app, "manage_links")) == 3  # three a day per address; the answer never says


def test_finance_sees_monthly_gifts_at_risk_and_stopped_with_reasons(monthly, mail_app, sandbox):
    donation, _ = monthly
    runner = mail_app.test_cli_runner()
    assert "No monthly gift" in runner.invoke(args=["donations", "monthly"]).output
    sandbox.control.advance_subscription(donation.stripe_subscription_id, "failed")
    delivered(sandbox)
    line = runner.invoke(args=["donations", "monthly"]).output
    assert f"{donation.id}\tat_risk\tpast_due\t1000 gbp" in line
    token = manage_token(extensions.settings(mail_app), donation)
    portal = mail_app.test_client().post(f"/manage/{token}/stop").headers["Location"]
    requests.post(
        portal,
        data={"action": "cancel", "feedback": "unused", "comment": "moving abroad"},
        allow_redirects=False,
        timeout=10,
    )
    delivered(sandbox)
    line = runner.invoke(args=["donations", "monthly"]).output
    assert f"{donation.id}\tstopped\tcanceled\t1000 gbp" in line and line.rstrip().endswith("unused")
    assert donation_row(mail_app, donation.id).cancellation_comment == "moving abroad"


def test_the_manage_page_speaks_the_donors_language(monthly, mail_app):
    donation, _ = monthly
    token = manage_token(extensions.settings(mail_app), donation)
    page = mail_app.test_client().get(f"/manage/{token}?lang=uk")
    body = page.get_data(as_text=True)
    assert "Ваш щомісячний внесок" in body and "Змінити суму" in body
    assert f"/manage/{token}/amount?lang=uk" in body


def test_renewal_paid_on_retry_is_recorded_with_its_receipt(monthly, mail_app, sandbox):
    donation, _ = monthly
    invoice = sandbox.control.advance_subscription(donation.stripe_subscription_id, "failed")
    delivered(sandbox)
    assert donation_row(mail_app, donation.id).subscription_status == "past_due"
    sandbox.control.retry_invoice(invoice["id"], "paid")
    delivered(sandbox)
    row = donation_row(mail_app, donation.id)
    assert (row.status, row.subscription_status, row.needs_attention) == ("paid", "active", False)
    with extensions.database(mail_app).sessionmaker() as db:
        from service.models import Payment

        payments = list(
            db.scalars(select(Payment).where(Payment.donation_id == donation.id).order_by(Payment.id))
        )
    assert [p.stripe_invoice_id for p in payments][-1] == invoice["id"]
    assert len(messages(mail_app, "receipt")) == 2
    assert len(messages(mail_app, "payment_failed")) == 1


def test_retries_exhausted_end_the_gift_in_its_final_state(monthly, mail_app, sandbox):
    donation, _ = monthly
    invoice = sandbox.control.advance_subscription(donation.stripe_subscription_id, "failed")
    delivered(sandbox)
    for _ in range(3):  # Stripe's retries, days apart
        sandbox.control.retry_invoice(invoice["id"], "failed")
        delivered(sandbox)
    row = donation_row(mail_app, donation.id)
    assert (row.status, row.subscription_status) == ("cancelled", "canceled")
    # One card-update email per attempt Stripe will follow with another; then the stop notice.
    failed = sorted((m.id.rsplit(":", 1)[1], m.status) for m in messages(mail_app, "payment_failed"))
    assert failed == [("1", "sent"), ("2", "sent"), ("3", "sent")]
    (stopped,) = messages(mail_app, "gift_cancelled")
    assert stopped.status == "sent"
    line = mail_app.test_cli_runner().invoke(args=["donations", "monthly"]).output
    assert f"{donation.id}\tstopped\tcanceled" in line
