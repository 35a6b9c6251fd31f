"""Every file a run leaves in ``data/processed/<run>/``, and its manifest: name, writer, format, contents.

The stages talk only through these files. Each is named here once, by a constant holding its file
name (``catalog.CUSTOMERS == "customers.parquet"``), and described by an :class:`Output` entry:
the notebook that writes it (``01_clean`` … ``06_managers``, or ``runner`` for the files the
runner writes itself), its format, what it holds, and whether every successful run writes it.

Read and write them through the study, which finds the format here::

    customers = study.read(catalog.CUSTOMERS)          # a DataFrame (parquet)
    study.write(catalog.MODELS, models)                # atomic, as JSON
    surveys = study.read_optional(catalog.SURVEYS)     # None when the run has no surveys

A name that is not listed here is refused (:class:`UnknownOutputError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Format = Literal["parquet", "json", "text"]
Folder = Literal["processed", "reports"]

#: The writer of the files the runner writes itself (not a notebook).
RUNNER = "runner"


@dataclass(frozen=True)
class Output:
    """One file of a run.

    Attributes
    ----------
    name
        The file name, e.g. ``customers.parquet``.
    stage
        The notebook that first writes it (e.g. ``01_clean``), or :data:`RUNNER`.
    format
        ``parquet`` (read back as a DataFrame), ``json`` (the parsed object) or ``text`` (a string).
    summary
        What it holds: its key columns or fields.
    always
        Written by every successful full run; False when it depends on the inputs or the data
        (e.g. no survey file, no previous run to compare with).
    updated_by
        Later notebooks that rewrite it with more columns.
    folder
        ``processed`` (``data/processed/<run>/``) or ``reports`` (``reports/<run>/``).
    messages
        Columns of a parquet output holding messages (:func:`analysis.i18n.render`) as JSON text.
    labels
        Columns of a parquet output holding codes, each with the locale key prefix of its labels
        (``{"quadrant": "ipa_quadrant_"}``: code ``fix`` shows as text ``ipa_quadrant_fix``).
    """

    name: str
    stage: str
    format: Format
    summary: str
    always: bool = True
    updated_by: tuple[str, ...] = ()
    folder: Folder = "processed"
    messages: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def writers(self) -> tuple[str, ...]:
        """Every notebook (or the runner) that writes the file: its first writer, then the updaters."""
        return (self.stage, *self.updated_by)


class UnknownOutputError(LookupError):
    """A file name that is not a run output listed in :mod:`analysis.frame.catalog`."""


_ENTRIES: dict[str, Output] = {}


def _add(
    name: str, stage: str, format: Format, summary: str, *, always: bool = True,
    updated_by: tuple[str, ...] = (), folder: Folder = "processed",
    messages: tuple[str, ...] = (), labels: Mapping[str, str] | None = None,
) -> str:
    if name in _ENTRIES:
        raise ValueError(f"{name} is listed twice in the catalog")
    _ENTRIES[name] = Output(
        name, stage, format, summary, always, updated_by, folder, messages, MappingProxyType(dict(labels or {}))
    )
    return name


# ---------------------------------------------------------------------------------------------
# 01_clean: the cleaned inputs, the rows set aside and the quality summary.

TRANSACTIONS = _add(
    "transactions.parquet", "01_clean", "parquet",
    "Cleaned transaction rows kept: customer_id, order_id, order_date, order_day, amount (net of returns), "
    "gross_amount, returned_amount, is_return, is_purchase, is_outlier, source_row, and the optional "
    "quantity, cost, product_category, channel.",
)
MASTER = _add(
    "customer_master.parquet", "01_clean", "parquet",
    "Cleaned customer master (when inputs.customers is given): customer_id, name, phone, industry, region, "
    "segment, account_manager, balance, signup_date.",
    always=False,
)
SURVEYS = _add(
    "surveys.parquet", "01_clean", "parquet",
    "Cleaned survey answers (when inputs.surveys is given): customer_id, survey_date, overall_satisfaction, "
    "recommend, one column per satisfaction attribute, comment.",
    always=False,
)
COMPLAINTS = _add(
    "complaints.parquet", "01_clean", "parquet",
    "Cleaned complaint log (when inputs.complaints is given): customer_id, opened, closed, category, severity.",
    always=False,
)
QUARANTINE = _add(
    "quarantine.parquet", "01_clean", "parquet",
    "Every input row set aside, with its reason: source, source_file, source_row, reason, detail, raw.",
)
QUALITY = _add(
    "quality.json", "01_clean", "json",
    "Per input: rows_in = rows_kept + rows_quarantined, reasons {reason: rows}, ids_repaired, warnings, and "
    "the join rates (join {customers, in_master / in_transactions, share_in_…}, customers_not_in_master).",
)
QUALITY_GATE = _add(
    "quality_gate.json", "01_clean", "json",
    "The quality rules the run broke (a list, empty when none): input, what, share, limit, key, severity, "
    "reason, rows.",
)

# ---------------------------------------------------------------------------------------------
# 02_rfm_clv: one row per scored customer, the models and the holdout check.

CUSTOMERS = _add(
    "customers.parquet", "02_rfm_clv", "parquet",
    "One row per customer with a purchase: customer_id, frequency, recency, T, monetary_value, revenue, RFM "
    "scores and rfm_segment, p_alive, expected_purchases, margin_rate, historic_value, clv, their intervals "
    "(p_alive_low/_high, expected_purchases_low/_high, clv_low/_high, with model CLV) and the master columns; "
    "03_tiers adds tier, tier_name, tier_probability and borderline (with parameter draws); 04_satisfaction_loyalty adds satisfaction, complaint, loyalty_index, "
    "lifecycle_stage and churn-risk columns (risk_band a code).",
    updated_by=("03_tiers", "04_satisfaction_loyalty"),
    labels={"lifecycle_stage": "lifecycle_stage_", "risk_band": "churn_band_"},
)
EXCLUDED_CUSTOMERS = _add(
    "excluded_customers.parquet", "02_rfm_clv", "parquet",
    "Customers with kept rows but no purchase, not scored: customer_id, reason (returns_only, "
    "zero_amount_only, no_purchase), rows, net_amount.",
)
MODELS = _add(
    "models.json", "02_rfm_clv", "json",
    "The fitted models and the CLV method: bgnbd (BG/NBD on the whole period, whichever model scores), "
    "gamma_gamma, purchase_model {name (bgnbd or pareto_nbd), setting, rule, reason (a message), summary}, "
    "purchase_model_comparison {calibration_end, holdout_duration, models {code: {params, log_likelihood, "
    "n_parameters, bic, converged, holdout_figures, usable, unusable (a message)}}, mae_difference} or null, "
    "bgnbd_calibration (BG/NBD holdout fit and figures), clv {method, purchase_model, horizon_months, "
    "margin_source, fallback_reasons, …}, time_units {time_unit, days_per_month, horizon_in_units, …}, "
    "customers, repeat_buyers, customers_without_purchase, excluded_customers {reason: n}, "
    "skipped {analysis: message}.",
)
HOLDOUT = _add(
    "holdout.parquet", "02_rfm_clv", "parquet",
    "Holdout check of the purchase model that scored (models.json → purchase_model), predicted against "
    "actual purchases by calibration purchases: calibration_purchases, n_customers, actual_mean, "
    "predicted_mean (empty when skipped).",
)
PURCHASE_MODEL_HOLDOUT = _add(
    "purchase_model_holdout.parquet", "02_rfm_clv", "parquet",
    "Holdout check of both purchase models, for choosing one: model (a code: bgnbd, pareto_nbd), grouping "
    "(a code: calibration_purchases, prediction_decile), bucket, n_customers, actual_mean, predicted_mean "
    "(empty when the check was skipped).",
    labels={"model": "purchase_model_name_", "grouping": "holdout_grouping_"},
)
CLV_DRAWS = _add(
    "clv_parameter_draws.parquet", "02_rfm_clv", "parquet",
    "The draws of the purchase and spend models' parameters behind the CLV intervals (one row per draw, one "
    "column per parameter: r, alpha, a, b or s, beta; p, q, v); 03_tiers places the tiers under each. "
    "Absent when the CLV is historic or scoring.interval_draws is 0.",
    always=False,
)
CLV_PAIR_TERMS = _add(
    "clv_pair_terms.parquet", "02_rfm_clv", "parquet",
    "Per distinct (frequency, T) of the scored customers, and per parameter draw (draw_1 …), the discounted "
    "expected purchases over the CLV horizon of a customer alive at T: the costly part of each draw's CLV, "
    "which 03_tiers reuses to place the tiers under every draw. Written with clv_parameter_draws.parquet.",
    always=False,
)

# ---------------------------------------------------------------------------------------------
# 03_tiers: the tiers, their profile, the comparison of methods and the migration.

TIER_PROFILE = _add(
    "tier_profile.parquet", "03_tiers", "parquet",
    "One row per tier: tier, tier_name, customers, customer_share, revenue, revenue_share, margin, "
    "margin_share, clv, clv_share, the mean recency, frequency, monetary value, p_alive, days since last, and "
    "borderline (customers on a tier boundary; with parameter draws).",
)
TIER_VALUE_INTERVALS = _add(
    "tier_value_intervals.parquet", "03_tiers", "parquet",
    "One row per tier: tier, customers, borderline (customers whose tier holds in fewer than "
    "tiering.borderline_below of the parameter draws), clv_total, clv_share and their _low/_high interval "
    "bounds at scoring.interval_level. Absent without parameter draws.",
    always=False,
)
TIER_PURCHASE_MIX = _add(
    "tier_purchase_mix.parquet", "03_tiers", "parquet",
    "Each tier's share of spend per category of product_category and channel, summed by the engine over "
    "the transactions: column, tier, category, share (every tier and category of a column; no rows for a "
    "column the transactions lack or never fill).",
)
SENSITIVITY = _add(
    "tier_sensitivity.parquet", "03_tiers", "parquet",
    "Agreement between the tiering methods: method, then one column per method (share of customers "
    "placed alike); no rows when fewer than two methods could tier the customers.",
)
MIGRATION_COUNTS = _add(
    "migration_counts.parquet", "03_tiers", "parquet",
    "Customers moving since tiering.previous_run: previous (tier or new), one column per current tier, lost.",
    always=False,
)
MIGRATION_VALUES = _add(
    "migration_values.parquet", "03_tiers", "parquet",
    "CLV moving since tiering.previous_run, laid out as migration_counts.parquet.",
    always=False,
)
TIER_MOVERS = _add(
    "tier_movers.parquet", "03_tiers", "parquet",
    "Every customer whose tier changed since tiering.previous_run: customer_id, previous_tier, tier, cause "
    "(a code: behaviour, or cutoff when last quarter's cut-offs would have kept them; NA when unknown), "
    "driver_code, driver (the main driver, a message), previous_value and value (CLV of each quarter).",
    always=False, messages=("driver",), labels={"cause": "mover_cause_"},
)
TIERING_JSON = _add(
    "tiering.json", "03_tiers", "json",
    "The tiering: method, n_tiers, rule (the facts the report words: method, cutoffs per tier, target "
    "shares, rules, features, weights…; cutoff_source carried with carried_from and fresh_cutoffs, "
    "hysteresis {margin, with_previous_tier, kept}; names per language, sizes, shares), migration "
    "{previous_run, upgrades, downgrades, new, lost, …, moved_by_behaviour, moved_by_cutoff} or null, "
    "skipped {analysis: message}.",
)

# ---------------------------------------------------------------------------------------------
# 04_satisfaction_loyalty: tables per tier, the watch list and what was skipped.

CSAT = _add(
    "csat_by_tier.parquet", "04_satisfaction_loyalty", "parquet",
    "CSAT per tier and overall (tier NA): tier, tier_name, customers, respondents, response_rate, "
    "mean_satisfaction and its interval, top_box_share and its interval, too_few.",
)
NPS = _add(
    "nps_by_tier.parquet", "04_satisfaction_loyalty", "parquet",
    "NPS per tier and overall (tier NA): tier, tier_name, n, promoters_pct, passives_pct, detractors_pct, "
    "nps, nps_low, nps_high, too_few.",
)
SATISFACTION_TESTS = _add(
    "satisfaction_tests.parquet", "04_satisfaction_loyalty", "parquet",
    "Whether overall satisfaction differs between tiers: test, column, n, groups, statistic, dof, p_value, "
    "effect_size, effect_measure, significant, verdict (a message).",
    always=False,
    messages=("verdict",),
)
DRIVERS_SATISFACTION = _add(
    "drivers_satisfaction.parquet", "04_satisfaction_loyalty", "parquet",
    "Drivers of overall satisfaction: attribute, importance_pct, rank, Shapley and Johnson weights and "
    "shares, correlation.",
    always=False,
)
DRIVERS_RECOMMEND = _add(
    "drivers_recommend.parquet", "04_satisfaction_loyalty", "parquet",
    "Drivers of the recommendation score, laid out as drivers_satisfaction.parquet.",
    always=False,
)
DRIVERS_BY_TIER = _add(
    "drivers_by_tier.parquet", "04_satisfaction_loyalty", "parquet",
    "Drivers of overall satisfaction within each tier: tier, tier_name, n, r2, then the "
    "drivers_satisfaction.parquet columns.",
    always=False,
)
IMPORTANCE_PERFORMANCE = _add(
    "importance_performance.parquet", "04_satisfaction_loyalty", "parquet",
    "Importance–performance map: attribute, importance, performance, high_importance, high_performance, "
    "quadrant (a code: fix_first, keep_up, possible_overkill, low_priority).",
    always=False,
    labels={"quadrant": "drivers_quadrant_"},
)
COMPLAINTS_BY_TIER = _add(
    "complaints_by_tier.parquet", "04_satisfaction_loyalty", "parquet",
    "Complaints per tier and overall (tier NA): tier, tier_name, customers, complaints, complaints_per_100, "
    "complainants, share_with_complaint, open_complaints, high_severity, median/mean_resolution_days.",
)
COMPLAINT_CATEGORIES = _add(
    "complaint_categories_by_tier.parquet", "04_satisfaction_loyalty", "parquet",
    "Complaints per tier (and overall, tier NA) and category: tier, tier_name, category (as logged; "
    "the code uncategorised when missing), complaints, share.",
    labels={"category": "complaints_category_"},
)
COMPLAINT_LINK = _add(
    "complaint_satisfaction_link.parquet", "04_satisfaction_loyalty", "parquet",
    "Satisfaction of customers with and without complaints: group (a code: with_complaints, "
    "without_complaints), n, mean_satisfaction, nps.",
    labels={"group": "complaints_group_"},
)
REPURCHASE = _add(
    "repurchase_by_tier.parquet", "04_satisfaction_loyalty", "parquet",
    "Repurchase per tier and overall (tier NA): tier, tier_name, customers, repeat_customers, repurchase_rate.",
)
COHORTS = _add(
    "cohort_retention.parquet", "04_satisfaction_loyalty", "parquet",
    "Retention by first-purchase quarter: cohort, period_index, cohort_size, customers_active, retention.",
)
LOYALTY = _add(
    "loyalty_by_tier.parquet", "04_satisfaction_loyalty", "parquet",
    "Loyalty index per tier and overall (tier NA): tier, tier_name, customers, mean, median, p25, p75.",
)
LIFECYCLE = _add(
    "lifecycle_by_tier.parquet", "04_satisfaction_loyalty", "parquet",
    "Customers per tier (and all) and lifecycle stage: tier (text, \"all\" for every customer), then one "
    "column per stage code: new, growing, mature, declining, lost.",
)
WATCH_LIST = _add(
    "watch_list.parquet", "04_satisfaction_loyalty", "parquet",
    "Valuable customers at risk, with real ids and personal data: the customers.parquet columns plus "
    "value_at_risk, reason_codes (\"; \"-separated codes), reasons (a message).",
    messages=("reasons",),
    labels={"lifecycle_stage": "lifecycle_stage_", "risk_band": "churn_band_"},
)
CHURN_CALIBRATION = _add(
    "churn_calibration.parquet", "04_satisfaction_loyalty", "parquet",
    "Calibration of the churn model on the validation window: decile, customers, mean_predicted, "
    "observed_rate (empty without the model).",
)
EXPERIENCE_JSON = _add(
    "experience.json", "04_satisfaction_loyalty", "json",
    "churn_validation (AUC, lift, Brier, baselines, …) or null, skipped {analysis: message}, drivers_r2, "
    "drivers_answers (the complete latest answers the drivers of satisfaction stand on), "
    "drivers_skipped_tiers [{tier, n, reason (a message)}], complaint_link {u_statistic, p_value, sentence (a message), "
    "reason, notes}, lifecycle_rules [{step, stage, rule (a message)}], reasons {table: message}.",
)

# ---------------------------------------------------------------------------------------------
# 05_allocation: the budget and hours per tier.

ALLOCATION = _add(
    "allocation.parquet", "05_allocation", "parquet",
    "One row per tier: tier, tier_name, customers, clv, budget and its shares (optimal, equal, revenue), "
    "expected retained value of each split, marginal_value, the playbook (manager_level a code; service_model, "
    "cadence, channels and offers messages), hours needed and allocated.",
    messages=("service_model", "cadence", "channels", "offers"), labels={"manager_level": "playbook_level_"},
)
CAPACITY = _add(
    "capacity.parquet", "05_allocation", "parquet",
    "Account-manager hours per level: level (a code), tiers, hours_needed, hours_available, "
    "utilisation, binding.",
    labels={"level": "playbook_level_"},
)
ALLOCATION_JSON = _add(
    "allocation.json", "05_allocation", "json",
    "budget, currency, expected_retained_value {value_optimal, value_equal, value_revenue, budget}, "
    "gain_vs_equal, gain_vs_revenue, curve (response-curve parameters), binding_levels, winback {lost, "
    "valuable, floor, listed, value_at_stake, revenue, reasons {code: customers}} (with stage 4's customers).",
)

WINBACK = _add(
    "winback.parquet", "05_allocation", "parquet",
    "Win-back list, valuable lost customers with real ids: customer_id, tier, tier_name, lifecycle_stage (a "
    "code), p_alive, first_purchase, last_purchase, days_since_last, orders, revenue, active_years, "
    "value_at_stake (revenue per year while active), clv, industry, region, segment, account_manager, "
    "reason_codes (\"; \"-separated codes), reasons (a message); highest value at stake first.",
    messages=("reasons",), labels={"lifecycle_stage": "lifecycle_stage_"},
)
CROSS_SELL = _add(
    "cross_sell.parquet", "05_allocation", "parquet",
    "Cross-sell suggestions for the customers of actions.cross_sell_tiers, with real ids: customer_id, tier, "
    "rank, category (as in the data), score (item-item cosine), buyers_share, categories_bought "
    "(empty with fewer than two product categories).",
)
PLAN_EFFECT = _add(
    "plan_effect.json", "05_allocation", "json",
    "Did last quarter's plan work: previous_run, skipped (a message, or null), quarter {start, end}, cadence "
    "{tier: contacts a month}, cadence_source (previous_allocation or playbook), contacts {rows, in_quarter, "
    "unreadable_dates, unknown_customers}, n_customers, n_treated, n_control, tiers [{tier, customers, treated, "
    "required}], outcomes {bought, spend_change, nps: {estimand, method, covariates, estimate, low, high, level, "
    "n_boot, naive, naive_low, naive_high, n_treated, n_control, n_used, n_outside_support, overlap {treated, "
    "control, share_extreme}, strata [{tier, n_treated, n_control, n_used, estimate, naive, reason, "
    "reason_code}], reason (a message, when no estimate), caveat (a message)}}.",
)
CROSS_SELL_VALIDATION = _add(
    "cross_sell_validation.json", "05_allocation", "json",
    "Holdout check of the cross-sell suggestions: method, baseline, k, holdout_months, cutoff, end, "
    "confidence, customers_before, n_customers, method_figures and baseline_figures {hits, n, hit_rate, "
    "low, high (Wilson)}, difference {estimate, low, high, n_boot} (paired bootstrap), beats_baseline, "
    "usable, reason (a message, when not usable), tiers, suggested_customers, tier_customers, "
    "suggested_categories [{category, customers, first_choice, share}].",
)

# ---------------------------------------------------------------------------------------------
# 06_managers: the account managers' scorecard and levels.

MANAGER_SCORECARD = _add(
    "manager_scorecard.parquet", "06_managers", "parquet",
    "One row per account manager (and unassigned customers): manager_id, name, level (a code), region, customers, "
    "tier_<k>, revenue, clv, clv_previous, growth, growth_adjusted, then retention, value_per_customer, "
    "satisfaction and complaints_per_100 each with _expected (from the portfolio mix), _adjusted (shrunk "
    "observed − expected), _low and _high; respondents, nps, complaints, resolution_days, hours_due, "
    "hours_per_month, utilisation, max_accounts, over_max_accounts, raw_rank, adjusted_rank, score_performance, "
    "score_service, score_retention, composite, performance_level (a code: A, B, C), value_band (a code).",
    always=False,
    labels={"level": "playbook_level_", "performance_level": "managers_level_", "value_band": "managers_value_"},
)
MANAGER_LEVELS = _add(
    "manager_levels.parquet", "06_managers", "parquet",
    "Managers per performance level and portfolio value band: performance_level (a code), high, medium, low.",
    always=False,
    labels={"performance_level": "managers_level_"},
)
ASSIGNMENT = _add(
    "assignment.parquet", "06_managers", "parquet",
    "Who should serve whom, one row per tiered customer: customer_id, tier, region, value (predicted CLV), "
    "current_manager, recommended_manager (empty: the pooled / digital service), recommended_level (a code), "
    "reason (a code: kept, moved_…, unassigned_…, pooled_by_playbook), expected_gain, cost.",
    always=False,
    labels={"recommended_level": "playbook_level_", "reason": "assignment_reason_"},
)
MANAGER_LOADS = _add(
    "manager_loads.parquet", "06_managers", "parquet",
    "Each manager's load before and after the assignment: manager_id, level (a code), region, hours_available, "
    "max_accounts, accounts_before, hours_before, accounts_after, hours_after, utilisation_after, "
    "utilisation_before (hours are the playbook's per customer of a staffed tier, per month).",
    always=False,
    labels={"level": "playbook_level_"},
)
MANAGERS_JSON = _add(
    "managers.json", "06_managers", "json",
    "source (file, master or null), managers, customers, unassigned_customers, unknown_account_managers, notes "
    "(messages), previous_run, confidence, level_rule (a message), level_weights, level_cutoffs, levels {A, B, C}, "
    "matrix, over_capacity, adjustment (a message), raw_vs_adjusted_rank_corr; with tiers, assignment (customers, "
    "staffed_customers, kept, moved, assigned_new, unassigned and its reasons, value_before, value_after, "
    "value_gained, value_unconstrained, value_lost, upper_bound, relative_gap, reasons, solver, rules) and "
    "capacity_plan (binding, options with value_lost, extra_cost, total_cost, fits; recommended, "
    "recommended_option, note (a message), levels: hours needed and available per level before and after the "
    "plan); skipped (a message) without managers.",
)

# ---------------------------------------------------------------------------------------------
# Written by the runner.

MASK_SALT = _add(
    "mask_salt", RUNNER, "text",
    "The run's random salt for the report's customer codes (HMAC-SHA256), on the analyst's side only.",
)
MANIFEST = _add(
    "manifest.json", RUNNER, "json",
    "The run's record, beside the report: run, status, attempt, started, finished, params, seed, inputs "
    "(path, sha256, bytes), packages, platform, stages (seconds each), total_seconds.",
    folder="reports",
)

#: Stage 4's tables by the key the stage and the report use (``result.tables["nps"]`` …).
EXPERIENCE_TABLES: Mapping[str, str] = MappingProxyType({
    "csat": CSAT,
    "nps": NPS,
    "tier_tests": SATISFACTION_TESTS,
    "drivers_satisfaction": DRIVERS_SATISFACTION,
    "drivers_recommend": DRIVERS_RECOMMEND,
    "drivers_by_tier": DRIVERS_BY_TIER,
    "ipa": IMPORTANCE_PERFORMANCE,
    "complaints": COMPLAINTS_BY_TIER,
    "complaint_categories": COMPLAINT_CATEGORIES,
    "complaint_link": COMPLAINT_LINK,
    "repurchase": REPURCHASE,
    "cohorts": COHORTS,
    "loyalty": LOYALTY,
    "lifecycle": LIFECYCLE,
    "watch_list": WATCH_LIST,
    "churn_calibration": CHURN_CALIBRATION,
})

#: The cleaned optional inputs by their params name (``inputs.customers`` …).
CLEANED_INPUTS: Mapping[str, str] = MappingProxyType({
    "customers": MASTER,
    "surveys": SURVEYS,
    "complaints": COMPLAINTS,
})


def entry(name: str) -> Output:
    """The catalog entry of ``name`` (a file name such as ``catalog.CUSTOMERS``).

    Raises
    ------
    UnknownOutputError
        When ``name`` is not a run output listed in the catalog.
    """
    try:
        return _ENTRIES[name]
    except (KeyError, TypeError):
        raise UnknownOutputError(
            f"{name!r} is not a run output listed in analysis.frame.catalog; "
            f"name one of its constants (e.g. catalog.CUSTOMERS), or add the file there."
        ) from None


def outputs() -> tuple[Output, ...]:
    """Every run output, in the order the stages write them."""
    return tuple(_ENTRIES.values())


def names() -> tuple[str, ...]:
    """The file names of every run output."""
    return tuple(_ENTRIES)


def by_stage(stage: str) -> tuple[Output, ...]:
    """The outputs ``stage`` (a notebook name, or :data:`RUNNER`) writes first."""
    return tuple(e for e in _ENTRIES.values() if e.stage == stage)


def written_by(stage: str) -> tuple[Output, ...]:
    """The outputs ``stage`` writes, its own and those it rewrites (e.g. customers.parquet for 03_tiers)."""
    return tuple(e for e in _ENTRIES.values() if stage in e.writers)


def stages() -> tuple[str, ...]:
    """Every writer named in the catalog, in order of first appearance."""
    return tuple(dict.fromkeys(s for e in _ENTRIES.values() for s in e.writers))
