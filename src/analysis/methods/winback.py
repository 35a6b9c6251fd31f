"""Win-back: valuable customers the business has already lost, ranked by what winning them back is worth.

The early-warning list (:func:`analysis.methods.churn.early_warning_list`) looks at customers still
active who may leave; this list looks at those who have left. A customer is *lost* when the
lifecycle stage says so (``lifecycle_stage == "lost"``, stage 4's rules) or when their P(alive) is
below ``max_p_alive``. Among them the *valuable* ones are kept: historical revenue at least the
``value_quantile`` quantile of every scored customer's revenue (the value floor).

Their CLV says little: it is already discounted by the low P(alive). What is at stake is what the
customer spent while they bought: ``value_at_stake`` = revenue / max(1, years from the first to the
last purchase), a year of their former spend (a customer who bought within one year counts with
their whole revenue). The list is ranked by it (ties by customer id) and cut at ``size`` rows.

Each customer gets the reasons that apply, as codes with their figures: the churn reason codes of
:mod:`analysis.methods.churn` where they fit (``long_since_last_purchase``, ``falling_spend``,
``detractor``, ``open_complaint``, worded by the texts ``churn_reason_<code>``) and, when none of them
holds, ``low_p_alive`` (text ``winback_reason_low_p_alive``): the purchase model gives them up.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from analysis.i18n import Message, joined, message, to_json
from analysis.methods.churn import number_or_none, observed_reasons, usual_gap_days
from analysis.methods.clv.units import (
    DAYS_PER_YEAR,  # the study's one year, for the years between first and last purchase
)
from analysis.methods.lifecycle import require_columns

#: Reason codes of the win-back list: the churn codes it reuses, then its own.
CHURN_REASONS: tuple[str, ...] = ("long_since_last_purchase", "falling_spend", "detractor", "open_complaint")
REASONS: tuple[str, ...] = (*CHURN_REASONS, "low_p_alive")

#: The columns of the list, in order (those the customers table has; the figures it computes).
COLUMNS: tuple[str, ...] = (
    "customer_id", "tier", "tier_name", "lifecycle_stage", "p_alive", "first_purchase", "last_purchase",
    "days_since_last", "orders", "revenue", "active_years", "value_at_stake", "clv", "industry", "region",
    "segment", "account_manager", "reason_codes", "reasons",
)


class WinbackInputError(ValueError):
    """Wrong input to the win-back list; the message says what, where and how to fix it."""


def lost_customers(customers: pd.DataFrame, *, max_p_alive: float = 0.3) -> pd.Series:
    """True for the customers stage 4 calls lost or whose P(alive) is below ``max_p_alive``."""
    if not 0 < max_p_alive < 1:
        raise WinbackInputError(
            f"max_p_alive={max_p_alive}: use a probability in (0, 1), e.g. 0.3 (actions.winback_max_p_alive)"
        )
    if "lifecycle_stage" not in customers and "p_alive" not in customers:
        raise WinbackInputError(
            "customers has neither lifecycle_stage nor p_alive: run stages 2 and 4 first (notebooks 02 and 04)"
        )
    lost = pd.Series(False, index=customers.index)
    if "lifecycle_stage" in customers:
        lost |= (customers["lifecycle_stage"].astype("string") == "lost").fillna(False).astype(bool)
    if "p_alive" in customers:
        lost |= (pd.to_numeric(customers["p_alive"]) < max_p_alive).fillna(False).astype(bool)
    return lost


def winback_list(
    customers: pd.DataFrame,
    *,
    max_p_alive: float = 0.3,
    value_quantile: float = 0.75,
    size: int | None = 50,
    gap_multiple: float = 2.0,
    max_days_since_last: int = 180,
    falling_spend_share: float = 0.5,
    detractor_max: float = 6,
) -> pd.DataFrame:
    """Lost customers whose historical revenue clears the value floor, ranked by value at stake.

    ``value_quantile`` sets the floor: the quantile of all customers' revenue a lost customer's
    revenue must reach (0 keeps every lost customer with revenue). ``gap_multiple``,
    ``max_days_since_last``, ``falling_spend_share`` and ``detractor_max`` are the thresholds of the
    churn reasons (as in :func:`analysis.methods.churn.early_warning_list`).

    Returns
    -------
    DataFrame
        The :data:`COLUMNS` the customers table has, with ``active_years``, ``value_at_stake``,
        ``reason_codes`` (``"; "``-separated codes) and ``reasons`` (a message as JSON text); at most
        ``size`` rows, highest value at stake first. The table's attrs hold ``lost`` (customers lost),
        ``valuable`` (lost and above the floor), ``floor`` (the revenue floor) and ``value_listed``
        (the listed customers' value at stake).
    """
    require_columns(
        customers, ["customer_id", "revenue", "first_purchase", "last_purchase", "days_since_last"], "customers",
        "pass stage 4's customers.parquet (it has the purchase dates, revenue and lifecycle stage)",
    )
    if not 0 <= value_quantile < 1:
        raise WinbackInputError(
            f"value_quantile={value_quantile}: use a share in [0, 1), e.g. 0.75 for the top quarter by revenue "
            "(actions.winback_value_quantile)"
        )
    if size is not None and int(size) < 1:
        raise WinbackInputError(f"size={size}: list at least one customer (actions.winback_size)")
    revenue = pd.to_numeric(customers["revenue"]).astype("float64")
    floor = float(revenue.quantile(value_quantile)) if revenue.notna().any() else math.nan
    lost = lost_customers(customers, max_p_alive=max_p_alive)
    valuable = lost & (revenue >= floor) & (revenue > 0)
    listed = customers[valuable].copy()
    first = pd.to_datetime(listed["first_purchase"])
    last = pd.to_datetime(listed["last_purchase"])
    listed["active_years"] = ((last - first).dt.days / DAYS_PER_YEAR).astype("float64")
    listed["value_at_stake"] = revenue[valuable] / np.maximum(listed["active_years"].fillna(0.0), 1.0)
    listed["customer_id"] = listed["customer_id"].astype("string")
    listed = listed.sort_values(["value_at_stake", "customer_id"], ascending=[False, True], kind="mergesort")
    if size is not None:
        listed = listed.head(int(size))
    # the reasons of the listed customers only: one Python call per row
    reasons = [
        winback_reasons(row, max_p_alive, gap_multiple, max_days_since_last, falling_spend_share, detractor_max)
        for row in listed.to_dict(orient="records")
    ]
    listed["reason_codes"] = pd.array(["; ".join(code for code, _ in r) for r in reasons], dtype="string")
    listed["reasons"] = pd.array([to_json(reasons_message(r)) for r in reasons], dtype="string")
    listed = listed[[c for c in COLUMNS if c in listed.columns]].reset_index(drop=True)
    listed.attrs.update(
        lost=int(lost.sum()), valuable=int(valuable.sum()), floor=floor,
        value_listed=float(listed["value_at_stake"].sum()),
    )
    return listed


def winback_reasons(
    row: dict[str, Any],
    max_p_alive: float = 0.3,
    gap_multiple: float = 2.0,
    max_days: int = 180,
    falling_share: float = 0.5,
    detractor_max: float = 6,
) -> list[tuple[str, dict[str, Any]]]:
    """The reasons (code, figures) that hold for one lost customer's row; ``low_p_alive`` when none
    of the churn reasons does (or, without P(alive), ``long_since_last_purchase`` with its days)."""
    found = observed_reasons(row, gap_multiple, max_days, falling_share, detractor_max)
    if not found:
        p_alive = number_or_none(row.get("p_alive"))
        if p_alive is not None:
            found.append(("low_p_alive", {"p_alive": p_alive}))
        elif (days := number_or_none(row.get("days_since_last"))) is not None:
            gap = usual_gap_days(row)
            found.append(("long_since_last_purchase", {"days": round(days), "gap": "—" if gap is None else round(gap)}))
    return found


def reasons_message(reasons: list[tuple[str, dict[str, Any]]]) -> Message:
    """The reasons in words: ``churn_reason_<code>`` for the churn codes, ``winback_reason_<code>`` for
    the list's own, joined by the language's "; "."""
    return joined(
        [message(f"{'churn' if code in CHURN_REASONS else 'winback'}_reason_{code}", **values)
         for code, values in reasons],
        separator="separator_sentences",
    )


def winback_summary(listed: pd.DataFrame) -> dict[str, Any]:
    """The figures the report states: customers lost, lost and valuable, listed, and the value listed."""
    reason_counts: dict[str, int] = {}
    for codes in listed.get("reason_codes", pd.Series(dtype="string")).dropna():
        for code in str(codes).split("; "):
            if code:
                reason_counts[code] = reason_counts.get(code, 0) + 1
    return {
        "lost": int(listed.attrs.get("lost", 0)),
        "valuable": int(listed.attrs.get("valuable", 0)),
        "floor": _plain(listed.attrs.get("floor")),
        "listed": int(len(listed)),
        "value_at_stake": float(listed["value_at_stake"].sum()) if len(listed) else 0.0,
        "revenue": float(pd.to_numeric(listed["revenue"]).sum()) if len(listed) else 0.0,
        "reasons": {code: reason_counts[code] for code in REASONS if code in reason_counts},
    }


def _plain(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
