from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from analysis.methods.churn import CodedTransactions
from analysis.methods.loyalty import (
    DEFAULT_LOYALTY_WEIGHTS,
    LoyaltyInputError,
    cohort_retention,
    loyalty_by_tier,
    loyalty_components,
    loyalty_index,
    purchase_day_retention,
    repurchase_rate_by_tier,
)
from analysis.report.localize import localize
from tests.examples import examples


def tx(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    df["order_date"] = pd.to_datetime(df["order_date"])
    df["is_return"] = df["amount"] < 0
    return df


# --- cohort retention ------------------------------------------------------------------------

HAND = tx(
    [
        ("A", "2024-01-15", 10.0),
        ("A", "2024-04-10", 10.0),
        ("A", "2024-04-20", 5.0),  # Q1 cohort, back in Q2
        ("B", "2024-02-01", 10.0),
        ("B", "2024-08-01", 10.0),  # Q1 cohort, back in Q3
        ("C", "2024-05-05", 10.0),
        ("C", "2024-07-01", -10.0),  # Q2 cohort; a return is no purchase
        ("D", "2024-06-30", 0.0),
        ("D", "2024-07-02", 10.0),  # zero-amount row is no purchase: Q3 cohort
    ]
)


def test_cohort_retention_quarterly_hand_case():
    result = cohort_retention(HAND, period="Q", as_of="2024-09-30")
    m = result.matrix
    assert list(m.index) == ["2024Q1", "2024Q2", "2024Q3"]
    assert list(m.columns) == [0, 1, 2]
    np.testing.assert_allclose(m.loc["2024Q1"].to_numpy(), [1.0, 0.5, 0.5])
    np.testing.assert_allclose(
        m.loc["2024Q2"].to_numpy(), [1.0, 0.0, np.nan]
    )  # k=2 not observed yet
    np.testing.assert_allclose(m.loc["2024Q3"].to_numpy(), [1.0, np.nan, np.nan])
    long = result.long.set_index(["cohort", "period_index"])
    assert long.loc[("2024Q1", 1), "cohort_size"] == 2
    assert long.loc[("2024Q1", 1), "customers_active"] == 1
    assert len(result.long) == 3 + 2 + 1  # observed cells only


def test_cohort_retention_monthly_and_default_end():
    m = cohort_retention(HAND, period="M").matrix  # ends with the last purchase, 2024-08
    assert list(m.index) == ["2024-01", "2024-02", "2024-05", "2024-07"]
    assert m.loc["2024-01", 3] == 1.0 and m.loc["2024-01", 1] == 0.0
    assert m.loc["2024-02", 6] == 1.0 and np.isnan(m.loc["2024-05", 4])
    assert m.shape[1] == 8  # January cohort observed for k = 0..7


def test_cohort_retention_ignores_row_order_and_rejects_bad_period():
    a = cohort_retention(HAND, period="Q").matrix
    b = cohort_retention(HAND.sample(frac=1, random_state=2), period="Q").matrix
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(LoyaltyInputError, match="period"):
        cohort_retention(HAND, period="W")


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["A", "B", "c10", "c2", "é", None]), st.integers(0, 800),
                               st.sampled_from([-5.0, 0.0, 10.0])), min_size=1, max_size=60),
       period=st.sampled_from(["Q", "M"]))
