"""Serving the widget to other sites, and the page where a publisher copies the snippet.

``/embed.js`` is one static file (no build step) loaded cross-origin by a ``<script>`` tag, so it
needs no CORS; its config is JSON read by that script, so it gets CORS for the appeal's listed
origins only. Both are public and cacheable by browsers and CDNs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file, url_for

from .. import appeals, db, extensions
from ..cors import apply_cors
from ..currencies import exponent
from ..donations import successors
from ..donor_currency import preferred_currency
from ..errors import NotFound
from ..fees import fee_cover_for, fee_rate
from ..i18n import gettext, money, pick_locale
from ..matching.display import describe, live_offers
from ..models import Appeal

bp = Blueprint("embed", __name__)

EMBED_JS = Path(__file__).resolve().parent.parent / "static" / "embed.js"
# Short enough that a fix reaches every news page within minutes; ETag makes revalidation cheap.
EMBED_CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=86400"
CONFIG_CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=3600"

# The widget's words; the catalogue holds their translations (extracted from this module).
WIDGET_STRINGS = {
    "title": lambda a, loc: gettext("Donate to %(title)s", loc, title=a.title),
    "once": lambda a, loc: gettext("Give once", loc),
    "monthly": lambda a, loc: gettext("Give monthly", loc),
    "frequency": lambda a, loc: gettext("How often?", loc),
    "amount": lambda a, loc: gettext("Amount", loc),
    "currency": lambda a, loc: gettext("Currency", loc),
    "other": lambda a, loc: gettext("Other amount", loc),
    "other_label": lambda a, loc: gettext("Your amount", loc),
    "cover": lambda a, loc: gettext("Add %(fee)s so the charity receives my whole gift", loc, fee="{fee}"),
    "submit": lambda a, loc: gettext("Donate", loc),
    "submit_monthly": lambda a, loc: gettext("Donate monthly", loc),
    "raised": lambda a, loc: gettext("%(raised)s raised", loc, raised="{raised}"),
    "of_goal": lambda a, loc: gettext("%(raised)s raised of %(goal)s", loc, raised="{raised}", goal="{goal}"),
    "secure": lambda a, loc: gettext("You'll continue on %(charity)s's secure donation page.", loc, charity=a.charity_name),
    "closed": lambda a, loc: gettext("This appeal is not accepting donations at the moment.", loc),
    "closed_title": lambda a, loc: gettext("This appeal has closed", loc),
    "ended_title": lambda a, loc: gettext("This appeal has ended", loc),
    "funded_title": lambda a, loc: gettext("This appeal has reached its goal", loc),
    "instead": lambda a, loc: gettext("Give to %(title)s instead", loc, title="{successor}"),
    "instead_hint": lambda a, loc: gettext("Your gift would go to that appeal, not to this one; you will see it before you pay.", loc),
}  # fmt: skip

# Why the widget will not take a typed amount: the donate page's own wording (service/amount_input.py
# and the appeal's limits), so a donor reads the same sentence on both. {name} marks what the
# widget fills in, formatted for the donor's language.
AMOUNT_ERROR_STRINGS = {
    "empty": lambda loc: gettext("Enter an amount.", loc),
    "not_a_number": lambda loc: gettext("Enter the amount as a number, like %(example)s.", loc, example="{example}"),
    "ambiguous": lambda loc: gettext(
        "Did you mean %(amount)s? Please type it as %(typed)s.", loc, amount="{amount}", typed="{typed}"
    ),
    "which_one": lambda loc: gettext(
        "Did you mean %(first)s or %(second)s? Please type it as %(first_typed)s or %(second_typed)s.", loc,
        first="{first}", second="{second}", first_typed="{first_typed}", second_typed="{second_typed}",
    ),
    "too_many_places": lambda loc: gettext("Use at most %(places)s decimal places.", loc, places="{places}"),
    "whole_units": lambda loc: gettext("Amounts in %(currency)s are whole numbers.", loc, currency="{currency}"),
    "too_large": lambda loc: gettext("That amount is too large.", loc),
    "minimum": lambda loc: gettext("The minimum gift is %(amount)s.", loc, amount="{amount}"),
    "maximum": lambda loc: gettext("The maximum gift is %(amount)s.", loc, amount="{amount}"),
}  # fmt: skip


@bp.get("/embed.js")
def embed_js() -> Response:
    response = send_file(EMBED_JS, mimetype="text/javascript", conditional=True, etag=True, max_age=300)
    response.headers["Cache-Control"] = EMBED_CACHE_CONTROL
    # Loaded by <script> on other sites: allow that even if a site-wide default forbids it.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def successor_config(appeal: Appeal, offer: successors.SuccessorOffer | None) -> dict[str, Any] | None:
    """What the widget offers when the appeal takes no gifts: why, the charity's words, the successor."""
    if offer is None or offer.successor is None:
        return None
    return {
        "reason": offer.reason,
        "message": offer.message,
        "appeal": offer.successor.slug,
        "title": offer.successor.title,
        # The successor's donate page asks the donor to confirm before anything is paid.
        "url": url_for(
            "donate.donate_form", slug=offer.successor.slug, _external=True, **{"from": appeal.slug}
        ),
    }


