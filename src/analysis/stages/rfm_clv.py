"""Stage 2: every customer gets an RFM summary and scores, a segment, P(alive), expected purchases and a CLV.

The transaction → customer aggregation runs in the engine named in params (DuckDB or Spark,
:mod:`analysis.methods.customer_summary`); only the per-customer table comes back to pandas.

The purchase model is chosen on a holdout (:mod:`analysis.methods.clv.selection`): BG/NBD and
Pareto/NBD are both fitted on the window less its last ``holdout_months`` and predict the purchases
of those months; with ``scoring.purchase_model: auto`` the one whose predictions are closer to
them (mean Poisson deviance per customer) is used, a near tie going to the lower BIC, BG/NBD when
there is no holdout check, and the params may force either. The chosen model is refitted on the whole window and gives P(alive), expected
purchases and, with Gamma-Gamma, the CLV; when it cannot be fitted there the other model stands in
and the reason is kept (``models.json`` → ``purchase_model``). BG/NBD is always fitted on the whole
window too (``models.json`` → ``bgnbd``). Months and years are converted to the model's time unit
in one place, :mod:`analysis.methods.clv.units` (a month is 30 days).

When the data cannot support the models the CLV falls back to historic value, and the reasons are
kept: fewer repeat buyers than ``min_repeat_buyers``, no purchase model that converged, or spend
correlated with frequency beyond ``max_spend_frequency_corr`` (Gamma-Gamma assumes independence).

Thin data degrade rather than stop the stage; each analysis left out is recorded with its reason, a
message (``ScoringResult.skipped``, ``models.json`` → ``skipped``):

- ``bgnbd``: no purchase model scores the customers: no customer bought twice, so neither BG/NBD
  nor Pareto/NBD is identified (their dropout parts rest on repeat purchases alone), or no model can
  be estimated; ``p_alive`` and ``expected_purchases`` are then missing (NaN);
- ``gamma_gamma``: fewer repeat buyers than ``min_repeat_buyers``, or a fit that fails;
- ``holdout``: the calibration window is empty or has no days (period ≤ ``holdout_months``), or
  holds fewer repeat buyers than ``min_repeat_buyers``, or neither model can be estimated on it.

Only a period without a single purchase stops the run (:class:`NoUsableTransactionsError`).

A customer whose kept rows hold no purchase (returns only, orders returned in full or netted to
zero or below, or free orders with ``cleaning.zero_amount_orders: exclude``) is not scored: they
are listed with the reason in ``excluded_customers.parquet`` and counted in ``models.json`` →
``excluded_customers`` (:func:`excluded_customers`), never dropped silently.

:func:`compute` scores (the cleaned transactions file and params in, results out); :func:`run` writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.frame import catalog
from analysis.frame.params import Period, Scoring
from analysis.frame.study import Study
from analysis.i18n import Message, joined, message
from analysis.methods import clv, rfm
from analysis.methods.codes import text_array
from analysis.methods.cores import beside
from analysis.methods.customer_summary import customer_summary, holdout_split_summary
from analysis.methods.duckdb_session import duckdb_session
from analysis.methods.ids import left_joined

MASTER_COLUMNS = ("name", "phone", "industry", "region", "segment", "account_manager", "balance", "signup_date")
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
    """Stage 2's results; ``purchase_model`` is None and ``holdout_table`` empty when ``skipped`` says why.

    ``bgnbd`` is BG/NBD on the whole window (models.json → ``bgnbd``) whichever model scores;
    ``purchase_model`` is the model that gave P(alive), expected purchases and the CLV, and
    ``purchase_model_code`` its code (``bgnbd`` or ``pareto_nbd``). ``holdout_table`` and
    ``holdout_figures`` are that model's holdout check, ``model_comparison`` both models'.
    """

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
    purchase_model: clv.PurchaseModel | None = None
    purchase_model_code: str = clv.DEFAULT_PURCHASE_MODEL
    model_comparison: pd.DataFrame = field(default_factory=clv.empty_comparison_table)
    draws: clv.ParameterDraws | None = None  # the parameter draws behind the intervals (stage 3 reuses them)


@dataclass
class HoldoutCheck:
    """Both purchase models fitted on the calibration window and checked on the holdout, or why not.

    ``checks`` is empty when ``skipped`` says why the check was not run.
    """

    checks: dict[str, clv.ModelCheck]
    calibration_end: date | None = None
    duration: float | None = None  # the holdout's length in the time unit
    skipped: SkipNote | None = None

    def table(self, code: str) -> pd.DataFrame:
        """Model ``code``'s actual and predicted holdout purchases by calibration purchases (holdout.parquet)."""
        check = self.checks.get(code)
        if check is None or check.buckets is None:
            return _empty_holdout_table()
        return check.buckets

    def figures(self, code: str) -> dict[str, float]:
        check = self.checks.get(code)
        return dict(check.figures) if check is not None else {}

    def comparison(self) -> pd.DataFrame:
        """Every model's check in one table (purchase_model_holdout.parquet)."""
        return clv.comparison_table(self.checks) if self.checks else clv.empty_comparison_table()

    def record(self) -> dict[str, Any] | None:
        """models.json → ``purchase_model_comparison``: each model's fit and figures; None when skipped."""
        if not self.checks:
            return None
        return {"calibration_end": str(self.calibration_end), "holdout_duration": self.duration,
                **clv.comparison_record(self.checks)}

    def bgnbd_record(self) -> dict[str, Any] | None:
        """models.json → ``bgnbd_calibration``: the BG/NBD calibration fit and its holdout figures."""
        check = self.checks.get("bgnbd")
        if check is None or check.model is None or not check.figures:
            return None
        return check.model.summary() | {"calibration_end": str(self.calibration_end), "holdout_figures": check.figures}


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
    require_purchase_rows(len(transactions), int(purchase.sum()), processed_dir, period)


