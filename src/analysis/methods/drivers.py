"""Drivers of satisfaction: how much each attribute rating accounts for overall satisfaction.

Two decompositions of the R² of a linear regression of the outcome (overall satisfaction or
likelihood to recommend) on the attribute ratings are offered; both split R² into non-negative
parts that add up to R², unlike standardised betas, which collinear ratings make unstable:

* :func:`shapley_r2` — general dominance weights (Budescu 1993; Azen & Budescu 2003), i.e. the
  Shapley value of each attribute in the game "R² of a subset of attributes" (Lipovetsky &
  Conklin 2001; the LMG measure in Grömping 2007). Exact over all 2^k subsets.
* :func:`relative_weights` — Johnson (2000) relative weights: regress the outcome on the closest
  orthogonal version of the attributes and map the weights back.

**Default: Shapley** (:func:`driver_importance` ``method="shapley"``). It is exact, does not depend
on the order of the attributes, and is the one decomposition that satisfies the Shapley axioms;
with the handful of attributes a survey asks (k ≤ 12, at most 4,096 subset regressions computed
from the correlation matrix) it takes milliseconds. Johnson's weights are a fast approximation that
usually agrees closely (LeBreton et al. 2004) but lacks a formal justification (Thomas et al. 2014);
:func:`driver_importance` reports both, so a reader can see they agree. With more than 12 attributes
the default falls back to Johnson's weights and says so.

Rows with a missing rating or outcome are left out (listwise deletion, as the R package ``rwa``
does); ``attrs["n"]`` records how many rows were used.

Importance–performance analysis (:func:`importance_performance`, Martilla & James 1977) places each
attribute in a quadrant split at the **means** of importance and of performance over the attributes
(the data-centred split of Bacon 2003), so the quadrants are relative to this survey's attributes.

Why something could not be estimated is a message (:func:`analysis.i18n.message`), rendered in the
reader's language at display time; quadrants are codes, labelled there too.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from math import factorial
from typing import Literal

import numpy as np
import pandas as pd

from analysis.i18n import Message, message, tier_ref
from analysis.methods.satisfaction import (
    TIER,
    TIER_NAME,
    SatisfactionArgumentError,
    empty_result,
    reason,
    unusable_reason,
)

MAX_SHAPLEY_PREDICTORS = 12
RELATIVE_WEIGHT_COLUMNS = ["raw_weight", "rescaled_pct"]
SHAPLEY_COLUMNS = ["shapley_weight", "rescaled_pct"]
IMPORTANCE_COLUMNS = [
    "attribute",
    "importance_pct",
    "rank",
    "shapley_weight",
    "shapley_pct",
    "johnson_weight",
    "johnson_pct",
    "correlation",
]
BY_TIER_COLUMNS = [TIER, TIER_NAME, "n", "r2", *IMPORTANCE_COLUMNS]
IPA_COLUMNS = [
    "attribute",
    "importance",
    "performance",
    "high_importance",
    "high_performance",
    "quadrant",
]


# ---------------------------------------------------------------------------------------------
# Data preparation


def _prepare(X: pd.DataFrame, y: pd.Series) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Complete cases as floats; columns without variation are set aside (their weight is NaN)."""
    if not X.index.equals(y.index):
        raise SatisfactionArgumentError(
            "X and y must share one index (one row per respondent); align them, e.g. with "
            "X = answers[attributes] and y = answers[target]."
        )
    numeric = X.apply(pd.to_numeric, errors="coerce").astype("float64")
    target = pd.to_numeric(y, errors="coerce").astype("float64")
    complete = numeric.notna().all(axis=1) & target.notna()
    numeric, target = numeric[complete], target[complete]
    constant = [c for c in numeric.columns if numeric[c].nunique() < 2]
    return numeric.drop(columns=constant), target, constant


def _why_not_estimable(X: pd.DataFrame, y: pd.Series) -> Message | None:
    k, n = X.shape[1], len(y)
    if k == 0:
        return message("drivers_no_attributes")
    if y.nunique() < 2:
        return message("drivers_no_variation")
    if n < k + 2:
        return message("drivers_too_few_answers", n=n, needed=k + 2)
    return None


