"""Finance pages: sign in with a finance token, then the dashboard, webhook log, donations,
payouts and discrepancies. Plain HTML forms (GET for filters, POST with a CSRF token for
signing in and out). Each view is one call to ``service.finance.use_cases`` (the same
functions the API calls) and its template.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from babel.numbers import format_currency
from flask import Blueprint, abort, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from schemas.finance import DonationListArgs, EventListArgs, MonthEndArgs, PayoutListArgs, ReconciliationArgs
from schemas.finance_monthly import MonthlyGiftsArgs

from ..currencies import to_major
from ..errors import DomainError
from ..finance import auth, use_cases
from ..finance.csv_download import stream
from ..finance.models import Role
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
    """Finance money: every decimal the currency has (£20.00 beside £0.35), the code when the
    symbol is shared ($ is also A$, C$), a real minus sign."""
    if amount is None or not currency:
        return "–"
    text = format_currency(to_major(abs(amount), currency), currency.upper(), locale="en_GB")
    return text if amount >= 0 else "−" + text


@bp.app_template_filter("utc")
def utc(value: datetime | date | None) -> str:
    """A timestamp in UTC to the second (``2026-11-25 09:30:00 UTC``); a date as it is."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return value.isoformat()


TITLES = {
    400: "That request did not work",
    403: "Not available to this token",
    404: "Not found",
    409: "No statement for this payout",
    422: "Check the filters",
    503: "Stripe could not be reached",
}


def _finance_error(status: int, message: str, fields: dict[str, Any] | None = None) -> tuple[str, int]:
    """Errors on the finance pages keep the finance layout and menu, in plain words."""
    title = TITLES.get(status, "Something went wrong")
    return render_template("finance/error.html", title=title, message=message, fields=fields), status


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Any:
    if isinstance(exc, AuthenticationRequired):
        return redirect(url_for("finance_pages.sign_in"))
    repeated = [exc.message] in list(exc.fields.values()) and len(exc.fields) == 1
    return _finance_error(exc.status, exc.message, None if repeated else exc.fields)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    if status >= 500:
        return _finance_error(status, "Something went wrong on our side. Please try again shortly.")
    messages = {
        400: "That request did not work; your sign-in form may have expired. Please go back and try again.",
        404: "There is nothing at this address. The link may be out of date.",
    }
    return _finance_error(status, messages.get(status, exc.description or exc.name))


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
    view = use_cases.dashboard(args)
    start, end = view["start"], view["end"]
    return render_template(
        "finance/dashboard.html",
        report=view["report"],
        charts=view["charts"],
        start=start,
        end=end,
        appeal=args.get("appeal") or "",
        errors=errors,
        discrepancy_count=view["discrepancy_count"],
        pending_debits=view["pending_debits"],
        mandates_at_risk=view["mandates_at_risk"],
        query=urlencode(
            {"from": start, "to": end, **({"appeal": args["appeal"]} if args.get("appeal") else {})}
        ),
    )


def _more() -> dict[str, str]:
    """The filters to carry to the next page."""
    return {k: v for k, v in request.args.items() if k != "cursor" and v}


@bp.get("/webhook-events")
def event_list() -> Any:
    args, errors = _args(EventListArgs())
    listing = use_cases.event_list(args, as_csv=False)
    assert isinstance(listing, use_cases.Listing)
    return render_template(
        "finance/events.html", page=listing.page, args=request.args, errors=errors, more=_more()
    )


@bp.get("/webhook-events/<int:event_id>")
def event_detail(event_id: int) -> Any:
    item = use_cases.event_detail(event_id)
    return render_template("finance/event.html", event=item, replayed=request.args.get("replayed"))


@bp.post("/webhook-events/<int:event_id>/replay")
def event_replay(event_id: int) -> Any:
    """Admin only; the CSRF token was checked before this view ran."""
    result = use_cases.event_replay(event_id)
    return redirect(
        url_for("finance_pages.event_detail", event_id=event_id, replayed=result["outcome"]), code=303
    )


@bp.get("/donations")
def donation_list() -> Any:
    args, errors = _args(DonationListArgs())
    listing = use_cases.donation_list(args, as_csv=False)
    assert isinstance(listing, use_cases.Listing)
    return render_template(
        "finance/donations.html",
        page=listing.page,
        money_by_id=listing.extra["money"],
        choices=use_cases.filter_choices(),
        args=request.args,
        errors=errors,
        more=_more(),
    )


