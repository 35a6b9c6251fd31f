from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.i18n import render, text
from analysis.methods.churn import CodedTransactions
from analysis.methods.lifecycle import (
    DEFAULT_LIFECYCLE_RULES,
    STAGES,
    LifecycleInputError,
    assign_lifecycle,
    day_dates,
    describe_lifecycle_rules,
    frame_order,
    lifecycle_rules,
    spend_trend,
    stage_by_tier,
)
from analysis.report.sections import lifecycle_rules_table
from tests.examples import examples

AS_OF = pd.Timestamp("2025-12-31")


def tx(rows: list[tuple[str, str, float]], **extra) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    df["order_date"] = pd.to_datetime(df["order_date"])
    df["is_return"] = df["amount"] < 0
    df["order_id"] = [f"O{i}" for i in range(len(df))]
    return df.assign(**extra)


# --- spend_trend ----------------------------------------------------------------------------


def test_spend_trend_windows_boundaries_returns_and_future_rows():
    # window 10 days: recent (12-21, 12-31], previous (12-11, 12-21]
    data = tx(
        [
            ("a", "2025-12-31", 100.0),  # recent, last day included
            ("a", "2025-12-22", 50.0),  # recent, first day
            ("a", "2025-12-21", 40.0),  # previous, last day
            ("a", "2025-12-12", 10.0),  # previous, first day
            ("a", "2025-12-11", 999.0),  # before both windows
            ("a", "2026-01-01", 999.0),  # after as_of: ignored
            ("a", "2025-12-25", -30.0),  # unmatched return: lowers spend, not an order
            ("b", "2025-12-15", 80.0),  # previous only
            ("c", "2025-12-30", 20.0),  # recent only
            ("d", "2025-01-01", 5.0),  # neither window
        ]
    )
    trend = spend_trend(data, AS_OF, window_days=10).set_index("customer_id")
    # the same table from the transactions coded (as stage 4 holds them)
    coded = CodedTransactions.up_to(data, AS_OF).spend_trend(AS_OF, window_days=10)
    pd.testing.assert_frame_equal(coded.set_index("customer_id"), trend, check_exact=True)
    assert list(trend.index) == ["a", "b", "c", "d"]
    assert trend.loc["a", "recent_spend"] == pytest.approx(120.0)
    assert trend.loc["a", "previous_spend"] == pytest.approx(50.0)
    assert trend.loc["a", "recent_orders"] == 2 and trend.loc["a", "previous_orders"] == 2
    assert trend.loc["a", "spend_ratio"] == pytest.approx(2.4)
    assert trend.loc["b", "spend_ratio"] == 0.0
    assert np.isinf(trend.loc["c", "spend_ratio"])
    assert np.isnan(trend.loc["d", "spend_ratio"])


