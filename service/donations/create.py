"""Creating donations and getting each one a Stripe Checkout Session.

The order is what keeps money safe: validate, commit the donation row, then call Stripe with an
idempotency key derived from the donation id, then record the session. A crash between any two
steps leaves a row the sweeper can finish, and never a second session.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..appeal_cache import AppealCache
from ..appeals import find_appeal
from ..attribution import source_columns
from ..constants.currencies import STRIPE_MAXIMUM_AMOUNT
from ..currencies import format_amount
from ..errors import (
    CheckoutUnavailable,
    IdempotencyConflict,
    NotFound,
    RequestInProgress,
    ValidationFailed,
)
from ..fees import fee_cover_for
from ..gift_aid import WORDING_VERSION, GiftAidDeclaration, offers_gift_aid
from ..models import Appeal, utcnow
from ..payment_methods import PAY_BY_BANK_DEBIT, PAY_BY_CHECKOUT, refuse_debit
from . import successors, surge, writes
from .checkout import checkout_idempotency_key, checkout_session_params, create_session_within
from .models import Donation, DonationStatus, IdempotencyRecord, new_donation_id

__all__ = ["Donation", "DonationRequest", "create_donation", "ensure_checkout_session"]
from ..settings import Settings
from ..stripe_gateway import CheckoutSession, StripeGateway, StripeGatewayError

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@dataclass(frozen=True)
class DonationRequest:
    appeal: str
    amount: int
    currency: str
    frequency: str = "one_off"
    email: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    cover_fees: bool = False
    anonymous: bool = False
    gift_aid: GiftAidDeclaration | None = None
    locale: str | None = None
    # The closed appeal the donor's link named, when the donor agreed to give to its successor.
    redirected_from: str | None = None
    # A UK postcode given as a match funder's evidence of residence (normalised), if asked.
    postcode: str | None = None
    # "bank_debit" when the donor chose Direct Debit (service/payment_methods.py); otherwise
    # Checkout offers what the Dashboard enables.
    pay_by: str = PAY_BY_CHECKOUT

    def fingerprint(self) -> str:
        canonical = json.dumps(
            {
                "appeal": self.appeal, "amount": self.amount, "currency": self.currency,
                "frequency": self.frequency, "email": self.email, "source": self.source,
                "cover_fees": self.cover_fees, "anonymous": self.anonymous,
                "gift_aid": self.gift_aid.as_dict() if self.gift_aid else None,
                "redirected_from": self.redirected_from,
                "postcode": self.postcode,
                **({"pay_by": self.pay_by} if self.pay_by != PAY_BY_CHECKOUT else {}),
            },
            sort_keys=True,
        )  # fmt: skip
        return hashlib.sha256(canonical.encode()).hexdigest()


def check_against_appeal(
    appeal: Appeal | None, request: DonationRequest, now: datetime, *, settlement_currency: str | None
) -> dict[str, list[str]]:
    """Business rules a schema cannot know: the appeal's state, currencies and limits.

    ``settlement_currency`` is the account's (Settings.stripe_settlement_currency): a gift in
    another currency pays Stripe's conversion fee too, so its fee cover is larger.
    """
    if appeal is None:
        return {"appeal": ["No appeal with that name."]}
    if not appeal.is_open(now):
        return {"appeal": ["This appeal is not accepting donations."]}
    errors: dict[str, list[str]] = {}
    if request.currency not in appeal.currencies:
        accepted = ", ".join(c.upper() for c in appeal.currencies)
        errors["currency"] = [f"This appeal accepts {accepted}."]
        return errors
    low = appeal.minimum_amounts[request.currency]
    high = appeal.maximum_amounts[request.currency]
    if request.amount < low:
        errors["amount"] = [
            f"The minimum gift is {low} ({format_amount(low, request.currency)}) in minor units."
        ]
    elif request.amount > high:
        errors["amount"] = [
            f"The maximum gift is {high} ({format_amount(high, request.currency)}) in minor units."
        ]
    elif (
        request.cover_fees
        and request.amount + fee_cover_for(request.amount, request.currency, settlement_currency)
        > STRIPE_MAXIMUM_AMOUNT
    ):
        errors["cover_fees"] = ["This gift is too large to add the fees to."]
    if request.gift_aid is not None and not offers_gift_aid(appeal, request.currency):
        errors["gift_aid"] = ["Gift Aid applies only to gifts in pounds to appeals that claim it."]
    if request.pay_by == PAY_BY_BANK_DEBIT and not errors:
        # The donor chose Direct Debit: a gift the scheme cannot take is refused here, before any
        # row or Stripe call, rather than sent to a Checkout page that could not offer it.
        refusal = refuse_debit(appeal, request.currency, request.frequency, request.amount)
        if refusal is not None:
            errors[refusal.field] = [refusal.message]
    return errors


def _gift_aid_columns(declaration: GiftAidDeclaration | None, now: datetime) -> dict[str, Any]:
    if declaration is None:
        return {"gift_aid": False}
    return {
        "gift_aid": True,
        "gift_aid_title": declaration.title,
        "gift_aid_first_name": declaration.first_name,
        "gift_aid_last_name": declaration.last_name,
        "gift_aid_house": declaration.house,
        "gift_aid_postcode": declaration.postcode,
        "gift_aid_declared_at": now,
        "gift_aid_wording_version": WORDING_VERSION,
    }


def create_donation(
    db: Session,
    gateway: StripeGateway,
    settings: Settings,
    request: DonationRequest,
    *,
    idempotency_key: str | None = None,
    scope: str = "api",
    appeals: AppealCache | None = None,
    offer_monthly: bool = False,
    prefer_payment_link: bool = False,
) -> tuple[Donation, bool]:
    """Create (or, for a repeated idempotency key, find) a donation with a Checkout Session.

    With ``offer_monthly`` the row is committed as waiting for the donor's answer to the monthly
    offer and no session is created yet (service/donations/monthly_offer.py); a repeated key finds
    it still waiting. ``prefer_payment_link`` (the request came past the service's donation rate,
    service/rate_limits.py): a one-off gift goes to its appeal's Payment Link without a Stripe
    call, if the appeal has one. Returns the donation and whether this call created it. Raises
    ValidationFailed, IdempotencyConflict, RequestInProgress or CheckoutUnavailable; nothing is
    written for bad input.
    """
    now = utcnow()
    # Read only: the cached appeal itself, not a copy (appeal_cache.py).
    appeal = (
        appeals.find_read_only(db, request.appeal) if appeals is not None else find_appeal(db, request.appeal)
    )
    errors = check_against_appeal(
        appeal, request, now, settlement_currency=settings.stripe_settlement_currency
    )
    if appeal is not None and (errors.get("appeal") or appeal.successor_when_funded):
        errors = {**errors, **successors.unavailable_errors(db, appeal, now)}
    if errors:
        raise ValidationFailed(fields=errors)
    assert appeal is not None
    requested = (
        successors.check_redirect(db, request.redirected_from, appeal, now)
        if request.redirected_from
        else appeal
    )

    # Only a keyed request is compared with an earlier one (a JSON dump and a digest otherwise spent).
    fingerprint = request.fingerprint() if idempotency_key else ""
    values = {
        "id": new_donation_id(),
        "appeal_id": appeal.id,
        "amount": request.amount,
        "currency": request.currency,
        "frequency": request.frequency,
        "email": request.email,
        "status": DonationStatus.CREATED,
        "created_at": now,
        "updated_at": now,
        "checkout_attempts": 0,
        "amount_refunded": 0,
        "needs_attention": False,
        "fee_cover_amount": (
            fee_cover_for(request.amount, request.currency, settings.stripe_settlement_currency)
            if request.cover_fees
            else 0
        ),
        "anonymous": request.anonymous,
        "locale": request.locale,
        "requested_appeal_id": requested.id,
        "match_postcode": request.postcode,
        "pay_by": request.pay_by if request.pay_by != PAY_BY_CHECKOUT else None,
        **source_columns(request.source),
        **_gift_aid_columns(request.gift_aid, now),
        "monthly_offer": "offered" if offer_monthly and request.frequency == "one_off" else None,
    }
    record = (
        {"scope": scope, "key": idempotency_key, "request_fingerprint": fingerprint, "created_at": now}
        if idempotency_key
        else None
    )  # fmt: skip
    try:
        # A repeated idempotency key is found by its unique index (the IntegrityError below), not
        # by a read before every insert.
        writes.insert_donation(db, values, record)
    except IntegrityError:
        # The key was used before, or another request with it won the race: its donation.
        db.rollback()
        if not idempotency_key:
            raise
        existing = _find_by_key(db, scope, idempotency_key, fingerprint)
        if existing is None:
            raise
        return _continue(db, gateway, settings, existing, prefer_payment_link), False
    # The committed row as an object outside the session: every later change to it is a Core
    # UPDATE whose RETURNING values are copied back (record_checkout_session), never a flush.
    donation = Donation.outside_session(values, appeal, others_null=True)
    if values["monthly_offer"]:
        return donation, True  # Checkout waits for the donor's answer
    return ensure_checkout_session(
        db, gateway, settings, donation, in_progress_wait=0, prefer_payment_link=prefer_payment_link
    ), True


def _find_by_key(db: Session, scope: str, key: str, fingerprint: str) -> Donation | None:
    record = db.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    )
    if record is None:
        return None
    if record.request_fingerprint != fingerprint:
        raise IdempotencyConflict()
    return db.get(Donation, record.donation_id)


RETRYABLE = (DonationStatus.CREATED, DonationStatus.CHECKOUT_ERROR)


def _continue(
    db: Session,
    gateway: StripeGateway,
    settings: Settings,
    donation: Donation,
    prefer_payment_link: bool = False,
) -> Donation:
    """A repeated request: its donation as it stands, a session made unless it awaits the offer's answer."""
    if donation.monthly_offer == "offered" and donation.status in RETRYABLE:
        return donation
    return ensure_checkout_session(db, gateway, settings, donation, prefer_payment_link=prefer_payment_link)


