"""Return netting and purchase flags: stage 1's pandas parts against one DuckDB query on the same rows.

    .venv/bin/python benchmarks/netting_engines.py PARAMS [--threads 2]

Stage 1 (:mod:`analysis.methods.cleaning_batches`) nets each return into its order and flags the
purchase rows on ranges of customers, a few at a time on every core, and writes them to the cleaned
transactions file as they are made. This script runs stage 1 on the inputs ``PARAMS`` names, keeps
the rows that reach the netting (the kept rows, before it) and times the netting as stage 1 runs it,
from reading the kept rows back (wall and CPU seconds of its process). Then :data:`NETTING_SQL`, the same definition as one query
(:func:`analysis.methods.cleaning.net_returns` and :func:`~analysis.methods.cleaning.purchase_flags`:
matched returns netted away and spread over their order's lines by value, cost scaled with the
amount, an order a purchase when worth more than nothing or free from the start), runs in DuckDB in
a process of its own on the same rows, read from a parquet file, and writes the same columns in the
same order to a parquet file: its query seconds, and the process's wall seconds and peak memory.
The two files are compared row by row: ids, dates, flags and counts equal, amounts equal to 1e-9
relative (the engine may sum an order's lines in another order).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent

#: stage 1's netting and flags over a table ``kept`` of the kept rows (text ids), sorted as stage 1 sorts
NETTING_SQL = """
WITH orders AS (  -- orders with a purchase line: their gross value
  SELECT customer_id, order_id, sum(amount) AS order_gross
  FROM kept WHERE NOT amount < 0 AND order_id IS NOT NULL GROUP BY ALL
), returned AS (  -- returns that name such an order: netted into it
  SELECT customer_id, order_id, sum(amount) AS returned
  FROM kept SEMI JOIN orders USING (customer_id, order_id) WHERE amount < 0 GROUP BY ALL
), netted AS (
  SELECT k.*, k.amount AS gross_amount,
    CASE WHEN k.amount >= 0 THEN coalesce(r.returned, 0.0) * coalesce(k.amount / nullif(o.order_gross, 0), 0.0)
         ELSE 0.0 END AS returned_amount
  FROM kept k LEFT JOIN orders o USING (customer_id, order_id) LEFT JOIN returned r USING (customer_id, order_id)
  WHERE NOT (k.amount < 0 AND r.returned IS NOT NULL)
), valued AS (
  SELECT * REPLACE (gross_amount + returned_amount AS amount,
                    cost * coalesce((gross_amount + returned_amount) / nullif(gross_amount, 0), 1.0) AS cost)
  FROM netted
), flagged AS (
  SELECT *, amount < 0 AND gross_amount < 0 AS is_return,
    CASE WHEN order_id IS NULL THEN amount ELSE sum(amount) OVER by_order END AS order_net,
    CASE WHEN order_id IS NULL THEN gross_amount ELSE sum(gross_amount) OVER by_order END AS order_gross
  FROM valued WINDOW by_order AS (PARTITION BY customer_id, order_id)
)
SELECT customer_id, order_id, order_date, amount, quantity, cost, product_category, channel, is_outlier,
  source_row, gross_amount, returned_amount, is_return, CAST(order_date AS DATE) - DATE '1970-01-01' AS order_day,
  (order_net > 0 OR (order_net = 0 AND order_gross = 0 AND {free_is_purchase})) AND amount >= 0 AND NOT is_return
    AS is_purchase
