"""Stage 4: satisfaction, loyalty, lifecycle and churn per tier, and the early-warning list.

Surveys and complaints are optional: without them the parts that need them are skipped and the
reason is recorded (``experience.json`` → ``skipped``), while loyalty, lifecycle and churn, which
need only transactions, still run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from . import churn, clv, complaints, datasets, drivers, io, lifecycle, loyalty, satisfaction
from .study import Study
from .summary import customer_summary

TABLES = {
    "csat": "csat_by_tier.parquet",
    "nps": "nps_by_tier.parquet",
    "tier_tests": "satisfaction_tests.parquet",
    "drivers_satisfaction": "drivers_satisfaction.parquet",
    "drivers_recommend": "drivers_recommend.parquet",
    "drivers_by_tier": "drivers_by_tier.parquet",
    "ipa": "importance_performance.parquet",
    "complaints": "complaints_by_tier.parquet",
    "complaint_categories": "complaint_categories_by_tier.parquet",
    "complaint_link": "complaint_satisfaction_link.parquet",
    "repurchase": "repurchase_by_tier.parquet",
    "cohorts": "cohort_retention.parquet",
    "loyalty": "loyalty_by_tier.parquet",
    "lifecycle": "lifecycle_by_tier.parquet",
    "watch_list": "watch_list.parquet",
    "churn_calibration": "churn_calibration.parquet",
}
EXPERIENCE_JSON = "experience.json"


@dataclass
class ExperienceResult:
    customers: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    churn_validation: dict[str, Any] | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)


def both_languages(build, columns: list[str]) -> pd.DataFrame:
    """``build(language)`` in the run's tables, with ``columns`` also as ``<column>_zh`` and ``<column>_en``.

    The report is written in more than one language from the same stage outputs.
    """
    zh, en = build("zh"), build("en")
    return zh.assign(**{f"{c}_zh": zh[c] for c in columns}, **{f"{c}_en": en[c] for c in columns})


def _attributes(surveys: pd.DataFrame, names: list[str]) -> list[str]:
    return [a for a in names if a in surveys.columns]


def satisfaction_tables(
    surveys: pd.DataFrame | None, customers: pd.DataFrame, study: Study
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """CSAT and NPS per tier, whether tiers differ, drivers of satisfaction and recommendation, IPA."""
    s, lang = study.params.satisfaction, study.params.language
    tables = {
        "csat": satisfaction.csat_by_tier(surveys, customers, scale_max=s.scale_max, top_box=s.top_box,
                                          min_n=s.min_n, confidence=s.confidence, language=lang),
        "nps": satisfaction.nps_by_tier(surveys, customers, min_n=s.min_n, confidence=s.confidence,
                                        seed=study.params.seed, language=lang),
    }
    notes: dict[str, Any] = {}
    if surveys is None or surveys.empty:
        return tables, notes
    answers = satisfaction.attach_tier(satisfaction.latest_answers(surveys), customers)
    tables["tier_tests"] = both_languages(
        lambda language: satisfaction.tiers_differ_test(answers, "overall_satisfaction", alpha=s.alpha, language=language),
        ["verdict"],
    )
    attributes = _attributes(answers, s.attributes)
    if len(attributes) >= 2:
        complete = answers.dropna(subset=[*attributes, "overall_satisfaction"])
        sat = drivers.driver_importance(complete[attributes], complete["overall_satisfaction"], method=s.driver_method)
        tables["drivers_satisfaction"] = sat
        notes["drivers_r2"] = {"overall_satisfaction": float(sat.attrs["r2"])}
        if "recommend" in answers.columns:
            rec_rows = answers.dropna(subset=[*attributes, "recommend"])
            rec = drivers.driver_importance(rec_rows[attributes], rec_rows["recommend"], method=s.driver_method)
            tables["drivers_recommend"] = rec
            notes["drivers_r2"]["recommend"] = float(rec.attrs["r2"])
        by_tier = drivers.driver_importance_by_tier(answers, attributes, "overall_satisfaction", min_n=s.min_n,
                                                    method=s.driver_method, language=lang)
        tables["drivers_by_tier"] = by_tier
        notes["drivers_skipped_tiers"] = by_tier.attrs.get("skipped", [])
        performance = complete[attributes].mean()
        importance = sat.set_index("attribute")["importance_pct"]
        tables["ipa"] = both_languages(
            lambda language: drivers.importance_performance(importance, performance, language=language), ["label"]
        )
    return tables, notes


def complaint_tables(
    complaint_log: pd.DataFrame | None, surveys: pd.DataFrame | None, customers: pd.DataFrame, study: Study
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    p = study.params
    tables = {
        "complaints": complaints.complaints_by_tier(complaint_log, customers, as_of=p.period.end, language=p.language),
        "complaint_categories": complaints.complaints_category_by_tier(
            complaint_log, customers, as_of=p.period.end, language=p.language
        ),
    }
    links = {
        language: complaints.complaint_satisfaction_link(complaint_log, surveys, as_of=p.period.end,
                                                         alpha=p.satisfaction.alpha, language=language)
        for language in ("zh", "en")
    }
    link = links[p.language]
    tables["complaint_link"] = link.table
    note = {k: v for k, v in vars(link).items() if k not in ("table", "sentence")}
    note |= {f"sentence_{language}": found.sentence for language, found in links.items()}
    return tables, {"complaint_link": note}


def p_alive_at(transactions_path, cutoff: date, study: Study) -> pd.DataFrame:
    """P(alive) from a BG/NBD fitted on data up to ``cutoff``: the churn model's fair baseline."""
    p = study.params
    summary = customer_summary(transactions_path, observation_end=cutoff, observation_start=p.period.start,
                               time_unit=p.scoring.time_unit, engine=p.scoring.engine)
    model = clv.BetaGeoModel(time_unit=p.scoring.time_unit).fit(summary["frequency"], summary["recency"], summary["T"])
    alive = model.conditional_probability_alive(summary["frequency"], summary["recency"], summary["T"])
    return pd.DataFrame({"customer_id": summary["customer_id"], "p_alive": alive})


