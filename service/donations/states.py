"""A donation's states, the moves allowed between them, and a Checkout Session's facts applied to it.

:func:`record_session` is idempotent; the ledger calls it (service/ledger/apply_checkout.py) from
the thank-you page, webhook events, the ``sync-events`` backfill and the sweeper, as Stripe's
fulfilment guide recommends, and records the payment itself. A late or repeated fact never moves
a donation backwards. Nothing here imports the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, lazyload

from ..models import utcnow
from ..outbox import revive_for_new_address
from ..stripe_gateway import CheckoutSession
from .models import Donation, DonationStatus

# Every state that means money arrived. A fact about what happened after payment (a refund, a
# dispute, a cancelled subscription) may arrive before the "paid" event itself, so each
# before-payment state may jump straight to any of these.
AFTER_PAYMENT = frozenset(
    {
        DonationStatus.PAID,
        DonationStatus.PARTIALLY_REFUNDED,
        DonationStatus.REFUNDED,
        DonationStatus.DISPUTED,
        DonationStatus.DISPUTE_WON,
        DonationStatus.DISPUTE_LOST,
        DonationStatus.CANCELLED,
    }
)
# Which states each state may move to. Anything not listed is a step backwards (or sideways
# into a contradiction) and is ignored.
TRANSITIONS: dict[str, frozenset[str]] = {
    DonationStatus.CREATED: frozenset(
        {
            DonationStatus.PENDING,
            DonationStatus.CHECKOUT_ERROR,
            DonationStatus.SURGE_REDIRECTED,
            DonationStatus.PROCESSING,
            DonationStatus.FAILED,
            DonationStatus.EXPIRED,
        }
    )
    | AFTER_PAYMENT,
    DonationStatus.CHECKOUT_ERROR: frozenset(
        {
            DonationStatus.PENDING,
            DonationStatus.SURGE_REDIRECTED,
            DonationStatus.PROCESSING,
            DonationStatus.FAILED,
            DonationStatus.EXPIRED,
        }
    )
    | AFTER_PAYMENT,
    # Sent to the appeal's Payment Link (surge mode): its session's events finish it like PENDING.
    DonationStatus.SURGE_REDIRECTED: frozenset(
        {DonationStatus.PROCESSING, DonationStatus.FAILED, DonationStatus.EXPIRED}
    )
    | AFTER_PAYMENT,
    DonationStatus.PENDING: frozenset(
        {DonationStatus.PROCESSING, DonationStatus.FAILED, DonationStatus.EXPIRED}
    )
    | AFTER_PAYMENT,
    DonationStatus.PROCESSING: frozenset({DonationStatus.FAILED}) | AFTER_PAYMENT,
    DonationStatus.EXPIRED: frozenset(),
    DonationStatus.FAILED: frozenset(),
    # A dispute may be reported closed before it is reported opened, hence PAID -> DISPUTE_*.
    DonationStatus.PAID: frozenset(
        {
            DonationStatus.PARTIALLY_REFUNDED,
            DonationStatus.REFUNDED,
            DonationStatus.DISPUTED,
            DonationStatus.DISPUTE_WON,
            DonationStatus.DISPUTE_LOST,
            DonationStatus.CANCELLED,
        }
    ),
    DonationStatus.PARTIALLY_REFUNDED: frozenset(
        {
            DonationStatus.REFUNDED,
            DonationStatus.DISPUTED,
            DonationStatus.DISPUTE_WON,
            DonationStatus.DISPUTE_LOST,
        }
    ),
    DonationStatus.REFUNDED: frozenset(),
    DonationStatus.DISPUTED: frozenset({DonationStatus.DISPUTE_WON, DonationStatus.DISPUTE_LOST}),
    DonationStatus.DISPUTE_WON: frozenset({DonationStatus.PARTIALLY_REFUNDED, DonationStatus.REFUNDED}),
    # A lost dispute can be appealed and won (Stripe's appeal_* statuses, then won).
    DonationStatus.DISPUTE_LOST: frozenset({DonationStatus.DISPUTE_WON}),
    DonationStatus.CANCELLED: frozenset(),
}


class AmountMismatch(Exception):
    """Stripe reports a different amount or currency than the donation: finance must look."""

    def __init__(self, donation_id: str, expected: str, got: str):
        super().__init__(f"amount_mismatch: expected {expected}, Stripe reported {got}")
        self.donation_id = donation_id
        self.reason = str(self)


@dataclass(frozen=True)
class SessionRecorded:
    """What :func:`record_session` did: the donation as locked, the status the session means, and
    whether anything changed. ``donation`` is None if there is no such donation."""

    donation: LockedDonation | None
    new_status: str | None
    changed: bool


def can_move(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def status_from_session(session: CheckoutSession) -> str | None:
    if session.status == "complete":
        if session.payment_status in ("paid", "no_payment_required"):
            return DonationStatus.PAID
        return DonationStatus.PROCESSING
    if session.status == "expired":
        return DonationStatus.EXPIRED
    return None


def move_donation(db: Session, donation: Donation, new_status: str) -> bool:
    """Compare-and-set so two concurrent deliveries cannot both apply a transition."""
    if not can_move(donation.status, new_status):
        return False
    values: dict[str, object] = {"status": new_status, "updated_at": utcnow()}
    if new_status in AFTER_PAYMENT and donation.paid_at is None:
        values["paid_at"] = utcnow()
    result = db.execute(
        update(Donation)
        .where(Donation.id == donation.id, Donation.status == donation.status)
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def advance_donation(db: Session, donation_id: str, new_status: str, at: datetime | None = None) -> bool:
    """Move the donation to ``new_status`` if that is forwards; re-reads and retries on a lost race."""
    for _ in range(5):
        donation = db.get(Donation, donation_id, populate_existing=True)
        if donation is None or not can_move(donation.status, new_status):
            return False
        if at is not None and donation.paid_at is None and new_status in AFTER_PAYMENT:
            db.execute(update(Donation).where(Donation.id == donation_id).values(paid_at=at))
            donation.paid_at = at
        if move_donation(db, donation, new_status):
            return True
    return False


def lock_donation(db: Session, donation_id: str) -> Donation | None:
    """Load the donation holding its row lock (PostgreSQL), so one donation's facts apply one at a time.

    SQLite has one writer at a time already, so FOR UPDATE is simply not emitted there.
    """
    # The appeal is not needed here, and PostgreSQL refuses FOR UPDATE across its outer join.
    query = select(Donation).options(lazyload(Donation.appeal)).where(Donation.id == donation_id)
    return db.scalar(query.with_for_update().execution_options(populate_existing=True))


def expected_amount(donation: Donation) -> int:
    # What Stripe was asked to collect per payment: the gift plus any fee cover the donor added.
    return getattr(donation, "charge_amount", donation.amount)


def check_amount(donation: Donation, amount: int | None, currency: str | None) -> None:
    if amount is None or currency is None:
        return
    expected = expected_amount(donation)
    if amount != expected or currency.lower() != donation.currency:
        raise AmountMismatch(donation.id, f"{expected} {donation.currency}", f"{amount} {currency.lower()}")


class LockedDonation(NamedTuple):
    """The columns applying a session needs, read with the donation's row lock held."""

    id: str
    status: str
    amount: int
    fee_cover_amount: int | None
    currency: str
    paid_at: datetime | None
    stripe_checkout_session_id: str | None
    stripe_payment_intent_id: str | None
    stripe_subscription_id: str | None
    stripe_customer_id: str | None

    @property
    def charge_amount(self) -> int:
        return self.amount + (self.fee_cover_amount or 0)


