"""What every apply function is given (the session, a Stripe reader, the settings) and may answer
(applied, or declined as quarantined, waiting or ignored), with the lookups they share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..donations.models import Donation
from ..settings import Settings


@dataclass(frozen=True)
class Applied:
    """What applying one Stripe fact did: which donation it touched and whether anything changed."""

    donation_id: str | None
    changed: bool


class Quarantine(Exception):  # noqa: N818 - reads as what happens to the event
    """Recorded, flagged for finance, never applied (not ours, wrong mode, contradicts the ledger)."""

    def __init__(self, reason: str, donation_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.donation_id = donation_id


class Wait(Exception):  # noqa: N818 - reads as what happens to the event
    """Not applicable yet: its payment is not in the ledger. Kept as ``waiting`` and applied once
    the payment arrives (receiving.apply_waiting), by replay, or by sync-events."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Ignore(Exception):  # noqa: N818
    """Acknowledged and recorded, but nothing in it concerns the ledger."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class StripeReader(Protocol):
    """What the apply functions may ask Stripe (a StripeGateway, or one that prefetched)."""

    def charges_for_payment_intent(self, payment_intent_id: str) -> list[dict[str, Any]]: ...

    def retrieve_balance_transaction(self, transaction_id: str) -> dict[str, Any]: ...

    def invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]: ...

    def refunds_for_charge(self, charge_id: str) -> list[dict[str, Any]]: ...

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]: ...

    def payout_balance_transactions(
        self, payout_id: str, account: str | None = None
    ) -> list[dict[str, Any]]: ...

    def retrieve_transfer(self, transfer_id: str) -> dict[str, Any]: ...


@dataclass
class LedgerContext:
    db: Session
    gateway: StripeReader | None
    settings: Settings

    @property
    def live(self) -> bool:
        return self.settings.stripe_secret_key.startswith(("sk_live_", "rk_live_"))


def timestamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, UTC)


def id_of(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("id")
    return None


def our_donation_id(ctx: LedgerContext, metadata: dict[str, Any] | None) -> str:
    """The donation id an object's metadata names, or Quarantine if the metadata is not ours.

    It does not look the donation up: callers that lock it anyway find out then whether it exists.
    """
    metadata = metadata or {}
    deployment = metadata.get("deployment")
    if deployment != ctx.settings.deployment_id:
        raise Quarantine(
            f"other_deployment: {str(deployment)[:100]}" if deployment else "no_deployment_metadata"
        )
    donation_id = metadata.get("donation_id")
    if not isinstance(donation_id, str):
        raise Quarantine("unknown_donation")
    return donation_id


def our_donation(ctx: LedgerContext, metadata: dict[str, Any] | None) -> Donation:
    """The donation an object's metadata names, or Quarantine if the metadata is not ours."""
    donation = ctx.db.get(Donation, our_donation_id(ctx, metadata))
    if donation is None:
        raise Quarantine("unknown_donation")
    return donation


def donation_by(ctx: LedgerContext, **columns: str | None) -> Donation | None:
    """Find a donation by one of its Stripe ids, e.g. ``stripe_payment_intent_id="pi_..."``."""
    for name, value in columns.items():
        if value:
            found = ctx.db.scalar(select(Donation).where(getattr(Donation, name) == value))
            if found is not None:
                return found
    return None