def require_purchase_rows(rows: int, purchases: int, processed_dir: Path, period: Period) -> None:
    """:func:`require_usable_transactions` on counts: ``rows`` kept rows, ``purchases`` of them purchases."""
    if purchases:
        return
    found = f"the {rows} kept row(s) are only returns or net-negative orders" if rows else "no transaction row was kept"
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


#: The transaction columns :func:`excluded_customers` reads.
_EXCLUDED_COLUMNS = ("customer_id", "order_date", "amount", "gross_amount", "returned_amount", "is_return", "is_purchase")


def read_excluded(transactions_path: Path, period: Period, memory_limit: str | None = None) -> pd.DataFrame:
    """:func:`excluded_customers` of the cleaned transactions file.

    DuckDB reads the columns it needs and hands pandas only the rows in ``period`` of the customers
    without a purchase row in it, in file order: a customer with one is never excluded, and the others
    keep every row, so the result is that of all rows (10M rows: 0.6-0.8 s against 1.8 s for reading
    the columns whole with Arrow). A file whose dates are not timezone-naive timestamps is read whole.
    """
    import pyarrow.parquet as pq

    schema = pq.read_schema(transactions_path)
    columns = [c for c in _EXCLUDED_COLUMNS if c in schema.names]
    dates = schema.field("order_date").type
    if not pa.types.is_timestamp(dates) or dates.tz is not None:
        return excluded_customers(pq.read_table(transactions_path, columns=columns).to_pandas(), period)
    if "is_purchase" in columns:
        purchase = "COALESCE(is_purchase, FALSE)"
    else:
        is_return = "COALESCE(is_return, FALSE)" if "is_return" in columns else "FALSE"
        purchase = f"COALESCE(amount > 0, FALSE) AND NOT {is_return}"
    # a naive timestamp's date is in [start, end] when the timestamp is in [start, end + 1 day)
    query = f"""
    WITH in_period AS (
        SELECT {", ".join(columns)}, file_row_number FROM read_parquet(?, file_row_number = true)
        WHERE order_date >= ? AND order_date < ?
    ),
    buyers AS (SELECT DISTINCT customer_id FROM in_period WHERE {purchase})
    SELECT * EXCLUDE (file_row_number) FROM in_period AS row
    WHERE NOT EXISTS (SELECT 1 FROM buyers WHERE buyers.customer_id IS NOT DISTINCT FROM row.customer_id)
    ORDER BY file_row_number"""
    window = [pd.Timestamp(period.start), pd.Timestamp(period.end) + pd.Timedelta(days=1)]
    with duckdb_session(memory_limit) as con:
        rows = con.sql(query, params=[str(transactions_path), *window]).to_arrow_table()
    return excluded_customers(rows.to_pandas(), period)


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
        # BG/NBD on the whole period: models.json → bgnbd, and the scoring model when it is chosen.
        model = clv.fit_purchase_model("bgnbd", customers["frequency"], customers["recency"], customers["T"], time_unit)
    except clv.CLVInputError as exc:
        return None, skip_note("skip_bgnbd_failed", detail=str(exc))
    return model, None


