"""A donation's two writes (service/donations/writes.py): the row before Stripe, the session after.

On PostgreSQL they usually run through psycopg alone, and through SQLAlchemy when the session
already holds a transaction; on SQLite always through SQLAlchemy. Every app test runs on both
databases; these pin down what the paths must share: the row and its idempotency record
committed (visible to everyone) while Stripe is still being asked, both or neither, the same
stored values whichever path wrote them, and UTC timestamps back.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from service import extensions
from service.db import runs_alone
from service.donations import writes
from service.donations.models import Donation, DonationStatus, IdempotencyRecord, new_donation_id
from service.models import Appeal

from .helpers import VALID, session_creates

SESSIONS = "/v1/checkout/sessions"


def committed(app: Any, statement: Any) -> list[Any]:
    """Rows as any other connection sees them now (only what is committed)."""
    with app.app_context():
        session = extensions.database(app).sessionmaker()
        try:
            return list(session.execute(statement).all())
        finally:
            session.close()


def test_the_row_and_its_key_are_committed_while_stripe_is_still_being_asked(app: Any, sandbox: Any) -> None:
    sandbox.control.hang_next(1, path_prefix=SESSIONS)  # Stripe holds the call until released
    answer: dict[str, Any] = {}

    def donate() -> None:
        answer["response"] = app.test_client().post(
            "/api/v1/donations", json=VALID, headers={"Idempotency-Key": "written-first"}
        )

    thread = threading.Thread(target=donate)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not session_creates(sandbox) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert session_creates(sandbox), "Stripe was never asked"
        # Stripe has the request and has not answered: the donation is already there for anyone.
        rows = committed(
            app,
            select(Donation.id, Donation.status, Donation.amount, IdempotencyRecord.key).join(
                IdempotencyRecord, IdempotencyRecord.donation_id == Donation.id
            ),
        )
        assert [(status, amount, key) for _id, status, amount, key in rows] == [
            (DonationStatus.CREATED, 2500, "written-first")
        ]
        assert "response" not in answer
    finally:
        sandbox.control.release_hangs()
        thread.join(timeout=15)
    assert answer["response"].status_code == 201
    body = answer["response"].get_json()
    assert body["id"] == rows[0][0] and body["status"] == DonationStatus.PENDING
    [(session_id,)] = committed(app, select(Donation.stripe_checkout_session_id))
    assert session_id and session_id in body["checkout_url"]


def donation_values(appeal_id: int, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "id": new_donation_id(), "appeal_id": appeal_id, "requested_appeal_id": appeal_id, "amount": 1234,
        "currency": "gbp", "frequency": "one_off", "email": "writes@example.org", "status": DonationStatus.CREATED,
        "created_at": now, "updated_at": now, "checkout_attempts": 0, "amount_refunded": 0,
        "needs_attention": False, "fee_cover_amount": 0, "anonymous": False, "gift_aid": False,
        "utm_source": "news", **overrides,
    }  # fmt: skip


def session_params(suffix: str) -> dict[str, Any]:
    return {
        "session_id": f"cs_test_writes_{suffix}",
        "checkout_url": f"https://checkout.example/{suffix}",
        "checkout_expires_at": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        "payment_intent_id": None,
        "subscription_id": None,
        "updated_at": datetime(2030, 1, 1, 12, 0, tzinfo=UTC),
    }


def appeal_id(db: Any) -> int:
    return db.scalar(select(Appeal.id).where(Appeal.slug == VALID["appeal"]))


def write_both(db: Any, values: dict[str, Any], key: str, *, in_transaction: bool) -> dict[str, Any]:
    if in_transaction:
        db.connection()  # the session holds a transaction: the writes join it and commit it
    else:
        db.commit()  # nothing held
    assert runs_alone(db) == (not in_transaction and db.get_bind().dialect.name == "postgresql")
    record = {"scope": "api", "key": key, "request_fingerprint": "f" * 64, "created_at": values["created_at"]}
    writes.insert_donation(db, values, record)
    if in_transaction:
        db.connection()
    return writes.record_session(db, values["id"], session_params(key))


def stored_row(app: Any, donation_id: str) -> dict[str, Any]:
    [row] = committed(app, select(Donation.__table__).where(Donation.id == donation_id))
    return {k: v for k, v in row._mapping.items() if k != "id"}


def test_both_ways_of_writing_store_and_return_the_same(app: Any, db_session: Any) -> None:
    appeal = appeal_id(db_session)
    alone = donation_values(appeal)
    joined = donation_values(appeal)
    returned_alone = write_both(db_session, alone, "way-alone", in_transaction=False)
    returned_joined = write_both(db_session, joined, "way-joined", in_transaction=True)

    def without_session(values: dict[str, Any]) -> dict[str, Any]:
        return {**values, "stripe_checkout_session_id": None, "checkout_url": None}

    assert without_session(returned_alone) == without_session(returned_joined)
    assert returned_alone["status"] == DonationStatus.PENDING
    assert returned_alone["checkout_url"] == "https://checkout.example/way-alone"
    for stored in (returned_alone, returned_joined):
        for name in ("checkout_expires_at", "updated_at"):
            assert stored[name].tzinfo is UTC, (name, stored[name])
    assert returned_alone["checkout_expires_at"] == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    row_alone, row_joined = stored_row(app, alone["id"]), stored_row(app, joined["id"])
    assert without_session(row_alone) == without_session(row_joined)
    assert row_alone["email"] == "writes@example.org" and row_alone["utm_source"] == "news"
    records = committed(app, select(IdempotencyRecord.key, IdempotencyRecord.donation_id))
    assert sorted(records) == sorted([("way-alone", alone["id"]), ("way-joined", joined["id"])])


@pytest.mark.parametrize("in_transaction", [False, True], ids=["alone", "in-transaction"])
def test_a_key_used_before_writes_neither_the_donation_nor_the_record(
    app: Any, db_session: Any, in_transaction: bool
) -> None:
    appeal = appeal_id(db_session)
    first = donation_values(appeal)
    write_both(db_session, first, "taken", in_transaction=False)
    second = donation_values(appeal)
    if in_transaction:
        db_session.connection()
    with pytest.raises(IntegrityError):
        writes.insert_donation(
            db_session,
            second,
            {
                "scope": "api",
                "key": "taken",
                "request_fingerprint": "0" * 64,
                "created_at": second["created_at"],
            },
        )
    db_session.rollback()
    assert committed(app, select(Donation.id)) == [(first["id"],)]
    assert committed(app, select(IdempotencyRecord.donation_id)) == [(first["id"],)]


def test_a_session_recorded_first_by_a_webhook_is_kept(app: Any, db_session: Any) -> None:
    """A webhook that learned the session first (after a lost response) and moved the donation
    on: recording again changes neither the session nor the status."""
    values = donation_values(appeal_id(db_session))
    write_both(db_session, values, "webhook-first", in_transaction=False)
    db_session.execute(
        text("UPDATE donations SET status = :paid WHERE id = :id"),
        {"paid": DonationStatus.PAID, "id": values["id"]},
    )
    db_session.commit()
    again = writes.record_session(
        db_session, values["id"], session_params("other") | {"session_id": "cs_other"}
    )
    assert again["stripe_checkout_session_id"] == "cs_test_writes_webhook-first"
    assert again["checkout_url"] == "https://checkout.example/webhook-first"
    assert again["status"] == DonationStatus.PAID
    assert again["updated_at"] - datetime(2030, 1, 1, 12, 0, tzinfo=UTC) == timedelta(0)


def test_a_written_row_as_a_donation_outside_the_session_reads_like_a_constructed_one(app: Any) -> None:
    now = datetime.now(UTC)
    values = {
        "id": new_donation_id(), "appeal_id": 1, "amount": 2500, "currency": "gbp",
        "frequency": "one_off", "status": DonationStatus.CREATED, "created_at": now,
        "updated_at": now, "fee_cover_amount": 125, "utm_source": "news",
    }  # fmt: skip
    with app.app_context():
        db = extensions.database(app).sessionmaker()
        try:
            appeal = db.scalar(select(Appeal).where(Appeal.slug == "red-cross-ukraine"))
            made = Donation.outside_session(values, appeal)
            constructed = Donation(**values)
            for name in (*values, "stripe_checkout_session_id", "email", "locale"):
                assert getattr(made, name) == getattr(constructed, name), name
            assert made.charge_amount == 2625
            assert made.appeal is appeal
            assert made not in db  # outside the session: never flushed
            assert Donation.outside_session(values).appeal is None
            with pytest.raises(ValueError, match="utm_sauce"):
                Donation.outside_session({**values, "utm_sauce": "typo"})
        finally:
            db.close()


def test_a_row_just_inserted_reads_its_unset_columns_as_null_but_never_hides_a_default(app: Any) -> None:
    now = datetime.now(UTC)
    values = {
        "id": new_donation_id(), "appeal_id": 1, "amount": 2500, "currency": "gbp",
        "frequency": "one_off", "status": DonationStatus.CREATED, "created_at": now,
        "updated_at": now, "fee_cover_amount": 0, "anonymous": False, "gift_aid": False,
        "checkout_attempts": 0, "amount_refunded": 0, "needs_attention": False,
    }  # fmt: skip
    made = Donation.outside_session(values, others_null=True)
    assert "stripe_checkout_session_id" in made.__dict__ and made.stripe_checkout_session_id is None
    assert made.amount == 2500
    # fee_cover_amount has a default: a row inserted without it would hold 0, not NULL.
    without_default = {k: v for k, v in values.items() if k != "fee_cover_amount"}
    with pytest.raises(ValueError, match="fee_cover_amount"):
        Donation.outside_session(without_default, others_null=True)