def ensure_checkout_session(
    db: Session,
    gateway: StripeGateway,
    settings: Settings,
    donation: Donation,
    *,
    in_progress_wait: float = 10.0,
    now: datetime | None = None,
    prefer_payment_link: bool = False,
) -> Donation:
    """Give the donation a Checkout Session unless it has one; safe to call repeatedly.

    A retry soon after a lost response sends the same parameters with the same idempotency key,
    so Stripe returns the session it already made instead of creating a second one. A retry
    much later (the sweeper) or after a settings change sends a later ``expires_at`` or other
    parameters under a new key (service/donations/checkout.py), so it is neither refused for an
    ``expires_at`` too close nor for a key reused with other parameters.
    """
    if donation.stripe_checkout_session_id or donation.status not in RETRYABLE:
        return donation
    if prefer_payment_link:
        # Past the service's donation rate: no Stripe call, no wait for budget.
        redirected = surge.redirect_to_payment_link(db, donation, reason="service_rate")
        if redirected is not None:
            return redirected
    if donation.status == DonationStatus.CREATED and donation.checkout_attempts == 0 and in_progress_wait > 0:
        # Another request (a double submit) may be creating the session right now.
        awaited = _wait_for_session(db, donation.id, in_progress_wait, settings)
        if awaited is not None:
            return awaited
    params = checkout_session_params(
        donation, donation.appeal, settings, now or utcnow(), donation.created_at
    )
    try:
        session = create_session_within(
            gateway, params, checkout_idempotency_key(donation, params), settings.surge_wait_seconds
        )
    except StripeGatewayError as exc:
        # Stripe's rate limit (or our share of it) must not cost the donation: surge mode.
        if exc.kind == "rate_limited":
            redirected = surge.redirect_to_payment_link(db, donation)
            if redirected is not None:
                return redirected
        db.execute(
            update(Donation)
            .where(Donation.id == donation.id, Donation.status.in_(RETRYABLE))
            .values(
                status=DonationStatus.CHECKOUT_ERROR,
                last_error_code=(exc.code or exc.kind)[:64],
                last_error_message=exc.safe_message[:500],
                checkout_attempts=Donation.checkout_attempts + 1,
                updated_at=utcnow(),
            )
        )
        db.commit()
        raise CheckoutUnavailable(donation.id, exc.kind, exc.retry_after) from None
    return record_checkout_session(db, donation, session)