def fit_whole_period(
    code: str, customers: pd.DataFrame, time_unit: str
) -> tuple[clv.PurchaseModel | None, Message | None]:
    """Purchase model ``code`` on the whole period, or None and why it cannot be estimated."""
    if repeat_buyers(customers["frequency"]) == 0:
        return None, skip_note("skip_bgnbd_no_repeat")
    try:
        return clv.fit_purchase_model(code, customers["frequency"], customers["recency"], customers["T"], time_unit), None
    except clv.CLVInputError as exc:
        return None, message("purchase_model_failed", model=clv.model_name(code), detail=str(exc))


def scoring_model(
    choice: clv.Choice, bgnbd: clv.BetaGeoModel | None, bgnbd_why: Message | None, customers: pd.DataFrame,
    time_unit: str,
) -> tuple[clv.PurchaseModel | None, clv.Choice]:
    """The model that scores the customers: the chosen one on the whole period, else the other one.

    The other model stands in (and the choice says why, :func:`analysis.methods.clv.fallback_choice`)
    when the chosen one cannot be estimated or does not converge on the whole period and the other
    one converges, or when the chosen one cannot be estimated at all. Otherwise the chosen model is
    kept, converged or not: the CLV then falls back to historic value (:func:`model_fallback_reasons`).
    The model of record is the whole period's: later stages use its P(alive) and expected purchases
    from customers.parquet, never a refit.
    """
    fitted: dict[str, tuple[clv.PurchaseModel | None, Message | None]] = {"bgnbd": (bgnbd, bgnbd_why)}

    def fit(code: str) -> tuple[clv.PurchaseModel | None, Message | None]:
        if code not in fitted:
            fitted[code] = fit_whole_period(code, customers, time_unit)
        model, why = fitted[code]
        return model, why if model is None else clv.why_unusable(model)

    if repeat_buyers(customers["frequency"]) == 0:
        return None, choice  # neither model is identified; the skip note says so
    model, why = fit(choice.code)
    if why is None:
        return model, choice
    other = clv.other_model(choice.code)
    other_model, other_why = fit(other)
    if other_model is not None and (other_why is None or model is None):
        return other_model, clv.fallback_choice(choice, other, why)
    return model, choice


