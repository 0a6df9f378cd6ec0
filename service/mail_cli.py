"""``flask mail ...``: what operators need to see and do about outgoing email."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from . import extensions, outbox
from .db import database
from .outbox import MessageStatus, OutboxMessage

mail_cli = AppGroup("mail", help="Outgoing email: the outbox, failures, retries.")


@mail_cli.command("status")
def status_command() -> None:
    """How many messages are in each state."""
    with database().sessionmaker() as db:
        found = outbox.counts(db)
    for status in MessageStatus.ALL:
        click.echo(f"{status}\t{found.get(status, 0)}")


@mail_cli.command("failed")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
def failed_command(limit: int) -> None:
    """List messages that failed for good (refused address, or retries exhausted)."""
    with database().sessionmaker() as db:
        rows = db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == MessageStatus.FAILED)
            .order_by(OutboxMessage.created_at.desc())
            .limit(limit)
        ).all()
    for row in rows:
        click.echo(f"{row.id}\t{row.kind}\t{row.donation_id or '-'}\t{row.attempts}\t{row.last_error}")
    if not rows:
        click.echo("No failed messages.")


@mail_cli.command("retry")
@click.argument("message_ids", nargs=-1, required=True)
def retry_command(message_ids: tuple[str, ...]) -> None:
    """Send failed messages again once the cause is fixed (each still goes out at most once)."""
    missing = 0
    for message_id in message_ids:
        with database().sessionmaker() as db:
            if outbox.retry_failed(db, message_id):
                click.echo(f"{message_id}: queued again")
            else:
                click.echo(f"{message_id}: not a failed message", err=True)
                missing += 1
    if missing:
        sys.exit(1)


@mail_cli.command("send-due")
def send_due_command() -> None:
    """Send every message that is due now, in this process (the worker does this every minute)."""
    from .jobs import deliver_due

    deliver_due.call_local()
    with database().sessionmaker() as db:
        found = outbox.counts(db)
    click.echo(", ".join(f"{s} {found.get(s, 0)}" for s in MessageStatus.ALL))


@mail_cli.command("statements")
@click.option(
    "--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Act as if today were this date."
)
@click.option("--force", is_flag=True, help="Queue even after the first weeks of the new tax year.")
def statements_command(today: Any, force: bool) -> None:
    """Queue annual statements for the tax year that ended last (each donor gets one)."""

    from .models import utcnow
    from .statements import last_completed, queue_statements

    kind = extensions.settings().tax_year
    day = today.date() if today else utcnow().date()
    with database().sessionmaker() as db:
        count = queue_statements(db, kind, day, force=force)
    click.echo(f"Queued {count} statement(s) for the tax year {last_completed(kind, day).label}.")


@click.command("monthly")
@with_appcontext
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
def monthly_command(limit: int) -> None:
    """Monthly gifts at risk (a payment failed) and stopped ones, with who stopped them and why.

    The same two queries as finance's page and API (service/finance/reports/monthly_gifts.py).
    """
    from .finance.reports import monthly_gifts
    from .finance.reports.scope import Scope

    everything = Scope(appeal_ids=None, personal_data=False)
    with database().sessionmaker() as db:
        risky = monthly_gifts.at_risk(db, everything, limit=limit)
        stopped = monthly_gifts.cancellations(db, everything, limit=limit)
    for row in risky:
        since = row["since"].date().isoformat() if row["since"] else "-"
        click.echo(
            f"{row['donation_id']}\tat_risk\t{row['subscription_status']}\t{row['amount']} {row['currency']}"
            f"\t{since}\t{row['failed_attempts']} failed"
        )
    for row in stopped:
        since = row["cancelled_at"].date().isoformat() if row["cancelled_at"] else "-"
        click.echo(
            f"{row['donation_id']}\tstopped\t{row['subscription_status']}\t{row['amount']} {row['currency']}"
            f"\t{since}\t{row['cancelled_by']}\t{row['feedback'] or '-'}"
        )
    if not risky and not stopped:
        click.echo("No monthly gift is at risk or stopped.")
