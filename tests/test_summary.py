"""Customer summary: a hand-computed case in days and weeks, DuckDB == Spark, holdout split, properties."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.methods.customer_summary import (
    HOLDOUT_COLUMNS,
    RFM_COLUMNS,
    SUMMARY_COLUMNS,
    EngineError,
    SummaryError,
    _require_java,
    customer_summary,
    holdout_split_summary,
)
from tests.examples import examples

SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("order_id", pa.string()),
        ("order_date", pa.date32()),
        ("order_day", pa.int32()),
        ("amount", pa.float64()),
        ("is_return", pa.bool_()),
        ("quantity", pa.float64()),
        ("product_category", pa.string()),
        ("channel", pa.string()),
        ("cost", pa.float64()),
    ]
)
EPOCH = date(1970, 1, 1)
END = date(2024, 3, 31)  # a Sunday: the last day of the week starting Monday 2024-03-25

# (customer, order_id, date, amount, is_return, cost). 2024-01-01 is a Monday.
HAND_ROWS = [
    # A: two orders on one day, a netted return, a late-January repeat, a row after the end
    ("A", "a1", date(2024, 1, 1), 100.0, False, 60.0),
    ("A", "a2", date(2024, 1, 1), 50.0, False, 30.0),
    ("A", "a3", date(2024, 1, 10), 80.0, False, 50.0),  # 100 ordered, 20 returned: netted upstream
    ("A", "a4", date(2024, 1, 12), 10.0, False, 4.0),
    ("A", "a5", date(2024, 2, 15), 40.0, False, 25.0),
    ("A", "a6", date(2024, 4, 5), 999.0, False, 1.0),  # after the observation end
    # B: rows without order id, a two-line order, an unmatched return, a zero order; no costs
    ("B", None, date(2024, 2, 5), 30.0, False, None),
    ("B", None, date(2024, 2, 5), 20.0, False, None),
    ("B", "b3", date(2024, 2, 7), 25.0, False, None),
    ("B", "b3", date(2024, 2, 7), 5.0, False, None),
    ("B", None, date(2024, 3, 1), -15.0, True, None),  # unmatched return
    ("B", "b5", date(2024, 3, 4), 0.0, False, None),  # zero order: not a purchase
    # C: never a purchase inside the window → left out and counted
    ("C", None, date(2024, 1, 20), -10.0, True, None),
    ("C", "c1", date(2024, 2, 1), 0.0, False, None),
    ("C", "c2", date(2024, 2, 2), -5.0, False, 1.0),  # an order netted below zero
    ("C", "c3", date(2024, 4, 2), 50.0, False, 20.0),  # after the observation end
    # D: a negative order, then one purchase on the observation end day
    ("D", "d0", date(2024, 3, 20), -3.0, False, 2.0),
    ("D", "d1", date(2024, 3, 31), 12.5, False, 10.0),
]


def write_transactions(rows: list[tuple], path: Path) -> Path:
    customer, order_id, day, amount, is_return, cost = (
        (list(col) for col in zip(*rows)) if rows else ([],) * 6
    )
    table = pa.table(
        {
            "customer_id": customer,
            "order_id": order_id,
            "order_date": day,
            "order_day": [(d - EPOCH).days for d in day],
            "amount": amount,
            "is_return": is_return,
            "quantity": [1.0] * len(rows),
            "product_category": ["books"] * len(rows),
            "channel": [None] * len(rows),
            "cost": cost,
        },
        schema=SCHEMA,
    )
    pq.write_table(table, path)
    return path


def expected(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return frame.astype(
        {
            "customer_id": "string",
            "first_purchase": "datetime64[us]",
            "last_purchase": "datetime64[us]",
            **{
                c: "int64"
                for c in ("frequency", "recency", "T", "orders", "tenure_days", "days_since_last")
            },
            **{c: "float64" for c in ("monetary_value", "revenue", "margin")},
        }
    )


def row(cid, first, last, freq, rec, T, mon, rev, orders, tenure, dsl, margin) -> dict:
    return dict(
        zip(
            SUMMARY_COLUMNS, [cid, first, last, freq, rec, T, mon, rev, orders, tenure, dsl, margin]
        )
    )


# Worked by hand. Day numbers from 2024-01-01: Jan 10 = 9, Jan 12 = 11, Feb 5 = 35, Feb 7 = 37,
# Feb 15 = 45, Mar 31 = 90 (2024 is a leap year).
# A: purchase days 0, 9, 11, 45 → frequency 3, recency 45, T 90; repeat spend (80 + 10 + 40) / 3;
#    revenue 100+50+80+10+40 = 280 (the April row is outside); orders a1..a5 = 5;
#    margin 40 + 20 + 30 + 6 + 15 = 111.
# B: purchase days 35, 37 → frequency 1, recency 2, T 55; monetary = day 37's two lines 25 + 5 = 30;
#    revenue 30+20+25+5−15+0 = 65; orders = 2 rows without id + b3 = 3; no cost → margin missing.
# D: one purchase day (90) → 0, 0, 0, monetary 0; revenue −3 + 12.5 = 9.5; orders 1 (d0 is not a
#    purchase); margin (−3 − 2) + (12.5 − 10) = −2.5.
HAND_DAYS = expected(
    [
        row("A", "2024-01-01", "2024-02-15", 3, 45, 90, 130 / 3, 280.0, 5, 90, 45, 111.0),
        row("B", "2024-02-05", "2024-02-07", 1, 2, 55, 30.0, 65.0, 3, 55, 53, np.nan),
        row("D", "2024-03-31", "2024-03-31", 0, 0, 0, 0.0, 9.5, 1, 0, 0, -2.5),
    ]
)
# Weeks (Monday first) from the week of 2024-01-01: day 0 → 0, 9 and 11 → 1, 35 and 37 → 5,
# 45 → 6, 90 → 12. A: weeks 0, 1, 6 → frequency 2, recency 6, T 12, monetary (80+10 + 40) / 2 = 65.
# B: both purchase days in week 5 → frequency 0, T 12 − 5 = 7. D: week 12 → all 0.
HAND_WEEKS = HAND_DAYS.assign(
    frequency=[2, 0, 0], recency=[6, 0, 0], T=[12, 7, 0], monetary_value=[65.0, 0.0, 0.0]
)

# Calibration to Saturday 2024-02-10 (day 40, week 5), holdout to 2024-03-31 (day 90, week 12).
# Calibration A: days 0, 9, 11 → frequency 2, recency 11, T 40, monetary (80 + 10) / 2 = 45, revenue 240,
# orders 4, margin 96; holdout: Feb 15 → 1 purchase day of 40. B: days 35, 37 → 1, 2, T 5, 30, revenue 80;
# holdout: only a return and a zero order → 0. C: no purchase. D: first purchase after the calibration.
HAND_HOLDOUT_DAYS = expected(
    [
        row("A", "2024-01-01", "2024-01-12", 2, 11, 40, 45.0, 240.0, 4, 40, 29, 96.0),
        row("B", "2024-02-05", "2024-02-07", 1, 2, 5, 30.0, 80.0, 3, 5, 3, np.nan),
    ]
).assign(frequency_holdout=[1, 0], monetary_value_holdout=[40.0, 0.0], duration_holdout=[50, 50])
# Weeks: A weeks 0, 1 → frequency 1, recency 1, T 5, monetary 90; holdout week 6 → 1. B: week 5 → 0, T 0.
HAND_HOLDOUT_WEEKS = HAND_HOLDOUT_DAYS.assign(
    frequency=[1, 0], recency=[1, 0], T=[5, 0], monetary_value=[90.0, 0.0], duration_holdout=[7, 7]
)
HOLDOUT_KW = {"calibration_end": date(2024, 2, 10), "observation_end": END}


@pytest.fixture(scope="module")
def hand_path(tmp_path_factory) -> Path:
    return write_transactions(HAND_ROWS, tmp_path_factory.mktemp("hand") / "transactions.parquet")


def assert_same(actual: pd.DataFrame, wanted: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(actual, wanted, check_exact=True)


# ---------------------------------------------------------------------------------------------
# DuckDB against the hand case


@pytest.mark.parametrize("unit, wanted", [("D", HAND_DAYS), ("W", HAND_WEEKS)])
def test_duckdb_matches_hand_case(hand_path, unit, wanted):
    summary = customer_summary(hand_path, observation_end=END, time_unit=unit)
    assert_same(summary, wanted)
    assert summary.attrs["customers_without_purchase"] == 1  # C
    assert summary.attrs["time_unit"] == unit


@pytest.mark.parametrize("unit, wanted", [("D", HAND_DAYS), ("W", HAND_WEEKS)])
def test_rfm_only_is_the_purchase_history_of_the_whole_summary(hand_path, unit, wanted):
    summary = customer_summary(hand_path, observation_end=END, time_unit=unit, rfm_only=True)
    assert_same(summary, wanted[RFM_COLUMNS])
    assert summary.attrs["customers_without_purchase"] is None  # C's returns are not read
    with_start = {"observation_end": END, "observation_start": date(2024, 1, 5), "time_unit": unit}
    assert_same(customer_summary(hand_path, rfm_only=True, **with_start),
                customer_summary(hand_path, **with_start)[RFM_COLUMNS])


@pytest.mark.parametrize("unit, wanted", [("D", HAND_HOLDOUT_DAYS), ("W", HAND_HOLDOUT_WEEKS)])
def test_rfm_only_holdout_split_keeps_the_holdout_columns(hand_path, unit, wanted):
    split = holdout_split_summary(hand_path, time_unit=unit, rfm_only=True, **HOLDOUT_KW)
    assert_same(split, wanted[[*RFM_COLUMNS, *HOLDOUT_COLUMNS]])


def test_observation_start_drops_earlier_rows(hand_path):
    summary = customer_summary(hand_path, observation_end=END, observation_start=date(2024, 1, 5))
    a = summary.set_index("customer_id").loc["A"]
    # purchase days 9, 11, 45 → frequency 2, recency 36, T 81, monetary (10 + 40) / 2
    assert (a["first_purchase"], a["frequency"], a["recency"], a["T"]) == (
        pd.Timestamp("2024-01-10"),
        2,
        36,
        81,
    )
    assert (a["monetary_value"], a["revenue"], a["orders"], a["margin"]) == (25.0, 130.0, 3, 51.0)
    assert_same(summary.iloc[1:].reset_index(drop=True), HAND_DAYS.iloc[1:].reset_index(drop=True))


@pytest.mark.parametrize("unit, wanted", [("D", HAND_HOLDOUT_DAYS), ("W", HAND_HOLDOUT_WEEKS)])
def test_holdout_split_matches_hand_case(hand_path, unit, wanted):
    assert_same(holdout_split_summary(hand_path, time_unit=unit, **HOLDOUT_KW), wanted)


def test_file_without_optional_columns(tmp_path):
    """order_id and cost may be absent: every purchase row is then an order and margin is missing."""
    rows = [
        ("X", None, date(2024, 1, 1), 5.0, False, None),
        ("X", None, date(2024, 1, 1), 7.0, False, None),
    ]
    path = write_transactions(rows, tmp_path / "t.parquet")
    pq.write_table(pq.read_table(path).drop_columns(["order_id", "cost"]), path)
    summary = customer_summary(path, observation_end=date(2024, 1, 3))
    assert summary[["orders", "tenure_days", "revenue"]].iloc[0].tolist() == [2, 2, 12.0]
    assert summary["margin"].isna().all()


def with_is_purchase(path: Path) -> Path:
    """The file with the cleaning stage's ``is_purchase`` flag: amount ≥ 0 and not an unmatched return."""
    table = pq.read_table(path)
    frame = table.to_pandas()
    flag = (frame["amount"] >= 0) & ~frame["is_return"]
    pq.write_table(table.append_column("is_purchase", pa.array(flag.to_numpy(), pa.bool_())), path)
    return path


