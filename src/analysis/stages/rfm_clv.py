"""Stage 2: every customer gets an RFM summary and scores, a segment, P(alive), expected purchases and a CLV.

The transaction → customer aggregation runs in the engine named in params (DuckDB or Spark,
:mod:`analysis.methods.customer_summary`); only the per-customer table comes back to pandas. BG/NBD and
Gamma-Gamma (:mod:`analysis.methods.clv`) are fitted on the whole window, and a holdout check refits
BG/NBD on the window less its last ``holdout_months`` and compares predicted with actual purchases.

When the data cannot support the models the CLV falls back to historic value, and the reasons are
kept: fewer repeat buyers than ``min_repeat_buyers``, a BG/NBD fit that did not converge, or spend
correlated with frequency beyond ``max_spend_frequency_corr`` (Gamma-Gamma assumes independence).

Thin data degrade rather than stop the stage; each analysis left out is recorded with its reason, a
message (``ScoringResult.skipped``, ``models.json`` → ``skipped``):

- ``bgnbd``: no customer bought twice, so BG/NBD is not identified (its dropout part rests on
  repeat purchases alone); ``p_alive`` and ``expected_purchases`` are then missing (NaN);
- ``gamma_gamma``: fewer repeat buyers than ``min_repeat_buyers``, or a fit that fails;
- ``holdout``: the calibration window is empty or has no days (period ≤ ``holdout_months``), or
  holds fewer repeat buyers than ``min_repeat_buyers``.

Only a period without a single purchase stops the run (:class:`NoUsableTransactionsError`).

A customer whose kept rows hold no purchase (returns only, orders returned in full or netted to
zero or below, or free orders with ``cleaning.zero_amount_orders: exclude``) is not scored: they
are listed with the reason in ``excluded_customers.parquet`` and counted in ``models.json`` →
``excluded_customers`` (:func:`excluded_customers`), never dropped silently.

:func:`compute` scores (the cleaned transactions file and params in, results out); :func:`run` writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.frame import catalog
from analysis.frame.params import Period, Scoring
from analysis.frame.study import Study
from analysis.i18n import Message, message
from analysis.methods import clv, rfm
from analysis.methods.customer_summary import customer_summary, holdout_split_summary

MASTER_COLUMNS = ("name", "phone", "industry", "region", "segment", "account_manager", "balance", "signup_date")
DAYS_PER_MONTH = 30.0  # lifetimes' convention for CLV periods
LANGUAGES = ("zh", "en")
HOLDOUT_COLUMNS = ("calibration_purchases", "n_customers", "actual_mean", "predicted_mean")
EXCLUDED_COLUMNS = ("customer_id", "reason", "rows", "net_amount")

#: Why an analysis was left out: a message (:func:`analysis.i18n.message`), rendered by the reader.
SkipNote = Message


class NoUsableTransactionsError(ValueError):
    """The cleaned transactions hold no purchase in the study period: there is nothing to score."""


def skip_note(key: str, **values: object) -> SkipNote:
    """Why an analysis was left out: the message ``key`` with ``values``."""
    return message(key, **values)


@dataclass
class ScoringResult:
    """Stage 2's results; ``bgnbd`` is None and ``holdout_table`` empty when ``skipped`` says why."""

    customers: pd.DataFrame
    models: dict[str, Any]
    holdout_table: pd.DataFrame
    holdout_figures: dict[str, float]
    bgnbd: clv.BetaGeoModel | None
    gamma_gamma: clv.GammaGammaModel | None
    clv_method: str  # "model" or "historic"
    fallback_reasons: list[dict[str, str]] = field(default_factory=list)
    skipped: dict[str, SkipNote] = field(default_factory=dict)
    excluded: pd.DataFrame = field(default_factory=lambda: _empty_excluded())


@dataclass
class HoldoutCheck:
    """The holdout check's table, figures and models.json record, or the reason it was skipped."""

    table: pd.DataFrame
    figures: dict[str, float]
    record: dict[str, Any] | None
    skipped: SkipNote | None = None


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
        fill = rate.median() if rate.notna().any() else 1.0
        return rate.fillna(fill).to_numpy(dtype=float), "cost"
    return np.ones(len(summary)), "none"


def require_purchases(summary: pd.DataFrame, transactions_path: Path, period: Period) -> None:
    """Stop with a plain message when no customer has a purchase in the period.

    Raises
    ------
    NoUsableTransactionsError
        Names the period, the quality report and the quarantine beside ``transactions_path``.
    """
    if len(summary):
        return
    others = int(summary.attrs.get("customers_without_purchase", 0))
    found = (
        f"the kept rows of {others} customer(s) are only returns or net-negative orders"
        if others
        else "no transaction row was kept"
    )
    raise NoUsableTransactionsError(_nothing_to_score(found, Path(transactions_path).parent, period))