FROM flagged ORDER BY customer_id, order_date, order_id NULLS LAST, source_row
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", type=Path, nargs="?")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="DuckDB's threads (default: every core)")
    parser.add_argument("--duckdb-only", nargs=2, type=Path, metavar=("KEPT", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--free-is-purchase", default="true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.duckdb_only:
        return _duckdb_netting(*args.duckdb_only, args.threads, args.free_is_purchase)

    sys.path.insert(0, str(HERE))
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from measure import run_measured

    from analysis.frame.params import load_params
    from analysis.methods import cleaning_batches
    from analysis.stages import clean

    params = load_params(args.params)
    seen: dict[str, object] = {}
    kept_rows, write_netted_parts = cleaning_batches._kept_rows, cleaning_batches._write_netted_parts

    def keeping(*a, **k):  # the kept rows, as the netting gets them (pass by pass)
        kept = kept_rows(*a, **k)
        seen.setdefault("kept", []).append(kept)
        return kept

    def noting_ids(parts):  # each part, noting the text of the customer codes (the same for every part)
        for part in parts:
            seen["customer_ids"] = part.ids["customer_id"]
            yield part

    def timing(parts, *a, **k):  # the netting as stage 1 runs it (its passes' reading included)
        started, cpu = time.perf_counter(), time.process_time()
        counts = write_netted_parts(noting_ids(parts), *a, **k)
        seen["wall"], seen["cpu"] = time.perf_counter() - started, time.process_time() - cpu
        return counts

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        staged = scratch / "stage1.parquet"
        with (mock.patch.object(cleaning_batches, "_kept_rows", keeping),
              mock.patch.object(cleaning_batches, "_write_netted_parts", timing)):
            clean.compute(params, transactions_to=staged)
        kept = pd.concat(seen.pop("kept"), ignore_index=True)
        customer_ids: pa.Array = seen["customer_ids"]
        kept["customer_id"] = pd.array(customer_ids.take(pa.array(kept["customer_id"].to_numpy())), dtype="string")
        kept_file = scratch / "kept.parquet"
        pq.write_table(pa.Table.from_pandas(kept, preserve_index=False), kept_file)
        rows = len(kept)
        del kept
        engine_file, log = scratch / "duckdb.parquet", scratch / "duckdb.log"
        free = "true" if params.cleaning.zero_amount_orders == "purchase" else "false"
        measured = run_measured(
            [sys.executable, __file__, "--duckdb-only", str(kept_file), str(engine_file), "--threads", str(args.threads),
             "--free-is-purchase", free],
            timeout=1800, cwd=HERE.parent, env=os.environ | {"PYTHONPATH": str(HERE.parent / "src")}, log=log,
        )
        if measured.returncode != 0:
            print(log.read_text())
            return 1
        engine = json.loads(log.read_text().strip().splitlines()[-1])
        same = _compare(pq.read_table(staged), pq.read_table(engine_file))

    print(f"\n{rows:,} kept rows ({args.params}); {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}\n")
    print(f"{'netting and flags':48s} {'wall s':>7s} {'CPU s':>7s} {'peak MiB':>9s}")
    print(f"{'stage 1: pandas parts, written as made':48s} {seen['wall']:7.1f} {seen['cpu']:7.1f} {'(stage)':>9s}")
    print(f"{'DuckDB: one query to parquet (query only)':48s} {engine['query']:7.1f} {engine['cpu']:7.1f} "
          f"{engine['peak'] / 2**20:9,.0f}")
    print(f"{'DuckDB: its process (reading the kept rows too)':48s} {measured.seconds:7.1f} {'':>7s} "
          f"{measured.peak_bytes / 2**20:9,.0f}")
    print(f"\nthe same rows: {same}")
    return 0 if same == "yes" else 1


def _duckdb_netting(kept_file: Path, out: Path, threads: int, free_is_purchase: str) -> int:
    """The engine's side, in a process of its own: prints its query seconds, CPU seconds and peak as JSON."""
    import duckdb

    with duckdb.connect(config={"threads": threads}) as con:
        con.execute(f"CREATE TABLE kept AS SELECT * FROM read_parquet('{kept_file}')")
        started, cpu = time.perf_counter(), time.process_time()
        query = NETTING_SQL.format(free_is_purchase=free_is_purchase)
        con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet)")
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"query": wall, "cpu": cpu, "peak": peak}))
    return 0


def _compare(staged, engine) -> str:
    """``yes``, or the first difference between stage 1's file and the engine's."""
    import numpy as np
    import pyarrow.compute as pc

    if staged.num_rows != engine.num_rows:
        return f"no: {staged.num_rows:,} rows against {engine.num_rows:,}"
    for name in staged.column_names:
        ours, theirs = staged[name].combine_chunks(), engine[name].combine_chunks()
        if name in ("amount", "cost", "gross_amount", "returned_amount"):
            a, b = ours.to_numpy(zero_copy_only=False), theirs.to_numpy(zero_copy_only=False)
            if not np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True):
                return f"no: {name} differs at row {int(np.flatnonzero(~np.isclose(a, b, 1e-9, 1e-9, True))[0]):,}"
            continue
        theirs = theirs.cast(ours.type)
        if not ours.equals(theirs):
            differs = pc.invert(pc.fill_null(pc.equal(ours, theirs), False)).to_numpy(zero_copy_only=False)
            return f"no: {name} differs at row {int(np.flatnonzero(differs)[0]):,}"
    return "yes"


if __name__ == "__main__":
    sys.exit(main())
