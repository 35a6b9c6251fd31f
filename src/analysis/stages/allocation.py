"""Stage 5: per-tier resource allocation — the playbook, the budget and the account-manager hours.

The playbook (service model, manager level, cadence, channels, offers) is the default for the tier
count (:mod:`analysis.methods.playbook`) overlaid with ``allocation.playbook`` from params; the budget and
the hours are split by :mod:`analysis.methods.allocation` to maximise expected retained value.

The tier count is the one stage 3 tiered with (``tiering.json`` → ``n_tiers``), not ``tiering.n_tiers``
in params: params edited after the tiering ran cannot give a playbook for tiers that do not exist.
:func:`compute` allocates (pure: the tier profile, the tier count and params in); :func:`run` reads and writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.frame import catalog
from analysis.frame.params import StudyParams
from analysis.frame.study import Study
from analysis.methods import allocation, playbook


@dataclass
class AllocationOutcome:
    table: pd.DataFrame
    capacity: pd.DataFrame
    hours: allocation.HoursAllocation
    playbook: playbook.Playbook
    curve: allocation.ResponseCurve
    summary: dict[str, Any]


def compute(profile: pd.DataFrame, n_tiers: int, params: StudyParams) -> AllocationOutcome:
    """The playbook for ``n_tiers`` tiers, the budget and the hours split across the tiers of ``profile``."""
    a = params.allocation
    book = playbook.merge_playbook(playbook.default_playbook(n_tiers), a.playbook)
    curve, curve_hours = allocation.response_curves_from_params(a.response)
    table = allocation.allocation_table(
        profile, a.budget, book, a.hours_available, curve=curve, curve_hours=curve_hours,
        min_share=a.min_share, max_share=a.max_share,
    )
    capacity = allocation.capacity_check(profile, book, a.hours_available)
    hours = allocation.allocate_manager_hours(profile, book, a.hours_available, curve_hours)
    totals = {
        column: float(table[column].sum())
        for column in ("value_optimal", "value_equal", "value_revenue", "budget")
        if column in table.columns
    }
    summary = {
        "budget": a.budget,
        "currency": params.currency,
        "expected_retained_value": totals,
        "gain_vs_equal": totals.get("value_optimal", 0.0) - totals.get("value_equal", 0.0),
        "gain_vs_revenue": totals.get("value_optimal", 0.0) - totals.get("value_revenue", 0.0),
        "curve": {k: v for k, v in vars(curve).items()},
        "binding_levels": capacity.loc[capacity["binding"], "level"].tolist() if "binding" in capacity else [],
    }
    return AllocationOutcome(table, capacity, hours, book, curve, summary)


def run(study: Study) -> AllocationOutcome:
    """Allocate for the tiers stage 3 placed customers in (``tiering.json`` → ``n_tiers``); write
    allocation.parquet, capacity.parquet and allocation.json."""
    n_tiers = int(study.read(catalog.TIERING_JSON)["n_tiers"])
    outcome = compute(study.read(catalog.TIER_PROFILE), n_tiers, study.params)
    study.write(catalog.ALLOCATION, outcome.table)
    study.write(catalog.CAPACITY, outcome.capacity)
    study.write(catalog.ALLOCATION_JSON, outcome.summary)
    return outcome