def require_usable_transactions(transactions: pd.DataFrame, processed_dir: Path, period: Period) -> None:
    """The same check on the cleaned transactions, for the end of stage 1 (before any scoring).

    A purchase row is one flagged ``is_purchase`` (or, without that column, a non-return row with a
    positive amount); see :mod:`analysis.methods.customer_summary`.

    Raises
    ------
    NoUsableTransactionsError
        When no kept row is a purchase; the message points at quality.json and quarantine.parquet
        in ``processed_dir``.
    """
    if "is_purchase" in transactions.columns:
        purchase = transactions["is_purchase"].fillna(False).astype(bool)
    else:
        purchase = (transactions["amount"] > 0) & ~transactions["is_return"].fillna(False).astype(bool)
    if purchase.any():
        return
    found = (
        f"the {len(transactions)} kept row(s) are only returns or net-negative orders"
        if len(transactions)
        else "no transaction row was kept"
    )
    raise NoUsableTransactionsError(_nothing_to_score(found, Path(processed_dir), period))


def _nothing_to_score(found: str, folder: Path, period: Period) -> str:
    return (
        f"No customer has a purchase between {period.start} and {period.end}: {found}, so there is "
        f"nothing to score. See {folder / catalog.QUALITY} for how many rows each input kept and set "
        f"aside, and {folder / catalog.QUARANTINE} for every set-aside row with its reason. Then "
        "check inputs.transactions (path and column mapping) and period.start/period.end in the params file."
    )


def excluded_customers(transactions: pd.DataFrame, period: Period) -> pd.DataFrame:
    """Customers whose kept rows in the period hold no purchase, each with the reason.

    A purchase row is flagged ``is_purchase`` by the cleaning stage (without that column: a
    non-return row with a positive amount). An order netted below zero or returned in full is not a
    purchase; a free order (gross 0) is, unless ``cleaning.zero_amount_orders: exclude``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``reason`` (``returns_only``: every kept row is a return or an order
        returned in full; ``zero_amount_only``: only free orders (gross 0), with
        ``zero_amount_orders: exclude``; ``no_purchase``: orders netted to zero or below, or a
        mix of these), ``rows`` (kept rows in the period) and
        ``net_amount`` (their sum), sorted by ``customer_id``.
    """
    if transactions.empty:
        return _empty_excluded()
    day = pd.to_datetime(transactions["order_date"]).dt.date
    rows = transactions[(day >= period.start) & (day <= period.end)]
    is_return = rows["is_return"].fillna(False).astype(bool) if "is_return" in rows else pd.Series(False, index=rows.index)
    if "is_purchase" in rows:
        purchase = rows["is_purchase"].fillna(False).astype(bool)
    else:
        purchase = (rows["amount"] > 0) & ~is_return
    amount = pd.to_numeric(rows["amount"], errors="coerce").fillna(0.0)
    gross = pd.to_numeric(rows["gross_amount"], errors="coerce").fillna(amount) if "gross_amount" in rows else amount
    returned = (pd.to_numeric(rows["returned_amount"], errors="coerce").fillna(0.0) if "returned_amount" in rows
                else pd.Series(0.0, index=rows.index))
    returned_in_full = is_return | ((returned < 0) & (amount <= 0))
    frame = pd.DataFrame({"customer_id": rows["customer_id"].astype("string"), "purchase": purchase,
                          "is_return": returned_in_full, "zero": gross.eq(0) & returned.eq(0) & ~is_return,
                          "amount": amount})
    per = frame.groupby("customer_id", sort=True).agg(
        purchases=("purchase", "sum"), returns=("is_return", "sum"), zeros=("zero", "sum"),
        rows=("amount", "size"), net_amount=("amount", "sum"),
    )
    per = per[per["purchases"] == 0]
    if per.empty:
        return _empty_excluded()
    reason = np.select([per["returns"] == per["rows"], per["zeros"] == per["rows"]],
                       ["returns_only", "zero_amount_only"], "no_purchase")
    out = pd.DataFrame({"customer_id": per.index.astype("string"), "reason": pd.array(reason, dtype="string"),
                        "rows": per["rows"].to_numpy(dtype="int64"), "net_amount": per["net_amount"].to_numpy(dtype=float)})
    return out.reset_index(drop=True)


