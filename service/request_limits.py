"""Limits on what anyone can send, checked before any view or schema runs.

Body size is Flask's ``MAX_CONTENT_LENGTH`` (set in ``create_app``), which Werkzeug enforces from
the ``Content-Length`` header. A chunked body has no such header, and there Werkzeug (3.1) reads
up to the limit and stops, silently: a valid donation followed by padding past the limit would be
accepted, cut short. So chunked bodies are read here, one byte past the limit, and refused with
413 if they reach it; a server that does not de-chunk (no ``wsgi.input_terminated``) would hand
us an empty body, so such requests are refused with 411. Werkzeug limits multipart parts
(``MAX_FORM_PARTS``) but not url-encoded fields, hence the field count below. JSON nesting is
limited before parsing because Python's parser raises ``RecursionError`` (a 500) on deep input.
"""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Flask, current_app, request
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import (
    HTTPException,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    RequestURITooLarge,
)
from werkzeug.routing import IntegerConverter

from .errors import error_response

# The request target (path and query) and the headers. gunicorn.conf.py lets a little more through
# (its limit_request_line and limit_request_field_size are above these) so that the refusal comes
# from here, in the JSON envelope on the API and as a page for donors, not as gunicorn's bare HTML.
MAX_TARGET_BYTES = 4096
MAX_HEADER_BYTES = 8190  # one header's name and value, as gunicorn's default counts it
MAX_HEADER_COUNT = 100
MAX_JSON_DEPTH = 20
MAX_FORM_FIELDS = 100
# Pages and report windows the API's list and report endpoints accept (see schemas).
MAX_PAGE_SIZE = 100
MAX_REPORT_DAYS = 366

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
# The webhook route verifies Stripe's signature over the raw bytes before it parses anything,
# so its depth is bounded by what Stripe sends, not by what an attacker can.
EXEMPT_PREFIXES = ("/webhooks/",)


def json_depth(body: bytes) -> int:
    """The deepest bracket nesting in ``body``, ignoring brackets inside strings; no recursion."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def json_deeper_than(body: bytes, limit: int) -> bool:
    """Whether ``json_depth(body) > limit``, for any bytes (valid JSON or not).

    The depth only rises at an opening bracket outside a string, so it is at most the number of
    opening brackets in the whole body (string contents only add to that count): a body with no
    more than ``limit`` of them is not too deep, and the regex walk runs only past that. A
    donation's body has one or two: 0.22 µs against 3.0 µs for the walk on the 61-byte body of
    appeal, amount and currency, 0.32 µs against 7.9 µs on a 231-byte one with every field and a
    source (timeit, best of 7 in one process).
    """
    if body.count(b"{") + body.count(b"[") <= limit:
        return False
    return json_depth(body) > limit


def _bound_chunked_body() -> None:
    """Read a chunked body now, refusing it past the limit, and give Werkzeug a sized copy."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    stream = request.environ["wsgi.input"]
    data = bytearray()
    while len(data) <= limit:
        chunk = stream.read(min(65536, limit + 1 - len(data)))
        if not chunk:
            break
        data.extend(chunk)
    if len(data) > limit:
        raise RequestEntityTooLarge()
    request.environ["wsgi.input"] = io.BytesIO(bytes(data))
    request.environ["CONTENT_LENGTH"] = str(len(data))


# Werkzeug 3.1's EnvironHeaders.__iter__ (what Flask's request.headers iterates): every HTTP_ key
# but these two, which stand for the CONTENT_* keys, and those two when not empty.
_NOT_HEADERS = frozenset(("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"))
_CONTENT_HEADERS = frozenset(("CONTENT_TYPE", "CONTENT_LENGTH"))


def _header_name(key: str) -> str:
    """The name ``EnvironHeaders`` gives a header's environ key (``HTTP_X_API_KEY`` is ``X-Api-Key``)."""
    return (key[5:] if key.startswith("HTTP_") else key).replace("_", "-").title()


