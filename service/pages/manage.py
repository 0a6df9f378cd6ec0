"""Monthly donors' own page, reached by the signed link in their receipts (service/manage.py).

GET shows the gift; each change is a POST form (works without JavaScript). Updating the card
or stopping the gift opens Stripe's Customer Portal at that flow and comes back here; changing
the amount updates the subscription through the gateway. A forged, tampered, expired or
no-longer-valid link gets a plain page and changes nothing; a replayed amount form (the amount it
was made for is no longer the gift's) changes nothing either.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from .. import db, extensions
from ..amount_input import AmountInputError, parse_amount, typed_amount
from ..donations.models import Donation
from ..i18n import current_locale, gettext, money
from ..manage import LinkRefused, follow_amount_change, managed_gift, note_cancel_flow_opened, read_token
from ..stripe_gateway import StripeGatewayError

bp = Blueprint("manage", __name__, url_prefix="/manage")
log = logging.getLogger(__name__)

REFUSED_STATUS = {"invalid": 404, "expired": 410, "ended": 410}


def _refused(reason: str) -> Any:
    log.info("manage_link_refused", extra={"reason": reason})
    return render_template("manage_refused.html", reason=reason), REFUSED_STATUS.get(reason, 404)


def _gift(token: str) -> Donation:
    return managed_gift(db.session(), extensions.settings(), token)


def _page(donation: Donation, token: str, **extra: Any) -> Any:
    return render_template(
        "manage.html",
        donation=donation,
        appeal=donation.appeal,
        token=token,
        amount=money(donation.charge_amount, donation.currency),
        amount_value=typed_amount(donation.charge_amount, donation.currency, current_locale()),
        **extra,
    )


@bp.get("")
def ask_for_link() -> Any:
    return render_template("manage_request.html")


@bp.post("")
def send_links() -> Any:
    from flask_limiter.util import get_remote_address

    from ..link_requests import LinkRequestLimiter, request_links, valid_email

    email = valid_email(request.form.get("email", ""))
    if email is None:
        return render_template(
            "manage_request.html", error=gettext("Enter your email address, like name@example.com.")
        ), 422
    limiter = extensions.link_request_limiter(None, lambda: LinkRequestLimiter(extensions.settings()))
    if limiter.allow(get_remote_address() or "unknown", email.lower()):
        request_links(db.session(), email)
    else:
        log.info("manage_link_request_limited")
    # The same answer whether or not the address is known, or the request was limited.
    return render_template("manage_request.html", sent=True)


@bp.get("/<token>")
def manage(token: str) -> Any:
    if request.args.get("done") == "subscription_cancel":
        # Stripe's portal sends the donor back here only once the subscription is cancelled; the
        # ledger learns it from the webhook, which may not have arrived yet.
        try:
            read_token(extensions.settings(), token)
        except LinkRefused as exc:
            return _refused(exc.reason)
        return render_template("manage_refused.html", reason="stopped")
    try:
        donation = _gift(token)
    except LinkRefused as exc:
        return _refused(exc.reason)
    return _page(donation, token, done=request.args.get("done"))


def _portal(token: str, flow: dict[str, Any]) -> Any:
    try:
        donation = _gift(token)
    except LinkRefused as exc:
        return _refused(exc.reason)
    settings = extensions.settings()
    back = f"{settings.public_base_url}{url_for('manage.manage', token=token, done=flow['type'], lang=current_locale())}"
    try:
        url = extensions.stripe_gateway().create_portal_session(
            donation.stripe_customer_id,
            back,
            flow,
            locale=donation.locale if donation.locale == "uk" else "auto",
        )
    except StripeGatewayError:
        return _page(
            donation,
            token,
            error=gettext("We couldn't reach our payment provider. Please try again in a minute."),
        ), 503
    return redirect(url, 303)


@bp.get("/<token>/card")
@bp.post("/<token>/card")
def update_card(token: str) -> Any:
    # GET too: the failed-payment email links here (service/manage.py: card_update_url).
    return _portal(token, {"type": "payment_method_update"})


@bp.post("/<token>/stop")
def stop(token: str) -> Any:
    try:
        donation = _gift(token)
    except LinkRefused as exc:
        return _refused(exc.reason)
    note_cancel_flow_opened(db.session(), donation)
    return _portal(
        token,
        {
            "type": "subscription_cancel",
            "subscription_cancel": {"subscription": donation.stripe_subscription_id},
        },
    )


@bp.post("/<token>/amount")
def change_amount(token: str) -> Any:
    session = db.session()
    try:
        donation = _gift(token)
    except LinkRefused as exc:
        return _refused(exc.reason)
    if request.form.get("from") != str(donation.charge_amount):
        # A form made for an amount the gift no longer has: replayed or stale. Nothing changes.
        return _page(
            donation,
            token,
            error=gettext("Your gift has changed since this page was opened. Here it is as it stands now."),
        ), 409
    try:
        # The donate page's rule for typed amounts (service/amount_input.py), in the page's language.
        amount = parse_amount(request.form.get("amount", ""), donation.currency, current_locale())
    except AmountInputError as exc:
        return _page(donation, token, error=gettext(exc.template, **exc.variables)), 422
    appeal = donation.appeal
    low, high = appeal.minimum_amounts[donation.currency], appeal.maximum_amounts[donation.currency]
    if not low <= amount <= high:
        message = gettext(
            "Choose an amount between %(low)s and %(high)s.",
            low=money(low, donation.currency),
            high=money(high, donation.currency),
        )
        return _page(donation, token, error=message), 422
    if amount == donation.charge_amount:
        return redirect(url_for("manage.manage", token=token, lang=current_locale()), 303)
    gateway = extensions.stripe_gateway()
    key = f"{donation.id}-amount-{donation.charge_amount}-{amount}"
    try:
        subscription = gateway.change_subscription_amount(donation.stripe_subscription_id, amount, key)
    except StripeGatewayError:
        return _page(
            donation,
            token,
            error=gettext("We couldn't reach our payment provider. Please try again in a minute."),
        ), 503
    # The ledger follows now rather than waiting for customer.subscription.updated; the event,
    # when it comes, finds the same price and changes nothing more.
    follow_amount_change(session, donation, subscription)
    session.commit()
    return redirect(url_for("manage.manage", token=token, done="amount", lang=current_locale()), 303)