def test_spend_trend_ignores_row_order():
    data = tx(
        [
            ("a", "2025-12-30", 10.0),
            ("b", "2025-08-01", 7.0),
            ("a", "2025-07-01", 3.0),
            ("b", "2025-12-01", 1.0),
        ]
    )
    first = spend_trend(data, AS_OF)
    shuffled = spend_trend(data.sample(frac=1, random_state=3), AS_OF)
    pd.testing.assert_frame_equal(first, shuffled)


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(rows=st.lists(
    st.tuples(
        st.sampled_from(["b", "a", "张", None]),  # ids out of order, one not ASCII, one missing
        st.sampled_from(["O1", "O2", "O3", None]),  # order ids shared by customers and days, and rows without
        st.integers(0, 60),  # days before as_of (negative: after it)
        st.sampled_from([-30.0, 0.0, 12.5, 80.0]),
    ),
    max_size=40,
))
def test_spend_trend_is_the_group_by_on_the_ids(rows):
    """Spend sums and distinct purchase orders per window: a plain groupby on the text ids and order keys."""
    data = pd.DataFrame(rows, columns=["customer_id", "order_id", "days_before", "amount"])
    data = data.astype({"days_before": "int64", "amount": "float64"}).assign(
        customer_id=data["customer_id"].astype("string"), order_id=data["order_id"].astype("string"),
        order_date=AS_OF - pd.to_timedelta(data.pop("days_before") - 5, unit="D"), is_return=data["amount"] < 0,
    )
    got = spend_trend(data, AS_OF, window_days=20).set_index("customer_id")
    seen = data[data["customer_id"].notna() & (data["order_date"] <= AS_OF)].copy()
    seen["order_key"] = seen["order_id"].fillna("row:" + pd.Series(seen.index.astype(str), index=seen.index))
    bought = seen[~seen["is_return"] & (seen["amount"] > 0)]
    assert list(got.index) == sorted(seen["customer_id"].unique())
    for name, low, high in (("recent", AS_OF - pd.Timedelta(days=20), AS_OF),
                            ("previous", AS_OF - pd.Timedelta(days=40), AS_OF - pd.Timedelta(days=20))):
        window = seen[(seen["order_date"] > low) & (seen["order_date"] <= high)]
        spend = window.groupby("customer_id")["amount"].sum().reindex(got.index, fill_value=0.0)
        orders = bought[(bought["order_date"] > low) & (bought["order_date"] <= high)]
        counted = orders.groupby("customer_id")["order_key"].nunique().reindex(got.index, fill_value=0)
        np.testing.assert_allclose(got[f"{name}_spend"], spend, rtol=1e-12)
        assert got[f"{name}_orders"].tolist() == counted.tolist()
    # the same table, to the bit, from the transactions coded (as stage 4 holds them)
    coded = CodedTransactions.up_to(data, AS_OF).spend_trend(AS_OF, window_days=20)
    pd.testing.assert_frame_equal(coded.set_index("customer_id"), got, check_exact=True)


# --- assign_lifecycle ------------------------------------------------------------------------


