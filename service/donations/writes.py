"""The two writes every donation makes: its row (with its idempotency record), and its Checkout
Session once Stripe has made it.

They are the service's hottest statements, one of each per donation, hundreds a second at a
telethon's peak, and each must be committed on its own: the row before Stripe is called (so a
crash leaves a row the sweeper finishes, never a session without a donation), the session when
Stripe answers. On PostgreSQL each is one prepared statement that psycopg sends on a pooled
connection in autocommit (service/db.py: ``run_alone``): one round trip, and none of
SQLAlchemy's per-statement work, which cost more CPU than psycopg and PostgreSQL together
(bench/README.md). When the session already holds a transaction (the appeal was just read from
the database, or the sweeper works through its donations) and on SQLite (the demo's database,
whose dates SQLAlchemy stores in its own format) the same writes go through SQLAlchemy, in
the session's transaction, which they commit.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, insert, text
from sqlalchemy.orm import Session

from ..db import in_utc, insert_sql, run_alone, runs_alone
from ..models import UTCDateTime
from .models import Donation, IdempotencyRecord

DONATIONS = Donation.__table__
RECORDS = IdempotencyRecord.__table__
# An idempotency record's columns, as ``insert_donation``'s ``record`` gives them.
RECORD_COLUMNS = ("scope", "key", "request_fingerprint", "created_at")


def insert_donation(db: Session, values: dict[str, Any], record: dict[str, Any] | None) -> None:
    """INSERT the donation (``values``: a value for every column it sets) and, with ``record``
    (scope, key, request_fingerprint, created_at), its idempotency record, together or neither;
    committed when this returns. A key used before raises SQLAlchemy's ``IntegrityError``."""
    if runs_alone(db):
        params = (
            values if record is None else {**values, **{f"record_{k}": record[k] for k in RECORD_COLUMNS}}
        )
        run_alone(db, _insert_sql(tuple(values), record is not None), params)
        return
    db.execute(insert(DONATIONS), values)
    if record is not None:
        db.execute(insert(RECORDS), {**record, "donation_id": values["id"]})
    db.commit()


@functools.cache
def _insert_sql(columns: tuple[str, ...], with_record: bool) -> str:
    """The donation's INSERT for psycopg; with the record, one statement: the donation's INSERT
    as a data-modifying CTE whose id the record's INSERT reads (PostgreSQL runs both, or, if the
    key is taken, neither). One per set of columns (a few: Gift Aid's are set or not)."""
    donation = insert_sql(DONATIONS, columns)
    if not with_record:
        return donation
    return (
        f"WITH donation AS ({donation} RETURNING id) "  # noqa: S608
        "INSERT INTO idempotency_records (scope, key, request_fingerprint, donation_id, created_at) "
        "SELECT %(record_scope)s, %(record_key)s, %(record_request_fingerprint)s, id, %(record_created_at)s "
        "FROM donation"
    )


# What recording the session may change, and reads back for the in-memory donation.
RECORDED_COLUMNS = (
    "stripe_checkout_session_id", "checkout_url", "checkout_expires_at", "stripe_payment_intent_id",
    "stripe_subscription_id", "status", "last_error_code", "last_error_message", "updated_at",
)  # fmt: skip

# A webhook may have learned the session first (after a lost response) and moved the donation
# on: only what is still missing changes, and only a donation still waiting for its session
# ('created', or 'checkout_error' after a failed attempt) becomes 'pending'.
# (PostgreSQL and SQLite both read a column's old value on the right of SET, and return the
# new values.)
RECORD_SESSION_SQL = """
UPDATE donations SET
    stripe_checkout_session_id = coalesce(stripe_checkout_session_id, :session_id),
    checkout_url = CASE WHEN stripe_checkout_session_id IS NULL THEN :checkout_url ELSE checkout_url END,
    checkout_expires_at = CASE WHEN stripe_checkout_session_id IS NULL
        THEN :checkout_expires_at ELSE checkout_expires_at END,
    stripe_payment_intent_id = CASE WHEN stripe_checkout_session_id IS NULL
        THEN :payment_intent_id ELSE stripe_payment_intent_id END,
    stripe_subscription_id = CASE WHEN stripe_checkout_session_id IS NULL
        THEN :subscription_id ELSE stripe_subscription_id END,
    status = CASE WHEN status IN ('created', 'checkout_error') THEN 'pending' ELSE status END,
    last_error_code = CASE WHEN status IN ('created', 'checkout_error') THEN NULL ELSE last_error_code END,
    last_error_message = CASE WHEN status IN ('created', 'checkout_error')
        THEN NULL ELSE last_error_message END,
    updated_at = :updated_at
WHERE id = :donation_id
RETURNING stripe_checkout_session_id, checkout_url, checkout_expires_at, stripe_payment_intent_id,
    stripe_subscription_id, status, last_error_code, last_error_message, updated_at
"""
RECORD_SESSION = (
    text(RECORD_SESSION_SQL)
    .bindparams(
        bindparam("checkout_expires_at", type_=UTCDateTime()), bindparam("updated_at", type_=UTCDateTime())
    )
    .columns(*(DONATIONS.c[name] for name in RECORDED_COLUMNS))
)


@functools.cache
def _record_session_sql(dialect: Any) -> str:
    # The same statement in psycopg's %(name)s parameters, compiled once.
    return str(RECORD_SESSION.compile(dialect=dialect))


def record_session(db: Session, donation_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Store a Checkout Session on the donation (``params``: session_id, checkout_url,
    checkout_expires_at, payment_intent_id, subscription_id, updated_at); committed when this
    returns. Returns the stored values of RECORDED_COLUMNS."""
    params = {**params, "donation_id": donation_id}
    if runs_alone(db):
        row = run_alone(db, _record_session_sql(db.get_bind().dialect), params)
        if row is None:
            raise LookupError(f"no donation {donation_id}")
        return {name: in_utc(value) for name, value in zip(RECORDED_COLUMNS, row, strict=True)}
    stored = db.execute(RECORD_SESSION, params).one()
    db.commit()
    return dict(zip(RECORDED_COLUMNS, stored, strict=True))
