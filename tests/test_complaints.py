"""Complaints per tier, their link with satisfaction and per-customer features (hand-made data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.methods.complaints import (
    complaint_features,
    complaint_satisfaction_link,
    complaints_by_tier,
    complaints_category_by_tier,
    normalise_severity,
)
from analysis.methods.satisfaction import reason

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
    table = complaints_by_tier(_complaints(), _customers(), as_of=AS_OF, language="en")
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
    assert overall["tier_name"] == "All customers" and pd.isna(overall["tier"])
    assert (overall["customers"], overall["complaints"], overall["open_complaints"]) == (6, 4, 2)
    assert overall["complaints_per_100"] == pytest.approx(400 / 6)
    assert overall["median_resolution_days"] == pytest.approx(7.0)
    assert table.attrs["unmatched_complaints"] == 1 and table.attrs["after_as_of"] == 1


def test_complaints_by_tier_does_not_depend_on_row_order():
    forward = complaints_by_tier(_complaints(), _customers(), as_of=AS_OF)
    backward = complaints_by_tier(_complaints().iloc[::-1], _customers().iloc[::-1], as_of=AS_OF)
    pd.testing.assert_frame_equal(forward, backward)


def test_category_shares_per_tier():
    table = complaints_category_by_tier(_complaints(), _customers(), as_of=AS_OF, language="zh")
    shares = table.set_index(["tier_name", "category"])["share"]
    assert shares[("高价值", "交付")] == pytest.approx(0.5)
    assert shares[("高价值", "服务")] == pytest.approx(0.5)
    assert shares[("普通", "未分类")] == pytest.approx(0.5)
    assert shares[("全部客户", "交付")] == pytest.approx(0.5)
    assert table.groupby("tier_name")["share"].sum().tolist() == pytest.approx([1, 1, 1])
    assert "价格" not in set(table["category"])  # c9 has no tier


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
    link = complaint_satisfaction_link(complaints, surveys, as_of=AS_OF, language="en")
    table = link.table.set_index("group")
    assert table.loc["with_complaints", "n"] == 20 and table.loc["without_complaints", "n"] == 60
    assert (
        table.loc["with_complaints", "mean_satisfaction"]
        < table.loc["without_complaints", "mean_satisfaction"]
    )
    assert table.loc["with_complaints", "nps"] == pytest.approx(-100)
    assert link.p_value < 1e-6 and link.reason is None
    assert "significantly lower satisfaction" in link.sentence
    zh = complaint_satisfaction_link(complaints, surveys, as_of=AS_OF, language="zh")
    assert "较低的满意度" in zh.sentence and zh.p_value == link.p_value


def test_complaints_after_the_survey_can_be_left_out():
    complaints, surveys = _surveys_with_unhappy_complainers()
    later = complaints.assign(opened=pd.Timestamp("2025-06-25"))
    link = complaint_satisfaction_link(
        later, surveys, as_of=AS_OF, complaint_before_survey=True, language="en"
    )
    assert link.table.set_index("group").loc["with_complaints", "n"] == 0
    assert np.isnan(link.p_value) and "at least 2" in link.sentence


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
    link = complaint_satisfaction_link(complaints, surveys, language="en")
    assert link.p_value > 0.05 and link.sentence.endswith("the difference is not significant.")
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
        assert table.empty and reason(table, "zh") and reason(table, "en")
    link = complaint_satisfaction_link(complaints, surveys, language="en")
    assert link.table.empty and link.reason and np.isnan(link.p_value)


def test_missing_customers_or_surveys_are_explained():
    table = complaints_by_tier(_complaints(), None, as_of=AS_OF)
    assert table.empty and "inputs.customers" in reason(table, "en")
    link = complaint_satisfaction_link(_complaints(), None, language="zh")
    assert link.table.empty and "满意度调查" in link.reason
    no_recent = complaint_features(_complaints(), "2024-01-01")
    assert no_recent.empty and "2024-01-01" in reason(no_recent, "en")
