"""Stage 4: satisfaction, loyalty, lifecycle and churn per tier, and the early-warning list.

Surveys and complaints are optional: without them the parts that need them are skipped and the
reason is recorded (``experience.json`` → ``skipped``), while loyalty, lifecycle and churn, which
need only transactions, still run.

Thin data are recorded the same way: ``drivers`` (too few complete answers or no variation),
``cohorts`` (no purchase to build cohorts from) and ``churn_model`` (a history shorter than two churn
horizons, or a window without at least 10 churned and 10 retained customers). Without the churn
model every customer's risk is 1 − P(alive) from BG/NBD (``risk_source = "p_alive"``, the fallback
:func:`analysis.methods.churn.churn_risk` already applies to customers the model cannot score), and the
watch list ranks by it; when BG/NBD was not fitted either, the risk columns are empty and so is the
watch list. ``churn_validation`` is then None and the calibration table empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.frame import catalog
from analysis.frame.params import StudyParams
from analysis.frame.storage import columns_present, read_parquet, read_parquet_runs
from analysis.frame.study import Study
from analysis.frame.unread_columns import UnreadColumns
from analysis.i18n import message
from analysis.methods import churn, clv, complaints, drivers, lifecycle, loyalty, satisfaction
from analysis.methods.cores import beside
from analysis.methods.customer_summary import customer_summary
from analysis.methods.ids import left_joined
from analysis.methods.memory import release_free_memory
from analysis.stages.rfm_clv import SkipNote, skip_note

CALIBRATION_COLUMNS = ("decile", "customers", "mean_predicted", "observed_rate")


@dataclass
class ExperienceResult:
    customers: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    churn_validation: dict[str, Any] | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, SkipNote] = field(default_factory=dict)


@dataclass
class ExperienceInputs:
    """What stage 4 works on: the tiered customers, the cleaned transactions (a frame, or coded up to
    the period's end: :func:`coded_transactions`), the churn model's P(alive) baseline (:func:`p_alive_at`
    the validation cutoff; None when it cannot be fitted), and the surveys and complaints when given."""

    customers: pd.DataFrame
    transactions: pd.DataFrame | churn.CodedTransactions | None
    churn_baseline: pd.DataFrame | None
    surveys: pd.DataFrame | None = None
    complaints: pd.DataFrame | None = None

    def handed_over_transactions(self) -> pd.DataFrame | churn.CodedTransactions:
        """The transactions, no longer held here: the callee that takes them can let them go."""
        transactions, self.transactions = self.transactions, None
        if transactions is None:
            raise ValueError("the transactions were handed over already")
        return transactions


def _attributes(surveys: pd.DataFrame, names: list[str]) -> list[str]:
    return [a for a in names if a in surveys.columns]


def satisfaction_tables(
    surveys: pd.DataFrame | None, customers: pd.DataFrame, p: StudyParams
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """CSAT and NPS per tier, whether tiers differ, drivers of satisfaction and recommendation, IPA."""
    s = p.satisfaction
    tables = {
        "csat": satisfaction.csat_by_tier(surveys, customers, scale_max=s.scale_max, top_box=s.top_box,
                                          min_n=s.min_n, confidence=s.confidence),
        "nps": satisfaction.nps_by_tier(surveys, customers, min_n=s.min_n, confidence=s.confidence,
                                        seed=p.seed),
    }
    notes: dict[str, Any] = {}
    if surveys is None or surveys.empty:
        return tables, notes
    answers = satisfaction.attach_tier(surveys, customers)  # each customer's latest answer
    tables["tier_tests"] = satisfaction.tiers_differ_test(answers, "overall_satisfaction", alpha=s.alpha)
    attributes = _attributes(answers, s.attributes)
    if len(attributes) >= 2:
        driver_tables, driver_notes = driver_analysis(answers, attributes, p)
        tables |= driver_tables
        notes |= driver_notes
    return tables, notes


def driver_analysis(
    answers: pd.DataFrame, attributes: list[str], p: StudyParams
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Drivers of satisfaction and recommendation, per tier, and the importance–performance map.

    When the drivers of overall satisfaction cannot be estimated (too few complete answers, no
    variation) no table is returned and ``notes["skipped_drivers"]`` says why.
    """
    s = p.satisfaction
    complete = answers.dropna(subset=[*attributes, "overall_satisfaction"])
    sat = drivers.driver_importance(complete[attributes], complete["overall_satisfaction"], method=s.driver_method)
    why = satisfaction.reason(sat)
    if why is not None:
        return {}, {"skipped_drivers": skip_note("skip_drivers", why=why)}
    tables: dict[str, pd.DataFrame] = {"drivers_satisfaction": sat}
    # the answers the drivers of satisfaction stand on: the report greys them below satisfaction.min_n
    notes: dict[str, Any] = {"drivers_r2": {"overall_satisfaction": float(sat.attrs["r2"])},
                             "drivers_answers": int(len(complete))}
    if "recommend" in answers.columns:
        rec_rows = answers.dropna(subset=[*attributes, "recommend"])
        rec = drivers.driver_importance(rec_rows[attributes], rec_rows["recommend"], method=s.driver_method)
        tables["drivers_recommend"] = rec
        if satisfaction.reason(rec) is None:
            notes["drivers_r2"]["recommend"] = float(rec.attrs["r2"])
    by_tier = drivers.driver_importance_by_tier(answers, attributes, "overall_satisfaction", min_n=s.min_n,
                                                method=s.driver_method)
    tables["drivers_by_tier"] = by_tier
    notes["drivers_skipped_tiers"] = by_tier.attrs.get("skipped", [])
    performance = complete[attributes].mean()
    importance = sat.set_index("attribute")["importance_pct"]
    tables["ipa"] = drivers.importance_performance(importance, performance)
    return tables, notes


def complaint_tables(
    complaint_log: pd.DataFrame | None, surveys: pd.DataFrame | None, customers: pd.DataFrame, p: StudyParams
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Complaints per tier and category, and how complaints go with satisfaction (its sentence a message)."""
    link = complaints.complaint_satisfaction_link(complaint_log, surveys, as_of=p.period.end, alpha=p.satisfaction.alpha)
    tables = {
        "complaints": complaints.complaints_by_tier(complaint_log, customers, as_of=p.period.end),
        "complaint_categories": complaints.complaints_category_by_tier(complaint_log, customers, as_of=p.period.end),
        "complaint_link": link.table,
    }
    return tables, {"complaint_link": {k: v for k, v in vars(link).items() if k != "table"}}


def validation_cutoff(p: StudyParams) -> date:
    """The churn model's validation cutoff: one churn horizon before the period's end."""
    return (pd.Timestamp(p.period.end) - pd.Timedelta(days=p.churn.horizon_days)).date()


def p_alive_at(transactions_path: Path, cutoff: date, p: StudyParams) -> pd.DataFrame | None:
    """P(alive) from a BG/NBD fitted on data up to ``cutoff``: the churn model's fair baseline.

    None when that fit is impossible: the cutoff is before the period, nobody bought by then, or
    nobody bought twice (BG/NBD is not identified without repeat purchases).
    """
    if cutoff < p.period.start:
        return None
    summary = customer_summary(transactions_path, observation_end=cutoff, observation_start=p.period.start,
                               time_unit=p.scoring.time_unit, engine=p.scoring.engine, rfm_only=True,
                               memory_limit=p.scoring.engine_memory_limit)
    if not (summary["frequency"] > 0).any():
        return None
    try:
        # Not stage 2's model: other data (purchases up to the churn validation cutoff, one churn horizon
        # before the period's end), so the baseline, like the churn model, has not seen the outcome it ranks.
        with np.errstate(all="ignore"):
            model = clv.BetaGeoModel(time_unit=p.scoring.time_unit).fit(summary["frequency"], summary["recency"], summary["T"])
            alive = model.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"])
    except clv.CLVInputError:
        return None
    return pd.DataFrame({"customer_id": summary["customer_id"], "p_alive": alive})


def churn_skip_note(error: churn.ChurnHistoryError, p_alive_available: bool) -> SkipNote:
    """Why the churn model was not trained, and what stands in for its risk."""
    fallback = "churn_fallback_p_alive" if p_alive_available else "churn_fallback_none"
    values = dict(error.values)
    if "window" in values:  # "training" / "validation", named in the reader's language
        values["window"] = message(f"churn_window_{values['window']}")
    return message("skip_churn", reason=message(f"skip_churn_{error.code}", **values), fallback=message(fallback))


def fit_churn_model(inputs: ExperienceInputs, customers: pd.DataFrame, p: StudyParams) -> tuple[churn.ChurnModel | None, SkipNote | None]:
    """The churn classifier, trained and validated on the run's history, or None and why not."""
    try:
        model = churn.ChurnModel(
            horizon_days=p.churn.horizon_days, random_state=p.seed, max_training_customers=p.churn.max_training_customers
        ).fit(
            # handed over: the model lets them go before its last predictions (10M rows: 458 MiB)
            inputs.handed_over_transactions(), p.period.end, complaints=inputs.complaints,
            p_alive_at_validation_cutoff=inputs.churn_baseline,
            training_strata=customers.set_index("customer_id")["tier"] if "tier" in customers else None,
        )
    except churn.ChurnHistoryError as exc:
        p_alive_available = "p_alive" in customers and bool(customers["p_alive"].notna().any())
        return None, churn_skip_note(exc, p_alive_available)
    return model, None


def churn_tables(
    fitted: tuple[churn.ChurnModel | None, SkipNote | None], customers: pd.DataFrame, trend: pd.DataFrame,
    p: StudyParams, result: ExperienceResult,
) -> pd.DataFrame:
    """Add churn risk and spend trend to ``customers``; fill the validation, calibration and watch list
    (``fitted``: :func:`fit_churn_model`'s model, or None and why not)."""
    model, why = fitted
    if model is None:
        result.skipped["churn_model"] = why
        result.churn_validation = None
        result.tables["churn_calibration"] = pd.DataFrame(
            {c: pd.Series(dtype="int64" if c in ("decile", "customers") else "float64") for c in CALIBRATION_COLUMNS}
        )
    else:
        report = model.validation_report()
        result.churn_validation = report.as_dict()
        result.tables["churn_calibration"] = report.calibration
    scores = model.scores_ if model is not None else None
    risk = churn.churn_risk(customers, scores, high=p.churn.high_risk, medium=p.churn.medium_risk)
    customers = customers.drop(columns=[c for c in risk.columns if c != "customer_id" and c in customers.columns])
    customers = left_joined(customers, risk)
    spend = ["recent_spend", "previous_spend"]
    customers = left_joined(customers.drop(columns=spend, errors="ignore"), trend[["customer_id", *spend]])
    result.tables["watch_list"] = churn.early_warning_list(
        customers, tiers=p.churn.watch_tiers, risk_threshold=p.churn.high_risk, size=p.churn.watch_list_size
    )
    return customers


def cohort_table(coded: churn.CodedTransactions, p: StudyParams) -> tuple[pd.DataFrame, SkipNote | None]:
    """Retention by first-purchase quarter, or an empty table and the reason there is none."""
    try:
        return loyalty.purchase_day_retention(*coded.purchases(), period="Q", as_of=p.period.end).long, None
    except loyalty.LoyaltyInputError as exc:
        empty = pd.DataFrame(columns=["cohort", "period_index", "cohort_size", "customers_active", "retention"])
        return empty, skip_note("skip_cohorts", why=str(exc))


def compute(inputs: ExperienceInputs, p: StudyParams) -> ExperienceResult:
    """Stage 4's tables, the customers with their attitude, complaint, loyalty, lifecycle and risk
    columns, and the notes; nothing is written."""
    customers, surveys, complaint_log = inputs.customers, inputs.surveys, inputs.complaints
    result = ExperienceResult(customers)
    # cohorts, the spend trend and the churn model read the transactions coded (arrays, one run per customer)
    coded = coded_transactions(inputs.transactions, p)
    # the spend trend (one core, 0.75 s at 10M rows) beside the latest answers and the cohorts
    with beside(coded.spend_trend, lifecycle.as_timestamp(p.period.end, "as_of")) as trending:
        if surveys is not None and "customer_id" in surveys:
            # each table here reads each customer's latest answer only: chosen once, not in every table
            surveys = satisfaction.latest_answers(surveys)
        cohorts, cohorts_skipped = cohort_table(coded, p)
        trend = trending.result()
    # what the reading and the trend's thread freed, kept by the allocators, would sit under the churn
    # model's peak: handed back (stage 4 at 10M rows peaked at 2,321-2,370 MiB against 2,371-2,490)
    release_free_memory()
    churn_inputs = replace(inputs, transactions=coded)
    del inputs, coded
    # The model learns from the customers' tiers alone, so it is trained in a thread beside the
    # tables below, which run on one core; on a frame of its own columns, as the tables add columns
    # to ``customers``
    model_customers = customers[[c for c in ("customer_id", "tier", "p_alive") if c in customers]]
    with beside(fit_churn_model, churn_inputs, model_customers, p) as fitted:
        del churn_inputs
        customers = _experience_tables(surveys, complaint_log, customers, cohorts, cohorts_skipped, trend, p, result)
        customers = churn_tables(fitted.result(), customers, trend, p, result)
    result.customers = customers
    return result


def coded_transactions(transactions: pd.DataFrame | churn.CodedTransactions, p: StudyParams) -> churn.CodedTransactions:
    """The transactions up to the period's end coded (:meth:`analysis.methods.churn.CodedTransactions.up_to`),
    unless they come coded."""
    if isinstance(transactions, churn.CodedTransactions):
        return transactions
    return churn.CodedTransactions.up_to(transactions, lifecycle.as_timestamp(p.period.end, "as_of"))


def _experience_tables(
    surveys: pd.DataFrame | None, complaint_log: pd.DataFrame | None, customers: pd.DataFrame,
    cohorts: pd.DataFrame, cohorts_skipped: SkipNote | None, trend: pd.DataFrame, p: StudyParams,
    result: ExperienceResult,
) -> pd.DataFrame:
    """Stage 4's tables but the churn model's into ``result`` (``cohorts``: :func:`cohort_table`'s);
    returns the customers with their attitude, complaint, loyalty and lifecycle columns."""
    sat_tables, sat_notes = satisfaction_tables(surveys, customers, p)
    comp_tables, comp_notes = complaint_tables(complaint_log, surveys, customers, p)
    result.tables |= sat_tables | comp_tables
    result.notes |= sat_notes | comp_notes
    if surveys is None:
        result.skipped["satisfaction"] = skip_note("skip_satisfaction_no_surveys")
    if complaint_log is None:
        result.skipped["complaints"] = skip_note("skip_complaints_no_log")
    if "skipped_drivers" in result.notes:
        result.skipped["drivers"] = result.notes.pop("skipped_drivers")

    # Per-customer attitude and complaint columns feed loyalty, churn reasons and the watch list.
    if surveys is not None and not surveys.empty:
        keep = {"overall_satisfaction": "satisfaction_score", "recommend": "recommend_score"}
        latest = surveys[["customer_id", *[c for c in keep if c in surveys]]].rename(columns=keep)
        customers = left_joined(customers.drop(columns=list(keep.values()), errors="ignore"), latest)
    if complaint_log is not None and not complaint_log.empty:
        features = complaints.complaint_features(complaint_log, p.period.end)
        customers = customers.drop(columns=[c for c in features.columns if c != "customer_id"], errors="ignore")
        customers = left_joined(customers, features)
        for column in ("complaints_total", "complaints_open"):
            customers[column] = customers[column].fillna(0).astype("int64")

    result.tables["repurchase"] = loyalty.repurchase_rate_by_tier(customers)
    result.tables["cohorts"] = cohorts
    if cohorts_skipped is not None:
        result.skipped["cohorts"] = cohorts_skipped
    customers["loyalty_index"] = loyalty.loyalty_index(customers)
    result.tables["loyalty"] = loyalty.loyalty_by_tier(customers)

    rules = lifecycle.lifecycle_rules(p.churn.lifecycle_rules)
    customers["lifecycle_stage"] = lifecycle.assign_lifecycle(customers, trend, rules)
    stage_table = lifecycle.stage_by_tier(customers, customers["lifecycle_stage"])
    result.tables["lifecycle"] = stage_table.counts.reset_index().astype({"tier": "string"})
    result.notes["lifecycle_rules"] = lifecycle.describe_lifecycle_rules(rules)
    return customers


#: The customers' columns stage 4 reads, beside those its lifecycle rules name (:func:`customer_columns`).
READ_CUSTOMER_COLUMNS = ("customer_id", "tier", "tier_name", "clv", "p_alive", *churn.REASON_COLUMNS,
                         *loyalty.LOYALTY_COMPONENTS.values())
#: The customers' columns stage 4 writes: read too when the table has them (stage 4 run again), so that
#: they are replaced as in the whole table.
WRITTEN_CUSTOMER_COLUMNS = (
    "satisfaction_score", "recommend_score", *complaints.FEATURE_COLUMNS[1:], "loyalty_index", "lifecycle_stage",
    "churn_probability", "p_alive_risk", "churn_risk", "risk_source", "risk_band", "recent_spend", "previous_spend",
)


def customer_columns(p: StudyParams) -> list[str]:
    """The customers' columns stage 4 reads or writes: its tables, the loyalty index, the lifecycle
    rules (``churn.lifecycle_rules``), the risk and the watch list's reasons read no others. The
    customer master's columns and the earlier stages' other scores pass through (:func:`run`)."""
    rules = lifecycle.lifecycle_rules(p.churn.lifecycle_rules)
    return list(dict.fromkeys([*READ_CUSTOMER_COLUMNS, *lifecycle.rule_features(rules), *WRITTEN_CUSTOMER_COLUMNS]))


#: The transaction columns stage 4 reads (those :func:`analysis.methods.lifecycle.transactions_frame` takes).
TRANSACTION_COLUMNS = ("customer_id", "order_id", "order_date", "amount", "is_return", "is_purchase")

#: The cleaned transactions are read and coded in pieces of whole customers of about this many rows.
ROWS_PER_PIECE = 500_000


def read_coded_transactions(path: Path, p: StudyParams) -> churn.CodedTransactions:
    """The cleaned transactions of ``path`` coded up to the period's end (:func:`coded_transactions`),
    read, framed and coded a piece of whole customers at a time: the stage holds the coded arrays of
    every row (about 33 bytes a row with the order and day pairs), never a frame of them all. A file
    not in customer order (not written by stage 1) is read whole instead."""
    as_of = lifecycle.as_timestamp(p.period.end, "as_of")
    columns = columns_present(path, TRANSACTION_COLUMNS)  # framing fills those the file lacks
    pieces = read_parquet_runs(path, columns, "customer_id", ROWS_PER_PIECE)
    coded = churn.CodedTransactions.up_to_in_pieces(map(lifecycle.transactions_frame, pieces), as_of)
    if coded is None:
        coded = coded_transactions(lifecycle.transactions_frame(read_parquet(path, columns=columns)), p)
    release_free_memory()
    return coded


def read_inputs(study: Study) -> ExperienceInputs:
    """Stage 4's inputs as the study holds them; the transactions coded (:func:`read_coded_transactions`),
    so the stage never holds a frame of them."""
    p = study.params
    # the engine's summary and the baseline's fit beside the reading and coding, which run much on one core
    transactions = study.require(catalog.TRANSACTIONS)
    with beside(p_alive_at, transactions, validation_cutoff(p), p) as baseline:
        coded = read_coded_transactions(transactions, p)
        customers = study.read(catalog.CUSTOMERS, columns=customer_columns(p))
    return ExperienceInputs(
        customers=customers, transactions=coded, churn_baseline=baseline.result(),
        surveys=study.read_optional(catalog.SURVEYS), complaints=study.read_optional(catalog.COMPLAINTS),
    )


def run(study: Study) -> ExperienceResult:
    """Run stage 4 on the study's outputs and write its tables, the enriched customers.parquet and experience.json.

    The stage works on the customers' columns it reads (:func:`customer_columns`); the others are read
    back once it is done, into the customers it writes and the watch list (a list of whole rows)."""
    unread = UnreadColumns.of(study.require(catalog.CUSTOMERS), customer_columns(study.params))
    result = compute(read_inputs(study), study.params)  # not held here: compute lets the transactions go
    result.customers, result.tables["watch_list"] = unread.put_back(result.customers, result.tables["watch_list"])
    study.write_each({
        **{catalog.EXPERIENCE_TABLES[key]: _storable(table) for key, table in result.tables.items()},
        catalog.CUSTOMERS: result.customers,
        catalog.EXPERIENCE_JSON: {
            "churn_validation": result.churn_validation, "skipped": result.skipped, **result.notes,
            "reasons": {k: satisfaction.reason(t) for k, t in result.tables.items() if satisfaction.reason(t)},
        },
    })
    return result


def _storable(table: pd.DataFrame) -> pd.DataFrame:
    """Parquet needs string column names and no list/object mixes it cannot type."""
    out = table.copy()
    out.attrs = {}
    out.columns = [str(c) for c in out.columns]
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(lambda v: "; ".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
            if out[column].map(type).nunique() > 1:
                out[column] = out[column].astype("string")
    return out
