"""Finance API: the webhook log, donations, payments export, reconciliation, payouts, discrepancies.

Every view is one call and its rendering: arguments validated by a schema, then one function of
``service.finance.use_cases`` (who may see it, scope, filters, audit, the CSV choice), then a
schema out or a streamed CSV. The HTML pages call the same functions.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from schemas.base import ErrorSchema
from schemas.finance import (
    AccountingImportArgs,
    DiscrepancyArgs,
    DonationDetailSchema,
    DonationListArgs,
    DonationPageSchema,
    EventDetailSchema,
    EventListArgs,
    EventPageSchema,
    MonthEndArgs,
    MonthEndSchema,
    PaymentExportArgs,
    PayoutDetailArgs,
    PayoutListArgs,
    ReconciliationArgs,
    ReconciliationSchema,
)
from schemas.finance_discrepancies import DiscrepanciesSchema, ReplaySchema
from schemas.finance_monthly import MonthlyGiftsArgs, MonthlyGiftsSchema
from schemas.finance_payouts import PayoutDetailSchema, PayoutPageSchema
from schemas.gift_aid import GiftAidExportArgs
from schemas.match_funding import FunderReportArgs, FunderReportSchema

from ..finance import auth, use_cases
from ..finance.csv_download import stream, wants_csv
from ..finance.reports import donations

blp = Blueprint(
    "finance_api",
    __name__,
    url_prefix="/api/v1/finance",
    description="Finance reports for reconciliation (bearer token; see docs/finance.md)",
)
blp.before_request(auth.load_bearer)
blp.after_request(auth.add_challenge)
SECURITY = [{"financeToken": []}]
ERRORS = (
    (401, "No, wrong, expired or revoked token"),
    (403, "The token's role or appeals do not allow this"),
)


# What a list or report answers with ?format=csv or Accept: text/csv (columns: docs/finance.md).
CSV_BODY = {
    "type": "string",
    "description": "CSV (RFC 4180) with a header row, every matching row, oldest first.",
}


def csv_answer(
    description: str = "JSON; or, with ?format=csv or Accept: text/csv, every matching row as CSV",
) -> Any:
    """Document the text/csv variant of an operation's 200 answer next to (or instead of) its JSON."""
    return blp.alt_response(
        200, schema=CSV_BODY, content_type="text/csv", description=description, success=True
    )


def documented(func: Any) -> Any:
    func = blp.doc(security=SECURITY)(func)
    for status, description in ERRORS:
        func = blp.alt_response(status, schema=ErrorSchema, description=description)(func)
    return blp.alt_response(422, schema=ErrorSchema, description="Invalid filters")(func)


def _answer(result: Any) -> Any:
    """An export streams as CSV; anything else is the view's JSON."""
    return stream(result) if isinstance(result, use_cases.Export) else result


def _listing(result: use_cases.Listing | use_cases.Export) -> Any:
    if isinstance(result, use_cases.Export):
        return stream(result)
    return {"data": [dict(r._mapping) for r in result.page.items], "next_cursor": result.page.next_cursor}


@blp.route("/webhook-events")
class EventList(MethodView):
    @blp.arguments(EventListArgs, location="query", unknown=RAISE)
    @blp.response(200, EventPageSchema)
    @csv_answer()
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """The webhook delivery log, newest first (CSV: every matching row, oldest first)."""
        return _listing(use_cases.event_list(args, wants_csv(args)))