def _correlations(X: pd.DataFrame, y: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Predictor correlation matrix R_xx and predictor–outcome correlations r_xy."""
    r = np.corrcoef(np.column_stack([X.to_numpy(), y.to_numpy()]), rowvar=False)
    return r[:-1, :-1], r[:-1, -1]


def _finish(
    table: pd.DataFrame, X: pd.DataFrame, constant: list[str], **attrs: object
) -> pd.DataFrame:
    """Add back set-aside constant columns (NaN weights) in the input order and record attrs."""
    table = table.reindex([*X.columns, *constant])
    table.index.name = "attribute"
    table.attrs.update(attrs, constant_attributes=constant)
    return table


def _not_estimable(columns: list[str], why: Message) -> pd.DataFrame:
    table = empty_result(columns, why)
    table.index.name = "attribute"
    return table


# ---------------------------------------------------------------------------------------------
# Johnson's relative weights


def relative_weights(X: pd.DataFrame, y: pd.Series) -> pd.DataFrame:
    """Johnson (2000) relative weights of the columns of ``X`` for ``y``.

    With R_xx = V Λ V' the eigen-decomposition of the predictors' correlation matrix, the
    orthogonal counterparts Z of X have loadings ``L = R_xx^{1/2} = V Λ^{1/2} V'``; the outcome's
    weights on Z are ``β = L⁻¹ r_xy``, and the raw weight of predictor j is
    ``ε_j = Σ_k L_jk² β_k²``. The raw weights add up to ``R² = β'β``;
    ``rescaled_pct = 100 ε_j / R²``.
    This is the computation of the R package ``rwa`` (Chan, 2020).

    Johnson, J. W. (2000). A heuristic method for estimating the relative weight of predictor
    variables in multiple regression. *Multivariate Behavioral Research*, 35(1), 1–19.

    Returns
    -------
    DataFrame
        Index ``attribute``; ``raw_weight``, ``rescaled_pct``. ``attrs``: ``r2``, ``n``,
        ``method = "johnson"``, ``constant_attributes``. Empty with ``attrs["reason"]`` when the
        weights cannot be estimated.
    """
    Xc, yc, constant = _prepare(X, y)
    why = _why_not_estimable(Xc, yc)
    if why is not None:
        return _not_estimable(RELATIVE_WEIGHT_COLUMNS, why)
    r_xx, r_xy = _correlations(Xc, yc)
    eigenvalues, vectors = np.linalg.eigh(r_xx)
    loadings = vectors @ np.diag(np.sqrt(np.clip(eigenvalues, 0, None))) @ vectors.T
    beta = np.linalg.pinv(loadings) @ r_xy  # pinv: exactly collinear ratings leave L singular
    raw = (loadings**2) @ (beta**2)
    r2 = float(beta @ beta)
    table = pd.DataFrame({"raw_weight": raw, "rescaled_pct": 100 * raw / r2}, index=Xc.columns)
    return _finish(table, Xc, constant, r2=r2, n=len(yc), method="johnson")


# ---------------------------------------------------------------------------------------------
# Shapley decomposition of R² (general dominance)


def subset_r2(r_xx: np.ndarray, r_xy: np.ndarray) -> np.ndarray:
    """R² of the regression on every subset of predictors, indexed by bit mask.

    ``out[m]`` is the R² of the predictors whose bits are set in ``m`` (bit j = column j):
    ``R²_S = r_S' R_SS⁻¹ r_S``, from correlations alone. Subsets of one size are solved as one
    stacked linear system.
    """
    k = len(r_xy)
    out = np.zeros(2**k)
    for size in range(1, k + 1):
        members = np.array(list(combinations(range(k), size)))
        r_ss = r_xx[members[:, :, None], members[:, None, :]]
        r_s = r_xy[members]
        try:
            beta = np.linalg.solve(r_ss, r_s[..., None])[..., 0]
        except np.linalg.LinAlgError:  # exactly collinear predictors in some subset
            beta = (np.linalg.pinv(r_ss) @ r_s[..., None])[..., 0]
        masks = (1 << members).sum(axis=1)
        out[masks] = np.einsum("ij,ij->i", beta, r_s)
    return np.clip(out, 0.0, 1.0)


def shapley_values(r2_by_mask: np.ndarray, k: int) -> np.ndarray:
    """Shapley value of each of ``k`` players in the game ``v(S) = r2_by_mask[S]``.

    ``φ_j = Σ_{S ⊆ N∖{j}} |S|! (k − |S| − 1)! / k! · [v(S ∪ {j}) − v(S)]``; for R² this is the
    general dominance weight (Budescu 1993), and ``Σ_j φ_j = v(N)``.
    """
    masks = np.arange(2**k)
    size = np.bitwise_count(masks)
    weight = np.array(
        [factorial(s) * factorial(k - s - 1) / factorial(k) if s < k else 0.0 for s in range(k + 1)]
    )
    values = np.empty(k)
    for j in range(k):
        without = masks[(masks >> j) & 1 == 0]
        values[j] = np.sum(
            weight[size[without]] * (r2_by_mask[without | (1 << j)] - r2_by_mask[without])
        )
    return values


def shapley_r2(X: pd.DataFrame, y: pd.Series) -> pd.DataFrame:
    """General dominance weights: the exact Shapley decomposition of R² over all 2^k subsets.

    Each attribute's weight is its R² gain when added to a subset of the other attributes,
    averaged first within each subset size and then over sizes (:func:`shapley_values`). The
    weights are non-negative for R², add up to the full model's R², and do not depend on the order
    of the attributes.

    Budescu, D. V. (1993). Dominance analysis: a new approach to the problem of relative importance
    of predictors in multiple regression. *Psychological Bulletin*, 114(3), 542–551.
    Grömping, U. (2007). Estimators of relative importance in linear regression based on variance
    decomposition. *The American Statistician*, 61(2), 139–147 (the LMG measure).

    Returns
    -------
    DataFrame
        Index ``attribute``; ``shapley_weight``, ``rescaled_pct`` (= 100 weight / R²). ``attrs``:
        ``r2``, ``n``, ``method = "shapley"``, ``constant_attributes``.

    Raises
    ------
    SatisfactionArgumentError
        With more than 12 usable attributes (2^k subset regressions); use
        :func:`relative_weights` there.
    """
    Xc, yc, constant = _prepare(X, y)
    if Xc.shape[1] > MAX_SHAPLEY_PREDICTORS:
        raise SatisfactionArgumentError(
            f"shapley_r2 takes at most {MAX_SHAPLEY_PREDICTORS} attributes, got {Xc.shape[1]}; "
            "use relative_weights, or driver_importance, which falls back to it."
        )
    why = _why_not_estimable(Xc, yc)
    if why is not None:
        return _not_estimable(SHAPLEY_COLUMNS, why)
    k = Xc.shape[1]
    r2_by_mask = subset_r2(*_correlations(Xc, yc))
    values = shapley_values(r2_by_mask, k)
    r2 = float(r2_by_mask[-1])
    table = pd.DataFrame(
        {"shapley_weight": values, "rescaled_pct": 100 * values / r2}, index=Xc.columns
    )
    return _finish(table, Xc, constant, r2=r2, n=len(yc), method="shapley")


# ---------------------------------------------------------------------------------------------
# The default and its per-tier version


def driver_importance(
    X: pd.DataFrame, y: pd.Series, *, method: Literal["shapley", "johnson"] = "shapley"
) -> pd.DataFrame:
    """Importance of each attribute for ``y``: Shapley weights by default, Johnson's alongside.

    Returns
    -------
    DataFrame
        One row per attribute, most important first: ``importance_pct`` (share of R² in %, from
        ``method``), ``rank``, both methods' weights and % shares, and the plain ``correlation``
        with ``y`` (a negative one means a rating that goes *against* the outcome). ``attrs``:
        ``r2``, ``n``, ``method`` (the one used), ``constant_attributes`` and ``note`` (a message)
        when Shapley was replaced by Johnson's weights because there are more than 12 attributes.
    """
    if method not in ("shapley", "johnson"):
        raise SatisfactionArgumentError(f"method must be 'shapley' or 'johnson', got {method!r}.")
    johnson = relative_weights(X, y)
    if reason(johnson) is not None:
        return empty_result(IMPORTANCE_COLUMNS, reason(johnson))
    usable = X.shape[1] - len(johnson.attrs["constant_attributes"])
    note = None
    if usable > MAX_SHAPLEY_PREDICTORS:
        shapley = pd.DataFrame(np.nan, index=johnson.index, columns=SHAPLEY_COLUMNS)
        if method == "shapley":
            method = "johnson"
            note = message("drivers_johnson_instead", n=usable, limit=MAX_SHAPLEY_PREDICTORS)
    else:
        shapley = shapley_r2(X, y)
    Xc, yc, _ = _prepare(X, y)
    table = pd.DataFrame(
        {
            "shapley_weight": shapley["shapley_weight"],
            "shapley_pct": shapley["rescaled_pct"],
            "johnson_weight": johnson["raw_weight"],
            "johnson_pct": johnson["rescaled_pct"],
            "correlation": Xc.corrwith(yc).reindex(johnson.index),
        }
    )
    table["importance_pct"] = table["shapley_pct" if method == "shapley" else "johnson_pct"]
    table = table.sort_values(
        ["importance_pct"], ascending=False, kind="mergesort", na_position="last"
    )
    table["rank"] = table["importance_pct"].rank(ascending=False, method="min").astype("Int64")
    table = table.rename_axis("attribute").reset_index()[IMPORTANCE_COLUMNS]
    table["attribute"] = table["attribute"].astype("string")
    table.attrs.update(
        r2=johnson.attrs["r2"],
        n=johnson.attrs["n"],
        method=method,
        constant_attributes=johnson.attrs["constant_attributes"],
        note=note,
    )
    return table


def driver_importance_by_tier(
    surveys_with_tier: pd.DataFrame | None,
    attributes: Sequence[str],
    target: str = "overall_satisfaction",
    *,
    min_n: int = 30,
    method: Literal["shapley", "johnson"] = "shapley",
) -> pd.DataFrame:
    """:func:`driver_importance` within each tier (long table: one row per tier and attribute).

    A tier with fewer than ``min_n`` complete answers (all ``attributes`` and ``target`` present),
    or whose drivers cannot be estimated, is skipped: ``attrs["skipped"]`` lists
    ``{"tier", "n", "reason"}`` for each, the reason a message naming the tier. When no tier can be
    estimated the table is empty with ``attrs["reason"]``. ``tier_name`` is the answers' own
    (missing without one).
    """
    if min_n < 2:
        raise SatisfactionArgumentError(f"min_n must be at least 2, got {min_n}.")
    why = unusable_reason(surveys_with_tier, "surveys", [TIER, target, *attributes])
    if why is not None:
        table = empty_result(BY_TIER_COLUMNS, why)
        table.attrs["skipped"] = []
        return table
    parts, skipped = [], []
    for tier, answers in surveys_with_tier.groupby(TIER, sort=True):
        complete = answers[[*attributes, target]].notna().all(axis=1)
        n = int(complete.sum())
        name = answers[TIER_NAME].iloc[0] if TIER_NAME in answers else pd.NA
        if n < min_n:
            why = message("drivers_tier_too_few", tier=tier_ref(tier), n=n, min_n=min_n)
            skipped.append({TIER: int(tier), "n": n, "reason": why})
            continue
        importance = driver_importance(answers[list(attributes)], answers[target], method=method)
        if reason(importance) is not None:
            why = message("drivers_tier_not_estimable", tier=tier_ref(tier), why=reason(importance))
            skipped.append({TIER: int(tier), "n": n, "reason": why})
            continue
        parts.append(
            importance.assign(
                **{
                    TIER: int(tier),
                    TIER_NAME: name,
                    "n": importance.attrs["n"],
                    "r2": importance.attrs["r2"],
                }
            )
        )
    if not parts:
        table = empty_result(BY_TIER_COLUMNS, message("drivers_no_tier_estimable", min_n=min_n))
    else:
        table = pd.concat(parts, ignore_index=True)[BY_TIER_COLUMNS]
        table = table.astype({TIER: "Int64", TIER_NAME: "string"})
        table.attrs.pop("reason", None)
    table.attrs["skipped"] = skipped
    return table


# ---------------------------------------------------------------------------------------------
# Importance–performance analysis


def importance_performance(importance: pd.Series, performance: pd.Series) -> pd.DataFrame:
    """Importance–performance quadrants (Martilla & James 1977), split at the means.

    An attribute is of *high importance* when its importance is at or above the mean importance
    of the attributes, and of *high performance* when its mean rating is at or above the mean of
    the attributes' mean ratings (Bacon 2003's data-centred split). Quadrants:

    ============== ================ =====================
    importance     performance      ``quadrant``
    ============== ================ =====================
    high           low              fix_first
    high           high             keep_up
    low            high             possible_overkill
    low            low              low_priority
    ============== ================ =====================

    The display labels a quadrant with the text ``drivers_quadrant_<quadrant>`` (e.g. "fix first").

    Parameters
    ----------
    importance
        Per attribute (index), e.g.
        ``driver_importance(...).set_index("attribute")["importance_pct"]``.
    performance
        Per attribute, the mean rating (e.g. ``answers[attributes].mean()``).

    Returns
    -------
    DataFrame
        One row per attribute present in both (with values), in ``importance``'s order.
        ``attrs``: ``importance_split``, ``performance_split``.
    """
    both = pd.concat(
        {"importance": importance, "performance": performance}, axis=1, join="inner"
    ).dropna()
    if both.empty:
        return empty_result(IPA_COLUMNS, message("drivers_ipa_no_overlap"))
    importance_split = float(both["importance"].mean())
    performance_split = float(both["performance"].mean())
    high_importance = both["importance"] >= importance_split
    high_performance = both["performance"] >= performance_split
    quadrant = np.select(
        [
            high_importance & ~high_performance,
            high_importance & high_performance,
            ~high_importance & high_performance,
        ],
        ["fix_first", "keep_up", "possible_overkill"],
        default="low_priority",
    )
    table = both.assign(
        high_importance=high_importance,
        high_performance=high_performance,
        quadrant=pd.Series(quadrant, index=both.index, dtype="string"),
    )
    table = table.rename_axis("attribute").reset_index()[IPA_COLUMNS]
    table.attrs.update(importance_split=importance_split, performance_split=performance_split)
    return table
