"""Schema-driven testing: every operation in /openapi.json, fed generated input, answers without
a server error and with what the document promises (status codes, content types, bodies).

Two runs: ``schemathesis run --checks all`` over HTTP, every phase (examples, coverage, fuzzing,
stateful), positive and negative data, which is what a client would run; and a per-operation run
in-process that names the failing operation. Both use schemathesis's checks as they are, except
that ``positive_data_acceptance`` is replaced by tests/property/schemathesis_hooks.py's version,
which lets through only the 422s of rules the document cannot state (an appeal that must exist,
``to`` not before ``from``).

Finance operations run with an admin token, so generated requests reach the reports themselves
rather than stopping at the 401. Bounded so the suite stays fast: 12 examples per operation and mode.
(schemathesis's own pytest fixture loader does not work with pytest 9, so the operations are
listed from the app's document at collection time and each one is a test.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from functools import cache
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from service import create_app, extensions
from service.finance import tokens
from service.finance.models import Role
from service.settings import Settings
from tests.property.schemathesis_hooks import positive_data_acceptance_but_data_rules
from tests.support.servers import ROOT, ThreadedServer


@cache
def operation_labels() -> list[str]:
    # The document needs no database: an in-memory SQLite app is enough to read it.
    app = create_app({"TESTING": True}, settings=Settings(environment="test", database_url="sqlite://"))
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    return sorted(result.ok().label for result in schema.get_all_operations())


@pytest.fixture
def finance_token(app: Any) -> str:
    with app.app_context():
        db = extensions.database(app).sessionmaker()
        try:
            issued = tokens.create_token(db, name="schemathesis", role=Role.ADMIN, days=1)
            db.commit()
            return issued.secret
        finally:
            db.close()


@pytest.mark.parametrize("label", operation_labels())
def test_every_operation_keeps_its_contract(
    app: Any, finance_token: str, label: str, database_backend: str, request: pytest.FixtureRequest
) -> None:
    if database_backend == "sqlite" and request.config.getoption("--db") == "both":
        # The contract does not depend on the database; PostgreSQL's stricter types are where
        # a server error would hide, so a full run spends its time there.
        pytest.skip("schema-driven run on PostgreSQL only when both backends run")
    operation = schemathesis.openapi.from_wsgi("/openapi.json", app).find_operation_by_label(label)
    assert operation is not None
    headers = {"Authorization": f"Bearer {finance_token}"} if "/finance/" in label else None
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )

    @given(case=cases)
    @settings(
        max_examples=12,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        # The real token replaces a generated one, but a negative case that leaves the header
        # out is testing that very refusal: adding it back sent a valid request that schemathesis
        # still counted as invalid (the flaky "schema-violating request accepted" on finance lists).
        sent = headers if headers and "authorization" in {k.lower() for k in case.headers or {}} else None
        response = case.call(headers=sent)
        # Rules the document cannot state (an unknown appeal, a range over 366 days) refuse some
        # schema-valid input with a documented 422; any other 422 on valid input still fails.
        case.validate_response(
            response,
            excluded_checks=[positive_data_acceptance],
            additional_checks=[positive_data_acceptance_but_data_rules],
            headers=sent,
        )

    check()
    if "format" in {parameter.name for parameter in operation.query} and "{" not in operation.path:
        # Twelve generated cases may never ask for CSV; the CSV answer is checked every run (for
        # a list or report; one payout's statement needs a real payout: test_payout_statement.py).
        csv = operation.Case(query={"format": "csv"})
        response = csv.call(headers=headers)
        assert (response.status_code, response.headers["content-type"][0]) == (200, "text/csv; charset=utf-8")
        csv.validate_response(response, headers=headers)


def test_every_finance_operation_that_answers_csv_documents_it(app: Any, finance_token: str) -> None:
    # Each finance GET with a ``format`` parameter is asked for CSV; the document must list
    # text/csv for that answer, so schemathesis's content-type check covers it too.
    client = app.test_client()
    document = client.get("/openapi.json").get_json()
    answered = []
    for path, operations in document["paths"].items():
        operation = operations.get("get")
        if not path.startswith("/api/v1/finance/") or operation is None or "{" in path:
            continue
        if "format" not in {p["name"] for p in operation.get("parameters", [])}:
            continue
        response = client.get(f"{path}?format=csv", headers={"Authorization": f"Bearer {finance_token}"})
        assert response.status_code == 200, (path, response.get_data(as_text=True))
        assert response.mimetype == "text/csv", path
        assert "text/csv" in operation["responses"]["200"]["content"], path
        answered.append(path.rsplit("/", 1)[-1])
    assert sorted(answered) == [
        "discrepancies", "donations", "gift-aid", "match-funding", "month-end", "monthly-gifts", "payments", "payouts",
        "reconciliation",
        "webhook-events",
    ]  # fmt: skip


def test_schemathesis_run_with_every_check_finds_nothing(
    app: Any, finance_token: str, database_backend: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    """The command a client would run, over HTTP: every operation, every phase, --checks all.

    About 30 s on this machine (some 1,400 requests), so it runs once per suite: on PostgreSQL when
    both backends run.
    """
    if database_backend == "sqlite" and request.config.getoption("--db") == "both":
        pytest.skip("schemathesis run on PostgreSQL only when both backends run")
    server = ThreadedServer(app)
    started = time.monotonic()
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{server.base_url}/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
                "--mode",
                "all",
                "--max-examples",
                "10",
                "--workers",
                "1",
                "--seed",
                "13",
                "--header",
                f"Authorization: Bearer {finance_token}",
                "--no-color",
            ],  # fmt: skip
            cwd=tmp_path,  # schemathesis leaves a .schemathesis directory behind
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": "tests.property.schemathesis_hooks",
                "PYTHONPATH": str(ROOT),
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    # Every operation the document lists was tested, not skipped.
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", output)
    assert selected is not None and len(set(selected.groups())) == 1, output[-2000:]
    assert int(selected[1]) == len(operation_labels())
    print(f"schemathesis run: {time.monotonic() - started:.0f} s")  # noqa: T201 - shown with -s
