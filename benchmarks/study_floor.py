"""The floor of the study's data work: DuckDB reads the raw export and returns the customer summary in one query.

    python benchmarks/study_floor.py --export benchmarks/_data/export_v1_r1000000_s20261122 --result floor.json

What an analyst could do with no study at all: read ``transactions.csv`` as text, keep one copy of
identical rows, parse the four date styles and the amounts' currency marks and separators, drop the
rows that do not parse or lack a customer, keep the period, and compute frequency, recency, T and
monetary value per customer with the study's own SQL (:func:`analysis.methods.customer_summary.summary_sql`,
purchases = positive amounts). No outlier quarantine, no reports, no models: a lower bound of what
the study's stages 1 and 2 spend on the same rows. Run in its own process (the caller measures its
peak memory); only the query is timed here, the import of DuckDB is not. The process turns transparent
huge pages off, as the runner does for the stages.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date
from pathlib import Path

from analysis.methods.customer_summary import summary_sql
from analysis.methods.memory import without_transparent_huge_pages
from analysis.simulation.sample_data import TRANSACTION_COLUMNS

_EPOCH = date(1970, 1, 1)


def _header(name: str) -> str:
    """The export's (quoted) header of a contract column."""
    return '"' + next(h for h, n in TRANSACTION_COLUMNS.items() if n == name) + '"'


def transactions_view_sql(csv: Path) -> str:
    """The raw export as the typed ``transactions`` view the summary query reads."""
    date_text, amount_text = _header("order_date"), _header("amount")
    # each row tries the one style its separators point to (a failed try_strptime is slow)
    parsed_date = f"""CASE
            WHEN contains({date_text}, '年') THEN try_strptime({date_text}, '%Y年%m月%d日')
            WHEN contains({date_text}, '/') THEN try_strptime({date_text}, '%Y/%m/%d')
            WHEN contains({date_text}, '-') THEN try_strptime({date_text}, '%Y-%m-%d')
            ELSE try_strptime({date_text}, '%Y%m%d') END"""
    path = str(csv).replace("'", "''")
    return f"""
CREATE VIEW transactions AS
WITH raw AS (
    SELECT DISTINCT * FROM read_csv('{path}', header = true, all_varchar = true)
),
parsed AS (
    SELECT
        NULLIF(TRIM({_header("customer_id")}), '') AS customer_id,
        NULLIF(TRIM({_header("order_id")}), '') AS order_id,
        CAST({parsed_date} AS DATE) AS order_date,
        TRY_CAST(regexp_replace({amount_text}, '[^0-9.-]', '', 'g') AS DECIMAL(18, 2)) AS amount,
        TRY_CAST(regexp_replace({_header("cost")}, '[^0-9.-]', '', 'g') AS DECIMAL(18, 2)) AS cost
    FROM raw
)
SELECT
    customer_id,
    order_id,
    CAST(date_diff('day', DATE '1970-01-01', order_date) AS INTEGER) AS order_day,
    amount,
    amount < 0 AS is_return,
    cost
FROM parsed
WHERE customer_id IS NOT NULL AND order_date IS NOT NULL AND amount IS NOT NULL
"""


def floor_summary(csv: Path, start: date, end: date):
    """The customer summary of the raw export, as a pyarrow table."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(transactions_view_sql(csv))
        columns = {"customer_id", "order_id", "order_day", "amount", "is_return", "cost"}
        query = summary_sql(columns, "D", (end - _EPOCH).days, (start - _EPOCH).days)
        return con.sql(query).to_arrow_table()
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, required=True, help="the folder of the export (study_data.py)")
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    meta = json.loads((args.export / "export.json").read_text(encoding="utf-8"))
    start, end = (date.fromisoformat(d) for d in meta["period"])
    import duckdb  # noqa: F401  (imported before the clock starts)

    without_transparent_huge_pages()  # as for the study's stages: 12.8-13.0 s against 14.5-14.6 at 10M rows

    started, times_started = time.perf_counter(), os.times()
    summary = floor_summary(args.export / "transactions.csv", start, end)
    wall, times = time.perf_counter() - started, os.times()
    frequency = summary.column("frequency").to_pylist()
    result = {
        "wall": wall,
        # every thread of the process
        "cpu": times.user + times.system - times_started.user - times_started.system,
        "system": times.system - times_started.system,
        "customers": sum(f is not None for f in frequency),
        "repeat_purchases": sum(f for f in frequency if f is not None),
    }
    args.result.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
