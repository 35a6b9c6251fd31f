"""How sure the tiers are: each tier's value share with its interval, and the borderline customers.

Stage 3 places the tiers again under every draw of the CLV models' parameters
(tier_value_intervals.parquet, tiering.json → ``uncertainty``); the tier overview shows the share's
interval as a column and says in one sentence how much of the value the top tier holds and how many
customers sit on a boundary.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from analysis.i18n import text


def share_range(low: float, high: float) -> str:
    """An interval of shares as the report writes it: ``62.3–71.0%``."""
    return f"{low * 100:.1f}–{high * 100:.1f}%"


def with_intervals(profile: pd.DataFrame, intervals: pd.DataFrame | None) -> pd.DataFrame:
    """The tier profile with ``clv_share_interval`` (text) per tier, when there are intervals."""
    if intervals is None:
        return profile
    extra = intervals.assign(
        clv_share_interval=[share_range(lo, hi) for lo, hi in zip(intervals["clv_share_low"], intervals["clv_share_high"])]
    )[["tier", "clv_share_interval"]]
    return profile.merge(extra, on="tier", how="left")


def uncertainty_sentence(
    intervals: pd.DataFrame | None, record: dict[str, Any] | None, names: dict[int, str], language: str
) -> str | None:
    """"Tier 1 holds 62.3–71.0% of predicted value …; 43 customers (0.9 %) are borderline …", or None."""
    if intervals is None or not record:
        return None
    top = intervals.sort_values("tier").iloc[0]
    customers = record["customers"]
    return text(
        "tiers_uncertainty", language, tier=names.get(int(top["tier"]), str(int(top["tier"]))),
        share=share_range(top["clv_share_low"], top["clv_share_high"]), level=f"{record['level']:.0%}",
        draws=record["draws"], borderline=record["borderline"],
        borderline_share=f"{record['borderline'] / customers:.1%}" if customers else "—",
        below=f"{record['borderline_below']:.0%}",
    )


def clv_interval_sentence(models: dict[str, Any], customers: pd.DataFrame, language: str) -> str | None:
    """How precisely the models know a customer's value: the median half-width of the CLV intervals,
    relative to the CLV, over the customers with a positive CLV; None without intervals."""
    record = models.get("intervals")
    if not record or "clv_low" not in customers.columns:
        return None
    valued = customers[customers["clv"] > 0]
    if valued.empty:
        return None
    half_width = ((valued["clv_high"] - valued["clv_low"]) / 2 / valued["clv"]).median()
    return text("scoring_intervals", language, level=f"{record['level']:.0%}", draws=record["draws"],
                width=f"{half_width:.1%}")