def purchase_predictions(
    model: clv.PurchaseModel | None, customers: pd.DataFrame, horizon: float
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


def value_horizon(scoring: Scoring) -> dict[str, float]:
    """The CLV horizon and discounting in the model's time unit, as the value functions take them.

    ``clv_horizon_months`` months of :data:`analysis.methods.clv.DAYS_PER_MONTH` days, discounted month
    by month (:mod:`analysis.methods.clv.units`).
    """
    return {
        "horizon_periods": scoring.clv_horizon_months,
        "period_length": clv.month_in_units(scoring.time_unit),
        "annual_discount_rate": scoring.annual_discount_rate,
        "time_units_per_year": clv.year_in_units(scoring.time_unit),
    }


def model_clv(
    customers: pd.DataFrame, model: clv.PurchaseModel, gg: clv.GammaGammaModel, scoring: Scoring, margin: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Expected spend per purchase and the discounted CLV over the horizon (purchase model × Gamma-Gamma)."""
    spend = customers["monetary_value"].where(customers["monetary_value"] > 0, 0.0)
    expected_spend = gg.conditional_expected_average_profit(spend_frequency(customers), spend)
    purchases = clv.discounted_expected_purchases(
        model, customers["frequency"], customers["recency"], customers["T"], **value_horizon(scoring)
    )
    return expected_spend, purchases * expected_spend * margin


def value_intervals(
    customers: pd.DataFrame, model: clv.PurchaseModel, gg: clv.GammaGammaModel, scoring: Scoring,
    margin: np.ndarray, seed: int,
) -> tuple[pd.DataFrame | None, clv.ParameterDraws | None, SkipNote | None]:
    """Per-customer intervals of P(alive), expected purchases and CLV from ``scoring.interval_draws``
    draws of both models' parameters, and the draws; or why there are none (a fit without a usable
    covariance). ``interval_draws: 0`` turns them off without a note."""
    begun, why = begin_value_intervals(customers, model, gg, scoring, margin, seed)
    if begun is None:
        return None, None, why
    result = begun.finish()
    return result.customers, result.draws, None


def begin_value_intervals(
    customers: pd.DataFrame, model: clv.PurchaseModel, gg: clv.GammaGammaModel, scoring: Scoring,
    margin: np.ndarray, seed: int,
) -> tuple[clv.CLVIntervalsBegun | None, SkipNote | None]:
    """:func:`value_intervals` begun (``finish()`` makes them), or why there are none."""
    if not scoring.interval_draws:
        return None, None
    try:
        draws = clv.draw_parameters(model, gg, draws=scoring.interval_draws, seed=seed)
        begun = clv.begin_clv_intervals(
            customers, draws, margin=margin, level=scoring.interval_level, **value_horizon(scoring)
        )
    except clv.CLVInputError as exc:
        return None, skip_note("skip_clv_intervals", detail=str(exc))
    return begun, None


@dataclass
class BGNBDValue:
    """What the CLV takes from BG/NBD, made while the holdout check runs (:func:`bgnbd_value`): the
    fallback reasons, the Gamma-Gamma fit and the intervals begun; used when BG/NBD scores the
    customers (:meth:`serves`), dropped otherwise."""

    model: clv.BetaGeoModel
    reasons: list[dict[str, str]]
    gg: clv.GammaGammaModel | None
    gg_why: SkipNote | None
    intervals: clv.CLVIntervalsBegun | None = None
    intervals_why: SkipNote | None = None

    def serves(self, model: clv.PurchaseModel | None, choice: clv.Choice) -> bool:
        return model is self.model and choice.code == "bgnbd"


def bgnbd_value(customers: pd.DataFrame, bg: clv.BetaGeoModel, scoring: Scoring, margin: np.ndarray, seed: int) -> BGNBDValue:
    """The steps of :func:`compute` from the fallback reasons to the intervals begun, for BG/NBD."""
    reasons = model_fallback_reasons(customers, bg, scoring, "bgnbd")
    gg, why = fit_gamma_gamma(customers, scoring, reasons)
    value = BGNBDValue(bg, reasons, gg, why)
    if gg is not None and not reasons:
        value.intervals, value.intervals_why = begin_value_intervals(customers, bg, gg, scoring, margin, seed)
    return value


def stored_draws(
    models: dict[str, Any], table: pd.DataFrame | None, pair_terms: pd.DataFrame | None = None
) -> clv.ParameterDraws | None:
    """The parameter draws :func:`run` wrote (clv_parameter_draws.parquet), around models holding the
    estimates in ``models`` (models.json), with their pair terms (clv_pair_terms.parquet) when given;
    None when the run made none."""
    record = models.get("intervals")
    purchase = (models.get("purchase_model") or {}).get("summary")
    if table is None or record is None or purchase is None or models.get("gamma_gamma") is None:
        return None
    code = models["purchase_model"]["name"]
    purchase_model = clv.with_estimates(clv.PURCHASE_MODELS[code](time_unit=models["clv"]["time_unit"]),
                                        purchase["params"])
    spend_model = clv.with_estimates(clv.GammaGammaModel(), models["gamma_gamma"]["params"])
    draws = clv.ParameterDraws.from_frame(table, purchase_model, spend_model, seed=record["seed"])
    horizon = record.get("pair_terms_horizon")
    if pair_terms is None or horizon is None:
        return draws
    terms = clv.PairTerms.from_frame(pair_terms, horizon["period_ends"], horizon["discount"])
    return replace(draws, pair_terms=terms)


def intervals_record(draws: clv.ParameterDraws | None, scoring: Scoring) -> dict[str, Any] | None:
    """models.json → ``intervals``: how the intervals were made and each parameter's interval."""
    if draws is None:
        return None
    table = clv.parameter_intervals(draws, level=scoring.interval_level)
    return {
        "method": "parameter_draws",
        "level": scoring.interval_level,
        "draws": draws.n_draws,
        "seed": draws.seed,
        # the horizon clv_pair_terms.parquet was computed for (03_tiers uses the terms for that horizon only)
        "pair_terms_horizon": None if draws.pair_terms is None else {
            "period_ends": draws.pair_terms.ends.tolist(), "discount": draws.pair_terms.discount.tolist()},
        "parameters": {
            row.parameter: {"model": row.model, "estimate": row.estimate, "low": row.low, "high": row.high}
            for row in table.itertuples()
        },
    }


def holdout_check(path: Path, period: Period, scoring: Scoring) -> HoldoutCheck:
    """Fit both purchase models on the calibration window and predict the holdout's purchases.

    Skipped, with the reason, when the calibration window has no days, no purchase, or fewer
    repeat buyers than ``scoring.min_repeat_buyers`` (a refit on so few says nothing reliable), or
    when neither model can be estimated on it. The calibration fits are not the models of record:
    they see other data (the period less its last ``holdout_months``), so the holdout is unseen.
    """
    cal_end = calibration_end(period, scoring.holdout_months)
    if cal_end <= period.start:
        return HoldoutCheck({}, skipped=skip_note("skip_holdout_too_short", start=period.start, end=period.end,
                                                   months=scoring.holdout_months))
    split = holdout_split_summary(
        path, calibration_end=cal_end, observation_end=period.end, observation_start=period.start,
        time_unit=scoring.time_unit, engine=scoring.engine, rfm_only=True, memory_limit=scoring.engine_memory_limit,
    )
    if split.empty:
        return HoldoutCheck({}, skipped=skip_note("skip_holdout_empty", start=period.start, calibration_end=cal_end))
    repeat = repeat_buyers(split["frequency"])
    if repeat < scoring.min_repeat_buyers:
        return HoldoutCheck({}, skipped=skip_note("skip_holdout_few_repeat", calibration_end=cal_end, n=repeat,
                                                   limit=scoring.min_repeat_buyers))
    checks = clv.check_purchase_models(split, scoring.time_unit)
    if all(check.model is None for check in checks.values()):
        why = joined([check.unusable for check in checks.values()], "separator_sentences")
        return HoldoutCheck({}, skipped=skip_note("skip_holdout_failed", detail=why))
    duration = float(split["duration_holdout"].iloc[0])
    return HoldoutCheck(checks, cal_end, duration)


def _empty_holdout_table() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string" if c == "calibration_purchases" else "float64")
                         for c in HOLDOUT_COLUMNS})


