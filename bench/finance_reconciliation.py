"""Benchmark: the reconciliation report and the payments CSV export over a generated ledger.

    .venv/bin/python -m bench.finance_reconciliation --payments 1000000

Builds a separate PostgreSQL database (``bench_finance`` by default, never the test database),
migrates it, fills it with one payment per donation using ``INSERT ... SELECT generate_series``
(a million rows in under a minute, no Python loop), then times:

* the reconciliation query for a 30-day and a 366-day range, grouped by appeal, day, currency
  and source (best of three runs, the service's own report function);
* the payments CSV export over the whole year, streamed through the service's generator into a
  sink that only counts bytes, once for time and once under tracemalloc for the peak of memory
  Python allocated while streaming (plus the process's peak RSS).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc
from datetime import date, timedelta
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from service.finance.csv_export import stream_csv
from service.finance.reports import export, reconciliation
from service.finance.reports.scope import Scope
from service.migrate import upgrade

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_finance"
APPEALS = ("ukraine", "gaza", "sudan", "earthquake")
SOURCES = ("guardian", "bbc", "ft", "newsletter", None)


def create_database(url: str) -> None:
    """Create the database if needed and give it an empty, migrated schema."""
    parsed = make_url(url)
    if parsed.database in (None, "", "test", "postgres"):
        raise SystemExit(f"refusing to use database {parsed.database!r}: give the benchmark its own")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}):
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)


GENERATE = """
INSERT INTO appeals (slug, title, charity_name, description, currencies, suggested_amounts, minimum_amounts,
                     maximum_amounts, default_currency, allowed_origins, created_at, updated_at)
SELECT s, 'Appeal ' || s, 'Charity ' || s, '', '["gbp","eur","usd"]', '{}', '{}', '{}', 'gbp', '[]', now(), now()
FROM unnest(CAST(:appeals AS text[])) AS s;

CREATE TEMP TABLE gen ON COMMIT DROP AS
SELECT i,
       (SELECT array_agg(id ORDER BY id) FROM appeals)[1 + i % 4] AS appeal_id,
       500 + (CAST(i AS bigint) * 7919) % 20000 AS amount,
       CASE WHEN i % 10 < 6 THEN 'gbp' WHEN i % 10 < 9 THEN 'eur' ELSE 'usd' END AS currency,
       date_trunc('day', now()) - make_interval(days => i % 365) + make_interval(secs => i % 86000) AS paid_at,
       (CAST(:sources AS text[]))[1 + i % 5] AS utm_source
FROM generate_series(1, :n) AS i;

INSERT INTO donations (id, appeal_id, amount, currency, frequency, status, email, source_url, referrer_host,
                       utm_source, checkout_attempts, paid_at, amount_refunded, created_at, updated_at)
SELECT 'don_' || lpad(to_hex(i), 24, '0'), appeal_id, amount, currency, 'one_off',
       CASE WHEN i % 50 = 0 THEN 'partially_refunded' WHEN i % 500 = 7 THEN 'dispute_lost' ELSE 'paid' END,
       'donor' || i || '@example.org', 'https://news.example/story/' || (i % 1000), 'news.example', utm_source, 1,
       paid_at, CASE WHEN i % 50 = 0 THEN amount / 2 ELSE 0 END, paid_at - interval '2 minutes', paid_at
FROM gen;

INSERT INTO payments (donation_id, kind, stripe_payment_intent_id, stripe_charge_id, amount, currency, status,
                      amount_refunded, dispute_id, dispute_status, dispute_amount, balance_transaction_id, fee,
                      net, settlement_currency, settlement_amount, settlement_refunded, settlement_disputed,
                      stripe_payout_id, paid_at, created_at, updated_at)
SELECT 'don_' || lpad(to_hex(i), 24, '0'), 'one_off', 'pi_' || i, 'ch_' || i, amount, currency, 'succeeded',
       CASE WHEN i % 50 = 0 THEN amount / 2 ELSE 0 END,
       CASE WHEN i % 500 = 7 THEN 'dp_' || i END, CASE WHEN i % 500 = 7 THEN 'lost' END,
       CASE WHEN i % 500 = 7 THEN amount END,
       'txn_' || i, amount * 15 / 1000 + 20, amount - (amount * 15 / 1000 + 20), currency, amount,
       CASE WHEN i % 50 = 0 THEN amount / 2 ELSE 0 END, CASE WHEN i % 500 = 7 THEN amount ELSE 0 END,
       'po_' || to_char(paid_at, 'YYYYMMDD') || currency, paid_at, paid_at, paid_at