def test_zero_amount_order_counts_as_a_purchase_with_is_purchase(tmp_path):
    """With ``is_purchase``, B's zero order on Mar 4 (day 63) is a purchase occasion; C's zero order too."""
    path = with_is_purchase(write_transactions(HAND_ROWS, tmp_path / "t.parquet"))
    summary = customer_summary(path, observation_end=END).set_index("customer_id")
    b = summary.loc["B"]
    # purchase days 35, 37, 63 → frequency 2, recency 28; repeat spend (30 + 0) / 2; orders + b5
    assert (b["frequency"], b["recency"], b["T"], b["orders"]) == (2, 28, 55, 4)
    assert (b["monetary_value"], b["last_purchase"]) == (15.0, pd.Timestamp("2024-03-04"))
    # C's only purchase occasion is the zero order c1 on Feb 1; the netted-below-zero c2 is not one
    c = summary.loc["C"]
    assert (c["frequency"], c["orders"], c["first_purchase"]) == (0, 1, pd.Timestamp("2024-02-01"))
    assert summary.attrs["customers_without_purchase"] == 0
    # A and D are unchanged: none of their purchase rows has a zero amount
    assert_same(summary.loc[["A", "D"]].reset_index(), HAND_DAYS.iloc[[0, 2]].reset_index(drop=True))


