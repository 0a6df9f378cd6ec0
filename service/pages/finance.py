"""Finance pages: sign in with a finance token, then the dashboard, webhook log, donations,
payouts and discrepancies. Plain HTML forms (GET for filters, POST with a CSRF token for
signing in and out); the reports are the same modules the API uses.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError
from werkzeug.wrappers import Response

from schemas.finance import DonationListArgs, EventListArgs, PayoutListArgs, ReconciliationArgs

from .. import db
from ..currencies import format_amount
from ..finance import auth, chart, replay
from ..finance.http import csv_response, date_range, dict_rows, query_rows
from ..finance.models import Role
from ..finance.reports import (
    discrepancies,
    donations,
    events,
    export,
    payouts,
    pending_debits,
    reconciliation,
    scope,
)
from ..finance.tokens import AuthenticationRequired

bp = Blueprint("finance_pages", __name__, url_prefix="/finance")
OPEN_ENDPOINTS = ("finance_pages.sign_in", "finance_pages.sign_in_submit")


@bp.before_request
def _signed_in() -> Response | None:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if auth.load_session() is None:
        return redirect(url_for("finance_pages.sign_in", next=request.full_path.rstrip("?")))
    if request.method == "POST" and not auth.csrf_valid(request.form.get("csrf_token")):
        abort(400)
    return None


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_template_global("money")
def money(amount: int | None, currency: str | None) -> str:
    if amount is None or not currency:
        return "–"
    return format_amount(amount, currency) if amount >= 0 else "−" + format_amount(-amount, currency)


@bp.app_template_global("finance_csrf")
def finance_csrf() -> str:
    return auth.csrf_token()


def _args(schema: Schema) -> tuple[dict[str, Any], dict[str, Any]]:
    """Query arguments through the API's schema; empty form fields count as not given."""
    raw = {k: v for k, v in request.args.items() if v != ""}
    try:
        return schema.load(raw), {}
    except ValidationError as exc:
        return {}, exc.normalized_messages()  # type: ignore[return-value]


def _scope(appeal: str | None = None) -> scope.Scope:
    return scope.resolve(db.session(), auth.principal(), appeal)


def _safe_next(target: str | None) -> str:
    # Only ever back into the finance pages: an open redirect would make the sign-in page a phishing aid.
    if target and target.startswith("/finance/") and not target.startswith("//"):
        return target
    return url_for("finance_pages.dashboard")


@bp.get("/sign-in")
def sign_in() -> Any:
    return render_template("finance/sign_in.html", next=request.args.get("next", ""), error=None)


@bp.post("/sign-in")
def sign_in_submit() -> Any:
    target = request.form.get("next", "")
    if not auth.csrf_valid(request.form.get("csrf_token")):
        error = "Your sign-in form expired. Please paste your token again."
        return render_template("finance/sign_in.html", next=target, error=error), 400
    try:
        auth.sign_in(request.form.get("token", ""))
    except AuthenticationRequired:
        error = "That token is not valid, or it has expired or been revoked."
        return render_template("finance/sign_in.html", next=target, error=error), 401
    auth.log_read("sign-in", {}, None)
    return redirect(_safe_next(target), code=303)


@bp.post("/sign-out")
def sign_out() -> Any:
    auth.sign_out()
    return redirect(url_for("finance_pages.sign_in"), code=303)


@bp.get("/")
def dashboard() -> Any:
    args, errors = _args(ReconciliationArgs())
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
    auth.log_read(
        "dashboard", {"start": start, "end": end, "appeal": args.get("appeal")}, len(by_appeal["groups"])
    )
    return render_template(
        "finance/dashboard.html",
        report=by_appeal,
        charts=charts,
        start=start,
        end=end,
        appeal=args.get("appeal") or "",
        errors=errors,
        discrepancy_count=sum(found["counts"].values()),
        pending_debits=debits,
        query=urlencode(
            {"from": start, "to": end, **({"appeal": args["appeal"]} if args.get("appeal") else {})}
        ),
    )


@bp.get("/webhook-events")
def event_list() -> Any:
    args, errors = _args(EventListArgs())
    filters = events.EventFilters(**{k: args.get(k) for k in events.EventFilters.__dataclass_fields__})
    page = events.list_events(db.session(), _scope(), filters, args.get("cursor"), args.get("limit", 50))
    auth.log_read("webhook-events.list", args, len(page.items))
    more = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template("finance/events.html", page=page, args=request.args, errors=errors, more=more)


