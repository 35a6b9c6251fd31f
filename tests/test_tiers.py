"""Tier methods: every method × tier count, threshold rules, Pareto minimality, k-means order, weights;
tier names, and each rule in words as the report shows it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.i18n import LANGUAGES
from analysis.methods.profiles import tier_profile
from analysis.methods.tiers import (
    METHODS,
    TieringError,
    _canonical,
    _tiers_at_ranks,
    agreement_table,
    assign_tiers,
    method_options,
    sensitivity,
    tier_names,
)
from analysis.report.tier_rules import format_number, rule_text

BANK_RULES = [
    {"column": "balance", "min": 2e8},
    {"column": "balance", "min": 5e7, "max": 2e8},
    {"column": "balance", "max": 5e7},
]


def make_customers(n: int = 400, seed: int = 7) -> pd.DataFrame:
    """A synthetic customers table: value, activity and master columns with realistic skew and links."""
    rng = np.random.default_rng(seed)
    activity = rng.gamma(2.0, 1.0, n)
    frequency = rng.poisson(activity * 2)
    monetary = rng.lognormal(5.5, 0.6, n)
    revenue = monetary * (frequency + 1)
    days_since_last = np.round(rng.exponential(200 / (1 + activity), n)).astype(int)
    p_alive = np.clip(1 - days_since_last / 700 + rng.normal(0, 0.05, n), 0.01, 1)
    clv = revenue * p_alive * rng.uniform(0.3, 1.2, n)
    tenure = rng.integers(30, 1500, n)

    def quintile(x: np.ndarray) -> pd.Series:
        return pd.Series(x).rank(method="first", pct=True).mul(5).apply(np.ceil).astype(int)

    r, f, m = quintile(-days_since_last), quintile(frequency), quintile(monetary)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in rng.permutation(n)],
            "frequency": frequency,
            "recency": tenure - days_since_last,
            "T": tenure,
            "monetary_value": monetary,
            "revenue": revenue,
            "orders": frequency + 1,
            "tenure_days": tenure,
            "margin": revenue * 0.3,
            "days_since_last": days_since_last,
            "r_score": r,
            "f_score": f,
            "m_score": m,
            "rfm_score": r + f + m,
            "p_alive": p_alive,
            "expected_purchases": activity,
            "clv": clv,
            "historic_value": revenue,
            "balance": rng.lognormal(17.5, 1.5, n),
            "industry": rng.choice(["制造", "零售", "金融"], n),
        }
    )


CUSTOMERS = make_customers()


def threshold_rules(customers: pd.DataFrame, n_tiers: int) -> list[dict]:
    cuts = np.quantile(customers["balance"], np.linspace(1, 0, n_tiers + 1)[1:-1])
    bounds = [None, *cuts, None]
    return [{"column": "balance", "min": bounds[t + 1], "max": bounds[t]} for t in range(n_tiers)]


def options_for(method: str, n_tiers: int) -> dict:
    return {"rules": threshold_rules(CUSTOMERS, n_tiers)} if method == "threshold" else {}


def worded(assignment, language: str, names: dict | None = None) -> str:
    """The rule as the report shows it, with the tier names stage 3 stores beside it."""
    n_tiers = assignment.rule["n_tiers"]
    all_names = {lang: tier_names(n_tiers, lang, names) for lang in LANGUAGES}
    return rule_text({**assignment.rule, "names": all_names}, language)


def by_customer(assignment, customers: pd.DataFrame) -> pd.Series:
    return pd.Series(
        assignment.tier.to_numpy(), index=customers["customer_id"].to_numpy()
    ).sort_index()


@pytest.mark.parametrize("n_tiers", [3, 4, 5])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_and_tier_count(method: str, n_tiers: int) -> None:
    options = options_for(method, n_tiers)
    result = assign_tiers(CUSTOMERS, method, n_tiers=n_tiers, options=options, seed=3)

    assert result.tier.index.equals(CUSTOMERS.index)
    counts = result.tier.value_counts()
    assert sorted(counts.index) == list(range(1, n_tiers + 1))  # every tier non-empty
    assert result.rule["sizes"] == [int(counts[t]) for t in range(1, n_tiers + 1)]

    # tier 1 is best: mean of the ordering value decreases strictly from tier to tier
    means = result.score.groupby(result.tier).mean().sort_index()
    assert means.is_monotonic_decreasing and means.is_unique

    names = tier_names(n_tiers, "zh")
    profile = tier_profile(CUSTOMERS.assign(tier=result.tier, tier_name=result.tier.map(dict(enumerate(names, 1)))))
    for share in ("customer_share", "revenue_share", "margin_share", "clv_share"):
        assert profile[share].sum() == pytest.approx(1.0)
    assert list(profile.index) == list(range(1, n_tiers + 1))
    assert list(profile["tier_name"]) == names
    assert result.rule["method"] == method and not {"zh", "en", "language", "names"} & set(result.rule)
    for language in LANGUAGES:
        assert all(name in worded(result, language) for name in tier_names(n_tiers, language))

    again = assign_tiers(CUSTOMERS, method, n_tiers=n_tiers, options=options, seed=3)
    pd.testing.assert_series_equal(result.tier, again.tier)
    assert result.rule == again.rule

    shuffled = CUSTOMERS.sample(frac=1.0, random_state=11).reset_index(drop=True)
    moved = assign_tiers(shuffled, method, n_tiers=n_tiers, options=options, seed=3)
    pd.testing.assert_series_equal(by_customer(result, CUSTOMERS), by_customer(moved, shuffled))


# --- threshold ------------------------------------------------------------------------------


def bank_customers(balances: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"customer_id": [f"B{i}" for i in range(len(balances))], "balance": balances}
    )


def test_threshold_bank_example_with_boundaries() -> None:
    balances = [3e8, 2e8, 199_999_999.99, 1e8, 5e7, 49_999_999.99, 0.0]
    result = assign_tiers(
        bank_customers(balances), "threshold", n_tiers=3, options={"rules": BANK_RULES}
    )
    assert result.tier.tolist() == [1, 1, 2, 2, 2, 3, 3]
    assert tier_names(3, "zh") == ["高价值", "中价值", "低价值"]
    assert "余额 ≥ 2亿" in worded(result, "zh") and "5000万 ≤ 余额 < 2亿" in worded(result, "zh")
    assert "balance ≥ 200,000,000" in worded(result, "en")
    assert result.rule["rules"][0] == {"column": "balance", "min": 2e8, "max": None}


@pytest.mark.parametrize(
    "rules, word",
    [
        (
            [
                {"column": "balance", "min": 2e8},
                {"column": "balance", "min": 5e7, "max": 1.5e8},
                {"column": "balance", "max": 5e7},
            ],
            "gap",
        ),
        (
            [
                {"column": "balance", "min": 2e8},
                {"column": "balance", "min": 5e7, "max": 2.5e8},
                {"column": "balance", "max": 5e7},
            ],
            "overlap",
        ),
    ],
)
def test_threshold_gap_or_overlap_is_reported(rules: list[dict], word: str) -> None:
    with pytest.raises(TieringError, match=word) as info:
        assign_tiers(
            bank_customers([3e8, 1e8, 1e7]), "threshold", n_tiers=3, options={"rules": rules}
        )
    assert "balance" in str(info.value) and "tier 2" in str(info.value)


def test_threshold_unmatched_and_double_matches_list_counts_and_examples() -> None:
    below_range = [
        {"column": "balance", "min": 2e8},
        {"column": "balance", "min": 5e7, "max": 2e8},
        {"column": "balance", "min": 0, "max": 5e7},
    ]
    with pytest.raises(TieringError, match=r"2 customer\(s\) match no rule") as info:
        assign_tiers(
            bank_customers([3e8, 1e8, 1e7, -5.0, -1.0]),
            "threshold",
            n_tiers=3,
            options={"rules": below_range},
        )
    assert "B3" in str(info.value)

    frame = bank_customers([3e8, 1e8, 1e7]).assign(vip=[0, 1, 0])
    two_columns = [
        {"column": "balance", "min": 2e8},
        {"column": "vip", "min": 1},
        {"column": "balance", "max": 2e8},
    ]
    with pytest.raises(TieringError, match=r"1 customer\(s\) match more than one rule.*B1"):
        assign_tiers(frame, "threshold", n_tiers=3, options={"rules": two_columns})


def test_threshold_missing_values_need_a_tier() -> None:
    frame = bank_customers([3e8, 1e8, np.nan, 1e7])
    with pytest.raises(TieringError, match="missing_tier"):
        assign_tiers(frame, "threshold", n_tiers=3, options={"rules": BANK_RULES})
    result = assign_tiers(
        frame, "threshold", n_tiers=3, options={"rules": BANK_RULES, "missing_tier": 3}
    )
    assert result.tier.tolist() == [1, 2, 3, 3]


def test_threshold_empty_tier_is_an_error_unless_allowed() -> None:
    frame = bank_customers([1e8, 1e7, 2e7])
    with pytest.raises(TieringError, match=r"method 'threshold' leaves tier\(s\) \[1\] empty"):
        assign_tiers(frame, "threshold", n_tiers=3, options={"rules": BANK_RULES})
    result = assign_tiers(
        frame, "threshold", n_tiers=3, options={"rules": BANK_RULES, "allow_empty": True}
    )
    assert result.rule["sizes"] == [0, 1, 2]


def test_threshold_needs_one_rule_per_tier() -> None:
    with pytest.raises(TieringError, match="list of 4 rules"):
        assign_tiers(
            bank_customers([1.0, 2.0]), "threshold", n_tiers=4, options={"rules": BANK_RULES}
        )


# --- pareto, clv, rfm -----------------------------------------------------------------------


@pytest.mark.parametrize("share", [0.5, 0.8, 0.9])
def test_pareto_top_tier_reaches_share_and_is_minimal(share: float) -> None:
    result = assign_tiers(CUSTOMERS, "pareto", n_tiers=2, options={"value_shares": [share]})
    clv = CUSTOMERS["clv"]
    top = clv[result.tier == 1]
    assert top.sum() >= share * clv.sum()
    assert top.sum() - top.min() < share * clv.sum()  # one customer fewer would fall short
    assert top.min() >= clv[result.tier == 2].max()


def test_pareto_hand_made_case() -> None:
    frame = pd.DataFrame({"customer_id": list("abcdef"), "clv": [50.0, 30.0, 10.0, 5.0, 3.0, 2.0]})
    result = assign_tiers(frame, "pareto", n_tiers=3, options={"value_shares": [0.8, 0.95]})
    assert result.tier.tolist() == [1, 1, 2, 2, 3, 3]  # 80 % at b, 95 % at d
    assert result.rule["reached_value_shares"] == pytest.approx([0.8, 0.95])


def test_clv_ranks_break_ties_by_customer_id() -> None:
    frame = pd.DataFrame({"customer_id": ["d", "b", "a", "c"], "clv": [5.0, 5.0, 5.0, 1.0]})
    result = assign_tiers(frame, "clv", n_tiers=2, options={"shares": [0.25, 0.75]})
    assert result.tier.tolist() == [2, 2, 1, 2]  # among equal values, 'a' ranks first


def test_clv_absolute_cutoffs() -> None:
    frame = pd.DataFrame({"customer_id": list("abcde"), "clv": [0.0, 999.99, 1000.0, 5000.0, 1e6]})
    result = assign_tiers(frame, "clv", n_tiers=3, options={"cutoffs": [1000, 5000]})
    assert result.tier.tolist() == [3, 3, 2, 1, 1]
    assert result.rule["cutoffs"] == [5000.0, 1000.0] and result.rule["cutoff_source"] == "params"
    assert worded(result, "en") == (
        "Bands of predicted CLV: High value: predicted CLV ≥ 5,000; Mid value: 1,000 ≤ predicted CLV < 5,000; "
        "Low value: predicted CLV < 1,000. Cut-offs set in the params."
    )
    with pytest.raises(TieringError, match=r"leaves tier\(s\) \[1\] empty.*2000000"):
        assign_tiers(frame, "clv", n_tiers=3, options={"cutoffs": [2e6, 1000]})


def test_rfm_bands_keep_equal_scores_together_and_follow_cutoffs() -> None:
    result = assign_tiers(CUSTOMERS, "rfm", n_tiers=4)
    assert (
        CUSTOMERS.groupby(result.tier)["rfm_score"].agg(["min", "max"]).diff()["max"].dropna() < 0
    ).all()
    assert CUSTOMERS.assign(t=result.tier).groupby("rfm_score")["t"].nunique().max() == 1
    frame = pd.DataFrame({"customer_id": list("abcdefg"), "rfm_score": [15, 13, 12, 10, 9, 7, 3]})
    fixed = assign_tiers(frame, "rfm", n_tiers=4, options={"cutoffs": [7, 13, 10]})
    assert fixed.tier.tolist() == [1, 1, 2, 2, 3, 3, 4]


def test_too_few_distinct_values_is_a_clear_error() -> None:
    frame = pd.DataFrame({"customer_id": list("abcd"), "rfm_score": [9, 9, 9, 12]})
    with pytest.raises(TieringError, match=r"method 'rfm': only 2 distinct value"):
        assign_tiers(frame, "rfm", n_tiers=3)
    with pytest.raises(TieringError, match=r"method 'clv': 2 customer\(s\) cannot fill 3 tiers"):
        assign_tiers(pd.DataFrame({"customer_id": ["a", "b"], "clv": [1.0, 2.0]}), "clv", n_tiers=3)


# --- kmeans, composite ----------------------------------------------------------------------


def separated_groups() -> tuple[pd.DataFrame, np.ndarray]:
    """Three well-separated groups of 40 customers (level 0 = best) for k-means."""
    rng = np.random.default_rng(5)
    level = np.repeat([0, 1, 2], 40)
    frame = pd.DataFrame(
        {
            "customer_id": [f"K{i:03d}" for i in range(120)],
            "frequency": np.array([30, 8, 1])[level] + rng.integers(0, 2, 120),
            "revenue": np.array([1e5, 1e4, 1e3])[level] * rng.uniform(0.9, 1.1, 120),
            "days_since_last": np.array([5, 60, 400])[level] + rng.integers(0, 5, 120),
            "clv": np.array([5e4, 5e3, 1e2])[level] * rng.uniform(0.9, 1.1, 120),
        }
    )
    return frame, level


def test_kmeans_finds_separated_groups_and_orders_them_by_value() -> None:
    frame, level = separated_groups()
    result = assign_tiers(frame, "kmeans", n_tiers=3, seed=1)
    assert (result.tier.to_numpy() == level + 1).all()
    means = [result.rule["cluster_means"][str(t)]["clv_mean"] for t in (1, 2, 3)]
    assert means == sorted(means, reverse=True)


def test_kmeans_counts_distinct_profiles_beyond_the_first_rows() -> None:
    """Fewer distinct profiles than tiers is refused with their count; profiles that first appear
    after the first 10,000 customers count too."""
    frame, _ = separated_groups()
    alike = frame.iloc[[0] * 10_000 + [40] * 100 + [80] * 100].reset_index(drop=True)
    alike["customer_id"] = [f"A{i:05d}" for i in range(len(alike))]
    assert sorted(assign_tiers(alike, "kmeans", n_tiers=3, seed=1).tier.value_counts()) == [100, 100, 10_000]
    with pytest.raises(TieringError, match="only 3 distinct customer profile"):
        assign_tiers(alike, "kmeans", n_tiers=4, seed=1)


def test_kmeans_seed_is_recorded_and_missing_features_named() -> None:
    assert assign_tiers(CUSTOMERS, "kmeans", n_tiers=3, seed=42).rule["random_state"] == 42
    with pytest.raises(TieringError, match="'revenue'"):
        assign_tiers(CUSTOMERS.drop(columns="revenue"), "kmeans", n_tiers=3)


@pytest.mark.parametrize(
    "weights, message",
    [
        ({"contribution": 0.5, "potential": 0.3, "loyalty": 0.3}, "sum to 1"),
        ({"contribution": 1.2, "potential": -0.2, "loyalty": 0.0}, "non-negative"),
        ({"contribution": 0.5, "potentail": 0.5}, "unknown component"),
    ],
)
def test_composite_weights_are_validated(weights: dict, message: str) -> None:
    with pytest.raises(TieringError, match=message):
        assign_tiers(CUSTOMERS, "composite", n_tiers=3, options={"weights": weights})


def test_composite_with_all_weight_on_contribution_ranks_by_historic_value() -> None:
    composite = assign_tiers(
        CUSTOMERS, "composite", n_tiers=4, options={"weights": {"contribution": 1.0}}
    )
    by_value = assign_tiers(CUSTOMERS, "clv", n_tiers=4, options={"column": "historic_value"})
    pd.testing.assert_series_equal(composite.tier, by_value.tier)
    uplift = assign_tiers(CUSTOMERS, "composite", n_tiers=4, options={"potential": "uplift"})
    assert uplift.rule["potential"] == "uplift" and "uplift" not in worded(uplift, "en").lower()
    assert "predicted CLV above historic value (floored at 0)" in worded(uplift, "en")


# --- names, options, inputs -----------------------------------------------------------------


def test_tier_names_defaults_and_overrides() -> None:
    assert tier_names(3, "zh") == ["高价值", "中价值", "低价值"]
    assert tier_names(3, "en") == ["High value", "Mid value", "Low value"]
    assert tier_names(4, "zh") == ["高价值客户", "潜力客户", "一般客户", "低价值客户"]
    assert tier_names(4, "en") == ["High-value", "Potential", "Ordinary", "Low-value"]
    assert tier_names(5, "zh") == ["A类", "B类", "C类", "D类", "E类"]
    assert tier_names(5, "en") == ["Class A", "Class B", "Class C", "Class D", "Class E"]
    assert tier_names(2, "zh") == ["第1层", "第2层"] and tier_names(6, "en")[-1] == "Tier 6"
    custom = {"zh": ["钻石", "金", "银"], "en": ["Diamond", "Gold", "Silver"]}
    assert tier_names(3, "en", custom) == ["Diamond", "Gold", "Silver"]
    result = assign_tiers(CUSTOMERS, "clv", n_tiers=3)
    assert "钻石" in worded(result, "zh", custom) and "Diamond" in worded(result, "en", custom)
    zh_only = {"zh": ["甲", "乙", "丙"]}
    assert tier_names(3, "zh", zh_only) == ["甲", "乙", "丙"] and tier_names(3, "en", zh_only) == tier_names(3, "en")
    with pytest.raises(TieringError, match=r"give exactly 3 names \(tiering.names.zh"):
        tier_names(3, "zh", {"zh": ["甲", "乙"]})
    with pytest.raises(TieringError, match="repeat a name"):
        tier_names(3, "en", {"en": ["A", "A", "B"]})


def test_nested_options_and_unknown_keys() -> None:
    options = {
        "column": "historic_value",  # shared by every method that takes it
        "clv": {"shares": [0.2, 0.3, 0.5]},
        "pareto": {"value_shares": [0.7, 0.9]},
    }
    assert method_options(options, "pareto") == {
        "column": "historic_value",
        "value_shares": [0.7, 0.9],
    }
    pareto = assign_tiers(CUSTOMERS, "pareto", n_tiers=3, options=options)
    assert pareto.rule["value_shares"] == [0.7, 0.9] and pareto.rule["column"] == "historic_value"
    with pytest.raises(TieringError, match="did you mean 'shares'"):
        assign_tiers(CUSTOMERS, "clv", n_tiers=3, options={"shars": [0.2, 0.3, 0.5]})
    assert "column" not in method_options(options, "kmeans")  # shared keys go where they apply
    with pytest.raises(
        TieringError, match="unknown key 'value_share'.*did you mean 'value_shares'"
    ):
        assign_tiers(CUSTOMERS, "clv", n_tiers=3, options={"value_share": [0.8]})
    with pytest.raises(
        TieringError, match="options.pareto: unknown key 'shares' for method 'pareto'"
    ):
        assign_tiers(CUSTOMERS, "clv", n_tiers=3, options={"pareto": {"shares": [0.8]}})
    with pytest.raises(TieringError, match="did you mean 'kmeans'"):
        assign_tiers(CUSTOMERS, "kmean", n_tiers=3)


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.text(alphabet="0aZ_-é客户户\U0001f600 ", min_size=1, max_size=6), min_size=1, max_size=40))
def test_customers_are_ordered_by_the_code_points_of_their_ids(ids):
    frame = pd.DataFrame({"customer_id": pd.array(ids, dtype="string"), "row": range(len(ids))})
    if len(set(ids)) < len(ids):
        with pytest.raises(TieringError, match="customer_id repeats"):
            _canonical(frame)
        return
    ordered, positions = _canonical(frame)
    assert ordered["customer_id"].tolist() == sorted(ids)  # Python compares text by code points
    np.testing.assert_array_equal(ordered["row"], positions)
    np.testing.assert_array_equal(positions, np.argsort(np.array(ids, dtype=str), kind="stable"))


def test_input_problems_are_named() -> None:
    with pytest.raises(TieringError, match="customer_id repeats"):
        assign_tiers(pd.concat([CUSTOMERS.head(3), CUSTOMERS.head(1)]), "clv", n_tiers=2)
    with pytest.raises(TieringError, match=r"'clv' is missing for 1 customer"):
        assign_tiers(
            CUSTOMERS.assign(clv=CUSTOMERS["clv"].where(CUSTOMERS.index != 5)), "clv", n_tiers=3
        )
    with pytest.raises(TieringError, match="shares"):
        assign_tiers(CUSTOMERS, "clv", n_tiers=3, options={"shares": [0.5, 0.3, 0.3]})


def test_format_number() -> None:
    assert format_number(2e8, "zh") == "2亿" and format_number(5e7, "zh") == "5000万"
    assert format_number(1234567, "en") == "1,234,567" and format_number(12.5, "zh") == "12.5"


# --- each rule in words (the report's and notebook 03's sentence) ----------------------------


RULE_CASES = {
    "threshold with missing values": (
        lambda: assign_tiers(
            bank_customers([3e8, 1e8, np.nan, 1e7]), "threshold", n_tiers=3,
            options={"rules": BANK_RULES, "missing_tier": 3},
        ),
        None,
        "按参数文件设定的业务规则分层（下限含、上限不含）：高价值：余额 ≥ 2亿；中价值：5000万 ≤ 余额 < 2亿；低价值：余额 < 5000万。"
        "缺失值归入低价值。",
        "Business rules set in the params (min inclusive, max exclusive): High value: balance ≥ 200,000,000; "
        "Mid value: 50,000,000 ≤ balance < 200,000,000; Low value: balance < 50,000,000. Missing values go to Low value.",
    ),
    "pareto with a negative value": (
        lambda: assign_tiers(
            pd.DataFrame({"customer_id": list("abcdef"), "clv": [50.0, 30.0, 10.0, 5.0, 3.0, -2.0]}),
            "pareto", n_tiers=3, options={"value_shares": [0.8, 0.95]},
        ),
        None,
        "帕累托（ABC）分析：客户按预测CLV从高到低排序（同值按客户编号），累计占比达到80%的最少客户为高价值（累计 33.3% 的客户，"
        "实际占81.6%）；累计占比达到95%的其后客户为中价值（累计 66.7% 的客户，实际占96.9%）；其余为低价值。1个负值按0计。",
        "Pareto (ABC) analysis: customers sorted by predicted CLV, highest first (ties by customer id); the fewest "
        "customers bringing the cumulative share to 80% → High value (33.3% of customers cumulatively, 81.6% of the "
        "total); the next customers bringing the cumulative share to 95% → Mid value (66.7% of customers "
        "cumulatively, 96.9% of the total); the rest → Low value. 1 negative value(s) count as 0.",
    ),
    "kmeans": (
        lambda: assign_tiers(separated_groups()[0], "kmeans", n_tiers=3, seed=1),
        None,
        "K均值聚类（scikit-learn KMeans，k=3，n_init=10，random_state=1），特征为 复购次数、收入、距上次购买天数（取负）、预测CLV "
        "的 log(1+x) 标准化值；各簇按预测CLV均值从高到低命名：高价值：均值 4.99万；中价值：均值 4,966；低价值：均值 100.47。",
        "K-means clustering (scikit-learn KMeans, k=3, n_init=10, random_state=1) on standardised log(1+x) of repeat "
        "purchases, revenue, days since last purchase (sign flipped), predicted CLV; clusters named by mean predicted "
        "CLV, highest first: High value: mean 49,862; Mid value: mean 4,966; Low value: mean 100.47.",
    ),
    "composite": (
        lambda: assign_tiers(
            CUSTOMERS, "composite", n_tiers=3,
            options={"potential": "uplift", "weights": {"contribution": 0.5, "potential": 0.3, "loyalty": 0.2}},
        ),
        None,
        "综合价值评分：价值得分 = 0.5×贡献（历史价值）百分位 + 0.3×潜力（预测CLV高出历史价值的部分（不低于0））百分位 + "
        "0.2×忠诚（存活概率×在网时长百分位）百分位。按得分从高到低排序（同值按客户编号），按客户占比分层：前20%为高价值（得分 ≥ 0.649）；"
        "其后30%为中价值（得分 ≥ 0.501）；其余为低价值。",
        "Composite value score: value score = 0.5 × percentile of contribution (historic value) + 0.3 × percentile of "
        "potential (predicted CLV above historic value (floored at 0)) + 0.2 × percentile of loyalty (P(alive) × "
        "tenure percentile). Customers ranked by score, highest first (ties by customer id), cut by customer shares: "
        "top 20% → High value (score ≥ 0.649); next 30% → Mid value (score ≥ 0.501); the rest → Low value.",
    ),
    "rfm quantiles with the analyst's names": (
        lambda: assign_tiers(
            pd.DataFrame({"customer_id": list("abcdefg"), "rfm_score": [15, 13, 12, 10, 9, 7, 3]}), "rfm", n_tiers=3
        ),
        {"zh": ["钻石", "金", "银"], "en": ["Diamond", "Gold", "Silver"]},
        "按RFM总分分档：钻石：RFM总分 ≥ 15；金：12 ≤ RFM总分 < 15；银：RFM总分 < 12。分档界限取自观测值，使各层客户占比尽量接近 "
        "20%/30%/50%（同值客户同层）。",
        "Bands of RFM score: Diamond: RFM score ≥ 15; Gold: 12 ≤ RFM score < 15; Silver: RFM score < 12. Cut-offs "
        "chosen among the observed values so that tier sizes come closest to 20%/30%/50% of customers (equal values "
        "share a tier).",
    ),
    "clv ranks, six default-named tiers": (
        lambda: assign_tiers(
            pd.DataFrame({
                "customer_id": list("abcdefghij"),
                "clv": [2e8, 1.5e8, 9e7, 5e7, 3e7, 2e7, 1.5e4, 900.0, 12.5, 0.5],
            }),
            "clv", n_tiers=6, options={"shares": [0.1] * 5 + [0.5]},
        ),
        None,
        "按预测CLV从高到低排序（同值按客户编号），按客户占比分层：前10%为第1层（预测CLV ≥ 2亿）；其后10%为第2层（预测CLV ≥ 1.5亿）；"
        "其后10%为第3层（预测CLV ≥ 9000万）；其后10%为第4层（预测CLV ≥ 5000万）；其后10%为第5层（预测CLV ≥ 3000万）；其余为第6层。",
        "Customers ranked by predicted CLV, highest first (ties by customer id), cut by customer shares: top 10% → "
        "Tier 1 (predicted CLV ≥ 200,000,000); next 10% → Tier 2 (predicted CLV ≥ 150,000,000); next 10% → Tier 3 "
        "(predicted CLV ≥ 90,000,000); next 10% → Tier 4 (predicted CLV ≥ 50,000,000); next 10% → Tier 5 "
        "(predicted CLV ≥ 30,000,000); the rest → Tier 6.",
    ),
}


@pytest.mark.parametrize("case", RULE_CASES)
def test_rule_text_words_the_stored_rule_in_each_language(case: str) -> None:
    assign, names, zh, en = RULE_CASES[case]
    result = assign()
    assert worded(result, "zh", names) == zh
    assert worded(result, "en", names) == en


def test_rule_text_of_an_open_rule_and_of_a_rule_without_names() -> None:
    rule = {
        "method": "threshold", "n_tiers": 2, "missing_tier": None,
        "rules": [{"column": "balance", "min": None, "max": None}, {"column": "orders", "min": 3.0, "max": None}],
    }
    assert rule_text(rule, "zh") == "按参数文件设定的业务规则分层（下限含、上限不含）：第1层：余额（任意值）；第2层：订单数 ≥ 3。"
    assert rule_text(rule, "en") == (
        "Business rules set in the params (min inclusive, max exclusive): Tier 1: any balance; Tier 2: orders ≥ 3."
    )


# --- agreement and sensitivity --------------------------------------------------------------


def test_agreement_table_by_hand() -> None:
    a = pd.Series([1, 1, 2, 3], index=[10, 11, 12, 13], name="rfm")
    b = pd.Series([2, 2, 1, 1], index=[13, 12, 11, 10], name="clv")  # same customers, other order
    table, same, changed = agreement_table(a, b)
    assert same == pytest.approx(0.75) and changed == pytest.approx(0.25)
    assert (
        table.loc[1, 1] == 2
        and table.loc[2, 2] == 1
        and table.loc[3, 2] == 1
        and table.to_numpy().sum() == 4
    )
    with pytest.raises(TieringError, match="same customers"):
        agreement_table(a, b.iloc[:3])


def test_sensitivity_matrix() -> None:
    methods = ["rfm", "clv", "composite", "threshold"]
    rates = sensitivity(
        CUSTOMERS, methods, n_tiers=3, options={"rules": threshold_rules(CUSTOMERS, 3)}
    )
    assert (np.diag(rates.to_numpy()) == 1).all()
    np.testing.assert_allclose(rates.to_numpy(), rates.to_numpy().T)
    rfm = assign_tiers(CUSTOMERS, "rfm", n_tiers=3).tier
    clv = assign_tiers(CUSTOMERS, "clv", n_tiers=3).tier
    assert rates.loc["rfm", "clv"] == pytest.approx((rfm == clv).mean())
    assert 0 < rates.loc["rfm", "clv"] < 1
    # the same customers in another row order, under another index: the same rates
    shuffled = CUSTOMERS.sample(frac=1.0, random_state=2).set_axis(np.arange(len(CUSTOMERS))[::-1] * 3)
    again = sensitivity(shuffled, methods, n_tiers=3, options={"rules": threshold_rules(CUSTOMERS, 3)})
    pd.testing.assert_frame_equal(again, rates)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.sampled_from([-2.0, -0.0, 0.0, 1.5, 3.0, 7.25, np.inf, np.nan]), min_size=1, max_size=60),
    cuts=st.lists(st.integers(1, 59), max_size=4),
)
def test_tiers_at_rank_cuts_are_those_of_a_full_sort(values, cuts):
    values = np.asarray(values)
    ends = np.unique([c for c in cuts if c < len(values)])
    # the reference: every customer ranked by value, highest first, ties (and missing values, last) by position
    expected = np.empty(len(values), dtype=int)
    expected[np.lexsort((np.arange(len(values)), -values))] = np.searchsorted(ends, np.arange(len(values)), "right") + 1
    tier, lowest = _tiers_at_ranks(values, ends)
    np.testing.assert_array_equal(tier, expected)
    # the lowest value of each tier but the last (NaN where the tier holds a missing value)
    expected_lowest = [values[expected == t].min() for t in range(1, len(ends) + 1)]
    np.testing.assert_array_equal(lowest, expected_lowest)
