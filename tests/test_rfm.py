"""RFM scores (quantiles, ties, thresholds) and segment rules (tiling, overlaps, gaps)."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.i18n import render
from analysis.methods.rfm import (
    DEFAULT_SEGMENT_RULES,
    RFMError,
    SegmentRulesError,
    assign_segments,
    id_ranks,
    quantile_scores,
    rfm_scores,
    segment_name,
    segment_summary,
    validate_segment_rules,
)


def customers_frame(days, orders, revenue, ids=None) -> pd.DataFrame:
    ids = ids if ids is not None else [f"c{i:03d}" for i in range(len(days))]
    return pd.DataFrame(
        {
            "customer_id": pd.Series(ids, dtype="string"),
            "days_since_last": np.asarray(days, dtype="int64"),
            "orders": np.asarray(orders, dtype="int64"),
            "revenue": np.asarray(revenue, dtype="float64"),
        }
    )


@pytest.fixture
def random_customers() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 23
    return customers_frame(
        rng.integers(0, 400, n), rng.integers(1, 12, n), rng.gamma(2.0, 300.0, n).round(2)
    )


# ---------------------------------------------------------------------------------------------
# Quantile scores


def test_quintiles_are_balanced_and_ordered(random_customers):
    scored = rfm_scores(random_customers)
    for dim, column, sign in [
        ("r", "days_since_last", -1),
        ("f", "orders", 1),
        ("m", "revenue", 1),
    ]:
        sizes = scored[f"{dim}_score"].value_counts().reindex(range(1, 6), fill_value=0)
        assert sizes.max() - sizes.min() <= 1, (dim, sizes.tolist())  # 23 = 5+5+5+4+4
        assert sorted(sizes.tolist()) == [4, 4, 5, 5, 5]
        # a better value never gets a lower score
        ordered = scored.assign(key=sign * scored[column]).sort_values(["key", "customer_id"])
        assert ordered[f"{dim}_score"].is_monotonic_increasing
    assert (scored["rfm_score"] == scored["r_score"] + scored["f_score"] + scored["m_score"]).all()
    assert scored["rfm_cell"].str.fullmatch(r"[1-5]{3}").all()
    assert scored["r_score"].dtype == "int64" and scored["rfm_cell"].dtype == "string"


def test_hand_quintiles_with_ties_by_customer_id():
    # 10 customers: 2 per quintile. Revenue ties: c1..c4 all 50 → split between scores by id.
    frame = customers_frame(
        days=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        orders=[1, 1, 1, 1, 1, 1, 2, 2, 3, 9],
        revenue=[10, 50, 50, 50, 50, 70, 80, 90, 95, 99],
        ids=[f"c{i}" for i in range(10)],
    )
    scored = rfm_scores(frame)
    assert scored["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]  # fewer days is better
    # six customers with 1 order: ordered by id they fill scores 1, 1, 2, 2, 3, 3
    assert scored["f_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert scored["m_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert scored["rfm_cell"].tolist()[0] == "511"


def test_scores_do_not_depend_on_row_order(random_customers):
    tied = random_customers.assign(orders=1, revenue=100.0)  # everything tied: only ids decide
    scored = rfm_scores(tied).set_index("customer_id")
    shuffled = rfm_scores(tied.sample(frac=1.0, random_state=3)).set_index("customer_id")
    pd.testing.assert_frame_equal(scored, shuffled.loc[scored.index])
    by_id = scored.sort_index()
    assert by_id["f_score"].is_monotonic_increasing and by_id["m_score"].is_monotonic_increasing


def test_bins_other_than_five(random_customers):
    scored = rfm_scores(random_customers, bins=3)
    assert set(scored["r_score"]) == {1, 2, 3}
    assert sorted(scored["m_score"].value_counts().tolist()) == [7, 8, 8]
    tens = rfm_scores(customers_frame(range(20), range(20), range(20)), bins=10)
    assert tens["rfm_cell"].iloc[0] == "10-1-1"


# ---------------------------------------------------------------------------------------------
# Thresholds


def test_thresholds_on_the_cut_points():
    frame = customers_frame(
        days=[0, 30, 31, 60, 180, 181],
        orders=[1, 2, 3, 4, 10, 11],
        revenue=[0, 99.99, 100, 500, 1000, 5000],
    )
    scored = rfm_scores(
        frame,
        thresholds={"r": [30, 60, 90, 180], "f": [2, 3, 5, 10], "m": [100, 500, 1000, 5000]},
    )
    # R: within 30 days → 5, 31–60 → 4, 61–90 → 3, 91–180 → 2, over 180 → 1
    assert scored["r_score"].tolist() == [5, 5, 4, 4, 2, 1]
    # F and M: "at least the cut point" moves up a score
    assert scored["f_score"].tolist() == [1, 2, 3, 3, 5, 5]
    assert scored["m_score"].tolist() == [1, 1, 2, 3, 4, 5]


def test_thresholds_for_one_dimension_leave_the_others_as_quantiles(random_customers):
    scored = rfm_scores(random_customers, thresholds={"f": [2, 4, 6, 8]})
    expected_f = np.searchsorted([2, 4, 6, 8], random_customers["orders"], side="right") + 1
    assert scored["f_score"].tolist() == expected_f.tolist()
    assert sorted(scored["m_score"].value_counts().tolist()) == [4, 4, 5, 5, 5]


@pytest.mark.parametrize(
    "thresholds, message",
    [
        ({"f": [1, 2, 3]}, r"rfm_thresholds.f \(orders\) needs 4 cut points for 5 bins, got 3"),
        ({"m": [100, 50, 200, 300]}, "strictly ascending"),
        ({"x": [1, 2, 3, 4]}, "unknown key"),
    ],
)
def test_bad_thresholds_are_explained(random_customers, thresholds, message):
    with pytest.raises(RFMError, match=message):
        rfm_scores(random_customers, thresholds=thresholds)


def test_bad_inputs_are_explained(random_customers):
    with pytest.raises(RFMError, match="lacks column\\(s\\) orders"):
        rfm_scores(random_customers.drop(columns="orders"))
    doubled = pd.concat([random_customers, random_customers.head(1)], ignore_index=True)
    with pytest.raises(RFMError, match="repeated: \\['c000'\\]"):
        rfm_scores(doubled)
    gap = random_customers.assign(
        revenue=random_customers["revenue"].where(random_customers.index != 4)
    )
    with pytest.raises(
        RFMError, match="revenue is missing for 1 customer\\(s\\), e.g. \\['c004'\\]"
    ):
        rfm_scores(gap)
    with pytest.raises(RFMError, match="from 2 to 10"):
        rfm_scores(random_customers, bins=1)


# ---------------------------------------------------------------------------------------------
# Segment rules


def test_default_rules_tile_the_score_cube():
    assert validate_segment_rules(DEFAULT_SEGMENT_RULES, 5) == []
    assert len(DEFAULT_SEGMENT_RULES) == 11
    assert all(render(segment_name(rule), "zh") and render(segment_name(rule), "en") for rule in DEFAULT_SEGMENT_RULES)
    # every one of the 125 cells gets exactly one segment
    cells = pd.DataFrame(
        list(itertools.product(range(1, 6), repeat=3)), columns=["r_score", "f_score", "m_score"]
    )
    segments = assign_segments(cells)["rfm_segment"]
    assert segments.notna().all() and segments.nunique() == 11


@pytest.mark.parametrize(
    "cell, segment",
    [
        ((5, 5, 5), "champions"),
        ((5, 1, 1), "new"),
        ((1, 5, 5), "cant_lose_them"),
        ((1, 1, 1), "lost"),
        ((2, 1, 4), "hibernating"),
        ((3, 3, 3), "need_attention"),
        ((4, 2, 2), "potential_loyalist"),
    ],
)
def test_default_rules_name_typical_cells(cell, segment):
    scores = pd.DataFrame([cell], columns=["r_score", "f_score", "m_score"])
    assert assign_segments(scores)["rfm_segment"].iloc[0] == segment


def test_overlapping_rules_are_named():
    rules = copy.deepcopy(DEFAULT_SEGMENT_RULES)
    rules[1]["r"] = [3, 5]  # loyal now reaches r = 5, where champions already is
    problems = validate_segment_rules(rules, 5)
    assert problems == ["rules 'champions' and 'loyal' overlap on 10 cell(s), e.g. (r=5, f=4, m=1)"]
    with pytest.raises(SegmentRulesError, match="'champions' and 'loyal' overlap"):
        assign_segments(pd.DataFrame({"r_score": [5], "f_score": [5], "m_score": [5]}), rules)


def test_gappy_rules_report_the_uncovered_cells():
    rules = [rule for rule in DEFAULT_SEGMENT_RULES if rule["key"] != "need_attention"]  # r=3, f=3
    rules = copy.deepcopy(rules)
    rules[0]["m"] = [2, 5]  # champions no longer take m = 1
    problems = validate_segment_rules(rules, 5)
    assert len(problems) == 1
    # 5 cells (r=3, f=3, any m) + 2 cells (r=5, f=4..5, m=1) = 7
    assert problems[0].startswith(
        "7 of 125 score cells match no rule, e.g. (r=3, f=3, m=1), (r=3, f=3, m=2)"
    )
    assert "(r=5, f=4, m=1)" not in problems[0]  # only the first five are listed
    with pytest.raises(SegmentRulesError, match="7 of 125 score cells match no rule"):
        assign_segments(pd.DataFrame({"r_score": [3], "f_score": [3], "m_score": [3]}), rules)


def test_malformed_rules_are_reported():
    rules = copy.deepcopy(DEFAULT_SEGMENT_RULES)
    rules[0]["f"] = [4, 6]
    rules[3]["r"] = [5, 4]
    rules[4]["colour"] = "red"
    rules[5]["en"] = "Needs care"  # names come in pairs
    rules[6]["key"] = "lost"
    rules[7]["key"] = "wavering"  # a key without built-in names needs its own
    problems = validate_segment_rules(rules, 5)
    assert "'champions': range f [4, 6] is outside the scores 1..5" in problems
    assert "'new': range r has low > high: [5, 4]" in problems
    assert "'promising' has unknown field(s) colour; allowed: key, en, zh, r, f, m" in problems
    assert "'need_attention' lacks zh" in problems
    assert "'wavering' lacks en, zh" in problems
    assert "rule key 'lost' is used 2 times; keys must be unique" in problems
    assert validate_segment_rules([], 5) and validate_segment_rules(DEFAULT_SEGMENT_RULES, 4)


def test_scores_outside_the_rules_bins_are_rejected():
    scores = pd.DataFrame({"customer_id": ["x"], "r_score": [6], "f_score": [1], "m_score": [1]})
    with pytest.raises(RFMError, match="outside 1..5.*\\['x'\\]"):
        assign_segments(scores)


# ---------------------------------------------------------------------------------------------
# Segment summary


def test_segment_summary_counts_and_shares():
    frame = customers_frame(
        days=[1, 2, 300, 400],
        orders=[9, 8, 1, 1],
        revenue=[600.0, 200.0, 150.0, 50.0],
        ids=["a", "b", "c", "d"],
    )
    scores = pd.DataFrame(
        {"r_score": [5, 5, 1, 1], "f_score": [5, 4, 1, 2], "m_score": [5, 4, 3, 1]}
    )
    customers = assign_segments(pd.concat([frame, scores], axis=1))
    assert customers["rfm_segment"].tolist() == ["champions", "champions", "lost", "lost"]
    table = segment_summary(customers)
    assert table["segment"].tolist() == [rule["key"] for rule in DEFAULT_SEGMENT_RULES]
    champions = table.set_index("segment").loc["champions"]
    assert render(champions["label"], "zh") == "冠军客户" and champions["customers"] == 2
    assert champions["share"] == 0.5 and champions["revenue_share"] == 0.8
    assert champions["mean_orders"] == 8.5 and champions["mean_f_score"] == 4.5
    lost = table.set_index("segment").loc["lost"]
    assert lost["revenue_share"] == 0.2 and lost["mean_days_since_last"] == 350
    assert table["share"].sum() == 1.0 and table["customers"].sum() == 4
    assert table.set_index("segment").loc["new", "customers"] == 0
    assert render(table.set_index("segment").loc["cant_lose_them", "label"], "en") == "Can't lose them"


def test_segment_names_from_the_params_are_shown_as_given():
    rules = copy.deepcopy(DEFAULT_SEGMENT_RULES)
    rules[0] |= {"key": "vip", "en": "VIP", "zh": "贵宾"}
    rules[1] |= {"en": "Steady", "zh": "稳定客户"}
    assert validate_segment_rules(rules, 5) == []
    scores = pd.DataFrame({"r_score": [5], "f_score": [5], "m_score": [5]})
    assert assign_segments(scores, rules)["rfm_segment"].iloc[0] == "vip"
    names = [segment_name(rule) for rule in rules[:3]]
    assert [render(name, "zh") for name in names] == ["贵宾", "稳定客户", "潜在忠诚客户"]
    assert [render(name, "en") for name in names] == ["VIP", "Steady", "Potential loyalist"]


def test_scores_then_segments_end_to_end(random_customers):
    customers = assign_segments(rfm_scores(random_customers))
    table = segment_summary(customers)
    assert table["customers"].sum() == len(random_customers)
    assert np.isclose(table["revenue_share"].sum(), 1.0)


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(rows=st.lists(st.tuples(st.sampled_from([0.0, -0.0, 1.0, 2.5, float("nan")]),
                               st.sampled_from(["c1", "c10", "c2", "C1", "订单", "é", "😀"])), max_size=40),
       bins=st.integers(2, 10), higher_is_better=st.booleans())
def test_quantile_scores_order_by_value_then_by_id_as_a_two_key_sort_does(rows, bins, higher_is_better):
    """The scores follow a stable sort on (value, customer_id) — missing values last, ids by code
    point, repeated ids in row order — the definition the faster lexsort on id ranks must keep."""
    values = pd.Series([v for v, _ in rows], dtype="float64")
    ids = pd.Series([i for _, i in rows], dtype="string")
    key = values if higher_is_better else -values
    order = pd.DataFrame({"key": key, "id": ids}).sort_values(["key", "id"], kind="stable").index.to_numpy()
    expected = np.empty(len(rows), dtype="int64")
    expected[order] = np.arange(len(rows)) * bins // max(len(rows), 1) + 1
    np.testing.assert_array_equal(quantile_scores(values, id_ranks(ids), bins, higher_is_better), expected)
