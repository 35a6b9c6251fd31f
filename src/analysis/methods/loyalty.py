"""Loyalty per tier: repurchase rate, cohort retention and a loyalty index.

Loyalty has a behavioural side (repeat buying, staying) and an attitudinal side (willingness to
recommend); Dick & Basu (1994) define loyalty as the pair of relative attitude and repeat patronage,
so the index combines both.

References
----------
Dick, A. S. & Basu, K. (1994). Customer loyalty: toward an integrated conceptual framework.
    Journal of the Academy of Marketing Science 22(2), 99-113.
Reichheld, F. F. (2003). The one number you need to grow. Harvard Business Review 81(12), 46-54
    (the 0–10 likelihood-to-recommend question).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.methods.codes import distinct_pairs, run_starts, sorted_codes
from analysis.methods.lifecycle import (
    LifecycleInputError,
    as_timestamp,
    day_number,
    purchases,
    require_columns,
)

LOYALTY_COMPONENTS: dict[str, str] = {
    # component -> customers column
    "frequency": "frequency",
    "tenure": "tenure_days",
    "p_alive": "p_alive",
    "recommend": "recommend_score",
}

#: Behaviour 70 % (frequency, tenure, P(alive)), attitude 30 % (recommend).
DEFAULT_LOYALTY_WEIGHTS: dict[str, float] = {
    "frequency": 0.3,
    "tenure": 0.2,
    "p_alive": 0.2,
    "recommend": 0.3,
}

PERIODS = {"M": "month", "Q": "quarter"}


class LoyaltyInputError(LifecycleInputError):
    """Wrong input to a loyalty analysis; the message says what and how to fix it."""


def repurchase_rate_by_tier(customers: pd.DataFrame, *, tier_col: str = "tier") -> pd.DataFrame:
    """Share of customers with at least one repeat purchase (``frequency ≥ 1``), per tier and overall.

    Returns
    -------
    DataFrame
        ``tier`` (Int64; NA on the overall row), ``tier_name`` (the tier's name; NA on the overall
        row, which the display names), ``customers``, ``repeat_customers``, ``repurchase_rate``;
        tiers in order, overall last.
    """
    require_columns(
        customers, ["customer_id", "frequency", tier_col], "customers", "score RFM and tiers first"
    )
    repeat = pd.to_numeric(customers["frequency"]) >= 1
    grouped = (
        repeat.groupby(customers[tier_col])
        .agg(customers="size", repeat_customers="sum")
        .sort_index()
    )
    rows = grouped.reset_index().rename(columns={tier_col: "tier"})
    rows["tier"] = rows["tier"].astype("Int64")
    rows["tier_name"] = _tier_names(customers, tier_col, rows["tier"])
    overall = pd.DataFrame(
        {
            "tier": pd.array([pd.NA], dtype="Int64"),
            "tier_name": pd.array([pd.NA], dtype="string"),
            "customers": [len(customers)],
            "repeat_customers": [int(repeat.sum())],
        }
    )
    out = pd.concat([rows, overall], ignore_index=True)
    out["repeat_customers"] = out["repeat_customers"].astype("int64")
    out["repurchase_rate"] = out["repeat_customers"] / out["customers"].where(out["customers"] > 0)
    return out[["tier", "tier_name", "customers", "repeat_customers", "repurchase_rate"]]


def _tier_names(customers: pd.DataFrame, tier_col: str, tiers: pd.Series) -> pd.Series:
    if "tier_name" not in customers:
        return tiers.astype("string")
    names = customers.drop_duplicates(tier_col).set_index(tier_col)["tier_name"]
    return tiers.map(lambda t: names.get(t, str(t))).astype("string")


class CohortRetention(NamedTuple):
    """Cohort retention: the cohort × period matrix and the same numbers as a long table."""

    matrix: pd.DataFrame
    long: pd.DataFrame


def cohort_retention(
    transactions: pd.DataFrame, *, period: str = "Q", as_of: date | str | pd.Timestamp | None = None
) -> CohortRetention:
    """Share of each first-purchase cohort that buys again k periods later.

    A customer's cohort is the calendar period (quarter ``"Q"`` or month ``"M"``) of the first
    purchase; retention(c, k) = customers of cohort c with a purchase in period c + k / size of c,
    so k = 0 is 1 by definition. Purchases are the rows of :func:`analysis.methods.lifecycle.purchases`. Cells
    after the period of ``as_of`` (default: the last purchase date) are NaN, not 0, because they
    are not yet observed; the last period may be partly observed.

    Returns
    -------
    CohortRetention
        ``matrix``: index cohort label (e.g. ``"2024Q1"``, ``"2024-01"``), columns k = 0, 1, …;
        ``long``: ``cohort, period_index, cohort_size, customers_active, retention`` for observed cells.
    """
    _check_period(period)
    until = as_of_stamp(as_of) if as_of is not None else None
    bought = purchases(transactions, columns=["customer_id", "order_date"], until=until)
    code, _ = sorted_codes(bought["customer_id"])
    known = code >= 0  # rows without a customer id count for nobody
    days = bought["order_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    end = until if until is not None or bought.empty else bought["order_date"].max()
    return purchase_day_retention(code[known], days[known], period=period, as_of=end)


def purchase_day_retention(
    customer: np.ndarray, day: np.ndarray, *, period: str = "Q", as_of: date | str | pd.Timestamp | None = None
) -> CohortRetention:
    """:func:`cohort_retention` of purchases given as arrays: each purchase row's customer code
    (any integers, equal for one customer) and its day (days since 1970-01-01), all on or before
    ``as_of`` (default: the last purchase day)."""
    _check_period(period)
    if not len(customer):
        raise LoyaltyInputError(
            "transactions hold no purchases (rows flagged is_purchase, or non-return rows with amount > 0) "
            "to build cohorts from"
        )
    end = int(day.max()) if as_of is None else day_number(as_of_stamp(as_of))
    # each day's period looked up in a table of the days from the first to the last: a few thousand
    # calendar conversions instead of one per row
    first_day = int(day.min())
    ordinal = _period_ordinal(np.arange(first_day, int(day.max()) + 1), period).astype(np.int32)[day - first_day]
    sizes, active = _cohort_counts(np.asarray(customer), ordinal)
    grid = _observed_grid(sizes.index, int(_period_ordinal(np.array([end]), period)[0]))
    long = grid.join(sizes, on="cohort").join(active, on=["cohort", "period_index"])
    long["customers_active"] = long["customers_active"].fillna(0).astype("int64")
    long["retention"] = long["customers_active"] / long["cohort_size"]
    long["cohort"] = [_period_label(o, period) for o in long["cohort"]]
    long = long.sort_values(["cohort", "period_index"], ignore_index=True)
    matrix = long.pivot(index="cohort", columns="period_index", values="retention").sort_index()
    matrix.columns.name, matrix.index.name = "period_index", "cohort"
    return CohortRetention(
        matrix=matrix,
        long=long[["cohort", "period_index", "cohort_size", "customers_active", "retention"]],
    )


def _check_period(period: str) -> None:
    if period not in PERIODS:
        raise LoyaltyInputError(f"period={period!r}: use 'Q' (quarters) or 'M' (months)")


def _cohort_counts(customer: np.ndarray, ordinal: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """Customers per cohort (``cohort_size``) and customers buying k periods after their cohort's
    (``customers_active``, by cohort and period_index), from the rows' customer codes (≥ 0) and
    period ordinals.

    Each customer's distinct periods are found as integers (customer code × periods + period): a
    groupby on the text ids would hash every row's id.
    """
    low = int(ordinal.min()) if len(ordinal) else 0
    customer, ordinal = distinct_pairs(customer, ordinal - low)  # sorted by customer, then period
    ordinal += low
    first = np.flatnonzero(run_starts(customer))  # a customer's first period is its cohort
    cohort = np.repeat(ordinal[first], np.diff(np.append(first, len(customer))))
    sizes = pd.Series(ordinal[first], name="cohort").value_counts().rename("cohort_size")
    # each (cohort, period_index) pair as one integer, counted by bincount: a groupby factorizes both
    later = ordinal - cohort
    width, oldest = int(later.max(initial=0)) + 1, int(cohort.min(initial=0))
    counts = np.bincount((cohort - oldest) * width + later)
    pairs = np.flatnonzero(counts)
    index = pd.MultiIndex.from_arrays([pairs // width + oldest, pairs % width], names=["cohort", "period_index"])
    return sizes, pd.Series(counts[pairs], index=index, name="customers_active")


def as_of_stamp(value: date | str | pd.Timestamp) -> pd.Timestamp:
    return as_timestamp(value, "as_of")


def _period_ordinal(days: np.ndarray, period: str) -> np.ndarray:
    """Months or quarters since year 0 of days since 1970-01-01, so that k periods later is ordinal + k."""
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12
    return months if period == "M" else months // 3


def _period_label(ordinal: int, period: str) -> str:
    if period == "M":
        return f"{ordinal // 12}-{ordinal % 12 + 1:02d}"
    return f"{ordinal // 4}Q{ordinal % 4 + 1}"


def _observed_grid(cohorts: pd.Index, last_ordinal: int) -> pd.DataFrame:
    pairs = [(c, k) for c in sorted(int(c) for c in cohorts) for k in range(last_ordinal - c + 1)]
    return pd.DataFrame(pairs, columns=["cohort", "period_index"])


def loyalty_components(customers: pd.DataFrame) -> pd.DataFrame:
    """Each loyalty component on a 0–1 scale (NaN where the customer has no value).

    Behaviour components (``frequency``, ``tenure_days``, ``p_alive``) are percentile ranks among
    the customers: (average rank − 1) / (n − 1), so the lowest value scores 0, the highest 1, ties
    share their average rank and a constant column scores 0.5 for everybody. Recommend is the
    0–10 answer / 10 (an absolute scale, so it is not ranked). A component whose column is absent
    is NaN for everybody.
    """
    out = pd.DataFrame(index=customers.index)
    for component, column in LOYALTY_COMPONENTS.items():
        if column not in customers:
            out[component] = np.nan
            continue
        values = pd.to_numeric(customers[column], errors="coerce").astype("float64")
        if component == "recommend":
            outside = values.notna() & ~values.between(0, 10)
            if outside.any():
                rows = list(customers.index[outside][:5])
                raise LoyaltyInputError(
                    f"customers.{column} is outside 0–10 in row(s) {rows}; use the 0–10 recommend answer"
                )
            out[component] = values / 10
        else:
            out[component] = _percentile_rank(values)
    return out


def _percentile_rank(values: pd.Series) -> pd.Series:
    n = int(values.notna().sum())
    if n <= 1:
        return values.where(values.isna(), 0.5)
    return (values.rank(method="average") - 1) / (n - 1)


def loyalty_index(
    customers: pd.DataFrame, *, weights: Mapping[str, float] | None = None
) -> pd.Series:
    """Loyalty index 0–100 per customer (index of ``customers``).

    index = 100 · Σ_c w_c · s_c / Σ_c w_c over the components c the customer has a value for, with
    s_c the component scores of :func:`loyalty_components` and w_c the ``weights`` (default
    :data:`DEFAULT_LOYALTY_WEIGHTS`). A customer without a recommend answer (or another component)
    is scored on the remaining components with their weights renormalised to sum to 1; a customer
    with none is NaN. A component with weight 0 is ignored.
    """
    weights = _check_weights(weights)
    components = loyalty_components(customers)[list(weights)]
    w = pd.Series(weights, dtype="float64")
    present = components.notna()
    weight_sum = present.mul(w, axis=1).sum(axis=1)
    weighted = components.fillna(0.0).mul(w, axis=1).sum(axis=1)
    index = 100 * weighted / weight_sum.where(weight_sum > 0)
    return index.clip(0, 100).rename("loyalty_index")


def _check_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    weights = dict(DEFAULT_LOYALTY_WEIGHTS if weights is None else weights)
    unknown = sorted(set(weights) - set(LOYALTY_COMPONENTS))
    if unknown:
        raise LoyaltyInputError(
            f"loyalty weights name unknown component(s) {unknown}; use {list(LOYALTY_COMPONENTS)}"
        )
    bad = {k: v for k, v in weights.items() if not (np.isfinite(v) and v >= 0)}
    if bad or sum(weights.values()) <= 0:
        raise LoyaltyInputError(f"loyalty weights {weights}: each must be ≥ 0 and at least one > 0")
    return {k: float(v) for k, v in weights.items() if v > 0}


def loyalty_by_tier(
    customers: pd.DataFrame,
    *,
    tier_col: str = "tier",
    weights: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Mean and median loyalty index per tier and overall.

    Uses ``customers["loyalty_index"]`` when present, else computes :func:`loyalty_index`.

    Returns
    -------
    DataFrame
        ``tier`` (Int64, NA overall), ``tier_name`` (NA overall), ``customers``, ``mean``, ``median``,
        ``p25``, ``p75``.
    """
    require_columns(customers, [tier_col], "customers", "assign tiers first (notebook 03)")
    index = (
        customers["loyalty_index"]
        if "loyalty_index" in customers
        else loyalty_index(customers, weights=weights)
    )

    def summarise(values: pd.Series) -> dict[str, float]:
        return {
            "customers": int(values.size),
            "mean": values.mean(),
            "median": values.median(),
            "p25": values.quantile(0.25),
            "p75": values.quantile(0.75),
        }

    rows = [{"tier": t, **summarise(v)} for t, v in index.groupby(customers[tier_col], sort=True)]
    rows.append({"tier": pd.NA, **summarise(index)})
    out = pd.DataFrame(rows)
    out["tier"] = out["tier"].astype("Int64")
    out["tier_name"] = pd.array(
        [*_tier_names(customers, tier_col, out["tier"].iloc[:-1]), pd.NA], dtype="string"
    )
    return out[["tier", "tier_name", "customers", "mean", "median", "p25", "p75"]]
