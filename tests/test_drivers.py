"""Driver importance: Johnson's weights against R's rwa, Shapley weights against brute force."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pandas as pd
import pytest

from analysis.frame import catalog
from analysis.i18n import render
from analysis.methods.drivers import (
    driver_importance,
    driver_importance_by_tier,
    importance_performance,
    relative_weights,
    shapley_r2,
)
from analysis.methods.satisfaction import SatisfactionArgumentError, reason
from analysis.report.localize import localize

# mtcars (Henderson & Velleman 1981; R datasets::mtcars): mpg, cyl, disp, hp, gear
MTCARS = pd.DataFrame(
    [
        ("Mazda RX4", 21.0, 6, 160.0, 110, 4),
        ("Mazda RX4 Wag", 21.0, 6, 160.0, 110, 4),
        ("Datsun 710", 22.8, 4, 108.0, 93, 4),
        ("Hornet 4 Drive", 21.4, 6, 258.0, 110, 3),
        ("Hornet Sportabout", 18.7, 8, 360.0, 175, 3),
        ("Valiant", 18.1, 6, 225.0, 105, 3),
        ("Duster 360", 14.3, 8, 360.0, 245, 3),
        ("Merc 240D", 24.4, 4, 146.7, 62, 4),
        ("Merc 230", 22.8, 4, 140.8, 95, 4),
        ("Merc 280", 19.2, 6, 167.6, 123, 4),
        ("Merc 280C", 17.8, 6, 167.6, 123, 4),
        ("Merc 450SE", 16.4, 8, 275.8, 180, 3),
        ("Merc 450SL", 17.3, 8, 275.8, 180, 3),
        ("Merc 450SLC", 15.2, 8, 275.8, 180, 3),
        ("Cadillac Fleetwood", 10.4, 8, 472.0, 205, 3),
        ("Lincoln Continental", 10.4, 8, 460.0, 215, 3),
        ("Chrysler Imperial", 14.7, 8, 440.0, 230, 3),
        ("Fiat 128", 32.4, 4, 78.7, 66, 4),
        ("Honda Civic", 30.4, 4, 75.7, 52, 4),
        ("Toyota Corolla", 33.9, 4, 71.1, 65, 4),
        ("Toyota Corona", 21.5, 4, 120.1, 97, 3),
        ("Dodge Challenger", 15.5, 8, 318.0, 150, 3),
        ("AMC Javelin", 15.2, 8, 304.0, 150, 3),
        ("Camaro Z28", 13.3, 8, 350.0, 245, 3),
        ("Pontiac Firebird", 19.2, 8, 400.0, 175, 3),
        ("Fiat X1-9", 27.3, 4, 79.0, 66, 4),
        ("Porsche 914-2", 26.0, 4, 120.3, 91, 5),
        ("Lotus Europa", 30.4, 4, 95.1, 113, 5),
        ("Ford Pantera L", 15.8, 8, 351.0, 264, 5),
        ("Ferrari Dino", 19.7, 6, 145.0, 175, 5),
        ("Maserati Bora", 15.0, 8, 301.0, 335, 5),
        ("Volvo 142E", 21.4, 4, 121.0, 109, 4),
    ],
    columns=["model", "mpg", "cyl", "disp", "hp", "gear"],
).set_index("model")
PREDICTORS = ["cyl", "disp", "hp", "gear"]


def _ols_r2(X: np.ndarray, y: np.ndarray) -> float:
    design = np.column_stack([np.ones(len(y)), X])
    fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
    return 1 - np.sum((y - fitted) ** 2) / np.sum((y - y.mean()) ** 2)


def _shapley_by_permutations(X: pd.DataFrame, y: pd.Series) -> np.ndarray:
    """Textbook Shapley value: the mean R² gain of each predictor over all k! entry orders."""
    k = X.shape[1]
    gains = np.zeros(k)
    orders = list(permutations(range(k)))
    for order in orders:
        before = 0.0
        for position, j in enumerate(order):
            after = _ols_r2(X.iloc[:, list(order[: position + 1])].to_numpy(), y.to_numpy())
            gains[j] += after - before
            before = after
    return gains / len(orders)


def test_mtcars_data_is_the_r_dataset():
    assert len(MTCARS) == 32
    assert MTCARS.loc["Mazda RX4"].tolist() == [21.0, 6, 160.0, 110, 4]
    assert MTCARS[["mpg", "cyl", "disp", "hp", "gear"]].sum().tolist() == pytest.approx(
        [642.9, 198, 7383.1, 4694, 118]
    )


def test_relative_weights_reproduce_the_rwa_mtcars_example():
    # rwa::rwa(mtcars, outcome = "mpg", predictors = c("cyl", "disp", "hp", "gear"))
    table = relative_weights(MTCARS[PREDICTORS], MTCARS["mpg"])
    assert table.attrs["r2"] == pytest.approx(0.7792, abs=5e-5)
    assert table.attrs["n"] == 32
    expected = {"cyl": 0.2285, "disp": 0.2221, "hp": 0.2322, "gear": 0.0964}
    for attribute, weight in expected.items():
        assert table.loc[attribute, "raw_weight"] == pytest.approx(weight, abs=5e-5)
    assert table["raw_weight"].sum() == pytest.approx(table.attrs["r2"])
    assert table["rescaled_pct"].sum() == pytest.approx(100)


def test_r2_is_the_ols_r2():
    expected = _ols_r2(MTCARS[PREDICTORS].to_numpy(), MTCARS["mpg"].to_numpy())
    assert relative_weights(MTCARS[PREDICTORS], MTCARS["mpg"]).attrs["r2"] == pytest.approx(
        expected
    )
    assert shapley_r2(MTCARS[PREDICTORS], MTCARS["mpg"]).attrs["r2"] == pytest.approx(expected)


def test_shapley_weights_on_mtcars_sum_to_r2_and_match_brute_force():
    table = shapley_r2(MTCARS[PREDICTORS], MTCARS["mpg"])
    assert table["shapley_weight"].sum() == pytest.approx(table.attrs["r2"])
    assert (table["shapley_weight"] > 0).all()
    brute = _shapley_by_permutations(MTCARS[PREDICTORS], MTCARS["mpg"])
    np.testing.assert_allclose(table["shapley_weight"].to_numpy(), brute, rtol=1e-10)


def test_shapley_and_johnson_agree_on_mtcars_up_to_near_ties():
    # cyl, disp and hp carry nearly equal weight (0.22–0.25 of 0.78) and the two methods order
    # those three differently; both put gear clearly last and the weights differ by < 0.025.
    shapley = shapley_r2(MTCARS[PREDICTORS], MTCARS["mpg"])["shapley_weight"]
    johnson = relative_weights(MTCARS[PREDICTORS], MTCARS["mpg"])["raw_weight"]
    assert shapley.idxmin() == johnson.idxmin() == "gear"
    np.testing.assert_allclose(shapley.to_numpy(), johnson.to_numpy(), atol=0.025)


def test_shapley_does_not_depend_on_column_order():
    forward = shapley_r2(MTCARS[PREDICTORS], MTCARS["mpg"])["shapley_weight"]
    backward = shapley_r2(MTCARS[PREDICTORS[::-1]], MTCARS["mpg"])["shapley_weight"]
    pd.testing.assert_series_equal(forward, backward.loc[forward.index])


def test_shapley_sums_to_r2_on_correlated_synthetic_ratings():
    rng = np.random.default_rng(11)
    common = rng.normal(size=300)
    X = pd.DataFrame({f"a{j}": common + rng.normal(size=300) for j in range(7)})
    y = X.to_numpy() @ np.linspace(0.1, 0.7, 7) + rng.normal(size=300)
    table = shapley_r2(X, pd.Series(y))
    assert table["shapley_weight"].sum() == pytest.approx(_ols_r2(X.to_numpy(), y))
    assert table["shapley_weight"].idxmax() == "a6"
    assert (
        table["shapley_weight"].corr(pd.Series(np.arange(7.0), index=X.columns), method="spearman")
        > 0.9
    )


def test_uncorrelated_predictors_get_their_squared_correlations_in_both_methods():
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(200, 2))
    raw -= raw.mean(axis=0)
    q, _ = np.linalg.qr(raw)  # exactly orthogonal, centred columns: zero correlation
    X = pd.DataFrame(q, columns=["x1", "x2"])
    y = pd.Series(2 * X["x1"] - X["x2"] + 0.05 * rng.normal(size=200))
    squared_r = X.corrwith(y) ** 2
    assert abs(np.corrcoef(X["x1"], X["x2"])[0, 1]) < 1e-12
    np.testing.assert_allclose(relative_weights(X, y)["raw_weight"], squared_r, atol=1e-12)
    np.testing.assert_allclose(shapley_r2(X, y)["shapley_weight"], squared_r, atol=1e-12)


def test_driver_importance_defaults_to_shapley_and_reports_both():
    table = driver_importance(MTCARS[PREDICTORS], MTCARS["mpg"])
    assert table.attrs["method"] == "shapley"
    assert table["attribute"].tolist() == ["cyl", "disp", "hp", "gear"]  # by Shapley share
    assert table["rank"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(table["importance_pct"], table["shapley_pct"])
    assert table["johnson_pct"].sum() == pytest.approx(100)
    assert (
        table["correlation"].iloc[:3] < 0
    ).all()  # heavier, bigger engines: fewer miles per gallon
    johnson = driver_importance(MTCARS[PREDICTORS], MTCARS["mpg"], method="johnson")
    assert johnson["attribute"].iloc[0] == "hp"


def test_constant_ratings_and_missing_answers_are_handled():
    X = MTCARS[PREDICTORS].assign(same=5.0)
    X.iloc[0, 0] = np.nan
    table = relative_weights(X, MTCARS["mpg"])
    assert table.attrs["n"] == 31 and table.attrs["constant_attributes"] == ["same"]
    assert np.isnan(table.loc["same", "raw_weight"])
    assert table["raw_weight"].sum() == pytest.approx(table.attrs["r2"])


def test_too_few_answers_give_an_empty_result_with_a_reason():
    table = driver_importance(MTCARS[PREDICTORS].iloc[:4], MTCARS["mpg"].iloc[:4])
    assert table.empty and render(reason(table), "en") == (
        "Only 4 complete answers, fewer than the number of attributes + 2 (6); "
        "the regression cannot be estimated."
    )
    assert render(reason(table), "zh") == "完整回答只有 4 份，少于属性数 + 2（6），无法估计回归。"
    empty = shapley_r2(MTCARS[[]], MTCARS["mpg"])
    assert empty.empty and render(reason(empty), "zh") == (
        "没有可用的属性评分（未配置或评分全部相同），无法计算驱动因素重要性。"
    )
    flat = relative_weights(MTCARS[PREDICTORS], MTCARS["mpg"] * 0 + 1)
    assert render(reason(flat), "en") == (
        "The outcome (overall satisfaction or recommendation) does not vary; "
        "driver importance cannot be computed."
    )


def test_more_than_twelve_attributes_fall_back_to_johnson():
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(120, 13)), columns=[f"a{j:02d}" for j in range(13)])
    y = pd.Series(X.sum(axis=1) + rng.normal(size=120))
    with pytest.raises(SatisfactionArgumentError, match="at most 12"):
        shapley_r2(X, y)
    table = driver_importance(X, y)
    assert table.attrs["method"] == "johnson"
    assert render(table.attrs["note"], "en") == (
        "13 attributes exceed 12; Johnson's relative weights are used instead of Shapley weights."
    )
    assert render(table.attrs["note"], "zh") == "属性有 13 个，超过 12 个，改用 Johnson 相对权重。"
    assert table["importance_pct"].sum() == pytest.approx(100)


def _answers_by_tier(sizes: dict[int, int], seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for tier, n in sizes.items():
        ratings = pd.DataFrame(
            rng.integers(1, 11, size=(n, 3)), columns=["quality", "speed", "price"]
        ).astype(float)
        weights = {1: [0.8, 0.1, 0.1], 2: [0.1, 0.1, 0.8]}[tier]
        overall = (ratings.to_numpy() @ weights + rng.normal(scale=0.5, size=n)).clip(1, 10)
        frames.append(
            ratings.assign(overall_satisfaction=overall, tier=tier, tier_name=f"Tier {tier}")
        )
    return pd.concat(frames, ignore_index=True)


def test_driver_importance_by_tier_finds_each_tiers_driver_and_skips_small_tiers():
    answers = _answers_by_tier({1: 150, 2: 150})
    table = driver_importance_by_tier(answers, ["quality", "speed", "price"], min_n=30)
    top = table[table["rank"] == 1].set_index("tier")["attribute"]
    assert top.to_dict() == {1: "quality", 2: "price"}
    assert table.attrs["skipped"] == []
    small = pd.concat(
        [answers, _answers_by_tier({2: 10}, seed=9).assign(tier=3, tier_name="Tier 3")]
    )
    table = driver_importance_by_tier(small, ["quality", "speed", "price"], min_n=30)
    assert sorted(table["tier"].unique()) == [1, 2]
    assert table["tier_name"].tolist()[:1] == ["Tier 1"]  # the answers' own tier names
    [skipped] = table.attrs["skipped"]
    assert (skipped["tier"], skipped["n"]) == (3, 10)
    assert render(skipped["reason"], "en", {3: "Small"}) == (
        "Small: 10 complete answers, fewer than 30; drivers not estimated."
    )
    assert render(skipped["reason"], "zh") == "第3层：完整回答 10 份，少于 30 份，未估计驱动因素。"
    none = driver_importance_by_tier(answers, ["quality", "speed", "price"], min_n=500)
    assert none.empty and len(none.attrs["skipped"]) == 2
    assert render(reason(none), "en") == (
        "No tier has at least 500 complete answers; drivers cannot be estimated per tier."
    )


def test_a_tier_whose_drivers_cannot_be_estimated_is_skipped_with_the_reason():
    answers = _answers_by_tier({1: 150, 2: 40})
    answers.loc[answers["tier"] == 2, "overall_satisfaction"] = 7.0  # no variation in tier 2
    table = driver_importance_by_tier(answers, ["quality", "speed", "price"], min_n=30)
    [skipped] = table.attrs["skipped"]
    assert render(skipped["reason"], "en", {2: "Mid"}) == (
        "Mid: The outcome (overall satisfaction or recommendation) does not vary; "
        "driver importance cannot be computed."
    )


def test_driver_importance_by_tier_without_surveys():
    table = driver_importance_by_tier(None, ["quality"])
    assert table.empty and render(reason(table), "en").startswith("No surveys")


def test_importance_performance_quadrants_hand_case():
    importance = pd.Series({"quality": 40.0, "speed": 30.0, "price": 20.0, "delivery": 10.0})
    performance = pd.Series(
        {"quality": 3.0, "speed": 4.5, "price": 4.8, "delivery": 3.2, "unrated": 4.0}
    )
    table = importance_performance(importance, performance).set_index("attribute")
    assert table.attrs["importance_split"] == pytest.approx(25.0)
    assert table.attrs["performance_split"] == pytest.approx(3.875)
    assert table["quadrant"].to_dict() == {
        "quality": "fix_first",
        "speed": "keep_up",
        "price": "possible_overkill",
        "delivery": "low_priority",
    }
    assert "label" not in table.columns  # the display labels the quadrant code
    output = catalog.IMPORTANCE_PERFORMANCE
    chinese = localize(table.reset_index(), "zh", output=output).set_index("attribute")
    assert chinese["quadrant"].to_dict() == {
        "quality": "优先改进",
        "speed": "继续保持",
        "price": "可能过度投入",
        "delivery": "次要改进",
    }
    english = localize(table.reset_index(), "en", output=output).set_index("attribute")
    assert (
        english.loc["quality", "quadrant"] == "fix first"
        and english.loc["price", "quadrant"] == "possible overkill"
    )


def test_importance_performance_without_overlap_explains_why():
    table = importance_performance(pd.Series({"a": 1.0}), pd.Series({"b": 2.0}))
    assert table.empty and render(reason(table), "en") == (
        "No attribute has both an importance and a performance score; "
        "importance–performance analysis cannot be done."
    )
