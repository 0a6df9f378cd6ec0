"""Flask's signed-cookie sessions (finance staff's sign-in, service/finance/auth.py), opened only
when the request carries the cookie.

Flask's own interface builds an itsdangerous signer for every request, which serialises a test
value to JSON each time: about a seventh of a cached progress read's CPU, paid by every API
call, webhook and public read too, none of which ever has a session. Requests without the
cookie get a new empty session exactly as Flask would give them; the rest go to Flask's code.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface


class CookieSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> Any:
        if app.secret_key and (
            "HTTP_COOKIE" not in request.environ or self.get_cookie_name(app) not in request.cookies
        ):
            return self.session_class()
        return super().open_session(app, request)