def customers(rows: list[dict]) -> pd.DataFrame:
    base = {
        "p_alive": 0.9,
        "days_since_last": 20,
        "tenure_days": 800,
        "frequency": 5,
        "recent_spend": 100.0,
        "previous_spend": 100.0,
        "tier": 1,
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def test_each_default_stage_on_hand_cases():
    c = customers(
        [
            {"customer_id": "lost_p", "p_alive": 0.2},
            {"customer_id": "lost_days", "days_since_last": 400, "p_alive": 0.9},
            {
                "customer_id": "new",
                "tenure_days": 60,
                "frequency": 0,
                "recent_spend": 50.0,
                "previous_spend": 0.0,
            },
            {"customer_id": "declining_spend", "recent_spend": 40.0},
            {"customer_id": "declining_p", "p_alive": 0.5},
            {"customer_id": "growing_young", "tenure_days": 300, "frequency": 1},
            {"customer_id": "growing_spend", "recent_spend": 130.0},
            {"customer_id": "mature"},
            {
                "customer_id": "young_one_timer",
                "tenure_days": 300,
                "frequency": 0,
            },  # not growing -> mature
        ]
    )
    stages = assign_lifecycle(c)
    assert stages.index.equals(c.index)
    assert dict(zip(c["customer_id"], stages)) == {
        "lost_p": "lost",
        "lost_days": "lost",
        "new": "new",
        "declining_spend": "declining",
        "declining_p": "declining",
        "growing_young": "growing",
        "growing_spend": "growing",
        "mature": "mature",
        "young_one_timer": "mature",
    }


def test_boundaries_are_as_documented():
    c = customers(
        [
            {
                "customer_id": "p_at_0.3",
                "p_alive": 0.3,
            },  # not < 0.3 -> not lost; < 0.6 -> declining
            {"customer_id": "days_365", "days_since_last": 365},  # not > 365
            {"customer_id": "tenure_90", "tenure_days": 90},  # <= 90 -> new
            {"customer_id": "ratio_0.5", "recent_spend": 50.0},  # not < 0.5
            {"customer_id": "ratio_1.2", "recent_spend": 120.0},  # >= 1.2 -> growing
        ]
    )
    assert list(assign_lifecycle(c)) == ["declining", "mature", "new", "mature", "growing"]


def test_precedence_decides_between_matching_stages():
    # matches lost (p_alive), new (tenure) and declining; and one matching declining and growing
    c = customers(
        [
            {"customer_id": "x", "p_alive": 0.1, "tenure_days": 30},
            {"customer_id": "y", "tenure_days": 200, "frequency": 2, "recent_spend": 10.0},
        ]
    )
    assert list(assign_lifecycle(c)) == ["lost", "declining"]
    reordered = {"precedence": ["new", "growing", "lost", "declining"]}
    assert list(assign_lifecycle(c, rules=reordered)) == ["new", "growing"]


def test_spend_trend_frame_is_merged_and_missing_customers_have_no_spend():
    c = customers([{"customer_id": "a"}, {"customer_id": "b"}, {"customer_id": "c"}]).drop(
        columns=["recent_spend", "previous_spend"]
    )
    trend = pd.DataFrame(
        {
            "customer_id": ["b", "a"],
            "recent_spend": [10.0, 300.0],
            "previous_spend": [100.0, 100.0],
            "spend_ratio": [0.1, 3.0],
            "recent_orders": [1, 3],
            "previous_orders": [2, 1],
        }
    )
    # c is absent from the trend table: no spend in either window, so no spend rule fires
    assert list(assign_lifecycle(c, trend)) == ["growing", "declining", "mature"]


def test_thresholds_come_from_params():
    c = customers([{"customer_id": "a", "p_alive": 0.45}])
    assert list(assign_lifecycle(c)) == ["declining"]
    rules = {"stages": {"lost": [{"p_alive": ["<", 0.5]}]}}
    assert list(assign_lifecycle(c, rules=rules)) == ["lost"]
    # the other stages keep their default rule
    assert lifecycle_rules(rules)["stages"]["new"] == DEFAULT_LIFECYCLE_RULES["stages"]["new"]


def test_result_does_not_depend_on_row_order():
    rng = np.random.default_rng(5)
    n = 200
    c = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "p_alive": rng.uniform(0, 1, n),
            "days_since_last": rng.integers(0, 500, n),
            "tenure_days": rng.integers(0, 1500, n),
            "frequency": rng.integers(0, 10, n),
            "recent_spend": rng.uniform(0, 200, n),
            "previous_spend": rng.uniform(0, 200, n),
        }
    )
    stages = assign_lifecycle(c).set_axis(c["customer_id"])
    shuffled = c.sample(frac=1, random_state=1)
    again = assign_lifecycle(shuffled).set_axis(shuffled["customer_id"])
    pd.testing.assert_series_equal(stages.sort_index(), again.sort_index())
    assert set(stages) <= set(STAGES) and len(set(stages)) == 5


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"precedence": ["lost", "new", "declining"]}, "exactly once"),
        ({"precedence": ["lost", "new", "declining", "growing", "zombie"]}, "unknown stage"),
        ({"stages": {"lost": [{"p_alive": ["<<", 0.3]}]}}, "operator"),
        ({"stages": {"lost": []}}, "list of clauses"),
        ({"window": 90}, "unknown key"),
    ],
)
def test_bad_rules_are_rejected_with_the_key(rules, message):
    with pytest.raises(LifecycleInputError, match=message):
        lifecycle_rules(rules)


def test_missing_feature_column_is_named():
    c = customers([{"customer_id": "a"}]).drop(columns=["p_alive"])
    with pytest.raises(LifecycleInputError, match="p_alive"):
        assign_lifecycle(c)


# --- methodology text and cross-tab ----------------------------------------------------------


