"""Finance use cases: what each finance view does, once, for the JSON API and the HTML pages.

Each function is one view's work with the request already parsed: who may see it (role and
appeal checks), the scope of appeals the token reaches, the report's filters, the audit entry,
and the choice between an on-screen answer and a CSV export. ``service.api.finance`` renders the
answer as JSON and ``service.pages.finance`` as HTML; an export comes back as an ``Export`` that
``service.finance.csv_download.stream`` turns into a download (the audit entry for an export is written
there, before its first byte, so an export cut short is still on record).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from .. import db, extensions
from ..donations.models import Donation, DonationStatus
from ..errors import DomainError
from ..models import Appeal, utcnow
from ..stripe_gateway import StripeGatewayError
from . import auth, chart, csv_columns, replay
from .models import Role
from .pagination import Page
from .reports import (
    accounting,
    discrepancies,
    donations,
    events,
    export,
    gift_aid_schedule,
    month_end,
    monthly_gifts,
    payouts,
    pending_debits,
    reconciliation,
    scope,
    statement,
)
from .reports import match_funding as match_report
from .tokens import PermissionDenied

# Money figures of the reports' CSVs and the row key naming each one's currency: what donors
# gave in the charge's currency, what the Stripe balance booked in the settlement currency.
MONEY_CURRENCY = {
    "gross": "currency",
    "refunded": "currency",
    "disputed": "currency",
    "settlement_gross": "settlement_currency",
    "fees": "settlement_currency",
    "net": "settlement_currency",
    "settlement_refunded": "settlement_currency",
    "settlement_disputed": "settlement_currency",
    "balance": "settlement_currency",
}
# The payouts list: money in the payout's currency; header names that say what each holds.
PAYOUT_NAMES = {
    "id": "ledger_id",
    "stripe_payout_id": "payout",
    "stripe_created_at": "created_at",
    "payment_count": "payments_in_payout",
    "payments_net": "ledger_payments_net",
    "transfers_amount": "transfers_received",
}
PAYOUT_MONEY = ("amount", "payments_net", "transfers_amount")


def reconciliation_columns(group_by: str) -> list[csv_columns.Column]:
    """The group's own name for the key (appeal, day, source), then every figure, money twice."""
    columns = [] if group_by == "currency" else [csv_columns.Column(group_by, "key")]
    columns.append(csv_columns.Column("currency", "currency"))
    for figure in reconciliation.FIGURES:
        columns.append(csv_columns.Column(figure, figure, MONEY_CURRENCY.get(figure)))
    return columns


def payout_columns() -> list[csv_columns.Column]:
    return [
        csv_columns.Column(PAYOUT_NAMES.get(key, key), key, "currency" if key in PAYOUT_MONEY else None)
        for key in payouts.LIST_KEYS
    ]


DISCREPANCY_COLUMNS = ["kind", "donation_id", "event_id", "at", "detail"]
# A report asked for without dates covers the last 30 days, today included.
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Export:
    """A CSV to stream: what it is (audit action and file name), the filters it was asked with,
    the period it covers (for the file name), its header and a function giving its rows on a
    database connection of the export's own."""

    name: str
    filters: dict[str, Any]
    header: Sequence[str]
    rows: Callable[[Any], Iterable[Sequence[Any]]]
    period: tuple[date | None, date | None] = (None, None)
    # The file's name before its period, when it is not the audit action's (a payout's id).
    file_stem: str | None = None


@dataclass(frozen=True)
class Listing:
    """One page of a list: its rows and the cursor to the next page."""

    page: Page
    extra: dict[str, Any]


def _scope(appeal: str | None = None) -> scope.Scope:
    return scope.resolve(db.session(), auth.principal(), appeal)


def _filters(kind: type, args: dict[str, Any]) -> Any:
    """A report's filter dataclass from parsed arguments (fields the arguments lack are None)."""
    return kind(**{field.name: args.get(field.name) for field in fields(kind)})


def _query_rows(query: Any) -> Callable[[Any], Iterable[Sequence[Any]]]:
    return lambda connection: export.stream_query(connection, query)


def _dict_rows(
    items: Iterable[dict[str, Any]], columns: Sequence[str]
) -> Callable[[Any], Iterable[list[Any]]]:
    def rows(_connection: Any) -> Iterable[list[Any]]:
        for item in items:
            yield [item.get(column) for column in columns]

    return rows


