"""A donation's life, from the form to the ledger's last word on it.

- :mod:`.create`: a donation row from a request (idempotent), then its Checkout Session.
- :mod:`.checkout`: the Checkout Session's parameters (amounts, metadata, expiry, descriptors).
- :mod:`.states`: its states and the moves allowed between them (``TRANSITIONS``); the ledger
  moves a donation only through these functions.
- :mod:`.surge`: the alternative creation chooses when Stripe's budget is spent: a reusable
  Payment Link per appeal (:mod:`.payment_links`).

The names below are what the API, the pages and the ledger use.
"""

from __future__ import annotations

from .create import (
    RETRYABLE,
    DonationRequest,
    check_against_appeal,
    create_donation,
    ensure_checkout_session,
    find_by_checkout_session,
    get_donation,
)

__all__ = [
    "RETRYABLE",
    "DonationRequest",
    "check_against_appeal",
    "create_donation",
    "ensure_checkout_session",
    "find_by_checkout_session",
    "get_donation",
]
