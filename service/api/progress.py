"""Live progress and per-source totals of an appeal: public, cached, readable cross-origin.

Both answer with ``ETag`` and ``Cache-Control: public`` so browsers and CDNs absorb a viral
article's readers; a reader whose copy is current gets 304 with no body. CORS is granted only to
the appeal's ``allowed_origins`` (see service/cors.py).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from schemas.base import ErrorSchema
from schemas.progress import ProgressQuerySchema, ProgressSchema, SourcesSchema

from .. import appeals, db, extensions
from ..cors import apply_cors
from ..i18n import gettext, money, ngettext, pick_locale
from ..matching.display import describe
from ..progress import Progress, compute_progress
from ..source_totals import publisher_summary
from ..ttl_cache import TTLCache

blp = Blueprint(
    "appeal_figures_api",
    __name__,
    url_prefix="/api/v1/appeals",
    description="Public figures of an appeal for progress bars and publishing partners",
)

PROGRESS_CACHE_CONTROL = "public, max-age=15, stale-while-revalidate=60, stale-if-error=600"
SOURCES_CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=600"


def progress_cache() -> TTLCache:
    return extensions.progress_cache()


class CachedProgress:
    """One appeal's progress, its CORS origins and, per language asked for, the rendered answer.

    A cache hit then costs a dictionary lookup and a response around bytes already made: the
    progress bar under a viral article is read thousands of times a second (bench/README.md).
    """

    def __init__(self, progress: Progress, origins: list[str]):
        self.progress = progress
        self.origins = origins
        self._rendered: dict[str, tuple[bytes, str]] = {}

    def rendered(self, lang: str | None) -> tuple[bytes, str]:
        """The JSON body and its ETag for ``lang`` (None: without display strings)."""
        key = lang or ""
        found = self._rendered.get(key)
        if found is None:
            body = _body(self.progress, lang)
            found = (json.dumps(body, separators=(",", ":")).encode() + b"\n", _etag(self.progress, lang))
            self._rendered[key] = found  # a race only renders the same bytes twice
        return found


def _progress_for(slug: str) -> CachedProgress:
    """Progress and the appeal's CORS origins, from the per-process cache (no database on a hit)."""

    def compute() -> CachedProgress:
        session = db.session()
        appeal = appeals.get_appeal(session, slug)  # NotFound is not cached: raised before storing
        return CachedProgress(compute_progress(session, appeal), list(appeal.allowed_origins or []))

    return progress_cache().get(f"progress:{slug}", compute)


def _body(progress: Progress, lang: str | None) -> dict[str, Any]:
    body: dict[str, Any] = ProgressSchema().dump(
        {
            "appeal": progress.appeal,
            "raised": [t.__dict__ for t in progress.totals],
            "pledged": [t.__dict__ for t in progress.pledged],
            "gifts": progress.gifts,
            "goal": (
                {"amount": progress.goal_amount, "currency": progress.goal_currency}
                if progress.goal_amount
                else None
            ),
            "percentage": progress.percentage,
            "updated_at": progress.updated_at,
            "matched": [{"currency": t.currency, "amount": t.amount} for t in progress.matched],
            "match": [
                {
                    "funder": m.funder,
                    "ratio": m.ratio,
                    "ends_at": m.ends_at,
                    "remaining": [{"currency": c, "amount": a} for c, a in sorted(m.remaining.items())],
                }
                for m in progress.match
            ],
        }  # fmt: skip
    )
    if lang:
        body["display"] = _display(progress, lang)
    return body


def _etag(progress: Progress, lang: str | None) -> str:
    return f"{progress.etag}-{lang}" if lang else progress.etag