def require_export() -> None:
    """Exports need the accountant role: they leave the service as files."""
    who = auth.principal()
    if not who.has_role(Role.ACCOUNTANT):
        raise PermissionDenied(
            f"Downloading exports needs an accountant or admin token; this token is a {who.role}, "
            "which can read the reports on screen but not download them."
        )


def _export(
    name: str, filters: dict[str, Any], header: Sequence[str], rows: Any, period: Any = None
) -> Export:
    require_export()
    return Export(name, filters, header, rows, period or (filters.get("start"), filters.get("end")))


def date_range(start: date | None, end: date | None) -> tuple[date, date]:
    """The asked-for range, filling a missing end with today and a missing start with 30 days before."""
    end = end or utcnow().date()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    return start, end


# --- the webhook log -------------------------------------------------------------------------


def event_list(args: dict[str, Any], as_csv: bool) -> Listing | Export:
    auth.require(Role.VIEWER)
    filters = _filters(events.EventFilters, args)
    if as_csv:
        header, query = events.export(_scope(), filters)
        return _export("webhook-events", args, header, _query_rows(query))
    page = events.list_events(db.session(), _scope(), filters, args.get("cursor"), args.get("limit", 50))
    auth.log_read("webhook-events.list", args, len(page.items))
    return Listing(page, {})


def event_detail(event_id: int) -> dict[str, Any]:
    auth.require(Role.VIEWER)
    item = events.get_event(db.session(), _scope(), event_id)
    auth.log_read("webhook-events.get", {"id": event_id}, 1)
    return item


def event_replay(event_id: int) -> dict[str, Any]:
    auth.require(Role.ADMIN)
    result = replay.replay(
        db.database().sessionmaker,
        extensions.stripe_gateway(),
        extensions.settings(),
        event_id,
    )
    auth.log_read("webhook-events.replay", {"id": event_id, "outcome": result["outcome"]}, 1)
    return result


# --- donations and payments ------------------------------------------------------------------


def donation_filters(args: dict[str, Any]) -> donations.DonationFilters:
    """The list's filters; abandoned checkouts left out unless asked for (by flag or by status)."""
    hidden = () if args.get("include_abandoned") else donations.ABANDONED_STATUSES
    return replace(_filters(donations.DonationFilters, args), hidden=hidden)


def filter_choices() -> dict[str, list[str]]:
    """What the pages' dropdowns offer: the appeals this token reads and the currencies seen."""
    report_scope = _scope()
    appeals_query = select(Appeal.slug).order_by(Appeal.slug)
    currencies_query = select(Donation.currency).distinct().order_by(Donation.currency)
    if report_scope.appeal_ids is not None:
        appeals_query = appeals_query.where(report_scope.limit(Appeal.id))
        currencies_query = currencies_query.where(report_scope.limit(Donation.appeal_id))
    session = db.session()
    return {
        "appeal": list(session.scalars(appeals_query)),
        "status": list(DonationStatus.ALL),
        "currency": [code for code in session.scalars(currencies_query) if code],
        "frequency": ["one_off", "monthly"],
    }


def donation_list(args: dict[str, Any], as_csv: bool) -> Listing | Export:
    auth.require(Role.VIEWER)
    filters = donation_filters(args)
    report_scope = _scope(args.get("appeal"))
    if as_csv:
        header = csv_columns.header(donations.export_columns(report_scope))
        return _export(
            "donations",
            args,
            header,
            lambda connection: donations.export_rows(connection, report_scope, filters),
        )
    page, money = donations.list_donations(
        db.session(), report_scope, filters, args.get("cursor"), args.get("limit", 50)
    )
    auth.log_read("donations.list", args, len(page.items))
    return Listing(page, {"money": money})


def donation_detail(donation_id: str) -> dict[str, Any]:
    auth.require(Role.VIEWER)
    item = donations.get_donation(db.session(), _scope(), donation_id)
    auth.log_read("donations.get", {"id": donation_id}, 1)
    return item


def payment_export(args: dict[str, Any]) -> Export:
    """The accountant's export: one row per payment paid in the range (default: 30 days)."""
    start, end = date_range(args.get("start"), args.get("end"))
    filters = export.PaymentFilters(start=start, end=end, currency=args.get("currency"))
    report_scope = _scope(args.get("appeal"))
    return _export(
        "payments",
        {**args, "start": start, "end": end},
        export.header(),
        lambda connection: export.payment_rows(connection, report_scope, filters),
    )