def test_without_is_purchase_a_zero_order_is_not_a_purchase(hand_path):
    """Files written before the flag existed keep the older rule: amount > 0 and not a return."""
    b = customer_summary(hand_path, observation_end=END).set_index("customer_id").loc["B"]
    assert (b["frequency"], b["orders"]) == (1, 3)


def test_empty_window_gives_typed_empty_frame(hand_path):
    summary = customer_summary(hand_path, observation_end=date(2020, 1, 1))
    assert summary.empty and list(summary.columns) == SUMMARY_COLUMNS
    assert (
        summary["frequency"].dtype == "int64"
        and summary["first_purchase"].dtype == "datetime64[us]"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"observation_end": END, "time_unit": "M"}, "time_unit"),
        ({"observation_end": END, "engine": "sqlite"}, "engine must be one of duckdb, spark"),
        ({"observation_end": END, "observation_start": date(2024, 4, 1)}, "after observation_end"),
        ({"observation_end": "2024-03-31"}, "observation_end must be a date"),
    ],
)
def test_bad_arguments_are_named(hand_path, kwargs, message):
    with pytest.raises(SummaryError, match=message):
        customer_summary(hand_path, **kwargs)


def test_missing_file_and_columns_are_explained(tmp_path, hand_path):
    with pytest.raises(SummaryError, match="not found: run the cleaning stage"):
        customer_summary(tmp_path / "nope.parquet", observation_end=END)
    pq.write_table(
        pq.read_table(hand_path).drop_columns(["order_day", "is_return"]), tmp_path / "old.parquet"
    )
    with pytest.raises(SummaryError, match="lacks column\\(s\\) is_return, order_day"):
        customer_summary(tmp_path / "old.parquet", observation_end=END)
    with pytest.raises(SummaryError, match="calibration_end .* must be before observation_end"):
        holdout_split_summary(hand_path, calibration_end=END, observation_end=END)


