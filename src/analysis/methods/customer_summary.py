"""Transactions → one row per customer: the RFM summary that BG/NBD, Gamma-Gamma and RFM scores need.

This is the step that grows with the data, so it runs inside a query engine — DuckDB embedded (the
default) or Apache Spark (a local session, or any session already active) — and only the
per-customer table comes back to pandas. Both engines run the *same* SQL text: dates enter as the
integer ``order_day`` (days since 1970-01-01) and periods are integer arithmetic on it, so no
engine-specific date function is needed.

Definitions follow ``lifetimes.utils.summary_data_from_transaction_data`` (Davidson-Pilon) and
PyMC-Marketing's ``rfm_summary``, which both implement the inputs of Fader, Hardie & Lee (2005),
"Counting your customers the easy way", Marketing Science 24(2). Per customer, over the rows with
``observation_start ≤ order_day ≤ observation_end``:

- a *purchase row* is flagged ``is_purchase`` by the cleaning stage (an order worth more than
  nothing after its returns, or free from the start — a zero-amount order is a purchase occasion,
  as in lifetimes and PyMC-Marketing; see :func:`analysis.methods.cleaning.purchase_flags`); files
  without that column use ``amount > 0`` and not ``is_return``; a *purchase
  period* is a period (day or Monday-based week) holding at least one purchase row;
- ``frequency`` = number of purchase periods − 1 (repeat purchases);
- ``recency`` = last purchase period − first purchase period;
- ``T`` = period of the observation end − first purchase period;
- ``monetary_value`` = mean, over the repeat purchase periods (all but the first), of the period's
  summed purchase amounts; 0 when ``frequency`` = 0. Returns and net-negative orders are left out;
  a repeat period holding only zero-amount orders adds 0, so the value can be 0 (the Gamma-Gamma
  fit then leaves that customer out, see :mod:`analysis.stages.rfm_clv`);
- ``revenue`` = Σ amount over all rows, unmatched returns included (net revenue);
- ``orders`` = distinct ``order_id`` among purchase rows, plus one per purchase row without an id;
- ``first_purchase`` / ``last_purchase`` = dates of the first / last purchase row;
- ``tenure_days`` = observation end − first purchase, ``days_since_last`` = observation end − last
  purchase, both in days;
- ``margin`` = Σ (amount − cost) over the rows that have a cost; missing when no row has one.

Customers with rows in the window but no purchase period (only returns or net-negative orders)
have no purchase history to model; they are left out and counted in ``DataFrame.attrs``.

Amounts are summed as ``DECIMAL(38, 6)`` and converted to float only at the end: decimal sums are
exact, so totals do not depend on row order, partitioning or engine.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

from analysis.methods.duckdb_session import EngineMemoryError, duckdb_session, parquet_source

TimeUnit = Literal["D", "W"]
Engine = Literal["duckdb", "spark"]

TIME_UNITS: dict[str, dict[str, str]] = {
    "D": {"en": "days", "zh": "天"},
    "W": {"en": "weeks (Monday to Sunday)", "zh": "周（周一至周日）"},
}
ENGINES = ("duckdb", "spark")

#: The purchase history alone (``customer_summary(..., rfm_only=True)``): what lifetimes' and PyMC-Marketing's
#: summaries hold, with the dates of the first and last purchase.
RFM_COLUMNS = ["customer_id", "first_purchase", "last_purchase", "frequency", "recency", "T", "monetary_value"]
SUMMARY_COLUMNS = [
    *RFM_COLUMNS,
    "revenue",
    "orders",
    "tenure_days",
    "days_since_last",
    "margin",
]
HOLDOUT_COLUMNS = ["frequency_holdout", "monetary_value_holdout", "duration_holdout"]
_INTEGER_COLUMNS = ("frequency", "recency", "T", "orders", "tenure_days", "days_since_last", "frequency_holdout",
                    "duration_holdout")

_REQUIRED = {"customer_id", "order_day", "amount", "is_return"}
_OPTIONAL_SQL_DEFAULTS = {"order_id": "CAST(NULL AS STRING)", "cost": "CAST(NULL AS DOUBLE)"}
_EPOCH = np.datetime64("1970-01-01", "D")
_MONEY = "DECIMAL(38, 6)"


class SummaryError(ValueError):
    """The transactions or the arguments do not allow a customer summary; the message says how to fix it."""


class EngineError(SummaryError):
    """The query engine cannot run here (missing Java for Spark, a failed query, ...)."""


# ---------------------------------------------------------------------------------------------
# The one SQL definition, shared by every engine.


def period_sql(day_sql: str, time_unit: TimeUnit) -> str:
    """SQL for the period index of an integer day number (days since 1970-01-01).

    ``D``: the day number itself. ``W``: ⌊(day + 3) / 7⌋ — 1970-01-01 was a Thursday, so adding 3
    makes weeks start on Monday, like pandas' ``W`` (= ``W-SUN``) periods used by lifetimes.
    """
    if time_unit == "D":
        return f"CAST({day_sql} AS BIGINT)"
    if time_unit == "W":
        return f"CAST(FLOOR(({day_sql} + 3) / 7) AS BIGINT)"
    raise SummaryError(f"time_unit must be 'D' (days) or 'W' (weeks), got {time_unit!r}")


def _purchase_sql(columns: set[str]) -> str:
    """SQL for "this row is a purchase": the cleaned ``is_purchase`` flag, or the older rule without it.

    The cleaning stage marks ``is_purchase`` (:func:`analysis.methods.cleaning.purchase_flags`), so a
    zero-amount order is a purchase occasion, as in lifetimes and PyMC-Marketing. Files written
    before that column existed fall back to ``amount > 0 AND NOT is_return``.
    """
    legacy = "(amount > 0 AND NOT COALESCE(is_return, FALSE))"
    if "is_purchase" in columns:
        return f"COALESCE(is_purchase, {legacy})"
    return legacy


def _rows_sql(columns: set[str], time_unit: TimeUnit, first_day: int | None, last_day: int) -> str:
    """The transactions of the window, with the derived columns every query uses."""
    order_id, cost = (
        c if c in columns else _OPTIONAL_SQL_DEFAULTS[c] for c in ("order_id", "cost")
    )
    window = f"order_day <= {last_day}" + (
        "" if first_day is None else f" AND order_day >= {first_day}"
    )
    return f"""
    SELECT
        customer_id,
        {order_id} AS order_id,
        order_day,
        {period_sql("order_day", time_unit)} AS period,
        CAST(amount AS {_MONEY}) AS amount,
        CAST(amount - {cost} AS {_MONEY}) AS margin,
        {_purchase_sql(columns)} AS is_purchase
    FROM transactions
    WHERE customer_id IS NOT NULL AND {window}"""


def summary_sql(
    columns: set[str],
    time_unit: TimeUnit,
    observation_end_day: int,
    observation_start_day: int | None = None,
    *,
    rfm_only: bool = False,
) -> str:
    """The customer summary query (one row per customer with a row in the window).

    Customers without a purchase period come back with a NULL ``frequency``; the caller drops them.
    ``rfm_only``: :data:`RFM_COLUMNS` from the purchase rows alone (:func:`rfm_sql`).
    """
    if rfm_only:
        return rfm_sql(columns, time_unit, observation_end_day, observation_start_day)
    end = observation_end_day
    return f"""