def gift_aid_export(args: dict[str, Any]) -> Export:
    start, end = date_range(args.get("start"), args.get("end"))
    require_export()
    report_scope = _scope(args.get("appeal"))
    if not report_scope.personal_data:
        raise PermissionDenied("The Gift Aid schedule holds donors' names and home addresses.")
    lower, upper = scope.day_bounds(start, end)
    return _export(
        "gift_aid",
        {**args, "start": start, "end": end},
        gift_aid_schedule.SCHEDULE_COLUMNS,
        lambda connection: gift_aid_schedule.schedule_cells(
            connection, lower, upper, report_scope.appeal_ids
        ),
    )


# --- reconciliation and the dashboard --------------------------------------------------------


def reconciliation_report(args: dict[str, Any], as_csv: bool) -> dict[str, Any] | Export:
    auth.require(Role.VIEWER)
    start, end = date_range(args.get("start"), args.get("end"))
    filters = reconciliation.ReconciliationFilters(
        start=start, end=end, group_by=args.get("group_by", "appeal")
    )
    audit_filters = {**args, "start": start, "end": end}
    if as_csv:
        require_export()
    result = reconciliation.report(db.session(), _scope(args.get("appeal")), filters)
    if as_csv:
        columns = reconciliation_columns(filters.group_by)
        rows = [csv_columns.cells(columns, line) for line in result["groups"]]
        return _export("reconciliation", audit_filters, csv_columns.header(columns), lambda _c: rows)
    auth.log_read("reconciliation", audit_filters, len(result["groups"]))
    return result


def dashboard(args: dict[str, Any]) -> dict[str, Any]:
    """Totals by appeal, a chart per currency of gross per day, and how many discrepancies."""
    auth.require(Role.VIEWER)
    start, end = date_range(args.get("start"), args.get("end"))
    report_scope = _scope(args.get("appeal"))
    by_appeal = reconciliation.report(
        db.session(), report_scope, reconciliation.ReconciliationFilters(start, end, "appeal")
    )
    by_day = reconciliation.report(
        db.session(), report_scope, reconciliation.ReconciliationFilters(start, end, "day")
    )
    days = chart.days_between(start, end)
    series: dict[str, dict[str, int]] = defaultdict(dict)
    for line in by_day["groups"]:
        series[line["currency"]][line["key"]] = line["gross"]
    charts = [
        (
            code,
            chart.bar_chart(
                f"Gross donations per day in {code.upper()}, {start} to {end}", days, values, code
            ),
        )
        for code, values in sorted(series.items())
    ]
    found = discrepancies.find_all(db.session(), report_scope, limit=50)
    debits = pending_debits.report(db.session(), report_scope)
    at_risk = pending_debits.mandates_at_risk(db.session(), report_scope)
    auth.log_read(
        "dashboard", {"start": start, "end": end, "appeal": args.get("appeal")}, len(by_appeal["groups"])
    )
    return {
        "report": by_appeal,
        "charts": charts,
        "start": start,
        "end": end,
        "discrepancy_count": sum(found["counts"].values()),
        "pending_debits": debits,
        "mandates_at_risk": at_risk,
    }


# --- payouts and discrepancies ---------------------------------------------------------------


def payout_list(args: dict[str, Any], as_csv: bool) -> Listing | Export:
    auth.require(Role.VIEWER)
    auth.require_all_appeals()
    page = payouts.list_payouts(
        db.session(),
        args.get("start"),
        args.get("end"),
        args.get("currency"),
        args.get("cursor"),
        args.get("limit", 50),
    )
    if as_csv:
        columns = payout_columns()
        rows = [csv_columns.cells(columns, r._mapping) for r in page.items]
        return _export("payouts", args, csv_columns.header(columns), lambda _c: rows)
    auth.log_read("payouts.list", args, len(page.items))
    return Listing(page, {})


