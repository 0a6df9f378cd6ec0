"""Appeals: managed from the command line, exposed read-only through the public API."""

from __future__ import annotations

import json
from typing import Any


def write(tmp_path: Any, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_seeded_appeal_is_listed_and_shown(runner: Any) -> None:
    listed = runner.invoke(args=["appeals", "list"])
    assert listed.exit_code == 0
    assert "red-cross-ukraine\topen\tgbp,eur,usd" in listed.output
    shown = runner.invoke(args=["appeals", "show", "red-cross-ukraine"])
    assert "gbp: min £2, max £25,000; suggested £10, £25, £50, £100" in shown.output
    assert "statement descriptor suffix: UKRAINE" in shown.output


def test_load_creates_then_updates_by_slug_from_yaml_and_json(
    runner: Any, tmp_path: Any, client: Any
) -> None:
    yaml_file = write(
        tmp_path,
        "a.yaml",
        "appeals:\n  - slug: flood-relief\n    title: Flood relief\n    charity_name: Relief Org\n"
        "    currencies: [EUR]\n    suggested_amounts: {EUR: [1500, 3000]}\n",
    )
    first = runner.invoke(args=["appeals", "load", yaml_file])
    assert first.exit_code == 0 and "created flood-relief" in first.output
    json_file = write(
        tmp_path,
        "a.json",
        json.dumps(
            {
                "slug": "flood-relief",
                "title": "Flood relief 2",
                "charity_name": "Relief Org",
                "currencies": ["eur"],
            }
        ),
    )
    second = runner.invoke(args=["appeals", "load", json_file])
    assert second.exit_code == 0 and "updated flood-relief" in second.output
    appeal = client.get("/api/v1/appeals/flood-relief").get_json()
    assert appeal["title"] == "Flood relief 2"
    assert appeal["minimum_amounts"] == {"eur": 50}  # Stripe's minimum charge when none is given


def test_validation_errors_name_each_field_and_load_nothing(runner: Any, tmp_path: Any, client: Any) -> None:
    bad = write(
        tmp_path,
        "bad.yaml",
        "- slug: Bad Slug\n  title: ''\n  charity_name: C\n  currencies: [gbp, xyz]\n"
        "  minimum_amounts: {gbp: 10}\n  statement_descriptor_suffix: 'this is far too long for stripe'\n"
        "- slug: fine-one\n  title: Fine\n  charity_name: C\n  currencies: [gbp]\n  surprise: 1\n",
    )
    result = runner.invoke(args=["appeals", "load", bad])
    assert result.exit_code == 1
    for expected in (
        "[0] Bad Slug.slug",
        "[0] Bad Slug.title",
        "[0] Bad Slug.currencies",
        "[0] Bad Slug.minimum_amounts",
        "below Stripe's minimum charge of 30",
        "[0] Bad Slug.statement_descriptor_suffix",
        "[1] fine-one.surprise",
    ):
        assert expected in result.output
    assert [a["slug"] for a in client.get("/api/v1/appeals").get_json()] == ["red-cross-ukraine"]


def test_suggested_amounts_must_fit_the_limits(runner: Any, tmp_path: Any) -> None:
    bad = write(
        tmp_path,
        "bad.yaml",
        "slug: x\ntitle: X\ncharity_name: C\ncurrencies: [usd]\nminimum_amounts: {usd: 500}\n"
        "maximum_amounts: {usd: 1000}\nsuggested_amounts: {usd: [100, 5000]}\n",
    )
    result = runner.invoke(args=["appeals", "load", bad])
    assert result.exit_code == 1
    assert "usd suggestion 100 is outside 500..1000" in result.output
    assert "usd suggestion 5000 is outside 500..1000" in result.output


def test_close_and_reopen(runner: Any, client: Any) -> None:
    assert runner.invoke(args=["appeals", "close", "red-cross-ukraine"]).exit_code == 0
    assert client.get("/api/v1/appeals/red-cross-ukraine").get_json()["is_open"] is False
    assert "closed" in runner.invoke(args=["appeals", "list"]).output
    assert runner.invoke(args=["appeals", "reopen", "red-cross-ukraine"]).exit_code == 0
    assert client.get("/api/v1/appeals/red-cross-ukraine").get_json()["is_open"] is True


def test_unknown_appeal_on_the_command_line_fails_clearly(runner: Any) -> None:
    result = runner.invoke(args=["appeals", "show", "nope"])
    assert result.exit_code == 1 and "No appeal with that name" in result.output


def test_public_api_exposes_only_public_fields(client: Any, runner: Any, tmp_path: Any) -> None:
    path = write(
        tmp_path,
        "c.yaml",
        "slug: c\ntitle: C\ncharity_name: C\ncurrencies: [gbp]\nstripe_account: acct_123\n",
    )
    runner.invoke(args=["appeals", "load", path])
    body = client.get("/api/v1/appeals/c").get_json()
    assert "stripe_account" not in body and "id" not in body
    assert body["donate_url"].endswith("/donate/c")
    assert client.get("/api/v1/appeals/missing").status_code == 404


def test_appeal_window_opens_and_closes(runner: Any, tmp_path: Any, client: Any) -> None:
    path = write(
        tmp_path,
        "w.yaml",
        "slug: later\ntitle: Later\ncharity_name: C\ncurrencies: [gbp]\nopens_at: '2999-01-01T00:00:00+00:00'\n",
    )
    assert runner.invoke(args=["appeals", "load", path]).exit_code == 0
    response = client.post("/api/v1/donations", json={"appeal": "later", "amount": 1000, "currency": "gbp"})
    assert response.status_code == 422
    assert "not accepting" in response.get_json()["error"]["fields"]["appeal"][0]
