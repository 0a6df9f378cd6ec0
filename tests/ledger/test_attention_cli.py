"""Finance clears a donation's attention flag from the command line, with a note kept in the audit log."""

from __future__ import annotations

from sqlalchemy import select

from service import extensions
from service.donations.models import Donation
from service.donations.states import flag_donation
from service.finance.models import AuditEntry


def test_a_flagged_donation_is_listed_then_cleared_with_an_audited_note(app, runner, make_donation):
    flagged, other = make_donation(), make_donation()
    with extensions.database(app).begin() as db:
        flag_donation(db, flagged.id, "amount_mismatch: paid 2000, expected 2500")

    listed = runner.invoke(args=["donations", "attention"])
    assert listed.exit_code == 0, listed.output
    assert flagged.id in listed.output and "amount_mismatch" in listed.output
    assert other.id not in listed.output

    refused = runner.invoke(args=["donations", "clear-attention", flagged.id, "--note", "  "])
    assert refused.exit_code == 1 and "--note" in refused.output

    cleared = runner.invoke(
        args=[
            "donations",
            "clear-attention",
            flagged.id,
            "--note",
            "Donor topped up by bank transfer, ref 1234",
        ]
    )
    assert cleared.exit_code == 0, cleared.output
    with extensions.database(app).sessionmaker() as db:
        donation = db.get(Donation, flagged.id)
        assert (
            donation is not None and donation.needs_attention is False and donation.attention_reason is None
        )
        [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "donation.clear_attention")).all()
        assert entry.channel == "cli"
        assert entry.filters == {
            "donation": flagged.id,
            "reason": "amount_mismatch: paid 2000, expected 2500",
            "note": "Donor topped up by bank transfer, ref 1234",
        }

    again = runner.invoke(args=["donations", "clear-attention", flagged.id, "--note", "twice"])
    assert again.exit_code == 1 and "not flagged" in again.output
    assert "No donation needs attention." in runner.invoke(args=["donations", "attention"]).output


def test_clearing_an_unknown_donation_changes_nothing(runner):
    result = runner.invoke(args=["donations", "clear-attention", "don_unknown", "--note", "checked"])
    assert result.exit_code == 1 and "not flagged" in result.output
