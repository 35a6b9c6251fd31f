"""Why customers changed tier between two quarters: their own behaviour, or the cut-offs moving.

When cut-offs are re-estimated every quarter (share-based tiers), a customer can change tier without
changing at all: the boundary moved past them. :func:`explain_moves` separates the two for every
customer whose tier changed (a *mover*):

- **cause** ``behaviour``: under last quarter's cut-offs, applied to this quarter's score (with the
  same hysteresis band, if any), the customer would also have left last quarter's tier, so their
  own figures moved them; ``cutoff``: under last quarter's cut-offs they would have stayed, so the
  cut-offs moving is what moved them. The cause is NA when last quarter's cut-offs are not known.
- **main driver**: the first of these that holds, comparing the customer's rows of the two runs
  (``customers.parquet``), in order from cause to effect:

  - a downgrade: no purchase since last quarter (``no_purchase``); spend since last quarter at least
    :data:`SPEND_CHANGE` below the customer's usual pace (``spend_down``); P(alive) down by at least
    :data:`P_ALIVE_CHANGE` (``p_alive_fell``); predicted CLV down by at least :data:`VALUE_CHANGE`
    (``value_down``);
  - an upgrade: spend since last quarter at least :data:`SPEND_CHANGE` above the usual pace
    (``spend_up``); P(alive) up (``p_alive_rose``); CLV up (``value_up``);
  - otherwise ``steady``: no marked change in the customer's own figures (the usual driver of a
    ``cutoff`` move).

  "Usual pace" is the customer's revenue up to last quarter spread evenly over their tenure then:
  revenue_prev × (days between the runs) / tenure_prev; spend since last quarter is revenue_now −
  revenue_prev. Both need the same first purchase in both rows (the same history), else the spend
  test is left out.

Each driver is a code and a message (:mod:`analysis.i18n`, keys ``mover_driver_<code>``) holding
its figures (rounded: money to cents, shares and probabilities to 4 decimals, so the stored text does
not carry float noise), so the report and the notebook word it in their language.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analysis.i18n import Message, message, to_json
from analysis.methods.churn import number_or_none
from analysis.methods.tiers import apply_hysteresis, cutoff_score, tiers_by_cutoffs

CAUSES: tuple[str, ...] = ("behaviour", "cutoff")
DRIVERS: tuple[str, ...] = (
    "no_purchase", "spend_down", "spend_up", "p_alive_fell", "p_alive_rose", "value_down", "value_up", "steady",
)
#: Spend since last quarter this far (as a share) from the usual pace is a driver.
SPEND_CHANGE = 0.3
#: A change of P(alive) of at least this much (in probability) is a driver.
P_ALIVE_CHANGE = 0.15
#: A relative change of predicted CLV of at least this much is a driver.
VALUE_CHANGE = 0.1

#: The behaviour columns of a customer's rows the drivers read (a column missing leaves its test out).
BEHAVIOUR_COLUMNS: tuple[str, ...] = (
    "orders", "last_purchase", "first_purchase", "revenue", "tenure_days", "days_since_last", "p_alive", "clv",
)

MOVER_COLUMNS: tuple[str, ...] = (
    "customer_id", "previous_tier", "tier", "cause", "driver_code", "driver", "previous_value", "value",
)


class MoversError(ValueError):
    """The two quarters' tables cannot be compared: the message names the column and the fix."""


def explain_moves(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    *,
    score: pd.Series | None = None,
    previous_cutoffs: list[float] | None = None,
    method: str | None = None,
    margin: float = 0.0,
) -> pd.DataFrame:
    """One row per customer in both tables whose tier changed: cause and main driver.

    Parameters
    ----------
    previous, current : pd.DataFrame
        The customers of last quarter and this quarter (``customer_id``, ``tier`` and the
        :data:`BEHAVIOUR_COLUMNS` the drivers read; missing ones leave their test out).
    score : pd.Series, optional
        This quarter's tier score, aligned with ``current``'s index; with ``previous_cutoffs`` and
        ``method`` it decides each mover's cause.
    previous_cutoffs : list of float, optional
        Last quarter's cut-offs on the same score (lower bounds, best tier first).
    margin : float
        The hysteresis band this run applied (0: none); the counterfactual applies it too.

    Returns
    -------
    DataFrame
        :data:`MOVER_COLUMNS`: ``cause`` a code of :data:`CAUSES` (NA when last quarter's cut-offs
        are not given), ``driver_code`` a code of :data:`DRIVERS`, ``driver`` its message as JSON
        text, ``previous_value``/``value`` the CLV of each quarter; sorted by customer_id.
    """
    for frame, which in ((previous, "previous"), (current, "current")):
        missing = [c for c in ("customer_id", "tier") if c not in frame.columns]
        if missing:
            raise MoversError(f"the {which} customers lack column(s) {missing}; assign tiers first")
    cur = current.assign(_score=np.nan if score is None else score.reindex(current.index).to_numpy("float64"))
    cur = cur.assign(customer_id=cur["customer_id"].astype("string")).set_index("customer_id")
    prev = previous.assign(customer_id=previous["customer_id"].astype("string")).set_index("customer_id")
    both = cur.index.intersection(prev.index).sort_values()
    moved = both[cur.loc[both, "tier"].astype("int64").to_numpy() != prev.loc[both, "tier"].astype("int64").to_numpy()]
    cur, prev = cur.loc[moved], prev.loc[moved]
    previous_tier = prev["tier"].astype("int64").to_numpy()
    tier = cur["tier"].astype("int64").to_numpy()
    cause = _causes(cur["_score"].to_numpy(), previous_tier, previous_cutoffs, method, margin)
    drivers = [
        main_driver(p, c, int(t) - int(pt))
        for p, c, t, pt in zip(prev.to_dict("records"), cur.to_dict("records"), tier, previous_tier, strict=True)
    ]
    return pd.DataFrame({
        "customer_id": pd.array(moved, dtype="string"),
        "previous_tier": previous_tier,
        "tier": tier,
        "cause": pd.array(cause, dtype="string"),
        "driver_code": pd.array([code for code, _ in drivers], dtype="string"),
        "driver": pd.array([to_json(m) for _, m in drivers], dtype="string"),
        "previous_value": _column(prev, "clv"),
        "value": _column(cur, "clv"),
    }, columns=list(MOVER_COLUMNS))


