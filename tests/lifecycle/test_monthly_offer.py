"""The monthly offer between the donate form and Checkout (service/donations/monthly_offer.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from itsdangerous import TimestampSigner
from sqlalchemy import update

from service import create_app, extensions
from service.appeals import upsert_appeals, validate_definitions
from service.donations import monthly_offer, surge
from service.donations.models import Donation, DonationStatus
from service.donations.monthly_offer import suggested_monthly_amount
from service.ledger.sweeper import sweep
from service.models import Appeal, utcnow
from service.pages import monthly_offer as offer_pages
from tests.service.helpers import session_creates
from tests.support.appeal_definitions import appeal

FORM = "/donate/red-cross-ukraine"


@pytest.fixture
def offer_app(app: Flask, monkeypatch: Any) -> Iterator[Flask]:  # the ledger's clean app, offer on
    monkeypatch.setattr(surge, "_last_redirect", float("-inf"))  # a surge test earlier in this process
    built = create_app(
        {"TESTING": True}, settings=extensions.settings(app).with_overrides(monthly_offer=True)
    )
    yield built
    extensions.database(built).engine.dispose()
    from service.jobs import init_jobs

    init_jobs(app, extensions.settings(app))


@pytest.fixture
def client(offer_app: Flask) -> Any:
    return offer_app.test_client()


def _form(client: Any, query: str = "", **fields: str) -> dict[str, str]:
    html = client.get(FORM + query).get_data(as_text=True)
    token = re.search(r'name="form_token" value="([^"]+)"', html)
    assert token
    data = {"form_token": token.group(1), "currency": "gbp", "frequency": "one_off", "amount_choice": "2500"}
    if 'name="via" value="widget"' in html:
        data["via"] = "widget"
    return {**data, **fields}


def _donation(app: Flask, donation_id: str | None = None) -> Donation:
    with extensions.database(app).sessionmaker() as db:
        query = db.query(Donation)
        found = query.get(donation_id) if donation_id else query.one()
        assert found is not None
        db.expunge(found)
        return found


def _to_offer(client: Any, **fields: str) -> str:
    response = client.post(FORM, data=_form(client, **fields))
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert re.match(r"^/donate/red-cross-ukraine/choose/[A-Za-z0-9_.-]+", location), location
    return location


def test_a_one_off_gift_is_offered_the_monthly_alternative_before_any_stripe_call(
    client: Any, offer_app: Flask, sandbox: Any
) -> None:
    offer = _to_offer(client)
    donation = _donation(offer_app)
    assert (donation.status, donation.frequency, donation.monthly_offer) == ("created", "one_off", "offered")
    assert session_creates(sandbox) == []
    page = client.get(offer)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    # One form, two labelled buttons: £25 once → about a third, £9, a month; declining is one click.
    assert html.count("<form") == 1 and html.count('type="submit"') == 2
    assert 'name="choice" value="monthly"' in html and "Give £9 a month" in html
    assert 'name="choice" value="once"' in html and "No thanks, give £25 once" in html
    assert "<script" not in html
    assert session_creates(sandbox) == []


def test_choosing_monthly_turns_the_unpaid_gift_monthly_and_checkout_is_a_subscription(
    client: Any, offer_app: Flask, sandbox: Any
) -> None:
    offer = _to_offer(client)
    answer = client.post(offer, data={"choice": "monthly"})
    assert answer.status_code == 303 and answer.headers["Location"].startswith(sandbox.base_url)
    [call] = session_creates(sandbox)
    params = call["params"]
    assert params["mode"] == "subscription"
    assert params["line_items"][0]["price_data"]["unit_amount"] == "900"
    assert params["line_items"][0]["price_data"]["recurring"]["interval"] == "month"
    donation = _donation(offer_app)
    assert params["client_reference_id"] == donation.id
    assert (donation.frequency, donation.amount, donation.one_off_amount) == ("monthly", 900, 2500)
    assert (donation.monthly_offer, donation.status) == ("accepted", "pending")
    with offer_app.app_context(), extensions.database(offer_app).begin() as db:
        from service.finance import tokens

        secret = tokens.create_token(db, name="t", role="viewer", days=1).secret
    detail = client.get(
        f"/api/v1/finance/donations/{donation.id}", headers={"Authorization": f"Bearer {secret}"}
    )
    assert detail.get_json()["monthly"] | {"cancelled_at": None} == {
        "monthly_offer": "accepted", "one_off_amount": 2500, "subscription_status": None,
        "cancelled_by": None, "cancelled_at": None, "cancellation_feedback": None,
    }  # fmt: skip

    # A double submit (or the other button in an old tab) changes nothing and makes no second session.
    for choice in ("monthly", "once"):
        again = client.post(offer, data={"choice": choice})
        assert again.status_code == 303 and again.headers["Location"] == answer.headers["Location"]
    assert len(session_creates(sandbox)) == 1
    assert _donation(offer_app).frequency == "monthly"


def test_declining_goes_to_the_one_off_checkout_unchanged(
    client: Any, offer_app: Flask, sandbox: Any
) -> None:
    offer = _to_offer(client)
    assert client.post(offer, data={"choice": "once"}).status_code == 303
    [call] = session_creates(sandbox)
    assert call["params"]["mode"] == "payment"
    assert call["params"]["line_items"][0]["price_data"]["unit_amount"] == "2500"
    donation = _donation(offer_app)
    assert (donation.frequency, donation.amount, donation.monthly_offer, donation.one_off_amount) == (
        "one_off", 2500, "declined", None,
    )  # fmt: skip


def test_declining_twice_or_then_pressing_monthly_goes_to_the_same_one_off_checkout(
    client: Any, offer_app: Flask, sandbox: Any
) -> None:
    offer = _to_offer(client)
    first = client.post(offer, data={"choice": "once"})
    assert first.status_code == 303 and first.headers["Location"].startswith(sandbox.base_url)
    for choice in ("once", "monthly"):
        again = client.post(offer, data={"choice": choice})
        assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    [call] = session_creates(sandbox)
    assert call["params"]["mode"] == "payment"
    donation = _donation(offer_app)
    assert (donation.frequency, donation.amount, donation.monthly_offer, donation.status) == (
        "one_off", 2500, "declined", "pending",
    )  # fmt: skip


def test_when_stripe_is_down_the_answer_is_kept_and_pressing_again_makes_its_checkout(
    client: Any, offer_app: Flask, sandbox: Any
) -> None:
    offer = _to_offer(client)
    sandbox.control.fail_next(count=10, path_prefix="/v1/checkout/sessions")
    down = client.post(offer, data={"choice": "monthly"})
    assert down.status_code == 503
    assert f'action="{offer}?' in down.get_data(as_text=True)  # "Try again" answers the same offer
    donation = _donation(offer_app)
    assert (donation.frequency, donation.amount, donation.monthly_offer, donation.status) == (
        "monthly", 900, "accepted", "checkout_error",
    )  # fmt: skip
    sandbox.control.clear_faults()
    # Either button: the first answer stands (monthly), and its one session is made now.
    retried = client.post(offer, data={"choice": "once"})
    assert retried.status_code == 303 and retried.headers["Location"].startswith(sandbox.base_url)
    assert session_creates(sandbox)[-1]["params"]["mode"] == "subscription"
    donation = _donation(offer_app)
    assert (donation.frequency, donation.monthly_offer, donation.status) == ("monthly", "accepted", "pending")


@pytest.mark.parametrize("choice", ["once", "monthly"])
def test_the_offered_and_answered_donation_is_the_row_as_stored(
    client: Any, offer_app: Flask, choice: str
) -> None:
    """On PostgreSQL the page reads the donation with one psycopg SELECT, and the answer is one
    UPDATE ... RETURNING whose row becomes the donation the Checkout Session is made for: every
    column as SQLAlchemy reads it, dates in UTC."""
    token = _to_offer(client).split("/choose/")[1]
    donation_id = _donation(offer_app).id
    with offer_app.test_request_context():
        db = extensions.database(offer_app).sessionmaker()
        try:
            appeal = extensions.appeal_cache().find(db, "red-cross-ukraine")
            assert appeal is not None
            shown = monthly_offer.offer(db, extensions.settings(), token, appeal).donation
            offered = _donation(offer_app)
            assert {name: getattr(shown, name) for name in monthly_offer.ROW} == {
                name: getattr(offered, name) for name in monthly_offer.ROW
            }
            assert shown.appeal is appeal and shown.created_at.utcoffset() == timedelta(0)
            values = (
                {"monthly_offer": "declined"}
                if choice == "once"
                else {
                    "monthly_offer": "accepted",
                    "frequency": "monthly",
                    "amount": 900,
                    "one_off_amount": 2500,
                }
            )
            answered = monthly_offer._answer(db, donation_id, appeal, values)
            assert answered is not None and answered.appeal is appeal
            assert monthly_offer._answer(db, donation_id, appeal, values) is None  # answered once only
        finally:
            db.close()
    stored = _donation(offer_app)
    assert {name: getattr(answered, name) for name in monthly_offer.ROW} == {
        name: getattr(stored, name) for name in monthly_offer.ROW
    }
    assert answered.updated_at.utcoffset() == timedelta(0) and answered.created_at.utcoffset() == timedelta(0)
    assert stored.monthly_offer == values["monthly_offer"]


@pytest.mark.parametrize("choice", ["once", "monthly"])
def test_an_offer_link_under_another_appeals_address_is_refused_and_changes_nothing(
    client: Any, offer_app: Flask, sandbox: Any, choice: str
) -> None:
    with offer_app.app_context(), extensions.database(offer_app).begin() as db:
        upsert_appeals(db, validate_definitions([appeal("another-appeal")]))
    offer = _to_offer(client)
    elsewhere = offer.replace("/donate/red-cross-ukraine/", "/donate/another-appeal/")
    assert client.get(elsewhere).status_code == 404
    assert client.post(elsewhere, data={"choice": choice}).status_code == 404
    donation = _donation(offer_app)
    assert (donation.frequency, donation.monthly_offer, donation.status) == ("one_off", "offered", "created")
    assert session_creates(sandbox) == []
    # The right address still works.
    assert client.post(offer, data={"choice": choice}).status_code == 303


def test_fee_cover_is_worked_out_again_for_the_monthly_amount(
    client: Any, offer_app: Flask, sandbox: Any
) -> None:
    offer = _to_offer(client, cover_fees="1")
    assert "Your gift of £9 plus the processing fee, each month." in client.get(offer).get_data(as_text=True)
    client.post(offer, data={"choice": "monthly"})
    donation = _donation(offer_app)
    assert donation.amount == 900 and 0 < donation.fee_cover_amount < 100
    unit = session_creates(sandbox)[0]["params"]["line_items"][0]["price_data"]["unit_amount"]
    assert unit == str(900 + donation.fee_cover_amount)


@pytest.mark.parametrize(
    ("choice", "mangle", "status"),
    [
        ("weekly", lambda url: url, 404),  # a forged choice
        ("", lambda url: url, 404),
        ("monthly", lambda url: url[:-3] + ("abc" if not url.endswith("abc") else "xyz"), 404),  # tampered
        ("monthly", lambda url: url.replace("red-cross-ukraine", "other-appeal"), 404),
    ],
)
def test_bad_input_gets_a_friendly_page_and_changes_nothing(
    client: Any, offer_app: Flask, sandbox: Any, choice: str, mangle: Any, status: int
) -> None:
    offer = _to_offer(client)
    response = client.post(mangle(offer), data={"choice": choice})
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert "Traceback" not in html and ("can" in html or "not found" in html.lower())
    donation = _donation(offer_app)
    assert (donation.status, donation.frequency, donation.monthly_offer) == ("created", "one_off", "offered")
    assert session_creates(sandbox) == []


def test_a_link_for_another_donation_id_is_refused(client: Any, offer_app: Flask, sandbox: Any) -> None:
    _to_offer(client)
    settings = extensions.settings(offer_app)
    forged = monthly_offer._serializer(settings.with_overrides(secret_key="x" * 40)).dumps(
        {"d": _donation(offer_app).id}
    )
    assert client.post(f"{FORM}/choose/{forged}", data={"choice": "monthly"}).status_code == 404
    assert _donation(offer_app).monthly_offer == "offered" and session_creates(sandbox) == []


def test_an_expired_offer_is_refused(client: Any, offer_app: Flask, sandbox: Any, monkeypatch: Any) -> None:
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 2 * 3600)
    offer = _to_offer(client)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    response = client.post(offer, data={"choice": "monthly"})
    assert response.status_code == 410 and "This page has expired" in response.get_data(as_text=True)
    assert _donation(offer_app).frequency == "one_off" and session_creates(sandbox) == []


def test_an_already_paid_donation_is_not_changed(client: Any, offer_app: Flask, sandbox: Any) -> None:
    offer = _to_offer(client)
    with extensions.database(offer_app).sessionmaker.begin() as db:
        db.execute(update(Donation).values(status=DonationStatus.PAID, paid_at=utcnow()))
    response = client.post(offer, data={"choice": "monthly"})
    assert response.status_code == 409
    assert "This gift has been paid" in response.get_data(as_text=True)
    donation = _donation(offer_app)
    assert (donation.frequency, donation.amount, donation.monthly_offer) == ("one_off", 2500, "offered")
    assert session_creates(sandbox) == []


def test_resubmitting_the_donate_form_returns_to_the_same_offer(client: Any, offer_app: Flask) -> None:
    data = _form(client)
    first = client.post(FORM, data=data)
    second = client.post(FORM, data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"].split("/choose/")[0] == second.headers["Location"].split("/choose/")[0]
    with extensions.database(offer_app).sessionmaker() as db:
        assert db.query(Donation).count() == 1


@pytest.mark.parametrize(
    "arrange",
    ["monthly_form", "appeal_off", "setting_off", "widget", "surge", "closing_appeal"],
)
def test_no_offer_where_it_does_not_belong(
    client: Any, app: Flask, offer_app: Flask, sandbox: Any, monkeypatch: Any, arrange: str
) -> None:
    fields: dict[str, str] = {}
    query = ""
    if arrange == "monthly_form":
        fields["frequency"] = "monthly"
    elif arrange == "appeal_off":
        with extensions.database(offer_app).sessionmaker.begin() as db:
            db.execute(update(Appeal).values(monthly_offer=False))
        extensions.appeal_cache(offer_app).clear()
    elif arrange == "setting_off":
        client = app.test_client()  # the suite's settings: MONTHLY_OFFER off
    elif arrange == "widget":
        query = "?via=widget&frequency=one_off&amount=2500"
    elif arrange == "surge":
        monkeypatch.setattr(surge, "_last_redirect", time.monotonic())
    elif arrange == "closing_appeal":
        with extensions.database(offer_app).sessionmaker.begin() as db:
            db.execute(update(Appeal).values(closes_at=utcnow() + timedelta(days=30)))
        extensions.appeal_cache(offer_app).clear()
    response = client.post(FORM, data=_form(client, query, **fields))
    assert response.status_code == 303
    assert response.headers["Location"].startswith(sandbox.base_url)  # straight to Checkout
    assert len(session_creates(sandbox)) == 1
    assert _donation(offer_app).monthly_offer is None


def test_the_offer_speaks_ukrainian(client: Any) -> None:
    response = client.post(
        FORM + "?lang=uk", data=_form(client, "?lang=uk", custom_amount="", amount_choice="5000")
    )
    assert response.status_code == 303 and "lang=uk" in response.headers["Location"]
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<html lang="uk">' in html and "Може, щомісяця?" in html
    # Babel's Ukrainian money: £50 once, £15 a month.
    assert "Давати 15\xa0GBP щомісяця" in html and "дати 50\xa0GBP один раз" in html


@pytest.mark.parametrize("query", ["", "?lang=uk"])
@pytest.mark.parametrize("cover_fees", [False, True])
def test_the_offer_page_rendered_once_for_these_amounts_is_each_donors_own_page(
    client: Any, offer_app: Flask, query: str, cover_fees: bool
) -> None:
    """service/pages/monthly_offer.py renders the page once per appeal, language and amounts and
    writes each donor's token into it: every donor still gets exactly the page rendered for them."""
    fields = {"cover_fees": "1"} if cover_fees else {}
    offers = []
    for _ in range(2):
        response = client.post(FORM + query, data=_form(client, query, **fields))
        assert response.status_code == 303
        offers.append(response.headers["Location"])
    pages = [client.get(offer).get_data(as_text=True) for offer in offers]
    assert len(offer_pages.rendered_pages(offer_app)) == 1  # the second donor's page came from the first's
    for offer, page in zip(offers, pages, strict=True):
        token = offer.split("/choose/")[1].split("?")[0]
        with offer_app.test_request_context(offer):
            db = extensions.database(offer_app).sessionmaker()
            try:
                appeal = extensions.appeal_cache().find(db, "red-cross-ukraine")
                assert appeal is not None
                shown = monthly_offer.offer(db, extensions.settings(), token, appeal)
                assert page == offer_pages._render_page(appeal, shown, token)
            finally:
                db.close()
        assert page.count(token) == 1
    assert offers[0].split("/choose/")[1].split("?")[0] not in pages[1]