class _Remembered:
    """The Stripe gateway for one payout's detail, keeping the transactions it answered, so the
    refund, dispute and transfer lines can be matched to their donations without a second call."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self.transactions: list[dict[str, Any]] = []

    def payout_balance_transactions(self, payout_id: str, account: str | None = None) -> list[dict[str, Any]]:
        self.transactions = self.gateway.payout_balance_transactions(payout_id, account)
        return self.transactions


def payout_detail(payout_id: str) -> dict[str, Any]:
    auth.require(Role.VIEWER)
    auth.require_all_appeals()
    session = db.session()
    remembered = _Remembered(extensions.stripe_gateway())
    item = payouts.get_payout(session, payout_id, remembered)
    lines = (item.get("stripe") or {}).get("transactions") or []
    if remembered.transactions and any(line.get("donation_id") is None for line in lines):
        # Stripe's statement matches only charges to payments; a refund's, a dispute's (and its
        # fee's) or a transfer's donation comes from the line's source, as on the statement.
        matcher = statement.LedgerMatch(session, remembered.transactions)
        by_id = {txn.get("id"): txn for txn in remembered.transactions}
        for line in lines:
            if line.get("donation_id") is None and line.get("id") in by_id:
                line["donation_id"] = matcher.find(by_id[line["id"]])[0]
    auth.log_read("payouts.get", {"id": payout_id}, len(item["payments"]))
    return item


def discrepancy_list(args: dict[str, Any], as_csv: bool) -> dict[str, Any] | Export:
    auth.require(Role.VIEWER)
    if as_csv:
        require_export()
    result = discrepancies.find_all(db.session(), _scope(args.get("appeal")))
    if as_csv:
        return _export(
            "discrepancies", args, DISCREPANCY_COLUMNS, _dict_rows(result["items"], DISCREPANCY_COLUMNS)
        )
    auth.log_read("discrepancies", args, len(result["items"]))
    return result


def monthly_gifts_report(args: dict[str, Any], as_csv: bool) -> dict[str, Any] | Export:
    """Monthly gifts stopped in the range (default: 30 days) and those at risk now (#14); as CSV,
    the cancellations (view=cancellations) or the gifts at risk (view=at_risk)."""
    auth.require(Role.VIEWER)
    if as_csv:
        require_export()
    start, end = date_range(args.get("start"), args.get("end"))
    lower, upper = scope.day_bounds(start, end)
    result = monthly_gifts.report(db.session(), _scope(args.get("appeal")), lower, upper)
    audit_filters = {**args, "start": start, "end": end}
    if as_csv:
        at_risk = args.get("view") == "at_risk"
        names = monthly_gifts.AT_RISK_COLUMNS if at_risk else monthly_gifts.CANCELLATION_COLUMNS
        columns = [csv_columns.Column(n, n, "currency" if n == "amount" else None) for n in names]
        lines = result["at_risk"] if at_risk else result["cancellations"]
        rows = [csv_columns.cells(columns, line) for line in lines]
        name = f"monthly-gifts.{'at_risk' if at_risk else 'cancellations'}"
        return _export(name, audit_filters, csv_columns.header(columns), lambda _c: rows)
    auth.log_read("monthly-gifts", audit_filters, len(result["cancellations"]) + len(result["at_risk"]))
    return {**result, "start": start, "end": end}


def match_funding_report(args: dict[str, Any], as_csv: bool) -> dict[str, Any] | Export:
    """The funder's report (#18): eligible gifts with their evidence, totals per period, each
    cap's use; as CSV, the gifts (view=gifts) or the totals per period (view=totals)."""
    auth.require(Role.ACCOUNTANT)
    filters = match_report.FunderFilters(
        funder=args.get("funder"), start=args.get("start"), end=args.get("end"), period=args["period"]
    )
    result = match_report.funder_report(db.session(), _scope(args.get("appeal")), filters)
    if as_csv:
        totals = args["view"] == "totals"
        columns = match_report.TOTAL_COLUMNS if totals else match_report.GIFT_COLUMNS
        rows = result["totals"] if totals else result["gifts"]
        return _export(f"match_funding.{args['view']}", args, columns, _dict_rows(rows, columns))
    auth.log_read("match_funding", args, len(result["gifts"]))
    return result


def page_export(kind: str, args: dict[str, Any]) -> Export | None:
    """The pages' export buttons (signed in by session): the API's exports by name, or None."""
    require_export()
    start, end = date_range(args.get("start"), args.get("end"))
    ranged = {"start": start, "end": end, "appeal": args.get("appeal")}
    if kind == "payments":
        return payment_export(ranged)
    if kind == "donations":
        result = donation_list(ranged, as_csv=True)
        assert isinstance(result, Export)
        return result
    if kind == "reconciliation":
        result_ = reconciliation_report({**ranged, "group_by": args.get("group_by", "appeal")}, as_csv=True)
        assert isinstance(result_, Export)
        return result_
    return None


# --- payout statements and accounting imports ------------------------------------------------


class StatementUnavailable(DomainError):
    status = 503
    code = "stripe_unavailable"
    message = (
        "Stripe could not be asked which transactions this payout carried; nothing is guessed. "
        "Try again in a minute."
    )


class NotItemised(DomainError):
    status = 409
    code = "payout_not_itemised"
    message = (
        "This payout was made by hand (manual or instant), so Stripe cannot say which transactions "
        "it carried: reconcile it against the month-end report's balance instead."
    )


def payout_statement(payout_id: str) -> statement.Statement:
    """One line per balance transaction of the payout, matched to donations and appeals."""
    auth.require(Role.VIEWER)
    auth.require_all_appeals()
    session = db.session()
    payout = payouts.get_payout(session, payout_id, None)
    if not payout.get("automatic", True):
        # docs.stripe.com/payouts/reconciliation: "You control the timing and amount of manual
        # payouts, so Stripe can't identify which transactions are included in each payout."
        raise NotItemised()
    gateway = extensions.stripe_gateway()
    try:
        transactions = gateway.payout_balance_transactions(payout_id, payout.get("account"))
    except StripeGatewayError as exc:
        raise StatementUnavailable() from exc
    found = statement.build(session, payout, transactions)
    auth.log_read("payouts.statement", {"id": payout_id}, len(found.lines))
    return found


def _payout_period(found: statement.Statement) -> tuple[date | None, date | None]:
    day = found.payout.get("arrival_date")
    day = day.date() if isinstance(day, datetime) else day
    return day, day


def payout_statement_export(payout_id: str) -> Export:
    require_export()
    found = payout_statement(payout_id)
    columns = [
        csv_columns.Column(name, name, "currency" if name in statement.MONEY else None)
        for name in statement.COLUMNS
    ]
    rows = [csv_columns.cells(columns, line) for line in found.lines]
    return Export(
        "payouts.statement",
        {"id": payout_id},
        csv_columns.header(columns),
        lambda _c: rows,
        _payout_period(found),
        f"payout-statement-{payout_id}",
    )


def accounting_import(payout_id: str, software: str) -> Export:
    """A payout as a Xero bank statement or a QuickBooks Online bank CSV (docs/finance.md)."""
    require_export()
    found = payout_statement(payout_id)
    if software == "xero":
        header, rows = accounting.XERO_HEADER, accounting.xero_rows(found)
    else:
        header, rows = accounting.QUICKBOOKS_HEADER, accounting.quickbooks_rows(found)
    return Export(
        f"payouts.{software}",
        {"id": payout_id, "software": software},
        header,
        lambda _c: rows,
        _payout_period(found),
        f"{software}-{payout_id}",
    )


# --- the month-end report --------------------------------------------------------------------

MONTH_END_COLUMNS = [
    csv_columns.Column(name, name, "settlement_currency" if name == "amount" else None)
    for name in month_end.COLUMNS
]


def month_end_report(args: dict[str, Any], as_csv: bool) -> month_end.MonthEnd | Export:
    """The Stripe balance per settlement currency over a month, from Stripe's transactions."""
    auth.require(Role.VIEWER)
    auth.require_all_appeals()
    if as_csv:
        require_export()
    month = args.get("month") or utcnow().strftime("%Y-%m")
    _start, end = month_end.month_bounds(month)
    gateway = extensions.stripe_gateway()
    try:
        transactions = gateway.balance_transactions_before(month_end.timestamp(end))
    except StripeGatewayError as exc:
        raise StatementUnavailable(
            "Stripe could not be asked for the month's balance transactions; nothing is guessed. "
            "Try again in a minute."
        ) from exc
    report = month_end.build(db.session(), month, transactions)
    audit_filters = {"month": month}
    if as_csv:
        rows = [
            csv_columns.cells(MONTH_END_COLUMNS, line)
            for lines in report.currencies.values()
            for line in lines
        ]
        last_day = report.end - timedelta(days=1)
        return _export(
            "month-end",
            audit_filters,
            csv_columns.header(MONTH_END_COLUMNS),
            lambda _c: rows,
            (report.start, last_day),
        )
    auth.log_read("month-end", audit_filters, sum(len(lines) for lines in report.currencies.values()))
    return report
