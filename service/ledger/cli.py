"""Operator commands: ``flask stripe sync-events``, ``flask webhooks replay``, ``flask webhooks
apply-due``, ``flask donations sweep``, ``flask donations attention`` and ``clear-attention``.

Each is safe to run at any time and from cron: they go through the same idempotent functions as
webhook deliveries.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select, update

from .. import extensions
from ..db import database
from ..donations.models import Donation
from ..finance import audit
from ..models import WebhookEvent, WebhookOutcome, utcnow
from .receiving import MAX_APPLY_ATTEMPTS, RECEIVED_GRACE, REPLAYABLE, apply_due, process_event
from .sweeper import sweep
from .sync import SyncReport, parse_span, sync_events

stripe_cli = AppGroup("stripe", help="Reconcile the ledger with Stripe.")
webhooks_cli = AppGroup("webhooks", help="Inspect and reprocess stored Stripe events.")
donations_cli = AppGroup("donations", help="Maintenance for donations.")


def _services() -> tuple:
    app = current_app
    return database().sessionmaker, extensions.stripe_gateway(app), extensions.settings(app)


@stripe_cli.command("sync-events")
@click.option(
    "--since", "span", default="3d", show_default=True, help="How far back: 3d, 12h, 90m (max 30d)."
)
def sync_events_command(span: str) -> None:
    """Apply every event from Stripe's Events API that the ledger lacks."""
    try:
        since = parse_span(span)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None

    def progress(report: SyncReport) -> None:
        click.echo(f"listed {report.listed} events, {report.stored} new", err=True)

    sessions, gateway, settings = _services()
    report = sync_events(sessions, gateway, settings, since, progress)
    outcomes = (
        ", ".join(f"{name} {count}" for name, count in sorted(report.outcomes.items())) or "nothing to apply"
    )
    click.echo(f"Synced {report.listed} events ({report.stored} were missing): {outcomes}.")
    if report.waiting_applied:
        click.echo(f"Applied {report.waiting_applied} events that were waiting for their payment.")
    if report.outcomes.get(WebhookOutcome.FAILED):
        sys.exit(1)


@webhooks_cli.command("replay")
@click.argument("event_ids", nargs=-1)
@click.option("--failed", is_flag=True, help="Every event that failed (or was left unprocessed).")
@click.option("--force", is_flag=True, help="Reprocess even events already processed (idempotent).")
def replay_command(event_ids: tuple[str, ...], failed: bool, force: bool) -> None:
    """Reprocess stored events by id (evt_...), or all failed ones."""
    if not event_ids and not failed:
        raise click.UsageError("give event ids or --failed")
    sessions, gateway, settings = _services()
    ids = list(event_ids)
    if failed:
        stuck_before = utcnow() - timedelta(minutes=5)
        with sessions() as db:
            ids += db.scalars(
                select(WebhookEvent.stripe_event_id)
                .where(
                    (WebhookEvent.outcome == WebhookOutcome.FAILED)
                    | (
                        (WebhookEvent.outcome == WebhookOutcome.RECEIVED)
                        & (WebhookEvent.received_at < stuck_before)
                    )
                )
                .order_by(WebhookEvent.event_created_at)
            )
    allowed = WebhookOutcome.ALL if force else REPLAYABLE
    failures = 0
    for event_id in ids:
        with sessions() as db:
            known = db.scalar(select(WebhookEvent.outcome).where(WebhookEvent.stripe_event_id == event_id))
        if known is None:
            click.echo(f"{event_id}: not stored", err=True)
            failures += 1
            continue
        outcome = process_event(sessions, gateway, settings, event_id, allowed=allowed)
        note = " (left as it was; --force to reprocess)" if outcome.duplicate_delivery else ""
        click.echo(f"{event_id}: {outcome.outcome}{note}")
        failures += outcome.outcome == WebhookOutcome.FAILED
    if failures:
        sys.exit(1)


