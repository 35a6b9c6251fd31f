"""Cross-sell suggestions: item-item cosine on the customer × category matrix, checked on a holdout."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.frame import catalog
from analysis.frame.params import ParamsError, load_params
from analysis.i18n import render
from analysis.methods import cross_sell, winback
from analysis.stages import allocation as allocation_stage
from tests.test_params import ROOT, write_params


def purchases(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Purchase rows from (customer, date, category)."""
    customer, day, category = zip(*rows, strict=True)
    return pd.DataFrame({
        "customer_id": list(customer), "order_date": pd.to_datetime(list(day)), "amount": 100.0,
        "is_purchase": True, "product_category": list(category),
    })


def paired_market(n_per_group: int = 40, holdout: bool = True) -> pd.DataFrame:
    """Two kinds of buyers: desk buyers take desks and chairs, cloud buyers take cloud and software.

    Consumables are bought by almost everyone, so they are the most popular category. In the holdout
    quarter the customers who had bought one half of their pair buy the other half.
    """
    rows = []
    for group, (first, second) in enumerate((("desk", "chair"), ("cloud", "software"))):
        for i in range(n_per_group):
            cid = f"g{group}-{i:03d}"
            rows.append((cid, "2025-01-15", "consumables"))
            if i < n_per_group // 2:  # the pair's regulars
                rows += [(cid, "2025-02-01", first), (cid, "2025-03-01", second)]
            else:  # half of the pair so far
                rows.append((cid, "2025-02-01", first))
                if holdout:
                    rows.append((cid, "2025-11-15", second))
    # more consumables-only buyers, so consumables and then the commonest pair part lead by popularity
    rows += [(f"c-{i:03d}", "2025-04-01", "consumables") for i in range(30)]
    rows += [(f"d-{i:03d}", "2025-04-01", "desk") for i in range(30)]
    return purchases(rows)


# ---------------------------------------------------------------------------------------------
# the matrix and the similarity


def test_the_purchase_matrix_counts_purchases_per_customer_and_category_in_the_window():
    tx = purchases([("a", "2025-01-01", "x"), ("a", "2025-02-01", "x"), ("a", "2025-03-01", "y"),
                    ("b", "2025-06-01", "y")])
    tx.loc[len(tx)] = ["b", pd.Timestamp("2025-06-02"), -50.0, False, "z"]  # a return is no purchase
    tx.loc[len(tx)] = ["b", pd.Timestamp("2025-06-03"), 50.0, True, None]  # no category: left out
    full = cross_sell.purchase_matrix(tx)
    assert list(full.columns) == ["x", "y"] and full.loc["a"].tolist() == [2, 1] and full.loc["b"].tolist() == [0, 1]
    early = cross_sell.purchase_matrix(tx, until="2025-02-01", categories=["x", "y", "z"])
    assert list(early.index) == ["a"] and early.loc["a"].tolist() == [2, 0, 0]
    late = cross_sell.purchase_matrix(tx, since="2025-02-01")
    assert list(late.columns) == ["y"] and late.loc["a"].tolist() == [1]  # the categories seen in the window


def crosstab_matrix(tx: pd.DataFrame, categories: list[str] | None = None) -> pd.DataFrame:
    """The purchase matrix as a plain crosstab of the purchase rows with a category (the reference)."""
    rows = tx[tx["is_purchase"] & tx["product_category"].notna()]
    counts = pd.crosstab(rows["customer_id"].astype("string"), rows["product_category"].astype("string"))
    columns = sorted(rows["product_category"].unique()) if categories is None else categories
    return counts.reindex(columns=columns, fill_value=0).astype("int64").sort_index()


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.lists(st.tuples(st.sampled_from(["b", "a", "c10", "c2", "Z", "é"]),
                          st.sampled_from(["x", "y", "Y", None, "z z"]), st.booleans()), min_size=1, max_size=40),
       st.booleans())
def test_the_purchase_matrix_counts_like_a_crosstab(rows, fixed):
    tx = purchases([(c, "2025-01-01", k) for c, k, _ in rows]).assign(is_purchase=[b for *_, b in rows])
    categories = ["z z", "w", "x"] if fixed else None
    got = cross_sell.purchase_matrix(tx, categories=categories)
    want = crosstab_matrix(tx, categories)
    assert got.index.tolist() == want.index.tolist() and got.columns.tolist() == want.columns.tolist()
    assert (got.to_numpy() == want.to_numpy()).all() and got.dtypes.eq("int64").all()
    assert str(got.index.dtype) == "string" and got.index.name == "customer_id" and got.columns.name == "category"


