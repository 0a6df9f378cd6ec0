"""``flask finance tokens create|list|revoke``: the only way finance tokens are issued."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from ..db import database
from ..errors import DomainError
from . import tokens
from .models import Role

finance_cli = AppGroup("finance", help="Finance access: API tokens for reports and exports.")
tokens_cli = AppGroup("tokens", help="Create, list and revoke finance API tokens.")
finance_cli.add_command(tokens_cli)


@tokens_cli.command("create")
@click.option("--name", required=True, help="Who holds it and what for, e.g. 'Jo Bloggs, month-end'.")
@click.option("--role", type=click.Choice(Role.ALL), default=Role.VIEWER, show_default=True)
@click.option("--days", type=int, default=90, show_default=True, help="Days until it expires (1-366).")
@click.option("--appeal", "appeals", multiple=True, help="Limit to this appeal slug (repeatable).")
def tokens_create(name: str, role: str, days: int, appeals: tuple[str, ...]) -> None:
    """Create a token and print it once: it is stored only as a hash and cannot be shown again."""
    try:
        with database().begin() as db:
            issued = tokens.create_token(db, name=name, role=role, days=days, appeals=list(appeals) or None)
            prefix, expires = issued.token.prefix, issued.token.expires_at
    except DomainError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        for field, messages in exc.fields.items():
            click.echo(f"  {field}: {'; '.join(messages)}", err=True)
        sys.exit(1)
    click.echo(issued.secret)
    click.echo(
        f"Token {prefix} ({role}{', appeals: ' + ', '.join(appeals) if appeals else ''}) "
        f"expires {expires:%Y-%m-%d %H:%M} UTC. Copy it now: it will not be shown again.",
        err=True,
    )


@tokens_cli.command("list")
def tokens_list() -> None:
    """List tokens under a header (prefix, role, appeals, state, last use, name); never the secrets."""
    rows = [("PREFIX", "ROLE", "APPEALS", "STATE", "LAST USED (UTC)", "NAME")]
    with database().begin() as db:
        for t in tokens.list_tokens(db):
            if t.revoked_at:
                state = f"revoked {t.revoked_at:%Y-%m-%d}"
            elif t.expires_at <= tokens.utcnow():
                state = f"expired {t.expires_at:%Y-%m-%d}"
            else:
                state = f"active until {t.expires_at:%Y-%m-%d}"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M:%S}" if t.last_used_at else "never used"
            rows.append((t.prefix, t.role, ",".join(t.appeals or ["*"]), state, used, t.name))
    if len(rows) == 1:
        click.echo("No finance tokens yet; create one with `flask finance tokens create`.")
        return
    # Tab-separated under a header line: readable, and `cut -f` or a spreadsheet splits it.
    for row in rows:
        click.echo("\t".join(row))


@tokens_cli.command("revoke")
@click.argument("prefix")
def tokens_revoke(prefix: str) -> None:
    """Revoke the token with PREFIX (the 8 characters after drf_); takes effect at once."""
    try:
        with database().begin() as db:
            tokens.revoke_token(db, prefix)
    except DomainError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"revoked {prefix}")
