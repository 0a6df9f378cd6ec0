"""Stand-ins for the Stripe call budget (service/stripe_budget.py)."""

from __future__ import annotations


class SpentBudget:
    """A call budget that is always spent, as on the night of a telethon."""

    def __init__(self) -> None:
        self.asked = 0

    def acquire(self, max_wait: float) -> bool:
        self.asked += 1
        return False


class Clock:
    """A monotonic clock the test moves; sleeping on it moves it and records the pause."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