def widget_config(appeal: Appeal, locale: str, preferred: str | None = None) -> dict[str, Any]:
    """Everything the widget shows, already translated and formatted for ``locale``."""
    offer = successors.offer_for(db.session(), appeal)
    currencies = []
    settles_in = extensions.settings().stripe_settlement_currency
    for code in appeal.currencies:
        rate = fee_rate(code, settles_in)
        currencies.append(
            {
                "code": code,
                "exponent": exponent(code),
                "suggestions": [
                    {
                        "amount": amount,
                        "label": money(amount, code, locale),
                        "cover": fee_cover_for(amount, code, settles_in),
                        "cover_label": money(fee_cover_for(amount, code, settles_in), code, locale),
                    }
                    for amount in appeal.suggested_amounts.get(code, [])
                ],
                "minimum": appeal.minimum_amounts[code],
                "maximum": appeal.maximum_amounts[code],
                "fee": {"percent": float(rate.percent), "fixed": rate.fixed},
            }
        )
    return {
        "appeal": appeal.slug,
        "locale": locale,
        "is_open": offer is None,
        # Match funding live now, described for the widget's default currency.
        "match": [
            shown
            for live in (live_offers(db.session(), appeal.id) if offer is None else [])
            if (shown := describe(live, appeal.default_currency, locale))
        ],
        "successor": successor_config(appeal, offer),
        "default_currency": appeal.default_currency,
        # The reader's likely currency (service/donor_currency.py); the widget lists every one.
        "preferred_currency": preferred or appeal.default_currency,
        "currencies": currencies,
        "has_goal": bool(appeal.goal_amount),
        "text": {
            **{key: make(appeal, locale) for key, make in WIDGET_STRINGS.items()},
            "amount_errors": {key: make(locale) for key, make in AMOUNT_ERROR_STRINGS.items()},
        },
    }


@bp.route("/embed/<slug>/config.json", methods=["GET", "OPTIONS"])
def config(slug: str) -> Response:
    try:
        appeal = appeals.get_appeal(db.session(), slug)
    except NotFound:
        abort(404)
    origins = list(appeal.allowed_origins or [])
    if request.method == "OPTIONS":
        return apply_cors(Response(status=204), origins, preflight=True)
    locale = pick_locale(request.args.get("lang"), request.accept_languages)
    header = extensions.settings().country_header
    preferred = preferred_currency(
        appeal.currencies,
        appeal.default_currency,
        languages=[tag for tag, _ in request.accept_languages],
        country=request.headers.get(header) if header else None,
    )
    response = current_app.json.response(widget_config(appeal, locale, preferred))
    response.headers["Cache-Control"] = CONFIG_CACHE_CONTROL
    response.vary.add("Accept-Language")
    if header:
        response.vary.add(header)  # a CDN must not hand one country's answer to another
    response.add_etag()
    apply_cors(response, origins)
    return response.make_conditional(request)


@bp.get("/embed/snippet/<slug>")
def snippet(slug: str) -> Any:
    try:
        appeal = appeals.get_appeal(db.session(), slug)
    except NotFound:
        abort(404)
    base = extensions.settings().public_base_url
    donate_link = f"{base}/donate/{appeal.slug}?utm_source=YOUR-SITE&utm_medium=embed"
    preview_lang = pick_locale(request.args.get("lang"), None)
    return render_template(
        "embed_snippet.html",
        appeal=appeal,
        donate_link=donate_link,
        script_url=f"{base}/embed.js",
        preview_href=url_for("donate.donate_form", slug=appeal.slug, utm_source="snippet-preview"),
        preview_script=url_for("embed.embed_js"),
        preview_lang=preview_lang,
    )