def test_describe_rules_lists_precedence_with_thresholds_in_both_languages():
    steps = describe_lifecycle_rules()
    assert [s["stage"] for s in steps] == ["lost", "new", "declining", "growing", "mature"]
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5]
    zh = [render(s["rule"], "zh") for s in steps]
    assert zh == [
        "P(存活) < 0.3，或 距上次购买天数 > 365",
        "首次购买至今天数 ≤ 90",
        "近180天消费额 ÷ 前一个180天消费额 < 0.5，或 P(存活) < 0.6",
        "首次购买至今天数 ≤ 365 且 重复购买次数 ≥ 1，或 近180天消费额 ÷ 前一个180天消费额 ≥ 1.2",
        "其余所有客户",
    ]
    assert render(steps[3]["rule"], "en") == (
        "days since first purchase ≤ 365 and repeat purchases ≥ 1, or "
        "spend in the last 180 days ÷ spend in the 180 days before ≥ 1.2"
    )
    changed = describe_lifecycle_rules(
        {"window_days": 90, "stages": {"new": [{"tenure_days": ["<=", 60]}], "lost": [{"churn_score": [">", 2]}]}}
    )
    assert render(changed[1]["rule"], "en") == "days since first purchase ≤ 60"
    assert render(changed[0]["rule"], "zh") == "churn_score > 2", "a feature without a text shows its column"
    assert render(changed[2]["rule"], "zh").startswith("近90天消费额")
    assert text(f"lifecycle_stage_{steps[4]['stage']}", "en") == "Mature"


def test_the_methodology_shows_step_stage_label_and_rule_in_the_readers_language():
    steps = json.loads(json.dumps(describe_lifecycle_rules()))  # as experience.json holds them
    zh, en = lifecycle_rules_table(steps, "zh"), lifecycle_rules_table(steps, "en")
    assert list(zh.columns) == ["step", "stage", "label", "rule"]
    assert zh.iloc[0].tolist() == [1, "lost", "已流失", "P(存活) < 0.3，或 距上次购买天数 > 365"]
    assert en.iloc[4].tolist() == [5, "mature", "Mature", "all other customers"]


def test_stage_by_tier_counts_and_shares():
    c = pd.DataFrame({"tier": [1, 1, 1, 2, 2], "customer_id": list("abcde")})
    stages = pd.Series(["new", "new", "lost", "mature", "growing"], index=c.index)
    table = stage_by_tier(c, stages)
    assert list(table.counts.columns) == list(STAGES)
    assert table.counts.loc[1].tolist() == [2, 0, 0, 0, 1]
    assert table.counts.loc["all"].tolist() == [2, 1, 1, 0, 1]
    np.testing.assert_allclose(table.shares.sum(axis=1), 1.0)
    assert table.shares.loc[1, "new"] == pytest.approx(2 / 3)
    assert [text(f"lifecycle_stage_{stage}", "zh") for stage in table.counts.columns] == [
        "新客户", "成长期", "成熟期", "衰退期", "已流失"
    ]


def test_framing_is_done_once_and_keeps_the_order_keys():
    from analysis.methods.churn import churn_features
    from analysis.methods.lifecycle import transactions_frame

    raw = pd.DataFrame({
        "customer_id": ["A", "A", "A", "B"],
        "order_id": ["o1", "o1", "o2", None],  # o1 has two lines; B's row has no order id
        "order_date": pd.to_datetime(["2024-01-05", "2024-01-05", "2024-03-01", "2024-02-01"]),
        "amount": [10.0, 5.0, 7.0, 3.0],
        "is_return": False,
    })
    framed = transactions_frame(raw)
    assert transactions_frame(framed) is framed  # a framed table is taken as it is
    assert transactions_frame(framed.iloc[:2]).equals(framed.iloc[:2])
    assert framed.loc[framed["customer_id"] == "A", "order_key"].tolist() == ["o1", "o1", "o2"]
    # two lines of one order are one order, whether the features get the raw or the framed rows
    for table in (raw, framed):
        features = churn_features(table, cutoff="2024-06-30").set_index("customer_id")
        assert features.loc["A", "orders"] == 2 and features.loc["B", "orders"] == 1


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["b", "a", "Ä", "张", "a ", None]),
            st.integers(0, 3),
            st.sampled_from([-0.0, 0.0, 1.5, -2.0, np.nan]),
            st.booleans(),
            st.sampled_from(["o2", "o10", None]),
        ),
        max_size=30,
    )
)
def test_frame_order_is_the_stable_sort_of_pandas(rows):
    keys = ["customer_id", "order_date", "amount", "is_return", "order_key"]
    frame = pd.DataFrame(rows, columns=keys).astype({"customer_id": "string", "order_key": "string", "amount": "float64",
                                                     "is_return": bool})
    frame["order_date"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["order_date"], unit="D")
    expected = frame.reset_index(drop=True).sort_values(keys, kind="mergesort").index.to_numpy()
    np.testing.assert_array_equal(frame_order(frame, keys), expected)
    # rows already in order are kept where they are; two neighbours swapped, the sort puts them back
    # (without missing values too: rows in order are then found so without a sort)
    ordered = frame.iloc[expected].reset_index(drop=True)
    for rows in (ordered, ordered.dropna().reset_index(drop=True)):
        np.testing.assert_array_equal(frame_order(rows, keys), np.arange(len(rows)))
        for at in range(len(rows) - 1):
            swapped = rows.iloc[[*range(at), at + 1, at, *range(at + 2, len(rows))]].reset_index(drop=True)
            np.testing.assert_array_equal(frame_order(swapped, keys), swapped.sort_values(keys, kind="mergesort").index)


