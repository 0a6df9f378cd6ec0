"""Operator commands: ``flask db ...`` and ``flask appeals ...``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import appeals, migrate
from .currencies import format_amount
from .db import database
from .errors import DomainError
from .finance.cli import finance_cli
from .ledger.cli import register_ledger_cli

db_cli = AppGroup("db", help="Database schema migrations.")
appeals_cli = AppGroup("appeals", help="Manage appeals.")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    migrate.upgrade(current_app.extensions["settings"].database_url, revision)
    click.echo(f"Database at revision {revision}.")


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION."""
    migrate.downgrade(current_app.extensions["settings"].database_url, revision)


@db_cli.command("current")
def db_current() -> None:
    """Show the database's current revision."""
    migrate.current(current_app.extensions["settings"].database_url)


def _forget_cached_appeals() -> None:
    # This process sees the change at once; other workers within APPEAL_CACHE_SECONDS.
    current_app.extensions["appeal_cache"].clear()


def _fail(exc: DomainError) -> None:
    click.echo(f"Error: {exc.message}", err=True)
    for field, messages in exc.fields.items():
        for message in messages if isinstance(messages, list) else [messages]:
            click.echo(f"  {field}: {message}", err=True)
    sys.exit(1)


@appeals_cli.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def appeals_load(path: Path) -> None:
    """Create or update appeals from a YAML or JSON file (one appeal or a list)."""
    try:
        with database().begin() as session:
            prefix = current_app.extensions["settings"].statement_descriptor_prefix
            results = appeals.load_file(session, path, prefix)
            lines = [f"{'created' if created else 'updated'} {appeal.slug}" for appeal, created in results]
    except DomainError as exc:
        _fail(exc)
        return
    _forget_cached_appeals()
    for line in lines:
        click.echo(line)


@appeals_cli.command("seed")
def appeals_seed() -> None:
    """Load the sample Red Cross Emergency Appeal (Ukraine)."""
    with database().begin() as session:
        prefix = current_app.extensions["settings"].statement_descriptor_prefix
        for appeal, created in appeals.load_file(session, appeals.SEED_FILE, prefix):
            click.echo(f"{'created' if created else 'updated'} {appeal.slug}")
    _forget_cached_appeals()


@appeals_cli.command("list")
def appeals_list() -> None:
    """List appeals with their state."""
    with database().begin() as session:
        for appeal in appeals.list_appeals(session):
            state = "open" if appeal.is_open() else "closed"
            click.echo(f"{appeal.slug}\t{state}\t{','.join(appeal.currencies)}\t{appeal.title}")


@appeals_cli.command("show")
@click.argument("slug")
def appeals_show(slug: str) -> None:
    """Show one appeal's settings."""
    try:
        with database().begin() as session:
            appeal = appeals.get_appeal(session, slug)
            click.echo(f"slug: {appeal.slug}")
            click.echo(f"title: {appeal.title}")
            click.echo(f"charity: {appeal.charity_name}")
            click.echo(f"state: {'open' if appeal.is_open() else 'closed'}")
            click.echo(f"currencies: {', '.join(appeal.currencies)} (default {appeal.default_currency})")
            for code in appeal.currencies:
                suggested = ", ".join(format_amount(a, code) for a in appeal.suggested_amounts.get(code, []))
                click.echo(
                    f"  {code}: min {format_amount(appeal.minimum_amounts[code], code)}, "
                    f"max {format_amount(appeal.maximum_amounts[code], code)}; suggested {suggested or '-'}"
                )
            if appeal.goal_amount and appeal.goal_currency:
                click.echo(f"goal: {format_amount(appeal.goal_amount, appeal.goal_currency)}")
            click.echo(f"connected account: {appeal.stripe_account or '-'}")
            click.echo(f"statement descriptor suffix: {appeal.statement_descriptor_suffix or '-'}")
    except DomainError as exc:
        _fail(exc)


@appeals_cli.command("close")
@click.argument("slug")
def appeals_close(slug: str) -> None:
    """Stop an appeal taking donations (existing donations are unaffected)."""
    try:
        with database().begin() as session:
            appeals.close_appeal(session, slug)
    except DomainError as exc:
        _fail(exc)
    _forget_cached_appeals()
    click.echo(f"closed {slug}")


@appeals_cli.command("reopen")
@click.argument("slug")
def appeals_reopen(slug: str) -> None:
    """Let a closed appeal take donations again."""
    try:
        with database().begin() as session:
            appeals.reopen_appeal(session, slug)
    except DomainError as exc:
        _fail(exc)
    _forget_cached_appeals()
    click.echo(f"reopened {slug}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(appeals_cli)
    app.cli.add_command(finance_cli)
    register_ledger_cli(app)