WITH window_rows AS ({_rows_sql(columns, time_unit, observation_start_day, end)}
),
per_customer AS (
    SELECT
        customer_id,
        SUM(amount) AS revenue,
        SUM(margin) AS margin,
        COUNT(DISTINCT CASE WHEN is_purchase THEN order_id END)
            + SUM(CASE WHEN is_purchase AND order_id IS NULL THEN 1 ELSE 0 END) AS orders,
        MIN(CASE WHEN is_purchase THEN order_day END) AS first_day,
        MAX(CASE WHEN is_purchase THEN order_day END) AS last_day
    FROM window_rows
    GROUP BY customer_id
),
purchase_periods AS (
    SELECT
        customer_id,
        period,
        SUM(amount) AS period_amount
    FROM window_rows
    WHERE is_purchase
    GROUP BY customer_id, period
),
per_customer_periods AS (
    -- the repeat periods' amount is the total less the first period's: exact in DECIMAL, and
    -- one aggregation instead of a window over each customer's periods
    SELECT
        customer_id,
        COUNT(*) - 1 AS frequency,
        MIN(period) AS start_period,
        MAX(period) AS end_period,
        SUM(period_amount) - MIN_BY(period_amount, period) AS repeat_amount
    FROM purchase_periods
    GROUP BY customer_id
)
SELECT
    c.customer_id,
    c.first_day,
    c.last_day,
    p.frequency,
    p.end_period - p.start_period AS recency,
    {period_sql(str(end), time_unit)} - p.start_period AS T,
    CASE WHEN p.frequency > 0 THEN CAST(p.repeat_amount AS DOUBLE) / p.frequency
         ELSE CAST(0 AS DOUBLE) END AS monetary_value,
    CAST(c.revenue AS DOUBLE) AS revenue,
    c.orders,
    {end} - c.first_day AS tenure_days,
    {end} - c.last_day AS days_since_last,
    CAST(c.margin AS DOUBLE) AS margin
