"""Stage 3: place customers in tiers, profile the tiers, compare with the previous quarter.

The method and its options come from ``tiering`` in params (:mod:`analysis.methods.tiers` documents each
method); the profiles and the migration come from :mod:`analysis.methods.profiles`. A sensitivity table
shows how often other methods agree with the chosen one, so the choice is made knowingly.

``tiering.json`` holds the rule as facts (cut-offs per tier, features, weights…) with the tier names in
every language (``rule.names``: the analyst's ``tiering.names``, else the locale defaults); the report
words the rule in its language (:mod:`analysis.report.tier_rules`). ``customers.parquet`` names each
tier in the run's language (``tier_name``).

Thin data: fewer customers than ``tiering.n_tiers`` stops the stage before any tier is assigned
(:class:`TooFewCustomersError`, which says to lower ``n_tiers`` or widen the period): the tier count
fixes the playbook and the report's tier names, so it is not changed behind the analyst's back.
Everything after the assignment degrades instead, with its reason as a message
(``TieringResult.skipped``, ``tiering.json`` → ``skipped``): a comparison method that cannot tier
these customers is left out of the sensitivity table (``sensitivity_<method>``, or ``sensitivity``
when fewer than two methods remain), and a migration that cannot be computed is ``migration``.

Stable tiers (``tiering.carry_cutoffs``, ``tiering.hysteresis``; both need ``tiering.previous_run``):
the tiers are placed with the previous run's cut-offs (its tiering.json → ``rule``) instead of fresh
ones, and/or a customer keeps last quarter's tier until the score clears a boundary by the band
(:func:`analysis.methods.tiers.apply_hysteresis`). What cannot be done falls back to the plain tiers
with its reason (``carry_cutoffs``, ``hysteresis`` in ``skipped``). Every customer who changed tier
is explained in tier_movers.parquet (:mod:`analysis.methods.movers`): moved by their behaviour or by
the cut-offs moving, and the main driver; tiering.json → ``migration`` counts the two causes
(``moved_by_behaviour``, ``moved_by_cutoff``; null when last quarter's cut-offs are not comparable,
with the reason as ``migration_cause``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.frame import catalog
from analysis.frame.params import StudyParams
from analysis.frame.study import Study
from analysis.i18n import LANGUAGES, joined
from analysis.methods import clv, lifecycle, movers, profiles, tiers
from analysis.methods.cores import beside
from analysis.stages.rfm_clv import SkipNote, skip_note, stored_draws, value_horizon

MIX_COLUMNS = ("industry", "region", "segment", "account_manager")


@dataclass
class TieringResult:
    """Stage 3's results; ``sensitivity`` is empty and ``migration`` None when ``skipped`` says why.

    ``record`` is what tiering.json holds (the rule with the tier names, the migration summary, the skips).
    """

    customers: pd.DataFrame
    assignment: tiers.TierAssignment
    record: dict[str, Any]
    profile: pd.DataFrame
    sensitivity: pd.DataFrame
    migration: tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]] | None
    skipped: dict[str, SkipNote] = field(default_factory=dict)
    movers: pd.DataFrame | None = None
    value_intervals: pd.DataFrame | None = None  # per tier, from the CLV parameter draws


class TooFewCustomersError(tiers.TieringError):
    """Fewer customers than tiers: the message says how many and how to fix the params."""


def _flatten_matrix(matrix: pd.DataFrame) -> pd.DataFrame:
    """Mixed int/str tier labels as strings, so the matrix stores in parquet."""
    out = matrix.copy()
    out.index = out.index.map(str)
    out.columns = out.columns.map(str)
    return out.reset_index()


def active_customers(customers: pd.DataFrame, params: StudyParams) -> pd.DataFrame:
    """The rows of the customers not yet lost, for the migration.

    History accumulates, so a customer who left still has a summary row; the lifecycle rule for
    "lost" (``churn.lifecycle_rules``) decides who counts as lost between two quarters.
    """
    return customers[~lifecycle.is_lost(customers, params.churn.lifecycle_rules)]


def previous_columns(params: StudyParams) -> list[str]:
    """The columns of last quarter's customers this stage reads: their tier and value, the behaviour the
    movers' drivers compare (:data:`analysis.methods.movers.BEHAVIOUR_COLUMNS`) and what the lifecycle
    rule for "lost" names (:func:`active_customers`)."""
    lost = lifecycle.rule_features(lifecycle.lifecycle_rules(params.churn.lifecycle_rules), ["lost"])
    return list(dict.fromkeys(["customer_id", "tier", "clv", *movers.BEHAVIOUR_COLUMNS, *lost]))


def active_tiers(customers: pd.DataFrame, params: StudyParams) -> pd.DataFrame:
    """customer_id, tier and CLV of the customers not yet lost, for the migration matrix."""
    active = active_customers(customers, params)
    return active[["customer_id", "tier", "clv"]].rename(columns={"clv": "value"})


def run_tier_names(params: StudyParams) -> dict[str, list[str]]:
    """The tier names in every language, best tier first: ``tiering.names`` where given, else the defaults."""
    t = params.tiering
    return {language: tiers.tier_names(t.n_tiers, language, t.names) for language in LANGUAGES}


def require_enough_customers(customers: pd.DataFrame, study: Study) -> None:
    """Stop before tiering when there are fewer customers than ``tiering.n_tiers``.

    Raises
    ------
    TooFewCustomersError
        With the count, the period, the params file and the two fixes (fewer tiers, a wider period).
    """
    p = study.params
    n, k = len(customers), p.tiering.n_tiers
    if n >= k:
        return
    raise TooFewCustomersError(
        f"Only {n} customer(s) have a purchase between {p.period.start} and {p.period.end}, fewer than "
        f"the {k} tiers asked for (tiering.n_tiers in {study.params_path}). Lower tiering.n_tiers "
        f"(3 is the smallest) or widen period.start/period.end so that at least {k} customers are included."
    )


def compare_methods(customers: pd.DataFrame, p: StudyParams) -> tuple[pd.DataFrame, dict[str, SkipNote]]:
    """Agreement between the chosen method and ``tiering.compare_methods``, leaving out those that fail."""
    t = p.tiering
    methods = list(dict.fromkeys([t.method, *t.compare_methods]))
    if len(methods) < 2:
        return pd.DataFrame(index=pd.Index([], name="method")), {}
    table = tiers.sensitivity(customers, methods, n_tiers=t.n_tiers, options=t.options, seed=p.seed, skip_failing=True)
    skipped = {
        f"sensitivity_{method}": skip_note("skip_sensitivity_method", method=method, detail=message)
        for method, message in table.attrs.get("skipped", {}).items()
    }
    if table.empty:
        skipped["sensitivity"] = skip_note("skip_sensitivity_all")
    table.attrs = {}
    return table, skipped


def previous_migration(
    customers: pd.DataFrame, previous: pd.DataFrame | None, p: StudyParams
) -> tuple[tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]] | None, SkipNote | None]:
    """Tier migration since ``tiering.previous_run`` (whose customers are ``previous``, None when that
    run has none): the matrices and summary, or why there are none.

    No previous run named is not a skip (there is nothing to compare by design).
    """
    previous_run = p.tiering.previous_run
    if not previous_run:
        return None, None
    if previous is None:
        return None, skip_note("migration_missing", run=previous_run)
    if "tier" not in previous.columns:
        return None, skip_note("skip_migration_no_tiers", run=previous_run)
    try:
        return profiles.migration(active_tiers(previous, p), active_tiers(customers, p)), None
    except (profiles.ProfileError, lifecycle.LifecycleInputError) as exc:
        return None, skip_note("skip_migration_failed", run=previous_run, detail=str(exc))


def previous_tiers(customers: pd.DataFrame, previous: pd.DataFrame | None) -> pd.Series:
    """Last quarter's tier of each customer (aligned with ``customers``' index; NA for new customers)."""
    if previous is None or "tier" not in previous.columns:
        return pd.Series(pd.NA, index=customers.index, dtype="Int64")
    by_id = pd.Series(previous["tier"].astype("Int64").to_numpy(), index=previous["customer_id"].astype("string"))
    found = customers["customer_id"].astype("string").map(by_id)
    return pd.Series(found.to_numpy(), index=customers.index, dtype="Int64")


def previous_rule(previous_tiering: dict[str, Any] | None) -> dict[str, Any] | None:
    """The rule the previous run applied (its tiering.json → ``rule``), or None."""
    return (previous_tiering or {}).get("rule") or None


def carried(
    assignment: tiers.TierAssignment, previous_tiering: dict[str, Any] | None, p: StudyParams
) -> tuple[tiers.TierAssignment, SkipNote | None]:
    """``assignment`` with the previous run's cut-offs when ``tiering.carry_cutoffs`` asks and they fit,
    else as it is with the reason."""
    run = p.tiering.previous_run
    if previous_tiering is None:
        return assignment, skip_note("skip_carry_cutoffs", run=run, why=skip_note("rule_previous_missing"))
    rule = previous_rule(previous_tiering)
    why = tiers.carry_problem(rule, assignment)
    if why is not None:
        return assignment, skip_note("skip_carry_cutoffs", run=run, why=why)
    return tiers.with_cutoffs(assignment, tiers.rule_cutoffs(rule), carried_from=run), None


def held(
    assignment: tiers.TierAssignment, customers: pd.DataFrame, previous: pd.DataFrame | None,
    previous_tiering: dict[str, Any] | None, p: StudyParams,
) -> tuple[tiers.TierAssignment, SkipNote | None]:
    """``assignment`` with the ``tiering.hysteresis`` band around its cut-offs, or as it is with the reason."""
    t = p.tiering
    if tiers.rule_cutoffs(assignment.rule) is None or assignment.score is None:
        why = skip_note("rule_no_cutoffs", method=t.method)
    elif previous is None or "tier" not in previous.columns:
        why = skip_note("hysteresis_no_previous_tiers", run=t.previous_run)
    elif previous_tiering is not None and previous_tiering.get("n_tiers") != t.n_tiers:
        why = skip_note("hysteresis_tier_count", run=t.previous_run, previous=previous_tiering.get("n_tiers"),
                        current=t.n_tiers)
    else:
        banded = tiers.with_hysteresis(assignment, previous_tiers(customers, previous), t.hysteresis)
        if 0 not in banded.rule["sizes"]:
            return banded, None
        empty = [i + 1 for i, n in enumerate(banded.rule["sizes"]) if n == 0]
        why = skip_note("rule_empty_tier", tiers=joined(empty))
    return assignment, skip_note("skip_hysteresis", why=why)


def stable_assignment(
    customers: pd.DataFrame, previous: pd.DataFrame | None, previous_tiering: dict[str, Any] | None, p: StudyParams
) -> tuple[tiers.TierAssignment, dict[str, SkipNote]]:
    """The tiers per ``p.tiering``: fresh, then carried cut-offs and the hysteresis band where asked."""
    t = p.tiering
    assignment = tiers.assign_tiers(customers, t.method, n_tiers=t.n_tiers, options=t.options, seed=p.seed)
    skipped: dict[str, SkipNote] = {}
    if t.carry_cutoffs and t.previous_run:
        assignment, why = carried(assignment, previous_tiering, p)
        if why is not None:
            skipped["carry_cutoffs"] = why
    if t.hysteresis > 0 and t.previous_run:
        assignment, why = held(assignment, customers, previous, previous_tiering, p)
        if why is not None:
            skipped["hysteresis"] = why
    return assignment, skipped


def explained_moves(
    customers: pd.DataFrame, assignment: tiers.TierAssignment, previous: pd.DataFrame,
    previous_tiering: dict[str, Any] | None, p: StudyParams,
) -> tuple[pd.DataFrame, SkipNote | None]:
    """Every customer who changed tier since the previous run, with cause and driver
    (:func:`analysis.methods.movers.explain_moves`), and why the cause is unknown, if it is."""
    rule = assignment.rule
    earlier = previous_rule(previous_tiering)
    why = tiers.previous_cutoffs_problem(earlier, rule)
    margin = float((rule.get("hysteresis") or {}).get("margin", 0.0))
    table = movers.explain_moves(
        active_customers(previous, p), active_customers(customers, p), score=assignment.score,
        previous_cutoffs=None if why else tiers.rule_cutoffs(earlier), method=rule["method"], margin=margin,
    )
    note = skip_note("skip_migration_cause", run=p.tiering.previous_run, why=why) if why else None
    return table, note


def tier_uncertainty(
    customers: pd.DataFrame, draws: clv.ParameterDraws, p: StudyParams
) -> tuple[clv.TierIntervals | None, SkipNote | None]:
    """Each customer's probability of their tier and each tier's value share, with intervals, when the
    tiering rule is applied again under every draw of the CLV models' parameters (stage 2's).

    The rule applied per draw is the method with the params' options
    (:func:`analysis.methods.clv.tier_assigner`): share-based cut-offs move with the draw, cut-offs set in
    the params do not. Carried cut-offs and the hysteresis band are not applied per draw, so with them
    a probability says how firmly this quarter's scores alone place a customer.
    """
    t = p.tiering
    try:
        assign = clv.tier_assigner(customers, t.method, n_tiers=t.n_tiers, options=t.options, seed=p.seed)
        result = clv.tier_intervals(
            customers, draws, assign=assign, threshold=t.borderline_below, margin=customers["margin_rate"].to_numpy(),
            level=p.scoring.interval_level, **value_horizon(p.scoring),
        )
    except (clv.CLVInputError, tiers.TieringError) as exc:
        return None, skip_note("skip_tier_uncertainty", detail=str(exc))
    return result, None


def uncertainty_record(result: clv.TierIntervals, draws: clv.ParameterDraws, p: StudyParams) -> dict[str, Any]:
    """tiering.json → ``uncertainty``: how the tier probabilities were made and how many are borderline."""
    return {
        "draws": draws.n_draws,
        "level": p.scoring.interval_level,
        "borderline_below": p.tiering.borderline_below,
        "borderline": int(result.customers["borderline"].sum()),
        "customers": int(len(result.customers)),
    }


def compute(
    customers: pd.DataFrame, transactions: pd.DataFrame | None, previous: pd.DataFrame | None, p: StudyParams,
    previous_tiering: dict[str, Any] | None = None, draws: clv.ParameterDraws | None = None,
) -> TieringResult:
    """Assign tiers per ``p.tiering``, profile them, compare methods and, with ``previous`` (the
    customers of ``tiering.previous_run``) and ``previous_tiering`` (its tiering.json), the migration
    since that run and why each customer moved; with ``draws`` (stage 2's CLV parameter draws), each
    customer's tier probability and borderline flag and each tier's value share with its interval.
    Nothing is written."""
    t = p.tiering
    assignment, skipped = stable_assignment(customers, previous, previous_tiering, p)
    names = run_tier_names(p)
    tier = assignment.tier.astype("int64")
    tier_name = tier.map(dict(enumerate(names[p.language], start=1))).astype("string")
    customers = customers.assign(tier=tier, tier_name=tier_name)
    uncertainty = None
    # the other methods' tiers (from the customers' scores alone) are placed in a thread beside the
    # draws' tiers: much of the comparison (ranks, k-means' set-up) runs on one core
    with beside(compare_methods, customers, p) as compared_methods:
        if draws is not None:
            uncertainty, why = tier_uncertainty(customers, draws, p)
            if why is not None:
                skipped["tier_uncertainty"] = why
            else:
                customers = customers.assign(
                    tier_probability=uncertainty.customers["tier_probability"].to_numpy(),
                    borderline=uncertainty.customers["borderline"].to_numpy(),
                )
        profile = profiles.tier_profile(customers, transactions)
        if uncertainty is not None:  # the playbook reads how many of a tier's customers are borderline
            profile["borderline"] = uncertainty.tiers["borderline"].reindex(profile.index).to_numpy()
        sensitivity, compared = compared_methods.result()
    skipped.update(compared)
    migration, why = previous_migration(customers, previous, p)
    if why is not None:
        skipped["migration"] = why
    record: dict[str, Any] = {
        "method": t.method, "n_tiers": t.n_tiers, "rule": {**assignment.rule, "names": names}, "migration": None,
        "uncertainty": uncertainty_record(uncertainty, draws, p) if uncertainty is not None else None,
        "skipped": skipped,
    }
    moved = None
    if migration is not None:
        moved, why = explained_moves(customers, assignment, previous, previous_tiering, p)
        if why is not None:
            skipped["migration_cause"] = why
        record["migration"] = {"previous_run": t.previous_run, **migration[2], **movers.cause_counts(moved)}
    value_intervals = uncertainty.tiers.reset_index() if uncertainty is not None else None
    return TieringResult(customers, assignment, record, profile, sensitivity, migration, skipped, moved, value_intervals)


def run(study: Study) -> TieringResult:
    """Tier the run's customers; write customers.parquet (with tier), tier_profile.parquet and companions.

    Raises
    ------
    TooFewCustomersError
        When fewer customers than ``tiering.n_tiers`` have a purchase in the period.
    """
    p = study.params
    customers = study.read(catalog.CUSTOMERS)
    require_enough_customers(customers, study)
    previous = study.read_previous(catalog.CUSTOMERS, previous_columns(p)) if p.tiering.previous_run else None
    previous_tiering = study.read_previous(catalog.TIERING_JSON) if p.tiering.previous_run else None
    draws = stored_draws(study.read(catalog.MODELS), study.read_optional(catalog.CLV_DRAWS),
                         study.read_optional(catalog.CLV_PAIR_TERMS))
    study.require(catalog.TRANSACTIONS)  # stage 1 ran, whether or not the profile needs them
    # the profile reads the transactions only for a margin the customers lack, and only these columns
    transactions = (study.read(catalog.TRANSACTIONS, columns=profiles.MARGIN_COLUMNS)
                    if profiles.margin_missing(customers) else None)
    result = compute(customers, transactions, previous, p, previous_tiering, draws)
    # each tier's spend per product category and channel, summed by the engine while the customers are written
    with beside(profiles.tier_purchase_mix, study.output(catalog.TRANSACTIONS), result.customers,
                profiles.PURCHASE_MIX_COLUMNS, memory_limit=p.scoring.engine_memory_limit) as mixing:
        study.write(catalog.CUSTOMERS, result.customers)
    study.write(catalog.TIER_PURCHASE_MIX, profiles.purchase_mix_table(mixing.result()))
    if result.value_intervals is not None:
        study.write(catalog.TIER_VALUE_INTERVALS, result.value_intervals)
    else:
        study.remove(catalog.TIER_VALUE_INTERVALS)
    study.write(catalog.TIER_PROFILE, result.profile.reset_index())
    study.write(catalog.SENSITIVITY, result.sensitivity.reset_index(names="method"))
    if result.migration is not None:
        counts, values, _ = result.migration
        study.write(catalog.MIGRATION_COUNTS, _flatten_matrix(counts))
        study.write(catalog.MIGRATION_VALUES, _flatten_matrix(values))
        study.write(catalog.TIER_MOVERS, result.movers)
    else:
        for name in (catalog.MIGRATION_COUNTS, catalog.MIGRATION_VALUES, catalog.TIER_MOVERS):
            study.remove(name)
    study.write(catalog.TIERING_JSON, result.record)
    return result
