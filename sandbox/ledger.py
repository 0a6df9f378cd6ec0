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


def open_dispute(sb: Sandbox, ch: Obj, amount: int | None, reason: str) -> Obj:
    with sb.store.lock:
        if ch["status"] != "succeeded" or ch["disputed"]:
            raise invalid(f"Charge {ch['id']} cannot be disputed.", param="charge")
        amount = ch["amount"] - ch["amount_refunded"] if amount is None else int(amount)
        dp = objects.dispute(ch, amount, reason)
        currency, rate = sb.settlement(ch["currency"])
        fee = money.DISPUTE_FEE.get(currency, 1500)
        txn = objects.balance_transaction(
            amount=-_settled(amount, ch["currency"], currency, rate), currency=currency, fee=fee,
            type_="adjustment", source=dp["id"], reporting_category="dispute",
            description=f"Chargeback withdrawal for {ch['id']}", available_after_days=0,
            exchange_rate=rate,
        )  # fmt: skip
        sb.store.add(txn)
        dp["balance_transactions"] = [txn]
        sb.store.add(dp)
        ch["disputed"] = True
        sb.events.emit("charge.dispute.created", dp)
        sb.events.emit("charge.dispute.funds_withdrawn", dp)
        return dp


def close_dispute(sb: Sandbox, dp: Obj, outcome: str) -> Obj:
    if outcome not in ("won", "lost"):
        raise invalid("outcome must be won or lost", param="outcome")
    with sb.store.lock:
        if dp["status"] in ("won", "lost"):
            raise invalid(f"Dispute {dp['id']} is already closed.", param="dispute")
        previous = {"status": dp["status"]}
        if outcome == "won":
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
            dp["status"] = "won"
            sb.events.emit("charge.dispute.funds_reinstated", dp)
        else:
            dp["status"] = "lost"
        dp["is_charge_refundable"] = False
        sb.events.emit("charge.dispute.closed", dp, previous)
        return dp


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


def pay_out(sb: Sandbox, currency: str | None = None, account: str | None = None) -> list[Obj]:
    """Sweep the available balance of each currency into a paid payout.

    ``account`` pays out a connected account's own balance (its payments from transfers) instead
    of the platform's; that payout, its balance transaction and its events belong to the account.
    """
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
