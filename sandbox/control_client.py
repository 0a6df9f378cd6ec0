"""``SandboxControl``: a small client for the sandbox's /_sandbox scenario controls,
so tests, benchmarks and the demo never hand-build control URLs."""

from __future__ import annotations

import time
from typing import Any

import requests

Obj = dict[str, Any]


class SandboxError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else body
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body


class SandboxControl:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def _call(self, verb: str, route: str, body: Obj | None = None, /, **query: Any) -> Any:
        resp = self._http.request(
            verb,
            f"{self.base_url}/_sandbox{route}",
            json={k: v for k, v in (body or {}).items() if v is not None} if body else None,
            params={k: v for k, v in query.items() if v is not None},
            timeout=self.timeout,
        )
        data = resp.json()
        if resp.status_code >= 400:
            raise SandboxError(resp.status_code, data)
        return data

    # -- state ------------------------------------------------------------------
    def health(self) -> Obj:
        return self._call("GET", "/health")

    def wait_until_ready(self, timeout: float = 15.0) -> None:
        """Poll /_sandbox/health until the server answers (start-up takes a second or two)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.health()
                return
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def reset(self) -> None:
        """Forget all objects, events, idempotency keys, recorded requests and faults."""
        self._call("POST", "/reset")

    def requests(self, path: str | None = None, method: str | None = None) -> list[Obj]:
        """Recorded API requests (method, path, decoded params, idempotency_key), oldest first."""
        return self._call("GET", "/requests", path=path, method=method)["data"]

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    # -- checkout ---------------------------------------------------------------
    def complete_session(
        self, session_id: str, outcome: str = "paid", *, email: str | None = None,
        async_outcome: str | None = None,
    ) -> Obj:  # fmt: skip
        """outcome: ``paid`` (card), ``async`` (bank debit, completes unpaid) or ``declined``."""
        body = {"outcome": outcome, "email": email, "async_outcome": async_outcome}
        return self._call("POST", f"/checkout/sessions/{session_id}/complete", body)

    def advance_bank_clock(self, days: float) -> Obj:
        """Let ``days`` pass at the banks: every bank debit due by then settles as chosen when paid
        (Bacs 7 business days, SEPA 8). Returns ``{"settled": [session ids], "offset_days": n}``."""
        return self._call("POST", "/bank_clock/advance", {"days": days})

    def revoke_mandate(self, mandate_id: str, reason: str | None = None) -> Obj:
        """The donor cancels the Direct Debit at their bank (mandate.updated, now inactive)."""
        return self._call("POST", f"/mandates/{mandate_id}/revoke", {"reason": reason} if reason else {})

    def settle_async_payment(self, session_id: str, outcome: str | None = None) -> Obj:
        """Finish a bank debit: ``succeeded``/``failed`` (default: as chosen when paying)."""
        return self._call("POST", f"/checkout/sessions/{session_id}/settle", {"outcome": outcome})

    def expire_session(self, session_id: str) -> Obj:
        return self._call("POST", f"/checkout/sessions/{session_id}/expire")

    # -- money after payment ----------------------------------------------------
    def refund(self, charge_or_intent: str, amount: int | None = None,
               reason: str | None = None, reverse_transfer: bool = False) -> Obj:  # fmt: skip
        """Refund; ``reverse_transfer`` also takes a destination charge's share back from the charity."""
        body = {"amount": amount, "reason": reason, "reverse_transfer": reverse_transfer}
        return self._call("POST", f"/charges/{charge_or_intent}/refund", body)

    def open_dispute(self, charge_or_intent: str, amount: int | None = None,
                     reason: str = "fraudulent", inquiry: bool = False) -> Obj:  # fmt: skip
        """A chargeback, or with ``inquiry`` an early inquiry (``warning_needs_response``)."""
        body = {"amount": amount, "reason": reason, "inquiry": inquiry}
        return self._call("POST", f"/charges/{charge_or_intent}/dispute", body)

    def close_dispute(self, dispute_id: str, outcome: str = "won") -> Obj:
        return self._call("POST", f"/disputes/{dispute_id}/close", {"outcome": outcome})

    def dispute_status(self, dispute_id: str, status: str) -> Obj:
        """Move a dispute to any status Stripe lists (warning_*, prevented, appeal_*, won after lost)."""
        return self._call("POST", f"/disputes/{dispute_id}/status", {"status": status})

    def fail_refund(self, refund_id: str) -> Obj:
        """The refund fails after charge.refunded: refund.failed and charge.refund.updated follow."""
        return self._call("POST", f"/refunds/{refund_id}/fail")

    def settle_balance(self) -> Obj:
        """Make pending balance transactions available now."""
        return self._call("POST", "/balance/settle")

    def payout(self, currency: str | None = None, settle_pending: bool = True, kind: str = "automatic",
               amount: int | None = None, account: str | None = None) -> list[Obj]:  # fmt: skip
        """Pay out the available balance (per currency); returns the payouts.

        ``kind`` ``manual`` or ``instant``: one payout of ``amount`` (default: all available in
        ``currency``) that Stripe cannot itemise, as when the account holder creates it.
        ``account`` pays out that connected account's own balance (its events carry ``account``).
        """
        body = {"currency": currency, "settle_pending": settle_pending, "kind": kind, "amount": amount,
                "account": account}  # fmt: skip
        return self._call("POST", "/payouts", body)["data"]

    # -- subscriptions ----------------------------------------------------------
    def advance_subscription(self, subscription_id: str, outcome: str = "paid") -> Obj:
        """Bill the next period: ``paid`` or ``failed``; returns the new invoice. A gift paid by
        Bacs/SEPA debit on an active mandate is billed ``open``, its debit processing until the
        bank answers (bank clock, timer or ``settle_invoice_debit``) with that outcome."""
        return self._call("POST", f"/subscriptions/{subscription_id}/advance", {"outcome": outcome})

    def cancel_subscription(self, subscription_id: str) -> Obj:
        return self._call("POST", f"/subscriptions/{subscription_id}/cancel")

    def retry_invoice(self, invoice_id: str, outcome: str = "paid") -> Obj:
        """Stripe's next automatic attempt at a failed invoice: ``paid`` or ``failed`` (the 4th failure cancels)."""
        return self._call("POST", f"/invoices/{invoice_id}/retry", {"outcome": outcome})

    def settle_invoice_debit(self, invoice_id: str, outcome: str | None = None) -> Obj:
        """The bank's answer to a renewal's Bacs/SEPA debit: ``succeeded``/``failed`` (default: as
        chosen at ``advance_subscription``). The bank's clock settles it too."""
        return self._call("POST", f"/invoices/{invoice_id}/settle", {"outcome": outcome})

    # -- webhooks ---------------------------------------------------------------
    def webhooks(self) -> Obj:
        return self._call("GET", "/webhooks")

    def configure_webhooks(
        self, *, duplicate: bool | None = None, out_of_order: bool | None = None,
        delay: float | None = None, urls: list[str] | None = None,
        secrets: list[str] | None = None, api_version: str | None = None,
    ) -> Obj:  # fmt: skip
        """``api_version``: render events created from now on at this (older) version; "" for current."""
        body = {"duplicate": duplicate, "out_of_order": out_of_order, "delay": delay,
                "urls": urls, "secrets": secrets, "api_version": api_version}  # fmt: skip
        return self._call("POST", "/webhooks", body)

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """True once every queued delivery and retry has finished."""
        return self._call("POST", "/webhooks/wait", {"timeout": timeout})["idle"]

    def webhook_attempts(self, event_id: str | None = None) -> list[Obj]:
        return self._call("GET", "/webhooks/attempts", event=event_id)["data"]

    # -- faults and load --------------------------------------------------------
    def faults(self) -> Obj:
        return self._call("GET", "/faults")

    def add_fault(
        self, mode: str = "error", count: int = 1, *, path_prefix: str = "/v1/",
        method: str | None = None, status: int = 500, seconds: float | None = None,
        drop: bool = True,
    ) -> Obj:  # fmt: skip
        """mode: ``error`` (answer ``status``), ``hang`` (``seconds`` or until released),
        ``lose_response`` (do the work, then drop the connection or answer 500)."""
        body = {"mode": mode, "count": count, "path_prefix": path_prefix, "method": method,
                "status": status, "seconds": seconds, "drop": drop}  # fmt: skip
        return self._call("POST", "/faults", body)

    def fail_next(self, count: int = 1, path_prefix: str = "/v1/", status: int = 500) -> Obj:
        return self.add_fault("error", count, path_prefix=path_prefix, status=status)

    def hang_next(self, count: int = 1, path_prefix: str = "/v1/",
                  seconds: float | None = None) -> Obj:  # fmt: skip
        return self.add_fault("hang", count, path_prefix=path_prefix, seconds=seconds)

    def lose_next_response(self, count: int = 1, path_prefix: str = "/v1/",
                           drop: bool = True) -> Obj:  # fmt: skip
        return self.add_fault("lose_response", count, path_prefix=path_prefix, drop=drop)

    def release_hangs(self) -> Obj:
        return self._call("POST", "/faults/release")

    def clear_faults(self) -> Obj:
        return self._call("DELETE", "/faults")

    def settings(self) -> Obj:
        return self._call("GET", "/settings")

    def configure(
        self, *, latency_ms: float | None = None, rate_limit: int | None = None,
        async_settle_seconds: float | None = None, available_after_days: int | None = None,
        fees: list[str] | None = None, settlement_currency: str | None = None,
        exchange_rates: dict[str, float] | None = None, settle_by_timer: bool | None = None,
    ) -> Obj:  # fmt: skip
        """Change switches at runtime; ``fees`` like ``["gbp=1.5+20"]``; ``settlement_currency``
        (e.g. ``"gbp"``) converts charges in other currencies at ``exchange_rates``
        (``{"eur": 0.85}``: pounds per euro; later calls change the rate for later refunds).
        ``settle_by_timer=False`` turns the bank-debit timer off again (None means "unchanged")."""
        body = {"latency_ms": latency_ms, "rate_limit": rate_limit,
                "async_settle_seconds": async_settle_seconds,
                "available_after_days": available_after_days, "fees": fees,
                "exchange_rates": exchange_rates}  # fmt: skip
        if settlement_currency is not None:
            body["settlement_currency"] = settlement_currency
        if settle_by_timer is False:
            body["async_settle_seconds"] = ""  # the server reads "" as off
        return self._call("POST", "/settings", body)

    def close(self) -> None:
        self._http.close()
