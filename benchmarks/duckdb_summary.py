"""The customer RFM summary as one hand-written DuckDB query: the floor ``make bench`` holds ours against.

The same summary the peers compute (lifetimes' ``summary_data_from_transaction_data``, and
:func:`pandas_summary.rfm_summary_pandas`, the definitions are in its docstring): the purchase rows
(``amount > 0`` and not a return) summed per customer and day, then one row per customer. It is
what an analyst fluent in SQL would write for these four columns. Ours, held against it
(:func:`analysis.methods.customer_summary.customer_summary` with ``rfm_only=True``), also returns the
first and last purchase dates, sums money exactly as decimals and types the frame.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def rfm_summary_sql(transactions: str, observation_end_day: int) -> str:
    """The query over the parquet file ``transactions``, ``observation_end_day`` in days since 1970-01-01."""
    end = int(observation_end_day)
    source = transactions.replace("'", "''")
    return f"""
WITH purchase_days AS (
    SELECT customer_id, order_day, SUM(amount) AS amount
    FROM read_parquet('{source}')
    WHERE order_day <= {end} AND amount > 0 AND NOT COALESCE(is_return, FALSE)
    GROUP BY customer_id, order_day
)
SELECT
    customer_id,
    COUNT(*) - 1 AS frequency,
    MAX(order_day) - MIN(order_day) AS recency,
    {end} - MIN(order_day) AS T,
    CASE WHEN COUNT(*) > 1 THEN (SUM(amount) - ARG_MIN(amount, order_day)) / (COUNT(*) - 1)
         ELSE 0 END AS monetary_value
FROM purchase_days
GROUP BY customer_id
ORDER BY customer_id
"""


def rfm_summary_duckdb(transactions: str | Path, observation_end_day: int) -> pd.DataFrame:
    """One row per customer with a purchase on or before the end day, sorted by ``customer_id``."""
    import duckdb

    con = duckdb.connect()
    try:
        return con.sql(rfm_summary_sql(str(transactions), observation_end_day)).df()
    finally:
        con.close()