def compute(
    transactions_path: Path, *, period: Period, scoring: Scoring, master: pd.DataFrame | None = None, seed: int = 0
) -> ScoringResult:
    """RFM scores, segments, P(alive), expected purchases and CLV of every customer with a purchase,
    with intervals from draws of the models' parameters (``seed``); nothing is written. The cleaned transactions are read from their file by the engine
    (``scoring.engine``), out of core.

    While the holdout check runs, BG/NBD's Gamma-Gamma fit and value intervals are begun
    (:func:`bgnbd_value`): they are used when BG/NBD scores the customers, dropped otherwise, so the
    results are those of making them after the check.

    Raises
    ------
    NoUsableTransactionsError
        When no customer has a purchase in the period.
    """
    summary = customer_summary(
        transactions_path, observation_end=period.end, observation_start=period.start,
        time_unit=scoring.time_unit, engine=scoring.engine, memory_limit=scoring.engine_memory_limit,
    )
    require_purchases(summary, transactions_path, period)
    # the holdout check (its own query and two refits) runs beside the scores and the BG/NBD fit:
    # much of either runs on one core
    with beside(holdout_check, transactions_path, period, scoring) as checked:
        customers = rfm.rfm_scores(summary, bins=scoring.rfm_bins, thresholds=scoring.rfm_thresholds)
        customers = rfm.assign_segments(customers, scoring.segment_rules or rfm.DEFAULT_SEGMENT_RULES, bins=scoring.rfm_bins)
        customers.attrs = {}
        bg, bg_why = fit_bgnbd(customers, scoring.time_unit)
        # what needs no purchase model, while the check's Pareto/NBD refit runs on one core (10M rows:
        # this thread waited about 4 s for it)
        excluded = read_excluded(Path(transactions_path), period, scoring.engine_memory_limit)
        from_master = None if master is None else with_master_columns(customers[["customer_id"]], master)
        margin, margin_source = margin_rate(customers, scoring)
        # then BG/NBD's value, the usual choice, a chunk of the intervals at a time until the check is done
        ahead = (bgnbd_value(customers, bg, scoring, margin, seed)
                 if bg is not None and scoring.purchase_model != "pareto_nbd" else None)
        while ahead is not None and ahead.intervals is not None and not checked.done() and ahead.intervals.step():
            pass
        holdout = checked.result()
    skipped: dict[str, SkipNote] = {}
    if holdout.skipped is not None:
        skipped["holdout"] = holdout.skipped
    choice = clv.choose_purchase_model(holdout.checks or None, scoring.purchase_model)
    model, choice = scoring_model(choice, bg, bg_why, customers, scoring.time_unit)
    if model is None:
        skipped["bgnbd"] = bg_why or skip_note("skip_bgnbd_failed", detail=choice.reason)
    horizon = clv.months_in_units(scoring.clv_horizon_months, scoring.time_unit)
    customers["p_alive"], customers["expected_purchases"] = purchase_predictions(model, customers, horizon)

    customers["margin_rate"] = margin
    customers["historic_value"] = customers["revenue"] * margin
    if ahead is None or not ahead.serves(model, choice):
        ahead = None
        reasons = model_fallback_reasons(customers, model, scoring, choice.code)
        gg, why = fit_gamma_gamma(customers, scoring, reasons)
    else:
        reasons, gg, why = ahead.reasons, ahead.gg, ahead.gg_why
    if why is not None:
        skipped["gamma_gamma"] = why
    method, draws = "historic", None
    if model is not None and gg is not None and not reasons:
        try:
            customers["expected_spend"], customers["clv"] = model_clv(customers, model, gg, scoring, margin)
            method = "model"
        except clv.CLVInputError as exc:
            reasons.append(_reason("gamma_gamma_unusable", value=str(exc), limit=""))
    if method == "model":
        begun, why = ((ahead.intervals, ahead.intervals_why) if ahead is not None
                      else begin_value_intervals(customers, model, gg, scoring, margin, seed))
        if why is not None:
            skipped["intervals"] = why
        if begun is not None:
            intervals = begun.finish()
            draws = intervals.draws
            for column in clv.CUSTOMER_INTERVAL_COLUMNS:
                customers[column] = intervals.customers[column].to_numpy()
    if method == "historic":
        customers["expected_spend"] = np.where(customers["frequency"] > 0, customers["monetary_value"], customers["revenue"])
        customers["clv"] = customers["historic_value"]
    customers["potential_value"] = customers["clv"] - customers["historic_value"]

    if from_master is not None:  # the master's columns, joined above: the same customers row for row
        customers = left_joined(customers, from_master)
    models = {
        "bgnbd": bg.summary() if bg is not None else None,
        "gamma_gamma": gg.summary() if gg is not None else None,
        "purchase_model": purchase_model_record(choice, model, scoring.purchase_model),
        "purchase_model_comparison": holdout.record(),
        "bgnbd_calibration": holdout.bgnbd_record(),
        "clv": {
            "method": method,
            "purchase_model": choice.code,
            "horizon_months": scoring.clv_horizon_months,
            "annual_discount_rate": scoring.annual_discount_rate,
            "margin_source": margin_source,
            "time_unit": scoring.time_unit,
            "fallback_reasons": reasons,
        },
        "time_units": clv.time_units_record(scoring.time_unit, scoring.clv_horizon_months),
        "intervals": intervals_record(draws, scoring),
        "customers": int(len(customers)),
        "repeat_buyers": repeat_buyers(customers["frequency"]),
        "customers_without_purchase": int(summary.attrs.get("customers_without_purchase", 0)),
        "excluded_customers": excluded_counts(excluded),
        "skipped": skipped,
    }
    return ScoringResult(
        customers, models, holdout.table(choice.code), holdout.figures(choice.code), bg, gg, method, reasons,
        skipped, excluded, purchase_model=model, purchase_model_code=choice.code,
        model_comparison=holdout.comparison(), draws=draws,
    )


