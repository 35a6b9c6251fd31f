"""Stage 6: the account managers — their scorecard, adjusted for the portfolio mix, and their levels.

The managers are those of ``inputs.managers`` (read and checked here) or, without that file, the
distinct ``account_manager`` values of the customer master with ``managers.default_level`` and its
hours. The scorecard, the fair comparison and the levels are :mod:`analysis.methods.managers`; the
contact hours each manager's portfolio needs come from stage 5's playbook (the tier's cadence ×
minutes per contact).

With tiers and stage 3's tier profile, the stage also says who should serve whom
(:mod:`analysis.methods.assignment`): each customer's value at stake is the predicted CLV, the
uplift a tier's cadence buys is the hours response curve of ``allocation.response`` at the
playbook's hours, and the current manager is the one the master names. When the hours do not
suffice, the capacity plan prices hiring managers, a lower cadence or leaving the customers with
the pooled service. :func:`compute` is pure (frames and params in); :func:`run` reads and writes
manager_scorecard.parquet, manager_levels.parquet, assignment.parquet, manager_loads.parquet and
managers.json.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.frame import catalog
from analysis.frame.params import StudyParams
from analysis.frame.study import Study
from analysis.i18n import message
from analysis.methods import allocation, playbook
from analysis.methods import assignment as asg
from analysis.methods import managers as mg
from analysis.methods.cores import beside
from analysis.methods.ids import looked_up
from analysis.methods.loading import map_columns, read_input


@dataclass
class ManagersOutcome:
    scorecard: pd.DataFrame
    levels: pd.DataFrame
    matrix: pd.DataFrame
    record: dict[str, Any]
    assignment: pd.DataFrame | None = field(default=None)
    loads: pd.DataFrame | None = field(default=None)


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
    profile: pd.DataFrame | None = None,
) -> ManagersOutcome | None:
    """The scorecard, the levels and their matrix; None when no customer has an account manager.

    ``staff`` is :func:`read_managers`' table, or None to take the managers from ``customers``'
    ``account_manager`` column. With stage 3's tier ``profile`` and a ``tier`` column in
    ``customers``, also the assignment, the managers' loads and the capacity plan
    (:func:`assign_customers`).
    """
    m = params.managers
    source = "file" if staff is not None else "master"
    if staff is None:
        staff = mg.managers_from_master(customers, m.default_level, m.hours_per_month)
    if staff.empty or "account_manager" not in customers.columns:
        return None
    manager_id, unknown = mg.match_customers(customers["account_manager"], staff)
    book = customers.assign(manager_id=manager_id)  # copies no other column
    if previous is not None and "account_manager" in previous.columns:
        previous = previous.assign(manager_id=mg.match_customers(previous["account_manager"], staff)[0])
    else:
        previous = None
    plays = playbook.merge_playbook(playbook.default_playbook(n_tiers), params.allocation.playbook)
    staffed = profile is not None and "tier" in book.columns
    # the assignment and its capacity plan (the solver's work) run beside the scorecard
    with beside(assign_customers, book, staff, profile, plays, params) if staffed else nullcontext() as assigned:
        outcome = _scored(book, staff, plays, surveys, complaints, previous, params, source, unknown)
        if assigned is not None:
            table, loads, outcome.record["assignment"], outcome.record["capacity_plan"] = assigned.result()
            outcome.assignment, outcome.loads = table, loads
    return outcome


def _scored(
    book: pd.DataFrame, staff: pd.DataFrame, plays: playbook.Playbook, surveys: pd.DataFrame | None,
    complaints: pd.DataFrame | None, previous: pd.DataFrame | None, params: StudyParams, source: str, unknown: int,
) -> ManagersOutcome:
    """The scorecard, the levels, their matrix and the record, of the managers of ``book`` (matched)."""
    m = params.managers
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
        "raw_vs_adjusted_rank_corr": _rank_correlation(scored),
    }
    return ManagersOutcome(card, levels, matrix, record)


def _rank_correlation(scored: pd.DataFrame) -> float | None:
    """Spearman's correlation of the raw and the adjusted ranks; None with fewer than three managers, or
    when a ranking does not vary (every manager tied), where it is not defined."""
    if "raw_rank" not in scored or len(scored) <= 2:
        return None
    raw, adjusted = scored["raw_rank"].astype(float), scored["adjusted_rank"].astype(float)
    if raw.nunique() < 2 or adjusted.nunique() < 2:
        return None
    return float(raw.corr(adjusted, method="spearman"))


#: Stand-in region when the managers or the customers carry none (the region rule then cannot apply).
NO_REGION = "—"


def assignment_rules(plays: playbook.Playbook, profile: pd.DataFrame, params: StudyParams) -> asg.AssignmentRules:
    """The rules of the assignment: the playbook's levels and hours, the hours response curve of
    ``allocation.response`` and the ``managers`` keys (region rule, costs, level factors)."""
    m = params.managers
    _, curve_hours = allocation.response_curves_from_params(params.allocation.response)
    return asg.rules_from_playbook(
        plays, profile, curve_hours, region=m.region_rule, region_cost=m.region_cost,
        switching_cost=m.switching_cost, allow_higher_level=m.allow_higher_level,
        keep_higher_level=m.keep_higher_level,
        level_factor=dict(m.level_factor), manager_cost=dict(m.manager_cost), value_bands=m.value_bands,
    )


def assignment_inputs(book: pd.DataFrame, staff: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The optimiser's customers and managers from the matched book and the managers table.

    A customer's value is the predicted CLV (missing or negative: 0); customers without a tier are
    left out. Without any region on the managers (or on the customers) every one is placed in one
    stand-in region, so the region rule cannot exclude anyone.
    """
    tiered = book[book["tier"].notna()]
    has_region = ("region" in tiered.columns and tiered["region"].notna().any()
                  and "region" in staff.columns and staff["region"].notna().any())
    value = (pd.to_numeric(tiered["clv"], errors="coerce") if "clv" in tiered.columns
             else pd.Series(0.0, index=tiered.index))
    customers = pd.DataFrame({
        "customer_id": tiered["customer_id"].astype(str).to_numpy(),
        "tier": tiered["tier"].astype(int).to_numpy(),
        "region": (tiered["region"].astype(object).where(tiered["region"].notna(), NO_REGION).astype(str)
                   if has_region else NO_REGION),
        "current_manager": tiered["manager_id"].astype(object).where(
            tiered["manager_id"] != mg.UNASSIGNED, None).to_numpy(),
        "value": value.fillna(0.0).clip(lower=0.0).to_numpy(float),
    })
    managers = pd.DataFrame({
        "manager_id": staff["manager_id"].astype(str).to_numpy(),
        "level": staff["level"].astype(str).to_numpy(),
        "region": (staff["region"].astype(object).where(staff["region"].notna(), NO_REGION).astype(str)
                   if has_region else NO_REGION),
        "hours": staff["hours_per_month"].astype(float).to_numpy(),
        "max_accounts": (staff["max_accounts"].astype(float).to_numpy() if "max_accounts" in staff.columns
                         else np.nan),
    })
    return customers, managers


