"""The donate form, the thank-you page and the cancelled page.

All of it works without JavaScript: the form posts, errors re-render with field messages, and
success answers 303 to Stripe Checkout.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date
from babel.numbers import format_decimal
from flask import Blueprint, abort, redirect, render_template, request, url_for
from marshmallow import ValidationError

from schemas.donate_form import DonateFormSchema

from .. import db, donations, extensions
from ..amount_input import AmountChoiceError, chosen_amount
from ..currencies import exponent, to_major
from ..donations import confirm, monthly_offer, successors
from ..donations.models import Donation, DonationStatus
from ..donor_currency import preferred_currency
from ..errors import CheckoutUnavailable, RequestInProgress, ValidationFailed
from ..gift_aid import normalise_postcode
from ..i18n import babel_locale, current_locale, gettext, money, ngettext
from ..ledger import apply_checkout
from ..ledger.apply_context import LedgerContext
from ..manage import manage_url
from ..matching.display import asks_postcode, describe, live_offers
from ..models import Appeal, utcnow
from ..payment_methods import PAY_BY, PAY_BY_BANK_DEBIT, SCHEMES, refuse_debit, scheme_for
from ..pending_debits import pending_debit
from ..rate_limits import donation_limits, over_service_rate
from .donor_options import fee_estimate, link_options, localise_errors, options_context, request_options

bp = Blueprint("donate", __name__, url_prefix="/donate")

SOURCE_FIELDS = (
    "source_url",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)


FORM_SCHEMA = DonateFormSchema(chosen_amount=chosen_amount)  # stateless: built once, not per submission


# The WSGI environ key under which the form's fast path (service/pages/form_fast_path.py) hands the
# view what :func:`submit` gave when the answer is not its 303: the exception it raised, or
# ``Submitted(None)`` for a donation already completed. The view answers that as its own instead of
# submitting again, so nothing is created or asked of Stripe twice.
SUBMITTED = "donation_router.form_submitted"


@dataclass(frozen=True)
class Submitted:
    """What :func:`submit` returned: the 303's target, or None (the donation is already completed)."""

    target: str | None


def find_appeal(slug: str) -> Appeal | None:
    """The appeal a donate URL names, or None. The same short per-worker cache as the donation
    itself (service/appeal_cache.py), and like it only read: the shared instance, not a copy per
    request."""
    return extensions.appeal_cache().find_read_only(db.session(), slug)


def _appeal_or_404(slug: str) -> Appeal:
    appeal = find_appeal(slug)
    if appeal is None:
        abort(404)
    return appeal


def _initial_values(appeal: Appeal) -> dict[str, Any]:
    """Prefill from a publisher's link: ?amount=2500&currency=gbp&frequency=monthly&utm_source=..."""
    args = request.args
    currency = (args.get("currency") or _donors_currency(appeal)).lower()
    if currency not in appeal.currencies:
        currency = appeal.default_currency
    values: dict[str, Any] = {
        "currency": currency,
        "frequency": "monthly" if args.get("frequency") == "monthly" else "one_off",
        "pay_by": args["pay_by"] if args.get("pay_by") in PAY_BY else "checkout",
        "amount_choice": "",
        "custom_amount": "",
        "email": "",
    }
    amount = args.get("amount", "")
    if amount.isascii() and amount.isdigit() and len(amount) <= 9:
        if int(amount) in appeal.suggested_amounts.get(currency, []):
            values["amount_choice"] = amount
        else:
            values["amount_choice"] = "custom"
            # Written the way the page's language writes it ('37,00' in Ukrainian), so it reads back.
            values["custom_amount"] = format_decimal(
                to_major(int(amount), currency),
                format="0.00" if exponent(currency) else "0",
                locale=babel_locale(),
            )
    elif appeal.suggested_amounts.get(currency):
        suggestions = appeal.suggested_amounts[currency]
        values["amount_choice"] = str(suggestions[min(1, len(suggestions) - 1)])
    if values["amount_choice"] not in ("", "custom"):
        # Posted back with the form: a typed amount beside the untouched preselection wins.
        values["amount_preselected"] = values["amount_choice"]
    for key in SOURCE_FIELDS:
        value = args.get(key if key != "source_url" else "source") or args.get(key)
        if value:
            values[key] = value[:2048]
    values.update(link_options(args))
    if args.get("from"):
        values["redirected_from"] = args["from"][:64]
    if args.get("via") == "widget":
        values["via"] = "widget"  # the widget asked "how often?" already: no monthly offer
    if "referrer" not in values and request.referrer:
        values["referrer"] = request.referrer[:2048]
    if "source_url" not in values and request.referrer:
        values["source_url"] = request.referrer[:2048]
    return values