def target_and_headers_refusal(environ: dict[str, Any]) -> HTTPException | None:
    """What a request's target or headers are refused with (414, 431), or None if they are within
    the limits. From the WSGI environ, so that an answer made in front of Flask
    (service/post_fast_path.py: ``PostFastPath.plain_length``, for the webhook, donation and form fast
    paths) applies exactly the limits the request hooks do."""
    # RAW_URI (gunicorn) / REQUEST_URI (Werkzeug) are the target as sent; else rebuild it.
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if target is None:
        query = environ.get("QUERY_STRING", "")
        target = environ.get("PATH_INFO", "") + ("?" + query if query else "")
    if len(target.encode("latin-1", "replace")) > MAX_TARGET_BYTES:
        return RequestURITooLarge(f"The address is longer than {MAX_TARGET_BYTES} bytes.")
    # The headers are EnvironHeaders(environ), Flask's request.headers, but counted and measured in
    # one pass over the environ without building their names (Werkzeug 3.1.9 title-cases every
    # name in each of its two passes, datastructures/headers.py): the count refusal comes first,
    # then the first header too long in the environ's order, as the two passes give them. This
    # function takes 4.0 µs instead of 16.0 µs with those two passes (timeit, best of 7 in one
    # process, an environ as gunicorn 27 builds it for a donation: 37 keys, 15 headers).
    count = 0
    too_long = None
    try:
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                if key in _NOT_HEADERS:
                    continue
                # ASCII title-casing keeps the length; Unicode's may not ("ß" is "Ss"). Keys are
                # latin-1 decoded (PEP 3333): gunicorn refuses names outside RFC 9110's tokens, so
                # only other servers (Werkzeug's own, tests) can bring a non-ASCII one here.
                size = len(key) - 5 if key.isascii() else len(_header_name(key))
            elif key in _CONTENT_HEADERS and value:
                size = len(key)
            else:
                continue
            count += 1
            if too_long is None and size + len(value) > MAX_HEADER_BYTES:
                too_long = key
    except Exception:  # noqa: BLE001 - an environ PEP 3333 rules out, e.g. a value without a length
        # The two passes would have stopped sooner (at the count, or at the first header too
        # long) and may answer where this one failed: let them decide.
        return _headers_refusal(environ)
    if count > MAX_HEADER_COUNT:
        return RequestHeaderFieldsTooLarge(f"Send at most {MAX_HEADER_COUNT} headers.")
    if too_long is not None:
        name = _header_name(too_long)
        return RequestHeaderFieldsTooLarge(f"The {name} header is longer than {MAX_HEADER_BYTES} bytes.")
    return None


def _headers_refusal(environ: dict[str, Any]) -> HTTPException | None:
    """The headers' part of ``target_and_headers_refusal`` as two passes over what Flask's
    ``request.headers`` is; for environs the one-pass loop could not go through."""
    headers = EnvironHeaders(environ)
    if len(headers) > MAX_HEADER_COUNT:
        return RequestHeaderFieldsTooLarge(f"Send at most {MAX_HEADER_COUNT} headers.")
    for name, value in headers.items():
        if len(name) + len(value) > MAX_HEADER_BYTES:
            return RequestHeaderFieldsTooLarge(f"The {name} header is longer than {MAX_HEADER_BYTES} bytes.")
    return None


def form_fields_refusal(body: bytes) -> HTTPException | None:
    """What a url-encoded form's body is refused with (413, too many fields), or None: from the
    bytes, so that the donate form's fast path (service/pages/form_fast_path.py) applies it too."""
    if body.count(b"&") >= MAX_FORM_FIELDS:
        return RequestEntityTooLarge(f"A form may have at most {MAX_FORM_FIELDS} fields.")
    return None


def _check_target_and_headers() -> None:
    refusal = target_and_headers_refusal(request.environ)
    if refusal is not None:
        raise refusal


def check_request_limits() -> Any:
    _check_target_and_headers()
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        if not request.environ.get("wsgi.input_terminated"):
            return error_response(
                411, "length_required", "Send the request body with a Content-Length header."
            )
        _bound_chunked_body()
    if request.mimetype == "application/x-www-form-urlencoded":
        refusal = form_fields_refusal(request.get_data(cache=True))
        if refusal is not None:
            raise refusal
        return None
    if request.path.startswith(EXEMPT_PREFIXES) or not request.is_json:
        return None
    body = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    if json_deeper_than(body, MAX_JSON_DEPTH):
        return error_response(
            400, "json_too_deep", f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep."
        )
    return None


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` URL parts that fit the database's 32-bit ``INTEGER`` ids; larger ones are a 404.

    Without the bound, ``/webhook-events/4294967297`` reached the database, where PostgreSQL
    refused it as out of range and SQLite (past 2**63) raised OverflowError: a 500 for a
    request that names nothing.
    """

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - Werkzeug's name
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def bound_url_integers(app: Flask) -> None:
    """Must run before any route is registered: converters are bound when a rule is added."""
    app.url_map.converters["int"] = BoundedIntConverter


def init_request_limits(app: Flask) -> None:
    # Werkzeug answers "//" in a path with a 308 to the merged path. Stripe does not follow
    # redirects, so a mistyped webhook URL would lose every event: 404 it instead, visibly.
    app.url_map.merge_slashes = False
    for rule in app.url_map.iter_rules():
        rule.merge_slashes = False
    app.before_request(check_request_limits)