def test_cohort_counts_are_those_of_a_groupby_on_the_ids(rows, period):
    """Each customer's distinct purchase periods, counted on integer codes, give the counts a groupby
    on the text ids gives (rows without an id left out)."""
    frame = pd.DataFrame({"customer_id": pd.array([r[0] for r in rows], dtype="string"),
                          "order_date": pd.Timestamp("2023-01-01") + pd.to_timedelta([r[1] for r in rows], unit="D"),
                          "amount": [r[2] for r in rows]})
    frame["is_return"] = frame["amount"] < 0
    bought = frame[frame["amount"] > 0].dropna(subset=["customer_id"])
    if bought.empty:
        return
    dates = bought["order_date"]
    ordinal = dates.dt.year * 12 + dates.dt.month - 1 if period == "M" else dates.dt.year * 4 + (dates.dt.month - 1) // 3
    activity = pd.DataFrame({"customer_id": bought["customer_id"], "ordinal": ordinal}).drop_duplicates()
    activity["cohort"] = activity.groupby("customer_id")["ordinal"].transform("min")
    expected = activity.groupby(["cohort", activity["ordinal"] - activity["cohort"]]).size()
    long = cohort_retention(frame, period=period).long
    active = long[long["customers_active"] > 0]
    assert active["customers_active"].tolist() == expected.tolist()
    sizes = activity.drop_duplicates("customer_id")["cohort"].value_counts().sort_index()
    assert long.drop_duplicates("cohort")["cohort_size"].tolist() == sizes.tolist()
    # the same table from the transactions coded (as stage 4 holds them), up to a day after the last
    end = pd.Timestamp("2025-06-30")
    coded = CodedTransactions.up_to(frame, end)
    pd.testing.assert_frame_equal(purchase_day_retention(*coded.purchases(), period=period, as_of=end).long,
                                  cohort_retention(frame, period=period, as_of=end).long, check_exact=True)


# --- repurchase rate ------------------------------------------------------------------------


def test_repurchase_rate_by_tier_with_overall_row():
    c = pd.DataFrame(
        {
            "customer_id": list("abcdef"),
            "frequency": [0, 2, 1, 0, 0, 3],
            "tier": [1, 1, 1, 2, 2, 2],
            "tier_name": ["高价值", "高价值", "高价值", "低价值", "低价值", "低价值"],
        }
    )
    table = repurchase_rate_by_tier(c)
    assert table["tier_name"].tolist()[:2] == ["高价值", "低价值"] and pd.isna(table["tier_name"].iloc[-1])
    shown = localize(table, "zh", {1: "高价值", 2: "低价值"})
    assert shown["tier_name"].tolist() == ["高价值", "低价值", "全部客户"]
    assert table["repurchase_rate"].tolist() == pytest.approx([2 / 3, 1 / 3, 0.5])
    assert table["customers"].tolist() == [3, 3, 6]
    assert table["tier"].isna().tolist() == [False, False, True]


# --- loyalty index --------------------------------------------------------------------------


def customers_frame(n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "frequency": rng.integers(0, 20, n),
            "tenure_days": rng.integers(1, 2000, n),
            "p_alive": rng.uniform(0, 1, n),
            "recommend_score": rng.integers(0, 11, n).astype(float),
            "tier": rng.integers(1, 5, n),
        }
    )


finite = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@settings(max_examples=examples(60), deadline=None)
@given(
    data_frames(
        [
            column("frequency", elements=st.integers(0, 50)),
            column("tenure_days", elements=finite),
            column("p_alive", elements=st.floats(0, 1) | st.just(float("nan"))),
            column(
                "recommend_score", elements=st.integers(0, 10).map(float) | st.just(float("nan"))
            ),
        ],
        index=range_indexes(min_size=1, max_size=30),
    ),
    st.fixed_dictionaries({k: st.floats(0.01, 5) for k in DEFAULT_LOYALTY_WEIGHTS}),
)
def test_index_is_within_0_100_for_any_customers_and_weights(customers, weights):
    index = loyalty_index(customers, weights=weights)
    assert index.index.equals(customers.index)
    assert (
        (index >= 0) & (index <= 100)
    ).all()  # never NaN: frequency and tenure are always present


def test_best_and_worst_customers_score_100_and_0():
    c = customers_frame()
    c.loc[0, ["frequency", "tenure_days", "p_alive", "recommend_score"]] = [100, 5000, 1.0, 10.0]
    c.loc[1, ["frequency", "tenure_days", "p_alive", "recommend_score"]] = [-1, 0, 0.0, 0.0]
    index = loyalty_index(c)
    assert index[0] == pytest.approx(100) and index[1] == pytest.approx(0)