def _donors_currency(appeal: Appeal) -> str:
    """The appeal's currency the visitor's country (trusted header only) or languages point to."""
    header = extensions.settings().country_header
    return preferred_currency(
        appeal.currencies,
        appeal.default_currency,
        languages=[tag for tag, _ in request.accept_languages],
        country=request.headers.get(header) if header else None,
    )


def _render_form(
    appeal: Appeal,
    values: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    currency = values.get("currency", appeal.default_currency)
    if currency not in appeal.currencies:
        currency = values["currency"] = appeal.default_currency
    suggestions = [
        {
            "value": str(amount),
            "label": money(amount, currency),
            "fee_estimate": fee_estimate(amount, currency),
        }
        for amount in appeal.suggested_amounts.get(currency, [])
    ]
    other_currencies = [
        {
            "code": code,
            "url": url_for(
                "donate.donate_form", slug=appeal.slug,
                **{"currency": code, "frequency": values.get("frequency", "one_off"),
                   **({"pay_by": "bank_debit"} if values.get("pay_by") == "bank_debit" else {}),
                   **{k: values[k] for k in SOURCE_FIELDS if values.get(k) and k != "referrer"}},
            ),
        }
        for code in appeal.currencies
        if code != currency
    ]  # fmt: skip
    offer = successors.offer_for(db.session(), appeal) if _may_be_unavailable(appeal) else None
    matching = live_offers(db.session(), appeal.id) if offer is None else []
    redirected_from = None
    if offer is None and values.get("redirected_from"):
        try:
            redirected_from = successors.check_redirect(db.session(), values["redirected_from"], appeal)
        except ValidationFailed:
            values.pop("redirected_from")  # a stale link: an ordinary gift to this appeal
    return (
        render_template(
            "donate.html",
            appeal=appeal,
            values=values,
            errors=localise_errors(errors or {}, appeal, currency),
            suggestions=suggestions,
            other_currencies=other_currencies,
            minimum=money(appeal.minimum_amounts[currency], currency),
            maximum=money(appeal.maximum_amounts[currency], currency),
            form_token=values.get("form_token") or secrets.token_urlsafe(24),
            source_fields=[k for k in SOURCE_FIELDS if values.get(k)],
            is_open=offer is None,
            offer=offer,
            offer_url=_successor_url(offer, values) if offer is not None else None,
            redirected_from=redirected_from,
            match_offers=[shown for live in matching if (shown := describe(live, currency))],
            ask_postcode=asks_postcode(matching, currency),
            debit_choice=_debit_choice(appeal, currency),
            **options_context(appeal, values),
        ),
        status,
    )


def _may_be_unavailable(appeal: Appeal) -> bool:
    # Only an appeal past its dates, or one that stops at its goal, costs a successor lookup.
    return not appeal.is_open() or appeal.successor_when_funded


def _successor_url(offer: successors.SuccessorOffer, values: dict[str, Any]) -> str | None:
    """The successor's donate page, carrying the article and campaign the donor came from."""
    target = offer.successor
    if target is None:
        return None
    args: dict[str, Any] = {"from": offer.requested.slug, "frequency": values.get("frequency", "one_off")}
    if values.get("currency") in target.currencies:
        args["currency"] = values["currency"]
    for key in SOURCE_FIELDS:
        if values.get(key):
            args["source" if key == "source_url" else key] = values[key]
    if request.args.get("lang"):
        args["lang"] = request.args["lang"]
    return url_for("donate.donate_form", slug=target.slug, **args)


@bp.get("/<slug>")
def donate_form(slug: str) -> Any:
    appeal = _appeal_or_404(slug)
    return _render_form(appeal, _initial_values(appeal))


@bp.post("/<slug>")
@donation_limits
def donate_submit(slug: str) -> Any:
    appeal = _appeal_or_404(slug)
    values = {key: value for key, value in request.form.items() if isinstance(value, str)}
    values.setdefault("currency", appeal.default_currency)
    try:
        data = FORM_SCHEMA.load_form(request.form, current_locale())
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"amount": exc.messages}
        errors = _flatten(messages)
        # Report the appeal's own rules (currency, limits) in the same pass as the form's.
        for field, field_errors in _appeal_rule_errors(appeal, values).items():
            errors.setdefault(field, field_errors)
        return _render_form(appeal, values, _debit_in_donors_words(errors, appeal, values), 422)
    try:
        target = _submitted(appeal, data)
    except ValidationFailed as exc:
        return _render_form(appeal, values, _debit_in_donors_words(exc.fields, appeal, values), 422)
    except (CheckoutUnavailable, RequestInProgress) as exc:
        values["form_token"] = data["form_token"]  # resubmitting continues the same donation
        return _render_form(appeal, values, {"_form": [exc.message]}, exc.status)
    if target is None:
        # Already completed or closed (e.g. a resubmitted old form): start a fresh gift.
        return _render_form(
            appeal,
            {**values, "form_token": None},
            {
                "_form": [
                    "That donation has already been completed or has expired. You can make a new one below."
                ]
            },
            409,
        )
    return redirect(target, 303)


