"""Weighted quantile bins: the bins scikit-learn's gradient boosting makes of weighted rows, from one sort."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from analysis.methods.weighted_bins import QuantileBins, weighted_thresholds


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features as the churn model's: counts with many ties, a continuous one with gaps, money with
    more than 255 distinct values, and missing values."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([
        rng.poisson(3.0, n).astype(float),
        rng.normal(size=n),
        rng.gamma(0.6, 400.0, n).round(2),
        rng.integers(0, 1_000, n).astype(float),
    ])
    X[rng.random(n) < 0.15, 1] = np.nan
    y = rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] - 3) / 2 + X[:, 3] / 1_000))
    return X, y


@pytest.mark.parametrize("seed", [0, 1])
def test_trees_on_the_bins_score_as_trees_on_the_weighted_values(seed):
    """The classifier fitted on the bin numbers scores new rows exactly as the classifier fitted on the
    values with the same weights (its own, slow, weighted binning)."""
    X, y = _rows(3_000, seed)
    # whole weights: the cumulative weight often meets a quantile's rank exactly, where the threshold is
    # the mean of two neighbours
    weights = np.random.default_rng(seed + 10).choice([1.0, 2.0, 3.0], size=len(y))
    new, _ = _rows(2_000, seed + 20)
    new += np.random.default_rng(seed + 30).uniform(-0.5, 0.5, new.shape) * [1, 0, 0.01, 1]  # between the values seen

    def classifier() -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=15, min_samples_leaf=20,
                                              early_stopping=False, monotonic_cst=[1, 0, 0, -1], random_state=0)

    on_values = classifier().fit(X, y, sample_weight=weights)
    bins = QuantileBins.of(X, weights)
    on_bins = classifier().fit(bins.transform(X), y, sample_weight=weights)
    assert len(bins.thresholds[2]) > 200  # quantiles, not midpoints, for the money column
    np.testing.assert_array_equal(on_bins.predict_proba(bins.transform(new)), on_values.predict_proba(new))


def test_a_value_goes_to_the_first_bin_whose_threshold_it_does_not_exceed():
    bins = QuantileBins((np.array([1.5, 2.5]),))
    values = np.array([[0.0], [1.5], [1.6], [2.5], [9.0], [np.nan]])
    np.testing.assert_array_equal(bins.transform(values)[:, 0], [0, 0, 1, 1, 2, np.nan])


def test_few_distinct_values_are_cut_at_their_midpoints_and_one_value_needs_no_cut():
    np.testing.assert_array_equal(weighted_thresholds(np.array([3.0, 1.0, 1.0, np.nan, 2.0]), np.ones(5)), [1.5, 2.5])
    assert weighted_thresholds(np.array([4.0, 4.0, np.nan]), np.ones(3)).size == 0


def test_weights_must_be_positive_and_one_per_row():
    with pytest.raises(ValueError, match="one positive weight per row"):
        QuantileBins.of(np.zeros((3, 1)), np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="one positive weight per row"):
        QuantileBins.of(np.zeros((3, 1)), np.ones(2))


@pytest.mark.parametrize(("n", "weights"), [(2_550, (1.0,)), (5_100, (0.5, 1.0)), (3_001, (0.7, 1.0, 1.9))])
def test_the_thresholds_are_those_scikit_learn_finds_for_weighted_rows(n, weights):
    """Against scikit-learn's own binning of weighted rows (its reference code, private: at or below
    200,000 rows it takes a weighted quantile per threshold). Totals that 255 divides make quantile
    ranks fall exactly on cumulative weights, where the threshold is the mean of two neighbours."""
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper

    X, _ = _rows(n, n)
    w = np.random.default_rng(n).choice(weights, size=n)
    expected = _BinMapper(n_bins=256).fit(X, sample_weight=w).bin_thresholds_
    for found, reference in zip(QuantileBins.of(X, w).thresholds, expected, strict=True):
        np.testing.assert_array_equal(found, reference)
