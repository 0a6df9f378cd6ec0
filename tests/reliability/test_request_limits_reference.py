"""service.request_limits' quick checks give what the plain code they replaced gave, for any input.

``target_and_headers_refusal`` counts and measures the headers in one pass over the environ instead
of two passes over Werkzeug's ``EnvironHeaders``; ``json_deeper_than`` counts opening brackets before
walking them. The references below are the replaced code, verbatim: the two must agree on the
answer (refusal class and message, or None, or the error raised) for every environ and every body,
including ones no server sends (non-ASCII names, values without a length, invalid JSON)."""

from __future__ import annotations

import io
import re
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import HTTPException, RequestHeaderFieldsTooLarge, RequestURITooLarge

from service.request_limits import (
    MAX_HEADER_BYTES,
    MAX_HEADER_COUNT,
    MAX_JSON_DEPTH,
    MAX_TARGET_BYTES,
    json_deeper_than,
    json_depth,
    target_and_headers_refusal,
)

# ---- The references: the code as it was before the quick checks (commit 581dff2). ----


def reference_target_and_headers_refusal(environ: dict[str, Any]) -> HTTPException | None:
    # RAW_URI (gunicorn) / REQUEST_URI (Werkzeug) are the target as sent; else rebuild it.
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if target is None:
        query = environ.get("QUERY_STRING", "")
        target = environ.get("PATH_INFO", "") + ("?" + query if query else "")
    if len(target.encode("latin-1", "replace")) > MAX_TARGET_BYTES:
        return RequestURITooLarge(f"The address is longer than {MAX_TARGET_BYTES} bytes.")
    headers = EnvironHeaders(environ)  # what Flask's request.headers is
    if len(headers) > MAX_HEADER_COUNT:
        return RequestHeaderFieldsTooLarge(f"Send at most {MAX_HEADER_COUNT} headers.")
    for name, value in headers.items():
        if len(name) + len(value) > MAX_HEADER_BYTES:
            return RequestHeaderFieldsTooLarge(f"The {name} header is longer than {MAX_HEADER_BYTES} bytes.")
    return None


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def reference_json_depth(body: bytes) -> int:
    """The deepest bracket nesting in ``body``, ignoring brackets inside strings; no recursion."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


# ---- Comparing outcomes ----


def outcome(function: Any, *args: Any) -> tuple[Any, ...]:
    """What a call gives, comparably: the refusal's class, code and message, None, or the error."""
    try:
        result = function(*args)
    except Exception as exc:  # noqa: BLE001 - the error is part of the behaviour compared
        return ("raised", type(exc), str(exc))
    if result is None:
        return ("none",)
    return ("refusal", type(result), result.code, result.description)


# ---- Environs ----

# Characters header names are made of: a token's, the "_" gunicorn and Werkzeug turn "-" into, and
# ones whose title case is longer ("ß" is "Ss", "ŉ" is "ʼN", "ﬁ" is "Fi") or has other letters.
NAME_CHARS = "aAzZ09_-.!~ßÿµéİŉﬁǆ"
names = st.one_of(
    st.sampled_from(["HOST", "USER_AGENT", "ACCEPT", "X_FORWARDED_FOR", "IDEMPOTENCY_KEY", "AUTHORIZATION"]),
    st.text(alphabet=NAME_CHARS, max_size=12),
)
# Values by length, around what one header may take (its name counts too), sometimes not a str.
values = st.one_of(
    st.integers(0, 20).map(lambda n: "v" * n),
    st.integers(-3, 3).map(lambda d: "v" * (MAX_HEADER_BYTES - 12 + d)),
    st.integers(-15, 3).map(lambda d: "v" * (MAX_HEADER_BYTES + d)),
    st.sampled_from(["", "é", "text/html; charset=utf-8"]),
)
odd_values = st.sampled_from([None, 0, 7, b"bytes", ("a", "b")])


@st.composite
def environs(draw: Any) -> dict[str, Any]:
    items: list[tuple[Any, Any]] = [
        ("wsgi.input", io.BytesIO(b"{}")),  # no length: it must never be measured
        ("wsgi.version", (1, 0)),
        ("REQUEST_METHOD", "POST"),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", "8000"),
        ("SCRIPT_NAME", ""),
    ]
    target = draw(
        st.sampled_from(["/api/v1/donations", "/x?" + "q" * (MAX_TARGET_BYTES - 3), "/" + "é" * 4200])
    )
    path, _, query = target.partition("?")
    items += [("PATH_INFO", path), ("QUERY_STRING", query)]
    if draw(st.booleans()):
        items.append(("RAW_URI", draw(st.sampled_from([target, "", "/" + "p" * (MAX_TARGET_BYTES + 1)]))))
    if draw(st.booleans()):
        items.append(("REQUEST_URI", target))
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if draw(st.booleans()):
            # Empty (no header), a value, or sometimes one without a length.
            items.append(
                (key, draw(st.one_of(st.just(""), values, odd_values if draw(st.booleans()) else values)))
            )
    # Lookalikes that are not headers, and the two HTTP_ keys Werkzeug leaves out.
    for key in draw(
        st.sets(st.sampled_from(["HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH", "HTTP", "http_host", "HTTPS"]))
    ):
        items.append((key, draw(values)))
    for _ in range(draw(st.integers(0, 14))):
        items.append(("HTTP_" + draw(names), draw(values)))
    # Counts around the limit (as Werkzeug counts: an empty CONTENT_TYPE is none).
    wanted = draw(st.one_of(st.none(), st.integers(MAX_HEADER_COUNT - 2, MAX_HEADER_COUNT + 1)))
    padding = 0 if wanted is None else max(0, wanted - len(EnvironHeaders(dict(items))))
    items += [(f"HTTP_X_PAD_{i}", "x") for i in range(padding)]
    # Rarely, what PEP 3333 rules out: a header value without a length, a key that is not a str.
    if draw(st.integers(0, 19)) == 0:
        items.append(("HTTP_" + draw(names), draw(odd_values)))
    if draw(st.integers(0, 39)) == 0:
        items.append((b"HTTP_BYTES", "v"))
    return dict(draw(st.permutations(items)))


