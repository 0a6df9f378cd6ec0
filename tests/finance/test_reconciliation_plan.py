"""The reconciliation report's day and source groupings are planned on real statistics.

Migration 0022 gives PostgreSQL statistics on the two expressions the report groups by; without
them the planner derives the number of groups from the columns inside (every distinct
``paid_at`` a day of its own) and sorts a year of payments on disk instead of hashing a few
hundred groups (bench/README.md). The statistics only apply while the report's expression is
exactly the one the migration names, so these tests ask the planner, on the benchmark's own
generated ledger, how many groups it expects for the report's ``group_key``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench import finance_reconciliation as bench
from service.donations.models import Donation
from service.finance.reports import reconciliation
from service.models import Payment
from tests.support.settings import POSTGRES_URL

pytestmark = pytest.mark.postgres_only

PAYMENTS = 3000


@pytest.fixture(scope="module")
def ledger(request: pytest.FixtureRequest, worker_id: str) -> Iterator[str]:
    if request.config.getoption("--db") == "sqlite":
        pytest.skip("planner statistics are PostgreSQL's")
    url = make_url(POSTGRES_URL)
    bench_url = url.set(database=f"{url.database}_plan_{worker_id}").render_as_string(hide_password=False)
    bench.create_database(bench_url)  # migrated to head: the statistics exist
    bench.generate(bench_url, PAYMENTS)  # ends with VACUUM ANALYZE
    yield bench_url


def planned_and_actual_groups(url: str, group_by: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with Session(engine) as db:
            key = reconciliation.group_key(db, group_by)
            query = select(key).select_from(Payment).join(Donation, Donation.id == Payment.donation_id)
            query = query.group_by(key)
            compiled = query.compile(bind=engine, compile_kwargs={"literal_binds": True})
            plan = db.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()
            planned = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"]
            actual = len(db.execute(query).all())
    finally:
        engine.dispose()
    return int(planned), actual


@pytest.mark.parametrize("group_by", ["day", "source"])
def test_the_planner_expects_the_real_number_of_groups(ledger: str, group_by: str) -> None:
    planned, actual = planned_and_actual_groups(ledger, group_by)
    # Sampled statistics are estimates, but without them the planner expects a group per
    # distinct paid_at (3,000) by day, or one per utm_source x source_url pair by source.
    assert actual / 2 <= planned <= actual * 2, (planned, actual)


def test_without_the_statistics_the_estimate_is_far_off(ledger: str) -> None:
    """The check above can fail: dropped, the statistics no longer bring the estimate near."""
    engine = create_engine(ledger, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("DROP STATISTICS st_payments_paid_day"))
            conn.execute(text("ANALYZE payments"))
        planned, actual = planned_and_actual_groups(ledger, "day")
        assert planned > actual * 2, (planned, actual)
    finally:
        with engine.connect() as conn:
            conn.execute(
                text(
                    "CREATE STATISTICS st_payments_paid_day ON (CAST(timezone('UTC', paid_at) AS date)) FROM payments"
                )
            )
            conn.execute(text("ANALYZE payments"))
        engine.dispose()