FROM per_customer c
LEFT JOIN per_customer_periods p ON c.customer_id = p.customer_id
ORDER BY c.customer_id
"""


def rfm_sql(
    columns: set[str],
    time_unit: TimeUnit,
    observation_end_day: int,
    observation_start_day: int | None = None,
) -> str:
    """The purchase-history columns of :func:`summary_sql` (:data:`RFM_COLUMNS`, with the same
    definitions) from the purchase rows alone: one row per customer with a purchase period.

    It scans the purchase rows only and sums them per customer and period once, so it takes about
    half the time of the whole summary, whose revenue, margin and distinct orders need every row.
    """
    end = observation_end_day
    # with days, a period is its day: the first and last purchase days are the first and last periods
    days = ("MIN(period) AS first_day, MAX(period) AS last_day" if time_unit == "D"
            else "MIN(first_day) AS first_day, MAX(last_day) AS last_day")
    period_days = "" if time_unit == "D" else ", MIN(order_day) AS first_day, MAX(order_day) AS last_day"
    return f"""
WITH purchase_periods AS (
    SELECT customer_id, period, SUM(amount) AS period_amount{period_days}
    FROM ({_rows_sql(columns, time_unit, observation_start_day, end)}
    )
    WHERE is_purchase
    GROUP BY customer_id, period
),
per_customer AS (
    SELECT
        customer_id,
        COUNT(*) - 1 AS frequency,
        MIN(period) AS start_period,
        MAX(period) AS end_period,
        SUM(period_amount) - MIN_BY(period_amount, period) AS repeat_amount,
        {days}
    FROM purchase_periods
    GROUP BY customer_id
)
SELECT
    customer_id,
    first_day,
    last_day,
    frequency,
    end_period - start_period AS recency,
    {period_sql(str(end), time_unit)} - start_period AS T,
    CASE WHEN frequency > 0 THEN CAST(repeat_amount AS DOUBLE) / frequency
         ELSE CAST(0 AS DOUBLE) END AS monetary_value
FROM per_customer
ORDER BY customer_id
"""


def holdout_split_sql(
    columns: set[str],
    time_unit: TimeUnit,
    calibration_end_day: int,
    observation_end_day: int,
    observation_start_day: int | None = None,
    *,
    rfm_only: bool = False,
) -> str:
    """The calibration summary (:func:`summary_sql` up to the calibration end) and each of its
    customers' purchases after it (lifetimes' ``calibration_and_holdout_data``), joined in the engine.

    Added to the summary's columns: ``frequency_holdout`` = distinct purchase periods with
    ``calibration_end < day ≤ observation_end``; ``monetary_value_holdout`` = their mean period
    spend (Σ amount / periods, 0 when none); ``duration_holdout`` = period of the observation end −
    period of the calibration end.
    """
    cal, end = calibration_end_day, observation_end_day
    return f"""
