"""Complaints per tier, their link with satisfaction and per-customer features (hand-made data)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.frame import catalog
from analysis.i18n import render
from analysis.methods.complaints import (
    UNCATEGORISED,
    complaint_features,
    complaint_satisfaction_link,
    complaints_by_tier,
    complaints_category_by_tier,
    normalise_severity,
)
from analysis.methods.satisfaction import reason
from analysis.report.localize import localize

AS_OF = "2025-06-30"
NAT = pd.NaT


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
            "tier": [1, 1, 2, 2, 2, 2],
            "tier_name": ["高价值", "高价值", "普通", "普通", "普通", "普通"],
        }
    )


def _complaints() -> pd.DataFrame:
    rows = [
        # customer, opened, closed, category, severity
        ("c1", "2025-03-01", "2025-03-05", "交付", "高"),
        ("c1", "2025-06-20", NAT, "服务", "low"),  # open
        ("c3", "2025-02-01", "2025-02-11", "交付", "Medium"),
        ("c4", "2025-06-01", "2025-07-10", None, "HIGH"),  # closed after as_of: still open then
        ("c9", "2025-04-01", "2025-04-02", "价格", "低"),  # not in the customer table
        ("c2", "2025-07-05", NAT, "服务", "中"),  # opened after as_of: not counted
    ]
    table = pd.DataFrame(rows, columns=["customer_id", "opened", "closed", "category", "severity"])
    return table.assign(
        opened=pd.to_datetime(table["opened"]), closed=pd.to_datetime(table["closed"])
    )


def test_complaints_by_tier_hand_case():
    table = complaints_by_tier(_complaints(), _customers(), as_of=AS_OF)
    tier1, tier2, overall = (table.iloc[i] for i in range(3))
    assert (tier1["customers"], tier1["complaints"], tier1["complainants"]) == (2, 2, 1)
    assert tier1["complaints_per_100"] == pytest.approx(100.0)
    assert tier1["share_with_complaint"] == pytest.approx(0.5)
    assert tier1["open_complaints"] == 1 and tier1["high_severity"] == 1
    assert tier1["median_resolution_days"] == tier1["mean_resolution_days"] == 4.0
    assert (tier2["customers"], tier2["complaints"], tier2["complainants"]) == (4, 2, 2)
    assert tier2["complaints_per_100"] == pytest.approx(50.0)
    assert tier2["open_complaints"] == 1  # c4's complaint closed after as_of
    assert tier2["median_resolution_days"] == 10.0
    assert pd.isna(overall["tier"]) and pd.isna(overall["tier_name"])
    assert (overall["customers"], overall["complaints"], overall["open_complaints"]) == (6, 4, 2)
    assert overall["complaints_per_100"] == pytest.approx(400 / 6)
    assert overall["median_resolution_days"] == pytest.approx(7.0)
    assert table.attrs["unmatched_complaints"] == 1 and table.attrs["after_as_of"] == 1


def test_complaints_by_tier_does_not_depend_on_row_order():
    forward = complaints_by_tier(_complaints(), _customers(), as_of=AS_OF)
    backward = complaints_by_tier(_complaints().iloc[::-1], _customers().iloc[::-1], as_of=AS_OF)
    pd.testing.assert_frame_equal(forward, backward)


def test_category_shares_per_tier():
    table = complaints_category_by_tier(_complaints(), _customers(), as_of=AS_OF)
    shares = table.assign(tier=table["tier"].fillna(0)).set_index(["tier", "category"])["share"]
    assert shares[(1, "交付")] == pytest.approx(0.5)
    assert shares[(1, "服务")] == pytest.approx(0.5)
    assert shares[(2, UNCATEGORISED)] == pytest.approx(0.5)
    assert shares[(0, "交付")] == pytest.approx(0.5)  # the overall row (tier NA)
    assert table.groupby("tier", dropna=False)["share"].sum().tolist() == pytest.approx([1, 1, 1])
    assert "价格" not in set(table["category"])  # c9 has no tier
    assert table.loc[table["tier"] == 1, "tier_name"].eq("高价值").all()
    assert table.loc[table["tier"].isna(), "tier_name"].isna().all()


def test_the_uncategorised_code_is_labelled_at_display_and_real_categories_stay_as_they_are():
    table = complaints_category_by_tier(_complaints(), _customers(), as_of=AS_OF)
    zh = localize(table, "zh", {1: "高价值", 2: "普通"}, output=catalog.COMPLAINT_CATEGORIES)
    en = localize(table, "en", {1: "High", 2: "Ordinary"}, output=catalog.COMPLAINT_CATEGORIES)
    assert set(zh["category"]) == {"交付", "服务", "未分类"}
    assert set(en["category"]) == {"交付", "服务", "uncategorised"}
    assert set(zh["tier_name"]) == {"高价值", "普通", "全部客户"}
    assert set(en["tier_name"]) == {"High", "Ordinary", "All customers"}


def test_severity_levels_in_chinese_and_english():
    levels = normalise_severity(
        pd.Series(["高", " High ", "HIGH", "中", "medium", "低", "Low", "紧急", None])
    )
    assert levels.tolist()[:7] == ["high", "high", "high", "medium", "medium", "low", "low"]
    assert levels.iloc[7:].isna().all()


def test_complaint_features_per_customer():
    features = complaint_features(_complaints(), AS_OF).set_index("customer_id")
    assert features.index.tolist() == ["c1", "c3", "c4", "c9"]
    c1 = features.loc["c1"]
    assert (c1["complaints_total"], c1["complaints_open"], c1["complaints_high_severity"]) == (
        2,
        1,
        1,
    )
    assert c1["last_complaint_date"] == pd.Timestamp("2025-06-20")
    assert c1["days_since_last_complaint"] == 10
    assert c1["mean_resolution_days"] == 4.0
    assert features.loc["c4", "complaints_open"] == 1 and np.isnan(
        features.loc["c4", "mean_resolution_days"]
    )
    assert "c2" not in features.index  # its only complaint came after as_of


def _surveys_with_unhappy_complainers(
    n: int = 80, seed: int = 8
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"k{i:03d}" for i in range(n)]
    complainers = ids[: n // 4]
    satisfaction = np.where(
        np.isin(ids, complainers), rng.integers(1, 6, n), rng.integers(6, 11, n)
    )
    surveys = pd.DataFrame(
        {
            "customer_id": ids,
            "survey_date": pd.Timestamp("2025-06-15"),
            "overall_satisfaction": satisfaction.astype(float),
            "recommend": satisfaction.astype(float),
        }
    )
    complaints = pd.DataFrame(
        {
            "customer_id": complainers,
            "opened": pd.Timestamp("2025-05-01"),
            "closed": pd.NaT,
        }
    )
    return complaints, surveys


def test_complaints_go_with_lower_satisfaction():
    complaints, surveys = _surveys_with_unhappy_complainers()
    link = complaint_satisfaction_link(complaints, surveys, as_of=AS_OF)
    table = link.table.set_index("group")
    assert table.loc["with_complaints", "n"] == 20 and table.loc["without_complaints", "n"] == 60
    assert (
        table.loc["with_complaints", "mean_satisfaction"]
        < table.loc["without_complaints", "mean_satisfaction"]
    )
    assert table.loc["with_complaints", "nps"] == pytest.approx(-100)
    assert link.p_value < 1e-6 and link.reason is None
    with_, without = (
        table.loc[g, "mean_satisfaction"] for g in ("with_complaints", "without_complaints")
    )
    nps = (
        f"{table.loc['with_complaints', 'nps']:+.0f}",
        f"{table.loc['without_complaints', 'nps']:+.0f}",
    )
    assert render(link.sentence, "en") == (
        f"Customers with complaints rate overall satisfaction {with_:.2f} on average against {without:.2f} "
        f"for those without (Mann–Whitney p < 0.001; NPS {nps[0]} vs {nps[1]}): complaints go with "
        "significantly lower satisfaction."
    )
    assert render(link.sentence, "zh") == (
        f"有投诉客户的满意度均值为 {with_:.2f}，无投诉客户为 {without:.2f}（Mann–Whitney p < 0.001，"
        f"NPS {nps[0]} 对 {nps[1]}）：投诉与较低的满意度显著相关。"
    )


def test_the_link_sentence_survives_json_as_experience_json_stores_it():
    complaints, surveys = _surveys_with_unhappy_complainers()
    link = complaint_satisfaction_link(complaints, surveys, as_of=AS_OF)
    stored = json.loads(json.dumps(link.sentence))
    assert render(stored, "en") == render(link.sentence, "en") and "nan" not in json.dumps(stored)


def test_complainers_more_satisfied_is_said_so():
    complaints, surveys = _surveys_with_unhappy_complainers()
    happier = surveys.assign(overall_satisfaction=11 - surveys["overall_satisfaction"])
    link = complaint_satisfaction_link(complaints, happier, as_of=AS_OF)
    assert render(link.sentence, "en").endswith(
        ": customers with complaints are significantly more satisfied."
    )
    assert render(link.sentence, "zh").endswith("：有投诉的客户满意度反而显著更高。")


def test_complaints_after_the_survey_can_be_left_out():
    complaints, surveys = _surveys_with_unhappy_complainers()
    later = complaints.assign(opened=pd.Timestamp("2025-06-25"))
    link = complaint_satisfaction_link(later, surveys, as_of=AS_OF, complaint_before_survey=True)
    assert link.table.set_index("group").loc["with_complaints", "n"] == 0
    assert np.isnan(link.p_value)
    assert render(link.sentence, "en") == (
        "0 respondents had complaints and 80 had none; each group needs at least 2 to compare satisfaction."
    )
    assert (
        render(link.sentence, "zh")
        == "有投诉的受访客户 0 位，无投诉的 80 位；每组至少需要 2 位才能比较满意度。"
    )


def test_no_difference_is_reported_as_not_significant():
    rng = np.random.default_rng(12)
    surveys = pd.DataFrame(
        {
            "customer_id": [f"k{i}" for i in range(100)],
            "survey_date": pd.Timestamp("2025-06-15"),
            "overall_satisfaction": rng.integers(1, 11, 100).astype(float),
        }
    )
    complaints = pd.DataFrame(
        {"customer_id": [f"k{i}" for i in range(0, 100, 2)], "opened": pd.Timestamp("2025-05-01")}
    )
    link = complaint_satisfaction_link(complaints, surveys)
    assert link.p_value > 0.05
    assert render(link.sentence, "en").endswith(
        f"(Mann–Whitney p = {link.p_value:.3f}): the difference is not significant."
    )
    assert render(link.sentence, "zh").endswith(
        f"（Mann–Whitney p = {link.p_value:.3f}）：差异不显著。"
    )
    assert link.table["nps"].isna().all()  # no recommend column: NPS is missing, not an error


@pytest.mark.parametrize(
    "complaints", [None, pd.DataFrame(columns=["customer_id", "opened", "closed"])]
)
def test_missing_complaints_give_empty_results_with_reasons(complaints):
    _, surveys = _surveys_with_unhappy_complainers()
    tables = [
        complaints_by_tier(complaints, _customers(), as_of=AS_OF),
        complaints_category_by_tier(complaints, _customers(), as_of=AS_OF),
        complaint_features(complaints, AS_OF),
    ]
    for table in tables:
        assert table.empty and render(reason(table), "zh") and render(reason(table), "en")
    link = complaint_satisfaction_link(complaints, surveys)
    assert link.table.empty and link.reason == reason(link.table) and np.isnan(link.p_value)
    assert link.sentence is None


def test_missing_customers_or_surveys_are_explained():
    table = complaints_by_tier(_complaints(), None, as_of=AS_OF)
    assert table.empty and render(reason(table), "en") == (
        "No customers table: the params file gives no inputs.customers."
    )
    link = complaint_satisfaction_link(_complaints(), None)
    assert (
        link.table.empty
        and render(link.reason, "zh")
        == "没有满意度调查数据：参数文件未提供该输入（inputs.surveys）。"
    )
    no_recent = complaint_features(_complaints(), "2024-01-01")
    assert (
        no_recent.empty
        and render(reason(no_recent), "en") == "No complaint was opened on or before 2024-01-01."
    )
    assert render(reason(no_recent), "zh") == "没有在 2024-01-01 之前提出的投诉。"
