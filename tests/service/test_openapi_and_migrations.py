"""The API contract document and the schema migrations."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from service.migrate import alembic_config, downgrade, upgrade


def test_openapi_document_describes_the_api_from_the_validating_schemas(client: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    post = spec["paths"]["/api/v1/donations"]["post"]
    assert {"201", "422", "503"} <= set(post["responses"])
    schema = spec["components"]["schemas"]["DonationCreate"]
    assert set(schema["required"]) == {"appeal", "amount", "currency"}
    assert schema["properties"]["frequency"]["enum"] == ["one_off", "monthly"]
    assert "/api/v1/appeals/{slug}" in spec["paths"]


def test_reference_page_is_readable_html(client: Any) -> None:
    html = client.get("/docs").get_data(as_text=True)
    assert "POST /api/v1/donations" in html and "DonationCreate" in html


def test_there_is_one_migration_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_migrations_match_the_models(database_url: str) -> None:
    # Raises if autogenerate would find any difference between models and migrated schema.
    command.check(alembic_config(database_url))


def test_migrations_downgrade_to_nothing_and_back(database_url: str, app: Any) -> None:
    downgrade(database_url, "base")
    engine = create_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(database_url)
    assert {"appeals", "donations", "idempotency_records"} <= set(inspect(engine).get_table_names())
    engine.dispose()
