"""``flask surge payment-links create|list``: surge mode's Payment Links, made before the night."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from . import extensions
from .db import database
from .donations.models import PaymentLink
from .donations.surge import create_payment_links
from .models import Appeal
from .stripe_gateway import StripeGatewayError

surge_cli = AppGroup("surge", help="Surge mode: Payment Links for when Stripe's rate limit is reached.")
links_cli = AppGroup("payment-links", help="One Stripe Payment Link per appeal and currency.")
surge_cli.add_command(links_cli)


@links_cli.command("create")
@click.option("--appeal", "slug", default=None, help="Only this appeal (default: every open appeal).")
def links_create(slug: str | None) -> None:
    """Create the missing Payment Links in Stripe and store them (safe to run again)."""
    gateway = extensions.stripe_gateway()
    settings = extensions.settings()
    try:
        with database().begin() as session:
            results = create_payment_links(session, gateway, settings, slug)
            lines = [
                f"{'created' if new else 'exists '} {link.currency} {link.stripe_payment_link_id} {link.url}"
                for link, new in results
            ]
    except StripeGatewayError as exc:
        click.echo(f"Error: Stripe said {exc.kind} ({exc.code or 'no code'}); nothing was stored.", err=True)
        sys.exit(1)
    if not lines:
        click.echo("No matching open appeal.", err=True)
        sys.exit(1)
    for line in lines:
        click.echo(line)


@links_cli.command("list")
def links_list() -> None:
    """Show the stored Payment Links."""
    with database().begin() as session:
        rows = session.execute(
            select(Appeal.slug, PaymentLink)
            .join(Appeal, Appeal.id == PaymentLink.appeal_id)
            .order_by(Appeal.slug)
        ).all()
        for slug, link in rows:
            click.echo(f"{slug}\t{link.currency}\t{link.stripe_payment_link_id}\t{link.url}")
