"""``flask donors erase`` and ``flask retention run``: personal data on request and on schedule."""

from __future__ import annotations

import re
import sys

import click
from flask.cli import AppGroup

from . import extensions, privacy
from .db import database

donors_cli = AppGroup("donors", help="Donors' personal data.")
retention_cli = AppGroup("retention", help="Data retention (run daily from the platform's scheduler).")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@donors_cli.command("erase")
@click.argument("email")
@click.option("--dry-run", is_flag=True, help="Report what would change without changing it.")
@click.option(
    "--include-gift-aid",
    is_flag=True,
    help="Also erase Gift Aid declarations (HMRC expects them kept for six years after a claim).",
)
def donors_erase(email: str, dry_run: bool, include_gift_aid: bool) -> None:
    """Remove EMAIL's personal data everywhere; amounts, dates and Stripe ids stay."""
    if not EMAIL.match(email.strip()):
        click.echo("Error: give the donor's email address.", err=True)
        sys.exit(2)
    db = database().sessionmaker()
    try:
        report = privacy.erase_donor(db, email, include_gift_aid=include_gift_aid)
        if dry_run:
            db.rollback()
        else:
            db.commit()
    finally:
        db.close()
    verb = "would change" if dry_run else "changed"
    click.echo(f"{'Dry run: ' if dry_run else ''}erasure of one donor's personal data")
    click.echo(f"  donations: {len(report.donations)} {verb} (email removed)")
    for donation_id in report.donations:
        click.echo(f"    {donation_id}")
    click.echo(f"  Gift Aid declarations erased: {len(report.gift_aid_erased)}")
    if report.gift_aid_kept:
        click.echo(
            f"  Gift Aid declarations kept: {len(report.gift_aid_kept)} (HMRC records; "
            "--include-gift-aid erases them too)"
        )
    click.echo(f"  webhook event payloads scrubbed: {len(report.webhook_events)}")
    if report.stripe_customers:
        # Stripe holds its own copy; deleting a Customer there is a separate, deliberate act.
        click.echo("  Stripe customers holding this donor's details (erase them in Stripe too):")
        for customer in report.stripe_customers:
            click.echo(f"    {customer}")
    if not report.donations and not report.webhook_events:
        click.echo("  nothing found for that address")


@retention_cli.command("run")
@click.option("--days", type=click.IntRange(1, 3650), default=None, help="Override the setting.")
def retention_run(days: int | None) -> None:
    """Scrub personal data from webhook payloads older than WEBHOOK_PAYLOAD_RETENTION_DAYS."""
    days = days or extensions.settings().webhook_payload_retention_days
    db = database().sessionmaker()
    try:
        count = privacy.redact_old_payloads(db, days)
    finally:
        db.close()
    click.echo(f"scrubbed {count} webhook payload(s) older than {days} days")