@pytest.mark.parametrize(
    ("column_name", "step"),
    [("frequency", 3), ("tenure_days", 400), ("p_alive", 0.3), ("recommend_score", 3)],
)
def test_index_is_monotone_in_each_component(column_name, step):
    c = customers_frame(seed=1)
    c["recommend_score"] = c["recommend_score"].clip(upper=7)
    base = loyalty_index(c)
    raised = c.copy()
    raised[column_name] = raised[column_name] + step
    raised.loc[raised.index[::2], column_name] = c.loc[
        c.index[::2], column_name
    ]  # raise only odd rows
    after = loyalty_index(raised)
    # a customer who improved never loses ground relative to one who did not
    odd, even = c.index[1::2], c.index[::2]
    for i in odd[:10]:
        for j in even[:10]:
            if base[i] >= base[j]:
                assert after[i] >= after[j] - 1e-9
    # raising one customer's value alone never lowers their index
    one = c.copy()
    one.loc[3, column_name] = one.loc[3, column_name] + step
    assert loyalty_index(one)[3] >= base[3] - 1e-9


def test_missing_recommend_renormalises_the_weights():
    c = customers_frame(seed=2)
    c.loc[[4, 7], "recommend_score"] = np.nan
    weights = {"frequency": 0.4, "tenure": 0.1, "p_alive": 0.2, "recommend": 0.3}
    index = loyalty_index(c, weights=weights)
    s = loyalty_components(c)
    for i in (4, 7):
        expected = (
            100
            * (0.4 * s.loc[i, "frequency"] + 0.1 * s.loc[i, "tenure"] + 0.2 * s.loc[i, "p_alive"])
            / 0.7
        )
        assert index[i] == pytest.approx(expected)
    full = 100 * (
        0.4 * s.loc[0, "frequency"]
        + 0.1 * s.loc[0, "tenure"]
        + 0.2 * s.loc[0, "p_alive"]
        + 0.3 * c.loc[0, "recommend_score"] / 10
    )
    assert index[0] == pytest.approx(full)
    # no survey column at all: behaviour only, same renormalisation for everybody
    behaviour = loyalty_index(c.drop(columns=["recommend_score"]), weights=weights)
    assert behaviour[4] == pytest.approx(index[4])


def test_components_are_ranks_and_recommend_is_scaled():
    c = pd.DataFrame(
        {
            "frequency": [0, 5, 5, 10],
            "tenure_days": [3, 3, 3, 3],
            "p_alive": [0.1, 0.2, 0.3, 0.4],
            "recommend_score": [0, 5, 10, np.nan],
        }
    )
    s = loyalty_components(c)
    assert s["frequency"].tolist() == pytest.approx([0, 0.5, 0.5, 1])
    assert s["tenure"].tolist() == pytest.approx([0.5] * 4)
    assert s["recommend"].iloc[:3].tolist() == pytest.approx([0, 0.5, 1])


def test_index_ignores_row_order():
    c = customers_frame(seed=3)
    a = loyalty_index(c).set_axis(c["customer_id"]).sort_index()
    shuffled = c.sample(frac=1, random_state=0)
    b = loyalty_index(shuffled).set_axis(shuffled["customer_id"]).sort_index()
    pd.testing.assert_series_equal(a, b)


@pytest.mark.parametrize("weights", [{"loyalty": 1.0}, {"frequency": -1.0}, {"frequency": 0.0}])
def test_bad_weights_are_rejected(weights):
    with pytest.raises(LoyaltyInputError, match="weights"):
        loyalty_index(customers_frame(), weights=weights)


def test_recommend_outside_scale_is_rejected_with_the_row():
    c = customers_frame()
    c.loc[5, "recommend_score"] = 11
    with pytest.raises(LoyaltyInputError, match=r"recommend_score.*\[5\]"):
        loyalty_index(c)


def test_loyalty_by_tier_summarises_the_index():
    c = customers_frame(n=40, seed=4)
    c["loyalty_index"] = loyalty_index(c)
    table = loyalty_by_tier(c)
    tiers = sorted(c["tier"].unique())
    assert table["tier"].iloc[:-1].tolist() == tiers and pd.isna(table["tier_name"].iloc[-1])
    assert localize(table, "en")["tier_name"].iloc[-1] == "All customers"
    for _, row in table.iloc[:-1].iterrows():
        values = c.loc[c["tier"] == row["tier"], "loyalty_index"]
        assert row["mean"] == pytest.approx(values.mean()) and row["median"] == pytest.approx(
            values.median()
        )
    assert table["customers"].iloc[-1] == 40
