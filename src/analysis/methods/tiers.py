"""Customer tiers: six ways to place every customer in an ordered tier (tier 1 = best).

One entry point, :func:`assign_tiers`, takes the per-customer table (``customers.parquet``) and a
method name; it returns a :class:`TierAssignment` with the tier number of every customer and the rule
as applied, as facts: the method, its cut-offs or bounds per tier, features, weights and the tier
sizes. A rule is cut-offs, not prose: the report words it in the reader's language
(:mod:`analysis.report.tier_rules`). Tier names are the analyst's (``tiering.names``) or the locale
files' defaults (:func:`tier_names`); stage 3 stores them beside the rule.

Methods
-------
``rfm``
    Bands on the RFM score (r + f + m, 3–15; Hughes 1994, *Strategic Database Marketing*). Cut-offs
    are lower bounds from the options, or chosen among the observed scores so that the tiers come
    closest to target customer shares. Equal scores always share a tier.
``clv``
    Predicted customer lifetime value: absolute lower bounds, or ranks (e.g. top 20 %, next 30 %,
    rest; Kumar & Reinartz 2018, *Customer Relationship Management*, ch. 2, value-based segments).
``pareto``
    ABC / Pareto analysis (Juran): customers sorted by value; the smallest group whose cumulative
    share of the total reaches 80 % is tier 1, the next up to 95 % tier 2, and so on.
``threshold``
    Business rules on any column, one ``{"column", "min", "max"}`` per tier, ``min <= x < max``
    (e.g. a bank's deposits: ≥ 2亿 → 1, 5000万–2亿 → 2, below → 3). Every customer must match exactly
    one rule.
``kmeans``
    k-means (Lloyd 1982; scikit-learn ``KMeans``) on standardised signed ``log1p`` features; the
    clusters are ranked by the mean of a value column.
``composite``
    A weighted value score of percentile ranks: contribution (historic value), potential (CLV or
    CLV above historic value) and loyalty (P(alive) × tenure percentile), cut by customer shares.

Determinism: the table is sorted by ``customer_id`` before any computation, ranks break ties by
``customer_id``, and k-means gets a fixed ``n_init`` and ``random_state``; the result does not
depend on row order.

Options
-------
``options`` holds method keys (see :data:`OPTION_KEYS`); a top-level key applies to every method
that accepts it, and one sub-dict per method name (``{"clv": {...}, "threshold": {...}}``) adds
keys for that method only, so one params section serves both :func:`assign_tiers` and
:func:`sensitivity` (see :func:`method_options`).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from analysis.i18n import TEXTS, Message, joined, message, text
from analysis.methods.codes import sorted_text

METHODS: tuple[str, ...] = ("rfm", "clv", "pareto", "threshold", "kmeans", "composite")

#: The option keys each method accepts.
OPTION_KEYS: dict[str, tuple[str, ...]] = {
    "rfm": ("column", "cutoffs", "shares", "allow_empty"),
    "clv": ("column", "cutoffs", "shares", "allow_empty"),
    "pareto": ("column", "value_shares"),
    "threshold": ("rules", "missing_tier", "allow_empty"),
    "kmeans": ("features", "negate", "value_column", "n_init"),
    "composite": ("weights", "contribution", "potential", "loyalty", "shares"),
}

#: Default share of customers per tier (best first) for the rank- and quantile-based methods.
DEFAULT_SHARES: dict[int, tuple[float, ...]] = {
    2: (0.2, 0.8),
    3: (0.2, 0.3, 0.5),
    4: (0.1, 0.2, 0.3, 0.4),
    5: (0.1, 0.15, 0.25, 0.25, 0.25),
}

#: Default cumulative value shares closing each tier but the last, for ``pareto``.
DEFAULT_VALUE_SHARES: dict[int, tuple[float, ...]] = {
    2: (0.8,),
    3: (0.8, 0.95),
    4: (0.8, 0.95, 0.99),
    5: (0.8, 0.9, 0.95, 0.99),
}

DEFAULT_KMEANS_FEATURES: tuple[str, ...] = ("frequency", "revenue", "days_since_last", "clv")
DEFAULT_WEIGHTS: dict[str, float] = {"contribution": 0.4, "potential": 0.4, "loyalty": 0.2}
KMEANS_N_INIT = 10


class TieringError(ValueError):
    """Tiers cannot be assigned as asked: the message names the method, the column or cut-off and the fix."""


@dataclass
class TierAssignment:
    """The tier of every customer and the rule that placed them.

    Attributes
    ----------
    tier : pd.Series
        Tier number 1..n (1 = best), index aligned to the input table.
    rule : dict
        ``method``, ``n_tiers``, the tier ``sizes`` and ``shares``, and the method's facts: the
        cut-offs actually used (per tier, best first), target shares, rules, features, weights…;
        plain Python values, ready for JSON (:func:`analysis.report.tier_rules.rule_text` words it).
    score : pd.Series or None
        The value the tiers are ordered by (RFM score, CLV, composite score, …), where one exists.
    """

    tier: pd.Series
    rule: dict[str, Any]
    score: pd.Series | None = field(default=None)


@dataclass
class _Placement:
    """What a method returns, on the table sorted by customer_id."""

    tier: np.ndarray
    details: dict[str, Any]
    score: np.ndarray | None = None


# ---------------------------------------------------------------------------------------------
# Names and options


def tier_names(n_tiers: int, language: str, names: dict[str, list[str]] | None = None) -> list[str]:
    """The tier names of one locale, best tier first: the analyst's ``names[language]`` (``tiering.names``)
    or the locale file's defaults.

    Tier names are the run's data, kept per language in tiering.json; the defaults are the texts
    ``tiers_name_<n_tiers>_<tier>`` (3 tiers: High/Mid/Low value; 4: High-value, Potential, Ordinary,
    Low-value; 5: Class A–E), and ``tier_default_name`` (Tier k) for a tier count without them.
    """
    chosen = (names or {}).get(language)
    if chosen is not None:
        chosen = [str(n) for n in chosen]
        if len(chosen) != n_tiers:
            raise TieringError(
                f"tier names {chosen} give {len(chosen)} name(s) for {n_tiers} tiers; "
                f"give exactly {n_tiers} names (tiering.names.{language} in the params)"
            )
        if len(set(chosen)) != n_tiers:
            raise TieringError(f"tier names {chosen} repeat a name; give each tier its own name")
        return chosen
    return [_default_name(n_tiers, tier, language) for tier in range(1, n_tiers + 1)]


def _default_name(n_tiers: int, tier: int, language: str) -> str:
    key = f"tiers_name_{n_tiers}_{tier}"
    return text(key, language) if key in TEXTS else text("tier_default_name", language, tier=tier)


def method_options(options: dict[str, Any] | None, method: str) -> dict[str, Any]:
    """The options of one method: the shared top-level keys it accepts plus its own sub-dict.

    A top-level key that is not a method name is shared: it applies to every method that accepts it
    (so ``shares`` set for ``clv`` also shapes ``composite`` in :func:`sensitivity`, and ``rules``
    does not stop ``rfm``). A key no method accepts, or an unknown key in a method's own sub-dict,
    is an error naming it.
    """
    options = dict(options or {})
    nested = {m: options.pop(m) or {} for m in METHODS if m in options}
    known = {key for keys in OPTION_KEYS.values() for key in keys}
    for key in options:
        if key not in known:
            raise TieringError(
                f"tiering.options: unknown key '{key}'; {_suggest(key, sorted(known))}"
            )
    for name, sub in nested.items():
        if not isinstance(sub, dict):
            raise TieringError(
                f"tiering.options.{name} must be a mapping of option keys, got {sub!r}"
            )
        for key in sub:
            if key not in OPTION_KEYS[name]:
                raise TieringError(
                    f"tiering.options.{name}: unknown key '{key}' for method '{name}'; "
                    f"{_suggest(key, list(OPTION_KEYS[name]))}"
                )
    own = nested.get(method, {})
    shared = {k: v for k, v in options.items() if k in OPTION_KEYS[method]}
    return shared | own


def _suggest(key: str, allowed: list[str]) -> str:
    guess = difflib.get_close_matches(key, allowed, n=1)
    return f"did you mean '{guess[0]}'?" if guess else f"allowed keys: {', '.join(allowed)}"


def _plain(value: Any) -> Any:
    """numpy scalars and arrays to plain Python, for JSON."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# ---------------------------------------------------------------------------------------------