WITH calibration AS ({summary_sql(columns, time_unit, cal, observation_start_day, rfm_only=rfm_only)}),
holdout_rows AS ({_rows_sql(columns, time_unit, cal + 1, end)}
),
holdout AS (
    SELECT
        customer_id,
        COUNT(DISTINCT CASE WHEN is_purchase THEN period END) AS frequency_holdout,
        SUM(CASE WHEN is_purchase THEN amount END) AS holdout_amount
    FROM holdout_rows
    GROUP BY customer_id
)
SELECT
    c.*,
    COALESCE(h.frequency_holdout, 0) AS frequency_holdout,
    CASE WHEN h.frequency_holdout > 0 THEN CAST(h.holdout_amount AS DOUBLE) / h.frequency_holdout
         ELSE CAST(0 AS DOUBLE) END AS monetary_value_holdout,
    {period_sql(str(end), time_unit)} - {period_sql(str(cal), time_unit)} AS duration_holdout
FROM calibration c
LEFT JOIN holdout h ON c.customer_id = h.customer_id
ORDER BY c.customer_id
"""


# ---------------------------------------------------------------------------------------------
# Engines: run one SQL text against the parquet file registered as the view ``transactions``.


def _run_duckdb(transactions_path: Path, queries: list[str], memory_limit: str | None = None) -> list[pa.Table]:
    import duckdb

    try:
        with duckdb_session(memory_limit) as con:
            con.read_parquet(parquet_source(transactions_path)).create_view("transactions")
            return [con.sql(query).to_arrow_table() for query in queries]
    except (duckdb.Error, EngineMemoryError) as exc:
        raise EngineError(f"DuckDB could not summarise {transactions_path}: {exc}") from exc


def _require_java() -> None:
    """Spark runs on the JVM: fail early, with the fix, when no Java is found."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return
    if shutil.which("java"):
        return
    raise EngineError(
        "scoring.engine is 'spark' but no Java runtime was found (no `java` on PATH and JAVA_HOME "
        f"is {'unset' if not java_home else repr(java_home) + ', which has no bin/java'}). "
        "Install Java 17 or later (e.g. `apt-get install openjdk-17-jre-headless`) and set JAVA_HOME, "
        "or set `scoring.engine: duckdb` in the params file."
    )


@contextmanager
def _quiet_pyspark() -> Iterator[None]:
    # pyspark 4 warns that it does not fully support pandas 3; results come back through Arrow,
    # which does not involve pandas on the Spark side.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support pandas.*")
        yield


def get_spark_session(app_name: str = "customer-tiering"):
    """The active SparkSession, or a new local one sized for a laptop or a CI runner.

    A session created elsewhere (a cluster, a notebook) is reused as it is. A new one runs
    ``local[2]`` with 2 shuffle partitions, no web UI or console progress bar, 1 GB driver memory, UTC session time zone,
    the driver bound to the loopback interface and Spark's own logging limited to errors.
    """
    with _quiet_pyspark():
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        _require_java()
        # the local executors run this interpreter: the cleaning's tasks import this package there
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        try:
            spark = (
                SparkSession.builder.master("local[2]")
                .appName(app_name)
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.sql.shuffle.partitions", "2")
                .config("spark.default.parallelism", "2")
                .config("spark.driver.memory", "1g")
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.driver.host", "127.0.0.1")
                .getOrCreate()
            )
        except Exception as exc:  # pyspark raises several unrelated types when the JVM cannot start
            raise EngineError(
                f"could not start a local Spark session ({type(exc).__name__}: {exc}). Check that Java 17+ "
                "is installed and JAVA_HOME points to it, or set `scoring.engine: duckdb` in the params file."
            ) from exc
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _run_spark(transactions_path: Path, queries: list[str]) -> list[pa.Table]:
    spark = get_spark_session()
    try:
        with _quiet_pyspark():
            spark.read.parquet(str(transactions_path)).createOrReplaceTempView("transactions")
            return [spark.sql(query).toArrow() for query in queries]
    except Exception as exc:
        raise EngineError(
            f"Spark could not summarise {transactions_path} ({type(exc).__name__}: {exc}); "
            "`scoring.engine: duckdb` runs the same query without a JVM."
        ) from exc


def run_queries(
    transactions_path: str | Path, queries: list[str], engine: Engine = "duckdb", *, memory_limit: str | None = None
) -> list[pa.Table]:
    """Run SQL texts against the parquet file (or folder of parquet files) seen as ``transactions``.

    ``memory_limit`` (e.g. ``"1GB"``) holds DuckDB to that much memory, spilling to disk beyond it
    (:func:`analysis.methods.duckdb_session.duckdb_session`); None: DuckDB's default. Spark's memory
    is its session's own setting (``spark.driver.memory``).
    """
    if engine == "duckdb":
        return _run_duckdb(Path(transactions_path), queries, memory_limit)
    if engine == "spark":
        return _run_spark(Path(transactions_path), queries)
    raise SummaryError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}; DuckDB is the default")


