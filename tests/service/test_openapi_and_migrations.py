"""The API contract document and the schema migrations."""

from __future__ import annotations

import re
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


def test_api_reference_page_lists_every_request_body_field(client: Any) -> None:
    document = client.get("/openapi.json").get_json()
    page = client.get("/docs").get_data(as_text=True)
    create = page[page.index("POST /api/v1/donations") : page.index("GET /api/v1/donations/")]
    body = document["components"]["schemas"]["DonationCreate"]["properties"]
    assert len(body) >= 9
    for field in body:
        assert f"<code>{field}</code>" in create, field
    assert '<a href="#schema-Source">Source</a>' in create  # nested bodies link to their fields


def test_every_answer_given_before_the_view_is_documented_with_its_type(client: Any) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    create = paths["/api/v1/donations"]["post"]["responses"]
    for status in ("400", "411", "413", "414", "415", "422", "429", "431"):
        assert "application/json" in create[status]["content"], status
    assert "Retry-After" in create["429"]["headers"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert {"414", "431"} <= set(operation["responses"]), (method, path)
    preflight = paths["/api/v1/appeals/{slug}/progress"]["options"]["responses"]
    assert "content" not in preflight["204"] and "Access-Control-Allow-Origin" in preflight["204"]["headers"]
    response = client.options("/api/v1/appeals/red-cross-ukraine/progress")
    assert response.status_code == 204 and "Content-Type" not in response.headers


def test_any_cursor_the_document_admits_is_accepted(client: Any, app: Any) -> None:
    from service.finance import tokens
    from service.finance.models import Role

    with app.app_context():
        db = app.extensions["database"].sessionmaker()
        secret = tokens.create_token(db, name="cursor", role=Role.ADMIN, days=1).secret
        db.commit()
        db.close()
    headers = {"Authorization": f"Bearer {secret}"}
    parameters = client.get("/openapi.json").get_json()["paths"]
    for path, cursor in [
        ("/api/v1/finance/donations", "0~a"),
        ("/api/v1/finance/donations", "9999999999999999~don_" + "z" * 60),
        ("/api/v1/finance/payouts", "999999999999999999"),
        ("/api/v1/finance/webhook-events", "0"),
    ]:
        (param,) = [p for p in parameters[path]["get"]["parameters"] if p["name"] == "cursor"]
        assert re.match(param["schema"]["pattern"], cursor), (path, cursor)
        response = client.get(path, query_string={"cursor": cursor}, headers=headers)
        assert response.status_code == 200, (path, cursor, response.get_json())
    refused = client.get("/api/v1/finance/payouts", query_string={"cursor": "garbage"}, headers=headers)
    assert refused.status_code == 422
