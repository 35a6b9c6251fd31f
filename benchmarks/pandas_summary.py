"""The customer RFM summary written as plain pandas group-bys: the reference the engines are checked against.

Same definitions as :func:`analysis.methods.customer_summary.customer_summary` with ``time_unit="D"`` (lifetimes'
``summary_data_from_transaction_data`` / PyMC-Marketing's ``rfm_summary``): over the rows with
``order_day <= observation_end``, a purchase row has ``amount > 0`` and is not a return; per customer,
``frequency`` = distinct purchase days − 1, ``recency`` = last − first purchase day,
``T`` = observation end − first purchase day, ``monetary_value`` = mean over the repeat purchase
days (all but the first) of the day's summed amounts, 0 without repeat days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value"]


def rfm_summary_pandas(transactions: pd.DataFrame, observation_end_day: int) -> pd.DataFrame:
    """One row per customer with a purchase on or before ``observation_end_day``, sorted by customer_id."""
    rows = transactions[transactions["order_day"] <= observation_end_day]
    purchases = rows[(rows["amount"] > 0) & ~rows["is_return"].fillna(False).astype(bool)]
    per_day = (
        purchases.groupby(["customer_id", "order_day"], sort=False)["amount"].sum().reset_index()
    )
    first_day = per_day.groupby("customer_id", sort=False)["order_day"].transform("min")
    per_day["repeat_amount"] = per_day["amount"].where(per_day["order_day"] > first_day, 0.0)
    out = per_day.groupby("customer_id", sort=True).agg(
        first_day=("order_day", "min"),
        last_day=("order_day", "max"),
        days=("order_day", "size"),
        repeat_amount=("repeat_amount", "sum"),
    )
    frequency = out["days"].to_numpy(np.int64) - 1
    summary = pd.DataFrame(
        {
            "customer_id": out.index.astype("string"),
            "frequency": frequency,
            "recency": (out["last_day"] - out["first_day"]).to_numpy(np.int64),
            "T": (observation_end_day - out["first_day"]).to_numpy(np.int64),
            "monetary_value": np.where(
                frequency > 0, out["repeat_amount"].to_numpy(float) / np.maximum(frequency, 1), 0.0
            ),
        }
    )
    return summary.reset_index(drop=True)


def compare_summaries(
    ours: pd.DataFrame, other: pd.DataFrame, *, money_tolerance: float = 1e-6
) -> tuple[bool, str]:
    """Same customers, equal ``frequency``/``recency``/``T``, ``monetary_value`` within the tolerance."""
    left = ours[COLUMNS].assign(customer_id=ours["customer_id"].astype(str))
    right = other[COLUMNS].assign(customer_id=other["customer_id"].astype(str))
    merged = left.merge(right, on="customer_id", how="outer", suffixes=("", "_other"), indicator=True)
    only = merged["_merge"] != "both"
    if only.any():
        return False, f"{int(only.sum())} customers in only one summary"
    problems = []
    for column in ("frequency", "recency", "T"):
        differ = int((merged[column].astype(float) != merged[f"{column}_other"].astype(float)).sum())
        if differ:
            problems.append(f"{column} differs for {differ} customers")
    money_gap = merged["monetary_value"].to_numpy(float) - merged["monetary_value_other"].to_numpy(float)
    gap = float(np.max(np.abs(money_gap), initial=0.0))
    if gap > money_tolerance:
        problems.append(f"monetary_value differs by up to {gap:.3g}")
    if problems:
        return False, "; ".join(problems)
    return True, (
        f"{len(merged):,} customers; frequency/recency/T identical; "
        f"monetary_value max |diff| {gap:.1e} (tolerance {money_tolerance:g})"
    )