def _display(progress: Progress, lang: str) -> dict[str, Any]:
    currency = progress.goal_currency or (progress.totals[0].currency if progress.totals else None)
    raised = next((t.amount for t in progress.totals if t.currency == currency), 0)
    matched = next((t.amount for t in progress.matched if t.currency == currency), 0)
    display: dict[str, Any] = {
        "locale": lang,
        "raised": money(raised, currency, lang) if currency else "",
        "goal": money(progress.goal_amount, currency, lang) if progress.goal_amount and currency else None,
        "gifts": ngettext("%(num)d gift", "%(num)d gifts", progress.gifts, locale=lang),
    }
    if currency and matched:
        display["matched"] = gettext("%(amount)s matched", lang, amount=money(matched, currency, lang))
    offers = [shown for offer in progress.match if currency and (shown := describe(offer, currency, lang))]
    if offers:
        display["match"] = offers
    return display


def _cacheable(response: Response, etag: str, cache_control: str, origins: list[str]) -> Response:
    """ETag, Cache-Control and CORS on a public answer; 304 when the client's copy is current."""
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    apply_cors(response, origins)
    return response.make_conditional(request)


PREFLIGHT = (
    "No body. Access-Control-Allow-Origin (and -Methods, -Max-Age) only when the request's Origin "
    "is one of the appeal's allowed sites"
)
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Origin": {"description": "The request's Origin, if the appeal lists it", "schema": {"type": "string"}},
    "Access-Control-Allow-Methods": {"description": "GET, for a listed Origin", "schema": {"type": "string"}},
    "Access-Control-Max-Age": {"description": "Seconds a browser may reuse this answer", "schema": {"type": "integer"}},
}  # fmt: skip


@blp.route("/<slug>/progress")
class AppealProgress(MethodView):
    @blp.arguments(ProgressQuerySchema(), location="query")  # an instance: not rebuilt per request
    @blp.response(200, ProgressSchema)
    @blp.alt_response(304, description="Not modified: the copy named in If-None-Match is current")
    @blp.alt_response(404, schema=ErrorSchema)
    def get(self, args: dict[str, Any], slug: str) -> Any:
        """Money received per currency, gifts, goal and percentage (no personal data).

        Only money the ledger has received counts (net of refunds, without fee cover); bank debits
        still on their way (Bacs, SEPA: days) are in ``pledged`` until the bank pays them. Figures
        may be up to a minute old; send If-None-Match to get 304 when nothing changed.
        """
        cached = _progress_for(slug)
        lang = pick_locale(args["lang"], None) if args.get("lang") else None
        body, etag = cached.rendered(lang)
        return _cacheable(
            Response(body, mimetype="application/json"), etag, PROGRESS_CACHE_CONTROL, cached.origins
        )

    @blp.alt_response(204, success=True, description=PREFLIGHT, headers=PREFLIGHT_HEADERS)
    @blp.alt_response(404, schema=ErrorSchema)
    def options(self, slug: str) -> Any:
        """CORS preflight: which of the appeal's listed sites may read this (no body)."""
        return apply_cors(Response(status=204), _progress_for(slug).origins, preflight=True)


@blp.route("/<slug>/sources")
class AppealSources(MethodView):
    @blp.response(200, SourcesSchema)
    @blp.alt_response(304, description="Not modified")
    @blp.alt_response(404, schema=ErrorSchema)
    def get(self, slug: str) -> Any:
        """Which pages and campaigns raised what: gifts and totals per source, no personal data.

        Source pages are shown without query strings. Computed on request and cached for five
        minutes by clients; partners poll this, readers do not.
        """
        session = db.session()
        appeal = appeals.get_appeal(session, slug)
        sources = [s.__dict__ for s in publisher_summary(session, appeal)]
        body = SourcesSchema().dump({"appeal": appeal.slug, "sources": sources})
        etag = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
        return _cacheable(jsonify(body), etag, SOURCES_CACHE_CONTROL, list(appeal.allowed_origins or []))

    @blp.alt_response(204, success=True, description=PREFLIGHT, headers=PREFLIGHT_HEADERS)
    @blp.alt_response(404, schema=ErrorSchema)
    def options(self, slug: str) -> Any:
        """CORS preflight: which of the appeal's listed sites may read this (no body)."""
        appeal = appeals.get_appeal(db.session(), slug)
        return apply_cors(Response(status=204), list(appeal.allowed_origins or []), preflight=True)
