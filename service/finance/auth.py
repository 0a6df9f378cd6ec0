"""Who is asking: bearer tokens for the API, a signed session for the pages, CSRF for forms.

The pages sign in with the same tokens as the API; the session keeps only the token's id and is
re-checked on every request, so revoking a token signs its pages out at once.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any

from flask import Response, g, request, session

from .. import db
from ..models import utcnow
from . import audit
from .tokens import AuthenticationRequired, PermissionDenied, Principal, authenticate, principal_for_id

SESSION_KEY = "finance_token_id"
SESSION_STARTED = "finance_signed_in_at"
CSRF_KEY = "finance_csrf"
# A signed-in page session lasts a working day, however long the token itself lives.
SESSION_LIFETIME = timedelta(hours=8)


def principal() -> Principal:
    found = g.get("finance_principal")
    if found is None:
        raise AuthenticationRequired()
    return found


def require(role: str) -> Principal:
    """The current principal if its role reaches ``role``; PermissionDenied otherwise."""
    who = principal()
    if not who.has_role(role):
        raise PermissionDenied(f"This needs the {role} role; this token is a {who.role}.")
    return who


def require_all_appeals() -> Principal:
    """The current principal if it may read every appeal; payouts and their statements mix
    appeals' money, so a token limited to some appeals must not read them."""
    who = principal()
    if who.appeals is not None:
        raise PermissionDenied("Payouts mix appeals; they need a token not limited to some appeals.")
    return who


def load_bearer() -> None:
    """before_request for the finance API: every call needs a valid bearer token."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw:
        raise AuthenticationRequired()
    database = db.session()
    g.finance_principal = authenticate(database, raw)
    g.finance_channel = "api"
    database.commit()  # keeps last_used_at; nothing else is pending at this point


def add_challenge(response: Response) -> Response:
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="finance"'
    response.headers["Cache-Control"] = "no-store"
    return response


def load_session() -> Principal | None:
    """The signed-in principal for the pages, or None (the caller redirects to sign-in)."""
    token_id = session.get(SESSION_KEY)
    started = session.get(SESSION_STARTED)
    if not isinstance(token_id, int) or not isinstance(started, int | float):
        return None
    if utcnow().timestamp() - started > SESSION_LIFETIME.total_seconds():
        session.clear()
        return None
    found = principal_for_id(db.session(), token_id)
    if found is None:
        session.clear()
        return None
    g.finance_principal = found
    g.finance_channel = "page"
    return found


def sign_in(raw_token: str) -> Principal:
    database = db.session()
    who = authenticate(database, raw_token)
    database.commit()
    # A fresh session on sign-in: nothing from before carries over, the CSRF token included.
    session.clear()
    session[SESSION_KEY] = who.token_id
    session[SESSION_STARTED] = utcnow().timestamp()
    session[CSRF_KEY] = secrets.token_urlsafe(32)
    g.finance_principal = who
    g.finance_channel = "page"
    return who


def sign_out() -> None:
    session.clear()


def csrf_token() -> str:
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def csrf_valid(form_value: str | None) -> bool:
    expected = session.get(CSRF_KEY)
    return (
        isinstance(expected, str)
        and isinstance(form_value, str)
        and hmac.compare_digest(expected, form_value)
    )


def log_read(action: str, filters: dict[str, Any] | None = None, row_count: int | None = None) -> int:
    """Write the audit entry for what the current principal just read."""
    return audit.record(
        db.database().sessionmaker,
        g.get("finance_principal"),
        action,
        filters,
        row_count=row_count,
        channel=g.get("finance_channel", "api"),
        request_id=g.get("request_id"),
    )
