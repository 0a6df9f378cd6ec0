"""The monthly offer between the donate form and Checkout (service/donations/monthly_offer.py),
and the "make it monthly" link of a one-off receipt (service/make_monthly.py).

GET shows the two choices; the one form posts the pressed button's ``choice``. No JavaScript,
no Stripe call until the donor answers. A bad, expired or finished link gets a plain page and
changes nothing. Not rate-limited: the donation row it answers for was (the donate form's POST),
and each row gets at most one Checkout Session.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from flask import Blueprint, Flask, abort, current_app, redirect, render_template, request

from .. import db, extensions
from ..donations import monthly_offer
from ..donations.models import DonationStatus
from ..donations.monthly_offer import Offer, OfferRefused
from ..errors import CheckoutUnavailable, RequestInProgress
from ..i18n import current_locale, gettext, money
from ..models import Appeal

bp = Blueprint("monthly_offer", __name__)
log = logging.getLogger(__name__)

REFUSED_STATUS = {"invalid": 404, "expired": 410, "finished": 409}
PAID = (DonationStatus.PAID, DonationStatus.PROCESSING)


def _appeal(slug: str) -> Appeal:
    appeal = extensions.appeal_cache().find_read_only(db.session(), slug)  # read only: shared
    if appeal is None:
        abort(404)
    return appeal


def _refused(appeal: Appeal, exc: OfferRefused) -> Any:
    log.info("monthly_offer_refused", extra={"reason": exc.reason})
    donation = exc.donation
    continue_url = None
    if (
        donation is not None
        and donation.checkout_url
        and donation.status
        in (
            DonationStatus.PENDING,
            DonationStatus.SURGE_REDIRECTED,
        )
    ):
        continue_url = donation.checkout_url  # already chosen: back from Checkout, say
    return render_template(
        "monthly_offer_refused.html",
        appeal=appeal,
        reason=exc.reason,
        paid=donation is not None and donation.status in PAID,
        continue_url=continue_url,
    ), REFUSED_STATUS.get(exc.reason, 404)


def _page(appeal: Appeal, offer: Offer, token: str) -> Any:
    """The offer page. Only its form's address is the donor's own (the signed token); the rest is
    the same for every gift of these amounts to this appeal in this language, so it is rendered
    once (``RenderedPages``) and the token written into it."""
    donation = offer.donation
    key = (
        appeal.slug, appeal.charity_name, appeal.title, current_locale(), request.script_root,
        donation.currency, donation.amount, donation.fee_cover_amount, offer.monthly_amount,
        offer.monthly_fee_cover,
    )  # fmt: skip
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # Not shared: a token of other characters (never one that verified), or templates being
    # edited (the development server reloads them; a kept page would hide the edit).
    if not TOKEN.match(token) or app.jinja_env.auto_reload:
        return _render_page(appeal, offer, token), 200
    pages = rendered_pages(app)
    page = pages.get(key)
    if page is None:
        page = _render_page(appeal, offer, TOKEN_STAND_IN)
        if page.count(TOKEN_STAND_IN) != 1:  # the stand-in must be the form's address alone
            return _render_page(appeal, offer, token), 200
        pages.keep(key, page)
    return page.replace(TOKEN_STAND_IN, token), 200


def _render_page(appeal: Appeal, offer: Offer, token: str) -> str:
    donation = offer.donation
    return render_template(
        "monthly_offer.html",
        appeal=appeal,
        token=token,
        once=money(donation.charge_amount, donation.currency),
        once_gift=money(donation.amount, donation.currency),
        monthly=money(offer.monthly_amount + offer.monthly_fee_cover, donation.currency),
        monthly_gift=money(offer.monthly_amount, donation.currency),
        covers_fees=bool(donation.fee_cover_amount),
    )


# The signed token's characters (itsdangerous: URL-safe base64 and dots), which url_for and the
# template's escaping leave as they are, so writing one in place of another gives the same page.
TOKEN = re.compile(r"^[A-Za-z0-9_.-]+$")
TOKEN_STAND_IN = "monthly-offer-token-stand-in.Zq7xW3"  # noqa: S105 - a placeholder, not a secret


class RenderedPages:
    """An app's rendered offer pages (its templates, translations and URL map), a few hundred at
    most: the key holds everything the page shows, so an edited appeal is simply a new entry."""

    LIMIT = 512

    def __init__(self) -> None:
        self._pages: dict[tuple[Any, ...], str] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: tuple[Any, ...]) -> str | None:
        return self._pages.get(key)

    def keep(self, key: tuple[Any, ...], page: str) -> None:
        with self._lock:
            if len(self._pages) >= self.LIMIT:
                self._pages.clear()  # amounts no longer asked for go; the next requests render again
            self._pages[key] = page


def rendered_pages(app: Flask) -> RenderedPages:
    return extensions.offer_pages(app, RenderedPages)


@bp.get("/donate/<slug>/choose/<token>")
def show_offer(slug: str, token: str) -> Any:
    appeal = _appeal(slug)
    try:
        offer = monthly_offer.offer(db.session(), extensions.settings(), token, appeal)
    except OfferRefused as exc:
        return _refused(appeal, exc)
    return _page(appeal, offer, token)


@bp.post("/donate/<slug>/choose/<token>")
def answer_offer(slug: str, token: str) -> Any:
    appeal = _appeal(slug)
    session = db.session()
    settings = extensions.settings()
    try:
        donation = monthly_offer.choose(
            session, extensions.stripe_gateway(), settings, token, appeal, request.form.get("choice", "")
        )
    except OfferRefused as exc:
        return _refused(appeal, exc)
    except (CheckoutUnavailable, RequestInProgress) as exc:
        # The answer is kept; pressing either button again retries Checkout for the same gift.
        session.rollback()
        return render_template(
            "monthly_offer_refused.html", appeal=appeal, reason="unavailable", message=gettext(exc.message),
            retry_token=token,
        ), exc.status  # fmt: skip
    if not donation.checkout_url:
        return _refused(appeal, OfferRefused("finished", donation))
    return redirect(donation.checkout_url, 303)


@bp.get("/give-monthly/<token>")
def make_it_monthly(token: str) -> Any:
    """A one-off receipt's link: the donate page, monthly, amount and currency filled in."""
    from ..make_monthly import LinkRefused, donate_page_query, donate_page_url

    try:
        slug, query = donate_page_query(db.session(), extensions.settings(), token)
    except LinkRefused as exc:
        log.info("make_monthly_link_refused", extra={"reason": exc.reason})
        message = {
            "expired": gettext(
                "This link has expired: links in receipts work for 60 days. Nothing has been changed."
            ),
            "not_offered": gettext("This appeal is not taking new monthly gifts. Nothing has been changed."),
        }.get(
            exc.reason,
            gettext(
                "This link can't be used. It may have been copied incompletely. Nothing has been changed."
            ),
        )
        status = 404 if exc.reason == "invalid" else 410
        return render_template("error.html", status=status, message=message), status
    return redirect(donate_page_url(slug, query), 303)