def analyse_experience(study: Study) -> ExperienceResult:
    """Run stage 4 and write its tables, the enriched customers.parquet and experience.json."""
    p = study.params
    lang = p.language
    customers = pd.read_parquet(study.require(datasets.CUSTOMERS))
    transactions = datasets.load_transactions(study)
    surveys = datasets.load_optional(study, "surveys")
    complaint_log = datasets.load_optional(study, "complaints")
    result = ExperienceResult(customers)

    sat_tables, sat_notes = satisfaction_tables(surveys, customers, study)
    comp_tables, comp_notes = complaint_tables(complaint_log, surveys, customers, study)
    result.tables |= sat_tables | comp_tables
    result.notes |= sat_notes | comp_notes
    if surveys is None:
        result.skipped["satisfaction"] = {
            "zh": "本次运行没有满意度调查数据（inputs.surveys），因此没有CSAT、NPS和满意度驱动因素分析。",
            "en": "This run has no survey data (inputs.surveys), so CSAT, NPS and the drivers of satisfaction are not shown.",
        }
    if complaint_log is None:
        result.skipped["complaints"] = {
            "zh": "本次运行没有投诉记录（inputs.complaints），因此没有投诉分析，预警名单也不含未结投诉原因。",
            "en": "This run has no complaint log (inputs.complaints): no complaint analysis, and the watch list "
            "cannot cite open complaints.",
        }

    # Per-customer attitude and complaint columns feed loyalty, churn reasons and the watch list.
    if surveys is not None and not surveys.empty:
        latest = satisfaction.latest_answers(surveys)
        keep = {"overall_satisfaction": "satisfaction_score", "recommend": "recommend_score"}
        latest = latest[["customer_id", *[c for c in keep if c in latest]]].rename(columns=keep)
        customers = customers.drop(columns=list(keep.values()), errors="ignore").merge(latest, on="customer_id", how="left")
    if complaint_log is not None and not complaint_log.empty:
        features = complaints.complaint_features(complaint_log, p.period.end)
        customers = customers.drop(columns=[c for c in features.columns if c != "customer_id"], errors="ignore")
        customers = customers.merge(features, on="customer_id", how="left")
        for column in ("complaints_total", "complaints_open"):
            customers[column] = customers[column].fillna(0).astype("int64")

    result.tables["repurchase"] = loyalty.repurchase_rate_by_tier(customers, language=lang)
    result.tables["cohorts"] = loyalty.cohort_retention(transactions, period="Q", as_of=p.period.end).long
    customers["loyalty_index"] = loyalty.loyalty_index(customers)
    result.tables["loyalty"] = loyalty.loyalty_by_tier(customers, language=lang)

    trend = lifecycle.spend_trend(transactions, p.period.end)
    rules = lifecycle.lifecycle_rules(p.churn.lifecycle_rules)
    customers["lifecycle_stage"] = lifecycle.assign_lifecycle(customers, trend, rules)
    stage_table = lifecycle.stage_by_tier(customers, customers["lifecycle_stage"], language=None)
    result.tables["lifecycle"] = stage_table.counts.reset_index().astype({"tier": "string"})
    for language in ("zh", "en"):
        rules_table = lifecycle.describe_lifecycle_rules(rules, language=language)
        result.notes[f"lifecycle_rules_{language}"] = rules_table.to_dict(orient="records")

    horizon = p.churn.horizon_days
    validation_cutoff = (pd.Timestamp(p.period.end) - pd.Timedelta(days=horizon)).date()
    model = churn.ChurnModel(horizon_days=horizon, random_state=p.seed).fit(
        transactions, p.period.end, complaints=complaint_log,
        p_alive_at_validation_cutoff=p_alive_at(study.require(datasets.TRANSACTIONS), validation_cutoff, study),
    )
    report = model.validation_report()
    result.churn_validation = report.as_dict()
    result.tables["churn_calibration"] = report.calibration
    risk = churn.churn_risk(customers, model.scores_, high=p.churn.high_risk, medium=p.churn.medium_risk, language=lang)
    customers = customers.drop(columns=[c for c in risk.columns if c != "customer_id" and c in customers.columns])
    customers = customers.merge(risk, on="customer_id", how="left")
    spend = ["recent_spend", "previous_spend"]
    customers = customers.drop(columns=spend, errors="ignore").merge(trend[["customer_id", *spend]], on="customer_id", how="left")
    result.tables["watch_list"] = churn.early_warning_list(
        customers, tiers=p.churn.watch_tiers, risk_threshold=p.churn.high_risk, size=p.churn.watch_list_size
    )
    result.customers = customers

    for key, table in result.tables.items():
        io.write_parquet(_storable(table), study.output(TABLES[key]))
    io.write_parquet(customers, study.output(datasets.CUSTOMERS))
    io.write_json(
        {"churn_validation": result.churn_validation, "skipped": result.skipped, **result.notes,
         "reasons": {k: satisfaction.reason_dict(t) for k, t in result.tables.items() if satisfaction.reason_dict(t)}},
        study.output(EXPERIENCE_JSON),
    )
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
