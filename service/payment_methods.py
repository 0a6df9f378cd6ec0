"""Which ways to pay Checkout may offer for one gift: bank debits by appeal, the rest by Dashboard.

The service never lists ``payment_method_types``: API 2026-09-30.endive removed that parameter
from Checkout Session create, and dynamic payment methods let the Dashboard turn cards, wallets
(Apple Pay, Google Pay, Link) and Pay by Bank on or off without a deploy
(https://docs.stripe.com/changelog/endive/2026-09-30/remove-payment-method-types-checkout-sessions).
What the service does decide is where a bank debit must *not* be offered, and it says so with
``excluded_payment_method_types``, a filter on the dynamic set
(https://docs.stripe.com/changelog/clover/2025-09-30/exclude-payment-methods-checkout-sessions):
the appeal did not enable debits, the scheme does not fit the frequency, or the gift is under the
scheme's minimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class DebitScheme:
    payment_method_type: str  # Stripe's name, as in excluded_payment_method_types
    name: str
    currency: str
    # Our floor, above Stripe's minimum charge: a debit that bounces costs the charity Stripe's
    # failure fee, and Bacs donors expect a floor (Fundraise Up's Bacs minimum is £2).
    minimum: int
    one_off: bool
    # Business days from the mandate to the money: Bacs takes up to 7 with a new mandate
    # (https://docs.stripe.com/payments/bacs-debit); SEPA averages 7-8 and may take 14
    # (https://docs.stripe.com/payments/sepa-debit). The thank-you page says "about".
    business_days: int


# Bacs only for monthly gifts: a one-off Bacs debit carries the same indemnity-claim risk as a
# monthly one for a single gift, and UK donors giving once are offered cards and Pay by Bank.
BACS = DebitScheme("bacs_debit", "Bacs Direct Debit", "gbp", minimum=200, one_off=False, business_days=7)
SEPA = DebitScheme("sepa_debit", "SEPA Direct Debit", "eur", minimum=100, one_off=True, business_days=8)
SCHEMES: dict[str, DebitScheme] = {BACS.currency: BACS, SEPA.currency: SEPA}
BY_TYPE: dict[str, DebitScheme] = {s.payment_method_type: s for s in SCHEMES.values()}
DEBIT_TYPES = frozenset(BY_TYPE)


def scheme_for(currency: str) -> DebitScheme | None:
    return SCHEMES.get(currency.lower())


def debit_offered(appeal: Any, currency: str, frequency: str, amount: int) -> bool:
    """Whether Checkout may offer this gift's bank debit (the appeal's option and the scheme's rules)."""
    scheme = scheme_for(currency)
    if scheme is None or not getattr(appeal, "bank_debits", False):
        return False
    if frequency != "monthly" and not scheme.one_off:
        return False
    return amount >= scheme.minimum


PAY_BY_CHECKOUT = "checkout"  # Checkout offers what the Dashboard enables (the ordinary path)
PAY_BY_BANK_DEBIT = "bank_debit"  # the donor chose Direct Debit: Checkout offers only the scheme
PAY_BY = (PAY_BY_CHECKOUT, PAY_BY_BANK_DEBIT)


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for "mark, translate later"
    return message


@dataclass(frozen=True)
class DebitRefusal:
    """Why a donor who chose Direct Debit cannot pay this gift by it: the form field at fault and
    the words, as a template the donor pages translate (``message`` is the English the API sends)."""

    field: str
    template: str
    variables: dict[str, str]

    @property
    def message(self) -> str:
        return self.template % self.variables


def refuse_debit(appeal: Any, currency: str, frequency: str, amount: int) -> DebitRefusal | None:
    """Why a gift for which the donor chose Direct Debit cannot be taken by it; None when it can.

    Checked before anything is stored or Stripe is called. The floors are ours and sit above
    Stripe's own minimum charge (30p, 50 euro cents: docs.stripe.com/currencies#minimum-and-
    maximum-charge-amounts), as DebitScheme.minimum explains; the currencies are the schemes'
    (Bacs collects pounds only, SEPA euros only: docs.stripe.com/payments/bacs-debit,
    docs.stripe.com/payments/sepa-debit).
    """
    scheme = scheme_for(currency)
    if not getattr(appeal, "bank_debits", False):
        return DebitRefusal(
            "pay_by", N_("This appeal does not take bank debits. Please choose another way to pay."), {}
        )
    if scheme is None:
        return DebitRefusal(
            "currency",
            N_("Paying by bank debit is possible in pounds (Bacs) or euros (SEPA) only."),
            {},
        )
    if frequency != "monthly" and not scheme.one_off:
        return DebitRefusal(
            "frequency",
            N_("%(scheme)s is for monthly gifts only. Choose monthly, or another way to pay."),
            {"scheme": scheme.name},
        )
    if amount < scheme.minimum:
        return DebitRefusal(
            "amount",
            N_("The smallest gift by %(scheme)s is %(minimum)s."),
            {"scheme": scheme.name, "minimum": _major(scheme.minimum, scheme.currency)},
        )
    return None


def debit_refusal(appeal: Any, currency: str, frequency: str, amount: int) -> str | None:
    """Why a donor who asked to pay by bank debit cannot, in plain English; None when they can."""
    refusal = refuse_debit(appeal, currency, frequency, amount)
    return refusal.message if refusal else None


def _major(amount: int, currency: str) -> str:
    symbol = {"gbp": "£", "eur": "€"}[currency]
    return f"{symbol}{amount // 100}.{amount % 100:02d}"


def excluded_payment_method_types(appeal: Any, currency: str, frequency: str, amount: int) -> list[str]:
    """The debit types Checkout must leave out for this gift (empty: the Dashboard decides)."""
    scheme = scheme_for(currency)
    if scheme is None or debit_offered(appeal, currency, frequency, amount):
        return []
    return [scheme.payment_method_type]


def allowed_payment_method_types(currency: str) -> list[str]:
    """What Checkout may offer a donor who chose Direct Debit: that scheme alone.

    ``payment_method_types`` cannot say it: API 2026-09-30.endive removed it from Checkout Session
    create. Its replacement, ``allowed_payment_method_types``, "filters the list to only compatible
    payment methods based on other parameters such as currency, amount, and customer"
    (https://docs.stripe.com/changelog/endive/2026-09-30/remove-payment-method-types-checkout-sessions),
    so the Dashboard still decides whether the scheme is on at all; it is mutually exclusive with
    ``excluded_payment_method_types`` (https://docs.stripe.com/changelog/dahlia/2026-07-29/
    allowed-payment-method-types-parameter), which the ordinary path sends instead.
    """
    scheme = scheme_for(currency)
    assert scheme is not None, "refuse_debit() refuses other currencies before a session is made"
    return [scheme.payment_method_type]


def add_business_days(start: date, days: int) -> date:
    """Weekdays only; bank holidays are not known here, so callers say "about"."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def expected_debit_date(payment_method_type: str | None, started: datetime) -> date | None:
    """When a debit that started processing at ``started`` should have cleared, or None for others."""
    scheme = BY_TYPE.get(payment_method_type or "")
    if scheme is None:
        return None
    return add_business_days(started.date(), scheme.business_days)