@settings(max_examples=examples(60), deadline=None)
@given(
    counts=st.lists(st.integers(1, 9), min_size=0, max_size=40),
    part_rows=st.integers(1, 25),
    seed=st.integers(0, 2**16),
    masked=st.booleans(),
)
def test_window_spend_in_parts_of_whole_customers_is_the_one_groupby(counts, part_rows, seed, masked):
    """Summed a range of whole customers at a time, the spend is that of one groupby, to the bit."""
    from unittest import mock

    from analysis.methods import lifecycle

    rng = np.random.default_rng(seed)
    customer = np.repeat(np.arange(len(counts), dtype=np.int32) * 2, counts)  # sorted, with gaps
    amount = rng.normal(100, 60, customer.size) * 10.0 ** rng.integers(-3, 4, customer.size)
    recent, previous = rng.random(customer.size) < 0.4, rng.random(customer.size) < 0.4
    rows = rng.random(customer.size) < 0.8 if masked else None
    whole = lifecycle.window_spend(customer, amount, recent, previous, rows=rows)
    with mock.patch.object(lifecycle, "SPEND_PART_ROWS", part_rows):
        parts = lifecycle.window_spend(customer, amount, recent, previous, rows=rows)
    pd.testing.assert_frame_equal(parts, whole, check_exact=True)
    kept = customer if rows is None else customer[rows]
    ranges = lifecycle._customer_ranges(kept, part_rows)
    assert [a for a, _ in ranges[1:]] == [b for _, b in ranges[:-1]] and ranges[-1][1] == len(kept)
    assert all(a == 0 or kept[a] != kept[a - 1] for a, _ in ranges)  # never inside a customer
    shuffled = rng.permutation(customer)
    assert len(lifecycle._customer_ranges(shuffled, part_rows)) == 1 or np.all(np.diff(shuffled) >= 0)


@settings(max_examples=60, deadline=None)
@given(
    ticks=st.lists(st.one_of(st.none(), st.integers(-20_000, 40_000).map(lambda d: d * 86_400),
                             st.integers(-2 * 10**9, 2 * 10**9)), min_size=1, max_size=40),
    unit=st.sampled_from(["s", "ms", "us", "ns"]),
    tz=st.sampled_from([None, "Asia/Shanghai"]),
)
def test_dates_as_days_are_what_normalize_gives(ticks, unit, tz):
    """Whole days (as the cleaned transactions hold) are taken as they are; any time of day, a date
    before 1970, a missing date or a time zone goes through pandas' normalize."""
    scale = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    nat = np.iinfo(np.int64).min  # how numpy holds a missing date
    values = pd.Series(np.array([nat if t is None else t * scale for t in ticks], dtype="i8").view(f"M8[{unit}]"))
    if tz is not None:
        values = values.dt.tz_localize("UTC").dt.tz_convert(tz)
    pd.testing.assert_series_equal(day_dates(values), pd.to_datetime(values).dt.normalize())