@bp.get("/donations/<donation_id>")
def donation_detail(donation_id: str) -> Any:
    item = use_cases.donation_detail(donation_id)
    return render_template("finance/donation.html", d=item, personal=auth.principal().sees_personal_data)


@bp.get("/payouts")
def payout_list() -> Any:
    auth.require_all_appeals()
    args, errors = _args(PayoutListArgs())
    listing = use_cases.payout_list(args, as_csv=False)
    assert isinstance(listing, use_cases.Listing)
    return render_template(
        "finance/payouts.html", page=listing.page, args=request.args, errors=errors, more=_more()
    )


@bp.get("/payouts/<payout_id>")
def payout_detail(payout_id: str) -> Any:
    return render_template("finance/payout.html", p=use_cases.payout_detail(payout_id))


@bp.get("/payouts/<payout_id>/statement")
def payout_statement(payout_id: str) -> Any:
    found = use_cases.payout_statement(payout_id)
    can_export = auth.principal().has_role(Role.ACCOUNTANT)
    return render_template("finance/payout_statement.html", s=found, can_export=can_export)


@bp.get("/payouts/<payout_id>/statement.csv")
def payout_statement_csv(payout_id: str) -> Any:
    return stream(use_cases.payout_statement_export(payout_id))


@bp.get("/payouts/<payout_id>/<any(xero, quickbooks):software>.csv")
def payout_import(payout_id: str, software: str) -> Any:
    return stream(use_cases.accounting_import(payout_id, software))


MONTH_END_LABELS = {
    "opening_balance": "Opening balance",
    "payment": "Gifts",
    "fees": "Stripe fees",
    "refund": "Refunds",
    "refund_failure": "Failed refunds returned",
    "dispute": "Disputes (withdrawn)",
    "dispute_reversal": "Disputes won (returned)",
    "dispute_fee": "Dispute fees",
    "transfer": "Transfers to charities' Stripe accounts",
    "transfer_reversal": "Transfers reversed",
    "adjustment": "Other adjustments",
    "payouts": "Payouts to the bank",
}


@bp.get("/month-end")
def month_end() -> Any:
    args, errors = _args(MonthEndArgs())
    if errors:
        args = {}
    report = use_cases.month_end_report(args, as_csv=False)
    assert isinstance(report, use_cases.month_end.MonthEnd)
    can_export = auth.principal().has_role(Role.ACCOUNTANT)
    return render_template(
        "finance/month_end.html", report=report, labels=MONTH_END_LABELS, can_export=can_export, errors=errors
    )


@bp.get("/month-end.csv")
def month_end_csv() -> Any:
    args, errors = _args(MonthEndArgs())
    if errors:
        abort(400)
    return stream(use_cases.month_end_report(args, as_csv=True))  # type: ignore[arg-type]


@bp.get("/discrepancies")
def discrepancy_list() -> Any:
    found = use_cases.discrepancy_list({}, as_csv=False)
    return render_template("finance/discrepancies.html", found=found)


@bp.get("/monthly-gifts")
def monthly_gifts() -> Any:
    args, errors = _args(MonthlyGiftsArgs())
    found = use_cases.monthly_gifts_report(args, as_csv=False)
    return render_template(
        "finance/monthly_gifts.html",
        found=found,
        errors=errors,
        choices=use_cases.filter_choices(),
        can_export=auth.principal().has_role(Role.ACCOUNTANT),
        args=request.args,
    )


@bp.get("/monthly-gifts.csv")
def monthly_gifts_csv() -> Any:
    args, errors = _args(MonthlyGiftsArgs())
    if errors:
        abort(400)
    return stream(use_cases.monthly_gifts_report(args, as_csv=True))  # type: ignore[arg-type]


@bp.get("/<path:unknown>")
def not_a_finance_page(unknown: str) -> Any:
    """An address under /finance/ that is no page: a 404 in the finance layout, with its menu."""
    abort(404)


@bp.get("/export/<kind>.csv")
def export_csv(kind: str) -> Any:
    """The export buttons: the same streamed CSV as the API, signed in by session."""
    args, errors = _args(ReconciliationArgs())
    if errors:
        abort(400)
    found = use_cases.page_export(kind, args)
    if found is None:
        abort(404)
    return stream(found)