def _column(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy("float64")


def _causes(
    score: np.ndarray, previous_tier: np.ndarray, cutoffs: list[float] | None, method: str | None, margin: float
) -> list[str | None]:
    """``behaviour`` when last quarter's cut-offs (and band) would also have moved the customer, else ``cutoff``."""
    if cutoffs is None or method is None:
        return [None] * len(score)
    values = cutoff_score(method, score)
    fresh = tiers_by_cutoffs(values, cutoffs)
    counterfactual = apply_hysteresis(values, fresh, previous_tier, cutoffs, margin) if margin else fresh
    return [
        None if math.isnan(s) else ("behaviour" if c != p else "cutoff")
        for s, c, p in zip(values, counterfactual, previous_tier, strict=True)
    ]


def cause_counts(movers: pd.DataFrame) -> dict[str, int | None]:
    """``moved_by_behaviour`` and ``moved_by_cutoff``; None for both when any mover's cause is unknown."""
    cause = movers["cause"]
    if cause.isna().any():
        return {"moved_by_behaviour": None, "moved_by_cutoff": None}
    return {"moved_by_behaviour": int((cause == "behaviour").sum()), "moved_by_cutoff": int((cause == "cutoff").sum())}


# ---------------------------------------------------------------------------------------------
# The main driver of one mover


def _number(row: Mapping[str, Any], column: str) -> float | None:
    return number_or_none(row.get(column))


def _day(row: Mapping[str, Any], column: str) -> pd.Timestamp | None:
    value = row.get(column)
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).normalize()


def no_purchase_since(previous: Mapping[str, Any], current: Mapping[str, Any]) -> bool | None:
    """Whether the customer bought nothing between the two runs; None when the rows cannot tell."""
    before, now = _day(previous, "last_purchase"), _day(current, "last_purchase")
    if before is not None and now is not None:
        return now <= before
    orders_before, orders_now = _number(previous, "orders"), _number(current, "orders")
    if orders_before is not None and orders_now is not None:
        return orders_now <= orders_before
    return None


def spend_change(previous: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, float] | None:
    """Spend since last quarter against the customer's usual pace over as many days, or None.

    ``spend`` = revenue_now − revenue_prev, ``days`` = tenure_now − tenure_prev (days between the
    runs), ``usual`` = revenue_prev × days / tenure_prev, ``change`` = spend / usual − 1. None when the
    rows lack a column, the first purchase differs (not the same history), the customer's history
    then was shorter than the gap, or their revenue then was not positive.
    """
    first_before, first_now = _day(previous, "first_purchase"), _day(current, "first_purchase")
    revenue_before, revenue_now = _number(previous, "revenue"), _number(current, "revenue")
    tenure_before, tenure_now = _number(previous, "tenure_days"), _number(current, "tenure_days")
    if None in (first_before, first_now, revenue_before, revenue_now, tenure_before, tenure_now):
        return None
    days = tenure_now - tenure_before
    if first_before != first_now or days <= 0 or tenure_before < days or revenue_before <= 0:
        return None
    usual = revenue_before * days / tenure_before
    spend = revenue_now - revenue_before
    return {"spend": spend, "usual": usual, "days": days, "change": spend / usual - 1}


def main_driver(previous: Mapping[str, Any], current: Mapping[str, Any], direction: int) -> tuple[str, Message]:
    """The main driver of a move (``direction`` > 0: down to a worse tier, < 0: up), as (code, message).

    The checks run in the order of the module docstring; the first that holds is the driver.
    """
    down = direction > 0
    spend = spend_change(previous, current)
    alive_before, alive_now = _number(previous, "p_alive"), _number(current, "p_alive")
    value_before, value_now = _number(previous, "clv"), _number(current, "clv")
    if down and no_purchase_since(previous, current):
        days = _number(current, "days_since_last")
        if days is not None:
            return "no_purchase", message("mover_driver_no_purchase", days=round(days))
    if spend is not None and (spend["change"] <= -SPEND_CHANGE if down else spend["change"] >= SPEND_CHANGE):
        code = "spend_down" if down else "spend_up"
        return code, message(f"mover_driver_{code}", change=round(abs(spend["change"]), 4), spend=round(spend["spend"], 2),
                             usual=round(spend["usual"], 2), days=round(spend["days"]))
    if alive_before is not None and alive_now is not None:
        fell = alive_before - alive_now
        if (fell if down else -fell) >= P_ALIVE_CHANGE:
            code = "p_alive_fell" if down else "p_alive_rose"
            return code, message(f"mover_driver_{code}", before=round(alive_before, 4), after=round(alive_now, 4))
    if value_before is not None and value_now is not None and value_before > 0:
        change = value_now / value_before - 1
        if (-change if down else change) >= VALUE_CHANGE:
            code = "value_down" if down else "value_up"
            return code, message(f"mover_driver_{code}", change=round(abs(change), 4), before=round(value_before, 2),
                                 after=round(value_now, 2))
    return "steady", message("mover_driver_steady")
