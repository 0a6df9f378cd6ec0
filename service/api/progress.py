"""Live progress and per-source totals of an appeal: public, cached, readable cross-origin.

Both answer with ``ETag`` and ``Cache-Control: public`` so browsers and CDNs absorb a viral
article's readers; a reader whose copy is current gets 304 with no body. CORS is granted only to
the appeal's ``allowed_origins`` (see service/cors.py).

A progress read whose figures are already cached is answered by ``ProgressFastPath``, a WSGI
layer in front of Flask, with the same bytes and headers the view gives; everything else (a cache
miss, another query string, HEAD, a cookie, a conditional header other than If-None-Match, the
access log switched on) goes to the view.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.http import http_date, parse_etags

from schemas.base import ErrorSchema
from schemas.progress import ProgressQuerySchema, ProgressSchema, SourcesSchema

from .. import appeals, db, extensions
from ..cookie_sessions import carries_session_cookie
from ..cors import apply_cors, normalised_origins, read_headers
from ..http_hooks import WSGIApp, request_id, response_headers
from ..i18n import gettext, money, ngettext, pick_locale
from ..matching.display import describe
from ..metrics import count_http_request
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
        self.normalised_origins = normalised_origins(origins)
        self._rendered: dict[str, tuple[bytes, str]] = {}
        self._headers: dict[str, list[tuple[str, str]]] = {}

    def rendered(self, lang: str | None) -> tuple[bytes, str]:
        """The JSON body and its ETag for ``lang`` (None: without display strings)."""
        key = lang or ""
        found = self._rendered.get(key)
        if found is None:
            body = _body(self.progress, lang)
            found = (json.dumps(body, separators=(",", ":")).encode() + b"\n", _etag(self.progress, lang))
            self._rendered[key] = found  # a race only renders the same bytes twice
        return found

    def prebuilt(self, lang: str | None) -> tuple[bytes, str, list[tuple[str, str]]] | None:
        """The body, ETag and headers (up to CORS, in the view's order) for ``lang``, if the view
        has rendered it already; None if not (rendering translates, which needs the app context)."""
        key = lang or ""
        found = self._rendered.get(key)
        if found is None:
            return None
        headers = self._headers.get(key)
        if headers is None:
            body, etag = found
            headers = [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("ETag", f'"{etag}"'),
                ("Cache-Control", PROGRESS_CACHE_CONTROL),
            ]
            self._headers[key] = headers
        return (*found, headers)


def cache_key(slug: str) -> str:
    return f"progress:{slug}"


def _progress_for(slug: str) -> CachedProgress:
    """Progress and the appeal's CORS origins, from the per-process cache (no database on a hit)."""

    def compute() -> CachedProgress:
        session = db.session()
        appeal = appeals.get_appeal(session, slug)  # NotFound is not cached: raised before storing
        return CachedProgress(compute_progress(session, appeal), list(appeal.allowed_origins or []))

    return progress_cache().get(cache_key(slug), compute)


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
    if not CONDITIONAL.intersection(request.environ):
        # Nothing to compare: Werkzeug's make_conditional would only add a Date header (the
        # server adds its own) at a third of this answer's cost.
        return response
    return response.make_conditional(request)


# The request headers make_conditional looks at (If-None-Match is the one clients send here).
CONDITIONAL = frozenset(
    {"HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE",
     "HTTP_RANGE", "HTTP_IF_RANGE"}
)  # fmt: skip


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


ENDPOINT = f"{blp.name}.{AppealProgress.__name__}"  # as Flask names it (metrics, the access log)
PATH_PREFIX = f"{blp.url_prefix}/"
PATH_SUFFIX = "/progress"
# The query strings the fast path reads itself: none, or the embed's ``lang=xx`` alone. Anything
# else (several parameters, a cache-buster, escapes) is parsed by the view's schema as always.
FAST_QUERY = re.compile(r"(?:lang=([A-Za-z_-]{1,35}))?")
# Headers whose presence sends a request to Flask: conditionals other than If-None-Match are
# Werkzeug's make_conditional to evaluate. (So does the session's cookie, which Flask may refresh:
# ``cookie_sessions.carries_session_cookie``; other cookies change nothing.)
SLOW_HEADERS = CONDITIONAL - {"HTTP_IF_NONE_MATCH"}


class ProgressFastPath:
    """Answers a cached progress read before Flask, exactly as the view and the hooks would.

    The bar under a viral article is the service's most frequent request, and its answer is
    already bytes in the per-process cache, yet through Flask it cost 175–215 µs of CPU in one
    process (a bare Flask "hello" 45 µs): request and app contexts, URL matching, webargs, the
    before/after hooks. Here it costs about 5 µs (bench/README.md, "Progress"). For
    ``GET /api/v1/appeals/<slug>/progress`` whose figures are cached and fresh, this layer sends
    the same body, ``ETag``, ``Cache-Control``, CORS headers (service/cors.py), a 304 for a
    current ``If-None-Match``, ``X-Request-Id`` and the security headers (service/http_hooks.py),
    and counts the request in the same metrics under the same endpoint label. Anything it does
    not handle goes to Flask untouched; the read that finds the figures expired (and computes
    them) always does. tests/publishers/test_progress_fast_path.py compares its answers with the
    view's.
    """

    def __init__(self, app: Flask, wsgi_app: WSGIApp, production: bool, log_public_reads: bool):
        self.app = app
        self.wsgi_app = wsgi_app
        self.base_headers = response_headers(production)
        # With public reads in the access log, every read goes through the hooks that write it.
        self.enabled = not log_public_reads

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if self.enabled and path.endswith(PATH_SUFFIX) and path.startswith(PATH_PREFIX):
            answer = self.answer(environ, start_response, path[len(PATH_PREFIX) : -len(PATH_SUFFIX)])
            if answer is not None:
                return answer
        return self.wsgi_app(environ, start_response)

    def answer(
        self, environ: dict[str, Any], start_response: Callable[..., Any], slug: str
    ) -> list[bytes] | None:
        started = time.perf_counter()
        if not slug or "/" in slug or environ.get("REQUEST_METHOD") != "GET":
            return None
        query = FAST_QUERY.fullmatch(environ.get("QUERY_STRING", ""))
        if query is None or not SLOW_HEADERS.isdisjoint(environ) or carries_session_cookie(self.app, environ):
            return None
        cached = extensions.progress_cache(self.app).fresh(cache_key(slug))
        if not isinstance(cached, CachedProgress):
            return None  # not cached (or expired): the view computes and caches it
        prebuilt = cached.prebuilt(pick_locale(query.group(1), None) if query.group(1) else None)
        if prebuilt is None:
            return None  # the view renders this language once, in its app context
        body, etag, headers = prebuilt
        status = "200 OK"
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match:  # as Werkzeug's make_conditional: a Date; a 304 without body or type
            if parse_etags(if_none_match).contains_weak(etag):
                status, body, headers = "304 NOT MODIFIED", b"", [*headers[2:], ("Date", http_date())]
            else:
                headers = [*headers, ("Date", http_date())]
        headers = [
            *headers,
            *read_headers(environ.get("HTTP_ORIGIN"), cached.normalised_origins),
            ("X-Request-Id", request_id(environ.get("HTTP_X_REQUEST_ID", ""))),
            *self.base_headers,
        ]
        start_response(status, headers)
        count_http_request("GET", ENDPOINT, int(status[:3]), time.perf_counter() - started)
        return [body]


def install_fast_path(app: Flask, production: bool, log_public_reads: bool) -> None:
    """Put ``ProgressFastPath`` in front of the app: the outermost WSGI layer (after ProxyFix,
    which it does not need: it reads no client address)."""
    app.wsgi_app = ProgressFastPath(app, app.wsgi_app, production, log_public_reads)  # type: ignore[method-assign]