FROM gen;

INSERT INTO payouts (stripe_payout_id, amount, currency, status, reconciliation_status, arrival_date,
                     payment_count, created_at, updated_at)
SELECT stripe_payout_id, sum(net) - sum(amount_refunded) - sum(coalesce(dispute_amount, 0)), currency, 'paid',
       'completed', max(paid_at) + interval '2 days', count(*), now(), now()
FROM payments GROUP BY stripe_payout_id, currency;
"""


def generate(url: str, payments: int) -> float:
    """Fill the ledger with ``payments`` paid donations, one payment each; returns seconds taken."""
    engine = create_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in filter(str.strip, GENERATE.split(";\n")):
            conn.execute(text(statement), {"appeals": list(APPEALS), "sources": list(SOURCES), "n": payments})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def time_reconciliation(url: str, days: int, group_by: str, runs: int = 3) -> tuple[float, int]:
    """Best-of-``runs`` seconds for one report, and its number of lines."""
    engine = create_engine(url)
    end = date.today()
    filters = reconciliation.ReconciliationFilters(
        start=end - timedelta(days=days - 1), end=end, group_by=group_by
    )
    timings, lines = [], 0
    for _ in range(runs):
        with Session(engine) as db:
            started = time.perf_counter()
            result = reconciliation.report(db, Scope(appeal_ids=None, personal_data=False), filters)
            timings.append(time.perf_counter() - started)
            lines = len(result["groups"])
    engine.dispose()
    return min(timings), lines


def run_export(url: str, days: int = 366) -> tuple[int, int]:
    """Stream the payments export into a counting sink; returns (rows, bytes)."""
    engine = create_engine(url)
    end = date.today()
    filters = export.PaymentFilters(start=end - timedelta(days=days - 1), end=end)
    rows = size = 0
    with engine.connect() as conn:
        for line in stream_csv(export.header(), export.payment_rows(conn, Scope(None, True), filters)):
            rows += 1
            size += len(line)
    engine.dispose()
    return rows - 1, size


def time_export(url: str) -> dict[str, Any]:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # CPU time as well as wall time: on a shared machine the wall clock mostly measures the neighbours.
    cpu_before = time.process_time()
    started = time.perf_counter()
    rows, size = run_export(url)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    run_export(url)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"rows": rows, "bytes": size, "seconds": elapsed, "cpu_seconds": cpu, "rows_per_second": rows / elapsed,
            "tracemalloc_peak_kib": peak // 1024, "maxrss_growth_kib": rss_after - rss_before,
            "maxrss_kib": rss_after}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="skip generation; time an existing ledger")
    args = parser.parse_args()
    if not args.reuse:
        create_database(args.database_url)
        print(f"generated {args.payments:,} payments in {generate(args.database_url, args.payments):.1f} s")
    else:
        # An existing ledger gets the migrations written since it was generated (e.g. 0022's
        # planner statistics), as a deployed database would; a no-op when it is up to date.
        upgrade(args.database_url)
    print(
        f"load average before timing: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    for days in (30, 366):
        for group_by in reconciliation.GROUPS:
            seconds, lines = time_reconciliation(args.database_url, days, group_by)
            print(f"reconciliation {days:>3} days by {group_by:<8} {seconds * 1000:8.1f} ms  ({lines} lines)")
    result = time_export(args.database_url)
    print(
        f"csv export: {result['rows']:,} rows, {result['bytes'] / 1e6:.0f} MB in {result['seconds']:.1f} s "
        f"({result['rows_per_second']:,.0f} rows/s, {result['cpu_seconds']:.1f} s of CPU in Python); tracemalloc peak {result['tracemalloc_peak_kib']:,} KiB; "
        f"max RSS {result['maxrss_kib'] / 1024:.0f} MiB (grew {result['maxrss_growth_kib'] / 1024:.1f} MiB)"
    )


if __name__ == "__main__":
    main()
