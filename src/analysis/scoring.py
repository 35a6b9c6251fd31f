"""Stage 2: every customer gets an RFM summary and scores, a segment, P(alive), expected purchases and a CLV.

The transaction → customer aggregation runs in the engine named in params (DuckDB or Spark,
:mod:`analysis.summary`); only the per-customer table comes back to pandas. BG/NBD and
Gamma-Gamma (:mod:`analysis.clv`) are fitted on the whole window, and a holdout check refits
BG/NBD on the window less its last ``holdout_months`` and compares predicted with actual purchases.

When the data cannot support the models the CLV falls back to historic value, and the reasons are
kept: fewer repeat buyers than ``min_repeat_buyers``, a BG/NBD fit that did not converge, or spend
correlated with frequency beyond ``max_spend_frequency_corr`` (Gamma-Gamma assumes independence).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import clv, rfm
from .params import Period, Scoring
from .summary import customer_summary, holdout_split_summary

MASTER_COLUMNS = ("name", "phone", "industry", "region", "segment", "account_manager", "balance", "signup_date")
DAYS_PER_MONTH = 30.0  # lifetimes' convention for CLV periods


@dataclass
class ScoringResult:
    customers: pd.DataFrame
    models: dict[str, Any]
    holdout_table: pd.DataFrame
    holdout_figures: dict[str, float]
    bgnbd: clv.BetaGeoModel
    gamma_gamma: clv.GammaGammaModel | None
    clv_method: str  # "model" or "historic"
    fallback_reasons: list[dict[str, str]] = field(default_factory=list)


def units_per_day(time_unit: str) -> float:
    return 1.0 if time_unit == "D" else 1.0 / 7.0


def calibration_end(period: Period, holdout_months: int) -> date:
    return (pd.Timestamp(period.end) - pd.DateOffset(months=holdout_months)).date()


def margin_rate(summary: pd.DataFrame, scoring: Scoring) -> tuple[np.ndarray, str]:
    """Margin per customer: the params' rate, else (revenue − cost) / revenue from the data, else 1."""
    if scoring.margin is not None:
        return np.full(len(summary), scoring.margin), "params"
    if summary["margin"].notna().any():
        rate = (summary["margin"] / summary["revenue"].where(summary["revenue"] > 0)).clip(0, 1)
        return rate.fillna(rate.median()).to_numpy(dtype=float), "cost"
    return np.ones(len(summary)), "none"


def holdout_check(path: Path, period: Period, scoring: Scoring) -> tuple[pd.DataFrame, dict[str, float], dict[str, Any]]:
    """Refit BG/NBD on the calibration window and compare with the holdout's actual purchases."""
    cal_end = calibration_end(period, scoring.holdout_months)
    split = holdout_split_summary(
        path, calibration_end=cal_end, observation_end=period.end, observation_start=period.start,
        time_unit=scoring.time_unit, engine=scoring.engine,
    )
    model = clv.BetaGeoModel(time_unit=scoring.time_unit).fit(split["frequency"], split["recency"], split["T"])
    table, figures = clv.holdout_comparison(
        model, split["frequency"], split["recency"], split["T"], split["frequency_holdout"], split["duration_holdout"]
    )
    summary = model.summary() | {"calibration_end": str(cal_end), "holdout_figures": figures}
    return table, figures, summary


