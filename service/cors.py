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


def allowed_origin(allowed: Iterable[str]) -> str | None:
    """The request's Origin when it is exactly one of ``allowed``; otherwise None."""
    origin = request.headers.get("Origin")
    if not origin:
        return None
    wanted = normalise_origin(origin)
    if wanted is None:
        return None
    return origin if wanted in {normalise_origin(o) for o in allowed} else None


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
    # Scripts on other sites may read these public figures; say so explicitly in case a
    # site-wide Cross-Origin-Resource-Policy default is ever tightened.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