# the rows an analyst's export may hold: ids and categories missing, the flag missing, text that is
# not ASCII or holds a '$', dates on the edges of the windows
engine_rows = st.lists(st.tuples(
    st.sampled_from(["b", "a", "c10", "c2", "Z", "é", None]),
    st.sampled_from(["2025-01-31", "2025-02-01", "2025-02-02", "2025-06-30", "2025-07-01"]),
    st.sampled_from(["x", "y", "Y", None, "z z", "$ 办公", "é"]),
    st.sampled_from([True, False, None]),
), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(engine_rows, st.sampled_from([None, "2025-02-01"]), st.sampled_from([None, "2025-07-01", "2025-02-01"]),
       st.sampled_from([None, ["z z", "w", "x"]]))
def test_the_engine_counts_the_purchase_matrix_of_the_file_as_pandas_does(rows, since, until, categories):
    """:class:`EnginePurchases` on the cleaned file gives :func:`purchase_matrix` of its rows: the
    same customers, columns, counts and types, whatever the window and the categories asked for."""
    tx = pd.DataFrame({
        "customer_id": pd.array([r[0] for r in rows], dtype="string"),
        "order_date": pd.to_datetime([r[1] for r in rows]).astype("datetime64[us]"), "amount": 100.0,
        "is_purchase": pd.array([r[3] for r in rows], dtype="boolean"),
        "product_category": pd.array([r[2] for r in rows], dtype="string"),
    })
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "transactions.parquet"
        tx.to_parquet(path, index=False)
        engine = cross_sell.EnginePurchases(path)
        assert engine.category_count() == cross_sell.FramePurchases(tx).category_count()
        got = engine.matrix(since=since, until=until, categories=categories)
        # counted once per window between the cuts, the windows summed
        split = engine.split_at("2025-07-01", "2025-02-01").matrix(since=since, until=until, categories=categories)
    want = cross_sell.purchase_matrix(tx, since=since, until=until, categories=categories)
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(split, want)


def test_matrices_bounded_by_the_cuts_come_from_one_query_and_others_from_their_own(tmp_path, monkeypatch):
    path = tmp_path / "transactions.parquet"
    market = paired_market()
    market.to_parquet(path, index=False)
    queries = []
    run_queries = cross_sell.run_queries
    monkeypatch.setattr(cross_sell, "run_queries", lambda *a, **k: queries.append(a[1]) or run_queries(*a, **k))
    split = cross_sell.EnginePurchases(path).split_at("2025-09-30", "2025-12-31")
    for window in ({"until": "2025-09-30"}, {"since": "2025-09-30", "until": "2025-12-31"}, {"until": "2025-12-31"},
                   {"since": "2025-12-31"}, {}):
        pd.testing.assert_frame_equal(split.matrix(**window), cross_sell.purchase_matrix(market, **window))
    assert len(queries) == 1
    pd.testing.assert_frame_equal(split.matrix(until="2025-10-31"), cross_sell.purchase_matrix(market, until="2025-10-31"))
    assert len(queries) == 2


def test_the_engine_says_which_file_has_no_product_category(tmp_path):
    path = tmp_path / "transactions.parquet"
    paired_market().drop(columns="product_category").to_parquet(path, index=False)
    engine = cross_sell.EnginePurchases(path)
    assert engine.category_count() == 0
    with pytest.raises(cross_sell.CrossSellInputError, match=r"transactions\.parquet has no product_category column: map"):
        engine.matrix()


@pytest.mark.spark
def test_spark_counts_the_purchase_matrix_as_duckdb_does(tmp_path):
    pytest.importorskip("pyspark")
    from analysis.methods.customer_summary import EngineError, get_spark_session

    try:
        get_spark_session("test-cross-sell")
    except EngineError as exc:
        pytest.skip(str(exc))
    path = tmp_path / "transactions.parquet"
    paired_market().to_parquet(path, index=False)
    duck, spark = cross_sell.EnginePurchases(path, "duckdb"), cross_sell.EnginePurchases(path, "spark")
    assert spark.category_count() == duck.category_count() == 5
    split = spark.split_at("2025-09-30", "2025-12-31")  # counted per window between the cuts, in one query
    for window in ({}, {"until": "2025-09-30"}, {"since": "2025-09-30", "until": "2025-12-31", "categories": ["desk"]}):
        pd.testing.assert_frame_equal(spark.matrix(**window), duck.matrix(**window))
        pd.testing.assert_frame_equal(split.matrix(**window), duck.matrix(**window))


def test_the_similarity_is_the_cosine_of_the_category_columns():
    # x: a, b, c; y: a, b; z: d  →  cos(x, y) = 2 / sqrt(3 · 2), z shares nobody
    tx = purchases([("a", "2025-01-01", "x"), ("a", "2025-01-01", "y"), ("b", "2025-01-01", "x"),
                    ("b", "2025-01-01", "y"), ("c", "2025-01-01", "x"), ("d", "2025-01-01", "z")])
    model = cross_sell.ItemCosine().fit(cross_sell.purchase_matrix(tx))
    sim = model.similarity_
    assert sim.loc["x", "y"] == pytest.approx(2 / math.sqrt(6), rel=1e-12)
    assert sim.loc["x", "z"] == 0 and sim.loc["x", "x"] == 0
    assert np.allclose(sim.to_numpy(), sim.to_numpy().T)
    assert model.popularity_.to_dict() == {"x": 3, "y": 2, "z": 1}


def test_the_method_finds_the_partner_category_where_popularity_does_not():
    market = paired_market(holdout=False)
    matrix = cross_sell.purchase_matrix(market)
    model = cross_sell.ItemCosine().fit(matrix)
    half = matrix.loc[["g0-030", "g1-030"]]  # bought consumables and desk / cloud only
    first = model.suggest(half, k=1).set_index("customer_id")["category"]
    assert first.to_dict() == {"g0-030": "chair", "g1-030": "software"}
    baseline = cross_sell.Popularity().fit(matrix).suggest(half, k=1).set_index("customer_id")["category"]
    assert baseline.to_dict()["g1-030"] != "software"  # the popularity list offers the desk first


def test_suggestions_skip_what_was_bought_and_break_ties_by_popularity_then_name():
    tx = purchases([("a", "2025-01-01", "x"), ("b", "2025-01-01", "y"), ("c", "2025-01-01", "y"),
                    ("d", "2025-01-01", "w"), ("e", "2025-01-01", "x"), ("e", "2025-01-01", "y"),
                    ("e", "2025-01-01", "w"), ("e", "2025-01-01", "z")])
    matrix = cross_sell.purchase_matrix(tx)
    table = cross_sell.ItemCosine().fit(matrix).suggest(matrix, k=3)
    assert "e" not in set(table["customer_id"])  # bought everything: nothing to suggest
    a = table[table["customer_id"] == "a"]
    # a bought x; y, w and z each share one customer (e) with x: cos = 1/sqrt(1·n), so z (1 buyer)
    # scores highest, then w (2 buyers), then y (3 buyers)
    assert a["category"].tolist() == ["z", "w", "y"] and a["rank"].tolist() == [1, 2, 3]
    bought = [matrix.loc[c, category] for c, category in zip(table["customer_id"], table["category"], strict=True)]
    assert not any(bought)
    tied = cross_sell.top_k(matrix.loc[["a"]], np.zeros((1, 4)), np.array([1, 1, 2, 1]), k=3)
    # scores all 0: the most popular first (y), then by name among equals (w, z)
    assert tied["category"].tolist() == ["y", "w", "z"]
    with pytest.raises(cross_sell.CrossSellInputError, match=r"k=0: suggest at least one category"):
        cross_sell.top_k(matrix, np.zeros(matrix.shape), np.ones(4), 0)


def test_a_matrix_with_other_categories_than_the_model_is_refused():
    model = cross_sell.ItemCosine().fit(cross_sell.purchase_matrix(paired_market()))
    other = pd.DataFrame({"x": [1], "y": [0]}, index=pd.Index(["a"], name="customer_id"))
    with pytest.raises(cross_sell.CrossSellInputError, match=r"build both with purchase_matrix\(\.\.\., categories="):
        model.scores(other)
    one = cross_sell.purchase_matrix(purchases([("a", "2025-01-01", "x")]))
    with pytest.raises(cross_sell.CrossSellInputError, match=r"at least two product categories"):
        cross_sell.ItemCosine().fit(one)


# ---------------------------------------------------------------------------------------------
# the holdout check


def test_wilson_interval_matches_the_closed_form():
    # 8 of 10 at 95 %: (p + z²/2n ± z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n), z = 1.959964
    low, high = cross_sell.wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert cross_sell.wilson_interval(0, 10)[0] == 0.0 and cross_sell.wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert all(math.isnan(v) for v in cross_sell.wilson_interval(0, 0))


def test_the_holdout_check_scores_the_method_against_popularity_on_a_known_structure():
    record = cross_sell.holdout_validation(paired_market(), end="2025-12-31", holdout_months=3, k=1, seed=1)
    assert record["cutoff"] == "2025-09-30" and record["usable"] and record["reason"] is None
    assert record["n_customers"] == 40  # the two halves who bought their partner category in the holdout
    assert record["method_figures"]["hit_rate"] == 1.0  # every one was offered their partner
    # popularity offers the desk (most bought after consumables) to cloud buyers, the cloud to desk buyers
    assert record["baseline_figures"]["hits"] == 0
    assert record["difference"]["estimate"] == pytest.approx(1.0)
    assert record["difference"]["low"] > 0 and record["beats_baseline"]
    low, high = record["method_figures"]["low"], record["method_figures"]["high"]
    assert low < 1.0 == high


def test_a_holdout_with_too_few_new_category_buyers_is_not_used_and_says_why():
    record = cross_sell.holdout_validation(paired_market(n_per_group=10), end="2025-12-31", k=1)
    assert not record["usable"] and record["n_customers"] == 10 and record["method_figures"] is None
    assert "10" in render(record["reason"], "en") and "10" in render(record["reason"], "zh")


def test_suggestions_for_the_tier_and_their_summary():
    market = paired_market()
    customers = pd.DataFrame({"customer_id": sorted(set(market["customer_id"]))})
    customers["tier"] = np.where(customers["customer_id"].str.startswith("g"), 2, 3)
    table = cross_sell.cross_sell_suggestions(market, customers, tiers=[2], k=2, end="2025-09-30")
    assert set(table["tier"]) == {2} and table.groupby("customer_id")["rank"].max().max() <= 2
    assert table.loc[(table["customer_id"] == "g1-030") & (table["rank"] == 1), "category"].item() == "software"
    summary = cross_sell.suggestion_summary(table)
    assert summary["customers"].is_monotonic_decreasing
    assert summary["first_choice"].sum() == table["customer_id"].nunique()


# ---------------------------------------------------------------------------------------------
# the stage and the params


def test_the_stage_skips_cross_sell_without_a_product_category_and_says_why(tmp_path):
    params = load_params(write_params(tmp_path), check_files=False)
    market = paired_market().drop(columns="product_category")
    customers = pd.DataFrame({
        "customer_id": ["g0-000"], "tier": [2], "revenue": [100.0], "first_purchase": pd.to_datetime(["2025-01-15"]),
        "last_purchase": pd.to_datetime(["2025-03-01"]), "days_since_last": [305], "p_alive": [0.9],
    })
    outcome = allocation_stage.compute_actions(customers, market, params)
    assert outcome.cross_sell.empty and list(outcome.cross_sell.columns) == list(allocation_stage.CROSS_SELL_COLUMNS)
    assert not outcome.validation["usable"]
    assert "product_category" in render(outcome.validation["reason"], "en")
    one = allocation_stage.compute_actions(customers, paired_market().assign(product_category="desk"), params)
    assert one.cross_sell.empty and "single product category" in render(one.validation["reason"], "en")


@pytest.mark.parametrize(("actions", "pattern"), [
    ({"cross_sell_k": 0}, r"actions\.cross_sell_k"),
    ({"cross_sell_tiers": []}, r"key 'actions\.cross_sell_tiers': no tier given"),
    ({"cross_sell_tiers": [2, 2]}, r"tier\(s\) \[2\] named twice"),
    ({"cross_sell_holdout_months": 13}, r"actions\.cross_sell_holdout_months"),
    ({"cross_sel_k": 1}, r"unknown key 'actions\.cross_sel_k': did you mean 'cross_sell_k'\?"),
])
def test_wrong_cross_sell_params_are_refused_at_load(tmp_path, actions, pattern):
    path = write_params(tmp_path, lambda p: p.update(actions=actions))
    with pytest.raises(ParamsError, match=pattern):
        load_params(path, check_files=False)


def test_the_defaults_suggest_one_category_to_the_second_tier(tmp_path):
    params = load_params(write_params(tmp_path), check_files=False)
    assert params.actions.cross_sell_tiers == [2] and params.actions.cross_sell_k == 1
    assert params.actions.cross_sell_holdout_months == 3
    example = yaml.safe_load((ROOT / "params" / "example_quarter.yaml").read_text(encoding="utf-8"))["actions"]
    assert example == params.actions.model_dump()


# ---------------------------------------------------------------------------------------------
# the sample


def test_on_the_sample_the_suggestions_beat_popularity(sample_report, out_root):
    """The shared sample run's holdout check: the method's hit rate above the baseline's."""
    record = json.loads((out_root / "data/processed/sample" / catalog.CROSS_SELL_VALIDATION).read_text(encoding="utf-8"))
    assert record["usable"] and record["k"] == 1 and record["n_customers"] >= 300
    method, base = record["method_figures"], record["baseline_figures"]
    assert method["hit_rate"] > base["hit_rate"] + 0.02, (method, base)
    assert record["difference"]["estimate"] > 0
    # the same figures recomputed from the run's cleaned transactions
    tx = pd.read_parquet(out_root / "data/processed/sample" / catalog.TRANSACTIONS)
    again = cross_sell.holdout_validation(tx, end="2025-12-31", holdout_months=3, k=1, seed=0)
    assert again["method_figures"]["hits"] == method["hits"] and again["baseline_figures"]["hits"] == base["hits"]


# ---------------------------------------------------------------------------------------------
# the report


def test_the_actions_section_says_why_without_categories_and_states_the_check_with_them(tmp_path):
    from analysis.frame.study import open_study
    from analysis.report import sections
    from analysis.report.actions import actions_section
    from tests.test_one_source import write_three_tiers

    study = open_study(ROOT / "params" / "sample.yaml", out_root=tmp_path)
    write_three_tiers(study)
    assert actions_section(study, "en", sections.RunOutputs(study, "en")) is None  # a run from before the actions
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in allocation_stage.CROSS_SELL_COLUMNS.items()})
    study.write(catalog.CROSS_SELL, empty)
    study.write(catalog.CROSS_SELL_VALIDATION, {"tiers": [2], "k": 1, "usable": False,
                                                "reason": {"key": "cross_sell_reason_no_category", "values": {}}})
    for language, words in (("en", "no product category"), ("zh", "没有产品类别")):
        section = actions_section(study, language, sections.RunOutputs(study, language))
        assert section is not None and section.id == "actions"
        assert any(words in block and "warn" in block for block in section.blocks)
    record = cross_sell.holdout_validation(paired_market(), end="2025-12-31", k=1, seed=1)
    record |= {"tiers": [2], "suggested_customers": 40, "tier_customers": 80,
               "suggested_categories": [{"category": "chair", "customers": 20, "first_choice": 20, "share": 0.5}]}
    study.write(catalog.CROSS_SELL_VALIDATION, record)
    study.write(catalog.WINBACK, winback.winback_list(pd.DataFrame({
        "customer_id": ["a"], "revenue": [10.0], "first_purchase": pd.to_datetime(["2025-01-01"]),
        "last_purchase": pd.to_datetime(["2025-12-01"]), "days_since_last": [30], "p_alive": [0.9]})))
    section = actions_section(study, "en", sections.RunOutputs(study, "en"))
    html = "".join(section.blocks)
    assert "No lost customer reaches the value floor" in html
    assert "hit 100% (" in html and "against 0% (" in html and "beat the popularity baseline" in html
    assert "chair" in html and "For 40 of the 80 customers of" in html


@pytest.mark.parametrize("n", [1, 7, 1001])
def test_bootstrap_means_have_the_distribution_of_resampled_means(n):
    """The means drawn as multinomial counts of the distinct values are distributed as the means of
    resampled values (two-sample Kolmogorov-Smirnov against direct resampling), with the mean and
    spread theory gives; no values: no means."""
    values = np.random.default_rng(0).choice([-1.0, 0.0, 1.0], size=n, p=[0.2, 0.5, 0.3])  # paired hit differences
    counted = cross_sell.bootstrap_means(values, 5_000, np.random.default_rng(5))
    resampled = values[np.random.default_rng(6).integers(0, n, size=(5_000, n))].mean(axis=1)
    assert stats.ks_2samp(counted, resampled).pvalue > 0.01
    spread = values.std() / np.sqrt(n)
    assert abs(counted.mean() - values.mean()) <= 4 * spread / np.sqrt(5_000) + 1e-12
    assert counted.std() == pytest.approx(spread, rel=0.05, abs=1e-12)
    assert np.isnan(cross_sell.bootstrap_means(np.array([]), 3, np.random.default_rng(5))).all()