# ---------------------------------------------------------------------------------------------
# Checks and conversions.


def _check_transactions(transactions_path: Path) -> set[str]:
    """The file's column names, after checking it exists and holds the columns the query needs."""
    if not transactions_path.exists():
        raise SummaryError(
            f"transactions file {transactions_path} not found: run the cleaning stage (notebooks/01_clean) "
            "for this run first, or pass the path of its transactions.parquet"
        )
    try:
        schema = pads.dataset(transactions_path, format="parquet").schema
    except (pa.ArrowInvalid, OSError) as exc:
        raise SummaryError(
            f"{transactions_path} is not a readable parquet file or folder: {exc}"
        ) from exc
    missing = sorted(_REQUIRED - set(schema.names))
    if missing:
        raise SummaryError(
            f"{transactions_path} lacks column(s) {', '.join(missing)}; the cleaning stage writes them "
            "(order_day = days since 1970-01-01 of order_date). Re-run notebooks/01_clean for this run."
        )
    if not pa.types.is_integer(schema.field("order_day").type):
        raise SummaryError(
            f"{transactions_path}: column order_day must hold integer day numbers (days since 1970-01-01), "
            f"found type {schema.field('order_day').type}; re-run the cleaning stage"
        )
    return set(schema.names)


def _day_number(value: date, name: str) -> int:
    if not isinstance(value, date):
        raise SummaryError(f"{name} must be a date such as date(2024, 3, 31), got {value!r}")
    return int((np.datetime64(pd.Timestamp(value).date(), "D") - _EPOCH).astype(int))


def _check_time_unit(time_unit: str) -> None:
    if time_unit not in TIME_UNITS:
        raise SummaryError(f"time_unit must be 'D' (days) or 'W' (weeks), got {time_unit!r}")


def _days_to_dates(days: pd.Series) -> pd.Series:
    values = days.to_numpy(dtype="int64").astype("timedelta64[D]") + _EPOCH
    return pd.Series(values.astype("datetime64[us]"), index=days.index)


def _typed_summary(
    table: pa.Table, extra: Sequence[str] = (), *, rfm_only: bool = False
) -> tuple[pd.DataFrame, int | None]:
    """Arrow result → typed DataFrame of purchasers (:data:`SUMMARY_COLUMNS`, or :data:`RFM_COLUMNS`
    with ``rfm_only``, then the ``extra`` columns), and the number of customers left out (None with
    ``rfm_only``: that query sees the purchase rows only)."""
    columns = [*(RFM_COLUMNS if rfm_only else SUMMARY_COLUMNS), *extra]
    raw = table.to_pandas()
    purchasers = raw["frequency"].notna()
    raw = raw[purchasers]
    out = pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype("string"),
            "first_purchase": _days_to_dates(raw["first_day"]),
            "last_purchase": _days_to_dates(raw["last_day"]),
        }
    )
    for column in [c for c in columns if c not in out]:  # the numbers
        out[column] = raw[column].astype("int64" if column in _INTEGER_COLUMNS else "float64")
    out = out[columns].sort_values("customer_id", kind="stable", ignore_index=True)
    return out, None if rfm_only else int((~purchasers).sum())


# ---------------------------------------------------------------------------------------------
# Public API.


def _window_days(observation_end: date, observation_start: date | None) -> tuple[int, int | None]:
    end_day = _day_number(observation_end, "observation_end")
    start_day = (
        None if observation_start is None else _day_number(observation_start, "observation_start")
    )
    if start_day is not None and start_day > end_day:
        raise SummaryError(
            f"observation_start ({observation_start}) is after observation_end ({observation_end}); swap them"
        )
    return end_day, start_day


