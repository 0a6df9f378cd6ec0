"""Cross-origin reads for publishers' pages, allowed per appeal and per exact origin.

Only an origin an appeal lists gets ``Access-Control-Allow-Origin`` (echoed, never ``*``), and
no credentials are ever allowed: the widget reads public figures and needs no cookies.
``Vary: Origin`` is always sent so a shared cache never hands one site's answer to another.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Response, request

PREFLIGHT_MAX_AGE = 600
# Scripts on other sites may read these public figures; say so explicitly in case a site-wide
# Cross-Origin-Resource-Policy default is ever tightened.
CORP = ("Cross-Origin-Resource-Policy", "cross-origin")


def normalise_origin(value: str) -> str | None:
    """'HTTPS://News.Example:443/' -> 'https://news.example'; None when it is not an origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    suffix = f":{port}" if port and port != default else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{suffix}"


def normalised_origins(allowed: Iterable[str]) -> frozenset[str]:
    """An appeal's listed origins, normalised once (a cached answer keeps them: ``granted``)."""
    return frozenset(o for o in map(normalise_origin, allowed) if o is not None)


def granted(origin: str | None, allowed: frozenset[str]) -> str | None:
    """``origin`` (a request's Origin header) when it is exactly one of ``allowed`` (normalised)."""
    if not origin:
        return None
    wanted = normalise_origin(origin)
    return origin if wanted is not None and wanted in allowed else None


def allowed_origin(allowed: Iterable[str]) -> str | None:
    """The request's Origin when it is exactly one of ``allowed``; otherwise None."""
    return granted(request.headers.get("Origin"), normalised_origins(allowed))


def read_headers(origin: str | None, allowed: frozenset[str]) -> list[tuple[str, str]]:
    """What ``apply_cors`` adds to a GET answer that has no ``Vary`` of its own, for an answer
    made outside Flask (service/api/progress.py: ``ProgressFastPath``)."""
    headers = [("Vary", "Origin")]
    grant = granted(origin, allowed)
    if grant is not None:
        headers.append(("Access-Control-Allow-Origin", grant))
    headers.append(CORP)
    return headers


def apply_cors(response: Response, allowed: Iterable[str], preflight: bool = False) -> Response:
    if "Vary" in response.headers:
        response.vary.add("Origin")
    else:
        response.headers["Vary"] = "Origin"  # the usual case, without parsing a header set
    if response.status_code == 204:
        response.headers.pop("Content-Type", None)  # no body, so no type (Werkzeug adds text/html)
    origin = allowed_origin(allowed)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        if preflight:
            response.headers["Access-Control-Allow-Methods"] = "GET"
            response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    response.headers[CORP[0]] = CORP[1]
    return response