def test_missing_java_says_so_and_suggests_duckdb(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no java on PATH
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(EngineError, match="no Java runtime was found.*scoring.engine: duckdb"):
        _require_java()


# ---------------------------------------------------------------------------------------------
# Properties on random transactions: row order does not matter, purchases ≤ orders, and the SQL
# agrees with a direct pandas reading of the lifetimes definitions (pandas weekly periods for "W").

BASE = date(2023, 12, 27)  # a Wednesday, so weeks split inside the random range

random_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "甲"]),
        st.integers(0, 40),  # day offset
        st.integers(-8, 40).map(lambda q: q / 4),  # amounts on a 0.25 grid
        st.booleans(),  # unmatched return (only kept for negative amounts)
        st.integers(0, 2),  # 0: no order id; 1, 2: an order id that lives on one day
        st.one_of(st.none(), st.integers(0, 20).map(float)),
    ),
    min_size=1,
    max_size=40,
)


def to_rows(drawn) -> list[tuple]:
    out = []
    for cid, offset, amount, is_return, order_no, cost in drawn:
        order_id = None if order_no == 0 else f"{cid}-{offset}-{order_no}"
        out.append(
            (cid, order_id, BASE + timedelta(days=offset), amount, is_return and amount < 0, cost)
        )
    return out