def _submitted(appeal: Appeal, data: dict[str, Any]) -> str | None:
    """What :func:`submit` gives for this request: in the form's fast path already (carried here,
    raised if it raised), else now."""
    carried = request.environ.pop(SUBMITTED, None)
    if isinstance(carried, Exception):
        raise carried  # submit raised it in the fast path: answered here as always
    if isinstance(carried, Submitted):
        return carried.target
    return submit(appeal, data, via=request.form.get("via"), prefer_payment_link=over_service_rate())


def submit(appeal: Appeal, data: dict[str, Any], *, via: str | None, prefer_payment_link: bool) -> str | None:
    """Create the donation a valid form asks for (or find the one its form token made), with its
    Checkout Session or Payment Link: where the form's 303 goes (Checkout, or first the monthly
    offer's page), or None if that donation is already completed or expired (the view's 409).

    What the view and the form's fast path (service/pages/form_fast_path.py) both call, in an app
    context whose ``current_locale()`` is the donor's; ``via`` is the form's field of that name."""
    settings = extensions.settings()
    donation, _ = donations.create_donation(
        db.session(),
        extensions.stripe_gateway(),
        settings,
        _donation_request(appeal, data),
        idempotency_key=data["form_token"],
        scope="form",
        appeals=extensions.appeal_cache(),
        offer_monthly=_offers_monthly(appeal, data, via),
        prefer_payment_link=prefer_payment_link,
    )
    if monthly_offer.awaiting_choice(donation):
        return monthly_offer.offer_url(settings, donation, current_locale())
    if not donation.checkout_url or donation.status not in (
        DonationStatus.PENDING,
        DonationStatus.SURGE_REDIRECTED,
    ):
        return None
    return donation.checkout_url


def _donation_request(appeal: Appeal, data: dict[str, Any]) -> donations.DonationRequest:
    """The domain's request for a form ``FORM_SCHEMA`` loaded."""
    source = {("url" if k == "source_url" else k): data[k] for k in SOURCE_FIELDS if data.get(k)}
    return donations.DonationRequest(
        appeal=appeal.slug,
        amount=data["amount"],
        currency=data["currency"],
        frequency=data["frequency"],
        email=data.get("email"),
        source=source,
        redirected_from=data.get("redirected_from"),
        postcode=normalise_postcode(data.get("match_postcode") or "") if data.get("match_postcode") else None,
        pay_by=data["pay_by"],
        **request_options(data, appeal),
    )


def _offers_monthly(appeal: Appeal, data: dict[str, Any], via: str | None) -> bool:
    # Issue 14: the monthly alternative before Checkout (service/donations/monthly_offer.py).
    return monthly_offer.offered_for(
        appeal, extensions.settings(), frequency=data["frequency"], amount=data["amount"],
        currency=data["currency"], via=via,
    )  # fmt: skip