def customer_summary(
    transactions_path: str | Path,
    *,
    observation_end: date,
    time_unit: TimeUnit = "D",
    observation_start: date | None = None,
    engine: Engine = "duckdb",
    rfm_only: bool = False,
    memory_limit: str | None = None,
) -> pd.DataFrame:
    """One row per customer with a purchase in the window: the lifetimes / PyMC-Marketing RFM summary.

    Parameters
    ----------
    transactions_path
        The cleaned ``transactions.parquet`` (columns ``customer_id``, ``order_day``, ``amount``,
        ``is_return``; ``order_id`` and ``cost`` used when present), or a folder of parquet files.
    observation_end
        Last day observed (inclusive); later rows are ignored.
    time_unit
        ``"D"`` (days) or ``"W"`` (Monday-based weeks) for ``frequency``, ``recency`` and ``T``.
    observation_start
        First day observed (inclusive); earlier rows are ignored. ``None`` keeps all history.
    engine
        ``"duckdb"`` (embedded, default) or ``"spark"`` (active or local session).
    rfm_only
        Only the purchase history, :data:`RFM_COLUMNS`, read from the purchase rows alone: about
        twice as fast. ``customers_without_purchase`` is then None (those customers are not seen).
    memory_limit
        DuckDB's memory limit, e.g. ``"1GB"`` (:func:`run_queries`); None: DuckDB's default.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS` (definitions in the module docstring), sorted by
        ``customer_id``. ``attrs`` holds ``time_unit``, ``observation_start``, ``observation_end``,
        ``engine`` and ``customers_without_purchase`` (customers with rows in the window but no
        purchase, left out).
    """
    _check_time_unit(time_unit)
    end_day, start_day = _window_days(observation_end, observation_start)
    path = Path(transactions_path)
    columns = _check_transactions(path)
    query = summary_sql(columns, time_unit, end_day, start_day, rfm_only=rfm_only)
    (table,) = run_queries(path, [query], engine, memory_limit=memory_limit)
    summary, excluded = _typed_summary(table, rfm_only=rfm_only)
    summary.attrs = {
        "time_unit": time_unit,
        "observation_start": observation_start,
        "observation_end": observation_end,
        "engine": engine,
        "customers_without_purchase": excluded,
    }
    return summary


def holdout_split_summary(
    transactions_path: str | Path,
    *,
    calibration_end: date,
    observation_end: date,
    time_unit: TimeUnit = "D",
    observation_start: date | None = None,
    engine: Engine = "duckdb",
    rfm_only: bool = False,
    memory_limit: str | None = None,
) -> pd.DataFrame:
    """Calibration summary plus holdout purchases, as lifetimes' ``calibration_and_holdout_data``.

    The calibration part is :func:`customer_summary` with ``observation_end = calibration_end``, so
    only customers whose first purchase is on or before ``calibration_end`` appear. Added columns:
    ``frequency_holdout`` (distinct purchase periods in (calibration_end, observation_end]),
    ``monetary_value_holdout`` (mean spend per holdout purchase period, 0 when none) and
    ``duration_holdout`` (periods from the calibration end's period to the observation end's).
    With weeks, a week that straddles ``calibration_end`` counts in both parts, as in lifetimes;
    end the calibration on a Sunday to avoid it. ``rfm_only``: the calibration part has
    :data:`RFM_COLUMNS` only, as in :func:`customer_summary`; ``memory_limit``: DuckDB's (:func:`run_queries`).
    """
    _check_time_unit(time_unit)
    cal_day, start_day = _window_days(calibration_end, observation_start)
    end_day = _day_number(observation_end, "observation_end")
    if cal_day >= end_day:
        raise SummaryError(
            f"calibration_end ({calibration_end}) must be before observation_end ({observation_end}); "
            "shorten the calibration period or extend the observation"
        )
    path = Path(transactions_path)
    columns = _check_transactions(path)
    query = holdout_split_sql(columns, time_unit, cal_day, end_day, start_day, rfm_only=rfm_only)
    (table,) = run_queries(path, [query], engine, memory_limit=memory_limit)
    out, excluded = _typed_summary(table, HOLDOUT_COLUMNS, rfm_only=rfm_only)
    out.attrs = {
        "time_unit": time_unit,
        "observation_start": observation_start,
        "calibration_end": calibration_end,
        "observation_end": observation_end,
        "engine": engine,
        "customers_without_purchase": excluded,
    }
    return out