def with_master_columns(customers: pd.DataFrame, master: pd.DataFrame) -> pd.DataFrame:
    """The customers (one row each) with the :data:`MASTER_COLUMNS` the master has, joined by id.

    Raises
    ------
    ValueError
        When an id is in the master twice (stage 1 sets repeats aside): a join would repeat customers.
    """
    ids = text_array(master["customer_id"]).drop_null()
    if pc.count_distinct(ids).as_py() != len(ids):
        raise ValueError("The customer master names a customer_id twice: clean it with stage 1, which sets repeats aside.")
    extra = [c for c in MASTER_COLUMNS if c in master.columns]
    return left_joined(customers, master[["customer_id", *extra]])


def purchase_model_record(choice: clv.Choice, model: clv.PurchaseModel | None, setting: str) -> dict[str, Any]:
    """models.json → ``purchase_model``: the model that scored, the params' setting, the rule and why."""
    return {
        "name": choice.code,
        "setting": setting,
        "rule": choice.rule,
        "reason": choice.reason,
        "summary": model.summary() if model is not None else None,
    }


def model_fallback_reasons(
    customers: pd.DataFrame, model: clv.PurchaseModel | None, scoring: Scoring, code: str = clv.DEFAULT_PURCHASE_MODEL
) -> list[dict[str, str]]:
    """Why the CLV models cannot be used: too few repeat buyers, the purchase model ``code`` missing or not converged."""
    reasons = []
    repeat = repeat_buyers(customers["frequency"])
    if repeat < scoring.min_repeat_buyers:
        reasons.append(_reason("too_few_repeat_buyers", value=str(repeat), limit=str(scoring.min_repeat_buyers)))
    if model is None:
        reasons.append(_reason(f"{code}_unusable", value="", limit=""))
    elif not model.converged_:
        reasons.append(_reason(f"{code}_not_converged", value=model.message_, limit=""))
    return reasons


