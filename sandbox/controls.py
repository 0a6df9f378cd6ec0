"""Scenario controls under /_sandbox: test helpers in the spirit of Stripe's, kept
apart from /v1 so nobody mistakes them for the real API. JSON in, JSON out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox import API_VERSION, bank_clock, ledger, payments, subscriptions
from sandbox.core import Sandbox
from sandbox.errors import StripeError, invalid
from sandbox.faults import Fault
from sandbox.money import parse_fee

Obj = dict[str, Any]


class Controls:
    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        table: list[tuple[str, str, Callable[..., Any]]] = [
            ("GET", "/_sandbox/health", self.health),
            ("POST", "/_sandbox/reset", self.reset),
            ("GET", "/_sandbox/requests", self.requests),
            ("DELETE", "/_sandbox/requests", self.clear_requests),
            ("POST", "/_sandbox/checkout/sessions/<id>/complete", self.complete_session),
            ("POST", "/_sandbox/checkout/sessions/<id>/settle", self.settle_async),
            ("POST", "/_sandbox/checkout/sessions/<id>/expire", self.expire_session),
            ("POST", "/_sandbox/charges/<id>/refund", self.refund),
            ("POST", "/_sandbox/charges/<id>/dispute", self.open_dispute),
            ("POST", "/_sandbox/disputes/<id>/close", self.close_dispute),
            ("POST", "/_sandbox/disputes/<id>/status", self.dispute_status),
            ("POST", "/_sandbox/refunds/<id>/fail", self.fail_refund),
            ("POST", "/_sandbox/mandates/<id>/revoke", self.revoke_mandate),
            ("POST", "/_sandbox/bank_clock/advance", self.advance_bank_clock),
            ("POST", "/_sandbox/subscriptions/<id>/advance", self.advance_subscription),
            ("POST", "/_sandbox/subscriptions/<id>/cancel", self.cancel_subscription),
            ("POST", "/_sandbox/invoices/<id>/retry", self.retry_invoice),
            ("POST", "/_sandbox/invoices/<id>/settle", self.settle_invoice_debit),
            ("POST", "/_sandbox/balance/settle", self.settle_balance),
            ("POST", "/_sandbox/payouts", self.payout),
            ("GET", "/_sandbox/webhooks", self.webhooks),
            ("POST", "/_sandbox/webhooks", self.configure_webhooks),
            ("POST", "/_sandbox/webhooks/wait", self.wait_webhooks),
            ("GET", "/_sandbox/webhooks/attempts", self.webhook_attempts),
            ("GET", "/_sandbox/faults", self.faults),
            ("POST", "/_sandbox/faults", self.add_fault),
            ("DELETE", "/_sandbox/faults", self.clear_faults),
            ("POST", "/_sandbox/faults/release", self.release_hangs),
            ("GET", "/_sandbox/settings", self.settings),
            ("POST", "/_sandbox/settings", self.update_settings),
        ]
        self.handlers = [h for _, _, h in table]
        self.url_map = Map(
            [Rule(p, endpoint=i, methods=[m]) for i, (m, p, _) in enumerate(table)],
            strict_slashes=False,
        )

    def handle(self, request: Request) -> Response:
        try:
            endpoint, args = self.url_map.bind("sandbox").match(request.path, request.method)
        except HTTPException:
            return _json(404, {"error": {"type": "invalid_request_error",
                                         "message": f"No sandbox control {request.method} "
                                                    f"{request.path}"}})  # fmt: skip
        body: Obj = {}
        if request.method == "POST" and request.get_data():
            try:
                body = json.loads(request.get_data())
            except json.JSONDecodeError:
                body = request.form.to_dict()
        body = {**request.args.to_dict(), **body}
        try:
            result = self.handlers[endpoint](body, **args)
            if request.method != "GET":
                self.sb.save()
        except StripeError as exc:
            return _json(exc.status, exc.body())
        except (KeyError, ValueError, TypeError) as exc:
            return _json(400, {"error": {"type": "invalid_request_error", "message": str(exc)}})
        with self.sb.store.lock:  # a consistent snapshot of live objects
            text = json.dumps(result, indent=2)
        return Response(text, status=200, mimetype="application/json")

    # -- helpers --------------------------------------------------------------
    def _obj(self, obj_id: str, kind: str) -> Obj:
        return self.sb.store.require(obj_id, kind)

    def _charge(self, obj_id: str) -> Obj:
        """A charge id, or a payment intent id meaning its latest charge."""
        if obj_id.startswith("pi_"):
            return ledger.find_charge(self.sb, None, obj_id)
        return self._obj(obj_id, "charge")

    # -- controls -------------------------------------------------------------
    def health(self, body: Obj) -> Obj:
        return {"ok": True, "base_url": self.sb.base_url}

    def reset(self, body: Obj) -> Obj:
        self.sb.reset()
        return {"ok": True}

    def requests(self, body: Obj) -> Obj:
        data = list(self.sb.store.requests)
        if body.get("method"):
            data = [r for r in data if r["method"] == body["method"].upper()]
        if body.get("path"):
            data = [r for r in data if r["path"].startswith(body["path"])]
        return {"data": data}

    def clear_requests(self, body: Obj) -> Obj:
        with self.sb.store.lock:
            self.sb.store.requests.clear()
        return {"ok": True}

    def complete_session(self, body: Obj, id: str) -> Obj:
        sb, session = self.sb, self._obj(id, "checkout.session")
        outcome, email = body.get("outcome", "paid"), body.get("email")
        payments.expire_due(sb, session)
        if outcome == "paid":
            if session["mode"] == "subscription":
                subscriptions.subscribe(sb, session, email)
            else:
                payments.pay_with_card(sb, session, email)
        elif outcome == "async":
            if session["mode"] == "subscription":
                subscriptions.subscribe_by_bank_debit(
                    sb, session, email, body.get("async_outcome", "succeeded")
                )
            else:
                payments.pay_with_bank_debit(sb, session, email, body.get("async_outcome", "succeeded"))
        elif outcome == "declined":
            payments.decline_card(sb, session)
        else:
            raise invalid("outcome must be paid, async or declined", param="outcome")
        return session

    def settle_async(self, body: Obj, id: str) -> Obj:
        session = self._obj(id, "checkout.session")
        if session["mode"] == "subscription":
            subscriptions.settle_first_debit(self.sb, session, body.get("outcome"))
        else:
            payments.settle_async(self.sb, session, body.get("outcome"))
        return session

    def expire_session(self, body: Obj, id: str) -> Obj:
        return payments.expire(self.sb, self._obj(id, "checkout.session"))

    def refund(self, body: Obj, id: str) -> Obj:
        amount = body.get("amount")
        return ledger.refund(
            self.sb, self._charge(id), None if amount is None else int(amount), body.get("reason"),
            reverse_transfer=bool(body.get("reverse_transfer")),
        )  # fmt: skip

    def open_dispute(self, body: Obj, id: str) -> Obj:
        amount = body.get("amount")
        return ledger.open_dispute(
            self.sb, self._charge(id), None if amount is None else int(amount),
            body.get("reason", "fraudulent"), bool(body.get("inquiry")),
        )  # fmt: skip

    def close_dispute(self, body: Obj, id: str) -> Obj:
        return ledger.close_dispute(self.sb, self._obj(id, "dispute"), body.get("outcome", "won"))

    def dispute_status(self, body: Obj, id: str) -> Obj:
        return ledger.set_dispute_status(self.sb, self._obj(id, "dispute"), str(body.get("status")))

    def fail_refund(self, body: Obj, id: str) -> Obj:
        return ledger.fail_refund(self.sb, self._obj(id, "refund"))

    def advance_bank_clock(self, body: Obj) -> Obj:
        """Let days pass at the banks: bank debits due by then settle (days compressed to a call)."""
        try:
            days = float(body.get("days", 0))
        except (TypeError, ValueError):
            raise invalid("days must be a number", param="days") from None
        if not 0 < days <= 60:
            raise invalid("days must be more than 0 and at most 60", param="days")
        settled = bank_clock.advance(self.sb, days)
        return {"settled": settled, "offset_days": self.sb.store.table("bank_clock")["offset"] / 86_400}

    def revoke_mandate(self, body: Obj, id: str) -> Obj:
        """The donor cancels their Direct Debit at their bank: the mandate becomes inactive."""
        mandate = self._obj(id, "mandate")
        with self.sb.store.lock:
            if mandate["status"] != "active":
                raise invalid(f"Mandate {id} is {mandate['status']}.", param="mandate")
            payments.revoke_mandate(self.sb, id, body.get("reason") or "debit_not_authorized")
        return mandate

    def advance_subscription(self, body: Obj, id: str) -> Obj:
        outcome = body.get("outcome", "paid")
        if outcome not in ("paid", "failed"):
            raise invalid("outcome must be paid or failed", param="outcome")
        return subscriptions.advance(self.sb, self._obj(id, "subscription"), outcome == "paid")

    def cancel_subscription(self, body: Obj, id: str) -> Obj:
        return subscriptions.cancel(self.sb, self._obj(id, "subscription"))

    def retry_invoice(self, body: Obj, id: str) -> Obj:
        outcome = body.get("outcome", "paid")
        if outcome not in ("paid", "failed"):
            raise invalid("outcome must be paid or failed", param="outcome")
        return subscriptions.retry_invoice(self.sb, self._obj(id, "invoice"), outcome == "paid")

    def settle_invoice_debit(self, body: Obj, id: str) -> Obj:
        """The bank's answer to a renewal's debit, now: ``succeeded``/``failed`` (default: as chosen)."""
        return subscriptions.settle_renewal_debit(self.sb, self._obj(id, "invoice"), body.get("outcome"))

    def settle_balance(self, body: Obj) -> Obj:
        return {"settled": ledger.settle_pending(self.sb), "balance": ledger.balance(self.sb)}

    def payout(self, body: Obj) -> Obj:
        if body.get("settle_pending", True) not in (False, "false", "0"):
            ledger.settle_pending(self.sb)
        amount = body.get("amount")
        return {"data": ledger.pay_out(self.sb, body.get("currency"), body.get("kind") or "automatic",
                                       None if amount is None else int(amount), body.get("account"))}  # fmt: skip

    def webhooks(self, body: Obj) -> Obj:
        d = self.sb.events.deliverer
        return {"urls": list(d.urls), "duplicate": d.duplicate, "out_of_order": d.out_of_order,
                "delay": d.delay, "api_version": self.sb.events.api_version}  # fmt: skip

    def configure_webhooks(self, body: Obj) -> Obj:
        switches = {k: body[k] for k in ("duplicate", "out_of_order", "delay") if k in body}
        if "api_version" in body:
            self.sb.events.api_version = body["api_version"] or API_VERSION
        if switches:
            self.sb.events.deliverer.configure(**switches)
        if "urls" in body or "secrets" in body:
            urls = body.get("urls", list(self.sb.events.urls))
            secrets = body.get("secrets") or list(self.sb.options.secrets()) or ["whsec_sandbox"]
            self.sb.events.set_endpoints(urls, secrets)
        return self.webhooks({})

    def wait_webhooks(self, body: Obj) -> Obj:
        return {"idle": self.sb.events.deliverer.wait_idle(float(body.get("timeout", 10)))}

    def webhook_attempts(self, body: Obj) -> Obj:
        records = self.sb.store.table("deliveries")
        if body.get("event"):
            records = {body["event"]: records.get(body["event"], {"attempts": []})}
        return {"data": [a for r in records.values() for a in r["attempts"]]}

    def faults(self, body: Obj) -> Obj:
        f = self.sb.faults
        return {"data": f.describe(), "latency_ms": f.latency_ms, "rate_limit": f.rate_limit}

    def add_fault(self, body: Obj) -> Obj:
        seconds = body.get("seconds")
        self.sb.faults.add(
            Fault(
                mode=body.get("mode", "error"),
                remaining=int(body.get("count", 1)),
                path_prefix=body.get("path_prefix") or "/v1/",
                method=body.get("method"),
                status=int(body.get("status", 500)),
                seconds=None if seconds is None else float(seconds),
                drop=bool(body.get("drop", True)),
            )
        )
        return self.faults({})

    def clear_faults(self, body: Obj) -> Obj:
        self.sb.faults.clear()
        return self.faults({})

    def release_hangs(self, body: Obj) -> Obj:
        self.sb.faults.release_all()
        return self.faults({})

    def settings(self, body: Obj) -> Obj:
        o = self.sb.options
        return {
            "latency_ms": self.sb.faults.latency_ms,
            "rate_limit": self.sb.faults.rate_limit,
            "async_settle_seconds": o.async_settle_seconds,
            "available_after_days": o.available_after_days,
            "fees": {c: {"percent": f.percent, "fixed": f.fixed} for c, f in o.fees.items()},
            "settlement_currency": o.settlement_currency,
            "exchange_rates": dict(o.exchange_rates),
        }

    def update_settings(self, body: Obj) -> Obj:
        o = self.sb.options
        if "latency_ms" in body:
            self.sb.faults.latency_ms = float(body["latency_ms"])
        if "rate_limit" in body:
            self.sb.faults.rate_limit = int(body["rate_limit"])
        if "async_settle_seconds" in body:
            value = body["async_settle_seconds"]
            o.async_settle_seconds = None if value in (None, "") else float(value)
        if "available_after_days" in body:
            o.available_after_days = int(body["available_after_days"])
        if "settlement_currency" in body:
            value = body["settlement_currency"]
            o.settlement_currency = str(value).lower() if value else None
        for currency, rate in (body.get("exchange_rates") or {}).items():
            o.exchange_rates[str(currency).lower()] = float(rate)
        for spec in body.get("fees", []):
            currency, fee = parse_fee(spec)
            o.fees[currency] = fee
        return self.settings({})


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, indent=2), status=status, mimetype="application/json")