def rate_limited_form(retry_after: int) -> tuple[str, int]:
    """The 429 answer to a posted donate form: the same form, values kept, the wait in words."""
    slug = (request.view_args or {}).get("slug", "")
    appeal = extensions.appeal_cache().find(db.session(), slug)
    if retry_after < 120:
        wait = ngettext("%(num)d second", "%(num)d seconds", retry_after)
    else:
        wait = ngettext("%(num)d minute", "%(num)d minutes", -(-retry_after // 60))
    message = gettext(
        "There have been too many donation attempts from your connection in a short time. "
        "Please wait %(wait)s, then press “Continue to payment” again. Your choices are kept below.",
        wait=wait,
    )
    if appeal is None:
        return render_template("error.html", status=429, message=message), 429
    values = {key: value for key, value in request.form.items() if isinstance(value, str)}
    values.setdefault("currency", appeal.default_currency)
    return _render_form(appeal, values, {"_form": [message]}, 429)


def _appeal_rule_errors(appeal: Appeal, values: dict[str, Any]) -> dict[str, list[str]]:
    currency = values.get("currency", "").lower()
    try:
        amount = chosen_amount(values, currency or "gbp", current_locale())
    except AmountChoiceError:
        return {}
    frequency = values.get("frequency") if values.get("frequency") in ("one_off", "monthly") else "one_off"
    pay_by = values.get("pay_by") if values.get("pay_by") in PAY_BY else "checkout"
    probe = donations.DonationRequest(
        appeal=appeal.slug, amount=amount, currency=currency, frequency=frequency, pay_by=pay_by
    )
    return donations.check_against_appeal(
        appeal, probe, utcnow(), settlement_currency=extensions.settings().stripe_settlement_currency
    )


def _debit_choice(appeal: Appeal, currency: str) -> dict[str, str] | None:
    """The Direct Debit choice the page offers in this currency, or None (no scheme, or not enabled)."""
    scheme = scheme_for(currency)
    if scheme is None or not appeal.bank_debits:
        return None
    minimum = money(scheme.minimum, scheme.currency)
    if scheme.one_off:
        hint = gettext(
            "%(scheme)s, for gifts of %(minimum)s or more. Stripe emails you the mandate, and a notice "
            "before each debit.",
            scheme=scheme.name,
            minimum=minimum,
        )
    else:
        hint = gettext(
            "%(scheme)s, for monthly gifts of %(minimum)s or more. Stripe emails you the mandate, and a "
            "notice before each debit.",
            scheme=scheme.name,
            minimum=minimum,
        )
    return {"scheme": scheme.name, "hint": hint, "monthly_only": not scheme.one_off}


def _debit_in_donors_words(
    errors: dict[str, list[str]], appeal: Appeal, values: dict[str, Any]
) -> dict[str, list[str]]:
    """The domain's English refusal of a Direct Debit (service/payment_methods.py), in the page's language."""
    if values.get("pay_by") != PAY_BY_BANK_DEBIT:
        return errors
    currency = str(values.get("currency", "")).lower()
    try:
        amount = chosen_amount(values, currency if currency in SCHEMES else "gbp", current_locale())
    except AmountChoiceError:
        return errors
    refusal = refuse_debit(appeal, currency, str(values.get("frequency") or "one_off"), amount)
    if refusal is None or refusal.message not in errors.get(refusal.field, []):
        return errors
    variables = dict(refusal.variables)
    if "minimum" in variables:
        variables["minimum"] = money(SCHEMES[currency].minimum, currency)  # written the page's way
    translated = gettext(refusal.template, **variables)
    return {
        **errors,
        refusal.field: [translated if m == refusal.message else m for m in errors[refusal.field]],
    }


def _flatten(messages: dict[str, Any]) -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = "amount" if key in ("amount_choice", "custom_amount") else key
        if key == "form_token":
            name, value = "_form", ["This form has expired. Please choose your gift again."]
        items = value if isinstance(value, list) else [str(value)]
        flat.setdefault(name, []).extend(str(item) for item in items)
    return flat


@bp.get("/<slug>/thanks")
def thanks(slug: str) -> Any:
    appeal = _appeal_or_404(slug)
    session_id = request.args.get("session_id", "")
    session = db.session()
    gateway = extensions.stripe_gateway()
    confirmation = confirm.confirm_return(
        session,
        gateway,
        appeal.id,
        session_id,
        record_session=apply_checkout.record_session,
        apply_link_session=partial(
            apply_checkout.apply_returned_link_session, LedgerContext(session, gateway, extensions.settings())
        ),
    )
    donation, confirmed = confirmation.donation, confirmation.confirmed
    if donation is None or donation.appeal_id != appeal.id:
        return render_template(
            "error.html",
            status=404,
            appeal=appeal,
            message=gettext(
                "We couldn't find that donation; the link may be incomplete. If you completed a payment, "
                "your bank or card statement shows it."
            ),
        ), 404
    # A bank debit still on its way: when the bank should take it, from Stripe's pending charge.
    debit = pending_debit(gateway, donation) if confirmed else None
    return render_template(
        "thanks.html",
        appeal=appeal,
        donation=donation,
        amount=money(donation.amount, donation.currency),
        fee_cover=money(donation.fee_cover_amount, donation.currency) if donation.fee_cover_amount else None,
        confirmed=confirmed,
        debit=debit,
        debit_date=format_date(debit.debit_on or debit.expected_by, format="full", locale=babel_locale())
        if debit
        else None,
        # Issue 14: receipts go to the address the donor gave us or Checkout (service/emails.py).
        receipt_will_be_emailed=bool(donation.email),
        manage_url=manage_url(extensions.settings(), donation),
    )


@bp.get("/<slug>/cancelled")
def cancelled(slug: str) -> Any:
    appeal = _appeal_or_404(slug)
    retry_args: dict[str, str] = {}
    donation_id = request.args.get("donation", "")
    if donation_id:
        donation = db.session().get(Donation, donation_id)
        if donation is not None and donation.appeal_id == appeal.id:
            retry_args = {
                "amount": str(donation.amount),
                "currency": donation.currency,
                "frequency": donation.frequency,
                **({"cover_fees": "1"} if donation.fee_cover_amount else {}),
                **({"lang": donation.locale} if donation.locale and donation.locale != "en" else {}),
            }
    retry_url = url_for("donate.donate_form", slug=appeal.slug) + (
        "?" + urlencode(retry_args) if retry_args else ""
    )
    return render_template("cancelled.html", appeal=appeal, retry_url=retry_url)