@bp.get("/webhook-events/<int:event_id>")
def event_detail(event_id: int) -> Any:
    item = events.get_event(db.session(), _scope(), event_id)
    auth.log_read("webhook-events.get", {"id": event_id}, 1)
    return render_template("finance/event.html", event=item, replayed=request.args.get("replayed"))


@bp.post("/webhook-events/<int:event_id>/replay")
def event_replay(event_id: int) -> Any:
    """Admin only; the CSRF token was checked before this view ran."""
    auth.require(Role.ADMIN)
    result = replay.replay(
        db.database().sessionmaker,
        current_app.extensions["stripe_gateway"],
        current_app.extensions["settings"],
        event_id,
    )
    auth.log_read("webhook-events.replay", {"id": event_id, "outcome": result["outcome"]}, 1)
    return redirect(
        url_for("finance_pages.event_detail", event_id=event_id, replayed=result["outcome"]), code=303
    )


@bp.get("/donations")
def donation_list() -> Any:
    args, errors = _args(DonationListArgs())
    filters = donations.DonationFilters(
        **{k: args.get(k) for k in donations.DonationFilters.__dataclass_fields__}
    )
    page, totals = donations.list_donations(
        db.session(), _scope(args.get("appeal")), filters, args.get("cursor"), args.get("limit", 50)
    )
    auth.log_read("donations.list", args, len(page.items))
    more = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template(
        "finance/donations.html", page=page, money_by_id=totals, args=request.args, errors=errors, more=more
    )


@bp.get("/donations/<donation_id>")
def donation_detail(donation_id: str) -> Any:
    item = donations.get_donation(db.session(), _scope(), donation_id)
    auth.log_read("donations.get", {"id": donation_id}, 1)
    return render_template("finance/donation.html", d=item, personal=auth.principal().sees_personal_data)


@bp.get("/payouts")
def payout_list() -> Any:
    auth.require_all_appeals()
    args, errors = _args(PayoutListArgs())
    page = payouts.list_payouts(
        db.session(),
        args.get("start"),
        args.get("end"),
        args.get("currency"),
        args.get("cursor"),
        args.get("limit", 50),
    )
    auth.log_read("payouts.list", args, len(page.items))
    more = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template("finance/payouts.html", page=page, args=request.args, errors=errors, more=more)


@bp.get("/payouts/<payout_id>")
def payout_detail(payout_id: str) -> Any:
    auth.require_all_appeals()
    item = payouts.get_payout(db.session(), payout_id, current_app.extensions["stripe_gateway"])
    auth.log_read("payouts.get", {"id": payout_id}, len(item["payments"]))
    return render_template("finance/payout.html", p=item)


@bp.get("/discrepancies")
def discrepancy_list() -> Any:
    found = discrepancies.find_all(db.session(), _scope())
    auth.log_read("discrepancies", {}, len(found["items"]))
    return render_template("finance/discrepancies.html", found=found)


@bp.get("/export/<kind>.csv")
def export_csv(kind: str) -> Any:
    """The export buttons: the same streamed CSV as the API, signed in by session."""
    auth.require(Role.ACCOUNTANT)
    args, errors = _args(ReconciliationArgs())
    if errors:
        abort(400)
    start, end = date_range(args.get("start"), args.get("end"))
    report_scope = _scope(args.get("appeal"))
    audit_filters = {"start": start, "end": end, "appeal": args.get("appeal")}
    if kind == "payments":
        filters = export.PaymentFilters(start=start, end=end)
        rows = lambda connection: export.payment_rows(connection, report_scope, filters)  # noqa: E731
        return csv_response("payments", audit_filters, export.header(), rows)
    if kind == "donations":
        header, query = donations.export(report_scope, donations.DonationFilters(start=start, end=end))
        return csv_response("donations", audit_filters, header, query_rows(query))
    if kind == "reconciliation":
        result = reconciliation.report(
            db.session(), report_scope, reconciliation.ReconciliationFilters(start, end, args["group_by"])
        )
        columns = ["key", "currency", *reconciliation.FIGURES]
        return csv_response("reconciliation", audit_filters, columns, dict_rows(result["groups"], columns))
    abort(404)