# Input checks and the canonical order


def _canonical(customers: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The table sorted by customer_id (reset index) and, for each sorted row, its input position."""
    if "customer_id" not in customers.columns:
        raise TieringError(
            "the customers table has no 'customer_id' column; it is required to tier customers"
        )
    ids = customers["customer_id"]
    if ids.isna().any():
        raise TieringError(
            f"customer_id is missing in {int(ids.isna().sum())} row(s) of the customers table; "
            "drop or fix those rows before tiering"
        )
    text = ids.astype("string")
    positions, _, run_starts = sorted_text(text)
    positions = positions.astype(np.intp)
    if not run_starts.all():
        dupes = text[text.duplicated(keep=False)]
        raise TieringError(
            f"customer_id repeats in the customers table ({dupes.nunique()} id(s), e.g. "
            f"{sorted(dupes.unique())[:5]}); it must hold one row per customer"
        )
    if (positions == np.arange(len(positions))).all():  # stage 2 writes the table in id order
        return customers.reset_index(drop=True), positions
    return customers.iloc[positions].reset_index(drop=True), positions


def _numeric(
    frame: pd.DataFrame, column: str, method: str, *, allow_missing: bool = False
) -> np.ndarray:
    if column not in frame.columns:
        raise TieringError(
            f"method '{method}' needs the column '{column}', which the customers table lacks; "
            f"available columns: {', '.join(map(str, frame.columns))}"
        )
    try:
        values = pd.to_numeric(frame[column], errors="raise").astype("float64").to_numpy()
    except (TypeError, ValueError) as exc:
        raise TieringError(
            f"method '{method}': column '{column}' holds non-numeric values ({exc}); clean it first"
        ) from None
    missing = np.isnan(values)
    if missing.any() and not allow_missing:
        examples = frame.loc[missing, "customer_id"].head(5).tolist()
        raise TieringError(
            f"method '{method}': column '{column}' is missing for {int(missing.sum())} customer(s) "
            f"(e.g. {examples}); fill it or drop those customers before tiering"
        )
    return values


def _shares(options: dict[str, Any], n_tiers: int, method: str) -> list[float]:
    """Customer shares per tier, best first, summing to 1 (an n−1 list leaves the rest to the last tier)."""
    raw = options.get("shares")
    if raw is None:
        if n_tiers not in DEFAULT_SHARES:
            raise TieringError(
                f"method '{method}' has no default shares for {n_tiers} tiers; "
                f"set tiering.options.shares to {n_tiers} shares (best tier first) summing to 1"
            )
        return list(DEFAULT_SHARES[n_tiers])
    shares = [float(s) for s in raw]
    if len(shares) == n_tiers - 1 and sum(shares) < 1:
        shares.append(1.0 - sum(shares))
    if len(shares) != n_tiers or any(s <= 0 for s in shares) or abs(sum(shares) - 1) > 1e-6:
        raise TieringError(
            f"method '{method}': shares {raw} must be {n_tiers} positive customer shares (best tier "
            f"first) summing to 1, e.g. {list(DEFAULT_SHARES.get(n_tiers, [1 / n_tiers] * n_tiers))}"
        )
    return shares


def _lower_bounds(raw: Any, n_tiers: int, method: str) -> list[float]:
    """n−1 distinct lower bounds, sorted from the best tier down."""
    bounds = sorted((float(c) for c in raw), reverse=True)
    if len(bounds) != n_tiers - 1 or len(set(bounds)) != len(bounds):
        raise TieringError(
            f"method '{method}': cutoffs {list(raw)} must be {n_tiers - 1} distinct lower bounds for "
            f"{n_tiers} tiers (tier 1: value ≥ the highest bound; the last tier: below the lowest)"
        )
    return bounds


def _tier_from_bounds(values: np.ndarray, bounds: list[float]) -> np.ndarray:
    """Tier = 1 + number of lower bounds the value falls below."""
    return 1 + (values[:, None] < np.asarray(bounds)[None, :]).sum(axis=1)


def _cut_ranks(
    values: np.ndarray, shares: list[float], method: str
) -> tuple[np.ndarray, list[float]]:
    """Rank by value (highest first, ties by customer_id) and cut the ranks by customer shares; the
    tiers and the lowest value in each tier but the last (the value ranked just above each cut).

    Tier sizes are round(cumulative share × n) differences, each at least one customer.
    """
    n, k = len(values), len(shares)
    if n < k:
        raise TieringError(
            f"method '{method}': {n} customer(s) cannot fill {k} tiers; use fewer tiers"
        )
    ends = np.rint(np.cumsum(shares)[:-1] * n).astype(int)
    for j in range(k - 1):
        lowest = (ends[j - 1] if j else 0) + 1
        highest = n - (k - 1 - j)
        ends[j] = min(max(ends[j], lowest), highest)
    return _tiers_at_ranks(values, ends)


def _tiers_at_ranks(values: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """1 + how many of the rank cuts ``ends`` (increasing, 1 … n − 1) a customer's rank reaches, the
    rank by value, highest first, ties by position (the table is sorted by customer_id already); and
    the value ranked just above each cut (the lowest value of the tier it ends; 0.0 for −0.0).

    Without a full sort: the values ranked at and just above each cut are found by partitions
    (:func:`_order_statistics`); customers below a cut's value are past it, and so are its ties
    beyond the places left above it.
    """
    n = len(values)
    ends = np.asarray(ends, dtype=int)
    if np.isnan(values).any():  # ranks of missing values: last, as a stable sort puts them
        order = np.argsort(-values, kind="stable")
        tier = np.empty(n, dtype=int)
        tier[order] = np.searchsorted(ends, np.arange(n), side="right") + 1
        return tier, [float(values[order[end - 1]]) + 0.0 for end in ends]
    if not len(ends):
        return np.ones(n, dtype=int), []
    negated = -values  # ascending negated values = descending values
    ranks = np.unique(np.concatenate([ends - 1, ends]))
    ranked = dict(zip(ranks.tolist(), _order_statistics(negated, ranks), strict=True))
    tier = np.ones(n, dtype=np.min_scalar_type(len(ends) + 1))  # counted in bytes: a pass per cut
    for end in ends.tolist():
        at_cut = ranked[end]
        past = negated > at_cut
        tier += past
        ties = np.flatnonzero(negated == at_cut)
        places_left = end - (n - int(np.count_nonzero(past)) - ties.size)  # less those of higher value
        tier[ties[places_left:]] += 1
    return tier.astype(int), [float(-ranked[end - 1]) + 0.0 for end in ends.tolist()]


def _order_statistics(values: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """``numpy.partition(values, ranks)[ranks]`` for distinct rising ``ranks``: one partition per rank,
    from the highest, each of the values ahead of the rank partitioned before it (numpy's partition at
    several ranks at once took four times as long: at 840,854 customers and six ranks, 11 ms against 2.6)."""
    work = values.copy()
    found = np.empty(len(ranks), dtype=values.dtype)
    stop = len(values)
    for i in range(len(ranks) - 1, -1, -1):
        part = work[:stop]
        part.partition(ranks[i])
        found[i] = part[ranks[i]]
        stop = ranks[i]
    return found


def _bounds_for_shares(values: np.ndarray, shares: list[float], method: str) -> list[float]:
    """Lower bounds among the observed values whose tiers come closest to the target shares.

    Equal values stay in one tier, so the shares are met as nearly as the distinct values allow.
    """
    distinct = np.unique(values)[::-1]
    k, n = len(shares), len(values)
    if len(distinct) < k:
        raise TieringError(
            f"method '{method}': only {len(distinct)} distinct value(s) ({list(distinct)}) for "
            f"{k} tiers, so some tier would be empty; use fewer tiers or another method"
        )
    at_or_above = n - np.searchsorted(np.sort(values), distinct, side="left")
    targets = np.cumsum(shares)[:-1] * n
    picks: list[int] = []
    for j, target in enumerate(targets):
        lowest = picks[-1] + 1 if picks else 0
        highest = len(distinct) - k + j
        candidates = np.arange(lowest, highest + 1)
        picks.append(int(candidates[np.argmin(np.abs(at_or_above[candidates] - target))]))
    # each pick is the lowest value admitted to its tier, i.e. the tier's lower bound
    return [float(distinct[p]) for p in picks]


# ---------------------------------------------------------------------------------------------
# The six methods (each works on the table sorted by customer_id)


def _bands(
    frame: pd.DataFrame,
    n_tiers: int,
    options: dict[str, Any],
    method: str,
    default_column: str,
    rank_when_quantiles: bool,
) -> _Placement:
    column = options.get("column", default_column)
    return _bands_of(_numeric(frame, column, method), n_tiers, options, method, column, rank_when_quantiles)


def _bands_of(
    values: np.ndarray, n_tiers: int, options: dict[str, Any], method: str, column: str, rank_when_quantiles: bool
) -> _Placement:
    if options.get("cutoffs") is not None:
        bounds = _lower_bounds(options["cutoffs"], n_tiers, method)
        tier, source = _tier_from_bounds(values, bounds), "params"
        shares = None
    elif rank_when_quantiles:
        shares = _shares(options, n_tiers, method)
        tier, bounds = _cut_ranks(values, shares, method)
        source = "ranks"
    else:
        shares = _shares(options, n_tiers, method)
        bounds = _bounds_for_shares(values, shares, method)
        tier, source = _tier_from_bounds(values, bounds), "quantiles"
    details = {
        "column": column,
        "cutoffs": bounds,
        "cutoff_source": source,
        "target_shares": shares,
    }
    return _Placement(tier, details, values)


def _tiers_rfm(frame: pd.DataFrame, n_tiers: int, options: dict[str, Any], seed: int) -> _Placement:
    """Bands on ``rfm_score``: tier t holds bound_t ≤ score < bound_{t−1} (Hughes 1994)."""
    return _bands(frame, n_tiers, options, "rfm", "rfm_score", rank_when_quantiles=False)


def _value_column(options: dict[str, Any]) -> str:
    """The column ``clv`` and ``pareto`` place customers by: the CLV unless ``column`` names another."""
    return options.get("column", "clv")


def _tiers_clv(frame: pd.DataFrame, n_tiers: int, options: dict[str, Any], seed: int) -> _Placement:
    """Absolute CLV lower bounds, or rank shares (top 20 %, next 30 %, rest)."""
    return _tiers_clv_of(_numeric(frame, _value_column(options), "clv"), n_tiers, options)


def _tiers_clv_of(values: np.ndarray, n_tiers: int, options: dict[str, Any]) -> _Placement:
    return _bands_of(values, n_tiers, options, "clv", _value_column(options), rank_when_quantiles=True)


def _tiers_pareto(
    frame: pd.DataFrame, n_tiers: int, options: dict[str, Any], seed: int
) -> _Placement:
    """Tier t: the fewest next customers (by value, descending) whose cumulative share reaches s_t.

    With sorted values v_(1) ≥ v_(2) ≥ …, tier 1 ends at the first rank i with
    Σ_{j≤i} v_(j) / Σ v ≥ s_1. A tier whose share is already reached takes one customer, so none is
    empty. Negative values count as 0 (they cannot add to a share of the total).
    """
    return _tiers_pareto_of(_numeric(frame, _value_column(options), "pareto"), n_tiers, options)


def _tiers_pareto_of(raw: np.ndarray, n_tiers: int, options: dict[str, Any]) -> _Placement:
    column = _value_column(options)
    values = np.clip(raw, 0, None)
    total = values.sum()
    if total <= 0:
        raise TieringError(
            f"method 'pareto': the total of '{column}' is {total:g}; use a column with positive values"
        )
    value_shares = [
        float(s) for s in options.get("value_shares", DEFAULT_VALUE_SHARES.get(n_tiers, ()))
    ]
    if (
        len(value_shares) != n_tiers - 1
        or any(not 0 < s < 1 for s in value_shares)
        or any(b <= a for a, b in pairwise(value_shares))
    ):
        raise TieringError(
            f"method 'pareto': value_shares {value_shares} must be {n_tiers - 1} increasing cumulative "
            f"shares between 0 and 1 for {n_tiers} tiers, e.g. {list(DEFAULT_VALUE_SHARES.get(n_tiers, (0.8, 0.95)))}"
        )
    n = len(values)
    order = np.lexsort((np.arange(n), -values))
    cumulative = np.cumsum(values[order]) / total
    ends: list[int] = []
    for s in value_shares:
        reach = int(np.searchsorted(cumulative, s - 1e-12, side="left")) + 1
        ends.append(max(reach, (ends[-1] if ends else 0) + 1))
    if ends[-1] >= n:
        raise TieringError(
            f"method 'pareto': with value_shares {value_shares} the customers run out before tier "
            f"{n_tiers} ({n} customers); use fewer tiers or lower shares"
        )
    tier = np.empty(n, dtype=int)
    tier[order] = np.searchsorted(np.asarray(ends), np.arange(n), side="right") + 1
    reached = [float(cumulative[e - 1]) for e in ends]
    customer_shares = [e / n for e in ends]
    bounds = [float(values[order][e - 1]) for e in ends]
    details = {
        "column": column,
        "value_shares": value_shares,
        "reached_value_shares": reached,
        "cumulative_customer_shares": customer_shares,
        "cutoffs": bounds,
        "negative_values_as_zero": int((raw < 0).sum()),
    }
    return _Placement(tier, details, raw)


def _tiers_threshold(
    frame: pd.DataFrame, n_tiers: int, options: dict[str, Any], seed: int
) -> _Placement:
    """Tier t holds the customers with ``min_t <= column_t < max_t``; each must match exactly one rule.

    Customers with no value in a rule column match no rule; ``missing_tier`` gives them a tier.
    """
    rules = _threshold_rules(options.get("rules"), n_tiers, frame)
    missing_tier = _missing_tier(options.get("missing_tier"), n_tiers)
    columns = sorted({r["column"] for r in rules})
    values = {c: _numeric(frame, c, "threshold", allow_missing=True) for c in columns}
    if len(columns) == 1:
        _check_rule_intervals(rules)
    matches = np.column_stack(
        [(values[r["column"]] >= r["min"]) & (values[r["column"]] < r["max"]) for r in rules]
    )
    count = matches.sum(axis=1)
    tier = np.argmax(matches, axis=1) + 1
    missing = np.column_stack([np.isnan(values[c]) for c in columns]).any(axis=1)
    if missing_tier is not None:
        unplaced = (count == 0) & missing
        tier, count = np.where(unplaced, missing_tier, tier), np.where(unplaced, 1, count)
    _raise_unless_one_match(frame, columns, rules, count, missing.any())
    details = {
        "rules": [
            {
                "column": r["column"],
                "min": _finite_or_none(r["min"]),
                "max": _finite_or_none(r["max"]),
            }
            for r in rules
        ],
        "missing_tier": missing_tier,
        "missing_values": int(missing.sum()),
    }
    score = values[columns[0]] if len(columns) == 1 else None
    return _Placement(tier, details, score)


def _missing_tier(raw: Any, n_tiers: int) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, (int, np.integer)) or not 1 <= raw <= n_tiers:
        raise TieringError(f"threshold: missing_tier {raw!r} must be a tier number 1..{n_tiers}")
    return int(raw)


def _raise_unless_one_match(
    frame: pd.DataFrame,
    columns: list[str],
    rules: list[dict[str, Any]],
    count: np.ndarray,
    any_missing: bool,
) -> None:
    """Every customer must match exactly one rule: list counts and examples of those that do not."""
    problems = []
    for mask, what in ((count == 0, "match no rule"), (count > 1, "match more than one rule")):
        if mask.any():
            examples = frame.loc[mask, ["customer_id", *columns]].head(5).to_dict(orient="records")
            problems.append(f"{int(mask.sum())} customer(s) {what}, e.g. {examples}")
    if problems:
        hint = (
            "; set tiering.options.missing_tier for customers without a value"
            if any_missing
            else ""
        )
        raise TieringError(
            f"threshold rules {_rules_text(rules)}: {'; '.join(problems)}. Make the rules "
            f"cover every value exactly once (min inclusive, max exclusive){hint}"
        )


def _rules_text(rules: list[dict[str, Any]]) -> str:
    """The rules as an error message shows them: ``[tier 1: balance ≥ 200,000,000, …]``."""

    def one(rule: dict[str, Any]) -> str:
        column, low, high = rule["column"], f"{rule['min']:,.15g}", f"{rule['max']:,.15g}"
        if np.isinf(rule["min"]) and np.isinf(rule["max"]):
            return f"any {column}"
        if np.isinf(rule["max"]):
            return f"{column} ≥ {low}"
        if np.isinf(rule["min"]):
            return f"{column} < {high}"
        return f"{low} ≤ {column} < {high}"

    return "[" + ", ".join(f"tier {t}: {one(r)}" for t, r in enumerate(rules, start=1)) + "]"


def _threshold_rules(raw: Any, n_tiers: int, frame: pd.DataFrame) -> list[dict[str, Any]]:
    if not isinstance(raw, (list, tuple)) or len(raw) != n_tiers:
        raise TieringError(
            f"method 'threshold' needs tiering.options.rules: a list of {n_tiers} rules, one per tier "
            "from the best, each {column, min, max}, e.g. [{column: balance, min: 2.0e8}, "
            "{column: balance, min: 5.0e7, max: 2.0e8}, {column: balance, max: 5.0e7}]"
        )
    rules = []
    for t, rule in enumerate(raw, start=1):
        if (
            not isinstance(rule, dict)
            or "column" not in rule
            or set(rule) - {"column", "min", "max"}
        ):
            raise TieringError(
                f"threshold rule for tier {t} ({rule!r}) must have 'column' and optional 'min', 'max' only"
            )
        if rule["column"] not in frame.columns:
            raise TieringError(
                f"threshold rule for tier {t}: column '{rule['column']}' is not in the customers table"
            )
        low = -np.inf if rule.get("min") is None else float(rule["min"])
        high = np.inf if rule.get("max") is None else float(rule["max"])
        if not low < high:
            raise TieringError(
                f"threshold rule for tier {t}: min {low:g} must be below max {high:g}"
            )
        rules.append({"column": str(rule["column"]), "min": low, "max": high})
    return rules


def _finite_or_none(x: float) -> float | None:
    return None if math.isinf(x) else float(x)


def _check_rule_intervals(rules: list[dict[str, Any]]) -> None:
    """Rules on one column must tile the range they span: no gap, no overlap between neighbours."""
    ordered = sorted(enumerate(rules, start=1), key=lambda tr: (tr[1]["min"], tr[1]["max"]))
    issues = []
    for (ta, a), (tb, b) in pairwise(ordered):
        if a["max"] < b["min"]:
            issues.append(
                f"gap: values from {a['max']:,.6g} to under {b['min']:,.6g} match no tier "
                f"(tier {ta} ends at {a['max']:,.6g}, tier {tb} starts at {b['min']:,.6g})"
            )
        elif a["max"] > b["min"]:
            issues.append(
                f"overlap: values from {b['min']:,.6g} to under {min(a['max'], b['max']):,.6g} "
                f"match both tier {ta} and tier {tb}"
            )
    if issues:
        raise TieringError(
            f"threshold rules on '{rules[0]['column']}' "
            + "; ".join(issues)
            + ". Make each tier's max equal the next lower tier's min (min inclusive, max exclusive)"
        )


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _has_distinct_rows(x: np.ndarray, k: int, head: int = 10_000) -> bool:
    """Whether ``x`` has at least ``k`` distinct rows: its first rows usually show it, without sorting
    every row (0.9 s for a million customers)."""
    return len(np.unique(x[:head], axis=0)) >= k or len(np.unique(x, axis=0)) >= k


def _tiers_kmeans(
    frame: pd.DataFrame, n_tiers: int, options: dict[str, Any], seed: int
) -> _Placement:
    """k-means on z-scores of sign(x)·log(1+|x|) features; clusters ranked by mean value.

    The log tames the right skew of money and counts; ``negate`` flips features where less is better
    (days since last purchase) so that every axis points the same way.
    """
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    features = list(options.get("features", DEFAULT_KMEANS_FEATURES))
    negate = list(options.get("negate", ["days_since_last"]))
    value_column = options.get("value_column", "clv")
    n_init = int(options.get("n_init", KMEANS_N_INIT))
    if not features or len(set(features)) != len(features):
        raise TieringError(
            f"method 'kmeans': features {features} must be a non-empty list without repeats"
        )
    raw = np.column_stack([_numeric(frame, f, "kmeans") for f in features])
    signs = np.array([-1.0 if f in negate else 1.0 for f in features])
    x = StandardScaler().fit_transform(_signed_log1p(raw) * signs)
    if not _has_distinct_rows(x, n_tiers):
        distinct = len(np.unique(x, axis=0))
        raise TieringError(
            f"method 'kmeans': only {distinct} distinct customer profile(s) in {features} for "
            f"{n_tiers} clusters; use fewer tiers or more features"
        )
    # one thread: the same labels on every machine (no thread-count-dependent float sums), and no
    # oversubscription slow-down on shared hosts
    with threadpool_limits(limits=1):
        labels = KMeans(n_clusters=n_tiers, n_init=n_init, random_state=seed).fit_predict(x)
    value = _numeric(frame, value_column, "kmeans")
    means = np.array([value[labels == c].mean() for c in range(n_tiers)])
    ranking = np.lexsort((np.arange(n_tiers), -means))  # cluster ids best first
    tier_of_cluster = np.empty(n_tiers, dtype=int)
    tier_of_cluster[ranking] = np.arange(1, n_tiers + 1)
    tier = tier_of_cluster[labels]
    profile = {
        int(t): {f: float(raw[tier == t, i].mean()) for i, f in enumerate(features)}
        | {f"{value_column}_mean": float(value[tier == t].mean())}
        for t in range(1, n_tiers + 1)
    }
    details = {
        "features": features,
        "negated": [f for f in features if f in negate],
        "value_column": value_column,
        "n_init": n_init,
        "random_state": seed,
        "cluster_means": profile,
        "cutoffs": None,
    }
    return _Placement(tier, details, value)


def _percentile(values: np.ndarray) -> np.ndarray:
    """Percentile rank in (0, 1]: average rank / n (ties share their mean rank)."""
    return pd.Series(values).rank(method="average", pct=True).to_numpy()


def _column_empty(frame: pd.DataFrame, column: str) -> bool:
    """True when ``column`` exists but holds no value (e.g. P(alive) of a run without BG/NBD)."""
    return column in frame.columns and bool(frame[column].isna().all())


def _composite_weights(raw: Any) -> dict[str, float]:
    weights = dict(DEFAULT_WEIGHTS if raw is None else raw)
    unknown = set(weights) - set(DEFAULT_WEIGHTS)
    if unknown:
        raise TieringError(
            f"composite weights: unknown component(s) {sorted(unknown)}; use contribution, potential, loyalty"
        )
    weights = {k: float(weights.get(k, 0.0)) for k in DEFAULT_WEIGHTS}
    if (
        any(not math.isfinite(w) or w < 0 for w in weights.values())
        or abs(sum(weights.values()) - 1) > 1e-6
    ):
        raise TieringError(
            f"composite weights {weights} must be non-negative and sum to 1 (they sum to "
            f"{sum(weights.values()):g}); e.g. {DEFAULT_WEIGHTS}"
        )
    return weights


def _tiers_composite(
    frame: pd.DataFrame, n_tiers: int, options: dict[str, Any], seed: int
) -> _Placement:
    """score = w_c·pct(contribution) + w_p·pct(potential) + w_l·pct(loyalty), cut by customer shares.

    contribution = historic value; potential = CLV (``potential: clv``, default) or
    max(CLV − historic value, 0) (``potential: uplift``); loyalty = P(alive) × pct(tenure_days)
    (``loyalty: p_alive_tenure``, default; pct(tenure_days) alone when P(alive) is missing for
    every customer, as in a run where BG/NBD could not be fitted) or any column. pct is the
    percentile rank, so the components share one scale whatever their units (value-based
    segmentation, Kumar & Reinartz 2018).
    """
    weights = _composite_weights(options.get("weights"))
    contribution_col = options.get("contribution")
    if contribution_col is None:
        contribution_col = "historic_value" if "historic_value" in frame.columns else "revenue"
    contribution = _numeric(frame, contribution_col, "composite")
    potential_kind = options.get("potential", "clv")
    clv = _numeric(frame, "clv", "composite")
    if potential_kind == "clv":
        potential = clv
    elif potential_kind == "uplift":
        potential = np.clip(clv - contribution, 0, None)
    else:
        raise TieringError(
            f"composite potential '{potential_kind}' is unknown; use 'clv' or 'uplift'"
        )
    loyalty_kind = str(options.get("loyalty", "p_alive_tenure"))
    if loyalty_kind == "p_alive_tenure" and _column_empty(frame, "p_alive"):
        loyalty_kind = "tenure_days"  # no P(alive) when BG/NBD could not be fitted: tenure alone
    if loyalty_kind == "p_alive_tenure":
        loyalty = _numeric(frame, "p_alive", "composite") * _percentile(
            _numeric(frame, "tenure_days", "composite")
        )
    else:
        loyalty = _numeric(frame, loyalty_kind, "composite")
    score = (
        weights["contribution"] * _percentile(contribution)
        + weights["potential"] * _percentile(potential)
        + weights["loyalty"] * _percentile(loyalty)
    )
    shares = _shares(options, n_tiers, "composite")
    tier, bounds = _cut_ranks(score, shares, "composite")
    details = {
        "weights": weights,
        "contribution": contribution_col,
        "potential": potential_kind,
        "loyalty": loyalty_kind,
        "target_shares": shares,
        "cutoffs": bounds,
    }
    return _Placement(tier, details, score)


_METHOD_FUNCS: dict[str, Callable[[pd.DataFrame, int, dict[str, Any], int], _Placement]] = {
    "rfm": _tiers_rfm,
    "clv": _tiers_clv,
    "pareto": _tiers_pareto,
    "threshold": _tiers_threshold,
    "kmeans": _tiers_kmeans,
    "composite": _tiers_composite,
}

#: The methods whose tiers follow from the values of their column (:func:`_value_column`) alone: each
#: placed from that vector (in customer_id order, none missing) without the table, as tier
#: probabilities do per draw; their frame functions above read the column and call these.
_VALUE_FUNCS: dict[str, Callable[[np.ndarray, int, dict[str, Any]], _Placement]] = {
    "clv": _tiers_clv_of,
    "pareto": _tiers_pareto_of,
}


# ---------------------------------------------------------------------------------------------
# Entry points


def assign_tiers(
    customers: pd.DataFrame,
    method: str,
    *,
    n_tiers: int = 4,
    options: dict[str, Any] | None = None,
    seed: int = 0,
) -> TierAssignment:
    """Place every customer in tier 1 (best) .. ``n_tiers`` with the chosen method.

    Parameters
    ----------
    customers : pd.DataFrame
        One row per customer, with ``customer_id`` and the columns the method needs.
    method : {"rfm", "clv", "pareto", "threshold", "kmeans", "composite"}
        See the module docstring for each method's rule and source.
    n_tiers : int
        Number of tiers (≥ 2).
    options : dict, optional
        The method's options (:data:`OPTION_KEYS`); may nest one sub-dict per method.
    seed : int
        ``random_state`` of k-means; the other methods are deterministic without it.

    Raises
    ------
    TieringError
        Unknown method or option, missing column or value, or a tier that would stay empty.
    """
    if method not in METHODS:
        guess = difflib.get_close_matches(str(method), METHODS, n=1)
        raise TieringError(
            f"tiering method '{method}' is unknown; use one of {', '.join(METHODS)}"
            + (f" (did you mean '{guess[0]}'?)" if guess else "")
        )
    if not isinstance(n_tiers, (int, np.integer)) or n_tiers < 2:
        raise TieringError(f"n_tiers must be an integer ≥ 2, got {n_tiers!r}")
    opts = method_options(options, method)
    frame, positions = _canonical(customers)
    placement = _METHOD_FUNCS[method](frame, int(n_tiers), opts, seed)
    sizes = np.bincount(placement.tier, minlength=n_tiers + 1)[1:]
    allow_empty = bool(opts.get("allow_empty", False))
    if (sizes == 0).any() and not allow_empty:
        empty = [int(t) for t in np.flatnonzero(sizes == 0) + 1]
        raise TieringError(
            f"method '{method}' leaves tier(s) {empty} empty with cut-offs "
            f"{_plain(placement.details.get('cutoffs') or placement.details.get('rules'))} "
            f"(tier sizes {sizes.tolist()}); change the cut-offs or use fewer tiers"
            + ("" if method not in ("rfm", "clv", "threshold") else ", or set allow_empty: true")
        )
    tier_input_order = np.empty(len(frame), dtype="int64")
    tier_input_order[positions] = placement.tier
    tier = pd.Series(tier_input_order, index=customers.index, name="tier")
    score = None
    if placement.score is not None:
        ordered = np.empty(len(frame), dtype="float64")
        ordered[positions] = placement.score
        score = pd.Series(ordered, index=customers.index, name="tier_score")
    rule = {
        "method": method,
        "n_tiers": int(n_tiers),
        "sizes": sizes.tolist(),
        "shares": (sizes / sizes.sum()).tolist(),
        **_plain(placement.details),
    }
    return TierAssignment(tier=tier, rule=rule, score=score)


class Agreement(NamedTuple):
    """Cross-tabulation of two tierings and the share of customers that keep or change tier."""

    table: pd.DataFrame
    same_share: float
    changed_share: float


def agreement_table(tier_a: pd.Series, tier_b: pd.Series) -> Agreement:
    """Crosstab of two tier assignments of the same customers (aligned on the index).

    ``same_share`` = share of customers with the same tier number in both; ``changed_share`` = 1 −
    ``same_share``. Rows are ``tier_a``'s tiers, columns ``tier_b``'s; every tier of either appears.
    """
    if len(tier_a) != len(tier_b) or not tier_a.index.sort_values().equals(
        tier_b.index.sort_values()
    ):
        raise TieringError(
            f"agreement_table needs two tierings of the same customers (same index); got {len(tier_a)} "
            f"and {len(tier_b)} rows with different indexes"
        )
    if len(tier_a) == 0:
        raise TieringError("agreement_table got no customers")
    b = tier_b.reindex(tier_a.index)
    levels = sorted(set(tier_a.unique()) | set(b.unique()))
    table = pd.crosstab(
        pd.Categorical(tier_a.to_numpy(), categories=levels),
        pd.Categorical(b.to_numpy(), categories=levels),
        rownames=[tier_a.name or "tier_a"],
        colnames=[tier_b.name or "tier_b"],
        dropna=False,
    )
    same = float((tier_a.to_numpy() == b.to_numpy()).mean())
    return Agreement(table=table, same_share=same, changed_share=1.0 - same)


def sensitivity(
    customers: pd.DataFrame,
    methods: list[str],
    n_tiers: int = 4,
    options: dict[str, Any] | None = None,
    seed: int = 0,
    *,
    skip_failing: bool = False,
) -> pd.DataFrame:
    """Pairwise agreement rates (share of customers in the same tier) between tiering methods.

    ``options`` may hold one sub-dict per method (see :func:`method_options`). The result is a
    symmetric methods × methods table with 1 on the diagonal: low values mean the choice of method
    moves many customers, so the report should state which method was used and why.

    With ``skip_failing`` a method that cannot tier these customers (a :class:`TieringError`, e.g.
    fewer distinct profiles than k-means clusters) is left out instead of raising; ``attrs["skipped"]``
    maps each such method to its error message. When fewer than two methods remain the table is
    empty (no rows, no columns).
    """
    if len(methods) < 2 or len(set(methods)) != len(methods):
        raise TieringError(f"sensitivity needs at least two different methods, got {methods}")
    tiers: dict[str, pd.Series] = {}
    skipped: dict[str, str] = {}
    for m in methods:
        try:
            tiers[m] = assign_tiers(customers, m, n_tiers=n_tiers, options=options, seed=seed).tier
        except TieringError as exc:
            if not skip_failing:
                raise
            skipped[m] = str(exc)
    usable = [m for m in methods if m in tiers] if len(tiers) >= 2 else []
    rates = pd.DataFrame(
        1.0, index=pd.Index(usable, name="method"), columns=pd.Index(usable, name="versus")
    )
    for i, a in enumerate(usable):
        for b in usable[i + 1 :]:
            # the tiers of the same customers in the same order: the share, without agreement_table's cross-table
            rate = float((tiers[a].to_numpy() == tiers[b].to_numpy()).mean())
            rates.loc[a, b] = rates.loc[b, a] = rate
    rates.attrs["skipped"] = skipped
    return rates


# ---------------------------------------------------------------------------------------------
# Stable tiers across quarters: carried cut-offs and a hysteresis band
#
# A rule made of cut-offs on one score (rfm, clv, pareto, composite, and threshold rules tiling one
# column) can be applied again to next quarter's scores. Re-estimating share-based cut-offs every
# quarter moves the boundaries, so part of the tier migration is the cut-offs moving; carrying last
# quarter's cut-offs (:func:`with_cutoffs`) leaves only the customers' own changes. A hysteresis band
# (:func:`apply_hysteresis`) keeps a customer near a boundary in last quarter's tier until the score
# clears the boundary by a margin, so noise does not flip service levels.

#: The methods whose rule is cut-offs on one score (threshold: when its rules tile one column).
CUTOFF_METHODS: tuple[str, ...] = ("rfm", "clv", "pareto", "composite", "threshold")

#: The rule facts that define each method's score: two rules with equal facts score customers alike.
_SCORE_FACTS: dict[str, tuple[str, ...]] = {
    "rfm": ("column",),
    "clv": ("column",),
    "pareto": ("column",),
    "composite": ("weights", "contribution", "potential", "loyalty"),
    "threshold": ("rules",),
}


def rule_cutoffs(rule: dict[str, Any] | None) -> list[float] | None:
    """The cut-offs of a stored rule (tiering.json → ``rule``): lower bounds on its score, best tier
    first, n−1 of them; None when the rule is not cut-offs on one score (k-means, threshold rules on
    several columns or not tiling one column from the top)."""
    if not rule or rule.get("method") not in CUTOFF_METHODS:
        return None
    if rule["method"] == "threshold":
        return _threshold_cutoffs(rule.get("rules") or [])
    cutoffs = rule.get("cutoffs")
    return [float(c) for c in cutoffs] if cutoffs else None


def _threshold_cutoffs(rules: list[dict[str, Any]]) -> list[float] | None:
    """Rules on one column, tier 1 open above, each tier's min the next tier's max: the mins are cut-offs."""
    if len(rules) < 2 or len({r["column"] for r in rules}) != 1:
        return None
    mins = [r.get("min") for r in rules[:-1]]
    tiles = (
        rules[0].get("max") is None
        and rules[-1].get("min") is None
        and all(rules[t].get("max") == rules[t - 1].get("min") for t in range(1, len(rules)))
    )
    if not tiles or any(m is None for m in mins) or any(b >= a for a, b in pairwise(mins)):
        return None
    return [float(m) for m in mins]


def cutoff_score(method: str, score: Any) -> np.ndarray:
    """The score a method's cut-offs apply to: Pareto counts negative values as 0, the others as they are."""
    values = np.asarray(score, dtype="float64")
    return np.clip(values, 0, None) if method == "pareto" else values


def tiers_by_cutoffs(score: Any, cutoffs: list[float]) -> np.ndarray:
    """Tier 1 + the number of cut-offs the score falls below (cut-offs best tier first, lower bounds)."""
    return _tier_from_bounds(np.asarray(score, dtype="float64"), sorted(cutoffs, reverse=True))


def score_description(rule: dict[str, Any]) -> str:
    """A rule's score in technical words, the same in every language: ``clv(column=clv), 4 tiers``."""
    facts = ", ".join(f"{k}={_plain(rule.get(k))}" for k in _SCORE_FACTS.get(rule.get("method"), ()))
    return f"{rule.get('method')}({facts}), {rule.get('n_tiers')} tiers"


def previous_cutoffs_problem(previous_rule: dict[str, Any] | None, rule: dict[str, Any]) -> Message | None:
    """Why ``previous_rule``'s cut-offs cannot be applied to this run's scores (None when they can).

    They can when both rules are cut-offs on the same score: the same method, tier count and score
    facts (column; composite weights and components; threshold rules).
    """
    method = rule["method"]
    if rule_cutoffs(rule) is None:
        return message("rule_no_cutoffs", method=method)
    if previous_rule is None:
        return message("rule_previous_missing")
    if rule_cutoffs(previous_rule) is None:
        return message("rule_previous_no_cutoffs", method=str(previous_rule.get("method")))
    same = previous_rule.get("method") == method and previous_rule.get("n_tiers") == rule["n_tiers"] and all(
        _plain(previous_rule.get(k)) == _plain(rule.get(k)) for k in _SCORE_FACTS[method]
    )
    if not same:
        return message("rule_previous_different", previous=score_description(previous_rule), current=score_description(rule))
    return None


def carry_problem(previous_rule: dict[str, Any] | None, assignment: TierAssignment) -> Message | None:
    """Why last quarter's cut-offs are not carried into ``assignment`` (None when they are).

    Cut-offs fixed in the params (``cutoffs`` of rfm/clv, threshold rules) apply as set: carrying
    them would override what the analyst wrote.
    """
    rule = assignment.rule
    if rule.get("cutoff_source") == "params" or rule["method"] == "threshold":
        return message("rule_params_cutoffs") if rule_cutoffs(rule) is not None else message(
            "rule_no_cutoffs", method=rule["method"])
    problem = previous_cutoffs_problem(previous_rule, rule)
    if problem is not None or assignment.score is None:
        return problem or message("rule_no_cutoffs", method=rule["method"])
    tier = tiers_by_cutoffs(cutoff_score(rule["method"], assignment.score), rule_cutoffs(previous_rule))
    empty = _empty_tiers(tier, rule["n_tiers"])
    return message("rule_empty_tier", tiers=joined(empty)) if empty else None


def _empty_tiers(tier: np.ndarray, n_tiers: int) -> list[int]:
    sizes = np.bincount(np.asarray(tier, dtype="int64"), minlength=n_tiers + 1)[1:]
    return [int(t) for t in np.flatnonzero(sizes == 0) + 1]


def _with_tiers(assignment: TierAssignment, tier: np.ndarray, **facts: Any) -> TierAssignment:
    """``assignment`` with new tiers: the rule's sizes and shares recounted, ``facts`` added to it."""
    n_tiers = assignment.rule["n_tiers"]
    sizes = np.bincount(tier, minlength=n_tiers + 1)[1:]
    rule = {**assignment.rule, "sizes": sizes.tolist(), "shares": (sizes / sizes.sum()).tolist(), **_plain(facts)}
    series = pd.Series(tier.astype("int64"), index=assignment.tier.index, name="tier")
    return TierAssignment(tier=series, rule=rule, score=assignment.score)


def with_cutoffs(assignment: TierAssignment, cutoffs: list[float], carried_from: str) -> TierAssignment:
    """``assignment`` re-tiered by ``cutoffs`` (last quarter's) on its own score.

    The rule then says ``cutoff_source: carried`` and ``carried_from`` (the run), keeps the cut-offs
    this quarter's data alone would give as ``fresh_cutoffs`` (how far they would have moved), and
    drops the shares the fresh cut-offs aimed at (carried cut-offs aim at none).
    """
    if assignment.score is None:
        raise TieringError(f"method '{assignment.rule['method']}' has no score to apply carried cut-offs to")
    method = assignment.rule["method"]
    tier = tiers_by_cutoffs(cutoff_score(method, assignment.score), cutoffs)
    carried = _with_tiers(
        assignment, tier, cutoffs=sorted(cutoffs, reverse=True), cutoff_source="carried", carried_from=carried_from,
        fresh_cutoffs=assignment.rule.get("cutoffs"),
    )
    carried.rule["target_shares"] = None
    return carried


def apply_hysteresis(
    score: Any, fresh_tier: Any, previous_tier: Any, cutoffs: list[float], margin: float
) -> np.ndarray:
    """Tiers with a hysteresis band: a customer leaves last quarter's tier only beyond a boundary by the margin.

    The band is relative to each boundary's value: around cut-off b the margin is ``margin × |b|``
    (0.05: 5 % of the boundary; a multiplicative band suits money-like scores, whose noise grows
    with their size). With last quarter's tier p known, the customer moves up to tier t < p only when
    the score is at least b + margin·|b| for every boundary b between t and p, and down to t > p only
    when it is below b − margin·|b| for each boundary crossed; otherwise they keep p. Without a
    previous tier (a new customer, NA) or score, the fresh tier stands. ``margin`` 0 gives the plain
    cut-off tiers for customers with a previous tier.

    Parameters
    ----------
    score : array-like
        The score the cut-offs apply to (see :func:`cutoff_score`).
    fresh_tier : array-like of int
        The tier without the band.
    previous_tier : array-like
        Last quarter's tier per customer (NA when unknown), aligned with ``score``.
    cutoffs : list of float
        Lower bounds, best tier first (n−1 for n tiers).
    margin : float
        The band, a share of each boundary's value (0 ≤ margin < 1).
    """
    if not 0 <= margin < 1:
        raise TieringError(f"hysteresis margin {margin!r} must be a share in [0, 1), e.g. 0.05 for 5 % of each boundary")
    values = np.asarray(score, dtype="float64")
    fresh = np.asarray(fresh_tier, dtype="int64")
    previous = pd.to_numeric(pd.Series(np.asarray(previous_tier, dtype="object")), errors="coerce").to_numpy("float64")
    bounds = np.asarray(sorted(cutoffs, reverse=True), dtype="float64")
    band = margin * np.abs(bounds)
    up = 1 + (values[:, None] < (bounds + band)[None, :]).sum(axis=1)  # tiers cleared by the margin upward
    down = 1 + (values[:, None] < (bounds - band)[None, :]).sum(axis=1)  # and downward
    known = ~np.isnan(previous) & ~np.isnan(values) & (previous >= 1) & (previous <= len(bounds) + 1)
    held = np.where(up < previous, up, np.where(down > previous, down, previous))
    return np.where(known, held, fresh).astype("int64")


def with_hysteresis(assignment: TierAssignment, previous_tier: pd.Series, margin: float) -> TierAssignment:
    """``assignment`` with the band of :func:`apply_hysteresis` around its own cut-offs.

    ``previous_tier`` is aligned with the assignment's index (NA for customers new this quarter). The
    rule records ``hysteresis``: the margin, the customers with a previous tier, and how many the
    band kept in last quarter's tier (``kept``: their fresh tier differed).
    """
    cutoffs = rule_cutoffs(assignment.rule)
    if cutoffs is None or assignment.score is None:
        raise TieringError(f"method '{assignment.rule['method']}' has no cut-offs on one score for a hysteresis band")
    method = assignment.rule["method"]
    fresh = assignment.tier.to_numpy()
    previous = previous_tier.reindex(assignment.tier.index)
    tier = apply_hysteresis(cutoff_score(method, assignment.score), fresh, previous, cutoffs, margin)
    known = int(previous.notna().sum())
    return _with_tiers(assignment, tier, hysteresis={"margin": float(margin), "with_previous_tier": known,
                                                    "kept": int((tier != fresh).sum())})