def score_customers(
    transactions_path: Path, *, period: Period, scoring: Scoring, master: pd.DataFrame | None = None
) -> ScoringResult:
    summary = customer_summary(
        transactions_path, observation_end=period.end, observation_start=period.start,
        time_unit=scoring.time_unit, engine=scoring.engine,
    )
    customers = rfm.rfm_scores(summary, bins=scoring.rfm_bins, thresholds=scoring.rfm_thresholds)
    customers = rfm.assign_segments(customers, scoring.segment_rules or rfm.DEFAULT_SEGMENT_RULES, bins=scoring.rfm_bins)

    unit = units_per_day(scoring.time_unit)
    x, t_x, T = customers["frequency"], customers["recency"], customers["T"]
    bg = clv.BetaGeoModel(time_unit=scoring.time_unit).fit(x, t_x, T)
    horizon = scoring.clv_horizon_months * DAYS_PER_MONTH * unit
    customers["p_alive"] = bg.conditional_probability_alive(x, t_x, T)
    customers["expected_purchases"] = bg.conditional_expected_purchases(horizon, x, t_x, T)

    margin, margin_source = margin_rate(customers, scoring)
    customers["historic_value"] = customers["revenue"] * margin
    reasons = model_fallback_reasons(customers, bg, scoring)
    gg = None
    if not any(r["key"] == "too_few_repeat_buyers" for r in reasons):
        gg = clv.GammaGammaModel().fit(x, customers["monetary_value"])
        correlation = gg.spend_frequency_correlation(x, customers["monetary_value"])
        if abs(correlation) > scoring.max_spend_frequency_corr:
            reasons.append(_reason("spend_frequency_correlated", value=f"{correlation:.2f}",
                                   limit=f"{scoring.max_spend_frequency_corr:.2f}"))
        if not gg.converged_:
            reasons.append(_reason("gamma_gamma_not_converged", value=gg.message_, limit=""))
    if reasons or gg is None:
        method = "historic"
        customers["expected_spend"] = np.where(x > 0, customers["monetary_value"], customers["revenue"])
        customers["clv"] = customers["historic_value"]
    else:
        method = "model"
        customers["expected_spend"] = gg.conditional_expected_average_profit(x, customers["monetary_value"])
        customers["clv"] = clv.customer_lifetime_value(
            bg, gg, x, t_x, T, customers["monetary_value"], horizon_periods=scoring.clv_horizon_months,
            period_length=DAYS_PER_MONTH * unit, annual_discount_rate=scoring.annual_discount_rate,
            margin=margin, time_units_per_year=365.0 * unit,
        )
    customers["potential_value"] = customers["clv"] - customers["historic_value"]

    holdout_table, holdout_figures, holdout_model = holdout_check(transactions_path, period, scoring)
    if master is not None:
        extra = [c for c in MASTER_COLUMNS if c in master.columns]
        customers = customers.merge(master[["customer_id", *extra]], on="customer_id", how="left", validate="one_to_one")
    models = {
        "bgnbd": bg.summary(),
        "gamma_gamma": gg.summary() if gg is not None else None,
        "bgnbd_calibration": holdout_model,
        "clv": {
            "method": method,
            "horizon_months": scoring.clv_horizon_months,
            "annual_discount_rate": scoring.annual_discount_rate,
            "margin_source": margin_source,
            "time_unit": scoring.time_unit,
            "fallback_reasons": reasons,
        },
        "customers": int(len(customers)),
        "repeat_buyers": int((x > 0).sum()),
        "customers_without_purchase": int(summary.attrs.get("customers_without_purchase", 0)),
    }
    return ScoringResult(customers, models, holdout_table, holdout_figures, bg, gg, method, reasons)


def model_fallback_reasons(customers: pd.DataFrame, bg: clv.BetaGeoModel, scoring: Scoring) -> list[dict[str, str]]:
    reasons = []
    repeat = int((customers["frequency"] > 0).sum())
    if repeat < scoring.min_repeat_buyers:
        reasons.append(_reason("too_few_repeat_buyers", value=str(repeat), limit=str(scoring.min_repeat_buyers)))
    if not bg.converged_:
        reasons.append(_reason("bgnbd_not_converged", value=bg.message_, limit=""))
    return reasons


def _reason(key: str, *, value: str, limit: str) -> dict[str, str]:
    return {"key": key, "value": value, "limit": limit}


def score_study(study) -> ScoringResult:
    """Score the run's cleaned transactions; write customers.parquet and models.json atomically."""
    from . import datasets, io

    p = study.params
    result = score_customers(
        study.require(datasets.TRANSACTIONS), period=p.period, scoring=p.scoring,
        master=datasets.load_optional(study, "customers"),
    )
    io.write_parquet(result.customers, study.output(datasets.CUSTOMERS))
    io.write_json(result.models, study.output(datasets.MODELS))
    io.write_parquet(result.holdout_table, study.output(datasets.HOLDOUT))
    return result


def frequency_recency_grids(
    model: clv.BetaGeoModel, customers: pd.DataFrame, *, horizon_months: int, time_unit: str, cells: int = 25
) -> dict[str, pd.DataFrame]:
    """P(alive) and expected purchases over a frequency × recency grid at the oldest customer's age.

    The standard BG/NBD diagnostic maps (lifetimes' ``plot_probability_alive_matrix`` and
    ``plot_frequency_recency_matrix``): rows are frequency, columns recency; cells with recency
    beyond T do not occur and the grid stops at the 99th percentile of frequency.
    """
    T = float(customers["T"].max())
    max_frequency = int(max(1, np.ceil(customers["frequency"].quantile(0.99))))
    frequencies = np.unique(np.linspace(0, max_frequency, min(cells, max_frequency + 1)).round().astype(int))
    recencies = np.linspace(0, T, cells).round()
    f, r = np.meshgrid(frequencies, recencies, indexing="ij")
    shape = f.shape
    f, r = f.ravel().astype(float), r.ravel()
    r = np.where(f == 0, 0.0, r)  # recency is 0 for customers without repeat purchases
    horizon = horizon_months * DAYS_PER_MONTH * units_per_day(time_unit)
    alive = model.conditional_probability_alive(f, r, np.full_like(f, T)).reshape(shape)
    expected = model.conditional_expected_purchases(horizon, f, r, np.full_like(f, T)).reshape(shape)
    index = pd.Index(frequencies, name="frequency")
    columns = pd.Index(recencies.astype(int), name="recency")
    return {"p_alive": pd.DataFrame(alive, index, columns), "expected": pd.DataFrame(expected, index, columns)}