@blp.route("/webhook-events/<int:event_id>")
class EventDetail(MethodView):
    @blp.response(200, EventDetailSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @documented
    def get(self, event_id: int) -> Any:
        """One delivery; its raw payload for accountants and admins (it holds donor details)."""
        return use_cases.event_detail(event_id)


@blp.route("/webhook-events/<int:event_id>/replay")
class EventReplay(MethodView):
    @blp.response(200, ReplaySchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @documented
    def post(self, event_id: int) -> Any:
        """Reprocess a failed, quarantined, ignored or stuck event (admin). Already-applied events are left alone."""
        return use_cases.event_replay(event_id)


@blp.route("/donations")
class DonationList(MethodView):
    @blp.arguments(DonationListArgs, location="query", unknown=RAISE)
    @blp.response(200, DonationPageSchema)
    @csv_answer()
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """Donations with fees, net, refunds, disputes and payouts; newest first."""
        result = use_cases.donation_list(args, wants_csv(args))
        if isinstance(result, use_cases.Export):
            return stream(result)
        money = result.extra["money"]
        data = [
            {**dict(r._mapping), "money": money.get(r.id, donations.money_for_empty())}
            for r in result.page.items
        ]
        return {"data": data, "next_cursor": result.page.next_cursor}


@blp.route("/donations/<donation_id>")
class DonationDetail(MethodView):
    @blp.response(200, DonationDetailSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @documented
    def get(self, donation_id: str) -> Any:
        """One donation with its payments and its timeline of Stripe events."""
        return use_cases.donation_detail(donation_id)


@blp.route("/payments")
class PaymentExport(MethodView):
    @blp.arguments(PaymentExportArgs, location="query", unknown=RAISE)
    @blp.response(200, content_type="text/csv", description="One row per payment (see docs/finance.md)")
    @csv_answer("One row per payment (see docs/finance.md)")
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """The accountant's export: one CSV row per payment paid in the range (default: 30 days)."""
        return stream(use_cases.payment_export(args))


@blp.route("/gift-aid")
class GiftAidExport(MethodView):
    @blp.arguments(GiftAidExportArgs, location="query", unknown=RAISE)
    @blp.response(200, content_type="text/csv", description="HMRC Charities Online Gift Aid schedule")
    @csv_answer("HMRC Charities Online Gift Aid schedule")
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """Gift-aided payments received in the range, in the columns of HMRC's claim schedule."""
        return stream(use_cases.gift_aid_export(args))


@blp.route("/reconciliation")
class Reconciliation(MethodView):
    @blp.arguments(ReconciliationArgs, location="query", unknown=RAISE)
    @blp.response(200, ReconciliationSchema)
    @csv_answer()
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """Counts, gross, refunded, disputed, fees and net per group and currency, with per-currency totals."""
        return _answer(use_cases.reconciliation_report(args, wants_csv(args)))


@blp.route("/payouts")
class PayoutList(MethodView):
    @blp.arguments(PayoutListArgs, location="query", unknown=RAISE)
    @blp.response(200, PayoutPageSchema)
    @csv_answer()
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """Bank payouts, newest first, with the net of the ledger's payments in each."""
        return _listing(use_cases.payout_list(args, wants_csv(args)))


STATEMENT_UNAVAILABLE = "Stripe could not be asked which transactions the payout carried"
NOT_ITEMISED = "A manual or instant payout: Stripe cannot say which transactions it carried (CSV only)"


@blp.route("/payouts/<payout_id>")
class PayoutDetail(MethodView):
    @blp.arguments(PayoutDetailArgs, location="query", unknown=RAISE)
    @blp.response(200, PayoutDetailSchema)
    @csv_answer("JSON; or, with ?format=csv or Accept: text/csv, the payout statement as CSV")
    @blp.alt_response(404, schema=ErrorSchema)
    @blp.alt_response(503, schema=ErrorSchema, description=STATEMENT_UNAVAILABLE)
    @blp.alt_response(409, schema=ErrorSchema, description=NOT_ITEMISED)
    @documented
    def get(self, args: dict[str, Any], payout_id: str) -> Any:
        """One payout: its payments, Stripe's statement of what it carried, and whether it adds up."""
        if wants_csv(args):
            return stream(use_cases.payout_statement_export(payout_id))
        return use_cases.payout_detail(payout_id)


@blp.route("/payouts/<payout_id>/accounting-import")
class PayoutAccountingImport(MethodView):
    @blp.arguments(AccountingImportArgs, location="query", unknown=RAISE)
    @blp.response(200, content_type="text/csv", description="The payout as lines for the books")
    @csv_answer("The payout as lines for the books (docs/finance.md, Accounting imports)")
    @blp.alt_response(404, schema=ErrorSchema)
    @blp.alt_response(503, schema=ErrorSchema, description=STATEMENT_UNAVAILABLE)
    @blp.alt_response(409, schema=ErrorSchema, description=NOT_ITEMISED)
    @documented
    def get(self, args: dict[str, Any], payout_id: str) -> Any:
        """A payout as a Xero bank statement or a QuickBooks Online bank CSV: income by appeal, fees,
        refunds, disputes and the payout to the bank on lines of their own (accountant)."""
        return stream(use_cases.accounting_import(payout_id, args["software"]))


@blp.route("/discrepancies")
class Discrepancies(MethodView):
    @blp.arguments(DiscrepancyArgs, location="query", unknown=RAISE)
    @blp.response(200, DiscrepanciesSchema)
    @csv_answer()
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """Everything that does not add up: stale pending gifts, missing fees, mismatches, bad deliveries."""
        return _answer(use_cases.discrepancy_list(args, wants_csv(args)))


@blp.route("/monthly-gifts")
class MonthlyGifts(MethodView):
    @blp.arguments(MonthlyGiftsArgs, location="query", unknown=RAISE)
    @blp.response(200, MonthlyGiftsSchema)
    @csv_answer(
        "JSON; or, as CSV, the cancellations (view=cancellations) or the gifts at risk (view=at_risk)"
    )
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """Monthly gifts that stopped (when, who stopped them, the donor's reason) and those at risk
        now (a payment failed: Stripe is retrying, or has stopped trying)."""
        return _answer(use_cases.monthly_gifts_report(args, wants_csv(args)))


@blp.route("/month-end")
class MonthEnd(MethodView):
    @blp.arguments(MonthEndArgs, location="query", unknown=RAISE)
    @blp.response(200, MonthEndSchema)
    @csv_answer()
    @blp.alt_response(503, schema=ErrorSchema, description="Stripe could not be asked for the transactions")
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """The month per settlement currency: opening balance, gifts by appeal, fees, refunds,
        disputes and their fees, transfers, payouts and the closing balance (Stripe's balance
        summary categories)."""
        result = use_cases.month_end_report(args, wants_csv(args))
        if isinstance(result, use_cases.Export):
            return stream(result)
        lines = [line for block in result.currencies.values() for line in block]
        return {"month": result.month, "start": result.start, "end": result.end, "lines": lines}


@blp.route("/match-funding")
class MatchFundingReport(MethodView):
    @blp.arguments(FunderReportArgs, location="query", unknown=RAISE)
    @blp.response(200, FunderReportSchema)
    @csv_answer("JSON; or, as CSV, one row per eligible gift (view=gifts) or totals per period (view=totals)")
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """The funder's report: eligible gifts with their evidence, totals per period, each cap's use.

        No donor's name, email or address: only what the funder's rules need (docs/finance.md).
        """
        return _answer(use_cases.match_funding_report(args, wants_csv(args)))


def document_finance_token(api: Any) -> None:
    """The finance endpoints' bearer-token scheme, in the one OpenAPI document."""
    api.spec.components.security_scheme(
        "financeToken",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "A finance token from `flask finance tokens create`.",
        },
    )