def _empty_excluded() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": pd.Series(dtype="string"), "reason": pd.Series(dtype="string"),
                         "rows": pd.Series(dtype="int64"), "net_amount": pd.Series(dtype="float64")})


def excluded_counts(excluded: pd.DataFrame) -> dict[str, int]:
    """Excluded customers per reason, for models.json (``{"returns_only": n, ...}``)."""
    return {str(k): int(v) for k, v in excluded["reason"].value_counts().sort_index().items()}


def read_excluded(transactions_path: Path, period: Period) -> pd.DataFrame:
    """:func:`excluded_customers` of the cleaned transactions file (only the columns it needs are read)."""
    import pyarrow.parquet as pq

    wanted = ["customer_id", "order_date", "amount", "gross_amount", "returned_amount", "is_return", "is_purchase"]
    names = set(pq.read_schema(transactions_path).names)
    return excluded_customers(pd.read_parquet(transactions_path, columns=[c for c in wanted if c in names]), period)


def repeat_buyers(frequency: pd.Series) -> int:
    return int((frequency > 0).sum())


def fit_bgnbd(customers: pd.DataFrame, time_unit: str) -> tuple[clv.BetaGeoModel | None, SkipNote | None]:
    """BG/NBD on the customers' (frequency, recency, T), or None and why when it cannot be estimated.

    With no repeat purchase at all the likelihood does not involve the dropout parameters (a, b) and
    drives the purchase rate to zero: the model is not identified, so it is not fitted.
    """
    if repeat_buyers(customers["frequency"]) == 0:
        return None, skip_note("skip_bgnbd_no_repeat")
    try:
        # The model of record: the whole period. Its estimates are models.json → bgnbd, and later
        # stages use its P(alive) and expected purchases from customers.parquet, never a refit.
        with np.errstate(all="ignore"):
            model = clv.BetaGeoModel(time_unit=time_unit).fit(customers["frequency"], customers["recency"], customers["T"])
    except clv.CLVInputError as exc:
        return None, skip_note("skip_bgnbd_failed", detail=str(exc))
    return model, None


def bgnbd_predictions(
    model: clv.BetaGeoModel | None, customers: pd.DataFrame, horizon: float
) -> tuple[np.ndarray, np.ndarray]:
    """P(alive) and expected purchases over ``horizon``; NaN without a model or where not finite."""
    if model is None:
        missing = np.full(len(customers), np.nan)
        return missing, missing.copy()
    x, t_x, T = customers["frequency"], customers["recency"], customers["T"]
    with np.errstate(all="ignore"):
        alive = model.conditional_probability_alive(x, t_x, T)
        expected = model.conditional_expected_purchases(horizon, x, t_x, T)
    return np.where(np.isfinite(alive), alive, np.nan), np.where(np.isfinite(expected), expected, np.nan)


def spend_frequency(customers: pd.DataFrame) -> pd.Series:
    """Repeat purchases for the spend model: 0 where the mean repeat spend is not positive.

    Gamma-Gamma needs a positive mean spend; a repeat buyer whose repeat periods hold only
    zero-amount orders is left out of the fit and gets the population mean spend.
    """
    return customers["frequency"].where(customers["monetary_value"] > 0, 0)


def fit_gamma_gamma(
    customers: pd.DataFrame, scoring: Scoring, reasons: list[dict[str, str]]
) -> tuple[clv.GammaGammaModel | None, SkipNote | None]:
    """Gamma-Gamma on the repeat buyers, unless too few of them (then None and the skip note).

    Adds ``spend_frequency_correlated`` and ``gamma_gamma_not_converged`` to ``reasons`` when they apply.
    """
    too_few = next((r for r in reasons if r["key"] == "too_few_repeat_buyers"), None)
    if too_few is not None:
        return None, skip_note("skip_gamma_gamma_few", n=too_few["value"], limit=too_few["limit"])
    x, spend = spend_frequency(customers), customers["monetary_value"]
    try:
        gg = clv.GammaGammaModel().fit(x, spend)
    except clv.CLVInputError as exc:
        reasons.append(_reason("gamma_gamma_unusable", value=str(exc), limit=""))
        return None, skip_note("skip_gamma_gamma_failed", detail=str(exc))
    correlation = gg.spend_frequency_correlation(x, spend)
    if abs(correlation) > scoring.max_spend_frequency_corr:
        reasons.append(_reason("spend_frequency_correlated", value=f"{correlation:.2f}",
                               limit=f"{scoring.max_spend_frequency_corr:.2f}"))
    if not gg.converged_:
        reasons.append(_reason("gamma_gamma_not_converged", value=gg.message_, limit=""))
    return gg, None