def _reason(key: str, *, value: str, limit: str) -> dict[str, str]:
    return {"key": key, "value": value, "limit": limit}


def run(study: Study) -> ScoringResult:
    """Score the run's cleaned transactions; write customers.parquet, excluded_customers.parquet, models.json,
    holdout.parquet, purchase_model_holdout.parquet, clv_parameter_draws.parquet and clv_pair_terms.parquet."""
    p = study.params
    result = compute(
        study.require(catalog.TRANSACTIONS), period=p.period, scoring=p.scoring,
        master=study.read_optional(catalog.MASTER), seed=p.seed,
    )
    draws = {}
    if result.draws is not None:
        draws[catalog.CLV_DRAWS] = result.draws.frame()
        if result.draws.pair_terms is not None:
            draws[catalog.CLV_PAIR_TERMS] = result.draws.pair_terms.frame()
    for name in {catalog.CLV_DRAWS, catalog.CLV_PAIR_TERMS} - draws.keys():
        study.remove(name)
    study.write_each({
        catalog.CUSTOMERS: result.customers,
        catalog.EXCLUDED_CUSTOMERS: result.excluded,
        catalog.MODELS: result.models,
        catalog.HOLDOUT: result.holdout_table,
        catalog.PURCHASE_MODEL_HOLDOUT: result.model_comparison,
        **draws,
    })
    return result


def frequency_recency_grids(
    model: clv.PurchaseModel | None, customers: pd.DataFrame, *, horizon_months: int, time_unit: str, cells: int = 25
) -> dict[str, pd.DataFrame]:
    """P(alive) and expected purchases over a frequency × recency grid at the oldest customer's age.

    ``model`` is the purchase model that scored (``ScoringResult.purchase_model``, BG/NBD or
    Pareto/NBD). The standard diagnostic maps (lifetimes' ``plot_probability_alive_matrix`` and
    ``plot_frequency_recency_matrix``): rows are frequency, columns recency; cells with recency
    beyond T do not occur and the grid stops at the 99th percentile of frequency.

    Raises
    ------
    ValueError
        When ``model`` is None (BG/NBD was not fitted; ``ScoringResult.skipped["bgnbd"]`` says why).
    """
    if model is None:
        raise ValueError(
            "there is no purchase model to map: none was fitted on this run's data (see "
            "result.skipped['bgnbd']); show the maps only when result.purchase_model is not None"
        )
    T = float(customers["T"].max())
    max_frequency = int(max(1, np.ceil(customers["frequency"].quantile(0.99))))
    frequencies = np.unique(np.linspace(0, max_frequency, min(cells, max_frequency + 1)).round().astype(int))
    recencies = np.linspace(0, T, cells).round()
    f, r = np.meshgrid(frequencies, recencies, indexing="ij")
    shape = f.shape
    f, r = f.ravel().astype(float), r.ravel()
    r = np.where(f == 0, 0.0, r)  # recency is 0 for customers without repeat purchases
    horizon = clv.months_in_units(horizon_months, time_unit)
    alive = model.conditional_probability_alive(f, r, np.full_like(f, T)).reshape(shape)
    expected = model.conditional_expected_purchases(horizon, f, r, np.full_like(f, T)).reshape(shape)
    index = pd.Index(frequencies, name="frequency")
    columns = pd.Index(recencies.astype(int), name="recency")
    return {"p_alive": pd.DataFrame(alive, index, columns), "expected": pd.DataFrame(expected, index, columns)}
