"""The churn classifier's trees scored by QuickScorer: scikit-learn's probabilities to the bit, in a third of its time.

``HistGradientBoostingClassifier.predict_proba`` walks every tree for every row, a node at a time: a
chain of dependent loads and hard-to-predict branches. At 10M transaction rows stage 4 scores 1.5M
rows (the validation window and everybody at the period's end) through 150 trees, its largest piece
of work. QuickScorer (Lucchese, Nardini, Orlando, Perego, Tonellotto & Venturini 2015, "QuickScorer:
a fast algorithm to rank documents with additive ensembles of regression trees", SIGIR '15) turns
the walk around: per feature, every tree's splits on it sorted by threshold; a row's value passes
the splits it sends right in one forward scan, each clearing the leaves of that split's left branch
from its tree's set of possible leaves; the exit leaf of each tree is the leftmost leaf left.

Exact: a row reaches the leaf scikit-learn's walk reaches (the same test, ``value <= threshold``
goes left, and a missing value goes the way its split sends missing values), the leaves' values are
added in the trees' order from the baseline, as scikit-learn adds them, and the probability is the
estimator's own link of that sum. ``tests/test_tree_scores.py`` checks it to the bit.

Kept to what the churn model fits: one tree per iteration (two classes), numeric splits, at most
:data:`MAX_LEAVES` leaves a tree; :meth:`QuickScorer.of` gives None for any other model, which
then keeps scikit-learn's own scoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from analysis.methods.cores import in_threads, usable_cores

#: The most leaves a tree may have: a tree's possible leaves are the bits of one 64-bit word.
MAX_LEAVES = 64
#: Fewer rows than this are scored by scikit-learn: loading the compiled kernel (numba) costs more than it saves.
MIN_ROWS = 50_000
_ALL_LEAVES = np.uint64(2**64 - 1)
#: A de Bruijn sequence: the top 6 bits of ``bit * _DE_BRUIJN`` differ for each single ``bit`` of a word,
#: so that :data:`_BIT_NUMBER` gives its number in one multiplication (the exit leaf of a tree).
_DE_BRUIJN = 0x03F79D71B4CB0A89
_BIT_NUMBER = np.zeros(64, dtype=np.int64)
for _bit in range(64):
    _BIT_NUMBER[(((1 << _bit) * _DE_BRUIJN) % 2**64) >> 58] = _bit


@dataclass(frozen=True)
class QuickScorer:
    """A fitted ``HistGradientBoostingClassifier``'s trees, as QuickScorer's arrays.

    Every split of every tree, grouped by feature (``starts``) and sorted by threshold within one:
    its ``thresholds``, ``trees``, ``masks`` (the leaves that stay possible when a row goes right:
    all but those of the split's left branch) and ``missing_right`` (a missing value goes right).
    ``leaf_values``: each tree's leaves left to right.
    """

    starts: np.ndarray
    thresholds: np.ndarray
    trees: np.ndarray
    masks: np.ndarray
    missing_right: np.ndarray
    leaf_values: np.ndarray
    baseline: float
    link: Callable[[np.ndarray], np.ndarray]

    @classmethod
    def of(cls, estimator: Any) -> QuickScorer | None:
        """The scorer of ``estimator`` (fitted), or None when it is not a model this scorer reproduces."""
        predictors = getattr(estimator, "_predictors", None)
        if not predictors or estimator.n_trees_per_iteration_ != 1:
            return None
        trees = [predictor.nodes for (predictor,) in predictors]
        if any(nodes["is_categorical"].any() or nodes["is_leaf"].sum() > MAX_LEAVES for nodes in trees):
            return None
        splits: list[tuple[int, float, int, int, bool]] = []
        leaf_values = np.zeros((len(trees), MAX_LEAVES))
        for number, nodes in enumerate(trees):
            leaves, tree_splits = _leaves_and_splits(nodes)
            leaf_values[number, : len(leaves)] = nodes["value"][leaves]
            splits += [(feature, threshold, number, mask, missing_right)
                       for feature, threshold, mask, missing_right in tree_splits]
        n_features = int(estimator.n_features_in_)
        splits.sort(key=lambda split: (split[0], split[1]))
        features = np.array([s[0] for s in splits], dtype=np.int64)
        return cls(
            starts=np.searchsorted(features, np.arange(n_features + 1)).astype(np.int64),
            thresholds=np.array([s[1] for s in splits], dtype=np.float64),
            trees=np.array([s[2] for s in splits], dtype=np.int64),
            masks=np.array([s[3] for s in splits], dtype=np.uint64),
            missing_right=np.array([s[4] for s in splits], dtype=np.bool_),
            leaf_values=leaf_values,
            baseline=float(np.asarray(estimator._baseline_prediction).reshape(-1)[0]),
            link=estimator._loss.predict_proba,
        )

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``estimator.predict_proba(X)``: one row per row of ``X``, a column per class. The rows are
        shared by the usable cores, each scoring its own range."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        raw = np.empty(len(X))
        bounds = np.linspace(0, len(X), usable_cores() + 1).astype(np.int64)
        kernel = _kernel()  # compiled or loaded once, before the threads

        def score(rows: slice) -> None:
            kernel(X[rows], self.starts, self.thresholds, self.trees, self.masks, self.missing_right,
                   self.leaf_values, self.baseline, raw[rows])

        for _ in in_threads(score, [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]):
            pass
        # scikit-learn's link takes its raw scores as one column per tree of an iteration
        return self.link(raw.reshape(-1, 1))


def _leaves_and_splits(nodes: np.ndarray) -> tuple[list[int], list[tuple[int, float, int, bool]]]:
    """The tree's leaves left to right (node 0 is the root), and each split's feature, threshold, mask
    (the leaves a row going right can still reach: every leaf but those of the left branch, which are
    consecutive from left to right) and whether missing values go right."""
    leaves: list[int] = []
    first_leaf = np.zeros(len(nodes), dtype=np.int64)  # the node's leftmost leaf, as a leaf number
    count = np.zeros(len(nodes), dtype=np.int64)  # the leaves under the node
    stack: list[tuple[int, bool]] = [(0, False)]
    while stack:  # left branch first, and a node after its children
        node, children_done = stack.pop()
        left, right = int(nodes["left"][node]), int(nodes["right"][node])
        if nodes["is_leaf"][node]:
            first_leaf[node], count[node] = len(leaves), 1
            leaves.append(node)
        elif children_done:
            first_leaf[node], count[node] = first_leaf[left], count[left] + count[right]
        else:
            stack += [(node, True), (right, False), (left, False)]
    everything = (1 << len(leaves)) - 1
    splits = []
    for node in np.flatnonzero(~nodes["is_leaf"].astype(bool)):
        left = int(nodes["left"][node])
        left_leaves = ((1 << int(count[left])) - 1) << int(first_leaf[left])
        splits.append((int(nodes["feature_idx"][node]), float(nodes["num_threshold"][node]),
                       everything & ~left_leaves, not nodes["missing_go_to_left"][node]))
    return leaves, splits


@cache
def _kernel():
    """The compiled kernel, compiled (or loaded from numba's cache beside this file) on first use."""
    import numba

    return numba.njit(cache=True, nogil=True)(_raw_scores)


def _raw_scores(X, starts, thresholds, trees, masks, missing_right, leaf_values, baseline, out):
    """``out[i]``: the baseline plus each tree's exit leaf value for row ``i``, in the trees' order.

    Plain loops over scalars, for numba: the body of :meth:`QuickScorer.predict_proba`.
    """
    n_trees = leaf_values.shape[0]
    possible = np.empty(n_trees, dtype=np.uint64)
    zero, de_bruijn, shift = np.uint64(0), np.uint64(_DE_BRUIJN), np.uint64(58)
    for i in range(X.shape[0]):
        possible[:] = _ALL_LEAVES
        for feature in range(starts.size - 1):
            value = X[i, feature]
            j, end = starts[feature], starts[feature + 1]
            if value != value:  # missing: the splits that send missing values right
                for k in range(j, end):
                    if missing_right[k]:
                        possible[trees[k]] &= masks[k]
            else:  # the splits this value goes right at: the thresholds below it
                while j < end and value > thresholds[j]:
                    possible[trees[j]] &= masks[j]
                    j += 1
        total = baseline
        for t in range(n_trees):
            leaves = possible[t]
            leftmost = leaves & (zero - leaves)  # the lowest bit: the leftmost possible leaf, the exit leaf
            total += leaf_values[t, _BIT_NUMBER[(leftmost * de_bruijn) >> shift]]  # multiplied modulo 2**64
        out[i] = total