def model_clv(
    customers: pd.DataFrame, bg: clv.BetaGeoModel, gg: clv.GammaGammaModel, scoring: Scoring, margin: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Expected spend per purchase and the discounted CLV over the horizon (BG/NBD × Gamma-Gamma)."""
    unit = units_per_day(scoring.time_unit)
    spend = customers["monetary_value"].where(customers["monetary_value"] > 0, 0.0)
    expected_spend = gg.conditional_expected_average_profit(spend_frequency(customers), spend)
    purchases = clv.discounted_expected_purchases(
        bg, customers["frequency"], customers["recency"], customers["T"],
        horizon_periods=scoring.clv_horizon_months, period_length=DAYS_PER_MONTH * unit,
        annual_discount_rate=scoring.annual_discount_rate, time_units_per_year=365.0 * unit,
    )
    return expected_spend, purchases * expected_spend * margin


def holdout_check(path: Path, period: Period, scoring: Scoring) -> HoldoutCheck:
    """Refit BG/NBD on the calibration window and compare with the holdout's actual purchases.

    Skipped, with the reason, when the calibration window has no days, no purchase, or fewer
    repeat buyers than ``scoring.min_repeat_buyers`` (a refit on so few says nothing reliable).
    """
    cal_end = calibration_end(period, scoring.holdout_months)
    if cal_end <= period.start:
        return _no_holdout(skip_note("skip_holdout_too_short", start=period.start, end=period.end,
                                     months=scoring.holdout_months))
    split = holdout_split_summary(
        path, calibration_end=cal_end, observation_end=period.end, observation_start=period.start,
        time_unit=scoring.time_unit, engine=scoring.engine,
    )
    if split.empty:
        return _no_holdout(skip_note("skip_holdout_empty", start=period.start, calibration_end=cal_end))
    repeat = repeat_buyers(split["frequency"])
    if repeat < scoring.min_repeat_buyers:
        return _no_holdout(skip_note("skip_holdout_few_repeat", calibration_end=cal_end, n=repeat,
                                     limit=scoring.min_repeat_buyers))
    try:
        # Not the model of record: other data (the period less its last holdout_months), so the
        # holdout purchases it predicts are unseen; models.json → bgnbd_calibration.
        with np.errstate(all="ignore"):
            model = clv.BetaGeoModel(time_unit=scoring.time_unit).fit(split["frequency"], split["recency"], split["T"])
            table, figures = clv.holdout_comparison(
                model, split["frequency"], split["recency"], split["T"], split["frequency_holdout"],
                split["duration_holdout"],
            )
    except clv.CLVInputError as exc:
        return _no_holdout(skip_note("skip_holdout_failed", detail=str(exc)))
    record = model.summary() | {"calibration_end": str(cal_end), "holdout_figures": figures}
    return HoldoutCheck(table, figures, record)


def _no_holdout(why: SkipNote) -> HoldoutCheck:
    table = pd.DataFrame({c: pd.Series(dtype="string" if c == "calibration_purchases" else "float64")
                          for c in HOLDOUT_COLUMNS})
    return HoldoutCheck(table, {}, None, why)


def compute(
    transactions_path: Path, *, period: Period, scoring: Scoring, master: pd.DataFrame | None = None
) -> ScoringResult:
    """RFM scores, segments, P(alive), expected purchases and CLV of every customer with a purchase;
    nothing is written. The cleaned transactions are read from their file by the engine
    (``scoring.engine``), out of core.

    Raises
    ------
    NoUsableTransactionsError
        When no customer has a purchase in the period.
    """
    summary = customer_summary(
        transactions_path, observation_end=period.end, observation_start=period.start,
        time_unit=scoring.time_unit, engine=scoring.engine,
    )
    require_purchases(summary, transactions_path, period)
    excluded = read_excluded(Path(transactions_path), period)
    customers = rfm.rfm_scores(summary, bins=scoring.rfm_bins, thresholds=scoring.rfm_thresholds)
    customers = rfm.assign_segments(customers, scoring.segment_rules or rfm.DEFAULT_SEGMENT_RULES, bins=scoring.rfm_bins)
    customers.attrs = {}
    skipped: dict[str, SkipNote] = {}

    bg, why = fit_bgnbd(customers, scoring.time_unit)
    if why is not None:
        skipped["bgnbd"] = why
    horizon = scoring.clv_horizon_months * DAYS_PER_MONTH * units_per_day(scoring.time_unit)
    customers["p_alive"], customers["expected_purchases"] = bgnbd_predictions(bg, customers, horizon)

    margin, margin_source = margin_rate(customers, scoring)
    customers["historic_value"] = customers["revenue"] * margin
    reasons = model_fallback_reasons(customers, bg, scoring)
    gg, why = fit_gamma_gamma(customers, scoring, reasons)
    if why is not None:
        skipped["gamma_gamma"] = why
    method = "historic"
    if bg is not None and gg is not None and not reasons:
        try:
            customers["expected_spend"], customers["clv"] = model_clv(customers, bg, gg, scoring, margin)
            method = "model"
        except clv.CLVInputError as exc:
            reasons.append(_reason("gamma_gamma_unusable", value=str(exc), limit=""))
    if method == "historic":
        customers["expected_spend"] = np.where(customers["frequency"] > 0, customers["monetary_value"], customers["revenue"])
        customers["clv"] = customers["historic_value"]
    customers["potential_value"] = customers["clv"] - customers["historic_value"]

    holdout = holdout_check(transactions_path, period, scoring)
    if holdout.skipped is not None:
        skipped["holdout"] = holdout.skipped
    if master is not None:
        extra = [c for c in MASTER_COLUMNS if c in master.columns]
        customers = customers.merge(master[["customer_id", *extra]], on="customer_id", how="left", validate="one_to_one")
    models = {
        "bgnbd": bg.summary() if bg is not None else None,
        "gamma_gamma": gg.summary() if gg is not None else None,
        "bgnbd_calibration": holdout.record,
        "clv": {
            "method": method,
            "horizon_months": scoring.clv_horizon_months,
            "annual_discount_rate": scoring.annual_discount_rate,
            "margin_source": margin_source,
            "time_unit": scoring.time_unit,
            "fallback_reasons": reasons,
        },
        "customers": int(len(customers)),
        "repeat_buyers": repeat_buyers(customers["frequency"]),
        "customers_without_purchase": int(summary.attrs.get("customers_without_purchase", 0)),
        "excluded_customers": excluded_counts(excluded),
        "skipped": skipped,
    }
    return ScoringResult(customers, models, holdout.table, holdout.figures, bg, gg, method, reasons, skipped, excluded)


def model_fallback_reasons(
    customers: pd.DataFrame, bg: clv.BetaGeoModel | None, scoring: Scoring
) -> list[dict[str, str]]:
    """Why the CLV models cannot be used: too few repeat buyers, a BG/NBD fit missing or not converged."""
    reasons = []
    repeat = repeat_buyers(customers["frequency"])
    if repeat < scoring.min_repeat_buyers:
        reasons.append(_reason("too_few_repeat_buyers", value=str(repeat), limit=str(scoring.min_repeat_buyers)))
    if bg is None:
        reasons.append(_reason("bgnbd_unusable", value="", limit=""))
    elif not bg.converged_:
        reasons.append(_reason("bgnbd_not_converged", value=bg.message_, limit=""))
    return reasons


def _reason(key: str, *, value: str, limit: str) -> dict[str, str]:
    return {"key": key, "value": value, "limit": limit}


def run(study: Study) -> ScoringResult:
    """Score the run's cleaned transactions; write customers.parquet, excluded_customers.parquet and models.json."""
    p = study.params
    result = compute(
        study.require(catalog.TRANSACTIONS), period=p.period, scoring=p.scoring,
        master=study.read_optional(catalog.MASTER),
    )
    study.write(catalog.CUSTOMERS, result.customers)
    study.write(catalog.EXCLUDED_CUSTOMERS, result.excluded)
    study.write(catalog.MODELS, result.models)
    study.write(catalog.HOLDOUT, result.holdout_table)
    return result


def frequency_recency_grids(
    model: clv.BetaGeoModel | None, customers: pd.DataFrame, *, horizon_months: int, time_unit: str, cells: int = 25
) -> dict[str, pd.DataFrame]:
    """P(alive) and expected purchases over a frequency × recency grid at the oldest customer's age.

    The standard BG/NBD diagnostic maps (lifetimes' ``plot_probability_alive_matrix`` and
    ``plot_frequency_recency_matrix``): rows are frequency, columns recency; cells with recency
    beyond T do not occur and the grid stops at the 99th percentile of frequency.

    Raises
    ------
    ValueError
        When ``model`` is None (BG/NBD was not fitted; ``ScoringResult.skipped["bgnbd"]`` says why).
    """
    if model is None:
        raise ValueError(
            "there is no BG/NBD model to map: it was not fitted on this run's data (see "
            "result.skipped['bgnbd']); show the maps only when result.bgnbd is not None"
        )
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
