"""Stage 6: the account managers — their scorecard, adjusted for the portfolio mix, and their levels.

The managers are those of ``inputs.managers`` (read and checked here) or, without that file, the
distinct ``account_manager`` values of the customer master with ``managers.default_level`` and its
hours. The scorecard, the fair comparison and the levels are :mod:`analysis.methods.managers`; the
contact hours each manager's portfolio needs come from stage 5's playbook (the tier's cadence ×
minutes per contact). :func:`compute` is pure (frames and params in); :func:`run` reads and writes
manager_scorecard.parquet, manager_levels.parquet and managers.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.frame import catalog
from analysis.frame.params import StudyParams
from analysis.frame.study import Study
from analysis.i18n import message
from analysis.methods import managers as mg
from analysis.methods import playbook
from analysis.methods.loading import map_columns, read_input


@dataclass
class ManagersOutcome:
    scorecard: pd.DataFrame
    levels: pd.DataFrame
    matrix: pd.DataFrame
    record: dict[str, Any]


def read_managers(params: StudyParams) -> pd.DataFrame | None:
    """The checked managers of ``inputs.managers`` (None without one).

    Raises :class:`analysis.methods.managers.ManagerInputError` naming the file and row of a wrong value.
    """
    spec = params.inputs.managers
    if spec is None:
        return None
    frame = map_columns(read_input(spec, "managers").frame, spec, "managers")
    return mg.managers_from_file(frame, params.managers.hours_per_month, source=str(spec.path))


def compute(
    customers: pd.DataFrame,
    params: StudyParams,
    n_tiers: int,
    *,
    staff: pd.DataFrame | None = None,
    surveys: pd.DataFrame | None = None,
    complaints: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
) -> ManagersOutcome | None:
    """The scorecard, the levels and their matrix; None when no customer has an account manager.

    ``staff`` is :func:`read_managers`' table, or None to take the managers from ``customers``'
    ``account_manager`` column.
    """
    m = params.managers
    source = "file" if staff is not None else "master"
    if staff is None:
        staff = mg.managers_from_master(customers, m.default_level, m.hours_per_month)
    if staff.empty or "account_manager" not in customers.columns:
        return None
    book = customers.copy()
    book["manager_id"], unknown = mg.match_customers(book["account_manager"], staff)
    if previous is not None and "account_manager" in previous.columns:
        previous = previous.assign(manager_id=mg.match_customers(previous["account_manager"], staff)[0])
    else:
        previous = None
    plays = playbook.merge_playbook(playbook.default_playbook(n_tiers), params.allocation.playbook)
    hours = {tier: play.hours_per_customer for tier, play in plays.items()}
    card = mg.scorecard(book, staff, hours, surveys=surveys, complaints=complaints, previous=previous,
                        confidence=m.confidence)
    levels = mg.performance_levels(card, m.level_weights, m.level_cutoffs)
    card = card.merge(levels, on="manager_id", how="left")
    matrix = mg.level_matrix(levels)
    unassigned = int((book["manager_id"] == mg.UNASSIGNED).sum())
    scored = card[card["manager_id"] != mg.UNASSIGNED]
    record = {
        "source": source,
        "managers": int(len(staff)),
        "customers": int(len(book)),
        "unassigned_customers": unassigned,
        "unknown_account_managers": unknown,
        "notes": mg.source_note(source, int(len(staff)), unknown, unassigned),
        "previous_run": params.tiering.previous_run if previous is not None else None,
        "confidence": m.confidence,
        "level_rule": mg.level_rule(m.level_weights, m.level_cutoffs),
        "level_weights": dict(m.level_weights),
        "level_cutoffs": list(m.level_cutoffs),
        "levels": {code: int((scored["performance_level"] == code).sum()) for code in mg.PERFORMANCE_LEVELS},
        "matrix": {level: {band: int(matrix.loc[level, band]) for band in matrix.columns} for level in matrix.index},
        "over_capacity": scored.loc[scored["utilisation"] > 1, "manager_id"].tolist(),
        "adjustment": message("managers_adjustment_rule"),
        "raw_vs_adjusted_rank_corr": (
            float(scored["raw_rank"].astype(float).corr(scored["adjusted_rank"].astype(float), method="spearman"))
            if "raw_rank" in scored and len(scored) > 2 else None
        ),
    }
    return ManagersOutcome(card, levels, matrix, record)


def run(study: Study) -> ManagersOutcome | None:
    """Score the managers of the study's customers (customers.parquet after stage 4) and write the outputs.

    Without managers (no file and no account_manager column) the outputs of an earlier attempt are
    removed and managers.json records why.
    """
    p = study.params
    customers = study.read(catalog.CUSTOMERS)
    n_tiers = int(study.read(catalog.TIERING_JSON)["n_tiers"])
    previous = study.read_previous(catalog.CUSTOMERS) if p.tiering.previous_run else None
    outcome = compute(
        customers, p, n_tiers, staff=read_managers(p), surveys=study.read_optional(catalog.SURVEYS),
        complaints=study.read_optional(catalog.COMPLAINTS), previous=previous,
    )
    if outcome is None:
        study.remove(catalog.MANAGER_SCORECARD)
        study.remove(catalog.MANAGER_LEVELS)
        study.write(catalog.MANAGERS_JSON, {"source": None, "skipped": message("managers_none")})
        return None
    study.write(catalog.MANAGER_SCORECARD, outcome.scorecard)
    study.write(catalog.MANAGER_LEVELS, outcome.matrix.reset_index())
    study.write(catalog.MANAGERS_JSON, outcome.record)
    return outcome