def test_the_sweeper_leaves_an_unanswered_offer_alone_then_lets_it_lapse_without_stripe(
    client: Any, offer_app: Flask, sandbox: Any
) -> None:
    _to_offer(client)
    with extensions.database(offer_app).sessionmaker.begin() as db:
        db.execute(update(Donation).values(created_at=utcnow() - timedelta(minutes=5)))
    settings = extensions.settings(offer_app)
    gateway = extensions.stripe_gateway(offer_app)
    sessions = extensions.database(offer_app).sessionmaker
    assert sweep(sessions, gateway, settings)["session_created"] == 0
    assert _donation(offer_app).status == "created" and session_creates(sandbox) == []
    with extensions.database(offer_app).sessionmaker.begin() as db:
        db.execute(update(Donation).values(created_at=utcnow() - timedelta(minutes=61)))
    assert sweep(sessions, gateway, settings)["offer_expired"] == 1
    assert _donation(offer_app).status == "expired" and session_creates(sandbox) == []


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [(5000, "gbp", 1500), (2500, "gbp", 900), (1000, "gbp", 400), (10000, "gbp", 3500), (500, "gbp", 200),
     (100, "gbp", 100), (3000, "jpy", 1000), (5000, "eur", 1500)],
)  # fmt: skip
def test_the_suggested_monthly_amount_rule(amount: int, currency: str, expected: int) -> None:
    appeal = Appeal(
        minimum_amounts={"gbp": 100, "eur": 100, "jpy": 100},
        maximum_amounts={"gbp": 10**7, "eur": 10**7, "jpy": 10**7},
    )
    assert suggested_monthly_amount(appeal, amount, currency) == expected


def test_no_suggestion_below_the_appeals_minimum() -> None:
    appeal = Appeal(minimum_amounts={"gbp": 500}, maximum_amounts={"gbp": 10**7})
    assert suggested_monthly_amount(appeal, 400, "gbp") is None
    assert suggested_monthly_amount(appeal, 600, "gbp") == 500
