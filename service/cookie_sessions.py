"""Flask's signed-cookie sessions (finance staff's sign-in, service/finance/auth.py), opened only
when the request carries the cookie.

Flask's own interface builds an itsdangerous signer for every request, which serialises a test
value to JSON each time: about a seventh of a cached progress read's CPU, paid by every API
call, webhook and public read too, none of which ever has a session. Requests without the
cookie get a new empty session exactly as Flask would give them; the rest go to Flask's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.http import parse_cookie


def carries_session_cookie(app: Flask, environ: Mapping[str, Any]) -> bool:
    """Whether the request carries the app's session cookie: the one cookie the service reads
    (finance staff's sign-in), and the only one that opens a session. Any other cookie a browser
    holds for the domain (a load balancer's, the charity's own site's) changes no answer, so the
    fast paths in front of Flask (service/post_fast_path.py, service/api/progress.py) take such
    requests too."""
    cookie = environ.get("HTTP_COOKIE")
    return cookie is not None and app.config["SESSION_COOKIE_NAME"] in parse_cookie(cookie)


class CookieSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> Any:
        if app.secret_key and not carries_session_cookie(app, request.environ):
            return self.session_class()
        return super().open_session(app, request)
