"""The banks' clock: days at the bank compressed to a control call.

Each Bacs, SEPA or ACH debit is due an answer some business days after it is made
(``payments.SETTLE_BUSINESS_DAYS``); advancing this clock settles every debit due by then, one-off
(``payments.settle_async``), a monthly gift's first (``subscriptions.settle_first_debit``) or its
renewal (``subscriptions.settle_renewal_debit``, due by invoice id), with the outcome chosen when
it was paid. Only the debits' timing moves: objects and events keep real
timestamps, so sessions, expiry and idempotency are untouched.
"""

from __future__ import annotations

from sandbox import payments, subscriptions
from sandbox.core import Sandbox
from sandbox.errors import StripeError
from sandbox.ids import now
from sandbox.payments import DAY


def advance(sb: Sandbox, days: float) -> list[str]:
    """Let ``days`` pass at the banks: every debit whose answer is due by then settles, with the
    outcome chosen when it was paid. Only debits' timing moves; objects and events keep real
    timestamps. Returns the sessions (and renewals' invoices) settled, earliest due first."""
    with sb.store.lock:
        clock = sb.store.table("bank_clock")
        clock["offset"] = clock.get("offset", 0) + int(days * DAY)
        bank_now = payments.bank_time(sb, now())
        due = sorted((at, sid) for sid, at in sb.store.table("debits_due").items() if at <= bank_now)
        return _settle_due(sb, [sid for _, sid in due])


def _settle_due(sb: Sandbox, session_ids: list[str]) -> list[str]:
    settled = []
    for session_id in session_ids:
        sb.store.table("debits_due").pop(session_id, None)
        if session_id.startswith("in_"):
            invoice = sb.store.get(session_id)
            if invoice is not None and subscriptions.renewal_debit_pending(sb, invoice):
                subscriptions.settle_renewal_debit(sb, invoice, None)
                settled.append(session_id)
            continue
        session = sb.store.get(session_id)
        if session is None or session.get("payment_status") != "unpaid" or session["status"] != "complete":
            continue
        try:
            if session["mode"] == "subscription":
                subscriptions.settle_first_debit(sb, session, None)
            else:
                payments.settle_async(sb, session, None)
        except StripeError:
            continue  # already settled by the control or the timer
        settled.append(session_id)
    return settled
