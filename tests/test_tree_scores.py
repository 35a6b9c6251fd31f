"""QuickScorer gives scikit-learn's HistGradientBoostingClassifier probabilities to the bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from analysis.methods import churn, tree_scores
from analysis.methods.tree_scores import MAX_LEAVES, QuickScorer


def features(n: int, seed: int) -> np.ndarray:
    """Churn-like features: counts, days, amounts, a few missing in every column."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([
        rng.poisson(3, n).astype(float),  # counts: many ties
        rng.integers(0, 720, n).astype(float),  # days
        rng.lognormal(5, 1, n),  # amounts
        rng.normal(0, 1, n),
        rng.integers(0, 2, n).astype(float),  # a flag
    ])
    X[rng.random(X.shape) < 0.08] = np.nan
    return X


def labels(X: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    signal = 0.3 * np.nan_to_num(X[:, 0]) - 0.004 * np.nan_to_num(X[:, 1], nan=400) + np.nan_to_num(X[:, 3])
    return rng.random(len(X)) < 1 / (1 + np.exp(-signal))


def fitted(X: np.ndarray, y: np.ndarray, **options) -> HistGradientBoostingClassifier:
    settings = {"max_iter": 60, "max_leaf_nodes": 15, "min_samples_leaf": 20, "early_stopping": False,
                "random_state": 0} | options
    return HistGradientBoostingClassifier(**settings).fit(X, y)


def at_thresholds(estimator: HistGradientBoostingClassifier, n: int, seed: int) -> np.ndarray:
    """Rows whose values are the splits' own thresholds (and the values beside them): the ``<=`` edge."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, estimator.n_features_in_))
    for feature in range(X.shape[1]):
        thresholds = np.concatenate([
            nodes["num_threshold"][~nodes["is_leaf"].astype(bool) & (nodes["feature_idx"] == feature)]
            for (predictor,) in estimator._predictors for nodes in [predictor.nodes]
        ])
        edges = np.concatenate([thresholds, np.nextafter(thresholds, np.inf), np.nextafter(thresholds, -np.inf),
                                [np.nan, np.inf, -np.inf]])
        X[:, feature] = rng.choice(edges, n)
    return X


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"max_leaf_nodes": MAX_LEAVES, "min_samples_leaf": 2},  # trees of 64 leaves: every bit of the word
        {"monotonic_cst": [1, -1, 0, 1, 0]},  # as the churn model fits
        {"max_leaf_nodes": 2, "learning_rate": 0.5},
    ],
)
def test_probabilities_are_scikit_learns_to_the_bit(options):
    X = features(6_000, seed=1)
    estimator = fitted(X, labels(X, seed=2), **options)
    scorer = QuickScorer.of(estimator)
    assert scorer is not None
    for rows in (features(5_001, seed=3), at_thresholds(estimator, 5_000, seed=4), X[:1]):
        np.testing.assert_array_equal(scorer.predict_proba(rows), estimator.predict_proba(rows))
    assert scorer.predict_proba(X[:0]).shape == (0, 2)


def test_trees_that_are_one_leaf_score_their_leaf():
    X = features(500, seed=5)
    estimator = fitted(X, labels(X, seed=6), min_samples_leaf=400)  # no split leaves both sides 400 rows
    assert all(predictor.nodes["is_leaf"].all() for (predictor,) in estimator._predictors)
    np.testing.assert_array_equal(QuickScorer.of(estimator).predict_proba(X), estimator.predict_proba(X))


def test_models_it_does_not_reproduce_keep_scikit_learns_scoring():
    X = features(3_000, seed=7)
    y = labels(X, seed=8)
    categorical = X.copy()
    categorical[:, 4] = np.nan_to_num(categorical[:, 4])
    assert QuickScorer.of(fitted(categorical, y, categorical_features=[4])) is None
    assert QuickScorer.of(fitted(X, np.digitize(X[:, 3], [-0.5, 0.5]))) is None  # three classes: a tree each
    assert QuickScorer.of(fitted(X, y, max_leaf_nodes=MAX_LEAVES + 1, min_samples_leaf=2)) is None
    assert QuickScorer.of(HistGradientBoostingClassifier()) is None  # not fitted


def test_the_churn_model_scores_many_rows_by_quickscorer_with_the_classifiers_probabilities(monkeypatch):
    """ChurnModel.predict_proba takes QuickScorer from MIN_ROWS rows on, with the classifier's scores,
    the weighted fit's bins included; below them the classifier scores."""
    from tests.test_churn import END, simulate

    transactions = simulate(n=2_500, seed=5)
    model = churn.ChurnModel(horizon_days=180, random_state=0, max_training_customers=1_000).fit(transactions, END)
    assert model.bins_ is not None  # the sampled, weighted fit: scored on bin numbers
    rows = pd.concat([model.validation_] * 3, ignore_index=True)
    expected = model.estimator_.predict_proba(model._binned(rows[model.feature_names_].to_numpy(dtype="float64")))[:, 1]
    used = []
    monkeypatch.setattr(tree_scores.QuickScorer, "predict_proba",
                        lambda self, X, original=QuickScorer.predict_proba: used.append(len(X)) or original(self, X))
    monkeypatch.setattr(churn, "MIN_ROWS", len(rows))
    np.testing.assert_array_equal(model.predict_proba(rows), expected)
    assert sum(used) == len(rows)
    used.clear()
    np.testing.assert_array_equal(model.predict_proba(rows.iloc[1:]), expected[1:])
    assert not used
