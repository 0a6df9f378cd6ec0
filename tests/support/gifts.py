"""A typical gift to the seeded appeal, a Gift Aid declaration to go with it, and a one-off gift
made and paid through the sandbox (``pay``)."""

from __future__ import annotations

from typing import Any

from service import extensions
from tests.support.ledger import delivered

GIFT = {"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp"}
ONE_OFF_GIFT = {**GIFT, "frequency": "one_off"}
GIFT_AID = {
    "first_name": "Olena",
    "last_name": "Smith-Jones",
    "house": "12",
    "postcode": "sw1a 1aa",
    "declaration": True,
}


def pay(sandbox: Any, app: Any, *, locale: str | None = None, email: str = "donor@example.org") -> Any:
    from service.donations import DonationRequest, create_donation

    with app.app_context():
        db = extensions.database(app).sessionmaker()
        try:
            request = DonationRequest(appeal="red-cross-ukraine", amount=2500, currency="gbp",
                                      frequency="one_off", email=email)  # fmt: skip
            donation, _ = create_donation(
                db, extensions.stripe_gateway(app), extensions.settings(app), request
            )
            if locale:
                from sqlalchemy import update

                from service.donations.models import Donation

                db.execute(update(Donation).where(Donation.id == donation.id).values(locale=locale))
                db.commit()
        finally:
            db.close()
    sandbox.control.complete_session(donation.stripe_checkout_session_id, "paid")
    delivered(sandbox)
    return donation