def assign_customers(
    book: pd.DataFrame, staff: pd.DataFrame, profile: pd.DataFrame, plays: playbook.Playbook, params: StudyParams,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """Who should serve whom, each manager's load before and after, the summary and the capacity plan.

    Returns the assignment table (customer_id, tier, region, value, current_manager,
    recommended_manager, recommended_level, reason, expected_gain, cost), the loads (manager_id,
    level, region, hours_available, max_accounts, accounts/hours before and after, utilisation
    before and after), the summary and the plan as JSON-ready records.
    """
    rules = assignment_rules(plays, profile, params)
    customers, managers = assignment_inputs(book, staff)
    result = asg.solve_assignment(customers, managers, rules)
    plan = asg.capacity_plan(customers, managers, rules, result)
    loads = result.managers.copy()
    avail = loads["hours_available"].to_numpy(float)
    loads["utilisation_before"] = np.where(avail > 0, loads["hours_before"] / np.where(avail > 0, avail, 1.0), np.nan)
    s = result.summary
    summary = {
        "customers": s["customers"], "staffed_customers": s["staffed_customers"], "kept": s["kept"],
        "moved": s["moves"], "assigned_new": s["assigned_new"], "unassigned": s["unassigned"],
        "unassigned_no_capacity": int(s["reasons"].get("unassigned_no_capacity", 0)),
        "unassigned_no_manager": int(s["reasons"].get("unassigned_no_manager", 0)),
        "pooled_by_playbook": int(s["reasons"].get("pooled_by_playbook", 0)),
        "value_before": _value_before(customers, managers, result.managers, rules),
        "value_after": s["objective"], "value_unconstrained": s["value_unconstrained"],
        "value_lost": s["value_lost"], "upper_bound": s["upper_bound"], "relative_gap": s["relative_gap"],
        "reasons": {str(k): int(v) for k, v in s["reasons"].items()},
        "solver": s["solver"],
        "rules": {"region": rules.region, "region_cost": rules.region_cost, "switching_cost": rules.switching_cost,
                  "allow_higher_level": rules.allow_higher_level, "keep_higher_level": rules.keep_higher_level,
                  "required_level": {str(t): lv for t, lv in rules.required_level.items()},
                  "hours_per_customer": {str(t): h for t, h in rules.hours_per_customer.items()}},
    }
    summary["value_gained"] = summary["value_after"] - summary["value_before"]
    return result.assignments, loads, _plain(summary), _plain(_plan_record(plan, result, managers, rules))


def _value_before(customers: pd.DataFrame, managers: pd.DataFrame, loads: pd.DataFrame,
                  rules: asg.AssignmentRules) -> float:
    """The expected value the book keeps as it stands, by the optimiser's own measure.

    A staffed customer whose current manager the rules allow (level; region with the hard rule)
    gains value × u_tier × φ_level / φ_required, less the region cost outside its region; a manager
    over their hours gives each customer only the share hours available / hours due of the
    cadence, so their customers' gains are scaled by it. Customers without an allowed manager keep
    nothing more, as in the assignment.
    """
    mgr = managers.set_index("manager_id")
    cur = customers["current_manager"]
    known = cur.isin(mgr.index)
    level = looked_up(cur, mgr["level"])
    region = looked_up(cur, mgr["region"])
    load = loads.set_index("manager_id")
    share = (load["hours_available"] / load["hours_before"].where(load["hours_before"] > 0)).clip(upper=1.0).fillna(1.0)
    total = 0.0
    for tier in rules.staffed_tiers:
        for lv in rules.stay_levels(tier):
            sel = known & (customers["tier"] == tier) & (level == lv)
            if rules.region == "hard":
                sel &= region == customers["region"]
            gain = customers.loc[sel, "value"] * rules.factor(tier, lv) * looked_up(cur[sel], share).astype(float)  # float also when empty
            away = (region[sel] != customers.loc[sel, "region"]).sum() if rules.region == "preference" else 0
            total += float(gain.sum()) - rules.region_cost * float(away)
    return total


def _plan_record(plan: asg.CapacityPlan, result: asg.AssignmentResult, managers: pd.DataFrame,
                 rules: asg.AssignmentRules) -> dict[str, Any]:
    """The plan's options, the recommended one and its message, and the hours per level before and
    after it (a new manager has the median hours of the managers of its level, as the plan sizes them)."""
    options = []
    for row in plan.options.to_dict("records"):
        options.append({**row, "managers_added": {k: int(v) for k, v in row["managers_added"].items()},
                        "tiers": [int(t) for t in row["tiers"]]})
    chosen = options[plan.recommended] if plan.recommended is not None else None
    table = result.assignments
    levels = []
    for lv in asg.LEVELS:
        tiers = [t for t in rules.staffed_tiers if rules.required_level[t] == lv]
        counts = {t: int((table["tier"] == t).sum()) for t in tiers}
        needed = sum(counts[t] * rules.hours_per_customer[t] for t in tiers)
        same = managers[managers["level"] == lv]
        available = float(same["hours"].sum())
        typical = float(same["hours"].median()) if len(same) else float(managers["hours"].median())
        added = int(chosen["managers_added"].get(lv, 0)) if chosen else 0
        factor = chosen["cadence_factor"] if chosen else 1.0
        needed_after = sum(counts[t] * rules.hours_per_customer[t] * (factor if chosen and t in chosen["tiers"] else 1.0)
                           for t in tiers)
        available_after = available + added * typical
        levels.append({
            "level": lv, "tiers": tiers, "managers": int(len(same)), "hours_needed": needed,
            "hours_available": available, "utilisation": needed / available if available > 0 else None,
            "managers_added": added, "hours_needed_after": needed_after, "hours_available_after": available_after,
            "utilisation_after": needed_after / available_after if available_after > 0 else None,
        })
    return {"binding": plan.binding, "options": options, "recommended": plan.recommended,
            "recommended_option": chosen["option"] if chosen else None, "note": plan.note, "levels": levels}


def _plain(obj: Any) -> Any:
    """JSON-ready: numpy numbers as Python ones, non-finite floats as None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


#: The columns of customers.parquet this stage reads (of about 60), this run's and the previous run's: the
#: manager, tier and region for the matching and the assignment, the outcomes the scorecard compares (CLV
#: growth since the previous run), the peer cells' segment, age and spend.
CUSTOMER_COLUMNS = ("customer_id", "account_manager", "tier", "region", "clv", "revenue", "p_alive",
                    "segment", "T", "monetary_value")


def outcome_of(study: Study) -> ManagersOutcome | None:
    """:func:`compute` on the study's outputs (customers.parquet after stage 4); nothing is written."""
    p = study.params
    return compute(
        study.read(catalog.CUSTOMERS, columns=CUSTOMER_COLUMNS), p, int(study.read(catalog.TIERING_JSON)["n_tiers"]),
        staff=read_managers(p), surveys=study.read_optional(catalog.SURVEYS),
        complaints=study.read_optional(catalog.COMPLAINTS),
        previous=study.read_previous(catalog.CUSTOMERS, CUSTOMER_COLUMNS) if p.tiering.previous_run else None,
        profile=study.read_optional(catalog.TIER_PROFILE),
    )


def run(study: Study) -> ManagersOutcome | None:
    """Score the managers of the study's customers (:func:`outcome_of`) and write the outputs.

    Without managers (no file and no account_manager column) the outputs of an earlier attempt are
    removed and managers.json records why.
    """
    outcome = outcome_of(study)
    if outcome is None or outcome.assignment is None:
        study.remove(catalog.ASSIGNMENT)
        study.remove(catalog.MANAGER_LOADS)
    if outcome is None:
        study.remove(catalog.MANAGER_SCORECARD)
        study.remove(catalog.MANAGER_LEVELS)
        study.write(catalog.MANAGERS_JSON, {"source": None, "skipped": message("managers_none")})
        return None
    study.write(catalog.MANAGER_SCORECARD, outcome.scorecard)
    study.write(catalog.MANAGER_LEVELS, outcome.matrix.reset_index())
    if outcome.assignment is not None:
        study.write(catalog.ASSIGNMENT, outcome.assignment)
        study.write(catalog.MANAGER_LOADS, outcome.loads)
    study.write(catalog.MANAGERS_JSON, _plain(outcome.record))  # NaN (e.g. a rank correlation of ties) as null
    return outcome
