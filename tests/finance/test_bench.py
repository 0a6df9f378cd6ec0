"""The benchmark's generator and timings run on a small ledger, so bench/ cannot rot unnoticed."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from bench import finance_reconciliation as bench
from tests.support.settings import POSTGRES_URL

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def bench_url(request: pytest.FixtureRequest, worker_id: str) -> str:
    if request.config.getoption("--db") == "sqlite":
        pytest.skip("the benchmark generates its ledger with PostgreSQL's generate_series")
    url = make_url(POSTGRES_URL)
    return url.set(database=f"{url.database}_bench_{worker_id}").render_as_string(hide_password=False)


def test_generated_ledger_reconciles_and_exports(bench_url: str) -> None:
    bench.create_database(bench_url)
    bench.generate(bench_url, 2000)
    seconds, lines = bench.time_reconciliation(bench_url, 366, "currency", runs=1)
    assert lines == 3 and seconds > 0
    rows, size = bench.run_export(bench_url)
    assert rows == 2000 and size > 0
    result = bench.time_export(bench_url)
    assert result["rows"] == 2000 and result["tracemalloc_peak_kib"] > 0


def test_refuses_the_test_database() -> None:
    with pytest.raises(SystemExit):
        bench.create_database(
            make_url(POSTGRES_URL).set(database="test").render_as_string(hide_password=False)
        )
