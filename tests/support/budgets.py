"""Stand-ins for the Stripe call budget (service/stripe_budget.py)."""

from __future__ import annotations


class SpentBudget:
    """A call budget that is always spent, as on the night of a telethon."""

    def __init__(self) -> None:
        self.asked = 0

    def acquire(self, max_wait: float) -> bool:
        self.asked += 1
        return False
