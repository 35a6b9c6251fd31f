"""Stage 3: place customers in tiers, profile the tiers, compare with the previous quarter.

The method and its options come from ``tiering`` in params (:mod:`analysis.tiers` documents each
method); the profiles and the migration come from :mod:`analysis.profiles`. A sensitivity table
shows how often other methods agree with the chosen one, so the choice is made knowingly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import datasets, io, lifecycle, profiles, tiers
from .study import Study

MIGRATION_COUNTS = "migration_counts.parquet"
MIGRATION_VALUES = "migration_values.parquet"
SENSITIVITY = "tier_sensitivity.parquet"
TIERING_JSON = "tiering.json"
MIX_COLUMNS = ("industry", "region", "segment", "account_manager")
PURCHASE_MIX_COLUMNS = ("product_category", "channel")


@dataclass
class TieringResult:
    customers: pd.DataFrame
    assignment: tiers.TierAssignment
    profile: pd.DataFrame
    sensitivity: pd.DataFrame
    migration: tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]] | None


def _flatten_matrix(matrix: pd.DataFrame) -> pd.DataFrame:
    """Mixed int/str tier labels as strings, so the matrix stores in parquet."""
    out = matrix.copy()
    out.index = out.index.map(str)
    out.columns = out.columns.map(str)
    return out.reset_index()


def active_tiers(customers: pd.DataFrame, params) -> pd.DataFrame:
    """customer_id, tier and CLV of the customers not yet lost, for the migration matrix.

    History accumulates, so a customer who left still has a summary row; the lifecycle rule for
    "lost" (``churn.lifecycle_rules``) decides who counts as lost between two quarters.
    """
    active = customers[~lifecycle.is_lost(customers, params.churn.lifecycle_rules)]
    return active[["customer_id", "tier", "clv"]].rename(columns={"clv": "value"})


def tier_customers(study: Study) -> TieringResult:
    """Assign tiers per params; write customers.parquet (with tier), tier_profile.parquet and companions."""
    p = study.params
    t = p.tiering
    customers = pd.read_parquet(study.require(datasets.CUSTOMERS))
    assignment = tiers.assign_tiers(
        customers, t.method, n_tiers=t.n_tiers, options=t.options, seed=p.seed, language=p.language, names=t.names
    )
    customers = customers.assign(tier=assignment.tier.astype("int64"), tier_name=assignment.tier_name.astype("string"))
    transactions = datasets.load_transactions(study)
    profile = profiles.tier_profile(customers, transactions)
    methods = list(dict.fromkeys([t.method, *t.compare_methods]))
    sensitivity = tiers.sensitivity(customers, methods, n_tiers=t.n_tiers, options=t.options, seed=p.seed)

    migration = None
    previous_path = study.previous_output(datasets.CUSTOMERS)
    if previous_path is not None:
        previous = pd.read_parquet(previous_path)
        if "tier" in previous.columns:
            migration = profiles.migration(active_tiers(previous, p), active_tiers(customers, p))

    io.write_parquet(customers, study.output(datasets.CUSTOMERS))
    io.write_parquet(profile.reset_index(), study.output(datasets.TIER_PROFILE))
    io.write_parquet(sensitivity.reset_index(names="method"), study.output(SENSITIVITY))
    record: dict[str, Any] = {"method": t.method, "n_tiers": t.n_tiers, "rule": assignment.rule, "migration": None}
    if migration is not None:
        counts, values, summary = migration
        io.write_parquet(_flatten_matrix(counts), study.output(MIGRATION_COUNTS))
        io.write_parquet(_flatten_matrix(values), study.output(MIGRATION_VALUES))
        record["migration"] = {"previous_run": t.previous_run, **summary}
    else:
        for name in (MIGRATION_COUNTS, MIGRATION_VALUES):
            study.output(name).unlink(missing_ok=True)
    io.write_json(record, study.output(TIERING_JSON))
    return TieringResult(customers, assignment, profile, sensitivity, migration)
