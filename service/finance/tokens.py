"""Issuing, listing, revoking and checking finance API tokens.

A token reads ``drf_<prefix>_<secret>``. The prefix (public, 8 hex characters) finds the row;
the secret (32 random bytes) is checked by comparing SHA-256 digests in constant time. A fast
hash is enough here because the secret has 256 bits of entropy: nobody can guess it offline,
unlike a password, so a slow key-derivation function would only cost every request time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..errors import DomainError, NotFound, ValidationFailed
from ..models import Appeal, utcnow
from .models import ApiToken, Role

TOKEN_PREFIX = "drf_"  # noqa: S105 - the public marker, not a secret
MAX_LIFETIME_DAYS = 366
# Compared against when the prefix matches no row, so an unknown prefix costs the same work.
_DUMMY_HASH = hashlib.sha256(b"no-such-token").hexdigest()


class AuthenticationRequired(DomainError):
    status = 401
    code = "unauthorized"
    message = "Send a valid finance API token: Authorization: Bearer drf_..."


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"
    message = "This token's role or appeals do not allow this."


@dataclass(frozen=True)
class Principal:
    """Who is reading: the token's id, role and appeal restriction (None = all appeals)."""

    token_id: int
    name: str
    role: str
    appeals: tuple[str, ...] | None

    def has_role(self, role: str) -> bool:
        return Role.rank(self.role) >= Role.rank(role)

    @property
    def sees_personal_data(self) -> bool:
        return self.has_role(Role.ACCOUNTANT)

    def may_read_appeal(self, slug: str) -> bool:
        return self.appeals is None or slug in self.appeals


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the whole token string, shown once and never stored


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    db: Session,
    *,
    name: str,
    role: str,
    days: int = 90,
    appeals: list[str] | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    problems: dict[str, list[str]] = {}
    if role not in Role.ALL:
        problems["role"] = [f"Must be one of {', '.join(Role.ALL)}."]
    if not 1 <= days <= MAX_LIFETIME_DAYS:
        problems["days"] = [f"Must be between 1 and {MAX_LIFETIME_DAYS}."]
    if not name.strip() or len(name) > 200:
        problems["name"] = ["Give the token a name of 1 to 200 characters (who holds it, what for)."]
    if appeals:
        known = set(db.scalars(select(Appeal.slug).where(Appeal.slug.in_(appeals))))
        unknown = sorted(set(appeals) - known)
        if unknown:
            problems["appeal"] = [f"Unknown appeal: {', '.join(unknown)}."]
    if problems:
        raise ValidationFailed(fields=problems)
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    created = now or utcnow()
    token = ApiToken(
        prefix=prefix,
        secret_hash=_digest(secret),
        name=name.strip(),
        role=role,
        appeals=sorted(set(appeals)) if appeals else None,
        created_at=created,
        expires_at=created + timedelta(days=days),
    )
    db.add(token)
    db.flush()
    return IssuedToken(token=token, secret=secret)


def list_tokens(db: Session) -> list[ApiToken]:
    return list(db.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(db: Session, prefix: str, now: datetime | None = None) -> ApiToken:
    token = db.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
    if token is None:
        raise NotFound(f"No token with prefix {prefix}.")
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()
    return token


def _split(raw: str) -> tuple[str, str] | None:
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    prefix, sep, rest = raw[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(prefix) != 8 or not rest:
        return None
    return prefix, raw


def authenticate(db: Session, raw: str | None, now: datetime | None = None) -> Principal:
    """The principal a presented token stands for; AuthenticationRequired if it is no good.

    Wrong, expired and revoked tokens get the same answer, so a caller learns nothing about
    which tokens exist.
    """
    parts = _split((raw or "").strip())
    token = db.scalar(select(ApiToken).where(ApiToken.prefix == parts[0])) if parts else None
    presented = _digest(parts[1]) if parts else _DUMMY_HASH
    matches = hmac.compare_digest(presented, token.secret_hash if token else _DUMMY_HASH)
    moment = now or utcnow()
    if token is None or not matches or token.revoked_at is not None or token.expires_at <= moment:
        raise AuthenticationRequired()
    # Recorded at most once a minute so a busy dashboard does not write on every request.
    if token.last_used_at is None or moment - token.last_used_at > timedelta(minutes=1):
        db.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=moment))
    return Principal(
        token_id=token.id,
        name=token.name,
        role=token.role,
        appeals=tuple(token.appeals) if token.appeals else None,
    )


def principal_for_id(db: Session, token_id: int, now: datetime | None = None) -> Principal | None:
    """Re-check a signed-in session's token on every page, so revocation takes effect at once."""
    token = db.get(ApiToken, token_id)
    if token is None or token.revoked_at is not None or token.expires_at <= (now or utcnow()):
        return None
    return Principal(token.id, token.name, token.role, tuple(token.appeals) if token.appeals else None)