_donations = Donation.__table__
# Built once: a webhook applies a session hundreds of times a second, and building and caching an
# ORM statement per call cost more CPU than PostgreSQL's work on it.
_LOCK_FOR_SESSION = (
    select(*(_donations.c[name] for name in LockedDonation._fields))
    .where(_donations.c.id == bindparam("donation_id"))
    .with_for_update()
)
# The SET columns are the keys of the parameters given; the status in WHERE is a compare-and-set.
_UPDATE_IF_STATUS = _donations.update().where(
    _donations.c.id == bindparam("b_id"), _donations.c.status == bindparam("b_status")
)
_FILL_ONCE = ("stripe_payment_intent_id", "stripe_subscription_id", "stripe_customer_id")


def lock_donation_for_session(db: Session, donation_id: str) -> LockedDonation | None:
    """Read what :func:`record_session` needs, holding the row lock (PostgreSQL) until commit."""
    row = db.connection().execute(_LOCK_FOR_SESSION, {"donation_id": donation_id}).first()
    return LockedDonation(*row) if row is not None else None


def record_session(
    db: Session,
    donation_id: str,
    session: CheckoutSession,
    *,
    status: str | None = None,
    locked: LockedDonation | None = None,
) -> SessionRecorded:
    """Apply the session's facts to the donation inside the caller's transaction; AmountMismatch
    changes nothing. The payment row is the ledger's to write (service/ledger/apply_checkout.py).

    ``status`` overrides what the session's fields say, for facts only the event type carries
    (``checkout.session.async_payment_failed`` leaves the session looking merely unpaid).
    ``locked`` is the donation as :func:`lock_donation_for_session` read it in this transaction,
    if the caller already has it.
    """
    donation = locked or lock_donation_for_session(db, donation_id)
    if donation is None:
        return SessionRecorded(None, None, False)
    new_status = status or status_from_session(session)
    if new_status in AFTER_PAYMENT or new_status == DonationStatus.PROCESSING:
        check_amount(donation, session.amount_total, session.currency)  # type: ignore[arg-type]
    changes: dict[str, object] = {}
    for column, value in zip(
        _FILL_ONCE, (session.payment_intent_id, session.subscription_id, session.customer_id), strict=True
    ):
        if value and not getattr(donation, column):
            changes[column] = value
    filled = bool(changes)
    moving = new_status is not None and can_move(donation.status, new_status)
    if moving:
        changes["status"] = new_status
        changes["updated_at"] = utcnow()
        if new_status in AFTER_PAYMENT and donation.paid_at is None:
            changes["paid_at"] = changes["updated_at"]
    moved = False
    if changes:
        # One UPDATE for the ids and the move. It only misses if the status changed since the read
        # (no row lock: SQLite, or a caller that read without one); then the slower route re-reads.
        params = {"b_id": donation.id, "b_status": donation.status, **changes}
        if db.connection().execute(_UPDATE_IF_STATUS, params).rowcount:  # type: ignore[attr-defined]
            moved = moving
        else:
            ids = {column: changes[column] for column in _FILL_ONCE if column in changes}
            if ids:
                db.execute(update(Donation).where(Donation.id == donation.id).values(**ids))
            if new_status is not None:
                moved = advance_donation(db, donation.id, new_status)
    changed = filled or moved
    if session.customer_email:
        remember_email(db, donation.id, session.customer_email)
    return SessionRecorded(donation, new_status, changed)


def remember_email(db: Session, donation_id: str, email: str) -> None:
    """Keep the address the donor gave Stripe if they gave us none: their receipts go there."""
    email = email.strip()
    if "@" not in email or len(email) > 320:
        return
    learnt = db.execute(
        update(Donation).where(Donation.id == donation_id, Donation.email.is_(None)).values(email=email)
    )
    if learnt.rowcount:  # type: ignore[attr-defined]
        # A receipt composed before this event arrived was skipped for want of an address.
        revive_for_new_address(db, donation_id)


def flag_donation(db: Session, donation_id: str, reason: str) -> None:
    """Mark a donation for finance's attention (kept until someone clears it)."""
    db.execute(
        update(Donation)
        .where(Donation.id == donation_id)
        .values(needs_attention=True, attention_reason=reason[:500], updated_at=utcnow())
    )
