"""Tier profiles, mixes, concentration of value, quarter-over-quarter migration, Kruskal–Wallis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.i18n import render
from analysis.methods.profiles import (
    MISSING_CATEGORY,
    PURCHASE_MIX_TABLE_COLUMNS,
    ProfileError,
    gini,
    lorenz_curve,
    migration,
    pareto_message,
    purchase_mix,
    purchase_mix_of,
    purchase_mix_table,
    tier_mix,
    tier_profile,
    tier_purchase_mix,
    tiers_differ,
)
from analysis.methods.tiers import assign_tiers
from analysis.report.tier_profiles import mix_in_language, profile_labels

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def small() -> pd.DataFrame:
    """Five customers in three tiers, numbers easy to add by hand."""
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "tier": [1, 2, 1, 3, 2],
            "tier_name": ["高", "中", "高", "低", "中"],
            "revenue": [500.0, 200.0, 300.0, 0.0, 0.0],
            "margin": [100.0, 50.0, 50.0, np.nan, 0.0],
            "clv": [400.0, 100.0, 300.0, 100.0, 100.0],
            "recency": [300.0, 100.0, 200.0, 0.0, 50.0],
            "frequency": [6, 2, 4, 0, 1],
            "monetary_value": [80.0, 90.0, 70.0, 0.0, 10.0],
            "p_alive": [0.9, 0.5, 0.7, 0.1, 0.3],
            "days_since_last": [10, 60, 30, 400, 200],
            "industry": ["制造", "零售", None, "制造", "零售"],
        }
    )


def synthetic(n: int = 300, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    revenue = rng.lognormal(6, 1, n)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(n)],
            "revenue": revenue,
            "clv": revenue * rng.uniform(0.5, 1.5, n),
            "region": rng.choice(["华东", "华北", "华南"], n),
        }
    )


def test_tier_profile_by_hand(small: pd.DataFrame) -> None:
    profile = tier_profile(small)
    assert list(profile.index) == [1, 2, 3]
    assert profile["tier_name"].tolist() == ["高", "中", "低"]
    assert profile["customers"].tolist() == [2, 2, 1]
    assert profile["revenue"].tolist() == [800.0, 200.0, 0.0]
    assert profile["revenue_share"].tolist() == pytest.approx([0.8, 0.2, 0.0])
    assert profile["margin"].tolist() == [150.0, 50.0, 0.0]
    assert profile["clv_share"].tolist() == pytest.approx([700 / 1000, 200 / 1000, 100 / 1000])
    assert profile["frequency_mean"].tolist() == pytest.approx([5.0, 1.5, 0.0])
    assert profile["days_since_last_mean"].tolist() == pytest.approx([20.0, 130.0, 400.0])
    for share in ("customer_share", "revenue_share", "margin_share", "clv_share"):
        assert profile[share].sum() == pytest.approx(1.0)
    assert set(profile.columns) <= set(profile_labels("en"))


def test_tier_profile_on_real_tiers_shares_sum_to_one() -> None:
    customers = synthetic()
    tiers = assign_tiers(customers, "clv", n_tiers=4)
    profile = tier_profile(customers.assign(tier=tiers.tier))
    for share in ("customer_share", "revenue_share", "clv_share"):
        assert profile[share].sum() == pytest.approx(1.0)
    assert profile["clv"].is_monotonic_decreasing
    assert profile["margin"].isna().all()  # no margin column, no transactions: shown as unknown


def test_tier_profile_margin_from_transactions_and_empty_tier(small: pd.DataFrame) -> None:
    customers = small.drop(columns="margin").assign(tier=[1, 4, 1, 4, 4])
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "zz"],
            "amount": [100.0, 50.0, 80.0, 10.0, 999.0],
            "cost": [60.0, 20.0, 40.0, 10.0, 0.0],
        }
    )
    profile = tier_profile(customers, transactions)
    assert list(profile.index) == [1, 2, 3, 4]
    assert profile["customers"].tolist() == [2, 0, 0, 3]
    assert profile["margin"].tolist() == [70.0, 0.0, 0.0, 40.0]
    assert profile["margin_share"].sum() == pytest.approx(1.0)
    assert np.isnan(profile.loc[2, "p_alive_mean"])


def test_tier_profile_requires_tiers(small: pd.DataFrame) -> None:
    with pytest.raises(ProfileError, match="'tier' is missing for 1 customer"):
        tier_profile(small.assign(tier=[1, 2, None, 3, 2]))
    with pytest.raises(ProfileError, match=r"lacks column\(s\) \['tier'\]"):
        tier_profile(small.drop(columns="tier"))


def test_tier_mix(small: pd.DataFrame) -> None:
    stored = tier_mix(small, "industry")
    assert set(stored.columns) == {"制造", "零售", MISSING_CATEGORY}
    shares = mix_in_language(stored, "zh")
    assert list(shares.columns) == sorted(["制造", "零售", "未知"])
    assert shares.sum(axis=1).tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert shares.loc[1, "制造"] == pytest.approx(0.5) and shares.loc[1, "未知"] == pytest.approx(
        0.5
    )
    assert shares.loc[2, "零售"] == pytest.approx(1.0)
    assert list(mix_in_language(stored, "en").columns) == ["Unknown", "制造", "零售"]
    assert shares.columns.name == "industry"
    assert tier_mix(small, "industry", normalize=False).to_numpy().sum() == 5
    with pytest.raises(ProfileError, match="region"):
        tier_mix(small, "region")


def test_purchase_mix(small: pd.DataFrame) -> None:
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "c", "b", "d", "x"],
            "product_category": ["理财", "贷款", "理财", "贷款", None, "理财"],
            "amount": [300.0, 100.0, 400.0, 50.0, 20.0, 1e6],
        }
    )
    mix = mix_in_language(purchase_mix(small, transactions, "product_category"), "zh")
    assert mix.loc[1, "理财"] == pytest.approx(700 / 800) and mix.loc[1, "贷款"] == pytest.approx(
        100 / 800
    )
    assert mix.loc[2, "贷款"] == pytest.approx(1.0) and mix.loc[3, "未知"] == pytest.approx(1.0)
    assert mix.sum(axis=1).tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert mix.attrs["unmatched_rows"] == 1


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "zz", "é", None]), st.sampled_from(["x", "y", None]),
                          st.integers(-50, 500).map(float)), min_size=1, max_size=30),
       st.permutations(["a", "b", "c", "é"]))
def test_purchase_mix_sums_each_tier_like_a_lookup_per_row(rows, order) -> None:
    customers = pd.DataFrame({"customer_id": order, "tier": [1, 2, 2, 3]})
    ids, categories, amounts = zip(*rows, strict=True)
    transactions = pd.DataFrame({"customer_id": pd.array(ids, dtype="string"), "product_category": list(categories),
                                 "amount": list(amounts)})
    mix = purchase_mix(customers, transactions, "product_category")
    tier_of = dict(zip(customers["customer_id"], customers["tier"], strict=True))
    known = [(tier_of[c], k, a) for c, k, a in rows if c in tier_of]
    assert mix.attrs["unmatched_rows"] == len(rows) - len(known)
    assert set(mix.columns) == {k if k is not None else MISSING_CATEGORY for _, k, _ in known}
    for tier in (1, 2, 3):
        total = sum(a for t, _, a in known if t == tier)
        for category in mix.columns:
            spent = sum(a for t, k, a in known if t == tier and (k if k is not None else MISSING_CATEGORY) == category)
            if total != 0:
                assert mix.loc[tier, category] == pytest.approx(spent / total, rel=1e-9, abs=1e-9)
            else:
                assert np.isnan(mix.loc[tier, category])


def test_the_engine_gives_the_mix_of_the_transactions(small: pd.DataFrame, tmp_path) -> None:
    """Summed per tier and category by the engine in one pass, the transactions give the same shares."""
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "c", "b", "d", "d", "x", None],
            "product_category": ["理财", "贷款", "理财", "理财", "贷款", None, "贷款", "理财", "贷款"],
            "channel": [None] * 9,
            "amount": [300.0, 100.0, 0.5, 400.0, 50.0, 20.0, -5.0, 1e6, 7.0],
            "tier": [9] * 9,  # a column of the export's own: the customers' tiers count
        }
    )
    path = tmp_path / "transactions.parquet"
    transactions.to_parquet(path)
    mixes = tier_purchase_mix(path, small, ["product_category", "channel", "region"])
    expected = purchase_mix(small, transactions, "product_category")
    assert expected.attrs["unmatched_rows"] == 2  # x, not a customer, and the row without an id
    pd.testing.assert_frame_equal(mixes["product_category"], expected, rtol=1e-12)
    assert mixes["product_category"].attrs == expected.attrs
    assert mixes["product_category"].loc[1, "理财"] == pytest.approx(700.5 / 800.5)
    assert list(mixes) == ["product_category", "channel", "region"]
    assert mixes["channel"] is None  # never filled
    assert mixes["region"] is None  # not in the file
    assert tier_purchase_mix(path, small, ["region"]) == {"region": None}
    # as stage 3 stores them (tier_purchase_mix.parquet) and the notebook and the report read them back
    stored_path = tmp_path / "tier_purchase_mix.parquet"
    purchase_mix_table(mixes).to_parquet(stored_path)
    stored = pd.read_parquet(stored_path)
    assert list(stored.columns) == list(PURCHASE_MIX_TABLE_COLUMNS)
    back = purchase_mix_of(stored, "product_category")
    pd.testing.assert_frame_equal(back, mixes["product_category"])
    assert list(back.columns) == list(mixes["product_category"].columns)  # in their order, not sorted again
    assert purchase_mix_of(stored, "channel") is None and purchase_mix_of(stored, "region") is None
    assert purchase_mix_of(purchase_mix_table({"channel": None}), "channel") is None


def test_gini_known_cases() -> None:
    assert gini([5.0] * 10) == pytest.approx(0.0)
    for n in (2, 5, 40):
        assert gini([0.0] * (n - 1) + [7.0]) == pytest.approx((n - 1) / n)
    assert gini([1, 2, 3, 4]) == pytest.approx(0.25)  # 2·(1+4+9+16)/(4·10) − 5/4
    assert gini([4, 1, 3, 2]) == gini([1, 2, 3, 4])
    with pytest.raises(ProfileError, match="negative"):
        gini([1.0, -1.0, 3.0])
    assert gini([1.0, -1.0, 3.0], clip_negative=True) == pytest.approx(gini([1.0, 0.0, 3.0]))


def test_lorenz_curve() -> None:
    curve = lorenz_curve([0.0, 0.0, 0.0, 10.0])
    assert curve["customer_share"].tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    assert curve["value_share"].tolist() == pytest.approx([0, 0, 0, 0, 1.0])
    curve = lorenz_curve(synthetic()["revenue"])
    assert curve["value_share"].is_monotonic_increasing
    assert (curve["value_share"] <= curve["customer_share"] + 1e-12).all()
    # area between the diagonal and the curve is G/2 (up to the discrete-sum correction 1/n)
    area = np.trapezoid(curve["value_share"], curve["customer_share"])
    n = len(curve) - 1
    assert 1 - 2 * area == pytest.approx(gini(synthetic()["revenue"]), abs=1 / n)


def test_pareto_message() -> None:
    values = [40.0, 23.0, 10.0, 7.0, 6.0, 5.0, 4.0, 3.0, 1.0, 1.0]  # top 2 of 10 hold 63 of 100
    assert render(pareto_message(values), "zh") == "前20%的客户贡献了63%的收入"
    assert render(pareto_message(values), "en") == "The top 20 % of customers bring 63 % of revenue"
    assert render(pareto_message(values, value_share=0.8), "zh") == "80%的收入来自前40%的客户"
    margin = pareto_message(values, value_share=0.8, label="tier_rules_col_margin")
    assert render(margin, "en") == "80 % of margin comes from the top 40 % of customers"
    assert render(margin, "zh") == "80%的毛利来自前40%的客户"
    assert (
        render(pareto_message(values, top_share=0.1, label="tier_rules_col_clv"), "zh")
        == "前10%的客户贡献了40%的预测CLV"
    )
    few = [1000.0] * 2 + [1.0] * 998  # the top 0.2 % hold 66.7 %; a small share keeps one decimal
    assert render(pareto_message(few, top_share=0.002), "en") == "The top 0.2 % of customers bring 67 % of revenue"


def test_migration_by_hand() -> None:
    previous = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "tier": [1, 2, 2, 3, 3],
            "value": [100.0, 50.0, 40.0, 10.0, 5.0],
        }
    )
    current = pd.DataFrame(
        {
            "customer_id": ["f", "d", "c", "b", "a"],
            "tier": [2, 3, 3, 1, 1],
            "value": [30.0, 12.0, 8.0, 90.0, 120.0],
        }
    )
    counts, values, summary = migration(previous, current)
    assert list(counts.index) == [1, 2, 3, "new"] and list(counts.columns) == [1, 2, 3, "lost"]
    expected = pd.DataFrame(
        [
            [1, 0, 0, 0],  # a stays in 1
            [1, 0, 1, 0],  # b 2→1 (upgrade), c 2→3 (downgrade)
            [0, 0, 1, 1],  # d stays in 3, e lost
            [0, 1, 0, 0],
        ],  # f new in 2
        index=counts.index,
        columns=counts.columns,
    )
    pd.testing.assert_frame_equal(counts, expected, check_dtype=False)
    assert (
        values.loc[2, 1] == 90.0 and values.loc[3, "lost"] == 5.0 and values.loc["new", 2] == 30.0
    )
    assert summary["upgrades"] == 1 and summary["upgrades_value"] == 90.0
    assert summary["downgrades"] == 1 and summary["downgrades_value"] == 8.0
    assert summary["same"] == 2 and summary["same_value"] == 132.0
    assert summary["new"] == 1 and summary["lost"] == 1 and summary["lost_value"] == 5.0
    assert summary["retention_rate"] == pytest.approx(4 / 5)
    assert counts.to_numpy().sum() == 6  # every customer of either quarter counted once


def test_migration_rejects_repeated_customers() -> None:
    frame = pd.DataFrame({"customer_id": ["a", "a"], "tier": [1, 2], "value": [1.0, 2.0]})
    with pytest.raises(ProfileError, match="repeats in the previous table"):
        migration(frame, frame.iloc[:1])


def test_tiers_differ() -> None:
    separated = pd.DataFrame(
        {
            "customer_id": list("abcdef"),
            "tier": [1, 1, 1, 2, 2, 2],
            "clv": [4.0, 5.0, 6.0, 1.0, 2.0, 3.0],
        }
    )
    result = tiers_differ(separated)
    assert result.statistic == pytest.approx(27 / 7)  # 12/(6·7)·(15²/3 + 6²/3) − 3·7
    assert result.n == 6
    customers = synthetic(400)
    tiered = customers.assign(tier=assign_tiers(customers, "clv", n_tiers=4).tier)
    assert tiers_differ(tiered).pvalue < 1e-10
    shuffled = tiered.assign(tier=np.random.default_rng(0).permutation(tiered["tier"].to_numpy()))
    assert tiers_differ(shuffled).pvalue > 0.01
    with pytest.raises(ProfileError, match="single value"):
        tiers_differ(separated.assign(clv=1.0))


def test_the_engine_mix_reads_numeric_ids_and_names_a_missing_column(small: pd.DataFrame, tmp_path) -> None:
    customers = small.assign(customer_id=["1", "2", "3", "4", "5"])
    path = tmp_path / "transactions.parquet"
    pd.DataFrame({"customer_id": [1, 1, 2, 9], "product_category": ["$VIP套餐", "贷款", "贷款", "理财"],
                  "amount": [30.0, 10.0, 5.0, 1.0]}).to_parquet(path)
    mix = tier_purchase_mix(path, customers, ["product_category"])["product_category"]
    assert mix.loc[1, "$VIP套餐"] == pytest.approx(0.75) and mix.loc[2, "贷款"] == pytest.approx(1.0)
    assert mix.attrs["unmatched_rows"] == 1
    pd.DataFrame({"customer_id": ["1"], "product_category": ["贷款"]}).to_parquet(path)
    with pytest.raises(ProfileError, match=r"lacks column\(s\) \['amount'\].*Re-run the cleaning stage"):
        tier_purchase_mix(path, customers, ["product_category"])


def test_the_report_reads_the_stored_purchase_mix_and_sums_it_for_a_run_from_before(sample_report, out_root, monkeypatch):
    """The report charts stage 3's tier_purchase_mix.parquet; a run published before stage 3 wrote it
    has the same shares summed from its transactions."""
    from analysis.frame import catalog
    from analysis.frame.study import Study, open_study
    from analysis.report import sections

    study = open_study(ROOT / "params" / "sample.yaml", out_root=out_root)  # the tests' sample run
    assert study.output(catalog.TIER_PURCHASE_MIX).is_file()
    stored = sections.RunOutputs(study, "en").purchase_mix("product_category")
    assert stored is not None and len(stored) == study.read(catalog.TIERING_JSON)["n_tiers"]
    read = Study.read_optional
    monkeypatch.setattr(Study, "read_optional",
                        lambda self, name, *a, **k: None if name == catalog.TIER_PURCHASE_MIX else read(self, name, *a, **k))
    summed = sections.RunOutputs(study, "en").purchase_mix("product_category")
    pd.testing.assert_frame_equal(summed, stored, rtol=1e-12)
