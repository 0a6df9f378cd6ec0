"""Finance API: the webhook log, donations, payments export, reconciliation, payouts, discrepancies.

Every view is thin: arguments validated by a schema, a scope from the token, one report call,
an audit entry, a schema out (or a streamed CSV). Reports live in ``service.finance.reports``.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from schemas.base import ErrorSchema
from schemas.finance import (
    DiscrepancyArgs,
    DonationDetailSchema,
    DonationListArgs,
    DonationPageSchema,
    EventDetailSchema,
    EventListArgs,
    EventPageSchema,
    PaymentExportArgs,
    PayoutListArgs,
    ReconciliationArgs,
    ReconciliationSchema,
)
from schemas.finance_discrepancies import DiscrepanciesSchema, ReplaySchema
from schemas.finance_payouts import PayoutDetailSchema, PayoutPageSchema
from schemas.gift_aid import GiftAidExportArgs
from schemas.match_funding import FunderReportArgs, FunderReportSchema

from .. import db, gift_aid
from ..finance import auth, replay
from ..finance.http import csv_response, date_range, dict_rows, query_rows, wants_csv
from ..finance.models import Role
from ..finance.reports import discrepancies, donations, events, export, payouts, reconciliation, scope
from ..finance.tokens import PermissionDenied
from ..matching import report as match_report

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


def _scope(appeal: str | None = None) -> scope.Scope:
    return scope.resolve(db.session(), auth.principal(), appeal)


@blp.route("/webhook-events")
class EventList(MethodView):
    @blp.arguments(EventListArgs, location="query", unknown=RAISE)
    @blp.response(200, EventPageSchema)
    @csv_answer()
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """The webhook delivery log, newest first (CSV: every matching row, oldest first)."""
        auth.require(Role.VIEWER)
        filters = events.EventFilters(**{k: args.get(k) for k in events.EventFilters.__dataclass_fields__})
        if wants_csv(args):
            header, query = events.export(_scope(), filters)
            return csv_response("webhook-events", args, header, query_rows(query))
        page = events.list_events(db.session(), _scope(), filters, args.get("cursor"), args["limit"])
        auth.log_read("webhook-events.list", args, len(page.items))
        return {"data": [dict(r._mapping) for r in page.items], "next_cursor": page.next_cursor}


@blp.route("/webhook-events/<int:event_id>")
class EventDetail(MethodView):
    @blp.response(200, EventDetailSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @documented
    def get(self, event_id: int) -> Any:
        """One delivery; its raw payload for accountants and admins (it holds donor details)."""
        auth.require(Role.VIEWER)
        item = events.get_event(db.session(), _scope(), event_id)
        auth.log_read("webhook-events.get", {"id": event_id}, 1)
        return item


@blp.route("/webhook-events/<int:event_id>/replay")
class EventReplay(MethodView):
    @blp.response(200, ReplaySchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @documented
    def post(self, event_id: int) -> Any:
        """Reprocess a failed, quarantined, ignored or stuck event (admin). Already-applied events are left alone."""
        auth.require(Role.ADMIN)
        database = db.database()
        result = replay.replay(
            database.sessionmaker,
            current_app.extensions["stripe_gateway"],
            current_app.extensions["settings"],
            event_id,
        )
        auth.log_read("webhook-events.replay", {"id": event_id, "outcome": result["outcome"]}, 1)
        return result


@blp.route("/donations")
class DonationList(MethodView):
    @blp.arguments(DonationListArgs, location="query", unknown=RAISE)
    @blp.response(200, DonationPageSchema)
    @csv_answer()
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """Donations with fees, net, refunds, disputes and payouts; newest first."""
        auth.require(Role.VIEWER)
        filters = donations.DonationFilters(
            **{k: args.get(k) for k in donations.DonationFilters.__dataclass_fields__}
        )
        report_scope = _scope(args.get("appeal"))
        if wants_csv(args):
            header, query = donations.export(report_scope, filters)
            return csv_response("donations", args, header, query_rows(query))
        page, money = donations.list_donations(
            db.session(), report_scope, filters, args.get("cursor"), args["limit"]
        )
        auth.log_read("donations.list", args, len(page.items))
        data = [
            {**dict(r._mapping), "money": money.get(r.id, donations.money_for_empty())} for r in page.items
        ]
        return {"data": data, "next_cursor": page.next_cursor}


@blp.route("/donations/<donation_id>")
class DonationDetail(MethodView):
    @blp.response(200, DonationDetailSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @documented
    def get(self, donation_id: str) -> Any:
        """One donation with its payments and its timeline of Stripe events."""
        auth.require(Role.VIEWER)
        item = donations.get_donation(db.session(), _scope(), donation_id)
        auth.log_read("donations.get", {"id": donation_id}, 1)
        return item


@blp.route("/payments")
class PaymentExport(MethodView):
    @blp.arguments(PaymentExportArgs, location="query", unknown=RAISE)
    @blp.response(200, content_type="text/csv", description="One row per payment (see docs/finance.md)")
    @csv_answer("One row per payment (see docs/finance.md)")
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """The accountant's export: one CSV row per payment paid in the range (default: 30 days)."""
        auth.require(Role.ACCOUNTANT)
        start, end = date_range(args.get("start"), args.get("end"))
        filters = export.PaymentFilters(start=start, end=end, currency=args.get("currency"))
        report_scope = _scope(args.get("appeal"))
        return csv_response(
            "payments",
            {**args, "start": start, "end": end},
            export.header(),
            lambda connection: export.payment_rows(connection, report_scope, filters),
        )


