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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.frame import catalog
from analysis.frame.params import StudyParams
from analysis.frame.study import Study
from analysis.i18n import LANGUAGES
from analysis.methods import lifecycle, profiles, tiers
from analysis.stages.rfm_clv import SkipNote, skip_note

MIX_COLUMNS = ("industry", "region", "segment", "account_manager")
PURCHASE_MIX_COLUMNS = ("product_category", "channel")


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


class TooFewCustomersError(tiers.TieringError):
    """Fewer customers than tiers: the message says how many and how to fix the params."""


def _flatten_matrix(matrix: pd.DataFrame) -> pd.DataFrame:
    """Mixed int/str tier labels as strings, so the matrix stores in parquet."""
    out = matrix.copy()
    out.index = out.index.map(str)
    out.columns = out.columns.map(str)
    return out.reset_index()


def active_tiers(customers: pd.DataFrame, params: StudyParams) -> pd.DataFrame:
    """customer_id, tier and CLV of the customers not yet lost, for the migration matrix.

    History accumulates, so a customer who left still has a summary row; the lifecycle rule for
    "lost" (``churn.lifecycle_rules``) decides who counts as lost between two quarters.
    """
    active = customers[~lifecycle.is_lost(customers, params.churn.lifecycle_rules)]
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


def compute(
    customers: pd.DataFrame, transactions: pd.DataFrame, previous: pd.DataFrame | None, p: StudyParams
) -> TieringResult:
    """Assign tiers per ``p.tiering``, profile them, compare methods and, with ``previous`` (the
    customers of ``tiering.previous_run``), the migration since that run; nothing is written."""
    t = p.tiering
    assignment = tiers.assign_tiers(customers, t.method, n_tiers=t.n_tiers, options=t.options, seed=p.seed)
    names = run_tier_names(p)
    tier = assignment.tier.astype("int64")
    tier_name = tier.map(dict(enumerate(names[p.language], start=1))).astype("string")
    customers = customers.assign(tier=tier, tier_name=tier_name)
    profile = profiles.tier_profile(customers, transactions)
    sensitivity, skipped = compare_methods(customers, p)
    migration, why = previous_migration(customers, previous, p)
    if why is not None:
        skipped["migration"] = why
    record: dict[str, Any] = {
        "method": t.method, "n_tiers": t.n_tiers, "rule": {**assignment.rule, "names": names}, "migration": None,
        "skipped": skipped,
    }
    if migration is not None:
        record["migration"] = {"previous_run": t.previous_run, **migration[2]}
    return TieringResult(customers, assignment, record, profile, sensitivity, migration, skipped)


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
    previous = study.read_previous(catalog.CUSTOMERS) if p.tiering.previous_run else None
    result = compute(customers, study.read(catalog.TRANSACTIONS), previous, p)
    study.write(catalog.CUSTOMERS, result.customers)
    study.write(catalog.TIER_PROFILE, result.profile.reset_index())
    study.write(catalog.SENSITIVITY, result.sensitivity.reset_index(names="method"))
    if result.migration is not None:
        counts, values, _ = result.migration
        study.write(catalog.MIGRATION_COUNTS, _flatten_matrix(counts))
        study.write(catalog.MIGRATION_VALUES, _flatten_matrix(values))
    else:
        for name in (catalog.MIGRATION_COUNTS, catalog.MIGRATION_VALUES):
            study.remove(name)
    study.write(catalog.TIERING_JSON, result.record)
    return result
