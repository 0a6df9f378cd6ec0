"""Money after the payment: refunds, disputes, balance settlement and payouts."""

from __future__ import annotations

from typing import Any

from sandbox import connect, money
from sandbox import payment_objects as objects
from sandbox.core import Sandbox
from sandbox.errors import invalid, missing_param
from sandbox.fixtures import template
from sandbox.ids import now

Obj = dict[str, Any]


def _settled(amount: int, source: str, target: str, rate: float | None) -> int:
    """``amount`` of a charge's currency as it moves the balance: converted at today's rate
    when the account settles in another currency (https://docs.stripe.com/currencies/disputes-refunds)."""
    return amount if rate is None else money.convert(amount, source, target, rate)


def find_charge(sb: Sandbox, charge_id: str | None, pi_id: str | None) -> Obj:
    if charge_id and pi_id:
        raise invalid("You can only pass one of charge or payment_intent.", param="charge")
    if charge_id:
        return sb.store.require(charge_id, "charge", param="charge")
    if pi_id:
        pi = sb.store.require(pi_id, "payment_intent", param="payment_intent")
        if not pi.get("latest_charge"):
            raise invalid(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        return sb.store.objects[pi["latest_charge"]]
    raise missing_param("charge")


def refund(
    sb: Sandbox, ch: Obj, amount: int | None = None, reason: str | None = None,
    metadata: dict[str, str] | None = None, reverse_transfer: bool = False,
) -> Obj:  # fmt: skip
    with sb.store.lock:
        if ch["status"] != "succeeded":
            raise invalid(f"Charge {ch['id']} has not succeeded and cannot be refunded.", param="charge")
        if ch["disputed"]:
            raise invalid(
                f"Charge {ch['id']} has been charged back; cannot issue a refund.",
                param="charge",
                code="charge_disputed",
            )
        remaining = ch["amount"] - ch["amount_refunded"]
        if remaining <= 0:
            raise invalid(
                f"Charge {ch['id']} has already been refunded.",
                param="charge",
                code="charge_already_refunded",
            )
        amount = remaining if amount is None else int(amount)
        if amount <= 0:
            raise invalid("Refund amount must be greater than zero.", param="amount")
        if amount > remaining:
            raise invalid(
                f"Refund amount ({money.display(amount, ch['currency'])}) is greater than "
                f"unrefunded amount on charge ({money.display(remaining, ch['currency'])})",
                param="amount",
            )
        re = objects.refund(ch, amount, reason=reason, metadata=metadata or {})
        currency, rate = sb.settlement(ch["currency"])
        txn = objects.balance_transaction(
            amount=-_settled(amount, ch["currency"], currency, rate), currency=currency, fee=0,
            type_="refund", source=re["id"], reporting_category="refund",
            description="REFUND FOR CHARGE", available_after_days=0, exchange_rate=rate,
        )  # fmt: skip
        sb.store.add(txn)
        re["balance_transaction"] = txn["id"]
        sb.store.add(re)
        previous = {"amount_refunded": ch["amount_refunded"], "refunded": ch["refunded"]}
        ch["amount_refunded"] += amount
        ch["refunded"] = ch["amount_refunded"] >= ch["amount"]
        if reverse_transfer:
            connect.reverse_for_refund(sb, ch, amount, re["id"])
        sb.events.emit("refund.created", re)
        sb.events.emit("charge.refunded", ch, previous)
        return re


def open_dispute(sb: Sandbox, ch: Obj, amount: int | None, reason: str, inquiry: bool = False) -> Obj:
    """A chargeback (funds and Stripe's dispute fee withdrawn at once), or with ``inquiry`` an
    early fraud inquiry (``warning_needs_response``) that withdraws nothing unless it escalates."""
    with sb.store.lock:
        if ch["status"] != "succeeded" or ch["disputed"]:
            raise invalid(f"Charge {ch['id']} cannot be disputed.", param="charge")
        amount = ch["amount"] - ch["amount_refunded"] if amount is None else int(amount)
        dp = objects.dispute(ch, amount, reason)
        if inquiry:
            dp["status"] = "warning_needs_response"
            dp["payment_method_details"]["card"]["case_type"] = "inquiry"
        if not inquiry:
            _withdraw(sb, dp, emit=False)
        sb.store.add(dp)
        ch["disputed"] = True
        sb.events.emit("charge.dispute.created", dp)
        if not inquiry:
            sb.events.emit("charge.dispute.funds_withdrawn", dp)
        return dp


# Every status stripe-python 16.1 lists for a Dispute (stripe/_dispute.py). Inquiries
# (warning_*) withdraw nothing; a formal dispute withdraws the amount and Stripe's dispute fee;
# a lost dispute may be appealed (appeal_*) and then won, which reinstates both.
DISPUTE_STATUSES = (
    "warning_needs_response", "warning_under_review", "warning_closed", "needs_response",
    "under_review", "won", "lost", "prevented", "appeal_needs_response", "appeal_under_review",
)  # fmt: skip
CLOSING = ("won", "lost", "warning_closed", "prevented")
# Where each status may go next; won, warning_closed and prevented are final.
DISPUTE_NEXT = {
    "warning_needs_response": {"warning_under_review", "warning_closed", "needs_response", "prevented"},
    "warning_under_review": {"warning_closed", "needs_response", "prevented"},
    "needs_response": {"under_review", "won", "lost"},
    "under_review": {"won", "lost"},
    "lost": {"appeal_needs_response", "won"},
    "appeal_needs_response": {"appeal_under_review", "won", "lost"},
    "appeal_under_review": {"won", "lost"},
}


def _withdraw(sb: Sandbox, dp: Obj, emit: bool = True) -> None:
    currency, rate = sb.settlement(dp["currency"])
    fee = money.DISPUTE_FEE.get(currency, 1500)
    txn = objects.balance_transaction(
        amount=-_settled(dp["amount"], dp["currency"], currency, rate), currency=currency, fee=fee,
        type_="adjustment", source=dp["id"], reporting_category="dispute",
        description=f"Chargeback withdrawal for {dp['charge']}", available_after_days=0,
        exchange_rate=rate,
    )  # fmt: skip
    sb.store.add(txn)
    dp["balance_transactions"].append(txn)
    if emit:
        sb.events.emit("charge.dispute.funds_withdrawn", dp)


def _reinstate(sb: Sandbox, dp: Obj) -> None:
    withdrawn = dp["balance_transactions"][0]
    # Reinstated at the rate of the day it is won, like the withdrawal was at its own.
    currency, rate = sb.settlement(dp["currency"])
    txn = objects.balance_transaction(
        amount=_settled(dp["amount"], dp["currency"], currency, rate), currency=currency,
        fee=-withdrawn["fee"], type_="adjustment", source=dp["id"],
        reporting_category="dispute_reversal",
        description=f"Chargeback reversal for {dp['charge']}", available_after_days=0,
        exchange_rate=rate,
    )  # fmt: skip
    sb.store.add(txn)
    dp["balance_transactions"].append(txn)


def set_dispute_status(sb: Sandbox, dp: Obj, status: str) -> Obj:
    """Move a dispute to ``status`` as Stripe would, with its balance transactions and events."""
    if status not in DISPUTE_STATUSES:
        raise invalid(f"status must be one of {', '.join(DISPUTE_STATUSES)}", param="status")
    with sb.store.lock:
        if status not in DISPUTE_NEXT.get(dp["status"], set()):
            raise invalid(f"Dispute {dp['id']} cannot go from {dp['status']} to {status}.", param="status")
        previous = {"status": dp["status"]}
        if status == "needs_response" and not dp["balance_transactions"]:
            dp["status"] = status  # an inquiry escalated to a chargeback: now the money leaves
            _withdraw(sb, dp)
        dp["status"] = status
        if status == "won" and len(dp["balance_transactions"]) == 1:
            _reinstate(sb, dp)
            sb.events.emit("charge.dispute.funds_reinstated", dp)
        if status in CLOSING:
            dp["is_charge_refundable"] = False
        kind = "closed" if status in CLOSING else "updated"
        sb.events.emit(f"charge.dispute.{kind}", dp, previous)
        return dp


def close_dispute(sb: Sandbox, dp: Obj, outcome: str) -> Obj:
    if outcome not in ("won", "lost"):
        raise invalid("outcome must be won or lost", param="outcome")
    if dp["status"] in ("won", "lost"):
        raise invalid(f"Dispute {dp['id']} is already closed.", param="dispute")
    return set_dispute_status(sb, dp, outcome)


def fail_refund(sb: Sandbox, re: Obj) -> Obj:
    """The card network returns a refund Stripe had reported succeeded (closed or lost card).

    The money comes back to the balance in a ``refund_failure`` balance transaction and the charge
    is no longer refunded by that amount; Stripe sends ``refund.updated``, ``refund.failed`` and
    ``charge.refund.updated`` (https://docs.stripe.com/refunds#failed-refunds).
    """
    with sb.store.lock:
        if re["status"] not in ("succeeded", "pending"):
            raise invalid(f"Refund {re['id']} is {re['status']} and cannot fail.", param="refund")
        ch = sb.store.objects[re["charge"]]
        currency, rate = sb.settlement(re["currency"])
        txn = objects.balance_transaction(
            amount=_settled(re["amount"], re["currency"], currency, rate), currency=currency, fee=0,
            type_="refund_failure", source=re["id"], reporting_category="refund_failure",
            description="REFUND FAILURE", available_after_days=0, exchange_rate=rate,
        )  # fmt: skip
        sb.store.add(txn)
        previous = {"status": re["status"], "failure_balance_transaction": None, "failure_reason": None}
        # Live Stripe adds these two fields to a refund only once it has failed.
        re.update(
            status="failed", failure_balance_transaction=txn["id"], failure_reason="expired_or_canceled_card"
        )
        ch["amount_refunded"] -= re["amount"]
        ch["refunded"] = ch["amount_refunded"] >= ch["amount"]
        sb.events.emit("refund.updated", re, previous)
        sb.events.emit("refund.failed", re, previous)
        sb.events.emit("charge.refund.updated", re, previous)
        return re


def settle_pending(sb: Sandbox) -> int:
    """Make every pending balance transaction available now; returns how many."""
    count = 0
    with sb.store.lock:
        for txn in sb.store.newest_first("balance_transaction"):
            if txn["status"] == "pending":
                txn.update(status="available", available_on=now())
                count += 1
    return count


def balance(sb: Sandbox) -> Obj:
    totals: dict[tuple[str, str], int] = {}
    paid_out = sb.store.table("txn_payout")
    for txn in sb.store.newest_first("balance_transaction"):
        if txn["id"] in paid_out or not connect.visible(sb.store, txn):
            continue
        key = (txn["status"], txn["currency"])
        totals[key] = totals.get(key, 0) + txn["net"]

    def entries(status: str) -> list[Obj]:
        return [
            {"amount": amt, "currency": cur, "source_types": {"card": amt}}
            for (st, cur), amt in sorted(totals.items())
            if st == status
        ]

    currencies = sorted({cur for _, cur in totals})
    return template(
        "balance",
        available=entries("available"),
        pending=entries("pending"),
        # Money held for connected accounts' negative balances: none here (no Connect).
        connect_reserved=[{"amount": 0, "currency": cur} for cur in currencies],
    )


PAYOUT_KINDS = ("automatic", "manual", "instant")


def pay_out(
    sb: Sandbox,
    currency: str | None = None,
    kind: str = "automatic",
    amount: int | None = None,
    account: str | None = None,
) -> list[Obj]:
    """Sweep the available balance of each currency into a paid payout.

    ``account`` pays out a connected account's own balance (its payments from transfers) instead
    of the platform's; that payout, its balance transaction and its events belong to the account.

    ``kind`` ``manual`` or ``instant`` models a payout the account holder created (Dashboard or
    ``POST /v1/payouts``): ``automatic`` is false, its own balance transaction debits the balance,
    and Stripe cannot say which transactions it carried, so ``GET /v1/balance_transactions?payout=``
    refuses it ("For automatic Stripe payouts only", https://docs.stripe.com/api/balance_transactions/list;
    "You control the timing and amount of manual payouts, so Stripe can't identify which
    transactions are included in each payout", https://docs.stripe.com/payouts/reconciliation).
    """
    if kind not in PAYOUT_KINDS:
        raise invalid("kind must be automatic, manual or instant", param="kind")
    if kind != "automatic":
        if account:
            raise invalid("The sandbox makes manual and instant payouts on the platform only.", param="kind")
        return [_manual_payout(sb, currency, kind, amount)]
    created: list[Obj] = []
    with sb.store.lock:
        paid_out = sb.store.table("txn_payout")
        owners = sb.store.table(connect.OWNERS)
        groups: dict[str, list[Obj]] = {}
        for txn in reversed(sb.store.newest_first("balance_transaction")):
            if owners.get(txn["id"]) != account:
                continue
            wanted = currency is None or txn["currency"] == currency
            if wanted and txn["status"] == "available" and txn["id"] not in paid_out:
                groups.setdefault(txn["currency"], []).append(txn)
        for cur, txns in sorted(groups.items()):
            total = sum(t["net"] for t in txns)
            if total <= 0:
                continue
            po = objects.payout(total, cur)
            po_txn = objects.balance_transaction(
                amount=-total, currency=cur, fee=0, type_="payout", source=po["id"],
                reporting_category="payout", description="STRIPE PAYOUT",
                available_after_days=0,
            )  # fmt: skip
            sb.store.add(po_txn)
            po["balance_transaction"] = po_txn["id"]
            sb.store.add(po)
            if account:
                owners[po["id"]] = owners[po_txn["id"]] = account
            for t in [*txns, po_txn]:
                paid_out[t["id"]] = po["id"]
            sb.events.emit("payout.created", po, account=account)
            po.update(status="paid", trace_id={"status": "supported", "value": "SBX" + po["id"][3:15]})
            sb.events.emit("payout.paid", po, {"status": "pending"}, account=account)
            po["reconciliation_status"] = "completed"
            sb.events.emit(
                "payout.reconciliation_completed",
                po,
                {"reconciliation_status": "in_progress"},
                account=account,
            )
            created.append(po)
    return created


def _manual_payout(sb: Sandbox, currency: str | None, kind: str, amount: int | None) -> Obj:
    with sb.store.lock:
        cur = (currency or "gbp").lower()
        available = sum(e["amount"] for e in balance(sb)["available"] if e["currency"] == cur)
        amount = available if amount is None else int(amount)
        if amount <= 0 or amount > available:
            raise invalid(
                "You have insufficient funds in your Stripe account for this transfer.",
                param="amount", code="balance_insufficient",
            )  # fmt: skip
        po = objects.payout(amount, cur)
        po.update(automatic=False, method="instant" if kind == "instant" else "standard")
        fee = 0
        if kind == "instant":
            # Instant Payouts cost a percentage; the fee is its own balance transaction's fee.
            fee = max(amount * 15 // 1000, 50)
        po_txn = objects.balance_transaction(
            amount=-amount, currency=cur, fee=fee, type_="payout", source=po["id"],
            reporting_category="payout", description="STRIPE PAYOUT", available_after_days=0,
        )  # fmt: skip
        sb.store.add(po_txn)
        po["balance_transaction"] = po_txn["id"]
        sb.store.add(po)
        sb.store.table("manual_payouts")[po["id"]] = kind
        sb.events.emit("payout.created", po)
        po.update(status="paid", trace_id={"status": "supported", "value": "SBX" + po["id"][3:15]})
        sb.events.emit("payout.paid", po, {"status": "pending"})
        return po