@webhooks_cli.command("apply-due")
def apply_due_command() -> None:
    """Apply events the job queue missed, and retry failed ones whose back-off has passed.

    The worker runs this every minute. Events still `received` after the grace were never handed
    over (or the worker is far behind); failed ones are retried with back-off up to the cap, then
    left `failed` with needs_review (`flask webhooks replay --failed` once the cause is fixed).
    """
    sessions, gateway, settings = _services()
    report = apply_due(sessions, gateway, settings)
    outcomes = ", ".join(f"{name} {count}" for name, count in sorted(report.outcomes.items()))
    click.echo(
        f"Applied {report.received} events left received over {int(RECEIVED_GRACE.total_seconds())} s"
        f" and retried {report.retried} failed ones"
        + (f": {outcomes}." if outcomes else ".")
        + (f" {report.waiting_applied} waiting for their payment applied." if report.waiting_applied else "")
    )
    for stripe_event_id in report.gave_up:
        click.echo(f"{stripe_event_id}: failed {MAX_APPLY_ATTEMPTS} times; left for review", err=True)


@webhooks_cli.command("review")
@click.option("--limit", default=50, show_default=True)
def review_command(limit: int) -> None:
    """List events flagged for finance (quarantined: not ours, wrong mode, amount mismatch)."""
    sessions, _, _ = _services()
    with sessions() as db:
        rows = db.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.needs_review.is_(True))
            .order_by(WebhookEvent.received_at.desc())
            .limit(limit)
        )
        for row in rows:
            click.echo(f"{row.stripe_event_id}\t{row.type}\t{row.donation_id or '-'}\t{row.outcome_reason}")


@donations_cli.command("sweep")
def sweep_command() -> None:
    """Create missing Checkout Sessions and settle sessions that lapsed without an event."""
    sessions, gateway, settings = _services()
    report = sweep(sessions, gateway, settings)
    click.echo(
        "Swept: " + (", ".join(f"{k} {v}" for k, v in sorted(report.items())) or "nothing to do") + "."
    )


@donations_cli.command("attention")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
def attention_command(limit: int) -> None:
    """List donations flagged for finance's attention (amount mismatches and the like)."""
    sessions, _, _ = _services()
    with sessions() as db:
        rows = db.execute(
            select(
                Donation.id, Donation.status, Donation.amount, Donation.currency, Donation.attention_reason
            )
            .where(Donation.needs_attention.is_(True))
            .order_by(Donation.updated_at.desc())
            .limit(limit)
        ).all()
    for row in rows:
        click.echo(f"{row.id}\t{row.status}\t{row.amount} {row.currency}\t{row.attention_reason}")
    if not rows:
        click.echo("No donation needs attention.")


@donations_cli.command("clear-attention")
@click.argument("donation_id")
@click.option("--note", required=True, help="What was checked or done (kept in the finance audit log).")
def clear_attention_command(donation_id: str, note: str) -> None:
    """Clear a donation's attention flag once finance has dealt with it; the reason and the note
    are kept in the finance audit log."""
    note = note.strip()
    if not note or len(note) > 500:
        click.echo("Error: --note must be 1 to 500 characters.", err=True)
        sys.exit(1)
    sessions, _, _ = _services()
    with sessions.begin() as db:
        reason = db.scalar(
            select(Donation.attention_reason).where(
                Donation.id == donation_id, Donation.needs_attention.is_(True)
            )
        )
        if reason is None:
            click.echo(f"Error: {donation_id} is not flagged for attention.", err=True)
            sys.exit(1)
        db.execute(
            update(Donation)
            .where(Donation.id == donation_id)
            .values(needs_attention=False, attention_reason=None, updated_at=utcnow())
        )
    audit.record(
        sessions,
        None,
        "donation.clear_attention",
        {"donation": donation_id, "reason": reason, "note": note},
        channel="cli",
    )
    click.echo(f"Cleared {donation_id} (was: {reason}).")