def _wait_for_session(db: Session, donation_id: str, timeout: float, settings: Settings) -> Donation | None:
    """Only waits when this donation was created moments ago by a request still in flight."""

    donation = db.get(Donation, donation_id)
    assert donation is not None
    age = (utcnow() - donation.created_at).total_seconds()
    if age > settings.worker_timeout_seconds:
        return None  # the request that created it is gone (crashed worker): go ahead
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.expire_all()
        donation = db.get(Donation, donation_id)
        assert donation is not None
        if donation.stripe_checkout_session_id or donation.status != DonationStatus.CREATED:
            db.commit()
            return donation
        db.commit()  # end the read transaction so the next poll sees new commits
        time.sleep(0.1)
    raise RequestInProgress()


def record_checkout_session(db: Session, donation: Donation, session: CheckoutSession) -> Donation:
    """Store the session on the donation and mark it pending (service/donations/writes.py: one
    UPDATE ... RETURNING, committed).

    ``donation`` gets the stored values back without being flushed, whether it is in the session
    or not.
    """
    stored = writes.record_session(
        db,
        donation.id,
        {
            "session_id": session.id,
            "checkout_url": session.url,
            "checkout_expires_at": session.expires_at,
            "payment_intent_id": session.payment_intent_id,
            "subscription_id": session.subscription_id,
            "updated_at": utcnow(),
        },
    )
    for name, value in stored.items():
        set_committed_value(donation, name, value)
    return donation


def get_donation(db: Session, donation_id: str) -> Donation:
    donation = db.get(Donation, donation_id)
    if donation is None:
        raise NotFound("No donation with that id.")
    return donation


def find_by_checkout_session(db: Session, session_id: str) -> Donation | None:
    return db.scalar(select(Donation).where(Donation.stripe_checkout_session_id == session_id))