def gunicorn_environ(**headers: str) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "wsgi.input": io.BytesIO(),
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/api/v1/donations",
    }
    environ.update(headers)
    return environ


@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(environs())
@example(gunicorn_environ(HTTP_HOST="t", CONTENT_TYPE="application/json", CONTENT_LENGTH="2"))
# Title case longer than the key: one header over the limit only as Werkzeug names it.
@example(gunicorn_environ(**{"HTTP_ßßß": "v" * (MAX_HEADER_BYTES - 3)}))  # "Ssßß"
@example(gunicorn_environ(**{"HTTP_ŉ": "v" * (MAX_HEADER_BYTES - 1)}))  # "ʼN"
# The first header too long in the environ's order is the one named.
@example(gunicorn_environ(HTTP_A_B="v" * MAX_HEADER_BYTES, HTTP_C="v" * MAX_HEADER_BYTES))
@example(gunicorn_environ(CONTENT_TYPE="v" * MAX_HEADER_BYTES, HTTP_C="v" * MAX_HEADER_BYTES))
@example(gunicorn_environ(HTTP_CONTENT_TYPE="v" * MAX_HEADER_BYTES, CONTENT_TYPE=""))
# The count before any length, even past a value without one.
@example(
    gunicorn_environ(HTTP_A="v" * MAX_HEADER_BYTES, **{f"HTTP_P{i}": "x" for i in range(MAX_HEADER_COUNT)})
)
@example(gunicorn_environ(HTTP_A=None, **{f"HTTP_P{i}": "x" for i in range(MAX_HEADER_COUNT)}))  # type: ignore[arg-type]
@example(gunicorn_environ(HTTP_A="v" * MAX_HEADER_BYTES, HTTP_B=None))  # type: ignore[arg-type]
@example(gunicorn_environ(CONTENT_TYPE=None, CONTENT_LENGTH=0))  # type: ignore[arg-type]
# An empty CONTENT_TYPE is no header: not counted.
@example(gunicorn_environ(CONTENT_TYPE="", **{f"HTTP_P{i}": "x" for i in range(MAX_HEADER_COUNT)}))
def test_target_and_headers_refusal_is_the_two_passes_over_environ_headers(environ: dict[str, Any]) -> None:
    assert outcome(target_and_headers_refusal, environ) == outcome(
        reference_target_and_headers_refusal, environ
    )


# ---- Bodies ----

STRINGS = [b'""', b'"[[{{"', b'"\\"[{"', b'"\\\\"', b'"a\\\\\\"]"', b'"\xff[\x00"', b'"{' * 3]


@st.composite
def nested(draw: Any) -> bytes:
    """JSON (or nearly: a bracket or quote may be left open) nested around the limit."""
    depth = draw(st.integers(0, MAX_JSON_DEPTH + 3))
    opened = draw(st.lists(st.sampled_from([b"[", b"{"]), min_size=depth, max_size=depth))
    inner = draw(st.lists(st.sampled_from([*STRINGS, b"1", b"[]", b"{}"]), max_size=4))
    body = b"".join(b"[" if o == b"[" else b'{"k":' for o in opened) + b",".join(inner)
    body += b"".join(b"]" if o == b"[" else b"}" for o in reversed(opened))
    # Brackets in strings that bring the count past the limit without any depth.
    if draw(st.booleans()):
        body = b'["' + b"[" * draw(st.integers(0, MAX_JSON_DEPTH + 2)) + b'",' + body + b"]"
    cut = draw(st.integers(0, len(body)))
    return body[:cut] if draw(st.integers(0, 4)) == 0 else body


bodies = st.one_of(
    nested(),
    # Anything made of what the depth looks at: brackets, quotes, backslashes, invalid bytes.
    st.lists(
        st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b"a", b",", b"\xff", b"\x00"]), max_size=60
    ).map(b"".join),
    st.binary(max_size=40),
)


@settings(max_examples=3000, deadline=None)
@given(bodies, st.sampled_from([0, 1, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1]))
@example(b"[" * MAX_JSON_DEPTH, MAX_JSON_DEPTH)
@example(b"[" * (MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)
@example(b"]" + b"[" * (MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)
@example(b'["' + b"[" * MAX_JSON_DEPTH + b'"]', MAX_JSON_DEPTH)  # count past the limit, depth 1
@example(b'"\\"' + b"[" * (MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)  # an escaped quote: not a string's end
@example(b"", 0)
def test_json_deeper_than_is_the_depth_compared_with_the_limit(body: bytes, limit: int) -> None:
    assert json_deeper_than(body, limit) == (reference_json_depth(body) > limit)
    assert json_depth(body) == reference_json_depth(body)