def pandas_reference(rows: list[tuple], end: date, unit: str) -> pd.DataFrame:
    df = pd.DataFrame(
        rows, columns=["customer_id", "order_id", "day", "amount", "is_return", "cost"]
    )
    df["day"] = pd.to_datetime(df["day"])
    df["cost"] = df["cost"].astype("float64")
    df = df[df["day"] <= pd.Timestamp(end)]
    freq = "D" if unit == "D" else "W"
    df["period"] = df["day"].dt.to_period(freq)
    end_period = pd.Timestamp(end).to_period(freq)
    buy = df[(df["amount"] > 0) & ~df["is_return"]]
    out = []
    for cid, rows_c in buy.groupby("customer_id"):
        spend = rows_c.groupby("period")["amount"].sum().sort_index()
        all_c = df[df["customer_id"] == cid]
        margin = (all_c["amount"] - all_c["cost"]).dropna()
        ids = rows_c["order_id"]
        out.append(
            row(
                cid,
                rows_c["day"].min(),
                rows_c["day"].max(),
                len(spend) - 1,
                (spend.index[-1] - spend.index[0]).n,
                (end_period - spend.index[0]).n,
                spend.iloc[1:].mean() if len(spend) > 1 else 0.0,
                all_c["amount"].sum(),
                ids.nunique() + ids.isna().sum(),
                (pd.Timestamp(end) - rows_c["day"].min()).days,
                (pd.Timestamp(end) - rows_c["day"].max()).days,
                margin.sum() if len(margin) else np.nan,
            )
        )
    return expected(out).sort_values("customer_id", ignore_index=True)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    drawn=random_rows,
    seed=st.integers(0, 2**32 - 1),
    unit=st.sampled_from(["D", "W"]),
    end_offset=st.integers(0, 45),
)
def test_summary_properties(drawn, seed, unit, end_offset):
    rows = to_rows(drawn)
    shuffled = [rows[i] for i in np.random.default_rng(seed).permutation(len(rows))]
    end = BASE + timedelta(days=end_offset)
    with tempfile.TemporaryDirectory() as folder:
        first = customer_summary(
            write_transactions(rows, Path(folder) / "a.parquet"),
            observation_end=end,
            time_unit=unit,
        )
        second = customer_summary(
            write_transactions(shuffled, Path(folder) / "b.parquet"),
            observation_end=end,
            time_unit=unit,
        )
        rfm = customer_summary(Path(folder) / "b.parquet", observation_end=end, time_unit=unit, rfm_only=True)
    assert_same(first, second)
    assert (first["frequency"] + 1 <= first["orders"]).all()
    assert (first["recency"] <= first["T"]).all() and (first["monetary_value"] >= 0).all()
    pd.testing.assert_frame_equal(first, pandas_reference(rows, end, unit), rtol=1e-12)
    assert_same(rfm, first[RFM_COLUMNS])


# ---------------------------------------------------------------------------------------------
# Spark runs the same SQL text and must agree exactly.


@pytest.mark.spark
def test_spark_equals_duckdb_equals_hand_case(spark, hand_path):
    for unit, wanted, wanted_holdout in [
        ("D", HAND_DAYS, HAND_HOLDOUT_DAYS),
        ("W", HAND_WEEKS, HAND_HOLDOUT_WEEKS),
    ]:
        by_spark = customer_summary(hand_path, observation_end=END, time_unit=unit, engine="spark")
        assert_same(by_spark, wanted)
        assert_same(by_spark, customer_summary(hand_path, observation_end=END, time_unit=unit))
        assert by_spark.attrs["customers_without_purchase"] == 1
        holdout = holdout_split_summary(hand_path, time_unit=unit, engine="spark", **HOLDOUT_KW)
        assert_same(holdout, wanted_holdout)
        rfm = customer_summary(hand_path, observation_end=END, time_unit=unit, engine="spark", rfm_only=True)
        assert_same(rfm, wanted[RFM_COLUMNS])
        split = holdout_split_summary(hand_path, time_unit=unit, engine="spark", rfm_only=True, **HOLDOUT_KW)
        assert_same(split, wanted_holdout[[*RFM_COLUMNS, *HOLDOUT_COLUMNS]])