@blp.route("/gift-aid")
class GiftAidExport(MethodView):
    @blp.arguments(GiftAidExportArgs, location="query", unknown=RAISE)
    @blp.response(200, content_type="text/csv", description="HMRC Charities Online Gift Aid schedule")
    @csv_answer("HMRC Charities Online Gift Aid schedule")
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """Gift-aided payments received in the range, in the columns of HMRC's claim schedule."""
        auth.require(Role.ACCOUNTANT)
        start, end = date_range(args.get("start"), args.get("end"))
        report_scope = _scope(args.get("appeal"))
        if not report_scope.personal_data:
            raise PermissionDenied("The Gift Aid schedule holds donors' names and home addresses.")
        lower, upper = scope.day_bounds(start, end)
        return csv_response(
            "gift_aid",
            {**args, "start": start, "end": end},
            gift_aid.SCHEDULE_COLUMNS,
            lambda connection: gift_aid.schedule_cells(connection, lower, upper, report_scope.appeal_ids),
        )


@blp.route("/reconciliation")
class Reconciliation(MethodView):
    @blp.arguments(ReconciliationArgs, location="query", unknown=RAISE)
    @blp.response(200, ReconciliationSchema)
    @csv_answer()
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """Counts, gross, refunded, disputed, fees and net per group and currency, with per-currency totals."""
        auth.require(Role.VIEWER)
        start, end = date_range(args.get("start"), args.get("end"))
        filters = reconciliation.ReconciliationFilters(start=start, end=end, group_by=args["group_by"])
        result = reconciliation.report(db.session(), _scope(args.get("appeal")), filters)
        audit_filters = {**args, "start": start, "end": end}
        if wants_csv(args):
            columns = ["key", "currency", *reconciliation.FIGURES]
            return csv_response(
                "reconciliation", audit_filters, columns, dict_rows(result["groups"], columns)
            )
        auth.log_read("reconciliation", audit_filters, len(result["groups"]))
        return result


@blp.route("/payouts")
class PayoutList(MethodView):
    @blp.arguments(PayoutListArgs, location="query", unknown=RAISE)
    @blp.response(200, PayoutPageSchema)
    @csv_answer()
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """Bank payouts, newest first, with the net of the ledger's payments in each."""
        auth.require(Role.VIEWER)
        auth.require_all_appeals()
        page = payouts.list_payouts(
            db.session(),
            args.get("start"),
            args.get("end"),
            args.get("currency"),
            args.get("cursor"),
            args["limit"],
        )
        data = [dict(r._mapping) for r in page.items]
        if wants_csv(args):
            columns = list(payouts.LIST_KEYS)
            return csv_response("payouts", args, columns, dict_rows(data, columns))
        auth.log_read("payouts.list", args, len(data))
        return {"data": data, "next_cursor": page.next_cursor}


@blp.route("/payouts/<payout_id>")
class PayoutDetail(MethodView):
    @blp.response(200, PayoutDetailSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @documented
    def get(self, payout_id: str) -> Any:
        """One payout: its payments, Stripe's statement of what it carried, and whether it adds up."""
        auth.require(Role.VIEWER)
        auth.require_all_appeals()
        item = payouts.get_payout(db.session(), payout_id, current_app.extensions["stripe_gateway"])
        auth.log_read("payouts.get", {"id": payout_id}, len(item["payments"]))
        return item


@blp.route("/discrepancies")
class Discrepancies(MethodView):
    @blp.arguments(DiscrepancyArgs, location="query", unknown=RAISE)
    @blp.response(200, DiscrepanciesSchema)
    @csv_answer()
    @documented
    def get(self, args: dict[str, Any]) -> Any:
        """Everything that does not add up: stale pending gifts, missing fees, mismatches, bad deliveries."""
        auth.require(Role.VIEWER)
        result = discrepancies.find_all(db.session(), _scope(args.get("appeal")))
        if wants_csv(args):
            columns = ["kind", "donation_id", "event_id", "at", "detail"]
            return csv_response("discrepancies", args, columns, dict_rows(result["items"], columns))
        auth.log_read("discrepancies", args, len(result["items"]))
        return result


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
        auth.require(Role.ACCOUNTANT)
        filters = match_report.FunderFilters(
            funder=args.get("funder"), start=args.get("start"), end=args.get("end"), period=args["period"]
        )
        result = match_report.funder_report(db.session(), _scope(args.get("appeal")), filters)
        if wants_csv(args):
            totals = args["view"] == "totals"
            columns = match_report.TOTAL_COLUMNS if totals else match_report.GIFT_COLUMNS
            rows = result["totals"] if totals else result["gifts"]
            return csv_response(f"match_funding.{args['view']}", args, columns, dict_rows(rows, columns))
        auth.log_read("match_funding", args, len(result["gifts"]))
        return result


def register(api: Any) -> None:
    """Add the finance endpoints and their bearer-token scheme to the one OpenAPI document."""
    api.spec.components.security_scheme(
        "financeToken",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "A finance token from `flask finance tokens create`.",
        },
    )
    api.register_blueprint(blp)
