"""CSAT, NPS and tier-difference tests on small hand-made and seeded synthetic samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.i18n import render
from analysis.methods.satisfaction import (
    SatisfactionArgumentError,
    attach_tier,
    csat_by_tier,
    latest_answers,
    net_promoter_score,
    nps_bootstrap_interval,
    nps_by_tier,
    nps_category,
    reason,
    t_interval,
    tier_table,
    tiers_differ_test,
    wilson_interval,
)

HAND_RECOMMEND = [9, 10, 9, 10, 9, 7, 8, 7, 0, 6]  # 5 promoters, 3 passives, 2 detractors
Z95 = stats.norm.ppf(0.975)


def _customers(sizes: dict[int, int]) -> pd.DataFrame:
    names = {1: "高价值", 2: "潜力", 3: "普通"}
    rows = [
        {"customer_id": f"T{tier}-{i:03d}", "tier": tier, "tier_name": names[tier]}
        for tier, size in sizes.items()
        for i in range(size)
    ]
    return pd.DataFrame(rows)


def _surveys(answers: dict[int, list[tuple[int, int]]]) -> pd.DataFrame:
    """answers[tier] = [(overall_satisfaction, recommend), ...], one per customer of that tier."""
    rows = [
        {
            "customer_id": f"T{tier}-{i:03d}",
            "survey_date": pd.Timestamp("2025-06-30"),
            "overall_satisfaction": float(sat),
            "recommend": float(rec),
        }
        for tier, pairs in answers.items()
        for i, (sat, rec) in enumerate(pairs)
    ]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# NPS


def test_nps_hand_sample_is_30_points_with_the_multinomial_interval():
    result = net_promoter_score(pd.Series(HAND_RECOMMEND, dtype=float))
    assert result["n"] == 10
    assert (
        result["promoters_pct"],
        result["passives_pct"],
        result["detractors_pct"],
    ) == pytest.approx((50, 30, 20))
    assert result["nps"] == pytest.approx(30.0)
    half = Z95 * 100 * np.sqrt((0.5 + 0.2 - (0.5 - 0.2) ** 2) / 10)
    assert result["nps_low"] == pytest.approx(30 - half)
    assert result["nps_high"] == pytest.approx(min(30 + half, 100))


def test_nps_categories_at_the_boundaries():
    category = nps_category(pd.Series([0, 6, 7, 8, 9, 10, np.nan]))
    assert category.tolist()[:6] == [
        "detractor",
        "detractor",
        "passive",
        "passive",
        "promoter",
        "promoter",
    ]
    assert pd.isna(category.iloc[6])


def test_nps_interval_shrinks_with_n_as_one_over_root_n():
    small = net_promoter_score(pd.Series(HAND_RECOMMEND * 2, dtype=float))
    large = net_promoter_score(pd.Series(HAND_RECOMMEND * 50, dtype=float))
    width_small = small["nps_high"] - small["nps_low"]
    width_large = large["nps_high"] - large["nps_low"]
    assert small["nps"] == large["nps"] == pytest.approx(30)
    assert width_large < width_small
    assert width_small / width_large == pytest.approx(5.0)  # √(500/20)


def test_nps_by_tier_flags_small_tiers_and_adds_an_overall_row():
    customers = _customers({1: 12, 2: 60, 3: 5})
    answers = {
        1: [(8, r) for r in HAND_RECOMMEND],
        2: [(7, r) for r in HAND_RECOMMEND * 4],  # 40 respondents of 60
    }
    table = nps_by_tier(_surveys(answers), customers, min_n=30)
    assert reason(table) is None
    assert table["tier"].tolist()[:3] == [1, 2, 3] and pd.isna(table["tier"].iloc[3])
    assert table["tier_name"].tolist()[:3] == ["高价值", "潜力", "普通"]
    assert pd.isna(table["tier_name"].iloc[3])  # the overall row: named at display time
    assert table["n"].tolist() == [10, 40, 0, 50]
    assert table["too_few"].tolist() == [True, False, True, False]
    assert table["nps"].iloc[:2].tolist() == pytest.approx([30, 30])
    assert np.isnan(table["nps"].iloc[2])  # no answers: computed as missing, flagged, not dropped
    assert table["nps"].iloc[3] == pytest.approx(30)
    width = table["nps_high"] - table["nps_low"]
    assert width.iloc[1] < width.iloc[0]


def test_nps_bootstrap_is_seeded_and_close_to_the_wald_interval_for_large_n():
    recommend = pd.Series(HAND_RECOMMEND * 40, dtype=float)
    first = nps_bootstrap_interval(recommend, n_boot=4000, seed=7)
    again = nps_bootstrap_interval(recommend, n_boot=4000, seed=7)
    wald = net_promoter_score(recommend)
    assert first == again
    assert first[0] == pytest.approx(wald["nps_low"], abs=2.0)
    assert first[1] == pytest.approx(wald["nps_high"], abs=2.0)
    table = nps_by_tier(
        _surveys({1: [(8, r) for r in HAND_RECOMMEND * 4]}), _customers({1: 40}), n_boot=500
    )
    assert {"nps_boot_low", "nps_boot_high"} <= set(table.columns)
    assert (table["nps_boot_low"] <= table["nps"]).all() and (
        table["nps"] <= table["nps_boot_high"]
    ).all()


# ---------------------------------------------------------------------------------------------
# CSAT


def test_wilson_interval_known_values():
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(Z95**2 / (10 + Z95**2))  # 0.2775 for 0 of 10
    low3, high3 = wilson_interval(3, 10)
    low7, high7 = wilson_interval(7, 10)
    assert low3 == pytest.approx(1 - high7) and high3 == pytest.approx(1 - low7)
    assert np.isnan(wilson_interval(0, 0)[0])


def test_t_interval_matches_scipy():
    values = np.array([5, 5, 4, 3, 1.0])
    low, high = t_interval(values.mean(), values.std(ddof=1), len(values), 0.9)
    expected = stats.t.interval(0.9, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert (float(low), float(high)) == pytest.approx(expected)


def test_csat_by_tier_hand_case():
    customers = _customers({1: 4, 2: 3})
    surveys = _surveys({1: [(5, 9), (5, 9), (4, 9), (3, 9)], 2: [(1, 0)]})
    table = csat_by_tier(surveys, customers, scale_max=5, top_box=2, min_n=3, confidence=0.95)
    tier1, tier2, overall = (table.iloc[i] for i in range(3))
    assert tier1["respondents"] == 4 and tier1["customers"] == 4 and tier1["response_rate"] == 1.0
    assert tier1["mean_satisfaction"] == pytest.approx(4.25)
    assert tier1["top_box_share"] == pytest.approx(0.75)  # 4s and 5s are the top 2 boxes
    assert (tier1["top_box_low"], tier1["top_box_high"]) == pytest.approx(wilson_interval(3, 4))
    assert tier2["respondents"] == 1 and tier2["response_rate"] == pytest.approx(1 / 3)
    assert np.isnan(tier2["mean_low"])  # one answer has no spread: no interval
    assert table["too_few"].tolist() == [False, True, False]
    assert overall["respondents"] == 5 and overall["customers"] == 7
    assert overall["mean_satisfaction"] == pytest.approx(3.6)
    assert pd.isna(overall["tier"]) and pd.isna(overall["tier_name"])


def test_tiers_without_names_keep_a_missing_name_for_the_display_to_fill():
    customers = _customers({1: 2, 2: 2}).drop(columns="tier_name")
    table = csat_by_tier(_surveys({1: [(5, 9), (4, 9)], 2: [(3, 2)]}), customers, scale_max=5)
    assert table["tier"].tolist()[:2] == [1, 2] and table["tier_name"].isna().all()


def test_tier_table_counts_each_customer_once_whatever_the_rows():
    """Customers one row each in id order (as stage 2 writes them) are counted by their rows; rows in
    any order, or an id repeated, are counted by distinct ids: the same table either way."""
    customers = pd.DataFrame({"customer_id": pd.array([f"C{i:03d}" for i in range(9)], dtype="string"),
                              "tier": [1, 2, 2, 3, None, 1, 2, 3, 3], "tier_name": list("abbc-abcc")})
    expected = pd.DataFrame({"tier": [1, 2, 3], "tier_name": pd.array(list("abc"), dtype="string"),
                             "customers": [2, 3, 3]})
    pd.testing.assert_frame_equal(tier_table(customers), expected)
    shuffled = customers.sample(frac=1.0, random_state=4)
    repeated = pd.concat([customers, customers.iloc[[1, 3]]], ignore_index=True)
    stacked = pd.concat([customers.iloc[:5], customers.iloc[5:]])  # index labels 0-4 and 5-8 ...
    stacked.index = [0, 1, 2, 3, 4, 0, 1, 2, 3]  # ... as two files' frames stacked without a fresh index give
    for rows in (shuffled, repeated, stacked):
        pd.testing.assert_frame_equal(tier_table(rows), expected)


def test_csat_counts_each_customers_latest_answer_and_ignores_row_order():
    customers = _customers({1: 3})
    surveys = _surveys({1: [(2, 5), (4, 8), (5, 9)]})
    earlier = surveys.iloc[[0]].assign(
        survey_date=pd.Timestamp("2025-01-15"), overall_satisfaction=5.0
    )
    stranger = surveys.iloc[[1]].assign(customer_id="NOT-IN-MASTER")
    combined = pd.concat([surveys, earlier, stranger], ignore_index=True)
    table = csat_by_tier(combined, customers, scale_max=5, min_n=1)
    shuffled = csat_by_tier(
        combined.sample(frac=1, random_state=3), customers, scale_max=5, min_n=1
    )
    pd.testing.assert_frame_equal(table, shuffled)
    assert table["respondents"].iloc[0] == 3
    assert table["mean_satisfaction"].iloc[0] == pytest.approx(
        (2 + 4 + 5) / 3
    )  # the June answer of T1-000
    assert table.attrs["unmatched_respondents"] == 1
    assert len(latest_answers(combined)) == 4



_ANSWER_VALUES = {
    "customer_id": st.sampled_from(["a", "b", "ab", "Z", "é", "客户1", None]),
    "survey_date": st.sampled_from([pd.Timestamp("2025-01-01"), pd.Timestamp("2025-03-01"), pd.NaT]),
    "overall_satisfaction": st.sampled_from([1.0, 4.0, 5.0, float("nan")]),
}


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(st.lists(st.fixed_dictionaries(_ANSWER_VALUES), max_size=12), st.booleans())
def test_latest_answers_are_the_last_of_a_stable_sort_and_choosing_them_again_changes_nothing(rows, id_order):
    """One answer per customer: the last of each id's run after a stable sort by id, date and the other
    columns (missing first). Answers already so chosen, or merely in id order with repeats, give the
    same: the shortcut for the first must not take the second."""
    surveys = pd.DataFrame(rows, columns=list(_ANSWER_VALUES)).astype({"customer_id": "string"})
    if id_order:
        surveys = surveys.sort_values("customer_id", kind="stable")
    keys = ["customer_id", "survey_date", "overall_satisfaction"]
    expected = (surveys.sort_values(keys, kind="stable", na_position="first")
                .drop_duplicates("customer_id", keep="last").reset_index(drop=True))
    latest = latest_answers(surveys)
    pd.testing.assert_frame_equal(latest, expected)
    pd.testing.assert_frame_equal(latest_answers(latest), expected)

def test_csat_interval_shrinks_with_n():
    rng = np.random.default_rng(1)
    ratings = rng.integers(1, 11, size=400)
    customers = _customers({1: 40, 2: 400})
    surveys = _surveys({1: [(r, 5) for r in ratings[:40]], 2: [(r, 5) for r in ratings]})
    table = csat_by_tier(surveys, customers, scale_max=10)
    width = (table["mean_high"] - table["mean_low"]).iloc[:2]
    box_width = (table["top_box_high"] - table["top_box_low"]).iloc[:2]
    assert width.iloc[1] < width.iloc[0] and box_width.iloc[1] < box_width.iloc[0]


def test_csat_rejects_a_top_box_as_wide_as_the_scale():
    with pytest.raises(SatisfactionArgumentError, match="top_box"):
        csat_by_tier(_surveys({1: [(5, 9)]}), _customers({1: 1}), scale_max=5, top_box=5)
    with pytest.raises(SatisfactionArgumentError, match="confidence"):
        csat_by_tier(_surveys({1: [(5, 9)]}), _customers({1: 1}), scale_max=5, confidence=95)


# ---------------------------------------------------------------------------------------------
# Tier differences


def _tiers_apart(shift: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    answers = {
        tier: [
            (int(np.clip(s, 1, 10)), int(np.clip(s, 0, 10)))
            for s in rng.integers(4, 9, size=60) + shift * (3 - tier)
        ]
        for tier in (1, 2, 3)
    }
    return attach_tier(_surveys(answers), _customers({1: 60, 2: 60, 3: 60}))


def test_tiers_differ_when_they_do():
    table = tiers_differ_test(_tiers_apart(shift=2)).set_index("test")
    kw, chi = table.loc["kruskal_wallis"], table.loc["chi_square"]
    assert kw["significant"] and kw["p_value"] < 0.001
    assert kw["effect_size"] == pytest.approx(kw["statistic"] / (kw["n"] - 1))
    assert render(kw["verdict"], "en") == (
        f"Overall satisfaction differs between tiers (Kruskal–Wallis H = {kw['statistic']:.2f}, "
        f"p < 0.001, ε² = {kw['effect_size']:.3f})."
    )
    assert render(kw["verdict"], "zh") == (
        f"各层级的总体满意度存在显著差异（Kruskal–Wallis H = {kw['statistic']:.2f}, p < 0.001, "
        f"ε² = {kw['effect_size']:.3f}）。"
    )
    assert chi["significant"] and chi["dof"] >= 2
    assert render(chi["verdict"], "en").startswith(
        "The mix of promoters, passives and detractors differs between tiers (χ² = "
    )
    assert f"df = {chi['dof']:.0f}, p < 0.001, Cramér's V = " in render(chi["verdict"], "zh")


def test_no_difference_when_tiers_are_alike():
    table = tiers_differ_test(_tiers_apart(shift=0)).set_index("test")
    assert not table.loc["kruskal_wallis", "significant"]
    assert table.loc["kruskal_wallis", "p_value"] > 0.05
    verdict = table.loc["kruskal_wallis", "verdict"]
    assert render(verdict, "zh").startswith(
        "没有证据表明各层级的总体满意度不同（Kruskal–Wallis H = "
    )
    assert render(verdict, "en").startswith(
        "No evidence that overall satisfaction differs between tiers"
    )


def test_a_sparse_chi_square_says_it_is_indicative():
    answers = {1: [(8, 10), (7, 9), (6, 3)], 2: [(3, 1), (2, 0), (4, 8)]}
    table = tiers_differ_test(attach_tier(_surveys(answers), _customers({1: 3, 2: 3})))
    chi = render(table.set_index("test").loc["chi_square", "verdict"], "en")
    assert chi.endswith(
        "0.745). Over 20% of expected counts are below 5; treat this as indicative."
    )
    zh = render(table.set_index("test").loc["chi_square", "verdict"], "zh")
    assert zh.endswith("0.745）。超过 20% 的期望频数小于 5，结论仅供参考。")


def test_tier_test_explains_when_it_cannot_run():
    one_tier = attach_tier(_surveys({1: [(5, 9), (3, 2)]}), _customers({1: 2}))
    table = tiers_differ_test(one_tier).set_index("test")
    assert np.isnan(table.loc["kruskal_wallis", "p_value"])
    assert render(table.loc["kruskal_wallis", "verdict"], "en") == (
        "Cannot test overall satisfaction across tiers: it needs answers from at least two tiers "
        "and answers that are not all identical."
    )
    assert render(table.loc["chi_square", "verdict"], "zh") == (
        "无法检验推荐者/中立者/贬损者构成的层级差异：需要至少两个层级和两类回答。"
    )
    untiered = tiers_differ_test(_surveys({1: [(5, 9), (3, 2)]}))
    assert untiered.empty and "attach_tier" in render(reason(untiered), "en")


# ---------------------------------------------------------------------------------------------
# Missing inputs


@pytest.mark.parametrize(
    "surveys", [None, pd.DataFrame(columns=["customer_id", "overall_satisfaction"])]
)
def test_missing_surveys_give_empty_tables_with_reasons(surveys):
    customers = _customers({1: 3})
    results = [
        csat_by_tier(surveys, customers, scale_max=5),
        nps_by_tier(surveys, customers),
        tiers_differ_test(surveys),
        attach_tier(surveys, customers),
    ]
    for table in results:
        assert table.empty
        assert render(reason(table), "zh") and render(reason(table), "en")
    if surveys is None:
        assert (
            render(reason(results[0]), "en")
            == "No surveys table: the params file gives no inputs.surveys."
        )
        assert (
            render(reason(results[0]), "zh")
            == "没有满意度调查数据：参数文件未提供该输入（inputs.surveys）。"
        )
    else:
        assert render(reason(results[0]), "en") == (
            "The surveys table is empty (0 rows after cleaning); check the raw file and the quarantine."
        )


def test_attach_tier_is_an_inner_merge_on_the_ids_in_the_answers_order():
    """Tiers found by an id lookup, as an inner merge finds them: unknown, missing and untiered ids left
    out and counted, tier names joined, any stale tier columns of the answers replaced."""
    rng = np.random.default_rng(5)
    for _ in range(60):
        m = int(rng.integers(1, 30))
        ids = [f"c{i}" for i in range(m)]
        customers = pd.DataFrame({"customer_id": pd.array(ids, dtype="string"),
                                  "tier": pd.array(rng.choice([1, 2, 3, None], m), dtype="Int64")})
        customers["tier_name"] = pd.array([None if rng.random() < 0.1 else f"T{t}" for t in customers["tier"].fillna(0)],
                                          dtype="string")
        customers = pd.concat([customers, customers.head(2)], ignore_index=True)  # a customer listed twice
        n = int(rng.integers(1, 50))
        surveys = pd.DataFrame({"customer_id": pd.array(rng.choice([*ids, "unknown", None], n), dtype="string"),
                                "survey_date": pd.to_datetime(rng.integers(0, 4, n), unit="D"),
                                "overall_satisfaction": rng.integers(1, 6, n).astype(float),
                                "tier": rng.integers(1, 3, n)})
        for latest_only in (True, False):
            answers = latest_answers(surveys) if latest_only else surveys.reset_index(drop=True)
            tiers = customers.dropna(subset=["tier"]).drop_duplicates("customer_id")[["customer_id", "tier"]]
            names = customers.dropna(subset=["tier"]).groupby("tier", as_index=False)["tier_name"].first()
            merged = (answers.drop(columns="tier").merge(tiers.astype({"tier": "int64"}), on="customer_id")
                      .merge(names.astype({"tier": "int64"}), on="tier", how="left"))
            got = attach_tier(surveys, customers, latest_only=latest_only)
            pd.testing.assert_frame_equal(got, merged, check_exact=True)
            assert got.attrs["unmatched_respondents"] == answers["customer_id"].nunique() - merged["customer_id"].nunique()
    empty = attach_tier(surveys.head(0), customers)
    assert list(empty.columns) == ["customer_id", "survey_date", "overall_satisfaction", "tier", "tier_name"]


def test_missing_recommend_column_or_tiers_are_explained():
    surveys = _surveys({1: [(5, 9)]}).drop(columns="recommend")
    table = nps_by_tier(surveys, _customers({1: 1}))
    assert table.empty and render(reason(table), "en") == (
        "The surveys table has no column(s) ['recommend']; "
        "map them in the params file under inputs.surveys.columns."
    )
    no_tiers = csat_by_tier(
        _surveys({1: [(5, 9)]}), _customers({1: 1}).drop(columns="tier"), scale_max=5
    )
    assert no_tiers.empty and render(reason(no_tiers), "zh") == (
        "客户分层数据缺少列 ['tier']；请在参数文件 inputs.customers.columns 中映射这些列。"
    )
